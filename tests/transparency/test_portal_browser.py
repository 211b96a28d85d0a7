"""The portal in Chromium: the tender page, the clave's chart against the API, the tender list's
filters with and without JavaScript, and every portal page at a phone's width.

``committed_purchases`` (conftest) builds the purchases in a database of their own; the app is
served by uvicorn, as in tests/award/test_browser.py.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ViewportSize, expect

from tests.conftest import served
from tests.tendering.conftest import PARACETAMOL, PARTIES
from tests.transparency.conftest import Committed

pytestmark = pytest.mark.browser

PHONE: ViewportSize = {"width": 390, "height": 844}


def test_the_tender_page_loads(
    committed_purchases: Committed, browser: Browser, tmp_path: Path
) -> None:
    with served(committed_purchases.url, tmp_path) as base:
        page = browser.new_page()
        page.goto(f"{base}/licitaciones/{committed_purchases.first_id}")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Compra consolidada")
        page.goto(f"{base}/licitaciones/{committed_purchases.first_id}/fallo")
        expect(page.locator("svg.savings-chart")).to_be_visible()


def test_the_clave_chart_shows_exactly_the_prices_of_the_api(
    committed_purchases: Committed, browser: Browser, tmp_path: Path
) -> None:
    with served(committed_purchases.url, tmp_path) as base:
        page = browser.new_page()
        api = page.request.get(f"{base}/api/v1/claves/{PARACETAMOL}/price-history").json()
        expected = [
            (
                p["tender_number"],
                p["supplier_rfc"],
                p["institution_code"] or "",
                Decimal(p["unit_price"]),
            )
            for p in api["points"]
        ]
        assert len(expected) == 4
        page.goto(f"{base}/catalogo/{PARACETAMOL}")
        dots = page.locator("svg.price-chart circle.price")
        expect(dots).to_have_count(len(expected))
        drawn = dots.evaluate_all(
            "els => els.map(e => [e.dataset.tender, e.dataset.supplier, e.dataset.institution,"
            " e.dataset.price])"
        )
        assert [(t, s, i, Decimal(p)) for t, s, i, p in drawn] == expected
        # Drawn where their price says: a higher price is higher on the screen.
        boxes = [dot.bounding_box() for dot in dots.all()]
        assert all(box is not None for box in boxes)
        tops = {price: box["y"] for (*_, price), box in zip(expected, boxes, strict=True) if box}
        assert tops[Decimal("9.60")] < tops[Decimal("9.50")]
        references = page.locator("svg.price-chart line.reference").evaluate_all(
            "els => els.map(e => e.dataset.price)"
        )
        assert [Decimal(p) for p in references] == sorted(
            {Decimal(p["reference_price"]) for p in api["points"]}, reverse=True
        )
        # The table under the chart holds the same numbers.
        rows = page.locator("table.price-history tbody tr")
        expect(rows).to_have_count(len(expected))
        expect(rows.first).to_contain_text("$9.50")


def test_the_tender_list_filters_with_htmx_and_without_javascript(
    committed_purchases: Committed, browser: Browser, tmp_path: Path
) -> None:
    with served(committed_purchases.url, tmp_path) as base:
        page = browser.new_page()
        page.goto(f"{base}/licitaciones")
        rows = page.locator("table.tenders tbody tr")
        expect(rows).to_have_count(3)
        page.evaluate("window.__marker = 1")
        page.locator("select[name=institucion]").select_option("IMSS")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("Compra consolidada 2027-2028")
        expect(page).to_have_url(re.compile(r"institucion=IMSS"))
        # htmx swapped the results in place: the document is the same one.
        assert page.evaluate("window.__marker") == 1
        page.locator("select[name=institucion]").select_option("")
        page.locator("select[name=estado]").select_option("awarded")
        expect(rows).to_have_count(2)

        plain = browser.new_context(java_script_enabled=False).new_page()
        plain.goto(f"{base}/licitaciones")
        plain.locator("select[name=institucion]").select_option("SEDENA")
        plain.get_by_role("button", name="Filtrar").click()
        plain.wait_for_url(re.compile(r"institucion=SEDENA"))
        expect(plain.locator("table.tenders tbody tr")).to_have_count(1)
        expect(plain.locator("select[name=institucion]")).to_have_value("SEDENA")


def test_portal_pages_fit_a_phone(
    committed_purchases: Committed, browser: Browser, tmp_path: Path
) -> None:
    with served(committed_purchases.url, tmp_path) as base:
        context = browser.new_context(viewport=PHONE, is_mobile=True)
        page = context.new_page()
        for path in (
            "/licitaciones",
            f"/licitaciones/{committed_purchases.first_id}",
            f"/catalogo/{PARACETAMOL}",
            f"/proveedores/{PARTIES['a'].rfc}",
            "/instituciones/IMSS",
            "/datos-abiertos",
        ):
            page.goto(f"{base}{path}")
            # Tables scroll inside their box; the page itself never scrolls sideways.
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{path} is {width}px wide on a 390px screen"
        page.goto(f"{base}/catalogo/{PARACETAMOL}")
        chart = page.locator("svg.price-chart")
        expect(chart).to_be_visible()
        box = chart.bounding_box()
        assert box is not None
        assert box["width"] <= PHONE["width"]
        context.close()


def test_the_menu_folds_on_a_phone_and_opens_with_its_button(
    committed_purchases: Committed, browser: Browser, tmp_path: Path
) -> None:
    with served(committed_purchases.url, tmp_path) as base:
        context = browser.new_context(viewport=PHONE, is_mobile=True)
        page = context.new_page()
        page.goto(f"{base}/licitaciones")
        header = page.locator("header.top").bounding_box()
        assert header is not None
        # Folded, the header is one line: the brand, «Menú» and the sign-in link.
        assert header["height"] < 0.1 * PHONE["height"], header
        nav = page.get_by_role("navigation", name="Principal")
        expect(nav).to_be_hidden()
        page.locator("label.menu-button").click()
        expect(nav).to_be_visible()
        nav.get_by_role("link", name="Bitácora pública").click()
        page.wait_for_url(re.compile(r"/bitacora$"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Bitácora pública")
        # On a desktop the menu is always shown and «Menú» is not.
        wide = browser.new_page(viewport={"width": 1280, "height": 800})
        wide.goto(f"{base}/licitaciones")
        expect(wide.get_by_role("navigation", name="Principal")).to_be_visible()
        expect(wide.locator("label.menu-button")).to_be_hidden()
