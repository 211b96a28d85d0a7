"""Pages of transparency: the public ledger."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from abasto.core import ledger
from abasto.core.context import Context
from abasto.transparency import service
from abasto.web.deps import public
from abasto.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/bitacora")
def ledger_page(
    request: Request,
    ctx: Annotated[Context, Depends(public)],
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    entries, total = service.ledger_page(ctx, page=page)
    head_seq, head_hash = ledger.head(ctx.db)
    pages = max(1, -(-total // service.PAGE_SIZE))
    return render(
        request,
        "transparency/ledger.html",
        ctx,
        entries=entries,
        total=total,
        page=page,
        pages=pages,
        head_seq=head_seq,
        head_hash=head_hash,
    )
