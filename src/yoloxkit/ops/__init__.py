"""Tensor operations: NMS, the YOLOX postprocess, and rotated-box IoU and NMS."""

from .nms import batched_nms, box_iou, nms
from .postprocess import NMS_IOU, ROTATED_CONF, ROTATED_NMS_IOU, postprocess, rotated_postprocess, select_and_suppress
from .rotated import (
    batched_rotated_nms,
    rotated_iou,
    rotated_iou_aligned,
    rotated_iou_matched,
    rotated_nms,
)

__all__ = [
    "NMS_IOU",
    "ROTATED_CONF",
    "ROTATED_NMS_IOU",
    "batched_nms",
    "batched_rotated_nms",
    "box_iou",
    "nms",
    "postprocess",
    "rotated_iou",
    "rotated_iou_aligned",
    "rotated_iou_matched",
    "rotated_nms",
    "rotated_postprocess",
    "select_and_suppress",
]
