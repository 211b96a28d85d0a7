"""The tender's live feed: public ledger entries of a tender, fanned out to every viewer.

A write that adds to a tender's feed calls ``announce``. On PostgreSQL that is a ``pg_notify`` in
the same transaction, delivered to every worker process only when it commits; on SQLite it wakes
the hubs of this process after the commit. Each process has one ``FeedHub``: it reads new entries
once per tender and hands them to every viewer's queue, so a thousand viewers cost one query. A
slow poll covers notifications that cannot arrive (an ``abasto tick`` in another process on
SQLite, a dropped listener connection).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from abasto.core.db import normalise_url
from abasto.core.ledger import LedgerEntry

CHANNEL = "abasto_feed"
log = logging.getLogger("abasto.live")

_local_listeners: list[Callable[[int], None]] = []


def feed_entity(tender_id: int) -> str:
    return f"tender:{tender_id}"


_NOTIFY = select(func.pg_notify(CHANNEL, bindparam("tender")))


def announce(db: Session, tender_id: int) -> None:
    """Tell every viewer of the tender that its feed grew, once this transaction commits."""
    if db.get_bind().dialect.name == "postgresql":
        db.connection().execute(_NOTIFY, {"tender": str(tender_id)})
        return
    pending: set[int] = db.info.setdefault("abasto_feed_pending", set())
    if not pending:
        event.listen(db, "after_commit", _wake_local, once=True)
        event.listen(db, "after_rollback", _forget_local, once=True)
    pending.add(tender_id)


def _wake_local(db: Session) -> None:
    for tender_id in db.info.pop("abasto_feed_pending", set()):
        for listener in list(_local_listeners):
            listener(tender_id)


def _forget_local(db: Session) -> None:
    db.info.pop("abasto_feed_pending", None)


@dataclass(frozen=True, slots=True)
class FeedEvent:
    seq: int
    at: str
    action: str
    data: dict[str, Any]
    text: str = field(init=False, compare=False, repr=False)
    """The event as Server-Sent Events, encoded once however many viewers it goes to."""

    def __post_init__(self) -> None:
        payload = json.dumps(
            {"seq": self.seq, "at": self.at, "action": self.action, "data": self.data},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        text = f"id: {self.seq}\nevent: {self.action}\ndata: {payload}\n\n"
        object.__setattr__(self, "text", text)

    def sse(self) -> str:
        return self.text


def read_feed(db: Session, tender_id: int, after: int = 0, limit: int = 5000) -> list[FeedEvent]:
    """The tender's public entries after ``after`` (a seq), oldest first."""
    rows = db.execute(
        select(LedgerEntry.seq, LedgerEntry.at, LedgerEntry.action, LedgerEntry.payload)
        .where(
            LedgerEntry.entity == feed_entity(tender_id),
            LedgerEntry.public.is_(True),
            LedgerEntry.seq > after,
        )
        .order_by(LedgerEntry.seq)
        .limit(limit)
    ).all()
    return [
        FeedEvent(seq, at.isoformat(timespec="seconds"), action, json.loads(payload))
        for seq, at, action, payload in rows
    ]


HEARTBEAT = "heartbeat"
"""Put in every viewer's queue now and then: the stream sends a comment, proxies keep it open."""
_Item = FeedEvent | str | None
"""What a viewer's queue holds: an event, a heartbeat, or None (the end)."""


@dataclass
class _Channel:
    last_seq: int
    viewers: set[asyncio.Queue[_Item]] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    feed: list[FeedEvent] = field(default_factory=list)
    """Every entry up to last_seq, read once: each new viewer's history comes from here."""


class FeedHub:
    """One per process: viewers subscribe to a tender; new entries are read once for all."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        database_url: str,
        poll_seconds: float = 1.0,
        queue_size: int = 10_000,
        heartbeat_seconds: float = 15.0,
    ) -> None:
        self._sessions = sessions
        self._url = normalise_url(database_url)
        self._poll = poll_seconds
        self._queue_size = queue_size
        self._heartbeat = heartbeat_seconds
        self._channels: dict[int, _Channel] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._pulls: set[asyncio.Future[None]] = set()
        self._listening = asyncio.Event()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        _local_listeners.append(self._wake_threadsafe)
        self._tasks.append(asyncio.create_task(self._poll_forever()))
        self._tasks.append(asyncio.create_task(self._beat_forever()))
        if self._url.startswith("postgresql"):
            self._tasks.append(asyncio.create_task(self._listen_forever()))
            # The first viewer waits until notifications can arrive, so none sent after it
            # subscribed is left to the slow poll.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._listening.wait(), timeout=5)

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            _local_listeners.remove(self._wake_threadsafe)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for channel in self._channels.values():
            for queue in channel.viewers:
                queue.put_nowait(None)

    def _wake_threadsafe(self, tender_id: int) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake, tender_id)

    def _wake(self, tender_id: int) -> None:
        if tender_id in self._channels:
            task = asyncio.ensure_future(self._pull(tender_id))
            self._pulls.add(task)
            task.add_done_callback(self._pulls.discard)

    async def _listen_forever(self) -> None:
        import psycopg

        dsn = self._url.replace("postgresql+psycopg://", "postgresql://")
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    # Entries committed while the connection was down are not lost: pull them.
                    for tender_id in list(self._channels):
                        self._wake(tender_id)
                    async for note in conn.notifies():
                        with contextlib.suppress(ValueError):
                            self._wake(int(note.payload))
            except asyncio.CancelledError:
                raise
            except Exception:  # the poll keeps viewers served while we reconnect
                log.warning("live feed: LISTEN connection lost; reconnecting", exc_info=True)
                await asyncio.sleep(1)

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self._poll)
            for tender_id in list(self._channels):
                await self._pull(tender_id)

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat)
            for channel in list(self._channels.values()):
                for queue in list(channel.viewers):
                    with contextlib.suppress(asyncio.QueueFull):
                        queue.put_nowait(HEARTBEAT)

    async def _pull(self, tender_id: int) -> None:
        channel = self._channels.get(tender_id)
        if channel is None:
            return
        async with channel.lock:
            events = await asyncio.to_thread(self._read, tender_id, channel.last_seq)
            for item in events:
                channel.last_seq = item.seq
                channel.feed.append(item)
                for queue in list(channel.viewers):
                    try:
                        queue.put_nowait(item)
                    except asyncio.QueueFull:
                        # A viewer this far behind is let go; its browser reconnects and catches
                        # up from its Last-Event-ID.
                        channel.viewers.discard(queue)
                        while not queue.empty():
                            queue.get_nowait()
                        queue.put_nowait(None)

    def _read(self, tender_id: int, after: int) -> list[FeedEvent]:
        with self._sessions() as db:
            return read_feed(db, tender_id, after)

    async def follow(self, tender_id: int, after: int) -> AsyncGenerator[FeedEvent | None, None]:
        """The entries after ``after``: the history first, then each new one as it comes.

        None now and then while nothing happens (a heartbeat).
        """
        if self._loop is None:
            # Started by the first viewer, in the server's own event loop.
            await self.start()
        queue: asyncio.Queue[_Item] = asyncio.Queue(self._queue_size)
        channel = self._channels.get(tender_id)
        if channel is None:
            channel = self._channels.setdefault(tender_id, _Channel(last_seq=-1))
        async with channel.lock:
            if channel.last_seq < 0:
                # The first viewer of this tender reads its feed once for all who come after.
                latest = await asyncio.to_thread(self._latest, tender_id)
                channel.feed = await asyncio.to_thread(self._read_until, tender_id, 0, latest)
                channel.last_seq = latest
            # Registered under the lock, with the history taken up to the channel's mark: no
            # entry is lost or sent twice between the two.
            history = channel.feed[bisect.bisect_right(channel.feed, after, key=_seq) :]
            channel.viewers.add(queue)
        try:
            for item in history:
                yield item
            while True:
                got = await queue.get()
                if got is None:
                    return
                if isinstance(got, str):
                    yield None
                elif got.seq > after:
                    after = got.seq
                    yield got
        finally:
            channel.viewers.discard(queue)
            if not channel.viewers and self._channels.get(tender_id) is channel:
                del self._channels[tender_id]

    def _latest(self, tender_id: int) -> int:
        with self._sessions() as db:
            value = db.scalar(
                select(func.max(LedgerEntry.seq)).where(
                    LedgerEntry.entity == feed_entity(tender_id)
                )
            )
            return int(value or 0)

    def _read_until(self, tender_id: int, after: int, until: int) -> list[FeedEvent]:
        found: list[FeedEvent] = []
        with self._sessions() as db:
            while after < until:
                chunk = [e for e in read_feed(db, tender_id, after) if e.seq <= until]
                if not chunk:
                    break
                found.extend(chunk)
                after = chunk[-1].seq
        return found


def _seq(event: FeedEvent) -> int:
    return event.seq
