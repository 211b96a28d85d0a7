"""Browser-facing defences: CSRF tokens, cross-site and content-type checks, security headers,
and bidi controls stripped from request bodies.

A browser sends our session cookie with any request to us, whoever's page starts it. So every
unsafe request that a cookie authenticates must show it was made by one of our pages: it comes
from our origin (``Origin`` / ``Sec-Fetch-Site``) and carries the session's CSRF token, in the
``csrf_token`` field of a form or the ``X-CSRF-Token`` header (htmx sends it from ``<body
hx-headers>``). A request with ``Authorization: Bearer`` is exempt: a browser never adds that
header by itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from urllib.parse import urlsplit

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from abasto.core.errors import Forbidden

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def csrf_token(secret_key: str, session: str | None) -> str:
    """The session's CSRF token: a MAC of its cookie, so it needs no storage, changes with every
    login, and cannot be made by a site that cannot read the cookie (HttpOnly). Empty without
    a session."""
    if not session:
        return ""
    return hmac.new(secret_key.encode(), b"csrf\0" + session.encode(), hashlib.sha256).hexdigest()


def refuse_cross_site(request: Request) -> None:
    """An unsafe request another site's page made: refused whatever it carries.

    Browsers send ``Sec-Fetch-Site`` (all current ones) or ``Origin`` on every POST; a client
    that sends neither (curl, a script) is not a browser, and the token still stands guard.
    """
    if request.method in SAFE_METHODS:
        return
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise Forbidden("Solicitud rechazada: proviene de otro sitio.")
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        raise Forbidden("Solicitud rechazada: proviene de otro sitio.")


async def check_csrf(request: Request, secret_key: str, session: str) -> None:
    """An unsafe request authenticated by the session cookie must carry the session's token."""
    if request.method in SAFE_METHODS:
        return
    refuse_cross_site(request)
    given = request.headers.get(CSRF_HEADER)
    if given is None and _media_type(request) in FORM_TYPES:
        # FastAPI has already parsed a route's form; Starlette keeps it, so this reads no more.
        value = (await request.form()).get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not given or not hmac.compare_digest(given, csrf_token(secret_key, session)):
        raise Forbidden(
            "Solicitud rechazada: falta el código de seguridad del formulario o ya no es válido.",
            expected="vuelva a cargar la página y envíe el formulario de nuevo",
        )


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


# ----- headers -------------------------------------------------------------------------------

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HSTS = "max-age=31536000; includeSubDomains"
"""One year, sent only on a response to HTTPS (behind a proxy: uvicorn's ``--proxy-headers``
with ``--forwarded-allow-ips`` makes the forwarded scheme the request's)."""

_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
_OURS = {name for name, _ in _HEADERS} | {b"strict-transport-security", b"server"}


class SecurityHeaders:
    """Every response carries the headers above; none names the server software."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = list(_HEADERS)
        if scope.get("scheme") == "https":
            extra.append((b"strict-transport-security", HSTS.encode()))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _OURS]
                message = {**message, "headers": kept + extra}
            await send(message)

        await self.app(scope, receive, with_headers)


# ----- bidi controls -------------------------------------------------------------------------

# U+202A–U+202E and U+2066–U+2069 as UTF-8 bytes, as JSON escapes and as percent-escapes.
# A JSON escape counts only after an even run of backslashes (in JSON, two backslashes and
# «u202e» are a backslash and the text «u202e»); the run is kept.
_BIDI_BYTES = re.compile(
    rb"\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]"
    rb"|(?<!\\)((?:\\\\)*)\\u(?:202[a-eA-E]|206[6-9])"
    rb"|%[eE]2%80%[aA][a-eA-E]|%[eE]2%81%[aA][6-9]"
)
_TEXT_BODIES = (b"application/json", b"application/x-www-form-urlencoded")
_BIDI_MARKERS = (b"\xe2\x80", b"\xe2\x81", b"\\u20", b"%E2", b"%e2")


class StripBidi:
    """Bidirectional controls (``core.text.BIDI_CONTROLS``) are removed from JSON and form
    bodies before anything parses them, so no schema, form or service ever stores one.

    Uploaded files are not bodies of these types: ``core/spreadsheet`` cleans their cells.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-type", b"").split(b";", 1)[0].strip()
        if declared.lower() not in _TEXT_BODIES and not declared.lower().endswith(b"+json"):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if any(marker in body for marker in _BIDI_MARKERS):
            body = _BIDI_BYTES.sub(lambda found: found.group(1) or b"", body)
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
            scope = {**scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        await self.app(scope, _replay([{"type": "http.request", "body": body}], receive), send)


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is None:
            return {"type": "http.disconnect"}
        return await then()

    return receive


# ----- the API's bodies ----------------------------------------------------------------------

API_PREFIX = "/api/"
_API_BODIES = (b"application/json", b"multipart/form-data")


class JsonApi:
    """A body sent to the API is JSON (or an upload): 415 for anything else.

    A page of another site can make a browser send a form (urlencoded, multipart or
    ``text/plain``) without asking first, but never ``application/json``; so a JSON route that
    took ``text/plain`` could be posted to across sites. Uploads stay multipart, and they
    need the session's CSRF token like any form."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] not in SAFE_METHODS
            and scope["path"].startswith(API_PREFIX)
        ):
            headers = dict(scope["headers"])
            has_body = headers.get(b"content-length", b"0") != b"0" or (
                b"transfer-encoding" in headers
            )
            media = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
            if has_body and not (media in _API_BODIES or media.endswith(b"+json")):
                await _refuse_415(scope, send)
                return
        await self.app(scope, receive, send)


async def _refuse_415(scope: Scope, send: Send) -> None:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Tipo de contenido no admitido",
            "status": 415,
            "detail": "La API recibe JSON: envíe «Content-Type: application/json».",
            "instance": scope.get("path", ""),
        },
        ensure_ascii=False,
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 415,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
