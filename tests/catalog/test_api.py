"""The catalog's JSON API over HTTP: search, detail, imports, homologations, who may do what."""

from __future__ import annotations

from fastapi.testclient import TestClient

from abasto.catalog import service
from abasto.core.context import Context
from abasto.identity import service as identity
from tests.catalog.test_service import catalog_csv, homologation_csv, import_small_catalog
from tests.conftest import bearer, make_user


def upload(content: bytes, filename: str = "catalogo.csv") -> dict[str, tuple[str, bytes, str]]:
    return {"file": (filename, content, "text/csv")}


def test_search_returns_a_page_of_claves(client: TestClient, ctx: Context) -> None:
    import_small_catalog(ctx)

    response = client.get("/api/v1/claves", params={"q": "paracetamol", "per_page": 1})

    assert response.status_code == 200
    body = response.json()
    assert (body["total"], body["page"], body["per_page"]) == (2, 1, 1)
    (item,) = body["items"]
    assert item["clave"] == "010.000.0104.00"
    assert item["category_label"] == "Medicamentos"
    assert item["iva_rate"] == "0"
    second = client.get("/api/v1/claves", params={"q": "paracetamol", "per_page": 1, "page": 2})
    assert [i["clave"] for i in second.json()["items"]] == ["010.000.0104.01"]


def test_search_by_clave_prefix_and_accents(client: TestClient, ctx: Context) -> None:
    import_small_catalog(ctx)

    by_prefix = client.get("/api/v1/claves", params={"q": "010.000.0104"}).json()
    by_words = client.get("/api/v1/claves", params={"q": "ACIDO acetilsalicílico"}).json()

    assert [i["clave"] for i in by_prefix["items"]] == ["010.000.0104.00", "010.000.0104.01"]
    assert [i["clave"] for i in by_words["items"]] == ["010.000.0101.00"]


def test_search_refuses_a_bad_page_with_problem_details(client: TestClient) -> None:
    response = client.get("/api/v1/claves", params={"page": 0})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "query.page"


def test_detail_has_category_iva_cucop_and_institution_codes(
    client: TestClient, ctx: Context
) -> None:
    import_small_catalog(ctx)
    identity.register_institution(ctx, code="IMSS", name="IMSS", kind="seguridad_social")
    service.import_homologations(
        ctx,
        institution_code="IMSS",
        content=homologation_csv([("1040", "010.000.0104.00")]),
        filename="imss.csv",
    )

    response = client.get("/api/v1/claves/010.000.0104.00")

    assert response.status_code == 200
    body = response.json()
    assert body["cucop"] == 25301574
    assert (body["group"], body["group_label"]) == ("010", "Medicamentos")
    assert (body["category"], body["category_label"]) == ("medicine", "Medicamentos")
    assert body["iva_rate"] == "0"
    assert body["homologations"] == [
        {"institution": "IMSS", "institution_name": "IMSS", "code": "1040"}
    ]
    gauze = client.get("/api/v1/claves/060.066.0021").json()
    assert (gauze["iva_rate"], gauze["category_label"]) == ("0.16", "Material de curación")


def test_unknown_clave_is_a_404_problem(client: TestClient, ctx: Context) -> None:
    import_small_catalog(ctx)

    response = client.get("/api/v1/claves/010.000.0101.09")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["title"] == "No encontrado"
    assert body["detail"] == (
        "No existe la clave «010.000.0101.09» en el catálogo. ¿Quiso decir 010.000.0101.00?"
    )


def test_buyer_uploads_a_catalog(client: TestClient, ctx: Context) -> None:
    make_user(ctx, "compras", "comprador")
    headers = bearer(client, "compras")

    first = client.post("/api/v1/catalog/imports", files=upload(catalog_csv()), headers=headers)
    again = client.post("/api/v1/catalog/imports", files=upload(catalog_csv()), headers=headers)

    assert first.status_code == 201, first.text
    assert {k: first.json()[k] for k in ("new", "updated", "unchanged", "total")} == {
        "new": 5,
        "updated": 0,
        "unchanged": 0,
        "total": 5,
    }
    assert (again.json()["new"], again.json()["unchanged"]) == (0, 5)
    assert client.get("/api/v1/claves").json()["total"] == 5


def test_catalog_upload_needs_a_buyer(client: TestClient, ctx: Context) -> None:
    make_user(ctx, "auditoria", "auditor")

    anonymous = client.post("/api/v1/catalog/imports", files=upload(catalog_csv()))
    auditor = client.post(
        "/api/v1/catalog/imports", files=upload(catalog_csv()), headers=bearer(client, "auditoria")
    )

    assert anonymous.status_code == 401
    assert auditor.status_code == 403
    assert "Comprador coordinador" in auditor.json()["detail"]
    assert client.get("/api/v1/claves").json()["total"] == 0


def test_a_bad_upload_is_a_422_listing_every_problem(client: TestClient, ctx: Context) -> None:
    make_user(ctx, "compras", "comprador")
    bad = catalog_csv(
        [
            ("010.000.0104", "Paracetamol sin variante", "Envase", ""),
            ("010.000.0106.00", "", "Envase", ""),
            ("010.000.0107.00", "Con CUCoP de texto", "Envase", "ver nota"),
        ]
    )

    response = client.post(
        "/api/v1/catalog/imports", files=upload(bad, "malo.csv"), headers=bearer(client, "compras")
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert [(e["row"], e["column"]) for e in errors] == [
        (2, "Clave"),
        (3, "Descripción"),
        (4, "CUCoP"),
    ]
    assert errors[0]["where"] == "hoja «malo», fila 2, columna «Clave»"
    assert all("expected" in e for e in errors)
    assert client.get("/api/v1/claves").json()["total"] == 0


def test_a_missing_file_is_a_422(client: TestClient, ctx: Context) -> None:
    make_user(ctx, "compras", "comprador")

    response = client.post("/api/v1/catalog/imports", headers=bearer(client, "compras"))

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "file"


def test_homologations_upload_and_list(client: TestClient, ctx: Context) -> None:
    import_small_catalog(ctx)
    identity.register_institution(ctx, code="IMSS", name="Instituto", kind="seguridad_social")
    identity.register_institution(ctx, code="ISSSTE", name="Instituto 2", kind="seguridad_social")
    make_user(ctx, "compras", "comprador")
    make_user(ctx, "plan.imss", "institucion", institution="IMSS")
    make_user(ctx, "plan.issste", "institucion", institution="ISSSTE")
    table = homologation_csv([("1040", "010.000.0104.00"), ("1041", "010.000.0104.01")])
    path = "/api/v1/institutions/IMSS/homologations"

    anonymous = client.post(path, files=upload(table))
    other = client.post(path, files=upload(table), headers=bearer(client, "plan.issste"))
    own = client.post(path, files=upload(table), headers=bearer(client, "plan.imss"))
    buyer = client.post(path, files=upload(table), headers=bearer(client, "compras"))

    assert (anonymous.status_code, other.status_code) == (401, 403)
    assert own.status_code == 201, own.text
    assert (own.json()["institution"], own.json()["new"]) == ("IMSS", 2)
    assert (buyer.status_code, buyer.json()["unchanged"]) == (201, 2)
    listed = client.get(path, params={"per_page": 1}).json()
    assert (listed["institution"], listed["total"]) == ("IMSS", 2)
    assert listed["items"] == [
        {
            "code": "1040",
            "clave": "010.000.0104.00",
            "description": service.get_clave(ctx.db, "010.000.0104.00").description,
        }
    ]
    assert client.get("/api/v1/institutions/PEMEX/homologations").status_code == 404


def test_a_bad_homologation_upload_names_the_closest_clave(
    client: TestClient, ctx: Context
) -> None:
    import_small_catalog(ctx)
    identity.register_institution(ctx, code="IMSS", name="Instituto", kind="seguridad_social")
    make_user(ctx, "compras", "comprador")
    table = homologation_csv([("1040", "010.000.0101.09")])

    response = client.post(
        "/api/v1/institutions/IMSS/homologations",
        files=upload(table),
        headers=bearer(client, "compras"),
    )

    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert (error["row"], error["column"], error["value"]) == (2, "Clave", "010.000.0101.09")
    assert error["expected"] == "una clave del catálogo; ¿quiso decir 010.000.0101.00?"
