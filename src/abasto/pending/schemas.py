"""Response shapes of «Mis pendientes» in the API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from abasto.pending import service


class TaskRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str = Field(description="Qué clase de pendiente es (la de su sección).")
    title: str
    detail: str = Field(description="Cuántos, cuáles y para cuándo, en español.")
    url: str = Field(description="La página donde se atiende.")
    due: datetime | None = Field(description="Para cuándo, si tiene plazo.")
    overdue: bool = Field(description="Si el plazo ya pasó.")


class SectionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    title: str
    tasks: list[TaskRead]


class PendingRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    role: str
    total: int
    sections: list[SectionRead]

    @classmethod
    def of(cls, pending: service.Pending) -> PendingRead:
        return cls.model_validate(pending)
