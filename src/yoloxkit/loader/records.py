"""What the loader keeps per image of a split: file, annotated size, trainable objects (flat arrays).

Objects are prepared as the reference's COCO loader does: crowd regions left out (not used as
ignore regions), class index = position of the category id among the sorted ids, coordinates
multiplied by the fit ratio ``r = min(H / h, W / w)`` so that they match the pre-resized image.
Axis-aligned boxes are clipped to the image and kept when some area is left; the reference
instead computes ``x2 = min(W, max(0, x) + w)``, which shifts a box crossing the left or top
border by its overhang (and keeps boxes lying entirely left of or above the image). Polygons are
kept whole when their area is positive. What is left out is counted in
:attr:`TrainRecords.dropped`.

All objects live in one array with per-image offsets, which forked workers share cheaply.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..errors import YoloxkitError
from ..structures.boxes import BoxFormat, Boxes
from ..augment.fit import fit_scale
from ..datasets.model import Dataset, ImageRecord


@dataclass(eq=False)
class TrainRecords:
    """Images of one split with their objects fitted to ``input_size``."""

    paths: list[str]
    sizes: np.ndarray  # int64 [N, 2]: annotated (height, width)
    boxes: np.ndarray  # float64 [M, D]: xyxy or qbox, fitted
    classes: np.ndarray  # int64 [M]
    offsets: np.ndarray  # int64 [N + 1]: objects of image i are rows offsets[i]:offsets[i + 1]
    box_format: BoxFormat
    input_size: tuple[int, int]
    class_names: list[str]
    dropped: Counter = field(default_factory=Counter)  # reason -> objects left out

    def __len__(self) -> int:
        return len(self.paths)

    @classmethod
    def from_split(cls, dataset: Dataset, split: str, input_size: tuple[int, int]) -> "TrainRecords":
        """The images of ``dataset.splits[split]`` (with their files' paths) prepared for training."""
        if split not in dataset.splits:
            raise YoloxkitError(f"split {split!r} not found; the dataset has {', '.join(dataset.splits) or 'no splits'}")
        chosen = dataset.splits[split]
        if not chosen.images:
            raise YoloxkitError(f"split {split!r} has no images")
        class_index = dataset.class_index
        dropped: Counter = Counter()
        boxes, classes, counts = [], [], []
        for image in chosen.images:
            kept, kept_classes = _trainable(image, class_index, dataset.box_format, dropped)
            r = fit_scale(image.height, image.width, input_size)[0]
            boxes.append(kept * r)
            classes.append(kept_classes)
            counts.append(len(kept_classes))
        names = {c.id: c.name for c in dataset.categories}
        return cls(
            paths=[str(chosen.path(image)) for image in chosen.images],
            sizes=np.array([(image.height, image.width) for image in chosen.images], dtype=np.int64).reshape(-1, 2),
            boxes=np.concatenate(boxes).reshape(-1, dataset.box_format.width),
            classes=np.concatenate(classes).astype(np.int64),
            offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            box_format=dataset.box_format,
            input_size=tuple(input_size),
            class_names=[names[cid] for cid in sorted(class_index)],
            dropped=dropped,
        )

    def objects(self, index: int) -> tuple[Boxes, np.ndarray]:
        """Boxes (a copy) and class indices of image ``index``."""
        start, stop = self.offsets[index], self.offsets[index + 1]
        return Boxes(self.boxes[start:stop].copy(), self.box_format), self.classes[start:stop]

    def has_objects(self, index: int) -> bool:
        """True when image ``index`` has at least one trainable object."""
        return bool(self.offsets[index + 1] > self.offsets[index])

    def fitted_shape(self, index: int) -> tuple[int, int]:
        """(height, width) of image ``index`` after the pre-resize."""
        height, width = self.sizes[index]
        _, new_h, new_w = fit_scale(int(height), int(width), self.input_size)
        return new_h, new_w


def _trainable(image: ImageRecord, class_index: dict[int, int], fmt: BoxFormat, dropped: Counter) -> tuple[np.ndarray, np.ndarray]:
    """The boxes (float64, cleaned) and class indices of the objects of ``image`` that can be trained on."""
    ann = image.annotations
    data = np.asarray(ann.boxes.data, dtype=np.float64).reshape(-1, fmt.width)
    known = np.array([cid in class_index for cid in ann.category_ids.tolist()], dtype=bool)
    finite = np.isfinite(data).all(axis=1)
    if fmt == BoxFormat.QBOX:
        area = Boxes(np.where(finite[:, None], data, 0.0), fmt).area()
        valid = finite & (area > 0)
    else:
        data = data.copy()
        np.clip(data[:, 0::2], 0, image.width, out=data[:, 0::2])
        np.clip(data[:, 1::2], 0, image.height, out=data[:, 1::2])
        valid = finite & (data[:, 2] > data[:, 0]) & (data[:, 3] > data[:, 1])
    crowd = ann.iscrowd.astype(bool)
    dropped["crowd"] += int(crowd.sum())
    dropped["unknown category"] += int((~crowd & ~known).sum())
    dropped["degenerate or outside"] += int((~crowd & known & ~valid).sum())
    keep = ~crowd & known & valid
    classes = np.array([class_index[cid] for cid in ann.category_ids[keep].tolist()], dtype=np.int64)
    return data[keep], classes
