"""Pages name a field by its label, never by the name the code uses; the API keeps the names."""

from __future__ import annotations

from fastapi.testclient import TestClient

from abasto.core.context import Context
from abasto.core.errors import Problem
from abasto.web import fields
from tests.catalog.test_pages import log_in
from tests.conftest import bearer, make_user


def test_a_field_and_a_member_of_a_list_read_as_their_labels() -> None:
    assert fields.field_label("bid_deadline") == "Cierre de recepción de proposiciones"
    assert (
        fields.field_label("lines[2].unit_price") == "Partidas de la proposición 3, Precio Unitario"
    )
    assert fields.for_page(Problem("x", field="min_share")).where == (
        "campo «Mínimo, como porcentaje del máximo»"
    )


def test_the_new_tender_page_names_a_bad_date_by_its_label(
    client: TestClient, ctx: Context
) -> None:
    make_user(ctx, "comprador", "comprador")
    log_in(client, "comprador")

    page = client.post(
        "/licitaciones/nueva",
        data={"title": "Analgésicos", "procedure": "licitacion_nacional", "bid_deadline": "mañana"},
    )

    assert page.status_code == 422
    assert "<td>Cierre de recepción de proposiciones</td>" in page.text
    assert "<td>bid_deadline</td>" not in page.text
    assert "<td>fallo_at</td>" not in page.text


def test_a_forms_refused_field_is_named_by_its_label_on_the_page_and_by_name_in_the_api(
    client: TestClient, ctx: Context
) -> None:
    make_user(ctx, "comprador", "comprador")
    api = client.post(
        "/api/v1/demand/rounds",
        json={"name": "x" * 61, "periods": ["2029"]},
        headers=bearer(client, "comprador"),
    )
    log_in(client, "comprador")

    page = client.post("/demanda", data={"name": "x" * 201, "periods": "2029"})
    listed = client.get("/demanda/2027/IMSS", params={"page": "0"})

    assert page.status_code == 422
    assert "campo «Nombre»:</strong>" in page.text
    assert "campo «name»" not in page.text
    assert listed.status_code == 422
    assert "campo «Página»:</strong>" in listed.text
    assert "query.page" not in listed.text
    assert api.status_code == 422
    assert api.json()["errors"][0]["field"] == "name"
