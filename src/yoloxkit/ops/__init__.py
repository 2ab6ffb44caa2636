"""Tensor operations: NMS and the YOLOX postprocess."""

from .nms import batched_nms, box_iou, nms
from .postprocess import postprocess

__all__ = ["batched_nms", "box_iou", "nms", "postprocess"]
