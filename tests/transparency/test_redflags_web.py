"""Red flags through the API, the /banderas page and the ``abasto redflags run`` command."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from abasto.cli import app
from abasto.core.db import make_engine, session_factory, transaction
from abasto.core.ledger import LedgerEntry
from abasto.tendering.models import Tender
from abasto.transparency.redflags import service
from abasto.transparency.redflags.indicators import CODES
from tests.conftest import run_abasto
from tests.tendering import conftest as tendering_world
from tests.tendering.conftest import NICOTINA, PARTIES, World
from tests.transparency.test_redflags_ocds import compiled, lines
from tests.transparency.test_redflags_service import award

world = tendering_world.world
cheap_passwords = tendering_world.cheap_passwords


def flagged(world: World) -> int:
    tender_id = award(world)
    service.refresh(world.buyer())
    world.db.flush()
    return tender_id


def test_the_api_lists_flags_with_filters_explanations_and_counts(
    world: World, client: TestClient
) -> None:
    tender_id = flagged(world)
    everything = client.get("/api/v1/redflags").json()
    assert everything["total"] == sum(everything["counts"].values()) > 0
    assert set(everything["counts"]) == set(CODES)

    single = client.get("/api/v1/redflags", params={"code": "R018"}).json()
    (item,) = single["items"]
    assert item["tender_id"] == tender_id
    assert item["partida_number"] == 2
    assert item["supplier_rfc"] == PARTIES["a"].rfc
    assert item["explanation"].startswith("Solo un licitante")
    assert item["evidence"]["bids"]

    by_supplier = client.get("/api/v1/redflags", params={"supplier": PARTIES["c"].rfc}).json()
    assert by_supplier["items"]
    assert {i["supplier_rfc"] for i in by_supplier["items"]} == {PARTIES["c"].rfc}
    assert client.get("/api/v1/redflags", params={"tender": 999999}).json()["total"] == 0
    paged = client.get("/api/v1/redflags", params={"per_page": 1, "page": 2}).json()
    assert len(paged["items"]) == 1
    assert paged["items"][0] == everything["items"][1]


def test_an_unknown_indicator_is_refused_in_spanish(client: TestClient) -> None:
    response = client.get("/api/v1/redflags", params={"code": "R999"})
    assert response.status_code == 422
    assert "No existe el indicador «R999»" in response.text


def test_the_indicators_say_their_definition_threshold_and_source(client: TestClient) -> None:
    found = client.get("/api/v1/redflags/indicators").json()
    assert [i["code"] for i in found] == list(CODES)
    r024 = next(i for i in found if i["code"] == "R024")
    assert "Q1 − 1.5·RIC" in r024["threshold"]
    assert "cardinal" in r024["source"].lower()


def test_the_page_shows_counts_and_filters_without_javascript(
    world: World, client: TestClient
) -> None:
    tender_id = flagged(world)
    page = client.get("/banderas")
    assert page.status_code == 200
    assert "Banderas rojas" in page.text
    assert 'data-code="R018"' in page.text
    filtered = client.get("/banderas", params={"indicador": "R035"}).text
    assert 'class="card redflag" data-code="R035"' in filtered
    assert 'class="card redflag" data-code="R018"' not in filtered
    assert f'href="/licitaciones/{tender_id}"' in filtered
    assert f'href="/proveedores/{PARTIES["c"].rfc}"' in filtered
    bad = client.get("/banderas", params={"indicador": "nada"})
    assert bad.status_code == 422
    assert "No existe el indicador" in bad.text


def test_the_page_says_when_flags_were_never_computed(client: TestClient) -> None:
    assert "Todavía no se han calculado" in client.get("/banderas").text


def ocds_file(tmp_path: Path) -> Path:
    release = copy.deepcopy(compiled())
    release["tender"]["numberOfTenderers"] = 1
    release["tender"]["procurementMethod"] = "open"
    path = tmp_path / "datos.jsonl"
    path.write_bytes(lines(release) + b"\nesto no es json\n")
    return path


def test_the_cli_on_an_ocds_file_counts_flags_and_skips_and_writes_them(tmp_path: Path) -> None:
    out = tmp_path / "banderas.json"
    result = CliRunner().invoke(
        app,
        ["redflags", "run", "--ocds", str(ocds_file(tmp_path)), "--out", str(out)],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "R018" in result.output
    assert "líneas que no son JSON" in result.output
    written = json.loads(out.read_text())
    # AB01 too: the example's award (137,000 GBP) is 14.2 % above its tender item's 120,000.
    assert [f["code"] for f in written] == ["R018", "AB01"]
    assert written[0]["explanation"].startswith("Solo un licitante")
    csv_out = tmp_path / "banderas.csv"
    result = CliRunner().invoke(
        app, ["redflags", "run", "--ocds", str(ocds_file(tmp_path)), "--out", str(csv_out)]
    )
    assert result.exit_code == 0, result.output
    assert csv_out.read_bytes().startswith(b"\xef\xbb\xbfcode,title,kind")


def test_the_cli_refuses_a_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "malo.json"
    path.write_text("Clave,Precio\n")
    result = CliRunner().invoke(app, ["redflags", "run", "--ocds", str(path)])
    assert result.exit_code == 1
    assert "no es JSON" in result.output


def test_the_cli_stores_abastos_flags_with_a_ledger_entry(
    fresh_database_url: str, tmp_path: Path
) -> None:
    result = run_abasto(fresh_database_url, tmp_path, "redflags", "run")
    assert result.returncode == 0, result.stderr
    assert "Banderas guardadas" in result.stdout
    engine = make_engine(fresh_database_url)
    with transaction(session_factory(engine)) as db:
        assert db.scalar(select(LedgerEntry.action).order_by(LedgerEntry.seq.desc())) == (
            "redflags.run"
        )
        assert service.last_run(db) is not None
    engine.dispose()


def test_the_portal_pages_show_their_own_flags(world: World, client: TestClient) -> None:
    tender_id = flagged(world)
    tender = client.get(f"/licitaciones/{tender_id}").text
    number = world.db.get(Tender, tender_id)
    assert number is not None
    # Partida 2 had one bidder (R018), partida 3 the lowest bid disqualified (R036, R035).
    for code in ("R018", "R035", "R036"):
        assert f'data-code="{code}"' in tender
    assert f"/banderas?licitacion={number.number}" in tender

    # The supplier's page lists only flags naming it; «b» won nothing and was not flagged.
    winner = client.get(f"/proveedores/{PARTIES['c'].rfc}").text
    assert 'data-code="R035"' in winner
    assert 'data-code="R018"' not in winner
    quiet = client.get(f"/proveedores/{PARTIES['b'].rfc}").text
    assert "No hay banderas rojas de este proveedor." in quiet

    # The clave's page shows its partida's flags (R036 on nicotina), not the others.
    clave = client.get(f"/catalogo/{NICOTINA}").text
    assert 'data-code="R036"' in clave
    assert 'data-code="R018"' not in clave

    # /banderas filtered by the tender lists the same flags as the tender's page.
    listed = client.get("/banderas", params={"licitacion": number.number}).text
    assert listed.count('class="card redflag"') == tender.count('class="card redflag"') > 0


def test_the_cli_refuses_an_ocds_file_with_nothing_usable_saying_why(tmp_path: Path) -> None:
    path = tmp_path / "vacio.jsonl"
    path.write_bytes(b'{"tender": {}}\n{"tender": {}}\n[1]\n')
    result = CliRunner().invoke(app, ["redflags", "run", "--ocds", str(path)])
    assert result.exit_code == 1
    assert "no contiene ningún proceso de contratación con ocid" in result.output
    assert "entregas o registros sin ocid: 2" in result.output
