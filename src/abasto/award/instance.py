"""The award instance as JSON (read, write), the award result as JSON, and a generator.

An instance file is one JSON object (unknown keys are ignored)::

    {
      "format": "abasto-award-instance/1",
      "parameters": {                        // optional, and so is every key in it
        "acceptable_margin": "0.10",         // precio no aceptable: > 10 % above the reference
        "convenient_margin": "0.40",         // precio no conveniente: > 40 % below the average
        "split_margin": "0.10",              // abastecimiento simultáneo and margin rule, ≤ 0.10
        "split_shares": ["60", "40"],        // percentages of the places, adding up to 100
        "max_supplier_share": "0.15",        // of the total awarded value; null: no limit
        "min_suppliers_critical": 2,
        "critical_min_share": "0.10",        // least share of a critical partida to count
        "lot_deliveries": 12                 // minimum lot: ⌈demand / 12⌉; null: any quantity
      },
      "partidas": [
        {"number": 1, "clave": "010.000.0104.00", "max_qty": 12000,
         "reference_price": "45.10", "budget_price": "48.00", "critical": false}
      ],                                     // budget_price and critical are optional
      "suppliers": [
        {"id": "PR-0001", "capacity": 250000}, {"id": "PR-0002", "capacity": null}
      ],                                     // capacity in units across all partidas; optional
      "bids": [
        {"id": "B-0001", "supplier": "PR-0001", "received_at": "2026-11-02T10:15:00-06:00",
         "lines": [{"partida": 1, "unit_price": "44.80", "offered_qty": 12000,
                    "compliant": true}]}     // compliant (technical evaluation) is optional
      ]
    }

Money is a string or a number with at most two decimals (read exactly, never as a float);
margins and shares are strings or numbers; quantities and capacities are integers; times are
ISO 8601 with their offset. Every supplier of a bid is listed in ``suppliers``. A file that breaks
any of this is refused with every problem listed (``ValidationFailed``), in Spanish.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from abasto.award import rules
from abasto.award.rules import AwardResult, Bid, BidLine, Instance, Parameters, Partida, Supplier
from abasto.core import numbers
from abasto.core.errors import Problem, ValidationFailed

FORMAT = "abasto-award-instance/1"
EXPECTED = "un archivo JSON de instancia de adjudicación (partidas, bids, suppliers, parameters)"
T = TypeVar("T")


# ----- reading -------------------------------------------------------------------------------


def loads(text: str | bytes) -> Instance:
    """The instance in ``text``; ``ValidationFailed`` says what is wrong and where."""
    try:
        data = json.loads(text, parse_float=Decimal)
    except UnicodeDecodeError:
        raise ValidationFailed("El archivo no está en UTF-8", expected=EXPECTED) from None
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            f"El archivo no es JSON válido: línea {exc.lineno}, columna {exc.colno}: {exc.msg}",
            expected=EXPECTED,
        ) from None
    if not isinstance(data, dict):
        raise ValidationFailed("El archivo no contiene un objeto JSON", expected=EXPECTED)
    reader = _Reader()
    instance = reader.instance(data)
    if reader.problems or instance is None:
        raise ValidationFailed("El archivo de la instancia no es válido", problems=reader.problems)
    return rules.validated(instance)


class _Reader:
    """Converts JSON values to the instance's types, collecting every problem on the way."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def fail(
        self, where: str, message: str, value: Any = None, expected: str | None = None
    ) -> None:
        shown = None if value is None else _shown(value)
        self.problems.append(Problem(message, field=where, value=shown, expected=expected))

    def instance(self, data: Mapping[str, Any]) -> Instance | None:
        fmt = data.get("format", FORMAT)
        if fmt != FORMAT:
            self.fail("format", "formato desconocido", fmt, FORMAT)
        parameters = self.parameters(data.get("parameters", {}))
        partidas = self.items(data, "partidas", self.partida)
        suppliers = self.items(data, "suppliers", self.supplier)
        bids = self.items(data, "bids", self.bid)
        if self.problems or parameters is None:
            return None
        return Instance(
            partidas=tuple(partidas),
            bids=tuple(bids),
            suppliers=tuple(suppliers),
            parameters=parameters,
        )

    def items(
        self,
        data: Mapping[str, Any],
        key: str,
        read: Callable[[str, Any], T | None],
        within: str = "",
    ) -> list[T]:
        where = f"{within}.{key}" if within else key
        raw = data.get(key)
        if not isinstance(raw, list):
            self.fail(where, "falta la lista" if raw is None else "no es una lista", raw)
            return []
        out = [read(f"{where}[{i}]", item) for i, item in enumerate(raw)]
        return [item for item in out if item is not None]

    def parameters(self, raw: Any) -> Parameters | None:
        if not isinstance(raw, dict):
            self.fail("parameters", "no es un objeto", raw)
            return None
        defaults = Parameters()
        shares_raw = raw.get("split_shares")
        shares = defaults.split_shares
        if shares_raw is not None:
            if not isinstance(shares_raw, list) or not shares_raw:
                self.fail(
                    "parameters.split_shares", "no es una lista", shares_raw, "p. ej. [60, 40]"
                )
            else:
                read = [
                    self.decimal(f"parameters.split_shares[{i}]", v)
                    for i, v in enumerate(shares_raw)
                ]
                shares = tuple(v for v in read if v is not None)
        max_share = defaults.max_supplier_share
        if raw.get("max_supplier_share") is not None:
            max_share = self.decimal("parameters.max_supplier_share", raw["max_supplier_share"])
        return Parameters(
            acceptable_margin=self.decimal_or(raw, "acceptable_margin", defaults.acceptable_margin),
            convenient_margin=self.decimal_or(raw, "convenient_margin", defaults.convenient_margin),
            split_margin=self.decimal_or(raw, "split_margin", defaults.split_margin),
            split_shares=shares,
            max_supplier_share=max_share,
            min_suppliers_critical=self.integer(
                "parameters.min_suppliers_critical",
                raw.get("min_suppliers_critical", defaults.min_suppliers_critical),
            )
            or 0,
            critical_min_share=self.decimal_or(
                raw, "critical_min_share", defaults.critical_min_share
            ),
            lot_deliveries=(
                self.integer("parameters.lot_deliveries", raw["lot_deliveries"])
                if raw.get("lot_deliveries") is not None
                else None
                if "lot_deliveries" in raw
                else defaults.lot_deliveries
            ),
        )

    def decimal_or(self, raw: Mapping[str, Any], key: str, default: Decimal) -> Decimal:
        if raw.get(key) is None:
            return default
        value = self.decimal(f"parameters.{key}", raw[key])
        return default if value is None else value

    def partida(self, where: str, raw: Any) -> Partida | None:
        if not isinstance(raw, dict):
            self.fail(where, "no es un objeto", raw)
            return None
        number = self.integer(f"{where}.number", raw.get("number"))
        clave = raw.get("clave")
        if not isinstance(clave, str) or not clave.strip():
            self.fail(f"{where}.clave", "falta la clave", clave, "p. ej. 010.000.0104.00")
        max_qty = self.integer(f"{where}.max_qty", raw.get("max_qty"))
        reference = self.money(f"{where}.reference_price", raw.get("reference_price"))
        budget = None
        if raw.get("budget_price") is not None:
            budget = self.money(f"{where}.budget_price", raw["budget_price"])
        critical = self.boolean(f"{where}.critical", raw.get("critical", False))
        if number is None or max_qty is None or reference is None or not isinstance(clave, str):
            return None
        return Partida(
            number=number,
            clave=clave.strip(),
            max_qty=max_qty,
            reference_price=reference,
            budget_price=budget,
            critical=critical,
        )

    def supplier(self, where: str, raw: Any) -> Supplier | None:
        if not isinstance(raw, dict):
            self.fail(where, "no es un objeto", raw)
            return None
        ident = self.text(f"{where}.id", raw.get("id"))
        capacity = None
        if raw.get("capacity") is not None:
            capacity = self.integer(f"{where}.capacity", raw["capacity"])
        if ident is None:
            return None
        return Supplier(id=ident, capacity=capacity)

    def bid(self, where: str, raw: Any) -> Bid | None:
        if not isinstance(raw, dict):
            self.fail(where, "no es un objeto", raw)
            return None
        ident = self.text(f"{where}.id", raw.get("id"))
        supplier = self.text(f"{where}.supplier", raw.get("supplier"))
        received = self.instant(f"{where}.received_at", raw.get("received_at"))
        lines = self.items(raw, "lines", self.line, where)
        if ident is None or supplier is None or received is None:
            return None
        return Bid(id=ident, supplier=supplier, received_at=received, lines=tuple(lines))

    def line(self, where: str, raw: Any) -> BidLine | None:
        if not isinstance(raw, dict):
            self.fail(where, "no es un objeto", raw)
            return None
        partida = self.integer(f"{where}.partida", raw.get("partida"))
        price = self.money(f"{where}.unit_price", raw.get("unit_price"))
        offered = self.integer(f"{where}.offered_qty", raw.get("offered_qty"))
        compliant = self.boolean(f"{where}.compliant", raw.get("compliant", True))
        if partida is None or price is None or offered is None:
            return None
        return BidLine(partida=partida, unit_price=price, offered_qty=offered, compliant=compliant)

    # scalar readers

    def integer(self, where: str, value: Any) -> int | None:
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            try:
                # Bounded before int(): a JSON 1e999999 read as a Decimal would take minutes.
                return numbers.whole_of(value)
            except ValueError:
                pass
        self.fail(where, "falta el número" if value is None else "no es un número entero", value)
        return None

    def decimal(self, where: str, value: Any) -> Decimal | None:
        if isinstance(value, bool) or value is None:
            self.fail(where, "falta el número" if value is None else "no es un número", value)
            return None
        try:
            number: Decimal | None = numbers.number_of(value)
        except ValueError:
            number = None
        if number is None:
            self.fail(where, "no es un número", value, "p. ej. 0.10")
            return None
        return number

    def money(self, where: str, value: Any) -> Decimal | None:
        number = self.decimal(where, value)
        if number is None:
            return None
        exponent = number.normalize().as_tuple().exponent
        if isinstance(exponent, int) and exponent < -2:
            self.fail(where, "tiene más de 2 decimales", value, "pesos con centavos")
            return None
        return number.quantize(Decimal("0.01"))

    def text(self, where: str, value: Any) -> str | None:
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        self.fail(where, "falta el identificador", value)
        return None

    def boolean(self, where: str, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        self.fail(where, "no es true ni false", value)
        return False

    def instant(self, where: str, value: Any) -> datetime | None:
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                pass
        self.fail(
            where, "no es una fecha y hora", value, "ISO 8601, p. ej. 2026-11-02T10:00:00-06:00"
        )
        return None


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "…"


# ----- writing -------------------------------------------------------------------------------


def as_dict(instance: Instance) -> dict[str, Any]:
    p = instance.parameters
    return {
        "format": FORMAT,
        "parameters": {
            "acceptable_margin": str(p.acceptable_margin),
            "convenient_margin": str(p.convenient_margin),
            "split_margin": str(p.split_margin),
            "split_shares": [str(share) for share in p.split_shares],
            "max_supplier_share": None
            if p.max_supplier_share is None
            else str(p.max_supplier_share),
            "min_suppliers_critical": p.min_suppliers_critical,
            "critical_min_share": str(p.critical_min_share),
            "lot_deliveries": p.lot_deliveries,
        },
        "partidas": [
            {
                "number": partida.number,
                "clave": partida.clave,
                "max_qty": partida.max_qty,
                "reference_price": str(partida.reference_price),
                "budget_price": None if partida.budget_price is None else str(partida.budget_price),
                "critical": partida.critical,
            }
            for partida in instance.partidas
        ],
        "suppliers": [{"id": s.id, "capacity": s.capacity} for s in instance.suppliers],
        "bids": [
            {
                "id": bid.id,
                "supplier": bid.supplier,
                "received_at": bid.received_at.isoformat(),
                "lines": [
                    {
                        "partida": line.partida,
                        "unit_price": str(line.unit_price),
                        "offered_qty": line.offered_qty,
                        **({} if line.compliant else {"compliant": False}),
                    }
                    for line in bid.lines
                ],
            }
            for bid in instance.bids
        ],
    }


def dumps(instance: Instance) -> str:
    return json.dumps(as_dict(instance), ensure_ascii=False, separators=(",", ":")) + "\n"


def result_as_dict(result: AwardResult) -> dict[str, Any]:
    """The award as JSON: totals, then every partida with its winners or why it is desierta."""
    return {
        "mode": result.mode.value,
        "status": result.status,
        "objective": str(result.objective),
        "gap": result.gap,
        "build_seconds": round(result.build_seconds, 4),
        "solve_seconds": round(result.solve_seconds, 4),
        "partidas": [
            {
                "number": a.number,
                "clave": a.clave,
                "demand": a.demand,
                "status": a.status,
                "total": str(a.total),
                "winners": [
                    {
                        "bid": w.bid_id,
                        "supplier": w.supplier,
                        "quantity": w.quantity,
                        "unit_price": str(w.unit_price),
                        "total": str(w.total),
                    }
                    for w in a.winners
                ],
                **(
                    {
                        "uncovered": a.uncovered,
                        "reason": a.reason.code.value,
                        "reason_text": a.reason.message,
                    }
                    if a.reason
                    else {}
                ),
                **(
                    {
                        "suppliers_required": a.suppliers_required,
                        "suppliers_short": a.suppliers_short,
                        "shortfall_reason": a.shortfall_reason.message
                        if a.shortfall_reason
                        else None,
                    }
                    if a.suppliers_required
                    else {}
                ),
            }
            for a in result.partidas
        ],
    }


# ----- generator -----------------------------------------------------------------------------

MEXICO_CITY_WINTER = timezone(timedelta(hours=-6))
OPENING = datetime(2026, 11, 2, 9, 0, tzinfo=MEXICO_CITY_WINTER)


def generate(
    *,
    partidas: int,
    bids_per_partida: int,
    suppliers: int,
    seed: int,
    max_share: Decimal | None = Decimal("0.15"),
) -> Instance:
    """A national-looking instance, the same for the same arguments.

    Demand and reference prices are log-normal (a few claves carry most of the value); budgets
    sit a little above the reference for three partidas in four. Suppliers differ in size (how
    many partidas they bid on, Pareto) and in price level (the largest are a little cheaper), so
    the lowest prices concentrate on a few of them and the maximum share binds. Prices spread
    around the reference, with some lines not acceptable, not convenient or non-compliant; about
    1 % of partidas get no bids and 2 % only overpriced ones (desiertas, as in a real fallo).
    About a third of the suppliers declare a capacity below what they would win at the lowest
    prices, so capacity binds; a supplier declares one only where the others, without a declared
    capacity, can still cover each of its partidas (and give each critical partida its
    suppliers), so a feasible award exists. The maximum share is not part of that guarantee: with
    few suppliers (60 at 15 %, say) it can itself leave partidas desiertas, as in a real tender;
    with the benchmark's 300 it does not.
    """
    if bids_per_partida > suppliers:
        raise ValidationFailed(
            f"No puede haber {bids_per_partida} proposiciones por partida con {suppliers} "
            "proveedores",
            expected="--bids-per-partida menor o igual que --suppliers",
        )
    rng = np.random.default_rng(seed)
    qty = np.clip(np.rint(rng.lognormal(7.5, 1.3, partidas)), 20, 3_000_000).astype(np.int64)
    reference = np.clip(np.round(rng.lognormal(4.3, 1.2, partidas), 2), 1.0, 60_000.0)
    has_budget = rng.random(partidas) < 0.75
    budget = np.round(reference * rng.uniform(1.02, 1.12, partidas), 2)
    critical = rng.random(partidas) < 0.08
    no_bids = rng.random(partidas) < 0.01
    overpriced = rng.random(partidas) < 0.02

    size = rng.pareto(1.1, suppliers) + 0.05
    size[np.argsort(-size)[: max(1, suppliers // 100)]] *= 3  # national distributors
    weight = size / size.sum()
    level = 1.0 - 0.06 * np.sqrt(size / size.max()) + rng.normal(0, 0.02, suppliers)
    supplier_ids = [f"PR-{i + 1:04d}" for i in range(suppliers)]
    received = [
        OPENING - timedelta(seconds=int(s)) for s in rng.integers(3600, 5 * 86400, suppliers)
    ]

    lines: dict[int, list[BidLine]] = {i: [] for i in range(suppliers)}
    for p in range(partidas):
        if no_bids[p]:
            continue
        chosen = rng.choice(suppliers, size=bids_per_partida, replace=False, p=weight)
        spread = rng.lognormal(0.0, 0.07, bids_per_partida)
        odd = rng.random(bids_per_partida)
        spread = np.where(odd < 0.04, rng.uniform(1.12, 1.4, bids_per_partida), spread)
        spread = np.where(odd > 0.98, rng.uniform(0.35, 0.55, bids_per_partida), spread)
        if overpriced[p]:
            spread = rng.uniform(1.15, 1.5, bids_per_partida)
        prices = np.maximum(np.round(reference[p] * level[chosen] * spread, 2), 0.01)
        partial = rng.random(bids_per_partida) < 0.35
        offered = np.where(
            partial,
            np.maximum(1, np.rint(qty[p] * rng.uniform(0.3, 1.0, bids_per_partida))),
            qty[p],
        ).astype(np.int64)
        compliant = rng.random(bids_per_partida) >= 0.03
        for s, price, q, ok in zip(chosen, prices, offered, compliant, strict=True):
            lines[int(s)].append(
                BidLine(
                    partida=p + 1,
                    unit_price=_cents(float(price)),
                    offered_qty=int(q),
                    compliant=bool(ok),
                )
            )

    parameters = Parameters(
        max_supplier_share=max_share,
        min_suppliers_critical=2,
        critical_min_share=Decimal("0.10"),
    )
    partida_rows = tuple(
        Partida(
            number=p + 1,
            clave=_clave(p),
            max_qty=int(qty[p]),
            reference_price=_cents(float(reference[p])),
            budget_price=_cents(float(budget[p])) if has_budget[p] else None,
            critical=bool(critical[p]),
        )
        for p in range(partidas)
    )
    bids = tuple(
        Bid(
            id=f"PROP-{i + 1:04d}",
            supplier=supplier_ids[i],
            received_at=received[i],
            lines=tuple(lines[i]),
        )
        for i in range(suppliers)
        if lines[i]
    )
    draft = Instance(
        partidas=partida_rows,
        bids=bids,
        suppliers=tuple(Supplier(s) for s in supplier_ids),
        parameters=parameters,
    )
    # Capacities below what the lowest prices would give them, so that they bind; a supplier
    # declares one only if, in each partida where it may be awarded, the others that declare
    # none still offer the whole demand (and enough suppliers for a critical partida).
    lowest = rules.award_by_rule(draft, rules.Mode.LOWEST)
    won = {s: qty for s, (qty, _) in rules.supplier_totals(lowest).items()}
    evaluation = rules.evaluate(draft)
    backup: dict[int, int] = {}
    counting: dict[int, int] = {}
    needs: dict[int, tuple[int, int]] = {}
    lines_of: dict[str, list[tuple[int, int]]] = {s: [] for s in supplier_ids}
    for partida in partida_rows:
        eligible = rules.eligible_offers(
            evaluation.offers[partida.number], partida.max_qty, parameters.split_margin
        )
        backup[partida.number] = sum(o.offered_qty for o in eligible)
        least = rules.counting_minimum(partida, parameters)
        needs[partida.number] = (
            least,
            rules.required_suppliers(partida, eligible, parameters),
        )
        counting[partida.number] = sum(1 for o in eligible if o.offered_qty >= least)
        for o in eligible:
            lines_of[o.supplier].append((partida.number, o.offered_qty))
    declares = rng.random(suppliers) < 0.4
    factor = rng.uniform(0.55, 0.9, suppliers)
    capacities: list[Supplier] = []
    for i, s in enumerate(supplier_ids):
        capacity = None
        if declares[i] and s in won and _can_declare(lines_of[s], backup, counting, needs, qty):
            capacity = max(1, round(won[s] * factor[i]))
            for number, offered in lines_of[s]:
                backup[number] -= offered
                counting[number] -= offered >= needs[number][0]
        capacities.append(Supplier(s, capacity))
    return Instance(
        partidas=partida_rows, bids=bids, suppliers=tuple(capacities), parameters=parameters
    )


def _can_declare(
    lines: list[tuple[int, int]],
    backup: dict[int, int],
    counting: dict[int, int],
    needs: dict[int, tuple[int, int]],
    demand: npt.NDArray[np.int64],
) -> bool:
    for number, offered in lines:
        least, required = needs[number]
        if backup[number] - offered < demand[number - 1]:
            return False
        if required and counting[number] - (offered >= least) < required:
            return False
    return True


def _cents(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")


def _clave(p: int) -> str:
    """Claves in the Compendio's medicine format, unique per partida."""
    group = ("010", "020", "030", "040")[p // 9000 % 4]
    return f"{group}.000.{p % 9000 + 1000:04d}.00"
