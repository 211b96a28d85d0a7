"""Use cases of identity: users, logins, bearer tokens and page sessions."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from abasto.core.context import Actor, Context
from abasto.core.errors import Conflict, NotFound, Problem, Unauthorized, ValidationFailed
from abasto.core.text import fold
from abasto.identity import rules
from abasto.identity.models import (
    Credential,
    Institution,
    InstitutionAlias,
    Role,
    Supplier,
    Unit,
    User,
)

_hasher = PasswordHasher()
# Verified against when the username is unknown, so a wrong user costs the same time as a wrong
# password and the response tells nothing about which one was wrong.
_DUMMY_HASH = _hasher.hash("abasto-dummy-password")
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,79}$")
MIN_PASSWORD_LENGTH = 10
WRONG_LOGIN = "Usuario o contraseña incorrectos."


@dataclass(frozen=True, slots=True)
class UnitSpec:
    """A unit to register with its institution."""

    code: str
    name: str
    kind: str
    state_code: str | None = None


def actor_of(user: User) -> Actor:
    return Actor(
        label=f"usuario:{user.username}",
        user_id=user.id,
        role=user.role.value,
        institution_id=user.institution_id,
        supplier_id=user.supplier_id,
    )


def create_user(
    ctx: Context,
    *,
    username: str,
    full_name: str,
    password: str,
    role: Role,
    institution_code: str | None = None,
    supplier_rfc: str | None = None,
) -> User:
    problems = []
    username = username.strip().lower()
    if not _USERNAME.match(username):
        problems.append(
            Problem(
                "nombre de usuario no válido",
                field="username",
                value=username,
                expected="3 a 80 caracteres: letras minúsculas, dígitos, punto, guion",
            )
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(
            Problem(
                "contraseña demasiado corta",
                field="password",
                expected=f"al menos {MIN_PASSWORD_LENGTH} caracteres",
            )
        )
    if not full_name.strip():
        problems.append(Problem("falta el nombre completo", field="full_name"))
    institution = supplier = None
    if role is Role.institucion:
        if not institution_code:
            problems.append(
                Problem(
                    "el rol «institucion» requiere la institución",
                    field="institution",
                    expected="la clave de una institución registrada (p. ej. IMSS)",
                )
            )
        else:
            institution = ctx.db.scalar(
                select(Institution).where(Institution.code == institution_code.strip().upper())
            )
            if institution is None:
                problems.append(
                    Problem(
                        "institución no registrada",
                        field="institution",
                        value=institution_code,
                        expected="la clave de una institución registrada (p. ej. IMSS)",
                    )
                )
    elif role is Role.proveedor:
        if not supplier_rfc:
            problems.append(
                Problem(
                    "el rol «proveedor» requiere el RFC del proveedor",
                    field="supplier",
                    expected="el RFC de un proveedor registrado",
                )
            )
        else:
            supplier = ctx.db.scalar(
                select(Supplier).where(Supplier.rfc == supplier_rfc.strip().upper())
            )
            if supplier is None:
                problems.append(
                    Problem(
                        "proveedor no registrado",
                        field="supplier",
                        value=supplier_rfc,
                        expected="el RFC de un proveedor registrado",
                    )
                )
    elif institution_code or supplier_rfc:
        problems.append(
            Problem(
                f"el rol «{role.value}» no se limita a una institución ni a un proveedor",
                field="role",
                expected="institución o proveedor sólo con los roles «institucion» o «proveedor»",
            )
        )
    if problems:
        raise ValidationFailed("No se pudo crear el usuario.", problems=problems)
    if ctx.db.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"Ya existe el usuario «{username}».")
    user = User(
        username=username,
        full_name=full_name.strip(),
        password_hash=_hasher.hash(password),
        role=role,
        institution_id=institution.id if institution else None,
        supplier_id=supplier.id if supplier else None,
        active=True,
        created_at=ctx.now,
    )
    ctx.db.add(user)
    ctx.db.flush()
    ctx.record(
        "user.create",
        f"user:{username}",
        {
            "username": username,
            "role": role.value,
            "institution": institution.code if institution else None,
            "supplier": supplier.rfc if supplier else None,
        },
        public=False,
    )
    return user


def authenticate(db: Session, *, username: str, password: str) -> User:
    """The user with these credentials; one message for any failure, so nothing is hinted."""
    user = db.scalar(select(User).where(User.username == username.strip().lower()))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise Unauthorized(WRONG_LOGIN) from None
    if user is None or not user.active:
        raise Unauthorized(WRONG_LOGIN)
    return user


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_credential(
    ctx: Context, *, user: User, kind: str, ttl: timedelta, label: str = ""
) -> str:
    """A new bearer token or page session for the user; the secret is shown only now."""
    prefix = "abt_" if kind == "token" else ""
    secret = prefix + secrets.token_urlsafe(32)
    ctx.db.add(
        Credential(
            user_id=user.id,
            kind=kind,
            secret_hash=_digest(secret),
            label=label,
            created_at=ctx.now,
            expires_at=ctx.now + ttl,
        )
    )
    ctx.db.flush()
    ctx.record(
        f"{kind}.issue",
        f"user:{user.username}",
        {"username": user.username, "label": label, "expires_at": ctx.now + ttl},
        public=False,
    )
    return secret


def user_for_secret(ctx: Context, *, secret: str, kind: str) -> User:
    """The active user behind a token or session secret, or 401 when unknown, expired or revoked."""
    credential = ctx.db.scalar(
        select(Credential).where(Credential.secret_hash == _digest(secret), Credential.kind == kind)
    )
    what = "El token" if kind == "token" else "La sesión"
    if credential is None or credential.revoked_at is not None:
        raise Unauthorized(f"{what} no es válido o fue revocado. Inicie sesión de nuevo.")
    if credential.expires_at <= ctx.now:
        raise Unauthorized(f"{what} expiró. Inicie sesión de nuevo.")
    if not credential.user.active:
        raise Unauthorized("El usuario está desactivado.")
    return credential.user


def revoke_credential(ctx: Context, *, secret: str, kind: str) -> None:
    credential = ctx.db.scalar(
        select(Credential).where(Credential.secret_hash == _digest(secret), Credential.kind == kind)
    )
    if credential is None or credential.revoked_at is not None:
        return
    credential.revoked_at = ctx.now
    ctx.record(
        f"{kind}.revoke",
        f"user:{credential.user.username}",
        {"username": credential.user.username, "label": credential.label},
        public=False,
    )


def get_user_by_id(db: Session, user_id: int | None) -> User:
    user = db.get(User, user_id) if user_id is not None else None
    if user is None:
        raise NotFound("El usuario no existe.")
    return user


@dataclass(frozen=True, slots=True)
class RegistryCounts:
    institutions: int
    units: int
    suppliers: int


def registry_counts(db: Session) -> RegistryCounts:
    def count(model: type[Institution] | type[Unit] | type[Supplier]) -> int:
        return db.scalar(select(func.count()).select_from(model)) or 0

    return RegistryCounts(count(Institution), count(Unit), count(Supplier))


def register_institution(
    ctx: Context,
    *,
    code: str,
    name: str,
    kind: str,
    aliases: Sequence[str] = (),
    units: Sequence[UnitSpec] = (),
) -> Institution:
    """Add an institution with the other names it goes by and its units."""
    code = code.strip().upper()
    if ctx.db.scalar(select(Institution.id).where(Institution.code == code)) is not None:
        raise Conflict(f"Ya existe la institución «{code}».")
    institution = Institution(code=code, name=name.strip(), kind=kind, created_at=ctx.now)
    names = {fold(n): n for n in (code, name, *aliases) if fold(n)}
    taken = ctx.db.scalars(
        select(InstitutionAlias.alias).where(InstitutionAlias.folded.in_(names))
    ).all()
    if taken:
        raise Conflict(
            "Estos nombres ya identifican a otra institución: " + ", ".join(sorted(taken)) + "."
        )
    institution.aliases = [InstitutionAlias(alias=n, folded=f) for f, n in names.items()]
    institution.units = [
        Unit(code=u.code, name=u.name, kind=u.kind, state_code=u.state_code) for u in units
    ]
    ctx.db.add(institution)
    ctx.db.flush()
    ctx.record(
        "institution.register",
        f"institution:{code}",
        {
            "code": code,
            "name": institution.name,
            "kind": kind,
            "aliases": sorted(names.values()),
            "units": [
                {"code": u.code, "name": u.name, "kind": u.kind, "state": u.state_code}
                for u in units
            ],
        },
    )
    return institution


def get_institution(db: Session, code: str) -> Institution:
    institution = db.scalar(select(Institution).where(Institution.code == code.strip().upper()))
    if institution is None:
        raise NotFound(f"No existe la institución «{code}».")
    return institution


def register_supplier(
    ctx: Context,
    *,
    rfc: str,
    razon_social: str,
    state_code: str | None = None,
    registered_on: date | None = None,
) -> Supplier:
    """Add a supplier after checking its RFC (format and check digit) and razón social."""
    problems = rules.rfc_problems(rfc) + rules.razon_social_problems(razon_social)
    if problems:
        raise ValidationFailed("No se pudo registrar al proveedor.", problems=problems)
    rfc = rules.clean_rfc(rfc)
    if ctx.db.scalar(select(Supplier.id).where(Supplier.rfc == rfc)) is not None:
        raise Conflict(f"Ya existe un proveedor con el RFC {rfc}.")
    supplier = Supplier(
        rfc=rfc,
        razon_social=rules.clean_razon_social(razon_social),
        normalised_name=rules.normalize_company_name(razon_social),
        state_code=state_code,
        registered_on=registered_on or ctx.now.date(),
        created_at=ctx.now,
    )
    ctx.db.add(supplier)
    ctx.db.flush()
    ctx.record(
        "supplier.register",
        f"supplier:{rfc}",
        {
            "rfc": rfc,
            "razon_social": supplier.razon_social,
            "state": state_code,
            "registered_on": supplier.registered_on,
        },
    )
    return supplier


def get_supplier(db: Session, rfc: str) -> Supplier:
    supplier = db.scalar(select(Supplier).where(Supplier.rfc == rules.clean_rfc(rfc)))
    if supplier is None:
        raise NotFound(f"No existe un proveedor con el RFC «{rfc}».")
    return supplier
