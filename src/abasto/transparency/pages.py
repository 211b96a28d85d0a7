"""Pages of transparency: the public ledger, its signed checkpoint, and its verification."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from abasto.core import checkpoints, ledger
from abasto.core.context import Context
from abasto.core.signed_note import NoteError
from abasto.transparency import service
from abasto.web.deps import public
from abasto.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/bitacora")
def ledger_page(
    request: Request,
    ctx: Annotated[Context, Depends(public)],
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    entries, total = service.ledger_page(ctx, page=page)
    head_seq, head_hash = ledger.head(ctx.db)
    pages = max(1, -(-total // service.PAGE_SIZE))
    latest = checkpoints.latest(ctx.db)
    return render(
        request,
        "transparency/ledger.html",
        ctx,
        entries=entries,
        total=total,
        page=page,
        pages=pages,
        head_seq=head_seq,
        head_hash=head_hash,
        checkpoint=checkpoints.document(latest) if latest else None,
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
