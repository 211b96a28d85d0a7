"""Benchmarks of Abasto: run with ``make bench``; results go to docs/benchmarks.md."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def print_standalone(
    figures: Iterable[tuple[str, str, float, str, str]], notes: Sequence[str] = ()
) -> None:
    """What ``python -m benchmarks.<module>`` prints: each figure as ``make bench`` reports it,
    the same figures as rows of the report's table, and the module's notes for the report."""
    figures = list(figures)
    for name, database, value, unit, note in figures:
        print(f"  {name} [{database}]: {value:,.2f} {unit} {note}")
    print("\nResults rows:\n")
    for name, database, value, unit, note in figures:
        print(f"| {name} | {database} | {value:,.2f} | {unit} | {note} |")
    if notes:
        print("\n".join(notes))
