"""Where a training run keeps its checkpoints, and how several seeds of one recipe are laid out.

A run folder holds ``last.pt`` and ``best.pt``; ``yoloxkit train --seeds 0,1,2 --out OUT`` writes
one run per seed into ``OUT/seed-0``, ``OUT/seed-1``, ... Comparisons name a side by a
checkpoint, a run folder, a folder of seed runs, or several of these joined by commas.
"""

from __future__ import annotations

import re
from pathlib import Path

from .errors import YoloxkitError

LAST, BEST = "last.pt", "best.pt"
SEED_PREFIX = "seed-"
_SEED_FOLDER = re.compile(rf"^{SEED_PREFIX}(\d+)$")


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` (or ``"0-4"``) -> ``[0, 1, 2]``; one-line errors for anything else."""
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        low, dash, high = part.partition("-")
        try:
            seeds += list(range(int(low), int(high) + 1)) if dash and low else [int(part)]
        except ValueError:
            raise YoloxkitError(f"--seeds: {text!r}: expected whole numbers like 0,1,2 or 0-4") from None
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise YoloxkitError(f"--seeds: {text!r}: give distinct seeds >= 0, e.g. 0,1,2")
    return seeds


def seed_folder(out: Path, seed: int) -> Path:
    """The run folder of ``seed`` under a multi-seed output folder."""
    return out / f"{SEED_PREFIX}{seed}"


def run_checkpoint(folder: Path) -> Path | None:
    """The checkpoint a finished run is judged by: ``best.pt``, else ``last.pt`` (None: neither)."""
    for name in (BEST, LAST):
        if (folder / name).is_file():
            return folder / name
    return None


def seed_runs(folder: Path) -> list[Path]:
    """The seed run folders under ``folder`` (``seed-N``), in seed order."""
    found = [(int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := _SEED_FOLDER.match(p.name))]
    return [p for _, p in sorted(found)]


def expand_side(spec: str) -> list[str]:
    """The runs one side of a comparison names: each comma-separated item is a prediction file, a
    checkpoint or model name (kept as given), a run folder (its checkpoint) or a folder of seed
    runs (each seed's checkpoint)."""
    items = [item.strip() for item in spec.split(",") if item.strip()]
    if not items:
        raise YoloxkitError(f"{spec!r} names no run")
    runs: list[str] = []
    for item in items:
        path = Path(item)
        if not path.is_dir():
            runs.append(item)
            continue
        folders = seed_runs(path) or [path]
        for folder in folders:
            checkpoint = run_checkpoint(folder)
            if checkpoint is None:
                raise YoloxkitError(f"{folder}: no {BEST} or {LAST} here (not a finished training run)")
            runs.append(str(checkpoint))
    return runs
