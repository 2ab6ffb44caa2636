"""The images an export is checked (parity) and calibrated (int8) on when none are given."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.images import read_image
from ..data.sources import load_images
from ..datasets.load import load_dataset
from ..evaluation.groundtruth import resolve_split

#: Parity-check images unless told (``--check-count``).
DEFAULT_COUNT = 8


def default_images(data: str | Path | None, split: str, count: int) -> list[np.ndarray]:
    """``count`` images spread evenly over ``split`` of the labelled dataset ``data`` (the user's
    own images, the ones the mAP check evaluates); without ``data``, the bundled demo image."""
    if data is None:
        return load_images(None, count)
    chosen = resolve_split(load_dataset(data), split)
    records = chosen.images
    picks = np.unique(np.linspace(0, len(records) - 1, min(count, len(records))).round().astype(int)) if records else []
    return [read_image(chosen.path(records[i])) for i in picks] or load_images(None, count)
