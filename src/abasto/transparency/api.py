"""JSON routes of transparency: the ledger, paginated, and its verification for auditors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from abasto.core import ledger
from abasto.core.context import Context
from abasto.identity.models import Role
from abasto.transparency import service
from abasto.transparency.schemas import LedgerEntryRead, LedgerPage, VerificationRead
from abasto.web.deps import allow, public
from abasto.web.params import Page, PerPage

router = APIRouter(prefix="/api/v1", tags=["transparencia"])


@router.get("/ledger", response_model=LedgerPage)
def ledger_entries(
    ctx: Annotated[Context, Depends(public)],
    page: Page = 1,
    per_page: PerPage = service.PAGE_SIZE,
) -> LedgerPage:
    """Ledger entries, newest first: public ones for everyone, all of them for auditors."""
    entries, total = service.ledger_page(ctx, page=page, per_page=per_page)
    head_seq, head_hash = ledger.head(ctx.db)
    return LedgerPage(
        items=[
            LedgerEntryRead(
                seq=e.seq,
                at=e.at,
                actor=e.actor,
                action=e.action,
                entity=e.entity,
                public=e.public,
                payload=e.data(),
                prev_hash=e.prev_hash,
                hash=e.hash,
            )
            for e in entries
        ],
        total=total,
        page=page,
        per_page=per_page,
        head_seq=head_seq,
        head_hash=head_hash,
    )


@router.get("/ledger/verify", response_model=VerificationRead)
def verify_ledger(ctx: Annotated[Context, Depends(allow(Role.auditor))]) -> VerificationRead:
    """Recompute the whole chain (as `abasto audit verify` does)."""
    result = ledger.verify(ctx.db.connection())
    return VerificationRead(
        ok=result.ok,
        checked=result.checked,
        first_bad_seq=result.first_bad_seq,
        reason=result.reason,
    )
