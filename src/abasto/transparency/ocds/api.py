"""JSON routes of OCDS: release packages and record packages, public.

``GET /api/v1/ocds/releases`` pages with cursors (``after``/``before``, from ``links.next`` and
``links.prev``), ``limit`` ledger entries a page (1–1,000, 100 by default), filtered by
``since``/``until`` (a date is a whole day in Mexico's time; both bounds included) and ``ocid``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from abasto.core.context import Context
from abasto.core.ledger import format_instant
from abasto.transparency.ocds import service
from abasto.web.deps import app_state, public

router = APIRouter(prefix="/api/v1/ocds", tags=["datos abiertos (OCDS)"])


def _prefix(request: Request) -> str:
    return app_state(request).settings.ocid_prefix


@router.get("/releases")
def releases(
    request: Request,
    ctx: Annotated[Context, Depends(public)],
    since: str | None = None,
    until: str | None = None,
    ocid: str | None = None,
    after: str | None = None,
    before: str | None = None,
    limit: str | None = None,
) -> JSONResponse:
    """A release package: one page of releases, oldest first, with links to the pages around."""
    zone = app_state(request).settings.timezone
    filters = service.Filters(
        since=service.parse_bound(since, name="since", zone=zone, end=False),
        until=service.parse_bound(until, name="until", zone=zone, end=True),
        ocid=ocid.strip() if ocid and ocid.strip() else None,
    )
    service.check_filters(filters)
    page = service.release_page(
        ctx.db,
        _prefix(request),
        filters,
        after=service.parse_cursor(after, name="after"),
        before=service.parse_cursor(before, name="before"),
        limit=service.parse_limit(limit),
    )
    body = service.package(
        "releases",
        page.releases,
        uri=str(request.url),
        published=format_instant(ctx.now),
        policy=app_state(request).settings.publication_policy,
    )
    links: dict[str, Any] = {}
    keep = {k: v for k, v in request.query_params.items() if k not in ("after", "before")}
    if page.next_after is not None:
        links["next"] = str(request.url.replace_query_params(**keep, after=page.next_after))
    if page.prev_before is not None:
        links["prev"] = str(request.url.replace_query_params(**keep, before=page.prev_before))
    if links:
        body["links"] = links
    return JSONResponse(body)


@router.get("/records/{ocid}")
def record(ocid: str, request: Request, ctx: Annotated[Context, Depends(public)]) -> JSONResponse:
    """A record package with the contracting process's record: its releases, compiled and
    versioned release."""
    found = service.record_of(ctx.db, _prefix(request), ocid)
    return JSONResponse(
        service.package(
            "records",
            [found],
            uri=str(request.url),
            published=format_instant(ctx.now),
            policy=app_state(request).settings.publication_policy,
        )
    )


@router.get("/policy")
def policy(request: Request, ctx: Annotated[Context, Depends(public)]) -> dict[str, str]:
    """The publication policy the packages point to."""
    return {"politica": service.POLICY.format(prefix=_prefix(request))}
