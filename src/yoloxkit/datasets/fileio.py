"""Small file helpers shared by the format readers and writers."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import orjson

from .. import files
from ..errors import YoloxkitError


class DataFileError(YoloxkitError):
    """A file that cannot be parsed at all; carries its file and line for reports."""

    def __init__(self, file: Path, message: str, line: int | None = None) -> None:
        self.file, self.message, self.line = str(file), message, line
        super().__init__(f"{file}:{line}: {message}" if line else f"{file}: {message}")


def read_text(path: Path, allow_empty: bool = False) -> str:
    """The text of an annotation file; a missing, undecodable or (unless allowed) empty file is an error."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataFileError(path, f"cannot read ({exc.strerror or exc})") from None
    if not data.strip() and not allow_empty:
        raise DataFileError(path, "empty file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFileError(path, f"not UTF-8 text (byte {exc.start})") from None


def parse_json(text: str | bytes) -> object:
    """``json.loads`` semantics, parsed by orjson (3-5x faster on large COCO files).

    orjson is strict (no NaN, no Infinity, no BOM); whatever it refuses is parsed again by the
    standard library, which accepts those and raises the ``json.JSONDecodeError`` with line and
    column that the callers report.
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text.decode("utf-8-sig") if isinstance(text, bytes) else text)


def format_number(value: float) -> str:
    """Shortest text that reads back to the same float; integral values without a decimal point."""
    value = float(value)
    if math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def json_number(value: float) -> int | float:
    """A float as JSON wants it: integral values as int (``504`` rather than ``504.0``)."""
    value = float(value)
    return int(value) if math.isfinite(value) and value.is_integer() and abs(value) < 2**53 else value


def link_or_copy(source: Path, target: Path) -> None:
    """Put ``source`` at ``target`` as a hard link when possible, else as a copy (never a move)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        if target.samefile(source):
            return
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def write_text(path: Path, text: str) -> None:
    """Write a UTF-8 text file atomically, creating its folder."""
    files.write_text(path, text)
