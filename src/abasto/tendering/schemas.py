"""Request and response shapes of the tendering API.

A bid's shape depends on the tender's stage: ``BidRead`` carries the bidder and the lines only
once the bid was opened in public; before that, only its id, arrival and commitment.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, Field, model_validator
from pydantic.dataclasses import dataclass
from pydantic.json_schema import SkipJsonSchema

from abasto.core.bounds import Count, Id, Instant
from abasto.tendering import rules, service
from abasto.tendering.models import Amendment, Partida, Question, Tender
from abasto.web.openapi import ProblemItem


class PartidaWrite(BaseModel):
    clave: str = Field(description="Clave del catálogo.", max_length=20)
    min_qty: Count = Field(description="Cantidad mínima consolidada.")
    max_qty: Count = Field(gt=0, description="Cantidad máxima consolidada.")


class AwardTerms(BaseModel):
    """What the call announces about the award (defaults: 10 %, 40 %, 10 %, 60/40)."""

    acceptable_margin: Decimal | None = Field(default=None, description="Precio no aceptable.")
    convenient_margin: Decimal | None = Field(default=None, description="Precio no conveniente.")
    split_margin: Decimal | None = Field(default=None, description="A lo más 0.10.")
    split_shares: list[Decimal] | None = Field(default=None, description="P. ej. [60, 40].")
    max_supplier_share: Decimal | None = Field(default=None, description="P. ej. 0.15.")
    min_suppliers_critical: Count | None = None
    critical_partidas: list[Id] | None = Field(default=None, description="Partidas críticas.")
    lot_deliveries: int | None = Field(
        default=None,
        ge=1,
        le=366,
        description="Lote mínimo del modelo óptimo: la demanda entre estas entregas (12).",
    )
    signing_days: int | None = Field(default=None, ge=1, le=90, description="Días para firmar.")
    guarantee_rate: Decimal | None = Field(default=None, ge=0, le=1, description="P. ej. 0.10.")
    modification_cap: Decimal | None = Field(default=None, ge=0, le=1, description="0.20.")
    penalty_rate: Decimal | None = Field(default=None, ge=0, le=1, description="Por día: 0.01.")
    deductiva_rate: Decimal | None = Field(default=None, ge=0, le=1, description="P. ej. 0.01.")
    shelf_life_months: int | None = Field(default=None, ge=0, le=120, description="12.")
    delivery_days: int | None = Field(default=None, ge=1, le=365, description="20.")

    def given(self) -> dict[str, object]:
        """As stored with the tender: Decimals as text, so JSON keeps them exact."""

        def plain(value: object) -> object:
            if isinstance(value, list):
                return [plain(item) for item in value]
            return str(value) if isinstance(value, Decimal) else value

        return {k: plain(v) for k, v in self.model_dump(exclude_none=True).items()}


class TenderCreate(BaseModel):
    title: str = Field(max_length=300)
    procedure: str = Field(description=f"Uno de: {', '.join(rules.PROCEDURES)}.")
    round: str | None = Field(default=None, description="Ronda de demanda congelada.")
    partidas: list[PartidaWrite] = Field(default_factory=list, description="Partidas a mano.")
    invited: list[str] = Field(default_factory=list, description="RFC de los invitados.")
    legal_basis: str | None = Field(default=None, description="Fundamento legal (adjudicación).")
    justification: str | None = None
    publication_at: Instant | None = None
    award: AwardTerms | None = Field(
        default=None, description="Condiciones de adjudicación anunciadas en la convocatoria."
    )
    clarification_deadline: Instant
    bid_deadline: Instant
    opening_at: Instant
    fallo_at: Instant


class VersionBody(BaseModel):
    version: int | None = Field(
        default=None, description="Versión leída (control de concurrencia)."
    )


class AmendmentWrite(VersionBody):
    description: str = Field(max_length=4000)
    clarification_deadline: Instant | None = None
    bid_deadline: Instant | None = None
    opening_at: Instant | None = None
    fallo_at: Instant | None = None


class DraftEdit(VersionBody):
    """What a draft may change before it is published; what is not given stays."""

    title: str | None = Field(default=None, max_length=300)
    clarification_deadline: Instant | None = None
    bid_deadline: Instant | None = None
    opening_at: Instant | None = None
    fallo_at: Instant | None = None
    claves: list[Annotated[str, Field(max_length=40)]] | None = Field(
        default=None,
        max_length=20_000,
        description="Las claves que licita el borrador (de su ronda o de sus partidas).",
    )


class CancelBody(VersionBody):
    reason: str = Field(max_length=4000)


class ReasonBody(BaseModel):
    reason: str = Field(max_length=4000)


class QuestionWrite(BaseModel):
    text: str = Field(max_length=4000)
    partida: Id | None = None


class AnswerWrite(BaseModel):
    answer: str = Field(max_length=8000)


@dataclass
class BidLineWrite(rules.BidLineInput):
    """A line of a JSON bid, validated by pydantic into the line the rules check: no copy of
    each line between the two (a bid of a rush has dozens). ``where`` is not read from the
    body: ``BidWrite`` sets it to the line's place."""

    partida: int = Field(description="Número de partida.")
    # Text first: pydantic would parse text into a Decimal whatever its length, and the rules
    # refuse a number's text by its length and exponent before converting it.
    unit_price: str | Decimal = Field(description="Precio unitario en MXN, hasta 2 decimales.")
    quantity: int | str = Field(description="Cantidad ofertada (piezas).")
    presentation: str | None = Field(default=None, max_length=500)
    registro_sanitario: str | None = Field(default=None, max_length=100)
    manufacturer: str | None = Field(default=None, max_length=300)
    country: str | None = Field(default=None, max_length=100)
    where: SkipJsonSchema[Mapping[str, Any]] = Field(default_factory=dict, init=False)


class BidWrite(BaseModel):
    lines: list[BidLineWrite] = Field(max_length=20_000)

    @model_validator(mode="after")
    def _locate(self) -> BidWrite:
        for position, line in enumerate(self.lines):
            line.where = {"field": f"lines[{position}]"}
        return self


class ReceiptRead(BaseModel):
    """Keep it: it proves at the opening that the bid read out is the one sent."""

    bid_id: str
    tender_id: int
    tender_number: str
    received_at: datetime
    commitment: str = Field(description="SHA-256 de (sal ‖ contenido canónico), en hex.")
    salt: str = Field(description="La sal aleatoria (hex); sólo la conoce quien envió.")
    replaces: str | None = None
    ledger_seq: int | None = Field(
        None, description="La entrada «bid.seal» de la bitácora: la hoja ledger_seq − 1."
    )
    ledger_hash: str | None = Field(
        None, description="El hash de esa entrada (los datos de la hoja del árbol Merkle)."
    )
    checkpoint: str | None = Field(
        None,
        description="El último punto de control firmado al recibirla (nota firmada); la prueba "
        "de inclusión está en /api/v1/ledger/proof/{ledger_seq} cuando otro posterior la cubre.",
    )
    warnings: list[ProblemItem] = Field(
        default_factory=list,
        description="Las partidas selladas sin registro sanitario, fabricante o país de origen: "
        "la proposición se selló, pero la evaluación técnica puede desecharlas.",
    )

    @classmethod
    def of(cls, receipt: service.Receipt) -> ReceiptRead:
        return cls(
            bid_id=receipt.bid_id,
            tender_id=receipt.tender_id,
            tender_number=receipt.tender_number,
            received_at=receipt.received_at,
            commitment=receipt.commitment,
            salt=receipt.salt,
            replaces=receipt.replaces,
            ledger_seq=receipt.ledger_seq,
            ledger_hash=receipt.ledger_hash,
            checkpoint=receipt.checkpoint,
            warnings=[ProblemItem.model_validate(w.as_dict()) for w in receipt.warnings],
        )


class TimelineRead(BaseModel):
    publication_at: datetime | None
    published_at: datetime | None
    clarification_deadline: datetime
    bid_deadline: datetime
    opening_at: datetime
    fallo_at: datetime
    opening_started_at: datetime | None
    opened_at: datetime | None


class TenderRead(BaseModel):
    id: int
    number: str
    title: str
    procedure: str
    procedure_label: str
    status: str
    status_label: str
    round: str | None
    legal_basis: str | None
    justification: str | None
    timeline: TimelineRead
    periods: dict[str, int]
    award: dict[str, object] = Field(description="Condiciones de adjudicación anunciadas.")
    cancel_reason: str | None
    attention: str | None = Field(
        description="Por qué el reloj del sistema dejó detenida la licitación, hasta que el "
        "comprador reanude, suspenda o cancele la apertura."
    )
    partidas: int
    bids: int = Field(description="Proposiciones vigentes (selladas o abiertas).")
    version: int

    @classmethod
    def of(cls, tender: Tender, *, partidas: int, bids: int, round_name: str | None) -> TenderRead:
        return cls(
            id=tender.id,
            number=tender.number,
            title=tender.title,
            procedure=tender.procedure,
            procedure_label=rules.procedure(tender.procedure).label,
            status=tender.status,
            status_label=rules.STATUS_LABELS[tender.status],
            round=round_name,
            legal_basis=tender.legal_basis,
            justification=tender.justification,
            timeline=TimelineRead(
                publication_at=tender.publication_at,
                published_at=tender.published_at,
                clarification_deadline=tender.clarification_deadline,
                bid_deadline=tender.bid_deadline,
                opening_at=tender.opening_at,
                fallo_at=tender.fallo_at,
                opening_started_at=tender.opening_started_at,
                opened_at=tender.opened_at,
            ),
            periods=rules.periods_of(tender.params).as_dict(),
            award=dict(tender.params.get("award") or {}),
            cancel_reason=tender.cancel_reason,
            attention=tender.attention if tender.attention_at else None,
            partidas=partidas,
            bids=bids,
            version=tender.version,
        )


class TenderListRead(BaseModel):
    items: list[TenderRead]
    total: int
    page: int
    per_page: int


class DemandRead(BaseModel):
    institution: str
    min_qty: int
    max_qty: int


class PartidaRead(BaseModel):
    number: int
    clave: str
    description: str
    unit: str | None
    min_qty: int
    max_qty: int
    desierta: bool
    desierta_reason: str | None
    demands: list[DemandRead]

    @classmethod
    def of(cls, partida: Partida, codes: dict[int, str]) -> PartidaRead:
        return cls(
            number=partida.number,
            clave=partida.clave.clave,
            description=partida.clave.description,
            unit=partida.clave.unit,
            min_qty=partida.min_qty,
            max_qty=partida.max_qty,
            desierta=partida.desierta_at is not None,
            desierta_reason=partida.desierta_reason,
            demands=[
                DemandRead(
                    institution=codes[d.institution_id], min_qty=d.min_qty, max_qty=d.max_qty
                )
                for d in partida.demands
            ],
        )


class QuestionRead(BaseModel):
    """A clarification question as published: without who asked it."""

    number: int
    partida: int | None
    text: str
    asked_at: datetime
    answer: str | None
    answered_at: datetime | None

    @classmethod
    def of(cls, question: Question) -> QuestionRead:
        return cls(
            number=question.number,
            partida=question.partida_number,
            text=question.text,
            asked_at=question.asked_at,
            answer=question.answer,
            answered_at=question.answered_at,
        )


class AmendmentRead(BaseModel):
    number: int
    at: datetime
    description: str
    changes: dict[str, list[str]]

    @classmethod
    def of(cls, amendment: Amendment) -> AmendmentRead:
        return cls(
            number=amendment.number,
            at=amendment.at,
            description=amendment.description,
            changes=amendment.changes,
        )


class OpenedLineRead(BaseModel):
    partida: int
    unit_price: Decimal
    quantity: int
    presentation: str | None
    registro_sanitario: str | None
    manufacturer: str | None
    country: str | None


class BidderRead(BaseModel):
    rfc: str
    razon_social: str


class BidRead(BaseModel):
    """A bid as anyone may see it: bidder, check and lines only once opened."""

    id: str
    received_at: datetime
    commitment: str
    status: str
    check: str | None = None
    check_detail: str | None = None
    bidder: BidderRead | None = None
    lines: list[OpenedLineRead] = Field(default_factory=list)

    @classmethod
    def of(cls, bid: service.PublicBid) -> BidRead:
        return cls(
            id=bid.id,
            received_at=bid.submitted_at,
            commitment=bid.commitment,
            status=bid.status,
            check=bid.check,
            check_detail=bid.check_detail,
            bidder=(
                BidderRead(rfc=bid.supplier.rfc, razon_social=bid.supplier.razon_social)
                if bid.supplier
                else None
            ),
            lines=[
                OpenedLineRead(
                    partida=line.partida_number,
                    unit_price=line.unit_price,
                    quantity=line.quantity,
                    presentation=line.presentation,
                    registro_sanitario=line.registro_sanitario,
                    manufacturer=line.manufacturer,
                    country=line.country,
                )
                for line in bid.lines
            ],
        )


class OwnBidRead(BaseModel):
    """The supplier's own bid, for its eyes only."""

    receipt: ReceiptRead
    status: str
    lines: list[OpenedLineRead]

    @classmethod
    def of(cls, own: service.OwnBid) -> OwnBidRead:
        return cls(
            receipt=ReceiptRead.of(own.receipt),
            status=own.bid.status,
            lines=[OpenedLineRead.model_validate(line) for line in own.lines],
        )
