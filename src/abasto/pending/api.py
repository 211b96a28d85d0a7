"""JSON route of «Mis pendientes»: the same list as the page, for a system to poll."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from abasto.core.context import Context
from abasto.pending import service
from abasto.pending.schemas import PendingRead
from abasto.web.deps import ANY_USER, allow, app_state

router = APIRouter(prefix="/api/v1", tags=["pendientes"])


@router.get("/me/pending", response_model=PendingRead)
def my_pending(request: Request, ctx: Annotated[Context, Depends(allow(*ANY_USER))]) -> PendingRead:
    """What the user behind the token has to do now, by kind, each with the page where it is
    done: a planner's open rounds, a buyer's questions, evaluations and fallos, a supplier's
    tenders, bids, contracts and orders, an evaluator's queue."""
    return PendingRead.of(service.my_pending(ctx, app_state(request).sealer))
