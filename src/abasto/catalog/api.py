"""JSON routes of the catalog: search and read claves, import the catalog and homologations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, UploadFile

from abasto.catalog import service
from abasto.catalog.schemas import (
    ClaveDetailRead,
    ClavePage,
    ClaveRead,
    HomologationPage,
    HomologationRead,
    HomologationSummaryRead,
    ImportSummaryRead,
)
from abasto.core.context import Context
from abasto.identity.models import Role
from abasto.web.deps import allow, public, read_uploads
from abasto.web.params import PER_PAGE, Page, PerPage

router = APIRouter(prefix="/api/v1", tags=["catálogo"])

Upload = Annotated[UploadFile, File(description="Archivo .xlsx o .csv.")]


@router.get("/claves", response_model=ClavePage)
def search_claves(
    ctx: Annotated[Context, Depends(public)],
    q: Annotated[str, Query(max_length=200, description="Clave, parte de ella o palabras.")] = "",
    page: Page = 1,
    per_page: PerPage = PER_PAGE,
) -> ClavePage:
    """Claves by clave prefix (`010.000.0104`), segment (`0104`) or words of the description."""
    items, total = service.search_claves(ctx.db, q=q, page=page, per_page=per_page)
    return ClavePage(
        items=[ClaveRead.of(c) for c in items], total=total, page=page, per_page=per_page
    )


@router.get("/claves/{clave}", response_model=ClaveDetailRead)
def get_clave(clave: str, ctx: Annotated[Context, Depends(public)]) -> ClaveDetailRead:
    """One clave with its category, IVA rate, CUCoP and the institutions' codes for it."""
    return ClaveDetailRead.of_detail(service.get_clave_detail(ctx.db, clave))


@router.post(
    "/catalog/imports",
    response_model=ImportSummaryRead,
    status_code=201,
    dependencies=[Depends(read_uploads)],
)
def import_catalog(
    file: Upload,
    ctx: Annotated[Context, Depends(allow(Role.comprador))],
    encoding: Annotated[
        str | None,
        Query(
            max_length=20,
            description="Codificación de un .csv (utf-8, cp1252, latin-1, cp850, mac-roman);"
            " sin ella se detecta, y un archivo cuya codificación no se reconoce se rechaza.",
        ),
    ] = None,
) -> ImportSummaryRead:
    """Import a catalog file; all or nothing (422 lists every problem of a bad file)."""
    summary = service.import_catalog(
        ctx, content=file.file.read(), filename=file.filename or "catalogo", encoding=encoding
    )
    return ImportSummaryRead.of(summary)


@router.get("/institutions/{code}/homologations", response_model=HomologationPage)
def list_homologations(
    code: str,
    ctx: Annotated[Context, Depends(public)],
    page: Page = 1,
    per_page: PerPage = PER_PAGE,
) -> HomologationPage:
    """The institution's own codes and the clave each one stands for."""
    institution, items, total = service.list_homologations(
        ctx.db, institution_code=code, page=page, per_page=per_page
    )
    return HomologationPage(
        institution=institution.code,
        institution_name=institution.name,
        items=[HomologationRead.of(h) for h in items],
        total=total,
        page=page,
        per_page=per_page,
    )


@router.post(
    "/institutions/{code}/homologations",
    response_model=HomologationSummaryRead,
    status_code=201,
    dependencies=[Depends(read_uploads)],
)
def import_homologations(
    code: str,
    file: Upload,
    ctx: Annotated[Context, Depends(allow(Role.comprador, Role.institucion))],
) -> HomologationSummaryRead:
    """Import the institution's code → clave table (planners only for their own institution)."""
    summary = service.import_homologations(
        ctx, institution_code=code, content=file.file.read(), filename=file.filename or "tabla"
    )
    return HomologationSummaryRead.of(summary)
