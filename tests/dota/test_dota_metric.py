"""The DOTA Task1 metric equals a direct implementation of the devkit's rules on constructed cases.

``devkit_ap`` below follows ``dota_evaluation_task1.py`` statement by statement (per-detection
loop, "+1" axis-aligned candidate filter, polygon IoU by shapely per pair, VOC07 11 points).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import Polygon

from yoloxkit.dota.task1 import Task1Detections, read_task1, write_task1
from yoloxkit.evaluation.dota import DotaGroundTruth, evaluate_task1, load_dota_ground_truth
from yoloxkit.structures import Boxes, Detections

CLASSES = ["plane", "ship"]


def devkit_ap(gt: dict[str, list[tuple[list[float], str, int]]], dets: list[tuple[str, float, list[float]]], cls: str, thr: float,
              kind: str | None = None) -> float:  # fmt: skip
    """The devkit's voc_eval for one class (use_07_metric=True); ``kind`` another sort, for comparison."""
    recs, npos = {}, 0
    for image, objects in gt.items():
        rows = [o for o in objects if o[1] == cls]
        difficult = np.array([o[2] for o in rows]).astype(bool)
        recs[image] = {"bbox": np.array([o[0] for o in rows]).reshape(-1, 8), "difficult": difficult, "det": [False] * len(rows)}
        npos += int((~difficult).sum())
    confidence = np.array([float(d[1]) for d in dets])
    order = np.argsort(-confidence, kind=kind)  # the devkit's call (kind None): NumPy's default sort, ties in its own order
    tp, fp = np.zeros(len(dets)), np.zeros(len(dets))
    for d, k in enumerate(order):
        image, _, bb = dets[k]
        bb = np.array(bb, dtype=float)
        r, ovmax, jmax = recs[image], -np.inf, -1
        bbgt = r["bbox"]
        if bbgt.size > 0:
            gx1, gy1 = bbgt[:, 0::2].min(1), bbgt[:, 1::2].min(1)
            gx2, gy2 = bbgt[:, 0::2].max(1), bbgt[:, 1::2].max(1)
            bx1, by1, bx2, by2 = bb[0::2].min(), bb[1::2].min(), bb[0::2].max(), bb[1::2].max()
            iw = np.maximum(np.minimum(gx2, bx2) - np.maximum(gx1, bx1) + 1.0, 0.0)
            ih = np.maximum(np.minimum(gy2, by2) - np.maximum(gy1, by1) + 1.0, 0.0)
            inters = iw * ih
            uni = (bx2 - bx1 + 1.0) * (by2 - by1 + 1.0) + (gx2 - gx1 + 1.0) * (gy2 - gy1 + 1.0) - inters
            keep = np.flatnonzero(inters / uni > 0)
            if len(keep):
                overlaps = []
                for j in keep:
                    a, b = Polygon(bb.reshape(4, 2)), Polygon(bbgt[j].reshape(4, 2))
                    inter = a.intersection(b).area
                    overlaps.append(inter / (a.area + b.area - inter))
                ovmax, jmax = max(overlaps), keep[int(np.argmax(overlaps))]
        if ovmax > thr:
            if not r["difficult"][jmax]:
                if not r["det"][jmax]:
                    tp[d], r["det"][jmax] = 1.0, True
                else:
                    fp[d] = 1.0
        else:
            fp[d] = 1.0
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    with np.errstate(invalid="ignore", divide="ignore"):
        rec = tp / float(npos)
    prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    ap = 0.0
    for t in np.arange(0.0, 1.1, 0.1):
        p = 0 if np.sum(rec >= t) == 0 else np.max(prec[rec >= t])
        ap += p / 11.0
    return float(ap)


def rect(cx: float, cy: float, w: float, h: float, angle: float = 0.0) -> list[float]:
    """Corners of a rotated rectangle (a rotated, non-axis-aligned polygon for angle != 0)."""
    return Boxes(np.array([[cx, cy, w, h, angle]]), "rbox").convert("qbox").data[0].tolist()


def _ground_truth(gt: dict[str, list[tuple[list[float], str, int]]]) -> DotaGroundTruth:
    images = sorted(gt)
    rows = [(i, q, CLASSES.index(c), d != 0) for i, image in enumerate(images) for q, c, d in gt[image]]
    return DotaGroundTruth(
        CLASSES, images, np.array([r[0] for r in rows], dtype=np.int64), np.array([r[1] for r in rows]).reshape(-1, 8),
        np.array([r[2] for r in rows], dtype=np.int64), np.array([r[3] for r in rows], dtype=bool),
    )  # fmt: skip


def _ours(gt, dets_by_class, thresholds=(0.5, 0.75)):
    found = {
        c: Task1Detections([d[0] for d in ds], np.array([d[1] for d in ds]), np.array([d[2] for d in ds]).reshape(-1, 8))
        for c, ds in dets_by_class.items()
    }
    return evaluate_task1(_ground_truth(gt), found, thresholds)


GT = {
    "P1": [(rect(100, 100, 60, 20, 0.4), "plane", 0), (rect(300, 120, 50, 30, -1.2), "plane", 0),
           (rect(200, 300, 40, 15, 1.5), "ship", 0), (rect(400, 400, 30, 30, 0.0), "plane", 1)],
    "P2": [(rect(50, 60, 80, 20, -0.7), "plane", 0), (rect(250, 260, 20, 10, 0.2), "ship", 2),
           (rect(260, 262, 22, 11, 0.25), "ship", 0)],
}  # fmt: skip


def _perfect() -> dict:
    out: dict[str, list] = {c: [] for c in CLASSES}
    for image, objects in GT.items():
        for k, (quad, cls, _) in enumerate(objects):
            out[cls].append((image, 0.9 - 0.05 * k - (0.3 if image == "P2" else 0.0), quad))
    return out


def _shifted(dx: float) -> dict:
    return {c: [(i, s, (np.array(q) + np.array([dx, 0] * 4)).tolist()) for i, s, q in ds] for c, ds in _perfect().items()}


def _rotated(turn: float) -> dict:
    out = {}
    for c, ds in _perfect().items():
        rows = []
        for image, score, quad in ds:
            rbox = Boxes(np.array([quad]), "qbox").convert("rbox").data[0]
            rows.append((image, score, rect(rbox[0], rbox[1], rbox[2], rbox[3], rbox[4] + turn)))
        out[c] = rows
    return out


def _with_duplicates_and_false_positives() -> dict:
    out = _perfect()
    out["plane"] += [("P1", 0.97, rect(102, 101, 60, 20, 0.45)), ("P2", 0.33, rect(600, 600, 10, 10)),
                     ("P1", 0.12, rect(400, 401, 30, 30, 0.05)), ("P2", 0.71, rect(52, 61, 78, 21, -0.72))]
    out["ship"] += [("P2", 0.88, rect(250, 260, 20, 10, 0.2)), ("P1", 0.02, rect(201, 300, 40, 15, 1.5))]
    return out  # fmt: skip


CASES = {
    "perfect": (GT, _perfect()),
    "empty detections": (GT, {c: [] for c in CLASSES}),
    "shifted 6 px": (GT, _shifted(6.0)),
    "shifted 20 px": (GT, _shifted(20.0)),
    "rotated 10 degrees": (GT, _rotated(math.radians(10))),
    "rotated 40 degrees": (GT, _rotated(math.radians(40))),
    "difficult only": ({"P1": [(rect(100, 100, 60, 20, 0.4), "plane", 1)], "P2": []},
                       {"plane": [("P1", 0.9, rect(100, 100, 60, 20, 0.4)), ("P2", 0.5, rect(10, 10, 5, 5))], "ship": []}),
    "duplicates and false positives": (GT, _with_duplicates_and_false_positives()),
    "no objects at all": ({"P1": [], "P2": []}, {"plane": [("P1", 0.5, rect(10, 10, 5, 5))], "ship": []}),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_metric_equals_the_devkit_rules(case):
    gt, dets = CASES[case]
    result = _ours(gt, dets)
    with_objects = [any(c == cls and d == 0 for objects in gt.values() for _, c, d in objects) for cls in CLASSES]
    for t, thr in enumerate((0.5, 0.75)):
        for k, cls in enumerate(CLASSES):
            if not with_objects[k]:  # no AP where there is nothing to find (the devkit's arithmetic gives 0/0)
                assert np.isnan(result.ap[t, k]), (case, cls)
                continue
            expected = devkit_ap(gt, dets.get(cls, []), cls, thr)
            assert result.ap[t, k] == pytest.approx(expected, abs=1e-6), (case, cls, thr)
    evaluated = [devkit_ap(gt, dets.get(c, []), c, 0.5) for c, ok in zip(CLASSES, with_objects) if ok]
    assert result.metrics()["classes_evaluated"] == len(evaluated)
    assert result.metrics()["mAP50_task1"] == pytest.approx(np.mean(evaluated) if evaluated else 0.0, abs=1e-6)


def test_known_values():
    assert _ours(GT, _perfect()).metrics() == {"mAP50_task1": 1.0, "AP50": 1.0, "AP75": 1.0, "mAP": 1.0, "classes_evaluated": 2}
    assert _ours(GT, {c: [] for c in CLASSES}).metrics()["mAP"] == 0.0
    difficult_only = _ours(*CASES["difficult only"])
    assert np.isnan(difficult_only.ap[0]).all() and difficult_only.positives.tolist() == [0, 0]
    assert difficult_only.metrics()["classes_evaluated"] == 0


def test_a_subset_is_averaged_over_its_classes_with_objects():
    """One image holding planes only: the mean is over 'plane', not over every listed class."""
    only_planes = {"P1": [(rect(100, 100, 60, 20, 0.4), "plane", 0)], "P2": []}
    result = _ours(only_planes, {"plane": [("P1", 0.9, rect(100, 100, 60, 20, 0.4))], "ship": [("P2", 0.4, rect(9, 9, 5, 5))]})
    assert result.metrics()["AP50"] == 1.0 and result.metrics()["classes_evaluated"] == 1
    assert "mean over the 1 of 2 classes with objects" in result.summary()


def test_tied_scores_are_ordered_as_the_devkit_orders_them():
    """Task1 scores have two decimals: ties everywhere. 60 detections of 3 scores in file order,
    exact, partial and missed matches mixed: AP equals the devkit transcription (NumPy's default
    sort) exactly, and differs from a stable sort of the same scores, so the order matters here."""
    rng = np.random.default_rng(4)
    gt = {f"P{i}": [(rect(100 + 40 * j, 100, 30, 12, 0.3), "plane", 0) for j in range(3)] for i in range(8)}
    dets = []
    for _ in range(60):
        image, j = f"P{rng.integers(8)}", int(rng.integers(3))
        shift = float(rng.choice([0.0, 6.0, 30.0]))  # exact, partial (IoU near the threshold) or a miss
        dets.append((image, float(rng.choice([0.5, 0.6, 0.7])), rect(100 + 40 * j + shift, 100, 30, 12, 0.3)))
    ours = _ours(gt, {"plane": dets, "ship": []})
    for t, thr in enumerate((0.5, 0.75)):
        assert ours.ap[t, 0] == pytest.approx(devkit_ap(gt, dets, "plane", thr), abs=1e-12), thr
    assert devkit_ap(gt, dets, "plane", 0.5, kind="stable") != pytest.approx(ours.ap[0, 0], abs=1e-9)


def test_from_files_through_task1_and_labeltxt(tmp_path):
    labels = tmp_path / "labelTxt"
    labels.mkdir()
    for image, objects in GT.items():
        lines = ["imagesource:GoogleEarth", "gsd:0.1"] + [" ".join(f"{v:.3f}" for v in q) + f" {c} {d}" for q, c, d in objects]
        (labels / f"{image}.txt").write_text("\n".join(lines) + "\n")
    gt = load_dota_ground_truth(tmp_path, CLASSES)
    assert gt.images == ["P1", "P2"] and len(gt.quads) == 7 and gt.difficult.sum() == 2
    results = []
    for image in GT:
        rows = [(s, q, CLASSES.index(c)) for c, ds in _perfect().items() for i, s, q in ds if i == image]
        boxes = Boxes(np.array([r[1] for r in rows]), "qbox")
        results.append(Detections(boxes, np.array([r[0] for r in rows]), np.array([r[2] for r in rows]), CLASSES, (500, 500), f"{image}.png"))
    write_task1(results, CLASSES, tmp_path / "task1")
    assert evaluate_task1(gt, read_task1(tmp_path / "task1")).metrics()["AP50"] == pytest.approx(1.0)
    with pytest.raises(Exception, match="without a label file"):
        evaluate_task1(gt, {"plane": Task1Detections(["P9"], np.array([0.5]), np.zeros((1, 8)))})


def test_default_classes_are_dota_v1(tmp_path):
    (tmp_path / "a.txt").write_text("0 0 10 0 10 10 0 10 ship 0\n")
    gt = load_dota_ground_truth(Path(tmp_path))
    assert len(gt.class_names) == 15 and gt.class_names[6] == "ship"
