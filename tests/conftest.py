"""Shared fixtures: real COCO128 images and a tiny yolox-nano checkpoint that detects things.

An untrained YOLOX scores every box 1e-4 and its outputs barely depend on the image, so
nothing survives a threshold and a wrong input conversion would go unnoticed. The fixture
model is therefore calibrated (deterministically, as ``tests/reference.py`` does for the
parity tests): BatchNorm statistics estimated on real images, prediction convs rescaled so
that scores spread over (0, 1). Every test image then gets tens of image-dependent
detections. It runs at a 128x128 input to keep forward passes short.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
import torch

from yoloxkit.checkpoints import save_checkpoint
from yoloxkit.data.coco import COCO_CLASSES
from yoloxkit.data.preprocess import PreprocessContract, preprocess_batch
from yoloxkit.models import YOLOX, create

COCO128_IMAGES = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "coco128" / "images" / "train2017"
NANO_CONTRACT = PreprocessContract((128, 128))


def make_detecting_nano(calibration_images: list[Path], num_classes: int = 80, seed: int = 0) -> YOLOX:
    """A yolox-nano (eval mode) with random weights calibrated to detect on real images."""
    torch.manual_seed(seed)
    model = create("yolox-nano", num_classes=num_classes).eval()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average: one batch gives its exact statistics
        bn.train()
    batch, _ = preprocess_batch([cv2.imread(str(p)) for p in calibration_images], NANO_CONTRACT)
    with torch.no_grad():
        model(batch)
        for bn in norms:
            bn.momentum = 0.03
        for convs, bias in ((model.head.obj_preds, -1.0), (model.head.cls_preds, -1.0)):
            for conv in convs:
                conv.weight.mul_(4.0)
                conv.bias.fill_(bias)
        for conv in model.head.reg_preds:
            conv.weight.mul_(0.1)  # offsets and log-sizes of a few units
            conv.bias[2:].fill_(1.6)  # boxes about 5 cells wide
    return model.eval()


@pytest.fixture(scope="session")
def coco_images() -> list[Path]:
    """A few real COCO128 images (read in place, never copied into the repository)."""
    images = sorted(COCO128_IMAGES.glob("*.jpg"))[:4]
    if not images:
        pytest.skip(f"COCO128 images not found in {COCO128_IMAGES}")
    return images


@pytest.fixture(scope="session")
def nano_checkpoint(tmp_path_factory: pytest.TempPathFactory, coco_images: list[Path]) -> Path:
    """A yoloxkit-format yolox-nano checkpoint (80 COCO classes, 128x128 input) that detects."""
    path = tmp_path_factory.mktemp("nano") / "nano.pth"
    model = make_detecting_nano(coco_images)
    save_checkpoint(path, model, "yolox-nano", list(COCO_CLASSES), NANO_CONTRACT.to_dict())
    return path
