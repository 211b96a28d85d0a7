"""The real application in a real browser: the catalog answers while the user types."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, expect, sync_playwright

from abasto.catalog import service
from abasto.core.config import Settings
from abasto.core.context import Context, operator
from abasto.core.db import make_engine, session_factory, transaction
from abasto.web.app import create_app
from tests.catalog.test_service import catalog_csv
from tests.conftest import T0

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def server(fresh_database_url: str, tmp_path: Path) -> Iterator[str]:
    """The whole application served by uvicorn on a free local port, with a small catalog."""
    engine = make_engine(fresh_database_url)
    with transaction(session_factory(engine)) as db:
        service.import_catalog(
            Context(db=db, actor=operator("pruebas"), now=T0),
            content=catalog_csv(),
            filename="catalogo.csv",
        )
    settings = Settings(database_url=fresh_database_url, data_dir=tmp_path, secret_key="test")
    app = create_app(settings, engine=engine)
    # Bound here and handed over, so no other process can take the port in between.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the application server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        engine.dispose()


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: install it with `make chromium` "
            "(apt-get install chromium); browser tests are not skipped."
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


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
