"""The fallo in Chromium: the chart drawn by the server matches the API, searching filters rows.

The tender of ``test_pages.award_tender`` is built and committed in a database of its own, and the
app is served by uvicorn, as in tests/tendering/test_browser.py.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from abasto.award import rules as award_rules
from abasto.catalog.rules import group_of
from abasto.core.clock import FixedClock
from abasto.core.config import Settings
from abasto.core.context import Context, operator
from abasto.core.db import make_engine, session_factory, transaction
from abasto.core.money import format_mxn
from abasto.identity import service as identity
from abasto.identity.models import Role, User
from abasto.tendering.sealing import Sealer
from tests.award.test_pages import GROUP_SAVINGS, award_tender
from tests.conftest import PASSWORD, served
from tests.tendering import conftest as tendering_fixtures
from tests.tendering.conftest import PARTIES, World

cheap_passwords = tendering_fixtures.cheap_passwords

pytestmark = pytest.mark.browser

BIDDERS = ("a", "b", "c", "d")


@dataclass(frozen=True)
class Served:
    url: str
    tender_id: int


def _tender(
    fresh_database_url: str, tmp_path: Path, mode: award_rules.Mode | None
) -> Iterator[Served]:
    engine = make_engine(fresh_database_url)
    sessions = session_factory(engine)
    # The same secret as served(): the opening unwraps the tender's key with it.
    sealer = Sealer.from_settings(
        Settings(database_url=fresh_database_url, data_dir=tmp_path, secret_key="test")
    )
    clock = FixedClock(datetime.now(UTC) - timedelta(days=30))
    with transaction(sessions) as db:
        ctx = Context(db=db, actor=operator("pruebas"), now=clock.now())
        for key in BIDDERS:
            party = PARTIES[key]
            identity.register_supplier(ctx, rfc=party.rfc, razon_social=party.name)
            identity.create_user(
                ctx,
                username=party.username,
                full_name=f"Representante {key.upper()}",
                password=PASSWORD,
                role=Role.proveedor,
                supplier_rfc=party.rfc,
            )
        identity.create_user(
            ctx,
            username="comprador-web",
            full_name="Compradora",
            password=PASSWORD,
            role=Role.comprador,
        )
        db.flush()
        world = World(db, clock, sealer, sessions)
        world.users = {user.username: user for user in db.scalars(select(User))}
        tender_id = award_tender(world, mode=mode).tender.id
    yield Served(fresh_database_url, tender_id)
    engine.dispose()


@pytest.fixture
def awarded(fresh_database_url: str, tmp_path: Path, cheap_passwords: None) -> Iterator[Served]:
    yield from _tender(fresh_database_url, tmp_path, award_rules.Mode.LOWEST)


@pytest.fixture
def evaluated(fresh_database_url: str, tmp_path: Path, cheap_passwords: None) -> Iterator[Served]:
    """Opened, priced and evaluated: the fallo is the buyer's to issue."""
    yield from _tender(fresh_database_url, tmp_path, None)


def api_group_savings(page: Page, base: str, tender_id: int) -> dict[str, Decimal]:
    """Σ (reference − price) × quantity per group of claves, from the public API alone."""
    fallo = page.request.get(f"{base}/api/v1/tenders/{tender_id}/fallo").json()
    partidas = page.request.get(f"{base}/api/v1/tenders/{tender_id}/partidas").json()
    claves = {p["number"]: p["clave"] for p in partidas}
    references = {p["partida"]: Decimal(p["reference_price"]) for p in fallo["partidas"]}
    savings: dict[str, Decimal] = defaultdict(Decimal)
    for w in fallo["winners"]:
        group = claves[w["partida"]][:3]
        savings[group] += (references[w["partida"]] - Decimal(w["unit_price"])) * w["quantity"]
    return dict(sorted(savings.items()))


def rows(page: Page) -> list[str]:
    return [
        str(row.get_attribute("data-partida"))
        for row in page.locator("table.fallo-partidas tbody.fallo-partida").all()
    ]


def test_the_chart_shows_the_savings_the_api_implies_and_search_filters_the_rows(
    awarded: Served, browser: Browser, tmp_path: Path
) -> None:
    with served(awarded.url, tmp_path) as base:
        page = browser.new_page()
        expected = api_group_savings(page, base, awarded.tender_id)
        assert expected == GROUP_SAVINGS
        page.goto(f"{base}/licitaciones/{awarded.tender_id}/fallo")
        expect(page.get_by_role("heading", level=1)).to_have_text("Fallo")

        bars = page.locator("svg.savings-chart rect.bar")
        expect(bars).to_have_count(len(expected))
        for bar, (group, amount) in zip(bars.all(), expected.items(), strict=True):
            assert bar.get_attribute("data-group") == group
            assert Decimal(str(bar.get_attribute("data-savings"))) == amount
            expect(bar.locator("title")).to_contain_text(format_mxn(amount))
        for group, amount in expected.items():
            row = page.locator(f'svg.savings-chart g.bar-row[data-group="{group}"]')
            expect(row.locator("text.bar-label")).to_have_text(f"{group} · {group_of(group).label}")
            expect(row.locator("text.bar-amount")).to_have_text(format_mxn(amount))
        # Drawn in proportion: the largest saving is the longest bar.
        widths = {
            bar.get_attribute("data-group"): bar.bounding_box()["width"]  # type: ignore[index]
            for bar in bars.all()
        }
        largest = max(expected, key=lambda g: expected[g])
        assert widths[largest] == max(widths.values())
        for group, amount in expected.items():
            ratio = float(amount / expected[largest])
            assert abs(widths[group] / widths[largest] - ratio) < 0.01

        assert rows(page) == ["1", "2", "3", "4", "5"]
        page.evaluate("window.__marker = 1")
        page.locator("#q-fallo").fill("Xochionix")
        expect(page.locator("table.fallo-partidas tbody.fallo-partida")).to_have_count(3)
        assert rows(page) == ["3", "4", "5"]
        # The address follows the search, so it can be shared or reloaded.
        expect(page).to_have_url(re.compile(r"/fallo\?q=Xochionix&"))
        page.locator("#q-fallo").fill("torunda")
        expect(page.locator("table.fallo-partidas tbody.fallo-partida")).to_have_count(1)
        expect(page.locator("#partida-4")).to_contain_text(PARTIES["a"].name)
        # htmx swapped the results in place: the document is the same one.
        assert page.evaluate("window.__marker") == 1

        page.locator("select[name=orden]").select_option("ahorro")
        page.locator("#q-fallo").fill("")
        expect(page.locator("table.fallo-partidas tbody.fallo-partida")).to_have_count(5)
        expect(page.locator("table.fallo-partidas tbody.fallo-partida").first).to_have_attribute(
            "data-partida", "5"
        )
        assert rows(page) == ["5", "4", "3", "2", "1"]

        # The bid lines of a partida and their reasons open on demand.
        nicotina = page.locator("#partida-1")
        expect(nicotina.locator("details.outcomes ul.reasons")).to_be_hidden()
        nicotina.locator("details.outcomes summary").click()
        expect(nicotina.locator("details.outcomes ul.reasons")).to_contain_text(
            "precio no aceptable"
        )


def test_the_fallo_is_readable_on_a_phone(
    awarded: Served, browser: Browser, tmp_path: Path
) -> None:
    with served(awarded.url, tmp_path) as base:
        context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        page = context.new_page()
        for path in ("fallo", "contratos", "fallo/documento"):
            page.goto(f"{base}/licitaciones/{awarded.tender_id}/{path}")
            # Tables scroll inside their box; the page itself never scrolls sideways.
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"/{path} is {width}px wide on a 390px screen"
        page.goto(f"{base}/licitaciones/{awarded.tender_id}/fallo")
        expect(page.locator("svg.savings-chart")).to_be_visible()
        box = page.locator("svg.savings-chart").bounding_box()
        assert box is not None
        assert box["width"] <= 390
        expect(page.locator("#partida-3")).to_contain_text(PARTIES["a"].name)
        context.close()


def test_the_buyer_previews_the_modes_confirms_and_issues_the_fallo(
    evaluated: Served, browser: Browser, tmp_path: Path
) -> None:
    with served(evaluated.url, tmp_path) as base:
        page = browser.new_page()
        page.goto(f"{base}/entrar")
        page.get_by_label("Usuario").fill("comprador-web")
        page.get_by_label("Contraseña").fill(PASSWORD)
        page.get_by_role("button", name="Entrar").click()
        page.wait_for_load_state()
        page.goto(f"{base}/comprador/licitaciones/{evaluated.tender_id}")
        form = page.locator("#fallo-modos")
        form.get_by_label("Abastecimiento simultáneo").check()
        form.get_by_role("button", name="Calcular la vista previa del fallo").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Vista previa del fallo")
        expect(page).to_have_url(re.compile(r"/fallo\?modo=split"))
        for mode in ("lowest", "split", "optimal"):
            expect(page.locator(f'table.fallo-modes tr[data-mode="{mode}"]')).to_be_visible()
        expect(page.locator("#detalle")).to_contain_text("abastecimiento simultáneo: lugar 2")
        # Another mode's preview, then back to the split.
        page.locator('table.fallo-modes tr[data-mode="optimal"] a').click()
        expect(page.locator('tr[data-mode="optimal"]')).to_have_class("chosen")
        page.locator('input[name="modo"][value="split"]').check()
        page.get_by_role("button", name="Ver la vista previa de este modo").click()
        expect(page.locator('tr[data-mode="split"]')).to_have_class("chosen")

        issue = page.get_by_role("button", name="Emitir el fallo")
        # The checkbox is required: without it the browser does not send the form.
        issue.click()
        expect(page).to_have_url(re.compile(r"/fallo\?modo=split"))
        page.get_by_label(re.compile("Confirmo el fallo")).check()
        issue.click()
        expect(page).to_have_url(
            re.compile(rf"/licitaciones/{evaluated.tender_id}/fallo\?emitido=1")
        )
        expect(page.locator("body")).to_contain_text("Abastecimiento simultáneo")
        expect(page.locator("#partida-3")).to_contain_text("Adjudicadas 100 piezas")

        # Issued: the preview keeps the button disabled and says why.
        page.goto(f"{base}/comprador/licitaciones/{evaluated.tender_id}/fallo")
        expect(page.get_by_role("button", name="Emitir el fallo")).to_be_disabled()
        expect(page.locator("#motivo-bloqueo")).to_contain_text("ya tiene fallo")
