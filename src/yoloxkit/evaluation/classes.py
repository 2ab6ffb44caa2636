"""Which model class is which dataset category: by name, so that a fine-tune that kept the COCO
classes and added new ones (``--classes-mode append``) is evaluated on a dataset of some of them.

Rules, in order:

1. the model's class names equal the dataset's (same order): identity;
2. the model's names are generic (``class_0`` ...) and the counts agree: by index, as the
   reference pairs them (said in a warning when names differ);
3. otherwise by name: detections of model classes the dataset does not have are left out, and
   dataset categories the model does not predict are reported (their AP is 0); no name in
   common is an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import YoloxkitError
from ..structures.detections import Detections


@dataclass
class ClassMap:
    """``to_dataset[model class] -> dataset class index or -1`` and what the user should know."""

    to_dataset: np.ndarray
    dataset_names: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def identity(self) -> bool:
        """True when every model class is the dataset class of the same index."""
        return len(self.to_dataset) == len(self.dataset_names) and bool((self.to_dataset == np.arange(len(self.to_dataset))).all())

    def apply(self, detections: Sequence[Detections]) -> list[Detections]:
        """The detections with dataset class indices; those of classes the dataset lacks left out."""
        if self.identity:
            return list(detections)
        mapped = []
        for det in detections:
            classes = self.to_dataset[np.asarray(det.class_ids, dtype=np.int64)]
            keep = classes >= 0
            kept = det.select(keep)
            mapped.append(Detections(kept.boxes, kept.scores, classes[keep], self.dataset_names, det.image_size, det.source))
        return mapped


def _generic(names: Sequence[str]) -> bool:
    return all(name == f"class_{i}" for i, name in enumerate(names))


def match_classes(model_names: Sequence[str], dataset_names: Sequence[str]) -> ClassMap:
    """How the model's classes map onto the dataset's categories (see the module rules)."""
    model_names, dataset_names = list(model_names), list(dataset_names)
    if model_names == dataset_names:
        return ClassMap(np.arange(len(model_names), dtype=np.int64), dataset_names)
    if len(model_names) == len(dataset_names) and (_generic(model_names) or not set(model_names) & set(dataset_names)):
        notes = [] if _generic(model_names) else [_index_note(model_names, dataset_names)]
        return ClassMap(np.arange(len(model_names), dtype=np.int64), dataset_names, notes)
    index = {name: i for i, name in enumerate(dataset_names)}
    to_dataset = np.array([index.get(name, -1) for name in model_names], dtype=np.int64)
    if not (to_dataset >= 0).any():
        raise YoloxkitError(
            f"the model predicts {len(model_names)} classes and the dataset has {len(dataset_names)} categories, "
            f"with no class name in common (model: {', '.join(model_names[:4])}...; dataset: {', '.join(dataset_names[:4])}...)"
        )
    notes = []
    ignored = [name for name, k in zip(model_names, to_dataset) if k < 0]
    if ignored:
        notes.append(f"classes matched by name: {len(ignored)} model classes the dataset does not have are left out "
                     f"({', '.join(ignored[:3])}{', ...' if len(ignored) > 3 else ''})")  # fmt: skip
    unpredicted = sorted(set(dataset_names) - set(model_names))
    if unpredicted:
        notes.append(f"{len(unpredicted)} dataset categories the model does not predict score AP 0: {', '.join(unpredicted[:5])}")
    if not ignored and not unpredicted:
        notes.append("classes matched by name (the model lists them in another order)")
    return ClassMap(to_dataset, dataset_names, notes)


def _index_note(model_names: list[str], dataset_names: list[str]) -> str:
    pairs = [f"{a!r}/{b!r}" for a, b in zip(model_names, dataset_names) if a != b]
    return f"class names of the model and the dataset differ ({len(pairs)}, e.g. {', '.join(pairs[:3])}); classes pair by index"
