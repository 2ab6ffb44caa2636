"""``yoloxkit.datasets.synth``: seed-stable rendering, object size and aspect options, angle coverage."""

from __future__ import annotations

import numpy as np
import pytest

from yoloxkit.datasets.synth import render, synthesize, visible_shares as drawn_visible_shares
from yoloxkit.errors import YoloxkitError
from yoloxkit.structures.boxes import BoxFormat, convert


def rboxes(count: int, **options: object) -> np.ndarray:
    """le90 rboxes of the objects of ``count`` rendered 64 x 64 images (seed 0)."""
    rng = np.random.default_rng(0)
    rows = [box for _ in range(count) for box in render(rng, (64, 64), 2, True, 6, **options)[1]]
    return convert(np.array(rows, dtype=np.float64), BoxFormat.QBOX, BoxFormat.RBOX)


def test_default_rendering_is_unchanged_for_a_seed():
    # the first image of seed 0: existing datasets, demos and tests depend on these draws
    _, boxes, labels = render(np.random.default_rng(0), (128, 128), 3, False, 6)
    assert labels == [1, 2, 1]
    assert np.round(boxes[0], 3).tolist() == [99.772, 65.335, 127.22, 86.474]
    _, boxes, labels = render(np.random.default_rng(0), (128, 128), 3, True, 6)
    assert labels == [1, 0, 0]
    assert np.round(boxes[0], 3).tolist() == [65.599, 80.094, 86.731, 79.579, 86.062, 52.139, 64.93, 52.654]


def test_aspect_and_size_options_shape_the_objects():
    boxes = rboxes(60, object_size=(0.3, 0.5), aspect=(2.0, 3.0))
    long, short = boxes[:, 2], boxes[:, 3]
    assert len(boxes) > 100
    assert (long >= 0.3 * 64 - 1e-3).all() and (long <= 0.5 * 64 + 1e-3).all()
    assert (long / short >= 2.0 - 1e-3).all() and (long / short <= 3.0 + 1e-3).all()


def test_rotated_objects_cover_the_whole_le90_range():
    degrees = np.degrees(rboxes(80, aspect=(1.5, 3.0))[:, 4])
    assert degrees.min() >= -90 and degrees.max() < 90
    counts, _ = np.histogram(degrees, bins=18, range=(-90, 90))
    assert counts.min() >= 5  # every 10-degree bin, both ends of the range included


@pytest.mark.parametrize(
    "options", [{"object_size": (0.0, 0.3)}, {"object_size": (0.4, 0.2)}, {"object_size": (0.1, 1.5)}, {"aspect": (0.5, 2.0)}]
)
def test_bad_ranges_are_refused(tmp_path, options):
    with pytest.raises(YoloxkitError, match=next(iter(options))):
        synthesize(tmp_path, 1, 1, rotated=True, size=(32, 32), **options)


def test_synth_command_passes_its_options(tmp_path, capsys):
    from yoloxkit.cli import main
    from yoloxkit.datasets.load import load_dataset

    args = ["data", "synth", "--out", str(tmp_path / "d"), "--rotated", "--images", "10", "--classes", "2",
            "--size", "96", "--max-objects", "3", "--object-size", "0.2,0.4", "--aspect", "2,3", "--val-fraction", "0.4"]  # fmt: skip
    with pytest.raises(SystemExit) as done:
        main(args)
    assert done.value.code in (0, None)
    dataset = load_dataset(tmp_path / "d")
    splits = [split.name for split, _ in dataset.items()]
    assert (splits.count("train"), splits.count("val")) == (6, 4)
    records = [image for _, image in dataset.items()]
    assert all(len(image.annotations.boxes) <= 3 for image in records)
    boxes = np.concatenate([convert(image.annotations.boxes.data, image.annotations.boxes.format, BoxFormat.RBOX) for image in records])
    assert (boxes[:, 2] / boxes[:, 3] >= 1.99).all() and (boxes[:, 2] / boxes[:, 3] <= 3.01).all()
    with pytest.raises(SystemExit) as refused:
        main(["data", "synth", "--out", str(tmp_path / "e"), "--aspect", "2"])
    assert refused.value.code == 2 and "--aspect: expected 2 comma-separated values" in capsys.readouterr().err


def test_class_share_makes_a_rare_class(tmp_path):
    dataset = synthesize(tmp_path, images=60, classes=3, size=(48, 48), seed=0, class_share=[1, 1, 0.1])
    counts = np.bincount([c - 1 for split in dataset.splits.values() for r in split.images for c in r.annotations.category_ids], minlength=3)
    assert counts[2] * 4 < min(counts[:2]) and counts[2] >= 1
    with pytest.raises(YoloxkitError, match="class_share must give 3"):
        synthesize(tmp_path / "x", images=2, classes=3, class_share=[1, 1])


def visible_shares(boxes: list, size: int) -> list[float]:
    """Per axis-aligned rectangle (drawn in order), the share of its pixels no later one covers."""
    masks = []
    for x0, y0, x1, y1 in boxes:
        mask = np.zeros((size, size), bool)
        mask[int(round(y0)) : int(round(y1)), int(round(x0)) : int(round(x1))] = True
        masks.append(mask)
    return [float((m & ~np.any(masks[k + 1 :] or [np.zeros_like(m)], 0)).sum() / max(m.sum(), 1)) for k, m in enumerate(masks)]


def test_min_visible_keeps_every_object_mostly_uncovered(tmp_path):
    """Rectangles only (one class), so each label is its shape: with ``min_visible=0.7`` no object
    is more than 30 % covered by later ones; without it, crowded images hide some almost wholly."""
    def shares(**options):
        rng = np.random.default_rng(0)
        return [v for _ in range(40) for v in visible_shares(render(rng, (64, 64), 1, False, 6, object_size=(0.2, 0.5), **options)[1], 64)]

    free, kept = shares(), shares(min_visible=0.7)
    assert min(free) < 0.3  # the check has something to do here
    assert min(kept) >= 0.7 - 0.03, min(kept)  # pixel rounding of the box edges
    assert len(kept) >= 0.6 * len(free)  # objects are moved, rarely dropped
    with pytest.raises(YoloxkitError, match="min_visible"):
        synthesize(tmp_path, 1, 1, min_visible=0.0)


def test_visible_shares_recover_each_drawn_object_s_uncovered_share():
    """From the labels alone (box, class, drawing order) for every shape: against the rendering's
    own check (>= 0.7 with min_visible), and for rectangles against boxes rasterised here."""
    rng = np.random.default_rng(1)
    for _ in range(30):
        _, boxes, labels = render(rng, (64, 64), 4, False, 6, object_size=(0.2, 0.5), min_visible=0.7)
        assert min(drawn_visible_shares(np.array(boxes).reshape(-1, 4), [k + 1 for k in labels], (64, 64)), default=1.0) >= 0.7
    rng = np.random.default_rng(2)
    for _ in range(30):  # large images: the two rasterisations differ by an edge pixel at most
        _, boxes, labels = render(rng, (256, 256), 1, False, 6, object_size=(0.2, 0.5))
        ours = drawn_visible_shares(np.array(boxes).reshape(-1, 4), [k + 1 for k in labels], (256, 256))
        assert np.allclose(ours, visible_shares(boxes, 256), atol=0.03), (ours, visible_shares(boxes, 256))


def test_synth_command_passes_min_visible(tmp_path):
    from yoloxkit.cli import main
    from yoloxkit.datasets.load import load_dataset

    with pytest.raises(SystemExit) as done:
        main(["data", "synth", "--out", str(tmp_path / "d"), "--images", "20", "--classes", "1", "--size", "64",
              "--object-size", "0.2,0.5", "--min-visible", "1"])  # fmt: skip
    assert done.value.code in (0, None)
    records = [image for _, image in load_dataset(tmp_path / "d").items()]
    for image in records:
        boxes = convert(image.annotations.boxes.data, image.annotations.boxes.format, BoxFormat.XYXY)
        assert min(visible_shares(boxes.tolist(), 64), default=1.0) >= 0.9  # nothing covered but edge pixels
