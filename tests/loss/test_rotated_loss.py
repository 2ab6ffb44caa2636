"""Rotated SimOTA and the rotated YOLOX loss on constructed cases, and against a per-image loop oracle."""

from __future__ import annotations

import math

import pytest
import torch

from yoloxkit.loss import SimOTAAssigner, Targets, YOLOXLoss
from yoloxkit.loss.rotated import (
    RotatedSimOTAAssigner,
    RotatedYOLOXLoss,
    flatten_rotated_levels,
    rotated_targets,
)
from yoloxkit.ops.rotated import rotated_iou

STRIDES = (8, 16, 32)
SIZE = 96
CLASSES = 3


def random_levels(gen: torch.Generator, batch: int) -> list[torch.Tensor]:
    """Raw maps ``[B, 4 + 1 + 1 + C, H, W]`` with plausible boxes (sizes around 1-3 strides)."""
    levels = []
    for s in STRIDES:
        n = SIZE // s
        level = torch.randn(batch, 6 + CLASSES, n, n, generator=gen)
        level[:, 2:4] = level[:, 2:4] * 0.5 + 0.7
        level[:, 4] *= 2.0
        levels.append(level)
    return levels


def random_objects(gen: torch.Generator, count: int) -> torch.Tensor:
    """``[count, 6]`` rows (class, cx, cy, w, h, angle) inside the input."""
    cls = torch.randint(0, CLASSES, (count, 1), generator=gen).float()
    centre = torch.rand(count, 2, generator=gen) * (SIZE - 24) + 12
    size = torch.rand(count, 2, generator=gen) * 40 + 6
    angle = (torch.rand(count, 1, generator=gen) - 0.5) * math.pi
    return torch.cat([cls, centre, size, angle], 1)


def loop_assignment(
    levels: list[torch.Tensor], objects: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """mmdet/ai4rs ``RotatedSimOTAAssigner`` for one image, written as its per-image code (fg, gt index)."""
    preds = flatten_rotated_levels(levels, STRIDES)
    anchors = ((preds.grid + 0.5) * preds.strides).t()  # [A, 2]
    strides = preds.strides
    num_anchors = anchors.shape[0]
    fg = torch.zeros(num_anchors, dtype=torch.bool)
    gt_index = torch.zeros(num_anchors, dtype=torch.int64)
    if len(objects) == 0:
        return fg, gt_index
    gts, labels = objects[:, 1:], objects[:, 0].long()
    offset = anchors[:, None, :] - gts[None, :, :2]
    cos, sin = torch.cos(gts[:, 4]), torch.sin(gts[:, 4])
    ox = cos * offset[..., 0] + sin * offset[..., 1]
    oy = -sin * offset[..., 0] + cos * offset[..., 1]
    deltas = torch.stack(
        [
            gts[:, 2] / 2 + ox,
            gts[:, 2] / 2 - ox,
            gts[:, 3] / 2 + oy,
            gts[:, 3] / 2 - oy,
        ],
        -1,
    )
    in_box = deltas.min(-1).values > 0
    radius = 2.5 * strides[:, None]
    in_centre = (offset[..., 0].abs() < radius) & (offset[..., 1].abs() < radius)
    valid = (in_box | in_centre).any(1)
    if not valid.any():
        return fg, gt_index
    boxes = preds.boxes[0].t()[valid].detach()
    ious = rotated_iou(boxes, gts).float()  # [V, G]
    scores = (
        preds.cls[0].t()[valid].sigmoid() * preds.obj[0][valid, None].sigmoid()
    ).sqrt()
    onehot = torch.nn.functional.one_hot(labels, CLASSES).float()
    cls_cost = torch.nn.functional.binary_cross_entropy(
        scores[:, None, :].expand(-1, len(gts), -1),
        onehot[None].expand(len(boxes), -1, -1),
        reduction="none",
    ).sum(-1)
    cost = cls_cost + 3.0 * -torch.log(ious + 1e-7) + 1e5 * ~(in_box & in_centre)[valid]
    matching = torch.zeros_like(cost)
    topk = torch.topk(ious, min(10, len(boxes)), dim=0).values
    dynamic_ks = topk.sum(0).int().clamp(min=1)
    for g in range(len(gts)):
        matching[
            torch.topk(cost[:, g], int(dynamic_ks[g]), largest=False).indices, g
        ] = 1
    several = matching.sum(1) > 1
    if several.any():
        matching[several] = 0
        matching[several, cost[several].argmin(1)] = 1
    picked = matching.sum(1) > 0
    index = torch.nonzero(valid).squeeze(1)
    fg[index[picked]] = True
    gt_index[index[picked]] = matching[picked].argmax(1)
    return fg, gt_index


def test_batched_assignment_equals_the_per_image_loop():
    gen = torch.Generator().manual_seed(0)
    counts = [3, 0, 7, 1, 12]
    levels = random_levels(gen, len(counts))
    objects = [random_objects(gen, n) for n in counts]
    assignment = RotatedSimOTAAssigner()(
        flatten_rotated_levels(levels, STRIDES), rotated_targets(objects)
    )
    assert int(assignment.num_fg) > 10
    for i, rows in enumerate(objects):
        fg, gt_index = loop_assignment([level[i : i + 1] for level in levels], rows)
        assert torch.equal(assignment.fg[i], fg)
        assert torch.equal(assignment.gt_index[i][fg], gt_index[fg])


def perfect_levels(objects: torch.Tensor) -> list[torch.Tensor]:
    """Every anchor predicts the one object exactly, with a confident class and objectness."""
    cls, cx, cy, w, h, angle = objects[0].tolist()
    levels = []
    for s in STRIDES:
        n = SIZE // s
        ys, xs = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
        level = torch.zeros(1, 6 + CLASSES, n, n)
        level[0, 0], level[0, 1] = cx / s - xs, cy / s - ys
        level[0, 2], level[0, 3] = math.log(w / s), math.log(h / s)
        level[0, 4] = angle
        level[0, 5] = 5.0
        level[0, 6 + int(cls)] = 5.0
        levels.append(level)
    return levels


def test_perfect_prediction_has_no_iou_or_l1_loss():
    objects = torch.tensor([[1.0, 40.0, 50.0, 30.0, 12.0, 0.6]])
    losses = RotatedYOLOXLoss(use_l1=True)(
        perfect_levels(objects), rotated_targets([objects])
    )
    assert losses["num_fg"] > 0
    assert losses["iou"].abs() < 1e-5
    assert losses["l1"].abs() < 1e-5


def respell(rows: torch.Tensor) -> torch.Tensor:
    """The same rectangles the other way: (w, h, angle) -> (h, w, angle - pi/2)."""
    return torch.cat(
        [rows[:, :3], rows[:, 4:5], rows[:, 3:4], rows[:, 5:] - math.pi / 2], 1
    )


def test_angle_is_periodic_in_the_loss_without_l1():
    gen = torch.Generator().manual_seed(1)
    levels = random_levels(gen, 2)
    objects = [random_objects(gen, 4), random_objects(gen, 2)]
    turned = [level.clone() for level in levels]
    for level in turned:
        level[:, 4] += math.pi
    loss_fn = RotatedYOLOXLoss()
    base = loss_fn(levels, rotated_targets(objects))
    for other in (
        loss_fn(turned, rotated_targets(objects)),
        loss_fn(levels, rotated_targets([respell(r) for r in objects])),
    ):
        for name in ("total", "iou", "obj", "cls", "num_fg"):
            assert torch.allclose(other[name], base[name], atol=1e-4), name


def test_empty_images_give_objectness_only_and_gradients():
    gen = torch.Generator().manual_seed(2)
    levels = [level.requires_grad_(True) for level in random_levels(gen, 2)]
    losses = RotatedYOLOXLoss(use_l1=True)(
        levels, rotated_targets([torch.zeros(0, 6), torch.zeros(0, 6)])
    )
    assert losses["num_fg"] == 0 and losses["num_gt"] == 0
    assert losses["iou"] == 0 and losses["cls"] == 0 and losses["l1"] == 0
    losses["total"].backward()
    assert all(torch.isfinite(level.grad).all() for level in levels)
    assert levels[0].grad[:, 5].abs().sum() > 0  # objectness is trained down


@pytest.mark.parametrize("use_l1", [False, True])
def test_batch_loss_equals_per_image_losses(use_l1):
    gen = torch.Generator().manual_seed(3)
    counts = [4, 0, 9]
    levels = random_levels(gen, len(counts))
    objects = [random_objects(gen, n) for n in counts]
    loss_fn = RotatedYOLOXLoss(use_l1=use_l1)
    batch = loss_fn(levels, rotated_targets(objects))
    singles = [
        loss_fn([level[i : i + 1] for level in levels], rotated_targets([objects[i]]))
        for i in range(len(counts))
    ]
    assert batch["num_fg"] == sum(single["num_fg"] for single in singles)
    scale = batch["num_fg"].clamp(min=1)
    for name in ("iou", "obj", "cls", "l1"):
        expected = sum(
            single[name] * single["num_fg"].clamp(min=1) for single in singles
        )
        assert torch.allclose(batch[name] * scale, expected, rtol=1e-5, atol=1e-5), name


def test_gradients_reach_every_rotated_channel():
    gen = torch.Generator().manual_seed(4)
    levels = [level.requires_grad_(True) for level in random_levels(gen, 2)]
    losses = RotatedYOLOXLoss(use_l1=True)(
        levels, rotated_targets([random_objects(gen, 5), random_objects(gen, 3)])
    )
    losses["total"].backward()
    grads = torch.cat([level.grad.transpose(0, 1).flatten(1) for level in levels], 1)
    assert torch.isfinite(grads).all()
    assert (grads.abs().sum(1) > 0).all()  # tx, ty, tw, th, angle, obj and every class


def test_targets_of_the_wrong_width_are_a_clear_error():
    with pytest.raises(ValueError, match=r"targets of image 0 must be \[n, 6\] \(class, cx, cy, w, h, angle\)"):
        rotated_targets([torch.zeros(2, 5)])


def test_rotated_targets_are_targets_with_five_box_values():
    gen = torch.Generator().manual_seed(5)
    objects = [random_objects(gen, 3), random_objects(gen, 0), random_objects(gen, 2)]
    targets = rotated_targets(objects)
    assert targets.boxes.shape == (3, 3, 5)
    padded = torch.zeros(3, 120, 6)
    for i, rows in enumerate(objects):
        padded[i, : len(rows)] = rows
    from_padded = Targets.from_padded(padded, box_dim=5)
    assert torch.equal(from_padded.mask, targets.mask)
    assert torch.equal(from_padded.classes[targets.mask], targets.classes[targets.mask])
    assert torch.equal(from_padded.boxes[targets.mask], targets.boxes[targets.mask])


def test_rotated_loss_shares_the_axis_aligned_loss_and_its_normalizer():
    gen = torch.Generator().manual_seed(6)
    levels = random_levels(gen, 2)
    targets = rotated_targets([random_objects(gen, 4), random_objects(gen, 2)])
    loss_fn = RotatedYOLOXLoss(use_l1=True)
    assert isinstance(loss_fn, YOLOXLoss) and isinstance(loss_fn.assigner, SimOTAAssigner)
    assert "angle_norm_factor=5.0" in repr(loss_fn) and "RotatedSimOTAAssigner(center_radius=2.5" in repr(loss_fn)
    base = loss_fn(levels, targets)
    loss_fn.normalizer = lambda num_fg: num_fg * 4
    scaled = loss_fn(levels, targets)
    assert base["num_fg"] > 0
    for name in ("iou", "obj", "cls", "l1", "total"):
        assert torch.allclose(scaled[name] * 4, base[name], rtol=1e-6), name


def test_rotated_names_are_exported():
    import yoloxkit.loss
    import yoloxkit.ops
    from yoloxkit.ops import rotated as rotated_ops

    assert yoloxkit.loss.RotatedYOLOXLoss is RotatedYOLOXLoss
    assert yoloxkit.loss.rotated_targets is rotated_targets
    assert yoloxkit.ops.rotated_iou is rotated_iou
    assert yoloxkit.ops.batched_rotated_nms is rotated_ops.batched_rotated_nms
