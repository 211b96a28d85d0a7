"""Fixtures of «Mis pendientes»: the tendering world (its suppliers and staff)."""

from __future__ import annotations

from tests.tendering import conftest as tendering_world

world = tendering_world.world
cheap_passwords = tendering_world.cheap_passwords
