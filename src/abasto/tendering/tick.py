"""The tick: applies the deadlines that came due and reads out openings, one bid at a time.

It is an edge, like a request: each step runs in its own transaction, so every bid opened is
committed (and reaches the live feed) before the next. ``abasto serve`` runs it in a background
thread every ``tick_seconds``; ``abasto tick`` runs it once from the command line.

A tender whose step fails is held for the buyer's attention (``service.hold_for_attention``) and
every other tender goes on; nothing of the error but its kind is logged, since its message may
repeat a sealed bid's values.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from abasto.core import checkpoints
from abasto.core.clock import Clock
from abasto.core.context import Actor, Context
from abasto.core.db import error_kind, transaction
from abasto.core.signed_note import Signer
from abasto.inventory import service as inventory
from abasto.tendering import rules, service
from abasto.tendering.sealing import Sealer
from abasto.transparency.redflags import service as redflags

log = logging.getLogger("abasto.tick")
SYSTEM = Actor(label="sistema:reloj", role="comprador")
"""Who the ledger names for what the clock does: nobody pressed a button."""


@dataclass
class TickReport:
    applied: list[tuple[int, str]] = field(default_factory=list)
    opened: list[tuple[int, int]] = field(default_factory=list)
    """(tender id, bids read out) per tender this tick."""
    held: list[int] = field(default_factory=list)
    """Tenders whose step failed this tick, now held for the buyer's attention."""
    flags: dict[str, int] | None = None
    """Red flags per code when a fallo issued since their last run made the tick recompute."""
    checkpoint: int | None = None
    """The tree size of the ledger checkpoint signed this tick, if one was."""
    snapshot: date | None = None
    """The day whose inventory indicators this tick computed (the first tick of each day)."""


@dataclass
class Ticker:
    """Remembers when each opening last read out a bid, to keep the pace between two."""

    sessions: sessionmaker[Session]
    clock: Clock
    sealer: Sealer
    pace_seconds: float = 0.0
    signer: Signer | None = None
    """Signs the ledger's checkpoints; without it the tick signs none."""
    checkpoint_seconds: float = 60.0
    """A checkpoint at most this often, and only when the ledger has grown."""
    indicators_dir: Path | None = None
    """With it, yesterday's inventory indicators are rolled from the day before's state kept
    there (``Settings.indicators_dir``); without it, computed by the rules."""
    _last_read: dict[int, float] = field(default_factory=dict)

    def _context(self, db: Session) -> Context:
        return Context(db=db, actor=SYSTEM, now=self.clock.now())

    def tick(self, *, finish: bool = False) -> TickReport:
        """Apply due deadlines; read out the next bid of each opening (all of them if finish)."""
        report = TickReport()
        with transaction(self.sessions) as db:
            due = service.due_tenders(db, self.clock.now())
            flags_due = redflags.due(db)
        for tender_id in due:
            # One tender's failure (a bid its opening cannot write, a corrupted row) must not
            # stop the others: it is held for the buyer, and the tick goes on.
            step = service.STEP_DEADLINES
            try:
                with transaction(self.sessions) as db:
                    ctx = self._context(db)
                    tender = service.get_tender(db, tender_id, lock=True)
                    for event in service.apply_due(ctx, tender):
                        report.applied.append((tender_id, event))
                    opening = tender.status == rules.OPENING
                if opening:
                    step = service.STEP_OPENING
                    report.opened.append((tender_id, self._read_out(tender_id, finish=finish)))
            except Exception as exc:
                self._hold(tender_id, step, exc)
                report.held.append(tender_id)
        if flags_due:
            with transaction(self.sessions) as db:
                report.flags = redflags.refresh(self._context(db))
        report.snapshot = self._snapshot()
        if self.signer is not None:
            report.checkpoint = self.checkpoint(every_seconds=self.checkpoint_seconds)
        return report

    def _snapshot(self) -> date | None:
        """Yesterday's inventory indicators, once yesterday is over and if not computed yet."""
        try:
            with transaction(self.sessions) as db:
                ctx = self._context(db)
                day = inventory.snapshot_due(db, inventory.today(ctx))
                if day is not None and self.indicators_dir is not None:
                    inventory.snapshot_incremental(ctx, day=day, directory=self.indicators_dir)
                elif day is not None:
                    inventory.snapshot(ctx, day=day)
                return day
        except Exception as exc:
            log.error("tick: the inventory snapshot failed (%s)", error_kind(exc))
            return None

    def _hold(self, tender_id: int, step: str, exc: Exception) -> None:
        """Hold the tender for the buyer's attention, in a transaction of its own.

        Only the kind of error is logged and recorded: its message may carry a sealed bid's
        prices and quantities (a database error repeats the values it could not write)."""
        self._last_read.pop(tender_id, None)
        kind = error_kind(exc)
        log.warning(
            "tick: tender %s held for the buyer's attention: %s failed (%s)", tender_id, step, kind
        )
        try:
            with transaction(self.sessions) as db:
                service.hold_for_attention(
                    self._context(db), tender_id=tender_id, step=step, error=kind
                )
        except Exception as again:
            log.error("tick: tender %s could not be held (%s)", tender_id, error_kind(again))

    def checkpoint(self, *, every_seconds: float = 0.0) -> int | None:
        """Sign a checkpoint of the ledger when it grew (and the last is that old); its size."""
        now = self.clock.now()
        with transaction(self.sessions) as db:
            if not checkpoints.due(db, now=now, every_seconds=every_seconds):
                return None
            return checkpoints.publish(db, self.signer, now=now).tree_size

    def _read_out(self, tender_id: int, *, finish: bool) -> int:
        count = 0
        while True:
            last = self._last_read.get(tender_id)
            if not finish and last is not None and time.monotonic() - last < self.pace_seconds:
                return count
            with transaction(self.sessions) as db:
                tender = service.get_tender(db, tender_id)
                if tender.status != rules.OPENING:
                    self._last_read.pop(tender_id, None)
                    return count
                more = service.open_next_bid(self._context(db), self.sealer, tender_id=tender_id)
            count += 1
            self._last_read[tender_id] = time.monotonic()
            if not more:
                self._last_read.pop(tender_id, None)
                return count
            if not finish:
                return count
            if self.pace_seconds:
                time.sleep(self.pace_seconds)


def run_in_background(
    ticker: Ticker, every: float, stop: threading.Event, on_error: Callable[[], None] | None = None
) -> threading.Thread:
    """The loop of ``abasto serve``: a tick every ``every`` seconds until ``stop`` is set."""

    def loop() -> None:
        while not stop.wait(every):
            try:
                ticker.tick()
            except Exception as exc:
                # Not the message nor the trace: either may repeat a sealed bid's values.
                log.error("tick failed (%s); trying again at the next one", error_kind(exc))
                if on_error:
                    on_error()

    thread = threading.Thread(target=loop, name="abasto-tick", daemon=True)
    thread.start()
    return thread
