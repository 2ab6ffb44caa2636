"""Greedy non-maximum suppression in plain PyTorch, vectorised, CPU and GPU.

Semantics are torchvision's: boxes are visited by descending score and a box is dropped when
its IoU with an already kept box of the same group exceeds the threshold (strictly).
:func:`greedy_nms` is the same machinery for any box type and suppression rule (rotated NMS
uses it with ``IoU >= threshold``).

Algorithm: sort by (group, score), compare each box with the lower-scored boxes of
its own group in row chunks (memory O(chunk x group size)), and keep only the suppression
edges (i suppresses j). The greedy result is the unique fixed point of
``keep[j] = not any(keep[i] for edges i -> j)`` and is reached by iterating that rule from
"keep everything": after t rounds every box whose suppression chain has length <= t is
final, and chains are short in practice. Each round is one scatter over the edges.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

#: ``suppresses(rows, cols) -> [r, c]`` bool: row box ``i`` would suppress column box ``j``.
Suppression = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: Upper bound on IoU entries computed at once (rows x columns of one chunk) on the CPU, and on
#: a GPU, where each chunk costs kernel launches and a host synchronisation, so fewer and larger
#: chunks are faster (20,000 rotated boxes in 15 classes: 105 chunks at the CPU budget).
_CHUNK_ELEMENTS = 1 << 18
_CHUNK_ELEMENTS_GPU = 1 << 22


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU ``[..., n, m]`` of xyxy boxes ``[..., n, 4]`` and ``[..., m, 4]``.

    Leading dimensions broadcast (the in-graph NMS of exported models uses ``[B, K, 4]``);
    the arithmetic is torchvision's, in its order.
    """
    ax1, ay1, ax2, ay2 = (a[..., :, None, i] for i in range(4))
    bx1, by1, bx2, by2 = (b[..., None, :, i] for i in range(4))
    area_a = (ax2 - ax1) * (ay2 - ay1)
    area_b = (bx2 - bx1) * (by2 - by1)
    w = (torch.minimum(ax2, bx2) - torch.maximum(ax1, bx1)).clamp(min=0)
    h = (torch.minimum(ay2, by2) - torch.maximum(ay1, by1)).clamp(min=0)
    inter = w * h
    return inter / (area_a + area_b - inter)


def _row_chunks(group_sizes: list[int], budget: int) -> list[tuple[int, int, int]]:
    """Split sorted rows into (row_start, row_end, column_end) chunks.

    Rows only meet columns of their own group, so small groups are packed together while
    rows x columns stays under ``budget``, and a group too large for it is cut into
    row slices that each run to the end of that group.
    """
    chunks, start, end = [], 0, 0
    for size in group_sizes:
        if end > start and (end + size - start) ** 2 > budget:
            chunks.append((start, end, end))
            start = end
        end += size
        if size * size > budget:  # an oversize group, alone in [start, end)
            step = max(budget // size, 1)
            chunks.extend((r, min(r + step, end), end) for r in range(start, end, step))
            start = end
    if end > start:
        chunks.append((start, end, end))
    return chunks


def _suppression_edges(
    boxes: torch.Tensor, groups: torch.Tensor, suppresses: Suppression
) -> tuple[torch.Tensor, torch.Tensor]:
    """(src, dst) index pairs in sorted order where src outranks dst in the same group and suppresses it."""
    device = boxes.device
    _, counts = torch.unique_consecutive(groups, return_counts=True)
    srcs, dsts = [], []
    budget = _CHUNK_ELEMENTS if device.type == "cpu" else _CHUNK_ELEMENTS_GPU
    for r0, r1, c1 in _row_chunks(counts.tolist(), budget):
        overlapping = suppresses(boxes[r0:r1], boxes[r0:c1])
        rows = torch.arange(r0, r1, device=device)[:, None]
        cols = torch.arange(r0, c1, device=device)[None, :]
        mask = overlapping & (cols > rows) & (groups[r0:r1, None] == groups[None, r0:c1])
        src, dst = torch.nonzero(mask, as_tuple=True)
        srcs.append(src + r0)
        dsts.append(dst + r0)
    return torch.cat(srcs), torch.cat(dsts)


def greedy_nms(
    boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, suppresses: Suppression
) -> torch.Tensor:
    """Greedy NMS per group for any box type; kept indices sorted by descending score.

    ``suppresses(rows, cols)`` compares two slices of ``boxes`` (e.g. ``IoU > threshold``).
    """
    n = boxes.shape[0]
    if n == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes.device)
    by_score = torch.argsort(scores, descending=True, stable=True)
    order = by_score[torch.argsort(groups[by_score], stable=True)]
    src, dst = _suppression_edges(boxes[order], groups[order], suppresses)
    keep = torch.ones(n, dtype=torch.bool, device=boxes.device)
    while True:
        suppressed = torch.zeros_like(keep)
        suppressed[dst[keep[src]]] = True
        new_keep = ~suppressed
        if torch.equal(new_keep, keep):
            break
        keep = new_keep
    kept = order[keep]
    return kept[torch.argsort(scores[kept], descending=True, stable=True)]


def batched_nms(
    boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """Class-aware NMS of xyxy boxes; returns kept indices sorted by descending score."""
    return greedy_nms(boxes, scores, groups, lambda rows, cols: box_iou(rows, cols) > iou_threshold)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Class-agnostic NMS; returns kept indices sorted by descending score."""
    groups = torch.zeros(boxes.shape[0], dtype=torch.int64, device=boxes.device)
    return batched_nms(boxes, scores, groups, iou_threshold)
