"""Text normalisation shared by header matching, catalog search and name matching."""

from __future__ import annotations

import re
import unicodedata

_NOT_WORD = re.compile(r"[^0-9a-z]+")


def strip_accents(text: str) -> str:
    """Remove diacritics (á → a, ñ → n, ü → u) keeping the base letters."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def fold(text: str) -> str:
    """Lower-case, accent-free, punctuation as single spaces: the form two spellings share."""
    return " ".join(_NOT_WORD.sub(" ", strip_accents(text).lower()).split())


CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
"""Characters no text Abasto keeps may hold: the C0 controls but tab, line feed and carriage
return, DEL, and lone surrogates (no UTF-8 encodes them). PostgreSQL refuses NUL in any text,
so a NUL that reached a query answered 500; the others are never typed by a person."""
CONTROLS_EXPECTED = "texto sin caracteres de control (sólo tabulador y saltos de línea)"


def first_control(text: str) -> int | None:
    """The position of the first character no text may hold (``CONTROLS``), or None."""
    found = CONTROLS.search(text)
    return found.start() if found else None
