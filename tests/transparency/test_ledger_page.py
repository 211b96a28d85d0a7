"""The public ledger page (issue 18, item 2): Spanish action names, filters, each entry openable,
keyset pages that never count or skip through the whole ledger, and sessions an auditor hides."""

from __future__ import annotations

import ast
import re
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from abasto.core.context import Context
from abasto.core.ledger import Record
from abasto.transparency import service
from tests.conftest import PASSWORD, make_user
from tests.tendering.conftest import World

SOURCE = Path(__file__).resolve().parents[2] / "src" / "abasto"


def recorded_actions() -> set[str]:
    """Every action the code records: the first argument of ``record``, ``record_entry``,
    ``record_many``'s ``Record`` when it is written as a string."""
    found: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            first = node.args[0]
            if (
                name in {"record", "record_entry", "Record"}
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", first.value)
            ):
                found.add(first.value)
    return found


def test_every_recorded_action_has_a_spanish_name() -> None:
    actions = recorded_actions()
    assert {"bid.seal", "tender.publish", "fallo.issue", "login.failed"} <= actions
    assert sorted(actions - service.ACTION_NAMES.keys()) == []


def rows(page: str) -> list[str]:
    """The seq of each row of the entries table, in order."""
    return re.findall(r'<a href="/bitacora/entradas/(\d+)"', page)


def seed(ctx: Context) -> None:
    ctx.record_many([Record("tender.publish", f"tender:{i % 3 + 1}", {"n": i}) for i in range(120)])
    ctx.record("login.failed", "user:ana", {"attempts": 3}, public=False)
    ctx.record("bid.seal", "tender:2", {"commitment": "abc"})


def test_actions_are_named_in_spanish_and_entries_link_to_their_page(
    client: TestClient, ctx: Context
) -> None:
    seed(ctx)
    page = client.get("/bitacora")
    assert page.status_code == 200
    assert "Licitación publicada" in page.text
    assert "Proposición sellada" in page.text
    assert '<a href="/licitaciones/2">tender:2</a>' in page.text
    assert ">tender.publish<" not in page.text
    # The public does not see the private entry, nor a count of the whole ledger's rows.
    assert "Intentos de acceso fallidos" not in page.text.split("<tbody>")[1]


def test_keyset_pages_walk_back_and_forth_without_gaps(client: TestClient, ctx: Context) -> None:
    seed(ctx)
    first = client.get("/bitacora")
    newest = rows(first.text)
    assert len(newest) == service.PAGE_SIZE
    older = re.search(r'href="/bitacora\?antes=(\d+)#entradas"', first.text)
    assert older is not None
    assert older.group(1) == newest[-1]
    second = client.get(f"/bitacora?antes={older.group(1)}")
    following = rows(second.text)
    assert int(following[0]) == int(newest[-1]) - 1
    newer = re.search(r'href="/bitacora\?despues=(\d+)#entradas"', second.text)
    assert newer is not None
    back = client.get(f"/bitacora?despues={newer.group(1)}")
    assert rows(back.text) == newest
    assert 'rel="prev"' not in back.text


def test_filters_by_action_tender_and_day(client: TestClient, ctx: Context) -> None:
    seed(ctx)
    sealed = client.get("/bitacora", params={"accion": "bid.seal"})
    assert len(rows(sealed.text)) == 1
    about = client.get("/bitacora", params={"licitacion": 2})
    assert len(rows(about.text)) == 41
    day = ctx.now.date()
    today = client.get("/bitacora", params={"desde": day.isoformat(), "hasta": day.isoformat()})
    assert len(rows(today.text)) == service.PAGE_SIZE
    later = (day + timedelta(days=1)).isoformat()
    none = client.get("/bitacora", params={"desde": later})
    assert rows(none.text) == []
    assert "Ninguna entrada coincide" in none.text
    wrong = client.get("/bitacora", params={"desde": "9999-12-31"})
    assert wrong.status_code == 200
    assert "La fecha «desde» no es válida" in wrong.text


def test_an_entry_shows_its_payload_and_private_ones_only_to_auditors(
    client: TestClient, ctx: Context
) -> None:
    seed(ctx)
    private_seq = ctx.record("login.failed", "user:beto", {"attempts": 7}, public=False)
    public_seq = ctx.record("bid.seal", "tender:3", {"commitment": "f00d"})
    shown = client.get(f"/bitacora/entradas/{public_seq}")
    assert shown.status_code == 200
    assert "Proposición sellada" in shown.text
    assert (
        "&#34;commitment&#34;: &#34;f00d&#34;" in shown.text or '"commitment": "f00d"' in shown.text
    )
    assert client.get(f"/bitacora/entradas/{private_seq}").status_code == 404
    assert client.get("/bitacora/entradas/2147483648").status_code == 422

    make_user(ctx, "audi", "auditor")
    client.post("/entrar", data={"username": "audi", "password": PASSWORD})
    assert client.get(f"/bitacora/entradas/{private_seq}").status_code == 200
    everything = client.get("/bitacora")
    assert "Intentos de acceso fallidos" in everything.text.split("<tbody>")[1]
    hidden = client.get("/bitacora", params={"sin_sesiones": "true"})
    assert "Intentos de acceso fallidos" not in hidden.text.split("<tbody>")[1]
    assert "Proposición sellada" in hidden.text


def test_a_published_tender_links_to_its_entries(client: TestClient, world: World) -> None:
    tender = world.tender()
    page = client.get(f"/licitaciones/{tender.id}")
    assert f'href="/bitacora?licitacion={tender.id}#entradas"' in page.text
    entries = client.get(f"/bitacora?licitacion={tender.id}")
    assert "Licitación publicada" in entries.text.split("<tbody>")[1]
