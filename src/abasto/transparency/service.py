"""Reading the ledger for the public and for auditors."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select

from abasto.core.context import Context
from abasto.core.ledger import LedgerEntry

PAGE_SIZE = 50


def ledger_page(
    ctx: Context, *, page: int, per_page: int = PAGE_SIZE
) -> tuple[Sequence[LedgerEntry], int]:
    """Newest first. The public sees public entries; auditors see every entry."""
    query = select(LedgerEntry)
    count = select(func.count()).select_from(LedgerEntry)
    if not ctx.actor.has_role("auditor"):
        query = query.where(LedgerEntry.public)
        count = count.where(LedgerEntry.public)
    total = ctx.db.scalar(count) or 0
    entries = ctx.db.scalars(
        query.order_by(LedgerEntry.seq.desc()).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return entries, total
