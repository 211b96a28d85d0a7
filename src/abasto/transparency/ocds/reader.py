"""Other publishers' OCDS files, whatever their packaging: the releases they hold.

One reader for ``prices import`` and ``redflags run --ocds``. A file is one JSON value or one
value per line (JSON lines); each value may be a release package, a record package, a record, a
JSON list (as some publishers' APIs answer: of records, of releases or of packages), or a lone
release (an individual one, or a compiled or linked one: they read alike). A record's own
``releases`` are linked or embedded copies of what its ``compiledRelease`` compiles, so only the
compiled release is read, with the record's ``ocid`` when it lacks one.

What is not read is counted in ``skipped`` with its reason in Spanish; the caller decides whether
that refuses the file (prices: all or nothing) or is shown beside the result (red flags).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import ocdsmerge

from abasto.core.errors import Problem, ValidationFailed

NOT_AN_OBJECT = "valores JSON que no son objeto (entrega, paquete ni registro)"
NO_COMPILED = "registros sin compiledRelease"
NO_OCID = "entregas o registros sin ocid"
REPEATED = "ocid repetido (se conserva el primero)"
UNDATED = "procesos con una entrega sin fecha (orden desconocido)"
UNORDERED = "procesos con entregas fuera de orden de fecha (se compilaron por fecha)"
BAD_LINES = "líneas que no son JSON"


@dataclass(frozen=True, slots=True)
class Found:
    """One release of the file, and where it is (``releases[3]``, ``records[0].compiledRelease``,
    ``[2].compiledRelease``, ``release``)."""

    where: str
    release: dict[str, Any]
    compiled: bool
    """A compiled release (a record's, or one given alone) rather than one of a package's."""

    @property
    def ocid(self) -> str | None:
        ocid = self.release.get("ocid")
        return ocid if isinstance(ocid, str) and ocid.strip() else None


def _values(content: bytes, filename: str, *, expected: str, strict: bool) -> tuple[list[Any], int]:
    """The whole file as one JSON value, or one value per line, and how many lines were not
    JSON. A line that is not JSON refuses the file when ``strict``; not UTF-8, or no line of
    JSON at all, always refuses."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed(
            f"«{filename}» no es texto UTF-8, así que no es JSON.", expected=expected
        ) from None
    try:
        return [json.loads(text)], 0
    except ValueError as error:
        whole = error
    found: list[Any] = []
    bad: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            found.append(json.loads(line))
        except ValueError:
            bad.append(number)
    if bad and (strict or not found):
        where = (
            f": {whole.msg} (línea {whole.lineno}, columna {whole.colno})"
            if isinstance(whole, json.JSONDecodeError)
            else ""
        )
        raise ValidationFailed(
            f"«{filename}» no es JSON válido{where}.",
            problems=[Problem("JSON no válido", row=n, expected=expected) for n in bad[:20]],
        )
    if not found:
        raise ValidationFailed(f"«{filename}» no es JSON: está vacío.", expected=expected)
    return found, len(bad)


def read(
    content: bytes, filename: str, *, expected: str, strict: bool, skipped: Counter[str]
) -> list[Found]:
    """Every release of the file (see ``releases``); bad lines counted in ``skipped``."""
    documents, bad = _values(content, filename, expected=expected, strict=strict)
    if bad:
        skipped[BAD_LINES] += bad
    return [found for document in documents for found in releases(document, skipped)]


def releases(document: Any, skipped: Counter[str], where: str = "") -> Iterator[Found]:
    """(where, release) of every release one JSON value holds, in the order it holds them."""
    if isinstance(document, list):
        for index, member in enumerate(document):
            yield from releases(member, skipped, f"{where}[{index}].")
        return
    if not isinstance(document, dict):
        skipped[NOT_AN_OBJECT] += 1
        return
    if isinstance(document.get("compiledRelease"), dict):
        yield Found(f"{where}compiledRelease", _unrecorded(document), compiled=True)
        return
    package = False
    if isinstance(document.get("releases"), list):
        package = True
        for index, release in enumerate(document["releases"]):
            if isinstance(release, dict):
                yield Found(f"{where}releases[{index}]", release, compiled=False)
            else:
                skipped[NOT_AN_OBJECT] += 1
    if isinstance(document.get("records"), list):
        package = True
        for index, record in enumerate(document["records"]):
            if isinstance(record, dict) and isinstance(record.get("compiledRelease"), dict):
                yield Found(
                    f"{where}records[{index}].compiledRelease", _unrecorded(record), compiled=True
                )
            elif isinstance(record, dict):
                skipped[NO_COMPILED] += 1
            else:
                skipped[NOT_AN_OBJECT] += 1
    if package:
        return
    if "ocid" in document:
        yield Found(f"{where}release", document, compiled=True)
    else:
        skipped[NO_OCID] += 1


def _unrecorded(record: dict[str, Any]) -> dict[str, Any]:
    """A record's compiled release, with the record's ocid when it has none of its own."""
    release: dict[str, Any] = record["compiledRelease"]
    return release if "ocid" in release else {**release, "ocid": record.get("ocid")}


def compiled(found: Iterable[Found], skipped: Counter[str]) -> Iterator[dict[str, Any]]:
    """One compiled release per ocid: compiled ones as given (the first of an ocid kept), and a
    package's releases of one ocid compiled with ocdsmerge in date order (no schema is fetched:
    its default merge by ``id`` is enough for what is read from them)."""
    individual: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    seen: set[str] = set()

    def once(release: dict[str, Any], ocid: str) -> Iterator[dict[str, Any]]:
        if ocid in seen:
            skipped[REPEATED] += 1
        else:
            seen.add(ocid)
            yield release

    for one in found:
        ocid = one.ocid
        if ocid is None:
            skipped[NO_OCID] += 1
        elif one.compiled:
            yield from once(one.release, ocid)
        else:
            individual[ocid].append(one.release)
    merger = ocdsmerge.Merger(merge_rules={})
    for ocid, group in individual.items():
        if len(group) == 1:
            yield from once(group[0], ocid)
            continue
        dates = [r.get("date") for r in group]
        if not all(isinstance(d, str) for d in dates):
            skipped[UNDATED] += 1
            continue
        if dates != sorted(str(d) for d in dates):
            skipped[UNORDERED] += 1
        yield from once({**merger.create_compiled_release(group), "ocid": ocid}, ocid)
