"""yoloxkit's NMS against an independent, loop-based implementation of torchvision's rules."""

from __future__ import annotations

import importlib

import pytest
import torch

from yoloxkit.ops import batched_nms, box_iou, nms, postprocess

nms_module = importlib.import_module("yoloxkit.ops.nms")  # the package re-exports a function of that name
tv_ops = pytest.importorskip("torchvision.ops", reason="the test-only torchvision stand-in is not installed")


def _random_boxes(generator: torch.Generator, n: int, extent: float = 100.0) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=generator) * extent
    wh = torch.rand(n, 2, generator=generator) * extent / 3 + 0.01
    return torch.cat([xy, xy + wh], 1)


@pytest.mark.parametrize("budget", [1 << 18, 64])  # 64: forces many chunks and split groups
def test_same_kept_set_as_reference_on_random_cases(monkeypatch, budget):
    monkeypatch.setattr(nms_module, "_CHUNK_ELEMENTS", budget)
    generator = torch.Generator().manual_seed(0)
    for _ in range(150):
        n = int(torch.randint(0, 200, (1,), generator=generator))
        boxes = _random_boxes(generator, n)
        scores = torch.rand(n, generator=generator)
        groups = torch.randint(0, 5, (n,), generator=generator)
        threshold = float(torch.rand(1, generator=generator))
        assert torch.equal(batched_nms(boxes, scores, groups, threshold), tv_ops.batched_nms(boxes, scores, groups, threshold))
        assert torch.equal(nms(boxes, scores, threshold), tv_ops.nms(boxes, scores, threshold))


def test_long_suppression_chains_are_resolved_exactly():
    # Each box overlaps only its neighbours: greedy keeps every other box, which needs many rounds.
    x = torch.arange(50.0) * 6
    boxes = torch.stack([x, torch.zeros(50), x + 10, torch.full((50,), 10.0)], 1)
    scores = torch.linspace(1, 0.5, 50)
    kept = nms(boxes, scores, 0.2)
    assert kept.tolist() == list(range(0, 50, 2))
    assert torch.equal(kept, tv_ops.nms(boxes, scores, 0.2))


def test_iou_matches_reference_and_edge_cases():
    generator = torch.Generator().manual_seed(1)
    a, b = _random_boxes(generator, 30), _random_boxes(generator, 40)
    torch.testing.assert_close(box_iou(a, b), tv_ops.box_iou(a, b))
    assert nms(torch.zeros(0, 4), torch.zeros(0), 0.5).shape == (0,)
    same = torch.tensor([[0.0, 0, 10, 10]] * 3)
    assert nms(same, torch.tensor([0.1, 0.9, 0.5]), 0.5).tolist() == [1]


def test_postprocess_handles_empty_and_mixed_batches():
    outputs = torch.zeros(3, 10, 5 + 2)
    outputs[..., 2:4] = 4
    outputs[1, 0, :] = torch.tensor([5.0, 5, 4, 4, 0.9, 0.8, 0.1])
    outputs[1, 1, :] = torch.tensor([5.5, 5, 4, 4, 0.9, 0.1, 0.7])  # overlaps, other class: kept
    rows = postprocess(outputs, conf_threshold=0.3, iou_threshold=0.45)
    assert [len(r) for r in rows] == [0, 2, 0]
    assert rows[1][:, 6].tolist() == [0.0, 1.0]
    torch.testing.assert_close(rows[1][0, :4], torch.tensor([3.0, 3, 7, 7]))
    agnostic = postprocess(outputs, conf_threshold=0.3, iou_threshold=0.45, class_agnostic=True)
    assert [len(r) for r in agnostic] == [0, 1, 0]
