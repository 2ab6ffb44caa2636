"""The Python API: ``Detector.from_checkpoint(path).predict(images)``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import hub
from .checkpoints import LoadedCheckpoint, infer_architecture, load_weights, read_checkpoint
from .data.coco import default_class_names
from .data.images import read_image, to_bgr_uint8
from .data.preprocess import PreprocessContract, preprocess_batch
from .devices import resolve_device
from .errors import YoloxkitError
from .models import YOLOX, canonical_name, get_spec
from .models.inference import optimize_for_inference
from .models.rotated import RotatedYOLOX
from .ops import NMS_IOU, ROTATED_NMS_IOU, postprocess, rotated_postprocess
from .structures import Boxes, BoxFormat, Detections
from .thresholds import PREDICT_CONF

ImageInput = str | Path | np.ndarray


class Detector:
    """A YOLOX model with its class names and preprocessing contract, ready to predict.

    ``det.model`` is the plain ``nn.Module`` (Megvii state-dict keys); in eval mode it maps
    float BGR 0-255 ``[B, 3, H, W]`` to the decoded ``[B, N, 5 + C]`` layout (rotated models:
    ``[B, N, 6 + C]`` with the angle after the box). Prediction runs
    a BN-folded copy (``fuse=True``) that is rebuilt automatically when the weights change.
    """

    def __init__(
        self,
        model: YOLOX,
        model_name: str,
        class_names: Sequence[str] | None = None,
        contract: PreprocessContract | None = None,
        device: str | torch.device | None = "cpu",
        fuse: bool = True,
        pretrained: bool = True,
        class_conf: Mapping[str, float] | None = None,
    ) -> None:
        self.model_name = canonical_name(model_name)
        self.class_names = list(class_names) if class_names else default_class_names(model.num_classes)
        if len(self.class_names) != model.num_classes:
            raise YoloxkitError(
                f"{len(self.class_names)} class names given for a model with {model.num_classes} classes"
            )
        self.contract = contract or PreprocessContract(get_spec(self.model_name).input_size)
        self.device = resolve_device(device)
        self.fuse = fuse
        self.pretrained = pretrained
        self._model = model.to(self.device).eval()
        self.class_conf = checked_class_conf(class_conf, self.class_names)
        self._runner: nn.Module | None = None
        self._runner_versions: tuple[int, ...] = ()

    # ----------------------------------------------------------------------------- construction
    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path | LoadedCheckpoint,
        model: str | None = None,
        class_names: Sequence[str] | None = None,
        input_size: int | tuple[int, int] | None = None,
        legacy: bool = False,
        device: str | torch.device | None = "cpu",
        fuse: bool = True,
    ) -> "Detector":
        """Load any supported checkpoint (yoloxkit, Megvii, MMDetection, bare state dict), given
        by its path or already read (:func:`~yoloxkit.checkpoints.read_checkpoint`).

        The model size and class count are recognised from the weights; pass ``model`` to
        insist on one (a checkpoint of another size is then an error naming what it is).
        """
        checkpoint = path if isinstance(path, LoadedCheckpoint) else read_checkpoint(path)
        arch = infer_architecture(checkpoint.state_dict)
        name = model or checkpoint.model_name or arch.model_name
        if name is None:
            raise YoloxkitError(f"checkpoint {checkpoint.path}: {arch.describe()} matches no registered model")
        spec = get_spec(name)
        network = spec.build(arch.num_classes)
        load_weights(network, checkpoint, spec.name)
        if checkpoint.preprocess:
            contract = PreprocessContract.from_dict(checkpoint.preprocess)
        else:
            contract = PreprocessContract(spec.input_size, legacy=legacy)
        if input_size is not None:
            contract = PreprocessContract(_size_pair(input_size), contract.pad_value, contract.legacy)
        names = class_names or checkpoint.class_names
        stored = checkpoint.metadata.get("class_conf") if names == checkpoint.class_names else None
        return cls(network, spec.name, names, contract, device, fuse, class_conf=stored)

    @classmethod
    def from_pretrained(
        cls, name: str, source: str = "megvii", device: str | torch.device | None = "cpu", **kwargs
    ) -> "Detector":
        """Download (once, into the cache) and load the official COCO weights of ``name``."""
        return cls.from_checkpoint(hub.fetch(name, source), model=name, device=device, **kwargs)

    @classmethod
    def untrained(
        cls,
        name: str,
        num_classes: int = 80,
        class_names: Sequence[str] | None = None,
        device: str | torch.device | None = "cpu",
        seed: int = 0,
    ) -> "Detector":
        """A detector with freshly initialised (random) weights, e.g. before training."""
        torch.manual_seed(seed)
        spec = get_spec(name)
        return cls(spec.build(num_classes), spec.name, class_names, None, device, pretrained=False)

    # ----------------------------------------------------------------------------- inference
    @property
    def model(self) -> YOLOX:
        """The underlying network (a plain ``nn.Module``)."""
        return self._model

    @property
    def rotated(self) -> bool:
        """Whether the detector predicts rotated boxes (Rotated YOLOX: rbox rows, rotated NMS)."""
        return isinstance(self._model, RotatedYOLOX)

    @property
    def default_iou(self) -> float:
        """The NMS IoU threshold used when none is given: 0.45 (YOLOX's demo), 0.1 for rotated models (ai4rs' test setting)."""
        return ROTATED_NMS_IOU if self.rotated else NMS_IOU

    def _inference_model(self) -> nn.Module:
        """The network ``predict`` runs: with ``fuse`` (the default) an optimised copy.

        The copy (BN folded, fused oneDNN convolutions, channels-last; see
        :mod:`yoloxkit.models.inference`) is cached and rebuilt whenever a parameter or buffer
        of the model has changed (in-place updates bump a tensor's version, new tensors have
        new storage), or when the model was moved to another device or dtype.
        """
        if not self.fuse:
            return self._model.eval()
        tensors = [*self._model.parameters(), *self._model.buffers()]
        versions = tuple((t._version, t.data_ptr(), t.device, t.dtype) for t in tensors)
        if self._runner is None or versions != self._runner_versions:
            self._runner = optimize_for_inference(self._model)
            self._runner_versions = versions
        return self._runner

    @torch.inference_mode()
    def predict(
        self,
        images: ImageInput | Iterable[ImageInput],
        conf: float | None = None,
        iou: float | None = None,
        batch_size: int = 8,
        class_agnostic: bool = False,
    ) -> list[Detections]:
        """Detect objects in one image or many (paths or BGR arrays); one Detections each.

        ``conf`` is the score threshold; None: the per-class thresholds stored with the model
        (:attr:`class_conf`, see ``yoloxkit thresholds set``), else 0.25. ``iou`` is the NMS
        threshold (default :attr:`default_iou`).
        """
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
    def preprocess(self, images: list[np.ndarray]) -> tuple[torch.Tensor, list[float]]:
        """BGR uint8 images -> network input ``[B, 3, H, W]`` (the preprocessing contract) and each image's scale."""
        return preprocess_batch(images, self.contract)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """Network input -> decoded outputs ``[B, N, 5 + C]`` (rotated: ``6 + C``), on the detector's device."""
        return self._inference_model()(batch.to(self.device))

    def postprocess(self, outputs: torch.Tensor, conf: float, iou: float, class_agnostic: bool = False) -> list[torch.Tensor]:
        """Decoded outputs -> per-image rows after the score threshold and NMS (rotated NMS for rotated models)."""
        if self.rotated:
            return rotated_postprocess(outputs.float(), conf, iou, class_agnostic)
        return postprocess(outputs.float(), conf, iou, class_agnostic)

    def detect(self, batch: torch.Tensor, conf: float, iou: float, class_agnostic: bool = False) -> list[torch.Tensor]:
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

    def to_detections(
        self, rows: torch.Tensor, ratio: float, size: tuple[int, int], source: str | None
    ) -> Detections:
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

    def __repr__(self) -> str:
        weights = "pretrained" if self.pretrained else "random weights"
        return (
            f"Detector({self.model_name}, {len(self.class_names)} classes, "
            f"input {self.contract.input_size}, {weights}, device={self.device})"
        )


def _size_pair(size: int | tuple[int, int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


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
