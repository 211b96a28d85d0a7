"""JSON routes of identity: tokens, who am I, institutions, suppliers and the sanctions list."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile

from abasto.core.context import Context
from abasto.core.errors import TooManyRequests, Unauthorized, ValidationFailed
from abasto.identity import rules, service
from abasto.identity.models import Role
from abasto.identity.schemas import (
    AliasCreate,
    InstitutionCreate,
    InstitutionDetailRead,
    InstitutionRead,
    InstitutionUpdate,
    MeRead,
    RenameDecision,
    RenameRead,
    Retirement,
    SanctionPage,
    SanctionRead,
    SanctionsImportRead,
    SupplierCreate,
    SupplierCreated,
    SupplierDetailRead,
    SupplierPage,
    SupplierRead,
    SupplierRejection,
    SupplierUpdate,
    SupplierVerification,
    TokenCreate,
    TokenRead,
    UnitCreate,
    UnitRead,
    UnitRename,
    UnitsImportRead,
)
from abasto.web.deps import ANY_USER, allow, app_state, client_address, public, read_uploads
from abasto.web.errors import error_response
from abasto.web.params import PER_PAGE, Page, PerPage, RenameId

router = APIRouter(prefix="/api/v1", tags=["identidad"])

Search = Annotated[str, Query(max_length=200, description="RFC o parte del nombre.")]


@router.post(
    "/auth/token",
    response_model=TokenRead,
    status_code=201,
    responses={429: {"description": "Demasiados intentos fallidos; vea Retry-After."}},
)
def create_token(
    body: TokenCreate, request: Request, ctx: Annotated[Context, Depends(public)]
) -> TokenRead | Response:
    """Exchange a username and password for a bearer token; 429 with Retry-After when the
    account or the address failed too often."""
    try:
        user = service.sign_in(
            ctx, username=body.username, password=body.password, address=client_address(request)
        )
    except (Unauthorized, TooManyRequests) as exc:
        # Answered, not raised: the failure's count must commit with this request.
        return error_response(request, exc)
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


Buyer = Annotated[Context, Depends(allow(Role.comprador))]


@router.post("/institutions", response_model=InstitutionDetailRead, status_code=201)
def register_institution(body: InstitutionCreate, ctx: Buyer) -> InstitutionDetailRead:
    """Register an institution with the other names it goes by; 409 when the code or a name
    already identifies another."""
    institution = service.register_institution(
        ctx,
        code=body.code,
        name=body.name,
        kind=body.kind,
        aliases=body.aliases,
        coordinator_code=body.parent,
        state_code=body.state,
    )
    return InstitutionDetailRead.of(institution)


@router.patch("/institutions/{code}", response_model=InstitutionDetailRead)
def edit_institution(code: str, body: InstitutionUpdate, ctx: Buyer) -> InstitutionDetailRead:
    """Rename (the old name stays an alias) or set kind, parent and state; only the fields
    sent change."""
    fields = {key: getattr(body, key) for key in body.model_fields_set}
    return InstitutionDetailRead.of(service.edit_institution(ctx, code=code, fields=fields))


@router.post("/institutions/{code}/aliases", response_model=InstitutionDetailRead, status_code=201)
def add_alias(code: str, body: AliasCreate, ctx: Buyer) -> InstitutionDetailRead:
    """Another name official files give the institution, matched without case or accents."""
    alias = service.add_institution_alias(ctx, code=code, alias=body.alias)
    return InstitutionDetailRead.of(alias.institution)


@router.post("/institutions/{code}/retirement", response_model=InstitutionDetailRead)
def retire_institution(code: str, body: Retirement, ctx: Buyer) -> InstitutionDetailRead:
    """Retire the institution and its units: history and old lines stay, nothing new."""
    return InstitutionDetailRead.of(service.retire_institution(ctx, code=code, reason=body.reason))


@router.post("/institutions/{code}/units", response_model=UnitRead, status_code=201)
def add_unit(code: str, body: UnitCreate, ctx: Buyer) -> UnitRead:
    """Register a unit (delivery point, warehouse, hospital) of the institution."""
    problems = rules.state_problems(body.state)
    if problems:
        raise ValidationFailed("No se pudo registrar la unidad.", problems=problems)
    unit = service.add_unit(
        ctx,
        institution_code=code,
        unit=service.UnitSpec(
            code=body.code,
            name=body.name,
            kind=body.kind,
            state_code=rules.parse_state(body.state),
            municipality=body.municipality,
            typology=body.typology,
            latitude=body.latitude,
            longitude=body.longitude,
        ),
    )
    return UnitRead.of(unit)


@router.patch("/institutions/{code}/units/{unit_code}", response_model=UnitRead)
def rename_unit(code: str, unit_code: str, body: UnitRename, ctx: Buyer) -> UnitRead:
    return UnitRead.of(
        service.rename_unit(ctx, institution_code=code, code=unit_code, name=body.name)
    )


@router.post("/institutions/{code}/units/{unit_code}/retirement", response_model=UnitRead)
def retire_unit(code: str, unit_code: str, body: Retirement, ctx: Buyer) -> UnitRead:
    """Retire a unit: it stops being offered as a delivery point; its lines stay."""
    return UnitRead.of(
        service.retire_unit(ctx, institution_code=code, code=unit_code, reason=body.reason)
    )


@router.post(
    "/units/imports",
    response_model=UnitsImportRead,
    status_code=201,
    dependencies=[Depends(read_uploads)],
)
def import_units(
    file: Annotated[UploadFile, File(description="Catálogo CLUES (.xlsx o .csv).")],
    ctx: Buyer,
) -> UnitsImportRead:
    """Register or update the units of a CLUES-layout file; all or nothing (422 lists every
    problem with its row and column)."""
    summary = service.import_units(
        ctx, content=file.file.read(), filename=file.filename or "clues.csv"
    )
    return UnitsImportRead.of(summary)


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
    """One supplier with every row of the sanctions list that names it under any name it has
    borne, and its rename request awaiting the buyer, if any."""
    return _supplier_detail(ctx, rfc)


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
    return SupplierCreated(supplier=_supplier_detail(ctx, supplier.rfc), username=user.username)


@router.patch(
    "/suppliers/{rfc}",
    response_model=SupplierDetailRead,
    responses={202: {"description": "Cambio registrado, pendiente de aprobación del comprador."}},
)
def update_supplier(
    rfc: str,
    body: SupplierUpdate,
    response: Response,
    ctx: Annotated[Context, Depends(allow(Role.proveedor, Role.comprador))],
) -> SupplierDetailRead:
    """Ask to change the razón social: 202 while the buyer has not approved it (the name in
    force stays), 200 when the buyer made it; 409 when `version` is stale or a request is
    already pending."""
    rename = service.update_supplier(
        ctx, rfc=rfc, version=body.version, razon_social=body.razon_social
    )
    if rename.status.value == "pendiente":
        response.status_code = 202
    return _supplier_detail(ctx, rename.supplier.rfc)


def _supplier_detail(ctx: Context, rfc: str) -> SupplierDetailRead:
    standing = service.get_supplier_standing(ctx.db, rfc)
    return SupplierDetailRead.of_detail(standing, service.pending_rename(ctx.db, standing.supplier))


@router.get("/supplier-reviews", response_model=list[SupplierRead])
def pending_suppliers(
    ctx: Annotated[Context, Depends(allow(Role.comprador))],
) -> list[SupplierRead]:
    """Self-registered suppliers awaiting verification of their documents, oldest first."""
    return [
        SupplierRead.of(s) for s in service.standings(ctx.db, service.pending_suppliers(ctx.db))
    ]


@router.post("/suppliers/{rfc}/verification", response_model=SupplierDetailRead)
def verify_supplier(
    rfc: str,
    body: SupplierVerification,
    ctx: Annotated[Context, Depends(allow(Role.comprador))],
) -> SupplierDetailRead:
    """The buyer saw the Constancia de Situación Fiscal, the acta constitutiva and the legal
    representative's power: the supplier may bid from now on."""
    supplier = service.verify_supplier(
        ctx,
        rfc=rfc,
        tax_certificate=body.tax_certificate,
        articles_of_incorporation=body.articles_of_incorporation,
        representative=body.representative,
    )
    return _supplier_detail(ctx, supplier.rfc)


@router.post("/suppliers/{rfc}/rejection", response_model=SupplierDetailRead)
def reject_supplier(
    rfc: str,
    body: SupplierRejection,
    ctx: Annotated[Context, Depends(allow(Role.comprador))],
) -> SupplierDetailRead:
    """The buyer refuses a pending registration, saying why."""
    supplier = service.reject_supplier(ctx, rfc=rfc, note=body.note)
    return _supplier_detail(ctx, supplier.rfc)


@router.get("/supplier-renames", response_model=list[RenameRead])
def pending_renames(ctx: Annotated[Context, Depends(allow(Role.comprador))]) -> list[RenameRead]:
    """Requests to change a razón social awaiting the buyer, oldest first."""
    return [RenameRead.of(r) for r in service.pending_renames(ctx.db)]


@router.post("/supplier-renames/{rename_id}/approval", response_model=RenameRead)
def approve_rename(
    rename_id: RenameId,
    body: RenameDecision,
    ctx: Annotated[Context, Depends(allow(Role.comprador))],
) -> RenameRead:
    """Apply the new razón social; the earlier names stay matched against the sanctions list."""
    service.approve_rename(ctx, rename_id=rename_id, note=body.note)
    return RenameRead.of(service.get_rename(ctx.db, rename_id))


@router.post("/supplier-renames/{rename_id}/rejection", response_model=RenameRead)
def reject_rename(
    rename_id: RenameId,
    body: RenameDecision,
    ctx: Annotated[Context, Depends(allow(Role.comprador))],
) -> RenameRead:
    """Refuse the new razón social, saying why; the name in force stays."""
    return RenameRead.of(service.reject_rename(ctx, rename_id=rename_id, note=body.note))


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


@router.post(
    "/sanctions/imports",
    response_model=SanctionsImportRead,
    status_code=201,
    dependencies=[Depends(read_uploads)],
)
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
