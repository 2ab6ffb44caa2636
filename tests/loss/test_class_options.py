"""The classification-loss options (issue 19 §4): class-imbalance weights and label smoothing change
exactly the ``cls`` term, as written; the weights follow the documented formulas; a training run
reports them and weighs a rare class most."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.loss.helpers import STRIDES, random_labels, synthetic_levels
from yoloxkit.errors import YoloxkitError
from yoloxkit.loss import SimOTAAssigner, Targets, YOLOXLoss
from yoloxkit.loss.positives import Positives
from yoloxkit.train.class_balance import class_loss_weights


@pytest.fixture(scope="module")
def batch() -> tuple[list[torch.Tensor], Targets]:
    gen = torch.Generator().manual_seed(5)
    targets = Targets.from_padded(random_labels(gen, 2, 96, [4, 3]))
    return synthetic_levels(gen, targets, 96), targets


def losses(batch, weights: torch.Tensor | None = None, smoothing: float = 0.0) -> dict[str, torch.Tensor]:
    loss_fn = YOLOXLoss(STRIDES, SimOTAAssigner("megvii2023"))
    loss_fn.class_weights, loss_fn.label_smoothing = weights, smoothing
    return loss_fn(*batch)


def test_class_weights_scale_each_positive_by_its_class(batch) -> None:
    levels, targets = batch
    plain = losses(batch)
    assert torch.allclose(losses(batch, torch.ones(80))["cls"], plain["cls"])
    assert torch.allclose(losses(batch, torch.full((80,), 3.0))["cls"], 3 * plain["cls"])
    # one class weighted 0: the cls term loses exactly that class's positives
    loss_fn = YOLOXLoss(STRIDES, SimOTAAssigner("megvii2023"))
    preds = loss_fn.flatten(levels)
    assignment = loss_fn.assigner(preds, targets)
    pos = Positives.gather(preds, targets, assignment, loss_fn.assigner.candidate_topk)
    target = F.one_hot(pos.gt_classes, 80) * pos.iou[:, None]
    per_positive = F.binary_cross_entropy_with_logits(pos.cls_logits, target, reduction="none").sum(1)
    k = int(pos.gt_classes[pos.valid][0])
    keep = pos.valid & (pos.gt_classes != k)
    expected = per_positive[keep].sum() / assignment.num_fg.float().clamp(min=1)
    zero_k = torch.ones(80)
    zero_k[k] = 0
    weighted = losses(batch, zero_k)
    assert torch.allclose(weighted["cls"], expected, rtol=1e-5)
    for term in ("iou", "obj", "l1"):
        assert torch.equal(weighted[term], plain[term])


def test_label_smoothing_moves_every_class_target_towards_one_half(batch) -> None:
    levels, targets = batch
    loss_fn = YOLOXLoss(STRIDES, SimOTAAssigner("megvii2023"))
    preds = loss_fn.flatten(levels)
    assignment = loss_fn.assigner(preds, targets)
    pos = Positives.gather(preds, targets, assignment, loss_fn.assigner.candidate_topk)
    target = F.one_hot(pos.gt_classes, 80) * pos.iou[:, None] * 0.8 + 0.1
    bce = F.binary_cross_entropy_with_logits(pos.cls_logits, target, reduction="none")
    expected = torch.where(pos.valid[:, None], bce, 0.0).sum() / assignment.num_fg.float().clamp(min=1)
    smoothed = losses(batch, smoothing=0.2)
    assert torch.allclose(smoothed["cls"], expected, rtol=1e-5)
    assert not torch.allclose(smoothed["cls"], losses(batch)["cls"])


def test_weights_follow_the_formulas_and_keep_the_mean_over_objects_at_one() -> None:
    counts, names = np.array([100, 10, 0, 1]), ["a", "b", "c", "d"]
    inverse = class_loss_weights("inverse", counts, names, power=1.0)
    assert inverse[1] / inverse[0] == pytest.approx(10) and inverse[3] / inverse[0] == pytest.approx(100)
    assert (inverse * counts).sum() == pytest.approx(counts.sum())
    root = class_loss_weights("inverse", counts, names, power=0.5)
    assert root[1] / root[0] == pytest.approx(np.sqrt(10))
    effective = class_loss_weights("effective", counts, names, beta=0.99)
    assert effective[1] / effective[0] == pytest.approx((1 - 0.99**100) / (1 - 0.99**10))
    manual = class_loss_weights("manual", counts, names, manual={"b": 4.0})
    assert manual[1] / manual[0] == pytest.approx(4) and manual[3] == manual[0]
    assert class_loss_weights("none", counts, names) is None
    with pytest.raises(YoloxkitError, match="does not have: zebra"):
        class_loss_weights("manual", counts, names, manual={"zebra": 2.0})
    with pytest.raises(YoloxkitError, match="class_weights must be"):
        class_loss_weights("sqrt", counts, names)


def test_a_run_weighs_its_rare_class_most_and_reports_it(tmp_path: Path) -> None:
    from yoloxkit.datasets.synth import synthesize
    from yoloxkit.train import Trainer, make_train_config

    from yoloxkit.datasets.report import Report
    from yoloxkit.datasets.load import write_dataset

    data = tmp_path / "data"
    (tmp_path / "render").mkdir()
    dataset = synthesize(tmp_path / "render", images=16, classes=3, size=(64, 64), seed=1, max_objects=6, class_share=[1, 1, 0.15])
    write_dataset(dataset, "coco", data, Report())
    cfg = make_train_config(
        None, ["loss.class_weights=inverse", "loss.power=1.0", "loss.label_smoothing=0.1", "log.progress=false", "log.plots=false",
               "log.report=false", "augment.input_size=[64,64]", "loader.workers=0", "val.interval=1"],
        data=str(data), model="yolox-nano", epochs=1, batch=4, out=str(tmp_path / "run"),
    )  # fmt: skip
    summary = Trainer(cfg).fit()
    options = json.loads((tmp_path / "run" / "summary.json").read_text())["loss_options"]
    assert options == summary["loss_options"] and options["class_weights"] == "inverse" and options["label_smoothing"] == 0.1
    weights = options["weights"]
    rare = min(weights, key=lambda name: -weights[name])
    assert rare == dataset.categories[2].name, weights
