"""Contracts in Chromium, on a phone-sized screen: the institution and the supplier sign, the
institution issues an order, the supplier ships it, the institution receives it, then loads
its system's orders from a file.

The awarded tender is built and committed in a database of its own and the app is served by
uvicorn, as in tests/award/test_browser.py; each person signs in on the login page.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, FilePayload, Page, ViewportSize, expect
from sqlalchemy import select

from abasto.contracts import orders_file, rules, service
from abasto.contracts.models import Contract, SupplyOrder
from abasto.core.db import make_engine, session_factory, transaction
from abasto.core.ledger import LedgerEntry
from abasto.core.money import MEXICO_CITY
from tests.conftest import PASSWORD, served
from tests.contracts.factories import FAR, committed, contract_of
from tests.tendering import conftest as tendering_fixtures
from tests.tendering.conftest import PARACETAMOL

cheap_passwords = tendering_fixtures.cheap_passwords

pytestmark = pytest.mark.browser
PHONE: ViewportSize = {"width": 390, "height": 844}


@dataclass(frozen=True)
class Served:
    url: str
    contract_id: int


@pytest.fixture
def contracted(fresh_database_url: str, tmp_path: Path, cheap_passwords: None) -> Iterator[Served]:
    with committed(fresh_database_url, tmp_path) as built:
        with transaction(built.factory) as db:
            built.world.db = db
            service.create_contracts(built.world.buyer(), tender_id=built.tender_id)
            contract_id = contract_of(built.world, "IMSS", "a").id
        yield Served(fresh_database_url, contract_id)


def csv_file(text: str) -> FilePayload:
    return {"name": "os.csv", "mimeType": "text/csv", "buffer": text.encode()}


def sign_in(page: Page, base: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/entrar")
    page.get_by_label("Usuario").fill(username)
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()
    page.wait_for_load_state()


def test_sign_order_ship_and_receive_in_the_browser(
    contracted: Served, browser: Browser, tmp_path: Path
) -> None:
    with served(contracted.url, tmp_path) as base:
        page = browser.new_page(viewport=PHONE)
        url = f"{base}/contratos/{contracted.contract_id}"

        sign_in(page, base, "plan.imss")
        page.goto(url)
        page.get_by_role("button", name="Firmar por la institución").click()
        expect(page.locator("#estado")).to_have_text("Firmado por la institución")

        sign_in(page, base, "prov.a")
        page.goto(url)
        page.get_by_role("button", name="Firmar por el proveedor").click()
        expect(page.locator("#estado")).to_have_text("Firmado por el proveedor")
        page.get_by_label("Afianzadora o emisora").fill("Afianzadora Sofimex, S.A.")
        page.get_by_label("Póliza o documento").fill("Póliza 2027-001")
        page.get_by_role("button", name="Registrar la garantía").click()
        expect(page.locator("#estado")).to_have_text("Vigente")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1

        sign_in(page, base, "plan.imss")
        page.goto(url)
        form = page.locator("#emitir")
        form.get_by_label("Clave").select_option(PARACETAMOL)
        form.get_by_label("Cantidad").fill("1001")
        form.get_by_role("button", name="Emitir la orden").click()
        # Above the maximum: refused with the figures, nothing issued.
        expect(page.get_by_role("alert")).to_contain_text("No se emitió la orden")
        expect(page.locator("table.problems")).to_contain_text("quedan 1,000")
        form = page.locator("#emitir")
        form.get_by_label("Cantidad").fill("120")
        form.get_by_role("button", name="Emitir la orden").click()
        expect(page.locator('tr[data-order="1"]')).to_contain_text("120")

        sign_in(page, base, "prov.a")
        page.goto(url)
        page.locator('tr[data-order="1"] a').click()
        page.get_by_role("button", name="Confirmar la orden").click()
        expect(page.locator("#estado")).to_have_text("Confirmada por el proveedor")
        lot = page.locator("#envio fieldset").first
        lot.get_by_label("Lote").fill("LOTE-A1")
        lot.get_by_label("Caducidad").fill(FAR.isoformat())
        lot.get_by_label("Cantidad").fill("120")
        lot.get_by_label("Registro sanitario").fill("123M2015 SSA")
        page.get_by_role("button", name="Registrar el envío").click()
        expect(page.locator('[data-shipment="1"]')).to_contain_text("En camino")
        order_url = page.url

        sign_in(page, base, "plan.imss")
        page.goto(order_url)
        page.get_by_label("Aceptadas del lote LOTE-A1").fill("100")
        page.get_by_label("Rechazadas del lote LOTE-A1").fill("20")
        page.get_by_label("Motivo del rechazo del lote LOTE-A1").select_option("danado")
        page.get_by_role("button", name="Registrar la recepción").click()
        expect(page.locator('[data-shipment="1"]')).to_contain_text("Recibido")
        expect(page.locator('tr[data-lot="LOTE-A1"]')).to_contain_text("Producto dañado")
        # Nothing on the page is wider than the phone's screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1

        # The institution's system exports its orders: the template names this contract.
        page.goto(f"{base}/ordenes")
        page.get_by_role("link", name="Importar órdenes y entregas").click()
        with page.expect_download() as got:
            page.get_by_role("link", name="Descargar la plantilla").click()
        [example, _] = orders_file.read(Path(got.value.path()).read_bytes(), "plantilla.xlsx")
        # Issued now (the contract became vigente a few steps ago), due in 20 days.
        issued = datetime.now(MEXICO_CITY).replace(microsecond=0)
        due = issued.date() + timedelta(days=20)
        prefix = f"{example.contract},OS-77,{example.clave},{example.unit}"
        row = prefix + f",{{}},{issued:%d/%m/%Y %H:%M:%S},{due:%d/%m/%Y}"
        header = "Contrato,Folio,Clave,Unidad,Cantidad,Fecha de emisión,Fecha límite\n"
        page.get_by_label("Archivo de órdenes").set_input_files(
            files=csv_file(header + row.format("muchas"))
        )
        page.get_by_role("button", name="Importar").click()
        expect(page.get_by_role("alert")).to_contain_text("No se importó nada")
        expect(page.locator("table.problems")).to_contain_text("muchas")
        page.get_by_label("Archivo de órdenes").set_input_files(
            files=csv_file(header + row.format(30))
        )
        page.get_by_role("button", name="Importar").click()
        expect(page.get_by_role("status")).to_contain_text("1 orden de 1 contrato")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1

    engine = make_engine(contracted.url)
    with transaction(session_factory(engine)) as db:
        contract = db.get(Contract, contracted.contract_id)
        assert contract is not None
        assert contract.status == rules.VIGENTE
        assert contract.institution_signed_by == "usuario:plan.imss"
        assert contract.supplier_signed_by == "usuario:prov.a"
        order, loaded = db.scalars(select(SupplyOrder).order_by(SupplyOrder.number)).all()
        assert (order.quantity, order.accepted_qty, order.rejected_qty) == (120, 100, 20)
        assert (loaded.number, loaded.quantity, loaded.status) == (2, 30, rules.ORDER_EMITIDA)
        actions = db.scalars(
            select(LedgerEntry.action).where(LedgerEntry.entity == f"contract:{contract.id}")
        ).all()
        assert actions.count("contract.sign") == 2
        assert "shipment.receive" in actions
    engine.dispose()
