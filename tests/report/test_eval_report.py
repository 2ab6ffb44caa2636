"""``report.html`` of ``yoloxkit eval``, looked at in headless Chromium: every section renders,
the tables sort, the class picker highlights curves, the worst images show, nothing is fetched."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.browser import open_page
from tests.evaluation.helpers import BCCD, COCO128, perturbed, run
from yoloxkit.datasets import load_dataset
from yoloxkit.datasets.coco import to_coco_dict
from yoloxkit.evaluation import resolve_split
from yoloxkit.report.charts import _polylines, line_chart
from yoloxkit.report.page import environment, render

SECTIONS = ("overview", "coco", "classes", "curves", "thresholds", "confusion", "errors", "sizes", "worst")
#: Set to a folder to keep the screenshot (docs/images/eval_report.png comes from it).
SCREENSHOT_DIR = os.environ.get("YOLOXKIT_SCREENSHOT_DIR")


def evaluate_into(tmp_path: Path, data: Path, split: str, *extra: str) -> Path:
    dataset = load_dataset(data)
    gt = to_coco_dict(dataset, resolve_split(dataset, split))
    predictions = tmp_path / "predictions.json"
    predictions.write_text(json.dumps(perturbed(gt, np.random.default_rng(0))))
    out = tmp_path / "eval"
    assert run(["eval", "--predictions", predictions, "--data", data, "--split", split, "--out", out, "--no-plots", *extra]) == 0
    return out


@pytest.fixture(scope="module")
def bccd_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return evaluate_into(tmp_path_factory.mktemp("bccd-report"), BCCD, "val") / "report.html"


def test_every_section_renders_in_chromium(bccd_report: Path, tmp_path: Path) -> None:
    with open_page(bccd_report) as page:
        for section in SECTIONS:
            assert page.is_visible(f"section#{section}"), section
            assert page.inner_text(f"section#{section} h2"), section
        assert page.locator("#class-table tbody tr").count() == 3  # Platelets, RBC, WBC
        assert page.locator("#coco tbody tr").count() == 12
        assert page.locator("svg.chart").count() == 4
        assert page.locator("svg.chart polyline.main").count() >= 4  # the all-classes curve of each chart
        assert page.locator("table.confusion tbody tr").count() == 4  # 3 classes + background
        images = page.locator("#worst .gallery img")
        assert images.count() == 12
        assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 100)")
        shot = page.screenshot(full_page=False)
        page.select_option("#curves select.class-pick", "1")
        curves = page.locator("#curves").screenshot()
    assert len(shot) > 50_000 and len(curves) > 50_000
    if SCREENSHOT_DIR:
        (Path(SCREENSHOT_DIR) / "eval_report.png").write_bytes(shot)
        (Path(SCREENSHOT_DIR) / "eval_report_curves.png").write_bytes(curves)


def test_sorting_picking_and_filtering(bccd_report: Path) -> None:
    with open_page(bccd_report) as page:
        ap_cells = "#class-table tbody tr td:nth-child(4)"
        page.click("#class-table thead th:nth-child(4)")  # AP, descending first
        descending = [float(v) for v in page.eval_on_selector_all(ap_cells, "cells => cells.map(c => c.dataset.v)")]
        assert descending == sorted(descending, reverse=True) and len(set(descending)) > 1
        page.click("#class-table thead th:nth-child(4)")
        ascending = [float(v) for v in page.eval_on_selector_all(ap_cells, "cells => cells.map(c => c.dataset.v)")]
        assert ascending == descending[::-1]
        assert page.locator("svg.chart polyline.on").count() == 0
        page.select_option("#curves select.class-pick", "2")  # WBC
        highlighted = page.locator("svg.chart polyline.on")
        assert highlighted.count() >= 4 and {highlighted.nth(i).get_attribute("data-k") for i in range(highlighted.count())} == {"2"}
        assert page.locator("#class-table tr.picked td:first-child").inner_text() == "WBC"
        page.click("#class-table tbody tr:has-text('RBC')")  # a row picks its class too
        assert page.input_value("#curves select.class-pick") == "1"
        page.fill("input.row-filter", "plate")
        assert page.locator("#class-table tbody tr:visible").count() == 1


def test_eighty_classes_stay_small_and_render(tmp_path: Path) -> None:
    report = evaluate_into(tmp_path, COCO128, "train") / "report.html"
    size = report.stat().st_size
    assert size < 1_500_000, size  # charts of 80 classes, an 81 x 81 confusion table, 12 thumbnails
    html = report.read_text()
    assert "http://" not in html and "https://" not in html  # nothing to fetch: opens offline
    with open_page(report) as page:
        assert page.locator("#class-table tbody tr").count() == 80
        assert page.locator("table.confusion tbody tr").count() == 81


def test_user_text_is_escaped() -> None:
    assert render("macros.html.j2").strip() == ""  # the macros alone render to nothing but must parse
    chart = line_chart("<b>t</b>", "x", "y", [0, 1], [("<script>alert(1)</script>", [0, 1], 0, False)])
    text = environment().from_string('{% import "macros.html.j2" as ui %}{{ ui.line_chart(c) }}').render(c=chart)
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "&lt;b&gt;t&lt;/b&gt;" in text


def test_polylines_break_at_missing_values_and_keep_the_drawing() -> None:
    x = np.arange(8, dtype=float)
    y = np.array([1, 1, 1, 1, np.nan, 2, 3, 3], dtype=float)
    lines = _polylines(x, y)
    assert lines == ["0,1 3,1", "5,2 6,3 7,3"]  # the flat run keeps its ends; NaN splits the line
    assert _polylines(x, np.full(8, np.nan)) == []


def test_rotated_report_renders(tmp_path: Path) -> None:
    from tests.export.conftest import conditioned_detector
    from tests.export.test_rotated_export import CLASSES, synth
    from yoloxkit.checkpoints import save_checkpoint

    detector = conditioned_detector("rotated-yolox-nano", num_classes=len(CLASSES))
    weights = tmp_path / "rotated.pt"
    save_checkpoint(weights, detector.model, detector.model_name, detector.class_names, detector.contract.to_dict())
    data = synth(tmp_path / "synth", 4)
    assert run(["eval", "-w", weights, "--data", data, "--out", tmp_path / "eval"]) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    with open_page(tmp_path / "eval" / "report.html") as page:
        for section in ("overview", "classes", "angles"):
            assert page.is_visible(f"section#{section}"), section
        assert page.locator("#classes tbody tr").count() == len(CLASSES)
        shown = page.inner_text("#overview .card b")
        assert shown == f"{100 * metrics['mAP50_task1']:.2f}"
        assert page.locator("#angles tbody tr").count() == len(metrics["angle_errors"]["bins"])


def test_a_page_without_detections_renders(tmp_path: Path) -> None:
    predictions = tmp_path / "empty.json"
    predictions.write_text("[]")
    assert run(["eval", "--predictions", predictions, "--data", BCCD, "--out", tmp_path / "out"]) == 0
    with open_page(tmp_path / "out" / "report.html") as page:
        for section in ("overview", "classes", "curves", "confusion", "worst"):
            assert page.is_visible(f"section#{section}"), section


def test_huge_boxes_are_drawn_not_raised(tmp_path: Path) -> None:
    """A model that diverged predicts boxes 1e30 pixels away: the worst images are still drawn
    (small boxes, so COCO's area range keeps them as false positives to draw)."""
    dataset = load_dataset(BCCD)
    gt = to_coco_dict(dataset, resolve_split(dataset, "val"))
    huge = [[1e30, 5.0, 10.0, 10.0], [-1e30, -1e30, 20.0, 20.0], [3.0, 1e20, 30.0, 3.0]]
    category = gt["categories"][0]["id"]
    predictions = tmp_path / "huge.json"
    predictions.write_text(json.dumps([{"image_id": i["id"], "category_id": category, "bbox": b, "score": 0.9} for i in gt["images"] for b in huge]))
    assert run(["eval", "--predictions", predictions, "--data", BCCD, "--out", tmp_path / "out", "--gallery", "3"]) == 0
    assert len(list((tmp_path / "out" / "gallery").glob("*.jpg"))) == 3
    assert (tmp_path / "out" / "report.html").read_text().count('<img src="data:image/jpeg;base64,') == 3
