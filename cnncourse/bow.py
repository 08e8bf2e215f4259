"""Bag-of-words image features: a k-means codebook, soft/hard codes, pooling, spatial pyramid.

Lecture 01 (from linear classifiers to the MLP). An image is a set of ``N`` local descriptors
``x`` of dimension ``D`` (``(N, D)``, e.g. 2-D in the slides' toy example). A codebook of ``K``
"visual words" (k-means centres, ``(K, D)``) turns every descriptor into a code ``(K,)``:

- hard assignment: a one-hot vector at the nearest centre;
- soft assignment: ``softmax(-beta * ||x - c_k||^2)`` over the centres (a Gaussian kernel
  codebook, ``beta = 1 / (2 sigma^2)``), so a descriptor between two centres votes for both.

Pooling the ``(N, K)`` codes over the image gives its ``(K,)`` histogram: *sum* pooling counts
(the classic bag of words), *max* pooling records whether (how strongly) each word occurs.
The spatial pyramid concatenates the histograms of the cells of 1x1, 2x2, ... grids, which
brings back some of the layout that a single bag of words throws away.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cnncourse._validate import ArgumentError, check_array, check_positive_int

__all__ = [
    "KMeansResult",
    "bow_histogram",
    "hard_assign",
    "kmeans",
    "pool_codes",
    "soft_assign",
    "spatial_pyramid_histogram",
    "squared_distances",
]

_ASSIGNMENTS = ("hard", "soft")
_POOLINGS = ("sum", "max")


@dataclass(frozen=True)
class KMeansResult:
    """Output of :func:`kmeans`: ``centres (K, D)``, ``labels (N,)``, ``inertia``, ``n_iter``."""

    centres: np.ndarray
    labels: np.ndarray
    inertia: float
    n_iter: int


def _descriptors(name: str, x, d: int | None = None) -> np.ndarray:
    x = check_array(name, np.asarray(x) if isinstance(x, (list, tuple)) else x, ndim=2)
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise ArgumentError(name, "a real-valued array", f"dtype {x.dtype}")
    if d is not None and x.shape[1] != d:
        raise ArgumentError(name, f"shape (N, {d}) (D must match the centres)", f"shape {x.shape}")
    return x.astype(np.float64, copy=False)


def squared_distances(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between descriptors and centres.

    Args:
        x: ``(N, D)`` descriptors.
        centres: ``(K, D)`` codebook.

    Returns:
        ``(N, K)`` float64, ``||x_n - c_k||^2``.
    """
    centres = _descriptors("centres", centres)
    x = _descriptors("x", x, centres.shape[1])
    diff = x[:, None, :] - centres[None, :, :]              # (N, K, D): exact, no cancellation
    return np.einsum("nkd,nkd->nk", diff, diff)


def _kmeans_pp(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding: each new centre drawn with probability proportional to D(x)^2."""
    centres = [x[rng.integers(len(x))]]
    d2 = ((x - centres[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        total = d2.sum()
        idx = rng.integers(len(x)) if total == 0 else rng.choice(len(x), p=d2 / total)
        centres.append(x[idx])
        d2 = np.minimum(d2, ((x - x[idx]) ** 2).sum(axis=1))
    return np.stack(centres)


def kmeans(x: np.ndarray, k: int, *, init: str | np.ndarray = "k-means++", max_iter: int = 300,
           seed: int | None = 0) -> KMeansResult:
    """Lloyd's k-means: alternate nearest-centre assignment and centre = mean of its points.

    Stops when no label changes (or after ``max_iter`` updates). A centre that loses all its
    points stays where it was.

    Args:
        x: ``(N, D)`` descriptors, ``N >= k``.
        k: number of clusters (visual words).
        init: ``"k-means++"`` (seeded by ``seed``) or an explicit ``(K, D)`` array of start centres.
        max_iter: most centre updates.
        seed: seed of the k-means++ draw.

    Returns:
        :class:`KMeansResult` with ``centres (K, D)``, ``labels (N,)`` int64, ``inertia`` (the sum
        of squared distances to the assigned centres) and ``n_iter`` (centre updates done).

    Example:
        >>> pts = np.array([[0., 0], [0, 1], [10, 0], [10, 1]])
        >>> kmeans(pts, 2, init=pts[[0, 2]]).centres
        array([[ 0. ,  0.5],
               [10. ,  0.5]])
    """
    x = _descriptors("x", x)
    k = check_positive_int("k", k)
    max_iter = check_positive_int("max_iter", max_iter)
    if k > len(x):
        raise ArgumentError("k", f"at most the number of descriptors ({len(x)})", k)
    if isinstance(init, str):
        if init != "k-means++":
            raise ArgumentError("init", "'k-means++' or a (K, D) array", repr(init))
        centres = _kmeans_pp(x, k, np.random.default_rng(seed))
    else:
        centres = _descriptors("init", init, x.shape[1]).copy()
        if centres.shape[0] != k:
            raise ArgumentError("init", f"shape ({k}, {x.shape[1]})", f"shape {centres.shape}")
    labels = squared_distances(x, centres).argmin(axis=1)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        for j in range(k):
            members = labels == j
            if members.any():
                centres[j] = x[members].mean(axis=0)
        new = squared_distances(x, centres).argmin(axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
    d2 = squared_distances(x, centres)
    return KMeansResult(centres, labels.astype(np.int64), float(d2[np.arange(len(x)), labels].sum()),
                        n_iter)


def hard_assign(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """One-hot codes: each descriptor votes for its nearest centre (ties: the lower index).

    Args:
        x: ``(N, D)``; centres: ``(K, D)``.

    Returns:
        ``(N, K)`` float64 with one 1 per row.
    """
    d2 = squared_distances(x, centres)
    codes = np.zeros_like(d2)
    codes[np.arange(len(d2)), d2.argmin(axis=1)] = 1.0
    return codes


def soft_assign(x: np.ndarray, centres: np.ndarray, *, beta: float = 1.0) -> np.ndarray:
    """Soft codes ``softmax_k(-beta * ||x - c_k||^2)`` (Gaussian kernel codebook).

    Args:
        x: ``(N, D)``; centres: ``(K, D)``.
        beta: sharpness ``> 0`` (``1 / (2 sigma^2)``); as ``beta -> inf`` this becomes
            :func:`hard_assign`.

    Returns:
        ``(N, K)`` float64, rows sum to 1.
    """
    beta = float(beta)
    if not beta > 0 or not np.isfinite(beta):
        raise ArgumentError("beta", "a finite number > 0", beta)
    logits = -beta * squared_distances(x, centres)          # (N, K)
    logits -= logits.max(axis=1, keepdims=True)             # stable softmax: row max is 0
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def pool_codes(codes: np.ndarray, *, pooling: str = "sum") -> np.ndarray:
    """Pool ``(N, K)`` codes over the descriptors of one image: ``"sum"`` or ``"max"``.

    Returns:
        ``(K,)`` float64; zeros when ``N == 0`` (an image region without descriptors).
    """
    codes = _descriptors("codes", codes)
    if pooling not in _POOLINGS:
        raise ArgumentError("pooling", f"one of {_POOLINGS}", repr(pooling))
    if len(codes) == 0:
        return np.zeros(codes.shape[1])
    return codes.sum(axis=0) if pooling == "sum" else codes.max(axis=0)


def _codes(x, centres, assignment: str, beta: float) -> np.ndarray:
    if assignment not in _ASSIGNMENTS:
        raise ArgumentError("assignment", f"one of {_ASSIGNMENTS}", repr(assignment))
    return hard_assign(x, centres) if assignment == "hard" else soft_assign(x, centres, beta=beta)


def _l1_normalize(h: np.ndarray) -> np.ndarray:
    total = h.sum()
    return h / total if total > 0 else h


def _maybe_normalize(h: np.ndarray, normalize: bool) -> np.ndarray:
    return _l1_normalize(h) if normalize else h


def bow_histogram(x: np.ndarray, centres: np.ndarray, *, assignment: str = "hard",
                  pooling: str = "sum", beta: float = 1.0, normalize: bool = True) -> np.ndarray:
    """Bag-of-words histogram of one image: assign its descriptors, then pool the codes.

    Args:
        x: ``(N, D)`` descriptors of the image; centres: ``(K, D)`` codebook.
        assignment: ``"hard"`` or ``"soft"`` (then ``beta`` is the sharpness).
        pooling: ``"sum"`` (counts) or ``"max"``.
        normalize: divide by the sum (an L1-normalized histogram that sums to 1) unless it is 0.

    Returns:
        ``(K,)`` float64.
    """
    return _maybe_normalize(pool_codes(_codes(x, centres, assignment, beta), pooling=pooling), normalize)


def spatial_pyramid_histogram(x: np.ndarray, positions: np.ndarray, centres: np.ndarray,
                              image_size: int | tuple[int, int], *, levels: Sequence[int] = (1, 2),
                              assignment: str = "hard", pooling: str = "sum", beta: float = 1.0,
                              normalize: bool = True) -> np.ndarray:
    """Spatial pyramid: a bag-of-words histogram per cell of L x L grids, concatenated.

    Level ``L`` splits the ``H x W`` image into ``L x L`` equal cells; a descriptor at
    ``(row, col)`` falls in cell ``(floor(row * L / H), floor(col * L / W))``. Cells are
    concatenated level by level, row-major inside a level.

    Args:
        x: ``(N, D)`` descriptors; positions: ``(N, 2)`` their ``(row, col)`` in ``[0, H) x [0, W)``.
        centres: ``(K, D)`` codebook; image_size: ``H`` (square) or ``(H, W)``.
        levels: grid sizes, e.g. ``(1, 2, 4)``.
        assignment, pooling, beta: as in :func:`bow_histogram`.
        normalize: divide the whole vector by its sum (with hard codes and sum pooling every level
            then carries the same weight, ``1 / len(levels)``).

    Returns:
        ``(K * sum(L^2 for L in levels),)`` float64.
    """
    codes = _codes(x, centres, assignment, beta)            # (N, K); validates x and centres
    positions = _descriptors("positions", positions, 2)
    if len(positions) != len(codes):
        raise ArgumentError("positions", f"shape ({len(codes)}, 2), one (row, col) per descriptor",
                            f"shape {positions.shape}")
    h, w = (image_size, image_size) if np.isscalar(image_size) else tuple(image_size)
    h, w = check_positive_int("image_size", h), check_positive_int("image_size", w)
    if len(positions) and (positions.min() < 0 or (positions[:, 0] >= h).any()
                           or (positions[:, 1] >= w).any()):
        raise ArgumentError("positions", f"(row, col) inside [0, {h}) x [0, {w})",
                            f"values in [{positions.min()}, {positions.max()}]")
    levels = [check_positive_int("levels", lv) for lv in levels]
    if not levels:
        raise ArgumentError("levels", "at least one grid size", levels)
    parts = []
    for lv in levels:
        rows = np.floor(positions[:, 0] * lv / h).astype(np.int64)    # (N,) cell row in [0, lv)
        cols = np.floor(positions[:, 1] * lv / w).astype(np.int64)
        for r in range(lv):
            for c in range(lv):
                parts.append(pool_codes(codes[(rows == r) & (cols == c)], pooling=pooling))
    return _maybe_normalize(np.concatenate(parts), normalize)
