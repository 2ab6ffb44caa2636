"""Rotated-box IoU (exact and differentiable) and rotated NMS in plain PyTorch, CPU and GPU.

Boxes are rboxes ``(cx, cy, w, h, angle)``, angle in radians (le90 or not: every result here
is invariant to ``angle + pi`` and to ``(w, h, angle) -> (h, w, angle + pi/2)``).

Intersection area without vertex sorting
----------------------------------------
The boundary of the intersection of two convex polygons A and B is made of the parts of A's
edges inside B and the parts of B's edges inside A. Each part is one segment, found by clipping
the edge against the other rectangle's four half-planes in that rectangle's own frame (where
it is axis-aligned); Green's theorem turns each segment ``P(t0) -> P(t1)`` of an edge
``P(t) = p + t d`` into ``(t1 - t0) * (p x d) / 2`` and the sum of those terms is the area.
With the origin at the midpoint of the two centres, ``p x d`` of an edge of A is
``(delta / 2) x d + w h / 2`` (``delta`` = centre of A minus centre of B), a quantity every frame
agrees on. So each pair costs a fixed amount of elementwise work (8 edges x 4 half-planes): no
candidate vertices, no sort, no loop, and the result is differentiable almost everywhere in
the five parameters of both boxes. It is the same area as spec section 3.2/3.3's clipping
(24 candidate vertices, angular sort, shoelace).

Coincident edges (identical or nested boxes sharing a side, boxes touching along a side) would
be counted twice or in a random way by floating point, so an edge of A lying on a side line of
B (both ends within ``1e-10`` of the pair's scale, float64) is decided once for both boxes: it
belongs to A's part when the two boxes are on the same side of the line, and to neither part
when they are on opposite sides (a contact of zero area); B's copy of it never counts.

Computations run in float64 whatever the input dtype (results are returned in the input's
floating dtype). :func:`rotated_iou` skips pairs whose circumscribed circles are apart (IoU 0
exactly) and evaluates the others in chunks of bounded memory.

NMS follows mmcv's ``nms_rotated`` / ``batched_nms`` (spec section 3.4): greedy by descending
score, a box is suppressed when its IoU with a kept box of the same class is ``>= threshold``;
class-aware NMS groups by class exactly (no coordinate-offset trick, so huge full-image
coordinates lose no precision). The greedy machinery is the axis-aligned NMS's
(:func:`yoloxkit.ops.nms.greedy_nms`).
"""

from __future__ import annotations

import torch

from .nms import greedy_nms

#: Pairs evaluated at once by :func:`rotated_iou` (each pair holds ~100 float64 temporaries).
_CHUNK_PAIRS = 1 << 15
#: Relative distance under which an edge counts as lying on the other box's side line.
_COINCIDENT_TOLERANCE = 1e-10
#: Relative edge-vector component under which an edge counts as parallel to a slab.
_PARALLEL_TOLERANCE = 1e-13


def _check(boxes: torch.Tensor, name: str) -> None:
    if boxes.ndim != 2 or boxes.shape[1] != 5:
        raise ValueError(
            f"{name} must be rboxes [N, 5] (cx, cy, w, h, angle), got shape {tuple(boxes.shape)}"
        )


def _in_other_frame(
    dx: torch.Tensor,
    dy: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    size: torch.Tensor,
    other: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One box seen from the other box's frame, where the other box is ``|x| <= W, |y| <= H``.

    ``(dx, dy)``: its centre in the other's frame; ``(cos, sin)``: its angle relative to the
    other; ``size``/``other``: ``(w, h)`` of it / of the other, ``[..., 2]``. Corners are
    ``(+w/2, +h/2), (-w/2, +h/2), (-w/2, -h/2), (+w/2, -h/2)`` (counter-clockwise), edge ``k``
    runs from corner ``k`` to ``k + 1``. Returns the corner coordinates ``x, y [..., 5]`` (first
    corner repeated), the edge vectors ``ex, ey [..., 4]`` and ``k [..., 4]``, the
    Green's-theorem weight ``p x d`` of each edge (origin at the midpoint of the centres).
    """
    half_w, half_h = size[..., 0] / 2, size[..., 1] / 2
    wx, wy = cos * half_w, sin * half_w  # half-width vector
    hx, hy = -sin * half_h, cos * half_h  # half-height vector
    signs = ((1.0, 1.0), (-1.0, 1.0), (-1.0, -1.0), (1.0, -1.0), (1.0, 1.0))
    x = torch.stack([dx + a * wx + b * hx for a, b in signs], -1)
    y = torch.stack([dy + a * wy + b * hy for a, b in signs], -1)
    edge_x = torch.stack([-wx, -hx, wx, hx], -1) * 2
    edge_y = torch.stack([-wy, -hy, wy, hy], -1) * 2
    cross_w, cross_h = dx * wy - dy * wx, dx * hy - dy * hx  # delta x half-vectors
    k = torch.stack([-cross_w, -cross_h, cross_w, cross_h], -1) + (
        size[..., 0] * size[..., 1] / 2
    ).unsqueeze(-1)
    return x, y, edge_x, edge_y, k


def _slab(
    start: torch.Tensor, step: torch.Tensor, half: torch.Tensor, tiny: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Parameter interval ``[lo, hi]`` of ``start + t * step`` inside ``[-half, half]`` (Liang-Barsky).

    A step below ``tiny`` (an edge parallel to the slab) is replaced by ``tiny``: the interval is
    then everything or nothing, as it should, unless the edge lies on the slab's line (handled by
    the caller).
    """
    inverse = 1 / torch.where(step.abs() > tiny, step, tiny)
    t_plus, t_minus = (half - start) * inverse, (-half - start) * inverse
    return torch.minimum(t_plus, t_minus), torch.maximum(t_plus, t_minus)


def _on_lines(
    coordinate: torch.Tensor, half: torch.Tensor, tol: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Edges ``[..., 4]`` lying on the line ``+half`` / ``-half`` (both ends within ``tol``)."""
    plus, minus = (coordinate - half).abs() <= tol, (coordinate + half).abs() <= tol
    return plus[..., :-1] & plus[..., 1:], minus[..., :-1] & minus[..., 1:]


def _lengths(
    x: torch.Tensor,
    y: torch.Tensor,
    edge_x: torch.Tensor,
    edge_y: torch.Tensor,
    other: torch.Tensor,
    tiny: torch.Tensor,
    fixed_x: torch.Tensor,
    fixed_y: torch.Tensor,
) -> torch.Tensor:
    """Parameter length ``[..., 4]`` of each edge inside the other box ``|x| <= W, |y| <= H``.

    ``fixed_x``/``fixed_y`` (0 computed, 1 no constraint, -1 empty) override one slab per edge.
    """
    lo_x, hi_x = _slab(x[..., :-1], edge_x, other[..., 0, None] / 2, tiny)
    lo_y, hi_y = _slab(y[..., :-1], edge_y, other[..., 1, None] / 2, tiny)
    lo_x, hi_x = (
        torch.where(fixed_x != 0, (fixed_x < 0).to(x.dtype), lo_x),
        torch.where(fixed_x != 0, (fixed_x > 0).to(x.dtype), hi_x),
    )
    lo_y, hi_y = (
        torch.where(fixed_y != 0, (fixed_y < 0).to(x.dtype), lo_y),
        torch.where(fixed_y != 0, (fixed_y > 0).to(x.dtype), hi_y),
    )
    lo = torch.maximum(lo_x, lo_y).clamp(min=0)
    hi = torch.minimum(hi_x, hi_y).clamp(max=1)
    return (hi - lo).clamp(min=0)


def _intersection(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Intersection area of aligned float64 rboxes ``[..., 5]`` (broadcast), differentiable."""
    dx, dy = a[..., 0] - b[..., 0], a[..., 1] - b[..., 1]
    cos_a, sin_a = torch.cos(a[..., 4]), torch.sin(a[..., 4])
    cos_b, sin_b = torch.cos(b[..., 4]), torch.sin(b[..., 4])
    turn = a[..., 4] - b[..., 4]
    cos_t, sin_t = torch.cos(turn), torch.sin(turn)
    size_a, size_b = a[..., 2:4], b[..., 2:4]
    # A in B's frame (rotate delta by -theta_b) and B in A's frame (rotate -delta by -theta_a).
    centre_ax, centre_ay = cos_b * dx + sin_b * dy, -sin_b * dx + cos_b * dy
    xa, ya, exa, eya, ka = _in_other_frame(
        centre_ax, centre_ay, cos_t, sin_t, size_a, size_b
    )
    xb, yb, exb, eyb, kb = _in_other_frame(
        -(cos_a * dx + sin_a * dy),
        sin_a * dx - cos_a * dy,
        cos_t,
        -sin_t,
        size_b,
        size_a,
    )
    with torch.no_grad():
        scale = (dx.abs() + dy.abs() + size_a.sum(-1) + size_b.sum(-1)).unsqueeze(-1)
        tol, tiny = scale * _COINCIDENT_TOLERANCE, scale * _PARALLEL_TOLERANCE
        half_w, half_h = size_b[..., 0, None] / 2, size_b[..., 1, None] / 2
        # Edges of A on a side line of B: kept whole when A is on the inner side, else dropped.
        plus_x, minus_x = _on_lines(xa, half_w, tol)
        plus_y, minus_y = _on_lines(ya, half_h, tol)
        inner_x = (plus_x & (centre_ax < half_w[..., 0]).unsqueeze(-1)) | (
            minus_x & (centre_ax > -half_w[..., 0]).unsqueeze(-1)
        )
        inner_y = (plus_y & (centre_ay < half_h[..., 0]).unsqueeze(-1)) | (
            minus_y & (centre_ay > -half_h[..., 0]).unsqueeze(-1)
        )
        fixed_x = torch.where(
            plus_x | minus_x, torch.where(inner_x, 1.0, -1.0), 0.0
        ).to(dx.dtype)
        fixed_y = torch.where(
            plus_y | minus_y, torch.where(inner_y, 1.0, -1.0), 0.0
        ).to(dx.dtype)
        # B's copy of such an edge (B's side order: +y, -x, -y, +x) never counts.
        coincident_b = torch.stack(
            [plus_y.any(-1), minus_x.any(-1), minus_y.any(-1), plus_x.any(-1)], -1
        )
        no_fix = torch.zeros_like(fixed_x)
    length_a = _lengths(xa, ya, exa, eya, size_b, tiny, fixed_x, fixed_y)
    length_b = _lengths(xb, yb, exb, eyb, size_a, tiny, no_fix, no_fix).masked_fill(
        coincident_b, 0.0
    )
    area = (length_a * ka).sum(-1) + (length_b * kb).sum(-1)
    return (area / 2).clamp(min=0)


def _iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of aligned rboxes (broadcast), float64, differentiable; 0 where the union is empty."""
    inter = _intersection(a, b)
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    nonempty = union > 0
    return torch.where(
        nonempty,
        inter / torch.where(nonempty, union, torch.ones_like(union)),
        torch.zeros_like(union),
    )


def _float_dtype(*tensors: torch.Tensor) -> torch.dtype:
    dtype = torch.promote_types(tensors[0].dtype, tensors[-1].dtype)
    return dtype if dtype.is_floating_point else torch.float32


def rotated_iou_aligned(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU ``[K]`` of matched rbox pairs ``a[k]``, ``b[k]`` (``[K, 5]`` each), differentiable.

    Exact (polygon clipping, see the module docstring), computed in float64 and returned in the
    inputs' dtype; gradients reach the centre, size and angle of both boxes. Used by the rotated
    IoU loss (``1 - IoU^2``).
    """
    _check(a, "a")
    _check(b, "b")
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"aligned IoU needs as many boxes in a as in b, got {a.shape[0]} and {b.shape[0]}"
        )
    return _iou(a.double(), b.double()).to(_float_dtype(a, b))


@torch.no_grad()
def rotated_iou_matched(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact IoU ``[K]`` of matched rbox pairs (``[K, 5]`` each) without gradient, in bounded memory.

    Pairs whose circumscribed circles do not meet are 0 without computation; the others are
    evaluated ``_CHUNK_PAIRS`` at a time (float64 inside, inputs' dtype out). Used for SimOTA's
    (valid anchors x ground truths) IoUs.
    """
    _check(a, "a")
    _check(b, "b")
    a64, b64 = a.double(), b.double()
    reach = (torch.hypot(a64[:, 2], a64[:, 3]) + torch.hypot(b64[:, 2], b64[:, 3])) / 2
    near = torch.nonzero(
        torch.hypot(a64[:, 0] - b64[:, 0], a64[:, 1] - b64[:, 1]) <= reach
    ).squeeze(1)
    out = torch.zeros(a.shape[0], dtype=torch.float64, device=a.device)
    for start in range(0, near.shape[0], _CHUNK_PAIRS):
        pairs = near[start : start + _CHUNK_PAIRS]
        out[pairs] = _iou(a64[pairs], b64[pairs])
    return out.clamp_(max=1.0).to(_float_dtype(a, b))


@torch.no_grad()
def rotated_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact pairwise IoU ``[N, M]`` of rboxes ``a [N, 5]`` and ``b [M, 5]`` (no gradient).

    Only pairs whose circumscribed circles meet are evaluated (:func:`rotated_iou_matched`).
    """
    _check(a, "a")
    _check(b, "b")
    a64, b64 = a.double(), b.double()
    radius_a = torch.hypot(a64[:, 2], a64[:, 3]) / 2
    radius_b = torch.hypot(b64[:, 2], b64[:, 3]) / 2
    gap = torch.cdist(
        a64[:, :2], b64[:, :2], compute_mode="donot_use_mm_for_euclid_dist"
    )
    rows, cols = torch.nonzero(
        gap <= radius_a[:, None] + radius_b[None, :], as_tuple=True
    )
    out = torch.zeros(a.shape[0], b.shape[0], dtype=_float_dtype(a, b), device=a.device)
    out[rows, cols] = rotated_iou_matched(a64[rows], b64[cols]).to(out.dtype)
    return out


def batched_rotated_nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    classes: torch.Tensor,
    iou_threshold: float,
) -> torch.Tensor:
    """Class-aware rotated NMS; kept indices sorted by descending score.

    A box is dropped when its exact rotated IoU with a higher-scored kept box of the same class
    is ``>= iou_threshold`` (mmcv's ``nms_rotated``; the reference uses 0.1).
    """
    _check(boxes, "boxes")
    return greedy_nms(
        boxes,
        scores,
        classes,
        lambda rows, cols: rotated_iou(rows, cols) >= iou_threshold,
    )


def rotated_nms(
    boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """Class-agnostic rotated NMS; kept indices sorted by descending score (see :func:`batched_rotated_nms`)."""
    classes = torch.zeros(boxes.shape[0], dtype=torch.int64, device=boxes.device)
    return batched_rotated_nms(boxes, scores, classes, iou_threshold)
