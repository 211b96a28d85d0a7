"""A day loaded in bulk (``service.load_day_feed``): the day's own partition on PostgreSQL, its
foreign keys, a refused load that leaves nothing, a day on top of another, the first day's
balances built at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from abasto.catalog.models import Clave
from abasto.core.context import Context, operator
from abasto.core.db import alembic_config, make_engine, session_factory, transaction
from abasto.core.errors import Conflict, ValidationFailed
from abasto.inventory import service
from abasto.inventory.models import StockBalance, StockMovement, StockSource
from abasto.inventory.rules import Lot
from tests.conftest import T0
from tests.inventory.factories import (
    ASPIRINA,
    EXPIRES,
    PARACETAMOL,
    SOON,
    build_sector,
    give,
    loaded_once,
    stock,
    unit,
)

TODAY = date(2026, 11, 2)
YESTERDAY = TODAY - timedelta(days=1)


@pytest.fixture
def sector(ctx: Context) -> Context:
    made = build_sector(ctx)
    # The month's partition (itself partitioned by day) before any of its movements.
    service.ensure_month_partitions(made, start=YESTERDAY, months=1)
    return made


def _postgres(ctx: Context) -> bool:
    return ctx.db.get_bind().dialect.name == "postgresql"


def _only_postgres(ctx: Context) -> None:
    if not _postgres(ctx):
        pytest.skip("partitions, COPY and foreign keys validated at once are PostgreSQL's")


def _clave(ctx: Context, code: str = PARACETAMOL) -> int:
    found = ctx.db.scalar(select(Clave.id).where(Clave.clave == code))
    assert found is not None
    return found


def _lots(ctx: Context, where: str = "HGZ-1", clave: str = PARACETAMOL) -> list[Lot]:
    found = service.unit_stock(ctx.db, unit(ctx, code=where), clave=clave)
    return list(found[0].lots) if found else []


def _movements(ctx: Context) -> int:
    return ctx.db.scalar(select(func.count()).select_from(StockMovement)) or 0


def _partition_of(ctx: Context, day: date) -> str | None:
    found: str | None = ctx.db.scalar(
        text(
            "SELECT inhparent::regclass::text FROM pg_inherits WHERE inhrelid = to_regclass(:name)"
        ),
        {"name": f"stock_movements_{day:%Y_%m_%d}"},
    )
    return found


def _leftovers(ctx: Context, day: date) -> tuple[Any, ...]:
    """What a refused load could leave: the day's table, the session's sequence of ids."""
    return tuple(
        ctx.db.execute(
            text("SELECT to_regclass(:name), to_regclass('pg_temp.day_ids')"),
            {"name": f"stock_movements_{day:%Y_%m_%d}"},
        ).one()
    )


def _feed(*rows: tuple[object, ...]) -> list[bytes]:
    return ["".join(",".join(str(v) for v in row) + "\n" for row in rows).encode()]


@pytest.fixture
def notices(sector: Context) -> Iterator[list[str]]:
    """The server's messages to this session, DEBUG1 included (what ATTACH says it skipped)."""
    _only_postgres(sector)
    found: list[str] = []
    driver: Any = sector.db.connection().connection.dbapi_connection
    sector.db.execute(text("SET LOCAL client_min_messages = debug1"))

    def handler(diagnostic: Any) -> None:
        found.append(diagnostic.message_primary or "")

    driver.add_notice_handler(handler)
    yield found
    driver.remove_notice_handler(handler)


def test_a_day_becomes_its_own_partition_with_its_keys_and_takes_the_days_postings(
    sector: Context, notices: list[str]
) -> None:
    _only_postgres(sector)
    hgz, umf = unit(sector), unit(sector, code="UMF-2")
    paracetamol, aspirina = _clave(sector), _clave(sector, ASPIRINA)
    # Posted one by one before the day's feed arrives: in the month's default partition.
    stock(sector, hgz, PARACETAMOL, ("A", EXPIRES, 5))
    feed = _feed(
        (hgz.id, paracetamol, "A", EXPIRES, "dispense", -3),
        (umf.id, aspirina, "N", SOON, "initial", 40),
        (umf.id, aspirina, "N", SOON, "dispense", -15),
    )
    assert service.load_day_feed(sector, day=TODAY, feed=feed, source="dia:1") == 3
    assert _partition_of(sector, TODAY) == "stock_movements_2026_11"
    # The attach trusted the day's CHECK instead of scanning the rows.
    assert any(
        "stock_movements_2026_11_02" in n and "implied by existing constraints" in n
        for n in notices
    ), notices
    # The receipt moved into the day's partition with the feed's rows; the default kept none.
    where = sector.db.execute(
        text("SELECT tableoid::regclass::text, kind FROM stock_movements ORDER BY kind")
    ).all()
    assert {w for w, _ in where} == {"stock_movements_2026_11_02"}
    assert sorted(k for _, k in where) == ["dispense", "dispense", "initial", "receipt"]
    # Its foreign keys are the parent's, validated; its indexes are the parent's.
    keys = sector.db.execute(
        text(
            "SELECT conname, convalidated FROM pg_constraint WHERE contype = 'f'"
            " AND conrelid = 'stock_movements_2026_11_02'::regclass ORDER BY conname"
        )
    ).all()
    assert keys == [("stock_movements_clave_id_fkey", True), ("stock_movements_unit_id_fkey", True)]
    indexes = sector.db.scalar(
        text(
            "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE c.relkind = 'i' AND i.inhrelid IN (SELECT indexrelid FROM pg_index"
            " WHERE indrelid = 'stock_movements_2026_11_02'::regclass)"
        )
    )
    # The parent's two (no index over the movements' source: migration 0021).
    assert indexes == 2
    assert _lots(sector) == [Lot("A", EXPIRES, 2)]
    assert _lots(sector, where="UMF-2", clave=ASPIRINA) == [Lot("N", SOON, 25)]
    assert service.ledger_balance_check(sector.db) == []
    # Ids of the load's own block, apart from the ones posted one by one.
    ids = sector.db.execute(select(StockMovement.id, StockMovement.source)).all()
    assert all(i >= 2**50 for i, s in ids if s == "dia:1")
    # The load's time, source and actor are kept once by the day's table, not in each of its
    # rows, and every row of the feed reads them.
    read, once = loaded_once(sector.db, "stock_movements_2026_11_02", "dia:1")
    assert read == {(sector.now, None, "dia:1", sector.actor.label)}
    assert once == ["actor", "at", "source"]
    # Posting on the loaded day goes on, into its partition, and is the unit's newest movement
    # though its id is below the load's.
    later = Context(sector.db, sector.actor, sector.now + timedelta(minutes=1))
    give(later, hgz, PARACETAMOL, 1)
    assert _lots(sector) == [Lot("A", EXPIRES, 1)]
    newest = service.movements(sector.db, hgz, limit=1)[0][0]
    assert (newest.kind, newest.quantity) == ("dispense", -1)


def test_a_day_on_top_of_another_and_a_second_feed_of_the_same_day(sector: Context) -> None:
    hgz, umf = unit(sector), unit(sector, code="UMF-2")
    paracetamol = _clave(sector)
    first = _feed(
        (hgz.id, paracetamol, "A", EXPIRES, "initial", 100),
        (umf.id, paracetamol, "B", SOON, "initial", 50),
        (hgz.id, paracetamol, "A", EXPIRES, "dispense", -10),
    )
    assert service.load_day_feed(sector, day=YESTERDAY, feed=first, source="dia:1") == 3
    second = _feed(
        (hgz.id, paracetamol, "A", EXPIRES, "dispense", -30),
        (hgz.id, paracetamol, "C", SOON, "receipt", 7),
        (umf.id, paracetamol, "B", SOON, "dispense", -50),
    )
    assert service.load_day_feed(sector, day=TODAY, feed=second, source="dia:2") == 3
    assert _lots(sector) == [Lot("C", SOON, 7), Lot("A", EXPIRES, 60)]
    assert _lots(sector, where="UMF-2") == []  # emptied
    # A second feed of a day that already has its partition goes into it row by row.
    third = _feed((hgz.id, paracetamol, "C", SOON, "dispense", -2))
    assert service.load_day_feed(sector, day=TODAY, feed=third, source="dia:3") == 1
    assert _lots(sector) == [Lot("C", SOON, 5), Lot("A", EXPIRES, 60)]
    # A source loaded before is refused, whichever day and path it came by.
    for day, source in ((TODAY, "dia:1"), (YESTERDAY, "dia:3")):
        again = _feed((hgz.id, paracetamol, "C", SOON, "receipt", 1))
        with pytest.raises(Conflict, match="ya están registrados"):
            service.load_day_feed(sector, day=day, feed=again, source=source)
    assert sector.db.scalars(select(StockSource.source).order_by(StockSource.source)).all() == [
        "dia:1",
        "dia:2",
        "dia:3",
    ]
    assert service.ledger_balance_check(sector.db) == []
    assert _movements(sector) == 7
    if _postgres(sector):
        assert _partition_of(sector, YESTERDAY) == "stock_movements_2026_11"
        assert _partition_of(sector, TODAY) == "stock_movements_2026_11"


def test_a_refused_load_leaves_no_table_no_movement_and_no_balance(sector: Context) -> None:
    _only_postgres(sector)
    hgz = unit(sector)
    paracetamol = _clave(sector)
    stock(sector, hgz, PARACETAMOL, ("A", EXPIRES, 5))
    before = _movements(sector)
    good = (hgz.id, paracetamol, "A", EXPIRES, "dispense", -1)
    refusals: list[tuple[list[bytes], type[Exception], str | None]] = [
        # A unit that does not exist: the foreign key refuses, the rules' report says which.
        (_feed(good, (999999, paracetamol, "A", EXPIRES, "dispense", -1)), ValidationFailed, None),
        (_feed(good, (hgz.id, 888888, "A", EXPIRES, "dispense", -1)), ValidationFailed, None),
        (_feed(good, (hgz.id, paracetamol, "A", "mañana", "dispense", -1)), ValidationFailed, None),
        (_feed(good, (hgz.id, paracetamol, "A", EXPIRES, "dispense", 4)), ValidationFailed, None),
        (_feed(*[good] * 6), Conflict, "lote «A»: había 5, el día mueve -6"),
    ]
    for feed, error, says in refusals:
        with pytest.raises(error, match=says) as caught:
            service.load_day_feed(sector, day=TODAY, feed=feed, source="dia:x")
        assert _leftovers(sector, TODAY) == (None, None), caught.value
        assert _movements(sector) == before
        assert _lots(sector) == [Lot("A", EXPIRES, 5)]
    # The receipt posted before stays where it was, and a good feed still loads.
    assert service.load_day_feed(sector, day=TODAY, feed=_feed(good), source="dia:y") == 1
    assert _lots(sector) == [Lot("A", EXPIRES, 4)]


def test_a_day_breaking_several_rules_is_refused_naming_each_with_its_count(
    sector: Context,
) -> None:
    hgz = unit(sector)
    paracetamol = _clave(sector)
    feed = _feed(
        (hgz.id, paracetamol, "A", EXPIRES, "initial", 3),
        (hgz.id, paracetamol, "A", EXPIRES, "dispense", 4),  # an outflow with a + sign
        (hgz.id, paracetamol, "B", EXPIRES, "receipt", -2),  # an inflow with a − sign
        (hgz.id, paracetamol, "C", EXPIRES, "adjustment", 0),  # an adjustment of nothing
        (hgz.id, paracetamol, "D", EXPIRES, "regalo", 5),  # a kind that does not exist
    )
    with pytest.raises(ValidationFailed) as caught:
        service.load_day_feed(sector, day=TODAY, feed=feed, source="dia:x")
    assert [(p.column, p.message) for p in caught.value.problems] == [
        ("kind", "Tipo de movimiento desconocido. 1 renglón así."),
        ("quantity", "La cantidad no tiene el signo de su tipo. 3 renglones así."),
    ]
    assert _movements(sector) == 0
    assert _lots(sector) == []


def test_a_day_with_an_unknown_unit_is_refused_by_the_foreign_key_with_the_rules_report(
    sector: Context,
) -> None:
    _only_postgres(sector)
    hgz = unit(sector)
    paracetamol = _clave(sector)
    feed = _feed(
        (hgz.id, paracetamol, "A", EXPIRES, "initial", 3),
        (999999, paracetamol, "A", EXPIRES, "initial", 3),
        (999998, paracetamol, "B", EXPIRES, "initial", 3),
    )
    with pytest.raises(ValidationFailed) as caught:
        service.load_day_feed(sector, day=TODAY, feed=feed, source="dia:x")
    [problem] = caught.value.problems
    assert problem.column == "unit_id"
    assert problem.message == "La unidad no existe. 2 renglones así."
    assert problem.value is not None
    assert problem.value.startswith("99999")


def test_a_first_day_builds_the_balances_keys_once_and_keeps_their_rules(
    sector: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    _only_postgres(sector)
    monkeypatch.setattr(service, "REBUILD_BALANCES_AT", 1)
    hgz, umf, cmf = unit(sector), unit(sector, code="UMF-2"), unit(sector, "ISSSTE", "CMF-1")
    stock(sector, hgz, PARACETAMOL, ("A", EXPIRES, 5))
    paracetamol, aspirina = _clave(sector), _clave(sector, ASPIRINA)
    rows = [
        (u.id, c, lot, EXPIRES, "initial", 10)
        for u in (hgz, umf, cmf)
        for c in (paracetamol, aspirina)
        for lot in ("X", "Y")
    ]
    below = (cmf.id, aspirina, "Y", EXPIRES, "dispense", -11)
    with pytest.raises(Conflict, match="lote «Y»: había 0, el día mueve -1"):
        service.load_day_feed(sector, day=TODAY, feed=_feed(*rows, below), source="dia:x")
    balances_keys = (
        "SELECT conname, contype, convalidated FROM pg_constraint"
        " WHERE conrelid = 'stock_balances'::regclass ORDER BY conname"
    )
    kept = sector.db.execute(text(balances_keys)).all()
    balances_indexes = (
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index"
        " WHERE indrelid = 'stock_balances'::regclass ORDER BY 1"
    )
    indexes = sector.db.execute(text(balances_indexes)).all()
    assert [name for name, _ in indexes] == ["pk_stock_balances"]
    # The lot's own primary key, no unique key beside it (migration 0022).
    assert [c for _, c, _ in kept] == ["c", "f", "f", "p"]
    dispensed = (hgz.id, paracetamol, "A", EXPIRES, "dispense", -2)
    loaded = service.load_day_feed(sector, day=TODAY, feed=_feed(*rows, dispensed), source="d")
    assert loaded == 13
    # The same constraints, rebuilt and validated; the indexes too (the primary key's, alone:
    # migration 0023).
    assert sector.db.execute(text(balances_keys)).all() == kept
    assert all(valid for _, _, valid in kept)
    assert sector.db.execute(text(balances_indexes)).all() == indexes
    assert _lots(sector) == [Lot("A", EXPIRES, 3), Lot("X", EXPIRES, 10), Lot("Y", EXPIRES, 10)]
    assert service.ledger_balance_check(sector.db) == []
    # A new lot after them is a balance of its own.
    stock(sector, umf, PARACETAMOL, ("Z", SOON, 1))
    assert sector.db.scalar(select(func.count()).select_from(StockBalance)) == 14
    # The rules still hold: never below zero, one row per unit × clave × lot.
    with pytest.raises(Conflict):
        give(sector, cmf, ASPIRINA, 21)
    with pytest.raises(IntegrityError, match="pk_stock_balances"), sector.db.begin_nested():
        sector.db.execute(
            text(
                "INSERT INTO stock_balances (unit_id, clave_id, lot, expiry, quantity,"
                " updated_at) VALUES (:u, :c, 'X', :e, 1, now())"
            ),
            {"u": cmf.id, "c": aspirina, "e": EXPIRES},
        )


def test_the_balances_keyed_by_their_lot_go_down_to_an_id_and_back(fresh_database_url: str) -> None:
    """Migration 0022: down, each balance numbered again under the unique key; up, the lot's
    key is the primary key and the balances are the same."""
    from alembic import command
    from sqlalchemy import inspect

    engine = make_engine(fresh_database_url)
    kept = select(StockBalance.unit_id, StockBalance.clave_id, StockBalance.lot)
    with transaction(session_factory(engine)) as db:
        ctx = build_sector(Context(db, operator("a"), T0))
        stock(ctx, unit(ctx), PARACETAMOL, ("A", EXPIRES, 10), ("B", SOON, 5))
        stock(ctx, unit(ctx, code="UMF-2"), ASPIRINA, ("A", EXPIRES, 3))
        before = sorted(db.execute(kept.add_columns(StockBalance.quantity)).all())
    engine.dispose()
    config = alembic_config(fresh_database_url)
    command.downgrade(config, "0021")
    with engine.connect() as connection:
        schema = inspect(connection)
        assert schema.get_pk_constraint("stock_balances")["constrained_columns"] == ["id"]
        assert [u["name"] for u in schema.get_unique_constraints("stock_balances")] == [
            "uq_stock_balances_lot"
        ]
        ids = connection.scalars(text("SELECT id FROM stock_balances")).all()
        assert len(ids) == len(set(ids)) == 3
        # A balance inserted after the downgrade draws an id of its own.
        connection.execute(
            text(
                "INSERT INTO stock_balances (unit_id, clave_id, lot, expiry, quantity, updated_at)"
                " SELECT unit_id, clave_id, 'C', expiry, 0, updated_at FROM stock_balances"
                " WHERE lot = 'B'"
            )
        )
        assert connection.scalar(text("SELECT count(DISTINCT id) FROM stock_balances")) == 4
        connection.rollback()
    command.upgrade(config, "head")
    with engine.connect() as connection:
        schema = inspect(connection)
        assert "id" not in {c["name"] for c in schema.get_columns("stock_balances")}
        key = schema.get_pk_constraint("stock_balances")
        assert (key["name"], key["constrained_columns"]) == (
            "pk_stock_balances",
            ["unit_id", "clave_id", "lot"],
        )
        assert schema.get_unique_constraints("stock_balances") == []
        after = sorted(connection.execute(kept.add_columns(StockBalance.quantity)).all())
    engine.dispose()
    assert after == before


@pytest.fixture
def beside(fresh_database_url: str) -> Iterator[tuple[sessionmaker[Session], Engine]]:
    """Sessions of a database of its own, for a load and a posting side by side, and an engine
    to watch them with (``_one_waits``): the two hold the sessions' pool."""
    if not fresh_database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time: nothing runs beside the load")
    engine, watching = make_engine(fresh_database_url), make_engine(fresh_database_url)
    yield session_factory(engine), watching
    engine.dispose()
    watching.dispose()


def _one_waits(watching: Engine, until: Callable[[], bool] = lambda: False) -> bool:
    """Whether a client of the database comes to wait for a lock within 15 s (looked at every
    50 ms, each look a fresh snapshot of the activity), or ``until`` is true first."""
    for _ in range(300):
        with watching.connect() as watch:
            if watch.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND backend_type = 'client backend'"
                )
            ):
                return True
        if until():
            return False
        time.sleep(0.05)
    return False


def _committed_sector(factory: sessionmaker[Session], *, partitioned: bool) -> tuple[int, int, int]:
    """The sector committed, the month partitioned by day or not, 10 of lot A at HGZ-1: the
    ids of HGZ-1, UMF-2 and paracetamol."""
    with transaction(factory) as db:
        ctx = Context(db, operator("a"), T0)
        build_sector(ctx)
        if partitioned:
            service.ensure_month_partitions(ctx, start=YESTERDAY, months=1)
        stock(ctx, unit(ctx), PARACETAMOL, ("A", EXPIRES, 10))
        return unit(ctx).id, unit(ctx, code="UMF-2").id, _clave(ctx)


@pytest.mark.parametrize("first_day", [False, True])
def test_a_dispensing_during_a_load_is_refused_at_once_and_the_load_goes_on(
    beside: tuple[sessionmaker[Session], Engine], monkeypatch: pytest.MonkeyPatch, first_day: bool
) -> None:
    """A dispensing that comes while a day loads (here after its balances, before its ATTACH)
    is refused at once. It waited before, holding ``claves`` (read first) while the load's
    ATTACH needed them to itself: a deadlock, which aborted the dispensing on a regular day and
    the load on a first day (the balances locked whole). After the load, a dispensing takes
    from what it left."""
    factory, _ = beside
    if first_day:
        monkeypatch.setattr(service, "REBUILD_BALANCES_AT", 1)
    hgz, umf, paracetamol = _committed_sector(factory, partitioned=True)
    outcome: list[str] = []

    def dispense() -> None:
        try:
            with transaction(factory) as db:
                ctx = Context(db, operator("b"), T0)
                give(ctx, unit(ctx), PARACETAMOL, 3)
            outcome.append("ok")
        except Conflict as exc:
            outcome.append(exc.detail)
        except BaseException as exc:  # reported to the test below
            outcome.append(repr(exc))

    lap = service._Steps.lap

    def lap_then_dispense(self: Any, step: str) -> None:
        lap(self, step)
        if step == "balances updated":
            during = threading.Thread(target=dispense)
            during.start()
            during.join(timeout=10)  # refused at once; before, it waited for the load

    monkeypatch.setattr(service._Steps, "lap", lap_then_dispense)
    with transaction(factory) as db:
        ctx = Context(db, operator("a"), T0)
        feed = _feed(
            (hgz, paracetamol, "A", EXPIRES, "dispense", -4),
            (umf, paracetamol, "N", SOON, "initial", 5),
            (umf, paracetamol, "M", SOON, "initial", 5),
        )
        assert service.load_day_feed(ctx, day=TODAY, feed=feed, source="dia:1") == 3
    assert outcome == [service.WHILE_A_DAY_LOADS]
    dispense()
    assert outcome[1:] == ["ok"]
    with transaction(factory) as db:
        quantities = db.scalars(
            select(StockBalance.quantity).where(StockBalance.unit_id == hgz)
        ).all()
        assert quantities == [3]  # 10, the day's −4, then the dispensing's −3
        assert service.ledger_balance_check(db) == []
        # Every movement of the day, the later dispensing's too, in the day's partition.
        where = db.execute(
            text("SELECT tableoid::regclass::text, count(*) FROM stock_movements GROUP BY 1")
        ).all()
        assert where == [("stock_movements_2026_11_02", 5)]


@pytest.mark.parametrize("partitioned", [True, False], ids=["partition", "temporary-table"])
@pytest.mark.parametrize("rebuilt", [False, True], ids=["balances-updated", "balances-rebuilt"])
def test_a_lot_received_while_the_day_goes_into_the_balances_gets_both(
    beside: tuple[sessionmaker[Session], Engine],
    monkeypatch: pytest.MonkeyPatch,
    partitioned: bool,
    rebuilt: bool,
) -> None:
    """A receipt under way creates a lot that the day also brings: the load waits for it
    (``POSTINGS_LOCK``), then adds the day to it. Before, the load's insert of the new lots
    collided with it and the whole day was refused; committed between the load's update and
    its insert, the lot was skipped by both, the day's movements lost to it."""
    factory, watching = beside
    if rebuilt:
        monkeypatch.setattr(service, "REBUILD_BALANCES_AT", 1)
    hgz, umf, paracetamol = _committed_sector(factory, partitioned=partitioned)
    held, release = threading.Event(), threading.Event()
    outcome: dict[str, str] = {}

    def receive() -> None:
        try:
            with transaction(factory) as db:
                ctx = Context(db, operator("b"), T0)
                stock(ctx, unit(ctx, code="UMF-2"), PARACETAMOL, ("N", SOON, 5))
                held.set()
                release.wait(30)
            outcome["receipt"] = "ok"
        except BaseException as exc:  # reported to the test below
            outcome["receipt"] = repr(exc)
        finally:
            held.set()

    def load() -> None:
        try:
            with transaction(factory) as db:
                ctx = Context(db, operator("a"), T0)
                feed = _feed(
                    (hgz, paracetamol, "A", EXPIRES, "dispense", -4),
                    (umf, paracetamol, "N", SOON, "initial", 5),
                )
                service.load_day_feed(ctx, day=TODAY, feed=feed, source="dia:1")
            outcome["load"] = "ok"
        except BaseException as exc:  # reported to the test below
            outcome["load"] = repr(exc)

    receipt, loading = threading.Thread(target=receive), threading.Thread(target=load)
    receipt.start()
    assert held.wait(30), outcome
    loading.start()
    waited = _one_waits(watching, until=lambda: not loading.is_alive())
    release.set()
    receipt.join(timeout=60)
    loading.join(timeout=60)
    assert waited, outcome
    assert outcome == {"receipt": "ok", "load": "ok"}
    with transaction(factory) as db:
        ctx = Context(db, operator("a"), T0)
        assert _lots(ctx, where="UMF-2") == [Lot("N", SOON, 10)]
        assert _lots(ctx) == [Lot("A", EXPIRES, 6)]
        assert service.ledger_balance_check(db) == []


def test_the_clave_index_of_the_balances_goes_and_comes_back(fresh_database_url: str) -> None:
    """Migration 0023: up, the balances keep no index on clave_id of their own; down, it is
    built again over the balances there."""
    from alembic import command
    from sqlalchemy import inspect

    engine = make_engine(fresh_database_url)
    with transaction(session_factory(engine)) as db:
        ctx = build_sector(Context(db, operator("a"), T0))
        stock(ctx, unit(ctx), PARACETAMOL, ("A", EXPIRES, 10))
    config = alembic_config(fresh_database_url)

    def indexes() -> list[tuple[str, list[str | None]]]:
        with engine.connect() as connection:
            found = inspect(connection).get_indexes("stock_balances")
        return [(x["name"] or "", list(x["column_names"])) for x in found]

    assert indexes() == []
    command.downgrade(config, "0022")
    assert indexes() == [("ix_stock_balances_clave", ["clave_id"])]
    command.upgrade(config, "head")
    assert indexes() == []
    engine.dispose()
