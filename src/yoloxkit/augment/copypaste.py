"""Box-only copy-paste: objects cut out by their boxes from other training images, pasted in.

Peers' copy-paste needs segmentation masks; this one needs boxes only. Before the mosaic and the
affine (so the pasted objects go through them like the others), each image a sample is built
from gets, with probability ``copy_paste_prob``, 1 to ``copy_paste_max`` objects:

* **which**: a class is drawn with probability proportional to ``objects ** (1 - copy_paste_balance)``
  (balance 1: every class as likely, so rare classes are pasted most; 0: as often as they occur),
  then one of its objects uniformly;
* **how large**: its box scaled by ``U(copy_paste_scale)``, and it must fit the image and be at
  least 4 px a side;
* **where**: uniformly, tried up to 5 times until the new box covers at most
  ``copy_paste_overlap`` of any existing (or already pasted) box, else that paste is skipped;
* **how**: the box's pixels, resized; with ``copy_paste_mask="ellipse"`` blended through a soft
  elliptical mask that hides the box's edges (the label stays the box). Rotated objects (the
  rotated recipe's polygons) are pasted through their polygon: exactly the object, no background,
  and the label is the moved polygon.

Every draw comes from the sample's generator before the mosaic's own draws, so a sample is a
function of (seed, epoch, position) as before and exact resume holds; with ``copy_paste_prob``
0 (the default) nothing is drawn at all and the pipeline is the reference's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ..structures.boxes import Boxes, BoxFormat
from .sample import SampleSource

#: Smallest side (pixels) of a pasted object.
MIN_SIDE = 4
#: Positions tried per paste.
TRIES = 5


@dataclass(frozen=True)
class Paste:
    """One object to paste: from image ``donor``'s box ``source_box`` (integer xyxy) to ``target_box``
    (integer xyxy); a rotated object also carries its ``polygon`` (qbox, 8 numbers) at the target."""

    donor: int
    source_box: tuple[int, int, int, int]
    target_box: tuple[int, int, int, int]
    klass: int
    polygon: tuple[float, ...] | None = None


class ObjectBank:
    """Every object of a source that lies wholly inside its image (its enclosing xyxy box, and its
    polygon when oriented), by class."""

    def __init__(self, source: SampleSource, balance: float = 1.0) -> None:
        rows = []
        self.oriented = False
        for index in range(len(source)):
            boxes, classes = source.objects(index)
            if not len(classes):
                continue
            self.oriented = boxes.format.oriented
            xyxy = boxes.convert(BoxFormat.XYXY).numpy().data
            quads = boxes.convert(BoxFormat.QBOX).numpy().data
            height, width = source.shape(index)
            for box, quad, klass in zip(xyxy, quads, np.asarray(classes).tolist()):
                if box[0] >= 0 and box[1] >= 0 and box[2] <= width and box[3] <= height:  # whole objects only
                    rows.append((index, int(klass), *box.tolist(), *quad.tolist()))
        table = np.array(rows, dtype=np.float64).reshape(-1, 14)
        self.images, self.classes, self.boxes, self.quads = table[:, 0].astype(np.int64), table[:, 1].astype(np.int64), table[:, 2:6], table[:, 6:]
        self.by_class = [np.flatnonzero(self.classes == k) for k in np.unique(self.classes)]
        counts = np.array([len(members) for members in self.by_class], dtype=np.float64)
        weights = counts ** (1.0 - balance) if len(counts) else counts
        self.class_p = weights / weights.sum() if len(counts) else weights

    def __len__(self) -> int:
        return len(self.classes)

    def draw(self, rng: np.random.Generator) -> int:
        """Row of one object: a class by the balance, then one of its objects."""
        members = self.by_class[int(rng.choice(len(self.by_class), p=self.class_p))]
        return int(members[int(rng.integers(len(members)))])


def plan_pastes(
    rng: np.random.Generator, bank: ObjectBank, index: int, shape: tuple[int, int], existing: np.ndarray,
    count: int, scale: tuple[float, float], overlap: float,
) -> list[Paste]:  # fmt: skip
    """Up to ``count`` pastes into image ``index`` of ``shape`` (h, w) whose objects are ``existing`` xyxy boxes."""
    height, width = shape
    occupied = [np.asarray(existing, dtype=np.float64).reshape(-1, 4)]
    pastes = []
    for _ in range(count):
        row = bank.draw(rng)
        if bank.images[row] == index:  # not from itself
            continue
        x1, y1, x2, y2 = np.floor(bank.boxes[row, :2]).astype(int).tolist() + np.ceil(bank.boxes[row, 2:]).astype(int).tolist()
        factor = rng.uniform(*scale)
        w, h = int(round((x2 - x1) * factor)), int(round((y2 - y1) * factor))
        if x2 - x1 < 1 or y2 - y1 < 1 or min(w, h) < MIN_SIDE or w > width or h > height:
            continue
        for _ in range(TRIES):
            x, y = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
            target = np.array([x, y, x + w, y + h], dtype=np.float64)
            if _covered_share(np.concatenate(occupied), target).max(initial=0.0) <= overlap:
                polygon = None
                if bank.oriented:  # the polygon moved with its box: (p - box corner) x the box's resize + target corner
                    quad = bank.quads[row].reshape(4, 2)
                    stretch = np.array([w / (x2 - x1), h / (y2 - y1)])
                    polygon = tuple(((quad - (x1, y1)) * stretch + (x, y)).reshape(-1).tolist())
                pastes.append(Paste(int(bank.images[row]), (x1, y1, x2, y2), (x, y, x + w, y + h), int(bank.classes[row]), polygon))
                occupied.append(target[None])
                break
    return pastes


def _covered_share(boxes: np.ndarray, cover: np.ndarray) -> np.ndarray:
    """Share of each box's area that ``cover`` hides."""
    lt, rb = np.maximum(boxes[:, :2], cover[:2]), np.minimum(boxes[:, 2:], cover[2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=1)
    return inter / np.maximum((boxes[:, 2:] - boxes[:, :2]).prod(axis=1), 1e-9)


class PastedSource:
    """``source`` with the planned pastes drawn into its images and added to their objects."""

    def __init__(self, source: SampleSource, plans: dict[int, Sequence[Paste]], mask: str = "box") -> None:
        self.source, self.plans, self.mask = source, plans, mask

    def __len__(self) -> int:
        return len(self.source)

    def shape(self, index: int) -> tuple[int, int]:
        return self.source.shape(index)

    def has_objects(self, index: int) -> bool:
        return bool(self.plans.get(index)) or self.source.has_objects(index)

    def objects(self, index: int) -> tuple[Boxes, np.ndarray]:
        boxes, classes = self.source.objects(index)
        plan = self.plans.get(index)
        if not plan:
            return boxes, classes
        if boxes.format.oriented:
            added = Boxes(np.array([p.polygon for p in plan], dtype=np.float64), BoxFormat.QBOX).convert(boxes.format)
        else:
            added = Boxes(np.array([p.target_box for p in plan], dtype=np.float64), BoxFormat.XYXY).convert(boxes.format)
        return Boxes.cat([boxes.numpy(), added]), np.concatenate([classes, np.array([p.klass for p in plan], dtype=classes.dtype)])

    def image(self, index: int) -> np.ndarray:
        image = self.source.image(index)
        plan = self.plans.get(index)
        if not plan:
            return image
        image = image.copy()
        for paste in plan:
            x1, y1, x2, y2 = paste.source_box
            donor = self.source.image(paste.donor)[max(y1, 0) : y2, max(x1, 0) : x2]
            if donor.size == 0:
                continue
            tx1, ty1, tx2, ty2 = paste.target_box
            crop = cv2.resize(donor, (tx2 - tx1, ty2 - ty1), interpolation=cv2.INTER_LINEAR)
            region = image[ty1:ty2, tx1:tx2]
            if paste.polygon is not None:  # the object only, through its polygon
                inside = np.zeros(region.shape[:2], dtype=np.uint8)
                corners = np.array(paste.polygon).reshape(4, 2) - (tx1, ty1)
                cv2.fillPoly(inside, [np.round(corners * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
                region[inside.astype(bool)] = crop[inside.astype(bool)]
                continue
            if self.mask == "ellipse":
                alpha = soft_ellipse(ty2 - ty1, tx2 - tx1)[..., None]
                crop = np.round(alpha * crop + (1 - alpha) * region).astype(np.uint8)
            region[...] = crop
        return image


def soft_ellipse(height: int, width: int, feather: float = 0.25) -> np.ndarray:
    """``[h, w]`` weights: 1 inside the ellipse inscribed in the box, fading to 0 at its edge over ``feather``."""
    y = (np.arange(height) + 0.5) / height * 2 - 1
    x = (np.arange(width) + 0.5) / width * 2 - 1
    radius = np.sqrt(x[None, :] ** 2 + y[:, None] ** 2)
    return np.clip((1.0 - radius) / feather, 0.0, 1.0)


class CopyPaste:
    """The copy-paste step of a recipe: the source with pastes planned into the images a sample starts from."""

    def __init__(self, source: SampleSource, prob: float, max_objects: int, scale: tuple[float, float], overlap: float,
                 balance: float, mask: str) -> None:  # fmt: skip
        self.source, self.prob, self.max_objects, self.scale, self.overlap, self.mask = source, prob, max_objects, scale, overlap, mask
        self.bank = ObjectBank(source, balance)

    @classmethod
    def from_config(cls, source: SampleSource, config) -> "CopyPaste | None":  # noqa: ANN001 - AugmentConfig
        """The step for ``config`` (None when copy-paste is off or the source has no object)."""
        if config.copy_paste_prob <= 0:
            return None
        step = cls(source, config.copy_paste_prob, config.copy_paste_max, config.copy_paste_scale, config.copy_paste_overlap,
                   config.copy_paste_balance, config.copy_paste_mask)  # fmt: skip
        return step if len(step.bank) else None

    def source_for(self, indices: Sequence[int], rng: np.random.Generator) -> PastedSource:
        """Pastes drawn (from ``rng``) for each distinct image of ``indices``, with probability ``prob`` each."""
        plans = {}
        for index in dict.fromkeys(indices):
            if rng.random() < self.prob:
                boxes, _ = self.source.objects(index)
                existing = boxes.convert(BoxFormat.XYXY).numpy().data if len(boxes) else np.zeros((0, 4))
                count = int(rng.integers(1, self.max_objects + 1))
                plans[index] = plan_pastes(rng, self.bank, index, self.source.shape(index), existing, count, self.scale, self.overlap)
        return PastedSource(self.source, plans, self.mask)
