"""Text normalisation shared by header matching, catalog search and name matching."""

from __future__ import annotations

import re
import unicodedata
from typing import TypeVar, cast

T = TypeVar("T")

_NOT_WORD = re.compile(r"[^0-9a-z]+")


def strip_accents(text: str) -> str:
    """Remove diacritics (á → a, ñ → n, ü → u) keeping the base letters."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def fold(text: str) -> str:
    """Lower-case, accent-free, punctuation as single spaces: the form two spellings share."""
    return " ".join(_NOT_WORD.sub(" ", strip_accents(text).lower()).split())


BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
"""The embedding, override and isolate controls (U+202A–U+202E, U+2066–U+2069): invisible, they
reorder how the text around them is shown, so «moc.lagel» can display as «legal.com»
(Trojan Source, CVE-2021-42574)."""
_BIDI_TABLE = dict.fromkeys(map(ord, BIDI_CONTROLS))


def clean_text(text: str) -> str:
    """User text as it is kept: without bidirectional controls (see ``BIDI_CONTROLS``).

    Applied where text enters: request bodies (``web/limits.CleanText``) and the cells of
    uploaded sheets (``core/spreadsheet``)."""
    return text.translate(_BIDI_TABLE) if not BIDI_CONTROLS.isdisjoint(text) else text


FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a cell as a formula (OWASP, CSV injection)."""
_NUMBER = re.compile(r"[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?")


def neutralise_cell(value: T) -> T:
    """A value as written into a CSV or XLSX cell that a spreadsheet cannot run as a formula.

    Text that starts like a formula gets a leading apostrophe (the OWASP advice; Excel and
    LibreOffice then show it as text); numbers, and text that is just a number such as «-5»
    or «+52», stay as they are, and so does a lone sign («-» for nothing). Everything every
    CSV/XLSX writer puts in a cell passes through here; ``core/spreadsheet`` drops that
    apostrophe again when it reads a file back.
    """
    if (
        isinstance(value, str)
        and len(value) > 1
        and value.startswith(FORMULA_LEADS)
        and not _NUMBER.fullmatch(value)
    ):
        return cast(T, "'" + value)
    return value


def restore_cell(value: str) -> str:
    """Undo ``neutralise_cell`` on a cell read from a file (ours, or one edited in Excel)."""
    if value.startswith("'") and value[1:2] and value[1:].startswith(FORMULA_LEADS):
        return value[1:]
    return value


CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
"""Characters no text Abasto keeps may hold: the C0 controls but tab, line feed and carriage
return, DEL, and lone surrogates (no UTF-8 encodes them). PostgreSQL refuses NUL in any text,
so a NUL that reached a query answered 500; the others are never typed by a person."""
CONTROLS_EXPECTED = "texto sin caracteres de control (sólo tabulador y saltos de línea)"


def first_control(text: str) -> int | None:
    """The position of the first character no text may hold (``CONTROLS``), or None."""
    found = CONTROLS.search(text)
    return found.start() if found else None
