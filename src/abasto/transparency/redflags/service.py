"""Use cases of red flags: compute Abasto's flags and store them whole; read them back."""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlencode

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from abasto.award.models import Fallo
from abasto.catalog.models import Clave
from abasto.contracts import rules as contract_rules
from abasto.core import numbers
from abasto.core.context import Context
from abasto.core.ledger import LedgerEntry
from abasto.core.text import neutralise_cell
from abasto.identity.models import Institution, Supplier
from abasto.tendering.models import Partida, Tender
from abasto.transparency.redflags import indicators, source_abasto
from abasto.transparency.redflags.indicators import Flag, Parameters
from abasto.transparency.redflags.models import RedFlag, RedFlagRun

PAGE_SIZE = 50


def _plain(value: Any) -> Any:
    """Evidence as JSON: exact amounts as strings, dates as ISO 8601."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        # NaN and infinity have no JSON (an infinite R058 ratio: the winner bid 0).
        return None
    return value


FIELDS = (
    "code",
    "title",
    "kind",
    "subject",
    "process",
    "lot",
    "supplier",
    "buyer",
    "clave",
    "value",
    "threshold",
    "explanation",
    "evidence",
)


def flag_json(flag: Flag) -> dict[str, Any]:
    """A flag as the API and ``--out`` give it."""
    return {
        "code": flag.code,
        "title": flag.indicator.title,
        "kind": flag.kind,
        "subject": flag.subject,
        "process": flag.process_id,
        "lot": flag.lot_id,
        "supplier": flag.supplier_id,
        "buyer": flag.buyer_id,
        "clave": flag.clave,
        "value": _plain(flag.value),
        "threshold": _plain(flag.threshold),
        "explanation": flag.explanation,
        "evidence": _plain(flag.evidence),
    }


def compute(
    db: Session, params: Parameters | None = None, *, as_of: date | None = None
) -> list[Flag]:
    """Every indicator over Abasto's own data, nothing stored; the fill rate counts the orders
    due by ``as_of`` (none without it)."""
    return indicators.compute(source_abasto.load(db, as_of=as_of), params)


STORE_BATCH = 5_000
"""Flags per INSERT and tender numbers per lookup: far below PostgreSQL's 65,535 parameters."""
_REFRESH_LOCK = 0x4142_5346  # "ABSF": one refresh at a time across processes (PostgreSQL)


def refresh(ctx: Context, *, params: Parameters | None = None) -> dict[str, int]:
    """Recompute every flag and replace the stored ones, with a ledger entry of the counts.

    A bid's seal appends to the ledger too, so the ledger's head is taken last, for one insert,
    just before the commit: loading, computing and storing the flags hold no lock a bid waits
    for. Refreshes take turns by an advisory lock on PostgreSQL (SQLite has one writer), and
    each stores its run's flags and deletes every other run's in the same transaction, so a
    reader sees the old flags or the new ones, never both.
    """
    flags = compute(ctx.db, params, as_of=contract_rules.local_day(ctx.now))
    counts = dict(sorted(Counter(f.code for f in flags).items()))
    if ctx.db.get_bind().dialect.name == "postgresql":
        ctx.db.execute(select(func.pg_advisory_xact_lock(_REFRESH_LOCK)))
    last_fallo = ctx.db.scalar(select(func.max(Fallo.id)))
    run = RedFlagRun(at=ctx.now, last_fallo_id=last_fallo, counts=counts, ledger_seq=0)
    ctx.db.add(run)
    ctx.db.flush()
    rows = _rows(ctx.db, flags, run.id)
    for start in range(0, len(rows), STORE_BATCH):
        ctx.db.execute(insert(RedFlag), rows[start : start + STORE_BATCH])
    ctx.db.execute(delete(RedFlag).where(RedFlag.run_id != run.id))
    run.ledger_seq = ctx.record(
        "redflags.run", "redflags", {"counts": counts, "total": len(flags), "run": run.id}
    )
    ctx.db.flush()
    return counts


def _rows(db: Session, flags: Sequence[Flag], run_id: int) -> list[dict[str, Any]]:
    """The stored form of each flag, with the ids of what it names."""
    tenders = dict(db.execute(select(Tender.number, Tender.id)).all())
    suppliers = {
        rfc: (id_, name)
        for rfc, id_, name in db.execute(select(Supplier.rfc, Supplier.id, Supplier.razon_social))
    }
    institutions = dict(db.execute(select(Institution.code, Institution.id)).all())
    # A partida's flag names its clave too, so the clave's page shows it.
    flagged = sorted({f.process_id for f in flags if f.lot_id and f.process_id})
    claves: dict[tuple[str, int | None], str] = {}
    for start in range(0, len(flagged), STORE_BATCH):
        claves.update(
            ((number, partida), clave)
            for number, partida, clave in db.execute(
                select(Tender.number, Partida.number, Clave.clave)
                .join(Partida, Partida.tender_id == Tender.id)
                .join(Clave, Clave.id == Partida.clave_id)
                .where(Tender.number.in_(flagged[start : start + STORE_BATCH]))
            )
        )
    rows = []
    for f in flags:
        partida = f.lot_id.rsplit("/", 1)[1] if f.lot_id and "/" in f.lot_id else None
        number = numbers.count_of(partida) if partida else None
        rows.append(
            {
                "code": f.code,
                "kind": f.kind,
                "subject": f.subject[:300],
                "tender_id": tenders.get(f.process_id or ""),
                "tender_number": f.process_id,
                "partida_number": number,
                "supplier_id": suppliers[f.supplier_id][0] if f.supplier_id in suppliers else None,
                "supplier_rfc": f.supplier_id if f.supplier_id in suppliers else None,
                "institution_id": institutions.get(f.buyer_id or ""),
                "institution_code": f.buyer_id if f.buyer_id in institutions else None,
                "clave": f.clave or claves.get((f.process_id or "", number)),
                "value": f.value,
                "threshold": f.threshold,
                "explanation": f.explanation,
                "detail": {
                    "title": f.indicator.title,
                    "place": f.place,
                    "evidence": _plain(f.evidence),
                    # Companies are named by their name on the pages, not only by their RFC.
                    "supplier_name": (
                        suppliers[f.supplier_id][1] if f.supplier_id in suppliers else None
                    ),
                },
                "run_id": run_id,
            }
        )
    return rows


EXECUTION = ("contract.sign", "contract.amend", "shipment.receive", "contract.penalty_cap")
"""Ledger actions after which the contracts' flags may change (AB07–AB11)."""


def due(db: Session) -> bool:
    """Whether a fallo was issued, or a contract signed, amended or delivered to, since the last
    run: a few indexed looks."""
    newest = db.scalar(select(func.max(Fallo.id)))
    if newest is None:
        return False
    last = db.execute(
        select(RedFlagRun.last_fallo_id, RedFlagRun.ledger_seq)
        .order_by(RedFlagRun.id.desc())
        .limit(1)
    ).first()
    if last is None or last.last_fallo_id is None or newest > last.last_fallo_id:
        return True
    executed = db.scalar(select(func.max(LedgerEntry.seq)).where(LedgerEntry.action.in_(EXECUTION)))
    return executed is not None and executed > last.ledger_seq


Q = TypeVar("Q", bound=Select[*tuple[Any, ...]])


def _filtered(
    query: Q,
    *,
    code: str | None = None,
    tender_id: int | None = None,
    supplier_id: int | None = None,
    institution_id: int | None = None,
    clave: str | None = None,
    rfc: str | None = None,
    institution_code: str | None = None,
    tender_number: str | None = None,
) -> Q:
    conditions = [
        (code, RedFlag.code),
        (tender_id, RedFlag.tender_id),
        (supplier_id, RedFlag.supplier_id),
        (institution_id, RedFlag.institution_id),
        (clave, RedFlag.clave),
        (rfc, RedFlag.supplier_rfc),
        (institution_code, RedFlag.institution_code),
        (tender_number, RedFlag.tender_number),
    ]
    for value, column in conditions:
        if value is not None and value != "":
            query = query.where(column == value)
    return query


@dataclass(frozen=True, slots=True)
class FlagSection:
    """The first flags of a page's subject, how many there are in all, and where to see them."""

    flags: Sequence[RedFlag]
    total: int
    more_url: str


SECTION_SIZE = 20


def section(db: Session, *, query: Mapping[str, str], **filters: Any) -> FlagSection:
    """Flags for a portal page; ``query`` is the /banderas filter that lists all of them."""
    flags, total = list_flags(db, per_page=SECTION_SIZE, **filters)
    return FlagSection(flags, total, f"/banderas?{urlencode(query)}")


def list_flags(
    db: Session, *, page: int = 1, per_page: int = PAGE_SIZE, **filters: Any
) -> tuple[Sequence[RedFlag], int]:
    """One page of stored flags by code, with the filters of the API and the page."""
    total = db.scalar(_filtered(select(func.count()).select_from(RedFlag), **filters)) or 0
    items = db.scalars(
        _filtered(select(RedFlag), **filters)
        .order_by(RedFlag.code, RedFlag.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return items, total


def counts(db: Session, **filters: Any) -> dict[str, int]:
    """Stored flags per indicator code, zero included for every code."""
    query = _filtered(select(RedFlag.code, func.count()).group_by(RedFlag.code), **filters)
    found: dict[str, int] = dict(db.execute(query).all())
    return {code: found.get(code, 0) for code in indicators.CODES}


def last_run(db: Session) -> RedFlagRun | None:
    return db.scalar(select(RedFlagRun).order_by(RedFlagRun.id.desc()).limit(1))


def write_flags(flags: Sequence[Flag], path: str) -> None:
    """``--out``: the flags as JSON (a list) or CSV (one row each, evidence as JSON)."""
    data = [flag_json(f) for f in flags]
    if path.lower().endswith(".csv"):
        # utf-8-sig: the file starts with the BOM, as every CSV Abasto writes (Excel in Mexico).
        with open(path, "w", newline="", encoding="utf-8-sig") as handle:
            writer = csv.DictWriter(handle, fieldnames=FIELDS)
            writer.writeheader()
            for row in data:
                cells = {**row, "evidence": json.dumps(row["evidence"], ensure_ascii=False)}
                writer.writerow({key: neutralise_cell(value) for key, value in cells.items()})
        return
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False, indent=1)
