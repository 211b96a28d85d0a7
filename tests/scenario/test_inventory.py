"""The demo's year of inventory: stock, dispensing, stock-outs and expiries, on the dashboard."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from abasto.core.context import Context
from abasto.inventory import service
from abasto.inventory.models import DailyAbasto, StockMovement
from abasto.scenario import inventory
from abasto.scenario.build import Scenario, build_scenario
from abasto.scenario.load import load_scenario


@pytest.fixture(scope="module")
def small() -> Scenario:
    return build_scenario(7, "small")


def test_the_history_is_the_same_for_the_same_scenario_and_day(small: Scenario) -> None:
    institution, unit = next(inventory.stocked_units(small))
    first = inventory.history(small, institution, unit, last=date(2026, 11, 1))
    again = inventory.history(small, institution, unit, last=date(2026, 11, 1))
    assert first == again
    kinds = {row.kind.value for row in first}
    assert {"initial", "receipt", "dispense"} <= kinds


def test_the_demo_has_a_year_of_stock_with_stockouts_and_expiries(
    ctx: Context, small: Scenario, client: TestClient
) -> None:
    summary = load_scenario(ctx, small, forecast=False)
    assert summary.ledger_entries > 0
    kinds = dict(
        ctx.db.execute(select(StockMovement.kind, func.count()).group_by(StockMovement.kind)).all()
    )
    assert kinds["dispense"] > 5_000
    assert kinds["expiry"] > 0, "no lot expired on a shelf"
    assert service.ledger_balance_check(ctx.db) == []
    days = ctx.db.scalars(
        select(DailyAbasto.day).where(DailyAbasto.scope == "nation").order_by(DailyAbasto.day)
    ).all()
    assert len(days) == 7
    [nation] = service.abasto_of(ctx.db, scope="nation")
    assert nation.abasto.with_stock < nation.abasto.listed, "no stock-out in the demo"
    assert service.most_stocked_out(ctx.db)
    ctx.db.commit()
    page = client.get("/abasto")
    assert page.status_code == 200
    assert "Tendencia nacional" in page.text
    assert "IMSS" in page.text.split('id="por-institucion"')[1]
