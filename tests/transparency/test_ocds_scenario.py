"""OCDS of the demo scenario: the small scale loaded as ``abasto demo`` stages it (an awarded
tender and a live opening still sealed), every release, record and package valid, and
``ocdskit compile`` over the export equal to the records API."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from abasto.core.clock import FixedClock
from abasto.core.config import Settings
from abasto.core.context import Context, operator
from abasto.scenario.award import stage_awarded_tender
from abasto.scenario.build import build_scenario
from abasto.scenario.load import load_scenario
from abasto.scenario.tenders import stage_demo_opening
from abasto.tendering.sealing import Sealer
from abasto.transparency.ocds import releases as ocds
from tests.transparency.test_ocds import PREFIX, check_export_matches_api


def test_the_demo_scenario_publishes_valid_ocds(
    client: TestClient,
    db: Session,
    clock: FixedClock,
    settings: Settings,
    tmp_path: Path,
) -> None:
    began = time.perf_counter()
    scenario = build_scenario(7, "small")
    ctx = Context(db=db, actor=operator("pruebas"), now=clock.now())
    load_scenario(ctx, scenario, forecast=False)
    sealer = Sealer.from_settings(settings)
    awarded = stage_awarded_tender(ctx, sealer, scenario)
    live = stage_demo_opening(ctx, sealer, scenario)
    db.flush()
    built = time.perf_counter() - began

    served, records = check_export_matches_api(db, client, tmp_path / "ocds", per_file=10)

    assert set(records) == {
        ocds.ocid_of(PREFIX, awarded.number),
        ocds.ocid_of(PREFIX, live.number),
    }
    won = records[ocds.ocid_of(PREFIX, awarded.number)]["compiledRelease"]
    assert won["tag"] == ["compiled"]
    assert len([a for a in won["awards"] if a["status"] == "active"]) >= 1
    assert won["contracts"]
    assert won["planning"]["budget"]["id"]
    # The live opening has not started: its record holds no bid, no bidder.
    sealed = records[ocds.ocid_of(PREFIX, live.number)]["compiledRelease"]
    assert "bids" not in sealed
    assert "tenderers" not in sealed["tender"]
    assert {p["roles"][0] for p in sealed.get("parties", [])} <= {"buyer", "payer"}
    print(f"demo scenario built in {built:.1f} s; {len(served)} releases")
