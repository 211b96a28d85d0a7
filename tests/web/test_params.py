"""Integer and date parameters are bounded to what the database and the calendar hold."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import pytest
from annotated_types import Ge, Le
from fastapi.routing import APIRoute, iter_route_contexts
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


@pytest.mark.parametrize(
    "url",
    [
        "/licitaciones/99999999999999999999",
        "/licitaciones/2147483648/apertura",
        "/licitaciones/1/fallo?page=9223372036854775808",
        "/catalogo?page=99999999999999999999",
    ],
)
def test_a_page_given_an_id_beyond_the_column_is_a_422_page(client: TestClient, url: str) -> None:
    """A page's path took any integer: past 2**63 SQLite answered 500 (OverflowError)."""
    refused = client.get(url)

    assert refused.status_code == 422, refused.text
    assert "Datos no válidos" in refused.text


def test_a_malformed_id_is_explained_in_spanish(client: TestClient) -> None:
    """pydantic's own text ("Input should be a valid integer…") reached the pages and the API."""
    page = client.get("/licitaciones/abc")
    api = client.get("/api/v1/tenders/abc?per_page=0").json()

    assert page.status_code == 422
    assert "no es un número entero" in page.text
    assert "Input should" not in page.text
    assert {e["message"] for e in api["errors"]} == {"no es un número entero"}
    assert [e.get("expected") for e in api["errors"]] == ["un número entero"]


def test_a_bound_is_named_in_the_expected_value(client: TestClient) -> None:
    refused = client.get("/api/v1/claves?page=0").json()["errors"][0]

    assert refused["message"] == "es menor que el mínimo"
    assert refused["expected"] == "un valor mayor o igual que 1"
    assert refused["value"] == "0"


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


def test_every_route_bounds_its_integer_parameters() -> None:
    """Pages are not in the OpenAPI document, so the test below does not see them: every route,
    page or API, path, query or form, declares an integer's range (``web.params``)."""
    settings = Settings(database_url="sqlite://", data_dir=Path("."), secret_key="documento")
    unbounded = []
    for context in iter_route_contexts(create_app(settings, check=False).routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        dependants = [route.dependant]
        while dependants:
            dependant = dependants.pop()
            dependants.extend(dependant.dependencies)
            for field in dependant.path_params + dependant.query_params + dependant.body_params:
                if int not in (
                    get_args(field.field_info.annotation) or (field.field_info.annotation,)
                ):
                    continue
                low = [m.ge for m in field.field_info.metadata if isinstance(m, Ge)]
                high = [m.le for m in field.field_info.metadata if isinstance(m, Le)]
                if not (low and high and low[0] >= 0 and high[0] <= INT_MAX):
                    unbounded.append(f"{context.path} {field.name}")
    assert unbounded == []


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
