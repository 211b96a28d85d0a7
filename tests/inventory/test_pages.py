"""The warehouse pages as staff use them (forms, errors, scope) and the public dashboard."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from abasto.core.context import Context
from abasto.inventory import service
from tests.conftest import PASSWORD, make_user
from tests.inventory.factories import EXPIRES, PARACETAMOL, SOON, build_sector, give, stock, unit

PAGE = "/inventario/IMSS/HGZ-1"


def log_in(client: TestClient, username: str) -> None:
    response = client.post(
        "/entrar", data={"username": username, "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 303, response.text


@pytest.fixture
def warehouse(ctx: Context, client: TestClient) -> Context:
    build_sector(ctx)
    stock(ctx, unit(ctx), PARACETAMOL, ("A", EXPIRES, 10), ("B", SOON, 5))
    make_user(ctx, "almacen", "institucion", institution="IMSS")
    make_user(ctx, "ajena", "institucion", institution="ISSSTE")
    ctx.db.commit()
    log_in(client, "almacen")
    return ctx


def _on_hand(html: str) -> int:
    found = re.search(r'class="num on-hand">([\d,]+)<', html)
    assert found, "no stock row on the page"
    return int(found.group(1).replace(",", ""))


def test_the_unit_page_shows_stock_and_the_forms_with_csrf(
    client: TestClient, warehouse: Context
) -> None:
    page = client.get(PAGE)
    assert page.status_code == 200
    assert _on_hand(page.text) == 15
    assert 'name="viewport"' in page.text
    assert page.text.count('name="csrf_token"') >= 4
    assert "Registrar dispensación" in page.text


def test_dispensing_from_the_page_redirects_and_takes_the_first_to_expire(
    client: TestClient, warehouse: Context
) -> None:
    done = client.post(
        PAGE + "/dispensar", data={"clave": PARACETAMOL, "quantity": "6"}, follow_redirects=False
    )
    assert done.status_code == 303
    assert done.headers["location"] == PAGE + "?hecho=dispensado"
    page = client.get(done.headers["location"])
    assert "Dispensación registrada." in page.text
    assert _on_hand(page.text) == 9
    lots = service.unit_stock(warehouse.db, unit(warehouse))[0].lots
    assert [(x.lot, x.quantity) for x in lots] == [("A", 9)]


def test_a_refused_dispensing_shows_why_keeps_the_form_and_changes_nothing(
    client: TestClient, warehouse: Context
) -> None:
    refused = client.post(PAGE + "/dispensar", data={"clave": PARACETAMOL, "quantity": "99"})
    assert refused.status_code == 409
    assert "No hay existencia suficiente" in refused.text
    assert 'value="99"' in refused.text
    assert _on_hand(client.get(PAGE).text) == 15
    bad = client.post(PAGE + "/dispensar", data={"clave": PARACETAMOL, "quantity": "1e9"})
    assert bad.status_code == 422


def test_a_count_from_its_page_posts_the_differences(
    client: TestClient, warehouse: Context
) -> None:
    form = client.get(PAGE + "/contar", params={"clave": PARACETAMOL})
    assert form.status_code == 200
    assert form.text.count('data-lot="') == 2
    done = client.post(
        PAGE + "/contar",
        data={
            "clave": PARACETAMOL,
            "lot": ["B", "A", "N"],
            "expiry": [SOON.isoformat(), EXPIRES.isoformat(), "2028-02-29"],
            "quantity": ["5", "7", "2"],
        },
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    lots = service.unit_stock(warehouse.db, unit(warehouse))[0].lots
    assert sorted((x.lot, x.quantity) for x in lots) == [("A", 7), ("B", 5), ("N", 2)]


def test_a_transfer_is_created_issued_and_received_from_the_pages(
    client: TestClient, warehouse: Context
) -> None:
    created = client.post(
        PAGE + "/transferir",
        data={"to_unit": "IMSS/UMF-2", "clave": PARACETAMOL, "quantity": "4"},
        follow_redirects=False,
    )
    assert created.status_code == 303
    [transfer] = service.unit_transfers(warehouse.db, unit(warehouse))
    issued = client.post(f"{PAGE}/transferencias/{transfer.id}/emitir", follow_redirects=False)
    assert issued.status_code == 303
    received = client.post(
        f"/inventario/IMSS/UMF-2/transferencias/{transfer.id}/recibir", follow_redirects=False
    )
    assert received.status_code == 303
    assert _on_hand(client.get("/inventario/IMSS/UMF-2").text) == 4


def test_staff_of_another_institution_is_refused(client: TestClient, warehouse: Context) -> None:
    client.cookies.clear()
    log_in(client, "ajena")
    assert client.get(PAGE).status_code == 403
    refused = client.post(PAGE + "/dispensar", data={"clave": PARACETAMOL, "quantity": "1"})
    assert refused.status_code == 403
    assert _on_hand_of(warehouse) == 15


def _on_hand_of(ctx: Context) -> int:
    return service.unit_stock(ctx.db, unit(ctx))[0].on_hand


def test_the_public_dashboard_reads_the_stored_snapshot(
    client: TestClient, warehouse: Context
) -> None:
    assert "Aún no se han calculado" in client.get("/abasto").text
    give(warehouse, unit(warehouse), PARACETAMOL, 15)
    stock(warehouse, unit(warehouse, code="UMF-2"), PARACETAMOL, ("C", EXPIRES, 3))
    service.snapshot(warehouse)
    warehouse.db.commit()
    page = client.get("/abasto")
    assert page.status_code == 200
    assert 'id="abasto-nacional">50 %<' in page.text
    assert "<title>Ciudad de México: 0 %</title>" in page.text
    assert "<title>México: 100 %</title>" in page.text
    desabasto = page.text.split('id="desabasto"')[1]
    assert PARACETAMOL in desabasto
    # Drill-down: the institution's units, then one unit's claves.
    imss = client.get("/abasto/IMSS").text.split('id="unidades"')[1]
    assert 'href="/abasto/IMSS/HGZ-1"' in imss
    rows = imss.split("<tr>")
    hgz_row = next(r for r in rows if "HGZ-1</a>" in r)
    umf_row = next(r for r in rows if "UMF-2</a>" in r)
    assert '<td class="num">0 %</td>' in hgz_row
    assert '<td class="num">100 %</td>' in umf_row
    unit_page = client.get("/abasto/IMSS/HGZ-1")
    assert unit_page.status_code == 200
    assert "Desabasto" in unit_page.text.split('id="claves"')[1]


def test_the_buyer_runs_a_redistribution_from_the_transfers_page(
    client: TestClient, warehouse: Context
) -> None:
    make_user(warehouse, "comprador", "comprador")
    warehouse.db.commit()
    assert "Sugerir una redistribución" not in client.get("/inventario/transferencias").text
    client.cookies.clear()
    log_in(client, "comprador")
    page = client.post("/inventario/transferencias", data={"clave": PARACETAMOL})
    assert page.status_code == 200
    assert f"Redistribución de {PARACETAMOL}: 0 transferencias sugeridas" in page.text
    refused = client.post("/inventario/transferencias", data={"clave": "999.999.9999.99"})
    assert refused.status_code == 422
