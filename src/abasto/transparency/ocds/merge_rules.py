"""OCDS 1.1.5 merge rules, derived once from the release schema (no schema fetched at run time).

Computed by ``ocdsmerge.rules.get_merge_rules`` on ../shared/ocds/1.1.5/release-schema.json;
tests/transparency/test_ocds_merge_rules.py recomputes them and fails if they drift. Fields of
extensions (bids, enquiries) have no rule here: arrays of objects with ``id`` merge by ``id``,
which is what those extensions' schemas would say too.
"""

from __future__ import annotations

MERGE_RULES: dict[tuple[str, ...], str] = {
    ("awards", "amendment", "changes"): "wholeListMerge",
    ("awards", "amendments", "changes"): "wholeListMerge",
    ("awards", "items", "additionalClassifications"): "wholeListMerge",
    ("awards", "suppliers", "additionalIdentifiers"): "wholeListMerge",
    ("buyer", "additionalIdentifiers"): "wholeListMerge",
    ("contracts", "amendment", "changes"): "wholeListMerge",
    ("contracts", "amendments", "changes"): "wholeListMerge",
    (
        "contracts",
        "implementation",
        "transactions",
        "payee",
        "additionalIdentifiers",
    ): "wholeListMerge",
    (
        "contracts",
        "implementation",
        "transactions",
        "payer",
        "additionalIdentifiers",
    ): "wholeListMerge",
    ("contracts", "items", "additionalClassifications"): "wholeListMerge",
    ("contracts", "relatedProcesses", "relationship"): "wholeListMerge",
    ("date",): "omitWhenMerged",
    ("id",): "omitWhenMerged",
    ("parties", "additionalIdentifiers"): "wholeListMerge",
    ("parties", "roles"): "wholeListMerge",
    ("relatedProcesses", "relationship"): "wholeListMerge",
    ("tag",): "omitWhenMerged",
    ("tender", "additionalProcurementCategories"): "wholeListMerge",
    ("tender", "amendment", "changes"): "wholeListMerge",
    ("tender", "amendments", "changes"): "wholeListMerge",
    ("tender", "items", "additionalClassifications"): "wholeListMerge",
    ("tender", "procuringEntity", "additionalIdentifiers"): "wholeListMerge",
    ("tender", "submissionMethod"): "wholeListMerge",
    ("tender", "tenderers", "additionalIdentifiers"): "wholeListMerge",
}
