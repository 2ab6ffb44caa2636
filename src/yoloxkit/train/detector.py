"""Train a :class:`~yoloxkit.Detector` in one call: the convenience above inference and training.

It lives here, in the training package, so that inference (``yoloxkit.detector``) never imports
training: the layers import downwards only (docs/architecture.md).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..checkpoints import save_checkpoint
from ..detector import Detector
from .config import make_train_config
from .trainer import Trainer


def train_detector(
    detector: Detector,
    data: str | Path,
    out: str | Path = "runs/train",
    epochs: int = 300,
    batch: int = 64,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
    exist_ok: bool = False,
    **settings: object,
) -> Detector:
    """Train ``detector`` on ``data`` and return the best model (``best.pt``, else ``last.pt``).

    A detector with trained weights is fine-tuned from them (its classes decide the class
    mapping, ``finetune.class_mode`` says whether they are kept); an untrained one trains from
    scratch. ``settings`` are top-level config fields (``device``, ``seed``, ``amp``, ...),
    ``overrides`` any field as ``"section.field=value"``; see ``yoloxkit train``. ``out`` must be
    new or empty unless ``exist_ok`` (start over in it).
    """
    with tempfile.TemporaryDirectory(prefix="yoloxkit-start-") as scratch:
        weights = None
        if detector.pretrained:
            weights = Path(scratch) / "start.pt"
            save_checkpoint(weights, detector.model, detector.model_name, detector.class_names, detector.contract.to_dict())
        size = list(detector.contract.input_size)
        cfg = make_train_config(
            config, [f"augment.input_size={size}", *overrides], data=str(data), model=detector.model_name,
            weights=str(weights) if weights else None, out=Path(out), epochs=epochs, batch=batch, **settings,
        )  # fmt: skip
        summary = Trainer(cfg, exist_ok=exist_ok).fit()
    best = summary["checkpoints"].get("best.pt") or summary["checkpoints"]["last.pt"]
    return Detector.from_checkpoint(best, device=detector.device)
