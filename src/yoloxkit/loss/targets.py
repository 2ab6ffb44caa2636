"""Ground-truth boxes of a training batch, padded to one tensor per field.

Format (every tensor on the device of the predictions):

* ``boxes``   ``[B, G, 4]`` float32, (cx, cy, w, h) in network-input pixels, or ``[B, G, 5]``
  (cx, cy, w, h, angle in radians) for rotated boxes (``box_dim=5``);
* ``classes`` ``[B, G]`` int64, class index in ``[0, num_classes)``;
* ``mask``    ``[B, G]`` bool, True for a real object, False for padding.

``G`` is the largest number of objects of one image in the batch (at least 1); padded rows may
hold anything, they are ignored through ``mask``. Images without objects simply have an
all-False ``mask`` row.

The reference (Megvii YOLOX) passes ``[B, 120, 5]`` rows (class, cx, cy, w, h), zero-padded, and
counts the objects of an image as the number of rows whose sum is positive, taking that many
rows from the top; :meth:`Targets.from_padded` reproduces exactly that reading.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

#: Fields of one label row for each supported box size (``box_dim``).
_ROW_FIELDS = {4: "class, cx, cy, w, h", 5: "class, cx, cy, w, h, angle"}


@dataclass(frozen=True)
class Targets:
    """Padded ground truth of a batch: ``boxes [B, G, 4 or 5]``, ``classes [B, G]``, ``mask [B, G]``."""

    boxes: torch.Tensor
    classes: torch.Tensor
    mask: torch.Tensor

    @classmethod
    def from_padded(cls, labels: torch.Tensor, trim: bool = True, box_dim: int = 4) -> Targets:
        """Read the reference's layout ``[B, M, 1 + box_dim]`` (class, cx, cy, w, h), zero rows as padding.

        The object count of an image is the number of rows with a positive sum and the objects
        are its first rows, as in the reference. ``trim`` cuts ``G`` down to the largest count
        (one host synchronisation: call it where the batch is built, not inside the step).
        ``box_dim=5`` reads rotated rows (class, cx, cy, w, h, angle).
        """
        _check_rows(labels, ("B", "M"), box_dim, "padded labels")
        labels = labels.float()
        counts = (labels.sum(2) > 0).sum(1)
        if trim:
            labels = labels[:, : int(counts.max())]
        rows = torch.arange(labels.shape[1], device=labels.device)
        mask = rows[None, :] < counts[:, None]
        return cls._build(labels, mask)

    @classmethod
    def from_list(
        cls, per_image: Sequence[torch.Tensor], device: torch.device | str | None = None, box_dim: int = 4
    ) -> Targets:
        """Pad per-image ``[n_i, 1 + box_dim]`` rows (class, cx, cy, w, h) into one batch.

        ``box_dim=5`` reads rotated rows (class, cx, cy, w, h, angle).
        """
        size = max([len(rows) for rows in per_image] + [1])
        labels = torch.zeros(len(per_image), size, 1 + box_dim, device=device)
        mask = torch.zeros(len(per_image), size, dtype=torch.bool, device=device)
        for i, rows in enumerate(per_image):
            _check_rows(rows, ("n",), box_dim, f"targets of image {i}")
            labels[i, : len(rows)] = rows.to(labels)
            mask[i, : len(rows)] = True
        return cls._build(labels, mask)

    @classmethod
    def _build(cls, labels: torch.Tensor, mask: torch.Tensor) -> Targets:
        if labels.shape[1] == 0:  # no row at all: keep one padding row so that G >= 1
            labels = labels.new_zeros(labels.shape[0], 1, labels.shape[2])
            mask = mask.new_zeros(mask.shape[0], 1)
        return cls(labels[..., 1:].contiguous(), labels[..., 0].long(), mask)

    @property
    def num_gt(self) -> torch.Tensor:
        """Number of real objects in the batch (0-dim int64 tensor)."""
        return self.mask.sum()

    def to(self, device: torch.device | str) -> Targets:
        """The same targets on ``device``."""
        return Targets(self.boxes.to(device), self.classes.to(device), self.mask.to(device))


def _check_rows(labels: torch.Tensor, leading: tuple[str, ...], box_dim: int, what: str) -> None:
    """Raise a ``ValueError`` naming ``what`` unless ``labels`` is ``[*leading, 1 + box_dim]`` rows."""
    if box_dim not in _ROW_FIELDS:
        raise ValueError(f"box_dim must be one of {sorted(_ROW_FIELDS)}, got {box_dim}")
    if labels.ndim != len(leading) + 1 or labels.shape[-1] != 1 + box_dim:
        expected = f"[{', '.join(leading)}, {1 + box_dim}] ({_ROW_FIELDS[box_dim]})"
        raise ValueError(f"{what} must be {expected}, got {tuple(labels.shape)}")
