"""Shapes of the public ledger in the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class LedgerEntryRead(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    entity: str
    public: bool
    payload: Any
    prev_hash: str
    hash: str


class LedgerPage(BaseModel):
    items: list[LedgerEntryRead]
    total: int
    page: int
    per_page: int
    head_seq: int
    head_hash: str


class VerificationRead(BaseModel):
    ok: bool
    checked: int
    first_bad_seq: int | None
    reason: str | None
