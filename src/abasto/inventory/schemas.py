"""Request and response shapes of the inventory API (built from service objects, not by hand)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from abasto.core.bounds import Day, Id
from abasto.inventory.rules import MAX_LOT_CHARS
from abasto.inventory.service import MAX_LINES, REASON_MAX


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class IssueLineWrite(BaseModel):
    clave: str = Field(max_length=20, description="Clave del Compendio.")
    quantity: int = Field(ge=1, le=2_147_483_647, description="Piezas dispensadas.")
    lot: str | None = Field(
        default=None, max_length=MAX_LOT_CHARS, description="Lote; omitido: el que caduca primero."
    )


class DispensingWrite(BaseModel):
    day: Day | None = Field(default=None, description="Día de la dispensación; omitido: hoy.")
    lines: list[IssueLineWrite] = Field(min_length=1, max_length=MAX_LINES)


class ReceiptLineWrite(BaseModel):
    clave: str = Field(max_length=20)
    lot: str = Field(min_length=1, max_length=MAX_LOT_CHARS)
    expiry: Day
    quantity: int = Field(ge=1, le=2_147_483_647)


class ReceiptWrite(BaseModel):
    source: str | None = Field(
        default=None,
        max_length=120,
        description="Lo que se recibe, p. ej. receipt:123 (una recepción de entrega aceptada);"
        " el mismo origen no se registra dos veces.",
    )
    initial: bool = Field(default=False, description="Inventario inicial en vez de recepción.")
    day: Day | None = None
    lines: list[ReceiptLineWrite] = Field(min_length=1, max_length=MAX_LINES)


class CountedWrite(BaseModel):
    lot: str = Field(min_length=1, max_length=MAX_LOT_CHARS)
    expiry: Day
    quantity: int = Field(ge=0, le=2_147_483_647)


class CountWrite(BaseModel):
    clave: str = Field(max_length=20)
    lots: list[CountedWrite] = Field(max_length=MAX_LINES, description="Lo que hay en el anaquel.")


class AdjustmentWrite(BaseModel):
    clave: str = Field(max_length=20)
    lot: str = Field(min_length=1, max_length=MAX_LOT_CHARS)
    expiry: Day
    quantity: int = Field(ge=-2_147_483_647, le=2_147_483_647, description="Con signo.")
    reason: str = Field(min_length=1, max_length=REASON_MAX)


class MovementRead(_Read):
    clave: str
    lot: str
    expiry: date
    kind: str
    quantity: int


class PostedRead(BaseModel):
    movements: list[MovementRead]


class LotRead(_Read):
    lot: str
    expiry: date
    quantity: int


class ClaveStockRead(_Read):
    clave: str
    description: str
    on_hand: int
    lots: list[LotRead]


class UploadRead(_Read):
    filename: str
    sha256: str
    layout: str
    rows: int
    movements: int
    claves: int
    days: int


class TransferWrite(BaseModel):
    from_institution: str = Field(max_length=40)
    from_unit: str = Field(max_length=60)
    to_institution: str = Field(max_length=40)
    to_unit: str = Field(max_length=60)
    clave: str = Field(max_length=20)
    quantity: int = Field(ge=1, le=2_147_483_647)
    lot: str | None = Field(default=None, max_length=MAX_LOT_CHARS)


class VersionBody(BaseModel):
    version: Id | None = None


class TransferRead(BaseModel):
    id: int
    clave: str
    from_unit: str
    to_unit: str
    quantity: int
    lot: str | None
    lots: list[LotRead] | None
    status: str
    origin: str
    cost: Decimal | None
    version: int


class AbastoRead(BaseModel):
    scope: str
    key: str
    day: date
    listed: int
    with_stock: int
    at_minimum: int
    share: Decimal | None
    share_at_minimum: Decimal | None
    below_min: int
    above_max: int
    expiring: int


class SnapshotRead(_Read):
    day: date
    rows: int
    units: int
    stockouts: int


class RedistributionWrite(BaseModel):
    clave: str = Field(max_length=20)


class RedistributionRead(BaseModel):
    clave: str
    transfers: list[TransferRead]
    moved: int
    cost: int


class IndicatorRead(BaseModel):
    clave: str
    day: date
    on_hand: int
    amc: Decimal | None = Field(description="Consumo promedio mensual ajustado por desabasto.")
    months: Decimal | None = Field(description="Meses de existencia.")
    stockout_days: int = Field(description="Días sin existencia de los últimos 90.")
    expiring: int = Field(description="Piezas que caducan en 90 días o menos.")
    expired: int
    level: str = Field(description="stockout, below_min, ok, above_max o unknown.")
