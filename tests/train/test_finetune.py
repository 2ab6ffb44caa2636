"""Fine-tuning loads: class append keeps old rows bit-identical, name-matched rows, reports, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.test_checkpoints import (
    mmdet_state_dict,
    nano_with_random_weights,
    raw_outputs,
)
from yoloxkit import YoloxkitError
from yoloxkit.checkpoints import read_checkpoint, save_checkpoint
from yoloxkit.data.coco import COCO_CLASSES
from yoloxkit.data.preprocess import PreprocessContract
from yoloxkit.models import create
from yoloxkit.train.config import make_train_config
from yoloxkit.train.finetune import (
    FINETUNE_DEFAULTS,
    class_names_of,
    dataset_class_map,
    load_partial,
    resolve_class_names,
)

CLS_KEYS = [f"head.cls_preds.{k}.{p}" for k in range(3) for p in ("weight", "bias")]


@pytest.fixture(scope="module")
def coco_nano() -> torch.nn.Module:
    """An 80-class yolox-nano whose every weight and BN statistic is random."""
    return nano_with_random_weights(80, seed=0)


@pytest.fixture()
def megvii_file(tmp_path: Path, coco_nano: torch.nn.Module) -> Path:
    path = tmp_path / "coco_nano.pth"
    torch.save({"model": coco_nano.state_dict(), "start_epoch": 300}, path)
    return path


def fresh_model(num_classes: int) -> torch.nn.Module:
    torch.manual_seed(123)
    return create("yolox-nano", num_classes=num_classes)


def elements(model: torch.nn.Module) -> int:
    return sum(t.numel() for t in model.state_dict().values())


def test_append_keeps_old_rows_bit_identical_and_old_outputs(megvii_file: Path, coco_nano: torch.nn.Module) -> None:
    names = resolve_class_names(class_names_of(read_checkpoint(megvii_file)), ["widget", "gadget"], "append")
    assert names == [*COCO_CLASSES, "widget", "gadget"]
    model = fresh_model(82)
    fresh_new_rows = model.head.cls_preds[0].weight[80:].clone()
    report = load_partial(model, megvii_file, names)

    old, new = coco_nano.state_dict(), model.state_dict()
    for key in CLS_KEYS:
        assert new[key].shape[0] == 82
        assert torch.equal(new[key][:80], old[key]), key
    assert torch.equal(model.head.cls_preds[0].weight[80:], fresh_new_rows)
    for key in new:
        if key not in CLS_KEYS:
            assert torch.equal(new[key], old[key]), key

    assert report.layout == "megvii" and report.source == str(megvii_file)
    assert report.partially_loaded == CLS_KEYS
    assert report.reinitialised == [] and report.skipped == []
    assert len(report.loaded) == len(new) - len(CLS_KEYS)
    new_rows = 2 * sum(new[k][0].numel() for k in CLS_KEYS)
    assert report.match_ratio == pytest.approx(1 - new_rows / elements(model))

    before, after = raw_outputs(coco_nano), raw_outputs(model)
    assert after.shape[-1] == 5 + 82
    assert torch.equal(after[..., :5], before[..., :5])  # boxes and objectness: untouched convs
    # Class scores: the same rows in a wider conv (a backend may pick another kernel for it).
    torch.testing.assert_close(after[..., 5 : 5 + 80], before[..., 5:], rtol=1e-5, atol=1e-6)


def test_new_mode_reuses_rows_of_coco_named_classes(megvii_file: Path, coco_nano: torch.nn.Module) -> None:
    names = resolve_class_names(None, ["person", "dog", "widget"], "new")
    model = fresh_model(3)
    fresh = {k: v.clone() for k, v in model.state_dict().items() if k in CLS_KEYS}
    report = load_partial(model, megvii_file, names)
    dog = COCO_CLASSES.index("dog")
    for key in CLS_KEYS:
        got, old = model.state_dict()[key], coco_nano.state_dict()[key]
        assert torch.equal(got[0], old[0]) and torch.equal(got[1], old[dog])
        assert torch.equal(got[2], fresh[key][2])
    assert report.partially_loaded == CLS_KEYS
    assert "head.cls_preds.0.weight" not in report.skipped


def test_unknown_checkpoint_names_match_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "three.pth"
    torch.save(nano_with_random_weights(3, seed=1).state_dict(), path)
    assert class_names_of(read_checkpoint(path)) is None
    report = load_partial(fresh_model(3), path, ["a", "b", "c"])
    assert report.layout == "state_dict"
    assert report.reinitialised == CLS_KEYS and report.skipped == CLS_KEYS
    with pytest.raises(YoloxkitError, match="append"):
        resolve_class_names(None, ["a"], "append")
    # Names given by the caller (e.g. from a label file) make the rows match.
    report = load_partial(fresh_model(3), path, ["a", "b", "c"], checkpoint_class_names=["a", "b", "c"])
    assert report.reinitialised == [] and report.partially_loaded == []


def test_identical_classes_load_everything(tmp_path: Path, coco_nano: torch.nn.Module) -> None:
    path = tmp_path / "kit.pth"
    save_checkpoint(path, coco_nano, "yolox-nano", list(COCO_CLASSES), PreprocessContract((64, 64)).to_dict())
    model = fresh_model(80)
    report = load_partial(model, path, list(COCO_CLASSES))
    assert report.layout == "yoloxkit" and report.match_ratio == 1.0
    assert len(report.loaded) == len(model.state_dict()) and not report.partially_loaded
    torch.testing.assert_close(raw_outputs(model), raw_outputs(coco_nano), rtol=0, atol=0)


def test_mmdet_layout(tmp_path: Path, coco_nano: torch.nn.Module) -> None:
    path = tmp_path / "mmdet.pth"
    state = mmdet_state_dict(coco_nano)
    state["ema_backbone_stem_conv_conv_weight"] = torch.zeros(1)
    torch.save({"meta": {"CLASSES": tuple(COCO_CLASSES)}, "state_dict": state}, path)
    names = resolve_class_names(class_names_of(read_checkpoint(path)), ["widget"], "append")
    model = fresh_model(81)
    report = load_partial(model, read_checkpoint(path), names)
    assert report.layout == "mmdet"
    assert report.skipped == ["ema_backbone_stem_conv_conv_weight"]
    assert torch.equal(model.head.cls_preds[2].weight[:80], coco_nano.head.cls_preds[2].weight)
    assert torch.equal(model.backbone.C3_n4.conv3.bn.running_var, coco_nano.backbone.C3_n4.conv3.bn.running_var)


def test_other_model_size_is_refused_unless_forced(tmp_path: Path) -> None:
    path = tmp_path / "yolox_s.pth"
    torch.save({"model": create("yolox-s").state_dict()}, path)
    model = fresh_model(80)
    untouched = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(YoloxkitError) as error:
        load_partial(model, path, list(COCO_CLASSES))
    message = str(error.value)
    assert str(path) in message and "minimum 50%" in message and "yolox-s with 80 classes" in message
    assert "yolox-nano" in message and "\n" not in message
    assert all(torch.equal(v, untouched[k]) for k, v in model.state_dict().items())

    report = load_partial(model, path, list(COCO_CLASSES), force=True)
    assert report.match_ratio < 0.5 and report.reinitialised and report.skipped
    assert not report.partially_loaded  # the biases' rows would fit, the weights' do not: neither is taken
    assert len(report.loaded) + len(report.partially_loaded) + len(report.reinitialised) == len(untouched)


def test_report_summary_and_json(megvii_file: Path) -> None:
    names = [*COCO_CLASSES, "widget"]
    report = load_partial(fresh_model(81), megvii_file, names)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["counts"] == {"loaded": len(report.loaded), "partially_loaded": 6, "reinitialised": 0, "skipped": 0}
    assert data["partially_loaded"] == CLS_KEYS
    text = report.summary()
    assert str(megvii_file) in text and "6 with class rows copied" in text and "(+1 more)" in text


def test_class_name_checks(megvii_file: Path) -> None:
    with pytest.raises(YoloxkitError, match="2 class names given for a model with 3 classes"):
        load_partial(fresh_model(3), megvii_file, ["a", "b"])
    with pytest.raises(YoloxkitError, match="3 class names for 80 class rows"):
        load_partial(fresh_model(3), megvii_file, ["a", "b", "c"], checkpoint_class_names=["a", "b", "c"])
    with pytest.raises(YoloxkitError, match="twice"):
        resolve_class_names(None, ["a", "a"], "new")
    with pytest.raises(YoloxkitError, match="classes mode"):
        resolve_class_names(None, ["a"], "merge")  # type: ignore[arg-type]


def test_append_maps_shared_names_onto_old_rows() -> None:
    names = resolve_class_names(["cat", "dog"], ["bird", "dog"], "append")
    assert names == ["cat", "dog", "bird"]
    assert dataset_class_map(["bird", "dog"], names) == [2, 1]
    with pytest.raises(YoloxkitError, match="not among"):
        dataset_class_map(["fish"], names)


def test_fine_tuning_defaults_apply_with_weights_only_and_yield_to_given_settings() -> None:
    scratch = make_train_config(data="d", model="yolox-nano")
    tuned = make_train_config(data="d", model="yolox-nano", weights="w.pt")
    assert (scratch.epochs, scratch.val.interval, scratch.early_stop.patience) == (300, 10, 0)
    assert (tuned.epochs, tuned.val.interval, tuned.early_stop.patience) == (50, 1, 10)
    assert tuned.optim.basic_lr_per_img == FINETUNE_DEFAULTS["basic_lr_per_img"] == 0.01 / 64
    assert (tuned.optim.warmup_epochs, tuned.augment.no_aug_epochs, tuned.ema.decay) == (1, 2, 0.999)
    given = make_train_config(overrides=["val.interval=5", "early_stop.patience=0"], data="d", model="yolox-nano", weights="w.pt", epochs=20)
    assert (given.epochs, given.val.interval, given.early_stop.patience) == (20, 5, 0)
