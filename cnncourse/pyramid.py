"""Adaptive pooling and spatial pyramid pooling (SPP), numpy, NCHW.

Introduced in lecture 03 (pooling) and used again in lecture 07 (SPP-net). Spatial pyramid pooling
(He et al., 2014) pools a feature map of ANY size ``H x W`` into a fixed grid at several levels
(e.g. 1x1, 2x2, 4x4) and concatenates the results, so a classifier after it sees a fixed-length
vector whatever the input image size.

Bins follow PyTorch's adaptive pooling (``torch.nn.functional.adaptive_max_pool2d``): along an
axis of size ``H`` split into ``n`` bins, bin ``i`` covers ``[floor(i * H / n), ceil((i + 1) * H / n))``.
Neighbouring bins may overlap by one pixel when ``n`` does not divide ``H``; every pixel is covered.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from cnncourse._validate import ArgumentError, as_pair, check_array, check_positive_int

__all__ = [
    "adaptive_bins",
    "adaptive_pool2d_backward",
    "adaptive_pool2d_forward",
    "spatial_pyramid_pool_backward",
    "spatial_pyramid_pool_forward",
]

_MODES = ("max", "avg")


def adaptive_bins(size: int, n: int) -> list[tuple[int, int]]:
    """The ``n`` half-open intervals ``(start, end)`` that adaptive pooling uses on an axis.

    Lecture 03. ``start = floor(i * size / n)``, ``end = ceil((i + 1) * size / n)``.
    """
    size = check_positive_int("size", size)
    n = check_positive_int("n", n)
    return [((i * size) // n, -((-(i + 1) * size) // n)) for i in range(n)]


def adaptive_pool2d_forward(x: np.ndarray, output_size: int | tuple[int, int],
                            mode: str = "max") -> tuple[np.ndarray, tuple]:
    """Pool each channel of ``x`` into a fixed ``OH x OW`` grid of adaptive bins.

    Lecture 03 (global pooling is ``output_size=1``; SPP stacks several sizes).

    Args:
        x: ``(N, C, H, W)`` float array.
        output_size: ``OH`` or ``(OH, OW)``, each >= 1.
        mode: ``"max"`` or ``"avg"``.

    Returns:
        ``out`` of shape ``(N, C, OH, OW)`` and a cache ``(x, bins_h, bins_w, mode)`` for
        :func:`adaptive_pool2d_backward`.
    """
    check_array("x", x, ndim=4, floating=True)
    oh, ow = as_pair("output_size", output_size, minimum=1)
    if mode not in _MODES:
        raise ArgumentError("mode", "'max' or 'avg'", repr(mode))
    n, c, h, w = x.shape
    bins_h, bins_w = adaptive_bins(h, oh), adaptive_bins(w, ow)
    out = np.empty((n, c, oh, ow), dtype=x.dtype)
    reduce = np.max if mode == "max" else np.mean
    for i, (h0, h1) in enumerate(bins_h):
        for j, (w0, w1) in enumerate(bins_w):
            out[:, :, i, j] = reduce(x[:, :, h0:h1, w0:w1], axis=(2, 3))
    return out, (x, bins_h, bins_w, mode)


def adaptive_pool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Gradient of :func:`adaptive_pool2d_forward` with respect to ``x``.

    Lecture 03 ("where do gradients go"). Max: each bin's gradient goes to the FIRST maximum of
    the bin in row-major order (PyTorch's tie rule); average: spread evenly over the bin. Bins
    that overlap add their contributions.

    Args:
        dout: ``(N, C, OH, OW)`` upstream gradient.
        cache: from the forward pass.

    Returns:
        ``dx`` of shape ``(N, C, H, W)``.
    """
    x, bins_h, bins_w, mode = cache
    check_array("dout", dout, ndim=4)
    expected = x.shape[:2] + (len(bins_h), len(bins_w))
    if dout.shape != expected:
        raise ArgumentError("dout", f"shape {expected}", dout.shape)
    n, c = x.shape[:2]
    dx = np.zeros_like(x)
    nn, cc = np.meshgrid(np.arange(n), np.arange(c), indexing="ij")  # (N, C) index grids
    for i, (h0, h1) in enumerate(bins_h):
        for j, (w0, w1) in enumerate(bins_w):
            g = dout[:, :, i, j]  # (N, C)
            if mode == "avg":
                dx[:, :, h0:h1, w0:w1] += g[:, :, None, None] / ((h1 - h0) * (w1 - w0))
            else:
                window = x[:, :, h0:h1, w0:w1].reshape(n, c, -1)
                k = np.argmax(window, axis=2)  # first maximum, (N, C)
                r, q = np.divmod(k, w1 - w0)
                np.add.at(dx, (nn, cc, h0 + r, w0 + q), g)
    return dx


def spatial_pyramid_pool_forward(x: np.ndarray, levels: Sequence[int] = (1, 2, 4),
                                 mode: str = "max") -> tuple[np.ndarray, tuple]:
    """Spatial pyramid pooling: adaptive pooling at every level, flattened and concatenated.

    Lecture 03 (and SPP-net in lecture 07).

    Args:
        x: ``(N, C, H, W)`` float array; any ``H, W`` >= 1.
        levels: grid sizes ``n`` (an ``n x n`` grid per level), e.g. ``(1, 2, 4)``.
        mode: ``"max"`` or ``"avg"``.

    Returns:
        ``out`` of shape ``(N, C * sum(n * n for n in levels))``: for each level in order the
        ``(N, C, n, n)`` pooled map flattened channel-major, as ``torch.flatten(p, 1)`` would;
        and a cache for :func:`spatial_pyramid_pool_backward`.
    """
    check_array("x", x, ndim=4, floating=True)
    if len(levels) == 0:
        raise ArgumentError("levels", "at least one grid size", tuple(levels))
    parts, caches = [], []
    for lv in levels:
        lv = check_positive_int("levels", lv)
        p, cache = adaptive_pool2d_forward(x, lv, mode)
        parts.append(p.reshape(x.shape[0], -1))  # (N, C * lv * lv)
        caches.append(cache)
    return np.concatenate(parts, axis=1), (tuple(levels), caches)


def spatial_pyramid_pool_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Gradient of :func:`spatial_pyramid_pool_forward`; lecture 03.

    Args:
        dout: ``(N, C * sum(n * n))`` upstream gradient.
        cache: from the forward pass.

    Returns:
        ``dx`` of shape ``(N, C, H, W)``: the sum of every level's adaptive-pool gradient.
    """
    levels, caches = cache
    x = caches[0][0]
    n, c = x.shape[:2]
    width = c * sum(lv * lv for lv in levels)
    check_array("dout", dout, ndim=2)
    if dout.shape != (n, width):
        raise ArgumentError("dout", f"shape {(n, width)}", dout.shape)
    dx = np.zeros_like(x)
    start = 0
    for lv, sub in zip(levels, caches):
        stop = start + c * lv * lv
        dx += adaptive_pool2d_backward(dout[:, start:stop].reshape(n, c, lv, lv), sub)
        start = stop
    return dx
