"""Bearer tokens over HTTP: issue, use, expire, revoke; errors as problem details."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from abasto.core.clock import FixedClock
from abasto.core.context import Context
from tests.conftest import PASSWORD, bearer, make_user


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
    assert response.headers["location"] == "/"


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
