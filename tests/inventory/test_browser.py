"""The warehouse pages in Chromium on a phone: dispensing and a physical count.

The sector is built and committed in a database of its own and served by uvicorn, as in
tests/tendering/test_browser.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from abasto.core.context import Context, operator
from abasto.core.db import make_engine, session_factory, transaction
from abasto.inventory import service
from tests.conftest import PASSWORD, T0, make_user, served
from tests.inventory.factories import EXPIRES, PARACETAMOL, SOON, build_sector, stock, unit
from tests.tendering import conftest as tendering_fixtures

cheap_passwords = tendering_fixtures.cheap_passwords

pytestmark = pytest.mark.browser

PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture
def warehouse(fresh_database_url: str, cheap_passwords: None) -> str:
    engine = make_engine(fresh_database_url)
    with transaction(session_factory(engine)) as db:
        ctx = Context(db=db, actor=operator("pruebas"), now=T0)
        build_sector(ctx)
        stock(ctx, unit(ctx), PARACETAMOL, ("A", EXPIRES, 10), ("B", SOON, 5))
        make_user(ctx, "almacen", "institucion", institution="IMSS")
    engine.dispose()
    return fresh_database_url


def _lots(url: str) -> list[tuple[str, int]]:
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as db:
            ctx = Context(db=db, actor=operator("pruebas"), now=T0)
            return [(x.lot, x.quantity) for x in service.unit_stock(db, unit(ctx))[0].lots]
    finally:
        engine.dispose()


def _phone_session(browser: Browser, base: str) -> Page:
    context = browser.new_context(viewport=PHONE, is_mobile=True)
    page = context.new_page()
    page.goto(f"{base}/entrar")
    page.get_by_label("Usuario").fill("almacen")
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()
    page.goto(f"{base}/inventario")
    page.get_by_role("link", name="IMSS · HGZ-1").click()
    expect(page.locator("h1")).to_contain_text("HGZ-1")
    return page


def _fits(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide on a 390px screen"


def test_dispensing_on_a_phone(warehouse: str, browser: Browser, tmp_path: Path) -> None:
    with served(warehouse, tmp_path) as base:
        page = _phone_session(browser, base)
        _fits(page)
        form = page.locator("#dispensar-form")
        form.get_by_label("Clave").fill(PARACETAMOL)
        form.get_by_label("Cantidad").fill("7")
        form.get_by_role("button", name="Registrar dispensación").click()
        expect(page.get_by_role("status")).to_have_text("Dispensación registrada.")
        expect(page.locator(f'tr[data-clave="{PARACETAMOL}"] .on-hand')).to_have_text("8")
        # Too many: the page says why, keeps what was typed, and nothing moves.
        form = page.locator("#dispensar-form")
        form.get_by_label("Clave").fill(PARACETAMOL)
        form.get_by_label("Cantidad").fill("9")
        form.get_by_role("button", name="Registrar dispensación").click()
        expect(page.get_by_role("alert")).to_contain_text("No hay existencia suficiente")
        expect(page.locator("#dispensar-form").get_by_label("Cantidad")).to_have_value("9")
        _fits(page)
        page.context.close()
    assert _lots(warehouse) == [("A", 8)]  # B, first to expire, went first


def test_counting_on_a_phone(warehouse: str, browser: Browser, tmp_path: Path) -> None:
    with served(warehouse, tmp_path) as base:
        page = _phone_session(browser, base)
        page.locator(f'tr[data-clave="{PARACETAMOL}"]').get_by_role("link", name="Contar").click()
        expect(page.locator("h1")).to_contain_text(PARACETAMOL)
        _fits(page)
        page.locator('input[data-lot="A"]').fill("9")
        page.locator('input[data-lot="B"]').fill("5")
        page.get_by_role("button", name="Registrar el conteo").click()
        expect(page.get_by_role("status")).to_contain_text("Conteo registrado")
        expect(page.locator(f'tr[data-clave="{PARACETAMOL}"] .on-hand')).to_have_text("14")
        page.context.close()
    assert sorted(_lots(warehouse)) == [("A", 9), ("B", 5)]
