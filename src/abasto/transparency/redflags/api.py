"""JSON routes of red flags: the stored flags with their explanations, and the indicators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from abasto.core.bounds import INT_MAX
from abasto.core.context import Context
from abasto.core.errors import ValidationFailed
from abasto.transparency.redflags import service
from abasto.transparency.redflags.indicators import CODES, INDICATORS
from abasto.transparency.redflags.schemas import IndicatorRead, RedFlagPage, RedFlagRead
from abasto.web.deps import public
from abasto.web.params import Page, PerPage

router = APIRouter(prefix="/api/v1/redflags", tags=["banderas rojas"])

Public = Annotated[Context, Depends(public)]


def check_code(code: str | None) -> str | None:
    if code and code not in INDICATORS:
        raise ValidationFailed(
            f"No existe el indicador «{code}»", expected="uno de " + ", ".join(CODES)
        )
    return code or None


@router.get("", response_model=RedFlagPage)
def list_flags(
    ctx: Public,
    code: Annotated[str | None, Query(description="Código del indicador, p. ej. R018.")] = None,
    tender: Annotated[
        int | None, Query(ge=1, le=INT_MAX, description="Id de la licitación.")
    ] = None,
    supplier: Annotated[str | None, Query(description="RFC del proveedor.")] = None,
    institution: Annotated[str | None, Query(description="Código de la institución.")] = None,
    clave: Annotated[str | None, Query(description="Clave del Compendio.")] = None,
    page: Page = 1,
    per_page: PerPage = service.PAGE_SIZE,
) -> RedFlagPage:
    """The flags of Abasto's data (last run), each with its explanation and evidence."""
    filters = {
        "tender_id": tender,
        "rfc": (supplier or "").strip().upper() or None,
        "institution_code": (institution or "").strip().upper() or None,
        "clave": (clave or "").strip() or None,
    }
    items, total = service.list_flags(
        ctx.db, page=page, per_page=per_page, code=check_code(code), **filters
    )
    return RedFlagPage(
        items=[RedFlagRead.of(f) for f in items],
        total=total,
        page=page,
        per_page=per_page,
        counts=service.counts(ctx.db, **filters),
    )


@router.get("/indicators", response_model=list[IndicatorRead])
def list_indicators(ctx: Public) -> list[IndicatorRead]:
    """Every indicator: its definition, default threshold and source."""
    return [IndicatorRead.of(INDICATORS[code]) for code in CODES]
