"""Bad input: each problem is one line (through the CLI: ``yoloxkit: error: FILE:LINE: ...``, exit 2)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from yoloxkit.cli import main
from yoloxkit.datasets import Report, load_dataset

from .helpers import write_blank

VOC_XML = """<annotation>
  <filename>a.png</filename>
  <size><width>32</width><height>24</height><depth>3</depth></size>
  <object>
    <name>cat</name>
    <difficult>0</difficult>
    <bndbox><xmin>1</xmin><ymin>2</ymin><xmax>10</xmax><ymax>12</ymax></bndbox>
  </object>
</annotation>
"""


def _error_line(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


def _voc(tmp_path: Path, xml: str) -> Path:
    write_blank(tmp_path / "data" / "images" / "a.png", 32, 24)
    (tmp_path / "data" / "annotations").mkdir(parents=True)
    (tmp_path / "data" / "annotations" / "a.xml").write_text(xml)
    return tmp_path / "data"


def _yolo(tmp_path: Path, label: str, names: str = "names: [cat, dog]\n") -> Path:
    root = tmp_path / "data"
    write_blank(root / "images" / "train" / "a.png", 32, 24)
    (root / "labels" / "train").mkdir(parents=True)
    (root / "labels" / "train" / "a.txt").write_text(label)
    (root / "data.yaml").write_text("train: images/train\n" + names)
    return root


def _convert(tmp_path: Path, data: Path) -> list[str]:
    return ["data", "convert", str(data), "--to", "coco", "--out", str(tmp_path / "out")]


def test_broken_xml_names_file_and_line(tmp_path, capsys):
    data = _voc(tmp_path, VOC_XML.replace("</object>", "</objet>"))
    err = _error_line(capsys, _convert(tmp_path, data))
    assert re.search(r"a\.xml:8: invalid XML \(mismatched tag", err), err


def test_bad_xml_value_names_file_and_line(tmp_path, capsys):
    data = _voc(tmp_path, VOC_XML.replace("<xmax>10</xmax>", "<xmax>ten</xmax>"))
    err = _error_line(capsys, _convert(tmp_path, data))
    assert re.search(r"a\.xml:7: <xmax> of 'cat' is 'ten', not a number", err), err


def test_broken_json_names_file_and_line(tmp_path, capsys):
    path = tmp_path / "instances_train.json"
    path.write_text('{"images": [\n  {"id": 1,}\n]}\n')
    err = _error_line(capsys, _convert(tmp_path, path))
    assert re.search(r"instances_train\.json:2: invalid JSON", err), err


def test_coco_unknown_category_names_the_annotation(tmp_path, capsys):
    path = tmp_path / "instances_train.json"
    data = {"images": [{"id": 1, "file_name": "a.png", "width": 4, "height": 4}], "categories": [{"id": 1, "name": "a"}],
            "annotations": [{"id": 7, "image_id": 1, "category_id": 3, "bbox": [0, 0, 1, 1]}]}  # fmt: skip
    path.write_text(json.dumps(data))
    err = _error_line(capsys, _convert(tmp_path, path))
    assert "instances_train.json: annotations[0] (id 7): category_id 3 is not in 'categories'" in err


def test_coco_missing_image(tmp_path, capsys):
    path = tmp_path / "annotations" / "instances_train.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"images": [{"id": 1, "file_name": "gone.png", "width": 4, "height": 4}], "categories": [], "annotations": []}))
    err = _error_line(capsys, _convert(tmp_path, path))
    assert err.startswith("yoloxkit: error: image not found:") and "gone.png" in err


def test_voc_missing_image_names_file_and_line(tmp_path, capsys):
    data = _voc(tmp_path, VOC_XML.replace("a.png", "b.png"))
    (data / "images" / "a.png").rename(data / "images" / "c.png")
    err = _error_line(capsys, _convert(tmp_path, data))
    assert re.search(r"a\.xml:1: image 'b\.png' not found", err), err


def test_yolo_class_out_of_range_names_file_and_line(tmp_path, capsys):
    data = _yolo(tmp_path, "0 0.5 0.5 0.2 0.2\n2 0.5 0.5 0.2 0.2\n")
    err = _error_line(capsys, _convert(tmp_path, data))
    assert re.search(r"a\.txt:2: class id 2 out of range 0\.\.1 \(labels look 1-based\)", err), err


def test_yolo_bad_line_names_file_and_line(tmp_path, capsys):
    data = _yolo(tmp_path, "0 0.5 0.5 0.2\n")
    assert re.search(r"a\.txt:1: 4 fields; expected 5", _error_line(capsys, _convert(tmp_path, data)))
    data = _yolo(tmp_path / "2", "0 0.5 x 0.2 0.1\n")
    assert re.search(r"a\.txt:1: not a number", _error_line(capsys, _convert(tmp_path / "2", data)))


def test_broken_yaml_names_file_and_line(tmp_path, capsys):
    data = _yolo(tmp_path, "", names="names: [cat, dog\n")
    err = _error_line(capsys, _convert(tmp_path, data / "data.yaml"))
    assert re.search(r"data\.yaml:\d+: invalid YAML", err), err


@pytest.mark.parametrize("name", ["instances_train.json", "data.yaml"])
def test_empty_files(tmp_path, capsys, name):
    (tmp_path / name).write_text("")
    err = _error_line(capsys, _convert(tmp_path, tmp_path / name))
    assert err.endswith(f"{name}: empty file"), err


def test_empty_xml(tmp_path, capsys):
    data = _voc(tmp_path, "")
    assert _error_line(capsys, _convert(tmp_path, data)).endswith("a.xml: empty file")


def test_dota_bad_line_names_file_and_line(tmp_path, capsys):
    write_blank(tmp_path / "d" / "images" / "P1.png", 20, 20)
    (tmp_path / "d" / "labelTxt").mkdir()
    (tmp_path / "d" / "labelTxt" / "P1.txt").write_text("imagesource:x\ngsd:null\n1 1 5 1 5 5 1 5 plane 0\n1 1 5 1 plane 0\n")
    err = _error_line(capsys, _convert(tmp_path, tmp_path / "d"))
    assert re.search(r"P1\.txt:4: expected 8 coordinates", err), err


def test_collecting_mode_reports_every_problem_and_keeps_going(tmp_path):
    data = _yolo(tmp_path, "0 0.5 0.5 0.2 0.2\n7 0.5 0.5 0.2 0.2\n0 0.5\n")
    report = Report(strict=False)
    dataset = load_dataset(data, report)
    assert [(f.kind, f.line) for f in report.errors] == [("class-range", 2), ("parse", 3)]
    assert dataset.num_objects == 1  # the usable line is kept, the others reported


def test_unknown_format_and_missing_dataset(tmp_path, capsys):
    assert "dataset not found" in _error_line(capsys, _convert(tmp_path, tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    assert "cannot tell the dataset format" in _error_line(capsys, _convert(tmp_path, tmp_path / "empty"))


@pytest.mark.parametrize("body", [{"images": 3}, {"images": [], "annotations": 5}, {"images": [], "categories": "cat"}])
def test_json_that_is_not_coco_is_one_line_not_a_traceback(tmp_path, capsys, body):
    """Found with `mine`'s own mine.json beside a dataset: a JSON whose lists are numbers or strings."""
    path = tmp_path / "stats.json"
    path.write_text(json.dumps(body))
    err = _error_line(capsys, _convert(tmp_path, path))
    assert "stats.json" in err and "not a COCO detection file" in err, err
