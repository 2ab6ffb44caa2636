"""Options and helpers shared by several sub-commands."""

from __future__ import annotations

from pathlib import Path

import typer

from ..detector import Detector
from ..ensemble import EnsembleDetector
from ..errors import YoloxkitError
from ..export import ExportedDetector, is_exported_model
from ..hub import PRETRAINED
from ..models import canonical_name
from ..predictor import Predictor
from ..tta import TTA
from .values import comma_list, weight_names


def load_detector(
    weights: str | None,
    model: str | None,
    size: int | None,
    device: str,
    legacy: bool = False,
) -> Detector:
    """``--weights`` as a checkpoint path, an exported ``.onnx``/``.xml`` model, or a model name.

    Without ``--weights`` the model gets random weights, and the user is told so plainly.
    """
    if weights is None:
        name = model or "yolox-s"
        typer.secho(
            f"warning: no --weights given: {canonical_name(name)} has RANDOM weights, its detections mean nothing",
            fg=typer.colors.YELLOW,
            err=True,
        )
        detector = Detector.untrained(name, device=device)
        if size:
            from ..data.preprocess import PreprocessContract

            detector.contract = PreprocessContract((size, size))
        return detector
    if is_exported_model(weights):  # .onnx (ONNX Runtime) or .xml (OpenVINO IR) from `yoloxkit export`
        return ExportedDetector.from_file(weights, input_size=size, device=device)
    if Path(weights).exists():
        return Detector.from_checkpoint(weights, model=model, input_size=size, legacy=legacy, device=device)
    if canonical_name(weights) in PRETRAINED["megvii"]:
        return Detector.from_pretrained(weights, input_size=size, legacy=legacy, device=device)
    raise YoloxkitError(f"weights not found: {weights} (give a checkpoint file or a model name such as yolox-s)")




def load_predictor(
    weights: list[str] | None,
    model: str | None,
    size: int | None,
    device: str,
    legacy: bool = False,
    ensemble_weights: str | None = None,
    tta: TTA | None = None,
) -> Predictor:
    """``--weights`` (one model, or several fused as an :class:`EnsembleDetector`), with TTA if asked."""
    names = weight_names(weights)
    if len(names) > 1:
        members = [load_detector(name, model, size, device, legacy) for name in names]
        detector: Predictor = EnsembleDetector(members, comma_list(ensemble_weights, "--ensemble-weights") if ensemble_weights else None)
    else:
        if ensemble_weights:
            raise YoloxkitError("--ensemble-weights needs several --weights")
        detector = load_detector(names[0] if names else None, model, size, device, legacy)
    return detector.with_tta(tta) if tta is not None else detector


def tta_option(enabled: bool, scales: str, merge: str) -> TTA | None:
    """``--tta`` / ``--tta-scales`` / ``--tta-merge`` as a :class:`TTA` (None without ``--tta``)."""
    if not enabled:
        if scales != "1" or merge != "wbf":
            raise YoloxkitError("--tta-scales and --tta-merge need --tta")
        return None
    return TTA(scales=tuple(comma_list(scales, "--tta-scales")), merge=merge)
