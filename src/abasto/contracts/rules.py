"""Pure rules of contracts under the LAASSP: signing, guarantee, convenios, penalties, fill rate.

Values in, values out: dates are the natural days of Mexico City, money is ``Decimal`` rounded
to the centavo only where the law's figure is stated (a guarantee, an order's penalty), so a sum
of many small amounts is not rounded many times.
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from abasto.core.errors import Conflict, Problem, ValidationFailed
from abasto.core.money import format_int, format_mxn, format_percent, to_money
from abasto.core.money import local_day as local_day  # the contracts' natural days

# ----- parameters and their defaults ---------------------------------------------------------

SIGNING_DAYS = 15
"""Natural days from the fallo's notice to sign (LAASSP art. 46)."""
GUARANTEE_RATE = Decimal("0.10")
"""Garantía de cumplimiento: this share of the contract's maximum amount before IVA."""
MODIFICATION_CAP = Decimal("0.20")
"""Convenios modificatorios: at most this much more, in total, than what was contracted."""
PENALTY_RATE = Decimal("0.01")
"""Pena convencional: this share of the value delivered late, per natural day late."""
DEDUCTIVA_RATE = Decimal("0.01")
"""Deductiva: this share of the value of pieces rejected or not supplied."""
SHELF_LIFE_MONTHS = 12
"""Minimum months of life left at receipt, unless the clave's kind says otherwise."""
DELIVERY_DAYS = 20
"""Natural days from an order's issue to its due date, unless the contract says otherwise."""
DELIVERIES_PER_TERM = 12
"""How many deliveries an open contract's maximum is spread over (one a month for a year): one
delivery's worth, ``ceil(maximum / 12)``, is the default minimum lot of the award."""


@dataclass(frozen=True, slots=True)
class Terms:
    """A contract's parameters, copied from its tender (or the defaults) when it is made."""

    signing_days: int = SIGNING_DAYS
    guarantee_rate: Decimal = GUARANTEE_RATE
    modification_cap: Decimal = MODIFICATION_CAP
    penalty_rate: Decimal = PENALTY_RATE
    deductiva_rate: Decimal = DEDUCTIVA_RATE
    shelf_life_months: int = SHELF_LIFE_MONTHS
    delivery_days: int = DELIVERY_DAYS


# ----- statuses ------------------------------------------------------------------------------

BORRADOR = "borrador"
FIRMADO_INSTITUCION = "firmado_institucion"
FIRMADO_PROVEEDOR = "firmado_proveedor"
VIGENTE = "vigente"
CONCLUIDO = "concluido"
RESCINDIDO = "rescindido"
STATUS_LABELS = {
    BORRADOR: "Borrador",
    FIRMADO_INSTITUCION: "Firmado por la institución",
    FIRMADO_PROVEEDOR: "Firmado por el proveedor",
    VIGENTE: "Vigente",
    CONCLUIDO: "Concluido",
    RESCINDIDO: "Rescindido",
}
TRANSITIONS = {
    BORRADOR: frozenset({FIRMADO_INSTITUCION, RESCINDIDO}),
    FIRMADO_INSTITUCION: frozenset({FIRMADO_PROVEEDOR, RESCINDIDO}),
    FIRMADO_PROVEEDOR: frozenset({VIGENTE, RESCINDIDO}),
    VIGENTE: frozenset({CONCLUIDO, RESCINDIDO}),
    CONCLUIDO: frozenset(),
    RESCINDIDO: frozenset(),
}


def check_transition(current: str, target: str) -> None:
    """Refuse a move the contract's life does not allow (409: it is in another status)."""
    if target not in TRANSITIONS[current]:
        raise Conflict(
            f"El contrato está «{STATUS_LABELS[current]}»; no puede pasar a "
            f"«{STATUS_LABELS[target]}».",
            problems=[
                Problem(
                    "Transición no permitida",
                    field="status",
                    value=current,
                    expected=" o ".join(sorted(TRANSITIONS[current])) or "ninguna (es final)",
                )
            ],
        )


ORDER_EMITIDA = "emitida"
ORDER_CONFIRMADA = "confirmada"
ORDER_SURTIDA = "surtida"
ORDER_CERRADA = "cerrada"
ORDER_CANCELADA = "cancelada"
ORDER_LABELS = {
    ORDER_EMITIDA: "Emitida",
    ORDER_CONFIRMADA: "Confirmada por el proveedor",
    ORDER_SURTIDA: "Surtida",
    ORDER_CERRADA: "Cerrada con faltante",
    ORDER_CANCELADA: "Cancelada",
}
REJECTION_REASONS = {
    "danado": "Producto dañado",
    "caducidad_corta": "Caducidad menor a la mínima",
    "presentacion": "Presentación distinta a la contratada",
    "sin_registro": "Sin registro sanitario o distinto al ofertado",
}


# ----- days ----------------------------------------------------------------------------------


def signing_deadline(notice: datetime, days: int = SIGNING_DAYS) -> date:
    """The last natural day to sign: ``days`` after the day of the fallo's notice."""
    return local_day(notice) + timedelta(days=days)


def signed_late(notice: datetime, signed: datetime, days: int = SIGNING_DAYS) -> bool:
    """Signed after the deadline's day ended (the whole last day counts)."""
    return local_day(signed) > signing_deadline(notice, days)


def due_date(issued: datetime, days: int = DELIVERY_DAYS) -> date:
    return local_day(issued) + timedelta(days=days)


def days_late(due: date, received: date) -> int:
    """Natural days after the due date; delivered on the due date is on time."""
    return max(0, (received - due).days)


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later; the month's last day when it has fewer days."""
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def shelf_life_ok(received: date, expiry: date, months: int = SHELF_LIFE_MONTHS) -> bool:
    """At least ``months`` of life left at receipt: expiring exactly then is enough."""
    return expiry >= add_months(received, months)


def shelf_life_problem(
    received: date, expiry: date, months: int, *, lot: str, field: str = "expiry"
) -> Problem | None:
    if shelf_life_ok(received, expiry, months):
        return None
    return Problem(
        f"El lote {lot} caduca antes de {months} meses desde su recepción",
        field=field,
        value=expiry.isoformat(),
        expected=f"caducidad el {add_months(received, months).isoformat()} o después",
    )


# ----- money ---------------------------------------------------------------------------------


def amount(quantity: int, unit_price: Decimal) -> Decimal:
    return to_money(unit_price * quantity)


def guarantee_amount(max_amount: Decimal, rate: Decimal = GUARANTEE_RATE) -> Decimal:
    """The garantía de cumplimiento: ``rate`` of the maximum amount before IVA, to the centavo."""
    return to_money(max_amount * rate)


def late_penalty(value_late: Decimal, days: int, rate: Decimal = PENALTY_RATE) -> Decimal:
    """Pena convencional of one delivery: ``rate`` × natural days late × the value delivered
    late, unrounded (an order's penalties are summed, then rounded once)."""
    return value_late * rate * days


def deductiva(value_short: Decimal, rate: Decimal = DEDUCTIVA_RATE) -> Decimal:
    """Deductiva for pieces rejected or not supplied: ``rate`` of their value."""
    return value_short * rate


@dataclass(frozen=True, slots=True)
class Capped:
    """A penalty as computed and as charged once the contract's cap is applied."""

    computed: Decimal
    charged: Decimal
    reaches_cap: bool


def cap_penalty(computed: Decimal, accrued: Decimal, cap: Decimal) -> Capped:
    """Charge at most what is left under the cap (the guarantee's amount); reaching it marks
    the contract for rescisión (the buyer decides)."""
    computed = to_money(computed)
    room = max(Decimal(0), cap - accrued)
    charged = min(computed, room)
    return Capped(computed, charged, accrued + charged >= cap and cap > 0)


# ----- convenios modificatorios ---------------------------------------------------------------


def modification_limit(original: int, cap: Decimal = MODIFICATION_CAP) -> int:
    """The most whole units (pieces, days) a quantity may grow by in total: ⌊original × cap⌋."""
    return math.floor(original * cap)


def check_modification(
    *,
    what: str,
    field: str,
    original: int,
    current: int,
    proposed: int,
    cap: Decimal = MODIFICATION_CAP,
    money: bool = False,
) -> Problem | None:
    """A problem when ``proposed`` takes the total increase over ``original`` beyond ``cap``
    (or below what is already committed), with the figures; None when allowed.

    ``original`` and ``proposed`` are pieces, days or centavos (``money``)."""
    limit = original + modification_limit(original, cap)

    def shown(value: int) -> str:
        return format_mxn(Decimal(value) / 100) if money else format_int(value)

    if proposed > limit:
        return Problem(
            f"{what}: {shown(proposed)} supera el {format_percent(cap)} permitido sobre lo "
            f"contratado ({shown(original)}); el máximo es {shown(limit)}, "
            f"{shown(proposed - limit)} de más",
            field=field,
            value=shown(proposed),
            expected=f"a lo más {shown(limit)}",
        )
    if proposed < current:
        return Problem(
            f"{what}: un convenio sólo amplía; {shown(proposed)} es menos que lo vigente "
            f"({shown(current)})",
            field=field,
            value=shown(proposed),
            expected=f"entre {shown(current)} y {shown(limit)}",
        )
    return None


def refuse(detail: str, problems: list[Problem]) -> None:
    if problems:
        raise ValidationFailed(detail, problems=problems)


# ----- orders against the maximum -------------------------------------------------------------


def order_problem(*, clave: str, max_qty: int, ordered: int, quantity: int) -> Problem | None:
    """An order may not take a line's orders above its maximum (cancelled ones do not count)."""
    if quantity < 1:
        return Problem(
            "La cantidad de una orden debe ser positiva",
            field="quantity",
            value=str(quantity),
            expected="un entero de 1 o más",
        )
    if ordered + quantity > max_qty:
        return Problem(
            f"Clave {clave}: {format_int(ordered)} piezas ya ordenadas + {format_int(quantity)} "
            f"= {format_int(ordered + quantity)} superan el máximo contratado de "
            f"{format_int(max_qty)}; quedan {format_int(max_qty - ordered)}",
            field="quantity",
            value=str(quantity),
            expected=f"a lo más {format_int(max_qty - ordered)}",
        )
    return None


def minimum_progress(ordered: int, min_qty: int) -> Decimal:
    """How much of the contracted minimum the orders cover, 0–1 (1 when there is none)."""
    if min_qty <= 0:
        return Decimal(1)
    return min(Decimal(1), Decimal(ordered) / Decimal(min_qty))


# ----- fill rate ---------------------------------------------------------------------------------


def fill_rate(on_time_accepted: int, ordered_due: int) -> Decimal | None:
    """Nivel de surtimiento: pieces delivered on time and accepted ÷ pieces ordered and due;
    None when nothing was due yet."""
    if ordered_due <= 0:
        return None
    return Decimal(on_time_accepted) / Decimal(ordered_due)


def minimum_lot(max_qty: int, deliveries: int = DELIVERIES_PER_TERM) -> int:
    """One delivery's worth of a partida's maximum: the award's default minimum lot."""
    return max(1, math.ceil(max_qty / deliveries))


def terms_of(given: dict[str, object]) -> Terms:
    """A tender's contract terms (among its award terms), defaults where it names none."""
    base = Terms()

    def rate(name: str, default: Decimal) -> Decimal:
        value = given.get(name)
        return default if value is None else Decimal(str(value))

    def whole(name: str, default: int) -> int:
        value = given.get(name)
        return default if value is None else int(str(value))

    return Terms(
        signing_days=whole("signing_days", base.signing_days),
        guarantee_rate=rate("guarantee_rate", base.guarantee_rate),
        modification_cap=rate("modification_cap", base.modification_cap),
        penalty_rate=rate("penalty_rate", base.penalty_rate),
        deductiva_rate=rate("deductiva_rate", base.deductiva_rate),
        shelf_life_months=whole("shelf_life_months", base.shelf_life_months),
        delivery_days=whole("delivery_days", base.delivery_days),
    )


def terms_payload(terms: Terms) -> dict[str, object]:
    return {
        "signing_days": terms.signing_days,
        "guarantee_rate": str(terms.guarantee_rate),
        "modification_cap": str(terms.modification_cap),
        "penalty_rate": str(terms.penalty_rate),
        "deductiva_rate": str(terms.deductiva_rate),
        "shelf_life_months": terms.shelf_life_months,
        "delivery_days": terms.delivery_days,
    }
