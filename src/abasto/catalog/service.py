"""Use cases of the catalog: import, search and homologation of claves."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement, func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, contains_eager, joinedload
from sqlalchemy.orm.exc import StaleDataError

from abasto.catalog.models import Clave, Homologation
from abasto.catalog.reader import CatalogRow, read_catalog
from abasto.catalog.rules import CLAVE_EXPECTED, ClaveError, parse_clave, suggest_clave
from abasto.core.context import Context
from abasto.core.errors import Conflict, NotFound, Problem, ValidationFailed
from abasto.core.ledger import Record
from abasto.core.spreadsheet import (
    Column,
    Header,
    Progress,
    find_headers,
    is_blank,
    read_sheets,
    text,
)
from abasto.core.text import fold
from abasto.identity.models import Institution
from abasto.identity.service import get_institution

# ----- reading -------------------------------------------------------------------------------


def count_claves(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Clave)) or 0


@dataclass(frozen=True, slots=True)
class Example:
    """A clave of this catalog to show in the search's hints, so the example finds something:
    the whole clave, a prefix with dots, a group of digits and a word of its description."""

    clave: str
    prefix: str
    digits: str
    word: str


EXAMPLE_WORD = "paracetamol"
_NO_CATALOG = Example("010.000.0104.00", "010.000.0104", "0104", EXAMPLE_WORD)


def example(db: Session) -> Example:
    """The first clave of paracetamol (the first clave when there is none), as an ``Example``;
    the Compendio's own 010.000.0104.00 while the catalog is empty."""
    found = (
        db.scalars(
            select(Clave)
            .where(Clave.search_text.like(f"%{EXAMPLE_WORD}%"))
            .order_by(Clave.clave)
            .limit(1)
        ).first()
        or db.scalars(select(Clave).order_by(Clave.clave).limit(1)).first()
    )
    if found is None:
        return _NO_CATALOG
    groups = found.clave.split(".")
    words = [w for w in fold(found.description).split() if len(w) >= 4 and w.isalpha()]
    word = EXAMPLE_WORD if EXAMPLE_WORD in found.search_text else (words[0] if words else "")
    return Example(
        clave=found.clave,
        prefix=".".join(groups[:-1]) if len(groups) > 1 else found.clave,
        digits=groups[2] if len(groups) > 2 else found.clave[-4:],
        word=word,
    )


_CLAVE_PREFIX = re.compile(r"[0-9]+(\.[0-9]*)+")
_CUCOP_DIGITS = 18  # a CUCoP fits a BIGINT; longer digit strings are not one


def search_claves(db: Session, *, q: str, page: int, per_page: int) -> tuple[Sequence[Clave], int]:
    """One page of the claves matching ``q``, ordered by clave, and how many match in all.

    ``q`` written as a clave with dots (``010.000.0104``) matches claves that start with it.
    Otherwise every word of ``q``, folded (no case, accents or punctuation), must appear in the
    clave or the description: ``0104`` finds ``010.000.0104.00`` and ``acido acetilsalicilico``
    finds «Ácido acetilsalicílico»; a number may also be a CUCoP. An empty ``q`` matches all.
    Plain ``LIKE`` over the folded ``search_text`` keeps this the same on SQLite and PostgreSQL.
    """
    conditions = _search_conditions(q)
    total = db.scalar(select(func.count()).select_from(Clave).where(*conditions)) or 0
    items = db.scalars(
        select(Clave)
        .where(*conditions)
        .order_by(Clave.clave)
        .offset((max(page, 1) - 1) * per_page)
        .limit(per_page)
    ).all()
    return items, total


def _search_conditions(q: str) -> list[ColumnElement[bool]]:
    compact = "".join(q.split())
    if _CLAVE_PREFIX.fullmatch(compact):
        return [Clave.clave.startswith(compact)]
    # fold() leaves only [0-9a-z] and spaces, so no word can carry a LIKE wildcard.
    words = fold(q).split()
    conditions = [Clave.search_text.contains(word) for word in words]
    if len(words) == 1 and words[0].isdigit() and len(words[0]) <= _CUCOP_DIGITS:
        return [or_(conditions[0], Clave.cucop == int(words[0]))]
    return conditions


def get_clave(db: Session, clave: str) -> Clave:
    """The clave, or ``NotFound`` naming it (and the closest existing one, if any is close)."""
    code = "".join(clave.split())
    found = db.scalar(select(Clave).where(Clave.clave == code))
    if found is not None:
        return found
    suggestion = suggest_clave(code, db.scalars(select(Clave.clave)).all()) if code else None
    hint = f" ¿Quiso decir {suggestion}?" if suggestion else ""
    if not _is_clave(code):
        raise NotFound(f"«{code}» no es una clave del Compendio.{hint}", expected=CLAVE_EXPECTED)
    raise NotFound(f"No existe la clave «{code}» en el catálogo.{hint}")


def _is_clave(code: str) -> bool:
    try:
        parse_clave(code)
    except ClaveError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class ClaveDetail:
    """A clave with the institutions' own codes homologated to it (institution loaded)."""

    clave: Clave
    homologations: Sequence[Homologation]


def get_clave_detail(db: Session, clave: str) -> ClaveDetail:
    found = get_clave(db, clave)
    homologations = db.scalars(
        select(Homologation)
        .join(Homologation.institution)
        .options(contains_eager(Homologation.institution))
        .where(Homologation.clave_id == found.id)
        .order_by(Institution.code, Homologation.institution_code)
    ).all()
    return ClaveDetail(clave=found, homologations=homologations)


# ----- catalog import ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import did; ``warnings`` are oddities of the file that did not stop it."""

    filename: str
    sha256: str
    new: int
    updated: int
    unchanged: int
    warnings: tuple[Problem, ...]

    @property
    def total(self) -> int:
        return self.new + self.updated + self.unchanged


# A file that leaves these blank (the 2025-2026 template leaves unit and presentation to the
# supplier) says nothing about them: it must not erase what an earlier file said.
_KEPT_WHEN_BLANK = frozenset({"unit", "presentation", "cucop"})


def import_catalog(
    ctx: Context,
    *,
    content: bytes,
    filename: str,
    progress: Progress | None = None,
    encoding: str | None = None,
) -> ImportSummary:
    """Insert the file's new claves and update the changed ones; all or nothing.

    The file is read and checked whole first (``ValidationFailed`` lists every problem and
    nothing is written); a .csv is decoded in ``encoding``, or as ``core.encoding`` detects
    it. A description that only lost characters to the file's encoding («?», «\ufffd» where
    the stored one has «μ» or «—») never replaces the stored one: it is kept, with a warning;
    a new description with «\ufffd» is refused. Each new or changed clave gets a ledger entry
    (``clave.create`` with its fields, ``clave.update`` with each changed field old → new),
    and the import one more (``catalog.import``). An update that meets a clave changed
    meanwhile raises ``Conflict``.
    """
    catalog = read_catalog(content, filename, progress=progress, encoding=encoding)
    existing = {clave.clave: clave for clave in ctx.db.scalars(select(Clave))}
    rows, kept = _keep_good_descriptions(catalog.rows, existing, filename)
    new: list[tuple[str, dict[str, Any]]] = []
    updates: list[tuple[Clave, dict[str, tuple[Any, Any]]]] = []
    unchanged = 0
    for row in rows:
        code, fields = str(row.clave), _fields(row)
        current = existing.get(code)
        if current is None:
            new.append((code, fields))
            continue
        changes = _changes(current, fields)
        if not changes:
            unchanged += 1
            continue
        for name, (_, value) in changes.items():
            setattr(current, name, value)
        current.search_text = _search_text(code, current.description)
        current.updated_at = ctx.now
        updates.append((current, changes))
    _write(
        ctx,
        [
            {
                "clave": code,
                **fields,
                "search_text": _search_text(code, fields["description"]),
                "created_at": ctx.now,
                "updated_at": ctx.now,
                "version": 1,
            }
            for code, fields in new
        ],
    )

    records = [
        Record("clave.create", f"clave:{code}", {"clave": code, **fields}) for code, fields in new
    ]
    records += [
        Record(
            "clave.update",
            f"clave:{clave.clave}",
            {
                "clave": clave.clave,
                "version": clave.version,
                "changes": {
                    name: {"old": old, "new": value} for name, (old, value) in changes.items()
                },
            },
        )
        for clave, changes in updates
    ]
    summary = ImportSummary(
        filename=filename,
        sha256=hashlib.sha256(content).hexdigest(),
        new=len(new),
        updated=len(updates),
        unchanged=unchanged,
        warnings=(*catalog.warnings, *kept),
    )
    records.append(
        Record(
            "catalog.import",
            "catalog",
            {
                "filename": filename,
                "sha256": summary.sha256,
                "sheets": list(catalog.sheets),
                "rows_read": catalog.rows_read,
                "claves": summary.total,
                "new": summary.new,
                "updated": summary.updated,
                "unchanged": summary.unchanged,
                "warnings": len(summary.warnings),
            },
        )
    )
    ctx.record_many(records)
    return summary


_LOST = "\ufffd"
"""What a decoder writes for a byte it could not read: the character itself is gone."""
_LOST_RUN = re.compile(r"[?\ufffd]+|[^?\ufffd]+")
LOST_EXPECTED = (
    "el texto con todos sus caracteres: guarde el archivo como «CSV UTF-8» o indique su"
    " codificación (--encoding)"
)


def lost_characters(new: str, old: str) -> bool:
    """Whether ``new`` is ``old`` with some non-ASCII characters turned into «?» or «\ufffd».

    That is what saving as Latin-1 or ASCII does to «μ», «—» or «≥» (one «?» each, or one per
    UTF-8 byte): the text looks changed but only lost what it had.
    """
    if new == old or ("?" not in new and _LOST not in new):
        return False
    pattern = "".join(
        f"[^\\x00-\\x7f]{{1,{len(run)}}}" if run[0] in f"?{_LOST}" else re.escape(run)
        for run in _LOST_RUN.findall(new)
    )
    return re.fullmatch(pattern, old) is not None


def _keep_good_descriptions(
    rows: Sequence[CatalogRow], existing: dict[str, Clave], filename: str
) -> tuple[list[CatalogRow], tuple[Problem, ...]]:
    """The rows with each stored description kept where the file's only lost characters, and
    a warning for each; ``ValidationFailed`` for any other text with «\ufffd» in it."""
    kept: list[Problem] = []
    problems: list[Problem] = []
    result: list[CatalogRow] = []
    for row in rows:
        current = existing.get(str(row.clave))
        if current is not None and lost_characters(row.description, current.description):
            kept.append(
                Problem(
                    "la descripción del archivo perdió caracteres («?») frente a la registrada;"
                    " se conserva la registrada",
                    sheet=row.sheet,
                    row=row.row,
                    column="Descripción",
                    value=row.description,
                    expected=LOST_EXPECTED,
                )
            )
            row = replace(row, description=current.description)
        elif _LOST in row.description:
            problems.append(
                Problem(
                    "la descripción tiene caracteres ilegibles («\ufffd»)",
                    sheet=row.sheet,
                    row=row.row,
                    column="Descripción",
                    value=row.description,
                    expected=LOST_EXPECTED,
                )
            )
        result.append(row)
    if problems:
        count = f"{len(problems)} problema" + ("s" if len(problems) != 1 else "")
        raise ValidationFailed(
            f"El catálogo «{filename}» tiene {count}; no se importó ninguna clave.",
            problems=problems,
        )
    return result, tuple(kept)


def _fields(row: CatalogRow) -> dict[str, Any]:
    """What a catalog file says about a clave: stored on insert, compared on update."""
    return {
        "description": row.description,
        "unit": row.unit,
        "presentation": row.presentation,
        "cucop": row.cucop,
        "group": row.group,
        "category": row.category.value,
        "iva_rate": row.iva_rate,
    }


def _changes(current: Clave, fields: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    changes = {}
    for name, new in fields.items():
        if new is None and name in _KEPT_WHEN_BLANK:
            continue
        old = getattr(current, name)
        if old != new:
            changes[name] = (old, new)
    return changes


def _search_text(code: str, description: str) -> str:
    return fold(f"{code} {description}")


def _write(ctx: Context, inserts: list[dict[str, Any]]) -> None:
    """Flush the updates (version-checked) and insert the new claves in one bulk statement."""
    try:
        ctx.db.flush()
        if inserts:
            ctx.db.execute(insert(Clave), inserts)
    except StaleDataError as exc:
        raise Conflict(
            "Otra persona modificó el catálogo mientras se importaba este archivo; "
            "no se importó nada. Vuelva a importarlo."
        ) from exc
    except IntegrityError as exc:
        raise Conflict(
            "Otra importación agregó las mismas claves al mismo tiempo; "
            "no se importó nada. Vuelva a importar el archivo."
        ) from exc


# ----- homologation --------------------------------------------------------------------------

INSTITUTION_CODE = Column(
    "code",
    (
        "Clave institucional",
        "Código institucional",
        "Código",
        "Clave interna",
        "Código interno",
        "Clave de la institución",
        "Código de la institución",
    ),
)
HOMOLOGATED_CLAVE = Column(
    "clave", ("Clave", "Clave CNIS", "Clave del Compendio", "Clave del cuadro básico")
)
HOMOLOGATION_COLUMNS = (INSTITUTION_CODE, HOMOLOGATED_CLAVE)

CODE_MAX_LENGTH = 60
"""The width of ``homologations.institution_code``."""
CODE_EXPECTED = (
    f"el código que la institución usa para el insumo (hasta {CODE_MAX_LENGTH} caracteres)"
)
_MAX_SUGGESTIONS = 100
"""Suggesting the closest clave costs ~10 ms against 4,000 claves; a file of wrong claves would
otherwise take minutes to refuse. Beyond this many, problems say what was expected only."""


@dataclass(frozen=True, slots=True)
class HomologationSummary:
    institution: str
    filename: str
    sha256: str
    new: int
    updated: int
    unchanged: int

    @property
    def total(self) -> int:
        return self.new + self.updated + self.unchanged


@dataclass(frozen=True, slots=True)
class _Mapping:
    """One row of a homologation file: the institution's code, its clave, and where it was."""

    code: str
    clave: str
    sheet: str
    row: int


def import_homologations(
    ctx: Context, *, institution_code: str, content: bytes, filename: str
) -> HomologationSummary:
    """Map the institution's own codes to claves from a file; all or nothing.

    Buyers may load any institution's table, a planner only their own. Every clave must be in
    the catalog (an unknown one is reported with the closest existing clave), and one code may
    not name two claves. New codes are added and codes whose clave changed are moved; codes
    absent from the file stay as they were.
    """
    institution = get_institution(ctx.db, institution_code)
    ctx.require_institution(institution.id)
    known: dict[str, int] = dict(ctx.db.execute(select(Clave.clave, Clave.id)).all())
    mappings = _read_homologations(content, filename, known)
    current = {
        homologation.institution_code: homologation
        for homologation in ctx.db.scalars(
            select(Homologation).where(Homologation.institution_id == institution.id)
        )
    }
    codes_by_id = {clave_id: code for code, clave_id in known.items()}
    inserts: list[dict[str, Any]] = []
    records: list[Record] = []
    updated = unchanged = 0
    for mapping in mappings:
        entity = f"homologation:{institution.code}:{mapping.code}"
        existing = current.get(mapping.code)
        if existing is None:
            inserts.append(
                {
                    "institution_id": institution.id,
                    "institution_code": mapping.code,
                    "clave_id": known[mapping.clave],
                    "created_at": ctx.now,
                }
            )
            records.append(
                Record(
                    "homologation.create",
                    entity,
                    {"institution": institution.code, "code": mapping.code, "clave": mapping.clave},
                )
            )
        elif existing.clave_id != known[mapping.clave]:
            old = codes_by_id[existing.clave_id]
            existing.clave_id = known[mapping.clave]
            updated += 1
            records.append(
                Record(
                    "homologation.update",
                    entity,
                    {
                        "institution": institution.code,
                        "code": mapping.code,
                        "changes": {"clave": {"old": old, "new": mapping.clave}},
                    },
                )
            )
        else:
            unchanged += 1
    try:
        ctx.db.flush()
        if inserts:
            ctx.db.execute(insert(Homologation), inserts)
    except IntegrityError as exc:
        raise Conflict(
            f"Otra importación agregó códigos de {institution.code} al mismo tiempo; "
            "no se importó nada. Vuelva a importar el archivo."
        ) from exc
    summary = HomologationSummary(
        institution=institution.code,
        filename=filename,
        sha256=hashlib.sha256(content).hexdigest(),
        new=len(inserts),
        updated=updated,
        unchanged=unchanged,
    )
    records.append(
        Record(
            "homologation.import",
            f"institution:{institution.code}",
            {
                "institution": institution.code,
                "filename": filename,
                "sha256": summary.sha256,
                "codes": summary.total,
                "new": summary.new,
                "updated": summary.updated,
                "unchanged": summary.unchanged,
            },
        )
    )
    ctx.record_many(records)
    return summary


def _read_homologations(content: bytes, filename: str, known: dict[str, int]) -> list[_Mapping]:
    """The file's code → clave rows; ``ValidationFailed`` lists every problem of the file."""
    headers = find_headers(read_sheets(content, filename), HOMOLOGATION_COLUMNS)
    problems: list[Problem] = []
    seen: dict[str, _Mapping] = {}
    suggestions: dict[str, str | None] = {}
    for header in headers:
        sheet = header.sheet.name
        code_column = _column_name(header, INSTITUTION_CODE)
        clave_column = _column_name(header, HOMOLOGATED_CLAVE)
        for number, cells in header.rows():
            raw_code = header.value(cells, INSTITUTION_CODE.key)
            raw_clave = header.value(cells, HOMOLOGATED_CLAVE.key)
            if is_blank(raw_code) and is_blank(raw_clave):
                continue
            code = text(raw_code)
            if code is None or len(code) > CODE_MAX_LENGTH:
                problems.append(
                    Problem(
                        "falta el código institucional"
                        if code is None
                        else f"el código institucional tiene más de {CODE_MAX_LENGTH} caracteres",
                        sheet=sheet,
                        row=number,
                        column=code_column,
                        value=None if raw_code is None else str(raw_code),
                        expected=CODE_EXPECTED,
                    )
                )
                code = None
            try:
                clave = str(parse_clave(raw_clave))
            except ClaveError as error:
                problems.append(error.problem(sheet=sheet, row=number, column=clave_column))
                continue
            if clave not in known:
                if clave not in suggestions and len(suggestions) < _MAX_SUGGESTIONS:
                    suggestions[clave] = suggest_clave(clave, known)
                suggestion = suggestions.get(clave)
                problems.append(
                    Problem(
                        "la clave no existe en el catálogo",
                        sheet=sheet,
                        row=number,
                        column=clave_column,
                        value=clave,
                        expected=(
                            f"una clave del catálogo; ¿quiso decir {suggestion}?"
                            if suggestion
                            else "una clave que exista en el catálogo"
                        ),
                    )
                )
                continue
            if code is None:
                continue
            earlier = seen.get(code)
            if earlier is None:
                seen[code] = _Mapping(code=code, clave=clave, sheet=sheet, row=number)
            elif earlier.clave != clave:
                where = f"la fila {earlier.row}" + (
                    f" de la hoja «{earlier.sheet}»" if earlier.sheet != sheet else ""
                )
                problems.append(
                    Problem(
                        f"el código institucional ya aparece en {where} con la clave"
                        f" {earlier.clave}, y aquí con la clave {clave}",
                        sheet=sheet,
                        row=number,
                        column=code_column,
                        value=code,
                        expected="una sola clave por código institucional",
                    )
                )
    if problems:
        count = f"{len(problems)} problema" + ("s" if len(problems) != 1 else "")
        raise ValidationFailed(
            f"La tabla de homologación «{filename}» tiene {count}; no se importó ningún código.",
            problems=problems,
        )
    return list(seen.values())


def _column_name(header: Header, column: Column) -> str:
    index = header.index(column.key)
    return column.names[0] if index is None else header.column_name(index)


def list_homologations(
    db: Session, *, institution_code: str, page: int, per_page: int
) -> tuple[Institution, Sequence[Homologation], int]:
    """One page of an institution's codes with their claves (loaded), ordered by code."""
    institution = get_institution(db, institution_code)
    where = Homologation.institution_id == institution.id
    total = db.scalar(select(func.count()).select_from(Homologation).where(where)) or 0
    items = db.scalars(
        select(Homologation)
        .options(joinedload(Homologation.clave))
        .where(where)
        .order_by(Homologation.institution_code)
        .offset((max(page, 1) - 1) * per_page)
        .limit(per_page)
    ).all()
    return institution, items, total


_IN_BATCH = 500
"""Codes per ``IN (...)``: well under SQLite's and PostgreSQL's limits on bound parameters."""


def translate_codes(
    db: Session, *, institution_id: int, codes: Iterable[str]
) -> tuple[dict[str, str], list[str]]:
    """The clave of each of the institution's codes, and the codes with none (in given order).

    Codes are compared as homologation files give them: trimmed, inner spaces single.
    """
    wanted = list(dict.fromkeys(" ".join(code.split()) for code in codes))
    wanted = [code for code in wanted if code]
    mapping: dict[str, str] = {}
    for start in range(0, len(wanted), _IN_BATCH):
        rows = db.execute(
            select(Homologation.institution_code, Clave.clave)
            .join(Clave, Homologation.clave_id == Clave.id)
            .where(
                Homologation.institution_id == institution_id,
                Homologation.institution_code.in_(wanted[start : start + _IN_BATCH]),
            )
        )
        mapping.update(rows.all())
    return mapping, [code for code in wanted if code not in mapping]
