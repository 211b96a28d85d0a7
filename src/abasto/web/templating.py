"""Jinja2 templates with the es-MX filters every page uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from abasto.core.context import Context
from abasto.core.money import format_date, format_datetime, format_int, format_mxn, format_percent
from abasto.identity.models import ROLE_LABELS, Role

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.filters.update(
    mxn=format_mxn,
    fecha=format_date,
    fecha_hora=format_datetime,
    entero=format_int,
    porcentaje=format_percent,
)
templates.env.globals["role_label"] = lambda role: ROLE_LABELS.get(Role(role), role) if role else ""


def render(
    request: Request,
    name: str,
    ctx: Context | None,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    """A page, with who is logged in available to the layout."""
    return templates.TemplateResponse(
        request, name, {"actor": ctx.actor if ctx else None, **values}, status_code=status_code
    )
