"""Pages of open data: the download page and the files it links to."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
