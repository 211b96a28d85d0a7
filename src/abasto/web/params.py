"""Path and query parameters the API shares, each bounded so a request cannot carry a value the
database or the date arithmetic would fail on (see ``core.bounds``); declared in the OpenAPI.

A new route names a row by ``TenderId`` (or another ``Annotated`` of ``bounds.Id``) and pages with
``Page`` and ``PerPage``; ``tests/web/test_params.py`` refuses an integer or date parameter
without bounds.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Path, Query

from abasto.core.bounds import FIRST_DAY, INT_MAX, LAST_DAY, Day
from abasto.core.errors import Problem, ValidationFailed

MAX_PER_PAGE = 500
PER_PAGE = 50

Page = Annotated[int, Query(ge=1, le=INT_MAX, description="Página, desde 1.")]
PerPage = Annotated[int, Query(ge=1, le=MAX_PER_PAGE, description="Resultados por página.")]
TenderId = Annotated[int, Path(ge=1, le=INT_MAX, description="Id de la licitación.")]
RenameId = Annotated[int, Path(ge=1, le=INT_MAX, description="Id de la solicitud de cambio.")]
Number = Annotated[int, Path(ge=1, le=INT_MAX, description="Número dentro de la licitación.")]
ObservationId = Annotated[int, Path(ge=1, le=INT_MAX, description="Número de la observación.")]
"""A partida's or a question's number."""
DayQuery = Annotated[Day | None, Query(description="Fecha (aaaa-mm-dd).")]


def query_day(value: str, *, field: str, label: str, problems: list[Problem]) -> date | None:
    """A page's optional date field (``aaaa-mm-dd``; empty is none): a value that is not a date
    in range adds a problem for the page to show, and counts as none."""
    text = value.strip()
    if not text:
        return None
    try:
        found = date.fromisoformat(text)
    except ValueError:
        found = None
    if found is None or not FIRST_DAY <= found <= LAST_DAY:
        problems.append(
            Problem(
                f"La fecha «{label}» no es válida",
                field=field,
                value=value,
                expected=f"una fecha aaaa-mm-dd entre {FIRST_DAY:%Y} y {LAST_DAY:%Y}, "
                "p. ej. 2026-11-20",
            )
        )
        return None
    return found


CONFIRMED = "si"
"""The value of an irreversible action's ``confirmar`` checkbox when the user ticked it."""


def require_confirmation(value: str, *, refusal: str, label: str) -> None:
    """Refuse an irreversible action (publish, freeze, withdraw, issue) whose form came without
    its ``confirmar`` checkbox ticked (``label`` is the checkbox's text).

    The browser requires the checkbox; this is for a request that does not come from the form,
    which then changes nothing."""
    if value == CONFIRMED:
        return
    raise ValidationFailed(
        refusal,
        problems=[
            Problem("Falta la confirmación", field="confirmar", expected=f"marcar «{label}»")
        ],
    )
