"""Key mapping of ai4rs Rotated YOLOX checkpoints (MMRotate-1.x / MMDetection-3.x layout).

An ai4rs checkpoint is ``{"meta": ..., "state_dict": ..., ...}`` whose model keys are the
MMDetection YOLOX ones (``backbone.stage*``, ``neck.*``, ``bbox_head.multi_level_*``) plus one
family for the angle branch (``rotated-yolox.md`` §2.1)::

    bbox_head.multi_level_conv_ang.<level>.{weight,bias}  ->  head.ang_preds.<level>.{weight,bias}

Every other key is mapped exactly as an MMDetection YOLOX key
(:func:`yoloxkit.checkpoints.mmdet_to_megvii_key`): ``neck.out_convs`` become the head's
``stems``, ``main_conv/short_conv/final_conv/blocks`` become ``conv1/conv2/conv3/m``, and so on.
Keys outside the model (the EMA copy ``ema_*``, ``data_preprocessor.*``) map to ``None``.

:func:`yoloxkit.checkpoints.read_checkpoint` reads such files through its MMDetection branch;
it keeps the angle convs once its prefix table holds the pair ``_ANGLE_PREFIX`` below, and
:func:`is_rotated_state_dict` is what tells ``infer_architecture`` to pick a rotated model.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ..checkpoints import mmdet_to_megvii_key

_ANGLE_PREFIX = ("bbox_head.multi_level_conv_ang.", "head.ang_preds.")


def ai4rs_to_yoloxkit_key(key: str) -> str | None:
    """Map one ai4rs Rotated YOLOX key to this package's name; ``None`` for keys outside the model."""
    old, new = _ANGLE_PREFIX
    if key.startswith(old):
        return new + key[len(old) :]
    return mmdet_to_megvii_key(key)


def is_rotated_state_dict(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """True when the weights carry an angle branch (ai4rs or yoloxkit naming)."""
    return any(key.startswith((_ANGLE_PREFIX[0], _ANGLE_PREFIX[1])) for key in state_dict)


def map_ai4rs_state_dict(state_dict: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(weights renamed for :class:`~yoloxkit.models.rotated.RotatedYOLOX`, ignored keys)."""
    renamed = {key: ai4rs_to_yoloxkit_key(key) for key in state_dict}
    mapped = {new: state_dict[old] for old, new in renamed.items() if new is not None}
    return mapped, [old for old, new in renamed.items() if new is None]
