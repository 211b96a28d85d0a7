"""Tendering benchmark: a bid rush over HTTP, and the live feed of an opening fanned out.

Both run against the real application served by uvicorn (a subprocess) on PostgreSQL, in a
database of their own (``…_tendering``, recreated), with the catalog, suppliers and prices of the
generated national scenario:

- *bid rush*: a published licitación of 4,000 partidas and many suppliers, each with its own
  bearer token and keep-alive connection, sending JSON bids of 20 to 50 partidas (``POST`` the
  first, then ``PUT`` replacements), each with an ``Idempotency-Key``. First at full speed (every
  supplier sends its next bid as soon as it has the receipt of the last: the ceiling), then at a
  steady offered rate (Poisson arrivals, latency counted from the scheduled instant). Afterwards
  every receipt acknowledged with 201 is looked up: its bid row with the same commitment, and
  its ``bid.seal`` ledger entry.
- *live fan-out*: a licitación whose opening time has passed, with sealed bids; thousands of
  SSE viewers of ``/live`` on one uvicorn worker. Once each has its history, another process
  starts the opening and reads the bids out one by one, each in a committed transaction; each
  viewer stamps every event it receives, against the instant its transaction committed.

The load generator is lean on purpose (raw asyncio streams, hand-written HTTP/1.1), yet it shares
the machine's cores with the server and PostgreSQL. ``python -m benchmarks.tendering`` runs only
this benchmark and prints its figures; ``ABASTO_BENCH_TENDER_*`` variables (SUPPLIERS, WORKERS,
FULL_SECONDS, RATE, STEADY_SECONDS, VIEWERS, OPENED_BIDS, PACE) reshape it.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import random
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from abasto.catalog import service as catalog
from abasto.core.config import Settings
from abasto.core.context import Context, operator
from abasto.core.db import make_engine, session_factory, transaction
from abasto.core.ledger import LedgerEntry
from abasto.identity import service as identity
from abasto.identity.models import Role, User
from abasto.scenario.build import build_scenario
from abasto.scenario.catalog import ClaveSpec
from abasto.scenario.load import catalog_csv
from abasto.tendering import rules, service
from abasto.tendering.live import feed_entity
from abasto.tendering.models import Bid
from abasto.tendering.sealing import Sealer
from benchmarks.databases import fresh_postgres

Figure = tuple[str, str, float, str, str]
"""(name, database, value, unit, note), as ``benchmarks.__main__.Figure`` takes them."""

POSTGRES_URL = os.environ.get(
    "ABASTO_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/abasto_bench"
)
SECRET = "abasto-bench-tendering"
SEED = 2026
PARTIDAS = 4000
SUPPLIERS = int(os.environ.get("ABASTO_BENCH_TENDER_SUPPLIERS", "300"))
RUSH_WORKERS = int(os.environ.get("ABASTO_BENCH_TENDER_WORKERS", "2"))
FULL_SPEED_SECONDS = float(os.environ.get("ABASTO_BENCH_TENDER_FULL_SECONDS", "15"))
STEADY_RATE = float(os.environ.get("ABASTO_BENCH_TENDER_RATE", "300"))
STEADY_SECONDS = float(os.environ.get("ABASTO_BENCH_TENDER_STEADY_SECONDS", "20"))
WARM_UP_SECONDS = 2.0
REQUEST_TIMEOUT = 10.0
"""A bid without an answer by then counts as refused (its connection is dropped)."""
VIEWERS = int(os.environ.get("ABASTO_BENCH_TENDER_VIEWERS", "2000"))
OPENED_BIDS = int(os.environ.get("ABASTO_BENCH_TENDER_OPENED_BIDS", "40"))
PACED_STEPS = OPENED_BIDS // 2
"""Bids read out at OPENING_PACE; the rest are read out as fast as the opening goes."""
OPENING_PACE = float(os.environ.get("ABASTO_BENCH_TENDER_PACE", "1.0"))
RATE_GOAL = 300.0
P99_GOAL_MS = 250.0
VIEWERS_GOAL = 2000
DELIVERY_P99_GOAL_MS = 1000.0
HOST = "127.0.0.1"

COUNTRIES = ("México", "México", "México", "India", "España", "Alemania", "Estados Unidos")
MAKERS = (
    "Laboratorios Pisa, S.A. de C.V.",
    "Laboratorios Senosiain, S.A. de C.V.",
    "Probiomed, S.A. de C.V.",
    "Laboratorios Liomont, S.A. de C.V.",
    "Pfizer, S.A. de C.V.",
    "Sanofi-Aventis de México, S.A. de C.V.",
    "Dr. Reddy's Laboratories Ltd.",
    "Grifols México, S.A. de C.V.",
)


# ----- the whole run -------------------------------------------------------------------------


def run() -> list[Figure]:
    _raise_open_files()
    engine = _fresh_postgres()
    url = engine.url.render_as_string(hide_password=False)
    try:
        print(f"  preparing: {PARTIDAS:,} partidas, {SUPPLIERS} suppliers…", flush=True)
        began = time.perf_counter()
        world = _prepare(engine)
        print(f"  prepared in {time.perf_counter() - began:.1f} s", flush=True)
        with tempfile.TemporaryDirectory(prefix="abasto-bench-tendering-") as folder:
            with _serving(url, Path(folder), workers=RUSH_WORKERS) as server:
                rush = asyncio.run(_bid_rush(server, engine, world))
            lost = _lost(engine, world.rush_tender, rush.receipts)
            print(f"  lost: {lost} of {len(rush.receipts):,} acknowledged receipts", flush=True)
            figures = _rush_figures(rush, lost, len(world.bidders), server.errors())
            with _serving(url, Path(folder), workers=1) as server:
                fan = asyncio.run(_fan_out(server, engine, world))
            figures += _fan_out_figures(fan, server.errors())
        return figures
    finally:
        engine.dispose()


def _raise_open_files() -> None:
    """Room for every viewer's socket, in this process and in the server it starts."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if max(soft, wanted) < VIEWERS + 1024:
        raise SystemExit(f"the open-files limit ({hard}) is too low for {VIEWERS:,} viewers")


def _fresh_postgres() -> Engine:
    return fresh_postgres(POSTGRES_URL, suffix="tendering")


def _settings(url: str, folder: Path) -> Settings:
    return Settings(database_url=url, data_dir=folder, secret_key=SECRET)


# ----- the data: catalog, suppliers with tokens, two licitaciones ----------------------------


@dataclass(frozen=True, slots=True)
class Bidder:
    number: int
    token: str
    bodies: tuple[bytes, ...]
    """A few different bids of this supplier, as JSON, sent in turn."""


@dataclass
class World:
    rush_tender: int
    open_tender: int
    bidders: list[Bidder]


def _prepare(engine: Engine) -> World:
    rng = random.Random(SEED)
    scenario = build_scenario(SEED, "national")
    claves = list(scenario.claves[:PARTIDAS])
    if len(claves) < PARTIDAS:
        raise RuntimeError(f"the scenario has {len(claves)} claves, fewer than {PARTIDAS}")
    sessions = session_factory(engine)
    sealer = Sealer.from_settings(_settings(str(engine.url), Path(".")))
    now = datetime.now(UTC)
    with transaction(sessions) as db:
        catalog.import_catalog(_ctx(db, now), content=catalog_csv(scenario), filename="claves.csv")
    suppliers = [s for s in scenario.suppliers if not s.sanctions_lookalike][:SUPPLIERS]
    if len(suppliers) < SUPPLIERS:
        raise RuntimeError(f"the scenario has only {len(suppliers)} suppliers")
    # Bearer tokens are what the rush uses; the users' passwords are never checked here, so they
    # are hashed with cheap argon2 parameters (3 s instead of 35 s of setting up).
    hasher = identity._hasher
    identity._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    users: list[User] = []
    tokens: list[str] = []
    try:
        with transaction(sessions) as db:
            ctx = _ctx(db, now)
            for number, spec in enumerate(suppliers, start=1):
                identity.register_supplier(
                    ctx, rfc=spec.rfc, razon_social=spec.razon_social, state_code=spec.state_code
                )
                user = identity.create_user(
                    ctx,
                    username=f"proveedor{number:03d}",
                    full_name=f"Representante de {spec.razon_social}",
                    password="contraseña-de-prueba",
                    role=Role.proveedor,
                    supplier_rfc=spec.rfc,
                )
                users.append(user)
                tokens.append(
                    identity.issue_credential(
                        ctx, user=user, kind="token", ttl=timedelta(days=2), label="benchmark"
                    )
                )
    finally:
        identity._hasher = hasher
    quantities = [_quantities(rng) for _ in claves]
    partidas = [
        service.PartidaInput(c.clave, low, high)
        for c, (low, high) in zip(claves, quantities, strict=True)
    ]
    with transaction(sessions) as db:
        ctx = _ctx(db, now)
        rush = service.create_tender(
            ctx,
            sealer,
            title="Compra consolidada de medicamentos 2027-2028 (prueba de carga)",
            procedure="licitacion_nacional",
            partidas=partidas,
            clarification_deadline=now + timedelta(days=10),
            bid_deadline=now + timedelta(days=20),
            opening_at=now + timedelta(days=20, hours=2),
            fallo_at=now + timedelta(days=30),
        )
        service.publish_tender(ctx, tender_id=rush.id)
    # The tender to open was published 40 days ago and took its bids 25 days ago: its opening
    # time has passed, and only the opening is left to do.
    past = now - timedelta(days=40)
    with transaction(sessions) as db:
        ctx = _ctx(db, past)
        opening = service.create_tender(
            ctx,
            sealer,
            title="Compra consolidada de medicamentos 2026 (apertura en vivo)",
            procedure="licitacion_nacional",
            partidas=partidas,
            clarification_deadline=past + timedelta(days=10),
            bid_deadline=past + timedelta(days=20),
            opening_at=past + timedelta(days=20, hours=2),
            fallo_at=past + timedelta(days=30),
        )
        service.publish_tender(ctx, tender_id=opening.id)
    for user in users[:OPENED_BIDS]:
        with transaction(sessions) as db:
            ctx = Context(db=db, actor=identity.actor_of(user), now=past + timedelta(days=15))
            service.submit_bid(
                ctx, sealer, tender_id=opening.id, lines=_lines(rng, claves, quantities)
            )
    bidders = [
        Bidder(
            number,
            token,
            tuple(
                json.dumps(
                    {"lines": [_line_json(x) for x in _lines(rng, claves, quantities)]}
                ).encode()
                for _ in range(3)
            ),
        )
        for number, token in enumerate(tokens, start=1)
    ]
    # A tender takes bids days after its publication, when autovacuum has long analyzed its
    # partidas; a benchmark that starts at once would have the planner guess at an empty table.
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()
    return World(rush.id, opening.id, bidders)


def _ctx(db: Session, now: datetime) -> Context:
    return Context(db=db, actor=operator("bench"), now=now)


def _quantities(rng: random.Random) -> tuple[int, int]:
    high = int(rng.lognormvariate(9, 1.5)) + 10
    return int(high * rng.uniform(0.4, 0.8)), high


def _lines(
    rng: random.Random, claves: Sequence[ClaveSpec], quantities: Sequence[tuple[int, int]]
) -> list[rules.BidLineInput]:
    """A supplier's bid: 20 to 50 partidas near their reference prices, with their details."""
    chosen = sorted(rng.sample(range(len(claves)), rng.randint(20, 50)))
    lines = []
    for index in chosen:
        clave = claves[index]
        low, high = quantities[index]
        price = (clave.reference_price * Decimal(str(rng.uniform(0.8, 1.2)))).quantize(
            Decimal("0.01")
        )
        lines.append(
            rules.BidLineInput(
                partida=index + 1,
                unit_price=str(max(price, Decimal("0.01"))),
                quantity=rng.randint(low, high),
                presentation=clave.presentation,
                registro_sanitario=f"{rng.randint(100, 999)}M{rng.randint(2005, 2024)} SSA",
                manufacturer=rng.choice(MAKERS),
                country=rng.choice(COUNTRIES),
            )
        )
    return lines


def _line_json(line: rules.BidLineInput) -> dict[str, Any]:
    return {
        "partida": line.partida,
        "unit_price": line.unit_price,
        "quantity": line.quantity,
        "presentation": line.presentation,
        "registro_sanitario": line.registro_sanitario,
        "manufacturer": line.manufacturer,
        "country": line.country,
    }


# ----- the server ----------------------------------------------------------------------------


@dataclass
class Server:
    """The application under uvicorn: its port, processes and log."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def pids(self) -> list[int]:
        """The uvicorn process and its workers."""
        found = [self.process.pid]
        for entry in Path("/proc").glob("[0-9]*"):
            stat = _stat(int(entry.name))
            if stat is not None and int(stat[1]) == self.process.pid:
                found.append(int(entry.name))
        return found

    def errors(self) -> tuple[int, str]:
        """Tracebacks the server logged, and their final exceptions with how often each came."""
        if not self.log.exists():
            return 0, ""
        finals: dict[str, int] = {}
        final = None
        for line in [*self.log.read_text(errors="replace").splitlines(), "Traceback"]:
            if line.startswith(("Traceback", "ERROR:", "unexpected error")):
                if final is not None:
                    finals[final] = finals.get(final, 0) + 1
                final = None
            elif line.startswith(("The above", "During handling")):
                final = None  # a chained exception: the traceback that follows is the one
            elif line and not line.startswith(" "):
                final = line.split(" by <", 1)[0][:110]
        summary = "; ".join(f"{text} ×{count:,}" for text, count in finals.items())
        return sum(finals.values()), summary


@contextmanager
def _serving(url: str, folder: Path, *, workers: int) -> Iterator[Server]:
    """The application under uvicorn, as a server runs it (``serving_app``)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = int(probe.getsockname()[1])
    env = {
        **os.environ,
        "ABASTO_DATABASE_URL": url,
        "ABASTO_DATA_DIR": str(folder),
        "ABASTO_SECRET_KEY": SECRET,
        "ABASTO_MASTER_KEY": "",
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "abasto.web.app:serving_app",
        "--factory",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
        "--no-server-header",
        "--backlog",
        "4096",
    ]
    log = folder / f"uvicorn-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(port, process, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {process.returncode}: {log.read_text()}")
            try:
                with urllib.request.urlopen(f"http://{HOST}:{port}/api/v1/tenders", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("uvicorn did not start in 60 s") from None
                time.sleep(0.2)
        time.sleep(1.0 if workers > 1 else 0.2)  # every worker up, not only the first
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            # Requests still stuck inside: end uvicorn and its workers (its own process group).
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state, ppid, …), or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _cpu_seconds(pids: Sequence[int]) -> float:
    """User and system CPU time of these processes so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        stat = _stat(pid)
        if stat is not None:
            total += int(stat[11]) + int(stat[12])
    return total / ticks


def _all_cpu() -> dict[int, float]:
    return {
        int(entry.name): _cpu_seconds([int(entry.name)]) for entry in Path("/proc").glob("[0-9]*")
    }


def _backends(engine: Engine) -> list[int]:
    """PostgreSQL backends connected to the benchmark's database, other than ours."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalars()
        )


@dataclass
class CpuMeter:
    """CPU seconds taken by the server, PostgreSQL and this process over a stretch."""

    server: Server
    engine: Engine
    began: dict[int, float] = field(default_factory=dict)
    own: float = 0.0

    def start(self) -> None:
        self.began = _all_cpu()
        self.own = time.process_time()

    def stop(self) -> tuple[float, float, float]:
        ended = _all_cpu()
        server = sum(ended.get(p, 0.0) - self.began.get(p, 0.0) for p in self.server.pids())
        postgres = sum(ended.get(p, 0.0) - self.began.get(p, 0.0) for p in _backends(self.engine))
        return server, postgres, time.process_time() - self.own


# ----- a lean HTTP/1.1 client ----------------------------------------------------------------


class HttpConnection:
    """One keep-alive connection; requests one at a time, bodies by Content-Length or chunks."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> HttpConnection:
        reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 22)
        return cls(reader, writer)

    async def request(
        self, method: str, path: str, headers: Sequence[tuple[str, str]], body: bytes = b""
    ) -> tuple[int, bytes]:
        head = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", f"Content-Length: {len(body)}"]
        head += [f"{name}: {value}" for name, value in headers]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        status, length, chunked = await self.read_head()
        if chunked:
            parts = []
            while (part := await self.read_chunk()) is not None:
                parts.append(part)
            return status, b"".join(parts)
        return status, await self.reader.readexactly(length)

    async def read_head(self) -> tuple[int, int, bool]:
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split()[1])
        length, chunked = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        return status, length, chunked

    async def read_chunk(self) -> bytes | None:
        size = int((await self.reader.readline()).split(b";")[0], 16)
        data = await self.reader.readexactly(size + 2)
        return data[:-2] if size else None

    def close(self) -> None:
        self.writer.close()


# ----- (a) the bid rush ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sent:
    phase: str
    began: float
    ended: float
    status: int
    """The HTTP status; 0 when the connection failed."""


@dataclass
class Phase:
    window: tuple[float, float] = (0.0, 0.0)
    cpu: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """(server, PostgreSQL, load generator) CPU seconds over the whole phase."""
    load: float = 0.0
    """The machine's 1-minute load average as the phase began."""
    not_started: int = 0
    """Bids due that found every supplier still waiting for its previous receipt."""


@dataclass
class Rush:
    sent: list[Sent] = field(default_factory=list)
    receipts: list[tuple[str, str]] = field(default_factory=list)
    """(bid id, commitment) of every 201."""
    refused: list[str] = field(default_factory=list)
    phases: dict[str, Phase] = field(default_factory=dict)


class Supplier:
    """One supplier's client: its token, its connection, its current bid."""

    def __init__(self, bidder: Bidder, tender_id: int, port: int) -> None:
        self.bidder = bidder
        self.tender_id = tender_id
        self.port = port
        self.connection: HttpConnection | None = None
        self.current: str | None = None
        self.turn = 0

    async def submit(self, rush: Rush, phase: str, began: float) -> None:
        """Send the next bid (the first with POST, then replacements with PUT)."""
        body = self.bidder.bodies[self.turn % len(self.bidder.bodies)]
        self.turn += 1
        path = f"/api/v1/tenders/{self.tender_id}/bids"
        method = "POST"
        if self.current is not None:
            method, path = "PUT", f"{path}/{self.current}"
        headers = (
            ("Authorization", f"Bearer {self.bidder.token}"),
            ("Content-Type", "application/json"),
            ("Idempotency-Key", uuid.uuid4().hex),
        )
        try:
            if self.connection is None:
                self.connection = await HttpConnection.open(self.port)
            status, answer = await asyncio.wait_for(
                self.connection.request(method, path, headers, body), REQUEST_TIMEOUT
            )
        except (OSError, ValueError, asyncio.IncompleteReadError, TimeoutError) as exc:
            if self.connection is not None:
                self.connection.close()
            self.connection = None
            status, answer = 0, repr(exc).encode()
        rush.sent.append(Sent(phase, began, time.perf_counter(), status))
        if status == 201:
            receipt = json.loads(answer)
            self.current = receipt["bid_id"]
            rush.receipts.append((receipt["bid_id"], receipt["commitment"]))
        else:
            rush.refused.append(f"{status} {answer[:200].decode(errors='replace')}")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


async def _bid_rush(server: Server, engine: Engine, world: World) -> Rush:
    rush = Rush()
    suppliers = [Supplier(b, world.rush_tender, server.port) for b in world.bidders]
    for supplier in suppliers:
        supplier.connection = await HttpConnection.open(server.port)
    meter = CpuMeter(server, engine)

    # Full speed: every supplier sends its next bid as soon as it has its last receipt.
    phase = rush.phases["full"] = Phase(load=os.getloadavg()[0])
    meter.start()
    began = time.perf_counter()
    stop = began + FULL_SPEED_SECONDS

    async def flat_out(supplier: Supplier) -> None:
        while time.perf_counter() < stop:
            await supplier.submit(rush, "full", time.perf_counter())

    await asyncio.gather(*(flat_out(s) for s in suppliers))
    phase.cpu = meter.stop()
    phase.window = (began + WARM_UP_SECONDS, stop)

    # A steady offered rate: Poisson arrivals, each handed to an idle supplier and timed from
    # the instant it was due, so waiting for a free supplier counts against the server.
    phase = rush.phases["steady"] = Phase(load=os.getloadavg()[0])
    rng = random.Random(SEED)
    idle = deque(suppliers)
    running: set[asyncio.Task[None]] = set()
    meter.start()
    began = time.perf_counter()
    stop = began + STEADY_SECONDS
    due = began

    async def one(supplier: Supplier, due: float) -> None:
        try:
            await supplier.submit(rush, "steady", due)
        finally:
            idle.append(supplier)

    while True:
        due += rng.expovariate(STEADY_RATE)
        if due >= stop:
            break
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        while not idle and time.perf_counter() < stop:
            await asyncio.sleep(0.001)
        if not idle:
            phase.not_started += 1
            continue
        task = asyncio.create_task(one(idle.popleft(), due))
        running.add(task)
        task.add_done_callback(running.discard)
    await asyncio.gather(*running)
    phase.cpu = meter.stop()
    phase.window = (began + WARM_UP_SECONDS, stop)
    for supplier in suppliers:
        supplier.close()
    return rush


def _lost(engine: Engine, tender_id: int, receipts: Sequence[tuple[str, str]]) -> int:
    """Acknowledged receipts whose bid row or ``bid.seal`` entry is missing or differs."""
    with Session(engine) as db:
        stored = {
            row.id: row.commitment
            for row in db.execute(select(Bid.id, Bid.commitment).where(Bid.tender_id == tender_id))
        }
        sealed = {}
        for (payload,) in db.execute(
            select(LedgerEntry.payload).where(
                LedgerEntry.entity == feed_entity(tender_id), LedgerEntry.action == "bid.seal"
            )
        ):
            data = json.loads(payload)
            sealed[data["bid"]] = data["commitment"]
    return sum(
        1
        for bid_id, digest in receipts
        if stored.get(bid_id) != digest or sealed.get(bid_id) != digest
    )


def _rush_figures(
    rush: Rush, lost: int, suppliers: int, server_errors: tuple[int, str]
) -> list[Figure]:
    refused = len(rush.refused)
    if refused:
        print(f"  {refused:,} submissions refused, e.g. {rush.refused[0]}", flush=True)
    tracebacks, summary = server_errors
    if tracebacks:
        print(f"  the server logged {tracebacks:,} tracebacks: {summary}", flush=True)
    phase = rush.phases["full"]
    start, end = phase.window
    sent = [s for s in rush.sent if s.phase == "full"]
    full = [s for s in sent if s.status == 201 and start <= s.ended < end]
    full_rate = len(full) / (end - start)
    full_ms = sorted((s.ended - s.began) * 1000 for s in full)
    acknowledged = sum(1 for s in sent if s.status == 201)
    server_cpu, pg_cpu, own_cpu = (1000 * x / max(acknowledged, 1) for x in phase.cpu)
    failed = _statuses([s for s in sent if s.status != 201])
    cost = (
        f"CPU per acknowledged bid: server {server_cpu:.1f} ms, PostgreSQL {pg_cpu:.1f} ms, "
        f"load generator {own_cpu:.1f} ms"
        if acknowledged
        else "no bid acknowledged"
    )
    full_note = (
        f"({_meets(full_rate >= RATE_GOAL)} the goal of {RATE_GOAL:.0f}/s); "
        f"{suppliers} in flight: p50 {_pct(full_ms, 50):,.0f} ms, p99 {_pct(full_ms, 99):,.0f} ms; "
        f"{cost}; {failed or 'none refused'}; uvicorn, {RUSH_WORKERS} workers; "
        f"load average {phase.load:.1f} at the start"
    )
    if tracebacks:
        full_note += f"; server log: {summary}"
    figures: list[Figure] = [
        (
            f"bid rush, {suppliers} suppliers at full speed, JSON bids of 20-50 partidas "
            f"to a {PARTIDAS:,}-partida tender: bids acknowledged (201)",
            "PostgreSQL",
            full_rate,
            "submissions/s",
            full_note,
        )
    ]
    phase = rush.phases["steady"]
    start, end = phase.window
    due = [s for s in rush.sent if s.phase == "steady" and start <= s.began < end]
    steady_ok = [s for s in due if s.status == 201]
    steady_rate = len(steady_ok) / (end - start)
    steady_ms = sorted((s.ended - s.began) * 1000 for s in steady_ok)
    p50, p99 = _pct(steady_ms, 50), _pct(steady_ms, 99)
    failed = _statuses([s for s in due if s.status != 201])
    steady_note = (
        f"{len(steady_ok):,} of {len(due):,} due in {end - start:.0f} s acknowledged; "
        f"{failed or 'none refused'}; {phase.not_started:,} never sent (every supplier still "
        f"waiting); load average {phase.load:.1f} at the start"
    )
    figures += [
        (
            f"bid rush at an offered {STEADY_RATE:.0f} bids/s (Poisson arrivals, {suppliers} "
            "suppliers): bids acknowledged",
            "PostgreSQL",
            steady_rate,
            "submissions/s",
            steady_note,
        ),
        (
            f"bid rush at {STEADY_RATE:.0f}/s: latency p50 (from the instant due)",
            "PostgreSQL",
            p50,
            "ms",
            "",
        ),
        (
            f"bid rush at {STEADY_RATE:.0f}/s: latency p99 (from the instant due)",
            "PostgreSQL",
            p99,
            "ms",
            f"({_meets(p99 <= P99_GOAL_MS)} the goal of {P99_GOAL_MS:.0f} ms); "
            f"max {steady_ms[-1] if steady_ms else 0:,.0f} ms",
        ),
        (
            "bid rush: acknowledged receipts whose bid is not stored",
            "PostgreSQL",
            float(lost),
            "lost",
            (
                f"({_meets(lost == 0)} the goal of 0); each of the {len(rush.receipts):,} "
                "receipts looked up in `bids` (same commitment) and in the `bid.seal` entries"
            )
            if rush.receipts
            else "(nothing to check: no bid was acknowledged)",
        ),
    ]
    return figures


def _statuses(sent: Sequence[Sent]) -> str:
    """ "12 refused (HTTP 500 ×12)"; empty when there are none."""
    if not sent:
        return ""
    counts: dict[int, int] = {}
    for item in sent:
        counts[item.status] = counts.get(item.status, 0) + 1
    detail = ", ".join(
        f"{'no answer' if status == 0 else f'HTTP {status}'} ×{count:,}"
        for status, count in sorted(counts.items())
    )
    return f"{len(sent):,} refused ({detail})"


# ----- (b) the live fan-out ------------------------------------------------------------------


@dataclass
class Viewer:
    ready: bool = False
    finished: bool = False
    received: list[tuple[int, float]] = field(default_factory=list)
    """(seq, receive instant) of each event after the history."""
    error: str | None = None


@dataclass
class FanOut:
    viewers: list[Viewer]
    history_seconds: float
    commits: list[tuple[int, float]]
    """(last seq of the transaction, commit instant) of each step of the opening."""
    expected: list[int]
    cpu: tuple[float, float, float]
    load: float


async def _view(port: int, tender_id: int, history_until: int, viewer: Viewer) -> None:
    """One viewer: the SSE stream read raw, each event stamped as its chunk arrives."""
    try:
        connection = await HttpConnection.open(port)
    except OSError as exc:
        viewer.error = repr(exc)
        return
    try:
        connection.writer.write(
            f"GET /api/v1/tenders/{tender_id}/live HTTP/1.1\r\nHost: {HOST}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        status, _, chunked = await connection.read_head()
        if status != 200 or not chunked:
            viewer.error = f"HTTP {status}"
            return
        buffer = b""
        while True:
            chunk = await connection.read_chunk()
            if chunk is None:
                viewer.error = "the stream ended"
                return
            at = time.time()
            buffer += chunk
            while b"\n\n" in buffer:
                item, buffer = buffer.split(b"\n\n", 1)
                if not item.startswith(b"id: "):
                    continue
                seq = int(item[4 : item.index(b"\n")])
                if seq > history_until:
                    viewer.received.append((seq, at))
                    if b"\nevent: tender.opened\n" in item:
                        viewer.finished = True
                        return
                elif seq == history_until:
                    viewer.ready = True
    except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
        viewer.error = repr(exc)
    finally:
        connection.close()


def _feed_seqs(engine: Engine, tender_id: int, after: int = 0) -> list[int]:
    with Session(engine) as db:
        return list(
            db.scalars(
                select(LedgerEntry.seq)
                .where(
                    LedgerEntry.entity == feed_entity(tender_id),
                    LedgerEntry.public.is_(True),
                    LedgerEntry.seq > after,
                )
                .order_by(LedgerEntry.seq)
            )
        )


async def _fan_out(server: Server, engine: Engine, world: World) -> FanOut:
    history_until = _feed_seqs(engine, world.open_tender)[-1]
    viewers = [Viewer() for _ in range(VIEWERS)]
    tasks: list[asyncio.Task[None]] = []
    began = time.perf_counter()
    for index, viewer in enumerate(viewers):
        tasks.append(
            asyncio.create_task(_view(server.port, world.open_tender, history_until, viewer))
        )
        if index % 100 == 99:
            await asyncio.sleep(0.05)
    deadline = time.perf_counter() + 120
    while not all(v.ready or v.error for v in viewers) and time.perf_counter() < deadline:
        await asyncio.sleep(0.1)
    history_seconds = time.perf_counter() - began
    ready = sum(v.ready for v in viewers)
    print(
        f"  {ready:,} of {VIEWERS:,} viewers have the history ({history_seconds:.1f} s); opening…",
        flush=True,
    )
    load = os.getloadavg()[0]
    meter = CpuMeter(server, engine)
    meter.start()
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe(duplex=False)
    url = engine.url.render_as_string(hide_password=False)
    driver = context.Process(
        target=_drive_opening, args=(url, world.open_tender, PACED_STEPS, OPENING_PACE, theirs)
    )
    driver.start()
    commits: list[tuple[int, float]] = await asyncio.to_thread(ours.recv)
    await asyncio.to_thread(driver.join)
    done, _ = await asyncio.wait(tasks, timeout=120)
    cpu = meter.stop()
    for task in tasks:
        if task not in done:
            task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    expected = _feed_seqs(engine, world.open_tender, history_until)
    return FanOut(viewers, history_seconds, commits, expected, cpu, load)


def _drive_opening(
    url: str, tender_id: int, paced_steps: int, pace: float, out: Connection
) -> None:
    """In a process of its own: start the opening, then read the bids out, a transaction each.

    The first ``paced_steps`` bids are read out ``pace`` seconds apart, the rest flat out.
    """
    engine = make_engine(url)
    sessions: sessionmaker[Session] = session_factory(engine)
    sealer = Sealer.from_settings(_settings(url, Path(".")))
    commits: list[tuple[int, float]] = []

    def step(first: bool) -> bool:
        with transaction(sessions) as db:
            ctx = _ctx(db, datetime.now(UTC))
            if first:
                service.start_opening(ctx, tender_id=tender_id)
                more = True
            else:
                more = service.open_next_bid(ctx, sealer, tender_id=tender_id)
            last = db.scalar(
                select(func.max(LedgerEntry.seq)).where(
                    LedgerEntry.entity == feed_entity(tender_id)
                )
            )
        commits.append((int(last or 0), time.time()))
        return more

    more = step(True)
    while more:
        # Steps 0 to ``paced_steps`` are paced, the last one too: its events reach the viewers
        # before the burst begins, not while the burst's steps compete with them.
        if len(commits) - 1 <= paced_steps:
            time.sleep(pace)
        more = step(False)
    out.send(commits)
    out.close()
    engine.dispose()


@dataclass(frozen=True, slots=True)
class Delivery:
    step: int
    latency_ms: float
    received: float


def _fan_out_figures(fan: FanOut, server_errors: tuple[int, str]) -> list[Figure]:
    expected = fan.expected
    step_of: dict[int, int] = {}
    committed: dict[int, float] = {}
    previous = 0
    for step, (last, at) in enumerate(fan.commits):
        for seq in expected:
            if previous < seq <= last:
                step_of[seq], committed[seq] = step, at
        previous = last
    held = sum(
        1
        for v in fan.viewers
        if v.ready and v.finished and [seq for seq, _ in v.received] == expected
    )
    failed = [v.error for v in fan.viewers if v.error]
    if failed:
        print(f"  {len(failed):,} viewers failed, e.g. {failed[0]}", flush=True)
    errors, first_error = server_errors
    if errors:
        print(f"  the server logged {errors:,} tracebacks: {first_error}", flush=True)
    deliveries = [
        Delivery(step_of[seq], (at - committed[seq]) * 1000, at)
        for v in fan.viewers
        for seq, at in v.received
        if seq in committed
    ]
    paced = [d for d in deliveries if d.step <= PACED_STEPS]
    burst = [d for d in deliveries if d.step > PACED_STEPS]
    paced_ms = sorted(d.latency_ms for d in paced)
    burst_ms = sorted(d.latency_ms for d in burst)
    paced_events = sum(1 for seq in expected if step_of.get(seq, -1) <= PACED_STEPS)
    first_burst = min((at for step, (_, at) in enumerate(fan.commits) if step > PACED_STEPS))
    last_received = max((d.received for d in burst), default=first_burst)
    burst_seconds = max(last_received - first_burst, 1e-9)
    burst_rate = len(burst) / burst_seconds
    server_cpu = 1e6 * fan.cpu[0] / max(len(deliveries), 1)
    own_cpu = 1e6 * fan.cpu[2] / max(len(deliveries), 1)
    p99 = _pct(paced_ms, 99)
    paced_seconds = fan.commits[PACED_STEPS][1] - fan.commits[0][1] if fan.commits else 0.0
    return [
        (
            "live fan-out: SSE viewers of one opening held to its end, one uvicorn worker",
            "PostgreSQL",
            float(held),
            "viewers",
            f"({_meets(held >= VIEWERS_GOAL)} the goal of {VIEWERS_GOAL:,}); {VIEWERS:,} "
            f"connected; every event, in order, to {held:,}; {len(failed):,} failed; "
            f"the history reached all in {fan.history_seconds:.1f} s; "
            f"tracebacks in the server log: {errors:,}{f' ({first_error})' if errors else ''}",
        ),
        (
            f"live fan-out, opening read out one bid every {OPENING_PACE:g} s: events delivered",
            "PostgreSQL",
            len(paced) / max(paced_seconds, 1e-9),
            "events/s",
            f"{len(paced):,} deliveries of {paced_events} events in {paced_seconds:.1f} s; "
            f"load average {fan.load:.1f} at the start",
        ),
        (
            "live fan-out at that pace: delivery latency p50 (commit → viewer)",
            "PostgreSQL",
            _pct(paced_ms, 50),
            "ms",
            "",
        ),
        (
            "live fan-out at that pace: delivery latency p99 (commit → viewer)",
            "PostgreSQL",
            p99,
            "ms",
            f"({_meets(p99 <= DELIVERY_P99_GOAL_MS)} the goal of "
            f"{DELIVERY_P99_GOAL_MS:,.0f} ms); max {paced_ms[-1] if paced_ms else 0:,.0f} ms",
        ),
        (
            "live fan-out, the remaining bids read out flat out: events delivered",
            "PostgreSQL",
            burst_rate,
            "events/s",
            f"{len(burst):,} deliveries of {len(expected) - paced_events} events in "
            f"{burst_seconds:.1f} s; latency p50 {_pct(burst_ms, 50):,.0f} ms, "
            f"p99 {_pct(burst_ms, 99):,.0f} ms; CPU per delivery over the opening: server "
            f"{server_cpu:,.0f} µs, viewers' process {own_cpu:,.0f} µs",
        ),
    ]


# ----- helpers -------------------------------------------------------------------------------


def _pct(sorted_values: Sequence[float], percent: float) -> float:
    if not sorted_values:
        return float("nan")
    if len(sorted_values) == 1:
        return sorted_values[0]
    return statistics.quantiles(sorted_values, n=100, method="inclusive")[int(percent) - 1]


def _meets(ok: bool) -> str:
    return "meets" if ok else "MISSES"


if __name__ == "__main__":
    for figure in run():
        print(figure)
