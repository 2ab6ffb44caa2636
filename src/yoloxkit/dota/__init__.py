"""DOTA pipeline: split large images into patches, merge patch detections, Task1 files, sliced prediction.

``split`` (patches as MMRotate's split tool), ``merge`` (offsets + per-class rotated NMS),
``task1`` (submission files), ``slicer`` (tile, predict, merge in memory for any detector);
the official metric lives in :mod:`yoloxkit.evaluation.dota`. See ``docs/rotated.md``.
"""

from .merge import merge_detections, merge_patch_predictions, parse_patch_name
from .slicer import SlicedDetector, sliced_predict
from .split import SplitConfig, split_dataset, sliding_windows
from .task1 import read_task1, write_task1

__all__ = [
    "SlicedDetector",
    "SplitConfig",
    "merge_detections",
    "merge_patch_predictions",
    "parse_patch_name",
    "read_task1",
    "sliced_predict",
    "sliding_windows",
    "split_dataset",
    "write_task1",
]
