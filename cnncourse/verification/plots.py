"""Plots for verification and identification: ROC, CMC, same/different histograms (Lecture 09).

Each function draws on ``ax`` (a new figure when None) and returns the axes; inputs are the
outputs of :mod:`cnncourse.verification.metrics` and :mod:`~cnncourse.verification.identification`
or raw ``labels``/``scores`` (torch tensors or numpy arrays).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from cnncourse.verification._checks import _check_binary_scores
from cnncourse.verification.metrics import roc_auc_score, roc_curve

__all__ = ["plot_cmc", "plot_distance_histograms", "plot_roc"]


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5, 4))
    return ax


def _np(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def plot_roc(labels: Any, scores: Any, *, ax=None, label: str | None = None, log_far: bool = False,
             mark_far: Sequence[float] = ()):
    """Plot the ROC (TAR against FAR) of ``(labels, scores)`` with its AUC (Lecture 09).

    Args:
        labels, scores: as :func:`~cnncourse.verification.roc_curve`.
        ax: matplotlib axes to draw on (keyword-only).
        label: legend text; ``"(AUC = 0.xxxx)"`` is appended (keyword-only).
        log_far: logarithmic FAR axis, common for face verification (TAR@FAR=1e-3) (keyword-only).
        mark_far: FAR values to mark with a vertical dotted line (keyword-only).

    Returns:
        The axes; its first line holds exactly ``roc_curve(labels, scores)``'s points.
    """
    ax = _axes(ax)
    fpr, tpr, _ = roc_curve(labels, scores)
    auc = roc_auc_score(labels, scores)
    text = f"AUC = {auc:.4f}"
    ax.plot(_np(fpr), _np(tpr), label=f"{label} ({text})" if label else text)
    for far in mark_far:
        ax.axvline(far, linestyle=":", color="gray")
    if log_far:
        ax.set_xscale("log")
    else:
        ax.plot([0, 1], [0, 1], linestyle="--", color="lightgray", linewidth=1)
    ax.set_xlabel("false accept rate (FAR)")
    ax.set_ylabel("true accept rate (TAR)")
    ax.set_title("ROC")
    ax.legend(loc="lower right")
    return ax


def plot_cmc(cmc: Any, *, ax=None, label: str | None = None, ranks: Sequence[int] = (1, 5, 10, 20)):
    """Plot a CMC curve, identification rate against rank from 1, marking ``ranks`` (Lecture 09).

    Args:
        cmc: Tensor[max_rank] from :func:`~cnncourse.verification.cmc_curve`.
        ax: matplotlib axes (keyword-only).
        label: legend text (keyword-only).
        ranks: ranks to mark with dots, those <= ``len(cmc)`` (keyword-only).

    Returns:
        The axes; its first line is ``(1..len(cmc), cmc)``.
    """
    ax = _axes(ax)
    y = _np(cmc).astype(np.float64)
    x = np.arange(1, y.shape[0] + 1)
    (line,) = ax.plot(x, y, label=label)
    marked = [k for k in ranks if 1 <= k <= y.shape[0]]
    ax.plot(marked, y[np.asarray(marked, dtype=int) - 1], "o", color=line.get_color())
    ax.set_xlabel("rank")
    ax.set_ylabel("identification rate")
    ax.set_ylim(0, 1.02)
    ax.set_title("CMC")
    if label:
        ax.legend(loc="lower right")
    return ax


def plot_distance_histograms(labels: Any, distances: Any, *, ax=None, bins: int = 50,
                             threshold: float | None = None, xlabel: str = "distance"):
    """Histograms of the distances of same- and different-identity pairs (Lecture 09).

    Args:
        labels: Tensor[n_samples] 0/1 or bool, 1 = same identity.
        distances: Tensor[n_samples] pair distances (any score works; set ``xlabel``).
        ax: matplotlib axes (keyword-only).
        bins: number of shared bins (keyword-only).
        threshold: draw a vertical line at this decision threshold (keyword-only).
        xlabel: x-axis label (keyword-only).

    Returns:
        The axes; its two bar containers hold the same-pair and different-pair densities.
    """
    y, d, _ = _check_binary_scores(labels, distances)
    y_np, d_np = _np(y), _np(d).astype(np.float64)
    ax = _axes(ax)
    edges = np.histogram_bin_edges(d_np, bins=bins) if d_np.size else bins
    ax.hist(d_np[y_np], bins=edges, alpha=0.6, density=bool(y_np.any()), label="same identity")
    ax.hist(d_np[~y_np], bins=edges, alpha=0.6, density=bool((~y_np).any()), label="different identity")
    if threshold is not None:
        ax.axvline(threshold, color="black", linestyle="--", label=f"threshold = {threshold:.3g}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.legend()
    return ax
