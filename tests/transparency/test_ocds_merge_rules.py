"""The committed merge rules are exactly what ocdsmerge derives from the OCDS 1.1.5 schema."""

from __future__ import annotations

from ocdsmerge.rules import get_merge_rules

from abasto.transparency.ocds.merge_rules import MERGE_RULES
from tests.conftest import SHARED


def test_the_merge_rules_are_those_of_the_release_schema() -> None:
    schema = SHARED / "ocds" / "1.1.5" / "release-schema.json"
    assert get_merge_rules(str(schema)) == MERGE_RULES
