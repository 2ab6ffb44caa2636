"""The parity reference (pixeltable-yolox, module ``yolox``) made to give meaningful outputs.

An untrained YOLOX predicts probability 0.01 for every class and objectness, so every score
is 1e-4 and nothing survives a threshold: comparing detections would prove nothing. The
reference model is therefore *calibrated*, deterministically, before it is compared:

1. built by the reference's own factory (``YoloxConfig.get_model``) from a fixed seed;
2. BatchNorm statistics re-estimated on real COCO128 images (BN layers in training mode with
   a cumulative average, the rest of the network in eval mode), so features are well scaled;
3. objectness/class prediction convs rescaled (weights x ``PRED_GAIN``, biases set to
   ``OBJ_BIAS`` / ``CLS_BIAS``) so that scores spread over (0, 1), and box regression scaled to
   realistic offsets (``REG_GAIN``) and sizes of about 5 cells (``WH_BIAS``) so that neighbouring boxes overlap and NMS has work to do: each
   COCO128 image gets tens to hundreds of detections above 0.25.

Its state dict is then loaded unchanged into yoloxkit (the keys are identical).
Shared by the parity tests and by ``benchmarks/inference.py``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

SHARED_DATASETS = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"
COCO128_IMAGES = SHARED_DATASETS / "coco128" / "images" / "train2017"

PRED_GAIN = 4.0
OBJ_BIAS = -4.0
CLS_BIAS = -2.0
REG_GAIN = 0.1  # keeps tx, ty, tw, th in a realistic few-units range
WH_BIAS = 1.6  # boxes about 5 cells wide, so neighbouring boxes overlap
CALIBRATION_IMAGES = 4


def coco128_files(count: int, start: int = 0) -> list[Path]:
    """The first ``count`` COCO128 image files (sorted), from ``start``."""
    files = sorted(COCO128_IMAGES.glob("*.jpg"))
    return files[start : start + count]


def reference_config(name: str):
    """The reference's named config for a yoloxkit model name (``yolox-s`` -> ``yolox_s``)."""
    from yolox.config import YoloxConfig

    return YoloxConfig.get_named_config(name.replace("-", "_"))


def reference_preprocess(images: list[np.ndarray], size: tuple[int, int]) -> torch.Tensor:
    """The reference's validation transform applied to each image, stacked."""
    from yolox.data.data_augment import ValTransform

    transform = ValTransform(legacy=False)
    return torch.from_numpy(np.stack([transform(img, None, size)[0] for img in images]))


def calibrate(model: torch.nn.Module, batch: torch.Tensor, obj_bias: float = OBJ_BIAS, cls_bias: float = CLS_BIAS) -> torch.nn.Module:
    """Make a randomly initialised YOLOX (reference or yoloxkit: same attribute names) detect.

    BN statistics from ``batch`` (BN layers in training mode with a cumulative average, the
    rest in eval mode), then the prediction convs rescaled as the module docstring says.
    Returns the model in eval mode.
    """
    model.eval()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average: one batch gives its exact statistics
        bn.train()
    with torch.no_grad():
        model(batch)
        for bn in norms:
            bn.momentum = 0.03
        for convs, bias in ((model.head.obj_preds, obj_bias), (model.head.cls_preds, cls_bias)):
            for conv in convs:
                conv.weight.mul_(PRED_GAIN)
                conv.bias.fill_(bias)
        for conv in model.head.reg_preds:
            conv.weight.mul_(REG_GAIN)
            conv.bias[2:].fill_(WH_BIAS)
    return model.eval()


def calibrated_reference(name: str, seed: int = 0, size: tuple[int, int] | None = None) -> torch.nn.Module:
    """A reference ``YoloxModule`` in eval mode with calibrated BN and prediction layers."""
    config = reference_config(name)
    torch.manual_seed(seed)
    model = config.get_model()
    size = size or tuple(config.test_size)
    images = [cv2.imread(str(p)) for p in coco128_files(CALIBRATION_IMAGES, start=64)]
    return calibrate(model, reference_preprocess(images, size))
