"""Max, average and global average pooling on NCHW arrays (lecture 3: pooling).

Semantics follow ``torch.nn.functional.max_pool2d`` / ``avg_pool2d`` with ``ceil_mode=False``.
Each pass loops over the ``KH * KW`` kernel offsets only; every step handles all windows at once.
"""

from __future__ import annotations

import numpy as np

from cnncourse._validate import ArgumentError, as_pair
from cnncourse.layers._checks import _float_array, _kernel_fits, _pad_fits
from cnncourse.layers._im2col import _offset, _out_size, _pad, _unpad

__all__ = [
    "max_pool2d_forward", "max_pool2d_backward",
    "avg_pool2d_forward", "avg_pool2d_backward",
    "global_avg_pool_forward", "global_avg_pool_backward",
]

Pair = int | tuple[int, int]


def _pool_args(x, kernel_size, stride, padding, dilation):
    x = _float_array("x", x, ndim=4)
    k = as_pair("kernel_size", kernel_size, minimum=1)
    s = k if stride is None else as_pair("stride", stride, minimum=1)
    p = as_pair("padding", padding, minimum=0)
    d = as_pair("dilation", dilation, minimum=1)
    _pad_fits("padding", p, k)
    _kernel_fits("kernel_size", x.shape[2:], p, k, d)
    hw_out = (_out_size(x.shape[2], k[0], s[0], p[0], d[0]), _out_size(x.shape[3], k[1], s[1], p[1], d[1]))
    return x, k, s, p, d, hw_out


def _check_dtype_shape(dout, dtype, shape):
    dout = _float_array("dout", dout)
    if dout.dtype != dtype:
        raise ArgumentError("dout", f"dtype {dtype} (the input's dtype)", dout.dtype)
    if dout.shape != tuple(shape):
        raise ArgumentError("dout", f"shape {tuple(shape)}", f"shape {dout.shape}")
    return dout


def max_pool2d_forward(x: np.ndarray, kernel_size: Pair, stride: Pair | None = None,
                       padding: Pair = 0, dilation: Pair = 1) -> tuple[np.ndarray, tuple]:
    """Max pooling, identical to ``torch.nn.functional.max_pool2d`` (``ceil_mode=False``).

    Args:
        x: ``(N, C, H, W)`` float32/float64.
        kernel_size: ``k`` or ``(KH, KW)``.
        stride: defaults to ``kernel_size`` (torch's default).
        padding: implicit ``-inf`` padding, at most half the kernel size (torch's rule).
        dilation: spacing between window elements.

    Returns:
        ``out`` ``(N, C, H_out, W_out)``, ``H_out = (H + 2*ph - dh*(KH-1) - 1) // sh + 1``;
        ``cache`` = (argmax tap index ``(N, C, H_out, W_out)`` in ``[0, KH*KW)``, geometry).
        The backward pass sends each window's gradient to the FIRST maximum in row-major order,
        as torch does; overlapping windows accumulate.

    Introduced in lecture 3.
    """
    x, k, s, p, d, (h_out, w_out) = _pool_args(x, kernel_size, stride, padding, dilation)
    xp = _pad(x, p, value=-np.inf)
    out = idx = None
    for t in range(k[0] * k[1]):
        v = xp[(slice(None), slice(None)) + _offset(t // k[1], t % k[1], h_out, w_out, s, d)]
        if out is None:
            out, idx = v.copy(), np.zeros(v.shape, dtype=np.intp)
            continue
        # Strictly greater keeps the first maximum; NaN wins like in torch's CPU kernel.
        upd = (v > out) | np.isnan(v)
        np.copyto(out, v, where=upd)
        np.copyto(idx, t, where=upd)
    return out, (idx, x.shape, x.dtype, k, s, p, d)


def max_pool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward pass of :func:`max_pool2d_forward`: ``(N, C, H_out, W_out)`` -> ``dx`` ``(N, C, H, W)``."""
    idx, x_shape, dtype, k, s, p, d = cache
    dout = _check_dtype_shape(dout, dtype, idx.shape)
    h_out, w_out = idx.shape[2:]
    dxp = np.zeros(x_shape[:2] + (x_shape[2] + 2 * p[0], x_shape[3] + 2 * p[1]), dtype=dtype)
    zero = dout.dtype.type(0)
    for t in range(k[0] * k[1]):
        sl = (slice(None), slice(None)) + _offset(t // k[1], t % k[1], h_out, w_out, s, d)
        dxp[sl] += np.where(idx == t, dout, zero)
    return _unpad(dxp, p, x_shape[2:])


def avg_pool2d_forward(x: np.ndarray, kernel_size: Pair, stride: Pair | None = None,
                       padding: Pair = 0, count_include_pad: bool = True,
                       divisor_override: int | None = None) -> tuple[np.ndarray, tuple]:
    """Average pooling, identical to ``torch.nn.functional.avg_pool2d`` (``ceil_mode=False``).

    Args:
        x: ``(N, C, H, W)`` float32/float64.
        kernel_size, stride (default ``kernel_size``), padding (zero padding, at most half the kernel).
        count_include_pad: divide by ``KH*KW`` (True) or by the number of non-padding elements.
        divisor_override: if given, divide every window sum by this instead.

    Returns:
        ``out`` ``(N, C, H_out, W_out)``, ``H_out = (H + 2*ph - KH) // sh + 1``; ``cache``.

    Introduced in lecture 3.
    """
    x, k, s, p, d, (h_out, w_out) = _pool_args(x, kernel_size, stride, padding, 1)
    if divisor_override is not None:
        if isinstance(divisor_override, bool) or not isinstance(divisor_override, int) or divisor_override == 0:
            raise ArgumentError("divisor_override", "a non-zero int or None", divisor_override)
        divisor = np.full((h_out, w_out), divisor_override, dtype=x.dtype)
    elif count_include_pad:
        divisor = np.full((h_out, w_out), k[0] * k[1], dtype=x.dtype)
    else:
        # Count the real (non-padding) pixels of every window with the same tap loop on a 2-D mask.
        mask = _pad(np.ones((1, 1) + x.shape[2:], dtype=x.dtype), p)[0, 0]
        divisor = np.zeros((h_out, w_out), dtype=x.dtype)
        for t in range(k[0] * k[1]):
            divisor += mask[_offset(t // k[1], t % k[1], h_out, w_out, s, d)]
    xp = _pad(x, p)
    out = np.zeros(x.shape[:2] + (h_out, w_out), dtype=x.dtype)
    for t in range(k[0] * k[1]):
        out += xp[(slice(None), slice(None)) + _offset(t // k[1], t % k[1], h_out, w_out, s, d)]
    out /= divisor
    return out, (divisor, x.shape, k, s, p)


def avg_pool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward pass of :func:`avg_pool2d_forward`: ``(N, C, H_out, W_out)`` -> ``dx`` ``(N, C, H, W)``."""
    divisor, x_shape, k, s, p = cache
    dout = _check_dtype_shape(dout, divisor.dtype, x_shape[:2] + divisor.shape)
    h_out, w_out = divisor.shape
    g = dout / divisor
    dxp = np.zeros(x_shape[:2] + (x_shape[2] + 2 * p[0], x_shape[3] + 2 * p[1]), dtype=dout.dtype)
    for t in range(k[0] * k[1]):
        dxp[(slice(None), slice(None)) + _offset(t // k[1], t % k[1], h_out, w_out, s, (1, 1))] += g
    return _unpad(dxp, p, x_shape[2:])


def global_avg_pool_forward(x: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Global average pooling: ``(N, C, H, W)`` -> ``(N, C)`` (= ``adaptive_avg_pool2d(x, 1).flatten(1)``).

    Introduced in lecture 3 (global pooling).
    """
    x = _float_array("x", x, ndim=4)
    return x.mean(axis=(2, 3)), (x.shape, x.dtype)


def global_avg_pool_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward pass of :func:`global_avg_pool_forward`: ``(N, C)`` -> ``(N, C, H, W)``."""
    shape, dtype = cache
    dout = _check_dtype_shape(dout, dtype, shape[:2])
    scale = dtype.type(1.0 / (shape[2] * shape[3]))
    return np.broadcast_to((dout * scale)[:, :, None, None], shape).copy()
