"""A fresh PostgreSQL database for a benchmark, recreated and migrated, beside the others';
and a synthetic catalog to fill it with."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import URL, make_url

from abasto.catalog import service as catalog
from abasto.core.context import Context
from abasto.core.db import make_engine, normalise_url, upgrade

SETTLE_SECONDS = 300.0
"""How long ``settle`` waits at most for the server's autovacuum workers."""


def fresh_postgres(url: str, *, suffix: str = "", migrate: bool = True) -> Engine:
    """The database ``url`` names (``…_{suffix}`` with a suffix), dropped, created again and,
    unless told otherwise, built by the migrations."""
    found = make_url(normalise_url(url))
    if suffix:
        found = found.set(database=f"{found.database}_{suffix}")
    _drop(found)
    with _admin(found) as conn:
        conn.execute(text(f'CREATE DATABASE "{found.database}"'))
    engine = make_engine(found.render_as_string(hide_password=False))
    if migrate:
        upgrade(engine)
    return engine


def drop_postgres(engine: Engine) -> None:
    """The benchmark's database dropped once measured: the autovacuum of its millions of new
    rows would otherwise run beside the benchmarks after it."""
    engine.dispose()
    _drop(engine.url)


def settle(url: str, *, limit: float = SETTLE_SECONDS) -> float:
    """Wait until the server runs no autovacuum worker (the tail of an earlier benchmark's
    writes, on a core this one would share), at most ``limit`` seconds, then write the dirty
    buffers out (``CHECKPOINT``); the seconds waited, the checkpoint's included."""
    began = time.perf_counter()
    with _admin(make_url(normalise_url(url))) as conn:
        while time.perf_counter() - began < limit and conn.scalar(
            text("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")
        ):
            time.sleep(1.0)
        conn.execute(text("CHECKPOINT"))
    return time.perf_counter() - began


@contextmanager
def _admin(url: URL) -> Iterator[Connection]:
    """A connection to the server of ``url``, outside any database of the benchmarks'."""
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            yield conn
    finally:
        admin.dispose()


def _drop(url: URL) -> None:
    with _admin(url) as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))


def synthetic_claves(count: int) -> list[str]:
    """``count`` claves in the Compendio's shape: 010.000.0001.00, 010.000.0002.00, …"""
    return [f"010.000.{i:04d}.00" for i in range(1, count + 1)]


def import_synthetic_catalog(ctx: Context, claves: list[str]) -> None:
    """The claves as a catalog, through the catalog's import (as a buyer would load one)."""
    catalog.import_catalog(
        ctx,
        content=(
            "Clave,Descripción\n" + "".join(f"{c},Medicamento {c}\n" for c in claves)
        ).encode(),
        filename="catalogo.csv",
    )
