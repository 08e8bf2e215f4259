"""Mirror (reflect) padding of NCHW maps, numpy forward/backward (lecture 08: segmentation tricks).

Zero padding invents a dark frame around the image, so a segmentation network sees a fake edge at
every border. Mirror padding continues the image by reflecting it about its first/last row and
column (the edge pixel is NOT repeated): ``[a b c d]`` padded by 2 is ``[c b | a b c d | c b]``.
Semantics match ``numpy.pad(mode="reflect")`` and ``torch.nn.functional.pad(mode="reflect")``;
as in torch each padding must be smaller than the size of its axis. U-Net used it to predict the
border of large images tile by tile.
"""

from __future__ import annotations

from numbers import Integral
from collections.abc import Sequence

import numpy as np

from cnncourse._validate import ArgumentError
from cnncourse.layers._checks import _float_array

__all__ = ["reflect_indices", "reflect_pad2d_backward", "reflect_pad2d_forward"]

Padding = int | Sequence[int]


def reflect_indices(size: int, before: int, after: int) -> np.ndarray:
    """Source index of every position of an axis of ``size`` padded by ``before``/``after``.

    Lecture 08. Index ``i`` of the padded axis reads ``reflect(i - before)`` where
    ``reflect(j) = -j`` for ``j < 0`` and ``2(size - 1) - j`` for ``j >= size``.

    Returns:
        ``(before + size + after,)`` int64 indices into the unpadded axis.
    """
    if before >= size or after >= size:
        raise ArgumentError("padding", f"values smaller than the axis size {size} (reflect needs it)",
                            (before, after))
    j = np.arange(-before, size + after)
    j = np.where(j < 0, -j, j)
    return np.where(j >= size, 2 * (size - 1) - j, j)


def _as_four(padding: Padding) -> tuple[int, int, int, int]:
    """int, (ph, pw) or torch's (left, right, top, bottom) -> (left, right, top, bottom)."""
    vals = (padding,) if not isinstance(padding, (tuple, list)) else tuple(padding)
    if len(vals) not in (1, 2, 4) or any(isinstance(v, bool) or not isinstance(v, Integral) for v in vals):
        raise ArgumentError("padding", "an int, (ph, pw) or (left, right, top, bottom) of ints", padding)
    if any(v < 0 for v in vals):
        raise ArgumentError("padding", "values >= 0", padding)
    if len(vals) == 1:
        vals = vals * 4
    elif len(vals) == 2:
        vals = (vals[1], vals[1], vals[0], vals[0])
    return tuple(int(v) for v in vals)  # type: ignore[return-value]


def reflect_pad2d_forward(x: np.ndarray, padding: Padding) -> tuple[np.ndarray, tuple]:
    """Mirror-pad the two spatial axes of ``x`` (lecture 08).

    Args:
        x: ``(N, C, H, W)`` float32/float64.
        padding: ``p``, ``(ph, pw)`` or torch's ``(left, right, top, bottom)``; each pad smaller
            than its axis (``top, bottom < H``; ``left, right < W``).

    Returns:
        ``out`` ``(N, C, top + H + bottom, left + W + right)`` (a new array, ``x``'s dtype) and a
        cache ``(x.shape, rows, cols)`` of the source indices for the backward pass.
    """
    x = _float_array("x", x, ndim=4)
    left, right, top, bottom = _as_four(padding)
    rows = reflect_indices(x.shape[2], top, bottom)     # (H_out,)
    cols = reflect_indices(x.shape[3], left, right)     # (W_out,)
    out = x[:, :, rows[:, None], cols[None, :]]          # (N, C, H_out, W_out)
    return out, (x.shape, rows, cols)


def reflect_pad2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Gradient of :func:`reflect_pad2d_forward`: every padded copy sends its gradient home.

    Lecture 08. A pixel copied ``m`` times (itself plus its mirror images) receives the sum of
    those ``m`` gradients.

    Returns:
        ``dx`` of shape ``(N, C, H, W)``.
    """
    shape, rows, cols = cache
    dout = _float_array("dout", dout, ndim=4)
    if dout.shape != shape[:2] + (rows.size, cols.size):
        raise ArgumentError("dout", f"shape {shape[:2] + (rows.size, cols.size)}", f"shape {dout.shape}")
    # Sum the columns into their sources, then the rows: (N, C, H_out, W) then (N, C, H, W).
    tmp = np.zeros(shape[:3] + (shape[3],), dtype=dout.dtype)
    by_col = np.zeros(dout.shape[:3] + (shape[3],), dtype=dout.dtype)
    np.add.at(by_col, (slice(None), slice(None), slice(None), cols), dout)
    np.add.at(tmp, (slice(None), slice(None), rows), by_col)
    return tmp
