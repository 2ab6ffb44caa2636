"""``data kfold``: stratified, seeded, image-level (or group-level) folds as split manifests.

Fold ``k`` is a ``split.yaml`` in ``OUT/fold-k/`` whose ``val`` split is the k-th fold and whose
``train`` split is every other fold, so ``--data OUT/fold-k`` trains and validates on it like any
split dataset. Folds are stratified by class presence as ``data split`` is (iterative
stratification over equal shares). With ``--group-by REGEX`` images sharing a group (a source
video, a DOTA scene: the regex's first group, or its whole match, on the image's path) are kept
in one fold, so near-duplicates never sit on both sides. ``OUT/folds.json`` records the folds:
images and objects per class in each, and the largest deviation of a class's share from 1/K.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import yaml

from ..errors import YoloxkitError
from ..files import write_json
from .fileio import write_text
from .load import MANIFEST, MANIFEST_TAG, common_root, image_key
from .model import Dataset, ImageRecord
from .splitting import assign_strata

FOLD_PREFIX = "fold-"


def group_keys(keys: list[str], pattern: str) -> list[str]:
    """The group of each image key under ``pattern`` (its first group, else its whole match)."""
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise YoloxkitError(f"--group-by: {pattern!r} is not a regular expression ({exc})") from None
    groups, unmatched = [], []
    for key in keys:
        found = regex.search(key)
        if found is None:
            unmatched.append(key)
            continue
        groups.append(found.group(1) if regex.groups else found.group(0))
    if unmatched:
        raise YoloxkitError(f"--group-by {pattern!r} matches no group in {len(unmatched)} images, e.g. {unmatched[0]!r}")
    return groups


def make_kfold(dataset: Dataset, folds: int, seed: int, out: Path, group_by: str | None = None) -> dict:
    """Write ``out/fold-<k>/split.yaml`` for k in 0..folds-1 and ``out/folds.json``; return the latter."""
    if folds < 2:
        raise YoloxkitError(f"--folds must be at least 2, got {folds}")
    root = common_root(dataset)
    unique: dict[str, ImageRecord] = {}
    for split, image in dataset.items():
        unique.setdefault(image_key(root, split, image), image)
    keys, images = list(unique), list(unique.values())
    if len(keys) < folds:
        raise YoloxkitError(f"{len(keys)} images cannot make {folds} folds")
    groups = group_keys(keys, group_by) if group_by else keys
    members: dict[str, list[int]] = {}
    for index, group in enumerate(groups):
        members.setdefault(group, []).append(index)
    if len(members) < folds:
        raise YoloxkitError(f"{len(members)} groups cannot make {folds} folds")
    names = list(members)
    classes = [set().union(*(set(images[i].annotations.category_ids.tolist()) for i in members[g])) for g in names]
    strata = assign_strata(classes, [1.0 / folds] * folds, seed, [len(members[g]) for g in names])
    fold_of = np.empty(len(keys), dtype=int)
    for group, fold in zip(names, strata):
        fold_of[members[group]] = fold
    source = Path(dataset.source).resolve()
    for k in range(folds):
        manifest = {
            MANIFEST_TAG: 1, "source": Path(os.path.relpath(source, (out / f"{FOLD_PREFIX}{k}").resolve())).as_posix(),
            "format": dataset.format, "seed": seed, "fold": k, "folds": folds,
            "splits": {"train": [key for key, f in zip(keys, fold_of) if f != k], "val": [key for key, f in zip(keys, fold_of) if f == k]},
        }  # fmt: skip
        write_text(out / f"{FOLD_PREFIX}{k}" / MANIFEST, yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True))
    record = fold_balance(dataset, images, fold_of, folds) | {"seed": seed, "group_by": group_by, "groups": len(members)}
    write_json(out / "folds.json", record)
    return record


def fold_balance(dataset: Dataset, images: list[ImageRecord], fold_of: np.ndarray, folds: int) -> dict:
    """Images and objects per class in each fold, and each class's largest deviation from 1/K."""
    names = dataset.names
    counts = {name: [0] * folds for name in names.values()}
    per_fold = [{"fold": k, "images": int((fold_of == k).sum()), "objects": 0} for k in range(folds)]
    for image, fold in zip(images, fold_of):
        per_fold[fold]["objects"] += len(image.annotations)
        for cid in image.annotations.category_ids.tolist():
            counts[names[int(cid)]][fold] += 1
    deviation = {}
    for name, row in counts.items():
        total = sum(row)
        deviation[name] = max(abs(c / total - 1 / folds) for c in row) if total else None
    return {"folds": folds, "per_fold": per_fold, "objects_per_class": counts, "max_share_deviation": deviation}
