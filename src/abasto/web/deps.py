"""Request dependencies: the unit of work, the one clock reading, who acts, and route policies.

Every route states who may use it by depending on exactly one policy: ``public``,
``allow(...roles)`` or, for the hottest writes, ``admit_in_thread(...roles)``. The authorization
test walks the routes and reads these policies.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from abasto.core.clock import Clock
from abasto.core.config import Settings
from abasto.core.context import ANONYMOUS, Actor, Context
from abasto.core.db import transaction
from abasto.core.errors import Forbidden, TooManyRequests, Unauthorized
from abasto.core.signed_note import Signer
from abasto.core.spreadsheet import TooLarge, keep_read, read_ahead
from abasto.identity import service as identity
from abasto.identity.models import ROLE_LABELS, Role
from abasto.tendering.live import FeedHub
from abasto.tendering.sealing import Sealer
from abasto.web.security import SAFE_METHODS, check_csrf, refuse_cross_site

SESSION_COOKIE = "abasto_sesion"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AppState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    sealer: Sealer
    hub: FeedHub
    signer: Signer | None = None
    """Signs the ledger's checkpoints (``ABASTO_LOG_KEY``); None signs none."""


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.abasto
    return state


DB_SLOTS = 8
"""Requests of one process that may hold a database session at once."""
INTAKE_SLOTS = 3
"""Besides those, the hot writes of ``admit_in_thread`` (bids in a rush) that may run at once.
More threads working at once only queue for the GIL and for the ledger's lock, and the machine
does less: on the bid rush, 3 gave 250-285 bids/s where 8 gave 180-210. With ``DB_SLOTS`` this
stays within the pool's 5 + 10 connections."""
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)


@contextlib.asynccontextmanager
async def _turn(kind: Literal["db", "intake"] = "db") -> AsyncIterator[None]:
    """A turn to use the database, taken before the session and given back after its commit.

    Without it, the sync dependencies and endpoints of more requests than the threadpool has
    threads (40) can each wait for a pooled connection (15) held by requests that are waiting
    for a thread to commit: every request stalls until the pool's 30 s timeout. A few turns
    also keep the thread holding the ledger lock from queueing behind many others for the GIL.
    """
    kinds = _slots.setdefault(asyncio.get_running_loop(), {})
    slots = kinds.get(kind)
    if slots is None:
        slots = kinds[kind] = asyncio.Semaphore(INTAKE_SLOTS if kind == "intake" else DB_SLOTS)
    async with slots:
        yield


async def _slot() -> AsyncIterator[None]:
    async with _turn():
        yield


async def _csrf(request: Request) -> None:
    """A request a cookie authenticates, if unsafe, must come from one of our pages
    (``web/security``); one with a bearer token needs no such proof."""
    if request.method in SAFE_METHODS or request.headers.get("authorization"):
        return
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        await check_csrf(request, app_state(request).settings.secret_key, session)
    else:
        refuse_cross_site(request)


def _context(
    request: Request,
    _guard: Annotated[None, Depends(_csrf)],
    _turn: Annotated[None, Depends(_slot, scope="function")],
) -> Iterator[Context]:
    """The request's unit of work and who acts in it: one thread hop in, one out (the commit).

    scope="function" (where it is used) runs the commit before the response is sent, so a write
    is acknowledged only once it is durable.
    """
    with _unit_of_work(request) as ctx:
        yield ctx


@contextlib.contextmanager
def _unit_of_work(request: Request) -> Iterator[Context]:
    state = app_state(request)
    now = state.clock.now()
    with transaction(state.sessions) as db:
        yield Context(db=db, actor=_actor(request, db, now), now=now)


def _actor(request: Request, db: Session, now: datetime) -> Actor:
    ctx = Context(db=db, actor=ANONYMOUS, now=now)
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthorized(
                "Cabecera Authorization no válida.", expected="«Authorization: Bearer <token>»"
            )
        return identity.actor_for_secret(ctx, secret=secret.strip(), kind="token")
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        try:
            return identity.actor_for_secret(ctx, secret=cookie, kind="session")
        except Unauthorized:
            # An expired page session just means browsing as the public again.
            return ANONYMOUS
    return ANONYMOUS


Acting = Annotated[Context, Depends(_context, scope="function")]


# The policies only read the context: async, so checking one costs no trip to the threadpool.
def client_address(request: Request) -> str:
    """The address a request came from, as the server saw it.

    Behind a proxy this is the proxy's unless the server trusts its X-Forwarded-For (uvicorn's
    ``--proxy-headers --forwarded-allow-ips``): sign-in throttling counts per address.
    """
    return request.client.host if request.client else "desconocida"


async def public(ctx: Acting) -> Context:
    """Policy: anyone, the anonymous public included."""
    return ctx


public.abasto_roles = None  # type: ignore[attr-defined]


def allow(*roles: Role) -> Callable[..., Awaitable[Context]]:
    """Policy: only logged-in users with one of these roles (scope is checked by the service)."""
    if not roles:
        raise ValueError("allow() needs at least one role; use public for everyone")

    async def policy(ctx: Acting) -> Context:
        return _admit(ctx, roles)

    policy.abasto_roles = frozenset(roles)  # type: ignore[attr-defined]
    return policy


def _admit(ctx: Context, roles: tuple[Role, ...]) -> Context:
    if ctx.actor.is_anonymous:
        raise Unauthorized(LOG_IN)
    if not ctx.actor.has_role(*roles):
        names = ", ".join(ROLE_LABELS[r] for r in roles)
        raise Forbidden(f"Esta acción está reservada a: {names}.")
    return ctx


LOG_IN = "Inicie sesión para continuar."


@dataclass(frozen=True, slots=True)
class Admission:
    """What ``admit_in_thread`` hands the route: the check, the session, the work and the
    commit all happen in one trip to the threadpool (``run``)."""

    request: Request
    roles: tuple[Role, ...]

    async def run(self, work: Callable[[Context], T]) -> T:
        """``work(ctx)`` for an admitted actor, committed before this returns."""
        async with _turn("intake"):
            return await run_in_threadpool(self._run, work)

    def _run(self, work: Callable[[Context], T]) -> T:
        with _unit_of_work(self.request) as ctx:
            return work(_admit(ctx, self.roles))


def admit_in_thread(*roles: Role) -> Callable[..., Awaitable[Admission]]:
    """Policy for the hottest writes (bids in a rush): the same check as ``allow``, made by
    ``Admission.run`` in the route's single trip to the threadpool, with the session, the work
    and the commit, instead of three trips (session and actor, route, commit).

    Only a request with no credentials is refused before its body is read; a wrong role is
    refused after it has been parsed.
    """
    if not roles:
        raise ValueError("admit_in_thread() needs at least one role")

    async def policy(request: Request) -> Admission:
        if not request.headers.get("authorization") and SESSION_COOKIE not in request.cookies:
            raise Unauthorized(LOG_IN)
        await _csrf(request)
        return Admission(request, roles)

    policy.abasto_roles = frozenset(roles)  # type: ignore[attr-defined]
    return policy


# ----- uploads -------------------------------------------------------------------------------

PARSE_SLOTS = 1
"""Uploads of one process being read at once, each in a worker thread and outside the database
slots; the others wait their turn. Reading a spreadsheet is Python work under the GIL: more
readers at once would not finish sooner, only slow the public pages the process is serving."""
PARSE_RETRY_AFTER = 5
"""Seconds after which a user whose previous upload is still being read may try again."""


@dataclass(frozen=True, slots=True)
class _Readers:
    slots: asyncio.Semaphore
    users: set[int]


_readers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Readers] = (
    weakref.WeakKeyDictionary()
)


async def read_uploads(request: Request) -> None:
    """Route dependency of every upload: read its files before the route's policy takes a slot.

    A spreadsheet is read (and refused when past a limit, ``core.spreadsheet``) in a worker
    thread while the request holds no database slot, at most ``PARSE_SLOTS`` at once and one per
    user (a second upload of the same user meanwhile gets 429 with Retry-After). A file past a
    limit is refused here (413, the limit named); otherwise the route's own read of the same
    bytes answers from what was read (``keep_read``), its other problems included. Declared in the
    route's ``dependencies`` so it runs before the policy, whose session holds a slot until the
    commit. The anonymous are not read for: their request goes on to the policy's 401.
    """
    form = await request.form()
    files = [value for _, value in form.multi_items() if isinstance(value, UploadFile)]
    files = [file for file in files if file.filename]
    if not files:
        return
    user = await _uploader(request)
    if user is None:
        return
    loop = asyncio.get_running_loop()
    readers = _readers.get(loop)
    if readers is None:
        readers = _readers[loop] = _Readers(asyncio.Semaphore(PARSE_SLOTS), set())
    if user in readers.users:
        raise TooManyRequests(
            "Ya se está leyendo otro archivo que usted envió; espere a que termine.",
            retry_after=PARSE_RETRY_AFTER,
            expected="un archivo a la vez",
        )
    # Held while waiting for the turn too: a user has one upload in the queue, not many.
    readers.users.add(user)
    try:
        async with readers.slots:
            for file in files:
                content = await file.read()
                await file.seek(0)
                ahead = await run_in_threadpool(read_ahead, content, file.filename or "")
                if isinstance(ahead.error, TooLarge):
                    # Nothing the route could add: refused here, without a database slot.
                    raise ahead.error
                keep_read(ahead)
    finally:
        readers.users.discard(user)


async def _uploader(request: Request) -> int | None:
    """The user id of who sends the request, None for the public: one short database turn."""
    if not request.headers.get("authorization") and SESSION_COOKIE not in request.cookies:
        return None
    async with _turn():
        return await run_in_threadpool(_user_id, request)


def _user_id(request: Request) -> int | None:
    with _unit_of_work(request) as ctx:
        return ctx.actor.user_id


ANY_USER = tuple(Role)


def policy_roles(dependency: Any) -> frozenset[Role] | str | None:
    """The roles a policy admits, None for public, or "none" when it is not a policy."""
    if not hasattr(dependency, "abasto_roles"):
        return "none"
    roles: frozenset[Role] | None = dependency.abasto_roles
    return roles


Public = Annotated[Context, Depends(public)]
