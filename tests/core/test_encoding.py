"""Decoding text files: UTF-8 first, Windows-1252 when it reads as Spanish, else refused."""

from __future__ import annotations

import pytest

from abasto.core.encoding import decode_text
from abasto.core.errors import ValidationFailed

TEXT = (
    "Clave,Descripción\n"
    "010.000.0101.00,Ácido acetilsalicílico 300 mg. Envase con 20 tabletas.\n"
    "060.066.0021,Algodón. Torunda de algodón; 25 µg, 4 °C, «Ñandú».\n"
)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"])
def test_utf8_utf16_windows_and_latin1_read_without_being_named(encoding: str) -> None:
    assert decode_text(TEXT.encode(encoding), "c.csv") == TEXT


@pytest.mark.parametrize("encoding", ["cp850", "mac-roman"])
def test_a_dos_or_mac_file_is_refused_naming_the_word_then_read_when_named(
    encoding: str,
) -> None:
    content = TEXT.encode(encoding)

    with pytest.raises(ValidationFailed) as refused:
        decode_text(content, "c.csv")

    assert "No se reconoce la codificación del archivo «c.csv»" in refused.value.detail
    assert "Descripci" in refused.value.detail
    assert decode_text(content, "c.csv", encoding) == TEXT


def test_a_byte_windows_1252_leaves_undefined_is_refused() -> None:
    with pytest.raises(ValidationFailed) as refused:
        decode_text("Descripción\n".encode("latin-1") + b"\x81\n", "c.csv")
    assert "el byte 0x81 no es texto" in refused.value.detail


def test_a_stray_odd_word_among_many_accented_ones_is_kept() -> None:
    text = TEXT * 10 + "060.908.0544,DISE¥O ERGONÓMICO\n"
    assert decode_text(text.encode("cp1252"), "c.csv") == text


def test_a_named_encoding_that_does_not_fit_is_refused() -> None:
    with pytest.raises(ValidationFailed) as wrong:
        decode_text(TEXT.encode("cp1252"), "c.csv", "utf-8")
    with pytest.raises(ValidationFailed) as unknown:
        decode_text(TEXT.encode("utf-8"), "c.csv", "klingon")
    assert "no está en utf-8" in wrong.value.detail
    assert "«klingon» no es una codificación conocida" in wrong.value.detail + unknown.value.detail
