"""Open data after the fallo (issue 16: contracts, lines, convenios, orders, deliveries, lots,
receipts, penalties), the registry, questions, amendments and red flags (issue 18, item 9) and
the daily abasto (issue 17): each table's rows equal a scenario built through the services, no
person who acted is named in any file, every CSV the app serves starts with the UTF-8 BOM, and
the export is a tabular data package whose keys hold."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from abasto.catalog.models import Clave
from abasto.contracts import rules
from abasto.demand.models import DemandRound
from abasto.identity.models import Institution, Unit, User
from abasto.inventory.models import DailyAbasto
from abasto.transparency.opendata import service
from abasto.transparency.opendata.tables import BY_NAME, TABLES
from abasto.transparency.redflags.models import RedFlag
from tests.tendering.conftest import ASPIRINA, PARACETAMOL, PARTIES
from tests.tendering.test_api import as_
from tests.transparency.conftest import Purchases
from tests.transparency.factories import (
    ACCEPTED,
    AMENDED_MAX,
    ANSWERED,
    DAYS_LATE,
    DEDUCTIVA,
    ORDERED,
    PENA,
    REJECTED,
    UNANSWERED,
    UNIT,
    AfterFallo,
    after_the_fallo,
    noon,
)
from tests.transparency.test_opendata import BOM, csv_rows, parquet_table

FRICTIONLESS_TYPES = {"string", "integer", "number", "boolean", "date", "datetime", "object"}


@pytest.fixture
def after(purchases: Purchases) -> AfterFallo:
    return after_the_fallo(purchases)


def by(rows: list[dict[str, str]], **where: object) -> list[dict[str, str]]:
    return [r for r in rows if all(r[k] == str(v) for k, v in where.items())]


def test_contracts_orders_deliveries_receipts_and_penalties(
    purchases: Purchases, after: AfterFallo
) -> None:
    db = purchases.world.db
    contract = after.contract
    a = PARTIES["a"]

    contracts = csv_rows(db, "contracts")
    # One per institution × supplier of the fallo's drafts; only IMSS × «a» signed.
    drafted = {(r["institution_code"], r["supplier_rfc"]) for r in csv_rows(db, "contract_drafts")}
    assert {(r["institution_code"], r["supplier_rfc"]) for r in contracts} == drafted
    assert {r["status"] for r in contracts if r["contract_id"] != str(contract.id)} == {
        rules.BORRADOR
    }
    (row,) = by(contracts, contract_id=contract.id)
    assert (row["contract_number"], row["tender_number"]) == (
        contract.number,
        purchases.first.tender.number,
    )
    assert (row["supplier_rfc"], row["supplier_name"], row["status"]) == (
        a.rfc,
        a.name,
        rules.VIGENTE,
    )
    original = Decimal(row["original_amount"])
    assert row["guarantee_amount"] == f"{original / 10:.2f}"
    assert Decimal(row["max_amount"]) - original == (AMENDED_MAX - 1_000) * Decimal("9.50")
    assert row["guarantee_issuer"] == "Afianzadora Sofimex, S.A."
    assert row["signed_late"] in ("true", "false")
    assert row["signed_late"] == ("true" if contract.signed_late else "false")
    assert len(row["document_sha256"]) == 64
    assert row["penalties_at_cap"] == "false"

    lines = {r["clave"]: r for r in by(csv_rows(db, "contract_lines"), contract_id=contract.id)}
    assert set(lines) == {PARACETAMOL, ASPIRINA}
    paracetamol = lines[PARACETAMOL]
    assert (paracetamol["max_qty"], paracetamol["original_max_qty"]) == (str(AMENDED_MAX), "1000")
    assert paracetamol["unit_price"] == "9.50"
    assert original == sum(
        int(r["original_max_qty"]) * Decimal(r["unit_price"]) for r in lines.values()
    )

    (convenio,) = csv_rows(db, "contract_amendments")
    assert (convenio["contract_number"], convenio["amendment_number"]) == (contract.number, "1")
    assert convenio["reason"] == "Aumento de la demanda de paracetamol"
    assert json.loads(convenio["changes"])["max_qty"] == {PARACETAMOL: [1_000, AMENDED_MAX]}
    assert Decimal(convenio["amount_after"]) - Decimal(convenio["amount_before"]) == Decimal(
        "950.00"
    )

    (order,) = csv_rows(db, "supply_orders")
    lot, rejected, reason = REJECTED
    assert order == {
        **order,
        "order_id": str(after.order.id),
        "order_number": "1",
        "contract_number": contract.number,
        "clave": PARACETAMOL,
        "institution_code": "IMSS",
        "unit_code": UNIT.code,
        "quantity": str(ORDERED),
        "unit_price": "9.50",
        "status": rules.ORDER_CONFIRMADA,
        "due_on": after.order.due_on.isoformat(),
        "accepted_qty": str(sum(ACCEPTED.values())),
        "on_time_qty": "0",
        "rejected_qty": str(rejected),
        "penalty": f"{PENA}",
        "deductiva": f"{DEDUCTIVA}",
    }

    (delivery,) = csv_rows(db, "deliveries")
    received = noon(after.order.due_on + timedelta(days=DAYS_LATE))
    assert (delivery["shipment_id"], delivery["order_id"], delivery["status"]) == (
        str(after.shipment.id),
        str(after.order.id),
        "recibido",
    )
    assert datetime.fromisoformat(delivery["received_at"]) == received
    assert len(delivery["receipt_sha256"]) == 64
    sent = {r["lot"]: r["quantity"] for r in csv_rows(db, "delivery_lots")}
    assert sent == {"L1": "60", "L2": "40"}
    receipts = {
        r["lot"]: (r["accepted_qty"], r["rejected_qty"], r["reason"])
        for r in csv_rows(db, "receipts")
    }
    assert receipts == {"L1": ("60", "0", ""), lot: (str(ACCEPTED[lot]), str(rejected), reason)}

    penalties = {
        r["kind"]: (r["days_late"], r["amount"], r["order_id"]) for r in csv_rows(db, "penalties")
    }
    assert penalties == {
        "pena": (str(DAYS_LATE), f"{PENA}", str(after.order.id)),
        "deductiva": ("0", f"{DEDUCTIVA}", str(after.order.id)),
    }
    # Typed in Parquet: money exact, flags boolean.
    typed = parquet_table(db, "contracts").to_pylist()
    mine = next(r for r in typed if r["contract_id"] == contract.id)
    assert mine["max_amount"] == contract.max_amount
    assert mine["penalties_at_cap"] is False


def test_catalog_institutions_units_questions_amendments_and_red_flags(
    purchases: Purchases, after: AfterFallo
) -> None:
    db = purchases.world.db
    assert [r["clave"] for r in csv_rows(db, "claves")] == sorted(db.scalars(select(Clave.clave)))
    institutions = {r["code"]: r for r in csv_rows(db, "institutions")}
    assert set(institutions) == set(db.scalars(select(Institution.code)))
    assert institutions["IMSS"]["name"] == db.scalar(
        select(Institution.name).where(Institution.code == "IMSS")
    )
    units = {(r["institution_code"], r["code"]): r for r in csv_rows(db, "units")}
    assert len(units) == len(db.scalars(select(Unit.id)).all())
    hgz = units[("IMSS", UNIT.code)]
    assert (hgz["name"], hgz["state_code"], hgz["latitude"], hgz["longitude"]) == (
        UNIT.name,
        UNIT.state_code,
        f"{UNIT.latitude}",
        "",
    )

    number = after.tender.number
    questions = by(csv_rows(db, "questions"), tender_number=number)
    assert [
        (q["question_number"], q["partida_number"], q["question"], q["answer"]) for q in questions
    ] == [("1", "1", ANSWERED[0], ANSWERED[1]), ("2", "", UNANSWERED, "")]
    assert questions[0]["answered_at"]
    assert not questions[1]["answered_at"]
    # Who asked is never published: no column names them, no value either.
    assert not [c.name for c in BY_NAME["questions"].columns if "supplier" in c.name]
    asked = json.dumps(questions, ensure_ascii=False)
    for key in "bc":
        assert PARTIES[key].rfc not in asked
        assert PARTIES[key].name not in asked

    (amendment,) = by(csv_rows(db, "tender_amendments"), tender_number=number)
    moved = json.loads(amendment["changes"])
    assert moved["bid_deadline"][1] == after.tender.bid_deadline.isoformat()

    flags = csv_rows(db, "red_flags")
    stored = db.scalars(select(RedFlag).order_by(RedFlag.code, RedFlag.id)).all()
    assert stored, "the purchases raise red flags"
    assert [(r["code"], r["subject"], r["explanation"]) for r in flags] == [
        (f.code, f.subject, f.explanation) for f in stored
    ]
    names = {p.rfc: p.name for p in PARTIES.values()}
    assert all(r["supplier_name"] == names[r["supplier_rfc"]] for r in flags if r["supplier_rfc"])


def test_the_daily_abasto_per_unit_institution_and_state(
    purchases: Purchases, after: AfterFallo
) -> None:
    db = purchases.world.db
    stored = db.scalars(select(DailyAbasto)).all()
    units = {
        str(u.id): (code, u.code)
        for u, code in db.execute(select(Unit, Institution.code).join(Institution))
    }

    def counts(row: Any) -> tuple[str, ...]:
        return tuple(
            str(getattr(row, n) if not isinstance(row, dict) else row[n])
            for n in ("listed", "with_stock", "at_minimum", "below_min", "above_max", "expiring")
        )

    per_unit = {
        (r["day"], r["institution_code"], r["unit_code"]): counts(r)
        for r in csv_rows(db, "abasto_units_daily")
    }
    assert per_unit == {
        (d.day.isoformat(), *units[d.key]): counts(d) for d in stored if d.scope == "unit"
    }
    # The unit that received the delivery has its paracetamol on the shelf.
    day = max(d.day for d in stored).isoformat()
    listed, with_stock = per_unit[(day, "IMSS", UNIT.code)][:2]
    assert int(with_stock) >= 1
    assert int(listed) >= int(with_stock)
    for table, scope, key in (
        ("abasto_institutions_daily", "institution", "institution_code"),
        ("abasto_states_daily", "state", "state_code"),
    ):
        rows = {(r["day"], r[key]): counts(r) for r in csv_rows(db, table)}
        assert rows == {(d.day.isoformat(), d.key): counts(d) for d in stored if d.scope == scope}
        assert rows, table
    imss = {
        r["institution_name"]
        for r in by(csv_rows(db, "abasto_institutions_daily"), institution_code="IMSS")
    }
    assert imss == {db.scalar(select(Institution.name).where(Institution.code == "IMSS"))}


def test_no_person_who_acted_is_named_in_any_file(purchases: Purchases, after: AfterFallo) -> None:
    db = purchases.world.db
    db.refresh(after.contract)
    db.refresh(after.shipment)
    people = {
        after.contract.institution_signed_by,
        after.contract.supplier_signed_by,
        after.order.issued_by,
        after.shipment.recorded_by,
        after.shipment.received_by,
        after.convenio.by,
    }
    # Positive control: the database names them, so a leak would show.
    assert None not in people
    assert all(len(p or "") > 3 for p in people)
    users = db.execute(select(User.username, User.full_name)).all()
    people |= {u for u, _ in users} | {n for _, n in users if len(n) > 3}
    secrets = {p for p in people if p} | {"Cajas mojadas"}  # a receipt's private note
    for table in TABLES:
        for rows in (csv_rows(db, table.name), parquet_table(db, table.name).to_pylist()):
            dumped = json.dumps(rows, default=str, ensure_ascii=False)
            assert not {s for s in secrets if s in dumped}, table.name


def test_every_csv_the_app_serves_starts_with_the_bom(
    purchases: Purchases, after: AfterFallo, client: TestClient, tmp_path: Path
) -> None:
    db = purchases.world.db
    served = [f"/datos-abiertos/{t.name}.csv" for t in TABLES]
    round_name = db.scalars(select(DemandRound.name)).first()
    assert round_name
    a, buyer = as_(client, "a"), as_(client, "comprador")
    served_as = [
        *((path, {}) for path in served),
        ("/api/v1/orders.csv", a),
        ("/api/v1/fill-rate.csv?by=clave", {}),
        (f"/api/v1/demand/rounds/{round_name}/consolidated.csv", buyer),
    ]
    for path, headers in served_as:
        response = client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["content-type"] == "text/csv; charset=utf-8", path
        assert response.content[:3] == BOM, path
        assert response.content[3:4] != BOM[:1], path  # one BOM, not two
    service.export(
        db, directory=tmp_path / "datos", formats=(service.CSV,), now=purchases.world.now
    )
    for table in TABLES:
        assert (tmp_path / "datos" / f"{table.name}.csv").read_bytes()[:3] == BOM, table.name


# ----- the data package -------------------------------------------------------------------------


def _valid(field: dict[str, Any], text: str) -> bool:
    """Whether ``text`` is a value of the field's Frictionless type ("" is missing)."""
    kind = field["type"]
    try:
        if kind == "integer":
            int(text)
        elif kind == "number":
            Decimal(text)
        elif kind == "boolean":
            return text in ("true", "false")
        elif kind == "date":
            date.fromisoformat(text)
        elif kind == "datetime":
            return datetime.fromisoformat(text).tzinfo is not None
        elif kind == "object":
            return isinstance(json.loads(text), dict)
    except ValueError:
        return False
    return True


def check_package(directory: Path) -> dict[str, list[dict[str, str]]]:
    """What a Frictionless validator checks of a tabular data package of CSV files: each
    resource's header is its schema's fields, each value its field's type, primary keys unique
    and never missing, every foreign key found in the table it names. The rows by resource."""
    package = json.loads((directory / service.MANIFEST).read_text(encoding="utf-8"))
    assert package["profile"] == "tabular-data-package"
    assert package["name"]
    assert package["title"]
    assert package["description"]
    resources = {r["name"]: r for r in package["resources"]}
    assert len(resources) == len(package["resources"])
    rows: dict[str, list[dict[str, str]]] = {}
    for name, resource in resources.items():
        assert resource["profile"] == "tabular-data-resource"
        assert (resource["format"], resource["encoding"]) == ("csv", "utf-8")
        assert resource["title"]
        assert resource["description"] != resource["title"]
        content = (directory / resource["path"]).read_bytes()
        assert content.startswith(BOM), name
        reader = csv.reader(io.StringIO(content.decode("utf-8-sig")))
        header, *values = list(reader)
        fields = resource["schema"]["fields"]
        assert header == [f["name"] for f in fields], name
        assert len(values) == resource["rows"], name
        for field in fields:
            assert field["type"] in FRICTIONLESS_TYPES, (name, field)
            assert field["title"]
            assert field["description"]
            assert field["description"] != field["title"]
        rows[name] = [dict(zip(header, v, strict=True)) for v in values]
        for row in rows[name]:
            bad = [f["name"] for f in fields if row[f["name"]] and not _valid(f, row[f["name"]])]
            assert not bad, (name, bad, row)
        key = resource["schema"].get("primaryKey")
        if key:
            keys = [tuple(r[k] for k in key) for r in rows[name]]
            assert all(all(k) for k in keys), (name, "a primary key is missing")
            assert len(set(keys)) == len(keys), (name, "a primary key repeats")
    for name, resource in resources.items():
        for link in resource["schema"].get("foreignKeys", []):
            target = link["reference"]["resource"]
            assert target in resources, (name, target)
            names = [f["name"] for f in resources[target]["schema"]["fields"]]
            assert set(link["reference"]["fields"]) <= set(names)
            found = {tuple(r[f] for f in link["reference"]["fields"]) for r in rows[target]}
            for row in rows[name]:
                value = tuple(row[f] for f in link["fields"])
                if all(value):
                    assert value in found, (name, link, value)
    return rows


def test_the_export_is_a_valid_data_package_with_every_table(
    purchases: Purchases, after: AfterFallo, tmp_path: Path, client: TestClient
) -> None:
    db = purchases.world.db
    target = tmp_path / "datos"
    service.export(db, directory=target, formats=(service.CSV,), now=purchases.world.now)
    rows = check_package(target)
    assert set(rows) == {f"{t.name}-csv" for t in TABLES}
    # Every new table holds rows of the scenario, and its keys link where they say.
    for name in (
        "contracts",
        "contract_lines",
        "contract_amendments",
        "supply_orders",
        "deliveries",
        "delivery_lots",
        "receipts",
        "penalties",
        "claves",
        "institutions",
        "units",
        "red_flags",
        "questions",
        "tender_amendments",
        "abasto_units_daily",
        "abasto_institutions_daily",
        "abasto_states_daily",
    ):
        assert rows[f"{name}-csv"], name
    package = json.loads((target / service.MANIFEST).read_text(encoding="utf-8"))
    orders = next(r for r in package["resources"] if r["name"] == "supply_orders-csv")
    assert orders["schema"]["primaryKey"] == ["order_id"]
    assert {
        "fields": ["institution_code", "unit_code"],
        "reference": {"resource": "units-csv", "fields": ["institution_code", "code"]},
    } in orders["schema"]["foreignKeys"]
    (quantity,) = [f for f in orders["schema"]["fields"] if f["name"] == "quantity"]
    assert quantity == {
        "name": "quantity",
        "type": "integer",
        "title": "Cantidad ordenada (piezas).",
        "description": "The quantity ordered, in pieces.",
    }
    # A broken link is caught: the checker is not blind.
    broken = target / "supply_orders.csv"
    broken.write_bytes(broken.read_bytes().replace(b",HGZ-9,", b",HGZ-404,"))
    with pytest.raises(AssertionError, match="HGZ-404"):
        check_package(target)

    # The page's own package describes the files it serves, CSV and Parquet.
    online = client.get(f"/datos-abiertos/{service.MANIFEST}")
    assert online.status_code == 200
    served = {r["name"]: r for r in online.json()["resources"]}
    assert set(served) == {f"{t.name}-{fmt}" for t in TABLES for fmt in service.FORMATS}
    assert served["penalties-parquet"]["path"] == "penalties.parquet"
    assert served["penalties-csv"]["rows"] == len(rows["penalties-csv"])
    assert served["receipts-parquet"]["schema"]["foreignKeys"][0]["reference"]["resource"] == (
        "delivery_lots-parquet"
    )
    parquet = client.get("/datos-abiertos/receipts.parquet")
    assert pq.read_table(io.BytesIO(parquet.content)).num_rows == len(rows["receipts-csv"])


def test_the_download_page_lists_the_new_tables_with_their_keys(
    purchases: Purchases, after: AfterFallo, client: TestClient
) -> None:
    page = client.get("/datos-abiertos")
    assert page.status_code == 200
    for name in ("contracts", "supply_orders", "receipts", "questions", "abasto_units_daily"):
        assert f'data-table="{name}"' in page.text
    assert 'href="/datos-abiertos/datapackage.json"' in page.text
    assert "UTF-8 con BOM" in page.text
    assert '→ <a href="#units">units</a>' in page.text
    assert BY_NAME["receipts"].columns[-1].title in page.text
