"""Ground truth of one split as flat arrays, in the order and with the values pycocotools uses.

Images are indexed by their position in the sorted image ids (``COCOeval.params.imgIds``),
categories by their position in the sorted category ids (the model's class index, as in the
reference). Objects are ordered by (image, category, order in the annotation file), which is the
order pycocotools visits them in. Boxes are COCO ``[x, y, w, h]`` float64, computed from the
dataset's corners exactly as ``yoloxkit data convert --to coco`` writes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..datasets import Category, Dataset, Split, load_dataset
from ..datasets.fileio import parse_json
from ..errors import YoloxkitError
from ..structures.boxes import BoxFormat, convert


@dataclass(eq=False)
class GroundTruth:
    """The objects of one split, column-wise, plus its images and categories."""

    categories: list[Category]  # sorted by id; position = class index
    image_ids: np.ndarray  # int64 [I], sorted
    file_names: list[str]  # [I], relative to ``root``
    sizes: np.ndarray  # int64 [I, 2] (height, width)
    root: Path | None  # image folder (for drawing), None when unknown
    image: np.ndarray  # int64 [G] image index
    category: np.ndarray  # int64 [G] class index
    xywh: np.ndarray  # float64 [G, 4]
    area: np.ndarray  # float64 [G] (COCO ``area``: sizes objects into small/medium/large)
    crowd: np.ndarray  # bool [G]
    difficult: np.ndarray  # bool [G] (ignored by the VOC metric only, as in pycocotools)

    @property
    def num_images(self) -> int:
        """Images in the split, with or without objects."""
        return len(self.image_ids)

    @property
    def num_classes(self) -> int:
        """Categories (classes), with or without objects."""
        return len(self.categories)

    @property
    def names(self) -> list[str]:
        """Category names in class-index order."""
        return [c.name for c in self.categories]

    @property
    def category_ids(self) -> np.ndarray:
        """COCO category id of each class index."""
        return np.array([c.id for c in self.categories], dtype=np.int64)

    def image_index(self, image_ids: np.ndarray) -> np.ndarray:
        """Image indices of COCO image ids; -1 for ids that are not in the split."""
        return _lookup(self.image_ids, np.asarray(image_ids))

    def class_index(self, category_ids: np.ndarray) -> np.ndarray:
        """Class indices of COCO category ids; -1 for unknown ids."""
        return _lookup(self.category_ids, np.asarray(category_ids))

    def without_images(self, drop: np.ndarray | list[int]) -> tuple[GroundTruth, np.ndarray]:
        """This ground truth without the images at indices ``drop`` (and their objects).

        Returns it with the map from old to new image indices (-1 for dropped images).
        """
        keep = np.ones(self.num_images, dtype=bool)
        keep[np.asarray(drop, dtype=np.int64)] = False
        mapping = np.full(self.num_images, -1, dtype=np.int64)
        mapping[keep] = np.arange(int(keep.sum()))
        objects = keep[self.image]
        reduced = GroundTruth(
            categories=self.categories,
            image_ids=self.image_ids[keep],
            file_names=[name for name, k in zip(self.file_names, keep) if k],
            sizes=self.sizes[keep],
            root=self.root,
            image=mapping[self.image[objects]],
            category=self.category[objects],
            xywh=self.xywh[objects],
            area=self.area[objects],
            crowd=self.crowd[objects],
            difficult=self.difficult[objects],
        )
        return reduced, mapping

    @classmethod
    def from_dataset(cls, dataset: Dataset, split: str | Split) -> GroundTruth:
        """The ground truth of ``split`` (a name, see :func:`resolve_split`, or a Split of ``dataset``)."""
        if dataset.box_format != BoxFormat.XYXY:
            raise YoloxkitError(
                f"{dataset.source}: oriented ({dataset.box_format.value}) datasets are evaluated by the rotated "
                "evaluation, not by the COCO box metrics"
            )
        split = resolve_split(dataset, split) if isinstance(split, str) else split
        categories = sorted(dataset.categories, key=lambda c: c.id)
        cat_pos = {c.id: i for i, c in enumerate(categories)}
        ids = [image.id for image in split.images]
        if len(set(ids)) != len(ids):  # hand-built or merged splits: number them as the COCO writer does
            ids = list(range(1, len(ids) + 1))
        areas = _coco_file_areas(dataset, split)
        order = np.argsort(np.asarray(ids, dtype=np.int64), kind="stable")
        columns: dict[str, list[np.ndarray]] = {
            k: [] for k in ("image", "category", "xywh", "area", "crowd", "difficult")
        }
        for index, position in enumerate(order):
            record = split.images[position]
            ann = record.annotations
            xyxy = np.asarray(convert(ann.boxes.data, ann.boxes.format, BoxFormat.XYXY), dtype=np.float64)
            columns["image"].append(np.full(len(ann), index, dtype=np.int64))
            columns["category"].append(np.array([cat_pos[int(c)] for c in ann.category_ids], dtype=np.int64))
            columns["xywh"].append(convert(xyxy, BoxFormat.XYXY, BoxFormat.XYWH).reshape(-1, 4))
            own = areas.get(record.id) if areas is not None else None
            columns["area"].append(np.asarray(own if own is not None else ann.boxes.area(), dtype=np.float64))
            columns["crowd"].append(ann.iscrowd.astype(bool))
            columns["difficult"].append(ann.difficult.astype(bool))
        data = {k: np.concatenate(v) if v else np.zeros((0, 4) if k == "xywh" else 0) for k, v in columns.items()}
        # Objects ordered by (image, category, file order): the order pycocotools visits them in.
        by_group = np.lexsort((data["category"], data["image"]))
        images = [split.images[p] for p in order]
        return cls(
            categories=categories,
            image_ids=np.asarray(ids, dtype=np.int64)[order],
            file_names=[image.file_name for image in images],
            sizes=np.array([(image.height, image.width) for image in images], dtype=np.int64).reshape(-1, 2),
            root=split.root,
            image=data["image"][by_group].astype(np.int64),
            category=data["category"][by_group].astype(np.int64),
            xywh=data["xywh"][by_group].astype(np.float64).reshape(-1, 4),
            area=data["area"][by_group].astype(np.float64),
            crowd=data["crowd"][by_group].astype(bool),
            difficult=data["difficult"][by_group].astype(bool),
        )


def resolve_split(dataset: Dataset, name: str) -> Split:
    """The split called ``name``; else the only split; else the one split whose name starts with it.

    ``val`` therefore finds ``val2017`` in a COCO folder, and any name works for a single COCO JSON.
    """
    if name in dataset.splits:
        return dataset.splits[name]
    if len(dataset.splits) == 1:
        return next(iter(dataset.splits.values()))
    prefixed = [s for key, s in dataset.splits.items() if key.startswith(name)]
    if len(prefixed) == 1:
        return prefixed[0]
    raise YoloxkitError(f"{dataset.source}: no split {name!r}; it has {', '.join(dataset.splits) or 'no splits'}")


def load_ground_truth(data: str | Path | Dataset, split: str = "val") -> GroundTruth:
    """The ground truth of ``split`` in ``data`` (anything ``--data`` accepts, or a loaded Dataset)."""
    dataset = data if isinstance(data, Dataset) else load_dataset(data)
    return GroundTruth.from_dataset(dataset, split)


def _lookup(sorted_ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Positions of ``values`` in ``sorted_ids`` (-1 where absent)."""
    if len(sorted_ids) == 0:
        return np.full(len(values), -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(sorted_ids, values), len(sorted_ids) - 1)
    return np.where(sorted_ids[pos] == values, pos, -1)


def _coco_file_areas(dataset: Dataset, split: Split) -> dict[int, list[float]] | None:
    """COCO ``area`` values per image id, in file order, when ``split`` was read from a COCO JSON file.

    pycocotools sizes ground truth by the annotation's ``area`` (for COCO itself the segmentation
    area, not the box area); the dataset model keeps boxes only, so that one field is taken from the
    file. Images whose objects and areas do not line up one to one keep their box areas.
    """
    sources = {image.source for image in split.images}
    if dataset.format != "coco" or len(sources) != 1:
        return None
    path = Path(next(iter(sources)))
    if path.suffix != ".json" or not path.is_file():
        return None
    areas: dict[int, list[float]] = {}
    for ann in parse_json(path.read_text(encoding="utf-8-sig")).get("annotations") or []:
        areas.setdefault(ann.get("image_id"), []).append(ann.get("area"))
    usable = {}
    for image in split.images:
        values = areas.get(image.id, [])
        if len(values) == len(image.annotations) and all(isinstance(v, (int, float)) for v in values):
            usable[image.id] = [float(v) for v in values]
    return usable
