"""Precision/recall curves and PASCAL VOC average precision (Lecture 07).

Detections are scored and already judged true or false positive (IoU >= 0.5 with an unmatched
ground-truth box, as in the VOC devkit); boxes themselves do not appear here.
"""

from __future__ import annotations

import numpy as np
import torch

from cnncourse._validate import ArgumentError
from cnncourse.detection._checks import check_finite, check_tensor

__all__ = ["precision_recall", "voc_ap", "precision_envelope", "eleven_point_precision", "VOC07_RECALL_POINTS"]

# The 11 recall points of VOC2007 as py-faster-rcnn's voc_eval builds them (np.arange), so that
# recalls such as 3/10 compare the same way.
_VOC07_POINTS = np.arange(0.0, 1.1, 0.1)
VOC07_RECALL_POINTS = tuple(float(t) for t in _VOC07_POINTS)


def precision_recall(scores: torch.Tensor, is_tp: torch.Tensor,
                     num_gt: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Precision and recall after each detection, by decreasing score (Lecture 07).

    Args:
        scores (Tensor[K]): detection confidences (finite).
        is_tp (Tensor[bool, K]): whether each detection is a true positive.
        num_gt: number of (non-difficult) ground-truth boxes, >= 0.

    Returns:
        precision (Tensor[K]), recall (Tensor[K]): after the ``k`` best detections (stable sort,
        ties in input order); ``precision = tp / (tp + fp)``, ``recall = tp / num_gt`` (NaN if
        ``num_gt == 0``).
    """
    check_tensor("scores", scores, ndim=1, floating=True)
    check_tensor("is_tp", is_tp, ndim=1)
    if is_tp.shape != scores.shape:
        raise ArgumentError("is_tp", f"shape {tuple(scores.shape)} like `scores`", f"shape {tuple(is_tp.shape)}")
    check_finite("scores", scores)
    if int(num_gt) != num_gt or num_gt < 0:
        raise ArgumentError("num_gt", "a non-negative integer", num_gt)
    order = torch.sort(scores, descending=True, stable=True).indices
    tp = is_tp[order].to(scores.dtype).cumsum(0)  # (K,)
    fp = (1 - is_tp[order].to(scores.dtype)).cumsum(0)
    recall = tp / num_gt if num_gt > 0 else torch.full_like(tp, float("nan"))
    precision = tp / (tp + fp).clamp(min=torch.finfo(scores.dtype).eps)
    return precision, recall


def _check_curve(recall: torch.Tensor, precision: torch.Tensor) -> None:
    check_tensor("recall", recall, ndim=1, floating=True)
    check_tensor("precision", precision, ndim=1, floating=True)
    if recall.shape != precision.shape:
        raise ArgumentError("precision", f"shape {tuple(recall.shape)} like `recall`", f"shape {tuple(precision.shape)}")
    check_finite("recall", recall)
    check_finite("precision", precision)


def voc_ap(recall: torch.Tensor, precision: torch.Tensor, *, use_07_metric: bool = False) -> torch.Tensor:
    """Average precision from a precision/recall curve, VOC style (Lecture 07).

    ``use_07_metric=True``: VOC2007's 11-point mean of ``max(precision[recall >= t])`` for
    ``t = 0, 0.1, ..., 1`` (0 when no recall reaches ``t``). Otherwise (VOC2010+): the area under
    the precision envelope (precision made non-increasing from the right), summed where recall
    changes.

    Args:
        recall (Tensor[K]): non-decreasing recalls, as from :func:`precision_recall`.
        precision (Tensor[K]): precisions at the same ranks.

    Returns:
        Tensor[]: AP in ``[0, 1]`` (0 for an empty curve), on the input's device.
    """
    _check_curve(recall, precision)
    if use_07_metric:
        return eleven_point_precision(recall, precision).sum() / 11
    mrec, mpre = precision_envelope(recall, precision)
    step = mrec[1:] != mrec[:-1]  # (K + 1,)
    return ((mrec[1:] - mrec[:-1]) * mpre[1:] * step).sum()


def precision_envelope(recall: torch.Tensor, precision: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The interpolated P-R curve whose area is the all-point AP (Lecture 07).

    The curve is padded with ``(0, 0)`` in front and ``(1, 0)`` at the end, and precision is
    replaced by its running maximum from the right: ``p_interp(r) = max_{r' >= r} p(r')``.

    Args:
        recall (Tensor[K]), precision (Tensor[K]): a curve from :func:`precision_recall`.

    Returns:
        recall (Tensor[K + 2]), precision (Tensor[K + 2]): the padded envelope; the AP is
        ``sum((r[i + 1] - r[i]) * p[i + 1])``.
    """
    _check_curve(recall, precision)
    zero, one = recall.new_zeros(1), recall.new_ones(1)
    mrec = torch.cat([zero, recall, one])  # (K + 2,)
    mpre = torch.cat([zero, precision, zero])
    return mrec, mpre.flip(0).cummax(0).values.flip(0)


def eleven_point_precision(recall: torch.Tensor, precision: torch.Tensor) -> torch.Tensor:
    """``max(precision[recall >= t])`` at the VOC2007 points ``t = 0, 0.1, ..., 1`` (Lecture 07).

    Args:
        recall (Tensor[K]), precision (Tensor[K]): a curve from :func:`precision_recall`.

    Returns:
        Tensor[11]: the interpolated precisions (0 where no recall reaches ``t``); their mean is
        the 11-point AP.
    """
    _check_curve(recall, precision)
    t = torch.tensor(_VOC07_POINTS, dtype=recall.dtype, device=recall.device)  # (11,)
    if recall.numel() == 0:
        return torch.zeros_like(t)
    reach = recall[None, :] >= t[:, None]  # (11, K)
    return torch.where(reach, precision[None, :], torch.zeros_like(precision)[None, :]).amax(dim=1)
