"""The public ledger page: the signed checkpoint and a verify button anyone may press."""

from __future__ import annotations

from fastapi.testclient import TestClient

from abasto.core import checkpoints
from abasto.core.context import Context
from abasto.core.ledger import Record
from abasto.core.signed_note import Signer
from tests.core.test_checkpoints import _cover_tracks, _drop_last_seals


def test_the_ledger_page_shows_the_checkpoint_and_verifies(
    client: TestClient, ctx: Context, signer: Signer
) -> None:
    ctx.record_many([Record("bid.seal", f"x:{i}", {"n": i}) for i in range(12)])
    made = checkpoints.publish(ctx.db, signer, now=ctx.now)
    page = client.get("/bitacora")
    assert page.status_code == 200
    assert "Punto de control firmado" in page.text
    assert made.root_hash in page.text
    assert "Verificar la bitácora" in page.text
    assert 'hx-get="/bitacora/verificar"' in page.text

    checked = client.get("/bitacora/verificar", headers={"HX-Request": "true"})
    assert checked.status_code == 200
    assert "Bitácora íntegra" in checked.text
    assert "<html" not in checked.text

    kept = client.get("/api/v1/ledger/checkpoint").text
    _drop_last_seals(ctx)
    _cover_tracks(ctx)
    caught = client.get("/bitacora/verificar", params={"punto": kept})
    assert caught.status_code == 200
    assert "Bitácora alterada" in caught.text
    assert "se eliminaron entradas ya publicadas" in caught.text
    assert "<html" in caught.text
