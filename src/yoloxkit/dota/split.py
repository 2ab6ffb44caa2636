"""Cut large aerial images into overlapping patches, as MMRotate's ``img_split.py`` (``rotated-yolox.md`` §5.2).

Geometry: for each (size, gap) and scale rate, the window is ``int(size / rate)`` pixels with
gap ``int(gap / rate)``; window starts step by ``window - gap`` and the last one is moved back
to end on the image border. Windows with more than ``img_rate_thr`` of their area inside the
image are kept (if none is, those within 0.01 of the best). Windows are not resized.

Objects: a polygon goes to every window that holds at least ``iof_thr`` of its area; when it is
not wholly inside (iof < 1) its difficulty becomes 2 ("truncated"); coordinates are only
translated (never clipped), written as float32 numbers.

Output: ``<out>/images/<name>.png`` and ``<out>/annfiles/<name>.txt`` (no header lines; empty
for patches without objects), ``<name> = <image>__<window>__<x>___<y>``. Patches of windows
running past the image are padded bottom/right with ``padding_value`` (BGR 104, 116, 124).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..data.images import read_image
from ..datasets.dota import label_dir, read_dota, split_folders
from ..datasets.imagefiles import image_size, list_images
from ..datasets.report import Report
from ..errors import YoloxkitError
from ..files import atomic_write
from ..structures.boxes import BoxFormat, convert
from .polygons import window_iof

#: Folder names the split writes (``annfiles`` is what MMRotate's loader reads).
IMAGE_DIR, LABEL_DIR = "images", "annfiles"


@dataclass(frozen=True)
class SplitConfig:
    """Settings of the split tool; the defaults are MMRotate's single-scale ``ss_*.json``."""

    sizes: tuple[int, ...] = (1024,)
    gaps: tuple[int, ...] = (200,)
    rates: tuple[float, ...] = (1.0,)
    img_rate_thr: float = 0.6
    iof_thr: float = 0.7
    padding: bool = True
    padding_value: tuple[int, int, int] = (104, 116, 124)
    ext: str = ".png"

    def __post_init__(self) -> None:
        if len(self.sizes) != len(self.gaps) or not self.sizes:
            raise YoloxkitError(f"sizes and gaps must pair up, got sizes {self.sizes} and gaps {self.gaps}")
        if any(r <= 0 for r in self.rates) or not self.rates:
            raise YoloxkitError(f"scale rates must be > 0, got {self.rates}")
        for size, gap in self.windows():
            if not 0 <= gap < size:
                raise YoloxkitError(f"gap must be >= 0 and smaller than the window, got window {size} and gap {gap}")

    def windows(self) -> list[tuple[int, int]]:
        """(window size, gap) pairs in pixels of the original image, one per size and rate."""
        return [(int(s / r), int(g / r)) for s, g in zip(self.sizes, self.gaps) for r in self.rates]


def sliding_windows(width: int, height: int, config: SplitConfig) -> np.ndarray:
    """``[K, 4]`` int64 windows ``(x1, y1, x2, y2)`` of an image, in the split tool's order."""
    found = []
    for size, gap in config.windows():
        step = size - gap
        starts = []
        for extent in (width, height):
            count = 1 if extent <= size else math.ceil((extent - size) / step + 1)
            axis = [step * i for i in range(count)]
            if len(axis) > 1 and axis[-1] + size > extent:
                axis[-1] = extent - size
            starts.append(axis)
        start = np.array(list(itertools.product(*starts)), dtype=np.int64).reshape(-1, 2)
        found.append(np.concatenate([start, start + size], 1))
    windows = np.concatenate(found)
    inside = windows.copy()
    inside[:, 0::2] = inside[:, 0::2].clip(0, width)
    inside[:, 1::2] = inside[:, 1::2].clip(0, height)
    rates = np.prod(inside[:, 2:] - inside[:, :2], 1) / np.prod(windows[:, 2:] - windows[:, :2], 1)
    if not (rates > config.img_rate_thr).any():
        rates[np.abs(rates - rates.max()) < 0.01] = 1
    return windows[rates > config.img_rate_thr]


def patch_name(stem: str, window: Sequence[int]) -> str:
    """``<stem>__<window width>__<x>___<y>``, the DOTA tools' patch name."""
    x1, y1, x2, _ = (int(v) for v in window)
    return f"{stem}__{x2 - x1}__{x1}___{y1}"


@dataclass
class ImageObjects:
    """The objects of one image as the split tool sees them: float32 polygons, names, difficulty."""

    quads: np.ndarray  # float32 [N, 8]
    names: list[str]
    difficulty: np.ndarray  # int [N], 0/1 (2 = already truncated)


@dataclass
class Patch:
    """One written patch: its name, window and objects (polygons in patch pixels)."""

    name: str
    window: tuple[int, int, int, int]
    objects: ImageObjects
    iof: np.ndarray = field(default_factory=lambda: np.zeros(0))


def window_objects(objects: ImageObjects, windows: np.ndarray, iof_thr: float) -> Iterator[tuple[ImageObjects, np.ndarray]]:
    """Per window: the objects kept (translated, difficulty 2 when cut) and their iof."""
    iofs = window_iof(objects.quads, windows)
    for k, (x1, y1, _, _) in enumerate(windows.tolist()):
        keep = np.flatnonzero(iofs[:, k] >= iof_thr)
        iof = iofs[keep, k]
        quads = objects.quads[keep] + np.array([-x1, -y1] * 4, dtype=np.float32)
        difficulty = np.where(iof < 1, 2, objects.difficulty[keep])
        yield ImageObjects(quads, [objects.names[i] for i in keep], difficulty), iof


def label_lines(objects: ImageObjects) -> str:
    """Annotation file text: ``x1 y1 ... y4 class difficulty`` per object, float32 numbers."""
    return "".join(
        " ".join(str(v) for v in quad) + f" {name} {int(diff)}\n"
        for quad, name, diff in zip(objects.quads, objects.names, objects.difficulty.tolist())
    )


def crop_patch(image: np.ndarray, window: Sequence[int], config: SplitConfig) -> np.ndarray:
    """The window's pixels, padded bottom/right to the full window when it runs past the image."""
    x1, y1, x2, y2 = (int(v) for v in window)
    patch = image[y1:y2, x1:x2]
    if config.padding and patch.shape[:2] != (y2 - y1, x2 - x1):
        padded = np.empty((y2 - y1, x2 - x1, image.shape[2]), dtype=image.dtype)
        padded[...] = np.asarray(config.padding_value, dtype=image.dtype)
        padded[: patch.shape[0], : patch.shape[1]] = patch
        patch = padded
    return patch


def _write_image(path: Path, image: np.ndarray) -> None:
    ok, data = cv2.imencode(path.suffix, image)
    if not ok:
        raise YoloxkitError(f"cannot encode patch {path}")
    with atomic_write(path) as handle:
        handle.write(data.tobytes())


def split_image(
    image_path: Path, objects: ImageObjects | None, out: Path, config: SplitConfig = SplitConfig()
) -> list[Patch]:
    """Cut one image into ``out/images`` (+ ``out/annfiles`` when ``objects`` is given)."""
    width, height = image_size(image_path)
    windows = sliding_windows(width, height, config)
    image = read_image(image_path)
    empty = ImageObjects(np.zeros((0, 8), np.float32), [], np.zeros(0, np.int64))
    per_window = window_objects(objects or empty, windows, config.iof_thr)
    patches = []
    for window, (kept, iof) in zip(windows.tolist(), per_window):
        patch = Patch(patch_name(image_path.stem, window), tuple(window), kept, iof)
        _write_image(out / IMAGE_DIR / f"{patch.name}{config.ext}", crop_patch(image, window, config))
        if objects is not None:
            with atomic_write(out / LABEL_DIR / f"{patch.name}.txt") as handle:
                handle.write(label_lines(kept).encode())
        patches.append(patch)
    return patches


def read_objects(root: Path) -> dict[Path, ImageObjects]:
    """Image path -> objects of a DOTA folder (read by :func:`yoloxkit.datasets.dota.read_dota`)."""
    dataset = read_dota(root, Report())
    names = dataset.names
    result = {}
    for split, image in dataset.items():
        ann = image.annotations
        quads = convert(ann.boxes.data, ann.boxes.format, BoxFormat.QBOX).astype(np.float32)
        difficulty = np.where(ann.truncated, 2, ann.difficult.astype(np.int64))
        result[split.path(image)] = ImageObjects(quads, [names[int(c)] for c in ann.category_ids], difficulty)
    return result


def split_dataset(src: Path, out: Path, config: SplitConfig = SplitConfig()) -> list[Patch]:
    """Split a DOTA folder into patches (see the module docstring).

    ``src`` is a DOTA folder (``images/`` + ``labelTxt/``), a folder of such split folders
    (``train/``, ``val/``: written to ``out/train``, ``out/val``), or a folder of images without
    labels (test images: only patch images are written).
    """
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise YoloxkitError(f"not a folder: {src}")
    if label_dir(src) is None and not split_folders(src):
        images = list_images(src / IMAGE_DIR if (src / IMAGE_DIR).is_dir() else src)
        if not images:
            raise YoloxkitError(f"{src}: no images and no DOTA images/ + labelTxt/ folders found")
        jobs = [(path, None, out) for path in images]
    else:
        objects = read_objects(src)
        jobs = []
        for name, folder in split_folders(src).items():
            target = out if folder == src else out / name
            jobs += [(path, objects[path], target) for path in list_images(folder / IMAGE_DIR)]
    patches = []
    for path, found, target in tqdm(jobs, desc="split", unit="img", disable=None):
        patches += split_image(path, found, target, config)
    return patches
