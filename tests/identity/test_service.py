"""Identity's use cases on a real database: users, institutions, suppliers, sanctions list."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, date, datetime, timedelta

import argon2
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from abasto.core import ledger
from abasto.core.context import Context, operator
from abasto.core.db import make_engine, session_factory, transaction
from abasto.core.errors import Conflict, TooManyRequests, Unauthorized, ValidationFailed
from abasto.core.ledger import LedgerEntry
from abasto.identity import rules, service
from abasto.identity.models import RenameStatus, Role, Sanction, Supplier, SupplierStatus, User
from abasto.identity.rules import make_rfc
from tests import conftest as suite
from tests.conftest import PASSWORD, T0, make_user
from tests.identity.test_sanctions import GOOD, HEADER, REAL_FILE, _csv, _with


def test_the_application_hashes_passwords_with_argon2id_at_its_full_cost() -> None:
    """The suite hashes at argon2's smallest cost (``tests/conftest.py``); the application at
    RFC 9106's recommendation for less memory: three passes over 64 MiB."""
    production = suite.PRODUCTION_HASHER
    assert production is not None
    assert production is not service._hasher
    made = production.hash(PASSWORD)
    found = argon2.extract_parameters(made)
    assert found.type is argon2.Type.ID
    assert found.time_cost >= 3
    assert found.memory_cost >= 64 * 1024
    assert production.verify(made, PASSWORD)


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
    assert service.actor_for_secret(ctx, secret=secret, kind="token").user_id == user.id
    later = Context(ctx.db, ctx.actor, ctx.now + timedelta(hours=1))
    with pytest.raises(Unauthorized, match="expiró"):
        service.actor_for_secret(later, secret=secret, kind="token")
    service.revoke_credential(ctx, secret=secret, kind="token")
    with pytest.raises(Unauthorized, match="revocado"):
        service.actor_for_secret(ctx, secret=secret, kind="token")
    # A session secret is not a token, and the other way round.
    with pytest.raises(Unauthorized):
        service.actor_for_secret(ctx, secret=secret, kind="session")


# ----- suppliers and the sanctions list ------------------------------------------------------

SANCTIONED_NAME = "3R Innovación y Diseño SA de CV"
SANCTIONED_RFC = make_rfc("TRI", date(2009, 3, 12), "A1")
CLEAN_RFC = make_rfc("FAB", date(2001, 5, 17), "K3")


def real_list() -> bytes:
    return REAL_FILE.read_bytes()


def small_list(*suppliers: str) -> bytes:
    """A list in the SFP layout naming these suppliers, one row each."""
    return _csv([HEADER, *([name, *GOOD[1:]] for name in suppliers)])


def register_sanctioned(ctx: Context) -> Supplier:
    return service.register_supplier(
        ctx, rfc=SANCTIONED_RFC, razon_social=SANCTIONED_NAME, state_code="09"
    )


def sanction_rows(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Sanction)) or 0


def entries(db: Session, action: str) -> list[LedgerEntry]:
    return list(db.scalars(select(LedgerEntry).where(LedgerEntry.action == action)))


def test_importing_the_real_list_bars_the_supplier_it_names(ctx: Context) -> None:
    supplier = register_sanctioned(ctx)
    service.register_supplier(ctx, rfc=CLEAN_RFC, razon_social="Farmacéutica de Prueba SA de CV")
    assert service.is_eligible(ctx.db, supplier)

    summary = service.import_sanctions(ctx, content=real_list(), filename=REAL_FILE.name)

    assert summary.records == 1504
    # Rows naming several companies are stored once per company.
    assert summary.stored == sanction_rows(ctx.db) > summary.records
    assert [(m.rfc, m.sanctions) for m in summary.matched] == [(SANCTIONED_RFC, 1)]
    assert summary.newly_matched == (SANCTIONED_RFC,)
    assert not service.is_eligible(ctx.db, supplier)
    [sanction] = service.supplier_sanctions(ctx.db, supplier)
    assert sanction.source_row == 2
    assert sanction.agency == "INSTITUTO MEXICANO DEL SEGURO SOCIAL"
    assert sanction.file_number == "0041/2013"
    assert sanction.resolved_on == date(2014, 8, 6)
    [imported] = entries(ctx.db, "sanctions.import")
    payload = imported.data()
    assert payload["records"] == 1504
    assert payload["matched"] == [SANCTIONED_RFC]
    assert payload["sha256"] == hashlib.sha256(real_list()).hexdigest()
    [barred] = entries(ctx.db, "supplier.sanctioned")
    assert barred.entity == f"supplier:{SANCTIONED_RFC}"
    assert barred.data()["sanctions"][0]["file_number"] == "0041/2013"


def test_a_supplier_registered_after_the_import_is_barred_at_once(ctx: Context) -> None:
    service.import_sanctions(ctx, content=real_list(), filename=REAL_FILE.name)

    supplier = register_sanctioned(ctx)

    standing = service.get_supplier_standing(ctx.db, supplier.rfc)
    assert not standing.eligible
    assert standing.sanctions[0].resolution == "SANCIONATORIA CON MULTA"


def test_reimporting_replaces_the_list(ctx: Context) -> None:
    register_sanctioned(ctx)
    first = service.import_sanctions(ctx, content=real_list(), filename=REAL_FILE.name)
    again = service.import_sanctions(ctx, content=real_list(), filename=REAL_FILE.name)

    assert sanction_rows(ctx.db) == first.stored == again.stored
    assert again.newly_matched == ()
    assert len(entries(ctx.db, "supplier.sanctioned")) == 1

    smaller = service.import_sanctions(
        ctx, content=small_list("OTRA EMPRESA, S.A. DE C.V."), filename="sancionados.csv"
    )

    assert sanction_rows(ctx.db) == 1
    assert smaller.matched == ()
    assert smaller.no_longer_matched == (SANCTIONED_RFC,)
    assert service.is_eligible(ctx.db, service.get_supplier(ctx.db, SANCTIONED_RFC))


def test_a_bad_file_changes_nothing(ctx: Context) -> None:
    register_sanctioned(ctx)
    service.import_sanctions(ctx, content=real_list(), filename=REAL_FILE.name)
    before = (sanction_rows(ctx.db), ledger.head(ctx.db))
    bad = real_list() + b'"EMPRESA NUEVA, S.A.",IMSS,1/2020,,,,2020-01-01,2020-02-30,,MIL,,,\n'

    with pytest.raises(ValidationFailed) as refused:
        service.import_sanctions(ctx, content=bad, filename="sancionados.csv")

    assert [(p.row, p.column) for p in refused.value.problems] == [
        (1506, "FechadeResolucion"),
        (1506, "Monto"),
    ]
    assert (sanction_rows(ctx.db), ledger.head(ctx.db)) == before
    assert not service.is_eligible(ctx.db, service.get_supplier(ctx.db, SANCTIONED_RFC))


def test_a_joint_bid_is_stored_per_company_and_listed_once(ctx: Context) -> None:
    service.register_supplier(ctx, rfc=CLEAN_RFC, razon_social="Norsafe de México, S.A. de C.V.")
    joint = "GRUPO SILMEL, S.A. DE C.V. Y NORSAFE DE MEXICO, S.A. DE C.V."

    summary = service.import_sanctions(
        ctx, content=small_list("ÚNICA, S.A.", joint), filename="sancionados.csv"
    )

    assert (summary.records, summary.stored) == (2, 4)
    stored = ctx.db.scalars(select(Sanction).where(Sanction.source_row == 3)).all()
    assert {s.normalised_name for s in stored} == {
        "gruposilmelsadecvynorsafedemexico",
        "gruposilmel",
        "norsafedemexico",
    }
    assert [m.rfc for m in summary.matched] == [CLEAN_RFC]
    items, total = service.list_sanctions(ctx.db, page=1, per_page=10)
    assert total == 2
    assert [s.supplier_name for s in items] == ["ÚNICA, S.A.", joint]
    found, _ = service.list_sanctions(ctx.db, q="Norsafe", page=1, per_page=10)
    assert [s.source_row for s in found] == [3]


def test_an_acquittal_names_the_supplier_without_barring_it(ctx: Context) -> None:
    supplier = service.register_supplier(ctx, rfc=CLEAN_RFC, razon_social="Única SA")
    row = [*_with(supplier="ÚNICA, S.A."), ""]
    row[5] = "ABSOLUTORIA"
    service.import_sanctions(ctx, content=_csv([HEADER, row]), filename="sancionados.csv")

    standing = service.get_supplier_standing(ctx.db, supplier.rfc)

    assert standing.eligible
    assert [s.resolution for s in standing.acquittals] == ["ABSOLUTORIA"]


def test_register_supplier_checks_the_state(ctx: Context) -> None:
    with pytest.raises(ValidationFailed) as refused:
        service.register_supplier(ctx, rfc=CLEAN_RFC, razon_social="Única SA", state_code="Texas")
    assert [p.field for p in refused.value.problems] == ["state"]

    supplier = service.register_supplier(
        ctx, rfc=CLEAN_RFC, razon_social="Única SA", state_code="CDMX"
    )
    assert supplier.state_code == "09"


def test_self_registration_reports_every_problem_and_writes_nothing(ctx: Context) -> None:
    head = ledger.head(ctx.db)
    with pytest.raises(ValidationFailed) as refused:
        service.register_supplier_account(
            ctx,
            rfc="FAB010231K3X",
            razon_social="",
            state_code="99",
            username="A",
            full_name="Ana",
            password="corta",
        )
    assert [p.field for p in refused.value.problems] == [
        "rfc",
        "razon_social",
        "state",
        "username",
        "password",
    ]
    assert ledger.head(ctx.db) == head


def test_self_registration_creates_the_supplier_and_its_user(ctx: Context) -> None:
    supplier, user = service.register_supplier_account(
        ctx,
        rfc=CLEAN_RFC.lower(),
        razon_social="Farmacéutica de Prueba, S.A. de C.V.",
        state_code="14",
        username="Ana.Proveedora",
        full_name="Ana Proveedora",
        password=PASSWORD,
    )
    assert (user.role, user.supplier_id, user.username) == (
        Role.proveedor,
        supplier.id,
        "ana.proveedora",
    )
    with pytest.raises(Conflict) as taken:
        service.register_supplier_account(
            ctx,
            rfc=CLEAN_RFC,
            razon_social="Otra, S.A.",
            state_code=None,
            username="ana.proveedora",
            full_name="Otra",
            password=PASSWORD,
        )
    assert [p.field for p in taken.value.problems] == ["rfc", "username"]


def test_a_stale_version_is_refused(ctx: Context) -> None:
    supplier = service.register_supplier(ctx, rfc=CLEAN_RFC, razon_social="Única SA")
    service.update_supplier(ctx, rfc=CLEAN_RFC, version=1, razon_social="Única Dos SA")
    assert supplier.version == 2

    with pytest.raises(Conflict) as stale:
        service.update_supplier(ctx, rfc=CLEAN_RFC, version=1, razon_social="Única Tres SA")

    assert stale.value.problems[0].field == "version"
    assert supplier.razon_social == "Única Dos SA"
    [update] = entries(ctx.db, "supplier.update")
    assert update.data()["changes"]["razon_social"] == {"old": "Única SA", "new": "Única Dos SA"}


def test_two_sessions_updating_the_same_version_only_the_first_wins(
    fresh_database_url: str,
) -> None:
    """Both read version 1; the first writes; the second's write finds the row changed."""
    engine = make_engine(fresh_database_url)
    factory = session_factory(engine)
    try:
        with transaction(factory) as db:
            service.register_supplier(
                Context(db, operator("pruebas"), T0), rfc=CLEAN_RFC, razon_social="Única SA"
            )
        first, second = factory(), factory()
        # Each reads in its own transaction, as two requests would.
        assert service.get_supplier(first, CLEAN_RFC).version == 1
        first.commit()
        assert service.get_supplier(second, CLEAN_RFC).version == 1
        second.commit()

        service.update_supplier(
            Context(first, operator("a"), T0), rfc=CLEAN_RFC, version=1, razon_social="Primera SA"
        )
        first.commit()
        with pytest.raises(Conflict):
            service.update_supplier(
                Context(second, operator("b"), T0),
                rfc=CLEAN_RFC,
                version=1,
                razon_social="Segunda SA",
            )
        second.rollback()
        first.close()
        second.close()

        with transaction(factory) as db:
            stored = service.get_supplier(db, CLEAN_RFC)
            assert (stored.razon_social, stored.version) == ("Primera SA", 2)
            assert len(entries(db, "supplier.update")) == 1
    finally:
        engine.dispose()


def test_two_imports_at_once_leave_one_list(fresh_database_url: str) -> None:
    """The second import waits for the first and then replaces it: no rows of both."""
    engine = make_engine(fresh_database_url)
    factory = session_factory(engine)
    first = factory()
    try:
        service.import_sanctions(
            Context(first, operator("a"), T0),
            content=small_list("PRIMERA, S.A.", "SEGUNDA, S.A."),
            filename="a.csv",
        )
        outcome: list[BaseException | None] = []

        def second_import() -> None:
            try:
                with transaction(factory) as db:
                    service.import_sanctions(
                        Context(db, operator("b"), T0),
                        content=small_list("TERCERA, S.A."),
                        filename="b.csv",
                    )
                outcome.append(None)
            except BaseException as exc:  # reported to the test below
                outcome.append(exc)

        thread = threading.Thread(target=second_import)
        thread.start()
        thread.join(timeout=1)
        assert thread.is_alive(), "the second import did not wait for the first"
        first.commit()
        thread.join(timeout=30)
        assert outcome == [None]

        with transaction(factory) as db:
            names = db.scalars(select(Sanction.supplier_name)).all()
            assert names == ["TERCERA, S.A."]
            assert [e.data()["filename"] for e in entries(db, "sanctions.import")] == [
                "a.csv",
                "b.csv",
            ]
    finally:
        first.close()
        engine.dispose()


def test_the_same_rfc_registered_twice_at_once_is_a_conflict(fresh_database_url: str) -> None:
    """The second registration waits for the first and is refused, never a server error."""
    engine = make_engine(fresh_database_url)
    factory = session_factory(engine)
    first = factory()
    try:
        service.register_supplier(
            Context(first, operator("a"), T0), rfc=CLEAN_RFC, razon_social="Primera SA"
        )
        outcome: list[BaseException | None] = []

        def second_registration() -> None:
            try:
                with transaction(factory) as db:
                    service.register_supplier(
                        Context(db, operator("b"), T0), rfc=CLEAN_RFC, razon_social="Segunda SA"
                    )
                outcome.append(None)
            except BaseException as exc:  # reported to the test below
                outcome.append(exc)

        thread = threading.Thread(target=second_registration)
        thread.start()
        thread.join(timeout=1)
        first.commit()
        thread.join(timeout=30)

        [refused] = outcome
        assert isinstance(refused, Conflict)
        assert refused.problems[0].field == "rfc"
        with transaction(factory) as db:
            assert service.get_supplier(db, CLEAN_RFC).razon_social == "Primera SA"
    finally:
        first.close()
        engine.dispose()


def test_suppliers_are_found_by_rfc_or_by_name(ctx: Context) -> None:
    register_sanctioned(ctx)
    service.register_supplier(ctx, rfc=CLEAN_RFC, razon_social="Farmacéutica de Prueba SA de CV")

    by_rfc, _ = service.search_suppliers(ctx.db, q=CLEAN_RFC[:6].lower(), page=1, per_page=10)
    by_name, _ = service.search_suppliers(ctx.db, q="diseño, s.a.", page=1, per_page=10)
    everyone, total = service.search_suppliers(ctx.db, q="", page=1, per_page=1)

    assert [s.supplier.rfc for s in by_rfc] == [CLEAN_RFC]
    assert [s.supplier.rfc for s in by_name] == [SANCTIONED_RFC]
    assert (len(everyone), total) == (1, 2)


# ----- institutions --------------------------------------------------------------------------


def register_imss(ctx: Context) -> None:
    service.register_institution(
        ctx,
        code="IMSS",
        name="Instituto Mexicano del Seguro Social",
        kind="seguridad social",
        aliases=["I.M.S.S."],
        units=[
            service.UnitSpec("IMSS-OOAD-14", "OOAD Jalisco", "OOAD", "14"),
            service.UnitSpec("IMSS-OOAD-09N", "OOAD Ciudad de México Norte", "OOAD", "09"),
            service.UnitSpec(
                "IMSS-UMAE-25", "UMAE Hospital de Especialidades CMN Occidente", "UMAE", "14"
            ),
            service.UnitSpec("IMSS-ALM", "Almacén central", "almacen", "09"),
        ],
    )


def test_institutions_count_their_units_by_kind(ctx: Context) -> None:
    register_imss(ctx)
    service.register_institution(ctx, code="PEMEX", name="Petróleos Mexicanos", kind="empresa")

    summaries = service.list_institutions(ctx.db)

    assert [(s.institution.code, s.units, s.units_by_kind) for s in summaries] == [
        ("IMSS", 4, {"OOAD": 2, "UMAE": 1, "almacen": 1}),
        ("PEMEX", 0, {}),
    ]
    groups = service.institution_units(service.get_institution(ctx.db, "imss"))
    assert [(g.kind, [u.code for u in g.units]) for g in groups] == [
        ("OOAD", ["IMSS-OOAD-09N", "IMSS-OOAD-14"]),
        ("UMAE", ["IMSS-UMAE-25"]),
        ("almacen", ["IMSS-ALM"]),
    ]


def test_a_unit_is_added_to_its_institution_once_and_recorded(ctx: Context) -> None:
    register_imss(ctx)

    unit = service.add_unit(
        ctx,
        institution_code="imss",
        unit=service.UnitSpec(" imss-ooad-15 ", " OOAD Estado de México Oriente ", "OOAD", "15"),
    )

    assert (unit.code, unit.name, unit.institution.code) == (
        "IMSS-OOAD-15",
        "OOAD Estado de México Oriente",
        "IMSS",
    )
    entry = ctx.db.scalars(select(LedgerEntry).order_by(LedgerEntry.seq.desc())).first()
    assert entry is not None
    assert (entry.action, entry.entity) == ("unit.register", "unit:IMSS/IMSS-OOAD-15")
    with pytest.raises(Conflict, match="ya tiene la unidad"):
        service.add_unit(
            ctx, institution_code="IMSS", unit=service.UnitSpec("IMSS-OOAD-15", "Otra", "OOAD")
        )
    with pytest.raises(ValidationFailed):
        service.add_unit(ctx, institution_code="IMSS", unit=service.UnitSpec(" ", "", "OOAD"))


# ----- renames, verification and the sanction binding (issue 14, items 5 and 6) -------------


def as_supplier(ctx: Context, rfc: str) -> Context:
    """The supplier's own user acting, as a request of theirs would."""
    make_user(ctx, f"rep.{rfc.lower()}", "proveedor", supplier=rfc)
    user = ctx.db.scalars(select(User).where(User.username == f"rep.{rfc.lower()}")).one()
    return Context(ctx.db, service.actor_of(user), ctx.now)


def test_a_supplier_rename_waits_for_the_buyer(ctx: Context) -> None:
    service.register_supplier(ctx, rfc=CLEAN_RFC, razon_social="Única SA")
    supplier_ctx = as_supplier(ctx, CLEAN_RFC)

    rename = service.update_supplier(
        supplier_ctx, rfc=CLEAN_RFC, version=1, razon_social="Única Dos SA"
    )

    stored = service.get_supplier(ctx.db, CLEAN_RFC)
    assert (stored.razon_social, stored.version) == ("Única SA", 1)
    assert rename.status is RenameStatus.pendiente
    assert [r.new_name for r in service.pending_renames(ctx.db)] == ["Única Dos SA"]
    assert [e.data()["new"] for e in entries(ctx.db, "supplier.rename.request")] == ["Única Dos SA"]
    with pytest.raises(Conflict, match="pendiente"):
        service.update_supplier(supplier_ctx, rfc=CLEAN_RFC, version=1, razon_social="Otra SA")

    service.approve_rename(ctx, rename_id=rename.id)

    assert (stored.razon_social, stored.version) == ("Única Dos SA", 2)
    assert service.get_rename(ctx.db, rename.id).status is RenameStatus.aprobado
    assert service.pending_renames(ctx.db) == []


def test_a_rejected_rename_leaves_the_name_and_says_why(ctx: Context) -> None:
    service.register_supplier(ctx, rfc=CLEAN_RFC, razon_social="Única SA")
    rename = service.update_supplier(
        as_supplier(ctx, CLEAN_RFC), rfc=CLEAN_RFC, version=1, razon_social="Única Dos SA"
    )
    with pytest.raises(ValidationFailed):
        service.reject_rename(ctx, rename_id=rename.id, note=" ")

    service.reject_rename(ctx, rename_id=rename.id, note="La Constancia dice «Única SA».")

    assert service.get_supplier(ctx.db, CLEAN_RFC).razon_social == "Única SA"
    assert rename.status is RenameStatus.rechazado
    with pytest.raises(Conflict):
        service.approve_rename(ctx, rename_id=rename.id)


def test_a_sanctioned_supplier_stays_barred_after_a_rename(ctx: Context) -> None:
    supplier = register_sanctioned(ctx)
    service.import_sanctions(ctx, content=small_list(SANCTIONED_NAME), filename="s.csv")
    assert supplier.sanctioned
    rename = service.update_supplier(
        as_supplier(ctx, SANCTIONED_RFC),
        rfc=SANCTIONED_RFC,
        version=supplier.version,
        razon_social="Nombre Nuevo Limpio, S.A. de C.V.",
    )

    service.approve_rename(ctx, rename_id=rename.id)

    standing = service.get_supplier_standing(ctx.db, SANCTIONED_RFC)
    assert standing.supplier.razon_social == "Nombre Nuevo Limpio, S.A. de C.V."
    assert (standing.barred, standing.eligible, supplier.sanctioned) == (True, False, True)
    assert [s.supplier_name for s in standing.sanctions] == [SANCTIONED_NAME]
    # A later edition of the list still finds it under the name it had.
    service.import_sanctions(ctx, content=small_list(SANCTIONED_NAME), filename="s2.csv")
    assert not service.is_eligible(ctx.db, service.get_supplier(ctx.db, SANCTIONED_RFC))
    # Lifted from the list, the supplier is free again: the binding follows the list.
    service.import_sanctions(ctx, content=small_list("OTRA EMPRESA, S.A."), filename="s3.csv")
    assert service.is_eligible(ctx.db, service.get_supplier(ctx.db, SANCTIONED_RFC))


def test_a_renamed_supplier_is_matched_under_its_old_name_by_a_later_list(ctx: Context) -> None:
    supplier = register_sanctioned(ctx)
    service.update_supplier(
        ctx, rfc=SANCTIONED_RFC, version=1, razon_social="Nombre Nuevo Limpio, S.A. de C.V."
    )

    summary = service.import_sanctions(ctx, content=small_list(SANCTIONED_NAME), filename="s.csv")

    assert summary.newly_matched == (SANCTIONED_RFC,)
    assert supplier.sanctioned
    assert not service.is_eligible(ctx.db, supplier)


def test_a_self_registered_supplier_is_pending_until_verified(ctx: Context) -> None:
    supplier, _ = service.register_supplier_account(
        ctx,
        rfc=CLEAN_RFC,
        razon_social="Farmacéutica de Prueba, S.A. de C.V.",
        state_code="09",
        username="ana.proveedora",
        full_name="Ana Proveedora",
        password=PASSWORD,
    )
    assert supplier.status is SupplierStatus.pendiente
    assert not service.is_eligible(ctx.db, supplier)
    assert service.pending_suppliers(ctx.db) == [supplier]

    with pytest.raises(ValidationFailed) as missing:
        service.verify_supplier(
            ctx,
            rfc=CLEAN_RFC,
            tax_certificate="123",
            articles_of_incorporation="",
            representative="",
        )
    assert [p.field for p in missing.value.problems] == [
        "articles_of_incorporation",
        "representative",
        "tax_certificate",
    ]
    assert supplier.status is SupplierStatus.pendiente

    service.verify_supplier(
        ctx,
        rfc=CLEAN_RFC,
        tax_certificate="19010123456",
        articles_of_incorporation="Escritura 12,345, Notaría 10 de la CDMX, 01/02/2001",
        representative="Ana Proveedora, poder en la escritura 23,456",
    )

    assert service.get_supplier(ctx.db, CLEAN_RFC).status is SupplierStatus.verificado
    assert service.is_eligible(ctx.db, supplier)
    assert service.pending_suppliers(ctx.db) == []
    [verified] = entries(ctx.db, "supplier.verify")
    assert verified.public
    assert "Ana Proveedora" not in verified.payload


def test_the_buyer_rejects_a_registration_saying_why(ctx: Context) -> None:
    supplier, _ = service.register_supplier_account(
        ctx,
        rfc=CLEAN_RFC,
        razon_social="Farmacéutica de Prueba, S.A. de C.V.",
        state_code=None,
        username="ana.proveedora",
        full_name="Ana Proveedora",
        password=PASSWORD,
    )
    service.reject_supplier(ctx, rfc=CLEAN_RFC, note="La Constancia es de otro RFC.")
    assert supplier.status is SupplierStatus.rechazado
    assert not service.is_eligible(ctx.db, supplier)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("1234567890", "demasiado corta"),
        ("Contraseña1", "demasiado corta"),
        ("123456789012", "más usadas"),
        ("password1234", "más usadas"),
        ("Qwerty123456!", "más usadas"),
        ("aaaaaaaaaaaa", "más usadas"),
        ("ana.proveedora-2026", "nombre de usuario"),
    ],
)
def test_a_weak_password_is_refused_saying_why(ctx: Context, password: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        service.register_supplier_account(
            ctx,
            rfc=CLEAN_RFC,
            razon_social="Farmacéutica de Prueba, S.A. de C.V.",
            state_code=None,
            username="ana.proveedora",
            full_name="Ana Proveedora",
            password=password,
        )
    [problem] = refused.value.problems
    assert problem.field == "password"
    assert message in problem.message
    assert "12" in (problem.expected or "")
    assert password not in str(refused.value)
    assert ctx.db.scalar(select(func.count()).select_from(Supplier)) == 0


# ----- sign-in throttling (issue 14, item 7) -------------------------------------------------


def attempt(ctx: Context, password: str, *, user: str = "ana.lopez", at: str = "10.0.0.1") -> str:
    """What one sign-in attempt came to: "ok", "401" or "429 <retry after>"."""
    try:
        service.sign_in(ctx, username=user, password=password, address=at)
    except Unauthorized:
        return "401"
    except TooManyRequests as exc:
        return f"429 {exc.retry_after}"
    return "ok"


def later(ctx: Context, delta: timedelta) -> Context:
    return Context(ctx.db, ctx.actor, ctx.now + delta)


def test_an_account_is_blocked_after_five_failures_from_any_address(ctx: Context) -> None:
    make_user(ctx, "ana.lopez", "comprador")
    limit = rules.ACCOUNT_LIMIT
    tries = [attempt(ctx, "mala-contrasena", at=f"10.0.0.{i}") for i in range(limit.failures)]
    assert tries == ["401"] * limit.failures

    # Blocked even with the right password and from a new address, for the whole block.
    assert attempt(ctx, PASSWORD, at="10.9.9.9") == f"429 {int(limit.block.total_seconds())}"
    assert attempt(later(ctx, limit.block - timedelta(seconds=1)), PASSWORD) == "429 1"
    assert attempt(later(ctx, limit.block), PASSWORD) == "ok"


def test_an_address_is_blocked_after_failures_on_many_accounts(ctx: Context) -> None:
    make_user(ctx, "ana.lopez", "comprador")
    limit = rules.ADDRESS_LIMIT
    tries = [attempt(ctx, "mala-contrasena", user=f"usuario{i}") for i in range(limit.failures)]
    assert tries == ["401"] * limit.failures

    assert attempt(ctx, PASSWORD).startswith("429 ")
    assert attempt(ctx, PASSWORD, at="10.0.0.2") == "ok"


def test_a_success_clears_the_accounts_count(ctx: Context) -> None:
    make_user(ctx, "ana.lopez", "comprador")
    for _ in range(rules.ACCOUNT_LIMIT.failures - 1):
        attempt(ctx, "mala-contrasena")
    assert attempt(ctx, PASSWORD) == "ok"
    assert attempt(ctx, "mala-contrasena") == "401"
    assert attempt(ctx, PASSWORD) == "ok"


def test_sixty_failures_are_a_few_private_ledger_entries(ctx: Context) -> None:
    make_user(ctx, "ana.lopez", "comprador")
    outcomes = [attempt(ctx, f"mala-contrasena-{i}") for i in range(60)]

    assert outcomes.count("401") == rules.ACCOUNT_LIMIT.failures
    logged = list(
        ctx.db.scalars(
            select(LedgerEntry).where(LedgerEntry.action.like("login.%")).order_by(LedgerEntry.seq)
        )
    )
    assert [(e.action, e.entity, e.public) for e in logged] == [
        ("login.failed", "user:ana.lopez", False),
        ("login.blocked", "user:ana.lopez", False),
    ]
    assert logged[1].data()["failures"] == rules.ACCOUNT_LIMIT.failures
    assert "mala-contrasena" not in logged[0].payload + logged[1].payload

    # The next window's first failure reports what the blocked one held, refusals included.
    after = later(ctx, rules.ACCOUNT_LIMIT.block)
    assert attempt(after, "mala-contrasena") == "401"
    opened = entries(ctx.db, "login.failed")[-1].data()
    assert opened["previous_window"]["failures"] == rules.ACCOUNT_LIMIT.failures
    assert opened["previous_window"]["refused"] == 60 - rules.ACCOUNT_LIMIT.failures


def test_a_registration_late_in_the_evening_is_on_mexico_citys_day(ctx: Context) -> None:
    """Registered at 23:17 in Mexico City (05:17 the next day in UTC): the supplier's record said
    the next day."""
    evening = Context(db=ctx.db, actor=ctx.actor, now=datetime(2026, 11, 3, 5, 17, tzinfo=UTC))

    supplier = service.register_supplier(
        evening, rfc=CLEAN_RFC, razon_social="Farmacéutica de Prueba SA de CV"
    )

    assert supplier.registered_on == date(2026, 11, 2)
