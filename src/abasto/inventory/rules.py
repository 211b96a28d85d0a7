"""Inventory rules without I/O: lots picked FEFO, counts, consumption, months of stock, abasto.

**Stock is lots.** What a unit holds of a clave is a set of lots, each with its expiry and a
whole quantity, never below zero. An issue (dispensing, transfer out, write-off) takes from the
lot that expires first (FEFO: first to expire, first out) unless the person names a lot; a lot
already expired on the day is never handed out (it is written off instead).

**Consumption adjusted for stock-outs.** A unit that had nothing to give on a day did not see
zero demand that day, it saw unmet demand. The average monthly consumption (AMC, *consumo
promedio mensual*) is therefore what was dispensed over the days the unit *had* stock, scaled to
a month: ``dispensed ÷ days with stock × DAYS_PER_MONTH``. A stock-out day is a day that ended
with no stock of the clave and on which none of it was dispensed (a day on which stock ran out
after some was given counts as a day with stock: it saw demand). With no day of stock in the
window the AMC is unknown (None), never zero.

**Max-min.** Each kind of unit (hospital, clinic, warehouse…) keeps between a minimum and a
maximum number of months of stock (``StockPolicy``); the minimum is its safety stock. Below the
minimum a clave must be replenished; above the maximum it is surplus another unit may use.

**The abasto indicator** of a unit is the share of its clave list (the claves it stocks) with
stock on hand, and, stricter, the share with at least its minimum months of stock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from enum import StrEnum

from abasto.core.errors import Conflict, Problem, ValidationFailed

DAYS_PER_MONTH = Decimal("30.4375")
"""365.25 ÷ 12: a month as the average of the calendar's."""
CONSUMPTION_WINDOW_DAYS = 90
"""The days the AMC looks back over: three months, the window of the sector's max-min rules."""
EXPIRY_HORIZON_DAYS = 90
"""Stock that expires within this many days is flagged (and offered to units that will use it)."""
MAX_LOT_CHARS = 40
MAX_QUANTITY = 2_147_483_647
_CENT = Decimal("0.01")


class Kind(StrEnum):
    """What a movement does. Quantities are signed: receipts add, issues take away."""

    receipt = "receipt"
    initial = "initial"
    dispense = "dispense"
    transfer_out = "transfer_out"
    transfer_in = "transfer_in"
    adjustment = "adjustment"
    expiry = "expiry"
    physical_count = "count"


KIND_LABELS = {
    Kind.receipt: "Recepción",
    Kind.initial: "Inventario inicial",
    Kind.dispense: "Dispensación",
    Kind.transfer_out: "Transferencia (salida)",
    Kind.transfer_in: "Transferencia (entrada)",
    Kind.adjustment: "Ajuste",
    Kind.expiry: "Baja por caducidad",
    Kind.physical_count: "Ajuste por conteo físico",
}
INBOUND = frozenset({Kind.receipt, Kind.initial, Kind.transfer_in})
OUTBOUND = frozenset({Kind.dispense, Kind.transfer_out, Kind.expiry})
"""Adjustments and counts carry their own sign."""


@dataclass(frozen=True, slots=True)
class Lot:
    """A lot on a shelf: its code, expiry and the whole quantity on hand."""

    lot: str
    expiry: date
    quantity: int


@dataclass(frozen=True, slots=True)
class Take:
    """Part of an issue: how much of which lot."""

    lot: str
    expiry: date
    quantity: int


def insufficient(clave: str, wanted: int, available: int, *, lot: str | None = None) -> Conflict:
    """An issue larger than the stock: the error names the clave, the lot and what there is."""
    where = f"del lote «{lot}» " if lot else ""
    return Conflict(
        f"No hay existencia suficiente {where}de la clave {clave}; no se registró nada.",
        problems=[
            Problem(
                "La cantidad pedida es mayor que la existencia.",
                field="quantity",
                value=str(wanted),
                expected=f"a lo más {available}",
            )
        ],
    )


def pick_fefo(
    lots: Iterable[Lot], quantity: int, *, today: date, clave: str = "", lot: str | None = None
) -> list[Take]:
    """The lots an issue of ``quantity`` takes: the named ``lot``, or first to expire first out.

    Lots expired before ``today`` are never issued. Refuses (``Conflict``) an issue larger than
    what may be issued, so stock never goes below zero.
    """
    if quantity <= 0:
        raise ValidationFailed(
            "La cantidad debe ser mayor que cero.",
            problems=[Problem("Cantidad no válida.", field="quantity", value=str(quantity))],
        )
    usable = [x for x in lots if x.quantity > 0 and x.expiry >= today]
    if lot is not None:
        named = [x for x in usable if x.lot == lot]
        available = sum(x.quantity for x in named)
        if available < quantity:
            raise insufficient(clave, quantity, available, lot=lot)
        return [Take(named[0].lot, named[0].expiry, quantity)]
    usable.sort(key=lambda x: (x.expiry, x.lot))
    available = sum(x.quantity for x in usable)
    if available < quantity:
        raise insufficient(clave, quantity, available)
    takes, left = [], quantity
    for found in usable:
        taken = min(left, found.quantity)
        takes.append(Take(found.lot, found.expiry, taken))
        left -= taken
        if left == 0:
            break
    return takes


def apply(balance: int, delta: int, *, clave: str = "", lot: str | None = None) -> int:
    """A lot's balance after a movement of ``delta``; refuses to go below zero."""
    after = balance + delta
    if after < 0:
        raise insufficient(clave, -delta, balance, lot=lot)
    if after > MAX_QUANTITY:
        raise ValidationFailed(
            f"La existencia del lote «{lot}» de la clave {clave} pasaría del máximo.",
            problems=[Problem("Cantidad demasiado grande.", field="quantity", value=str(delta))],
        )
    return after


@dataclass(frozen=True, slots=True)
class Counted:
    """A lot found on the shelf in a physical count."""

    lot: str
    expiry: date
    quantity: int


def count_adjustments(book: Iterable[Lot], counted: Iterable[Counted]) -> list[Take]:
    """What a physical count changes: per lot, counted − book (only lots that differ).

    A count lists what is on the shelf: a lot on the books that the count does not list was not
    found, and goes to zero. A counted lot not on the books is added with the count's expiry.
    """
    on_books = {x.lot: x for x in book}
    found: dict[str, Counted] = {}
    for item in counted:
        if item.quantity < 0:
            raise ValidationFailed(
                "Un conteo no puede ser negativo.",
                problems=[
                    Problem("Cantidad no válida.", field="quantity", value=str(item.quantity))
                ],
            )
        if item.lot in found:
            earlier = found[item.lot]
            item = Counted(item.lot, earlier.expiry, earlier.quantity + item.quantity)
        found[item.lot] = item
    changes = []
    for code in sorted(set(on_books) | set(found)):
        had = on_books.get(code)
        seen = found.get(code)
        before = had.quantity if had else 0
        after = seen.quantity if seen else 0
        if after != before:
            expiry = had.expiry if had else seen.expiry  # type: ignore[union-attr]
            changes.append(Take(code, expiry, after - before))
    return changes


# ----- consumption and indicators ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Day:
    """One day of a unit's clave: what was dispensed and the stock at the day's end."""

    dispensed: int
    closing: int

    @property
    def stockout(self) -> bool:
        return self.closing <= 0 and self.dispensed == 0


def stockout_days(days: Iterable[Day]) -> int:
    return sum(1 for d in days if d.stockout)


def adjusted_monthly_consumption(days: Sequence[Day]) -> Decimal | None:
    """AMC over ``days``, counting only days with stock (see the module's docstring); None when
    no day had stock, since then the series says nothing about demand."""
    with_stock = [d for d in days if not d.stockout]
    if not with_stock:
        return None
    dispensed = sum(d.dispensed for d in with_stock)
    return (Decimal(dispensed) * DAYS_PER_MONTH / len(with_stock)).quantize(_CENT, ROUND_HALF_UP)


def daily_series(
    *, start: date, end: date, opening: int, movements: Mapping[date, tuple[int, int]]
) -> list[Day]:
    """Days ``start``..``end`` from the stock before ``start`` and each day's
    (dispensed, net change of stock): what the AMC and the stock-out days are computed from."""
    days, stock, day = [], opening, start
    while day <= end:
        dispensed, net = movements.get(day, (0, 0))
        stock += net
        days.append(Day(dispensed, stock))
        day += timedelta(days=1)
    return days


def months_of_stock(on_hand: int, amc: Decimal | None) -> Decimal | None:
    """Stock on hand in months of consumption; None when consumption is unknown or zero."""
    if amc is None or amc <= 0:
        return None
    return (Decimal(on_hand) / amc).quantize(_CENT, ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class StockPolicy:
    """The max-min of a kind of unit, in months of consumption; the minimum is safety stock."""

    min_months: Decimal
    max_months: Decimal

    def __post_init__(self) -> None:
        if not Decimal(0) <= self.min_months <= self.max_months:
            raise ValidationFailed(
                "El mínimo de meses debe ser de cero o más y no mayor que el máximo.",
                problems=[
                    Problem(
                        "Máximo y mínimo no válidos.",
                        field="min_months",
                        value=f"{self.min_months} / {self.max_months}",
                        expected="0 ≤ mínimo ≤ máximo",
                    )
                ],
            )


DEFAULT_POLICY = StockPolicy(min_months=Decimal(1), max_months=Decimal(3))
"""One to three months: what applies to a kind of unit with no policy of its own."""


class Level(StrEnum):
    stockout = "stockout"
    below_min = "below_min"
    ok = "ok"
    above_max = "above_max"
    unknown = "unknown"


LEVEL_LABELS = {
    Level.stockout: "Desabasto",
    Level.below_min: "Bajo el mínimo",
    Level.ok: "Entre mínimo y máximo",
    Level.above_max: "Sobre el máximo",
    Level.unknown: "Sin consumo conocido",
}


def level(on_hand: int, months: Decimal | None, policy: StockPolicy) -> Level:
    """Where a clave's stock stands against its unit's max-min."""
    if on_hand <= 0:
        return Level.stockout
    if months is None:
        return Level.unknown
    if months < policy.min_months:
        return Level.below_min
    if months > policy.max_months:
        return Level.above_max
    return Level.ok


def units_needed(amc: Decimal | None, months: Decimal) -> int:
    """Whole units that cover ``months`` of consumption (rounded up): the safety stock of the
    minimum, or the target of the maximum."""
    if amc is None or amc <= 0:
        return 0
    return int((amc * months).to_integral_value(rounding=ROUND_CEILING))


def expiring(lots: Iterable[Lot], *, today: date, days: int = EXPIRY_HORIZON_DAYS) -> int:
    """Units on hand in lots that expire from ``today`` to ``days`` ahead (expired ones apart)."""
    last = today + timedelta(days=days)
    return sum(x.quantity for x in lots if today <= x.expiry <= last and x.quantity > 0)


def expired(lots: Iterable[Lot], *, today: date) -> int:
    """Units on hand in lots already expired: to be written off, never issued."""
    return sum(x.quantity for x in lots if x.expiry < today and x.quantity > 0)


@dataclass(frozen=True, slots=True)
class Abasto:
    """A unit's (or a group's) abasto: of ``listed`` claves, how many have stock, and how many
    have at least their minimum months."""

    listed: int
    with_stock: int
    at_minimum: int

    @property
    def share(self) -> Decimal | None:
        return _share(self.with_stock, self.listed)

    @property
    def share_at_minimum(self) -> Decimal | None:
        return _share(self.at_minimum, self.listed)


def _share(part: int, whole: int) -> Decimal | None:
    if whole == 0:
        return None
    return (Decimal(part) / whole).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def abasto(levels: Iterable[Level]) -> Abasto:
    """The abasto of a clave list from each clave's level: a clave whose consumption is unknown
    but has stock counts at its minimum (nothing says it will run short)."""
    listed = with_stock = at_minimum = 0
    for found in levels:
        listed += 1
        if found is not Level.stockout:
            with_stock += 1
        if found in (Level.ok, Level.above_max, Level.unknown):
            at_minimum += 1
    return Abasto(listed, with_stock, at_minimum)


def check_lot(lot: str, expiry: date | None, *, field: str = "lot") -> list[Problem]:
    """Problems of a lot code and expiry typed or read (empty when acceptable)."""
    problems = []
    if not lot or len(lot) > MAX_LOT_CHARS:
        problems.append(
            Problem(
                "El lote no es válido.",
                field=field,
                value=lot[:60],
                expected=f"de 1 a {MAX_LOT_CHARS} caracteres",
            )
        )
    if expiry is None:
        problems.append(Problem("Falta la caducidad.", field="expiry", expected="aaaa-mm-dd"))
    return problems
