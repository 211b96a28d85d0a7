"""«Mis pendientes» per role: each task where it is done, scoped to the actor."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from abasto.award import service as award
from abasto.contracts import service as contracts
from abasto.core.context import ANONYMOUS, Context
from abasto.demand import service as demand
from abasto.identity import service as identity
from abasto.pending import service
from abasto.pending.service import Pending
from tests.award.test_service import Opened, evaluator, verdicts_with
from tests.conftest import bearer
from tests.contracts.factories import lots, planner
from tests.pending.factories import ROUND, Busy, busy
from tests.tendering.conftest import PARACETAMOL, World


@pytest.fixture
def world_busy(world: World) -> tuple[World, Busy]:
    return world, busy(world)


def links(pending: Pending) -> dict[str, list[str]]:
    return {section.kind: [task.url for task in section.tasks] for section in pending.sections}


def test_the_planner_has_its_open_round_and_its_contract_to_sign(
    world_busy: tuple[World, Busy],
) -> None:
    world, built = world_busy
    imss = planner(world, "IMSS")
    demand.set_line(
        imss, round_name=ROUND, institution_code="IMSS", clave=PARACETAMOL,
        min_qty=40, max_qty=100, version=None,
    )  # fmt: skip

    pending = service.my_pending(imss, world.sealer)

    assert links(pending) == {
        service.ROUNDS: [f"/demanda/{ROUND}/IMSS"],
        service.CONTRACTS_TO_SIGN: [f"/contratos/{n}" for n in built.to_sign_imss],
    }
    (task,) = pending.sections[0].tasks
    assert task.detail.startswith("1 línea capturada · 0 claves con consumo sin capturar")
    assert not task.overdue
    # ISSSTE takes no part in «2029», and signed its contract already.
    assert links(service.my_pending(planner(world, "ISSSTE"), world.sealer)) == {}


def test_a_round_past_its_deadline_is_overdue_until_submitted(
    world_busy: tuple[World, Busy],
) -> None:
    world, _ = world_busy
    world.clock.advance(timedelta(days=31))
    imss = planner(world, "IMSS")

    (task,) = service.my_pending(imss, world.sealer).sections[0].tasks
    assert task.overdue
    assert task.detail.endswith("vencida")

    demand.set_line(
        imss, round_name=ROUND, institution_code="IMSS", clave=PARACETAMOL,
        min_qty=40, max_qty=100, version=None,
    )  # fmt: skip
    demand.submit_demand(imss, round_name=ROUND, institution_code="IMSS")
    assert service.ROUNDS not in links(service.my_pending(imss, world.sealer))


def test_the_buyer_has_rounds_questions_and_evaluations(world_busy: tuple[World, Busy]) -> None:
    world, built = world_busy

    pending = service.my_pending(world.buyer(), world.sealer)

    assert links(pending) == {
        service.ROUNDS: [f"/demanda/{ROUND}"],
        service.QUESTIONS: [f"/comprador/licitaciones/{built.live.id}#preguntas"],
        service.EVALUATIONS: [f"/evaluacion/licitaciones/{built.to_evaluate.id}"],
    }
    sections = {s.kind: s for s in pending.sections}
    assert sections[service.QUESTIONS].tasks[0].detail == "1 pregunta por responder"
    assert sections[service.ROUNDS].tasks[0].detail.startswith("1 institución no ha enviado")


def test_the_evaluator_has_its_queue_and_then_the_buyer_a_fallo(
    world_busy: tuple[World, Busy],
) -> None:
    world, built = world_busy
    (task,) = service.my_pending(evaluator(world), world.sealer).sections[0].tasks
    assert task.url == f"/evaluacion/licitaciones/{built.to_evaluate.id}"
    assert task.detail == "2 líneas de proposición por evaluar de 2"

    award.record_evaluations(
        evaluator(world),
        tender_id=built.to_evaluate.id,
        verdicts=verdicts_with(world, Opened(built.to_evaluate, {})),
    )

    assert links(service.my_pending(evaluator(world), world.sealer)) == {}
    fallos = links(service.my_pending(world.buyer(), world.sealer))[service.FALLOS]
    assert fallos == [f"/comprador/licitaciones/{built.to_evaluate.id}"]


def test_each_supplier_has_its_own_tenders_bids_contracts_and_orders(
    world_busy: tuple[World, Busy],
) -> None:
    world, built = world_busy

    assert links(service.my_pending(world.as_supplier("a"), world.sealer)) == {
        service.TO_BID: [f"/proveedor/licitaciones#licitacion-{built.live.id}"],
        service.CONTRACTS_TO_SIGN: [f"/contratos/{built.to_sign_a}"],
    }
    b = service.my_pending(world.as_supplier("b"), world.sealer)
    assert links(b) == {
        service.BIDS: [f"/proveedor/licitaciones/{built.live.id}/proposiciones/{built.bid_b}"],
        service.ORDERS_TO_CONFIRM: [f"/ordenes/{built.order_b}"],
    }
    order = {s.kind: s for s in b.sections}[service.ORDERS_TO_CONFIRM].tasks[0]
    assert order.detail.startswith("2 piezas de ")

    contracts.confirm_order(world.as_supplier("b"), order_id=built.order_b)
    (to_ship,) = links(service.my_pending(world.as_supplier("b"), world.sealer))[
        service.ORDERS_TO_SHIP
    ]
    assert to_ship == f"/ordenes/{built.order_b}"
    contracts.record_shipment(world.as_supplier("b"), order_id=built.order_b, lots=lots(("L1", 1)))
    b = service.my_pending(world.as_supplier("b"), world.sealer)
    shipping = {s.kind: s for s in b.sections}[service.ORDERS_TO_SHIP].tasks[0]
    assert shipping.detail.startswith("1 pieza por enviar de 2 de ")
    contracts.record_shipment(world.as_supplier("b"), order_id=built.order_b, lots=lots(("L2", 1)))
    assert service.ORDERS_TO_SHIP not in links(
        service.my_pending(world.as_supplier("b"), world.sealer)
    )
    receive = links(service.my_pending(planner(world, "SEDENA"), world.sealer))
    assert len(receive[service.SHIPMENTS_TO_RECEIVE]) == 2


def test_the_auditor_and_the_public_have_nothing_pending(world: World) -> None:
    auditor = Context(world.db, identity.actor_of(world.users["auditor"]), world.now)
    assert service.my_pending(auditor, world.sealer).total == 0
    assert service.my_pending(Context(world.db, ANONYMOUS, world.now), world.sealer).total == 0


def test_the_api_answers_the_same_list(world_busy: tuple[World, Busy], client: TestClient) -> None:
    world, _ = world_busy
    world.db.commit()

    response = client.get("/api/v1/me/pending", headers=bearer(client, "plan.imss"))

    assert response.status_code == 200
    body = response.json()
    assert body["role"] == "institucion"
    assert body["total"] == 3
    assert [s["kind"] for s in body["sections"]] == [service.ROUNDS, service.CONTRACTS_TO_SIGN]
    assert body["sections"][0]["tasks"][0]["url"] == f"/demanda/{ROUND}/IMSS"
    assert client.get("/api/v1/me/pending").status_code == 401
