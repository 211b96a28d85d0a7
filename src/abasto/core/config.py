"""Settings read from the environment (``ABASTO_*``), with defaults that make the demo run."""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PUBLIC_URL = "http://localhost:8000"
POLICY_PATH = "/api/v1/ocds/policy"
"""The deployment's own public route that states its OCDS publication policy."""


def policy_url(public_url: str) -> str:
    return f"{public_url.rstrip('/')}{POLICY_PATH}"


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
    log_key: str = ""
    """Signs the ledger's checkpoints: base64 of a 32-byte Ed25519 seed, from ``ABASTO_LOG_KEY``
    or the file ``log_key`` in the data folder (which only ``abasto demo`` writes). Empty: no
    checkpoint is signed (see docs/security.md)."""
    log_origin: str = "abasto.local/bitacora"
    """The log's name in its checkpoints (their first line) and its key's name."""
    checkpoint_seconds: float = 60.0
    """How often the tick signs a checkpoint when the ledger has grown."""
    public_url: str = DEFAULT_PUBLIC_URL
    """Where the public reaches this deployment (``ABASTO_PUBLIC_URL``), e.g.
    ``https://abasto.salud.gob.mx``: the base of links in what it publishes."""
    indicators_dir: Path | None = None
    """Where the national path of the daily inventory indicators keeps its Parquet files and
    per-pair state (``ABASTO_INDICATORS_DIR``): with it the tick rolls yesterday's indicators
    from the day before's (``inventory.service.snapshot_incremental``); without it the tick
    computes them pair by pair with the rules (``snapshot``), enough below national scale."""
    ocds_policy_url: str = ""
    """The OCDS packages' ``publicationPolicy`` (``ABASTO_OCDS_POLICY_URL``); empty: the
    deployment's own public policy route, ``{public_url}/api/v1/ocds/policy``."""

    @property
    def publication_policy(self) -> str:
        return self.ocds_policy_url or policy_url(self.public_url)

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


LOG_KEY_FILE = "log_key"


def _log_key(data_dir: Path) -> str:
    """``ABASTO_LOG_KEY``, or the demo's key file; never generated here, so a server without a
    configured key signs nothing rather than signing with a key nobody kept."""
    configured = os.environ.get("ABASTO_LOG_KEY")
    if configured:
        return configured.strip()
    path = data_dir / LOG_KEY_FILE
    return path.read_text().strip() if path.exists() else ""


def write_demo_log_key(data_dir: Path) -> Path | None:
    """Give the demo a checkpoint key of its own, in its data folder (outside the database);
    returns the file when it was created now."""
    path = data_dir / LOG_KEY_FILE
    if os.environ.get("ABASTO_LOG_KEY") or path.exists():
        return None
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(base64.b64encode(secrets.token_bytes(32)).decode())
    path.chmod(0o600)
    return path


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
        log_key=_log_key(data_dir),
        log_origin=os.environ.get("ABASTO_LOG_ORIGIN", "abasto.local/bitacora"),
        checkpoint_seconds=float(os.environ.get("ABASTO_CHECKPOINT_SECONDS", "60")),
        public_url=os.environ.get("ABASTO_PUBLIC_URL", DEFAULT_PUBLIC_URL).strip().rstrip("/"),
        ocds_policy_url=os.environ.get("ABASTO_OCDS_POLICY_URL", "").strip(),
        indicators_dir=Path(found).resolve()
        if (found := os.environ.get("ABASTO_INDICATORS_DIR", "").strip())
        else None,
    )
