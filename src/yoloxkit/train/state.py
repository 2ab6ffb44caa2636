"""Run checkpoints: self-describing, written atomically, enough to resume a run exactly.

Every file is a yoloxkit checkpoint (:func:`yoloxkit.checkpoints.save_checkpoint`) whose weights
are the EMA model (what validation measured, what ``Detector.from_checkpoint`` and
``yoloxkit predict/eval/export`` load), with the model name, class names, preprocessing
contract, the run's config and its metrics. ``last.pt`` also carries ``resume``: the live
weights, the EMA state, optimizer, gradient scaler, RNG states, epoch, iteration, the best
metric and the early-stopping counter. ``best.pt`` is written when the validation metric
improves; ``epoch_<N>.pt`` every ``checkpoint.every`` epochs, the newest ``checkpoint.keep`` kept.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..checkpoints import FORMAT_NAME, LoadedCheckpoint, read_checkpoint, save_checkpoint
from ..errors import YoloxkitError
from ..runs import BEST, LAST  # noqa: F401 - the run layout, re-exported for the trainer


@dataclass
class Progress:
    """Where a run stands after ``epoch`` completed epochs (0 before the first)."""

    epoch: int = 0
    iteration: int = 0
    best_metric: float | None = None
    best_epoch: int | None = None
    epochs_without_improvement: int = 0
    stop_reason: str | None = None
    history: list[dict] = field(default_factory=list)  # per-epoch metrics

    def improved(self, value: float, min_delta: float) -> bool:
        """Record a validation result; True when it beats the best by more than ``min_delta``."""
        if self.best_metric is None or value > self.best_metric + min_delta:
            self.best_metric, self.best_epoch, self.epochs_without_improvement = value, self.epoch, 0
            return True
        return False


def capture_rng() -> dict:
    """Every random state the run uses (weights-only loadable: tensors, ints, lists)."""
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": list(random.getstate()[1]),
        "python_version": random.getstate()[0],
        "python_gauss": random.getstate()[2],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate((state["python_version"], tuple(state["python"]), state["python_gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def write_run_checkpoint(path: Path, ema_model: torch.nn.Module, meta: dict, resume: dict | None = None) -> None:
    """One checkpoint file: EMA weights + ``meta`` (model, classes, contract, config, metrics)."""
    extra = {"resume": resume} if resume is not None else {}
    save_checkpoint(path, ema_model, meta["model"], meta["class_names"], meta["preprocess"], training=meta["training"], **extra)


def read_resume(path: Path) -> LoadedCheckpoint:
    """A run's ``last.pt`` (``path`` may be the run folder); clear errors for anything else.

    Missing, truncated, corrupt and pickled-code files fail in :func:`read_checkpoint`.
    """
    if path.is_dir():
        path = path / LAST
    checkpoint = read_checkpoint(path)
    if checkpoint.layout != FORMAT_NAME:
        raise YoloxkitError(f"{path} is not a yoloxkit training checkpoint; resume needs the run's {LAST}")
    if not isinstance(checkpoint.metadata.get("resume"), dict):
        raise YoloxkitError(f"{path} holds weights only (no optimizer or schedule state); resume from the run's {LAST}")
    return checkpoint


def rotate_periodic(out: Path, epoch: int, keep: int) -> Path:
    """The path of ``epoch_<epoch>.pt``, after deleting all but the newest ``keep - 1`` older ones."""
    existing = sorted(out.glob("epoch_*.pt"), key=lambda p: int(p.stem.split("_")[1]))
    for old in existing[: max(len(existing) - (keep - 1), 0)]:
        old.unlink(missing_ok=True)
    return out / f"epoch_{epoch}.pt"

