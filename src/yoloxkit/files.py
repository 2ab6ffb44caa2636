"""Crash-safe file writing shared by checkpoints, downloads and other outputs."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .errors import YoloxkitError


def new_file_mode() -> int:
    """Permission bits a newly created file gets under the current umask (e.g. 0o644)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_write(path: str | Path) -> Iterator[BinaryIO]:
    """Write ``path`` all or nothing: a temporary file beside it, fsync, then rename over it.

    If the body raises (or the process dies), ``path`` keeps its previous content and no
    temporary file stays behind. The result gets the usual permissions for new files (umask),
    not the owner-only mode of the temporary file. Failing to create the temporary file is a
    YoloxkitError naming ``path``; errors raised by the body propagate unchanged.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise YoloxkitError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)  # nothing left to remove after a successful rename
