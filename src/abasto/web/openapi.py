"""The OpenAPI description of what a route reads by itself instead of through FastAPI."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

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
