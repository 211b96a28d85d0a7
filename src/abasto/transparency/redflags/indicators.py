"""The indicators: OCP Cardinal's eleven and Abasto's eleven, each one SQL query over flat tables.

Definitions, default thresholds and exclusions follow Cardinal (open-contracting/cardinal-rs,
``docs/cli/indicators``); docs/redflags.md states each one, its source and where Abasto differs.
Quartiles are Cardinal's (statrs, Hyndman–Fan type 8), computed by the ``r8`` macro below, so a
fence here is the fence Cardinal computes on the same data.

Each query returns the same columns: ``kind`` (what is flagged), ``subject``, ``lot_id``,
``process_id``, ``supplier_id``, ``buyer_id``, ``clave``, ``value``, ``threshold`` and
``evidence`` (a struct: the numbers and the ids of the rows the flag came from).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import duckdb

from abasto.contracts.rules import MODIFICATION_CAP
from abasto.core.money import count_of, format_date, format_int, format_mxn
from abasto.transparency.redflags.flat import Frames, connect


@dataclass(frozen=True, slots=True)
class Parameters:
    """Every threshold. ``None`` for a Cardinal fence means: computed from the data (quartiles)."""

    currency: str = "MXN"
    r003_days: int = 15
    r018_methods: tuple[str, ...] = ("open", "selective")
    r024_threshold: float | None = None
    r025_percentile: int = 75
    r025_threshold: float | None = None
    r035_threshold: int = 1
    r038_threshold: float | None = None
    r038_minimum_bids: int = 2
    r038_minimum_processes: int = 2
    r048_digits: int = 2
    r048_threshold: float | None = None
    r048_minimum_processes: int = 20
    r058_threshold: float | None = None
    overprice_margin: Decimal = Decimal("0.10")
    direct_share: Decimal = Decimal("0.30")
    direct_minimum_contracts: int = 2
    split_threshold: Decimal = Decimal("400000")
    split_band: Decimal = Decimal("0.10")
    split_window_days: int = 30
    hhi_threshold: float = 2500.0
    hhi_minimum_processes: int = 2
    late_share: Decimal = Decimal("0.10")
    modification_cap: Decimal = MODIFICATION_CAP
    fill_rate_minimum: Decimal = Decimal("0.90")
    evidence_limit: int = 50
    """At most this many row ids per list in a flag's evidence (the total is always given)."""

    def __post_init__(self) -> None:
        # The currency is written into the SQL: only an ISO 4217 shape gets there.
        if not re.fullmatch(r"[A-Z]{3}", self.currency):
            raise ValueError(f"currency {self.currency!r}")


@dataclass(frozen=True, slots=True)
class Flag:
    """One red flag, with everything needed to explain it."""

    code: str
    kind: str
    subject: str
    value: float
    threshold: float | None
    evidence: dict[str, Any]
    process_id: str | None = None
    lot_id: str | None = None
    lot_label: str | None = None
    process_title: str | None = None
    supplier_id: str | None = None
    buyer_id: str | None = None
    clave: str | None = None

    @property
    def indicator(self) -> Indicator:
        return INDICATORS[self.code]

    @property
    def explanation(self) -> str:
        return self.indicator.explain(self)

    @property
    def place(self) -> str:
        """Where it happened, in words: the process and lot (or contract), or the subject."""
        if self.process_id and self.lot_label and self.lot_label != self.process_id:
            return f"{self.process_id}, {self.lot_label}"
        if self.process_id and self.kind == "contrato":
            return f"{self.process_id}, contrato {self.subject}"
        return self.process_id or self.subject


KINDS = {
    "procedimiento": "Procedimiento",
    "partida": "Partida",
    "proveedor": "Proveedor",
    "comprador": "Comprador",
    "adjudicacion": "Adjudicación",
    "clave": "Clave",
    "contrato": "Contrato",
}


@dataclass(frozen=True, slots=True)
class Indicator:
    code: str
    title: str
    definition: str
    threshold: str
    source: str
    query: Callable[[Parameters], str] = field(repr=False)
    cardinal: bool = True

    def explain(self, flag: Flag) -> str:
        """The flag in one Spanish sentence: its values, the threshold and the rows."""
        return EXPLAIN[self.code](flag)


INDICATORS: dict[str, Indicator] = {}


def _indicator(
    code: str, title: str, *, definition: str, threshold: str, source: str, cardinal: bool = True
) -> Callable[[Callable[[Parameters], str]], Callable[[Parameters], str]]:
    def register(query: Callable[[Parameters], str]) -> Callable[[Parameters], str]:
        INDICATORS[code] = Indicator(code, title, definition, threshold, source, query, cardinal)
        return query

    return register


CARDINAL = "OCP Cardinal (open-contracting/cardinal-rs), docs/cli/indicators/R/{}.md"

# ----- shared SQL ----------------------------------------------------------------------------

# Hyndman–Fan type 8 on a sorted list, as statrs (which Cardinal uses) computes quartiles.
_H = "((len(xs) + 1/3) * p + 1/3)"
SETUP = [
    f"""CREATE TEMP MACRO r8(xs, p) AS (
        CASE
            WHEN len(xs) = 0 THEN NULL
            WHEN floor({_H}) <= 0 THEN xs[1]
            WHEN floor({_H}) >= len(xs) THEN xs[len(xs)]
            ELSE xs[floor({_H})::BIGINT]
                 + ({_H} - floor({_H})) * (xs[floor({_H})::BIGINT + 1] - xs[floor({_H})::BIGINT])
        END)""",
    # One row per tenderer of a bid and per supplier of an award (consortia are rare: split
    # only those).
    """CREATE TEMP TABLE bid_party AS
        SELECT bid_id, lot_id, status, submitted_at, tenderer_id AS party_id
        FROM bids WHERE tenderers = 1
        UNION ALL
        SELECT bid_id, lot_id, status, submitted_at, unnest(string_split(tenderer_id, '|'))
        FROM bids WHERE tenderers > 1""",
    """CREATE TEMP TABLE award_party AS
        SELECT award_id, lot_id, status, award_date, supplier_id AS party_id
        FROM awards WHERE suppliers = 1
        UNION ALL
        SELECT award_id, lot_id, status, award_date, unnest(string_split(supplier_id, '|'))
        FROM awards WHERE suppliers > 1""",
    # Lots whose awards are all final, with exactly one active award to one supplier
    # (Cardinal's exclusions of R024, R025 and R058).
    """CREATE TEMP TABLE single_award AS
        SELECT lot_id,
               max(award_id) FILTER (WHERE status = 'active') AS award_id,
               max(supplier_id) FILTER (WHERE status = 'active') AS winner
        FROM awards
        GROUP BY lot_id
        HAVING bool_and(status IN ('active', 'cancelled', 'unsuccessful'))
           AND count(*) FILTER (WHERE status = 'active') = 1
           AND max(suppliers) FILTER (WHERE status = 'active') = 1""",
]


def _second_lowest(p: Parameters) -> str:
    """The winner's lowest valid bid and the lowest valid bid of anyone else, per lot."""
    return f"""CREATE TEMP TABLE second_lowest AS
        WITH pairs AS (
            SELECT s.lot_id, s.award_id, s.winner,
                   min(b.amount) FILTER (WHERE b.tenderer_id = s.winner) AS winner_amount,
                   arg_min(b.bid_id, b.amount) FILTER (WHERE b.tenderer_id = s.winner)
                       AS winner_bid,
                   min(b.amount) FILTER (WHERE b.tenderer_id <> s.winner) AS second_amount,
                   arg_min(b.bid_id, b.amount) FILTER (WHERE b.tenderer_id <> s.winner)
                       AS second_bid,
                   arg_min(b.tenderer_id, b.amount) FILTER (WHERE b.tenderer_id <> s.winner)
                       AS second_tenderer
            FROM single_award s JOIN bids b ON b.lot_id = s.lot_id
            WHERE b.status = 'valid' AND b.tenderers = 1 AND b.amount IS NOT NULL
              AND b.currency = '{p.currency}'
            GROUP BY ALL)
        -- A winner of 0 gives +inf, as Cardinal's f64 division: kept in the quartiles.
        SELECT *, CASE WHEN winner_amount = 0 THEN 'inf'::DOUBLE
                       ELSE ((second_amount - winner_amount) / winner_amount)::DOUBLE END AS ratio
        FROM pairs
        -- If the lowest bid did not win, the criteria were not price only: Cardinal excludes it.
        -- Both at 0 is 0/0, NaN in Cardinal (no place in its quartiles): left out.
        WHERE winner_amount >= 0 AND second_amount >= winner_amount AND second_amount > 0"""


def _quartiles(source: str, column: str) -> str:
    return (
        f"(SELECT r8(xs, 0.25) AS q1, r8(xs, 0.75) AS q3 "
        f"FROM (SELECT list_sort(list({column}::DOUBLE)) AS xs FROM {source}))"
    )


def _num(value: float | Decimal | None) -> str:
    return (
        "NULL" if value is None else repr(float(value)) if isinstance(value, float) else str(value)
    )


# ----- Cardinal's indicators -----------------------------------------------------------------


@_indicator(
    "R003",
    "Periodo de presentación corto",
    definition="Del inicio al fin del periodo de presentación de proposiciones "
    "(tenderPeriod) hay menos días enteros que el umbral.",
    threshold="15 días enteros",
    source=CARDINAL.format("003"),
)
def r003(p: Parameters) -> str:
    return f"""
        SELECT 'procedimiento' AS kind, process_id AS subject, NULL AS lot_id, process_id,
               NULL AS supplier_id, buyer_id, NULL AS clave, days AS value,
               {p.r003_days} AS threshold,
               {{'start': tender_start, 'end': tender_end, 'days': days,
                 'method': coalesce(method_details, method)}} AS evidence
        FROM (SELECT *, trunc((epoch(tender_end) - epoch(tender_start)) / 86400)::BIGINT AS days
              FROM processes WHERE tender_start IS NOT NULL AND tender_end IS NOT NULL)
        WHERE days < {p.r003_days}"""


@_indicator(
    "R018",
    "Una sola proposición",
    definition="Un solo licitante presentó proposición en un procedimiento competitivo "
    "(licitación pública o invitación).",
    threshold="1 licitante; métodos open y selective",
    source=CARDINAL.format("018"),
)
def r018(p: Parameters) -> str:
    methods = ", ".join(f"'{m}'" for m in p.r018_methods if re.fullmatch(r"[a-z]+", m))
    return f"""
        SELECT 'partida' AS kind, l.lot_id AS subject, l.lot_id, l.process_id,
               b.tenderer_id AS supplier_id, p.buyer_id, NULL AS clave,
               l.number_of_tenderers AS value, 1 AS threshold,
               {{'method': coalesce(p.method_details, p.method), 'bids': b.bids}} AS evidence
        FROM lots l JOIN processes p ON p.process_id = l.process_id
        LEFT JOIN (SELECT lot_id, any_value(tenderer_id) AS tenderer_id, list(bid_id) AS bids
                   FROM bids WHERE status NOT IN ('invited', 'withdrawn')
                   GROUP BY lot_id) b ON b.lot_id = l.lot_id
        WHERE l.number_of_tenderers = 1 AND p.method IN ({methods or "NULL"})"""


def _second_lowest_flag(fence: str, condition: str) -> str:
    return f"""
        SELECT 'partida' AS kind, r.lot_id AS subject, r.lot_id, NULL AS process_id,
               r.winner AS supplier_id, NULL AS buyer_id, NULL AS clave, r.ratio AS value,
               f.fence AS threshold,
               {{'award': r.award_id, 'winner_bid': r.winner_bid,
                 'winner_amount': r.winner_amount, 'second_bid': r.second_bid,
                 'second_tenderer': r.second_tenderer, 'second_amount': r.second_amount,
                 'q1': f.q1, 'q3': f.q3}} AS evidence
        FROM second_lowest r,
             (SELECT {fence} AS fence, q1, q3 FROM {_quartiles("second_lowest", "ratio")}) f
        -- A fence of NaN (quartiles between two infinite ratios, as statrs computes them too)
        -- flags nothing in Cardinal; DuckDB orders NaN above every number, so say it.
        WHERE NOT isnan(f.fence) AND {condition}"""


@_indicator(
    "R024",
    "Precio cercano al ganador",
    definition="La diferencia entre la segunda proposición válida más baja y la ganadora, "
    "relativa a la ganadora, es un valor atípico bajo entre todos los procedimientos.",
    threshold="cerca inferior Q1 − 1.5·RIC de las diferencias (se marca si es menor o igual)",
    source=CARDINAL.format("024"),
)
def r024(p: Parameters) -> str:
    fence = f"coalesce({_num(p.r024_threshold)}, q1 - 1.5 * (q3 - q1))"
    # As Cardinal: a lower fence of 0 or below (ties: many lots without any difference) would
    # flag every lot whose runner-up bid the same price, which is no outlier.
    return _second_lowest_flag(fence, "f.fence > 0 AND r.ratio <= f.fence")


@_indicator(
    "R058",
    "Proposición con gran descuento",
    definition="La diferencia entre la segunda proposición válida más baja y la ganadora, "
    "relativa a la ganadora, es un valor atípico alto entre todos los procedimientos.",
    threshold="cerca superior Q3 + 1.5·RIC de las diferencias (se marca si es mayor o igual)",
    source=CARDINAL.format("058"),
)
def r058(p: Parameters) -> str:
    fence = f"coalesce({_num(p.r058_threshold)}, q3 + 1.5 * (q3 - q1))"
    # As Cardinal: a fence of 0 (most lots without any difference) would flag them all.
    return _second_lowest_flag(fence, "f.fence > 0 AND r.ratio >= f.fence")


@_indicator(
    "R025",
    "Demasiadas proposiciones perdedoras",
    definition="Un licitante de los que más participan (número de proposiciones válidas "
    "mayor que el percentil 75) gana una proporción atípicamente baja de ellas.",
    threshold="percentil 75 de participaciones; cerca inferior Q1 − 1.5·RIC de las proporciones",
    source=CARDINAL.format("025"),
)
def r025(p: Parameters) -> str:
    return f"""
        WITH per AS (
            SELECT DISTINCT s.lot_id, b.tenderer_id, b.tenderer_id = s.winner AS won
            FROM single_award s JOIN bids b ON b.lot_id = s.lot_id
            WHERE b.status = 'valid' AND b.tenderers = 1),
        t AS (
            SELECT tenderer_id, count(*) FILTER (WHERE won) AS wins, count(*) AS n,
                   (count(*) FILTER (WHERE won))::DOUBLE / count(*) AS ratio
            FROM per GROUP BY tenderer_id),
        f AS (
            SELECT r8(ns, {p.r025_percentile} / 100) AS upper,
                   coalesce({_num(p.r025_threshold)},
                            r8(rs, 0.25) - 1.5 * (r8(rs, 0.75) - r8(rs, 0.25))) AS fence
            FROM (SELECT list_sort(list(n::DOUBLE)) AS ns, list_sort(list(ratio)) AS rs FROM t)),
        flagged AS (
            SELECT t.*, f.upper, f.fence FROM t, f WHERE t.n > f.upper AND t.ratio < f.fence)
        SELECT 'proveedor' AS kind, x.tenderer_id AS subject, NULL AS lot_id, NULL AS process_id,
               x.tenderer_id AS supplier_id, NULL AS buyer_id, NULL AS clave, x.ratio AS value,
               x.fence AS threshold,
               {{'wins': x.wins, 'valid_bids': x.n, 'top_tenderer_from': x.upper,
                 'lots': (SELECT list(lot_id ORDER BY lot_id)[1:{p.evidence_limit}]
                          FROM per WHERE per.tenderer_id = x.tenderer_id)}} AS evidence
        FROM flagged x"""


@_indicator(
    "R028",
    "Precios idénticos",
    definition="Licitantes distintos presentaron proposiciones con el mismo precio en la "
    "misma partida.",
    threshold="dos o más licitantes con el mismo importe y moneda",
    source=CARDINAL.format("028"),
)
def r028(p: Parameters) -> str:
    return """
        WITH sb AS (
            SELECT lot_id, bid_id, tenderer_id, amount, currency FROM bids
            WHERE status NOT IN ('invited', 'withdrawn') AND tenderer_id IS NOT NULL
              AND amount IS NOT NULL AND currency IS NOT NULL),
        same AS (
            SELECT lot_id, amount, currency FROM sb GROUP BY ALL
            HAVING count(DISTINCT tenderer_id) > 1),
        hits AS (SELECT sb.* FROM sb JOIN same USING (lot_id, amount, currency))
        SELECT 'partida' AS kind, h.lot_id || ' · ' || h.tenderer_id AS subject, h.lot_id,
               NULL AS process_id, h.tenderer_id AS supplier_id, NULL AS buyer_id, NULL AS clave,
               1 AS value, 1 AS threshold,
               {'amount': any_value(h.amount), 'currency': any_value(h.currency),
                'bids': list(DISTINCT h.bid_id),
                'others': list(DISTINCT {'bid': o.bid_id, 'tenderer': o.tenderer_id})} AS evidence
        FROM hits h JOIN hits o ON o.lot_id = h.lot_id AND o.amount = h.amount
             AND o.currency = h.currency AND o.tenderer_id <> h.tenderer_id
        GROUP BY h.lot_id, h.tenderer_id"""


@_indicator(
    "R030",
    "Proposición tardía ganadora",
    definition="Una proposición válida recibida después del cierre del periodo de presentación "
    "es de un proveedor con adjudicación activa.",
    threshold="fecha de la proposición posterior a tenderPeriod.endDate",
    source=CARDINAL.format("030"),
)
def r030(p: Parameters) -> str:
    return """
        SELECT 'partida' AS kind, b.lot_id AS subject, b.lot_id, NULL AS process_id,
               any_value(b.party_id) AS supplier_id, NULL AS buyer_id, NULL AS clave,
               1 AS value, 1 AS threshold,
               {'deadline': any_value(pr.tender_end),
                'late': list(DISTINCT {'bid': b.bid_id, 'tenderer': b.party_id,
                                       'submitted_at': b.submitted_at}),
                'awards': list(DISTINCT a.award_id)} AS evidence
        FROM bid_party b JOIN lots l ON l.lot_id = b.lot_id
        JOIN processes pr ON pr.process_id = l.process_id
        JOIN award_party a ON a.lot_id = b.lot_id AND a.party_id = b.party_id
             AND a.status = 'active'
        WHERE b.status = 'valid' AND b.submitted_at > pr.tender_end
        GROUP BY b.lot_id"""


@_indicator(
    "R035",
    "Todas descalificadas salvo la ganadora",
    definition="Un solo licitante tiene proposiciones válidas, es el único adjudicado, y otros "
    "licitantes fueron descalificados.",
    threshold="al menos 1 licitante descalificado",
    source=CARDINAL.format("035"),
)
def r035(p: Parameters) -> str:
    return f"""
        WITH fin AS (
            SELECT lot_id FROM awards GROUP BY lot_id
            HAVING bool_and(status IN ('active', 'cancelled', 'unsuccessful'))),
        aw AS (
            SELECT lot_id, count(DISTINCT party_id) AS n, min(party_id) AS party,
                   list(DISTINCT award_id) AS awards
            FROM award_party WHERE status = 'active' GROUP BY lot_id),
        v AS (
            SELECT lot_id, count(DISTINCT party_id) AS n, min(party_id) AS party,
                   list(DISTINCT bid_id) AS bids
            FROM bid_party WHERE status = 'valid' GROUP BY lot_id),
        d AS (
            SELECT bp.lot_id, count(DISTINCT bp.party_id) AS n,
                   list(DISTINCT {{'bid': bp.bid_id, 'tenderer': bp.party_id}}) AS bids
            FROM bid_party bp JOIN v ON v.lot_id = bp.lot_id AND bp.party_id <> v.party
            WHERE bp.status = 'disqualified' GROUP BY bp.lot_id)
        SELECT 'partida' AS kind, v.lot_id AS subject, v.lot_id, NULL AS process_id,
               v.party AS supplier_id, NULL AS buyer_id, NULL AS clave, d.n AS value,
               {p.r035_threshold} AS threshold,
               {{'valid_bids': v.bids, 'awards': aw.awards, 'disqualified': d.bids}} AS evidence
        FROM fin JOIN v ON v.lot_id = fin.lot_id JOIN aw ON aw.lot_id = fin.lot_id
        JOIN d ON d.lot_id = fin.lot_id
        WHERE v.n = 1 AND aw.n = 1 AND aw.party = v.party AND d.n >= {p.r035_threshold}"""


@_indicator(
    "R036",
    "Proposición más baja descalificada",
    definition="Hay adjudicación activa y la proposición más baja de la partida fue descalificada.",
    threshold="la más baja (en un empate, todas las más bajas) descalificada",
    source=CARDINAL.format("036"),
)
def r036(p: Parameters) -> str:
    return f"""
        WITH act AS (
            SELECT lot_id, string_agg(DISTINCT supplier_id, '|') AS winners,
                   list(DISTINCT award_id) AS awards
            FROM awards WHERE status = 'active' GROUP BY lot_id),
        sb AS (
            SELECT b.* FROM bids b JOIN act ON act.lot_id = b.lot_id
            WHERE b.status NOT IN ('invited', 'withdrawn') AND b.amount IS NOT NULL
              AND b.currency = '{p.currency}'),
        low AS (SELECT lot_id, min(amount) AS amount FROM sb GROUP BY lot_id),
        at_low AS (SELECT sb.* FROM sb JOIN low USING (lot_id, amount))
        SELECT 'partida' AS kind, x.lot_id AS subject, x.lot_id, NULL AS process_id,
               act.winners AS supplier_id, NULL AS buyer_id, NULL AS clave, 1 AS value,
               1 AS threshold,
               {{'lowest_amount': x.amount, 'lowest': x.bids, 'awards': act.awards}} AS evidence
        FROM (SELECT lot_id, any_value(amount) AS amount,
                     list({{'bid': bid_id, 'tenderer': tenderer_id, 'reason': reason}}) AS bids
              FROM at_low GROUP BY lot_id HAVING bool_and(status = 'disqualified')) x
        JOIN act ON act.lot_id = x.lot_id"""


@_indicator(
    "R038",
    "Demasiadas proposiciones descalificadas",
    definition="La proporción de proposiciones descalificadas de un licitante (o de un "
    "comprador) es un valor atípico alto.",
    threshold="cerca superior Q3 + 1.5·RIC de las proporciones; mínimo 2 proposiciones "
    "por licitante y 2 procedimientos por comprador",
    source=CARDINAL.format("038"),
)
def r038(p: Parameters) -> str:
    fence = f"coalesce({_num(p.r038_threshold)}, q3 + 1.5 * (q3 - q1))"
    return f"""
        WITH t AS (
            SELECT party_id, count(*) AS n, count(*) FILTER (WHERE status = 'disqualified') AS d,
                   (count(*) FILTER (WHERE status = 'disqualified'))::DOUBLE / count(*) AS ratio
            FROM bid_party WHERE status NOT IN ('invited', 'withdrawn') AND party_id IS NOT NULL
            GROUP BY party_id HAVING count(*) >= {p.r038_minimum_bids}),
        pb AS (
            SELECT l.process_id, count(*) AS n,
                   count(*) FILTER (WHERE b.status = 'disqualified') AS d
            FROM bids b JOIN lots l ON l.lot_id = b.lot_id
            WHERE b.status NOT IN ('invited', 'withdrawn') GROUP BY l.process_id),
        c AS (
            SELECT pr.buyer_id, sum(pb.n) AS n, sum(pb.d) AS d,
                   sum(pb.d)::DOUBLE / sum(pb.n) AS ratio, count(*) AS processes
            FROM pb JOIN processes pr ON pr.process_id = pb.process_id
            WHERE pr.buyer_id IS NOT NULL GROUP BY pr.buyer_id
            HAVING count(*) >= {p.r038_minimum_processes}),
        ft AS (SELECT {fence} AS fence FROM {_quartiles("t", "ratio")}),
        fc AS (SELECT {fence} AS fence FROM {_quartiles("c", "ratio")})
        SELECT 'proveedor' AS kind, t.party_id AS subject, NULL AS lot_id, NULL AS process_id,
               t.party_id AS supplier_id, NULL AS buyer_id, NULL AS clave, t.ratio AS value,
               ft.fence AS threshold,
               {{'disqualified': t.d, 'submitted': t.n, 'processes': NULL}} AS evidence
        FROM t, ft WHERE ft.fence > 0 AND t.ratio >= ft.fence
        UNION ALL
        SELECT 'comprador', c.buyer_id, NULL, NULL, NULL, c.buyer_id, NULL, c.ratio, fc.fence,
               {{'disqualified': c.d, 'submitted': c.n, 'processes': c.processes}}
        -- A single buyer has no peers: a fence from its quartiles would be its own ratio.
        FROM c, fc WHERE fc.fence > 0 AND c.ratio >= fc.fence
          AND ({_num(p.r038_threshold)} IS NOT NULL OR (SELECT count(*) FROM c) >= 2)"""


@_indicator(
    "R048",
    "Proveedor heterogéneo",
    definition="La variedad de grupos (primeros dígitos de la clasificación) de lo adjudicado "
    "a un proveedor es un valor atípico alto entre los proveedores adjudicados en al menos "
    "20 procedimientos.",
    threshold="cerca superior Q3 + 1.5·RIC de las variedades; 2 dígitos; mínimo 20 procedimientos",
    source=CARDINAL.format("048"),
)
def r048(p: Parameters) -> str:
    fence = f"coalesce({_num(p.r048_threshold)}, q3 + 1.5 * (q3 - q1))"
    digits = int(p.r048_digits)
    return f"""
        WITH aw AS (
            SELECT a.award_id, a.supplier_id, l.process_id
            FROM awards a JOIN lots l ON l.lot_id = a.lot_id
            WHERE a.status = 'active' AND a.suppliers = 1),
        s AS (
            SELECT aw.supplier_id, count(DISTINCT aw.process_id) AS processes,
                   count(DISTINCT left(i.classification, {digits})) AS variety,
                   list(DISTINCT left(i.classification, {digits})) AS groups
            FROM aw JOIN award_items i ON i.award_id = aw.award_id
            WHERE i.classification IS NOT NULL GROUP BY aw.supplier_id
            HAVING count(DISTINCT aw.process_id) >= {p.r048_minimum_processes}),
        f AS (SELECT {fence} AS fence FROM {_quartiles("s", "variety")})
        SELECT 'proveedor' AS kind, s.supplier_id AS subject, NULL AS lot_id,
               NULL AS process_id, s.supplier_id, NULL AS buyer_id, NULL AS clave,
               s.variety AS value, f.fence AS threshold,
               {{'groups': list_sort(s.groups), 'processes': s.processes}} AS evidence
        -- Everyone supplies at least one group: a fence of 1 would flag every supplier.
        FROM s, f WHERE f.fence > 1 AND s.variety >= f.fence"""


# ----- Abasto's own indicators ---------------------------------------------------------------


@_indicator(
    "AB01",
    "Sobreprecio",
    definition="El precio unitario adjudicado supera el precio de referencia (mediana de la "
    "investigación de mercado) en más del margen.",
    threshold="más de 10 % sobre la referencia",
    source="Abasto; el margen es el de «precio no aceptable» (LAASSP art. 2 fr. XLI, RLAASSP "
    "art. 51)",
    cardinal=False,
)
def ab01(p: Parameters) -> str:
    return f"""
        SELECT 'adjudicacion' AS kind, a.award_id AS subject, a.lot_id, NULL AS process_id,
               a.supplier_id, NULL AS buyer_id, i.classification AS clave,
               (i.unit_price / i.reference_price - 1)::DOUBLE AS value,
               {p.overprice_margin} AS threshold,
               {{'award': a.award_id, 'unit_price': i.unit_price,
                 'reference_price': i.reference_price, 'quantity': i.quantity}} AS evidence
        FROM award_items i JOIN awards a ON a.award_id = i.award_id
        WHERE a.status = 'active' AND i.currency = '{p.currency}' AND i.reference_price > 0
          AND i.unit_price > i.reference_price * (1 + {p.overprice_margin})"""


@_indicator(
    "AB02",
    "Adjudicaciones directas",
    definition="La parte del monto contratado por un comprador que se adjudicó directamente "
    "supera el umbral.",
    threshold="más de 30 % del monto contratado (mínimo 2 contratos)",
    source="Abasto; el 30 % es el tope de las contrataciones de excepción por monto (LAASSP "
    "art. 42)",
    cardinal=False,
)
def ab02(p: Parameters) -> str:
    return f"""
        WITH c AS (
            SELECT c.contract_id, c.buyer_id, c.amount, pr.method
            FROM contracts c JOIN processes pr ON pr.process_id = c.process_id
            WHERE c.buyer_id IS NOT NULL AND c.amount IS NOT NULL
              AND c.currency = '{p.currency}'),
        b AS (
            SELECT buyer_id, count(*) AS n, sum(amount) AS total,
                   coalesce(sum(amount) FILTER (WHERE method = 'direct'), 0) AS direct,
                   list(contract_id ORDER BY contract_id)
                       FILTER (WHERE method = 'direct')[1:{p.evidence_limit}] AS contracts,
                   count(*) FILTER (WHERE method = 'direct') AS n_direct
            FROM c GROUP BY buyer_id HAVING count(*) >= {p.direct_minimum_contracts})
        SELECT 'comprador' AS kind, buyer_id AS subject, NULL AS lot_id, NULL AS process_id,
               NULL AS supplier_id, buyer_id, NULL AS clave, (direct / total)::DOUBLE AS value,
               {p.direct_share} AS threshold,
               {{'direct_amount': direct, 'total_amount': total, 'contracts': n,
                 'direct_contracts': n_direct, 'direct_ids': contracts}} AS evidence
        FROM b WHERE total > 0 AND direct > total * {p.direct_share}"""


_AWARD_DAY = "(a.award_date AT TIME ZONE 'America/Mexico_City')::DATE"


@_indicator(
    "AB03",
    "Proveedor sancionado",
    definition="Se adjudicó a un proveedor con una sanción de la SFP vigente en la fecha de la "
    "adjudicación (resoluciones absolutorias excluidas).",
    threshold="sanción iniciada en o antes de la fecha y no terminada",
    source="Abasto; Directorio de proveedores y contratistas sancionados de la SFP",
    cardinal=False,
)
def ab03(p: Parameters) -> str:
    return f"""
        SELECT 'adjudicacion' AS kind, a.award_id AS subject, a.lot_id, NULL AS process_id,
               a.party_id AS supplier_id, NULL AS buyer_id, NULL AS clave, 1 AS value,
               NULL AS threshold,
               {{'award': a.award_id, 'award_day': any_value({_AWARD_DAY}),
                 'sanctions': list({{'starts_on': s.starts_on, 'ends_on': s.ends_on,
                                     'detail': s.detail}})}} AS evidence
        FROM award_party a JOIN sanctions s ON s.party_id = a.party_id
        WHERE a.status = 'active' AND s.starts_on <= {_AWARD_DAY}
          AND (s.ends_on IS NULL OR {_AWARD_DAY} < s.ends_on)
        GROUP BY a.award_id, a.lot_id, a.party_id"""


@_indicator(
    "AB04",
    "Proveedor de reciente registro",
    definition="Se adjudicó a un proveedor registrado menos de un año antes de la adjudicación.",
    threshold="menos de 1 año entre el registro y la adjudicación",
    source="Abasto",
    cardinal=False,
)
def ab04(p: Parameters) -> str:
    return f"""
        SELECT 'adjudicacion' AS kind, a.award_id AS subject, a.lot_id, NULL AS process_id,
               a.party_id AS supplier_id, NULL AS buyer_id, NULL AS clave,
               date_diff('day', r.registered_on, {_AWARD_DAY}) AS value,
               date_diff('day', r.registered_on, (r.registered_on + INTERVAL 1 YEAR)::DATE)
                   AS threshold,
               {{'award': a.award_id, 'registered_on': r.registered_on,
                 'award_day': {_AWARD_DAY}}} AS evidence
        FROM award_party a JOIN parties r ON r.party_id = a.party_id
        WHERE a.status = 'active' AND r.registered_on IS NOT NULL
          AND {_AWARD_DAY} < (r.registered_on + INTERVAL 1 YEAR)::DATE"""


@_indicator(
    "AB05",
    "Contratos fraccionados",
    definition="Un comprador firmó con un mismo proveedor dos o más contratos, a no más de 30 "
    "días uno de otro, cada uno justo debajo del monto que obliga a licitar (a menos de 10 % "
    "de él).",
    threshold="monto en [90 %, 100 %) del umbral de $400,000.00 (parámetro), ventana de 30 días",
    source="Abasto; el umbral es un parámetro: fíjelo al monto máximo de adjudicación del "
    "PEF que corresponda al comprador (LAASSP art. 17, último párrafo, prohíbe fraccionar)",
    cardinal=False,
)
def ab05(p: Parameters) -> str:
    low = p.split_threshold * (1 - p.split_band)
    return f"""
        WITH c AS (
            SELECT * FROM contracts
            WHERE amount >= {low} AND amount < {p.split_threshold}
              AND currency = '{p.currency}' AND buyer_id IS NOT NULL
              AND supplier_id IS NOT NULL AND signed_at IS NOT NULL),
        near AS (
            SELECT DISTINCT x.contract_id FROM c x JOIN c y
                ON x.buyer_id = y.buyer_id AND x.supplier_id = y.supplier_id
               AND x.contract_id <> y.contract_id
               AND abs(epoch(x.signed_at) - epoch(y.signed_at)) <= {p.split_window_days} * 86400)
        SELECT 'comprador' AS kind, c.buyer_id || ' · ' || c.supplier_id AS subject,
               NULL AS lot_id, NULL AS process_id, c.supplier_id, c.buyer_id, NULL AS clave,
               count(*) AS value, 2 AS threshold,
               {{'total': sum(c.amount), 'limit': {p.split_threshold}, 'low': {low},
                 'contracts': list({{'contract': c.contract_id, 'amount': c.amount,
                                     'signed_at': c.signed_at}} ORDER BY c.signed_at)
                                 [1:{p.evidence_limit}]}} AS evidence
        FROM c JOIN near ON near.contract_id = c.contract_id
        GROUP BY c.buyer_id, c.supplier_id"""


@_indicator(
    "AB06",
    "Concentración por clave",
    definition="El índice Herfindahl-Hirschman (HHI) de los montos adjudicados de una clave "
    "por proveedor supera el umbral, en claves adjudicadas en al menos 2 procedimientos.",
    threshold="HHI mayor que 2,500 (mercado muy concentrado)",
    source="Abasto; umbral de las Horizontal Merger Guidelines (DOJ/FTC, 2010)",
    cardinal=False,
)
def ab06(p: Parameters) -> str:
    return f"""
        WITH v AS (
            SELECT i.classification AS clave, a.supplier_id, l.process_id, i.amount, a.award_id
            FROM award_items i JOIN awards a ON a.award_id = i.award_id
            JOIN lots l ON l.lot_id = a.lot_id
            WHERE a.status = 'active' AND a.suppliers = 1 AND i.classification IS NOT NULL
              AND i.amount > 0 AND i.currency = '{p.currency}'),
        per AS (SELECT clave, supplier_id, sum(amount) AS amount FROM v GROUP BY ALL),
        tot AS (
            SELECT clave, sum(amount) AS total, count(*) AS suppliers FROM per GROUP BY clave),
        procs AS (
            SELECT clave, count(DISTINCT process_id) AS processes,
                   list(DISTINCT award_id)[1:{p.evidence_limit}] AS awards
            FROM v GROUP BY clave HAVING count(DISTINCT process_id) >= {p.hhi_minimum_processes}),
        h AS (
            SELECT per.clave, sum(power((per.amount / tot.total)::DOUBLE, 2)) * 10000 AS hhi,
                   arg_max(per.supplier_id, per.amount) AS top,
                   list({{'supplier': per.supplier_id, 'amount': per.amount,
                          'share': (per.amount / tot.total)::DOUBLE}}
                        ORDER BY per.amount DESC)[1:10] AS shares
            FROM per JOIN tot ON tot.clave = per.clave GROUP BY per.clave)
        SELECT 'clave' AS kind, h.clave AS subject, NULL AS lot_id, NULL AS process_id,
               h.top AS supplier_id, NULL AS buyer_id, h.clave, h.hhi AS value,
               {p.hhi_threshold} AS threshold,
               {{'total': tot.total, 'suppliers': tot.suppliers, 'processes': procs.processes,
                 'shares': h.shares, 'awards': procs.awards}} AS evidence
        FROM h JOIN tot ON tot.clave = h.clave JOIN procs ON procs.clave = h.clave
        WHERE h.hhi > {p.hhi_threshold}"""


# ----- after the fallo: contracts, deliveries, penalties ---------------------------------------

_NAME = "LEFT JOIN (SELECT party_id, any_value(name) AS name FROM parties GROUP BY party_id) pa"
"""A supplier's name (its razón social) beside its RFC: flags name companies by their name."""
_LOCAL_DAY = "(({0}) AT TIME ZONE 'America/Mexico_City')::DATE"


@_indicator(
    "AB07",
    "Entregas tardías",
    definition="La parte de las entregas recibidas de un proveedor que llegaron después de la "
    "fecha de entrega de su orden de suministro supera el umbral (entregar el mismo día es a "
    "tiempo).",
    threshold="más de 10 % de sus entregas recibidas",
    source="Abasto; la fecha de entrega de cada orden de suministro, contada en días naturales "
    "de la Ciudad de México, como las penas convencionales (LAASSP art. 53)",
    cardinal=False,
)
def ab07(p: Parameters) -> str:
    late = f"date_diff('day', due_on, {_LOCAL_DAY.format('received_at')})"
    return f"""
        WITH d AS (
            SELECT *, {late} AS days_late FROM deliveries
            WHERE supplier_id IS NOT NULL AND received_at IS NOT NULL AND due_on IS NOT NULL),
        s AS (
            SELECT supplier_id, count(*) AS n, count(*) FILTER (WHERE days_late > 0) AS late,
                   max(days_late) AS worst,
                   list(delivery_id ORDER BY days_late DESC, delivery_id)
                       FILTER (WHERE days_late > 0)[1:{p.evidence_limit}] AS late_deliveries
            FROM d GROUP BY supplier_id)
        SELECT 'proveedor' AS kind, s.supplier_id AS subject, NULL AS lot_id, NULL AS process_id,
               s.supplier_id, NULL AS buyer_id, NULL AS clave, (s.late / s.n)::DOUBLE AS value,
               {p.late_share} AS threshold,
               {{'supplier_name': pa.name, 'late': s.late, 'deliveries': s.n,
                 'worst_days_late': s.worst, 'late_deliveries': s.late_deliveries}} AS evidence
        FROM s {_NAME} ON pa.party_id = s.supplier_id
        WHERE s.late > s.n * {p.late_share}"""


@_indicator(
    "AB08",
    "Contrato ampliado más de 20 %",
    definition="Los convenios modificatorios llevaron el importe máximo de un contrato más "
    "del tope arriba del importe originalmente contratado.",
    threshold="más de 20 % sobre el importe original (exactamente 20 % no se marca)",
    source="Abasto; el tope de los convenios modificatorios (LAASSP art. 52)",
    cardinal=False,
)
def ab08(p: Parameters) -> str:
    return f"""
        SELECT 'contrato' AS kind, c.contract_id AS subject, NULL AS lot_id, c.process_id,
               c.supplier_id, c.buyer_id, NULL AS clave,
               ((c.max_amount - c.original_amount) / c.original_amount)::DOUBLE AS value,
               {p.modification_cap} AS threshold,
               {{'supplier_name': pa.name, 'original_amount': c.original_amount,
                 'max_amount': c.max_amount, 'convenios': c.convenios}} AS evidence
        FROM signed_contracts c {_NAME} ON pa.party_id = c.supplier_id
        WHERE c.currency = '{p.currency}' AND c.original_amount > 0
          AND c.max_amount > c.original_amount * (1 + {p.modification_cap})"""


@_indicator(
    "AB09",
    "Contrato firmado fuera de plazo",
    definition="La última de las dos firmas del contrato (institución y proveedor) es "
    "posterior al último día del plazo para firmar, contado desde la notificación del fallo.",
    threshold="después del plazo (15 días naturales desde la notificación del fallo, o los "
    "que fije la convocatoria)",
    source="Abasto; LAASSP art. 46 (el plazo de las reglas de contratos)",
    cardinal=False,
)
def ab09(p: Parameters) -> str:
    days = f"date_diff('day', signing_deadline, {_LOCAL_DAY.format('signed_at')})"
    return f"""
        WITH c AS (
            SELECT *, {days} AS days_late FROM signed_contracts
            WHERE signed_at IS NOT NULL AND signing_deadline IS NOT NULL)
        SELECT 'contrato' AS kind, c.contract_id AS subject, NULL AS lot_id, c.process_id,
               c.supplier_id, c.buyer_id, NULL AS clave, c.days_late AS value, 0 AS threshold,
               {{'supplier_name': pa.name, 'signing_deadline': c.signing_deadline,
                 'signed_at': c.signed_at}} AS evidence
        FROM c {_NAME} ON pa.party_id = c.supplier_id
        WHERE c.days_late > 0"""


@_indicator(
    "AB10",
    "Nivel de surtimiento bajo",
    definition="Las piezas que un proveedor entregó a tiempo y le fueron aceptadas, entre las "
    "piezas de sus órdenes de suministro ya vencidas, quedan debajo del mínimo.",
    threshold="menos de 90 % (exactamente 90 % no se marca)",
    source="Abasto; el nivel de surtimiento con que el sector mide a sus proveedores",
    cardinal=False,
)
def ab10(p: Parameters) -> str:
    return f"""
        SELECT 'proveedor' AS kind, f.supplier_id AS subject, NULL AS lot_id,
               NULL AS process_id, f.supplier_id, NULL AS buyer_id, NULL AS clave,
               (f.on_time_accepted / f.ordered_due)::DOUBLE AS value,
               {p.fill_rate_minimum} AS threshold,
               {{'supplier_name': pa.name, 'on_time_accepted': f.on_time_accepted,
                 'ordered_due': f.ordered_due}} AS evidence
        FROM fill_rates f {_NAME} ON pa.party_id = f.supplier_id
        WHERE f.ordered_due > 0
          AND f.on_time_accepted < f.ordered_due * {p.fill_rate_minimum}"""


@_indicator(
    "AB11",
    "Penas en el tope",
    definition="Las penas convencionales cobradas en un contrato alcanzaron el importe de su "
    "garantía de cumplimiento, su tope: procede evaluar la rescisión.",
    threshold="penas iguales o mayores que la garantía",
    source="Abasto; LAASSP art. 53 (las penas no exceden la garantía de cumplimiento) y "
    "art. 54 (rescisión)",
    cardinal=False,
)
def ab11(p: Parameters) -> str:
    return f"""
        SELECT 'contrato' AS kind, c.contract_id AS subject, NULL AS lot_id, c.process_id,
               c.supplier_id, c.buyer_id, NULL AS clave,
               (c.penalties / c.guarantee_amount)::DOUBLE AS value, 1 AS threshold,
               {{'supplier_name': pa.name, 'penalties': c.penalties,
                 'guarantee_amount': c.guarantee_amount}} AS evidence
        FROM signed_contracts c {_NAME} ON pa.party_id = c.supplier_id
        WHERE c.currency = '{p.currency}' AND c.guarantee_amount > 0
          AND c.penalties >= c.guarantee_amount"""


CODES = sorted(INDICATORS, key=lambda code: (not INDICATORS[code].cardinal, code))
"""Cardinal's first, then Abasto's, each by code."""


# ----- running them --------------------------------------------------------------------------


def _wrapped(code: str, query: str) -> str:
    return f"""
        SELECT q.kind, q.subject::VARCHAR AS subject, q.lot_id::VARCHAR AS lot_id,
               coalesce(q.process_id, l.process_id)::VARCHAR AS process_id, l.label AS lot_label,
               pr.title AS process_title, q.supplier_id::VARCHAR AS supplier_id,
               q.buyer_id::VARCHAR AS buyer_id, q.clave::VARCHAR AS clave,
               q.value::DOUBLE AS value, q.threshold::DOUBLE AS threshold, q.evidence
        FROM ({query}) q
        LEFT JOIN lots l ON l.lot_id = q.lot_id
        LEFT JOIN processes pr ON pr.process_id = coalesce(q.process_id, l.process_id)
        ORDER BY 2"""


def prepare(con: duckdb.DuckDBPyConnection, params: Parameters) -> None:
    """The macro and the shared tables every indicator reads."""
    for statement in [*SETUP, _second_lowest(params)]:
        con.execute(statement)


def run_one(con: duckdb.DuckDBPyConnection, code: str, params: Parameters) -> list[Flag]:
    rows = con.execute(_wrapped(code, INDICATORS[code].query(params))).fetchall()
    return [
        Flag(
            code=code,
            kind=kind,
            subject=subject,
            lot_id=lot_id,
            process_id=process_id,
            lot_label=lot_label,
            process_title=process_title,
            supplier_id=supplier_id,
            buyer_id=buyer_id,
            clave=clave,
            value=value,
            threshold=threshold,
            evidence=evidence or {},
        )
        for (
            kind,
            subject,
            lot_id,
            process_id,
            lot_label,
            process_title,
            supplier_id,
            buyer_id,
            clave,
            value,
            threshold,
            evidence,
        ) in rows
    ]


def compute(
    frames: Frames, params: Parameters | None = None, *, threads: int | None = None
) -> list[Flag]:
    """Every indicator over the frames, in code order."""
    params = params or Parameters(currency=frames.currency)
    con = connect(frames, threads=threads)
    try:
        prepare(con, params)
        return [flag for code in CODES for flag in run_one(con, code, params)]
    finally:
        con.close()


# ----- explanations --------------------------------------------------------------------------


def _money(value: object) -> str:
    return format_mxn(Decimal(str(value))) if value is not None else "sin importe"


def _pct(value: float | None) -> str:
    if value is None:
        return "—"
    if math.isinf(value):
        # A fence at +inf: more than a quarter of the lots' winners bid 0 (their ratio is +inf).
        return "infinita (más de una cuarta parte de los ganadores ofertó 0)"
    return f"{value * 100:.1f} %"


def _below(evidence: Mapping[str, Any]) -> float | None:
    """How far the winner is below the runner-up, as a share of the runner-up's amount (the
    flag's value is the runner-up's excess over the winner, a share of the winner's amount)."""
    winner, second = evidence.get("winner_amount"), evidence.get("second_amount")
    if winner is None or not second:
        return None
    return float((Decimal(second) - Decimal(winner)) / Decimal(second))


def _pct2(value: float | None) -> str:
    """A share to the hundredth of a point: 20.01 % is not 20 %."""
    return "—" if value is None else f"{value * 100:.2f} %"


def _company(flag: Flag) -> str:
    """A supplier by its name, with its RFC; the RFC alone when the name is unknown."""
    name = flag.evidence.get("supplier_name")
    return f"{name} ({flag.supplier_id})" if name else str(flag.supplier_id)


def _day(value: object) -> str:
    if isinstance(value, datetime | date):
        return format_date(value)
    return str(value) if value is not None else "sin fecha"


def _ids(items: object, limit: int = 5) -> str:
    values = [str(i) for i in items] if isinstance(items, list) else []
    shown = ", ".join(values[:limit])
    return shown + (f" y {len(values) - limit} más" if len(values) > limit else "")


def _tenderers(items: object) -> str:
    found = items if isinstance(items, list) else []
    return ", ".join(f"{i.get('tenderer')} ({i.get('bid')})" for i in found if isinstance(i, dict))


EXPLAIN: dict[str, Callable[[Flag], str]] = {
    "R003": lambda f: (
        f"El periodo de presentación duró "
        f"{count_of(round(f.value), 'día entero', 'días enteros')} "
        f"(del {_day(f.evidence.get('start'))} al {_day(f.evidence.get('end'))}); "
        f"el umbral es {f.threshold:.0f} días."
    ),
    "R018": lambda f: (
        f"Solo un licitante ({f.supplier_id or 'sin identificar'}) presentó proposición en un "
        f"procedimiento competitivo ({f.evidence.get('method')}); proposiciones: "
        f"{_ids(f.evidence.get('bids'))}."
    ),
    "R024": lambda f: (
        f"La segunda proposición válida más baja ({_money(f.evidence.get('second_amount'))}, de "
        f"{f.evidence.get('second_tenderer')}) está solo {_pct(f.value)} arriba de la ganadora "
        f"({_money(f.evidence.get('winner_amount'))}, de {f.supplier_id}); la cerca inferior "
        f"es {_pct(f.threshold)}."
    ),
    "R058": lambda f: (
        (
            f"El ganador ofertó 0 ({f.supplier_id}) y la segunda más baja "
            f"({_money(f.evidence.get('second_amount'))}, de "
            f"{f.evidence.get('second_tenderer')}) lo supera en una proporción infinita"
            if not math.isfinite(f.value)
            else f"La ganadora ({_money(f.evidence.get('winner_amount'))}, de {f.supplier_id}) "
            f"está {_pct(_below(f.evidence))} debajo de la segunda más baja "
            f"({_money(f.evidence.get('second_amount'))}), que la supera en {_pct(f.value)}"
        )
        + f"; la cerca superior es {_pct(f.threshold)}."
    ),
    "R025": lambda f: (
        f"{f.supplier_id} ganó {f.evidence.get('wins')} de {f.evidence.get('valid_bids')} "
        f"procedimientos en que tuvo proposición válida ({_pct(f.value)}); la cerca inferior es "
        f"{_pct(f.threshold)} y participa más que el percentil 75 "
        f"({(f.evidence.get('top_tenderer_from') or 0):.1f})."
    ),
    "R028": lambda f: (
        f"{f.supplier_id} ofreció {_money(f.evidence.get('amount'))} "
        f"{f.evidence.get('currency')}, el mismo precio que "
        f"{_tenderers(f.evidence.get('others'))}."
    ),
    "R030": lambda f: (
        f"La proposición de {_tenderers(f.evidence.get('late'))} llegó después del cierre "
        f"({_day(f.evidence.get('deadline'))}) y ganó."
    ),
    "R035": lambda f: (
        f"Solo {f.supplier_id} quedó con proposición válida y fue adjudicado; "
        + count_of(
            round(f.value),
            "licitante más fue descalificado",
            "licitantes más fueron descalificados",
        )
        + ": "
        f"{_tenderers(f.evidence.get('disqualified'))}."
    ),
    "R036": lambda f: (
        f"La proposición más baja ({_money(f.evidence.get('lowest_amount'))}) fue "
        f"descalificada: "
        + "; ".join(
            f"{i.get('tenderer')}"
            + (f" — {str(i.get('reason')).rstrip('.')}" if i.get("reason") else "")
            for i in f.evidence.get("lowest") or []
        )
        + f". Se adjudicó a {(f.supplier_id or 'otro proveedor').replace('|', ', ')}."
    ),
    "R038": lambda f: (
        f"{f.subject}: {f.evidence.get('disqualified')} de {f.evidence.get('submitted')} "
        f"proposiciones descalificadas ({_pct(f.value)}); la cerca superior es "
        f"{_pct(f.threshold)}."
    ),
    "R048": lambda f: (
        f"{f.supplier_id} tiene adjudicaciones en {f.value:.0f} grupos "
        f"({_ids(f.evidence.get('groups'), 10)}) en {f.evidence.get('processes')} "
        f"procedimientos; la cerca superior es {f.threshold or 0:.1f}."
    ),
    "AB01": lambda f: (
        f"Precio adjudicado {_money(f.evidence.get('unit_price'))} contra referencia "
        f"{_money(f.evidence.get('reference_price'))}: {_pct(f.value)} arriba; el margen es "
        f"{_pct(f.threshold)}."
    ),
    "AB02": lambda f: (
        f"{f.buyer_id} adjudicó directamente {_money(f.evidence.get('direct_amount'))} de "
        f"{_money(f.evidence.get('total_amount'))} contratados ({_pct(f.value)}, "
        f"{f.evidence.get('direct_contracts')} de {f.evidence.get('contracts')} contratos); "
        f"el umbral es {_pct(f.threshold)}."
    ),
    "AB03": lambda f: (
        f"Adjudicado el {_day(f.evidence.get('award_day'))} a {f.supplier_id}, con sanción "
        + "; ".join(
            f"desde el {_day(s.get('starts_on'))} "
            + (f"hasta el {_day(s.get('ends_on'))}" if s.get("ends_on") else "sin plazo reconocido")
            + (f" ({s.get('detail')})" if s.get("detail") else "")
            for s in f.evidence.get("sanctions") or []
        )
        + "."
    ),
    "AB04": lambda f: (
        f"{f.supplier_id} se registró el {_day(f.evidence.get('registered_on'))} y fue "
        f"adjudicado el {_day(f.evidence.get('award_day'))}: {f.value:.0f} días después "
        f"(menos de un año)."
    ),
    "AB05": lambda f: (
        f"{f.buyer_id} firmó con {f.supplier_id} {f.value:.0f} contratos de entre "
        f"{_money(f.evidence.get('low'))} y {_money(f.evidence.get('limit'))} a no más de 30 "
        f"días uno de otro, por {_money(f.evidence.get('total'))} en total: "
        + _ids([c.get("contract") for c in f.evidence.get("contracts") or []])
        + "."
    ),
    "AB07": lambda f: (
        f"{_company(f)} entregó tarde "
        f"{format_int(int(f.evidence.get('late') or 0))} de "
        + count_of(int(f.evidence.get("deliveries") or 0), "entrega recibida", "entregas recibidas")
        + f" ({_pct2(f.value)}); la más tardía llegó "
        f"{count_of(int(f.evidence.get('worst_days_late') or 0), 'día', 'días')} después de la "
        f"fecha de entrega; el umbral es {_pct(f.threshold)}: "
        + _ids(f.evidence.get("late_deliveries"))
        + "."
    ),
    "AB08": lambda f: (
        f"El contrato {f.subject} con {_company(f)} pasó de "
        f"{_money(f.evidence.get('original_amount'))} a {_money(f.evidence.get('max_amount'))} "
        + "con "
        + count_of(
            int(f.evidence.get("convenios") or 0),
            "convenio modificatorio",
            "convenios modificatorios",
        )
        + f": {_pct2(f.value)} más; el tope es {_pct(f.threshold)}."
    ),
    "AB09": lambda f: (
        f"El contrato {f.subject} con {_company(f)} quedó firmado por ambas partes el "
        f"{_day(f.evidence.get('signed_at'))}, "
        f"{count_of(round(f.value), 'día', 'días')} después del plazo para firmar, que venció "
        f"el {_day(f.evidence.get('signing_deadline'))}."
    ),
    "AB10": lambda f: (
        f"{_company(f)} entregó a tiempo y con aceptación "
        f"{format_int(int(f.evidence.get('on_time_accepted') or 0))} de "
        f"{count_of(int(f.evidence.get('ordered_due') or 0), 'pieza ordenada', 'piezas ordenadas')}"
        f" con fecha de entrega vencida: nivel de surtimiento de {_pct2(f.value)}; el mínimo es "
        f"{_pct(f.threshold)}."
    ),
    "AB11": lambda f: (
        f"Las penas convencionales del contrato {f.subject} con {_company(f)} suman "
        f"{_money(f.evidence.get('penalties'))}, el tope de su garantía de cumplimiento "
        f"({_money(f.evidence.get('guarantee_amount'))}): procede evaluar la rescisión."
    ),
    "AB06": lambda f: (
        f"HHI {f.value:,.0f} (umbral {f.threshold or 0:,.0f}) en "
        f"{f.evidence.get('processes')} procedimientos con "
        f"{count_of(int(f.evidence.get('suppliers') or 0), 'proveedor', 'proveedores')}; "
        + ", ".join(
            f"{s.get('supplier')} {_pct(s.get('share'))}" for s in f.evidence.get("shares") or []
        )
        + "."
    ),
}
