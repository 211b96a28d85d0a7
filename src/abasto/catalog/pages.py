"""Pages of the catalog: search with live results, a clave's page with its price history, and
the import form."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import Response

from abasto.catalog import service
from abasto.catalog.schemas import ClaveDetailRead, ClaveRead
from abasto.core.context import Context
from abasto.identity.models import Role
from abasto.transparency.portal import service as portal
from abasto.transparency.portal.chart import price_chart
from abasto.transparency.redflags import service as redflags
from abasto.web.deps import allow, public, read_uploads
from abasto.web.params import Page
from abasto.web.templating import render, render_import, render_live

router = APIRouter(include_in_schema=False)

PER_PAGE = 25


@router.get("/catalogo")
def search_page(
    request: Request,
    ctx: Annotated[Context, Depends(public)],
    q: Annotated[str, Query(max_length=200)] = "",
    page: Page = 1,
) -> Response:
    """The whole page, or only the results when htmx asks for them while the user types."""
    items, total = service.search_claves(ctx.db, q=q, page=page, per_page=PER_PAGE)
    return render_live(
        request,
        "catalog/search.html",
        "catalog/_results.html",
        ctx,
        q=q.strip(),
        items=[ClaveRead.of(c) for c in items],
        example=service.example(ctx.db),
        total=total,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
    )


# Declared before /catalogo/{clave}, which would otherwise take «importar» for a clave.
@router.get("/catalogo/importar")
def import_form(
    request: Request, ctx: Annotated[Context, Depends(allow(Role.comprador))]
) -> Response:
    return render(request, "catalog/import.html", ctx, summary=None, error=None)


@router.post("/catalogo/importar", dependencies=[Depends(read_uploads)])
def import_upload(
    request: Request,
    ctx: Annotated[Context, Depends(allow(Role.comprador))],
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    return render_import(
        request,
        ctx,
        "catalog/import.html",
        file,
        missing="Elija el archivo del catálogo.",
        expected="un archivo .xlsx o .csv con las claves",
        run=lambda content, name: service.import_catalog(ctx, content=content, filename=name),
    )


@router.get("/catalogo/{clave}")
def clave_page(request: Request, clave: str, ctx: Annotated[Context, Depends(public)]) -> Response:
    """The clave, its institutions' codes, and its awarded prices over time."""
    detail = ClaveDetailRead.of_detail(service.get_clave_detail(ctx.db, clave))
    history = portal.price_history(ctx.db, clave=detail.clave)
    return render(
        request,
        "catalog/clave.html",
        ctx,
        clave=detail,
        history=history,
        chart=price_chart(history.points),
        flags=redflags.section(ctx.db, query={"clave": detail.clave}, clave=detail.clave),
        tender_url=lambda tender_id: f"/licitaciones/{tender_id}",
    )
