"""JSON routes of identity: tokens, who am I, institutions, suppliers and the sanctions list."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile

from abasto.core.context import Context
from abasto.identity import service
from abasto.identity.models import Role
from abasto.identity.schemas import (
    InstitutionDetailRead,
    InstitutionRead,
    MeRead,
    SanctionPage,
    SanctionRead,
    SanctionsImportRead,
    SupplierCreate,
    SupplierCreated,
    SupplierDetailRead,
    SupplierPage,
    SupplierRead,
    SupplierUpdate,
    TokenCreate,
    TokenRead,
)
from abasto.web.deps import ANY_USER, allow, app_state, public
from abasto.web.params import PER_PAGE, Page, PerPage

router = APIRouter(prefix="/api/v1", tags=["identidad"])

Search = Annotated[str, Query(max_length=200, description="RFC o parte del nombre.")]


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


# ----- institutions --------------------------------------------------------------------------


@router.get("/institutions", response_model=list[InstitutionRead])
def list_institutions(ctx: Annotated[Context, Depends(public)]) -> list[InstitutionRead]:
    """Every institution with how many units (OOAD, UMAE, hospitals, …) of each kind it has."""
    return [InstitutionRead.of(summary) for summary in service.list_institutions(ctx.db)]


@router.get("/institutions/{code}", response_model=InstitutionDetailRead)
def get_institution(code: str, ctx: Annotated[Context, Depends(public)]) -> InstitutionDetailRead:
    """One institution with its units: code, name, kind and state (INEGI code and name)."""
    return InstitutionDetailRead.of(service.get_institution(ctx.db, code))


# ----- suppliers -----------------------------------------------------------------------------


@router.get("/suppliers", response_model=SupplierPage)
def search_suppliers(
    ctx: Annotated[Context, Depends(public)],
    q: Search = "",
    page: Page = 1,
    per_page: PerPage = PER_PAGE,
) -> SupplierPage:
    """Suppliers by RFC or razón social, with whether the sanctions list bars them."""
    items, total = service.search_suppliers(ctx.db, q=q, page=page, per_page=per_page)
    return SupplierPage(
        items=[SupplierRead.of(s) for s in items], total=total, page=page, per_page=per_page
    )


@router.get("/suppliers/{rfc}", response_model=SupplierDetailRead)
def get_supplier(rfc: str, ctx: Annotated[Context, Depends(public)]) -> SupplierDetailRead:
    """One supplier with every row of the sanctions list that names it."""
    return SupplierDetailRead.of_detail(service.get_supplier_standing(ctx.db, rfc))


@router.post("/suppliers", response_model=SupplierCreated, status_code=201)
def register_supplier(
    body: SupplierCreate, ctx: Annotated[Context, Depends(public)]
) -> SupplierCreated:
    """A supplier registers itself with its first `proveedor` user; 422 lists every problem."""
    supplier, user = service.register_supplier_account(
        ctx,
        rfc=body.rfc,
        razon_social=body.razon_social,
        state_code=body.state,
        username=body.username,
        full_name=body.full_name,
        password=body.password,
    )
    standing = service.get_supplier_standing(ctx.db, supplier.rfc)
    return SupplierCreated(supplier=SupplierDetailRead.of_detail(standing), username=user.username)


@router.patch("/suppliers/{rfc}", response_model=SupplierDetailRead)
def update_supplier(
    rfc: str,
    body: SupplierUpdate,
    ctx: Annotated[Context, Depends(allow(Role.proveedor, Role.comprador))],
) -> SupplierDetailRead:
    """Change the razón social (the supplier itself, or the buyer); 409 when `version` is stale."""
    supplier = service.update_supplier(
        ctx, rfc=rfc, version=body.version, razon_social=body.razon_social
    )
    return SupplierDetailRead.of_detail(service.get_supplier_standing(ctx.db, supplier.rfc))


# ----- the sanctions list --------------------------------------------------------------------


@router.get("/sanctions", response_model=SanctionPage)
def list_sanctions(
    ctx: Annotated[Context, Depends(public)],
    q: Annotated[str, Query(max_length=200, description="Parte del nombre.")] = "",
    page: Page = 1,
    per_page: PerPage = PER_PAGE,
) -> SanctionPage:
    """The SFP list of sanctioned suppliers and contractors as last imported, row by row."""
    items, total = service.list_sanctions(ctx.db, q=q, page=page, per_page=per_page)
    return SanctionPage(
        items=[SanctionRead.of(s) for s in items], total=total, page=page, per_page=per_page
    )


@router.post("/sanctions/imports", response_model=SanctionsImportRead, status_code=201)
def import_sanctions(
    file: Annotated[
        UploadFile, File(description="CSV de la SFP (o el mismo guardado como .xlsx).")
    ],
    ctx: Annotated[Context, Depends(allow(Role.comprador))],
) -> SanctionsImportRead:
    """Replace the sanctions list with the file's; all or nothing (422 lists every problem)."""
    summary = service.import_sanctions(
        ctx, content=file.file.read(), filename=file.filename or "sancionados.csv"
    )
    return SanctionsImportRead.of(summary)
