"""Database engine, ORM base, sessions and the schema-version check.

The edge (a request, a CLI command, a background task) owns the transaction through
``transaction()``; services only flush.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Engine,
    Integer,
    MetaData,
    SQLColumnExpression,
    any_,
    bindparam,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from abasto.core.errors import SchemaBehind

if TYPE_CHECKING:
    from alembic.config import Config

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware instant stored in UTC; SQLite keeps no zone, so it is restored here."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an instant is expected")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def normalise_url(url: str) -> str:
    """Let ``postgresql://`` URLs use psycopg 3, the driver Abasto is built on."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    # A database error's message names the statement's parameters: a sealed bid's lines at its
    # opening, which a log must never show (issue 14). The statement itself is still named.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            poolclass=NullPool,
            **kwargs,
        )
        _configure_sqlite(engine)
        return engine
    # Options the URL gives come after ours, so a deployment can set its own value.
    given = make_url(url).query.get("options")
    options = " ".join([PLANNER_OPTIONS, *([given] if isinstance(given, str) else given or [])])
    connect_args = {"options": options, **kwargs.pop("connect_args", {})}
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    _ping_when_idle(engine)
    return engine


PLANNER_OPTIONS = "-c random_page_cost=1.1"
"""Every PostgreSQL session plans with random reads about as cheap as sequential ones, as they
are when the working set is in memory or on SSD (the value PostgreSQL's documentation suggests
for SSD). With the default, 4, the planner would rather read all 4,000 partidas of a tender
through its ``tender_id`` index than look up the 35 a bid names by (tender, number): 0.34 ms
against 0.03 ms for each bid of a rush (EXPLAIN ANALYZE on the bid-rush benchmark's data)."""


IDLE_PING_SECONDS = 2.0
"""A pooled connection idle for longer is pinged before it is handed out again."""


def _ping_when_idle(engine: Engine) -> None:
    """Hand out no connection that the server dropped while it sat in the pool (a restart of
    PostgreSQL, an idle timeout), without a round trip for every request as ``pool_pre_ping``
    costs: only a connection idle for more than ``IDLE_PING_SECONDS`` is pinged, and a dead
    one is replaced before anything runs on it. One that dies while in use fails its request,
    whose transaction is rolled back, and is discarded."""

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["abasto_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("abasto_idle_since", None)
        if since is None or time.monotonic() - since <= IDLE_PING_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error:
            alive = False
        if not alive:
            # The pool drops this connection and checks out another (a new one if need be).
            raise DisconnectionError("la conexión inactiva ya no responde")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (below) instead of pysqlite's deferred one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        # FULL: an acknowledged commit survives a power cut, not only a crash of the process.
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: a deferred transaction that reads and then
        # writes fails at once with SQLITE_BUSY when another writer went first, instead of waiting.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


def among(column: SQLColumnExpression[int], name: str, *, postgresql: bool) -> ColumnElement[bool]:
    """``column IN :name``, for a statement built once per dialect. On PostgreSQL the values go
    as one array parameter, so the statement reads the same whatever their count and its plan
    is prepared once, not planned each time (a bid names 20 to 50 partidas, hundreds a second
    in a rush)."""
    if postgresql:
        return column == any_(bindparam(name, type_=ARRAY(Integer)))
    return column.in_(bindparam(name, expanding=True))


def sqlstate(error: BaseException) -> str | None:
    """PostgreSQL's SQLSTATE of a database error (``40P01``), None for any other error."""
    code: str | None = getattr(getattr(error, "orig", None), "sqlstate", None)
    return code


def foreign_key_violated(error: BaseException) -> bool:
    """Whether a database error is a foreign key's (PostgreSQL's SQLSTATE 23503, SQLite's
    message): a row names one deleted meanwhile, not a duplicate of another."""
    return sqlstate(error) == "23503" or "FOREIGN KEY constraint failed" in str(
        getattr(error, "orig", None)
    )


TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
"""A serialization failure, a deadlock, a lock not obtained in time: the transaction was rolled
back by the database, and the same request a moment later may well succeed."""


def transient(error: BaseException) -> bool:
    """Whether a database error is one of those (``TRANSIENT_SQLSTATES``, or SQLite's busy
    database)."""
    return sqlstate(error) in TRANSIENT_SQLSTATES or "database is locked" in str(
        getattr(error, "orig", None)
    )


def error_kind(exc: BaseException) -> str:
    """What may be said of an error without its message: its type, and the database's own
    type and SQLSTATE for a database error (``DataError (NumericValueOutOfRange, 22003)``)."""
    kind = type(exc).__name__
    orig = getattr(exc, "orig", None)
    if orig is not None:
        code = sqlstate(exc)
        kind += f" ({type(orig).__name__}{f', {code}' if code else ''})"
    return kind


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work: commits when the block ends normally, rolls back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# Alembic is imported where a migration step runs, not with this module: every command imports
# this module, and alembic costs about 0.15 s of a command's start (issue 18, item 12).


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option(
        "script_location", str(Path(__file__).resolve().parents[1] / "migrations")
    )
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(engine: Engine) -> None:
    """Run every pending migration (``abasto db upgrade``)."""
    from alembic import command

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations" / "versions"
_REVISION_LINE = re.compile(r'^(down_revision|revision)\s*:[^=]*=\s*(?:"([^"]*)"|None)', re.M)


def head_revision() -> str | None:
    """The newest migration: the one no other names as its ``down_revision``.

    Read from the migration files' two declaration lines, without Alembic's script directory,
    which imports every migration (``tests/core/test_db.py`` checks both agree)."""
    revisions, parents = set(), set()
    for path in MIGRATIONS.glob("*.py"):
        found = dict(_REVISION_LINE.findall(path.read_text()))
        if found.get("revision"):
            revisions.add(found["revision"])
        if found.get("down_revision"):
            parents.add(found["down_revision"])
    heads = sorted(revisions - parents)
    if len(heads) > 1:
        raise RuntimeError(f"the migrations have more than one head: {heads}")
    return heads[0] if heads else None


def current_revision(engine: Engine) -> str | None:
    """The database's migration, read from Alembic's ``alembic_version`` table (None if empty)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def check_schema(engine: Engine) -> None:
    """Refuse to run on a schema that is behind the code."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaBehind(
            f"La base de datos está en la versión {current or 'vacía'} y el código espera {head}. "
            "Ejecute «abasto db upgrade» para actualizarla."
        )
