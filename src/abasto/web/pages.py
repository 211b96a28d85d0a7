"""The home page: what the platform holds, and where to go from here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from abasto.catalog import service as catalog
from abasto.core import ledger
from abasto.core.context import Context
from abasto.identity import service as identity
from abasto.web.deps import public
from abasto.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(request: Request, ctx: Annotated[Context, Depends(public)]) -> Response:
    counts = identity.registry_counts(ctx.db)
    head_seq, head_hash = ledger.head(ctx.db)
    return render(
        request,
        "home.html",
        ctx,
        counts=counts,
        claves=catalog.count_claves(ctx.db),
        example=catalog.example(ctx.db),
        head_seq=head_seq,
        head_hash=head_hash,
    )
