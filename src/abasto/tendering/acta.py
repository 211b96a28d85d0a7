"""The acta de apertura: what the public opening read out, rebuilt from the ledger, and its PDF.

Everything in it comes from the tender's public ledger entries (``bid.open`` carries the bidder,
the salt and the whole content), not from the tables: the acta states what was published, and
anyone holding the ledger can rebuild it and recompute every commitment.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import TTFFont
from sqlalchemy import select

from abasto.catalog.models import Clave
from abasto.core.context import Context
from abasto.core.errors import Conflict
from abasto.core.ledger import LedgerEntry, canonical_json
from abasto.core.money import count_of, format_int, format_mxn, format_seconds
from abasto.tendering import rules, service
from abasto.tendering.live import feed_entity
from abasto.tendering.models import Partida
from abasto.tendering.sealing import commitment

OPENING_ACTIONS = ("tender.opening_started", "bid.open", "bid.missing", "tender.opened")
CHECK_LABELS = {service.MATCHES: "Coincide", service.MISMATCH: "No coincide"}
UNKNOWN_BIDDER = "Licitante no identificado"

HOW_TO_VERIFY = (
    "Cada proposición se selló al llegar y su compromiso se publicó en ese momento en la "
    "bitácora: compromiso = SHA-256(sal ‖ contenido), en hexadecimal.",
    "«sal» son los 32 bytes que se obtienen al leer en hexadecimal la sal de la proposición "
    "(el licitante la recibió en su acuse y se publica en la apertura). «‖» es la concatenación: "
    "los bytes de la sal seguidos de los bytes UTF-8 del contenido.",
    "«contenido» es el JSON canónico de la proposición: un objeto con «tender» (número de la "
    "licitación), «bid» (identificador de la proposición), «supplier» (RFC del licitante) y "
    "«lines» (una entrada por partida con partida, unit_price como texto con 2 decimales, "
    "quantity, presentation, registro_sanitario, manufacturer y country), con las claves "
    "ordenadas alfabéticamente, sin espacios (separadores «,» y «:») y sin escapar acentos.",
    "Para comprobar: tome el contenido y la sal de la entrada «bid.open» de la bitácora pública "
    "(su número aparece con cada proposición), calcule el SHA-256 y compárelo con el compromiso "
    "que la entrada «bid.seal» publicó antes del cierre. Si son iguales, el contenido leído en la "
    "apertura es exactamente el que se entregó. En Python: "
    "hashlib.sha256(bytes.fromhex(sal) + contenido.encode()).hexdigest().",
)


def instant(value: datetime | None) -> str:
    """``dd/mm/aaaa hh:mm:ss`` in Mexico City time: an acta records arrivals to the second."""
    if value is None:
        return "—"
    return format_seconds(value)


def parse_instant(value: object) -> datetime | None:
    """An instant as the ledger writes it (ISO 8601 with offset), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ActaLine:
    partida: int
    clave: str
    unit_price: Decimal
    quantity: int
    registro_sanitario: str | None
    manufacturer: str | None
    presentation: str | None
    country: str | None

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True, slots=True)
class ActaBid:
    """One bid as the opening read it out (or reported it missing)."""

    position: int
    bid_id: str
    seq: int
    opened_at: datetime
    received_at: datetime | None
    rfc: str | None
    razon_social: str | None
    commitment: str | None
    """The commitment the ledger published when the bid arrived."""
    stored_commitment: str | None
    salt: str | None
    recomputed: str | None
    """sha256(salt ‖ canonical content) recomputed here from what the opening published."""
    check: str
    detail: str
    lines: tuple[ActaLine, ...]
    line_count: int
    total: Decimal
    canonical: str | None
    missing: bool = False

    @property
    def matches(self) -> bool:
        return self.check == service.MATCHES

    @property
    def check_label(self) -> str:
        return CHECK_LABELS.get(self.check, self.check)

    @property
    def bidder(self) -> str:
        return self.razon_social or UNKNOWN_BIDDER


def opened_bid(
    *,
    position: int,
    seq: int,
    at: datetime,
    action: str,
    payload: Mapping[str, Any],
    claves: Mapping[int, str],
) -> ActaBid:
    """A ``bid.open`` or ``bid.missing`` ledger payload as a row of the acta."""
    supplier = payload.get("supplier") or {}
    content = payload.get("content")
    salt = payload.get("salt")
    raw_lines: list[dict[str, Any]] = list(content.get("lines", [])) if content else []
    lines = tuple(
        ActaLine(
            partida=int(line["partida"]),
            clave=claves.get(int(line["partida"]), "—"),
            unit_price=Decimal(str(line["unit_price"])),
            quantity=int(line["quantity"]),
            registro_sanitario=line.get("registro_sanitario"),
            manufacturer=line.get("manufacturer"),
            presentation=line.get("presentation"),
            country=line.get("country"),
        )
        for line in raw_lines
    )
    canonical = canonical_json(content) if content is not None else None
    recomputed = (
        commitment(bytes.fromhex(salt), canonical) if canonical is not None and salt else None
    )
    missing = action == "bid.missing"
    total = payload.get("total_max")
    return ActaBid(
        position=position,
        bid_id=str(payload.get("bid", "")),
        seq=seq,
        opened_at=at,
        received_at=parse_instant(payload.get("received_at")),
        rfc=supplier.get("rfc"),
        razon_social=supplier.get("razon_social"),
        commitment=payload.get("commitment"),
        stored_commitment=payload.get("stored_commitment"),
        salt=salt,
        recomputed=recomputed,
        check=service.MISMATCH if missing else str(payload.get("check", service.MISMATCH)),
        detail=str(payload.get("detail") or ""),
        lines=lines,
        line_count=int(payload.get("lines", len(lines)) or 0),
        total=Decimal(str(total))
        if total is not None
        else sum((line.amount for line in lines), Decimal(0)),
        canonical=canonical,
        missing=missing,
    )


@dataclass(frozen=True, slots=True)
class Acta:
    tender_id: int
    number: str
    title: str
    procedure_label: str
    legal_basis: str | None
    justification: str | None
    status: str
    opening_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    listed: int
    """Bids the opening listed when it started: what it had to read out."""
    bids: list[ActaBid]
    generated_at: datetime

    @property
    def finished(self) -> bool:
        return self.status in (rules.OPENED, rules.AWARDED)

    @property
    def status_label(self) -> str:
        return rules.STATUS_LABELS[self.status]

    @property
    def matching(self) -> int:
        return sum(1 for b in self.bids if b.matches)

    @property
    def not_matching(self) -> int:
        return len(self.bids) - self.matching


def build_acta(ctx: Context, *, tender_id: int) -> Acta:
    """The acta of a tender whose opening has started; refused before, with when it will be."""
    tender = service.view_tender(ctx, tender_id)
    if tender.status == rules.CANCELLED:
        raise Conflict(
            f"La licitación {tender.number} fue cancelada antes de la apertura; no hay acta de "
            "apertura."
        )
    if tender.status not in (rules.OPENING, rules.OPENED, rules.AWARDED):
        raise Conflict(
            f"La apertura de la licitación {tender.number} está fijada para el "
            f"{instant(tender.opening_at)} (hora del centro de México); el acta se publica "
            "cuando comienza."
        )
    claves = dict(
        ctx.db.execute(
            select(Partida.number, Clave.clave)
            .join(Clave, Clave.id == Partida.clave_id)
            .where(Partida.tender_id == tender.id)
        ).all()
    )
    entries = ctx.db.execute(
        select(LedgerEntry.seq, LedgerEntry.at, LedgerEntry.action, LedgerEntry.payload)
        .where(
            LedgerEntry.entity == feed_entity(tender.id),
            LedgerEntry.public.is_(True),
            LedgerEntry.action.in_(OPENING_ACTIONS),
        )
        .order_by(LedgerEntry.seq)
    ).all()
    listed = 0
    bids: list[ActaBid] = []
    for seq, at, action, payload in entries:
        data = json.loads(payload)
        if action == "tender.opening_started":
            listed = len(data.get("bids", []))
        elif action in ("bid.open", "bid.missing"):
            bids.append(
                opened_bid(
                    position=len(bids) + 1,
                    seq=seq,
                    at=at,
                    action=action,
                    payload=data,
                    claves=claves,
                )
            )
    return Acta(
        tender_id=tender.id,
        number=tender.number,
        title=tender.title,
        procedure_label=rules.procedure(tender.procedure).label,
        legal_basis=tender.legal_basis,
        justification=tender.justification,
        status=tender.status,
        opening_at=tender.opening_at,
        started_at=tender.opening_started_at,
        finished_at=tender.opened_at,
        listed=max(listed, len(bids)),
        bids=bids,
        generated_at=ctx.now,
    )


# ----- the PDF -------------------------------------------------------------------------------

# Regular and bold faces of Unicode fonts a Debian (or Fedora, Arch) machine with Chromium has;
# the first found is embedded. Without any, the PDF falls back to the Latin-1 core fonts.
FONT_CANDIDATES: tuple[tuple[str, str], ...] = (
    (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    ),
    ("/usr/share/fonts/TTF/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf"),
    (
        "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans-Bold.ttf",
    ),
    (
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    ),
    (
        "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
        "/usr/share/fonts/truetype/freefont/FreeSansBold.ttf",
    ),
)

_PLAIN = {
    "‖": "||",
    "≤": "<=",
    "≥": ">=",
    "—": "-",
    "–": "-",
    "‐": "-",
    "‑": "-",
    "…": "...",
    "“": '"',
    "”": '"',
    "„": '"',
    "‘": "'",
    "’": "'",
    "•": "-",
    "→": "->",
    "←": "<-",
    "€": "EUR",
    "Œ": "OE",
    "œ": "oe",
    "Ł": "L",
    "ł": "l",
    "\u00a0": " ",
}


@functools.cache
def unicode_font() -> tuple[Path, Path] | None:
    """The regular and bold files of the first Unicode font installed (bold may be the regular)."""
    for regular, bold in FONT_CANDIDATES:
        if Path(regular).is_file():
            return Path(regular), Path(bold) if Path(bold).is_file() else Path(regular)
    return None


def plain(text: str, has: Any = None) -> str:
    """Text the font can draw: characters it lacks become their nearest plain form.

    ``has`` tells whether the font has a code point; None means the Latin-1 core fonts.
    """
    out: list[str] = []
    for char in text:
        code = ord(char)
        if (has(code) if has else code < 256) and char != "\u00a0":
            out.append(char)
            continue
        if char in _PLAIN:
            out.append(_PLAIN[char])
            continue
        # Letters with marks outside the font (ő, ș…) keep their base letter.
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if (has(ord(c)) if has else ord(c) < 256)
        )
        out.append(base or "?")
    return "".join(out)


PAGES_ALIAS = "{paginas}"
CELL_PADDING = 1.5
"""Millimetres between a table's text and its column's edges."""


class DocumentPDF(FPDF):
    """A4 landscape with a running head on every page and a note and "Página n de m" below.

    The acta and the fallo are drawn with it; ``unicode=False`` forces the Latin-1 core fonts.
    """

    def __init__(
        self,
        *,
        title: str,
        running_head: str,
        footer_note: str,
        created: datetime,
        unicode: bool = True,
    ) -> None:
        super().__init__(orientation="L", unit="mm", format="A4")
        font = unicode_font() if unicode else None
        if font is not None:
            self.add_font("Acta", "", str(font[0]))
            self.add_font("Acta", "B", str(font[1]))
            self._family = "Acta"
            embedded = self.fonts["acta"]
            self._has: Any = embedded.cmap.__contains__ if isinstance(embedded, TTFFont) else None
        else:
            self._family = "helvetica"
            self._has = None
        self.running_head = running_head
        self.footer_note = footer_note
        self._widths: dict[tuple[str, float], dict[str, float]] = {}
        # Room for a five-digit page count: an acta of 4,000 partidas × 10 bids has a thousand.
        self.alias_nb_pages(PAGES_ALIAS)
        self.set_margins(12, 14, 12)
        self.set_auto_page_break(True, margin=14)
        self.set_title(self.t(title))
        self.set_author("Abasto")
        self.set_lang("es-MX")
        self.set_creation_date(created)

    def t(self, text: object) -> str:
        return plain(str(text), self._has)

    def use_font(self, size: float, bold: bool = False) -> None:
        self.set_font(self._family, "B" if bold else "", size)

    def header(self) -> None:
        self.use_font(7.5)
        self.set_text_color(90, 103, 112)
        self.cell(0, 4, self.t(self.running_head))
        self.set_x(self.l_margin)
        self.cell(0, 4, "Abasto", align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(29, 35, 39)
        self.ln(2)

    def footer(self) -> None:
        self.set_y(-10)
        self.use_font(7.5)
        self.set_text_color(90, 103, 112)
        self.cell(0, 4, self.t(self.footer_note))
        self.set_x(self.l_margin)
        self.cell(0, 4, f"Página {self.page_no()} de {PAGES_ALIAS}", align="R")
        self.set_text_color(29, 35, 39)

    def width_of(self, text: str) -> float:
        """The text's width in the current font: fpdf2's own measure is too slow for 40,000 rows.

        fpdf2 draws without kerning, so the sum of the glyphs' widths is the width drawn.
        """
        key = (self.font_style, self.font_size_pt)
        widths = self._widths.setdefault(key, {})
        total = 0.0
        for char in text:
            found = widths.get(char)
            if found is None:
                found = widths[char] = self.get_string_width(char)
            total += found
        return total

    def fit(self, text: str, width: float) -> str:
        """The text cut to the cell's width, with an ellipsis when cut."""
        text = self.t(text)
        room = width - 2 * CELL_PADDING
        if self.width_of(text) <= room:
            return text
        dots = self.t("…")
        room -= self.width_of(dots)
        used = 0.0
        for end, char in enumerate(text):
            used += self.width_of(char)
            if used > room:
                return text[:end] + dots
        return text

    def facts(self, rows: Sequence[tuple[str, str]], label_width: float = 52) -> None:
        for label, value in rows:
            self.use_font(8.5, bold=True)
            self.cell(label_width, 5, self.t(label))
            self.use_font(8.5)
            self.multi_cell(0, 5, self.t(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def heading(self, text: str, size: float = 12) -> None:
        self.ln(2)
        self.use_font(size, bold=True)
        self.multi_cell(0, size * 0.55, self.t(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(1)

    def grid(
        self,
        columns: Sequence[tuple[str, float, str]],
        rows: Sequence[Sequence[str]],
        height: float = 4.6,
    ) -> None:
        """A table whose header row is repeated at the top of each page it runs onto."""

        total = sum(width for _, width, _ in columns)

        def head() -> None:
            self.use_font(7.5, bold=True)
            self.set_fill_color(238, 241, 243)
            self.rect(self.l_margin, self.get_y(), total, height + 0.6, style="F")
            self.row(columns, [title for title, _, _ in columns], height + 0.6)
            self.line(self.l_margin, self.get_y(), self.l_margin + total, self.get_y())
            self.use_font(7.5)

        head()
        for values in rows:
            if self.get_y() + height > self.page_break_trigger:
                self.add_page()
                head()
            self.row(columns, values, height)

    def row(
        self, columns: Sequence[tuple[str, float, str]], values: Sequence[str], height: float
    ) -> None:
        # text() at computed positions draws five times faster than a cell() per value.
        top = self.get_y()
        left = self.l_margin
        for (_, width, align), value in zip(columns, values, strict=True):
            text = self.fit(value, width)
            if align == "R":
                x = left + width - CELL_PADDING - self.width_of(text)
            else:
                x = left + CELL_PADDING
            self.text(x, top + height * 0.7, text)
            left += width
        self.set_y(top + height)


def acta_pdf(acta: Acta, *, unicode: bool = True) -> bytes:
    """The acta as a PDF; ``unicode=False`` forces the Latin-1 core fonts (tested fallback)."""
    pdf = DocumentPDF(
        title=f"Acta de apertura {acta.number}",
        running_head=f"Acta de apertura de proposiciones · {acta.number}",
        footer_note=(
            f"Generada el {instant(acta.generated_at)} (hora del centro de México) a partir de "
            "la bitácora pública"
        ),
        created=acta.generated_at,
        unicode=unicode,
    )
    pdf.add_page()
    pdf.use_font(16, bold=True)
    pdf.multi_cell(
        0, 8, pdf.t("Acta de apertura de proposiciones"), new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.use_font(11)
    pdf.multi_cell(
        0, 6, pdf.t(f"{acta.number} — {acta.title}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.ln(2)
    pdf.facts(
        [
            ("Procedimiento", acta.procedure_label),
            *([("Fundamento legal", acta.legal_basis)] if acta.legal_basis else []),
            ("Estado", acta.status_label),
            ("Apertura programada", instant(acta.opening_at)),
            ("Inicio de la apertura", instant(acta.started_at)),
            ("Fin de la apertura", instant(acta.finished_at) if acta.finished else "en curso"),
            (
                "Proposiciones",
                f"{count_of(len(acta.bids), 'abierta', 'abiertas')} de {acta.listed}: "
                f"{count_of(acta.matching, 'coincide', 'coinciden')} con su compromiso publicado, "
                f"{count_of(acta.not_matching, 'no coincide', 'no coinciden')}",
            ),
            ("Horario", "hora del centro de México (America/Mexico_City)"),
        ]
    )
    pdf.heading("Cómo verificar un compromiso", 11)
    pdf.use_font(8.5)
    for paragraph in HOW_TO_VERIFY:
        pdf.multi_cell(0, 4.4, pdf.t(paragraph), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(1)
    pdf.heading("Resumen", 11)
    pdf.grid(
        [
            ("#", 10, "R"),
            ("Proposición", 62, "L"),
            ("Licitante", 86, "L"),
            ("RFC", 32, "L"),
            ("Partidas", 18, "R"),
            ("Importe", 35, "R"),
            ("Verificación", 30, "L"),
        ],
        [
            [
                str(b.position),
                b.bid_id,
                b.bidder,
                b.rfc or "—",
                format_int(b.line_count),
                format_mxn(b.total),
                b.check_label,
            ]
            for b in acta.bids
        ],
    )
    for bid in acta.bids:
        pdf.add_page()
        pdf.start_section(pdf.t(f"Proposición {bid.position} · {bid.bid_id} · {bid.bidder}"))
        pdf.heading(f"Proposición {bid.position}: {bid.bidder}", 12)
        pdf.facts(
            [
                ("Proposición", bid.bid_id),
                ("Licitante", f"{bid.bidder} ({bid.rfc})" if bid.rfc else bid.bidder),
                ("Recibida", instant(bid.received_at)),
                ("Abierta", instant(bid.opened_at)),
                (
                    "Entrada de la bitácora",
                    f"nº {bid.seq} ({'bid.missing' if bid.missing else 'bid.open'})",
                ),
                ("Compromiso publicado", bid.commitment or "—"),
                *(
                    [("Compromiso guardado", bid.stored_commitment or "—")]
                    if bid.stored_commitment != bid.commitment
                    else []
                ),
                ("Sal", bid.salt or "—"),
                ("SHA-256 recalculado", bid.recomputed or "—"),
                ("Verificación", f"{bid.check_label}: {bid.detail}"),
                (
                    "Partidas ofertadas",
                    f"{format_int(bid.line_count)} · importe {format_mxn(bid.total)}",
                ),
            ],
            label_width=44,
        )
        if bid.lines:
            pdf.ln(2)
            pdf.grid(
                [
                    ("Partida", 15, "R"),
                    ("Clave", 29, "L"),
                    ("Precio unitario", 27, "R"),
                    ("Cantidad", 22, "R"),
                    ("Importe", 32, "R"),
                    ("Registro sanitario", 34, "L"),
                    ("Fabricante", 58, "L"),
                    ("País", 22, "L"),
                    ("Presentación", 34, "L"),
                ],
                [
                    [
                        str(line.partida),
                        line.clave,
                        format_mxn(line.unit_price),
                        format_int(line.quantity),
                        format_mxn(line.amount),
                        line.registro_sanitario or "—",
                        line.manufacturer or "—",
                        line.country or "—",
                        line.presentation or "—",
                    ]
                    for line in bid.lines
                ],
            )
    return bytes(pdf.output())
