"""Rules of the Compendio's claves: their two forms, their groups, categories and IVA rates."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from abasto.core.errors import Problem

IVA_ZERO = Decimal("0")
IVA_GENERAL = Decimal("0.16")
"""The general rate (Ley del IVA, art. 1). 0 % is the exception of art. 2-A, I, b): medicinas de
patente and food, which covers the Compendio's medicine groups (nutrition formulas included)."""

CLAVE_EXPECTED = (
    "una clave del Compendio con la forma GGG.GGG.EEEE.VV para medicamentos"
    " (p. ej. 010.000.0104.00) o GGG.GGG.EEEE para los demás insumos (p. ej. 060.066.0021)"
)

_CLAVE = re.compile(r"(\d{3})\.(\d{3})\.(\d{4})(?:\.(\d{2}))?")


class Category(StrEnum):
    """The families a consolidated purchase reports by (medicines, material de curación, …)."""

    MEDICINE = "medicine"
    VACCINE = "vaccine"
    MEDICAL_SUPPLY = "medical_supply"
    RADIOLOGY = "radiology"
    LABORATORY = "laboratory"
    OTHER = "other"

    @property
    def label(self) -> str:
        """The Spanish name shown to users."""
        return _CATEGORY_LABELS[self]


_CATEGORY_LABELS = {
    Category.MEDICINE: "Medicamentos",
    Category.VACCINE: "Vacunas y biológicos",
    Category.MEDICAL_SUPPLY: "Material de curación",
    Category.RADIOLOGY: "Material de radiología",
    Category.LABORATORY: "Auxiliares de diagnóstico (laboratorio)",
    Category.OTHER: "Otros insumos",
}


@dataclass(frozen=True, slots=True)
class Group:
    """A group of the Compendio: the first three digits of a clave."""

    code: str
    label: str
    category: Category
    iva_rate: Decimal

    @property
    def is_medicine(self) -> bool:
        """Medicine groups carry the variant ``.VV`` (the presentation) in their claves."""
        return self.category in (Category.MEDICINE, Category.VACCINE)


GROUPS: dict[str, Group] = {
    group.code: group
    for group in (
        Group("010", "Medicamentos", Category.MEDICINE, IVA_ZERO),
        Group("020", "Vacunas y biológicos", Category.VACCINE, IVA_ZERO),
        Group("030", "Nutriología", Category.MEDICINE, IVA_ZERO),
        Group("040", "Psicotrópicos y estupefacientes", Category.MEDICINE, IVA_ZERO),
        Group("060", "Material de curación", Category.MEDICAL_SUPPLY, IVA_GENERAL),
        Group("070", "Material de radiología", Category.RADIOLOGY, IVA_GENERAL),
        Group("080", "Auxiliares de diagnóstico (laboratorio)", Category.LABORATORY, IVA_GENERAL),
    )
}


def group_of(code: str) -> Group:
    """The group with this three-digit code.

    Groups not listed (instrumental and equipment such as 513 or 531, orthopaedics 130, …) are
    goods under the general rate: 0 % applies only to what the law lists, and budgeting with
    16 % never understates a cost.
    """
    known = GROUPS.get(code)
    if known is not None:
        return known
    return Group(code, f"Otros insumos (grupo {code})", Category.OTHER, IVA_GENERAL)


class ClaveError(ValueError):
    """A value that is not a clave; ``message`` is in Spanish and says what is wrong."""

    def __init__(self, message: str, value: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.value = value
        self.expected = CLAVE_EXPECTED

    def problem(
        self, *, sheet: str | None = None, row: int | None = None, column: str | None = None
    ) -> Problem:
        """This error located in a file."""
        return Problem(
            message=self.message,
            sheet=sheet,
            row=row,
            column=column,
            value=self.value,
            expected=self.expected,
        )


@dataclass(frozen=True, slots=True, order=True)
class Clave:
    """A clave of the Compendio in its canonical form, e.g. ``010.000.0104.00``."""

    code: str

    def __post_init__(self) -> None:
        match = _CLAVE.fullmatch(self.code)
        if match is None:
            raise ClaveError("la clave no tiene la forma del Compendio", self.code)
        group = group_of(match[1])
        if match[4] is None and group.is_medicine:
            raise ClaveError(
                f"a la clave del grupo {group.code} ({group.label}) le falta la variante:"
                " los dos dígitos finales .VV",
                self.code,
            )

    def __str__(self) -> str:
        return self.code

    @property
    def group(self) -> str:
        """The first three digits: ``010`` for medicines, ``060`` material de curación, …"""
        return self.code[:3]

    @property
    def generic(self) -> str:
        """The clave without its variant: ``010.000.0104`` (the same substance and form)."""
        return self.code[:12]

    @property
    def variant(self) -> str | None:
        """The presentation variant of a medicine (``00``, ``01``, …); None for other insumos."""
        return self.code[13:] or None

    @property
    def group_info(self) -> Group:
        return group_of(self.group)

    @property
    def category(self) -> Category:
        return self.group_info.category

    @property
    def iva_rate(self) -> Decimal:
        return self.group_info.iva_rate


def parse_clave(value: object) -> Clave:
    """The clave in a cell or a field, spaces removed; raises ``ClaveError`` saying why not.

    A number is refused: Excel turns ``010.000.0104.00`` typed into a numeric cell into
    something else (leading zeros and dots lost), so the clave it held cannot be known.
    """
    if isinstance(value, bool) or value is None:
        raise ClaveError("falta la clave", None if value is None else str(value))
    if isinstance(value, int | float | Decimal):
        shown = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
        raise ClaveError(
            "la clave está capturada como número y Excel le quitó los ceros a la izquierda"
            " o los puntos; captúrela como texto",
            shown,
        )
    if not isinstance(value, str):
        raise ClaveError("la clave no tiene la forma del Compendio", str(value))
    code = "".join(value.split())
    if not code:
        raise ClaveError("falta la clave", value)
    return Clave(code)


def suggest_clave(unknown: str, known: Iterable[Clave | str], *, cutoff: float = 0.8) -> str | None:
    """The existing clave closest to an unknown one (a typo, a dropped digit), or None.

    Digits alone are compared so that a missing or extra dot does not hide the likeness.
    """
    by_digits: dict[str, str] = {}
    for clave in known:
        code = str(clave)
        by_digits.setdefault(_digits(code), code)
    target = _digits(unknown)
    if not target:
        return None
    close = difflib.get_close_matches(target, list(by_digits), n=1, cutoff=cutoff)
    return by_digits[close[0]] if close else None


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())
