"""The FastAPI application: JSON API under /api/v1, Spanish pages, static files, errors."""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from abasto.award import api as award_api
from abasto.award import pages as award_pages
from abasto.catalog import api as catalog_api
from abasto.catalog import pages as catalog_pages
from abasto.contracts import api as contracts_api
from abasto.contracts import pages as contracts_pages
from abasto.core import checkpoints
from abasto.core.clock import Clock, SystemClock
from abasto.core.config import Settings, load_settings
from abasto.core.context import Context
from abasto.core.db import check_schema, make_engine, session_factory
from abasto.demand import api as demand_api
from abasto.demand import pages as demand_pages
from abasto.identity import api as identity_api
from abasto.identity import pages as identity_pages
from abasto.inventory import api as inventory_api
from abasto.inventory import pages as inventory_pages
from abasto.pending import api as pending_api
from abasto.pending import pages as pending_pages
from abasto.tendering import api as tendering_api
from abasto.tendering import pages as tendering_pages
from abasto.tendering.live import FeedHub
from abasto.tendering.sealing import Sealer
from abasto.transparency import api as transparency_api
from abasto.transparency import pages as transparency_pages
from abasto.transparency.ocds import api as ocds_api
from abasto.transparency.opendata import pages as opendata_pages
from abasto.transparency.portal import api as portal_api
from abasto.transparency.redflags import api as redflags_api
from abasto.transparency.redflags import pages as redflags_pages
from abasto.web import errors, pages
from abasto.web.deps import AppState, public
from abasto.web.limits import BodySizeLimit
from abasto.web.openapi import describe_problems
from abasto.web.plaintext import ControlCharacters
from abasto.web.security import JsonApi, SecurityHeaders, StripBidi

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("abasto.web")

DESCRIPTION = (
    "API de Abasto: catálogo de claves, instituciones, proveedores, identidad y la bitácora "
    "pública encadenada. Autenticación con `Authorization: Bearer <token>` "
    "(obtenga uno con `POST /api/v1/auth/token`). Los errores siguen RFC 9457 (problem details)."
)


DOCS_PAGE = """<!doctype html>
<html lang="es-MX">
<head>
<meta charset="utf-8">
<title>Abasto — API</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/vendor/swagger-ui-5.35.0.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/static/vendor/swagger-ui-5.35.0-bundle.js"></script>
<script src="/static/swagger-init.js"></script>
</body>
</html>
"""


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    clock: Clock | None = None,
    sessions: sessionmaker[Session] | None = None,
    check: bool = True,
) -> FastAPI:
    """The application; tests pass their own clock and sessions bound to their transaction."""
    settings = settings or load_settings()
    engine = engine or make_engine(settings.database_url)
    if check:
        check_schema(engine)
    app = FastAPI(
        title="Abasto",
        version="0.1.0",
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    sessions = sessions or session_factory(engine)
    app.state.abasto = AppState(
        settings=settings,
        engine=engine,
        sessions=sessions,
        clock=clock or SystemClock(),
        sealer=Sealer.from_settings(settings),
        hub=FeedHub(
            sessions, database_url=settings.database_url, poll_seconds=settings.live_poll_seconds
        ),
        signer=checkpoints.signer_from_settings(settings),
    )
    errors.install(app)
    describe_problems(app)
    # Added last, run first: the size limit before anything reads a body, the headers on
    # every answer, the size limit's 413 included.
    app.add_middleware(StripBidi)
    app.add_middleware(JsonApi)
    app.add_middleware(ControlCharacters)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs(_: Annotated[Context, Depends(public)]) -> HTMLResponse:
        # Served from our own static files: the machine that runs Abasto may have no internet.
        # Swagger UI starts from a static script: the CSP refuses inline ones.
        return HTMLResponse(DOCS_PAGE)

    for router in (
        identity_api.router,
        catalog_api.router,
        demand_api.router,
        tendering_api.router,
        award_api.router,
        inventory_api.router,
        transparency_api.router,
        ocds_api.router,
        redflags_api.router,
        portal_api.router,
        contracts_api.router,
        pending_api.router,
        pages.router,
        pending_pages.router,
        identity_pages.router,
        catalog_pages.router,
        demand_pages.router,
        tendering_pages.router,
        award_pages.router,
        contracts_pages.router,
        inventory_pages.router,
        transparency_pages.router,
        redflags_pages.router,
        opendata_pages.router,
    ):
        app.include_router(router)
    return app


def serving_app() -> FastAPI:
    """``create_app`` from the ``ABASTO_*`` settings for a server process of its own
    (``uvicorn --factory --no-server-header abasto.web.app:serving_app``), with its start-up
    heap frozen. uvicorn adds its ``server`` header after the app has answered, so only its
    ``--no-server-header`` (``server_header=False``) removes it."""
    app = create_app()
    freeze_heap()
    return app


def freeze_heap() -> None:
    """Put every object alive now (the modules, the app with its routes and schemas) beyond the
    garbage collector's reach, once a server has started: a full collection then walks only
    what requests create. Without it, a full collection of a server holding 2,000 live viewers
    paused it for up to 260 ms, and the viewers of whatever event was due waited as long."""
    gc.collect()
    gc.freeze()
