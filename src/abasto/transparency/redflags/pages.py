"""Pages of red flags: the public view of every flag, explained, with filters and counts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from abasto.core.context import Context
from abasto.core.errors import ValidationFailed
from abasto.transparency.redflags import service
from abasto.transparency.redflags.api import check_code
from abasto.transparency.redflags.indicators import CODES, INDICATORS, KINDS
from abasto.web.deps import public
from abasto.web.params import Page
from abasto.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/banderas")
def flags_page(
    request: Request,
    ctx: Annotated[Context, Depends(public)],
    indicador: str = "",
    proveedor: str = "",
    institucion: str = "",
    clave: str = "",
    licitacion: str = "",
    page: Page = 1,
) -> Response:
    filters: dict[str, str | None] = {
        "rfc": proveedor.strip().upper() or None,
        "institution_code": institucion.strip().upper() or None,
        "clave": clave.strip() or None,
        "tender_number": licitacion.strip() or None,
    }
    error = None
    try:
        code = check_code(indicador.strip().upper())
    except ValidationFailed as exc:
        code, error = None, exc
    flags, total = service.list_flags(
        ctx.db,
        page=page,
        code=code,
        rfc=filters["rfc"],
        institution_code=filters["institution_code"],
        clave=filters["clave"],
        tender_number=filters["tender_number"],
    )
    return render(
        request,
        "transparency/redflags.html",
        ctx,
        422 if error else 200,
        flags=flags,
        total=total,
        page=page,
        pages=max(1, -(-total // service.PAGE_SIZE)),
        counts=service.counts(ctx.db, **filters),
        indicators=[INDICATORS[c] for c in CODES],
        kinds=KINDS,
        run=service.last_run(ctx.db),
        error=error,
        indicador=code or "",
        proveedor=filters["rfc"] or "",
        institucion=filters["institution_code"] or "",
        clave=filters["clave"] or "",
        licitacion=filters["tender_number"] or "",
    )
