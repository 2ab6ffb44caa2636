"""Data structures shared by every part of yoloxkit: boxes and detections."""

from .boxes import BoxFormat, Boxes
from .detections import Detections

__all__ = ["BoxFormat", "Boxes", "Detections"]
