"""Fixtures of contracts: the tendering world (its suppliers and staff) and an awarded tender."""

from __future__ import annotations

import pytest

from tests.contracts.factories import Awarded, awarded
from tests.tendering import conftest as tendering_world
from tests.tendering.conftest import World

world = tendering_world.world
cheap_passwords = tendering_world.cheap_passwords


@pytest.fixture
def fallo(world: World) -> Awarded:
    return awarded(world)
