"""Demand rules without a database: the minimum share, periods, consolidation, coordinators."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from abasto.core.text import fold
from abasto.demand import rules
from abasto.demand.rules import Pair, Quantity

DEMANDA = Path(__file__).resolve().parents[3] / "shared" / "data" / "demanda"
SHARE = rules.DEFAULT_MIN_SHARE


@pytest.mark.parametrize(
    ("max_qty", "least"),
    [(0, 0), (1, 1), (3, 2), (5, 2), (10, 4), (10617, 4247), (2177305, 870922), (2177306, 870923)],
)
def test_the_minimum_is_the_share_of_the_maximum_rounded_up(max_qty: int, least: int) -> None:
    assert rules.minimum_for(max_qty, SHARE) == least


def test_the_share_is_computed_in_decimal_not_binary_floats() -> None:
    # 0.1 × 30 is 3.0000000000000004 in binary floats: rounding up would ask for 4.
    assert rules.minimum_for(30, Decimal("0.1")) == 3
    assert rules.minimum_for(7, Decimal("0.375")) == 3


def test_a_pair_at_the_share_passes_and_one_below_it_says_what_is_expected() -> None:
    assert rules.check_pair(4247, 10617, SHARE) == []
    assert rules.check_pair(10617, 10617, SHARE) == []
    assert rules.check_pair(None, None, SHARE) == []

    (issue,) = rules.check_pair(4246, 10617, SHARE)

    assert issue.field == "min"
    assert issue.value == "4246"
    assert "menor que el 40 % del máximo (10,617)" in issue.message
    assert issue.expected == "al menos 4,247 (el 40 % de 10,617, redondeado hacia arriba)"


def test_min_above_max_and_a_missing_side_are_refused() -> None:
    (above,) = rules.check_pair(11, 10, SHARE)
    (no_max,) = rules.check_pair(5, None, SHARE)
    (no_min,) = rules.check_pair(None, 10, SHARE)

    assert (above.field, above.message) == ("min", "el mínimo es mayor que el máximo (10)")
    assert above.expected == "un mínimo entre 4 y 10"
    assert no_max.field == "max"
    assert (no_min.field, no_min.expected) == (
        "min",
        "al menos 4 (el 40 % de 10, redondeado hacia arriba)",
    )


def _pairs(path: Path) -> list[tuple[str, int, int, int]]:
    """(sheet, row, min, max) of every institution's pair in an appendix, totals left out."""
    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    found = []
    for sheet in workbook.worksheets:
        rows = list(sheet.iter_rows(values_only=True))
        header = next(i for i, row in enumerate(rows) if any(_is_min(v) for v in row))
        columns = [j for j, v in enumerate(rows[header]) if _is_min(v)]
        totals = {j for j, v in enumerate(rows[header - 1]) if isinstance(v, str) and "TOTAL" in v}
        for number, row in enumerate(rows[header + 1 :], start=header + 2):
            if not isinstance(row[1], str) or not row[1][:1].isdigit():
                continue
            for j in columns:
                if j in totals or j + 1 >= len(row) or row[j] is None:
                    continue
                found.append((sheet.title, number, row[j], row[j + 1]))
    workbook.close()
    return found


def _is_min(value: object) -> bool:
    return isinstance(value, str) and value.strip().lower() in ("cantidad min", "mínimo")


@pytest.mark.parametrize("name", ["2023-2024.xlsx", "2025-2026.xlsx"])
def test_every_pair_of_the_real_appendices_meets_the_40_percent_rule(name: str) -> None:
    pairs = _pairs(DEMANDA / name)

    assert len(pairs) > 7000
    offending = [p for p in pairs if rules.check_pair(p[2], p[3], SHARE)]
    assert offending == []


def test_the_2025_2026_template_rounds_the_minimum_up_exactly() -> None:
    pairs = _pairs(DEMANDA / "2025-2026.xlsx")

    assert len(pairs) == 7800
    assert all(low == rules.minimum_for(high, SHARE) for _, _, low, high in pairs)


def test_format_share() -> None:
    assert rules.format_share(Decimal("0.4000")) == "40 %"
    assert rules.format_share(Decimal("0.375")) == "37.5 %"


def test_round_names() -> None:
    assert rules.round_name_ok("2027-2028")
    assert rules.round_name_ok("Compra 2027 · fase 2") is False
    assert rules.round_name_ok("Compra consolidada 2027_B")
    assert not rules.round_name_ok("2027/2028")
    assert not rules.round_name_ok("")
    assert not rules.round_name_ok("x" * 61)


def test_periods_are_whole_years_in_order() -> None:
    periods = rules.parse_periods(["2027,2028"])

    assert [p.as_json() for p in periods] == [
        {"label": "2027", "start": "2027-01-01", "end": "2027-12-31"},
        {"label": "2028", "start": "2028-01-01", "end": "2028-12-31"},
    ]
    assert rules.horizon_months([p.as_json() for p in periods]) == 24
    assert periods[0].months == 12
    assert rules.parse_periods(["2027", " 2028 "])[1].start == date(2028, 1, 1)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ([""], "al menos un periodo"),
        (["2028,2027"], "en orden"),
        (["2027,2027"], "en orden y sin repetirse"),
        (["27"], "«27» no es un año"),
        (["enero"], "«enero» no es un año"),
    ],
)
def test_wrong_periods_say_which(given: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rules.parse_periods(given)


# ----- consolidation --------------------------------------------------------------------------

CCINSHAE = {"INCAN": "CCINSHAE", "HGM": "CCINSHAE"}


def q(clave: str, institution: str, whole: Pair | None, units: Pair | None = None) -> Quantity:
    return Quantity(clave, institution, whole, units)


def test_consolidation_adds_institutions_side_by_side() -> None:
    result = rules.consolidate(
        [q("A", "IMSS", Pair(40, 100)), q("A", "ISSSTE", Pair(4, 10)), q("B", "IMSS", Pair(1, 2))],
        {},
    )

    assert result["A"].total == Pair(44, 110)
    assert result["A"].counted == {"IMSS": Pair(40, 100), "ISSSTE": Pair(4, 10)}
    assert result["B"].total == Pair(1, 2)
    assert list(result) == ["A", "B"]


def test_a_coordinator_and_its_members_are_not_counted_twice() -> None:
    result = rules.consolidate(
        [
            q("A", "CCINSHAE", Pair(50, 120)),
            q("A", "INCAN", Pair(20, 50)),
            q("A", "HGM", Pair(30, 70)),
            q("A", "IMSS", Pair(4, 10)),
        ],
        CCINSHAE,
    )["A"]

    assert result.total == Pair(54, 130)
    assert result.counted == {"CCINSHAE": Pair(50, 120), "IMSS": Pair(4, 10)}
    assert result.members == {"CCINSHAE": {"INCAN": Pair(20, 50), "HGM": Pair(30, 70)}}
    assert result.stated()["INCAN"] == Pair(20, 50)


def test_members_count_when_their_coordinator_does_not_state_the_clave() -> None:
    result = rules.consolidate(
        [q("A", "INCAN", Pair(20, 50)), q("A", "HGM", Pair(30, 70))], CCINSHAE
    )["A"]

    assert result.total == Pair(50, 120)
    assert result.counted == {"INCAN": Pair(20, 50), "HGM": Pair(30, 70)}
    assert result.members == {}


def test_an_institutions_whole_line_wins_over_its_units_lines() -> None:
    both = q("A", "IMSS", Pair(40, 100), Pair(8, 20))
    units_only = q("A", "ISSSTE", None, Pair(8, 20))

    result = rules.consolidate([both, units_only], {})["A"]

    assert both.stated == Pair(40, 100)
    assert units_only.stated == Pair(8, 20)
    assert result.total == Pair(48, 120)


def test_column_totals_are_the_appendix_total_row() -> None:
    result = rules.consolidate(
        [
            q("A", "CCINSHAE", Pair(50, 120)),
            q("A", "INCAN", Pair(50, 120)),
            q("B", "CCINSHAE", Pair(2, 5)),
            q("B", "HGM", Pair(2, 5)),
            q("B", "IMSS", Pair(4, 10)),
        ],
        CCINSHAE,
    )

    columns, grand = rules.column_totals(result.values())

    assert columns == {
        "CCINSHAE": Pair(52, 125),
        "INCAN": Pair(50, 120),
        "HGM": Pair(2, 5),
        "IMSS": Pair(4, 10),
    }
    assert grand == Pair(56, 135)


def test_a_pair_above_the_largest_quantity_says_so() -> None:
    """Files and forms reach the same rule as the API's body."""
    issues = rules.check_pair(2_000_000_000, 3_000_000_000, rules.DEFAULT_MIN_SHARE)

    assert [(i.field, i.value, i.expected) for i in issues] == [
        ("max", "3000000000", "a lo más 2,147,483,647")
    ]


# ----- naming institutions in files ------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "score"),
    [
        ("ISSTE", "ISSSTE", 1.0),  # a typo of one word
        ("S.E.D.E.N.A.", "SEDENA", 1.0),  # dots and spaces
        ("Instituto Mexicano del Seguro Social", "INSTITUTO MEXICANO DE SEGURO SOCIAL", 1.0),
        ("IMSS-BIENESTAR Oaxaca", "IMSS-Bienestar", 2 / 3),
        # Two hospitals: four words in common out of six, not 90 % alike letter by letter.
        (
            "HOSPITAL REGIONAL DE ALTA ESPECIALIDAD DE OAXACA",
            "HOSPITAL REGIONAL DE ALTA ESPECIALIDAD DEL BAJÍO",
            4 / 6,
        ),
        ("PEMEX", "Guardia Nacional", 0.0),
    ],
)
def test_name_similarity(first: str, second: str, score: float) -> None:
    assert rules.name_similarity(fold(first), fold(second)) == pytest.approx(score)


REGISTRY = [
    ("issste", "ISSSTE", "ISSSTE"),
    ("imss", "IMSS", "IMSS"),
    ("imss bienestar", "IMSS-BIENESTAR", "IMSS-Bienestar"),
    ("hospital regional de alta especialidad de oaxaca", "HRAEO", "HRAE de Oaxaca"),
    ("hospital regional de alta especialidad del bajio", "HRAEB", "HRAE del Bajío"),
]


def test_suggestions_are_the_best_three_institutions_and_one_is_taken_only_when_clear() -> None:
    typo = rules.suggest_institutions("isste", REGISTRY)
    entity = rules.suggest_institutions("imss bienestar oaxaca", REGISTRY)
    hospital = rules.suggest_institutions(
        "hospital regional de alta especialidad de yucatan", REGISTRY
    )

    assert [s.code for s in typo] == ["ISSSTE"]
    assert rules.clear_suggestion(typo) == typo[0]
    assert [s.code for s in entity] == ["IMSS-BIENESTAR", "IMSS"]
    assert rules.clear_suggestion(entity) is None  # 67 %: below the threshold
    assert [(s.code, round(s.score, 2)) for s in hospital] == [("HRAEB", 0.67), ("HRAEO", 0.67)]
    assert rules.clear_suggestion(hospital) is None


def test_a_close_second_makes_a_suggestion_ambiguous() -> None:
    close = [rules.Suggestion("A", "a", 0.9), rules.Suggestion("B", "b", 0.8)]
    apart = [rules.Suggestion("A", "a", 0.9), rules.Suggestion("B", "b", 0.7)]

    assert rules.clear_suggestion(close) is None
    assert rules.clear_suggestion(apart) == apart[0]
    assert rules.clear_suggestion([rules.Suggestion("A", "a", 0.79)]) is None


def test_the_owner_by_prefix_is_the_longest_name_word_for_word() -> None:
    names = {"imss": "IMSS", "imss bienestar": "IMSS-BIENESTAR", "sedena": "SEDENA"}

    assert rules.owner_by_prefix("imss bienestar oaxaca", names) == ("IMSS-BIENESTAR", "oaxaca")
    assert rules.owner_by_prefix("imss ooad jalisco", names) == ("IMSS", "ooad jalisco")
    assert rules.owner_by_prefix("imss bienestar", names) is None  # the whole name
    assert rules.owner_by_prefix("imssb oaxaca", names) is None  # not word for word


def test_new_codes_from_names() -> None:
    long = "INSTITUTO NACIONAL DE CIENCIAS MÉDICAS Y NUTRICIÓN SALVADOR ZUBIRÁN"

    assert rules.new_code("Guardia Nacional", [], width=40) == "GUARDIA-NACIONAL"
    assert rules.new_code(long, [], width=40) == "INCMNSZ"
    assert rules.new_code("HRAE Bicentenario 2010 de Victoria", [], width=10) == "HB2010V"
    assert rules.new_code("Guardia Nacional", ["guardia-nacional"], width=40) == (
        "GUARDIA-NACIONAL-2"
    )
