"""Pure rules of tendering: procedure policies, timelines, due events and bid lines.

A procedure type is a policy class (as Prozorro does it): who may bid, which minimum periods
apply, what a tender of that type must record. The tick asks ``due_events`` which deadlines have
come and applies them; nothing here reads a clock or a database.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from abasto.core import numbers
from abasto.core.errors import Problem
from abasto.core.ledger import canonical_json, canonical_object
from abasto.core.money import MEXICO_CITY, count_of, format_seconds

# ----- statuses ------------------------------------------------------------------------------

DRAFT = "draft"
CLARIFICATIONS = "clarifications"
BIDDING = "bidding"
CLOSED = "closed"
OPENING = "opening"
OPENED = "opened"
CANCELLED = "cancelled"
AWARDED = "awarded"
SUSPENDED = "suspended"
"""An opening the buyer stopped with a reason (one the tick could not carry on): the tick leaves
it alone until the buyer resumes or cancels it."""

STATUS_LABELS = {
    DRAFT: "Borrador",
    CLARIFICATIONS: "Junta de aclaraciones",
    BIDDING: "Recepción de proposiciones",
    CLOSED: "Cerrada, en espera de la apertura",
    OPENING: "Apertura en curso",
    SUSPENDED: "Apertura suspendida",
    OPENED: "Proposiciones abiertas",
    AWARDED: "Fallo emitido",
    CANCELLED: "Cancelada",
}
LIVE_STATUSES = (CLARIFICATIONS, BIDDING, CLOSED, OPENING)
"""Published and not yet opened or cancelled: the tick looks after these."""


# ----- procedures ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Periods:
    """Minimum periods of a procedure, in days; a tender keeps a copy of them when created."""

    min_bid_days: int
    """From publication to the bid deadline."""
    min_days_after_clarifications: int
    """From the clarification deadline to the bid deadline."""
    late_amendment_days: int
    """An amendment published closer than this to the bid deadline moves it this far out."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Procedure:
    """A procedure type: its rules, and its minimum periods as parameters."""

    code: str
    label: str
    periods: Periods
    open_to_all: bool = True
    """Any eligible supplier may bid; otherwise only those invited."""
    min_invited: int = 0
    max_invited: int | None = None
    needs_legal_basis: bool = False
    ocds_method: str = "open"
    character: str | None = None

    def problems(
        self,
        *,
        periods: Periods,
        published: datetime,
        clarification_deadline: datetime,
        bid_deadline: datetime,
        opening_at: datetime,
        fallo_at: datetime,
        invited: int,
        legal_basis: str | None,
        justification: str | None,
    ) -> list[Problem]:
        """Everything that keeps a tender of this type from being published as it stands."""
        found = timeline_problems(
            periods=periods,
            published=published,
            clarification_deadline=clarification_deadline,
            bid_deadline=bid_deadline,
            opening_at=opening_at,
            fallo_at=fallo_at,
        )
        if not self.open_to_all and invited < self.min_invited:
            found.append(
                Problem(
                    f"{self.label}: hay "
                    f"{count_of(invited, 'proveedor invitado', 'proveedores invitados')}",
                    field="invited",
                    value=str(invited),
                    expected=f"al menos {self.min_invited}",
                )
            )
        if self.max_invited is not None and invited > self.max_invited:
            found.append(
                Problem(
                    f"{self.label}: hay {invited} proveedores invitados",
                    field="invited",
                    value=str(invited),
                    expected=f"exactamente {self.max_invited}",
                )
            )
        if self.needs_legal_basis:
            if not (legal_basis or "").strip():
                found.append(
                    Problem(
                        f"{self.label} sin fundamento legal",
                        field="legal_basis",
                        expected="el artículo y fracción que la permiten (p. ej. «LAASSP art. 41 "
                        "fr. I»)",
                    )
                )
            if len((justification or "").strip()) < 20:
                found.append(
                    Problem(
                        f"{self.label} sin justificación suficiente",
                        field="justification",
                        expected="la justificación por escrito (al menos 20 caracteres)",
                    )
                )
        return found


PROCEDURES: dict[str, Procedure] = {
    p.code: p
    for p in (
        Procedure(
            "licitacion_nacional",
            "Licitación pública nacional",
            Periods(min_bid_days=15, min_days_after_clarifications=6, late_amendment_days=6),
            character="nacional",
        ),
        Procedure(
            "licitacion_internacional",
            "Licitación pública internacional",
            Periods(min_bid_days=20, min_days_after_clarifications=6, late_amendment_days=6),
            character="internacional",
        ),
        Procedure(
            "invitacion",
            "Invitación a cuando menos tres personas",
            Periods(min_bid_days=5, min_days_after_clarifications=2, late_amendment_days=2),
            open_to_all=False,
            min_invited=3,
            ocds_method="selective",
        ),
        Procedure(
            "adjudicacion_directa",
            "Adjudicación directa",
            Periods(min_bid_days=1, min_days_after_clarifications=0, late_amendment_days=1),
            open_to_all=False,
            min_invited=1,
            max_invited=1,
            needs_legal_basis=True,
            ocds_method="direct",
        ),
    )
}


def procedure(code: str) -> Procedure:
    try:
        return PROCEDURES[code]
    except KeyError:
        raise ValueError(code) from None


def periods_of(params: Mapping[str, Any]) -> Periods:
    return Periods(**{k: int(params[k]) for k in Periods.__dataclass_fields__})


def procedure_problem(code: str) -> Problem | None:
    if code in PROCEDURES:
        return None
    return Problem(
        "Tipo de procedimiento desconocido",
        field="procedure",
        value=code,
        expected=", ".join(sorted(PROCEDURES)),
    )


# ----- timeline ------------------------------------------------------------------------------


def when(at: datetime) -> str:
    """An instant as a person in Mexico reads it in a message."""
    return f"{format_seconds(at)} (hora del centro de México)"


MILESTONES = ("clarification_deadline", "bid_deadline", "opening_at", "fallo_at")
MILESTONE_LABELS = {
    "publication_at": "publicación",
    "clarification_deadline": "límite de preguntas (junta de aclaraciones)",
    "bid_deadline": "cierre de recepción de proposiciones",
    "opening_at": "apertura de proposiciones",
    "fallo_at": "fallo",
}


def _days(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 86400:.2f}".rstrip("0").rstrip(".")


def timeline_problems(
    *,
    periods: Periods,
    published: datetime,
    clarification_deadline: datetime,
    bid_deadline: datetime,
    opening_at: datetime,
    fallo_at: datetime,
) -> list[Problem]:
    """Dates out of order, or periods shorter than the procedure allows."""
    found: list[Problem] = []
    ordered = [
        ("publication_at", published),
        ("clarification_deadline", clarification_deadline),
        ("bid_deadline", bid_deadline),
        ("opening_at", opening_at),
        ("fallo_at", fallo_at),
    ]
    for (before, first), (after, second) in itertools.pairwise(ordered):
        if second < first:
            found.append(
                Problem(
                    f"La fecha de {MILESTONE_LABELS[after]} es anterior a la de "
                    f"{MILESTONE_LABELS[before]}",
                    field=after,
                    value=when(second),
                    expected=f"a partir de {when(first)}",
                )
            )
    if fallo_at == opening_at:
        found.append(
            Problem(
                "El fallo no puede darse en el mismo instante que la apertura",
                field="fallo_at",
                value=when(fallo_at),
                expected=f"después de {when(opening_at)}",
            )
        )
    bid_period = bid_deadline - published
    if bid_period < timedelta(days=periods.min_bid_days):
        found.append(
            Problem(
                f"Plazo para presentar proposiciones de {_days(bid_period)} días",
                field="bid_deadline",
                value=when(bid_deadline),
                expected=f"al menos {periods.min_bid_days} días naturales desde la publicación "
                f"(a partir de {when(published + timedelta(days=periods.min_bid_days))})",
            )
        )
    gap = bid_deadline - clarification_deadline
    if gap < timedelta(days=periods.min_days_after_clarifications):
        found.append(
            Problem(
                f"Entre el límite de preguntas y el cierre hay {_days(gap)} días",
                field="clarification_deadline",
                value=when(clarification_deadline),
                expected=f"al menos {periods.min_days_after_clarifications} días naturales "
                "antes del cierre de recepción",
            )
        )
    return found


@dataclass(frozen=True, slots=True)
class Timeline:
    clarification_deadline: datetime
    bid_deadline: datetime
    opening_at: datetime
    fallo_at: datetime

    def changes(self, other: Timeline) -> dict[str, list[str]]:
        return {
            name: [getattr(self, name).isoformat(), getattr(other, name).isoformat()]
            for name in MILESTONES
            if getattr(self, name) != getattr(other, name)
        }


def amended_timeline(current: Timeline, wanted: Timeline, *, now: datetime, days: int) -> Timeline:
    """The timeline after an amendment: a late amendment moves the bid deadline out.

    When the amendment is published less than ``days`` before the (wanted) bid deadline, the
    deadline becomes ``now + days`` and the opening and the fallo move by the same amount, so
    bidders keep the time the procedure promises them to read the change.
    """
    minimum = now + timedelta(days=days)
    if wanted.bid_deadline >= minimum:
        return wanted
    shift = minimum - wanted.bid_deadline
    return replace(
        wanted,
        bid_deadline=minimum,
        opening_at=wanted.opening_at + shift,
        fallo_at=wanted.fallo_at + shift,
    )


# ----- due events ----------------------------------------------------------------------------

CLOSE_CLARIFICATIONS = "close_clarifications"
CLOSE_BIDS = "close_bids"
START_OPENING = "start_opening"


def due_events(status: str, timeline: Timeline, now: datetime) -> list[str]:
    """The deadlines that have come (``now`` at or past them) and not been applied, in order.

    A deadline is due at its exact second: a question or a bid at that instant is late.
    """
    events: list[tuple[datetime, str, str]] = [
        (timeline.clarification_deadline, CLOSE_CLARIFICATIONS, CLARIFICATIONS),
        (timeline.bid_deadline, CLOSE_BIDS, BIDDING),
        (timeline.opening_at, START_OPENING, CLOSED),
    ]
    order = [CLARIFICATIONS, BIDDING, CLOSED, OPENING]
    if status not in order[:3]:
        return []
    reached = order.index(status)
    return [
        name
        for at, name, from_status in events
        if order.index(from_status) >= reached and now >= at
    ]


def next_status(event: str) -> str:
    return {CLOSE_CLARIFICATIONS: BIDDING, CLOSE_BIDS: CLOSED, START_OPENING: OPENING}[event]


def accepts_questions(timeline: Timeline, now: datetime) -> bool:
    return now < timeline.clarification_deadline


def accepts_bids(timeline: Timeline, now: datetime) -> bool:
    return now < timeline.bid_deadline


# ----- bid lines -----------------------------------------------------------------------------

MAX_PRICE = Decimal("99999999999999.99")
"""The largest unit price ``bid_lines.unit_price`` (numeric(16,2)) holds."""
MAX_QUANTITY = 2**31 - 1
"""The largest quantity ``bid_lines.quantity`` (integer) holds; a partida's maximum is lower."""
MAX_PARTIDA = 2**31 - 1
"""The largest partida number the database holds: a larger one is in no tender, and is not
sent to the database to find out."""
CENT = Decimal("0.01")


@dataclass(slots=True)
class BidLineInput:
    """A partida of a bid as the supplier states it (not yet checked).

    Not frozen: a frozen dataclass is made through ``object.__setattr__``, three times slower,
    and a bid of a rush makes dozens of these on the server's event loop."""

    partida: int
    unit_price: Any
    quantity: Any
    presentation: str | None = None
    registro_sanitario: str | None = None
    manufacturer: str | None = None
    country: str | None = None
    where: Mapping[str, Any] = field(default_factory=dict)
    """Where the line came from (sheet, row) for error messages."""


def parse_price(value: Any) -> Decimal:
    """A unit price in MXN: positive, at most 2 decimals, within the column (numeric(16,2)).

    Raises ValueError with the reason; text is refused by its length and exponent before it is
    converted (``numbers.number_of``)."""
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError("falta el precio")
    if isinstance(value, str):
        value = value.replace("$", "").replace(",", "")
    price = numbers.number_of(value)
    if price <= 0:
        raise ValueError("el precio debe ser mayor que cero")
    exponent = price.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValueError("tiene más de 2 decimales")
    if price > MAX_PRICE:
        raise ValueError("es demasiado grande")
    return price.quantize(CENT)


def parse_quantity(value: Any) -> int:
    """A quantity of pieces: a whole number from 1 to ``MAX_QUANTITY`` (the column's int32).

    An int (what a JSON bid holds) is compared as it is; anything else goes through
    ``numbers.whole_of``, bounded before it is converted."""
    if type(value) is int:
        quantity = value
    elif isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError("falta la cantidad")
    else:
        try:
            quantity = numbers.whole_of(value.replace(",", "") if isinstance(value, str) else value)
        except ValueError as exc:
            reason = str(exc)
            raise ValueError(
                "no es un número entero" if reason == "no es un número" else reason
            ) from None
    if quantity <= 0:
        raise ValueError("la cantidad debe ser mayor que cero")
    if quantity > MAX_QUANTITY:
        raise ValueError("es demasiado grande")
    return quantity


def _clean(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    text = str(value)
    if "  " in text or not text.isprintable() or text != text.strip():
        text = " ".join(text.split())
    return text[:limit] or None


def check_bid_lines(
    lines: Sequence[BidLineInput],
    partidas: Mapping[int, int],
    last: Callable[[], int] | None = None,
) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Each line checked against the tender's partidas (number → maximum quantity).

    ``partidas`` may hold only the partidas the lines name; ``last`` then tells the tender's
    last partida number for the message about a partida that is not in it.

    Returns the canonical lines (in partida order, prices as text with 2 decimals) and every
    problem found.
    """
    problems: list[Problem] = []
    clean: dict[int, dict[str, Any]] = {}
    if not lines:
        problems.append(Problem("La proposición no tiene partidas", expected="al menos una"))
    for line in lines:
        where = dict(line.where)
        # A JSON line is located by its field ("lines[3]"); its bad value adds the member name.
        # A sheet's line by its row, and its bad value by the column's header as the file has it.
        base = where.pop("field", None)
        columns = where.pop("columns", None)
        label = f"Partida {line.partida}"
        if line.partida not in partidas:
            problems.append(
                Problem(
                    f"{label}: no está en la licitación",
                    value=numbers.shown(line.partida),
                    expected=f"un número de partida entre 1 y "
                    f"{last() if last else max(partidas, default=0)} "
                    "que no se haya declarado desierta",
                    field=base,
                    **where,
                )
            )
            continue
        if line.partida in clean:
            problems.append(
                Problem(f"{label}: aparece dos veces", expected="una vez", field=base, **where)
            )
            continue
        try:
            price = parse_price(line.unit_price)
        except ValueError as exc:
            problems.append(
                Problem(
                    f"{label}: precio unitario no válido ({exc})",
                    **_member(base, columns, "unit_price"),
                    value=numbers.shown(line.unit_price),
                    expected="un importe en pesos mayor que cero con a lo más 2 decimales",
                    **where,
                )
            )
            continue
        most = partidas[line.partida]
        try:
            quantity = parse_quantity(line.quantity)
            if quantity > most:
                raise ValueError(f"más que la cantidad máxima de la partida, {most:,}")
        except ValueError as exc:
            problems.append(
                Problem(
                    f"{label}: cantidad ofertada no válida ({exc})",
                    **_member(base, columns, "quantity"),
                    value=numbers.shown(line.quantity),
                    expected=f"un número entero de piezas de 1 a {most:,}",
                    **where,
                )
            )
            continue
        clean[line.partida] = {
            "partida": line.partida,
            # As the text the commitment covers ("12.50"), not a Decimal: canonical JSON then
            # needs no conversion for each price of each line.
            "unit_price": str(price),
            "quantity": quantity,
            "presentation": _clean(line.presentation, 500),
            "registro_sanitario": _clean(line.registro_sanitario, 100),
            "manufacturer": _clean(line.manufacturer, 300),
            "country": _clean(line.country, 100),
        }
    return [clean[n] for n in sorted(clean)], problems


BID_MEMBER_LABELS = {
    "unit_price": "Precio Unitario",
    "quantity": "Cantidad ofertada",
    "presentation": "Presentación ofertada",
    "registro_sanitario": "Registro Sanitario",
    "manufacturer": "Fabricante del bien",
    "country": "País de origen",
}
"""The template's header of each member of a bid line: what a person is told when a sheet's
line names no header of its own for it (an optional column the file left out)."""


def _member(base: str | None, columns: Mapping[str, str] | None, member: str) -> dict[str, Any]:
    """Where a member of a line is: the sheet's column header, or the JSON field."""
    if columns is not None:
        return {"column": columns.get(member, BID_MEMBER_LABELS[member])}
    return {"field": f"{base}.{member}" if base else member}


COMPLETENESS = ("registro_sanitario", "manufacturer", "country")
"""What a line should state besides its price for the evaluation to judge it: a line without
one of these is sealed only if the supplier confirms it (a warning, not a refusal)."""


def incomplete_lines(lines: Sequence[BidLineInput]) -> list[Problem]:
    """A warning per line that leaves blank its registro sanitario, manufacturer or country of
    origin, naming what is missing where the supplier wrote the line (its row and the sheet's
    headers, or its JSON field)."""
    warnings = []
    for line in lines:
        missing = [m for m in COMPLETENESS if not _clean(getattr(line, m), 300)]
        if not missing:
            continue
        where = dict(line.where)
        base = where.pop("field", None)
        columns = where.pop("columns", None)
        places = [_member(base, columns, m) for m in missing]
        names = [place.get("column") or place["field"] for place in places]
        if columns is not None:
            located: dict[str, Any] = {"column": ", ".join(names), **where}
        else:
            located = {"field": ", ".join(names), **where}
        warnings.append(
            Problem(
                f"Partida {line.partida}: sin "
                + _listed([BID_MEMBER_LABELS[m].lower() for m in missing]),
                expected="el registro sanitario, el fabricante y el país de origen del bien",
                **located,
            )
        )
    return warnings


def _listed(items: Sequence[str]) -> str:
    """«a», «a ni b», «a, b ni c»: what a line lacks, as a person lists it."""
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " ni " + items[-1]


def bid_content(
    *, tender_number: str, bid_id: str, supplier_rfc: str, lines: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """What a commitment covers: the tender, the bid, the bidder and every line."""
    return {
        "tender": tender_number,
        "bid": bid_id,
        "supplier": supplier_rfc,
        "lines": [dict(line) for line in lines],
    }


def bid_content_json(*, tender_number: str, bid_id: str, supplier_rfc: str, lines: str) -> str:
    """``canonical_json(bid_content(...))``, from the lines already in canonical JSON."""
    return canonical_object(
        {
            "tender": canonical_json(tender_number),
            "bid": canonical_json(bid_id),
            "supplier": canonical_json(supplier_rfc),
            "lines": lines,
        }
    )


Period = tuple[datetime | None, datetime | None]
"""Instants from (included) and until (excluded); None leaves that end open."""


def days(start: date | None, end: date | None) -> Period:
    """Whole days in Mexico City time, both ends included, as the instants that bound them."""
    return (
        datetime.combine(start, time(), MEXICO_CITY) if start else None,
        datetime.combine(end, time(), MEXICO_CITY) + timedelta(days=1) if end else None,
    )
