"""Use cases of evaluation and award: market research, technical evaluation, the fallo, drafts.

The award itself is decided by the pure rules (``rules``) and the whole-tender model
(``model``) over an ``Instance`` built here from the tender's opened bids; this module only
gathers what they need, stores what they decide, and writes it on the ledger and the feed.
"""

from __future__ import annotations

import hashlib
import io
import statistics
import threading
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import PurePath
from typing import Any

from openpyxl import Workbook
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from abasto.award import model, prices, rules
from abasto.award.models import (
    ContractDraft,
    Fallo,
    FalloLine,
    FalloOutcome,
    FalloPartida,
    PriceObservation,
    TechnicalEvaluation,
)
from abasto.catalog.models import Clave
from abasto.core import checkpoints, ledger
from abasto.core.context import Context
from abasto.core.errors import Conflict, NotFound, Problem, ValidationFailed
from abasto.core.money import count_of, local_day
from abasto.core.signed_note import Signer
from abasto.core.spreadsheet import Column, find_header, read_sheets, text
from abasto.core.text import fold, neutralise_cell
from abasto.identity import service as identity
from abasto.identity.models import Supplier
from abasto.tendering import rules as tendering_rules
from abasto.tendering import service as tendering
from abasto.tendering.live import announce
from abasto.tendering.models import Bid, BidLine, Partida, PartidaDemand, Tender

# ----- market research -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PriceImportSummary:
    import_id: str
    kind: str
    prices: int
    claves: int
    unknown_claves: int
    unmatched_items: int = 0
    releases: int = 0
    unmatched_top: tuple[tuple[str, int], ...] = ()
    """The most frequent classifications that matched no clave, with their counts."""


def parse_rates(values: Sequence[str]) -> dict[str, Decimal]:
    """``["USD=18.20", "GBP=23.05"]`` → rates to MXN; every bad one named."""
    rates: dict[str, Decimal] = {}
    problems: list[Problem] = []
    for value in values:
        code, _, number = value.partition("=")
        try:
            rate = Decimal(number.strip())
            if not rate.is_finite() or rate <= 0 or len(code.strip()) != 3:
                raise ValueError
        except (ValueError, ArithmeticError):
            problems.append(
                Problem(
                    "Tipo de cambio no válido",
                    field="rates",
                    value=value,
                    expected="MONEDA=pesos por unidad, p. ej. USD=18.20",
                )
            )
            continue
        rates[code.strip().upper()] = rate
    if problems:
        raise ValidationFailed("No se importó ningún precio.", problems=problems)
    return rates


def parse_mapping(values: Sequence[str]) -> dict[tuple[str, str], str]:
    """``["CPV:45233130.0=010.000.0104.00"]`` → classification (scheme, id) → clave."""
    mapping: dict[tuple[str, str], str] = {}
    problems: list[Problem] = []
    for value in values:
        left, _, clave = value.rpartition("=")
        scheme, _, code = left.partition(":")
        if not scheme or not code or not clave:
            problems.append(
                Problem(
                    "Correspondencia no válida",
                    field="mapping",
                    value=value,
                    expected="ESQUEMA:ID=CLAVE, p. ej. CPV:33600000=010.000.0104.00",
                )
            )
            continue
        mapping[(scheme.strip(), code.strip())] = clave.strip()
    if problems:
        raise ValidationFailed("No se importó ningún precio.", problems=problems)
    return mapping


def _is_json(content: bytes, filename: str) -> bool:
    if PurePath(filename).suffix.lower() in (".json", ".jsonl", ".ndjson"):
        return True
    return content.lstrip()[:1] in (b"{", b"[")


def _unknown_claves(unknown: set[str]) -> list[Problem]:
    return [
        Problem("Clave desconocida", value=clave, expected="una clave del catálogo")
        for clave in sorted(unknown)[:50]
    ]


def import_prices(
    ctx: Context,
    *,
    content: bytes,
    filename: str,
    rates: Mapping[str, Decimal] | None = None,
    mapping: Mapping[tuple[str, str], str] | None = None,
) -> PriceImportSummary:
    """Import a price list or OCDS data; all or nothing, every price traceable to its source."""
    rates = dict(rates or {})
    if _is_json(content, filename):
        read = prices.read_ocds(content, filename, rates, dict(mapping or {}))
        observed, kind = read.observed, "ocds"
    else:
        observed, kind = prices.read_price_list(content, filename, rates), "lista"
        read = None
    known = dict(
        ctx.db.execute(
            select(Clave.clave, Clave.id).where(Clave.clave.in_({o.clave for o in observed}))
        ).all()
    )
    unknown = {o.clave for o in observed} - set(known)
    if kind == "lista" and unknown:
        raise ValidationFailed(
            f"«{filename}»: "
            f"{count_of(len(unknown), 'clave no está', 'claves no están')} en el catálogo; "
            "no se importó "
            "ningún precio.",
            problems=_unknown_claves(unknown),
        )
    stored = [o for o in observed if o.clave in known]
    if not stored:
        raise ValidationFailed(
            f"«{filename}»: {count_of(len(observed), 'precio', 'precios')} de "
            f"{count_of(len(unknown), 'clave', 'claves')}, ninguna en "
            "el catálogo; no se importó ningún precio.",
            problems=_unknown_claves(unknown),
        )
    import_id = uuid.uuid4().hex[:16]
    ctx.db.execute(
        insert(PriceObservation),
        [
            {
                "clave_id": known[o.clave],
                "source_kind": kind,
                "source": o.source[:300],
                "source_ref": o.source_ref[:300],
                "unit_price": o.unit_price,
                "original_price": o.original_price,
                "currency": o.currency,
                "rate": o.rate,
                "observed_on": o.observed_on,
                "imported_at": ctx.now,
                "import_id": import_id,
            }
            for o in stored
        ],
    )
    summary = PriceImportSummary(
        import_id=import_id,
        kind=kind,
        prices=len(stored),
        claves=len({o.clave for o in stored}),
        unknown_claves=len(unknown),
        unmatched_items=read.unmatched if read else 0,
        releases=read.releases if read else 0,
        unmatched_top=tuple(read.unmatched_ids.most_common(prices.TOP_UNMATCHED)) if read else (),
    )
    ctx.record(
        "prices.import",
        f"prices:{import_id}",
        {
            "file": filename,
            "kind": kind,
            "prices": summary.prices,
            "claves": summary.claves,
            "unknown_claves": sorted(unknown)[:100],
            "unmatched_items": summary.unmatched_items,
            "rates": rates,
        },
    )
    return summary


@dataclass(frozen=True, slots=True)
class Source:
    kind: str
    source: str
    source_ref: str
    unit_price: Decimal
    original_price: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class Reference:
    """A clave's reference price: the median of its observations, with every one of them."""

    clave: str
    price: Decimal
    method: str
    sources: tuple[Source, ...]


def references(db: Session, claves: Sequence[str]) -> dict[str, Reference]:
    """The reference price of each clave that has observations (median by default)."""
    found: dict[str, list[Source]] = defaultdict(list)
    wanted = sorted(set(claves))
    for start in range(0, len(wanted), 1000):
        rows = db.execute(
            select(
                Clave.clave,
                PriceObservation.source_kind,
                PriceObservation.source,
                PriceObservation.source_ref,
                PriceObservation.unit_price,
                PriceObservation.original_price,
                PriceObservation.currency,
            )
            .join(Clave, Clave.id == PriceObservation.clave_id)
            .where(Clave.clave.in_(wanted[start : start + 1000]))
            .order_by(Clave.clave, PriceObservation.id)
        )
        for clave, kind, source, ref, price, original, currency in rows:
            found[clave].append(Source(kind, source, ref, price, original, currency))
    return {
        clave: Reference(
            clave,
            Decimal(statistics.median(s.unit_price for s in sources)).quantize(Decimal("0.01")),
            "mediana",
            tuple(sources),
        )
        for clave, sources in found.items()
    }


# ----- technical evaluation ------------------------------------------------------------------

REQUIREMENTS = {
    "registro_sanitario": "Registro sanitario vigente",
    "presentacion": "La presentación corresponde a la clave",
    "fabricante": "Fabricante declarado",
    "elegible": "Proveedor elegible (no sancionado)",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    bid_id: str
    partida: int
    requirement: str
    complies: bool
    reason: str
    row: int | None = field(default=None, compare=False)
    """The spreadsheet row it was read from, to name it in a problem."""


@dataclass(frozen=True, slots=True)
class VerdictChange:
    """A verdict already recorded that a new one would replace."""

    before: Verdict
    after: Verdict
    evaluator: str
    at: datetime
    position: int
    """Where the new verdict is among those given (``evaluations[position]``)."""

    @property
    def label(self) -> str:
        return REQUIREMENTS.get(self.after.requirement, self.after.requirement)


def _answer(complies: bool) -> str:
    return "Cumple" if complies else "No cumple"


class VerdictsChange(Conflict):
    """Verdicts that would replace recorded ones, sent without confirming it: every change is
    listed, nothing is written; ``digest`` names exactly these changes for the confirmation."""

    def __init__(self, tender_number: str, changes: Sequence[VerdictChange]) -> None:
        self.changes = tuple(changes)
        self.digest = changes_digest(changes)
        super().__init__(
            f"{count_of(len(changes), 'veredicto', 'veredictos')} de la licitación "
            f"{tender_number} ya "
            + ("registrado cambiaría" if len(changes) == 1 else "registrados cambiarían")
            + "; "
            "no se registró nada. Revise los cambios y confírmelos.",
            problems=[
                Problem(
                    f"Cambia el veredicto registrado de la proposición {c.after.bid_id}, "
                    f"partida {c.after.partida}, «{c.label}»",
                    row=c.after.row,
                    field=None if c.after.row is not None else f"evaluations[{c.position}]",
                    value=f"{_answer(c.after.complies)}: {c.after.reason.strip()}",
                    expected=(
                        f"lo registrado por {c.evaluator} el {c.at:%d/%m/%Y %H:%M} UTC, "
                        f"{_answer(c.before.complies)}: {c.before.reason}; o confirmar el cambio"
                    ),
                )
                for c in changes
            ],
            expected="confirmar los cambios (confirm=true), o dejar los veredictos registrados",
        )


def changes_digest(changes: Sequence[VerdictChange]) -> str:
    """A short name of exactly these changes: a confirmation given for them applies to no other."""
    listed = ledger.canonical_json(
        [
            [
                c.after.bid_id,
                c.after.partida,
                c.after.requirement,
                c.before.complies,
                c.before.reason,
                c.after.complies,
                c.after.reason.strip(),
            ]
            for c in changes
        ]
    )
    return hashlib.sha256(listed.encode()).hexdigest()


def _opened_tender(db: Session, tender_id: int, *, lock: bool = False) -> Tender:
    # Locked by the writers, so two fallos (or a fallo and a late verdict) cannot cross.
    tender = tendering.get_tender(db, tender_id, lock=lock)
    if tender.status == tendering_rules.AWARDED:
        raise Conflict(
            f"La licitación {tender.number} ya tiene fallo; sus evaluaciones y su adjudicación "
            "ya no cambian."
        )
    if tender.status != tendering_rules.OPENED:
        raise Conflict(
            f"La licitación {tender.number} no ha terminado su apertura "
            f"({tendering_rules.STATUS_LABELS[tender.status]}); no se evalúa todavía."
        )
    return tender


def _opened_lines(db: Session, tender: Tender) -> dict[tuple[str, int], BidLine]:
    return {
        (line.bid_id, line.partida_number): line
        for line in db.scalars(
            select(BidLine)
            .join(Bid, Bid.id == BidLine.bid_id)
            .where(Bid.tender_id == tender.id, Bid.check == tendering.MATCHES)
        )
    }


@dataclass(frozen=True, slots=True)
class Recorded:
    """What a recording did: verdicts given for the first time, recorded ones changed, and those
    given again exactly as recorded (left as they were, with their evaluator and instant)."""

    new: int
    changed: int
    unchanged: int

    @property
    def written(self) -> int:
        return self.new + self.changed


def record_evaluations(
    ctx: Context, *, tender_id: int, verdicts: Sequence[Verdict], confirm: bool = False
) -> Recorded:
    """Record (or correct) verdicts; each names a bid line and a requirement, with a reason.

    A verdict that would replace a recorded one with another answer or reason is a change: unless
    ``confirm``, every change is listed (``VerdictsChange``) and nothing is written. Each change
    is its own ledger entry (``evaluation.change``, with what it replaced); first verdicts go in
    one ``evaluation.record`` entry.
    """
    tender = _opened_tender(ctx.db, tender_id, lock=True)
    lines = _opened_lines(ctx.db, tender)
    problems: list[Problem] = []
    for position, verdict in enumerate(verdicts):
        where = f"evaluations[{position}]"
        if (verdict.bid_id, verdict.partida) not in lines:
            problems.append(
                Problem(
                    "La proposición no ofrece esa partida (o no coincidió con su compromiso)",
                    field=where,
                    value=f"{verdict.bid_id} / partida {verdict.partida}",
                    expected="una línea de una proposición abierta que coincide",
                )
            )
        if verdict.requirement not in REQUIREMENTS:
            problems.append(
                Problem(
                    "Requisito desconocido",
                    field=where,
                    value=verdict.requirement,
                    expected=", ".join(REQUIREMENTS),
                )
            )
        if len(verdict.reason.strip()) < 3:
            problems.append(
                Problem("Falta el motivo", field=where, expected="el motivo del resultado")
            )
    if problems:
        raise ValidationFailed(
            f"No se registró ninguna evaluación de la licitación {tender.number}.",
            problems=problems,
        )
    if not verdicts:
        raise ValidationFailed(
            "No hay veredictos que registrar.",
            expected="al menos un veredicto (proposición, partida, requisito, cumple, motivo)",
        )
    # The last of a key given twice is the one that counts, as it would be on the page.
    given = {(v.bid_id, v.partida, v.requirement): (i, v) for i, v in enumerate(verdicts)}
    stored = {
        (row.bid_id, row.partida_number, row.requirement): row
        for row in ctx.db.execute(
            select(
                TechnicalEvaluation.id,
                TechnicalEvaluation.bid_id,
                TechnicalEvaluation.partida_number,
                TechnicalEvaluation.requirement,
                TechnicalEvaluation.complies,
                TechnicalEvaluation.reason,
                TechnicalEvaluation.evaluator,
                TechnicalEvaluation.at,
            ).where(TechnicalEvaluation.tender_id == tender.id)
        )
    }
    fresh: list[Verdict] = []
    changes: list[VerdictChange] = []
    replaced: list[int] = []
    for key, (position, verdict) in given.items():
        before = stored.get(key)
        if before is None:
            fresh.append(verdict)
        elif (before.complies, before.reason) != (verdict.complies, verdict.reason.strip()):
            old = Verdict(*key, before.complies, before.reason)
            changes.append(VerdictChange(old, verdict, before.evaluator, before.at, position))
            replaced.append(before.id)
    if changes and not confirm:
        raise VerdictsChange(tender.number, changes)
    for start in range(0, len(replaced), 1000):
        ctx.db.execute(
            delete(TechnicalEvaluation)
            .where(TechnicalEvaluation.id.in_(replaced[start : start + 1000]))
            .execution_options(synchronize_session=False)
        )
    written = [*fresh, *(c.after for c in changes)]
    if written:
        ctx.db.execute(
            insert(TechnicalEvaluation),
            [
                {
                    "tender_id": tender.id,
                    "bid_id": v.bid_id,
                    "partida_number": v.partida,
                    "requirement": v.requirement,
                    "complies": v.complies,
                    "reason": v.reason.strip(),
                    "evaluator": ctx.actor.label,
                    "at": ctx.now,
                }
                for v in written
            ],
        )
    entity = f"tender:{tender.id}"
    records = [
        ledger.Record(
            "evaluation.change",
            entity,
            {
                "number": tender.number,
                "bid": c.after.bid_id,
                "partida": c.after.partida,
                "requirement": c.after.requirement,
                "before": {
                    "complies": c.before.complies,
                    "reason": c.before.reason,
                    "evaluator": c.evaluator,
                    "at": ledger.format_instant(c.at),
                },
                "after": {"complies": c.after.complies, "reason": c.after.reason.strip()},
            },
        )
        for c in changes
    ]
    if fresh:
        records.insert(
            0,
            ledger.Record(
                "evaluation.record",
                entity,
                {
                    "number": tender.number,
                    "verdicts": len(fresh),
                    "not_complying": [
                        [v.bid_id, v.partida, v.requirement, v.reason.strip()]
                        for v in fresh
                        if not v.complies
                    ],
                },
            ),
        )
    if records:
        ctx.record_many(records)
    return Recorded(len(fresh), len(changes), len(given) - len(fresh) - len(changes))


def evaluation_status(db: Session, tender_id: int) -> tuple[int, int]:
    """(bid lines fully evaluated, bid lines to evaluate)."""
    tender = tendering.get_tender(db, tender_id)
    lines = _opened_lines(db, tender)
    done: dict[tuple[str, int], set[str]] = defaultdict(set)
    for bid_id, partida, requirement in db.execute(
        select(
            TechnicalEvaluation.bid_id,
            TechnicalEvaluation.partida_number,
            TechnicalEvaluation.requirement,
        ).where(TechnicalEvaluation.tender_id == tender.id)
    ):
        done[(bid_id, partida)].add(requirement)
    complete = sum(1 for key in lines if done.get(key, set()) >= set(REQUIREMENTS))
    return complete, len(lines)


def compliance(db: Session, tender_id: int) -> dict[tuple[str, int], tuple[bool, list[str]]]:
    """Per bid line: whether it meets every requirement, and the reasons it does not."""
    verdicts: dict[tuple[str, int], tuple[bool, list[str]]] = {}
    for bid_id, partida, requirement, complies, reason in db.execute(
        select(
            TechnicalEvaluation.bid_id,
            TechnicalEvaluation.partida_number,
            TechnicalEvaluation.requirement,
            TechnicalEvaluation.complies,
            TechnicalEvaluation.reason,
        ).where(TechnicalEvaluation.tender_id == tender_id)
    ):
        ok, reasons = verdicts.get((bid_id, partida), (True, []))
        if not complies:
            reasons = [*reasons, f"{REQUIREMENTS[requirement]}: {reason}"]
        verdicts[(bid_id, partida)] = (ok and complies, reasons)
    return verdicts


# ----- the award and the fallo ---------------------------------------------------------------


def award_parameters(tender: Tender) -> rules.Parameters:
    """The award parameters announced with the tender (defaults where it announced none)."""
    return _parameters_from(tender.params.get("award") or {})


def _parameters_from(terms: Mapping[str, Any]) -> rules.Parameters:
    given = dict(terms)
    defaults = rules.Parameters()
    shares = given.get("split_shares")
    share = given.get("max_supplier_share")
    return rules.Parameters(
        acceptable_margin=Decimal(str(given.get("acceptable_margin", defaults.acceptable_margin))),
        convenient_margin=Decimal(str(given.get("convenient_margin", defaults.convenient_margin))),
        split_margin=Decimal(str(given.get("split_margin", defaults.split_margin))),
        split_shares=tuple(Decimal(str(s)) for s in shares) if shares else defaults.split_shares,
        max_supplier_share=Decimal(str(share)) if share is not None else None,
        min_suppliers_critical=int(given.get("min_suppliers_critical", 2)),
        critical_min_share=Decimal(str(given.get("critical_min_share", 0))),
        lot_deliveries=(
            int(given["lot_deliveries"])
            if given.get("lot_deliveries") is not None
            else None
            if "lot_deliveries" in given
            else defaults.lot_deliveries
        ),
    )


def check_award_terms(terms: Mapping[str, Any]) -> None:
    """Refuse award terms a fallo could not apply (shares not adding to 100, a split margin
    above 10 %…), when the tender is created rather than at the fallo."""
    try:
        parameters = _parameters_from(terms)
    except (ArithmeticError, ValueError, TypeError):
        raise ValidationFailed(
            "Condiciones de adjudicación no válidas.", expected="números en cada campo"
        ) from None
    problems = rules.parameter_problems(parameters)
    if problems:
        raise ValidationFailed("Condiciones de adjudicación no válidas.", problems=problems)


def critical_partidas(tender: Tender) -> set[int]:
    """The partidas the call marked critical (they need several suppliers)."""
    return {int(n) for n in (tender.params.get("award") or {}).get("critical_partidas", [])}


@dataclass(frozen=True, slots=True)
class Built:
    """An award instance built from a tender, and how to map it back."""

    instance: rules.Instance
    partida_ids: dict[int, int]
    suppliers: dict[str, int]
    """Supplier RFC (the instance's supplier id) → database id."""
    references: dict[str, Reference]


class MissingReferences(Conflict):
    """Partidas without a reference price: prices are imported at ``/precios/importar``."""


def build_instance(db: Session, tender: Tender) -> Built:
    """The tender as an award instance: partidas with references, matching opened bid lines with
    their technical verdict. Refused until every line of every bid has been evaluated."""
    complete, total = evaluation_status(db, tender.id)
    if complete < total:
        raise Conflict(
            f"Faltan evaluaciones técnicas en la licitación {tender.number}: "
            f"{total - complete:,} de {total:,} líneas de proposición sin evaluar todos sus "
            f"requisitos ({', '.join(REQUIREMENTS)}). No se adjudica todavía."
        )
    partidas = [p for p in tendering.partidas_of(db, tender.id) if p.desierta_at is None]
    found = references(db, [p.clave.clave for p in partidas])
    missing = [p for p in partidas if p.clave.clave not in found]
    if missing:
        raise MissingReferences(
            f"{count_of(len(missing), 'partida', 'partidas')} sin precio de referencia "
            "(investigación de mercado); "
            "importe precios en /precios/importar antes de adjudicar.",
            problems=[
                Problem("Sin precio de referencia", value=f"partida {p.number}: {p.clave.clave}")
                for p in missing[:50]
            ],
        )
    verdicts = compliance(db, tender.id)
    bids = db.scalars(
        select(Bid)
        .where(Bid.tender_id == tender.id, Bid.check == tendering.MATCHES)
        .order_by(Bid.submitted_at, Bid.id)
    ).all()
    supplier_rfcs = dict(
        db.execute(
            select(Supplier.id, Supplier.rfc).where(
                Supplier.id.in_({b.supplier_id for b in bids if b.supplier_id is not None})
            )
        ).all()
    )
    open_numbers = {p.number for p in partidas}
    critical = critical_partidas(tender)
    instance_bids = []
    for bid in bids:
        if bid.supplier_id is None:
            continue
        lines = tuple(
            rules.BidLine(
                partida=line.partida_number,
                unit_price=line.unit_price,
                offered_qty=line.quantity,
                compliant=verdicts.get((bid.id, line.partida_number), (False, []))[0],
            )
            for line in bid.lines
            if line.partida_number in open_numbers
        )
        if lines:
            instance_bids.append(
                rules.Bid(bid.id, supplier_rfcs[bid.supplier_id], bid.submitted_at, lines)
            )
    instance = rules.Instance(
        partidas=tuple(
            rules.Partida(
                number=p.number,
                clave=p.clave.clave,
                max_qty=p.max_qty,
                reference_price=found[p.clave.clave].price,
                critical=p.number in critical,
            )
            for p in partidas
        ),
        bids=tuple(instance_bids),
        suppliers=tuple(rules.Supplier(rfc) for rfc in sorted(set(supplier_rfcs.values()))),
        parameters=award_parameters(tender),
    )
    return Built(
        instance=rules.validated(instance),
        partida_ids={p.number: p.id for p in partidas},
        suppliers={rfc: supplier_id for supplier_id, rfc in supplier_rfcs.items()},
        references=found,
    )


SOLVE_SECONDS = 120.0
SOLVED_KEPT = 8
"""Awards remembered per process (``solved``): a national one is a few megabytes."""
_solved: OrderedDict[tuple[rules.Instance, rules.Mode], rules.AwardResult] = OrderedDict()
_solved_lock = threading.Lock()


def solved(instance: rules.Instance, mode: rules.Mode) -> rules.AwardResult:
    """``model.award`` of ``instance`` in ``mode`` within ``SOLVE_SECONDS``, remembered.

    The preview computes every mode (a national optimal solve takes seconds), and the buyer
    then reloads it, changes the mode shown, and issues one: each of those reuses the award
    already computed, so the fallo issued is exactly the one previewed. The instance is the
    whole input (partidas, references, every bid line with its evaluation, the parameters) and
    compares by value, so any change to it is another key and a new solve."""
    key = (instance, mode)
    with _solved_lock:
        if key in _solved:
            _solved.move_to_end(key)
            return _solved[key]
    # Solved outside the lock: two requests for the same award may both solve it once.
    result = model.award(instance, mode, time_limit=SOLVE_SECONDS)
    with _solved_lock:
        _solved[key] = result
        while len(_solved) > SOLVED_KEPT:
            _solved.popitem(last=False)
    return result


def issue_fallo(
    ctx: Context, *, tender_id: int, mode: rules.Mode, signer: Signer | None = None
) -> Fallo:
    """Decide the award in ``mode``, store the fallo whole, publish it, draft the contracts.

    With the log's ``signer`` the fallo keeps a signed checkpoint covering its ledger entry
    (fallos are rare, so one is made for each); without one, the tick's next checkpoint covers
    it."""
    tender = _opened_tender(ctx.db, tender_id, lock=True)
    if ctx.db.scalar(select(Fallo.id).where(Fallo.tender_id == tender.id)) is not None:
        raise Conflict(f"La licitación {tender.number} ya tiene fallo.")
    built = build_instance(ctx.db, tender)
    # A fallo is issued within one request: the solve is bounded (national ones take seconds).
    result = solved(built.instance, mode)
    baseline = (
        result
        if mode is rules.Mode.LOWEST
        else rules.award_by_rule(built.instance, rules.Mode.LOWEST)
    )
    violations = rules.check(built.instance, result)
    if violations:
        # The rules and the model are checked against each other in the tests; reaching this
        # is a defect, and no fallo is better than a wrong one.
        raise RuntimeError(f"award result breaks its own rules: {violations[:5]}")
    reference = {p.number: p.reference_price for p in built.instance.partidas}
    reference_total = sum((reference[p.number] * p.awarded for p in result.partidas), Decimal(0))
    fallo = Fallo(
        tender_id=tender.id,
        mode=mode.value,
        status=result.status,
        parameters=_parameters_payload(built.instance.parameters),
        total=result.objective,
        reference_total=reference_total,
        baseline_total=baseline.objective,
        gap=result.gap,
        solve_seconds=round(result.build_seconds + result.solve_seconds, 3),
        issued_at=ctx.now,
        ledger_seq=0,
    )
    ctx.db.add(fallo)
    ctx.db.flush()
    _store_result(ctx, fallo, built, result)
    drafts = _draft_contracts(ctx, fallo, built, result)
    tender.status = tendering_rules.AWARDED
    ctx.db.flush()
    fallo.ledger_seq = ctx.record(
        "fallo.issue",
        f"tender:{tender.id}",
        {
            "number": tender.number,
            "mode": mode.value,
            "status": result.status,
            "gap": result.gap,
            "total": result.objective,
            "reference_total": reference_total,
            "baseline_total": baseline.objective,
            "parameters": fallo.parameters,
            "partidas": [
                {
                    "partida": p.number,
                    "clave": p.clave,
                    "status": p.status,
                    "demand": p.demand,
                    "reference_price": reference[p.number],
                    "winners": [
                        {
                            "bid": w.bid_id,
                            "supplier": w.supplier,
                            "quantity": w.quantity,
                            "unit_price": w.unit_price,
                        }
                        for w in p.winners
                    ],
                    "reason": p.reason.message if p.reason else None,
                }
                for p in result.partidas
            ],
            "contract_drafts": drafts,
        },
    )
    if signer is not None:
        fallo.checkpoint = checkpoints.publish(ctx.db, signer, now=ctx.now).note
    announce(ctx.db, tender.id)
    return fallo


def _parameters_payload(parameters: rules.Parameters) -> dict[str, Any]:
    return {
        "acceptable_margin": str(parameters.acceptable_margin),
        "convenient_margin": str(parameters.convenient_margin),
        "split_margin": str(parameters.split_margin),
        "split_shares": [str(s) for s in parameters.split_shares],
        "max_supplier_share": (
            str(parameters.max_supplier_share) if parameters.max_supplier_share else None
        ),
        "min_suppliers_critical": parameters.min_suppliers_critical,
        "lot_deliveries": parameters.lot_deliveries,
    }


def _store_result(ctx: Context, fallo: Fallo, built: Built, result: rules.AwardResult) -> None:
    reference = {p.number: p.reference_price for p in built.instance.partidas}
    awarded: dict[tuple[str, int], int] = defaultdict(int)
    line_rows: list[dict[str, Any]] = []
    partida_rows: list[dict[str, Any]] = []
    for p in result.partidas:
        partida_rows.append(
            {
                "fallo_id": fallo.id,
                "partida_id": built.partida_ids[p.number],
                "partida_number": p.number,
                "status": p.status,
                "demand": p.demand,
                "awarded": p.awarded,
                "reference_price": reference[p.number],
                "reason_code": p.reason.code.value if p.reason else None,
                "reason": p.reason.message if p.reason else None,
            }
        )
        for w in p.winners:
            awarded[(w.bid_id, p.number)] += w.quantity
            line_rows.append(
                {
                    "fallo_id": fallo.id,
                    "partida_id": built.partida_ids[p.number],
                    "partida_number": p.number,
                    "bid_id": w.bid_id,
                    "supplier_id": built.suppliers[w.supplier],
                    "quantity": w.quantity,
                    "unit_price": w.unit_price,
                    "reference_price": reference[p.number],
                }
            )
    outcome_rows: list[dict[str, Any]] = []
    evaluation = result.evaluation or rules.evaluate(built.instance)
    # The fallo states why a line does not comply, in the evaluator's words, not only that.
    technical = compliance(ctx.db, fallo.tender_id)
    explained = rules.explain(built.instance, result)
    for number, lines in evaluation.lines.items():
        for line in lines:
            given = awarded.get((line.bid_id, number), 0)
            if given:
                outcome, reasons = "adjudicada", [explained[(number, line.bid_id)]]
            elif line.findings:
                outcome = line.findings[0].outcome.value
                reasons = [f.message for f in line.findings]
                reasons += technical.get((line.bid_id, number), (True, []))[1]
            else:
                outcome, reasons = "solvente", [explained[(number, line.bid_id)]]
            outcome_rows.append(
                {
                    "fallo_id": fallo.id,
                    "bid_id": line.bid_id,
                    "partida_number": number,
                    "outcome": outcome,
                    "reasons": reasons,
                    "awarded": given,
                }
            )
    for table, rows in (
        (FalloPartida, partida_rows),
        (FalloLine, line_rows),
        (FalloOutcome, outcome_rows),
    ):
        if rows:
            ctx.db.execute(insert(table), rows)
    # Awarded prices are market research for the next procedures.
    clave_ids = dict(
        ctx.db.execute(
            select(Clave.clave, Clave.id).where(
                Clave.clave.in_({p.clave for p in built.instance.partidas})
            )
        ).all()
    )
    observed = [
        {
            "clave_id": clave_ids[p.clave],
            "source_kind": "abasto",
            "source": fallo_source(fallo),
            "source_ref": f"partida {p.number} / {w.bid_id}",
            "unit_price": w.unit_price,
            "original_price": w.unit_price,
            "currency": "MXN",
            "rate": Decimal(1),
            "observed_on": local_day(ctx.now),
            "imported_at": ctx.now,
            "import_id": f"fallo-{fallo.id}",
        }
        for p in result.partidas
        for w in p.winners
    ]
    if observed:
        ctx.db.execute(insert(PriceObservation), observed)


def fallo_source(fallo: Fallo) -> str:
    return f"fallo de la licitación {fallo.tender_id}"


def _draft_contracts(ctx: Context, fallo: Fallo, built: Built, result: rules.AwardResult) -> int:
    rows = [{"fallo_id": fallo.id, **row} for row in draft_rows(ctx.db, built, result)]
    if rows:
        ctx.db.execute(insert(ContractDraft), rows)
    return len(rows)


def draft_rows(db: Session, built: Built, result: rules.AwardResult) -> list[dict[str, Any]]:
    """Each winner's quantity spread over the institutions in proportion to their demand, no
    institution's line below the partida's minimum lot (``rules.apportion_lots``)."""
    demands: dict[int, list[PartidaDemand]] = defaultdict(list)
    for demand in db.scalars(
        select(PartidaDemand)
        .where(PartidaDemand.partida_id.in_(list(built.partida_ids.values())))
        .order_by(PartidaDemand.partida_id, PartidaDemand.institution_id)
    ):
        demands[demand.partida_id].append(demand)
    min_qty = dict(
        db.execute(
            select(Partida.id, Partida.min_qty).where(
                Partida.id.in_(list(built.partida_ids.values()))
            )
        ).all()
    )
    rows: list[dict[str, Any]] = []
    params = built.instance.parameters
    lots = {p.number: min(rules.minimum_lot(p, params), p.max_qty) for p in built.instance.partidas}
    for p in result.partidas:
        partida_id = built.partida_ids[p.number]
        members = demands.get(partida_id, [])
        if not members:
            continue
        for w in p.winners:
            maxima = rules.apportion_lots(w.quantity, [d.max_qty for d in members], lots[p.number])
            low = w.quantity * min_qty[partida_id] // p.demand if p.demand else 0
            minima = rules.apportion(low, maxima)
            for demand, high, small in zip(members, maxima, minima, strict=True):
                if high:
                    rows.append(
                        {
                            "partida_id": partida_id,
                            "institution_id": demand.institution_id,
                            "supplier_id": built.suppliers[w.supplier],
                            "min_qty": min(small, high),
                            "max_qty": high,
                            "unit_price": w.unit_price,
                        }
                    )
    return rows


# ----- the preview of the fallo --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SupplierShare:
    rfc: str
    name: str
    units: int
    value: Decimal
    share: Decimal
    """Of the total awarded value, to a hundredth of a percent."""
    partidas: int
    contracts: int
    """Institution × supplier contracts its drafts make."""


@dataclass(frozen=True, slots=True)
class ModePreview:
    mode: rules.Mode
    result: rules.AwardResult
    reference_total: Decimal
    """The reference prices of what is awarded: savings = reference_total − total."""
    suppliers: tuple[SupplierShare, ...]
    contracts: int
    explanations: dict[tuple[int, str], str]

    @property
    def total(self) -> Decimal:
        return self.result.objective

    @property
    def savings(self) -> Decimal:
        return self.reference_total - self.result.objective

    @property
    def desiertas(self) -> tuple[rules.PartidaAward, ...]:
        return self.result.desiertas


@dataclass(frozen=True, slots=True)
class Difference:
    """A partida the modes award differently: who gets what in each."""

    number: int
    clave: str
    by_mode: dict[rules.Mode, tuple[tuple[str, int], ...]]
    """Per mode: (supplier RFC, quantity) of its winners."""


@dataclass(frozen=True, slots=True)
class Preview:
    tender: Tender
    modes: dict[rules.Mode, ModePreview] = field(default_factory=dict)
    differences: tuple[Difference, ...] = ()
    blocked: Conflict | None = None
    """Why the fallo cannot be issued now (nothing computed then)."""


def preview_fallo(db: Session, tender_id: int) -> Preview:
    """The award in every mode, computed and not stored: totals, savings against the reference
    prices, desiertas, each supplier's share and contracts, where the modes differ. When the
    fallo cannot be issued (not opened, evaluations or reference prices missing, already
    issued), the reason, and nothing else."""
    tender = tendering.get_tender(db, tender_id)
    try:
        _opened_tender(db, tender_id)
        if db.scalar(select(Fallo.id).where(Fallo.tender_id == tender.id)) is not None:
            raise Conflict(f"La licitación {tender.number} ya tiene fallo.")
        built = build_instance(db, tender)
    except Conflict as exc:
        return Preview(tender=tender, blocked=exc)
    names = dict(
        db.execute(
            select(Supplier.rfc, Supplier.razon_social).where(
                Supplier.id.in_(list(built.suppliers.values()))
            )
        ).all()
    )
    rfc_of = {supplier_id: rfc for rfc, supplier_id in built.suppliers.items()}
    reference = {p.number: p.reference_price for p in built.instance.partidas}
    modes: dict[rules.Mode, ModePreview] = {}
    for mode in rules.Mode:
        result = solved(built.instance, mode)
        contracts: dict[str, set[int]] = defaultdict(set)
        for row in draft_rows(db, built, result):
            contracts[rfc_of[row["supplier_id"]]].add(row["institution_id"])
        partidas: dict[str, int] = defaultdict(int)
        for p in result.partidas:
            for rfc in {w.supplier for w in p.winners}:
                partidas[rfc] += 1
        totals = rules.supplier_totals(result)
        whole = result.objective
        shares = tuple(
            SupplierShare(
                rfc=rfc,
                name=names.get(rfc, rfc),
                units=units,
                value=value,
                share=(value / whole).quantize(Decimal("0.0001")) if whole else Decimal(0),
                partidas=partidas[rfc],
                contracts=len(contracts[rfc]),
            )
            for rfc, (units, value) in sorted(totals.items(), key=lambda kv: -kv[1][1])
        )
        modes[mode] = ModePreview(
            mode=mode,
            result=result,
            reference_total=sum(
                (reference[p.number] * p.awarded for p in result.partidas), Decimal(0)
            ),
            suppliers=shares,
            contracts=sum(len(c) for c in contracts.values()),
            explanations=rules.explain(built.instance, result),
        )
    differences = []
    for at, partida in enumerate(built.instance.partidas):
        by_mode = {
            mode: tuple((w.supplier, w.quantity) for w in m.result.partidas[at].winners)
            for mode, m in modes.items()
        }
        if len(set(by_mode.values())) > 1:
            differences.append(Difference(partida.number, partida.clave, by_mode))
    return Preview(tender=tender, modes=modes, differences=tuple(differences))


# ----- evaluation spreadsheets and proposals -------------------------------------------------

YES = frozenset({"si", "sí", "s", "yes", "true", "1", "cumple", "x"})
NO = frozenset({"no", "n", "false", "0", "no cumple"})
BID = Column("bid", ("Proposición", "Proposicion", "Bid"))
PARTIDA = Column("partida", ("Partida", "No. Partida"))
REQUIREMENT = Column("requirement", ("Requisito",))
COMPLIES = Column("complies", ("Cumple",))
REASON = Column("reason", ("Motivo",))
SHEET_EXPECTED = (
    "la plantilla de evaluación: Proposición, Partida, Requisito, Cumple (Sí/No), Motivo"
)
_SHEET_TITLE = "Evaluación técnica"
SHEET_HEADER = (
    "Proposición",
    "Partida",
    "Clave",
    "RFC del proveedor",
    "Proveedor",
    "Registro sanitario",
    "Presentación",
    "Fabricante",
    "Requisito",
    "Propuesta",
    "Cumple",
    "Motivo",
    "Registrado por",
)


def propose_verdicts(db: Session, tender_id: int) -> list[Verdict]:
    """What the opened data says of each requirement, for the evaluator to confirm or correct:
    registro sanitario and manufacturer stated, presentation stated, supplier not sanctioned."""
    tender = _opened_tender(db, tender_id)
    lines = _opened_lines(db, tender)
    bids = {
        bid.id: bid
        for bid in db.scalars(
            select(Bid).where(Bid.tender_id == tender.id, Bid.check == tendering.MATCHES)
        )
    }
    standing = {
        s.supplier.id: s
        for s in identity.standings(db, [b.supplier for b in bids.values() if b.supplier])
    }
    proposed: list[Verdict] = []
    for (bid_id, number), line in sorted(lines.items()):
        supplier_id = bids[bid_id].supplier_id
        eligible = supplier_id is not None and standing[supplier_id].eligible
        checks = {
            "registro_sanitario": (bool(line.registro_sanitario), "registro sanitario declarado"),
            "presentacion": (bool(line.presentation), "presentación declarada"),
            "fabricante": (bool(line.manufacturer), "fabricante declarado"),
            "elegible": (eligible, "no figura en la lista de sancionados"),
        }
        for requirement, (ok, why) in checks.items():
            reason = why if ok else f"no: {why}"
            proposed.append(Verdict(bid_id, number, requirement, ok, reason))
    return proposed


def evaluation_sheet(db: Session, tender_id: int) -> bytes:
    """Every line × requirement with what the evaluator judges it by (supplier, clave, declared
    registro sanitario, presentation, manufacturer), the proposal, and the recorded verdict.

    «Cumple» and «Motivo» hold only what is recorded: a verdict not given yet is blank, so a sheet
    sent back as it came records nothing new and changes nothing (the proposal is a column of its
    own, never a verdict).
    """
    proposals = {(v.bid_id, v.partida, v.requirement): v for v in propose_verdicts(db, tender_id)}
    recorded = {
        (bid_id, number, requirement): (complies, reason, evaluator)
        for bid_id, number, requirement, complies, reason, evaluator in db.execute(
            select(
                TechnicalEvaluation.bid_id,
                TechnicalEvaluation.partida_number,
                TechnicalEvaluation.requirement,
                TechnicalEvaluation.complies,
                TechnicalEvaluation.reason,
                TechnicalEvaluation.evaluator,
            ).where(TechnicalEvaluation.tender_id == tender_id)
        )
    }
    rows = db.execute(
        select(
            BidLine.bid_id,
            BidLine.partida_number,
            Clave.clave,
            Supplier.rfc,
            Supplier.razon_social,
            BidLine.registro_sanitario,
            BidLine.presentation,
            BidLine.manufacturer,
        )
        .join(Bid, Bid.id == BidLine.bid_id)
        .join(Partida, Partida.id == BidLine.partida_id)
        .join(Clave, Clave.id == Partida.clave_id)
        .outerjoin(Supplier, Supplier.id == Bid.supplier_id)
        .where(Bid.tender_id == tender_id, Bid.check == tendering.MATCHES)
        .order_by(BidLine.partida_number, BidLine.bid_id)
    )
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = _SHEET_TITLE
    sheet.append(list(SHEET_HEADER))
    for bid_id, number, clave, rfc, name, registro, presentation, manufacturer in rows:
        for requirement in REQUIREMENTS:
            proposal = proposals[(bid_id, number, requirement)]
            complies, reason, evaluator = recorded.get(
                (bid_id, number, requirement), (None, None, None)
            )
            row = [
                bid_id,
                number,
                clave,
                rfc,
                name,
                registro,
                presentation,
                manufacturer,
                requirement,
                f"{'Sí' if proposal.complies else 'No'}: {proposal.reason}",
                None if complies is None else ("Sí" if complies else "No"),
                reason,
                evaluator,
            ]
            sheet.append([neutralise_cell(value) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def read_verdicts(content: bytes, filename: str) -> list[Verdict]:
    """The verdicts of a filled evaluation sheet; every problem at once. A row whose «Cumple»
    and «Motivo» are both blank gives no verdict (one not decided yet)."""
    header = None
    for sheet in read_sheets(content, filename):
        header = find_header(sheet, (BID, PARTIDA, REQUIREMENT, COMPLIES, REASON))
        if header is not None:
            break
    if header is None:
        raise ValidationFailed(f"«{filename}» no tiene los encabezados.", expected=SHEET_EXPECTED)
    problems: list[Problem] = []
    verdicts: list[Verdict] = []
    for number, row in header.rows():
        where: dict[str, Any] = {"sheet": header.sheet.name, "row": number}
        bid = text(header.value(row, BID.key)) or ""
        raw_partida = header.value(row, PARTIDA.key)
        requirement = (text(header.value(row, REQUIREMENT.key)) or "").strip()
        answer = fold(text(header.value(row, COMPLIES.key)) or "")
        reason = text(header.value(row, REASON.key)) or ""
        if not answer and not reason.strip():
            continue
        try:
            partida = int(str(raw_partida).strip())
        except ValueError:
            problems.append(
                Problem("partida no válida", column="Partida", value=str(raw_partida), **where)
            )
            continue
        if answer not in YES and answer not in NO:
            problems.append(
                Problem(
                    "respuesta no válida",
                    column="Cumple",
                    value=answer,
                    expected="Sí o No",
                    **where,
                )
            )
            continue
        verdicts.append(Verdict(bid, partida, requirement, answer in YES, reason, row=number))
    if problems:
        raise ValidationFailed(
            f"«{filename}»: {count_of(len(problems), 'problema', 'problemas')}; "
            "no se registró ninguna evaluación.",
            problems=problems,
        )
    return verdicts


# ----- reading the fallo ---------------------------------------------------------------------


def get_fallo(db: Session, tender_id: int) -> Fallo:
    fallo = db.scalar(select(Fallo).where(Fallo.tender_id == tender_id))
    if fallo is None:
        number = db.scalar(select(Tender.number).where(Tender.id == tender_id)) or tender_id
        raise NotFound(f"La licitación {number} no tiene fallo todavía.")
    return fallo


def fallo_partidas(db: Session, fallo: Fallo) -> list[FalloPartida]:
    return list(
        db.scalars(
            select(FalloPartida)
            .where(FalloPartida.fallo_id == fallo.id)
            .order_by(FalloPartida.partida_number)
        )
    )


def fallo_outcomes(db: Session, fallo: Fallo) -> list[FalloOutcome]:
    return list(
        db.scalars(
            select(FalloOutcome)
            .where(FalloOutcome.fallo_id == fallo.id)
            .order_by(FalloOutcome.partida_number, FalloOutcome.bid_id)
        )
    )


def contract_drafts(db: Session, fallo: Fallo) -> list[ContractDraft]:
    return list(
        db.scalars(
            select(ContractDraft)
            .where(ContractDraft.fallo_id == fallo.id)
            .order_by(
                ContractDraft.institution_id, ContractDraft.supplier_id, ContractDraft.partida_id
            )
        )
    )
