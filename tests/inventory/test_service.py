"""Inventory use cases on the real database: movements, balances, counts, transfers, snapshots."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from abasto.catalog.models import Clave
from abasto.core.clock import FixedClock
from abasto.core.config import Settings
from abasto.core.context import Context, operator
from abasto.core.db import make_engine, session_factory, transaction
from abasto.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from abasto.core.ledger import LedgerEntry
from abasto.demand import service as demand
from abasto.demand.models import Consumption, ForecastSuggestion
from abasto.inventory import service
from abasto.inventory.models import DailyAbasto, StockBalance, StockMovement
from abasto.inventory.rules import Counted, Kind, Lot
from abasto.inventory.service import IssueLine, ReceiptLine
from abasto.tendering.sealing import Sealer
from abasto.tendering.tick import Ticker
from tests.conftest import T0
from tests.inventory.factories import (
    ASPIRINA,
    EXPIRES,
    PARACETAMOL,
    SOON,
    build_sector,
    give,
    staff,
    stock,
    unit,
)


@pytest.fixture
def sector(ctx: Context) -> Context:
    return build_sector(ctx)


def _lots(ctx: Context, clave: str = PARACETAMOL, where: str = "HGZ-1") -> list[Lot]:
    found = service.unit_stock(ctx.db, unit(ctx, code=where), clave=clave)
    return list(found[0].lots) if found else []


def test_a_receipt_then_a_dispensing_picks_fefo_and_keeps_balances_equal_to_movements(
    sector: Context,
) -> None:
    hgz = unit(sector)
    stock(sector, hgz, PARACETAMOL, ("L-LATE", EXPIRES, 100), ("L-SOON", SOON, 30))
    posted = service.dispense(sector, unit=hgz, lines=[IssueLine(PARACETAMOL, 40)])
    assert [(p.lot, p.quantity) for p in posted] == [("L-SOON", -30), ("L-LATE", -10)]
    assert _lots(sector) == [Lot("L-LATE", EXPIRES, 90)]
    assert service.ledger_balance_check(sector.db) == []
    kinds = sector.db.scalars(select(StockMovement.kind).order_by(StockMovement.id)).all()
    assert kinds == ["receipt", "receipt", "dispense", "dispense"]
    entry = sector.db.scalars(
        select(LedgerEntry).where(LedgerEntry.action == "stock.dispense")
    ).one()
    assert not entry.public
    assert entry.entity == "unit:IMSS/HGZ-1"


def test_a_named_lot_is_dispensed_from_that_lot(sector: Context) -> None:
    hgz = unit(sector)
    stock(sector, hgz, PARACETAMOL, ("L-LATE", EXPIRES, 100), ("L-SOON", SOON, 30))
    give(sector, hgz, PARACETAMOL, 5, lot="L-LATE")
    assert {x.lot: x.quantity for x in _lots(sector)} == {"L-LATE": 95, "L-SOON": 30}


def test_a_dispensing_beyond_the_stock_posts_nothing_at_all(sector: Context) -> None:
    hgz = unit(sector)
    stock(sector, hgz, PARACETAMOL, ("A", EXPIRES, 10))
    stock(sector, hgz, ASPIRINA, ("B", EXPIRES, 3))
    before = sector.db.scalar(select(func.count()).select_from(StockMovement))
    with pytest.raises(Conflict) as refused:
        service.dispense(
            sector, unit=hgz, lines=[IssueLine(PARACETAMOL, 5), IssueLine(ASPIRINA, 4)]
        )
    assert refused.value.problems[0].expected == "a lo más 3"
    assert sector.db.scalar(select(func.count()).select_from(StockMovement)) == before


def test_unknown_claves_and_bad_lines_are_refused_with_every_problem(sector: Context) -> None:
    hgz = unit(sector)
    with pytest.raises(ValidationFailed) as refused:
        service.receive(
            sector,
            unit=hgz,
            lines=[
                ReceiptLine("999.999.9999.99", "A", EXPIRES, 1),
                ReceiptLine(PARACETAMOL, "", EXPIRES, 0),
            ],
        )
    fields = {p.field for p in refused.value.problems}
    assert fields == {"lines[1].lot", "lines[1].quantity"}
    with pytest.raises(ValidationFailed) as unknown:
        service.receive(sector, unit=hgz, lines=[ReceiptLine("999.999.9999.99", "A", EXPIRES, 1)])
    assert unknown.value.problems[0].value == "999.999.9999.99"


def test_a_receipt_source_is_posted_once(sector: Context) -> None:
    hgz = unit(sector)
    line = [ReceiptLine(PARACETAMOL, "A", EXPIRES, 10)]
    service.receive(sector, unit=hgz, lines=line, source="receipt:7")
    with pytest.raises(Conflict):
        service.receive(sector, unit=hgz, lines=line, source="receipt:7")
    assert _lots(sector) == [Lot("A", EXPIRES, 10)]


def test_a_lot_keeps_its_expiry(sector: Context) -> None:
    hgz = unit(sector)
    stock(sector, hgz, PARACETAMOL, ("A", EXPIRES, 10))
    with pytest.raises(ValidationFailed) as refused:
        stock(sector, hgz, PARACETAMOL, ("A", SOON, 10))
    assert refused.value.problems[0].expected == EXPIRES.isoformat()


def test_a_count_posts_its_differences_as_count_movements(sector: Context) -> None:
    hgz = unit(sector)
    stock(sector, hgz, PARACETAMOL, ("A", EXPIRES, 10), ("B", SOON, 5))
    posted = service.record_count(
        sector,
        unit=hgz,
        clave=PARACETAMOL,
        counted=[Counted("A", EXPIRES, 7), Counted("N", date(2028, 1, 31), 2)],
    )
    assert [(p.lot, p.kind, p.quantity) for p in posted] == [
        ("A", "count", -3),
        ("B", "count", -5),
        ("N", "count", 2),
    ]
    assert {x.lot: x.quantity for x in _lots(sector)} == {"A": 7, "N": 2}
    assert service.ledger_balance_check(sector.db) == []


def test_an_adjustment_needs_a_reason_and_never_goes_below_zero(sector: Context) -> None:
    hgz = unit(sector)
    stock(sector, hgz, PARACETAMOL, ("A", EXPIRES, 10))
    with pytest.raises(ValidationFailed):
        service.adjust(
            sector, unit=hgz, clave=PARACETAMOL, lot="A", expiry=EXPIRES, quantity=-1, reason=" "
        )
    with pytest.raises(Conflict):
        service.adjust(
            sector,
            unit=hgz,
            clave=PARACETAMOL,
            lot="A",
            expiry=EXPIRES,
            quantity=-11,
            reason="merma",
        )
    service.adjust(
        sector,
        unit=hgz,
        clave=PARACETAMOL,
        lot="A",
        expiry=EXPIRES,
        quantity=-2,
        reason="Frasco roto",
    )
    assert _lots(sector) == [Lot("A", EXPIRES, 8)]
    reasons = sector.db.scalars(
        select(StockMovement.reason).where(StockMovement.kind == "adjustment")
    ).all()
    assert reasons == ["Frasco roto"]


def test_expired_lots_are_written_off_and_never_dispensed(sector: Context) -> None:
    hgz = unit(sector)
    stock(sector, hgz, PARACETAMOL, ("OLD", date(2026, 10, 1), 4), ("A", EXPIRES, 1))
    with pytest.raises(Conflict):
        give(sector, hgz, PARACETAMOL, 2)
    posted = service.write_off_expired(sector, unit=hgz)
    assert [(p.lot, p.kind, p.quantity) for p in posted] == [("OLD", "expiry", -4)]
    assert _lots(sector) == [Lot("A", EXPIRES, 1)]


def test_an_institution_acts_only_for_its_own_units(sector: Context) -> None:
    imss = staff(sector, "IMSS")
    issste_unit = unit(sector, "ISSSTE", "CMF-1")
    with pytest.raises(Forbidden):
        stock(imss, issste_unit, PARACETAMOL, ("A", EXPIRES, 1))
    with pytest.raises(Forbidden):
        service.acting_unit(imss, "ISSSTE", "NO-EXISTE")
    with pytest.raises(NotFound):
        service.acting_unit(imss, "IMSS", "NO-EXISTE")
    stock(imss, unit(sector), PARACETAMOL, ("A", EXPIRES, 1))


def test_an_idempotency_key_posts_once_and_replays_the_first_answer(sector: Context) -> None:
    hgz = unit(sector)
    stock(sector, hgz, PARACETAMOL, ("A", EXPIRES, 10))
    lines = [IssueLine(PARACETAMOL, 3)]
    first = service.dispense_once(sector, unit=hgz, key="venta-1", lines=lines)
    again = service.dispense_once(sector, unit=hgz, key="venta-1", lines=lines)
    assert not first.replayed
    assert again.replayed
    assert again.body == first.body
    assert _lots(sector) == [Lot("A", EXPIRES, 7)]
    with pytest.raises(Conflict) as refused:
        service.dispense_once(sector, unit=hgz, key="venta-1", lines=[IssueLine(PARACETAMOL, 4)])
    assert refused.value.problems[0].field == "Idempotency-Key"


def test_a_transfer_moves_its_lots_when_issued_and_received(sector: Context) -> None:
    hgz, umf = unit(sector), unit(sector, code="UMF-2")
    stock(sector, hgz, PARACETAMOL, ("A", EXPIRES, 10), ("B", SOON, 3))
    transfer = service.create_transfer(
        sector, from_unit=hgz, to_unit=umf, clave=PARACETAMOL, quantity=5
    )
    assert _lots(sector) != []
    assert sum(x.quantity for x in _lots(sector)) == 13
    service.issue_transfer(sector, transfer_id=transfer.id, version=transfer.version)
    assert transfer.status == service.ISSUED
    assert transfer.lots == [
        {"lot": "B", "expiry": SOON.isoformat(), "quantity": 3},
        {"lot": "A", "expiry": EXPIRES.isoformat(), "quantity": 2},
    ]
    assert _lots(sector, where="UMF-2") == []  # in transit
    with pytest.raises(Conflict):
        service.issue_transfer(sector, transfer_id=transfer.id)
    service.receive_transfer(sector, transfer_id=transfer.id)
    assert _lots(sector, where="UMF-2") == [Lot("B", SOON, 3), Lot("A", EXPIRES, 2)]
    assert service.ledger_balance_check(sector.db) == []


def test_the_snapshot_computes_consumption_levels_and_abasto(sector: Context) -> None:
    hgz = unit(sector)
    # 60 received 20 days ago, 10 dispensed a day for the last 6 days: none left today.
    today = service.today(sector)
    service.receive(
        sector,
        unit=hgz,
        lines=[ReceiptLine(PARACETAMOL, "A", EXPIRES, 60)],
        day=today - timedelta(days=20),
    )
    for back in range(5, -1, -1):
        service.dispense(
            sector, unit=hgz, lines=[IssueLine(PARACETAMOL, 10)], day=today - timedelta(days=back)
        )
    stock(sector, hgz, ASPIRINA, ("S", today + timedelta(days=30), 7))
    summary = service.snapshot(sector)
    assert (summary.rows, summary.units, summary.stockouts) == (2, 1, 1)
    rows = {code: row for row, code in service.unit_indicators(sector.db, hgz)}
    paracetamol = rows[PARACETAMOL]
    # 60 over the 21 days it had stock (from the receipt to today) of the 90 in the window;
    # the 69 days before the receipt had none: 60 ÷ 21 × 30.4375 = 86.96 a month.
    assert paracetamol.stockout_days == 69
    assert paracetamol.amc == Decimal("86.96")
    assert (paracetamol.on_hand, paracetamol.level) == (0, "stockout")
    aspirina = rows[ASPIRINA]
    assert (aspirina.on_hand, aspirina.expiring, aspirina.level) == (7, 7, "unknown")
    [nation] = service.abasto_of(sector.db, scope="nation")
    assert (nation.abasto.listed, nation.abasto.with_stock) == (2, 1)
    assert nation.abasto.share == Decimal("0.5000")
    states = {r.key: r.abasto.share for r in service.abasto_of(sector.db, scope="state")}
    assert states == {"09": Decimal("0.5000")}
    assert service.most_stocked_out(sector.db)[0][:3] == (
        PARACETAMOL,
        "Paracetamol. Tableta 500 mg.",
        1,
    )
    # Computed again, the day is replaced, not added.
    service.snapshot(sector)
    assert sector.db.scalar(select(func.count()).select_from(DailyAbasto)) == 4


def test_a_snapshot_of_an_earlier_day_rolls_later_movements_back(sector: Context) -> None:
    hgz = unit(sector)
    today = service.today(sector)
    service.receive(
        sector,
        unit=hgz,
        lines=[ReceiptLine(PARACETAMOL, "A", EXPIRES, 30)],
        day=today - timedelta(days=3),
    )
    give(sector, hgz, PARACETAMOL, 30)
    service.snapshot(sector, day=today - timedelta(days=1))
    [(row, _)] = service.unit_indicators(sector.db, hgz, day=today - timedelta(days=1))
    assert row.on_hand == 30
    assert row.level == "unknown"


def test_policies_per_unit_kind_set_the_levels(sector: Context) -> None:
    hgz = unit(sector)
    today = service.today(sector)
    service.receive(
        sector,
        unit=hgz,
        lines=[ReceiptLine(PARACETAMOL, "A", EXPIRES, 200)],
        day=today - timedelta(days=89),
    )
    service.dispense(sector, unit=hgz, lines=[IssueLine(PARACETAMOL, 90)], day=today)
    # AMC: 90 over 90 days with stock = 30.44; 110 on hand = 3.61 months: above 1-3.
    service.snapshot(sector)
    [(row, _)] = service.unit_indicators(sector.db, hgz)
    assert (row.amc, row.months, row.level) == (Decimal("30.44"), Decimal("3.61"), "above_max")
    service.set_policy(sector, unit_kind="hospital", min_months=Decimal(4), max_months=Decimal(6))
    service.snapshot(sector)
    [(row, _)] = service.unit_indicators(sector.db, hgz)
    assert row.level == "below_min"
    with pytest.raises(Forbidden):
        service.set_policy(
            staff(sector, "IMSS"), unit_kind="x", min_months=Decimal(1), max_months=Decimal(2)
        )


def _at_once(
    factory: sessionmaker[Session], n: int, work: Callable[[Context], object]
) -> list[str]:
    """``work`` in ``n`` threads started together, each in its own transaction: "ok" or
    "conflict" for each, sorted (anything else raised is named, for the assertion to show)."""
    start = threading.Barrier(n)
    outcome: list[str] = []
    lock = threading.Lock()

    def one() -> None:
        start.wait()
        try:
            with transaction(factory) as db:
                work(Context(db, operator("b"), T0))
            result = "ok"
        except Conflict:
            result = "conflict"
        except BaseException as exc:  # reported to the test
            result = repr(exc)
        with lock:
            outcome.append(result)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(outcome)


@pytest.fixture
def committed(fresh_database_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions of a database of its own where the sector is committed, for work in threads."""
    engine = make_engine(fresh_database_url)
    factory = session_factory(engine)
    with transaction(factory) as db:
        build_sector(Context(db, operator("a"), T0))
    yield factory
    engine.dispose()


def test_parallel_dispensing_never_takes_stock_below_zero(
    committed: sessionmaker[Session],
) -> None:
    """Eight threads dispense 3 each from 10 in stock at once: exactly three succeed."""
    with transaction(committed) as db:
        ctx = Context(db, operator("a"), T0)
        stock(ctx, unit(ctx), PARACETAMOL, ("A", EXPIRES, 4), ("B", SOON, 6))
    outcome = _at_once(committed, 8, lambda ctx: give(ctx, unit(ctx), PARACETAMOL, 3))
    assert outcome == ["conflict"] * 5 + ["ok"] * 3
    with transaction(committed) as db:
        quantities = db.scalars(select(StockBalance.quantity).order_by(StockBalance.lot)).all()
        assert quantities == [1, 0]  # B (first to expire) emptied first
        assert service.ledger_balance_check(db) == []
        dispensed = select(func.count()).where(StockMovement.kind == "dispense")
        assert db.scalar(dispensed.select_from(StockMovement)) == 3


def test_one_receipt_posted_at_once_from_four_requests_stocks_once(
    committed: sessionmaker[Session],
) -> None:
    """Four requests post the same receipt (one source) at once, to a lot already in stock:
    one posts it, the others are refused; the stock grows once."""
    with transaction(committed) as db:
        ctx = Context(db, operator("a"), T0)
        stock(ctx, unit(ctx), PARACETAMOL, ("A", EXPIRES, 4))

    def post(ctx: Context) -> None:
        service.receive(
            ctx,
            unit=unit(ctx),
            lines=[ReceiptLine(PARACETAMOL, "A", EXPIRES, 10)],
            source="receipt:77",
        )

    assert _at_once(committed, 4, post) == ["conflict"] * 3 + ["ok"]
    with transaction(committed) as db:
        assert db.scalars(select(StockBalance.quantity)).all() == [14]
        assert service.ledger_balance_check(db) == []


def test_end_to_end_receipt_to_stockout_to_a_suggested_transfer_to_indicators(
    sector: Context,
) -> None:
    """A delivery's receipt stocks two units; one dispenses until it runs out; the snapshot
    shows the stock-out; redistribution suggests a transfer from the other; it is issued and
    received; the next snapshot shows the unit stocked again."""
    hgz, umf = unit(sector), unit(sector, code="UMF-2")
    today = service.today(sector)
    start = today - timedelta(days=60)
    for where, quantity, source in ((hgz, 300, "receipt:1"), (umf, 60, "receipt:2")):
        service.receive(
            sector,
            unit=where,
            lines=[ReceiptLine(PARACETAMOL, f"L-{where.code}", EXPIRES, quantity)],
            source=source,
            day=start,
        )
    # HGZ-1 uses 1 a day: 61 of its 300 (about ten months of stock, above its maximum of 3).
    # UMF-2 uses 2 a day: its 60 last 30 days, then it is out for the last 31.
    for back in range(60, -1, -1):
        day = today - timedelta(days=back)
        service.dispense(sector, unit=hgz, lines=[IssueLine(PARACETAMOL, 1)], day=day)
        if back > 30:
            service.dispense(sector, unit=umf, lines=[IssueLine(PARACETAMOL, 2)], day=day)
    service.snapshot(sector)
    before = {r.key: r.abasto.share for r in service.abasto_of(sector.db, scope="state")}
    assert before == {"09": Decimal(1), "15": Decimal(0)}
    [(row, _)] = service.unit_indicators(sector.db, umf)
    assert (row.on_hand, row.level, row.amc) == (0, "stockout", Decimal("60.88"))

    suggested = service.suggest_redistribution(sector, clave=PARACETAMOL)
    [transfer] = suggested.transfers
    assert (transfer.from_unit_id, transfer.to_unit_id) == (hgz.id, umf.id)
    # UMF-2 is brought to its maximum (3 months of 60.88 = 183); HGZ-1 keeps its safety stock
    # (1 month of 30.44 = 31) of its 239.
    assert transfer.quantity == 183
    assert transfer.lot == "L-HGZ-1"
    service.issue_transfer(sector, transfer_id=transfer.id)
    service.receive_transfer(sector, transfer_id=transfer.id)
    service.snapshot(sector)
    after = {r.key: r.abasto.share for r in service.abasto_of(sector.db, scope="state")}
    assert after == {"09": Decimal(1), "15": Decimal(1)}
    [(row, _)] = service.unit_indicators(sector.db, umf)
    # Today now counts as a day with stock and no dispensing: the AMC falls to 60 over 31 days
    # (58.91), so the 183 are 3.11 months, just over the maximum.
    assert (row.on_hand, row.amc, row.months) == (183, Decimal("58.91"), Decimal("3.11"))
    assert row.level == "above_max"
    assert service.ledger_balance_check(sector.db) == []


@pytest.mark.parametrize("national", [False, True])
def test_the_tick_computes_yesterdays_snapshot_once(
    sector: Context,
    sessions: sessionmaker[Session],
    clock: FixedClock,
    settings: Settings,
    tmp_path: Path,
    national: bool,
) -> None:
    """By the rules, or (``indicators_dir``) by the national path, which keeps its state."""
    folder = tmp_path / "indicadores" if national else None
    ticker = Ticker(sessions, clock, Sealer.from_settings(settings), indicators_dir=folder)
    assert ticker.tick().snapshot is None  # no stock anywhere yet
    stock(sector, unit(sector), PARACETAMOL, ("A", EXPIRES, 5))
    sector.db.commit()
    yesterday = service.today(sector) - timedelta(days=1)
    assert ticker.tick().snapshot == yesterday
    assert ticker.tick().snapshot is None
    [nation] = service.abasto_of(sector.db, scope="nation")
    # Yesterday the receipt had not come: the clave was listed and out of stock.
    assert (nation.day, nation.abasto.listed, nation.abasto.with_stock) == (yesterday, 1, 0)
    assert (folder is not None and (folder / "state" / "state.npz").exists()) == national


def test_a_months_consumption_feeds_the_demand_forecasts_with_its_stockout_days(
    sector: Context,
) -> None:
    hgz = unit(sector)
    october = date(2026, 10, 1)
    service.receive(
        sector, unit=hgz, lines=[ReceiptLine(PARACETAMOL, "A", EXPIRES, 50)], day=date(2026, 9, 20)
    )
    # 10 a day from the 1st to the 5th: out of stock from the 5th's end to the 31st (26 days).
    for day in range(1, 6):
        service.dispense(
            sector, unit=hgz, lines=[IssueLine(PARACETAMOL, 10)], day=date(2026, 10, day)
        )
    [row] = service.monthly_consumption(sector.db, month=october)
    assert (row.unit_code, row.clave, row.consumed, row.stockout_days) == (
        "HGZ-1",
        PARACETAMOL,
        50,
        26,
    )
    assert service.feed_demand(sector, month=october) == 1
    stored = sector.db.scalars(select(Consumption)).one()
    assert (stored.month, stored.consumed, stored.stockout_days) == (october, 50, 26)


def test_dispensing_in_the_units_feeds_the_forecast_of_the_next_round(sector: Context) -> None:
    """The whole chain: what a unit dispensed in each month, handed to demand with its
    stock-out days, is the history the next round's forecast is computed from; a month cut
    short by a stock-out is counted for the days the unit had stock."""
    hgz = unit(sector)
    service.receive(
        sector, unit=hgz, lines=[ReceiptLine(PARACETAMOL, "A", EXPIRES, 700)], day=date(2026, 8, 1)
    )
    for month in (8, 9):
        for day in (5, 15, 25):
            service.dispense(
                sector, unit=hgz, lines=[IssueLine(PARACETAMOL, 100)], day=date(2026, month, day)
            )
    # October: 100 dispensed by the 10th, when the shelf is empty for the rest of the month.
    service.dispense(sector, unit=hgz, lines=[IssueLine(PARACETAMOL, 100)], day=date(2026, 10, 10))
    for month in (8, 9, 10):
        assert service.feed_demand(sector, month=date(2026, month, 1)) == 1
    october = sector.db.scalars(
        select(Consumption).where(Consumption.month == date(2026, 10, 1))
    ).one()
    assert (october.consumed, october.stockout_days) == (100, 21)

    demand.open_round(sector, name="2027", periods=["2027"], n_jobs=1)

    found = demand.get_round(sector.db, "2027")
    [suggestion] = sector.db.scalars(
        select(ForecastSuggestion).where(ForecastSuggestion.round_id == found.id)
    ).all()
    assert suggestion.clave_id == sector.db.scalar(
        select(Clave.id).where(Clave.clave == PARACETAMOL)
    )
    assert suggestion.history_months == 3
    # About 300 a month over the year; October read as dispensed (100) would pull it down.
    assert 12 * 280 <= suggestion.suggested_max <= 12 * 330, suggestion.suggested_max


def test_a_day_loaded_in_bulk_adds_to_the_balances_and_refuses_going_below_zero(
    sector: Context,
) -> None:
    hgz, umf = unit(sector), unit(sector, code="UMF-2")
    stock(sector, hgz, PARACETAMOL, ("A", EXPIRES, 5))
    clave_id = sector.db.scalar(select(Clave.id).where(Clave.clave == PARACETAMOL))
    assert clave_id is not None
    day = service.today(sector)
    rows = [
        service.DayRow(hgz.id, clave_id, "A", EXPIRES, Kind.dispense, -3),
        service.DayRow(umf.id, clave_id, "N", SOON, Kind.initial, 40),
        service.DayRow(umf.id, clave_id, "N", SOON, Kind.dispense, -15),
    ]
    assert service.load_day(sector, day=day, rows=rows, source="dia:1") == 3
    assert _lots(sector) == [Lot("A", EXPIRES, 2)]
    assert _lots(sector, where="UMF-2") == [Lot("N", SOON, 25)]
    assert service.ledger_balance_check(sector.db) == []
    with pytest.raises(Conflict):
        service.load_day(
            sector,
            day=day,
            rows=[service.DayRow(hgz.id, clave_id, "A", EXPIRES, Kind.dispense, -3)],
            source="dia:2",
        )
    with pytest.raises(Conflict):  # the same source twice
        service.load_day(sector, day=day, rows=rows, source="dia:1")
    with pytest.raises(Forbidden):
        service.load_day(staff(sector, "IMSS"), day=day, rows=rows, source="dia:3")


def test_a_day_feed_with_unknown_units_or_claves_or_bad_rows_is_refused_whole(
    sector: Context,
) -> None:
    hgz = unit(sector)
    stock(sector, hgz, PARACETAMOL, ("A", EXPIRES, 5))
    clave_id = sector.db.scalar(select(Clave.id).where(Clave.clave == PARACETAMOL))
    day = service.today(sector)
    good = f"{hgz.id},{clave_id},A,{EXPIRES},dispense,-1\n"
    before = sector.db.scalar(select(func.count()).select_from(StockMovement))

    def refused(feed: str) -> ValidationFailed:
        with pytest.raises(ValidationFailed) as caught:
            service.load_day_feed(sector, day=day, feed=[feed.encode()], source="dia:x")
        return caught.value

    error = refused(
        good
        + f"999999,{clave_id},A,{EXPIRES},dispense,-1\n"
        + f"999999,{clave_id},B,{EXPIRES},dispense,-1\n"
        + f"{hgz.id},888888,A,{EXPIRES},dispense,-1\n"
        + f"{hgz.id},{clave_id},A,{EXPIRES},dispense,4\n"
        + f"{hgz.id},{clave_id},A,{EXPIRES},robo,-1\n"
    )
    found = {p.column: p for p in error.problems}
    assert set(found) == {"unit_id", "clave_id", "quantity", "kind"}
    assert found["unit_id"].message == "La unidad no existe. 2 renglones así."
    assert found["unit_id"].value is not None
    assert found["unit_id"].value.startswith("999999,")
    assert found["clave_id"].message == "La clave no existe. 1 renglón así."
    assert found["quantity"].value == f"{hgz.id},{clave_id},A,{EXPIRES},dispense,4"
    # A row that is not the layout: refused with what was expected, on both databases.
    error = refused(good + f"{hgz.id},{clave_id},A,mañana,dispense,-1\n")
    assert error.problems[0].expected == "unit_id,clave_id,lote,aaaa-mm-dd,tipo,cantidad"
    # Nothing of any refused feed was loaded, and the same transaction goes on.
    assert sector.db.scalar(select(func.count()).select_from(StockMovement)) == before
    assert _lots(sector) == [Lot("A", EXPIRES, 5)]
    with pytest.raises(Conflict, match="lote «A»: había 5, el día mueve -6"):
        service.load_day_feed(sector, day=day, feed=[(good * 6).encode()], source="dia:y")
    assert service.load_day_feed(sector, day=day, feed=[good.encode()], source="dia:z") == 1
    assert _lots(sector) == [Lot("A", EXPIRES, 4)]
