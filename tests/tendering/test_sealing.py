"""Sealing: data keys wrapped by the master key, AES-GCM bound to its bid, commitments."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from abasto.core.config import Settings
from abasto.core.ledger import canonical_json
from abasto.tendering import sealing
from abasto.tendering.sealing import Sealer, TenderKey, Unsealable

PLAINTEXT = {"supplier_id": 7, "salt": "00", "content": {"lines": [{"unit_price": "7319.47"}]}}


def settings(secret: str = "test-secret", master: str = "") -> Settings:
    return Settings(
        database_url="sqlite://", data_dir=Path("."), secret_key=secret, master_key=master
    )


@pytest.fixture
def sealer() -> Sealer:
    return Sealer.from_settings(settings())


@pytest.fixture
def key(sealer: Sealer) -> TenderKey:
    _, wrapped = sealer.new_key()
    return sealer.tender_key(1, wrapped)


def test_the_commitment_is_sha256_of_salt_then_canonical_content() -> None:
    salt = bytes(range(32))
    content = {"tender": "AB-2026-0001", "lines": [{"unit_price": "7319.47", "partida": 1}]}
    text = canonical_json(content)
    assert text == '{"lines":[{"partida":1,"unit_price":"7319.47"}],"tender":"AB-2026-0001"}'
    assert sealing.commitment(salt, text) == hashlib.sha256(salt + text.encode()).hexdigest()
    # The salt matters: without it, a guessed price could be checked against the commitment.
    assert sealing.commitment(sealing.new_salt(), text) != sealing.commitment(salt, text)


def test_salts_and_bid_ids_are_fresh_and_long() -> None:
    salts = {sealing.new_salt() for _ in range(50)}
    assert len(salts) == 50
    assert all(len(s) == sealing.SALT_BYTES == 32 for s in salts)
    ids = {sealing.new_bid_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def test_a_sealed_bid_opens_with_its_key_and_hides_its_content(key: TenderKey) -> None:
    sealed = key.seal("bid-1", PLAINTEXT)
    assert b"7319.47" not in sealed
    assert key.unseal("bid-1", sealed) == PLAINTEXT
    # A fresh nonce each time: the same bid sealed twice does not look the same.
    assert key.seal("bid-1", PLAINTEXT) != sealed


def test_another_key_does_not_open_it(sealer: Sealer, key: TenderKey) -> None:
    sealed = key.seal("bid-1", PLAINTEXT)
    _, other = sealer.new_key()
    with pytest.raises(Unsealable):
        sealer.tender_key(1, other).unseal("bid-1", sealed)


def test_the_ciphertext_is_bound_to_its_tender_and_bid(key: TenderKey) -> None:
    sealed = key.seal("bid-1", PLAINTEXT)
    with pytest.raises(Unsealable):
        key.unseal("bid-2", sealed)
    with pytest.raises(Unsealable):
        TenderKey(2, key.key).unseal("bid-1", sealed)


@pytest.mark.parametrize("position", [0, 11, 12, 40, -1])
def test_any_flipped_byte_is_detected(key: TenderKey, position: int) -> None:
    sealed = bytearray(key.seal("bid-1", PLAINTEXT))
    sealed[position] ^= 0x01
    with pytest.raises(Unsealable):
        key.unseal("bid-1", bytes(sealed))


def test_a_truncated_ciphertext_is_detected(key: TenderKey) -> None:
    with pytest.raises(Unsealable):
        key.unseal("bid-1", key.seal("bid-1", PLAINTEXT)[:5])


def test_tags_are_keyed_and_deterministic(sealer: Sealer, key: TenderKey) -> None:
    assert key.tag("owner", 7) == key.tag("owner", 7)
    assert key.tag("owner", 7) != key.tag("owner", 8)
    # The separator keeps ("a", "bc") apart from ("ab", "c").
    assert key.tag("a", "bc") != key.tag("ab", "c")
    _, wrapped = sealer.new_key()
    assert sealer.tender_key(1, wrapped).tag("owner", 7) != key.tag("owner", 7)
    assert len(key.tag("owner", 7)) == 64


def test_the_wrapped_key_hides_the_data_key_and_needs_the_master(sealer: Sealer) -> None:
    raw, wrapped = sealer.new_key()
    assert len(raw) == 32
    assert raw not in wrapped
    assert sealer.tender_key(5, wrapped) == TenderKey(5, raw)
    with pytest.raises(Unsealable):
        Sealer.from_settings(settings(secret="another-secret")).tender_key(5, wrapped)
    with pytest.raises(Unsealable):
        sealer.tender_key(5, wrapped[:-1] + bytes([wrapped[-1] ^ 1]))


def test_the_master_key_is_derived_from_the_secret_unless_configured() -> None:
    derived = sealing.master_key(settings())
    assert derived == sealing.master_key(settings())
    assert derived != sealing.master_key(settings(secret="another-secret"))
    assert len(derived) == 32
    configured = bytes(range(32))
    text = base64.urlsafe_b64encode(configured).decode().rstrip("=")
    assert len(text) == 43
    assert sealing.master_key(settings(master=text)) == configured
    assert sealing.master_key(settings(master=text + "=")) == configured


@pytest.mark.parametrize("bad", ["corta", base64.urlsafe_b64encode(bytes(16)).decode(), "!!!!"])
def test_a_bad_master_key_is_refused_with_the_expected_form(bad: str) -> None:
    with pytest.raises(ValueError, match="32 bytes en base64url"):
        sealing.master_key(settings(master=bad))
