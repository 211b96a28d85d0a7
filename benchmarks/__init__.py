"""Benchmarks of Abasto: run with ``make bench``; results go to docs/benchmarks.md."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np


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


def fresh_memory_rate(size: int = 1 << 30) -> float:
    """GiB/s at which this process writes ``size`` bytes of memory new to it: every page
    faulted in and zeroed by the kernel and, on a virtual machine whose guest hands freed memory
    back to its host (free page reporting, ``page_reporting``), backed again by the host. On the
    bench machine this moved from about 0.35 to 5.4 GiB/s with what had been freed lately
    (docs/benchmarks.md), and with it every figure that writes much new memory: a figure's note
    carries the rate measured just before it."""
    began = time.perf_counter()
    block = np.ones(size, dtype=np.uint8)
    seconds = time.perf_counter() - began
    del block
    return size / (1 << 30) / seconds


def page_reporting() -> str:
    """Whether the kernel reports free memory to the host, and from what block size."""
    order = Path("/sys/module/page_reporting/parameters/page_reporting_order")
    if not order.exists():
        return "no free page reporting to a host"
    blocks = (4 << int(order.read_text())) // 1024  # 4 KiB pages << order
    return f"free page reporting to the host: on, blocks of {blocks} MiB"
