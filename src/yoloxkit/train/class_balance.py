"""Class-imbalance weights of the classification loss (``loss.class_weights``).

Computed once from the training split's object counts per model class ``n_c``:

* ``inverse``: ``w_c = (1 / n_c) ** power`` (``power`` 1: inverse frequency, 0.5: its square root);
* ``effective``: ``w_c = (1 - beta) / (1 - beta ** n_c)``, the inverse "effective number of
  samples" of Cui et al. (CVPR 2019);
* ``manual``: the weights given by class name (others 1).

The weights are then scaled so that their mean over the training objects is 1 (``sum_c w_c n_c =
sum_c n_c``): the classification loss keeps its size on average and only shifts between classes.
Classes without objects in the split get weight 1 before scaling (no positive ever uses it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import YoloxkitError


def class_loss_weights(
    kind: str, counts: np.ndarray, class_names: Sequence[str], power: float = 0.5, beta: float = 0.999, manual: Mapping[str, float] | None = None
) -> np.ndarray | None:
    """Per-class weights ``[C]`` for ``kind`` (None for ``"none"``) from the object counts ``counts [C]``."""
    counts = np.asarray(counts, dtype=np.float64)
    present = counts > 0
    if kind == "none":
        return None
    if kind == "inverse":
        raw = np.where(present, 1.0 / np.maximum(counts, 1) ** power, 1.0)
    elif kind == "effective":
        raw = np.where(present, (1 - beta) / (1 - beta ** np.maximum(counts, 1)), 1.0)
    elif kind == "manual":
        unknown = sorted(set(manual or {}) - set(class_names))
        if unknown:
            raise YoloxkitError(f"loss.manual names classes the model does not have: {', '.join(unknown[:5])}")
        raw = np.array([float((manual or {}).get(name, 1.0)) for name in class_names])
    else:
        raise YoloxkitError(f"loss.class_weights must be none, inverse, effective or manual, got {kind!r}")
    total = counts.sum()
    if total == 0:
        return raw
    return raw * total / float((raw * counts).sum())
