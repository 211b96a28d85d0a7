"""What every use case receives: the session, who acts, and the one instant of this request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from abasto.core import ledger
from abasto.core.errors import Forbidden


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a logged-in user, the CLI's operator, or the anonymous public.

    ``role`` holds an ``abasto.identity.models.Role`` value; core does not import identity.
    """

    label: str
    user_id: int | None = None
    role: str | None = None
    institution_id: int | None = None
    supplier_id: int | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None and self.label == ANONYMOUS.label

    def has_role(self, *roles: str) -> bool:
        return self.role is not None and self.role in roles


ANONYMOUS = Actor(label="anonimo")


def operator(name: str) -> Actor:
    """The person at the command line: trusted like a buyer, recorded by name on the ledger."""
    return Actor(label=f"cli:{name}", role="comprador")


@dataclass(frozen=True, slots=True)
class Context:
    db: Session
    actor: Actor
    now: datetime

    def record(
        self,
        action: str,
        entity: str,
        payload: Mapping[str, Any],
        *,
        public: bool = True,
        actor: str | None = None,
    ) -> int:
        """Append one ledger entry in this transaction; returns its seq.

        ``actor`` replaces the acting user's label where naming them would reveal a secret (a
        sealed bid's author before the opening).
        """
        return ledger.append(
            self.db,
            actor=actor or self.actor.label,
            at=self.now,
            records=[ledger.Record(action, entity, payload, public)],
        )

    def record_entry(
        self, action: str, entity: str, payload: Mapping[str, Any], *, actor: str | None = None
    ) -> tuple[int, str]:
        """``record`` of a public entry, returning its seq and hash: the leaf a receipt names."""
        return ledger.append_entries(
            self.db,
            actor=actor or self.actor.label,
            at=self.now,
            records=[ledger.Record(action, entity, payload, True)],
        )

    def record_many(self, records: Sequence[ledger.Record]) -> int:
        return ledger.append(self.db, actor=self.actor.label, at=self.now, records=records)

    def require_institution(self, institution_id: int) -> None:
        """Institution planners act only for their own institution; buyers act for all."""
        if self.actor.has_role("comprador"):
            return
        if self.actor.has_role("institucion") and self.actor.institution_id == institution_id:
            return
        raise Forbidden("Su usuario no puede actuar en nombre de esta institución.")

    def require_supplier(self, supplier_id: int) -> None:
        """Suppliers act only for themselves; buyers act for all."""
        if self.actor.has_role("comprador"):
            return
        if self.actor.has_role("proveedor") and self.actor.supplier_id == supplier_id:
            return
        raise Forbidden("Su usuario no puede actuar en nombre de este proveedor.")
