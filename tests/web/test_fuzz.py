"""The API fuzzed from its own OpenAPI document (schemathesis), as three identities at once.

Every operation of ``/openapi.json`` but the live feed (a stream that never ends) and the token's
revocation (it would log the fuzzer out) gets cases generated from its parameters and bodies,
valid and invalid; each case is sent as the anonymous public, a buyer (``comprador``) and a
supplier (``proveedor``), to the app on the suite's database with three tenders in it (awarded,
awarded later, sealed). No answer may be a server error, and every answer must match what the
document declares for its status. ``ABASTO_FUZZ_EXAMPLES`` raises the examples per operation for
an exploratory run (the suite uses a few, derandomized, so a run is reproducible).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.filters import HasAPIOperation
from schemathesis.python.asgi import HOST, ASGIClient
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
)
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from abasto.core.clock import FixedClock
from abasto.core.config import Settings
from abasto.core.context import Context, operator
from abasto.demand.models import DemandRound
from abasto.identity import service as identity
from abasto.web.app import create_app
from tests.conftest import PASSWORD, T0
from tests.tendering import conftest as tendering_world
from tests.tendering.conftest import ASPIRINA, PARACETAMOL, PARTIES
from tests.transparency.conftest import Purchases, build_purchases

EXAMPLES = int(os.environ.get("ABASTO_FUZZ_EXAMPLES", "5"))
BASE_URL = f"http://{HOST}"
IDENTITIES = {"comprador": "comprador", "proveedor": "prov.a"}


@pytest.fixture(scope="module")
def fuzzed_app(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """The app on the suite's database with the three tenders of ``build_purchases``, built once
    for every operation in one transaction rolled back at the end (what the fuzzer writes, such
    as a supplier registering, stays for the operations after it, as on a real server)."""
    with engine.connect() as connection, pytest.MonkeyPatch.context() as patch:
        outer = connection.begin()
        sessions = sessionmaker(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        clock = FixedClock(T0)
        settings = Settings(
            database_url=engine.url.render_as_string(hide_password=False),
            data_dir=tmp_path_factory.mktemp("fuzz"),
            secret_key="test-secret",
        )
        inspect.unwrap(tendering_world.cheap_passwords)(patch)
        # An unknown username is checked against a dummy hash made at import at the real cost
        # (0.1 s): the login's cases, three identities each, would spend most of the run there.
        patch.setattr(identity, "_DUMMY_HASH", identity._hasher.hash("fuzz"))
        with sessions() as db:
            ctx = Context(db=db, actor=operator("pruebas"), now=clock.now())
            built = build_purchases(
                inspect.unwrap(tendering_world.world)(ctx, clock, settings, sessions, None)
            )
            KNOWN.update(_known(db, built))
        yield create_app(settings, engine=engine, clock=clock, sessions=sessions, check=False)
        KNOWN.clear()
        outer.rollback()


KNOWN: dict[str, list[object]] = {}
"""Path parameters' values that name something in the database, by parameter name."""


def _known(db: Session, built: Purchases) -> dict[str, list[object]]:
    tenders = [built.first.tender, built.second.tender, built.sealed]
    return {
        "tender_id": [t.id for t in tenders],
        "number": [1, 2, 3],
        "bid_id": [*built.first.bids.values(), *built.sealed_bids.values()],
        "round_name": list(db.scalars(select(DemandRound.name))),
        "code": ["IMSS", "ISSSTE"],
        "clave": [PARACETAMOL, ASPIRINA],
        "rfc": [PARTIES["a"].rfc],
        "ocid": [f"ocds-abasto-{t.number}" for t in tenders],
    }


@pytest.fixture(scope="module")
def tokens(fuzzed_app: FastAPI) -> dict[str, dict[str, str]]:
    """Headers of each identity: none for the public, a fresh bearer token for the others."""
    found: dict[str, dict[str, str]] = {"anonimo": {}}
    with TestClient(fuzzed_app) as http:
        for name, username in IDENTITIES.items():
            response = http.post(
                "/api/v1/auth/token", json={"username": username, "password": PASSWORD}
            )
            assert response.status_code == 201, response.text
            found[name] = {"Authorization": f"Bearer {response.json()['access_token']}"}
    return found


def _document() -> dict[str, Any]:
    """The OpenAPI document as served; routes do not need a database to describe themselves."""
    settings = Settings(database_url="sqlite://", data_dir=Path("."), secret_key="documento")
    document: dict[str, Any] = create_app(settings, check=False).openapi()
    return document


EXCLUDED = {
    ("GET", "/api/v1/tenders/{tender_id}/live"),
    ("DELETE", "/api/v1/auth/token"),
}


def _excluded(ctx: HasAPIOperation) -> bool:
    return (ctx.operation.method.upper(), ctx.operation.path) in EXCLUDED


schema = schemathesis.openapi.from_dict(_document()).exclude(_excluded)


@schema.hook
def flatmap_path_parameters(
    context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    """Each path parameter as generated or, more often, one that names something in the database:
    random ids and claves only ever reach «not found», never what comes after it."""
    if not isinstance(path_parameters, dict):
        # None for an operation without path parameters.
        return st.just(path_parameters)
    known = {name: KNOWN[name] for name in path_parameters if KNOWN.get(name)}
    chosen = st.fixed_dictionaries(
        {name: st.sampled_from([path_parameters[name], *values]) for name, values in known.items()}
    )
    return chosen.map(lambda values: {**path_parameters, **values})


@pytest.fixture(scope="module")
def http(fuzzed_app: FastAPI) -> Iterator[ASGIClient]:
    """The app on the test's database, reached in-process as schemathesis reaches an ASGI app."""
    # FastAPI's __call__ types its scope as a MutableMapping, schemathesis' as a dict.
    with ASGIClient(fuzzed_app) as client:  # type: ignore[arg-type]
        yield client


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_a_server_error_or_breaks_its_schema(
    case: schemathesis.Case[Any], http: ASGIClient, tokens: dict[str, dict[str, str]]
) -> None:
    for headers in tokens.values():
        case.call_and_validate(
            base_url=BASE_URL,
            session=http,
            headers=headers,
            checks=[not_a_server_error, response_schema_conformance],
        )
