"""Settings read from the environment (``ABASTO_*``), with defaults that make the demo run."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    data_dir: Path
    secret_key: str
    max_body_bytes: int = 25 * 1024 * 1024
    token_ttl_days: int = 30
    session_ttl_hours: int = 12
    timezone: str = "America/Mexico_City"
    master_key: str = ""
    """Wraps each tender's data key (base64url of 32 bytes); empty derives one from secret_key."""
    opening_pace_seconds: float = 2.0
    """Pause between two bids opened by the background loop, so the public can follow."""
    tick_seconds: float = 1.0
    """How often ``abasto serve`` applies the deadlines that came due."""
    live_poll_seconds: float = 1.0
    """How often the live feed looks for entries no notification announced (see tendering.live)."""
    ocid_prefix: str = "ocds-abasto"
    """Prefix of every contracting process's ocid in the OCDS releases (registered with OCP)."""

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _secret_key(data_dir: Path) -> str:
    """The configured key, or one generated once and kept in the data folder for the demo."""
    configured = os.environ.get("ABASTO_SECRET_KEY")
    if configured:
        return configured
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    path.write_text(key)
    path.chmod(0o600)
    return key


def load_settings() -> Settings:
    data_dir = Path(os.environ.get("ABASTO_DATA_DIR", "data")).resolve()
    url = os.environ.get("ABASTO_DATABASE_URL") or f"sqlite:///{data_dir / 'abasto.db'}"
    return Settings(
        database_url=url,
        data_dir=data_dir,
        secret_key=_secret_key(data_dir),
        max_body_bytes=int(os.environ.get("ABASTO_MAX_BODY_BYTES", 25 * 1024 * 1024)),
        master_key=os.environ.get("ABASTO_MASTER_KEY", ""),
        opening_pace_seconds=float(os.environ.get("ABASTO_OPENING_PACE_SECONDS", "2")),
        live_poll_seconds=float(os.environ.get("ABASTO_LIVE_POLL_SECONDS", "1")),
        ocid_prefix=os.environ.get("ABASTO_OCID_PREFIX", "ocds-abasto"),
    )
