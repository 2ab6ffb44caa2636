"""One training step from the same weights and batch gives the reference's losses and gradients.

The reference model (pixeltable-yolox yolox-nano, calibrated as in the parity tests so that its
boxes overlap the objects) computes its loss in train mode as ``model(images, targets)``;
yoloxkit's model with the same state dict returns raw level maps that ``YOLOXLoss`` consumes.
Real COCO128 images and labels, 224 px.
"""

from __future__ import annotations

import copy
import warnings

import cv2
import pytest
import torch

from tests.loss.helpers import coco128_labels
from tests.reference import calibrated_reference, coco128_files, reference_preprocess
from yoloxkit.loss import SimOTAAssigner, Targets, YOLOXLoss
from yoloxkit.models import create

pytest.importorskip("yolox", reason="the reference (pixeltable-yolox) is not installed")

SIZE = 224
BATCH = 4


@pytest.fixture(scope="module")
def setup():
    reference = calibrated_reference("yolox-nano", size=(SIZE, SIZE))
    ours = create("yolox-nano")
    ours.load_state_dict(reference.state_dict())
    images = reference_preprocess([cv2.imread(str(p)) for p in coco128_files(BATCH, start=20)], (SIZE, SIZE))
    return reference, ours, images, coco128_labels(SIZE, BATCH, start=20)


def sgd(model: torch.nn.Module) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)


@pytest.mark.parametrize("use_l1", [False, True])
def test_training_step_matches_the_reference(setup, use_l1):
    reference, ours, images, labels = (copy.deepcopy(x) for x in setup)
    reference.train()
    ours.train()
    reference.head.use_l1 = use_l1
    loss_fn = YOLOXLoss(assigner=SimOTAAssigner("megvii2023"), use_l1=use_l1)
    ref_opt, our_opt = sgd(reference), sgd(ours)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        ref_out = reference(images, labels)
    our_out = loss_fn(ours(images), Targets.from_padded(labels))
    assert our_out["num_fg"] > our_out["num_gt"]  # dynamic k above 1 somewhere

    for term, name in (("total", "total_loss"), ("iou", "iou_loss"), ("obj", "conf_loss"), ("cls", "cls_loss")):
        torch.testing.assert_close(our_out[term], ref_out[name], rtol=1e-5, atol=1e-6)
    if use_l1:
        torch.testing.assert_close(our_out["l1"], ref_out["l1_loss"], rtol=1e-5, atol=1e-6)

    ref_out["total_loss"].backward()
    our_out["total"].backward()
    our_params = dict(ours.named_parameters())
    for name, param in reference.named_parameters():
        assert relative_difference(our_params[name].grad, param.grad) < 1e-5, name

    ref_opt.step()
    our_opt.step()
    our_state = ours.state_dict()
    for name, value in reference.state_dict().items():
        assert relative_difference(our_state[name], value) < 1e-5, name


def relative_difference(ours: torch.Tensor, reference: torch.Tensor) -> float:
    """Largest absolute difference over the largest reference magnitude."""
    diff = (ours.double() - reference.double()).abs().max()
    return float(diff / reference.double().abs().max().clamp(min=1e-12))
