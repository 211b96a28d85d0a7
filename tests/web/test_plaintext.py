"""Control characters (NUL above all) are refused as a 422 problem before reaching any route."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from abasto.core.context import Context
from abasto.web.plaintext import form_controls, json_controls
from tests.conftest import PASSWORD, make_user


def test_a_nul_in_the_query_is_a_422_problem(client: TestClient) -> None:
    """``?q=a%00b`` reached PostgreSQL, which refuses NUL in text: a 500."""
    refused = client.get("/api/v1/claves?q=a%00b")

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"][0]["field"] == "query"


def test_a_nul_in_the_path_is_a_422_problem(client: TestClient) -> None:
    refused = client.get("/api/v1/suppliers/AAA010101%00AAA")

    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "path"


def test_a_login_with_a_nul_in_its_username_is_a_422(client: TestClient, ctx: Context) -> None:
    make_user(ctx, "ana.lopez", "comprador")

    api = client.post(
        "/api/v1/auth/token", json={"username": "ana\u0000lopez", "password": PASSWORD}
    )
    page = client.post("/entrar", data={"username": "ana\x00lopez", "password": PASSWORD})

    assert api.status_code == 422, api.text
    assert api.json()["errors"][0]["field"] == "body"
    assert page.status_code == 422
    assert "caracteres de control" in page.text  # a Spanish page off the API


def test_a_lone_surrogate_in_json_is_a_422(client: TestClient) -> None:
    """No UTF-8 encodes it: writing or even echoing it back failed."""
    refused = client.post(
        "/api/v1/auth/token",
        content=b'{"username": "\\ud800", "password": "x"}',
        headers={"Content-Type": "application/json"},
    )

    assert refused.status_code == 422


def test_tabs_line_breaks_and_an_escaped_backslash_pass(client: TestClient) -> None:
    """What a person types is not refused: the login fails on its credentials, as always."""
    answered = client.post(
        "/api/v1/auth/token",
        json={"username": "ana\tlopez\r\n", "password": "literal \\u0000 text"},
    )

    assert answered.status_code == 401


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        (rb'{"a": "x\u0000"}', True),
        (rb'{"a": "x\\u0000"}', False),
        (rb'{"a": "x\\\u0000"}', True),
        (rb'{"a": "\b"}', True),
        (rb'{"a": "\u007f"}', True),
        (rb'{"a": "\ud83d\ude00"}', False),
        (rb'{"a": "\ud83d"}', True),
        (rb'{"a": "\ud83dx\ude00"}', True),
        (rb'{"a": "\ude00"}', True),
        (rb'{"a": "\n\t\r\u0009 \u00e1"}', False),
    ],
)
def test_json_escapes(body: bytes, refused: bool) -> None:
    assert json_controls(body) is refused


def test_form_fields() -> None:
    assert form_controls(b"username=ana%00lopez")
    assert not form_controls(b"reason=una+l%C3%ADnea%0D%0Aotra")
