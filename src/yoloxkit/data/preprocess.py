"""The preprocessing contract: BGR uint8 image -> letterboxed float tensor, and back.

One implementation serves prediction, training-time validation, evaluation and export, so a
model always sees the pixels it was trained on. It reproduces the reference's validation
transform bit for bit: scale ``r = min(H/h, W/w)``, resize to ``(int(w*r), int(h*r))`` with
bilinear interpolation, place at the TOP-LEFT of an HxW canvas filled with 114, CHW float32
0-255 in BGR order, no mean/std. ``legacy=True`` selects the pre-2021-08 variant (RGB, /255,
ImageNet mean/std) that the oldest released weights need.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np
import torch

from ..errors import YoloxkitError

LEGACY_MEAN = np.array([0.485, 0.456, 0.406]).reshape(3, 1, 1)
LEGACY_STD = np.array([0.229, 0.224, 0.225]).reshape(3, 1, 1)


@dataclass(frozen=True)
class PreprocessContract:
    """How images become network input. Stored in checkpoints and exported models."""

    input_size: tuple[int, int]  # (height, width), multiples of 32
    pad_value: int = 114
    legacy: bool = False
    channel_order: str = "bgr"
    layout: str = "letterbox-top-left"

    def __post_init__(self) -> None:
        h, w = self.input_size
        if h <= 0 or w <= 0 or h % 32 or w % 32:
            raise YoloxkitError(f"input_size must be positive multiples of 32, got {self.input_size}")

    def to_dict(self) -> dict:
        """Plain-JSON form, as written into checkpoints and export metadata."""
        data = asdict(self)
        data["input_size"] = list(self.input_size)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "PreprocessContract":
        """Inverse of :meth:`to_dict`."""
        return cls(
            input_size=tuple(int(v) for v in data["input_size"]),
            pad_value=int(data.get("pad_value", 114)),
            legacy=bool(data.get("legacy", False)),
        )


def letterbox(image: np.ndarray, input_size: tuple[int, int], pad_value: int = 114) -> tuple[np.ndarray, float]:
    """Resize keeping the aspect ratio and paste top-left on a padded canvas (uint8 HxWx3).

    Returns the canvas and the scale ``r`` (original pixels * r = canvas pixels).
    """
    h, w = image.shape[:2]
    r = min(input_size[0] / h, input_size[1] / w)
    new_w, new_h = max(int(w * r), 1), max(int(h * r), 1)
    canvas = np.full((input_size[0], input_size[1], 3), pad_value, dtype=np.uint8)
    canvas[:new_h, :new_w] = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    return canvas, r


def preprocess(image: np.ndarray, contract: PreprocessContract) -> tuple[np.ndarray, float]:
    """One BGR uint8 image -> float32 CHW network input and its scale ``r``."""
    canvas, r = letterbox(image, contract.input_size, contract.pad_value)
    chw = np.ascontiguousarray(canvas.transpose(2, 0, 1), dtype=np.float32)
    if contract.legacy:
        chw = chw[::-1].copy()
        chw /= 255.0
        chw -= LEGACY_MEAN
        chw /= LEGACY_STD
    return chw, r


def preprocess_batch(images: list[np.ndarray], contract: PreprocessContract) -> tuple[torch.Tensor, list[float]]:
    """Several BGR uint8 images -> ``[B, 3, H, W]`` float32 tensor and one scale per image."""
    if contract.legacy:
        arrays, ratios = zip(*(preprocess(img, contract) for img in images))
        return torch.from_numpy(np.stack(arrays)), list(ratios)
    canvases, ratios = zip(*(letterbox(img, contract.input_size, contract.pad_value) for img in images))
    # uint8 HWC -> contiguous float NCHW in torch: the same values as the NumPy route.
    batch = torch.from_numpy(np.stack(canvases)).permute(0, 3, 1, 2).float().contiguous()
    return batch, list(ratios)
