"""JSON routes of identity: bearer tokens and who am I."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from abasto.core.context import Context
from abasto.identity import service
from abasto.identity.schemas import MeRead, TokenCreate, TokenRead
from abasto.web.deps import ANY_USER, allow, app_state, public

router = APIRouter(prefix="/api/v1", tags=["identidad"])


@router.post("/auth/token", response_model=TokenRead, status_code=201)
def create_token(
    body: TokenCreate, request: Request, ctx: Annotated[Context, Depends(public)]
) -> TokenRead:
    """Exchange a username and password for a bearer token."""
    user = service.authenticate(ctx.db, username=body.username, password=body.password)
    ttl = timedelta(days=app_state(request).settings.token_ttl_days)
    secret = service.issue_credential(
        Context(ctx.db, service.actor_of(user), ctx.now),
        user=user,
        kind="token",
        ttl=ttl,
        label=body.label,
    )
    return TokenRead(access_token=secret, expires_at=ctx.now + ttl)


@router.delete("/auth/token", status_code=204)
def revoke_token(request: Request, ctx: Annotated[Context, Depends(allow(*ANY_USER))]) -> Response:
    """Revoke the token used for this request."""
    secret = request.headers.get("authorization", "").partition(" ")[2].strip()
    service.revoke_credential(ctx, secret=secret, kind="token")
    return Response(status_code=204)


@router.get("/me", response_model=MeRead)
def me(ctx: Annotated[Context, Depends(allow(*ANY_USER))]) -> MeRead:
    """The user behind the token."""
    user = service.get_user_by_id(ctx.db, ctx.actor.user_id)
    return MeRead(
        username=user.username,
        full_name=user.full_name,
        role=user.role.value,
        institution=user.institution.code if user.institution else None,
        supplier=user.supplier.rfc if user.supplier else None,
    )
