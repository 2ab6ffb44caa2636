"""``data synth``: a synthetic detection dataset with exactly known labels (for demos and tests).

Each class is a shape/colour pair (``red-rectangle``, ``green-ellipse``, ...) drawn as a filled
polygon on a smooth random texture. Labels are computed from the polygon itself: the tight
axis-aligned box, or with ``rotated`` the shape's own rotated rectangle as a ``qbox``.

Object sides are drawn independently in ``object_size`` (fractions of the shorter image side),
so some objects are nearly square; ``aspect`` draws the long side there and the short side as
long / ``U(aspect)`` instead, giving elongated objects whose orientation is well defined (the
rotated learning test uses it). Rotated objects turn by ``U[-90, 90)`` degrees, so their le90
angles cover the whole range, both ends included.
"""

from __future__ import annotations

from collections.abc import Sequence

from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..errors import YoloxkitError
from ..files import write_image
from ..structures.boxes import BoxFormat, convert
from .categories import from_names
from .model import Annotations, Dataset, ImageRecord, Split

SHAPES = ("rectangle", "ellipse", "triangle", "diamond")
COLOURS = {"red": (40, 40, 220), "green": (60, 190, 60), "blue": (210, 90, 30), "yellow": (40, 220, 230),
           "magenta": (200, 60, 200), "cyan": (210, 210, 50), "white": (245, 245, 245), "black": (15, 15, 15)}  # fmt: skip
#: Default (low, high) object side, as a fraction of the shorter image side.
OBJECT_SIZE = (0.06, 0.3)


def class_names(count: int) -> list[str]:
    """``count`` class names, shapes varying fastest."""
    combos = [f"{c}-{s}" for c in COLOURS for s in SHAPES]
    if not 1 <= count <= len(combos):
        raise ValueError(f"classes must be 1..{len(combos)}")
    return combos[:count]


def _outline(shape: str, w: float, h: float) -> np.ndarray:
    """Polygon of a shape filling the box [-w/2, w/2] x [-h/2, h/2], touching all four sides."""
    if shape == "rectangle":
        return np.array([[-w, -h], [w, -h], [w, h], [-w, h]], dtype=np.float64) / 2
    if shape == "ellipse":
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        return np.stack([np.cos(t) * w / 2, np.sin(t) * h / 2], 1)
    if shape == "triangle":
        return np.array([[-w / 2, h / 2], [w / 2, h / 2], [0, -h / 2]])
    return np.array([[0, -h / 2], [w / 2, 0], [0, h / 2], [-w / 2, 0]])


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    small = rng.integers(60, 200, size=(max(height // 32, 2), max(width // 32, 2), 3)).astype(np.uint8)
    base = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    noise = rng.normal(0, 8, size=base.shape)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _sides(rng: np.random.Generator, object_size: tuple[float, float], aspect: tuple[float, float] | None, scale: int) -> tuple[float, float]:
    """Width and height of one object: both in ``object_size``, or the long one there and the short one long / U(aspect)."""
    if aspect is None:
        w, h = rng.uniform(*object_size, size=2) * scale
        return float(w), float(h)
    long = float(rng.uniform(*object_size)) * scale
    return long, long / float(rng.uniform(*aspect))


#: Draws of size and position per object when ``min_visible`` is set, before it is left out.
PLACEMENT_TRIES = 50


class _Coverage:
    """Which object owns each pixel of an image, to keep every object at least ``min_visible`` uncovered."""

    def __init__(self, size: tuple[int, int], min_visible: float) -> None:
        self.owner = np.full(size, -1, dtype=np.int32)
        self.areas: list[int] = []
        self.min_visible = min_visible

    def place(self, polygon: np.ndarray) -> bool:
        """Take the polygon's pixels if every earlier object keeps ``min_visible`` of its own; else change nothing."""
        mask = np.zeros(self.owner.shape, dtype=np.uint8)
        cv2.fillPoly(mask, [np.round(polygon * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
        inside = mask.astype(bool)
        left = np.bincount(self.owner[~inside & (self.owner >= 0)], minlength=len(self.areas))
        if any(kept < self.min_visible * area for kept, area in zip(left.tolist(), self.areas)):
            return False
        self.owner[inside] = len(self.areas)
        self.areas.append(max(int(inside.sum()), 1))
        return True

    def shares(self) -> list[float]:
        """Per placed object, the share of its pixels no later object covers."""
        left = np.bincount(self.owner[self.owner >= 0], minlength=len(self.areas))
        return [kept / area for kept, area in zip(left.tolist(), self.areas)]


def visible_shares(boxes: np.ndarray, category_ids: Sequence[int], size: tuple[int, int], first_class: int = 0) -> list[float]:
    """Per object of an axis-aligned synthetic image (``xyxy`` labels in drawing order, category ids
    as written: 1-based), the share of its pixels that no later object covers. Each shape touches
    all four sides of its box, so the box and class give back the drawn polygon."""
    cover = _Coverage(size, 0.0)
    for (x0, y0, x1, y1), category in zip(np.asarray(boxes, dtype=np.float64).reshape(-1, 4).tolist(), category_ids):
        shape = SHAPES[(first_class + int(category) - 1) % len(SHAPES)]
        cover.place(_outline(shape, x1 - x0, y1 - y0) + ((x0 + x1) / 2, (y0 + y1) / 2))
    return cover.shares()


def render(
    rng: np.random.Generator, size: tuple[int, int], classes: int, rotated: bool, max_objects: int,
    object_size: tuple[float, float] = OBJECT_SIZE, aspect: tuple[float, float] | None = None, first_class: int = 0,
    class_share: np.ndarray | None = None, min_visible: float | None = None,
) -> tuple[np.ndarray, list, list]:  # fmt: skip
    """One image (BGR) with its boxes (xyxy or qbox rows) and 0-based class indices (counted from ``first_class``;
    drawn with the probabilities ``class_share`` when given, else uniformly). ``min_visible``: each
    object is placed (up to ``PLACEMENT_TRIES`` draws of size and position) where it leaves every
    earlier object at least this share of its pixels uncovered, or left out (None: no check)."""
    height, width = size
    image = _texture(rng, height, width)
    boxes, labels = [], []
    cover = None if min_visible is None else _Coverage((height, width), min_visible)
    for _ in range(int(rng.integers(0, max_objects + 1))):
        klass = first_class + int(rng.integers(classes) if class_share is None else rng.choice(classes, p=class_share))
        for _try in range(1 if cover is None else PLACEMENT_TRIES):
            w, h = _sides(rng, object_size, aspect, min(width, height))
            angle = float(rng.uniform(-np.pi / 2, np.pi / 2)) if rotated else 0.0
            half = 0.5 * (abs(w * np.cos(angle)) + abs(h * np.sin(angle))), 0.5 * (abs(w * np.sin(angle)) + abs(h * np.cos(angle)))
            cx, cy = rng.uniform(half[0], width - half[0]), rng.uniform(half[1], height - half[1])
            rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
            polygon = _outline(SHAPES[klass % len(SHAPES)], w, h) @ rotation.T + (cx, cy)
            if cover is None or cover.place(polygon):
                break
        else:
            continue  # no place leaves the others visible enough: one object fewer
        colour = list(COLOURS.values())[klass // len(SHAPES)]
        cv2.fillPoly(image, [np.round(polygon * 16).astype(np.int32)], colour, cv2.LINE_AA, shift=4)
        if rotated:
            boxes.append(convert(np.array([cx, cy, w, h, angle]), BoxFormat.RBOX, BoxFormat.QBOX).tolist())
        else:
            boxes.append([*polygon.min(0), *polygon.max(0)])
        labels.append(klass - first_class)
    return image, boxes, labels


def synthesize(
    folder: Path, images: int, classes: int, rotated: bool = False, size: tuple[int, int] = (320, 320),
    val_fraction: float = 0.2, seed: int = 0, max_objects: int = 6,
    object_size: tuple[float, float] = OBJECT_SIZE, aspect: tuple[float, float] | None = None, first_class: int = 0,
    class_share: Sequence[float] | None = None, min_visible: float | None = None,
) -> Dataset:  # fmt: skip
    """Render ``images`` PNGs into ``folder`` and return their dataset (splits ``train`` and ``val``).

    ``object_size`` (low, high): object sides as fractions of the shorter image side;
    ``aspect`` (low, high): long / short side ratio of every object (None: sides drawn independently).
    ``first_class``: the classes are the shape/colour pairs ``first_class .. first_class + classes - 1``
    (a second dataset of other colours, for transfer learning). ``class_share``: relative frequency of
    each class among the objects (e.g. ``[1, 1, 1, 0.1]``: a rare last class; default equal).
    ``min_visible``: every object keeps at least this share of its pixels uncovered by later ones
    (objects that find no such place within ``PLACEMENT_TRIES`` draws are left out); None: objects
    may hide each other completely, while their labels still give the whole shape. The defaults
    render exactly what earlier versions rendered for a seed.
    """
    if len(object_size) != 2 or not 0 < object_size[0] <= object_size[1] <= 1:
        raise YoloxkitError(f"object_size must be (low, high) with 0 < low <= high <= 1, got {tuple(object_size)}")
    if aspect is not None and (len(aspect) != 2 or not 1 <= aspect[0] <= aspect[1]):
        raise YoloxkitError(f"aspect must be (low, high) with 1 <= low <= high, got {tuple(aspect)}")
    share = None
    if class_share is not None:
        share = np.asarray(class_share, dtype=np.float64)
        if share.shape != (classes,) or (share < 0).any() or share.sum() <= 0:
            raise YoloxkitError(f"class_share must give {classes} non-negative numbers, not all 0; got {list(class_share)}")
        share = share / share.sum()
    if min_visible is not None and not 0 < min_visible <= 1:
        raise YoloxkitError(f"min_visible must be in (0, 1], got {min_visible}")
    rng = np.random.default_rng(seed)
    if first_class < 0:
        raise YoloxkitError(f"first_class must be >= 0, got {first_class}")
    try:
        names = class_names(first_class + classes)[first_class:]
    except ValueError:
        raise YoloxkitError(f"classes: at most {len(COLOURS) * len(SHAPES)} shape/colour pairs, asked for {first_class + classes}") from None
    box_format = BoxFormat.QBOX if rotated else BoxFormat.XYXY
    records = []
    for i in tqdm(range(images), desc="rendering", unit="img", disable=None):
        image, boxes, labels = render(rng, size, classes, rotated, max_objects, object_size, aspect, first_class, share, min_visible)
        file_name = f"synth_{i:06d}.png"
        write_image(folder / file_name, image)
        annotations = Annotations.from_lists(box_format, boxes, [k + 1 for k in labels])
        records.append(ImageRecord(file_name, size[1], size[0], annotations, i + 1))
    n_val = int(round(images * val_fraction))
    splits = {"train": Split("train", folder, records[n_val:])}
    if n_val:
        splits["val"] = Split("val", folder, records[:n_val])
    return Dataset(from_names(names), splits, box_format, "synth", str(folder))
