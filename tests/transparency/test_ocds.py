"""OCDS releases, records, packages and the bulk export, on the end-to-end tender.

The end-to-end tender goes from a demand round through bids, the opening, the evaluation and the
fallo to contract drafts (as tests/award/test_e2e.py builds it, from the same building blocks); a
second tender is amended, asked, answered, has a partida desierta and is cancelled. Everything
the API and the export emit is validated against ../shared/ocds/1.1.5 (Draft 4, nothing fetched)
and its codelists, and ``ocdskit compile`` over the exported packages must give the records'
compiled releases.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from abasto.award import rules as award_rules
from abasto.award import service as award
from abasto.catalog import service as catalog
from abasto.contracts import rules as contract_rules
from abasto.contracts import service as contracts
from abasto.contracts.models import Contract, SupplyOrder
from abasto.core.config import Settings, load_settings
from abasto.core.context import Context
from abasto.core.ledger import LedgerEntry, format_instant
from abasto.identity import service as identity
from abasto.tendering import service as tendering
from abasto.tendering.models import Tender
from abasto.transparency.ocds import export as exporting
from abasto.transparency.ocds import releases as ocds
from tests.award.test_e2e import OFFERS
from tests.award.test_service import (
    ROUND,
    Opened,
    by_clave,
    evaluator,
    frozen_round,
    import_references,
    numbers,
    submit,
    verdicts_with,
)
from tests.conftest import SHARED, run_abasto
from tests.contracts import factories as contract_factories
from tests.tendering import conftest as tendering_world
from tests.tendering.conftest import (
    ASPIRINA,
    CLAVES,
    NICOTINA,
    PARACETAMOL,
    PARTIES,
    World,
    plan_for,
)

world = tendering_world.world
cheap_passwords = tendering_world.cheap_passwords

PREFIX = "ocds-abasto"
MEXICO = ZoneInfo("America/Mexico_City")
SCHEMAS = SHARED / "ocds" / "1.1.5"
BID_STATUSES = {"invited", "pending", "valid", "disqualified", "withdrawn"}
"""The bids extension's closed codelist (the extension is not in ../shared; see its v1.1.5)."""
EXTENSION_CODES = {"itemClassificationScheme.csv": {ocds.CLAVE_SCHEME, ocds.CUCOP_SCHEME}}
"""Codes Abasto adds to open codelists: the clave of the Compendio Nacional de Insumos para la
Salud and CUCoP, neither in OCDS's list of item classification schemes."""


# ----- validating against ../shared ------------------------------------------------------------


def _schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / name).read_text())
    return loaded


def _registry() -> Registry:
    names = ("release-schema.json", "versioned-release-validation-schema.json")
    return Registry().with_resources(
        (_schema(name)["id"], Resource.from_contents(_schema(name), default_specification=DRAFT4))
        for name in names
    )


REGISTRY = _registry()
VALIDATORS = {
    kind: Draft4Validator(_schema(f"{kind[:-1]}-package-schema.json"), registry=REGISTRY)
    for kind in ("releases", "records")
}
RELEASE = Draft4Validator(_schema("release-schema.json"), registry=REGISTRY)


def _codelist_fields(
    schema: dict[str, Any], node: dict[str, Any], path: tuple[str, ...], seen: frozenset[str]
) -> Iterator[tuple[tuple[str, ...], str, bool]]:
    """(path, codelist, open) of every field of the release schema that names a codelist."""
    ref = node.get("$ref")
    if ref and ref.startswith("#/definitions/"):
        name = ref.rsplit("/", 1)[1]
        if name in seen:
            return
        seen, node = seen | {name}, schema["definitions"][name]
    if "codelist" in node:
        yield path, node["codelist"], bool(node.get("openCodelist"))
    if "items" in node:
        yield from _codelist_fields(schema, node["items"], path, seen)
    for key, child in node.get("properties", {}).items():
        yield from _codelist_fields(schema, child, (*path, key), seen)


CODELIST_FIELDS = list(
    _codelist_fields(
        _schema("release-schema.json"), _schema("release-schema.json"), (), frozenset()
    )
)
CODES = {
    name: {
        row["Code"]
        for row in csv.DictReader((SCHEMAS / "codelists" / name).read_text().splitlines())
    }
    for _, name, _ in CODELIST_FIELDS
}


def _values(data: Any, path: tuple[str, ...]) -> Iterator[Any]:
    if isinstance(data, list):
        for item in data:
            yield from _values(item, path)
        return
    if not path:
        yield data
        return
    if isinstance(data, dict) and path[0] in data:
        yield from _values(data[path[0]], path[1:])


def codelist_problems(release: dict[str, Any]) -> list[str]:
    """Values of codelist fields not in their codelist (open ones may hold EXTENSION_CODES)."""
    problems = []
    for path, name, is_open in CODELIST_FIELDS:
        allowed = CODES[name] | (EXTENSION_CODES.get(name, set()) if is_open else set())
        for value in _values(release, path):
            if value is not None and value not in allowed:
                problems.append(f"{'.'.join(path)} = {value!r} not in {name}")
    for bid in release.get("bids", {}).get("details", []):
        if bid.get("status") not in BID_STATUSES | {None}:
            problems.append(f"bids.details.status = {bid['status']!r}")
    return problems


def check_package(package: dict[str, Any]) -> int:
    """Validate a release or record package and its releases; returns how many releases."""
    kind = "releases" if "releases" in package else "records"
    errors = [
        f"{list(e.absolute_path)}: {e.message}" for e in VALIDATORS[kind].iter_errors(package)
    ]
    assert not errors, errors[:10]
    assert package["version"] == "1.1"
    assert ocds.BIDS_EXTENSION in package["extensions"]
    releases = package["releases"] if kind == "releases" else []
    for record in package.get("records", []):
        releases += record["releases"]
        compiled = record["compiledRelease"]
        assert not list(RELEASE.iter_errors(compiled))
        assert codelist_problems(compiled) == []
    for release in releases:
        assert codelist_problems(release) == [], release["id"]
    return len(releases)


# ----- reading what the API serves -------------------------------------------------------------


def all_releases(client: TestClient, url: str = "/api/v1/ocds/releases") -> list[dict[str, Any]]:
    """Every release, page after page through ``links.next``, each package validated."""
    found: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        response = client.get(next_url)
        assert response.status_code == 200, response.text
        package = response.json()
        check_package(package)
        found += package["releases"]
        next_url = package.get("links", {}).get("next")
    return found


def local_day(instant: str) -> str:
    return datetime.fromisoformat(instant).astimezone(MEXICO).date().isoformat()


def ocids(releases: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["ocid"] for r in releases))


def records(client: TestClient, releases: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found = {}
    for ocid in ocids(releases):
        response = client.get(f"/api/v1/ocds/records/{ocid}")
        assert response.status_code == 200, response.text
        check_package(response.json())
        (record,) = response.json()["records"]
        found[ocid] = record
    return found


def exported(db: Any, target: Path, per_file: int = 3) -> exporting.ExportSummary:
    return exporting.export(db, PREFIX, target, published="2026-11-02T16:00:00Z", per_file=per_file)


def compile_with_ocdskit(folder: Path) -> dict[str, dict[str, Any]]:
    """``ocdskit compile`` over the exported release packages, offline: any request it tried
    would go to a proxy that does not exist and fail."""
    packages = "".join(p.read_text() for p in sorted((folder / "releases").glob("*.json")))
    dead = "http://127.0.0.1:9"
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("ocdskit")),
            "compile",
            "--schema",
            str(SCHEMAS / "release-schema.json"),
        ],
        input=packages,
        capture_output=True,
        text=True,
        env={**os.environ, "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "NO_PROXY": ""},
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    compiled = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return {c["ocid"]: c for c in compiled}


def check_export_matches_api(
    db: Any, client: TestClient, target: Path, per_file: int = 3
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The export validates, holds the API's releases, and ocdskit compiles them into the
    records API's compiled releases (and into compiled-releases.jsonl)."""
    served = all_releases(client)
    served_records = records(client, served)
    summary = exported(db, target, per_file)
    written: list[dict[str, Any]] = []
    for path in sorted((target / "releases").glob("*.json")):
        package = json.loads(path.read_text())
        check_package(package)
        written += package["releases"]
    for path in sorted((target / "records").glob("*.json")):
        check_package(json.loads(path.read_text()))
    assert summary.releases == len(written) == len(served)
    assert sorted(written, key=lambda r: r["id"]) == sorted(served, key=lambda r: r["id"])
    lines = (target / exporting.COMPILED).read_text().splitlines()
    jsonl = {c["ocid"]: c for c in map(json.loads, lines)}
    api = {ocid: record["compiledRelease"] for ocid, record in served_records.items()}
    assert compile_with_ocdskit(target) == api == jsonl
    return served, served_records


# ----- the scenario ------------------------------------------------------------------------------


@dataclass
class Scene:
    world: World
    awarded: Tender
    opened: Opened
    cancelled: Tender

    def ocid(self, tender: Tender) -> str:
        return ocds.ocid_of(PREFIX, tender.number)


def register_buyer(ctx: Context) -> None:
    identity.register_institution(
        ctx,
        code="BIRMEX",
        name="Laboratorios de Biológicos y Reactivos de México",
        kind="compra consolidada",
    )


def awarded_tender(world: World) -> tuple[Tender, Opened]:
    """The end-to-end tender of tests/award/test_e2e.py: round, bids, opening, evaluation
    (nicotina of «d» not valid), and the fallo of the lowest prices, with its drafts."""
    frozen_round(world)
    tender = tendering.create_tender(
        world.buyer(),
        world.sealer,
        title="Compra consolidada de medicamentos 2027-2028",
        procedure="licitacion_nacional",
        round_name=ROUND,
        award={"split_shares": [60, 40], "split_margin": "0.10"},
        **plan_for("licitacion_nacional", world.now).as_kwargs(),
    )
    tendering.publish_tender(world.buyer(), tender_id=tender.id)
    world.clock.set(tender.clarification_deadline)
    world.tick()
    bids = {k: submit(world, k, tender, by_clave(world.db, tender, o)) for k, o in OFFERS.items()}
    world.db.commit()
    world.clock.set(tender.bid_deadline)
    world.tick()
    world.clock.set(tender.opening_at)
    world.tick()
    tendering.open_all(world.buyer(), world.sealer, tender_id=tender.id)
    opened = Opened(tender, bids)
    import_references(world)
    nicotina = numbers(world.db, tender)[NICOTINA]
    verdicts = verdicts_with(world, opened, failing=[("d", nicotina)])
    award.record_evaluations(evaluator(world), tender_id=tender.id, verdicts=verdicts)
    world.clock.set(tender.fallo_at)
    award.issue_fallo(world.buyer(), tender_id=tender.id, mode=award_rules.Mode.LOWEST)
    return tender, opened


def cancelled_tender(world: World) -> Tender:
    """A tender amended, asked and answered, with a partida desierta, then cancelled."""
    tender = world.tender()
    buyer = world.buyer
    tendering.amend_tender(
        buyer(),
        tender_id=tender.id,
        description="Se amplía el plazo para presentar proposiciones.",
        bid_deadline=tender.bid_deadline + timedelta(days=2),
        opening_at=tender.opening_at + timedelta(days=2),
        fallo_at=tender.fallo_at + timedelta(days=2),
    )
    tendering.ask_question(
        world.as_supplier("a"), tender_id=tender.id, text="¿Se aceptan cajas de 20?", partida=1
    )
    world.clock.advance(timedelta(hours=1))
    tendering.answer_question(
        buyer(), tender_id=tender.id, number=1, answer="Sí, con la misma clave."
    )
    tendering.declare_desierta(
        buyer(), tender_id=tender.id, partida=3, reason="Sin fabricante con registro."
    )
    world.clock.advance(timedelta(hours=1))
    tendering.cancel_tender(
        buyer(), tender_id=tender.id, reason="Cambió la necesidad de las instituciones."
    )
    return tender


@pytest.fixture
def scene(world: World) -> Scene:
    register_buyer(world.buyer())
    cancelled = cancelled_tender(world)
    awarded, opened = awarded_tender(world)
    world.db.flush()
    return Scene(world, awarded, opened, cancelled)


# ----- the tests ---------------------------------------------------------------------------------


def test_every_stage_of_both_tenders_is_a_valid_release(client: TestClient, scene: Scene) -> None:
    served = all_releases(client)
    by_ocid: dict[str, list[dict[str, Any]]] = {}
    for release in served:
        by_ocid.setdefault(release["ocid"], []).append(release)
    won = by_ocid[scene.ocid(scene.awarded)]
    assert [r["tag"] for r in won] == [
        ["planning", "tender"],
        *[["tenderUpdate"]] * 4,  # four bids read out
        ["tenderUpdate"],  # the opening's statistics
        ["award", "contract"],
    ]
    off = by_ocid[scene.ocid(scene.cancelled)]
    assert [r["tag"] for r in off] == [
        ["tender"],
        ["tenderAmendment"],
        ["tenderUpdate"],
        ["award"],
        ["tenderCancellation"],
    ]
    entries = scene.world.db.query(LedgerEntry).filter(LedgerEntry.action.in_(ocds.STAGES)).all()
    by_seq = {e.seq: e for e in entries}
    for release in served:
        entry = by_seq[int(release["id"].rsplit("-", 1)[1])]
        assert release["date"] == format_instant(entry.at)
        assert release["initiationType"] == "tender"

    publish = won[0]
    assert publish["planning"]["budget"]["id"] == ROUND
    assert publish["buyer"]["id"] == "MX-ABASTO-BIRMEX"
    items = publish["tender"]["items"]
    assert [
        (i["classification"]["scheme"], i["classification"]["id"], i["description"]) for i in items
    ] == [("MX-CNIS", clave, CLAVES[clave]) for clave in numbers(scene.world.db, scene.awarded)]
    roles = {p["id"]: p["roles"] for p in publish["parties"]}
    assert roles["MX-ABASTO-BIRMEX"] == ["buyer", "procuringEntity"]
    assert {pid for pid, r in roles.items() if r == ["payer"]} == {
        "MX-ABASTO-IMSS",
        "MX-ABASTO-ISSSTE",
        "MX-ABASTO-SEDENA",
    }


def test_bids_awards_and_contracts_name_suppliers_by_rfc(client: TestClient, scene: Scene) -> None:
    (record,) = client.get(f"/api/v1/ocds/records/{scene.ocid(scene.awarded)}").json()["records"]
    compiled = record["compiledRelease"]
    parties = {p["id"]: p for p in compiled["parties"]}
    for key in "abcd":
        party = parties[f"MX-RFC-{PARTIES[key].rfc}"]
        assert party["identifier"] == {
            "scheme": "MX-RFC",
            "id": PARTIES[key].rfc,
            "legalName": PARTIES[key].name,
        }
        assert "tenderer" in party["roles"]
    # One bid detail per partida offered, related to its lot, with its own status.
    number = numbers(scene.world.db, scene.awarded)
    details = {d["id"]: d for d in compiled["bids"]["details"]}
    assert set(details) == {
        ocds.lot_bid_id(scene.opened.bids[key], number[clave])
        for key, offer in OFFERS.items()
        for clave in offer
    }
    for clave, price in (("010.000.0104.00", 9.5), ("010.000.0101.00", 19)):
        bid_a = details[ocds.lot_bid_id(scene.opened.bids["a"], number[clave])]
        assert bid_a["status"] == "valid"
        assert bid_a["relatedLots"] == [str(number[clave])]
        (item,) = bid_a["items"]
        assert (item["classification"]["id"], item["unit"]["value"]["amount"]) == (clave, price)
        assert item["relatedLot"] == str(number[clave])
    # «d»'s nicotina failed the evaluation: that line is disqualified, its other line is not.
    d_lines = {
        n: details[ocds.lot_bid_id(scene.opened.bids["d"], number[c])]
        for c, n in number.items()
        if c in OFFERS["d"]
    }
    assert {n: d["status"] for n, d in d_lines.items()} == {
        n: "disqualified" if n == number[NICOTINA] else "valid" for n in d_lines
    }
    statistics = {s["id"]: s["value"] for s in compiled["bids"]["statistics"]}
    assert statistics["bids"] == 4
    assert statistics[f"bidders-{number[NICOTINA]}"] == sum(
        1 for offer in OFFERS.values() if NICOTINA in offer
    )
    lots = {lot["id"]: lot for lot in compiled["tender"]["lots"]}
    assert set(lots) == {str(n) for n in number.values()}
    assert {i["relatedLot"] for i in compiled["tender"]["items"]} == set(lots)
    fallo_row = award.get_fallo(scene.world.db, scene.awarded.id)
    assert compiled["tender"]["value"]["amount"] == pytest.approx(float(fallo_row.reference_total))
    awards = {a["id"]: a for a in compiled["awards"]}
    suppliers = {a["suppliers"][0]["id"] for a in awards.values()}
    assert suppliers == {f"MX-RFC-{PARTIES[k].rfc}" for k in "acd"}
    assert all(a["value"]["currency"] == "MXN" for a in awards.values())
    for supplier in suppliers:
        assert parties[supplier]["roles"] == ["tenderer", "supplier"]
    fallo = award.get_fallo(scene.world.db, scene.awarded.id)
    assert sum(a["value"]["amount"] for a in awards.values()) == pytest.approx(float(fallo.total))
    contracts = compiled["contracts"]
    assert {c["awardID"] for c in contracts} <= set(awards)
    assert all(c["status"] == "pending" for c in contracts)
    drafts = award.contract_drafts(scene.world.db, fallo)
    assert sum(i["quantity"] for c in contracts for i in c["items"]) == sum(
        d.max_qty for d in drafts
    )
    assert {p for c in contracts for p in [c["id"].split("-", 1)[0]]} == {
        "IMSS",
        "ISSSTE",
        "SEDENA",
    }


def test_the_export_validates_and_ocdskit_compiles_it_into_the_records(
    client: TestClient, scene: Scene, tmp_path: Path
) -> None:
    served, _ = check_export_matches_api(scene.world.db, client, tmp_path / "ocds", per_file=3)
    assert len(list((tmp_path / "ocds" / "releases").glob("*.json"))) == -(-len(served) // 3)


def test_no_release_shows_a_price_or_a_bidder_before_the_opening(
    client: TestClient, world: World
) -> None:
    tender = world.tender()
    world.bid("a", tender, {1: "7319.47", 2: "2846.19"}, manufacturer="Fabrica Zentlalli")
    world.bid("b", tender, {1: "6042.71"})
    world.db.flush()
    sealed = ("7319.47", "2846.19", "6042.71", "Zentlalli")
    named = {m for k in "ab" for m in (PARTIES[k].rfc, PARTIES[k].name)}

    def shown() -> str:
        ocid = ocds.ocid_of(PREFIX, tender.number)
        pages = client.get("/api/v1/ocds/releases").text
        return pages + client.get(f"/api/v1/ocds/records/{ocid}").text

    before = shown()
    assert not [m for m in (*sealed, *named) if m in before]
    world.clock.set(tender.opening_at)
    world.tick(finish=True)
    after = shown()
    # The check is not blind: once opened, prices and bidders are published.
    assert "7319.47" in after
    assert all(m in after for m in named)


def test_releases_read_the_same_after_later_writes(client: TestClient, scene: Scene) -> None:
    first = all_releases(client)
    world = scene.world
    # The catalog renames a clave, a supplier changes its name, another tender is published.
    catalog.import_catalog(
        world.buyer(),
        content=f'Clave,Descripción\n{NICOTINA},"Nicotina. Chicle de 4 mg."\n'.encode(),
        filename="catalogo.csv",
    )
    identity.update_supplier(
        world.buyer(), rfc=PARTIES["a"].rfc, razon_social="Otro Nombre, S.A. de C.V.", version=1
    )
    world.tender()
    world.db.flush()
    again = all_releases(client)
    assert again[: len(first)] == first
    assert len(again) == len(first) + 1


def test_pages_link_to_each_other_and_dates_filter(client: TestClient, scene: Scene) -> None:
    everything = all_releases(client)
    paged = all_releases(client, "/api/v1/ocds/releases?limit=2")
    assert paged == everything
    second = client.get("/api/v1/ocds/releases?limit=2").json()["links"]["next"]
    page = client.get(second).json()
    assert page["releases"] == everything[2:4]
    back = client.get(page["links"]["prev"]).json()
    assert back["releases"] == everything[:2]
    assert "prev" not in back.get("links", {})

    dates = sorted({r["date"] for r in everything})
    middle = dates[len(dates) // 2]
    since = all_releases(client, f"/api/v1/ocds/releases?since={quote(middle)}")
    until = all_releases(client, f"/api/v1/ocds/releases?until={quote(middle)}")
    assert since == [r for r in everything if r["date"] >= middle]
    assert until == [r for r in everything if r["date"] <= middle]
    # A date is a whole day in Mexico's time, both bounds included.
    day = local_day(middle)
    whole_day = all_releases(client, f"/api/v1/ocds/releases?since={day}&until={day}")
    assert whole_day == [r for r in everything if local_day(r["date"]) == day]
    ocid = scene.ocid(scene.cancelled)
    only = all_releases(client, f"/api/v1/ocds/releases?ocid={ocid}")
    assert only == [r for r in everything if r["ocid"] == ocid]


@pytest.mark.parametrize(
    ("url", "status", "words"),
    [
        ("/api/v1/ocds/records/ocds-abasto-AB-1999-0001", 404, "No existe el proceso"),
        ("/api/v1/ocds/records/otro-prefijo-1", 404, "No existe el proceso"),
        ("/api/v1/ocds/releases?since=2026-13-45", 422, "no es una fecha válida"),
        ("/api/v1/ocds/releases?until=ayer", 422, "no es una fecha válida"),
        ("/api/v1/ocds/releases?since=2026-12-01&until=2026-11-01", 422, "intervalo"),
        ("/api/v1/ocds/releases?limit=0", 422, "limit"),
        ("/api/v1/ocds/releases?after=x", 422, "cursor"),
        ("/api/v1/ocds/releases?ocid=ocds-abasto-nada", 404, "No existe el proceso"),
    ],
)
def test_bad_input_gets_a_clear_error_in_spanish(
    client: TestClient, world: World, url: str, status: int, words: str
) -> None:
    response = client.get(url)
    assert response.status_code == status, response.text
    assert words.lower() in response.text.lower()


def test_an_unpublished_tender_has_no_record(client: TestClient, world: World) -> None:
    draft = world.tender(publish=False)
    world.db.flush()
    response = client.get(f"/api/v1/ocds/records/{ocds.ocid_of(PREFIX, draft.number)}")
    assert response.status_code == 404
    assert "no se ha publicado" in response.json()["detail"]


def test_a_failed_export_leaves_the_folder_as_it_was(scene: Scene, tmp_path: Path) -> None:
    target = tmp_path / "ocds"
    exported(scene.world.db, target)
    before = {p: p.read_bytes() for p in target.rglob("*") if p.is_file()}
    with pytest.raises(RuntimeError):
        exporting.export(
            scene.world.db, PREFIX, target, published="2026-11-03T00:00:00Z", fail_after=2
        )
    assert {p: p.read_bytes() for p in target.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ocds"]
    # A second export replaces the first whole.
    exported(scene.world.db, target, per_file=1000)
    assert len(list((target / "releases").glob("*.json"))) == 1


def test_the_export_refuses_a_folder_it_did_not_write(world: World, tmp_path: Path) -> None:
    (tmp_path / "mio.txt").write_text("no tocar")
    with pytest.raises(Exception, match="no es una exportación OCDS anterior"):
        exported(world.db, tmp_path)
    assert (tmp_path / "mio.txt").read_text() == "no tocar"


def test_the_cli_exports_into_a_folder(fresh_database_url: str, tmp_path: Path) -> None:
    result = run_abasto(fresh_database_url, tmp_path, "ocds", "export", str(tmp_path / "salida"))
    assert result.returncode == 0, result.stderr
    assert "Exportadas 0 entregas" in result.stdout
    assert (tmp_path / "salida" / exporting.COMPILED).read_text() == ""
    bad = run_abasto(fresh_database_url, tmp_path, "ocds", "export", str(tmp_path / "no" / "hay"))
    assert bad.returncode == 1
    assert "No existe la carpeta" in bad.stderr


def test_packages_declare_their_extensions_and_the_policy_url_of_the_settings(
    client: TestClient,
    scene: Scene,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    package = client.get("/api/v1/ocds/releases").json()
    # The bids extension after v1.1.5 defines Bid.items and relatedLots; lots and pagination.
    assert package["extensions"] == list(ocds.EXTENSIONS)
    assert "/ocds_bid_extension/master/" in ocds.BIDS_EXTENSION
    assert {ocds.LOTS_EXTENSION, ocds.PAGINATION_EXTENSION} <= set(package["extensions"])
    assert package["publicationPolicy"] == settings.publication_policy
    assert settings.publication_policy == "http://localhost:8000/api/v1/ocds/policy"
    monkeypatch.setenv("ABASTO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ABASTO_SECRET_KEY", "x")
    monkeypatch.setenv("ABASTO_PUBLIC_URL", "https://abasto.salud.gob.mx/")
    assert load_settings().publication_policy == "https://abasto.salud.gob.mx/api/v1/ocds/policy"
    monkeypatch.setenv("ABASTO_OCDS_POLICY_URL", "https://datos.gob.mx/politica-ocds")
    policy = load_settings().publication_policy
    assert policy == "https://datos.gob.mx/politica-ocds"
    exporting.export(
        scene.world.db, PREFIX, tmp_path / "ocds", published="2026-11-02T16:00:00Z", policy=policy
    )
    written = [json.loads(p.read_text()) for p in (tmp_path / "ocds").rglob("*.json")]
    assert written
    assert {p["publicationPolicy"] for p in written} == {policy}


# ----- after the fallo: the contracts ------------------------------------------------------------


@dataclass
class Executed:
    world: World
    tender: Tender
    contract: Contract
    order: SupplyOrder
    institution_signed_at: datetime
    supplier_signed_at: datetime


def executed_contract(world: World) -> Executed:
    """IMSS's contract with «a» (1,000 paracetamol at $9.50, 300 aspirina at $19.00): signed
    by the institution, by the supplier a day later, guaranteed, amended to 1,100 paracetamol,
    with an order of 400 delivered 3 days late, 10 of them rejected."""
    register_buyer(world.buyer())
    tender = contract_factories.awarded(world).tender
    contracts.create_contracts(world.buyer(), tender_id=tender.id)
    contract = contract_factories.contract_of(world, "IMSS", "a")
    contracts.sign(
        contract_factories.planner(world, "IMSS"), contract_id=contract.id, party="institucion"
    )
    first = world.now
    world.clock.advance(timedelta(days=1))
    contracts.sign(world.as_supplier("a"), contract_id=contract.id, party="proveedor")
    second = world.now
    contracts.record_guarantee(
        world.as_supplier("a"),
        contract_id=contract.id,
        issuer="Afianzadora Sofimex, S.A.",
        document_ref="Póliza 123",
    )
    world.clock.advance(timedelta(days=1))
    contracts.modify(
        contract_factories.planner(world, "IMSS"),
        contract_id=contract.id,
        reason="Demanda invernal mayor a la prevista.",
        max_qty={PARACETAMOL: 1100},
    )
    imss = contract_factories.planner(world, "IMSS")
    due = contract_rules.local_day(world.now) + timedelta(days=10)
    order = contracts.issue_order(
        imss,
        contract_id=contract.id,
        clave=PARACETAMOL,
        quantity=400,
        unit_code="HGZ-1",
        due_on=due,
    )
    contracts.confirm_order(world.as_supplier("a"), order_id=order.id)
    shipment = contracts.record_shipment(
        world.as_supplier("a"), order_id=order.id, lots=contract_factories.lots(("L1", 400))
    )
    world.clock.set(datetime.combine(due + timedelta(days=3), datetime.min.time(), MEXICO))
    world.clock.advance(timedelta(hours=12))
    contracts.receive_shipment(
        contract_factories.planner(world, "IMSS"),
        shipment_id=shipment.id,
        lots=[contracts.LotReceipt("L1", 390, 10, "danado")],
    )
    world.db.flush()
    return Executed(world, tender, contract, order, first, second)


def test_a_signed_amended_and_late_contract_is_released_and_compiled(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    done = executed_contract(world)
    served, served_records = check_export_matches_api(world.db, client, tmp_path / "ocds")
    ocid = ocds.ocid_of(PREFIX, done.tender.number)
    mine = [r for r in served if r["ocid"] == ocid]
    # Filtered by its ocid, or read two ledger entries a page, the contracts' releases are the
    # same: each page folds their process from its start.
    assert all_releases(client, f"/api/v1/ocds/releases?ocid={quote(ocid)}") == mine
    assert all_releases(client, "/api/v1/ocds/releases?limit=2") == served
    made = len(contracts.list_contracts(done.world.buyer()))
    assert [r["tag"] for r in mine][-(made + 8) :] == [
        ["award", "contract"],  # the fallo's drafts
        *[["contract"]] * made,  # made from the drafts
        ["contractUpdate"],  # the institution signs
        ["contractUpdate"],  # the supplier signs
        ["contractUpdate"],  # the guarantee
        ["contractUpdate"],  # in force
        ["contractAmendment"],
        ["implementation"],  # the order
        ["implementationUpdate"],  # its late delivery
    ]
    contract_id = f"IMSS-{PARTIES['a'].rfc}"
    signing = [
        c
        for r in mine
        for c in r.get("contracts", [])
        if c["id"] == contract_id and "documents" in c
    ]
    # Signed by the institution only, it has no dateSigned; by both, the later signature.
    assert "dateSigned" not in signing[0]
    assert signing[1]["dateSigned"] == format_instant(done.supplier_signed_at)
    assert done.supplier_signed_at > done.institution_signed_at

    compiled = served_records[ocid]["compiledRelease"]
    (contract,) = [c for c in compiled["contracts"] if c["id"] == contract_id]
    assert contract["status"] == "active"
    assert contract["awardID"] == f"adjudicacion-{PARTIES['a'].rfc}"
    assert contract["dateSigned"] == format_instant(done.supplier_signed_at)
    assert contract["period"] == {
        "startDate": ocds.day_start(done.contract.starts_on),
        "endDate": ocds.day_end(done.contract.ends_on),
    }
    assert local_day(contract["period"]["startDate"]) == done.contract.starts_on.isoformat()
    # 1,100 × $9.50 + 300 × $19.00 after the convenio (it was $15,200.00).
    assert contract["value"] == {"amount": 16150, "currency": "MXN"}
    assert contract["description"] == (
        f"Contrato abierto {done.contract.number}: de 520 a 1,400 piezas en total; importe "
        "máximo antes de IVA."
    )
    items = {i["classification"]["id"]: i for i in contract["items"]}
    assert {c: (i["quantity"], i["unit"]["value"]["amount"]) for c, i in items.items()} == {
        PARACETAMOL: (1100, 9.5),
        ASPIRINA: (300, 19),
    }
    documents = {d["id"]: d for d in contract["documents"]}
    signed_pdf = documents["contrato-firmado"]
    assert signed_pdf["documentType"] == "contractSigned"
    assert done.contract.document_sha256 in signed_pdf["description"]
    assert "la institución y el proveedor" in signed_pdf["description"]
    assert documents["garantia"]["documentType"] == "contractGuarantees"
    assert "$1,520.00" in documents["garantia"]["description"]

    (amendment,) = contract["amendments"]
    releases_of_contract = [
        r["id"] for r in mine if any(c["id"] == contract_id for c in r.get("contracts", []))
    ]
    amending = releases_of_contract.index(amendment["releaseID"])
    assert amendment["amendsReleaseID"] == releases_of_contract[amending - 1]
    assert amendment["rationale"] == "Demanda invernal mayor a la prevista."
    assert "de 1,000 a 1,100 piezas" in amendment["description"]
    assert "$15,200.00 a $16,150.00" in amendment["description"]

    implementation = contract["implementation"]
    assert "transactions" not in implementation  # Abasto records no payments
    milestones = {m["id"]: m for m in implementation["milestones"]}
    order, receipt = milestones["orden-1"], milestones["orden-1-envio-1"]
    assert order["type"] == receipt["type"] == "delivery"
    assert local_day(order["dueDate"]) == done.order.due_on.isoformat()
    assert order["status"] == "partiallyMet"  # 390 of 400 accepted
    assert "dateMet" not in order
    assert receipt["status"] == "met"
    assert receipt["dateMet"] > receipt["dueDate"]
    assert local_day(receipt["dateMet"]) == (done.order.due_on + timedelta(days=3)).isoformat()
    assert "3 días después" in receipt["description"]
    assert "10 rechazadas (producto dañado)" in receipt["description"]
    # The other contracts of the fallo were never made formal: still pending drafts.
    assert {c["status"] for c in compiled["contracts"] if c["id"] != contract_id} == {"pending"}


def test_a_rescinded_contract_never_signed_is_cancelled(client: TestClient, world: World) -> None:
    register_buyer(world.buyer())
    tender = contract_factories.awarded(world).tender
    contracts.create_contracts(world.buyer(), tender_id=tender.id)
    contract = contract_factories.contract_of(world, "SEDENA", "b")
    contracts.close_contract(
        world.buyer(), contract_id=contract.id, rescind=True, reason="El proveedor no firmó."
    )
    world.db.flush()
    ocid = ocds.ocid_of(PREFIX, tender.number)
    (record,) = client.get(f"/api/v1/ocds/records/{ocid}").json()["records"]
    (found,) = [
        c for c in record["compiledRelease"]["contracts"] if c["id"] == f"SEDENA-{PARTIES['b'].rfc}"
    ]
    assert found["status"] == "cancelled"
    assert "El proveedor no firmó." in found["description"]
    assert record["releases"][-1]["tag"] == ["contractTermination"]


def test_an_order_closed_unsupplied_is_not_met_and_a_concluded_contract_terminated(
    client: TestClient, world: World
) -> None:
    register_buyer(world.buyer())
    tender = contract_factories.awarded(world).tender
    contracts.create_contracts(world.buyer(), tender_id=tender.id)
    contract = contract_factories.signed(world, "SEDENA", "b")
    due = contract_rules.local_day(world.now) + timedelta(days=5)
    order = contracts.issue_order(
        contract_factories.planner(world, "SEDENA"),
        contract_id=contract.id,
        clave=NICOTINA,
        quantity=19,
        unit_code="HCM-1",
        due_on=due,
    )
    world.clock.set(datetime.combine(due + timedelta(days=1), datetime.min.time(), MEXICO))
    contracts.close_short(
        contract_factories.planner(world, "SEDENA"), order_id=order.id, reason="No surtió."
    )
    contracts.close_contract(
        contract_factories.planner(world, "SEDENA"),
        contract_id=contract.id,
        rescind=False,
        reason="Concluyó la vigencia.",
    )
    world.db.flush()
    served = all_releases(client)  # every release validated against the schema
    ocid = ocds.ocid_of(PREFIX, tender.number)
    assert [r["tag"] for r in served if r["ocid"] == ocid][-3:] == [
        ["implementation"],
        ["implementationUpdate"],
        ["contractTermination"],
    ]
    (record,) = client.get(f"/api/v1/ocds/records/{ocid}").json()["records"]
    (found,) = [
        c for c in record["compiledRelease"]["contracts"] if c["id"] == f"SEDENA-{PARTIES['b'].rfc}"
    ]
    assert found["status"] == "terminated"
    (milestone,) = found["implementation"]["milestones"]
    assert milestone["status"] == "notMet"
    assert "cerrada con 19 sin surtir: No surtió." in milestone["description"]
    assert "dateMet" not in milestone
