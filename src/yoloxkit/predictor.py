"""What every detector shares: images in, :class:`~yoloxkit.structures.Detections` out, in stages.

:class:`Predictor` composes ``preprocess`` -> ``forward`` -> ``postprocess`` -> ``to_detections``
into ``predict`` (paths or arrays, batched) and ``predict_arrays`` (one batch), and owns the
thresholds: per-class score thresholds stored with a model, the NMS IoU default, their checks.
Subclasses supply the stages: :class:`yoloxkit.Detector` (a PyTorch network, with test-time
augmentation), :class:`yoloxkit.export.ExportedDetector` (an exported model) and
:class:`yoloxkit.ensemble.EnsembleDetector` (several detectors fused). The evaluator's timed
loop and the benchmark command call the same stages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .data.images import read_image, to_bgr_uint8
from .data.preprocess import PreprocessContract
from .errors import YoloxkitError
from .ops import NMS_IOU, ROTATED_NMS_IOU
from .structures import Boxes, BoxFormat, Detections
from .thresholds import PREDICT_CONF
from .tta import TTA

ImageInput = str | Path | np.ndarray


class Predictor:
    """The stage composition and thresholds of a detector (see the module docstring).

    Subclasses set ``class_names``, ``contract``, ``device`` and ``class_conf`` and implement
    :meth:`preprocess`, :meth:`forward`, :meth:`postprocess` and :attr:`rotated`.
    """

    class_names: list[str]
    contract: PreprocessContract
    device: torch.device
    class_conf: dict[str, float]
    tta: TTA | None = None  # test-time augmentation of this detector itself (see with_tta)

    @property
    def rotated(self) -> bool:
        """Whether the detector predicts rotated boxes (rbox rows, rotated NMS)."""
        raise NotImplementedError

    @property
    def default_iou(self) -> float:
        """The NMS IoU threshold used when none is given: 0.45 (YOLOX's demo), 0.1 for rotated models (ai4rs' test setting)."""
        return ROTATED_NMS_IOU if self.rotated else NMS_IOU

    def with_tta(self, tta: TTA | bool | None = True) -> "Predictor":
        """A copy that predicts with test-time augmentation (``True``: the default views); ``None``/``False``: without."""
        raise YoloxkitError(f"{type(self).__name__} does not support test-time augmentation")

    @torch.inference_mode()
    def predict(
        self,
        images: ImageInput | Iterable[ImageInput],
        conf: float | None = None,
        iou: float | None = None,
        batch_size: int = 8,
        class_agnostic: bool = False,
        tta: TTA | bool | None = None,
    ) -> list[Detections]:
        """Detect objects in one image or many (paths or BGR arrays); one Detections each.

        ``conf`` is the score threshold; None: the per-class thresholds stored with the model
        (:attr:`class_conf`, see ``yoloxkit thresholds set``), else 0.25. ``iou`` is the NMS
        threshold (default :attr:`default_iou`). ``tta``: predict with test-time augmentation
        (``True`` for the image and its mirror fused, or a :class:`~yoloxkit.tta.TTA`).
        """
        if tta:
            return self.with_tta(tta).predict(images, conf, iou, batch_size, class_agnostic)
        iou = self._checked_thresholds(conf, iou)
        if batch_size < 1:
            raise YoloxkitError(f"batch_size must be >= 1, got {batch_size}")
        if isinstance(images, (str, Path, np.ndarray)):
            items = [images]
        elif isinstance(images, Iterable):
            items = list(images)
        else:
            raise YoloxkitError(f"images: expected a path, an array or a list of them, got {type(images).__name__}")
        results: list[Detections] = []
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            loaded = [_load(item, start + i) for i, item in enumerate(chunk)]
            results.extend(
                self.predict_arrays([img for img, _ in loaded], [src for _, src in loaded], conf, iou, class_agnostic)
            )
        return results

    @torch.inference_mode()
    def predict_arrays(
        self,
        images: list[np.ndarray],
        sources: list[str | None],
        conf: float | None = None,
        iou: float | None = None,
        class_agnostic: bool = False,
    ) -> list[Detections]:
        """One batch of already loaded BGR uint8 images -> Detections (no batching, no I/O)."""
        iou = self._checked_thresholds(conf, iou)
        batch, ratios = self.preprocess(images)
        per_image = self.detect(batch, self.score_threshold(conf), iou, class_agnostic)
        return [
            self.to_detections(rows.cpu(), ratio, image.shape[:2], source)
            for rows, ratio, image, source in zip(per_image, ratios, images, sources)
        ]

    # The stages ``predict_arrays`` composes; the evaluator's timed loop, the benchmark command and
    # the exported-model runtime call or override them (never a copy of them).
    def preprocess(self, images: list[np.ndarray]) -> tuple[Any, list[float]]:
        """BGR uint8 images -> network input and each image's scale (image pixels x scale = the rows' pixels)."""
        raise NotImplementedError

    def forward(self, batch: Any) -> Any:
        """Network input -> decoded outputs, on the detector's device."""
        raise NotImplementedError

    def postprocess(self, outputs: Any, conf: float | torch.Tensor, iou: float, class_agnostic: bool = False) -> list[torch.Tensor]:
        """Decoded outputs -> per-image rows after the score threshold and NMS: ``(x1, y1, x2, y2, obj,
        class_prob, class)``, rotated ``(cx, cy, w, h, angle, obj, class_prob, class)``."""
        raise NotImplementedError

    def detect(self, batch: Any, conf: float | torch.Tensor, iou: float, class_agnostic: bool = False) -> list[torch.Tensor]:
        """:meth:`forward` then :meth:`postprocess` (an export with NMS in its graph does both at once)."""
        return self.postprocess(self.forward(batch), conf, iou, class_agnostic)

    def score_threshold(self, conf: float | None) -> float | torch.Tensor:
        """``conf`` itself; for None, the stored per-class thresholds as a ``[C]`` tensor (classes
        without one at 0.25), or 0.25 when the model has none."""
        if conf is not None:
            return conf
        if not self.class_conf:
            return PREDICT_CONF
        return torch.tensor([self.class_conf.get(name, PREDICT_CONF) for name in self.class_names], dtype=torch.float32)

    def _checked_thresholds(self, conf: float | None, iou: float | None) -> float:
        """The NMS threshold to use (``iou`` or :attr:`default_iou`), after checking both lie in [0, 1]."""
        iou = self.default_iou if iou is None else iou
        if (conf is not None and not 0.0 <= conf <= 1.0) or not 0.0 <= iou <= 1.0:
            raise YoloxkitError(f"conf and iou must lie in [0, 1], got conf={conf}, iou={iou}")
        return iou

    def to_detections(self, rows: torch.Tensor, ratio: float, size: tuple[int, int], source: str | None) -> Detections:
        """Postprocess rows of one image -> :class:`Detections` in the original image's pixels.

        Rows end with (obj, class_prob, class); rotated rows start with an rbox (cx, cy, w, h,
        angle) whose angle the letterbox scale does not change.
        """
        box_format = BoxFormat.RBOX if self.rotated else BoxFormat.XYXY
        coords = rows[:, : box_format.width].numpy().copy()
        coords[:, :4] /= ratio
        return Detections(
            boxes=Boxes(coords, box_format),
            scores=(rows[:, -3] * rows[:, -2]).numpy(),
            class_ids=rows[:, -1].long().numpy(),
            class_names=self.class_names,
            image_size=(int(size[0]), int(size[1])),
            source=source,
        )


def tta_config(tta: TTA | bool | None) -> TTA | None:
    """``True`` -> the default :class:`TTA`; ``False``/``None`` -> None; a TTA as it is."""
    if isinstance(tta, TTA):
        return tta
    return TTA() if tta else None


def _load(item: ImageInput, index: int) -> tuple[np.ndarray, str | None]:
    if isinstance(item, (str, Path)):
        return read_image(item), str(item)
    if isinstance(item, np.ndarray):
        return to_bgr_uint8(item, f"image #{index}"), None
    raise YoloxkitError(f"image #{index}: expected a path or a numpy array, got {type(item).__name__}")


def checked_class_conf(class_conf: Mapping[str, float] | None, class_names: Sequence[str]) -> dict[str, float]:
    """Per-class score thresholds, checked against the model's classes (one-line errors)."""
    if not class_conf:
        return {}
    unknown = sorted(set(class_conf) - set(class_names))
    if unknown:
        raise YoloxkitError(f"per-class thresholds name classes the model does not have: {', '.join(unknown[:5])}")
    bad = {name: value for name, value in class_conf.items() if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0}
    if bad:
        raise YoloxkitError(f"per-class thresholds must lie in [0, 1], got {bad}")
    return {name: float(value) for name, value in class_conf.items()}
