"""«Mis pendientes» in Chromium: each role signs in, lands on its tasks and follows one.

The busy world (``factories.busy``) is built and committed in a database of its own and the
app is served by uvicorn, as in tests/contracts/test_browser.py. The served app reads the real
clock, so only tasks that do not depend on the hour are followed here (the rest are in
test_service.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from abasto.core.clock import FixedClock
from abasto.core.config import Settings
from abasto.core.context import Context, operator
from abasto.core.db import make_engine, session_factory, transaction
from tests.conftest import LOG_KEY, PASSWORD, T0, served
from tests.pending.factories import ROUND, Busy, busy
from tests.tendering import conftest as tendering_fixtures
from tests.tendering.conftest import build_world

cheap_passwords = tendering_fixtures.cheap_passwords

pytestmark = pytest.mark.browser


@pytest.fixture
def built(fresh_database_url: str, tmp_path: Path, cheap_passwords: None) -> Iterator[Busy]:
    engine = make_engine(fresh_database_url)
    factory = session_factory(engine)
    clock = FixedClock(T0)
    settings = Settings(
        database_url=fresh_database_url, data_dir=tmp_path, secret_key="test", log_key=LOG_KEY
    )
    try:
        with transaction(factory) as db:
            world = build_world(
                Context(db, operator("pruebas"), clock.now()), clock, settings, factory
            )
            made = busy(world)
        yield made
    finally:
        engine.dispose()


def sign_in(page: Page, base: str, username: str) -> None:
    """Sign in from the home page's «Entrar», as a user would: the landing is «Mis pendientes»."""
    page.context.clear_cookies()
    page.goto(base)
    page.get_by_role("link", name="Entrar").click()
    page.get_by_label("Usuario").fill(username)
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()
    page.wait_for_url(re.compile(r"/pendientes$"))
    expect(page.get_by_role("heading", name="Mis pendientes", exact=True)).to_be_visible()


def test_each_role_lands_on_its_tasks_and_follows_one(
    built: Busy, browser: Browser, fresh_database_url: str, tmp_path: Path
) -> None:
    with served(fresh_database_url, tmp_path) as base:
        page = browser.new_page()

        sign_in(page, base, "plan.imss")
        expect(page.locator("#to_sign li")).to_have_count(2)
        page.get_by_role(
            "link", name=f"Capturar y enviar la demanda de IMSS · ronda {ROUND}"
        ).click()
        page.wait_for_url(re.compile(rf"/demanda/{ROUND}/IMSS$"))
        expect(page.get_by_role("link", name="Mis pendientes")).to_be_visible()

        sign_in(page, base, "prov.a")
        (contract,) = page.locator("#to_sign a").all()
        contract.click()
        page.wait_for_url(re.compile(rf"/contratos/{built.to_sign_a}$"))

        sign_in(page, base, "evaluador")
        expect(page.locator("#evaluations li")).to_have_count(1)
        page.locator("#evaluations a").click()
        page.wait_for_url(re.compile(rf"/evaluacion/licitaciones/{built.to_evaluate.id}$"))

        sign_in(page, base, "comprador")
        expect(page.locator("#rounds")).to_contain_text("1 institución no ha enviado")
        expect(page.locator("#evaluations")).to_contain_text("2 líneas de proposición por evaluar")
        page.get_by_role("link", name=f"Ronda {ROUND}: consolidar y congelar").click()
        page.wait_for_url(re.compile(rf"/demanda/{ROUND}$"))
        expect(page.locator(".deadline")).to_contain_text("/")

        sign_in(page, base, "auditor")
        expect(page.get_by_role("status")).to_have_text("No tiene pendientes por ahora.")
