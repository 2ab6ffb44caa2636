"""Exact and differentiable rotated IoU against shapely polygons (the independent oracle)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from yoloxkit.ops.rotated import rotated_iou, rotated_iou_aligned, rotated_iou_matched
from yoloxkit.structures.boxes import convert

shapely = pytest.importorskip("shapely")


def shapely_iou(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Pairwise IoU ``[N, M]`` of rboxes through shapely polygons (float64)."""
    pa = shapely.polygons(convert(a.double().numpy(), "rbox", "qbox").reshape(-1, 4, 2))
    pb = shapely.polygons(convert(b.double().numpy(), "rbox", "qbox").reshape(-1, 4, 2))
    inter = shapely.area(shapely.intersection(pa[:, None], pb[None, :]))
    union = shapely.area(pa)[:, None] + shapely.area(pb)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def random_rboxes(
    gen: torch.Generator, n: int, extent: float = 60.0, size: float = 30.0
) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=gen, dtype=torch.float64) * extent
    wh = torch.rand(n, 2, generator=gen, dtype=torch.float64) * size + 0.05
    angle = (torch.rand(n, 1, generator=gen, dtype=torch.float64) - 0.5) * math.pi
    return torch.cat([xy, wh, angle], 1)


def degenerate_pairs() -> tuple[torch.Tensor, torch.Tensor]:
    """Aligned pairs (a[k], b[k]) of the hard cases: identical, touching, nested, tiny, le90 boundary, squares."""
    half_pi = math.pi / 2
    rows = []
    for angle in (0.0, 0.3, -half_pi, half_pi - 1e-7, 1.0):
        c, s = math.cos(angle), math.sin(angle)
        base = [50.0, 40.0, 20.0, 8.0, angle]
        rows += [
            (base, base),  # identical
            (
                base,
                [50.0, 40.0, 8.0, 20.0, angle + half_pi],
            ),  # same rectangle, other le90 spelling
            (base, [50.0, 40.0, 20.0, 8.0, angle + math.pi]),  # angle + pi
            (
                base,
                [50.0 + 20.0 * c, 40.0 + 20.0 * s, 20.0, 8.0, angle],
            ),  # touching along a short side
            (
                base,
                [50.0 - 8.0 * s, 40.0 + 8.0 * c, 20.0, 8.0, angle],
            ),  # touching along a long side
            (
                base,
                [50.0 + 6.0 * c, 40.0 + 6.0 * s, 8.0, 8.0, angle],
            ),  # nested, sharing two sides
            (
                base,
                [50.0 + 5.0 * c, 40.0 + 5.0 * s, 10.0, 8.0, angle],
            ),  # half overlap along the long side
            (base, [50.0, 40.0, 10.0, 4.0, angle + 0.2]),  # nested inside
            (base, [50.0, 40.0, 1e-4, 1e-4, angle]),  # near-zero size inside
            (base, [50.0, 40.0, 20.0, 1e-6, angle]),  # near-zero height on the axis
            (base, [70.0 + 30.0 * c, 40.0, 20.0, 8.0, angle]),  # disjoint
            (
                [50.0, 40.0, 10.0, 10.0, angle],
                [50.0, 40.0, 10.0, 10.0, angle + half_pi],
            ),  # square turned 90
            (
                [50.0, 40.0, 10.0, 10.0, angle],
                [50.0, 40.0, 10.0, 10.0, angle + math.pi / 4],
            ),  # square vs 45
            (
                [50.0, 40.0, 10.0, 10.0, -half_pi],
                [50.0, 40.0, 10.0, 10.0, half_pi - 1e-9],
            ),  # le90 ends
            (
                [5000.0, 19000.0, 30.0, 10.0, angle],
                [5000.0, 19000.0, 30.0, 10.0, angle],
            ),  # full-image coordinates
        ]
    a, b = zip(*rows)
    return torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)


def test_random_pairs_match_shapely_float64():
    gen = torch.Generator().manual_seed(0)
    a, b = random_rboxes(gen, 120), random_rboxes(gen, 100)
    mine = rotated_iou(a, b).numpy()
    assert np.abs(mine - shapely_iou(a, b)).max() < 1e-10
    assert (mine > 0).mean() > 0.2  # a dense case, not only disjoint pairs


def test_random_pairs_match_shapely_float32():
    gen = torch.Generator().manual_seed(1)
    a, b = (
        random_rboxes(gen, 80, extent=1024.0, size=200.0).float(),
        random_rboxes(gen, 90, 1024.0, 200.0).float(),
    )
    mine = rotated_iou(a, b)
    assert mine.dtype == torch.float32
    assert np.abs(mine.numpy() - shapely_iou(a, b)).max() < 1e-4


def test_degenerate_cases_match_shapely():
    a, b = degenerate_pairs()
    expected = np.diag(shapely_iou(a, b))
    assert np.abs(rotated_iou_aligned(a, b).numpy() - expected).max() < 1e-9
    assert np.abs(np.diag(rotated_iou(a, b).numpy()) - expected).max() < 1e-9
    # Each case also with the boxes swapped, in float32.
    assert (
        np.abs(rotated_iou_aligned(b.float(), a.float()).numpy() - expected).max()
        < 1e-4
    )


def test_identical_boxes_have_iou_one_exactly_enough():
    gen = torch.Generator().manual_seed(2)
    a = random_rboxes(gen, 500)
    assert torch.allclose(
        rotated_iou_aligned(a, a), torch.ones(500, dtype=torch.float64), atol=1e-12
    )


def test_grid_of_touching_and_overlapping_squares():
    # Axis-aligned and 90-degree-turned unit squares on a half-unit grid: many shared edges and corners.
    steps = torch.arange(-4, 5, dtype=torch.float64) / 2
    xs, ys = torch.meshgrid(steps, steps, indexing="ij")
    n = xs.numel()
    b = torch.stack(
        [
            xs.flatten(),
            ys.flatten(),
            torch.ones(n),
            torch.full((n,), 2.0),
            torch.zeros(n),
        ],
        1,
    )
    a = torch.tensor([[0.0, 0.0, 2.0, 1.0, math.pi / 2], [0.0, 0.0, 1.0, 2.0, 0.0], [0.5, 0.5, 1.0, 1.0, -math.pi / 2]],
                     dtype=torch.float64)  # fmt: skip
    assert np.abs(rotated_iou(a, b).numpy() - shapely_iou(a, b)).max() < 1e-12


def test_thousands_of_random_aligned_pairs():
    gen = torch.Generator().manual_seed(3)
    a = random_rboxes(gen, 3000)
    # Half of the pairs are small perturbations of the first box (nearly coincident edges).
    b = random_rboxes(gen, 3000)
    b[::2] = a[::2] + torch.randn(1500, 5, generator=gen, dtype=torch.float64) * 1e-3
    b[::2, 2:4] = b[::2, 2:4].abs()
    expected = np.array(
        [shapely_iou(a[i : i + 1], b[i : i + 1])[0, 0] for i in range(0, 3000, 7)]
    )
    assert np.abs(rotated_iou_aligned(a, b).numpy()[::7] - expected).max() < 1e-9


def nearly_parallel_copies(gen: torch.Generator, boxes: torch.Tensor, n: int) -> torch.Tensor:
    """Copies of random ``boxes`` turned by a quarter-turn multiple plus 1e-14 ... 1e-4 rad,
    shifted along their own axes (often by exactly half a side: touching) and scaled (nested)."""
    copies = boxes[torch.randint(0, boxes.shape[0], (n,), generator=gen)].clone()
    turn = torch.randint(0, 4, (n,), generator=gen) * (math.pi / 2)
    tilt = 10.0 ** -torch.randint(4, 15, (n,), generator=gen).double()
    tilt = torch.where(torch.rand(n, generator=gen) < 0.2, 0.0, tilt * torch.randn(n, generator=gen).sign())
    steps = torch.randint(-2, 3, (n, 2), generator=gen).double() / 2  # touching at +-1 side
    c, s = torch.cos(copies[:, 4]), torch.sin(copies[:, 4])
    shift_w, shift_h = steps[:, 0] * copies[:, 2], steps[:, 1] * copies[:, 3]
    copies[:, 0] += shift_w * c - shift_h * s
    copies[:, 1] += shift_w * s + shift_h * c
    copies[:, 2:4] *= torch.tensor([0.5, 1.0, 1.0, 1.5], dtype=torch.float64)[
        torch.randint(0, 4, (n, 1), generator=gen)
    ]
    copies[:, 4] += turn + tilt
    return copies


def test_nearly_parallel_touching_and_nested_pairs_match_shapely():
    # Relative angles a hair away from 0 or 90 degrees (both sides of the threshold between the
    # plain and the coincident-edge clipping), shared and touching sides, one box in the other.
    # Sides 1e-9 ... 1e-6 rad from parallel and nearly on one line make the crossing points
    # ill-conditioned: a few pairs are off by up to ~3e-8 (the clipping before the fast path too).
    gen = torch.Generator().manual_seed(5)
    a = random_rboxes(gen, 40)
    b = nearly_parallel_copies(gen, a, 120)
    mine = rotated_iou(a, b).numpy()
    error = np.abs(mine - shapely_iou(a, b))
    assert error.max() < 1e-7 and (error > 1e-10).mean() < 0.01
    assert ((mine > 0) & (mine < 1)).sum() > 200 and (mine == 0).sum() > 200


def test_matched_and_pairwise_equal_the_differentiable_iou():
    gen = torch.Generator().manual_seed(6)
    a = random_rboxes(gen, 400)
    b = torch.cat([random_rboxes(gen, 200), nearly_parallel_copies(gen, a[:200], 200)])
    da, db = degenerate_pairs()
    a, b = torch.cat([a, da]), torch.cat([b, db])
    exact = rotated_iou_aligned(a, b)
    assert torch.allclose(rotated_iou_matched(a, b), exact, rtol=0, atol=1e-12)
    assert torch.allclose(torch.diag(rotated_iou(a, b)), exact, rtol=0, atol=1e-12)


def test_differentiable_iou_broadcasts_to_the_pairwise_iou():
    # The traceable dense form (no data-dependent pre-test) that docs/deployment.md measures.
    from yoloxkit.ops.rotated import _iou

    a = random_rboxes(torch.Generator().manual_seed(7), 40)
    dense = _iou(a[:, None], a[None])
    assert dense.shape == (40, 40)
    assert torch.allclose(dense, rotated_iou(a, a), rtol=0, atol=1e-12)


def test_empty_inputs():
    empty = torch.zeros(0, 5)
    assert rotated_iou(empty, torch.ones(3, 5)).shape == (0, 3)
    assert rotated_iou(torch.ones(2, 5), empty).shape == (2, 0)
    assert rotated_iou_aligned(empty, empty).shape == (0,)


def test_wrong_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"rboxes \[N, 5\]"):
        rotated_iou(torch.zeros(3, 4), torch.zeros(3, 5))


def test_cuda_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    gen = torch.Generator().manual_seed(4)
    a, b = random_rboxes(gen, 200), random_rboxes(gen, 150)
    assert torch.allclose(
        rotated_iou(a.cuda(), b.cuda()).cpu(), rotated_iou(a, b), atol=1e-12
    )


@pytest.mark.parametrize("seed", range(4))
def test_gradcheck_generic_configurations(seed):
    gen = torch.Generator().manual_seed(seed)
    a = random_rboxes(gen, 12, extent=20.0, size=20.0) + torch.tensor(
        [10.0, 10.0, 2.0, 2.0, 0.0], dtype=torch.float64
    )
    b = random_rboxes(gen, 12, extent=20.0, size=20.0) + torch.tensor(
        [10.0, 10.0, 2.0, 2.0, 0.0], dtype=torch.float64
    )
    iou = rotated_iou_aligned(a, b)
    assert ((iou > 0.05) & (iou < 0.95)).sum() >= 3  # mostly partial overlaps
    a.requires_grad_(True)
    b.requires_grad_(True)
    assert torch.autograd.gradcheck(rotated_iou_aligned, (a, b), eps=1e-6, atol=1e-6)


def test_gradient_of_a_nested_box_and_of_a_perfect_match_are_finite():
    a = torch.tensor(
        [[10.0, 10.0, 6.0, 3.0, 0.4], [10.0, 10.0, 6.0, 3.0, 0.4]],
        dtype=torch.float64,
        requires_grad=True,
    )
    b = torch.tensor(
        [[10.0, 10.0, 6.0, 3.0, 0.4], [10.5, 10.0, 2.0, 1.0, -0.3]], dtype=torch.float64
    )
    rotated_iou_aligned(a, b).sum().backward()
    assert torch.isfinite(a.grad).all()


def test_zero_size_boxes_at_one_centre_have_iou_zero_and_finite_gradients():
    zero = torch.tensor([[5.0, 5.0, 0.0, 0.0, 0.3], [5.0, 5.0, 0.0, 3.0, 0.3]], dtype=torch.float64)
    a = zero.clone().requires_grad_(True)
    iou = rotated_iou_aligned(a, zero)
    iou.sum().backward()
    assert iou.tolist() == [0.0, 0.0]
    assert torch.isfinite(a.grad).all()
