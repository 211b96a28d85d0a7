"""Folders written all or nothing: staged beside their place, then swapped into it."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from abasto.core.errors import ValidationFailed


@contextmanager
def replacing(target: Path, *, marker: str, what: str) -> Iterator[Path]:
    """A hidden folder beside ``target`` to write into; when the block ends well it takes
    ``target``'s place, and when it fails it is removed and ``target`` stays as it was.

    ``target`` must be new, empty, or an earlier export of the same kind, told by the file
    ``marker`` in it: a folder of someone else's files is never replaced. The folder above
    ``target`` must exist.
    """
    if target.exists() and not target.is_dir():
        raise ValidationFailed(
            f"«{target}» es un archivo, no una carpeta.",
            expected="una carpeta nueva, vacía o una exportación anterior",
        )
    if target.is_dir() and any(target.iterdir()) and not (target / marker).is_file():
        raise ValidationFailed(
            f"La carpeta «{target}» no está vacía y no es una exportación {what} anterior "
            f"(no tiene {marker}); no se reemplaza.",
            expected="una carpeta nueva, vacía o una exportación anterior de Abasto",
        )
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield staging
        _swap(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap(staging: Path, target: Path) -> None:
    """``staging`` becomes ``target``; an earlier export there is removed only afterwards."""
    if not target.exists():
        staging.rename(target)
        return
    old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
    target.rename(old)
    try:
        staging.rename(target)
    except BaseException:
        old.rename(target)
        raise
    shutil.rmtree(old, ignore_errors=True)
