"""Accepted audit suspects applied to a copy of a dataset (``yoloxkit audit apply``).

Each accepted suspect (a row of ``audit.json``) is one edit of the image it names: ``spurious``
removes the label, ``class`` gives the label the predicted class, ``loose`` replaces the label's
box by the predicted one, ``missing`` adds the prediction as a new label. Label indices refer to
the labels as the audit saw them (crowd regions left out), so every edit of an image is applied
at once. The input is never changed: the result is a new dataset to write elsewhere.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ..errors import YoloxkitError
from ..structures.boxes import Boxes, BoxFormat, convert
from .load import common_root, image_key
from .model import Annotations, Dataset, ImageRecord, Split


def _edited(ann: Annotations, edits: list[dict], fmt: BoxFormat, where: str) -> Annotations:
    counted = np.flatnonzero(~ann.iscrowd)  # audit label index k -> annotation row counted[k]
    keep = np.ones(len(ann), dtype=bool)
    boxes, classes = ann.boxes.data.astype(np.float64).copy(), ann.category_ids.copy()
    added_boxes, added_classes = [], []
    for edit in edits:
        kind, evidence = edit["kind"], edit.get("evidence") or {}
        index = edit.get("label_index")
        if kind != "missing" and (index is None or not 0 <= index < len(counted)):
            raise YoloxkitError(f"{where}: suspect {edit.get('rank')} names label {index}, which this image does not have")
        if kind in ("class", "loose", "missing") and ("box" not in evidence or "category_id" not in evidence):
            raise YoloxkitError(f"{where}: suspect {edit.get('rank')} ({kind}) has no predicted box and class to apply")
        xyxy = convert(np.asarray([evidence.get("box", [0, 0, 0, 0])], dtype=np.float64), BoxFormat.XYWH, BoxFormat.XYXY)
        box = convert(xyxy, BoxFormat.XYXY, fmt)[0]
        if kind == "spurious":
            keep[counted[index]] = False
        elif kind == "class":
            classes[counted[index]] = int(evidence["category_id"])
        elif kind == "loose":
            boxes[counted[index]] = box
        elif kind == "missing":
            added_boxes.append(box)
            added_classes.append(int(evidence["category_id"]))
        else:
            raise YoloxkitError(f"{where}: unknown suspect kind {kind!r}")
    edited = Annotations(Boxes(boxes, fmt), classes, ann.iscrowd, ann.difficult, ann.truncated, ann.area).select(keep)
    if not added_boxes:
        return edited
    return edited.appended(Annotations.from_lists(fmt, [list(b) for b in added_boxes], added_classes))


def apply_suspects(dataset: Dataset, accepted: list[dict]) -> tuple[Dataset, Counter]:
    """``dataset`` with the ``accepted`` suspects applied, and how many edits of each kind."""
    ids = {c.id for c in dataset.categories}
    for edit in accepted:
        category = (edit.get("evidence") or {}).get("category_id")
        if edit["kind"] != "spurious" and category not in ids:
            raise YoloxkitError(f"suspect {edit.get('rank')}: class id {category} is not a category of {dataset.source}")
    by_image: dict[str, list[dict]] = {}
    for edit in accepted:
        by_image.setdefault(edit["image"], []).append(edit)
    root, seen, splits = common_root(dataset), set(), {}
    for key, split in dataset.splits.items():
        images = []
        for image in split.images:
            name = image_key(root, split, image)
            edits = by_image.get(name)
            if edits:
                seen.add(name)
                image = ImageRecord(image.file_name, image.width, image.height,
                                    _edited(image.annotations, edits, dataset.box_format, name), image.id, image.meta, image.source)  # fmt: skip
            images.append(image)
        splits[key] = Split(split.name, split.root, images)
    unknown = set(by_image) - seen
    if unknown:
        raise YoloxkitError(f"{len(unknown)} accepted suspects name images not in {dataset.source}, e.g. {sorted(unknown)[0]!r}")
    return Dataset(dataset.categories, splits, dataset.box_format, dataset.format, dataset.source), Counter(e["kind"] for e in accepted)
