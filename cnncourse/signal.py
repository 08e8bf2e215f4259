"""Single-channel convolution on plain arrays: 1D, 2D and 3D, and convolution as a matrix.

Lecture 02 (convolution) starts from a 1D signal before moving to NCHW layers. This module holds
the small, channel-free operations that lecture needs:

- :func:`correlate` is what deep-learning "convolution" layers compute (no filter flip):
  ``out[o] = sum_k x_pad[o * stride + k * dilation] * w[k]`` for every axis at once.
- :func:`convolve` is the true (signal-processing) convolution: the filter is flipped first, so
  ``convolve(x, w) == correlate(x, w[::-1])``, and ``convolve(x, w)`` equals
  ``numpy.convolve(x, w, "valid")`` in 1D.
- :func:`conv_as_toeplitz` writes :func:`correlate` as one matrix ``T`` so that
  ``correlate(x, w).ravel() == T @ x.ravel()``; its transpose ``T.T`` is the transposed
  convolution (lecture 02, "transposed convolution").

Shapes: ``x`` is ``(L,)``, ``(H, W)`` or ``(D, H, W)``; ``w`` has the same number of axes,
``(KL,)``, ``(KH, KW)`` or ``(KD, KH, KW)``. Output sizes are lecture 02's formula,
:func:`cnncourse.arithmetic.conv_output_size`, floored as PyTorch does:
``out = floor((size + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from cnncourse._validate import ArgumentError, as_tuple, check_array
from cnncourse.arithmetic import conv_output_size

__all__ = ["conv_as_toeplitz", "convolve", "correlate", "correlate1d", "convolve1d"]

IntOrTuple = int | Sequence[int]


def _check_pair(x: np.ndarray, w: np.ndarray) -> None:
    check_array("x", x, ndim=(1, 2, 3))
    check_array("w", w, ndim=(1, 2, 3))
    if w.ndim != x.ndim:
        raise ArgumentError("w", f"a {x.ndim}-D filter (same number of axes as `x`)",
                            f"{w.ndim}-D with shape {w.shape}")


def _conv_args(shape: tuple[int, ...], kernel: tuple[int, ...], stride: IntOrTuple, padding: IntOrTuple,
               dilation: IntOrTuple) -> tuple[tuple[int, ...], ...]:
    """Normalise stride, padding, dilation to one int per axis; return them and the output shape."""
    nd = len(kernel)
    s = as_tuple("stride", stride, nd, minimum=1)
    p = as_tuple("padding", padding, nd, minimum=0)
    d = as_tuple("dilation", dilation, nd, minimum=1)
    for name, dims in (("x", shape), ("w", kernel)):
        if 0 in dims:   # as in torch: an empty axis has no output size, padded or not
            raise ArgumentError(name, "an array without empty axes", f"shape {dims}")
    out = []
    for n, k, sa, pa, da in zip(shape, kernel, s, p, d):
        try:
            out.append(conv_output_size(n, k, sa, pa, da, floor=True))
        except ArgumentError:   # the only failure left: the filter does not fit; name `w`
            raise ArgumentError("w", f"a filter whose dilated extent fits the padded input "
                                f"({n} + 2*{pa} = {n + 2 * pa})", f"extent {da * (k - 1) + 1}") from None
    return s, p, d, tuple(out)


def correlate(x: np.ndarray, w: np.ndarray, *, stride: IntOrTuple = 1, padding: IntOrTuple = 0,
              dilation: IntOrTuple = 1) -> np.ndarray:
    """Cross-correlate one channel with one filter, the operation a "conv" layer computes.

    Introduced in lecture 02 (the 1D signal example, then 2D edge filters and 3D volumes).

    Args:
        x: input of shape ``(L,)``, ``(H, W)`` or ``(D, H, W)``.
        w: filter with the same number of axes, e.g. ``(KH, KW)``. It is NOT flipped.
        stride, padding, dilation: an int for every axis, or one int per axis; zero padding.

    Returns:
        Array of shape ``floor((size + 2p - d(k - 1) - 1) / s) + 1`` per axis and the dtype of
        ``x * w``: ``out[o] = sum_k x_pad[o * s + k * d] * w[k]``.
    """
    _check_pair(x, w)
    nd = x.ndim
    s, p, d, out_shape = _conv_args(x.shape, w.shape, stride, padding, dilation)
    xp = np.pad(x, [(pi, pi) for pi in p])
    span = tuple(di * (k - 1) + 1 for di, k in zip(d, w.shape))
    # windows: out-axes then window-axes, e.g. (H', W', span_h, span_w) before striding
    win = np.lib.stride_tricks.sliding_window_view(xp, span)
    win = win[tuple(slice(None, None, si) for si in s) + tuple(slice(None, None, di) for di in d)]
    win = win[tuple(slice(0, o) for o in out_shape)]  # (*out_shape, *w.shape)
    return np.tensordot(win, w, axes=nd)


def convolve(x: np.ndarray, w: np.ndarray, *, stride: IntOrTuple = 1, padding: IntOrTuple = 0,
             dilation: IntOrTuple = 1) -> np.ndarray:
    """True convolution: flip the filter along every axis, then :func:`correlate`.

    Introduced in lecture 02. In 1D with no padding this is ``numpy.convolve(x, w, "valid")``;
    with ``padding = len(w) - 1`` it is ``numpy.convolve(x, w, "full")``.

    Args and Returns as :func:`correlate`.
    """
    _check_pair(x, w)
    return correlate(x, np.flip(w), stride=stride, padding=padding, dilation=dilation)


def correlate1d(x: np.ndarray, w: np.ndarray, *, stride: int = 1, padding: int = 0,
                dilation: int = 1) -> np.ndarray:
    """:func:`correlate` restricted to 1D ``x`` of shape ``(L,)`` and ``w`` of shape ``(KL,)``.

    Introduced in lecture 02 (signal ``5 9 2 6 7 9 8`` with filter ``-1 0 1``).
    Returns shape ``(floor((L + 2p - d(KL - 1) - 1) / s) + 1,)``.
    """
    check_array("x", x, ndim=1)
    check_array("w", w, ndim=1)
    return correlate(x, w, stride=stride, padding=padding, dilation=dilation)


def convolve1d(x: np.ndarray, w: np.ndarray, *, stride: int = 1, padding: int = 0,
               dilation: int = 1) -> np.ndarray:
    """:func:`convolve` restricted to 1D (flips ``w``); lecture 02. Shapes as :func:`correlate1d`."""
    check_array("x", x, ndim=1)
    check_array("w", w, ndim=1)
    return convolve(x, w, stride=stride, padding=padding, dilation=dilation)


def conv_as_toeplitz(w: np.ndarray, input_shape: int | Sequence[int], *, stride: IntOrTuple = 1,
                     padding: IntOrTuple = 0, dilation: IntOrTuple = 1) -> np.ndarray:
    """The matrix ``T`` with ``correlate(x, w, ...).ravel() == T @ x.ravel()``.

    Introduced in lecture 02 ("convolution as a Toeplitz matrix"; in 2D the matrix is doubly
    block Toeplitz). Row ``o`` holds the filter taps that output ``o`` sees; zero padding simply
    drops the taps that fall outside the input. ``T.T`` maps an output-shaped array back to the
    input shape: that is the transposed convolution of lectures 02 and 08.

    Args:
        w: filter ``(KL,)``, ``(KH, KW)`` or ``(KD, KH, KW)``.
        input_shape: shape of ``x``, with as many axes as ``w`` (an int is allowed in 1D).
        stride, padding, dilation: as :func:`correlate`.

    Returns:
        Array of shape ``(prod(out_shape), prod(input_shape))`` and the dtype of ``w``.
    """
    check_array("w", w, ndim=(1, 2, 3))
    shape = as_tuple("input_shape", input_shape, w.ndim, minimum=1)
    nd = w.ndim
    s, p, d, out_shape = _conv_args(shape, w.shape, stride, padding, dilation)
    T = np.zeros((int(np.prod(out_shape)), int(np.prod(shape))), dtype=w.dtype)
    # every (output position, filter tap) pair, as index grids of shape (*out_shape, *w.shape)
    grids = np.indices(out_shape + w.shape)
    inside = np.ones(out_shape + w.shape, dtype=bool)
    in_idx = []
    for a in range(nd):
        i = grids[a] * s[a] - p[a] + grids[nd + a] * d[a]  # input index along axis a
        inside &= (i >= 0) & (i < shape[a])
        in_idx.append(i)
    rows = np.ravel_multi_index(tuple(grids[:nd]), out_shape)[inside]
    cols = np.ravel_multi_index(tuple(i[inside] for i in in_idx), shape)
    taps = np.broadcast_to(w, out_shape + w.shape)[inside]
    # distinct (row, col) pairs are distinct taps, so plain assignment suffices
    T[rows, cols] = taps
    return T
