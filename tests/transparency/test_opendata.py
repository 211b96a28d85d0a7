"""Open data: every public table as CSV and Parquet, equal to the database, nothing sealed in it,
exported all or nothing, and the download page."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from abasto.award.models import ContractDraft, FalloLine, PriceObservation
from abasto.catalog.models import Clave
from abasto.contracts.models import (
    Contract,
    ContractLine,
    Convenio,
    Penalty,
    Shipment,
    ShipmentLot,
    SupplyOrder,
)
from abasto.core.errors import ValidationFailed
from abasto.identity import service as identity
from abasto.identity.models import Institution, Supplier, Unit
from abasto.inventory import service as inventory
from abasto.inventory.models import DailyAbasto
from abasto.tendering.models import Amendment, BidLine, Partida, PartidaDemand, Question, Tender
from abasto.transparency.opendata import service
from abasto.transparency.opendata.tables import BY_NAME, TABLES
from abasto.transparency.redflags.models import RedFlag
from tests.conftest import run_abasto
from tests.tendering.conftest import PARACETAMOL, PARTIES
from tests.tendering.test_confidentiality import price_forms
from tests.transparency.conftest import (
    FIRST_AWARD,
    FIRST_REFERENCE,
    PARACETAMOL_SPLIT,
    SEALED_MAKER,
    SEALED_PRICES,
    SECOND_OFFERS,
    Purchases,
)
from tests.transparency.factories import after_the_fallo

# What each table counts, straight from the tables it reads.
SOURCES: dict[str, Any] = {
    "tenders": select(func.count()).select_from(Tender).where(Tender.status != "draft"),
    "partidas": select(func.count()).select_from(Partida),
    "partida_demands": select(func.count()).select_from(PartidaDemand),
    "questions": select(func.count()).select_from(Question),
    "tender_amendments": select(func.count()).select_from(Amendment),
    "bids": select(func.count()).select_from(BidLine),
    "awards": select(func.count()).select_from(FalloLine),
    "contract_drafts": select(func.count()).select_from(ContractDraft),
    "reference_prices": select(func.count()).select_from(PriceObservation),
    "claves": select(func.count()).select_from(Clave),
    "institutions": select(func.count()).select_from(Institution),
    "units": select(func.count()).select_from(Unit),
    "suppliers": select(func.count()).select_from(Supplier),
    "contracts": select(func.count()).select_from(Contract),
    "contract_lines": select(func.count()).select_from(ContractLine),
    "contract_amendments": select(func.count()).select_from(Convenio),
    "supply_orders": select(func.count()).select_from(SupplyOrder),
    "deliveries": select(func.count()).select_from(Shipment),
    "delivery_lots": select(func.count()).select_from(ShipmentLot),
    "receipts": select(func.count())
    .select_from(ShipmentLot)
    .where(ShipmentLot.accepted_qty.is_not(None)),
    "penalties": select(func.count()).select_from(Penalty),
    "red_flags": select(func.count()).select_from(RedFlag),
    "abasto_daily": select(func.count()).select_from(DailyAbasto),
    **{
        f"abasto_{scope}_daily": select(func.count())
        .select_from(DailyAbasto)
        .where(DailyAbasto.scope == key)
        for scope, key in (("units", "unit"), ("institutions", "institution"), ("states", "state"))
    },
}


def stocked_unit(purchases: Purchases) -> None:
    """A unit with stock of the paracetamol of the purchases, and its day's indicators."""
    ctx = purchases.world.buyer()
    institution = ctx.db.scalars(select(Institution).order_by(Institution.id)).first()
    assert institution is not None
    unit = identity.add_unit(
        ctx,
        institution_code=institution.code,
        unit=identity.UnitSpec("HGZ-DATOS", "Hospital de datos abiertos", "hospital", "09"),
    )
    inventory.receive(
        ctx,
        unit=unit,
        lines=[inventory.ReceiptLine(PARACETAMOL, "L1", date(2030, 1, 31), 10)],
    )
    inventory.snapshot(ctx)


BOM = b"\xef\xbb\xbf"


def csv_rows(db: Session, name: str) -> list[dict[str, str]]:
    out = io.BytesIO()
    service.write(db, BY_NAME[name], service.CSV, out)
    content = out.getvalue()
    assert content.startswith(BOM), name
    return list(csv.DictReader(io.StringIO(content[len(BOM) :].decode("utf-8"))))


def parquet_table(db: Session, name: str) -> pa.Table:
    out = io.BytesIO()
    service.write(db, BY_NAME[name], service.PARQUET, out)
    return pq.read_table(io.BytesIO(out.getvalue()))


def as_text(value: object) -> str:
    """A Parquet value written as the CSV writes it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "astimezone"):
        return value.astimezone(UTC).isoformat()  # type: ignore[no-any-return]
    if hasattr(value, "isoformat"):
        return value.isoformat()  # type: ignore[no-any-return]
    return str(value)


def test_every_table_as_csv_and_parquet_equals_the_database(purchases: Purchases) -> None:
    db = purchases.world.db
    stocked_unit(purchases)
    after_the_fallo(purchases)
    counts = service.row_counts(db)
    assert set(counts) == set(SOURCES)
    for table in TABLES:
        rows = csv_rows(db, table.name)
        parquet = parquet_table(db, table.name)
        expected = db.scalar(SOURCES[table.name])
        assert len(rows) == parquet.num_rows == counts[table.name] == expected, table.name
        assert expected, table.name
        assert list(rows[0]) == parquet.column_names == [c.name for c in table.columns]
        # The Parquet file holds the same values as the CSV, typed.
        assert [{k: as_text(v) for k, v in row.items()} for row in parquet.to_pylist()] == rows

    awards = parquet_table(db, "awards")
    assert awards.schema.field("unit_price").type == pa.decimal128(16, 2)
    assert awards.schema.field("reference_price").type == pa.decimal128(16, 2)
    assert awards.schema.field("quantity").type == pa.int64()
    assert awards.schema.field("fallo_issued_at").type == pa.timestamp("us", tz="UTC")
    prices = parquet_table(db, "reference_prices").schema
    assert prices.field("rate").type == pa.decimal128(18, 6)
    assert prices.field("observed_on").type == pa.date32()
    assert "precio" in prices.field("unit_price").metadata[b"title"].decode().lower()
    assert "price" in prices.field("unit_price").metadata[b"description"].decode().lower()

    first = purchases.first.tender.number
    won = {
        (r["clave"], r["supplier_rfc"]): (int(r["quantity"]), r["unit_price"], r["reference_price"])
        for r in csv_rows(db, "awards")
        if r["tender_number"] == first
    }
    assert won == {
        (clave, PARTIES[key].rfc): (quantity, f"{price}", f"{FIRST_REFERENCE[clave]}")
        for clave, winners in FIRST_AWARD.items()
        for key, (quantity, price) in winners.items()
    }
    # A known row of the Parquet, read back typed.
    row = next(
        r for r in awards.to_pylist() if r["tender_number"] == first and r["clave"] == PARACETAMOL
    )
    assert (row["quantity"], row["unit_price"], row["reference_price"]) == (
        1_751,
        Decimal("9.50"),
        Decimal("10.00"),
    )
    assert row["fallo_issued_at"] == purchases.first.tender.fallo_at
    split = {
        r["institution_code"]: (int(r["max_qty"]), r["unit_price"])
        for r in csv_rows(db, "contract_drafts")
        if r["clave"] == PARACETAMOL
    }
    assert split == {code: (qty, "9.50") for code, qty in PARACETAMOL_SPLIT.items()}


def test_no_bid_shows_before_its_opening_in_any_download(purchases: Purchases) -> None:
    db = purchases.world.db
    sealed = purchases.sealed.number
    bids = csv_rows(db, "bids")
    opened = {purchases.first.tender.number, purchases.second.tender.number}
    assert {r["tender_number"] for r in bids} == opened
    assert {r["bid_id"] for r in bids} == {
        *purchases.first.bids.values(),
        *purchases.second.bids.values(),
    }
    second = {
        (r["supplier_rfc"], int(r["partida_number"])): r["unit_price"]
        for r in bids
        if r["tender_number"] == purchases.second.tender.number
    }
    assert second == {
        (PARTIES[key].rfc, partida): f"{Decimal(str(price)):.2f}"
        for key, offers in SECOND_OFFERS.items()
        for partida, price in offers.items()
    }
    # Nothing of the sealed bids anywhere, in either format: no id, price, maker, nor a row
    # that ties a bidder to the sealed tender.
    forbidden = {SEALED_MAKER, *purchases.sealed_bids.values()}
    for prices in SEALED_PRICES.values():
        for price in prices.values():
            forbidden |= price_forms(price)
    for table in TABLES:
        text = csv_rows(db, table.name)
        parquet = parquet_table(db, table.name).to_pylist()
        for rows in (text, parquet):
            dumped = json.dumps(rows, default=str)
            assert not {m for m in forbidden if m in dumped}, table.name
            if table.name in ("bids", "awards", "contract_drafts", "contracts"):
                assert all(r["tender_number"] != sealed for r in rows), table.name


def test_the_export_writes_every_file_or_nothing(
    purchases: Purchases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = purchases.world.db
    now = purchases.world.now
    target = tmp_path / "datos"
    written = service.export(db, directory=target, formats=service.FORMATS, now=now)
    names = {f"{t.name}.{fmt}" for t in TABLES for fmt in service.FORMATS}
    assert {p.name for p in target.iterdir()} == names | {service.MANIFEST}
    assert {w.path for w in written} == {target / name for name in names}
    manifest = json.loads((target / service.MANIFEST).read_text(encoding="utf-8"))
    rows = {r["path"]: r["rows"] for r in manifest["resources"]}
    assert rows["awards.csv"] == rows["awards.parquet"] == service.row_counts(db)["awards"]
    assert pq.read_table(target / "contract_drafts.parquet").num_rows == len(PARACETAMOL_SPLIT) + 6
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    real = service.write_parquet

    def failing(db: Session, table: Any, out: Any, progress: Any = None) -> int:
        if table.name == "contract_drafts":
            raise OSError("disco lleno")
        return real(db, table, out, progress)

    monkeypatch.setattr(service, "write_parquet", failing)
    fresh = tmp_path / "nueva"
    with pytest.raises(OSError, match="disco lleno"):
        service.export(db, directory=fresh, formats=service.FORMATS, now=now)
    with pytest.raises(OSError, match="disco lleno"):
        service.export(db, directory=target, formats=service.FORMATS, now=now)
    # Nothing of the failed exports: no new folder, no hidden one, the earlier export intact.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["datos"]
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before

    # A folder that is not an export is never touched.
    foreign = tmp_path / "mis-documentos"
    foreign.mkdir()
    (foreign / "tesis.txt").write_text("no borrar")
    with pytest.raises(ValidationFailed, match="no está vacía"):
        service.export(db, directory=foreign, formats=(service.CSV,), now=now)
    assert [p.name for p in foreign.iterdir()] == ["tesis.txt"]


def test_the_export_command(fresh_database_url: str, tmp_path: Path) -> None:
    target = tmp_path / "salida"
    done = run_abasto(
        fresh_database_url, tmp_path, "datos", "export", str(target), "--format", "csv"
    )
    assert done.returncode == 0, done.stderr
    assert {p.name for p in target.iterdir()} == {f"{t.name}.csv" for t in TABLES} | {
        service.MANIFEST
    }
    assert f"Escritos {len(TABLES)} archivos" in done.stdout
    header = (target / "tenders.csv").read_text(encoding="utf-8-sig").splitlines()
    assert header == [",".join(c.name for c in BY_NAME["tenders"].columns)]

    refused = run_abasto(
        fresh_database_url, tmp_path, "datos", "export", str(tmp_path / "otra"), "--format", "xml"
    )
    assert refused.returncode == 1
    assert "Formato desconocido «xml»" in refused.stderr
    assert not (tmp_path / "otra").exists()


def test_the_download_page_lists_every_table_and_its_files(
    purchases: Purchases, client: TestClient
) -> None:
    page = client.get("/datos-abiertos")
    assert page.status_code == 200
    counts = service.row_counts(purchases.world.db)
    for table in TABLES:
        assert f'data-table="{table.name}" data-rows="{counts[table.name]}"' in page.text
        assert f'href="/datos-abiertos/{table.name}.csv"' in page.text
        assert f'href="/datos-abiertos/{table.name}.parquet"' in page.text
        for column in table.columns:
            assert f'<td class="clave">{column.name}</td>' in page.text
    assert 'href="/api/v1/ocds/releases"' in page.text

    download = client.get("/datos-abiertos/awards.csv")
    assert download.status_code == 200
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="awards.csv"' in download.headers["content-disposition"]
    assert download.content.startswith(BOM)
    lines = download.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("tender_id,tender_number,fallo_issued_at")
    assert len(lines) == counts["awards"] + 1
    parquet = client.get("/datos-abiertos/suppliers.parquet")
    assert parquet.headers["content-type"] == "application/vnd.apache.parquet"
    suppliers = pq.read_table(io.BytesIO(parquet.content)).column("rfc").to_pylist()
    assert suppliers == sorted(p.rfc for p in PARTIES.values())
