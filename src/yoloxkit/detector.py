"""The Python API: ``Detector.from_checkpoint(path).predict(images)``."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import hub
from .checkpoints import LoadedCheckpoint, infer_architecture, load_weights, read_checkpoint
from .data.coco import default_class_names
from .data.preprocess import PreprocessContract, preprocess_batch
from .devices import resolve_device
from .ensemble import EnsembleDetector
from .errors import YoloxkitError
from .models import YOLOX, canonical_name, get_spec
from .models.inference import optimize_for_inference
from .models.rotated import RotatedYOLOX
from .ops import postprocess, rotated_postprocess
from .predictor import ImageInput, Predictor, checked_class_conf, tta_config
from .tta import TTA, ViewOutputs, Views, make_views, merge_views

__all__ = ["Detector", "ImageInput", "checked_class_conf"]


class Detector(Predictor):
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

    def with_tta(self, tta: TTA | bool | None = True) -> "Detector":
        """A copy (sharing the network) that predicts with test-time augmentation (``True``: the image
        and its mirror, fused; or a :class:`~yoloxkit.tta.TTA`); ``None``/``False``: without."""
        twin = copy.copy(self)
        twin.tta = tta_config(tta)
        return twin

    @classmethod
    def ensemble(cls, detectors: Sequence[Predictor], weights: Sequence[float] | None = None, **options) -> "EnsembleDetector":
        """Several detectors of the same classes as one, their detections fused by weighted box
        fusion (see :class:`~yoloxkit.ensemble.EnsembleDetector` for ``options``)."""
        return EnsembleDetector(detectors, weights, **options)

    # The stages of ``predict_arrays`` (see :class:`~yoloxkit.predictor.Predictor`); with TTA on,
    # the network input is every view of the batch (:class:`~yoloxkit.tta.Views`).
    def preprocess(self, images: list[np.ndarray]) -> tuple[torch.Tensor | Views, list[float]]:
        """BGR uint8 images -> network input ``[B, 3, H, W]`` (the preprocessing contract) and each image's scale."""
        if self.tta is not None:
            return make_views(images, self.contract, self.tta)
        return preprocess_batch(images, self.contract)

    def forward(self, batch: torch.Tensor | Views) -> torch.Tensor | ViewOutputs:
        """Network input -> decoded outputs ``[B, N, 5 + C]`` (rotated: ``6 + C``), on the detector's device."""
        if isinstance(batch, Views):
            return ViewOutputs([self.forward(view) for view in batch.batches], batch)
        return self._inference_model()(batch.to(self.device))

    def postprocess(
        self, outputs: torch.Tensor | ViewOutputs, conf: float | torch.Tensor, iou: float, class_agnostic: bool = False
    ) -> list[torch.Tensor]:
        """Decoded outputs -> per-image rows after the score threshold and NMS (rotated NMS for rotated
        models); with TTA, every view mapped back and merged (:func:`yoloxkit.tta.merge_views`)."""
        if isinstance(outputs, ViewOutputs):
            return merge_views(outputs, self.tta or TTA(), conf, iou, class_agnostic, self.rotated, self.postprocess)
        if self.rotated:
            return rotated_postprocess(outputs.float(), conf, iou, class_agnostic)
        return postprocess(outputs.float(), conf, iou, class_agnostic)

    def __repr__(self) -> str:
        weights = "pretrained" if self.pretrained else "random weights"
        tta = f", TTA {self.tta.describe()}" if self.tta is not None else ""
        return (
            f"Detector({self.model_name}, {len(self.class_names)} classes, "
            f"input {self.contract.input_size}, {weights}, device={self.device}{tta})"
        )


def _size_pair(size: int | tuple[int, int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
