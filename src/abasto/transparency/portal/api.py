"""JSON routes of the portal: a clave's price history, a supplier's and an institution's record."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from abasto.core.context import Context
from abasto.core.money import local_day
from abasto.transparency.portal import service
from abasto.transparency.portal.service import InstitutionRecord, PriceHistory, SupplierRecord
from abasto.web.deps import public

router = APIRouter(prefix="/api/v1", tags=["portal"])

Public = Annotated[Context, Depends(public)]


@router.get("/claves/{clave}/price-history", response_model=PriceHistory)
def price_history(clave: str, ctx: Public) -> PriceHistory:
    """Every awarded unit price of the clave, oldest fallo first: per tender, supplier and
    institution (a contract draft), with the reference price the fallo used."""
    return service.price_history(ctx.db, clave=clave)


@router.get("/suppliers/{rfc}/summary", response_model=SupplierRecord)
def supplier_summary(rfc: str, ctx: Public) -> SupplierRecord:
    """Tenders it bid in (from their opening), partidas won, amounts, contract drafts, and its
    nivel de surtimiento by month (orders due by today, Mexico City)."""
    return service.supplier_record(ctx.db, rfc=rfc, as_of=local_day(ctx.now))


@router.get("/institutions/{code}/summary", response_model=InstitutionRecord)
def institution_summary(code: str, ctx: Public) -> InstitutionRecord:
    """Its demand in published tenders, the contracts drafted for it, with whom, for how much."""
    return service.institution_record(ctx.db, code=code)
