"""Identity's API: bearer tokens, institutions, suppliers and the sanctions list."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from abasto.core.clock import FixedClock
from abasto.core.context import Context
from abasto.core.ledger import LedgerEntry
from abasto.identity import service
from abasto.identity.rules import rfc_check_digit
from tests.conftest import PASSWORD, bearer, make_user
from tests.identity.test_sanctions import HEADER, _csv, _with
from tests.identity.test_service import (
    CLEAN_RFC,
    SANCTIONED_NAME,
    SANCTIONED_RFC,
    real_list,
    register_imss,
    register_sanctioned,
    small_list,
)


def test_token_gives_access_to_me(client: TestClient, ctx: Context) -> None:
    make_user(ctx, "ana.lopez", "auditor")
    headers = bearer(client, "ana.lopez")
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 200
    assert response.json()["role"] == "auditor"


def test_wrong_password_is_401_without_hint(client: TestClient, ctx: Context) -> None:
    make_user(ctx, "ana.lopez", "auditor")
    wrong = client.post("/api/v1/auth/token", json={"username": "ana.lopez", "password": "x" * 12})
    unknown = client.post("/api/v1/auth/token", json={"username": "nadie", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.headers["content-type"] == "application/problem+json"
    assert wrong.json()["detail"] == unknown.json()["detail"] == "Usuario o contraseña incorrectos."


def test_unknown_and_expired_tokens_are_401(
    client: TestClient, ctx: Context, clock: FixedClock
) -> None:
    unknown = client.get("/api/v1/me", headers={"Authorization": "Bearer abt_inventado"})
    assert unknown.status_code == 401
    assert "no es válido" in unknown.json()["detail"]
    make_user(ctx, "ana.lopez", "auditor")
    headers = bearer(client, "ana.lopez")
    clock.advance(timedelta(days=31))
    expired = client.get("/api/v1/me", headers=headers)
    assert expired.status_code == 401
    assert "expiró" in expired.json()["detail"]
    assert expired.headers["www-authenticate"] == "Bearer"


def test_malformed_authorization_header_is_401(client: TestClient) -> None:
    response = client.get("/api/v1/me", headers={"Authorization": "Basic abc"})
    assert response.status_code == 401
    assert "Bearer" in response.json()["expected"]


def test_revoked_token_stops_working(client: TestClient, ctx: Context) -> None:
    make_user(ctx, "ana.lopez", "auditor")
    headers = bearer(client, "ana.lopez")
    assert client.delete("/api/v1/auth/token", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_body_that_is_not_json_is_a_clear_422(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/token", content=b"usuario=ana", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["message"] == "el cuerpo de la solicitud no es JSON válido"
    assert "JSON" in body["errors"][0]["expected"]


def test_body_too_large_is_413(client: TestClient) -> None:
    limit = client.app.state.abasto.settings.max_body_bytes  # type: ignore[attr-defined]
    response = client.post(
        "/api/v1/auth/token",
        content=b"{" + b" " * limit + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["title"] == "Contenido demasiado grande"


def test_login_page_sets_a_session_cookie(client: TestClient, ctx: Context) -> None:
    make_user(ctx, "ana.lopez", "comprador")
    bad = client.post("/entrar", data={"username": "ana.lopez", "password": "mala-contrasena"})
    assert bad.status_code == 401
    assert "Usuario o contraseña incorrectos." in bad.text
    good = client.post(
        "/entrar",
        data={"username": "ana.lopez", "password": PASSWORD, "siguiente": "/cuenta"},
        follow_redirects=False,
    )
    assert good.status_code == 303
    assert good.headers["location"] == "/cuenta"
    assert "httponly" in good.headers["set-cookie"].lower()
    account = client.get("/cuenta")
    assert account.status_code == 200
    assert "Ana.Lopez" in account.text
    assert client.post("/salir", follow_redirects=False).status_code == 303
    assert client.get("/cuenta").status_code == 401


def test_login_refuses_to_redirect_off_site(client: TestClient, ctx: Context) -> None:
    make_user(ctx, "ana.lopez", "comprador")
    response = client.post(
        "/entrar",
        data={"username": "ana.lopez", "password": PASSWORD, "siguiente": "//evil.example"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/pendientes"


def test_cross_site_form_post_with_the_session_cookie_is_refused(
    client: TestClient, ctx: Context
) -> None:
    make_user(ctx, "ana.lopez", "comprador")
    client.post("/entrar", data={"username": "ana.lopez", "password": PASSWORD})
    forged = client.post(
        "/cuenta/tokens", data={"label": "x"}, headers={"Origin": "https://evil.example"}
    )
    assert forged.status_code == 403
    same_site = client.post(
        "/cuenta/tokens", data={"label": "x"}, headers={"Origin": "http://testserver"}
    )
    assert same_site.status_code == 200


# ----- suppliers, sanctions and institutions -------------------------------------------------


def upload(content: bytes, filename: str = "sancionados.csv") -> dict[str, Any]:
    return {"files": {"file": (filename, io.BytesIO(content), "text/csv")}}


def registration(rfc: str, **changes: str) -> dict[str, str]:
    body = {
        "rfc": rfc,
        "razon_social": "Farmacéutica de Prueba, S.A. de C.V.",
        "state": "09",
        "username": "ana.proveedora",
        "full_name": "Ana Proveedora",
        "password": PASSWORD,
    }
    return body | changes


@pytest.mark.parametrize(
    ("rfc", "part"),
    [
        ("FAB0105K3", "caracteres"),
        ("FAB011317K3" + rfc_check_digit("FAB011317K3"), "fecha «011317»"),
        (CLEAN_RFC[:-1] + ("0" if CLEAN_RFC[-1] != "0" else "1"), "dígito verificador"),
    ],
    ids=["format", "date", "check-digit"],
)
def test_an_invalid_rfc_is_422_naming_the_part(client: TestClient, rfc: str, part: str) -> None:
    response = client.post("/api/v1/suppliers", json=registration(rfc))

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    [problem] = response.json()["errors"]
    assert problem["field"] == "rfc"
    assert part in problem["message"]
    assert problem["expected"]
    assert client.get("/api/v1/suppliers").json()["total"] == 0


def test_a_supplier_registers_itself_and_its_user_signs_in(client: TestClient) -> None:
    response = client.post("/api/v1/suppliers", json=registration(CLEAN_RFC.lower()))

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["username"] == "ana.proveedora"
    assert body["supplier"] | {"registered_on": None} == {
        "rfc": CLEAN_RFC,
        "razon_social": "Farmacéutica de Prueba, S.A. de C.V.",
        "state": "09",
        "state_name": "Ciudad de México",
        "registered_on": None,
        "version": 1,
        "status": "pendiente",
        "eligible": False,
        "sanctions_count": 0,
        "sanctions": [],
        "earlier_names": [],
        "pending_rename": None,
    }
    me = client.get("/api/v1/me", headers=bearer(client, "ana.proveedora")).json()
    assert (me["role"], me["supplier"]) == ("proveedor", CLEAN_RFC)
    again = client.post("/api/v1/suppliers", json=registration(CLEAN_RFC, username="otra.persona"))
    assert again.status_code == 409
    assert [e["field"] for e in again.json()["errors"]] == ["rfc"]


def test_an_imported_list_shows_in_the_supplier_api(client: TestClient, ctx: Context) -> None:
    register_sanctioned(ctx)
    make_user(ctx, "compras", "comprador")

    imported = client.post(
        "/api/v1/sanctions/imports", headers=bearer(client, "compras"), **upload(real_list())
    )

    assert imported.status_code == 201, imported.text
    summary = imported.json()
    assert summary["records"] == 1504
    assert summary["matched"] == [
        {"rfc": SANCTIONED_RFC, "razon_social": SANCTIONED_NAME, "sanctions": 1}
    ]
    assert summary["newly_matched"] == [SANCTIONED_RFC]
    assert len(summary["notes"]) == 5
    detail = client.get(f"/api/v1/suppliers/{SANCTIONED_RFC}").json()
    assert (detail["eligible"], detail["sanctions_count"]) == (False, 1)
    [sanction] = detail["sanctions"]
    assert sanction["agency"] == "INSTITUTO MEXICANO DEL SEGURO SOCIAL"
    assert sanction["file_number"] == "0041/2013"
    assert sanction["resolved_on"] == "2014-08-06"
    assert sanction["amount"] == "90664.00"
    found = client.get("/api/v1/suppliers", params={"q": "3r innovacion"}).json()
    assert [(i["rfc"], i["eligible"], i["sanctions_count"]) for i in found["items"]] == [
        (SANCTIONED_RFC, False, 1)
    ]
    listed = client.get("/api/v1/sanctions", params={"page": 2, "per_page": 10}).json()
    assert listed["total"] == 1504
    assert [item["row"] for item in listed["items"]] == list(range(12, 22))


def test_a_bad_list_is_422_and_changes_nothing(client: TestClient, ctx: Context) -> None:
    make_user(ctx, "compras", "comprador")
    headers = bearer(client, "compras")
    good = client.post(
        "/api/v1/sanctions/imports", headers=headers, **upload(small_list("ÚNICA, S.A."))
    )
    assert good.status_code == 201
    before = client.get("/api/v1/sanctions").json()["total"]

    bad = client.post(
        "/api/v1/sanctions/imports",
        headers=headers,
        **upload(_csv([HEADER, _with(supplier="OTRA, S.A.", resolved="ayer")])),
    )

    assert bad.status_code == 422
    assert bad.json()["errors"][0]["row"] == 2
    assert client.get("/api/v1/sanctions").json()["total"] == before == 1


def test_only_the_buyer_imports_the_list(client: TestClient, ctx: Context) -> None:
    make_user(ctx, "auditora", "auditor")
    content = small_list("ÚNICA, S.A.")
    anonymous = client.post("/api/v1/sanctions/imports", **upload(content))
    auditor = client.post(
        "/api/v1/sanctions/imports", headers=bearer(client, "auditora"), **upload(content)
    )
    assert (anonymous.status_code, auditor.status_code) == (401, 403)


def test_a_stale_version_is_409(client: TestClient, ctx: Context) -> None:
    service.register_supplier(ctx, rfc=CLEAN_RFC, razon_social="Única SA")
    make_user(ctx, "compras", "comprador")
    headers = bearer(client, "compras")
    read = client.get(f"/api/v1/suppliers/{CLEAN_RFC}").json()

    first = client.patch(
        f"/api/v1/suppliers/{CLEAN_RFC}",
        headers=headers,
        json={"razon_social": "Única Dos SA", "version": read["version"]},
    )
    second = client.patch(
        f"/api/v1/suppliers/{CLEAN_RFC}",
        headers=headers,
        json={"razon_social": "Única Tres SA", "version": read["version"]},
    )

    assert first.status_code == 200, first.text
    assert first.json()["version"] == 2
    assert second.status_code == 409
    assert second.json()["errors"][0]["field"] == "version"
    assert client.get(f"/api/v1/suppliers/{CLEAN_RFC}").json()["razon_social"] == "Única Dos SA"


def test_a_supplier_patches_only_itself_and_the_buyer_any(client: TestClient, ctx: Context) -> None:
    service.register_supplier(ctx, rfc=CLEAN_RFC, razon_social="Única SA")
    register_sanctioned(ctx)
    make_user(ctx, "ana", "proveedor", supplier=CLEAN_RFC)
    make_user(ctx, "compras", "comprador")
    body = {"razon_social": "Apropiada SA", "version": 1}

    other = client.patch(
        f"/api/v1/suppliers/{SANCTIONED_RFC}", headers=bearer(client, "ana"), json=body
    )
    buyer = client.patch(
        f"/api/v1/suppliers/{SANCTIONED_RFC}", headers=bearer(client, "compras"), json=body
    )

    assert other.status_code == 403
    assert other.json()["detail"] == "Su usuario no puede actuar en nombre de este proveedor."
    assert buyer.status_code == 200
    assert buyer.json()["razon_social"] == "Apropiada SA"


def test_institutions_list_and_detail(client: TestClient, ctx: Context) -> None:
    register_imss(ctx)

    listed = client.get("/api/v1/institutions").json()
    detail = client.get("/api/v1/institutions/imss")
    missing = client.get("/api/v1/institutions/NOEXISTE")

    assert listed == [
        {
            "code": "IMSS",
            "name": "Instituto Mexicano del Seguro Social",
            "kind": "seguridad social",
            "state": None,
            "retired_at": None,
            "units": 4,
            "units_by_kind": {"OOAD": 2, "UMAE": 1, "almacen": 1},
        }
    ]
    assert detail.status_code == 200
    assert detail.json()["units"][0] == {
        "code": "IMSS-ALM",
        "name": "Almacén central",
        "kind": "almacen",
        "state": "09",
        "state_name": "Ciudad de México",
        "municipality": None,
        "typology": None,
        "latitude": None,
        "longitude": None,
        "retired_at": None,
    }
    assert missing.status_code == 404


# ----- renames, verification, passwords and sign-in throttling (issue 14) --------------------


def test_a_suppliers_rename_is_202_and_takes_effect_when_the_buyer_approves(
    client: TestClient, ctx: Context
) -> None:
    service.register_supplier(ctx, rfc=CLEAN_RFC, razon_social="Única SA")
    make_user(ctx, "ana", "proveedor", supplier=CLEAN_RFC)
    make_user(ctx, "compras", "comprador")
    supplier = bearer(client, "ana")

    asked = client.patch(
        f"/api/v1/suppliers/{CLEAN_RFC}",
        headers=supplier,
        json={"razon_social": "Única Dos SA", "version": 1},
    )

    assert asked.status_code == 202, asked.text
    body = asked.json()
    assert (body["razon_social"], body["version"]) == ("Única SA", 1)
    assert body["pending_rename"]["new_name"] == "Única Dos SA"
    assert client.get("/api/v1/supplier-renames", headers=supplier).status_code == 403
    buyer = bearer(client, "compras")
    [pending] = client.get("/api/v1/supplier-renames", headers=buyer).json()
    assert (pending["rfc"], pending["old_name"], pending["status"]) == (
        CLEAN_RFC,
        "Única SA",
        "pendiente",
    )
    refused = client.post(
        f"/api/v1/supplier-renames/{pending['id']}/rejection", headers=buyer, json={"note": ""}
    )
    assert refused.status_code == 422

    approved = client.post(
        f"/api/v1/supplier-renames/{pending['id']}/approval", headers=buyer, json={}
    )

    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "aprobado"
    detail = client.get(f"/api/v1/suppliers/{CLEAN_RFC}").json()
    assert (detail["razon_social"], detail["version"], detail["earlier_names"]) == (
        "Única Dos SA",
        2,
        ["Única SA"],
    )
    again = client.post(
        f"/api/v1/supplier-renames/{pending['id']}/approval", headers=buyer, json={}
    )
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("password", "message"),
    [("1234567890", "demasiado corta"), ("password1234", "más usadas")],
)
def test_self_registration_with_a_weak_password_is_422(
    client: TestClient, password: str, message: str
) -> None:
    response = client.post("/api/v1/suppliers", json=registration(CLEAN_RFC, password=password))

    assert response.status_code == 422, response.text
    [problem] = response.json()["errors"]
    assert problem["field"] == "password"
    assert message in problem["message"]
    assert "12" in problem["expected"]
    assert client.get("/api/v1/suppliers").json()["total"] == 0


def test_the_buyer_verifies_a_pending_supplier_with_its_documents(
    client: TestClient, ctx: Context
) -> None:
    assert client.post("/api/v1/suppliers", json=registration(CLEAN_RFC)).status_code == 201
    make_user(ctx, "compras", "comprador")
    buyer = bearer(client, "compras")
    documents = {
        "tax_certificate": "19010123456",
        "articles_of_incorporation": "Escritura 12,345, Notaría 10 de la CDMX",
        "representative": "Ana Proveedora, poder en la escritura 23,456",
    }

    incomplete = client.post(
        f"/api/v1/suppliers/{CLEAN_RFC}/verification",
        headers=buyer,
        json=documents | {"representative": " "},
    )
    verified = client.post(
        f"/api/v1/suppliers/{CLEAN_RFC}/verification", headers=buyer, json=documents
    )

    assert incomplete.status_code == 422
    assert [e["field"] for e in incomplete.json()["errors"]] == ["representative"]
    assert verified.status_code == 200, verified.text
    assert (verified.json()["status"], verified.json()["eligible"]) == ("verificado", True)
    assert client.get("/api/v1/supplier-reviews", headers=buyer).json() == []


def test_five_wrong_passwords_then_429_with_retry_after(
    client: TestClient, ctx: Context, clock: FixedClock
) -> None:
    make_user(ctx, "ana.lopez", "auditor")
    wrong = {"username": "ana.lopez", "password": "mala-contrasena"}
    statuses = [client.post("/api/v1/auth/token", json=wrong).status_code for _ in range(5)]

    blocked = client.post(
        "/api/v1/auth/token", json={"username": "ana.lopez", "password": PASSWORD}
    )

    assert statuses == [401] * 5
    assert blocked.status_code == 429, blocked.text
    assert blocked.headers["content-type"] == "application/problem+json"
    assert blocked.headers["retry-after"] == "900"
    assert "Espere 15 minutos" in blocked.json()["detail"]
    clock.advance(timedelta(seconds=900))
    assert (
        client.post(
            "/api/v1/auth/token", json={"username": "ana.lopez", "password": PASSWORD}
        ).status_code
        == 201
    )


def test_one_address_failing_on_many_accounts_gets_429(client: TestClient, ctx: Context) -> None:
    make_user(ctx, "ana.lopez", "auditor")
    for i in range(20):
        sprayed = {"username": f"usuario{i}", "password": "mala-contrasena"}
        assert client.post("/api/v1/auth/token", json=sprayed).status_code == 401

    blocked = client.post(
        "/api/v1/auth/token", json={"username": "ana.lopez", "password": PASSWORD}
    )

    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) == 900


def test_failed_sign_ins_are_grouped_private_ledger_entries(
    client: TestClient, ctx: Context
) -> None:
    make_user(ctx, "ana.lopez", "auditor")
    for i in range(60):
        client.post("/api/v1/auth/token", json={"username": "ana.lopez", "password": f"mala-{i}"})

    logged = [
        (e.action, e.entity, e.public)
        for e in ctx.db.scalars(
            select(LedgerEntry).where(LedgerEntry.action.like("login.%")).order_by(LedgerEntry.seq)
        )
    ]
    public = client.get("/api/v1/ledger", params={"per_page": 500}).text

    assert logged == [
        ("login.failed", "user:ana.lopez", False),
        ("login.blocked", "user:ana.lopez", False),
    ]
    assert "login." not in public
