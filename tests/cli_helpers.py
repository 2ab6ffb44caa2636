"""Helpers for the CLI tests: run the command in-process, check one-line errors, snapshot folders, make hostile files."""

from __future__ import annotations

import hashlib
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from yoloxkit.cli import main

#: The installed entry point of this environment (for the cases that need their own process).
YOLOXKIT = Path(sys.executable).parent / "yoloxkit"


@dataclass
class Run:
    """Exit status and the two output streams (file-descriptor level) of one command."""

    code: int
    out: str
    err: str


def run_cli(capture: pytest.CaptureFixture[str], *args: str | Path) -> Run:
    """``yoloxkit ARGS`` in this process (Click always ends with SystemExit); ``capture`` is ``capsys``
    or ``capfd`` (the latter also sees what native libraries write to the file descriptors)."""
    capture.readouterr()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capture.readouterr()
    return Run(code, out, err)


def one_line_error(run: Run, *fragments: str) -> str:
    """Exit status 2, exactly one stderr line ``yoloxkit: error: ...`` holding every fragment, no traceback."""
    lines = run.err.splitlines()
    assert run.code == 2, run
    assert len(lines) == 1, run.err
    assert lines[0].startswith("yoloxkit: error: "), run.err
    assert "Traceback" not in run.err and "Traceback" not in run.out
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def snapshot(*roots: Path) -> dict[str, str]:
    """Every file under ``roots`` (or the files themselves) with the SHA-1 of its bytes."""
    found = {}
    for root in roots:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            found[str(path)] = hashlib.sha1(path.read_bytes()).hexdigest()
    return found


def write_png(path: Path, width: int = 80, height: int = 64, seed: int = 0) -> Path:
    """A small random-noise PNG written with Python's file functions (any file name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    path.write_bytes(cv2.imencode(".png", image)[1].tobytes())
    return path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(path: Path, width: int = 100_000, height: int = 100_000) -> Path:
    """A ~70-byte PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"\0" * 16)) + _chunk(b"IEND", b""))
    return path


def yolo_dataset(root: Path, images: int = 4, labelled: bool = True, seed: int = 0) -> Path:
    """A YOLO dataset ``root/images/{train,val}`` + ``root/labels/...`` + ``data.yaml`` (one class)."""
    for split in ("train", "val"):
        for i in range(images):
            write_png(root / "images" / split / f"{split}{i}.png", seed=seed + i)
            label = root / "labels" / split / f"{split}{i}.txt"
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text("0 0.5 0.5 0.25 0.25\n" if labelled else "")
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/val\nnames: [thing]\n")
    return root
