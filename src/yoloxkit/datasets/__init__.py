"""Datasets: one model with COCO semantics, readers and writers for COCO, YOLO, Pascal VOC and DOTA.

Typical use::

    from yoloxkit.datasets import load_dataset, write_dataset, Report
    dataset = load_dataset("path/to/data")          # format detected, splits included
    write_dataset(dataset, "coco", Path("out"), Report())
"""

from .load import FORMATS, detect, load_dataset, write_dataset
from .model import Annotations, Category, Dataset, ImageRecord, Split
from .report import Finding, Report

__all__ = [
    "FORMATS", "Annotations", "Category", "Dataset", "Finding", "ImageRecord", "Report", "Split",
    "detect", "load_dataset", "write_dataset",
]  # fmt: skip
