"""Catalog use cases on the real database: import, search, homologation, translation."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from abasto.catalog import service
from abasto.catalog.models import Clave, Homologation
from abasto.catalog.reader import CATALOG_COLUMNS, CUCOP_EXPECTED
from abasto.catalog.rules import CLAVE_EXPECTED, parse_clave
from abasto.core import ledger
from abasto.core.context import Context
from abasto.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from abasto.core.ledger import LedgerEntry
from abasto.core.spreadsheet import find_header, is_total_label, read_sheets
from abasto.identity import service as identity
from abasto.identity.models import Institution, Role

DEMANDA = Path(__file__).resolve().parents[3] / "shared" / "data" / "demanda"

CATALOG_HEADER = ("Clave", "Descripción", "UM", "CUCoP")
SMALL_CATALOG: tuple[tuple[str, ...], ...] = (
    (
        "010.000.0101.00",
        "Ácido acetilsalicílico. Tableta soluble o efervescente. Cada tableta contiene: "
        "Ácido acetilsalicílico 300 mg. Envase con 20 tabletas.",
        "Envase",
        "25301001",
    ),
    (
        "010.000.0104.00",
        "Paracetamol. Tableta. Cada tableta contiene: Paracetamol 500 mg. Envase con 10 tabletas.",
        "Envase",
        "25301574",
    ),
    (
        "010.000.0104.01",
        "Paracetamol. Tableta. Cada tableta contiene: Paracetamol 500 mg. Envase con 20 tabletas.",
        "Envase",
        "25301575",
    ),
    ("060.066.0021", "Algodón. Torunda de algodón. Bolsa con 500 piezas.", "Bolsa", ""),
    ("080.148.0104", "Cajas de Petri de plástico, estériles, desechables.", "Caja", ""),
)


def table_csv(header: Sequence[str], rows: Sequence[Sequence[str]]) -> bytes:
    """A CSV file with a header row and these rows, as Excel on Windows would not mangle it."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *rows])
    return buffer.getvalue().encode()


def catalog_csv(rows: Sequence[Sequence[str]] = SMALL_CATALOG) -> bytes:
    return table_csv(CATALOG_HEADER, rows)


def import_small_catalog(ctx: Context) -> service.ImportSummary:
    return service.import_catalog(ctx, content=catalog_csv(), filename="catalogo.csv")


def entries(db: Session, action: str) -> list[LedgerEntry]:
    return list(
        db.scalars(
            select(LedgerEntry).where(LedgerEntry.action == action).order_by(LedgerEntry.seq)
        )
    )


def clave_codes(db: Session) -> set[str]:
    return set(db.scalars(select(Clave.clave)))


# ----- importing the real files --------------------------------------------------------------


def test_2025_2026_template_imports_3900_claves(ctx: Context) -> None:
    content = (DEMANDA / "2025-2026.xlsx").read_bytes()
    seen: list[tuple[int, int]] = []

    summary = service.import_catalog(
        ctx,
        content=content,
        filename="2025-2026.xlsx",
        progress=lambda done, expected: seen.append((done, expected)),
    )

    assert (summary.new, summary.updated, summary.unchanged) == (3900, 0, 0)
    assert service.count_claves(ctx.db) == 3900
    assert [w.row for w in summary.warnings] == [539]
    assert seen
    assert seen[-1][0] == seen[-1][1]
    assert len(entries(ctx.db, "clave.create")) == 3900
    (imported,) = entries(ctx.db, "catalog.import")
    assert imported.data()["sha256"] == hashlib.sha256(content).hexdigest()
    assert imported.data()["new"] == 3900
    rates = set(ctx.db.execute(select(Clave.group, Clave.category, Clave.iva_rate).distinct()))
    assert ("060", "medical_supply", Decimal("0.16")) in rates
    assert ("010", "medicine", Decimal("0")) in rates
    assert ledger.verify(ctx.db.connection()).ok


def test_2023_2024_appendix_imports_618_claves_with_the_detail_ones(ctx: Context) -> None:
    content = (DEMANDA / "2023-2024.xlsx").read_bytes()

    summary = service.import_catalog(ctx, content=content, filename="2023-2024.xlsx")

    assert (summary.new, summary.updated, summary.unchanged) == (618, 0, 0)
    assert service.count_claves(ctx.db) == 618
    detail_sheet = read_sheets(content, "2023-2024.xlsx")[1]
    header = find_header(detail_sheet, CATALOG_COLUMNS)
    assert header is not None
    detail = {
        str(parse_clave(header.value(row, "clave")))
        for _, row in header.rows()
        if not is_total_label(header.value(row, "clave"))
    }
    assert len(detail) == 608
    assert detail <= clave_codes(ctx.db)


def test_importing_the_same_file_again_changes_nothing(ctx: Context) -> None:
    content = (DEMANDA / "2023-2024.xlsx").read_bytes()
    service.import_catalog(ctx, content=content, filename="2023-2024.xlsx")
    head_before, _ = ledger.head(ctx.db)

    again = service.import_catalog(ctx, content=content, filename="2023-2024.xlsx")

    assert (again.new, again.updated, again.unchanged) == (0, 0, 618)
    # Only the import itself is recorded: no clave entry for claves that did not change.
    head_after, _ = ledger.head(ctx.db)
    assert head_after == head_before + 1
    assert [e.data()["unchanged"] for e in entries(ctx.db, "catalog.import")] == [0, 618]
    assert set(ctx.db.scalars(select(Clave.version))) == {1}


# ----- updates -------------------------------------------------------------------------------


def test_a_changed_description_is_one_update_on_the_ledger(ctx: Context) -> None:
    import_small_catalog(ctx)
    rows = [list(row) for row in SMALL_CATALOG]
    rows[1][1] = "Paracetamol. Comprimido. Cada comprimido contiene: Paracetamol 500 mg."

    summary = service.import_catalog(ctx, content=catalog_csv(rows), filename="v2.csv")

    assert (summary.new, summary.updated, summary.unchanged) == (0, 1, 4)
    (entry,) = entries(ctx.db, "clave.update")
    assert entry.entity == "clave:010.000.0104.00"
    assert entry.data()["changes"] == {
        "description": {"old": SMALL_CATALOG[1][1], "new": rows[1][1]},
    }
    clave = service.get_clave(ctx.db, "010.000.0104.00")
    assert (clave.description, clave.version) == (rows[1][1], 2)
    # The folded search text follows the description.
    assert [c.clave for c in service.search_claves(ctx.db, q="comprimido", page=1, per_page=10)[0]]
    assert entries(ctx.db, "catalog.import")[-1].data()["updated"] == 1


def test_new_claves_are_on_the_ledger_with_their_fields(ctx: Context) -> None:
    import_small_catalog(ctx)

    created = {e.entity: e.data() for e in entries(ctx.db, "clave.create")}

    assert len(created) == 5
    assert created["clave:060.066.0021"] == {
        "clave": "060.066.0021",
        "description": "Algodón. Torunda de algodón. Bolsa con 500 piezas.",
        "unit": "Bolsa",
        "presentation": None,
        "cucop": None,
        "group": "060",
        "category": "medical_supply",
        "iva_rate": "0.16",
    }


def test_a_file_without_a_column_does_not_erase_what_is_known(ctx: Context) -> None:
    import_small_catalog(ctx)
    without_unit_and_cucop = table_csv(
        ("Clave", "Descripción"), [(row[0], row[1]) for row in SMALL_CATALOG]
    )

    summary = service.import_catalog(ctx, content=without_unit_and_cucop, filename="solo.csv")

    assert (summary.new, summary.updated, summary.unchanged) == (0, 0, 5)
    clave = service.get_clave(ctx.db, "010.000.0104.00")
    assert (clave.unit, clave.cucop) == ("Envase", 25301574)


def test_new_and_changed_claves_in_one_xlsx(ctx: Context) -> None:
    import_small_catalog(ctx)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Catálogo 2027"])
    sheet.append(["Clave", "Descripción", "UM", "CUCoP"])
    sheet.append(["010.000.0104.00", SMALL_CATALOG[1][1], "Caja", 25301574])
    sheet.append(["010.000.5555.00", "Medicamento nuevo. Solución inyectable.", "Ampolleta", None])
    buffer = io.BytesIO()
    workbook.save(buffer)

    summary = service.import_catalog(ctx, content=buffer.getvalue(), filename="2027.xlsx")

    assert (summary.new, summary.updated, summary.unchanged) == (1, 1, 0)
    (entry,) = entries(ctx.db, "clave.update")
    assert entry.data()["changes"] == {"unit": {"old": "Envase", "new": "Caja"}}
    assert service.count_claves(ctx.db) == 6


def test_an_update_that_meets_a_concurrent_change_is_refused(ctx: Context) -> None:
    import_small_catalog(ctx)
    # This session holds version 1 (the identity map is weak: keep a reference).
    held = service.get_clave(ctx.db, "010.000.0104.00")
    assert held.version == 1
    # Another transaction changes the clave meanwhile, behind this session's back.
    ctx.db.execute(
        update(Clave)
        .where(Clave.clave == "010.000.0104.00")
        .values(version=2, description="Cambiada por otra persona")
        .execution_options(synchronize_session=False)
    )
    rows = [list(row) for row in SMALL_CATALOG]
    rows[1][2] = "Caja"

    with pytest.raises(Conflict, match="mientras se importaba"):
        service.import_catalog(ctx, content=catalog_csv(rows), filename="v2.csv")


# ----- bad files -----------------------------------------------------------------------------


def test_a_bad_file_lists_every_problem_and_changes_nothing(ctx: Context) -> None:
    import_small_catalog(ctx)
    before = (service.count_claves(ctx.db), ledger.head(ctx.db))
    rows = [
        ("010.000.0104.00", "Paracetamol. Tableta. Envase con 10 tabletas.", "Envase", "25301574"),
        ("010.000.0105", "Paracetamol sin variante", "Envase", ""),
        ("010.000.0106.00", "", "Envase", ""),
        ("010.000.0104.00", "Paracetamol repetido", "Envase", ""),
        ("010.000.0107.00", "Con CUCoP de texto", "Envase", "ver nota"),
        ("010.000.9999.00", "Una clave nueva que tampoco entra", "Envase", ""),
    ]

    with pytest.raises(ValidationFailed) as caught:
        service.import_catalog(ctx, content=catalog_csv(rows), filename="malo.csv")

    located = [(p.row, p.column, p.value, p.expected) for p in caught.value.problems]
    assert located == [
        (3, "Clave", "010.000.0105", CLAVE_EXPECTED),
        (4, "Descripción", None, "la descripción del insumo"),
        (5, "Clave", "010.000.0104.00", "cada clave una sola vez por hoja"),
        (6, "CUCoP", "ver nota", CUCOP_EXPECTED),
    ]
    assert {p.sheet for p in caught.value.problems} == {"malo"}
    assert "4 problemas" in caught.value.detail
    assert (service.count_claves(ctx.db), ledger.head(ctx.db)) == before
    assert "010.000.9999.00" not in clave_codes(ctx.db)


def test_a_file_that_is_not_a_catalog_is_refused(ctx: Context) -> None:
    with pytest.raises(ValidationFailed, match="no es una hoja de cálculo"):
        service.import_catalog(ctx, content=b"%PDF-1.7 ...", filename="catalogo.pdf")
    assert service.count_claves(ctx.db) == 0


# ----- search --------------------------------------------------------------------------------


def found(db: Session, q: str, *, page: int = 1, per_page: int = 20) -> list[str]:
    items, _ = service.search_claves(db, q=q, page=page, per_page=per_page)
    return [c.clave for c in items]


def test_search_by_words_ignores_accents_case_and_order(ctx: Context) -> None:
    import_small_catalog(ctx)

    assert found(ctx.db, "acido acetilsalicilico") == ["010.000.0101.00"]
    assert found(ctx.db, "ÁCIDO  Acetilsalicílico") == ["010.000.0101.00"]
    assert found(ctx.db, "tabletas 20 paracetamol") == ["010.000.0104.01"]
    assert found(ctx.db, "algodon") == ["060.066.0021"]
    assert found(ctx.db, "paracetamol ibuprofeno") == []


def test_search_by_clave_prefix_segment_or_cucop(ctx: Context) -> None:
    import_small_catalog(ctx)

    assert found(ctx.db, "010.000.0104") == ["010.000.0104.00", "010.000.0104.01"]
    assert found(ctx.db, "010.000.0104.01") == ["010.000.0104.01"]
    assert found(ctx.db, " 060.066 ") == ["060.066.0021"]
    assert found(ctx.db, "0104") == ["010.000.0104.00", "010.000.0104.01", "080.148.0104"]
    assert found(ctx.db, "25301574") == ["010.000.0104.00"]
    assert found(ctx.db, "999.") == []


def test_search_pages_are_ordered_by_clave_and_count_all_matches(ctx: Context) -> None:
    import_small_catalog(ctx)

    first, total = service.search_claves(ctx.db, q="", page=1, per_page=2)
    third, _ = service.search_claves(ctx.db, q="", page=3, per_page=2)

    assert total == 5
    assert [c.clave for c in first] == ["010.000.0101.00", "010.000.0104.00"]
    assert [c.clave for c in third] == ["080.148.0104"]
    assert found(ctx.db, "paracetamol", page=2, per_page=1) == ["010.000.0104.01"]


def test_an_unknown_clave_is_not_found_with_a_suggestion(ctx: Context) -> None:
    import_small_catalog(ctx)

    with pytest.raises(NotFound) as caught:
        service.get_clave(ctx.db, "010.000.0101.09")
    assert caught.value.detail == (
        "No existe la clave «010.000.0101.09» en el catálogo. ¿Quiso decir 010.000.0101.00?"
    )
    with pytest.raises(NotFound) as malformed:
        service.get_clave(ctx.db, "paracetamol")
    assert malformed.value.expected == CLAVE_EXPECTED
    assert service.get_clave(ctx.db, " 010.000.0104.00 ").clave == "010.000.0104.00"


# ----- homologation --------------------------------------------------------------------------


def register(ctx: Context, code: str = "IMSS") -> Institution:
    return identity.register_institution(
        ctx, code=code, name=f"Institución {code}", kind="seguridad_social"
    )


def homologation_csv(
    rows: Sequence[Sequence[str]], header: Sequence[str] = ("Código", "Clave")
) -> bytes:
    return table_csv(header, rows)


def planner_of(ctx: Context, institution: str, username: str) -> Context:
    user = identity.create_user(
        ctx,
        username=username,
        full_name=username.title(),
        password="contrasena-segura-1",
        role=Role.institucion,
        institution_code=institution,
    )
    return Context(db=ctx.db, actor=identity.actor_of(user), now=ctx.now)


def test_homologation_maps_codes_to_claves_and_translates(ctx: Context) -> None:
    import_small_catalog(ctx)
    imss = register(ctx)
    content = homologation_csv(
        [("1040", "010.000.0104.00"), ("1041", "010.000.0104.01"), ("A-21", "060.066.0021")],
        header=("Clave institucional", "Clave CNIS"),
    )

    summary = service.import_homologations(
        ctx, institution_code="imss", content=content, filename="imss.csv"
    )

    assert (summary.institution, summary.new, summary.updated, summary.unchanged) == (
        "IMSS",
        3,
        0,
        0,
    )
    mapping, unmapped = service.translate_codes(
        ctx.db, institution_id=imss.id, codes=["1040", " A-21 ", "9999", "1040"]
    )
    assert mapping == {"1040": "010.000.0104.00", "A-21": "060.066.0021"}
    assert unmapped == ["9999"]
    created = entries(ctx.db, "homologation.create")
    assert [e.entity for e in created][:1] == ["homologation:IMSS:1040"]
    assert entries(ctx.db, "homologation.import")[0].data()["new"] == 3
    detail = service.get_clave_detail(ctx.db, "010.000.0104.00")
    assert [(h.institution.code, h.institution_code) for h in detail.homologations] == [
        ("IMSS", "1040")
    ]


def test_homologation_upserts_by_institution_and_code(ctx: Context) -> None:
    import_small_catalog(ctx)
    register(ctx)
    register(ctx, "ISSSTE")
    first = homologation_csv([("1040", "010.000.0104.00"), ("1041", "010.000.0104.01")])
    service.import_homologations(ctx, institution_code="IMSS", content=first, filename="a.csv")
    # The same code at another institution is another mapping.
    service.import_homologations(ctx, institution_code="ISSSTE", content=first, filename="a.csv")
    moved = homologation_csv(
        [("1040", "010.000.0104.00"), ("1041", "010.000.0101.00"), ("1042", "080.148.0104")],
        header=("Clave interna", "Clave del Compendio"),
    )

    summary = service.import_homologations(
        ctx, institution_code="IMSS", content=moved, filename="b.csv"
    )

    assert (summary.new, summary.updated, summary.unchanged) == (1, 1, 1)
    (entry,) = entries(ctx.db, "homologation.update")
    assert entry.entity == "homologation:IMSS:1041"
    assert entry.data()["changes"] == {
        "clave": {"old": "010.000.0104.01", "new": "010.000.0101.00"}
    }
    assert ctx.db.scalar(select(func.count()).select_from(Homologation)) == 5
    institution, items, total = service.list_homologations(
        ctx.db, institution_code="IMSS", page=1, per_page=10
    )
    assert (institution.code, total) == ("IMSS", 3)
    assert [(h.institution_code, h.clave.clave) for h in items] == [
        ("1040", "010.000.0104.00"),
        ("1041", "010.000.0101.00"),
        ("1042", "080.148.0104"),
    ]


def test_a_bad_homologation_file_lists_every_problem_and_changes_nothing(ctx: Context) -> None:
    import_small_catalog(ctx)
    register(ctx)
    before = ledger.head(ctx.db)
    content = homologation_csv(
        [
            ("1040", "010.000.0104.00"),
            ("1050", "010.000.0101.09"),
            ("", "060.066.0021"),
            ("1060", "10.000.0104"),
            ("1040", "010.000.0104.01"),
            ("1040", "010.000.0104.00"),
            ("1070", "070.000.0001"),
        ]
    )

    with pytest.raises(ValidationFailed) as caught:
        service.import_homologations(
            ctx, institution_code="IMSS", content=content, filename="imss.csv"
        )

    problems = caught.value.problems
    assert [(p.row, p.column, p.value) for p in problems] == [
        (3, "Clave", "010.000.0101.09"),
        (4, "Código", None),
        (5, "Clave", "10.000.0104"),
        (6, "Código", "1040"),
        (8, "Clave", "070.000.0001"),
    ]
    assert problems[0].message == "la clave no existe en el catálogo"
    assert problems[0].expected == "una clave del catálogo; ¿quiso decir 010.000.0101.00?"
    assert problems[1].message == "falta el código institucional"
    assert problems[2].expected == CLAVE_EXPECTED
    assert "la fila 2 con la clave 010.000.0104.00" in problems[3].message
    assert problems[4].expected == "una clave que exista en el catálogo"
    assert all(p.sheet == "imss" for p in problems)
    assert ctx.db.scalar(select(func.count()).select_from(Homologation)) == 0
    assert ledger.head(ctx.db) == before


def test_homologation_needs_a_known_institution_and_the_right_scope(ctx: Context) -> None:
    import_small_catalog(ctx)
    register(ctx)
    register(ctx, "ISSSTE")
    content = homologation_csv([("1040", "010.000.0104.00")])

    with pytest.raises(NotFound, match="No existe la institución «PEMEX»"):
        service.import_homologations(
            ctx, institution_code="PEMEX", content=content, filename="x.csv"
        )
    issste_planner = planner_of(ctx, "ISSSTE", "planeacion.issste")
    with pytest.raises(Forbidden):
        service.import_homologations(
            issste_planner, institution_code="IMSS", content=content, filename="x.csv"
        )
    imss_planner = planner_of(ctx, "IMSS", "planeacion.imss")
    summary = service.import_homologations(
        imss_planner, institution_code="IMSS", content=content, filename="x.csv"
    )
    assert summary.new == 1
    (entry,) = entries(ctx.db, "homologation.import")
    assert entry.actor == "usuario:planeacion.imss"


def test_a_homologation_file_without_the_columns_says_which_are_expected(ctx: Context) -> None:
    register(ctx)
    content = table_csv(("Insumo", "Descripción"), [("1040", "Paracetamol")])

    with pytest.raises(ValidationFailed) as caught:
        service.import_homologations(
            ctx, institution_code="IMSS", content=content, filename="x.csv"
        )

    expected = " ".join(p.expected or "" for p in caught.value.problems)
    assert "«Clave institucional»" in expected
    assert "«Clave CNIS»" in expected


def test_translating_many_codes_batches_the_lookup(ctx: Context) -> None:
    import_small_catalog(ctx)
    imss = register(ctx)
    rows = [(f"C{n:05d}", SMALL_CATALOG[n % 5][0]) for n in range(1200)]
    service.import_homologations(
        ctx, institution_code="IMSS", content=homologation_csv(rows), filename="imss.csv"
    )

    mapping, unmapped = service.translate_codes(
        ctx.db, institution_id=imss.id, codes=[code for code, _ in rows] + ["nada"]
    )

    assert len(mapping) == 1200
    assert mapping["C00007"] == SMALL_CATALOG[2][0]
    assert unmapped == ["nada"]
    assert json.loads(entries(ctx.db, "homologation.import")[0].payload)["new"] == 1200


# ----- encodings and lost characters --------------------------------------------------------


def test_a_latin1_export_never_replaces_descriptions_with_question_marks(ctx: Context) -> None:
    real = (DEMANDA / "2025-2026.xlsx").read_bytes()
    service.import_catalog(ctx, content=real, filename="2025-2026.xlsx")
    before = dict(ctx.db.execute(select(Clave.clave, Clave.description)).all())
    # What saving the catalog as a Latin-1 CSV does: «μ», «”», «—» and «≥» become «?».
    rows = [(clave, description) for clave, description in sorted(before.items())]
    latin1 = table_csv_bytes(("Clave", "Descripción"), rows, "latin-1")
    assert latin1.count(b"?") > sum(description.count("?") for description in before.values())

    summary = service.import_catalog(ctx, content=latin1, filename="catalogo-latin1.csv")

    kept = [w for w in summary.warnings if "perdió caracteres" in w.message]
    assert len(kept) == 54
    assert all(w.value is not None and "?" in w.value for w in kept)
    assert (summary.updated, summary.unchanged) == (0, len(before))
    assert dict(ctx.db.execute(select(Clave.clave, Clave.description)).all()) == before
    assert not entries(ctx.db, "clave.update")


def test_unreadable_characters_in_a_new_description_are_refused(ctx: Context) -> None:
    rows = [("010.000.0104.00", "Paracetamol 500 mg. Envase con 10 tabletas \ufffd 20 \ufffdC.")]
    head = ledger.head(ctx.db)[0]

    with pytest.raises(ValidationFailed) as refused:
        service.import_catalog(
            ctx, content=table_csv(("Clave", "Descripción"), rows), filename="c.csv"
        )

    [problem] = refused.value.problems
    assert (problem.row, problem.message) == (
        2,
        "la descripción tiene caracteres ilegibles («\ufffd»)",
    )
    assert clave_codes(ctx.db) == set()
    assert ledger.head(ctx.db)[0] == head


def test_a_csv_whose_encoding_cannot_be_told_is_refused_unless_named(ctx: Context) -> None:
    dos = table_csv_bytes(CATALOG_HEADER, SMALL_CATALOG, "cp850")

    with pytest.raises(ValidationFailed) as refused:
        service.import_catalog(ctx, content=dos, filename="catalogo.csv")
    summary = service.import_catalog(ctx, content=dos, filename="catalogo.csv", encoding="cp850")

    assert "No se reconoce la codificación del archivo «catalogo.csv»" in refused.value.detail
    assert "Descripci¢n" in refused.value.detail
    assert summary.new == len(SMALL_CATALOG)
    stored = ctx.db.scalar(select(Clave.description).where(Clave.clave == "060.066.0021"))
    assert stored == "Algodón. Torunda de algodón. Bolsa con 500 piezas."


def table_csv_bytes(header: Sequence[str], rows: Sequence[Sequence[str]], encoding: str) -> bytes:
    """``table_csv`` saved in a legacy encoding, characters it lacks written as «?»."""
    return table_csv(header, rows).decode().encode(encoding, errors="replace")
