"""``abasto ocds export DIR``: every release and record, and the compiled releases, as files.

The export is written into a temporary folder beside ``DIR`` and renamed into place at the end,
so a failure leaves ``DIR`` as it was. It streams: tender by tender, each release goes straight
to its package file; only one tender's releases are held at once (for its record).

Layout::

    DIR/releases/releases-000001.json    release packages, ``per_file`` releases each
    DIR/records/records-000001.json      record packages, ``RECORDS_PER_FILE`` records each
    DIR/compiled-releases.jsonl          one compiled release per line
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from abasto.core import folders
from abasto.core.config import DEFAULT_PUBLIC_URL, policy_url
from abasto.core.errors import ValidationFailed
from abasto.core.ledger import LedgerEntry
from abasto.transparency.ocds import service
from abasto.transparency.ocds.releases import (
    Directory,
    Entry,
    fold,
    process_entities,
    stage_query,
    tender_id_of,
)

COMPILED = "compiled-releases.jsonl"
"""Also how a folder is known to hold an earlier export, which may be replaced."""
RECORDS_PER_FILE = 100
Progress = Callable[[int, int], None]
"""Hears (ledger entries done, ledger entries in all)."""


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class _Chunks:
    """Packages of ``size`` items each, written item by item as they come."""

    def __init__(
        self, folder: Path, kind: str, size: int, base_uri: str, published: str, policy: str
    ) -> None:
        folder.mkdir()
        self.folder, self.kind, self.size = folder, kind, size
        self.base_uri, self.published, self.policy = base_uri, published, policy
        self.files = 0
        self.count = 0
        self._out: IO[str] | None = None

    def add(self, item: dict[str, Any]) -> None:
        if self._out is None or self.count == self.size:
            self.close()
            self.files += 1
            name = f"{self.kind}-{self.files:06d}.json"
            uri = f"{self.base_uri}/{self.folder.name}/{name}"
            frame = _dumps(
                service.package(
                    self.kind, [], uri=uri, published=self.published, policy=self.policy
                )
            )
            self._out = (self.folder / name).open("w", encoding="utf-8")
            # The frame's list is its last member: write up to its «[», then the items.
            self._out.write(frame[: -len("[]}")] + "[")
            self.count = 0
        if self.count:
            self._out.write(",")
        self._out.write(_dumps(item))
        self.count += 1

    def close(self) -> None:
        if self._out is not None:
            self._out.write("]}")
            self._out.close()
            self._out = None

    def __enter__(self) -> _Chunks:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class ExportSummary:
    directory: Path
    releases: int
    records: int
    release_files: int
    record_files: int
    seconds: float


def export(
    db: Session,
    prefix: str,
    target: Path,
    *,
    published: str,
    policy: str = policy_url(DEFAULT_PUBLIC_URL),
    per_file: int = 1000,
    progress: Progress | None = None,
    fail_after: int | None = None,
) -> ExportSummary:
    """Write the export into ``target``; all or nothing. ``policy`` is the packages'
    ``publicationPolicy`` (``Settings.publication_policy``). ``fail_after`` (tests) raises once
    that many releases are written, to prove a failure leaves ``target`` untouched."""
    began = time.perf_counter()
    target = target.resolve()
    if not target.parent.is_dir():
        raise ValidationFailed(
            f"No existe la carpeta «{target.parent}» donde crear «{target.name}».",
            expected="una ruta cuya carpeta superior exista",
        )
    if per_file < 1:
        raise ValidationFailed("«--por-archivo» debe ser al menos 1.")
    with folders.replacing(target, marker=COMPILED, what="OCDS") as staging:
        frame = (target.as_uri(), published, policy)
        counts = _write(db, prefix, staging, frame, per_file, progress, fail_after)
    return ExportSummary(target, *counts, time.perf_counter() - began)


def _write(
    db: Session,
    prefix: str,
    folder: Path,
    frame: tuple[str, str, str],
    per_file: int,
    progress: Progress | None,
    fail_after: int | None,
) -> tuple[int, int, int, int]:
    total = db.scalar(select(func.count()).select_from(stage_query().subquery())) or 0
    tenders = db.scalars(
        select(LedgerEntry.entity)
        .where(LedgerEntry.public, LedgerEntry.action == "tender.publish")
        .order_by(LedgerEntry.seq)
    ).all()
    directory = Directory(db)
    merger = service.merger()
    done = written = records = 0
    with (
        _Chunks(folder / "releases", "releases", per_file, *frame) as releases,
        _Chunks(folder / "records", "records", RECORDS_PER_FILE, *frame) as packed,
        (folder / COMPILED).open("w", encoding="utf-8") as compiled,
    ):
        for entity in dict.fromkeys(tenders):
            tender_id = tender_id_of(entity)
            rows = db.execute(
                stage_query().where(process_entities(db, tender_id)).order_by(LedgerEntry.seq)
            )
            entries = [Entry.of(row) for row in rows]
            mine = []
            for _entry, release in fold(db, directory, prefix, tender_id, entries):
                releases.add(release)
                mine.append(release)
                written += 1
                if fail_after is not None and written >= fail_after:
                    raise RuntimeError("fallo provocado a mitad de la exportación")
            done += len(entries)
            if mine:
                record = {
                    "ocid": mine[0]["ocid"],
                    "releases": mine,
                    "compiledRelease": merger.create_compiled_release(mine),
                }
                packed.add(record)
                compiled.write(_dumps(record["compiledRelease"]) + "\n")
                records += 1
            if progress is not None:
                progress(done, total)
    if progress is not None:
        # Stage entries of tenders never published (cancelled drafts) have no release.
        progress(total, total)
    return written, records, releases.files, packed.files
