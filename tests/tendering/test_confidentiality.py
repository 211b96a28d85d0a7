"""Before the opening nothing shows a bid's prices or its bidder: no route, feed, row or log.

Three suppliers with distinctive names bid distinctive prices through the API (one replaces its
bid, one withdraws one). Between that and the opening, every GET route of the application is
requested as every kind of user, its path filled with the tender, the bids and sample values;
no body may contain a price (written several ways) or the sealed contents. A bidder's identity
must not appear anywhere it did not appear before the bids were sent (the supplier directory
names every supplier, bids or not). The stored rows of ``bids``, ``bid_requests`` and the
ledger entries written meanwhile are scanned too. After the opening the same walk finds the
prices and the bidders, which shows the check can fail.
"""

from __future__ import annotations

import io
import logging
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from abasto.core.ledger import LedgerEntry, head
from abasto.identity import service as identity
from abasto.identity.models import Role, User
from abasto.tendering.models import Bid, Tender
from abasto.web.deps import policy_roles
from tests.tendering.conftest import PARACETAMOL, PARTIDAS, PARTIES, World, fill_template

# ----- what must stay sealed -----------------------------------------------------------------

BIDDERS = ("a", "b", "c")
# Kept bids: supplier → {partida: price}. Prices no other number in the system resembles.
KEPT = {
    "a": {1: "7319.47", 2: "2846.19"},
    "b": {1: "6042.71", 3: "1593.82"},
    "c": {1: "8127.36", 2: "4471.93"},
}
REPLACED = {"a": {1: "7777.13"}}  # a's first bid, replaced by its kept one
WITHDRAWN = {"b": {1: "5566.24"}}  # b's first bid, withdrawn
MANUFACTURER = {"a": "Fabrica Zentlalli", "b": "Fabrica Yaotzin", "c": "Fabrica Ixtlilco"}
MAXIMUM = {number: hi for number, (_, _, hi) in enumerate(PARTIDAS, start=1)}


def price_forms(price: str) -> set[str]:
    """A price as a page, a JSON body or a spreadsheet might write it."""
    value = Decimal(price)
    plain = f"{value:.2f}"
    grouped = f"{value:,.2f}"
    return {
        plain,
        grouped,
        plain.replace(".", ","),
        grouped.replace(",", " ").replace(" ", "\u202f"),
        grouped.replace(",", "X").replace(".", ",").replace("X", "."),
        f"{value:.1f}",
        f"{value:,.1f}",
    }


def sealed_markers(key: str, bids: Iterable[dict[str, dict[int, str]]]) -> set[str]:
    """Everything of the supplier's bids that only the bids hold: prices, totals, maker."""
    found = {MANUFACTURER[key]}
    for group in bids:
        for partida, price in group.get(key, {}).items():
            found |= price_forms(price)
            found |= price_forms(str(Decimal(price) * MAXIMUM[partida]))
    return found


def every_sealed_marker(key: str) -> set[str]:
    return sealed_markers(key, (KEPT, REPLACED, WITHDRAWN))


def identity_markers(key: str) -> set[str]:
    """The bidder's RFC, razón social and the distinctive word of it, lower case."""
    party = PARTIES[key]
    return {party.rfc.lower(), party.name.lower(), party.name.split()[1].rstrip(",").lower()}


# ----- who looks -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    name: str
    username: str | None
    supplier: str | None = None


PRINCIPALS = (
    Principal("anonimo", None),
    Principal("comprador", "comprador"),
    Principal("institucion", "planeacion.imss"),
    Principal("evaluador", "evaluador"),
    Principal("auditor", "auditor"),
    Principal("proveedor-ajeno", PARTIES["d"].username, "d"),
    *(Principal(f"licitante-{k}", PARTIES[k].username, k) for k in BIDDERS),
)


# ----- reading any body as text --------------------------------------------------------------

_PDF_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)
_PDF_STRING = re.compile(rb"\((?:\\.|[^\\)])*\)", re.S)
_BFCHAR = re.compile(rb"beginbfchar(.*?)endbfchar", re.S)
_PAIR = re.compile(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>")
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _pdf_literal(raw: bytes) -> bytes:
    body, out, i = raw[1:-1], bytearray(), 0
    while i < len(body):
        if body[i : i + 1] == b"\\" and i + 1 < len(body):
            nxt = body[i + 1 : i + 2]
            octal = re.match(rb"[0-7]{1,3}", body[i + 1 : i + 4])
            if octal:
                out.append(int(octal.group(), 8) & 0xFF)
                i += 1 + len(octal.group())
                continue
            out += _ESCAPES.get(nxt, nxt)
            i += 2
            continue
        out += body[i : i + 1]
        i += 1
    return bytes(out)


def pdf_text(content: bytes) -> str:
    """The text a PDF shows, read without a PDF library.

    Streams are inflated; each string shown is decoded as Latin-1 (core fonts) and through
    every ToUnicode map of the file (embedded fonts number their glyphs per subset).
    """
    streams = [content]
    for match in _PDF_STREAM.finditer(content):
        try:
            streams.append(zlib.decompress(match.group(1)))
        except zlib.error:
            streams.append(match.group(1))
    maps = [
        {
            bytes.fromhex(code.decode()): bytes.fromhex(uni.decode()).decode("utf-16-be")
            for code, uni in _PAIR.findall(section)
        }
        for stream in streams
        for section in _BFCHAR.findall(stream)
    ]
    shown: list[str] = []
    for stream in streams:
        for raw in _PDF_STRING.findall(stream):
            string = _pdf_literal(raw)
            shown.append(string.decode("latin-1"))
            for cmap in maps:
                pairs = [string[i : i + 2] for i in range(0, len(string) - 1, 2)]
                shown.append("".join(cmap.get(pair, "") for pair in pairs))
    return "\n".join(shown)


def body_text(content: bytes, content_type: str) -> str:
    if "spreadsheetml" in content_type:
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
        return "\n".join(
            str(value)
            for sheet in workbook.worksheets
            for row in sheet.iter_rows(values_only=True)
            for value in row
            if value is not None
        )
    if "pdf" in content_type:
        return pdf_text(content)
    return content.decode("utf-8", errors="replace")


# ----- walking every GET route ---------------------------------------------------------------


@dataclass
class Scene:
    world: World
    tender: Tender
    bid_ids: dict[str, list[str]] = field(default_factory=dict)
    """Supplier → every bid it sent (replaced, withdrawn and kept)."""
    tokens: dict[str, str] = field(default_factory=dict)
    seq_before_bids: int = 0

    def path_values(self, name: str) -> list[str]:
        samples: dict[str, list[str]] = {
            "tender_id": [str(self.tender.id)],
            "bid_id": [b for ids in self.bid_ids.values() for b in ids] or ["0" * 32],
            "rfc": [PARTIES[k].rfc for k in (*BIDDERS, "d")],
            "code": ["IMSS"],
            "clave": [PARACETAMOL],
            "round_name": ["2027-2028"],
            "number": ["1"],
            "ocid": [f"ocds-abasto-{self.tender.number}"],
            # The inclusion proof of a bid's own entries: hashes, never what a bid holds.
            "seq": [str(self.seq_before_bids + 1), str(head(self.world.db)[0])],
            # Contracts, orders and units exist only after a fallo: their pages answer 404 here,
            # and must leak nothing all the same.
            "contract_id": ["1"],
            "order_id": ["1"],
            "shipment_id": ["1"],
            "transfer_id": ["1"],
            "unit": ["HGZ-1"],
            "unit_code": ["HGZ-1"],
        }
        assert name in samples, f"a GET route has the path parameter {{{name}}}: give a sample"
        return samples[name]


@dataclass(frozen=True)
class Visit:
    principal: Principal
    route: str
    url: str
    status: int
    body: str
    own_workspace: bool
    """A route only suppliers may use (its own bids): the principal's own bids may show."""


def get_routes(client: TestClient) -> list[tuple[str, bool]]:
    """Every GET route's path, and whether it is reserved to suppliers."""
    found = {}
    for context in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        if not context.methods or "GET" not in context.methods or not context.path:
            continue
        route = context.original_route
        supplier_only = False
        if isinstance(route, APIRoute):
            roles = [
                policy_roles(dep.call)
                for dep in route.dependant.dependencies
                if policy_roles(dep.call) != "none"
            ]
            supplier_only = roles == [frozenset({Role.proveedor})]
        found[context.path] = supplier_only
    assert "/api/v1/tenders/{tender_id}/live" in found
    return sorted(found.items())


def urls(scene: Scene, path: str) -> Iterator[str]:
    names = re.findall(r"{(\w+)}", path)
    combos: list[dict[str, str]] = [{}]
    for name in names:
        combos = [{**c, name: v} for c in combos for v in scene.path_values(name)]
    for combo in combos:
        yield path.format(**combo)


def walk(
    client: TestClient, scene: Scene, principals: Iterable[Principal] = PRINCIPALS
) -> list[Visit]:
    visits = []
    routes = get_routes(client)
    for principal in principals:
        headers = (
            {"Authorization": f"Bearer {scene.tokens[principal.name]}"}
            if principal.username
            else {}
        )
        for path, supplier_only in routes:
            for url in urls(scene, path):
                client.cookies.clear()
                # follow=false: the live feed sends its history and ends instead of following.
                response = client.get(
                    url, headers=headers, params={"follow": "false"}, follow_redirects=False
                )
                assert response.status_code < 500, (principal.name, url, response.text[:300])
                visits.append(
                    Visit(
                        principal,
                        path,
                        url,
                        response.status_code,
                        body_text(response.content, response.headers.get("content-type", "")),
                        supplier_only,
                    )
                )
    return visits


def sealed_leaks(visit: Visit) -> set[str]:
    """Prices or contents of bids this principal may not see, found in the body."""
    leaks = set()
    for key in BIDDERS:
        if visit.own_workspace and visit.principal.supplier == key:
            continue
        leaks |= {marker for marker in every_sealed_marker(key) if marker in visit.body}
    return leaks


def identity_counts(visit: Visit, tender_number: str) -> Counter[str]:
    body = visit.body.lower()
    counts: Counter[str] = Counter()
    for key in BIDDERS:
        for marker in identity_markers(key):
            counts[marker] = body.count(marker)
    if "{rfc}" in visit.route:
        # A bidder's own profile page must not link it to the tender before the opening.
        counts["tender number"] = body.count(tender_number.lower())
    return counts


def identity_leaks(
    visit: Visit, baseline: dict[tuple[str, str], Counter[str]], tender_number: str
) -> set[str]:
    """Identity markers that appear more often than before any bid was sent."""
    before = baseline.get((visit.principal.name, visit.url), Counter())
    now = identity_counts(visit, tender_number)
    return {marker for marker, count in now.items() if count > before[marker]}


# ----- the scene -----------------------------------------------------------------------------


def bid_body(key: str, prices: dict[int, str]) -> dict[str, Any]:
    return {
        "lines": [
            {
                "partida": partida,
                "unit_price": price,
                "quantity": MAXIMUM[partida],
                "manufacturer": MANUFACTURER[key],
                "registro_sanitario": "123M2015 SSA",
                "country": "México",
            }
            for partida, price in prices.items()
        ]
    }


def token(world: World, username: str) -> str:
    user = world.db.scalars(select(User).where(User.username == username)).one()
    return identity.issue_credential(world.buyer(), user=user, kind="token", ttl=timedelta(days=1))


@pytest.fixture
def scene(world: World, client: TestClient) -> Scene:
    """An open licitación, tokens for everyone; no bid yet."""
    identity.register_institution(
        world.buyer(), code="IMSS", name="Instituto Mexicano del Seguro Social", kind="x"
    )
    identity.create_user(
        world.buyer(),
        username="planeacion.imss",
        full_name="Planeación IMSS",
        password="contrasena-segura-1",
        role=Role.institucion,
        institution_code="IMSS",
    )
    tender = world.tender("licitacion_nacional")
    built = Scene(world, tender)
    for principal in PRINCIPALS:
        if principal.username:
            built.tokens[principal.name] = token(world, principal.username)
    world.db.flush()
    return built


def send_bids(client: TestClient, scene: Scene) -> None:
    """Through the API: a's first bid replaced, b's first withdrawn, c's sent as a sheet."""
    tender = scene.tender
    url = f"/api/v1/tenders/{tender.id}/bids"

    def auth(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {scene.tokens[f'licitante-{key}']}"}

    def sent(response: Any) -> str:
        assert response.status_code == 201, response.text
        bid_id: str = response.json()["bid_id"]
        return bid_id

    clock = scene.world.clock
    clock.advance(timedelta(minutes=1))
    first_a = sent(client.post(url, json=bid_body("a", REPLACED["a"]), headers=auth("a")))
    clock.advance(timedelta(minutes=1))
    kept_a = sent(client.put(f"{url}/{first_a}", json=bid_body("a", KEPT["a"]), headers=auth("a")))
    clock.advance(timedelta(minutes=1))
    first_b = sent(
        client.post(
            url, json=bid_body("b", WITHDRAWN["b"]), headers={**auth("b"), "Idempotency-Key": "1"}
        )
    )
    assert client.delete(f"{url}/{first_b}", headers=auth("b")).status_code == 204
    clock.advance(timedelta(minutes=1))
    kept_b = sent(
        client.post(
            url, json=bid_body("b", KEPT["b"]), headers={**auth("b"), "Idempotency-Key": "2"}
        )
    )
    clock.advance(timedelta(minutes=1))
    template = client.get(f"/api/v1/tenders/{tender.id}/template.xlsx").content
    sheet = fill_template(
        template,
        {n: Decimal(p) for n, p in KEPT["c"].items()},
        quantities={n: MAXIMUM[n] for n in KEPT["c"]},
        cells={(n, 10): MANUFACTURER["c"] for n in KEPT["c"]},
    )
    kept_c = sent(
        client.post(
            f"{url}/sheet",
            files={"file": ("proposicion.xlsx", sheet, "application/octet-stream")},
            headers=auth("c"),
        )
    )
    # A question from a bidder: published, without its author.
    asked = client.post(
        f"/api/v1/tenders/{tender.id}/questions",
        json={"text": "¿Se acepta la presentación con 20 tabletas?"},
        headers=auth("a"),
    )
    assert asked.status_code == 201, asked.text
    scene.bid_ids = {"a": [first_a, kept_a], "b": [first_b, kept_b], "c": [kept_c]}
    scene.world.db.expire_all()


def report(found: dict[str, set[str]]) -> str:
    return "\n".join(f"{where}: {sorted(markers)}" for where, markers in sorted(found.items()))


# ----- the tests -----------------------------------------------------------------------------


def test_nothing_shows_prices_or_bidders_before_the_opening(
    client: TestClient, scene: Scene, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="abasto")
    number = scene.tender.number
    baseline = {(v.principal.name, v.url): identity_counts(v, number) for v in walk(client, scene)}
    scene.seq_before_bids = head(scene.world.db)[0]

    send_bids(client, scene)
    visits = walk(client, scene)

    leaks: dict[str, set[str]] = {}
    for visit in visits:
        found = sealed_leaks(visit) | identity_leaks(visit, baseline, number)
        if found:
            leaks[f"{visit.principal.name} GET {visit.url} ({visit.status})"] = found
    assert not leaks, "sealed bids leaked before the opening:\n" + report(leaks)

    # The check is not blind: each bidder sees its own bids on its own pages.
    for key in BIDDERS:
        mine = [
            v
            for v in visits
            if v.principal.supplier == key and v.route.endswith("/bids/mine") and v.status == 200
        ]
        assert mine, key
        assert all(price in mine[0].body for price in KEPT[key].values()), key

    logged = caplog.text.lower()
    for key in BIDDERS:
        assert not {m for m in every_sealed_marker(key) if m.lower() in logged}
        assert not {m for m in identity_markers(key) if m in logged}


def test_stored_rows_hold_nothing_readable_and_the_ledger_names_no_bidder(
    client: TestClient, scene: Scene
) -> None:
    scene.seq_before_bids = head(scene.world.db)[0]
    send_bids(client, scene)
    db = scene.world.db

    suppliers = {k: scene.world.suppliers[k].id for k in BIDDERS}
    forbidden: set[str] = set()
    for key in BIDDERS:
        forbidden |= every_sealed_marker(key) | identity_markers(key)
        forbidden |= {f'"supplier_id":{suppliers[key]}', f'"supplier_id": {suppliers[key]}'}
        forbidden.add(PARTIES[key].username)
    leaks: dict[str, set[str]] = {}
    for table, where in (
        ("bids", ""),
        ("bid_requests", ""),
        ("ledger_entries", f" WHERE seq > {scene.seq_before_bids}"),
    ):
        rows = db.execute(text(f"SELECT * FROM {table}{where}")).mappings().all()
        assert rows, table
        for number, row in enumerate(rows):
            for column, value in row.items():
                raw = bytes(value) if isinstance(value, bytes | memoryview) else None
                shown = raw.decode("latin-1") if raw is not None else str(value)
                found = {m for m in forbidden if m.lower() in shown.lower()}
                if raw is not None:
                    found |= {m for m in forbidden if m.encode() in raw}
                if found:
                    leaks[f"{table}[{number}].{column}"] = found
    assert not leaks, report(leaks)

    assert db.scalars(select(Bid.supplier_id)).all() == [None] * 5
    entries = db.scalars(select(LedgerEntry).where(LedgerEntry.seq > scene.seq_before_bids)).all()
    by_action: dict[str, set[str]] = {}
    for entry in entries:
        by_action.setdefault(entry.action, set()).add(entry.actor)
    assert by_action["bid.seal"] == {"licitante"}
    assert by_action["bid.withdraw"] == {"licitante"}
    assert by_action["question.ask"] == {"licitante"}
    assert all(PARTIES[k].username not in entry.actor for entry in entries for k in BIDDERS)


def test_after_the_opening_the_same_walk_finds_prices_and_bidders(
    client: TestClient, scene: Scene
) -> None:
    send_bids(client, scene)
    world = scene.world
    world.clock.set(scene.tender.opening_at)
    world.tick(finish=True)
    anonymous = PRINCIPALS[0]

    visits = walk(client, scene, [anonymous])

    by_route: dict[str, set[str]] = {}
    for visit in visits:
        found = sealed_leaks(visit) | {
            m for key in BIDDERS for m in identity_markers(key) if m in visit.body.lower()
        }
        if found and visit.status == 200:
            by_route.setdefault(visit.route, set()).update(found)
    everything = set().union(*by_route.values())
    for key in BIDDERS:
        assert {f"{Decimal(p):.2f}" for p in KEPT[key].values()} <= everything, key
        assert {PARTIES[key].rfc.lower(), PARTIES[key].name.lower()} <= everything, key
    for route in ("/api/v1/tenders/{tender_id}/bids", "/api/v1/tenders/{tender_id}/live"):
        assert every_sealed_marker("a") & by_route.get(route, set()), route
    pdf = "/licitaciones/{tender_id}/acta.pdf"
    if any(v.route == pdf and v.status == 200 for v in visits):
        # The PDF reader above is not blind either.
        assert every_sealed_marker("a") & by_route.get(pdf, set())
    # Replaced and withdrawn bids stay sealed for ever.
    never = price_forms(REPLACED["a"][1]) | price_forms(WITHDRAWN["b"][1])
    assert not {m for m in never for v in visits if m in v.body}
