"""Fixtures for the deployment tests: small, well-conditioned detecting models and real images.

The models are random YOLOX networks calibrated by ``tests.reference.calibrate`` (BN statistics
from real COCO128 images, prediction convs rescaled so that scores spread and boxes overlap).
One thing is added for these tests: BatchNorm ``eps`` is raised to ``CONDITIONING_EPS``
during calibration (then folded into the running variance, so the conditioning survives a
checkpoint, which does not store ``eps``). A random network amplifies float32 rounding layer after layer (with the
stock eps, PyTorch float32 itself is ~5e-4 away from float64 on class probabilities), which
would hide a real export error under that noise; the larger eps keeps that floor below ~3e-5,
so a 1e-4 comparison means something, while the images still get image-dependent detections.
Inputs are 128x128 (64x64 for the every-size tests) and every module runs with one thread,
to keep the suite fast.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tests.reference import calibrate, coco128_files
from yoloxkit import Detector
from yoloxkit.data.preprocess import PreprocessContract, preprocess_batch
from yoloxkit.models import create

CONDITIONING_EPS = 0.1
SCORE_BIAS = -0.3
SIZE = 128


def conditioned_detector(name: str = "yolox-nano", size: int = SIZE, num_classes: int = 80, seed: int = 0) -> Detector:
    """A calibrated, well-conditioned random ``name`` at ``size`` x ``size`` input."""
    torch.manual_seed(seed)
    model = create(name, num_classes=num_classes)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    stock = [bn.eps for bn in norms]
    for bn in norms:
        bn.eps = CONDITIONING_EPS
    contract = PreprocessContract((size, size))
    batch, _ = preprocess_batch([cv2.imread(str(p)) for p in coco128_files(4)], contract)
    calibrate(model, batch, obj_bias=SCORE_BIAS, cls_bias=SCORE_BIAS)
    for bn, eps in zip(norms, stock):  # same function in eval mode, with the stock eps
        bn.running_var += CONDITIONING_EPS - eps
        bn.eps = eps
    return Detector(model, name, contract=contract)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One thread per test process (PyTorch, and so ONNX Runtime and OpenVINO, which follow it).

    The suite runs as two processes on two cores; more threads only make them wait for each
    other at every operator.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def images() -> list[np.ndarray]:
    """Six real COCO128 images of different shapes (read in place)."""
    files = coco128_files(6)
    if len(files) < 6:
        pytest.skip("COCO128 images not found")
    return [cv2.imread(str(p)) for p in files]


@pytest.fixture(scope="session")
def detector() -> Detector:
    """The conditioned yolox-nano at 128x128 shared by most tests."""
    return conditioned_detector()


@pytest.fixture(scope="session")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide folder for exported models."""
    return tmp_path_factory.mktemp("exports")
