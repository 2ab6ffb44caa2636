"""The end of a run: ``summary.json`` (machine-readable) and a short table for the terminal."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import YoloxkitError
from ..files import atomic_write
from .state import BEST, LAST

if TYPE_CHECKING:  # the trainer imports this module
    from .trainer import Trainer

PRIMARY_METRIC = "val/mAP50_95"  # the best-model metric unless the summary's "metric" names another


def _jsonable(value: object, where: str) -> object:
    """``value`` as plain JSON types: non-finite floats -> None, paths -> str, scalars unwrapped."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if hasattr(value, "item"):  # numpy and 0-d torch scalars
        return _jsonable(value.item(), where)
    raise YoloxkitError(f"summary field {where!r}: a {type(value).__name__} cannot be written to JSON")


def run_summary(trainer: Trainer, seconds: float, images: int) -> dict:
    """The summary of ``trainer``'s run so far: its outcome, best and final metrics, checkpoints,
    speed, device and what was loaded (hooks may add to it before it is written)."""
    cfg, progress, out = trainer.config, trainer.progress, trainer.out
    history = progress.history
    return {
        "model": cfg.model,
        "classes": trainer.class_names,
        "epochs_run": progress.epoch,
        "epochs_planned": cfg.epochs,
        "stop_reason": progress.stop_reason or "completed",
        "best_epoch": progress.best_epoch,
        "best_metric": progress.best_metric,
        "metric": f"val/{cfg.val.metric}",
        "best": next((m for m in history if m["epoch"] == progress.best_epoch), None),
        "final": history[-1] if history else None,
        "train_time_s": seconds,
        "images_per_s": images / seconds if seconds > 0 else None,
        "checkpoints": {name: str(out / name) for name in (LAST, BEST) if (out / name).exists()},
        "device": str(trainer.device),
        "amp": trainer.amp.reason,
        "world_size": trainer.world.size,
        "bad_images": sorted(trainer.loader.bad_images.reasons),
        "load_report": trainer.load_report.to_dict() if trainer.load_report is not None else None,
    }


def write_summary(path: Path, summary: Mapping) -> None:
    """Write ``summary`` to ``path`` as JSON, atomically, keys sorted, NaN/inf written as null."""
    data = _jsonable(summary, "summary")
    text = json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n"
    with atomic_write(path) as handle:
        handle.write(text.encode("utf-8"))


def format_duration(seconds: float) -> str:
    """``3725`` -> ``1:02:05``; ``125`` -> ``2:05``."""
    minutes, secs = divmod(round(float(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _number(value: object) -> str:
    if isinstance(value, float):
        return "n/a" if not math.isfinite(value) else f"{value:.4g}"
    return "n/a" if value is None else str(value)


def _metrics(metrics: Mapping | None, primary: str) -> str:
    """``val/mAP50_95 0.412  val/mAP50 0.623  loss 3.21``: validation metrics (primary first) and the loss.

    The other per-epoch means (times, lr, loss terms) stay in ``summary.json`` and ``metrics.csv``.
    """
    if not metrics:
        return "n/a"
    # the headline numbers; per-class APs (val/AP50_95/<class>) stay in summary.json and metrics.csv
    names = sorted((n for n in metrics if n.startswith("val/") and n.count("/") == 1), key=lambda n: (n != primary, n))
    names += ["loss"] if "loss" in metrics else []
    return "  ".join(f"{name} {_number(metrics[name])}" for name in names) or "n/a"


def _classes(classes: object) -> str:
    if isinstance(classes, (list, tuple)):
        shown = ", ".join(map(str, classes[:5])) + (", ..." if len(classes) > 5 else "")
        return f"{len(classes)} ({shown})"
    return _number(classes)


def _load_report(report: Mapping) -> str:
    """Scalars as they are, lists and mappings by their length (``counts`` repeats those lengths
    and is left out): ``layout megvii  loaded 355  skipped 6  rescaled 4 ...``."""
    parts = [f"{k} {len(v) if isinstance(v, (list, tuple, Mapping)) else _number(v)}" for k, v in report.items() if k != "counts"]
    return "  ".join(parts)


def format_summary(summary: Mapping) -> str:
    """A short human table of a run's summary (the keys the trainer writes to ``summary.json``)."""
    get = summary.get
    primary = get("metric") or PRIMARY_METRIC
    reason = get("stop_reason", "completed")
    status = reason if reason in ("completed", "interrupted") else "stopped early"
    rows = [("model", f"{get('model', '?')}, classes {_classes(get('classes'))}")]
    if status == "stopped early":
        rows.append(("stop reason", reason))
    if get("train_time_s") is not None:
        speed = f", {_number(get('images_per_s'))} images/s" if get("images_per_s") is not None else ""
        rows.append(("time", f"{format_duration(float(get('train_time_s')))}{speed} on {get('device', '?')}"))
    if get("best_epoch") is not None:
        rows.append(("best", f"epoch {get('best_epoch')}: {primary} {_number(get('best_metric'))}"))
        rows.append(("", _metrics(get("best"), primary)))
    rows.append(("final", _metrics(get("final"), primary)))
    rows += [(f"{name} checkpoint", str(path)) for name, path in (get("checkpoints") or {}).items()]
    if get("bad_images"):
        rows.append(("bad images", f"{len(get('bad_images'))} skipped (listed in summary.json)"))
    if get("load_report"):
        rows.append(("weights", _load_report(get("load_report"))))
    width = max(len(label) for label, _ in rows)
    head = f"training {status} after {get('epochs_run', '?')}/{get('epochs_planned', '?')} epochs"
    return "\n".join([head, *(f"  {label:<{width}}  {text}" for label, text in rows)])
