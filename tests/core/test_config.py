"""Settings: the ledger's checkpoint key comes from the environment or the demo's own file."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from abasto.core import checkpoints
from abasto.core.config import LOG_KEY_FILE, load_settings, write_demo_log_key


def test_without_a_key_nothing_signs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ABASTO_LOG_KEY", raising=False)
    monkeypatch.setenv("ABASTO_DATA_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.log_key == ""
    assert checkpoints.signer_from_settings(settings) is None
    assert not (tmp_path / LOG_KEY_FILE).exists()


def test_the_demo_writes_its_own_key_outside_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ABASTO_LOG_KEY", raising=False)
    monkeypatch.setenv("ABASTO_DATA_DIR", str(tmp_path))
    written = write_demo_log_key(tmp_path)
    assert written == tmp_path / LOG_KEY_FILE
    assert written.stat().st_mode & 0o777 == 0o600
    assert write_demo_log_key(tmp_path) is None
    signer = checkpoints.signer_from_settings(load_settings())
    assert signer is not None
    assert signer.name == "abasto.local/bitacora"


def test_the_environment_key_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = base64.urlsafe_b64encode(bytes(range(1, 33))).decode().rstrip("=")
    monkeypatch.setenv("ABASTO_LOG_KEY", key)
    monkeypatch.setenv("ABASTO_LOG_ORIGIN", "abasto.gob.mx/bitacora")
    monkeypatch.setenv("ABASTO_DATA_DIR", str(tmp_path))
    assert write_demo_log_key(tmp_path) is None
    signer = checkpoints.signer_from_settings(load_settings())
    assert signer is not None
    assert signer.name == "abasto.gob.mx/bitacora"


def test_a_malformed_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ABASTO_LOG_KEY", "corta")
    monkeypatch.setenv("ABASTO_DATA_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="32-byte"):
        checkpoints.signer_from_settings(load_settings())
