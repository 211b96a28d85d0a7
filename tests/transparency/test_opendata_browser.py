"""The open data page in Chromium (issue 18, item 9): a new table found from the index, its
columns and keys, a link to the table a key names, a CSV downloaded with its BOM, and the data
package behind the page."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from abasto.transparency.opendata.tables import BY_NAME, TABLES
from tests.conftest import served
from tests.transparency.conftest import Committed

pytestmark = pytest.mark.browser


def test_a_new_table_its_keys_its_csv_and_the_package(
    committed_purchases: Committed, browser: Browser, tmp_path: Path
) -> None:
    with served(committed_purchases.url, tmp_path) as base:
        page = browser.new_page()
        page.goto(f"{base}/datos-abiertos")
        page.get_by_role("link", name=BY_NAME["supply_orders"].title, exact=True).click()
        section = page.locator("section#supply_orders")
        expect(section).to_be_in_viewport()
        section.get_by_text("Columnas (").click()
        columns = section.locator("table.opendata-columns tbody tr")
        expect(columns).to_have_count(len(BY_NAME["supply_orders"].columns))
        expect(columns.filter(has_text="order_id")).to_contain_text("primaria")
        section.locator("table.opendata-columns").get_by_role("link", name="units").first.click()
        expect(page.locator("section#units")).to_be_in_viewport()

        with page.expect_download() as download:
            page.locator("section#institutions").get_by_role("link", name="CSV").click()
        saved = Path(download.value.path())
        assert download.value.suggested_filename == "institutions.csv"
        content = saved.read_bytes()
        assert content.startswith(b"\xef\xbb\xbf")
        assert "Institución IMSS" in content.decode("utf-8-sig")

        package = page.request.get(f"{base}/datos-abiertos/datapackage.json").json()
        assert len(package["resources"]) == 2 * len(TABLES)
        page.get_by_role("link", name="datapackage.json").click()
        expect(page.locator("body")).to_contain_text("tabular-data-package")
