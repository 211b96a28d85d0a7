"""Red flags of another publisher's OCDS data: the standard's fictional examples (read from
../shared at run time), changed to raise flags, and every kind of bad input."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from abasto.core.errors import ValidationFailed
from abasto.transparency.redflags import indicators, source_ocds
from tests.conftest import SHARED

EXAMPLES = SHARED / "ocds" / "examples" / "fictional-1.1"
OCDS_CURRENCIES = SHARED / "ocds" / "1.1.5" / "codelists" / "currency.csv"


def record_package() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (EXAMPLES / "record" / "ocds-213czf-000-00001-withversions.json").read_text()
    )
    return data


def compiled() -> dict[str, Any]:
    release: dict[str, Any] = record_package()["records"][0]["compiledRelease"]
    return release


def lines(*releases: dict[str, Any]) -> bytes:
    return "\n".join(json.dumps(r) for r in releases).encode()


def codes(content: bytes, **kwargs: Any) -> dict[str, int]:
    loaded = source_ocds.load(content, "datos.json", **kwargs)
    found: dict[str, int] = {}
    for flag in indicators.compute(loaded.frames):
        found[flag.code] = found.get(flag.code, 0) + 1
    return found


def with_bids(release: dict[str, Any], *bids: tuple[str, str, float, str]) -> dict[str, Any]:
    """The release with these bids (id, tenderer, amount, status) in its currency."""
    changed = copy.deepcopy(release)
    currency = changed["awards"][0]["value"]["currency"]
    changed["bids"] = {
        "details": [
            {
                "id": bid_id,
                "status": status,
                "tenderers": [{"id": who}],
                "value": {"amount": amount, "currency": currency},
            }
            for bid_id, who, amount, status in bids
        ]
    }
    return changed


def test_the_fictional_examples_read_in_every_packaging_with_one_flag() -> None:
    package = (EXAMPLES / "record" / "ocds-213czf-000-00001-withversions.json").read_bytes()
    loaded = source_ocds.load(package, "record.json")
    assert loaded.processes == 1
    assert loaded.frames.awards.num_rows == len(compiled()["awards"])
    # Its tender estimated the item's unit at 120,000 GBP, and it was awarded at 137,000:
    # 14.2 % above the reference, which AB01 reads from the tender item's unit value.
    (flag,) = indicators.compute(loaded.frames)
    assert (flag.code, round(flag.value, 4)) == ("AB01", round(137000 / 120000 - 1, 4))
    releases = sorted(EXAMPLES.glob("ocds-213czf-000-00001-0*.json"))
    merged = {"releases": [r for f in releases for r in json.loads(f.read_text())["releases"]]}
    loaded = source_ocds.load(json.dumps(merged).encode(), "releases.json")
    assert loaded.processes == 1
    assert loaded.frames.awards.to_pylist()[0]["status"] == compiled()["awards"][0]["status"]
    assert codes(lines(compiled())) == {"AB01": 1}


def test_a_json_list_of_records_and_a_bare_record_are_read_as_records() -> None:
    record = record_package()["records"][0]
    other = copy.deepcopy(record)
    other["ocid"] = other["compiledRelease"]["ocid"] = "ocds-213czf-000-00002"
    for content in (json.dumps([record, other]).encode(), lines(record, other)):
        loaded = source_ocds.load(content, "registros.json")
        assert loaded.processes == 2
        assert loaded.frames.awards.num_rows == 2 * len(compiled()["awards"])
    loaded = source_ocds.load(json.dumps(record).encode(), "registro.json")
    assert (loaded.processes, loaded.frames.awards.num_rows) == (1, len(compiled()["awards"]))


def test_a_single_tenderer_and_identical_prices_are_flagged_from_ocds() -> None:
    release = copy.deepcopy(compiled())
    release["tender"]["numberOfTenderers"] = 1
    release["tender"]["procurementMethod"] = "open"
    assert codes(lines(release)).get("R018") == 1
    release["tender"]["numberOfTenderers"] = 2
    assert "R018" not in codes(lines(release))
    winner = release["awards"][0]["suppliers"][0]["id"]
    same = with_bids(release, ("1", winner, 100.0, "valid"), ("2", "OTRO", 100.0, "valid"))
    assert codes(lines(same)).get("R028") == 2
    apart = with_bids(release, ("1", winner, 100.0, "valid"), ("2", "OTRO", 100.01, "valid"))
    assert "R028" not in codes(lines(apart))


def test_a_short_submission_period_is_flagged_and_an_inverted_one_is_skipped() -> None:
    release = copy.deepcopy(compiled())
    period = release["tender"]["tenderPeriod"] = {
        "startDate": "2026-01-01T00:00:00-06:00",
        "endDate": "2026-01-15T00:00:00-06:00",
    }
    assert codes(lines(release)).get("R003") == 1
    period["endDate"] = "2026-01-16T00:00:00-06:00"
    assert "R003" not in codes(lines(release))
    period["endDate"] = "2025-12-01T00:00:00-06:00"
    loaded = source_ocds.load(lines(release), "datos.json")
    assert "R003" not in {f.code for f in indicators.compute(loaded.frames)}
    assert loaded.skipped == {
        "periodos de presentación que terminan antes de empezar (se omitieron)": 1
    }


def test_an_unknown_currency_is_skipped_and_counted_never_compared() -> None:
    release = compiled()
    winner = release["awards"][0]["suppliers"][0]["id"]
    same = with_bids(release, ("1", winner, 100.0, "valid"), ("2", "OTRO", 100.0, "valid"))
    for bid in same["bids"]["details"]:
        bid["value"]["currency"] = "XYZ"
    loaded = source_ocds.load(lines(same), "datos.json")
    assert loaded.skipped["importes en moneda desconocida (se omitieron)"] == 2
    assert "R028" not in {f.code for f in indicators.compute(loaded.frames)}


def test_a_foreign_currency_is_kept_apart_from_the_main_one() -> None:
    release = with_bids(compiled(), ("1", "A", 100.0, "valid"), ("2", "B", 100.0, "valid"))
    loaded = source_ocds.load(lines(release), "datos.json", currency="MXN")
    assert loaded.frames.currency == "MXN"
    assert any("moneda distinta de MXN" in reason for reason in loaded.skipped)


def test_our_currencies_are_all_in_the_ocds_codelist() -> None:
    codelist = {row.split(",")[0] for row in OCDS_CURRENCIES.read_text().splitlines()[1:]}
    # Sierra Leone's and Venezuela's new codes (2021-2022) are younger than OCDS 1.1.5's list.
    assert source_ocds.CURRENCIES - codelist == {"SLE", "VED"}
    assert {"MXN", "USD", "EUR", "GBP"} <= source_ocds.CURRENCIES


def test_a_file_that_is_not_json_is_refused_clearly() -> None:
    with pytest.raises(ValidationFailed, match="no es JSON"):
        source_ocds.load(b"Clave,Precio\n010.000.0104.00,10\n", "precios.csv")
    with pytest.raises(ValidationFailed, match="no es texto UTF-8"):
        source_ocds.load(b"\xff\xfe\x00{", "raro.json")


def test_bad_lines_and_missing_ocids_are_skipped_with_counts() -> None:
    good = compiled()
    without = {k: v for k, v in good.items() if k != "ocid"}
    content = lines(good) + b"\n{esto no es json\n" + lines(without)
    loaded = source_ocds.load(content, "datos.jsonl")
    assert loaded.processes == 1
    assert loaded.skipped == {"líneas que no son JSON": 1, "entregas o registros sin ocid": 1}
    package = {"releases": [without, without]}
    with pytest.raises(ValidationFailed, match="ningún proceso"):
        source_ocds.load(json.dumps(package).encode(), "paquete.json")


def test_releases_out_of_date_order_are_compiled_by_date_and_counted() -> None:
    releases = [
        json.loads(f.read_text())["releases"][0]
        for f in sorted(EXAMPLES.glob("ocds-213czf-000-00001-0*.json"))
    ]
    backwards = {"releases": list(reversed(releases))}
    loaded = source_ocds.load(json.dumps(backwards).encode(), "paquete.json")
    in_order = source_ocds.load(json.dumps({"releases": releases}).encode(), "paquete.json")
    assert loaded.frames.awards.to_pylist() == in_order.frames.awards.to_pylist()
    assert loaded.skipped == {
        "procesos con entregas fuera de orden de fecha (se compilaron por fecha)": 1
    }
    undated = {"releases": [{**releases[0], "date": None}, releases[1]]}
    with pytest.raises(ValidationFailed):
        source_ocds.load(json.dumps(undated).encode(), "paquete.json")


def test_a_file_without_any_process_is_refused_with_what_was_skipped() -> None:
    content = lines({"tender": {}}, {"tender": {}}) + b"\n[1, 2]\n{roto"

    with pytest.raises(ValidationFailed, match="ningún proceso") as error:
        source_ocds.load(content, "nada.jsonl")

    assert [p.message for p in error.value.problems] == [
        "entregas o registros sin ocid: 2",
        "líneas que no son JSON: 1",
        "valores JSON que no son objeto (entrega, paquete ni registro): 2",
    ]


def test_processes_no_indicator_can_read_are_refused_with_their_count() -> None:
    bare: list[dict[str, Any]] = [
        {"ocid": f"ocds-x-{n}", "tender": {"title": "Sin datos"}} for n in range(3)
    ]

    with pytest.raises(ValidationFailed) as error:
        source_ocds.load(lines(*bare), "vacios.jsonl")

    assert error.value.detail.startswith(
        "«vacios.jsonl»: 3 procesos de contratación sin nada que un indicador lea"
    )
    bare[0]["tender"]["numberOfTenderers"] = 1
    assert source_ocds.load(lines(*bare), "vacios.jsonl").processes == 3


def test_a_tender_items_unit_value_is_the_reference_only_in_the_awards_currency() -> None:
    release = copy.deepcopy(compiled())
    assert codes(lines(release)) == {"AB01": 1}
    release["tender"]["items"][0]["unit"]["value"]["amount"] = 130000
    assert codes(lines(release)) == {}  # 5.4 % above: within the 10 % margin
    release["tender"]["items"][0]["unit"]["value"] = {"amount": 1, "currency": "USD"}
    assert codes(lines(release)) == {}
