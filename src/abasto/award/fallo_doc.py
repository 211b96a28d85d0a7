"""The fallo as a document: read once from the stored fallo, then shown as a page and a PDF.

Everything comes from what was stored when the fallo was issued (``Fallo`` and its winners,
partidas and outcomes), the opened bid lines and the partidas' claves, so the document reads the
same forever. Search, sorting and the savings chart are plain functions of the document.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from fpdf.enums import XPos, YPos
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from abasto.award.models import Fallo, FalloLine, FalloOutcome, FalloPartida
from abasto.catalog.models import Clave
from abasto.catalog.rules import group_of
from abasto.core import numbers
from abasto.core.context import Context
from abasto.core.errors import NotFound
from abasto.core.money import format_int, format_mxn, format_percent
from abasto.core.text import fold
from abasto.identity.models import Supplier
from abasto.tendering import acta
from abasto.tendering import rules as tendering_rules
from abasto.tendering import service as tendering
from abasto.tendering.models import Bid, BidLine, Partida

MODE_LABELS = {
    "lowest": "Precio más bajo por partida",
    "split": "Abastecimiento simultáneo",
    "optimal": "Óptimo para toda la licitación",
}
SOLUTION_LABELS = {
    "optimal": "solución óptima",
    "feasible": "solución factible (el modelo se detuvo por tiempo)",
    "rule": "por regla, partida por partida",
}
STATUS_LABELS = {"adjudicada": "Adjudicada", "parcial": "Parcial", "desierta": "Desierta"}
STATUS_FOLDED = {code: fold(label) for code, label in STATUS_LABELS.items()}
OUTCOME_LABELS = {
    "adjudicada": "Adjudicada",
    "solvente": "Solvente, no adjudicada",
    "no_cumple": "No cumple técnicamente",
    "sobre_presupuesto": "Sobre presupuesto",
    "precio_no_aceptable": "Precio no aceptable",
    "precio_no_conveniente": "Precio no conveniente",
}
UNKNOWN_BIDDER = acta.UNKNOWN_BIDDER
ZERO = Decimal(0)


# ----- the document --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Winner:
    """Who supplies how much of a partida, at which price."""

    bid_id: str
    rfc: str
    name: str
    quantity: int
    unit_price: Decimal
    reference_price: Decimal | None

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity

    @property
    def reference_amount(self) -> Decimal:
        return (self.reference_price or self.unit_price) * self.quantity

    @property
    def savings(self) -> Decimal:
        """(reference − price) × quantity: negative when the price is above the reference."""
        return self.reference_amount - self.total


@dataclass(frozen=True, slots=True)
class LineOutcome:
    """One bid line of a partida in the fallo: its outcome and why."""

    bid_id: str
    rfc: str | None
    name: str
    unit_price: Decimal | None
    offered: int | None
    outcome: str
    reasons: tuple[str, ...]
    awarded: int

    @property
    def label(self) -> str:
        return OUTCOME_LABELS.get(self.outcome, self.outcome)

    @property
    def won(self) -> bool:
        return self.awarded > 0


@dataclass(frozen=True, slots=True)
class PartidaResult:
    number: int
    clave: str
    description: str
    status: str
    demand: int
    awarded: int
    reference_price: Decimal | None
    reason: str | None
    winners: tuple[Winner, ...]
    outcomes: tuple[LineOutcome, ...]
    search_text: str = field(default="", repr=False)
    """Folded clave, description, status, reason and every bidder: what a search looks in."""

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def group(self) -> str:
        return self.clave[:3]

    @property
    def total(self) -> Decimal:
        return sum((w.total for w in self.winners), ZERO)

    @property
    def reference_amount(self) -> Decimal:
        return sum((w.reference_amount for w in self.winners), ZERO)

    @property
    def savings(self) -> Decimal:
        return sum((w.savings for w in self.winners), ZERO)

    @property
    def uncovered(self) -> int:
        return self.demand - self.awarded


@dataclass(frozen=True, slots=True)
class Desierta:
    """A partida, or what is left of one, to buy in a new procedure."""

    number: int
    clave: str
    description: str
    quantity: int
    """Units nobody was awarded (the whole demand, or what a partial award left)."""
    status: str
    """``desierta``, ``parcial``, or ``declarada`` (declared desierta before the fallo)."""
    reason: str

    @property
    def status_label(self) -> str:
        if self.status == "declarada":
            return "Declarada desierta antes del fallo"
        return "Desierta" if self.status == "desierta" else "Parcialmente desierta"


@dataclass(frozen=True, slots=True)
class GroupSavings:
    """The savings of one group of claves: Σ (reference − price) × quantity of its winners."""

    code: str
    label: str
    partidas: int
    total: Decimal
    reference: Decimal

    @property
    def savings(self) -> Decimal:
        return self.reference - self.total


@dataclass(frozen=True, slots=True)
class FalloDocument:
    tender_id: int
    fallo_id: int
    number: str
    title: str
    procedure_label: str
    mode: str
    solution: str
    parameters: tuple[tuple[str, str], ...]
    issued_at: datetime
    ledger_seq: int
    total: Decimal
    reference_total: Decimal
    baseline_total: Decimal
    gap: float | None
    partidas: tuple[PartidaResult, ...]
    declared: tuple[Desierta, ...]
    generated_at: datetime

    @property
    def mode_label(self) -> str:
        return MODE_LABELS.get(self.mode, self.mode)

    @property
    def solution_label(self) -> str:
        return SOLUTION_LABELS.get(self.solution, self.solution)

    @property
    def savings(self) -> Decimal:
        """Against the reference prices of the awarded quantities."""
        return self.reference_total - self.total

    @property
    def savings_rate(self) -> Decimal | None:
        """The savings as a share of the reference amount, to a hundredth of a percent."""
        if not self.reference_total:
            return None
        return (self.savings / self.reference_total).quantize(Decimal("0.0001"))

    @property
    def baseline_difference(self) -> Decimal:
        """Against the lowest solvent price per partida: what this mode costs more (or less)."""
        return self.total - self.baseline_total

    def count(self, status: str) -> int:
        return sum(1 for p in self.partidas if p.status == status)

    @property
    def winners(self) -> int:
        return sum(len(p.winners) for p in self.partidas)

    @property
    def desiertas(self) -> list[Desierta]:
        """Everything to buy again: desiertas and partial remainders, and those declared before."""
        found = [
            Desierta(
                p.number,
                p.clave,
                p.description,
                p.uncovered,
                p.status,
                p.reason or "sin motivo registrado",
            )
            for p in self.partidas
            if p.uncovered > 0
        ]
        return sorted([*found, *self.declared], key=lambda d: d.number)

    @property
    def groups(self) -> list[GroupSavings]:
        totals: dict[str, list[Any]] = defaultdict(lambda: [0, ZERO, ZERO])
        for p in self.partidas:
            if not p.winners:
                continue
            entry = totals[p.group]
            entry[0] += 1
            entry[1] += p.total
            entry[2] += p.reference_amount
        return [
            GroupSavings(code, group_of(code).label, count, total, reference)
            for code, (count, total, reference) in sorted(totals.items())
        ]


def parameter_rows(parameters: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The award parameters stored with the fallo, as a person reads them."""

    def rate(name: str) -> str | None:
        value = parameters.get(name)
        return format_percent(Decimal(str(value))) if value is not None else None

    rows: list[tuple[str, str | None]] = [
        ("Precio no aceptable: más de", f"{rate('acceptable_margin')} sobre el de referencia"),
        (
            "Precio no conveniente: más de",
            f"{rate('convenient_margin')} bajo el promedio de las aceptables",
        ),
        ("Margen del abastecimiento simultáneo", rate("split_margin")),
        (
            "Porcentajes del abastecimiento simultáneo",
            " / ".join(
                format_percent(Decimal(str(s)) / 100) for s in parameters.get("split_shares") or []
            )
            or None,
        ),
        (
            "Participación máxima de un proveedor",
            rate("max_supplier_share") or "sin límite",
        ),
        (
            "Lote mínimo (modelo óptimo)",
            f"la demanda entre {parameters['lot_deliveries']} entregas"
            if parameters.get("lot_deliveries") is not None
            else None,
        ),
        (
            "Proveedores mínimos en partidas críticas",
            str(parameters["min_suppliers_critical"])
            if parameters.get("min_suppliers_critical") is not None
            else None,
        ),
    ]
    return tuple((label, value) for label, value in rows if value is not None)


def has_fallo(ctx: Context, tender_id: int) -> bool:
    return ctx.db.scalar(select(Fallo.id).where(Fallo.tender_id == tender_id)) is not None


def _reasons(
    db: Session, fallo_id: int, numbers: Collection[int] | None
) -> dict[tuple[str, int], tuple[str, ...]]:
    """The stored reasons of each bid line's outcome, of these partidas (None: all)."""
    query = select(FalloOutcome.bid_id, FalloOutcome.partida_number, FalloOutcome.reasons).where(
        FalloOutcome.fallo_id == fallo_id
    )
    found: dict[tuple[str, int], tuple[str, ...]] = {}
    wanted = sorted(numbers) if numbers is not None else None
    for start in range(0, len(wanted), 1000) if wanted is not None else [0]:
        chunk = (
            query.where(FalloOutcome.partida_number.in_(wanted[start : start + 1000]))
            if wanted is not None
            else query
        )
        for bid_id, number, reasons in db.execute(chunk):
            found[(bid_id, number)] = tuple(reasons)
    return found


def with_reasons(
    ctx: Context, doc: FalloDocument, partidas: Sequence[PartidaResult]
) -> list[PartidaResult]:
    """These partidas of a document built without reasons, with their bid lines' reasons."""
    stored = _reasons(ctx.db, doc.fallo_id, {p.number for p in partidas})
    return [
        replace(
            p,
            outcomes=tuple(
                replace(o, reasons=stored.get((o.bid_id, p.number), ())) for o in p.outcomes
            ),
        )
        for p in partidas
    ]


def build_fallo(ctx: Context, *, tender_id: int, reasons: bool = True) -> FalloDocument:
    """The fallo of a tender the actor may see; ``NotFound`` while it has none.

    ``reasons=False`` leaves out the reasons of each bid line's outcome (a page shows those of
    fifty partidas: ``with_reasons``); everything else is there.
    """
    tender = tendering.view_tender(ctx, tender_id)
    fallo = ctx.db.scalar(select(Fallo).where(Fallo.tender_id == tender.id))
    if fallo is None:
        raise NotFound(f"La licitación {tender.number} no tiene fallo todavía.")
    db = ctx.db
    # Column reads, not ORM objects: a national tender has 4,000 partidas and 40,000 bid lines.
    partidas = {
        number: (clave, description, search_text)
        for number, clave, description, search_text in db.execute(
            select(Partida.number, Clave.clave, Clave.description, Clave.search_text)
            .join(Clave, Clave.id == Partida.clave_id)
            .where(Partida.tender_id == tender.id)
        )
    }
    bids = dict(db.execute(select(Bid.id, Bid.supplier_id).where(Bid.tender_id == tender.id)).all())
    suppliers = {
        supplier_id: (rfc, name)
        for supplier_id, rfc, name in db.execute(
            select(Supplier.id, Supplier.rfc, Supplier.razon_social).where(
                Supplier.id.in_({s for s in bids.values() if s is not None})
            )
        )
    }
    # Folded once per bidder, not once per line: what a search by supplier looks in.
    bidder_text = {
        bid_id: f"{fold(' '.join(suppliers.get(s or 0, ('', ''))))} {bid_id.lower()}"
        for bid_id, s in bids.items()
    }
    offered = {
        (bid_id, number): (price, quantity)
        for bid_id, number, price, quantity in db.execute(
            select(BidLine.bid_id, BidLine.partida_number, BidLine.unit_price, BidLine.quantity)
            .join(Bid, Bid.id == BidLine.bid_id)
            .where(Bid.tender_id == tender.id)
        )
    }
    winners: dict[int, list[Winner]] = defaultdict(list)
    for number, bid_id, supplier_id, quantity, price, reference in db.execute(
        select(
            FalloLine.partida_number,
            FalloLine.bid_id,
            FalloLine.supplier_id,
            FalloLine.quantity,
            FalloLine.unit_price,
            FalloLine.reference_price,
        )
        .where(FalloLine.fallo_id == fallo.id)
        .order_by(FalloLine.partida_number, FalloLine.id)
    ):
        rfc, name = suppliers.get(supplier_id, ("—", UNKNOWN_BIDDER))
        winners[number].append(Winner(bid_id, rfc, name, quantity, price, reference))
    outcomes: dict[int, list[LineOutcome]] = defaultdict(list)
    stored = _reasons(db, fallo.id, None) if reasons else {}
    for bid_id, number, outcome, awarded in db.execute(
        select(
            FalloOutcome.bid_id,
            FalloOutcome.partida_number,
            FalloOutcome.outcome,
            FalloOutcome.awarded,
        ).where(FalloOutcome.fallo_id == fallo.id)
    ):
        bidder = suppliers.get(bids.get(bid_id) or 0)
        line = offered.get((bid_id, number))
        outcomes[number].append(
            LineOutcome(
                bid_id,
                bidder[0] if bidder else None,
                bidder[1] if bidder else UNKNOWN_BIDDER,
                line[0] if line else None,
                line[1] if line else None,
                outcome,
                stored.get((bid_id, number), ()),
                awarded,
            )
        )
    results = []
    for number, status, demand, awarded, reference, reason in db.execute(
        select(
            FalloPartida.partida_number,
            FalloPartida.status,
            FalloPartida.demand,
            FalloPartida.awarded,
            FalloPartida.reference_price,
            FalloPartida.reason,
        )
        .where(FalloPartida.fallo_id == fallo.id)
        .order_by(FalloPartida.partida_number)
    ):
        clave, description, clave_text = partidas[number]
        lines = sorted(
            outcomes.get(number, []),
            # Winners first, then by price: the order a reader compares them in.
            key=lambda o: (not o.won, o.unit_price is None, o.unit_price or ZERO, o.bid_id),
        )
        text = " ".join(
            [
                clave_text,
                STATUS_FOLDED.get(status, status),
                fold(reason) if reason else "",
                *(bidder_text.get(o.bid_id, "") for o in lines),
            ]
        )
        results.append(
            PartidaResult(
                number=number,
                clave=clave,
                description=description,
                status=status,
                demand=demand,
                awarded=awarded,
                reference_price=reference,
                reason=reason,
                winners=tuple(winners.get(number, [])),
                outcomes=tuple(lines),
                search_text=text,
            )
        )
    declared = tuple(
        Desierta(
            p.number,
            p.clave.clave,
            p.clave.description,
            p.max_qty,
            "declarada",
            p.desierta_reason or "declarada desierta",
        )
        for p in db.scalars(
            select(Partida)
            .where(Partida.tender_id == tender.id, Partida.desierta_at.is_not(None))
            .options(selectinload(Partida.clave))
            .order_by(Partida.number)
        )
    )
    return FalloDocument(
        tender_id=tender.id,
        fallo_id=fallo.id,
        number=tender.number,
        title=tender.title,
        procedure_label=tendering_rules.procedure(tender.procedure).label,
        mode=fallo.mode,
        solution=fallo.status,
        parameters=parameter_rows(fallo.parameters),
        issued_at=fallo.issued_at,
        ledger_seq=fallo.ledger_seq,
        total=fallo.total,
        reference_total=fallo.reference_total,
        baseline_total=fallo.baseline_total,
        gap=fallo.gap,
        partidas=tuple(results),
        declared=declared,
        generated_at=ctx.now,
    )


# ----- search, sort and pages ----------------------------------------------------------------

SORTS = {
    "partida": "Partida",
    "clave": "Clave",
    "total": "Importe",
    "ahorro": "Ahorro",
}
CLAVE_PREFIX = re.compile(r"[0-9]+(\.[0-9]*)+")
"""A search that is the start of a clave (``010.000.01``): matched as a prefix, not as words."""


@dataclass(frozen=True, slots=True)
class PartidaPage:
    items: list[PartidaResult]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def matches(partida: PartidaResult, q: str) -> bool:
    """The start of a clave, or words found in the partida and its bidders."""
    words = q.strip()
    if not words:
        return True
    compact = "".join(words.split())
    if CLAVE_PREFIX.fullmatch(compact):
        return partida.clave.startswith(compact)
    return all(word in partida.search_text for word in fold(words).split())


def select_partidas(
    partidas: Sequence[PartidaResult],
    *,
    q: str = "",
    status: str = "",
    order: str = "partida",
    descending: bool = False,
    page: int = 1,
    per_page: int = 50,
) -> PartidaPage:
    """One page of the partidas that match, in the order asked (ties by partida number).

    A number alone is a partida's number, when there is such a partida; otherwise it is looked
    for as text (a fragment of a clave, an RFC).
    """
    number = numbers.count_of(q)
    if number is not None and any(p.number == number for p in partidas):
        found = [p for p in partidas if p.number == number and (not status or p.status == status)]
    else:
        found = [p for p in partidas if (not status or p.status == status) and matches(p, q)]
    keys: dict[str, Any] = {
        "partida": lambda p: p.number,
        "clave": lambda p: (p.clave, p.number),
        "total": lambda p: (p.total, -p.number if descending else p.number),
        "ahorro": lambda p: (p.savings, -p.number if descending else p.number),
    }
    found.sort(key=keys.get(order, keys["partida"]), reverse=descending)
    last = max(1, -(-len(found) // per_page))
    page = min(max(page, 1), last)
    start = (page - 1) * per_page
    return PartidaPage(found[start : start + per_page], len(found), page, per_page)


# ----- the savings chart ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bar:
    group: GroupSavings
    x: float
    y: float
    width: float
    label_y: float
    amount_x: float
    """Where the amount starts: after the end of the bar, or after the zero line if negative."""

    @property
    def negative(self) -> bool:
        return self.group.savings < 0


@dataclass(frozen=True, slots=True)
class Chart:
    """A horizontal bar per group of claves, in the SVG's own units (it scales to its box)."""

    width: int
    height: int
    bar_height: int
    zero_x: float
    bars: tuple[Bar, ...]


CHART_WIDTH = 360
"""About a phone's width, so the labels keep their size there."""
CHART_CHAR = 7.6
"""Width of a character of an amount (13 px digits, in the SVG's units), to leave it room."""
CHART_ROW = 44
CHART_BAR = 14
CHART_LABEL = 15
"""Distance from the top of a row to the baseline of its label (the bar goes under it)."""


def savings_chart(groups: Sequence[GroupSavings]) -> Chart:
    """Bars proportional to each group's savings; a negative saving goes left of the zero line.

    Each row is the group's label, then its bar with the amount after it; the bars leave room
    on the right for the longest amount.
    """
    room = max((len(format_mxn(g.savings)) for g in groups), default=0) * CHART_CHAR + 8
    low = min((g.savings for g in groups), default=ZERO)
    high = max((g.savings for g in groups), default=ZERO)
    low, high = min(low, ZERO), max(high, ZERO)
    span = high - low
    scale = Decimal(str(CHART_WIDTH - room)) / span if span else ZERO
    zero_x = float(-low * scale)
    bars = []
    for row, group in enumerate(groups):
        top = row * CHART_ROW
        length = float(abs(group.savings) * scale)
        x = zero_x - length if group.savings < 0 else zero_x
        bars.append(
            Bar(
                group,
                x=round(x, 2),
                y=top + CHART_LABEL + 5,
                width=round(length, 2),
                label_y=top + CHART_LABEL,
                amount_x=round((zero_x if group.savings < 0 else x + length) + 5, 2),
            )
        )
    return Chart(
        width=CHART_WIDTH,
        height=max(1, len(groups)) * CHART_ROW,
        bar_height=CHART_BAR,
        zero_x=round(zero_x, 2),
        bars=tuple(bars),
    )


# ----- the PDF -------------------------------------------------------------------------------

LINE_HEIGHT = 3.9


class FalloPDF(acta.DocumentPDF):
    """The acta's document, with tables whose long cells (reasons) wrap instead of being cut.

    A fallo repeats the same texts thousands of times (bidders, outcomes, reasons): their plain
    form and their widths are remembered.
    """

    def __init__(self, **kwargs: Any) -> None:
        # The base class draws its title with t(): the memories come first.
        self._plain: dict[str, str] = {}
        self._sizes: dict[tuple[str, float, str], float] = {}
        super().__init__(**kwargs)

    def t(self, text: object) -> str:
        key = str(text)
        found = self._plain.get(key)
        if found is None:
            found = self._plain[key] = super().t(key)
        return found

    def width_of(self, text: str) -> float:
        key = (self.font_style, self.font_size_pt, text)
        found = self._sizes.get(key)
        if found is None:
            found = self._sizes[key] = super().width_of(text)
        return found

    def wrap(self, text: str, width: float) -> list[str]:
        """The text in lines that fit the column; a word wider than it (an id) is broken."""
        room = width - 2 * acta.CELL_PADDING
        space = self.width_of(" ")
        lines: list[str] = []
        for paragraph in self.t(text).split("\n"):
            words: list[str] = []
            used = 0.0
            for word in paragraph.split(" "):
                size = self.width_of(word)
                if size > room:
                    if words:
                        lines.append(" ".join(words))
                    pieces = self._break(word, room)
                    lines.extend(pieces[:-1])
                    words, used = [pieces[-1]], self.width_of(pieces[-1])
                elif words and used + space + size > room:
                    lines.append(" ".join(words))
                    words, used = [word], size
                else:
                    used += (space if words else 0.0) + size
                    words.append(word)
            lines.append(" ".join(words))
        return lines

    def _break(self, word: str, room: float) -> list[str]:
        pieces = [""]
        for char in word:
            if pieces[-1] and self.width_of(pieces[-1] + char) > room:
                pieces.append("")
            pieces[-1] += char
        return pieces

    def wrapped_grid(
        self, columns: Sequence[tuple[str, float, str]], rows: Sequence[Sequence[str]]
    ) -> None:
        """A table like ``grid``; columns aligned ``W`` wrap their text over several lines."""
        total = sum(width for _, width, _ in columns)
        plain_columns = [
            (title, width, "L" if align == "W" else align) for title, width, align in columns
        ]

        def head() -> None:
            self.use_font(7.5, bold=True)
            self.set_fill_color(238, 241, 243)
            self.rect(self.l_margin, self.get_y(), total, LINE_HEIGHT + 1.2, style="F")
            self.row(plain_columns, [title for title, _, _ in columns], LINE_HEIGHT + 1.2)
            self.line(self.l_margin, self.get_y(), self.l_margin + total, self.get_y())
            self.use_font(7.5)

        head()
        for values in rows:
            cells = [
                self.wrap(value, width) if align == "W" else [self.fit(value, width)]
                for (_, width, align), value in zip(columns, values, strict=True)
            ]
            height = max(len(lines) for lines in cells) * LINE_HEIGHT + 0.8
            if self.get_y() + height > self.page_break_trigger:
                self.add_page()
                head()
            top = self.get_y()
            left = self.l_margin
            for (_, width, align), lines in zip(columns, cells, strict=True):
                for n, text in enumerate(lines):
                    if align == "R":
                        x = left + width - acta.CELL_PADDING - self.width_of(text)
                    else:
                        x = left + acta.CELL_PADDING
                    self.text(x, top + LINE_HEIGHT * (n + 0.75) + 0.4, text)
                left += width
            self.set_draw_color(217, 222, 226)
            self.line(self.l_margin, top + height, self.l_margin + total, top + height)
            self.set_draw_color(0, 0, 0)
            self.set_y(top + height)


def summary_rows(doc: FalloDocument) -> list[tuple[str, str]]:
    """The fallo's facts and totals, the same on the page's document and in the PDF."""
    return [
        ("Procedimiento", doc.procedure_label),
        ("Emitido", f"{acta.instant(doc.issued_at)} (hora del centro de México)"),
        ("Modo de adjudicación", doc.mode_label),
        (
            "Solución",
            doc.solution_label
            + (f"; brecha de optimalidad {doc.gap:.4%}" if doc.gap is not None else ""),
        ),
        ("Entrada de la bitácora", f"nº {doc.ledger_seq} (fallo.issue)"),
        ("Monto adjudicado", format_mxn(doc.total)),
        ("A precios de referencia", format_mxn(doc.reference_total)),
        (
            "Ahorro contra la referencia",
            format_mxn(doc.savings)
            + (f" ({format_percent(doc.savings_rate)})" if doc.savings_rate is not None else ""),
        ),
        ("Precio más bajo por partida (línea base)", format_mxn(doc.baseline_total)),
        (
            "Diferencia contra la línea base",
            format_mxn(doc.baseline_difference)
            + (
                " (el mismo monto)"
                if not doc.baseline_difference
                else " más"
                if doc.baseline_difference > 0
                else " menos"
            ),
        ),
        (
            "Partidas",
            f"{format_int(doc.count('adjudicada'))} adjudicadas, "
            f"{format_int(doc.count('parcial'))} parciales, "
            f"{format_int(doc.count('desierta'))} desiertas"
            + (
                f", {format_int(len(doc.declared))} declaradas desiertas antes"
                if doc.declared
                else ""
            ),
        ),
    ]


def fallo_pdf(doc: FalloDocument, *, unicode: bool = True) -> bytes:
    """The fallo as a PDF: facts, savings by group, winners, desiertas, every bid line."""
    pdf = FalloPDF(
        title=f"Fallo {doc.number}",
        running_head=f"Fallo de la licitación · {doc.number}",
        footer_note=(
            f"Generado el {acta.instant(doc.generated_at)} (hora del centro de México) a partir "
            f"del fallo publicado en la bitácora (entrada nº {doc.ledger_seq})"
        ),
        created=doc.generated_at,
        unicode=unicode,
    )
    pdf.add_page()
    pdf.start_section(pdf.t("Fallo"))
    pdf.use_font(16, bold=True)
    pdf.multi_cell(0, 8, pdf.t("Fallo de la licitación"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.use_font(11)
    pdf.multi_cell(0, 6, pdf.t(f"{doc.number} — {doc.title}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    pdf.facts(summary_rows(doc), label_width=82)
    pdf.heading("Parámetros de adjudicación", 11)
    pdf.facts(list(doc.parameters), label_width=82)

    pdf.start_section(pdf.t("Ahorro por grupo de claves"))
    pdf.heading("Ahorro por grupo de claves", 11)
    pdf.grid(
        [
            ("Grupo", 16, "L"),
            ("Descripción", 90, "L"),
            ("Partidas", 20, "R"),
            ("A precios de referencia", 45, "R"),
            ("Adjudicado", 45, "R"),
            ("Ahorro", 45, "R"),
        ],
        [
            [
                g.code,
                g.label,
                format_int(g.partidas),
                format_mxn(g.reference),
                format_mxn(g.total),
                format_mxn(g.savings),
            ]
            for g in doc.groups
        ],
    )

    pdf.add_page()
    pdf.start_section(pdf.t("Adjudicación por partida"))
    pdf.heading("Adjudicación por partida", 12)
    rows: list[list[str]] = []
    for p in doc.partidas:
        head = [str(p.number), p.clave, p.status_label]
        if not p.winners:
            rows.append(
                [*head, "—", "—", "0", "—", "—", format_mxn(p.reference_price or ZERO), "—"]
            )
        for n, w in enumerate(p.winners):
            rows.append(
                [
                    *(head if n == 0 else ["", "", ""]),
                    w.name,
                    w.rfc,
                    format_int(w.quantity),
                    format_mxn(w.unit_price),
                    format_mxn(w.total),
                    format_mxn(w.reference_price) if w.reference_price is not None else "—",
                    format_mxn(w.savings),
                ]
            )
    pdf.grid(
        [
            ("Partida", 15, "R"),
            ("Clave", 28, "L"),
            ("Estado", 19, "L"),
            ("Proveedor", 68, "L"),
            ("RFC", 27, "L"),
            ("Cantidad", 20, "R"),
            ("Precio", 25, "R"),
            ("Importe", 29, "R"),
            ("Referencia", 21, "R"),
            ("Ahorro", 21, "R"),
        ],
        rows,
    )

    desiertas = doc.desiertas
    if desiertas:
        pdf.start_section(pdf.t("Partidas desiertas"))
        pdf.heading("Partidas desiertas, para un nuevo procedimiento", 12)
        pdf.wrapped_grid(
            [
                ("Partida", 15, "R"),
                ("Clave", 28, "L"),
                ("Situación", 40, "L"),
                ("Cantidad por adquirir", 32, "R"),
                ("Motivo", 158, "W"),
            ],
            [
                [str(d.number), d.clave, d.status_label, format_int(d.quantity), d.reason]
                for d in desiertas
            ],
        )

    pdf.add_page()
    pdf.start_section(pdf.t("Resultado de cada proposición"))
    pdf.heading("Resultado de cada proposición por partida", 12)
    pdf.wrapped_grid(
        [
            ("Partida", 15, "R"),
            ("Licitante", 60, "W"),
            ("Proposición", 30, "W"),
            ("Precio", 24, "R"),
            ("Ofertado", 20, "R"),
            ("Resultado", 34, "W"),
            ("Motivos", 90, "W"),
        ],
        [
            [
                str(p.number),
                f"{o.name} ({o.rfc})" if o.rfc else o.name,
                o.bid_id,
                format_mxn(o.unit_price) if o.unit_price is not None else "—",
                format_int(o.offered) if o.offered is not None else "—",
                o.label,
                "\n".join(o.reasons),
            ]
            for p in doc.partidas
            for o in p.outcomes
        ],
    )
    return bytes(pdf.output())
