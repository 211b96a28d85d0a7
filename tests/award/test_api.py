"""The award API: price imports, references, evaluations (JSON and sheet), fallo, drafts."""

from __future__ import annotations

import io
from collections import defaultdict
from decimal import Decimal
from typing import Any

import openpyxl
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from abasto.award import service
from abasto.award.models import Fallo, PriceObservation, TechnicalEvaluation
from abasto.core import ledger
from tests.award.test_prices import OCID, PACKAGE
from tests.award.test_service import (
    NOT_VALID,
    SIMPLE,
    by_clave,
    evaluate,
    import_references,
    opened_tender,
    price_list,
    round_tender,
)
from tests.tendering import conftest as tendering_world
from tests.tendering.conftest import ASPIRINA, NICOTINA, PARACETAMOL, PARTIES, World
from tests.tendering.test_api import as_, problem, tenders_url

world = tendering_world.world
cheap_passwords = tendering_world.cheap_passwords

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
IMPORTS = "/api/v1/prices/imports"


def upload(name: str, content: bytes, kind: str = "text/csv") -> dict[str, Any]:
    return {"file": (name, io.BytesIO(content), kind)}


def count(world: World, table: type[Any]) -> int:
    return world.db.scalar(select(func.count()).select_from(table)) or 0


# ----- prices and references -----------------------------------------------------------------


def test_the_buyer_imports_prices_and_anyone_reads_the_references(
    client: TestClient, world: World
) -> None:
    opened = opened_tender(world, SIMPLE)
    buyer = as_(client, "comprador")

    ocds = client.post(
        IMPORTS,
        params=[("rate", "GBP=23.05"), ("map", f"CPV:45233130.0={PARACETAMOL}")],
        files=upload(PACKAGE.name, PACKAGE.read_bytes(), "application/json"),
        headers=buyer,
    )
    listed = client.post(
        IMPORTS,
        files=upload("lista.csv", price_list({PARACETAMOL: "10.00", ASPIRINA: "20.00"})),
        headers=buyer,
    )

    assert ocds.status_code == 201, ocds.text
    body = ocds.json()
    assert (body["kind"], body["prices"], body["claves"], body["releases"]) == ("ocds", 1, 1, 6)
    assert listed.status_code == 201, listed.text
    assert listed.json()["kind"] == "lista"
    references = client.get(tenders_url(opened.tender, "/references"))
    assert references.status_code == 200, references.text
    found = {r["clave"]: r for r in references.json()}
    assert set(found) == {PARACETAMOL, ASPIRINA}
    paracetamol = found[PARACETAMOL]
    assert (paracetamol["method"], Decimal(paracetamol["price"])) == (
        "mediana",
        (Decimal("10.00") + Decimal("3157850.00")) / 2,
    )
    assert [(s["kind"], s["source"], s["currency"]) for s in paracetamol["sources"]] == [
        ("ocds", OCID, "GBP"),
        ("lista", "Investigación de mercado", "MXN"),
    ]


def test_bad_price_imports_are_422_and_write_nothing(client: TestClient, world: World) -> None:
    buyer = as_(client, "comprador")
    head = ledger.head(world.db)

    no_rate = client.post(
        IMPORTS,
        params={"map": f"CPV:45233130.0={PARACETAMOL}"},
        files=upload(PACKAGE.name, PACKAGE.read_bytes(), "application/json"),
        headers=buyer,
    )
    bad_rate = client.post(
        IMPORTS, params={"rate": "GBP=mucho"}, files=upload("l.csv", b"x"), headers=buyer
    )
    unknown = client.post(
        IMPORTS, files=upload("l.csv", price_list({"010.000.9999.00": "1.00"})), headers=buyer
    )

    assert problem(no_rate, 422)["errors"][0]["value"] == "GBP"
    assert problem(bad_rate, 422)["errors"][0]["value"] == "GBP=mucho"
    assert problem(unknown, 422)["errors"][0]["value"] == "010.000.9999.00"
    assert ledger.head(world.db) == head
    assert count(world, PriceObservation) == 0


def test_only_the_buyer_imports_prices(client: TestClient, world: World) -> None:
    file = upload("lista.csv", price_list({PARACETAMOL: "1.00"}))

    assert problem(client.post(IMPORTS, files=file), 401)
    for who in ("evaluador", "auditor", "a"):
        assert problem(client.post(IMPORTS, files=file, headers=as_(client, who)), 403)
    assert count(world, PriceObservation) == 0


# ----- evaluations ---------------------------------------------------------------------------


def test_verdicts_by_json_then_the_sheet_round_trip(client: TestClient, world: World) -> None:
    opened = opened_tender(world, SIMPLE)
    url = tenders_url(opened.tender, "/evaluations")
    evaluador = as_(client, "evaluador")
    bid = opened.bids["a"]

    assert client.get(url, headers=evaluador).json() == {"evaluated_lines": 0, "lines": 4}
    verdicts = [
        {"bid_id": bid, "partida": 1, "requirement": r, "complies": True, "reason": "revisado"}
        for r in service.REQUIREMENTS
    ]
    one = client.post(url, json=verdicts, headers=evaluador)
    assert one.status_code == 200, one.text
    assert one.json() == {"evaluated_lines": 1, "lines": 4, "new": 4, "changed": 0, "unchanged": 0}
    bad = client.post(url, json=[{**verdicts[0], "requirement": "color"}], headers=evaluador)
    assert problem(bad, 422)["errors"][0]["value"] == "color"

    template = client.get(f"{url}/template.xlsx", headers=evaluador)
    assert template.status_code == 200, template.text
    assert template.headers["content-type"] == XLSX
    workbook = openpyxl.load_workbook(io.BytesIO(template.content))
    sheet = workbook.active
    assert sheet is not None
    header = [cell.value for cell in next(sheet.iter_rows(max_row=1))]
    at = {name: header.index(name) for name in ("Proposición", "Partida", "Requisito")}
    cumple, motivo = header.index("Cumple"), header.index("Motivo")
    rows = list(sheet.iter_rows(min_row=2))
    assert len(rows) == 4 * len(service.REQUIREMENTS)
    for row in rows:
        key = tuple(row[at[name]].value for name in ("Proposición", "Partida", "Requisito"))
        if key == (bid, 2, "registro_sanitario"):
            row[cumple].value, row[motivo].value = "No", NOT_VALID
        elif row[cumple].value is None:
            row[cumple].value, row[motivo].value = "Sí", "revisado"
    filled = io.BytesIO()
    workbook.save(filled)
    sent = client.post(
        f"{url}/sheet",
        files=upload("evaluacion.xlsx", filled.getvalue(), XLSX),
        headers=evaluador,
    )

    assert sent.status_code == 200, sent.text
    assert sent.json() == {
        "evaluated_lines": 4,
        "lines": 4,
        "new": 12,
        "changed": 0,
        "unchanged": 4,
    }
    assert client.get(url, headers=as_(client, "auditor")).json()["evaluated_lines"] == 4
    failing = {k: v for k, v in service.compliance(world.db, opened.tender.id).items() if not v[0]}
    assert failing == {(bid, 2): (False, [f"Registro sanitario vigente: {NOT_VALID}"])}


def test_a_sheet_with_a_bad_row_is_a_422_and_records_nothing(
    client: TestClient, world: World
) -> None:
    opened = opened_tender(world, SIMPLE)
    url = tenders_url(opened.tender, "/evaluations/sheet")
    content = (
        f"Proposición,Partida,Requisito,Cumple,Motivo\n{opened.bids['a']},1,fabricante,Tal vez,x\n"
    )

    response = client.post(
        url, files=upload("evaluacion.csv", content.encode()), headers=as_(client, "evaluador")
    )

    assert problem(response, 422)["errors"][0]["column"] == "Cumple"
    assert count(world, TechnicalEvaluation) == 0


def test_a_sheet_or_a_post_that_changes_recorded_verdicts_is_a_409_until_confirmed(
    client: TestClient, world: World
) -> None:
    opened = opened_tender(world, SIMPLE)
    evaluate(world, opened, failing=[("a", 2)])
    url = tenders_url(opened.tender, "/evaluations")
    evaluador = as_(client, "evaluador")
    bid = opened.bids["a"]
    template = client.get(f"{url}/template.xlsx", headers=evaluador)
    workbook = openpyxl.load_workbook(io.BytesIO(template.content))
    sheet = workbook.active
    assert sheet is not None
    header = [cell.value for cell in next(sheet.iter_rows(max_row=1))]
    turned_row = 0
    for row in sheet.iter_rows(min_row=2):
        values = {name: cell.value for name, cell in zip(header, row, strict=True)}
        if (values["Proposición"], values["Partida"], values["Requisito"]) == (
            bid,
            2,
            "registro_sanitario",
        ):
            # What the evaluator recorded comes back as recorded, not as the proposal's «Sí».
            assert (values["Cumple"], values["Motivo"]) == ("No", NOT_VALID)
            row[header.index("Cumple")].value = "Sí"
            row[header.index("Motivo")].value = "Lo revisé: está vigente."
            turned_row = row[0].row
    filled = io.BytesIO()
    workbook.save(filled)
    head = ledger.head(world.db)

    refused = client.post(
        f"{url}/sheet", files=upload("evaluacion.xlsx", filled.getvalue(), XLSX), headers=evaluador
    )
    posted = client.post(
        url,
        json=[
            {"bid_id": bid, "partida": 1, "requirement": "fabricante", "complies": False,
             "reason": "Sin certificado."},
        ],
        headers=evaluador,
    )  # fmt: skip

    body = problem(refused, 409)
    assert [(e["row"], e["value"]) for e in body["errors"]] == [
        (turned_row, "Cumple: Lo revisé: está vigente.")
    ]
    assert NOT_VALID in body["errors"][0]["expected"]
    assert problem(posted, 409)["errors"][0]["field"] == "evaluations[0]"
    assert ledger.head(world.db) == head
    assert not service.compliance(world.db, opened.tender.id)[(bid, 2)][0]

    confirmed = client.post(
        f"{url}/sheet",
        params={"confirm": "true"},
        files=upload("evaluacion.xlsx", filled.getvalue(), XLSX),
        headers=evaluador,
    )

    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["changed"] == 1
    assert service.compliance(world.db, opened.tender.id)[(bid, 2)] == (True, [])
    changes = world.entries(opened.tender, "evaluation.change")
    assert [(e.data()["before"]["complies"], e.data()["after"]["complies"]) for e in changes] == [
        (False, True)
    ]


def test_only_the_evaluator_records_and_staff_read_evaluations(
    client: TestClient, world: World
) -> None:
    opened = opened_tender(world, SIMPLE)
    url = tenders_url(opened.tender, "/evaluations")
    sheet = upload("evaluacion.xlsx", service.evaluation_sheet(world.db, opened.tender.id), XLSX)

    assert problem(client.get(url), 401)
    assert problem(client.get(f"{url}/template.xlsx"), 401)
    assert problem(client.post(url, json=[]), 401)
    assert problem(client.get(url, headers=as_(client, "a")), 403)
    assert problem(client.get(f"{url}/template.xlsx", headers=as_(client, "b")), 403)
    for who in ("comprador", "auditor", "a"):
        assert problem(client.post(url, json=[], headers=as_(client, who)), 403)
        assert problem(client.post(f"{url}/sheet", files=sheet, headers=as_(client, who)), 403)
    assert count(world, TechnicalEvaluation) == 0


# ----- the fallo and the contract drafts -----------------------------------------------------


def test_the_buyer_issues_the_fallo_and_anyone_reads_it_and_its_drafts(
    client: TestClient, world: World
) -> None:
    draft = round_tender(world)
    offers = {
        "a": by_clave(world.db, draft, {PARACETAMOL: "9.50", ASPIRINA: ("19.00", 300)}),
        "b": by_clave(world.db, draft, {PARACETAMOL: "10.00", NICOTINA: "48.00"}),
        "c": by_clave(world.db, draft, {ASPIRINA: "19.50"}),
    }
    opened = opened_tender(world, offers, draft=draft)
    import_references(world)
    evaluate(world, opened)
    fallo_url = tenders_url(draft, "/fallo")
    buyer = as_(client, "comprador")

    assert problem(client.get(fallo_url), 404)
    assert problem(client.get(tenders_url(draft, "/contract-drafts")), 404)
    assert problem(client.post(fallo_url, json={"mode": "split"}), 401)
    for who in ("evaluador", "auditor", "a"):
        assert problem(
            client.post(fallo_url, json={"mode": "split"}, headers=as_(client, who)), 403
        )
    bogus = client.post(fallo_url, json={"mode": "sorteo"}, headers=buyer)
    assert problem(bogus, 422)["errors"][0]["value"] == "sorteo"
    assert count(world, Fallo) == 0

    preview = client.get(tenders_url(draft, "/fallo/preview"), headers=buyer)
    assert preview.status_code == 200, preview.text
    modes = {m["mode"]: m for m in preview.json()["modes"]}
    assert set(modes) == {"lowest", "split", "optimal"}
    split = modes["split"]
    assert Decimal(split["savings_vs_reference"]) == Decimal(split["reference_total"]) - Decimal(
        split["total"]
    )
    explained = {a["quantity"]: a["explanation"] for a in split["allocations"]}
    assert explained[700].startswith("Adjudicadas 700 piezas: abastecimiento simultáneo")
    assert sum(s["contracts"] for s in split["suppliers"]) == split["contracts"] > 0
    # The lowest price gives all of paracetamol to a; the split shares it: a difference.
    assert preview.json()["differences"]
    assert count(world, Fallo) == 0  # a preview stores nothing

    issued = client.post(fallo_url, json={"mode": "split"}, headers=buyer)

    assert issued.status_code == 201, issued.text
    assert Decimal(issued.json()["total"]) == Decimal(split["total"])
    fallo = issued.json()
    assert (fallo["mode"], fallo["status"], fallo["tender_id"]) == ("split", "rule", draft.id)
    assert Decimal(fallo["savings_vs_reference"]) == Decimal(fallo["reference_total"]) - Decimal(
        fallo["total"]
    )
    assert [p["status"] for p in fallo["partidas"]] == ["adjudicada"] * 3
    rfc = {PARTIES[key].rfc: key for key in PARTIES}
    winners = {(w["partida"], rfc[w["supplier_rfc"]]): w["quantity"] for w in fallo["winners"]}
    number = {c: n for n, c in enumerate(sorted((PARACETAMOL, ASPIRINA, NICOTINA)), start=1)}
    assert winners == {
        (number[PARACETAMOL], "a"): 1_051,
        (number[PARACETAMOL], "b"): 700,
        (number[ASPIRINA], "a"): 282,
        (number[ASPIRINA], "c"): 188,
        (number[NICOTINA], "b"): 60,
    }
    assert {o["outcome"] for o in fallo["outcomes"]} == {"adjudicada"}
    assert client.get(fallo_url).json() == fallo

    drafts = client.get(tenders_url(draft, "/contract-drafts"))
    assert drafts.status_code == 200, drafts.text
    partida_numbers = {p.id: p.number for p in draft.partidas}
    summed: dict[tuple[int, str], int] = defaultdict(int)
    for row in drafts.json():
        summed[(partida_numbers[row["partida_id"]], rfc[row["supplier_rfc"]])] += row["max_qty"]
        assert row["institution"] in ("IMSS", "ISSSTE", "SEDENA")
    assert summed == winners

    again = client.post(fallo_url, json={"mode": "optimal"}, headers=buyer)
    assert "ya tiene fallo" in problem(again, 409)["detail"]


def test_a_fallo_refused_by_the_service_is_a_409_and_writes_nothing(
    client: TestClient, world: World
) -> None:
    opened = opened_tender(world, SIMPLE)
    import_references(world)
    buyer = as_(client, "comprador")
    head = ledger.head(world.db)

    response = client.post(tenders_url(opened.tender, "/fallo"), json={}, headers=buyer)
    preview = client.get(tenders_url(opened.tender, "/fallo/preview"), headers=buyer)

    assert "Faltan evaluaciones técnicas" in problem(response, 409)["detail"]
    assert "Faltan evaluaciones técnicas" in problem(preview, 409)["detail"]
    assert ledger.head(world.db) == head
    assert count(world, Fallo) == 0
