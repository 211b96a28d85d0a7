"""A large day loaded in parts (``service._load_day_in_parts``): each part COPYed, checked,
indexed and constrained by a connection of its own, committed, and attached in the caller's
transaction; refused, nothing is left; leftovers of a load whose caller rolled back are dropped
by the next load of the day. The parts need committed units and claves, so each test has a
database of its own (PostgreSQL only)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from abasto.catalog.models import Clave
from abasto.core.context import Context, operator
from abasto.core.db import make_engine, session_factory, transaction
from abasto.core.errors import Conflict, ValidationFailed
from abasto.identity import service as identity
from abasto.inventory import service
from abasto.inventory.models import StockBalance, StockMovement
from abasto.inventory.rules import Lot
from tests.conftest import T0
from tests.inventory.factories import (
    ASPIRINA,
    EXPIRES,
    PARACETAMOL,
    SOON,
    build_sector,
    loaded_once,
    stock,
    unit,
)

TODAY = date(2026, 11, 2)
TABLE = "stock_movements_2026_11_02"
PARTS = [f"{TABLE}_p0", f"{TABLE}_p1"]


@dataclass
class Sector:
    engine: Engine
    sessions: sessionmaker[Session]
    hgz: int
    umf: int
    paracetamol: int
    aspirina: int


@pytest.fixture
def sector(fresh_database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sector]:
    """A committed sector with the month partitioned by day and 5 of paracetamol in HGZ-1 (a
    receipt posted one by one on the day to load); any feed is loaded in parts."""
    yield from _sector(fresh_database_url, monkeypatch, stocked=True)


@pytest.fixture
def empty_sector(fresh_database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sector]:
    """The same sector with no stock anywhere yet, and its first day's balances built at once."""
    monkeypatch.setattr(service, "REBUILD_BALANCES_AT", 1)
    yield from _sector(fresh_database_url, monkeypatch, stocked=False)


def _sector(url: str, monkeypatch: pytest.MonkeyPatch, *, stocked: bool) -> Iterator[Sector]:
    if not url.startswith("postgresql"):
        pytest.skip("a day in parts is PostgreSQL's (COPY, partitions, connections side by side)")
    monkeypatch.setattr(service, "PARTS_FROM_BYTES", 1)
    engine = make_engine(url)
    sessions = session_factory(engine)
    with transaction(sessions) as db:
        ctx = Context(db, operator("a"), T0)
        build_sector(ctx)
        service.ensure_month_partitions(ctx, start=TODAY, months=1)
        if stocked:
            stock(ctx, unit(ctx), PARACETAMOL, ("A", EXPIRES, 5))
        codes = {c.clave: c.id for c in db.scalars(select(Clave))}
        made = Sector(
            engine,
            sessions,
            unit(ctx).id,
            unit(ctx, code="UMF-2").id,
            codes[PARACETAMOL],
            codes[ASPIRINA],
        )
    yield made
    engine.dispose()


def _chunks(rows: list[tuple[object, ...]], size: int = 7) -> list[bytes]:
    """The rows' CSV cut every ``size`` bytes: lines split across chunks, as a stream comes."""
    data = "".join(",".join(str(v) for v in row) + "\n" for row in rows).encode()
    return [data[i : i + size] for i in range(0, len(data), size)]


def _load(
    sector: Sector,
    rows: list[tuple[object, ...]],
    source: str = "dia:1",
    steps: dict[str, float] | None = None,
) -> int:
    with transaction(sector.sessions) as db:
        return service.load_day_feed(
            Context(db, operator("a"), T0),
            day=TODAY,
            feed=_chunks(rows),
            source=source,
            timings=steps,
        )


def _tables(db: Session) -> dict[str, tuple[str, bool]]:
    """The day's tables: each one's kind and whether it is a partition."""
    return {
        name: (kind, part)
        for name, kind, part in db.execute(
            text(
                "SELECT relname, relkind, relispartition FROM pg_class WHERE relname LIKE :p"
                " AND relkind IN ('r', 'p')"
            ),
            {"p": f"{TABLE}%"},
        )
    }


def _lots(db: Session, code: str = "HGZ-1", clave: str = PARACETAMOL) -> list[Lot]:
    ctx = Context(db, operator("a"), T0)
    found = service.unit_stock(db, unit(ctx, code=code), clave=clave)
    return list(found[0].lots) if found else []


def _day(sector: Sector, lots: int) -> list[tuple[object, ...]]:
    """An opening stock of ``lots`` lots of aspirina in UMF-2, and a dispensing of each."""
    opening = [(sector.umf, sector.aspirina, f"L{n}", SOON, "initial", 10) for n in range(lots)]
    dispensed = [
        (sector.umf, sector.aspirina, f"L{n}", SOON, "dispense", -(n % 10)) for n in range(lots)
    ]
    return [
        *opening,
        (sector.hgz, sector.paracetamol, "A", EXPIRES, "dispense", -2),
        *[d for d in dispensed if d[5] != 0],
    ]


def test_a_large_day_is_loaded_in_parts_and_attached_as_the_days_partition(
    sector: Sector,
) -> None:
    rows = _day(sector, 200)
    steps: dict[str, float] = {}
    assert _load(sector, rows, steps=steps) == len(rows)
    # In parts, whose connections validated their own keys.
    assert "copy and rules" in steps
    assert "foreign keys" not in steps
    with transaction(sector.sessions) as db:
        # The day's table, partitioned by id, holds the parts and the rest (the movement
        # posted one by one on that day, moved in); no other table is left.
        assert _tables(db) == {
            TABLE: ("p", True),
            PARTS[0]: ("r", True),
            PARTS[1]: ("r", True),
            f"{TABLE}_rest": ("r", True),
        }
        where: dict[str, int] = dict(
            db.execute(
                text("SELECT tableoid::regclass::text, count(*) FROM stock_movements GROUP BY 1")
            ).all()
        )
        assert where[f"{TABLE}_rest"] == 1  # the receipt of the fixture
        assert where[PARTS[0]] > 0
        assert where[PARTS[1]] > 0
        assert where[PARTS[0]] + where[PARTS[1]] == len(rows)
        # Every line of the feed once, as it was written, lines cut across chunks included.
        loaded = db.execute(
            select(
                StockMovement.unit_id,
                StockMovement.clave_id,
                StockMovement.lot,
                StockMovement.expiry,
                StockMovement.kind,
                StockMovement.quantity,
            ).where(StockMovement.source == "dia:1")
        ).all()
        assert sorted(map(tuple, loaded)) == sorted(rows)
        # Each part keeps the load's time, source and actor once, and its rows read them.
        for part in PARTS:
            read, once = loaded_once(db, part, "dia:1")
            assert once == ["actor", "at", "source"]
        assert read == {(T0, None, "dia:1", operator("a").label)}
        # The parts' keys are the parent's, validated; their ids the load's block.
        keys = db.execute(
            text(
                "SELECT conrelid::regclass::text, convalidated FROM pg_constraint"
                " WHERE contype = 'f' AND conrelid::regclass::text = ANY(:parts)"
            ),
            {"parts": PARTS},
        ).all()
        assert len(keys) == 4
        assert all(valid for _, valid in keys)
        # Their indexes packed full, and adopted by the parent's (not built again by the attach).
        packed = db.execute(
            text(
                "SELECT c.relname, c.reloptions, EXISTS (SELECT 1 FROM pg_inherits"
                " WHERE inhrelid = c.oid) FROM pg_index i JOIN pg_class c"
                " ON c.oid = i.indexrelid WHERE i.indrelid::regclass::text = ANY(:parts)"
            ),
            {"parts": PARTS},
        ).all()
        assert len(packed) == 4
        assert all(options == ["fillfactor=100"] and adopted for _, options, adopted in packed)
        first = db.scalar(select(func.min(StockMovement.id)).where(StockMovement.source == "dia:1"))
        assert first is not None
        assert first >= 2**50
        assert _lots(db) == [Lot("A", EXPIRES, 3)]
        held = _lots(db, "UMF-2", ASPIRINA)
        assert len(held) == 200
        assert sum(lot.quantity for lot in held) == sum(10 - n % 10 for n in range(200))
        assert service.ledger_balance_check(db) == []
        # Posting on the day goes on: into the rest of the day's table.
        ctx = Context(db, operator("a"), T0 + timedelta(minutes=1))
        service.dispense(
            ctx,
            unit=unit(ctx),
            lines=[service.IssueLine(clave=PARACETAMOL, quantity=1)],
        )
    with transaction(sector.sessions) as db:
        assert _lots(db) == [Lot("A", EXPIRES, 2)]
        assert service.ledger_balance_check(db) == []


def test_a_large_day_breaking_rules_in_both_parts_commits_nothing_and_counts_them_all(
    sector: Sector,
) -> None:
    rows = _day(sector, 200)
    # An outflow with a + sign at the start and at the end: one in each part.
    rows[0] = (sector.umf, sector.aspirina, "L0", SOON, "dispense", 3)
    rows[-1] = (sector.umf, sector.aspirina, "L9", SOON, "dispense", 1)
    rows.append((999999, sector.aspirina, "L9", SOON, "initial", 1))
    with pytest.raises(ValidationFailed) as caught:
        _load(sector, rows)
    assert [(p.column, p.message) for p in caught.value.problems] == [
        ("unit_id", "La unidad no existe. 1 renglón así."),
        ("quantity", "La cantidad no tiene el signo de su tipo. 2 renglones así."),
    ]
    with transaction(sector.sessions) as db:
        assert _tables(db) == {}
        assert db.scalar(select(func.count()).select_from(StockMovement)) == 1
        assert _lots(db, "UMF-2", ASPIRINA) == []


def test_a_malformed_line_is_named_by_its_line_in_the_feed(sector: Sector) -> None:
    rows: list[tuple[object, ...]] = list(_day(sector, 50))
    rows[36] = (sector.umf, sector.aspirina, "L9", "mañana", "initial", 1)
    with pytest.raises(ValidationFailed) as caught:
        _load(sector, rows)
    [problem] = caught.value.problems
    assert problem.value is not None
    assert f"{TABLE}, line 37" in problem.value, problem.value
    assert "mañana" in problem.value
    with transaction(sector.sessions) as db:
        assert _tables(db) == {}


def test_a_day_refused_after_its_parts_committed_drops_them(sector: Sector) -> None:
    rows = _day(sector, 40)
    # More of HGZ-1's lot A than it holds: the balances refuse, after the parts committed.
    rows.append((sector.hgz, sector.paracetamol, "A", EXPIRES, "dispense", -9))
    with pytest.raises(Conflict, match="lote «A»: había 5, el día mueve -11"):
        _load(sector, rows)
    with transaction(sector.sessions) as db:
        assert _tables(db) == {}
        assert db.scalar(select(func.count()).select_from(StockMovement)) == 1
        assert _lots(db) == [Lot("A", EXPIRES, 5)]
    assert _load(sector, rows[:-1], source="dia:2") == len(rows) - 1


def test_the_parts_of_a_load_whose_caller_rolled_back_go_with_the_next_load(
    sector: Sector,
) -> None:
    rows = _day(sector, 40)
    with sector.sessions() as db:
        ctx = Context(db, operator("a"), T0)
        service.load_day_feed(ctx, day=TODAY, feed=_chunks(rows), source="dia:1")
        db.rollback()
    with transaction(sector.sessions) as db:
        # Committed by their own connections, attached to nothing: not in the stock record.
        assert _tables(db) == {PARTS[0]: ("r", False), PARTS[1]: ("r", False)}
        assert db.scalar(select(func.count()).select_from(StockMovement)) == 1
        assert _lots(db, "UMF-2", ASPIRINA) == []
    assert _load(sector, rows) == len(rows)
    with transaction(sector.sessions) as db:
        assert _tables(db)[PARTS[0]] == ("r", True)
        assert db.scalar(select(func.count()).select_from(StockMovement)) == 1 + len(rows)


def test_parts_that_cannot_see_the_callers_units_leave_their_keys_to_it(
    sector: Sector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A unit made in the caller's own transaction: the parts' connections cannot see it (nor
    lock the units while the caller's insert holds them), so the caller validates their keys."""
    monkeypatch.setattr(service, "PART_LOCK_TIMEOUT", "200ms")
    steps: dict[str, float] = {}
    with transaction(sector.sessions) as db:
        ctx = Context(db, operator("a"), T0)
        identity.add_unit(
            ctx, institution_code="IMSS", unit=identity.UnitSpec("HGZ-9", "Nueva", "hospital", "09")
        )
        new = unit(ctx, code="HGZ-9").id
        rows = [(new, sector.paracetamol, "N", SOON, "initial", 4), *_day(sector, 20)]
        loaded = service.load_day_feed(
            ctx, day=TODAY, feed=_chunks(rows), source="dia:1", timings=steps
        )
        assert loaded == len(rows)
        assert "copy and rules" in steps
        assert "foreign keys" in steps
        assert _lots(db, "HGZ-9") == [Lot("N", SOON, 4)]
        valid = db.execute(
            text(
                "SELECT bool_and(convalidated), count(*) FROM pg_constraint WHERE contype = 'f'"
                " AND conrelid::regclass::text = ANY(:parts)"
            ),
            {"parts": PARTS},
        ).one()
        assert tuple(valid) == (True, 4)


def test_parts_validate_their_keys_under_their_lock_timeout(
    sector: Sector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keys are validated in a transaction of their own, after the one that added them: a
    lock held elsewhere then still gives up after ``PART_LOCK_TIMEOUT`` (the keys left to the
    caller) instead of holding the load."""
    monkeypatch.setattr(service, "PART_LOCK_TIMEOUT", "250ms")
    seen: list[str] = []
    validate = service._validate_foreign_keys

    def watched(db: Any, table: str, keys: Any) -> None:
        seen.append(db.scalar(text("SHOW lock_timeout")))
        validate(db, table, keys)

    monkeypatch.setattr(service, "_validate_foreign_keys", watched)
    steps: dict[str, float] = {}
    assert _load(sector, _day(sector, 20), steps=steps) > 0
    assert "foreign keys" not in steps  # the parts validated them
    assert seen == ["250ms", "250ms"]


def test_parts_that_cannot_start_leave_the_day_to_one_table(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller's transaction made the month's partitions (and holds them): the parts cannot
    create their tables, and the day is loaded in one table by the caller's connection."""
    if ctx.db.get_bind().dialect.name != "postgresql":
        pytest.skip("a day in parts is PostgreSQL's")
    monkeypatch.setattr(service, "PARTS_FROM_BYTES", 1)
    monkeypatch.setattr(service, "PART_LOCK_TIMEOUT", "50ms")
    build_sector(ctx)
    service.ensure_month_partitions(ctx, start=TODAY, months=1)
    hgz = unit(ctx).id
    paracetamol = ctx.db.scalar(select(Clave.id).where(Clave.clave == PARACETAMOL))
    rows: list[tuple[Any, ...]] = [(hgz, paracetamol, "A", EXPIRES, "initial", 9)] * 3
    steps: dict[str, float] = {}
    loaded = service.load_day_feed(ctx, day=TODAY, feed=_chunks(rows), source="d", timings=steps)
    assert loaded == 3
    assert "copy" in steps
    assert _tables(ctx.db) == {TABLE: ("r", True)}
    assert _lots(ctx.db) == [Lot("A", EXPIRES, 27)]


BALANCES_KEYS = (
    "SELECT conname, contype, convalidated FROM pg_constraint"
    " WHERE conrelid = 'stock_balances'::regclass ORDER BY conname"
)


def test_a_first_day_in_parts_streams_its_balances_into_the_empty_table(
    empty_sector: Sector,
) -> None:
    sector = empty_sector
    with transaction(sector.sessions) as db:
        kept = db.execute(text(BALANCES_KEYS)).all()
    rows = [*_day(sector, 300), (sector.hgz, sector.paracetamol, "A", EXPIRES, "initial", 8)]
    steps: dict[str, float] = {}
    assert _load(sector, rows, steps=steps) == len(rows)
    assert "balances streamed" in steps
    with transaction(sector.sessions) as db:
        # The lots' balances as the rows add up, their keys rebuilt and validated.
        assert _lots(db) == [Lot("A", EXPIRES, 6)]
        held = _lots(db, "UMF-2", ASPIRINA)
        assert len(held) == 300
        assert sum(lot.quantity for lot in held) == sum(10 - n % 10 for n in range(300))
        assert service.ledger_balance_check(db) == []
        assert db.execute(text(BALANCES_KEYS)).all() == kept
        assert all(valid for _, _, valid in kept)
        updated = db.scalars(select(StockBalance.updated_at).distinct()).all()
        assert updated == [T0]
        # The time was the column's default during the stream only.
        assert (
            db.scalar(
                text("SELECT count(*) FROM pg_attrdef WHERE adrelid = 'stock_balances'::regclass")
            )
            == 0
        )


def test_a_streamed_first_day_that_leaves_a_lot_below_zero_loads_nothing(
    empty_sector: Sector,
) -> None:
    sector = empty_sector
    rows = [
        *_day(sector, 100),
        (sector.hgz, sector.paracetamol, "A", EXPIRES, "initial", 2),
        (sector.umf, sector.aspirina, "L7", SOON, "dispense", -20),
    ]
    with pytest.raises(Conflict, match="lote «L7»: había 0, el día mueve -17"):
        _load(sector, rows)
    with transaction(sector.sessions) as db:
        assert _tables(db) == {}
        assert db.scalar(select(func.count()).select_from(StockBalance)) == 0
        assert db.scalar(select(func.count()).select_from(StockMovement)) == 0
        assert [c for _, c, _ in db.execute(text(BALANCES_KEYS)).all()] == ["c", "f", "f", "p"]
    assert _load(sector, rows[:-1], source="dia:2") == len(rows) - 1


def test_a_second_load_of_the_day_waits_for_the_first_and_is_refused(sector: Sector) -> None:
    """The day's lock: the second load waits until the first commits, then finds the day."""
    rows = _day(sector, 40)
    loaded, outcome = threading.Event(), []

    def second() -> None:
        loaded.wait(30)
        try:
            _load(sector, rows, source="dia:2")
            outcome.append("loaded")
        except Conflict as exc:
            outcome.append(str(exc))

    other = threading.Thread(target=second)
    other.start()
    with transaction(sector.sessions) as db:
        ctx = Context(db, operator("a"), T0)
        try:
            done = service.load_day_feed(ctx, day=TODAY, feed=_chunks(rows), source="dia:1")
        finally:
            loaded.set()
        assert done == len(rows)
        waited = False
        with sector.engine.connect() as watch:
            for _ in range(300):
                waited = bool(
                    watch.scalar(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname ="
                            " current_database() AND wait_event = 'advisory'"
                        )
                    )
                )
                watch.rollback()
                if waited:
                    break
                time.sleep(0.05)
        assert waited
    other.join(timeout=60)
    assert outcome == [service.ANOTHER_LOAD]
    with transaction(sector.sessions) as db:
        assert db.scalar(select(func.count()).select_from(StockMovement)) == 1 + len(rows)
        assert _tables(db)[PARTS[0]] == ("r", True)
