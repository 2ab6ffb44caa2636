"""The evaluator protocol: what the feeding loop (:func:`~yoloxkit.evaluation.inference.predict_into`)
and training validation need of an evaluator, whatever the box type.

Two evaluators implement it: :class:`~yoloxkit.evaluation.evaluator.Evaluator` (axis-aligned
boxes, pycocotools-exact COCO metrics and the full report) and
:class:`~yoloxkit.evaluation.dota_evaluator.DotaEvaluator` (oriented boxes, the DOTA-devkit Task1
metric). A new evaluator (another metric, another box type) implements these methods and works
with ``yoloxkit eval``'s loop and the trainer's validator unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from ..structures.detections import Detections


@runtime_checkable
class SplitEvaluator(Protocol):
    """Accumulates detections for the images of one split and scores them."""

    @property
    def class_names(self) -> list[str]:
        """The split's classes; detections carry indices into this list."""
        ...

    def image_paths(self) -> list[Path]:
        """The split's image files, in the order the loop reads them (index = position)."""
        ...

    def image_ids(self, indices: Sequence[int]) -> list[int]:
        """The ids :meth:`update` takes for the images at ``indices`` (positions in :meth:`image_paths`)."""
        ...

    def reset(self) -> None:
        """Forget every detection added so far."""
        ...

    def update(self, image_ids: Sequence[int], detections: Sequence[Detections]) -> None:
        """Add the detections of a batch of images (one :class:`Detections` per image id)."""
        ...

    def drop_images(self, indices: Sequence[int]) -> None:
        """Leave the images at ``indices`` (unreadable files) out: their objects and detections."""
        ...

    def scores(self, per_class: bool = False) -> dict[str, float]:
        """The headline numbers: ``mAP50_95``, ``mAP50``, ``mAP75`` (and ``AP50_95/<class>``
        for each class with objects when ``per_class``)."""
        ...

    def compute(self) -> object:
        """Every metric the evaluator has (its result object)."""
        ...
