"""Pages of identity: log in and out, the account, institutions, suppliers, sanctions list."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from abasto.core.context import Context
from abasto.core.errors import Conflict, Problem, Unauthorized, ValidationFailed
from abasto.identity import service
from abasto.identity.models import Role, User
from abasto.identity.rules import STATES, STATES_BY_CODE, unit_kind_label
from abasto.tendering import rules as tendering_rules
from abasto.transparency.portal import service as portal
from abasto.transparency.redflags import service as redflags
from abasto.web.deps import ANY_USER, SESSION_COOKIE, allow, app_state, public, read_uploads
from abasto.web.templating import render, render_import, render_live

router = APIRouter(include_in_schema=False)

PER_PAGE = 25


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
    return _start_session(request, ctx, user, _safe_next(siguiente))


def _start_session(request: Request, ctx: Context, user: User, target: str) -> Response:
    """A page session for the user, and on to ``target``."""
    settings = app_state(request).settings
    ttl = timedelta(hours=settings.session_ttl_hours)
    secret = service.issue_credential(
        Context(ctx.db, service.actor_of(user), ctx.now), user=user, kind="session", ttl=ttl
    )
    response = RedirectResponse(target, status_code=303)
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


# ----- institutions --------------------------------------------------------------------------


@router.get("/instituciones")
def institutions_page(request: Request, ctx: Annotated[Context, Depends(public)]) -> Response:
    return render(
        request,
        "identity/institutions.html",
        ctx,
        institutions=service.list_institutions(ctx.db),
        kind_label=unit_kind_label,
    )


@router.get("/instituciones/{code}")
def institution_page(
    request: Request, code: str, ctx: Annotated[Context, Depends(public)]
) -> Response:
    institution = service.get_institution(ctx.db, code)
    return render(
        request,
        "identity/institution.html",
        ctx,
        institution=institution,
        record=portal.institution_record(ctx.db, code=institution.code),
        flags=redflags.section(
            ctx.db, query={"institucion": institution.code}, institution_code=institution.code
        ),
        status_labels=tendering_rules.STATUS_LABELS,
        groups=service.institution_units(institution),
        states=STATES_BY_CODE,
        kind_label=unit_kind_label,
    )


# ----- suppliers -----------------------------------------------------------------------------


@router.get("/proveedores")
def suppliers_page(
    request: Request,
    ctx: Annotated[Context, Depends(public)],
    q: Annotated[str, Query(max_length=200)] = "",
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    """The whole page, or only the results when htmx asks for them while the user types."""
    items, total = service.search_suppliers(ctx.db, q=q, page=page, per_page=PER_PAGE)
    return render_live(
        request,
        "identity/suppliers.html",
        "identity/_supplier_results.html",
        ctx,
        q=q.strip(),
        items=items,
        total=total,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        states=STATES_BY_CODE,
    )


# Declared before /proveedores/{rfc}, which would otherwise take «registro» for an RFC.
@router.get("/proveedores/registro")
def register_form(request: Request, ctx: Annotated[Context, Depends(public)]) -> Response:
    return _register_page(request, ctx, form={}, error=None)


@router.post("/proveedores/registro")
def register(
    request: Request,
    ctx: Annotated[Context, Depends(public)],
    rfc: Annotated[str, Form()] = "",
    razon_social: Annotated[str, Form()] = "",
    state: Annotated[str, Form()] = "",
    full_name: Annotated[str, Form()] = "",
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "rfc": rfc,
        "razon_social": razon_social,
        "state": state,
        "full_name": full_name,
        "username": username,
    }
    try:
        supplier, user = service.register_supplier_account(
            ctx,
            rfc=rfc,
            razon_social=razon_social,
            state_code=state,
            username=username,
            full_name=full_name,
            password=password,
        )
    except (ValidationFailed, Conflict) as exc:
        # The page answers normally, so the request would commit: undo whatever was begun.
        ctx.db.rollback()
        return _register_page(request, ctx, form=form, error=exc)
    return _start_session(request, ctx, user, f"/proveedores/{supplier.rfc}?registrado=1")


def _register_page(
    request: Request,
    ctx: Context,
    *,
    form: dict[str, str],
    error: ValidationFailed | Conflict | None,
) -> Response:
    by_field: dict[str, list[Problem]] = {}
    for problem in error.problems if error else ():
        by_field.setdefault(problem.field or "", []).append(problem)
    return render(
        request,
        "identity/supplier_register.html",
        ctx,
        status_code=error.status if error else 200,
        form=form,
        error=error,
        by_field=by_field,
        states=STATES,
    )


@router.get("/proveedores/{rfc}")
def supplier_page(
    request: Request,
    rfc: str,
    ctx: Annotated[Context, Depends(public)],
    registrado: bool = False,
) -> Response:
    standing = service.get_supplier_standing(ctx.db, rfc)
    rfc = standing.supplier.rfc
    return render(
        request,
        "identity/supplier.html",
        ctx,
        standing=standing,
        flags=redflags.section(ctx.db, query={"proveedor": rfc}, rfc=rfc),
        record=portal.supplier_record(ctx.db, rfc=rfc),
        status_labels=tendering_rules.STATUS_LABELS,
        states=STATES_BY_CODE,
        just_registered=registrado,
    )


# ----- the sanctions list --------------------------------------------------------------------


@router.get("/sancionados/importar")
def sanctions_import_form(
    request: Request, ctx: Annotated[Context, Depends(allow(Role.comprador))]
) -> Response:
    return render(request, "identity/sanctions_import.html", ctx, summary=None, error=None)


@router.post("/sancionados/importar", dependencies=[Depends(read_uploads)])
def sanctions_import(
    request: Request,
    ctx: Annotated[Context, Depends(allow(Role.comprador))],
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    return render_import(
        request,
        ctx,
        "identity/sanctions_import.html",
        file,
        missing="Elija el archivo de la lista de sancionados.",
        expected="el CSV de proveedores y contratistas sancionados publicado por la SFP",
        run=lambda content, name: service.import_sanctions(ctx, content=content, filename=name),
    )
