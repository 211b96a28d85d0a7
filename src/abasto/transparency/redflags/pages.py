"""Pages of red flags: the public view of every flag, explained."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
