"""Identity's use cases on a real database: users, institutions, suppliers, sanctions list."""

from __future__ import annotations

import hashlib
import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from abasto.core import ledger
from abasto.core.context import Context, operator
from abasto.core.db import make_engine, session_factory, transaction
from abasto.core.errors import Conflict, Unauthorized, ValidationFailed
from abasto.core.ledger import LedgerEntry
from abasto.identity import service
from abasto.identity.models import Role, Sanction, Supplier
from abasto.identity.rules import make_rfc
from tests.conftest import PASSWORD, T0, make_user
from tests.identity.test_sanctions import GOOD, HEADER, REAL_FILE, _csv, _with


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
