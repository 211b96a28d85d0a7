"""Pure rules of tendering: prices, quantities, bid lines, timelines, due events, procedures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from abasto.core.errors import Problem
from abasto.core.ledger import canonical_json
from abasto.tendering import rules
from abasto.tendering.rules import (
    BIDDING,
    CANCELLED,
    CLARIFICATIONS,
    CLOSE_BIDS,
    CLOSE_CLARIFICATIONS,
    CLOSED,
    DRAFT,
    OPENED,
    OPENING,
    START_OPENING,
    BidLineInput,
    Periods,
    Timeline,
)

T = datetime(2026, 11, 2, 16, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
TIMELINE = Timeline(
    clarification_deadline=T + timedelta(days=9),
    bid_deadline=T + timedelta(days=16),
    opening_at=T + timedelta(days=16, hours=1),
    fallo_at=T + timedelta(days=17),
)


# ----- prices and quantities -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.01", Decimal("0.01")),
        ("7319.47", Decimal("7319.47")),
        ("7319.4", Decimal("7319.40")),
        ("7319.470", Decimal("7319.47")),  # a trailing zero is not a third decimal
        ("7,319.47", Decimal("7319.47")),
        ("$ 7,319.47", Decimal("7319.47")),
        (" 12 ", Decimal("12.00")),
        (12, Decimal("12.00")),
        (0.1, Decimal("0.10")),
        (Decimal("5.5"), Decimal("5.50")),
        (rules.MAX_PRICE, rules.MAX_PRICE),
    ],
)
def test_a_price_is_positive_with_at_most_two_decimals(value: object, expected: Decimal) -> None:
    price = rules.parse_price(value)
    assert price == expected
    assert price.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("0", "mayor que cero"),
        ("0.00", "mayor que cero"),
        (0, "mayor que cero"),
        ("-0.01", "mayor que cero"),
        ("-7319.47", "mayor que cero"),
        ("7319.471", "más de 2 decimales"),
        ("0.001", "más de 2 decimales"),
        (1.005, "más de 2 decimales"),
        (rules.MAX_PRICE + Decimal("0.01"), "demasiado grande"),
        ("siete mil", "no es un número"),
        ("NaN", "no es un número"),
        ("Infinity", "no es un número"),
        (None, "falta el precio"),
        ("  ", "falta el precio"),
        (True, "falta el precio"),
    ],
)
def test_a_bad_price_says_why(value: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        rules.parse_price(value)


@pytest.mark.parametrize(("value", "expected"), [("1", 1), (250, 250), (90.0, 90), ("1,000", 1000)])
def test_a_quantity_is_a_positive_whole_number(value: object, expected: int) -> None:
    assert rules.parse_quantity(value) == expected


@pytest.mark.parametrize("value", ["0", -3, "1.5", 2.5, "muchas", None, "", False])
def test_a_bad_quantity_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match=r"cantidad|entero"):
        rules.parse_quantity(value)


# ----- bid lines -----------------------------------------------------------------------------

PARTIDAS = {1: 250, 2: 90, 3: 30}


def test_bid_lines_come_back_canonical_in_partida_order() -> None:
    lines, problems = rules.check_bid_lines(
        [
            BidLineInput(3, "913.58", "30", country="  Países   Bajos "),
            BidLineInput(1, 7319.47, 250, presentation="Caja"),
        ],
        PARTIDAS,
    )
    assert problems == []
    assert lines == [
        {
            "partida": 1,
            "unit_price": "7319.47",
            "quantity": 250,
            "presentation": "Caja",
            "registro_sanitario": None,
            "manufacturer": None,
            "country": None,
        },
        {
            "partida": 3,
            "unit_price": "913.58",
            "quantity": 30,
            "presentation": None,
            "registro_sanitario": None,
            "manufacturer": None,
            "country": "Países Bajos",
        },
    ]


def test_every_bad_line_is_reported_with_where_it_came_from() -> None:
    lines, problems = rules.check_bid_lines(
        [
            BidLineInput(1, "10", 5, where={"field": "lines[0]"}),
            BidLineInput(9, "10", 5, where={"field": "lines[1]"}),
            BidLineInput(1, "11", 5, where={"field": "lines[2]"}),
            BidLineInput(2, "-4", 5, where={"sheet": "MED_MAT", "row": 6}),
            BidLineInput(3, "4.125", 5, where={"sheet": "MED_MAT", "row": 7}),
            BidLineInput(3, "4", 0, where={"sheet": "MED_MAT", "row": 8}),
        ],
        PARTIDAS,
    )
    assert [line["partida"] for line in lines] == [1]
    found = [(p.field, p.sheet, p.row, p.value) for p in problems]
    assert found == [
        ("lines[1]", None, None, "9"),
        ("lines[2]", None, None, None),
        ("unit_price", "MED_MAT", 6, "-4"),
        ("unit_price", "MED_MAT", 7, "4.125"),
        ("quantity", "MED_MAT", 8, "0"),
    ]
    assert "no está en la licitación" in problems[0].message
    assert "aparece dos veces" in problems[1].message
    assert "más de 2 decimales" in problems[3].message


@pytest.mark.parametrize(("price", "quantity"), [("0", 5), ("4.125", 5), ("4", 0)])
def test_a_bad_json_line_names_its_position(price: str, quantity: int) -> None:
    """The API's lines carry ``where={"field": "lines[i]"}``: the problem must name that line.

    (It must not crash because ``field`` is given twice to ``Problem``.)
    """
    _, problems = rules.check_bid_lines(
        [
            BidLineInput(1, "5", 1, where={"field": "lines[0]"}),
            BidLineInput(2, price, quantity, where={"field": "lines[1]"}),
        ],
        PARTIDAS,
    )
    [problem] = problems
    assert problem.field is not None
    assert problem.field.startswith("lines[1]")


def test_a_bid_without_lines_is_refused() -> None:
    lines, problems = rules.check_bid_lines([], PARTIDAS)
    assert lines == []
    assert [p.message for p in problems] == ["La proposición no tiene partidas"]


def test_bid_content_names_tender_bid_bidder_and_lines() -> None:
    lines, _ = rules.check_bid_lines([BidLineInput(2, "8", 1)], PARTIDAS)
    content = rules.bid_content(
        tender_number="AB-2026-0001", bid_id="ab", supplier_rfc="X", lines=lines
    )
    assert content == {"tender": "AB-2026-0001", "bid": "ab", "supplier": "X", "lines": lines}
    # What the submission commits to, built from the lines encoded once.
    assert rules.bid_content_json(
        tender_number="AB-2026-0001", bid_id="ab", supplier_rfc="X", lines=canonical_json(lines)
    ) == canonical_json(content)


# ----- due events ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "at", "expected"),
    [
        (CLARIFICATIONS, TIMELINE.clarification_deadline - SECOND, []),
        (
            CLARIFICATIONS,
            TIMELINE.clarification_deadline - timedelta(microseconds=1),
            [],
        ),
        (CLARIFICATIONS, TIMELINE.clarification_deadline, [CLOSE_CLARIFICATIONS]),
        (CLARIFICATIONS, TIMELINE.bid_deadline - SECOND, [CLOSE_CLARIFICATIONS]),
        (CLARIFICATIONS, TIMELINE.bid_deadline, [CLOSE_CLARIFICATIONS, CLOSE_BIDS]),
        (
            CLARIFICATIONS,
            TIMELINE.opening_at,
            [CLOSE_CLARIFICATIONS, CLOSE_BIDS, START_OPENING],
        ),
        (BIDDING, TIMELINE.clarification_deadline, []),
        (BIDDING, TIMELINE.bid_deadline - SECOND, []),
        (BIDDING, TIMELINE.bid_deadline, [CLOSE_BIDS]),
        (BIDDING, TIMELINE.opening_at, [CLOSE_BIDS, START_OPENING]),
        (CLOSED, TIMELINE.opening_at - SECOND, []),
        (CLOSED, TIMELINE.opening_at, [START_OPENING]),
        (OPENING, TIMELINE.fallo_at, []),
        (OPENED, TIMELINE.fallo_at, []),
        (DRAFT, TIMELINE.fallo_at, []),
        (CANCELLED, TIMELINE.fallo_at, []),
    ],
)
def test_a_deadline_is_due_at_its_exact_second(
    status: str, at: datetime, expected: list[str]
) -> None:
    assert rules.due_events(status, TIMELINE, at) == expected


def test_each_event_moves_to_the_next_status() -> None:
    assert [rules.next_status(e) for e in (CLOSE_CLARIFICATIONS, CLOSE_BIDS, START_OPENING)] == [
        BIDDING,
        CLOSED,
        OPENING,
    ]


def test_questions_and_bids_are_late_at_their_deadline_second() -> None:
    assert rules.accepts_questions(TIMELINE, TIMELINE.clarification_deadline - SECOND)
    assert not rules.accepts_questions(TIMELINE, TIMELINE.clarification_deadline)
    assert rules.accepts_bids(TIMELINE, TIMELINE.bid_deadline - SECOND)
    assert not rules.accepts_bids(TIMELINE, TIMELINE.bid_deadline)


# ----- amendments ----------------------------------------------------------------------------


def test_a_late_amendment_moves_the_bid_deadline_opening_and_fallo_out() -> None:
    now = TIMELINE.bid_deadline - timedelta(days=2)
    final = rules.amended_timeline(TIMELINE, TIMELINE, now=now, days=6)
    shift = timedelta(days=4)
    assert final == Timeline(
        clarification_deadline=TIMELINE.clarification_deadline,
        bid_deadline=now + timedelta(days=6),
        opening_at=TIMELINE.opening_at + shift,
        fallo_at=TIMELINE.fallo_at + shift,
    )
    assert TIMELINE.changes(final) == {
        name: [getattr(TIMELINE, name).isoformat(), getattr(final, name).isoformat()]
        for name in ("bid_deadline", "opening_at", "fallo_at")
    }


def test_an_amendment_in_time_keeps_the_wanted_timeline() -> None:
    wanted = Timeline(
        clarification_deadline=TIMELINE.clarification_deadline + timedelta(days=1),
        bid_deadline=TIMELINE.bid_deadline + timedelta(days=1),
        opening_at=TIMELINE.opening_at + timedelta(days=1),
        fallo_at=TIMELINE.fallo_at + timedelta(days=1),
    )
    early = TIMELINE.bid_deadline - timedelta(days=10)
    assert rules.amended_timeline(TIMELINE, wanted, now=early, days=6) == wanted
    # Exactly ``days`` before the deadline is in time; one second later is late.
    exact = wanted.bid_deadline - timedelta(days=6)
    assert rules.amended_timeline(TIMELINE, wanted, now=exact, days=6) == wanted
    late = rules.amended_timeline(TIMELINE, wanted, now=exact + SECOND, days=6)
    assert late.bid_deadline == wanted.bid_deadline + SECOND
    assert late.opening_at == wanted.opening_at + SECOND
    assert TIMELINE.changes(TIMELINE) == {}


# ----- procedures and timelines --------------------------------------------------------------


def _problems(code: str, **overrides: object) -> list[Problem]:
    policy = rules.procedure(code)
    arguments: dict[str, object] = {
        "periods": policy.periods,
        "published": T,
        "clarification_deadline": T + timedelta(days=20),
        "bid_deadline": T + timedelta(days=30),
        "opening_at": T + timedelta(days=30, hours=1),
        "fallo_at": T + timedelta(days=31),
        "invited": {"invitacion": 3, "adjudicacion_directa": 1}.get(code, 0),
        "legal_basis": "LAASSP art. 41 fr. I",
        "justification": "Patente vigente de un solo fabricante en México.",
    }
    arguments.update(overrides)
    return policy.problems(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize("code", sorted(rules.PROCEDURES))
def test_a_sound_tender_of_each_procedure_has_no_problems(code: str) -> None:
    assert _problems(code) == []


@pytest.mark.parametrize("code", sorted(rules.PROCEDURES))
def test_minimum_periods_hold_to_the_second(code: str) -> None:
    periods = rules.procedure(code).periods
    bid = T + timedelta(days=periods.min_bid_days)
    clarifications = bid - timedelta(days=periods.min_days_after_clarifications)
    exact = {
        "bid_deadline": bid,
        "clarification_deadline": clarifications,
        "opening_at": bid + timedelta(hours=1),
        "fallo_at": bid + timedelta(days=1),
    }
    assert _problems(code, **exact) == []

    short_bid = _problems(code, **{**exact, "bid_deadline": bid - SECOND})
    assert "bid_deadline" in [p.field for p in short_bid]
    assert any(f"al menos {periods.min_bid_days} días" in (p.expected or "") for p in short_bid)

    short_gap = _problems(code, **{**exact, "clarification_deadline": clarifications + SECOND})
    assert "clarification_deadline" in [p.field for p in short_gap]


def test_invitations_need_three_and_an_adjudicacion_exactly_one() -> None:
    [too_few] = _problems("invitacion", invited=2)
    assert (too_few.field, too_few.value, too_few.expected) == ("invited", "2", "al menos 3")
    assert _problems("invitacion", invited=7) == []
    [none] = _problems("adjudicacion_directa", invited=0)
    assert none.expected == "al menos 1"
    [two] = _problems("adjudicacion_directa", invited=2)
    assert two.expected == "exactamente 1"


def test_an_adjudicacion_needs_its_legal_basis_and_a_written_justification() -> None:
    found = _problems("adjudicacion_directa", legal_basis="  ", justification="porque sí")
    assert [p.field for p in found] == ["legal_basis", "justification"]
    assert _problems("licitacion_nacional", legal_basis=None, justification=None) == []


def test_dates_out_of_order_are_each_named() -> None:
    found = _problems(
        "licitacion_nacional",
        opening_at=T + timedelta(days=30) - SECOND,
        fallo_at=T + timedelta(days=30) - SECOND,
    )
    fields = [p.field for p in found]
    assert "opening_at" in fields
    assert "fallo_at" in fields
    assert any("mismo instante" in p.message for p in found)


def test_an_unknown_procedure_lists_the_known_ones() -> None:
    problem = rules.procedure_problem("licitacion_express")
    assert problem is not None
    assert problem.field == "procedure"
    assert problem.expected == ", ".join(sorted(rules.PROCEDURES))
    assert rules.procedure_problem("invitacion") is None
    with pytest.raises(ValueError, match="licitacion_express"):
        rules.procedure("licitacion_express")


def test_periods_survive_being_stored_as_json() -> None:
    periods = Periods(min_bid_days=15, min_days_after_clarifications=6, late_amendment_days=6)
    stored = {k: str(v) for k, v in periods.as_dict().items()}
    assert rules.periods_of(stored) == periods


@pytest.mark.parametrize(
    "text",
    ["Caja con 30", "  Países   Bajos ", "a\tb", "a\nb", "x\u00a0y", "a\u2003b", "\x1cz", "", " "],
)
def test_a_stated_text_is_kept_with_single_spaces(text: str) -> None:
    """The fast path (text already clean) and the slow one give the same canonical text."""
    [line], _ = rules.check_bid_lines([BidLineInput(1, "5", 1, presentation=text)], PARTIDAS)
    assert line["presentation"] == (" ".join(text.split()) or None)


# ----- poison input --------------------------------------------------------------------------


def test_a_quantity_above_the_partidas_maximum_names_the_maximum() -> None:
    lines, problems = rules.check_bid_lines(
        [
            BidLineInput(1, "10", 250, where={"field": "lines[0]"}),
            BidLineInput(2, "10", 3_000_000_000, where={"field": "lines[1]"}),
            BidLineInput(3, "10", 31, where={"sheet": "MED_MAT", "row": 7}),
        ],
        PARTIDAS,
    )
    assert [line["partida"] for line in lines] == [1]
    assert [(p.field, p.sheet, p.row, p.value) for p in problems] == [
        ("lines[1].quantity", None, None, "3000000000"),
        ("quantity", "MED_MAT", 7, "31"),
    ]
    assert "90" in (problems[0].expected or "")
    assert "30" in (problems[1].expected or "")


@pytest.mark.parametrize("text", ["1e999999", "1E+999999", "9" * 100_000, "0e999999"])
def test_numeric_text_is_refused_by_length_or_exponent_before_conversion(text: str) -> None:
    with pytest.raises(ValueError, match=r"caracteres|rango|grande"):
        rules.parse_quantity(text)
    with pytest.raises(ValueError, match=r"caracteres|rango"):
        rules.parse_price(text)
