"""A fallo with contract drafts, built through the services, and the people who act on it.

``awarded`` runs the award tests' demand round (IMSS, ISSSTE, SEDENA) through a tender whose
lowest-price fallo gives supplier «a» paracetamol at $9.50 and aspirina at $19.00 and supplier
«b» nicotina at $48.00; each institution gets two units (delivery points) and a planner.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from abasto.award import rules as award_rules
from abasto.award import service as award
from abasto.contracts import rules, service
from abasto.contracts.models import Contract
from abasto.core.clock import FixedClock
from abasto.core.config import Settings
from abasto.core.context import Context, operator
from abasto.core.db import make_engine, session_factory, transaction
from abasto.identity import service as identity
from abasto.identity.models import Institution, User
from abasto.tendering.models import Tender
from tests.award.test_service import by_clave, evaluate, import_references, opened_tender
from tests.award.test_service import round_tender as award_round_tender
from tests.conftest import LOG_KEY, T0
from tests.tendering.conftest import ASPIRINA, NICOTINA, PARACETAMOL, World, build_world

UNITS = {"IMSS": ("HGZ-1", "UMF-7"), "ISSSTE": ("HR-1", "CM-2"), "SEDENA": ("HCM-1", "HM-2")}
FAR = date(2031, 12, 31)
"""An expiry far enough for any receipt of the tests."""


@dataclass(frozen=True, slots=True)
class Awarded:
    tender: Tender


def awarded(world: World, terms: dict[str, object] | None = None) -> Awarded:
    """The round's tender (announcing ``terms`` with its award terms), opened, evaluated and
    awarded at the lowest price, with units."""
    draft = award_round_tender(world, terms)
    buyer = world.buyer()
    for code, units in UNITS.items():
        for n, unit in enumerate(units):
            identity.add_unit(
                buyer,
                institution_code=code,
                unit=identity.UnitSpec(unit, f"Unidad {unit}", "hospital", f"{9 + n:02d}"),
            )
    offers = {
        "a": by_clave(world.db, draft, {PARACETAMOL: "9.50", ASPIRINA: "19.00"}),
        "b": by_clave(world.db, draft, {NICOTINA: "48.00"}),
    }
    opened = opened_tender(world, offers, draft=draft)
    import_references(world)
    evaluate(world, opened)
    award.issue_fallo(world.buyer(), tender_id=draft.id, mode=award_rules.Mode.LOWEST)
    return Awarded(draft)


def planner(world: World, code: str) -> Context:
    """The institution's planner (made by the round), acting now."""
    user = world.db.scalars(select(User).where(User.username == f"plan.{code.lower()}")).one()
    return Context(db=world.db, actor=identity.actor_of(user), now=world.now)


def supplier(world: World, key: str) -> Context:
    return world.as_supplier(key)


def contract_of(world: World, code: str, key: str) -> Contract:
    institution = world.db.scalars(select(Institution).where(Institution.code == code)).one()
    return world.db.scalars(
        select(Contract).where(
            Contract.institution_id == institution.id,
            Contract.supplier_id == world.suppliers[key].id,
        )
    ).one()


def signed(world: World, code: str, key: str, *, guarantee: bool = True) -> Contract:
    """The contract signed by both parties and, with ``guarantee``, vigente."""
    contract = contract_of(world, code, key)
    service.sign(planner(world, code), contract_id=contract.id, party="institucion")
    service.sign(supplier(world, key), contract_id=contract.id, party="proveedor")
    if guarantee:
        service.record_guarantee(
            supplier(world, key),
            contract_id=contract.id,
            issuer="Afianzadora Sofimex, S.A.",
            document_ref=f"Póliza {contract.number}",
        )
        assert contract.status == rules.VIGENTE
    return contract


def lots(*given: tuple[str, int], expiry: date = FAR) -> list[service.LotInput]:
    return [service.LotInput(lot, expiry, qty, "123M2015 SSA") for lot, qty in given]


@contextmanager
def committed(url: str, tmp_path: Path, *, secret: str = "test") -> Iterator[CommittedWorld]:
    """The awarded world built and committed in the database at ``url`` (``secret`` is the
    served app's, whose sealer must open the tender's key); its engine disposed at the end."""
    engine = make_engine(url)
    factory = session_factory(engine)
    clock = FixedClock(T0)
    settings = Settings(database_url=url, data_dir=tmp_path, secret_key=secret, log_key=LOG_KEY)
    try:
        with transaction(factory) as db:
            world = build_world(
                Context(db, operator("pruebas"), clock.now()), clock, settings, factory
            )
            tender = awarded(world).tender
        yield CommittedWorld(world, factory, tender.id, tender.number)
    finally:
        engine.dispose()


@dataclass
class CommittedWorld:
    world: World
    factory: sessionmaker[Session]
    tender_id: int
    tender_number: str
