"""Demand rules without I/O: quantities, the minimum-share rule, consolidation, coordinators.

Quantities are whole units, zero or more; reading them from cells and fields is
``appendix.parse_quantity``'s job, for files and forms alike.

**The minimum-share rule.** Open contracts state a minimum and a maximum; the minimum may not be
less than a share of the maximum (40 % under article 47 of the Ley de Adquisiciones). The real
appendices round the minimum *up*: in the 2025-2026 template every one of its 7,800 min/max
pairs has ``min == ceil(max × 0.40)`` (4247 for a maximum of 10617, whose 40 % is 4246.8), and
in the 2023-2024 appendix all 10,566 pairs satisfy ``min >= max × 0.40`` exactly, many above
it. So the rule is ``min >= ceil(max × share)``, computed in ``Decimal`` (never binary floats,
where ``0.4 × 10`` may land a hair above 4): the smallest whole minimum that is not below the
share. Rounding down instead (``floor``) would admit 1 of 3, a third, which the law does not.
A line typed or uploaded by a planner must meet it; a line of an official appendix that does
not (some real ones have a minimum of 0) is imported as published and kept as an observation.

**Consolidation** adds, per clave, the quantities of the institutions that count, and keeps
the others as the breakdown:

* within an institution, a line for the whole institution (``unit_code == ""``) is its
  quantity, and its lines per delivery point are the breakdown of that quantity; when it has
  only lines per delivery point, their sum is its quantity;
* a coordinator's line already includes its members' (CCINSHAE states the total of its 23
  hospitals in the aggregated sheet, and each hospital's part in the detail sheet): when the
  coordinator and some of its members have the clave, only the coordinator's quantity counts
  and the members' are shown as its breakdown; when only members have it, theirs count.

This is why the consolidated total of the 2023-2024 appendix equals its own ``TOTAL GENERAL``
although its two sheets state CCINSHAE's demand twice.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import ROUND_CEILING, Decimal
from difflib import SequenceMatcher
from typing import Literal

from abasto.core.money import MEXICO_CITY
from abasto.core.text import fold

DEFAULT_MIN_SHARE = Decimal("0.40")
"""Open contracts: the minimum is at least 40 % of the maximum (LAASSP, art. 47)."""

MAX_QUANTITY = 2_147_483_647
"""The largest quantity a line can hold (a 32-bit integer column)."""

ROUND_NAME_EXPECTED = (
    "de 1 a 60 caracteres: letras, dígitos, espacios, guion, punto o guion bajo (p. ej. 2027-2028)"
)
PERIODS_EXPECTED = "años de cuatro dígitos en orden y sin repetir, p. ej. 2027,2028"

_ROUND_NAME = re.compile(r"[0-9A-Za-zÁÉÍÓÚÑáéíóúñü][0-9A-Za-zÁÉÍÓÚÑáéíóúñü ._-]{0,59}")
_YEAR = re.compile(r"\d{4}")

Field = Literal["min", "max"]

DEADLINE_EXPECTED = "una fecha posterior a hoy (aaaa-mm-dd), hasta el último día de la ronda"


def deadline_of(day: date) -> datetime:
    """A round's deadline given as a day: the end of that day in Mexico City, where the
    institutions capture (23:59:59, so «hasta el 15/03» includes the 15th)."""
    return datetime.combine(day, time(23, 59, 59), MEXICO_CITY)


def deadline_day(deadline: datetime | None) -> str:
    """The day of a deadline as a date input shows it (aaaa-mm-dd), "" for none."""
    return "" if deadline is None else deadline.astimezone(MEXICO_CITY).date().isoformat()


def deadline_shown(deadline: datetime) -> str:
    """The day of a deadline as a person reads it (dd/mm/aaaa, in Mexico City)."""
    return f"{deadline.astimezone(MEXICO_CITY):%d/%m/%Y}"


def deadline_problem(deadline: datetime, now: datetime, last_day: date) -> str | None:
    """Why a round cannot have this deadline, or None: it is past, or after the round ends."""
    if deadline <= now:
        return "la fecha límite ya pasó"
    if deadline.astimezone(MEXICO_CITY).date() > last_day:
        return f"la fecha límite es posterior al fin de la ronda ({last_day:%d/%m/%Y})"
    return None


def minimum_for(max_qty: int, share: Decimal) -> int:
    """The smallest minimum allowed for ``max_qty``: ``ceil(max_qty × share)`` (see above)."""
    return int((Decimal(max_qty) * share).to_integral_value(rounding=ROUND_CEILING))


def format_share(share: Decimal) -> str:
    """``Decimal("0.4")`` as ``40 %``; ``0.375`` as ``37.5 %``."""
    percent = (share * 100).normalize()
    return f"{percent:f} %"


@dataclass(frozen=True, slots=True)
class LineIssue:
    """What is wrong with one side of a min/max pair."""

    field: Field
    message: str
    value: str | None
    expected: str


def check_pair(min_qty: int | None, max_qty: int | None, share: Decimal) -> list[LineIssue]:
    """Every problem of a parsed min/max pair (empty when acceptable; both None is no line)."""
    if min_qty is None and max_qty is None:
        return []
    sides: tuple[tuple[Field, int | None], ...] = (("min", min_qty), ("max", max_qty))
    too_large = [
        LineIssue(side, "la cantidad es demasiado grande", str(qty), f"a lo más {MAX_QUANTITY:,}")
        for side, qty in sides
        if qty is not None and qty > MAX_QUANTITY
    ]
    if too_large:
        return too_large
    if max_qty is None:
        return [
            LineIssue(
                "max",
                "falta el máximo: hay mínimo pero no máximo",
                None,
                "el máximo, mayor o igual que el mínimo",
            )
        ]
    if min_qty is None:
        return [
            LineIssue(
                "min",
                "falta el mínimo: hay máximo pero no mínimo",
                None,
                f"al menos {minimum_for(max_qty, share):,} ({_share_text(max_qty, share)})",
            )
        ]
    if min_qty > max_qty:
        return [
            LineIssue(
                "min",
                f"el mínimo es mayor que el máximo ({max_qty:,})",
                str(min_qty),
                f"un mínimo entre {minimum_for(max_qty, share):,} y {max_qty:,}",
            )
        ]
    least = minimum_for(max_qty, share)
    if min_qty < least:
        return [
            LineIssue(
                "min",
                f"el mínimo es menor que el {format_share(share)} del máximo ({max_qty:,})",
                str(min_qty),
                f"al menos {least:,} ({_share_text(max_qty, share)})",
            )
        ]
    return []


def _share_text(max_qty: int, share: Decimal) -> str:
    return f"el {format_share(share)} de {max_qty:,}, redondeado hacia arriba"


# ----- rounds ---------------------------------------------------------------------------------


def round_name_ok(name: str) -> bool:
    return _ROUND_NAME.fullmatch(name.strip()) is not None


@dataclass(frozen=True, slots=True)
class Period:
    """A period of a round: a calendar year, stored as its label and first and last days."""

    label: str
    start: date
    end: date

    def as_json(self) -> dict[str, str]:
        return {"label": self.label, "start": self.start.isoformat(), "end": self.end.isoformat()}

    @property
    def months(self) -> int:
        return (self.end.year - self.start.year) * 12 + self.end.month - self.start.month + 1


def parse_periods(values: Iterable[str]) -> list[Period]:
    """Years such as ``2027`` or ``"2027,2028"`` as periods; ValueError names the wrong one."""
    labels = [part.strip() for value in values for part in value.split(",") if part.strip()]
    if not labels:
        raise ValueError("la ronda necesita al menos un periodo")
    years: list[int] = []
    for label in labels:
        if not _YEAR.fullmatch(label) or not 2000 <= int(label) <= 2100:
            raise ValueError(f"«{label}» no es un año")
        years.append(int(label))
    if years != sorted(set(years)):
        raise ValueError("los años deben ir en orden y sin repetirse")
    return [Period(str(y), date(y, 1, 1), date(y, 12, 31)) for y in years]


def horizon_months(periods: Iterable[Mapping[str, str]]) -> int:
    """How many months a round's stored periods cover (the forecast's horizon)."""
    total = 0
    for period in periods:
        start, end = date.fromisoformat(period["start"]), date.fromisoformat(period["end"])
        total += (end.year - start.year) * 12 + end.month - start.month + 1
    return total


# ----- consolidation --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class Pair:
    """A minimum and a maximum; pairs add up side by side."""

    min: int
    max: int

    def __add__(self, other: Pair) -> Pair:
        return Pair(self.min + other.min, self.max + other.max)


ZERO = Pair(0, 0)


@dataclass(frozen=True, slots=True)
class Quantity:
    """An institution's lines of one clave added by level: the whole one and the units' sum."""

    clave: str
    institution: str
    whole: Pair | None
    """The line for the institution as a whole, if it has one."""
    units: Pair | None
    """The sum of its lines per delivery point, if it has any."""

    @property
    def stated(self) -> Pair:
        """What the institution asks for: its whole line, else the sum of its units' lines."""
        if self.whole is not None:
            return self.whole
        return self.units or ZERO


@dataclass(slots=True)
class ConsolidatedClave:
    """One clave consolidated: the total, what each institution counted, and the breakdown."""

    clave: str
    total: Pair = ZERO
    counted: dict[str, Pair] = field(default_factory=dict)
    """Institution → its quantity, for the institutions whose quantity is in the total."""
    members: dict[str, dict[str, Pair]] = field(default_factory=dict)
    """Coordinator → member → the member's quantity, already included in the coordinator's."""

    def stated(self) -> dict[str, Pair]:
        """Every institution's own quantity, counted or not (what an appendix column shows)."""
        found = dict(self.counted)
        for members in self.members.values():
            found.update(members)
        return found


def consolidate(
    quantities: Iterable[Quantity], coordinators: Mapping[str, str]
) -> dict[str, ConsolidatedClave]:
    """Per clave, the sum over the institutions that count (see the module's docstring).

    ``coordinators`` maps a member institution to its coordinator; institutions absent from it
    have none. The result keeps the claves in the order they first appear.
    """
    by_clave: dict[str, dict[str, Pair]] = {}
    for quantity in quantities:
        stated = by_clave.get(quantity.clave)
        if stated is None:
            stated = by_clave[quantity.clave] = {}
        pair = quantity.stated
        earlier = stated.get(quantity.institution)
        # The same institution given twice (e.g. in two chunks) adds up.
        stated[quantity.institution] = pair if earlier is None else earlier + pair
    result: dict[str, ConsolidatedClave] = {}
    for clave, stated in by_clave.items():
        counted: dict[str, Pair] = {}
        members: dict[str, dict[str, Pair]] = {}
        low = high = 0
        for institution, pair in stated.items():
            coordinator = coordinators.get(institution)
            if coordinator is not None and coordinator in stated:
                members.setdefault(coordinator, {})[institution] = pair
                continue
            counted[institution] = pair
            low += pair.min
            high += pair.max
        result[clave] = ConsolidatedClave(clave, Pair(low, high), counted, members)
    return result


def column_totals(rows: Iterable[ConsolidatedClave]) -> tuple[dict[str, Pair], Pair]:
    """The sum of each institution's stated quantities over all claves, and the grand total.

    These are an appendix's ``Total`` row: per column what the institution states (members
    too), and the overall total without counting a coordinator's members twice.
    """
    columns: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    low = high = 0
    for row in rows:
        for institution, pair in row.stated().items():
            column = columns[institution]
            column[0] += pair.min
            column[1] += pair.max
        low += row.total.min
        high += row.total.max
    return {name: Pair(a, b) for name, (a, b) in columns.items()}, Pair(low, high)


# ----- naming institutions in files -----------------------------------------------------------
#
# Appendices name institutions in many ways ("IMSS", "I.M.S.S.", "ISSTE" for ISSSTE,
# "IMSS-BIENESTAR Oaxaca" for a state entity of IMSS-Bienestar). A name is matched to the
# registry folded (``core.text.fold``); a name that matches nothing gets the registry's closest
# names as suggestions, scored by ``name_similarity``.

SUGGESTION_THRESHOLD = 0.8
"""A suggestion is taken on its own (``--map-suggested``) only when it scores at least this…"""
SUGGESTION_MARGIN = 0.15
"""…and the next institution scores at least this much less: a clear best, not a coin toss."""
SUGGESTIONS_SHOWN = 3
_SUGGESTION_FLOOR = 0.3
"""Below this a name is not shown as a suggestion at all: it would only mislead."""
_TOKEN_LIKENESS = 0.85
"""Two words count as the same when their letters agree this much (a typo: "isste", "issste")."""
_STOPWORDS = frozenset({"a", "de", "del", "e", "el", "en", "la", "las", "los", "para", "y"})


def name_tokens(folded: str) -> tuple[str, ...]:
    """The words of a folded name that tell it apart (articles and prepositions left out)."""
    return tuple(word for word in folded.split() if word not in _STOPWORDS)


def name_similarity(first: str, second: str) -> float:
    """How alike two folded names are, from 0 to 1: the share of their words they have in
    common (Jaccard), a word counting as shared when it is spelled alike (``_TOKEN_LIKENESS``).

    Word-based, so "hospital regional de alta especialidad de oaxaca" and "… del bajio" score
    4/6 (two different hospitals) where a letter-based ratio would call them 90 % alike; and
    names that only differ in spacing or dots ("s e d e n a", "sedena") score 1.
    """
    if first.replace(" ", "") == second.replace(" ", ""):
        return 1.0 if first else 0.0
    a, b = set(name_tokens(first)), set(name_tokens(second))
    if not a or not b:
        return 0.0
    shared = a & b
    rest = sorted(b - shared)
    for word in sorted(a - shared):
        for other in rest:
            if SequenceMatcher(None, word, other).ratio() >= _TOKEN_LIKENESS:
                shared.add(word)
                rest.remove(other)
                break
    return len(shared) / (len(a) + len(b) - len(shared))


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A registered institution a file's name may mean, and how alike the names are."""

    code: str
    name: str
    """The registry's name (or alias) that came closest."""
    score: float

    def shown(self) -> str:
        return f"{self.code} («{self.name}», {self.score:.0%})"


def suggest_institutions(folded: str, names: Iterable[tuple[str, str, str]]) -> list[Suggestion]:
    """The best ``SUGGESTIONS_SHOWN`` institutions for a folded name, best first, one entry per
    institution; ``names`` are (folded name or alias, institution code, name as written)."""
    best: dict[str, Suggestion] = {}
    for candidate, code, written in names:
        score = name_similarity(folded, candidate)
        if score < _SUGGESTION_FLOOR:
            continue
        earlier = best.get(code)
        if earlier is None or score > earlier.score:
            best[code] = Suggestion(code, written, score)
    ranked = sorted(best.values(), key=lambda s: (-s.score, s.code))
    return ranked[:SUGGESTIONS_SHOWN]


def clear_suggestion(suggestions: list[Suggestion]) -> Suggestion | None:
    """The suggestion to take without asking, when there is a clear best (see the thresholds)."""
    if not suggestions or suggestions[0].score < SUGGESTION_THRESHOLD:
        return None
    if len(suggestions) > 1 and suggestions[1].score > suggestions[0].score - SUGGESTION_MARGIN:
        return None
    return suggestions[0]


def owner_by_prefix(folded: str, names: Mapping[str, str]) -> tuple[str, str] | None:
    """The institution whose name or alias begins ``folded`` word for word, and the words left
    after it: ("IMSS-BIENESTAR", "oaxaca") for "imss bienestar oaxaca". The longest name wins
    ("imss bienestar" over "imss"); None when no name begins it, or one is the whole of it.

    ``names`` maps folded names and aliases to institution codes.
    """
    words = folded.split()
    if folded in names:
        return None
    for size in range(len(words) - 1, 0, -1):
        code = names.get(" ".join(words[:size]))
        if code is not None:
            return code, " ".join(words[size:])
    return None


def new_code(name: str, taken: Iterable[str], *, width: int) -> str:
    """A code for something registered from a file's name: the name in capitals with hyphens
    ("GUARDIA-NACIONAL") when it fits ``width``, else the initials of its words
    ("INSTITUTO NACIONAL DE CIENCIAS MÉDICAS Y NUTRICIÓN SALVADOR ZUBIRÁN" → "INCMNSZ", numbers
    kept whole); "-2", "-3"… when ``taken`` (upper case) already has it."""
    folded = fold(name)
    code = folded.upper().replace(" ", "-")
    if len(code) > width or not code:
        initials = [word if word.isdigit() else word[0] for word in name_tokens(folded)]
        code = "".join(initials).upper()[:width] or "SIN-NOMBRE"
    used = {t.upper() for t in taken}
    candidate, number = code, 1
    while candidate in used:
        number += 1
        suffix = f"-{number}"
        candidate = code[: width - len(suffix)] + suffix
    return candidate
