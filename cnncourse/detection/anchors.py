"""Anchor boxes for region proposal networks and their matching to ground truth (Lecture 07).

Box format: ``(x1, y1, x2, y2)`` in absolute pixels of the input image, ``Tensor[K, 4]``.
Faster R-CNN places ``k = len(scales) * len(aspect_ratios)`` anchors (3 x 3 = 9) at every
feature-map location; the anchor of scale ``s`` and aspect ratio ``r = h / w`` has area ``s^2``,
so ``w = s / sqrt(r)`` and ``h = s * sqrt(r)``.
"""

from __future__ import annotations

from typing import Sequence

import torch

from cnncourse._validate import ArgumentError, as_pair
from cnncourse.detection._checks import check_tensor, check_xyxy
from cnncourse.detection.boxes import _iou

__all__ = ["make_anchors", "match_anchors", "BACKGROUND", "IGNORE"]

BACKGROUND = -1  # match value of a negative anchor (IoU below the low threshold)
IGNORE = -2  # match value of an anchor between the thresholds (not used for training)


def make_anchors(feature_size: int | tuple[int, int], stride: int | tuple[int, int], *,
                 scales: Sequence[float] = (128.0, 256.0, 512.0),
                 aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0), offset: float = 0.5,
                 device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """All anchors of a feature map, ``k = len(aspect_ratios) * len(scales)`` per location (Lecture 07).

    Location ``(i, j)`` (row ``i``, column ``j``) is centred at
    ``((j + offset) * stride_w, (i + offset) * stride_h)`` in image pixels.

    Args:
        feature_size: ``(H, W)`` of the feature map (an int means square).
        stride: image pixels per feature-map cell, int or ``(stride_h, stride_w)``.
        scales: anchor sizes ``sqrt(area)`` in pixels.
        aspect_ratios: ratios ``h / w``.
        offset: position of the centre inside a cell (0.5 = centre, 0 = top-left corner).
        device, dtype: of the result.

    Returns:
        Tensor[H * W * k, 4]: anchors ``(x1, y1, x2, y2)``, ordered by row ``i``, then column
        ``j``, then aspect ratio, then scale (index ``((i * W + j) * R + r) * S + s``).
    """
    h, w = as_pair("feature_size", feature_size, minimum=0)
    sh, sw = as_pair("stride", stride, minimum=1)
    scales, aspect_ratios = [float(s) for s in scales], [float(r) for r in aspect_ratios]
    if not scales or not aspect_ratios or min(scales + aspect_ratios) <= 0:
        raise ArgumentError("scales/aspect_ratios", "non-empty sequences of positive numbers",
                            f"{scales} / {aspect_ratios}")
    sc = torch.tensor(scales, dtype=dtype, device=device)  # (S,)
    ar = torch.tensor(aspect_ratios, dtype=dtype, device=device)  # (R,)
    ws = (sc[None, :] / torch.sqrt(ar)[:, None]).reshape(-1)  # (R * S,)
    hs = (sc[None, :] * torch.sqrt(ar)[:, None]).reshape(-1)  # (R * S,)
    base = torch.stack([-ws, -hs, ws, hs], dim=1) / 2  # (k, 4) centred at the origin
    cy = (torch.arange(h, dtype=dtype, device=device) + offset) * sh  # (H,)
    cx = (torch.arange(w, dtype=dtype, device=device) + offset) * sw  # (W,)
    yy, xx = torch.meshgrid(cy, cx, indexing="ij")  # (H, W) each
    centres = torch.stack([xx, yy, xx, yy], dim=-1).reshape(-1, 1, 4)  # (H * W, 1, 4)
    return (centres + base[None]).reshape(-1, 4)  # (H * W * k, 4)


def match_anchors(anchors: torch.Tensor, gt_boxes: torch.Tensor, *,
                  high_threshold: float = 0.7, low_threshold: float = 0.3,
                  allow_low_quality_matches: bool = True) -> torch.Tensor:
    """Assign each anchor a ground-truth index, ``BACKGROUND`` (-1) or ``IGNORE`` (-2) (Lecture 07).

    Faster R-CNN's rule (torchvision's ``Matcher``): with ``q`` the anchor's best IoU over the
    ground truth, the anchor is matched to its best box (first on ties) when ``q >= high``,
    background when ``q < low``, ignored otherwise. With ``allow_low_quality_matches``, every
    anchor that attains some box's highest IoU (all ties, IoU > 0) is matched to its best box
    even below ``high``, so that every ground-truth box gets at least one anchor.

    Args:
        anchors (Tensor[K, 4]): anchors ``(x1, y1, x2, y2)``.
        gt_boxes (Tensor[M, 4]): ground-truth boxes ``(x1, y1, x2, y2)``; ``M = 0`` is allowed.
        high_threshold, low_threshold: IoU thresholds, ``0 <= low <= high <= 1``.
        allow_low_quality_matches: keep the best anchor(s) of each ground-truth box.

    Returns:
        Tensor[int64, K]: ground-truth index in ``[0, M)``, or -1 / -2.
    """
    check_xyxy("anchors", anchors)
    check_tensor("anchors", anchors, ndim=2)
    check_xyxy("gt_boxes", gt_boxes)
    check_tensor("gt_boxes", gt_boxes, ndim=2)
    if not 0.0 <= low_threshold <= high_threshold <= 1.0:
        raise ArgumentError("low_threshold/high_threshold", "0 <= low <= high <= 1",
                            f"{low_threshold} / {high_threshold}")
    k = anchors.shape[0]
    if gt_boxes.shape[0] == 0:
        return torch.full((k,), BACKGROUND, dtype=torch.long, device=anchors.device)
    if k == 0:
        return torch.empty(0, dtype=torch.long, device=anchors.device)
    iou = _iou(anchors, gt_boxes)  # (K, M)
    best, matches = iou.max(dim=1)  # (K,), (K,): first maximum on ties
    result = matches.clone()
    result[best < high_threshold] = IGNORE
    result[best < low_threshold] = BACKGROUND
    if allow_low_quality_matches:
        best_per_gt = iou.max(dim=0).values  # (M,)
        is_best = ((iou == best_per_gt[None, :]) & (best_per_gt[None, :] > 0)).any(dim=1)  # (K,)
        result = torch.where(is_best, matches, result)
    return result
