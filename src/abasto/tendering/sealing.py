"""Sealing bids: a data key per tender wrapped by the master key, AES-GCM, commitments.

A bid's commitment is ``sha256(salt ‖ canonical content)`` in hex, where ``salt`` is 32 random
bytes given to the bidder in its receipt and published at the opening, and the canonical content
is the bid as canonical JSON (sorted keys, Decimals as strings). Anyone can recompute it after the
opening from the acta; before it, the commitment reveals nothing (the salt is secret).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from abasto.core.config import Settings
from abasto.core.ledger import canonical_json

NONCE_BYTES = 12
SALT_BYTES = 32


class Unsealable(Exception):
    """A sealed text that its key does not open: it was altered, moved or is not ours."""


def commitment(salt: bytes, content: str) -> str:
    return hashlib.sha256(salt + content.encode()).hexdigest()


def master_key(settings: Settings) -> bytes:
    """The configured master key, or one derived from the secret key (the demo's default)."""
    if settings.master_key:
        padded = settings.master_key + "=" * (-len(settings.master_key) % 4)
        try:
            key = base64.urlsafe_b64decode(padded)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise ValueError("ABASTO_MASTER_KEY debe ser 32 bytes en base64url (p. ej. 43 chars)")
        return key
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=b"abasto tender master key").derive(
        settings.secret_key.encode()
    )


@dataclass(frozen=True, slots=True)
class TenderKey:
    """The unwrapped data key of one tender."""

    tender_id: int
    key: bytes

    def seal(self, bid_id: str, plaintext: dict[str, Any]) -> bytes:
        return self.seal_json(bid_id, canonical_json(plaintext))

    def seal_json(self, bid_id: str, plaintext: str) -> bytes:
        """``seal`` of the plaintext already in canonical JSON."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + AESGCM(self.key).encrypt(nonce, plaintext.encode(), self._aad(bid_id))

    def unseal(self, bid_id: str, sealed: bytes) -> dict[str, Any]:
        nonce, body = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        try:
            data = AESGCM(self.key).decrypt(nonce, body, self._aad(bid_id))
        except (InvalidTag, ValueError):
            raise Unsealable(bid_id) from None
        opened: dict[str, Any] = json.loads(data)
        return opened

    def tag(self, *parts: object) -> str:
        """An HMAC under the tender's key: links rows to a secret without revealing it."""
        message = "\x1f".join(str(part) for part in parts).encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()

    def _aad(self, bid_id: str) -> bytes:
        # Binding the ciphertext to its tender and bid: moved to another row, it will not open.
        return f"abasto:{self.tender_id}:{bid_id}".encode()


KEPT_KEYS = 1024
"""Tenders whose unwrapped data key a ``Sealer`` keeps (the most recently opened)."""


@dataclass(frozen=True, slots=True)
class Sealer:
    """Holds the master key; makes and opens tenders' data keys, and keeps the keys it opened
    (holding the master key, it could open them again at any time)."""

    master: bytes
    _opened: OrderedDict[int, tuple[bytes, TenderKey]] = field(
        default_factory=OrderedDict, compare=False, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Sealer:
        return cls(master_key(settings))

    def new_key(self) -> tuple[bytes, bytes]:
        """A fresh data key and its wrapped form (what the database keeps)."""
        key = AESGCM.generate_key(bit_length=256)
        return key, aes_key_wrap(self.master, key)

    def tender_key(self, tender_id: int, wrapped: bytes) -> TenderKey:
        kept = self._opened.get(tender_id)
        if kept is not None and kept[0] == wrapped:
            return kept[1]
        try:
            key = TenderKey(tender_id, aes_key_unwrap(self.master, wrapped))
        except InvalidUnwrap:
            raise Unsealable(f"tender {tender_id}") from None
        with self._lock:
            self._opened[tender_id] = (wrapped, key)
            self._opened.move_to_end(tender_id)
            while len(self._opened) > KEPT_KEYS:
                self._opened.popitem(last=False)
        return key

    def opened_key(self, tender_id: int) -> TenderKey | None:
        """The key of this tender as last opened here, if it was: a guess that lets a caller
        use it before reading the tender's wrapped key, and check it after (``tender_key``)."""
        kept = self._opened.get(tender_id)
        return None if kept is None else kept[1]


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


def new_bid_id() -> str:
    return secrets.token_hex(16)
