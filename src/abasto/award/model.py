"""The whole-tender award model, a mixed-integer programme solved with HiGHS.

Variables
    ``x[o]`` integer, ``0 ≤ x[o] ≤ min(offered, demand)``: units awarded to eligible line ``o``
    (solvent, and allowed by the margin rule of ``rules.eligible_offers``); a line offering
    less than the partida's minimum lot (``rules.minimum_lot``: one delivery's worth) gets
    nothing;
    ``z[o]`` binary, lines whose minimum lot is above one unit: ``o`` is awarded anything;
    ``u[p]`` integer, ``d[p] − Σ offered ≤ u[p] ≤ d[p]``: units of partida ``p`` left uncovered;
    ``y[p, s]`` binary, critical partidas only: supplier ``s`` counts as one of ``p``'s suppliers;
    ``w[p]`` integer ≥ 0: suppliers a critical partida is short of.

Constraints
    coverage      ``Σ_o∈p x[o] + u[p] = d[p]``
    capacity      ``Σ_o∈s x[o] ≤ capacity[s]`` for suppliers that declare one
    maximum share ``v[s] ≤ share · T``, with ``v[s] = Σ_o∈s price[o]·x[o]`` the value awarded to
                  supplier ``s`` and ``T = Σ_o price[o]·x[o]`` the total awarded value: both
                  sides linear in ``x``
    minimum lot   ``lot[p]·z[o] ≤ x[o] ≤ ub[o]·z[o]``: nothing, or at least the lot
    counting      ``least[p]·y[p, s] ≤ Σ_o∈(p, s) x[o]``: a supplier counts only with at least
                  ``least[p]`` units (``rules.counting_minimum``)
    suppliers     ``Σ_s y[p, s] + w[p] ≥ required[p]`` (``rules.required_suppliers``)

**Infeasibility never crashes: the objective is lexicographic, in two phases.** The slack
variables ``u`` and ``w`` make every instance feasible (award nothing: every partida desierta).
Phase 1 minimises ``(W + 1)·Σu + Σw`` (``W`` = the most ``Σw`` can be, so one uncovered unit
outweighs any supplier shortfall): as much demand covered as possible, counted in units, then
critical partidas as close to their suppliers as possible. Its objective is integral and solved
exactly. Phase 2 keeps that optimum (the slacks fixed when it is the least possible, one more row
otherwise) and minimises the total cost ``T``. Uncovered units are reported as desierta with their
reason (no bids, none solvent, quantity offered short, capacity, maximum share), critical
partidas short of suppliers with theirs.

**How the maximum share is solved.** Written as above, the row ``T = Σ price·x`` holds every
variable, and HiGHS's root heuristics propagate it after every rounding: on a national tender
(40,000 lines) that takes minutes. Since ``T`` is also phase 2's objective, the rule is probed
against a constant total ``τ`` instead, which keeps every row short:

- ``P(τ)``: ``v[s] ≤ share·τ``. It proves the lower bound ``min(its dual bound, τ)`` on the
  optimal cost: were the optimum below ``τ``, it would be a solution of ``P(τ)`` (and if
  ``P(τ)`` is infeasible, the optimum is above ``τ``);
- ``Q(τ)``: ``P(τ)`` and ``T ≥ τ``. Its solutions respect the rule (``v[s] ≤ share·τ ≤
  share·T``): upper bounds.

Phase 2 first solves without share rows (if that solution already respects the rule it is
optimal); otherwise ``τ`` starts at the bound of the exact model's linear relaxation (cheap as an
LP) and is bisected between the best bound and the best solution until they are within
``rel_gap``. Every solution is checked against the rule in exact integer centavos before it is
kept. If the probes do not close the gap, or phase 1 (solved without share rows, a relaxation)
turns out to be too optimistic, the exact model with the ``T`` row is solved, starting from the
best solution found. The gap reported is (best cost − best proven bound) / best cost.

The matrix is assembled with numpy as coordinate triplets, sorted into rows and passed to HiGHS in
one ``passModel``; the cost in the result is recomputed exactly in ``Decimal`` from the integral
quantities, not read back from the solver's floats. The solver is indifferent between equally
priced lines of a partida; afterwards (``_prefer_earlier``) quantity moves from the later-ranked to
the earlier-ranked of such lines as far as every constraint allows, so ties go to the earlier
receipt, as in every mode, at the same cost.

**The minimum lot is added lazily** (``solve_optimal``): first without binaries, then with those of
the partidas where a line got fewer pieces than its lot, until none does; and a model with binaries
is first solved with continuous quantities (``_Solver.run``). On the benchmark's instance at 200
partidas that took the solve from 54 s (every binary, integer quantities) to 3.3 s.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import numpy.typing as npt

# The Python wrapper ``highspy.Highs`` prints a banner while it is being built, before any option
# can turn output off; the core class is the same solver without callbacks, which we do not use.
from highspy import HighsModelStatus, HighsStatus, HighsVarType, MatrixFormat, ObjSense, kHighsInf
from highspy._core import HighsSolution, _Highs

from abasto.award import rules
from abasto.award.rules import AwardResult, EvaluatedLine, Instance, Mode
from abasto.core.errors import AbastoError
from abasto.core.highs import run as highs_run

REL_GAP = 1e-4
CENT_GAP = 0.005
"""Absolute gap in pesos: with prices in centavos, a better solution is at least a centavo less."""
MAX_THREADS = 2
MAX_ROUNDS = 12
"""Probes of the share rule against a constant total before the exact model is solved."""

INTEGRAL_TOLERANCE = 1e-6
"""A continuous quantity this close to a whole number is that number (rows have whole
coefficients and bounds, except the share rows, which are checked exactly in centavos)."""

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


log = logging.getLogger("abasto.award")


class NotSolved(AbastoError):
    """The solver stopped (time limit) before finding any award."""

    status = 503
    title = "Sin solución"


@dataclass
class Built:
    """The model without share rows, and how its columns map back to the instance."""

    offers: list[EvaluatedLine]
    price: FloatArray
    cents: list[int]
    offer_supplier: IntArray
    suppliers: list[str]
    num_col: int
    num_row: int
    start: IntArray
    index: IntArray
    value: FloatArray
    col_lower: FloatArray
    col_upper: FloatArray
    row_lower: FloatArray
    row_upper: FloatArray
    integrality: IntArray
    slack: IntArray
    """Columns of ``u`` and ``w``."""
    penalty: FloatArray
    """Phase 1 objective on those columns."""
    required: dict[int, int]
    supplier_cols: list[IntArray] = field(default_factory=list)
    lot: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """The minimum lot of each line (1: any quantity)."""
    upper: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """The most each line may get (0 when it cannot reach its lot)."""
    offer_partida: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """Position of each line's partida among the partidas with eligible lines."""
    least: dict[int, int] = field(default_factory=dict)
    """Counting minimum of each critical partida, by the same position."""
    lots: int = 0
    """Binaries of the minimum lot in the model."""

    @property
    def n(self) -> int:
        return len(self.offers)

    def trivial(self) -> FloatArray:
        """Award nothing: every partida uncovered, every critical partida short."""
        values = np.zeros(self.num_col)
        values[self.slack] = self.col_upper[self.slack]
        return values

    def least_penalty(self) -> float:
        return float(self.col_lower[self.slack] @ self.penalty)


def build(
    instance: Instance, evaluation: rules.Evaluation, lotted: Collection[int] | None = None
) -> Built:
    """The model; ``lotted``: the lines whose minimum lot gets its binary and two rows (all the
    lines whose lot is above one unit when None)."""
    params = instance.parameters
    offers: list[EvaluatedLine] = []
    offer_partida: list[int] = []
    demands: list[int] = []
    lots: list[int] = []
    required: dict[int, int] = {}
    critical: list[tuple[int, int, list[int]]] = []
    """(required, least, offer positions) of each critical partida."""
    least_at: dict[int, int] = {}
    for partida in instance.partidas:
        ranked = evaluation.offers[partida.number]
        if not ranked:
            continue
        eligible = rules.eligible_offers(ranked, partida.max_qty, params.split_margin)
        first = len(offers)
        offers.extend(eligible)
        offer_partida.extend([len(demands)] * len(eligible))
        demands.append(partida.max_qty)
        lots.append(min(rules.minimum_lot(partida, params), partida.max_qty))
        needed = rules.required_suppliers(partida, eligible, params)
        if needed:
            required[partida.number] = needed
            least = rules.counting_minimum(partida, params)
            least_at[len(demands) - 1] = least
            critical.append((needed, least, list(range(first, len(offers)))))

    n = len(offers)
    n_part = len(demands)
    suppliers = sorted({o.supplier for o in offers})
    supplier_index = {s: i for i, s in enumerate(suppliers)}
    x_partida = np.asarray(offer_partida, dtype=np.int64)
    x_supplier = np.fromiter((supplier_index[o.supplier] for o in offers), np.int64, n)
    price = np.fromiter((float(o.unit_price) for o in offers), np.float64, n)
    demand = np.asarray(demands, dtype=np.int64)
    offered = np.fromiter((o.offered_qty for o in offers), np.int64, n)
    ub = np.minimum(offered, demand[x_partida]) if n else np.zeros(0, dtype=np.int64)
    lot = np.asarray(lots, dtype=np.int64)[x_partida] if n else np.zeros(0, dtype=np.int64)
    # A line that cannot reach the minimum lot gets nothing; the others nothing or a lot.
    ub = np.where(ub >= lot, ub, 0)
    lotted_mask = (lot > 1) & (ub > 0)
    if lotted is not None:
        lotted_mask &= np.isin(np.arange(n), np.fromiter(lotted, np.int64))
    lotted_at = np.flatnonzero(lotted_mask).astype(np.int64)
    x_cols = np.arange(n, dtype=np.int64)
    u_cols = n + np.arange(n_part, dtype=np.int64)
    short = np.maximum(0, demand - np.bincount(x_partida, weights=ub, minlength=n_part))

    # y: one per (critical partida, supplier that offers enough to count); w: per partida.
    y_keys: list[tuple[int, int]] = []
    for c, (_, least, positions) in enumerate(critical):
        offered_by: dict[int, int] = {}
        for pos in positions:
            s = int(x_supplier[pos])
            offered_by[s] = offered_by.get(s, 0) + offers[pos].offered_qty
        y_keys.extend((c, s) for s, qty in sorted(offered_by.items()) if qty >= least)
    n_y, n_w = len(y_keys), len(critical)
    y_cols = n + n_part + np.arange(n_y, dtype=np.int64)
    w_cols = n + n_part + n_y + np.arange(n_w, dtype=np.int64)
    n_z = len(lotted_at)
    z_cols = n + n_part + n_y + n_w + np.arange(n_z, dtype=np.int64)
    num_col = n + n_part + n_y + n_w + n_z

    rows: list[IntArray] = []
    cols: list[IntArray] = []
    vals: list[FloatArray] = []
    lower: list[FloatArray] = []
    upper: list[FloatArray] = []

    def block(r: IntArray, c: IntArray, v: FloatArray, lo: FloatArray, up: FloatArray) -> None:
        """Rows numbered from 0 within the block, one bound pair per row."""
        rows.append(r + sum(len(b) for b in lower))
        cols.append(c)
        vals.append(v)
        lower.append(lo)
        upper.append(up)

    ones = np.ones(n)
    block(
        np.concatenate([x_partida, np.arange(n_part)]),
        np.concatenate([x_cols, u_cols]),
        np.ones(n + n_part),
        demand.astype(np.float64),
        demand.astype(np.float64),
    )
    capacity = {s.id: s.capacity for s in instance.suppliers}
    capped = [i for i, s in enumerate(suppliers) if capacity.get(s) is not None]
    if capped:
        cap_row = np.full(len(suppliers), -1, dtype=np.int64)
        cap_row[capped] = np.arange(len(capped))
        mask = cap_row[x_supplier] >= 0
        block(
            cap_row[x_supplier][mask],
            x_cols[mask],
            ones[mask],
            np.full(len(capped), -kHighsInf),
            np.asarray([float(capacity[suppliers[i]] or 0) for i in capped]),
        )
    if critical:
        y_of = {key: i for i, key in enumerate(y_keys)}
        link_r = list(range(n_y))
        link_c = [int(c) for c in y_cols]
        link_v = [float(critical[c][1]) for c, _ in y_keys]
        for c, (_, _, positions) in enumerate(critical):
            for pos in positions:
                i_y = y_of.get((c, int(x_supplier[pos])))
                if i_y is not None:
                    link_r.append(i_y)
                    link_c.append(pos)
                    link_v.append(-1.0)
        block(
            np.asarray(link_r, dtype=np.int64),
            np.asarray(link_c, dtype=np.int64),
            np.asarray(link_v),
            np.full(n_y, -kHighsInf),
            np.zeros(n_y),
        )
        block(
            np.concatenate([np.fromiter((c for c, _ in y_keys), np.int64, n_y), np.arange(n_w)]),
            np.concatenate([y_cols, w_cols]),
            np.ones(n_y + n_w),
            np.asarray([float(needed) for needed, _, _ in critical]),
            np.full(n_w, kHighsInf),
        )

    if n_z:
        # Two rows per line: x − lot·z ≥ 0 and x − ub·z ≤ 0.
        pairs = np.arange(2 * n_z, dtype=np.int64)
        block(
            np.repeat(pairs, 2),
            np.column_stack([np.repeat(lotted_at, 2), np.repeat(z_cols, 2)]).ravel(),
            np.column_stack(
                [np.ones(2 * n_z), -np.column_stack([lot[lotted_at], ub[lotted_at]]).ravel()]
            )
            .ravel()
            .astype(np.float64),
            np.tile([0.0, -kHighsInf], n_z),
            np.tile([kHighsInf, 0.0], n_z),
        )
    integrality = np.full(num_col, int(HighsVarType.kInteger), dtype=np.int64)
    r_all = np.concatenate(rows)
    c_all = np.concatenate(cols)
    order = np.lexsort((c_all, r_all))
    num_row = sum(len(b) for b in lower)
    needed_all = np.asarray([float(needed) for needed, _, _ in critical])
    slack = np.concatenate([u_cols, w_cols])
    supplier_order = np.argsort(x_supplier, kind="stable")
    bounds = np.searchsorted(x_supplier[supplier_order], np.arange(len(suppliers) + 1))
    return Built(
        offers=offers,
        price=price,
        cents=[int(o.unit_price * 100) for o in offers],
        offer_supplier=x_supplier,
        suppliers=suppliers,
        num_col=num_col,
        num_row=num_row,
        start=np.searchsorted(r_all[order], np.arange(num_row + 1)).astype(np.int64),
        index=c_all[order],
        value=np.concatenate(vals)[order],
        col_lower=np.concatenate(
            [np.zeros(n), short.astype(np.float64), np.zeros(n_y + n_w + n_z)]
        ),
        col_upper=np.concatenate(
            [
                ub.astype(np.float64),
                demand.astype(np.float64),
                np.ones(n_y),
                needed_all,
                np.ones(n_z),
            ]
        ),
        row_lower=np.concatenate(lower),
        row_upper=np.concatenate(upper),
        integrality=integrality,
        slack=slack,
        penalty=np.concatenate([np.full(n_part, float(needed_all.sum()) + 1.0), np.ones(n_w)]),
        required=required,
        supplier_cols=[supplier_order[bounds[i] : bounds[i + 1]] for i in range(len(suppliers))],
        lot=lot,
        upper=ub,
        offer_partida=x_partida,
        least=least_at,
        lots=n_z,
    )


@dataclass
class _Outcome:
    values: FloatArray
    """Values of the base model's columns (not of any column added for the share rule)."""
    optimal: bool
    primal: float
    bound: float


@dataclass
class _Solver:
    """Runs HiGHS on variants of one built model, within one time budget."""

    built: Built
    share: Fraction | None
    threads: int
    deadline: float | None

    def run(
        self,
        *,
        cost: FloatArray,
        slack_limit: float | None,
        share_total: float | str | None,
        rel_gap: float,
        abs_gap: float,
        start: FloatArray | None,
        relax: bool = False,
        floor: bool = False,
    ) -> _Outcome | None:
        """One solve; None when infeasible. ``share_total``: None (no share rows), a constant
        total, or ``"T"`` for the exact rows against the total awarded value. ``relax``: the
        linear relaxation (its bound only). ``floor``: also ``T ≥`` the constant total.

        With minimum-lot binaries the quantities are first left continuous, only the binaries
        integer: HiGHS's cut loop spent minutes on a 200-partida model whose quantities have
        domains of millions (the binaries' big-M rows make its root bound weak), while the model
        with continuous quantities solves in a fraction of a second. It is a relaxation, so an
        integral solution of it is a solution of the model, as good within the gap; otherwise the
        model is solved with integer quantities."""
        b = self.built
        solve = functools.partial(
            self._run,
            cost=cost,
            slack_limit=slack_limit,
            share_total=share_total,
            rel_gap=rel_gap,
            abs_gap=abs_gap,
            start=start,
            floor=floor,
        )
        if relax:
            return solve(integrality=np.zeros(b.num_col, dtype=np.int64), relax=True)
        if b.lots:
            integrality = b.integrality.copy()
            integrality[: b.n] = int(HighsVarType.kContinuous)
            integrality[b.slack[: len(b.slack) - len(b.required)]] = int(HighsVarType.kContinuous)
            outcome = solve(integrality=integrality, relax=False)
            if outcome is None or _integral(outcome.values):
                return outcome
            # Fractional (the share rows' coefficients are prices): the binaries as chosen, the
            # quantities integer — the model without lots, which is fast — is a solution; kept
            # when it is within the gap of the relaxation's bound.
            z = np.arange(b.num_col - b.lots, b.num_col)
            fixed = solve(
                integrality=b.integrality, relax=False, fix=(z, np.rint(outcome.values[z]))
            )
            if fixed is not None:
                tolerance = max(abs_gap, rel_gap * abs(fixed.primal))
                if fixed.primal - outcome.bound <= tolerance:
                    return _Outcome(fixed.values, fixed.optimal, fixed.primal, outcome.bound)
        return solve(integrality=b.integrality, relax=False)

    def _run(
        self,
        *,
        cost: FloatArray,
        slack_limit: float | None,
        share_total: float | str | None,
        rel_gap: float,
        abs_gap: float,
        start: FloatArray | None,
        relax: bool,
        floor: bool,
        integrality: IntArray,
        fix: tuple[IntArray, FloatArray] | None = None,
        fresh: bool = False,
    ) -> _Outcome | None:
        b = self.built
        limit = slack_limit
        again = functools.partial(
            self._run,
            cost=cost,
            slack_limit=limit,
            share_total=share_total,
            rel_gap=rel_gap,
            abs_gap=abs_gap,
            relax=relax,
            floor=floor,
            integrality=integrality,
            fix=fix,
        )
        highs = _Highs()
        # A model solved again after errors writes HiGHS's own log (stdout): what it says is the
        # record of an error that persists.
        highs.setOptionValue("output_flag", fresh)
        highs.setOptionValue("random_seed", 0)
        highs.setOptionValue("mip_rel_gap", rel_gap)
        highs.setOptionValue("mip_abs_gap", abs_gap)
        if self.deadline is not None:
            highs.setOptionValue("time_limit", max(0.1, self.deadline - time.perf_counter()))
        if share_total == "T":
            # With the dense T row, primal heuristics spend minutes propagating it (measured:
            # 100 s → 6 s on a 400-partida phase 1); branching alone does better.
            highs.setOptionValue("mip_heuristic_effort", 0.0)
            for heuristic in ("feasibility_jump", "rins", "rens", "root_reduced_cost"):
                highs.setOptionValue(f"mip_heuristic_run_{heuristic}", False)
        col_lower = b.col_lower.copy()
        col_upper = b.col_upper.copy()
        if fix is not None:
            col_lower[fix[0]] = col_upper[fix[0]] = fix[1]
        if slack_limit is not None and slack_limit <= b.least_penalty() + 0.5:
            col_upper[b.slack] = col_lower[b.slack]
            slack_limit = None
        _ok(
            highs.passModel(
                b.num_col,
                b.num_row,
                len(b.index),
                int(MatrixFormat.kRowwise),
                int(ObjSense.kMinimize),
                0.0,
                cost,
                col_lower,
                col_upper,
                b.row_lower,
                b.row_upper,
                b.start,
                b.index,
                b.value,
                integrality,
            ),
            "passModel",
        )
        if slack_limit is not None:
            highs.addRow(-kHighsInf, slack_limit + 0.5, len(b.slack), b.slack, b.penalty)
        if share_total is not None:
            self._share_rows(highs, share_total, floor)
        if start is not None:
            solution = HighsSolution()
            full = np.zeros(highs.getNumCol())
            full[: b.num_col] = start
            if highs.getNumCol() > b.num_col:
                full[b.num_col] = float(start[: b.n] @ b.price)
            solution.col_value = full
            if highs.setSolution(solution) == HighsStatus.kError:
                log.warning("HiGHS did not take the start solution; solving without it")
        ran = highs_run(highs, self.threads)
        for threads in (self.threads, 1):
            if ran != HighsStatus.kError:
                break
            # An error from a run that succeeds when repeated was seen with HiGHS 1.16 (about
            # once in twenty solves of the demo's instance), and once (CI, 2026-12-07) an error
            # that the same thread count repeated, in a fresh process's first solve: the last
            # try is on one thread. A persistent error still fails below.
            log.warning("HiGHS run returned an error; solving again, threads: %d", threads)
            highs.clearSolver()
            ran = highs_run(highs, threads)
        if ran == HighsStatus.kError and not fresh:
            # Errors that neither repeating nor one thread cleared (CI, 2026-12-07: three in a
            # row, the last on one thread, in the demo's award) may be the model object's own
            # state, or its start solution (``setSolution``): once more in a new model, from
            # no start. A persistent error still fails below, with HiGHS's log.
            log.warning("HiGHS run kept returning errors; solving in a new model, no start")
            return again(start=None, fresh=True)
        _ok(ran, "run")
        status = highs.getModelStatus()
        info = highs.getInfo()
        if status == HighsModelStatus.kInfeasible:
            return None
        if relax and status == HighsModelStatus.kOptimal:
            objective = float(info.objective_function_value)
            return _Outcome(np.zeros(b.num_col), False, objective, objective)
        if info.primal_solution_status != 2:
            if status in (HighsModelStatus.kTimeLimit, HighsModelStatus.kInterrupt):
                raise NotSolved(
                    "El modelo de adjudicación no encontró ninguna solución en el tiempo límite",
                    expected="más tiempo (--time-limit)",
                )
            raise RuntimeError(f"HiGHS: {highs.modelStatusToString(status)}")
        values = np.asarray(highs.getSolution().col_value, dtype=np.float64)[: b.num_col]
        primal = float(info.objective_function_value)
        if start is not None and abs(float(values @ cost) - primal) > 1e-6 * max(1.0, abs(primal)):
            # HiGHS 1.16 has been seen to report a better objective than the start it was given
            # while handing back the start itself (with the minimum-lot rows): solve it again
            # without the start, whose solution is then the one reported.
            log.warning("HiGHS returned a solution that is not its objective; solving again")
            return again(start=None)
        return _Outcome(
            values=values,
            optimal=status == HighsModelStatus.kOptimal,
            primal=float(info.objective_function_value),
            bound=float(info.mip_dual_bound),
        )

    def _share_rows(self, highs: _Highs, total: float | str, floor: bool) -> None:
        b = self.built
        assert self.share is not None
        share = float(self.share)
        if total == "T":
            t_col = highs.getNumCol()
            highs.addCol(0.0, 0.0, kHighsInf, 0, np.zeros(0, dtype=np.int64), np.zeros(0))
            highs.addRow(
                0.0, 0.0, b.n + 1, np.append(np.arange(b.n), t_col), np.append(b.price, -1.0)
            )
            for cols in b.supplier_cols:
                highs.addRow(
                    -kHighsInf,
                    0.0,
                    len(cols) + 1,
                    np.append(cols, t_col),
                    np.append(b.price[cols], -share),
                )
            return
        assert isinstance(total, float)
        limit = share * total
        for cols in b.supplier_cols:
            if float(b.price[cols] @ b.col_upper[cols]) > limit:
                highs.addRow(-kHighsInf, limit, len(cols), cols, b.price[cols])
        if floor:
            highs.addRow(total, kHighsInf, b.n, np.arange(b.n), b.price)

    def cost_of(self, values: FloatArray) -> int:
        """Exact cost in centavos of the (rounded) quantities."""
        x = np.rint(values[: self.built.n]).astype(np.int64)
        return sum(c * int(q) for c, q in zip(self.built.cents, x, strict=True) if q)

    def respects_share(self, values: FloatArray) -> bool:
        """Exactly, in centavos: no supplier above the share of the total awarded value."""
        if self.share is None:
            return True
        x = np.rint(values[: self.built.n]).astype(np.int64)
        per_supplier = [0] * len(self.built.suppliers)
        for c, q, s in zip(self.built.cents, x, self.built.offer_supplier, strict=True):
            if q:
                per_supplier[s] += c * int(q)
        total = sum(per_supplier)
        return all(v * self.share.denominator <= self.share.numerator * total for v in per_supplier)


def solve_optimal(
    instance: Instance,
    *,
    rel_gap: float = REL_GAP,
    threads: int | None = None,
    time_limit: float | None = None,
) -> AwardResult:
    """Award the whole tender at the least total cost that respects every constraint.

    The minimum lot is added lazily: the model is solved with the binaries of only the lines
    that broke their lot in an earlier round (none at first), and solved again with those added
    until no line gets fewer pieces than its lot. Each round is a relaxation of the full model,
    so the round that respects every lot is optimal for it, within the same gap; the binaries and
    big-M rows of every line (thousands on a national tender) made HiGHS's search slow."""
    began = time.perf_counter()
    rules.validated(instance)
    evaluation = rules.evaluate(instance)
    share = instance.parameters.max_supplier_share
    deadline = None if time_limit is None else began + time_limit
    lotted: set[int] = set()
    build_seconds = solve_seconds = 0.0
    while True:
        building = time.perf_counter()
        built = build(instance, evaluation, lotted)
        solver = _Solver(
            built=built,
            share=Fraction(str(share)) if share is not None and share < 1 else None,
            threads=threads or min(MAX_THREADS, os.cpu_count() or 1),
            deadline=deadline,
        )
        solving = time.perf_counter()
        build_seconds += solving - building
        values = np.zeros(built.num_col)
        optimal, gap = True, 0.0
        if built.num_col:
            values, optimal, gap = _two_phases(solver, rel_gap)
        solve_seconds += time.perf_counter() - solving
        x = np.rint(values[: built.n]).astype(np.int64)
        small = np.flatnonzero((x > 0) & (x < built.lot))
        if not len(small):
            break
        # The round's bound holds for the full model (a relaxation of it): a repaired solution
        # as close to it as the gap asks is as good as another round, and much cheaper.
        cost = solver.cost_of(values) / 100
        bound = cost * (1 - gap)
        repaired = _repair(built, solver, instance, x, small)
        if repaired is not None:
            cost = solver.cost_of(repaired.astype(np.float64)) / 100
            if cost - bound <= max(CENT_GAP, rel_gap * abs(cost)):
                x, gap = repaired, _gap(cost, bound)
                break
        # A line under its lot is usually one of several in its partida that share what is
        # left: the lots of all of them go in at once, which saves rounds. (Adding as well every
        # partida shared by several lines saved rounds but made each one slower: 230 s against
        # 60 s on the national benchmark.)
        partidas = np.unique(built.offer_partida[small])
        lotted.update(int(i) for i in np.flatnonzero(np.isin(built.offer_partida, partidas)))
        log.info("award model: %d lines under their lot; solving again", len(small))

    x = _prefer_earlier(built, solver, instance, x)
    used = np.bincount(built.offer_supplier, weights=x, minlength=len(built.suppliers))
    return rules.assemble(
        instance,
        evaluation,
        {(o.partida, o.bid_id): int(q) for o, q in zip(built.offers, x, strict=True) if q > 0},
        mode=Mode.OPTIMAL,
        status="optimal" if optimal else "feasible",
        gap=gap,
        build_seconds=build_seconds,
        solve_seconds=solve_seconds,
        suppliers_required=built.required,
        used_capacity={s: int(q) for s, q in zip(built.suppliers, used, strict=True)},
    )


def _repair(
    built: Built, solver: _Solver, instance: Instance, x: IntArray, small: IntArray
) -> IntArray | None:
    """Each line under its lot hands its pieces to another line of its partida that already has
    at least its lot and room for them (the cheapest first), within the supplier's capacity, the
    maximum share and a critical partida's suppliers; None when some line finds none."""
    x = x.copy()
    capacity = {s.id: s.capacity for s in instance.suppliers}
    caps = [capacity.get(s) for s in built.suppliers]
    used = np.bincount(built.offer_supplier, weights=x, minlength=len(built.suppliers))
    used = used.astype(np.int64)
    for b in small.tolist():
        same = np.flatnonzero(built.offer_partida == built.offer_partida[b])
        at = int(built.offer_partida[b])
        before = _counted(built, x, at, same)
        q = int(x[b])
        for a in sorted(same.tolist(), key=lambda i: built.price[i]):
            sa = int(built.offer_supplier[a])
            if a == b or x[a] < built.lot[a] or x[a] + q > built.upper[a]:
                continue
            cap = caps[sa]
            if sa != built.offer_supplier[b] and cap is not None and used[sa] + q > cap:
                continue
            x[a] += q
            x[b] = 0
            if _counted(built, x, at, same) >= before and solver.respects_share(
                x.astype(np.float64)
            ):
                used[sa] += q
                used[built.offer_supplier[b]] -= q
                break
            x[a] -= q
            x[b] = q
        else:
            return None
    return x


def _counted(built: Built, x: IntArray, at: int, lines: Collection[int]) -> int:
    """Suppliers of a critical partida that count (0 for the other partidas)."""
    least = built.least.get(at)
    if least is None:
        return 0
    per: dict[int, int] = defaultdict(int)
    for i in lines:
        per[int(built.offer_supplier[i])] += int(x[i])
    return sum(1 for q in per.values() if q >= least)


def _prefer_earlier(built: Built, solver: _Solver, instance: Instance, x: IntArray) -> IntArray:
    """Ties go to the earlier receipt: between lines of a partida at the same price, quantity
    moves from the later-ranked line to the earlier one as far as every constraint allows
    (offered quantity, capacity, maximum share, minimum lot, suppliers of critical partidas).

    The cost and the coverage do not change, so the result stays optimal; the solver, left
    alone, is indifferent between such lines and often picked the later bid."""
    x = x.copy()
    n = built.n
    if not n:
        return x
    capacity = {s.id: s.capacity for s in instance.suppliers}
    caps = [capacity.get(s) for s in built.suppliers]
    cents = np.asarray(built.cents, dtype=np.int64)
    used = np.bincount(built.offer_supplier, weights=x, minlength=len(built.suppliers))
    used = used.astype(np.int64)
    value = [0] * len(built.suppliers)
    for i in np.flatnonzero(x):
        value[built.offer_supplier[i]] += int(cents[i]) * int(x[i])
    total = sum(value)
    share = solver.share

    def movable(a: int, b: int) -> int:
        sa, sb = int(built.offer_supplier[a]), int(built.offer_supplier[b])
        q = min(int(x[b]), int(built.upper[a] - x[a]))
        if sa != sb:
            if (cap := caps[sa]) is not None:
                q = min(q, cap - int(used[sa]))
            if share is not None:
                room = share * total - value[sa]
                q = min(q, int(room // int(cents[a])) if room > 0 else 0)
        lot = int(built.lot[b])
        if 0 < x[b] - q < lot:
            q = int(x[b]) - lot
        if x[a] == 0 and q < built.lot[a]:
            return 0
        return max(q, 0)

    starts = np.flatnonzero(np.diff(built.offer_partida, prepend=-1))
    ends = np.append(starts[1:], n)
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        lines = range(start, end)
        at = int(built.offer_partida[start])
        for a in lines:
            for b in range(end - 1, a, -1):
                if cents[b] != cents[a] or x[b] == 0:
                    continue
                q = movable(a, b)
                if not q:
                    continue
                before = _counted(built, x, at, lines)
                x[a] += q
                x[b] -= q
                if _counted(built, x, at, lines) < before:
                    x[a] -= q
                    x[b] += q
                    continue
                sa, sb = int(built.offer_supplier[a]), int(built.offer_supplier[b])
                used[sa] += q
                used[sb] -= q
                value[sa] += q * int(cents[a])
                value[sb] -= q * int(cents[b])
    return x


def _two_phases(solver: _Solver, rel_gap: float) -> tuple[FloatArray, bool, float]:
    """The best quantities found, whether proven within ``rel_gap``, and the gap."""
    b = solver.built
    penalty = np.zeros(b.num_col)
    penalty[b.slack] = b.penalty
    cost = np.zeros(b.num_col)
    cost[: b.n] = b.price
    sub_gap = rel_gap / 2

    def phase_one(share_total: str | None) -> tuple[float, FloatArray]:
        first = solver.run(
            cost=penalty,
            slack_limit=None,
            share_total=share_total,
            rel_gap=0.0,
            abs_gap=0.5,
            start=b.trivial(),
        )
        assert first is not None  # awarding nothing is always feasible
        return float(np.rint(first.values @ penalty)), first.values

    def exact(limit: float, start: FloatArray | None) -> _Outcome | None:
        return solver.run(
            cost=cost,
            slack_limit=limit,
            share_total="T" if solver.share is not None else None,
            rel_gap=rel_gap,
            abs_gap=CENT_GAP,
            start=start,
        )

    # Phase 1 without share rows: a relaxation, confirmed below once a solution respects them.
    covered, start = phase_one(None)
    relaxed = solver.run(
        cost=cost,
        slack_limit=covered,
        share_total=None,
        rel_gap=rel_gap if solver.share is None else sub_gap,
        abs_gap=CENT_GAP,
        start=start,
    )
    assert relaxed is not None  # phase 1's solution is feasible here
    if solver.respects_share(relaxed.values):
        return relaxed.values, relaxed.optimal, _gap(relaxed.primal, relaxed.bound)

    # Probes P(τ): the share rows against a constant total τ. P(τ) proves the lower bound
    # min(its dual bound, τ): were the optimum below τ, it would be a solution of P(τ). Q(τ),
    # P(τ) with the total at least τ, only has solutions that respect the rule: upper bounds.
    # τ starts at the linear relaxation's bound and is then bisected between the two.
    lower = relaxed.bound
    linear = solver.run(
        cost=cost,
        slack_limit=covered,
        share_total="T",
        rel_gap=0.0,
        abs_gap=0.0,
        start=None,
        relax=True,
    )
    best: FloatArray | None = None
    upper = float("inf")

    def keep(outcome: _Outcome | None) -> None:
        nonlocal best, upper
        if outcome is not None and solver.respects_share(outcome.values):
            found = solver.cost_of(outcome.values) / 100
            if found < upper:
                best, upper = outcome.values, found

    def closed() -> bool:
        return best is not None and upper - lower <= max(CENT_GAP, rel_gap * abs(upper))

    def probe(total: float, floor: bool) -> _Outcome | None:
        return solver.run(
            cost=cost,
            slack_limit=covered,
            share_total=total,
            rel_gap=sub_gap,
            abs_gap=CENT_GAP,
            start=best,
            floor=floor,
        )

    if linear is not None:  # otherwise the rule lowers the coverage: solved exactly below
        lower = max(lower, linear.bound)
        total, step = lower, max(rel_gap, 1e-4)
        for _ in range(MAX_ROUNDS):
            try:
                relaxed_at = probe(total, floor=False)
                lower = max(
                    lower, min(float("inf") if relaxed_at is None else relaxed_at.bound, total)
                )
                keep(relaxed_at)
                if relaxed_at is not None and not solver.respects_share(relaxed_at.values):
                    keep(probe(total, floor=True))
            except NotSolved:  # out of time: the exact model below starts from the best found
                break
            if closed():
                assert best is not None
                return best, True, _gap(upper, lower)
            if upper < float("inf"):
                following = (lower + upper) / 2
            else:
                following, step = total * (1 + step), step * 4
            if following == total:
                break
            total = following

    # The exact model; if it cannot keep phase 1's coverage, phase 1 is solved exactly too.
    outcome = exact(covered, best)
    bound = lower
    if outcome is None:
        covered, start = phase_one("T")
        outcome = exact(covered, start)
        assert outcome is not None
        bound = outcome.bound  # the bounds above assumed the coverage of the relaxed phase 1
    bound = max(bound, outcome.bound)
    primal = solver.cost_of(outcome.values) / 100
    proven = outcome.optimal or primal - bound <= max(CENT_GAP, rel_gap * abs(primal))
    return outcome.values, proven, _gap(primal, bound)


def _integral(values: FloatArray) -> bool:
    return bool(np.all(np.abs(values - np.rint(values)) <= INTEGRAL_TOLERANCE))


def _gap(primal: float, bound: float) -> float:
    if primal == bound:
        return 0.0
    return max(0.0, (primal - bound) / max(abs(primal), 1e-9))


def _ok(status: HighsStatus, step: str) -> None:
    if status == HighsStatus.kError:
        raise RuntimeError(f"HiGHS {step} failed")


def award(
    instance: Instance,
    mode: Mode = Mode.OPTIMAL,
    *,
    rel_gap: float = REL_GAP,
    time_limit: float | None = None,
) -> AwardResult:
    """The award of ``instance`` in any mode (the solver's options apply to ``optimal``)."""
    if mode is Mode.OPTIMAL:
        return solve_optimal(instance, rel_gap=rel_gap, time_limit=time_limit)
    return rules.award_by_rule(instance, mode)
