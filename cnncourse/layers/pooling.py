"""Max, average and global average pooling on NCHW arrays (lecture 3: pooling).

Semantics follow ``torch.nn.functional.max_pool2d`` / ``avg_pool2d``, ``ceil_mode`` included.
Each pass loops over the ``KH * KW`` kernel offsets only; every step handles all windows at once.

``ceil_mode=True`` rounds the output size up, ``H_out = ceil((H + 2*ph - dh*(KH-1) - 1) / sh) + 1``,
then drops the last window if it would start at or beyond ``H + ph`` (torch's rule: every window
starts inside the input or the left/top padding). The extra windows hang over the bottom/right
edge; we pad that side with ``-inf`` (max) or zeros (average) just far enough to hold them.
"""

from __future__ import annotations

import numpy as np

from cnncourse._validate import ArgumentError, as_pair
from cnncourse.arithmetic import _output_size
from cnncourse.layers._checks import _flag, _float_array, _kernel_fits, _pad_fits
from cnncourse.layers._im2col import _offset, _pad, _padded_size, _unpad

__all__ = [
    "max_pool2d_forward", "max_pool2d_backward",
    "avg_pool2d_forward", "avg_pool2d_backward",
    "global_avg_pool_forward", "global_avg_pool_backward",
]

Pair = int | tuple[int, int]


def _pool_args(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Validate; return x, k, s, p, d, (H_out, W_out) and the padding (top, bottom, left, right)."""
    x = _float_array("x", x, ndim=4)
    k = as_pair("kernel_size", kernel_size, minimum=1)
    s = k if stride is None else as_pair("stride", stride, minimum=1)
    p = as_pair("padding", padding, minimum=0)
    d = as_pair("dilation", dilation, minimum=1)
    ceil_mode = _flag("ceil_mode", ceil_mode)
    _pad_fits("padding", p, k)
    if not ceil_mode:
        _kernel_fits("kernel_size", x.shape[2:], p, k, d)
    # torch's pooling_output_shape is lecture 2's formula (cnncourse.arithmetic), floored or ceiled.
    hw_out = tuple(_output_size(x.shape[2 + a], k[a], s[a], p[a], d[a], ceil_mode) for a in range(2))
    if min(hw_out) < 1:   # ceil_mode only: the floor rule's failures were caught above
        eff = tuple(d[a] * (k[a] - 1) + 1 for a in range(2))
        raise ArgumentError("kernel_size", f"an effective kernel leaving an output size >= 1 for input "
                            f"{x.shape[2:]}, padding {p}, stride {s}, ceil_mode=True",
                            f"effective kernel {eff} (output size {hw_out})")
    # Windows past the bottom/right edge (ceil_mode) need extra padding on that side only.
    extra = tuple(max(0, (hw_out[a] - 1) * s[a] + d[a] * (k[a] - 1) + 1 - (x.shape[2 + a] + 2 * p[a]))
                  for a in range(2))
    sides = (p[0], p[0] + extra[0], p[1], p[1] + extra[1])
    return x, k, s, p, d, hw_out, sides


def _check_dtype_shape(dout, dtype, shape):
    dout = _float_array("dout", dout)
    if dout.dtype != dtype:
        raise ArgumentError("dout", f"dtype {dtype} (the input's dtype)", dout.dtype)
    if dout.shape != tuple(shape):
        raise ArgumentError("dout", f"shape {tuple(shape)}", f"shape {dout.shape}")
    return dout


def _first_real_tap(n_out: int, size: int, k: int, s: int, p: int, d: int) -> np.ndarray:
    """Per output position along one axis, the first kernel tap on a real (non-padding) pixel, or
    ``k`` when the window holds none (possible with dilation). Shape ``(n_out,)``."""
    start = np.arange(n_out) * s - p                  # first tap's input coordinate
    i0 = np.maximum(0, -(start // d))                 # smallest i with start + i*d >= 0
    return np.where((i0 < k) & (start + i0 * d < size), i0, k)


def max_pool2d_forward(x: np.ndarray, kernel_size: Pair, stride: Pair | None = None,
                       padding: Pair = 0, dilation: Pair = 1,
                       ceil_mode: bool = False) -> tuple[np.ndarray, tuple]:
    """Max pooling, identical to ``torch.nn.functional.max_pool2d`` (same positional order).

    Args:
        x: ``(N, C, H, W)`` float32/float64.
        kernel_size: ``k`` or ``(KH, KW)``.
        stride: defaults to ``kernel_size`` (torch's default).
        padding: implicit ``-inf`` padding, at most half the kernel size (torch's rule).
        dilation: spacing between window elements.
        ceil_mode: round the output size up (see the module docstring).

    Returns:
        ``out`` ``(N, C, H_out, W_out)``, ``H_out = (H + 2*ph - dh*(KH-1) - 1) // sh + 1`` (floor);
        ``cache`` = (argmax tap index ``(N, C, H_out, W_out)`` in ``[0, KH*KW)``, geometry).
        The backward pass sends each window's gradient to the FIRST maximum in row-major order,
        as torch does; overlapping windows accumulate. Like torch's kernels: a window whose real
        pixels are all ``-inf`` sends it to its first real pixel (never to padding), and a window
        holding NaN outputs NaN and sends it to its LAST NaN. A window with no real pixel at all
        (dilation skipping over the input) outputs ``-inf`` and passes no gradient (torch writes
        out of bounds there).

    Introduced in lecture 3.
    """
    x, k, s, p, d, (h_out, w_out), sides = _pool_args(x, kernel_size, stride, padding, dilation, ceil_mode)
    xp = _pad(x, sides, value=-np.inf)
    i0 = _first_real_tap(h_out, x.shape[2], k[0], s[0], p[0], d[0])   # (H_out,)
    j0 = _first_real_tap(w_out, x.shape[3], k[1], s[1], p[1], d[1])   # (W_out,)
    # Start every window at -inf pointing at its first real pixel (-1: none); a tap takes over only
    # if strictly greater (the first maximum stays) or NaN (as in torch's CPU and CUDA kernels).
    first = np.where((i0 < k[0])[:, None] & (j0 < k[1])[None, :], i0[:, None] * k[1] + j0[None, :], -1)
    idx = np.broadcast_to(first, x.shape[:2] + (h_out, w_out)).copy()          # (N, C, H_out, W_out)
    out = np.full(idx.shape, -np.inf, dtype=x.dtype)
    for t in range(k[0] * k[1]):
        v = xp[(slice(None), slice(None)) + _offset(t // k[1], t % k[1], h_out, w_out, s, d)]
        upd = (v > out) | np.isnan(v)
        np.copyto(out, v, where=upd)
        np.copyto(idx, t, where=upd)
    return out, (idx, x.shape, x.dtype, k, s, sides, d)


def max_pool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward pass of :func:`max_pool2d_forward`: ``(N, C, H_out, W_out)`` -> ``dx`` ``(N, C, H, W)``."""
    idx, x_shape, dtype, k, s, sides, d = cache
    dout = _check_dtype_shape(dout, dtype, idx.shape)
    h_out, w_out = idx.shape[2:]
    dxp = np.zeros(x_shape[:2] + _padded_size(x_shape[2:], sides), dtype=dtype)
    zero = dout.dtype.type(0)
    for t in range(k[0] * k[1]):
        sl = (slice(None), slice(None)) + _offset(t // k[1], t % k[1], h_out, w_out, s, d)
        dxp[sl] += np.where(idx == t, dout, zero)
    return _unpad(dxp, sides, x_shape[2:])


def _avg_divisor_1d(n_out: int, size: int, k: int, s: int, p: int, count_include_pad: bool) -> np.ndarray:
    """torch's per-axis window length: clipped to the padded input (include_pad) or to the input."""
    start = np.arange(n_out) * s - p
    end = np.minimum(start + k, size + p)             # a ceil_mode window stops at the padding's end
    if count_include_pad:
        return end - start
    return np.minimum(end, size) - np.maximum(start, 0)


def avg_pool2d_forward(x: np.ndarray, kernel_size: Pair, stride: Pair | None = None,
                       padding: Pair = 0, count_include_pad: bool = True,
                       divisor_override: int | None = None, *,
                       ceil_mode: bool = False) -> tuple[np.ndarray, tuple]:
    """Average pooling, identical to ``torch.nn.functional.avg_pool2d``.

    Positional order differs from torch after ``padding`` (torch puts ``ceil_mode`` fifth), which
    is why ``ceil_mode`` is keyword-only here.

    Args:
        x: ``(N, C, H, W)`` float32/float64.
        kernel_size, stride (default ``kernel_size``), padding (zero padding, at most half the kernel).
        count_include_pad: divide by the window size counting padding (True) or by the number of real
            pixels. As in torch, a ``ceil_mode`` window is first clipped to the padded input, so the
            part hanging past the padding never counts.
        divisor_override: if given, divide every window sum by this instead.
        ceil_mode: round the output size up (see the module docstring).

    Returns:
        ``out`` ``(N, C, H_out, W_out)``, ``H_out = (H + 2*ph - KH) // sh + 1`` (floor); ``cache``.

    Introduced in lecture 3.
    """
    x, k, s, p, d, (h_out, w_out), sides = _pool_args(x, kernel_size, stride, padding, 1, ceil_mode)
    count_include_pad = _flag("count_include_pad", count_include_pad)
    if divisor_override is not None:
        if isinstance(divisor_override, bool) or not isinstance(divisor_override, int) or divisor_override == 0:
            raise ArgumentError("divisor_override", "a non-zero int or None", divisor_override)
        divisor = np.full((h_out, w_out), divisor_override, dtype=x.dtype)
    else:
        dh = _avg_divisor_1d(h_out, x.shape[2], k[0], s[0], p[0], count_include_pad)
        dw = _avg_divisor_1d(w_out, x.shape[3], k[1], s[1], p[1], count_include_pad)
        assert dh.min() >= 1 and dw.min() >= 1      # every window starts inside the input
        divisor = np.outer(dh, dw).astype(x.dtype)  # (H_out, W_out)
    xp = _pad(x, sides)
    out = np.zeros(x.shape[:2] + (h_out, w_out), dtype=x.dtype)
    for t in range(k[0] * k[1]):
        out += xp[(slice(None), slice(None)) + _offset(t // k[1], t % k[1], h_out, w_out, s, d)]
    out /= divisor
    return out, (divisor, x.shape, k, s, sides)


def avg_pool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward pass of :func:`avg_pool2d_forward`: ``(N, C, H_out, W_out)`` -> ``dx`` ``(N, C, H, W)``."""
    divisor, x_shape, k, s, sides = cache
    dout = _check_dtype_shape(dout, divisor.dtype, x_shape[:2] + divisor.shape)
    h_out, w_out = divisor.shape
    g = dout / divisor
    dxp = np.zeros(x_shape[:2] + _padded_size(x_shape[2:], sides), dtype=dout.dtype)
    for t in range(k[0] * k[1]):
        dxp[(slice(None), slice(None)) + _offset(t // k[1], t % k[1], h_out, w_out, s, (1, 1))] += g
    return _unpad(dxp, sides, x_shape[2:])


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
