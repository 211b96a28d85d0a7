"""OCDS benchmark: ``abasto ocds export`` throughput, in releases per second, over 100,000 releases.

The ledger is generated, not played through the services (that would take hours): 2,000
published licitaciones of 10 partidas each, their rows (tenders, partidas, each institution's
demand) inserted in bulk, and 50 stage entries per tender appended through ``core.ledger.append``
(so the chain is real) with payloads of the services' own shapes: the publication, 2
amendments, 10 answered questions, 30 bids read out at the opening (10 priced lines each), the
end of the opening, 5 partidas desiertas and the fallo. The catalog (50 claves) and the
institutions go through their services, so names are read from the ledger as in production.
``python -m benchmarks.ocds`` runs it alone and prints its figures and section.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select

from abasto.catalog import service as catalog
from abasto.catalog.models import Clave
from abasto.core import ledger
from abasto.core.context import Context, operator
from abasto.core.db import make_engine, session_factory, transaction, upgrade
from abasto.identity import service as identity
from abasto.identity.models import Institution
from abasto.tendering.models import Partida, PartidaDemand, Tender
from abasto.transparency.ocds import export as exporting
from benchmarks import print_standalone
from benchmarks.databases import fresh_postgres

Figure = tuple[str, str, float, str, str]
"""(name, database, value, unit, note), as ``benchmarks.__main__.Figure`` takes them."""

TENDERS = int(os.environ.get("ABASTO_BENCH_OCDS_TENDERS", "2000"))
PARTIDAS = 10
BIDS = 30
QUESTIONS = 10
AMENDMENTS = 2
DESIERTAS = 5
PER_TENDER = 1 + AMENDMENTS + QUESTIONS + BIDS + 1 + DESIERTAS + 1
INSTITUTIONS = ("IMSS", "ISSSTE", "SEDENA")
POSTGRES_URL = os.environ.get(
    "ABASTO_BENCH_OCDS_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/abasto_bench_ocds"
)
DATABASES = os.environ.get("ABASTO_BENCH_OCDS_DATABASES", "sqlite,postgresql").split(",")
T0 = datetime(2026, 1, 5, 16, 0, tzinfo=UTC)
measured: datetime | None = None
results: dict[str, tuple[int, float, float]] = {}
"""database → (releases, generation seconds, export seconds)."""


def _payloads(number: str, rng: random.Random, claves: list[str], at: datetime) -> list[Any]:
    """The 50 stage entries of one tender, as the services write them."""
    iso = ledger.format_instant
    deadline = at + timedelta(days=16)
    records = [
        ledger.Record(
            "tender.publish",
            "",
            {
                "number": number,
                "title": f"Licitación sintética {number}",
                "procedure": "licitacion_nacional",
                "procedure_label": "Licitación pública nacional",
                "legal_basis": None,
                "justification": None,
                "periods": {},
                "clarification_deadline": iso(at + timedelta(days=9)),
                "bid_deadline": iso(deadline),
                "opening_at": iso(deadline + timedelta(hours=1)),
                "fallo_at": iso(deadline + timedelta(days=1)),
                "invited": [],
                "partidas": PARTIDAS,
                "partidas_sha256": "0" * 64,
            },
        )
    ]
    for n in range(1, AMENDMENTS + 1):
        records.append(
            ledger.Record(
                "tender.amend",
                "",
                {
                    "number": number,
                    "amendment": n,
                    "description": "Se amplía el plazo para presentar proposiciones.",
                    "changes": {"bid_deadline": [iso(deadline), iso(deadline + timedelta(days=n))]},
                    "extended": False,
                },
            )
        )
    for q in range(1, QUESTIONS + 1):
        records.append(
            ledger.Record(
                "question.answer",
                "",
                {
                    "number": number,
                    "question": q,
                    "text": f"¿Se acepta otra presentación en la partida {q}?",
                    "answer": "Sí, siempre que sea la misma clave.",
                },
            )
        )
    prices: dict[int, list[tuple[str, str, Decimal]]] = {p: [] for p in range(1, PARTIDAS + 1)}
    for b in range(BIDS):
        rfc = f"BEN{b:03d}0101AA{b % 10}"
        bid = f"{number.replace('-', '')}{b:04d}".ljust(32, "0")[:32]
        lines: list[dict[str, Any]] = []
        total = Decimal(0)
        for partida in range(1, PARTIDAS + 1):
            price = Decimal(rng.randrange(500, 50_000)) / 100
            prices[partida].append((bid, rfc, price))
            total += price * 1_000
            lines.append(
                {
                    "partida": partida,
                    "unit_price": str(price),
                    "quantity": 1_000,
                    "presentation": "Caja con 10",
                    "registro_sanitario": "123M2015 SSA",
                    "manufacturer": "Fabricante",
                    "country": "México",
                }
            )
        records.append(
            ledger.Record(
                "bid.open",
                "",
                {
                    "number": number,
                    "bid": bid,
                    "commitment": "0" * 64,
                    "stored_commitment": "0" * 64,
                    "received_at": iso(at + timedelta(days=10)),
                    "supplier": {"rfc": rfc, "razon_social": f"Proveedor {b}, S.A. de C.V."},
                    "salt": "0" * 32,
                    "content": {"bid": bid, "tender": number, "supplier": rfc, "lines": lines},
                    "check": "coincide",
                    "detail": "coincide con el compromiso publicado",
                    "lines": PARTIDAS,
                    "total_max": str(total),
                },
            )
        )
    records.append(
        ledger.Record(
            "tender.opened",
            "",
            {"number": number, "opened": BIDS, "matching": BIDS, "not_matching": 0, "missing": 0},
        )
    )
    for partida in range(PARTIDAS - DESIERTAS + 1, PARTIDAS + 1):
        records.append(
            ledger.Record(
                "partida.desierta",
                "",
                {
                    "number": number,
                    "partida": partida,
                    "clave": claves[partida - 1],
                    "reason": "Sin proposición solvente.",
                },
            )
        )
    fallo = []
    for partida in range(1, PARTIDAS - DESIERTAS + 1):
        bid, rfc, price = min(prices[partida], key=lambda x: x[2])
        fallo.append(
            {
                "partida": partida,
                "clave": claves[partida - 1],
                "status": "adjudicada",
                "demand": 1_000,
                "reference_price": str(price),
                "winners": [
                    {"bid": bid, "supplier": rfc, "quantity": 1_000, "unit_price": str(price)}
                ],
                "reason": None,
            }
        )
    records.append(
        ledger.Record("fallo.issue", "", {"number": number, "mode": "lowest", "partidas": fallo})
    )
    return records


def _generate(engine: Engine) -> None:
    factory = session_factory(engine)
    with transaction(factory) as db:
        ctx = Context(db=db, actor=operator("bench"), now=T0)
        rows = "".join(f"010.000.{n:04d}.00,Medicamento sintético {n}\n" for n in range(1, 51))
        catalog.import_catalog(
            ctx, content=f"Clave,Descripción\n{rows}".encode(), filename="catalogo.csv"
        )
        identity.register_institution(ctx, code="BIRMEX", name="BIRMEX", kind="compra consolidada")
        for code in INSTITUTIONS:
            identity.register_institution(ctx, code=code, name=f"Institución {code}", kind="x")
        db.flush()
        clave_ids = dict(db.execute(select(Clave.clave, Clave.id)).all())
        institution_ids = dict(db.execute(select(Institution.code, Institution.id)).all())
    codes = sorted(clave_ids)
    rng = random.Random(1)
    partida_id = 0
    for start in range(0, TENDERS, 100):
        with transaction(factory) as db:
            tenders, partidas, demands = [], [], []
            for t in range(start, min(start + 100, TENDERS)):
                at = T0 + timedelta(hours=t)
                number = f"AB-2026-{t + 1:05d}"
                chosen = rng.sample(codes, PARTIDAS)
                tenders.append(
                    {
                        "id": t + 1,
                        "number": number,
                        "title": f"Licitación sintética {number}",
                        "procedure": "licitacion_nacional",
                        "status": "awarded",
                        "params": {},
                        "clarification_deadline": at + timedelta(days=9),
                        "bid_deadline": at + timedelta(days=16),
                        "opening_at": at + timedelta(days=16, hours=1),
                        "fallo_at": at + timedelta(days=17),
                        "published_at": at,
                        "wrapped_key": b"",
                        "created_at": at,
                        "version": 1,
                    }
                )
                for n, code in enumerate(chosen, start=1):
                    partida_id += 1
                    partidas.append(
                        {
                            "id": partida_id,
                            "tender_id": t + 1,
                            "number": n,
                            "clave_id": clave_ids[code],
                            "min_qty": 1_200,
                            "max_qty": 3_000,
                        }
                    )
                    demands += [
                        {
                            "partida_id": partida_id,
                            "institution_id": institution_ids[i],
                            "min_qty": 400,
                            "max_qty": 1_000,
                        }
                        for i in INSTITUTIONS
                    ]
                records = [
                    ledger.Record(r.action, f"tender:{t + 1}", r.payload)
                    for r in _payloads(number, rng, chosen, at)
                ]
                ledger.append(db, actor="bench", at=at, records=records)
            db.execute(insert(Tender), tenders)
            db.execute(insert(Partida), partidas)
            db.execute(insert(PartidaDemand), demands)


def _fresh_postgres() -> Engine:
    return fresh_postgres(POSTGRES_URL, migrate=False)


def _measure(engine: Engine, folder: Path) -> tuple[int, float, float]:
    upgrade(engine)
    began = time.perf_counter()
    _generate(engine)
    generated = time.perf_counter() - began
    with transaction(session_factory(engine)) as db:
        summary = exporting.export(
            db, "ocds-abasto", folder / "ocds", published=ledger.format_instant(T0)
        )
    return summary.releases, generated, summary.seconds


def run() -> list[Figure]:
    global measured
    measured = datetime.now(UTC)
    figures: list[Figure] = []
    for database in DATABASES:
        with tempfile.TemporaryDirectory(prefix="abasto-bench-ocds-") as temp:
            folder = Path(temp)
            if database == "sqlite":
                engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
            else:
                engine = _fresh_postgres()
            try:
                releases, generated, seconds = _measure(engine, folder)
            finally:
                engine.dispose()
        results[database] = (releases, generated, seconds)
        figures.append(
            (
                "OCDS export throughput",
                database,
                round(releases / seconds),
                "releases/s",
                f"{releases:,} releases of {TENDERS:,} tenders in {seconds:.1f} s",
            )
        )
    return figures


def section() -> list[str]:
    lines = [
        "## OCDS export",
        "",
        f"`abasto ocds export` over a generated ledger of {TENDERS * PER_TENDER:,} releases: "
        f"{TENDERS:,} published licitaciones of {PARTIDAS} partidas, each with {PER_TENDER} "
        f"stage entries (publication, {AMENDMENTS} amendments, {QUESTIONS} answered questions, "
        f"{BIDS} bids read out with {PARTIDAS} priced lines each, the end of the opening, "
        f"{DESIERTAS} partidas desiertas, the fallo). The tenders, partidas and demand rows are "
        "bulk inserted; the entries are appended through `core.ledger.append` with payloads of "
        "the services' shapes; the catalog and institutions go through their services. The "
        "generated fallos have no fallo rows, so their releases carry the awards but no bid "
        "statuses nor contracts. Timed: the export alone (reading the ledger and rows, building "
        "every release, writing release packages of 1,000, record packages with compiled "
        "releases, and compiled-releases.jsonl), as `python -m benchmarks.ocds` runs it.",
        "",
        "| database | releases | generation | export | throughput |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for database, (releases, generated, seconds) in results.items():
        lines.append(
            f"| {database} | {releases:,} | {generated:.1f} s | {seconds:.1f} s | "
            f"{releases / seconds:,.0f} releases/s |"
        )
    if measured is not None:
        lines += ["", f"Measured {measured:%Y-%m-%d %H:%M} UTC."]
    return lines


if __name__ == "__main__":
    print_standalone(run(), section())
