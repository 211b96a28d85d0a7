"""The live opening in Chromium: each bid appears on the page, without reload, within a second.

The data is real and committed in a database of its own; the app is served by uvicorn. The test
plays the opening step by step, each step in its own committed transaction as the tick does, and
times how long each row takes to appear after its commit. On SQLite the commit wakes the server's
hub in this same process; on PostgreSQL it arrives through LISTEN/NOTIFY.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from abasto.catalog import service as catalog
from abasto.core.clock import FixedClock
from abasto.core.config import Settings
from abasto.core.context import Context, operator
from abasto.core.db import make_engine, session_factory, transaction
from abasto.identity import service as identity
from abasto.identity.models import Role, User
from abasto.tendering import service
from abasto.tendering.sealing import Sealer
from tests.conftest import PASSWORD, served
from tests.tendering.conftest import CLAVES, PARTIES, World

pytestmark = pytest.mark.browser

BIDDERS = ("a", "b", "c")
PRICES = {"a": {1: "12.50", 2: "3.10"}, "b": {1: "11.75"}, "c": {1: "13.20", 3: "45.00"}}
LIMIT = 1.0
"""Seconds from a step's commit to its row on the page: the acceptance criterion."""


@dataclass(frozen=True)
class Opening:
    """A committed tender whose opening time has passed, with three sealed bids."""

    url: str
    engine: Engine
    sessions: sessionmaker[Session]
    sealer: Sealer
    tender_id: int
    bids: dict[str, str]
    """supplier key → bid id, in order of arrival (the order the opening reads them)."""


@pytest.fixture
def opening(fresh_database_url: str, tmp_path: Path, cheap_passwords: None) -> Iterator[Opening]:
    engine = make_engine(fresh_database_url)
    sessions = session_factory(engine)
    # The same secret as served(): the server must unwrap the tender's key to open the bids.
    sealer = Sealer.from_settings(
        Settings(database_url=fresh_database_url, data_dir=tmp_path, secret_key="test")
    )
    # Published 20 days ago: its bid deadline and its opening time are now in the past.
    clock = FixedClock(datetime.now(UTC) - timedelta(days=20))
    with transaction(sessions) as db:
        ctx = Context(db=db, actor=operator("pruebas"), now=clock.now())
        catalog.import_catalog(
            ctx,
            content=(
                "Clave,Descripción\n" + "".join(f'{c},"{d}"\n' for c, d in CLAVES.items())
            ).encode(),
            filename="catalogo.csv",
        )
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
        db.flush()
        world = World(db, clock, sealer, sessions)
        world.users = {user.username: user for user in db.scalars(select(User))}
        tender = world.tender()
        clock.advance(timedelta(days=10))
        bids = {}
        for key in BIDDERS:
            clock.advance(timedelta(minutes=5))
            bids[key] = world.bid(key, tender, PRICES[key]).bid_id
        assert tender.opening_at < datetime.now(UTC)
        tender_id = tender.id
    yield Opening(fresh_database_url, engine, sessions, sealer, tender_id, bids)
    engine.dispose()


def commit_step(opening: Opening, action: Callable[[Context], object]) -> float:
    """Run one step of the opening in its own transaction; the instant its commit returned."""
    with transaction(opening.sessions) as db:
        action(Context(db=db, actor=operator("pruebas"), now=datetime.now(UTC)))
    return time.monotonic()


def seconds_until(page: Page, selector: str, since: float) -> float:
    page.wait_for_selector(selector, state="attached", timeout=10_000)
    return time.monotonic() - since


def test_each_bid_appears_on_the_live_page_within_a_second_of_its_opening(
    opening: Opening, browser: Browser, tmp_path: Path
) -> None:
    with served(opening.url, tmp_path) as base:
        page = browser.new_page()
        page.goto(f"{base}/licitaciones/{opening.tender_id}/apertura")
        expect(page.get_by_role("heading", level=1)).to_have_text("Apertura de proposiciones")
        expect(page.locator("#apertura")).to_have_attribute("data-live", "en-vivo")
        expect(page.locator("#tabla-compromisos tbody tr")).to_have_count(3)
        expect(page.locator(".opening-count")).to_have_text("0 de 3 proposiciones abiertas")
        # A mark on this document: a reload would lose it.
        page.evaluate("window.__marker = 1")
        # The server's listener (LISTEN on PostgreSQL) is ready well before a real opening.
        time.sleep(1.0)

        started = commit_step(
            opening, lambda ctx: service.start_opening(ctx, tender_id=opening.tender_id)
        )
        waited = seconds_until(page, "#estado.status-opening", started)
        assert waited <= LIMIT, f"the start of the opening took {waited:.2f} s to show"
        expect(page.locator("#mensaje")).to_have_text(
            "Comenzó la apertura: 3 proposiciones por abrir."
        )
        expect(page.locator("#acta-enlaces")).to_be_visible()

        for position, key in enumerate(BIDDERS, start=1):
            bid_id = opening.bids[key]
            opened = commit_step(
                opening,
                lambda ctx: service.open_next_bid(ctx, opening.sealer, tender_id=opening.tender_id),
            )
            waited = seconds_until(page, f'[data-bid="{bid_id}"]', opened)
            assert waited <= LIMIT, f"bid {position} took {waited:.2f} s to appear"
            row = page.locator(f'[data-bid="{bid_id}"]')
            expect(row).to_contain_text(PARTIES[key].name)
            expect(row).to_contain_text(PARTIES[key].rfc)
            expect(row.locator('[data-field="check"]')).to_have_text("Coincide")
            expect(row.locator('[data-field="check"]')).to_have_class("badge check ok")
            expect(page.locator(".opening-count")).to_have_text(
                f"{position} de 3 proposiciones abiertas"
            )
            expect(page.locator(f'[data-commitment="{bid_id}"] [data-field="state"]')).to_have_text(
                "Abierta"
            )

        expect(page.locator("#estado")).to_have_text("Proposiciones abiertas")
        expect(page.locator("#apertura")).to_have_attribute("data-live", "terminada")
        expect(page.locator("#mensaje")).to_contain_text("Terminó la apertura")
        assert page.evaluate("window.__marker") == 1
        # 12.50 × 250 + 3.10 × 90, written by the browser as the server writes it.
        expect(page.locator(f'[data-bid="{opening.bids["a"]}"] [data-field="total"]')).to_have_text(
            "$3,404.00"
        )
        live_rows = page.locator("#tabla-abiertas tbody tr").all_inner_texts()

        # What the browser built from the events is what the server renders from the feed.
        page.reload()
        expect(page.locator(".opening-count")).to_have_text("3 de 3 proposiciones abiertas")
        assert page.locator("#tabla-abiertas tbody tr").all_inner_texts() == live_rows
        assert page.evaluate("window.__marker") is None


def test_the_live_page_is_usable_on_a_phone(
    opening: Opening, browser: Browser, tmp_path: Path
) -> None:
    commit_step(opening, lambda ctx: service.start_opening(ctx, tender_id=opening.tender_id))
    commit_step(
        opening,
        lambda ctx: service.open_all(ctx, opening.sealer, tender_id=opening.tender_id),
    )
    with served(opening.url, tmp_path) as base:
        context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        page = context.new_page()
        page.goto(f"{base}/licitaciones/{opening.tender_id}/apertura")
        expect(page.locator(".opening-count")).to_have_text("3 de 3 proposiciones abiertas")
        row = page.locator(f'[data-bid="{opening.bids["b"]}"]')
        expect(row).to_be_visible()
        expect(row).to_contain_text(PARTIES["b"].name)
        # Who bid and how much, not only the commitment's hash (issue 18, item 8).
        expect(row.locator('[data-field="total"]')).to_be_visible()
        expect(row.locator('[data-field="total"]')).to_have_text(re.compile(r"^\$[\d,]+\.\d\d$"))
        expect(row.locator('[data-field="rfc"]')).to_be_visible()
        # Nothing wider than the screen: no sideways scrolling to read a bid.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width}px wide on a 390px screen"
        context.close()
