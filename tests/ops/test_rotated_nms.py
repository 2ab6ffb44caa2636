"""Rotated NMS against a loop-based greedy NMS on shapely IoUs, with mmcv's ``IoU >= threshold`` rule."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
import torch

from tests.ops.test_rotated_iou import random_rboxes, shapely_iou
from yoloxkit.ops.rotated import batched_rotated_nms, rotated_nms

nms_module = importlib.import_module("yoloxkit.ops.nms")


def reference_nms(
    boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor, threshold: float
) -> list[int]:
    """Greedy per class, by descending score (stable), dropping IoU >= threshold; score-sorted output."""
    iou = shapely_iou(boxes, boxes)
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    kept: list[int] = []
    for i in order:
        if all(classes[j] != classes[i] or iou[i, j] < threshold for j in kept):
            kept.append(i)
    return kept


@pytest.mark.parametrize("budget", [1 << 18, 64])  # 64: many chunks and split classes
def test_same_kept_boxes_as_the_shapely_greedy_nms(monkeypatch, budget):
    monkeypatch.setattr(nms_module, "_CHUNK_ELEMENTS", budget)
    gen = torch.Generator().manual_seed(0)
    for _ in range(40):
        n = int(torch.randint(0, 120, (1,), generator=gen))
        boxes = random_rboxes(gen, n, extent=80.0, size=30.0)
        scores = torch.rand(n, generator=gen, dtype=torch.float64)
        classes = torch.randint(0, 4, (n,), generator=gen)
        threshold = float(torch.rand(1, generator=gen)) * 0.6 + 0.05
        assert batched_rotated_nms(
            boxes, scores, classes, threshold
        ).tolist() == reference_nms(boxes, scores, classes, threshold)
        zeros = torch.zeros(n, dtype=torch.int64)
        assert rotated_nms(
            boxes.float(), scores.float(), threshold
        ).tolist() == reference_nms(boxes, scores, zeros, threshold)


def test_iou_equal_to_threshold_suppresses():
    # Two 2x1 boxes overlapping by half their width: IoU exactly 1/3.
    boxes = torch.tensor(
        [[0.0, 0.0, 2.0, 1.0, 0.0], [1.0, 0.0, 2.0, 1.0, 0.0]], dtype=torch.float64
    )
    scores = torch.tensor([0.9, 0.8], dtype=torch.float64)
    assert rotated_nms(boxes, scores, 1 / 3).tolist() == [0]
    assert rotated_nms(boxes, scores, 1 / 3 + 1e-9).tolist() == [0, 1]


def test_duplicates_le90_spellings_and_classes():
    box = [100.0, 50.0, 40.0, 10.0, 0.5]
    turned = [100.0, 50.0, 10.0, 40.0, 0.5 - math.pi / 2]  # the same rectangle
    boxes = torch.tensor(
        [box, turned, box, [300.0, 50.0, 40.0, 10.0, -math.pi / 2]], dtype=torch.float64
    )
    scores = torch.tensor([0.5, 0.9, 0.7, 0.6], dtype=torch.float64)
    assert rotated_nms(boxes, scores, 0.1).tolist() == [1, 3]
    classes = torch.tensor([0, 1, 0, 0])
    assert batched_rotated_nms(boxes, scores, classes, 0.1).tolist() == [1, 2, 3]


def test_full_image_coordinates_keep_precision():
    # DOTA full images reach ~20000 px: boxes far from the origin behave as near it.
    gen = torch.Generator().manual_seed(1)
    boxes = random_rboxes(gen, 60, extent=80.0, size=30.0)
    scores = torch.rand(60, generator=gen, dtype=torch.float64)
    shifted = boxes + torch.tensor(
        [19000.0, 18000.0, 0.0, 0.0, 0.0], dtype=torch.float64
    )
    assert torch.equal(
        rotated_nms(shifted, scores, 0.1), rotated_nms(boxes, scores, 0.1)
    )


def test_empty_input():
    assert rotated_nms(torch.zeros(0, 5), torch.zeros(0), 0.1).shape == (0,)
    assert np.array_equal(
        batched_rotated_nms(
            torch.zeros(0, 5), torch.zeros(0), torch.zeros(0), 0.1
        ).numpy(),
        [],
    )
