"""What the portal shows of a clave, a supplier and an institution across every tender.

Each view is a few SQL aggregates over whole tables, never a walk over ORM objects. Only what
is public: bids once opened in public, tenders once published, fallos and their contract drafts.
Amounts are summed in SQL and read back as exact decimals of two places.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, Numeric, and_, func, select, type_coerce
from sqlalchemy.orm import InstrumentedAttribute, Session

from abasto.award.models import ContractDraft, Fallo, FalloLine, FalloPartida
from abasto.catalog import service as catalog
from abasto.catalog.models import Clave
from abasto.contracts import service as contracts_service
from abasto.contracts.service import FillRow
from abasto.identity import service as identity
from abasto.identity.models import Institution, Supplier
from abasto.tendering import service as tendering
from abasto.tendering.models import Bid, BidLine, Partida, PartidaDemand, Tender

AMOUNT = Numeric(18, 2)
ZERO = Decimal("0.00")
WINS_SHOWN = 200
"""Fallo lines listed on a supplier's page; every one of them is in the open data."""


def _amount(
    price: InstrumentedAttribute[Decimal], quantity: InstrumentedAttribute[int]
) -> ColumnElement[Decimal]:
    # On SQLite the sum is a float; read back as Numeric(18, 2) it is rounded to the centavo,
    # exact for any total below 10¹³ pesos. PostgreSQL sums numeric exactly.
    return type_coerce(func.coalesce(func.sum(price * quantity), 0), AMOUNT)


# ----- a clave's price history ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PricePoint:
    """One awarded unit price: a fallo line, or its share for one institution (a draft)."""

    tender_id: int
    tender_number: str
    issued_at: datetime
    partida_number: int
    supplier_rfc: str
    supplier_name: str
    institution_code: str | None
    """None where the partida carried no institution's demand (no contract draft)."""
    institution_name: str | None
    quantity: int
    unit_price: Decimal
    reference_price: Decimal | None
    """The reference the fallo evaluated the partida with."""

    @property
    def above_reference(self) -> Decimal | None:
        if not self.reference_price:
            return None
        return (self.unit_price / self.reference_price - 1).quantize(Decimal("0.001"))


@dataclass(frozen=True, slots=True)
class PriceHistory:
    clave: str
    description: str
    points: list[PricePoint]


def price_history(db: Session, *, clave: str) -> PriceHistory:
    """Every awarded price of the clave, oldest fallo first, split by institution where the
    fallo drafted contracts (each institution's share of a winner is its own point)."""
    found = catalog.get_clave(db, clave)
    rows = db.execute(
        select(
            Tender.id,
            Tender.number,
            Fallo.issued_at,
            FalloLine.partida_number,
            Supplier.rfc,
            Supplier.razon_social,
            Institution.code,
            Institution.name,
            func.coalesce(ContractDraft.max_qty, FalloLine.quantity),
            FalloLine.unit_price,
            FalloPartida.reference_price,
        )
        .select_from(FalloLine)
        .join(Fallo, Fallo.id == FalloLine.fallo_id)
        .join(Tender, Tender.id == Fallo.tender_id)
        .join(Partida, Partida.id == FalloLine.partida_id)
        .join(Supplier, Supplier.id == FalloLine.supplier_id)
        .outerjoin(
            ContractDraft,
            and_(
                ContractDraft.fallo_id == FalloLine.fallo_id,
                ContractDraft.partida_id == FalloLine.partida_id,
                ContractDraft.supplier_id == FalloLine.supplier_id,
            ),
        )
        .outerjoin(Institution, Institution.id == ContractDraft.institution_id)
        .outerjoin(
            FalloPartida,
            and_(
                FalloPartida.fallo_id == FalloLine.fallo_id,
                FalloPartida.partida_id == FalloLine.partida_id,
            ),
        )
        .where(Partida.clave_id == found.id)
        .order_by(Fallo.issued_at, Tender.id, Supplier.rfc, Institution.code)
    )
    return PriceHistory(found.clave, found.description, [PricePoint(*row) for row in rows])


# ----- a supplier's record -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TenderBid:
    """A tender the supplier bid in, known from the opening on."""

    tender_id: int
    tender_number: str
    title: str
    status: str
    opened_at: datetime | None
    check: str | None
    partidas: int


@dataclass(frozen=True, slots=True)
class Win:
    tender_id: int
    tender_number: str
    partida_number: int
    clave: str
    quantity: int
    unit_price: Decimal
    reference_price: Decimal | None

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True, slots=True)
class ContractTotal:
    """Contract drafts of one tender between one institution and one supplier."""

    tender_id: int
    tender_number: str
    institution_code: str
    institution_name: str
    supplier_rfc: str
    supplier_name: str
    partidas: int
    min_amount: Decimal
    max_amount: Decimal


@dataclass(frozen=True, slots=True)
class SupplierRecord:
    rfc: str
    name: str
    registered_on: date
    eligible: bool
    sanctions: int
    bids: list[TenderBid]
    wins: list[Win]
    wins_total: int
    """Fallo lines it won; ``wins`` lists the latest ``WINS_SHOWN``."""
    awarded_pieces: int
    awarded_amount: Decimal
    contracts: list[ContractTotal]
    contracted_max: Decimal
    fill_months: list[FillRow]
    """Its nivel de surtimiento by month of the orders' due day, over orders due by then."""

    @property
    def fill(self) -> FillRow:
        """Its nivel de surtimiento over every order due: on time and accepted ÷ ordered."""
        return FillRow(
            key=(),
            ordered_due=sum(m.ordered_due for m in self.fill_months),
            on_time_accepted=sum(m.on_time_accepted for m in self.fill_months),
        )


def _contract_totals(db: Session, *conditions: ColumnElement[bool]) -> list[ContractTotal]:
    rows = db.execute(
        select(
            Tender.id,
            Tender.number,
            Institution.code,
            Institution.name,
            Supplier.rfc,
            Supplier.razon_social,
            func.count(ContractDraft.id),
            _amount(ContractDraft.unit_price, ContractDraft.min_qty),
            _amount(ContractDraft.unit_price, ContractDraft.max_qty),
        )
        .select_from(ContractDraft)
        .join(Fallo, Fallo.id == ContractDraft.fallo_id)
        .join(Tender, Tender.id == Fallo.tender_id)
        .join(Institution, Institution.id == ContractDraft.institution_id)
        .join(Supplier, Supplier.id == ContractDraft.supplier_id)
        .where(*conditions)
        .group_by(
            Tender.id,
            Tender.number,
            Institution.code,
            Institution.name,
            Supplier.rfc,
            Supplier.razon_social,
        )
        .order_by(Tender.id.desc(), Institution.code, Supplier.rfc)
    )
    return [ContractTotal(*row) for row in rows]


def supplier_record(db: Session, *, rfc: str, as_of: date) -> SupplierRecord:
    """The supplier's opened bids, the partidas it won, the contracts drafted with it and its
    nivel de surtimiento over the orders due by ``as_of``."""
    standing = identity.get_supplier_standing(db, rfc)
    supplier = standing.supplier
    bids = db.execute(
        select(
            Tender.id,
            Tender.number,
            Tender.title,
            Tender.status,
            Bid.opened_at,
            Bid.check,
            func.count(BidLine.id),
        )
        .select_from(Bid)
        .join(Tender, Tender.id == Bid.tender_id)
        .outerjoin(BidLine, BidLine.bid_id == Bid.id)
        # Only an opened bid names its supplier: a sealed one is nobody's yet.
        .where(Bid.supplier_id == supplier.id, Bid.status == tendering.OPENED)
        .group_by(Tender.id, Tender.number, Tender.title, Tender.status, Bid.opened_at, Bid.check)
        .order_by(Tender.id.desc())
    ).all()
    mine = FalloLine.supplier_id == supplier.id
    wins = db.execute(
        select(
            Tender.id,
            Tender.number,
            FalloLine.partida_number,
            Clave.clave,
            FalloLine.quantity,
            FalloLine.unit_price,
            FalloLine.reference_price,
        )
        .select_from(FalloLine)
        .join(Fallo, Fallo.id == FalloLine.fallo_id)
        .join(Tender, Tender.id == Fallo.tender_id)
        .join(Partida, Partida.id == FalloLine.partida_id)
        .join(Clave, Clave.id == Partida.clave_id)
        .where(mine)
        .order_by(Fallo.issued_at.desc(), Tender.id.desc(), FalloLine.partida_number)
        .limit(WINS_SHOWN)
    ).all()
    count, pieces, amount = db.execute(
        select(
            func.count(FalloLine.id),
            func.coalesce(func.sum(FalloLine.quantity), 0),
            _amount(FalloLine.unit_price, FalloLine.quantity),
        ).where(mine)
    ).one()
    contracts = _contract_totals(db, ContractDraft.supplier_id == supplier.id)
    return SupplierRecord(
        rfc=supplier.rfc,
        name=supplier.razon_social,
        registered_on=supplier.registered_on,
        eligible=standing.eligible,
        sanctions=len(standing.sanctions),
        bids=[TenderBid(*row) for row in bids],
        wins=[Win(*row) for row in wins],
        wins_total=int(count),
        awarded_pieces=int(pieces),
        awarded_amount=amount or ZERO,
        contracts=contracts,
        contracted_max=sum((c.max_amount for c in contracts), ZERO),
        fill_months=contracts_service.fill_rates(
            db, by=["month"], as_of=as_of, supplier_id=supplier.id
        ),
    )


# ----- an institution's record ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TenderDemand:
    """What the institution asks of one tender: partidas carrying its demand, pieces."""

    tender_id: int
    tender_number: str
    title: str
    status: str
    partidas: int
    min_qty: int
    max_qty: int


@dataclass(frozen=True, slots=True)
class SupplierTotal:
    rfc: str
    name: str
    partidas: int
    max_amount: Decimal


@dataclass(frozen=True, slots=True)
class InstitutionRecord:
    code: str
    name: str
    demand: list[TenderDemand]
    contracts: list[ContractTotal]
    suppliers: list[SupplierTotal]
    """Who it contracts with, the largest amount first."""
    contracted_min: Decimal
    contracted_max: Decimal


def institution_record(db: Session, *, code: str) -> InstitutionRecord:
    """The institution's demand in published tenders and the contracts drafted for it."""
    institution = identity.get_institution(db, code)
    demand = db.execute(
        select(
            Tender.id,
            Tender.number,
            Tender.title,
            Tender.status,
            func.count(PartidaDemand.id),
            func.sum(PartidaDemand.min_qty),
            func.sum(PartidaDemand.max_qty),
        )
        .select_from(PartidaDemand)
        .join(Partida, Partida.id == PartidaDemand.partida_id)
        .join(Tender, Tender.id == Partida.tender_id)
        .where(
            PartidaDemand.institution_id == institution.id,
            Tender.published_at.is_not(None),
        )
        .group_by(Tender.id, Tender.number, Tender.title, Tender.status)
        .order_by(Tender.id.desc())
    ).all()
    contracts = _contract_totals(db, ContractDraft.institution_id == institution.id)
    suppliers = db.execute(
        select(
            Supplier.rfc,
            Supplier.razon_social,
            func.count(ContractDraft.id),
            _amount(ContractDraft.unit_price, ContractDraft.max_qty),
        )
        .select_from(ContractDraft)
        .join(Supplier, Supplier.id == ContractDraft.supplier_id)
        .where(ContractDraft.institution_id == institution.id)
        .group_by(Supplier.rfc, Supplier.razon_social)
    ).all()
    return InstitutionRecord(
        code=institution.code,
        name=institution.name,
        demand=[TenderDemand(*row) for row in demand],
        contracts=contracts,
        suppliers=sorted(
            (SupplierTotal(*row) for row in suppliers), key=lambda s: (-s.max_amount, s.rfc)
        ),
        contracted_min=sum((c.min_amount for c in contracts), ZERO),
        contracted_max=sum((c.max_amount for c in contracts), ZERO),
    )
