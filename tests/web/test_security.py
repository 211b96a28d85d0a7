"""The browser-facing defences of web/security (issue 14, item 10, and bidi of item 9): CSRF
tokens and cross-site checks on cookie requests, JSON-only API bodies, security headers, no
server header, no inline script, bidi controls stripped from bodies."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from abasto.core.context import Context
from abasto.identity.models import Credential
from tests.conftest import PASSWORD, PageClient, bearer, csrf_token_of, make_user

EVIL = "https://ataque.example"


@pytest.fixture
def logged_in(client: PageClient, ctx: Context) -> PageClient:
    make_user(ctx, "ana.lopez", "comprador")
    response = client.post(
        "/entrar", data={"username": "ana.lopez", "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 303
    return client


def tokens(db: Session) -> list[str]:
    return list(db.scalars(select(Credential.label).where(Credential.kind == "token")))


def test_a_form_post_without_the_token_is_refused(logged_in: PageClient, db: Session) -> None:
    logged_in.send_csrf = False
    # What another site's hidden form sends: the cookie rides along; with and without Origin
    # (a POST without Origin was accepted before issue 14).
    for headers in ({"Origin": EVIL}, {}, {"X-CSRF-Token": "0" * 64}):
        refused = logged_in.post("/cuenta/tokens", data={"label": "robado"}, headers=headers)
        assert refused.status_code == 403, headers
        assert "código de seguridad" in refused.text or "otro sitio" in refused.text
    assert tokens(db) == []


def test_the_token_does_not_pass_a_cross_site_request(logged_in: PageClient, db: Session) -> None:
    token = csrf_token_of(logged_in)
    logged_in.send_csrf = False
    for headers in ({"Origin": EVIL}, {"Sec-Fetch-Site": "cross-site"}):
        response = logged_in.post(
            "/cuenta/tokens", data={"label": "x", "csrf_token": token}, headers=headers
        )
        assert response.status_code == 403, headers
    assert tokens(db) == []


def test_the_form_field_from_the_page_is_accepted(logged_in: PageClient, db: Session) -> None:
    page = logged_in.get("/cuenta").text
    field = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page)
    assert field, "the account page's form carries no token"
    logged_in.send_csrf = False
    headers = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    response = logged_in.post(
        "/cuenta/tokens", data={"label": "mío", "csrf_token": field.group(1)}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert tokens(db) == ["mío"]


def test_every_post_form_of_a_page_carries_the_token(logged_in: PageClient) -> None:
    page = logged_in.get("/cuenta").text
    forms = re.findall(r"<form\b[^>]*method=\"post\"[^>]*>(.*?)</form>", page, re.S)
    assert len(forms) >= 2  # the token form and the log-out form
    assert all('name="csrf_token"' in form for form in forms)


def test_a_bearer_request_needs_no_token(client: PageClient, ctx: Context) -> None:
    make_user(ctx, "ana.lopez", "comprador")
    auth = bearer(client, "ana.lopez")
    response = client.get("/api/v1/me", headers={**auth, "Origin": EVIL})
    assert response.status_code == 200


def test_the_api_takes_json_bodies_only(client: PageClient, ctx: Context) -> None:
    body = '{"username": "ana.lopez", "password": "x"}'
    for media in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"Content-Type": media} if media else {}
        response = client.post("/api/v1/auth/token", content=body, headers=headers)
        assert response.status_code == 415, media
        assert response.headers["content-type"] == "application/problem+json"


def test_security_headers_on_every_answer(client: PageClient) -> None:
    for path in ("/", "/api/v1/claves", "/no-existe", "/static/abasto.css", "/docs"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "script-src 'self';" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"
        assert "strict-transport-security" not in headers  # plain HTTP: HSTS means nothing
        assert "server" not in headers
    secure = client.get("https://testserver/").headers
    assert secure["strict-transport-security"].startswith("max-age=31536000")


def test_no_page_has_an_inline_script_or_style(client: PageClient) -> None:
    for path in ("/", "/docs", "/catalogo", "/licitaciones", "/entrar", "/datos-abiertos"):
        page = client.get(path).text
        scripts = re.findall(r"<script\b([^>]*)>", page)
        assert all("src=" in attrs or "application/json" in attrs for attrs in scripts), path
        assert "<style" not in page, path
        assert " style=" not in page, path


def test_serve_runs_uvicorn_without_its_server_header(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from abasto import cli
    from abasto.core import cli as core_cli
    from abasto.tendering import tick
    from abasto.web import app

    seen: dict[str, Any] = {}
    # Only the call to uvicorn is under test: no database, app or ticker is needed for it.
    monkeypatch.setattr(uvicorn, "run", lambda application, **options: seen.update(options))
    # ``serve`` imports what it uses when it runs (abasto.cli starts without its domains).
    monkeypatch.setattr(core_cli, "engine", lambda: None)
    monkeypatch.setattr(app, "create_app", lambda *a, **k: SimpleNamespace(state=_state()))
    monkeypatch.setattr(app, "freeze_heap", lambda: None)
    monkeypatch.setattr(tick, "Ticker", lambda *a, **k: None)
    monkeypatch.setattr(tick, "run_in_background", lambda *a: None)
    result = CliRunner().invoke(cli.app, ["serve", "--port", "8999"])
    assert seen.get("server_header") is False, result.output


def _state() -> SimpleNamespace:
    return SimpleNamespace(
        abasto=SimpleNamespace(sessions=None, clock=None, sealer=None, signer=None)
    )


def test_bidi_controls_are_stripped_from_form_and_json_bodies(
    logged_in: PageClient, db: Session
) -> None:
    logged_in.post("/cuenta/tokens", data={"label": "mi \u202eotxet\u202c token"})
    auth = bearer(logged_in, "ana.lopez")
    assert auth
    sent = logged_in.post(
        "/api/v1/auth/token",
        json={"username": "ana.lopez", "password": PASSWORD, "label": "api \u2066x\u2069"},
    )
    assert sent.status_code == 201, sent.text
    escaped = logged_in.post(
        "/api/v1/auth/token",
        content='{"username": "ana.lopez", "password": "' + PASSWORD + '", "label": "e\\u202Ef"}',
        headers={"Content-Type": "application/json"},
    )
    assert escaped.status_code == 201, escaped.text
    assert {"mi otxet token", "api x", "ef"} <= set(tokens(db))


def test_an_escaped_backslash_does_not_hide_a_bidi_escape(
    client: PageClient, ctx: Context, db: Session
) -> None:
    make_user(ctx, "ana.lopez", "comprador")
    body = '{"username": "ana.lopez", "password": "%s", "label": "a\\\\\\u202eb \\\\u202e"}'
    sent = client.post(
        "/api/v1/auth/token",
        content=body % PASSWORD,
        headers={"Content-Type": "application/json"},
    )
    assert sent.status_code == 201, sent.text
    assert tokens(db) == ["a\\b \\u202e"]
