"""``data split``: stratified train/val/test splits written as a ``split.yaml`` manifest.

Stratification is by class presence (iterative stratification, Sechidis et al. 2011): classes are
taken from the rarest up; each unassigned image holding the class goes to the split that most
lacks that class (then the split furthest below its size target). Images without objects are
shuffled and shared out in the same ratios. The manifest references the source dataset (no copy);
``--data DIR/split.yaml`` (or ``--data DIR``) then names the split dataset.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import yaml

from ..errors import YoloxkitError
from .load import MANIFEST, MANIFEST_TAG, common_root, image_key
from .model import Dataset, ImageRecord
from .fileio import write_text

DEFAULT_NAMES = {1: ["train"], 2: ["train", "val"], 3: ["train", "val", "test"]}


def split_names(ratios: list[float], names: list[str] | None) -> list[str]:
    """The split names for ``ratios`` (given, or train/val/test)."""
    if names is None:
        if len(ratios) not in DEFAULT_NAMES:
            raise YoloxkitError(f"give --names for {len(ratios)} ratios")
        names = DEFAULT_NAMES[len(ratios)]
    if len(names) != len(ratios) or len(set(names)) != len(names):
        raise YoloxkitError(f"need {len(ratios)} distinct split names, got {names}")
    if any(r < 0 for r in ratios) or abs(sum(ratios) - 1.0) > 1e-6:
        given = " ".join(f"{r:g}" for r in ratios)
        raise YoloxkitError(f"split ratios must be non-negative and sum to 1, got {given} (sum {sum(ratios):g})")
    return names


def _quotas(count: int, fractions: np.ndarray) -> np.ndarray:
    """Integer shares of ``count`` in proportion to ``fractions`` (largest remainder)."""
    exact = fractions * count
    quotas = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - quotas), kind="stable")[: count - quotas.sum()]:
        quotas[i] += 1
    return quotas


def stratified_split(images: list[ImageRecord], ratios: list[float], seed: int) -> list[int]:
    """The split index of each image."""
    return assign_strata([set(image.annotations.category_ids.tolist()) for image in images], ratios, seed)


def assign_strata(classes: list[set], ratios: list[float], seed: int, sizes: list[int] | None = None) -> list[int]:
    """The split index of each item (an image, or a group of images holding ``sizes[i]`` of them),
    stratified by the classes each item holds (see the module docstring)."""
    rng = np.random.default_rng(seed)
    sizes = [1] * len(classes) if sizes is None else sizes
    fractions = np.asarray(ratios, dtype=float) / sum(ratios)
    assignment = [-1] * len(classes)
    background = [i for i, c in enumerate(classes) if not c]
    for index, split in zip(rng.permutation(background).tolist(), np.repeat(np.arange(len(ratios)), _quotas(len(background), fractions))):
        assignment[index] = int(split)
    labelled = [i for i, c in enumerate(classes) if c]
    size_left = _quotas(sum(sizes[i] for i in labelled), fractions).astype(float)
    presence = Counter(c for i in labelled for c in classes[i])
    class_left = {c: fractions * n for c, n in presence.items()}
    for klass, _ in sorted(presence.items(), key=lambda item: (item[1], item[0])):
        members = [i for i in labelled if klass in classes[i] and assignment[i] < 0]
        for i in rng.permutation(members).tolist():
            need = class_left[klass]
            best = np.flatnonzero(need == need.max())
            best = best[size_left[best] == size_left[best].max()]
            split = int(rng.choice(best))
            assignment[i] = split
            size_left[split] -= sizes[i]
            for c in classes[i]:
                class_left[c][split] -= 1
    return assignment


def make_split(dataset: Dataset, ratios: list[float], seed: int, names: list[str], out: Path) -> dict:
    """Split the distinct images of ``dataset``, write ``out/split.yaml``, return the manifest.

    The manifest names ``dataset.source`` (the folder or file the reader used) by a path relative
    to ``out``, so that moving both together keeps it valid.
    """
    root = common_root(dataset)
    unique: dict[str, ImageRecord] = {}
    for split, image in dataset.items():
        unique.setdefault(image_key(root, split, image), image)
    keys = list(unique)
    assignment = stratified_split(list(unique.values()), ratios, seed)
    manifest = {
        MANIFEST_TAG: 1,
        "source": Path(os.path.relpath(Path(dataset.source).resolve(), out.resolve())).as_posix(),
        "format": dataset.format,
        "seed": seed,
        "ratios": dict(zip(names, [float(r) for r in ratios])),
        "splits": {name: [k for k, a in zip(keys, assignment) if a == i] for i, name in enumerate(names)},
    }
    write_text(out / MANIFEST, yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True))
    return manifest
