"""Pages of transparency: the public ledger, its signed checkpoint, and its verification."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from abasto.core import checkpoints, ledger
from abasto.core.bounds import INT_MAX
from abasto.core.context import Context
from abasto.core.errors import Problem
from abasto.core.signed_note import NoteError
from abasto.tendering.rules import days
from abasto.transparency import service
from abasto.web.deps import public
from abasto.web.params import query_day
from abasto.web.templating import render

router = APIRouter(include_in_schema=False)


_ENTITY_PAGES = {
    "tender": "/licitaciones/{}",
    "supplier": "/proveedores/{}",
    "clave": "/catalogo/{}",
    "institution": "/instituciones/{}",
    "round": "/demanda/{}",
}


def entity_link(entity: str) -> str | None:
    """The page of what an entry is about (``tender:12`` → ``/licitaciones/12``), if it has one."""
    kind, _, key = entity.partition(":")
    pattern = _ENTITY_PAGES.get(kind)
    if pattern is None or not key:
        return None
    if kind == "round":
        key = key.split(":", 1)[0]
    return pattern.format(quote(key, safe=""))


@router.get("/bitacora")
def ledger_page(
    request: Request,
    ctx: Annotated[Context, Depends(public)],
    accion: Annotated[str, Query(max_length=100)] = "",
    actor: Annotated[str, Query(max_length=200)] = "",
    entidad: Annotated[str, Query(max_length=300)] = "",
    licitacion: Annotated[int | None, Query(ge=1, le=INT_MAX)] = None,
    desde: Annotated[str, Query(max_length=20)] = "",
    hasta: Annotated[str, Query(max_length=20)] = "",
    sin_sesiones: Annotated[bool, Query()] = False,
    antes: Annotated[int | None, Query(ge=1, le=INT_MAX)] = None,
    despues: Annotated[int | None, Query(ge=0, le=INT_MAX)] = None,
) -> Response:
    """The public ledger, newest first, by keyset pages (``antes``/``despues`` name the entry a
    page continues from), filtered by action, actor, what it is about (a tender), and days."""
    problems: list[Problem] = []
    since, until = days(
        query_day(desde, field="desde", label="desde", problems=problems),
        query_day(hasta, field="hasta", label="hasta", problems=problems),
    )
    entity = f"tender:{licitacion}" if licitacion else entidad.strip()
    filters = service.LedgerFilters(
        action=accion.strip(),
        actor=actor.strip(),
        entity=entity,
        since=since,
        until=until,
        hide_sessions=sin_sesiones and ctx.actor.has_role("auditor"),
    )
    found = service.ledger_slice(ctx, filters, before=antes, after=despues)
    head_seq, head_hash = ledger.head(ctx.db)
    latest = checkpoints.latest(ctx.db)
    kept = {
        "accion": filters.action,
        "actor": filters.actor,
        "entidad": entity,
        "desde": desde.strip(),
        "hasta": hasta.strip(),
        "sin_sesiones": "1" if filters.hide_sessions else "",
    }
    query = urlencode({k: v for k, v in kept.items() if v})
    return render(
        request,
        "transparency/ledger.html",
        ctx,
        found=found,
        filters=kept,
        filtered=any(v for k, v in kept.items()),
        query=query,
        problems=problems,
        actions=sorted(service.ACTION_NAMES.items(), key=lambda item: item[1]),
        action_name=service.action_name,
        entity_link=entity_link,
        head_seq=head_seq,
        head_hash=head_hash,
        checkpoint=checkpoints.document(latest) if latest else None,
    )


@router.get("/bitacora/entradas/{seq}")
def ledger_entry_page(
    request: Request,
    ctx: Annotated[Context, Depends(public)],
    seq: Annotated[int, Path(ge=1, le=INT_MAX)],
) -> Response:
    """One entry: who, when, what, its payload, and the hashes that chain it."""
    entry = service.ledger_entry(ctx, seq)
    latest = checkpoints.latest(ctx.db)
    return render(
        request,
        "transparency/ledger_entry.html",
        ctx,
        entry=entry,
        payload=json.dumps(entry.data(), ensure_ascii=False, indent=2, sort_keys=True),
        action_name=service.action_name,
        link=entity_link(entry.entity),
        covered=latest is not None and latest.tree_size >= entry.seq,
        tree_size=latest.tree_size if latest else None,
    )


@router.get("/bitacora/verificar")
def verify_page(
    request: Request,
    ctx: Annotated[Context, Depends(public)],
    punto: Annotated[str, Query(max_length=4000)] = "",
    llave: Annotated[str, Query(max_length=300)] = "",
) -> Response:
    """Anyone verifies the ledger here: its chain and tree against the latest signed checkpoint,
    and against a checkpoint they kept (pasted as the JSON document or the bare note)."""
    error = None
    kept = None
    if punto.strip():
        try:
            kept = checkpoints.read_kept(punto.replace("\r\n", "\n"), verifier=llave or None)
        except NoteError as exc:
            error = str(exc)
    result = None if error else checkpoints.verify(ctx.db.connection(), against=kept)
    fragment = request.headers.get("hx-request") == "true"
    return render(
        request,
        "transparency/_verification.html" if fragment else "transparency/verification.html",
        ctx,
        result=result,
        error=error,
        against=kept is not None,
    )
