"""The fallo document: its data from the stored fallo, search and sort, the chart, the PDF."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from fastapi.testclient import TestClient

from abasto.award import fallo_doc
from abasto.award.fallo_doc import GroupSavings, LineOutcome, PartidaResult, Winner
from abasto.core.money import format_mxn
from abasto.tendering import acta
from tests.award.test_pages import (
    GROUP_SAVINGS,
    PETRI,
    REFERENCE_TOTAL,
    TOTAL,
    award_tender,
    cheap_passwords,
    world,
)
from tests.tendering.conftest import NICOTINA, PARTIES, World
from tests.tendering.test_acta import pdf_text

__all__ = ["cheap_passwords", "world"]  # fixtures of tests/tendering, used here

_TITLE = re.compile(rb"/Title (?:<(?i:feff)([0-9a-fA-F]*)>|\(((?:[^()\\]|\\.)*)\))")


def pdf_titles(content: bytes) -> list[str]:
    """Every /Title in the PDF, in order: fpdf2 writes ASCII ones as literal strings and the
    rest as UTF-16 hex (tests/tendering/test_acta.py's pdf_outline reads only the latter)."""
    return [
        bytes.fromhex(hexa.decode()).decode("utf-16-be") if hexa else literal.decode("latin-1")
        for hexa, literal in (m.groups(b"") for m in _TITLE.finditer(content))
    ]


def test_the_document_reads_the_stored_fallo(world: World) -> None:
    done = award_tender(world)

    doc = fallo_doc.build_fallo(world.buyer(), tender_id=done.tender.id)

    assert doc.number == done.tender.number
    assert (doc.total, doc.reference_total, doc.baseline_total) == (TOTAL, REFERENCE_TOTAL, TOTAL)
    assert doc.savings == Decimal("1661.00")
    assert doc.savings_rate == Decimal("0.0656")
    assert doc.baseline_difference == 0
    assert doc.mode_label == "Precio más bajo por partida"
    assert {g.code: g.savings for g in doc.groups} == GROUP_SAVINGS
    assert sum((g.savings for g in doc.groups), Decimal(0)) == doc.savings
    assert [p.status for p in doc.partidas] == [
        "desierta",
        "adjudicada",
        "adjudicada",
        "adjudicada",
        "adjudicada",
    ]
    paracetamol = doc.partidas[2]
    assert [(w.name, w.quantity, w.unit_price) for w in paracetamol.winners] == [
        (PARTIES["a"].name, 250, Decimal("11.50"))
    ]
    # Winners first, then the others by price.
    assert [(o.name, o.label) for o in paracetamol.outcomes] == [
        (PARTIES["a"].name, "Adjudicada"),
        (PARTIES["b"].name, "Solvente, no adjudicada"),
        (PARTIES["c"].name, "Solvente, no adjudicada"),
    ]
    assert paracetamol.outcomes[1].unit_price == Decimal("11.75")
    assert paracetamol.outcomes[1].offered == 250
    [desierta] = doc.desiertas
    assert (desierta.number, desierta.clave, desierta.quantity) == (1, NICOTINA, 30)
    assert desierta.reason.startswith("ninguna de sus 1 proposiciones es solvente")


def test_partidas_declared_desiertas_before_the_fallo_are_listed_for_a_new_procedure(
    world: World,
) -> None:
    done = award_tender(world, desierta=PETRI)

    doc = fallo_doc.build_fallo(world.buyer(), tender_id=done.tender.id)

    assert [p.number for p in doc.partidas] == [1, 2, 3, 4]
    assert [(d.number, d.status, d.quantity) for d in doc.desiertas] == [
        (1, "desierta", 30),
        (5, "declarada", 20),
    ]
    assert doc.desiertas[1].reason == "El único fabricante retiró su registro sanitario."
    assert doc.desiertas[1].status_label == "Declarada desierta antes del fallo"
    assert "080" not in {g.code for g in doc.groups}


def test_the_pdf_has_the_tender_number_every_section_and_whole_reasons(
    client: TestClient, world: World
) -> None:
    done = award_tender(world)

    response = client.get(f"/licitaciones/{done.tender.id}/fallo.pdf")
    doc = fallo_doc.build_fallo(world.buyer(), tender_id=done.tender.id)
    core = fallo_doc.fallo_pdf(doc, unicode=False)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert f'filename="{done.tender.number}-fallo.pdf"' in response.headers["content-disposition"]
    assert response.content.startswith(b"%PDF-")
    assert response.content.rstrip().endswith(b"%%EOF")
    titles = pdf_titles(response.content)
    assert titles.pop(titles.index(f"Fallo {done.tender.number}")) is not None  # the document's
    assert titles == [
        "Fallo",
        "Ahorro por grupo de claves",
        "Adjudicación por partida",
        "Partidas desiertas",
        "Resultado de cada proposición",
    ]
    if acta.unicode_font() is not None:
        assert b"/FontFile2" in response.content
    # PDF strings escape their parentheses.
    text = pdf_text(core).replace(b"\\(", b"(").replace(b"\\)", b")")
    assert core.startswith(b"%PDF-")
    assert f"Fallo de la licitación · {done.tender.number}".encode("latin-1") in text
    assert done.tender.number.encode() in text
    assert b"$23,654.00" in text
    assert "$1,661.00 (6.56 %)".encode("latin-1") in text
    assert "Precio más bajo por partida".encode("latin-1") in text
    assert "Material de curación".encode("latin-1") in text
    assert PARTIES["c"].name.encode("latin-1") in text
    # A bid id wider than its column is broken over two lines, never cut. Where it breaks
    # depends on the widths of its (random) hex digits: some break point must give both parts.
    bid = done.bids["b"]
    assert any(bid[:at].encode() in text and bid[at:].encode() in text for at in range(1, len(bid)))
    # A long reason wraps onto more lines instead of being cut short.
    assert b"precio no aceptable: $45.00 excede en" in text
    assert "(límite $44.00)".encode("latin-1") in text
    assert b"..." not in text


# ----- search, sort, the chart: pure ----------------------------------------------------------


def partida(
    number: int, clave: str, price: str, reference: str, quantity: int = 10
) -> PartidaResult:
    winner = Winner(
        "b1", "AAA010101AA1", "Proveedor Uno", quantity, Decimal(price), Decimal(reference)
    )
    outcome = LineOutcome(
        "b1",
        "AAA010101AA1",
        "Proveedor Uno",
        Decimal(price),
        quantity,
        "adjudicada",
        ("Adjudicadas.",),
        quantity,
    )
    return PartidaResult(
        number=number,
        clave=clave,
        description=f"Descripción de la clave {clave}",
        status="adjudicada",
        demand=quantity,
        awarded=quantity,
        reference_price=Decimal(reference),
        reason=None,
        winners=(winner,),
        outcomes=(outcome,),
        search_text=f"{clave} descripcion proveedor uno aaa010101aa1 b1",
    )


PARTIDAS = [
    partida(1, "010.000.0104.00", "10.00", "12.00"),  # saving 20, total 100
    partida(2, "060.066.0021", "5.00", "5.00"),  # saving 0, total 50
    partida(3, "010.000.0101.00", "22.00", "20.00"),  # saving −20, total 220
    partida(4, "080.148.0104", "1.00", "3.00"),  # saving 20, total 10
]


def numbers(page: fallo_doc.PartidaPage) -> list[int]:
    return [p.number for p in page.items]


def test_partidas_sort_by_every_key_ties_by_number() -> None:
    def order(key: str, descending: bool = False) -> list[int]:
        return numbers(fallo_doc.select_partidas(PARTIDAS, order=key, descending=descending))

    assert order("partida") == [1, 2, 3, 4]
    assert order("clave") == [3, 1, 2, 4]
    assert order("total", descending=True) == [3, 1, 2, 4]
    assert order("total") == [4, 2, 1, 3]
    # 1 and 4 save the same: the lower number first, in either direction.
    assert order("ahorro", descending=True) == [1, 4, 2, 3]
    assert order("ahorro") == [3, 2, 1, 4]


def test_a_search_is_a_partida_number_a_clave_prefix_or_words() -> None:
    def search(q: str) -> list[int]:
        return numbers(fallo_doc.select_partidas(PARTIDAS, q=q))

    assert search("3") == [3]
    assert search("0104") == [1, 4]  # no partida 104: a fragment of the text
    assert search("010.000") == [1, 3]
    assert search("010.000.0104.00") == [1]
    assert search("  PROVEEDOR   úno ") == [1, 2, 3, 4]
    assert search("proveedor dos") == []


def test_pages_are_clamped_to_the_results() -> None:
    found = fallo_doc.select_partidas(PARTIDAS, page=9, per_page=3)

    assert (found.page, found.pages, found.total, numbers(found)) == (2, 2, 4, [4])
    assert fallo_doc.select_partidas([], page=3).page == 1


def test_the_chart_scales_bars_and_puts_losses_left_of_zero() -> None:
    groups = [
        GroupSavings("010", "Medicamentos", 2, Decimal("100"), Decimal("90")),  # −10
        GroupSavings("060", "Material de curación", 1, Decimal("50"), Decimal("80")),  # 30
    ]

    chart = fallo_doc.savings_chart(groups)

    loss, gain = chart.bars
    # The bars leave room on the right for the longest amount, «-$10.00».
    room = fallo_doc.CHART_WIDTH - (7 * fallo_doc.CHART_CHAR + 8)
    assert chart.zero_x == round(room * 10 / 40, 2)
    assert (loss.negative, loss.x, loss.width) == (True, 0.0, chart.zero_x)
    assert (gain.negative, gain.x, gain.width) == (False, chart.zero_x, round(room * 30 / 40, 2))
    assert gain.amount_x == round(room + 5, 2)
    assert loss.amount_x == round(chart.zero_x + 5, 2)
    assert chart.height == 2 * fallo_doc.CHART_ROW
    assert fallo_doc.savings_chart([]).bars == ()
    nothing = fallo_doc.savings_chart([replace(groups[0], reference=Decimal("100"))])
    assert nothing.bars[0].width == 0


def test_national_amounts_keep_their_room_in_the_chart() -> None:
    groups = [
        GroupSavings("010", "Medicamentos", 3000, Decimal("900000000"), Decimal("1234567890.12")),
        GroupSavings("060", "Material de curación", 900, Decimal("1000"), Decimal("2000")),
    ]

    chart = fallo_doc.savings_chart(groups)

    for bar in chart.bars:
        amount = len(format_mxn(bar.group.savings)) * fallo_doc.CHART_CHAR
        assert bar.amount_x + amount <= chart.width
    assert chart.bars[0].width > 200


def test_parameters_read_as_a_person_reads_them() -> None:
    rows = dict(
        fallo_doc.parameter_rows(
            {
                "acceptable_margin": "0.10",
                "convenient_margin": "0.40",
                "split_margin": "0.05",
                "split_shares": ["50", "30", "20"],
                "max_supplier_share": "0.15",
                "min_suppliers_critical": 2,
            }
        )
    )

    assert rows["Precio no aceptable: más de"] == "10 % sobre el de referencia"
    assert rows["Margen del abastecimiento simultáneo"] == "5 %"
    assert rows["Porcentajes del abastecimiento simultáneo"] == "50 % / 30 % / 20 %"
    assert rows["Participación máxima de un proveedor"] == "15 %"
    assert rows["Proveedores mínimos en partidas críticas"] == "2"
    assert dict(fallo_doc.parameter_rows({}))["Participación máxima de un proveedor"] == (
        "sin límite"
    )


def test_the_generated_instant_is_the_request_clock(world: World) -> None:
    done = award_tender(world)
    ctx = replace(world.buyer(), now=datetime(2027, 1, 5, 18, 30, tzinfo=UTC))

    doc = fallo_doc.build_fallo(ctx, tender_id=done.tender.id)

    assert doc.generated_at == ctx.now
    assert b"05/01/2027 12:30:00" in pdf_text(fallo_doc.fallo_pdf(doc, unicode=False))
