"""Pure rules of the award: economic evaluation, the per-partida award modes, and the checker.

Everything here takes values and returns values; the whole-tender model solved with HiGHS lives
in ``model.py`` and reports its result in the same shapes, so one checker judges every mode.

**Economic evaluation** of each bid line of a partida, in this order (a line may fail several):

1. *no cumple técnicamente*: the evaluator marked the line non-compliant (``compliant=False``);
2. *sobre presupuesto*: its unit price is above the partida's budget unit price, when given;
3. *precio no aceptable*: more than ``acceptable_margin`` (10 %) above the reference price;
   exactly at the margin is acceptable, one cent above is not;
4. *precio no conveniente*: more than ``convenient_margin`` (40 %) below the average price of the
   lines of the partida that passed 1–3 (the line itself included); exactly at the limit is
   convenient. Comparisons are exact (``price·n < sum·(1 − margin)``), never rounded.

A line that passes all four is *solvente*. Solvent lines of a partida are ranked by unit price,
then earlier receipt, then bid id: that ranking breaks every tie, in every mode.

**The margin rule** (all modes): a partida's quantity goes to the solvent lines whose price is at
most ``(1 + split_margin)`` × the lowest solvent price. Lines beyond that margin may receive
quantity only in a partida whose lines within the margin do not offer its whole demand between
them (``eligible_offers``). This is decided per partida from the offered quantities, so in the
whole-tender model a supplier's capacity or the maximum share never opens the door to a price
beyond the margin: a partida that the lines within the margin could cover, but whose suppliers
have no capacity left, is (partly) desierta for capacity.

**Modes**

- ``lowest``: the best-ranked solvent line takes the partida; if it offers less than the demand,
  the remainder goes to the next line in the ranking, and so on (a cascade).
- ``split`` (*abastecimiento simultáneo*): the lines within the margin take the places of the
  share list in ranking order (60/40, 50/30/20, …). Each place's quantity is
  ``floor(demand × share / 100)``, the rounding leftover going to the first place; when fewer
  lines are within the margin than there are shares, the shares of the missing places are added
  to the first place. A place never gets more than its line offers: what a place cannot take,
  and what is left after the places, goes in ranking order to the lines that can still take more
  — first those within the margin, then (margin rule) those beyond it. What nobody can take is
  desierta.
- ``optimal``: the whole-tender model in ``model.py`` (capacity, maximum share per supplier,
  minimum suppliers for critical partidas).

``lowest`` and ``split`` apply the per-partida rules only; they honour each line's offered
quantity but not the tender-wide constraints. ``check`` holds each result to the rules its mode
promises, and to the tender-wide ones too when asked (``tender_wide=True``), which shows where
the lowest price would overrun a supplier.

**Critical partidas** need at least ``required_suppliers`` distinct suppliers, each awarded at
least ``max(1, ceil(critical_min_share × demand))`` units to count. The requirement is
``min_suppliers_critical``, lowered to what the eligible lines allow (how many suppliers offer
that much, and how many such portions fit in the demand). When capacity or the maximum share
leave a critical partida short of suppliers, the result says so (``suppliers_short`` and its
reason) instead of failing.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from abasto.core.errors import Problem, ValidationFailed
from abasto.core.money import format_mxn, format_percent

MAX_SPLIT_MARGIN = Decimal("0.10")
"""The law's ceiling for the margin of an *abastecimiento simultáneo*."""
LOT_DELIVERIES = 12
"""Deliveries an open contract's maximum is spread over (monthly for a year): one delivery's
worth is the default minimum lot of the optimal award."""
HUNDRED = Decimal(100)


# ----- the instance --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Parameters:
    """The tender's award parameters, as announced in the call."""

    acceptable_margin: Decimal = Decimal("0.10")
    """Precio no aceptable: more than this above the reference price."""
    convenient_margin: Decimal = Decimal("0.40")
    """Precio no conveniente: more than this below the average of the solvent prices."""
    split_margin: Decimal = Decimal("0.10")
    """Abastecimiento simultáneo (and the margin rule of every mode); at most 10 %."""
    split_shares: tuple[Decimal, ...] = (Decimal(60), Decimal(40))
    """Percentages of the places of a split, first place first; they add up to 100."""
    max_supplier_share: Decimal | None = None
    """Most of the total awarded value one supplier may receive (0.15 = 15 %); None: no limit."""
    min_suppliers_critical: int = 2
    critical_min_share: Decimal = Decimal(0)
    """Least share of a critical partida's demand a supplier must get to count (0: one unit)."""
    lot_deliveries: int | None = LOT_DELIVERIES
    """The optimal award gives a bid line nothing or at least one delivery's worth of the
    partida's demand, ``⌈demand / lot_deliveries⌉`` (the minimum lot); None: any quantity."""


@dataclass(frozen=True, slots=True)
class Partida:
    number: int
    clave: str
    max_qty: int
    """The demand to cover: the maximum quantity of the open contract."""
    reference_price: Decimal
    """Market-research reference (median) unit price."""
    budget_price: Decimal | None = None
    critical: bool = False


@dataclass(frozen=True, slots=True)
class BidLine:
    partida: int
    unit_price: Decimal
    offered_qty: int
    compliant: bool = True
    """Outcome of the technical evaluation (binary)."""


@dataclass(frozen=True, slots=True)
class Bid:
    id: str
    supplier: str
    received_at: datetime
    lines: tuple[BidLine, ...]


@dataclass(frozen=True, slots=True)
class Supplier:
    id: str
    capacity: int | None = None
    """Most units the supplier can deliver across all its partidas; None: not declared."""


@dataclass(frozen=True, slots=True)
class Instance:
    partidas: tuple[Partida, ...]
    bids: tuple[Bid, ...]
    suppliers: tuple[Supplier, ...]
    parameters: Parameters = field(default_factory=Parameters)


def parameter_problems(parameters: Parameters) -> list[Problem]:
    """What is wrong with the award parameters, each with the field and what was expected."""
    p = parameters
    found: list[Problem] = []

    def bad(name: str, message: str, value: object, expected: str) -> None:
        found.append(
            Problem(message, field=f"parameters.{name}", value=str(value), expected=expected)
        )

    if p.acceptable_margin < 0:
        bad("acceptable_margin", "margen negativo", p.acceptable_margin, "0 o más, p. ej. 0.10")
    if not 0 <= p.convenient_margin < 1:
        bad(
            "convenient_margin",
            "margen fuera de rango",
            p.convenient_margin,
            "entre 0 y menos de 1, p. ej. 0.40",
        )
    if p.split_margin < 0 or p.split_margin > MAX_SPLIT_MARGIN:
        bad(
            "split_margin",
            "el margen del abastecimiento simultáneo no puede exceder 10 %",
            p.split_margin,
            "entre 0 y 0.10",
        )
    if not p.split_shares or any(share <= 0 for share in p.split_shares):
        bad(
            "split_shares",
            "los porcentajes del abastecimiento simultáneo deben ser positivos",
            _shares_text(p.split_shares),
            "p. ej. 60, 40",
        )
    elif sum(p.split_shares) != HUNDRED:
        bad(
            "split_shares",
            f"los porcentajes del abastecimiento simultáneo suman {sum(p.split_shares)} %, "
            "no 100 %",
            _shares_text(p.split_shares),
            "porcentajes que sumen 100, p. ej. 60, 40 o 50, 30, 20",
        )
    if p.max_supplier_share is not None and not 0 < p.max_supplier_share <= 1:
        bad(
            "max_supplier_share",
            "participación máxima fuera de rango",
            p.max_supplier_share,
            "mayor que 0 y a lo más 1, p. ej. 0.15; o ninguna",
        )
    if p.lot_deliveries is not None and not 1 <= p.lot_deliveries <= 366:
        bad(
            "lot_deliveries",
            "número de entregas no válido",
            p.lot_deliveries,
            "entre 1 y 366 entregas (el lote mínimo es la demanda entre ellas); o ninguno",
        )
    if p.min_suppliers_critical < 1:
        bad(
            "min_suppliers_critical",
            "mínimo de proveedores no válido",
            p.min_suppliers_critical,
            "1 o más",
        )
    if not 0 <= p.critical_min_share <= 1:
        bad(
            "critical_min_share",
            "proporción mínima fuera de rango",
            p.critical_min_share,
            "entre 0 y 1",
        )
    return found


def instance_problems(instance: Instance) -> list[Problem]:
    """Every value in the instance that breaks a rule (types are the reader's business)."""
    found = parameter_problems(instance.parameters)
    numbers: set[int] = set()
    for i, partida in enumerate(instance.partidas):
        where = f"partidas[{i}]"
        if partida.number in numbers:
            found.append(
                Problem("partida repetida", field=f"{where}.number", value=str(partida.number))
            )
        numbers.add(partida.number)
        if partida.max_qty <= 0:
            found.append(
                Problem(
                    "la cantidad máxima debe ser mayor que cero",
                    field=f"{where}.max_qty",
                    value=str(partida.max_qty),
                )
            )
        for name, price in (
            ("reference_price", partida.reference_price),
            ("budget_price", partida.budget_price),
        ):
            if price is not None and price <= 0:
                found.append(
                    Problem(
                        "el precio debe ser mayor que cero",
                        field=f"{where}.{name}",
                        value=str(price),
                    )
                )
    supplier_ids: set[str] = set()
    for i, supplier in enumerate(instance.suppliers):
        where = f"suppliers[{i}]"
        if supplier.id in supplier_ids:
            found.append(Problem("proveedor repetido", field=f"{where}.id", value=supplier.id))
        supplier_ids.add(supplier.id)
        if supplier.capacity is not None and supplier.capacity <= 0:
            found.append(
                Problem(
                    "la capacidad debe ser positiva o no declararse",
                    field=f"{where}.capacity",
                    value=str(supplier.capacity),
                    expected="un número entero de piezas mayor que cero, o null",
                )
            )
    bid_ids: set[str] = set()
    for i, bid in enumerate(instance.bids):
        where = f"bids[{i}]"
        if bid.id in bid_ids:
            found.append(Problem("proposición repetida", field=f"{where}.id", value=bid.id))
        bid_ids.add(bid.id)
        if bid.supplier not in supplier_ids:
            found.append(
                Problem(
                    "el proveedor no está en la lista de proveedores",
                    field=f"{where}.supplier",
                    value=bid.supplier,
                    expected="un id de «suppliers»",
                )
            )
        if bid.received_at.utcoffset() is None:
            found.append(
                Problem(
                    "la hora de recepción no indica su zona horaria",
                    field=f"{where}.received_at",
                    value=bid.received_at.isoformat(),
                    expected="ISO 8601 con desfase, p. ej. 2026-11-02T10:00:00-06:00",
                )
            )
        seen: set[int] = set()
        for j, line in enumerate(bid.lines):
            at = f"{where}.lines[{j}]"
            if line.partida not in numbers:
                found.append(
                    Problem("la partida no existe", field=f"{at}.partida", value=str(line.partida))
                )
            if line.partida in seen:
                found.append(
                    Problem(
                        "la proposición repite la partida",
                        field=f"{at}.partida",
                        value=str(line.partida),
                        expected="una línea por partida en cada proposición",
                    )
                )
            seen.add(line.partida)
            if line.unit_price <= 0:
                found.append(
                    Problem(
                        "el precio debe ser mayor que cero",
                        field=f"{at}.unit_price",
                        value=str(line.unit_price),
                    )
                )
            if line.offered_qty <= 0:
                found.append(
                    Problem(
                        "la cantidad ofertada debe ser mayor que cero",
                        field=f"{at}.offered_qty",
                        value=str(line.offered_qty),
                    )
                )
    return found


def validated(instance: Instance) -> Instance:
    """The instance itself, or ``ValidationFailed`` listing every problem in it."""
    found = instance_problems(instance)
    if found:
        raise ValidationFailed("La instancia de adjudicación no es válida", problems=found)
    return instance


def _shares_text(shares: Sequence[Decimal]) -> str:
    return ", ".join(f"{share.normalize():f}" for share in shares)


# ----- economic evaluation -------------------------------------------------------------------


class Outcome(StrEnum):
    NOT_COMPLIANT = "no_cumple"
    ABOVE_BUDGET = "sobre_presupuesto"
    NOT_ACCEPTABLE = "precio_no_aceptable"
    NOT_CONVENIENT = "precio_no_conveniente"


@dataclass(frozen=True, slots=True)
class Finding:
    """Why a line is not solvent, with the numbers: the limit it crossed and what it came from."""

    outcome: Outcome
    message: str
    limit: Decimal | None = None
    basis: Decimal | None = None
    """The budget price, the reference price or the average the limit derives from."""


@dataclass(frozen=True, slots=True)
class EvaluatedLine:
    bid_id: str
    supplier: str
    received_at: datetime
    partida: int
    unit_price: Decimal
    offered_qty: int
    findings: tuple[Finding, ...] = ()

    @property
    def solvent(self) -> bool:
        return not self.findings

    @property
    def rank(self) -> tuple[Decimal, datetime, str]:
        """Lower is better: price, then earlier receipt, then bid id."""
        return (self.unit_price, self.received_at, self.bid_id)


@dataclass(frozen=True, slots=True)
class Evaluation:
    lines: dict[int, tuple[EvaluatedLine, ...]]
    """Every line of every partida (a partida with no bid maps to an empty tuple)."""
    offers: dict[int, tuple[EvaluatedLine, ...]]
    """The solvent lines of each partida, ranked."""


def evaluate(instance: Instance) -> Evaluation:
    """Evaluate every bid line of every partida: solvent, or not and why."""
    params = instance.parameters
    raw: dict[int, list[EvaluatedLine]] = {p.number: [] for p in instance.partidas}
    for bid in instance.bids:
        for line in bid.lines:
            raw[line.partida].append(
                EvaluatedLine(
                    bid_id=bid.id,
                    supplier=bid.supplier,
                    received_at=bid.received_at,
                    partida=line.partida,
                    unit_price=line.unit_price,
                    offered_qty=line.offered_qty,
                    findings=() if line.compliant else (_not_compliant(),),
                )
            )
    lines: dict[int, tuple[EvaluatedLine, ...]] = {}
    offers: dict[int, tuple[EvaluatedLine, ...]] = {}
    for partida in instance.partidas:
        evaluated = _evaluate_partida(partida, raw[partida.number], params)
        lines[partida.number] = tuple(sorted(evaluated, key=lambda e: e.rank))
        offers[partida.number] = tuple(e for e in lines[partida.number] if e.solvent)
    return Evaluation(lines=lines, offers=offers)


def _evaluate_partida(
    partida: Partida, lines: list[EvaluatedLine], params: Parameters
) -> list[EvaluatedLine]:
    acceptable_limit = partida.reference_price * (1 + params.acceptable_margin)
    first: list[EvaluatedLine] = []
    for line in lines:
        findings = list(line.findings)
        if partida.budget_price is not None and line.unit_price > partida.budget_price:
            findings.append(
                Finding(
                    Outcome.ABOVE_BUDGET,
                    f"sobre presupuesto: {format_mxn(line.unit_price)} excede el precio unitario "
                    f"presupuestado de {format_mxn(partida.budget_price)}",
                    limit=partida.budget_price,
                    basis=partida.budget_price,
                )
            )
        if line.unit_price > acceptable_limit:
            findings.append(
                Finding(
                    Outcome.NOT_ACCEPTABLE,
                    f"precio no aceptable: {format_mxn(line.unit_price)} excede en más de "
                    f"{format_percent(params.acceptable_margin)} el precio de referencia de "
                    f"{format_mxn(partida.reference_price)} (límite "
                    f"{_exact_mxn(acceptable_limit)})",
                    limit=acceptable_limit,
                    basis=partida.reference_price,
                )
            )
        first.append(_with(line, findings))
    passing = [line for line in first if line.solvent]
    if not passing:
        return first
    total = sum((line.unit_price for line in passing), Decimal(0))
    count = len(passing)
    keep = 1 - params.convenient_margin
    average = total / count
    limit = average * keep
    result: list[EvaluatedLine] = []
    for line in first:
        # Exact: price < (total / count) × keep  ⇔  price × count < total × keep.
        if line.solvent and line.unit_price * count < total * keep:
            line = _with(
                line,
                [
                    Finding(
                        Outcome.NOT_CONVENIENT,
                        f"precio no conveniente: {format_mxn(line.unit_price)} está más de "
                        f"{format_percent(params.convenient_margin)} por debajo del promedio de "
                        f"{_exact_mxn(average)} de las proposiciones aceptables (límite "
                        f"{_exact_mxn(limit)})",
                        limit=limit,
                        basis=average,
                    )
                ],
            )
        result.append(line)
    return result


def _not_compliant() -> Finding:
    return Finding(Outcome.NOT_COMPLIANT, "no cumple técnicamente")


def _with(line: EvaluatedLine, findings: Sequence[Finding]) -> EvaluatedLine:
    return EvaluatedLine(
        bid_id=line.bid_id,
        supplier=line.supplier,
        received_at=line.received_at,
        partida=line.partida,
        unit_price=line.unit_price,
        offered_qty=line.offered_qty,
        findings=tuple(findings),
    )


def _exact_mxn(value: Decimal) -> str:
    """Money that may carry more than two decimals (a limit), shown without rounding it up."""
    if value == value.quantize(Decimal("0.01")):
        return format_mxn(value)
    return f"${value.quantize(Decimal('0.0001')):,}"


# ----- the margin rule and critical partidas -------------------------------------------------


def within_margin(offers: Sequence[EvaluatedLine], margin: Decimal) -> tuple[EvaluatedLine, ...]:
    """The ranked solvent lines priced at most ``(1 + margin)`` × the lowest."""
    if not offers:
        return ()
    ceiling = offers[0].unit_price * (1 + margin)
    return tuple(o for o in offers if o.unit_price <= ceiling)


def eligible_offers(
    offers: Sequence[EvaluatedLine], demand: int, margin: Decimal
) -> tuple[EvaluatedLine, ...]:
    """The lines that may receive quantity: those within the margin, or all the solvent ones
    when those within the margin do not offer the whole demand between them."""
    near = within_margin(offers, margin)
    if sum(o.offered_qty for o in near) >= demand:
        return near
    return tuple(offers)


def minimum_lot(partida: Partida, params: Parameters) -> int:
    """The least a bid line may be awarded in the optimal mode, if anything: one delivery's
    worth of the demand (an open contract's maximum delivered monthly over a year: 1/12)."""
    if params.lot_deliveries is None:
        return 1
    return max(1, math.ceil(partida.max_qty / params.lot_deliveries))


def counting_minimum(partida: Partida, params: Parameters) -> int:
    """Units a supplier must be awarded in a critical partida to count as one of its suppliers."""
    return max(1, math.ceil(params.critical_min_share * partida.max_qty))


def required_suppliers(
    partida: Partida, eligible: Sequence[EvaluatedLine], params: Parameters
) -> int:
    """Distinct suppliers a critical partida needs (0 for the others), lowered to what its
    eligible lines allow: suppliers that offer the counting minimum, portions that fit."""
    if not partida.critical:
        return 0
    least = counting_minimum(partida, params)
    offered: dict[str, int] = defaultdict(int)
    for offer in eligible:
        offered[offer.supplier] += offer.offered_qty
    able = sum(1 for qty in offered.values() if qty >= least)
    return min(params.min_suppliers_critical, able, partida.max_qty // least)


def apportion(total: int, weights: Sequence[int]) -> list[int]:
    """``total`` whole units split in proportion to ``weights``, adding up exactly (largest
    remainder; ties go to the earlier weight)."""
    whole = sum(weights)
    if total <= 0 or whole <= 0:
        return [0 for _ in weights]
    shares = [total * w // whole for w in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in remainders[: total - sum(shares)]:
        shares[i] += 1
    return shares


def apportion_lots(total: int, weights: Sequence[int], least: int) -> list[int]:
    """``total`` split as ``apportion`` does, but no positive share below ``least`` (a contract
    line of a few pieces is not worth signing): while a share is under it, the smallest weight
    with such a share (the later on a tie) drops out and the total is split again over the
    others, so its part goes to them in proportion. The last weight standing takes the whole
    total, even below ``least`` (the award never gives a line less than its lot)."""
    active = [w if w > 0 else 0 for w in weights]
    while True:
        shares = apportion(total, active)
        small = [i for i, share in enumerate(shares) if active[i] and share < least]
        if not small or sum(1 for w in active if w) <= 1:
            return shares
        active[min(small, key=lambda i: (active[i], -i))] = 0


# ----- results -------------------------------------------------------------------------------


class Mode(StrEnum):
    LOWEST = "lowest"
    SPLIT = "split"
    OPTIMAL = "optimal"


class Shortfall(StrEnum):
    """Why a partida is (partly) desierta, or a critical partida short of suppliers."""

    NO_BIDS = "sin_proposiciones"
    NONE_SOLVENT = "sin_solventes"
    OFFER_SHORT = "cantidad_ofertada_insuficiente"
    CAPACITY = "capacidad_insuficiente"
    MAX_SHARE = "participacion_maxima"


@dataclass(frozen=True, slots=True)
class Reason:
    code: Shortfall
    message: str


@dataclass(frozen=True, slots=True)
class Winner:
    bid_id: str
    supplier: str
    quantity: int
    unit_price: Decimal

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True, slots=True)
class PartidaAward:
    number: int
    clave: str
    demand: int
    winners: tuple[Winner, ...]
    uncovered: int = 0
    reason: Reason | None = None
    """Why ``uncovered`` units are desierta."""
    suppliers_required: int = 0
    """Suppliers the mode promised this critical partida (0: not promised)."""
    suppliers_short: int = 0
    shortfall_reason: Reason | None = None

    @property
    def awarded(self) -> int:
        return sum(w.quantity for w in self.winners)

    @property
    def total(self) -> Decimal:
        return sum((w.total for w in self.winners), Decimal(0))

    @property
    def status(self) -> str:
        if self.uncovered == 0:
            return "adjudicada"
        return "parcial" if self.winners else "desierta"


@dataclass(frozen=True, slots=True)
class AwardResult:
    mode: Mode
    status: str
    """``optimal``, ``feasible`` (stopped with a solution), or ``rule`` for the rule modes."""
    partidas: tuple[PartidaAward, ...]
    objective: Decimal
    """Total cost of the awarded quantities, exact."""
    gap: float | None = None
    """Relative optimality gap reported by the solver (``optimal`` mode only)."""
    build_seconds: float = 0.0
    solve_seconds: float = 0.0
    evaluation: Evaluation | None = None

    @property
    def desiertas(self) -> tuple[PartidaAward, ...]:
        return tuple(p for p in self.partidas if p.uncovered)


def assemble(
    instance: Instance,
    evaluation: Evaluation,
    quantities: Mapping[tuple[int, str], int],
    *,
    mode: Mode,
    status: str,
    gap: float | None = None,
    build_seconds: float = 0.0,
    solve_seconds: float = 0.0,
    suppliers_required: Mapping[int, int] | None = None,
    used_capacity: Mapping[str, int] | None = None,
) -> AwardResult:
    """The result of any mode from its quantities per ``(partida, bid id)``, with reasons."""
    capacities = {s.id: s.capacity for s in instance.suppliers}
    full_suppliers = {
        s
        for s, used in (used_capacity or {}).items()
        if (capacity := capacities.get(s)) is not None and used >= capacity
    }
    required = suppliers_required or {}
    awards: list[PartidaAward] = []
    for partida in instance.partidas:
        winners = tuple(
            Winner(o.bid_id, o.supplier, quantities[(partida.number, o.bid_id)], o.unit_price)
            for o in evaluation.offers[partida.number]
            if quantities.get((partida.number, o.bid_id), 0) > 0
        )
        uncovered = partida.max_qty - sum(w.quantity for w in winners)
        reason = (
            _desierta_reason(instance, evaluation, partida, uncovered, full_suppliers)
            if uncovered
            else None
        )
        needed = required.get(partida.number, 0)
        short = 0
        shortfall_reason = None
        if needed:
            least = counting_minimum(partida, instance.parameters)
            per_supplier: dict[str, int] = defaultdict(int)
            for w in winners:
                per_supplier[w.supplier] += w.quantity
            short = max(0, needed - sum(1 for q in per_supplier.values() if q >= least))
            if short:
                shortfall_reason = _blocked(instance, evaluation, partida, full_suppliers)
        awards.append(
            PartidaAward(
                number=partida.number,
                clave=partida.clave,
                demand=partida.max_qty,
                winners=winners,
                uncovered=uncovered,
                reason=reason,
                suppliers_required=needed,
                suppliers_short=short,
                shortfall_reason=shortfall_reason,
            )
        )
    objective = sum((a.total for a in awards), Decimal(0))
    return AwardResult(
        mode=mode,
        status=status,
        partidas=tuple(awards),
        objective=objective,
        gap=gap,
        build_seconds=build_seconds,
        solve_seconds=solve_seconds,
        evaluation=evaluation,
    )


def _desierta_reason(
    instance: Instance,
    evaluation: Evaluation,
    partida: Partida,
    uncovered: int,
    full_suppliers: set[str],
) -> Reason:
    lines = evaluation.lines[partida.number]
    if not lines:
        return Reason(Shortfall.NO_BIDS, "no se recibieron proposiciones")
    offers = evaluation.offers[partida.number]
    if not offers:
        counts: dict[str, int] = defaultdict(int)
        for line in lines:
            for finding in line.findings:
                counts[_OUTCOME_LABELS[finding.outcome]] += 1
        detail = ", ".join(f"{label}: {n}" for label, n in counts.items())
        return Reason(
            Shortfall.NONE_SOLVENT,
            f"ninguna de sus {len(lines)} proposiciones es solvente ({detail})",
        )
    eligible = eligible_offers(offers, partida.max_qty, instance.parameters.split_margin)
    offered = sum(o.offered_qty for o in eligible)
    if partida.max_qty - offered >= uncovered:
        return Reason(
            Shortfall.OFFER_SHORT,
            f"las proposiciones solventes ofrecen {offered:,} de {partida.max_qty:,} piezas",
        )
    return _blocked(instance, evaluation, partida, full_suppliers)


def _blocked(
    instance: Instance, evaluation: Evaluation, partida: Partida, full_suppliers: set[str]
) -> Reason:
    """Tender-wide limits that left a partida short (best attribution: capacity if one of its
    suppliers used all of it, otherwise the maximum share)."""
    eligible = eligible_offers(
        evaluation.offers[partida.number], partida.max_qty, instance.parameters.split_margin
    )
    full = sorted({o.supplier for o in eligible} & full_suppliers)
    if full or instance.parameters.max_supplier_share is None:
        names = ", ".join(full) if full else "sus proveedores"
        return Reason(Shortfall.CAPACITY, f"no alcanza la capacidad declarada de {names}")
    return Reason(
        Shortfall.MAX_SHARE,
        "la participación máxima por proveedor "
        f"({format_percent(instance.parameters.max_supplier_share)} del valor adjudicado) "
        "no permite cubrirla",
    )


_OUTCOME_LABELS = {
    Outcome.NOT_COMPLIANT: "no cumple técnicamente",
    Outcome.ABOVE_BUDGET: "sobre presupuesto",
    Outcome.NOT_ACCEPTABLE: "precio no aceptable",
    Outcome.NOT_CONVENIENT: "precio no conveniente",
}


# ----- the rule modes ------------------------------------------------------------------------


def share_targets(demand: int, shares: Sequence[Decimal], places: int) -> list[int]:
    """Quantities of the first ``places`` places of a split (``places`` ≥ 1): the shares of
    missing places go to the first place, and so does the rounding leftover."""
    used = list(shares[:places])
    used[0] += sum(shares[places:], Decimal(0))
    targets = [int(demand * share // HUNDRED) for share in used]
    targets[0] += demand - sum(targets)
    return targets


def _cascade(
    offers: Sequence[EvaluatedLine], demand: int, targets: Sequence[int], margin: Decimal
) -> dict[str, int]:
    """Quantities per bid id: the first ``len(targets)`` offers get their targets (capped by
    what they offer), then what is left goes in ranking order to whoever can take more,
    those within the margin before the others."""
    given: dict[str, int] = {}
    near = within_margin(offers, margin)
    for offer, target in zip(near, targets, strict=False):
        given[offer.bid_id] = min(target, offer.offered_qty)
    left = demand - sum(given.values())
    ordered = [*near, *(o for o in offers if o not in near)]
    for offer in ordered:
        if left == 0:
            break
        extra = min(left, offer.offered_qty - given.get(offer.bid_id, 0))
        if extra > 0:
            given[offer.bid_id] = given.get(offer.bid_id, 0) + extra
            left -= extra
    return {bid: qty for bid, qty in given.items() if qty > 0}


def award_by_rule(instance: Instance, mode: Mode) -> AwardResult:
    """Award every partida on its own, by lowest price or by abastecimiento simultáneo."""
    if mode is Mode.OPTIMAL:
        raise ValueError("the optimal mode is solved by abasto.award.model")
    validated(instance)
    evaluation = evaluate(instance)
    params = instance.parameters
    quantities: dict[tuple[int, str], int] = {}
    for partida in instance.partidas:
        offers = evaluation.offers[partida.number]
        if not offers:
            continue
        targets: list[int] = []
        if mode is Mode.SPLIT:
            places = min(len(within_margin(offers, params.split_margin)), len(params.split_shares))
            targets = share_targets(partida.max_qty, params.split_shares, places)
        given = _cascade(offers, partida.max_qty, targets, params.split_margin)
        quantities.update({(partida.number, bid): qty for bid, qty in given.items()})
    return assemble(instance, evaluation, quantities, mode=mode, status="rule")


# ----- why each line got what it got --------------------------------------------------------


def explain(instance: Instance, result: AwardResult) -> dict[tuple[int, str], str]:
    """Per ``(partida, bid id)`` of every solvent line: why it got its quantity, or nothing —
    the price, a tie broken by receipt, the capacity, the maximum share, the minimum lot, the
    split's place, a critical partida's suppliers. Stated on the fallo beside each line."""
    params = instance.parameters
    evaluation = result.evaluation or evaluate(instance)
    capacities = {s.id: s.capacity for s in instance.suppliers}
    totals = supplier_totals(result)
    total = result.objective
    share = params.max_supplier_share
    optimal = result.mode is Mode.OPTIMAL
    out: dict[tuple[int, str], str] = {}

    def limits(line: EvaluatedLine) -> list[str]:
        found: list[str] = []
        used, value = totals.get(line.supplier, (0, Decimal(0)))
        capacity = capacities.get(line.supplier)
        if optimal and capacity is not None and used >= capacity:
            found.append(f"limitado por la capacidad declarada del proveedor ({capacity:,} piezas)")
        if optimal and share is not None and value + line.unit_price > share * total:
            found.append(
                f"limitado por la participación máxima del proveedor de {format_percent(share)}"
            )
        return found

    for award in result.partidas:
        partida = next(p for p in instance.partidas if p.number == award.number)
        offers = evaluation.offers[award.number]
        given = {w.bid_id: w.quantity for w in award.winners}
        lot = min(minimum_lot(partida, params), partida.max_qty) if optimal else 1
        near = within_margin(offers, params.split_margin)
        places = min(len(near), len(params.split_shares))
        place_shares = list(params.split_shares[:places])
        if place_shares:
            place_shares[0] += sum(params.split_shares[places:], Decimal(0))
        for i, line in enumerate(offers):
            qty = given.get(line.bid_id, 0)
            tied_before = any(o.unit_price == line.unit_price for o in offers[:i])
            tied_after = any(o.unit_price == line.unit_price for o in offers[i + 1 :])
            why: list[str] = []
            if qty:
                if i == 0 or (tied_before and offers[0].unit_price == line.unit_price):
                    why.append("precio más bajo")
                elif result.mode is Mode.SPLIT and i < places:
                    why.append(f"abastecimiento simultáneo: lugar {i + 1}")
                else:
                    why.append("siguiente precio: las mejor colocadas no cubren la demanda")
                if tied_after and not tied_before:
                    why.append("empate: recibida antes")
                elif tied_before:
                    why.append("empate: recibida después; las recibidas antes no pueden más")
                if qty < min(line.offered_qty, partida.max_qty):
                    if result.mode is Mode.SPLIT and i < places:
                        why.append(f"su lugar del reparto: {place_shares[i].normalize():f} %")
                    why.extend(limits(line))
                    if award.suppliers_required and len(award.winners) > 1:
                        why.append(
                            f"partida crítica: {award.suppliers_required} proveedores al menos"
                        )
                if lot > 1 and qty == lot:
                    why.append(f"lote mínimo de {lot:,} piezas")
                out[(award.number, line.bid_id)] = f"Adjudicadas {qty:,} piezas: {'; '.join(why)}."
                continue
            if lot > 1 and min(line.offered_qty, partida.max_qty) < lot:
                why.append(f"ofrece menos que el lote mínimo de {lot:,} piezas")
            elif line not in near and sum(o.offered_qty for o in near) >= partida.max_qty:
                why.append(
                    f"fuera del margen de {format_percent(params.split_margin)} del precio más bajo"
                )
            elif tied_before and award.uncovered == 0:
                why.append("empate: otra proposición al mismo precio se recibió antes")
            else:
                why.extend(limits(line))
            if not why:
                why.append("hubo mejores precios que cubren la demanda")
            out[(award.number, line.bid_id)] = f"Solvente, no adjudicada: {'; '.join(why)}."
    return out


# ----- the checker ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    message: str
    partida: int | None = None
    supplier: str | None = None

    def __str__(self) -> str:
        where = [f"partida {self.partida}"] if self.partida is not None else []
        if self.supplier is not None:
            where.append(f"proveedor {self.supplier}")
        prefix = f"{', '.join(where)}: " if where else ""
        return f"{prefix}{self.message} [{self.rule}]"


def check(
    instance: Instance, result: AwardResult, *, tender_wide: bool | None = None
) -> list[Violation]:
    """Every constraint ``result`` breaks. Per partida, always: integral positive quantities,
    only solvent lines at their price, at most the offered quantity, at most the demand, the
    whole demand unless the rest is declared desierta with a reason, the margin rule, the total.
    By mode: the ranking cascade (lowest, split) and the share of each place (split). Tender-wide
    (by default for the optimal mode): capacity, maximum share, suppliers of critical partidas.

    It recomputes what it needs from the instance and the evaluation, not from how any mode
    allocates, so it can judge a result however it was made."""
    params = instance.parameters
    evaluation = evaluate(instance)
    if tender_wide is None:
        tender_wide = result.mode is Mode.OPTIMAL
    out: list[Violation] = []
    by_number = {p.number: p for p in instance.partidas}
    seen = [a.number for a in result.partidas]
    for number in sorted(set(by_number) - set(seen)):
        out.append(Violation("partidas", "falta en el resultado", number))
    for number in sorted({n for n in seen if seen.count(n) > 1} | (set(seen) - set(by_number))):
        out.append(Violation("partidas", "sobra o está repetida en el resultado", number))
    supplier_qty: dict[str, int] = defaultdict(int)
    supplier_value: dict[str, Decimal] = defaultdict(Decimal)
    total = Decimal(0)  # as declared, to match the objective; shares use the offered prices
    for award in result.partidas:
        partida = by_number.get(award.number)
        if partida is None:
            continue
        lines = {line.bid_id: line for line in evaluation.lines[partida.number]}
        given: dict[str, int] = {}
        for w in award.winners:
            line = lines.get(w.bid_id)
            out.extend(_check_winner(partida, w, line))
            if line is None:
                continue
            if w.bid_id in given:
                out.append(
                    Violation("proposición", f"{w.bid_id} aparece dos veces", partida.number)
                )
            given[w.bid_id] = given.get(w.bid_id, 0) + w.quantity
            supplier_qty[line.supplier] += w.quantity
            supplier_value[line.supplier] += line.unit_price * w.quantity
            total += w.total
        awarded = sum(given.values())
        out.extend(_check_cover(partida, award, awarded))
        offers = evaluation.offers[partida.number]
        out.extend(_check_margin(partida, offers, given, params.split_margin))
        if result.mode in (Mode.LOWEST, Mode.SPLIT) and offers:
            out.extend(_check_ranking(partida, offers, given, params, result.mode))
        if tender_wide:
            out.extend(_check_critical(partida, award, offers, given, lines, params))
            lot = min(minimum_lot(partida, params), partida.max_qty)
            out.extend(
                Violation(
                    "lote mínimo",
                    f"{bid_id} recibe {qty:,} piezas, menos que el lote mínimo de {lot:,}",
                    partida.number,
                )
                for bid_id, qty in sorted(given.items())
                if 0 < qty < lot
            )
    if total != result.objective:
        out.append(
            Violation(
                "objetivo",
                f"el costo declarado {result.objective} no es la suma de lo adjudicado {total}",
            )
        )
    if tender_wide:
        out.extend(
            _check_suppliers(
                instance, supplier_qty, supplier_value, sum(supplier_value.values(), Decimal(0))
            )
        )
    return out


def _check_winner(partida: Partida, w: Winner, line: EvaluatedLine | None) -> list[Violation]:
    n = partida.number
    if line is None:
        return [Violation("proposición", f"{w.bid_id} no ofertó esta partida", n)]
    out: list[Violation] = []
    if not isinstance(w.quantity, int) or isinstance(w.quantity, bool) or w.quantity <= 0:
        out.append(
            Violation(
                "entero", f"{w.bid_id}: la cantidad {w.quantity!r} no es un entero positivo", n
            )
        )
    elif w.quantity > line.offered_qty:
        out.append(
            Violation(
                "ofertado",
                f"{w.bid_id}: {w.quantity:,} piezas, más de las {line.offered_qty:,} ofertadas",
                n,
                w.supplier,
            )
        )
    if not line.solvent:
        out.append(Violation("solvencia", f"{w.bid_id} no es solvente", n, w.supplier))
    if w.supplier != line.supplier:
        out.append(Violation("proveedor", f"{w.bid_id} es de {line.supplier}", n, w.supplier))
    if w.unit_price != line.unit_price:
        out.append(
            Violation("precio", f"{w.bid_id}: precio {w.unit_price}, ofertado {line.unit_price}", n)
        )
    return out


def _check_cover(partida: Partida, award: PartidaAward, awarded: int) -> list[Violation]:
    n = partida.number
    out: list[Violation] = []
    if award.demand != partida.max_qty:
        out.append(Violation("demanda", f"demanda {award.demand}, no {partida.max_qty}", n))
    if awarded > partida.max_qty:
        out.append(
            Violation("demanda", f"adjudica {awarded:,} de una demanda de {partida.max_qty:,}", n)
        )
    if award.uncovered != partida.max_qty - awarded:
        out.append(
            Violation(
                "desierta",
                f"declara {award.uncovered:,} piezas desiertas; quedan "
                f"{partida.max_qty - awarded:,} sin adjudicar",
                n,
            )
        )
    if (award.uncovered > 0) != (award.reason is not None):
        out.append(Violation("desierta", "motivo de desierta ausente o sobrante", n))
    return out


def _check_margin(
    partida: Partida,
    offers: Sequence[EvaluatedLine],
    given: Mapping[str, int],
    margin: Decimal,
) -> list[Violation]:
    if not offers:
        return []
    ceiling = offers[0].unit_price * (1 + margin)
    near_offered = sum(o.offered_qty for o in offers if o.unit_price <= ceiling)
    if near_offered < partida.max_qty:
        return []
    return [
        Violation(
            "margen",
            f"{o.bid_id} ({format_mxn(o.unit_price)}) está fuera del margen "
            f"{format_percent(margin)} del precio más bajo ({format_mxn(offers[0].unit_price)}) "
            "y las proposiciones dentro del margen cubren la demanda",
            partida.number,
            o.supplier,
        )
        for o in offers
        if o.unit_price > ceiling and given.get(o.bid_id, 0) > 0
    ]


def _check_ranking(
    partida: Partida,
    offers: Sequence[EvaluatedLine],
    given: Mapping[str, int],
    params: Parameters,
    mode: Mode,
) -> list[Violation]:
    """A line gets quantity beyond its place's share only when every line before it in the
    order of the cascade (within the margin first, then the rest, each by ranking) is full."""
    n = partida.number
    ceiling = offers[0].unit_price * (1 + params.split_margin)
    near = [o for o in offers if o.unit_price <= ceiling]
    order = [*near, *(o for o in offers if o.unit_price > ceiling)]
    base: dict[str, int] = {}
    out: list[Violation] = []
    if mode is Mode.SPLIT:
        places = min(len(near), len(params.split_shares))
        shares = list(params.split_shares[:places])
        shares[0] += sum(params.split_shares[places:], Decimal(0))
        targets = [int(partida.max_qty * s // HUNDRED) for s in shares]
        targets[0] += partida.max_qty - sum(targets)
        for offer, target in zip(near, targets, strict=False):
            base[offer.bid_id] = min(target, offer.offered_qty)
            if given.get(offer.bid_id, 0) < base[offer.bid_id]:
                out.append(
                    Violation(
                        "porcentajes",
                        f"{offer.bid_id} recibe {given.get(offer.bid_id, 0):,} piezas; su lugar "
                        f"le da {base[offer.bid_id]:,}",
                        n,
                        offer.supplier,
                    )
                )
    for i, offer in enumerate(order):
        if given.get(offer.bid_id, 0) <= base.get(offer.bid_id, 0):
            continue
        for before in order[:i]:
            if given.get(before.bid_id, 0) < min(before.offered_qty, partida.max_qty):
                out.append(
                    Violation(
                        "orden",
                        f"{offer.bid_id} recibe piezas antes de que {before.bid_id}, mejor "
                        "colocada, reciba todo lo que ofrece",
                        n,
                        offer.supplier,
                    )
                )
                break
    return out


def _check_critical(
    partida: Partida,
    award: PartidaAward,
    offers: Sequence[EvaluatedLine],
    given: Mapping[str, int],
    lines: Mapping[str, EvaluatedLine],
    params: Parameters,
) -> list[Violation]:
    if not partida.critical:
        return []
    eligible = eligible_offers(offers, partida.max_qty, params.split_margin)
    needed = required_suppliers(partida, eligible, params)
    least = counting_minimum(partida, params)
    per_supplier: dict[str, int] = defaultdict(int)
    for bid_id, qty in given.items():
        per_supplier[lines[bid_id].supplier] += qty
    counted = sum(1 for qty in per_supplier.values() if qty >= least)
    short = max(0, needed - counted)
    if short != award.suppliers_short or (short > 0) != (award.shortfall_reason is not None):
        return [
            Violation(
                "proveedores_criticos",
                f"partida crítica con {counted} proveedores de {least:,} piezas o más; requiere "
                f"{needed} y el resultado declara {award.suppliers_short} de menos",
                partida.number,
            )
        ]
    return []


def _check_suppliers(
    instance: Instance,
    supplier_qty: Mapping[str, int],
    supplier_value: Mapping[str, Decimal],
    total: Decimal,
) -> list[Violation]:
    out: list[Violation] = []
    capacities = {s.id: s.capacity for s in instance.suppliers}
    for supplier, qty in sorted(supplier_qty.items()):
        capacity = capacities.get(supplier)
        if capacity is not None and qty > capacity:
            out.append(
                Violation(
                    "capacidad",
                    f"{qty:,} piezas adjudicadas, capacidad {capacity:,}",
                    supplier=supplier,
                )
            )
    share = instance.parameters.max_supplier_share
    if share is not None:
        for supplier, value in sorted(supplier_value.items()):
            if value > share * total:
                out.append(
                    Violation(
                        "participacion",
                        f"{format_mxn(value)} adjudicados, más de "
                        f"{format_percent(share)} de {format_mxn(total)}",
                        supplier=supplier,
                    )
                )
    return out


def supplier_totals(result: AwardResult) -> dict[str, tuple[int, Decimal]]:
    """Units and value awarded to each supplier across the tender."""
    totals: dict[str, tuple[int, Decimal]] = {}
    for award in result.partidas:
        for w in award.winners:
            qty, value = totals.get(w.supplier, (0, Decimal(0)))
            totals[w.supplier] = (qty + w.quantity, value + w.total)
    return totals
