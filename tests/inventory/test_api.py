"""The inventory API as a pharmacy system and a warehouse use it: Idempotency-Key, uploads."""

from __future__ import annotations

import io
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from abasto.core.context import Context
from abasto.inventory import service
from abasto.inventory.models import StockMovement
from tests.conftest import bearer, make_user, xlsx
from tests.inventory.factories import (
    ASPIRINA,
    EXPIRES,
    PARACETAMOL,
    SOON,
    build_sector,
    stock,
    unit,
)

UNIT = "/api/v1/inventory/units/IMSS/HGZ-1"


@pytest.fixture
def pharmacy(ctx: Context, client: TestClient) -> dict[str, str]:
    """The sector, stock in HGZ-1, and the token of an IMSS warehouse user."""
    build_sector(ctx)
    stock(ctx, unit(ctx), PARACETAMOL, ("A", EXPIRES, 10), ("B", SOON, 5))
    make_user(ctx, "farmacia", "institucion", institution="IMSS")
    make_user(ctx, "ajena", "institucion", institution="ISSSTE")
    ctx.db.commit()
    return bearer(client, "farmacia")


def _movements(ctx: Context) -> int:
    return ctx.db.scalar(select(func.count()).select_from(StockMovement)) or 0


def _dispense(client: TestClient, headers: dict[str, str], key: str, quantity: int) -> Any:
    return client.post(
        UNIT + "/dispensings",
        json={"lines": [{"clave": PARACETAMOL, "quantity": quantity}]},
        headers={**headers, "Idempotency-Key": key},
    )


def test_a_repeated_dispensing_returns_the_first_answer_and_posts_once(
    client: TestClient, ctx: Context, pharmacy: dict[str, str]
) -> None:
    first = _dispense(client, pharmacy, "venta-0001", 7)
    assert first.status_code == 201, first.text
    assert [(m["lot"], m["quantity"]) for m in first.json()["movements"]] == [("B", -5), ("A", -2)]
    before = _movements(ctx)
    again = _dispense(client, pharmacy, "venta-0001", 7)
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert _movements(ctx) == before
    other = _dispense(client, pharmacy, "venta-0001", 8)
    assert other.status_code == 409
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    stock_now = client.get(UNIT + "/stock", headers=pharmacy).json()
    assert stock_now[0]["on_hand"] == 8


def test_a_dispensing_needs_its_key_and_never_exceeds_the_stock(
    client: TestClient, pharmacy: dict[str, str]
) -> None:
    missing = client.post(
        UNIT + "/dispensings",
        json={"lines": [{"clave": PARACETAMOL, "quantity": 1}]},
        headers=pharmacy,
    )
    assert missing.status_code == 422
    too_many = _dispense(client, pharmacy, "venta-2", 16)
    assert too_many.status_code == 409
    assert too_many.json()["errors"][0]["expected"] == "a lo más 15"
    # A refused request leaves its key free: the same key with a quantity in stock posts.
    assert _dispense(client, pharmacy, "venta-2", 15).status_code == 201


def test_another_institution_cannot_read_or_dispense_in_the_unit(
    client: TestClient, pharmacy: dict[str, str]
) -> None:
    alien = bearer(client, "ajena")
    assert client.get(UNIT + "/stock", headers=alien).status_code == 403
    assert _dispense(client, alien, "k", 1).status_code == 403


def _upload(client: TestClient, headers: dict[str, str], content: bytes, name: str) -> Any:
    return client.post(
        UNIT + "/uploads", files={"file": (name, io.BytesIO(content), "text/csv")}, headers=headers
    )


def test_a_movements_csv_posts_every_row_or_none(
    client: TestClient, ctx: Context, pharmacy: dict[str, str]
) -> None:
    bad = (
        "Fecha,Clave,Movimiento,Lote,Caducidad,Cantidad,Motivo\n"
        f"2026-11-01,{ASPIRINA},recepción,R1,2027-05-31,40,\n"
        f"2026-11-01,{ASPIRINA},regalo,R1,2027-05-31,4,\n"
        f"2026-13-01,{ASPIRINA},dispensación,,,x,\n"
    )
    before = _movements(ctx)
    refused = _upload(client, pharmacy, bad.encode(), "dia.csv")
    assert refused.status_code == 422
    located = {(p["row"], p["column"]) for p in refused.json()["errors"]}
    assert located == {(3, "Movimiento"), (4, "Fecha"), (4, "Cantidad")}
    assert _movements(ctx) == before
    good = (
        "Fecha,Clave,Movimiento,Lote,Caducidad,Cantidad,Motivo\n"
        f"01/11/2026,{ASPIRINA},recepción,R1,2027-05-31,40,\n"
        f"2026-11-02,{ASPIRINA},dispensación,,,12,\n"
        f"2026-11-02,{ASPIRINA},ajuste,R1,2027-05-31,-3,Blíster dañado\n"
    )
    done = _upload(client, pharmacy, good.encode(), "dia.csv")
    assert done.status_code == 201, done.text
    assert (done.json()["movements"], done.json()["days"]) == (3, 2)
    aspirina = [
        s for s in client.get(UNIT + "/stock", headers=pharmacy).json() if s["clave"] == ASPIRINA
    ]
    assert aspirina[0]["on_hand"] == 25
    assert _upload(client, pharmacy, good.encode(), "dia.csv").status_code == 409


def test_an_upload_beyond_the_stock_names_its_row(
    client: TestClient, ctx: Context, pharmacy: dict[str, str]
) -> None:
    content = (
        "Fecha,Clave,Movimiento,Lote,Caducidad,Cantidad\n"
        f"2026-11-02,{PARACETAMOL},dispensación,,,10\n"
        f"2026-11-02,{PARACETAMOL},dispensación,,,10\n"
    )
    refused = _upload(client, pharmacy, content.encode(), "dia.csv")
    assert refused.status_code == 409
    assert refused.json()["errors"][0]["row"] == 3
    assert _movements(ctx) == 2  # the two receipts of the fixture


def test_a_stock_snapshot_workbook_counts_each_clave_it_lists(
    client: TestClient, ctx: Context, pharmacy: dict[str, str]
) -> None:
    content = xlsx(
        {
            "Existencias": [
                ["Clave", "Lote", "Caducidad", "Existencia"],
                [PARACETAMOL, "A", "2027-06-30", 9],
            ]
        }
    )
    done = _upload(client, pharmacy, content, "existencias.xlsx")
    assert done.status_code == 201, done.text
    assert done.json()["layout"] == "existencias"
    lots = service.unit_stock(ctx.db, unit(ctx))[0].lots
    assert [(x.lot, x.quantity) for x in lots] == [("A", 9)]  # B was not on the shelf


def test_the_template_reads_back_as_the_layout_it_documents(client: TestClient) -> None:
    for layout, sheet in (("movimientos", "Movimientos"), ("existencias", "Existencias")):
        response = client.get(f"/api/v1/inventory/upload-template?layout={layout}")
        assert response.status_code == 200
        book = openpyxl.load_workbook(io.BytesIO(response.content))
        assert book.sheetnames == [sheet, "Instrucciones"]
    from abasto.inventory import upload

    moves, counts = upload.read(upload.template("movimientos"), "plantilla.xlsx")
    assert moves is not None
    assert [m.kind.value for m in moves] == [
        "receipt",
        "dispense",
        "adjustment",
    ]
    moves, counts = upload.read(upload.template("existencias"), "plantilla.xlsx")
    assert counts is not None
    assert counts[0].quantity == 474


def test_transfers_through_the_api(
    client: TestClient, ctx: Context, pharmacy: dict[str, str]
) -> None:
    created = client.post(
        "/api/v1/inventory/transfers",
        json={
            "from_institution": "IMSS",
            "from_unit": "HGZ-1",
            "to_institution": "IMSS",
            "to_unit": "UMF-2",
            "clave": PARACETAMOL,
            "quantity": 6,
        },
        headers=pharmacy,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    issued = client.post(
        f"/api/v1/inventory/transfers/{body['id']}/issue",
        json={"version": body["version"]},
        headers=pharmacy,
    )
    assert issued.json()["status"] == "issued"
    received = client.post(f"/api/v1/inventory/transfers/{body['id']}/receive", headers=pharmacy)
    assert received.json()["status"] == "received"
    umf = client.get("/api/v1/inventory/units/IMSS/UMF-2/stock", headers=pharmacy).json()
    assert umf[0]["on_hand"] == 6


def test_the_buyer_suggests_a_redistribution_and_the_unit_sees_it(
    client: TestClient, ctx: Context, pharmacy: dict[str, str]
) -> None:
    make_user(ctx, "comprador", "comprador")
    ctx.db.commit()
    buyer = bearer(client, "comprador")
    assert (
        client.post(
            "/api/v1/inventory/redistributions", json={"clave": PARACETAMOL}, headers=pharmacy
        ).status_code
        == 403
    )
    # Without a snapshot no consumption is known: nobody is short, nothing is suggested.
    done = client.post(
        "/api/v1/inventory/redistributions", json={"clave": PARACETAMOL}, headers=buyer
    )
    assert done.status_code == 201, done.text
    assert done.json() == {"clave": PARACETAMOL, "transfers": [], "moved": 0, "cost": 0}
    listed = client.get("/api/v1/inventory/transfers", headers=pharmacy)
    assert listed.status_code == 200
    assert listed.json() == []


def test_a_units_indicators_are_read_from_the_snapshot(
    client: TestClient, ctx: Context, pharmacy: dict[str, str]
) -> None:
    assert client.get(UNIT + "/indicators", headers=pharmacy).json() == []
    service.snapshot(ctx)
    ctx.db.commit()
    [row] = client.get(UNIT + "/indicators", headers=pharmacy).json()
    assert (row["clave"], row["on_hand"], row["level"]) == (PARACETAMOL, 15, "unknown")
    assert row["stockout_days"] == 89  # stocked only today, of the 90 days
    assert client.get(UNIT + "/indicators", headers=bearer(client, "ajena")).status_code == 403
