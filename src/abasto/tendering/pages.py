"""Pages of tendering: the public tender list and page, the live opening, the workspaces."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
