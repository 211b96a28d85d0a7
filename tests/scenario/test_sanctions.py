"""The scenario's SFP list: the official layout, the look-alikes matched, nobody else."""

from __future__ import annotations

import csv
import datetime
import io
from pathlib import Path

import pytest

from abasto.identity.sanctions import find_sanctioned, parse_sanctions
from abasto.scenario.build import build_scenario
from abasto.scenario.sanctions import (
    FICTITIOUS,
    SFP_HEADER,
    UNRELATED_COUNT,
    build_sanctions,
    sanctioned_lookalikes,
    sanctions_csv,
)

SANCIONADOS = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "data"
    / "sancionados"
    / "ProveedoresyContratistasSancionados.csv"
)


@pytest.mark.parametrize(("scale", "lookalikes"), [("small", 2), ("national", 3)])
def test_the_list_names_the_lookalikes_as_the_sfp_does_and_a_few_others(
    scale: str, lookalikes: int
) -> None:
    scenario = build_scenario(42, "small" if scale == "small" else "national")
    rows = build_sanctions(scenario)
    assert len(sanctioned_lookalikes(scenario)) == lookalikes
    assert [r.supplier for r in rows if r.lookalike] == [
        lookalike.listed_as for lookalike in sanctioned_lookalikes(scenario)
    ]
    assert sum(not r.lookalike for r in rows) == UNRELATED_COUNT
    assert len({r.supplier for r in rows}) == len(rows)


def test_the_same_seed_gives_the_same_file() -> None:
    assert sanctions_csv(build_scenario(42, "small")) == sanctions_csv(build_scenario(42, "small"))
    assert sanctions_csv(build_scenario(42, "small")) != sanctions_csv(build_scenario(43, "small"))


def test_the_file_reads_as_the_sfp_list_and_matches_only_the_lookalikes() -> None:
    scenario = build_scenario(42, "national")
    records = parse_sanctions(sanctions_csv(scenario), "sancionados.csv")
    assert len(records) == len(build_sanctions(scenario))
    assert all(record.facts == FICTITIOUS for record in records)
    matched = find_sanctioned(((s.rfc, s.razon_social) for s in scenario.suppliers), records)
    assert set(matched) == {s.rfc for s in scenario.suppliers if s.sanctions_lookalike}


def test_the_lookalikes_are_barred_for_years_after_the_scenario_date() -> None:
    scenario = build_scenario(42, "national")
    records = parse_sanctions(sanctions_csv(scenario), "sancionados.csv")
    for record in records[: len(sanctioned_lookalikes(scenario))]:
        assert record.term_months is not None
        assert not record.acquitted
        ends = record.resolution_date + datetime.timedelta(days=30 * record.term_months)
        assert ends > scenario.as_of + datetime.timedelta(days=3 * 365)


def test_the_header_is_the_real_lists() -> None:
    with SANCIONADOS.open(encoding="utf-8") as handle:
        real = [name.strip() for name in next(csv.reader(handle)) if name.strip()]
    ours = next(csv.reader(io.StringIO(sanctions_csv(build_scenario(1, "small")).decode())))
    assert ours == real == list(SFP_HEADER)
