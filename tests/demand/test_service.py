"""Demand use cases on the real database: rounds, lines, imports, consolidation, forecasts."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from abasto.catalog import service as catalog
from abasto.catalog.models import Clave
from abasto.core import ledger
from abasto.core.context import Context
from abasto.core.errors import Conflict, Forbidden, NotFound, Problem, ValidationFailed
from abasto.core.ledger import LedgerEntry
from abasto.core.text import fold
from abasto.demand import appendix, rules, service
from abasto.demand.models import DemandLine, ForecastSuggestion
from abasto.demand.rules import Pair
from abasto.identity import service as identity
from abasto.identity.models import Institution, Role, Unit
from abasto.scenario.build import build_scenario
from abasto.scenario.load import load_scenario
from tests.catalog.test_service import SMALL_CATALOG, catalog_csv, table_csv
from tests.conftest import xlsx

DEMANDA = Path(__file__).resolve().parents[3] / "shared" / "data" / "demanda"
REAL = DEMANDA / "2023-2024.xlsx"
PARACETAMOL, PARACETAMOL_20, ASPIRINA = "010.000.0104.00", "010.000.0104.01", "010.000.0101.00"
TORUNDA, PETRI = "060.066.0021", "080.148.0104"
ROUND = "2027-2028"


# ----- a small sector, and files -------------------------------------------------------------


def build_world(ctx: Context) -> Context:
    """IMSS (two units), ISSSTE, CCINSHAE with two members, five claves; a round with all."""
    catalog.import_catalog(ctx, content=catalog_csv(), filename="catalogo.csv")
    identity.register_institution(
        ctx,
        code="IMSS",
        name="Instituto Mexicano del Seguro Social",
        kind="seguridad social",
        units=[
            identity.UnitSpec("IMSS-ALM", "Almacén Central IMSS", "almacen", "09"),
            identity.UnitSpec("IMSS-OOAD-01", "OOAD Aguascalientes", "OOAD", "01"),
        ],
    )
    identity.register_institution(
        ctx,
        code="ISSSTE",
        name="Instituto de Seguridad y Servicios Sociales de los Trabajadores del Estado",
        kind="seguridad social",
        units=[identity.UnitSpec("ISSSTE-ALM", "Almacén Central ISSSTE", "almacen", "09")],
    )
    identity.register_institution(ctx, code="CCINSHAE", name="Comisión Coordinadora", kind="x")
    identity.register_institution(
        ctx,
        code="INCAN",
        name="Instituto Nacional de Cancerología",
        kind="x",
        coordinator_code="CCINSHAE",
        units=[identity.UnitSpec("INCAN-01", "Instituto Nacional de Cancerología", "hospital")],
    )
    identity.register_institution(
        ctx,
        code="HGM",
        name="Hospital General de México",
        kind="x",
        coordinator_code="CCINSHAE",
    )
    identity.register_institution(ctx, code="BIRMEX", name="BIRMEX", kind=service.BUYER_KIND)
    service.open_round(ctx, name=ROUND, periods=["2027", "2028"])
    return ctx


@pytest.fixture
def world(ctx: Context) -> Context:
    return build_world(ctx)


def planner(ctx: Context, institution: str, username: str | None = None) -> Context:
    user = identity.create_user(
        ctx,
        username=username or institution.lower().replace("-", ""),
        full_name=f"Planeación {institution}",
        password="contrasena-segura-1",
        role=Role.institucion,
        institution_code=institution,
    )
    return Context(db=ctx.db, actor=identity.actor_of(user), now=ctx.now)


def appendix_file(
    institutions: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    sheet: str = "Apéndice",
    extra: dict[str, Sequence[Sequence[object]]] | None = None,
) -> bytes:
    """An appendix as officials write it: title, names above MIN/MAX pairs, a totals row.

    ``rows`` are (clave, min, max, min, max, …) in the order of ``institutions``.
    """
    return xlsx({sheet: appendix_rows(institutions, rows), **(extra or {})})


def appendix_rows(
    institutions: Sequence[str], rows: Sequence[Sequence[object]]
) -> list[list[object]]:
    groups: list[object] = [None, None, None, None]
    for name in institutions:
        groups += [name, None]
    header: list[object] = ["#", "CLAVES", "DESCRIPCIÓN", "UM"]
    header += ["CANTIDAD MIN", "CANTIDAD MAX"] * len(institutions)
    lines: list[list[object]] = [["APÉNDICE DE PRUEBA"], groups, header]
    for number, (clave, *quantities) in enumerate(rows, start=1):
        lines.append([number, clave, "Descripción", "Pieza", *quantities])
    return lines


def lines_count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(DemandLine)) or 0


def entries(db: Session, action: str) -> list[LedgerEntry]:
    return list(
        db.scalars(
            select(LedgerEntry).where(LedgerEntry.action == action).order_by(LedgerEntry.seq)
        )
    )


def quantities(db: Session, round_name: str = ROUND) -> dict[tuple[str, str, str], Pair]:
    """(institution, clave, unit) → quantities of every line of the round."""
    found = service.get_round(db, round_name)
    return {
        (line.institution.code, line.clave.clave, line.unit_code): Pair(line.min_qty, line.max_qty)
        for line in db.scalars(select(DemandLine).where(DemandLine.round_id == found.id))
    }


# ----- rounds --------------------------------------------------------------------------------


def test_opening_a_round_takes_every_institution_but_the_buyer(world: Context) -> None:
    found = service.get_round(world.db, ROUND)
    progress = service.round_progress(world.db, name=ROUND)

    assert found.status == "open"
    assert found.min_share == Decimal("0.40")
    assert [p["label"] for p in found.periods] == ["2027", "2028"]
    assert [i.code for i in progress.institutions] == ["IMSS", "ISSSTE", "CCINSHAE", "INCAN", "HGM"]
    assert (progress.submitted, progress.pending, progress.lines) == (0, 5, 0)
    (opened,) = entries(world.db, "round.open")
    assert opened.entity == f"round:{ROUND}"
    assert opened.data() == {
        "name": ROUND,
        "periods": found.periods,
        "min_share": "0.40",
        "institutions": ["IMSS", "ISSSTE", "CCINSHAE", "INCAN", "HGM"],
    }


def test_a_round_of_some_institutions_with_its_own_share(world: Context) -> None:
    found = service.open_round(
        world,
        name="Oncológicos 2027",
        periods=["2027"],
        institutions=["issste", "IMSS"],
        min_share=Decimal("0.5"),
    )

    progress = service.round_progress(world.db, name=found.name)
    assert [i.code for i in progress.institutions] == ["ISSSTE", "IMSS"]
    assert found.min_share == Decimal("0.5")


def test_a_retired_institution_is_offered_for_no_new_round(world: Context) -> None:
    """Issue 15, item 1: retiring keeps the history and offers the institution for nothing new."""
    identity.retire_institution(world, code="HGM", reason="Se integró a otra institución")

    everyone = service.open_round(world, name="Sin retiradas", periods=["2029"])
    progress = service.round_progress(world.db, name=everyone.name)
    assert [i.code for i in progress.institutions] == ["IMSS", "ISSSTE", "CCINSHAE", "INCAN"]
    with pytest.raises(ValidationFailed) as refused:
        service.open_round(world, name="Con retirada", periods=["2029"], institutions=["HGM"])
    assert [(p.value, p.message) for p in refused.value.problems] == [
        ("HGM", "La institución está retirada del registro.")
    ]


def test_opening_refuses_every_problem_at_once_and_a_repeated_name(world: Context) -> None:
    with pytest.raises(ValidationFailed) as caught:
        service.open_round(
            world,
            name="2027/2028",
            periods=["2028,2027"],
            institutions=["IMSS", "PEMEX"],
            min_share=Decimal("1.5"),
        )
    fields = [(p.field, p.value) for p in caught.value.problems]
    assert fields == [
        ("name", "2027/2028"),
        ("min_share", "1.5"),
        ("periods", "2028,2027"),
        ("institutions", "PEMEX"),
    ]
    with pytest.raises(Conflict, match="Ya existe la ronda «2027-2028»"):
        service.open_round(world, name=ROUND, periods=["2027"])


def test_freeze_and_reopen_with_a_reason_are_on_the_ledger(world: Context) -> None:
    service.set_line(
        world, round_name=ROUND, institution_code="IMSS", clave=PARACETAMOL,
        min_qty=40, max_qty=100, version=None,
    )  # fmt: skip

    frozen = service.freeze_round(world, name=ROUND)

    assert (frozen.status, frozen.frozen_at) == ("frozen", world.now)
    (entry,) = entries(world.db, "round.freeze")
    assert entry.data()["lines"] == 1
    assert (entry.data()["min"], entry.data()["max"]) == (40, 100)
    assert len(entry.data()["lines_sha256"]) == 64
    with pytest.raises(Conflict, match="ya está congelada"):
        service.freeze_round(world, name=ROUND)
    with pytest.raises(ValidationFailed, match="falta el motivo"):
        service.reopen_round(world, name=ROUND, reason="   ")

    reopened = service.reopen_round(world, name=ROUND, reason="IMSS corrige oncológicos")

    assert (reopened.status, reopened.frozen_at) == ("open", None)
    (entry,) = entries(world.db, "round.reopen")
    assert entry.data()["reason"] == "IMSS corrige oncológicos"
    with pytest.raises(Conflict, match="está abierta"):
        service.reopen_round(world, name=ROUND, reason="otra vez")


def test_a_stale_round_version_is_refused(world: Context) -> None:
    found = service.get_round(world.db, ROUND)
    with pytest.raises(Conflict, match="cambió después de que usted la leyó"):
        service.freeze_round(world, name=ROUND, version=found.version + 1)


def test_an_unknown_round_lists_the_rounds_there_are(world: Context) -> None:
    with pytest.raises(
        NotFound, match=r"No existe la ronda de demanda «2030»\. Rondas registradas: 2027-2028"
    ):
        service.get_round(world.db, "2030")


# ----- an institution's lines ----------------------------------------------------------------


def test_a_planner_creates_changes_and_removes_a_line_each_on_the_ledger(world: Context) -> None:
    imss = planner(world, "IMSS")

    created = service.set_line(
        imss, round_name=ROUND, institution_code="IMSS", clave=PARACETAMOL,
        min_qty="1,200", max_qty="3000", version=None,
    )  # fmt: skip
    changed = service.set_line(
        imss, round_name=ROUND, institution_code="IMSS", clave=PARACETAMOL,
        min_qty=1200, max_qty=2500, version=created.version,
    )  # fmt: skip
    removed = service.set_line(
        imss, round_name=ROUND, institution_code="IMSS", clave=PARACETAMOL,
        min_qty="", max_qty="", version=changed.version,
    )  # fmt: skip

    assert (created.min_qty, created.max_qty, created.version) == (1200, 3000, 1)
    assert (changed.max_qty, changed.version) == (2500, 2)
    assert (removed.min_qty, removed.version) == (None, None)
    sets = [e.data() for e in entries(world.db, "line.set")]
    assert sets[0]["old"] is None
    assert sets[1]["old"] == {"min": 1200, "max": 3000}
    assert sets[1]["new"] == {"min": 1200, "max": 2500}
    assert entries(world.db, "line.remove")[0].data()["old"] == {"min": 1200, "max": 2500}
    assert entries(world.db, "line.set")[0].actor == "usuario:imss"
    progress = service.round_progress(world.db, name=ROUND).institutions[0]
    assert progress.last_change_at == world.now


def test_saving_the_same_quantities_writes_nothing(world: Context) -> None:
    line = service.set_line(
        world, round_name=ROUND, institution_code="IMSS", clave=PARACETAMOL,
        min_qty=40, max_qty=100, version=None,
    )  # fmt: skip
    head, _ = ledger.head(world.db)

    again = service.set_line(
        world, round_name=ROUND, institution_code="IMSS", clave=PARACETAMOL,
        min_qty=40, max_qty=100, version=line.version,
    )  # fmt: skip

    assert again.version == line.version
    assert ledger.head(world.db)[0] == head


def test_a_concurrent_edit_is_refused_with_409(world: Context) -> None:
    first = service.set_line(
        world, round_name=ROUND, institution_code="IMSS", clave=PARACETAMOL,
        min_qty=40, max_qty=100, version=None,
    )  # fmt: skip
    service.set_line(
        world, round_name=ROUND, institution_code="IMSS", clave=PARACETAMOL,
        min_qty=40, max_qty=90, version=first.version,
    )  # fmt: skip

    with pytest.raises(Conflict, match="va en la versión 2") as stale:
        service.set_line(
            world, round_name=ROUND, institution_code="IMSS", clave=PARACETAMOL,
            min_qty=50, max_qty=120, version=first.version,
        )  # fmt: skip
    with pytest.raises(Conflict):
        # Two planners both saw the line missing: the second one's "new" line is stale.
        service.set_line(
            world, round_name=ROUND, institution_code="IMSS", clave=PARACETAMOL,
            min_qty=50, max_qty=120, version=None,
        )  # fmt: skip
    assert stale.value.status == 409
    assert quantities(world.db)[("IMSS", PARACETAMOL, "")] == Pair(40, 90)


def test_line_problems_are_all_reported_and_nothing_is_written(world: Context) -> None:
    with pytest.raises(ValidationFailed) as text_and_negative:
        service.set_line(
            world, round_name=ROUND, institution_code="IMSS", clave=PARACETAMOL,
            min_qty="diez", max_qty="-5", version=None,
        )  # fmt: skip
    with pytest.raises(ValidationFailed) as below_share:
        service.set_line(
            world, round_name=ROUND, institution_code="IMSS", clave=PARACETAMOL,
            min_qty=39, max_qty=100, version=None,
        )  # fmt: skip
    with pytest.raises(ValidationFailed) as min_above_max:
        service.set_line(
            world, round_name=ROUND, institution_code="IMSS", clave=PARACETAMOL,
            min_qty=101, max_qty=100, version=None,
        )  # fmt: skip

    assert [(p.field, p.message) for p in text_and_negative.value.problems] == [
        ("min_qty", "la cantidad no es un número"),
        ("max_qty", "la cantidad es negativa"),
    ]
    (problem,) = below_share.value.problems
    assert problem.expected == "al menos 40 (el 40 % de 100, redondeado hacia arriba)"
    assert min_above_max.value.problems[0].message == "el mínimo es mayor que el máximo (100)"
    assert lines_count(world.db) == 0
    assert entries(world.db, "line.set") == []


def test_an_unknown_clave_suggests_the_closest(world: Context) -> None:
    with pytest.raises(NotFound, match=re.escape("¿Quiso decir 010.000.0104.00?")):
        service.set_line(
            world, round_name=ROUND, institution_code="IMSS", clave="010.000.0140.00",
            min_qty=4, max_qty=10, version=None,
        )  # fmt: skip


def test_planners_write_and_read_only_their_own_institution(world: Context) -> None:
    issste = planner(world, "ISSSTE")

    with pytest.raises(Forbidden):
        service.set_line(
            issste, round_name=ROUND, institution_code="IMSS", clave=PARACETAMOL,
            min_qty=4, max_qty=10, version=None,
        )  # fmt: skip
    with pytest.raises(Forbidden):
        service.institution_lines(issste, round_name=ROUND, institution_code="IMSS")
    with pytest.raises(Forbidden):
        service.institution_sheet(issste, round_name=ROUND, institution_code="IMSS")
    own = service.institution_lines(issste, round_name=ROUND, institution_code="ISSSTE")
    assert own.total == len(SMALL_CATALOG)


def test_a_frozen_round_refuses_every_write(world: Context) -> None:
    service.freeze_round(world, name=ROUND)

    with pytest.raises(Conflict, match="está congelada") as caught:
        service.set_line(
            world, round_name=ROUND, institution_code="IMSS", clave=PARACETAMOL,
            min_qty=4, max_qty=10, version=None,
        )  # fmt: skip
    with pytest.raises(Conflict, match="está congelada"):
        service.import_appendix(
            world,
            round_name=ROUND,
            content=appendix_file(["IMSS"], [(PARACETAMOL, 4, 10)]),
            filename="apendice.xlsx",
        )
    with pytest.raises(Conflict, match="está congelada"):
        service.submit_demand(world, round_name=ROUND, institution_code="IMSS")
    assert caught.value.status == 409
    assert lines_count(world.db) == 0


def test_lines_per_delivery_point_and_the_unit_must_be_the_institutions(world: Context) -> None:
    service.set_line(
        world, round_name=ROUND, institution_code="IMSS", clave=PARACETAMOL,
        unit_code="IMSS-OOAD-01", min_qty=8, max_qty=20, version=None,
    )  # fmt: skip
    with pytest.raises(ValidationFailed, match="IMSS no tiene la unidad «ISSSTE-ALM»"):
        service.set_line(
            world, round_name=ROUND, institution_code="IMSS", clave=PARACETAMOL,
            unit_code="ISSSTE-ALM", min_qty=8, max_qty=20, version=None,
        )  # fmt: skip

    page = service.institution_lines(
        world, round_name=ROUND, institution_code="IMSS", unit_code="IMSS-OOAD-01",
        only="con-cantidades",
    )  # fmt: skip
    whole = service.institution_lines(
        world, round_name=ROUND, institution_code="IMSS", only="con-cantidades"
    )
    assert [(i.clave, i.min_qty, i.unit_code) for i in page.items] == [
        (PARACETAMOL, 8, "IMSS-OOAD-01")
    ]
    assert whole.total == 0
    assert service.consolidate_round(world.db, round_name=ROUND).total == Pair(8, 20)


def test_lines_page_searches_like_the_catalog(world: Context) -> None:
    page = service.institution_lines(world, round_name=ROUND, institution_code="IMSS", q="0104")
    assert [i.clave for i in page.items] == [PARACETAMOL, PARACETAMOL_20, PETRI]


def test_submitting_needs_lines_and_records_the_total(world: Context) -> None:
    imss = planner(world, "IMSS")
    with pytest.raises(ValidationFailed, match="no tiene ninguna línea"):
        service.submit_demand(imss, round_name=ROUND, institution_code="IMSS")
    service.set_line(
        imss, round_name=ROUND, institution_code="IMSS", clave=PARACETAMOL,
        min_qty=40, max_qty=100, version=None,
    )  # fmt: skip

    service.submit_demand(imss, round_name=ROUND, institution_code="IMSS")

    progress = service.round_progress(world.db, name=ROUND)
    assert (progress.submitted, progress.pending) == (1, 4)
    assert progress.institutions[0].submitted_at == world.now
    (entry,) = entries(world.db, "demand.submit")
    assert entry.data() == {
        "round": ROUND, "institution": "IMSS", "lines": 1, "min": 40, "max": 100,
    }  # fmt: skip


# ----- importing an appendix -----------------------------------------------------------------


def test_an_appendix_imports_every_institution_with_one_ledger_entry_each(world: Context) -> None:
    content = appendix_file(
        ["IMSS", "Instituto de Seguridad y Servicios Sociales de los Trabajadores del Estado"],
        [(PARACETAMOL, 40, 100, 4, 10), (ASPIRINA, 2, 5, None, None), (TORUNDA, 0, 0, 1, 2)],
    )
    head, _ = ledger.head(world.db)

    summary = service.import_appendix(
        world, round_name=ROUND, content=content, filename="apendice.xlsx"
    )

    # IMSS's 0/0 of TORUNDA is no line: a zero cell asks for nothing.
    assert (summary.lines, summary.new, summary.sheets) == (4, 4, ("Apéndice",))
    assert [(i.code, i.lines, i.total) for i in summary.institutions] == [
        ("IMSS", 2, Pair(42, 105)),
        ("ISSSTE", 2, Pair(5, 12)),
    ]
    assert quantities(world.db)[("ISSSTE", TORUNDA, "")] == Pair(1, 2)
    assert ledger.head(world.db)[0] == head + 3
    (imported,) = entries(world.db, "demand.import")
    assert imported.data()["sha256"] == summary.sha256
    assert (imported.data()["lines"], imported.data()["institutions"]) == (4, 2)
    assert ("IMSS", TORUNDA, "") not in quantities(world.db)
    per_institution = [e.data() for e in entries(world.db, "demand.lines")]
    assert [(d["institution"], d["lines"], d["new"]) for d in per_institution] == [
        ("IMSS", 2, 2),
        ("ISSSTE", 2, 2),
    ]
    progress = service.round_progress(world.db, name=ROUND)
    assert progress.submitted == 2


def test_importing_again_updates_and_removes_only_what_changed(world: Context) -> None:
    service.set_line(
        world, round_name=ROUND, institution_code="IMSS", clave=PETRI, unit_code="IMSS-ALM",
        min_qty=1, max_qty=1, version=None,
    )  # fmt: skip
    first = appendix_file(["IMSS"], [(PARACETAMOL, 40, 100), (ASPIRINA, 2, 5)])
    second = appendix_file(["IMSS"], [(PARACETAMOL, 40, 90), (TORUNDA, 1, 2)])
    service.import_appendix(world, round_name=ROUND, content=first, filename="a.xlsx")

    summary = service.import_appendix(
        world, round_name=ROUND, content=second, filename="b.xlsx", replace=True
    )

    (imss,) = summary.institutions
    assert (imss.new, imss.updated, imss.removed, imss.unchanged) == (1, 1, 1, 0)
    assert quantities(world.db) == {
        ("IMSS", PARACETAMOL, ""): Pair(40, 90),
        ("IMSS", TORUNDA, ""): Pair(1, 2),
        ("IMSS", PETRI, "IMSS-ALM"): Pair(1, 1),
    }
    line = world.db.scalars(select(DemandLine).where(DemandLine.clave.has(clave=PARACETAMOL))).one()
    assert line.version == 2


def test_an_appendix_that_would_remove_lines_needs_replace_and_says_how_many(
    world: Context,
) -> None:
    first = appendix_file(["IMSS", "ISSSTE"], [(PARACETAMOL, 40, 100, 4, 10), (ASPIRINA, 2, 5)])
    second = appendix_file(["IMSS", "ISSSTE"], [(PARACETAMOL, 40, 90, 4, 10)])
    service.import_appendix(world, round_name=ROUND, content=first, filename="a.xlsx")
    before = quantities(world.db)

    error = _refused(world, second, "b.xlsx")

    assert error.detail == "El apéndice «b.xlsx» quitaría 1 línea ya capturada; no se importó nada."
    assert [(p.field, p.message) for p in error.problems] == [
        ("replace", "se quitarían 1 línea de IMSS")
    ]
    assert quantities(world.db) == before
    summary = service.import_appendix(
        world, round_name=ROUND, content=second, filename="b.xlsx", replace=True
    )
    assert (summary.removed, summary.updated) == (1, 1)


def test_an_appendix_with_headers_and_no_rows_is_refused_even_with_replace(
    world: Context,
) -> None:
    service.import_appendix(
        world,
        round_name=ROUND,
        content=appendix_file(["IMSS", "ISSSTE"], [(PARACETAMOL, 40, 100, 4, 10)]),
        filename="a.xlsx",
    )
    before = (quantities(world.db), ledger.head(world.db)[0])
    submitted = [i.submitted for i in service.round_progress(world.db, name=ROUND).institutions]
    empty = appendix_file(["IMSS", "ISSSTE"], [])

    for replace_lines in (False, True):
        with pytest.raises(ValidationFailed) as caught:
            service.import_appendix(
                world, round_name=ROUND, content=empty, filename="vacio.xlsx",
                replace=replace_lines,
            )  # fmt: skip
        assert "no tiene ninguna cantidad; no se importó nada" in caught.value.detail

    assert (quantities(world.db), ledger.head(world.db)[0]) == before
    progress = service.round_progress(world.db, name=ROUND)
    assert [i.submitted for i in progress.institutions] == submitted


def test_what_an_appendix_reader_skips_is_reported(world: Context) -> None:
    rows = appendix_rows(["IMSS"], [(PARACETAMOL, 40, 100)])
    rows[2] += ["TOTAL GENERAL"]
    rows += [[], [None, None, "Nota: cifras preliminares"], ["Total", None, None, None, 40, 100]]

    summary = service.import_appendix(
        world, round_name=ROUND, content=xlsx({"Apéndice": rows}), filename="a.xlsx"
    )

    assert summary.lines == 1
    assert [str(note) for note in summary.skipped] == [
        "hoja «Apéndice», fila 3: 2 columnas no se leyeron (no son de la demanda): «# (columna"
        " A)», «TOTAL GENERAL (columna G)»",
        "hoja «Apéndice»: 1 fila vacía o solo con signos («.», «-») no se leyó (fila 5)",
        "hoja «Apéndice», fila 6: fila sin clave ni cantidades: no se leyó (valor: «Nota:"
        " cifras preliminares»)",
        "hoja «Apéndice», fila 7: fila de totales: no es demanda (valor: «Total 40 100»)",
    ]
    (entry,) = entries(world.db, "demand.import")
    assert entry.data()["skipped"] == 4


def test_an_institution_new_to_the_round_joins_it(world: Context) -> None:
    service.open_round(world, name="Solo IMSS", periods=["2027"], institutions=["IMSS"])
    content = appendix_file(["IMSS", "ISSSTE"], [(PARACETAMOL, 40, 100, 4, 10)])

    summary = service.import_appendix(
        world, round_name="Solo IMSS", content=content, filename="a.xlsx"
    )

    assert summary.joined == ("ISSSTE",)
    progress = service.round_progress(world.db, name="Solo IMSS")
    assert [(i.code, i.submitted) for i in progress.institutions] == [
        ("IMSS", True),
        ("ISSSTE", True),
    ]


def _refused(ctx: Context, content: bytes, filename: str = "apendice.xlsx") -> ValidationFailed:
    """Import ``content`` expecting a refusal that writes nothing; the refusal."""
    head, _ = ledger.head(ctx.db)
    lines = lines_count(ctx.db)
    with pytest.raises(ValidationFailed) as caught:
        service.import_appendix(ctx, round_name=ROUND, content=content, filename=filename)
    assert lines_count(ctx.db) == lines
    assert ledger.head(ctx.db)[0] == head
    return caught.value


def test_bad_input_a_negative_quantity(world: Context) -> None:
    error = _refused(world, appendix_file(["IMSS"], [(PARACETAMOL, -4, 10)]))

    (problem,) = error.problems
    assert (problem.sheet, problem.row, problem.value) == ("Apéndice", 4, "-4")
    assert problem.column == "IMSS — CANTIDAD MIN (columna E)"
    assert problem.message == "la cantidad es negativa"
    assert problem.expected == appendix.QUANTITY_EXPECTED


def test_bad_input_min_above_max(world: Context) -> None:
    error = _refused(world, appendix_file(["IMSS"], [(PARACETAMOL, 11, 10)]))

    (problem,) = error.problems
    assert (problem.row, problem.column, problem.value) == (
        4,
        "IMSS — CANTIDAD MIN (columna E)",
        "11",
    )
    assert "mínima (11) es mayor que la máxima (10)" in problem.message


def test_a_min_below_the_rounds_share_is_imported_as_the_file_has_it_and_observed(
    world: Context,
) -> None:
    content = appendix_file(
        ["IMSS", "ISSSTE"], [(ASPIRINA, 2, 5, None, None), (PARACETAMOL, 39, 100, 0, 7)]
    )

    summary = service.import_appendix(world, round_name=ROUND, content=content, filename="a.xlsx")

    assert summary.observations == 2
    assert quantities(world.db)[("IMSS", PARACETAMOL, "")] == Pair(39, 100)
    assert quantities(world.db)[("ISSSTE", PARACETAMOL, "")] == Pair(0, 7)
    first, second = service.round_observations(world.db, round_name=ROUND)
    assert (first.institution, first.clave, first.min_qty, first.max_qty) == (
        "IMSS", PARACETAMOL, 39, 100,
    )  # fmt: skip
    assert (first.expected_min, first.sheet, first.row) == (40, "Apéndice", 5)
    assert first.column == "IMSS — CANTIDAD MIN (columna E)"
    assert first.what == "mínimo 39 menor que 40 (máximo 100)"
    assert (second.institution, second.expected_min, second.status) == ("ISSSTE", 3, "pendiente")
    (entry,) = entries(world.db, "demand.observations")
    assert [
        (o["institution"], o["min"], o["expected_min"]) for o in entry.data()["observations"]
    ] == [
        ("IMSS", 39, 40),
        ("ISSSTE", 0, 3),
    ]


def test_bad_input_an_unknown_clave_suggests_the_closest(world: Context) -> None:
    error = _refused(world, appendix_file(["IMSS"], [("010.000.0140.00", 4, 10)]))

    (problem,) = error.problems
    assert (problem.row, problem.column, problem.value) == (
        4,
        "CLAVES (columna B)",
        "010.000.0140.00",
    )
    assert problem.message == "la clave no existe en el catálogo"
    assert problem.expected == "una clave del catálogo; ¿quiso decir 010.000.0104.00?"


def test_bad_input_text_in_a_quantity_cell(world: Context) -> None:
    error = _refused(world, appendix_file(["IMSS"], [(PARACETAMOL, 40, "cien")]))

    (problem,) = error.problems
    assert (problem.row, problem.column, problem.value) == (
        4,
        "IMSS — CANTIDAD MAX (columna F)",
        "cien",
    )
    assert problem.message == "la cantidad no es un número"


def test_bad_input_a_clave_twice_for_the_same_institution(world: Context) -> None:
    same_sheet = appendix_file(["IMSS"], [(PARACETAMOL, 4, 10), (PARACETAMOL, 4, 10)])
    two_names = appendix_file(
        ["IMSS", "Instituto Mexicano del Seguro Social"], [(PARACETAMOL, 4, 10, 8, 20)]
    )
    two_sheets = appendix_file(
        ["IMSS"],
        [(PARACETAMOL, 4, 10)],
        extra={"Detalle": appendix_rows(["IMSS"], [(PARACETAMOL, 8, 20)])},
    )

    (in_sheet,) = _refused(world, same_sheet).problems
    (by_alias,) = _refused(world, two_names).problems
    (across,) = _refused(world, two_sheets).problems

    assert (in_sheet.row, in_sheet.value) == (5, PARACETAMOL)
    assert "repetida en esta hoja (ya aparece en la fila 4)" in in_sheet.message
    assert by_alias.message == (
        "dos columnas son la misma institución y unidad (IMSS): «IMSS» en la fila 4 y esta"
    )
    assert by_alias.column == "Instituto Mexicano del Seguro Social — CANTIDAD MIN (columna G)"
    assert (across.sheet, across.row) == ("Detalle", 4)
    assert across.message == (
        "dos columnas son la misma institución y unidad (IMSS): «IMSS» en la fila 4 de la hoja"
        " «Apéndice» y esta"
    )


def test_bad_input_an_institution_name_that_is_not_registered(world: Context) -> None:
    error = _refused(world, appendix_file(["IMSS", "PEMEX"], [(PARACETAMOL, 4, 10, 4, 10)]))

    (problem,) = error.problems
    assert (problem.sheet, problem.value) == ("Apéndice", "PEMEX")
    assert problem.column == "PEMEX — CANTIDAD MIN (columna G)"
    assert problem.message == "la institución no está registrada"
    assert 'abasto demand map-name "PEMEX" --institution CLAVE' in (problem.expected or "")


def test_a_mapped_name_then_imports_and_is_on_the_ledger(world: Context) -> None:
    content = appendix_file(["IMSS", "ISSSTE ZONA NORTE"], [(PARACETAMOL, 4, 10, 4, 10)])
    _refused(world, content)

    alias = service.map_institution_name(
        world, name=" ISSSTE  Zona Norte ", institution_code="issste"
    )
    summary = service.import_appendix(world, round_name=ROUND, content=content, filename="a.xlsx")

    assert (alias.alias, alias.institution.code) == ("ISSSTE Zona Norte", "ISSSTE")
    assert [i.named_in_file for i in summary.institutions] == [("IMSS",), ("ISSSTE ZONA NORTE",)]
    (entry,) = entries(world.db, "institution.alias")
    assert entry.data() == {"institution": "ISSSTE", "alias": "ISSSTE Zona Norte"}
    with pytest.raises(Conflict, match="ya identifica a ISSSTE"):
        service.map_institution_name(world, name="issste zona norte", institution_code="IMSS")


def test_bad_input_a_file_that_is_not_a_spreadsheet(world: Context) -> None:
    error = _refused(world, b"%PDF-1.7 not a workbook", "apendice.pdf")
    assert error.detail == "El archivo «apendice.pdf» no es una hoja de cálculo"
    assert error.expected


def test_bad_input_an_empty_file(world: Context) -> None:
    error = _refused(world, b"", "apendice.xlsx")
    assert error.detail == "El archivo «apendice.xlsx» está vacío"


def test_every_problem_of_a_file_is_reported_at_once(world: Context) -> None:
    content = appendix_file(
        ["IMSS", "PEMEX"],
        [
            (PARACETAMOL, -1, 10, 1, 2),
            (ASPIRINA, 3, 10, "x", 2),
            ("010.000.0140.00", 4, 10, None, None),
            (TORUNDA, 4, 10, 5, 4),
        ],
    )

    error = _refused(world, content)

    # IMSS's 3 of 10 in row 5 is below 40 %: an observation, not a problem.
    assert "tiene 5 problemas" in error.detail
    assert sorted((p.row or 0, p.message) for p in error.problems) == [
        (0, "la institución no está registrada"),
        (4, "la cantidad es negativa"),
        (5, "la cantidad no es un número"),
        (6, "la clave no existe en el catálogo"),
        (7, "la cantidad mínima (5) es mayor que la máxima (4)"),
    ]


# ----- any year's appendix: names the registry lacks, units, zeros, minimums below the share --

NEW_YEAR = [
    "IMSS",
    "ISSTE",  # a typo of ISSSTE: a clear suggestion
    "IMSS-BIENESTAR",
    "IMSS-BIENESTAR Oaxaca",  # a state entity: a unit of IMSS-Bienestar
    "IMSS-BIENESTAR Chiapas",
    "GUARDIA NACIONAL",  # nothing like it registered: a new institution
    "IMSS OOAD Aguascalientes",  # IMSS's unit «OOAD Aguascalientes», registered already
]
NEW_YEAR_ROWS = [
    # IMSS, ISSTE, IMSS-B, Oaxaca (MIN 0), Chiapas (3 < 4 of 10), GN, OOAD
    (PARACETAMOL, 40, 100, 4, 10, 8, 20, 0, 5, 0, 0, None, None, 2, 5),
    (ASPIRINA, 0, 0, 0, 0, 2, 5, 2, 5, 3, 10, 1, 2, None, None),
    (TORUNDA, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),  # zeros only: no line at all
]


def _with_imss_bienestar(ctx: Context) -> Context:
    identity.register_institution(
        ctx,
        code="IMSS-BIENESTAR",
        name="Servicios de Salud del IMSS para el Bienestar",
        kind="IMSS-Bienestar",
        aliases=["IMSS-Bienestar"],
    )
    return ctx


def test_unknown_names_are_refused_with_the_registrys_closest_names(world: Context) -> None:
    _with_imss_bienestar(world)
    error = _refused(world, appendix_file(NEW_YEAR, NEW_YEAR_ROWS))

    unknown = {p.value: p.message for p in error.problems}
    assert unknown.keys() == {
        "ISSTE",
        "IMSS-BIENESTAR Oaxaca",
        "IMSS-BIENESTAR Chiapas",
        "GUARDIA NACIONAL",
    }
    assert unknown["ISSTE"].startswith(
        "la institución no está registrada; los más parecidos: ISSSTE («ISSSTE», 100%)"
    )
    assert unknown["IMSS-BIENESTAR Oaxaca"] == (
        "la institución no está registrada; los más parecidos: IMSS-BIENESTAR"
        " («IMSS-Bienestar», 67%), IMSS («IMSS», 33%)"
    )
    assert unknown["GUARDIA NACIONAL"] == "la institución no está registrada"
    assert all("--map-suggested" in (p.expected or "") for p in error.problems)


def test_an_appendix_of_another_year_imports_in_one_pass(world: Context) -> None:
    _with_imss_bienestar(world)

    summary = service.import_appendix(
        world,
        round_name=ROUND,
        content=appendix_file(NEW_YEAR, NEW_YEAR_ROWS),
        filename="apendice-2027.xlsx",
        map_suggested=True,
        register_unknown=True,
    )

    # Names: the clear suggestion mapped, state entities as units, the rest an institution.
    assert [s.said() for s in summary.settled] == [
        "«ISSTE» se asoció a ISSSTE (nombres 100% iguales).",
        "«IMSS-BIENESTAR Oaxaca» se registró como la unidad OAXACA de IMSS-BIENESTAR.",
        "«IMSS-BIENESTAR Chiapas» se registró como la unidad CHIAPAS de IMSS-BIENESTAR.",
        "«GUARDIA NACIONAL» se registró como la institución GUARDIA-NACIONAL.",
    ]
    oaxaca = world.db.scalars(select(Unit).where(Unit.code == "OAXACA")).one()
    assert (oaxaca.institution.code, oaxaca.kind, oaxaca.state_code) == (
        "IMSS-BIENESTAR", "entidad", "20",
    )  # fmt: skip
    assert [e.data()["alias"] for e in entries(world.db, "institution.alias")] == ["ISSTE"]
    assert [e.data()["code"] for e in entries(world.db, "unit.register")] == ["OAXACA", "CHIAPAS"]
    assert [e.data()["code"] for e in entries(world.db, "institution.register")][-1] == (
        "GUARDIA-NACIONAL"
    )
    (imported,) = entries(world.db, "demand.import")
    assert [n["action"] for n in imported.data()["names"]] == [
        "mapped", "unit", "unit", "institution",
    ]  # fmt: skip
    # Several columns of one institution: its lines per unit, no refusal. Zero cells: no lines.
    assert quantities(world.db) == {
        ("IMSS", PARACETAMOL, ""): Pair(40, 100),
        ("IMSS", PARACETAMOL, "IMSS-OOAD-01"): Pair(2, 5),
        ("ISSSTE", PARACETAMOL, ""): Pair(4, 10),
        ("IMSS-BIENESTAR", PARACETAMOL, ""): Pair(8, 20),
        ("IMSS-BIENESTAR", PARACETAMOL, "OAXACA"): Pair(0, 5),
        ("IMSS-BIENESTAR", ASPIRINA, ""): Pair(2, 5),
        ("IMSS-BIENESTAR", ASPIRINA, "OAXACA"): Pair(2, 5),
        ("IMSS-BIENESTAR", ASPIRINA, "CHIAPAS"): Pair(3, 10),
        ("GUARDIA-NACIONAL", ASPIRINA, ""): Pair(1, 2),
    }
    # Minimums below 40 %, MIN 0 included: imported as the file has them, and observed.
    assert summary.observations == 2
    observations = service.round_observations(world.db, round_name=ROUND)
    assert [(o.institution, o.unit, o.clave, o.min_qty, o.expected_min, o.row, o.status)
            for o in observations] == [
        ("IMSS-BIENESTAR", "OAXACA", PARACETAMOL, 0, 2, 4, "pendiente"),
        ("IMSS-BIENESTAR", "CHIAPAS", ASPIRINA, 3, 4, 5, "pendiente"),
    ]  # fmt: skip
    assert observations[0].column == "IMSS-BIENESTAR Oaxaca — CANTIDAD MIN (columna K)"


def test_freezing_needs_each_observation_corrected_or_accepted(world: Context) -> None:
    _with_imss_bienestar(world)
    content = appendix_file(NEW_YEAR, NEW_YEAR_ROWS)
    service.import_appendix(
        world, round_name=ROUND, content=content, filename="a.xlsx",
        map_suggested=True, register_unknown=True,
    )  # fmt: skip
    oaxaca, _ = service.round_observations(world.db, round_name=ROUND)

    with pytest.raises(Conflict) as refused:
        service.freeze_round(world, name=ROUND)
    with pytest.raises(ValidationFailed, match="falta el motivo"):
        service.accept_observation(world, round_name=ROUND, observation_id=oaxaca.id, reason=" ")
    accepted = service.accept_observation(
        world, round_name=ROUND, observation_id=oaxaca.id, reason="Así lo publicó la SHCP"
    )
    service.set_line(
        world, round_name=ROUND, institution_code="IMSS-BIENESTAR", clave=ASPIRINA,
        unit_code="CHIAPAS", min_qty=4, max_qty=10, version=1,
    )  # fmt: skip
    statuses = [o.status for o in service.round_observations(world.db, round_name=ROUND)]
    # The same file again: the registry knows every name now, and the acceptance stands.
    again = service.import_appendix(world, round_name=ROUND, content=content, filename="a.xlsx")
    after = [o.status for o in service.round_observations(world.db, round_name=ROUND)]
    service.set_line(
        world, round_name=ROUND, institution_code="IMSS-BIENESTAR", clave=ASPIRINA,
        unit_code="CHIAPAS", min_qty=4, max_qty=10, version=3,
    )  # fmt: skip
    frozen = service.freeze_round(world, name=ROUND)

    assert "tiene 2 observaciones pendientes; no se congeló" in refused.value.detail
    assert [p.row for p in refused.value.problems] == [4, 5]
    assert (accepted.status, accepted.reason) == ("aceptada", "Así lo publicó la SHCP")
    assert statuses == ["aceptada", "corregida"]
    assert again.settled == ()
    assert after == ["aceptada", "pendiente"]  # the file states 3 of 10 again
    assert frozen.status == service.FROZEN
    (entry,) = entries(world.db, "demand.observation.accept")
    assert entry.data()["reason"] == "Así lo publicó la SHCP"
    assert (entry.data()["unit"], entry.data()["min"], entry.data()["expected_min"]) == (
        "OAXACA", 0, 2,
    )  # fmt: skip


def test_state_entities_mapped_to_their_institution_earlier_become_its_units(
    world: Context,
) -> None:
    _with_imss_bienestar(world)
    # The old way round a refusal: each state entity mapped to IMSS-Bienestar as a whole.
    for name in ("IMSS-BIENESTAR Oaxaca", "IMSS-BIENESTAR Chiapas"):
        service.map_institution_name(world, name=name, institution_code="IMSS-BIENESTAR")
    content = appendix_file(
        ["IMSS-BIENESTAR", "IMSS-BIENESTAR Oaxaca", "IMSS-BIENESTAR Chiapas"],
        [(PARACETAMOL, 40, 100, 4, 10, 8, 20)],
    )

    (twice, thrice) = _refused(world, content).problems
    summary = service.import_appendix(
        world, round_name=ROUND, content=content, filename="a.xlsx", register_unknown=True
    )
    again = service.import_appendix(world, round_name=ROUND, content=content, filename="a.xlsx")

    assert twice.message.startswith("dos columnas son la misma institución y unidad")
    assert "--register-unknown" in (twice.expected or "")
    assert thrice.row == twice.row
    assert [s.said() for s in summary.settled] == [
        "«IMSS-BIENESTAR Oaxaca» se registró como la unidad OAXACA de IMSS-BIENESTAR.",
        "«IMSS-BIENESTAR Chiapas» se registró como la unidad CHIAPAS de IMSS-BIENESTAR.",
    ]
    assert again.settled == ()
    assert quantities(world.db) == {
        ("IMSS-BIENESTAR", PARACETAMOL, ""): Pair(40, 100),
        ("IMSS-BIENESTAR", PARACETAMOL, "OAXACA"): Pair(4, 10),
        ("IMSS-BIENESTAR", PARACETAMOL, "CHIAPAS"): Pair(8, 20),
    }


def test_a_name_too_long_for_the_registry_stays_unknown(world: Context) -> None:
    long = "HOSPITAL " + "MUY " * 80 + "LARGO"

    error = _refused_with_options(world, appendix_file([long], [(PARACETAMOL, 4, 10)]))

    (problem,) = error.problems
    assert (problem.message, problem.value) == ("la institución no está registrada", long)


def _refused_with_options(ctx: Context, content: bytes) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        service.import_appendix(
            ctx, round_name=ROUND, content=content, filename="a.xlsx",
            map_suggested=True, register_unknown=True,
        )  # fmt: skip
    return caught.value


def _appendix_by_period(periods: Sequence[object]) -> bytes:
    """IMSS and «IMSS-BIENESTAR Oaxaca», each over a MIN/MAX pair per year."""
    names: list[object] = [None, None, None, None]
    years: list[object] = [None, None, None, None]
    for name in ("IMSS", "IMSS-BIENESTAR Oaxaca"):
        names += [name, None] + [None, None] * (len(periods) - 1)
        for period in periods:
            years += [period, None]
    header: list[object] = ["#", "CLAVES", "DESCRIPCIÓN", "UM"]
    header += ["CANTIDAD MIN", "CANTIDAD MAX"] * 2 * len(periods)
    return xlsx(
        {
            "Apéndice": [
                ["APÉNDICE POR AÑO"],
                names,
                years,
                header,
                [1, PARACETAMOL, "Paracetamol", "Pieza", 40, 100, 44, 110, 0, 5, 2, 5],
                [2, ASPIRINA, "Aspirina", "Pieza", 0, 0, 8, 20, 0, 0, 0, 0],
            ]
        }
    )


def test_an_appendix_with_a_pair_per_year_imports_both_periods(world: Context) -> None:
    _with_imss_bienestar(world)

    summary = service.import_appendix(
        world,
        round_name=ROUND,
        content=_appendix_by_period([2027, "2028"]),
        filename="a.xlsx",
        register_unknown=True,
    )
    refused = _refused(world, _appendix_by_period([2027, 2029]))

    lines = {
        (line.institution.code, line.clave.clave, line.unit_code, line.period): Pair(
            line.min_qty, line.max_qty
        )
        for line in world.db.scalars(select(DemandLine))
    }
    assert lines == {
        ("IMSS", PARACETAMOL, "", "2027"): Pair(40, 100),
        ("IMSS", PARACETAMOL, "", "2028"): Pair(44, 110),
        ("IMSS", ASPIRINA, "", "2028"): Pair(8, 20),
        ("IMSS-BIENESTAR", PARACETAMOL, "OAXACA", "2027"): Pair(0, 5),
        ("IMSS-BIENESTAR", PARACETAMOL, "OAXACA", "2028"): Pair(2, 5),
    }
    assert [s.said() for s in summary.settled] == [
        "«IMSS-BIENESTAR Oaxaca» se registró como la unidad OAXACA de IMSS-BIENESTAR."
    ]
    (observation,) = service.round_observations(world.db, round_name=ROUND)
    assert (observation.unit, observation.period, observation.expected_min) == ("OAXACA", "2027", 2)
    assert observation.column == "IMSS-BIENESTAR Oaxaca 2027 — CANTIDAD MIN (columna I)"
    assert {p.message for p in refused.problems} == {
        f"la ronda «{ROUND}» no incluye el periodo 2029"
    }
    assert service.consolidate_round(world.db, round_name=ROUND).total == Pair(94, 240)


# ----- the real 2023-2024 appendix -----------------------------------------------------------


def _file_totals(path: Path) -> dict[str, dict[str, tuple[int, int]]]:
    """Per sheet, each column's (min, max) in the file's own Total row, read with openpyxl."""
    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    totals = {}
    for sheet in workbook.worksheets:
        names, _, total = list(sheet.iter_rows(min_row=2, max_row=4, values_only=True))
        assert total[1] == "Total"
        totals[sheet.title] = {
            str(names[j]): (int(total[j]), int(total[j + 1]))
            for j in range(4, len(names), 2)
            if names[j] is not None
        }
    workbook.close()
    return totals


@pytest.fixture
def real_round(ctx: Context) -> service.AppendixImportSummary:
    """The small scenario's institutions, the file's claves, and the file imported."""
    load_scenario(ctx, build_scenario(1, "small"), forecast=False)
    content = REAL.read_bytes()
    catalog.import_catalog(ctx, content=content, filename=REAL.name)
    service.open_round(ctx, name="2023-2024", periods=["2023", "2024"])
    return service.import_appendix(ctx, round_name="2023-2024", content=content, filename=REAL.name)


def test_the_real_appendix_gives_the_files_own_totals(
    ctx: Context, real_round: service.AppendixImportSummary
) -> None:
    expected = _file_totals(REAL)
    main, detail = expected
    consolidation = service.consolidate_round(ctx.db, round_name="2023-2024")
    names = service.institution_names(ctx.db)

    assert real_round.sheets == (main, detail)
    assert len(expected[main]) == 12 + 1
    assert len(expected[detail]) == 23 + 1
    for sheet in (main, detail):
        for name, (low, high) in expected[sheet].items():
            if name == "TOTAL GENERAL":
                continue
            code = names[fold(name)].code
            assert consolidation.columns[code] == Pair(low, high), (sheet, name)
    # The overall total: the main sheet's TOTAL GENERAL, CCINSHAE counted once although its
    # hospitals state the same demand again in the detail sheet.
    assert consolidation.total == Pair(*expected[main]["TOTAL GENERAL"])
    assert consolidation.columns["CCINSHAE"] == Pair(*expected[detail]["TOTAL GENERAL"])
    assert len(consolidation.lines) == 618
    assert sum(i.lines for i in real_round.institutions) == 3128 + 7438


def test_the_hospitals_are_ccinshaes_breakdown(
    ctx: Context, real_round: service.AppendixImportSummary
) -> None:
    consolidation = service.consolidate_round(ctx.db, round_name="2023-2024")
    paracetamol = next(line for line in consolidation.lines if line.clave == PARACETAMOL)

    assert paracetamol.counted["CCINSHAE"] == Pair(139711, 349241)
    assert "INCAN" not in paracetamol.counted
    members = paracetamol.members["CCINSHAE"]
    assert len(members) == 23
    assert sum(members.values(), Pair(0, 0)) == Pair(139711, 349241)


def test_export_and_import_again_give_the_same_numbers(
    ctx: Context, real_round: service.AppendixImportSummary
) -> None:
    exported = service.export_xlsx(ctx.db, round_name="2023-2024")
    service.open_round(ctx, name="copia", periods=["2023", "2024"])

    again = service.import_appendix(ctx, round_name="copia", content=exported, filename="x.xlsx")

    assert quantities(ctx.db, "copia") == quantities(ctx.db, "2023-2024")
    first = service.consolidate_round(ctx.db, round_name="2023-2024")
    second = service.consolidate_round(ctx.db, round_name="copia")
    assert [(line.clave, line.total, line.counted, line.members) for line in second.lines] == [
        (line.clave, line.total, line.counted, line.members) for line in first.lines
    ]
    assert second.total == first.total
    assert again.sheets == ("Demanda consolidada", "Detalle CCINSHAE")


def test_the_exported_workbook_has_the_official_layout(
    ctx: Context, real_round: service.AppendixImportSummary
) -> None:
    exported = service.export_xlsx(ctx.db, round_name="2023-2024")

    workbook = openpyxl.load_workbook(io.BytesIO(exported), read_only=True, data_only=True)
    main = list(workbook.worksheets[0].iter_rows(max_row=5, values_only=True))
    workbook.close()
    assert main[0][0] == "APÉNDICE DEMANDA CONSOLIDADA 2023-2024"
    assert main[1][4:6] == ("IMSS", None)
    assert main[1][-2:] == ("TOTALES", None)
    assert main[2][:6] == ("#", "CLAVES", "DESCRIPCIÓN", "UM", "CANTIDAD MIN", "CANTIDAD MAX")
    assert main[3][-2:] == (832607777, 2081481629)
    assert main[4][1] == "010.000.0022.00"


def test_csv_and_parquet_have_one_row_per_clave_and_institution(
    ctx: Context, real_round: service.AppendixImportSummary
) -> None:
    csv = service.export_csv(ctx.db, round_name="2023-2024")
    parquet = service.export_parquet(ctx.db, round_name="2023-2024")

    assert csv.startswith(b"\xef\xbb\xbfronda,clave,descripcion")
    from_csv = pl.read_csv(io.BytesIO(csv))
    from_parquet = pl.read_parquet(io.BytesIO(parquet))
    assert from_csv.height == from_parquet.height == 3128 + 7438
    counted = from_parquet.filter(pl.col("en_total"))
    assert (counted["minimo"].sum(), counted["maximo"].sum()) == (832607777, 2081481629)
    assert from_parquet.filter(pl.col("institucion") == "INCAN")[
        "coordinadora"
    ].unique().to_list() == ["CCINSHAE"]
    assert from_csv["maximo"].sum() == from_parquet["maximo"].sum()


# ----- an institution's sheet ----------------------------------------------------------------


def test_download_fill_and_upload_the_institutions_sheet(world: Context) -> None:
    imss = planner(world, "IMSS")
    catalog.import_homologations(
        world,
        institution_code="IMSS",
        content=table_csv(("Clave institucional", "Clave"), [("1040", PARACETAMOL)]),
        filename="homologacion.csv",
    )
    service.set_line(
        imss, round_name=ROUND, institution_code="IMSS", clave=ASPIRINA,
        min_qty=2, max_qty=5, version=None,
    )  # fmt: skip
    sheet = service.institution_sheet(imss, round_name=ROUND, institution_code="IMSS")
    rows = appendix.read_institution_sheet(sheet, "hoja.xlsx")
    assert len(rows) == len(SMALL_CATALOG)
    by_clave = {row.clave: row for row in rows}
    assert (by_clave[ASPIRINA].min_qty, by_clave[ASPIRINA].max_qty) == (2, 5)
    assert by_clave[PARACETAMOL].institution_code == "1040"
    filled = [
        replace(row, clave=None, min_qty=40, max_qty=100) if row.clave == PARACETAMOL
        else replace(row, min_qty=None, max_qty=None) if row.clave == ASPIRINA
        else row
        for row in rows
    ] + [appendix.PlannerRow("", 0, TORUNDA, None, "IMSS-ALM", None, 1, 2)]  # fmt: skip
    content = appendix.write_institution_sheet(round_name=ROUND, institution="IMSS", rows=filled)

    with pytest.raises(ValidationFailed) as needs_replace:
        service.import_institution_sheet(
            imss, round_name=ROUND, institution_code="IMSS", content=content, filename="hoja.xlsx"
        )
    assert "quitaría 1 línea ya capturada" in needs_replace.value.detail
    assert quantities(world.db) == {("IMSS", ASPIRINA, ""): Pair(2, 5)}

    summary = service.import_institution_sheet(
        imss, round_name=ROUND, institution_code="IMSS", content=content, filename="hoja.xlsx",
        replace=True,
    )  # fmt: skip

    assert (summary.new, summary.removed, summary.translated) == (2, 1, 1)
    assert quantities(world.db) == {
        ("IMSS", PARACETAMOL, ""): Pair(40, 100),
        ("IMSS", TORUNDA, "IMSS-ALM"): Pair(1, 2),
    }
    (entry,) = entries(world.db, "demand.import")
    assert entry.data()["institution"] == "IMSS"
    assert service.round_progress(world.db, name=ROUND).institutions[0].submitted


def period_sheet(
    rows: Sequence[tuple[str, int, int, int | None, int | None]],
    years: tuple[str, str] = ("2027", "2028"),
) -> bytes:
    """A sheet in the layout of the 2025-2026 template: a year above each «Cantidad
    Solicitada» pair (Mínimo, Máximo), amounts beside them, a «.» row at the end."""
    first, second = years
    return xlsx(
        {
            "MED_MAT": [
                [],
                [None, None, None, first, None, second, None, first, None],
                ["No. Partida", "Clave", "Descripción", "Cantidad Solicitada", None,
                 "Cantidad Solicitada", None, "Importe total", None],
                [None, None, None, "Mínimo", "Máximo", "Mínimo", "Máximo", "Mínimo", "Máximo"],
                *(
                    [n, clave, "Descripción", *quantities, None, None]
                    for n, (clave, *quantities) in enumerate(rows, start=1)
                ),
                [],
                ["."],
            ]
        }
    )  # fmt: skip


def test_a_sheet_with_a_pair_per_year_imports_each_period(world: Context) -> None:
    content = period_sheet([(PARACETAMOL, 40, 100, 44, 110), (ASPIRINA, 2, 5, None, None)])

    summary = service.import_institution_sheet(
        world, round_name=ROUND, institution_code="IMSS", content=content, filename="p.xlsx"
    )

    assert summary.periods == ("2027", "2028")
    assert (summary.lines, summary.new) == (3, 3)
    found = service.get_round(world.db, ROUND)
    lines = world.db.scalars(select(DemandLine).where(DemandLine.round_id == found.id)).all()
    assert sorted(
        (line.clave.clave, line.period, line.min_qty, line.max_qty) for line in lines
    ) == [
        (ASPIRINA, "2027", 2, 5),
        (PARACETAMOL, "2027", 40, 100),
        (PARACETAMOL, "2028", 44, 110),
    ]
    skipped = [str(note) for note in summary.skipped]
    assert any("«Importe total — Mínimo (columna H)»" in note for note in skipped), skipped
    assert any(
        "2 filas vacías o solo con signos («.», «-») no se leyeron (filas 7, 8)" in note
        for note in skipped
    ), skipped
    consolidation = service.consolidate_round(world.db, round_name=ROUND)
    by_clave = {line.clave: line.total for line in consolidation.lines}
    assert by_clave[PARACETAMOL] == Pair(84, 210)


def test_a_sheet_of_periods_the_round_lacks_is_refused_naming_them(world: Context) -> None:
    content = period_sheet([(PARACETAMOL, 40, 100, 44, 110)], years=("2025", "2026"))

    with pytest.raises(ValidationFailed) as refused:
        service.import_institution_sheet(
            world, round_name=ROUND, institution_code="IMSS", content=content, filename="p.xlsx"
        )

    assert [(p.message, p.value) for p in refused.value.problems] == [
        (f"la ronda «{ROUND}» no incluye el periodo 2025", "2025"),
        (f"la ronda «{ROUND}» no incluye el periodo 2026", "2026"),
    ]
    assert "2027, 2028" in (refused.value.problems[0].expected or "")
    assert lines_count(world.db) == 0


def test_a_header_only_sheet_is_refused_and_writes_nothing(world: Context) -> None:
    service.set_line(
        world, round_name=ROUND, institution_code="IMSS", clave=ASPIRINA,
        min_qty=2, max_qty=5, version=None,
    )  # fmt: skip
    head = ledger.head(world.db)[0]
    content = xlsx({"Demanda": [["Demanda"], [], list(appendix.PLANNER_HEADER)]})

    with pytest.raises(ValidationFailed) as refused:
        service.import_institution_sheet(
            world, round_name=ROUND, institution_code="IMSS", content=content, filename="h.xlsx",
            replace=True,
        )  # fmt: skip

    assert "«h.xlsx» no tiene ninguna cantidad" in refused.value.detail
    assert quantities(world.db) == {("IMSS", ASPIRINA, ""): Pair(2, 5)}
    assert ledger.head(world.db)[0] == head


def test_the_real_2025_2026_template_imports_both_years(ctx: Context) -> None:
    template = (DEMANDA / "2025-2026.xlsx").read_bytes()
    catalog.import_catalog(ctx, content=template, filename="2025-2026.xlsx")
    identity.register_institution(ctx, code="BIRMEX", name="BIRMEX", kind="compra consolidada")
    service.open_round(ctx, name="2025-2026", periods=["2025", "2026"], institutions=["BIRMEX"])

    summary = service.import_institution_sheet(
        ctx, round_name="2025-2026", institution_code="BIRMEX", content=template,
        filename="2025-2026.xlsx",
    )  # fmt: skip

    assert summary.periods == ("2025", "2026")
    found = service.get_round(ctx.db, "2025-2026")
    per_period = dict(
        ctx.db.execute(
            select(DemandLine.period, func.count())
            .where(DemandLine.round_id == found.id)
            .group_by(DemandLine.period)
        ).all()
    )
    assert per_period == {"2025": 3900, "2026": 3900}
    nicotine = {
        line.period: (line.min_qty, line.max_qty)
        for line in ctx.db.scalars(
            select(DemandLine).where(DemandLine.clave.has(clave="010.000.0080.00"))
        )
    }
    assert nicotine == {"2025": (4247, 10617), "2026": (4248, 10618)}
    skipped = [str(note) for note in summary.skipped]
    assert any(
        "1 fila vacía o solo con signos («.», «-») no se leyó (fila 3905)" in note
        for note in skipped
    ), skipped
    assert any("«Importe total — Mínimo (columna Q)»" in note for note in skipped), skipped


def test_a_sheet_lists_unmapped_codes_and_every_other_problem(world: Context) -> None:
    rows = [
        appendix.PlannerRow("", 0, None, "9999", "", None, 4, 10),
        appendix.PlannerRow("", 0, PARACETAMOL, None, "ISSSTE-ALM", None, 4, 10),
        appendix.PlannerRow("", 0, ASPIRINA, None, "", None, 3, 10),
        appendix.PlannerRow("", 0, "010.000.0140.00", None, "", None, 4, 10),
    ]
    content = appendix.write_institution_sheet(round_name=ROUND, institution="IMSS", rows=rows)

    with pytest.raises(ValidationFailed) as caught:
        service.import_institution_sheet(
            world, round_name=ROUND, institution_code="IMSS", content=content, filename="h.xlsx"
        )

    assert [(p.row, p.value, p.message) for p in caught.value.problems] == [
        (4, "9999", "el código institucional no está homologado a ninguna clave"),
        (5, "ISSSTE-ALM", "IMSS no tiene la unidad «ISSSTE-ALM»"),
        (6, "3", "el mínimo es menor que el 40 % del máximo (10)"),
        (7, "010.000.0140.00", "la clave no existe en el catálogo"),
    ]
    assert lines_count(world.db) == 0


# ----- consumption and forecasts -------------------------------------------------------------


def consumption_csv(rows: Sequence[tuple[str, str, str, int, int | str]]) -> bytes:
    return table_csv(
        ("Unidad", "Clave", "Mes", "Consumo", "Días sin existencia"),
        [
            (unit, clave, month, str(consumed), str(days))
            for unit, clave, month, consumed, days in rows
        ],
    )


def history(
    unit: str, clave: str, monthly: int, months: int = 24
) -> list[tuple[str, str, str, int, int | str]]:
    start = date(2024, 1, 1)
    rows: list[tuple[str, str, str, int, int | str]] = []
    for i in range(months):
        year, month = divmod(start.month - 1 + i, 12)
        rows.append((unit, clave, f"{start.year + year}-{month + 1:02d}", monthly + (i % 3), ""))
    return rows


def test_consumption_imports_and_replaces_a_months_figure(world: Context) -> None:
    first = service.import_consumption(
        world,
        content=consumption_csv(history("IMSS-ALM", PARACETAMOL, 100, 3)),
        filename="consumo.csv",
    )
    again = service.import_consumption(
        world,
        content=consumption_csv([("IMSS-ALM", PARACETAMOL, "2024-02", 7, 3)]),
        filename="consumo.csv",
    )

    assert (first.rows, first.new, first.units, first.claves) == (3, 3, 1, 1)
    assert (first.first_month, first.last_month) == (date(2024, 1, 1), date(2024, 3, 1))
    assert (again.new, again.updated) == (0, 1)
    assert len(entries(world.db, "consumption.import")) == 2


def test_consumption_problems_are_all_reported(world: Context) -> None:
    content = consumption_csv(
        [
            ("NO-EXISTE", PARACETAMOL, "2024-01", 5, ""),
            ("IMSS-ALM", "010.000.0140.00", "2024-01", 5, ""),
            ("IMSS-ALM", PARACETAMOL, "2024-13", 5, ""),
        ]
    )
    with pytest.raises(ValidationFailed) as caught:
        service.import_consumption(world, content=content, filename="consumo.csv")

    messages = [p.message for p in caught.value.problems]
    assert messages == ["el mes no es válido"]
    fixed = content.replace(b"2024-13", b"2024-02")
    with pytest.raises(ValidationFailed) as caught:
        service.import_consumption(world, content=fixed, filename="consumo.csv")
    assert [(p.value, p.message) for p in caught.value.problems] == [
        ("NO-EXISTE", "la unidad no está registrada"),
        ("010.000.0140.00", "la clave no existe en el catálogo"),
    ]
    assert "¿quiso decir 010.000.0104.00?" in (caught.value.problems[1].expected or "")


def test_forecast_suggests_each_institutions_max_and_flags_far_lines(world: Context) -> None:
    service.import_consumption(
        world,
        content=consumption_csv(
            history("IMSS-ALM", PARACETAMOL, 100)
            + history("IMSS-OOAD-01", PARACETAMOL, 50)
            + history("IMSS-ALM", ASPIRINA, 10)
            + history("ISSSTE-ALM", PARACETAMOL, 20)
        ),
        filename="consumo.csv",
    )
    service.set_line(
        world, round_name=ROUND, institution_code="IMSS", clave=PARACETAMOL,
        min_qty=40, max_qty=100, version=None,
    )  # fmt: skip
    service.set_line(
        world, round_name=ROUND, institution_code="IMSS", clave=ASPIRINA,
        min_qty=100, max_qty=250, version=None,
    )  # fmt: skip

    summary = service.run_forecast(world, round_name=ROUND, n_jobs=1)

    assert (summary.suggestions, summary.institutions, summary.series) == (3, 2, 4)
    # History ends in December 2025; 2026 is forecast but not counted.
    assert (summary.horizon_months, summary.lead_months) == (24, 12)
    suggestion = world.db.scalars(
        select(ForecastSuggestion)
        .join(Clave, Clave.id == ForecastSuggestion.clave_id)
        .join(Institution, Institution.id == ForecastSuggestion.institution_id)
        .where(Clave.clave == PARACETAMOL, Institution.code == "IMSS")
    ).one()
    # About 151 a month over 24 months, from two units.
    assert 3300 < suggestion.suggested_max < 3900
    assert set(json.loads(suggestion.detail or "{}")) == {"IMSS-ALM", "IMSS-OOAD-01"}
    flags = service.round_flags(world, round_name=ROUND)
    assert [(f.institution, f.clave, f.flag) for f in flags] == [("IMSS", PARACETAMOL, "below")]
    assert flags[0].submitted_max == 100
    assert summary.flagged == 1
    page = service.institution_lines(
        world, round_name=ROUND, institution_code="IMSS", only="alertas"
    )
    assert [(line.clave, line.flag) for line in page.items] == [(PARACETAMOL, "below")]
    (entry,) = entries(world.db, "forecast.run")
    assert entry.data()["suggestions"] == 3
    issste = planner(world, "ISSSTE")
    assert service.round_flags(issste, round_name=ROUND) == []


def test_backtest_measures_every_model(world: Context) -> None:
    rows = []
    for n, unit in enumerate(("IMSS-ALM", "IMSS-OOAD-01", "ISSSTE-ALM")):
        for clave in (PARACETAMOL, ASPIRINA):
            rows += history(unit, clave, 50 + 10 * n, months=30)
    service.import_consumption(world, content=consumption_csv(rows), filename="c.csv")

    results = service.backtest_history(world.db, holdout_months=6, n_jobs=1)

    assert "promedio" in results
    assert results["AutoETS"].series == 6
    assert results["AutoETS"].mase >= 0


def test_backtest_without_consumption_says_what_is_missing(world: Context) -> None:
    with pytest.raises(ValidationFailed, match="No hay consumo registrado"):
        service.backtest_history(world.db)


# ----- deadlines and forecasts when a round opens ----------------------------------------------


def test_a_round_opens_with_a_deadline_the_buyer_moves_and_capture_outlives_it(
    world: Context,
) -> None:
    deadline = rules.deadline_of(date(2026, 12, 15))
    found = service.open_round(world, name="2029", periods=["2029"], deadline=deadline)
    assert found.deadline == deadline
    opened = entries(world.db, "round.open")[-1].data()["deadline"]
    assert datetime.fromisoformat(opened) == deadline

    moved = service.set_deadline(
        world, name="2029", deadline=rules.deadline_of(date(2027, 1, 10)), version=found.version
    )
    (entry,) = entries(world.db, "round.deadline")
    assert datetime.fromisoformat(entry.data()["previous"]) == deadline
    assert datetime.fromisoformat(entry.data()["deadline"]) == moved.deadline

    # Past the deadline a planner still captures: the buyer's freeze closes the round.
    late = replace(planner(world, "IMSS"), now=rules.deadline_of(date(2027, 1, 11)))
    service.set_line(
        late, round_name="2029", institution_code="IMSS", clave=PARACETAMOL,
        min_qty=40, max_qty=100, version=None,
    )  # fmt: skip
    assert quantities(world.db, "2029") == {("IMSS", PARACETAMOL, ""): Pair(40, 100)}


def test_a_deadline_in_the_past_or_after_the_round_is_refused(world: Context) -> None:
    with pytest.raises(ValidationFailed) as past:
        service.open_round(
            world, name="2029", periods=["2029"], deadline=rules.deadline_of(date(2026, 11, 1))
        )
    assert [(p.field, p.message) for p in past.value.problems] == [
        ("deadline", "La fecha límite no es válida: la fecha límite ya pasó.")
    ]
    with pytest.raises(ValidationFailed) as after:
        service.set_deadline(world, name=ROUND, deadline=rules.deadline_of(date(2029, 1, 1)))
    assert "posterior al fin de la ronda (31/12/2028)" in after.value.problems[0].message
    assert service.get_round(world.db, ROUND).deadline is None


def test_opening_a_round_forecasts_every_line_with_history(world: Context) -> None:
    service.import_consumption(
        world,
        content=consumption_csv(
            history("IMSS-ALM", PARACETAMOL, 100)
            + history("IMSS-OOAD-01", ASPIRINA, 10, months=2)
            + history("ISSSTE-ALM", PARACETAMOL, 20, months=5)
            + history("ISSSTE-ALM", TORUNDA, 0, months=12)
            + history("INCAN-01", ASPIRINA, 3, months=30)
        ),
        filename="consumo.csv",
    )

    service.open_round(world, name="2029", periods=["2029"], n_jobs=1)

    found = service.get_round(world.db, "2029")
    forecast = {
        (code, clave)
        for code, clave in world.db.execute(
            select(Institution.code, Clave.clave)
            .select_from(ForecastSuggestion)
            .join(Institution, Institution.id == ForecastSuggestion.institution_id)
            .join(Clave, Clave.id == ForecastSuggestion.clave_id)
            .where(ForecastSuggestion.round_id == found.id)
        )
    }
    assert forecast == {
        ("IMSS", PARACETAMOL),
        ("IMSS", ASPIRINA),
        ("ISSSTE", PARACETAMOL),
        ("ISSSTE", TORUNDA),
        ("INCAN", ASPIRINA),
    }
    page = service.institution_lines(world, round_name="2029", institution_code="IMSS")
    shown = {line.clave for line in page.items if line.suggestion is not None}
    assert shown == {PARACETAMOL, ASPIRINA}
    (run,) = entries(world.db, "forecast.run")
    assert run.data()["suggestions"] == 5


def test_a_planner_computes_its_own_forecasts_and_its_sheet_carries_them(
    world: Context,
) -> None:
    imss, issste = planner(world, "IMSS"), planner(world, "ISSSTE")
    service.import_consumption(
        world,
        content=consumption_csv(
            history("IMSS-ALM", PARACETAMOL, 100) + history("ISSSTE-ALM", ASPIRINA, 20)
        ),
        filename="consumo.csv",
    )

    summary = service.run_forecast(imss, round_name=ROUND, institution_code="IMSS", n_jobs=1)

    assert (summary.suggestions, summary.institutions) == (1, 1)
    with pytest.raises(Forbidden):
        service.run_forecast(issste, round_name=ROUND, institution_code="IMSS", n_jobs=1)
    sheet = openpyxl.load_workbook(
        io.BytesIO(service.institution_sheet(imss, round_name=ROUND, institution_code="IMSS"))
    ).active
    assert sheet is not None
    header = [cell.value for cell in sheet[3]]
    assert header[-1] == "Máximo sugerido (pronóstico)"
    suggested = {row[0]: row[-1] for row in sheet.iter_rows(min_row=4, values_only=True)}
    assert isinstance(suggested[PARACETAMOL], int)
    assert suggested[PARACETAMOL] > 1000
    assert suggested[ASPIRINA] is None
    # The sheet goes back in as downloaded: the suggestion is not a column it complains of.
    skipped: list[Problem] = []
    appendix.read_institution_sheet(
        service.institution_sheet(imss, round_name=ROUND, institution_code="IMSS"),
        "hoja.xlsx",
        skipped=skipped,
    )
    assert not [p for p in skipped if "columnas no se leyeron" in p.message]
