"""CVAT for images 1.1 XML (issue 18 §5): what a CVAT export holds is read as CVAT draws it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.cli_helpers import one_line_error, run_cli
from yoloxkit.datasets import Report, detect, load_dataset
from yoloxkit.structures.boxes import BoxFormat

from .helpers import write_blank

BCCD = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "bccd"

EXPORT = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta><project><labels>
    <label><name>car</name><type>rectangle</type></label>
    <label><name>person</name><type>any</type></label>
    <label><name>bike</name><type>rectangle</type></label>
  </labels></project></meta>
  <image id="0" name="a.png" width="100" height="80" subset="Train">
    <box label="person" occluded="1" xtl="10" ytl="20" xbr="30" ybr="60" z_order="0">
      <attribute name="pose">standing</attribute>
    </box>
    <polygon label="car" points="1,1;5,1;5,5" />
    <tag label="car" />
  </image>
  <image id="1" name="b.png" width="100" height="80" subset="Validation">
    <box label="car" xtl="20" ytl="20" xbr="60" ybr="40" rotation="90" />
    <points label="person" points="3,3" />
  </image>
  <image id="2" name="c.png" width="100" height="80">
  </image>
</annotations>
"""


def export(folder: Path, text: str = EXPORT) -> Path:
    (folder / "images").mkdir(parents=True)
    for name in ("a.png", "b.png", "c.png"):
        write_blank(folder / "images" / name, 100, 80)
    (folder / "annotations.xml").write_text(text)
    return folder


def test_a_cvat_export_is_read_as_cvat_draws_it(tmp_path: Path) -> None:
    folder = export(tmp_path / "cvat")
    assert detect(folder) == "cvat" and detect(folder / "annotations.xml") == "cvat"
    report = Report()
    dataset = load_dataset(folder, report)
    assert dataset.format == "cvat" and dataset.names == {1: "car", 2: "person", 3: "bike"}  # the meta's order
    assert set(dataset.splits) == {"train", "validation"} and len(dataset.splits["train"].images) == 2  # no subset: train
    assert dataset.box_format == BoxFormat.QBOX  # one rotated box makes the dataset oriented
    a = dataset.splits["train"].images[0]
    np.testing.assert_allclose(a.annotations.boxes.data, [[10, 20, 30, 20, 30, 60, 10, 60]])
    b = dataset.splits["validation"].images[0]
    # 40 x 20 box centred at (40, 30), turned 90 degrees clockwise: 20 wide, 40 high
    corners = b.annotations.boxes.data.reshape(4, 2)
    np.testing.assert_allclose(corners.min(0), [30, 10], atol=1e-9)
    np.testing.assert_allclose(corners.max(0), [50, 50], atol=1e-9)
    np.testing.assert_allclose(corners[0], [50, 10], atol=1e-9)  # the top-left corner moved to the top-right
    assert [w.kind for w in report.warnings] == ["not-read"] and "2 shapes other than boxes" in report.warnings[0].message


@pytest.mark.parametrize(
    "box, message",
    [('xtl="a" ytl="1" xbr="2" ybr="3"', "coordinates must be numbers"), ('xtl="inf" ytl="1" xbr="2" ybr="3"', "non-finite")],
)
def test_bad_boxes_are_one_line_errors(tmp_path: Path, capfd, box: str, message: str) -> None:
    text = EXPORT.replace('xtl="10" ytl="20" xbr="30" ybr="60"', box)
    folder = export(tmp_path / "cvat", text)
    line = one_line_error(run_cli(capfd, "data", "convert", folder, "--to", "coco", "--out", tmp_path / "out"), message)
    assert "annotations.xml:10" in line


def test_broken_xml_names_file_and_line(tmp_path: Path, capfd) -> None:
    folder = export(tmp_path / "cvat", EXPORT.replace("</image>", "</img>", 1))
    one_line_error(run_cli(capfd, "data", "convert", folder, "--to", "coco", "--out", tmp_path / "out"), "annotations.xml:15", "invalid XML")
    checked = run_cli(capfd, "data", "check", folder)  # check lists it among its findings
    assert checked.code == 1 and "annotations.xml:15: invalid XML (mismatched tag" in checked.err


def test_bccd_through_cvat_and_back(tmp_path: Path, capfd) -> None:
    done = run_cli(capfd, "data", "convert", BCCD, "--to", "cvat", "--out", tmp_path / "cvat")
    assert done.code == 0, done.err
    original, back = load_dataset(BCCD), load_dataset(tmp_path / "cvat")
    assert back.names == original.names and set(back.splits) == set(original.splits)
    for name, split in original.splits.items():
        mine = {i.file_name: i for i in back.splits[name].images}
        for image in split.images:
            got = mine[image.file_name]
            np.testing.assert_array_equal(got.annotations.boxes.data, image.annotations.boxes.data)
            np.testing.assert_array_equal(got.annotations.category_ids, image.annotations.category_ids)
    assert "truncated flag of 1131 objects not kept" in done.out + done.err
