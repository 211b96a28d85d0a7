"""The buyer's registry of institutions and units through the API and the pages."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select

from abasto.core.context import Context
from abasto.core.ledger import LedgerEntry
from abasto.core.text import fold
from abasto.identity import registry, service
from tests.conftest import bearer, make_user
from tests.demand.test_service import ROUND, build_world
from tests.identity.test_pages import log_in, text_of
from tests.identity.test_units_import import clues_csv, clues_rows


def actions(ctx: Context) -> list[str]:
    return list(ctx.db.scalars(select(LedgerEntry.action).order_by(LedgerEntry.seq)))


def test_the_buyer_registers_renames_and_retires_through_the_api(
    client: TestClient, ctx: Context
) -> None:
    make_user(ctx, "comprador", "comprador")
    make_user(ctx, "auditor", "auditor")
    auth = bearer(client, "comprador")

    created = client.post(
        "/api/v1/institutions",
        headers=auth,
        json={
            "code": "sesa-14",
            "name": "Servicios de Salud Jalisco",
            "kind": "servicios estatales de salud",
            "state": "Jalisco",
            "aliases": ["OPD Servicios de Salud Jalisco"],
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["code"] == "SESA-14"
    assert created.json()["state"] == "14"
    empty = {"code": "X", "name": "", "kind": ""}
    assert client.post("/api/v1/institutions", headers=auth, json=empty).status_code == 422
    long_alias = {"code": "X", "name": "Equis", "kind": "x", "aliases": ["A" * 301]}
    assert client.post("/api/v1/institutions", headers=auth, json=long_alias).status_code == 422
    denied = client.post(
        "/api/v1/institutions",
        headers=bearer(client, "auditor"),
        json={"code": "OTRA", "name": "Otra", "kind": "x"},
    )
    assert denied.status_code == 403

    renamed = client.patch(
        "/api/v1/institutions/SESA-14", headers=auth, json={"name": "Salud Jalisco OPD"}
    )
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Salud Jalisco OPD"
    assert "Servicios de Salud Jalisco" in renamed.json()["aliases"]
    alias = client.post("/api/v1/institutions/SESA-14/aliases", headers=auth, json={"alias": "SSJ"})
    assert alias.status_code == 201
    taken = client.post(
        "/api/v1/institutions/SESA-14/aliases", headers=auth, json={"alias": " ssj "}
    )
    assert taken.status_code == 409

    unit = client.post(
        "/api/v1/institutions/SESA-14/units",
        headers=auth,
        json={
            "code": "jcssa001234",
            "name": "Centro de Salud Tlaquepaque",
            "state": "14",
            "municipality": "San Pedro Tlaquepaque",
            "latitude": "20.64",
            "longitude": "-103.31",
        },
    )
    assert unit.status_code == 201, unit.text
    assert unit.json()["code"] == "JCSSA001234"
    bad_state = client.post(
        "/api/v1/institutions/SESA-14/units",
        headers=auth,
        json={"code": "U2", "name": "Dos", "state": "Atlántida"},
    )
    assert bad_state.status_code == 422
    moved = client.patch(
        "/api/v1/institutions/SESA-14/units/JCSSA001234",
        headers=auth,
        json={"name": "Centro de Salud Tlaquepaque Centro"},
    )
    assert moved.json()["name"] == "Centro de Salud Tlaquepaque Centro"
    gone = client.post(
        "/api/v1/institutions/SESA-14/units/JCSSA001234/retirement",
        headers=auth,
        json={"reason": "cerró"},
    )
    assert gone.json()["retired_at"] is not None
    retired = client.post(
        "/api/v1/institutions/SESA-14/retirement", headers=auth, json={"reason": "fusión"}
    )
    assert retired.status_code == 200
    assert retired.json()["retired_at"] is not None
    again = client.post("/api/v1/institutions/SESA-14/retirement", headers=auth, json={})
    assert again.status_code == 409

    assert [a for a in actions(ctx) if a.startswith(("institution.", "unit."))] == [
        "institution.register",
        "institution.rename",
        "institution.alias",
        "unit.register",
        "unit.rename",
        "unit.retire",
        "institution.retire",
    ]


def test_the_units_import_route_reports_counts_and_refuses_a_bad_file(
    client: TestClient, ctx: Context
) -> None:
    service.sync_registry(ctx, registry.shipped_registry())
    make_user(ctx, "comprador", "comprador")
    auth = bearer(client, "comprador")
    content = clues_csv(clues_rows(12))

    first = client.post(
        "/api/v1/units/imports", headers=auth, files={"file": ("clues.csv", content, "text/csv")}
    )
    assert first.status_code == 201, first.text
    assert (first.json()["added"], first.json()["unchanged"]) == (12, 0)
    rows = clues_rows(12)
    rows[4] = (*rows[4][:9], "10")
    bad = client.post(
        "/api/v1/units/imports",
        headers=auth,
        files={"file": ("clues.csv", clues_csv(rows), "text/csv")},
    )
    assert bad.status_code == 422
    [error] = bad.json()["errors"]
    assert (error["row"], error["column"]) == (6, "LONGITUD")


def test_the_buyer_manages_the_registry_from_the_pages(client: TestClient, ctx: Context) -> None:
    make_user(ctx, "comprador", "comprador")
    log_in(client, "comprador")

    page = client.get("/comprador/instituciones")
    assert page.status_code == 200
    assert 'action="/comprador/instituciones"' in page.text
    assert page.text.count('name="csrf_token"') >= 1

    created = client.post(
        "/comprador/instituciones",
        data={
            "code": "INGER",
            "name": "Instituto Nacional de Geriatría",
            "kind": "CCINSHAE",
            "state": "09",
            "aliases": "INSTITUTO NACIONAL DE GERIATRÍA\nINGer",
        },
    )
    assert created.status_code == 200
    assert "Se registró «INGER»." in text_of(created.text)
    for form in ("/nombre", "/otros-nombres", "/unidades", "/retirar"):
        assert f'action="/comprador/instituciones/INGER{form}"' in created.text

    refused = client.post("/comprador/instituciones/INGER/nombre", data={"name": "  "})
    assert refused.status_code == 422
    assert "Falta el nombre de la institución." in text_of(refused.text)
    client.post("/comprador/instituciones/INGER/nombre", data={"name": "INGer México"})
    client.post(
        "/comprador/instituciones/INGER/unidades",
        data={"unit_code": "DFSSA000001", "name": "Almacén INGer", "kind": "almacen"},
    )
    done = client.post(
        "/comprador/instituciones/INGER/unidades/retirar",
        data={"unit_code": "DFSSA000001", "reason": "cerró"},
    )
    assert "La unidad «DFSSA000001» quedó retirada." in text_of(done.text)
    assert 'action="/comprador/instituciones/INGER/unidades/nombre"' in done.text
    inger = service.get_institution(ctx.db, "INGER")
    assert inger.name == "INGer México"
    assert fold("Instituto Nacional de Geriatría") in {a.folded for a in inger.aliases}
    assert inger.units[0].retired_at is not None
    assert "Retirada" in text_of(client.get("/instituciones/INGER").text)


def test_the_units_import_page_shows_the_counts_and_every_problem(
    client: TestClient, ctx: Context
) -> None:
    service.sync_registry(ctx, registry.shipped_registry())
    make_user(ctx, "comprador", "comprador")
    log_in(client, "comprador")
    assert 'name="csrf_token"' in client.get("/comprador/unidades/importar").text

    shown = client.post(
        "/comprador/unidades/importar",
        files={"file": ("clues.csv", clues_csv(clues_rows(8)), "text/csv")},
    )
    assert shown.status_code == 200
    assert "8 unidades leídas ; 8 nuevas" in text_of(shown.text)

    rows = clues_rows(8)
    rows[2] = ("MAL", *rows[2][1:])
    refused = client.post(
        "/comprador/unidades/importar",
        files={"file": ("malo.csv", clues_csv(rows), "text/csv")},
    )
    assert refused.status_code == 422
    assert "No se importó nada" in refused.text
    assert "La CLUES no es válida." in refused.text


def test_the_planners_page_offers_the_units_as_delivery_points_but_not_the_retired(
    client: TestClient, ctx: Context
) -> None:
    build_world(ctx)
    make_user(ctx, "imss", "institucion", institution="IMSS")
    service.retire_unit(ctx, institution_code="IMSS", code="IMSS-OOAD-01", reason="cerró")
    service.add_unit(
        ctx,
        institution_code="IMSS",
        unit=service.UnitSpec("ASIMS000011", "UMF 1 Aguascalientes", "unidad", "01"),
    )
    log_in(client, "imss")

    page = client.get(f"/demanda/{ROUND}/IMSS")

    assert page.status_code == 200
    assert '<option value="ASIMS000011">ASIMS000011 · UMF 1 Aguascalientes</option>' in page.text
    assert '<option value="IMSS-ALM">' in page.text
    assert 'value="IMSS-OOAD-01"' not in page.text
    payload = json.loads(
        ctx.db.scalars(select(LedgerEntry.payload).where(LedgerEntry.action == "unit.retire")).one()
    )
    assert payload == {"institution": "IMSS", "code": "IMSS-OOAD-01", "reason": "cerró"}


def test_the_form_that_opens_a_round_does_not_offer_a_retired_institution(
    client: TestClient, ctx: Context
) -> None:
    build_world(ctx)
    make_user(ctx, "comprador", "comprador")
    service.retire_institution(ctx, code="ISSSTE", reason="prueba")
    log_in(client, "comprador")

    page = client.get("/demanda")

    assert 'name="institutions" value="IMSS"' in page.text
    assert 'name="institutions" value="ISSSTE"' not in page.text


def test_patch_sets_kind_parent_and_state_and_refuses_a_parent_of_itself(
    client: TestClient, ctx: Context
) -> None:
    make_user(ctx, "comprador", "comprador")
    service.register_institution(ctx, code="CCINSHAE", name="Comisión Coordinadora", kind="x")
    service.register_institution(ctx, code="HRAEZ", name="HRAE de Zumpango", kind="hospital")
    auth = bearer(client, "comprador")

    changed = client.patch(
        "/api/v1/institutions/HRAEZ",
        headers=auth,
        json={"kind": "CCINSHAE", "parent": "ccinshae", "state": "México"},
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["kind"], changed.json()["parent"], changed.json()["state"]) == (
        "CCINSHAE",
        "CCINSHAE",
        "15",
    )
    # Only the fields sent change: the parent stays.
    moved = client.patch("/api/v1/institutions/HRAEZ", headers=auth, json={"state": None})
    assert (moved.json()["parent"], moved.json()["state"]) == ("CCINSHAE", None)
    itself = client.patch("/api/v1/institutions/HRAEZ", headers=auth, json={"parent": "HRAEZ"})
    assert itself.status_code == 422
    nowhere = client.patch("/api/v1/institutions/HRAEZ", headers=auth, json={"state": "Marte"})
    assert nowhere.status_code == 422
    [update, *_] = ctx.db.scalars(
        select(LedgerEntry.payload).where(LedgerEntry.action == "institution.update")
    )
    assert json.loads(update)["to"] == {"kind": "CCINSHAE", "parent": "CCINSHAE", "state": "15"}
