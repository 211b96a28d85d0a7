"""The demo's live opening: a tender whose bids are in and whose opening starts minutes away.

``abasto demo`` stages one each time it starts and none is pending, so a newcomer who runs
``make run`` watches an opening a few minutes later. Its periods are shortened on purpose (a real
licitación gives bidders weeks), and the publication on the ledger says so.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from abasto.core.context import Actor, Context
from abasto.identity import service as identity
from abasto.identity.models import Supplier
from abasto.scenario.build import Scenario
from abasto.tendering import rules, service
from abasto.tendering.models import Tender
from abasto.tendering.sealing import Sealer

DEMO_TITLE = "Demostración: apertura en vivo de proposiciones"
DEMO_PERIODS = rules.Periods(min_bid_days=0, min_days_after_clarifications=0, late_amendment_days=0)
PARTIDAS = 24
BIDDERS = 8
BIDS_CLOSE_AFTER = timedelta(minutes=2)
OPENS_AFTER = timedelta(minutes=3)


@dataclass(frozen=True, slots=True)
class StagedOpening:
    tender_id: int
    number: str
    bids: int
    opening_at_minutes: float


def pending_demo_opening(ctx: Context) -> Tender | None:
    """A demo tender whose opening has not finished yet, if there is one."""
    return ctx.db.scalar(
        select(Tender)
        .where(Tender.title == DEMO_TITLE, Tender.status.in_(rules.LIVE_STATUSES))
        .order_by(Tender.id.desc())
        .limit(1)
    )


def stage_demo_opening(ctx: Context, sealer: Sealer, scenario: Scenario) -> StagedOpening:
    """Create, publish and fill with sealed bids a small tender that opens in a few minutes."""
    rng = random.Random(f"{scenario.seed}:{ctx.now.isoformat()}")
    medicines = [c for c in scenario.claves if c.clave.startswith("010.")] or list(scenario.claves)
    chosen = sorted(rng.sample(medicines, min(PARTIDAS, len(medicines))), key=lambda c: c.clave)
    quantities = {c.clave: rng.randrange(2_000, 80_000, 100) for c in chosen}
    tender = service.create_tender(
        ctx,
        sealer,
        title=DEMO_TITLE,
        procedure="licitacion_nacional",
        partidas=[
            service.PartidaInput(c.clave, int(quantities[c.clave] * 0.4), quantities[c.clave])
            for c in chosen
        ],
        clarification_deadline=ctx.now + timedelta(minutes=1),
        bid_deadline=ctx.now + BIDS_CLOSE_AFTER,
        opening_at=ctx.now + OPENS_AFTER,
        fallo_at=ctx.now + timedelta(days=7),
        periods=DEMO_PERIODS,
    )
    service.publish_tender(ctx, tender_id=tender.id)
    suppliers = identity.standings(
        ctx.db,
        list(
            ctx.db.scalars(
                select(Supplier).where(Supplier.rfc.in_([s.rfc for s in scenario.suppliers]))
            )
        ),
    )
    eligible = [s.supplier for s in suppliers if s.eligible]
    bidders = rng.sample(eligible, min(BIDDERS, len(eligible)))
    for supplier in bidders:
        bidder = Context(
            db=ctx.db,
            actor=Actor(
                label=f"escenario:{supplier.rfc}", role="proveedor", supplier_id=supplier.id
            ),
            now=ctx.now,
        )
        lines = []
        for number, clave in enumerate(chosen, start=1):
            if rng.random() < 0.35:
                continue
            factor = Decimal(str(round(rng.uniform(0.78, 1.3), 4)))
            price = (clave.reference_price * factor).quantize(Decimal("0.01"))
            lines.append(
                rules.BidLineInput(
                    partida=number,
                    unit_price=max(price, Decimal("0.01")),
                    quantity=quantities[clave.clave],
                    presentation=clave.presentation,
                    registro_sanitario=f"{rng.randrange(100, 999)}M{rng.randrange(2005, 2025)} SSA",
                    manufacturer=supplier.razon_social,
                    country=rng.choice(("México", "México", "India", "España", "Alemania")),
                )
            )
        if lines:
            service.submit_bid(bidder, sealer, tender_id=tender.id, lines=lines)
    return StagedOpening(tender.id, tender.number, len(bidders), OPENS_AFTER.total_seconds() / 60)
