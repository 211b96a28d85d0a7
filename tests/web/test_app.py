"""The application shell: schema check at start-up, OpenAPI and docs, error pages."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from abasto.core.config import Settings
from abasto.core.db import make_engine, upgrade
from abasto.core.errors import SchemaBehind
from abasto.web.app import create_app


def test_app_refuses_a_schema_that_is_behind(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    settings = Settings(database_url=url, data_dir=tmp_path, secret_key="x")
    with pytest.raises(SchemaBehind, match="abasto db upgrade"):
        create_app(settings, engine=make_engine(url))


def test_serve_exits_with_the_upgrade_hint_on_an_old_schema(tmp_path: Path) -> None:
    env = {**os.environ, "ABASTO_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    done = subprocess.run(
        [sys.executable, "-m", "abasto", "serve", "--port", "8999"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "abasto db upgrade" in done.stderr


def test_a_server_process_freezes_its_start_up_heap(tmp_path: Path) -> None:
    """``serving_app`` (what uvicorn runs) leaves the start-up objects out of every collection;
    in a process of its own, since a frozen heap stays frozen."""
    url = f"sqlite:///{tmp_path / 'abasto.db'}"
    upgrade(make_engine(url))
    env = {**os.environ, "ABASTO_DATABASE_URL": url, "ABASTO_DATA_DIR": str(tmp_path)}
    script = (
        "import gc; from abasto.web.app import serving_app; "
        "before = gc.get_freeze_count(); app = serving_app(); "
        "print(before, gc.get_freeze_count(), len(app.routes))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    before, frozen, routes = map(int, done.stdout.split())
    assert before == 0
    assert frozen > 100_000
    assert routes > 0


def test_app_starts_on_a_migrated_database(settings: Settings, database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        create_app(settings, engine=engine)
    finally:
        engine.dispose()


def test_openapi_and_docs_are_served_without_internet(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/v1/claves" in spec["paths"]
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "/static/vendor/swagger-ui-5.35.0-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()
    assert client.get("/static/vendor/swagger-ui-5.35.0-bundle.js").status_code == 200


def test_unknown_api_path_is_a_problem_and_unknown_page_is_spanish(client: TestClient) -> None:
    api = client.get("/api/v1/no-existe")
    assert api.status_code == 404
    assert api.headers["content-type"] == "application/problem+json"
    assert api.json()["title"] == "No encontrado"
    page = client.get("/no-existe")
    assert page.status_code == 404
    assert "La dirección solicitada no existe." in page.text
    assert page.headers["content-type"].startswith("text/html")


def test_unexpected_errors_show_no_trace(settings: Settings, engine: object) -> None:
    app = create_app(settings, engine=make_engine(settings.database_url), check=False)

    @app.get("/api/v1/boom")
    def boom() -> None:
        raise RuntimeError("secreto interno")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/boom")
    assert response.status_code == 500
    assert "secreto" not in response.text
    assert "Traceback" not in response.text
    assert response.json()["title"] == "Error interno"


@pytest.mark.parametrize(
    "orig",
    [
        psycopg.errors.DeadlockDetected("deadlock detected"),
        psycopg.errors.LockNotAvailable("canceling statement due to lock timeout"),
        psycopg.errors.SerializationFailure("could not serialize access"),
        sqlite3.OperationalError("database is locked"),
    ],
    ids=["deadlock", "lock-timeout", "serialization", "sqlite-busy"],
)
def test_a_database_too_busy_is_a_503_to_try_again(settings: Settings, orig: Exception) -> None:
    """Rolled back by the database (a deadlock with a day's load, a lock not had in time): the
    client is told that nothing was saved and when to try again, not that the server broke."""
    app = create_app(settings, engine=make_engine(settings.database_url), check=False)

    @app.get("/api/v1/ocupado")
    @app.get("/ocupado")
    def busy() -> None:
        raise OperationalError("UPDATE stock_balances", {}, orig)

    with TestClient(app, raise_server_exceptions=False) as client:
        api, page = client.get("/api/v1/ocupado"), client.get("/ocupado")
    assert (api.status_code, api.headers["retry-after"]) == (503, "5")
    assert api.json()["title"] == "Servicio ocupado"
    assert "no se guardó nada" in api.json()["detail"]
    assert (page.status_code, page.headers["retry-after"]) == (503, "5")
    assert "Intente de nuevo en unos segundos." in page.text
    assert "stock_balances" not in api.text + page.text


def test_other_database_errors_stay_internal_errors(settings: Settings) -> None:
    app = create_app(settings, engine=make_engine(settings.database_url), check=False)

    @app.get("/api/v1/roto")
    def broken() -> None:
        raise OperationalError("SELECT 1", {}, psycopg.errors.DiskFull("no space left"))

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/api/v1/roto").status_code == 500


def test_protected_page_denial_is_a_spanish_401_with_login_link(client: TestClient) -> None:
    response = client.get("/cuenta")
    assert response.status_code == 401
    assert "Inicie sesión para continuar." in response.text
    assert "/entrar?siguiente=" in response.text
