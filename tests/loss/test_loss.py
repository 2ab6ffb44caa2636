"""Every loss term and its gradient equal the reference's ``get_losses`` on the same head outputs."""

from __future__ import annotations

import warnings

import pytest
import torch

from tests.loss.helpers import STRIDES, coco128_labels, random_labels, reference_head, synthetic_levels
from yoloxkit.loss import SimOTAAssigner, Targets, YOLOXLoss

TERMS = {"total": "total_loss", "iou": "iou_loss", "obj": "conf_loss", "cls": "cls_loss", "l1": "l1_loss"}


def reference_losses(levels: list[torch.Tensor], labels: torch.Tensor, use_l1: bool) -> dict[str, torch.Tensor]:
    """The reference head's loss on raw level maps, through its own flattening and decoding."""
    head = reference_head(levels[0].shape[1] - 5)
    head.use_l1 = use_l1
    outputs, x_shifts, y_shifts, strides, origin = [], [], [], [], []
    for k, (level, stride) in enumerate(zip(levels, STRIDES)):
        batch, _, h, w = level.shape
        if use_l1:
            origin.append(level[:, :4].permute(0, 2, 3, 1).reshape(batch, h * w, 4).clone())
        # A non-leaf copy: the reference decodes in place, as on the model's concatenated maps.
        output, grid = head.get_output_and_grid(level.clone(), k, stride, level.type())
        outputs.append(output)
        x_shifts.append(grid[:, :, 0])
        y_shifts.append(grid[:, :, 1])
        strides.append(torch.full((1, grid.shape[1]), float(stride)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        values = head.get_losses(
            None, x_shifts, y_shifts, strides, labels, torch.cat(outputs, 1), origin, dtype=torch.float32
        )
    names = ("total_loss", "iou_loss", "conf_loss", "cls_loss", "l1_loss", "num_fg")
    return dict(zip(names, values))


def leaf_levels(levels: list[torch.Tensor]) -> list[torch.Tensor]:
    return [level.clone().requires_grad_(True) for level in levels]


def compare(labels: torch.Tensor, size: int, use_l1: bool, seed: int = 0) -> dict[str, torch.Tensor]:
    """Losses and level gradients of both sides on the same synthetic outputs; returns ours."""
    gen = torch.Generator().manual_seed(seed)
    targets = Targets.from_padded(labels)
    levels = synthetic_levels(gen, targets, size)

    mine_levels, ref_levels = leaf_levels(levels), leaf_levels(levels)
    mine = YOLOXLoss(assigner=SimOTAAssigner("megvii2023"), use_l1=use_l1)(mine_levels, targets)
    ref = reference_losses(ref_levels, labels, use_l1)

    for term, ref_name in TERMS.items():
        torch.testing.assert_close(mine[term], torch.as_tensor(ref[ref_name]).float(), rtol=1e-5, atol=1e-6)
    num_gt = int(targets.num_gt)
    # The reference logs max(num_fg, 1) / max(num_gt, 1) as its "num_fg".
    assert max(float(mine["num_fg"]), 1) / max(num_gt, 1) == pytest.approx(ref["num_fg"], rel=1e-6)
    assert int(mine["num_gt"]) == num_gt

    mine["total"].backward()
    ref["total_loss"].backward()
    for a, b in zip(mine_levels, ref_levels):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-7)
    return mine


@pytest.mark.parametrize("use_l1", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_random_targets(use_l1, seed):
    gen = torch.Generator().manual_seed(200 + seed)
    mine = compare(random_labels(gen, 4, 192, [3, 0, 12, 30]), 192, use_l1, seed)
    assert mine["num_fg"] > mine["num_gt"]


@pytest.mark.parametrize("use_l1", [False, True])
def test_coco128_targets(use_l1):
    compare(coco128_labels(256, 6, start=10), 256, use_l1)


def test_images_without_objects():
    mine = compare(torch.zeros(2, 120, 5), 128, use_l1=True)
    assert mine["iou"].item() == mine["cls"].item() == mine["l1"].item() == 0.0
    assert mine["obj"].item() > 0


def test_one_object():
    labels = torch.zeros(2, 120, 5)
    labels[1, 0] = torch.tensor([11.0, 40.0, 90.0, 60.0, 35.0])
    compare(labels, 128, use_l1=True)


def test_many_overlapping_objects():
    gen = torch.Generator().manual_seed(5)
    labels = torch.zeros(2, 120, 5)
    labels[:, :50, 0] = torch.randint(0, 80, (2, 50), generator=gen).float()
    labels[:, :50, 1:3] = 96 + torch.randn(2, 50, 2, generator=gen) * 10
    labels[:, :50, 3:5] = 20 + torch.rand(2, 50, 2, generator=gen) * 70
    compare(labels, 192, use_l1=True)


def test_objects_outside_the_centre_region():
    labels = torch.zeros(2, 120, 5)
    labels[0, :2] = torch.tensor([[1, -40.0, 60.0, 100.0, 50.0], [2, 60.0, 60.0, 50.0, 40.0]])
    labels[1, :1] = torch.tensor([[7, -50.0, -50.0, 20.0, 20.0]])
    compare(labels, 128, use_l1=True)


def test_from_padded_reads_the_reference_layout():
    """Object count = rows with a positive sum, taken from the top; G trimmed to the largest count."""
    labels = torch.zeros(3, 120, 5)
    labels[0, :2] = torch.tensor([[0, 10.0, 10.0, 4.0, 4.0], [5, 20.0, 20.0, 6.0, 6.0]])
    labels[2, 0] = torch.tensor([2, 30.0, 30.0, 8.0, 8.0])
    targets = Targets.from_padded(labels)
    assert targets.boxes.shape == (3, 2, 4)
    assert targets.mask.tolist() == [[True, True], [False, False], [True, False]]
    assert targets.classes[0].tolist() == [0, 5]
    assert torch.equal(targets.boxes[0, 1], torch.tensor([20.0, 20.0, 6.0, 6.0]))
    empty = Targets.from_padded(torch.zeros(2, 120, 5))
    assert empty.boxes.shape == (2, 1, 4) and not empty.mask.any()


def test_from_list_pads():
    targets = Targets.from_list([torch.tensor([[1, 5.0, 5.0, 2.0, 2.0]]), torch.zeros(0, 5)])
    assert targets.mask.tolist() == [[True], [False]]
    assert targets.classes.dtype == torch.int64 and targets.boxes.dtype == torch.float32


def test_rows_of_the_wrong_width_are_a_clear_error():
    with pytest.raises(ValueError, match=r"targets of image 1 must be \[n, 5\] \(class, cx, cy, w, h\)"):
        Targets.from_list([torch.zeros(1, 5), torch.zeros(2, 6)])
    with pytest.raises(ValueError, match=r"padded labels must be \[B, M, 5\]"):
        Targets.from_padded(torch.zeros(2, 120, 6))
    with pytest.raises(ValueError, match="box_dim"):
        Targets.from_list([torch.zeros(1, 4)], box_dim=3)


def test_normalizer_divides_every_term():
    """The trainer's hook: the loss normaliser is ``normalizer(positives)``, at least 1."""
    gen = torch.Generator().manual_seed(11)
    targets = Targets.from_padded(random_labels(gen, 2, 96, [3, 1]))
    levels = synthetic_levels(gen, targets, 96)
    loss_fn = YOLOXLoss(STRIDES, SimOTAAssigner("megvii2023"), use_l1=True)
    base = loss_fn(levels, targets)
    loss_fn.normalizer = lambda num_fg: num_fg * 4
    scaled = loss_fn(levels, targets)
    for name in ("iou", "obj", "cls", "l1", "total"):
        assert torch.allclose(scaled[name] * 4, base[name], rtol=1e-6), name
    assert torch.equal(scaled["num_fg"], base["num_fg"])


def test_default_assigner_is_the_released_weights_variant():
    assert YOLOXLoss().assigner.variant.name == "original"
