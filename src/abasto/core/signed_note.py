"""Checkpoints as signed notes (transparency-dev's checkpoint format, Go's ``golang.org/x/mod/
sumdb/note``), signed with Ed25519.

A checkpoint's text is four lines, each ending in a newline:

    <origin>
    <tree size, decimal>
    <root hash, base64>
    <instant, ISO 8601 UTC>

then a blank line and the signature line ``— <key name> <base64(key id ‖ signature)>``, where the
key id is the first 4 bytes of SHA-256(key name ‖ "\\n" ‖ 0x01 ‖ public key) and the signature
covers the text. A verifier key is written ``<name>+<key id hex>+<base64(0x01 ‖ public key)>``, so
any note tool (Go's ``note.NewVerifier``) can check our checkpoints. Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALGORITHM_ED25519 = b"\x01"
SIGNATURE_DASH = "\u2014"


class NoteError(ValueError):
    """A checkpoint that cannot be read or whose signature does not hold; the message is Spanish
    because it reaches the person verifying."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    at: datetime

    def body(self) -> str:
        instant = self.at.astimezone(UTC).isoformat(timespec="seconds")
        root = base64.b64encode(self.root).decode()
        return f"{self.origin}\n{self.size}\n{root}\n{instant}\n"


def key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ALGORITHM_ED25519 + public).digest()[:4]


@dataclass(frozen=True, slots=True)
class Verifier:
    name: str
    public: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public)

    def encoded(self) -> str:
        raw = base64.b64encode(ALGORITHM_ED25519 + self.public).decode()
        return f"{self.name}+{self.key_id.hex()}+{raw}"

    @classmethod
    def parse(cls, text: str) -> Verifier:
        try:
            name, hex_id, raw = text.strip().split("+", 2)
            decoded = base64.b64decode(raw, validate=True)
        except (ValueError, binascii.Error):
            raise NoteError("La llave de verificación no tiene la forma nombre+id+llave.") from None
        if decoded[:1] != ALGORITHM_ED25519 or len(decoded) != 33:
            raise NoteError("La llave de verificación no es una llave Ed25519.")
        verifier = cls(name, decoded[1:])
        if verifier.key_id.hex() != hex_id.lower():
            raise NoteError("El identificador de la llave de verificación no corresponde a ella.")
        return verifier

    def open(self, note: str) -> Checkpoint:
        """The checkpoint a note holds, once its signature by this key is checked."""
        body, signatures = _split(note)
        for line in signatures:
            name, signature = _signature_line(line)
            if name != self.name or signature[:4] != self.key_id:
                continue
            try:
                Ed25519PublicKey.from_public_bytes(self.public).verify(signature[4:], body.encode())
            except InvalidSignature:
                raise NoteError(
                    "La firma del punto de control no es válida: el texto fue alterado o no lo "
                    "firmó esta llave."
                ) from None
            return parse_body(body)
        raise NoteError(
            f"El punto de control no trae una firma de la llave «{self.name}» "
            f"({self.key_id.hex()})."
        )


@dataclass(frozen=True, slots=True)
class Signer:
    name: str
    private: Ed25519PrivateKey

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> Signer:
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def verifier(self) -> Verifier:
        public = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return Verifier(self.name, public)

    def sign(self, checkpoint: Checkpoint) -> str:
        body = checkpoint.body()
        signature = self.verifier.key_id + self.private.sign(body.encode())
        encoded = base64.b64encode(signature).decode()
        return f"{body}\n{SIGNATURE_DASH} {self.name} {encoded}\n"


def _split(note: str) -> tuple[str, list[str]]:
    body, separator, rest = note.partition("\n\n")
    if not separator or not rest.endswith("\n"):
        raise NoteError("El punto de control no tiene la forma de una nota firmada.")
    return body + "\n", rest[:-1].split("\n")


def _signature_line(line: str) -> tuple[str, bytes]:
    parts = line.split(" ")
    if len(parts) != 3 or parts[0] != SIGNATURE_DASH:
        raise NoteError(f"Línea de firma no válida: «{line[:80]}».")
    try:
        return parts[1], base64.b64decode(parts[2], validate=True)
    except binascii.Error:
        raise NoteError("La firma del punto de control no está en base64.") from None


def parse_body(body: str) -> Checkpoint:
    lines = body.split("\n")
    if len(lines) != 5 or lines[4] != "":
        raise NoteError(
            "El punto de control debe tener cuatro líneas: origen, tamaño, raíz e instante."
        )
    origin, size, root, instant = lines[:4]
    try:
        parsed_size = int(size)
        parsed_root = base64.b64decode(root, validate=True)
        at = datetime.fromisoformat(instant)
    except (ValueError, binascii.Error):
        raise NoteError(
            "El tamaño, la raíz o el instante del punto de control no son válidos."
        ) from None
    if parsed_size < 0 or len(parsed_root) != 32 or at.tzinfo is None:
        raise NoteError("El tamaño, la raíz o el instante del punto de control no son válidos.")
    return Checkpoint(origin, parsed_size, parsed_root, at)


def unverified(note: str) -> Checkpoint:
    """What a note says, signature unchecked: only to show it, never to trust it."""
    return parse_body(_split(note)[0])
