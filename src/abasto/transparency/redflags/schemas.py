"""Shapes of red flags in the API: a flag with its explanation, a page of them, an indicator."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from abasto.transparency.redflags.indicators import INDICATORS, Indicator
from abasto.transparency.redflags.models import RedFlag


class RedFlagRead(BaseModel):
    code: str
    title: str
    kind: str
    subject: str
    tender_id: int | None
    tender_number: str | None
    partida_number: int | None
    supplier_rfc: str | None
    institution_code: str | None
    clave: str | None
    value: float
    threshold: float | None
    explanation: str
    place: str | None
    evidence: dict[str, Any]
    """The numbers and the ids of the bids, awards or contracts the flag came from."""

    @classmethod
    def of(cls, flag: RedFlag) -> RedFlagRead:
        return cls(
            code=flag.code,
            title=INDICATORS[flag.code].title,
            kind=flag.kind,
            subject=flag.subject,
            tender_id=flag.tender_id,
            tender_number=flag.tender_number,
            partida_number=flag.partida_number,
            supplier_rfc=flag.supplier_rfc,
            institution_code=flag.institution_code,
            clave=flag.clave,
            value=flag.value,
            threshold=flag.threshold,
            explanation=flag.explanation,
            place=flag.detail.get("place"),
            evidence=flag.detail.get("evidence", {}),
        )


class RedFlagPage(BaseModel):
    items: list[RedFlagRead]
    total: int
    page: int
    per_page: int
    counts: dict[str, int]
    """Flags per indicator under the same filters (the code filter aside)."""


class IndicatorRead(BaseModel):
    code: str
    title: str
    definition: str
    threshold: str
    source: str
    cardinal: bool

    @classmethod
    def of(cls, indicator: Indicator) -> IndicatorRead:
        return cls(
            code=indicator.code,
            title=indicator.title,
            definition=indicator.definition,
            threshold=indicator.threshold,
            source=indicator.source,
            cardinal=indicator.cardinal,
        )
