"""What the transforms work on: an image with its boxes and class indices, and where samples come from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..structures.boxes import Boxes


@dataclass(eq=False)
class Sample:
    """A BGR uint8 HxWx3 image, its boxes (``xyxy`` or ``qbox`` pixels) and 0-based class indices.

    Transforms never write into ``image`` (it may be a read-only view of an image cache); they
    return new arrays.
    """

    image: np.ndarray
    boxes: Boxes
    classes: np.ndarray  # int64 [N]

    def __len__(self) -> int:
        return len(self.classes)

    def with_boxes(self, boxes: Boxes, image: np.ndarray | None = None) -> "Sample":
        """The same objects with moved boxes (and optionally another image)."""
        return Sample(self.image if image is None else image, boxes, self.classes)

    def select(self, keep: np.ndarray) -> "Sample":
        """The objects where ``keep`` is True."""
        return Sample(self.image, self.boxes[keep], self.classes[keep])


class SampleSource(Protocol):
    """Training images, already resized to fit the input size (the reference's pre-resize).

    Shapes and objects come without decoding, so that a mosaic decodes only the images the
    output can see.
    """

    def __len__(self) -> int: ...

    def shape(self, index: int) -> tuple[int, int]:
        """(height, width) of fitted image ``index``."""
        ...

    def objects(self, index: int) -> tuple[Boxes, np.ndarray]:
        """Boxes (fitted, a copy the caller may keep) and class indices of image ``index``."""
        ...

    def image(self, index: int) -> np.ndarray:
        """Fitted BGR uint8 image ``index`` (possibly a read-only view)."""
        ...

    def has_objects(self, index: int) -> bool:
        """True when image ``index`` has at least one (non-crowd) object."""
        ...


def load(source: SampleSource, index: int) -> Sample:
    """Image ``index`` of ``source`` with its objects."""
    return Sample(source.image(index), *source.objects(index))
