"""The catalog's pages: search (whole page or htmx fragment), a clave's page, the import form."""

from __future__ import annotations

from fastapi.testclient import TestClient

from abasto.catalog import service
from abasto.core.context import Context
from abasto.identity import service as identity
from tests.catalog.test_service import catalog_csv, homologation_csv, import_small_catalog
from tests.conftest import PASSWORD, make_user


def log_in(client: TestClient, username: str) -> None:
    response = client.post(
        "/entrar", data={"username": username, "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 303


def test_search_page_shows_the_matching_claves(client: TestClient, ctx: Context) -> None:
    import_small_catalog(ctx)

    response = client.get("/catalogo", params={"q": "acido acetilsalicilico"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<title>Catálogo · Abasto</title>" in response.text
    assert 'href="/catalogo/010.000.0101.00"' in response.text
    assert "Ácido acetilsalicílico" in response.text
    assert "<strong>1</strong> clave coincide con «acido acetilsalicilico»" in response.text
    assert "Paracetamol" not in response.text
    assert 'value="acido acetilsalicilico"' in response.text


def test_htmx_gets_only_the_results_fragment(client: TestClient, ctx: Context) -> None:
    import_small_catalog(ctx)

    fragment = client.get("/catalogo", params={"q": "0104"}, headers={"HX-Request": "true"})
    restore = client.get(
        "/catalogo",
        params={"q": "0104"},
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )

    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert '<table class="claves">' in fragment.text
    assert fragment.text.count('<td class="clave">') == 3
    assert "HX-Request" in fragment.headers["vary"]
    assert "<html" in restore.text


def test_empty_search_shows_the_total_and_pages(client: TestClient, ctx: Context) -> None:
    rows = [
        (f"060.066.{n:04d}", f"Gasa número {n}. Sobre con 10 piezas.", "Sobre", "")
        for n in range(1, 31)
    ]
    service.import_catalog(ctx, content=catalog_csv(rows), filename="gasas.csv")

    first = client.get("/catalogo")
    second = client.get("/catalogo", params={"page": 2})

    assert "<strong>30</strong> claves en el catálogo" in first.text
    assert "Página 1 de 2" in first.text
    assert 'href="/catalogo?q=&amp;page=2"' in first.text
    assert "060.066.0030" in second.text
    assert 'href="/catalogo/060.066.0001"' not in second.text
    assert "16 %" in second.text


def test_no_match_says_what_to_try(client: TestClient, ctx: Context) -> None:
    import_small_catalog(ctx)

    response = client.get("/catalogo", params={"q": "ibuprofeno"})

    assert "Ninguna clave coincide con «ibuprofeno»" in response.text


def test_the_search_hints_name_a_clave_this_catalog_has(client: TestClient, ctx: Context) -> None:
    """The hints named 010.000.0104.00 on a catalog without it (the demo's): an example that
    finds nothing. They take the catalog's first clave of paracetamol, else its first clave."""
    rows = [
        (f"060.066.{n:04d}", f"Gasa número {n}. Sobre con 10 piezas.", "Sobre", "") for n in (7, 9)
    ]
    service.import_catalog(ctx, content=catalog_csv(rows), filename="gasas.csv")

    search = client.get("/catalogo")
    home = client.get("/")
    nothing = client.get("/catalogo", params={"q": "ibuprofeno"})
    found = client.get("/catalogo", params={"q": "0007"})

    assert 'placeholder="Clave o descripción, p. ej. 060.066.0007 o gasa"' in search.text
    assert '<span class="clave">060.066</span> o <span class="clave">0007</span>' in search.text
    assert "p. ej. 060.066.0007 o gasa" in home.text
    assert "0104" not in search.text + home.text
    assert '(p. ej. <span class="clave">0007</span>)' in nothing.text
    assert "<strong>1</strong> clave coincide" in found.text


def test_with_paracetamol_in_the_catalog_the_hints_use_it(client: TestClient, ctx: Context) -> None:
    import_small_catalog(ctx)

    search = client.get("/catalogo")

    assert "p. ej. 010.000.0104.00 o paracetamol" in search.text


def test_clave_page_shows_every_field_and_institution_codes(
    client: TestClient, ctx: Context
) -> None:
    import_small_catalog(ctx)
    identity.register_institution(
        ctx, code="IMSS", name="Instituto Mexicano del Seguro Social", kind="seguridad_social"
    )
    service.import_homologations(
        ctx,
        institution_code="IMSS",
        content=homologation_csv([("IMSS-1040", "010.000.0104.00")]),
        filename="imss.csv",
    )

    response = client.get("/catalogo/010.000.0104.00")

    assert response.status_code == 200
    text = response.text
    assert '<h1 class="clave">010.000.0104.00</h1>' in text
    assert "Paracetamol 500 mg. Envase con 10 tabletas." in text
    for fact in ("Medicamentos", "0 %", "25301574", "Envase", "02/11/2026", "versión 1"):
        assert fact in text
    assert "Instituto Mexicano del Seguro Social" in text
    assert "IMSS-1040" in text


def test_unknown_clave_page_is_a_spanish_404(client: TestClient, ctx: Context) -> None:
    import_small_catalog(ctx)

    response = client.get("/catalogo/010.000.0101.09")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "No existe la clave «010.000.0101.09» en el catálogo." in response.text
    assert "¿Quiso decir 010.000.0101.00?" in response.text


def test_import_page_is_for_buyers(client: TestClient, ctx: Context) -> None:
    make_user(ctx, "auditoria", "auditor")

    anonymous = client.get("/catalogo/importar")
    log_in(client, "auditoria")
    auditor = client.get("/catalogo/importar")

    assert anonymous.status_code == 401
    assert "Iniciar sesión" in anonymous.text
    assert auditor.status_code == 403


def test_buyer_imports_a_catalog_from_the_page(client: TestClient, ctx: Context) -> None:
    make_user(ctx, "compras", "comprador")
    log_in(client, "compras")

    form = client.get("/catalogo/importar")
    response = client.post(
        "/catalogo/importar", files={"file": ("catalogo.csv", catalog_csv(), "text/csv")}
    )

    assert form.status_code == 200
    assert 'enctype="multipart/form-data"' in form.text
    assert response.status_code == 200
    assert "5 nuevas" in response.text
    assert "0 actualizadas" in response.text
    assert "0 sin cambios" in response.text
    assert service.count_claves(ctx.db) == 5
    assert 'href="/catalogo/importar"' in client.get("/catalogo").text


def test_a_bad_file_on_the_page_lists_every_problem(client: TestClient, ctx: Context) -> None:
    make_user(ctx, "compras", "comprador")
    log_in(client, "compras")
    bad = catalog_csv(
        [
            ("010.000.0104", "Paracetamol sin variante", "Envase", ""),
            ("010.000.0107.00", "Con CUCoP de texto", "Envase", "ver nota"),
        ]
    )

    response = client.post("/catalogo/importar", files={"file": ("malo.csv", bad, "text/csv")})
    empty = client.post("/catalogo/importar", files={"file": ("", b"", "text/csv")})

    assert response.status_code == 422
    assert "No se importó nada" in response.text
    assert "Problemas (2)" in response.text
    assert "<code>010.000.0104</code>" in response.text
    assert "<code>ver nota</code>" in response.text
    assert "el número CUCoP, un entero como 25301574" in response.text
    assert service.count_claves(ctx.db) == 0
    assert empty.status_code == 422
    assert "Elija el archivo del catálogo." in empty.text
