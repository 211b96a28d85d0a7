"""One place that turns errors into RFC 9457 problem details (API) or Spanish pages (HTML)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from abasto.core.errors import AbastoError, Problem, TooManyRequests, Unauthorized
from abasto.web import fields
from abasto.web.templating import render

log = logging.getLogger("abasto.web")

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


def _pydantic_problems(exc: RequestValidationError) -> list[Problem]:
    problems = []
    for error in exc.errors():
        location = [str(p) for p in error.get("loc", ()) if p not in ("body",)]
        if error.get("type") == "json_invalid":
            problems.append(
                Problem(
                    "el cuerpo de la solicitud no es JSON válido",
                    field="body",
                    expected="un documento JSON (Content-Type: application/json)",
                )
            )
            continue
        problems.append(
            Problem(
                error.get("msg", "valor no válido"),
                field=".".join(location) or None,
                value=None if error.get("input") is None else str(error.get("input"))[:200],
            )
        )
    return problems


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
        # The trace goes to the log for operators, never to the user.
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(
            request,
            status=500,
            title="Error interno",
            detail="Ocurrió un error inesperado. Se registró para su revisión; intente de nuevo.",
        )
