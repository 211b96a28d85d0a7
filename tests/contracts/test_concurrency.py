"""Orders racing for the last pieces of a contract line, in a committed database: the contract's
row lock makes them wait for each other, so together they never pass the maximum."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import func, select

from abasto.contracts import service
from abasto.contracts.models import SupplyOrder
from abasto.core.context import Context
from abasto.core.db import transaction
from abasto.core.errors import Conflict
from abasto.identity import service as identity
from abasto.identity.models import User
from tests.contracts.factories import committed, signed
from tests.tendering.conftest import ASPIRINA


def _planner(db: object, now: object) -> Context:
    user = db.scalars(select(User).where(User.username == "plan.imss")).one()  # type: ignore[attr-defined]
    return Context(db=db, actor=identity.actor_of(user), now=now)  # type: ignore[arg-type]


def test_concurrent_orders_never_exceed_the_maximum(
    fresh_database_url: str, tmp_path: Path, cheap_passwords: None
) -> None:
    with committed(fresh_database_url, tmp_path) as built:
        factory, world = built.factory, built.world
        with transaction(factory) as db:
            world.db = db
            service.create_contracts(world.buyer(), tender_id=built.tender_id)
            contract_id = signed(world, "IMSS", "a").id
        now = world.now

        # One order holds the contract (uncommitted); a second must wait, then see it.
        first = factory()
        service.issue_order(
            _planner(first, now),
            contract_id=contract_id,
            clave=ASPIRINA,
            quantity=200,
            unit_code="HGZ-1",
        )
        outcome: list[BaseException | None] = []

        def second() -> None:
            try:
                with transaction(factory) as db:
                    service.issue_order(
                        _planner(db, now),
                        contract_id=contract_id,
                        clave=ASPIRINA,
                        quantity=200,
                        unit_code="HGZ-1",
                    )
                outcome.append(None)
            except BaseException as exc:  # reported to the test below
                outcome.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        thread.join(timeout=1)
        assert thread.is_alive(), "the second order did not wait for the first"
        first.commit()
        first.close()
        thread.join(timeout=30)
        [refused] = outcome
        assert isinstance(refused, Conflict)
        assert "quedan 100" in str(refused)

        # Eight more race for the last 100 in orders of 30: exactly three fit.
        results: list[BaseException | None] = []
        start = threading.Barrier(8)

        def racer() -> None:
            start.wait()
            try:
                with transaction(factory) as db:
                    service.issue_order(
                        _planner(db, now),
                        contract_id=contract_id,
                        clave=ASPIRINA,
                        quantity=30,
                        unit_code="UMF-7",
                    )
                results.append(None)
            except BaseException as exc:  # reported to the test below
                results.append(exc)

        racers = [threading.Thread(target=racer) for _ in range(8)]
        for t in racers:
            t.start()
        for t in racers:
            t.join(timeout=60)
        assert results.count(None) == 3
        assert all(isinstance(r, Conflict) for r in results if r is not None)
        with transaction(factory) as db:
            total = db.scalar(
                select(func.sum(SupplyOrder.quantity)).where(SupplyOrder.contract_id == contract_id)
            )
            assert total == 290
