"""The demo fallo's contracts signed, and a year of their orders and deliveries: generated the
same from the same seed, within every maximum, loaded through the bulk entry."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import date, timedelta

from sqlalchemy import func, select

from abasto.contracts import rules, service
from abasto.contracts.models import Contract, Penalty, ShipmentLot, SupplyOrder
from abasto.core.config import Settings
from abasto.core.context import Context
from abasto.core.ledger import verify
from abasto.scenario import contracts as staging
from abasto.scenario.award import stage_awarded_tender
from abasto.scenario.build import build_scenario
from abasto.scenario.load import load_scenario
from abasto.tendering.sealing import Sealer

TODAY = date(2026, 11, 2)


def plans() -> list[staging.LinePlan]:
    first = TODAY - timedelta(days=360)
    return [
        staging.LinePlan(
            1, 10, "010.000.0104.00", 12_000, ("U1", "U2", "U3"), first, first + timedelta(364)
        ),
        staging.LinePlan(1, 10, "010.000.0101.00", 50, ("U1",), first, first + timedelta(364)),
        staging.LinePlan(
            2, 11, "010.000.0106.00", 900_000, ("U4", "U5"), first, first + timedelta(364)
        ),
    ]


def test_the_year_of_orders_is_the_same_for_the_same_seed_and_within_every_maximum() -> None:
    made = staging.plan_orders(plans(), seed=7, today=TODAY, delivery_days=20)
    assert made == staging.plan_orders(plans(), seed=7, today=TODAY, delivery_days=20)
    assert made != staging.plan_orders(plans(), seed=8, today=TODAY, delivery_days=20)
    ordered = Counter[str]()
    for order in made:
        ordered[order.clave] += order.quantity
        assert order.issued_at.date() < TODAY
        assert all(d.received_at.date() < TODAY for d in order.deliveries)
    assert {p.clave: p.max_qty >= ordered[p.clave] for p in plans()} == {
        p.clave: True for p in plans()
    }
    # About a year of monthly orders per line, with late, partial and rejected deliveries.
    assert 12 <= sum(1 for o in made if o.clave == "010.000.0106.00") <= 30
    late = sum(
        1 for o in made for d in o.deliveries if rules.days_late(o.due_on, d.received_at.date())
    )
    rejected = sum(1 for o in made for d in o.deliveries if d.rejected)
    partial = sum(1 for o in made if len({d.shipment for d in o.deliveries}) > 1)
    never = sum(1 for o in made if not o.deliveries)
    assert min(late, rejected, partial, never) > 0


def test_the_demo_fallo_s_contracts_are_signed_and_have_a_year_of_supply(
    ctx: Context, settings: Settings
) -> None:
    small = build_scenario(7, "small")
    load_scenario(ctx, small, forecast=False)
    stage_awarded_tender(
        replace(ctx, now=ctx.now - staging.HISTORY), Sealer.from_settings(settings), small
    )
    assert not staging.has_contracts(ctx)
    heard: list[tuple[int, int]] = []

    staged = staging.stage_contracts(ctx, small, progress=lambda *step: heard.append(step))

    assert staging.has_contracts(ctx)
    contracts = list(ctx.db.scalars(select(Contract)))
    assert len(contracts) == staged.contracts > 0
    assert {c.status for c in contracts} == {rules.VIGENTE}
    assert all(c.institution_signed_at and c.supplier_signed_at for c in contracts)
    assert all(c.guarantee_recorded_at and c.guarantee_issuer for c in contracts)
    assert staged.signed_late == sum(c.signed_late for c in contracts) == 1
    assert heard[-1] == (staged.contracts + 1, staged.contracts + 1)
    orders = int(ctx.db.scalar(select(func.count()).select_from(SupplyOrder)) or 0)
    assert orders == staged.loaded.orders > 10 * staged.contracts
    assert ctx.db.scalar(select(func.count()).where(ShipmentLot.rejected_qty > 0))
    kinds = set(ctx.db.scalars(select(Penalty.kind)))
    assert kinds == {"pena", "deductiva"}
    by_supplier = service.fill_rates(ctx.db, by=["supplier"], as_of=ctx.now.date())
    rates = [r.rate for r in by_supplier if r.rate is not None]
    assert rates
    assert all(0 < r < 1 for r in rates)
    months = service.fill_rates(ctx.db, by=["month"], as_of=ctx.now.date())
    assert len(months) >= 11
    ctx.db.flush()
    assert verify(ctx.db.connection()).ok
