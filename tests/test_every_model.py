"""Every registered model, axis-aligned and rotated, through the same path: created with its
reference width/depth, trained one step's forward (three levels of the right width), evaluated
(decoded rows, probabilities in [0, 1]), saved and reloaded as a checkpoint into a Detector (which
runs it BN-folded) that returns Detections of its box type. Forward passes run without autograd
and at a 64x96 input, so that the twelve models take well under a minute together."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from yoloxkit import Detector
from yoloxkit.checkpoints import save_checkpoint
from yoloxkit.data.preprocess import PreprocessContract
from yoloxkit.models import create, get_spec, list_models
from yoloxkit.structures.boxes import BoxFormat

MODELS = list_models() + list_models(rotated=True)
CLASSES = ["a", "b", "c"]
SIZE = (64, 96)


def test_the_registry_has_every_size_of_both_kinds() -> None:
    assert len(MODELS) == 12 and len(set(MODELS)) == 12


@pytest.mark.parametrize("name", MODELS)
def test_every_model_creates_trains_infers_and_round_trips(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    spec = get_spec(name)
    model = create(name, len(CLASSES))
    box = 5 if spec.rotated else 4
    images = torch.rand(2, 3, *SIZE) * 255
    with torch.no_grad():
        levels = model.train()(images)
    cells = [(SIZE[0] // s) * (SIZE[1] // s) for s in (8, 16, 32)]
    assert [tuple(level.shape) for level in levels] == [(2, box + 1 + len(CLASSES), SIZE[0] // s, SIZE[1] // s) for s in (8, 16, 32)]
    with torch.no_grad():
        decoded = model.eval()(images)
        assert decoded.shape == (2, sum(cells), box + 1 + len(CLASSES))
        assert bool(((decoded[..., box:] >= 0) & (decoded[..., box:] <= 1)).all())

    path = tmp_path / "model.pt"
    save_checkpoint(path, model, name, CLASSES, PreprocessContract(SIZE).to_dict())
    detector = Detector.from_checkpoint(path)
    assert detector.model_name == name and detector.class_names == CLASSES and detector.rotated == spec.rotated
    state, reloaded = model.state_dict(), detector.model.state_dict()
    assert state.keys() == reloaded.keys() and all(torch.equal(state[k], reloaded[k].cpu()) for k in state)
    image = (np.random.default_rng(0).random((50, 70, 3)) * 255).astype(np.uint8)
    [detections] = detector.predict_arrays([image], ["x.png"], conf=0.0, iou=0.65)
    assert detections.boxes.format == (BoxFormat.RBOX if spec.rotated else BoxFormat.XYXY)
    assert detections.image_size == (50, 70) and len(detections) > 0
