"""One box abstraction for NumPy arrays and torch tensors.

A :class:`Boxes` is an ``[N, D]`` array plus a :class:`BoxFormat` that says what the columns
mean. Axis-aligned formats have D = 4; oriented formats join the same enum (``rbox``:
cx, cy, w, h, angle; ``qbox``: four corners) so that datasets, transforms, predictions and
exports keep a single box type. Conversions go through a small table keyed by
(source, target) format; they work unchanged on NumPy and torch data.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

import numpy as np
import torch


class BoxFormat(str, Enum):
    """Column meaning of a box array."""

    XYXY = "xyxy"  # x1, y1, x2, y2 (corners, pixels)
    XYWH = "xywh"  # x1, y1, w, h (COCO)
    CXCYWH = "cxcywh"  # centre, size (YOLO / network output)

    @property
    def width(self) -> int:
        """Number of columns of this format."""
        return 4


Array = Any  # np.ndarray | torch.Tensor


def _stack(columns: list[Array]) -> Array:
    if isinstance(columns[0], torch.Tensor):
        return torch.stack(columns, -1)
    return np.stack(columns, -1)


def _xyxy_to_xywh(b: Array) -> Array:
    return _stack([b[..., 0], b[..., 1], b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]])


def _xywh_to_xyxy(b: Array) -> Array:
    return _stack([b[..., 0], b[..., 1], b[..., 0] + b[..., 2], b[..., 1] + b[..., 3]])


def _cxcywh_to_xyxy(b: Array) -> Array:
    # Same operation order as the reference postprocess (cx - w / 2), for bit-identical corners.
    return _stack(
        [b[..., 0] - b[..., 2] / 2, b[..., 1] - b[..., 3] / 2, b[..., 0] + b[..., 2] / 2, b[..., 1] + b[..., 3] / 2]
    )


def _xyxy_to_cxcywh(b: Array) -> Array:
    return _stack(
        [(b[..., 0] + b[..., 2]) / 2, (b[..., 1] + b[..., 3]) / 2, b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]]
    )


_CONVERTERS: dict[tuple[BoxFormat, BoxFormat], Callable[[Array], Array]] = {
    (BoxFormat.XYXY, BoxFormat.XYWH): _xyxy_to_xywh,
    (BoxFormat.XYWH, BoxFormat.XYXY): _xywh_to_xyxy,
    (BoxFormat.CXCYWH, BoxFormat.XYXY): _cxcywh_to_xyxy,
    (BoxFormat.XYXY, BoxFormat.CXCYWH): _xyxy_to_cxcywh,
}


def convert(data: Array, source: BoxFormat | str, target: BoxFormat | str) -> Array:
    """Convert a box array between formats (direct, or through ``xyxy``)."""
    source, target = BoxFormat(source), BoxFormat(target)
    if source == target:
        return data
    direct = _CONVERTERS.get((source, target))
    if direct is not None:
        return direct(data)
    return _CONVERTERS[(BoxFormat.XYXY, target)](_CONVERTERS[(source, BoxFormat.XYXY)](data))


class Boxes:
    """``[N, D]`` boxes with their format; NumPy or torch backed."""

    __slots__ = ("data", "format")

    def __init__(self, data: Array, format: BoxFormat | str = BoxFormat.XYXY) -> None:
        fmt = BoxFormat(format)
        if isinstance(data, (list, tuple)):
            data = np.asarray(data, dtype=np.float32).reshape(-1, fmt.width)
        if data.ndim != 2 or data.shape[1] != fmt.width:
            raise ValueError(f"{fmt.value} boxes need shape [N, {fmt.width}], got {tuple(data.shape)}")
        self.data = data
        self.format = fmt

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def __getitem__(self, index: Any) -> "Boxes":
        data = self.data[index]
        return Boxes(data.reshape(-1, self.format.width), self.format)

    def __repr__(self) -> str:
        return f"Boxes({len(self)}, format={self.format.value})"

    def convert(self, format: BoxFormat | str) -> "Boxes":
        """The same boxes in another format."""
        return Boxes(convert(self.data, self.format, format), format)

    def scale(self, factor: float) -> "Boxes":
        """Multiply every coordinate by ``factor`` (e.g. ``1 / r`` to undo a letterbox)."""
        return Boxes(self.data * factor, self.format)

    def area(self) -> Array:
        """Area of each box."""
        xywh = convert(self.data, self.format, BoxFormat.XYWH)
        return xywh[..., 2] * xywh[..., 3]

    def numpy(self) -> "Boxes":
        """A NumPy-backed copy (float32)."""
        if isinstance(self.data, torch.Tensor):
            return Boxes(self.data.detach().cpu().numpy().astype(np.float32), self.format)
        return self

    def tolist(self) -> list[list[float]]:
        """Nested Python lists of floats."""
        return self.numpy().data.astype(float).tolist()
