"""Users and credentials through the service, on a real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from abasto.core.context import Context
from abasto.core.errors import Conflict, Unauthorized, ValidationFailed
from abasto.core.ledger import LedgerEntry
from abasto.identity import service
from abasto.identity.models import Role
from tests.conftest import PASSWORD, make_user


def test_created_user_logs_in_and_is_on_the_private_ledger(ctx: Context) -> None:
    make_user(ctx, "ana.lopez", "comprador")
    user = service.authenticate(ctx.db, username="Ana.Lopez ", password=PASSWORD)
    assert user.role is Role.comprador
    assert user.password_hash.startswith("$argon2")
    entry = ctx.db.scalars(select(LedgerEntry).where(LedgerEntry.entity == "user:ana.lopez")).one()
    assert entry.action == "user.create"
    assert not entry.public
    assert PASSWORD not in entry.payload


def test_wrong_password_and_unknown_user_get_the_same_answer(ctx: Context) -> None:
    make_user(ctx, "ana.lopez", "comprador")
    with pytest.raises(Unauthorized) as wrong_password:
        service.authenticate(ctx.db, username="ana.lopez", password="otra-contrasena")
    with pytest.raises(Unauthorized) as unknown_user:
        service.authenticate(ctx.db, username="nadie", password=PASSWORD)
    assert wrong_password.value.detail == unknown_user.value.detail == service.WRONG_LOGIN


def test_scoped_roles_need_their_scope(ctx: Context) -> None:
    with pytest.raises(ValidationFailed) as missing:
        service.create_user(
            ctx, username="planner", full_name="P", password=PASSWORD, role=Role.institucion
        )
    assert [p.field for p in missing.value.problems] == ["institution"]
    with pytest.raises(ValidationFailed) as unknown:
        service.create_user(
            ctx,
            username="planner",
            full_name="P",
            password=PASSWORD,
            role=Role.institucion,
            institution_code="NOEXISTE",
        )
    assert unknown.value.problems[0].value == "NOEXISTE"
    with pytest.raises(ValidationFailed) as misplaced:
        service.create_user(
            ctx,
            username="auditora",
            full_name="A",
            password=PASSWORD,
            role=Role.auditor,
            institution_code="IMSS",
        )
    assert misplaced.value.problems[0].field == "role"


def test_duplicate_username_conflicts(ctx: Context) -> None:
    make_user(ctx, "ana.lopez", "comprador")
    with pytest.raises(Conflict):
        make_user(ctx, "ana.lopez", "auditor")


def test_token_expires_and_can_be_revoked(ctx: Context) -> None:
    make_user(ctx, "ana.lopez", "comprador")
    user = service.authenticate(ctx.db, username="ana.lopez", password=PASSWORD)
    secret = service.issue_credential(ctx, user=user, kind="token", ttl=timedelta(hours=1))
    assert service.user_for_secret(ctx, secret=secret, kind="token").id == user.id
    later = Context(ctx.db, ctx.actor, ctx.now + timedelta(hours=1))
    with pytest.raises(Unauthorized, match="expiró"):
        service.user_for_secret(later, secret=secret, kind="token")
    service.revoke_credential(ctx, secret=secret, kind="token")
    with pytest.raises(Unauthorized, match="revocado"):
        service.user_for_secret(ctx, secret=secret, kind="token")
    # A session secret is not a token, and the other way round.
    with pytest.raises(Unauthorized):
        service.user_for_secret(ctx, secret=secret, kind="session")
