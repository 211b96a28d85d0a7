"""Request and response shapes of the catalog's API."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel

from abasto.catalog.models import Clave, Homologation
from abasto.catalog.rules import Category, group_of
from abasto.catalog.service import ClaveDetail, HomologationSummary, ImportSummary
from abasto.core.errors import Problem


class ClaveRead(BaseModel):
    clave: str
    description: str
    unit: str | None
    presentation: str | None
    group: str
    group_label: str
    category: str
    category_label: str
    iva_rate: Decimal
    cucop: int | None
    version: int
    updated_at: datetime

    @classmethod
    def of(cls, clave: Clave) -> ClaveRead:
        return cls(
            clave=clave.clave,
            description=clave.description,
            unit=clave.unit,
            presentation=clave.presentation,
            group=clave.group,
            group_label=group_of(clave.group).label,
            category=clave.category,
            category_label=Category(clave.category).label,
            iva_rate=clave.iva_rate.normalize(),
            cucop=clave.cucop,
            version=clave.version,
            updated_at=clave.updated_at,
        )


class InstitutionCodeRead(BaseModel):
    """An institution's own code for a clave."""

    institution: str
    institution_name: str
    code: str


class ClaveDetailRead(ClaveRead):
    homologations: list[InstitutionCodeRead]

    @classmethod
    def of_detail(cls, detail: ClaveDetail) -> ClaveDetailRead:
        return cls(
            **ClaveRead.of(detail.clave).model_dump(),
            homologations=[
                InstitutionCodeRead(
                    institution=h.institution.code,
                    institution_name=h.institution.name,
                    code=h.institution_code,
                )
                for h in detail.homologations
            ],
        )


class ClavePage(BaseModel):
    items: list[ClaveRead]
    total: int
    page: int
    per_page: int


class ProblemRead(BaseModel):
    """A located problem, as in problem details' ``errors``."""

    message: str
    where: str | None = None
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    value: str | None = None
    expected: str | None = None

    @classmethod
    def of(cls, problem: Problem) -> ProblemRead:
        return cls(
            message=problem.message,
            where=problem.where or None,
            sheet=problem.sheet,
            row=problem.row,
            column=problem.column,
            value=problem.value,
            expected=problem.expected,
        )


class ImportSummaryRead(BaseModel):
    filename: str
    sha256: str
    new: int
    updated: int
    unchanged: int
    total: int
    warnings: list[ProblemRead]

    @classmethod
    def of(cls, summary: ImportSummary) -> ImportSummaryRead:
        return cls(
            filename=summary.filename,
            sha256=summary.sha256,
            new=summary.new,
            updated=summary.updated,
            unchanged=summary.unchanged,
            total=summary.total,
            warnings=[ProblemRead.of(w) for w in summary.warnings],
        )


class HomologationRead(BaseModel):
    code: str
    clave: str
    description: str

    @classmethod
    def of(cls, homologation: Homologation) -> HomologationRead:
        return cls(
            code=homologation.institution_code,
            clave=homologation.clave.clave,
            description=homologation.clave.description,
        )


class HomologationPage(BaseModel):
    institution: str
    institution_name: str
    items: list[HomologationRead]
    total: int
    page: int
    per_page: int


class HomologationSummaryRead(BaseModel):
    institution: str
    filename: str
    sha256: str
    new: int
    updated: int
    unchanged: int
    total: int

    @classmethod
    def of(cls, summary: HomologationSummary) -> HomologationSummaryRead:
        return cls(
            institution=summary.institution,
            filename=summary.filename,
            sha256=summary.sha256,
            new=summary.new,
            updated=summary.updated,
            unchanged=summary.unchanged,
            total=summary.total,
        )
