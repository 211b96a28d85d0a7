"""The demo fallo's contracts, signed by both parties with their guarantee, and a year of their
supply orders and deliveries: most on time, some late, some partial, some rejected.

Generated demo data, the same for the same seed. ``abasto demo`` stages the fallo a year in
the past (``HISTORY``) so that its contracts have a year behind them: the contracts are made a
day after the fallo's notice, the institutions sign ``INSTITUTION_SIGNS`` after it (one of
them late, after the 15 days), the suppliers the day after, and the guarantee follows. Each
clave of a contract is then ordered about once a month for one or two of its delivery points,
until yesterday, and the orders go in through ``contracts.service.load_orders`` (the bulk entry),
so the year costs one pass, not a request per receipt.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select

from abasto.contracts import rules, service
from abasto.contracts.models import Contract
from abasto.core.context import Actor, Context
from abasto.identity.models import Institution, Supplier
from abasto.scenario.award import AWARD_TITLE
from abasto.scenario.build import Scenario
from abasto.tendering import rules as tendering_rules
from abasto.tendering.models import Tender

HISTORY = timedelta(days=365)
"""How long before the demo's load its fallo is staged: a year of contracts to show."""
MADE = timedelta(days=1)
INSTITUTION_SIGNS = timedelta(days=3)
SIGNS_LATE = timedelta(days=17)
"""When the one institution that signs late does: after the 15 natural days."""
SUPPLIER_SIGNS = timedelta(days=1)
GUARANTEE = timedelta(days=2)
ORDER_EVERY = 30
"""Days between a clave's orders: one a month."""
POINTS = 6
"""Delivery points of each contract that the demo orders for (a few, so pages stay readable)."""
NOON = time(18, 0, tzinfo=UTC)
"""Noon in Mexico City: when the demo's units receive."""
MORNING = time(16, 0, tzinfo=UTC)
"""Ten in the morning in Mexico City: when the demo's orders are issued."""

ContractsProgress = Callable[[int, int], None]
"""Hears (done, total) as the stage advances."""


@dataclass(frozen=True, slots=True)
class StagedContracts:
    contracts: int
    signed_late: int
    loaded: service.BulkLoaded


@dataclass(frozen=True, slots=True)
class LinePlan:
    """What the order generator needs of one contract line."""

    contract_id: int
    supplier_id: int
    clave: str
    max_qty: int
    units: tuple[str, ...]
    first_day: date
    """The first day orders may be issued (the day after the contract became vigente)."""
    last_day: date
    """The last day orders may be issued (the contract's end)."""


def demo_tender(ctx: Context) -> Tender | None:
    """The demo's awarded tender, once its fallo is issued."""
    return ctx.db.scalar(
        select(Tender)
        .where(Tender.title == AWARD_TITLE, Tender.status == tendering_rules.AWARDED)
        .order_by(Tender.id)
        .limit(1)
    )


def has_contracts(ctx: Context) -> bool:
    tender = demo_tender(ctx)
    return tender is not None and (
        ctx.db.scalar(select(Contract.id).where(Contract.tender_id == tender.id).limit(1))
        is not None
    )


def _nothing(done: int, total: int) -> None:
    pass


def stage_contracts(
    ctx: Context, scenario: Scenario, *, progress: ContractsProgress = _nothing
) -> StagedContracts:
    """Make, sign and guarantee the demo fallo's contracts at their past instants, then load
    their orders and deliveries up to ``ctx.now``."""
    tender = demo_tender(ctx)
    if tender is None:
        raise ValueError("the demo's fallo is not staged yet")
    rng = random.Random(f"abasto:{scenario.seed}:contracts")
    notice = tender.fallo_at
    contracts = service.create_contracts(replace(ctx, now=notice + MADE), tender_id=tender.id)
    total = len(contracts) + 1
    progress(0, total)
    codes = dict(ctx.db.execute(select(Institution.id, Institution.code)).all())
    rfcs = dict(ctx.db.execute(select(Supplier.id, Supplier.rfc)).all())
    late = rng.randrange(len(contracts))
    plans: list[LinePlan] = []
    for done, contract in enumerate(sorted(contracts, key=lambda c: c.number), start=1):
        institution = replace(
            ctx,
            actor=Actor(
                label=f"escenario:{codes[contract.institution_id]}",
                role="institucion",
                institution_id=contract.institution_id,
            ),
        )
        supplier = replace(
            ctx,
            actor=Actor(
                label=f"escenario:{rfcs[contract.supplier_id]}",
                role="proveedor",
                supplier_id=contract.supplier_id,
            ),
        )
        signs = notice + (SIGNS_LATE if done - 1 == late else INSTITUTION_SIGNS)
        service.sign(replace(institution, now=signs), contract_id=contract.id, party="institucion")
        service.sign(
            replace(supplier, now=signs + SUPPLIER_SIGNS),
            contract_id=contract.id,
            party="proveedor",
        )
        service.record_guarantee(
            replace(supplier, now=signs + SUPPLIER_SIGNS + GUARANTEE),
            contract_id=contract.id,
            issuer=rng.choice(AFIANZADORAS),
            document_ref=f"Póliza {rng.randrange(1_000_000, 9_999_999)}",
        )
        effective = rules.local_day(contract.effective_at or ctx.now)
        units = tuple(sorted(p.unit.code for p in contract.points))
        chosen = tuple(sorted(rng.sample(units, min(POINTS, len(units)))))
        plans.extend(
            LinePlan(
                contract.id,
                contract.supplier_id,
                line.clave,
                line.max_qty,
                chosen,
                effective + timedelta(days=1),
                contract.ends_on,
            )
            for line in contract.lines
            if chosen
        )
        progress(done, total)
    orders = plan_orders(
        plans,
        seed=scenario.seed,
        today=rules.local_day(ctx.now),
        delivery_days=rules.DELIVERY_DAYS,
    )
    loaded = service.load_orders(ctx, orders=orders)
    progress(total, total)
    return StagedContracts(
        contracts=len(contracts),
        signed_late=sum(1 for c in contracts if c.signed_late),
        loaded=loaded,
    )


AFIANZADORAS = (
    "Afianzadora Sofimex, S.A.",
    "Fianzas Dorama, S.A.",
    "Afianzadora Aserta, S.A. de C.V.",
    "Chubb Fianzas Monterrey, S.A.",
)
REJECTIONS = sorted(rules.REJECTION_REASONS)
PUNCTUALITY = (0.97, 0.97, 0.93, 0.93, 0.8, 0.65)
"""A supplier's share of orders delivered on time, drawn once per supplier."""


def plan_orders(
    plans: list[LinePlan], *, seed: int, today: date, delivery_days: int
) -> list[service.OrderRecord]:
    """A year of orders of every line, issued until yesterday, and what came of each by
    ``today``: pure, the same for the same seed and lines.

    Each month a line is ordered for one or two of its points, about 85–95 % of its maximum
    over the year. Each supplier keeps its own pace (``PUNCTUALITY``: most deliver almost
    every order on time, some one in five late, a few one in three); of what is not on time,
    a sixth never comes, most is one to ten days late and the rest up to six weeks; 15 % of
    the orders come in two parts (the second covering what the first lacked or had rejected);
    a tenth of the shipments with some pieces rejected, for one of the four reasons.
    """
    rng = random.Random(f"abasto:{seed}:orders")
    punctual = {
        supplier: rng.choice(PUNCTUALITY) for supplier in sorted({p.supplier_id for p in plans})
    }
    made: list[service.OrderRecord] = []
    for plan in plans:
        months = max(1, (plan.last_day - plan.first_day).days // ORDER_EVERY + 1)
        budget = int(plan.max_qty * rng.uniform(0.85, 0.95))
        left = plan.max_qty
        day = plan.first_day
        while day < today and day <= plan.last_day and left > 0:
            points = rng.sample(plan.units, min(len(plan.units), rng.choice((1, 1, 2))))
            for unit in points:
                quantity = min(left, max(1, round(budget / months / len(points))))
                if quantity < 1:
                    break
                left -= quantity
                issued = datetime.combine(day, MORNING)
                due = day + timedelta(days=delivery_days)
                made.append(
                    service.OrderRecord(
                        plan.contract_id,
                        plan.clave,
                        unit,
                        quantity,
                        issued,
                        due,
                        _deliveries(rng, punctual[plan.supplier_id], quantity, day, due, today),
                    )
                )
            day += timedelta(days=ORDER_EVERY + rng.randint(-3, 3))
    return made


def _deliveries(
    rng: random.Random, on_time: float, quantity: int, issued: date, due: date, today: date
) -> tuple[service.DeliveryLine, ...]:
    draw = rng.random()
    if draw < on_time:
        arrives = due - timedelta(days=rng.randint(0, 7))
    elif draw < on_time + (1 - on_time) / 6:
        return ()
    elif draw < on_time + (1 - on_time) * 0.8:
        arrives = due + timedelta(days=rng.randint(1, 10))
    else:
        arrives = due + timedelta(days=rng.randint(11, 42))
    arrives = max(arrives, issued + timedelta(days=1))
    registro = f"{rng.randrange(100, 999)}M{rng.randrange(2005, 2025)} SSA"
    first = quantity if rng.random() >= 0.15 or quantity < 2 else round(quantity * 0.7) or 1
    lines: list[service.DeliveryLine] = []
    accepted = 0
    for shipment, (size, on) in enumerate(
        ((first, arrives), (quantity, arrives + timedelta(days=rng.randint(5, 20)))), start=1
    ):
        size = min(size, quantity - accepted)
        if size < 1 or on >= today:
            break
        received = datetime.combine(on, NOON)
        expiry = on + timedelta(days=rng.randint(450, 900))
        parts = [size] if size < 2 or rng.random() < 0.6 else [size // 2, size - size // 2]
        for n, part in enumerate(parts):
            rejected = rng.randint(1, max(1, part // 5)) if part > 1 and rng.random() < 0.1 else 0
            lines.append(
                service.DeliveryLine(
                    shipment,
                    received,
                    f"L{on:%y%m}{rng.randrange(1000):03d}{'AB'[n]}",
                    expiry,
                    part - rejected,
                    rejected,
                    rng.choice(REJECTIONS) if rejected else None,
                    registro,
                )
            )
            accepted += part - rejected
    return tuple(lines)
