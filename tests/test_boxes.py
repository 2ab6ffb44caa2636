"""Boxes.translate and Boxes.cat: one implementation for every format, NumPy and torch alike."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from yoloxkit.structures.boxes import BoxFormat, Boxes

RBOXES = np.array([[50.0, 40.0, 30.0, 10.0, 0.4], [10.0, 80.0, 6.0, 12.0, -1.2]])


@pytest.mark.parametrize("fmt", [f for f in BoxFormat])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_translate_moves_positions_in_every_format(fmt: BoxFormat, backend: str) -> None:
    """Moving then converting equals converting then moving: the same boxes, 7 px right and 3 up."""
    source_format = BoxFormat.RBOX if fmt.oriented else BoxFormat.XYXY
    base = Boxes(RBOXES, "rbox") if fmt.oriented else Boxes(RBOXES[:, :4].copy(), "xyxy")
    if backend == "torch":
        base = Boxes(torch.from_numpy(base.data), source_format)
    boxes = base.convert(fmt)
    moved = boxes.translate(7.0, -3.0)
    assert moved.format == fmt and type(moved.data) is type(boxes.data)
    expected = base.translate(7.0, -3.0).convert(fmt)
    np.testing.assert_allclose(np.asarray(moved.data), np.asarray(expected.data), atol=1e-9)
    if fmt == BoxFormat.XYXY:
        np.testing.assert_allclose(np.asarray(moved.data), np.asarray(boxes.data) + [7, -3, 7, -3])
    np.testing.assert_allclose(np.asarray(moved.area()), np.asarray(boxes.area()), rtol=1e-9)  # sizes unchanged


def test_cat_joins_in_order_and_refuses_mixed_formats() -> None:
    a, b = Boxes([[0, 0, 1, 1]], "xyxy"), Boxes([[2, 2, 4, 4], [5, 5, 6, 6]], "xyxy")
    assert Boxes.cat([a, b]).data.tolist() == [[0, 0, 1, 1], [2, 2, 4, 4], [5, 5, 6, 6]]
    joined = Boxes.cat([Boxes(torch.zeros(2, 5), "rbox"), Boxes(torch.ones(1, 5), "rbox")])
    assert isinstance(joined.data, torch.Tensor) and joined.data.shape == (3, 5) and joined.format == BoxFormat.RBOX
    with pytest.raises(ValueError, match="mixed formats"):
        Boxes.cat([a, a.convert("xywh")])
    with pytest.raises(ValueError, match="at least one"):
        Boxes.cat([])
