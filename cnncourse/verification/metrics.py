"""Face-verification metrics: ROC, AUC, 10-fold LFW accuracy, TAR@FAR, EER (Lecture 09).

Open-set verification (Lecture 09) compares a similarity score with a threshold: a pair is
declared "same identity" when ``score >= threshold``. Conventions, as in scikit-learn:

- ``labels`` Tensor[n_samples] of 0/1 or bool, 1 = same identity (genuine pair);
- ``scores`` Tensor[n_samples], higher = more likely the same identity. For distances pass
  ``-distances``;
- options are keyword-only; torch tensors and numpy arrays are accepted. Curves come back as
  tensors on ``scores``' device (numpy arrays when ``scores`` is numpy), rates in float64;
  single numbers come back as Python floats;
- degenerate-but-defined cases (no genuine or no impostor pair, including empty input) warn
  (``UndefinedMetricWarning``) and return NaN; bad input (wrong shape, mismatched lengths,
  NaN or infinite scores, non-binary labels) raises ``ValueError``.

FAR (false accept rate) is the false positive rate over impostor pairs, TAR (true accept rate)
the true positive rate over genuine pairs, and FRR = 1 - TAR.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple, Sequence

import numpy as np
import torch

from cnncourse._validate import ArgumentError, check_positive_int
from cnncourse.verification._checks import _as_tensor, _check_binary_scores, _to_output

__all__ = [
    "UndefinedMetricWarning",
    "VerificationAccuracy",
    "equal_error_rate",
    "roc_auc_score",
    "roc_curve",
    "tar_at_far",
    "verification_accuracy",
]


class UndefinedMetricWarning(UserWarning):
    """A metric is undefined for this input (e.g. no impostor pairs) and NaN is returned."""


def _binary_clf_curve(y: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Counts at each distinct score, descending: ``(fps, tps, thresholds)``, each ``(T,)``.

    ``tps[j]`` / ``fps[j]`` count genuine / impostor pairs with ``score >= thresholds[j]``.
    """
    order = torch.argsort(s, descending=True, stable=True)
    s, y = s[order], y[order]  # (n,) sorted by decreasing score
    last_of_run = torch.nonzero(s[1:] != s[:-1]).flatten()  # index of the last of each tie run
    end = torch.full((1,), s.shape[0] - 1, dtype=last_of_run.dtype, device=s.device)
    idx = torch.cat([last_of_run, end]) if s.numel() else last_of_run  # (T,)
    tps = torch.cumsum(y.to(torch.int64), 0)[idx]
    fps = idx + 1 - tps
    return fps, tps, s[idx]


def _rates(fps: torch.Tensor, tps: torch.Tensor, n_neg: int, n_pos: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(fpr, tpr)`` in float64, NaN (with a warning) where the denominator is zero."""
    f64 = dict(dtype=torch.float64, device=fps.device)
    if n_neg == 0:
        warnings.warn("no impostor pairs (labels == 0): the false accept rate is undefined",
                      UndefinedMetricWarning, stacklevel=3)
        fpr = torch.full(fps.shape, float("nan"), **f64)
    else:
        fpr = fps.to(torch.float64) / n_neg
    if n_pos == 0:
        warnings.warn("no genuine pairs (labels == 1): the true accept rate is undefined",
                      UndefinedMetricWarning, stacklevel=3)
        tpr = torch.full(tps.shape, float("nan"), **f64)
    else:
        tpr = tps.to(torch.float64) / n_pos
    return fpr, tpr


def _full_roc(y: torch.Tensor, s: torch.Tensor):
    """Every ROC point, starting at ``(0, 0)`` with threshold ``+inf``: counts and thresholds."""
    fps, tps, thr = _binary_clf_curve(y, s)
    zero = torch.zeros(1, dtype=fps.dtype, device=fps.device)
    inf = torch.full((1,), float("inf"), dtype=thr.dtype, device=thr.device)
    return torch.cat([zero, fps]), torch.cat([zero, tps]), torch.cat([inf, thr])


def roc_curve(labels: Any, scores: Any, *, drop_intermediate: bool = True):
    """Receiver operating characteristic of a verifier: ``(fpr, tpr, thresholds)`` (Lecture 09).

    Identical to ``sklearn.metrics.roc_curve(labels, scores)`` (same points, same
    ``drop_intermediate`` rule, ``thresholds[0] = inf`` so the curve starts at ``(0, 0)``).

    Args:
        labels: Tensor[n_samples] 0/1 or bool, 1 = same identity.
        scores: Tensor[n_samples] similarity (higher = same), finite.
        drop_intermediate: drop points on straight segments, as scikit-learn (keyword-only).

    Returns:
        ``fpr`` Tensor[T] float64 (FAR), ``tpr`` Tensor[T] float64 (TAR), ``thresholds``
        Tensor[T] in ``scores``' dtype, decreasing: point ``j`` declares ``score >= thresholds[j]``
        "same". NaN rates (with a warning) when a class is absent; empty input gives one point.

    Example:
        >>> fpr, tpr, thr = roc_curve(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
        >>> fpr, tpr
        (array([0. , 0. , 0.5, 0.5, 1. ]), array([0. , 0.5, 0.5, 1. , 1. ]))
    """
    y, s, was_numpy = _check_binary_scores(labels, scores)
    fps, tps, thr = _binary_clf_curve(y, s)
    if drop_intermediate and fps.shape[0] > 2:
        interior = (torch.diff(fps, n=2) != 0) | (torch.diff(tps, n=2) != 0)  # (T - 2,)
        true = torch.ones(1, dtype=torch.bool, device=fps.device)
        keep = torch.cat([true, interior, true])
        fps, tps, thr = fps[keep], tps[keep], thr[keep]
    zero = torch.zeros(1, dtype=fps.dtype, device=fps.device)
    fps, tps = torch.cat([zero, fps]), torch.cat([zero, tps])
    thr = torch.cat([torch.full((1,), float("inf"), dtype=thr.dtype, device=thr.device), thr])
    n_pos = int(y.sum())
    fpr, tpr = _rates(fps, tps, y.shape[0] - n_pos, n_pos)
    return _to_output(fpr, was_numpy), _to_output(tpr, was_numpy), _to_output(thr, was_numpy)


def roc_auc_score(labels: Any, scores: Any) -> float:
    """Area under the ROC curve (Lecture 09), as ``sklearn.metrics.roc_auc_score``.

    Trapezoids between the ROC points, so ties count 1/2: the probability that a random genuine
    pair scores higher than a random impostor pair.
    Returns NaN with an ``UndefinedMetricWarning`` when only one class is present (scikit-learn
    >= 1.6 does the same).
    """
    y, s, _ = _check_binary_scores(labels, scores)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.shape[0]:
        warnings.warn("only one class present in `labels`: ROC AUC is undefined",
                      UndefinedMetricWarning, stacklevel=2)
        return float("nan")
    fps, tps, _ = _full_roc(y, s)
    fpr, tpr = fps.to(torch.float64) / (y.shape[0] - n_pos), tps.to(torch.float64) / n_pos
    return float(torch.trapezoid(tpr, fpr))


class VerificationAccuracy(NamedTuple):
    """Result of :func:`verification_accuracy` (``acc, std, *_ = verification_accuracy(...)``)."""

    accuracy: float  # mean of the fold accuracies
    std: float  # their standard deviation (ddof=0, as the FaceNet / insightface LFW scripts)
    fold_accuracies: np.ndarray  # (n_folds,) accuracy on each held-out fold
    thresholds: np.ndarray  # (n_folds,) threshold chosen on the other folds


def _best_threshold(y: torch.Tensor, s: torch.Tensor) -> float:
    """Threshold maximising training accuracy of ``score >= t``; ties go to the highest ``t``.

    The returned value is the midpoint between the lowest score accepted and the next lower
    distinct score (the widest gap), ``+inf`` when rejecting everything is best, and the
    lowest score when accepting everything is best.
    """
    fps, tps, thr = _full_roc(y, s)  # candidates: reject all (inf), then each distinct score
    n_neg = y.shape[0] - int(y.sum())
    correct = tps + (n_neg - fps)  # (T + 1,) correctly classified pairs
    j = int(torch.argmax(correct))  # first maximum = highest threshold among ties
    if j == 0:
        return float("inf")
    t = float(thr[j])
    return t if j == thr.shape[0] - 1 else (t + float(thr[j + 1])) / 2.0


def verification_accuracy(labels: Any, scores: Any, *, n_folds: int = 10,
                          folds: Any = None) -> VerificationAccuracy:
    """Accuracy with the threshold chosen by cross-validation, the LFW protocol (Lecture 09).

    For each fold: choose the threshold that maximises the accuracy of ``score >= threshold``
    on the other ``n_folds - 1`` folds, then measure the accuracy on the held-out fold
    (the LFW "unrestricted" 10-fold protocol; DeepID2 / FaceNet report the mean).

    Args:
        labels: Tensor[n_samples] 0/1 or bool, 1 = same identity.
        scores: Tensor[n_samples] similarity (higher = same).
        n_folds: number of contiguous folds (keyword-only), as ``KFold(n_folds, shuffle=False)``
            (the LFW ``pairs.txt`` lists its 10 folds of 600 pairs one after another).
        folds: optional Tensor[n_samples] of fold ids (keyword-only); overrides ``n_folds``.

    Returns:
        :class:`VerificationAccuracy` ``(accuracy, std, fold_accuracies, thresholds)``.

    Raises:
        ValueError: fewer samples than folds, fewer than 2 folds, or bad input.
    """
    y, s, _ = _check_binary_scores(labels, scores)
    n = y.shape[0]
    if folds is None:
        n_folds = check_positive_int("n_folds", n_folds, minimum=2)
        if n < n_folds:
            raise ArgumentError("scores", f"at least n_folds={n_folds} samples", f"{n} samples")
        sizes = [n // n_folds + (1 if k < n % n_folds else 0) for k in range(n_folds)]
        fold_id = torch.repeat_interleave(torch.arange(n_folds, device=s.device),
                                          torch.tensor(sizes, device=s.device))
    else:
        fold_id, _ = _as_tensor("folds", folds)
        if fold_id.dim() != 1 or fold_id.shape[0] != n or fold_id.is_floating_point():
            raise ArgumentError("folds", f"integer fold ids of shape ({n},)",
                                f"shape {tuple(fold_id.shape)} and dtype {fold_id.dtype}")
        fold_id = fold_id.to(s.device)
        if torch.unique(fold_id).numel() < 2:
            raise ArgumentError("folds", "at least 2 distinct fold ids", torch.unique(fold_id).tolist())
    accs, thresholds = [], []
    for k in torch.unique(fold_id).tolist():  # a loop over folds only: each fold is vectorized
        test = fold_id == k
        t = _best_threshold(y[~test], s[~test])
        accs.append(float(((s[test] >= t) == y[test]).to(torch.float64).mean()))
        thresholds.append(t)
    accs_np = np.asarray(accs)
    return VerificationAccuracy(float(accs_np.mean()), float(accs_np.std()), accs_np, np.asarray(thresholds))


def _class_counts(y: torch.Tensor) -> tuple[int, int]:
    n_pos = int(y.sum())
    return y.shape[0] - n_pos, n_pos


def tar_at_far(labels: Any, scores: Any, far: float | Sequence[float], *,
               return_threshold: bool = False):
    """True accept rate at a given false accept rate, e.g. TAR@FAR=1e-3 (Lecture 09).

    The operating point is the lowest threshold ``t`` (over the scores, or ``+inf``) whose
    ``FAR(t) = #{impostor score >= t} / #impostors`` does not exceed ``far``; it gives the
    highest ``TAR(t) = #{genuine score >= t} / #genuine`` allowed. No interpolation: with few
    impostors the achievable FARs are multiples of ``1 / #impostors``.

    Args:
        labels: Tensor[n_samples] 0/1 or bool, 1 = same identity.
        scores: Tensor[n_samples] similarity (higher = same).
        far: target FAR in [0, 1], or a sequence of them.
        return_threshold: also return the threshold(s) (keyword-only).

    Returns:
        TAR as a float (a float64 numpy array for a sequence of ``far``), and the threshold(s)
        if asked. NaN with an ``UndefinedMetricWarning`` if a class is absent.

    Example:
        >>> tar_at_far(np.array([1, 1, 0, 0]), np.array([0.9, 0.5, 0.7, 0.1]), 0.5)
        1.0
    """
    y, s, _ = _check_binary_scores(labels, scores)
    far_arr = np.asarray(far, dtype=np.float64)
    if far_arr.ndim > 1 or np.isnan(far_arr).any() or (far_arr < 0).any() or (far_arr > 1).any():
        raise ArgumentError("far", "a rate in [0, 1] or a 1-D sequence of them", far)
    fps, tps, thr = _full_roc(y, s)
    fpr, tpr = _rates(fps, tps, *_class_counts(y))
    fpr_np, tpr_np, thr_np = fpr.cpu().numpy(), tpr.cpu().numpy(), thr.cpu().numpy().astype(np.float64)
    # fpr is non-decreasing: the last index with fpr <= far is the lowest admissible threshold.
    j = np.searchsorted(fpr_np, far_arr, side="right") - 1 if not np.isnan(fpr_np).any() \
        else np.zeros(far_arr.shape, dtype=np.int64)
    tar = np.where(np.isnan(fpr_np).any(), np.nan, tpr_np[j])
    t = thr_np[j]
    if far_arr.ndim == 0:
        tar, t = float(tar), float(t)
    return (tar, t) if return_threshold else tar


def equal_error_rate(labels: Any, scores: Any, *, return_threshold: bool = False):
    """Equal error rate: the rate where FAR = FRR on the ROC curve (Lecture 09).

    The ROC points (every distinct threshold) are joined by straight segments, and the EER is
    the FAR where that curve crosses the line ``FRR = 1 - TAR = FAR`` (the same value that
    ``brentq(lambda x: 1 - x - interp1d(fpr, tpr)(x), 0, 1)`` finds in the FaceNet scripts, up
    to its tolerance).

    Args:
        labels: Tensor[n_samples] 0/1 or bool, 1 = same identity.
        scores: Tensor[n_samples] similarity (higher = same).
        return_threshold: also return the threshold of the first ROC point with FAR >= FRR
            (keyword-only).

    Returns:
        EER as a float in [0, 1] (and the threshold if asked); NaN with an
        ``UndefinedMetricWarning`` if a class is absent. 0 for perfectly separated scores.

    Example:
        >>> equal_error_rate(np.array([1, 0, 1, 0]), np.array([0.9, 0.6, 0.4, 0.1]))
        0.5
    """
    y, s, _ = _check_binary_scores(labels, scores)
    fps, tps, thr = _full_roc(y, s)
    n_neg, n_pos = _class_counts(y)
    fpr, tpr = _rates(fps, tps, n_neg, n_pos)
    if n_neg == 0 or n_pos == 0:
        return (float("nan"), float("nan")) if return_threshold else float("nan")
    g = fpr + tpr - 1.0  # (T,) from -1 at (0, 0) to +1 at (1, 1), non-decreasing
    j = int(torch.nonzero(g >= 0)[0, 0])  # first point on or past the line FAR = FRR
    if float(g[j]) == 0.0:
        eer = float(fpr[j])
    else:  # intersect the segment (j-1, j) with fpr + tpr = 1
        a = float(-g[j - 1] / (g[j] - g[j - 1]))
        eer = float(fpr[j - 1] + a * (fpr[j] - fpr[j - 1]))
    return (eer, float(thr[j])) if return_threshold else eer
