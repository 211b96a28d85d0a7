"""JSON routes of OCDS: release packages and record packages."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/ocds", tags=["datos abiertos (OCDS)"])
