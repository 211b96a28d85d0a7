"""Use cases of identity: users and sessions, institutions, suppliers and the sanctions list."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from abasto.core.context import Actor, Context
from abasto.core.errors import (
    Conflict,
    NotFound,
    Problem,
    TooManyRequests,
    Unauthorized,
    ValidationFailed,
)
from abasto.core.ledger import LedgerHead, Record
from abasto.core.money import count_of, local_day
from abasto.core.text import fold
from abasto.identity import clues, registry, rules
from abasto.identity.models import (
    Credential,
    Institution,
    InstitutionAlias,
    LoginThrottle,
    RenameStatus,
    Role,
    Sanction,
    Supplier,
    SupplierName,
    SupplierRename,
    SupplierStatus,
    Unit,
    User,
)
from abasto.identity.sanctions import SanctionRecord, parse_sanctions

_hasher = PasswordHasher()
# Verified against when the username is unknown, so a wrong user costs the same time as a wrong
# password and the response tells nothing about which one was wrong.
_DUMMY_HASH = _hasher.hash("abasto-dummy-password")
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,79}$")
WRONG_LOGIN = "Usuario o contraseña incorrectos."


@dataclass(frozen=True, slots=True)
class UnitSpec:
    """A unit to register with its institution."""

    code: str
    name: str
    kind: str
    state_code: str | None = None
    municipality: str | None = None
    typology: str | None = None
    latitude: Decimal | None = None
    longitude: Decimal | None = None


class Acting(Protocol):
    """What ``actor_of`` reads: a ``User``, or a row of its columns."""

    @property
    def id(self) -> int: ...
    @property
    def username(self) -> str: ...
    @property
    def role(self) -> Role: ...
    @property
    def institution_id(self) -> int | None: ...
    @property
    def supplier_id(self) -> int | None: ...


def actor_of(user: Acting) -> Actor:
    return Actor(
        label=f"usuario:{user.username}",
        user_id=user.id,
        role=user.role.value,
        institution_id=user.institution_id,
        supplier_id=user.supplier_id,
    )


def _user_problems(username: str, full_name: str, password: str) -> list[Problem]:
    """What is wrong with a new user's name, full name and password (empty when acceptable)."""
    problems = []
    if not _USERNAME.match(username.strip().lower()):
        problems.append(
            Problem(
                "El nombre de usuario no es válido.",
                field="username",
                value=username.strip().lower(),
                expected="3 a 80 caracteres: letras minúsculas, dígitos, punto, guion",
            )
        )
    problems.extend(rules.password_problems(password, username=username))
    if not full_name.strip():
        problems.append(Problem("Falta el nombre completo.", field="full_name"))
    elif len(full_name.strip()) > 200:
        problems.append(
            Problem(
                "El nombre completo es demasiado largo.",
                field="full_name",
                expected="hasta 200 caracteres",
            )
        )
    return problems


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
    problems = _user_problems(username, full_name, password)
    username = username.strip().lower()
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


_THROTTLES = (
    ("account", rules.ACCOUNT_LIMIT),
    ("address", rules.ADDRESS_LIMIT),
)


def sign_in(ctx: Context, *, username: str, password: str, address: str) -> User:
    """``authenticate``, throttled per account and per address, failures on the ledger.

    A blocked account or address is refused with ``TooManyRequests`` before the password is
    even checked (no Argon2 cost, no oracle). A failure raises ``Unauthorized`` *after* writing
    the count: the caller renders the error without raising, so its unit of work commits the
    count and any ledger entry. Entries are private and grouped: one when an account's window
    of failures opens, one when an account or address is blocked, each with the counts.
    """
    account = username.strip().lower()[:120]
    keys = {"account": account, "address": address[:120]}
    throttles = {scope: _throttle_row(ctx.db, scope, key) for scope, key in keys.items()}
    waits: dict[str, int] = {}
    for scope, row in throttles.items():
        if (seconds := _throttle_of(row).retry_after(ctx.now)) is not None:
            waits[scope] = seconds
            row.refused += 1
    if waits:
        ctx.db.flush()
        wait = max(waits.values())
        raise TooManyRequests(
            "Demasiados intentos fallidos de inicio de sesión. "
            f"Espere {_minutes(wait)} antes de intentar de nuevo.",
            retry_after=wait,
        )
    try:
        user = authenticate(ctx.db, username=username, password=password)
    except Unauthorized:
        _count_failure(ctx, throttles, keys)
        raise
    # A success clears the account's count, not the address's: a guesser who also owns an
    # account on the same address does not get a fresh allowance by signing into it.
    throttles["account"].window_start = _EPOCH
    throttles["account"].failures = 0
    throttles["account"].blocked_until = None
    ctx.db.flush()
    return user


def _minutes(seconds: int) -> str:
    minutes = -(-seconds // 60)
    return "1 minuto" if minutes == 1 else f"{minutes} minutos"


def _throttle_row(db: Session, scope: str, key: str) -> LoginThrottle:
    """The row of this account or address, created if missing, locked until the commit so
    two failures at once on PostgreSQL both count."""
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    db.execute(
        dialect.insert(LoginThrottle)
        .values(scope=scope, key=key, window_start=_EPOCH, failures=0, refused=0)
        .on_conflict_do_nothing()
    )
    return db.scalars(
        select(LoginThrottle)
        .where(LoginThrottle.scope == scope, LoginThrottle.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _throttle_of(row: LoginThrottle) -> rules.Throttle:
    return rules.Throttle(
        window_start=row.window_start,
        failures=row.failures,
        refused=row.refused,
        blocked_until=row.blocked_until,
    )


def _count_failure(ctx: Context, throttles: dict[str, LoginThrottle], keys: dict[str, str]) -> None:
    records = []
    for scope, limit in _THROTTLES:
        row = throttles[scope]
        before = _throttle_of(row)
        fresh = before.failures == 0 or before.expired(ctx.now, limit)
        after = rules.after_failure(before, ctx.now, limit)
        entity = f"user:{keys['account']}" if scope == "account" else f"address:{keys[scope]}"
        common = {"username": keys["account"], "address": keys["address"]}
        if scope == "account" and fresh:
            records.append(
                Record(
                    "login.failed",
                    entity,
                    {
                        **common,
                        "window_start": after.window_start,
                        # What the window now closed held, so nothing goes unreported.
                        "previous_window": None
                        if before.failures == 0
                        else {
                            "start": before.window_start,
                            "failures": before.failures,
                            "refused": before.refused,
                        },
                    },
                    public=False,
                )
            )
        if after.failures == limit.failures:
            records.append(
                Record(
                    "login.blocked",
                    entity,
                    {
                        **common,
                        "scope": scope,
                        "failures": after.failures,
                        "window_start": after.window_start,
                        "blocked_until": after.blocked_until,
                    },
                    public=False,
                )
            )
        if fresh:
            row.refused = 0
        row.window_start = after.window_start
        row.failures = after.failures
        row.blocked_until = after.blocked_until
    ctx.db.flush()
    if records:
        ctx.record_many(records)


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


_ACTOR_OF_SECRET = (
    select(
        Credential.revoked_at,
        Credential.expires_at,
        User.id,
        User.username,
        User.role,
        User.active,
        User.institution_id,
        User.supplier_id,
    )
    .join(User, User.id == Credential.user_id)
    .where(Credential.secret_hash == bindparam("digest"), Credential.kind == bindparam("kind"))
)
"""Built once, with the user's columns in the same round trip and no entities loaded: every
authenticated request runs it."""


def actor_for_secret(ctx: Context, *, secret: str, kind: str) -> Actor:
    """Who acts with a token or session secret, or 401 when unknown, expired or revoked."""
    found = (
        ctx.db.connection()
        .execute(_ACTOR_OF_SECRET, {"digest": _digest(secret), "kind": kind})
        .one_or_none()
    )
    what = "El token" if kind == "token" else "La sesión"
    if found is None or found.revoked_at is not None:
        raise Unauthorized(f"{what} no es válido o fue revocado. Inicie sesión de nuevo.")
    if found.expires_at <= ctx.now:
        raise Unauthorized(f"{what} expiró. Inicie sesión de nuevo.")
    if not found.active:
        raise Unauthorized("El usuario está desactivado.")
    return actor_of(found)


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
    coordinator_code: str | None = None,
    state_code: str | None = None,
) -> Institution:
    """Add an institution with the other names it goes by, its units and its coordinator."""
    code = code.strip().upper()
    problems = _institution_problems(code=code, name=name, kind=kind, state_code=state_code)
    problems += [
        Problem(
            "El otro nombre es demasiado largo.",
            field="aliases",
            value=alias[:60],
            expected="a lo más 300 caracteres",
        )
        for alias in aliases
        if len(alias.strip()) > 300
    ]
    if problems:
        raise ValidationFailed("No se pudo registrar la institución.", problems=problems)
    if ctx.db.scalar(select(Institution.id).where(Institution.code == code)) is not None:
        raise Conflict(f"Ya existe la institución «{code}».")
    coordinator = get_institution(ctx.db, coordinator_code) if coordinator_code else None
    institution = Institution(
        code=code,
        name=" ".join(name.split()),
        kind=kind.strip(),
        coordinator=coordinator,
        state_code=rules.parse_state(state_code),
        created_at=ctx.now,
    )
    names = {fold(n): n for n in (code, name, *aliases) if fold(n)}
    taken = ctx.db.scalars(
        select(InstitutionAlias.alias).where(InstitutionAlias.folded.in_(names))
    ).all()
    if taken:
        raise Conflict(
            "Estos nombres ya identifican a otra institución: " + ", ".join(sorted(taken)) + "."
        )
    institution.aliases = [InstitutionAlias(alias=n, folded=f) for f, n in names.items()]
    institution.units = [_new_unit(u) for u in units]
    ctx.db.add(institution)
    ctx.db.flush()
    ctx.record(
        "institution.register",
        f"institution:{code}",
        {
            "code": code,
            "name": institution.name,
            "kind": institution.kind,
            "coordinator": coordinator.code if coordinator else None,
            **({"state": institution.state_code} if institution.state_code else {}),
            "aliases": sorted(names.values()),
            "units": [_unit_payload(u) for u in institution.units],
        },
    )
    return institution


_INSTITUTION_KIND_MAX = 60


def _institution_problems(
    *, code: str, name: str, kind: str, state_code: str | None
) -> list[Problem]:
    problems = [
        Problem(f"Falta {label} de la institución.", field=key, expected=expected)
        for key, label, value, expected in (
            ("code", "la clave", code, "una clave corta, p. ej. IMSS o SESA-14"),
            ("name", "el nombre", name.strip(), "el nombre oficial"),
            ("kind", "el tipo", kind.strip(), "p. ej. seguridad social, CCINSHAE"),
        )
        if not value
    ]
    for key, value, most in (
        ("code", code, 40),
        ("name", name.strip(), 300),
        ("kind", kind.strip(), _INSTITUTION_KIND_MAX),
    ):
        if len(value) > most:
            problems.append(
                Problem(
                    "El texto es demasiado largo.",
                    field=key,
                    value=value[:60],
                    expected=f"a lo más {most} caracteres",
                )
            )
    problems.extend(rules.state_problems(state_code))
    return problems


def _normalised(spec: UnitSpec) -> UnitSpec:
    """The unit as it is kept: code trimmed and upper-cased, name single-spaced."""
    return replace(spec, code=spec.code.strip().upper(), name=" ".join(spec.name.split()))


def _new_unit(spec: UnitSpec) -> Unit:
    unit = Unit(code=spec.code.strip().upper())
    _set_unit(unit, spec)
    return unit


_UNIT_FIELDS = ("name", "kind", "state_code", "municipality", "typology", "latitude", "longitude")


def _set_unit(unit: Unit, spec: UnitSpec) -> None:
    """Give ``unit`` everything of ``spec`` but its code."""
    for key in _UNIT_FIELDS:
        value = getattr(spec, key)
        setattr(unit, key, " ".join(value.split()) if key == "name" else value)


def _unit_payload(unit: Unit | UnitSpec | Any) -> dict[str, Any]:
    """What the ledger keeps of a unit: the CLUES place and type only when it has them."""
    payload: dict[str, Any] = {
        "code": unit.code,
        "name": unit.name,
        "kind": unit.kind,
        "state": unit.state_code,
    }
    for key, value in (
        ("municipality", unit.municipality),
        ("typology", unit.typology),
        ("latitude", unit.latitude),
        ("longitude", unit.longitude),
    ):
        if value is not None:
            payload[key] = str(value) if isinstance(value, Decimal) else value
    return payload


def add_unit(ctx: Context, *, institution_code: str, unit: UnitSpec) -> Unit:
    """Add a unit (OOAD, hospital, warehouse, state entity) to a registered institution."""
    institution = get_institution(ctx.db, institution_code)
    code = unit.code.strip().upper()
    name = unit.name.strip()
    problems = [
        Problem(f"Falta {label} de la unidad.", field=field, expected=expected)
        for field, label, value, expected in (
            ("code", "la clave", code, "una clave de la unidad"),
            ("name", "el nombre", name, "el nombre de la unidad"),
        )
        if not value
    ] + [
        Problem(
            "El texto es demasiado largo.",
            field=field,
            value=value[:60],
            expected=f"a lo más {most} caracteres",
        )
        for field, value, most in (("code", code, 60), ("name", name, 300), ("kind", unit.kind, 40))
        if len(value) > most
    ]
    if problems:
        raise ValidationFailed("No se pudo registrar la unidad.", problems=problems)
    taken = ctx.db.scalar(
        select(Unit.id).where(Unit.institution_id == institution.id, Unit.code == code)
    )
    if taken is not None:
        raise Conflict(f"La institución «{institution.code}» ya tiene la unidad «{code}».")
    added = _new_unit(unit)
    added.institution = institution
    ctx.db.add(added)
    ctx.db.flush()
    ctx.record(
        "unit.register",
        f"unit:{institution.code}/{code}",
        {"institution": institution.code, **_unit_payload(added)},
    )
    return added


def get_institution(db: Session, code: str) -> Institution:
    institution = db.scalar(select(Institution).where(Institution.code == code.strip().upper()))
    if institution is None:
        raise NotFound(f"No existe la institución «{code}».")
    return institution


def get_unit(db: Session, *, institution_code: str, code: str) -> Unit:
    institution = get_institution(db, institution_code)
    unit = db.scalar(
        select(Unit).where(Unit.institution_id == institution.id, Unit.code == code.strip().upper())
    )
    if unit is None:
        raise NotFound(f"La institución «{institution.code}» no tiene la unidad «{code}».")
    return unit


def _name_problems(name: str, what: str) -> list[Problem]:
    if not name:
        return [Problem(f"Falta el nombre {what}.", field="name")]
    if len(name) > 300:
        return [
            Problem(
                "El nombre es demasiado largo.",
                field="name",
                value=name[:60],
                expected="a lo más 300 caracteres",
            )
        ]
    return []


def _alias_owner(db: Session, folded: str) -> str | None:
    """The code of the institution a folded name identifies, if any."""
    return db.scalar(
        select(Institution.code).join(Institution.aliases).where(InstitutionAlias.folded == folded)
    )


def rename_institution(ctx: Context, *, code: str, name: str) -> Institution:
    """Give the institution a new official name; the old one stays an alias, so files that
    still use it keep matching, and the new one becomes one."""
    institution = get_institution(ctx.db, code)
    new = " ".join(name.split())
    problems = _name_problems(new, "de la institución")
    if problems:
        raise ValidationFailed("No se pudo cambiar el nombre.", problems=problems)
    if new == institution.name:
        raise Conflict(f"«{institution.code}» ya se llama «{new}».")
    owner = _alias_owner(ctx.db, fold(new))
    if owner is not None and owner != institution.code:
        raise Conflict(f"El nombre «{new}» ya identifica a la institución «{owner}».")
    old = institution.name
    institution.name = new
    if owner is None:
        ctx.db.add(InstitutionAlias(institution=institution, alias=new, folded=fold(new)))
    ctx.db.flush()
    ctx.record(
        "institution.rename",
        f"institution:{institution.code}",
        {"code": institution.code, "from": old, "to": new},
    )
    return institution


def update_institution(
    ctx: Context,
    *,
    code: str,
    kind: str,
    parent_code: str | None,
    state_code: str | None,
) -> Institution:
    """Set the institution's kind, parent (its coordinator) and state."""
    institution = get_institution(ctx.db, code)
    problems = _institution_problems(
        code=institution.code, name=institution.name, kind=kind, state_code=state_code
    )
    if problems:
        raise ValidationFailed("No se pudo cambiar la institución.", problems=problems)
    parent = get_institution(ctx.db, parent_code) if parent_code else None
    if parent is not None and parent.id == institution.id:
        raise ValidationFailed(
            "Una institución no puede coordinarse a sí misma.",
            problems=[Problem("coordinadora inválida", field="parent", value=parent.code)],
        )
    before = {
        "kind": institution.kind,
        "parent": institution.coordinator.code if institution.coordinator else None,
        "state": institution.state_code,
    }
    institution.kind = kind.strip()
    institution.coordinator = parent
    institution.state_code = rules.parse_state(state_code)
    after = {"kind": institution.kind, "parent": parent.code if parent else None}
    after["state"] = institution.state_code
    ctx.db.flush()
    ctx.record(
        "institution.update",
        f"institution:{institution.code}",
        {"code": institution.code, "from": before, "to": after},
    )
    return institution


def edit_institution(ctx: Context, *, code: str, fields: Mapping[str, str | None]) -> Institution:
    """Apply the fields given (``name``, ``kind``, ``parent``, ``state``), the others kept:
    a new name through ``rename_institution``, the rest through ``update_institution``."""
    institution = get_institution(ctx.db, code)
    if fields.get("name") is not None and fields["name"] != institution.name:
        rename_institution(ctx, code=institution.code, name=fields["name"] or "")
    if fields.keys() & {"kind", "parent", "state"}:
        current_parent = institution.coordinator.code if institution.coordinator else None
        update_institution(
            ctx,
            code=institution.code,
            kind=fields.get("kind") or institution.kind,
            parent_code=fields.get("parent", current_parent),
            state_code=fields.get("state", institution.state_code),
        )
    return institution


def add_institution_alias(ctx: Context, *, code: str, alias: str) -> InstitutionAlias:
    """Another name the institution goes by in official files (matched folded)."""
    institution = get_institution(ctx.db, code)
    shown = " ".join(alias.split())
    folded = fold(shown)
    if not folded or len(shown) > 300:
        raise ValidationFailed(
            "El otro nombre no es válido.",
            problems=[
                Problem(
                    "otro nombre vacío o demasiado largo",
                    field="alias",
                    value=shown[:60],
                    expected="de 1 a 300 caracteres con alguna letra o dígito",
                )
            ],
        )
    owner = _alias_owner(ctx.db, folded)
    if owner is not None:
        raise Conflict(f"«{shown}» ya identifica a la institución «{owner}».")
    added = InstitutionAlias(institution=institution, alias=shown, folded=folded)
    ctx.db.add(added)
    ctx.db.flush()
    ctx.record(
        "institution.alias",
        f"institution:{institution.code}",
        {"code": institution.code, "alias": shown},
    )
    return added


def _reason(reason: str) -> str:
    text = " ".join(reason.split())
    if len(text) > 500:
        raise ValidationFailed(
            "El motivo es demasiado largo.",
            problems=[Problem("motivo", field="reason", expected="a lo más 500 caracteres")],
        )
    return text


def retire_institution(ctx: Context, *, code: str, reason: str = "") -> Institution:
    """Retire the institution: it keeps its history and old lines, and is offered for nothing
    new. Its units are retired with it."""
    institution = get_institution(ctx.db, code)
    why = _reason(reason)
    if institution.retired_at is not None:
        raise Conflict(f"La institución «{institution.code}» ya está retirada.")
    institution.retired_at = ctx.now
    units = [unit for unit in institution.units if unit.retired_at is None]
    for unit in units:
        unit.retired_at = ctx.now
    ctx.db.flush()
    ctx.record(
        "institution.retire",
        f"institution:{institution.code}",
        {"code": institution.code, "reason": why, "units": [unit.code for unit in units]},
    )
    return institution


def rename_unit(ctx: Context, *, institution_code: str, code: str, name: str) -> Unit:
    unit = get_unit(ctx.db, institution_code=institution_code, code=code)
    new = " ".join(name.split())
    problems = _name_problems(new, "de la unidad")
    if problems:
        raise ValidationFailed("No se pudo cambiar el nombre.", problems=problems)
    if new == unit.name:
        raise Conflict(f"La unidad «{unit.code}» ya se llama «{new}».")
    old, unit.name = unit.name, new
    ctx.db.flush()
    ctx.record(
        "unit.rename",
        f"unit:{unit.institution.code}/{unit.code}",
        {"institution": unit.institution.code, "code": unit.code, "from": old, "to": new},
    )
    return unit


def update_unit(ctx: Context, *, institution_code: str, spec: UnitSpec) -> Unit:
    """Set a unit's name, kind, state, place and type to ``spec``'s (its code names it)."""
    unit = get_unit(ctx.db, institution_code=institution_code, code=spec.code)
    before = _unit_payload(unit)
    _set_unit(unit, spec)
    ctx.db.flush()
    ctx.record(
        "unit.update",
        f"unit:{unit.institution.code}/{unit.code}",
        {"institution": unit.institution.code, "from": before, "to": _unit_payload(unit)},
    )
    return unit


def retire_unit(ctx: Context, *, institution_code: str, code: str, reason: str = "") -> Unit:
    """Retire a unit: its lines and history stay, it is no longer a delivery point to choose."""
    unit = get_unit(ctx.db, institution_code=institution_code, code=code)
    why = _reason(reason)
    if unit.retired_at is not None:
        raise Conflict(f"La unidad «{unit.code}» ya está retirada.")
    unit.retired_at = ctx.now
    ctx.db.flush()
    ctx.record(
        "unit.retire",
        f"unit:{unit.institution.code}/{unit.code}",
        {"institution": unit.institution.code, "code": unit.code, "reason": why},
    )
    return unit


def delivery_points(db: Session, institution: Institution) -> list[Unit]:
    """The institution's units a planner may choose for new demand: those not retired."""
    return list(
        db.scalars(
            select(Unit)
            .where(Unit.institution_id == institution.id, Unit.retired_at.is_(None))
            .order_by(Unit.code)
        )
    )


# ----- the shipped registry ------------------------------------------------------------------


def registry_snapshot(db: Session) -> registry.Snapshot:
    """What the database holds, as ``registry.plan_sync`` compares it."""
    codes = dict(db.execute(select(Institution.id, Institution.code)).all())
    units: defaultdict[int, dict[str, registry.StoredUnit]] = defaultdict(dict)
    for unit in db.scalars(select(Unit)):
        units[unit.institution_id][unit.code] = registry.StoredUnit(
            unit.name, unit.kind, unit.state_code, unit.retired_at is not None
        )
    institutions = {
        i.code: registry.StoredInstitution(
            name=i.name,
            kind=i.kind,
            parent=codes.get(i.coordinator_id) if i.coordinator_id is not None else None,
            state_code=i.state_code,
            retired=i.retired_at is not None,
            units=units[i.id],
        )
        for i in db.scalars(select(Institution))
    }
    aliases = {
        folded: codes[institution_id]
        for folded, institution_id in db.execute(
            select(InstitutionAlias.folded, InstitutionAlias.institution_id)
        )
    }
    return registry.Snapshot(institutions, aliases)


def plan_registry_sync(db: Session, source: registry.Registry) -> registry.SyncPlan:
    return registry.plan_sync(source, registry_snapshot(db))


def refuse_conflicts(plan: registry.SyncPlan) -> None:
    """A plan that would give a name to two institutions is refused whole, naming each one."""
    if plan.conflicts:
        raise Conflict(
            f"El registro {plan.version} choca con la base: "
            + count_of(
                len(plan.conflicts),
                "nombre identifica a otra institución",
                "nombres identifican a otra institución",
            )
            + "; no se aplicó nada.",
            problems=list(plan.conflicts),
        )


def sync_registry(
    ctx: Context, source: registry.Registry, *, plan: registry.SyncPlan | None = None
) -> registry.SyncPlan:
    """Bring the database to ``source``: every change of ``plan_sync`` (``plan`` when the
    caller has just made it in this transaction) through the writers above, each on the
    ledger, then one ``registry.sync`` entry with the version and counts. A plan with
    conflicts is refused whole; an empty plan writes nothing."""
    plan = plan or plan_registry_sync(ctx.db, source)
    refuse_conflicts(plan)
    if plan.empty:
        return plan
    added = {entry.code for entry in plan.added}
    # A parent registered in this same sync goes first.
    for entry in sorted(plan.added, key=lambda e: e.parent in added):
        register_institution(
            ctx,
            code=entry.code,
            name=entry.name,
            kind=entry.kind,
            aliases=entry.aliases,
            units=[UnitSpec(u.code, u.name, u.kind, u.state_code) for u in entry.units],
            coordinator_code=entry.parent,
            state_code=entry.state_code,
        )
        if entry.retired:
            retire_institution(ctx, code=entry.code, reason=f"registro {plan.version}")
        for unit in entry.units:
            if unit.retired and not entry.retired:
                retire_unit(
                    ctx,
                    institution_code=entry.code,
                    code=unit.code,
                    reason=f"registro {plan.version}",
                )
    for code, _, name in plan.renamed:
        rename_institution(ctx, code=code, name=name)
    wanted = {entry.code: entry for entry in source.institutions}
    for code, _ in plan.updated:
        entry = wanted[code]
        update_institution(
            ctx, code=code, kind=entry.kind, parent_code=entry.parent, state_code=entry.state_code
        )
    for code, alias in plan.aliases:
        # A rename above may have added it already.
        if ctx.db.scalar(select(InstitutionAlias.id).where(InstitutionAlias.folded == fold(alias))):
            continue
        add_institution_alias(ctx, code=code, alias=alias)
    for code in plan.retired:
        retire_institution(ctx, code=code, reason=f"registro {plan.version}")
    for code, unit in plan.units_added:
        add_unit(
            ctx,
            institution_code=code,
            unit=UnitSpec(unit.code, unit.name, unit.kind, unit.state_code),
        )
        if unit.retired:
            retire_unit(
                ctx, institution_code=code, code=unit.code, reason=f"registro {plan.version}"
            )
    units = {(e.code, u.code): u for e in source.institutions for u in e.units}
    for code, unit_code, _, name in plan.units_renamed:
        rename_unit(ctx, institution_code=code, code=unit_code, name=name)
    for code, unit_code, _ in plan.units_updated:
        current = get_unit(ctx.db, institution_code=code, code=unit_code)
        wanted_unit = units[(code, unit_code)]
        update_unit(
            ctx,
            institution_code=code,
            spec=UnitSpec(
                unit_code,
                current.name,
                wanted_unit.kind,
                wanted_unit.state_code,
                current.municipality,
                current.typology,
                current.latitude,
                current.longitude,
            ),
        )
    for code, unit_code in plan.units_retired:
        retire_unit(ctx, institution_code=code, code=unit_code, reason=f"registro {plan.version}")
    ctx.record("registry.sync", "registry", {"version": plan.version, **plan.counts()})
    return plan


def register_supplier(
    ctx: Context,
    *,
    rfc: str,
    razon_social: str,
    state_code: str | None = None,
    registered_on: date | None = None,
    status: SupplierStatus = SupplierStatus.verificado,
) -> Supplier:
    """Add a supplier after checking its RFC (format and check digit), razón social and state.

    ``state_code`` is the INEGI code or the state's name. An official registering a supplier
    (the CLI, the demo's scenario) admits it as ``verificado``; a supplier registering itself
    starts ``pendiente`` (``register_supplier_account``). Whether the sanctions list names it is
    decided now and kept on the row (``sanctioned``), bound to its RFC.
    """
    problems = _supplier_problems(rfc, razon_social, state_code)
    if problems:
        raise ValidationFailed("No se pudo registrar al proveedor.", problems=problems)
    rfc = rules.clean_rfc(rfc)
    taken = _rfc_taken(ctx.db, rfc)
    if taken:
        raise Conflict("No se pudo registrar al proveedor.", problems=taken)
    state_code = rules.parse_state(state_code)
    name = rules.clean_razon_social(razon_social)
    supplier = Supplier(
        rfc=rfc,
        razon_social=name,
        normalised_name=rules.normalize_company_name(name),
        state_code=state_code,
        registered_on=registered_on or local_day(ctx.now),
        created_at=ctx.now,
        status=status,
        sanctioned=False,
    )
    supplier.names = [
        SupplierName(razon_social=name, normalised_name=supplier.normalised_name, since=ctx.now)
    ]
    ctx.db.add(supplier)
    try:
        ctx.db.flush()
    except IntegrityError as exc:
        # Another request registered the same RFC between the check above and this write.
        raise _registered_meanwhile("el RFC", "rfc", rfc) from exc
    sanctioned = _bind_sanctions(ctx.db, supplier)
    ctx.record(
        "supplier.register",
        f"supplier:{rfc}",
        {
            "rfc": rfc,
            "razon_social": supplier.razon_social,
            "state": state_code,
            "registered_on": supplier.registered_on,
            "status": status.value,
            "sanctioned": sanctioned,
        },
    )
    return supplier


def get_supplier(db: Session, rfc: str) -> Supplier:
    supplier = db.scalar(select(Supplier).where(Supplier.rfc == rules.clean_rfc(rfc)))
    if supplier is None:
        raise NotFound(f"No existe un proveedor con el RFC «{rfc}».")
    return supplier


def _supplier_problems(rfc: str, razon_social: str, state: str | None) -> list[Problem]:
    return (
        rules.rfc_problems(rfc)
        + rules.razon_social_problems(razon_social)
        + rules.state_problems(state)
    )


def _rfc_taken(db: Session, rfc: str) -> list[Problem]:
    if db.scalar(select(Supplier.id).where(Supplier.rfc == rfc)) is None:
        return []
    return [
        Problem(
            f"Ya existe un proveedor con el RFC {rfc}.",
            field="rfc",
            value=rfc,
            expected="un RFC que no esté registrado; si es el suyo, pida un usuario al comprador",
        )
    ]


def register_supplier_account(
    ctx: Context,
    *,
    rfc: str,
    razon_social: str,
    state_code: str | None,
    username: str,
    full_name: str,
    password: str,
) -> tuple[Supplier, User]:
    """A supplier's self-registration: the supplier and its first ``proveedor`` user, together.

    Every problem of both is reported at once, and neither is written unless both can be. The
    supplier starts ``pendiente``: it takes part only once the buyer has seen its documents
    (``verify_supplier``).
    """
    problems = _supplier_problems(rfc, razon_social, state_code) + _user_problems(
        username, full_name, password
    )
    if problems:
        raise ValidationFailed("No se pudo registrar al proveedor.", problems=problems)
    taken = _rfc_taken(ctx.db, rules.clean_rfc(rfc))
    if ctx.db.scalar(select(User.id).where(User.username == username.strip().lower())) is not None:
        taken.append(
            Problem(
                f"Ya existe el usuario «{username.strip().lower()}».",
                field="username",
                value=username,
                expected="otro nombre de usuario",
            )
        )
    if taken:
        raise Conflict("No se pudo registrar al proveedor.", problems=taken)
    supplier = register_supplier(
        ctx,
        rfc=rfc,
        razon_social=razon_social,
        state_code=state_code,
        status=SupplierStatus.pendiente,
    )
    try:
        user = create_user(
            ctx,
            username=username,
            full_name=full_name,
            password=password,
            role=Role.proveedor,
            supplier_rfc=supplier.rfc,
        )
    except IntegrityError as exc:
        raise _registered_meanwhile("el usuario", "username", username) from exc
    return supplier, user


def _registered_meanwhile(what: str, field: str, value: str) -> Conflict:
    return Conflict(
        f"Otra solicitud registró {what} «{value}» al mismo tiempo; no se registró nada.",
        problems=[Problem(f"Ya existe {what} «{value}».", field=field, value=value)],
    )


def update_supplier(ctx: Context, *, rfc: str, version: int, razon_social: str) -> SupplierRename:
    """Ask to change a supplier's razón social, if ``version`` is still the one stored.

    The change is recorded as a rename request and takes effect only when the buyer approves
    it (``approve_rename``); a buyer's own change is approved as it is made. A supplier asks
    only for itself, one request at a time. A stale version is a ``Conflict``.
    """
    supplier = get_supplier(ctx.db, rfc)
    ctx.require_supplier(supplier.id)
    problems = rules.razon_social_problems(razon_social)
    if problems:
        raise ValidationFailed("No se pudo modificar al proveedor.", problems=problems)
    if version != supplier.version:
        raise _stale(supplier, version)
    new_name = rules.clean_razon_social(razon_social)
    if new_name == supplier.razon_social:
        raise ValidationFailed(
            "La razón social es la misma; no hay nada que cambiar.",
            problems=[Problem("Sin cambio.", field="razon_social", value=new_name)],
        )
    if pending_rename(ctx.db, supplier) is not None:
        raise Conflict(
            f"El proveedor {supplier.rfc} ya tiene un cambio de razón social pendiente de "
            "aprobación; espere la decisión del comprador antes de pedir otro."
        )
    rename = SupplierRename(
        supplier=supplier,
        old_name=supplier.razon_social,
        new_name=new_name,
        status=RenameStatus.pendiente,
        requested_by=ctx.actor.label,
        requested_at=ctx.now,
    )
    ctx.db.add(rename)
    ctx.db.flush()
    ctx.record(
        "supplier.rename.request",
        f"supplier:{supplier.rfc}",
        {"rfc": supplier.rfc, "request": rename.id, "old": rename.old_name, "new": new_name},
    )
    if ctx.actor.has_role("comprador"):
        approve_rename(ctx, rename_id=rename.id)
    return rename


def pending_rename(db: Session, supplier: Supplier) -> SupplierRename | None:
    return db.scalar(
        select(SupplierRename).where(
            SupplierRename.supplier_id == supplier.id,
            SupplierRename.status == RenameStatus.pendiente,
        )
    )


def pending_renames(db: Session) -> list[SupplierRename]:
    """Rename requests awaiting the buyer, oldest first."""
    return list(
        db.scalars(
            select(SupplierRename)
            .where(SupplierRename.status == RenameStatus.pendiente)
            .order_by(SupplierRename.requested_at, SupplierRename.id)
        )
    )


def get_rename(db: Session, rename_id: int) -> SupplierRename:
    rename = db.get(SupplierRename, rename_id)
    if rename is None:
        raise NotFound(f"No existe la solicitud de cambio de razón social {rename_id}.")
    return rename


def _get_pending_rename(db: Session, rename_id: int) -> SupplierRename:
    rename = db.get(SupplierRename, rename_id, with_for_update=True)
    if rename is None:
        raise NotFound(f"No existe la solicitud de cambio de razón social {rename_id}.")
    if rename.status is not RenameStatus.pendiente:
        raise Conflict(
            f"La solicitud {rename_id} ya fue {rename.status.value}a; no se cambió nada."
        )
    return rename


def approve_rename(ctx: Context, *, rename_id: int, note: str = "") -> Supplier:
    """Apply a rename request. The new name joins the names the RFC has borne; every one stays
    matched against the sanctions list, so a sanctioned supplier stays barred."""
    rename = _get_pending_rename(ctx.db, rename_id)
    supplier = rename.supplier
    read_version = supplier.version
    supplier.razon_social = rename.new_name
    supplier.normalised_name = rules.normalize_company_name(rename.new_name)
    if supplier.normalised_name not in {n.normalised_name for n in supplier.names}:
        supplier.names.append(
            SupplierName(
                razon_social=rename.new_name,
                normalised_name=supplier.normalised_name,
                since=ctx.now,
            )
        )
    _decide(ctx, rename, RenameStatus.aprobado, note)
    try:
        ctx.db.flush()
    except StaleDataError:
        raise _stale(supplier, read_version) from None
    sanctioned = _bind_sanctions(ctx.db, supplier)
    ctx.record(
        "supplier.update",
        f"supplier:{supplier.rfc}",
        {
            "rfc": supplier.rfc,
            "version": supplier.version,
            "request": rename.id,
            "changes": {"razon_social": {"old": rename.old_name, "new": rename.new_name}},
            "earlier_names": [n.razon_social for n in supplier.names[:-1]],
            "sanctioned": sanctioned,
        },
    )
    return supplier


def reject_rename(ctx: Context, *, rename_id: int, note: str) -> SupplierRename:
    rename = _get_pending_rename(ctx.db, rename_id)
    _decide(ctx, rename, RenameStatus.rechazado, _required_note(note))
    ctx.db.flush()
    ctx.record(
        "supplier.rename.reject",
        f"supplier:{rename.supplier.rfc}",
        {"rfc": rename.supplier.rfc, "request": rename.id, "new": rename.new_name, "note": note},
    )
    return rename


def _decide(ctx: Context, rename: SupplierRename, status: RenameStatus, note: str) -> None:
    rename.status = status
    rename.decided_by = ctx.actor.label
    rename.decided_at = ctx.now
    rename.note = note.strip()[:500] or None


def _required_note(note: str) -> str:
    if not note.strip():
        raise ValidationFailed(
            "Escriba el motivo.",
            problems=[
                Problem("Falta el motivo.", field="note", expected="el motivo, para el proveedor")
            ],
        )
    return note


# ----- verification of self-registered suppliers ---------------------------------------------

# What the buyer must have seen before a self-registered supplier takes part, as the review
# page asks for it: (field, label, what is expected).
VERIFICATION_DOCUMENTS = (
    (
        "tax_certificate",
        "Constancia de Situación Fiscal",
        "el idCIF de la Constancia (11 dígitos), cuyo RFC y razón social coinciden",
    ),
    (
        "articles_of_incorporation",
        "Acta constitutiva",
        "número de escritura, notaría y fecha, o el folio mercantil",
    ),
    (
        "representative",
        "Representante legal",
        "nombre del representante y el poder notarial que lo acredita",
    ),
)
_ID_CIF = re.compile(r"^\d{11}$")


def pending_suppliers(db: Session) -> list[Supplier]:
    """Self-registered suppliers awaiting verification, oldest first."""
    return list(
        db.scalars(
            select(Supplier)
            .where(Supplier.status == SupplierStatus.pendiente)
            .order_by(Supplier.created_at, Supplier.id)
        )
    )


def verify_supplier(
    ctx: Context,
    *,
    rfc: str,
    tax_certificate: str,
    articles_of_incorporation: str,
    representative: str,
) -> Supplier:
    """The buyer has seen the supplier's documents: it may take part from now on."""
    supplier = get_supplier(ctx.db, rfc)
    values = {
        "tax_certificate": tax_certificate.strip(),
        "articles_of_incorporation": " ".join(articles_of_incorporation.split()),
        "representative": " ".join(representative.split()),
    }
    problems = [
        Problem(f"Falta: {label}.", field=name, expected=expected)
        for name, label, expected in VERIFICATION_DOCUMENTS
        if not values[name]
    ]
    if values["tax_certificate"] and not _ID_CIF.match(values["tax_certificate"]):
        problems.append(
            Problem(
                "El idCIF de la Constancia de Situación Fiscal no tiene 11 dígitos.",
                field="tax_certificate",
                value=values["tax_certificate"],
                expected=VERIFICATION_DOCUMENTS[0][2],
            )
        )
    for name in ("articles_of_incorporation", "representative"):
        if len(values[name]) > 200:
            problems.append(Problem("Texto demasiado largo.", field=name, expected="hasta 200"))
    if problems:
        raise ValidationFailed(
            f"No se verificó al proveedor {supplier.rfc}: faltan datos de sus documentos.",
            problems=problems,
        )
    if supplier.status is SupplierStatus.verificado:
        raise Conflict(f"El proveedor {supplier.rfc} ya está verificado.")
    supplier.status = SupplierStatus.verificado
    supplier.tax_certificate = values["tax_certificate"]
    supplier.articles_of_incorporation = values["articles_of_incorporation"]
    supplier.representative = values["representative"]
    supplier.review_note = None
    supplier.reviewed_at = ctx.now
    ctx.db.flush()
    # The documents' references stay on the row (the representative is a person); the public
    # entry says which documents were seen.
    ctx.record(
        "supplier.verify",
        f"supplier:{supplier.rfc}",
        {
            "rfc": supplier.rfc,
            "status": supplier.status.value,
            "documents": [label for _, label, _ in VERIFICATION_DOCUMENTS],
        },
    )
    return supplier


def reject_supplier(ctx: Context, *, rfc: str, note: str) -> Supplier:
    """The buyer refuses a registration (documents missing or not matching), saying why."""
    supplier = get_supplier(ctx.db, rfc)
    if supplier.status is not SupplierStatus.pendiente:
        raise Conflict(
            f"El proveedor {supplier.rfc} ya está {supplier.status.value}; no se cambió nada."
        )
    supplier.status = SupplierStatus.rechazado
    supplier.review_note = _required_note(note).strip()[:500]
    supplier.reviewed_at = ctx.now
    ctx.db.flush()
    ctx.record(
        "supplier.reject",
        f"supplier:{supplier.rfc}",
        {"rfc": supplier.rfc, "status": supplier.status.value, "note": supplier.review_note},
    )
    return supplier


def _stale(supplier: Supplier, version: int) -> Conflict:
    return Conflict(
        f"El proveedor {supplier.rfc} cambió después de que usted lo leyó; no se guardó nada. "
        "Vuelva a leerlo y repita el cambio.",
        problems=[
            Problem(
                "La versión enviada ya no es la vigente.",
                field="version",
                value=str(version),
                expected=f"la versión que devuelve ahora GET /api/v1/suppliers/{supplier.rfc}",
            )
        ],
    )


# ----- institutions --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InstitutionSummary:
    institution: Institution
    units_by_kind: dict[str, int]
    """Kind → number of units, in ``rules.UNIT_KINDS`` order."""

    @property
    def units(self) -> int:
        return sum(self.units_by_kind.values())


def list_institutions(db: Session) -> list[InstitutionSummary]:
    """Every institution by code, with how many units of each kind it has."""
    counts: defaultdict[int, dict[str, int]] = defaultdict(dict)
    rows = db.execute(
        select(Unit.institution_id, Unit.kind, func.count()).group_by(
            Unit.institution_id, Unit.kind
        )
    )
    for institution_id, kind, count in rows:
        counts[institution_id][kind] = count
    return [
        InstitutionSummary(
            institution,
            dict(
                sorted(counts[institution.id].items(), key=lambda kv: rules.unit_kind_order(kv[0]))
            ),
        )
        for institution in db.scalars(select(Institution).order_by(Institution.code))
    ]


@dataclass(frozen=True, slots=True)
class UnitGroup:
    kind: str
    units: list[Unit]


def institution_units(institution: Institution) -> list[UnitGroup]:
    """The institution's units grouped by kind (OOAD, UMAE, hospitals, …), each group by code."""
    groups: defaultdict[str, list[Unit]] = defaultdict(list)
    for unit in sorted(institution.units, key=lambda unit: unit.code):
        groups[unit.kind].append(unit)
    return [UnitGroup(kind, groups[kind]) for kind in sorted(groups, key=rules.unit_kind_order)]


# ----- suppliers and the sanctions list ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SupplierStanding:
    """A supplier and what the sanctions list says about it."""

    supplier: Supplier
    listed: list[Sanction] = field(default_factory=list)
    """Every row of the list that names the supplier under any name its RFC has borne, newest
    resolution first."""

    @property
    def sanctions(self) -> list[Sanction]:
        """The rows that bar it; an acquittal ("absolutoria") names it but does not."""
        return [s for s in self.listed if not rules.is_acquittal(s.resolution)]

    @property
    def acquittals(self) -> list[Sanction]:
        return [s for s in self.listed if rules.is_acquittal(s.resolution)]

    @property
    def barred(self) -> bool:
        """A sanction on the list bars it."""
        return bool(self.sanctions)

    @property
    def eligible(self) -> bool:
        """It may take part: verified, and no sanction bars it."""
        return not self.barred and self.supplier.status is SupplierStatus.verificado


_NEWEST_FIRST = (Sanction.resolved_on.desc(), Sanction.source_row)
_SANCTIONS_OF = (
    select(SupplierName.supplier_id, Sanction)
    .join(Sanction, Sanction.normalised_name == SupplierName.normalised_name)
    .where(SupplierName.supplier_id.in_(bindparam("ids", expanding=True)))
    .order_by(*_NEWEST_FIRST)
)
"""Built once: the rows of the list naming any name each supplier has borne."""


def supplier_sanctions(db: Session, supplier: Supplier) -> list[Sanction]:
    """The rows of the sanctions list naming the supplier under any of its names, acquittals
    included, newest first."""
    return [sanction for _, sanction in db.execute(_SANCTIONS_OF, {"ids": [supplier.id]})]


def is_eligible(db: Session, supplier: Supplier) -> bool:
    """Whether the supplier may take part: verified, and no sanction names it."""
    return SupplierStanding(supplier, supplier_sanctions(db, supplier)).eligible


def standings(db: Session, suppliers: Sequence[Supplier]) -> list[SupplierStanding]:
    """Each supplier's standing, with one query for all of them."""
    found: defaultdict[int, list[Sanction]] = defaultdict(list)
    if suppliers:
        for supplier_id, sanction in db.execute(
            _SANCTIONS_OF, {"ids": [supplier.id for supplier in suppliers]}
        ):
            found[supplier_id].append(sanction)
    return [SupplierStanding(s, found[s.id]) for s in suppliers]


def _bind_sanctions(db: Session, supplier: Supplier) -> bool:
    """Store whether the list bars the supplier under any of its names; returns it."""
    barred = SupplierStanding(supplier, supplier_sanctions(db, supplier)).barred
    if barred != supplier.sanctioned:
        # A bulk UPDATE: the binding is not an edit of the supplier, so its version stays.
        db.execute(
            update(Supplier)
            .where(Supplier.id == supplier.id)
            .values(sanctioned=barred)
            .execution_options(synchronize_session=False)
        )
        db.expire(supplier, ["sanctioned"])
    return barred


def get_supplier_standing(db: Session, rfc: str) -> SupplierStanding:
    supplier = get_supplier(db, rfc)
    return SupplierStanding(supplier, supplier_sanctions(db, supplier))


def search_suppliers(
    db: Session, *, q: str, page: int, per_page: int
) -> tuple[list[SupplierStanding], int]:
    """One page of suppliers whose RFC or razón social contains ``q`` (all when blank), by name.

    The name is compared normalised, so "diseño sa de cv" finds «3R Innovación y Diseño, S.A.
    de C.V.»; the RFC as typed, without spaces or hyphens.
    """
    conditions = _supplier_conditions(q)
    total = db.scalar(select(func.count()).select_from(Supplier).where(*conditions)) or 0
    items = db.scalars(
        select(Supplier)
        .where(*conditions)
        .order_by(Supplier.normalised_name, Supplier.rfc)
        .offset((max(page, 1) - 1) * per_page)
        .limit(per_page)
    ).all()
    return standings(db, items), total


def _supplier_conditions(q: str) -> list[ColumnElement[bool]]:
    if not q.strip():
        return []
    rfc = rules.clean_rfc(q)
    name = rules.normalize_company_name(q)
    conditions = [Supplier.rfc.contains(rfc, autoescape=True)]
    if name:
        conditions.append(Supplier.normalised_name.contains(name, autoescape=True))
    return [or_(*conditions)]


def list_sanctions(
    db: Session, *, q: str = "", page: int, per_page: int
) -> tuple[list[Sanction], int]:
    """One page of the list as published (one item per row of the file), by row."""
    # A row naming several companies is stored once per company; its first copy stands for it.
    firsts = select(func.min(Sanction.id)).group_by(Sanction.source_row)
    if q.strip():
        key = rules.normalize_company_name(q)
        firsts = firsts.where(
            Sanction.source_row.in_(
                select(Sanction.source_row).where(
                    Sanction.normalised_name.contains(key, autoescape=True)
                )
            )
        )
    conditions = [Sanction.id.in_(firsts)]
    total = db.scalar(select(func.count()).select_from(Sanction).where(*conditions)) or 0
    items = db.scalars(
        select(Sanction)
        .where(*conditions)
        .order_by(Sanction.source_row)
        .offset((max(page, 1) - 1) * per_page)
        .limit(per_page)
    ).all()
    return list(items), total


@dataclass(frozen=True, slots=True)
class MatchedSupplier:
    rfc: str
    razon_social: str
    sanctions: int


@dataclass(frozen=True, slots=True)
class SanctionsImportSummary:
    """What replacing the sanctions list did."""

    filename: str
    sha256: str
    records: int
    """Rows of the list read."""
    stored: int
    """Rows stored: one per company a row names."""
    matched: tuple[MatchedSupplier, ...]
    """Registered suppliers the list now bars, by name."""
    newly_matched: tuple[str, ...]
    """RFCs barred now and not before this import."""
    no_longer_matched: tuple[str, ...]
    """RFCs barred before this import and not any more."""
    notes: tuple[Problem, ...]
    """What was repaired or tolerated in the file (realigned rows, unreadable dates)."""


# The widths of ``Sanction``'s text columns, and the largest amount Numeric(18, 2) holds.
_WIDTHS = (
    ("supplier", "Proveedor", 400),
    ("agency", "Dependencia", 400),
    ("file_number", "Número de Expediente", 100),
    ("resolution", "Sentido de Resolución", 400),
    ("term", "Plazo", 100),
    ("notification_text", "Fecha de Notificación", 100),
)
_MAX_AMOUNT = Decimal("1e16")


def import_sanctions(ctx: Context, *, content: bytes, filename: str) -> SanctionsImportSummary:
    """Replace the sanctions list with the file's, all or nothing, and say whom it now bars.

    The list is a snapshot: every stored row is deleted and the file's inserted, in the
    caller's transaction. A row naming several companies ("X, S.A. Y Z, S.A.") is stored once
    per company key, each copy keeping the file's row number. The ledger gets one
    ``sanctions.import`` entry and one ``supplier.sanctioned`` per supplier barred anew.
    """
    records = parse_sanctions(content, filename)
    problems = _storage_problems(records)
    if problems:
        raise ValidationFailed(
            f"El archivo «{filename}» tiene {count_of(len(problems), 'problema', 'problemas')}; "
            "no se importó nada.",
            problems=problems,
        )
    rows = [
        _sanction_row(record, key)
        for record in records
        for key in record.name_keys or (record.normalized_name,)
    ]
    # Two imports at once on PostgreSQL would each delete only the rows they saw and keep both
    # inserts. The ledger head row, which every append locks, serialises them: the second waits
    # here until the first commits, then deletes what the first inserted.
    ctx.db.execute(select(LedgerHead.seq).where(LedgerHead.id == 1).with_for_update())
    before = _barred(ctx.db)
    ctx.db.execute(delete(Sanction))
    ctx.db.execute(insert(Sanction), rows)
    after = _barred(ctx.db)
    # The binding each bid reads: set for every supplier barred now, cleared for the rest.
    ctx.db.execute(
        update(Supplier)
        .values(sanctioned=Supplier.id.in_(list(after) or [0]))
        .execution_options(synchronize_session=False)
    )
    for supplier in ctx.db.identity_map.values():
        if isinstance(supplier, Supplier):
            ctx.db.expire(supplier, ["sanctioned"])
    matched = sorted(after.values(), key=lambda standing: standing.supplier.normalised_name)
    newly = [standing for standing in matched if standing.supplier.id not in before]
    lifted = sorted(before[i].supplier.rfc for i in before.keys() - after.keys())
    summary = SanctionsImportSummary(
        filename=filename,
        sha256=hashlib.sha256(content).hexdigest(),
        records=len(records),
        stored=len(rows),
        matched=tuple(
            MatchedSupplier(s.supplier.rfc, s.supplier.razon_social, len(s.sanctions))
            for s in matched
        ),
        newly_matched=tuple(standing.supplier.rfc for standing in newly),
        no_longer_matched=tuple(lifted),
        notes=tuple(note for record in records for note in record.notes),
    )
    ctx.record_many(
        [
            Record(
                "sanctions.import",
                "sanctions",
                {
                    "filename": filename,
                    "sha256": summary.sha256,
                    "records": summary.records,
                    "stored": summary.stored,
                    "notes": len(summary.notes),
                    "matched": [m.rfc for m in summary.matched],
                    "newly_matched": list(summary.newly_matched),
                    "no_longer_matched": list(summary.no_longer_matched),
                },
            ),
            *(
                Record(
                    "supplier.sanctioned",
                    f"supplier:{standing.supplier.rfc}",
                    {
                        "rfc": standing.supplier.rfc,
                        "razon_social": standing.supplier.razon_social,
                        "list_sha256": summary.sha256,
                        "sanctions": [_sanction_payload(s) for s in standing.sanctions],
                    },
                )
                for standing in newly
            ),
        ]
    )
    return summary


def _storage_problems(records: Iterable[SanctionRecord]) -> list[Problem]:
    problems = []
    for record in records:
        for attribute, column, width in _WIDTHS:
            value: str = getattr(record, attribute)
            if len(value) > width:
                problems.append(
                    Problem(
                        f"El texto tiene {len(value)} caracteres.",
                        row=record.row,
                        column=column,
                        value=value[:60] + "…",
                        expected=f"a lo más {width} caracteres",
                    )
                )
        if record.amount is not None and record.amount >= _MAX_AMOUNT:
            problems.append(
                Problem(
                    "El monto es demasiado grande.",
                    row=record.row,
                    column="Monto",
                    value=str(record.amount),
                    expected="un importe en pesos de menos de 16 dígitos enteros",
                )
            )
    return problems


def _sanction_row(record: SanctionRecord, key: str) -> dict[str, Any]:
    return {
        "supplier_name": record.supplier,
        "normalised_name": key,
        "agency": record.agency or None,
        "file_number": record.file_number or None,
        "facts": record.facts or None,
        "resolution": record.resolution or None,
        "notified_on": record.notification_date,
        "notified_text": record.notification_text or None,
        "resolved_on": record.resolution_date,
        "term": record.term or None,
        "amount": record.amount,
        "source_row": record.row,
    }


def _barred(db: Session) -> dict[int, SupplierStanding]:
    """Supplier id → standing, for every supplier the stored list bars under any of its names."""
    listed: defaultdict[int, list[Sanction]] = defaultdict(list)
    suppliers: dict[int, Supplier] = {}
    rows = db.execute(
        select(Supplier, Sanction)
        .join(SupplierName, SupplierName.supplier_id == Supplier.id)
        .join(Sanction, Sanction.normalised_name == SupplierName.normalised_name)
        .order_by(Supplier.id, *_NEWEST_FIRST)
    )
    for supplier, sanction in rows:
        suppliers[supplier.id] = supplier
        listed[supplier.id].append(sanction)
    found = {i: SupplierStanding(suppliers[i], listed[i]) for i in suppliers}
    return {i: standing for i, standing in found.items() if standing.barred}


def _sanction_payload(sanction: Sanction) -> dict[str, Any]:
    return {
        "row": sanction.source_row,
        "listed_as": sanction.supplier_name,
        "agency": sanction.agency,
        "file_number": sanction.file_number,
        "resolution": sanction.resolution,
        "resolved_on": sanction.resolved_on,
        "term": sanction.term,
    }


# ----- units from the CLUES catalogue --------------------------------------------------------

# How the CLUES catalogue names the states' own health services: a unit of the state's
# ``SESA-NN`` of the registry.
_STATE_SERVICES = frozenset({"secretaria de salud", "ssa", "servicios estatales de salud"})


@dataclass(frozen=True, slots=True)
class UnitsImportSummary:
    filename: str
    sha256: str
    rows: int
    added: int
    updated: int
    unchanged: int
    by_institution: dict[str, int]
    """Institution code → units of the file that belong to it."""
    retired: int = 0
    """Units the file says are out of operation that were not retired yet (new ones too)."""


def import_units(ctx: Context, *, content: bytes, filename: str) -> UnitsImportSummary:
    """Register or update the units of a CLUES-layout file, all or nothing.

    A unit is named by its institution and its CLUES; one already registered takes the file's
    name, state, municipality, type and coordinates (``unit.update`` when any differs), a new
    one is added (``unit.register``), and one ``units.import`` entry sums up. Importing the
    same file again changes nothing. An institution the registry does not know, or a retired
    one, is a problem naming the row and column; nothing is written then.
    """
    rows, problems = clues.parse_units(content, filename)
    owners = dict(
        ctx.db.execute(select(InstitutionAlias.folded, Institution).join(Institution.aliases)).all()
    )
    resolved: list[tuple[Institution, UnitSpec, bool]] = []
    for row in rows:
        institution = _clues_institution(row, owners)
        if institution is None or institution.retired_at is not None:
            problems.append(
                Problem(
                    "La institución no está registrada."
                    if institution is None
                    else f"La institución «{institution.code}» está retirada.",
                    row=row.row,
                    column="NOMBRE DE LA INSTITUCION",
                    value=row.institution,
                    expected="una institución del registro (clave, nombre u otro nombre);"
                    " registre las que falten o ejecute «abasto institutions sync»",
                )
            )
            continue
        resolved.append(
            (
                institution,
                UnitSpec(
                    code=row.clues,
                    name=row.name,
                    kind=row.kind,
                    state_code=row.state_code,
                    municipality=row.municipality,
                    typology=row.typology,
                    latitude=row.latitude,
                    longitude=row.longitude,
                ),
                row.out_of_operation,
            )
        )
    if problems:
        raise ValidationFailed(
            f"El archivo «{filename}» tiene {count_of(len(problems), 'problema', 'problemas')};"
            " no se importó nada.",
            problems=problems,
            expected=clues.EXPECTED_FILE,
        )
    # Core statements, not one ORM object per unit: a national file has some 15,000.
    institution_ids = {institution.id for institution, _, _ in resolved}
    existing = {
        (row.institution_id, row.code): row
        for row in ctx.db.execute(
            select(
                Unit.id,
                Unit.institution_id,
                Unit.retired_at,
                *(getattr(Unit, f) for f in ("code", *_UNIT_FIELDS)),
            ).where(Unit.institution_id.in_(institution_ids))
        )
    }
    records: list[Record] = []
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    by_institution: defaultdict[str, int] = defaultdict(int)
    retiring: list[dict[str, Any]] = []
    for institution, given, out_of_operation in resolved:
        spec = _normalised(given)
        by_institution[institution.code] += 1
        entity = f"unit:{institution.code}/{spec.code}"
        after = _unit_payload(spec)
        stored = existing.get((institution.id, spec.code))
        retire = out_of_operation and (stored is None or stored.retired_at is None)
        if stored is None:
            inserts.append(
                {"institution_id": institution.id, "code": spec.code}
                | {f: getattr(spec, f) for f in _UNIT_FIELDS}
                | {"retired_at": ctx.now if retire else None}
            )
            records.append(
                Record("unit.register", entity, {"institution": institution.code, **after})
            )
        if retire:
            records.append(_clues_retirement(entity, institution.code, spec.code))
        if stored is None:
            continue
        if retire:
            retiring.append({"id": stored.id, "retired_at": ctx.now})
        before = _unit_payload(stored)
        if after != before:
            updates.append({"id": stored.id, **{f: getattr(spec, f) for f in _UNIT_FIELDS}})
            records.append(
                Record(
                    "unit.update",
                    entity,
                    {"institution": institution.code, "from": before, "to": after},
                )
            )
    if inserts:
        ctx.db.execute(insert(Unit), inserts)
    if updates:
        ctx.db.execute(update(Unit), updates)
    if retiring:
        ctx.db.execute(update(Unit), retiring)
    # Loaded units and institutions' lists of units are stale now.
    for loaded in ctx.db.identity_map.values():
        if isinstance(loaded, Unit):
            ctx.db.expire(loaded)
        elif isinstance(loaded, Institution):
            ctx.db.expire(loaded, ["units"])
    added, updated = len(inserts), len(updates)
    summary = UnitsImportSummary(
        filename=filename,
        sha256=hashlib.sha256(content).hexdigest(),
        rows=len(rows),
        added=added,
        updated=updated,
        unchanged=len(rows) - added - updated,
        by_institution=dict(sorted(by_institution.items())),
        retired=sum(record.action == "unit.retire" for record in records),
    )
    records.append(
        Record(
            "units.import",
            "units",
            {
                "filename": filename,
                "sha256": summary.sha256,
                "rows": summary.rows,
                "added": added,
                "updated": updated,
                "unchanged": summary.unchanged,
                "retired": summary.retired,
                "by_institution": summary.by_institution,
            },
        )
    )
    ctx.record_many(records)
    return summary


def _clues_retirement(entity: str, institution: str, code: str) -> Record:
    return Record(
        "unit.retire",
        entity,
        {"institution": institution, "code": code, "reason": "CLUES: fuera de operación"},
    )


def _clues_institution(row: clues.CluesRow, owners: dict[str, Institution]) -> Institution | None:
    for name in (row.institution, row.institution_key or ""):
        folded = fold(name)
        if folded in _STATE_SERVICES:
            return owners.get(fold(f"SESA-{row.state_code}"))
        if folded in owners:
            return owners[folded]
    return None
