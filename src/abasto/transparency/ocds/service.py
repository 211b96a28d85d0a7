"""Release and record packages: a page of releases, a contracting process's record, their frame.

Pages are cursors over the ledger, not offsets: the releases are in ledger order (``seq``), a page
holds those after ``after`` (or before ``before``), and ``links.next`` / ``links.prev`` carry the
cursor of the following and previous page. History is only ever appended to, so a cursor stays
valid and a page reads the same tomorrow (plus, on the last page, what was appended since).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import ocdsmerge
from sqlalchemy import select
from sqlalchemy.orm import Session

from abasto.core import bounds, numbers
from abasto.core.errors import NotFound, Problem, ValidationFailed
from abasto.core.ledger import LedgerEntry
from abasto.tendering.models import Tender
from abasto.transparency.ocds.merge_rules import MERGE_RULES
from abasto.transparency.ocds.releases import (
    EXTENSIONS,
    Entry,
    process_entities,
    releases_for,
    stage_query,
    tender_releases,
)

VERSION = "1.1"
PUBLISHER = {"name": "Abasto — compra consolidada de insumos para la salud"}
LICENSE = "https://datos.gob.mx/libreusomx"
"""Libre Uso MX, the open licence of Mexico's public data."""
PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
POLICY = (
    "Abasto publica en OCDS 1.1.5 cada etapa de cada licitación en el momento en que ocurre, "
    "leída de la bitácora encadenada, que no se reescribe: planeación (la ronda de demanda), "
    "convocatoria, modificaciones, cancelación, respuestas a preguntas, proposiciones "
    "(sólo desde el inicio de la apertura pública; antes nadie puede leerlas), fallo y proyectos "
    "de contrato; después, cada contrato: su firma (el SHA-256 del PDF firmado), su garantía, "
    "su entrada en vigor, sus convenios modificatorios, sus órdenes de suministro y entregas "
    "(como hitos de la ejecución) y su conclusión o rescisión. Abasto no registra pagos, así "
    "que no publica transacciones. El ocid de cada licitación es «{prefix}-<número>»; cada "
    "entrega es «<ocid>-<entrada de la bitácora>». Los proveedores se identifican por su RFC "
    "(esquema MX-RFC), las instituciones por su clave en el registro de Abasto (MX-ABASTO) y los "
    "insumos por su clave del Compendio Nacional de Insumos para la Salud (MX-CNIS). Los "
    "importes están en pesos mexicanos (MXN)."
)


def merger() -> ocdsmerge.Merger:
    return ocdsmerge.Merger(merge_rules=MERGE_RULES)


def package(
    kind: str, items: list[dict[str, Any]], *, uri: str, published: str, policy: str
) -> dict[str, Any]:
    """A release or record package (``kind``: "releases" or "records") around ``items``;
    ``policy`` is the URL of the publication policy (``Settings.publication_policy``)."""
    return {
        "uri": uri,
        "version": VERSION,
        "extensions": list(EXTENSIONS),
        "publishedDate": published,
        "publisher": dict(PUBLISHER),
        "license": LICENSE,
        "publicationPolicy": policy,
        kind: items,
    }


def record(releases: list[dict[str, Any]]) -> dict[str, Any]:
    """A record: the releases, the compiled release and the versioned release."""
    merge = merger()
    return {
        "ocid": releases[0]["ocid"],
        "releases": releases,
        "compiledRelease": merge.create_compiled_release(releases),
        "versionedRelease": merge.create_versioned_release(releases),
    }


# ----- reading what the API serves -------------------------------------------------------------


def tender_of_ocid(db: Session, prefix: str, ocid: str) -> int:
    """The tender an ocid names; 404 (in Spanish) for anything else."""
    number = ocid.removeprefix(f"{prefix}-") if ocid.startswith(f"{prefix}-") else None
    found = (
        db.scalar(select(Tender.id).where(Tender.number == number)) if number is not None else None
    )
    if found is None:
        raise NotFound(
            f"No existe el proceso de contratación «{ocid}».",
            expected=f"un ocid publicado, de la forma «{prefix}-AB-2026-0001»",
        )
    return found


def record_of(db: Session, prefix: str, ocid: str) -> dict[str, Any]:
    tender_id = tender_of_ocid(db, prefix, ocid)
    releases = tender_releases(db, prefix, tender_id)
    if not releases:
        raise NotFound(
            f"El proceso de contratación «{ocid}» no tiene entregas publicadas: la licitación "
            "no se ha publicado."
        )
    return record(releases)


@dataclass(frozen=True, slots=True)
class Filters:
    since: datetime | None = None
    until: datetime | None = None
    """Exclusive."""
    ocid: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    releases: list[dict[str, Any]]
    next_after: int | None
    """The cursor of the next page (``after``), None on the last page."""
    prev_before: int | None
    """The cursor of the previous page (``before``), None on the first page."""


def release_page(
    db: Session,
    prefix: str,
    filters: Filters,
    *,
    after: int | None = None,
    before: int | None = None,
    limit: int = PAGE_SIZE,
) -> Page:
    """Releases in ledger order, ``limit`` ledger entries at a time, filtered by date and ocid.

    A stage entry of a tender never published (a cancelled draft) has no release, so a page can
    hold fewer than ``limit``; its cursors still move past it.
    """
    seq = LedgerEntry.seq
    base = stage_query()
    if filters.since is not None:
        base = base.where(LedgerEntry.at >= filters.since)
    if filters.until is not None:
        base = base.where(LedgerEntry.at < filters.until)
    if filters.ocid is not None:
        base = base.where(process_entities(db, tender_of_ocid(db, prefix, filters.ocid)))
    if before is not None:
        rows = list(db.execute(base.where(seq < before).order_by(seq.desc()).limit(limit)))
        rows.reverse()
    else:
        query = base.where(seq > after) if after is not None else base
        rows = list(db.execute(query.order_by(seq).limit(limit)))
    entries = [Entry.of(row) for row in rows]
    if not entries:
        return Page([], None, None)
    first, last = entries[0].seq, entries[-1].seq
    more = db.execute(base.where(seq > last).limit(1)).first() is not None
    fewer = db.execute(base.where(seq < first).limit(1)).first() is not None
    found = releases_for(db, prefix, entries)
    releases = [found[e.seq] for e in entries if e.seq in found]
    return Page(releases, last if more else None, first if fewer else None)


# ----- parsing the query -------------------------------------------------------------------------

DATE_EXPECTED = "una fecha AAAA-MM-DD o un instante ISO 8601 (p. ej. 2026-11-02T10:00:00-06:00)"


def parse_bound(value: str | None, *, name: str, zone: str, end: bool) -> datetime | None:
    """A ``since``/``until`` bound: a date is the whole day in Mexico's time (``until``
    includes it); an instant without zone is Mexico's time too. Either within the days a
    request may name (``core.bounds``): the day after 9999-12-31 does not exist."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    tz = ZoneInfo(zone)
    refused = ValidationFailed(
        f"El parámetro «{name}» no es una fecha válida.",
        problems=[Problem("Fecha no válida", field=name, value=text, expected=DATE_EXPECTED)],
    )
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text, re.ASCII):
            day = date.fromisoformat(text)
            if not bounds.within_days(day):
                raise refused
            return datetime.combine(day + timedelta(days=1) if end else day, time(), tz)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz)
        if not bounds.within_instants(moment):
            raise refused
    except ValueError:
        raise refused from None
    # ``until`` as an instant includes it: the bound is exclusive, so one microsecond later.
    return moment + timedelta(microseconds=1) if end else moment


def parse_cursor(value: str | None, *, name: str) -> int | None:
    if value is None or not value.strip():
        return None
    cursor = numbers.count_of(value)
    if cursor is None or cursor > bounds.INT_MAX:
        raise ValidationFailed(
            f"El parámetro «{name}» no es un cursor válido.",
            problems=[
                Problem(
                    "Cursor no válido",
                    field=name,
                    value=value,
                    expected="el número de entrada que da links.next o links.prev",
                )
            ],
        )
    return cursor


def parse_limit(value: str | None) -> int:
    if value is None or not value.strip():
        return PAGE_SIZE
    text = value.strip()
    limit = numbers.count_of(text)
    if limit is None or not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationFailed(
            "El parámetro «limit» no es válido.",
            problems=[
                Problem(
                    "Tamaño de página fuera de rango",
                    field="limit",
                    value=text,
                    expected=f"un entero de 1 a {MAX_PAGE_SIZE:,}",
                )
            ],
        )
    return limit


def check_filters(filters: Filters) -> None:
    if filters.since and filters.until and filters.since >= filters.until:
        raise ValidationFailed(
            "El intervalo de fechas está vacío: «since» es posterior a «until».",
            problems=[Problem("Intervalo vacío", field="since", expected="since ≤ until")],
        )
