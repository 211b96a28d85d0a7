"""An institution's orders file (``orders_file``, ``service.import_orders``): read from the
layouts real exports have, every problem located by sheet, row and column, loaded whole with
the figures of the one-by-one path, nothing written when anything is wrong."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from abasto.contracts import orders_file, rules, service
from abasto.contracts.models import Contract, Penalty, ShipmentLot, SupplyOrder
from abasto.core.errors import NotFound, ValidationFailed
from abasto.core.money import MEXICO_CITY
from abasto.core.spreadsheet import parse_moment
from abasto.web.security import CSRF_FIELD
from tests.catalog.test_pages import log_in
from tests.conftest import csrf_token_of
from tests.contracts.factories import Awarded, planner, signed
from tests.tendering.conftest import ASPIRINA, PARACETAMOL, World
from tests.tendering.test_api import as_, problem

HEADER = (
    "Contrato,Folio,Clave,Unidad,Cantidad,Fecha de emisión,Fecha límite,Remisión,"
    "Fecha de recepción,Lote,Caducidad,Aceptadas,Rechazadas,Motivo de rechazo,Registro sanitario"
)
REGISTRO = "123M2015 SSA"


def dmy(day: date) -> str:
    return f"{day:%d/%m/%Y}"


def csv(*rows: str, title: bool = True) -> bytes:
    top = "Órdenes de suministro del IMSS,,,\n" if title else ""
    return (top + HEADER + "\n" + "".join(r + "\n" for r in rows)).encode()


def problems_of(
    error: pytest.ExceptionInfo[ValidationFailed],
) -> list[tuple[int | None, str | None]]:
    return [(p.row, p.column) for p in error.value.problems]


# ----- reading -------------------------------------------------------------------------------


def test_rows_of_one_order_group_and_their_deliveries_are_numbered_by_reception() -> None:
    content = csv(
        "C-1,OS-9,010.000.0104.00,HGZ-1,400,02/11/2026 10:15,22/11/2026,R-B,"
        "26/11/2026 09:00,L3,31/12/2031,50,0,,123M",
        "C-1,OS-9,010.000.0104.00,HGZ-1,400,02/11/2026 10:15,22/11/2026,R-A,"
        "2026-11-22,L1,2031-12-31,250,0,,123M",
        "C-1,OS-9,010.000.0104.00,HGZ-1,400,02/11/2026 10:15,22/11/2026,R-A,"
        "2026-11-22,L2,2031-12-31,100,50,Producto dañado,123M",
        "C-1,OS-10,010.000.0104.00,HGZ-1,100,2026-11-20,10/12/2026",
    )

    first, second = orders_file.read(content, "ordenes.csv")

    assert (first.row, first.key, first.quantity, second.key, second.lots) == (
        3,
        "OS-9",
        400,
        "OS-10",
        [],
    )
    assert first.issued_at == datetime(2026, 11, 2, 10, 15, tzinfo=MEXICO_CITY)
    assert second.issued_at == datetime(2026, 11, 20, 12, tzinfo=MEXICO_CITY)  # a day: its noon
    assert [(x.lot, x.accepted, x.rejected, x.reason) for x in first.lots] == [
        ("L3", 50, 0, None),
        ("L1", 250, 0, None),
        ("L2", 100, 50, "danado"),
    ]
    assert orders_file.delivery_numbers(first) == {"R-A": 1, "R-B": 2}


def test_every_problem_of_the_file_is_named_by_row_and_the_file_s_own_header() -> None:
    content = csv(
        "C-1,OS-1,010.000.0104.00,HGZ-1,-5,31/02/2026,22/11/2026",
        "C-1,OS-2,010.000.0104.00,HGZ-1,999999999999,2026-11-02,mañana",
        "C-1,OS-3,010.000.0104.00,HGZ-1,10,2026-11-02,2026-11-22,R-1,2026-11-10,L1,"
        "2031-12-31,5,5,,123M",
        "C-1,OS-3,010.000.0104.00,HGZ-2,10,2026-11-02,2026-11-22,R-1,2026-11-11 08:00,L2,"
        "2031-12-31,0,0,,123M",
        ",OS-4,010.000.0104.00,HGZ-1,10,2026-11-02,2026-11-22",
        "C-1,OS-5,010.000.0104.00,HGZ-1,10,2026-11-02,2026-11-22,R-1,2026-11-10,L1,"
        "2031-12-31,5,1,Se rompió,123M",
    )

    with pytest.raises(ValidationFailed) as refused:
        orders_file.read(content, "ordenes.csv")

    assert problems_of(refused) == [
        (3, "Cantidad"),
        (3, "Fecha de emisión"),
        (4, "Cantidad"),
        (4, "Fecha límite"),
        (5, "Motivo de rechazo"),  # rejected pieces need a reason
        (6, "Unidad"),  # the order said HGZ-1 in row 5
        (6, "Aceptadas"),  # a lot of nothing
        (7, "Contrato"),
        (8, "Motivo de rechazo"),  # not a reason Abasto knows
    ]
    assert "no se cargó nada" in refused.value.detail
    shown = refused.value.problems
    assert (shown[0].value, shown[1].value) == ("-5", "31/02/2026")
    assert "Producto dañado" in (shown[-1].expected or "")


def test_a_file_without_the_columns_names_what_is_missing() -> None:
    with pytest.raises(ValidationFailed) as refused:
        orders_file.read(b"Contrato,Clave,Cantidad\nC-1,010.000.0104.00,5\n", "ordenes.csv")

    missing = " ".join(str(p) for p in refused.value.problems)
    for column in ("Orden", "Unidad", "Fecha de emisión", "Fecha límite"):
        assert column in missing


def test_a_delivery_s_lots_share_one_reception() -> None:
    content = csv(
        "C-1,OS-1,010.000.0104.00,HGZ-1,10,2026-11-02,2026-11-22,R-1,2026-11-10 09:00,L1,"
        "2031-12-31,5,0,,123M",
        "C-1,OS-1,010.000.0104.00,HGZ-1,10,2026-11-02,2026-11-22,R-1,2026-11-10 17:00,L2,"
        "2031-12-31,5,0,,123M",
    )

    with pytest.raises(ValidationFailed) as refused:
        orders_file.read(content, "ordenes.csv")

    assert problems_of(refused) == [(4, "Fecha de recepción")]
    assert "fila 3" in refused.value.problems[0].message


def test_the_template_reads_back_as_its_two_example_orders() -> None:
    book = orders_file.template("C-7", PARACETAMOL, "HGZ-1")

    read = orders_file.read(book, "plantilla.xlsx")

    assert [(o.contract, o.key, o.clave, o.unit, len(o.lots)) for o in read] == [
        ("C-7", "OS-0001", PARACETAMOL, "HGZ-1", 1),
        ("C-7", "OS-0002", PARACETAMOL, "HGZ-1", 0),
    ]
    assert read[0].lots[0].reason == "danado"
    sheets = openpyxl.load_workbook(io.BytesIO(book)).sheetnames
    assert sheets == ["Órdenes", "Instrucciones"]


def test_a_moment_is_read_in_mexico_city_unless_it_names_its_zone() -> None:
    at = datetime(2026, 11, 2, 16, 0, tzinfo=UTC)
    assert parse_moment(at, zone=MEXICO_CITY) == at
    assert parse_moment("02/11/2026 10:00", zone=MEXICO_CITY) == at
    assert parse_moment("2026-11-02 10:00:00", zone=MEXICO_CITY) == at
    assert parse_moment(datetime(2026, 11, 2, 10, 0), zone=MEXICO_CITY) == at
    for bad in ("2026-11-02 25:00", "02/13/2026", "ayer", "2026-11-02 10", 20261102, None):
        assert parse_moment(bad, zone=MEXICO_CITY) is None


# ----- loading -------------------------------------------------------------------------------


def vigente(world: World, fallo: Awarded, *, days: int) -> tuple[Contract, date]:
    """IMSS's contract with supplier a, vigente, and the day after it; then ``days`` pass."""
    service.create_contracts(world.buyer(), tender_id=fallo.tender.id)
    contract = signed(world, "IMSS", "a")
    world.db.flush()
    d0 = rules.local_day(world.now) + timedelta(days=1)
    world.clock.set(world.now + timedelta(days=days))
    return contract, d0


def _count(world: World, model: type) -> int:
    return int(world.db.scalar(select(func.count()).select_from(model)) or 0)


def test_an_orders_file_charges_what_the_one_by_one_path_charges(
    world: World, fallo: Awarded
) -> None:
    imss_a, d0 = vigente(world, fallo, days=41)
    due1, due2 = d0 + timedelta(days=20), d0 + timedelta(days=10)
    n = imss_a.number
    # The orders of tests/contracts/test_bulk.py (figures by hand in test_e2e.py), as a file.
    content = csv(
        f"{n},OS-1,{PARACETAMOL},HGZ-1,400,{dmy(d0)},{dmy(due1)},R-1,{dmy(due1)},L1,"
        f"31/12/2031,250,0,,{REGISTRO}",
        f"{n},OS-1,{PARACETAMOL},HGZ-1,400,{dmy(d0)},{dmy(due1)},R-1,{dmy(due1)},L2,"
        f"31/12/2031,100,50,Producto dañado,{REGISTRO}",
        f"{n},OS-1,{PARACETAMOL},HGZ-1,400,{dmy(d0)},{dmy(due1)},R-2,"
        f"{dmy(due1 + timedelta(days=4))},L3,31/12/2031,50,0,,{REGISTRO}",
        f"{n},OS-2,{ASPIRINA},UMF-7,300,{dmy(d0)},{dmy(due2)},R-9,"
        f"{dmy(due2 + timedelta(days=3))},A1,31/12/2031,200,0,,{REGISTRO}",
        f"{n},OS-2,{ASPIRINA},UMF-7,300,{dmy(d0)},{dmy(due2)},R-9,"
        f"{dmy(due2 + timedelta(days=3))},A2,31/12/2031,100,0,,{REGISTRO}",
        f"{n},OS-3,{PARACETAMOL},HGZ-1,100,{dmy(d0)},{dmy(d0 + timedelta(days=25))}",
    )

    loaded = service.import_orders(planner(world, "IMSS"), content=content, filename="os.csv")

    assert (loaded.orders, loaded.shipments, loaded.lots, loaded.penalties) == (3, 3, 5, 3)
    one, two, three = world.db.scalars(
        select(SupplyOrder).where(SupplyOrder.contract_id == imss_a.id).order_by(SupplyOrder.number)
    )
    assert (one.accepted_qty, one.on_time_qty, one.rejected_qty) == (400, 350, 50)
    assert (one.penalty, one.deductiva) == (Decimal("19.00"), Decimal("4.75"))
    assert (two.penalty, two.on_time_qty, three.status) == (
        Decimal("171.00"),
        0,
        rules.ORDER_EMITIDA,
    )
    lots = {x.lot: x for x in world.db.scalars(select(ShipmentLot))}
    assert (lots["L2"].rejected_qty, lots["L2"].reason, lots["L2"].registro_sanitario) == (
        50,
        "danado",
        REGISTRO,
    )


def test_a_refused_orders_file_writes_nothing_and_names_the_file_s_rows(
    world: World, fallo: Awarded
) -> None:
    imss_a, d0 = vigente(world, fallo, days=2)
    n = imss_a.number
    ok = f"{n},OS-1,{PARACETAMOL},HGZ-1,10,{dmy(d0)},{dmy(d0 + timedelta(days=20))}"
    above = f"{n},OS-2,{PARACETAMOL},HGZ-1,5000,{dmy(d0)},{dmy(d0 + timedelta(days=20))}"
    elsewhere = f"{n},OS-3,{PARACETAMOL},HGZ-99,10,{dmy(d0)},{dmy(d0 + timedelta(days=20))}"
    ctx = planner(world, "IMSS")

    with pytest.raises(ValidationFailed) as refused:
        service.import_orders(ctx, content=csv(ok, above, elsewhere), filename="os.csv")
    with pytest.raises(NotFound) as unknown:
        service.import_orders(
            ctx, content=csv(ok, "C-404,OS-1,x,HGZ-1,1,2026-11-02,2026-11-22"), filename="os.csv"
        )

    assert [(p.sheet, p.row, p.column) for p in refused.value.problems] == [
        ("os", 4, "Cantidad"),  # above the line's maximum
        ("os", 5, "Unidad"),  # not a delivery point of the contract
    ]
    assert [(p.row, p.column, p.value) for p in unknown.value.problems] == [
        (4, "Contrato", "C-404")
    ]
    assert _count(world, SupplyOrder) == _count(world, Penalty) == 0


def test_the_institution_imports_orders_from_the_page_and_sees_every_problem(
    client: TestClient, world: World, fallo: Awarded
) -> None:
    imss_a, d0 = vigente(world, fallo, days=2)
    row = f"{imss_a.number},OS-1,{PARACETAMOL},HGZ-1,10,{dmy(d0)},{dmy(d0 + timedelta(days=20))}"
    log_in(client, "plan.imss")

    listing = client.get("/ordenes").text
    form = client.get("/ordenes/importar").text
    template = client.get("/ordenes/importar/plantilla.xlsx")
    bad = client.post(
        "/ordenes/importar",
        files={"file": ("os.csv", csv(row.replace(",10,", ",diez,")), "text/csv")},
    )
    good = client.post("/ordenes/importar", files={"file": ("os.csv", csv(row), "text/csv")})

    assert 'href="/ordenes/importar"' in listing
    # The form posts the session's CSRF token, as a browser sends it.
    assert f'name="{CSRF_FIELD}" value="{csrf_token_of(client)}"' in form
    assert template.status_code == 200
    [example, _] = orders_file.read(template.content, "plantilla.xlsx")
    assert (example.contract, example.unit) == (imss_a.number, "HGZ-1")
    assert bad.status_code == 422
    assert "No se importó nada" in bad.text
    assert "Cantidad" in bad.text
    assert "diez" in bad.text
    assert good.status_code == 200, good.text
    assert "1 orden</strong>" in good.text
    assert _count(world, SupplyOrder) == 1


def test_a_system_posts_its_orders_file_to_the_api(
    client: TestClient, world: World, fallo: Awarded
) -> None:
    imss_a, d0 = vigente(world, fallo, days=30)
    row = (
        f"{imss_a.number},OS-1,{PARACETAMOL},HGZ-1,10,{dmy(d0)},{dmy(d0 + timedelta(days=20))},"
        f"R-1,{dmy(d0 + timedelta(days=5))},L1,31/12/2031,10,0,,{REGISTRO}"
    )
    imss, issste = as_(client, "plan.imss"), as_(client, "plan.issste")
    url = "/api/v1/orders/imports"

    elsewhere = problem(
        client.post(url, files={"file": ("os.csv", csv(row), "text/csv")}, headers=issste), 403
    )
    loaded = client.post(url, files={"file": ("os.csv", csv(row), "text/csv")}, headers=imss)

    assert "institución" in elsewhere["detail"]
    assert loaded.status_code == 201, loaded.text
    assert loaded.json() == {"contracts": 1, "orders": 1, "shipments": 1, "lots": 1, "penalties": 0}
    again = problem(
        client.post(
            url,
            files={"file": ("os.csv", csv(row.replace(",10,", ",5000,", 1)), "text/csv")},
            headers=imss,
        ),
        422,
    )
    assert [(p["row"], p["column"]) for p in again["errors"]] == [(3, "Cantidad")]
