"""CUDA against CPU: model forward, loss and assignment (axis-aligned and rotated), an AMP training
step, Detector.predict, the rotated postprocess.

Skipped without CUDA (CI has none; ``benchmarks/gpu_checks.sh`` runs it on a GPU machine).
TF32 is switched off for the comparisons, so both devices compute in float32; tolerances are
relative to the largest magnitude of each tensor (1e-4: summation order differs between cuDNN
and oneDNN, nothing else).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.loss.helpers import random_labels, synthetic_levels
from tests.loss.test_rotated_loss import random_levels, random_objects
from yoloxkit.detector import Detector
from yoloxkit.loss import SimOTAAssigner, Targets, YOLOXLoss, flatten_levels
from yoloxkit.loss.rotated import RotatedYOLOXLoss, rotated_targets
from yoloxkit.models import create
from yoloxkit.ops import rotated_postprocess
from yoloxkit.train.amp import AmpPolicy

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

CUDA = torch.device("cuda")
SIZE = 224


@pytest.fixture(autouse=True)
def no_tf32():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute difference over the largest magnitude of ``b``."""
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return float((a - b).abs().max() / b.abs().max().clamp(min=1e-12))


@pytest.mark.parametrize("training", [False, True])
def test_model_forward_matches_cpu(training):
    torch.manual_seed(0)
    model = create("yolox-s").train(training)
    images = torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1)) * 255
    with torch.no_grad():
        on_cpu = model(images)
        on_cuda = model.to(CUDA)(images.to(CUDA))
    pairs = zip(on_cuda, on_cpu) if training else [(on_cuda, on_cpu)]
    for cuda_out, cpu_out in pairs:
        assert cuda_out.device.type == "cuda"
        assert relative_difference(cuda_out, cpu_out) < 1e-4


@pytest.mark.parametrize("variant", ["original", "megvii2023"])
def test_loss_and_assignment_match_cpu(variant):
    gen = torch.Generator().manual_seed(0)
    targets = Targets.from_padded(random_labels(gen, 3, SIZE, [12, 0, 40]))
    levels = [level.requires_grad_() for level in synthetic_levels(gen, targets, SIZE)]
    loss_fn = YOLOXLoss(assigner=SimOTAAssigner(variant), use_l1=True)
    cuda_levels = [level.detach().to(CUDA).requires_grad_() for level in levels]
    cuda_targets = targets.to(CUDA)

    on_cpu = loss_fn(levels, targets)
    on_cuda = loss_fn(cuda_levels, cuda_targets)
    for key, value in on_cpu.items():
        assert relative_difference(on_cuda[key], value) < 1e-4, key
    cpu_assign = loss_fn.assigner(flatten_levels(levels, loss_fn.strides), targets)
    cuda_assign = loss_fn.assigner(flatten_levels(cuda_levels, loss_fn.strides), cuda_targets)
    assert torch.equal(cuda_assign.fg.cpu(), cpu_assign.fg)
    assert torch.equal(cuda_assign.gt_index.cpu()[cpu_assign.fg], cpu_assign.gt_index[cpu_assign.fg])

    on_cpu["total"].backward()
    on_cuda["total"].backward()
    for cuda_level, level in zip(cuda_levels, levels):
        assert relative_difference(cuda_level.grad, level.grad) < 1e-4


@pytest.mark.parametrize("mode", ["auto", "bf16"])
def test_amp_training_step_is_finite(mode):
    policy = AmpPolicy.resolve(mode, CUDA)
    torch.manual_seed(0)
    model = create("yolox-nano").to(CUDA).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    scaler = policy.make_scaler()
    assert (scaler is not None) == (mode == "auto")
    gen = torch.Generator().manual_seed(0)
    images = (torch.rand(4, 3, SIZE, SIZE, generator=gen) * 255).to(CUDA)
    targets = Targets.from_padded(random_labels(gen, 4, SIZE, [5, 0, 9, 2])).to(CUDA)
    loss_fn = YOLOXLoss()
    before = [p.detach().clone() for p in model.parameters()]
    finite_steps = 0
    for _ in range(16):  # GradScaler starts at 2**16 and halves the scale at each overflow
        optimizer.zero_grad(set_to_none=True)
        with policy.autocast():
            levels = model(images)
        assert levels[0].dtype == policy.dtype
        losses = loss_fn(levels, targets)
        assert losses["total"].dtype == torch.float32
        assert torch.isfinite(losses["total"])
        if scaler is None:
            losses["total"].backward()
            optimizer.step()
        else:
            scaler.scale(losses["total"]).backward()
            scaler.unscale_(optimizer)  # an overflow at the first, large scales skips that step
            scaler.step(optimizer)
            scaler.update()
        finite_steps += all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert finite_steps >= 2
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert any(not torch.equal(p, q) for p, q in zip(model.parameters(), before))


def test_detector_predict_matches_cpu(nano_checkpoint, coco_images):
    on_cpu = Detector.from_checkpoint(nano_checkpoint, device="cpu").predict(coco_images)
    on_cuda = Detector.from_checkpoint(nano_checkpoint, device="cuda").predict(coco_images)
    assert sum(len(d) for d in on_cpu) > 0
    for cuda_det, cpu_det in zip(on_cuda, on_cpu):
        assert len(cuda_det) == len(cpu_det)
        order_cpu, order_cuda = np.argsort(-cpu_det.scores, kind="stable"), np.argsort(-cuda_det.scores, kind="stable")
        # Fused conv+BN layers in float32; cuDNN and oneDNN sum in different orders (H200: 1.4e-4).
        np.testing.assert_allclose(cuda_det.scores[order_cuda], cpu_det.scores[order_cpu], atol=5e-4)
        np.testing.assert_array_equal(cuda_det.class_ids[order_cuda], cpu_det.class_ids[order_cpu])
        boxes_cuda = np.asarray(cuda_det.boxes.data)[order_cuda]
        boxes_cpu = np.asarray(cpu_det.boxes.data)[order_cpu]
        np.testing.assert_allclose(boxes_cuda, boxes_cpu, atol=0.05)


def test_rotated_loss_and_gradients_match_cpu():
    gen = torch.Generator().manual_seed(3)
    levels = [level.requires_grad_() for level in random_levels(gen, 3)]
    targets = rotated_targets([random_objects(gen, n) for n in (5, 0, 11)])
    cuda_levels = [level.detach().to(CUDA).requires_grad_() for level in levels]
    loss_fn = RotatedYOLOXLoss(use_l1=True)
    on_cpu, on_cuda = loss_fn(levels, targets), loss_fn(cuda_levels, targets.to(CUDA))
    for key, value in on_cpu.items():
        assert relative_difference(on_cuda[key], value) < 1e-4, key
    on_cpu["total"].backward()
    on_cuda["total"].backward()
    for cuda_level, level in zip(cuda_levels, levels):
        assert relative_difference(cuda_level.grad, level.grad) < 1e-4


def test_rotated_postprocess_matches_cpu():
    gen = torch.Generator().manual_seed(0)
    decoded = torch.rand(2, 2000, 9, generator=gen, dtype=torch.float64)
    decoded[..., :2] *= 1024
    decoded[..., 2:4] = decoded[..., 2:4] * 80 + 2
    decoded[..., 4] = (decoded[..., 4] - 0.5) * torch.pi
    on_cpu = rotated_postprocess(decoded, 0.05, 0.1)
    on_cuda = rotated_postprocess(decoded.to(CUDA), 0.05, 0.1)
    for cuda_rows, cpu_rows in zip(on_cuda, on_cpu):
        assert len(cpu_rows) > 0
        assert torch.equal(cuda_rows.cpu(), cpu_rows)
