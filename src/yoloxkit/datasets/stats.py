"""``data stats``: distributions as PNG plots (matplotlib) and sample images with their labels drawn."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from ..data.images import read_image
from ..errors import YoloxkitError
from ..files import write_figure, write_image
from ..structures.boxes import BoxFormat, convert
from .model import Dataset, ImageRecord

logger = logging.getLogger(__name__)

_PALETTE = [(56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207), (10, 249, 72),
            (23, 204, 146), (134, 219, 61), (211, 188, 0), (255, 115, 100), (236, 24, 0), (255, 56, 132)]  # fmt: skip


def box_statistics(dataset: Dataset) -> dict[str, np.ndarray]:
    """Per-object size (sqrt of area, px) and aspect (w / h of the enclosing or rotated box), objects per image."""
    sizes, aspects, per_image = [], [], []
    for _, image in dataset.items():
        boxes = image.annotations.boxes
        per_image.append(len(boxes))
        if not len(boxes):
            continue
        sizes.append(np.sqrt(np.maximum(boxes.area(), 0)))
        if boxes.format == BoxFormat.QBOX:
            sides = convert(boxes.data, boxes.format, BoxFormat.RBOX)[:, 2:4]
        else:
            sides = convert(boxes.data, boxes.format, BoxFormat.XYWH)[:, 2:4]
        aspects.append(sides[:, 0] / np.maximum(sides[:, 1], 1e-9))
    concat = lambda parts: np.concatenate(parts) if parts else np.zeros(0)  # noqa: E731
    return {"size": concat(sizes), "aspect": concat(aspects), "objects_per_image": np.asarray(per_image)}


def write_plots(dataset: Dataset, out: Path) -> list[Path]:
    """class_histogram.png, box_sizes.png, box_aspects.png, objects_per_image.png under ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    stats = box_statistics(dataset)
    counts = {c.name: 0 for c in dataset.categories}
    names = dataset.names
    for _, image in dataset.items():
        for cid in image.annotations.category_ids.tolist():
            counts[names.get(cid, str(cid))] = counts.get(names.get(cid, str(cid)), 0) + 1
    finite_aspects = stats["aspect"][np.isfinite(stats["aspect"]) & (stats["aspect"] > 0)]
    plots = [
        ("class_histogram.png", "objects per class", lambda ax: ax.bar(list(counts), list(counts.values()))),
        ("box_sizes.png", "box size sqrt(area) [px]", lambda ax: ax.hist(stats["size"], bins=_bins(stats["size"]))),
        ("box_aspects.png", "log2(width / height)", lambda ax: ax.hist(np.log2(finite_aspects), bins=_bins(np.log2(finite_aspects)))),
        ("objects_per_image.png", "objects per image", lambda ax: ax.hist(stats["objects_per_image"], bins=max(int(stats["objects_per_image"].max(initial=0)) + 1, 1))),
    ]
    written = []
    for file_name, title, draw in plots:
        fig, ax = plt.subplots(figsize=(max(6.0, 0.25 * len(counts)) if "class" in file_name else 6.0, 4.0))
        draw(ax)
        ax.set_title(title)
        if "class" in file_name:
            ax.tick_params(axis="x", labelrotation=90)
        fig.tight_layout()
        write_figure(out / file_name, fig, dpi=100)
        plt.close(fig)
        written.append(out / file_name)
    return written


def _bins(values: np.ndarray, most: int = 50) -> int:
    """Histogram bins: ``most``, fewer for few distinct values (all boxes of one size make one bin)."""
    return int(min(most, max(len(np.unique(values)), 1)))


def draw_labels(image: np.ndarray, record: ImageRecord, names: dict[int, str]) -> np.ndarray:
    """A copy of ``image`` with the record's boxes or polygons and class names drawn."""
    canvas = image.copy()
    ann = record.annotations
    quads = convert(ann.boxes.data, ann.boxes.format, BoxFormat.QBOX).reshape(-1, 4, 2)
    for k, quad in enumerate(quads):
        cid = int(ann.category_ids[k])
        colour = _PALETTE[cid % len(_PALETTE)]
        cv2.polylines(canvas, [np.round(quad).astype(np.int32)], True, colour, 2, cv2.LINE_AA)
        x, y = np.round(quad.min(0)).astype(int)
        cv2.putText(canvas, names.get(cid, str(cid)), (x, max(y - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
    return canvas


def write_samples(dataset: Dataset, out: Path, count: int, seed: int = 0) -> list[Path]:
    """``count`` random images with their labels drawn, as ``out/samples/<split>_<name>.jpg``."""
    pairs = list(dataset.items())
    if not pairs:
        return []
    rng = np.random.default_rng(seed)
    written = []
    for index in sorted(rng.choice(len(pairs), size=min(count, len(pairs)), replace=False).tolist()):
        split, record = pairs[index]
        target = out / "samples" / f"{split.name}_{Path(record.file_name).stem}.jpg"
        try:
            image = read_image(split.path(record))
        except YoloxkitError as exc:  # one bad image does not stop the statistics
            logger.warning("warning: sample not drawn: %s", exc)
            continue
        write_image(target, draw_labels(image, record, dataset.names))
        written.append(target)
    return written
