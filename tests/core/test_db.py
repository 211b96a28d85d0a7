"""The PostgreSQL pool: a connection the server dropped while idle is never handed out; every
session plans for a working set in memory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from abasto.core import db as core_db
from abasto.core.db import make_engine


@pytest.fixture
def pooled(database_url: str) -> Iterator[Engine]:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: the SQLite engine keeps no pool (NullPool)")
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def _backend(engine: Engine) -> int:
    with engine.connect() as conn:
        pid: int = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    return pid


def _drop(engine: Engine, pid: int) -> None:
    """What a restart of the server does to a pooled connection: its backend ends."""
    other = make_engine(engine.url.render_as_string(hide_password=False))
    with other.connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    other.dispose()


def test_a_connection_dropped_while_idle_is_replaced_before_use(
    pooled: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend(pooled)
    _drop(pooled, first)
    monkeypatch.setattr(core_db, "IDLE_PING_SECONDS", 0.0)
    second = _backend(pooled)
    assert second != first


def test_a_connection_used_a_moment_ago_is_not_pinged(
    pooled: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other side of the same rule: within the idle time no ping is made (that is what the
    rush saves), so a connection dropped in that moment fails the one request that takes it."""
    first = _backend(pooled)
    _drop(pooled, first)
    monkeypatch.setattr(core_db, "IDLE_PING_SECONDS", 3600.0)
    with pytest.raises(OperationalError):
        _backend(pooled)
    assert _backend(pooled) != first


def test_sessions_plan_for_data_in_memory_unless_the_url_says_otherwise(pooled: Engine) -> None:
    with pooled.connect() as conn:
        assert conn.execute(text("SHOW random_page_cost")).scalar_one() == "1.1"
    url = pooled.url.update_query_dict({"options": "-c random_page_cost=2 -c work_mem=8MB"})
    own = make_engine(url.render_as_string(hide_password=False))
    with own.connect() as conn:
        assert conn.execute(text("SHOW random_page_cost")).scalar_one() == "2"
        assert conn.execute(text("SHOW work_mem")).scalar_one() == "8MB"
    own.dispose()


def test_the_head_read_from_the_files_is_alembics_head() -> None:
    """``head_revision`` reads two lines of each migration instead of importing them all."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(core_db.alembic_config("sqlite://"))

    assert core_db.head_revision() == script.get_current_head()


def test_the_current_revision_is_alembics(engine: Engine) -> None:
    from alembic.runtime.migration import MigrationContext

    empty = make_engine("sqlite://")
    with engine.connect() as connection:
        expected = MigrationContext.configure(connection).get_current_revision()

    assert core_db.current_revision(engine) == expected == core_db.head_revision()
    assert core_db.current_revision(empty) is None
    empty.dispose()
