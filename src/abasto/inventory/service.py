"""Use cases of inventory: post movements, dispense, count, transfer, snapshot the indicators.

Every function that writes takes the ``Context`` and keyword arguments, flushes and never
commits, and appends one ledger entry (private: a unit's shelves are the institution's
business; the public sees the daily indicators) in the caller's transaction.

**Stock never goes below zero, under concurrency too.** A movement that takes stock first locks
the balance rows of the unit's clave (``SELECT … FOR UPDATE``, in a fixed order so two issues
never deadlock), picks the lots (``rules.pick_fefo``) from what it read under the lock and
updates those rows in the same transaction; a concurrent issue waits for the lock and then sees
what the first left. SQLite's single writer (``BEGIN IMMEDIATE``) does the same, and the
``not_negative`` CHECK on ``stock_balances`` refuses anything that slipped past both.

**Receipts from contracts.** A receipt of an accepted delivery posts through ``receive`` with
``source="receipt:<id>"``; a source already posted is refused, so a retried receipt never
doubles the stock.
"""

from __future__ import annotations

import bisect
import csv
import functools
import hashlib
import io
import itertools
import json
import operator
import queue
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from select import select as wait_readable
from typing import Any, cast

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from psycopg import pq as libpq
from sqlalchemy import (
    Connection,
    Engine,
    Table,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from abasto.catalog.models import Clave
from abasto.core.context import Context
from abasto.core.db import foreign_key_violated, sqlstate
from abasto.core.errors import (
    AbastoError,
    Conflict,
    Forbidden,
    NotFound,
    Problem,
    ValidationFailed,
    check_version,
)
from abasto.core.money import count_of, local_day
from abasto.core.spreadsheet import CsvWriter
from abasto.demand import service as demand
from abasto.identity.models import Institution, Unit
from abasto.identity.service import get_institution
from abasto.inventory import columnar, redistribution, rolling, rules, upload
from abasto.inventory.models import (
    DailyAbasto,
    DailyStock,
    InventoryRequest,
    StockBalance,
    StockMovement,
    StockPolicyRow,
    StockTransfer,
)
from abasto.inventory.rules import Counted, Kind, Lot, StockPolicy, Take

REASON_MAX = 300
SOURCE_MAX = 120
MAX_LINES = 1_000
"""Lines of one posting (a dispensing request, a receipt): a pharmacy day of one unit fits."""
REDISTRIBUTION_NEIGHBOURS = 25
"""Givers considered per short unit: its 25 cheapest to reach (docs/scale.md)."""
SUGGESTED, ISSUED, RECEIVED, CANCELLED = "suggested", "issued", "received", "cancelled"
TRANSFER_LABELS = {
    SUGGESTED: "Sugerida",
    ISSUED: "En tránsito",
    RECEIVED: "Recibida",
    CANCELLED: "Cancelada",
}


def today(ctx: Context) -> date:
    """The day of this request in Mexico City: the day movements are booked on by default."""
    return local_day(ctx.now)


# ----- finding things ------------------------------------------------------------------------


def get_unit(db: Session, institution_code: str, unit_code: str) -> Unit:
    institution = get_institution(db, institution_code)
    return _unit_of(db, institution, unit_code)


def _unit_of(db: Session, institution: Institution, unit_code: str) -> Unit:
    found = db.scalar(
        select(Unit).where(
            Unit.institution_id == institution.id, Unit.code == unit_code.strip().upper()
        )
    )
    if found is None:
        raise NotFound(f"La institución «{institution.code}» no tiene la unidad «{unit_code}».")
    return found


def acting_unit(ctx: Context, institution_code: str, unit_code: str) -> Unit:
    """The unit, once the actor may act for its institution (checked before the unit is looked
    up, so a planner of another institution learns nothing of its units)."""
    institution = get_institution(ctx.db, institution_code)
    ctx.require_institution(institution.id)
    return _unit_of(ctx.db, institution, unit_code)


def readable_unit(ctx: Context, institution_code: str, unit_code: str) -> Unit:
    """The unit, if the actor may read it: buyers and auditors read every unit, an
    institution's users only their institution's."""
    if ctx.actor.has_role("comprador", "auditor"):
        return get_unit(ctx.db, institution_code, unit_code)
    return acting_unit(ctx, institution_code, unit_code)


def _clave_ids(db: Session, codes: Iterable[str]) -> dict[str, int]:
    wanted = sorted({"".join(c.split()) for c in codes})
    found: dict[str, int] = {}
    for start in range(0, len(wanted), 500):
        found.update(
            db.execute(
                select(Clave.clave, Clave.id).where(Clave.clave.in_(wanted[start : start + 500]))
            ).all()
        )
    return found


def _require_claves(
    db: Session, codes: Sequence[str], *, where: Sequence[Mapping[str, Any]] | None = None
) -> dict[str, int]:
    """Each code's clave id; every unknown one a problem (located by ``where``)."""
    found = _clave_ids(db, codes)
    problems = [
        Problem(
            "La clave no está en el catálogo.",
            value=code,
            expected="una clave del Compendio registrada en Abasto",
            **(dict(where[i]) if where else {"field": "clave"}),
        )
        for i, code in enumerate(codes)
        if "".join(code.split()) not in found
    ]
    if problems:
        raise ValidationFailed(
            "Hay claves que no están en el catálogo; no se registró nada.", problems=problems
        )
    return {code: found["".join(code.split())] for code in codes}


# ----- posting -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Posted:
    """A movement as posted, for answers and the ledger."""

    clave: str
    lot: str
    expiry: date
    kind: str
    quantity: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "clave": self.clave,
            "lot": self.lot,
            "expiry": self.expiry.isoformat(),
            "kind": self.kind,
            "quantity": self.quantity,
        }


def _locked_lots(
    db: Session, unit_id: int, clave_ids: Iterable[int]
) -> dict[int, list[StockBalance]]:
    """The unit's balance rows of these claves, locked until the commit, in (clave, lot) order.
    Refused at once while a day is being loaded (``POSTINGS_LOCK``)."""
    _not_while_a_day_loads(db)
    ids = sorted(set(clave_ids))
    rows = db.scalars(
        select(StockBalance)
        .where(StockBalance.unit_id == unit_id, StockBalance.clave_id.in_(ids))
        .order_by(StockBalance.clave_id, StockBalance.lot)
        .with_for_update()
    ).all()
    found: dict[int, list[StockBalance]] = {i: [] for i in ids}
    for row in rows:
        found[row.clave_id].append(row)
    return found


POSTINGS_LOCK = 0x41_4241_5354_4F44
"""The advisory lock a day's load (``load_day_feed``) holds, on PostgreSQL, from its start to
its commit, and each posting holds shared until its own commit (``_locked_lots``, through which
every write of a balance goes): the load waits for the postings under way, and a posting that
comes while a day loads is refused at once. So no balance changes under the load between its
update of the lots there and its insert of the new ones (a lot a receipt created in between
lost the day's movements), and no posting waits holding ``claves`` (read first) for balances
the load holds while the load's ATTACH needs ``claves`` to itself: a deadlock, which aborted
the load on a first day (docs/scale.md)."""


WHILE_A_DAY_LOADS = "Se está cargando un día de movimientos del inventario; no se registró nada."


def _not_while_a_day_loads(db: Session) -> None:
    if db.get_bind().dialect.name != "postgresql":
        return  # one writer at a time
    free = db.scalar(text("SELECT pg_try_advisory_xact_lock_shared(:key)"), {"key": POSTINGS_LOCK})
    if not free:
        raise Conflict(
            WHILE_A_DAY_LOADS,
            expected="intentarlo de nuevo en unos minutos, cuando termine la carga",
        )


def _lots(rows: Iterable[StockBalance]) -> list[Lot]:
    return [Lot(r.lot, r.expiry, r.quantity) for r in rows]


class _Posting:
    """The movements of one use case on one unit: balances changed under their locks, movement
    rows inserted at once."""

    def __init__(self, ctx: Context, unit: Unit, *, day: date, source: str | None) -> None:
        self.ctx, self.unit, self.day, self.source = ctx, unit, day, source
        self.rows: list[dict[str, Any]] = []
        self.posted: list[Posted] = []

    def move(
        self,
        locked: list[StockBalance],
        *,
        clave_id: int,
        clave: str,
        lot: str,
        expiry: date,
        kind: Kind,
        quantity: int,
        reason: str | None = None,
    ) -> None:
        row = next((r for r in locked if r.lot == lot), None)
        if row is None:
            if quantity < 0:
                raise rules.insufficient(clave, -quantity, 0, lot=lot)
            row = StockBalance(
                unit_id=self.unit.id,
                clave_id=clave_id,
                lot=lot,
                expiry=expiry,
                quantity=0,
                updated_at=self.ctx.now,
            )
            self.ctx.db.add(row)
            locked.append(row)
        elif row.expiry != expiry:
            raise ValidationFailed(
                f"El lote «{lot}» de la clave {clave} ya está registrado con otra caducidad.",
                problems=[
                    Problem(
                        "La caducidad no coincide con la del lote.",
                        field="expiry",
                        value=expiry.isoformat(),
                        expected=row.expiry.isoformat(),
                    )
                ],
            )
        row.quantity = rules.apply(row.quantity, quantity, clave=clave, lot=lot)
        row.updated_at = self.ctx.now
        self.rows.append(
            {
                "day": self.day,
                "at": self.ctx.now,
                "unit_id": self.unit.id,
                "clave_id": clave_id,
                "lot": lot,
                "expiry": expiry,
                "kind": kind.value,
                "quantity": quantity,
                "reason": reason,
                "source": self.source,
                "actor": self.ctx.actor.label,
            }
        )
        self.posted.append(Posted(clave, lot, expiry, kind.value, quantity))

    def take(
        self,
        locked: list[StockBalance],
        *,
        clave_id: int,
        clave: str,
        quantity: int,
        kind: Kind,
        lot: str | None = None,
        reason: str | None = None,
    ) -> list[Take]:
        takes = rules.pick_fefo(_lots(locked), quantity, today=self.day, clave=clave, lot=lot)
        for t in takes:
            self.move(
                locked,
                clave_id=clave_id,
                clave=clave,
                lot=t.lot,
                expiry=t.expiry,
                kind=kind,
                quantity=-t.quantity,
                reason=reason,
            )
        return takes

    def finish(self, action: str, extra: Mapping[str, Any] | None = None) -> int:
        db = self.ctx.db
        try:
            db.flush()
        except IntegrityError as exc:  # the CHECK: only reachable if a lock was bypassed
            raise Conflict("La existencia cambió al mismo tiempo; no se registró nada.") from exc
        _insert_movements(db, self.rows)
        return self.ctx.record(
            action,
            f"unit:{self.unit.institution.code}/{self.unit.code}",
            {
                "day": self.day,
                "source": self.source,
                "movements": [p.as_dict() for p in self.posted],
                **(extra or {}),
            },
            public=False,
        )


def _day(ctx: Context, day: date | None) -> date:
    current = today(ctx)
    if day is None:
        return current
    if day > current:
        raise ValidationFailed(
            "No se registran movimientos de días que aún no llegan.",
            problems=[
                Problem(
                    "Fecha futura.",
                    field="day",
                    value=day.isoformat(),
                    expected=f"a lo más {current.isoformat()}",
                )
            ],
        )
    return day


def _claim_source(db: Session, source: str | None) -> None:
    """Refuse a source of movements already posted, and claim it for this transaction."""
    if source is None:
        return
    if len(source) > SOURCE_MAX:
        raise ValidationFailed(
            "El origen del movimiento es demasiado largo.",
            problems=[
                Problem(
                    "Origen no válido.",
                    field="source",
                    expected=f"a lo más {SOURCE_MAX} caracteres",
                )
            ],
        )
    # Claimed, not only looked up: a request posting the same source at once waits on this row
    # until this transaction ends, then finds it (two receipts of one delivery stocked twice).
    claimed = db.execute(
        text(
            "INSERT INTO stock_sources (source) VALUES (:source) ON CONFLICT DO NOTHING "
            "RETURNING source"
        ),
        {"source": source},
    ).first()
    if claimed is None:
        raise Conflict(
            f"Los movimientos de «{source}» ya están registrados; no se registraron otra vez.",
            problems=[Problem("Origen ya registrado.", field="source", value=source)],
        )


def _release_source(db: Session, source: str) -> None:
    """Undo ``_claim_source`` in a transaction still usable; in one a database error aborted,
    the caller's rollback undoes it."""
    with suppress(DBAPIError):
        db.execute(text("DELETE FROM stock_sources WHERE source = :source"), {"source": source})


def _record_sources(db: Session, sources: Iterable[str | None]) -> None:
    """The sources of movements being inserted, recorded once each (``stock_sources``); one
    already there (claimed by ``_claim_source`` before posting, or a transfer's other side)
    stays."""
    found = sorted({s for s in sources if s is not None})
    if found:
        db.execute(
            text("INSERT INTO stock_sources (source) VALUES (:source) ON CONFLICT DO NOTHING"),
            [{"source": s} for s in found],
        )


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    clave: str
    lot: str
    expiry: date
    quantity: int


def receive(
    ctx: Context,
    *,
    unit: Unit,
    lines: Sequence[ReceiptLine],
    source: str | None = None,
    initial: bool = False,
    day: date | None = None,
) -> list[Posted]:
    """Stock received into the unit (a delivery's receipt, or an initial count with ``initial``).

    ``source`` names what is received (``receipt:<id>`` for a receipt of an accepted delivery
    of the contracts domain): posting the same source twice is refused.
    """
    ctx.require_institution(unit.institution_id)
    _check_lines(lines)
    problems = [
        p
        for i, line in enumerate(lines)
        for p in [
            *rules.check_lot(line.lot.strip(), line.expiry, field=f"lines[{i}].lot"),
            *_positive(line.quantity, f"lines[{i}].quantity"),
        ]
    ]
    if problems:
        raise ValidationFailed(
            "La recepción tiene datos no válidos; no se registró nada.", problems=problems
        )
    _claim_source(ctx.db, source)
    ids = _require_claves(ctx.db, [line.clave for line in lines])
    posting = _Posting(ctx, unit, day=_day(ctx, day), source=source)
    locked = _locked_lots(ctx.db, unit.id, ids.values())
    for line in lines:
        posting.move(
            locked[ids[line.clave]],
            clave_id=ids[line.clave],
            clave="".join(line.clave.split()),
            lot=line.lot.strip(),
            expiry=line.expiry,
            kind=Kind.initial if initial else Kind.receipt,
            quantity=line.quantity,
        )
    posting.finish("stock.initial" if initial else "stock.receive")
    return posting.posted


def _positive(quantity: int, where: str) -> list[Problem]:
    if 0 < quantity <= rules.MAX_QUANTITY:
        return []
    return [
        Problem(
            "La cantidad debe ser mayor que cero.",
            field=where,
            value=str(quantity),
            expected="un entero de 1 en adelante",
        )
    ]


def _check_lines(lines: Sequence[object]) -> None:
    if not lines or len(lines) > MAX_LINES:
        raise ValidationFailed(
            "Se esperaba de 1 a 1,000 renglones.",
            problems=[
                Problem("Número de renglones no válido.", field="lines", value=str(len(lines)))
            ],
        )


@dataclass(frozen=True, slots=True)
class IssueLine:
    """A line of a dispensing: a clave, how many, and a lot when the person names one."""

    clave: str
    quantity: int
    lot: str | None = None


def dispense(
    ctx: Context,
    *,
    unit: Unit,
    lines: Sequence[IssueLine],
    day: date | None = None,
    source: str | None = None,
) -> list[Posted]:
    """Dispense (or consume) in the unit: each line takes its lots FEFO unless it names one.

    All lines or none: one line beyond the stock refuses the whole dispensing (409).
    """
    ctx.require_institution(unit.institution_id)
    _check_lines(lines)
    problems = [
        p for i, line in enumerate(lines) for p in _positive(line.quantity, f"lines[{i}].quantity")
    ]
    if problems:
        raise ValidationFailed(
            "La dispensación tiene datos no válidos; no se registró nada.", problems=problems
        )
    ids = _require_claves(ctx.db, [line.clave for line in lines])
    posting = _Posting(ctx, unit, day=_day(ctx, day), source=source)
    locked = _locked_lots(ctx.db, unit.id, ids.values())
    for line in lines:
        posting.take(
            locked[ids[line.clave]],
            clave_id=ids[line.clave],
            clave="".join(line.clave.split()),
            quantity=line.quantity,
            kind=Kind.dispense,
            lot=line.lot.strip() if line.lot else None,
        )
    posting.finish("stock.dispense")
    return posting.posted


def _reason(reason: str) -> str:
    reason = " ".join(reason.split())
    if not reason or len(reason) > REASON_MAX:
        raise ValidationFailed(
            "Un ajuste necesita su motivo.",
            problems=[
                Problem(
                    "Motivo no válido.", field="reason", expected=f"de 1 a {REASON_MAX} caracteres"
                )
            ],
        )
    return reason


def adjust(
    ctx: Context,
    *,
    unit: Unit,
    clave: str,
    lot: str,
    expiry: date,
    quantity: int,
    reason: str,
) -> list[Posted]:
    """Add to (positive) or take from (negative) one lot, with the reason on the ledger."""
    ctx.require_institution(unit.institution_id)
    reason = _reason(reason)
    if quantity == 0 or abs(quantity) > rules.MAX_QUANTITY:
        raise ValidationFailed(
            "Un ajuste cambia la existencia.",
            problems=[Problem("Cantidad no válida.", field="quantity", value=str(quantity))],
        )
    ids = _require_claves(ctx.db, [clave])
    posting = _Posting(ctx, unit, day=today(ctx), source=None)
    locked = _locked_lots(ctx.db, unit.id, ids.values())
    posting.move(
        locked[ids[clave]],
        clave_id=ids[clave],
        clave="".join(clave.split()),
        lot=lot.strip(),
        expiry=expiry,
        kind=Kind.adjustment,
        quantity=quantity,
        reason=reason,
    )
    posting.finish("stock.adjust", {"reason": reason})
    return posting.posted


def record_count(
    ctx: Context, *, unit: Unit, clave: str, counted: Sequence[Counted], source: str | None = None
) -> list[Posted]:
    """A physical count of a clave in the unit: each lot's difference from the books becomes a
    ``count`` movement; lots not listed were not found and go to zero."""
    ctx.require_institution(unit.institution_id)
    problems = [
        p
        for i, c in enumerate(counted)
        for p in rules.check_lot(c.lot.strip(), c.expiry, field=f"lots[{i}].lot")
    ]
    if problems:
        raise ValidationFailed(
            "El conteo tiene datos no válidos; no se registró nada.", problems=problems
        )
    ids = _require_claves(ctx.db, [clave])
    posting = _Posting(ctx, unit, day=today(ctx), source=source)
    locked = _locked_lots(ctx.db, unit.id, ids.values())[ids[clave]]
    changes = rules.count_adjustments(
        _lots(locked), [Counted(c.lot.strip(), c.expiry, c.quantity) for c in counted]
    )
    for change in changes:
        posting.move(
            locked,
            clave_id=ids[clave],
            clave="".join(clave.split()),
            lot=change.lot,
            expiry=change.expiry,
            kind=Kind.physical_count,
            quantity=change.quantity,
            reason="Conteo físico",
        )
    posting.finish(
        "stock.count",
        {
            "clave": "".join(clave.split()),
            "counted": [
                {"lot": c.lot, "expiry": c.expiry, "quantity": c.quantity} for c in counted
            ],
        },
    )
    return posting.posted


def write_off_expired(ctx: Context, *, unit: Unit) -> list[Posted]:
    """Write off every lot of the unit that expired before today (an ``expiry`` movement each)."""
    ctx.require_institution(unit.institution_id)
    day = today(ctx)
    clave_ids = ctx.db.scalars(
        select(StockBalance.clave_id)
        .where(
            StockBalance.unit_id == unit.id, StockBalance.expiry < day, StockBalance.quantity > 0
        )
        .distinct()
    ).all()
    posting = _Posting(ctx, unit, day=day, source=None)
    if not clave_ids:
        return []
    codes = dict(ctx.db.execute(select(Clave.id, Clave.clave).where(Clave.id.in_(clave_ids))).all())
    for clave_id, locked in _locked_lots(ctx.db, unit.id, clave_ids).items():
        for row in list(locked):
            if row.expiry < day and row.quantity > 0:
                posting.move(
                    locked,
                    clave_id=clave_id,
                    clave=codes[clave_id],
                    lot=row.lot,
                    expiry=row.expiry,
                    kind=Kind.expiry,
                    quantity=-row.quantity,
                    reason="Caducado",
                )
    posting.finish("stock.expiry")
    return posting.posted


# ----- idempotent requests -------------------------------------------------------------------


def _digest(payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()


@dataclass(frozen=True, slots=True)
class Answer:
    """An API answer kept with its Idempotency-Key; ``replayed`` when it is the first one again."""

    body: dict[str, Any]
    replayed: bool


def dispense_once(
    ctx: Context, *, unit: Unit, key: str, lines: Sequence[IssueLine], day: date | None = None
) -> Answer:
    """``dispense`` under an Idempotency-Key: the first request posts; a repeat with the same
    content gets the first answer and posts nothing; other content under the key is refused."""
    ctx.require_institution(unit.institution_id)
    key = key.strip()
    if not key or len(key) > 200:
        raise ValidationFailed(
            "Falta la Idempotency-Key.",
            problems=[
                Problem(
                    "Encabezado no válido.",
                    field="Idempotency-Key",
                    expected="de 1 a 200 caracteres",
                )
            ],
        )
    digest = _digest(
        {
            "day": day.isoformat() if day else None,
            "lines": [[line.clave, line.quantity, line.lot] for line in lines],
        }
    )
    earlier = ctx.db.scalar(
        select(InventoryRequest).where(
            InventoryRequest.unit_id == unit.id, InventoryRequest.key == key
        )
    )
    if earlier is None:
        earlier = InventoryRequest(
            unit_id=unit.id, key=key, digest=digest, response=None, at=ctx.now
        )
        try:
            # The key is claimed first: a concurrent request with it waits on the unique index
            # and is refused, instead of posting the same lines twice.
            with ctx.db.begin_nested():
                ctx.db.add(earlier)
                ctx.db.flush()
        except IntegrityError as exc:
            raise Conflict(
                "Otra solicitud con la misma Idempotency-Key llegó al mismo tiempo; repítala "
                "para recibir su respuesta."
            ) from exc
        posted = dispense(ctx, unit=unit, lines=lines, day=day, source=f"request:{earlier.id}")
        earlier.response = {
            "request": earlier.id,
            "unit": unit.code,
            "institution": unit.institution.code,
            "day": (day or today(ctx)).isoformat(),
            "movements": [p.as_dict() for p in posted],
        }
        ctx.db.flush()
        return Answer(dict(earlier.response), replayed=False)
    if earlier.digest != digest:
        raise Conflict(
            f"La Idempotency-Key «{key}» ya se usó con otro contenido; no se registró nada.",
            problems=[
                Problem(
                    "La clave ya corresponde a otra solicitud.",
                    field="Idempotency-Key",
                    value=key,
                    expected="una clave nueva para cada solicitud distinta",
                )
            ],
        )
    return Answer(dict(earlier.response or {}), replayed=True)


# ----- reading stock -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClaveStock:
    clave: str
    description: str
    lots: tuple[Lot, ...]

    @property
    def on_hand(self) -> int:
        return sum(x.quantity for x in self.lots)


def unit_stock(db: Session, unit: Unit, *, clave: str | None = None) -> list[ClaveStock]:
    """The unit's stock per clave with its lots (those with stock), in clave order."""
    query = (
        select(
            Clave.clave,
            Clave.description,
            StockBalance.lot,
            StockBalance.expiry,
            StockBalance.quantity,
        )
        .join(Clave, Clave.id == StockBalance.clave_id)
        .where(StockBalance.unit_id == unit.id, StockBalance.quantity > 0)
        .order_by(Clave.clave, StockBalance.expiry, StockBalance.lot)
    )
    if clave is not None:
        query = query.where(Clave.clave == "".join(clave.split()))
    grouped: dict[str, tuple[str, list[Lot]]] = {}
    for code, description, lot, expiry, quantity in db.execute(query):
        grouped.setdefault(code, (description, []))[1].append(Lot(lot, expiry, quantity))
    return [ClaveStock(code, d, tuple(lots)) for code, (d, lots) in grouped.items()]


def movements(db: Session, unit: Unit, *, limit: int = 50) -> list[tuple[StockMovement, str]]:
    """The unit's latest movements with their clave, newest first."""
    rows = db.execute(
        select(StockMovement, Clave.clave)
        .join(Clave, Clave.id == StockMovement.clave_id)
        .where(StockMovement.unit_id == unit.id)
        # Not by id alone: a day loaded in bulk has ids of a block of its own (migration 0018).
        .order_by(StockMovement.at.desc(), StockMovement.id.desc())
        .limit(limit)
    ).all()
    return list(rows)


def ledger_balance_check(db: Session) -> list[tuple[int, int, str, int, int]]:
    """Balances that differ from the sum of their movements (unit, clave, lot, balance, sum):
    empty when the derived table agrees with the facts."""
    sums = (
        select(
            StockMovement.unit_id,
            StockMovement.clave_id,
            StockMovement.lot,
            func.sum(StockMovement.quantity).label("total"),
        )
        .group_by(StockMovement.unit_id, StockMovement.clave_id, StockMovement.lot)
        .subquery()
    )
    rows = db.execute(
        select(
            StockBalance.unit_id,
            StockBalance.clave_id,
            StockBalance.lot,
            StockBalance.quantity,
            func.coalesce(sums.c.total, 0),
        ).outerjoin(
            sums,
            and_(
                sums.c.unit_id == StockBalance.unit_id,
                sums.c.clave_id == StockBalance.clave_id,
                sums.c.lot == StockBalance.lot,
            ),
        )
    ).all()
    return [(u, c, lot, q, int(t)) for u, c, lot, q, t in rows if q != int(t)]


# ----- policies ------------------------------------------------------------------------------


def set_policy(
    ctx: Context, *, unit_kind: str, min_months: Decimal, max_months: Decimal
) -> StockPolicyRow:
    """The max-min (months of consumption) of a kind of unit; buyers set it for everyone."""
    if not ctx.actor.has_role("comprador"):
        raise Forbidden("Sólo el comprador coordinador fija el máximo y el mínimo.")
    policy = StockPolicy(min_months, max_months)
    row = ctx.db.scalar(select(StockPolicyRow).where(StockPolicyRow.unit_kind == unit_kind))
    if row is None:
        row = StockPolicyRow(
            unit_kind=unit_kind,
            min_months=policy.min_months,
            max_months=policy.max_months,
            updated_at=ctx.now,
        )
        ctx.db.add(row)
    else:
        row.min_months, row.max_months, row.updated_at = (
            policy.min_months,
            policy.max_months,
            ctx.now,
        )
    ctx.db.flush()
    ctx.record(
        "stock.policy",
        f"stock-policy:{unit_kind}",
        {"unit_kind": unit_kind, "min_months": policy.min_months, "max_months": policy.max_months},
    )
    return row


def policies(db: Session) -> dict[str, StockPolicy]:
    return {
        row.unit_kind: StockPolicy(Decimal(row.min_months), Decimal(row.max_months))
        for row in db.scalars(select(StockPolicyRow))
    }


# ----- transfers -----------------------------------------------------------------------------


def get_transfer(db: Session, transfer_id: int) -> StockTransfer:
    found = db.get(StockTransfer, transfer_id)
    if found is None:
        raise NotFound(f"No existe la transferencia {transfer_id}.")
    return found


def create_transfer(
    ctx: Context,
    *,
    from_unit: Unit,
    to_unit: Unit,
    clave: str,
    quantity: int,
    lot: str | None = None,
    origin: str = "manual",
    cost: Decimal | None = None,
) -> StockTransfer:
    """A transfer to review (status ``suggested``); nothing moves until it is issued."""
    ctx.require_institution(from_unit.institution_id)
    if from_unit.id == to_unit.id:
        raise ValidationFailed(
            "Una transferencia va de una unidad a otra.",
            problems=[Problem("Misma unidad.", field="to_unit", value=to_unit.code)],
        )
    problems = _positive(quantity, "quantity")
    if problems:
        raise ValidationFailed("Cantidad no válida.", problems=problems)
    ids = _require_claves(ctx.db, [clave])
    transfer = StockTransfer(
        clave_id=ids[clave],
        from_unit_id=from_unit.id,
        to_unit_id=to_unit.id,
        quantity=quantity,
        lot=lot,
        status=SUGGESTED,
        origin=origin,
        cost=cost,
        created_at=ctx.now,
    )
    ctx.db.add(transfer)
    ctx.db.flush()
    ctx.record(
        "transfer.create",
        f"transfer:{transfer.id}",
        {
            "clave": "".join(clave.split()),
            "from": f"{from_unit.institution.code}/{from_unit.code}",
            "to": f"{to_unit.institution.code}/{to_unit.code}",
            "quantity": quantity,
            "lot": lot,
            "origin": origin,
        },
        public=False,
    )
    return transfer


def issue_transfer(ctx: Context, *, transfer_id: int, version: int | None = None) -> StockTransfer:
    """Send a suggested transfer: its stock leaves the origin (FEFO, or its named lot) and is
    in transit until the destination receives it."""
    transfer = _locked_transfer(ctx, transfer_id)
    ctx.require_institution(transfer.from_unit.institution_id)
    check_version("La transferencia", version, transfer.version)
    _expect(transfer, SUGGESTED)
    posting = _Posting(ctx, transfer.from_unit, day=today(ctx), source=f"transfer:{transfer.id}")
    locked = _locked_lots(ctx.db, transfer.from_unit_id, [transfer.clave_id])[transfer.clave_id]
    takes = posting.take(
        locked,
        clave_id=transfer.clave_id,
        clave=transfer.clave.clave,
        quantity=transfer.quantity,
        kind=Kind.transfer_out,
        lot=transfer.lot,
    )
    transfer.lots = [
        {"lot": t.lot, "expiry": t.expiry.isoformat(), "quantity": t.quantity} for t in takes
    ]
    transfer.status, transfer.issued_at = ISSUED, ctx.now
    posting.finish("transfer.issue", {"transfer": transfer.id})
    return transfer


def receive_transfer(ctx: Context, *, transfer_id: int) -> StockTransfer:
    """The destination receives an issued transfer: the same lots enter its stock."""
    transfer = _locked_transfer(ctx, transfer_id)
    ctx.require_institution(transfer.to_unit.institution_id)
    _expect(transfer, ISSUED)
    posting = _Posting(ctx, transfer.to_unit, day=today(ctx), source=f"transfer:{transfer.id}")
    locked = _locked_lots(ctx.db, transfer.to_unit_id, [transfer.clave_id])[transfer.clave_id]
    for lot in transfer.lots or []:
        posting.move(
            locked,
            clave_id=transfer.clave_id,
            clave=transfer.clave.clave,
            lot=str(lot["lot"]),
            expiry=date.fromisoformat(str(lot["expiry"])),
            kind=Kind.transfer_in,
            quantity=int(cast(int, lot["quantity"])),
        )
    transfer.status, transfer.received_at = RECEIVED, ctx.now
    posting.finish("transfer.receive", {"transfer": transfer.id})
    return transfer


def cancel_transfer(ctx: Context, *, transfer_id: int) -> StockTransfer:
    transfer = _locked_transfer(ctx, transfer_id)
    ctx.require_institution(transfer.from_unit.institution_id)
    _expect(transfer, SUGGESTED)
    transfer.status = CANCELLED
    ctx.db.flush()
    ctx.record(
        "transfer.cancel", f"transfer:{transfer.id}", {"transfer": transfer.id}, public=False
    )
    return transfer


def _locked_transfer(ctx: Context, transfer_id: int) -> StockTransfer:
    found = ctx.db.scalar(
        select(StockTransfer).where(StockTransfer.id == transfer_id).with_for_update()
    )
    if found is None:
        raise NotFound(f"No existe la transferencia {transfer_id}.")
    return found


def _expect(transfer: StockTransfer, status: str) -> None:
    if transfer.status != status:
        raise Conflict(
            f"La transferencia {transfer.id} está «{TRANSFER_LABELS[transfer.status]}»; "
            f"se esperaba «{TRANSFER_LABELS[status]}».",
        )


def transfers(
    db: Session, *, institution_id: int | None = None, status: str | None = None, limit: int = 200
) -> list[StockTransfer]:
    """Transfers touching an institution's units (all of them for None), newest first."""
    query = select(StockTransfer).order_by(StockTransfer.id.desc()).limit(limit)
    if status is not None:
        query = query.where(StockTransfer.status == status)
    if institution_id is not None:
        units = select(Unit.id).where(Unit.institution_id == institution_id)
        query = query.where(
            or_(StockTransfer.from_unit_id.in_(units), StockTransfer.to_unit_id.in_(units))
        )
    return list(db.scalars(query))


def unit_transfers(db: Session, unit: Unit, *, limit: int = 30) -> list[StockTransfer]:
    """Transfers from or to the unit that are still open (suggested or in transit), then the
    latest others, newest first."""
    touching = or_(StockTransfer.from_unit_id == unit.id, StockTransfer.to_unit_id == unit.id)
    return list(
        db.scalars(
            select(StockTransfer)
            .where(touching)
            .order_by(StockTransfer.status.in_([SUGGESTED, ISSUED]).desc(), StockTransfer.id.desc())
            .limit(limit)
        )
    )


# ----- daily indicators ----------------------------------------------------------------------


def _daily_moves(
    db: Session, *, start: date, end: date
) -> dict[tuple[int, int], dict[date, tuple[int, int]]]:
    """Per (unit, clave), each day's (dispensed, net change of stock) from ``start`` to ``end``:
    what ``rules.daily_series`` rebuilds the days from."""
    found: dict[tuple[int, int], dict[date, tuple[int, int]]] = defaultdict(dict)
    dispensed = func.sum(
        case((StockMovement.kind == Kind.dispense.value, -StockMovement.quantity), else_=0)
    )
    for unit_id, clave_id, day, out, net in db.execute(
        select(
            StockMovement.unit_id,
            StockMovement.clave_id,
            StockMovement.day,
            dispensed,
            func.sum(StockMovement.quantity),
        )
        .where(StockMovement.day >= start, StockMovement.day <= end)
        .group_by(StockMovement.unit_id, StockMovement.clave_id, StockMovement.day)
    ):
        found[(unit_id, clave_id)][day] = (int(out), int(net))
    return found


@dataclass(slots=True)
class _Series:
    lots: dict[str, Lot] = field(default_factory=dict)
    after: dict[str, int] = field(default_factory=dict)
    window: dict[date, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SnapshotSummary:
    day: date
    rows: int
    units: int
    stockouts: int
    rolled: bool = False
    """Rolled from the day before's state (``snapshot_incremental``)."""
    recomputed: str = ""
    """Why ``snapshot_incremental`` recomputed the window instead of rolling it."""


def snapshot(ctx: Context, *, day: date | None = None) -> SnapshotSummary:
    """Compute and store the day's indicators of every unit × clave and the abasto of every
    unit, institution, state and the nation (replacing that day's, if computed before).

    Pages and the API read these tables; nothing is recomputed on a page view. The stock at the
    end of ``day`` is the balance less what moved after it, and the window's daily series is
    rebuilt from the movements of the ``CONSUMPTION_WINDOW_DAYS`` before it.
    """
    day = day or today(ctx)
    start = day - timedelta(days=rules.CONSUMPTION_WINDOW_DAYS - 1)
    db = ctx.db
    series: dict[tuple[int, int], _Series] = defaultdict(_Series)
    for unit_id, clave_id, lot, expiry, quantity in db.execute(
        select(
            StockBalance.unit_id,
            StockBalance.clave_id,
            StockBalance.lot,
            StockBalance.expiry,
            StockBalance.quantity,
        )
    ):
        series[(unit_id, clave_id)].lots[lot] = Lot(lot, expiry, quantity)
    for unit_id, clave_id, lot, total in db.execute(
        select(
            StockMovement.unit_id,
            StockMovement.clave_id,
            StockMovement.lot,
            func.sum(StockMovement.quantity),
        )
        .where(StockMovement.day > day)
        .group_by(StockMovement.unit_id, StockMovement.clave_id, StockMovement.lot)
    ):
        series[(unit_id, clave_id)].after[lot] = int(total)
    for pair, moves in _daily_moves(db, start=start, end=day).items():
        series[pair].window = moves
    units = {
        u.id: (u.kind, u.state_code, code)
        for u, code in db.execute(select(Unit, Institution.code).join(Institution)).all()
    }
    by_kind = policies(db)
    db.execute(delete(DailyStock).where(DailyStock.day == day))
    db.execute(delete(DailyAbasto).where(DailyAbasto.day == day))
    rows: list[dict[str, Any]] = []
    groups: dict[tuple[str, str], list[tuple[rules.Level, int]]] = defaultdict(list)
    for (unit_id, clave_id), found in series.items():
        lots = [
            Lot(x.lot, x.expiry, x.quantity - found.after.get(x.lot, 0))
            for x in found.lots.values()
        ]
        on_hand = sum(x.quantity for x in lots)
        opening = on_hand - sum(net for _, net in found.window.values())
        days = rules.daily_series(start=start, end=day, opening=opening, movements=found.window)
        amc = rules.adjusted_monthly_consumption(days)
        months = rules.months_of_stock(on_hand, amc)
        kind, state, institution = units[unit_id]
        level = rules.level(on_hand, months, by_kind.get(kind, rules.DEFAULT_POLICY))
        expiring = rules.expiring(lots, today=day)
        rows.append(
            {
                "day": day,
                "unit_id": unit_id,
                "clave_id": clave_id,
                "on_hand": on_hand,
                "amc": amc,
                "months": months,
                "stockout_days": rules.stockout_days(days),
                "expiring": expiring,
                "expired": rules.expired(lots, today=day),
                "level": level.value,
            }
        )
        for group in (
            ("unit", str(unit_id)),
            ("institution", institution),
            ("state", state or ""),
            ("nation", ""),
        ):
            groups[group].append((level, expiring))
    abasto_rows = []
    for (scope_name, key), found_levels in groups.items():
        share = rules.abasto(level for level, _ in found_levels)
        abasto_rows.append(
            {
                "day": day,
                "scope": scope_name,
                "key": key,
                "listed": share.listed,
                "with_stock": share.with_stock,
                "at_minimum": share.at_minimum,
                "below_min": sum(1 for level, _ in found_levels if level is rules.Level.below_min),
                "above_max": sum(1 for level, _ in found_levels if level is rules.Level.above_max),
                "expiring": sum(e for _, e in found_levels),
            }
        )
    return _store_snapshot(ctx, day, pa.Table.from_pylist(rows, schema=DAILY_SCHEMA), abasto_rows)


def _store_snapshot(
    ctx: Context, day: date, rows: pa.Table, abasto_rows: list[dict[str, Any]]
) -> SnapshotSummary:
    """Write a day's computed indicators (after the day's earlier ones were deleted) and record
    the snapshot in the ledger. The rows are Arrow columns (``columnar``, ``rolling``: 15 M rows
    at national scale), written a batch at a time, never a Python object per row."""
    db = ctx.db
    try:
        with db.begin_nested():
            _insert_daily(db, rows)
    except IntegrityError as exc:
        if foreign_key_violated(exc):
            raise Conflict(
                f"Una unidad o una clave de los indicadores del {day.isoformat()} se borró "
                "mientras se calculaban; no se guardó este cálculo.",
                expected="calcular el día otra vez",
            ) from exc
        raise Conflict(
            f"Otro cálculo de los indicadores del {day.isoformat()} terminó al mismo tiempo; "
            "no se guardó este."
        ) from exc
    if abasto_rows:
        db.execute(insert(cast(Table, DailyAbasto.__table__)), abasto_rows)
    levels = rows["level"].cast(pa.string())
    summary = SnapshotSummary(
        day=day,
        rows=rows.num_rows,
        units=pc.count_distinct(rows["unit_id"]).as_py(),
        stockouts=pc.sum(pc.equal(levels, rules.Level.stockout.value)).as_py() or 0,
    )
    ctx.record(
        "inventory.snapshot",
        "inventory",
        {"day": day, "rows": summary.rows, "units": summary.units, "stockouts": summary.stockouts},
    )
    return summary


DAILY_SCHEMA = pa.schema(
    [
        ("day", pa.date32()),
        ("unit_id", pa.int64()),
        ("clave_id", pa.int64()),
        ("on_hand", pa.int64()),
        ("amc", pa.decimal128(38, 2)),  # the column's own precision is the database's to check
        ("months", pa.decimal128(38, 2)),
        ("stockout_days", pa.int64()),
        ("expiring", pa.int64()),
        ("expired", pa.int64()),
        ("level", pa.string()),
    ]
)
"""``inventory_daily``'s columns, as the rules' snapshot (``snapshot``) hands its rows over."""
DAILY_COLUMNS = tuple(DAILY_SCHEMA.names)
STORE_BATCH_ROWS = 100_000
"""The indicators' rows written at a time (as CSV for a COPY, or as parameters)."""


def _insert_daily(db: Session, daily: pa.Table) -> None:
    """``inventory_daily``'s rows from Arrow columns, a batch at a time: on PostgreSQL one COPY
    fed with each batch as CSV (written by Arrow: a null is an empty field); elsewhere an insert
    of each batch's rows."""
    daily = daily.select(DAILY_COLUMNS)
    at = daily.schema.get_field_index("level")
    daily = daily.set_column(at, "level", daily["level"].cast(pa.string()))
    if db.get_bind().dialect.name != "postgresql":
        for batch in daily.to_batches(STORE_BATCH_ROWS):
            db.execute(insert(cast(Table, DailyStock.__table__)), batch.to_pylist())
        return
    driver: Any = db.connection().connection.dbapi_connection
    options = pa_csv.WriteOptions(include_header=False)
    try:
        with (
            driver.cursor() as cursor,
            cursor.copy(
                f"COPY inventory_daily ({', '.join(DAILY_COLUMNS)}) FROM STDIN (FORMAT csv)"
            ) as copy,
        ):
            for batch in daily.to_batches(STORE_BATCH_ROWS):
                out = pa.BufferOutputStream()
                pa_csv.write_csv(batch, out, write_options=options)
                copy.write(memoryview(out.getvalue()))
    except psycopg.errors.IntegrityError as exc:
        raise IntegrityError("COPY inventory_daily", None, exc) from exc


def snapshot_columnar(ctx: Context, *, day: date | None = None, directory: Path) -> SnapshotSummary:
    """The day's snapshot computed by DuckDB over Parquet files written to ``directory``
    (``columnar``): the same rows as ``snapshot``, for national scale, where one query over
    narrow columns replaces the pair-by-pair Python loop. It reads the whole window and leaves
    the per-pair state (``rolling``) in ``directory/state`` for the next day's roll."""
    day = day or today(ctx)
    start = day - timedelta(days=rules.CONSUMPTION_WINDOW_DAYS - 1)
    db = ctx.db
    watermark = _watermark(db)
    _export(db, directory, {**_day_exports(day), "days": _facts(start, day, by_day=True)})
    computed = columnar.compute(directory, day=day, policies=policies(db))
    state = rolling.State.of_computed(computed, day=day, watermark=watermark)
    rolling.save(state, directory / STATE_DIRECTORY)
    return _store_columnar(ctx, day, computed, rolled=False)


STATE_DIRECTORY = "state"
"""Where ``snapshot_columnar`` and ``snapshot_incremental`` keep the per-pair state."""


def snapshot_incremental(
    ctx: Context, *, day: date | None = None, directory: Path
) -> SnapshotSummary:
    """The day's snapshot rolled from the day before's per-pair state (``rolling``): the lots,
    the facts of the day that enters the window and of the day that leaves it, instead of the
    whole window. When the state is missing, of another day, damaged, or contradicted by the
    movements (one posted since with an earlier date, a stock that does not add up), the window
    is recomputed in full (``rolling.rebuild``, a day at a time; ``snapshot_columnar`` is the
    same by one DuckDB query) and the summary says why."""
    day = day or today(ctx)
    db = ctx.db
    m = StockMovement
    try:
        state = rolling.load(directory / STATE_DIRECTORY, day=day - timedelta(days=1))
        if state is None:
            raise rolling.StateError("No hay estado del día anterior.")
        earliest = db.scalar(select(func.min(m.day)).where(m.id > state.watermark))
        if earliest is not None and earliest < day:
            raise rolling.StateError(
                f"Se registraron movimientos del {earliest.isoformat()} después del estado."
            )
        watermark = _watermark(db)
        leaves = day - timedelta(days=rules.CONSUMPTION_WINDOW_DAYS)
        tables = _export(
            db,
            directory,
            {
                **_day_exports(day),
                "entering": _facts(day, day, by_day=False),
                "leaving": _facts(leaves, leaves, by_day=False),
            },
        )
        computed, _ = rolling.roll(
            state,
            day=day,
            lots=columnar.lots_at_end(directory),
            entering=tables["entering"],
            leaving=tables["leaving"],
            units=tables["units"],
            policies=policies(db),
            watermark=watermark,
            save_to=directory / STATE_DIRECTORY,
        )
    except rolling.StateError as exc:
        return replace(_rebuild(ctx, day, directory), recomputed=str(exc))
    return _store_columnar(ctx, day, computed, rolled=True)


def _rebuild(ctx: Context, day: date, directory: Path) -> SnapshotSummary:
    """The window recomputed in full (``rolling.rebuild``), its movements read once, newest
    day first, one day's facts at a time; it leaves the state for the next day."""
    db = ctx.db
    watermark = _watermark(db)
    start = day - timedelta(days=rules.CONSUMPTION_WINDOW_DAYS - 1)
    tables = _export(db, directory, _day_exports(day))
    computed, state = rolling.rebuild(
        day=day,
        lots=columnar.lots_at_end(directory),
        facts=_facts_newest_first(db, start, day),
        units=tables["units"],
        policies=policies(db),
        watermark=watermark,
    )
    rolling.save(state, directory / STATE_DIRECTORY)
    return _store_columnar(ctx, day, computed, rolled=False)


def _facts_newest_first(db: Session, start: date, end: date) -> Callable[[date], pa.Table]:
    """A day's facts per pair (``_EXPORT_SCHEMAS["entering"]``), asked for from ``end`` back to
    ``start``, streamed from one query over the window (never all held at once)."""
    m = StockMovement
    dispensed = func.sum(case((m.kind == Kind.dispense.value, -m.quantity), else_=0))
    rows = iter(
        db.execute(
            select(m.day, m.unit_id, m.clave_id, dispensed, func.sum(m.quantity))
            .where(m.day >= start, m.day <= end)
            .group_by(m.day, m.unit_id, m.clave_id)
            .order_by(m.day.desc(), m.unit_id, m.clave_id)
            .execution_options(yield_per=50_000)
        )
    )
    ahead: list[Any] = []
    schema = _EXPORT_SCHEMAS["entering"]

    def facts(day: date) -> pa.Table:
        found = []
        while (row := ahead.pop() if ahead else next(rows, None)) is not None:
            if row[0] < day:
                ahead.append(row)
                break
            if row[0] > day:
                raise ValueError(f"facts asked for out of order: {day}")
            found.append(row[1:])
        return pa.table({c: [r[i] for r in found] for i, c in enumerate(schema.names)}, schema)

    return facts


def _watermark(db: Session) -> int:
    """The last movement id: a state remembers it, and a movement after it with an earlier day
    than the next snapshot's means the state is stale."""
    return int(db.scalar(select(func.coalesce(func.max(StockMovement.id), 0))) or 0)


def _day_exports(day: date) -> dict[str, Any]:
    """The lots (ordered by pair), what moved after ``day`` per lot, and the units."""
    m = StockMovement
    return {
        "lots": select(
            StockBalance.unit_id,
            StockBalance.clave_id,
            StockBalance.lot,
            StockBalance.expiry,
            StockBalance.quantity,
        ).order_by(StockBalance.unit_id, StockBalance.clave_id),
        "after": select(m.unit_id, m.clave_id, m.lot, func.sum(m.quantity).label("total"))
        .where(m.day > day)
        .group_by(m.unit_id, m.clave_id, m.lot),
        "units": select(
            Unit.id.label("unit_id"),
            Unit.kind,
            Unit.state_code.label("state"),
            Institution.code.label("institution"),
        ).join(Institution),
    }


def _facts(start: date, end: date, *, by_day: bool) -> Any:
    """Per pair (and day, ``by_day``), what was dispensed and the net change, from ``start`` to
    ``end``, ordered by pair."""
    m = StockMovement
    dispensed = func.sum(case((m.kind == Kind.dispense.value, -m.quantity), else_=0))
    keys = [m.unit_id, m.clave_id, *([m.day] if by_day else [])]
    return (
        select(*keys, dispensed.label("dispensed"), func.sum(m.quantity).label("net"))
        .where(m.day >= start, m.day <= end)
        .group_by(*keys)
        .order_by(*keys)
    )


def _export(db: Session, directory: Path, exports: Mapping[str, Any]) -> dict[str, pa.Table]:
    """Each query's rows as ``directory/<name>.parquet`` (``_EXPORT_SCHEMAS``), and as tables."""
    directory.mkdir(parents=True, exist_ok=True)
    tables = {}
    for name, query in exports.items():
        result = db.execute(query)
        columns = list(result.keys())
        found = result.all()
        table = pa.table(
            {c: [r[i] for r in found] for i, c in enumerate(columns)},
            schema=_EXPORT_SCHEMAS[name],
        )
        pq.write_table(table, directory / f"{name}.parquet")
        tables[name] = table
    return tables


def _store_columnar(
    ctx: Context, day: date, computed: columnar.Computed, *, rolled: bool
) -> SnapshotSummary:
    ctx.db.execute(delete(DailyStock).where(DailyStock.day == day))
    ctx.db.execute(delete(DailyAbasto).where(DailyAbasto.day == day))
    summary = _store_snapshot(ctx, day, computed.daily, computed.abasto.to_pylist())
    return replace(summary, rolled=rolled)


_EXPORT_SCHEMAS = {
    "lots": pa.schema(
        [
            ("unit_id", pa.int64()),
            ("clave_id", pa.int64()),
            ("lot", pa.string()),
            ("expiry", pa.date32()),
            ("quantity", pa.int64()),
        ]
    ),
    "after": pa.schema(
        [
            ("unit_id", pa.int64()),
            ("clave_id", pa.int64()),
            ("lot", pa.string()),
            ("total", pa.int64()),
        ]
    ),
    "days": pa.schema(
        [
            ("unit_id", pa.int64()),
            ("clave_id", pa.int64()),
            ("day", pa.date32()),
            ("dispensed", pa.int64()),
            ("net", pa.int64()),
        ]
    ),
    **{
        name: pa.schema(
            [
                ("unit_id", pa.int64()),
                ("clave_id", pa.int64()),
                ("dispensed", pa.int64()),
                ("net", pa.int64()),
            ]
        )
        for name in ("entering", "leaving")
    },
    "units": pa.schema(
        [
            ("unit_id", pa.int64()),
            ("kind", pa.string()),
            ("state", pa.string()),
            ("institution", pa.string()),
        ]
    ),
}
"""The columns of ``columnar``'s Parquet files."""


def snapshot_due(db: Session, current: date) -> date | None:
    """The day the daily snapshot is due for: yesterday, when it is not computed yet and some
    unit holds stock (or ever did)."""
    yesterday = current - timedelta(days=1)
    done = db.scalar(select(exists().where(DailyAbasto.day == yesterday)))
    if done or not db.scalar(select(exists().select_from(StockBalance))):
        return None
    return yesterday


def latest_day(db: Session) -> date | None:
    return db.scalar(select(func.max(DailyAbasto.day)))


@dataclass(frozen=True, slots=True)
class AbastoRow:
    scope: str
    key: str
    day: date
    abasto: rules.Abasto
    below_min: int
    above_max: int
    expiring: int


def abasto_of(db: Session, *, scope: str, day: date | None = None) -> list[AbastoRow]:
    """The stored abasto of every key of a scope on a day (the latest computed by default)."""
    day = day or latest_day(db)
    if day is None:
        return []
    return [
        AbastoRow(
            r.scope,
            r.key,
            r.day,
            rules.Abasto(r.listed, r.with_stock, r.at_minimum),
            r.below_min,
            r.above_max,
            r.expiring,
        )
        for r in db.scalars(
            select(DailyAbasto)
            .where(DailyAbasto.day == day, DailyAbasto.scope == scope)
            .order_by(DailyAbasto.key)
        )
    ]


def institution_units_abasto(
    db: Session, institution: Institution, *, day: date | None = None
) -> list[tuple[Unit, AbastoRow | None]]:
    """Each unit of the institution with its stored abasto on a day (None where it keeps no
    clave), for the public drill-down."""
    found = {r.key: r for r in abasto_of(db, scope="unit", day=day)}
    return [(u, found.get(str(u.id))) for u in institution.units]


def abasto_trend(
    db: Session, *, scope: str = "nation", key: str = "", days: int = 365
) -> list[AbastoRow]:
    """A scope's abasto day by day, oldest first, over the last ``days`` computed."""
    rows = db.scalars(
        select(DailyAbasto)
        .where(DailyAbasto.scope == scope, DailyAbasto.key == key)
        .order_by(DailyAbasto.day.desc())
        .limit(days)
    ).all()
    return [
        AbastoRow(
            r.scope,
            r.key,
            r.day,
            rules.Abasto(r.listed, r.with_stock, r.at_minimum),
            r.below_min,
            r.above_max,
            r.expiring,
        )
        for r in reversed(rows)
    ]


def most_stocked_out(
    db: Session, *, day: date | None = None, limit: int = 20
) -> list[tuple[str, str, int, int]]:
    """The claves out of stock in most units on a day: (clave, description, units out, units
    listing it)."""
    day = day or latest_day(db)
    if day is None:
        return []
    out = func.sum(case((DailyStock.level == rules.Level.stockout.value, 1), else_=0))
    rows = db.execute(
        select(Clave.clave, Clave.description, out, func.count())
        .join(Clave, Clave.id == DailyStock.clave_id)
        .where(DailyStock.day == day)
        .group_by(Clave.clave, Clave.description)
        .having(out > 0)
        .order_by(out.desc(), Clave.clave)
        .limit(limit)
    ).all()
    return [(c, d, int(o), int(n)) for c, d, o, n in rows]


def unit_indicators(
    db: Session, unit: Unit, *, day: date | None = None
) -> list[tuple[DailyStock, str]]:
    """The unit's stored indicators per clave on a day (the latest computed by default)."""
    day = day or latest_day(db)
    if day is None:
        return []
    return list(
        db.execute(
            select(DailyStock, Clave.clave)
            .join(Clave, Clave.id == DailyStock.clave_id)
            .where(DailyStock.day == day, DailyStock.unit_id == unit.id)
            .order_by(Clave.clave)
        ).all()
    )


# ----- uploads -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UploadSummary:
    filename: str
    sha256: str
    layout: str
    rows: int
    movements: int
    claves: int
    days: int


def _located(error: AbastoError, sheet: str, row: int) -> AbastoError:
    """The same error, its problems placed on the file's row."""
    problems = [
        Problem(p.message, sheet=sheet, row=row, column=p.field, value=p.value, expected=p.expected)
        for p in error.problems
    ] or [Problem(error.detail, sheet=sheet, row=row)]
    return type(error)(
        f"Fila {row} de «{sheet}»: {error.detail} No se registró ningún movimiento del archivo.",
        problems=problems,
    )


def import_upload(ctx: Context, *, unit: Unit, content: bytes, filename: str) -> UploadSummary:
    """Post a file of the unit's daily movements, or a snapshot of its stock, all or nothing.

    The layouts are ``upload``'s. Movements are posted day by day in the file's order; a
    snapshot is a physical count of each clave it lists. The same file twice is refused
    (its movements carry ``source="upload:<sha256>"``).
    """
    ctx.require_institution(unit.institution_id)
    moves, counts = upload.read(content, filename)
    sha = hashlib.sha256(content).hexdigest()
    source = f"upload:{sha}"
    _claim_source(ctx.db, source)
    rows: Sequence[upload.MovementRow | upload.SnapshotRow] = (
        moves if moves is not None else counts or []
    )
    ids = _require_claves(
        ctx.db,
        [r.clave for r in rows],
        where=[{"sheet": r.sheet, "row": r.row, "column": "Clave"} for r in rows],
    )
    locked = _locked_lots(ctx.db, unit.id, ids.values())
    postings: list[_Posting] = []
    if moves is not None:
        current = today(ctx)
        for row in moves:
            if row.day > current:
                raise _located(ValidationFailed("La fecha es futura."), row.sheet, row.row)
        by_day: dict[date, list[upload.MovementRow]] = defaultdict(list)
        for row in moves:
            by_day[row.day].append(row)
        for day in sorted(by_day):
            posting = _Posting(ctx, unit, day=day, source=source)
            for row in by_day[day]:
                try:
                    _post_row(posting, locked[ids[row.clave]], ids[row.clave], row)
                except AbastoError as exc:
                    raise _located(exc, row.sheet, row.row) from exc
            postings.append(posting)
        layout = "movimientos"
    else:
        posting = _Posting(ctx, unit, day=today(ctx), source=source)
        by_clave: dict[str, list[upload.SnapshotRow]] = defaultdict(list)
        for found in counts or []:
            by_clave[found.clave].append(found)
        for clave, found_rows in by_clave.items():
            held = locked[ids[clave]]
            try:
                changes = rules.count_adjustments(
                    _lots(held), [Counted(r.lot, r.expiry, r.quantity) for r in found_rows]
                )
                for change in changes:
                    posting.move(
                        held,
                        clave_id=ids[clave],
                        clave=clave,
                        lot=change.lot,
                        expiry=change.expiry,
                        kind=Kind.physical_count,
                        quantity=change.quantity,
                        reason="Existencias cargadas",
                    )
            except AbastoError as exc:
                raise _located(exc, found_rows[0].sheet, found_rows[0].row) from exc
        postings.append(posting)
        layout = "existencias"
    summary = UploadSummary(
        filename=filename,
        sha256=sha,
        layout=layout,
        rows=len(rows),
        movements=sum(len(p.rows) for p in postings),
        claves=len(set(ids.values())),
        days=len(postings),
    )
    for posting in postings:
        posting.finish("stock.upload", {"filename": filename, "sha256": sha, "layout": layout})
    return summary


def _post_row(
    posting: _Posting, held: list[StockBalance], clave_id: int, row: upload.MovementRow
) -> None:
    if row.kind is Kind.dispense:
        posting.take(
            held,
            clave_id=clave_id,
            clave=row.clave,
            quantity=row.quantity,
            kind=row.kind,
            lot=row.lot,
            reason=row.reason,
        )
        return
    expiry = row.expiry
    if expiry is None:  # an expiry write-off of a named lot keeps the lot's own
        expiry = next((b.expiry for b in held if b.lot == row.lot), None)
    if expiry is None or row.lot is None:
        raise ValidationFailed("El lote no está registrado en la unidad.")
    posting.move(
        held,
        clave_id=clave_id,
        clave=row.clave,
        lot=row.lot,
        expiry=expiry,
        kind=row.kind,
        quantity=-row.quantity if row.kind is Kind.expiry else row.quantity,
        reason=row.reason,
    )


# ----- redistribution ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RedistributionSummary:
    clave: str
    transfers: list[StockTransfer]
    moved: int
    cost: int


def suggest_redistribution(ctx: Context, *, clave: str) -> RedistributionSummary:
    """Suggest transfers of a clave from units with stock to spare to units short of it
    (``redistribution.plan``): consumption from the latest snapshot, stock as it is now, the
    max-min of each kind of unit, costs from the units' states. Earlier suggestions of the
    clave not issued yet are cancelled; the new ones wait for review (``issue_transfer``)."""
    if not ctx.actor.has_role("comprador"):
        raise Forbidden("Sólo el comprador coordinador sugiere redistribuciones entre unidades.")
    ids = _require_claves(ctx.db, [clave])
    clave_id, code = ids[clave], "".join(clave.split())
    current = today(ctx)
    day = latest_day(ctx.db)
    amcs: dict[int, Decimal | None] = {}
    if day is not None:
        amcs = dict(
            ctx.db.execute(
                select(DailyStock.unit_id, DailyStock.amc).where(
                    DailyStock.day == day, DailyStock.clave_id == clave_id
                )
            ).all()
        )
    lots: dict[int, list[Lot]] = defaultdict(list)
    # Through the units: the clave's lots of each unit by the balances' primary key, one probe
    # per unit (the balances keep no index on clave_id: migration 0023).
    for unit_id, lot, expiry, quantity in ctx.db.execute(
        select(StockBalance.unit_id, StockBalance.lot, StockBalance.expiry, StockBalance.quantity)
        .join(Unit, Unit.id == StockBalance.unit_id)
        .where(
            StockBalance.clave_id == clave_id,
            StockBalance.quantity > 0,
            StockBalance.expiry >= current,
        )
    ):
        lots[unit_id].append(Lot(lot, expiry, quantity))
    unit_ids = sorted(set(amcs) | set(lots))
    units = {u.id: u for u in ctx.db.scalars(select(Unit).where(Unit.id.in_(unit_ids)))}
    by_kind = policies(ctx.db)
    sites = []
    for unit_id in unit_ids:
        amc = amcs.get(unit_id)
        policy = by_kind.get(units[unit_id].kind, rules.DEFAULT_POLICY)
        on_hand = sum(x.quantity for x in lots[unit_id])
        safety = rules.units_needed(amc, policy.min_months)
        short = amc is not None and amc > 0 and on_hand < safety
        need = max(rules.units_needed(amc, policy.max_months) - on_hand, 0) if short else 0
        # Consumption unknown: nothing says how much it can spare, so it keeps all it has.
        keep = on_hand if amc is None else safety
        sites.append(redistribution.Site(unit_id, tuple(lots[unit_id]), amc, keep, need))
    states = {u.id: u.state_code for u in units.values()}
    found = redistribution.plan(
        sites,
        today=current,
        cost=redistribution.state_cost(states),
        neighbours=REDISTRIBUTION_NEIGHBOURS,
        places={unit: state or "" for unit, state in states.items()},
    )
    for stale in ctx.db.scalars(
        select(StockTransfer).where(
            StockTransfer.clave_id == clave_id,
            StockTransfer.status == SUGGESTED,
            StockTransfer.origin.like("redistribution:%"),
        )
    ):
        stale.status = CANCELLED
    origin = f"redistribution:{current.isoformat()}"
    made = []
    for move in found.moves:
        transfer = StockTransfer(
            clave_id=clave_id,
            from_unit_id=move.from_unit,
            to_unit_id=move.to_unit,
            quantity=move.quantity,
            lot=move.lot,
            status=SUGGESTED,
            origin=origin,
            cost=Decimal(move.cost * move.quantity),
            created_at=ctx.now,
        )
        ctx.db.add(transfer)
        made.append(transfer)
    ctx.db.flush()
    ctx.record(
        "redistribution.suggest",
        f"clave:{code}",
        {
            "clave": code,
            "snapshot_day": day,
            "units": len(sites),
            "moved": found.moved,
            "cost": found.cost,
            "transfers": [t.id for t in made],
        },
        public=False,
    )
    return RedistributionSummary(code, made, found.moved, found.cost)


# ----- partitions ----------------------------------------------------------------------------


def _month_after(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def ensure_month_partitions(ctx: Context, *, start: date, months: int) -> list[str]:
    """Create the monthly partitions of ``stock_movements`` from ``start``'s month on PostgreSQL
    (ahead of time: a month whose rows already sit in the default partition cannot be split
    off); the names created, none on SQLite, which has no partitions. Each month is partitioned
    by day in turn: ``…_default`` takes the movements posted one by one, and a day loaded in
    bulk (``load_day_feed``) becomes the day's own partition, ``stock_movements_aaaa_mm_dd``."""
    if ctx.db.get_bind().dialect.name != "postgresql":
        return []
    if not 1 <= months <= 120:
        raise ValidationFailed(
            "Se crean de 1 a 120 meses a la vez.",
            problems=[Problem("Meses no válidos.", field="months", value=str(months))],
        )
    month, made = date(start.year, start.month, 1), []
    for _ in range(months):
        name = f"stock_movements_{month:%Y_%m}"
        exists_already = ctx.db.scalar(
            text("SELECT to_regclass(:name) IS NOT NULL"), {"name": name}
        )
        if not exists_already:
            try:
                with ctx.db.begin_nested():
                    # Partitioned again by day: a national day's load is built as a table of
                    # its own and attached (load_day_feed); every other movement goes to the
                    # month's default partition.
                    ctx.db.execute(
                        text(
                            f"CREATE TABLE {name} PARTITION OF stock_movements FOR VALUES "
                            f"FROM ('{month.isoformat()}') TO ('{_month_after(month).isoformat()}')"
                            " PARTITION BY RANGE (day)"
                        )
                    )
                    ctx.db.execute(text(f"CREATE TABLE {name}_default PARTITION OF {name} DEFAULT"))
            except DBAPIError as exc:
                raise Conflict(
                    f"Ya hay movimientos de {month:%Y-%m} en la partición por omisión: ese mes "
                    "no puede tener partición propia. Cree las particiones antes de que lleguen "
                    "sus movimientos; no se creó ninguna."
                ) from exc
            made.append(name)
        month = _month_after(month)
    if made:
        ctx.record("inventory.partitions", "stock_movements", {"created": made}, public=False)
    return made


# ----- bulk history --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """A movement of a unit's past, as a legacy system or a scenario hands it over."""

    day: date
    clave: str
    lot: str
    expiry: date
    kind: Kind
    quantity: int
    reason: str | None = None


def post_history(ctx: Context, *, unit: Unit, rows: Sequence[HistoryRow], source: str) -> int:
    """Post a unit's movements over many days at once, in day order, all or nothing: each lot is
    replayed from its balance now and refused (``Conflict``) where it would go below zero. The
    movements are inserted in one statement and the balances written once each, with one ledger
    entry for the whole batch; the number of movements posted."""
    ctx.require_institution(unit.institution_id)
    _claim_source(ctx.db, source)
    current = today(ctx)
    if any(r.day > current for r in rows):
        raise ValidationFailed("La historia trae días que aún no llegan; no se registró nada.")
    ids = _require_claves(ctx.db, sorted({r.clave for r in rows}))
    locked = _locked_lots(ctx.db, unit.id, ids.values())
    held = {(b.clave_id, b.lot): b for found in locked.values() for b in found}
    balance = {key: (b.quantity, b.expiry) for key, b in held.items()}
    movements = []
    for row in sorted(rows, key=lambda r: r.day):
        key = (ids[row.clave], row.lot)
        before, expiry = balance.get(key, (0, row.expiry))
        balance[key] = (rules.apply(before, row.quantity, clave=row.clave, lot=row.lot), expiry)
        movements.append(
            {
                "day": row.day,
                "at": ctx.now,
                "unit_id": unit.id,
                "clave_id": key[0],
                "lot": row.lot,
                "expiry": expiry,
                "kind": row.kind.value,
                "quantity": row.quantity,
                "reason": row.reason,
                "source": source,
                "actor": ctx.actor.label,
            }
        )
    for (clave_id, lot), (quantity, expiry) in balance.items():
        found = held.get((clave_id, lot))
        if found is None:
            ctx.db.add(
                StockBalance(
                    unit_id=unit.id,
                    clave_id=clave_id,
                    lot=lot,
                    expiry=expiry,
                    quantity=quantity,
                    updated_at=ctx.now,
                )
            )
        else:
            found.quantity, found.updated_at = quantity, ctx.now
    ctx.db.flush()
    _insert_movements(ctx.db, movements)
    ctx.record(
        "stock.history",
        f"unit:{unit.institution.code}/{unit.code}",
        {
            "source": source,
            "movements": len(movements),
            "claves": len(ids),
            "first_day": min((r.day for r in rows), default=None),
            "last_day": max((r.day for r in rows), default=None),
        },
        public=False,
    )
    return len(movements)


_COPIED = [
    "day",
    "at",
    "unit_id",
    "clave_id",
    "lot",
    "expiry",
    "kind",
    "quantity",
    "reason",
    "source",
    "actor",
]


def _insert_movements(db: Session, movements: Sequence[Mapping[str, Any]]) -> None:
    """Insert movement rows in the session's transaction: by COPY on PostgreSQL (the bulk
    path of docs/scale.md), by one multi-row INSERT elsewhere."""
    if not movements:
        return
    _record_sources(db, (m["source"] for m in movements))
    if db.get_bind().dialect.name != "postgresql":
        db.execute(insert(cast(Table, StockMovement.__table__)), list(movements))
        return
    driver: Any = db.connection().connection.dbapi_connection
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY stock_movements ({', '.join(_COPIED)}) FROM STDIN") as copy,
    ):
        for row in movements:
            copy.write_row([row[c] for c in _COPIED])


# ----- consumption for the demand forecasts --------------------------------------------------


@dataclass(frozen=True, slots=True)
class MonthlyConsumption:
    unit_code: str
    clave: str
    consumed: int
    stockout_days: int


def monthly_consumption(db: Session, *, month: date) -> list[MonthlyConsumption]:
    """What each unit dispensed of each clave in the month (its first day), and the days it had
    none to give (``rules.Day.stockout``), rebuilt from the movements."""
    start = date(month.year, month.month, 1)
    end = _month_after(start) - timedelta(days=1)
    opening: dict[tuple[int, int], int] = {}
    for unit_id, clave_id, total in db.execute(
        select(StockMovement.unit_id, StockMovement.clave_id, func.sum(StockMovement.quantity))
        .where(StockMovement.day < start)
        .group_by(StockMovement.unit_id, StockMovement.clave_id)
    ):
        opening[(unit_id, clave_id)] = int(total)
    window = _daily_moves(db, start=start, end=end)
    keys = set(window) | {k for k, v in opening.items() if v > 0}
    units = dict(db.execute(select(Unit.id, Unit.code)).all())
    claves = dict(db.execute(select(Clave.id, Clave.clave)).all())
    found = []
    for unit_id, clave_id in sorted(keys):
        days = rules.daily_series(
            start=start,
            end=end,
            opening=opening.get((unit_id, clave_id), 0),
            movements=window.get((unit_id, clave_id), {}),
        )
        found.append(
            MonthlyConsumption(
                units[unit_id],
                claves[clave_id],
                sum(d.dispensed for d in days),
                rules.stockout_days(days),
            )
        )
    return found


def feed_demand(ctx: Context, *, month: date) -> int:
    """Hand the month's consumption per unit × clave, with its stock-out days, to the demand
    forecasts (``demand.service.import_consumption``, which adjusts for the stock-outs); the
    rows handed over."""
    rows = monthly_consumption(ctx.db, month=month)
    if not rows:
        return 0
    out = io.StringIO()
    writer = CsvWriter(out)
    writer.writerow(["Unidad", "Clave", "Mes", "Consumo", "Días sin existencia"])
    label = f"{month:%Y-%m}"
    writer.writerows([r.unit_code, r.clave, label, r.consumed, r.stockout_days] for r in rows)
    demand.import_consumption(
        ctx, content=out.getvalue().encode(), filename=f"consumo-inventario-{label}.csv"
    )
    return len(rows)


# ----- a national day in bulk ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DayRow:
    """A movement of a national day's load: unit and clave by id, as a feed gives them."""

    unit_id: int
    clave_id: int
    lot: str
    expiry: date
    kind: Kind
    quantity: int


def load_day(ctx: Context, *, day: date, rows: Sequence[DayRow], source: str) -> int:
    """``load_day_feed`` of rows in hand (a test, a small system): written as the feed's CSV."""

    def feed() -> Iterator[bytes]:
        out = io.StringIO()
        writer = CsvWriter(out)
        for start in range(0, len(rows), 10_000):
            writer.writerows(
                (r.unit_id, r.clave_id, r.lot, r.expiry.isoformat(), r.kind.value, r.quantity)
                for r in rows[start : start + 10_000]
            )
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()

    return load_day_feed(ctx, day=day, feed=feed(), source=source)


DAY_FEED_COLUMNS = ("unit_id", "clave_id", "lot", "expiry", "kind", "quantity")
"""The columns of a day's feed, a CSV without header (docs/scale.md)."""
DAY_FEED_MAX_ROWS = 2**28
"""The most rows a day's feed may have (268 M; a national day is about 25 M): on PostgreSQL,
the block of ids a load takes (migration 0018)."""
_SIGNS = {
    **{k.value: "> 0" for k in rules.INBOUND},
    **{k.value: "< 0" for k in rules.OUTBOUND},
    Kind.adjustment.value: "<> 0",
    Kind.physical_count.value: "<> 0",
}


def load_day_feed(
    ctx: Context,
    *,
    day: date,
    feed: Iterable[bytes],
    source: str,
    timings: dict[str, float] | None = None,
) -> int:
    """Load a day of movements of many units in set operations (the national path of
    docs/scale.md), all or nothing; the movements loaded. Buyers only; one ledger entry.

    The feed (CSV chunks of ``DAY_FEED_COLUMNS``) is COPYed as it comes, no Python per row. On
    PostgreSQL, when the day's month is partitioned by day (``ensure_month_partitions``) and
    the day has no partition yet, the COPY goes into a new table that becomes the day's
    partition: its rules are checked in one scan, its indexes built once, its foreign keys added
    ``NOT VALID`` and validated in one pass each, the day's movements already posted one by one
    moved in, and it is attached (its CHECK on ``day`` spares the attach a scan). Otherwise
    (SQLite, a day loaded twice, a month of the old layout) it goes through a temporary table
    and one ``INSERT … SELECT``. Either way a refused feed says which rule, how many rows and
    one of them, and nothing is loaded; then each lot's net change is added to its balance
    (``_apply_day_net``). A day is a set, not a sequence: no lot may end it below zero.
    Postings wait for none of it: refused while it runs (``POSTINGS_LOCK``).
    ``timings``, if given, receives the seconds of each step."""
    if not ctx.actor.has_role("comprador"):
        raise Forbidden("Sólo el comprador coordinador carga días completos de movimientos.")
    if day > today(ctx):
        raise ValidationFailed("No se cargan días que aún no llegan.")
    db = ctx.db
    _claim_source(db, source)
    try:
        clock = _Steps(timings)
        values = {"day": day, "at": ctx.now, "source": source, "actor": ctx.actor.label}
        if db.get_bind().dialect.name != "postgresql":
            loaded = _load_day_rows(db, feed, values, clock)
        else:
            # The grouping and the index builds of a national day fit in memory instead of
            # spilling; index builds and scans of the day's table take two parallel workers,
            # whose sorts share the memory: the 15 M balances' primary key took 5.4 s with 3 GB,
            # 8.0 s with 1 GB (national bench data, quiet machine).
            db.execute(text("SET LOCAL work_mem = '1GB'"))
            db.execute(text("SET LOCAL maintenance_work_mem = '3GB'"))
            _compress_wal(db)
            month = _day_partition_parent(db, day)
            # Postings under way finish first; those that come are refused until this commits.
            # (After the look for the day's partition: a load of the day that comes meanwhile
            # waits here, then is refused by the day's lock, as it was.)
            db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": POSTINGS_LOCK})
            if month is None:
                loaded = _load_day_rows(db, feed, values, clock)
            else:
                # One savepoint for the whole: a refused load leaves no table, index or key
                # behind, but the parts of a large day that were committed
                # (``_load_day_in_parts``): its rollback released the locks the load took on
                # them, and they go now.
                try:
                    with db.begin_nested():
                        loaded = _load_day_partition(db, feed, values, month, clock)
                except BaseException:
                    with suppress(DBAPIError):
                        drop_leftover_parts(db.get_bind().engine, day)
                    raise
    except BaseException:
        # Refused: the source is free again, for this transaction goes on (a refusal loads
        # nothing) and a mended feed of the same source may follow in it.
        _release_source(db, source)
        raise
    ctx.record(
        "stock.day",
        "inventory",
        {"day": day, "source": source, "movements": loaded},
        public=False,
    )
    return loaded


def _compress_wal(db: Session | Connection) -> None:
    """The transaction's full-page images compressed (lz4), where this role may set it (a
    superuser, or one granted ``SET ON PARAMETER wal_compression``): a day's load writes every
    page of the indexes it builds into the WAL, 2.3 GB of a national day's 5.6 GB."""
    if db.scalar(
        text(
            "SELECT has_parameter_privilege('wal_compression', 'SET') AND 'lz4' = ANY(enumvals)"
            " FROM pg_settings WHERE name = 'wal_compression'"
        )
    ):
        db.execute(text("SET LOCAL wal_compression = lz4"))


class _Steps:
    """The seconds of each step of a day's load, into the caller's dict if it gave one."""

    def __init__(self, into: dict[str, float] | None) -> None:
        self.into, self.last = into, time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        if self.into is not None:
            self.into[step] = self.into.get(step, 0.0) + now - self.last
        self.last = now


def _load_day_rows(
    db: Session, feed: Iterable[bytes], values: dict[str, Any], clock: _Steps
) -> int:
    """The day through a temporary table and one ``INSERT … SELECT`` into ``stock_movements``."""
    postgres = db.get_bind().dialect.name == "postgresql"
    db.execute(
        text(
            "CREATE TEMPORARY TABLE day_load (unit_id integer, clave_id integer, lot varchar(40),"
            " expiry date, kind varchar(20), quantity integer)"
        )
    )
    try:
        if postgres:
            _copy_feed(db, feed, "day_load")
            # A temporary table has no statistics until told: without them the joins below are
            # planned for a handful of rows.
            db.execute(text("ANALYZE day_load"))
        else:
            _insert_feed(db, feed)
        clock.lap("copy")
        loaded = _check_day_load(db, "day_load")
        clock.lap("rules")
        db.execute(
            text(
                "INSERT INTO stock_movements (day, at, unit_id, clave_id, lot, expiry, kind,"
                " quantity, source, actor) SELECT :day, :at, unit_id, clave_id, lot, expiry, kind,"
                " quantity, :source, :actor FROM day_load"
            ),
            values,
        )
        clock.lap("movements")
        _apply_day_net(db, "day_load", loaded, values, clock)
    finally:
        db.execute(text("DROP TABLE day_load"))
    return loaded


def _day_partition_parent(db: Session, day: date) -> str | None:
    """The month partition ``day``'s own partition would be attached to: one partitioned by day
    (``ensure_month_partitions``) where the day has no partition yet; None otherwise."""
    month = f"stock_movements_{day:%Y_%m}"
    found = db.execute(
        text(
            "SELECT (SELECT relkind FROM pg_class WHERE oid = to_regclass(:month)),"
            " to_regclass(:day) IS NOT NULL"
        ),
        {"month": month, "day": f"stock_movements_{day:%Y_%m_%d}"},
    ).one()
    return month if found[0] == "p" and not found[1] else None


def _load_day_partition(
    db: Session, feed: Iterable[bytes], values: dict[str, Any], month: str, clock: _Steps
) -> int:
    """The day COPYed into the table that becomes its partition of ``month``, checked, indexed
    and constrained once (a large feed in ``DAY_LOAD_CONNECTIONS`` parts side by side:
    ``_load_day_in_parts``), its lots' net changes added to their balances, the day's movements
    already posted one by one moved in, and attached."""
    day: date = values["day"]
    table = f"stock_movements_{day:%Y_%m_%d}"
    # One load of a day at a time: another waits for this one's transaction to end, then finds
    # the day's table (or this one's leftover parts, which it drops).
    db.execute(
        text("SELECT pg_advisory_xact_lock(:lock, :day)"),
        {"lock": DAY_LOAD_LOCK, "day": day.toordinal()},
    )
    # Read from pg_class as a table (this statement's snapshot), not through the catalog's cache
    # (``to_regclass``), which may not yet know of a table another load committed meanwhile.
    if db.scalar(
        text(
            "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = :table"
            " AND relnamespace = current_schema()::regnamespace)"
        ),
        {"table": table},
    ):
        raise Conflict(ANOTHER_LOAD)
    driver: Any = db.connection().connection.dbapi_connection
    constants = {k: psycopg.sql.Literal(v).as_string(driver) for k, v in values.items()}
    constants["after"] = psycopg.sql.Literal(day + timedelta(days=1)).as_string(driver)
    columns = _movement_columns(db)
    head, feed = _peek(feed, PARTS_FROM_BYTES)
    parts = None
    if head >= PARTS_FROM_BYTES:
        parts = _load_day_in_parts(db, feed, constants, columns, table, day, clock)
    if parts is None:
        loaded = _load_day_table(db, feed, constants, columns, table, clock)
        # The balances from the feed's rows alone, before the day's other movements join them.
        _apply_day_net(db, table, loaded, values, clock, indexed=True)
    else:
        loaded = parts.loaded
        # From the parts, before they are attached (which locks them from other connections).
        names = [name for name, _, _ in parts.ranges]
        union = " UNION ALL ".join(f"SELECT * FROM {name}" for name in names)
        rows = f"({union}) AS day_rows"
        _apply_day_net(db, rows, loaded, values, clock, indexed=True, parts=names)
        _attach_parts(db, table, parts)
    # The day's movements already posted one by one move into the day's partition; the month's
    # default partition stays locked (postings to this month wait) until the load commits.
    rest = f"{month}_default"
    db.execute(text(f"LOCK TABLE {rest} IN ACCESS EXCLUSIVE MODE"))
    # By name: the day's table has its columns in another order (``PER_LOAD_COLUMNS`` last).
    listed = ", ".join(f'"{name}"' for name, _, _ in columns)
    db.execute(
        text(
            f"WITH moved AS (DELETE FROM {rest} WHERE day = :day RETURNING *)"
            f" INSERT INTO {table} ({listed}) SELECT {listed} FROM moved"
        ),
        values,
    )
    db.execute(
        text(
            f"ALTER TABLE {month} ATTACH PARTITION {table} FOR VALUES FROM ({constants['day']})"
            f" TO ({constants['after']})"
        )
    )
    clock.lap("attach")
    return loaded


DAY_LOAD_LOCK = 17_0001
"""The advisory lock's first key that, with the day's ordinal, serialises the loads of a day."""
ANOTHER_LOAD = "Otra carga de ese día terminó mientras tanto; no se cargó nada."


PER_LOAD_COLUMNS = ("at", "reason", "source", "actor")
"""The movements' columns whose value is the load's, the same in every row of a day's table:
added to it after the COPY, their value kept once in the catalog as the column's missing value
(what PostgreSQL answers for rows stored before the column was added) instead of in each row.
The rows are 46 % smaller: less to write, to log and to read in each pass that follows."""


Columns = Sequence[tuple[str, str, bool]]
"""``stock_movements``' columns in order: each one's name, type and whether it is NOT NULL
(``_movement_columns``), read once by a load."""


def _day_table(
    table: str,
    first: int,
    rows: int,
    constants: Mapping[str, str],
    columns: Columns,
    *,
    part: bool = False,
) -> list[str]:
    """The statements that make ``table``: the feed's table, with the movements' columns but
    ``PER_LOAD_COLUMNS`` (``_end_day_table`` adds them), ``day`` defaulting to the load's
    (``constants``, as SQL literals, and ``after``: the next day), its ids numbered from
    ``first`` by a sequence of this session that caches them (the shared one cost ~30 % of the
    COPY), at most ``rows`` of them, and a CHECK on its day that spares an ATTACH its scan; a
    ``part``'s on its ids too (the day's table is partitioned by them)."""
    day, after = constants["day"], constants["after"]
    definitions = ", ".join(
        f'"{name}" {kind}' + (" NOT NULL" if required else "")
        for name, kind, required in columns
        if name not in PER_LOAD_COLUMNS
    )
    return [
        # What the table is made like stays as it is until the load ends; a part that cannot
        # have this lock in time leaves the day to one table (``_load_day_in_parts``).
        "LOCK TABLE stock_movements IN ACCESS SHARE MODE",
        f"CREATE TEMPORARY SEQUENCE day_ids START {first} MINVALUE {first}"
        f" MAXVALUE {first + rows - 1} CACHE 10000",
        f"CREATE TABLE {table} ({definitions})",
        f"ALTER TABLE {table} ALTER id SET DEFAULT nextval('pg_temp.day_ids'),"
        f" ALTER day SET DEFAULT {day}"
        f", ADD CONSTRAINT {table}_day CHECK (day >= {day} AND day < {after})"
        + (
            f", ADD CONSTRAINT {table}_ids CHECK (id >= {first} AND id < {first + rows})"
            if part
            else ""
        ),
    ]


def _movement_columns(db: Session | Connection) -> Columns:
    """``stock_movements``' columns (``Columns``)."""
    return [
        (row[0], row[1], row[2])
        for row in db.execute(
            text(
                "SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute"
                " WHERE attrelid = 'stock_movements'::regclass AND attnum > 0"
                " AND NOT attisdropped ORDER BY attnum"
            )
        )
    ]


def _index_day_table(db: Session | Connection, table: str) -> None:
    """``table``'s primary key and the parent's indexes, built once each (by parallel workers);
    the attach adopts them. Their pages are packed full: a day's table is written once, and the
    10 % a leaf keeps by default for later inserts would wait for the few movements posted one
    by one on a past day."""
    full = " WITH (fillfactor = 100)"
    db.execute(text(f"ALTER TABLE {table} ADD PRIMARY KEY (id, day){full}"))
    for (definition,) in db.execute(
        text(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid ="
            " 'stock_movements'::regclass AND NOT indisprimary ORDER BY indexrelid"
        )
    ).all():
        statement = re.sub(
            r"^CREATE INDEX \S+ ON (ONLY )?\S+", f"CREATE INDEX ON {table}", definition
        )
        if " WITH (" not in statement and " WHERE " not in statement:
            statement += full
        db.execute(text(statement))


def _end_day_table(
    db: Session | Connection, table: str, constants: Mapping[str, str], columns: Columns
) -> None:
    """``PER_LOAD_COLUMNS`` added to ``table`` with the load's values (``constants``; no reason)
    as their missing values, without a pass over its rows; then no column keeps a default, and
    the session's sequence of ids goes."""
    kinds = {name: (kind, required) for name, kind, required in columns}
    db.execute(
        text(
            f"ALTER TABLE {table} "
            + ", ".join(
                f'ADD COLUMN "{name}" {kinds[name][0]}'
                + (f" DEFAULT {constants[name]}" if name in constants else "")
                + (" NOT NULL" if kinds[name][1] else "")
                for name in PER_LOAD_COLUMNS
            )
        )
    )
    db.execute(
        text(
            f"ALTER TABLE {table} "
            + ", ".join(f'ALTER "{k}" DROP DEFAULT' for k in ("id", *constants) if k != "after")
        )
    )
    db.execute(text("DROP SEQUENCE pg_temp.day_ids"))


def _load_day_table(
    db: Session,
    feed: Iterable[bytes],
    constants: Mapping[str, str],
    columns: Columns,
    table: str,
    clock: _Steps,
) -> int:
    """The day COPYed into one new table in the caller's transaction, its rules checked, its
    indexes built and its foreign keys validated."""
    # The rows' ids: one block of ``stock_movement_blocks`` (migration 0018). The table and the
    # sequence are made in the savepoint the COPY runs in, so that COPY may FREEZE the rows: no
    # later pass over 25 M rows to set their hint bits, and the visibility map is set as they
    # load.
    first = db.scalar(text("SELECT nextval('stock_movement_blocks')"))
    made = _day_table(table, first, DAY_FEED_MAX_ROWS, constants, columns)
    _copy_feed(db, feed, f"{table} ({', '.join(DAY_FEED_COLUMNS)})", made=made)
    clock.lap("copy")
    db.execute(text(f"ANALYZE {table}"))
    loaded = _check_day_load(db, table, joined=False)
    clock.lap("rules")
    _index_day_table(db, table)
    clock.lap("indexes")
    try:
        with db.begin_nested():
            _add_foreign_keys(db, table, _foreign_keys(db, "stock_movements"))
    except IntegrityError:
        # A unit or clave that does not exist: the rules' report says which rows, and how many.
        _check_day_load(db, table)
        raise
    clock.lap("foreign keys")
    _end_day_table(db, table, constants, columns)
    return loaded


# ----- a large day in parts, one connection each ----------------------------------------------

PARTS_FROM_BYTES = 64 << 20
"""The feed's size from which a day is loaded in parts (about 2.8 M rows of the national feed)."""
DAY_LOAD_CONNECTIONS = 2
"""The parts of a large day, each COPYed, checked, indexed and constrained by a connection of
its own: the machine's cores."""
PART_LOCK_TIMEOUT = "3s"
"""How long a part's connection waits for a lock (one the caller's transaction may hold) before
the load goes on without it: in one table, or validating the part's keys on the caller's
connection."""
_POLL = 0.2


def _peek(feed: Iterable[bytes], size: int) -> tuple[int, Iterator[bytes]]:
    """The bytes among the feed's first chunks, up to ``size``, and the whole feed again."""
    chunks = iter(feed)
    head: list[bytes] = []
    seen = 0
    for chunk in chunks:
        head.append(chunk)
        seen += len(chunk)
        if seen >= size:
            break
    return seen, itertools.chain(head, chunks)


def _part_names(table: str) -> list[str]:
    return [f"{table}_p{k}" for k in range(DAY_LOAD_CONNECTIONS)]


def drop_leftover_parts(engine: Engine, day: date, *, locked: bool = False) -> list[str]:
    """Drop the parts of ``day``'s table that a load committed and did not attach (it was
    refused after they were made, or its caller rolled back): never part of the stock record.
    Run by the next load of that day, which holds the day's lock (``locked``), and by a refused
    load once its savepoint let go of the lock; not while another load of the day holds it (its
    parts are not leftovers). The tables dropped."""
    table = f"stock_movements_{day:%Y_%m_%d}"
    dropped: list[str] = []
    with engine.connect() as conn:
        conn.execute(text(f"SET LOCAL lock_timeout = '{PART_LOCK_TIMEOUT}'"))
        # Not while another load of the day runs (its parts are not leftovers): it drops them.
        if not locked and not conn.scalar(
            text("SELECT pg_try_advisory_xact_lock(:lock, :day)"),
            {"lock": DAY_LOAD_LOCK, "day": day.toordinal()},
        ):
            return dropped
        for name in _part_names(table):
            if conn.scalar(
                text(
                    "SELECT NOT relispartition FROM pg_class WHERE oid = to_regclass(:name)"
                    " AND relkind = 'r'"
                ),
                {"name": name},
            ):
                conn.execute(text(f"DROP TABLE {name}"))
                dropped.append(name)
        conn.commit()
    return dropped


def _load_day_in_parts(
    db: Session,
    feed: Iterator[bytes],
    constants: Mapping[str, str],
    columns: Columns,
    table: str,
    day: date,
    clock: _Steps,
) -> _Parts | None:
    """The feed's lines dealt, chunk by chunk, to ``DAY_LOAD_CONNECTIONS`` connections, each
    COPYing its share into a table of its own, checking its rules, and — once every part is
    known to be good — building its indexes and validating its foreign keys and committing: the
    rows loaded and each part's range of ids, which ``_attach_parts`` makes the day's table
    of. None, with nothing consumed past what
    ``_peek`` read, if a part could not start (a lock held for longer than
    ``PART_LOCK_TIMEOUT``, which may be the caller's own): the caller loads the day in one table.

    A refused feed commits nothing. Parts committed by a load refused afterwards (or whose
    caller rolls back) are not attached to anything, so not part of the stock record; the load
    drops them when it can, and the next load of the day drops what is left
    (``drop_leftover_parts``)."""
    engine = db.get_bind().engine
    drop_leftover_parts(engine, day, locked=True)
    first = db.scalar(text("SELECT nextval('stock_movement_blocks')"))
    span = DAY_FEED_MAX_ROWS // DAY_LOAD_CONNECTIONS
    parts = [
        _Part(engine, name, first + k * span, span, constants, columns)
        for k, name in enumerate(_part_names(table))
    ]
    for part in parts:
        part.start()
    try:
        if not all(part.expect("ready") for part in parts):
            return None
        _deal(feed, parts)
        checked = [part.expect("checked") for part in parts]
        if any(broken for _, broken in checked):
            for part in parts:
                part.decide("report")
            reported = [part.expect("reported") for part in parts]
            _refuse(_merged(reported))
        clock.lap("copy and rules")
        for part in parts:
            part.decide("go")
        keyed = {part.table: part.expect("done") for part in parts}
        clock.lap("indexes and keys")
        if unkeyed := [name for name, keys in keyed.items() if keys != "valid"]:
            # The caller's transaction sees what the parts' could not (units it made itself):
            # the rules' report if a unit or clave is missing, else the keys validated here.
            _check_day_load(db, f"({' UNION ALL '.join(f'SELECT * FROM {n}' for n in unkeyed)})")
            keys = _foreign_keys(db, "stock_movements")
            for name in unkeyed:
                if keyed[name] == "added":
                    _validate_foreign_keys(db, name, keys)
                else:
                    _add_foreign_keys(db, name, keys)
            clock.lap("foreign keys")
        return _Parts(
            int(sum(total for total, _ in checked)),
            [(part.table, part.first, part.first + span) for part in parts],
        )
    finally:
        for part in parts:
            part.stop()


@dataclass(frozen=True)
class _Parts:
    loaded: int
    ranges: list[tuple[str, int, int]]
    """Each part's table and the range of its ids (the first, and the one after its last)."""


def _attach_parts(db: Session, table: str, parts: _Parts) -> None:
    """The day's table made, partitioned by id, of the parts (their CHECKs on ids spare each
    attach its scan) and a default partition where the day's movements posted one by one go."""
    db.execute(text(f"CREATE TABLE {table} (LIKE stock_movements) PARTITION BY RANGE (id)"))
    for name, first, after in parts.ranges:
        db.execute(
            text(
                f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM ({first})"
                f" TO ({after})"
            )
        )
    db.execute(text(f"CREATE TABLE {table}_rest PARTITION OF {table} DEFAULT"))


def _merged(reports: Iterable[Broken]) -> Broken:
    """The parts' broken rules as one: their counts added, the first part's example."""
    merged: Broken = {}
    for broken in reports:
        for rule, (count, example) in broken.items():
            before = merged.get(rule)
            merged[rule] = (count + before[0], before[1]) if before else (count, example)
    return merged


def _deal(feed: Iterator[bytes], parts: Sequence[_Part]) -> None:
    """The feed's chunks, cut after their last line, to each part in turn; then the end."""
    carry = b""
    line = 1
    turn = 0
    for chunk in feed:
        data = carry + chunk if carry else chunk
        cut = data.rfind(b"\n") + 1
        if not cut:
            carry = data
            continue
        piece, carry = data[:cut], data[cut:]
        if not parts[turn].put(piece, line):
            break  # the part failed: what it says is the load's answer
        line += piece.count(b"\n")
        turn = (turn + 1) % len(parts)
    else:
        if carry:
            parts[turn].put(carry, line)
    for part in parts:
        part.put(None, line)


class _Part(threading.Thread):
    """One part of a large day: its own connection and transaction, driven by the load through
    messages — ``ready`` (its table made), ``checked`` (its rows COPYed and the rules counted),
    then, told ``report``, the rules counted with the units and claves (``reported``) and
    nothing kept, or, told ``go``, its indexes built and committed, and its foreign keys added
    and validated (``done``: ``valid``, or ``added`` and not validated, or ``none`` when it
    could not take their locks: the caller's to finish)."""

    def __init__(
        self,
        engine: Engine,
        name: str,
        first: int,
        span: int,
        constants: Mapping[str, str],
        columns: Columns,
    ) -> None:
        super().__init__(name=f"day-load-{name}", daemon=True)
        self.engine, self.first, self.span, self.constants = engine, first, span, constants
        self.columns = columns
        self.table = name
        self.chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self.decisions: queue.Queue[str] = queue.Queue()
        self.posts: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.lines: list[tuple[int, int]] = []  # (the part's first line, the feed's) per chunk
        self.part_lines = 1
        self.stopping = threading.Event()
        self.failed = threading.Event()

    # -- the load's side --

    def put(self, chunk: bytes | None, line: int) -> bool:
        """A chunk (None: the end) for the COPY; False if the part failed or stopped."""
        if chunk is not None:
            self.lines.append((self.part_lines, line))
            self.part_lines += chunk.count(b"\n")
        while not (self.failed.is_set() or self.stopping.is_set()):
            try:
                self.chunks.put(chunk, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def decide(self, decision: str) -> None:
        self.decisions.put(decision)

    def expect(self, step: str) -> Any:
        """What the part posts at ``step``; its error raised if it failed instead. At ``ready``,
        False if it could not take a lock in time."""
        got, value = self.posts.get()
        if got == "failed":
            if step == "ready" and _lock_timeout(value):
                return False
            raise value
        if got != step:
            raise RuntimeError(f"day load part {self.table}: {got} instead of {step}")
        return True if value is None else value

    def stop(self) -> None:
        """Ends the part (rolled back unless it committed) and waits for it."""
        self.stopping.set()
        if self.is_alive():
            self.join()

    # -- the part's thread --

    def run(self) -> None:
        try:
            with self.engine.connect() as conn:
                self._load(conn)
        except BaseException as exc:  # handed to the load, which raises it
            self.failed.set()
            self.posts.put(("failed", exc))

    def _next(self, source: queue.Queue[Any]) -> Any:
        while True:
            try:
                return source.get(timeout=_POLL)
            except queue.Empty:
                if self.stopping.is_set():
                    raise _Stopped() from None

    def _load(self, conn: Connection) -> None:
        conn.execute(text(f"SET LOCAL lock_timeout = '{PART_LOCK_TIMEOUT}'"))
        conn.execute(text("SET LOCAL work_mem = '1GB'"))
        conn.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
        _compress_wal(conn)
        # The parts already keep every core busy: each scans and builds its indexes in one
        # process.
        conn.execute(text("SET LOCAL max_parallel_maintenance_workers = 0"))
        conn.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
        for statement in _day_table(
            self.table, self.first, self.span, self.constants, self.columns, part=True
        ):
            conn.execute(text(statement))
        self.posts.put(("ready", None))
        driver: Any = conn.connection.dbapi_connection
        try:
            with (
                driver.cursor() as cursor,
                cursor.copy(
                    f"COPY {self.table} ({', '.join(DAY_FEED_COLUMNS)}) FROM STDIN"
                    " (FORMAT csv, FREEZE)"
                ) as copy,
            ):
                while (chunk := self._next(self.chunks)) is not None:
                    copy.write(chunk)
        except psycopg.Error as exc:
            raise _feed_error(self._in_feed(str(exc))) from exc
        conn.execute(text(f"ANALYZE {self.table}"))
        self.posts.put(("checked", _broken_rules(conn, self.table, joined=False)))
        decision = self._next(self.decisions)
        if decision == "report":
            self.posts.put(("reported", _broken_rules(conn, self.table, joined=True)[1]))
            return
        _index_day_table(conn, self.table)
        _end_day_table(conn, self.table, self.constants, self.columns)
        # Adding a key locks the units and claves against other keys being added (the other
        # parts') until the transaction ends: added NOT VALID and committed at once, then
        # validated in a transaction of its own, which lets the other parts' run beside it.
        keys = _foreign_keys(conn, "stock_movements")
        added = valid = False
        try:
            with conn.begin_nested():
                _add_foreign_keys(conn, self.table, keys, validate=False)
            added = True
        except OperationalError:
            pass  # a lock held (maybe by the caller, which adds them itself)
        conn.commit()
        if added:
            try:
                # A transaction of its own: the first's lock timeout ended with its commit.
                conn.execute(text(f"SET LOCAL lock_timeout = '{PART_LOCK_TIMEOUT}'"))
                _validate_foreign_keys(conn, self.table, keys)
                conn.commit()
                valid = True
            except (IntegrityError, OperationalError):
                conn.rollback()  # a missing unit or clave, or a lock: the caller's to say
        self.posts.put(("done", "valid" if valid else "added" if added else "none"))

    def _in_feed(self, detail: str) -> str:
        """A COPY error's line number, of this part, as the feed's."""

        def feed_line(found: re.Match[str]) -> str:
            number = int(found.group(1))
            starts = [p for p, _ in self.lines]
            at = max(bisect.bisect_right(starts, number) - 1, 0)
            part_start, feed_start = self.lines[at] if self.lines else (1, 1)
            return f"line {feed_start + number - part_start}"

        day_table = self.table.rsplit("_p", 1)[0]
        return re.sub(r"line (\d+)", feed_line, detail.replace(self.table, day_table))


class _Stopped(Exception):
    """The load stopped a part before it finished."""


def _lock_timeout(error: BaseException) -> bool:
    return sqlstate(error) == "55P03"


def _foreign_keys(db: Session | Connection, table: str) -> list[tuple[str, str]]:
    """``table``'s foreign keys: each one's name and definition."""
    return [
        (row[0], row[1])
        for row in db.execute(
            text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE conrelid = to_regclass(:table) AND contype = 'f' ORDER BY conname"
            ),
            {"table": table},
        )
    ]


def _add_foreign_keys(
    db: Session | Connection,
    table: str,
    keys: Sequence[tuple[str, str]],
    *,
    validate: bool = True,
) -> None:
    """``keys`` added to ``table`` ``NOT VALID`` and (unless told not to) validated: one pass
    each over the table instead of a lookup per inserted row, and the same guarantee."""
    for name, definition in keys:
        db.execute(text(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition} NOT VALID"))
    if validate:
        _validate_foreign_keys(db, table, keys)


def _validate_foreign_keys(
    db: Session | Connection, table: str, keys: Sequence[tuple[str, str]]
) -> None:
    for name, _ in keys:
        db.execute(text(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}"))


def _copy_feed(db: Session, feed: Iterable[bytes], into: str, made: Sequence[str] = ()) -> None:
    """COPY the feed's chunks as they come; a malformed row is refused with its line. ``made``:
    the statements that create the table, run first; then the COPY FREEZEs its rows, which it may
    only do in the savepoint that made the table: the caller's, which it must roll back."""
    try:
        # Else in a savepoint (emitted when the session hands out its connection): a refused
        # feed leaves the transaction usable, so the temporary table can be dropped.
        with nullcontext() if made else db.begin_nested():
            for statement in made:
                try:
                    db.execute(text(statement))
                except DBAPIError as exc:
                    if sqlstate(exc) != "42P07":  # duplicate table
                        raise
                    raise Conflict(ANOTHER_LOAD) from exc
            driver: Any = db.connection().connection.dbapi_connection
            options = "FORMAT csv, FREEZE" if made else "FORMAT csv"
            with (
                driver.cursor() as cursor,
                cursor.copy(f"COPY {into} FROM STDIN ({options})") as copy,
            ):
                for chunk in feed:
                    copy.write(chunk)
    except psycopg.Error as exc:
        raise _feed_error(str(exc)) from exc


def _feed_error(detail: str) -> ValidationFailed:
    if "day_ids" in detail:  # the sequence numbering the rows ran out
        return ValidationFailed(
            f"El archivo del día trae más de {DAY_FEED_MAX_ROWS:,} renglones; no se cargó nada.",
            problems=[Problem("Demasiados renglones.", expected=f"a lo más {DAY_FEED_MAX_ROWS:,}")],
        )
    first = detail.strip().splitlines()[0] if detail.strip() else detail
    context = next((x for x in detail.splitlines() if "COPY " in x), "")
    return ValidationFailed(
        "El archivo del día no se pudo leer; no se cargó nada.",
        problems=[
            Problem(
                "Renglón mal formado.",
                value=" — ".join(x for x in (context.replace("CONTEXT:", "").strip(), first) if x)[
                    :300
                ],
                expected="unit_id,clave_id,lote,aaaa-mm-dd,tipo,cantidad",
            )
        ],
    )


def _insert_feed(db: Session, feed: Iterable[bytes]) -> None:
    """The feed into the temporary table where there is no COPY (SQLite: tests, demos)."""
    text_feed = io.StringIO(b"".join(feed).decode("utf-8"))
    rows = []
    for number, row in enumerate(csv.reader(text_feed), start=1):
        try:
            unit_id, clave_id, lot, expiry, kind, quantity = row
            rows.append(
                {"u": int(unit_id), "c": int(clave_id), "l": lot, "e": date.fromisoformat(expiry)}
                | {"k": kind, "q": int(quantity)}
            )
        except ValueError as exc:
            raise ValidationFailed(
                "El archivo del día no se pudo leer; no se cargó nada.",
                problems=[
                    Problem(
                        "Renglón mal formado.",
                        row=number,
                        value=",".join(row)[:200],
                        expected="unit_id,clave_id,lote,aaaa-mm-dd,tipo,cantidad",
                    )
                ],
            ) from exc
    if rows:
        db.execute(text("INSERT INTO day_load VALUES (:u, :c, :l, :e, :k, :q)"), rows)


_DAY_RULES = {
    "unit": ("u.id IS NULL", "La unidad no existe.", "unit_id", "el id de una unidad registrada"),
    "clave": ("c.id IS NULL", "La clave no existe.", "clave_id", "el id de una clave del catálogo"),
    "kind": (
        f"d.kind NOT IN ({', '.join(repr(k) for k in _SIGNS)})",
        "Tipo de movimiento desconocido.",
        "kind",
        ", ".join(_SIGNS),
    ),
    "sign": (
        # One CASE on the kind rather than a test per kind: 15 % less of the rules' scan.
        "CASE d.kind "
        + " ".join(f"WHEN '{k}' THEN NOT d.quantity {sign}" for k, sign in _SIGNS.items())
        + " END OR d.quantity IS NULL",
        "La cantidad no tiene el signo de su tipo.",
        "quantity",
        "entradas positivas, salidas negativas, ajustes distintos de cero",
    ),
    "lot": (
        "d.lot IS NULL OR LENGTH(d.lot) < 1 OR LENGTH(d.lot) > 40 OR d.expiry IS NULL",
        "Falta el lote o su caducidad.",
        "lot",
        "un lote de 1 a 40 caracteres y su caducidad",
    ),
}


Broken = dict[str, tuple[int, tuple[Any, ...]]]
"""The rules a day's rows break: each one's count and one row that breaks it."""


def _broken_rules(db: Session | Connection, table: str, *, joined: bool) -> tuple[int, Broken]:
    """The rows of ``table`` and the rules they break, in one scan (and one look-up of an
    example per broken rule). ``joined=False`` leaves the units and claves to the foreign keys."""
    rules_here = {k: v for k, v in _DAY_RULES.items() if joined or k not in ("unit", "clave")}
    joins = (
        " LEFT JOIN units u ON u.id = d.unit_id LEFT JOIN claves c ON c.id = d.clave_id"
        if joined
        else ""
    )
    counts = ", ".join(
        f"SUM(CASE WHEN {test} THEN 1 ELSE 0 END)" for test, *_ in rules_here.values()
    )
    total, *broken = db.execute(text(f"SELECT COUNT(*), {counts} FROM {table} d{joins}")).one()
    found: Broken = {}
    for (rule, (test, *_)), count in zip(rules_here.items(), broken, strict=True):
        if count:
            example = db.execute(
                text(
                    "SELECT d.unit_id, d.clave_id, d.lot, d.expiry, d.kind, d.quantity"
                    f" FROM {table} d{joins} WHERE {test} LIMIT 1"
                )
            ).one()
            found[rule] = (int(count), tuple(example))
    return int(total or 0), found


def _refuse(broken: Broken) -> None:
    """A ``ValidationFailed`` naming each broken rule (in the rules' order), if any is."""
    problems = []
    for rule, (_, message, column, expected) in _DAY_RULES.items():
        if rule in broken:
            count, example = broken[rule]
            problems.append(
                Problem(
                    f"{message} {count_of(count, 'renglón', 'renglones')} así.",
                    column=column,
                    value=",".join("" if v is None else str(v) for v in example)[:200],
                    expected=expected,
                )
            )
    if problems:
        raise ValidationFailed(
            "El archivo del día tiene renglones que no se pueden cargar; no se cargó nada.",
            problems=problems,
        )


def _check_day_load(db: Session | Connection, table: str, *, joined: bool = True) -> int:
    """Every rule over the loaded rows in one scan; refused, the problems name each broken
    rule, how many rows break it and one of them. The rows loaded. ``joined=False`` leaves the
    units and claves to the foreign keys (validated next) and, if a row breaks another rule,
    reports with every rule as ``joined`` does."""
    total, broken = _broken_rules(db, table, joined=joined)
    if broken and not joined:
        total, broken = _broken_rules(db, table, joined=True)
    _refuse(broken)
    return total


def _apply_day_net(
    db: Session,
    rows: str,
    loaded: int,
    values: dict[str, Any],
    clock: _Steps,
    *,
    indexed: bool = False,
    parts: Sequence[str] = (),
) -> None:
    """Each lot's net change over the day's ``rows`` (``loaded`` of them; ``indexed``: listed
    by the movements' index, a day's partition or its parts) added to its balance
    by one ``UPDATE … FROM``; the new lots inserted by one ``INSERT … SELECT`` in key order, or,
    on a first day (at least ``REBUILD_BALANCES_AT`` rows, and twice the balances there), with
    the balances' keys, indexes and foreign keys dropped and built again once
    (``_rebuilt_balances``). A lot that would end the day below zero trips the balances' CHECK:
    ``Conflict`` naming it."""
    postgres = db.get_bind().dialect.name == "postgresql"
    day: date = values["day"]
    # Each lot's net change, grouped where it is used rather than written to a table first.
    # In a day's partition, by its index's key (the day is one): read in order from the index.
    partition = indexed
    by = "unit_id, clave_id, day, lot" if partition else "unit_id, clave_id, lot"
    net = (
        "(SELECT unit_id, clave_id, lot, MIN(expiry) AS expiry, SUM(quantity) AS total"
        f" FROM {rows} GROUP BY {by}) AS net"
    )
    same_lot = (
        "net.unit_id = stock_balances.unit_id AND net.clave_id ="
        " stock_balances.clave_id AND net.lot = stock_balances.lot"
    )
    if partition:
        # Grouped from the index in order (hashing 15 M lots costs more), in one process.
        db.execute(text("SET LOCAL enable_hashagg = off"))
        db.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    try:
        with db.begin_nested():
            there = db.scalar(
                text("SELECT COUNT(*) FROM (SELECT 1 FROM stock_balances LIMIT :n) AS b"),
                {"n": loaded // 2 + 1},
            )
            new_lots = (
                f"SELECT net.unit_id, net.clave_id, net.lot, net.expiry, net.total, :at FROM {net}"
                + (
                    f" WHERE NOT EXISTS (SELECT 1 FROM stock_balances WHERE {same_lot})"
                    if there
                    else ""
                )
            )
            if there:
                db.execute(
                    text(
                        "UPDATE stock_balances SET quantity = stock_balances.quantity +"
                        f" net.total, updated_at = :at FROM {net}"
                        f" WHERE {same_lot} AND net.total <> 0"
                    ),
                    values,
                )
            clock.lap("balances updated")
            if postgres and loaded >= REBUILD_BALANCES_AT and there * 2 <= loaded:
                _rebuilt_balances(db, new_lots, values, clock, parts=parts)
            else:
                db.execute(
                    text(
                        "INSERT INTO stock_balances (unit_id, clave_id, lot, expiry, quantity,"
                        f" updated_at) {new_lots}"
                        # In the primary key's order: each index page is filled once instead of
                        # visited at random.
                        " ORDER BY net.unit_id, net.clave_id, net.lot"
                    ),
                    values,
                )
                clock.lap("balances inserted")
    except IntegrityError as exc:
        below = db.execute(
            text(
                "SELECT net.unit_id, net.clave_id, net.lot, COALESCE(stock_balances.quantity,"
                f" 0), net.total FROM {net} LEFT JOIN stock_balances ON {same_lot}"
                " WHERE COALESCE(stock_balances.quantity, 0) + net.total < 0"
                " ORDER BY net.unit_id, net.clave_id, net.lot LIMIT 1"
            )
        ).first()
        where = (
            f" (unidad {below[0]}, clave {below[1]}, lote «{below[2]}»: había {below[3]},"
            f" el día mueve {below[4]})"
            if below
            else ""
        )
        raise Conflict(
            f"La carga del {day.isoformat()} dejaría algún lote bajo cero{where}; no se cargó nada."
        ) from exc
    finally:
        if partition:
            db.execute(text("SET LOCAL enable_hashagg TO DEFAULT"))
            db.execute(text("SET LOCAL max_parallel_workers_per_gather TO DEFAULT"))


REBUILD_BALANCES_AT = 1_000_000
"""The rows of a day from which, if they are also at least twice the balances already there
(a first day), the day's load builds the balances' keys and indexes once instead of inserting
into them row by row."""


def _rebuilt_balances(
    db: Session,
    new_lots: str,
    values: dict[str, Any],
    clock: _Steps,
    *,
    parts: Sequence[str] = (),
) -> None:
    """The ``new_lots`` inserted with the balances' keys, indexes and foreign keys dropped, then
    built again once (in parallel workers) and the foreign keys validated in one pass each, in
    the caller's transaction: ``stock_balances`` stays locked (dispensing waits) until it
    commits, and a refused load puts everything back as it was. The CHECK (never below zero)
    stays, row by row. The primary key is the lot's own (unit, clave, lot): no id is drawn
    per row (migration 0022). Into empty balances, from a day loaded in committed ``parts``,
    the lots are streamed (``_streamed_balances``)."""
    table = "stock_balances"
    constraints = db.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid ="
            " 'stock_balances'::regclass AND contype IN ('p', 'u') ORDER BY contype, conname"
        )
    ).all()
    indexes = db.execute(
        text(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
            " WHERE i.indrelid = 'stock_balances'::regclass AND NOT EXISTS"
            " (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) ORDER BY 1"
        )
    ).all()
    keys = _foreign_keys(db, table)
    db.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
    for name in (*(k[0] for k in keys), *(c[0] for c in constraints)):
        db.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT {name}"))
    for name, _ in indexes:
        db.execute(text(f"DROP INDEX {name}"))
    if parts and not db.scalar(select(exists().select_from(StockBalance))):
        # Emptied anew (it is empty, and locked) so that the COPY may FREEZE its rows, as the
        # day's parts are: the visibility map set as they land, no later pass to set hint bits.
        db.execute(text("TRUNCATE stock_balances"))
        _streamed_balances(db, parts, values)
        clock.lap("balances streamed")
    else:
        db.execute(
            text(
                "INSERT INTO stock_balances (unit_id, clave_id, lot, expiry, quantity,"
                f" updated_at) {new_lots}"
            ),
            values,
        )
    clock.lap("balances inserted")
    for name, definition in constraints:
        db.execute(text(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}"))
    for _, definition in indexes:
        db.execute(text(definition))
    clock.lap("balances indexed")
    _add_foreign_keys(db, table, keys)
    clock.lap("balances keys")


def _streamed_balances(db: Session, parts: Sequence[str], values: dict[str, Any]) -> None:
    """Each lot's net change over the day's committed ``parts``, grouped by other connections
    (one per range of units, in the order of the parts' index, as ``_apply_day_net`` groups
    it) and streamed, as it is grouped, into one COPY into the (empty, locked) balances: COPY
    writes a WAL record per page where ``INSERT … SELECT`` writes one per row, and the grouping
    runs on the other cores; the time of the lots' update is the column's default meanwhile,
    not sent with each. A lot below zero trips the balances' CHECK as the insert would (an
    ``IntegrityError``)."""
    driver: Any = db.connection().connection.dbapi_connection
    at = psycopg.sql.Literal(values["at"]).as_string(driver)
    low, high = db.execute(
        text(
            "SELECT MIN(low), MAX(high) FROM ("
            + " UNION ALL ".join(
                f"SELECT MIN(unit_id) AS low, MAX(unit_id) AS high FROM {p}" for p in parts
            )
            + ") AS bounds"
        )
    ).one()
    if low is None:
        return
    step = (high - low) // DAY_LOAD_CONNECTIONS + 1
    blocks: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=8)
    readers = [
        _NetReader(db.get_bind().engine, parts, (first, first + step), blocks)
        for first in range(low, high + 1, step)
    ]
    columns = "unit_id, clave_id, lot, expiry, quantity"
    db.execute(text(f"ALTER TABLE stock_balances ALTER updated_at SET DEFAULT {at}"))
    for reader in readers:
        reader.start()
    try:
        with (
            driver.cursor() as writing,
            writing.copy(
                f"COPY stock_balances ({columns}) FROM STDIN (FORMAT binary, FREEZE)"
            ) as into,
        ):
            # Each reader's blocks are binary COPY rows: one stream, whatever their order.
            into.write(BINARY_COPY_HEADER)
            ended = 0
            while ended < len(readers):
                block = blocks.get()
                if isinstance(block, BaseException):
                    raise block
                if block is None:
                    ended += 1
                else:
                    into.write(block)
            into.write(b"\xff\xff")
        db.execute(text("ALTER TABLE stock_balances ALTER updated_at DROP DEFAULT"))
    except psycopg.errors.IntegrityError as exc:
        raise IntegrityError("COPY stock_balances", None, exc) from exc
    finally:
        for reader in readers:
            reader.stop()


BINARY_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
"""A binary COPY's signature, flags and header extension length (PostgreSQL's COPY docs)."""


class _NetReader(threading.Thread):
    """A connection grouping the parts' lots of the units in ``[first, after)`` and handing
    their rows, in binary COPY blocks of about a megabyte, to the load's queue ``out``; None at
    the end, or its error."""

    def __init__(
        self,
        engine: Engine,
        parts: Sequence[str],
        units: tuple[int, int],
        out: queue.Queue[bytes | BaseException | None],
    ) -> None:
        first, after = units
        super().__init__(name=f"day-load-net-{first}", daemon=True)
        self.engine = engine
        rows = " UNION ALL ".join(
            f"SELECT unit_id, clave_id, day, lot, expiry, quantity FROM {p}" for p in parts
        )
        # The units' range outside the union: inside, it would keep the planner from merging
        # the parts' index scans in order (it sorted them instead, on disk).
        self.query = (
            "SELECT unit_id, clave_id, lot, MIN(expiry), SUM(quantity)::integer"
            f" FROM ({rows}) AS d WHERE unit_id >= {first}"
            f" AND unit_id < {after} GROUP BY unit_id, clave_id, day, lot"
        )
        self.out = out
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()
        if self.is_alive():
            self.join()

    def _put(self, item: bytes | BaseException | None) -> None:
        while not self.stopping.is_set():
            try:
                self.out.put(item, timeout=_POLL)
                return
            except queue.Full:
                continue
        raise _Stopped()

    def run(self) -> None:
        try:
            self._read()
            self._put(None)
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the load, which raises it
            with suppress(_Stopped):
                self._put(exc)

    def _copy_out(self, reading: Any) -> None:
        """The COPY's rows put out in blocks, its header and trailer left to the load."""
        get = functools.partial(reading.get_copy_data, 1)
        is_row = functools.partial(operator.lt, (0, b""))  # (length > 0, data)
        rows = iter(get, None)
        block: list[bytes] = []
        size = 0
        first = True
        while not self.stopping.is_set():
            batch: list[tuple[int, bytes]] = list(
                itertools.islice(itertools.takewhile(is_row, rows), 256)
            )
            if len(batch) < 256:
                # No row ready (wait for the socket), the end, or an error (the COPY's result
                # says which): takewhile dropped what stopped it, ask again.
                try:
                    length, data = get()
                except psycopg.OperationalError:
                    length, data = -1, b""
                if length > 0:
                    batch.append((length, data))
                elif length == 0:
                    wait_readable([reading.socket], [], [], _POLL)
                    reading.consume_input()
                else:
                    batch.append((-1, b""))
            ended = bool(batch) and batch[-1][0] < 0
            if ended:
                batch.pop()
            if batch and first:  # the stream's header: the load writes one for all
                batch[0] = (0, bytes(batch[0][1])[len(BINARY_COPY_HEADER) :])
                first = False
            if batch and batch[-1][1] == b"\xff\xff":  # the trailer: the load writes one too
                batch.pop()
            block.append(b"".join(map(operator.itemgetter(1), batch)))
            size += len(block[-1])
            if ended or size >= 1 << 20:
                self._put(b"".join(block))
                block, size = [], 0
            if ended:
                return
        raise _Stopped()

    def _read(self) -> None:
        with self.engine.connect() as other:
            other.execute(text("SET LOCAL enable_hashagg = off"))
            other.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
            # libpq hands a COPY out one row at a time: read through it directly, rows taken
            # in batches by C loops (psycopg's ``Copy.read``, or a Python step per row, cost
            # the client as much CPU as the server takes to group them), without blocking (a
            # blocking read keeps the other threads waiting): the socket waited on instead.
            reading = cast(Any, other.connection.dbapi_connection).pgconn
            done = False
            try:
                reading.send_query(f"COPY ({self.query}) TO STDOUT (FORMAT binary)".encode())
                _expect_status(reading, libpq.ExecStatus.COPY_OUT)
                self._copy_out(reading)
                _expect_status(reading, libpq.ExecStatus.COMMAND_OK)
                done = True
            finally:
                if not done:
                    other.invalidate()  # a COPY left half read: the connection is not reused


def _expect_status(connection: Any, status: libpq.ExecStatus) -> None:
    """The next result of a query sent on ``connection`` (libpq's), which must be ``status``;
    waited for on the socket (libpq's own wait would keep the other threads waiting)."""
    while connection.is_busy():
        wait_readable([connection.socket], [], [], _POLL)
        connection.consume_input()
    result = connection.get_result()
    if result is None or result.status != status:
        raise psycopg.OperationalError(
            connection.get_error_message() or f"COPY: {getattr(result, 'status', None)}"
        )
    if status == libpq.ExecStatus.COMMAND_OK:
        while connection.get_result() is not None:
            pass
