"""Request and response shapes of the contracts API, read from the service's objects."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from abasto.contracts.models import SupplyOrder
from abasto.core.bounds import Count, Day, Id

Text = Field(max_length=300)


class Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class LineRead(Read):
    clave: str
    description: str
    min_qty: int
    max_qty: int
    original_max_qty: int
    unit_price: Decimal


class ContractRead(Read):
    id: int
    number: str
    tender_id: int
    institution_id: int
    supplier_id: int
    status: str
    signing_deadline: date
    starts_on: date
    ends_on: date
    original_amount: Decimal
    max_amount: Decimal
    guarantee_amount: Decimal
    guarantee_issuer: str | None
    guarantee_document: str | None
    guarantee_exempt_reason: str | None
    document_sha256: str | None
    institution_signed_at: datetime | None
    institution_signed_by: str | None
    supplier_signed_at: datetime | None
    supplier_signed_by: str | None
    signed_late: bool
    penalties_at_cap: bool
    version: int
    lines: list[LineRead]


class ContractsWrite(BaseModel):
    starts_on: Day | None = Field(default=None, description="Inicio de la vigencia.")
    ends_on: Day | None = Field(default=None, description="Fin de la vigencia.")


class SignatureWrite(BaseModel):
    party: Literal["institucion", "proveedor"]
    version: Id | None = None


class GuaranteeWrite(BaseModel):
    issuer: str = Text
    document: str = Text


class ExemptionWrite(BaseModel):
    """A reason: for a guarantee's exemption, or for closing an order short."""

    reason: str = Field(max_length=2000)


class ConvenioWrite(BaseModel):
    reason: str = Field(max_length=2000)
    max_qty: dict[str, Count] = Field(default_factory=dict, max_length=5000)
    ends_on: Day | None = None


class ConvenioRead(Read):
    number: int
    reason: str
    changes: dict[str, object]
    amount_before: Decimal
    amount_after: Decimal
    at: datetime


class OrderWrite(BaseModel):
    clave: str = Field(max_length=20)
    quantity: Id
    unit: str = Field(max_length=60, description="Clave de la unidad (punto de entrega).")
    due_on: Day | None = None


class OrderRead(Read):
    id: int
    contract_id: int
    number: int
    quantity: int
    unit_price: Decimal
    status: str
    issued_at: datetime
    due_on: date
    confirmed_at: datetime | None
    accepted_qty: int
    on_time_qty: int
    rejected_qty: int
    penalty: Decimal
    deductiva: Decimal
    clave: str
    unit: str

    @classmethod
    def of(cls, order: SupplyOrder) -> OrderRead:
        return cls.model_validate(
            {
                **{k: getattr(order, k) for k in cls.model_fields if hasattr(order, k)},
                "clave": order.line.clave,
                "unit": order.unit.code,
            }
        )


class LotWrite(BaseModel):
    lot: str = Field(max_length=60)
    expiry: Day
    quantity: Id
    registro_sanitario: str = Field(max_length=100)


class ShipmentWrite(BaseModel):
    lots: list[LotWrite] = Field(max_length=200)


class LotReceiptWrite(BaseModel):
    lot: str = Field(max_length=60)
    accepted: Count
    rejected: Count = 0
    reason: str | None = Field(default=None, max_length=40)
    note: str | None = Field(default=None, max_length=2000)


class ReceiptWrite(BaseModel):
    lots: list[LotReceiptWrite] = Field(max_length=200)


class LotRead(Read):
    lot: str
    expiry: date
    quantity: int
    registro_sanitario: str
    accepted_qty: int | None
    rejected_qty: int | None
    reason: str | None


class ShipmentRead(Read):
    id: int
    order_id: int
    number: int
    status: str
    shipped_at: datetime
    received_at: datetime | None
    receipt_sha256: str | None
    lots: list[LotRead]


class PenaltyRead(Read):
    order_id: int
    kind: str
    base_value: Decimal
    days_late: int
    rate: Decimal
    computed: Decimal
    amount: Decimal
    at: datetime


class OrdersLoadedRead(BaseModel):
    """What an orders file loaded (``service.BulkLoaded``)."""

    model_config = ConfigDict(from_attributes=True)

    contracts: int
    orders: int
    shipments: int
    lots: int
    penalties: int


class FillRateRead(BaseModel):
    key: dict[str, str]
    ordered_due: int
    on_time_accepted: int
    rate: Decimal | None
