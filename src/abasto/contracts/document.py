"""The contract as a document: read from its row, drawn as a PDF both parties sign.

The PDF holds only what the contract says (parties, validity, partidas, delivery points, terms,
guarantee) and is dated at the contract's creation, so the same contract always draws the same
bytes and its SHA-256 identifies what was signed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from fpdf.enums import XPos, YPos
from sqlalchemy import select
from sqlalchemy.orm import Session

from abasto.contracts import rules
from abasto.contracts.models import Contract
from abasto.core.money import format_date, format_int, format_mxn, format_percent
from abasto.identity.models import Institution, Supplier, Unit
from abasto.tendering import acta
from abasto.tendering.models import Tender


@dataclass(frozen=True, slots=True)
class Line:
    clave: str
    description: str
    min_qty: int
    max_qty: int
    unit_price: Decimal

    @property
    def max_amount(self) -> Decimal:
        return rules.amount(self.max_qty, self.unit_price)


@dataclass(frozen=True, slots=True)
class ContractDocument:
    number: str
    tender: str
    institution: str
    supplier: str
    rfc: str
    starts_on: date
    ends_on: date
    created_at: datetime
    signing_deadline: date
    max_amount: Decimal
    guarantee_amount: Decimal
    terms: rules.Terms
    lines: tuple[Line, ...]
    points: tuple[str, ...]


def build(db: Session, contract: Contract) -> ContractDocument:
    institution = db.get(Institution, contract.institution_id)
    supplier = db.get(Supplier, contract.supplier_id)
    tender = db.get(Tender, contract.tender_id)
    assert institution is not None
    assert supplier is not None
    assert tender is not None
    points = db.scalars(
        select(Unit).where(Unit.id.in_([p.unit_id for p in contract.points])).order_by(Unit.code)
    )
    return ContractDocument(
        number=contract.number,
        tender=f"{tender.number} — {tender.title}",
        institution=f"{institution.name} ({institution.code})",
        supplier=supplier.razon_social,
        rfc=supplier.rfc,
        starts_on=contract.starts_on,
        ends_on=contract.ends_on,
        created_at=contract.created_at,
        signing_deadline=contract.signing_deadline,
        max_amount=contract.max_amount,
        guarantee_amount=contract.guarantee_amount,
        terms=rules.terms_of(dict(contract.terms)),
        lines=tuple(
            Line(x.clave, x.description, x.min_qty, x.max_qty, x.unit_price)
            for x in sorted(contract.lines, key=lambda x: x.clave)
        ),
        points=tuple(f"{u.code} — {u.name}" for u in points),
    )


def contract_pdf(doc: ContractDocument, *, unicode: bool = True) -> bytes:
    pdf = acta.DocumentPDF(
        title=f"Contrato {doc.number}",
        running_head=f"Contrato abierto · {doc.number}",
        footer_note="Generado a partir de los datos del contrato en Abasto",
        created=doc.created_at,
        unicode=unicode,
    )
    pdf.add_page()
    pdf.use_font(16, bold=True)
    pdf.multi_cell(
        0, 8, pdf.t("Contrato abierto de adquisición"), new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.use_font(11)
    pdf.multi_cell(0, 6, pdf.t(doc.number), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    terms = doc.terms
    pdf.facts(
        [
            ("Licitación", doc.tender),
            ("Institución", doc.institution),
            ("Proveedor", f"{doc.supplier} (RFC {doc.rfc})"),
            ("Vigencia", f"del {format_date(doc.starts_on)} al {format_date(doc.ends_on)}"),
            ("Importe máximo antes de IVA", format_mxn(doc.max_amount)),
            (
                "Garantía de cumplimiento",
                f"{format_mxn(doc.guarantee_amount)} ({format_percent(terms.guarantee_rate)} "
                "del importe máximo antes de IVA)",
            ),
            ("Firma a más tardar", format_date(doc.signing_deadline)),
            (
                "Penas convencionales",
                f"{format_percent(terms.penalty_rate)} por día natural de atraso sobre el valor "
                "entregado con atraso, hasta el monto de la garantía",
            ),
            ("Deductivas", f"{format_percent(terms.deductiva_rate)} del valor rechazado"),
            ("Entrega", f"{terms.delivery_days} días naturales desde cada orden de suministro"),
            ("Caducidad mínima", f"{terms.shelf_life_months} meses al recibir"),
            (
                "Convenios modificatorios",
                f"hasta {format_percent(terms.modification_cap)} en conjunto de lo contratado",
            ),
        ],
        label_width=62,
    )
    pdf.heading("Partidas", 11)
    pdf.grid(
        [
            ("Clave", 32, "L"),
            ("Descripción", 118, "L"),
            ("Mínimo", 24, "R"),
            ("Máximo", 24, "R"),
            ("Precio unitario", 28, "R"),
            ("Importe máximo", 32, "R"),
        ],
        [
            [
                x.clave,
                x.description,
                format_int(x.min_qty),
                format_int(x.max_qty),
                format_mxn(x.unit_price),
                format_mxn(x.max_amount),
            ]
            for x in doc.lines
        ],
    )
    pdf.heading("Puntos de entrega", 11)
    pdf.use_font(8.5)
    for point in doc.points or ("(la institución no tiene unidades registradas)",):
        pdf.multi_cell(0, 4.6, pdf.t(point), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())
