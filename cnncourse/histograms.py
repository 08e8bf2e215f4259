"""Distances between histograms, and Lp "norms" including the L0 count (lecture 01).

Every distance takes two histograms of ``K`` bins, ``h_i (..., K)`` and ``h_j (..., K)``, and
broadcasts over the leading dims like numpy (``h[:, None]`` against ``h[None]`` gives the ``(N, N)``
matrix of all pairs). Returns ``(...)`` float64.

- :func:`euclidean_distance`               ``sqrt(sum (h_i - h_j)^2)``
- :func:`histogram_intersection_distance`  ``1 - sum min(h_i, h_j)`` (0 for equal histograms that
  sum to 1; 1 for disjoint ones)
- :func:`chi2_distance`                    ``1/2 sum (h_i - h_j)^2 / (h_i + h_j)``, where a bin
  empty in both histograms (``0/0``) contributes **0**
- :func:`emd_1d`                            earth mover's distance between 1-D histograms: the least
  mass x distance needed to turn one into the other, ``sum_m |CDF_i(m) - CDF_j(m)| * gap_m``

The histogram distances need non-negative bins; intersection, chi-squared and the EMD are meant for
L1-normalized histograms (sum 1), which is what :func:`cnncourse.bow.bow_histogram` returns.
"""

from __future__ import annotations

import numpy as np

from cnncourse._validate import ArgumentError

__all__ = [
    "chi2_distance",
    "emd_1d",
    "euclidean_distance",
    "histogram_intersection_distance",
    "lp_norm",
]


def _real(name: str, value) -> np.ndarray:
    a = np.asarray(value)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool) \
            or np.issubdtype(a.dtype, np.complexfloating):
        raise ArgumentError(name, "a real-valued array", f"dtype {a.dtype}")
    if a.ndim == 0:
        raise ArgumentError(name, "an array with a last axis of K bins", "a scalar")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ArgumentError(name, "finite values", "NaN or inf")
    return a


def _pair(h_i, h_j, *, nonnegative: bool = True) -> tuple[np.ndarray, np.ndarray]:
    a, b = _real("h_i", h_i), _real("h_j", h_j)
    if a.shape[-1] != b.shape[-1]:
        raise ArgumentError("h_j", f"the same number of bins as h_i ({a.shape[-1]})",
                            f"{b.shape[-1]} bins (shape {b.shape})")
    try:
        np.broadcast_shapes(a.shape[:-1], b.shape[:-1])
    except ValueError:
        raise ArgumentError("h_j", f"leading dims that broadcast with h_i's {a.shape[:-1]}",
                            f"shape {b.shape}") from None
    if nonnegative:
        for name, h in (("h_i", a), ("h_j", b)):
            if (h < 0).any():
                raise ArgumentError(name, "non-negative bins (a histogram)", f"minimum {h.min()}")
    return a, b


def lp_norm(x, p: float) -> np.ndarray:
    """``||x||_p = (sum_i |x_i|^p)^(1/p)`` over the last axis; ``p = 0`` counts the non-zeros.

    Strictly the "L0 norm" is not a norm (it is not homogeneous: ``||2x||_0 = ||x||_0``), nor is
    ``p < 1`` (the triangle inequality fails); both are still used. ``p = inf`` is ``max |x_i|``.
    Equals ``numpy.linalg.norm(x, ord=p, axis=-1)``.

    Args:
        x: ``(..., d)`` real array.
        p: ``0``, a number ``> 0``, or ``numpy.inf``.

    Returns:
        ``(...)`` float64.

    Example:
        >>> lp_norm([3, 0, -4], 2), lp_norm([3, 0, -4], 1), lp_norm([3, 0, -4], 0)
        (np.float64(5.0), np.float64(7.0), np.float64(2.0))
    """
    a = np.abs(_real("x", x))
    p = float(p)
    if np.isnan(p) or p < 0:
        raise ArgumentError("p", "0, a number > 0 or inf", p)
    if p == 0:
        return (a != 0).sum(axis=-1).astype(np.float64)
    if np.isinf(p):
        return a.max(axis=-1, initial=0.0)
    scale = a.max(axis=-1, keepdims=True, initial=0.0)       # divide by the max: no overflow
    safe = np.where(scale > 0, scale, 1.0)
    return ((a / safe) ** p).sum(axis=-1) ** (1.0 / p) * safe[..., 0]


def euclidean_distance(h_i, h_j) -> np.ndarray:
    """``sqrt(sum_m (h_i(m) - h_j(m))^2)`` (any real vectors, not only histograms)."""
    a, b = _pair(h_i, h_j, nonnegative=False)
    return lp_norm(a - b, 2)


def histogram_intersection_distance(h_i, h_j) -> np.ndarray:
    """``1 - sum_m min(h_i(m), h_j(m))``: the slide's histogram intersection, as a distance.

    For histograms that sum to 1 it lies in ``[0, 1]``: 0 when they are equal, 1 when they share no
    bin. (The "histogram intersection kernel" is the similarity ``sum min``.)
    """
    a, b = _pair(h_i, h_j)
    return 1.0 - np.minimum(a, b).sum(axis=-1)


def chi2_distance(h_i, h_j) -> np.ndarray:
    """``1/2 sum_m (h_i(m) - h_j(m))^2 / (h_i(m) + h_j(m))``, with ``0/0 = 0``.

    A bin that is empty in both histograms contributes nothing (defined as 0, as in every
    implementation: the limit along ``h_i = h_j -> 0`` is 0). Differences in sparsely filled bins
    weigh more than in full ones, unlike the Euclidean distance. For histograms that sum to 1 the
    value lies in ``[0, 1]``.
    """
    a, b = _pair(h_i, h_j)
    num = (a - b) ** 2
    den = a + b
    terms = np.divide(num, den, out=np.zeros(np.broadcast_shapes(num.shape, den.shape)), where=den > 0)
    return 0.5 * terms.sum(axis=-1)


def emd_1d(h_i, h_j, *, bin_centres=None) -> np.ndarray:
    """Earth mover's distance between two 1-D histograms (each first scaled to total mass 1).

    In 1-D the optimal transport plan moves mass left to right in order, so the EMD is
    ``sum_m |CDF_i(m) - CDF_j(m)| * (c_{m+1} - c_m)``: the mass that must cross each gap between
    neighbouring bin centres, times the gap. Equals ``scipy.stats.wasserstein_distance(c, c, h_i, h_j)``.

    Args:
        h_i, h_j: ``(..., K)`` non-negative histograms, each with a positive sum.
        bin_centres: ``(K,)`` strictly increasing positions of the bins; default ``0, 1, ..., K-1``
            (moving one unit of mass by one bin costs 1).

    Returns:
        ``(...)`` float64.
    """
    a, b = _pair(h_i, h_j)
    k = a.shape[-1]
    c = np.arange(k, dtype=np.float64) if bin_centres is None else _real("bin_centres", bin_centres)
    if c.shape != (k,):
        raise ArgumentError("bin_centres", f"shape ({k},)", f"shape {c.shape}")
    gaps = np.diff(c)                                              # (K-1,)
    if (gaps <= 0).any():
        raise ArgumentError("bin_centres", "strictly increasing positions", c.tolist())
    for name, h in (("h_i", a), ("h_j", b)):
        if (h.sum(axis=-1) <= 0).any():
            raise ArgumentError(name, "a positive total mass in every histogram", "a histogram summing to 0")
    cdf_i = np.cumsum(a / a.sum(axis=-1, keepdims=True), axis=-1)[..., :-1]    # (..., K-1)
    cdf_j = np.cumsum(b / b.sum(axis=-1, keepdims=True), axis=-1)[..., :-1]
    return (np.abs(cdf_i - cdf_j) * gaps).sum(axis=-1)
