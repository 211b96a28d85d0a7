"""Fixtures of tendering: a catalog, suppliers (one sanctioned), their users, and tenders.

``world`` builds everything through the services at the suite's clock T0. Its helpers act as a
given supplier (a ``Context`` from the supplier's own user) or as the buyer, always reading the
clock anew, so a test moves time with ``world.clock`` and the next call sees the new instant.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypedDict

import openpyxl
import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from abasto.catalog import service as catalog
from abasto.core import ledger
from abasto.core.clock import FixedClock
from abasto.core.config import Settings
from abasto.core.context import Context, operator
from abasto.core.ledger import LedgerEntry
from abasto.identity import service as identity
from abasto.identity.models import Role, Supplier, User
from abasto.identity.rules import make_rfc
from abasto.tendering import rules, service
from abasto.tendering.live import feed_entity, read_feed
from abasto.tendering.models import Bid, BidRequest, Question, Tender
from abasto.tendering.sealing import Sealer
from abasto.tendering.tick import Ticker, TickReport
from tests.conftest import PASSWORD
from tests.identity.test_sanctions import GOOD, HEADER, _csv

PARACETAMOL, ASPIRINA, NICOTINA = "010.000.0104.00", "010.000.0101.00", "010.000.0080.00"
CLAVES = {
    PARACETAMOL: "Paracetamol. Tableta. Cada tableta contiene: Paracetamol 500 mg. Envase con 10.",
    ASPIRINA: "Ácido acetilsalicílico. Tableta. Cada tableta contiene 500 mg. Envase con 20.",
    NICOTINA: "Nicotina. Tableta masticable de 2 mg. Envase con 30 tabletas de goma masticable.",
}
# (clave, minimum, maximum): partida 1, 2 and 3 of every tender the factory builds.
PARTIDAS = ((PARACETAMOL, 100, 250), (ASPIRINA, 40, 90), (NICOTINA, 10, 30))


@dataclass(frozen=True, slots=True)
class Party:
    """A supplier of the world and the username of its ``proveedor`` user."""

    key: str
    rfc: str
    name: str
    username: str


# Distinctive names: the confidentiality tests look for them in every response.
PARTIES = {
    party.key: party
    for party in (
        Party(
            "a",
            make_rfc("LQZ", date(2001, 5, 17), "K3"),
            "Laboratorios Quetzalzafiro, S.A. de C.V.",
            "prov.a",
        ),
        Party(
            "b",
            make_rfc("FTA", date(1998, 3, 9), "P2"),
            "Farmacéutica Tlalocambar, S.A. de C.V.",
            "prov.b",
        ),
        Party(
            "c",
            make_rfc("DXO", date(2005, 11, 23), "M8"),
            "Distribuidora Xochionix, S.A. de C.V.",
            "prov.c",
        ),
        Party(
            "d",
            make_rfc("ICJ", date(2010, 7, 1), "R4"),
            "Insumos Citlalijade, S.A. de C.V.",
            "prov.d",
        ),
        # Named exactly as the sanctions list row GOOD of tests/identity/test_sanctions.py.
        Party(
            "sancionado",
            make_rfc("FNA", date(2003, 2, 14), "Z9"),
            "Farmacéutica Ñandú, S.A. de C.V.",
            "prov.sancionado",
        ),
    )
}
SANCTION_FILE_NUMBER = GOOD[2]
SANCTION_AGENCY = GOOD[1]
LEGAL_BASIS = "LAASSP art. 41 fr. I"
JUSTIFICATION = "Sólo un fabricante tiene el registro sanitario de esta presentación."
STAFF = {"comprador": Role.comprador, "auditor": Role.auditor, "evaluador": Role.evaluador}


class PlanArgs(TypedDict):
    clarification_deadline: datetime
    bid_deadline: datetime
    opening_at: datetime
    fallo_at: datetime


@dataclass(frozen=True, slots=True)
class Plan:
    """A tender's timeline."""

    clarification_deadline: datetime
    bid_deadline: datetime
    opening_at: datetime
    fallo_at: datetime

    def as_kwargs(self) -> PlanArgs:
        return PlanArgs(
            clarification_deadline=self.clarification_deadline,
            bid_deadline=self.bid_deadline,
            opening_at=self.opening_at,
            fallo_at=self.fallo_at,
        )


def plan_for(procedure: str, published: datetime) -> Plan:
    """A timeline a day longer than the procedure's minimum periods, with distinct instants."""
    periods = rules.procedure(procedure).periods
    bid = published + timedelta(days=periods.min_bid_days + 1)
    clarifications = bid - timedelta(days=periods.min_days_after_clarifications + 1)
    opening = bid + timedelta(hours=1)
    return Plan(clarifications, bid, opening, opening + timedelta(days=1))


DEFAULT_INVITED = {"invitacion": ("a", "b", "c"), "adjudicacion_directa": ("a",)}
SECOND = timedelta(seconds=1)


def line(
    partida: int, price: object, quantity: object = 50, **extra: str | None
) -> rules.BidLineInput:
    """A bid line as a supplier states it."""
    return rules.BidLineInput(
        partida=partida,
        unit_price=price,
        quantity=quantity,
        presentation=extra.get("presentation", "Caja con 10 tabletas"),
        registro_sanitario=extra.get("registro_sanitario", "123M2015 SSA"),
        manufacturer=extra.get("manufacturer", "Fabricante Genérico"),
        country=extra.get("country", "México"),
    )


@dataclass
class World:
    """The tendering world of one test; every object made through the services."""

    db: Session
    clock: FixedClock
    sealer: Sealer
    sessions: sessionmaker[Session]
    suppliers: dict[str, Supplier] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def buyer(self) -> Context:
        return Context(db=self.db, actor=operator("pruebas"), now=self.now)

    def as_supplier(self, key: str) -> Context:
        """The context of the supplier's own user, as a request of that user builds it."""
        return supplier_context(self.db, self.users[PARTIES[key].username], self.now)

    def tender(
        self,
        procedure: str = "licitacion_nacional",
        *,
        invited: Sequence[str] | None = None,
        plan: Plan | None = None,
        publish: bool = True,
        legal_basis: str | None = LEGAL_BASIS,
        justification: str | None = JUSTIFICATION,
    ) -> Tender:
        """A tender of three partidas, created and (by default) published now."""
        keys = DEFAULT_INVITED.get(procedure, ()) if invited is None else invited
        needs_basis = rules.procedure(procedure).needs_legal_basis
        tender = service.create_tender(
            self.buyer(),
            self.sealer,
            title=f"Medicamentos del primer nivel ({procedure})",
            procedure=procedure,
            partidas=[service.PartidaInput(c, lo, hi) for c, lo, hi in PARTIDAS],
            invited=[PARTIES[k].rfc for k in keys],
            legal_basis=legal_basis if needs_basis else None,
            justification=justification if needs_basis else None,
            **(plan or plan_for(procedure, self.now)).as_kwargs(),
        )
        if publish:
            service.publish_tender(self.buyer(), tender_id=tender.id)
        return tender

    def bid(
        self,
        key: str,
        tender: Tender,
        prices: Mapping[int, object],
        *,
        idempotency_key: str | None = None,
        replaces: str | None = None,
        manufacturer: str = "Fabricante Genérico",
    ) -> service.Receipt:
        """A sealed bid of the supplier: its maximum quantity of each partida priced."""
        maximum = {number: hi for number, (_, _, hi) in enumerate(PARTIDAS, start=1)}
        return service.submit_bid(
            self.as_supplier(key),
            self.sealer,
            tender_id=tender.id,
            lines=[
                line(n, price, maximum.get(n, 1), manufacturer=manufacturer)
                for n, price in prices.items()
            ],
            idempotency_key=idempotency_key,
            replaces=replaces,
        )

    def ticker(self, pace_seconds: float = 0.0) -> Ticker:
        return Ticker(self.sessions, self.clock, self.sealer, pace_seconds=pace_seconds)

    def tick(self, *, finish: bool = False) -> TickReport:
        """One tick of the clock; this session then forgets what the tick changed under it."""
        report = self.ticker().tick(finish=finish)
        self.db.expire_all()
        return report

    def open_now(self, tender: Tender) -> None:
        """The buyer starts the opening and every bid is read out (time must have come)."""
        service.start_opening(self.buyer(), tender_id=tender.id)
        service.open_all(self.buyer(), self.sealer, tender_id=tender.id)

    def feed(self, tender: Tender) -> list[str]:
        """The actions of the tender's public feed, in order."""
        return [event.action for event in read_feed(self.db, tender.id)]

    def entries(self, tender: Tender, action: str | None = None) -> list[LedgerEntry]:
        query = select(LedgerEntry).where(LedgerEntry.entity == feed_entity(tender.id))
        if action is not None:
            query = query.where(LedgerEntry.action == action)
        return list(self.db.scalars(query.order_by(LedgerEntry.seq)))

    def footprint(self) -> tuple[object, ...]:
        """What a refused request must leave as it was: ledger head, bids, requests, questions."""
        self.db.flush()
        counts = tuple(
            self.db.scalar(select(func.count()).select_from(model)) or 0
            for model in (Bid, BidRequest, Question, Tender)
        )
        statuses = tuple(self.db.execute(select(Bid.id, Bid.status).order_by(Bid.id)).all())
        return (ledger.head(self.db), counts, statuses)


def supplier_context(db: Session, user: User, now: datetime) -> Context:
    """A supplier user's context, built as a request builds it."""
    return Context(db=db, actor=identity.actor_of(user), now=now)


def sanctions_csv() -> bytes:
    """The SFP list with one row: it names the supplier «sancionado»."""
    return _csv([HEADER, GOOD])


@pytest.fixture
def cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with its smallest cost: a world makes nine users, and the real cost is 0.1 s each."""
    monkeypatch.setattr(
        identity, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )


@pytest.fixture
def world(
    ctx: Context,
    clock: FixedClock,
    settings: Settings,
    sessions: sessionmaker[Session],
    cheap_passwords: None,
) -> World:
    """Three claves, four eligible suppliers and a sanctioned one, a user for each, staff."""
    return build_world(ctx, clock, settings, sessions)


def build_world(
    ctx: Context, clock: FixedClock, settings: Settings, sessions: sessionmaker[Session]
) -> World:
    """The ``world`` fixture's content, in any session (a committed database's too)."""
    catalog.import_catalog(
        ctx,
        content=(
            "Clave,Descripción\n" + "".join(f'{c},"{d}"\n' for c, d in CLAVES.items())
        ).encode(),
        filename="catalogo.csv",
    )
    built = World(ctx.db, clock, Sealer.from_settings(settings), sessions)
    for party in PARTIES.values():
        built.suppliers[party.key] = identity.register_supplier(
            ctx, rfc=party.rfc, razon_social=party.name
        )
        identity.create_user(
            ctx,
            username=party.username,
            full_name=f"Representante {party.key.upper()}",
            password=PASSWORD,
            role=Role.proveedor,
            supplier_rfc=party.rfc,
        )
    for username, role in STAFF.items():
        identity.create_user(
            ctx, username=username, full_name=username.title(), password=PASSWORD, role=role
        )
    identity.import_sanctions(ctx, content=sanctions_csv(), filename="sancionados.csv")
    ctx.db.flush()
    built.users = {user.username: user for user in ctx.db.scalars(select(User))}
    return built


# ----- the bid template ----------------------------------------------------------------------

# Columns of the template written by abasto.tendering.template.write_template (1-based).
COL_PARTIDA, COL_CLAVE, COL_PRESENTATION = 1, 2, 5
COL_REGISTRO, COL_MANUFACTURER, COL_COUNTRY, COL_QUANTITY, COL_PRICE = 9, 10, 11, 12, 13
FIRST_ROW = 5


def fill_template(
    content: bytes,
    prices: Mapping[int, object],
    *,
    quantities: Mapping[int, object] | None = None,
    cells: Mapping[tuple[int, int], Any] | None = None,
) -> bytes:
    """The template with a price (and optionally a quantity) typed in each partida's row.

    ``cells`` sets any other cell by (partida, column): a changed clave, a country.
    """
    workbook = openpyxl.load_workbook(io.BytesIO(content))
    sheet = workbook.active
    assert sheet is not None
    rows = {
        sheet.cell(row, COL_PARTIDA).value: row
        for row in range(FIRST_ROW, sheet.max_row + 1)
        if sheet.cell(row, COL_PARTIDA).value is not None
    }
    for partida, price in prices.items():
        row = rows[partida]
        sheet.cell(row, COL_PRICE, price)
        sheet.cell(row, COL_REGISTRO, "123M2015 SSA")
        sheet.cell(row, COL_MANUFACTURER, "Fabricante de la Hoja")
        sheet.cell(row, COL_COUNTRY, "México")
        sheet.cell(row, COL_PRESENTATION, "Caja con 10 tabletas")
    for partida, quantity in (quantities or {}).items():
        sheet.cell(rows[partida], COL_QUANTITY, quantity)
    for (partida, column), value in (cells or {}).items():
        sheet.cell(rows[partida], column, value)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# ----- poison --------------------------------------------------------------------------------

POISON_QUANTITY = 3_000_000_000
POISON_PRICE = "7319.47"


def seal_poison(world: World, key: str, tender: Tender, monkeypatch: pytest.MonkeyPatch) -> str:
    """A sealed bid of 3,000,000,000 pieces, as a server that did not check bounds sealed it
    (issue 14): the opening cannot write its line. Returns the bid's id."""

    def unchecked(
        lines: Sequence[rules.BidLineInput], partidas: Mapping[int, int], last: Any = None
    ) -> tuple[list[dict[str, Any]], list[Any]]:
        return [
            {
                "partida": 1,
                "unit_price": POISON_PRICE,
                "quantity": POISON_QUANTITY,
                "presentation": None,
                "registro_sanitario": None,
                "manufacturer": None,
                "country": None,
            }
        ], []

    with monkeypatch.context() as patched:
        patched.setattr(rules, "check_bid_lines", unchecked)
        return world.bid(key, tender, {1: POISON_PRICE}).bid_id
