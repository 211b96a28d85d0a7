"""Path and query parameters the API shares, each bounded so a request cannot carry a value the
database or the date arithmetic would fail on (see ``core.bounds``); declared in the OpenAPI.

A new route names a row by ``TenderId`` (or another ``Annotated`` of ``bounds.Id``) and pages with
``Page`` and ``PerPage``; ``tests/web/test_params.py`` refuses an integer or date parameter
without bounds.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from abasto.core.bounds import INT_MAX, Day

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
