"""The award pages: the fallo and its search, contract drafts, evaluation, prices, issuing.

``award_tender`` builds a tender through the services as it happens for real: a demand round of
IMSS and ISSSTE over five claves of three groups, bids of four suppliers, the opening, market
prices, the evaluator's verdicts (the proposal confirmed) and the fallo.
"""

from __future__ import annotations

import io
import json
import re
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from abasto.award import model as award_model
from abasto.award import pages
from abasto.award import rules as award_rules
from abasto.award import service as award
from abasto.award.models import Fallo, PriceObservation, TechnicalEvaluation
from abasto.catalog import service as catalog
from abasto.core import ledger
from abasto.core.ledger import LedgerEntry
from abasto.demand import service as demand
from abasto.identity import service as identity
from abasto.tendering import service
from abasto.tendering.models import Tender
from tests.catalog.test_pages import log_in
from tests.tendering import conftest as tendering_fixtures
from tests.tendering.conftest import (
    ASPIRINA,
    CLAVES,
    NICOTINA,
    PARACETAMOL,
    PARTIES,
    World,
    line,
    plan_for,
)

world = tendering_fixtures.world
cheap_passwords = tendering_fixtures.cheap_passwords

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TORUNDA, PETRI = "060.066.0021", "080.148.0104"
MORE_CLAVES = {
    TORUNDA: "Algodón. Torunda de algodón. Bolsa con 500 piezas.",
    PETRI: "Cajas de Petri de plástico, estériles, desechables.",
}
ROUND = "2027-2028"
INSTITUTIONS = {
    "IMSS": "Instituto Mexicano del Seguro Social",
    "ISSSTE": "Instituto de Seguridad y Servicios Sociales de los Trabajadores del Estado",
}
# clave → institution → (minimum, maximum); the partidas are numbered in clave order.
DEMAND = {
    PARACETAMOL: {"IMSS": (100, 150), "ISSSTE": (50, 100)},
    ASPIRINA: {"IMSS": (40, 60), "ISSSTE": (20, 30)},
    NICOTINA: {"IMSS": (10, 20), "ISSSTE": (5, 10)},
    TORUNDA: {"IMSS": (200, 300), "ISSSTE": (100, 200)},
    PETRI: {"IMSS": (10, 20)},
}
NUMBERS = {NICOTINA: 1, ASPIRINA: 2, PARACETAMOL: 3, TORUNDA: 4, PETRI: 5}
REFERENCES = {
    PARACETAMOL: "12.00",
    ASPIRINA: "3.50",
    NICOTINA: "40.00",
    TORUNDA: "8.00",
    PETRI: "900.00",
}
# Each supplier offers the whole demand of its partidas. «d» declares no registro sanitario, so
# its line does not comply; «b»'s nicotina is more than 10 % above the reference.
BIDS = {
    "a": {PARACETAMOL: "11.50", ASPIRINA: "3.10", TORUNDA: "7.00"},
    "b": {PARACETAMOL: "11.75", NICOTINA: "45.00"},
    "c": {PARACETAMOL: "13.00", TORUNDA: "7.50", PETRI: "850.00"},
    "d": {ASPIRINA: "2.90"},
}
# The lowest price per partida: a takes 3 (250 × 11.50), 2 (90 × 3.10) and 4 (500 × 7.00), c
# takes 5 (20 × 850.00), and 1 is desierta.
TOTAL = Decimal("23654.00")
REFERENCE_TOTAL = Decimal("25315.00")
GROUP_SAVINGS = {"010": Decimal("161.00"), "060": Decimal("500.00"), "080": Decimal("1000.00")}


@dataclass(frozen=True)
class Awarded:
    tender: Tender
    bids: dict[str, str]
    """supplier key → bid id."""


def prices_csv(references: dict[str, str] = REFERENCES) -> bytes:
    return (
        "Clave,Precio unitario\n" + "".join(f"{c},{p}\n" for c, p in references.items())
    ).encode()


def award_tender(
    world: World,
    *,
    evaluate: bool = True,
    prices: bool = True,
    mode: award_rules.Mode | None = award_rules.Mode.LOWEST,
    desierta: str | None = None,
) -> Awarded:
    """The tender of the module docstring, as far as asked; ``desierta`` is a clave the buyer
    declares desierta before the bids (nobody bids on it then)."""
    ctx = world.buyer()
    catalog.import_catalog(
        ctx,
        content=(
            "Clave,Descripción\n"
            + "".join(f'{c},"{d}"\n' for c, d in {**CLAVES, **MORE_CLAVES}.items())
        ).encode(),
        filename="catalogo.csv",
    )
    for code, name in INSTITUTIONS.items():
        identity.register_institution(ctx, code=code, name=name, kind="seguridad social")
    demand.open_round(ctx, name=ROUND, periods=["2027", "2028"], institutions=list(INSTITUTIONS))
    for clave, members in DEMAND.items():
        for code, (low, high) in members.items():
            demand.set_line(
                ctx,
                round_name=ROUND,
                institution_code=code,
                clave=clave,
                min_qty=low,
                max_qty=high,
                version=None,
            )
    demand.freeze_round(ctx, name=ROUND)
    tender = service.create_tender(
        ctx,
        world.sealer,
        title="Compra consolidada de medicamentos y material de curación",
        procedure="licitacion_nacional",
        round_name=ROUND,
        **plan_for("licitacion_nacional", world.now).as_kwargs(),
    )
    service.publish_tender(world.buyer(), tender_id=tender.id)
    if desierta is not None:
        service.declare_desierta(
            world.buyer(),
            tender_id=tender.id,
            partida=NUMBERS[desierta],
            reason="El único fabricante retiró su registro sanitario.",
        )
    maxima = {p.clave.clave: p.max_qty for p in service.partidas_of(world.db, tender.id)}
    bids = {}
    for key, offer in BIDS.items():
        world.clock.advance(timedelta(minutes=1))
        bids[key] = service.submit_bid(
            world.as_supplier(key),
            world.sealer,
            tender_id=tender.id,
            lines=[
                line(
                    NUMBERS[clave],
                    price,
                    maxima[clave],
                    registro_sanitario=None if key == "d" else "123M2015 SSA",
                )
                for clave, price in offer.items()
                if clave != desierta
            ],
        ).bid_id
    world.clock.set(tender.opening_at)
    world.open_now(tender)
    if prices:
        award.import_prices(world.buyer(), content=prices_csv(), filename="precios.csv")
    if evaluate:
        award.record_evaluations(
            world.buyer(), tender_id=tender.id, verdicts=award.propose_verdicts(world.db, tender.id)
        )
    if mode is not None:
        award.issue_fallo(world.buyer(), tender_id=tender.id, mode=mode)
    # The requests run in sessions of their own: they see what this one has flushed.
    world.db.flush()
    return Awarded(tender, bids)


def fallo_url(tender: Tender, suffix: str = "") -> str:
    return f"/licitaciones/{tender.id}/fallo{suffix}"


def evaluation_url(tender: Tender) -> str:
    return f"/evaluacion/licitaciones/{tender.id}"


def partidas_shown(html: str) -> list[int]:
    """The partida numbers of the fallo's result rows, in the order shown."""
    return [
        int(n) for n in re.findall(r'<tbody class="fallo-partida[^"]*" id="partida-(\d+)"', html)
    ]


def section_of(html: str, marker: str, end: str = "</tbody>") -> str:
    start = html.index(marker)
    return html[start : html.index(end, start)]


# ----- the fallo -----------------------------------------------------------------------------


def test_the_fallo_page_shows_totals_winners_reasons_and_desiertas(
    client: TestClient, world: World
) -> None:
    done = award_tender(world)

    page = client.get(fallo_url(done.tender))

    assert page.status_code == 200
    html = page.text
    assert f"<title>Fallo de {done.tender.number} · Abasto</title>" in html
    assert 'data-total="23654.00">$23,654.00<' in html
    assert 'data-savings="1661.00">$1,661.00<' in html
    assert "6.56 % de $25,315.00 a precios de referencia" in html
    assert "línea base $23,654.00: el mismo monto" in html
    assert "<dt>Modo</dt><dd>Precio más bajo por partida</dd>" in html
    assert "<dt>Porcentajes del abastecimiento simultáneo</dt><dd>60 % / 40 %</dd>" in html
    fallo = world.db.scalar(select(Fallo).where(Fallo.tender_id == done.tender.id))
    assert fallo is not None
    assert f"entrada nº {fallo.ledger_seq}</a>" in html
    assert partidas_shown(html) == [1, 2, 3, 4, 5]
    # Partida 3 (paracetamol): a wins the whole demand, b and c were solvent but dearer.
    paracetamol = section_of(html, 'id="partida-3"')
    assert PARTIES["a"].name in paracetamol
    assert "250 × $11.50 = <strong>$2,875.00</strong>" in paracetamol
    assert "$125.00" in paracetamol  # (12.00 − 11.50) × 250
    assert "250 de 250" in paracetamol
    assert paracetamol.count("Solvente, no adjudicada") == 2 * 2  # badge and reason, b and c
    # Partida 2 (aspirina): d's line had no registro sanitario.
    aspirina = section_of(html, 'id="partida-2"')
    assert f'<li data-bid="{done.bids["d"]}"><span class="badge outcome outcome-no_cumple">' in (
        aspirina
    )
    assert "No cumple técnicamente" in aspirina
    assert "Registro sanitario vigente: no: registro sanitario declarado" in aspirina
    # Partida 1 (nicotina) is desierta, with the reason and the numbers behind it.
    nicotina = section_of(html, 'id="partida-1"')
    assert '<span class="badge fallo-status fallo-desierta">Desierta</span>' in nicotina
    assert "ninguna de sus 1 proposiciones es solvente (precio no aceptable: 1)" in nicotina
    assert "precio no aceptable: $45.00 excede en más de 10 % el precio de referencia" in nicotina
    desiertas = section_of(html, 'id="desiertas-titulo"', "</table>")
    assert '<tr data-partida="1"><td class="num">1</td>' in desiertas
    assert f'<a href="/catalogo/{NICOTINA}">{NICOTINA}</a></td><td>Desierta</td>' in desiertas
    assert '<td class="num">30</td>' in desiertas
    for link in ("/fallo/documento", "/fallo.pdf", "/contratos"):
        assert f'href="/licitaciones/{done.tender.id}{link}"' in html


def test_the_savings_chart_has_a_bar_per_group_of_claves(client: TestClient, world: World) -> None:
    done = award_tender(world)

    html = client.get(fallo_url(done.tender)).text

    bars = re.findall(r'<rect class="bar" data-group="(\d+)" data-savings="([\d.-]+)"', html)
    assert [(g, Decimal(s)) for g, s in bars] == list(GROUP_SAVINGS.items())
    assert '<text class="bar-label" x="0" y="15">010 · Medicamentos</text>' in html
    assert ">060 · Material de curación</text>" in html
    # The amount follows its bar: the largest spans the width but the room for «$1,000.00».
    assert '<text class="bar-amount" x="288.6" y="119">$1,000.00</text>' in html
    # The largest saving spans the width left of the room for amounts; the others in proportion.
    widths = dict(
        re.findall(
            r'data-group="(\d+)" data-savings="[\d.]+"\s+x="[\d.]+" y="\d+" width="([\d.]+)"', html
        )
    )
    assert widths == {"010": "45.66", "060": "141.8", "080": "283.6"}


def test_search_filters_sorts_and_pages_the_partidas(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = award_tender(world)
    url = fallo_url(done.tender)

    def shown(**params: str) -> list[int]:
        response = client.get(url, params=params)
        assert response.status_code == 200
        return partidas_shown(response.text)

    assert shown(q="torunda") == [4]
    assert shown(q="Xochionix") == [3, 4, 5]  # every partida supplier c bid on
    assert shown(q=PARTIES["d"].rfc) == [2]
    assert shown(q="4") == [4]
    assert shown(q="010.000.01") == [2, 3]
    assert shown(q="precio no aceptable") == [1]
    assert shown(q="ningún resultado posible") == []
    assert shown(estado="desierta") == [1]
    assert shown(estado="adjudicada", q="010.") == [2, 3]
    assert shown(orden="ahorro") == [5, 4, 3, 2, 1]
    assert shown(orden="ahorro", sentido="asc") == [1, 2, 3, 4, 5]
    assert shown(orden="total") == [5, 4, 3, 2, 1]
    assert shown(orden="clave") == [1, 2, 3, 4, 5]
    assert shown(orden="partida", sentido="desc") == [5, 4, 3, 2, 1]
    assert shown(orden="nada", estado="nada") == [1, 2, 3, 4, 5]
    empty = client.get(url, params={"q": "ningún resultado posible"}).text
    assert "Ninguna partida coincide con «ningún resultado posible»." in empty

    # Sorting links keep the search and flip the direction of the current column.
    sorted_page = client.get(url, params={"q": "010.", "orden": "ahorro"}).text
    assert '<th class="num" aria-sort="descending">' in sorted_page
    assert f'href="{url}?q=010.&amp;orden=ahorro&amp;sentido=asc#partidas-titulo"' in sorted_page
    assert f'href="{url}?q=010.&amp;orden=clave&amp;sentido=asc#partidas-titulo"' in sorted_page

    # htmx asks for the results alone.
    fragment = client.get(url, params={"q": "torunda"}, headers={"HX-Request": "true"})
    assert "<html" not in fragment.text
    assert partidas_shown(fragment.text) == [4]
    assert fragment.headers["vary"] == "HX-Request"

    monkeypatch.setattr(pages, "PARTIDAS_PER_PAGE", 2)
    second = client.get(url, params={"orden": "ahorro", "page": "2"}).text
    assert partidas_shown(second) == [3, 2]
    assert "Página 2 de 3" in second
    assert f'href="{url}?orden=ahorro#partidas-titulo"' in second
    assert f'href="{url}?orden=ahorro&amp;page=3#partidas-titulo"' in second
    assert partidas_shown(client.get(url, params={"page": "99"}).text) == [5]


def test_before_the_fallo_its_pages_say_when_it_is_due(client: TestClient, world: World) -> None:
    done = award_tender(world, mode=None)
    draft = world.tender(publish=False)

    answers = [
        client.get(fallo_url(done.tender, suffix)) for suffix in ("", "/documento", ".pdf")
    ] + [client.get(f"/licitaciones/{done.tender.id}/contratos")]
    hidden = client.get(fallo_url(draft))
    missing = client.get("/licitaciones/999999/fallo")

    for answer in answers:
        assert answer.status_code == 404
        assert "Esta licitación aún no tiene fallo" in answer.text
        assert "Proposiciones abiertas" in answer.text
        assert "19/11/2026 11:00" in answer.text  # the fallo date of its calendar
    assert "Evaluación técnica</a>" not in answers[0].text  # the public is not an evaluator
    assert hidden.status_code == 404
    assert "Esta licitación aún no tiene fallo" not in hidden.text
    assert missing.status_code == 404


def test_the_tender_page_links_to_the_fallo_and_staff_to_the_evaluation(
    client: TestClient, world: World
) -> None:
    awarded = award_tender(world)
    tender = awarded.tender

    public = client.get(f"/licitaciones/{tender.id}").text
    log_in(client, "evaluador")
    evaluator = client.get(f"/licitaciones/{tender.id}").text

    assert f'<a class="button" href="/licitaciones/{tender.id}/fallo">Fallo</a>' in public
    assert f'href="/licitaciones/{tender.id}/fallo.pdf">Fallo (PDF)</a>' in public
    assert f'href="/licitaciones/{tender.id}/contratos">Proyectos de contrato</a>' in public
    assert "/evaluacion/licitaciones/" not in public
    assert f'href="/evaluacion/licitaciones/{tender.id}">Evaluación técnica</a>' in evaluator


def test_the_document_has_every_winner_and_every_bid_line(client: TestClient, world: World) -> None:
    done = award_tender(world)

    page = client.get(fallo_url(done.tender, "/documento"))

    assert page.status_code == 200
    html = page.text
    assert '<article class="fallo-doc">' in html
    assert "<dt>Ahorro contra la referencia</dt><dd>$1,661.00 (6.56 %)</dd>" in html
    assert "<dt>Partidas</dt><dd>4 adjudicadas, 0 parciales, 1 desiertas</dd>" in html
    outcomes = section_of(html, '<table class="fallo-outcomes">', "</table>")
    assert outcomes.count("<tr data-partida=") == 9  # every opened bid line
    assert f'data-bid="{done.bids["b"]}"' in outcomes
    assert "precio no aceptable: $45.00 excede" in outcomes
    winners = section_of(html, '<table class="fallo-winners">', "</table>")
    assert '<td class="num">$850.00</td><td class="num">$17,000.00</td>' in winners
    assert '<td class="muted" colspan="6">ninguna de sus 1 proposiciones es solvente' in winners


def test_contract_drafts_per_institution_and_supplier(client: TestClient, world: World) -> None:
    done = award_tender(world)
    url = f"/licitaciones/{done.tender.id}/contratos"

    page = client.get(url)
    searched = client.get(url, params={"q": "issste"})

    assert page.status_code == 200
    html = page.text
    found = re.findall(r'data-institution="(\w+)" data-supplier="(\w+)"', html)
    assert found == [
        ("IMSS", PARTIES["c"].rfc),
        ("IMSS", PARTIES["a"].rfc),
        ("ISSSTE", PARTIES["a"].rfc),
    ]
    # ISSSTE asked 100 of the 250 paracetamol, 30 of the 90 aspirina and 200 of the 500 torundas.
    issste = section_of(html, 'data-institution="ISSSTE"', "</section>")
    assert '<td class="num" data-label="Máximo">100</td>' in issste
    assert '<td class="num" data-label="Precio unitario">$11.50</td>' in issste
    assert '<td class="num" data-label="Importe máximo">$1,150.00</td>' in issste
    # 100 × 11.50 + 30 × 3.10 + 200 × 7.00
    assert "<strong>$2,643.00</strong></td></tr></tfoot>" in issste
    assert "3 contratos" in html
    assert re.findall(r'data-institution="(\w+)"', searched.text) == ["ISSSTE"]


# ----- the technical evaluation --------------------------------------------------------------


def test_the_evaluation_page_shows_each_role_what_it_may_do(
    client: TestClient, world: World
) -> None:
    done = award_tender(world, evaluate=False, mode=None)
    url = evaluation_url(done.tender)

    anonymous = client.get(url)
    log_in(client, PARTIES["a"].username)
    supplier = client.get(url)
    answers = {}
    for username in ("evaluador", "comprador", "auditor"):
        client.cookies.clear()
        log_in(client, username)
        answers[username] = client.get(url)

    assert anonymous.status_code == 401
    assert supplier.status_code == 403
    for answer in answers.values():
        assert answer.status_code == 200
        assert "0 de 9</strong> líneas de proposición" in answer.text
        assert f'href="/api/v1/tenders/{done.tender.id}/evaluations/template.xlsx"' in answer.text
        # What the opened data suggests: d declared no registro sanitario.
        d_line = section_of(answer.text, f'data-bid="{done.bids["d"]}"', "</article>")
        assert "no: registro sanitario declarado" in d_line
    evaluator, buyer, auditor = (
        answers["evaluador"].text,
        answers["comprador"].text,
        answers["auditor"].text,
    )
    assert evaluator.count('<form class="verdict-form"') == 9 * 4
    assert f'action="/evaluacion/licitaciones/{done.tender.id}/hoja"' in evaluator
    assert "Emitir el fallo" not in evaluator
    assert '<form class="verdict-form"' not in buyer
    assert f'action="/comprador/licitaciones/{done.tender.id}/fallo"' in buyer
    assert "Faltan 9 líneas por evaluar" in buyer
    assert '<form class="verdict-form"' not in auditor
    assert "Emitir el fallo" not in auditor
    assert "/hoja" not in auditor


def test_the_evaluator_records_one_verdict_and_bad_ones_change_nothing(
    client: TestClient, world: World
) -> None:
    done = award_tender(world, evaluate=False, mode=None)
    url = evaluation_url(done.tender)
    log_in(client, "evaluador")
    bid = done.bids["d"]

    recorded = client.post(
        f"{url}/veredictos",
        data={
            "bid_id": bid,
            "partida": "2",
            "requirement": "registro_sanitario",
            "complies": "no",
            "reason": "No presentó el registro sanitario.",
            "q": "acetilsalicilico",
            "page": "1",
        },
        follow_redirects=False,
    )
    head = ledger.head(world.db)
    refused = client.post(
        f"{url}/veredictos",
        data={
            "bid_id": bid,
            "partida": "2",
            "requirement": "color",
            "complies": "si",
            "reason": "",
        },
    )
    no_answer = client.post(
        f"{url}/veredictos",
        data={"bid_id": bid, "partida": "dos", "requirement": "fabricante", "reason": "bien"},
    )

    assert recorded.status_code == 303
    assert recorded.headers["location"] == f"{url}?q=acetilsalicilico&hecho=veredicto#linea-{bid}-2"
    page = client.get(recorded.headers["location"]).text
    assert "Se registró el veredicto." in page
    line = section_of(page, f'id="linea-{bid}-2"', "</article>")
    assert (
        '<span class="badge bad">No cumple</span> <span class="small">No presentó el registro'
        in (line)
    )
    assert "evaluador" in line
    assert refused.status_code == 422
    assert "Requisito desconocido" in refused.text
    assert "Falta el motivo" in refused.text
    assert no_answer.status_code == 422
    assert "Número de partida no válido" in no_answer.text
    assert "Indique si cumple" in no_answer.text
    assert ledger.head(world.db) == head
    stored = world.db.scalars(select(TechnicalEvaluation.requirement)).all()
    assert stored == ["registro_sanitario"]


def sheet_rows(content: bytes) -> list[list[object]]:
    workbook = openpyxl.load_workbook(io.BytesIO(content))
    sheet = workbook.active
    assert sheet is not None
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def workbook_of(rows: list[list[object]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_the_evaluator_uploads_the_filled_sheet_all_or_nothing(
    client: TestClient, world: World
) -> None:
    done = award_tender(world, evaluate=False, mode=None)
    url = evaluation_url(done.tender)
    log_in(client, "evaluador")
    template = client.get(f"/api/v1/tenders/{done.tender.id}/evaluations/template.xlsx")
    assert template.status_code == 200
    rows = sheet_rows(template.content)
    assert rows[0] == list(award.SHEET_HEADER)
    cumple, motivo, partida = (rows[0].index(n) for n in ("Cumple", "Motivo", "Partida"))
    # The evaluator fills every row, here with what the proposal column suggests.
    filled = [list(rows[0])]
    for row in rows[1:]:
        answer, _, reason = str(row[rows[0].index("Propuesta")]).partition(": ")
        assert (row[cumple], row[motivo]) == (None, None)
        filled.append([*row[:cumple], answer, reason, *row[motivo + 1 :]])
    bad = [list(r) for r in filled]
    bad[3][cumple] = "Quizás"
    bad[5][partida] = "cinco"

    refused = client.post(
        f"{url}/hoja", files={"file": ("evaluacion.xlsx", workbook_of(bad), XLSX)}
    )
    nothing = client.post(f"{url}/hoja", files={"file": ("", b"", XLSX)})
    headers_only = client.post(
        f"{url}/hoja", files={"file": ("vacia.xlsx", workbook_of(rows[:1]), XLSX)}
    )
    as_downloaded = client.post(
        f"{url}/hoja", files={"file": ("plantilla.xlsx", template.content, XLSX)}
    )
    accepted = client.post(
        f"{url}/hoja",
        files={"file": ("evaluacion.xlsx", workbook_of(filled), XLSX)},
        follow_redirects=False,
    )

    assert refused.status_code == 422
    assert "2 problemas; no se registró ninguna evaluación" in refused.text
    assert "respuesta no válida" in refused.text
    assert "partida no válida" in refused.text
    assert '<td class="num">4</td>' in refused.text  # the spreadsheet row of «Quizás»
    assert nothing.status_code == 422
    assert "Elija la hoja de evaluación." in nothing.text
    assert headers_only.status_code == 422
    assert "«vacia.xlsx» no tiene ningún veredicto" in headers_only.text
    assert as_downloaded.status_code == 422
    assert "«plantilla.xlsx» no tiene ningún veredicto" in as_downloaded.text
    assert accepted.status_code == 303
    assert accepted.headers["location"] == f"{url}?registrados=36"
    page = client.get(accepted.headers["location"]).text
    assert "Se registraron 36 veredictos de la hoja de evaluación." in page
    assert "9 de 9</strong> líneas de proposición" in page
    count = world.db.scalar(select(func.count()).select_from(TechnicalEvaluation))
    assert count == 36
    failing = client.get(url, params={"estado": "no_cumplen"}).text
    assert re.findall(r'<article class="eval-line[^"]*" id="linea-(\w+)-(\d+)"', failing) == [
        (done.bids["d"], "2")
    ]


def test_a_sheet_that_changes_a_recorded_no_asks_to_confirm_each_change(
    client: TestClient, world: World
) -> None:
    done = award_tender(world, evaluate=False, mode=None)
    url = evaluation_url(done.tender)
    log_in(client, "evaluador")
    bid = done.bids["d"]
    recorded = client.post(
        f"{url}/veredictos",
        data={"bid_id": bid, "partida": "2", "requirement": "registro_sanitario",
              "complies": "no", "reason": "No presentó el registro sanitario."},
        follow_redirects=False,
    )  # fmt: skip
    assert recorded.status_code == 303
    rows = sheet_rows(
        client.get(f"/api/v1/tenders/{done.tender.id}/evaluations/template.xlsx").content
    )
    header = rows[0]
    key = [header.index(n) for n in ("Proposición", "Partida", "Requisito")]
    cumple, motivo = header.index("Cumple"), header.index("Motivo")
    turned = [list(r) for r in rows]
    for number, row in enumerate(turned[1:], start=2):
        if [row[i] for i in key] == [bid, 2, "registro_sanitario"]:
            assert (row[cumple], row[motivo]) == ("No", "No presentó el registro sanitario.")
            row[cumple], row[motivo] = "Sí", "Sí lo presentó, en otra carpeta."
            turned_row = number
    sheet = workbook_of(turned)
    head = ledger.head(world.db)

    asked = client.post(f"{url}/hoja", files={"file": ("evaluacion.xlsx", sheet, XLSX)})

    assert asked.status_code == 409
    assert ledger.head(world.db) == head
    assert "La hoja cambia 1 veredicto ya registrado" in asked.text
    change = section_of(asked.text, f'<tr data-bid="{bid}" data-partida="2"', "</tr>")
    assert f'<td class="num">{turned_row}</td>' in change
    assert 'No cumple</span> <span class="small">No presentó el registro sanitario.' in change
    assert 'Cumple</span> <span class="small">Sí lo presentó, en otra carpeta.' in change
    digest = re.findall(r'name="confirmar" value="(\w+)"', asked.text)
    assert len(digest) == 1
    stale = client.post(
        f"{url}/hoja",
        data={"confirmar": "0" * 64},
        files={"file": ("evaluacion.xlsx", sheet, XLSX)},
    )
    assert stale.status_code == 409
    assert "ya no son los que se confirmaron" in stale.text
    assert ledger.head(world.db) == head

    confirmed = client.post(
        f"{url}/hoja",
        data={"confirmar": digest[0]},
        files={"file": ("evaluacion.xlsx", sheet, XLSX)},
        follow_redirects=False,
    )

    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == f"{url}?registrados=0&cambiados=1"
    assert (
        "Se cambiaron 1 veredictos ya registrados" in client.get(confirmed.headers["location"]).text
    )
    complies = world.db.scalar(
        select(TechnicalEvaluation.complies).where(
            TechnicalEvaluation.bid_id == bid,
            TechnicalEvaluation.requirement == "registro_sanitario",
        )
    )
    assert complies is True
    entries = [
        e.data()
        for e in world.db.scalars(
            select(LedgerEntry).where(LedgerEntry.action == "evaluation.change")
        )
    ]
    assert [(e["bid"], e["before"]["complies"], e["after"]["complies"]) for e in entries] == [
        (bid, False, True)
    ]


def test_the_buyer_previews_every_mode_and_issues_the_fallo_after_confirming(
    client: TestClient, world: World
) -> None:
    done = award_tender(world, mode=None)
    log_in(client, "comprador")
    action = f"/comprador/licitaciones/{done.tender.id}/fallo"
    manage = client.get(f"/comprador/licitaciones/{done.tender.id}").text
    assert 'id="fallo-modos"' in section_of(manage, 'id="fallo"', "</form>")

    preview = client.get(action, params={"modo": "split"})
    unknown = client.post(action, data={"mode": "sorteo", "confirmar": "si"})
    unconfirmed = client.post(action, data={"mode": "split"})
    assert world.db.scalar(select(func.count()).select_from(Fallo)) == 0
    issued = client.post(action, data={"mode": "split", "confirmar": "si"}, follow_redirects=False)
    again = client.post(action, data={"mode": "lowest", "confirmar": "si"})

    assert preview.status_code == 200
    for mode in ("lowest", "split", "optimal"):
        assert f'data-mode="{mode}"' in preview.text
    assert 'data-mode="split" class="chosen"' in preview.text
    # The split's detail: each allocation explained, the confirmation asked for.
    detail = section_of(preview.text, 'id="detalle"', "</section>")
    assert "Participación de cada proveedor" in detail
    assert re.search(r">\d+(\.\d{1,2})? %</td>", detail)  # a readable percentage
    assert "Adjudicadas 150 piezas: precio más bajo" in detail
    assert "abastecimiento simultáneo: lugar 2" in detail
    assert 'name="confirmar" value="si" required' in preview.text
    assert 'name="mode" value="split"' in preview.text
    assert unknown.status_code == 422
    assert "Modo de adjudicación desconocido" in unknown.text
    assert unconfirmed.status_code == 422
    assert "falta la confirmación" in unconfirmed.text
    assert issued.status_code == 303
    assert issued.headers["location"] == f"/licitaciones/{done.tender.id}/fallo?emitido=1"
    page = client.get(issued.headers["location"]).text
    assert "Se emitió el fallo y quedó publicado en la bitácora" in page
    assert "<dt>Modo</dt><dd>Abastecimiento simultáneo</dd>" in page
    # Paracetamol within 10 % of the lowest: a 60 % (150), b 40 % (100), each explained.
    paracetamol = section_of(page, 'id="partida-3"')
    assert "150 × $11.50" in paracetamol
    assert "100 × $11.75" in paracetamol
    assert "Adjudicadas 100 piezas: abastecimiento simultáneo: lugar 2" in paracetamol
    assert "Adjudicadas 150 piezas: precio más bajo; su lugar del reparto: 60 %." in paracetamol
    document = client.get(f"/licitaciones/{done.tender.id}/fallo/documento").text
    assert "Adjudicadas 100 piezas: abastecimiento simultáneo: lugar 2" in document
    assert again.status_code == 409
    assert "ya tiene fallo" in again.text
    assert "Ver el fallo" in again.text
    assert '<button type="submit" disabled' in again.text


def test_the_previewed_awards_are_the_ones_issued_and_a_changed_verdict_solves_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = award_tender(world, mode=None)
    monkeypatch.setattr(award, "_solved", OrderedDict())
    solves: list[award_rules.Mode] = []
    solve = award_model.award

    def counted(
        instance: award_rules.Instance, mode: award_rules.Mode, **options: Any
    ) -> award_rules.AwardResult:
        solves.append(mode)
        return solve(instance, mode, **options)

    monkeypatch.setattr(award_model, "award", counted)

    first = award.preview_fallo(world.db, done.tender.id)
    award.preview_fallo(world.db, done.tender.id)  # the buyer reloads, or shows another mode
    assert sorted(solves) == sorted(award_rules.Mode)
    verdicts = award.propose_verdicts(world.db, done.tender.id)
    flipped = replace(verdicts[0], complies=not verdicts[0].complies, reason="Corregido")
    award.record_evaluations(
        world.buyer(), tender_id=done.tender.id, verdicts=[flipped], confirm=True
    )
    world.db.flush()
    changed = award.preview_fallo(world.db, done.tender.id)
    fallo = award.issue_fallo(world.buyer(), tender_id=done.tender.id, mode=award_rules.Mode.SPLIT)

    assert len(solves) == 2 * len(award_rules.Mode)  # the change solved every mode once more
    assert changed.modes != first.modes
    assert fallo.total == changed.modes[award_rules.Mode.SPLIT].result.objective


def test_the_fallo_is_refused_while_evaluations_or_prices_are_missing(
    client: TestClient, world: World
) -> None:
    done = award_tender(world, evaluate=False, prices=False, mode=None)
    log_in(client, "comprador")
    page = client.get(evaluation_url(done.tender)).text
    action = f"/comprador/licitaciones/{done.tender.id}/fallo"
    unevaluated = client.get(action).text

    refused = client.post(action, data={"mode": "optimal", "confirmar": "si"})

    assert "5 partidas sin precio de referencia" in page
    assert '<a href="/precios/importar">Importar precios</a>' in page
    assert refused.status_code == 409
    assert "Faltan evaluaciones técnicas" in refused.text
    assert world.db.scalar(select(func.count()).select_from(Fallo)) == 0
    # The preview says why the button is disabled; with prices missing, where to import them.
    assert "Faltan evaluaciones técnicas" in section_of(
        unevaluated, 'id="motivo-bloqueo"', "</section>"
    )
    assert '<button type="submit" disabled' in unevaluated
    award.record_evaluations(
        world.buyer(),
        tender_id=done.tender.id,
        verdicts=award.propose_verdicts(world.db, done.tender.id),
    )
    world.db.flush()
    unpriced = client.get(action).text
    assert "sin precio de referencia" in section_of(unpriced, 'id="motivo-bloqueo"', "</section>")
    assert '<a class="button" href="/precios/importar">' in unpriced
    assert '<button type="submit" disabled' in unpriced


# ----- market research -----------------------------------------------------------------------


def test_the_buyer_imports_prices_and_sees_the_summary_or_every_problem(
    client: TestClient, world: World
) -> None:
    log_in(client, "comprador")
    form = client.get("/precios/importar")
    ocds = json.dumps(
        {
            "releases": [
                {
                    "ocid": "ocds-abc-001",
                    "date": "2025-03-01T00:00:00Z",
                    "awards": [
                        {
                            "id": "1",
                            "items": [
                                {
                                    "id": "1",
                                    "classification": {"scheme": "CPV", "id": "33600000"},
                                    "unit": {"value": {"amount": 0.70, "currency": "USD"}},
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    ).encode()

    listed = client.post(
        "/precios/importar",
        files={
            "file": (
                "precios.csv",
                prices_csv({PARACETAMOL: "12.00", ASPIRINA: "3.40"}),
                "text/csv",
            )
        },
    )
    from_ocds = client.post(
        "/precios/importar",
        files={"file": ("otro-publicador.json", ocds, "application/json")},
        data={"rates": "USD=18.50\n\n", "mapping": f"CPV:33600000={PARACETAMOL}"},
    )
    before = world.db.scalar(select(func.count()).select_from(PriceObservation))
    bad_rate = client.post(
        "/precios/importar",
        files={"file": ("otro-publicador.json", ocds, "application/json")},
        data={"rates": "USD=diez", "mapping": "esto no"},
    )
    unknown = client.post(
        "/precios/importar",
        files={"file": ("precios.csv", prices_csv({"010.000.9999.00": "1.00"}), "text/csv")},
    )

    assert form.status_code == 200
    assert '<textarea name="rates"' in form.text
    assert listed.status_code == 200
    assert "Precios importados" in listed.text
    assert 'data-prices="2">2 precios</strong>' in listed.text
    assert from_ocds.status_code == 200
    assert "(datos OCDS)" in from_ocds.text
    assert "1 entrega leída" in from_ocds.text
    assert bad_rate.status_code == 422
    assert "No se importó nada" in bad_rate.text
    assert "USD=diez" in bad_rate.text
    assert "USD=diez</textarea>" in bad_rate.text  # what was typed stays in the form
    assert unknown.status_code == 422
    assert "010.000.9999.00" in unknown.text
    assert world.db.scalar(select(func.count()).select_from(PriceObservation)) == before == 3
    ocds_price = world.db.scalar(
        select(PriceObservation.unit_price).where(PriceObservation.source_kind == "ocds")
    )
    assert ocds_price == Decimal("12.95")  # 0.70 × 18.50


def test_only_buyers_import_prices(client: TestClient, world: World) -> None:
    anonymous = client.get("/precios/importar")
    log_in(client, "evaluador")
    evaluator = client.post(
        "/precios/importar", files={"file": ("precios.csv", prices_csv(), "text/csv")}
    )

    assert anonymous.status_code == 401
    assert evaluator.status_code == 403
    assert world.db.scalar(select(func.count()).select_from(PriceObservation)) == 0
