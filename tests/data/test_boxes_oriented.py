"""Oriented box formats (qbox, rbox le90) in the shared Boxes type."""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from yoloxkit.structures.boxes import BoxFormat, Boxes, convert, regularize_le90

rboxes = st.tuples(
    st.floats(-500, 500), st.floats(-500, 500), st.floats(2, 300), st.floats(2, 300), st.floats(-math.pi, math.pi)
)


@settings(max_examples=200, deadline=None)
@given(rboxes)
def test_rbox_qbox_round_trip_is_le90(row):
    rbox = np.array([row], dtype=np.float64)
    back = convert(convert(rbox, "rbox", "qbox"), "qbox", "rbox")
    expected = regularize_le90(rbox)
    assert back[0, 2] >= back[0, 3] - 1e-3
    assert -math.pi / 2 - 1e-6 <= back[0, 4] < math.pi / 2 + 1e-6
    # Same rectangle: centre, sides and corners agree (the angle may differ by pi at the wrap).
    np.testing.assert_allclose(back[0, :4], expected[0, :4], atol=2e-2)  # minAreaRect works in float32
    corners = lambda b: np.sort(convert(b, "rbox", "qbox").reshape(4, 2).round(1), axis=0)  # noqa: E731
    np.testing.assert_allclose(corners(back), corners(expected), atol=0.2)


@settings(max_examples=100, deadline=None)
@given(rboxes)
def test_areas_and_hull(row):
    rbox = Boxes(np.array([row]), BoxFormat.RBOX)
    qbox = rbox.convert("qbox")
    np.testing.assert_allclose(qbox.area(), rbox.area(), rtol=1e-6)
    hull = rbox.convert("xyxy").data
    points = qbox.data.reshape(4, 2)
    np.testing.assert_allclose(hull[0], [*points.min(0), *points.max(0)], atol=1e-6)


def test_formats_and_widths():
    assert BoxFormat.QBOX.width == 8 and BoxFormat.RBOX.width == 5 and BoxFormat.XYXY.width == 4
    assert BoxFormat.QBOX.oriented and not BoxFormat.XYWH.oriented
    xyxy = np.array([[0.0, 0.0, 10.0, 4.0], [0.0, 0.0, 4.0, 10.0]])
    np.testing.assert_allclose(convert(xyxy, "xyxy", "qbox"), [[0, 0, 10, 0, 10, 4, 0, 4], [0, 0, 4, 0, 4, 10, 0, 10]])
    np.testing.assert_allclose(convert(xyxy, "xyxy", "rbox"), [[5, 2, 10, 4, 0], [2, 5, 10, 4, -math.pi / 2]])
    np.testing.assert_allclose(convert(convert(xyxy, "xyxy", "rbox"), "rbox", "xyxy"), xyxy, atol=1e-9)
    # A qbox keeps its vertex order through the Boxes type; axis-aligned formats still behave as before.
    assert Boxes(xyxy, "xyxy").convert("cxcywh").tolist() == [[5, 2, 10, 4], [2, 5, 4, 10]]


def test_torch_and_numpy_agree():
    q = np.array([[674, 375, 683, 375, 684, 394, 675, 395], [465, 371, 455, 372, 451, 324, 460, 323]], dtype=np.float64)
    for target in ("rbox", "xyxy", "cxcywh"):
        np.testing.assert_allclose(convert(torch.from_numpy(q), "qbox", target).numpy(), convert(q, "qbox", target))
    r = convert(q, "qbox", "rbox")
    np.testing.assert_allclose(convert(torch.from_numpy(r), "rbox", "qbox").numpy(), convert(r, "rbox", "qbox"))
    np.testing.assert_allclose(Boxes(torch.from_numpy(q), "qbox").area().numpy(), Boxes(q, "qbox").area())
