"""Random rotation of the rotated recipe (ai4rs ``RandomRotate`` with ``rect_obj_labels``).

With probability ``rotate_prob`` the image turns by ``angle ~ U[-rotate_range, rotate_range)``
degrees (positive: clockwise on screen) about its centre, on the same canvas; if it holds an
object of a ``rect_obj_classes`` class (DOTA: storage tanks and roundabouts, round objects that
annotators draw axis-aligned), the angle is instead one of 90, 180, -90, -180, which keeps their
boxes axis-aligned. The classes are configured by name and resolved here to the dataset's indices.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np

logger = logging.getLogger("yoloxkit.augment")

#: The angles allowed when a rect_obj class is present (ai4rs ``horizontal_angles``).
RIGHT_ANGLES = (90.0, 180.0, -90.0, -180.0)


def rect_class_indices(names: Sequence[str], class_names: Sequence[str] | None) -> np.ndarray:
    """The 0-based indices of the classes ``names`` among ``class_names`` (the dataset's, in index order).

    Names that the dataset lacks are skipped with a warning (a dataset without storage tanks has
    nothing to protect); without ``class_names`` no class is protected, also with a warning.
    """
    if not names:
        return np.zeros(0, dtype=np.int64)
    if class_names is None:
        logger.warning("rect_obj_classes %s not applied: the sample source does not name its classes", list(names))
        return np.zeros(0, dtype=np.int64)
    missing = [name for name in names if name not in class_names]
    if missing:
        logger.warning("rect_obj_classes %s are not classes of this dataset (%s); they are ignored",
                       missing, ", ".join(class_names))  # fmt: skip
    return np.array([class_names.index(name) for name in names if name in class_names], dtype=np.int64)


def sample_rotation(
    rng: np.random.Generator, prob: float, angle_range: float, classes: np.ndarray, rect_classes: np.ndarray
) -> float:
    """The rotation in degrees (0.0 when the sample is not rotated), drawn as the reference does.

    Draws: ``random() < prob``; if rotating, the free angle; if a class of ``rect_classes`` is
    among ``classes``, an index into :data:`RIGHT_ANGLES` replaces it.
    """
    if not rng.random() < prob:
        return 0.0
    angle = angle_range * (2 * rng.random() - 1)
    if np.isin(classes, rect_classes).any():
        angle = RIGHT_ANGLES[int(rng.integers(0, len(RIGHT_ANGLES)))]
    return float(angle)


def rotation_matrix(angle: float, width: float, height: float) -> np.ndarray:
    """2x3 map turning points ``angle`` degrees clockwise (on screen) about ``(width / 2, height / 2)``.

    Coordinates are pixel-edge ones (the box convention); :func:`yoloxkit.augment.view.pixel_matrix`
    gives the matching map of pixel indices for ``cv2.warpAffine`` (which is mmcv's rotation about
    ``((w - 1) / 2, (h - 1) / 2)``).
    """
    return cv2.getRotationMatrix2D((width / 2, height / 2), -angle, 1.0)
