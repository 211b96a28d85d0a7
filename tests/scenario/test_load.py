"""Loading a scenario through the services: everything stored, on the ledger, ready to log in."""

from __future__ import annotations

import pytest
from sqlalchemy import distinct, func, select

from abasto.catalog import service as catalog
from abasto.catalog.reader import read_catalog
from abasto.core import ledger
from abasto.core.context import Context
from abasto.core.errors import Conflict
from abasto.demand import service as demand
from abasto.demand.appendix import read_appendix
from abasto.demand.rules import Pair
from abasto.identity import service as identity
from abasto.identity.models import Role, Sanction, Supplier, User
from abasto.scenario.build import Scenario, build_scenario
from abasto.scenario.load import (
    DEMO_PASSWORD,
    DEMO_PENDING,
    DEMO_ROUND,
    LOAD_STAGES,
    SCENARIO_LOAD,
    LoadSummary,
    catalog_csv,
    consumption_file,
    demand_appendix,
    demand_stated,
    demo_users,
    load_scenario,
    loaded_scenario,
)
from abasto.scenario.sanctions import build_sanctions
from abasto.scenario.suppliers import SANCTIONED_LOOKALIKES


@pytest.fixture(scope="module")
def small() -> Scenario:
    return build_scenario(7, "small")


@pytest.fixture
def loaded(ctx: Context, small: Scenario) -> LoadSummary:
    # The demand round's forecasts are checked once, below; the other tests skip fitting them.
    return load_scenario(ctx, small, forecast=False)


def _count(ctx: Context, model: type[User]) -> int:
    return ctx.db.scalar(select(func.count()).select_from(model)) or 0


def test_the_catalog_file_reads_back_as_the_scenarios_claves(small: Scenario) -> None:
    read = read_catalog(catalog_csv(small), "catalogo.csv")
    assert read.warnings == ()
    assert [(str(r.clave), r.description, r.unit, r.cucop, r.presentation) for r in read.rows] == [
        (c.clave, c.description, c.unit, c.cucop, c.presentation) for c in small.claves
    ]


def test_the_database_holds_what_the_scenario_has(
    ctx: Context, small: Scenario, loaded: LoadSummary
) -> None:
    counts = identity.registry_counts(ctx.db)
    assert counts.institutions == len(small.institutions) + 1 == loaded.institutions
    assert counts.units == small.counts()["units"] + len(small.buyer.units) == loaded.units
    assert counts.suppliers == len(small.suppliers) == loaded.suppliers
    assert catalog.count_claves(ctx.db) == len(small.claves) == loaded.claves
    listed_rows = select(func.count(distinct(Sanction.source_row)))
    assert ctx.db.scalar(listed_rows) == len(build_sanctions(small)) == loaded.sanctions
    assert _count(ctx, User) == len(demo_users(small)) == len(loaded.users)
    imss = identity.get_institution(ctx.db, "IMSS")
    assert {a.alias for a in imss.aliases} == set(small.institution("IMSS").names)
    assert identity.get_institution(ctx.db, "BIRMEX").kind == "compra consolidada"
    supplier = small.suppliers[0]
    stored = identity.get_supplier(ctx.db, supplier.rfc)
    assert (stored.razon_social, stored.state_code, stored.registered_on) == (
        supplier.razon_social,
        supplier.state_code,
        supplier.registered_on,
    )


def test_every_write_is_on_the_ledger_and_the_chain_verifies(
    ctx: Context, small: Scenario, loaded: LoadSummary
) -> None:
    entries = ctx.db.scalars(
        select(ledger.LedgerEntry.action).order_by(ledger.LedgerEntry.seq)
    ).all()
    assert entries.count("institution.register") == loaded.institutions
    assert entries.count("clave.create") == loaded.claves
    assert entries.count("supplier.register") == loaded.suppliers
    assert entries.count("user.create") == len(loaded.users)
    assert entries[-1] == SCENARIO_LOAD
    assert loaded.ledger_entries == len(entries)
    result = ledger.verify(ctx.db.connection())
    assert result.ok, result.reason
    assert result.checked == len(entries)
    found = loaded_scenario(ctx.db)
    assert found is not None
    assert (found.seed, found.scale) == (7, "small")


def test_the_sanctioned_lookalikes_are_not_eligible_and_the_others_are(
    ctx: Context, small: Scenario, loaded: LoadSummary
) -> None:
    barred = {s.rfc for s in small.suppliers if s.sanctions_lookalike}
    assert len(barred) == 2
    assert set(loaded.barred) == barred
    suppliers = ctx.db.scalars(select(Supplier)).all()
    for standing in identity.standings(ctx.db, suppliers):
        rfc = standing.supplier.rfc
        assert standing.eligible == (rfc not in barred), standing.supplier.razon_social
        assert identity.is_eligible(ctx.db, standing.supplier) == standing.eligible
    for rfc in barred:
        listed = identity.get_supplier_standing(ctx.db, rfc).sanctions
        assert [s.supplier_name for s in listed] == [
            lookalike.listed_as
            for lookalike in SANCTIONED_LOOKALIKES
            if lookalike.spelled_as == identity.get_supplier(ctx.db, rfc).razon_social
        ]


def test_the_demo_users_log_in_with_the_demo_password(
    ctx: Context, small: Scenario, loaded: LoadSummary
) -> None:
    roles = set()
    for user in loaded.users:
        stored = identity.authenticate(ctx.db, username=user.username, password=DEMO_PASSWORD)
        roles.add(stored.role)
        if user.institution_code:
            assert stored.institution is not None
            assert stored.institution.code == user.institution_code
        if user.supplier_rfc:
            assert stored.supplier is not None
            assert stored.supplier.rfc == user.supplier_rfc
            assert user.supplier_rfc not in {
                s.rfc for s in small.suppliers if s.sanctions_lookalike
            }
    assert roles == set(Role)
    assert sorted(u.institution_code for u in loaded.users if u.institution_code) == [
        "IMSS",
        "ISSSTE",
    ]


def test_a_database_that_holds_institutions_is_refused_and_nothing_written(
    ctx: Context, small: Scenario
) -> None:
    identity.register_institution(
        ctx, code="IMSS", name="Instituto Mexicano del Seguro Social", kind="seguridad social"
    )
    before = ledger.head(ctx.db)
    with pytest.raises(Conflict, match="sólo se carga en una base vacía"):
        load_scenario(ctx, small)
    assert ledger.head(ctx.db) == before
    assert _count(ctx, User) == 0


def test_progress_is_told_every_stage_to_its_end(ctx: Context, small: Scenario) -> None:
    heard: dict[str, tuple[int, int]] = {}
    load_scenario(
        ctx,
        small,
        progress=lambda stage, done, total: heard.update({stage: (done, total)}),
        forecast=False,
    )
    assert list(heard) == list(LOAD_STAGES)
    assert all(done == total > 0 for done, total in heard.values())


def test_the_same_seed_loads_the_same_data(small: Scenario) -> None:
    assert catalog_csv(small) == catalog_csv(build_scenario(7, "small"))
    assert demo_users(small) == demo_users(build_scenario(7, "small"))


def test_the_demo_has_an_open_round_with_most_institutions_submitted(
    ctx: Context, small: Scenario
) -> None:
    loaded = load_scenario(ctx, small)

    progress = demand.round_progress(ctx.db, name=DEMO_ROUND)
    assert progress.round.status == "open"
    assert [i.code for i in progress.institutions if not i.submitted] == list(DEMO_PENDING)
    assert progress.submitted == len(small.institutions) - len(DEMO_PENDING) > 30
    assert progress.lines == loaded.demand_lines > 1000
    assert loaded.pending == DEMO_PENDING
    consolidation = demand.consolidate_round(ctx.db, round_name=DEMO_ROUND)
    # CCINSHAE states its members' sum, and the total counts it once.
    members = [line for line in consolidation.lines if "CCINSHAE" in line.members]
    assert members
    for line in members:
        assert sum(line.members["CCINSHAE"].values(), Pair(0, 0)) == line.counted["CCINSHAE"]
    assert consolidation.total == sum(
        (pair for line in consolidation.lines for pair in line.counted.values()), Pair(0, 0)
    )
    # The pending ISSSTE planner sees forecasts from its units' consumption; IMSS gets flags.
    issste = demand.institution_lines(
        ctx, round_name=DEMO_ROUND, institution_code="ISSSTE", per_page=500
    )
    assert sum(line.suggestion is not None for line in issste.items) > 10
    flags = demand.round_flags(ctx, round_name=DEMO_ROUND)
    assert {f.institution for f in flags} == {"IMSS"}
    assert ledger.verify(ctx.db.connection()).ok


def test_the_demo_round_is_the_same_for_the_same_seed(small: Scenario) -> None:
    again = build_scenario(7, "small")
    assert demand_stated(small) == demand_stated(again)
    # The workbooks differ only in their creation time.
    first = read_appendix(demand_appendix(small), "a.xlsx").sheets
    assert first == read_appendix(demand_appendix(again), "a.xlsx").sheets
    assert consumption_file(small) == consumption_file(build_scenario(7, "small"))
