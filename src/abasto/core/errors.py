"""Domain errors that carry their HTTP status and say what, where and what was expected.

Messages are in Spanish because they reach users (API clients, pages, the CLI); the one handler
in ``abasto.web.errors`` renders them as RFC 9457 problem details or as a page.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Problem:
    """One located problem in user input: a cell of a spreadsheet, a field of a request body."""

    message: str
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    field: str | None = None
    value: str | None = None
    expected: str | None = None

    @property
    def where(self) -> str:
        parts = []
        if self.sheet is not None:
            parts.append(f"hoja «{self.sheet}»")
        if self.row is not None:
            parts.append(f"fila {self.row}")
        if self.column is not None:
            parts.append(f"columna «{self.column}»")
        if self.field is not None:
            parts.append(f"campo «{self.field}»")
        return ", ".join(parts)

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.value is not None:
            text += f" (valor: «{self.value}»)"
        if self.expected is not None:
            text += f"; se esperaba: {self.expected}"
        return text

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if v is not None}
        if self.where:
            data["where"] = self.where
        return data


class AbastoError(Exception):
    """Base of every error a user can cause; it changes nothing and says how to fix it."""

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Solicitud no válida"

    def __init__(
        self,
        detail: str,
        *,
        problems: Iterable[Problem] = (),
        expected: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.problems: Sequence[Problem] = tuple(problems)
        self.expected = expected

    def __str__(self) -> str:
        lines = [self.detail]
        if self.expected:
            lines[0] += f"; se esperaba: {self.expected}"
        lines.extend(f"  - {p}" for p in self.problems)
        return "\n".join(lines)


class ValidationFailed(AbastoError):
    """Input that breaks a rule; ``problems`` lists every one found, not only the first."""

    status = 422
    title = "Datos no válidos"


class NotFound(AbastoError):
    status = 404
    title = "No encontrado"


class Conflict(AbastoError):
    """A write refused because the thing changed meanwhile or already exists."""

    status = 409
    title = "Conflicto"


class Unauthorized(AbastoError):
    status = 401
    title = "Se requiere iniciar sesión"


class Forbidden(AbastoError):
    status = 403
    title = "Acceso denegado"


class PayloadTooLarge(AbastoError):
    status = 413
    title = "Contenido demasiado grande"


class TooManyRequests(AbastoError):
    """Refused for now, not for good: ``retry_after`` seconds from now it may be tried again
    (too many failed sign-ins, or the same user's upload still being read)."""

    status = 429
    title = "Demasiadas solicitudes"

    def __init__(self, detail: str, *, retry_after: int, expected: str | None = None) -> None:
        super().__init__(detail, expected=expected)
        self.retry_after = retry_after


class Busy(TooManyRequests):
    """Refused for now because the database rolled the work back (a deadlock, a lock not had in
    time): nothing was written, and the same request shortly after may go through."""

    status = 503
    title = "Servicio ocupado"


class SchemaBehind(Exception):
    """The database schema is older than the code; the fix is ``abasto db upgrade``."""


def check_version(subject: str, sent: int | None, current: int) -> None:
    """Refuse a write made from a stale read (optimistic concurrency): ``subject`` is what
    changed, as a person names it («La ronda «2027-2028»»); no version sent means no check."""
    if sent is not None and sent != current:
        raise Conflict(
            f"{subject} cambió después de que usted la leyó; no se guardó nada.",
            problems=[
                Problem(
                    "La versión enviada ya no es la vigente.",
                    field="version",
                    value=str(sent),
                    expected=f"la versión vigente, {current}",
                )
            ],
        )
