"""JSON routes of the portal: a clave's price history, a supplier's and an institution's record."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["portal"])
