"""Fixtures: a database built by the migrations, one rolled-back transaction per test, an app.

``ABASTO_TEST_DATABASE_URL`` points the suite at PostgreSQL (CI does); without it the suite
runs on a temporary SQLite file.
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import uvicorn
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import Result

from abasto.core import checkpoints
from abasto.core.clock import FixedClock
from abasto.core.config import Settings
from abasto.core.context import Context, operator
from abasto.core.db import make_engine, normalise_url, upgrade
from abasto.core.signed_note import Signer
from abasto.web.app import create_app

SHARED = Path(__file__).resolve().parents[2] / "shared"
T0 = datetime(2026, 11, 2, 16, 0, tzinfo=UTC)
LOG_KEY = base64.b64encode(bytes(range(32))).decode()
"""The suite's ledger checkpoint key (``ABASTO_LOG_KEY``): a fixed seed, for tests only."""


def pytest_report_header(config: pytest.Config) -> str:
    url = os.environ.get("ABASTO_TEST_DATABASE_URL")
    if url:
        return f"abasto: database PostgreSQL ({make_url(normalise_url(url)).render_as_string()})"
    return "abasto: database SQLite (set ABASTO_TEST_DATABASE_URL for PostgreSQL)"


SLOW_FIRST = (
    "scenario/test_cli.py",
    "award/test_instance.py",
    "tendering/test_confidentiality.py",
    "scenario/test_contracts.py",
    "tendering/test_live.py",
    "demand/test_cli.py",
    "scenario/test_award.py",
    "web/test_app.py",
    "transparency/test_ocds_scenario.py",
    "demand/test_service.py",
)
"""Files with the suite's longest tests (``make pytest`` prints them), run first: under
pytest-xdist's work stealing a worker then never ends the run alone on one of them. Only the
order changes; a file missing from the list runs where it always did."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    rank = {here / name: place for place, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path, len(SLOW_FIRST)))


PRODUCTION_HASHER: PasswordHasher | None = None
"""``abasto.identity.service``'s password hasher as the application makes it, kept before the
suite's cheap one replaces it (``tests/identity/test_service.py`` checks its cost)."""


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """Argon2 at its smallest cost for the whole suite: at the real cost each hash and each login
    takes 0.1 s of CPU, and the suite makes and logs in thousands of users. The hashes are still
    argon2id, verified the same way; the unknown-user dummy hash is made at the same cost."""
    global PRODUCTION_HASHER
    from abasto.identity import service

    PRODUCTION_HASHER = service._hasher
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(service, "_hasher", cheap)
        patch.setattr(service, "_DUMMY_HASH", cheap.hash("abasto-dummy-password"))
        yield


def _admin_engine(url: str) -> Engine:
    admin = make_url(normalise_url(url)).set(database="postgres")
    return create_engine(admin, isolation_level="AUTOCOMMIT")


def _recreate_postgres(url: str, *, template: str | None = None) -> None:
    name = make_url(normalise_url(url)).database
    copied = f' TEMPLATE "{template}"' if template else ""
    admin = _admin_engine(url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"{copied}'))
    admin.dispose()


def _per_worker(url: str) -> str:
    """The database of this pytest-xdist worker: ``abasto_ci`` becomes ``abasto_ci_gw0``, so the
    workers never share one (each recreates its own)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    found = make_url(normalise_url(url))
    return found.set(database=f"{found.database}_{worker}").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url(migrated_template: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh database for this run (for this worker, under pytest-xdist): a copy of
    ``migrated_template``, so every migration runs once per worker, not twice."""
    if migrated_template.startswith("sqlite"):
        path = tmp_path_factory.mktemp("db") / "abasto.db"
        shutil.copyfile(make_url(migrated_template).database or "", path)
        return f"sqlite:///{path}"
    url = _per_worker(os.environ["ABASTO_TEST_DATABASE_URL"])
    _recreate_postgres(url, template=make_url(migrated_template).database)
    return url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    built = make_engine(database_url)
    yield built
    built.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """One outer transaction per test, rolled back at the end: tests never see each other."""
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        outer.rollback()


@pytest.fixture
def sessions(connection: Connection) -> sessionmaker[Session]:
    # A commit in the code under test releases a savepoint; the outer transaction rolls back.
    return sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@pytest.fixture
def db(sessions: sessionmaker[Session]) -> Iterator[Session]:
    session = sessions()
    yield session
    session.close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def ctx(db: Session, clock: FixedClock) -> Context:
    """A buyer-level operator acting now, as the CLI does."""
    return Context(db=db, actor=operator("pruebas"), now=clock.now())


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        database_url=database_url, data_dir=tmp_path, secret_key="test-secret", log_key=LOG_KEY
    )


@pytest.fixture
def signer(settings: Settings) -> Signer:
    """The ledger's checkpoint signer of the app built from ``settings``."""
    made = checkpoints.signer_from_settings(settings)
    assert made is not None
    return made


@pytest.fixture
def client(
    settings: Settings, engine: Engine, sessions: sessionmaker[Session], clock: FixedClock
) -> Iterator[TestClient]:
    # check=False: the schema check opens a second connection, which on SQLite would wait for the
    # write lock this test's transaction holds; test_app checks the schema check on its own.
    app = create_app(settings, engine=engine, clock=clock, sessions=sessions, check=False)
    with PageClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


CSRF_IN_PAGE = re.compile(r'"X-CSRF-Token": "([0-9a-f]*)"')


def csrf_token_of(client: TestClient) -> str:
    """The CSRF token our pages give the client's session, read from a page as a browser has it
    (``<body hx-headers>``; each form's hidden field holds the same)."""
    found = CSRF_IN_PAGE.search(client.get("/").text)
    assert found, "the page carries no CSRF token"
    return found.group(1)


class PageClient(TestClient):
    """A test client that, like our pages, sends the session's CSRF token with every unsafe
    request it makes with a session cookie (the tests of the defence itself pass
    ``headers={"X-CSRF-Token": ...}`` of their own, or use a plain ``TestClient``)."""

    _token: tuple[str, str] | None = None
    send_csrf = True
    """False: send what the test says and nothing more, as another site's page would."""

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
        session = self.cookies.get("abasto_sesion")
        headers = dict(kwargs.pop("headers", None) or {})
        unsafe = method.upper() not in ("GET", "HEAD", "OPTIONS")
        given = any(k.lower() in ("authorization", "x-csrf-token") for k in headers)
        if session and self.send_csrf and unsafe and not given:
            if self._token is None or self._token[0] != session:
                self._token = (session, csrf_token_of(self))
            headers["X-CSRF-Token"] = self._token[1]
        return super().request(method, url, *args, headers=headers or None, **kwargs)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated, empty database (one per pytest-xdist worker) that the worker's database and
    fresh ones are copied from: copying takes a fraction of running every migration again.
    ``ABASTO_TEST_DATABASE_URL`` points the suite at PostgreSQL; without it, SQLite files."""
    configured = os.environ.get("ABASTO_TEST_DATABASE_URL")
    if configured:
        found = make_url(normalise_url(_per_worker(configured)))
        url = found.set(database=f"{found.database}_template").render_as_string(hide_password=False)
        _recreate_postgres(url)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('template') / 'template.db'}"
    built = make_engine(url)
    upgrade(built)
    built.dispose()
    return url


@pytest.fixture
def fresh_database_url(migrated_template: str, tmp_path: Path) -> Iterator[str]:
    """A separate, committed, migrated database for tests that run the real CLI against it."""
    if migrated_template.startswith("sqlite"):
        path = tmp_path / "fresh.db"
        shutil.copyfile(make_url(migrated_template).database or "", path)
        yield f"sqlite:///{path}"
        return
    template = make_url(normalise_url(migrated_template))
    # Named after the worker's database, so a run's leftovers are told apart from another's.
    name = f"{template.database}_fresh_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine(migrated_template)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template.database}"'))
    yield template.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


PASSWORD = "contrasena-segura-1"


def make_user(
    ctx: Context,
    username: str,
    role: str,
    *,
    institution: str | None = None,
    supplier: str | None = None,
) -> None:
    """A user made through the service, with the suite's password."""
    from abasto.identity import service
    from abasto.identity.models import Role

    service.create_user(
        ctx,
        username=username,
        full_name=username.title(),
        password=PASSWORD,
        role=Role(role),
        institution_code=institution,
        supplier_rfc=supplier,
    )
    ctx.db.flush()


def bearer(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    """Authorization headers of a fresh token for the user."""
    response = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def xlsx(sheets: dict[str, Sequence[Sequence[object]]]) -> bytes:
    """A workbook with these sheets, rows from spreadsheet row 1."""
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        worksheet = workbook.create_sheet(name)
        for row in rows:
            worksheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _invoked(url: str, tmp_path: Path, args: Sequence[str]) -> Result:
    from typer.testing import CliRunner

    from abasto.cli import app
    from abasto.core import cli as core_cli

    # Rich reads COLUMNS once, when its console is made, at the first import of core.cli,
    # which in a worker may come from any test: give every invocation the same wide page.
    for shown in (core_cli.console, core_cli.err_console):
        shown.width = 200

    env = {
        "ABASTO_DATABASE_URL": url,
        "ABASTO_DATA_DIR": str(tmp_path / "data"),
        "ABASTO_SECRET_KEY": "test-secret",
        # Rich wraps at the terminal width; a pipe has none, so fix one wide enough.
        "COLUMNS": "200",
    }
    return CliRunner(env=env).invoke(app, list(args))


def run_abasto(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The `abasto` command against the database at ``url``, as a user would run it, but in this
    process (a new interpreter per command cost the suite a second each): its exit code, stdout
    and stderr, where an exception that escapes the command prints its traceback and exits 1,
    as Python does. ``tests/web/test_app.py`` runs the installed command itself."""
    result = _invoked(url, tmp_path, args)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "Traceback (most recent call last):\n" + "".join(
            traceback.format_exception(result.exception)
        )
    return subprocess.CompletedProcess(["abasto", *args], result.exit_code, result.stdout, stderr)


def invoke_abasto(url: str, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """The `abasto` command in this process against the database at ``url``: exit code,
    stdout and stderr."""
    done = run_abasto(url, tmp_path, *args)
    return done.returncode, done.stdout, done.stderr


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@contextmanager
def served(database_url: str, data_dir: Path) -> Iterator[str]:
    """The whole application served by uvicorn on a free local port; yields its base URL."""
    engine = make_engine(database_url)
    settings = Settings(
        database_url=database_url, data_dir=data_dir, secret_key="test", log_key=LOG_KEY
    )
    app = create_app(settings, engine=engine)
    # Bound here and handed over, so no other process can take the port in between.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="off", server_header=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the application server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        engine.dispose()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, started once per session (per pytest-xdist worker);
    missing Chromium fails the test instead of skipping it."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: install it with `make chromium` "
            "(apt-get install chromium); browser tests are not skipped."
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def browser(chromium: Browser) -> Iterator[Browser]:
    """The session's Chromium; the pages and contexts a test opens are closed after it, so no
    cookie or storage outlives the test."""
    yield chromium
    for context in list(chromium.contexts):
        context.close()


def bomb_xlsx(rows_xml: bytes, *, dimension: str | None = None) -> bytes:
    """A workbook whose one sheet's rows are ``rows_xml`` as written: a "row bomb" when they are
    many and alike (the zip packs 300,000 equal rows into a few kilobytes)."""
    scaffold = xlsx({"Hoja1": [["Clave"]]})
    head = b'<dimension ref="%s"/>' % dimension.encode() if dimension else b""
    sheet = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        + head
        + b"<sheetData>"
        + rows_xml
        + b"</sheetData></worksheet>"
    )
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(scaffold)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for member in source.infolist():
            data = source.read(member)
            if member.filename == "xl/worksheets/sheet1.xml":
                data = sheet
            target.writestr(member.filename, data, compresslevel=9)
    return out.getvalue()


def row_bomb(rows: int = 300_000) -> bytes:
    """The bid sheet of issue 14: a few kilobytes, hundreds of thousands of rows."""
    return bomb_xlsx(b"<row><c><v>1</v></c></row>" * rows)
