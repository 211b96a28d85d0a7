"""``abasto prices import`` and ``abasto award run``, as processes against a committed database.

The tendering ``world`` is built in that database (``sessions`` and ``db`` are overridden here)
and committed before each command runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from abasto.award import service
from abasto.award.models import Fallo, PriceObservation
from abasto.core import ledger
from abasto.core.db import make_engine
from tests.award.test_prices import OCID, PACKAGE
from tests.award.test_service import (
    SIMPLE,
    evaluate,
    evaluator,
    import_references,
    opened_tender,
    price_list,
    verdicts_with,
)
from tests.conftest import run_abasto
from tests.tendering import conftest as tendering_world
from tests.tendering.conftest import ASPIRINA, PARACETAMOL, World

world = tendering_world.world
cheap_passwords = tendering_world.cheap_passwords


@pytest.fixture
def sessions(fresh_database_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions of the committed database the commands run against."""
    engine = make_engine(fresh_database_url)
    yield sessionmaker(bind=engine, expire_on_commit=False)
    engine.dispose()


@pytest.fixture
def db(sessions: sessionmaker[Session]) -> Iterator[Session]:
    session = sessions()
    yield session
    session.close()


def committed(world: World) -> tuple[int, int, int]:
    """Commit what the world built; (ledger head, prices, fallos) as the database has them."""
    world.db.commit()
    with Session(world.db.get_bind()) as fresh:
        return (
            ledger.head(fresh)[0],
            fresh.scalar(select(func.count()).select_from(PriceObservation)) or 0,
            fresh.scalar(select(func.count()).select_from(Fallo)) or 0,
        )


def test_prices_import_a_list_and_ocds_data_and_refuse_a_currency_without_rate(
    world: World, fresh_database_url: str, tmp_path: Path
) -> None:
    listed = tmp_path / "lista.csv"
    listed.write_bytes(price_list({PARACETAMOL: "10.00", ASPIRINA: "20.00"}))
    start = committed(world)

    first = run_abasto(fresh_database_url, tmp_path, "prices", "import", str(listed))
    assert first.returncode == 0, first.stderr
    assert "2 precios importados de 2 claves" in first.stdout
    assert committed(world)[1:] == (2, 0)

    refused = run_abasto(
        fresh_database_url,
        tmp_path,
        "prices",
        "import",
        str(PACKAGE),
        "--map",
        f"CPV:45233130.0={PARACETAMOL}",
    )
    assert refused.returncode == 1
    assert "Moneda GBP sin tipo de cambio" in refused.stderr
    assert "--rate GBP=" in refused.stderr
    unmapped = run_abasto(
        fresh_database_url, tmp_path, "prices", "import", str(PACKAGE), "--rate", "GBP=23.05"
    )
    assert unmapped.returncode == 1
    # Which case it was, with its counts and the classification to map.
    assert "5 artículos con precio unitario, ninguno con una clave" in unmapped.stderr
    assert "Clasificación sin clave (5 artículos)" in unmapped.stderr
    assert "«--map CPV:45233130.0=CLAVE»" in unmapped.stderr
    after_refusal = committed(world)
    assert after_refusal[1:] == (2, 0)
    assert after_refusal[0] == start[0] + 1

    ocds = run_abasto(
        fresh_database_url,
        tmp_path,
        "prices",
        "import",
        str(PACKAGE),
        "--rate",
        "GBP=23.05",
        "--map",
        f"CPV:45233130.0={PARACETAMOL}",
    )
    assert ocds.returncode == 0, ocds.stderr
    assert committed(world)[1:] == (3, 0)
    world.db.expire_all()
    sources = service.references(world.db, [PARACETAMOL])[PARACETAMOL].sources
    assert [s.source for s in sources if s.kind == "ocds"] == [OCID]


def test_award_run_waits_for_the_evaluation_then_issues_one_fallo(
    world: World, fresh_database_url: str, tmp_path: Path
) -> None:
    opened = opened_tender(world, SIMPLE)
    import_references(world)
    verdicts = verdicts_with(world, opened)
    service.record_evaluations(evaluator(world), tender_id=opened.tender.id, verdicts=verdicts[:-1])
    tender_id = str(opened.tender.id)
    start = committed(world)

    early = run_abasto(fresh_database_url, tmp_path, "award", "run", tender_id, "--mode", "split")
    assert early.returncode == 1
    assert "Faltan evaluaciones técnicas" in early.stderr
    assert committed(world) == start

    evaluate(world, opened)
    committed(world)
    issued = run_abasto(fresh_database_url, tmp_path, "award", "run", tender_id, "--mode", "split")
    assert issued.returncode == 0, issued.stderr
    assert "Fallo publicado en la bitácora" in issued.stdout
    after = committed(world)
    assert after[2] == 1

    again = run_abasto(fresh_database_url, tmp_path, "award", "run", tender_id)
    assert again.returncode == 1
    assert "ya tiene fallo" in again.stderr
    assert committed(world) == after
    world.db.expire_all()
    assert service.get_fallo(world.db, opened.tender.id).mode == "split"
