"""The acta de apertura: refused before the opening, every bid checked, as a page and a PDF."""

from __future__ import annotations

import hashlib
import re
import zlib
from datetime import timedelta

from fastapi.testclient import TestClient

from abasto.tendering import acta, service
from abasto.tendering.models import Bid
from tests.tendering.conftest import PARTIDAS, PARTIES, World, plan_for


def pdf_outline(content: bytes) -> list[str]:
    """The titles of the PDF's bookmarks (fpdf2 writes them as UTF-16 hex strings)."""
    return [
        bytes.fromhex(match[1].decode()).decode("utf-16-be")
        for match in re.finditer(rb"/Title <(?i:feff)([0-9a-fA-F]*)>", content)
    ]


def pdf_pages(content: bytes) -> int:
    return len(re.findall(rb"/Type /Page\b(?!s)", content))


def pdf_text(content: bytes) -> bytes:
    """Every content stream, inflated: with the core fonts the text is there as Latin-1."""
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", content, re.DOTALL)
    found = []
    for stream in streams:
        try:
            found.append(zlib.decompress(stream))
        except zlib.error:
            continue
    return b"\n".join(found)


def section_of(html: str, bid_id: str) -> str:
    start = html.index('<section class="acta-bid')
    start = html.index(f'data-bid="{bid_id}"', start)
    return html[start : html.index("</section>", start)]


def test_the_acta_waits_for_the_opening(client: TestClient, world: World) -> None:
    tender = world.tender()
    draft = world.tender(publish=False)
    cancelled = world.tender()
    service.cancel_tender(
        world.buyer(), tender_id=cancelled.id, reason="La demanda se consolidará de nuevo."
    )

    early = client.get(f"/licitaciones/{tender.id}/acta")
    early_pdf = client.get(f"/licitaciones/{tender.id}/acta.pdf")
    hidden = client.get(f"/licitaciones/{draft.id}/acta")
    none = client.get(f"/licitaciones/{cancelled.id}/acta")

    assert early.status_code == 409
    assert "está fijada para el 18/11/2026 11:00:00 (hora del centro de México)" in early.text
    assert "el acta se publica cuando comienza" in early.text
    assert early_pdf.status_code == 409
    assert hidden.status_code == 404
    assert none.status_code == 409
    assert "fue cancelada antes de la apertura" in none.text


def test_the_acta_lists_every_bid_with_its_commitment_salt_check_and_lines(
    client: TestClient, world: World
) -> None:
    tender = world.tender()
    first = world.bid("a", tender, {1: "12.50", 2: "3.10"})
    second = world.bid("b", tender, {1: "11.75"}, manufacturer="Laboratorios del Bajío")
    world.clock.set(tender.opening_at)
    service.start_opening(world.buyer(), tender_id=tender.id)
    service.open_next_bid(world.buyer(), world.sealer, tender_id=tender.id)

    partial = client.get(f"/licitaciones/{tender.id}/acta")
    service.open_all(world.buyer(), world.sealer, tender_id=tender.id)
    page = client.get(f"/licitaciones/{tender.id}/acta")

    assert partial.status_code == 200
    assert "esta acta es parcial" in partial.text
    assert partial.text.count('<section class="acta-bid') == 1
    assert page.status_code == 200
    assert "esta acta es parcial" not in page.text
    assert "<strong>2 abiertas</strong> de 2" in page.text
    assert "SHA-256(sal ‖ contenido)" in page.text
    for receipt, key in ((first, "a"), (second, "b")):
        section = section_of(page.text, receipt.bid_id)
        assert PARTIES[key].name in section
        assert PARTIES[key].rfc in section
        assert receipt.commitment in section
        assert receipt.salt in section
        assert '<span class="badge check ok">Coincide</span>' in section
        assert "coincide con el compromiso publicado" in section
        assert "02/11/2026 10:00:00" in section  # received
        assert "18/11/2026 11:00:00" in section  # opened
    lines = section_of(page.text, first.bid_id)
    assert '<td class="clave">010.000.0104.00</td>' in lines
    assert '<td class="num">$12.50</td>' in lines
    assert '<td class="num">250</td>' in lines
    assert '<td class="num">$3,125.00</td>' in lines
    assert "123M2015 SSA" in lines
    assert "Laboratorios del Bajío" in section_of(page.text, second.bid_id)
    # The canonical content printed in the acta, with the salt, gives the commitment.
    canonical = re.search(r'<pre class="token">(.*?)</pre>', lines, re.DOTALL)
    assert canonical is not None
    content = canonical[1].replace("&#34;", '"').replace("&quot;", '"').replace("&amp;", "&")
    assert (
        hashlib.sha256(bytes.fromhex(first.salt) + content.encode()).hexdigest() == first.commitment
    )


def test_the_acta_pdf_has_a_bookmark_per_bid(client: TestClient, world: World) -> None:
    tender = world.tender()
    receipts = []
    for n, key in enumerate("abc"):
        world.clock.advance(timedelta(minutes=1))  # bids open in order of arrival
        receipts.append(world.bid(key, tender, {1: f"1{n}.50"}))
    world.clock.set(tender.opening_at)
    world.open_now(tender)

    response = client.get(f"/licitaciones/{tender.id}/acta.pdf")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert (
        f"{tender.number}-acta-de-apertura-definitiva.pdf"
        in response.headers["content-disposition"]
    )
    assert response.content.startswith(b"%PDF-")
    assert response.content.rstrip().endswith(b"%%EOF")
    outline = pdf_outline(response.content)
    for position, (receipt, key) in enumerate(zip(receipts, "abc", strict=True), start=1):
        assert f"Proposición {position} · {receipt.bid_id} · {PARTIES[key].name}" in outline
    assert pdf_pages(response.content) >= 1 + len(receipts)
    if acta.unicode_font() is not None:
        assert b"/FontFile2" in response.content  # the Unicode font is embedded


def test_a_tampered_bid_shows_no_coincide_in_the_acta(client: TestClient, world: World) -> None:
    tender = world.tender()
    altered = world.bid("a", tender, {1: "12.50"})
    recommitted = world.bid("b", tender, {1: "11.75"})
    honest = world.bid("c", tender, {1: "13.00"})
    # Someone with access to the database changes two sealed bids before the opening.
    cipher = world.db.get(Bid, altered.bid_id)
    assert cipher is not None
    cipher.ciphertext = cipher.ciphertext[:-1] + bytes([cipher.ciphertext[-1] ^ 1])
    stored = world.db.get(Bid, recommitted.bid_id)
    assert stored is not None
    stored.commitment = "0" * 64
    world.db.flush()
    world.clock.set(tender.opening_at)
    world.open_now(tender)

    page = client.get(f"/licitaciones/{tender.id}/acta")
    pdf = client.get(f"/licitaciones/{tender.id}/acta.pdf")
    live = client.get(f"/licitaciones/{tender.id}/apertura")

    assert page.status_code == 200
    assert "<strong>1 coincide</strong> con su compromiso publicado" in page.text
    assert "<strong>2 no coinciden</strong>" in page.text
    broken = section_of(page.text, altered.bid_id)
    assert '<span class="badge check bad">No coincide</span>' in broken
    assert "el contenido sellado fue alterado: no se pudo descifrar" in broken
    assert altered.commitment in broken
    assert "Licitante no identificado" in broken
    swapped = section_of(page.text, recommitted.bid_id)
    assert '<span class="badge check bad">No coincide</span>' in swapped
    assert "el compromiso guardado difiere del publicado en la bitácora" in swapped
    assert "Compromiso guardado" in swapped
    assert "0" * 64 in swapped
    assert '<span class="badge check ok">Coincide</span>' in section_of(page.text, honest.bid_id)
    assert pdf.status_code == 200
    assert len(pdf_outline(pdf.content)) == 3
    assert f'data-bid="{altered.bid_id}" class="opened-bid mismatch"' in live.text
    assert f'data-bid="{honest.bid_id}" class="opened-bid match"' in live.text


def test_the_pdf_draws_spanish_and_symbols_with_or_without_a_unicode_font(world: World) -> None:
    tender = service.create_tender(
        world.buyer(),
        world.sealer,
        title="Insumos — ‖ ≤ 5 °C, Ñandú, acción, Œuvre ő",
        procedure="licitacion_nacional",
        partidas=[service.PartidaInput(PARTIDAS[0][0], 100, 250)],
        **plan_for("licitacion_nacional", world.now).as_kwargs(),
    )
    service.publish_tender(world.buyer(), tender_id=tender.id)
    receipt = world.bid("b", tender, {1: "11.75"}, manufacturer="Fábrica — ≤ Łódź")
    world.clock.set(tender.opening_at)
    world.open_now(tender)
    found = acta.build_acta(world.buyer(), tender_id=tender.id)

    with_font = acta.acta_pdf(found)
    core = acta.acta_pdf(found, unicode=False)

    assert with_font.startswith(b"%PDF-")
    assert core.startswith(b"%PDF-")
    text = pdf_text(core)
    assert "Acta de apertura de proposiciones".encode("latin-1") in text
    assert "Insumos - || <= 5 °C, Ñandú, acción, OEuvre o".encode("latin-1") in text
    assert "Fábrica - <= Lódz".encode("latin-1") in text
    assert receipt.bid_id.encode() in text
    assert PARTIES["b"].name.encode("latin-1") in text


def test_plain_keeps_what_the_font_has_and_simplifies_the_rest() -> None:
    assert acta.plain("sal ‖ contenido — ≤ 3 «sí» ñ") == "sal || contenido - <= 3 «sí» ñ"
    assert acta.plain("Łódź ő …") == "Lódz o ..."
    assert acta.plain("‖ ≤", has=lambda code: True) == "‖ ≤"
    assert acta.plain("☃") == "?"
