"""The demo's awarded tender: a licitación of a past round, opened, evaluated and with its fallo.

Generated demo data. ``abasto demo`` stages it once, when the database has no fallo yet, so a
newcomer finds a fallo (winners, reasons, savings, contract drafts) next to the live opening.
Every step goes through the services, each with a context whose clock stands at that step's
instant, all in the past of the load: the demand round opened 45 days before and frozen 40 days
before, the market research 31 days before, the tender published 30 days before, its bids sent
15 days before (they close 12 days before), the opening 10 days before, the technical evaluation
7 days before and the fallo 5 days before. The timeline meets the procedure's own minimum periods,
so none is shortened. Those instants precede the load's own ledger entries: the ledger chains
entries by sequence, and each entry states the instant its step pretends to.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from abasto.award import rules as award_rules
from abasto.award import service as award
from abasto.award.models import Fallo
from abasto.core.context import Actor, Context
from abasto.core.signed_note import Signer
from abasto.core.spreadsheet import CsvWriter
from abasto.demand import appendix
from abasto.demand import service as demand
from abasto.demand.rules import DEFAULT_MIN_SHARE, minimum_for
from abasto.identity import service as identity
from abasto.identity.models import Supplier
from abasto.scenario.build import Scenario
from abasto.scenario.catalog import ClaveSpec
from abasto.tendering import rules, service
from abasto.tendering.models import Bid, Tender
from abasto.tendering.sealing import Sealer
from abasto.transparency.redflags import service as redflags

AWARD_TITLE = "Demostración: licitación con fallo emitido"
ROUND_NAME = "2025-2026 demostración"
ROUND_PERIODS = ("2025", "2026")
PARTIDAS = 20
BIDDERS = 6
# The institutions of the round and their size relative to IMSS.
INSTITUTIONS = {
    "IMSS": 1.0,
    "ISSSTE": 0.3,
    "IMSS-BIENESTAR": 0.6,
    "PEMEX": 0.06,
    "SEDENA": 0.08,
    "SEMAR": 0.04,
}
AWARD_PARAMETERS = {
    "split_shares": ["60", "40"],
    "split_margin": "0.10",
    "max_supplier_share": "0.40",
}
"""Announced with the call: abastecimiento simultáneo 60/40 within 10 %, and no supplier above
40 % of the awarded value (which the optimal mode honours)."""
# Market research: three sources per clave; the middle one is the scenario's reference price.
SOURCES = (
    ("Precio máximo de referencia", Decimal("1.08")),
    ("Compra consolidada 2023-2024", Decimal("1.00")),
    ("Cotización de distribuidores", Decimal("0.94")),
)
NOT_VALID = "El registro sanitario presentado no corresponde a la presentación ofertada."

ROUND_OPENED = timedelta(days=45)
ROUND_FROZEN = timedelta(days=40)
RESEARCHED = timedelta(days=31)
PUBLISHED = timedelta(days=30)
CLARIFICATIONS_CLOSE = timedelta(days=20)
BIDS_SENT = timedelta(days=15)
BIDS_CLOSE = timedelta(days=12)
OPENED = timedelta(days=10)
EVALUATED_AFTER = timedelta(days=3)
FALLO = timedelta(days=5)


_Before = Callable[[timedelta], Context]
"""The load's context with its clock turned back by so much."""


@dataclass(frozen=True, slots=True)
class StagedAward:
    tender_id: int
    number: str
    partidas: int
    bids: int
    awarded: int
    """Partidas wholly awarded; the others are (partly) desiertas."""
    total: Decimal
    reference_total: Decimal


def has_fallo(db: Session) -> bool:
    return db.scalar(select(Fallo.id).limit(1)) is not None


def unfinished(db: Session) -> Tender | None:
    """A staged tender left without its fallo (the award step failed after the bids were in)."""
    return db.scalar(
        select(Tender)
        .where(Tender.title == AWARD_TITLE, Tender.status != rules.AWARDED)
        .order_by(Tender.id.desc())
        .limit(1)
    )


def stage_awarded_tender(
    ctx: Context, sealer: Sealer, scenario: Scenario, *, signer: Signer | None = None
) -> StagedAward:
    """Round, market research, tender and bids; then opening, evaluation and fallo, in the past.

    It commits once in between, as the bids' own requests would: a sealed bid's commitment is
    written on the ledger as its transaction commits, and the opening checks every bid against
    it. A tender left unfinished by an earlier failure is resumed, not staged twice.
    """
    rng = random.Random(f"abasto:{scenario.seed}:award")
    tender = unfinished(ctx.db)
    if tender is None:
        tender = _tender_with_bids(ctx, sealer, rng, scenario)
    ctx.db.commit()
    staged = _award(ctx, sealer, rng, tender, signer)
    # The demo shows its red flags from the start (the tick would only on the next fallo).
    redflags.refresh(ctx)
    return staged


def _tender_with_bids(
    ctx: Context, sealer: Sealer, rng: random.Random, scenario: Scenario
) -> Tender:
    def before(delta: timedelta) -> Context:
        return replace(ctx, now=ctx.now - delta)

    medicines = [c for c in scenario.claves if c.clave.startswith("010.")] or list(scenario.claves)
    chosen = sorted(rng.sample(medicines, min(PARTIDAS, len(medicines))), key=lambda c: c.clave)
    _round(before, rng, chosen)
    award.import_prices(
        before(RESEARCHED),
        content=_market_research(chosen),
        filename="investigacion-de-mercado-demostracion.csv",
    )
    tender = service.create_tender(
        before(PUBLISHED),
        sealer,
        title=AWARD_TITLE,
        procedure="licitacion_nacional",
        round_name=ROUND_NAME,
        clarification_deadline=ctx.now - CLARIFICATIONS_CLOSE,
        bid_deadline=ctx.now - BIDS_CLOSE,
        opening_at=ctx.now - OPENED,
        fallo_at=ctx.now - FALLO,
        award=AWARD_PARAMETERS,
    )
    service.publish_tender(before(PUBLISHED), tender_id=tender.id)
    _bid(before(BIDS_SENT), sealer, rng, scenario, tender.id, chosen)
    return tender


def _award(
    ctx: Context, sealer: Sealer, rng: random.Random, tender: Tender, signer: Signer | None
) -> StagedAward:
    """Open, evaluate and award at the tender's own instants."""
    opening = replace(ctx, now=tender.opening_at)
    if tender.status not in (rules.OPENING, rules.OPENED):
        service.start_opening(opening, tender_id=tender.id)
    if tender.status == rules.OPENING:
        service.open_all(opening, sealer, tender_id=tender.id)
    evaluator = replace(
        ctx,
        now=tender.opening_at + EVALUATED_AFTER,
        actor=Actor(label="escenario:evaluador", role="evaluador"),
    )
    verdicts = [
        replace(v, complies=False, reason=NOT_VALID)
        if v.requirement == "registro_sanitario" and rng.random() < 0.06
        else v
        for v in award.propose_verdicts(ctx.db, tender.id)
    ]
    award.record_evaluations(evaluator, tender_id=tender.id, verdicts=verdicts)
    fallo = award.issue_fallo(
        replace(ctx, now=tender.fallo_at),
        tender_id=tender.id,
        mode=award_rules.Mode.OPTIMAL,
        signer=signer,
    )
    partidas = award.fallo_partidas(ctx.db, fallo)
    bidders = ctx.db.scalar(select(func.count()).select_from(Bid).where(Bid.tender_id == tender.id))
    return StagedAward(
        tender_id=tender.id,
        number=tender.number,
        partidas=len(partidas),
        bids=bidders or 0,
        awarded=sum(1 for p in partidas if p.status == "adjudicada"),
        total=fallo.total,
        reference_total=fallo.reference_total,
    )


def _round(before: _Before, rng: random.Random, chosen: list[ClaveSpec]) -> None:
    """The round of the tender: each institution asks for most of the chosen claves."""
    asked: dict[str, dict[str, tuple[int, int]]] = {code: {} for code in INSTITUTIONS}
    for clave in chosen:
        base = rng.lognormvariate(10.0, 1.0)
        codes = [code for code in INSTITUTIONS if rng.random() < 0.7] or ["IMSS"]
        for code in codes:
            high = max(10, round(base * INSTITUTIONS[code] * rng.uniform(0.6, 1.4)))
            asked[code][clave.clave] = (minimum_for(high, DEFAULT_MIN_SHARE), high)
    rows = [
        appendix.ConsolidatedRow(
            c.clave,
            c.description,
            c.unit,
            {code: asked[code][c.clave] for code in INSTITUTIONS if c.clave in asked[code]},
        )
        for c in chosen
    ]
    opened = before(ROUND_OPENED)
    demand.open_round(
        opened, name=ROUND_NAME, periods=list(ROUND_PERIODS), institutions=list(INSTITUTIONS)
    )
    demand.import_appendix(
        opened,
        round_name=ROUND_NAME,
        content=appendix.write_appendix_sheets(
            [
                appendix.ConsolidatedSheet(
                    "1 Demanda agregada",
                    f"APÉNDICE DE DEMANDA {ROUND_NAME.upper()}",
                    list(INSTITUTIONS),
                    rows,
                )
            ]
        ),
        filename="apendice-2025-2026-demostracion.xlsx",
    )
    demand.freeze_round(before(ROUND_FROZEN), name=ROUND_NAME)


def _market_research(chosen: list[ClaveSpec]) -> bytes:
    """A price list with three sources per clave, the scenario's reference price the median."""
    out = io.StringIO()
    writer = CsvWriter(out, lineterminator="\r\n")
    writer.writerow(("Clave", "Precio unitario", "Fuente"))
    for clave in chosen:
        for source, factor in SOURCES:
            price = max((clave.reference_price * factor).quantize(Decimal("0.01")), Decimal("0.01"))
            writer.writerow((clave.clave, price, source))
    return out.getvalue().encode("utf-8")


def _bid(
    ctx: Context,
    sealer: Sealer,
    rng: random.Random,
    scenario: Scenario,
    tender_id: int,
    chosen: list[ClaveSpec],
) -> None:
    """Sealed bids of eligible suppliers: most partidas each, prices around the reference (some
    beyond what is acceptable), some quantities short of the whole demand."""
    suppliers = identity.standings(
        ctx.db,
        list(
            ctx.db.scalars(
                select(Supplier).where(Supplier.rfc.in_([s.rfc for s in scenario.suppliers]))
            )
        ),
    )
    eligible = sorted((s.supplier for s in suppliers if s.eligible), key=lambda s: s.rfc)
    bidders = rng.sample(eligible, min(BIDDERS, len(eligible)))
    partidas = {p.clave.clave: p for p in service.partidas_of(ctx.db, tender_id)}
    for supplier in bidders:
        bidder = replace(
            ctx,
            actor=Actor(
                label=f"escenario:{supplier.rfc}", role="proveedor", supplier_id=supplier.id
            ),
        )
        lines = []
        for clave in chosen:
            partida = partidas[clave.clave]
            if rng.random() < 0.3:
                continue
            factor = Decimal(str(round(rng.uniform(0.84, 1.14), 4)))
            price = max((clave.reference_price * factor).quantize(Decimal("0.01")), Decimal("0.01"))
            short = rng.random() < 0.3
            quantity = round(partida.max_qty * rng.uniform(0.35, 0.9)) if short else partida.max_qty
            lines.append(
                rules.BidLineInput(
                    partida=partida.number,
                    unit_price=price,
                    quantity=max(1, quantity),
                    presentation=clave.presentation,
                    registro_sanitario=f"{rng.randrange(100, 999)}M{rng.randrange(2005, 2025)} SSA",
                    manufacturer=supplier.razon_social,
                    country=rng.choice(("México", "México", "India", "España", "Alemania")),
                )
            )
        if lines:
            service.submit_bid(bidder, sealer, tender_id=tender_id, lines=lines)
