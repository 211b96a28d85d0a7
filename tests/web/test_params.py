"""Integer and date parameters are bounded to what the database and the calendar hold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from abasto.core.bounds import INT_MAX
from abasto.core.config import Settings
from abasto.web.app import create_app


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/tenders/2147483648",
        "/api/v1/tenders/9223372036854775808/bids",
        "/api/v1/tenders/99999999999999999999/fallo",
        "/api/v1/tenders/0",
    ],
)
def test_an_id_beyond_the_column_is_a_422_problem(client: TestClient, url: str) -> None:
    """2147483648 went to the database as it came: a 500 on PostgreSQL (and SQLite past 2**63)."""
    refused = client.get(url)

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"][0]["field"] == "path.tender_id"


def test_the_largest_id_is_only_not_found(client: TestClient) -> None:
    assert client.get(f"/api/v1/tenders/{INT_MAX}").status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/claves?page=4574581327762093056",
        "/api/v1/suppliers?page=2147483648",
        "/api/v1/ledger?page=99999999999999999999",
        "/api/v1/redflags?tender=2147483648",
    ],
)
def test_a_page_beyond_the_range_is_a_422(client: TestClient, url: str) -> None:
    assert client.get(url).status_code == 422


def test_the_last_page_in_range_is_empty(client: TestClient) -> None:
    answered = client.get(f"/api/v1/claves?page={INT_MAX}&per_page=500")

    assert answered.status_code == 200
    assert answered.json()["items"] == []


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/tenders?published_to=9999-12-31",
        "/api/v1/tenders?opening_from=0001-01-01",
        "/api/v1/ocds/releases?until=9999-12-31",
        "/api/v1/ocds/releases?since=9999-12-31T23:59:59.999999",
        "/api/v1/ocds/releases?after=%C2%B2",
        "/api/v1/ocds/releases?before=99999999999999999999",
        "/api/v1/ocds/releases?limit=" + "0" * 5000 + "1",
    ],
)
def test_a_date_or_cursor_beyond_the_range_is_a_422(client: TestClient, url: str) -> None:
    """The day after 9999-12-31 does not exist: the filter's arithmetic answered 500."""
    refused = client.get(url)

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"


def _document() -> dict[str, Any]:
    settings = Settings(database_url="sqlite://", data_dir=Path("."), secret_key="documento")
    document: dict[str, Any] = create_app(settings, check=False).openapi()
    return document


def _alternatives(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]


def test_every_integer_and_date_parameter_declares_its_range() -> None:
    """A new route inherits the rule: name ids with ``web.params`` (or ``core.bounds``)."""
    unbounded = []
    for path, item in _document()["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                for schema in _alternatives(parameter["schema"]):
                    where = f"{method.upper()} {path} {parameter['name']}"
                    if schema.get("type") == "integer" and not (
                        schema.get("minimum", -1) >= 0
                        and schema.get("maximum", INT_MAX + 1) <= INT_MAX
                    ):
                        unbounded.append(where)
                    if schema.get("format") in ("date", "date-time") and not schema.get(
                        "formatMaximum"
                    ):
                        unbounded.append(where)
    assert unbounded == []
