"""One box abstraction for NumPy arrays and torch tensors.

A :class:`Boxes` is an ``[N, D]`` array plus a :class:`BoxFormat` that says what the columns
mean. Axis-aligned formats have D = 4; oriented formats join the same enum (``rbox``:
cx, cy, w, h, angle; ``qbox``: four corners) so that datasets, transforms, predictions and
exports keep a single box type. Conversions go through a small table keyed by
(source, target) format; they work unchanged on NumPy and torch data, except ``qbox -> rbox``,
which fits OpenCV's minimum-area rectangle (torch input goes through NumPy and comes back).

Oriented conventions (see ``rotated-yolox.md`` section 1): image coordinates (y down), angles in
radians, ``rbox`` regularised to **le90** (``w >= h``, angle in ``[-pi/2, pi/2)``) whenever it is
produced from another format; ``qbox`` keeps the annotated vertex order. Converting an oriented
box to an axis-aligned format gives its enclosing box (lossy by nature).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

import sys

import numpy as np


class BoxFormat(str, Enum):
    """Column meaning of a box array."""

    XYXY = "xyxy"  # x1, y1, x2, y2 (corners, pixels)
    XYWH = "xywh"  # x1, y1, w, h (COCO)
    CXCYWH = "cxcywh"  # centre, size (YOLO / network output)
    QBOX = "qbox"  # x1, y1, x2, y2, x3, y3, x4, y4 (polygon corners, DOTA)
    RBOX = "rbox"  # cx, cy, w, h, angle (radians, le90)

    @property
    def width(self) -> int:
        """Number of columns of this format."""
        return {"qbox": 8, "rbox": 5}.get(self.value, 4)

    @property
    def oriented(self) -> bool:
        """True for the rotated formats (``qbox``, ``rbox``)."""
        return self in (BoxFormat.QBOX, BoxFormat.RBOX)


Array = Any  # np.ndarray | torch.Tensor


def _is_tensor(value: object) -> bool:
    """A torch.Tensor? (PyTorch is not imported here: a tensor exists only once it is imported.)"""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def _cv2():  # noqa: ANN202 - the cv2 module, imported when a polygon is first fitted
    import cv2

    return cv2


def _stack(columns: list[Array]) -> Array:
    if _is_tensor(columns[0]):
        return sys.modules["torch"].stack(columns, -1)
    return np.stack(columns, -1)


def _lib(b: Array) -> Any:
    """The array module of ``b`` (torch or numpy); both spell cos/sin/abs/remainder alike."""
    return sys.modules["torch"] if _is_tensor(b) else np


def _corner_extremes(b: Array) -> Array:
    xs, ys = b[..., 0::2], b[..., 1::2]
    if _is_tensor(b):
        return _stack([xs.amin(-1), ys.amin(-1), xs.amax(-1), ys.amax(-1)])
    return _stack([xs.min(-1), ys.min(-1), xs.max(-1), ys.max(-1)])


def _xyxy_to_qbox(b: Array) -> Array:
    x1, y1, x2, y2 = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return _stack([x1, y1, x2, y1, x2, y2, x1, y2])


def _rbox_to_qbox(b: Array) -> Array:
    # rbox2qbox of ai4rs: corners c + v1 + v2, c + v1 - v2, c - v1 - v2, c - v1 + v2.
    lib = _lib(b)
    cx, cy, w, h, t = (b[..., i] for i in range(5))
    cos, sin = lib.cos(t), lib.sin(t)
    v1x, v1y = w / 2 * cos, w / 2 * sin
    v2x, v2y = -h / 2 * sin, h / 2 * cos
    return _stack(
        [
            cx + v1x + v2x, cy + v1y + v2y,
            cx + v1x - v2x, cy + v1y - v2y,
            cx - v1x - v2x, cy - v1y - v2y,
            cx - v1x + v2x, cy - v1y + v2y,
        ]
    )  # fmt: skip


def _rbox_to_xyxy(b: Array) -> Array:
    lib = _lib(b)
    cx, cy, w, h, t = (b[..., i] for i in range(5))
    cos, sin = lib.abs(lib.cos(t)), lib.abs(lib.sin(t))
    ex, ey = w / 2 * cos + h / 2 * sin, w / 2 * sin + h / 2 * cos
    return _stack([cx - ex, cy - ey, cx + ex, cy + ey])


def regularize_le90(b: Array) -> Array:
    """rbox rows in le90: swap sides so that ``w >= h`` (adding pi/2), wrap the angle into [-pi/2, pi/2)."""
    lib = _lib(b)
    cx, cy, w, h, t = (b[..., i] for i in range(5))
    swap = w <= h  # strict w > h keeps, as RotatedBoxes.regularize_boxes
    long, short = lib.where(swap, h, w), lib.where(swap, w, h)
    t = lib.where(swap, t + np.pi / 2, t)
    return _stack([cx, cy, long, short, lib.remainder(t + np.pi / 2, np.pi) - np.pi / 2])


def angle_difference(a: np.ndarray, b: np.ndarray, period: float | np.ndarray = np.pi) -> np.ndarray:
    """Smallest absolute difference of angles ``a`` and ``b`` (radians) modulo ``period``, in ``[0, period / 2]``."""
    d = np.remainder(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64), period)
    return np.minimum(d, period - d)


def _xyxy_to_rbox(b: Array) -> Array:
    zeros = b[..., 0] * 0
    return regularize_le90(_stack([(b[..., 0] + b[..., 2]) / 2, (b[..., 1] + b[..., 3]) / 2,
                                   b[..., 2] - b[..., 0], b[..., 3] - b[..., 1], zeros]))  # fmt: skip


def _qbox_to_rbox(b: Array) -> Array:
    # qbox2rbox of ai4rs (cv2.minAreaRect per polygon), then le90 regularisation.
    is_torch = _is_tensor(b)
    points = (b.detach().cpu().numpy() if is_torch else np.asarray(b)).reshape(-1, 4, 2)
    rows = np.zeros((len(points), 5), dtype=np.float64)
    for i, quad in enumerate(points):
        (cx, cy), (w, h), angle = _cv2().minAreaRect(quad.astype(np.float32))
        rows[i] = (cx, cy, w, h, np.deg2rad(angle))
    out = regularize_le90(rows).reshape(*b.shape[:-1], 5).astype(points.dtype)
    return sys.modules["torch"].from_numpy(out).to(b.device) if is_torch else out


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
    (BoxFormat.XYXY, BoxFormat.QBOX): _xyxy_to_qbox,
    (BoxFormat.QBOX, BoxFormat.XYXY): _corner_extremes,
    (BoxFormat.XYXY, BoxFormat.RBOX): _xyxy_to_rbox,
    (BoxFormat.RBOX, BoxFormat.XYXY): _rbox_to_xyxy,
    (BoxFormat.RBOX, BoxFormat.QBOX): _rbox_to_qbox,
    (BoxFormat.QBOX, BoxFormat.RBOX): _qbox_to_rbox,
}


def convert(data: Array, source: BoxFormat | str, target: BoxFormat | str) -> Array:
    """Convert a box array between formats (direct, or through ``xyxy``).

    Every pair of oriented formats has a direct entry, so the ``xyxy`` route is only taken when one
    side is axis-aligned, where it loses nothing that the target could hold.
    """
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

    def translate(self, dx: float, dy: float) -> "Boxes":
        """The boxes moved by ``(dx, dy)`` pixels: positions move, sizes and angles do not."""
        if self.format in (BoxFormat.QBOX, BoxFormat.XYXY):
            step = [dx, dy] * (self.format.width // 2)  # every vertex / both corners
        else:  # xywh, cxcywh, rbox: the first two columns are a position
            step = [dx, dy] + [0.0] * (self.format.width - 2)
        lib = _lib(self.data)
        offset = lib.tensor(step, dtype=self.data.dtype, device=self.data.device) if lib is not np else np.array(step, dtype=self.data.dtype)
        return Boxes(self.data + offset, self.format)

    @staticmethod
    def cat(parts: Sequence[Boxes]) -> Boxes:
        """One Boxes of every box of ``parts`` in order; they must share a format (and array library)."""
        if not parts:
            raise ValueError("Boxes.cat needs at least one Boxes (the format of nothing is unknown)")
        formats = {b.format for b in parts}
        if len(formats) > 1:
            raise ValueError(f"Boxes.cat: mixed formats {sorted(f.value for f in formats)}")
        data = [b.data for b in parts]
        joined = sys.modules["torch"].cat(data) if _is_tensor(data[0]) else np.concatenate(data)
        return Boxes(joined, parts[0].format)

    def clip(self, image_size: tuple[int, int]) -> "Boxes":
        """Axis-aligned boxes clipped to an image of ``(height, width)``; oriented boxes unchanged.

        Oriented boxes keep their shape (clipping would turn a rotated rectangle into another
        polygon); callers draw them clipped by the canvas.
        """
        if self.format.oriented:
            return self
        height, width = image_size
        xyxy = convert(self.data, self.format, BoxFormat.XYXY)
        clipped = _stack([xyxy[:, k].clip(0, width if k % 2 == 0 else height) for k in range(4)])  # .clip: numpy and torch
        return Boxes(convert(clipped, BoxFormat.XYXY, self.format), self.format)

    def finite(self) -> Array:
        """Per box: True when every coordinate is finite."""
        if _is_tensor(self.data):
            return sys.modules["torch"].isfinite(self.data).all(-1)
        return np.isfinite(self.data).all(-1)

    def area(self) -> Array:
        """Area of each box (polygon area by the shoelace formula for ``qbox``)."""
        if self.format == BoxFormat.QBOX:
            x, y = self.data[..., 0::2], self.data[..., 1::2]
            lib = _lib(self.data)
            x_next, y_next = lib.roll(x, -1, -1), lib.roll(y, -1, -1)
            return lib.abs((x * y_next - x_next * y).sum(-1)) / 2
        if self.format == BoxFormat.RBOX:
            return self.data[..., 2] * self.data[..., 3]
        xywh = convert(self.data, self.format, BoxFormat.XYWH)
        return xywh[..., 2] * xywh[..., 3]

    def numpy(self) -> "Boxes":
        """A NumPy-backed copy (float32)."""
        if _is_tensor(self.data):
            return Boxes(self.data.detach().cpu().numpy().astype(np.float32), self.format)
        return self

    def tolist(self) -> list[list[float]]:
        """Nested Python lists of floats."""
        return self.numpy().data.astype(float).tolist()
