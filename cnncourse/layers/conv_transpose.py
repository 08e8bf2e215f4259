"""Transposed 2-D convolution ("deconvolution"): the adjoint of :func:`conv2d_forward` in x.

Lecture 2 (transposed convolution) and lecture 8 (upsampling for segmentation). Semantics follow ``torch.nn.functional.conv_transpose2d(
input, weight, bias, stride, padding, output_padding, groups, dilation)``: the forward pass is the
input-gradient of a convolution, the backward pass is a convolution.
"""

from __future__ import annotations

import numpy as np

from cnncourse._validate import ArgumentError, as_pair, check_positive_int
from cnncourse.layers._checks import _optional_vector, _same_dtype
from cnncourse.layers._im2col import _im2col, _pad
from cnncourse.layers.conv import _check_x_w, _conv_from_cols, _input_grad, _weight_grad

__all__ = ["conv_transpose2d_forward", "conv_transpose2d_backward"]

Pair = int | tuple[int, int]


def conv_transpose2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: Pair = 1,
                             padding: Pair = 0, output_padding: Pair = 0, groups: int = 1,
                             dilation: Pair = 1) -> tuple[np.ndarray, tuple]:
    """Forward pass of a transposed convolution, identical to ``torch.nn.functional.conv_transpose2d``.

    Args:
        x: input ``(N, C, H, W)``, float32 or float64.
        w: weights ``(C, F / groups, KH, KW)`` (torch's layout: input channels first).
        b: biases ``(F,)`` or ``None``.
        stride, padding, output_padding, dilation: int or pair; ``output_padding`` must be smaller
            than stride or dilation (torch's rule).
        groups: must divide ``C`` (and ``F`` = ``groups * w.shape[1]``).

    Returns:
        ``out`` ``(N, F, H_out, W_out)`` with
        ``H_out = (H - 1)*sh - 2*ph + dh*(KH - 1) + oph + 1``; ``cache`` for the backward pass.
    """
    x, w = _check_x_w(x, w, "(C, F/groups, KH, KW)")
    n, c, h, wd = x.shape
    if w.shape[0] != c:
        raise ArgumentError("w", f"shape (C={c}, F/groups, KH, KW) matching x's {c} channels",
                            f"shape {w.shape}")
    g = check_positive_int("groups", groups)
    if c % g:
        raise ArgumentError("groups", f"a divisor of the {c} input channels", g)
    f, kh, kw = w.shape[1] * g, w.shape[2], w.shape[3]
    b = _optional_vector("b", b, f, x)
    st = as_pair("stride", stride, minimum=1)
    pd = as_pair("padding", padding, minimum=0)
    dl = as_pair("dilation", dilation, minimum=1)
    op = as_pair("output_padding", output_padding, minimum=0)
    for a in range(2):
        if op[a] >= max(st[a], dl[a]):
            raise ArgumentError("output_padding", f"values smaller than stride {st} or dilation {dl}", op)
    out_hw = tuple((s - 1) * st[a] - 2 * pd[a] + dl[a] * ((kh, kw)[a] - 1) + op[a] + 1
                   for a, s in enumerate((h, wd)))
    if min(out_hw) < 1:
        raise ArgumentError("padding", f"a value leaving a positive output size for input {(h, wd)}",
                            f"{pd} (output size would be {out_hw})")
    # x plays the role of a convolution's output gradient; out is that convolution's input gradient.
    out = _input_grad(x, w, out_hw, st, pd, dl, g)  # (N, F, H_out, W_out)
    if b is not None:
        out += b[None, :, None, None]
    return out, (x, w, b is not None, st, pd, dl, g)


def conv_transpose2d_backward(dout: np.ndarray, cache: tuple
                              ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Backward pass of :func:`conv_transpose2d_forward`.

    Returns:
        ``(dx, dw, db)``: ``(N, C, H, W)``, ``(C, F/groups, KH, KW)``, ``(F,)`` or ``None``.
    """
    x, w, has_b, st, pd, dl, g = cache
    dout = _same_dtype("dout", dout, x)
    n, c, h, wd = x.shape
    if dout.ndim != 4 or dout.shape[:2] != (n, w.shape[1] * g):
        raise ArgumentError("dout", f"shape ({n}, {w.shape[1] * g}, H_out, W_out)", f"shape {dout.shape}")
    db = dout.sum(axis=(0, 2, 3)) if has_b else None
    # Windows of dout at the H x W positions that x fed: (N, F, KH, KW, H, W).
    cols = _im2col(_pad(dout, pd), w.shape[2], w.shape[3], h, wd, st, dl)
    dx = _conv_from_cols(cols, w, g)      # a plain convolution of dout with w: (N, C, H, W)
    dw = _weight_grad(cols, x, g)         # (C, F/g, KH, KW)
    return dx, dw, db
