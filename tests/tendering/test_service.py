"""Tendering use cases on a real database: the lifecycle of each procedure, and bad input.

Every refusal is checked to change nothing: the ledger head, the bids, the idempotency
records, the questions and the tenders are as they were (``World.footprint``).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select, update

from abasto.core import checkpoints, merkle
from abasto.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from abasto.core.ledger import canonical_json
from abasto.core.signed_note import Signer
from abasto.tendering import rules, service
from abasto.tendering.models import Bid, Tender
from abasto.tendering.rules import (
    BIDDING,
    CLOSE_BIDS,
    CLOSE_CLARIFICATIONS,
    CLOSED,
    OPENED,
    START_OPENING,
)
from abasto.tendering.tick import SYSTEM
from tests.tendering.conftest import (
    COL_CLAVE,
    DEFAULT_INVITED,
    PARTIDAS,
    PARTIES,
    SANCTION_AGENCY,
    SANCTION_FILE_NUMBER,
    SECOND,
    Plan,
    World,
    fill_template,
    line,
    plan_for,
    seal_poison,
)

PROCEDURES = sorted(rules.PROCEDURES)


def timeline(tender: Tender) -> Plan:
    return Plan(
        tender.clarification_deadline, tender.bid_deadline, tender.opening_at, tender.fallo_at
    )


# ----- the lifecycle, once per procedure -----------------------------------------------------


@pytest.mark.parametrize("procedure", PROCEDURES)
def test_a_tender_lives_from_publication_to_its_opening(world: World, procedure: str) -> None:
    tender = world.tender(procedure)
    plan = timeline(tender)
    first, *others = DEFAULT_INVITED.get(procedure, ("a", "b", "c"))
    assert tender.status == rules.CLARIFICATIONS

    # Clarifications: a question, its answer, and one more a second before the deadline.
    service.ask_question(
        world.as_supplier(first),
        tender_id=tender.id,
        text="¿Se acepta la presentación con 20 tabletas?",
        partida=1,
    )
    service.answer_question(world.buyer(), tender_id=tender.id, number=1, answer="Sí, se acepta.")
    world.clock.set(plan.clarification_deadline - SECOND)
    assert world.tick().applied == []
    service.ask_question(world.as_supplier(first), tender_id=tender.id, text="¿Y la entrega?")
    world.clock.set(plan.clarification_deadline)
    assert world.tick().applied == [(tender.id, CLOSE_CLARIFICATIONS)]
    assert tender.status == BIDDING
    with pytest.raises(Conflict, match="plazo para preguntas"):
        service.ask_question(world.as_supplier(first), tender_id=tender.id, text="¿Tarde?")

    # Sealed bids: one withdrawn, one replaced, one per other bidder.
    world.clock.advance(timedelta(minutes=1))
    withdrawn = world.bid(first, tender, {1: "100.00"})
    service.withdraw_bid(
        world.as_supplier(first), world.sealer, tender_id=tender.id, bid_id=withdrawn.bid_id
    )
    world.clock.advance(timedelta(minutes=1))
    replaced = world.bid(first, tender, {1: "101.00", 2: "55.50"})
    world.clock.advance(timedelta(minutes=1))
    kept = world.bid(first, tender, {1: "99.90", 2: "55.50"}, replaces=replaced.bid_id)
    receipts = {}
    for number, other in enumerate(others, start=1):
        world.clock.advance(timedelta(minutes=1))
        receipts[other] = world.bid(other, tender, {1: f"{200 + number}.25", 3: "12.00"})

    # A second before the deadline the bid is taken; at the deadline the bids close.
    world.clock.set(plan.bid_deadline - SECOND)
    assert world.tick().applied == []
    receipts[first] = world.bid(first, tender, {1: "98.75", 2: "55.50"}, replaces=kept.bid_id)
    world.clock.set(plan.bid_deadline)
    assert world.tick().applied == [(tender.id, CLOSE_BIDS)]
    assert tender.status == CLOSED
    with pytest.raises(Conflict, match="cerró"):
        world.bid(first, tender, {1: "1.00"}, replaces=receipts[first].bid_id)

    # The opening: not a second early, then at its time by the tick, every bid read out.
    world.clock.set(plan.opening_at - SECOND)
    assert world.tick().applied == []
    with pytest.raises(Conflict, match="No se abre antes"):
        service.start_opening(world.buyer(), tender_id=tender.id)
    world.clock.set(plan.opening_at)
    report = world.tick(finish=True)
    assert report.applied == [(tender.id, START_OPENING)]
    assert report.opened == [(tender.id, 1 + len(others))]
    assert tender.status == OPENED
    assert tender.opened_at == plan.opening_at

    assert world.feed(tender) == [
        "tender.publish",
        "question.ask",
        "question.answer",
        "question.ask",
        "tender.clarifications_closed",
        "bid.seal",
        "bid.withdraw",
        "bid.seal",
        "bid.seal",
        *["bid.seal"] * len(others),
        "bid.seal",
        "tender.bids_closed",
        "tender.opening_started",
        *["bid.open"] * (1 + len(others)),
        "tender.opened",
    ]
    # Read out in order of arrival; each checked against the commitment its receipt holds.
    opened = [entry.data() for entry in world.entries(tender, "bid.open")]
    order = [*others, first]
    assert [o["supplier"]["rfc"] for o in opened] == [PARTIES[k].rfc for k in order]
    for key, payload in zip(order, opened, strict=True):
        receipt = receipts[key]
        assert payload["bid"] == receipt.bid_id
        assert payload["check"] == "coincide"
        assert payload["commitment"] == payload["stored_commitment"] == receipt.commitment
        assert payload["salt"] == receipt.salt
        recomputed = hashlib.sha256(
            bytes.fromhex(receipt.salt) + canonical_json(payload["content"]).encode()
        ).hexdigest()
        assert recomputed == receipt.commitment
    assert opened[-1]["content"]["lines"][0]["unit_price"] == "98.75"
    statuses = dict(world.db.execute(select(Bid.id, Bid.status)).all())
    assert statuses[withdrawn.bid_id] == "withdrawn"
    assert statuses[replaced.bid_id] == statuses[kept.bid_id] == "replaced"
    assert {statuses[r.bid_id] for r in receipts.values()} == {"opened"}

    # Who the ledger names: never the bidder's user, the clock for what the clock did.
    actors = {e.action: e.actor for e in world.entries(tender)}
    assert actors["bid.seal"] == actors["bid.withdraw"] == actors["question.ask"] == "licitante"
    assert actors["tender.clarifications_closed"] == actors["tender.bids_closed"] == SYSTEM.label
    assert actors["tender.opening_started"] == actors["tender.opened"] == SYSTEM.label
    summary = world.entries(tender, "tender.opened")[0].data()
    assert summary["opened"] == summary["matching"] == len(order)
    assert summary["not_matching"] == summary["missing"] == 0


def test_the_buyer_may_start_the_opening_after_its_time(world: World) -> None:
    tender = world.tender()
    world.bid("a", tender, {1: "10.00"})
    world.clock.set(tender.opening_at + timedelta(minutes=5))
    started = service.start_opening(world.buyer(), tender_id=tender.id)
    assert started.status == rules.OPENING
    assert started.opening_started_at == world.now
    assert world.feed(tender)[-3:] == [
        "tender.clarifications_closed",
        "tender.bids_closed",
        "tender.opening_started",
    ]
    assert service.open_next_bid(world.buyer(), world.sealer, tender_id=tender.id) is False
    assert tender.status == OPENED
    with pytest.raises(Conflict, match="no está en apertura"):
        service.open_next_bid(world.buyer(), world.sealer, tender_id=tender.id)
    with pytest.raises(Conflict):
        service.start_opening(world.buyer(), tender_id=tender.id)


def test_an_opening_without_bids_ends_at_once(world: World) -> None:
    tender = world.tender()
    world.clock.set(tender.opening_at)
    world.tick()
    assert tender.status == OPENED
    assert world.entries(tender, "tender.opened")[0].data()["opened"] == 0


# ----- bad input: each refused, nothing written ----------------------------------------------


def test_a_bid_one_second_after_the_deadline_is_refused(world: World) -> None:
    tender = world.tender()
    world.clock.set(tender.bid_deadline + SECOND)
    before = world.footprint()
    with pytest.raises(Conflict) as refused:
        world.bid("a", tender, {1: "10.00"})
    assert rules.when(tender.bid_deadline) in refused.value.detail
    assert rules.when(world.now) in refused.value.detail
    assert world.footprint() == before


def test_a_bid_at_the_deadline_second_is_refused_even_before_the_tick(world: World) -> None:
    tender = world.tender()
    world.clock.set(tender.bid_deadline)
    before = world.footprint()
    with pytest.raises(Conflict, match="cerró"):
        world.bid("a", tender, {1: "10.00"})
    assert world.footprint() == before
    assert tender.status == rules.CLARIFICATIONS  # nobody ticked: the clock alone refuses


def test_a_bid_for_a_partida_not_in_the_tender_is_refused(world: World) -> None:
    tender = world.tender()
    before = world.footprint()
    with pytest.raises(ValidationFailed) as refused:
        world.bid("a", tender, {1: "10.00", 4: "11.00"})
    [problem] = refused.value.problems
    assert problem.value == "4"
    assert "Partida 4" in problem.message
    assert problem.expected is not None
    assert "entre 1 y 3" in problem.expected
    assert world.footprint() == before


@pytest.mark.parametrize("price", ["-7319.47", "0", "0.00", Decimal("-0.01")])
def test_a_negative_or_zero_price_is_refused(world: World, price: object) -> None:
    tender = world.tender()
    before = world.footprint()
    with pytest.raises(ValidationFailed) as refused:
        world.bid("a", tender, {1: "10.00", 2: price})
    [problem] = refused.value.problems
    assert (problem.field, problem.value) == ("unit_price", str(price))
    assert "mayor que cero" in problem.message
    assert "Partida 2" in problem.message
    assert world.footprint() == before


@pytest.mark.parametrize("price", ["7319.475", "0.001", 12.345])
def test_a_price_with_more_than_two_decimals_is_refused(world: World, price: object) -> None:
    tender = world.tender()
    before = world.footprint()
    with pytest.raises(ValidationFailed) as refused:
        world.bid("a", tender, {3: price})
    [problem] = refused.value.problems
    assert "más de 2 decimales" in problem.message
    assert world.footprint() == before


def test_a_supplier_not_invited_to_an_invitacion_is_refused(world: World) -> None:
    tender = world.tender("invitacion", invited=("a", "b", "c"))
    before = world.footprint()
    with pytest.raises(Forbidden) as refused:
        world.bid("d", tender, {1: "10.00"})
    assert PARTIES["d"].name in refused.value.detail
    assert "invitados" in refused.value.detail
    with pytest.raises(Forbidden):
        service.ask_question(world.as_supplier("d"), tender_id=tender.id, text="¿Puedo participar?")
    assert world.footprint() == before


@pytest.mark.parametrize("what", ["bid", "question"])
def test_a_sanctioned_supplier_is_refused_with_the_sanction_named(world: World, what: str) -> None:
    tender = world.tender()
    before = world.footprint()

    def attempt() -> object:
        if what == "bid":
            return world.bid("sancionado", tender, {1: "10.00"})
        return service.ask_question(
            world.as_supplier("sancionado"), tender_id=tender.id, text="¿Puedo participar?"
        )

    with pytest.raises(Forbidden) as refused:
        attempt()
    detail = refused.value.detail
    assert PARTIES["sancionado"].rfc in detail
    assert "sancionado" in detail
    assert SANCTION_AGENCY in detail
    assert f"expediente {SANCTION_FILE_NUMBER}" in detail
    assert "SANCIONATORIA CON MULTA E INHABILITACIÓN" in detail
    assert "resuelta el 20/02/2015" in detail
    assert world.footprint() == before


def test_a_template_with_a_clave_changed_is_refused(world: World) -> None:
    tender = world.tender()
    _, template = service.bid_template(world.as_supplier("a"), tender_id=tender.id)
    filled = fill_template(
        template, {1: 7319.47, 2: 640.1}, cells={(2, COL_CLAVE): "010.000.0104.01"}
    )
    before = world.footprint()
    with pytest.raises(ValidationFailed) as refused:
        service.submit_bid_sheet(
            world.as_supplier("a"),
            world.sealer,
            tender_id=tender.id,
            content=filled,
            filename="proposicion.xlsx",
        )
    [problem] = refused.value.problems
    assert (problem.sheet, problem.row, problem.column) == ("MED_MAT", 6, "Clave")
    assert (problem.value, problem.expected) == ("010.000.0104.01", PARTIDAS[1][0])
    assert world.footprint() == before


def test_a_question_after_the_clarification_deadline_is_refused(world: World) -> None:
    tender = world.tender()
    world.clock.set(tender.clarification_deadline)
    before = world.footprint()
    with pytest.raises(Conflict) as refused:
        service.ask_question(world.as_supplier("a"), tender_id=tender.id, text="¿Se puede?")
    assert rules.when(tender.clarification_deadline) in refused.value.detail
    assert world.footprint() == before


def test_an_opening_before_its_time_is_refused(world: World) -> None:
    tender = world.tender()
    world.bid("a", tender, {1: "10.00"})
    world.clock.set(tender.bid_deadline)
    world.tick()
    world.clock.set(tender.opening_at - SECOND)
    before = world.footprint()
    with pytest.raises(Conflict) as refused:
        service.start_opening(world.buyer(), tender_id=tender.id)
    assert rules.when(tender.opening_at) in refused.value.detail
    with pytest.raises(Conflict, match="no está en apertura"):
        service.open_next_bid(world.buyer(), world.sealer, tender_id=tender.id)
    assert world.tick().applied == []
    assert world.footprint() == before
    assert tender.status == CLOSED


@pytest.mark.parametrize("procedure", PROCEDURES)
@pytest.mark.parametrize("period", ["bid", "clarifications"])
def test_periods_shorter_than_the_procedure_allows_are_refused(
    world: World, procedure: str, period: str
) -> None:
    periods = rules.procedure(procedure).periods
    bid = world.now + timedelta(days=periods.min_bid_days)
    exact = Plan(
        bid - timedelta(days=periods.min_days_after_clarifications),
        bid,
        bid + timedelta(hours=1),
        bid + timedelta(days=1),
    )
    assert world.tender(procedure, plan=exact).status == rules.CLARIFICATIONS

    if period == "bid":
        short = replace(exact, clarification_deadline=exact.clarification_deadline - SECOND)
        short = replace(short, bid_deadline=bid - SECOND)
        field = "bid_deadline"
    else:
        short = replace(exact, clarification_deadline=exact.clarification_deadline + SECOND)
        field = "clarification_deadline"
    draft = world.tender(procedure, plan=short, publish=False)
    before = world.footprint()
    with pytest.raises(ValidationFailed) as refused:
        service.publish_tender(world.buyer(), tender_id=draft.id)
    assert field in [p.field for p in refused.value.problems]
    assert rules.procedure(procedure).label in refused.value.detail
    assert world.footprint() == before
    assert draft.status == rules.DRAFT


def test_a_replayed_idempotency_key_returns_the_same_receipt(world: World) -> None:
    tender = world.tender()
    first = world.bid("a", tender, {1: "7319.47"}, idempotency_key="envio-1")
    world.clock.advance(timedelta(minutes=3))
    before = world.footprint()
    again = world.bid("a", tender, {1: "7319.47"}, idempotency_key="envio-1")
    assert again == first
    assert world.footprint() == before


def test_a_reused_idempotency_key_with_other_content_is_refused(world: World) -> None:
    tender = world.tender()
    world.bid("a", tender, {1: "7319.47"}, idempotency_key="envio-1")
    before = world.footprint()
    with pytest.raises(Conflict) as refused:
        world.bid("a", tender, {1: "7319.48"}, idempotency_key="envio-1")
    assert refused.value.status == 409
    [problem] = refused.value.problems
    assert (problem.field, problem.value) == ("Idempotency-Key", "envio-1")
    assert world.footprint() == before
    assert "7319.48" not in str(refused.value)


def test_a_retry_after_the_deadline_of_a_bid_sent_before_it_returns_its_receipt(
    world: World,
) -> None:
    """The bid was received in time; only its response was lost. Saying «No se recibió la
    proposición» to the retry would be false, and the bidder would believe it has no bid."""
    tender = world.tender()
    world.clock.set(tender.bid_deadline - SECOND)
    sent = world.bid("a", tender, {1: "7319.47"}, idempotency_key="envio-1")
    world.clock.set(tender.bid_deadline + SECOND)
    before = world.footprint()
    assert world.bid("a", tender, {1: "7319.47"}, idempotency_key="envio-1") == sent
    assert world.footprint() == before


def test_idempotency_keys_belong_to_each_supplier(world: World) -> None:
    tender = world.tender()
    mine = world.bid("a", tender, {1: "10.00"}, idempotency_key="envio-1")
    theirs = world.bid("b", tender, {1: "10.00"}, idempotency_key="envio-1")
    assert mine.bid_id != theirs.bid_id
    assert mine.commitment != theirs.commitment


# ----- sealed bids ---------------------------------------------------------------------------


def test_a_second_bid_must_replace_the_first(world: World) -> None:
    tender = world.tender()
    first = world.bid("a", tender, {1: "10.00"})
    before = world.footprint()
    with pytest.raises(Conflict, match="Ya tiene una proposición vigente"):
        world.bid("a", tender, {1: "9.00"})
    assert world.footprint() == before
    second = world.bid("a", tender, {1: "9.00"}, replaces=first.bid_id)
    assert second.replaces == first.bid_id
    with pytest.raises(Conflict, match="ya fue sustituida o retirada"):
        world.bid("a", tender, {1: "8.00"}, replaces=first.bid_id)
    seal = world.entries(tender, "bid.seal")[-1].data()
    assert seal == {
        "number": tender.number,
        "bid": second.bid_id,
        "commitment": second.commitment,
        "received_at": world.now.isoformat(timespec="microseconds"),
        "replaces": first.bid_id,
    }


def test_a_replacement_racing_a_withdrawal_is_refused(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The supplier withdraws its bid (from another window) after a replacement has read it as
    sealed but before it writes: the replacement is refused and writes nothing, rather than
    replacing a withdrawn bid."""
    tender = world.tender()
    first = world.bid("a", tender, {1: "10.00"})
    read_it = service._submission_facts

    def withdrawn_meanwhile(*args: Any, **kwargs: Any) -> Any:
        found = read_it(*args, **kwargs)
        # The other window's withdrawal, committed now, after the replacement read it as sealed.
        world.db.execute(
            update(Bid)
            .where(Bid.id == first.bid_id)
            .values(status=service.WITHDRAWN, withdrawn_at=world.now)
            .execution_options(synchronize_session=False)
        )
        return found

    monkeypatch.setattr(service, "_submission_facts", withdrawn_meanwhile)
    head, counts, _ = world.footprint()
    with pytest.raises(Conflict, match=f"La proposición {first.bid_id} ya fue sustituida"):
        world.bid("a", tender, {1: "9.00"}, replaces=first.bid_id)
    assert world.footprint()[:2] == (head, counts)
    world.db.expire_all()
    statuses = world.db.scalars(select(Bid.status).where(Bid.tender_id == tender.id)).all()
    assert statuses == [service.WITHDRAWN]


def _read_as(monkeypatch: pytest.MonkeyPatch, **stale: Any) -> None:
    """The submission's read reports these facts, as a read made before another request of
    the same supplier committed would have."""
    read_it = service._submission_facts

    def read_before_the_other(*args: Any, **kwargs: Any) -> Any:
        return SimpleNamespace(**{**read_it(*args, **kwargs)._asdict(), **stale})

    monkeypatch.setattr(service, "_submission_facts", read_before_the_other)


def test_a_second_bid_racing_the_first_is_refused_by_the_database(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two first bids of a supplier both read "no standing bid"; the one that writes second
    meets the unique index on sealed bids and is refused with a message, not a 500."""
    tender = world.tender()
    first = world.bid("a", tender, {1: "10.00"})
    _read_as(monkeypatch, has_sealed=False)
    savepoint = world.db.begin_nested()
    with pytest.raises(Conflict, match=f"Otra proposición suya para la licitación {tender.number}"):
        world.bid("a", tender, {1: "9.00"})
    savepoint.rollback()
    assert world.db.scalars(select(Bid.id).where(Bid.tender_id == tender.id)).all() == [
        first.bid_id
    ]


def test_an_idempotency_key_racing_its_twin_is_refused_by_the_database(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request whose Idempotency-Key another request stored after it read is refused (the
    client repeats it and gets the receipt), and writes nothing."""
    tender = world.tender()
    first = world.bid("a", tender, {1: "10.00"}, idempotency_key="clave-1")
    second = world.bid("a", tender, {1: "9.00"}, idempotency_key="clave-2", replaces=first.bid_id)
    _read_as(monkeypatch, earlier_bid=None, earlier_digest=None)
    savepoint = world.db.begin_nested()
    with pytest.raises(Conflict, match="Otra solicitud con la misma Idempotency-Key"):
        world.bid("a", tender, {1: "8.00"}, idempotency_key="clave-1", replaces=second.bid_id)
    savepoint.rollback()
    standing = world.db.scalars(
        select(Bid.id).where(Bid.tender_id == tender.id, Bid.status == service.SEALED)
    ).all()
    assert standing == [second.bid_id]


def test_nobody_replaces_or_withdraws_anothers_bid(world: World) -> None:
    tender = world.tender()
    theirs = world.bid("a", tender, {1: "10.00"})
    before = world.footprint()
    with pytest.raises(NotFound) as replacing:
        world.bid("b", tender, {1: "9.00"}, replaces=theirs.bid_id)
    with pytest.raises(NotFound) as withdrawing:
        service.withdraw_bid(
            world.as_supplier("b"), world.sealer, tender_id=tender.id, bid_id=theirs.bid_id
        )
    with pytest.raises(NotFound) as unknown:
        service.withdraw_bid(
            world.as_supplier("b"), world.sealer, tender_id=tender.id, bid_id="f" * 32
        )
    # "Not yours" and "does not exist" read the same: no probing of others' bids.
    assert withdrawing.value.detail.replace(theirs.bid_id, "X") == unknown.value.detail.replace(
        "f" * 32, "X"
    )
    assert PARTIES["a"].name not in replacing.value.detail
    assert world.footprint() == before


def test_withdrawing_twice_or_after_the_deadline_is_refused(world: World) -> None:
    tender = world.tender()
    bid = world.bid("a", tender, {1: "10.00"})
    service.withdraw_bid(
        world.as_supplier("a"), world.sealer, tender_id=tender.id, bid_id=bid.bid_id
    )
    with pytest.raises(Conflict):
        service.withdraw_bid(
            world.as_supplier("a"), world.sealer, tender_id=tender.id, bid_id=bid.bid_id
        )
    again = world.bid("a", tender, {1: "11.00"})
    world.clock.set(tender.bid_deadline)
    before = world.footprint()
    with pytest.raises(Conflict, match="cerró"):
        service.withdraw_bid(
            world.as_supplier("a"), world.sealer, tender_id=tender.id, bid_id=again.bid_id
        )
    assert world.footprint() == before


def test_only_a_supplier_user_bids(world: World) -> None:
    tender = world.tender()
    before = world.footprint()
    with pytest.raises(Forbidden, match="proveedor"):
        service.submit_bid(world.buyer(), world.sealer, tender_id=tender.id, lines=[line(1, "5")])
    assert world.footprint() == before


def test_the_supplier_reads_its_own_bids_unsealed_and_nobody_elses(world: World) -> None:
    tender = world.tender()
    first = world.bid("a", tender, {1: "7319.47"})
    world.clock.advance(timedelta(minutes=1))
    second = world.bid("a", tender, {1: "7300.00", 3: "88.10"}, replaces=first.bid_id)
    world.bid("b", tender, {2: "640.10"})
    mine = service.my_bids(world.as_supplier("a"), world.sealer, tender_id=tender.id)
    assert [(own.bid.id, own.bid.status) for own in mine] == [
        (first.bid_id, "replaced"),
        (second.bid_id, "sealed"),
    ]
    assert mine[1].receipt.commitment == second.commitment
    assert mine[1].receipt.salt == second.salt
    assert [(ln["partida"], ln["unit_price"]) for ln in mine[1].lines] == [
        (1, "7300.00"),
        (3, "88.10"),
    ]
    assert service.my_bids(world.as_supplier("c"), world.sealer, tender_id=tender.id) == []
    [(listed, own)] = [
        (t, bids) for t, bids in service.my_tenders(world.as_supplier("b"), world.sealer)
    ]
    assert listed.id == tender.id
    assert [o.lines[0]["unit_price"] for o in own] == ["640.10"]


def test_an_invitacion_is_listed_only_to_its_invited(world: World) -> None:
    open_one = world.tender()
    invited_only = world.tender("invitacion", invited=("a", "b", "c"))
    for key, expected in (("a", {open_one.id, invited_only.id}), ("d", {open_one.id})):
        listed = {t.id for t, _ in service.my_tenders(world.as_supplier(key), world.sealer)}
        assert listed == expected


def test_before_the_opening_public_bids_show_only_id_arrival_and_commitment(
    world: World,
) -> None:
    tender = world.tender()
    receipt = world.bid("a", tender, {1: "7319.47"})
    withdrawn = world.bid("b", tender, {1: "10.00"})
    service.withdraw_bid(
        world.as_supplier("b"), world.sealer, tender_id=tender.id, bid_id=withdrawn.bid_id
    )
    [shown] = service.public_bids(world.db, tender)
    assert shown == service.PublicBid(receipt.bid_id, world.now, receipt.commitment, "sealed")
    [summary] = service.list_tenders(world.buyer()).items
    assert summary.sealed == 1
    stored = world.db.get(Bid, receipt.bid_id)
    assert stored is not None
    assert stored.supplier_id is None
    assert b"7319.47" not in stored.ciphertext
    assert stored.owner_tag != str(world.suppliers["a"].id)

    world.clock.set(tender.opening_at)
    world.open_now(tender)
    [opened] = service.public_bids(world.db, tender)
    assert opened.supplier is not None
    assert opened.supplier.rfc == PARTIES["a"].rfc
    assert [(ln.partida_number, ln.unit_price, ln.quantity) for ln in opened.lines] == [
        (1, Decimal("7319.47"), PARTIDAS[0][2])
    ]


def test_a_sheet_bid_offers_the_maximum_where_no_quantity_is_given(world: World) -> None:
    tender = world.tender()
    _, template = service.bid_template(world.as_supplier("a"), tender_id=tender.id)
    filled = fill_template(template, {1: 7319.47, 3: "88.10"}, quantities={3: 12})
    receipt = service.submit_bid_sheet(
        world.as_supplier("a"),
        world.sealer,
        tender_id=tender.id,
        content=filled,
        filename="proposicion.xlsx",
        idempotency_key="hoja-1",
    )
    [own] = service.my_bids(world.as_supplier("a"), world.sealer, tender_id=tender.id)
    assert own.receipt.bid_id == receipt.bid_id
    assert [(ln["partida"], ln["unit_price"], ln["quantity"]) for ln in own.lines] == [
        (1, "7319.47", PARTIDAS[0][2]),
        (3, "88.10", 12),
    ]
    assert own.lines[0]["manufacturer"] == "Fabricante de la Hoja"
    again = service.submit_bid_sheet(
        world.as_supplier("a"),
        world.sealer,
        tender_id=tender.id,
        content=filled,
        filename="otra-vez.xlsx",
        idempotency_key="hoja-1",
    )
    assert again == receipt


def test_a_desierta_partida_takes_no_bids_and_leaves_the_template(world: World) -> None:
    tender = world.tender()
    service.declare_desierta(world.buyer(), tender_id=tender.id, partida=2, reason="Sin demanda")
    with pytest.raises(ValidationFailed, match="1 problema"):
        world.bid("a", tender, {2: "10.00"})
    _, template = service.bid_template(world.as_supplier("a"), tender_id=tender.id)
    with pytest.raises(KeyError):
        fill_template(template, {2: 10})
    with pytest.raises(Conflict):
        service.declare_desierta(world.buyer(), tender_id=tender.id, partida=2, reason="Otra vez")
    with pytest.raises(NotFound):
        service.declare_desierta(world.buyer(), tender_id=tender.id, partida=9, reason="No existe")


# ----- building, publishing, amending, cancelling --------------------------------------------


def test_a_draft_is_seen_only_by_buyers_and_auditors(world: World) -> None:
    draft = world.tender(publish=False)
    with pytest.raises(NotFound):
        service.view_tender(world.as_supplier("a"), draft.id)
    with pytest.raises(NotFound):
        world.bid("a", draft, {1: "10.00"})
    assert service.view_tender(world.buyer(), draft.id) is draft
    assert service.list_tenders(world.as_supplier("a")).total == 0


def test_creating_a_tender_reports_every_problem_and_writes_nothing(world: World) -> None:
    before = world.footprint()
    with pytest.raises(ValidationFailed) as refused:
        service.create_tender(
            world.buyer(),
            world.sealer,
            title=" ",
            procedure="licitacion_express",
            partidas=[service.PartidaInput("999.999.9999.99", 1, 2)],
            invited=["XAXX010101000"],
            **plan_for("licitacion_nacional", world.now).as_kwargs(),
        )
    fields = [p.field for p in refused.value.problems]
    assert fields == ["title", "procedure", "invited[0]"]
    with pytest.raises(ValidationFailed) as bad_partidas:
        service.create_tender(
            world.buyer(),
            world.sealer,
            title="Compra",
            procedure="licitacion_nacional",
            partidas=[
                service.PartidaInput("999.999.9999.99", 1, 2),
                service.PartidaInput(PARTIDAS[0][0], 5, 2),
                service.PartidaInput(PARTIDAS[0][0], 1, 2),
            ],
            **plan_for("licitacion_nacional", world.now).as_kwargs(),
        )
    assert [p.field for p in bad_partidas.value.problems] == [
        "partidas[0]",
        "partidas[1]",
        "partidas[2]",
    ]
    with pytest.raises(ValidationFailed, match="no lleva invitados"):
        world.tender(invited=("a",), publish=False)
    assert world.footprint() == before


@pytest.mark.parametrize(
    ("procedure", "invited", "fields"),
    [
        ("invitacion", ("a", "b"), ["invited"]),
        ("adjudicacion_directa", ("a", "b"), ["invited"]),
        ("adjudicacion_directa", (), ["invited"]),
    ],
)
def test_publishing_checks_the_invitations_of_the_procedure(
    world: World, procedure: str, invited: tuple[str, ...], fields: list[str]
) -> None:
    draft = world.tender(procedure, invited=invited, publish=False)
    with pytest.raises(ValidationFailed) as refused:
        service.publish_tender(world.buyer(), tender_id=draft.id)
    assert [p.field for p in refused.value.problems] == fields


def test_an_adjudicacion_without_legal_basis_is_not_published(world: World) -> None:
    draft = world.tender(
        "adjudicacion_directa", legal_basis=None, justification="corta", publish=False
    )
    with pytest.raises(ValidationFailed) as refused:
        service.publish_tender(world.buyer(), tender_id=draft.id)
    assert [p.field for p in refused.value.problems] == ["legal_basis", "justification"]


def test_publishing_records_the_rules_it_was_published_under(world: World) -> None:
    tender = world.tender("invitacion")
    [published] = world.entries(tender, "tender.publish")
    data = published.data()
    assert data["procedure_label"] == "Invitación a cuando menos tres personas"
    assert sorted(data["invited"]) == sorted(PARTIES[k].rfc for k in ("a", "b", "c"))
    assert data["periods"] == rules.procedure("invitacion").periods.as_dict()
    assert data["partidas"] == 3
    assert len(data["partidas_sha256"]) == 64
    with pytest.raises(Conflict, match="ya fue publicada"):
        service.publish_tender(world.buyer(), tender_id=tender.id)


def test_a_stale_version_is_refused(world: World) -> None:
    draft = world.tender(publish=False)
    with pytest.raises(Conflict) as refused:
        service.publish_tender(world.buyer(), tender_id=draft.id, version=draft.version + 1)
    assert refused.value.problems[0].field == "version"


def test_a_late_amendment_moves_the_deadline_and_an_early_one_does_not(world: World) -> None:
    tender = world.tender()
    old = timeline(tender)
    early = service.amend_tender(
        world.buyer(),
        tender_id=tender.id,
        description="Se corrige la descripción de la partida 2.",
    )
    assert early.changes == {}
    assert tender.bid_deadline == old.bid_deadline
    world.clock.set(old.bid_deadline - timedelta(days=2))
    late = service.amend_tender(
        world.buyer(), tender_id=tender.id, description="Cambia la presentación de la partida 1."
    )
    days = rules.procedure(tender.procedure).periods.late_amendment_days
    assert tender.bid_deadline == world.now + timedelta(days=days)
    assert tender.opening_at - old.opening_at == tender.bid_deadline - old.bid_deadline
    assert set(late.changes) == {"bid_deadline", "opening_at", "fallo_at"}
    assert world.entries(tender, "tender.amend")[-1].data()["extended"] is True
    world.clock.set(tender.bid_deadline)
    with pytest.raises(Conflict, match="cerró"):
        service.amend_tender(world.buyer(), tender_id=tender.id, description="Demasiado tarde.")


def test_a_cancelled_tender_takes_nothing_more(world: World) -> None:
    tender = world.tender()
    world.bid("a", tender, {1: "10.00"})
    with pytest.raises(ValidationFailed):
        service.cancel_tender(world.buyer(), tender_id=tender.id, reason="corto")
    service.cancel_tender(
        world.buyer(), tender_id=tender.id, reason="La demanda se atenderá por otra vía."
    )
    before = world.footprint()
    with pytest.raises(Conflict, match="cancelada"):
        world.bid("b", tender, {1: "10.00"})
    with pytest.raises(Conflict, match="cancelada"):
        service.ask_question(world.as_supplier("b"), tender_id=tender.id, text="¿Por qué?")
    world.clock.set(tender.opening_at)
    assert world.tick().applied == []
    assert world.footprint() == before
    assert world.db.scalars(select(Bid.status)).all() == ["sealed"]


def test_questions_are_published_without_their_author(world: World) -> None:
    tender = world.tender()
    question = service.ask_question(
        world.as_supplier("a"), tender_id=tender.id, text="  ¿Se   acepta  caja de 20? ", partida=2
    )
    assert (question.number, question.text, question.partida_number) == (
        1,
        "¿Se acepta caja de 20?",
        2,
    )
    [asked] = world.entries(tender, "question.ask")
    assert asked.actor == "licitante"
    assert PARTIES["a"].rfc not in asked.payload
    with pytest.raises(ValidationFailed):
        service.ask_question(world.as_supplier("a"), tender_id=tender.id, text="¿?")
    with pytest.raises(ValidationFailed):
        service.ask_question(
            world.as_supplier("a"), tender_id=tender.id, text="¿Y esta?", partida=7
        )
    service.answer_question(world.buyer(), tender_id=tender.id, number=1, answer="No.")
    with pytest.raises(Conflict):
        service.answer_question(world.buyer(), tender_id=tender.id, number=1, answer="Sí.")
    with pytest.raises(NotFound):
        service.answer_question(world.buyer(), tender_id=tender.id, number=2, answer="Sí.")


def test_due_tenders_are_found_at_the_exact_second(world: World) -> None:
    tender = world.tender()
    for at, due in (
        (tender.clarification_deadline - SECOND, []),
        (tender.clarification_deadline, [tender.id]),
    ):
        assert service.due_tenders(world.db, at) == due
    world.clock.set(tender.clarification_deadline)
    world.tick()
    assert service.due_tenders(world.db, tender.bid_deadline - SECOND) == []
    assert service.due_tenders(world.db, tender.bid_deadline) == [tender.id]


# ----- a stuck opening -----------------------------------------------------------------------


def stuck(world: World, monkeypatch: pytest.MonkeyPatch) -> Tender:
    """A tender whose opening the tick held for the buyer's attention (a poisoned bid)."""
    tender = world.tender()
    world.clock.set(tender.clarification_deadline)
    world.bid("b", tender, {1: "101.00"})
    seal_poison(world, "a", tender, monkeypatch)
    world.clock.set(tender.opening_at)
    world.tick(finish=True)
    assert tender.status == rules.OPENING
    assert tender.attention_at is not None
    return tender


def test_the_buyer_suspends_a_stuck_opening_with_a_reason_then_cancels_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    tender = stuck(world, monkeypatch)
    with pytest.raises(ValidationFailed, match="motivo"):
        service.suspend_opening(world.buyer(), tender_id=tender.id, reason="no")

    service.suspend_opening(
        world.buyer(), tender_id=tender.id, reason="Una proposición no se pudo registrar."
    )
    assert tender.status == rules.SUSPENDED
    [suspended] = world.entries(tender, "tender.suspend")
    assert suspended.public is True
    assert "Una proposición no se pudo registrar." in suspended.payload
    assert "tender.suspend" in world.feed(tender)
    assert service.due_tenders(world.db, world.now) == []

    service.cancel_tender(
        world.buyer(), tender_id=tender.id, reason="La apertura no pudo concluir; se repone."
    )
    assert tender.status == rules.CANCELLED
    assert world.entries(tender, "tender.cancel")


def test_a_stuck_opening_may_be_cancelled_but_a_healthy_one_may_not(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    healthy = world.tender()
    world.clock.set(healthy.opening_at)
    service.start_opening(world.buyer(), tender_id=healthy.id)
    with pytest.raises(Conflict):
        service.cancel_tender(world.buyer(), tender_id=healthy.id, reason="Por cualquier motivo.")
    with pytest.raises(Conflict, match="no requiere atención"):
        service.suspend_opening(world.buyer(), tender_id=healthy.id, reason="Por cualquier motivo.")

    world.clock.set(world.now - timedelta(days=30))
    tender = stuck(world, monkeypatch)
    service.cancel_tender(
        world.buyer(), tender_id=tender.id, reason="La apertura no pudo concluir."
    )
    assert tender.status == rules.CANCELLED


def test_a_suspended_opening_resumes_where_it_stopped(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    tender = stuck(world, monkeypatch)
    service.suspend_opening(world.buyer(), tender_id=tender.id, reason="Revisión de la base.")
    with pytest.raises(ValidationFailed):
        service.resume_opening(world.buyer(), tender_id=tender.id, reason="")
    service.resume_opening(world.buyer(), tender_id=tender.id, reason="Se corrigió la falla.")
    assert (tender.status, tender.attention_at) == (rules.OPENING, None)
    assert "tender.resume" in world.feed(tender)
    with pytest.raises(Conflict):
        service.resume_opening(world.buyer(), tender_id=tender.id, reason="Otra vez, por si acaso.")


def test_a_receipt_names_its_leaf_and_the_latest_checkpoint_and_is_proven_later(
    world: World, signer: Signer
) -> None:
    tender = world.tender()
    before = checkpoints.publish(world.db, signer, now=world.now)

    receipt = world.bid("a", tender, {1: "10.00"}, idempotency_key="k-1")

    [seal] = world.entries(tender, "bid.seal")
    assert receipt.ledger_seq is not None
    assert receipt.ledger_hash is not None
    assert (receipt.ledger_seq, receipt.ledger_hash) == (seal.seq, seal.hash)
    assert receipt.checkpoint == before.note
    assert receipt.ledger_seq > before.tree_size
    # A replay of the same request names the same entry.
    again = world.bid("a", tender, {1: "10.00"}, idempotency_key="k-1")
    assert (again.ledger_seq, again.ledger_hash) == (seal.seq, seal.hash)

    # The next checkpoint (the tick's) covers it: its inclusion proof holds.
    world.clock.advance(timedelta(minutes=5))
    ticker = replace(world.ticker(), signer=signer, checkpoint_seconds=60)
    size = ticker.tick().checkpoint
    assert size is not None
    assert size >= receipt.ledger_seq
    assert replace(world.ticker(), signer=signer).tick().checkpoint is None
    root = signer.verifier.open(checkpoints.latest(world.db).note).root  # type: ignore[union-attr]
    proof = checkpoints.inclusion(world.db, seq=receipt.ledger_seq, tree_size=size)
    leaf = merkle.leaf_hash(bytes.fromhex(receipt.ledger_hash))
    assert merkle.verify_inclusion(receipt.ledger_seq - 1, size, leaf, proof.path, root)


def test_a_rounds_draft_tenders_a_subset_of_its_claves_and_takes_one_back(world: World) -> None:
    """Issue 18, item 4: a draft of a round drops claves and takes them back, with each
    institution's demand, numbered again; it never takes a clave from outside its round."""
    from tests.award.test_service import ROUND, frozen_round

    frozen_round(world)
    tender = service.create_tender(
        world.buyer(),
        world.sealer,
        title="Compra consolidada",
        procedure="licitacion_nacional",
        round_name=ROUND,
        **plan_for("licitacion_nacional", world.now).as_kwargs(),
    )
    every = [p.clave.clave for p in tender.partidas]
    assert len(every) == 3
    service.edit_draft(world.buyer(), tender_id=tender.id, claves=[every[2]])
    assert [(p.number, p.clave.clave) for p in tender.partidas] == [(1, every[2])]
    service.edit_draft(world.buyer(), tender_id=tender.id, claves=[every[0], every[2]])
    assert [(p.number, p.clave.clave) for p in tender.partidas] == [(1, every[0]), (2, every[2])]
    assert all(p.demands for p in tender.partidas)
    with pytest.raises(ValidationFailed, match="No se cambió el borrador"):
        service.edit_draft(world.buyer(), tender_id=tender.id, claves=[])
    service.publish_tender(world.buyer(), tender_id=tender.id)
    with pytest.raises(Conflict, match="ya no es un borrador"):
        service.edit_draft(world.buyer(), tender_id=tender.id, title="Tarde")
