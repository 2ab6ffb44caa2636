"""Training loss: batched SimOTA assignment and the YOLOX loss terms, equal to the reference.

    from yoloxkit.loss import Targets, YOLOXLoss
    loss_fn = YOLOXLoss()                        # SimOTA "original" (the released weights')
    levels = model.head.forward_levels(model.backbone(images))   # or model(images) in train mode
    losses = loss_fn(levels, Targets.from_padded(labels))        # dict of 0-dim tensors
    losses["total"].backward()

Rotated boxes (``rotated-yolox-*``): :class:`RotatedYOLOXLoss` with :func:`rotated_targets`.

See ``docs/training-loss.md`` and ``docs/rotated-ops.md``.
"""

from .assigner import VARIANTS, Assignment, SimOTAAssigner, SimOTAVariant
from .iou import cxcywh_iou
from .positives import Positives
from .predictions import FlatPredictions, flatten_levels
from .rotated import (
    ANGLE_NORM_FACTOR,
    RotatedSimOTAAssigner,
    RotatedYOLOXLoss,
    flatten_rotated_levels,
    rotated_targets,
)
from .targets import Targets
from .yolox_loss import YOLOXLoss

__all__ = [
    "ANGLE_NORM_FACTOR",
    "VARIANTS",
    "Assignment",
    "FlatPredictions",
    "Positives",
    "RotatedSimOTAAssigner",
    "RotatedYOLOXLoss",
    "SimOTAAssigner",
    "SimOTAVariant",
    "Targets",
    "YOLOXLoss",
    "cxcywh_iou",
    "flatten_levels",
    "flatten_rotated_levels",
    "rotated_targets",
]
