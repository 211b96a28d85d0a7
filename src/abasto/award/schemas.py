"""Request and response shapes of the evaluation and award API."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from abasto.award import service
from abasto.award.models import ContractDraft, Fallo, FalloOutcome, FalloPartida
from abasto.core.bounds import Id


class PriceImportRead(BaseModel):
    import_id: str
    kind: str
    prices: int
    claves: int
    unknown_claves: int
    unmatched_items: int
    releases: int

    @classmethod
    def of(cls, summary: service.PriceImportSummary) -> PriceImportRead:
        return cls(
            import_id=summary.import_id,
            kind=summary.kind,
            prices=summary.prices,
            claves=summary.claves,
            unknown_claves=summary.unknown_claves,
            unmatched_items=summary.unmatched_items,
            releases=summary.releases,
        )


class SourceRead(BaseModel):
    kind: str
    source: str
    source_ref: str
    unit_price: Decimal
    original_price: Decimal
    currency: str


class ReferenceRead(BaseModel):
    clave: str
    price: Decimal
    method: str
    sources: list[SourceRead]

    @classmethod
    def of(cls, reference: service.Reference) -> ReferenceRead:
        return cls(
            clave=reference.clave,
            price=reference.price,
            method=reference.method,
            sources=[
                SourceRead(
                    kind=s.kind,
                    source=s.source,
                    source_ref=s.source_ref,
                    unit_price=s.unit_price,
                    original_price=s.original_price,
                    currency=s.currency,
                )
                for s in reference.sources
            ],
        )


class VerdictWrite(BaseModel):
    bid_id: str = Field(max_length=32)
    partida: Id
    requirement: str = Field(description=f"Uno de: {', '.join(service.REQUIREMENTS)}.")
    complies: bool
    reason: str = Field(max_length=2000)

    def verdict(self) -> service.Verdict:
        return service.Verdict(
            self.bid_id, self.partida, self.requirement, self.complies, self.reason
        )


class EvaluationStatusRead(BaseModel):
    evaluated_lines: int
    lines: int


class EvaluationRecordRead(EvaluationStatusRead):
    """The status after a recording, and what it did: first verdicts, recorded ones changed
    (only with ``confirm=true``), and those sent again as recorded."""

    new: int
    changed: int
    unchanged: int


class FalloRunWrite(BaseModel):
    mode: str = Field(default="optimal", description="lowest, split u optimal.")


class FalloPartidaRead(BaseModel):
    partida: int
    status: str
    demand: int
    awarded: int
    reference_price: Decimal | None
    reason: str | None

    @classmethod
    def of(cls, row: FalloPartida) -> FalloPartidaRead:
        return cls(
            partida=row.partida_number,
            status=row.status,
            demand=row.demand,
            awarded=row.awarded,
            reference_price=row.reference_price,
            reason=row.reason,
        )


class WinnerRead(BaseModel):
    partida: int
    bid_id: str
    supplier_rfc: str
    quantity: int
    unit_price: Decimal
    total: Decimal


class OutcomeRead(BaseModel):
    bid_id: str
    partida: int
    outcome: str
    reasons: list[str]
    awarded: int

    @classmethod
    def of(cls, row: FalloOutcome) -> OutcomeRead:
        return cls(
            bid_id=row.bid_id,
            partida=row.partida_number,
            outcome=row.outcome,
            reasons=row.reasons,
            awarded=row.awarded,
        )


class FalloRead(BaseModel):
    tender_id: int
    mode: str
    status: str
    issued_at: datetime
    total: Decimal
    reference_total: Decimal
    savings_vs_reference: Decimal
    baseline_total: Decimal
    gap: float | None
    parameters: dict[str, object]
    ledger_seq: int
    partidas: list[FalloPartidaRead]
    winners: list[WinnerRead]
    outcomes: list[OutcomeRead]


class DraftRead(BaseModel):
    partida_id: int
    institution: str
    supplier_rfc: str
    min_qty: int
    max_qty: int
    unit_price: Decimal

    @classmethod
    def of(
        cls, row: ContractDraft, institutions: dict[int, str], rfcs: dict[int, str]
    ) -> DraftRead:
        return cls(
            partida_id=row.partida_id,
            institution=institutions[row.institution_id],
            supplier_rfc=rfcs[row.supplier_id],
            min_qty=row.min_qty,
            max_qty=row.max_qty,
            unit_price=row.unit_price,
        )


def fallo_summary(fallo: Fallo) -> dict[str, object]:
    return {
        "tender_id": fallo.tender_id,
        "mode": fallo.mode,
        "status": fallo.status,
        "issued_at": fallo.issued_at,
        "total": fallo.total,
        "reference_total": fallo.reference_total,
        "savings_vs_reference": fallo.reference_total - fallo.total,
        "baseline_total": fallo.baseline_total,
        "gap": fallo.gap,
        "parameters": fallo.parameters,
        "ledger_seq": fallo.ledger_seq,
    }


class SupplierShareRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    rfc: str
    name: str
    units: int
    value: Decimal
    share: Decimal = Field(description="Of the total awarded value (0.4 = 40 %).")
    partidas: int
    contracts: int = Field(description="Institution × supplier contracts its drafts make.")


class AllocationRead(BaseModel):
    partida: int
    bid_id: str
    supplier_rfc: str
    quantity: int
    explanation: str


class ModePreviewRead(BaseModel):
    mode: str
    status: str
    total: Decimal
    reference_total: Decimal
    savings_vs_reference: Decimal
    desiertas: list[int] = Field(description="Partidas (partly) desiertas.")
    contracts: int
    suppliers: list[SupplierShareRead]
    allocations: list[AllocationRead]

    @classmethod
    def of(cls, preview: service.ModePreview) -> ModePreviewRead:
        return cls(
            mode=preview.mode.value,
            status=preview.result.status,
            total=preview.total,
            reference_total=preview.reference_total,
            savings_vs_reference=preview.savings,
            desiertas=[p.number for p in preview.desiertas],
            contracts=preview.contracts,
            suppliers=[SupplierShareRead.model_validate(s) for s in preview.suppliers],
            allocations=[
                AllocationRead(
                    partida=p.number,
                    bid_id=w.bid_id,
                    supplier_rfc=w.supplier,
                    quantity=w.quantity,
                    explanation=preview.explanations[(p.number, w.bid_id)],
                )
                for p in preview.result.partidas
                for w in p.winners
            ],
        )


class DifferenceRead(BaseModel):
    partida: int
    clave: str
    by_mode: dict[str, list[tuple[str, int]]] = Field(
        description="Per mode: (supplier RFC, quantity) of each winner."
    )


class FalloPreviewRead(BaseModel):
    tender_id: int
    modes: list[ModePreviewRead]
    differences: list[DifferenceRead]
