"""The `abasto inventory` commands in-process against a committed database."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select, text

from abasto.catalog.models import Clave
from abasto.core.context import Context, operator
from abasto.core.db import make_engine, session_factory, transaction
from abasto.core.errors import Conflict
from abasto.inventory import service
from abasto.inventory.models import DailyAbasto
from tests.conftest import T0, invoke_abasto
from tests.inventory.factories import ASPIRINA, build_sector, unit


def _prepare(url: str) -> None:
    engine = make_engine(url)
    with transaction(session_factory(engine)) as db:
        build_sector(Context(db, operator("pruebas"), T0))
    engine.dispose()


def test_upload_then_snapshot_then_redistribute(fresh_database_url: str, tmp_path: Path) -> None:
    _prepare(fresh_database_url)
    sheet = tmp_path / "dia.csv"
    sheet.write_text(
        "Fecha,Clave,Movimiento,Lote,Caducidad,Cantidad,Motivo\n"
        f"2026-11-01,{ASPIRINA},inicial,R1,2027-05-31,40,\n"
        f"2026-11-02,{ASPIRINA},dispensación,,,12,\n",
        encoding="utf-8",
    )
    code, out, err = invoke_abasto(
        fresh_database_url, tmp_path, "inventory", "upload", "IMSS", "HGZ-1", str(sheet)
    )
    assert code == 0, err
    assert "2 movimientos" in out
    code, out, err = invoke_abasto(
        fresh_database_url, tmp_path, "inventory", "upload", "IMSS", "HGZ-1", str(sheet)
    )
    assert code == 1
    assert "ya están registrados" in err
    code, out, err = invoke_abasto(
        fresh_database_url, tmp_path, "inventory", "snapshot", "--day", "2026-11-02"
    )
    assert code == 0, err
    assert "1 clave-unidad de 1 unidad, 0 en desabasto" in out

    # The same day by the national path: the same summary, the files left in the folder with
    # the state the next day rolls from.
    def columnar(day: str) -> str:
        code, found, err = invoke_abasto(
            fresh_database_url,
            tmp_path,
            *("inventory", "snapshot", "--day", day, "--parquet", str(tmp_path / "snapshot")),
        )
        assert code == 0, err
        return found

    again = columnar("2026-11-02")
    assert again.splitlines()[0] == out.strip()
    assert "Calculada toda la ventana: No hay estado del día anterior." in again
    assert sorted(p.name for p in (tmp_path / "snapshot").iterdir()) == [
        "after.parquet",
        "lots.parquet",
        "state",
        "units.parquet",
    ]
    assert "Rodados un día desde el estado del día anterior." in columnar("2026-11-03")
    code, out, err = invoke_abasto(
        fresh_database_url, tmp_path, "inventory", "redistribute", ASPIRINA
    )
    assert code == 0, err
    assert "0 piezas en 0 transferencias" in out
    code, out, err = invoke_abasto(
        fresh_database_url, tmp_path, "inventory", "consumption", "2026-11"
    )
    assert code == 0, err
    assert "1 renglones" in out
    engine = make_engine(fresh_database_url)
    with transaction(session_factory(engine)) as db:
        ctx = Context(db, operator("pruebas"), T0)
        assert service.unit_stock(db, unit(ctx))[0].on_hand == 28
        assert db.scalars(select(DailyAbasto.scope)).all().count("nation") == 2  # two days
    engine.dispose()


def test_partitions_are_created_ahead_and_receive_their_month(
    fresh_database_url: str, tmp_path: Path
) -> None:
    _prepare(fresh_database_url)
    code, out, err = invoke_abasto(
        fresh_database_url,
        tmp_path,
        "inventory",
        "partitions",
        "--from",
        "2026-12-01",
        "--months",
        "2",
    )
    assert code == 0, err
    if not fresh_database_url.startswith("postgresql"):
        assert "No hubo particiones" in out
        return
    assert "stock_movements_2026_12, stock_movements_2027_01" in out
    engine = make_engine(fresh_database_url)
    with transaction(session_factory(engine)) as db:
        ctx = Context(db, operator("pruebas"), T0.replace(month=12, day=15))
        service.receive(
            ctx,
            unit=unit(ctx),
            lines=[service.ReceiptLine(ASPIRINA, "R1", T0.date().replace(year=2027), 5)],
        )
        db.flush()
        where = db.scalar(text("SELECT tableoid::regclass::text FROM stock_movements"))
        assert where == "stock_movements_2026_12_default"  # the month, by day
        # A month whose movements already sit in the default partition cannot be split off.
        earlier = Context(db, operator("pruebas"), T0)
        service.receive(
            earlier,
            unit=unit(earlier),
            lines=[service.ReceiptLine(ASPIRINA, "R1", T0.date().replace(year=2027), 5)],
        )
        with pytest.raises(Conflict):
            service.ensure_month_partitions(earlier, start=T0.date(), months=1)
    engine.dispose()
    # Asked again, nothing is created twice.
    code, out, err = invoke_abasto(
        fresh_database_url,
        tmp_path,
        "inventory",
        "partitions",
        "--from",
        "2026-12-01",
        "--months",
        "1",
    )
    assert "No hubo particiones" in out


def test_a_days_feed_loads_once_from_its_file_plain_or_gzipped(
    fresh_database_url: str, tmp_path: Path
) -> None:
    _prepare(fresh_database_url)
    engine = make_engine(fresh_database_url)
    with transaction(session_factory(engine)) as db:
        ctx = Context(db, operator("pruebas"), T0)
        hgz, umf = unit(ctx).id, unit(ctx, code="UMF-2").id
        aspirina = db.scalar(select(Clave.id).where(Clave.clave == ASPIRINA))
    lines = (
        f"{hgz},{aspirina},A,2027-06-30,initial,40\n"
        f"{umf},{aspirina},B,2027-01-15,initial,10\n"
        f"{hgz},{aspirina},A,2027-06-30,dispense,-15\n"
    ).encode()
    plain, packed = tmp_path / "dia.csv", tmp_path / "dia2.csv.gz"
    plain.write_bytes(lines)
    packed.write_bytes(gzip.compress(lines.replace(b",A,", b",C,")))

    def load(path: Path, day: str = "2026-11-02") -> tuple[int, str, str]:
        return invoke_abasto(
            fresh_database_url, tmp_path, "inventory", "load-day", str(path), "--day", day
        )

    code, out, err = load(plain)
    assert code == 0, err
    assert "Día 2026-11-02: 3 movimientos cargados" in out
    assert f"dia:{hashlib.sha256(lines).hexdigest()}" in out
    # The same file again: its source is already posted, nothing is loaded twice.
    code, out, err = load(plain, "2026-11-03")
    assert code == 1
    assert "ya están registrados" in err
    code, out, err = load(packed, "2026-11-03")
    assert code == 0, err
    # A missing file and a damaged one are the user's errors, said without a traceback.
    code, out, err = load(tmp_path / "no-esta.csv")
    assert (code, err.strip()) == (
        1,
        f"Error: No existe el archivo «{tmp_path / 'no-esta.csv'}»; "
        "se esperaba: un archivo CSV del día (o .csv.gz)",
    )
    broken = tmp_path / "roto.csv.gz"
    broken.write_bytes(gzip.compress(lines)[:-12])
    code, out, err = load(broken, "2026-11-04")
    assert code == 1
    assert "no se cargó nada" in err
    with transaction(session_factory(engine)) as db:
        stock = service.unit_stock(db, unit(Context(db, operator("pruebas"), T0)), clave=ASPIRINA)
        assert [(lot.lot, lot.quantity) for lot in stock[0].lots] == [("A", 25), ("C", 25)]
    engine.dispose()
