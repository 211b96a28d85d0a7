"""JSON routes of red flags."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/redflags", tags=["banderas rojas"])
