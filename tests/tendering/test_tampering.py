"""Stored bids altered behind the application's back are caught at the opening.

Each test pokes the ``bids`` table on purpose (the only tests that do) between the close of
bidding and the opening, then lets the clock open the tender: the altered bid is read out as
«no_coincide» (or reported missing) on the feed, and the untouched ones as «coincide».
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from abasto.core.ledger import canonical_json
from abasto.tendering import rules, service
from abasto.tendering.models import Bid, BidLine, Tender
from abasto.tendering.sealing import commitment, new_bid_id, new_salt
from tests.tendering.conftest import PARTIES, World


@dataclass
class Sealed:
    tender: Tender
    bids: dict[str, str]
    """Supplier key → its bid id."""


@pytest.fixture
def sealed(world: World) -> Sealed:
    """A closed licitación with one sealed bid from each of a, b and c."""
    tender = world.tender()
    bids = {}
    for minute, (key, price) in enumerate((("a", "7319.47"), ("b", "6042.71"), ("c", "913.58"))):
        world.clock.set(tender.clarification_deadline + timedelta(minutes=minute))
        bids[key] = world.bid(key, tender, {1: price, 2: "10.00"}).bid_id
    world.clock.set(tender.bid_deadline)
    world.tick()
    assert tender.status == rules.CLOSED
    return Sealed(tender, bids)


def open_it(world: World, sealed: Sealed) -> dict[str, dict[str, Any]]:
    """Let the clock open the tender; bid id → what its bid.open or bid.missing entry says."""
    world.clock.set(sealed.tender.opening_at)
    world.tick(finish=True)
    assert sealed.tender.status == rules.OPENED
    read_out = {}
    for entry in world.entries(sealed.tender):
        if entry.action in ("bid.open", "bid.missing"):
            read_out[entry.data()["bid"]] = {"action": entry.action, **entry.data()}
    return read_out


def checks(read_out: dict[str, dict[str, Any]], sealed: Sealed) -> dict[str, str | None]:
    """Supplier key → «coincide», «no_coincide» or «missing»."""
    return {
        key: (
            "missing"
            if read_out.get(bid, {}).get("action") == "bid.missing"
            else read_out.get(bid, {}).get("check")
        )
        for key, bid in sealed.bids.items()
    }


def poke(world: World, bid_id: str, **values: object) -> None:
    world.db.execute(update(Bid).where(Bid.id == bid_id).values(**values))
    world.db.expire_all()


def stored(world: World, bid_id: str) -> Bid:
    found = world.db.get(Bid, bid_id)
    assert found is not None
    return found


def test_untouched_bids_all_coincide(world: World, sealed: Sealed) -> None:
    read_out = open_it(world, sealed)
    assert checks(read_out, sealed) == dict.fromkeys(sealed.bids, "coincide")
    assert world.entries(sealed.tender, "tender.opened")[0].data()["not_matching"] == 0


def test_a_flipped_byte_of_the_ciphertext_is_caught(world: World, sealed: Sealed) -> None:
    target = sealed.bids["a"]
    flipped = bytearray(stored(world, target).ciphertext)
    flipped[30] ^= 0x01
    poke(world, target, ciphertext=bytes(flipped))

    read_out = open_it(world, sealed)

    assert checks(read_out, sealed) == {"a": "no_coincide", "b": "coincide", "c": "coincide"}
    assert "no se pudo descifrar" in read_out[target]["detail"]
    assert read_out[target]["content"] is None
    assert read_out[target]["supplier"] is None
    # Nothing of an altered bid is read out as if it were valid.
    assert world.db.scalars(select(BidLine).where(BidLine.bid_id == target)).all() == []
    assert stored(world, target).check == "no_coincide"
    summary = world.entries(sealed.tender, "tender.opened")[0].data()
    assert (summary["matching"], summary["not_matching"]) == (2, 1)


def test_an_altered_commitment_column_is_caught(world: World, sealed: Sealed) -> None:
    target = sealed.bids["b"]
    poke(world, target, commitment="0" * 64)

    read_out = open_it(world, sealed)

    assert checks(read_out, sealed) == {"a": "coincide", "b": "no_coincide", "c": "coincide"}
    assert "difiere del publicado" in read_out[target]["detail"]
    assert read_out[target]["stored_commitment"] == "0" * 64
    assert read_out[target]["commitment"] != "0" * 64


def test_swapped_ciphertexts_are_both_caught(world: World, sealed: Sealed) -> None:
    a, b = sealed.bids["a"], sealed.bids["b"]
    text_a, text_b = stored(world, a).ciphertext, stored(world, b).ciphertext
    poke(world, a, ciphertext=text_b)
    poke(world, b, ciphertext=text_a)

    read_out = open_it(world, sealed)

    assert checks(read_out, sealed) == {"a": "no_coincide", "b": "no_coincide", "c": "coincide"}


def test_swapped_ciphertexts_and_commitments_are_still_caught(world: World, sealed: Sealed) -> None:
    """Moving a whole sealed bid onto another row: the ledger published each row's own."""
    a, b = sealed.bids["a"], sealed.bids["b"]
    row_a, row_b = stored(world, a), stored(world, b)
    swapped = {
        a: {"ciphertext": row_b.ciphertext, "commitment": row_b.commitment},
        b: {"ciphertext": row_a.ciphertext, "commitment": row_a.commitment},
    }
    for bid_id, values in swapped.items():
        poke(world, bid_id, **values)

    assert checks(open_it(world, sealed), sealed)["a"] == "no_coincide"


def test_a_bid_resealed_with_another_price_by_someone_holding_the_key_is_caught(
    world: World, sealed: Sealed
) -> None:
    """Even with the tender's key, a new price needs a new commitment the ledger never saw."""
    target = sealed.bids["c"]
    key = world.sealer.tender_key(sealed.tender.id, sealed.tender.wrapped_key)
    opened = key.unseal(target, stored(world, target).ciphertext)
    opened["content"]["lines"][0]["unit_price"] = "1.00"
    salt = new_salt()
    opened["salt"] = salt.hex()
    poke(
        world,
        target,
        ciphertext=key.seal(target, opened),
        commitment=commitment(salt, canonical_json(opened["content"])),
    )

    read_out = open_it(world, sealed)

    assert checks(read_out, sealed)["c"] == "no_coincide"
    assert read_out[target]["commitment"] != read_out[target]["stored_commitment"]


def test_a_bid_deleted_during_the_opening_is_reported_missing(world: World, sealed: Sealed) -> None:
    world.clock.set(sealed.tender.opening_at)
    service.start_opening(world.buyer(), tender_id=sealed.tender.id)
    world.db.execute(delete(Bid).where(Bid.id == sealed.bids["b"]))
    world.db.expire_all()

    read_out = open_it(world, sealed)

    assert checks(read_out, sealed) == {"a": "coincide", "b": "missing", "c": "coincide"}
    missing = read_out[sealed.bids["b"]]
    assert missing["commitment"] is not None
    assert "no está en la base de datos" in missing["detail"]
    assert world.entries(sealed.tender, "tender.opened")[0].data()["missing"] == 1


def test_a_bid_deleted_before_the_opening_is_reported_missing(world: World, sealed: Sealed) -> None:
    """The ledger published its commitment: the opening must account for it, row or no row."""
    world.db.execute(delete(Bid).where(Bid.id == sealed.bids["b"]))
    world.db.expire_all()

    read_out = open_it(world, sealed)

    assert checks(read_out, sealed) == {"a": "coincide", "b": "missing", "c": "coincide"}
    assert world.entries(sealed.tender, "tender.opened")[0].data()["missing"] == 1


def test_a_bid_marked_withdrawn_behind_the_ledgers_back_is_not_silently_dropped(
    world: World, sealed: Sealed
) -> None:
    """No bid.withdraw entry says so: the opening must not take the row's word for it.

    The bid's content still matches its commitment, so it is read out (its bidder did nothing
    wrong), and the altered row is on the record of its opening.
    """
    poke(world, sealed.bids["a"], status="withdrawn", withdrawn_at=sealed.tender.bid_deadline)

    read_out = open_it(world, sealed)

    assert checks(read_out, sealed) == {"a": "coincide", "b": "coincide", "c": "coincide"}
    assert "«withdrawn» sin que la bitácora registre" in read_out[sealed.bids["a"]]["detail"]
    assert "aviso" not in read_out[sealed.bids["b"]]["detail"]


@pytest.mark.parametrize("when", ["before the opening", "during the opening"])
def test_a_forged_bid_row_is_caught(world: World, sealed: Sealed, when: str) -> None:
    """A row with a well-formed sealed bid (the forger even holds the key), never published."""
    tender = sealed.tender
    if when == "during the opening":
        world.clock.set(tender.opening_at)
        service.start_opening(world.buyer(), tender_id=tender.id)
    key = world.sealer.tender_key(tender.id, tender.wrapped_key)
    forged = new_bid_id()
    salt = new_salt()
    content = rules.bid_content(
        tender_number=tender.number,
        bid_id=forged,
        supplier_rfc=PARTIES["d"].rfc,
        lines=[{"partida": 1, "unit_price": "0.50", "quantity": 250}],
    )
    world.db.execute(
        insert(Bid).values(
            id=forged,
            tender_id=tender.id,
            owner_tag=key.tag("owner", world.suppliers["d"].id),
            status="sealed",
            submitted_at=tender.bid_deadline - timedelta(hours=1),
            commitment=commitment(salt, canonical_json(content)),
            ciphertext=key.seal(
                forged,
                {"supplier_id": world.suppliers["d"].id, "salt": salt.hex(), "content": content},
            ),
        )
    )

    read_out = open_it(world, sealed)

    assert checks(read_out, sealed) == dict.fromkeys(sealed.bids, "coincide")
    assert read_out[forged]["check"] == "no_coincide"
    assert read_out[forged]["commitment"] is None
    assert "no tiene compromiso publicado" in read_out[forged]["detail"]
    assert world.db.scalars(select(BidLine).where(BidLine.bid_id == forged)).all() == []


def test_the_feed_says_what_the_acta_will_say(world: World, sealed: Sealed) -> None:
    """Each bid.open entry carries everything needed to recheck it without the database."""
    flipped = bytearray(stored(world, sealed.bids["a"]).ciphertext)
    flipped[-1] ^= 0x80
    poke(world, sealed.bids["a"], ciphertext=bytes(flipped))

    read_out = open_it(world, sealed)

    for key in ("b", "c"):
        entry = read_out[sealed.bids[key]]
        recomputed = commitment(bytes.fromhex(entry["salt"]), canonical_json(entry["content"]))
        assert recomputed == entry["commitment"]
        assert entry["supplier"]["rfc"] == PARTIES[key].rfc
        assert entry["content"]["supplier"] == PARTIES[key].rfc
    published = {
        json.loads(e.payload)["bid"]: json.loads(e.payload)["commitment"]
        for e in world.entries(sealed.tender, "bid.seal")
    }
    assert {b: read_out[b]["commitment"] for b in sealed.bids.values()} == published


def test_the_database_holds_one_standing_bid_per_supplier(world: World, sealed: Sealed) -> None:
    """Two submissions that race past the service's check still cannot both stand."""
    first = world.db.get(Bid, sealed.bids["a"])
    assert first is not None
    twin = Bid(
        id=new_bid_id(),
        tender_id=first.tender_id,
        owner_tag=first.owner_tag,
        status="sealed",
        submitted_at=first.submitted_at,
        commitment=first.commitment,
        ciphertext=first.ciphertext,
    )
    savepoint = world.db.begin_nested()
    world.db.add(twin)
    with pytest.raises(IntegrityError):
        world.db.flush()
    savepoint.rollback()
