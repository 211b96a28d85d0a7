"""Pages of open data: the download page and the files it links to, one route per file."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from typing import IO, Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from abasto.core.context import Context
from abasto.transparency.opendata import service
from abasto.transparency.opendata.tables import KIND_LABELS, TABLES, Table
from abasto.web.deps import public
from abasto.web.templating import render

router = APIRouter(include_in_schema=False)

Public = Annotated[Context, Depends(public)]

SPOOL = 16 * 1024 * 1024
"""A file up to this size is built in memory; a larger one spills to a temporary file."""
CHUNK = 256 * 1024


@router.get("/datos-abiertos")
def opendata_page(request: Request, ctx: Public) -> Response:
    """Every public table: what it holds, its columns, its rows, and its files."""
    return render(
        request,
        "transparency/opendata.html",
        ctx,
        tables=TABLES,
        counts=service.row_counts(ctx.db),
        kind_label=lambda kind: KIND_LABELS.get(kind, "texto"),
    )


@router.get(f"/datos-abiertos/{service.MANIFEST}")
def datapackage(ctx: Public) -> Response:
    """Every file of this page as a Frictionless data package: types, keys, descriptions."""
    counts = service.row_counts(ctx.db)
    files = [
        (t.name, fmt, f"{t.name}.{fmt}", counts[t.name]) for t in TABLES for fmt in service.FORMATS
    ]
    return JSONResponse(
        service.datapackage(files, ctx.now),
        headers={"Content-Disposition": f'inline; filename="{service.MANIFEST}"'},
    )


def _chunks(spool: IO[bytes]) -> Iterator[bytes]:
    try:
        spool.seek(0)
        yield from iter(lambda: spool.read(CHUNK), b"")
    finally:
        spool.close()


def _download(table: Table, fmt: str) -> Callable[[Public], Response]:
    def download(ctx: Public) -> Response:
        # Written whole before the answer starts: the request's session ends with the route.
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL)  # noqa: SIM115 (_chunks closes it)
        try:
            service.write(ctx.db, table, fmt, spool)
        except BaseException:
            spool.close()
            raise
        return StreamingResponse(
            _chunks(spool),
            media_type=service.MEDIA_TYPES[fmt],
            headers={"Content-Disposition": f'attachment; filename="{table.name}.{fmt}"'},
        )

    download.__doc__ = f"{table.title} en {fmt.upper()}."
    return download


for _table in TABLES:
    for _fmt in service.FORMATS:
        router.add_api_route(
            f"/datos-abiertos/{_table.name}.{_fmt}",
            _download(_table, _fmt),
            methods=["GET"],
            name=f"datos_{_table.name}_{_fmt}",
        )
