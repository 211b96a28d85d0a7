"""The live feed across processes: an event committed by one process reaches a viewer of another.

On PostgreSQL the server's slow poll is set to a minute, so only LISTEN/NOTIFY can deliver the
event in time; on SQLite, where there is no cross-process notification, the poll must.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
import pytest

from abasto.catalog import service as catalog
from abasto.core.config import Settings
from abasto.core.context import Context, operator
from abasto.core.db import make_engine, session_factory, transaction
from abasto.tendering import service
from abasto.tendering.live import FeedEvent, read_feed
from abasto.tendering.sealing import Sealer

SECRET = "test-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def published(fresh_database_url: str, tmp_path: Path) -> int:
    """A committed, published tender in a database of its own."""
    engine = make_engine(fresh_database_url)
    sealer = Sealer.from_settings(
        Settings(database_url=fresh_database_url, data_dir=tmp_path, secret_key=SECRET)
    )
    now = datetime.now(UTC)
    with transaction(session_factory(engine)) as db:
        ctx = Context(db=db, actor=operator("pruebas"), now=now)
        catalog.import_catalog(
            ctx,
            content=b"Clave,Descripcion\n010.000.0104.00,Paracetamol. Tableta 500 mg.\n",
            filename="catalogo.csv",
        )
        tender = service.create_tender(
            ctx,
            sealer,
            title="Licitación del feed en vivo",
            procedure="licitacion_nacional",
            partidas=[service.PartidaInput("010.000.0104.00", 40, 100)],
            clarification_deadline=now + timedelta(days=10),
            bid_deadline=now + timedelta(days=20),
            opening_at=now + timedelta(days=20, hours=1),
            fallo_at=now + timedelta(days=25),
        )
        service.publish_tender(ctx, tender_id=tender.id)
        tender_id = tender.id
    engine.dispose()
    return tender_id


@pytest.fixture
def server(fresh_database_url: str, tmp_path: Path) -> Iterator[str]:
    """``abasto serve`` in a process of its own."""
    port = _free_port()
    env = {
        **os.environ,
        "ABASTO_DATABASE_URL": fresh_database_url,
        "ABASTO_DATA_DIR": str(tmp_path / "data"),
        "ABASTO_SECRET_KEY": SECRET,
        "ABASTO_LIVE_POLL_SECONDS": "60" if fresh_database_url.startswith("postgres") else "0.2",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "abasto", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/api/v1/tenders", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"abasto serve did not start: {process.communicate()[1][-2000:]}")
        time.sleep(0.1)
    try:
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _listen(url: str, into: queue.Queue[tuple[float, dict[str, object]]]) -> None:
    try:
        with httpx.stream("GET", url, timeout=httpx.Timeout(5, read=None)) as response:
            for line in response.iter_lines():
                if line.startswith("data: "):
                    into.put((time.monotonic(), json.loads(line[len("data: ") :])))
    except httpx.HTTPError:
        pass  # the server stopped at the end of the test


def test_an_event_committed_elsewhere_reaches_the_viewer(
    published: int, server: str, fresh_database_url: str, tmp_path: Path
) -> None:
    received: queue.Queue[tuple[float, dict[str, object]]] = queue.Queue()
    threading.Thread(
        target=_listen, args=(f"{server}/api/v1/tenders/{published}/live", received), daemon=True
    ).start()
    _, first = received.get(timeout=10)
    assert first["action"] == "tender.publish"  # the history comes first

    engine = make_engine(fresh_database_url)
    with transaction(session_factory(engine)) as db:
        ctx = Context(db=db, actor=operator("pruebas"), now=datetime.now(UTC))
        service.cancel_tender(ctx, tender_id=published, reason="Prueba de difusión en vivo")
    committed = time.monotonic()

    arrived, event = received.get(timeout=10)
    assert event["action"] == "tender.cancel"
    with session_factory(engine)() as db:
        stored: list[FeedEvent] = read_feed(db, published)
    engine.dispose()
    assert event["seq"] == stored[-1].seq
    # Well under the PostgreSQL server's one-minute poll: the notification delivered it.
    assert arrived - committed < 5


def test_a_late_viewer_gets_only_what_follows_its_last_event(
    published: int, server: str, fresh_database_url: str
) -> None:
    engine = make_engine(fresh_database_url)
    with transaction(session_factory(engine)) as db:
        ctx = Context(db=db, actor=operator("pruebas"), now=datetime.now(UTC))
        service.cancel_tender(ctx, tender_id=published, reason="Para probar Last-Event-ID")
    with session_factory(engine)() as db:
        feed = read_feed(db, published)
    engine.dispose()
    assert [e.action for e in feed] == ["tender.publish", "tender.cancel"]

    response = httpx.get(
        f"{server}/api/v1/tenders/{published}/live?follow=false",
        headers={"Last-Event-ID": str(feed[0].seq)},
        timeout=10,
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    ids = [int(line[4:]) for line in response.text.splitlines() if line.startswith("id: ")]
    assert ids == [feed[1].seq]
