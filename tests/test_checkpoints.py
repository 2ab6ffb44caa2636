"""Checkpoint reading and writing: every layout, architecture recognition, refusals, atomic writes."""

from __future__ import annotations

import os
import random
import re
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import yoloxkit
from yoloxkit import Detector, YoloxkitError
from yoloxkit import checkpoints as ckpt
from yoloxkit.data.coco import COCO_CLASSES
from yoloxkit.data.preprocess import PreprocessContract
from yoloxkit.models import ModelSpec, create, list_models

# ------------------------------------------------------------------------------ helpers

# Megvii -> MMDetection, written from the spec's mapping table (section 9), independently of
# the package's own table so that a mistake there cannot hide itself.
_MEGVII_TO_MMDET_PREFIXES = [
    ("backbone.backbone.stem.conv.", "backbone.stem.conv."),
    ("backbone.backbone.dark2.", "backbone.stage1."),
    ("backbone.backbone.dark3.", "backbone.stage2."),
    ("backbone.backbone.dark4.", "backbone.stage3."),
    ("backbone.backbone.dark5.", "backbone.stage4."),
    ("backbone.lateral_conv0.", "neck.reduce_layers.0."),
    ("backbone.reduce_conv1.", "neck.reduce_layers.1."),
    ("backbone.C3_p4.", "neck.top_down_blocks.0."),
    ("backbone.C3_p3.", "neck.top_down_blocks.1."),
    ("backbone.bu_conv2.", "neck.downsamples.0."),
    ("backbone.bu_conv1.", "neck.downsamples.1."),
    ("backbone.C3_n3.", "neck.bottom_up_blocks.0."),
    ("backbone.C3_n4.", "neck.bottom_up_blocks.1."),
    ("head.stems.", "neck.out_convs."),
    ("head.cls_convs.", "bbox_head.multi_level_cls_convs."),
    ("head.reg_convs.", "bbox_head.multi_level_reg_convs."),
    ("head.cls_preds.", "bbox_head.multi_level_conv_cls."),
    ("head.reg_preds.", "bbox_head.multi_level_conv_reg."),
    ("head.obj_preds.", "bbox_head.multi_level_conv_obj."),
]
# CSP layers: dark2-4 index 1, dark5 index 2 (index 1 is the SPP), and the four neck CSPs.
_CSP_CHILD = re.compile(
    r"^(backbone\.backbone\.dark[234]\.1\.|backbone\.backbone\.dark5\.2\.|backbone\.C3_(?:p4|p3|n3|n4)\.)"
    r"(conv1|conv2|conv3|m)\."
)
_CSP_RENAMES = {"conv1": "main_conv", "conv2": "short_conv", "conv3": "final_conv", "m": "blocks"}


def megvii_to_mmdet_key(key: str) -> str:
    """The MMDetection name of a Megvii state-dict key (inverse of the spec's mapping)."""
    if match := _CSP_CHILD.match(key):
        key = f"{match.group(1)}{_CSP_RENAMES[match.group(2)]}.{key[match.end():]}"
    key = key.replace(".dconv.", ".depthwise_conv.").replace(".pconv.", ".pointwise_conv.")
    for old, new in _MEGVII_TO_MMDET_PREFIXES:
        if key.startswith(old):
            return new + key[len(old) :]
    raise AssertionError(f"no MMDetection name for {key}")


def randomized_state_dict(model: torch.nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """The model's state dict with every float entry random, so that any mix-up of keys shows.

    (Fresh BatchNorm layers all hold the same mean 0 / var 1 / weight 1 / bias 0.)
    """
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in model.state_dict().items():
        if value.is_floating_point():
            value = torch.rand(value.shape, generator=generator) * 0.2 + (0.9 if "running_var" in key else -0.1)
        state[key] = value.clone()
    return state


def nano_with_random_weights(num_classes: int = 80, seed: int = 0) -> torch.nn.Module:
    """A yolox-nano (eval mode) whose every weight and BN statistic is random."""
    model = create("yolox-nano", num_classes=num_classes)
    model.load_state_dict(randomized_state_dict(model, seed))
    return model.eval()


def raw_outputs(model: torch.nn.Module) -> torch.Tensor:
    """Decoded eval-mode outputs on a fixed 64x64 input."""
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1)) * 255
    with torch.no_grad():
        return model.eval()(x)


def save_megvii(path: Path, model: torch.nn.Module) -> None:
    """Megvii trainer layout, optimizer state included."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()  # fills momentum buffers (zero gradients: the weights stay as they are)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.save({"start_epoch": 300, "model": state, "optimizer": optimizer.state_dict(), "best_ap": 25.8,
                "curr_ap": None, "amp": {}}, path)


def mmdet_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights under MMDetection key names."""
    return {megvii_to_mmdet_key(k): v.clone() for k, v in model.state_dict().items()}


def save_mmdet(path: Path, model: torch.nn.Module) -> None:
    """MMDetection 2.x layout: mapped keys, ``meta`` with CLASSES, and an EMA hook entry."""
    state = mmdet_state_dict(model)
    state["ema_backbone_stem_conv_conv_weight"] = torch.zeros(1)  # ExpMomentumEMAHook copy: ignored
    meta = {"mmdet_version": "2.19.0", "CLASSES": tuple(COCO_CLASSES), "epoch": 300, "iter": 1000,
            "config": "model = dict(type='YOLOX')", "hook_msgs": {"last_ckpt": "epoch_300.pth"}}
    torch.save({"meta": meta, "state_dict": state, "optimizer": {"state": {}, "param_groups": []}}, path)


def save_bare(path: Path, model: torch.nn.Module) -> None:
    """A bare Megvii-keyed state dict."""
    torch.save(model.state_dict(), path)


def save_yoloxkit(path: Path, model: torch.nn.Module) -> None:
    """This package's self-describing format."""
    ckpt.save_checkpoint(path, model, "yolox-nano", list(COCO_CLASSES), PreprocessContract((96, 128)).to_dict(),
                         training={"epochs": 3})


def single_line(message: str) -> bool:
    """Whether an error message fits on one line."""
    return "\n" not in message and message.strip() == message and bool(message)


# ------------------------------------------------------------------------------ layouts

LAYOUTS: dict[str, Callable[[Path, torch.nn.Module], None]] = {
    "megvii": save_megvii,
    "mmdet": save_mmdet,
    "state_dict": save_bare,
    "yoloxkit": save_yoloxkit,
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_layout_gives_identical_outputs(layout: str, tmp_path: Path) -> None:
    model = nano_with_random_weights()
    expected = raw_outputs(model)
    path = tmp_path / f"{layout}.pth"
    LAYOUTS[layout](path, model)

    loaded = ckpt.read_checkpoint(path)
    assert loaded.layout == layout
    assert len(loaded.state_dict) == 642  # nano entry count from the spec
    detector = Detector.from_checkpoint(path)
    assert detector.model_name == "yolox-nano"
    assert detector.class_names == list(COCO_CLASSES)
    assert torch.equal(raw_outputs(detector.model), expected)


def test_megvii_layout_ignores_trainer_state(tmp_path: Path) -> None:
    path = tmp_path / "megvii.pth"
    save_megvii(path, nano_with_random_weights())
    raw = torch.load(path, weights_only=True)
    assert raw["optimizer"]["state"], "the fixture should carry real optimizer tensors"
    loaded = ckpt.read_checkpoint(path)
    assert loaded.layout == "megvii" and loaded.model_name is None and loaded.class_names is None
    assert set(loaded.state_dict) == set(create("yolox-nano").state_dict())


def test_mmdet_inverse_mapping_matches_spec_examples() -> None:
    """The test's own inverse mapping produces the MMDetection names the spec lists."""
    keys = set(mmdet_state_dict(create("yolox-nano")))
    for key in (
        "backbone.stem.conv.conv.weight",
        "backbone.stage1.0.depthwise_conv.conv.weight",
        "backbone.stage1.1.main_conv.conv.weight",
        "backbone.stage1.1.blocks.0.conv1.conv.weight",
        "backbone.stage1.1.blocks.0.conv2.depthwise_conv.bn.running_var",
        "backbone.stage4.1.conv1.conv.weight",  # SPP: unchanged child names
        "backbone.stage4.2.final_conv.bn.num_batches_tracked",
        "neck.reduce_layers.0.conv.weight",
        "neck.downsamples.0.depthwise_conv.conv.weight",
        "neck.bottom_up_blocks.1.short_conv.conv.weight",
        "neck.out_convs.2.conv.weight",
        "bbox_head.multi_level_cls_convs.0.0.pointwise_conv.conv.weight",
        "bbox_head.multi_level_conv_obj.1.bias",
    ):
        assert key in keys, key


def test_mmdet_layout_maps_every_key_and_reads_meta(tmp_path: Path) -> None:
    model = nano_with_random_weights()
    path = tmp_path / "mmdet.pth"
    save_mmdet(path, model)
    loaded = ckpt.read_checkpoint(path)
    assert loaded.layout == "mmdet"
    assert loaded.ignored_keys == ["ema_backbone_stem_conv_conv_weight"]
    expected = model.state_dict()
    assert set(loaded.state_dict) == set(expected)
    assert all(torch.equal(loaded.state_dict[k], v) for k, v in expected.items())
    assert loaded.class_names == list(COCO_CLASSES)
    assert loaded.metadata["meta"]["mmdet_version"] == "2.19.0"
    for key in mmdet_state_dict(model):
        assert ckpt.mmdet_to_megvii_key(key) in expected, key


def test_mmdet3_dataset_meta_class_names_and_count_check(tmp_path: Path) -> None:
    model = nano_with_random_weights(num_classes=3)
    path = tmp_path / "mmdet3.pth"
    torch.save({"meta": {"dataset_meta": {"classes": ("cat", "dog", "bird")}}, "state_dict": mmdet_state_dict(model)}, path)
    assert ckpt.read_checkpoint(path).class_names == ["cat", "dog", "bird"]
    assert Detector.from_checkpoint(path).class_names == ["cat", "dog", "bird"]
    # Names that disagree with the weights' class count are not trusted.
    torch.save({"meta": {"CLASSES": ("cat", "dog")}, "state_dict": mmdet_state_dict(model)}, path)
    assert ckpt.read_checkpoint(path).class_names is None
    assert Detector.from_checkpoint(path).class_names == ["class_0", "class_1", "class_2"]


def test_mmdet_without_yolox_keys_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"state_dict": {"roi_head.fc.weight": torch.zeros(2, 2)}, "meta": {}}, path)
    with pytest.raises(YoloxkitError, match="no MMDetection YOLOX keys"):
        ckpt.read_checkpoint(path)


def test_yoloxkit_metadata_round_trips(tmp_path: Path) -> None:
    model = nano_with_random_weights(num_classes=3)
    contract = PreprocessContract((96, 128), pad_value=0, legacy=True)
    path = tmp_path / "yk.pth"
    ckpt.save_checkpoint(path, model, "yolox-nano", ["a", "b", "c"], contract.to_dict(), training={"epochs": 7},
                         note="hello")
    raw = torch.load(path, weights_only=True)  # loadable without trusting pickled code
    assert raw["format"] == "yoloxkit" and raw["format_version"] == ckpt.FORMAT_VERSION
    assert raw["yoloxkit_version"] == yoloxkit.__version__
    assert raw["num_classes"] == 3 and raw["input_size"] == [96, 128]

    loaded = ckpt.read_checkpoint(path)
    assert loaded.layout == "yoloxkit"
    assert loaded.model_name == "yolox-nano"
    assert loaded.class_names == ["a", "b", "c"]
    assert loaded.preprocess == contract.to_dict()
    assert loaded.metadata["training"] == {"epochs": 7}
    assert loaded.metadata["note"] == "hello"

    detector = Detector.from_checkpoint(path)
    assert detector.class_names == ["a", "b", "c"]
    assert detector.contract == contract
    assert torch.equal(raw_outputs(detector.model), raw_outputs(model))
    # An explicit input size overrides the stored one but keeps the rest of the contract.
    resized = Detector.from_checkpoint(path, input_size=64)
    assert resized.contract == PreprocessContract((64, 64), pad_value=0, legacy=True)


def test_yoloxkit_class_names_disagreeing_with_weights(tmp_path: Path) -> None:
    path = tmp_path / "bad_names.pth"
    ckpt.save_checkpoint(path, create("yolox-nano", num_classes=3), "yolox-nano", ["a", "b"],
                         PreprocessContract((64, 64)).to_dict())
    with pytest.raises(YoloxkitError, match="2 class names given for a model with 3 classes"):
        Detector.from_checkpoint(path)


# ------------------------------------------------------------------------------ architecture recognition


@pytest.mark.parametrize("name", list_models())
def test_infer_architecture_recognises_every_size(name: str) -> None:
    num_classes = 80 if name != "yolox-nano" else 7
    arch = ckpt.infer_architecture(create(name, num_classes=num_classes).state_dict())
    assert arch.model_name == name
    assert arch.num_classes == num_classes
    assert arch.describe() == f"{name} with {num_classes} classes"


def test_unregistered_architecture_is_described(tmp_path: Path) -> None:
    odd = ModelSpec("custom", depth=0.67, width=0.25, input_size=(416, 416), depthwise=True).build(5)
    arch = ckpt.infer_architecture(odd.state_dict())
    assert arch.model_name is None and arch.num_classes == 5 and arch.depth_blocks == 2 and arch.depthwise
    assert "unregistered YOLOX (width 0.25, 2 blocks)" in arch.describe()
    path = tmp_path / "odd.pth"
    torch.save(odd.state_dict(), path)
    with pytest.raises(YoloxkitError, match="matches no registered model"):
        Detector.from_checkpoint(path)


def test_not_a_yolox_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(8, 3, 7, 7)}, path)
    with pytest.raises(YoloxkitError, match="not a YOLOX state dict"):
        Detector.from_checkpoint(path)


def test_wrong_size_names_what_the_checkpoint_is(tmp_path: Path) -> None:
    path = tmp_path / "tiny.pth"
    torch.save({"model": create("yolox-tiny").state_dict()}, path)
    with pytest.raises(YoloxkitError) as info:
        Detector.from_checkpoint(path, model="yolox-s")
    message = str(info.value)
    assert single_line(message)
    assert "does not fit yolox-s with 80 classes" in message
    assert "looks like yolox-tiny with 80 classes" in message
    assert "backbone.backbone.stem.conv.conv.weight: checkpoint (24, 12, 3, 3) vs model (32, 12, 3, 3)" in message


def test_wrong_size_with_different_structure(tmp_path: Path) -> None:
    """nano (depthwise) weights into yolox-m: keys differ, not only shapes."""
    path = tmp_path / "nano.pth"
    torch.save(create("yolox-nano").state_dict(), path)
    with pytest.raises(YoloxkitError) as info:
        Detector.from_checkpoint(path, model="m")
    message = str(info.value)
    assert single_line(message)
    assert "does not fit yolox-m" in message and "looks like yolox-nano with 80 classes" in message
    assert "missing backbone." in message and "unexpected backbone." in message


def test_wrong_class_count_names_the_first_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "three.pth"
    torch.save(create("yolox-nano", num_classes=3).state_dict(), path)
    loaded = ckpt.read_checkpoint(path)
    with pytest.raises(YoloxkitError) as info:
        ckpt.load_weights(create("yolox-nano", num_classes=80), loaded, "yolox-nano")
    message = str(info.value)
    assert single_line(message)
    assert "does not fit yolox-nano with 80 classes" in message
    assert "looks like yolox-nano with 3 classes" in message
    assert "head.cls_preds.0.weight: checkpoint (3, 64, 1, 1) vs model (80, 64, 1, 1)" in message
    # Left to recognise the class count itself, the loader builds a 3-class model.
    assert Detector.from_checkpoint(path, model="yolox-nano").model.num_classes == 3


def test_inconsistent_class_count_across_levels(tmp_path: Path) -> None:
    state = create("yolox-nano", num_classes=80).state_dict()
    small = create("yolox-nano", num_classes=3).state_dict()
    for level in (1, 2):
        for suffix in ("weight", "bias"):
            state[f"head.cls_preds.{level}.{suffix}"] = small[f"head.cls_preds.{level}.{suffix}"]
    path = tmp_path / "mixed.pth"
    torch.save(state, path)
    with pytest.raises(YoloxkitError, match=r"head\.cls_preds\.1\.weight: checkpoint \(3, 64, 1, 1\)"):
        Detector.from_checkpoint(path, model="yolox-nano")


# ------------------------------------------------------------------------------ refusals and corrupt files


class _RunsCode:
    """Unpickling this object would call ``os.makedirs(marker)``: it must never happen."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (str(self.marker),))


class _Plain:
    """An instance of a custom class: harmless, but only code can rebuild it."""


def test_pickled_code_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pth"
    torch.save({"model": create("yolox-nano").state_dict(), "payload": _RunsCode(marker)}, path)
    with pytest.raises(YoloxkitError) as info:
        Detector.from_checkpoint(path)
    message = str(info.value)
    assert single_line(message)
    assert message.startswith(f"refusing to load {path}")
    assert "makedirs" in message
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload, name",
    [
        (lambda: {"model": {}, "hook": os.getcwd}, "getcwd"),
        (lambda: create("yolox-nano"), "yolox"),  # a whole pickled nn.Module
        (lambda: {"model": {"w": torch.zeros(1)}, "obj": _Plain()}, "_plain"),  # any custom class
    ],
)
def test_functions_and_modules_are_refused(payload: Callable[[], object], name: str, tmp_path: Path) -> None:
    path = tmp_path / "code.pth"
    torch.save(payload(), path)
    with pytest.raises(YoloxkitError, match="refusing to load") as info:
        ckpt.read_checkpoint(path)
    assert name in str(info.value).lower()
    assert single_line(str(info.value))


def _truncated(path: Path) -> None:
    torch.save(create("yolox-nano").state_dict(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _truncated_legacy(path: Path) -> None:
    torch.save(create("yolox-nano").state_dict(), path, _use_new_zipfile_serialization=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


@pytest.mark.parametrize(
    "make",
    [
        _truncated,
        _truncated_legacy,
        lambda p: p.write_bytes(b""),
        lambda p: p.write_text("not a checkpoint at all\n"),
    ],
    ids=["truncated-zip", "truncated-legacy", "empty", "text"],
)
def test_corrupt_files_give_one_clear_error(make: Callable[[Path], None], tmp_path: Path) -> None:
    path = tmp_path / "broken.pth"
    make(path)
    with pytest.raises(YoloxkitError) as info:
        Detector.from_checkpoint(path)
    message = str(info.value)
    assert single_line(message)
    assert str(path) in message and "corrupt" in message
    assert "refusing" not in message  # not mistaken for pickled code


def test_random_bytes_are_reported_as_corrupt(tmp_path: Path) -> None:
    """Garbage makes the unpickler fail in many ways (IndexError, KeyError, odd protocols...):
    each must become the same one-line error, without warnings on the way."""
    path = tmp_path / "garbage.pth"
    for seed in range(80):
        path.write_bytes(random.Random(seed).randbytes(2048))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(YoloxkitError) as info:
                ckpt.read_checkpoint(path)
        message = str(info.value)
        assert single_line(message) and "corrupt" in message, (seed, message)


def test_missing_path_and_folder(tmp_path: Path) -> None:
    with pytest.raises(YoloxkitError, match="checkpoint not found: .*nope.pth"):
        Detector.from_checkpoint(tmp_path / "nope.pth")
    with pytest.raises(YoloxkitError, match="got a folder"):
        ckpt.read_checkpoint(tmp_path)


@pytest.mark.parametrize(
    "content, match",
    [
        ([torch.zeros(1)], "holds a list, not a dict"),
        ({"model": {"w": 1.0}}, "non-tensor entries"),
        ({}, "not a state dict"),
    ],
)
def test_files_without_weights(content: object, match: str, tmp_path: Path) -> None:
    path = tmp_path / "odd.pth"
    torch.save(content, path)
    with pytest.raises(YoloxkitError, match=match):
        ckpt.read_checkpoint(path)


# ------------------------------------------------------------------------------ atomic writes


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


def test_atomic_save_writes_only_the_target_with_normal_permissions(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "w.pth"
    old_umask = os.umask(0o022)
    try:
        ckpt.atomic_save({"w": torch.ones(3)}, path)
    finally:
        os.umask(old_umask)
    assert _siblings(path) == ["w.pth"]
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.ones(3))
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("exists", [False, True])
@pytest.mark.parametrize("error", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_atomic_save_failure_leaves_no_partial_file(
    exists: bool, error: BaseException, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "w.pth"
    if exists:
        path.write_bytes(b"previous checkpoint")

    def failing_save(obj: object, handle) -> None:
        handle.write(b"partial data")  # half-written before the failure
        raise error

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(type(error)):
        ckpt.atomic_save({"w": torch.ones(3)}, path)
    assert _siblings(path) == (["w.pth"] if exists else [])
    if exists:
        assert path.read_bytes() == b"previous checkpoint"


def test_atomic_save_io_error_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yoloxkit.files

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(yoloxkit.files.os, "fsync", full_disk)
    path = tmp_path / "w.pth"
    with pytest.raises(YoloxkitError, match=r"no space left on device while writing .*w\.pth"):
        ckpt.save_checkpoint(path, create("yolox-nano"), "yolox-nano", list(COCO_CLASSES),
                             PreprocessContract((64, 64)).to_dict())
    assert _siblings(path) == []


def test_atomic_save_into_a_file_path_parent(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(YoloxkitError, match="cannot write"):
        ckpt.atomic_save({"w": torch.ones(1)}, blocker / "w.pth")
