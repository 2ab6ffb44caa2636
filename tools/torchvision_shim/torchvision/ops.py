"""torchvision.ops semantics (nms, batched_nms, box_iou) written plainly for tests."""

import torch


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    area1 = box_area(boxes1)
    area2 = box_area(boxes2)
    lt = torch.max(boxes1[:, None, :2], boxes2[:, :2])
    rb = torch.min(boxes1[:, None, 2:], boxes2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area1[:, None] + area2 - inter)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy NMS: visit boxes by descending score, drop those overlapping a kept box (IoU > thr)."""
    order = torch.argsort(scores, descending=True, stable=True).tolist()
    keep = []
    suppressed = set()
    for position, i in enumerate(order):
        if i in suppressed:
            continue
        keep.append(i)
        rest = order[position + 1 :]
        if not rest:
            break
        ious = box_iou(boxes[i : i + 1], boxes[rest])[0]
        for j, iou in zip(rest, ious.tolist()):
            if iou > iou_threshold:
                suppressed.add(j)
    return torch.tensor(keep, dtype=torch.int64)


def batched_nms(
    boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """Class-aware NMS: NMS inside each ``idxs`` group, result sorted by descending score."""
    keep = []
    for group in torch.unique(idxs).tolist():
        members = torch.nonzero(idxs == group).flatten()
        kept = nms(boxes[members], scores[members], iou_threshold)
        keep.append(members[kept])
    if not keep:
        return torch.empty(0, dtype=torch.int64)
    keep = torch.cat(keep)
    return keep[torch.argsort(scores[keep], descending=True, stable=True)]
