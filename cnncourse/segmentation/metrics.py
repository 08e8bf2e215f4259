"""Confusion matrix, per-class IoU and Dice, and their means over classes (lecture 08).

Convention (scikit-learn's): ``cm[i, j]`` counts pixels of TRUE class ``i`` PREDICTED as ``j``. For
class ``c``: ``TP = cm[c, c]``, ``FN = row sum - TP``, ``FP = column sum - TP``, and

    IoU_c  = TP / (TP + FP + FN)          Dice_c = 2TP / (2TP + FP + FN) = 2 IoU_c / (1 + IoU_c)

**Absent classes.** A class missing from both the target and the prediction has
``TP + FP + FN = 0``: its IoU and Dice are undefined, returned as NaN, and LEFT OUT of the mean
(``nanmean`` over the classes that occur). A class present in only one of the two has IoU 0 and
counts. If no class occurs at all (an empty confusion matrix) the mean is NaN. Present classes
match ``sklearn.metrics.jaccard_score(..., average=None)`` / ``f1_score``; for an absent class
sklearn returns its ``zero_division`` value (0 or 1) instead of NaN, and a mean over its vector
would count that class (the reason for our convention: predicting nothing for an image without,
say, triangles should neither help nor hurt the triangle score).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnncourse._validate import ArgumentError, check_positive_int

__all__ = ["confusion_matrix", "dice_per_class", "iou_per_class", "mean_dice", "mean_iou",
           "segmentation_scores"]


def _labels(name: str, value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # torch tensor
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ArgumentError(name, "integer class labels", f"dtype {arr.dtype}")
    return arr


def confusion_matrix(target: Any, pred: Any, num_classes: int, *,
                     ignore_index: int | None = None) -> np.ndarray:
    """Count (true, predicted) label pairs over all pixels (lecture 08).

    Args:
        target: true labels, any shape (e.g. ``(N, H, W)``), integers in ``[0, K)`` or
            ``ignore_index``; numpy array or torch tensor.
        pred: predicted labels, same shape, in ``[0, K)``.
        num_classes: ``K``.
        ignore_index: target label whose pixels are not counted.

    Returns:
        ``(K, K)`` int64 array, rows = true class, columns = predicted class
        (``sklearn.metrics.confusion_matrix(target.ravel(), pred.ravel(), labels=range(K))``).
    """
    k = check_positive_int("num_classes", num_classes)
    t, p = _labels("target", target), _labels("pred", pred)
    if t.shape != p.shape:
        raise ArgumentError("pred", f"shape {t.shape} (the shape of `target`)", f"shape {p.shape}")
    keep = np.ones(t.shape, bool) if ignore_index is None else t != ignore_index
    t, p = t[keep].astype(np.int64), p[keep].astype(np.int64)
    for name, a in (("target", t), ("pred", p)):
        if a.size and (a.min() < 0 or a.max() >= k):
            raise ArgumentError(name, f"labels in [0, {k})", f"labels in [{a.min()}, {a.max()}]")
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def _check_cm(cm: Any) -> np.ndarray:
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or (cm < 0).any():
        raise ArgumentError("cm", "a square (K, K) matrix of non-negative counts", f"shape {cm.shape}")
    return cm.astype(np.float64)


def _tp_fp_fn(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tp = np.diag(cm)
    return tp, cm.sum(axis=0) - tp, cm.sum(axis=1) - tp


def iou_per_class(cm: Any) -> np.ndarray:
    """``(K,)`` IoU of each class from a confusion matrix; NaN for a class absent from both."""
    tp, fp, fn = _tp_fp_fn(_check_cm(cm))
    den = tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, tp / den, np.nan)


def dice_per_class(cm: Any) -> np.ndarray:
    """``(K,)`` Dice (F1) of each class from a confusion matrix; NaN for a class absent from both."""
    tp, fp, fn = _tp_fp_fn(_check_cm(cm))
    den = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, 2 * tp / den, np.nan)


def _nanmean(v: np.ndarray) -> float:
    return float(np.mean(v[~np.isnan(v)])) if (~np.isnan(v)).any() else float("nan")


def mean_iou(cm: Any) -> float:
    """Mean IoU over the classes that occur (absent classes left out; NaN if none occurs)."""
    return _nanmean(iou_per_class(cm))


def mean_dice(cm: Any) -> float:
    """Mean Dice over the classes that occur (absent classes left out; NaN if none occurs)."""
    return _nanmean(dice_per_class(cm))


def segmentation_scores(target: Any, pred: Any, num_classes: int, *,
                        ignore_index: int | None = None) -> dict[str, Any]:
    """Confusion matrix, per-class and mean IoU and Dice, and pixel accuracy in one call (lecture 08).

    Returns:
        dict with ``cm`` (K, K), ``iou`` (K,), ``dice`` (K,), ``mean_iou``, ``mean_dice`` and
        ``pixel_accuracy`` (trace / total, NaN when nothing is counted).
    """
    cm = confusion_matrix(target, pred, num_classes, ignore_index=ignore_index)
    total = cm.sum()
    return {"cm": cm, "iou": iou_per_class(cm), "dice": dice_per_class(cm), "mean_iou": mean_iou(cm),
            "mean_dice": mean_dice(cm),
            "pixel_accuracy": float(np.trace(cm) / total) if total else float("nan")}
