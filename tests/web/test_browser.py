"""The real application in a real browser: the catalog answers while the user types."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from abasto.catalog import service
from abasto.core.context import Context, operator
from abasto.core.db import make_engine, session_factory, transaction
from tests.catalog.test_service import catalog_csv
from tests.conftest import T0, served

pytestmark = pytest.mark.browser


@pytest.fixture
def server(fresh_database_url: str, tmp_path: Path) -> Iterator[str]:
    """The application on a free port, with a small catalog."""
    engine = make_engine(fresh_database_url)
    with transaction(session_factory(engine)) as db:
        service.import_catalog(
            Context(db=db, actor=operator("pruebas"), now=T0),
            content=catalog_csv(),
            filename="catalogo.csv",
        )
    engine.dispose()
    with served(fresh_database_url, tmp_path) as base:
        yield base


def test_catalog_search_answers_while_typing(server: str, browser: Browser) -> None:
    page = browser.new_page()
    page.goto(server + "/")
    expect(page).to_have_title("Inicio · Abasto")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Compra consolidada")

    page.get_by_role("navigation", name="Principal").get_by_role("link", name="Catálogo").click()
    expect(page).to_have_url(server + "/catalogo")
    expect(page.get_by_role("heading", level=1)).to_have_text("Catálogo de claves")
    expect(page.locator(".results-count")).to_contain_text("5 claves en el catálogo")
    # A mark on this document: a full page load would lose it.
    page.evaluate("window.sinRecargar = true")

    page.get_by_role("searchbox").press_sequentially("acetilsalic", delay=40)

    rows = page.locator("table.claves tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("010.000.0101.00")
    expect(rows.first).to_contain_text("Ácido acetilsalicílico")
    expect(page).to_have_url(re.compile(r"/catalogo\?q=acetilsalic$"))
    assert page.evaluate("window.sinRecargar") is True

    page.get_by_role("searchbox").fill("0104")
    expect(rows).to_have_count(3)
    expect(page.locator(".results-count")).to_contain_text("3 claves coinciden con «0104»")
    assert page.evaluate("window.sinRecargar") is True

    rows.first.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("010.000.0104.00")
    expect(page.locator("dl.facts")).to_contain_text("25301574")


def test_pages_run_under_the_content_security_policy(server: str, browser: Browser) -> None:
    """Issue 14, item 10: with inline script and style refused, nothing the pages need is
    blocked, and the API page's Swagger UI starts from its static script."""
    page = browser.new_page()
    blocked: list[str] = []
    page.on(
        "console",
        lambda message: (
            blocked.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    for path in ("/", "/catalogo?q=para", "/licitaciones", "/datos-abiertos", "/entrar"):
        response = page.goto(server + path)
        assert response is not None
        assert "script-src 'self'" in response.headers["content-security-policy"]
    page.goto(server + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Abasto")
    assert blocked == []
    page.close()
