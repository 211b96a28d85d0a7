"""The tendering pages: the public list and tender page, the live opening, both workspaces."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from abasto.catalog import service as catalog
from abasto.core.money import MEXICO_CITY
from abasto.tendering import rules, service
from abasto.tendering.models import Bid, Tender
from tests.catalog.test_pages import log_in
from tests.tendering.conftest import (
    COL_CLAVE,
    COL_COUNTRY,
    COL_MANUFACTURER,
    PARTIES,
    World,
    fill_template,
    seal_poison,
)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
WORKSPACE = "/proveedor/licitaciones"


def page_of(tender: Tender) -> str:
    return f"/licitaciones/{tender.id}"


def buyer_page(tender: Tender) -> str:
    return f"/comprador/licitaciones/{tender.id}"


def row_of(html: str, marker: str) -> str:
    start = html.index(marker)
    return html[start : html.index("</tr>", start)]


def fresh(world: World, tender: Tender) -> Tender:
    """The tender as the requests left it (they ran in sessions of their own)."""
    world.db.expire_all()
    found = world.db.get(Tender, tender.id)
    assert found is not None
    return found


def upload(client: TestClient, tender: Tender, content: bytes, **data: str) -> tuple[int, str, str]:
    response = client.post(
        f"{WORKSPACE}/{tender.id}/proposiciones",
        files={"file": ("mi-proposicion.xlsx", content, XLSX)},
        data=data,
        follow_redirects=False,
    )
    return response.status_code, response.headers.get("location", ""), response.text


# ----- the public list -----------------------------------------------------------------------


def test_the_list_shows_published_tenders_and_buyers_also_see_drafts(
    client: TestClient, world: World
) -> None:
    published = world.tender()
    world.bid("a", published, {1: "12.50"})
    draft = world.tender(publish=False)

    anonymous = client.get("/licitaciones")
    cancelled = client.get("/licitaciones", params={"estado": "cancelled"})
    searched = client.get("/licitaciones", params={"q": "primer nivel"})
    live = client.get("/licitaciones", params={"q": published.number}, headers={"HX-Request": "1"})
    log_in(client, "comprador")
    buyer = client.get("/licitaciones")

    assert anonymous.status_code == 200
    assert "<title>Licitaciones · Abasto</title>" in anonymous.text
    assert '<a href="/licitaciones">Licitaciones</a>' in anonymous.text
    row = row_of(anonymous.text, f'<a href="/licitaciones/{published.id}">{published.number}</a>')
    assert "Licitación pública nacional" in row
    assert "Junta de aclaraciones" in row
    # T0 + 9 days at 16:00 UTC is 10:00 in Mexico City.
    assert "Preguntas hasta 11/11/2026 10:00" in row
    assert "Cierre 18/11/2026 10:00" in row
    assert "Apertura 18/11/2026 11:00" in row
    assert '<td class="num" data-label="Partidas">3</td>' in row
    assert '<td class="num" data-label="Proposiciones">1</td>' in row
    assert draft.number not in anonymous.text
    assert 'href="/licitaciones/nueva"' not in anonymous.text
    assert "Ninguna licitación coincide" in cancelled.text
    assert published.number in searched.text
    assert "<html" not in live.text
    assert published.number in live.text
    assert draft.number in buyer.text
    assert "Borrador" in buyer.text
    assert 'href="/licitaciones/nueva"' in buyer.text
    assert f'href="/comprador/licitaciones/{draft.id}">Gestionar</a>' in buyer.text


# ----- the public tender page ----------------------------------------------------------------


def test_before_the_opening_the_tender_page_shows_commitments_but_no_bidder_or_price(
    client: TestClient, world: World
) -> None:
    tender = world.tender()
    first = world.bid("a", tender, {1: "12.50", 2: "3.10"})
    second = world.bid("b", tender, {1: "11.75"})
    service.ask_question(
        world.as_supplier("a"), tender_id=tender.id, text="¿Se acepta la caja de 20?", partida=1
    )
    service.answer_question(world.buyer(), tender_id=tender.id, number=1, answer="Sí, se acepta.")
    draft = world.tender(publish=False)

    page = client.get(page_of(tender))
    hidden = client.get(page_of(draft))
    log_in(client, "comprador")
    seen_by_buyer = client.get(page_of(draft))

    assert page.status_code == 200
    assert f"<h1>{tender.title}</h1>" in page.text
    for receipt in (first, second):
        row = row_of(page.text, f'<tr data-bid="{receipt.bid_id}">')
        assert receipt.commitment in row
        assert "02/11/2026 10:00" in row
    for party in ("a", "b"):
        assert PARTIES[party].name not in page.text
        assert PARTIES[party].rfc not in page.text
    for price in ("12.50", "3.10", "11.75"):
        assert price not in page.text
    assert "El contenido de cada proposición está sellado hasta la apertura" in page.text
    assert "¿Se acepta la caja de 20?" in page.text
    assert "Sí, se acepta." in page.text
    assert "Límite para preguntas (junta de aclaraciones)" in page.text
    assert "18/11/2026 11:00" in page.text
    assert f'href="/api/v1/tenders/{tender.id}/template.xlsx"' in page.text
    assert f'href="/licitaciones/{tender.id}/apertura"' in page.text
    assert "/acta" not in page.text
    assert "010.000.0104.00" in page.text
    assert hidden.status_code == 404
    assert seen_by_buyer.status_code == 200


def test_after_the_opening_the_tender_page_shows_bidders_prices_and_checks(
    client: TestClient, world: World
) -> None:
    tender = world.tender()
    first = world.bid("a", tender, {1: "12.50", 2: "3.10"})
    second = world.bid("b", tender, {1: "11.75"})
    world.clock.set(tender.opening_at)
    world.open_now(tender)

    page = client.get(page_of(tender))

    assert page.status_code == 200
    first_row = row_of(page.text, f'<tr data-bid="{first.bid_id}">')
    assert PARTIES["a"].name in first_row
    assert PARTIES["a"].rfc in first_row
    # 12.50 × 250 + 3.10 × 90
    assert "$3,404.00" in first_row
    assert "Coincide" in first_row
    assert first.commitment in first_row
    assert PARTIES["b"].name in row_of(page.text, f'<tr data-bid="{second.bid_id}">')
    offers = row_of(page.text, 'id="partida-1"')
    assert offers.index("$11.75") < offers.index("$12.50")
    assert f'href="/licitaciones/{tender.id}/acta"' in page.text
    assert f'href="/licitaciones/{tender.id}/acta.pdf"' in page.text


def test_a_large_tenders_partidas_are_paged_and_searchable(
    client: TestClient, world: World
) -> None:
    codes = [f"010.000.{n:04d}.00" for n in range(2001, 2061)]
    catalog.import_catalog(
        world.buyer(),
        content=(
            "Clave,Descripción\n"
            + "".join(f"{c},Medicamento de prueba {c[8:12]}. Envase con 10.\n" for c in codes)
        ).encode(),
        filename="catalogo.csv",
    )
    tender = service.create_tender(
        world.buyer(),
        world.sealer,
        title="Sesenta partidas",
        procedure="licitacion_nacional",
        partidas=[service.PartidaInput(c, 1, 10) for c in codes],
        **{name: getattr(world.tender(publish=False), name) for name in rules.MILESTONES},
    )
    service.publish_tender(world.buyer(), tender_id=tender.id)

    first = client.get(page_of(tender))
    second = client.get(page_of(tender), params={"page": 2})
    search = client.get(page_of(tender), params={"q": "2055"}, headers={"HX-Request": "1"})

    assert first.text.count('<tr id="partida-') == 50
    assert 'Partidas <span class="muted">(60)</span>' in first.text
    assert "Página 1 de 2 · 60 partidas" in first.text
    assert f'href="/licitaciones/{tender.id}?q=&amp;page=2#partidas-titulo"' in first.text
    assert second.text.count('<tr id="partida-') == 10
    assert "010.000.2060.00" in second.text
    assert "<html" not in search.text
    assert search.text.count('<tr id="partida-') == 1
    assert 'id="partida-55"' in search.text


# ----- the live opening ----------------------------------------------------------------------


def test_the_live_page_renders_what_the_feed_already_has(client: TestClient, world: World) -> None:
    tender = world.tender()
    first = world.bid("a", tender, {1: "12.50"})
    second = world.bid("b", tender, {1: "11.75", 2: "3.10"})

    before = client.get(f"{page_of(tender)}/apertura")
    world.clock.set(tender.opening_at)
    world.open_now(tender)
    after = client.get(f"{page_of(tender)}/apertura")

    assert before.status_code == 200
    assert '<strong id="abiertas">0</strong> de <strong id="esperadas">2</strong>' in before.text
    for receipt in (first, second):
        assert receipt.commitment in row_of(before.text, f'data-commitment="{receipt.bid_id}"')
        assert f'data-bid="{receipt.bid_id}"' not in before.text
    assert "Llegó una proposición sellada" in before.text
    seq = re.search(r'data-after="(\d+)"', before.text)
    assert seq is not None
    assert f"/api/v1/tenders/{tender.id}/live?after={seq[1]}" in before.text
    assert '<script src="/static/live.js" defer></script>' in before.text
    assert PARTIES["a"].name not in before.text

    assert '<strong id="abiertas">2</strong> de <strong id="esperadas">2</strong>' in after.text
    row = row_of(after.text, f'data-bid="{second.bid_id}"')
    assert PARTIES["b"].name in row
    assert PARTIES["b"].rfc in row
    assert "$3,216.50" in row  # 11.75 × 250 + 3.10 × 90
    assert "Coincide" in row
    assert second.commitment in row
    assert "Terminó la apertura: 2 proposiciones abiertas, 2 coinciden" in after.text
    assert 'data-final="1"' in after.text
    assert "Proposiciones abiertas" in after.text


# ----- the supplier's workspace --------------------------------------------------------------


def test_a_supplier_bids_with_the_filled_template_replaces_and_withdraws(
    client: TestClient, world: World
) -> None:
    tender = world.tender()
    log_in(client, PARTIES["a"].username)
    workspace = client.get(WORKSPACE)
    template = client.get(f"/api/v1/tenders/{tender.id}/template.xlsx").content

    status, location, _ = upload(
        client, tender, fill_template(template, {1: "12.50", 2: "3.10"}), submission="k1"
    )
    receipt = client.get(location)
    repeated = upload(
        client, tender, fill_template(template, {1: "12.50", 2: "3.10"}), submission="k1"
    )
    after_first = client.get(WORKSPACE)

    assert workspace.status_code == 200
    assert f'id="licitacion-{tender.id}"' in workspace.text
    assert "Enviar proposición sellada" in workspace.text
    assert status == 303
    match = re.fullmatch(
        rf"{WORKSPACE}/{tender.id}/proposiciones/([0-9a-f]{{32}})\?nueva=1", location
    )
    assert match is not None
    bid_id = match[1]
    (own,) = service.my_bids(world.as_supplier("a"), world.sealer, tender_id=tender.id)
    assert own.bid.id == bid_id
    assert receipt.status_code == 200
    assert "Recibimos su proposición sellada." in receipt.text
    assert own.receipt.commitment in receipt.text
    assert own.receipt.salt in receipt.text
    assert "Guarde este acuse." in receipt.text
    assert "$12.50" in receipt.text
    assert repeated[:2] == (303, location)  # the same form sent twice is one bid
    assert f'<tr data-bid="{bid_id}">' in after_first.text
    assert "Sellada, vigente" in after_first.text
    assert f'name="replaces" value="{bid_id}"' in after_first.text

    status, replaced_at, _ = upload(
        client, tender, fill_template(template, {1: "11.90"}), submission="k2", replaces=bid_id
    )
    new_id = replaced_at.split("/")[-1].split("?")[0]
    unconfirmed = client.post(f"{WORKSPACE}/{tender.id}/proposiciones/{new_id}/retirar")
    withdrawn = client.post(
        f"{WORKSPACE}/{tender.id}/proposiciones/{new_id}/retirar",
        data={"confirmar": "si"},
        follow_redirects=False,
    )
    final = client.get(withdrawn.headers["location"])

    assert status == 303
    assert new_id != bid_id
    assert unconfirmed.status_code == 422
    assert "No se retiró la proposición: falta confirmar el retiro." in unconfirmed.text
    assert withdrawn.status_code == 303
    assert f"Se retiró la proposición {new_id}" in final.text
    assert "Sustituida" in row_of(final.text, f'<tr data-bid="{bid_id}">')
    assert "Retirada" in row_of(final.text, f'<tr data-bid="{new_id}">')
    world.db.expire_all()
    assert {b.status for b in world.db.scalars(select(Bid))} == {"replaced", "withdrawn"}


def test_a_supplier_is_told_what_is_wrong_with_its_upload_and_nothing_is_sealed(
    client: TestClient, world: World
) -> None:
    tender = world.tender()
    template = service.bid_template(world.buyer(), tender_id=tender.id)[1]
    log_in(client, PARTIES["a"].username)

    missing = client.post(f"{WORKSPACE}/{tender.id}/proposiciones", data={"submission": "x"})
    shifted = upload(
        client,
        tender,
        fill_template(template, {1: "12.50"}, cells={(1, COL_CLAVE): "010.000.0101.00"}),
    )
    world.clock.set(tender.bid_deadline)
    log_in(client, PARTIES["a"].username)  # the page session of 16 days ago has expired
    late = upload(client, tender, fill_template(template, {1: "12.50"}))

    assert missing.status_code == 422
    assert "Elija el archivo de su proposición." in missing.text
    assert shifted[0] == 422
    assert "la clave de la partida 1 no es la de la licitación" in shifted[2]
    assert "010.000.0101.00" in shifted[2]
    assert late[0] == 409
    assert "No se recibió la proposición." in late[2]
    assert "Enviar proposición sellada" not in late[2]
    world.db.expire_all()
    assert world.db.scalars(select(Bid)).all() == []


def test_a_supplier_asks_a_question_that_is_published_without_its_name(
    client: TestClient, world: World
) -> None:
    tender = world.tender()
    log_in(client, PARTIES["a"].username)

    asked = client.post(
        f"{WORKSPACE}/{tender.id}/preguntas",
        data={"text": "¿Se acepta la caja de 20 tabletas?", "partida": "1"},
        follow_redirects=False,
    )
    notice = client.get(asked.headers["location"])
    short = client.post(f"{WORKSPACE}/{tender.id}/preguntas", data={"text": "¿?"})
    bad_partida = client.post(
        f"{WORKSPACE}/{tender.id}/preguntas", data={"text": "¿Y esta partida?", "partida": "uno"}
    )
    world.clock.set(tender.clarification_deadline)
    log_in(client, PARTIES["a"].username)
    late = client.post(f"{WORKSPACE}/{tender.id}/preguntas", data={"text": "¿Llego tarde?"})
    client.cookies.clear()
    public = client.get(page_of(tender))

    assert asked.status_code == 303
    assert "Se registró su pregunta 1" in notice.text
    assert short.status_code == 422
    assert "Pregunta vacía o muy corta" in short.text
    assert bad_partida.status_code == 422
    assert "Número de partida no válido" in bad_partida.text
    assert late.status_code == 409
    assert "la pregunta no se registró" in late.text
    assert "¿Se acepta la caja de 20 tabletas?" in public.text
    assert "Pregunta 1</strong> · partida 1" in public.text
    assert PARTIES["a"].name not in public.text


def test_only_suppliers_have_a_workspace(client: TestClient, world: World) -> None:
    tender = world.tender()

    anonymous = client.get(WORKSPACE)
    log_in(client, "comprador")
    buyer = client.get(WORKSPACE)
    buyer_post = client.post(f"{WORKSPACE}/{tender.id}/preguntas", data={"text": "¿Hola?"})

    assert anonymous.status_code == 401
    assert buyer.status_code == 403
    assert buyer_post.status_code == 403


# ----- the buyer's workspace -----------------------------------------------------------------

NEW_TENDER = {
    "title": "Analgésicos 2027",
    "procedure": "licitacion_nacional",
    "partidas": "010.000.0104.00,100,250\n\n010.000.0101.00; 40; 90\n",
    "clarification_deadline": "2026-11-11T10:00",
    "bid_deadline": "2026-11-18T10:00",
    "opening_at": "2026-11-18T11:00",
    "fallo_at": "2026-11-20T11:00",
}


def test_the_buyer_creates_a_tender_from_the_form_and_publishes_it(
    client: TestClient, world: World
) -> None:
    log_in(client, "comprador")

    form = client.get("/licitaciones/nueva")
    garbled = client.post("/licitaciones/nueva", data={**NEW_TENDER, "partidas": "paracetamol"})
    unknown = client.post(
        "/licitaciones/nueva", data={**NEW_TENDER, "partidas": "010.000.9999.00,1,2"}
    )
    no_date = client.post("/licitaciones/nueva", data={**NEW_TENDER, "fallo_at": ""})
    created = client.post("/licitaciones/nueva", data=NEW_TENDER, follow_redirects=False)
    tender = world.db.scalars(select(Tender).where(Tender.title == "Analgésicos 2027")).one()
    draft_page = client.get(created.headers["location"])
    unconfirmed = client.post(
        f"{buyer_page(tender)}/publicar", data={"version": str(tender.version)}
    )
    stale = client.post(f"{buyer_page(tender)}/publicar", data={"version": "99", **CONFIRMED})
    published = client.post(
        f"{buyer_page(tender)}/publicar", data={"version": str(tender.version), **CONFIRMED},
        follow_redirects=False,
    )  # fmt: skip
    after = client.get(published.headers["location"])

    assert form.status_code == 200
    assert 'type="datetime-local" name="bid_deadline"' in form.text
    assert '<option value="invitacion"' in form.text
    assert garbled.status_code == 422
    assert "Línea 1 de las partidas no se entiende" in garbled.text
    assert "paracetamol" in garbled.text  # the form keeps what was typed
    assert unknown.status_code == 422
    assert "Clave desconocida" in unknown.text
    assert no_date.status_code == 422
    assert "Falta la fecha de fallo" in no_date.text
    assert created.status_code == 303
    assert created.headers["location"] == f"{buyer_page(tender)}?hecho=creada"
    # 10:00 in Mexico City is 16:00 UTC.
    assert tender.bid_deadline == datetime(2026, 11, 18, 16, 0, tzinfo=UTC)
    assert [p.clave.clave for p in tender.partidas] == ["010.000.0104.00", "010.000.0101.00"]
    assert "Se creó el borrador" in draft_page.text
    assert "Publicar la licitación" in draft_page.text
    assert 'name="confirmar" value="si" required' in draft_page.text
    assert unconfirmed.status_code == 422
    assert "falta confirmar la publicación" in unconfirmed.text
    assert stale.status_code == 409
    assert "cambió después de que usted la leyó" in stale.text
    assert published.status_code == 303
    assert "Se publicó la licitación." in after.text
    assert fresh(world, tender).status == rules.CLARIFICATIONS


CONFIRMED = {"confirmar": "si"}
"""The publish form's checkbox: publishing asks for it (issue 18, item 4)."""


def test_publishing_is_refused_with_the_procedures_rules(client: TestClient, world: World) -> None:
    log_in(client, "comprador")
    client.post("/licitaciones/nueva", data={**NEW_TENDER, "bid_deadline": "2026-11-12T10:00"})
    tender = world.db.scalars(select(Tender)).one()

    refused = client.post(f"{buyer_page(tender)}/publicar", data={"version": "1", **CONFIRMED})

    assert refused.status_code == 422
    assert "no cumple las reglas de «Licitación pública nacional»" in refused.text
    assert "al menos 15 días naturales desde la publicación" in refused.text
    assert fresh(world, tender).status == rules.DRAFT


def test_the_buyer_answers_amends_declares_desierta_and_cancels(
    client: TestClient, world: World
) -> None:
    tender = world.tender()
    service.ask_question(
        world.as_supplier("a"), tender_id=tender.id, text="¿Se acepta la caja de 20?"
    )
    log_in(client, "comprador")

    page = client.get(buyer_page(tender))
    answered = client.post(
        f"{buyer_page(tender)}/preguntas/1/responder",
        data={"answer": "Sí, se acepta."},
        follow_redirects=False,
    )
    amended = client.post(
        f"{buyer_page(tender)}/modificar",
        data={
            "description": "Se amplía el plazo para presentar proposiciones.",
            "bid_deadline": "2026-11-19T10:00",
            "opening_at": "2026-11-19T10:30",
            "version": str(fresh(world, tender).version),
        },
        follow_redirects=False,
    )
    bad_date = client.post(
        f"{buyer_page(tender)}/modificar",
        data={"description": "Una fecha mal escrita.", "opening_at": "mañana"},
    )
    desierta = client.post(
        f"{buyer_page(tender)}/desierta",
        data={"partida": "3", "reason": "Sin fabricantes con registro sanitario"},
        follow_redirects=False,
    )
    no_number = client.post(f"{buyer_page(tender)}/desierta", data={"partida": "x", "reason": "x"})
    short = client.post(f"{buyer_page(tender)}/cancelar", data={"reason": "porque"})
    public = client.get(page_of(tender))
    cancelled = client.post(
        f"{buyer_page(tender)}/cancelar",
        data={"reason": "La demanda se consolidará de nuevo.", "version": ""},
        follow_redirects=False,
    )
    after = client.get(page_of(tender))

    assert page.status_code == 200
    assert "¿Se acepta la caja de 20?" in page.text
    assert f'action="{buyer_page(tender)}/preguntas/1/responder"' in page.text
    assert "Publicar la modificación" in page.text
    assert answered.status_code == 303
    assert amended.status_code == 303
    assert fresh(world, tender).bid_deadline == datetime(2026, 11, 19, 16, 0, tzinfo=UTC)
    assert bad_date.status_code == 422
    assert "La fecha de apertura de proposiciones no es válida" in bad_date.text
    assert desierta.status_code == 303
    assert no_number.status_code == 422
    assert short.status_code == 422
    assert "Motivo muy corto" in short.text
    assert "Sí, se acepta." in public.text
    assert "Modificación 1" in public.text
    assert "18/11/2026 10:00 → <strong>19/11/2026 10:00</strong>" in public.text
    assert "Desierta" in row_of(public.text, 'id="partida-3"')
    assert cancelled.status_code == 303
    assert "Cancelada el 02/11/2026 10:00." in after.text
    assert "La demanda se consolidará de nuevo." in after.text


def test_the_buyer_starts_the_opening_only_when_its_time_has_come(
    client: TestClient, world: World
) -> None:
    tender = world.tender()
    world.bid("a", tender, {1: "12.50"})
    log_in(client, "comprador")

    early = client.post(f"{buyer_page(tender)}/apertura")
    world.clock.set(tender.opening_at)
    log_in(client, "comprador")
    ready = client.get(buyer_page(tender))
    started = client.post(f"{buyer_page(tender)}/apertura", follow_redirects=False)
    live = client.get(started.headers["location"])
    again = client.post(f"{buyer_page(tender)}/apertura")

    assert early.status_code == 409
    assert "No se abre antes." in early.text
    assert "Iniciar la apertura en público" in ready.text
    assert started.status_code == 303
    assert started.headers["location"] == f"{page_of(tender)}/apertura"
    assert "Apertura en curso" in live.text
    assert '<strong id="abiertas">0</strong> de <strong id="esperadas">1</strong>' in live.text
    assert "Comenzó la apertura: 1 proposición por abrir." in live.text
    assert '<p id="acta-enlaces" class="actions">' in live.text
    assert again.status_code == 409
    assert "ya comenzó" in again.text


def test_only_buyers_manage_tenders(client: TestClient, world: World) -> None:
    tender = world.tender()

    anonymous = client.get("/licitaciones/nueva")
    log_in(client, PARTIES["a"].username)
    supplier = client.get(buyer_page(tender))
    supplier_post = client.post(f"{buyer_page(tender)}/cancelar", data={"reason": "x" * 20})

    assert anonymous.status_code == 401
    assert supplier.status_code == 403
    assert supplier_post.status_code == 403
    assert fresh(world, tender).status == rules.CLARIFICATIONS


def test_the_buyer_is_told_of_a_stuck_opening_and_suspends_then_cancels_it(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    tender = world.tender()
    world.clock.set(tender.clarification_deadline)
    seal_poison(world, "a", tender, monkeypatch)
    world.clock.set(tender.opening_at)
    world.tick(finish=True)
    log_in(client, "comprador")

    page = client.get(buyer_page(tender))
    short = client.post(f"{buyer_page(tender)}/suspender", data={"reason": "no"})
    suspended = client.post(
        f"{buyer_page(tender)}/suspender",
        data={"reason": "Una proposición no se pudo registrar."},
        follow_redirects=False,
    )
    after = client.get(buyer_page(tender))
    live = client.get(f"{page_of(tender)}/apertura")
    cancelled = client.post(
        f"{buyer_page(tender)}/cancelar",
        data={"reason": "La apertura no pudo concluir; se repone el procedimiento."},
        follow_redirects=False,
    )

    assert page.status_code == 200
    assert "Requiere su atención" in page.text
    assert f'action="{buyer_page(tender)}/suspender"' in page.text
    assert f'action="{buyer_page(tender)}/cancelar"' in page.text
    assert short.status_code == 422
    assert suspended.status_code == 303
    assert "Apertura suspendida" in after.text
    assert f'action="{buyer_page(tender)}/reanudar"' in after.text
    assert "Se suspendió la apertura: Una proposición no se pudo registrar." in live.text
    assert cancelled.status_code == 303
    assert fresh(world, tender).status == rules.CANCELLED


@pytest.mark.parametrize("typed", ["²", "9" * 5000, "1e999999"])
def test_numbers_typed_in_forms_are_refused_before_conversion(
    client: TestClient, world: World, typed: str
) -> None:
    """``int("²")`` raises although ``"²".isdigit()``; ``int()`` of 5,000 digits raises too:
    both were a 500. A form's number is read only when plain and small."""
    tender = world.tender()
    log_in(client, "comprador")

    partidas = client.post(
        "/licitaciones/nueva", data={**NEW_TENDER, "partidas": f"010.000.0104.00,1,{typed}"}
    )
    desierta = client.post(
        f"{buyer_page(tender)}/desierta", data={"partida": typed[:10], "reason": "Sin ofertas."}
    )

    assert partidas.status_code == 422
    assert "Línea 1 de las partidas no se entiende" in partidas.text
    assert desierta.status_code == 422
    assert "Número de partida no válido" in desierta.text


def test_a_draft_cancelled_before_its_publication_is_never_public(
    client: TestClient, world: World
) -> None:
    """Issue 18, item 4: a draft is the buyer's; cancelling it publishes nothing."""
    draft = world.tender(publish=False)
    service.cancel_tender(world.buyer(), tender_id=draft.id, reason="Se licitará con otra demanda")
    published = world.tender()
    service.cancel_tender(world.buyer(), tender_id=published.id, reason="Ya no hay presupuesto")

    listed = client.get("/licitaciones", params={"estado": rules.CANCELLED})
    assert published.number in listed.text
    assert draft.number not in listed.text
    assert client.get(f"/licitaciones/{draft.id}").status_code == 404
    assert client.get(f"/api/v1/tenders/{draft.id}").status_code == 404
    cancels = {e.data()["number"]: e.public for e in world.entries(draft, "tender.cancel")}
    cancels |= {e.data()["number"]: e.public for e in world.entries(published, "tender.cancel")}
    assert cancels == {draft.number: False, published.number: True}

    log_in(client, "comprador")
    assert client.get(f"/licitaciones/{draft.id}").status_code == 200


def test_the_buyer_edits_a_draft_until_it_is_published(client: TestClient, world: World) -> None:
    """Issue 18, item 4: the title, the dates and which claves a draft tenders."""
    tender = world.tender(publish=False)
    log_in(client, "comprador")
    page = client.get(buyer_page(tender))
    assert "Editar el borrador" in page.text
    assert page.text.count('name="clave"') == 3
    kept = [p.clave.clave for p in tender.partidas][1:]
    earlier = tender.clarification_deadline - timedelta(hours=1)
    edited = client.post(
        f"{buyer_page(tender)}/borrador",
        data={
            "version": str(tender.version),
            "title": "  Medicamentos   revisados ",
            "clarification_deadline": f"{earlier.astimezone(MEXICO_CITY):%Y-%m-%dT%H:%M}",
            "clave": kept,
        },
        follow_redirects=False,
    )
    assert edited.status_code == 303
    assert "Se guardaron los cambios del borrador" in client.get(edited.headers["location"]).text
    tender = fresh(world, tender)
    assert tender.title == "Medicamentos revisados"
    assert tender.clarification_deadline == earlier
    assert [(p.number, p.clave.clave) for p in tender.partidas] == [(1, kept[0]), (2, kept[1])]
    (entry,) = world.entries(tender, "tender.edit")
    assert not entry.public

    foreign = client.post(
        f"{buyer_page(tender)}/borrador",
        data={"version": str(tender.version), "title": "x", "clave": ["999.999.9999.99"]},
    )
    assert foreign.status_code == 422
    assert "Clave que esta licitación no puede incluir" in foreign.text

    service.publish_tender(world.buyer(), tender_id=tender.id)
    late = client.patch(
        f"/api/v1/tenders/{tender.id}", json={"title": "Otro título después de publicar"}
    )
    assert late.status_code == 409
    assert "se cambia con una modificación publicada" in late.json()["detail"]


def test_a_bid_with_incomplete_lines_is_sealed_only_once_the_supplier_confirms(
    client: TestClient, world: World
) -> None:
    tender = world.tender()
    template = service.bid_template(world.buyer(), tender_id=tender.id)[1]
    incomplete = fill_template(
        template,
        {1: "12.50", 2: "3.10"},
        cells={(2, COL_MANUFACTURER): "", (2, COL_COUNTRY): ""},
    )
    log_in(client, PARTIES["a"].username)

    warned = upload(client, tender, incomplete, submission="k1")

    assert warned[0] == 422
    assert "La proposición no se selló: 1 partida sin registro sanitario" in warned[2]
    assert "Partida 2: sin fabricante del bien ni país de origen" in warned[2]
    assert "<td>Fabricante del bien, País de origen</td>" in warned[2]
    assert "manufacturer" not in warned[2]
    world.db.expire_all()
    assert world.db.scalars(select(Bid)).all() == []

    status, location, _ = upload(client, tender, incomplete, submission="k2", incompleta="true")
    receipt = client.get(location)

    assert status == 303
    assert "1 partida sellada sin datos completos" in receipt.text
    assert "Partida 2: sin fabricante del bien ni país de origen" in receipt.text
    assert "(2 partidas)" in receipt.text
