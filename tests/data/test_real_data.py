"""The shared real datasets: BCCD (VOC), COCO128 (YOLO txt), one DOTA image."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from yoloxkit.cli import main
from yoloxkit.datasets import Report, load_dataset, write_dataset
from yoloxkit.datasets.check import check_dataset, inspect_images

from .helpers import BCCD, COCO128, DOTA_SAMPLE, assert_same_dataset


def _voc_objects() -> Counter:
    """(image stem, class) counts straight from the XML text, independent of the reader."""
    import xml.etree.ElementTree as ET

    counts: Counter = Counter()
    for xml in (BCCD / "BCCD" / "Annotations").glob("*.xml"):
        for obj in ET.parse(xml).getroot().iter("object"):
            counts[(xml.stem, obj.findtext("name"))] += 1
    return counts


def test_bccd_reads_with_its_splits():
    dataset = load_dataset(BCCD)
    assert dataset.format == "voc"
    assert [c.name for c in dataset.categories] == ["Platelets", "RBC", "WBC"]
    assert {k: len(s.images) for k, s in dataset.splits.items()} == {"test": 72, "train": 205, "val": 87}
    assert dataset.num_objects == 4888


def test_bccd_to_coco_accounts_for_every_object(tmp_path):
    dataset = load_dataset(BCCD)
    report = Report()
    write_dataset(dataset, "coco", tmp_path / "coco", report)
    assert not report.findings
    names = {c.id: c.name for c in dataset.categories}
    converted: Counter = Counter()
    for path in sorted((tmp_path / "coco" / "annotations").glob("*.json")):
        data = json.loads(path.read_text())
        images = {im["id"]: Path(im["file_name"]).stem for im in data["images"]}
        for ann in data["annotations"]:
            converted[(images[ann["image_id"]], names[ann["category_id"]])] += 1
    assert converted == _voc_objects()
    assert sum(converted.values()) == 4888
    assert Counter(name for _, name in converted.elements()) == {"RBC": 4155, "WBC": 372, "Platelets": 361}
    assert_same_dataset(dataset, load_dataset(tmp_path / "coco"), atol=0)


def test_bccd_check_finds_the_malformed_boxes(tmp_path, capsys):
    report = Report(strict=False)
    dataset = load_dataset(BCCD, report)
    check_dataset(dataset, report, inspect_images(dataset))
    bad = sorted((Path(f.file).stem, f.kind) for f in report.errors)
    assert bad == [("BloodImage_00338", "degenerate-box"), ("BloodImage_00343", "degenerate-box")]
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "check", str(BCCD), "--json", str(tmp_path / "r.json"), "--fix", str(tmp_path / "fixed")])
    assert exit_info.value.code == 1
    result = json.loads((tmp_path / "r.json").read_text())
    assert len(result["errors"]) == 2 and {"file", "kind", "message"} <= set(result["errors"][0])
    assert result["counts"]["objects"] == 4888
    assert [c["change"].split(":")[0] for c in result["changes"]] == ["object 4 removed", "object 13 removed"]
    fixed = load_dataset(tmp_path / "fixed")
    assert fixed.num_objects == 4886
    clean = Report(strict=False)
    check_dataset(fixed, clean, inspect_images(fixed))
    assert not clean.errors


def test_coco128_round_trips_yolo_coco_yolo_unchanged(tmp_path):
    report = Report()
    dataset = load_dataset(COCO128, report)
    orphans = sorted(Path(f.file).stem for f in report.warnings if f.kind == "orphan-label")
    assert orphans == ["000000000656", "000000000659"]  # label files without an image are reported
    write_dataset(dataset, "coco", tmp_path / "coco", Report())
    write_dataset(load_dataset(tmp_path / "coco"), "yolo", tmp_path / "yolo", Report())
    back = load_dataset(tmp_path / "yolo")
    assert_same_dataset(dataset, back, atol=1e-6)
    labels = COCO128 / "labels" / "train2017"
    images = sorted((COCO128 / "images" / "train2017").glob("*.jpg"))
    assert len(images) == 128
    for image in images:
        original = labels / f"{image.stem}.txt"
        written = tmp_path / "yolo" / "labels" / "train" / f"{image.stem}.txt"
        assert written.read_text() == (original.read_text() if original.exists() else ""), image.name
    names = load_dataset(COCO128 / "data.yaml").categories
    assert [c.name for c in back.categories] == [c.name for c in names] and len(names) == 80


def test_dota_sample_reads_all_polygons_and_flags():
    dataset = load_dataset(DOTA_SAMPLE)
    assert dataset.format == "dota" and dataset.box_format.value == "qbox"
    (image,) = dataset.splits["train"].images
    assert (image.width, image.height) == (712, 557)
    assert image.meta == {"imagesource": "GoogleEarth", "gsd": "0.266170468393"}
    lines = (DOTA_SAMPLE / "labelTxt" / "P1888.txt").read_text().splitlines()[2:]
    fields = [line.split() for line in lines if line.strip()]
    assert len(image.annotations) == len(fields) == 64
    np.testing.assert_array_equal(image.annotations.boxes.data, [[float(v) for v in f[:8]] for f in fields])
    assert [dataset.names[i] for i in image.annotations.category_ids] == [f[8] for f in fields]
    assert image.annotations.difficult.tolist() == [f[9] == "1" for f in fields]
    # Official DOTA-v1.0 class order: small-vehicle and large-vehicle are classes 4 and 5 (0-based).
    assert dataset.class_index[dataset.categories[4].id] == 4 and dataset.categories[4].name == "small-vehicle"


@pytest.mark.parametrize("fmt", ["coco", "yolo", "dota"])
def test_dota_sample_converts_losslessly(tmp_path, fmt):
    dataset = load_dataset(DOTA_SAMPLE)
    report = Report()
    write_dataset(dataset, fmt, tmp_path / fmt, report)
    assert not report.findings
    assert_same_dataset(dataset, load_dataset(tmp_path / fmt), atol=1e-6 if fmt == "yolo" else 0, meta=fmt != "yolo")
