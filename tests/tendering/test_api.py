"""The tendering API: tenders, questions, sealed bids (JSON and sheet), the live feed."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select

from abasto.core.ledger import LedgerEntry
from abasto.identity.rules import make_rfc
from abasto.tendering import rules, service
from abasto.tendering.live import feed_entity
from abasto.tendering.models import Tender
from tests.conftest import PASSWORD, bearer
from tests.tendering.conftest import (
    PARTIDAS,
    PARTIES,
    SANCTION_FILE_NUMBER,
    SECOND,
    Plan,
    World,
    fill_template,
    plan_for,
    seal_poison,
)

PROBLEM = "application/problem+json"
JSON_TYPE = {"Content-Type": "application/json"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def tenders_url(tender: Tender | int, rest: str = "") -> str:
    tender_id = tender if isinstance(tender, int) else tender.id
    return f"/api/v1/tenders/{tender_id}{rest}"


def bid_body(*prices: tuple[int, str]) -> dict[str, Any]:
    return {
        "lines": [
            {
                "partida": partida,
                "unit_price": price,
                "quantity": 50,
                "presentation": "Caja con 10 tabletas",
                "registro_sanitario": "123M2015 SSA",
                "manufacturer": "Fabricante Genérico",
                "country": "México",
            }
            for partida, price in prices
        ]
    }


def as_(client: TestClient, key: str) -> dict[str, str]:
    """Headers of a fresh token of the supplier's user (or a staff user by name)."""
    return bearer(client, PARTIES[key].username if key in PARTIES else key)


def problem(response: Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def events(response: Response) -> list[tuple[int, str]]:
    """(id, event) of each Server-Sent Event in the body."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return [
        (int(seq), action)
        for seq, action in re.findall(r"^id: (\d+)\nevent: ([\w.]+)\n", response.text, re.M)
    ]


# ----- tenders -------------------------------------------------------------------------------


def test_the_buyer_creates_and_publishes_a_tender(client: TestClient, world: World) -> None:
    buyer = as_(client, "comprador")
    plan = plan_for("invitacion", world.now)
    body: dict[str, Any] = {
        "title": "Invitación para medicamentos del primer nivel",
        "procedure": "invitacion",
        "partidas": [{"clave": c, "min_qty": lo, "max_qty": hi} for c, lo, hi in PARTIDAS],
        "invited": [PARTIES[k].rfc for k in ("a", "b", "c")],
        **{name: getattr(plan, name).isoformat() for name in rules.MILESTONES},
    }

    created = client.post("/api/v1/tenders", json=body, headers=buyer)
    assert created.status_code == 201, created.text
    draft = created.json()
    assert (draft["status"], draft["partidas"], draft["bids"], draft["version"]) == (
        "draft",
        3,
        0,
        1,
    )
    assert draft["procedure_label"] == "Invitación a cuando menos tres personas"
    assert client.get(tenders_url(draft["id"])).status_code == 404  # not yet to the public

    published = client.post(
        tenders_url(draft["id"], "/publish"), json={"version": 1}, headers=buyer
    )
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "clarifications"
    assert published.json()["timeline"]["published_at"] is not None
    public = client.get(tenders_url(draft["id"]))
    assert public.status_code == 200
    assert public.json()["status_label"] == "Junta de aclaraciones"
    partidas = client.get(tenders_url(draft["id"], "/partidas")).json()
    assert [(p["number"], p["clave"], p["max_qty"]) for p in partidas] == [
        (n, c, hi) for n, (c, _, hi) in enumerate(PARTIDAS, start=1)
    ]
    listed = client.get("/api/v1/tenders", params={"status": "clarifications"}).json()
    assert [t["id"] for t in listed["items"]] == [draft["id"]]
    template = client.get(tenders_url(draft["id"], "/template.xlsx"))
    assert template.headers["content-type"] == XLSX
    assert "plantilla.xlsx" in template.headers["content-disposition"]


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"split_shares": [60, 30]}, "parameters.split_shares"),
        ({"split_margin": "0.11"}, "parameters.split_margin"),
    ],
)
def test_award_terms_the_fallo_could_not_apply_are_refused_at_creation(
    client: TestClient, world: World, terms: dict[str, Any], field: str
) -> None:
    plan = plan_for("licitacion_nacional", world.now)
    body: dict[str, Any] = {
        "title": "Licitación con condiciones de adjudicación",
        "procedure": "licitacion_nacional",
        "partidas": [{"clave": c, "min_qty": lo, "max_qty": hi} for c, lo, hi in PARTIDAS],
        **{name: getattr(plan, name).isoformat() for name in rules.MILESTONES},
    }
    refused = client.post(
        "/api/v1/tenders", json={**body, "award": terms}, headers=as_(client, "comprador")
    )
    assert refused.status_code == 422, refused.text
    assert [p["field"] for p in refused.json()["errors"]] == [field]

    good = {"split_shares": [50, 30, 20], "max_supplier_share": "0.15", "critical_partidas": [1]}
    created = client.post(
        "/api/v1/tenders", json={**body, "award": good}, headers=as_(client, "comprador")
    )
    assert created.status_code == 201, created.text
    assert created.json()["award"] == {
        "split_shares": ["50", "30", "20"],
        "max_supplier_share": "0.15",
        "critical_partidas": [1],
    }


def test_a_stale_version_is_a_409(client: TestClient, world: World) -> None:
    draft = world.tender(publish=False)
    body = problem(
        client.post(
            tenders_url(draft, "/publish"), json={"version": 7}, headers=as_(client, "comprador")
        ),
        409,
    )
    assert body["errors"][0]["field"] == "version"


def test_periods_too_short_are_a_422_naming_each_field(client: TestClient, world: World) -> None:
    plan = plan_for("licitacion_nacional", world.now)
    draft = world.tender(
        plan=Plan(
            world.now + timedelta(days=1),
            world.now + timedelta(days=2),
            plan.opening_at,
            plan.fallo_at,
        ),
        publish=False,
    )
    body = problem(
        client.post(tenders_url(draft, "/publish"), json={}, headers=as_(client, "comprador")),
        422,
    )
    assert {e["field"] for e in body["errors"]} == {"bid_deadline", "clarification_deadline"}


def test_instants_and_quantities_beyond_range_are_a_422(client: TestClient, world: World) -> None:
    """A fallo at 9999-12-31T23:59:59Z and 3,000,000,000 pieces were 500s: the periods'
    arithmetic overflowed, and the 32-bit column refused the quantity."""
    plan = plan_for("licitacion_nacional", world.now)
    body: dict[str, Any] = {
        "title": "Fuera de rango",
        "procedure": "licitacion_nacional",
        "partidas": [{"clave": PARTIDAS[0][0], "min_qty": 1, "max_qty": 3_000_000_000}],
        **{name: getattr(plan, name).isoformat() for name in rules.MILESTONES},
        "fallo_at": "9999-12-31T23:59:59Z",
    }

    refused = problem(
        client.post("/api/v1/tenders", json=body, headers=as_(client, "comprador")), 422
    )

    assert {e["field"] for e in refused["errors"]} == {"partidas.0.max_qty", "fallo_at"}


# ----- authorization -------------------------------------------------------------------------


def test_who_may_do_what(client: TestClient, world: World) -> None:
    tender = world.tender()
    create = {"title": "x", "procedure": "licitacion_nacional"}
    anonymous = client.post(tenders_url(tender, "/bids"), json=bid_body((1, "10.00")))
    assert problem(anonymous, 401)
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert problem(client.get(tenders_url(tender, "/bids/mine")), 401)
    buyer, supplier = as_(client, "comprador"), as_(client, "a")
    for role in (buyer, as_(client, "auditor"), as_(client, "evaluador")):
        assert problem(
            client.post(tenders_url(tender, "/bids"), json=bid_body((1, "10.00")), headers=role),
            403,
        )
    assert problem(client.get(tenders_url(tender, "/bids/mine"), headers=buyer), 403)
    # Bids are admitted inside their one trip to the threadpool; still, a request without
    # credentials is refused before its body is read, and a bad token is a 401 (once the body
    # has been parsed).
    bad_token = {"Authorization": "Bearer no-es-un-token"}
    for method, rest in (("POST", "/bids"), ("PUT", "/bids/x"), ("DELETE", "/bids/x")):
        url = tenders_url(tender, rest)
        garbled = client.request(method, url, content=b"{no es JSON", headers=JSON_TYPE)
        assert problem(garbled, 401)["detail"] == "Inicie sesión para continuar."
        body = None if method == "DELETE" else bid_body((1, "10.00"))
        refused = client.request(method, url, headers=bad_token, json=body)
        assert "token" in problem(refused, 401)["detail"]
    assert problem(client.delete(tenders_url(tender, "/bids/x"), headers=buyer), 403)
    assert problem(client.post("/api/v1/tenders", json=create, headers=supplier), 403)
    assert problem(client.post(tenders_url(tender, "/opening"), headers=supplier), 403)
    assert problem(
        client.post(
            tenders_url(tender, "/questions/1/answer"), json={"answer": "Sí."}, headers=supplier
        ),
        403,
    )
    assert problem(
        client.post(tenders_url(tender, "/questions"), json={"text": "¿Sí?"}, headers=buyer), 403
    )


def test_a_sanctioned_supplier_is_a_403_naming_the_sanction(
    client: TestClient, world: World
) -> None:
    tender = world.tender()
    body = problem(
        client.post(
            tenders_url(tender, "/bids"),
            json=bid_body((1, "10.00")),
            headers=as_(client, "sancionado"),
        ),
        403,
    )
    assert f"expediente {SANCTION_FILE_NUMBER}" in body["detail"]
    assert PARTIES["sancionado"].rfc in body["detail"]


def test_a_sanctioned_supplier_that_renames_itself_is_still_refused(
    client: TestClient, world: World
) -> None:
    """Issue 14, item 5: a new razón social does not shed a sanction bound to the RFC."""
    tender = world.tender()
    sanctioned = PARTIES["sancionado"]
    headers = as_(client, "sancionado")
    version = client.get(f"/api/v1/suppliers/{sanctioned.rfc}").json()["version"]

    renamed = client.patch(
        f"/api/v1/suppliers/{sanctioned.rfc}",
        headers=headers,
        json={"razon_social": "Distribuidora Limpia, S.A. de C.V.", "version": version},
    )
    assert renamed.status_code == 202, renamed.text
    assert renamed.json()["razon_social"] == sanctioned.name
    pending = problem(
        client.post(tenders_url(tender, "/bids"), json=bid_body((1, "10.00")), headers=headers),
        403,
    )
    assert f"expediente {SANCTION_FILE_NUMBER}" in pending["detail"]

    buyer = as_(client, "comprador")
    [request] = client.get("/api/v1/supplier-renames", headers=buyer).json()
    approved = client.post(
        f"/api/v1/supplier-renames/{request['id']}/approval", headers=buyer, json={}
    )
    assert approved.status_code == 200, approved.text
    detail = client.get(f"/api/v1/suppliers/{sanctioned.rfc}").json()
    assert detail["razon_social"] == "Distribuidora Limpia, S.A. de C.V."
    assert (detail["eligible"], detail["earlier_names"]) == (False, [sanctioned.name])

    after = problem(
        client.post(tenders_url(tender, "/bids"), json=bid_body((1, "10.00")), headers=headers),
        403,
    )
    assert f"expediente {SANCTION_FILE_NUMBER}" in after["detail"]
    assert sanctioned.rfc in after["detail"]


def test_a_self_registered_supplier_bids_only_once_verified(
    client: TestClient, world: World
) -> None:
    """Issue 14, item 6: registering oneself does not admit one to a tender."""
    tender = world.tender()
    rfc = make_rfc("NUE", date(2020, 1, 15), "X1")
    registered = client.post(
        "/api/v1/suppliers",
        json={
            "rfc": rfc,
            "razon_social": "Empresa Recién Llegada, S.A. de C.V.",
            "username": "recien.llegada",
            "full_name": "Representante Nuevo",
            "password": "una frase larga y propia",
        },
    )
    assert registered.status_code == 201, registered.text
    assert registered.json()["supplier"]["status"] == "pendiente"
    headers = bearer(client, "recien.llegada", "una frase larga y propia")

    refused = problem(
        client.post(tenders_url(tender, "/bids"), json=bid_body((1, "10.00")), headers=headers),
        403,
    )
    assert "pendiente de verificación" in refused["detail"]

    buyer = as_(client, "comprador")
    assert [s["rfc"] for s in client.get("/api/v1/supplier-reviews", headers=buyer).json()] == [rfc]
    verified = client.post(
        f"/api/v1/suppliers/{rfc}/verification",
        headers=buyer,
        json={
            "tax_certificate": "20010112345",
            "articles_of_incorporation": "Escritura 1,234, Notaría 5 de Jalisco, 15/01/2020",
            "representative": "Representante Nuevo, poder en la misma escritura",
        },
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["status"] == "verificado"

    sent = client.post(tenders_url(tender, "/bids"), json=bid_body((1, "10.00")), headers=headers)
    assert sent.status_code == 201, sent.text


# ----- sealed bids ---------------------------------------------------------------------------


def test_a_json_bid_with_an_idempotency_key(client: TestClient, world: World) -> None:
    tender = world.tender()
    supplier = as_(client, "a")
    headers = {**supplier, "Idempotency-Key": "envio-1"}

    sent = client.post(tenders_url(tender, "/bids"), json=bid_body((1, "7319.47")), headers=headers)
    assert sent.status_code == 201, sent.text
    receipt = sent.json()
    assert set(receipt) == {
        "bid_id",
        "tender_id",
        "tender_number",
        "received_at",
        "commitment",
        "salt",
        "replaces",
        "ledger_seq",
        "ledger_hash",
        "checkpoint",
        "warnings",
    }
    assert receipt["warnings"] == []
    assert re.fullmatch(r"[0-9a-f]{64}", receipt["commitment"])
    assert re.fullmatch(r"[0-9a-f]{64}", receipt["salt"])
    assert receipt["tender_id"] == tender.id
    assert "7319" not in sent.text

    world.clock.advance(timedelta(minutes=2))
    again = client.post(
        tenders_url(tender, "/bids"), json=bid_body((1, "7319.47")), headers=headers
    )
    assert again.status_code == 201
    assert again.json() == receipt

    changed = problem(
        client.post(tenders_url(tender, "/bids"), json=bid_body((1, "7319.48")), headers=headers),
        409,
    )
    assert changed["errors"][0]["field"] == "Idempotency-Key"
    assert "7319.4" not in str(changed)
    assert len(service.public_bids(world.db, tender)) == 1

    # The commitment is on the public feed at once; the price and the bidder are not.
    history = client.get(tenders_url(tender, "/live"), params={"follow": "false"})
    assert [action for _, action in events(history)] == ["tender.publish", "bid.seal"]
    assert receipt["commitment"] in history.text
    assert "7319" not in history.text
    assert PARTIES["a"].rfc not in history.text


def test_a_bid_as_the_filled_template(client: TestClient, world: World) -> None:
    tender = world.tender()
    supplier = as_(client, "b")
    template = client.get(tenders_url(tender, "/template.xlsx"), headers=supplier).content
    filled = fill_template(template, {1: 6042.71, 2: "640.10"}, quantities={2: 80})

    sent = client.post(
        tenders_url(tender, "/bids/sheet"),
        files={"file": ("proposicion.xlsx", filled, XLSX)},
        headers={**supplier, "Idempotency-Key": "hoja-1"},
    )

    assert sent.status_code == 201, sent.text
    [mine] = client.get(tenders_url(tender, "/bids/mine"), headers=supplier).json()
    assert mine["receipt"] == sent.json()
    assert [(ln["partida"], ln["unit_price"], ln["quantity"]) for ln in mine["lines"]] == [
        (1, "6042.71", PARTIDAS[0][2]),
        (2, "640.10", 80),
    ]


def test_a_sheet_with_a_clave_changed_is_a_422_naming_the_cell(
    client: TestClient, world: World
) -> None:
    tender = world.tender()
    supplier = as_(client, "b")
    template = client.get(tenders_url(tender, "/template.xlsx")).content
    filled = fill_template(template, {1: 10}, cells={(1, 2): "010.000.0101.00"})
    body = problem(
        client.post(
            tenders_url(tender, "/bids/sheet"),
            files={"file": ("proposicion.xlsx", filled, XLSX)},
            headers=supplier,
        ),
        422,
    )
    [error] = body["errors"]
    assert (error["sheet"], error["row"], error["column"]) == ("MED_MAT", 5, "Clave")
    assert client.get(tenders_url(tender, "/bids/mine"), headers=supplier).json() == []


def test_replace_then_withdraw(client: TestClient, world: World) -> None:
    tender = world.tender()
    supplier = as_(client, "c")
    first = client.post(
        tenders_url(tender, "/bids"), json=bid_body((1, "913.58")), headers=supplier
    )
    first_id = first.json()["bid_id"]
    world.clock.advance(timedelta(minutes=1))

    replaced = client.put(
        tenders_url(tender, f"/bids/{first_id}"), json=bid_body((1, "900.00")), headers=supplier
    )
    assert replaced.status_code == 201, replaced.text
    assert replaced.json()["replaces"] == first_id
    second_id = replaced.json()["bid_id"]
    assert second_id != first_id

    mine = client.get(tenders_url(tender, "/bids/mine"), headers=supplier).json()
    assert [(m["receipt"]["bid_id"], m["status"]) for m in mine] == [
        (first_id, "replaced"),
        (second_id, "sealed"),
    ]

    gone = client.delete(tenders_url(tender, f"/bids/{second_id}"), headers=supplier)
    assert gone.status_code == 204
    assert gone.content == b""
    assert problem(client.delete(tenders_url(tender, f"/bids/{second_id}"), headers=supplier), 409)
    # Another supplier cannot touch it, and learns nothing from trying.
    other = problem(
        client.delete(tenders_url(tender, f"/bids/{first_id}"), headers=as_(client, "a")), 404
    )
    assert PARTIES["c"].rfc not in str(other)
    assert client.get(tenders_url(tender)).json()["bids"] == 0


def test_bad_lines_are_a_422_listing_each_problem_with_its_field(
    client: TestClient, world: World
) -> None:
    tender = world.tender()
    supplier = as_(client, "a")
    body = problem(
        client.post(
            tenders_url(tender, "/bids"),
            json=bid_body((1, "10.00"), (9, "11.00"), (1, "12.00")),
            headers=supplier,
        ),
        422,
    )
    assert [(e["field"], e.get("value")) for e in body["errors"]] == [
        ("lines[1]", "9"),
        ("lines[2]", None),
    ]
    assert body["title"] == "Datos no válidos"
    shapeless = problem(
        client.post(tenders_url(tender, "/bids"), json={"lineas": []}, headers=supplier), 422
    )
    assert [e["field"] for e in shapeless["errors"]] == ["lines"]
    mistyped = problem(
        client.post(
            tenders_url(tender, "/bids"),
            json={"lines": [{"partida": "uno", "unit_price": "10.00", "quantity": 5}]},
            headers=supplier,
        ),
        422,
    )
    assert [(e["field"], e["value"]) for e in mistyped["errors"]] == [("lines.0.partida", "uno")]
    garbled = problem(
        client.post(
            tenders_url(tender, "/bids"),
            content=b'{"lines": [',
            headers={**supplier, "Content-Type": "application/json"},
        ),
        422,
    )
    assert [(e["field"], e["expected"]) for e in garbled["errors"]] == [
        ("body", "un documento JSON (Content-Type: application/json)")
    ]
    assert client.get(tenders_url(tender)).json()["bids"] == 0


def test_a_line_cannot_state_where_it_came_from(client: TestClient, world: World) -> None:
    """``where`` locates a line in error messages; a body cannot set it."""
    tender = world.tender()
    body = bid_body((1, "10.00"), (2, "-3"))
    body["lines"][1]["where"] = {"field": "otro", "sheet": "MED_MAT", "row": 7, "x": 1}
    refused = problem(
        client.post(tenders_url(tender, "/bids"), json=body, headers=as_(client, "a")), 422
    )
    [error] = refused["errors"]
    assert error["field"] == "lines[1].unit_price"
    assert not {"sheet", "row", "x"} & set(error)


def test_the_bid_body_is_described_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, method in (
        ("/api/v1/tenders/{tender_id}/bids", "post"),
        ("/api/v1/tenders/{tender_id}/bids/{bid_id}", "put"),
    ):
        body = paths[path][method]["requestBody"]["content"]["application/json"]["schema"]
        line = body["properties"]["lines"]["items"]["properties"]
        assert {"partida", "unit_price", "quantity", "registro_sanitario"} <= set(line)
        assert "$ref" not in str(body)


@pytest.mark.parametrize("price", ["-5.00", "0", "7319.475"])
def test_a_bad_price_in_json_is_a_422_naming_its_line(
    client: TestClient, world: World, price: str
) -> None:
    tender = world.tender()
    body = problem(
        client.post(
            tenders_url(tender, "/bids"),
            json=bid_body((1, "10.00"), (2, price)),
            headers=as_(client, "a"),
        ),
        422,
    )
    [error] = body["errors"]
    assert error["field"].startswith("lines[1]")
    assert error["value"] == price


def test_a_bid_after_the_deadline_is_a_409_with_the_server_time(
    client: TestClient, world: World
) -> None:
    tender = world.tender()
    world.clock.set(tender.bid_deadline)
    body = problem(
        client.post(
            tenders_url(tender, "/bids"), json=bid_body((1, "10.00")), headers=as_(client, "a")
        ),
        409,
    )
    assert rules.when(world.now) in body["detail"]


# ----- questions, bids in public, the opening ------------------------------------------------


def test_questions_and_answers_are_published_without_who_asked(
    client: TestClient, world: World
) -> None:
    tender = world.tender()
    asked = client.post(
        tenders_url(tender, "/questions"),
        json={"text": "¿Se acepta caja con 20 tabletas?", "partida": 1},
        headers=as_(client, "a"),
    )
    assert asked.status_code == 201, asked.text
    answered = client.post(
        tenders_url(tender, "/questions/1/answer"),
        json={"answer": "Sí, con el mismo registro sanitario."},
        headers=as_(client, "comprador"),
    )
    assert answered.status_code == 200, answered.text
    [published] = client.get(tenders_url(tender, "/questions")).json()
    assert set(published) == {"number", "partida", "text", "asked_at", "answer", "answered_at"}
    assert published["answer"] == "Sí, con el mismo registro sanitario."
    world.clock.set(tender.clarification_deadline)
    assert problem(
        client.post(
            tenders_url(tender, "/questions"), json={"text": "¿Tarde?"}, headers=as_(client, "a")
        ),
        409,
    )


def test_the_opening_reveals_bids_only_from_its_time(client: TestClient, world: World) -> None:
    tender = world.tender()
    receipt = world.bid("a", tender, {1: "7319.47"})
    sealed = client.get(tenders_url(tender, "/bids")).json()
    assert sealed == [
        {
            "id": receipt.bid_id,
            "received_at": sealed[0]["received_at"],
            "commitment": receipt.commitment,
            "status": "sealed",
            "check": None,
            "check_detail": None,
            "bidder": None,
            "lines": [],
        }
    ]
    buyer = as_(client, "comprador")
    world.clock.set(tender.opening_at - SECOND)
    assert problem(client.post(tenders_url(tender, "/opening"), headers=buyer), 409)

    world.clock.set(tender.opening_at)
    started = client.post(tenders_url(tender, "/opening"), headers=buyer)
    assert started.status_code == 200, started.text
    assert started.json()["status"] == "opening"
    world.db.expire_all()
    service.open_all(world.buyer(), world.sealer, tender_id=tender.id)

    [opened] = client.get(tenders_url(tender, "/bids")).json()
    assert opened["check"] == "coincide"
    assert opened["bidder"] == {"rfc": PARTIES["a"].rfc, "razon_social": PARTIES["a"].name}
    assert [(ln["partida"], ln["unit_price"]) for ln in opened["lines"]] == [(1, "7319.47")]
    assert client.get(tenders_url(tender)).json()["status"] == "opened"


# ----- the live feed -------------------------------------------------------------------------


def test_the_feed_history_is_the_tenders_public_ledger_and_resumes_after_an_event(
    client: TestClient, world: World
) -> None:
    tender = world.tender()
    world.bid("a", tender, {1: "10.00"})
    world.bid("b", tender, {1: "11.00"})
    service.ask_question(world.as_supplier("a"), tender_id=tender.id, text="¿Se acepta?")
    world.db.flush()
    seqs = list(
        world.db.scalars(
            select(LedgerEntry.seq)
            .where(LedgerEntry.entity == feed_entity(tender.id), LedgerEntry.public.is_(True))
            .order_by(LedgerEntry.seq)
        )
    )
    assert len(seqs) == 4

    everything = client.get(tenders_url(tender, "/live"), params={"follow": "false"})
    assert everything.headers["cache-control"] == "no-cache"
    assert everything.text.startswith("retry: 2000\n\n")
    assert events(everything) == list(
        zip(seqs, ["tender.publish", "bid.seal", "bid.seal", "question.ask"], strict=True)
    )

    resumed = client.get(
        tenders_url(tender, "/live"),
        params={"follow": "false"},
        headers={"Last-Event-ID": str(seqs[1])},
    )
    assert [seq for seq, _ in events(resumed)] == seqs[2:]
    after = client.get(tenders_url(tender, "/live"), params={"follow": "false", "after": seqs[2]})
    assert [seq for seq, _ in events(after)] == seqs[3:]
    # Each event's data is the ledger entry's payload, with its seq.
    data = re.findall(r"^data: (.*)$", everything.text, re.M)
    assert f'"seq":{seqs[0]}' in data[0]
    assert (
        client.get(
            tenders_url(tender, "/live"), params={"follow": "false", "after": -1}
        ).status_code
        == 422
    )


def test_the_feed_of_a_draft_or_unknown_tender_is_not_found(
    client: TestClient, world: World
) -> None:
    draft = world.tender(publish=False)
    assert problem(client.get(tenders_url(draft, "/live"), params={"follow": "false"}), 404)
    assert problem(client.get(tenders_url(9999, "/live"), params={"follow": "false"}), 404)


# ----- poison input --------------------------------------------------------------------------


def test_a_quantity_above_the_partidas_maximum_is_a_422_naming_its_line(
    client: TestClient, world: World
) -> None:
    """Issue 14: 3,000,000,000 pieces of a partida whose maximum is 250 were sealed (201), and
    the opening could never write them."""
    tender = world.tender()
    body = bid_body((1, "10.00"), (2, "11.00"))
    body["lines"][1]["quantity"] = 3_000_000_000
    refused = problem(
        client.post(tenders_url(tender, "/bids"), json=body, headers=as_(client, "a")), 422
    )
    [error] = refused["errors"]
    assert error["field"] == "lines[1].quantity"
    assert error["value"] == "3000000000"
    assert str(PARTIDAS[1][2]) in error["expected"]
    assert client.get(tenders_url(tender)).json()["bids"] == 0


@pytest.mark.parametrize(
    ("member", "text"),
    [
        ("quantity", "1e999999"),
        ("quantity", "9" * 1_000_000),
        ("unit_price", "1e999999"),
        ("unit_price", "9" * 1_000_000),
    ],
)
def test_numeric_text_too_long_or_too_large_is_refused_before_it_is_converted(
    client: TestClient, world: World, member: str, text: str
) -> None:
    """``int(Decimal("1e999999"))`` took 86 s holding the GIL: the whole server froze."""
    tender = world.tender()
    body = bid_body((1, "10.00"))
    body["lines"][0][member] = text
    refused = problem(
        client.post(tenders_url(tender, "/bids"), json=body, headers=as_(client, "a")), 422
    )
    # Before: 86 s of CPU for "1e999999", 81 s for a million digits, then a 500.
    [error] = refused["errors"]
    assert error["field"] == f"lines[0].{member}"
    assert len(error["value"]) < 100


def test_the_buyer_suspends_resumes_and_cancels_a_stuck_opening(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    tender = world.tender()
    world.clock.set(tender.clarification_deadline)
    seal_poison(world, "a", tender, monkeypatch)
    world.clock.set(tender.opening_at)
    world.tick(finish=True)
    buyer = bearer(client, "comprador")
    reason = {"reason": "Una proposición no se pudo registrar en la apertura."}

    seen = client.get(tenders_url(tender), headers=buyer).json()
    by_supplier = client.post(
        tenders_url(tender, "/suspend"), json=reason, headers=as_(client, "a")
    )
    suspended = client.post(tenders_url(tender, "/suspend"), json=reason, headers=buyer)
    resumed = client.post(tenders_url(tender, "/resume"), json=reason, headers=buyer)
    healthy_cancel = client.post(tenders_url(tender, "/cancel"), json=reason, headers=buyer)
    world.tick(finish=True)
    cancelled = client.post(tenders_url(tender, "/cancel"), json=reason, headers=buyer)

    assert seen["status"] == rules.OPENING
    assert seen["attention"]
    assert by_supplier.status_code == 403
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["status"] == rules.SUSPENDED
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["attention"] is None
    # Resumed, it is no longer stuck until the tick holds it again.
    problem(healthy_cancel, 409)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == rules.CANCELLED
    actions = [
        e.action
        for e in world.db.scalars(
            select(LedgerEntry).where(LedgerEntry.entity == feed_entity(tender.id))
        )
    ]
    assert actions.count("tender.attention") == 2
    assert {"tender.suspend", "tender.resume", "tender.cancel"} <= set(actions)


def test_a_sheet_with_numeric_text_too_large_is_refused_naming_its_cell(
    client: TestClient, world: World
) -> None:
    tender = world.tender()
    supplier = as_(client, "b")
    template = client.get(tenders_url(tender, "/template.xlsx")).content
    filled = fill_template(template, {1: "1e999999", 2: "10"}, quantities={2: "9" * 30_000})
    body = problem(
        client.post(
            tenders_url(tender, "/bids/sheet"),
            files={"file": ("proposicion.xlsx", filled, XLSX)},
            headers=supplier,
        ),
        422,
    )
    # A sheet's cell is named by its column as the file heads it, not by the API's field.
    assert [(e["row"], e["column"], e.get("field")) for e in body["errors"]] == [
        (5, "Precio Unitario", None),
        (6, "Cantidad ofertada", None),
    ]
    assert all(len(e["value"]) < 100 for e in body["errors"])


def test_a_bid_body_must_be_declared_json(client: TestClient, world: World) -> None:
    """A page of another site can post ``text/plain`` without asking the browser first; the bid
    route used to read such a body as JSON (issue 14, item 10)."""
    import json

    tender = world.tender()
    supplier = as_(client, "a")
    body = json.dumps(bid_body((1, "10.00")))
    for media in ("text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded"):
        sent = client.post(
            tenders_url(tender, "/bids"), content=body, headers={**supplier, "Content-Type": media}
        )
        assert problem(sent, 415), media
    assert client.get(tenders_url(tender, "/bids/mine"), headers=supplier).json() == []
    sent = client.post(
        tenders_url(tender, "/bids"),
        content=body,
        headers={**supplier, "Content-Type": "application/json"},
    )
    assert sent.status_code == 201, sent.text


def test_a_cookie_bid_needs_the_csrf_token(client: TestClient, world: World) -> None:
    tender = world.tender()
    logged = client.post(
        "/entrar",
        data={"username": PARTIES["a"].username, "password": PASSWORD},
        follow_redirects=False,
    )
    assert logged.status_code == 303
    client.send_csrf = False  # type: ignore[attr-defined]
    sent = client.post(tenders_url(tender, "/bids"), json=bid_body((1, "10.00")))
    assert problem(sent, 403)
    client.send_csrf = True  # type: ignore[attr-defined]
    sent = client.post(tenders_url(tender, "/bids"), json=bid_body((1, "10.00")))
    assert sent.status_code == 201, sent.text


def test_the_tender_search_takes_percent_and_underscore_literally(
    client: TestClient, world: World
) -> None:
    world.tender()  # «Medicamentos del primer nivel (licitacion_nacional)»
    # As wildcards, «%», «primer_nivel» and «del%nivel» would all match that title.
    cases = (("%", 0), ("primer_nivel", 0), ("del%nivel", 0), ("primer nivel", 1), ("n_n", 1))
    for q, expected in cases:
        found = client.get("/api/v1/tenders", params={"q": q}).json()
        assert found["total"] == expected, q


def test_a_json_bid_without_registro_or_country_is_sealed_with_warnings(
    client: TestClient, world: World
) -> None:
    tender = world.tender()
    body = bid_body((1, "10.00"), (2, "3.00"))
    body["lines"][1] |= {"registro_sanitario": None, "country": " "}

    sent = client.post(tenders_url(tender, "/bids"), json=body, headers=as_(client, "a"))

    assert sent.status_code == 201, sent.text
    (warning,) = sent.json()["warnings"]
    assert warning["message"] == "Partida 2: sin registro sanitario ni país de origen"
    assert warning["field"] == "lines[1].registro_sanitario, lines[1].country"
