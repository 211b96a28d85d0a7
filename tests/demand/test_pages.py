"""The demand pages: rounds, progress, the planner's page saving each line, the consolidation."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, Route, expect

from abasto.catalog import service as catalog
from abasto.core.context import Context, operator
from abasto.core.db import make_engine, session_factory, transaction
from abasto.demand import service
from abasto.demand.rules import Pair
from tests.catalog.test_pages import log_in
from tests.conftest import PASSWORD, T0, make_user, served
from tests.demand.test_service import (
    ASPIRINA,
    PARACETAMOL,
    ROUND,
    appendix_file,
    build_world,
    quantities,
)

PAGE = f"/demanda/{ROUND}"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def world(ctx: Context) -> Context:
    build_world(ctx)
    make_user(ctx, "comprador", "comprador")
    make_user(ctx, "imss", "institucion", institution="IMSS")
    make_user(ctx, "auditor", "auditor")
    return ctx


def row_of(html: str, clave: str) -> str:
    start = html.index(f'id="linea-{clave.replace(".", "-")}"')
    return html[start : html.index("</tr>", start)]


def test_rounds_page_for_the_buyer_and_for_a_planner(client: TestClient, world: Context) -> None:
    anonymous = client.get("/demanda")
    log_in(client, "comprador")
    buyer = client.get("/demanda")
    log_in(client, "imss")
    imss = client.get("/demanda")

    assert anonymous.status_code == 401
    assert buyer.status_code == 200
    assert "<title>Demanda · Abasto</title>" in buyer.text
    assert f'<a href="/demanda/{ROUND}">{ROUND}</a>' in buyer.text
    assert "0 de 5" in buyer.text
    assert 'action="/demanda"' in buyer.text
    assert 'name="institutions" value="ISSSTE" checked' in buyer.text
    assert 'action="/demanda"' not in imss.text
    assert f'href="/demanda/{ROUND}/IMSS">Capturar demanda</a>' in imss.text
    assert '<a href="/demanda">Demanda</a>' in buyer.text


def test_the_buyer_opens_a_round_from_the_form(client: TestClient, world: Context) -> None:
    log_in(client, "comprador")

    opened = client.post(
        "/demanda",
        data={"name": "2029", "periods": "2029", "min_share": "40", "institutions": ["IMSS"]},
        follow_redirects=False,
    )
    refused = client.post("/demanda", data={"name": "2029", "periods": "veinte", "min_share": "40"})

    assert opened.status_code == 303
    assert opened.headers["location"] == "/demanda/2029"
    assert [i.code for i in service.round_progress(world.db, name="2029").institutions] == ["IMSS"]
    assert refused.status_code == 422
    assert "No se abrió la ronda." in refused.text
    assert "«veinte» no es un año" in refused.text
    assert "La ronda necesita al menos una institución." in refused.text


def test_the_buyer_sets_the_deadline_and_the_planner_sees_it_and_forecasts(
    client: TestClient, world: Context
) -> None:
    log_in(client, "comprador")
    opened = client.post(
        "/demanda",
        data={
            "name": "2029",
            "periods": "2029",
            "deadline": "2026-12-15",
            "institutions": ["IMSS"],
        },
        follow_redirects=False,
    )
    assert opened.status_code == 303
    page = client.get("/demanda/2029")
    assert "15/12/2026 23:59" in page.text
    assert 'name="deadline" value="2026-12-15"' in page.text
    moved = client.post(
        "/demanda/2029/plazo", data={"deadline": "2027-01-10"}, follow_redirects=False
    )
    assert moved.status_code == 303
    refused = client.post("/demanda/2029/plazo", data={"deadline": "2026-10-01"})
    assert refused.status_code == 422
    assert "la fecha límite ya pasó" in refused.text
    assert "10/01/2027" in client.get("/demanda").text

    log_in(client, "imss")
    mine = client.get("/demanda/2029/IMSS")
    assert "Fecha límite de captura: <strong>10/01/2027 23:59</strong>" in mine.text
    computed = client.post("/demanda/2029/IMSS/pronosticos", follow_redirects=False)
    assert computed.status_code == 303
    assert computed.headers["location"] == "/demanda/2029/IMSS?pronosticos=0"
    assert "Se calcularon 0 pronósticos" in client.get(computed.headers["location"]).text


def test_round_page_shows_progress_and_the_buyer_freezes_and_reopens(
    client: TestClient, world: Context
) -> None:
    service.import_appendix(
        world,
        round_name=ROUND,
        content=appendix_file(["IMSS"], [(PARACETAMOL, 40, 100)]),
        filename="a.xlsx",
    )
    log_in(client, "comprador")

    page = client.get(PAGE)
    unconfirmed = client.post(f"{PAGE}/congelar")
    still_open = service.get_round(world.db, ROUND).status
    frozen = client.post(f"{PAGE}/congelar", data={"confirmar": "si"}, follow_redirects=False)
    after = client.get(PAGE)
    no_reason = client.post(f"{PAGE}/reabrir", data={"reason": ""})
    reopened = client.post(
        f"{PAGE}/reabrir", data={"reason": "Corrige IMSS"}, follow_redirects=False
    )

    assert page.status_code == 200
    assert "<strong>1</strong> enviadas · <strong>4</strong> pendientes" in page.text
    assert '<span class="badge ok">Enviada</span>' in page.text
    assert page.text.count('<span class="badge bad">Pendiente</span>') == 4
    assert f'action="{PAGE}/congelar"' in page.text
    assert 'name="confirmar" value="si" required' in page.text
    assert unconfirmed.status_code == 422
    assert "No se congeló la ronda: falta confirmar el congelamiento." in unconfirmed.text
    assert still_open == "open"
    assert frozen.status_code == 303
    assert f'action="{PAGE}/reabrir"' in after.text
    assert "Congelada" in after.text
    assert no_reason.status_code == 422
    assert "falta el motivo" in no_reason.text
    assert reopened.status_code == 303
    assert service.get_round(world.db, ROUND).status == "open"


def test_the_planners_page_lists_the_claves_with_inputs_that_save_on_change(
    client: TestClient, world: Context
) -> None:
    service.set_line(
        world, round_name=ROUND, institution_code="IMSS", clave=PARACETAMOL,
        min_qty=40, max_qty=100, version=None,
    )  # fmt: skip
    log_in(client, "imss")

    page = client.get(f"{PAGE}/IMSS")

    assert page.status_code == 200
    row = row_of(page.text, PARACETAMOL)
    assert f'hx-put="{PAGE}/IMSS/lineas/{PARACETAMOL}"' in row
    assert 'hx-trigger="demand-save" hx-sync="this:queue last"' in row
    assert 'name="maximo" inputmode="numeric" autocomplete="off"\n      value="100"' in row
    assert 'name="version" value="1"' in row
    assert "Descargar hoja .xlsx" in page.text
    assert f"/api/v1/demand/rounds/{ROUND}/institutions/IMSS/sheet.xlsx" in page.text
    assert '<script src="/static/demand-grid.js" defer></script>' in page.text
    other = client.get(f"{PAGE}/ISSSTE")
    assert other.status_code == 403


def test_saving_a_row_returns_the_row_saved_or_with_its_error(
    client: TestClient, world: Context
) -> None:
    log_in(client, "imss")
    url = f"{PAGE}/IMSS/lineas/{PARACETAMOL}"
    htmx = {"HX-Request": "true"}

    saved = client.put(url, data={"minimo": "40", "maximo": "100", "version": ""}, headers=htmx)
    refused = client.put(url, data={"minimo": "10", "maximo": "100", "version": "1"}, headers=htmx)
    stale = client.put(url, data={"minimo": "40", "maximo": "90", "version": ""}, headers=htmx)

    assert saved.status_code == 200
    assert saved.text.lstrip().startswith("<tr")
    assert "<html" not in saved.text
    assert 'class="line saved"' in saved.text
    assert "Guardado" in saved.text
    assert 'name="version" value="1"' in saved.text
    assert refused.status_code == 422
    assert 'class="line invalid"' in refused.text
    assert 'value="10"' in refused.text
    assert 'aria-invalid="true"' in refused.text
    assert "el mínimo es menor que el 40 % del máximo (100)" in refused.text
    assert "al menos 40 (el 40 % de 100, redondeado hacia arriba)" in refused.text
    assert stale.status_code == 409
    assert "cambió después de que usted la leyó" in stale.text
    assert 'value="100"' in stale.text
    assert quantities(world.db)[("IMSS", PARACETAMOL, "")].max == 100


def test_the_live_search_returns_only_the_rows(client: TestClient, world: Context) -> None:
    log_in(client, "imss")

    fragment = client.get(f"{PAGE}/IMSS", params={"q": "acetil"}, headers={"HX-Request": "true"})

    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert f'id="linea-{ASPIRINA.replace(".", "-")}"' in fragment.text
    assert PARACETAMOL not in fragment.text
    assert "HX-Request" in fragment.headers["vary"]


def test_a_frozen_round_or_an_auditor_gets_the_page_read_only(
    client: TestClient, world: Context
) -> None:
    log_in(client, "auditor")
    audited = client.get(f"{PAGE}/IMSS")
    service.freeze_round(world, name=ROUND)
    log_in(client, "imss")
    frozen = client.get(f"{PAGE}/IMSS")

    for page in (audited, frozen):
        assert page.status_code == 200
        assert "hx-put" not in row_of(page.text, PARACETAMOL)
        assert "disabled" in row_of(page.text, PARACETAMOL)
    assert "La ronda está congelada" in frozen.text


def test_the_planner_uploads_the_sheet_from_the_page(client: TestClient, world: Context) -> None:
    log_in(client, "imss")
    sheet = client.get(f"/api/v1/demand/rounds/{ROUND}/institutions/IMSS/sheet.xlsx").content
    bad = f"Clave,Descripción\n{PARACETAMOL},Paracetamol\n".encode()

    uploaded = client.post(f"{PAGE}/IMSS/hoja", files={"file": ("hoja.xlsx", sheet, XLSX)})
    refused = client.post(
        f"{PAGE}/IMSS/hoja",
        files={"file": ("hoja.xlsx", _sheet_with(sheet, PARACETAMOL, 3, 10), XLSX)},
    )
    wrong = client.post(f"{PAGE}/IMSS/hoja", files={"file": ("hoja.csv", bad, "text/csv")})

    assert uploaded.status_code == 200
    assert "Hoja importada" in uploaded.text
    assert refused.status_code == 422
    assert "No se importó nada" in refused.text
    assert "el mínimo es menor que el 40 % del máximo (10)" in refused.text
    assert wrong.status_code == 422
    assert "falta la columna" in wrong.text


def _sheet_with(sheet: bytes, clave: str, low: int, high: int) -> bytes:
    workbook = openpyxl.load_workbook(io.BytesIO(sheet))
    for row in workbook.active.iter_rows(min_row=4):
        if row[0].value == clave:
            row[4].value, row[5].value = low, high
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_the_buyer_imports_an_appendix_from_the_round_page(
    client: TestClient, world: Context
) -> None:
    log_in(client, "comprador")
    good = appendix_file(["IMSS", "ISSSTE"], [(PARACETAMOL, 40, 100, 4, 10)])
    bad = appendix_file(["IMSS", "PEMEX"], [(PARACETAMOL, 40, 100, 4, 10)])

    imported = client.post(f"{PAGE}/importar", files={"file": ("a.xlsx", good, XLSX)})
    refused = client.post(f"{PAGE}/importar", files={"file": ("b.xlsx", bad, XLSX)})

    assert imported.status_code == 200
    assert "Apéndice importado" in imported.text
    assert "<strong>2 instituciones</strong>" in imported.text
    assert refused.status_code == 422
    assert "la institución no está registrada" in refused.text
    assert "PEMEX" in refused.text


def test_an_appendix_page_upload_that_would_remove_lines_needs_replace(
    client: TestClient, world: Context
) -> None:
    log_in(client, "comprador")
    first = appendix_file(["IMSS"], [(PARACETAMOL, 40, 100), (ASPIRINA, 2, 5)])
    second = appendix_file(["IMSS"], [(PARACETAMOL, 40, 100)])
    client.post(f"{PAGE}/importar", files={"file": ("a.xlsx", first, XLSX)})

    refused = client.post(f"{PAGE}/importar", files={"file": ("b.xlsx", second, XLSX)})
    replaced = client.post(
        f"{PAGE}/importar", data={"replace": "true"}, files={"file": ("b.xlsx", second, XLSX)}
    )

    assert refused.status_code == 422
    assert "quitaría 1 línea ya capturada" in refused.text
    assert 'name="replace"' in refused.text
    assert replaced.status_code == 200
    assert "1 quitadas" in replaced.text
    assert quantities(world.db) == {("IMSS", PARACETAMOL, ""): Pair(40, 100)}


def import_coordinated(ctx: Context) -> None:
    """Paracetamol from IMSS and from CCINSHAE with its member INCAN; aspirina from IMSS."""
    service.import_appendix(
        ctx,
        round_name=ROUND,
        content=appendix_file(
            ["IMSS", "CCINSHAE", "INCAN"],
            [(PARACETAMOL, 40, 100, 4, 10, 4, 10), (ASPIRINA, 400, 1000, None, None, None, None)],
        ),
        filename="a.xlsx",
    )


def test_consolidated_page_searches_sorts_and_pages(client: TestClient, world: Context) -> None:
    import_coordinated(world)
    log_in(client, "imss")

    by_clave = client.get(f"{PAGE}/consolidado")
    by_total = client.get(f"{PAGE}/consolidado", params={"orden": "total"})
    searched = client.get(
        f"{PAGE}/consolidado", params={"q": "paracetamol"}, headers={"HX-Request": "true"}
    )

    assert by_clave.status_code == 200
    assert by_clave.text.index(ASPIRINA) < by_clave.text.index(PARACETAMOL)
    assert by_total.text.index(ASPIRINA) < by_total.text.index(PARACETAMOL)
    assert "mínimo <strong>444</strong> · máximo <strong>1,110</strong>" in by_clave.text
    assert f'href="/api/v1/demand/rounds/{ROUND}/consolidated.xlsx"' in by_clave.text
    assert f'href="/api/v1/demand/rounds/{ROUND}/consolidated.parquet"' in by_clave.text
    assert "2 instituciones" in by_clave.text
    assert f'hx-get="{PAGE}/consolidado/{PARACETAMOL}"' in by_clave.text
    assert "<tr><td>IMSS</td>" not in by_clave.text  # each breakdown opens apart
    assert "<html" not in searched.text
    assert PARACETAMOL in searched.text
    assert ASPIRINA not in searched.text
    assert "<strong>1</strong> clave coincide con «paracetamol»" in searched.text


def test_a_clave_breakdown_opens_alone_for_htmx_and_as_a_page_without_scripts(
    client: TestClient, world: Context
) -> None:
    import_coordinated(world)
    log_in(client, "comprador")

    listed = client.get(f"{PAGE}/consolidado")
    whole = client.get(f"{PAGE}/consolidado/{PARACETAMOL}")
    opened = client.get(f"{PAGE}/consolidado/{PARACETAMOL}", headers={"HX-Request": "true"})
    missing = client.get(f"{PAGE}/consolidado/010.000.9999.00")

    assert f'<a href="{PAGE}/consolidado/{PARACETAMOL}">Ver el desglose</a>' in listed.text
    assert whole.status_code == 200
    assert f"Desglose de {PARACETAMOL} · {ROUND}" in whole.text
    assert "mínimo <strong>44</strong> · máximo <strong>110</strong>" in whole.text
    assert "<html" not in opened.text
    assert opened.headers["vary"] == "HX-Request"
    for shown in (whole.text, opened.text):
        assert '<tr><td>IMSS</td><td class="num">40</td><td class="num">100</td></tr>' in shown
        assert '<tr><td>CCINSHAE</td><td class="num">4</td><td class="num">10</td></tr>' in shown
        assert '<tr class="member muted"><td>INCAN</td><td class="num">4</td>' in shown
    assert ASPIRINA not in opened.text
    assert missing.status_code == 404
    assert "no tiene demanda de la clave «010.000.9999.00»" in missing.text


def test_the_consolidated_page_has_pages(client: TestClient, ctx: Context) -> None:
    build_world(ctx)
    make_user(ctx, "comprador", "comprador")
    rows = "\n".join(f"060.066.{n:04d},Gasa {n}. Sobre con 10 piezas.,Sobre," for n in range(1, 31))
    catalog.import_catalog(
        ctx, content=f"Clave,Descripción,UM,CUCoP\n{rows}\n".encode(), filename="gasas.csv"
    )
    claves = [(f"060.066.{n:04d}", 4, 10) for n in range(1, 31)]
    service.import_appendix(
        ctx, round_name=ROUND, content=appendix_file(["IMSS"], claves), filename="a.xlsx"
    )
    log_in(client, "comprador")

    first = client.get(f"{PAGE}/consolidado")
    second = client.get(f"{PAGE}/consolidado", params={"page": 2})

    assert "página 1 de 2" in first.text
    assert f'href="{PAGE}/consolidado?q=&amp;orden=clave&amp;page=2"' in first.text
    assert "060.066.0026" in second.text
    assert "060.066.0001" not in second.text


@pytest.mark.browser
def test_the_buyer_sorts_and_searches_the_consolidation_and_sees_each_change(
    fresh_database_url: str, tmp_path: Path, browser: Browser
) -> None:
    engine = make_engine(fresh_database_url)

    def capture(institution: str, clave: str, low: int, high: int) -> None:
        with transaction(session_factory(engine)) as db:
            ctx = Context(db=db, actor=operator("pruebas"), now=T0)
            found = service.get_line(
                ctx, round_name=ROUND, institution_code=institution, clave=clave
            )
            service.set_line(
                ctx, round_name=ROUND, institution_code=institution, clave=clave,
                min_qty=low, max_qty=high, version=found.version,
            )  # fmt: skip

    with transaction(session_factory(engine)) as db:
        ctx = Context(db=db, actor=operator("pruebas"), now=T0)
        build_world(ctx)
        make_user(ctx, "comprador", "comprador")
    capture("IMSS", PARACETAMOL, 40, 100)
    capture("ISSSTE", ASPIRINA, 400, 1000)
    capture("INCAN", PARACETAMOL, 4, 10)
    try:
        with served(fresh_database_url, tmp_path) as base:
            page = browser.new_page()
            page.goto(base + "/entrar?siguiente=" + f"{PAGE}/consolidado")
            page.get_by_label("Usuario").fill("comprador")
            page.get_by_label("Contraseña").fill(PASSWORD)
            page.get_by_role("button", name="Entrar").click()
            expect(page.get_by_role("heading", level=1)).to_have_text(
                f"Demanda consolidada {ROUND}"
            )
            page.evaluate("window.sinRecargar = true")
            claves = page.locator("table.consolidated > tbody > tr > td.clave")
            expect(claves).to_have_text([ASPIRINA, PARACETAMOL])

            page.get_by_label("Ordenar por").select_option("total")
            expect(claves).to_have_text([ASPIRINA, PARACETAMOL])
            capture("IMSS", PARACETAMOL, 800, 2000)
            page.get_by_label("Ordenar por").select_option("clave")
            expect(claves).to_have_text([ASPIRINA, PARACETAMOL])
            page.get_by_label("Ordenar por").select_option("total")
            expect(claves).to_have_text([PARACETAMOL, ASPIRINA])
            expect(page.locator("table.consolidated > tbody > tr").first).to_contain_text("2,010")

            page.get_by_label("Buscar").fill("acetilsalicilico")
            expect(claves).to_have_text([ASPIRINA])
            expect(page.locator(".results-count")).to_contain_text("1 clave")

            opened = page.locator("table.consolidated details.breakdown")
            expect(opened.locator("summary")).to_have_text("1 institución")
            opened.locator("summary").click()
            expect(opened.locator(".breakdown-body tbody tr")).to_have_text(["ISSSTE4001,000"])
            assert page.evaluate("window.sinRecargar") is True
            assert "q=acetilsalicilico" in page.url
            assert "orden=total" in page.url
    finally:
        engine.dispose()


# ----- in a real browser ---------------------------------------------------------------------


@pytest.fixture
def server(fresh_database_url: str, tmp_path: Path) -> Iterator[str]:
    """The application on a free port, with the small sector, a round and IMSS's planner."""
    engine = make_engine(fresh_database_url)
    with transaction(session_factory(engine)) as db:
        ctx = Context(db=db, actor=operator("pruebas"), now=T0)
        build_world(ctx)
        make_user(ctx, "imss", "institucion", institution="IMSS")
        service.set_line(
            ctx, round_name=ROUND, institution_code="IMSS", clave=PARACETAMOL,
            min_qty=40, max_qty=100, version=None,
        )  # fmt: skip
    engine.dispose()
    with served(fresh_database_url, tmp_path) as base:
        yield base


@pytest.mark.browser
def test_a_planner_edits_a_max_and_it_is_saved_without_reloading(
    server: str, browser: Browser, fresh_database_url: str
) -> None:
    page = browser.new_page()
    page.goto(server + "/entrar?siguiente=" + f"/demanda/{ROUND}/IMSS")
    page.get_by_label("Usuario").fill("imss")
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Demanda de IMSS · {ROUND}")
    # A mark on this document: a full page load would lose it.
    page.evaluate("window.sinRecargar = true")
    row = page.locator(f"#linea-{PARACETAMOL.replace('.', '-')}")

    row.get_by_label(f"Máximo de {PARACETAMOL}").fill("90")
    row.get_by_label(f"Máximo de {PARACETAMOL}").press("Tab")

    expect(row.locator("td.state")).to_contain_text("Guardado")
    expect(row.locator('input[name="version"]')).to_have_value("2")
    assert page.evaluate("window.sinRecargar") is True
    engine = make_engine(fresh_database_url)
    try:
        with transaction(session_factory(engine)) as db:
            assert quantities(db)[("IMSS", PARACETAMOL, "")] == Pair(40, 90)
    finally:
        engine.dispose()

    # A minimum below 40 % comes back inline when the row is left, and nothing is saved.
    row.get_by_label(f"Mínimo de {PARACETAMOL}").fill("10")
    row.get_by_label(f"Mínimo de {PARACETAMOL}").press("Tab")
    row.get_by_label(f"Máximo de {PARACETAMOL}").press("Tab")
    expect(row.locator("td.state")).to_contain_text("al menos 36")
    assert page.evaluate("window.sinRecargar") is True


def planner_page(server: str, browser: Browser) -> Page:
    page = browser.new_page()
    page.goto(server + "/entrar?siguiente=" + f"/demanda/{ROUND}/IMSS")
    page.get_by_label("Usuario").fill("imss")
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Demanda de IMSS · {ROUND}")
    return page


def saved_lines(database_url: str) -> dict[str, Pair]:
    engine = make_engine(database_url)
    try:
        with transaction(session_factory(engine)) as db:
            return {clave: pair for (_, clave, _), pair in quantities(db).items()}
    finally:
        engine.dispose()


def type_row(page: Page, clave: str, low: str, high: str, delay: float) -> None:
    """As a planner types: the minimum (over what it held), Tab, the maximum, Tab out."""
    page.get_by_label(f"Mínimo de {clave}").click()
    page.keyboard.press("Control+A")
    page.keyboard.type(low, delay=delay)
    page.keyboard.press("Tab")
    page.keyboard.type(high, delay=delay)
    page.keyboard.press("Tab")


@pytest.mark.browser
def test_typing_min_tab_max_quickly_saves_every_keystroke(
    server: str, browser: Browser, fresh_database_url: str
) -> None:
    page = planner_page(server, browser)
    claves = [
        c.replace("linea-", "").replace("-", ".")
        for c in page.locator("tbody tr.line").evaluate_all("rows => rows.map(r => r.id)")
    ]
    new = [c for c in claves if c != PARACETAMOL]
    typed: dict[str, tuple[str, str]] = {}

    # 50 ms a key, then 80–150 ms (how the keystrokes were lost): a new line and the existing
    # one (which held 40 / 100) each time, row after row without waiting for the answers.
    for round_, delay in enumerate((50, 80, 150)):
        typed[new[round_]] = ("4000", "10000")
        typed[PARACETAMOL] = (str(4000 + round_), str(10000 - round_))
        for clave in (new[round_], PARACETAMOL):
            type_row(page, clave, *typed[clave], delay=delay)
        expect(page.get_by_label(f"Máximo de {PARACETAMOL}")).to_have_value(typed[PARACETAMOL][1])
        for clave in (new[round_], PARACETAMOL):
            expect(page.locator(f"#linea-{clave.replace('.', '-')} td.state")).to_contain_text(
                "Guardado"
            )
        # «Guardado» may still be the previous round's: this round's save moves the version.
        paracetamol_row = page.locator(f"#linea-{PARACETAMOL.replace('.', '-')}")
        expect(paracetamol_row.locator('input[name="version"]')).to_have_value(str(2 + round_))

    for clave, (low, high) in typed.items():
        expect(page.get_by_label(f"Mínimo de {clave}")).to_have_value(low)
        expect(page.get_by_label(f"Máximo de {clave}")).to_have_value(high)
    assert saved_lines(fresh_database_url) == {
        clave: Pair(int(low), int(high)) for clave, (low, high) in typed.items()
    }
    paracetamol = page.locator(f"#linea-{PARACETAMOL.replace('.', '-')}")
    expect(paracetamol.locator('input[name="version"]')).to_have_value("4")


@pytest.mark.browser
def test_an_answer_that_arrives_while_typing_leaves_the_field_being_typed(
    server: str, browser: Browser, fresh_database_url: str
) -> None:
    page = planner_page(server, browser)
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route("**/lineas/**", hold)
    row = page.locator(f"#linea-{PARACETAMOL.replace('.', '-')}")
    minimum = page.get_by_label(f"Mínimo de {PARACETAMOL}")
    maximum = page.get_by_label(f"Máximo de {PARACETAMOL}")

    # A pause after the minimum saves the row (it looks finished: the maximum still holds 100);
    # its answer is held back until the maximum is half typed.
    minimum.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("4000", delay=50)
    page.wait_for_timeout(2500)
    assert len(held) == 1
    page.keyboard.press("Tab")
    page.keyboard.type("10", delay=50)
    with page.expect_response("**/lineas/**") as answer:
        held[0].continue_()
    page.unroute("**/lineas/**", hold)
    assert answer.value.status == 422  # 4000 over a maximum of 100
    page.keyboard.type("000", delay=50)

    expect(maximum).to_have_value("10000")
    expect(minimum).to_have_value("4000")
    page.keyboard.press("Tab")
    expect(row.locator("td.state")).to_contain_text("Guardado")
    expect(maximum).to_have_value("10000")
    assert saved_lines(fresh_database_url)[PARACETAMOL] == Pair(4000, 10000)


@pytest.mark.parametrize("typed", ["NaN", "1e999999", "Infinity"])
def test_a_minimum_share_that_is_not_a_bounded_number_is_refused(
    client: TestClient, world: Context, typed: str
) -> None:
    log_in(client, "comprador")
    refused = client.post(
        "/demanda",
        data={"name": "2029", "periods": "2029", "min_share": typed, "institutions": ["IMSS"]},
    )
    assert refused.status_code == 422
    assert "No se abrió la ronda." in refused.text


def test_the_round_page_lists_observations_and_the_buyer_accepts_one(
    client: TestClient, world: Context
) -> None:
    log_in(client, "comprador")
    content = appendix_file(["IMSS", "ISSTE"], [(PARACETAMOL, 0, 100, 4, 10)])

    imported = client.post(
        f"{PAGE}/importar",
        data={"map_suggested": "true"},
        files={"file": ("a.xlsx", content, XLSX)},
    )
    page = client.get(PAGE)
    (observation,) = service.round_observations(world.db, round_name=ROUND)
    action = f"{PAGE}/observaciones/{observation.id}/aceptar"
    no_reason = client.post(action, data={"reason": " ", "version": "1"})
    accepted = client.post(
        action, data={"reason": "Así lo publicó IMSS", "version": "1"}, follow_redirects=False
    )
    after = client.get(PAGE)

    assert imported.status_code == 200, imported.text
    assert "«ISSTE» se asoció a ISSSTE (nombres 100% iguales)." in imported.text
    assert (
        "<strong>1 línea</strong> con mínimo menor que el de la ronda: se importó" in imported.text
    )
    assert 'id="observaciones"' in page.text
    assert f'action="{action}"' in page.text
    assert "hoja «Apéndice», fila 4, IMSS — CANTIDAD MIN (columna E)" in page.text
    assert no_reason.status_code == 422
    assert "falta el motivo" in no_reason.text
    assert accepted.status_code == 303
    assert f'action="{action}"' not in after.text
    assert "Así lo publicó IMSS" in after.text


@pytest.mark.browser
def test_the_buyer_ticks_none_then_all_institutions_when_opening_a_round(
    server: str, browser: Browser, fresh_database_url: str
) -> None:
    engine = make_engine(fresh_database_url)
    with transaction(session_factory(engine)) as db:
        make_user(Context(db=db, actor=operator("pruebas"), now=T0), "comprador", "comprador")
    engine.dispose()
    page = browser.new_page()
    page.goto(server + "/entrar?siguiente=/demanda")
    page.get_by_label("Usuario").fill("comprador")
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_role("heading", name="Abrir una ronda")).to_be_visible()
    page.locator("summary", has_text="instituciones").click()
    boxes = page.locator('input[name="institutions"]')
    assert boxes.count() >= 2

    page.get_by_role("button", name="Ninguna", exact=True).click()
    assert page.locator('input[name="institutions"]:checked').count() == 0
    page.get_by_role("button", name="Todas", exact=True).click()
    assert page.locator('input[name="institutions"]:checked').count() == boxes.count()
