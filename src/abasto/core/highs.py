"""Running HiGHS from any thread of the process.

HiGHS starts its task scheduler at a thread's first solve, with that solve's thread count, and
keeps it **per calling thread**; a later solve in the same thread asking for another count gets
an error from every run. The award model solves on up to two threads (one in some tests), the
redistribution model on one, and both run in the main thread, in the web server's worker threads
and in the tick: the demo's fallo failed so in a CI test worker, in the main thread, after a
solve on one thread there and one on two in a web request's thread (measured:
tests/core/test_highs.py). Every solve goes through :func:`run`, which knows each thread's
count and resets that thread's scheduler when it changes.
"""

from __future__ import annotations

import threading

from highspy import HighsStatus
from highspy._core import _Highs

_TURNS = threading.Lock()
_started = threading.local()


def run(highs: _Highs, threads: int) -> HighsStatus:
    """``highs.run()`` on ``threads`` threads. Solves of one process take turns: each uses the
    cores itself."""
    highs.setOptionValue("threads", threads)
    with _TURNS:
        if getattr(_started, "threads", None) != threads:
            # A thread's first solve resets too: a solve that did not come through here (none
            # should) may have started its scheduler on another count.
            _Highs.resetGlobalScheduler(True)
            _started.threads = threads
        return highs.run()
