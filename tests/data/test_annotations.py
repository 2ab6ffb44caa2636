"""``Annotations.appended``: the one way to add objects to an image's labels (audit apply, pseudo-labels)."""

from __future__ import annotations

import numpy as np

from yoloxkit.datasets.model import Annotations
from yoloxkit.structures.boxes import BoxFormat


def test_appended_keeps_both_sides_in_order_and_fills_unknown_areas() -> None:
    first = Annotations.from_lists(BoxFormat.XYXY, [[0, 0, 10, 10]], [3], iscrowd=[True], area=[42.0])
    second = Annotations.from_lists(BoxFormat.XYXY, [[5, 5, 8, 9], [1, 1, 2, 2]], [1, 2], difficult=[False, True])
    both = first.appended(second)
    np.testing.assert_array_equal(both.boxes.data, [[0, 0, 10, 10], [5, 5, 8, 9], [1, 1, 2, 2]])
    assert both.category_ids.tolist() == [3, 1, 2]
    assert both.iscrowd.tolist() == [True, False, False] and both.difficult.tolist() == [False, False, True]
    assert both.area[0] == 42.0 and np.isnan(both.area[1:]).all()
    assert second.appended(second).area is None  # no area known on either side: none
