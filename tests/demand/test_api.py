"""The demand API over HTTP: rounds, lines within the user's scope, imports, exports."""

from __future__ import annotations

import io

import openpyxl
import polars as pl
import pytest
from fastapi.testclient import TestClient

from abasto.core.context import Context
from abasto.demand import service
from tests.conftest import bearer, make_user
from tests.demand.test_service import (
    ASPIRINA,
    PARACETAMOL,
    ROUND,
    appendix_file,
    build_world,
    consumption_csv,
    history,
    period_sheet,
)

BASE = f"/api/v1/demand/rounds/{ROUND}"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def world(ctx: Context) -> Context:
    build_world(ctx)
    make_user(ctx, "comprador", "comprador")
    make_user(ctx, "imss", "institucion", institution="IMSS")
    make_user(ctx, "issste", "institucion", institution="ISSSTE")
    make_user(ctx, "auditor", "auditor")
    return ctx


def upload(content: bytes, filename: str = "apendice.xlsx") -> dict[str, tuple[str, bytes, str]]:
    return {"file": (filename, content, XLSX)}


def test_the_buyer_opens_a_round_and_everyone_in_demand_reads_it(
    client: TestClient, world: Context
) -> None:
    buyer = bearer(client, "comprador")

    opened = client.post(
        "/api/v1/demand/rounds",
        json={"name": "2029", "periods": ["2029"], "institutions": ["IMSS"], "min_share": "0.5"},
        headers=buyer,
    )
    listed = client.get("/api/v1/demand/rounds", headers=bearer(client, "imss"))
    progress = client.get("/api/v1/demand/rounds/2029", headers=bearer(client, "auditor"))

    assert opened.status_code == 201, opened.text
    assert opened.json()["status"] == "open"
    assert opened.json()["min_share"] == "0.5"
    # Newest first; both were opened at the same instant of the fixed clock.
    assert {r["name"] for r in listed.json()} == {"2029", ROUND}
    assert progress.json()["institutions"][0]["code"] == "IMSS"
    assert progress.json()["pending"] == 1
    refused = client.post(
        "/api/v1/demand/rounds",
        json={"name": "x/y", "periods": ["2029"]},
        headers=bearer(client, "imss"),
    )
    assert refused.status_code == 403


def test_a_planner_writes_its_own_lines_and_is_refused_others(
    client: TestClient, world: Context
) -> None:
    imss = bearer(client, "imss")
    body = {"min_qty": 40, "max_qty": 100, "version": None}

    created = client.put(f"{BASE}/institutions/IMSS/lines/{PARACETAMOL}", json=body, headers=imss)
    others = client.put(f"{BASE}/institutions/ISSSTE/lines/{PARACETAMOL}", json=body, headers=imss)
    read_others = client.get(f"{BASE}/institutions/ISSSTE/lines", headers=imss)
    read_own = client.get(
        f"{BASE}/institutions/IMSS/lines", params={"only": "con-cantidades"}, headers=imss
    )

    assert created.status_code == 200, created.text
    assert (created.json()["max_qty"], created.json()["version"]) == (100, 1)
    assert others.status_code == 403
    assert others.headers["content-type"] == "application/problem+json"
    assert read_others.status_code == 403
    assert [i["clave"] for i in read_own.json()["items"]] == [PARACETAMOL]
    audited = client.get(f"{BASE}/institutions/IMSS/lines", headers=bearer(client, "auditor"))
    assert audited.status_code == 200
    written = client.put(
        f"{BASE}/institutions/IMSS/lines/{PARACETAMOL}",
        json=body,
        headers=bearer(client, "auditor"),
    )
    assert written.status_code == 403


def test_a_stale_version_is_409_and_bad_quantities_422(client: TestClient, world: Context) -> None:
    imss = bearer(client, "imss")
    url = f"{BASE}/institutions/IMSS/lines/{PARACETAMOL}"
    client.put(url, json={"min_qty": 40, "max_qty": 100, "version": None}, headers=imss)
    client.put(url, json={"min_qty": 40, "max_qty": 90, "version": 1}, headers=imss)

    stale = client.put(url, json={"min_qty": 40, "max_qty": 80, "version": 1}, headers=imss)
    below = client.put(url, json={"min_qty": 10, "max_qty": 80, "version": 2}, headers=imss)
    text = client.put(url, json={"min_qty": "diez", "max_qty": 80, "version": 2}, headers=imss)

    assert stale.status_code == 409
    assert stale.json()["errors"][0]["field"] == "version"
    assert below.status_code == 422
    (problem,) = below.json()["errors"]
    assert (problem["field"], problem["value"]) == ("min_qty", "10")
    assert problem["expected"] == "al menos 32 (el 40 % de 80, redondeado hacia arriba)"
    assert text.status_code == 422


def test_appendix_import_and_its_problems_over_http(client: TestClient, world: Context) -> None:
    buyer = bearer(client, "comprador")
    good = appendix_file(["IMSS", "ISSSTE"], [(PARACETAMOL, 40, 100, 4, 10)])
    bad = appendix_file(["IMSS", "PEMEX"], [(PARACETAMOL, -39, 100, 4, 10)])

    imported = client.post(f"{BASE}/imports", files=upload(good), headers=buyer)
    refused = client.post(f"{BASE}/imports", files=upload(bad), headers=buyer)
    planner = client.post(f"{BASE}/imports", files=upload(good), headers=bearer(client, "imss"))

    assert imported.status_code == 201, imported.text
    assert imported.json()["lines"] == 2
    assert [i["code"] for i in imported.json()["institutions"]] == ["IMSS", "ISSSTE"]
    assert refused.status_code == 422
    errors = refused.json()["errors"]
    assert {e["message"] for e in errors} == {
        "la institución no está registrada",
        "la cantidad es negativa",
    }
    share = next(e for e in errors if e["message"].startswith("la cantidad"))
    assert (share["sheet"], share["row"], share["column"], share["value"]) == (
        "Apéndice",
        4,
        "IMSS — CANTIDAD MIN (columna E)",
        "-39",
    )
    assert share["where"] == "hoja «Apéndice», fila 4, columna «IMSS — CANTIDAD MIN (columna E)»"
    assert planner.status_code == 403


def test_consolidated_view_with_totals_and_breakdown(client: TestClient, world: Context) -> None:
    service.import_appendix(
        world,
        round_name=ROUND,
        content=appendix_file(
            ["IMSS", "CCINSHAE", "INCAN", "HGM"],
            [(PARACETAMOL, 40, 100, 10, 20, 4, 8, 6, 12), (ASPIRINA, 2, 5, None, None, 1, 2, 1, 2)],
        ),
        filename="a.xlsx",
    )

    response = client.get(
        f"{BASE}/consolidated", params={"sort": "total"}, headers=bearer(client, "issste")
    )

    assert response.status_code == 200
    body = response.json()
    assert body["total"] == {"min": 54, "max": 129}
    assert [i["clave"] for i in body["items"]] == [PARACETAMOL, ASPIRINA]
    paracetamol = body["items"][0]
    assert paracetamol["total"] == {"min": 50, "max": 120}
    assert [
        (b["institution"], b["counted"], b["coordinator"]) for b in paracetamol["institutions"]
    ] == [
        ("IMSS", True, None),
        ("CCINSHAE", True, None),
        ("INCAN", False, "CCINSHAE"),
        ("HGM", False, "CCINSHAE"),
    ]
    assert body["items"][1]["total"] == {"min": 4, "max": 9}
    columns = {c["code"]: c for c in body["institutions"]}
    assert columns["INCAN"]["coordinator"] == "CCINSHAE"
    assert columns["INCAN"]["total"] == {"min": 5, "max": 10}
    searched = client.get(
        f"{BASE}/consolidated", params={"q": "paracetamol"}, headers=bearer(client, "auditor")
    ).json()
    assert [i["clave"] for i in searched["items"]] == [PARACETAMOL]


def test_downloads_xlsx_csv_parquet_and_the_institution_sheet(
    client: TestClient, world: Context
) -> None:
    service.import_appendix(
        world,
        round_name=ROUND,
        content=appendix_file(["IMSS"], [(PARACETAMOL, 40, 100)]),
        filename="a.xlsx",
    )
    buyer = bearer(client, "comprador")

    xlsx = client.get(f"{BASE}/consolidated.xlsx", headers=buyer)
    csv = client.get(f"{BASE}/consolidated.csv", headers=buyer)
    parquet = client.get(f"{BASE}/consolidated.parquet", headers=buyer)
    sheet = client.get(f"{BASE}/institutions/IMSS/sheet.xlsx", headers=bearer(client, "imss"))

    assert xlsx.headers["content-type"] == XLSX
    assert xlsx.headers["content-disposition"] == 'attachment; filename="apendice-2027-2028.xlsx"'
    workbook = openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True)
    assert workbook.sheetnames == ["Demanda consolidada"]
    workbook.close()
    assert csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert pl.read_csv(io.BytesIO(csv.content))["maximo"].to_list() == [100]
    assert pl.read_parquet(io.BytesIO(parquet.content))["institucion"].to_list() == ["IMSS"]
    assert sheet.status_code == 200
    assert (
        sheet.headers["content-disposition"] == 'attachment; filename="demanda-2027-2028-IMSS.xlsx"'
    )


def test_a_planner_uploads_its_sheet_and_submits(client: TestClient, world: Context) -> None:
    imss = bearer(client, "imss")
    sheet = client.get(f"{BASE}/institutions/IMSS/sheet.xlsx", headers=imss).content
    workbook = openpyxl.load_workbook(io.BytesIO(sheet))
    worksheet = workbook.active
    for row in worksheet.iter_rows(min_row=4):
        if row[0].value == PARACETAMOL:
            row[4].value, row[5].value = 400, 1000
    buffer = io.BytesIO()
    workbook.save(buffer)

    uploaded = client.post(
        f"{BASE}/institutions/IMSS/sheet",
        files=upload(buffer.getvalue(), "hoja.xlsx"),
        headers=imss,
    )
    submitted = client.post(f"{BASE}/institutions/IMSS/submit", headers=imss)

    assert uploaded.status_code == 201, uploaded.text
    assert (uploaded.json()["new"], uploaded.json()["total"]) == (1, {"min": 400, "max": 1000})
    assert submitted.status_code == 200
    assert submitted.json()["submitted_at"] is not None
    progress = client.get(BASE, headers=imss).json()
    assert progress["submitted"] == 1


def test_an_import_that_would_remove_lines_needs_replace_over_http(
    client: TestClient, world: Context
) -> None:
    buyer = bearer(client, "comprador")
    first = appendix_file(["IMSS"], [(PARACETAMOL, 40, 100), (ASPIRINA, 2, 5)])
    second = appendix_file(["IMSS"], [(PARACETAMOL, 40, 100)])
    assert client.post(f"{BASE}/imports", files=upload(first), headers=buyer).status_code == 201

    refused = client.post(f"{BASE}/imports", files=upload(second), headers=buyer)
    empty = client.post(
        f"{BASE}/imports", params={"replace": "true"},
        files=upload(appendix_file(["IMSS"], [])), headers=buyer,
    )  # fmt: skip
    replaced = client.post(
        f"{BASE}/imports", params={"replace": "true"}, files=upload(second), headers=buyer
    )

    assert refused.status_code == 422
    assert "quitaría 1 línea ya capturada" in refused.json()["detail"]
    assert [(e["field"], e["value"]) for e in refused.json()["errors"]] == [("replace", "1")]
    assert empty.status_code == 422
    assert "no tiene ninguna cantidad" in empty.json()["detail"]
    assert replaced.status_code == 201, replaced.text
    assert (replaced.json()["removed"], replaced.json()["lines"]) == (1, 1)


def test_a_sheet_upload_answers_its_periods_and_what_it_skipped(
    client: TestClient, world: Context
) -> None:
    content = period_sheet([(PARACETAMOL, 40, 100, 44, 110)])

    response = client.post(
        f"{BASE}/institutions/IMSS/sheet",
        files=upload(content, "anual.xlsx"),
        headers=bearer(client, "imss"),
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["periods"], body["lines"]) == (["2027", "2028"], 2)
    assert [note["message"][:28] for note in body["skipped"]] == [
        "3 columnas no se leyeron (no",
        "2 filas vacías o solo con si",
    ]


def test_freeze_reopen_and_a_frozen_round_refuses_imports(
    client: TestClient, world: Context
) -> None:
    buyer = bearer(client, "comprador")

    frozen = client.post(f"{BASE}/freeze", json={}, headers=buyer)
    refused = client.post(
        f"{BASE}/imports",
        files=upload(appendix_file(["IMSS"], [(PARACETAMOL, 4, 10)])),
        headers=buyer,
    )
    no_reason = client.post(f"{BASE}/reopen", json={"reason": " "}, headers=buyer)
    reopened = client.post(f"{BASE}/reopen", json={"reason": "Corrección de IMSS"}, headers=buyer)

    assert frozen.json()["status"] == "frozen"
    assert refused.status_code == 409
    assert "está congelada" in refused.json()["detail"]
    assert no_reason.status_code == 422
    assert reopened.json()["status"] == "open"


def test_mapping_a_name_and_forecast_flags_over_http(client: TestClient, world: Context) -> None:
    buyer = bearer(client, "comprador")
    mapped = client.post(
        "/api/v1/demand/institution-names",
        json={"name": "ISSSTE NACIONAL", "institution": "ISSSTE"},
        headers=buyer,
    )
    consumption = client.post(
        "/api/v1/demand/consumption/imports",
        files={
            "file": ("c.csv", consumption_csv(history("IMSS-ALM", PARACETAMOL, 100)), "text/csv")
        },
        headers=buyer,
    )
    client.put(
        f"{BASE}/institutions/IMSS/lines/{PARACETAMOL}",
        json={"min_qty": 8000, "max_qty": 20000, "version": None},
        headers=buyer,
    )

    forecast = client.post(f"{BASE}/forecast", headers=buyer)
    flags = client.get(f"{BASE}/flags", headers=bearer(client, "imss"))
    others = client.get(f"{BASE}/flags", headers=bearer(client, "issste"))

    assert mapped.status_code == 201
    assert mapped.json() == {"name": "ISSSTE NACIONAL", "institution": "ISSSTE"}
    assert consumption.status_code == 201
    assert consumption.json()["rows"] == 24
    assert forecast.status_code == 200, forecast.text
    assert forecast.json()["suggestions"] == 1
    (flag,) = flags.json()
    assert (flag["clave"], flag["flag"], flag["submitted_max"]) == (PARACETAMOL, "above", 20000)
    assert others.json() == []


def test_a_quantity_beyond_the_column_is_422_not_500(client: TestClient, world: Context) -> None:
    """3,000,000,000 pieces does not fit the 32-bit column: it was a 500 on PostgreSQL."""
    url = f"{BASE}/institutions/IMSS/lines/{PARACETAMOL}"
    body = {"min_qty": 1_200_000_000, "max_qty": 3_000_000_000, "version": None}

    refused = client.put(url, json=body, headers=bearer(client, "imss"))

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in refused.json()["errors"]] == ["max_qty"]


def test_an_appendix_with_unknown_names_and_low_minimums_over_http(
    client: TestClient, world: Context
) -> None:
    buyer = bearer(client, "comprador")
    content = appendix_file(
        ["IMSS", "ISSTE", "IMSS Zona Norte"], [(PARACETAMOL, 0, 100, 4, 10, 1, 5)]
    )

    refused = client.post(f"{BASE}/imports", files=upload(content), headers=buyer)
    imported = client.post(
        f"{BASE}/imports",
        params={"map_suggested": "true", "register_unknown": "true"},
        files=upload(content),
        headers=buyer,
    )
    listed = client.get(f"{BASE}/observations", headers=buyer)
    issste_sees = client.get(f"{BASE}/observations", headers=bearer(client, "issste"))
    frozen = client.post(f"{BASE}/freeze", json={}, headers=buyer)
    first = listed.json()[0]
    accepted = client.post(
        f"{BASE}/observations/{first['id']}/accept",
        json={"reason": "Así lo publicó IMSS", "version": first["version"]},
        headers=buyer,
    )

    assert refused.status_code == 422
    assert "los más parecidos: ISSSTE" in refused.json()["errors"][0]["message"]
    assert imported.status_code == 201, imported.text
    assert [
        (n["name"], n["action"], n["institution"], n["unit"]) for n in imported.json()["names"]
    ] == [
        ("ISSTE", "mapped", "ISSSTE", ""),
        ("IMSS Zona Norte", "unit", "IMSS", "ZONA-NORTE"),
    ]
    assert imported.json()["observations"] == 2
    assert [(o["institution"], o["unit"], o["min_qty"], o["expected_min"], o["status"])
            for o in listed.json()] == [
        ("IMSS", "", 0, 40, "pendiente"),
        ("IMSS", "ZONA-NORTE", 1, 2, "pendiente"),
    ]  # fmt: skip
    assert issste_sees.json() == []
    assert frozen.status_code == 409
    assert "2 observaciones pendientes" in frozen.json()["detail"]
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["status"], accepted.json()["reason"]) == (
        "aceptada", "Así lo publicó IMSS",
    )  # fmt: skip
