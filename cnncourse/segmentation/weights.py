"""Loss-weight maps computed on a label mask: class balance and edge (border) weights (lecture 08).

The slide's two tricks. **Balance weighting** raises the weight of small classes according to
their size: ``w_c = total / (K_present * count_c)`` (median-frequency balancing is the other
common choice, ``median(freq) / freq_c``). **Edge weighting** raises the weight of pixels near the
boundary between objects. U-Net (Ronneberger et al., 2015) writes both in one map::

    w(x) = w_c(x) + w0 * exp(-(d1(x) + d2(x))^2 / (2 sigma^2))

with ``w_c`` the class-balance map, ``d1``/``d2`` the distances to the nearest and second-nearest
object (instance) and ``w0 = 10``, ``sigma = 5`` pixels. The border term is large only in the
narrow background gaps between two close objects, where a network would otherwise merge them.
Distances are Euclidean, from a pixel centre to the nearest pixel centre of the object
(``scipy.ndimage.distance_transform_edt``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from cnncourse._validate import ArgumentError, check_array, check_positive_int

__all__ = ["boundary_distance", "class_balance_weights", "edge_weight_map", "unet_weight_map"]

_METHODS = ("inverse", "median")


def _mask(name: str, mask: Any) -> np.ndarray:
    check_array(name, mask, ndim=2)
    if not np.issubdtype(mask.dtype, np.integer):
        raise ArgumentError(name, "an integer (H, W) label mask", f"dtype {mask.dtype}")
    if mask.size and mask.min() < 0:
        raise ArgumentError(name, "labels >= 0", f"minimum {mask.min()}")
    return mask


def class_balance_weights(mask: np.ndarray, num_classes: int, *, method: str = "inverse") -> np.ndarray:
    """Per-class weights that make every present class weigh the same in total (lecture 08).

    Args:
        mask: ``(H, W)`` (or any shape) integer labels in ``[0, K)``.
        num_classes: ``K``.
        method: ``"inverse"``: ``w_c = total / (K_present * count_c)``, so that
            ``sum over pixels of w[label] = total`` and each present class contributes
            ``total / K_present``; ``"median"``: ``median(freq) / freq_c`` over present classes.

    Returns:
        ``(K,)`` float64; 0 for classes absent from ``mask``.
    """
    mask = np.asarray(mask)
    if not np.issubdtype(mask.dtype, np.integer):
        raise ArgumentError("mask", "integer labels", f"dtype {mask.dtype}")
    k = check_positive_int("num_classes", num_classes)
    if method not in _METHODS:
        raise ArgumentError("method", "'inverse' or 'median'", repr(method))
    if mask.size == 0:
        raise ArgumentError("mask", "at least one pixel", f"shape {mask.shape}")
    if mask.min() < 0 or mask.max() >= k:
        raise ArgumentError("mask", f"labels in [0, {k})", f"labels in [{mask.min()}, {mask.max()}]")
    counts = np.bincount(mask.ravel(), minlength=k).astype(np.float64)
    present = counts > 0
    w = np.zeros(k)
    if method == "inverse":
        w[present] = mask.size / (present.sum() * counts[present])
    else:
        freq = counts[present] / mask.size
        w[present] = np.median(freq) / freq
    return w


def boundary_distance(mask: np.ndarray) -> np.ndarray:
    """Distance of each pixel to the nearest pixel of a DIFFERENT label (lecture 08).

    Args:
        mask: ``(H, W)`` integer labels.

    Returns:
        ``(H, W)`` float64: 1 for a pixel that touches another label (4- or 8-neighbour at
        distance 1 or sqrt 2), larger inside regions; ``inf`` everywhere if the mask has one label.
    """
    mask = _mask("mask", mask)
    d = np.full(mask.shape, np.inf)
    for label in np.unique(mask):
        inside = mask == label
        if inside.all():
            continue
        # distance_transform_edt: distance of every non-zero pixel to the nearest zero pixel
        d = np.where(inside, ndimage.distance_transform_edt(inside), d)
    return d


def edge_weight_map(mask: np.ndarray, *, w0: float = 5.0, sigma: float = 2.0,
                    class_weights: np.ndarray | None = None) -> np.ndarray:
    """The slide's edge weighting: ``w(x) = w_c(x) + w0 exp(-d(x)^2 / (2 sigma^2))`` (lecture 08).

    Args:
        mask: ``(H, W)`` integer labels (semantic).
        w0, sigma: height and width (pixels) of the bump on the boundaries; ``sigma > 0``.
        class_weights: ``(K,)`` balance weights ``w_c`` (``None``: 1 for every class).

    Returns:
        ``(H, W)`` float64 weights, where ``d`` is :func:`boundary_distance` (at least 1 pixel).
    """
    mask = _mask("mask", mask)
    wc = _class_map(mask, class_weights)
    if float(sigma) <= 0:
        raise ArgumentError("sigma", "a width > 0 (pixels)", sigma)
    d = boundary_distance(mask)
    return wc + float(w0) * np.exp(-d ** 2 / (2 * float(sigma) ** 2))


def _class_map(mask: np.ndarray, class_weights: np.ndarray | None) -> np.ndarray:
    if class_weights is None:
        return np.ones(mask.shape)
    cw = np.asarray(class_weights, dtype=np.float64)
    if cw.ndim != 1 or cw.size <= mask.max():
        raise ArgumentError("class_weights", f"a (K,) vector with K > {mask.max()} (the largest label)",
                            f"shape {cw.shape}")
    return cw[mask]


def unet_weight_map(instances: np.ndarray, *, w0: float = 10.0, sigma: float = 5.0,
                    class_weights: np.ndarray | None = None) -> np.ndarray:
    """U-Net's weight map ``w_c(x) + w0 exp(-(d1 + d2)^2 / (2 sigma^2))`` (lecture 08).

    Args:
        instances: ``(H, W)`` integer instance ids, 0 for background, ``1..M`` for objects.
        w0, sigma: U-Net's defaults are 10 and 5 pixels.
        class_weights: ``(2,)`` balance weights for (background, object) pixels; ``None``: 1.

    Returns:
        ``(H, W)`` float64. The border term is added on BACKGROUND pixels only (as U-Net's
        separation border), with ``d1 <= d2`` the distances to the two nearest objects; with fewer
        than two objects it is 0.
    """
    instances = _mask("instances", instances)
    if float(sigma) <= 0:
        raise ArgumentError("sigma", "a width > 0 (pixels)", sigma)
    wc = _class_map((instances > 0).astype(np.int64), class_weights)
    ids = [i for i in np.unique(instances) if i != 0]
    if len(ids) < 2:
        return wc
    # (M, H, W): distance from every pixel to object i (0 on the object itself)
    dist = np.stack([ndimage.distance_transform_edt(instances != i) for i in ids])
    dist.sort(axis=0)
    d1, d2 = dist[0], dist[1]
    border = float(w0) * np.exp(-(d1 + d2) ** 2 / (2 * float(sigma) ** 2))
    return wc + np.where(instances == 0, border, 0.0)
