"""The OpenAPI description of what FastAPI cannot see: what a route reads by itself, and the
problem details every operation answers with when it refuses."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

_REF = "#/$defs/"


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema with its nested models written out in place: a route's
    ``openapi_extra`` cannot add them to the document's components."""
    schema = model.model_json_schema(ref_template=_REF + "{model}")
    defs: dict[str, Any] = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(_REF):
                return inline(defs[ref.removeprefix(_REF)])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    inlined: dict[str, Any] = inline(schema)
    return inlined


class ProblemItem(BaseModel):
    """One located problem (``core.errors.Problem``)."""

    message: str
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    field: str | None = None
    value: str | None = None
    expected: str | None = None
    where: str | None = None


class ProblemDetails(BaseModel):
    """An error as RFC 9457 problem details, as ``web.errors`` renders every one."""

    type: str = Field(examples=["about:blank"])
    title: str
    status: int
    detail: str
    instance: str
    expected: str | None = None
    errors: list[ProblemItem] | None = None


_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}
PROBLEM_RESPONSES = {
    "4XX": {"description": "Solicitud rechazada (RFC 9457).", "content": _PROBLEM},
    "5XX": {"description": "Error interno (RFC 9457).", "content": _PROBLEM},
}
"""What every operation answers when it refuses, declared once for all of them: FastAPI would
declare its own 422 shape (``HTTPValidationError``), which Abasto never sends."""


def describe_problems(app: FastAPI) -> None:
    """Make the app's OpenAPI document declare ``PROBLEM_RESPONSES`` on every operation, those
    of routes added later included."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        problem = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(problem.pop("$defs", {}))
        schemas["ProblemDetails"] = problem
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        for item in document.get("paths", {}).values():
            for operation in item.values():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                responses.update(PROBLEM_RESPONSES)
        return document

    app.openapi = openapi  # type: ignore[method-assign]
