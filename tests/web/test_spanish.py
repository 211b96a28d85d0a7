"""Spanish as people write it (issue 18, item 7): counts agree with their nouns («1 clave», «2
claves») instead of «clave(s)», in every message the code writes and every template."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from abasto.core.money import count_of
from abasto.tendering.pages import describe

SOURCE = Path(__file__).resolve().parents[2] / "src" / "abasto"
HEDGED = re.compile(r"[a-záéíóúñ]\((?:s|es|a|as|os|n)\)", re.IGNORECASE)
"""«proposición(es)», «leída(s)», «cambiaría(n)»: a plural left for the reader to choose."""


def _messages(path: Path) -> list[tuple[int, str]]:
    """The string literals of a module (f-strings' text included), without its docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_no_message_leaves_the_plural_to_the_reader() -> None:
    found = [
        f"{path.relative_to(SOURCE)}:{line}: {HEDGED.search(text)[0]}"  # type: ignore[index]
        for path in SOURCE.rglob("*.py")
        for line, text in _messages(path)
        if HEDGED.search(text)
    ]
    for template in (SOURCE / "web" / "templates").rglob("*.html"):
        text = re.sub(r"\{#.*?#\}", "", template.read_text(encoding="utf-8"), flags=re.DOTALL)
        found += [f"{template.relative_to(SOURCE)}: {m[0]}" for m in HEDGED.finditer(text)]
    assert found == []


def test_a_count_agrees_with_its_noun() -> None:
    assert count_of(1, "clave coincide", "claves coinciden") == "1 clave coincide"
    assert count_of(0, "clave coincide", "claves coinciden") == "0 claves coinciden"
    assert count_of(4498, "clave", "claves") == "4,498 claves"


def test_the_live_feed_counts_agree() -> None:
    assert describe("tender.opening_started", {"bids": ["a"]}) == (
        "Comenzó la apertura: 1 proposición por abrir."
    )
    assert describe("tender.opened", {"opened": 3, "matching": 1, "not_matching": 2}) == (
        "Terminó la apertura: 3 proposiciones abiertas, 1 coincide con su compromiso y "
        "2 no coinciden."
    )
