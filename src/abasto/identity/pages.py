"""Pages of identity: log in and out, the account, institutions, suppliers, sanctions list."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from abasto.core.context import Context
from abasto.core.errors import (
    AbastoError,
    Conflict,
    NotFound,
    Problem,
    TooManyRequests,
    Unauthorized,
    ValidationFailed,
)
from abasto.core.money import local_day
from abasto.identity import clues, service
from abasto.identity.models import SUPPLIER_STATUS_LABELS, Role, User
from abasto.identity.rules import (
    STATES,
    STATES_BY_CODE,
    parse_state,
    state_problems,
    unit_kind_label,
)
from abasto.tendering import rules as tendering_rules
from abasto.transparency.portal import service as portal
from abasto.transparency.redflags import service as redflags
from abasto.web.deps import (
    ANY_USER,
    SESSION_COOKIE,
    allow,
    app_state,
    client_address,
    public,
    read_uploads,
)
from abasto.web.params import Page, RenameId
from abasto.web.templating import render, render_import, render_live

router = APIRouter(include_in_schema=False)

PER_PAGE = 25


LANDING = "/pendientes"
"""Where a user lands after signing in when no page asked for it: «Mis pendientes»."""


def _safe_next(target: str | None) -> str:
    # Only paths on this site: an open redirect would let a phishing link borrow our login page.
    # The home page is where the public starts; a user signing in from it wants its tasks.
    if target and target.startswith("/") and not target.startswith("//") and target != "/":
        return target
    return LANDING


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
        user = service.sign_in(
            ctx, username=username, password=password, address=client_address(request)
        )
    except (Unauthorized, TooManyRequests) as exc:
        # Rendered, not raised: the failure's count commits with this request.
        response = render(
            request,
            "identity/login.html",
            ctx,
            status_code=exc.status,
            siguiente=_safe_next(siguiente),
            error=exc.detail,
            username=username,
        )
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
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


# ----- the buyer's registry of institutions and units ----------------------------------------

Buyer = Annotated[Context, Depends(allow(Role.comprador))]
Text = Annotated[str, Form(max_length=300)]
Short = Annotated[str, Form(max_length=60)]
Reason = Annotated[str, Form(max_length=500)]


@router.get("/comprador/instituciones")
def registry_page(request: Request, ctx: Buyer) -> Response:
    return _registry(request, ctx)


def _registry(
    request: Request, ctx: Context, *, error: AbastoError | None = None, done: str | None = None
) -> Response:
    return render(
        request,
        "identity/registry.html",
        ctx,
        status_code=error.status if error else 200,
        institutions=service.list_institutions(ctx.db),
        states=STATES,
        error=error,
        done=done,
    )


@router.post("/comprador/instituciones")
def register_institution(
    request: Request,
    ctx: Buyer,
    code: Annotated[str, Form(max_length=40)] = "",
    name: Text = "",
    kind: Short = "",
    parent: Annotated[str, Form(max_length=40)] = "",
    state: Short = "",
    aliases: Annotated[str, Form(max_length=3000)] = "",
) -> Response:
    try:
        institution = service.register_institution(
            ctx,
            code=code,
            name=name,
            kind=kind,
            aliases=[a for a in aliases.splitlines() if a.strip()],
            coordinator_code=parent or None,
            state_code=state or None,
        )
    except (ValidationFailed, Conflict, NotFound) as exc:
        ctx.db.rollback()
        return _registry(request, ctx, error=exc)
    return _manage(request, ctx, institution.code, done=f"Se registró «{institution.code}».")


@router.get("/comprador/instituciones/{code}")
def manage_page(request: Request, code: str, ctx: Buyer) -> Response:
    return _manage(request, ctx, code)


def _manage(
    request: Request,
    ctx: Context,
    code: str,
    *,
    error: AbastoError | None = None,
    done: str | None = None,
) -> Response:
    institution = service.get_institution(ctx.db, code)
    return render(
        request,
        "identity/registry_institution.html",
        ctx,
        status_code=error.status if error else 200,
        institution=institution,
        groups=service.institution_units(institution),
        states=STATES,
        states_by_code=STATES_BY_CODE,
        kind_label=unit_kind_label,
        error=error,
        done=done,
    )


def _changed(request: Request, ctx: Context, code: str, change: Callable[[], str]) -> Response:
    """Run one change of the registry; a refusal re-renders the page with it, nothing written."""
    try:
        done = change()
    except (ValidationFailed, Conflict) as exc:
        ctx.db.rollback()
        return _manage(request, ctx, code, error=exc)
    return _manage(request, ctx, code, done=done)


@router.post("/comprador/instituciones/{code}/nombre")
def rename_institution(request: Request, code: str, ctx: Buyer, name: Text = "") -> Response:
    def change() -> str:
        institution = service.rename_institution(ctx, code=code, name=name)
        return f"«{institution.code}» se llama ahora «{institution.name}»."

    return _changed(request, ctx, code, change)


@router.post("/comprador/instituciones/{code}/otros-nombres")
def add_alias(request: Request, code: str, ctx: Buyer, alias: Text = "") -> Response:
    def change() -> str:
        added = service.add_institution_alias(ctx, code=code, alias=alias)
        return f"«{added.alias}» identifica ahora a «{added.institution.code}»."

    return _changed(request, ctx, code, change)


@router.post("/comprador/instituciones/{code}/retirar")
def retire_institution(request: Request, code: str, ctx: Buyer, reason: Reason = "") -> Response:
    def change() -> str:
        institution = service.retire_institution(ctx, code=code, reason=reason)
        return f"«{institution.code}» quedó retirada con sus unidades."

    return _changed(request, ctx, code, change)


@router.post("/comprador/instituciones/{code}/unidades")
def add_unit(
    request: Request,
    code: str,
    ctx: Buyer,
    unit_code: Short = "",
    name: Text = "",
    kind: Annotated[str, Form(max_length=40)] = "unidad",
    state: Short = "",
    municipality: Annotated[str, Form(max_length=120)] = "",
) -> Response:
    def change() -> str:
        problems = state_problems(state)
        if problems:
            raise ValidationFailed("No se pudo registrar la unidad.", problems=problems)
        unit = service.add_unit(
            ctx,
            institution_code=code,
            unit=service.UnitSpec(
                code=unit_code,
                name=name,
                kind=kind,
                state_code=parse_state(state),
                municipality=municipality.strip() or None,
            ),
        )
        return f"Se registró la unidad «{unit.code}»."

    return _changed(request, ctx, code, change)


@router.post("/comprador/instituciones/{code}/unidades/nombre")
def rename_unit(
    request: Request, code: str, ctx: Buyer, unit_code: Short = "", name: Text = ""
) -> Response:
    def change() -> str:
        unit = service.rename_unit(ctx, institution_code=code, code=unit_code, name=name)
        return f"La unidad «{unit.code}» se llama ahora «{unit.name}»."

    return _changed(request, ctx, code, change)


@router.post("/comprador/instituciones/{code}/unidades/retirar")
def retire_unit(
    request: Request, code: str, ctx: Buyer, unit_code: Short = "", reason: Reason = ""
) -> Response:
    def change() -> str:
        unit = service.retire_unit(ctx, institution_code=code, code=unit_code, reason=reason)
        return f"La unidad «{unit.code}» quedó retirada."

    return _changed(request, ctx, code, change)


@router.get("/comprador/unidades/importar")
def units_import_form(request: Request, ctx: Buyer) -> Response:
    return render(request, "identity/units_import.html", ctx, summary=None, error=None)


@router.post("/comprador/unidades/importar", dependencies=[Depends(read_uploads)])
def units_import(
    request: Request, ctx: Buyer, file: Annotated[UploadFile | None, File()] = None
) -> Response:
    return render_import(
        request,
        ctx,
        "identity/units_import.html",
        file,
        missing="Elija el archivo con el catálogo CLUES.",
        expected=clues.EXPECTED_FILE,
        run=lambda content, name: service.import_units(ctx, content=content, filename=name),
    )


# ----- suppliers -----------------------------------------------------------------------------


@router.get("/proveedores")
def suppliers_page(
    request: Request,
    ctx: Annotated[Context, Depends(public)],
    q: Annotated[str, Query(max_length=200)] = "",
    page: Page = 1,
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
        pending=service.pending_rename(ctx.db, standing.supplier),
        supplier_status_labels=SUPPLIER_STATUS_LABELS,
        flags=redflags.section(ctx.db, query={"proveedor": rfc}, rfc=rfc),
        record=portal.supplier_record(ctx.db, rfc=rfc, as_of=local_day(ctx.now)),
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


# ----- the buyer's review: self-registered suppliers and renames ------------------------------


@router.get("/comprador/proveedores")
def review_page(
    request: Request, ctx: Annotated[Context, Depends(allow(Role.comprador))]
) -> Response:
    return _review(request, ctx)


def _review(
    request: Request,
    ctx: Context,
    *,
    error: AbastoError | None = None,
    subject: str | None = None,
    done: str | None = None,
) -> Response:
    return render(
        request,
        "identity/review.html",
        ctx,
        status_code=error.status if error else 200,
        suppliers=service.standings(ctx.db, service.pending_suppliers(ctx.db)),
        renames=service.pending_renames(ctx.db),
        documents=service.VERIFICATION_DOCUMENTS,
        error=error,
        subject=subject,
        done=done,
    )


def _decided(request: Request, ctx: Context, subject: str, decide: Callable[[], str]) -> Response:
    """Run one review decision; a refusal re-renders the page with it, having written nothing."""
    try:
        done = decide()
    except (ValidationFailed, Conflict) as exc:
        ctx.db.rollback()
        return _review(request, ctx, error=exc, subject=subject)
    return _review(request, ctx, done=done)


@router.post("/comprador/proveedores/{rfc}/verificar")
def verify_supplier(
    request: Request,
    rfc: str,
    ctx: Annotated[Context, Depends(allow(Role.comprador))],
    tax_certificate: Annotated[str, Form(max_length=40)] = "",
    articles_of_incorporation: Annotated[str, Form(max_length=400)] = "",
    representative: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    def decide() -> str:
        supplier = service.verify_supplier(
            ctx,
            rfc=rfc,
            tax_certificate=tax_certificate,
            articles_of_incorporation=articles_of_incorporation,
            representative=representative,
        )
        return f"{supplier.razon_social} ({supplier.rfc}) quedó verificado y ya puede participar."

    return _decided(request, ctx, rfc, decide)


@router.post("/comprador/proveedores/{rfc}/rechazar")
def reject_supplier(
    request: Request,
    rfc: str,
    ctx: Annotated[Context, Depends(allow(Role.comprador))],
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    def decide() -> str:
        supplier = service.reject_supplier(ctx, rfc=rfc, note=note)
        return f"Se rechazó el registro de {supplier.razon_social} ({supplier.rfc})."

    return _decided(request, ctx, rfc, decide)


@router.post("/comprador/cambios-de-nombre/{rename_id}/aprobar")
def approve_rename(
    request: Request,
    rename_id: RenameId,
    ctx: Annotated[Context, Depends(allow(Role.comprador))],
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    def decide() -> str:
        supplier = service.approve_rename(ctx, rename_id=rename_id, note=note)
        return f"{supplier.rfc} se llama ahora «{supplier.razon_social}»."

    return _decided(request, ctx, f"cambio-{rename_id}", decide)


@router.post("/comprador/cambios-de-nombre/{rename_id}/rechazar")
def reject_rename(
    request: Request,
    rename_id: RenameId,
    ctx: Annotated[Context, Depends(allow(Role.comprador))],
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    def decide() -> str:
        rename = service.reject_rename(ctx, rename_id=rename_id, note=note)
        return f"Se rechazó el cambio de {rename.supplier.rfc} a «{rename.new_name}»."

    return _decided(request, ctx, f"cambio-{rename_id}", decide)
