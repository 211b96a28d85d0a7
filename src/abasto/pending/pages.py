"""The page «Mis pendientes»: where a user lands after signing in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from abasto.core.context import Context
from abasto.pending import service
from abasto.web.deps import ANY_USER, allow, app_state
from abasto.web.templating import render

router = APIRouter(include_in_schema=False)

PENDING_URL = "/pendientes"


@router.get(PENDING_URL)
def pending_page(request: Request, ctx: Annotated[Context, Depends(allow(*ANY_USER))]) -> Response:
    """The user's pending tasks, by kind, each a link to where it is done."""
    return render(
        request,
        "pending/mine.html",
        ctx,
        pending=service.my_pending(ctx, app_state(request).sealer),
    )
