"""Fine-tuning from a pretrained checkpoint: partial loading with a report, and class modes.

:func:`load_partial` copies every checkpoint tensor whose key and shape fit the model. The
class rows of the classification convs (``head.cls_preds.{k}``) are matched by class *name*:
row ``i`` of the model receives the checkpoint row of the class with the same name, so

- ``"append"`` mode (checkpoint classes first, new classes after them) keeps the old rows
  bit-identical and the old classes keep detecting right after loading;
- ``"new"`` mode (only the dataset's classes) still reuses the rows of dataset classes named
  like a checkpoint class (``person`` in a COCO checkpoint, for example).

Everything else that does not fit keeps its fresh initialisation and is listed in the
:class:`LoadReport`. Loading refuses a checkpoint that covers too little of the model (another
model size, say) unless forced.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from ..checkpoints import LoadedCheckpoint, infer_architecture, read_checkpoint
from ..data.coco import default_class_names
from ..errors import YoloxkitError
from ..models import YOLOX

ClassMode = Literal["new", "append"]
CLASS_MODES: tuple[str, ...] = ("new", "append")

#: Defaults of a run started from ``--weights`` (settings given explicitly take precedence),
#: chosen by measurement (docs/finetuning.md, "Recommended defaults for a fine-tune";
#: benchmarks/results/finetune_defaults.json).
FINETUNE_DEFAULTS: dict[str, object] = {
    "epochs": 50,  # instead of 300: early stopping ends a run that has stopped improving
    "basic_lr_per_img": 0.01 / 64,  # the reference's rate: measured better than a quarter of it
    "warmup_epochs": 1,
    "no_aug_epochs": 2,
    "freeze": "none",
    "ema_decay": 0.999,
    "val_interval": 1,  # validate every epoch: best.pt and early stopping need the curve
    "patience": 10,  # early stopping after 10 epochs without improvement
}

_CLS_PRED = "head.cls_preds."
_SHOWN_KEYS = 5


@dataclass
class LoadReport:
    """What :func:`load_partial` did with each tensor of the checkpoint and of the model."""

    source: str  # checkpoint path
    layout: str  # megvii / mmdet / state_dict / yoloxkit
    loaded: list[str]  # keys copied whole
    partially_loaded: list[str]  # keys whose class rows were copied (some rows only, or reordered)
    reinitialised: list[str]  # model keys left at their fresh init (missing or shape mismatch)
    skipped: list[str]  # checkpoint keys not used (unexpected or shape mismatch)
    match_ratio: float  # see load_partial: elements taken from the checkpoint / all model elements
    rescaled: dict[str, float] = field(default_factory=dict)  # conv blocks rescaled (train.conv_scale): ratio before

    def summary(self) -> str:
        """A few human-readable lines: counts, the ratio and the first keys of each list."""
        lines = [
            f"loaded {self.source} ({self.layout}): {_percent(self.match_ratio)} of the model's values come from it",
            (
                f"  {len(self.loaded)} tensors loaded, {len(self.partially_loaded)} with class rows copied, "
                f"{len(self.reinitialised)} re-initialised, {len(self.skipped)} checkpoint tensors skipped"
            ),
        ]
        for label, keys in (
            ("class rows copied", self.partially_loaded),
            ("re-initialised", self.reinitialised),
            ("skipped", self.skipped),
        ):
            if keys:
                more = f" (+{len(keys) - _SHOWN_KEYS} more)" if len(keys) > _SHOWN_KEYS else ""
                lines.append(f"  {label}: {', '.join(keys[:_SHOWN_KEYS])}{more}")
        if self.rescaled:
            largest = sorted(self.rescaled.items(), key=lambda item: -item[1])[:3]
            lines.append(
                f"  {len(self.rescaled)} convolutions whose weights had grown large were rescaled to their initial norm "
                f"(same outputs, normal learning speed; finetune.rescale_convs): " + ", ".join(f"{n} {r:.1f}x" for n, r in largest)
            )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready: source, layout, ratio, counts and the full key lists."""
        lists = {
            "loaded": self.loaded,
            "partially_loaded": self.partially_loaded,
            "reinitialised": self.reinitialised,
            "skipped": self.skipped,
        }
        return {
            "source": self.source,
            "layout": self.layout,
            "match_ratio": self.match_ratio,
            "counts": {name: len(keys) for name, keys in lists.items()},
            **{name: list(keys) for name, keys in lists.items()},
            "rescaled": dict(self.rescaled),
        }


def _percent(ratio: float) -> str:
    """``ratio`` as a percentage rounded down to 0.01 (never "100.00%" unless everything loaded)."""
    return f"{math.floor(ratio * 10000) / 100:.2f}%"


def _check_unique(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise YoloxkitError(f"{what} names class {name!r} twice; class names must be unique")
        seen.add(name)


def resolve_class_names(checkpoint_names: list[str] | None, dataset_names: list[str], mode: ClassMode) -> list[str]:
    """The model's class names for a fine-tune in ``mode``.

    ``"new"``: the dataset's names. ``"append"``: the checkpoint's names, then the dataset's
    names that are not already among them (a dataset class named like a checkpoint class maps
    onto that checkpoint row, see :func:`dataset_class_map`).
    """
    if mode not in CLASS_MODES:
        raise YoloxkitError(f"classes mode must be one of {', '.join(CLASS_MODES)}, got {mode!r}")
    _check_unique(list(dataset_names), "the dataset")
    if mode == "new":
        return list(dataset_names)
    if checkpoint_names is None:
        raise YoloxkitError(
            "classes mode 'append' needs the checkpoint's class names, and this checkpoint does not record them "
            "(only yoloxkit and some MMDetection files do; 80-class files are taken as COCO)"
        )
    _check_unique(list(checkpoint_names), "the checkpoint")
    known = set(checkpoint_names)
    return list(checkpoint_names) + [name for name in dataset_names if name not in known]


def dataset_class_map(dataset_names: list[str], model_names: list[str]) -> list[int]:
    """For each dataset class index, the model's class index (the row of the same name).

    In ``"new"`` mode this is the identity; in ``"append"`` mode the dataset's labels must be
    remapped with it before training.
    """
    rows = {name: i for i, name in enumerate(model_names)}
    missing = [name for name in dataset_names if name not in rows]
    if missing:
        raise YoloxkitError(f"dataset classes {missing[:3]} are not among the model's class names")
    return [rows[name] for name in dataset_names]


def class_names_of(checkpoint: LoadedCheckpoint) -> list[str] | None:
    """The class names of a checkpoint: recorded ones, else COCO's for 80 classes, else ``None``."""
    if checkpoint.class_names is not None:
        return list(checkpoint.class_names)
    cls_weight = checkpoint.state_dict.get(_CLS_PRED + "0.weight")
    if cls_weight is not None and cls_weight.shape[0] == 80:
        return default_class_names(80)
    return None


def _row_pairs(model_names: list[str], checkpoint_names: list[str] | None) -> list[tuple[int, int]]:
    """(model row, checkpoint row) for every model class whose name the checkpoint knows."""
    if checkpoint_names is None:
        return []
    rows = {name: j for j, name in enumerate(checkpoint_names)}
    return [(i, rows[name]) for i, name in enumerate(model_names) if name in rows]


def _rows_fit(
    key: str, targets: Mapping[str, torch.Tensor], given: Mapping[str, torch.Tensor], pairs: list[tuple[int, int]]
) -> bool:
    """True when the class rows of ``key``'s conv fit: weight and bias rows both (never one alone)."""
    conv = key.rpartition(".")[0]
    return bool(pairs) and all(
        f"{conv}.{p}" in given and given[f"{conv}.{p}"].shape[1:] == targets[f"{conv}.{p}"].shape[1:]
        for p in ("weight", "bias")
        if f"{conv}.{p}" in targets
    )


def _rows_are_whole(target: torch.Tensor, source: torch.Tensor, pairs: list[tuple[int, int]]) -> bool:
    """True when copying the rows makes ``target`` exactly ``source`` (same classes, same order)."""
    return len(pairs) == target.shape[0] == source.shape[0] and all(i == j for i, j in pairs)


def load_partial(
    model: YOLOX,
    checkpoint: LoadedCheckpoint | str | Path,
    class_names: list[str],
    checkpoint_class_names: list[str] | None = None,
    min_match: float = 0.5,
    force: bool = False,
) -> LoadReport:
    """Load every fitting tensor of ``checkpoint`` into ``model`` and report what happened.

    Tensors whose key and shape match are copied whole. The class rows of
    ``head.cls_preds.{k}`` (weight ``[C, ...]``, bias ``[C]``) are copied for the model classes
    (``class_names``, one per row) whose name appears among the checkpoint's class names
    (``checkpoint_class_names``, else what :func:`class_names_of` finds; with none known no
    row is matched). Everything else keeps the model's current (fresh) values.

    ``match_ratio`` counts *elements*: the number of model state-dict values (parameters and
    buffers such as BatchNorm statistics) now taken from the checkpoint, class rows included,
    divided by the number of all model state-dict values. Below ``min_match`` loading is
    refused with a YoloxkitError (nothing is changed) unless ``force`` is set.
    """
    loaded = checkpoint if isinstance(checkpoint, LoadedCheckpoint) else read_checkpoint(checkpoint)
    if len(class_names) != model.num_classes:
        raise YoloxkitError(f"{len(class_names)} class names given for a model with {model.num_classes} classes")
    given = loaded.state_dict
    names = checkpoint_class_names if checkpoint_class_names is not None else class_names_of(loaded)
    rows_given = given.get(_CLS_PRED + "0.weight")
    if names is not None and rows_given is not None and len(names) != rows_given.shape[0]:
        raise YoloxkitError(f"checkpoint {loaded.path}: {len(names)} class names for {rows_given.shape[0]} class rows")
    pairs = _row_pairs(class_names, names)
    targets = model.state_dict()
    whole, rows, reinitialised, taken = [], [], [], 0
    for key, target in targets.items():
        source = given.get(key)
        if source is None:
            reinitialised.append(key)
        elif key.startswith(_CLS_PRED) and _rows_fit(key, targets, given, pairs):
            rows.append(key)
            taken += len(pairs) * target[0].numel()
        elif not key.startswith(_CLS_PRED) and source.shape == target.shape:
            whole.append(key)
            taken += target.numel()
        else:
            reinitialised.append(key)
    total = sum(t.numel() for t in targets.values())
    ratio = taken / total if total else 0.0
    if ratio < min_match and not force:
        raise YoloxkitError(_refusal(loaded, model, ratio, min_match))
    source_rows = torch.tensor([j for _, j in pairs], dtype=torch.long)
    with torch.no_grad():
        for key in whole:
            targets[key].copy_(given[key])
        for key in rows:
            target = targets[key]
            model_rows = torch.tensor([i for i, _ in pairs], dtype=torch.long, device=target.device)
            target.index_copy_(0, model_rows, given[key][source_rows].to(target))
    complete = {k for k in rows if _rows_are_whole(targets[k], given[k], pairs)}
    copied_whole = set(whole) | complete
    return LoadReport(
        source=loaded.path,
        layout=loaded.layout,
        loaded=[k for k in targets if k in copied_whole],
        partially_loaded=[k for k in rows if k not in complete],
        reinitialised=reinitialised,
        skipped=[k for k in given if k not in copied_whole and k not in rows] + list(loaded.ignored_keys),
        match_ratio=ratio,
    )


def _refusal(checkpoint: LoadedCheckpoint, model: YOLOX, ratio: float, min_match: float) -> str:
    """The message refusing a checkpoint that fits too little of ``model``."""
    try:
        looks_like = f"it looks like {infer_architecture(checkpoint.state_dict).describe()}"
    except YoloxkitError as exc:
        looks_like = str(exc)
    return (
        f"checkpoint {checkpoint.path} fits only {_percent(ratio)} of the model's values (minimum {min_match:.0%}; "
        f"the model is {infer_architecture(model.state_dict()).describe()}): {looks_like}; "
        "pick the matching model, or force loading (--force-load) to keep only the tensors that fit"
    )
