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
