"""Checkpoints as Ed25519 signed notes: written, read back, and refused when altered."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import pytest

from abasto.core.signed_note import Checkpoint, NoteError, Signer, Verifier, unverified

AT = datetime(2026, 11, 2, 16, 0, tzinfo=UTC)
SIGNER = Signer.from_seed("abasto.test/bitacora", bytes(range(32)))
CHECKPOINT = Checkpoint("abasto.test/bitacora", 1234, hashlib.sha256(b"raiz").digest(), AT)


def test_a_signed_checkpoint_opens_with_its_key() -> None:
    note = SIGNER.sign(CHECKPOINT)
    assert note.startswith("abasto.test/bitacora\n1234\n")
    assert "\n\n\u2014 abasto.test/bitacora " in note
    assert SIGNER.verifier.open(note) == CHECKPOINT
    assert unverified(note) == CHECKPOINT


def test_the_verifier_key_is_in_go_note_format() -> None:
    encoded = SIGNER.verifier.encoded()
    name, key_id, raw = encoded.split("+", 2)
    assert name == "abasto.test/bitacora"
    decoded = base64.b64decode(raw)
    assert decoded[0] == 1
    assert len(decoded) == 33
    expected = hashlib.sha256(name.encode() + b"\n\x01" + decoded[1:]).digest()[:4]
    assert key_id == expected.hex()
    assert Verifier.parse(encoded) == SIGNER.verifier


@pytest.mark.parametrize(
    "change",
    [
        lambda note: note.replace("\n1234\n", "\n1235\n"),
        lambda note: note.replace("abasto.test", "abasto.otro", 1),
        lambda note: note.replace("2026-11-02", "2026-11-03"),
    ],
)
def test_an_altered_checkpoint_is_refused(change: object) -> None:
    note = SIGNER.sign(CHECKPOINT)
    altered = change(note)  # type: ignore[operator]
    assert altered != note
    with pytest.raises(NoteError):
        SIGNER.verifier.open(altered)


def test_another_key_does_not_open_it() -> None:
    other = Signer.from_seed("abasto.test/bitacora", bytes(32))
    with pytest.raises(NoteError):
        other.verifier.open(SIGNER.sign(CHECKPOINT))


def test_a_tampered_verifier_key_is_refused() -> None:
    name, key_id, raw = SIGNER.verifier.encoded().split("+", 2)
    with pytest.raises(NoteError):
        Verifier.parse(f"{name}+{'00000000' if key_id != '00000000' else '11111111'}+{raw}")
