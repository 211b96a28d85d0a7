"""The contracts API: formalising, signing, guarantee, orders (409 with the figures above the
maximum), shipments, receipts, penalties, the orders' CSV and the public fill rate; scope."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

from fastapi.testclient import TestClient

from abasto.contracts import rules, service
from tests.contracts.factories import FAR, Awarded, contract_of, signed
from tests.tendering.conftest import ASPIRINA, PARACETAMOL, World
from tests.tendering.test_api import as_, problem


def test_the_contract_s_life_through_the_api(
    client: TestClient, world: World, fallo: Awarded
) -> None:
    buyer, imss, issste, a, b = (
        as_(client, k) for k in ("comprador", "plan.imss", "plan.issste", "a", "b")
    )
    made = client.post(f"/api/v1/tenders/{fallo.tender.id}/contracts", json={}, headers=buyer)
    assert made.status_code == 201, made.text
    assert len(made.json()) == 5
    contract = contract_of(world, "IMSS", "a")
    url = f"/api/v1/contracts/{contract.id}"

    # Each party sees its own contracts only.
    assert {c["number"] for c in client.get("/api/v1/contracts", headers=imss).json()} == {
        c["number"] for c in made.json() if c["institution_id"] == contract.institution_id
    }
    problem(client.get(url, headers=issste), 403)
    problem(client.get(url, headers=b), 403)
    pdf = client.get(f"{url}/document.pdf", headers=a)
    assert pdf.content.startswith(b"%PDF")

    problem(client.post(f"{url}/signatures", json={"party": "institucion"}, headers=issste), 403)
    signed = client.post(f"{url}/signatures", json={"party": "institucion"}, headers=imss)
    assert signed.json()["status"] == rules.FIRMADO_INSTITUCION
    signed = client.post(f"{url}/signatures", json={"party": "proveedor"}, headers=a)
    assert signed.json()["status"] == rules.FIRMADO_PROVEEDOR
    body = {"issuer": "Afianzadora Sofimex", "document": "Póliza 77"}
    vigente = client.post(f"{url}/guarantee", json=body, headers=a)
    assert vigente.json()["status"] == rules.VIGENTE
    assert vigente.json()["document_sha256"] == signed.json()["document_sha256"]

    order = {"clave": ASPIRINA, "quantity": 301, "unit": "HGZ-1"}
    over = problem(client.post(f"{url}/orders", json=order, headers=imss), 409)
    assert "quedan 300" in over["errors"][0]["message"]
    problem(client.post(f"{url}/orders", json=order, headers=issste), 403)
    order = {"clave": PARACETAMOL, "quantity": 100, "unit": "HGZ-1"}
    issued = client.post(f"{url}/orders", json=order, headers=imss)
    assert issued.status_code == 201, issued.text
    order_id = issued.json()["id"]
    problem(client.post(f"/api/v1/orders/{order_id}/confirmation", headers=b), 403)
    confirmed = client.post(f"/api/v1/orders/{order_id}/confirmation", headers=a)
    assert confirmed.json()["status"] == rules.ORDER_CONFIRMADA
    lot = {"lot": "L1", "expiry": FAR.isoformat(), "quantity": 100, "registro_sanitario": "R1"}
    shipped = client.post(f"/api/v1/orders/{order_id}/shipments", json={"lots": [lot]}, headers=a)
    assert shipped.status_code == 201, shipped.text
    shipment_id = shipped.json()["id"]

    # Received two days late with 10 damaged: pena 90 × 9.50 × 1 % × 2 = 17.10,
    # deductiva 10 × 9.50 × 1 % = 0.95.
    world.clock.advance(timedelta(days=rules.DELIVERY_DAYS + 2))
    receipt = {"lots": [{"lot": "L1", "accepted": 90, "rejected": 10, "reason": "danado"}]}
    problem(client.post(f"/api/v1/shipments/{shipment_id}/receipt", json=receipt, headers=a), 403)
    received = client.post(f"/api/v1/shipments/{shipment_id}/receipt", json=receipt, headers=imss)
    assert received.status_code == 200, received.text
    assert len(received.json()["receipt_sha256"]) == 64
    penalties = client.get(f"{url}/penalties", headers=a).json()
    assert [(p["kind"], Decimal(p["amount"])) for p in penalties] == [
        ("pena", Decimal("17.10")),
        ("deductiva", Decimal("0.95")),
    ]

    # The 10 rejected never replaced: closed short, a deductiva of 10 × 9.50 × 1 % = 0.95 more.
    problem(client.post(f"/api/v1/orders/{order_id}/closure", json={"reason": "x"}, headers=a), 403)
    closed = client.post(
        f"/api/v1/orders/{order_id}/closure", json={"reason": "Faltante"}, headers=imss
    )
    assert closed.json()["status"] == rules.ORDER_CERRADA
    assert Decimal(closed.json()["deductiva"]) == Decimal("1.90")

    rows = list(
        csv.reader(
            io.StringIO(client.get("/api/v1/orders.csv", headers=a).content.decode("utf-8-sig"))
        )
    )
    assert rows[0][0] == "Contrato"
    assert [r[2] for r in rows[1:]] == [PARACETAMOL]
    assert client.get("/api/v1/orders", headers=b).json() == []

    fill = client.get("/api/v1/fill-rate", params={"by": ["supplier", "clave"]}).json()
    assert fill == [
        {
            "key": {"supplier": world.suppliers["a"].rfc, "clave": PARACETAMOL},
            "ordered_due": 100,
            "on_time_accepted": 0,
            "rate": "0",
        }
    ]
    problem(client.get("/api/v1/fill-rate", params={"by": "color"}), 422)
    page = client.get("/surtimiento", params={"by": "clave"})
    assert page.status_code == 200
    assert f'data-key="{PARACETAMOL}"' in page.text
    assert 'data-rate="0"' in page.text
    sheet = client.get("/api/v1/fill-rate.csv", params={"by": "clave"}).content.decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(sheet)))[1] == [PARACETAMOL, "100", "0", "0.0000"]
    # The supplier's public record shows it too (issue 16: «each supplier's public record»).
    record = client.get(f"/proveedores/{world.suppliers['a'].rfc}")
    assert 'data-fill="0"' in record.text
    assert "0 de 100 piezas ordenadas entregadas a tiempo y aceptadas" in record.text
    summary = client.get(f"/api/v1/suppliers/{world.suppliers['a'].rfc}/summary").json()
    assert [(m["ordered_due"], m["on_time_accepted"]) for m in summary["fill_months"]] == [(100, 0)]
    untouched = client.get(f"/proveedores/{world.suppliers['b'].rfc}")
    assert "0 de 0 piezas ordenadas" in untouched.text
    assert 'data-fill=""' in untouched.text


def test_a_convenio_beyond_the_cap_is_refused_with_the_figures(
    client: TestClient, world: World, fallo: Awarded
) -> None:
    service.create_contracts(world.buyer(), tender_id=fallo.tender.id)
    contract = signed(world, "IMSS", "a")
    refused = problem(
        client.post(
            f"/api/v1/contracts/{contract.id}/convenios",
            json={"reason": "Más consumo", "max_qty": {ASPIRINA: 361}},
            headers=as_(client, "plan.imss"),
        ),
        422,
    )
    assert refused["errors"][0]["expected"] == "a lo más 360"
