"""The consolidation kept per round equals the one recomputed from the lines, after every kind
of change: a line captured or removed, an appendix or a planner's sheet imported, a round
frozen, the registry changing who coordinates whom."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, inspect, select

from abasto.catalog import service as catalog
from abasto.core.context import Context, operator
from abasto.core.db import alembic_config, make_engine, session_factory, transaction
from abasto.demand import rules, service
from abasto.demand.models import ConsolidatedDemand, ConsolidatedRound, DemandLine
from abasto.identity import service as identity
from tests.conftest import T0
from tests.demand.test_service import (
    ASPIRINA,
    PARACETAMOL,
    PARACETAMOL_20,
    PETRI,
    ROUND,
    TORUNDA,
    appendix_file,
    build_world,
    period_sheet,
)

CLAVES = (PARACETAMOL, PARACETAMOL_20, ASPIRINA, TORUNDA, PETRI)
# Institution → the delivery points a line may be for ("" is the institution as a whole).
UNITS = {
    "IMSS": ("", "IMSS-ALM", "IMSS-OOAD-01"),
    "ISSSTE": ("", "ISSSTE-ALM"),
    "CCINSHAE": ("",),
    "INCAN": ("", "INCAN-01"),
    "HGM": ("",),
}


@pytest.fixture
def world(ctx: Context) -> Context:
    return build_world(ctx)


@pytest.fixture
def no_rebuild(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Reading the page must find what the writers kept: a rebuild on read fails the test."""

    with monkeypatch.context() as patched:
        patched.setattr(service, "_rebuild_on_read", _refused)
        yield


def _refused(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("the page rebuilt the consolidation: the writers left it stale")


def shape(line: service.ConsolidatedLine) -> tuple[Any, ...]:
    """A line with the order of its breakdown, which the page shows as it is kept."""
    members = [(c, list(m.items())) for c, m in line.members.items()]
    return (
        line.clave,
        line.description,
        line.unit,
        line.total,
        list(line.counted.items()),
        members,
    )


def assert_kept_equals_recomputed(ctx: Context) -> None:
    recomputed = service.consolidate_round(ctx.db, round_name=ROUND)
    page = service.consolidated_page(ctx.db, round_name=ROUND, per_page=1_000)
    by_total = service.consolidated_page(ctx.db, round_name=ROUND, sort="total", per_page=1_000)

    assert [shape(line) for line in page.items] == [shape(line) for line in recomputed.lines]
    # What the page lists, and each clave's breakdown as it opens there.
    listed = service.consolidated_totals(ctx.db, round_name=ROUND, per_page=1_000)
    assert [(t.clave, t.description, t.unit, t.total, t.counted) for t in listed.items] == [
        (line.clave, line.description, line.unit, line.total, len(line.counted))
        for line in recomputed.lines
    ]
    opened = [
        service.consolidated_line(ctx.db, round_name=ROUND, clave=t.clave) for t in listed.items
    ]
    assert [shape(line) for line in opened] == [shape(line) for line in recomputed.lines]
    ranked = sorted(
        recomputed.lines, key=lambda line: (-line.total.max, -line.total.min, line.clave)
    )
    assert [line.clave for line in by_total.items] == [line.clave for line in ranked]
    summary = page.consolidation
    assert page.total == summary.claves == len(recomputed.lines)
    assert summary.total == recomputed.total
    assert list(summary.institutions.items()) == list(recomputed.institutions.items())
    assert summary.coordinators == recomputed.coordinators
    assert summary.columns == recomputed.columns


def version_of(ctx: Context, institution: str, clave: str, unit_code: str) -> int | None:
    found = service.get_round(ctx.db, ROUND)
    return ctx.db.scalar(
        select(DemandLine.version).where(
            DemandLine.round_id == found.id,
            DemandLine.institution_id == identity.get_institution(ctx.db, institution).id,
            DemandLine.clave_id == catalog.get_clave(ctx.db, clave).id,
            DemandLine.unit_code == unit_code,
            DemandLine.period == "",
        )
    )


def capture(ctx: Context, institution: str, clave: str, unit_code: str, high: int | None) -> None:
    """Save (or with ``high`` None remove) one line, as the planner's page does."""
    if high is None and version_of(ctx, institution, clave, unit_code) is None:
        return
    service.set_line(
        ctx,
        round_name=ROUND,
        institution_code=institution,
        clave=clave,
        min_qty=None if high is None else rules.minimum_for(high, rules.DEFAULT_MIN_SHARE),
        max_qty=high,
        version=version_of(ctx, institution, clave, unit_code),
        unit_code=unit_code,
    )


# ----- every kind of change, at random -------------------------------------------------------

quantity = st.integers(min_value=1, max_value=5_000)
# Few places to write, so that steps often change or remove what an earlier step wrote.
captured = st.tuples(
    st.just("line"),
    st.sampled_from(sorted(UNITS)).flatmap(
        lambda code: st.tuples(st.just(code), st.sampled_from(UNITS[code][:2]))
    ),
    st.sampled_from(CLAVES[:3]),
    st.one_of(st.none(), quantity),
)
imported = st.tuples(
    st.just("appendix"),
    st.lists(st.sampled_from(sorted(UNITS)), min_size=1, max_size=3, unique=True),
    st.lists(st.sampled_from(CLAVES), min_size=1, max_size=3, unique=True),
    quantity,
)
other = st.sampled_from([("freeze",), ("coordinator",)])
changes = st.lists(st.one_of(captured, captured, captured, imported, other), min_size=1, max_size=8)


def apply(ctx: Context, change: tuple[Any, ...]) -> bool:
    """Make the change; whether a rebuild on read is expected (the registry changed)."""
    kind = change[0]
    if kind == "line":
        (institution, unit_code), clave, high = change[1:]
        capture(ctx, institution, clave, unit_code, high)
    elif kind == "appendix":
        institutions, claves, high = change[1:]
        rows = [
            (
                clave,
                *(
                    [rules.minimum_for(high + n, rules.DEFAULT_MIN_SHARE), high + n]
                    * len(institutions)
                ),
            )
            for n, clave in enumerate(claves)
        ]
        service.import_appendix(
            ctx,
            round_name=ROUND,
            content=appendix_file(institutions, rows),
            filename="apendice.xlsx",
            replace=True,
        )
    elif kind == "freeze":
        service.freeze_round(ctx, name=ROUND)
        service.reopen_round(ctx, name=ROUND, reason="prueba")
    else:
        # HGM leaves CCINSHAE's coordination, or joins it again: what counts changes.
        hgm = identity.get_institution(ctx.db, "HGM")
        parent = None if hgm.coordinator_id is not None else "CCINSHAE"
        identity.update_institution(
            ctx, code="HGM", kind=hgm.kind, parent_code=parent, state_code=None
        )
        return True
    return False


@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=changes)
def test_after_any_changes_the_kept_consolidation_is_the_recomputed_one(
    world: Context, monkeypatch: pytest.MonkeyPatch, steps: list[tuple[Any, ...]]
) -> None:
    saved = world.db.begin_nested()
    try:
        for change in steps:
            registry_changed = apply(world, change)
            if registry_changed:
                assert_kept_equals_recomputed(world)
                continue
            with monkeypatch.context() as patched:
                patched.setattr(service, "_rebuild_on_read", _refused)
                assert_kept_equals_recomputed(world)
    finally:
        saved.rollback()


# ----- each kind of change, by name ----------------------------------------------------------


def test_a_line_saved_removed_and_a_coordinators_line_keep_it_current(
    world: Context, no_rebuild: None
) -> None:
    capture(world, "INCAN", PARACETAMOL, "", 100)
    capture(world, "HGM", PARACETAMOL, "", 50)
    assert_kept_equals_recomputed(world)

    # The coordinator states the clave: its members' quantities become its breakdown.
    capture(world, "CCINSHAE", PARACETAMOL, "", 200)
    page = service.consolidated_page(world.db, round_name=ROUND)
    assert page.items[0].total == rules.Pair(80, 200)
    assert list(page.items[0].members["CCINSHAE"]) == ["INCAN", "HGM"]
    assert_kept_equals_recomputed(world)

    capture(world, "CCINSHAE", PARACETAMOL, "", None)
    capture(world, "IMSS", ASPIRINA, "IMSS-ALM", 10)
    capture(world, "IMSS", ASPIRINA, "", 30)
    assert_kept_equals_recomputed(world)
    assert service.consolidated_page(world.db, round_name=ROUND).consolidation.columns == {
        "IMSS": rules.Pair(12, 30),
        "INCAN": rules.Pair(40, 100),
        "HGM": rules.Pair(20, 50),
    }


def test_a_planners_sheet_with_periods_keeps_it_current(world: Context, no_rebuild: None) -> None:
    capture(world, "ISSSTE", PETRI, "", 7)
    service.import_institution_sheet(
        world,
        round_name=ROUND,
        institution_code="IMSS",
        content=period_sheet([(PARACETAMOL, 40, 100, 44, 110), (ASPIRINA, 2, 5, None, None)]),
        filename="p.xlsx",
    )

    assert_kept_equals_recomputed(world)
    assert service.consolidated_page(world.db, round_name=ROUND, q="paracetamol").total == 1


def test_a_round_kept_before_or_changed_by_the_registry_is_rebuilt_on_read(
    world: Context,
) -> None:
    capture(world, "INCAN", TORUNDA, "", 10)
    capture(world, "CCINSHAE", TORUNDA, "", 30)
    found = service.get_round(world.db, ROUND)
    # A round consolidated before the kept table existed has no rows.
    world.db.execute(delete(ConsolidatedDemand).where(ConsolidatedDemand.round_id == found.id))
    world.db.execute(delete(ConsolidatedRound).where(ConsolidatedRound.round_id == found.id))
    world.db.expire_all()

    assert_kept_equals_recomputed(world)

    identity.update_institution(world, code="INCAN", kind="x", parent_code=None, state_code=None)
    page = service.consolidated_page(world.db, round_name=ROUND)

    assert page.items[0].total == rules.Pair(16, 40)
    assert_kept_equals_recomputed(world)


def test_the_migration_counts_what_the_kept_rows_of_an_older_schema_say(
    fresh_database_url: str,
) -> None:
    """Migration 0020 adds ``counted`` and fills it from each kept breakdown."""
    from alembic import command

    engine = make_engine(fresh_database_url)
    with transaction(session_factory(engine)) as db:
        ctx = build_world(Context(db=db, actor=operator("pruebas"), now=T0))
        service.import_appendix(
            ctx,
            round_name=ROUND,
            content=appendix_file(
                ["IMSS", "CCINSHAE", "INCAN"],
                [
                    (PARACETAMOL, 40, 100, 4, 10, 4, 10),
                    (ASPIRINA, 400, 1000, None, None, None, None),
                ],
            ),
            filename="a.xlsx",
        )
    engine.dispose()
    config = alembic_config(fresh_database_url)
    command.downgrade(config, "0020-1")
    with engine.connect() as connection:
        assert "counted" not in {
            c["name"] for c in inspect(connection).get_columns("consolidated_demand")
        }
    command.upgrade(config, "head")

    with engine.connect() as connection:
        kept = select(ConsolidatedDemand.clave, ConsolidatedDemand.counted)
        counted = dict(connection.execute(kept).all())
    engine.dispose()
    assert counted == {PARACETAMOL: 2, ASPIRINA: 1}
