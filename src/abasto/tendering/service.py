"""Use cases of tendering: build and publish tenders, clarifications, sealed bids, the opening.

What may be shown of a bid depends on the tender's stage: before the opening, only its id, the
instant it arrived and its commitment; the rest is sealed (see ``sealing``) and every ledger entry
about it names the actor "licitante", not the user. The opening unseals the bids one by one,
checks each against the commitment published on the ledger, and reads it out on the feed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, Protocol, TypeVar

from sqlalchemy import (
    Label,
    LargeBinary,
    Row,
    String,
    and_,
    bindparam,
    cast,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, selectinload

from abasto.catalog.models import Clave
from abasto.core import checkpoints
from abasto.core.context import Context
from abasto.core.db import UTCDateTime, among
from abasto.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Problem,
    ValidationFailed,
    check_version,
)
from abasto.core.ledger import LedgerEntry, canonical_json, canonical_object
from abasto.core.money import count_of
from abasto.demand import service as demand
from abasto.demand.models import DemandRound
from abasto.identity import service as identity
from abasto.identity.models import Institution, Supplier, SupplierStatus
from abasto.tendering import rules, template
from abasto.tendering.live import CHANNEL, announce, feed_entity
from abasto.tendering.models import (
    Amendment,
    Bid,
    BidLine,
    BidRequest,
    Invitation,
    Partida,
    PartidaDemand,
    Question,
    Tender,
)
from abasto.tendering.rules import when
from abasto.tendering.sealing import (
    Sealer,
    TenderKey,
    Unsealable,
    commitment,
    new_bid_id,
    new_salt,
)

BIDDER = "licitante"
"""The actor every ledger entry about a sealed bid names: the user would reveal the bidder."""

SEALED, REPLACED, WITHDRAWN, OPENED = "sealed", "replaced", "withdrawn", "opened"
MATCHES, MISMATCH = "coincide", "no_coincide"

# The statements of a bid's submission, built once: a rush runs each hundreds of times a second,
# and building one (with its cache key) costs about as much as running it. The writes are plain
# Core statements, without the ORM's unit of work.
_OWN = aliased(Bid, name="own")


def _open_partidas_of(postgresql: bool) -> Label[str | None]:
    """The partidas among ``:numbers`` still open, as text: "number:max,number:max"."""
    return (
        select(
            func.aggregate_strings(
                cast(Partida.number, String) + ":" + cast(Partida.max_qty, String), ","
            )
        )
        .where(
            Partida.tender_id == Tender.id,
            among(Partida.number, "numbers", postgresql=postgresql),
            Partida.desierta_at.is_(None),
        )
        .scalar_subquery()
        .label("open_partidas")
    )


_SUBMISSION = {
    postgresql: select(
        Tender.id,
        Tender.number,
        Tender.status,
        Tender.published_at,
        Tender.procedure,
        Tender.clarification_deadline,
        Tender.bid_deadline,
        Tender.opening_at,
        Tender.fallo_at,
        Tender.wrapped_key,
        Supplier.id.label("supplier_id"),
        Supplier.rfc,
        # The stored binding, not a match of names: a rename cannot shed a sanction, and a
        # supplier that is not verified yet is held back too.
        or_(Supplier.sanctioned, Supplier.status != SupplierStatus.verificado).label("barred"),
        exists()
        .where(Invitation.tender_id == Tender.id, Invitation.supplier_id == Supplier.id)
        .label("invited"),
        exists()
        .where(
            Bid.tender_id == Tender.id,
            Bid.owner_tag == bindparam("owner"),
            Bid.status == SEALED,
        )
        .label("has_sealed"),
        BidRequest.digest.label("earlier_digest"),
        BidRequest.bid_id.label("earlier_bid"),
        _OWN.tender_id.label("replaces_tender"),
        _OWN.owner_tag.label("replaces_owner"),
        _OWN.status.label("replaces_status"),
        _open_partidas_of(postgresql),
    )
    .select_from(Tender)
    .outerjoin(Supplier, Supplier.id == bindparam("supplier_id"))
    .outerjoin(
        BidRequest,
        and_(
            BidRequest.tender_id == Tender.id,
            BidRequest.owner_tag == bindparam("owner"),
            BidRequest.key == bindparam("key"),
        ),
    )
    .outerjoin(_OWN, _OWN.id == bindparam("replaces"))
    .where(Tender.id == bindparam("tender_id"))
    for postgresql in (True, False)
}
"""Everything a submission reads, in one round trip: the tender; the acting supplier, whether
it is barred (a sanction bound to its RFC, or not verified) and whether it is invited (only a
barred or uninvited supplier has its standing read in full, by ``_require_eligible``); by the
supplier's owner tag,
the request that used the same Idempotency-Key, the bid it replaces and whether it has a sealed
bid; and which of the partidas the bid names are open. One statement per dialect (``among``)."""
_REPLACE_BID = (
    update(Bid)
    # Only a sealed bid is replaced: of two requests racing for it, one finds it gone.
    .where(Bid.id == bindparam("previous"), Bid.status == SEALED)
    .values(status=REPLACED, replaced_by=bindparam("by"))
)
_INSERT_BID = insert(Bid)
_INSERT_REQUEST = insert(BidRequest)
_WRITE_BID_IN_POSTGRES = text(
    f"""
    WITH replaced AS (
        UPDATE bids SET status = '{REPLACED}', replaced_by = :id
        WHERE id = CAST(:previous AS varchar) AND status = '{SEALED}'
        RETURNING id
    ), bid AS (
        INSERT INTO bids (id, tender_id, owner_tag, status, submitted_at, commitment, ciphertext)
        SELECT :id, :tender_id, :owner_tag, :status, :submitted_at, :commitment, :ciphertext
        WHERE CAST(:previous AS varchar) IS NULL OR EXISTS (SELECT FROM replaced)
        RETURNING id
    ), request AS (
        INSERT INTO bid_requests (tender_id, owner_tag, key, digest, bid_id, at)
        SELECT :tender_id, :owner_tag, CAST(:key AS varchar), :digest, id, :submitted_at
        FROM bid WHERE CAST(:key AS varchar) IS NOT NULL
    )
    SELECT count(*) FROM bid, pg_notify('{CHANNEL}', CAST(:tender_id AS text))
    """
).bindparams(
    bindparam("submitted_at", type_=UTCDateTime()), bindparam("ciphertext", type_=LargeBinary())
)
"""A bid's writes in one round trip, as ``_write_bid`` makes them apart on SQLite: the bid it
replaces (only if still sealed; the new one is written only then), the new bid, its
Idempotency-Key, and the feed's notification (``announce``; like it, sent only if the
transaction commits)."""


class Scheduled(Protocol):
    """What the checks of a tender's stage read: a ``Tender``, or a row of its columns."""

    @property
    def number(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def published_at(self) -> datetime | None: ...
    @property
    def clarification_deadline(self) -> datetime: ...
    @property
    def bid_deadline(self) -> datetime: ...
    @property
    def opening_at(self) -> datetime: ...
    @property
    def fallo_at(self) -> datetime: ...


_Staged = TypeVar("_Staged", bound=Scheduled)


# ----- reading -------------------------------------------------------------------------------


def get_tender(db: Session, tender_id: int, *, lock: bool = False) -> Tender:
    """The tender; ``lock`` holds its row until commit, so that two workers ticking at once
    (or a buyer and the tick) apply a transition or read out a bid only once."""
    if lock:
        found = db.scalar(
            select(Tender)
            .where(Tender.id == tender_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    else:
        found = db.get(Tender, tender_id)
    if found is None:
        raise NotFound(f"No existe la licitación {tender_id}.")
    return found


def _visible_tender(ctx: Context, tender_id: int) -> Tender:
    """A tender as this actor may see it: drafts only to buyers and auditors."""
    return _seen(ctx, tender_id, get_tender(ctx.db, tender_id))


def _seen(ctx: Context, tender_id: int, found: _Staged | None) -> _Staged:
    """``found`` if this actor may see it; NotFound for a tender that does not exist and for a
    draft it may not see alike (a draft cancelled before its publication stays one)."""
    if found is None or (
        found.published_at is None and not ctx.actor.has_role("comprador", "auditor")
    ):
        raise NotFound(f"No existe la licitación {tender_id}.")
    return found


def view_tender(ctx: Context, tender_id: int) -> Tender:
    return _visible_tender(ctx, tender_id)


def timeline_of(tender: Scheduled) -> rules.Timeline:
    return rules.Timeline(
        clarification_deadline=tender.clarification_deadline,
        bid_deadline=tender.bid_deadline,
        opening_at=tender.opening_at,
        fallo_at=tender.fallo_at,
    )


@dataclass(frozen=True, slots=True)
class TenderSummary:
    tender: Tender
    partidas: int
    sealed: int


@dataclass(frozen=True, slots=True)
class TenderList:
    items: list[TenderSummary]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def list_tenders(
    ctx: Context,
    *,
    status: str | None = None,
    q: str = "",
    institution: str | None = None,
    procedure: str | None = None,
    published: rules.Period = (None, None),
    opening: rules.Period = (None, None),
    page: int = 1,
    per_page: int = 25,
) -> TenderList:
    """Published tenders (drafts too for buyers and auditors), newest first; ``institution``
    keeps those whose partidas carry that institution's demand."""
    query = select(Tender)
    if not ctx.actor.has_role("comprador", "auditor"):
        query = query.where(Tender.published_at.is_not(None))
    if status:
        query = query.where(Tender.status == status)
    if procedure:
        query = query.where(Tender.procedure == procedure)
    if institution:
        query = query.where(
            Tender.id.in_(
                select(Partida.tender_id)
                .join(PartidaDemand, PartidaDemand.partida_id == Partida.id)
                .join(Institution, Institution.id == PartidaDemand.institution_id)
                .where(Institution.code == institution)
            )
        )
    for column, (start, end) in ((Tender.published_at, published), (Tender.opening_at, opening)):
        if start is not None:
            query = query.where(column >= start)
        if end is not None:
            query = query.where(column < end)
    words = q.strip()
    if words:
        # autoescape: a «%» or «_» the user typed is searched for, not a wildcard.
        query = query.where(
            Tender.title.icontains(words, autoescape=True)
            | Tender.number.icontains(words, autoescape=True)
        )
    total = ctx.db.scalar(select(func.count()).select_from(query.subquery())) or 0
    tenders = ctx.db.scalars(
        query.order_by(Tender.id.desc()).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return TenderList(summaries(ctx.db, tenders), int(total), page, per_page)


def summaries(db: Session, tenders: Sequence[Tender]) -> list[TenderSummary]:
    """Each tender with its partidas and bids counted, two queries for all of them."""
    ids = [t.id for t in tenders]
    partidas = dict(
        db.execute(
            select(Partida.tender_id, func.count())
            .where(Partida.tender_id.in_(ids))
            .group_by(Partida.tender_id)
        ).all()
    )
    sealed = _sealed_counts(db, ids)
    return [TenderSummary(t, int(partidas.get(t.id, 0)), sealed.get(t.id, 0)) for t in tenders]


def sealed_count(db: Session, tender_id: int) -> int:
    """Bids that count in one tender: a number that reveals no bidder."""
    return _sealed_counts(db, [tender_id]).get(tender_id, 0)


def _sealed_counts(db: Session, ids: Sequence[int]) -> dict[int, int]:
    """Bids that count (sealed or opened) per tender: a number that reveals no bidder."""
    return {
        tender_id: int(count)
        for tender_id, count in db.execute(
            select(Bid.tender_id, func.count())
            .where(Bid.tender_id.in_(ids), Bid.status.in_((SEALED, OPENED)))
            .group_by(Bid.tender_id)
        )
    }


def partidas_of(db: Session, tender_id: int) -> list[Partida]:
    return list(
        db.scalars(
            select(Partida)
            .where(Partida.tender_id == tender_id)
            .options(selectinload(Partida.clave))
            .order_by(Partida.number)
        )
    )


def questions_of(db: Session, tender_id: int) -> list[Question]:
    return list(
        db.scalars(
            select(Question).where(Question.tender_id == tender_id).order_by(Question.number)
        )
    )


def amendments_of(db: Session, tender_id: int) -> list[Amendment]:
    return list(
        db.scalars(
            select(Amendment).where(Amendment.tender_id == tender_id).order_by(Amendment.number)
        )
    )


def invited_of(db: Session, tender_id: int) -> list[Supplier]:
    return list(
        db.scalars(
            select(Supplier)
            .join(Invitation, Invitation.supplier_id == Supplier.id)
            .where(Invitation.tender_id == tender_id)
            .order_by(Supplier.razon_social)
        )
    )


@dataclass(frozen=True, slots=True)
class PublicBid:
    """What anyone may know of a bid: before the opening, only id, arrival and commitment."""

    id: str
    submitted_at: datetime
    commitment: str
    status: str
    check: str | None = None
    check_detail: str | None = None
    supplier: Supplier | None = None
    lines: tuple[BidLine, ...] = ()


def public_bids(db: Session, tender: Tender) -> list[PublicBid]:
    """Every bid that counts, in order of arrival; bidder and lines only once it is opened."""
    bids = db.scalars(
        select(Bid)
        .where(Bid.tender_id == tender.id, Bid.status.in_((SEALED, OPENED)))
        .options(selectinload(Bid.supplier), selectinload(Bid.lines))
        .order_by(Bid.submitted_at, Bid.id)
    ).all()
    shown: list[PublicBid] = []
    for bid in bids:
        if bid.status == OPENED:
            shown.append(
                PublicBid(
                    bid.id,
                    bid.submitted_at,
                    bid.commitment,
                    bid.status,
                    bid.check,
                    bid.check_detail,
                    bid.supplier,
                    tuple(bid.lines),
                )
            )
        else:
            shown.append(PublicBid(bid.id, bid.submitted_at, bid.commitment, bid.status))
    return shown


# ----- building and publishing ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PartidaInput:
    clave: str
    min_qty: int
    max_qty: int


def _next_number(db: Session, year: int) -> str:
    prefix = f"AB-{year}-"
    taken = (
        db.scalar(select(func.count()).where(Tender.number.startswith(prefix, autoescape=True)))
        or 0
    )
    return f"{prefix}{taken + 1:04d}"


def _suppliers_by_rfc(db: Session, rfcs: Sequence[str]) -> tuple[list[Supplier], list[Problem]]:
    found: list[Supplier] = []
    problems: list[Problem] = []
    for position, rfc in enumerate(rfcs):
        try:
            found.append(identity.get_supplier(db, rfc))
        except NotFound:
            problems.append(
                Problem(
                    "Proveedor invitado no registrado",
                    field=f"invited[{position}]",
                    value=rfc,
                    expected="el RFC de un proveedor registrado en Abasto",
                )
            )
    return found, problems


def create_tender(
    ctx: Context,
    sealer: Sealer,
    *,
    title: str,
    procedure: str,
    clarification_deadline: datetime,
    bid_deadline: datetime,
    opening_at: datetime,
    fallo_at: datetime,
    round_name: str | None = None,
    partidas: Sequence[PartidaInput] = (),
    invited: Sequence[str] = (),
    legal_basis: str | None = None,
    justification: str | None = None,
    publication_at: datetime | None = None,
    periods: rules.Periods | None = None,
    award: Mapping[str, Any] | None = None,
) -> Tender:
    """A draft tender: from a frozen demand round (one partida per clave) or by hand.

    ``award`` holds the award parameters announced in the call (margins, split shares, maximum
    share per supplier, critical partidas); the award domain reads and checks them.
    ``periods`` replaces the procedure's minimum periods; only the demo's staged opening uses it
    (not the API), and the replacement is public: the publication's ledger entry lists them.
    """
    problems: list[Problem] = []
    if not title.strip():
        problems.append(Problem("Falta el título", field="title", expected="un título"))
    bad_procedure = rules.procedure_problem(procedure)
    if bad_procedure:
        problems.append(bad_procedure)
    if (round_name is None) == (not partidas):
        problems.append(
            Problem(
                "Indique la ronda de demanda o las partidas, no ambas ni ninguna",
                field="round",
                expected="«round» (una ronda congelada) o «partidas» (clave, mínimo, máximo)",
            )
        )
    suppliers, invite_problems = _suppliers_by_rfc(ctx.db, invited)
    problems.extend(invite_problems)
    if problems:
        raise ValidationFailed("No se creó la licitación.", problems=problems)
    policy = rules.procedure(procedure)
    if suppliers and policy.open_to_all:
        raise ValidationFailed(
            f"{policy.label}: está abierta a todos; no lleva invitados.",
            problems=[Problem("Sobran invitados", field="invited", expected="ninguno")],
        )
    key, wrapped = sealer.new_key()
    del key
    tender = Tender(
        number=_next_number(ctx.db, (publication_at or ctx.now).year),
        title=" ".join(title.split()),
        procedure=procedure,
        status=rules.DRAFT,
        legal_basis=(legal_basis or "").strip() or None,
        justification=(justification or "").strip() or None,
        params={
            **(periods or policy.periods).as_dict(),
            **({"award": dict(award)} if award else {}),
        },
        publication_at=publication_at,
        clarification_deadline=clarification_deadline,
        bid_deadline=bid_deadline,
        opening_at=opening_at,
        fallo_at=fallo_at,
        wrapped_key=wrapped,
        created_at=ctx.now,
    )
    if round_name is not None:
        found = demand.get_round(ctx.db, round_name)
        if found.status != "frozen":
            raise Conflict(
                f"La ronda «{round_name}» sigue abierta; congélela antes de licitar su demanda."
            )
        tender.round_id = found.id
        _partidas_from_round(ctx.db, tender, round_name)
    else:
        _partidas_by_hand(ctx.db, tender, partidas)
    ctx.db.add(tender)
    ctx.db.flush()
    for supplier in suppliers:
        ctx.db.add(Invitation(tender_id=tender.id, supplier_id=supplier.id))
    ctx.db.flush()
    ctx.record(
        "tender.create",
        feed_entity(tender.id),
        {
            "number": tender.number,
            "title": tender.title,
            "procedure": procedure,
            "round": round_name,
            "partidas": len(tender.partidas),
        },
        public=False,
    )
    return tender


def _partidas_from_round(db: Session, tender: Tender, round_name: str) -> None:
    consolidation = demand.consolidate_round(db, round_name=round_name)
    codes = {line.clave for line in consolidation.lines}
    clave_ids = dict(db.execute(select(Clave.clave, Clave.id).where(Clave.clave.in_(codes))).all())
    institutions = dict(
        db.execute(
            select(Institution.code, Institution.id).where(
                Institution.code.in_(list(consolidation.institutions))
            )
        ).all()
    )
    number = 0
    for line in consolidation.lines:
        if line.total.max <= 0:
            continue
        number += 1
        partida = Partida(
            number=number,
            clave_id=clave_ids[line.clave],
            min_qty=line.total.min,
            max_qty=line.total.max,
        )
        partida.demands = [
            PartidaDemand(institution_id=institutions[code], min_qty=pair.min, max_qty=pair.max)
            for code, pair in line.counted.items()
            if pair.max > 0
        ]
        tender.partidas.append(partida)
    if not number:
        raise ValidationFailed(f"La ronda «{round_name}» no tiene demanda que licitar.")


def _partidas_by_hand(db: Session, tender: Tender, partidas: Sequence[PartidaInput]) -> None:
    codes = [p.clave.strip() for p in partidas]
    known = dict(db.execute(select(Clave.clave, Clave.id).where(Clave.clave.in_(codes))).all())
    problems: list[Problem] = []
    seen: set[str] = set()
    for position, (code, item) in enumerate(zip(codes, partidas, strict=True), start=1):
        where = f"partidas[{position - 1}]"
        if code not in known:
            problems.append(
                Problem(
                    "Clave desconocida", field=where, value=code, expected="una clave del catálogo"
                )
            )
        if code in seen:
            problems.append(Problem("Clave repetida", field=where, value=code, expected="una vez"))
        seen.add(code)
        if not 0 <= item.min_qty <= item.max_qty or item.max_qty <= 0:
            problems.append(
                Problem(
                    "Cantidades no válidas",
                    field=where,
                    value=f"{item.min_qty}–{item.max_qty}",
                    expected="0 ≤ mínimo ≤ máximo y máximo > 0",
                )
            )
    if problems:
        raise ValidationFailed("No se creó la licitación.", problems=problems)
    for number, (code, item) in enumerate(zip(codes, partidas, strict=True), start=1):
        tender.partidas.append(
            Partida(number=number, clave_id=known[code], min_qty=item.min_qty, max_qty=item.max_qty)
        )


def _check_version(tender: Tender, version: int | None) -> None:
    check_version(f"La licitación {tender.number}", version, tender.version)


def _timeline_payload(tender: Tender) -> dict[str, Any]:
    return {name: getattr(tender, name) for name in rules.MILESTONES}


def publish_tender(ctx: Context, *, tender_id: int, version: int | None = None) -> Tender:
    """Publish a draft: its periods are checked against its procedure from this instant."""
    tender = get_tender(ctx.db, tender_id)
    _check_version(tender, version)
    if tender.status != rules.DRAFT:
        raise Conflict(f"La licitación {tender.number} ya fue publicada.")
    policy = rules.procedure(tender.procedure)
    invited = len(invited_of(ctx.db, tender.id))
    problems = policy.problems(
        periods=rules.periods_of(tender.params),
        published=ctx.now,
        clarification_deadline=tender.clarification_deadline,
        bid_deadline=tender.bid_deadline,
        opening_at=tender.opening_at,
        fallo_at=tender.fallo_at,
        invited=invited,
        legal_basis=tender.legal_basis,
        justification=tender.justification,
    )
    if problems:
        raise ValidationFailed(
            f"No se publicó la licitación {tender.number}: no cumple las reglas de "
            f"«{policy.label}».",
            problems=problems,
        )
    tender.status = rules.CLARIFICATIONS
    tender.published_at = ctx.now
    ctx.db.flush()
    partidas = partidas_of(ctx.db, tender.id)
    ctx.record(
        "tender.publish",
        feed_entity(tender.id),
        {
            "number": tender.number,
            "title": tender.title,
            "procedure": tender.procedure,
            "procedure_label": policy.label,
            "legal_basis": tender.legal_basis,
            "justification": tender.justification,
            "periods": tender.params,
            **_timeline_payload(tender),
            "invited": [s.rfc for s in invited_of(ctx.db, tender.id)],
            "partidas": len(partidas),
            "partidas_sha256": _partidas_digest(partidas),
        },
    )
    announce(ctx.db, tender.id)
    return tender


def edit_draft(
    ctx: Context,
    *,
    tender_id: int,
    version: int | None = None,
    title: str | None = None,
    clarification_deadline: datetime | None = None,
    bid_deadline: datetime | None = None,
    opening_at: datetime | None = None,
    fallo_at: datetime | None = None,
    claves: Sequence[str] | None = None,
) -> Tender:
    """Change a draft before it is published: its title, its dates, and which of its claves
    it tenders (a subset of the round's, or of the partidas it was made with). Published, a
    tender changes only by a public amendment. What is not given stays as it is; the dates are
    checked against the procedure when the draft is published."""
    tender = get_tender(ctx.db, tender_id, lock=True)
    _check_version(tender, version)
    if tender.status != rules.DRAFT:
        raise Conflict(
            f"La licitación {tender.number} ya no es un borrador: se cambia con una modificación "
            "publicada."
        )
    problems: list[Problem] = []
    changed: dict[str, Any] = {}
    if title is not None:
        cleaned = " ".join(title.split())
        if not cleaned:
            problems.append(Problem("Falta el título", field="title", expected="un título"))
        elif cleaned != tender.title:
            changed["title"] = tender.title = cleaned
    dates = {
        "clarification_deadline": clarification_deadline,
        "bid_deadline": bid_deadline,
        "opening_at": opening_at,
        "fallo_at": fallo_at,
    }
    for name, value in dates.items():
        if value is not None and value != getattr(tender, name):
            setattr(tender, name, value)
            changed[name] = value
    if claves is not None:
        wanted = {c.strip() for c in claves if c.strip()}
        offered = _offered_claves(ctx.db, tender)
        unknown = sorted(wanted - offered)
        if unknown:
            problems += [
                Problem(
                    "Clave que esta licitación no puede incluir",
                    field="claves",
                    value=code,
                    expected="una clave de la ronda de demanda (o de las partidas del borrador)",
                )
                for code in unknown[:20]
            ]
        elif not wanted:
            problems.append(Problem("Sin partidas", field="claves", expected="al menos una clave"))
        elif wanted != {p.clave.clave for p in tender.partidas}:
            _keep_partidas(ctx.db, tender, wanted)
            changed["claves"] = sorted(wanted)
    if problems:
        raise ValidationFailed(f"No se cambió el borrador {tender.number}.", problems=problems)
    if not changed:
        return tender
    ctx.db.flush()
    ctx.record(
        "tender.edit",
        feed_entity(tender.id),
        {
            "number": tender.number,
            **{k: v for k, v in changed.items() if k != "claves"},
            **({"partidas": len(tender.partidas)} if "claves" in changed else {}),
        },
        public=False,
    )
    return tender


def draft_choices(db: Session, tender: Tender) -> list[tuple[str, bool]]:
    """Each clave a draft may tender, in order, and whether it tenders it now."""
    included = {p.clave.clave for p in tender.partidas}
    return [(code, code in included) for code in sorted(_offered_claves(db, tender))]


def _offered_claves(db: Session, tender: Tender) -> set[str]:
    """The claves a draft may tender: its round's (with demand) or those it was made with."""
    if tender.round_id is None:
        return {p.clave.clave for p in tender.partidas}
    round_name = db.scalar(select(DemandRound.name).where(DemandRound.id == tender.round_id))
    lines = demand.consolidate_round(db, round_name=round_name or "").lines
    return {line.clave for line in lines if line.total.max > 0}


def _keep_partidas(db: Session, tender: Tender, wanted: set[str]) -> None:
    """Only the partidas of ``wanted``, numbered again from 1 in their order; for a round's
    draft, the claves dropped before can come back from the round."""
    if tender.round_id is not None:
        round_name = db.scalar(select(DemandRound.name).where(DemandRound.id == tender.round_id))
        tender.partidas.clear()
        db.flush()
        _partidas_from_round(db, tender, round_name or "")
        db.flush()
    kept = [p for p in tender.partidas if p.clave.clave in wanted]
    for partida in [p for p in tender.partidas if p.clave.clave not in wanted]:
        tender.partidas.remove(partida)
    db.flush()
    # Numbers are unique per tender: move them out of the way before numbering again.
    for partida in kept:
        partida.number = -partida.number
    db.flush()
    for number, partida in enumerate(sorted(kept, key=lambda p: -p.number), start=1):
        partida.number = number
    db.flush()


def _partidas_digest(partidas: Sequence[Partida]) -> str:
    text = canonical_json([[p.number, p.clave.clave, p.min_qty, p.max_qty] for p in partidas])
    return hashlib.sha256(text.encode()).hexdigest()


def _require_live(tender: Scheduled, what: str) -> None:
    if tender.status == rules.DRAFT:
        raise Conflict(f"La licitación {tender.number} no está publicada: {what}.")
    if tender.status == rules.CANCELLED:
        raise Conflict(f"La licitación {tender.number} está cancelada: {what}.")


def amend_tender(
    ctx: Context,
    *,
    tender_id: int,
    description: str,
    clarification_deadline: datetime | None = None,
    bid_deadline: datetime | None = None,
    opening_at: datetime | None = None,
    fallo_at: datetime | None = None,
    version: int | None = None,
) -> Amendment:
    """A recorded change; published late, it moves the bid deadline out (a parameter)."""
    tender = get_tender(ctx.db, tender_id)
    _check_version(tender, version)
    _require_live(tender, "no se puede modificar")
    if not rules.accepts_bids(timeline_of(tender), ctx.now):
        raise Conflict(
            f"La licitación {tender.number} cerró la recepción de proposiciones; ya no se modifica."
        )
    if len(description.strip()) < 10:
        raise ValidationFailed(
            "Describa la modificación.",
            problems=[
                Problem(
                    "Descripción muy corta", field="description", expected="al menos 10 caracteres"
                )
            ],
        )
    current = timeline_of(tender)
    wanted = rules.Timeline(
        clarification_deadline=clarification_deadline or current.clarification_deadline,
        bid_deadline=bid_deadline or current.bid_deadline,
        opening_at=opening_at or current.opening_at,
        fallo_at=fallo_at or current.fallo_at,
    )
    periods = rules.periods_of(tender.params)
    final = rules.amended_timeline(current, wanted, now=ctx.now, days=periods.late_amendment_days)
    problems = rules.timeline_problems(
        periods=periods,
        published=tender.published_at or ctx.now,
        **{name: getattr(final, name) for name in rules.MILESTONES},
    )
    if final.clarification_deadline < current.clarification_deadline and (
        ctx.now >= final.clarification_deadline
    ):
        problems.append(
            Problem(
                "El nuevo límite de preguntas ya pasó",
                field="clarification_deadline",
                expected=f"después de {when(ctx.now)}",
            )
        )
    if problems:
        raise ValidationFailed(f"No se modificó la licitación {tender.number}.", problems=problems)
    changes = current.changes(final)
    for name in rules.MILESTONES:
        setattr(tender, name, getattr(final, name))
    if tender.status == rules.BIDDING and ctx.now < final.clarification_deadline:
        tender.status = rules.CLARIFICATIONS
    number = len(amendments_of(ctx.db, tender.id)) + 1
    amendment = Amendment(
        tender_id=tender.id,
        number=number,
        at=ctx.now,
        description=description.strip(),
        changes=changes,
    )
    ctx.db.add(amendment)
    ctx.db.flush()
    ctx.record(
        "tender.amend",
        feed_entity(tender.id),
        {
            "number": tender.number,
            "amendment": number,
            "description": amendment.description,
            "changes": changes,
            "extended": final.bid_deadline != wanted.bid_deadline,
        },
    )
    announce(ctx.db, tender.id)
    return amendment


def cancel_tender(
    ctx: Context, *, tender_id: int, reason: str, version: int | None = None
) -> Tender:
    """Cancel with a reason; sealed bids stay sealed forever."""
    tender = get_tender(ctx.db, tender_id)
    _check_version(tender, version)
    # An opening under way is not cancelled, unless it is stuck: held by the tick, or suspended.
    if tender.status in (rules.CANCELLED, rules.OPENED, rules.AWARDED) or (
        tender.status == rules.OPENING and tender.attention_at is None
    ):
        raise Conflict(
            f"La licitación {tender.number} está «{rules.STATUS_LABELS[tender.status]}»; "
            "ya no se cancela."
        )
    _require_reason(reason, "Indique el motivo de la cancelación.")
    published = tender.published_at is not None
    tender.status = rules.CANCELLED
    tender.attention_at = tender.attention = None
    tender.cancelled_at = ctx.now
    tender.cancel_reason = reason.strip()
    ctx.db.flush()
    # A draft never published was never public, and its cancellation is not either.
    ctx.record(
        "tender.cancel",
        feed_entity(tender.id),
        {"number": tender.number, "reason": tender.cancel_reason},
        public=published,
    )
    announce(ctx.db, tender.id)
    return tender


def _require_reason(reason: str, message: str) -> None:
    if len(reason.strip()) < 10:
        raise ValidationFailed(
            message,
            problems=[
                Problem("Motivo muy corto", field="reason", expected="al menos 10 caracteres")
            ],
        )


# ----- a stuck opening -----------------------------------------------------------------------

STEP_DEADLINES = "plazos"
STEP_OPENING = "apertura"
_STEP_LABELS = {
    STEP_DEADLINES: "aplicar los plazos vencidos",
    STEP_OPENING: "abrir la siguiente proposición",
}


def hold_for_attention(ctx: Context, *, tender_id: int, step: str, error: str) -> Tender:
    """The tick could not carry on this tender: hold it for the buyer, on the record.

    The tick leaves a held tender alone (``due_tenders``) until the buyer resumes, suspends or
    cancels it, so a failure that repeats is recorded once, not on every tick. The entry is
    private: ``error`` is only the kind of error (never its message, which may repeat a sealed
    bid's values), and the public sees the opening stop, not why."""
    tender = get_tender(ctx.db, tender_id, lock=True)
    tender.attention_at = ctx.now
    tender.attention = (
        f"El reloj del sistema no pudo {_STEP_LABELS.get(step, step)} de la licitación "
        f"{tender.number} ({when(ctx.now)}) y la dejó detenida. Revise el registro del servidor; "
        "después reanude la apertura, o suspéndala o cancélela con un motivo."
    )
    ctx.db.flush()
    ctx.record(
        "tender.attention",
        feed_entity(tender.id),
        {"number": tender.number, "status": tender.status, "step": step, "error": error},
        public=False,
    )
    return tender


def _require_stuck(tender: Tender, what: str) -> None:
    if tender.status == rules.SUSPENDED:
        return
    if tender.status != rules.OPENING:
        raise Conflict(
            f"La licitación {tender.number} está «{rules.STATUS_LABELS[tender.status]}»: {what}."
        )
    if tender.attention_at is None:
        raise Conflict(
            f"La apertura de la licitación {tender.number} sigue su curso y no requiere atención: "
            f"{what}."
        )


def suspend_opening(ctx: Context, *, tender_id: int, reason: str) -> Tender:
    """The buyer suspends a stuck opening, with a reason the public reads on its feed."""
    tender = get_tender(ctx.db, tender_id, lock=True)
    if tender.status == rules.SUSPENDED:
        raise Conflict(f"La apertura de la licitación {tender.number} ya está suspendida.")
    _require_stuck(tender, "no se suspende")
    _require_reason(reason, "Indique el motivo de la suspensión.")
    tender.status = rules.SUSPENDED
    _record_transition(
        ctx, tender, "tender.suspend", {"at": ctx.now, "reason": " ".join(reason.split())}
    )
    return tender


def resume_opening(ctx: Context, *, tender_id: int, reason: str) -> Tender:
    """The buyer resumes a suspended or held opening: the tick reads out the next bid again."""
    tender = get_tender(ctx.db, tender_id, lock=True)
    _require_stuck(tender, "no hay apertura que reanudar")
    _require_reason(reason, "Indique por qué se reanuda la apertura.")
    tender.status = rules.OPENING
    tender.attention_at = None
    tender.attention = None
    _record_transition(
        ctx, tender, "tender.resume", {"at": ctx.now, "reason": " ".join(reason.split())}
    )
    return tender


def declare_desierta(ctx: Context, *, tender_id: int, partida: int, reason: str) -> Partida:
    """Declare a partida desierta: no bid will be taken or awarded for it."""
    tender = get_tender(ctx.db, tender_id)
    _require_live(tender, "no se declaran partidas desiertas")
    found = ctx.db.scalar(
        select(Partida).where(Partida.tender_id == tender.id, Partida.number == partida)
    )
    if found is None:
        raise NotFound(f"La licitación {tender.number} no tiene la partida {partida}.")
    if found.desierta_at is not None:
        raise Conflict(f"La partida {partida} ya fue declarada desierta.")
    if len(reason.strip()) < 5:
        raise ValidationFailed(
            "Indique el motivo.",
            problems=[
                Problem("Motivo muy corto", field="reason", expected="al menos 5 caracteres")
            ],
        )
    found.desierta_at = ctx.now
    found.desierta_reason = reason.strip()
    ctx.db.flush()
    ctx.record(
        "partida.desierta",
        feed_entity(tender.id),
        {
            "number": tender.number,
            "partida": partida,
            "clave": found.clave.clave,
            "reason": found.desierta_reason,
        },
    )
    announce(ctx.db, tender.id)
    return found


# ----- who may take part ---------------------------------------------------------------------


def _acting_supplier(ctx: Context) -> Supplier:
    supplier = ctx.db.get(Supplier, _supplier_id(ctx))
    if supplier is None:
        raise Forbidden(NOT_A_SUPPLIER)
    return supplier


NOT_A_SUPPLIER = "Su usuario no está ligado a un proveedor registrado."


def _supplier_id(ctx: Context) -> int:
    if not ctx.actor.has_role("proveedor") or ctx.actor.supplier_id is None:
        raise Forbidden("Sólo un proveedor registrado participa en una licitación.")
    return ctx.actor.supplier_id


def _require_eligible(ctx: Context, tender: Tender, supplier: Supplier) -> None:
    if supplier.status is not SupplierStatus.verificado:
        raise Forbidden(
            f"{supplier.razon_social} ({supplier.rfc}) no puede participar: su registro "
            + (
                "está pendiente de verificación. El comprador debe revisar su Constancia de "
                "Situación Fiscal, su acta constitutiva y a su representante legal."
                if supplier.status is SupplierStatus.pendiente
                else f"fue rechazado ({supplier.review_note or 'sin motivo registrado'})."
            )
        )
    standing = identity.standings(ctx.db, [supplier])[0]
    if standing.barred:
        sanction = standing.sanctions[0]
        details = ", ".join(
            part
            for part in (
                sanction.agency,
                f"expediente {sanction.file_number}" if sanction.file_number else None,
                sanction.resolution,
                f"resuelta el {sanction.resolved_on:%d/%m/%Y}" if sanction.resolved_on else None,
                f"plazo {sanction.term}" if sanction.term else None,
            )
            if part
        )
        raise Forbidden(
            f"{supplier.razon_social} ({supplier.rfc}) está sancionado y no puede participar: "
            f"{details or 'figura en el listado de proveedores sancionados de la SFP'}."
        )
    policy = rules.procedure(tender.procedure)
    if not policy.open_to_all:
        invited = ctx.db.scalar(
            select(Invitation.id).where(
                Invitation.tender_id == tender.id, Invitation.supplier_id == supplier.id
            )
        )
        if invited is None:
            raise Forbidden(
                f"{policy.label} {tender.number}: sólo participan los proveedores invitados, y "
                f"{supplier.razon_social} no lo está."
            )


# ----- clarifications ------------------------------------------------------------------------


def ask_question(
    ctx: Context, *, tender_id: int, text: str, partida: int | None = None
) -> Question:
    """A supplier's question, until the clarification deadline; published without its author."""
    tender = _visible_tender(ctx, tender_id)
    _require_live(tender, "no recibe preguntas")
    supplier = _acting_supplier(ctx)
    _require_eligible(ctx, tender, supplier)
    if not rules.accepts_questions(timeline_of(tender), ctx.now):
        raise Conflict(
            f"El plazo para preguntas de la licitación {tender.number} venció el "
            f"{when(tender.clarification_deadline)}; la pregunta no se registró."
        )
    body = " ".join(text.split())
    if len(body) < 5:
        raise ValidationFailed(
            "Escriba la pregunta.",
            problems=[
                Problem(
                    "Pregunta vacía o muy corta", field="text", expected="al menos 5 caracteres"
                )
            ],
        )
    if partida is not None and not ctx.db.scalar(
        select(Partida.id).where(Partida.tender_id == tender.id, Partida.number == partida)
    ):
        raise ValidationFailed(
            "La pregunta se refiere a una partida que no existe.",
            problems=[Problem("Partida desconocida", field="partida", value=str(partida))],
        )
    number = (
        ctx.db.scalar(select(func.max(Question.number)).where(Question.tender_id == tender.id)) or 0
    ) + 1
    question = Question(
        tender_id=tender.id,
        number=number,
        supplier_id=supplier.id,
        partida_number=partida,
        text=body,
        asked_at=ctx.now,
    )
    ctx.db.add(question)
    ctx.db.flush()
    ctx.record(
        "question.ask",
        feed_entity(tender.id),
        {"number": tender.number, "question": number, "partida": partida, "text": body},
        actor=BIDDER,
    )
    announce(ctx.db, tender.id)
    return question


def answer_question(ctx: Context, *, tender_id: int, number: int, answer: str) -> Question:
    tender = get_tender(ctx.db, tender_id)
    _require_live(tender, "no se responden preguntas")
    question = ctx.db.scalar(
        select(Question).where(Question.tender_id == tender.id, Question.number == number)
    )
    if question is None:
        raise NotFound(f"La licitación {tender.number} no tiene la pregunta {number}.")
    if question.answer is not None:
        raise Conflict(f"La pregunta {number} ya fue respondida.")
    body = answer.strip()
    if len(body) < 2:
        raise ValidationFailed(
            "Escriba la respuesta.",
            problems=[Problem("Respuesta vacía", field="answer", expected="un texto")],
        )
    question.answer = body
    question.answered_at = ctx.now
    ctx.db.flush()
    ctx.record(
        "question.answer",
        feed_entity(tender.id),
        {"number": tender.number, "question": number, "text": question.text, "answer": body},
    )
    announce(ctx.db, tender.id)
    return question


# ----- sealed bids ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the bidder keeps: it proves later that the opened bid is the one it sent."""

    bid_id: str
    tender_id: int
    tender_number: str
    received_at: datetime
    commitment: str
    salt: str
    replaces: str | None = None
    ledger_seq: int | None = None
    """The ``bid.seal`` entry: leaf ``ledger_seq - 1`` of the ledger's Merkle tree."""
    ledger_hash: str | None = None
    """That entry's hash, the leaf's data (``core.merkle.leaf_hash``)."""
    checkpoint: str | None = None
    """The latest signed checkpoint when the bid arrived; the proof that the entry is in the
    log comes from ``/api/v1/ledger/proof/{ledger_seq}`` once a later checkpoint covers it."""
    warnings: tuple[Problem, ...] = ()
    """The lines sealed without registro sanitario, manufacturer or country of origin."""


class IncompleteBid(ValidationFailed):
    """A bid some of whose lines lack registro sanitario, manufacturer or country of origin,
    not sealed because the supplier has not confirmed it wants it sealed so."""

    title = "Proposición incompleta"


def _bidding_tender(ctx: Context, tender_id: int, sealer: Sealer) -> tuple[Tender, TenderKey]:
    tender = _visible_tender(ctx, tender_id)
    _require_live(tender, "no recibe proposiciones")
    _require_on_time(ctx, tender)
    return tender, sealer.tender_key(tender.id, tender.wrapped_key)


def _require_on_time(ctx: Context, tender: Scheduled) -> None:
    if not rules.accepts_bids(timeline_of(tender), ctx.now):
        raise Conflict(
            f"La recepción de proposiciones de la licitación {tender.number} cerró el "
            f"{when(tender.bid_deadline)}; hora del servidor: {when(ctx.now)}. "
            "No se recibió la proposición."
        )


def _open_partidas(aggregated: str | None) -> dict[int, int]:
    """Number → maximum of the open partidas, from ``_SUBMISSION``'s "number:max,…"."""
    if not aggregated:
        return {}
    pairs = (item.split(":") for item in aggregated.split(","))
    return {int(number): int(most) for number, most in pairs}


def _last_partida(db: Session, tender_id: int) -> int:
    return db.scalar(select(func.max(Partida.number)).where(Partida.tender_id == tender_id)) or 0


def submit_bid(
    ctx: Context,
    sealer: Sealer,
    *,
    tender_id: int,
    lines: Sequence[rules.BidLineInput],
    idempotency_key: str | None = None,
    replaces: str | None = None,
    seal_incomplete: bool = True,
) -> Receipt:
    """Seal a bid and publish its commitment; ``replaces`` names the supplier's earlier bid.

    A line without registro sanitario, manufacturer or country of origin is a warning the
    receipt carries; with ``seal_incomplete=False`` such a bid is not sealed
    (``IncompleteBid``), so the supplier decides first (the page asks)."""
    supplier_id = _supplier_id(ctx)
    # The owner tag needs the tender's key, and the key the tender's row: the key opened for an
    # earlier bid names the owner in the same read; the first bid of a tender reads twice.
    opened = sealer.opened_key(tender_id)
    guess = opened.tag("owner", supplier_id) if opened else None
    read = partial(
        _submission_facts,
        ctx,
        tender_id=tender_id,
        supplier_id=supplier_id,
        key=idempotency_key,
        replaces=replaces,
        numbers=sorted(
            {
                line.partida
                for line in lines
                if isinstance(line.partida, int) and 0 < line.partida <= rules.MAX_PARTIDA
            }
        ),
    )
    tender = read(owner=guess)
    _require_live(tender, "no recibe proposiciones")
    if tender.supplier_id is None:
        raise Forbidden(NOT_A_SUPPLIER)
    key = sealer.tender_key(tender.id, tender.wrapped_key)
    owner = key.tag("owner", supplier_id)
    if owner != guess:
        tender = read(owner=owner)
    # A retry of a request accepted before the deadline gets its receipt even after it: only a
    # new submission is refused by the clock.
    if tender.earlier_bid is None:
        _require_on_time(ctx, tender)
        if tender.barred or not (rules.procedure(tender.procedure).open_to_all or tender.invited):
            _require_eligible(ctx, get_tender(ctx.db, tender.id), _acting_supplier(ctx))
    canonical, problems = rules.check_bid_lines(
        lines,
        _open_partidas(tender.open_partidas),
        last=lambda: _last_partida(ctx.db, tender.id),
    )
    if problems:
        raise ValidationFailed(
            f"No se recibió la proposición para la licitación {tender.number}: "
            f"{count_of(len(problems), 'problema', 'problemas')}.",
            problems=problems,
        )
    warnings = tuple(rules.incomplete_lines(lines))
    if warnings and not seal_incomplete:
        raise IncompleteBid(
            f"La proposición no se selló: {count_of(len(warnings), 'partida', 'partidas')} sin "
            "registro sanitario, fabricante o país de origen. Complételas en la plantilla, o "
            "confirme que la sella así y envíela de nuevo.",
            problems=warnings,
        )
    # The lines are encoded once, for the request's digest, the commitment and the sealed bid.
    lines_json = canonical_json(canonical)
    request_digest = key.tag(
        "request", canonical_object({"lines": lines_json, "replaces": canonical_json(replaces)})
    )
    if tender.earlier_bid is not None and idempotency_key is not None:
        return replace(
            _replayed(ctx, key, tender, idempotency_key, request_digest), warnings=warnings
        )
    if replaces is not None:
        if tender.replaces_tender != tender.id or tender.replaces_owner != owner:
            raise _not_yours(replaces, tender.number)
        if tender.replaces_status != SEALED:
            raise Conflict(f"La proposición {replaces} ya fue sustituida o retirada.")
    elif tender.has_sealed:
        raise Conflict(
            f"Ya tiene una proposición vigente en la licitación {tender.number}; sustitúyala "
            "(«replaces») o retírela antes de enviar otra."
        )
    bid_id = new_bid_id()
    salt = new_salt()
    content = rules.bid_content_json(
        tender_number=tender.number, bid_id=bid_id, supplier_rfc=tender.rfc, lines=lines_json
    )
    digest = commitment(salt, content)
    sealed = key.seal_json(
        bid_id,
        canonical_object(
            {
                "supplier_id": canonical_json(supplier_id),
                "salt": canonical_json(salt.hex()),
                "content": content,
            }
        ),
    )
    written = _write_bid(
        ctx.db,
        {
            "id": bid_id,
            "tender_id": tender.id,
            "owner_tag": owner,
            "status": SEALED,
            "submitted_at": ctx.now,
            "commitment": digest,
            "ciphertext": sealed,
        },
        previous=replaces,
        key=idempotency_key,
        digest=request_digest,
        tender_number=tender.number,
    )
    if not written:
        raise Conflict(f"La proposición {replaces} ya fue sustituida o retirada.")
    # Read before appending, so the head's lock is not held for it.
    checkpoint = checkpoints.latest_note(ctx.db)
    # Last: appending locks the ledger's head until the commit, and every bid waits its turn.
    seq, entry_hash = ctx.record_entry(
        "bid.seal",
        feed_entity(tender.id),
        {
            "number": tender.number,
            "bid": bid_id,
            "commitment": digest,
            "received_at": ctx.now,
            "replaces": replaces,
        },
        actor=BIDDER,
    )
    return Receipt(
        bid_id,
        tender.id,
        tender.number,
        ctx.now,
        digest,
        salt.hex(),
        replaces,
        seq,
        entry_hash,
        checkpoint,
        warnings,
    )


def _write_bid(
    db: Session,
    bid: dict[str, Any],
    *,
    previous: str | None,
    key: str | None,
    digest: str,
    tender_number: str,
) -> bool:
    """Write a sealed bid (its row), the one it replaces and its Idempotency-Key; False when
    the bid it replaces is no longer sealed, and nothing was written."""
    writes = db.connection()
    try:
        if writes.dialect.name == "postgresql":
            found = writes.execute(
                _WRITE_BID_IN_POSTGRES, {**bid, "previous": previous, "key": key, "digest": digest}
            )
            written: int = found.one()[0]
            return written == 1
        if previous is not None:
            # Replaced before the new one is written: one sealed bid per supplier at any time.
            replaced = writes.execute(_REPLACE_BID, {"previous": previous, "by": bid["id"]})
            if replaced.rowcount != 1:
                return False
        writes.execute(_INSERT_BID, bid)
        if key is not None:
            writes.execute(
                _INSERT_REQUEST,
                {
                    "tender_id": bid["tender_id"],
                    "owner_tag": bid["owner_tag"],
                    "key": key,
                    "digest": digest,
                    "bid_id": bid["id"],
                    "at": bid["submitted_at"],
                },
            )
    except IntegrityError as exc:
        if "bid_requests" in str(exc.orig):
            raise Conflict(
                "Otra solicitud con la misma Idempotency-Key llegó al mismo tiempo; repita la "
                "solicitud para obtener su recibo."
            ) from None
        # The partial unique index on sealed bids: another submission of this supplier won.
        raise Conflict(
            f"Otra proposición suya para la licitación {tender_number} se recibió al mismo "
            "tiempo; consulte sus proposiciones y sustitúyala si hace falta."
        ) from None
    announce(db, bid["tender_id"])
    return True


def _submission_facts(
    ctx: Context,
    *,
    tender_id: int,
    supplier_id: int,
    owner: str | None,
    key: str | None,
    replaces: str | None,
    numbers: list[int],
) -> Row[Any]:
    # A Core row on the session's connection: it needs no entities, and skipping the ORM
    # halves the cost of the read.
    statement: Any = _SUBMISSION[ctx.db.get_bind().dialect.name == "postgresql"]
    found: Row[Any] | None = (
        ctx.db.connection()
        .execute(
            statement,
            {
                "numbers": numbers,
                "tender_id": tender_id,
                "supplier_id": supplier_id,
                "owner": owner,
                "key": key,
                "replaces": replaces,
            },
        )
        .one_or_none()
    )
    return _seen(ctx, tender_id, found)


def _replayed(
    ctx: Context, key: TenderKey, tender: Row[Any], idempotency_key: str, request_digest: str
) -> Receipt:
    """The receipt of the request that used this Idempotency-Key (``tender.earlier_*``)."""
    if tender.earlier_digest != request_digest:
        raise Conflict(
            f"La Idempotency-Key «{idempotency_key}» ya se usó con otro contenido; no se "
            "recibió nada. Use una clave nueva para una proposición distinta.",
            problems=[
                Problem(
                    "Contenido distinto del de la solicitud original",
                    field="Idempotency-Key",
                    value=idempotency_key,
                    expected="el mismo contenido, o una clave nueva",
                )
            ],
        )
    bid = ctx.db.get(Bid, tender.earlier_bid)
    if bid is None:
        raise NotFound("La proposición de esa Idempotency-Key ya no existe.")
    return _with_seal(ctx.db, _receipt(key, tender, bid))


def _with_seal(db: Session, receipt: Receipt) -> Receipt:
    """A receipt read back later names, as when it was given, its ``bid.seal`` entry and the
    latest checkpoint before that entry (checkpoints only grow, so that was the latest then)."""
    seal = db.execute(
        select(LedgerEntry.seq, LedgerEntry.hash).where(
            LedgerEntry.entity == feed_entity(receipt.tender_id),
            LedgerEntry.action == "bid.seal",
            LedgerEntry.payload.contains(f'"bid":{canonical_json(receipt.bid_id)}'),
        )
    ).first()
    if seal is None:
        return receipt
    return replace(
        receipt,
        ledger_seq=seal.seq,
        ledger_hash=seal.hash,
        checkpoint=checkpoints.latest_note(db, before=seal.seq),
    )


def _receipt(key: TenderKey, tender: Row[Any] | Tender, bid: Bid) -> Receipt:
    sealed = key.unseal(bid.id, bid.ciphertext)
    return Receipt(
        bid.id, tender.id, tender.number, bid.submitted_at, bid.commitment, sealed["salt"]
    )


def _not_yours(bid_id: str, tender_number: str) -> NotFound:
    # The same answer for "not yours" and "does not exist": no probing of others' bids.
    return NotFound(f"No tiene una proposición {bid_id} en la licitación {tender_number}.")


def _own_bid(db: Session, tender: Tender, owner: str, bid_id: str) -> Bid:
    bid = db.get(Bid, bid_id)
    if bid is None or bid.tender_id != tender.id or bid.owner_tag != owner:
        raise _not_yours(bid_id, tender.number)
    return bid


def withdraw_bid(ctx: Context, sealer: Sealer, *, tender_id: int, bid_id: str) -> Bid:
    tender, key = _bidding_tender(ctx, tender_id, sealer)
    supplier = _acting_supplier(ctx)
    bid = _own_bid(ctx.db, tender, key.tag("owner", supplier.id), bid_id)
    if bid.status != SEALED:
        raise Conflict(f"La proposición {bid_id} ya fue sustituida o retirada.")
    bid.status = WITHDRAWN
    bid.withdrawn_at = ctx.now
    ctx.db.flush()
    announce(ctx.db, tender.id)
    ctx.record(
        "bid.withdraw",
        feed_entity(tender.id),
        {"number": tender.number, "bid": bid_id, "commitment": bid.commitment},
        actor=BIDDER,
    )
    return bid


@dataclass(frozen=True, slots=True)
class OwnBid:
    """A supplier's own bid, unsealed for it alone."""

    bid: Bid
    receipt: Receipt
    lines: list[dict[str, Any]]


def my_bids(ctx: Context, sealer: Sealer, *, tender_id: int) -> list[OwnBid]:
    tender = _visible_tender(ctx, tender_id)
    supplier = _acting_supplier(ctx)
    key = sealer.tender_key(tender.id, tender.wrapped_key)
    owner = key.tag("owner", supplier.id)
    bids = ctx.db.scalars(
        select(Bid)
        .where(Bid.tender_id == tender.id, Bid.owner_tag == owner)
        .order_by(Bid.submitted_at, Bid.id)
    ).all()
    found: list[OwnBid] = []
    for bid in bids:
        try:
            sealed = key.unseal(bid.id, bid.ciphertext)
        except Unsealable:
            continue
        receipt = _with_seal(
            ctx.db,
            Receipt(
                bid.id, tender.id, tender.number, bid.submitted_at, bid.commitment, sealed["salt"]
            ),
        )
        found.append(OwnBid(bid, receipt, list(sealed["content"]["lines"])))
    return found


def my_tenders(ctx: Context, sealer: Sealer) -> list[tuple[Tender, list[OwnBid]]]:
    """Every published tender the supplier may bid on or has bid on, with its own bids."""
    supplier = _acting_supplier(ctx)
    tenders = ctx.db.scalars(
        select(Tender).where(Tender.published_at.is_not(None)).order_by(Tender.id.desc())
    ).all()
    mine: list[tuple[Tender, list[OwnBid]]] = []
    invited = set(
        ctx.db.scalars(select(Invitation.tender_id).where(Invitation.supplier_id == supplier.id))
    )
    for tender in tenders:
        if not rules.procedure(tender.procedure).open_to_all and tender.id not in invited:
            continue
        mine.append((tender, my_bids(ctx, sealer, tender_id=tender.id)))
    return mine


# ----- time-driven transitions and the opening -----------------------------------------------


def apply_due(ctx: Context, tender: Tender) -> list[str]:
    """Apply the deadlines of this tender that have come; returns the events applied."""
    applied: list[str] = []
    for name in rules.due_events(tender.status, timeline_of(tender), ctx.now):
        if name == rules.CLOSE_CLARIFICATIONS:
            tender.status = rules.BIDDING
            _record_transition(
                ctx,
                tender,
                "tender.clarifications_closed",
                {
                    "at": tender.clarification_deadline,
                    "questions": len(questions_of(ctx.db, tender.id)),
                },
            )
        elif name == rules.CLOSE_BIDS:
            tender.status = rules.CLOSED
            _record_transition(
                ctx,
                tender,
                "tender.bids_closed",
                {
                    "at": tender.bid_deadline,
                    "sealed": sealed_count(ctx.db, tender.id),
                },
            )
        elif name == rules.START_OPENING:
            _start(ctx, tender)
        applied.append(name)
    return applied


def _record_transition(ctx: Context, tender: Tender, action: str, payload: dict[str, Any]) -> None:
    ctx.db.flush()
    ctx.record(action, feed_entity(tender.id), {"number": tender.number, **payload})
    announce(ctx.db, tender.id)


def _start(ctx: Context, tender: Tender) -> None:
    tender.status = rules.OPENING
    tender.opening_started_at = ctx.now
    # What is to be opened is what the ledger says was sealed and neither replaced nor
    # withdrawn, not what the bids table holds: a row deleted or marked withdrawn behind the
    # ledger's back is still listed, and the opening reports it.
    _, standing = _ledger_bids(ctx.db, tender.id)
    _record_transition(
        ctx,
        tender,
        "tender.opening_started",
        {
            "at": ctx.now,
            "scheduled": tender.opening_at,
            "bids": [{"bid": bid, "commitment": digest} for bid, digest in standing],
        },
    )


def start_opening(ctx: Context, *, tender_id: int) -> Tender:
    """The buyer starts the opening, never before its time."""
    tender = get_tender(ctx.db, tender_id, lock=True)
    _require_live(tender, "no hay apertura")
    if ctx.now < tender.opening_at:
        raise Conflict(
            f"La apertura de la licitación {tender.number} está fijada para "
            f"{when(tender.opening_at)}; hora del servidor: {when(ctx.now)}. "
            "No se abre antes."
        )
    if tender.status in (rules.OPENING, rules.OPENED):
        raise Conflict(f"La apertura de la licitación {tender.number} ya comenzó.")
    apply_due(ctx, tender)
    return tender


def _ledger_bids(db: Session, tender_id: int) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """From the ledger: bid id → commitment published when it arrived, and the bids standing
    (sealed, neither replaced nor withdrawn) with their commitments, in order of arrival."""
    published: dict[str, str] = {}
    gone: set[str] = set()
    for action, payload in db.execute(
        select(LedgerEntry.action, LedgerEntry.payload)
        .where(
            LedgerEntry.entity == feed_entity(tender_id),
            LedgerEntry.action.in_(("bid.seal", "bid.withdraw")),
        )
        .order_by(LedgerEntry.seq)
    ):
        data = json.loads(payload)
        if action == "bid.seal":
            published[data["bid"]] = data["commitment"]
            if data.get("replaces"):
                gone.add(data["replaces"])
        else:
            gone.add(data["bid"])
    standing = [(bid, digest) for bid, digest in published.items() if bid not in gone]
    return published, standing


def _published_commitments(db: Session, tender_id: int) -> dict[str, str]:
    return _ledger_bids(db, tender_id)[0]


def _to_open(db: Session, tender: Tender) -> list[str]:
    """The bids still to open: those listed when the opening started, then any stragglers."""
    started = db.scalar(
        select(LedgerEntry.payload)
        .where(
            LedgerEntry.entity == feed_entity(tender.id),
            LedgerEntry.action == "tender.opening_started",
        )
        .order_by(LedgerEntry.seq.desc())
        .limit(1)
    )
    listed = [item["bid"] for item in json.loads(started)["bids"]] if started else []
    states = dict(db.execute(select(Bid.id, Bid.status).where(Bid.tender_id == tender.id)).all())
    reported = _reported_missing(db, tender.id)
    pending = [b for b in listed if states.get(b) != OPENED and b not in reported]
    # A sealed row the opening did not list (slipped in afterwards) is opened too, and will show
    # it has no published commitment.
    stragglers = db.scalars(
        select(Bid.id)
        .where(Bid.tender_id == tender.id, Bid.status == SEALED, Bid.id.not_in(listed))
        .order_by(Bid.submitted_at, Bid.id)
    ).all()
    return pending + list(stragglers)


def _reported_missing(db: Session, tender_id: int) -> set[str]:
    return {
        json.loads(payload)["bid"]
        for (payload,) in db.execute(
            select(LedgerEntry.payload).where(
                LedgerEntry.entity == feed_entity(tender_id),
                LedgerEntry.action == "bid.missing",
            )
        )
    }


@dataclass(frozen=True, slots=True)
class Check:
    matches: bool
    detail: str


def _check(bid: Bid, published: str | None, sealed: dict[str, Any] | None, tender: Tender) -> Check:
    if published is None:
        return Check(False, "no tiene compromiso publicado en la bitácora")
    if sealed is None:
        return Check(False, "el contenido sellado fue alterado: no se pudo descifrar")
    recomputed = commitment(bytes.fromhex(sealed["salt"]), canonical_json(sealed["content"]))
    if bid.commitment != published:
        return Check(False, "el compromiso guardado difiere del publicado en la bitácora")
    if recomputed != published:
        return Check(False, "el contenido no corresponde al compromiso publicado")
    content = sealed["content"]
    if content.get("bid") != bid.id or content.get("tender") != tender.number:
        return Check(False, "el contenido pertenece a otra proposición")
    return Check(True, "coincide con el compromiso publicado")


def open_next_bid(ctx: Context, sealer: Sealer, *, tender_id: int) -> bool:
    """Open the next bid in public; returns whether any remain. Ends the opening at the last."""
    tender = get_tender(ctx.db, tender_id, lock=True)
    if tender.status != rules.OPENING:
        raise Conflict(f"La licitación {tender.number} no está en apertura.")
    pending = _to_open(ctx.db, tender)
    if not pending:
        _finish_opening(ctx, tender)
        return False
    bid_id = pending[0]
    key = sealer.tender_key(tender.id, tender.wrapped_key)
    published = _published_commitments(ctx.db, tender.id).get(bid_id)
    bid = ctx.db.get(Bid, bid_id)
    if bid is None:
        ctx.record(
            "bid.missing",
            feed_entity(tender.id),
            {
                "number": tender.number,
                "bid": bid_id,
                "commitment": published,
                "detail": "la proposición publicada no está en la base de datos",
            },
        )
        announce(ctx.db, tender.id)
        return _after_one(ctx, tender, pending)
    try:
        sealed: dict[str, Any] | None = key.unseal(bid.id, bid.ciphertext)
    except Unsealable:
        sealed = None
    result = _check(bid, published, sealed, tender)
    if bid.status != SEALED:
        # The ledger lists it as standing; a row saying otherwise was changed behind its back.
        # The bid is still read out, as sealed, with the anomaly on the record.
        result = Check(
            result.matches,
            f"{result.detail}; aviso: su fila decía «{bid.status}» sin que la bitácora registre "
            "una sustitución o un retiro",
        )
    bid.status = OPENED
    bid.opened_at = ctx.now
    bid.check = MATCHES if result.matches else MISMATCH
    bid.check_detail = result.detail
    supplier = ctx.db.get(Supplier, sealed["supplier_id"]) if sealed else None
    bid.supplier_id = supplier.id if supplier else None
    lines = list(sealed["content"]["lines"]) if sealed else []
    if result.matches:
        # Only the partidas this bid names: a national tender has 4,000, read once per bid.
        numbers = dict(
            ctx.db.execute(
                select(Partida.number, Partida.id).where(
                    Partida.tender_id == tender.id,
                    Partida.number.in_({int(line["partida"]) for line in lines}),
                )
            ).all()
        )
        ctx.db.add_all(
            BidLine(
                bid_id=bid.id,
                partida_id=numbers[line["partida"]],
                partida_number=line["partida"],
                unit_price=Decimal(line["unit_price"]),
                quantity=int(line["quantity"]),
                presentation=line.get("presentation"),
                registro_sanitario=line.get("registro_sanitario"),
                manufacturer=line.get("manufacturer"),
                country=line.get("country"),
            )
            for line in lines
        )
    ctx.db.flush()
    ctx.record(
        "bid.open",
        feed_entity(tender.id),
        {
            "number": tender.number,
            "bid": bid.id,
            "commitment": published,
            "stored_commitment": bid.commitment,
            "received_at": bid.submitted_at,
            "supplier": (
                {"rfc": supplier.rfc, "razon_social": supplier.razon_social} if supplier else None
            ),
            "salt": sealed["salt"] if sealed else None,
            "content": sealed["content"] if sealed else None,
            "check": bid.check,
            "detail": result.detail,
            "lines": len(lines),
            "total_max": str(
                sum(
                    (Decimal(line["unit_price"]) * int(line["quantity"]) for line in lines),
                    Decimal(0),
                )
            ),
        },
    )
    announce(ctx.db, tender.id)
    return _after_one(ctx, tender, pending)


def _after_one(ctx: Context, tender: Tender, pending: Sequence[str]) -> bool:
    if len(pending) > 1:
        return True
    _finish_opening(ctx, tender)
    return False


def _finish_opening(ctx: Context, tender: Tender) -> None:
    opened = ctx.db.scalars(
        select(Bid).where(Bid.tender_id == tender.id, Bid.status == OPENED)
    ).all()
    tender.status = rules.OPENED
    tender.opened_at = ctx.now
    _record_transition(
        ctx,
        tender,
        "tender.opened",
        {
            "at": ctx.now,
            "opened": len(opened),
            "matching": sum(1 for b in opened if b.check == MATCHES),
            "not_matching": sum(1 for b in opened if b.check != MATCHES),
            "missing": len(_reported_missing(ctx.db, tender.id)),
        },
    )


def open_all(ctx: Context, sealer: Sealer, *, tender_id: int) -> None:
    """Open every remaining bid at once (the CLI's and the tests' way)."""
    while open_next_bid(ctx, sealer, tender_id=tender_id):
        pass


def due_tenders(db: Session, now: datetime) -> list[int]:
    """Tenders with a deadline come due or an opening under way, and not held for the buyer."""
    return list(
        db.scalars(
            select(Tender.id)
            .where(
                ((Tender.status == rules.CLARIFICATIONS) & (Tender.clarification_deadline <= now))
                | ((Tender.status == rules.BIDDING) & (Tender.bid_deadline <= now))
                | ((Tender.status == rules.CLOSED) & (Tender.opening_at <= now))
                | (Tender.status == rules.OPENING)
            )
            # A tender held for the buyer waits for the buyer, not for the next tick.
            .where(Tender.attention_at.is_(None))
            .order_by(Tender.id)
        )
    )


# ----- the bid template spreadsheet ----------------------------------------------------------


def bid_template(ctx: Context, *, tender_id: int) -> tuple[Tender, bytes]:
    """The tender's bid template (.xlsx), one row per partida still open."""
    tender = _visible_tender(ctx, tender_id)
    rows = [
        template.TemplatePartida(
            number=p.number,
            clave=p.clave.clave,
            cucop=p.clave.cucop,
            description=p.clave.description,
            unit=p.clave.unit,
            min_qty=p.min_qty,
            max_qty=p.max_qty,
        )
        for p in partidas_of(ctx.db, tender.id)
        if p.desierta_at is None
    ]
    return tender, template.write_template(tender.number, tender.title, rows)


def submit_bid_sheet(
    ctx: Context,
    sealer: Sealer,
    *,
    tender_id: int,
    content: bytes,
    filename: str,
    idempotency_key: str | None = None,
    replaces: str | None = None,
    seal_incomplete: bool = True,
) -> Receipt:
    """A bid from the filled template; a partida without «Cantidad ofertada» offers its maximum.
    ``seal_incomplete`` as in ``submit_bid``."""
    tender, _ = _bidding_tender(ctx, tender_id, sealer)
    partidas = partidas_of(ctx.db, tender.id)
    claves = {p.number: p.clave.clave for p in partidas}
    maximum = {p.number: p.max_qty for p in partidas}
    lines = [
        line
        if line.quantity is not None and str(line.quantity).strip()
        else replace(line, quantity=maximum.get(line.partida))
        for line in template.read_template(content, filename, claves)
    ]
    return submit_bid(
        ctx,
        sealer,
        tender_id=tender_id,
        lines=lines,
        idempotency_key=idempotency_key,
        replaces=replaces,
        seal_incomplete=seal_incomplete,
    )
