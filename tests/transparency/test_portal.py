"""The portal: a clave's price history (API, chart, table), a supplier's and an institution's
record, and the tender list's filters."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from abasto.award.models import ContractDraft
from abasto.core.money import MEXICO_CITY
from abasto.identity.models import Institution
from abasto.tendering.models import Tender
from abasto.transparency.portal.chart import Scale, price_chart, ticks
from abasto.transparency.portal.service import PricePoint
from tests.tendering.conftest import ASPIRINA, PARACETAMOL, PARTIES
from tests.transparency.conftest import PARACETAMOL_SPLIT, Purchases


def expected_paracetamol(purchases: Purchases) -> list[tuple[object, ...]]:
    """(tender, supplier, institution, quantity, price, reference) of every awarded price."""
    first, second = purchases.first.tender.number, purchases.second.tender.number
    a, b = PARTIES["a"].rfc, PARTIES["b"].rfc
    return [
        *((first, a, code, qty, "9.50", "10.00") for code, qty in PARACETAMOL_SPLIT.items()),
        (second, b, None, 250, "9.60", "9.75"),
    ]


def test_the_price_history_api_gives_every_awarded_price(
    purchases: Purchases, client: TestClient
) -> None:
    response = client.get(f"/api/v1/claves/{PARACETAMOL}/price-history")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["clave"] == PARACETAMOL
    found = [
        (
            p["tender_number"],
            p["supplier_rfc"],
            p["institution_code"],
            p["quantity"],
            p["unit_price"],
            p["reference_price"],
        )
        for p in body["points"]
    ]
    assert found == expected_paracetamol(purchases)
    assert body["points"][0]["issued_at"] < body["points"][-1]["issued_at"]

    missing = client.get("/api/v1/claves/999.999.9999.99/price-history")
    assert missing.status_code == 404
    assert "No existe la clave" in missing.json()["detail"]


def test_the_clave_page_draws_the_prices_and_lists_them(
    purchases: Purchases, client: TestClient
) -> None:
    page = client.get(f"/catalogo/{PARACETAMOL}")
    assert page.status_code == 200
    html = page.text
    dots = re.findall(
        r'<circle class="price s\d" cx="[\d.]+" cy="[\d.]+" r="4.5"\s+data-tender="([^"]+)" '
        r'data-supplier="([^"]+)" data-institution="([^"]*)"\s+data-price="([^"]+)" '
        r'data-quantity="(\d+)"',
        html,
    )
    expected = [
        (tender, rfc, code or "", price, str(qty))
        for tender, rfc, code, qty, price, _ in expected_paracetamol(purchases)
    ]
    assert [(t, s, i, p, q) for t, s, i, p, q in dots] == expected
    references = re.findall(
        r'<line class="reference" data-tender="([^"]+)"[^>]*data-price="([^"]+)"', html
    )
    assert references == [
        (purchases.first.tender.number, "10.00"),
        (purchases.second.tender.number, "9.75"),
    ]
    rows = re.findall(
        r'<tr data-tender="([^"]+)" data-supplier="[^"]+" '
        r'data-institution="([^"]*)" data-price="([^"]+)">',
        html,
    )
    assert rows == [(t, i, p) for t, _, i, p, _ in expected]
    assert "$9.50" in html
    assert "-5 %" in html  # 9.50 against 10.00
    assert 'href="/api/v1/claves/010.000.0104.00/price-history"' in html


def point(day: int, price: str, reference: str | None = "10.00", rfc: str = "A") -> PricePoint:
    return PricePoint(
        tender_id=day,
        tender_number=f"T{day}",
        issued_at=datetime(2026, 1, day, tzinfo=UTC),
        partida_number=1,
        supplier_rfc=rfc,
        supplier_name=rfc,
        institution_code=None,
        institution_name=None,
        quantity=1,
        unit_price=Decimal(price),
        reference_price=Decimal(reference) if reference else None,
    )


def test_the_chart_scales_prices_and_dates_in_proportion() -> None:
    assert ticks(Decimal("10.40")) == [Decimal(0), Decimal(5), Decimal(10), Decimal(15)]
    assert ticks(Decimal("0.8")) == [
        Decimal(0),
        Decimal("0.2"),
        Decimal("0.4"),
        Decimal("0.6"),
        Decimal("0.8"),
    ]
    assert Scale(0, 10, 100, 0)(5) == 50
    assert Scale(3, 3, 0, 10)(3) == 5

    chart = price_chart([point(1, "5.00"), point(11, "10.00", rfc="B"), point(21, "15.00")])
    bottom, top = chart.bottom, chart.y_ticks[-1].at
    heights = [bottom - d.y for d in chart.dots]
    # Positions are rounded to 0.01 of the SVG's units.
    assert heights[1] == pytest.approx(2 * heights[0], abs=0.02)
    assert heights[2] == pytest.approx(3 * heights[0], abs=0.03)
    assert bottom - top == pytest.approx(heights[2], abs=0.01)  # 15 is the top tick
    xs = [d.x for d in chart.dots]
    assert xs[1] - xs[0] == pytest.approx(xs[2] - xs[1], abs=0.02)
    assert xs[0] < xs[1] < xs[2]
    assert [r.y for r in chart.references] == [chart.dots[1].y] * 3
    assert [(rfc, colour) for rfc, _, colour in chart.suppliers] == [("A", 0), ("B", 1)]
    assert all(chart.left <= d.x <= chart.width for d in chart.dots)
    assert price_chart([]).dots == ()


def test_the_supplier_page_and_summary_show_bids_wins_and_contracts(
    purchases: Purchases, client: TestClient
) -> None:
    a = PARTIES["a"].rfc
    summary = client.get(f"/api/v1/suppliers/{a}/summary").json()
    assert [b["tender_number"] for b in summary["bids"]] == [
        purchases.second.tender.number,
        purchases.first.tender.number,
    ]
    assert {(w["clave"], w["quantity"], w["unit_price"]) for w in summary["wins"]} == {
        (PARACETAMOL, 1_751, "9.50"),
        (ASPIRINA, 300, "19.00"),
    }
    assert Decimal(summary["awarded_amount"]) == Decimal("9.50") * 1_751 + Decimal("19.00") * 300
    assert summary["awarded_pieces"] == 2_051
    drafts = purchases.world.db.scalars(
        select(ContractDraft).where(ContractDraft.supplier_id == purchases.world.suppliers["a"].id)
    ).all()
    by_institution: dict[int, Decimal] = defaultdict(Decimal)
    for draft in drafts:
        by_institution[draft.institution_id] += draft.unit_price * draft.max_qty
    codes = dict(purchases.world.db.execute(select(Institution.id, Institution.code)).all())
    assert {c["institution_code"]: Decimal(c["max_amount"]) for c in summary["contracts"]} == {
        codes[i]: amount for i, amount in by_institution.items()
    }

    page = client.get(f"/proveedores/{a}").text
    assert (
        f'<tr data-tender="{purchases.first.tender.number}" data-partida="3" data-price="9.50">'
        in page
    )
    assert 'data-amount="22334.50"' in page
    assert "$22,334.50" in page

    # «c» has a sealed bid in the third tender: nothing shows it, in the page or the summary.
    c = PARTIES["c"].rfc
    sealed = purchases.sealed.number
    c_summary = client.get(f"/api/v1/suppliers/{c}/summary")
    assert [b["tender_number"] for b in c_summary.json()["bids"]] == [purchases.first.tender.number]
    assert sealed not in c_summary.text
    assert sealed not in client.get(f"/proveedores/{c}").text
    assert client.get("/api/v1/suppliers/XXX010101XX1/summary").status_code == 404


def test_the_institution_page_and_summary_show_demand_contracts_and_suppliers(
    purchases: Purchases, client: TestClient
) -> None:
    summary = client.get("/api/v1/institutions/IMSS/summary").json()
    assert [(d["tender_number"], d["partidas"], d["max_qty"]) for d in summary["demand"]] == [
        (purchases.first.tender.number, 3, 1_000 + 300 + 41)
    ]
    imss = purchases.world.db.scalar(select(Institution.id).where(Institution.code == "IMSS"))
    drafts = purchases.world.db.scalars(
        select(ContractDraft).where(ContractDraft.institution_id == imss)
    ).all()
    assert Decimal(summary["contracted_max"]) == sum(d.unit_price * d.max_qty for d in drafts)
    assert Decimal(summary["contracted_min"]) == sum(d.unit_price * d.min_qty for d in drafts)
    suppliers = [(s["rfc"], Decimal(s["max_amount"])) for s in summary["suppliers"]]
    rfcs = {s.id: s.rfc for s in purchases.world.suppliers.values()}
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for draft in drafts:
        expected[rfcs[draft.supplier_id]] += draft.unit_price * draft.max_qty
    assert dict(suppliers) == expected
    assert set(expected) == {PARTIES[k].rfc for k in ("a", "c", "d")}
    assert [amount for _, amount in suppliers] == sorted(expected.values(), reverse=True)

    page = client.get("/instituciones/IMSS").text
    assert f'<tr data-tender="{purchases.first.tender.number}">' in page
    assert f'data-amount="{summary["contracted_max"]}"' in page
    for rfc, amount in suppliers:
        assert f'<tr data-supplier="{rfc}" data-amount="{amount}">' in page
    assert purchases.sealed.number not in page
    assert client.get("/api/v1/institutions/NADA/summary").status_code == 404


def listed(client: TestClient, **params: str) -> list[str]:
    response = client.get("/licitaciones", params=params)
    assert response.status_code == 200
    return re.findall(r'<td class="clave"><a href="/licitaciones/\d+">([^<]+)</a>', response.text)


def local_day(tender: Tender, attribute: str, days: int = 0) -> str:
    instant: datetime = getattr(tender, attribute)
    return (instant.astimezone(MEXICO_CITY) + timedelta(days=days)).date().isoformat()


def test_the_tender_list_filters(purchases: Purchases, client: TestClient) -> None:
    first, second, sealed = purchases.first.tender, purchases.second.tender, purchases.sealed
    invitation = purchases.world.tender("invitacion")
    everything = [invitation.number, sealed.number, second.number, first.number]
    assert listed(client) == everything
    assert listed(client, institucion="IMSS") == [first.number]
    assert listed(client, institucion="SEDENA", estado="awarded") == [first.number]
    assert listed(client, procedimiento="invitacion") == [invitation.number]
    assert listed(client, estado="awarded") == [second.number, first.number]
    assert listed(client, publicada_desde=local_day(second, "published_at")) == everything[:3]
    assert listed(client, publicada_hasta=local_day(second, "published_at")) == everything[2:]
    assert listed(
        client,
        apertura_desde=local_day(second, "opening_at"),
        apertura_hasta=local_day(second, "opening_at"),
    ) == [second.number]
    assert listed(client, apertura_hasta=local_day(first, "opening_at", -1)) == []

    # A bad date is named, and only that filter is left out.
    response = client.get(
        "/licitaciones", params={"publicada_desde": "31/12/2026", "estado": "awarded"}
    )
    assert "La fecha «publicación desde» no es válida" in response.text
    assert "aaaa-mm-dd" in response.text
    assert listed(client, publicada_desde="31/12/2026", estado="awarded") == [
        second.number,
        first.number,
    ]
    backwards = client.get(
        "/licitaciones", params={"apertura_desde": "2027-02-01", "apertura_hasta": "2027-01-01"}
    )
    assert "termina antes de empezar" in backwards.text

    # htmx gets only the results; the form keeps what was chosen on a whole page.
    fragment = client.get(
        "/licitaciones", params={"institucion": "IMSS"}, headers={"HX-Request": "true"}
    )
    assert "<html" not in fragment.text
    assert first.number in fragment.text
    assert second.number not in fragment.text
    whole = client.get(
        "/licitaciones", params={"institucion": "IMSS", "procedimiento": "licitacion_nacional"}
    ).text
    assert '<option value="IMSS" selected>' in whole
    assert '<option value="licitacion_nacional" selected>' in whole


def api_listed(client: TestClient, **params: str) -> list[str]:
    response = client.get("/api/v1/tenders", params=params)
    assert response.status_code == 200, response.text
    return [item["number"] for item in response.json()["items"]]


def test_the_tender_api_takes_the_same_filters(purchases: Purchases, client: TestClient) -> None:
    first, second, sealed = purchases.first.tender, purchases.second.tender, purchases.sealed
    invitation = purchases.world.tender("invitacion")
    everything = [invitation.number, sealed.number, second.number, first.number]
    assert api_listed(client) == everything
    assert api_listed(client, institution="IMSS") == [first.number]
    assert api_listed(client, institution="SEDENA", status="awarded") == [first.number]
    assert api_listed(client, procedure="invitacion") == [invitation.number]
    day = local_day(second, "published_at")
    assert api_listed(client, published_from=day) == everything[:3]
    assert api_listed(client, published_to=day) == everything[2:]
    opening = local_day(second, "opening_at")
    assert api_listed(client, opening_from=opening, opening_to=opening) == [second.number]

    # Bad filters are refused, each named, rather than ignored.
    for params, field in (
        ({"published_from": "31/12/2026"}, "published_from"),
        ({"procedure": "subasta"}, "procedure"),
        ({"status": "ganada"}, "status"),
        ({"opening_from": "2027-02-01", "opening_to": "2027-01-01"}, "opening_to"),
    ):
        response = client.get("/api/v1/tenders", params=params)
        assert response.status_code == 422, params
        assert field in response.text
