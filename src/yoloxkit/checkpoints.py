"""Reading and writing checkpoints of every layout users bring.

Layouts detected automatically:

- ``yoloxkit``: this package's self-describing file (model name, class names, preprocessing
  contract, version, training summary, ``state_dict``);
- ``megvii``: Megvii's trainer files ``{"model": state_dict, "optimizer": ..., ...}``
  (also pixeltable-yolox, which writes the same layout);
- ``mmdet``: MMDetection files ``{"state_dict": ..., "meta": ...}``, keys mapped to Megvii's;
- ``state_dict``: a bare Megvii-keyed state dict.

Files are always read with ``torch.load(weights_only=True)``: a checkpoint that carries
pickled code is refused, never executed. Writes are atomic (temporary file, fsync, rename).
"""

from __future__ import annotations

import io
import pickle
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .errors import YoloxkitError
from .files import write_bytes
from .models import YOLOX, get_spec, list_models

FORMAT_NAME = "yoloxkit"
FORMAT_VERSION = 1

# MMDetection -> Megvii key prefixes (applied longest first) and in-block renames.
_MMDET_PREFIXES = [
    ("backbone.stem.conv.", "backbone.backbone.stem.conv."),
    ("backbone.stage1.", "backbone.backbone.dark2."),
    ("backbone.stage2.", "backbone.backbone.dark3."),
    ("backbone.stage3.", "backbone.backbone.dark4."),
    ("backbone.stage4.", "backbone.backbone.dark5."),
    ("neck.reduce_layers.0.", "backbone.lateral_conv0."),
    ("neck.reduce_layers.1.", "backbone.reduce_conv1."),
    ("neck.top_down_blocks.0.", "backbone.C3_p4."),
    ("neck.top_down_blocks.1.", "backbone.C3_p3."),
    ("neck.downsamples.0.", "backbone.bu_conv2."),
    ("neck.downsamples.1.", "backbone.bu_conv1."),
    ("neck.bottom_up_blocks.0.", "backbone.C3_n3."),
    ("neck.bottom_up_blocks.1.", "backbone.C3_n4."),
    ("neck.out_convs.", "head.stems."),
    ("bbox_head.multi_level_cls_convs.", "head.cls_convs."),
    ("bbox_head.multi_level_reg_convs.", "head.reg_convs."),
    ("bbox_head.multi_level_conv_cls.", "head.cls_preds."),
    ("bbox_head.multi_level_conv_reg.", "head.reg_preds."),
    ("bbox_head.multi_level_conv_obj.", "head.obj_preds."),
    ("bbox_head.multi_level_conv_ang.", "head.ang_preds."),  # ai4rs Rotated YOLOX (models/rotated_keys.py)
]
_MMDET_PREFIXES.sort(key=lambda pair: -len(pair[0]))
_MMDET_PARTS = [
    (".main_conv.", ".conv1."),
    (".short_conv.", ".conv2."),
    (".final_conv.", ".conv3."),
    (".blocks.", ".m."),
    (".depthwise_conv.", ".dconv."),
    (".pointwise_conv.", ".pconv."),
]


def mmdet_to_megvii_key(key: str) -> str | None:
    """Map one MMDetection YOLOX key to Megvii's name; ``None`` for keys outside the model."""
    for old, new in _MMDET_PREFIXES:
        if key.startswith(old):
            key = new + key[len(old) :]
            break
    else:
        return None
    for old, new in _MMDET_PARTS:
        key = key.replace(old, new)
    return key


@dataclass
class LoadedCheckpoint:
    """A checkpoint normalised to Megvii keys, with whatever metadata it carried."""

    path: str
    layout: str
    state_dict: dict[str, torch.Tensor]
    model_name: str | None = None
    class_names: list[str] | None = None
    preprocess: dict | None = None
    metadata: dict = field(default_factory=dict)
    ignored_keys: list[str] = field(default_factory=list)


# Names of the Python objects that a weights-only unpickler refused (torch >= 2.4 says
# "GLOBAL module.name", older releases "Unsupported class module.name").
_REFUSED_GLOBAL = re.compile(r"(?:GLOBAL|Unsupported class) ([\w.]+)")


def _torch_load(path: Path) -> object:
    """``torch.load(weights_only=True)`` with every failure turned into one clear YoloxkitError.

    A file that names Python code (a class, a function) is refused without running anything;
    a file that is not a readable checkpoint at all is reported as corrupt or truncated.
    """
    if not path.exists():
        raise YoloxkitError(f"checkpoint not found: {path}")
    if path.is_dir():
        raise YoloxkitError(f"expected a checkpoint file, got a folder: {path}")
    try:
        with warnings.catch_warnings():
            # Garbage bytes can read as an exotic pickle protocol: the error below says enough.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        refused = _REFUSED_GLOBAL.search(str(exc))
        if refused is None:
            raise YoloxkitError(f"checkpoint {path} is corrupt or not a PyTorch file (cannot unpickle it)") from None
        raise YoloxkitError(
            f"refusing to load {path}: it contains pickled Python code or objects ({refused.group(1)}) that "
            "could run arbitrary code; if you trust the file, load it with torch.load(weights_only=False) "
            "and save only the state dict"
        ) from None
    except Exception as exc:  # noqa: BLE001 - damaged bytes make the unpickler fail in many ways
        # (RuntimeError/BadZipFile for zip archives, EOFError, IndexError, KeyError, UnicodeDecodeError...)
        raise YoloxkitError(f"checkpoint {path} is corrupt or truncated ({type(exc).__name__})") from None


def _tensor_dict(obj: object, path: Path, where: str) -> dict[str, torch.Tensor]:
    if not isinstance(obj, Mapping) or not obj:
        raise YoloxkitError(f"checkpoint {path}: {where} is not a state dict")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise YoloxkitError(f"checkpoint {path}: {where} holds non-tensor entries, e.g. {bad[0]!r}")
    return dict(obj)


def check_finite(state_dict: Mapping[str, torch.Tensor], path: str | Path) -> None:
    """Refuse weights holding NaN or infinity: such a model detects nothing, silently."""
    bad = [key for key, value in state_dict.items() if value.is_floating_point() and not bool(torch.isfinite(value).all())]
    if bad:
        raise YoloxkitError(
            f"checkpoint {path} holds non-finite weights (NaN or inf) in {len(bad)} tensors, e.g. {bad[0]}; "
            "the training that wrote it diverged or the file is damaged"
        )


def read_checkpoint(path: str | Path) -> LoadedCheckpoint:
    """Read any supported checkpoint file and normalise its weights to Megvii key names.

    Weights with NaN or infinity are refused (:func:`check_finite`).
    """
    checkpoint = _read_checkpoint(Path(path))
    check_finite(checkpoint.state_dict, path)
    return checkpoint


def _read_checkpoint(path: Path) -> LoadedCheckpoint:
    obj = _torch_load(path)
    if not isinstance(obj, Mapping):
        raise YoloxkitError(f"checkpoint {path} holds a {type(obj).__name__}, not a dict of weights")
    if obj.get("format") == FORMAT_NAME:
        return LoadedCheckpoint(
            path=str(path),
            layout=FORMAT_NAME,
            state_dict=_tensor_dict(obj.get("state_dict"), path, "'state_dict'"),
            model_name=obj.get("model"),
            class_names=list(obj["class_names"]) if obj.get("class_names") else None,
            preprocess=obj.get("preprocess"),
            metadata={k: v for k, v in obj.items() if k not in ("state_dict", "format")},
        )
    if "model" in obj and isinstance(obj["model"], Mapping):
        return LoadedCheckpoint(str(path), "megvii", _tensor_dict(obj["model"], path, "'model'"))
    if "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        mapped, ignored = {}, []
        for key, value in _tensor_dict(obj["state_dict"], path, "'state_dict'").items():
            new_key = mmdet_to_megvii_key(key)
            if new_key is None:
                ignored.append(key)
            else:
                mapped[new_key] = value
        if not mapped:
            raise YoloxkitError(f"checkpoint {path}: 'state_dict' has no MMDetection YOLOX keys")
        meta = obj.get("meta") if isinstance(obj.get("meta"), Mapping) else {}
        return LoadedCheckpoint(
            str(path),
            "mmdet",
            mapped,
            class_names=_mmdet_class_names(meta, mapped),
            metadata={"meta": dict(meta)} if meta else {},
            ignored_keys=ignored,
        )
    return LoadedCheckpoint(str(path), "state_dict", _tensor_dict(obj, path, "the file"))


def _mmdet_class_names(meta: Mapping, state_dict: Mapping[str, torch.Tensor]) -> list[str] | None:
    """Class names recorded in MMDetection's ``meta`` (2.x ``CLASSES``, 3.x ``dataset_meta``).

    Used only when they are strings and as many as the classification convs predict.
    """
    dataset_meta = meta.get("dataset_meta")
    names = meta.get("CLASSES") or (dataset_meta.get("classes") if isinstance(dataset_meta, Mapping) else None)
    cls_weight = state_dict.get("head.cls_preds.0.weight")
    if (
        not isinstance(names, (list, tuple))
        or not all(isinstance(name, str) for name in names)
        or cls_weight is None
        or len(names) != cls_weight.shape[0]
    ):
        return None
    return list(names)


@dataclass(frozen=True)
class Architecture:
    """What a state dict's shapes say about the network that produced it."""

    model_name: str | None  # registered name, or None when no registered model matches
    num_classes: int
    width: float
    depth_blocks: int
    depthwise: bool

    def describe(self) -> str:
        name = self.model_name or f"an unregistered YOLOX (width {self.width:g}, {self.depth_blocks} blocks)"
        return f"{name} with {self.num_classes} classes"


def infer_architecture(state_dict: Mapping[str, torch.Tensor]) -> Architecture:
    """Recognise the model size and class count from a Megvii-keyed state dict."""
    try:
        base = state_dict["backbone.backbone.stem.conv.conv.weight"].shape[0]
        num_classes = state_dict["head.cls_preds.0.weight"].shape[0]
    except KeyError as exc:
        raise YoloxkitError(f"not a YOLOX state dict (missing {exc.args[0]!r})") from None
    pattern = re.compile(r"backbone\.backbone\.dark2\.1\.m\.(\d+)\.")
    blocks = 1 + max((int(m.group(1)) for k in state_dict if (m := pattern.match(k))), default=0)
    depthwise = any(k.startswith("backbone.backbone.dark2.0.dconv.") for k in state_dict)
    width = base / 64
    name = None
    for candidate in list_models(rotated="head.ang_preds.0.weight" in state_dict):
        spec = get_spec(candidate)
        if (
            int(spec.width * 64) == base
            and max(round(spec.depth * 3), 1) == blocks
            and spec.depthwise == depthwise
        ):
            name = candidate
    return Architecture(name, int(num_classes), width, blocks, depthwise)


def load_weights(model: YOLOX, checkpoint: LoadedCheckpoint, model_name: str) -> None:
    """Copy the checkpoint's weights into ``model``, refusing any key or shape mismatch.

    The error names the model the checkpoint looks like and the first mismatching entries.
    """
    expected = model.state_dict()
    given = checkpoint.state_dict
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    wrong = [k for k in expected if k in given and given[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        try:
            looks_like = f"it looks like {infer_architecture(given).describe()}"
        except YoloxkitError as exc:
            looks_like = str(exc)
        details = [f"{k}: checkpoint {tuple(given[k].shape)} vs model {tuple(expected[k].shape)}" for k in wrong[:3]]
        details += [f"missing {k}" for k in missing[:3]]
        details += [f"unexpected {k}" for k in unexpected[:3]]
        raise YoloxkitError(
            f"checkpoint {checkpoint.path} does not fit {model_name} with {model.num_classes} classes: "
            f"{looks_like}; first differences: {'; '.join(details)}"
        )
    model.load_state_dict(given, strict=True)


def atomic_save(obj: object, path: str | Path) -> None:
    """``torch.save`` through :func:`yoloxkit.files.atomic_write`: all or nothing, umask permissions.

    A failed write leaves neither a temporary file nor a partial ``path`` (an existing file
    is kept unchanged); I/O failures become a YoloxkitError naming ``path`` ("no space left
    on device while writing PATH" for a full disk). The file is serialised in memory first:
    ``torch.save`` would report a failed write as an opaque ``RuntimeError``.
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes(path, buffer.getbuffer())


def save_checkpoint(
    path: str | Path,
    model: YOLOX,
    model_name: str,
    class_names: list[str],
    preprocess: dict,
    training: dict | None = None,
    **extra: object,
) -> None:
    """Write a self-describing yoloxkit checkpoint atomically (loadable with weights_only)."""
    from . import __version__

    atomic_save(
        {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "model": model_name,
            "num_classes": model.num_classes,
            "class_names": list(class_names),
            "input_size": list(preprocess["input_size"]),
            "preprocess": preprocess,
            "yoloxkit_version": __version__,
            "training": training or {},
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            **extra,
        },
        path,
    )
