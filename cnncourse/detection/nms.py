"""Non-maximum suppression (Lecture 07).

Box format: ``(x1, y1, x2, y2)`` in absolute pixels, ``Tensor[K, 4]``.

Conventions (the same as ``torchvision.ops.nms``):
- Boxes are visited in order of decreasing score; among equal scores the box with the lower
  index comes first (a stable sort).
- A box is suppressed when its IoU with an already kept box is strictly greater than
  ``iou_threshold``; IoU exactly equal to the threshold keeps both boxes.
- The result lists the kept indices in that visiting order: decreasing score, ties by index.
"""

from __future__ import annotations

import numpy as np
import torch

from cnncourse._validate import ArgumentError
from cnncourse.detection._checks import check_finite, check_tensor, check_xyxy
from cnncourse.detection.boxes import _iou

__all__ = ["nms", "batched_nms", "nms_steps"]

_BLOCK = 256  # rows of the IoU matrix computed at once


def _check_inputs(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> float:
    check_xyxy("boxes", boxes)
    check_tensor("boxes", boxes, ndim=2)
    check_tensor("scores", scores, ndim=1)
    if scores.shape[0] != boxes.shape[0]:
        raise ArgumentError("scores", f"one score per box, shape ({boxes.shape[0]},)",
                            f"shape {tuple(scores.shape)}")
    check_finite("scores", scores)
    thr = float(iou_threshold)
    if not 0.0 <= thr <= 1.0:
        raise ArgumentError("iou_threshold", "a number in [0, 1]", iou_threshold)
    return thr


def _greedy(over: np.ndarray) -> list[int]:
    """Greedy pass over a (K, K) boolean 'suppresses' matrix already in visiting order."""
    removed = np.zeros(over.shape[0], dtype=bool)
    keep = []
    for i in range(over.shape[0]):
        if removed[i]:
            continue
        keep.append(i)
        removed |= over[i]
    return keep


def _nms(boxes: torch.Tensor, scores: torch.Tensor, thr: float,
         labels: torch.Tensor | None) -> torch.Tensor:
    if boxes.shape[0] == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    order = torch.sort(scores, descending=True, stable=True).indices  # (K,)
    b = boxes[order]
    lab = labels[order] if labels is not None else None
    k = b.shape[0]
    # over[i, j] (j > i): box i, visited first, suppresses box j. Row blocks against the later
    # boxes only (upper triangle), small enough to stay in cache. The greedy pass is sequential;
    # it runs on a CPU copy of the boolean matrix, as torchvision's CUDA kernel does with its
    # bit mask, and the indices go back to the input's device.
    over = np.zeros((k, k), dtype=bool)
    for s in range(0, k, _BLOCK):
        e = min(s + _BLOCK, k)
        block = _iou(b[s:e], b[s:]) > thr  # (e - s, k - s)
        if lab is not None:
            block &= lab[s:e, None] == lab[None, s:]
        over[s:e, s:] = block.cpu().numpy()
    keep = _greedy(over)  # entries left of the diagonal only touch boxes already visited
    return order[torch.as_tensor(keep, dtype=torch.long, device=boxes.device)]


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression (Lecture 07).

    Args:
        boxes (Tensor[K, 4]): boxes ``(x1, y1, x2, y2)``, ``x1 <= x2``, ``y1 <= y2``.
        scores (Tensor[K]): finite scores (NaN raises ``ValueError``).
        iou_threshold: a box is dropped when its IoU with a kept box is ``> iou_threshold``.

    Returns:
        Tensor[int64, L]: indices into ``boxes`` of the kept boxes, by decreasing score
        (ties: lower index first), on the input's device. Memory is O(K^2).
    """
    thr = _check_inputs(boxes, scores, iou_threshold)
    return _nms(boxes, scores, thr, None)


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
                iou_threshold: float) -> torch.Tensor:
    """Class-wise NMS: boxes suppress each other only when their labels are equal (Lecture 07).

    Unlike the coordinate-offset trick, the IoU values are not perturbed, so the threshold
    convention (suppress when IoU ``> iou_threshold``) holds exactly.

    Args:
        boxes (Tensor[K, 4]): boxes ``(x1, y1, x2, y2)``.
        scores (Tensor[K]): finite scores.
        labels (Tensor[K]): integer class (or image) index per box.
        iou_threshold: suppression threshold.

    Returns:
        Tensor[int64, L]: kept indices by decreasing score (ties: lower index first), all
        classes merged in that order.
    """
    thr = _check_inputs(boxes, scores, iou_threshold)
    check_tensor("labels", labels, ndim=1)
    if labels.shape[0] != boxes.shape[0]:
        raise ArgumentError("labels", f"one label per box, shape ({boxes.shape[0]},)",
                            f"shape {tuple(labels.shape)}")
    if labels.is_floating_point():
        raise ArgumentError("labels", "an integer tensor", f"dtype {labels.dtype}")
    return _nms(boxes, scores, thr, labels)


def nms_steps(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> list[dict]:
    """Greedy NMS one step at a time, for drawing it (Lecture 07); same result as :func:`nms`.

    At each step the highest-scoring remaining box (ties: lower index) is kept, and every other
    remaining box whose IoU with it is ``> iou_threshold`` is suppressed.

    Args:
        boxes (Tensor[K, 4]): boxes ``(x1, y1, x2, y2)``.
        scores (Tensor[K]): finite scores.
        iou_threshold: suppression threshold.

    Returns:
        One dict per step: ``keep`` (int, the kept index), ``remaining`` (list[int], the other
        candidates before the step, by decreasing score), ``iou`` (list[float], their IoU with the
        kept box) and ``suppressed`` (list[int], those removed). The ``keep`` values, in order,
        equal ``nms(boxes, scores, iou_threshold).tolist()``.
    """
    thr = _check_inputs(boxes, scores, iou_threshold)
    order = torch.sort(scores, descending=True, stable=True).indices.tolist()
    steps = []
    while order:
        best, rest = order[0], order[1:]
        iou = _iou(boxes[best:best + 1], boxes[rest])[0].tolist() if rest else []  # (len(rest),)
        gone = [i for i, v in zip(rest, iou) if v > thr]
        steps.append({"keep": best, "remaining": rest, "iou": iou, "suppressed": gone})
        order = [i for i, v in zip(rest, iou) if v <= thr]
    return steps
