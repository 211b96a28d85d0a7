"""Red flags of Abasto's own data, through the real services: a tender built to its fallo (the
award tests' ``awarded_tender``), its flags stored whole, the ledger entry, the tick's check."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from abasto.award import rules
from abasto.core import ledger
from abasto.core.ledger import LedgerEntry
from abasto.identity import service as identity
from abasto.transparency.redflags import service, source_abasto
from abasto.transparency.redflags.models import RedFlag
from tests.award.test_service import Offer, awarded_tender
from tests.identity.test_sanctions import HEADER, _csv
from tests.tendering import conftest as tendering_world
from tests.tendering.conftest import NICOTINA, PARTIES, World

world = tendering_world.world
cheap_passwords = tendering_world.cheap_passwords

# Partida 1: «a» and «b» compete. Partida 2: «a» alone (R018). Partida 3: «d» is lowest but
# not compliant, «c» the only valid one and the winner (R035, R036).
OFFERS: dict[str, dict[int, Offer]] = {
    "a": {1: "9.50", 2: "21.00"},
    "b": {1: "10.20"},
    "c": {3: "48.00"},
    "d": {3: "47.00"},
}


def award(world: World) -> int:
    opened, _ = awarded_tender(world, rules.Mode.LOWEST, OFFERS, failing=[("d", 3)])
    return opened.tender.id


def by_code(rows: list[RedFlag]) -> dict[str, list[RedFlag]]:
    found: dict[str, list[RedFlag]] = {}
    for row in rows:
        found.setdefault(row.code, []).append(row)
    return found


def stored(db: Session, **filters: Any) -> list[RedFlag]:
    """Every stored flag that passes the filters, as the API and the pages read them."""
    return list(service.list_flags(db, per_page=10_000, **filters)[0])


def test_a_tender_to_its_fallo_gets_its_flags_explained_and_linked(world: World) -> None:
    tender_id = award(world)
    assert service.due(world.db)

    counts = service.refresh(world.buyer())

    flags = by_code(stored(world.db, tender_id=tender_id))
    assert counts["R018"] == 1
    assert [f.partida_number for f in flags["R018"]] == [2]
    assert flags["R018"][0].supplier_rfc == PARTIES["a"].rfc
    (r035,) = flags["R035"]
    assert (r035.partida_number, r035.supplier_rfc, r035.value) == (3, PARTIES["c"].rfc, 1)
    (r036,) = flags["R036"]
    assert r036.partida_number == 3
    # A partida's flag names the partida's clave, so the clave's page lists it.
    assert r036.clave == NICOTINA
    assert r036 in stored(world.db, clave=NICOTINA)
    assert "$47.00" in r036.explanation
    assert "no cumple" in r036.explanation  # the fallo's own reason travels with the flag
    # Suppliers registered today and awarded today: every award is to a brand-new supplier.
    assert {f.supplier_rfc for f in flags["AB04"]} == {PARTIES[k].rfc for k in "ac"}
    assert all(f.tender_number and f.detail["evidence"] for f in stored(world.db))
    supplier = world.suppliers["c"]
    assert {f.code for f in stored(world.db, supplier_id=supplier.id)} >= {"R035"}

    entry = world.db.scalars(select(LedgerEntry).where(LedgerEntry.action == "redflags.run")).one()
    assert entry.data()["counts"] == counts
    assert ledger.verify(world.db.connection()).ok
    assert not service.due(world.db)


def test_a_refresh_replaces_the_flags_whole(world: World) -> None:
    award(world)
    first = service.refresh(world.buyer())
    again = service.refresh(world.buyer())
    assert first == again
    assert world.db.scalar(select(func.count()).select_from(RedFlag)) == sum(first.values())


def test_a_sanction_in_force_on_the_award_date_flags_the_award(world: World) -> None:
    award(world)
    winner = PARTIES["c"]
    row = [
        winner.name.upper(),
        "INSTITUTO MEXICANO DEL SEGURO SOCIAL",
        "0099/2026",
        "NO ENTREGÓ.",
        "DISTRIBUCIÓN DE MEDICAMENTOS",
        "SANCIONATORIA CON INHABILITACIÓN",
        (world.now - timedelta(days=10)).date().isoformat(),
        (world.now - timedelta(days=12)).date().isoformat(),
        "1 AÑO",
        "",
    ]
    identity.import_sanctions(
        world.buyer(), content=_csv([HEADER, row[: len(HEADER)]]), filename="sancionados.csv"
    )
    service.refresh(world.buyer())
    (flag,) = [f for f in stored(world.db) if f.code == "AB03"]
    assert flag.supplier_rfc == winner.rfc
    assert "1 AÑO" in flag.explanation


def test_sealed_bids_are_never_read_and_tenderers_unknown_before_the_opening(
    world: World,
) -> None:
    tender = world.tender()
    world.clock.set(tender.clarification_deadline)
    world.tick()
    world.bid("a", tender, {1: "9.50"})
    frames = source_abasto.load(world.db)
    assert frames.bids.num_rows == 0
    assert set(frames.lots.column("number_of_tenderers").to_pylist()) == {None}


def test_the_tick_recomputes_only_after_a_new_fallo(world: World) -> None:
    award(world)
    world.db.commit()
    assert world.tick().flags is not None
    assert world.tick().flags is None


def test_add_months_keeps_the_day_or_the_months_last() -> None:
    assert source_abasto.add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert source_abasto.add_months(date(2024, 11, 15), 18) == date(2026, 5, 15)
