"""The one reader of other publishers' OCDS packaging (prices import, redflags run --ocds)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from abasto.core.errors import ValidationFailed
from abasto.transparency.ocds import reader
from tests.conftest import SHARED

EXAMPLES = SHARED / "ocds" / "examples" / "fictional-1.1"
OCID = "ocds-213czf-000-00001"


def read(value: Any, *, strict: bool = True) -> tuple[list[reader.Found], Counter[str]]:
    skipped: Counter[str] = Counter()
    content = value if isinstance(value, bytes) else json.dumps(value).encode()
    found = reader.read(content, "datos.json", expected="OCDS", strict=strict, skipped=skipped)
    return found, skipped


def package() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{OCID}.json").read_text())
    return data


def record() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / "record" / f"{OCID}.json").read_text())
    first: dict[str, Any] = data["records"][0]
    return first


def test_every_packaging_gives_its_releases_with_where_they_are() -> None:
    releases = package()["releases"]
    found, _ = read(package())
    assert [(f.where, f.compiled) for f in found] == [
        (f"releases[{n}]", False) for n in range(len(releases))
    ]
    found, _ = read({"records": [record()]})
    assert [(f.where, f.compiled, f.ocid) for f in found] == [
        ("records[0].compiledRelease", True, OCID)
    ]
    found, _ = read([record(), record()])
    assert [f.where for f in found] == ["[0].compiledRelease", "[1].compiledRelease"]
    found, _ = read(record())
    assert [(f.where, f.release) for f in found] == [
        ("compiledRelease", record()["compiledRelease"])
    ]
    found, _ = read(releases[0])
    assert [(f.where, f.compiled) for f in found] == [("release", True)]
    found, _ = read([package(), {"releases": releases[:1]}])
    assert len(found) == len(releases) + 1
    assert found[-1].where == "[1].releases[0]"


def test_a_record_lends_its_ocid_to_a_compiled_release_without_one() -> None:
    linked = record()
    linked["releases"] = [{"url": "https://example.org/r1.json", "date": "2010-03-15"}]
    del linked["compiledRelease"]["ocid"]

    found, _ = read({"records": [linked]})

    assert [f.ocid for f in found] == [OCID]


def test_what_is_not_a_release_is_counted_by_reason() -> None:
    value = [1, {"records": [{"ocid": "x"}, "y"]}, {"hola": "mundo"}, {"releases": ["z"]}]

    found, skipped = read(value)

    assert found == []
    assert skipped == {
        reader.NOT_AN_OBJECT: 3,
        reader.NO_COMPILED: 1,
        reader.NO_OCID: 1,
    }


def test_json_lines_skip_bad_lines_unless_strict() -> None:
    content = json.dumps(record()).encode() + b"\n{roto\n\n" + json.dumps(record()).encode()
    found, skipped = read(content, strict=False)
    assert len(found) == 2
    assert skipped == {reader.BAD_LINES: 1}
    with pytest.raises(ValidationFailed, match="no es JSON válido") as error:
        read(content, strict=True)
    assert [p.row for p in error.value.problems] == [2]
    with pytest.raises(ValidationFailed, match="no es texto UTF-8"):
        read(b"\xff\xfe{", strict=False)
    with pytest.raises(ValidationFailed, match="no es JSON"):
        read(b"   \n", strict=False)


def test_a_package_compiles_once_per_ocid_in_date_order() -> None:
    releases = package()["releases"]
    skipped: Counter[str] = Counter()
    found, _ = read({"releases": list(reversed(releases))})
    backwards = list(reader.compiled(found, skipped))
    in_order = list(reader.compiled(read({"releases": releases})[0], Counter()))
    assert backwards == in_order
    assert [r["ocid"] for r in in_order] == [OCID]
    assert skipped == {reader.UNORDERED: 1}
    twice = read([record(), record()])[0]
    assert len(list(reader.compiled(twice, skipped))) == 1
    assert skipped[reader.REPEATED] == 1
    undated = read({"releases": [{**releases[0], "date": None}, releases[1]]})[0]
    assert list(reader.compiled(undated, skipped)) == []
    assert skipped[reader.UNDATED] == 1
