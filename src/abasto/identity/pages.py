"""Pages of identity: log in, log out, and the user's account with its API tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from abasto.core.context import Context
from abasto.core.errors import Unauthorized
from abasto.identity import service
from abasto.web.deps import ANY_USER, SESSION_COOKIE, allow, app_state, public
from abasto.web.templating import render

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    # Only paths on this site: an open redirect would let a phishing link borrow our login page.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


@router.get("/entrar")
def login_form(
    request: Request, ctx: Annotated[Context, Depends(public)], siguiente: str = "/"
) -> Response:
    return render(request, "identity/login.html", ctx, siguiente=_safe_next(siguiente), error=None)


@router.post("/entrar")
def login(
    request: Request,
    ctx: Annotated[Context, Depends(public)],
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    siguiente: Annotated[str, Form()] = "/",
) -> Response:
    try:
        user = service.authenticate(ctx.db, username=username, password=password)
    except Unauthorized as exc:
        return render(
            request,
            "identity/login.html",
            ctx,
            status_code=401,
            siguiente=_safe_next(siguiente),
            error=exc.detail,
            username=username,
        )
    settings = app_state(request).settings
    ttl = timedelta(hours=settings.session_ttl_hours)
    secret = service.issue_credential(
        Context(ctx.db, service.actor_of(user), ctx.now), user=user, kind="session", ttl=ttl
    )
    response = RedirectResponse(_safe_next(siguiente), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(ttl.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/salir")
def logout(request: Request, ctx: Annotated[Context, Depends(allow(*ANY_USER))]) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        service.revoke_credential(ctx, secret=cookie, kind="session")
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/cuenta")
def account(request: Request, ctx: Annotated[Context, Depends(allow(*ANY_USER))]) -> Response:
    user = service.get_user_by_id(ctx.db, ctx.actor.user_id)
    return render(request, "identity/account.html", ctx, user=user, new_token=None)


@router.post("/cuenta/tokens")
def create_token(
    request: Request,
    ctx: Annotated[Context, Depends(allow(*ANY_USER))],
    label: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    user = service.get_user_by_id(ctx.db, ctx.actor.user_id)
    ttl = timedelta(days=app_state(request).settings.token_ttl_days)
    secret = service.issue_credential(ctx, user=user, kind="token", ttl=ttl, label=label)
    return render(request, "identity/account.html", ctx, user=user, new_token=secret)
