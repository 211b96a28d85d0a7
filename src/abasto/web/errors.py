"""One place that turns errors into RFC 9457 problem details (API) or Spanish pages (HTML)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from abasto.core.db import error_kind, transient
from abasto.core.errors import AbastoError, Busy, Problem, TooManyRequests, Unauthorized
from abasto.web import fields
from abasto.web.templating import render

log = logging.getLogger("abasto.web")

RETRY_AFTER_SECONDS = 5
"""What a client is told to wait before trying again a request the database was too busy for."""

_HTTP_TITLES = {
    404: ("No encontrado", "La dirección solicitada no existe."),
    405: ("Método no permitido", "Esta dirección no admite el método usado."),
    413: ("Contenido demasiado grande", "El contenido enviado excede el tamaño permitido."),
}


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/openapi.json"


def problem_response(
    request: Request,
    *,
    status: int,
    title: str,
    detail: str,
    problems: list[dict[str, Any]] | None = None,
    expected: str | None = None,
) -> Response:
    if _wants_json(request):
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": title,
            "status": status,
            "detail": detail,
            "instance": request.url.path,
        }
        if expected:
            body["expected"] = expected
        if problems:
            body["errors"] = problems
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(
            body, status_code=status, media_type="application/problem+json", headers=headers
        )
    return render(
        request,
        "error.html",
        None,
        status_code=status,
        title=title,
        detail=detail,
        problems=problems or [],
        expected=expected,
        login_next=request.url.path if status == 401 else None,
    )


def error_response(request: Request, exc: AbastoError) -> Response:
    """The problem details (API) or page of a domain error.

    A route that must keep what it wrote before refusing (a failed sign-in counts towards the
    throttle) returns this instead of raising, so its unit of work commits.
    """
    response = problem_response(
        request,
        status=exc.status,
        title=exc.title,
        detail=exc.detail,
        problems=_shown(request, list(exc.problems)),
        expected=exc.expected,
    )
    if isinstance(exc, Unauthorized) and not _wants_json(request):
        response.delete_cookie("abasto_sesion")
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


_PYDANTIC_MESSAGES: dict[str, tuple[str, str | None]] = {
    # type → (message, what was expected); the placeholders are the error's ``ctx``.
    "missing": ("falta el valor", "un valor"),
    "int_parsing": ("no es un número entero", "un número entero"),
    "int_type": ("no es un número entero", "un número entero"),
    "int_from_float": ("no es un número entero", "un número entero, sin decimales"),
    "float_parsing": ("no es un número", "un número"),
    "float_type": ("no es un número", "un número"),
    "decimal_parsing": ("no es un número", "un número"),
    "decimal_type": ("no es un número", "un número"),
    "finite_number": ("no es un número finito", "un número"),
    "bool_parsing": ("no es sí o no", "true o false"),
    "bool_type": ("no es sí o no", "true o false"),
    "string_type": ("no es un texto", "un texto"),
    "date_parsing": ("no es una fecha", "una fecha aaaa-mm-dd"),
    "date_from_datetime_parsing": ("no es una fecha", "una fecha aaaa-mm-dd"),
    "date_type": ("no es una fecha", "una fecha aaaa-mm-dd"),
    "datetime_parsing": ("no es una fecha y hora", "una fecha y hora ISO 8601"),
    "datetime_from_date_parsing": ("no es una fecha y hora", "una fecha y hora ISO 8601"),
    "datetime_type": ("no es una fecha y hora", "una fecha y hora ISO 8601"),
    "uuid_parsing": ("no es un identificador UUID", "un UUID"),
    "greater_than_equal": ("es menor que el mínimo", "un valor mayor o igual que {ge}"),
    "greater_than": ("es demasiado pequeño", "un valor mayor que {gt}"),
    "less_than_equal": ("es mayor que el máximo", "un valor menor o igual que {le}"),
    "less_than": ("es demasiado grande", "un valor menor que {lt}"),
    "string_too_long": ("es demasiado largo", "a lo más {max_length} caracteres"),
    "string_too_short": ("es demasiado corto", "al menos {min_length} caracteres"),
    "too_long": ("tiene demasiados elementos", "a lo más {max_length}"),
    "too_short": ("tiene muy pocos elementos", "al menos {min_length}"),
    "string_pattern_mismatch": ("no tiene la forma esperada", "el patrón {pattern}"),
    "literal_error": ("no es uno de los valores admitidos", "uno de: {expected}"),
    "enum": ("no es uno de los valores admitidos", "uno de: {expected}"),
    "extra_forbidden": ("no es un campo admitido", "sólo los campos documentados"),
    "list_type": ("no es una lista", "una lista"),
    "dict_type": ("no es un objeto", "un objeto JSON"),
    "model_attributes_type": ("no es un objeto", "un objeto JSON"),
    "model_type": ("no es un objeto", "un objeto JSON"),
    "decimal_max_digits": ("tiene demasiados dígitos", "a lo más {max_digits} dígitos"),
    "decimal_max_places": ("tiene demasiados decimales", "a lo más {decimal_places} decimales"),
    "json_invalid": ("el cuerpo de la solicitud no es JSON válido", None),
}


def _pydantic_problem(error: Mapping[str, Any]) -> Problem:
    """One of pydantic's errors in Spanish: its English ``msg`` never reaches a user. A rule of
    ours (a ``ValueError`` in a validator) already speaks Spanish and keeps its text. The field
    stays the request's own name (``path.tender_id``, ``lines[1].unit_price``): clients read it."""
    kind = str(error.get("type", ""))
    context = error.get("ctx") or {}
    location = [str(p) for p in error.get("loc", ()) if p != "body"]
    field = ".".join(location) or None
    value = error.get("input")
    shown = None if value is None or kind == "missing" else str(value)[:200]
    if kind == "json_invalid":
        return Problem(
            _PYDANTIC_MESSAGES[kind][0],
            field="body",
            expected="un documento JSON (Content-Type: application/json)",
        )
    if kind == "value_error":
        message = str(context.get("error") or error.get("msg", "valor no válido"))
        return Problem(message.removeprefix("Value error, "), field=field, value=shown)
    message, expected = _PYDANTIC_MESSAGES.get(kind, ("valor no válido", None))
    if expected is not None:
        try:
            expected = expected.format(**{k: str(v) for k, v in context.items()})
        except (KeyError, IndexError):
            expected = None
    return Problem(message, field=field, value=shown, expected=expected)


def _pydantic_problems(exc: RequestValidationError) -> list[Problem]:
    return [_pydantic_problem(error) for error in exc.errors()]


def _shown(request: Request, problems: list[Problem]) -> list[dict[str, Any]]:
    """A page names each field by its form's label, the API by the name its clients send."""
    if _wants_json(request):
        return [p.as_dict() for p in problems]
    return [fields.for_page(p).as_dict() for p in problems]


def install(app: FastAPI) -> None:
    @app.exception_handler(AbastoError)
    async def _domain(request: Request, exc: AbastoError) -> Response:
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return problem_response(
            request,
            status=422,
            title="Datos no válidos",
            detail="La solicitud no tiene la forma esperada.",
            problems=_shown(request, _pydantic_problems(exc)),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        title, detail = _HTTP_TITLES.get(exc.status_code, ("Error", str(exc.detail)))
        return problem_response(request, status=exc.status_code, title=title, detail=detail)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        if transient(exc):
            # Rolled back by the database (a deadlock with a day's load, a lock not obtained in
            # time): nothing was written, and the same request shortly after may go through.
            log.warning(
                "transient database error on %s %s: %s",
                request.method,
                request.url.path,
                error_kind(exc),
            )
            busy = Busy(
                "La base de datos estaba ocupada con otra operación; no se guardó nada. "
                "Intente de nuevo en unos segundos.",
                retry_after=RETRY_AFTER_SECONDS,
            )
            return error_response(request, busy)
        # The trace goes to the log for operators, never to the user.
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(
            request,
            status=500,
            title="Error interno",
            detail="Ocurrió un error inesperado. Se registró para su revisión; intente de nuevo.",
        )
