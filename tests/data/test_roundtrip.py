"""Property tests: every writer's output reads back as the dataset written (read(write(x)) == x).

Each format is exercised with what it can hold: COCO everything (arbitrary ids, crowd, flags, image
ids and extra fields, axis-aligned or polygons); YOLO ids 1..K and either box kind; VOC boxes with
difficult/truncated; DOTA polygons with difficult or truncated and header fields; CVAT boxes in
splits (subsets) that hold images; Label Studio boxes (percentages).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yoloxkit.datasets import Annotations, Category, Dataset, ImageRecord, Report, Split, load_dataset, write_dataset
from yoloxkit.structures.boxes import BoxFormat

from .helpers import assert_same_dataset, write_blank

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
coordinate = st.integers(-40, 400).map(lambda v: v / 4)  # quarter pixels, slightly outside images too


@st.composite
def datasets(draw, fmt: str) -> tuple[Dataset, dict]:
    """A dataset description for ``fmt`` (images are written when the test runs)."""
    box_format = BoxFormat.QBOX if fmt == "dota" else draw(st.sampled_from([BoxFormat.XYXY, BoxFormat.QBOX] if fmt in ("coco", "yolo") else [BoxFormat.XYXY]))
    n_classes = draw(st.integers(1, 5))
    if fmt == "coco":
        ids = sorted(draw(st.sets(st.integers(0, 99), min_size=n_classes, max_size=n_classes)))
    else:
        ids = list(range(1, n_classes + 1))
    names = draw(st.lists(st.text("abcdefghij-", min_size=1, max_size=8), min_size=n_classes, max_size=n_classes, unique=True))
    categories = [Category(i, n) for i, n in zip(ids, names)]
    split_names = draw(st.sampled_from([["train"], ["train", "val"], ["train", "val", "test"]]))
    splits, next_id = {}, 1
    for split_name in split_names:
        images = []
        # VOC cannot hold a dataset without images, CVAT a split without one (splits are image subsets)
        for i in range(draw(st.integers(0 if splits and fmt != "cvat" else 1, 3))):
            width, height = draw(st.integers(8, 96)), draw(st.integers(8, 96))
            n = draw(st.integers(0, 4))
            boxes = [draw(st.lists(coordinate, min_size=box_format.width, max_size=box_format.width)) for _ in range(n)]
            cats = [draw(st.sampled_from(ids)) for _ in range(n)]
            flag = lambda allowed: [draw(st.booleans()) if allowed else False for _ in range(n)]  # noqa: E731
            crowd = flag(fmt == "coco")
            difficult = flag(fmt in ("coco", "voc", "dota"))
            truncated = flag(fmt in ("coco", "voc", "dota"))
            if fmt == "dota":  # difficulty 1 or 2: one flag at a time
                truncated = [t and not d for t, d in zip(truncated, difficult)]
            meta = {}
            if fmt == "dota" and draw(st.booleans()):
                meta = {"imagesource": "GoogleEarth", "gsd": draw(st.sampled_from(["null", "0.14"]))}
            if fmt == "coco" and draw(st.booleans()):
                meta = {"license": draw(st.integers(0, 5)), "coco_url": "http://x/y.jpg"}
            ann = Annotations.from_lists(box_format, boxes, cats, crowd, difficult, truncated)
            images.append(ImageRecord(f"{split_name}_{i}.png", width, height, ann, next_id, meta))
            next_id += 1
        splits[split_name] = images
    return box_format, categories, splits


def _round_trip(fmt: str, spec) -> tuple[Dataset, Dataset]:
    box_format, categories, split_images = spec
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "src"
        root.mkdir()
        for images in split_images.values():
            for image in images:
                write_blank(root / image.file_name, image.width, image.height)
        splits = {name: Split(name, root, images) for name, images in split_images.items()}
        dataset = Dataset(categories, splits, box_format, "memory", str(root))
        report = Report()
        write_dataset(dataset, fmt, Path(tmp) / "out", report)
        assert not report.findings, [str(f) for f in report.findings]
        return dataset, load_dataset(Path(tmp) / "out", Report(), fmt)


@SETTINGS
@given(datasets("coco"))
def test_coco_round_trip(spec):
    original, back = _round_trip("coco", spec)
    assert_same_dataset(original, back, atol=1e-9, ids=True, meta=True)


@SETTINGS
@given(datasets("yolo"))
def test_yolo_round_trip(spec):
    original, back = _round_trip("yolo", spec)
    # Normalised coordinates with 10 significant digits: ~1e-8 px at these sizes.
    assert_same_dataset(original, back, atol=1e-6)


@SETTINGS
@given(datasets("voc"))
def test_voc_round_trip(spec):
    original, back = _round_trip("voc", spec)
    assert_same_dataset(original, back, atol=0)


@SETTINGS
@given(datasets("dota"))
def test_dota_round_trip(spec):
    original, back = _round_trip("dota", spec)
    assert_same_dataset(original, back, atol=0, meta=True)


@SETTINGS
@given(datasets("cvat"))
def test_cvat_round_trip(spec):
    original, back = _round_trip("cvat", spec)
    assert_same_dataset(original, back, atol=0)


@SETTINGS
@given(datasets("labelstudio"))
def test_labelstudio_round_trip(spec):
    original, back = _round_trip("labelstudio", spec)
    assert_same_dataset(original, back, atol=1e-9)  # percentages of the image size and back
