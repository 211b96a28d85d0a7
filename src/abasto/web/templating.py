"""Jinja2 templates with the es-MX filters every page uses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fastapi import Request, UploadFile
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from markupsafe import Markup

from abasto.core.context import Context
from abasto.core.errors import AbastoError, ValidationFailed
from abasto.core.money import (
    count_of,
    format_date,
    format_datetime,
    format_int,
    format_mxn,
    format_percent,
)
from abasto.identity.models import ROLE_LABELS, Role
from abasto.web.deps import SESSION_COOKIE
from abasto.web.fields import field_label
from abasto.web.security import CSRF_FIELD, csrf_token

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.filters.update(
    mxn=format_mxn,
    fecha=format_date,
    fecha_hora=format_datetime,
    entero=format_int,
    contar=count_of,
    porcentaje=format_percent,
    campo=field_label,
)


@pass_context
def _csrf_token(context: Mapping[str, Any]) -> str:
    request: Request = context["request"]
    state: Any = request.app.state.abasto
    return csrf_token(state.settings.secret_key, request.cookies.get(SESSION_COOKIE))


@pass_context
def _csrf_field(context: Mapping[str, Any]) -> Markup:
    """The hidden field every form that posts carries (``web/security``)."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(
        CSRF_FIELD, _csrf_token(context)
    )


templates.env.globals["csrf_token"] = _csrf_token
templates.env.globals["csrf_field"] = _csrf_field
templates.env.globals["role_label"] = lambda role: ROLE_LABELS.get(Role(role), role) if role else ""


def render_live(
    request: Request,
    whole: str,
    part: str,
    ctx: Context | None,
    **values: Any,
) -> HTMLResponse:
    """A page whose results htmx refreshes as the user types: the fragment for htmx, else the page.

    A history restore (back button after htmx's cache is gone) needs the whole page, and the same
    address answering two ways must tell caches so.
    """
    live = "hx-request" in request.headers and "hx-history-restore-request" not in request.headers
    response = render(request, part if live else whole, ctx, **values)
    response.headers["Vary"] = "HX-Request"
    return response


def render_import(
    request: Request,
    ctx: Context,
    template: str,
    file: UploadFile | None,
    *,
    missing: str,
    expected: str,
    run: Callable[[bytes, str], object],
) -> HTMLResponse:
    """An upload page's answer: the import's summary, or every problem with nothing written."""
    if file is None or not file.filename:
        error = ValidationFailed(missing, expected=expected)
        return render(request, template, ctx, 422, summary=None, error=error)
    try:
        summary = run(file.file.read(), file.filename)
    except AbastoError as exc:
        # The page answers normally, so the request would commit: undo whatever was begun.
        ctx.db.rollback()
        return render(request, template, ctx, exc.status, summary=None, error=exc)
    return render(request, template, ctx, summary=summary, error=None)


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
