"""Label Studio JSON exports (issue 18 §5): tasks, their latest annotation, image URLs, rotation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.cli_helpers import one_line_error, run_cli
from yoloxkit.datasets import Report, detect, load_dataset
from yoloxkit.structures.boxes import BoxFormat

from .helpers import write_blank


def rect(x: float, y: float, w: float, h: float, label: str, rotation: float = 0) -> dict:
    return {"type": "rectanglelabels", "from_name": "label", "to_name": "image", "original_width": 200, "original_height": 100,
            "value": {"x": x, "y": y, "width": w, "height": h, "rotation": rotation, "rectanglelabels": [label]}}  # fmt: skip


TASKS = [
    {"id": 1, "data": {"image": "/data/upload/3/1a2b3c4d-street.png"},
     "annotations": [{"result": [rect(10, 20, 30, 40, "car")]},
                     {"result": [rect(50, 50, 10, 10, "person")], "was_cancelled": True}]},  # the cancelled one is not used
    {"id": 2, "data": {"image": "/data/local-files/?d=images/sub/park.png"},
     "annotations": [{"result": [rect(0, 0, 50, 50, "bike"), rect(10, 10, 20, 20, "car", rotation=90)]}]},
    {"id": 3, "data": {"image": "/data/local-files/?d=images/todo.png"}, "annotations": []},  # not labelled yet
]  # fmt: skip


def export(folder: Path, tasks: list = TASKS) -> Path:
    for name in ("street.png", "sub/park.png", "todo.png"):
        write_blank(folder / "images" / name, 200, 100)
    (folder / "project-7-at-2026-12-01.json").write_text(json.dumps(tasks))
    return folder


def test_an_export_is_read_as_label_studio_draws_it(tmp_path: Path) -> None:
    folder = export(tmp_path / "ls")
    assert detect(folder) == "labelstudio" and detect(folder / "project-7-at-2026-12-01.json") == "labelstudio"
    report = Report()
    dataset = load_dataset(folder, report)
    assert list(dataset.splits) == ["train"] and dataset.names == {1: "bike", 2: "car"}  # sorted; "person" was cancelled
    street, park = dataset.splits["train"].images
    assert (street.file_name, park.file_name) == ("street.png", "sub/park.png")  # the hash prefix of uploads dropped
    assert dataset.box_format == BoxFormat.QBOX
    np.testing.assert_allclose(street.annotations.boxes.data, [[20, 20, 80, 20, 80, 60, 20, 60]])
    # 40 x 20 px at (20, 10), turned 90 degrees clockwise about its top-left corner
    np.testing.assert_allclose(park.annotations.boxes.data[1], [20, 10, 20, 50, 0, 50, 0, 10], atol=1e-9)
    assert [w.kind for w in report.warnings] == ["unlabelled"] and "1 tasks" in report.warnings[0].message


def test_missing_images_and_malformed_results_are_one_line_errors(tmp_path: Path, capfd) -> None:
    tasks = json.loads(json.dumps(TASKS))
    tasks[0]["data"]["image"] = "/data/upload/3/nowhere.png"
    folder = export(tmp_path / "a", tasks)
    one_line_error(run_cli(capfd, "data", "convert", folder, "--to", "coco", "--out", tmp_path / "o1"), "'nowhere.png' not found")
    tasks = json.loads(json.dumps(TASKS))
    del tasks[1]["annotations"][0]["result"][0]["value"]["x"]
    tasks[1]["annotations"][0]["result"][0]["value"]["y"] = "abc"
    folder = export(tmp_path / "b", tasks)
    one_line_error(run_cli(capfd, "data", "convert", folder, "--to", "coco", "--out", tmp_path / "o2"), "task 2: malformed rectangle result")


def test_coco_files_are_still_coco(tmp_path: Path) -> None:
    (tmp_path / "instances_val.json").write_text(json.dumps({"images": [], "annotations": [], "categories": [{"id": 1, "name": "a"}]}))
    assert detect(tmp_path / "instances_val.json") == "coco" and detect(tmp_path) == "coco"
