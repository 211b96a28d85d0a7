"""/banderas in Chromium: the awarded tender of the award's browser test, its flags computed and
committed, then the page loads, counts them, and its indicator filter narrows the list."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from abasto.core.context import Context, operator
from abasto.core.db import make_engine, session_factory, transaction
from abasto.transparency.redflags import service
from tests.award import test_browser as award_browser
from tests.award.test_browser import Served
from tests.conftest import T0, served

awarded = award_browser.awarded
cheap_passwords = award_browser.cheap_passwords

pytestmark = pytest.mark.browser


def test_the_flags_page_loads_and_its_filter_works(
    awarded: Served, browser: Browser, tmp_path: Path
) -> None:
    engine = make_engine(awarded.url)
    with transaction(session_factory(engine)) as db:
        counts = service.refresh(Context(db=db, actor=operator("pruebas"), now=T0))
    engine.dispose()
    code = max(counts, key=lambda c: counts[c])
    others = sum(counts.values()) - counts[code]
    assert others > 0, counts  # the filter must have something to leave out

    with served(awarded.url, tmp_path) as base:
        page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
        page.goto(f"{base}/banderas")
        expect(page.get_by_role("heading", level=1)).to_have_text("Banderas rojas")
        expect(page.locator("li.redflag")).to_have_count(min(sum(counts.values()), 50))

        page.select_option("select[name=indicador]", code)
        page.get_by_role("button", name="Filtrar").click()
        page.wait_for_url(f"**/banderas?indicador={code}*")
        items = page.locator("li.redflag")
        expect(items).to_have_count(min(counts[code], 50))
        assert set(items.evaluate_all("els => els.map(e => e.dataset.code)")) == {code}
        expect(page.locator("select[name=indicador]")).to_have_value(code)
        page.close()
