"""Evaluation and award on the real database: prices, references, evaluations, the fallo.

The helpers here build opened tenders through the services (the tendering ``world`` of
``tests/tendering/conftest.py``); the API, end-to-end and CLI tests of the award use them too.
"""

from __future__ import annotations

import io
import json
import random
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from abasto.award import rules, service
from abasto.award.models import (
    ContractDraft,
    Fallo,
    FalloLine,
    FalloOutcome,
    FalloPartida,
    PriceObservation,
    TechnicalEvaluation,
)
from abasto.core import checkpoints, ledger, merkle
from abasto.core.context import Context
from abasto.core.errors import AbastoError, Conflict, NotFound, ValidationFailed
from abasto.core.ledger import LedgerEntry
from abasto.core.signed_note import Signer
from abasto.demand import service as demand
from abasto.demand.rules import DEFAULT_MIN_SHARE, minimum_for
from abasto.identity import service as identity
from abasto.identity.models import Role
from abasto.tendering import rules as tendering_rules
from abasto.tendering import service as tendering
from abasto.tendering.models import Tender
from tests.award.test_prices import CPV, FICTIONAL, GBP, OCID, PACKAGE, RECORD, jsonl, priced
from tests.conftest import PASSWORD, xlsx
from tests.tendering import conftest as tendering_world
from tests.tendering.conftest import (
    ASPIRINA,
    NICOTINA,
    PARACETAMOL,
    PARTIDAS,
    PARTIES,
    World,
    line,
    plan_for,
)

world = tendering_world.world
cheap_passwords = tendering_world.cheap_passwords

REFERENCE = {PARACETAMOL: Decimal("10.00"), ASPIRINA: Decimal("20.00"), NICOTINA: Decimal("50.00")}
MODES = list(rules.Mode)
NOT_VALID = "El registro sanitario presentado venció en 2024."

Offer = object | tuple[object, int]
"""A bid line as a price (the partida's whole maximum offered) or (price, quantity)."""


# ----- building blocks -----------------------------------------------------------------------


def price_list(prices: Mapping[str, object], source: str = "Investigación de mercado") -> bytes:
    rows = "".join(f'{clave},{price},"{source}"\n' for clave, price in prices.items())
    return f"Clave,Precio unitario,Fuente\n{rows}".encode()


def import_references(
    world: World, prices: Mapping[str, object] = REFERENCE, source: str = "Investigación"
) -> service.PriceImportSummary:
    return service.import_prices(
        world.buyer(), content=price_list(prices, source), filename="referencias.csv"
    )


def draft_tender(world: World, award: Mapping[str, object] | None = None) -> Tender:
    """A draft licitación of the world's three partidas by hand, with the award terms of its
    call (``award``), planned from now."""
    return tendering.create_tender(
        world.buyer(),
        world.sealer,
        title="Medicamentos del primer nivel",
        procedure="licitacion_nacional",
        partidas=[tendering.PartidaInput(c, lo, hi) for c, lo, hi in PARTIDAS],
        award=award,
        **plan_for("licitacion_nacional", world.now).as_kwargs(),
    )


@dataclass(frozen=True, slots=True)
class Opened:
    """A tender whose opening is over, and the bid id of each party that bid."""

    tender: Tender
    bids: dict[str, str]


def submit(world: World, key: str, tender: Tender, offers: Mapping[int, Offer]) -> str:
    """The party's sealed bid; its bid id."""
    maxima = {p.number: p.max_qty for p in tendering.partidas_of(world.db, tender.id)}
    lines = []
    for number, offer in offers.items():
        price, quantity = offer if isinstance(offer, tuple) else (offer, maxima[number])
        lines.append(line(number, price, quantity))
    receipt = tendering.submit_bid(
        world.as_supplier(key), world.sealer, tender_id=tender.id, lines=lines
    )
    return receipt.bid_id


def opened_tender(
    world: World,
    offers: Mapping[str, Mapping[int, Offer]],
    *,
    award: Mapping[str, object] | None = None,
    draft: Tender | None = None,
) -> Opened:
    """A draft (three partidas by hand with the ``award`` terms, unless given) published, the
    parties' bids, and its opening done at its time."""
    tender = draft or draft_tender(world, award)
    tendering.publish_tender(world.buyer(), tender_id=tender.id)
    bids = {key: submit(world, key, tender, lines) for key, lines in offers.items()}
    # As each bid's own request would: its commitment reaches the ledger as it commits.
    world.db.commit()
    world.clock.set(tender.opening_at)
    world.open_now(tender)
    return Opened(tender, bids)


def evaluator(world: World) -> Context:
    return Context(db=world.db, actor=identity.actor_of(world.users["evaluador"]), now=world.now)


def verdicts_with(
    world: World, opened: Opened, failing: Sequence[tuple[str, int]] = ()
) -> list[service.Verdict]:
    """The proposed verdicts, with the registro sanitario of each (party, partida) in
    ``failing`` found not valid."""
    bad = {(opened.bids[key], partida) for key, partida in failing}
    return [
        replace(v, complies=False, reason=NOT_VALID)
        if (v.bid_id, v.partida) in bad and v.requirement == "registro_sanitario"
        else v
        for v in service.propose_verdicts(world.db, opened.tender.id)
    ]


def evaluate(
    world: World, opened: Opened, failing: Sequence[tuple[str, int]] = ()
) -> service.Recorded:
    return service.record_evaluations(
        evaluator(world),
        tender_id=opened.tender.id,
        verdicts=verdicts_with(world, opened, failing),
    )


AWARD_TABLES: tuple[type[Any], ...] = (
    PriceObservation,
    TechnicalEvaluation,
    Fallo,
    FalloLine,
    FalloPartida,
    FalloOutcome,
    ContractDraft,
)


def footprint(world: World) -> tuple[object, ...]:
    """What a refused request must leave as it was: the tendering footprint, the award tables,
    every tender's status."""
    counts = tuple(
        world.db.scalar(select(func.count()).select_from(table)) or 0 for table in AWARD_TABLES
    )
    statuses = tuple(world.db.execute(select(Tender.id, Tender.status).order_by(Tender.id)))
    return (world.footprint(), counts, statuses)


def stored_award(db: Session, tender: Tender) -> tuple[rules.Instance, rules.AwardResult]:
    """The stored fallo read back as the core's result, with the instance it was decided on
    (the reference prices it stored: the fallo's own prices are market research since)."""
    fallo = service.get_fallo(db, tender.id)
    built = service.build_instance(db, tender)
    partidas = service.fallo_partidas(db, fallo)
    reference = {p.partida_number: p.reference_price for p in partidas}
    instance = replace(
        built.instance,
        partidas=tuple(
            replace(p, reference_price=reference[p.number] or p.reference_price)
            for p in built.instance.partidas
        ),
    )
    clave = {p.number: p.clave for p in instance.partidas}
    rfc = {supplier_id: rfc for rfc, supplier_id in built.suppliers.items()}
    winners: dict[int, list[rules.Winner]] = defaultdict(list)
    for stored in fallo.lines:
        winners[stored.partida_number].append(
            rules.Winner(stored.bid_id, rfc[stored.supplier_id], stored.quantity, stored.unit_price)
        )
    result = rules.AwardResult(
        mode=rules.Mode(fallo.mode),
        status=fallo.status,
        partidas=tuple(
            rules.PartidaAward(
                number=p.partida_number,
                clave=clave[p.partida_number],
                demand=p.demand,
                winners=tuple(winners[p.partida_number]),
                uncovered=p.demand - p.awarded,
                reason=(
                    rules.Reason(rules.Shortfall(p.reason_code), p.reason or "")
                    if p.reason_code
                    else None
                ),
            )
            for p in partidas
        ),
        objective=fallo.total,
    )
    return instance, result


def awarded(db: Session, tender: Tender) -> dict[int, list[tuple[str, int, Decimal]]]:
    """Per partida number, the winners as (bid id, quantity, unit price), in bid-id order."""
    found: dict[int, list[tuple[str, int, Decimal]]] = defaultdict(list)
    for stored in sorted(service.get_fallo(db, tender.id).lines, key=lambda x: x.bid_id):
        found[stored.partida_number].append((stored.bid_id, stored.quantity, stored.unit_price))
    return dict(found)


# A demand round of three institutions, for tenders whose partidas carry each one's demand.
ROUND = "2027-2028"
DEMAND = {
    "IMSS": {PARACETAMOL: 1_000, ASPIRINA: 300, NICOTINA: 41},
    "ISSSTE": {PARACETAMOL: 500, ASPIRINA: 170},
    "SEDENA": {PARACETAMOL: 251, NICOTINA: 19},
}


def frozen_round(world: World) -> None:
    """``ROUND`` opened by the buyer, each institution's lines set and submitted by its own
    planner, and frozen."""
    buyer = world.buyer()
    for code in DEMAND:
        identity.register_institution(buyer, code=code, name=f"Institución {code}", kind="x")
    demand.open_round(buyer, name=ROUND, periods=["2027", "2028"], institutions=list(DEMAND))
    for code, lines in DEMAND.items():
        user = identity.create_user(
            buyer,
            username=f"plan.{code.lower()}",
            full_name=f"Planeación {code}",
            password=PASSWORD,
            role=Role.institucion,
            institution_code=code,
        )
        planner = Context(db=world.db, actor=identity.actor_of(user), now=world.now)
        for clave, high in lines.items():
            demand.set_line(
                planner,
                round_name=ROUND,
                institution_code=code,
                clave=clave,
                min_qty=minimum_for(high, DEFAULT_MIN_SHARE),
                max_qty=high,
                version=None,
            )
        demand.submit_demand(planner, round_name=ROUND, institution_code=code)
    demand.freeze_round(world.buyer(), name=ROUND)


def round_tender(world: World, award: Mapping[str, object] | None = None) -> Tender:
    """A draft licitación of the frozen ``ROUND``: one partida per clave, with its demands."""
    frozen_round(world)
    return tendering.create_tender(
        world.buyer(),
        world.sealer,
        title="Compra consolidada 2027-2028",
        procedure="licitacion_nacional",
        round_name=ROUND,
        award=award,
        **plan_for("licitacion_nacional", world.now).as_kwargs(),
    )


def numbers(db: Session, tender: Tender) -> dict[str, int]:
    """Clave → partida number."""
    return {p.clave.clave: p.number for p in tendering.partidas_of(db, tender.id)}


def by_clave(db: Session, tender: Tender, offers: Mapping[str, Offer]) -> dict[int, Offer]:
    number = numbers(db, tender)
    return {number[clave]: offer for clave, offer in offers.items()}


def assert_drafts_apportion_the_award(db: Session, tender: Tender) -> int:
    """Every winner's quantity split over the institutions exactly, in proportion to their
    demand (``rules.apportion_lots``), no line below the partida's minimum lot unless the whole
    winner's quantity is, at the winner's price; returns how many drafts there are."""
    fallo = service.get_fallo(db, tender.id)
    deliveries = fallo.parameters.get("lot_deliveries")
    demands: dict[int, dict[int, int]] = defaultdict(dict)
    lots: dict[int, int] = {}
    for partida in tendering.partidas_of(db, tender.id):
        lots[partida.id] = 1 if deliveries is None else -(-partida.max_qty // deliveries)
        for asked in partida.demands:
            demands[partida.id][asked.institution_id] = asked.max_qty
    drafts: dict[tuple[int, int], list[ContractDraft]] = defaultdict(list)
    for draft in service.contract_drafts(db, fallo):
        drafts[(draft.partida_id, draft.supplier_id)].append(draft)
    winners = {(w.partida_id, w.supplier_id): w for w in fallo.lines}
    assert set(drafts) == set(winners)
    for key, winner in winners.items():
        mine = drafts[key]
        assert sum(d.max_qty for d in mine) == winner.quantity, key
        stated = demands[winner.partida_id]
        institutions = sorted(stated)
        shares = rules.apportion_lots(
            winner.quantity, [stated[i] for i in institutions], lots[winner.partida_id]
        )
        expected = {i: q for i, q in zip(institutions, shares, strict=True) if q}
        assert {d.institution_id: d.max_qty for d in mine} == expected, key
        for draft in mine:
            assert draft.max_qty >= min(lots[winner.partida_id], winner.quantity), key
            assert 0 <= draft.min_qty <= draft.max_qty
            assert draft.unit_price == winner.unit_price
    return sum(len(found) for found in drafts.values())


# ----- apportion -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "weights", "shares"),
    [
        (100, [1, 1, 2], [25, 25, 50]),
        (10, [1, 1, 1], [4, 3, 3]),
        (7, [5, 3, 2], [4, 2, 1]),
        (1751, [1000, 500, 251], [1000, 500, 251]),
        (1051, [1000, 500, 251], [600, 300, 151]),
        (5, [0, 3], [0, 5]),
        (3, [7], [3]),
    ],
)
def test_apportion_adds_up_exactly_in_proportion(
    total: int, weights: list[int], shares: list[int]
) -> None:
    assert rules.apportion(total, weights) == shares
    assert sum(shares) == total


def test_apportion_gives_a_tied_remainder_to_the_earlier_weight() -> None:
    assert rules.apportion(1, [1, 1]) == [1, 0]
    assert rules.apportion(2, [1, 1, 1]) == [1, 1, 0]
    assert rules.apportion(5, [2, 4, 2, 4]) == [1, 2, 1, 1]
    assert rules.apportion(3, [3, 1, 1, 1]) == [2, 1, 0, 0]


def test_apportion_of_nothing_or_over_no_weight_is_all_zero() -> None:
    assert rules.apportion(0, [3, 4]) == [0, 0]
    assert rules.apportion(10, [0, 0, 0]) == [0, 0, 0]
    assert rules.apportion(10, []) == []


def test_apportion_never_strays_a_unit_from_the_exact_share() -> None:
    rng = random.Random(5)
    for _ in range(2_000):
        weights = [rng.choice((0, 1, rng.randrange(1, 10**6))) for _ in range(rng.randrange(1, 9))]
        total = rng.randrange(0, 10**7)
        shares = rules.apportion(total, weights)
        whole = sum(weights)
        if not whole:
            continue
        assert sum(shares) == total
        for share, weight in zip(shares, weights, strict=True):
            assert abs(share * whole - total * weight) < whole
            assert weight or not share


# ----- market research -----------------------------------------------------------------------


def test_a_price_list_is_stored_with_its_sources_and_on_the_ledger(world: World) -> None:
    summary = import_references(world, {PARACETAMOL: "10.10", ASPIRINA: "20.50"})

    assert (summary.kind, summary.prices, summary.claves, summary.unknown_claves) == (
        "lista",
        2,
        2,
        0,
    )
    stored = world.db.scalars(select(PriceObservation).order_by(PriceObservation.id)).all()
    assert [(o.source_kind, o.source, o.unit_price, o.import_id) for o in stored] == [
        ("lista", "Investigación", Decimal("10.10"), summary.import_id),
        ("lista", "Investigación", Decimal("20.50"), summary.import_id),
    ]
    entry = world.db.scalars(select(LedgerEntry).where(LedgerEntry.action == "prices.import")).one()
    assert entry.entity == f"prices:{summary.import_id}"
    assert entry.data()["prices"] == 2


def test_the_reference_is_the_median_of_an_odd_count(world: World) -> None:
    for index, price in enumerate(("12.00", "9.00", "10.40")):
        import_references(world, {PARACETAMOL: price}, source=f"Fuente {index}")

    found = service.references(world.db, [PARACETAMOL, ASPIRINA])

    assert list(found) == [PARACETAMOL]
    assert (found[PARACETAMOL].price, found[PARACETAMOL].method) == (Decimal("10.40"), "mediana")


def test_the_reference_is_the_mean_of_the_middle_two_of_an_even_count(world: World) -> None:
    for index, price in enumerate(("13.00", "10.00", "12.50", "11.00")):
        import_references(world, {ASPIRINA: price}, source=f"Fuente {index}")

    assert service.references(world.db, [ASPIRINA])[ASPIRINA].price == Decimal("11.75")


def test_every_source_is_kept_with_the_reference(world: World) -> None:
    import_references(world, {PARACETAMOL: "1.00"}, source="Lista IMSS")
    service.import_prices(
        world.buyer(), content=PACKAGE.read_bytes(), filename=PACKAGE.name, rates=GBP, mapping=CPV
    )
    import_references(world, {PARACETAMOL: "2.00"}, source="Lista ISSSTE")

    reference = service.references(world.db, [PARACETAMOL])[PARACETAMOL]

    assert [(s.kind, s.source, s.unit_price, s.currency) for s in reference.sources] == [
        ("lista", "Lista IMSS", Decimal("1.00"), "MXN"),
        ("ocds", OCID, Decimal("3157850.00"), "GBP"),
        ("lista", "Lista ISSSTE", Decimal("2.00"), "MXN"),
    ]
    assert reference.price == Decimal("2.00")  # the median of 1.00, 2.00 and the OCDS price


def test_the_fictional_ocds_data_gives_reference_prices_converted_at_the_rate(
    world: World,
) -> None:
    rates = {"GBP": Decimal("23.0517")}

    summary = service.import_prices(
        world.buyer(),
        content=PACKAGE.read_bytes(),
        filename=PACKAGE.name,
        rates=rates,
        mapping=service.parse_mapping([f"CPV:45233130.0={PARACETAMOL}"]),
    )

    # The award's item and the contract that repeats it are one price.
    assert (summary.kind, summary.prices, summary.claves, summary.releases) == ("ocds", 1, 1, 6)
    reference = service.references(world.db, [PARACETAMOL])[PARACETAMOL]
    expected = (Decimal(137000) * rates["GBP"]).quantize(Decimal("0.01"))
    assert reference.price == expected == Decimal("3158082.90")
    assert {(s.source, s.original_price, s.currency) for s in reference.sources} == {
        (OCID, Decimal(137000), "GBP")
    }
    assert [s.source_ref for s in reference.sources] == [
        f"{OCID}/contracts/{OCID}-contract-01/1.0",
    ]
    stored = world.db.scalars(select(PriceObservation)).all()
    assert {(o.rate, o.observed_on is not None) for o in stored} == {(rates["GBP"], True)}


def test_the_record_and_release_files_imported_together_count_each_price_once(
    world: World,
) -> None:
    files = [*sorted(FICTIONAL.glob("*.json")), RECORD]

    summary = service.import_prices(
        world.buyer(), content=jsonl(*files), filename="ficticio.jsonl", rates=GBP, mapping=CPV
    )

    assert summary.prices == 1
    assert len(service.references(world.db, [PARACETAMOL])[PARACETAMOL].sources) == 1


def test_ocds_items_left_unmatched_name_their_classifications_in_the_summary(
    world: World,
) -> None:
    release = {
        "ocid": "ocds-abasto-7",
        "awards": [{"id": "a", "items": [priced("i", PARACETAMOL, scheme="MX-CNIS")]}],
    }
    content = jsonl(PACKAGE) + b"\n" + json.dumps(release).encode()

    summary = service.import_prices(
        world.buyer(), content=content, filename="mixto.jsonl", rates=GBP, mapping={}
    )

    assert (summary.prices, summary.unmatched_items) == (1, 5)
    assert summary.unmatched_top == (("CPV:45233130.0", 5),)


BAD_IMPORTS: dict[str, tuple[bytes, str, dict[str, Decimal], str]] = {
    "unknown clave": (
        price_list({PARACETAMOL: "1.00", "010.000.9999.00": "2.00"}),
        "lista.csv",
        {},
        "1 clave no está en el catálogo",
    ),
    "bad price": (price_list({PARACETAMOL: "gratis"}), "lista.csv", {}, "precio no válido"),
    "list currency without rate": (
        b"Clave,Precio unitario,Moneda\n" + f"{PARACETAMOL},3.00,USD\n".encode(),
        "lista.csv",
        {"GBP": Decimal(23)},
        "Moneda USD sin tipo de cambio (1 precio)",
    ),
    "ocds currency without rate": (
        PACKAGE.read_bytes(),
        PACKAGE.name,
        {},
        "Moneda GBP sin tipo de cambio (2 precios)",
    ),
    "not json": (b'{"releases": [', "roto.json", GBP, "no es JSON válido"),
    "not ocds": (json.dumps({"data": []}).encode(), "otro.json", GBP, "no OCDS"),
    "no clave matched": (
        PACKAGE.read_bytes(),
        PACKAGE.name,
        GBP,
        "5 artículos con precio unitario, ninguno con una clave del Compendio",
    ),
    "no clave in the catalog": (
        PACKAGE.read_bytes(),
        PACKAGE.name,
        GBP,
        "1 precio de 1 clave, ninguna en el catálogo",
    ),
}


@pytest.mark.parametrize("case", list(BAD_IMPORTS))
def test_a_bad_import_is_refused_whole_and_writes_nothing(world: World, case: str) -> None:
    content, filename, rates, message = BAD_IMPORTS[case]
    mapping = {
        "no clave matched": {},
        "no clave in the catalog": {("CPV", "45233130.0"): "010.000.9999.00"},
    }.get(case, CPV)
    before = footprint(world)

    with pytest.raises(ValidationFailed, match=re.escape(message)):
        service.import_prices(
            world.buyer(), content=content, filename=filename, rates=rates, mapping=mapping
        )

    assert footprint(world) == before


def test_rates_and_mappings_are_parsed_and_every_bad_one_named() -> None:
    assert service.parse_rates(["usd=18.20", " GBP = 23.05 "]) == {
        "USD": Decimal("18.20"),
        "GBP": Decimal("23.05"),
    }
    assert service.parse_mapping([f"CPV:45233130.0={PARACETAMOL}", "UNSPSC:51142106=X"]) == {
        ("CPV", "45233130.0"): PARACETAMOL,
        ("UNSPSC", "51142106"): "X",
    }
    with pytest.raises(ValidationFailed) as rates:
        service.parse_rates(["USD=0", "EURO=20", "GBP", "JPY=abc", "CHF=20"])
    assert [p.value for p in rates.value.problems] == ["USD=0", "EURO=20", "GBP", "JPY=abc"]
    with pytest.raises(ValidationFailed) as mapping:
        service.parse_mapping(["CPV=1", ":1=X", "CPV:1="])
    assert len(mapping.value.problems) == 3


# ----- technical evaluation ------------------------------------------------------------------

SIMPLE = {"a": {1: "9.50", 2: "21.00"}, "b": {1: "10.20", 3: "54.00"}}


def test_proposed_verdicts_cover_every_opened_line_and_requirement(world: World) -> None:
    opened = opened_tender(world, SIMPLE)

    proposed = service.propose_verdicts(world.db, opened.tender.id)

    assert len(proposed) == 4 * len(service.REQUIREMENTS)
    assert {(v.bid_id, v.partida) for v in proposed} == {
        (opened.bids["a"], 1),
        (opened.bids["a"], 2),
        (opened.bids["b"], 1),
        (opened.bids["b"], 3),
    }
    assert all(v.complies and v.reason for v in proposed)
    assert service.evaluation_status(world.db, opened.tender.id) == (0, 4)


def test_recorded_verdicts_complete_the_evaluation_and_a_correction_replaces(
    world: World,
) -> None:
    opened = opened_tender(world, SIMPLE)
    verdicts = service.propose_verdicts(world.db, opened.tender.id)

    first = service.record_evaluations(
        evaluator(world), tender_id=opened.tender.id, verdicts=verdicts[:4]
    )
    assert (first.new, first.changed, first.unchanged) == (4, 0, 0)
    assert service.evaluation_status(world.db, opened.tender.id) == (1, 4)
    evaluate(world, opened, failing=[("b", 3)])
    corrected = service.record_evaluations(
        evaluator(world),
        tender_id=opened.tender.id,
        verdicts=verdicts_with(world, opened, failing=[("a", 2)]),
        confirm=True,
    )

    assert (corrected.new, corrected.changed, corrected.unchanged) == (0, 2, 14)
    assert service.evaluation_status(world.db, opened.tender.id) == (4, 4)
    assert world.db.scalar(select(func.count()).select_from(TechnicalEvaluation)) == 16
    verdicts_now = service.compliance(world.db, opened.tender.id)
    assert verdicts_now[(opened.bids["a"], 2)] == (
        False,
        [f"Registro sanitario vigente: {NOT_VALID}"],
    )
    assert verdicts_now[(opened.bids["b"], 3)] == (True, [])
    stored = world.db.scalars(select(TechnicalEvaluation)).first()
    assert stored is not None
    assert stored.evaluator == "usuario:evaluador"
    last = world.entries(opened.tender, "evaluation.record")[-1].data()
    assert last["not_complying"] == [[opened.bids["b"], 3, "registro_sanitario", NOT_VALID]]


def test_bad_verdicts_are_refused_all_at_once_and_nothing_is_written(world: World) -> None:
    opened = opened_tender(world, SIMPLE)
    good = service.Verdict(opened.bids["a"], 1, "fabricante", True, "fabricante declarado")
    before = footprint(world)

    with pytest.raises(ValidationFailed) as error:
        service.record_evaluations(
            evaluator(world),
            tender_id=opened.tender.id,
            verdicts=[
                good,
                replace(good, partida=3),
                replace(good, bid_id="no-existe"),
                replace(good, requirement="color"),
                replace(good, reason="  "),
            ],
        )

    not_offered = "La proposición no ofrece esa partida (o no coincidió con su compromiso)"
    assert [(p.field, p.message) for p in error.value.problems] == [
        ("evaluations[1]", not_offered),
        ("evaluations[2]", not_offered),
        ("evaluations[3]", "Requisito desconocido"),
        ("evaluations[4]", "Falta el motivo"),
    ]
    assert footprint(world) == before


def test_there_is_nothing_to_evaluate_before_the_opening(world: World) -> None:
    tender = world.tender()
    submit(world, "a", tender, {1: "9.50"})
    before = footprint(world)

    with pytest.raises(Conflict, match="no ha terminado su apertura"):
        service.propose_verdicts(world.db, tender.id)
    with pytest.raises(Conflict, match="no se evalúa todavía"):
        service.record_evaluations(evaluator(world), tender_id=tender.id, verdicts=[])

    assert footprint(world) == before


def test_an_empty_list_of_verdicts_is_refused(world: World) -> None:
    opened = opened_tender(world, SIMPLE)
    before = footprint(world)

    with pytest.raises(ValidationFailed, match="No hay veredictos"):
        service.record_evaluations(evaluator(world), tender_id=opened.tender.id, verdicts=[])

    assert footprint(world) == before


def sheet_rows(content: bytes) -> list[dict[str, object]]:
    """The evaluation sheet's rows, by header."""
    workbook = openpyxl.load_workbook(io.BytesIO(content))
    sheet = workbook.active
    assert sheet is not None
    header, *rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(header, row, strict=True)) for row in rows]


def recorded_verdicts(world: World, tender: Tender) -> dict[tuple[str, int, str], bool]:
    return {
        (bid, number, requirement): complies
        for bid, number, requirement, complies in world.db.execute(
            select(
                TechnicalEvaluation.bid_id,
                TechnicalEvaluation.partida_number,
                TechnicalEvaluation.requirement,
                TechnicalEvaluation.complies,
            ).where(TechnicalEvaluation.tender_id == tender.id)
        )
    }


def test_the_evaluation_sheet_carries_the_recorded_verdicts_not_the_proposal(
    world: World,
) -> None:
    opened = opened_tender(world, SIMPLE)
    bid = opened.bids["a"]
    service.record_evaluations(
        evaluator(world),
        tender_id=opened.tender.id,
        verdicts=[service.Verdict(bid, 2, "registro_sanitario", False, NOT_VALID)],
    )

    rows = sheet_rows(service.evaluation_sheet(world.db, opened.tender.id))

    assert len(rows) == 4 * len(service.REQUIREMENTS)
    by_key = {(r["Proposición"], r["Partida"], r["Requisito"]): r for r in rows}
    failing = by_key[(bid, 2, "registro_sanitario")]
    assert (failing["Cumple"], failing["Motivo"]) == ("No", NOT_VALID)
    assert failing["Registrado por"] == "usuario:evaluador"
    assert failing["Propuesta"] == "Sí: registro sanitario declarado"
    # What the evaluator judges by: the bidder, the clave and what the bid declared.
    assert (failing["Clave"], failing["RFC del proveedor"]) == (ASPIRINA, PARTIES["a"].rfc)
    assert failing["Proveedor"] == PARTIES["a"].name
    assert failing["Registro sanitario"] == "123M2015 SSA"
    assert (failing["Presentación"], failing["Fabricante"]) == (
        "Caja con 10 tabletas",
        "Fabricante Genérico",
    )
    # No verdict yet: blank, never the proposal's «Sí».
    pending = [r for key, r in by_key.items() if key != (bid, 2, "registro_sanitario")]
    assert {(r["Cumple"], r["Motivo"], r["Registrado por"]) for r in pending} == {
        (None, None, None)
    }
    assert service.read_verdicts(
        service.evaluation_sheet(world.db, opened.tender.id), "evaluacion.xlsx"
    ) == [service.Verdict(bid, 2, "registro_sanitario", False, NOT_VALID)]


def test_the_sheet_sent_back_as_downloaded_keeps_a_no_and_the_fallo_does_not_award_it(
    world: World,
) -> None:
    # «d» is the cheapest of partida 3; the evaluator finds its registro sanitario not valid.
    opened = opened_tender(world, SPLIT_WORTHY)
    import_references(world)
    evaluate(world, opened, failing=SPLIT_FAILING)
    head = ledger.head(world.db)

    sheet = service.evaluation_sheet(world.db, opened.tender.id)
    recorded = service.record_evaluations(
        evaluator(world),
        tender_id=opened.tender.id,
        verdicts=service.read_verdicts(sheet, "evaluacion.xlsx"),
    )
    untouched = ledger.head(world.db) == head
    world.clock.set(opened.tender.fallo_at)
    service.issue_fallo(world.buyer(), tender_id=opened.tender.id, mode=rules.Mode.LOWEST)

    assert not recorded_verdicts(world, opened.tender)[(opened.bids["d"], 3, "registro_sanitario")]
    assert [w[0] for w in awarded(world.db, opened.tender)[3]] == [opened.bids["c"]]
    assert untouched  # nothing changed, nothing written
    assert (recorded.new, recorded.changed, recorded.unchanged) == (0, 0, 7 * 4)


def test_a_sheet_that_changes_recorded_verdicts_lists_them_and_needs_confirmation(
    world: World,
) -> None:
    opened = opened_tender(world, SIMPLE)
    evaluate(world, opened, failing=[("a", 2)])
    rows = sheet_rows(service.evaluation_sheet(world.db, opened.tender.id))
    turned = {(opened.bids["a"], 2, "registro_sanitario"), (opened.bids["b"], 3, "fabricante")}
    for row in rows:
        key = (row["Proposición"], row["Partida"], row["Requisito"])
        if key == (opened.bids["a"], 2, "registro_sanitario"):
            row["Cumple"], row["Motivo"] = "Sí", "Registro vigente, revisado de nuevo."
        elif key == (opened.bids["b"], 3, "fabricante"):
            row["Cumple"], row["Motivo"] = "No", "El fabricante no tiene certificado."
    content = xlsx({"Evaluación técnica": [list(rows[0]), *[list(r.values()) for r in rows]]})
    verdicts = service.read_verdicts(content, "evaluacion.xlsx")
    before = footprint(world)

    with pytest.raises(service.VerdictsChange) as refused:
        service.record_evaluations(evaluator(world), tender_id=opened.tender.id, verdicts=verdicts)

    assert refused.value.status == 409
    assert footprint(world) == before
    changes = {
        (c.after.bid_id, c.after.partida, c.after.requirement): c for c in refused.value.changes
    }
    assert set(changes) == turned
    flipped = changes[(opened.bids["a"], 2, "registro_sanitario")]
    assert (flipped.before.complies, flipped.before.reason) == (False, NOT_VALID)
    assert (flipped.after.complies, flipped.evaluator) == (True, "usuario:evaluador")
    rows_named = sorted(p.row for p in refused.value.problems if p.row is not None)
    assert rows_named == sorted(c.after.row for c in refused.value.changes if c.after.row)
    assert all(p.value and p.expected for p in refused.value.problems)

    done = service.record_evaluations(
        evaluator(world), tender_id=opened.tender.id, verdicts=verdicts, confirm=True
    )

    assert (done.new, done.changed, done.unchanged) == (0, 2, 14)
    now = recorded_verdicts(world, opened.tender)
    assert now[(opened.bids["a"], 2, "registro_sanitario")] is True
    assert now[(opened.bids["b"], 3, "fabricante")] is False
    entries = world.entries(opened.tender, "evaluation.change")
    assert len(entries) == 2
    logged = {(e.data()["bid"], e.data()["partida"], e.data()["requirement"]): e for e in entries}
    assert set(logged) == turned
    one = logged[(opened.bids["a"], 2, "registro_sanitario")].data()
    assert one["before"]["complies"] is False
    assert one["before"]["reason"] == NOT_VALID
    assert one["before"]["evaluator"] == "usuario:evaluador"
    assert one["after"] == {"complies": True, "reason": "Registro vigente, revisado de nuevo."}
    assert len({e.seq for e in entries}) == 2


def test_a_confirmation_names_exactly_its_changes(world: World) -> None:
    opened = opened_tender(world, SIMPLE)
    evaluate(world, opened)
    bid = opened.bids["a"]
    one = [service.Verdict(bid, 1, "fabricante", False, "sin certificado")]
    other = [service.Verdict(bid, 1, "fabricante", False, "otro motivo")]

    with pytest.raises(service.VerdictsChange) as first:
        service.record_evaluations(evaluator(world), tender_id=opened.tender.id, verdicts=one)
    with pytest.raises(service.VerdictsChange) as second:
        service.record_evaluations(evaluator(world), tender_id=opened.tender.id, verdicts=other)

    assert first.value.digest != second.value.digest
    assert first.value.digest == service.changes_digest(first.value.changes)


def test_a_sheet_with_bad_answers_names_each_row() -> None:
    content = (
        "Proposición,Partida,Requisito,Cumple,Motivo\n"
        "abc,1,fabricante,Sí,declarado\n"
        "abc,uno,fabricante,Sí,declarado\n"
        "abc,2,fabricante,Quizá,no sé\n"
        "abc,3,fabricante,no cumple,sin fabricante\n"
    ).encode()

    with pytest.raises(ValidationFailed, match="2 problema") as error:
        service.read_verdicts(content, "evaluacion.csv")

    assert [(p.row, p.column) for p in error.value.problems] == [(3, "Partida"), (4, "Cumple")]
    with pytest.raises(ValidationFailed, match="no tiene los encabezados"):
        service.read_verdicts(b"a,b\n1,2\n", "otra.csv")


# ----- the fallo -----------------------------------------------------------------------------

# Partida 1 (250): «a» and «b» within 10 % of each other, «c» beyond; partida 2 (90): «a» offers
# 50 only and «b» is beyond the margin; partida 3 (30): «d» cheapest but found non-compliant.
SPLIT_WORTHY: dict[str, dict[int, Offer]] = {
    "a": {1: "9.50", 2: ("19.00", 50)},
    "b": {1: "10.00", 2: "21.00"},
    "c": {1: "12.00", 3: "48.00"},
    "d": {3: "47.00"},
}
SPLIT_FAILING = [("d", 3)]


def awarded_tender(
    world: World,
    mode: rules.Mode,
    offers: Mapping[str, Mapping[int, Offer]] = SPLIT_WORTHY,
    failing: Sequence[tuple[str, int]] = SPLIT_FAILING,
    award: Mapping[str, object] | None = None,
) -> tuple[Opened, Fallo]:
    opened = opened_tender(world, offers, award=award)
    import_references(world)
    evaluate(world, opened, failing)
    world.clock.set(opened.tender.fallo_at)
    return opened, service.issue_fallo(world.buyer(), tender_id=opened.tender.id, mode=mode)


def test_the_lowest_price_fallo_says_why_each_line_lost(world: World) -> None:
    offers: dict[str, dict[int, Offer]] = {
        "a": {1: "9.50", 2: "21.00", 3: "56.00"},
        "b": {1: "10.20", 2: "19.00", 3: "54.00"},
        "c": {1: "4.00"},
        "d": {1: "9.00"},
    }
    opened, fallo = awarded_tender(world, rules.Mode.LOWEST, offers, failing=[("d", 1)])
    bids = opened.bids

    assert (fallo.mode, fallo.status) == ("lowest", "rule")
    assert awarded(world.db, opened.tender) == {
        1: [(bids["a"], 250, Decimal("9.50"))],
        2: [(bids["b"], 90, Decimal("19.00"))],
        3: [(bids["b"], 30, Decimal("54.00"))],
    }
    total = 250 * Decimal("9.50") + 90 * Decimal("19.00") + 30 * Decimal("54.00")
    assert fallo.total == fallo.baseline_total == total
    assert fallo.reference_total == 250 * 10 + 90 * 20 + 30 * 50
    outcomes = {
        (o.bid_id, o.partida_number): (o.outcome, o.awarded)
        for o in service.fallo_outcomes(world.db, fallo)
    }
    assert outcomes == {
        (bids["a"], 1): ("adjudicada", 250),
        (bids["a"], 2): ("solvente", 0),
        (bids["a"], 3): ("precio_no_aceptable", 0),
        (bids["b"], 1): ("solvente", 0),
        (bids["b"], 2): ("adjudicada", 90),
        (bids["b"], 3): ("adjudicada", 30),
        (bids["c"], 1): ("precio_no_conveniente", 0),
        (bids["d"], 1): ("no_cumple", 0),
    }
    reasons = {
        (o.bid_id, o.partida_number): o.reasons for o in service.fallo_outcomes(world.db, fallo)
    }
    assert reasons[(bids["d"], 1)] == [
        "no cumple técnicamente",
        f"Registro sanitario vigente: {NOT_VALID}",
    ]
    assert "excede en más de 10" in reasons[(bids["a"], 3)][0]
    assert [p.status for p in service.fallo_partidas(world.db, fallo)] == ["adjudicada"] * 3


@pytest.mark.parametrize("mode", MODES)
def test_the_stored_fallo_keeps_every_rule_of_its_mode(world: World, mode: rules.Mode) -> None:
    opened, fallo = awarded_tender(world, mode)
    bids = opened.bids

    instance, result = stored_award(world.db, opened.tender)
    assert rules.check(instance, result) == []
    assert rules.check(instance, result, tender_wide=True) == []
    first = (
        [(bids["a"], 150, Decimal("9.50")), (bids["b"], 100, Decimal("10.00"))]
        if mode is rules.Mode.SPLIT
        else [(bids["a"], 250, Decimal("9.50"))]
    )
    assert awarded(world.db, opened.tender) == {
        1: sorted(first),
        2: sorted([(bids["a"], 50, Decimal("19.00")), (bids["b"], 40, Decimal("21.00"))]),
        3: [(bids["c"], 30, Decimal("48.00"))],
    }
    assert fallo.total == sum(w.unit_price * w.quantity for w in fallo.lines)
    assert fallo.baseline_total == 250 * Decimal("9.50") + 50 * 19 + 40 * 21 + 30 * 48
    assert (fallo.gap is not None) == (mode is rules.Mode.OPTIMAL)


def test_the_fallo_is_on_the_ledger_awards_the_tender_and_becomes_market_research(
    world: World,
) -> None:
    opened, fallo = awarded_tender(world, rules.Mode.SPLIT, award={"split_shares": [70, 30]})

    assert opened.tender.status == tendering_rules.AWARDED
    assert fallo.issued_at == opened.tender.fallo_at
    [entry] = world.entries(opened.tender, "fallo.issue")
    assert entry.seq == fallo.ledger_seq
    assert entry.public
    assert entry.data()["mode"] == "split"
    assert entry.data()["parameters"]["split_shares"] == ["70", "30"]
    assert entry.data()["partidas"][0]["winners"][0]["quantity"] == 175
    assert "fallo.issue" in world.feed(opened.tender)
    sources = service.references(world.db, [PARACETAMOL])[PARACETAMOL].sources
    assert [(s.kind, s.source, s.unit_price) for s in sources if s.kind == "abasto"] == [
        ("abasto", service.fallo_source(fallo), Decimal("9.50")),
        ("abasto", service.fallo_source(fallo), Decimal("10.00")),
    ]
    # Partidas by hand have no institution demand behind them: nothing to draft.
    assert service.contract_drafts(world.db, fallo) == []


@pytest.mark.parametrize("mode", MODES)
def test_no_solvent_bid_leaves_every_partida_desierta_with_its_reason(
    world: World, mode: rules.Mode
) -> None:
    above = {"a": {1: "11.01", 2: "22.01"}, "b": {1: "12.00", 2: "30.00"}}

    opened, fallo = awarded_tender(world, mode, above, failing=[])

    assert fallo.total == 0
    assert fallo.lines == []
    partidas = service.fallo_partidas(world.db, fallo)
    assert [(p.partida_number, p.status, p.awarded, p.reason_code) for p in partidas] == [
        (1, "desierta", 0, "sin_solventes"),
        (2, "desierta", 0, "sin_solventes"),
        (3, "desierta", 0, "sin_proposiciones"),
    ]
    assert partidas[0].reason == (
        "ninguna de sus 2 proposiciones es solvente (precio no aceptable: 2)"
    )
    assert {o.outcome for o in service.fallo_outcomes(world.db, fallo)} == {"precio_no_aceptable"}
    assert rules.check(*stored_award(world.db, opened.tender)) == []


def refuse(world: World, tender: Tender, error: type[AbastoError], message: str) -> None:
    """Issuing the fallo is refused with ``message`` and leaves everything as it was."""
    before = footprint(world)
    with pytest.raises(error, match=message):
        service.issue_fallo(world.buyer(), tender_id=tender.id, mode=rules.Mode.OPTIMAL)
    assert footprint(world) == before


def test_no_fallo_before_the_opening(world: World) -> None:
    tender = world.tender()
    submit(world, "a", tender, {1: "9.50"})
    import_references(world)

    refuse(world, tender, Conflict, "no ha terminado su apertura")


def test_no_fallo_before_every_bid_line_is_evaluated(world: World) -> None:
    opened = opened_tender(world, SIMPLE)
    import_references(world)
    verdicts = verdicts_with(world, opened)
    service.record_evaluations(evaluator(world), tender_id=opened.tender.id, verdicts=verdicts[:-1])

    refuse(world, opened.tender, Conflict, "1 de 4 líneas de proposición sin evaluar")


def test_no_fallo_without_a_reference_price_for_every_partida(world: World) -> None:
    opened = opened_tender(world, SIMPLE)
    evaluate(world, opened)
    import_references(world, {PARACETAMOL: "10.00"})

    refuse(world, opened.tender, Conflict, "2 partida")


@pytest.mark.parametrize(
    ("parameters", "field", "message"),
    [
        ({"split_shares": [60, 30]}, "parameters.split_shares", "suman 90 %, no 100 %"),
        ({"split_shares": [60, 50, -10]}, "parameters.split_shares", "deben ser positivos"),
        ({"split_margin": "0.15"}, "parameters.split_margin", "no puede exceder 10 %"),
        ({"max_supplier_share": "1.5"}, "parameters.max_supplier_share", "fuera de rango"),
    ],
)
def test_award_parameters_that_break_the_rules_refuse_the_fallo(
    world: World, parameters: dict[str, object], field: str, message: str
) -> None:
    opened = opened_tender(world, SIMPLE, award=parameters)
    import_references(world)
    evaluate(world, opened)
    before = footprint(world)

    with pytest.raises(ValidationFailed) as error:
        service.issue_fallo(world.buyer(), tender_id=opened.tender.id, mode=rules.Mode.SPLIT)

    assert [(p.field, message in p.message) for p in error.value.problems] == [(field, True)]
    assert footprint(world) == before


def test_a_tender_has_one_fallo_and_its_evaluations_no_longer_change(world: World) -> None:
    opened, _ = awarded_tender(world, rules.Mode.LOWEST)
    before = footprint(world)

    with pytest.raises(Conflict, match="ya tiene fallo"):
        service.issue_fallo(world.buyer(), tender_id=opened.tender.id, mode=rules.Mode.SPLIT)
    with pytest.raises(Conflict, match="ya tiene fallo"):
        evaluate(world, opened)

    assert footprint(world) == before


def test_a_tender_without_a_fallo_says_so(world: World) -> None:
    opened = opened_tender(world, SIMPLE)

    with pytest.raises(NotFound, match="no tiene fallo todavía"):
        service.get_fallo(world.db, opened.tender.id)


def test_the_announced_parameters_reach_the_award(world: World) -> None:
    tender = draft_tender(
        world, {"split_shares": [50, 30, 20], "split_margin": "0.05", "max_supplier_share": "0.4"}
    )

    parameters = service.award_parameters(tender)

    assert parameters == rules.Parameters(
        split_shares=(Decimal(50), Decimal(30), Decimal(20)),
        split_margin=Decimal("0.05"),
        max_supplier_share=Decimal("0.4"),
    )
    assert service.award_parameters(world.tender()) == rules.Parameters()


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"split_shares": [60, 30]}, "parameters.split_shares"),
        ({"split_margin": "0.11"}, "parameters.split_margin"),
        ({"acceptable_margin": "-0.1"}, "parameters.acceptable_margin"),
        ({"split_margin": "mucho"}, None),
    ],
)
def test_award_terms_that_no_fallo_could_apply_are_refused_when_announced(
    terms: dict[str, object], field: str | None
) -> None:
    with pytest.raises(ValidationFailed, match="Condiciones de adjudicación no válidas") as error:
        service.check_award_terms(terms)

    assert [p.field for p in error.value.problems] == ([field] if field else [])


def test_award_terms_the_rules_allow_pass() -> None:
    service.check_award_terms({"split_shares": [50, 30, 20], "split_margin": "0.10"})
    service.check_award_terms({})


# ----- contract drafts -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_contract_drafts_split_each_winner_over_the_institutions(
    world: World, mode: rules.Mode
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

    fallo = service.issue_fallo(world.buyer(), tender_id=draft.id, mode=mode)

    assert assert_drafts_apportion_the_award(world.db, draft) >= 6
    assert rules.check(*stored_award(world.db, draft)) == []
    entry = world.entries(draft, "fallo.issue")[0]
    assert entry.data()["contract_drafts"] == len(service.contract_drafts(world.db, fallo))


def test_the_fallo_keeps_a_signed_checkpoint_covering_its_entry(
    world: World, signer: Signer
) -> None:
    opened = opened_tender(world, SPLIT_WORTHY)
    import_references(world)
    evaluate(world, opened, SPLIT_FAILING)
    world.clock.set(opened.tender.fallo_at)

    fallo = service.issue_fallo(
        world.buyer(), tender_id=opened.tender.id, mode=rules.Mode.LOWEST, signer=signer
    )

    assert fallo.checkpoint is not None
    signed = signer.verifier.open(fallo.checkpoint)
    assert signed.size == fallo.ledger_seq == ledger.head(world.db)[0]
    proof = checkpoints.inclusion(world.db, seq=fallo.ledger_seq, tree_size=signed.size)
    assert merkle.verify_inclusion(
        fallo.ledger_seq - 1, signed.size, proof.leaf_hash, proof.path, signed.root
    )
