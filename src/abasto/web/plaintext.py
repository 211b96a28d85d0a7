"""Refuse a request whose text holds control characters before any of it reaches a route.

NUL bytes anywhere (``?q=a%00b``, a path, a login's username in JSON, a form field) answered 500:
PostgreSQL refuses them in text, and lone surrogates cannot even be encoded. Checked here, once
for every route, old and new: the path, the query string, and bodies that are text
(``application/json``, ``application/x-www-form-urlencoded``). Files (multipart) are not text
and are checked by their readers. The answer is a 422 problem detail (a page off the API).
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from abasto.core.errors import Problem
from abasto.core.text import CONTROLS_EXPECTED, first_control

_JSON_ESCAPE = re.compile(rb"\\(u[0-9A-Fa-f]{4}|.)", re.DOTALL)
"""Every escape of a JSON text, in order: an escaped backslash is consumed whole, so the
``\\u0000`` of a literal backslash followed by ``u0000`` is not read as a NUL."""
_TEXT_BODIES = ("application/json", "application/x-www-form-urlencoded")


def json_controls(body: bytes) -> bool:
    """Whether a JSON text escapes a character ``CONTROLS`` refuses (``\\u0000``, ``\\b``, a
    lone surrogate). Raw control bytes are not JSON at all, and its parser refuses them."""
    if b"\\" not in body:
        return False
    high_ends = -1
    """Where an escaped high surrogate ended, while its low half must follow at once."""
    for escape in _JSON_ESCAPE.finditer(body):
        text = escape.group(1)
        code = int(text[1:], 16) if len(text) == 5 and text[:1] == b"u" else None
        if high_ends >= 0:
            if escape.start() != high_ends or code is None or not 0xDC00 <= code <= 0xDFFF:
                return True
            high_ends = -1
        elif text in (b"b", b"f"):
            return True
        elif code is not None and 0xD800 <= code <= 0xDBFF:
            high_ends = escape.end()
        elif code is not None and first_control(chr(code)) is not None:
            return True
    return high_ends >= 0


def form_controls(body: bytes) -> bool:
    """Whether an url-encoded form holds a character ``CONTROLS`` refuses."""
    return first_control(unquote_plus(body.decode("latin-1"), encoding="utf-8")) is not None


class ControlCharacters:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        where = self._in_address(scope)
        if where is not None:
            await self._refuse(scope, receive, send, where)
            return
        content_type = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1")
        if not content_type.lower().startswith(_TEXT_BODIES):
            await self.app(scope, receive, send)
            return
        body, messages = await _read(receive)
        if (json_controls if "json" in content_type else form_controls)(body):
            await self._refuse(scope, receive, send, "body")
            return
        await self.app(scope, _replay(messages, receive), send)

    @staticmethod
    def _in_address(scope: Scope) -> str | None:
        if first_control(scope["path"]) is not None:
            return "path"
        query = scope.get("query_string", b"").decode("latin-1")
        if query and first_control(unquote_plus(query, encoding="utf-8")) is not None:
            return "query"
        return None

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, where: str) -> None:
        from abasto.web.errors import problem_response

        response = problem_response(
            Request(scope, receive),
            status=422,
            title="Datos no válidos",
            detail="La solicitud contiene caracteres de control; no se procesó.",
            problems=[
                Problem(
                    "Hay caracteres de control (como NUL) en el texto",
                    field=where,
                    expected=CONTROLS_EXPECTED,
                ).as_dict()
            ],
            expected=CONTROLS_EXPECTED,
        )
        await response(scope, receive, send)


async def _read(receive: Receive) -> tuple[bytes, list[Message]]:
    """The whole body (its size is already limited by ``BodySizeLimit``) and its messages."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks), messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
