"""Batched SimOTA equals the reference's per-image assignment.

"megvii2023" is compared with pixeltable-yolox's own ``get_assignments``; "original" with the
pre-2023 rule (box OR centre 2.5 candidates, 1e5 penalty) run through the reference's
``simota_matching``. Compared: positive mask, matched ground-truth index, matched IoU, count.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.loss.helpers import (
    assign,
    coco128_labels,
    original_assignment,
    random_labels,
    reference_assignment,
    reference_head,
    synthetic_levels,
)
from yoloxkit.loss import Assignment, SimOTAAssigner, Targets

ORACLES = {"megvii2023": reference_assignment, "original": original_assignment}
VARIANTS = list(ORACLES)


@pytest.fixture(scope="module")
def head():
    return reference_head()


def check_same(mine: Assignment, ref: Assignment) -> None:
    assert torch.equal(mine.fg, ref.fg)
    assert torch.equal(mine.gt_index[mine.fg], ref.gt_index[ref.fg])
    torch.testing.assert_close(mine.iou, ref.iou, rtol=1e-5, atol=1e-6)
    assert int(mine.num_fg) == int(ref.num_fg)


def run_case(head, variant: str, labels: torch.Tensor, size: int, seed: int = 0) -> Assignment:
    gen = torch.Generator().manual_seed(seed)
    targets = Targets.from_padded(labels)
    preds, mine = assign(variant, synthetic_levels(gen, targets, size), targets)
    check_same(mine, ORACLES[variant](head, preds, labels))
    return mine


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("seed", range(4))
def test_random_targets(head, variant, seed):
    gen = torch.Generator().manual_seed(100 + seed)
    labels = random_labels(gen, 4, 256, [0, 1, 6, 25])
    mine = run_case(head, variant, labels, 256, seed)
    assert mine.num_fg > 4 * 25 // 2  # dynamic k above 1: the cases are not trivial


@pytest.mark.parametrize("variant", VARIANTS)
def test_coco128_targets(head, variant):
    run_case(head, variant, coco128_labels(320, 8), 320)


@pytest.mark.parametrize("variant", VARIANTS)
def test_images_without_objects(head, variant):
    mine = run_case(head, variant, torch.zeros(3, 120, 5), 128)
    assert not mine.fg.any() and int(mine.num_fg) == 0


@pytest.mark.parametrize("variant", VARIANTS)
def test_one_object(head, variant):
    labels = torch.zeros(1, 120, 5)
    labels[0, 0] = torch.tensor([3.0, 70.0, 50.0, 40.0, 30.0])
    mine = run_case(head, variant, labels, 128)
    assert mine.num_fg >= 1 and (mine.gt_index[mine.fg] == 0).all()


@pytest.mark.parametrize("variant", VARIANTS)
def test_many_overlapping_objects(head, variant):
    """60 boxes around one point: every anchor is contested by many ground truths."""
    gen = torch.Generator().manual_seed(7)
    labels = torch.zeros(2, 120, 5)
    n = 60
    labels[:, :n, 0] = torch.randint(0, 80, (2, n), generator=gen).float()
    labels[:, :n, 1:3] = 128 + torch.randn(2, n, 2, generator=gen) * 12
    labels[:, :n, 3:5] = 30 + torch.rand(2, n, 2, generator=gen) * 90
    mine = run_case(head, variant, labels, 256)
    assert mine.gt_index[mine.fg].unique().numel() > 10


@pytest.mark.parametrize("variant", VARIANTS)
def test_objects_outside_the_centre_region(head, variant):
    """Centres beyond the image (no anchor near them) beside ordinary objects, and tiny boxes."""
    labels = torch.zeros(3, 120, 5)
    rows = [
        [[1, -40.0, 60.0, 100.0, 50.0], [2, 60.0, 60.0, 50.0, 40.0]],  # centre left of the image
        [[1, 140.0, 150.0, 40.0, 60.0], [5, 64.0, 64.0, 2.0, 3.0]],  # centre beyond bottom-right; tiny box
        [[7, -50.0, -50.0, 20.0, 20.0]],  # nothing of it in the image
    ]
    for b, image_rows in enumerate(rows):
        labels[b, : len(image_rows)] = torch.tensor(image_rows)
    run_case(head, variant, labels, 128)


def test_padding_rows_are_ignored():
    """Extra padding rows with arbitrary content change nothing."""
    gen = torch.Generator().manual_seed(3)
    labels = random_labels(gen, 3, 128, [2, 0, 5])
    targets = Targets.from_padded(labels)
    levels = synthetic_levels(gen, targets, 128)
    _, plain = assign("original", levels, targets)
    junk = torch.randn(3, 4, 4, generator=gen) * 50
    padded = Targets(
        torch.cat([targets.boxes, junk], 1),
        torch.cat([targets.classes, torch.full((3, 4), 1000)], 1),
        torch.cat([targets.mask, torch.zeros(3, 4, dtype=torch.bool)], 1),
    )
    _, with_junk = assign("original", levels, padded)
    check_same(with_junk, plain)


def test_class_cost_is_the_summed_bce():
    """The separable class cost equals the materialised sum of BCE terms (with clamped logs)."""
    gen = torch.Generator().manual_seed(0)
    obj = torch.randn(2, 50, generator=gen) * 4
    cls = torch.randn(2, 80, 50, generator=gen) * 4
    cls[0, :, :5] = 40.0  # probabilities of exactly 1: log(1 - p) clamped
    cls[1, :, :5] = -120.0  # probabilities of exactly 0: log(p) clamped
    classes = torch.randint(0, 80, (2, 6), generator=gen)
    cost = SimOTAAssigner.class_cost(obj, cls, classes)
    p = (cls.sigmoid() * obj.sigmoid().unsqueeze(1)).sqrt()  # [B, C, A]
    onehot = F.one_hot(classes, 80).float()  # [B, G, C]
    expected = F.binary_cross_entropy(
        p.transpose(1, 2).unsqueeze(1).expand(-1, 6, -1, -1),
        onehot.unsqueeze(2).expand(-1, -1, 50, -1),
        reduction="none",
    ).sum(-1)
    torch.testing.assert_close(cost, expected, rtol=1e-5, atol=1e-4)


def test_unknown_variant():
    with pytest.raises(ValueError, match="unknown SimOTA variant"):
        SimOTAAssigner("2025")
