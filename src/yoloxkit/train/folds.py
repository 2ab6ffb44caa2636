"""``yoloxkit train --data FOLDS --fold all``: one run per fold of ``data kfold`` and the
out-of-fold predictions: every image predicted by the model that did not train on it.

Each fold ``K`` trains on ``FOLDS/fold-K`` (its ``train`` split) into ``OUT/fold-K`` and is then
run on its ``val`` split, the images it never saw, at a low confidence (0.001, NMS 0.65, as COCO
evaluation does). ``OUT/oof_predictions.json`` holds those predictions for the whole dataset
(COCO results entries with the image's ``file_name`` and its ``fold``), the input of a label
audit; ``OUT/folds.json`` the per-fold metrics, their mean and standard deviation, and the
``weak_folds`` (held-out AP50 under half the other folds' median: a failed run, reported).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..datasets.kfold import FOLD_PREFIX
from ..errors import YoloxkitError
from ..files import without_nan, write_json
from .config import TrainConfig

logger = logging.getLogger("yoloxkit")

OOF_CONF, OOF_IOU = 0.001, 0.65
METRICS = ("AP", "AP50", "AP75", "AR100")


def fold_folders(folds: Path) -> list[Path]:
    """The ``fold-K`` folders of a ``data kfold`` output, in fold order."""
    found = sorted((p for p in folds.glob(f"{FOLD_PREFIX}*") if p.is_dir() and p.name[len(FOLD_PREFIX):].isdigit()),
                   key=lambda p: int(p.name[len(FOLD_PREFIX):]))  # fmt: skip
    if not found:
        raise YoloxkitError(f"{folds}: no fold-K folders (make them with: yoloxkit data kfold DATA --out {folds})")
    return found


def select_folds(folds: Path, which: str) -> list[Path]:
    """``all`` or one fold index (``2``) -> the fold folders to train."""
    found = fold_folders(folds)
    if which == "all":
        return found
    by_index = {p.name[len(FOLD_PREFIX):]: p for p in found}
    if which not in by_index:
        raise YoloxkitError(f"--fold: expected 'all' or one of {', '.join(by_index)}, got {which!r}")
    return [by_index[which]]


def out_of_fold(folder: Path, checkpoint: Path, fold: int, batch: int = 8) -> tuple[list[dict], dict[str, float]]:
    """Predictions of ``checkpoint`` on the ``val`` split of ``folder`` (file names, not ids) and its COCO numbers."""
    from ..detector import Detector
    from ..evaluation import Evaluator, load_ground_truth
    from ..evaluation.inference import run_evaluation

    gt = load_ground_truth(folder, "val")
    evaluator = Evaluator(gt)
    result = run_evaluation(evaluator, Detector.from_checkpoint(checkpoint), OOF_CONF, OOF_IOU, batch, progress=False)
    names = dict(zip(gt.image_ids.tolist(), gt.file_names))
    entries = [entry | {"file_name": names[entry["image_id"]], "fold": fold} for entry in evaluator.results()]
    return entries, {k: float(result.coco[k]) for k in METRICS}


def train_folds(configs: list[tuple[Path, TrainConfig]], out: Path, exist_ok: bool) -> dict:
    """Train every ``(fold folder, config)``, predict its held-out images; write the summaries."""
    from ..runs import run_checkpoint
    from .trainer import Trainer

    predictions: list[dict] = []
    runs = []
    for folder, cfg in configs:
        fold = int(folder.name[len(FOLD_PREFIX):])
        logger.info("fold %d: training on %s into %s", fold, folder, cfg.out)
        Trainer(cfg, exist_ok=exist_ok).fit()
        checkpoint = run_checkpoint(Path(cfg.out))
        entries, metrics = out_of_fold(folder, checkpoint, fold, cfg.batch)
        predictions += entries
        runs.append({"fold": fold, "out": str(cfg.out), "checkpoint": str(checkpoint), "predictions": len(entries)} | metrics)
    values = {k: np.array([r[k] for r in runs]) for k in METRICS}
    summary = {k: {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else None} for k, v in values.items()}
    record = {"folds": runs, "metrics": summary, "oof_conf": OOF_CONF, "oof_iou": OOF_IOU}
    record["weak_folds"] = weak_folds(runs)
    write_json(out / "oof_predictions.json", predictions)
    write_json(out / "folds.json", without_nan(record))
    return record


#: A fold whose held-out AP50 is below this share of the other folds' median is reported as weak.
WEAK_SHARE = 0.5


def weak_folds(runs: list[dict]) -> list[int]:
    """The folds whose held-out AP50 is below ``WEAK_SHARE`` of the other folds' median: most often
    a run that failed (a loss spike it did not recover from in eval mode), whose out-of-fold
    predictions would make an audit of its images call every label spurious."""
    ap50 = np.array([r["AP50"] for r in runs], dtype=np.float64)
    defined = np.isfinite(ap50) & (ap50 >= 0)  # COCO gives -1 (or NaN here) for a fold without labelled objects: not judged
    weak = []
    for k, r in enumerate(runs):
        others = ap50[defined & (np.arange(len(runs)) != k)]
        if defined[k] and len(others) and ap50[k] < WEAK_SHARE * float(np.median(others)):
            weak.append(int(r["fold"]))
    return weak


def folds_table(record: dict) -> str:
    """Each fold's held-out COCO numbers, then mean +- standard deviation."""
    lines = [f"{'fold':>4}  " + "  ".join(f"{k:>7}" for k in METRICS) + "  predictions"]
    for r in record["folds"]:
        lines.append(f"{r['fold']:>4}  " + "  ".join(f"{r[k]:>7.4f}" for k in METRICS) + f"  {r['predictions']:>11}")
    m = record["metrics"]
    spread = "  ".join(f"{m[k]['mean']:.4f}" + (f"+-{m[k]['std']:.4f}" if m[k]["std"] is not None else "") for k in METRICS)
    lines.append(f"mean (+- std over folds): {spread}")
    for fold in record.get("weak_folds", []):
        ap50 = next(r["AP50"] for r in record["folds"] if r["fold"] == fold)
        lines.append(f"warning: fold {fold} reached held-out AP50 {ap50:.4f}, under half the other folds' median: its out-of-fold "
                     "predictions are unreliable; train it again (another --seed) before an audit")  # fmt: skip
    return "\n".join(lines)
