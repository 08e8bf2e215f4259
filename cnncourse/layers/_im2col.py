"""im2col / col2im on NCHW arrays with stride and dilation (lecture 2: convolution as a matrix product).

``_im2col`` copies every (strided, dilated) ``KH x KW`` window of a padded input into one array of
shape ``(N, C, KH, KW, H_out, W_out)``: a zero-copy window view (``sliding_window_view``) followed by
ONE copy into that layout (measured faster than ``KH * KW`` separate block copies). ``_col2im_add``
is its adjoint: a Python loop over the kernel offsets only, each step adding a whole ``(N, C, H_out, W_out)``
block back, so overlapping windows add up.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__: list[str] = []


def _offset(i: int, j: int, h_out: int, w_out: int, stride: tuple[int, int],
            dilation: tuple[int, int]) -> tuple[slice, slice]:
    """Rows/columns of the padded input seen by kernel tap ``(i, j)`` across all windows."""
    h0, w0 = i * dilation[0], j * dilation[1]
    return (slice(h0, h0 + stride[0] * (h_out - 1) + 1, stride[0]),
            slice(w0, w0 + stride[1] * (w_out - 1) + 1, stride[1]))


def _sides(padding: tuple[int, ...]) -> tuple[int, int, int, int]:
    """``(ph, pw)`` (symmetric) or ``(top, bottom, left, right)`` -> ``(top, bottom, left, right)``."""
    if len(padding) == 2:
        return padding[0], padding[0], padding[1], padding[1]
    assert len(padding) == 4, padding
    return tuple(padding)


def _padded_size(hw: tuple[int, int], padding: tuple[int, ...]) -> tuple[int, int]:
    """Spatial size after padding ``hw`` with ``(ph, pw)`` or ``(top, bottom, left, right)``."""
    t, b, l, r = _sides(padding)
    return hw[0] + t + b, hw[1] + l + r


def _pad(x: np.ndarray, padding: tuple[int, ...], value: float = 0.0) -> np.ndarray:
    """Pad H and W of an NCHW array with a constant: ``padding`` is ``(ph, pw)`` on both sides or
    ``(top, bottom, left, right)``. Returns ``x`` itself when there is nothing to pad."""
    t, b, l, r = _sides(padding)
    if t == b == l == r == 0:
        return x
    n, c, h, w = x.shape
    xp = np.full((n, c, h + t + b, w + l + r), value, dtype=x.dtype)
    xp[:, :, t:t + h, l:l + w] = x
    return xp


def _im2col(xp: np.ndarray, kh: int, kw: int, h_out: int, w_out: int,
            stride: tuple[int, int], dilation: tuple[int, int]) -> np.ndarray:
    """(N, C, Hp, Wp) padded input -> (N, C, KH, KW, H_out, W_out) window columns (a fresh array)."""
    span = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)  # receptive field of one window
    # View of all stride-1 windows: (N, C, Hp - span_h + 1, Wp - span_w + 1, span_h, span_w); no copy.
    win = sliding_window_view(xp, span, axis=(2, 3))
    # Keep every stride-th window and every dilation-th tap: (N, C, H_out, W_out, KH, KW), still a view.
    win = win[:, :, :stride[0] * (h_out - 1) + 1:stride[0], :stride[1] * (w_out - 1) + 1:stride[1],
              ::dilation[0], ::dilation[1]]
    # The one real copy, taps before positions so each (c, i, j) row of the GEMM operand is contiguous.
    return np.ascontiguousarray(win.transpose(0, 1, 4, 5, 2, 3))


def _col2im_add(cols: np.ndarray, dxp: np.ndarray, stride: tuple[int, int],
                dilation: tuple[int, int]) -> None:
    """In place: dxp (N, C, Hp, Wp) += col2im(cols (N, C, KH, KW, H_out, W_out))."""
    _, _, kh, kw, h_out, w_out = cols.shape
    for i in range(kh):
        for j in range(kw):
            rows, colsl = _offset(i, j, h_out, w_out, stride, dilation)
            dxp[:, :, rows, colsl] += cols[:, :, i, j]


def _unpad(xp: np.ndarray, padding: tuple[int, ...], hw: tuple[int, int]) -> np.ndarray:
    """Crop the padding (``(ph, pw)`` or ``(top, bottom, left, right)``) back off:
    (N, C, Hp, Wp) -> contiguous (N, C, H, W)."""
    t, _, l, _ = _sides(padding)
    if xp.shape[2:] == tuple(hw):
        return xp
    return np.ascontiguousarray(xp[:, :, t:t + hw[0], l:l + hw[1]])
