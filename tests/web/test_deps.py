"""Uploads are read before the database slot, within limits, one at a time per user."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from abasto.core.context import Context
from abasto.identity import service as identity
from abasto.identity.rules import make_rfc
from abasto.web import deps
from tests.conftest import bearer, make_user, row_bomb

RFC = make_rfc("FAB", date(2001, 5, 17), "K3")
SHEET_NAME = "bomba.xlsx"

# One upload route of each family, API and page, with a user whose role may use it.
ROUTES = [
    ("/api/v1/tenders/1/bids/sheet", "proveedor"),
    ("/proveedor/licitaciones/1/proposiciones", "proveedor"),
    ("/api/v1/demand/rounds/2027/imports", "comprador0"),
    ("/api/v1/demand/rounds/2027/institutions/IMSS/sheet", "comprador0"),
    ("/api/v1/demand/consumption/imports", "comprador0"),
    ("/demanda/2027/importar", "comprador0"),
    ("/demanda/2027/IMSS/hoja", "comprador0"),
    ("/api/v1/catalog/imports", "comprador0"),
    ("/api/v1/institutions/IMSS/homologations", "comprador0"),
    ("/catalogo/importar", "comprador0"),
    ("/api/v1/prices/imports", "comprador0"),
    ("/precios/importar", "comprador0"),
    ("/api/v1/tenders/1/evaluations/sheet", "evaluador"),
    ("/evaluacion/licitaciones/1/hoja", "evaluador"),
    ("/api/v1/sanctions/imports", "comprador0"),
    ("/sancionados/importar", "comprador0"),
]


def _users(ctx: Context, *names: str) -> None:
    """Users named after their role (``comprador0``, ``comprador1``: two buyers)."""
    for name in names:
        role = name.rstrip("0123456789")
        if role == "proveedor":
            identity.register_supplier(ctx, rfc=RFC, razon_social="Farmacéutica, S.A. de C.V.")
        make_user(ctx, name, role, supplier=RFC if role == "proveedor" else None)
    ctx.db.commit()


@pytest.fixture
def buyers(ctx: Context) -> Context:
    _users(ctx, "comprador0", "comprador1")
    return ctx


def _upload(client: TestClient, path: str, headers: dict[str, str], content: bytes) -> Response:
    files = {"file": (SHEET_NAME, io.BytesIO(content), "application/octet-stream")}
    return client.post(path, files=files, headers=headers)


def _small_sheet() -> bytes:
    workbook = openpyxl.Workbook()
    workbook.active.append(["Clave", "Descripción"])
    workbook.active.append(["010.000.0104.00", "Paracetamol. Tableta 500 mg."])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(("path", "username"), ROUTES, ids=[path for path, _ in ROUTES])
def test_a_row_bomb_is_refused_naming_the_limit(
    client: TestClient, ctx: Context, path: str, username: str
) -> None:
    _users(ctx, username)
    headers, bomb = bearer(client, username), row_bomb()
    response = _upload(client, path, headers, bomb)
    assert response.status_code == 413, response.text
    if path.startswith("/api/"):
        body = response.json()
        assert body["title"] == "Archivo demasiado grande"
        assert "excede el límite de tasa de compresión" in body["detail"]
        assert body["errors"][0]["expected"] == "a lo más 100"
    else:
        assert "excede el límite de tasa de compresión" in response.text
        assert "el máximo es 100" in response.text


@pytest.fixture
def blocked_read(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[threading.Event, threading.Event]]:
    """Workbooks wait, once open, until the test lets them go: a read that takes its time."""
    started, release = threading.Event(), threading.Event()
    load = openpyxl.load_workbook

    def slow_load(*args: Any, **kwargs: Any) -> Any:
        started.set()
        assert release.wait(10), "the test never released the read"
        return load(*args, **kwargs)

    monkeypatch.setattr(openpyxl, "load_workbook", slow_load)
    yield started, release
    release.set()


def _in_thread(call: Callable[[], Response]) -> tuple[threading.Thread, list[Response]]:
    answers: list[Response] = []
    thread = threading.Thread(target=lambda: answers.append(call()), daemon=True)
    thread.start()
    return thread, answers


def test_no_database_slot_is_held_while_an_upload_is_read(
    client: TestClient,
    buyers: Context,
    monkeypatch: pytest.MonkeyPatch,
    blocked_read: tuple[threading.Event, threading.Event],
) -> None:
    # One slot only (taken anew for this test's event loop): a read holding it would stop
    # every other request until it ends.
    monkeypatch.setattr(deps, "DB_SLOTS", 1)
    monkeypatch.setattr(deps, "_slots", type(deps._slots)())
    started, release = blocked_read
    headers = bearer(client, "comprador0")
    upload, answers = _in_thread(
        lambda: _upload(client, "/api/v1/catalog/imports", headers, _small_sheet())
    )
    assert started.wait(10)
    page, pages = _in_thread(lambda: client.get("/api/v1/claves"))
    page.join(5)
    assert pages, "a public request waited for the read"
    assert pages[0].status_code == 200
    release.set()
    upload.join(10)
    assert answers[0].status_code == 201, answers[0].text


def test_a_second_upload_of_the_same_user_is_refused_while_the_first_is_read(
    client: TestClient, buyers: Context, blocked_read: tuple[threading.Event, threading.Event]
) -> None:
    started, release = blocked_read
    headers = bearer(client, "comprador0")
    first, answers = _in_thread(
        lambda: _upload(client, "/api/v1/catalog/imports", headers, _small_sheet())
    )
    assert started.wait(10)
    second = _upload(client, "/api/v1/catalog/imports", bearer(client, "comprador0"), b"x")
    assert second.status_code == 429, second.text
    assert second.headers["retry-after"] == str(deps.PARSE_RETRY_AFTER)
    assert "Ya se está leyendo otro archivo" in second.json()["detail"]
    # Another user's upload is not refused: it waits for the process's one reading turn. (A
    # bomb, refused without a session: the test's sessions share one connection.)
    other_headers, bomb = bearer(client, "comprador1"), row_bomb()
    other, others = _in_thread(
        lambda: _upload(client, "/api/v1/catalog/imports", other_headers, bomb)
    )
    other.join(1)
    assert not others, "another user's upload was read while the first held the turn"
    release.set()
    first.join(10)
    other.join(10)
    assert answers[0].status_code == 201, answers[0].text
    assert others[0].status_code == 413, others[0].text
    # Once the first is read, the same user may upload again.
    again = _upload(client, "/api/v1/catalog/imports", headers, b"x")
    assert again.status_code == 422, again.text
