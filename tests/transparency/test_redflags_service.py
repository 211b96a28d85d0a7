"""Red flags of Abasto's own data, through the real services: a tender built to its fallo (the
award tests' ``awarded_tender``), its flags stored whole, the ledger entry, the tick's check."""

from __future__ import annotations

import json
import threading
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session

from abasto.award import rules
from abasto.contracts import rules as contract_rules
from abasto.contracts import service as contracts
from abasto.core import ledger
from abasto.core.clock import FixedClock
from abasto.core.context import Context, operator
from abasto.core.db import make_engine, session_factory, transaction
from abasto.core.ledger import LedgerEntry
from abasto.core.money import MEXICO_CITY
from abasto.identity import service as identity
from abasto.transparency.ocds import export as exporting
from abasto.transparency.redflags import indicators, service, source_abasto, source_ocds
from abasto.transparency.redflags.models import RedFlag
from tests.award.test_service import Offer, awarded_tender
from tests.conftest import invoke_abasto
from tests.contracts import factories as contract_factories
from tests.identity.test_sanctions import HEADER, _csv
from tests.tendering import conftest as tendering_world
from tests.tendering.conftest import ASPIRINA, NICOTINA, PARACETAMOL, PARTIES, World
from tests.transparency.conftest import Committed, build_purchases

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


def local_noon(day: date) -> datetime:
    return datetime.combine(day, time(12), MEXICO_CITY)


def test_contracts_executed_late_amended_and_penalised_are_flagged_by_name(
    world: World, client: TestClient
) -> None:
    """IMSS signs with «a» a day after the deadline and amends it to exactly 20 %, then 20.125 %
    (the tender allows 25 %); SEDENA's nicotina from «b» arrives 20 days late, its penalty
    capped at the guarantee."""
    tender = contract_factories.awarded(world, {"modification_cap": "0.25"}).tender
    contracts.create_contracts(world.buyer(), tender_id=tender.id)
    sedena_b = contract_factories.signed(world, "SEDENA", "b")
    imss_a = contract_factories.contract_of(world, "IMSS", "a")
    # The institution signs on the deadline's last day, the supplier the day after.
    world.clock.set(local_noon(imss_a.signing_deadline))
    contracts.sign(
        contract_factories.planner(world, "IMSS"), contract_id=imss_a.id, party="institucion"
    )
    world.clock.set(local_noon(imss_a.signing_deadline + timedelta(days=1)))
    contracts.sign(
        contract_factories.supplier(world, "a"), contract_id=imss_a.id, party="proveedor"
    )
    contracts.record_guarantee(
        contract_factories.supplier(world, "a"),
        contract_id=imss_a.id,
        issuer="Afianzadora Sofimex, S.A.",
        document_ref="Póliza 1",
    )
    # $15,200.00 contracted: +250 paracetamol × $9.50 + 35 aspirina × $19.00 = +$3,040.00.
    contracts.modify(
        contract_factories.planner(world, "IMSS"),
        contract_id=imss_a.id,
        reason="Brote estacional.",
        max_qty={PARACETAMOL: 1250, ASPIRINA: 335},
    )
    service.refresh(world.buyer())
    assert stored(world.db, code="AB08") == []  # exactly 20 %

    contracts.modify(
        contract_factories.planner(world, "IMSS"),
        contract_id=imss_a.id,
        reason="Brote estacional, segunda ampliación.",
        max_qty={ASPIRINA: 336},
    )
    sedena = contract_factories.planner(world, "SEDENA")
    order = contracts.issue_order(
        sedena,
        contract_id=sedena_b.id,
        clave=NICOTINA,
        quantity=19,
        unit_code="HCM-1",
        due_on=contract_rules.local_day(world.now) + timedelta(days=5),
    )
    b = contract_factories.supplier(world, "b")
    contracts.confirm_order(b, order_id=order.id)
    shipment = contracts.record_shipment(
        b, order_id=order.id, lots=contract_factories.lots(("N1", 19))
    )
    world.clock.set(local_noon(order.due_on + timedelta(days=20)))
    contracts.receive_shipment(
        contract_factories.planner(world, "SEDENA"),
        shipment_id=shipment.id,
        lots=[contracts.LotReceipt("N1", 19)],
    )
    assert sedena_b.penalties_at_cap
    assert service.due(world.db)  # a contract was amended and delivered to since the last run

    counts = service.refresh(world.buyer())
    assert not service.due(world.db)
    flags = by_code(stored(world.db, tender_id=tender.id))
    assert {code: counts[code] for code in ("AB07", "AB08", "AB09", "AB10", "AB11")} == {
        "AB07": 1,
        "AB08": 1,
        "AB09": 1,
        "AB10": 1,
        "AB11": 1,
    }
    a, b_party = PARTIES["a"], PARTIES["b"]
    (late_signed,) = flags["AB09"]
    assert (late_signed.tender_number, late_signed.institution_code) == (tender.number, "IMSS")
    assert (late_signed.subject, late_signed.supplier_rfc) == (imss_a.number, a.rfc)
    assert late_signed.value == 1
    assert late_signed.detail["supplier_name"] == a.name
    assert f"con {a.name} ({a.rfc}) quedó firmado" in late_signed.explanation
    (amended,) = flags["AB08"]
    assert amended.subject == imss_a.number
    assert amended.value == pytest.approx(3059 / 15200)
    assert "$15,200.00 a $18,259.00 con 2 convenios modificatorios: 20.12 %" in amended.explanation
    (capped,) = flags["AB11"]
    assert (capped.subject, capped.supplier_rfc) == (sedena_b.number, b_party.rfc)
    assert "suman $91.20" in capped.explanation
    for code in ("AB07", "AB10"):
        (flag,) = by_code(stored(world.db, rfc=b_party.rfc))[code]
        assert flag.explanation.startswith(f"{b_party.name} ({b_party.rfc})")
    assert "20 días después" in by_code(stored(world.db))["AB07"][0].explanation
    assert late_signed.detail["place"] == f"{tender.number}, contrato {imss_a.number}"

    # The public page names the indicator in Spanish and the company by its name.
    world.db.flush()
    page = client.get("/banderas", params={"indicador": "AB09"})
    assert page.status_code == 200
    assert "Contrato firmado fuera de plazo" in page.text
    assert f"{a.name} ({a.rfc})</a>" in page.text.replace("&amp;", "&")


def test_add_months_keeps_the_day_or_the_months_last() -> None:
    assert source_abasto.add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert source_abasto.add_months(date(2024, 11, 15), 18) == date(2026, 5, 15)


OURS = ("ocds-abasto-", "MX-RFC-", "MX-ABASTO-")
"""What our OCDS export adds to Abasto's ids: the ocid prefix, and each party's scheme."""


def _plain(value: str | None) -> str | None:
    for prefix in OURS:
        value = value.replace(prefix, "") if value else value
    return value


def flag_keys(flags: list[indicators.Flag]) -> set[tuple[Any, ...]]:
    """A flag by what it says: its indicator, what and where (ids without the export's prefixes),
    its value and its threshold."""
    return {
        (
            f.code,
            f.kind,
            _plain(f.lot_id),
            _plain(f.process_id),
            _plain(f.supplier_id),
            _plain(f.buyer_id),
            f.clave,
            round(f.value, 9),
            None if f.threshold is None else round(f.threshold, 9),
        )
        for f in flags
    }


# «d» bids on partidas 1 and 3: its line on 3 fails the evaluation (disqualified), its line on
# 1 is solvent (valid). A status per bid rather than per line would hide R036 on partida 3.
SPLIT_OFFERS: dict[str, dict[int, Offer]] = {**OFFERS, "d": {1: "10.60", 3: "47.00"}}
NOT_IN_OCDS = {"AB03", "AB04"}
"""Indicators that read what OCDS does not carry: the SFP's sanctions and the date each
supplier registered in Abasto."""


def agree(world: World, tmp_path: Path) -> set[tuple[Any, ...]]:
    """Export our OCDS and check that every packaging of it gives the database run's flags
    (but those of ``NOT_IN_OCDS``); returns them."""
    database = service.compute(world.db)
    target = tmp_path / "ocds"
    exporting.export(world.db, "ocds-abasto", target, published="2026-11-02T16:00:00Z")
    expected = flag_keys([f for f in database if f.code not in NOT_IN_OCDS])

    # `abasto redflags run --ocds` on the compiled releases, as a user would run it.
    out = tmp_path / "banderas.json"
    code, _, stderr = invoke_abasto(
        "sqlite://",
        tmp_path,
        "redflags",
        "run",
        "--ocds",
        str(target / exporting.COMPILED),
        "--out",
        str(out),
    )
    assert code == 0, stderr
    written = json.loads(out.read_text())
    assert {
        (
            f["code"],
            f["kind"],
            _plain(f["lot"]),
            _plain(f["process"]),
            _plain(f["supplier"]),
            _plain(f["buyer"]),
            f["clave"],
            round(f["value"], 9),
            None if f["threshold"] is None else round(f["threshold"], 9),
        )
        for f in written
    } == expected
    # The release packages (compiled by ocid) and the record packages say the same.
    for folder in ("releases", "records"):
        files = sorted((target / folder).glob("*.json"))
        content = b"\n".join(json.dumps(json.loads(f.read_bytes())).encode() for f in files)
        loaded = source_ocds.load(content, folder)
        assert flag_keys(indicators.compute(loaded.frames)) == expected, folder
    return expected


def test_our_ocds_export_gives_the_flags_of_the_database_run(world: World, tmp_path: Path) -> None:
    awarded_tender(world, rules.Mode.LOWEST, SPLIT_OFFERS, failing=[("d", 3)])
    world.db.flush()
    assert {key[0] for key in agree(world, tmp_path)} >= {"R018", "R035", "R036"}


def test_three_purchases_of_one_buyer_give_the_same_flags_from_our_ocds(
    world: World, tmp_path: Path
) -> None:
    # The coordinating buyer names every tender's buyer in OCDS; the database names none.
    identity.register_institution(
        world.buyer(),
        code="BIRMEX",
        name="Laboratorios de Biológicos y Reactivos de México",
        kind="compra consolidada",
    )
    build_purchases(world)
    found = agree(world, tmp_path)
    assert not [key for key in found if key[0] == "R038" and key[1] == "comprador"]


def test_a_refresh_holds_no_lock_a_bid_waits_for(
    committed_purchases: Committed, clock: FixedClock
) -> None:
    """While a refresh stores its flags, a bid's seal appends to the ledger and commits at once
    (issue 18, item 10: the refresh took the ledger's head first, and seals waited 11–19 s)."""
    if committed_purchases.url.startswith("sqlite"):
        pytest.skip("SQLite admits one writer at a time: any write waits for the refresh there")
    engine = make_engine(committed_purchases.url)
    sessions = session_factory(engine)
    storing, release = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    @event.listens_for(engine, "before_cursor_execute")
    def pause(*args: Any) -> None:
        statement = args[2]
        if statement.startswith("INSERT INTO red_flags") and threading.current_thread() is worker:
            storing.set()
            release.wait(30)

    def refresh() -> None:
        try:
            with transaction(sessions) as db:
                service.refresh(Context(db=db, actor=operator("tick"), now=clock.now()))
        except BaseException as exc:  # reported by the test below
            failures.append(exc)

    worker = threading.Thread(target=refresh)
    worker.start()
    try:
        assert storing.wait(30), "the refresh stored no flag"
        with transaction(sessions) as db:
            db.execute(text("SET LOCAL lock_timeout = '3s'"))
            Context(db=db, actor=operator("bid"), now=clock.now()).record(
                "bid.seal", "tender:1", {"commitment": "f00d"}
            )
    finally:
        release.set()
        worker.join(60)
    assert failures == []
    with engine.connect() as conn:
        assert ledger.verify(conn).ok
        actions = conn.scalars(select(LedgerEntry.action).order_by(LedgerEntry.seq.desc()).limit(2))
        assert list(actions) == ["redflags.run", "bid.seal"]
        assert (conn.scalar(select(func.count()).select_from(RedFlag)) or 0) > 0
    engine.dispose()
