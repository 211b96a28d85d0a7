"""Identity's pages: institutions, suppliers with their standing, self-registration, list import."""

from __future__ import annotations

import io
import re

from fastapi.testclient import TestClient

from abasto.core.context import Context
from abasto.identity import service
from tests.conftest import PASSWORD, make_user
from tests.identity.test_sanctions import HEADER, _csv, _with
from tests.identity.test_service import (
    CLEAN_RFC,
    SANCTIONED_NAME,
    SANCTIONED_RFC,
    real_list,
    register_imss,
    register_sanctioned,
    sanction_rows,
    small_list,
)


def log_in(client: TestClient, username: str) -> None:
    response = client.post(
        "/entrar", data={"username": username, "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 303


def text_of(html: str) -> str:
    """The page's text with tags removed and spaces collapsed, to read it as a person would."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_institutions_page_counts_units_by_kind(client: TestClient, ctx: Context) -> None:
    register_imss(ctx)

    page = text_of(client.get("/instituciones").text)

    assert "IMSS Instituto Mexicano del Seguro Social seguridad social" in page
    assert "2 OOAD · 1 UMAE · 1 almacén 4" in page


def test_institution_page_groups_units_with_state_names(client: TestClient, ctx: Context) -> None:
    register_imss(ctx)

    response = client.get("/instituciones/imss")

    assert response.status_code == 200
    page = text_of(response.text)
    assert "Instituto Mexicano del Seguro Social" in page
    assert "OOAD (2)" in page
    assert "IMSS-OOAD-14 OOAD Jalisco Jalisco" in page
    assert "Almacenes (1)" in page
    assert "IMSS-ALM Almacén central Ciudad de México" in page
    assert "También aparece como I.M.S.S." in page
    assert client.get("/instituciones/NOEXISTE").status_code == 404


def test_a_sanctioned_supplier_shows_the_sanction(client: TestClient, ctx: Context) -> None:
    register_sanctioned(ctx)
    service.register_supplier(ctx, rfc=CLEAN_RFC, razon_social="Farmacéutica de Prueba SA de CV")
    service.import_sanctions(ctx, content=real_list(), filename="sancionados.csv")

    listing = text_of(client.get("/proveedores").text)
    detail = client.get(f"/proveedores/{SANCTIONED_RFC}")

    assert f"{CLEAN_RFC} Farmacéutica de Prueba SA de CV — Elegible" in listing
    assert f"{SANCTIONED_RFC} {SANCTIONED_NAME} Ciudad de México No elegible 1 sanción" in listing
    assert detail.status_code == 200
    page = text_of(detail.text)
    assert "No elegible" in page
    assert "Aparece en la lista de proveedores y contratistas sancionados" in page
    for fact in (
        "SANCIONATORIA CON MULTA",
        "Dependencia INSTITUTO MEXICANO DEL SEGURO SOCIAL",
        "Expediente 0041/2013",
        "Fecha de resolución 06/08/2014",
        "Fecha de notificación 19/08/2014",
        "Multa $90,664.00",
        "«3R INNOVACIÓN Y DISEÑO, S.A. DE C.V.» (fila 2 de la lista)",
    ):
        assert fact in page, fact
    clean = text_of(client.get(f"/proveedores/{CLEAN_RFC}").text)
    assert "Elegible" in clean
    assert "No elegible" not in clean


def test_an_unreadable_notification_date_is_stored_and_shown_as_published(
    client: TestClient, ctx: Context
) -> None:
    register_sanctioned(ctx)
    row = _with(supplier="3R INNOVACIÓN Y DISEÑO, S.A. DE C.V.", notified="2006-Ju-30")

    summary = service.import_sanctions(ctx, content=_csv([HEADER, row]), filename="s.csv")

    [note] = summary.notes
    assert "se conserva el texto publicado" in note.message
    [sanction] = service.supplier_sanctions(ctx.db, service.get_supplier(ctx.db, SANCTIONED_RFC))
    assert (sanction.notified_on, sanction.notified_text) == (None, "2006-Ju-30")
    page = text_of(client.get(f"/proveedores/{SANCTIONED_RFC}").text)
    assert "Fecha de notificación «2006-Ju-30» (como se publicó; no es una fecha legible)" in page
    listed = client.get("/api/v1/sanctions", params={"q": "3R"}).json()["items"]
    assert [(s["notified_on"], s["notified_text"]) for s in listed] == [(None, "2006-Ju-30")]


def test_supplier_search_answers_htmx_with_the_results_only(
    client: TestClient, ctx: Context
) -> None:
    register_sanctioned(ctx)
    service.register_supplier(ctx, rfc=CLEAN_RFC, razon_social="Farmacéutica de Prueba SA de CV")

    fragment = client.get("/proveedores", params={"q": "farmaceutica"}, headers={"HX-Request": "1"})

    assert "<html" not in fragment.text
    assert CLEAN_RFC in fragment.text
    assert SANCTIONED_RFC not in fragment.text
    assert "1 proveedor coincide con «farmaceutica»" in text_of(fragment.text)


def test_registration_form_shows_every_problem_next_to_its_field(client: TestClient) -> None:
    response = client.post(
        "/proveedores/registro",
        data={
            "rfc": "FAB011317K30",
            "razon_social": "",
            "state": "",
            "full_name": "Ana",
            "username": "ana.proveedora",
            "password": "corta",
        },
    )

    assert response.status_code == 422
    page = text_of(response.text)
    assert "Corrija los 3 problemas señalados" in page
    assert "La fecha «011317» no existe en el calendario." in page
    assert "La razón social está vacía." in page
    assert "La contraseña es demasiado corta: tiene 5 caracteres." in page
    assert 'aria-describedby="error-rfc"' in response.text
    assert 'value="FAB011317K30"' in response.text
    assert 'value="ana.proveedora"' in response.text
    assert client.get("/api/v1/suppliers").json()["total"] == 0


def test_registration_signs_the_new_supplier_in(client: TestClient) -> None:
    response = client.post(
        "/proveedores/registro",
        data={
            "rfc": CLEAN_RFC,
            "razon_social": "Farmacéutica de Prueba, S.A. de C.V.",
            "state": "14",
            "full_name": "Ana Proveedora",
            "username": "ana.proveedora",
            "password": PASSWORD,
        },
        follow_redirects=False,
    )

    assert response.status_code == 303
    assert response.headers["location"] == f"/proveedores/{CLEAN_RFC}?registrado=1"
    page = text_of(client.get(response.headers["location"]).text)
    assert "Su empresa quedó registrada" in page
    assert "Entidad federativa Jalisco" in page
    assert "ana.proveedora Proveedor" in page


def test_the_buyer_imports_the_list_from_the_page(client: TestClient, ctx: Context) -> None:
    service.register_supplier(ctx, rfc=CLEAN_RFC, razon_social="Única SA")
    make_user(ctx, "compras", "comprador")
    log_in(client, "compras")
    assert "Importar lista de sancionados" in client.get("/proveedores").text

    form = client.get("/sancionados/importar")
    imported = client.post(
        "/sancionados/importar",
        files={"file": ("sancionados.csv", io.BytesIO(small_list("ÚNICA, S.A.")), "text/csv")},
    )

    assert form.status_code == 200
    assert imported.status_code == 200
    page = text_of(imported.text)
    assert "«sancionados.csv»: 1 registro leído (1 nombre de empresa)" in page
    assert f"{CLEAN_RFC} Única SA 1 Nuevo" in page


def test_a_bad_list_from_the_page_lists_the_problems_and_writes_nothing(
    client: TestClient, ctx: Context
) -> None:
    make_user(ctx, "compras", "comprador")
    log_in(client, "compras")
    client.post(
        "/sancionados/importar",
        files={"file": ("uno.csv", io.BytesIO(small_list("ÚNICA, S.A.")), "text/csv")},
    )
    bad = _csv([HEADER, _with(resolved="ayer"), _with(amount="MIL PESOS")])

    response = client.post(
        "/sancionados/importar", files={"file": ("dos.csv", io.BytesIO(bad), "text/csv")}
    )

    assert response.status_code == 422
    page = text_of(response.text)
    assert "No se importó nada" in page
    assert "Problemas (2)" in page
    assert "FechadeResolucion" in page
    assert "MIL PESOS" in page
    assert sanction_rows(ctx.db) == 1


def test_the_import_page_is_the_buyers(client: TestClient, ctx: Context) -> None:
    make_user(ctx, "ana", "auditor")
    assert client.get("/sancionados/importar").status_code == 401
    log_in(client, "ana")
    assert client.get("/sancionados/importar").status_code == 403


# ----- the buyer's review and sign-in throttling (issue 14) ----------------------------------


def test_the_buyer_verifies_a_registration_from_the_review_page(
    client: TestClient, ctx: Context
) -> None:
    service.register_supplier_account(
        ctx,
        rfc=CLEAN_RFC,
        razon_social="Farmacéutica de Prueba, S.A. de C.V.",
        state_code=None,
        username="ana.proveedora",
        full_name="Ana Proveedora",
        password=PASSWORD,
    )
    pending_page = text_of(client.get(f"/proveedores/{CLEAN_RFC}").text)
    assert "Registro pendiente de verificación" in pending_page
    make_user(ctx, "compras", "comprador")
    log_in(client, "compras")

    page = text_of(client.get("/comprador/proveedores").text)
    assert "Registros pendientes de verificación (1)" in page
    for document in ("Constancia de Situación Fiscal", "Acta constitutiva", "Representante legal"):
        assert document in page
    incomplete = client.post(
        f"/comprador/proveedores/{CLEAN_RFC}/verificar", data={"tax_certificate": "19010123456"}
    )
    assert incomplete.status_code == 422
    assert "Falta: Acta constitutiva." in text_of(incomplete.text)
    done = client.post(
        f"/comprador/proveedores/{CLEAN_RFC}/verificar",
        data={
            "tax_certificate": "19010123456",
            "articles_of_incorporation": "Escritura 12,345, Notaría 10 de la CDMX",
            "representative": "Ana Proveedora",
        },
    )

    assert done.status_code == 200
    assert "quedó verificado y ya puede participar" in text_of(done.text)
    assert "Registros pendientes de verificación (0)" in text_of(done.text)
    ctx.db.expire_all()  # the request wrote through its own session: read the row again
    assert service.get_supplier_standing(ctx.db, CLEAN_RFC).eligible


def test_the_buyer_approves_a_rename_from_the_review_page(client: TestClient, ctx: Context) -> None:
    service.register_supplier(ctx, rfc=CLEAN_RFC, razon_social="Única SA")
    make_user(ctx, "ana", "proveedor", supplier=CLEAN_RFC)
    make_user(ctx, "compras", "comprador")
    log_in(client, "ana")
    client.patch(
        f"/api/v1/suppliers/{CLEAN_RFC}", json={"razon_social": "Única Dos SA", "version": 1}
    )
    assert "pendiente de aprobación: «Única Dos SA»" in text_of(
        client.get(f"/proveedores/{CLEAN_RFC}").text
    )
    client.post("/salir")
    log_in(client, "compras")
    [rename] = service.pending_renames(ctx.db)

    assert "Única SA Única Dos SA" in text_of(client.get("/comprador/proveedores").text)
    done = client.post(f"/comprador/cambios-de-nombre/{rename.id}/aprobar")

    assert done.status_code == 200
    assert "se llama ahora «Única Dos SA»" in text_of(done.text)
    supplier_page = text_of(client.get(f"/proveedores/{CLEAN_RFC}").text)
    assert "Nombres anteriores Única SA" in supplier_page


def test_the_login_page_answers_429_after_five_failures(client: TestClient, ctx: Context) -> None:
    make_user(ctx, "ana.lopez", "comprador")
    for _ in range(5):
        wrong = client.post(
            "/entrar", data={"username": "ana.lopez", "password": "mala-contrasena"}
        )
        assert wrong.status_code == 401

    blocked = client.post("/entrar", data={"username": "ana.lopez", "password": PASSWORD})

    assert blocked.status_code == 429
    assert blocked.headers["retry-after"] == "900"
    assert "Demasiados intentos fallidos" in text_of(blocked.text)
