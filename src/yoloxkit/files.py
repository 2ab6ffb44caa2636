"""Crash-safe file writing: every file yoloxkit writes goes through :func:`atomic_write`.

A file is written to a temporary ``.NAME.XXXX.part`` beside it, flushed to disk and renamed
over the target, so a kill, a full disk or an error leaves the previous file (or none) and
never a half-written one. Paths are handled by Python's file functions only (never by
OpenCV's), so any file name the operating system accepts works, including bytes that are
not UTF-8.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from .errors import YoloxkitError, last_line

if TYPE_CHECKING:
    import numpy as np

#: errno values that mean "the device is full" (no space, quota exceeded, file too large).
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def new_file_mode() -> int:
    """Permission bits a newly created file gets under the current umask (e.g. 0o644)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_error(path: str | Path, exc: OSError) -> YoloxkitError:
    """The one-line error for a failed write of ``path`` (a full disk says so plainly)."""
    if exc.errno in DISK_FULL_ERRNOS:
        return YoloxkitError(f"no space left on device while writing {path}")
    return YoloxkitError(f"cannot write {path}: {exc.strerror or exc}")


@contextmanager
def atomic_write(path: str | Path) -> Iterator[BinaryIO]:
    """Write ``path`` all or nothing: a temporary file beside it, fsync, then rename over it.

    If the body raises (or the process dies), ``path`` keeps its previous content and no
    temporary file stays behind (one left by a killed process is removed by
    :func:`remove_stale_parts`). The result gets the usual permissions for new files (umask),
    not the owner-only mode of the temporary file. An ``OSError`` while creating, flushing or
    renaming the file, and a full disk met by the body's writes, become a YoloxkitError naming
    ``path`` ("no space left on device while writing PATH"); other errors raised by the body
    (a failed download, say) propagate unchanged.
    """
    path = Path(path)
    if path.is_dir():
        raise YoloxkitError(f"cannot write {path}: it is a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            try:
                yield handle
            except OSError as exc:
                if exc.errno in DISK_FULL_ERRNOS:
                    raise write_error(path, exc) from None
                raise
            try:
                handle.flush()
                os.fsync(handle.fileno())
            except OSError as exc:
                raise write_error(path, exc) from None
        try:
            os.chmod(tmp, new_file_mode())
            os.replace(tmp, path)
        except OSError as exc:
            raise write_error(path, exc) from None
    finally:
        Path(tmp).unlink(missing_ok=True)  # nothing left to remove after a successful rename


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, creating its folder."""
    with atomic_write(path) as handle:
        handle.write(data)


def write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically, creating its folder."""
    write_bytes(path, text.encode("utf-8", errors="surrogateescape"))


def write_csv(path: str | Path, columns: Sequence[str], rows: Iterable[Mapping[str, object]]) -> None:
    """Write ``rows`` (dicts keyed by ``columns``) as CSV with a header, atomically; None is an empty cell."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    write_text(path, buffer.getvalue())


def json_text(data: object, indent: int | None = 1) -> str:
    """Strict JSON (no NaN or Infinity, which browsers and most parsers reject) with a newline.

    Raises a YoloxkitError naming the problem if ``data`` holds a non-finite number: callers
    must drop or replace such values first, never write invalid JSON.
    """
    try:
        return json.dumps(data, indent=indent, allow_nan=False) + "\n"
    except ValueError as exc:
        raise YoloxkitError(f"refusing to write invalid JSON ({exc})") from None


def without_nan(data: object) -> object:
    """``data`` with every non-finite float (NaN, +-inf: "undefined" in metrics) replaced by None."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: without_nan(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [without_nan(value) for value in data]
    return data


def write_json(path: str | Path, data: object, indent: int | None = 1) -> None:
    """Write ``data`` as strict JSON (see :func:`json_text`) to ``path`` atomically."""
    write_text(path, json_text(data, indent))


def encode_image(image: np.ndarray, suffix: str, name: str | Path = "image") -> bytes:
    """Encode a BGR image to the file format of ``suffix`` (``.jpg``, ``.png``, ...) in memory."""
    import cv2

    try:
        ok, encoded = cv2.imencode(suffix, image)
    except cv2.error as exc:
        raise YoloxkitError(f"cannot encode image {name}: {last_line(exc)}") from None
    if not ok:
        raise YoloxkitError(f"cannot encode image {name} as {suffix}")
    return encoded.tobytes()


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write a BGR image atomically in the format of the path's suffix.

    The pixels are encoded in memory (``cv2.imencode``) and written with Python's file
    functions: OpenCV's own file functions crash on names that are not UTF-8.
    """
    path = Path(path)
    write_bytes(path, encode_image(image, path.suffix or ".png", path))


def write_figure(path: str | Path, figure: object, **savefig: object) -> None:
    """Save a matplotlib figure atomically (rendered in memory, format from the suffix)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=Path(path).suffix.lstrip(".") or "png", **savefig)
    write_bytes(path, buffer.getvalue())


def opencv_path(path: str | Path) -> str:
    """``path`` as a string for OpenCV's own file functions (video files only).

    OpenCV crashes the interpreter on file names that are not valid UTF-8, so such a name is
    refused with a one-line error instead (images never go through OpenCV's file functions).
    """
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise YoloxkitError(f"video file name is not valid UTF-8, which OpenCV cannot open: {text!r}; rename the file") from None
    return text


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Silence what native libraries write straight to file descriptor 2 (absl, OpenVINO's
    frontends, FFmpeg) while the body runs; Python's own ``sys.stderr`` is flushed first."""
    import sys

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (embedded interpreters)
        yield
        return
    try:
        with open(os.devnull, "wb") as sink:
            os.dup2(sink.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def is_stale_part(path: Path) -> bool:
    """True for a temporary ``.NAME.XXXX.part`` file (or staging folder) left by a killed write."""
    return path.name.startswith(".") and path.name.endswith(".part")


def remove_stale_parts(folder: str | Path) -> int:
    """Remove temporary files of killed writes in ``folder`` and below; returns how many."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    removed = 0
    for part in sorted(folder.rglob(".*.part"), reverse=True):
        if part.is_dir() and not part.is_symlink():
            shutil.rmtree(part, ignore_errors=True)
        else:
            part.unlink(missing_ok=True)
        removed += 1
    return removed
