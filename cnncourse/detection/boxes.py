"""Box formats, areas, IoU and GIoU, clipping (Lecture 07).

Box format: unless a function says otherwise, a box is ``(x1, y1, x2, y2)`` in absolute pixels
("xyxy"), with ``x1 <= x2`` and ``y1 <= y2``; a set of boxes is a float tensor ``Tensor[K, 4]``.
Widths are ``x2 - x1`` (continuous coordinates, no ``+ 1``), as in torchvision and COCO.
The other formats are ``xywh`` = ``(x1, y1, w, h)`` (COCO's ``bbox``) and ``cxcywh`` =
``(cx, cy, w, h)`` (YOLO, box coding). Every function keeps the input's device and dtype.
"""

from __future__ import annotations

import torch

from cnncourse._validate import ArgumentError
from cnncourse.detection._checks import check_tensor, check_xyxy

__all__ = ["box_convert", "box_area", "box_iou", "generalized_box_iou", "clip_boxes"]

_FORMATS = ("xyxy", "xywh", "cxcywh")


def _to_xyxy(boxes: torch.Tensor, fmt: str) -> torch.Tensor:
    a, b, c, d = boxes.unbind(-1)
    if fmt == "xywh":
        return torch.stack([a, b, a + c, b + d], dim=-1)
    if fmt == "cxcywh":
        return torch.stack([a - 0.5 * c, b - 0.5 * d, a + 0.5 * c, b + 0.5 * d], dim=-1)
    return boxes


def _from_xyxy(boxes: torch.Tensor, fmt: str) -> torch.Tensor:
    x1, y1, x2, y2 = boxes.unbind(-1)
    if fmt == "xywh":
        return torch.stack([x1, y1, x2 - x1, y2 - y1], dim=-1)
    if fmt == "cxcywh":
        return torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dim=-1)
    return boxes


def box_convert(boxes: torch.Tensor, in_fmt: str, out_fmt: str) -> torch.Tensor:
    """Convert boxes between ``"xyxy"``, ``"xywh"`` and ``"cxcywh"`` (Lecture 07).

    Args:
        boxes (Tensor[..., 4]): boxes in ``in_fmt``.
        in_fmt, out_fmt: one of ``"xyxy"`` (corners), ``"xywh"`` (top-left corner, width,
            height) or ``"cxcywh"`` (centre, width, height).

    Returns:
        Tensor[..., 4]: the same boxes in ``out_fmt`` (a copy when the formats differ).
    """
    for name, fmt in (("in_fmt", in_fmt), ("out_fmt", out_fmt)):
        if fmt not in _FORMATS:
            raise ArgumentError(name, f"one of {_FORMATS}", repr(fmt))
    check_tensor("boxes", boxes, last=4, floating=True)
    if in_fmt == out_fmt:
        return boxes.clone()
    return _from_xyxy(_to_xyxy(boxes, in_fmt), out_fmt)


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Area ``(x2 - x1) * (y2 - y1)`` of xyxy boxes (Lecture 07).

    Args:
        boxes (Tensor[..., 4]): boxes ``(x1, y1, x2, y2)``.

    Returns:
        Tensor[...]: the areas (zero for degenerate boxes).
    """
    check_xyxy("boxes", boxes)
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def _inter_union(boxes1: torch.Tensor, boxes2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(K, M) intersection and union areas; (K, M) planes per coordinate, cheaper than (K, M, 2)."""
    ax1, ay1, ax2, ay2 = boxes1.unbind(-1)  # (K,) each
    bx1, by1, bx2, by2 = boxes2.unbind(-1)  # (M,) each
    iw = (torch.minimum(ax2[:, None], bx2[None, :]) - torch.maximum(ax1[:, None], bx1[None, :])).clamp(min=0)
    ih = (torch.minimum(ay2[:, None], by2[None, :]) - torch.maximum(ay1[:, None], by1[None, :])).clamp(min=0)
    inter = iw * ih  # (K, M)
    area1 = (ax2 - ax1) * (ay2 - ay1)  # (K,)
    area2 = (bx2 - bx1) * (by2 - by1)  # (M,)
    union = area1[:, None] + area2[None, :] - inter
    return inter, union


def _iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """Unchecked pairwise IoU; 0 where the union is 0 (two empty boxes)."""
    inter, union = _inter_union(boxes1, boxes2)
    # inter <= union, so union == 0 implies inter == 0: 0 / 1 = 0 where the union is empty.
    return inter / union.masked_fill(union == 0, 1)


def box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """Pairwise intersection over union of two sets of xyxy boxes (Lecture 07).

    ``IoU(a, b) = |a n b| / |a u b|``; touching boxes have IoU 0, and a pair of zero-area boxes
    (union 0) is defined to have IoU 0 instead of NaN.

    Args:
        boxes1 (Tensor[K, 4]), boxes2 (Tensor[M, 4]): boxes ``(x1, y1, x2, y2)``.

    Returns:
        Tensor[K, M]: ``iou[i, j] = IoU(boxes1[i], boxes2[j])`` in ``[0, 1]``.
    """
    check_xyxy("boxes1", boxes1)
    check_xyxy("boxes2", boxes2)
    check_tensor("boxes1", boxes1, ndim=2)
    check_tensor("boxes2", boxes2, ndim=2)
    return _iou(boxes1, boxes2)


def generalized_box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """Pairwise generalized IoU ``IoU - |C \\ (a u b)| / |C|`` (C = smallest enclosing box) (Lecture 07).

    Args:
        boxes1 (Tensor[K, 4]), boxes2 (Tensor[M, 4]): boxes ``(x1, y1, x2, y2)``.

    Returns:
        Tensor[K, M]: GIoU in ``[-1, 1]``; differentiable; 0 where the enclosing box is empty.
    """
    check_xyxy("boxes1", boxes1)
    check_xyxy("boxes2", boxes2)
    check_tensor("boxes1", boxes1, ndim=2)
    check_tensor("boxes2", boxes2, ndim=2)
    inter, union = _inter_union(boxes1, boxes2)
    iou = torch.where(union > 0, inter / torch.where(union > 0, union, 1), 0)
    lt = torch.minimum(boxes1[:, None, :2], boxes2[None, :, :2])  # (K, M, 2)
    rb = torch.maximum(boxes1[:, None, 2:], boxes2[None, :, 2:])  # (K, M, 2)
    wh = (rb - lt).clamp(min=0)
    hull = wh[..., 0] * wh[..., 1]  # (K, M)
    penalty = torch.where(hull > 0, (hull - union) / torch.where(hull > 0, hull, 1), 0)
    return iou - penalty


def clip_boxes(boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Clip xyxy boxes to an image of ``size = (H, W)``: ``0 <= x <= W``, ``0 <= y <= H`` (Lecture 07).

    Args:
        boxes (Tensor[..., 4]): boxes ``(x1, y1, x2, y2)``.
        size: ``(H, W)`` of the image, in pixels.

    Returns:
        Tensor[..., 4]: clipped boxes (a new tensor).
    """
    check_tensor("boxes", boxes, last=4, floating=True)
    if not (isinstance(size, (tuple, list)) and len(size) == 2 and all(s >= 0 for s in size)):
        raise ArgumentError("size", "a pair (H, W) of non-negative numbers", repr(size))
    h, w = float(size[0]), float(size[1])
    x = boxes[..., 0::2].clamp(0, w)
    y = boxes[..., 1::2].clamp(0, h)
    return torch.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], dim=-1)
