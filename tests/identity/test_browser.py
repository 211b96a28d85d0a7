"""The buyer's registry in a real browser: register, rename, import units from a CLUES file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from abasto.core.context import Context, operator
from abasto.core.db import make_engine, session_factory, transaction
from tests.conftest import PASSWORD, T0, make_user, served
from tests.identity.test_units_import import clues_csv

pytestmark = pytest.mark.browser


@pytest.fixture
def server(fresh_database_url: str, tmp_path: Path) -> Iterator[str]:
    """The application on a free port, with a buyer and nothing registered."""
    engine = make_engine(fresh_database_url)
    with transaction(session_factory(engine)) as db:
        make_user(Context(db=db, actor=operator("pruebas"), now=T0), "comprador", "comprador")
    engine.dispose()
    with served(fresh_database_url, tmp_path) as base:
        yield base


def test_the_buyer_registers_an_institution_and_imports_its_units(
    server: str, browser: Browser, tmp_path: Path
) -> None:
    page = browser.new_page()
    page.goto(server + "/entrar?siguiente=/comprador/instituciones")
    page.get_by_label("Usuario").fill("comprador")
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Registro de instituciones y unidades"
    )

    page.get_by_label("Clave", exact=True).fill("PEMEX")
    page.get_by_label("Nombre oficial").fill("Petróleos Mexicanos")
    page.get_by_label("Tipo").fill("empresa productiva del Estado")
    page.get_by_label("Otros nombres").fill("PETROLEOS MEXICANOS\nServicios de Salud PEMEX")
    page.get_by_role("button", name="Registrar").click()
    expect(page.get_by_role("status")).to_have_text("Se registró «PEMEX».")

    page.get_by_label("Nombre nuevo").first.fill("Petróleos Mexicanos (PEMEX)")
    page.get_by_role("button", name="Cambiar nombre").first.click()
    expect(page.get_by_role("status")).to_have_text(
        "«PEMEX» se llama ahora «Petróleos Mexicanos (PEMEX)»."
    )

    rows = [
        (f"DFPMX{n:06d}", "09", "CIUDAD DE MEXICO", "MIGUEL HIDALGO", "PMX",
         "PETROLEOS MEXICANOS", "CONSULTORIO", f"Consultorio {n}", "19.43", "-99.19")
        for n in range(1, 4)
    ]  # fmt: skip
    file = tmp_path / "clues.csv"
    file.write_bytes(clues_csv(rows))
    page.goto(server + "/comprador/unidades/importar")
    page.get_by_label("Archivo CLUES").set_input_files(str(file))
    page.get_by_role("button", name="Importar").click()
    expect(page.get_by_role("status")).to_contain_text("3 unidades leídas; 3 nuevas")

    page.get_by_role("link", name="PEMEX").click()
    expect(page.locator("table.units tbody tr")).to_have_count(3)
    expect(page.locator("table.units")).to_contain_text("MIGUEL HIDALGO")
