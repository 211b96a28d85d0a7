"""Decode a text file (CSV) in the encoding it was written in, or refuse it when unsure.

Mexican offices save CSV as UTF-8 (with or without BOM, Excel's «CSV UTF-8»), as Windows-1252
(Excel's plain «CSV» on Windows; Latin-1 text reads the same) or, now and then, in an old DOS
or Mac code page. Read in the wrong one, "Ácido acetilsalicílico" becomes
"µcido acetilsalic¡lico" without any error, and an import would store it over a good text.
So a file that is not UTF-8 is read as Windows-1252 only when the result looks like Spanish:
no sign in the middle of a word, no letter Spanish text does not use. Otherwise it is refused
and the user names the encoding (``--encoding`` on the command line, ``encoding`` on the API).
"""

from __future__ import annotations

import codecs
import unicodedata

from abasto.core.errors import ValidationFailed

ENCODINGS = ("utf-8", "cp1252", "latin-1", "cp850", "mac-roman", "utf-16")
"""The encodings messages suggest; any codec Python knows may be named."""

ENCODING_EXPECTED = (
    "un archivo guardado como «CSV UTF-8» (en Excel: Guardar como › CSV UTF-8), o la"
    " codificación indicada (--encoding, o el campo encoding de la API): " + ", ".join(ENCODINGS)
)

# Letters of Spanish text, and of the French, Portuguese or German names a catalog may carry.
_LATIN_LETTERS = frozenset("áéíóúüñàèìòùâêîôûäëïöçãõÁÉÍÓÚÜÑÀÈÌÒÙÂÊÎÔÛÄËÏÖÇÃÕ")
_SAMPLE_CHARS = 1_000_000
"""How much of the decoded text the heuristic reads: enough for any real catalog's oddities."""
_ODD_SHARE = 20
"""Odd words tolerated: one per this many accented letters (a wrong code page makes nearly
every accented letter odd)."""


def decode_text(content: bytes, filename: str, encoding: str | None = None) -> str:
    """The text of ``content``: in ``encoding`` when given, else UTF-8 (BOM or not), UTF-16
    with a BOM, or Windows-1252 when it reads as plausible text; ``ValidationFailed`` otherwise.
    """
    if encoding is not None:
        return _decode_as(content, filename, encoding)
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Excel's "Unicode text" export.
        return _decode_as(content, filename, "utf-16")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        decoded = content.decode("cp1252")
    except UnicodeDecodeError as exc:
        # The five bytes Windows-1252 leaves undefined are control characters in Latin-1:
        # no text holds them, so the file is in some other encoding.
        raise _unsure(filename, f"el byte 0x{content[exc.start]:02X} no es texto") from None
    odd = implausible_word(decoded)
    if odd is not None:
        raise _unsure(filename, f"leído como Windows-1252 da «{odd}»")
    return decoded


def implausible_word(text: str) -> str | None:
    """The first word showing that ``text`` was decoded with the wrong code page, or None.

    Such a word has, between two letters, a character that is not a letter (``¡``, ``¢``,
    ``‚``: DOS's í, ó, é) or a letter no Spanish text uses (``Ž``: the Mac's é). Real files
    hold a stray one now and then (the 2025-2026 template writes «DISE¥O» once among
    thousands of accented words), so the text is judged wrong only when such words are more
    than one in ``_ODD_SHARE`` of the words with non-ASCII letters.
    """
    sample = text[:_SAMPLE_CHARS]
    first: str | None = None
    odd = plausible = 0
    for index, char in enumerate(sample):
        if char.isascii():
            continue
        before = sample[index - 1] if index > 0 else " "
        after = sample[index + 1] if index + 1 < len(sample) else " "
        if char in _LATIN_LETTERS:
            plausible += 1
            continue
        inside_word = before.isalpha() and after.isalpha()
        foreign_letter = unicodedata.category(char).startswith("L") and (
            before.isalpha() or after.isalpha()
        )
        if inside_word or (foreign_letter and not _is_greek_or_micro(char)):
            odd += 1
            first = first or _word_at(sample, index)
    if odd and odd * _ODD_SHARE > plausible:
        return first
    return None


def _is_greek_or_micro(char: str) -> bool:
    # µg, β-lactámico, α-amilasa: units and names catalogs do write.
    return char == "µ" or "GREEK" in unicodedata.name(char, "")


def _word_at(text: str, index: int) -> str:
    start = index
    while start > 0 and not text[start - 1].isspace() and index - start < 30:
        start -= 1
    end = index + 1
    while end < len(text) and not text[end].isspace() and end - index < 30:
        end += 1
    return text[start:end]


def _decode_as(content: bytes, filename: str, encoding: str) -> str:
    try:
        codec = codecs.lookup(encoding)
    except LookupError:
        raise ValidationFailed(
            f"«{encoding}» no es una codificación conocida", expected=ENCODING_EXPECTED
        ) from None
    try:
        decoded = content.decode(codec.name)
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            f"El archivo «{filename}» no está en {encoding}: el byte 0x{content[exc.start]:02X}"
            f" (posición {exc.start:,}) no es válido en esa codificación",
            expected=ENCODING_EXPECTED,
        ) from None
    return decoded.removeprefix("\ufeff")


def _unsure(filename: str, why: str) -> ValidationFailed:
    return ValidationFailed(
        f"No se reconoce la codificación del archivo «{filename}»: no es UTF-8 y {why};"
        " no se importó nada",
        expected=ENCODING_EXPECTED,
    )
