"""DOTA Task1 submission files: one ``Task1_<class>.txt`` per class (``rotated-yolox.md`` §5.4).

Each line is ``<image name> <score> x1 y1 x2 y2 x3 y3 x4 y4``: the score rounded to 2 decimals
and printed as Python prints it (``0.87``, ``0.1``), corners with 2 decimals (the rbox corner
order of ``rbox2qbox``). Every class gets a file, empty when it has no detection; the files can
be zipped for the evaluation server.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import YoloxkitError
from ..files import atomic_write
from ..structures import BoxFormat, Detections

PREFIX = "Task1_"


@dataclass
class Task1Detections:
    """The detections of one class as read from a Task1 file (row-aligned arrays)."""

    images: list[str]
    scores: np.ndarray  # float64 [N]
    quads: np.ndarray  # float64 [N, 8]


def task1_line(image: str, score: float, quad: Sequence[float]) -> str:
    """One submission line (no newline)."""
    return f"{image} {round(float(score), 2)} " + " ".join(f"{v:.2f}" for v in quad)


def write_task1(
    results: Iterable[Detections], class_names: Sequence[str], out: Path, zip_name: str | None = None
) -> list[Path]:
    """Write ``out/Task1_<class>.txt`` for every class (and ``out/<zip_name>`` when given).

    The image name of a line is the stem of the Detections' ``source``.
    """
    lines: dict[int, list[str]] = {k: [] for k in range(len(class_names))}
    for det in results:
        if not det.source:
            raise YoloxkitError("Task1 files need the image name of every result (Detections.source)")
        image = Path(det.source).stem
        quads = det.boxes.convert(BoxFormat.QBOX).numpy().data.astype(np.float64)
        for quad, score, cid in zip(quads, det.scores.tolist(), det.class_ids.tolist()):
            if not 0 <= cid < len(class_names):
                raise YoloxkitError(f"{det.source}: class index {cid} outside the {len(class_names)} classes")
            lines[cid].append(task1_line(image, score, quad))
    paths = []
    for k, name in enumerate(class_names):
        path = Path(out) / f"{PREFIX}{name}.txt"
        with atomic_write(path) as handle:
            handle.write("".join(line + "\n" for line in lines[k]).encode())
        paths.append(path)
    if zip_name:
        with atomic_write(Path(out) / zip_name) as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in paths:
                archive.write(path, path.name)
    return paths


def read_task1(folder: Path) -> dict[str, Task1Detections]:
    """``{class name: detections}`` of every ``Task1_<class>.txt`` in ``folder``."""
    files = sorted(Path(folder).glob(f"{PREFIX}*.txt"))
    if not files:
        raise YoloxkitError(f"{folder}: no {PREFIX}<class>.txt files")
    found = {}
    for path in files:
        images, values = [], []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            try:
                if len(fields) != 10:
                    raise ValueError(f"{len(fields)} fields")
                values.append([float(v) for v in fields[1:]])
            except ValueError as exc:
                raise YoloxkitError(f"{path}:{number}: expected '<image> <score> x1 y1 ... y4' ({exc})") from None
            images.append(fields[0])
        rows = np.asarray(values, dtype=np.float64).reshape(-1, 9)
        found[path.stem[len(PREFIX) :]] = Task1Detections(images, rows[:, 0], rows[:, 1:])
    return found
