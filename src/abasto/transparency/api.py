"""JSON routes of transparency: the ledger, its signed checkpoints and proofs, its verification."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from abasto.core import checkpoints, ledger
from abasto.core.bounds import INT_MAX
from abasto.core.context import Context
from abasto.core.errors import NotFound, Problem, ValidationFailed
from abasto.core.signed_note import NoteError
from abasto.transparency import service
from abasto.transparency.schemas import (
    CheckpointRead,
    ConsistencyProofRead,
    InclusionProofRead,
    KeptCheckpointWrite,
    LedgerEntryRead,
    LedgerPage,
    VerificationRead,
)
from abasto.web.deps import public
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
def verify_ledger(ctx: Annotated[Context, Depends(public)]) -> VerificationRead:
    """Recompute the whole chain and its Merkle tree against the latest signed checkpoint (as
    `abasto audit verify` does); public, so anyone can ask."""
    return _verification(checkpoints.verify(ctx.db.connection()))


@router.post("/ledger/verify", response_model=VerificationRead)
def verify_ledger_against(
    body: KeptCheckpointWrite, ctx: Annotated[Context, Depends(public)]
) -> VerificationRead:
    """Verify the ledger against a checkpoint the caller kept (as `audit verify --against`):
    it fails when today's ledger is not an extension of it."""
    try:
        kept = checkpoints.read_kept(body.note, verifier=body.verifier)
    except NoteError as exc:
        raise ValidationFailed(
            "El punto de control no se pudo leer.",
            problems=[Problem(str(exc), field="note")],
        ) from None
    return _verification(checkpoints.verify(ctx.db.connection(), against=kept))


def _verification(result: ledger.Verification) -> VerificationRead:
    return VerificationRead(
        ok=result.ok,
        checked=result.checked,
        first_bad_seq=result.first_bad_seq,
        reason=result.reason,
    )


@router.get("/ledger/checkpoint", response_model=CheckpointRead)
def latest_checkpoint(ctx: Annotated[Context, Depends(public)]) -> CheckpointRead:
    """The latest signed checkpoint of the ledger: keep it to hold the ledger to it later."""
    found = checkpoints.latest(ctx.db)
    if found is None:
        raise NotFound("Aún no se ha firmado ningún punto de control de la bitácora.")
    return CheckpointRead.model_validate(checkpoints.document(found))


@router.get("/ledger/proof/{seq}", response_model=InclusionProofRead)
def inclusion_proof(
    seq: Annotated[int, Path(ge=1, le=INT_MAX, description="Número de la entrada.")],
    ctx: Annotated[Context, Depends(public)],
    tree_size: Annotated[int | None, Query(ge=1, le=INT_MAX)] = None,
) -> InclusionProofRead:
    """The proof that entry ``seq`` is in the tree of ``tree_size`` leaves (by default the
    latest checkpoint's): a supplier proves its receipt's entry is in the log."""
    proof = checkpoints.inclusion(ctx.db, seq=seq, tree_size=tree_size)
    signed = checkpoints.at_size(ctx.db, proof.tree_size)
    return InclusionProofRead(
        seq=proof.seq,
        leaf_index=proof.seq - 1,
        tree_size=proof.tree_size,
        entry_hash=proof.entry_hash,
        leaf_hash=proof.leaf_hash.hex(),
        path=[h.hex() for h in proof.path],
        root_hash=proof.root.hex(),
        checkpoint=CheckpointRead.model_validate(checkpoints.document(signed)) if signed else None,
    )


@router.get("/ledger/consistency", response_model=ConsistencyProofRead)
def consistency_proof(
    ctx: Annotated[Context, Depends(public)],
    first: Annotated[int, Query(ge=1, le=INT_MAX)],
    second: Annotated[int, Query(ge=1, le=INT_MAX)],
) -> ConsistencyProofRead:
    """The proof that the tree of ``second`` leaves extends the tree of ``first``."""
    proof = checkpoints.consistency(ctx.db, first=first, second=second)
    return ConsistencyProofRead(
        first=proof.first,
        second=proof.second,
        first_root=proof.first_root.hex(),
        second_root=proof.second_root.hex(),
        path=[h.hex() for h in proof.path],
    )
