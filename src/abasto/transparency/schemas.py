"""Shapes of the public ledger in the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


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


class CheckpointRead(BaseModel):
    """A signed checkpoint: keep it, and later hold the ledger to it
    (``abasto audit verify --against``)."""

    origin: str
    tree_size: int
    root_hash: str = Field(description="Raíz del árbol Merkle (RFC 9162), en hex.")
    at: datetime
    key_id: str = Field(description="Los 4 bytes que identifican la llave, en hex.")
    verifier: str = Field(description="Llave de verificación: nombre+id+base64(0x01 ‖ llave).")
    note: str = Field(description="La nota firmada (formato checkpoint de transparency-dev).")


class InclusionProofRead(BaseModel):
    """Entry ``seq`` is leaf ``leaf_index`` of the tree of ``tree_size`` leaves whose root is
    ``root_hash``: hash the leaf up the ``path`` (RFC 9162, 2.1.3.2)."""

    seq: int
    leaf_index: int
    tree_size: int
    entry_hash: str
    leaf_hash: str = Field(description="SHA-256(0x00 ‖ hash de la entrada), en hex.")
    path: list[str]
    root_hash: str
    checkpoint: CheckpointRead | None = Field(
        None, description="El punto de control firmado de ese tamaño, si se publicó uno."
    )


class ConsistencyProofRead(BaseModel):
    """The tree of ``second`` leaves extends the tree of ``first`` (RFC 9162, 2.1.4.2)."""

    first: int
    second: int
    first_root: str
    second_root: str
    path: list[str]


class KeptCheckpointWrite(BaseModel):
    """A checkpoint kept earlier, to verify the ledger against it."""

    note: str = Field(max_length=4000)
    verifier: str | None = Field(None, max_length=300)
