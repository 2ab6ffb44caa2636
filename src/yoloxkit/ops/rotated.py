"""Rotated-box IoU (exact and differentiable) and rotated NMS in plain PyTorch, CPU and GPU.

Boxes are rboxes ``(cx, cy, w, h, angle)``, angle in radians (le90 or not: every result here
is invariant to ``angle + pi`` and to ``(w, h, angle) -> (h, w, angle + pi/2)``).

Intersection area without vertex sorting
----------------------------------------
The boundary of the intersection of two convex polygons A and B is made of the parts of A's
edges inside B and the parts of B's edges inside A. Each part is one segment, found by clipping
the edge against the other rectangle's two slabs ``|x| <= W``, ``|y| <= H`` in that rectangle's
own frame (Liang-Barsky); Green's theorem turns each segment ``P(t0) -> P(t1)`` of an edge
``P(t) = p + t d`` into ``(t1 - t0) * (p x d) / 2`` and the sum of those terms is the area.
With the origin at the midpoint of the two centres, ``p x d`` of an edge of A is
``+-(c x u) + w h / 2`` (``c`` = A's centre in B's frame, ``u`` its half-width or half-height
vector), a quantity every frame agrees on. So each pair costs a fixed amount of elementwise work
(8 edges x 2 slabs): no candidate vertices, no sort, no loop, and the result is differentiable
almost everywhere in the five parameters of both boxes. It is the same area as spec section
3.2/3.3's clipping (24 candidate vertices, angular sort, shoelace).

Per box, ``cos``/``sin`` of the angle are computed once (:func:`_box_table`); per pair, the two
frames need only the relative angle's ``cos``/``sin`` (products of the boxes' ones). One
coordinate of an edge, ``start + t * step``, is inside a slab ``|x| <= W`` for ``t`` between
``(W - start) / step`` and ``(-W - start) / step``; the numerators of all 8 edges x 2 slabs
are one small matrix product of the centres, half-side vectors and slab sizes
(:data:`_TO_SLAB`).

Coincident edges (identical or nested boxes sharing a side, boxes touching along a side) would
be counted twice or in a random way by floating point, so an edge of A lying on a side line of
B (both ends within ``1e-10`` of the pair's scale, float64) is decided once for both boxes: it
belongs to A's part when the two boxes are on the same side of the line, and to neither part
when they are on opposite sides (a contact of zero area); B's copy of it never counts. Only
pairs with an edge (nearly) parallel to a side of the other box can have such edges, so the
no-gradient path (:func:`rotated_iou`, :func:`rotated_iou_matched`) runs this "careful" variant
only for them; for every other pair it would change nothing.

Computations run in float64 whatever the input dtype (results are returned in the input's
floating dtype). The no-gradient path decides most pairs without clipping, exactly: pairs whose
circumscribed circles are apart, and pairs separated along one of the four box axes
(separating-axis theorem), have IoU 0; a box inside the other (its extent along both of the
other's axes fits) has IoU ``small area / big area``. Only the remaining pairs are clipped, in
chunks of bounded memory.

NMS follows mmcv's ``nms_rotated`` / ``batched_nms`` (spec section 3.4): greedy by descending
score, a box is suppressed when its IoU with a kept box of the same class is ``>= threshold``;
class-aware NMS groups by class exactly (no coordinate-offset trick, so huge full-image
coordinates lose no precision). The greedy machinery is the axis-aligned NMS's
(:func:`yoloxkit.ops.nms.greedy_nms`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .nms import greedy_nms

#: Pairs clipped at once on the CPU (sized for the per-core cache: ~150 float64 temporaries per
#: pair) and on GPUs (~300 MB of temporaries).
_CHUNK_PAIRS_CPU = 1 << 13
_CHUNK_PAIRS_GPU = 1 << 18
#: Relative distance under which an edge counts as lying on the other box's side line.
_COINCIDENT_TOLERANCE = 1e-10
#: Relative edge-vector component under which an edge counts as parallel to a slab.
_PARALLEL_TOLERANCE = 1e-13
#: Pairs whose smallest edge-vector component exceeds this many coincidence tolerances have no
#: edge on a side line of the other box: they are clipped without the coincident-edge rules.
_GENERIC_MARGIN = 10.0
#: Corner ``k`` of a box is ``centre + a_k * half-width vector + b_k * half-height vector``
#: (counter-clockwise); edge ``k`` runs from corner ``k`` to corner ``k + 1``.
_CORNER_SIGNS = ((1.0, -1.0, -1.0, 1.0), (1.0, 1.0, -1.0, -1.0))


def _start_matrix() -> torch.Tensor:
    """``[8, 4]``: ``(W - x_k, -W - x_k)`` for the start coordinate ``x_k`` of the four edges.

    Columns are one coordinate of the box centre ``c``, of its half-width vector ``u`` and
    half-height vector ``v``, and the slab's half-size ``W``; edge ``k`` starts at corner ``k``
    (:data:`_CORNER_SIGNS`).
    """
    rows = [
        (-1.0, -a, -b, side) for side in (1.0, -1.0) for a, b in zip(*_CORNER_SIGNS)
    ]
    return torch.tensor(rows, dtype=torch.float64)


_TO_SLAB = _start_matrix()


class _Frames(NamedTuple):
    """Each box of a pair seen from the other box's frame, rows ``(A in B: x, y; B in A: x, y)``.

    ``centre``, ``along_w``, ``along_h`` ``[4, P]``: the box's centre (origin: the other box's
    centre), half-width and half-height vectors; ``half`` ``[4, P]``: half-sizes of the
    clipping box, which is ``|x| <= half[0 or 2]``, ``|y| <= half[1 or 3]`` in its own frame;
    ``area`` ``[2, P]``: areas of A and B; ``scale`` ``[P]``: size of the pair, for the
    relative tolerances.
    """

    centre: torch.Tensor
    along_w: torch.Tensor
    along_h: torch.Tensor
    half: torch.Tensor
    area: torch.Tensor
    scale: torch.Tensor

    def take(self, index: torch.Tensor) -> _Frames:
        """The pairs at ``index``."""
        return _Frames(*(values.index_select(-1, index) for values in self))


def _check(boxes: torch.Tensor, name: str) -> None:
    if boxes.ndim != 2 or boxes.shape[1] != 5:
        raise ValueError(
            f"{name} must be rboxes [N, 5] (cx, cy, w, h, angle), got shape {tuple(boxes.shape)}"
        )


def _box_table(boxes: torch.Tensor) -> torch.Tensor:
    """Per box ``[N, 7]``: ``cx, cy, cos, sin, w / 2, h / 2, w * h`` (differentiable)."""
    angle = boxes[:, 4]
    return torch.stack(
        [boxes[:, 0], boxes[:, 1], torch.cos(angle), torch.sin(angle), boxes[:, 2] / 2,
         boxes[:, 3] / 2, boxes[:, 2] * boxes[:, 3]],
        1,
    )  # fmt: skip


def _frames(table_a: torch.Tensor, table_b: torch.Tensor) -> _Frames:
    """Frames of aligned pairs of :func:`_box_table` rows ``[P, 7]``."""
    xa, ya, cos_a, sin_a, wa, ha, area_a = table_a.unbind(1)
    xb, yb, cos_b, sin_b, wb, hb, area_b = table_b.unbind(1)
    dx, dy = xa - xb, ya - yb
    # cos and sin of the relative angle (A's minus B's).
    cos_t, sin_t = cos_a * cos_b + sin_a * sin_b, sin_a * cos_b - cos_a * sin_b
    centre = torch.stack(
        [cos_b * dx + sin_b * dy, cos_b * dy - sin_b * dx, -(cos_a * dx + sin_a * dy), sin_a * dx - cos_a * dy]
    )  # fmt: skip
    along_w = torch.stack([wa * cos_t, wa * sin_t, wb * cos_t, -wb * sin_t])
    along_h = torch.stack([-ha * sin_t, ha * cos_t, hb * sin_t, hb * cos_t])
    half = torch.stack([wb, hb, wa, ha])
    scale = dx.abs() + dy.abs() + 2 * (wa + ha + wb + hb)
    return _Frames(centre, along_w, along_h, half, torch.stack([area_a, area_b]), scale)


def _coincident_edges(
    frames: _Frames, lo: torch.Tensor, hi: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Apply the coincident-edge rules to the slab intervals ``lo, hi [4 edges, 4, P]``.

    An edge of A on a side line of B gets that slab's interval ``[0, 1]`` when A is on the inner
    side, else an empty one. Returns the new intervals and ``[4, P]``: B's edges to drop.
    """
    centre, half = frames.centre[:2], frames.half[:2]
    tol = frames.scale * _COINCIDENT_TOLERANCE
    signs_w, signs_h = (
        torch.tensor(signs, dtype=centre.dtype, device=centre.device)[:, None, None]
        for signs in _CORNER_SIGNS
    )
    # A's corners in B's frame, [4 corners, (x, y), P].
    corners = centre + signs_w * frames.along_w[:2] + signs_h * frames.along_h[:2]
    at_plus, at_minus = (corners - half).abs() <= tol, (corners + half).abs() <= tol
    plus, minus = at_plus & at_plus.roll(-1, 0), at_minus & at_minus.roll(-1, 0)
    inner = (plus & (centre < half)) | (minus & (centre > -half))
    on_line = plus | minus
    outer = (~inner).to(lo.dtype)
    lo = torch.cat([torch.where(on_line, outer, lo[:, :2]), lo[:, 2:]], 1)
    hi = torch.cat([torch.where(on_line, 1 - outer, hi[:, :2]), hi[:, 2:]], 1)
    # B's copy of such an edge (B's edges are its +y, -x, -y, +x sides) never counts.
    dropped_b = torch.stack(
        [plus[:, 1].any(0), minus[:, 0].any(0), minus[:, 1].any(0), plus[:, 0].any(0)]
    )
    return lo, hi, dropped_b


def _clipped_area(frames: _Frames, careful: bool) -> torch.Tensor:
    """Intersection area ``[P]`` by edge clipping and Green's theorem (differentiable).

    ``careful`` applies the coincident-edge rules and guards steps parallel to a slab; without
    it every edge-vector component must be clearly non-zero (see :data:`_GENERIC_MARGIN`).
    """
    centre, along_w, along_h = frames[:3]
    if careful:
        # Clamped above 0: two zero-size boxes at one centre have scale 0 (IoU 0, finite gradient).
        tiny = (frames.scale * _PARALLEL_TOLERANCE).clamp(min=torch.finfo(frames.scale.dtype).tiny)
        inv_w = 0.5 / torch.where(along_w.abs() > tiny, along_w, tiny)
        inv_h = 0.5 / torch.where(along_h.abs() > tiny, along_h, tiny)
    else:
        inv_w, inv_h = 0.5 / along_w, 0.5 / along_h
    # 1 / (edge step) and W - start, -W - start: [4 edges, (A in B: x, y; B in A: x, y), P].
    steps = torch.stack([-inv_w, -inv_h, inv_w, inv_h])
    to_slab = _TO_SLAB.to(centre.device) @ torch.stack(frames[:4]).view(4, -1)
    crossing = to_slab.view(2, 4, 4, -1) * steps  # t where the edge meets x = W, x = -W
    lo = torch.minimum(crossing[0], crossing[1])
    hi = torch.maximum(crossing[0], crossing[1])
    if careful:
        lo, hi, dropped_b = _coincident_edges(frames, lo, hi)
    lo = torch.maximum(lo[:, 0::2], lo[:, 1::2]).clamp(min=0)
    hi = torch.minimum(hi[:, 0::2], hi[:, 1::2]).clamp(max=1)
    # Parameter length of each edge inside the other box, [4 edges, (A, B), P].
    length = (hi - lo).clamp(min=0)
    if careful:
        length = torch.stack(
            [length[:, 0], length[:, 1].masked_fill(dropped_b, 0.0)], 1
        )
    cross_w = centre[0::2] * along_w[1::2] - centre[1::2] * along_w[0::2]
    cross_h = centre[0::2] * along_h[1::2] - centre[1::2] * along_h[0::2]
    twice = (
        length.sum(0) * frames.area / 2
        + (length[2] - length[0]) * cross_w
        + (length[3] - length[1]) * cross_h
    ).sum(0)
    return (twice / 2).clamp(min=0)


def _decided_intersection(frames: _Frames) -> torch.Tensor:
    """Intersection area ``[P]`` (no gradient), deciding separated and nested pairs without clipping."""
    abs_w, abs_h = frames.along_w.abs(), frames.along_h.abs()
    extent = abs_w + abs_h
    gap = frames.centre.abs() - frames.half  # [4, P]
    out_of = gap > extent  # separated along that axis
    fits = gap <= -extent  # inside the slab
    separated = (out_of[0] | out_of[1]) | (out_of[2] | out_of[3])
    a_inside, b_inside = fits[0] & fits[1], fits[2] & fits[3]
    inter = torch.where(
        a_inside, frames.area[0], torch.where(b_inside, frames.area[1], 0.0)
    )
    clip = ~(separated | a_inside | b_inside)
    parallel = torch.minimum(abs_w, abs_h) <= frames.scale * (
        _COINCIDENT_TOLERANCE * _GENERIC_MARGIN
    )
    parallel = (parallel[0] | parallel[1]) | (parallel[2] | parallel[3])
    for subset, careful in ((clip & ~parallel, False), (clip & parallel, True)):
        index = torch.nonzero(subset).squeeze(1)
        if index.numel():
            inter[index] = _clipped_area(frames.take(index), careful)
    return inter


def _ratio(inter: torch.Tensor, area: torch.Tensor) -> torch.Tensor:
    """IoU from the intersection ``[P]`` and the areas ``[2, P]``; 0 where the union is empty."""
    union = area[0] + area[1] - inter
    nonempty = union > 0
    return torch.where(
        nonempty,
        inter / torch.where(nonempty, union, torch.ones_like(union)),
        torch.zeros_like(union),
    )


def _iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of aligned float64 rboxes ``[..., 5]`` (broadcast), differentiable, every pair clipped
    with the coincident-edge rules."""
    a, b = torch.broadcast_tensors(a, b)
    frames = _frames(_box_table(a.reshape(-1, 5)), _box_table(b.reshape(-1, 5)))
    return _ratio(_clipped_area(frames, careful=True), frames.area).view(a.shape[:-1])


@torch.no_grad()
def _iou_of_pairs(
    table_a: torch.Tensor, table_b: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor
) -> torch.Tensor:
    """IoU ``[P]`` of the pairs ``(rows[i], cols[i])`` of two box tables, in chunks (no gradient)."""
    out = torch.zeros(rows.shape[0], dtype=torch.float64, device=rows.device)
    chunk = _CHUNK_PAIRS_CPU if rows.device.type == "cpu" else _CHUNK_PAIRS_GPU
    for start in range(0, rows.shape[0], chunk):
        end = start + chunk
        frames = _frames(
            table_a.index_select(0, rows[start:end]),
            table_b.index_select(0, cols[start:end]),
        )
        out[start:end] = _ratio(_decided_intersection(frames), frames.area)
    return out.clamp_(max=1.0)


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
    decided or clipped in chunks (float64 inside, inputs' dtype out). Used for SimOTA's
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
    out[near] = _iou_of_pairs(_box_table(a64), _box_table(b64), near, near)
    return out.to(_float_dtype(a, b))


@torch.no_grad()
def rotated_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact pairwise IoU ``[N, M]`` of rboxes ``a [N, 5]`` and ``b [M, 5]`` (no gradient).

    Only pairs whose circumscribed circles meet are evaluated, as :func:`rotated_iou_matched`.
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
    out[rows, cols] = _iou_of_pairs(_box_table(a64), _box_table(b64), rows, cols).to(
        out.dtype
    )
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
