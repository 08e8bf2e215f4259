"""Three views of the transposed convolution that decoders use to upsample (lecture 08).

1. **Scatter** (the slide's 1D example): every input value multiplies a copy of the kernel, placed
   at ``stride`` steps in the output; overlapping copies add up (:func:`conv_transpose1d_contributions`).
2. **Matrix transpose**: a convolution is ``y = C x`` with ``C`` the (sparse, weight-shared)
   convolution matrix; the transposed convolution is ``x' = C^T y``: same connectivity,
   arrows reversed (:func:`conv2d_matrix`, :func:`conv_transpose2d_by_matrix`).
3. **Inserting zeros** (the slide's "inserting zeros between inputs"): put ``S - 1`` zeros between
   input pixels, pad by ``D(K - 1) - P`` on each side (plus ``output_padding`` at the end), and
   run an ordinary stride-1 convolution with the kernel flipped in both axes and its two channel
   axes swapped (:func:`zero_insertion_params`, :func:`conv_transpose2d_by_zero_insertion`).
   A padding larger than ``D(K - 1)`` becomes a crop.

All three equal :func:`cnncourse.layers.conv_transpose2d_forward` (and torch's ``conv_transpose2d``);
the matrix view reuses :func:`cnncourse.signal.conv_as_toeplitz` block by block. Weights use
torch's transposed layout ``(C, F, KH, KW)`` (input channels first); ``groups = 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnncourse._validate import ArgumentError, as_pair, check_array, check_positive_int
from cnncourse.layers._checks import _float_array
from cnncourse.layers.conv import conv2d_forward
from cnncourse.signal import conv_as_toeplitz

__all__ = ["ZeroInsertion", "conv2d_matrix", "conv_transpose1d_contributions",
           "conv_transpose2d_by_matrix", "conv_transpose2d_by_zero_insertion", "insert_zeros",
           "zero_insertion_params"]

Pair = int | tuple[int, int]


def conv_transpose1d_contributions(x: np.ndarray, w: np.ndarray, *, stride: int = 1,
                                   padding: int = 0) -> np.ndarray:
    """The scatter view in 1D: row ``i`` is ``x[i] * w`` placed at output ``i * stride - padding``.

    Lecture 08 (the slide's "transposed convolution on a 1D vector"). Summing the rows gives
    ``conv_transpose1d(x, w, stride=stride, padding=padding)``; the output length is
    ``(L - 1) * stride - 2 * padding + KL``.

    Args:
        x: ``(L,)`` input.
        w: ``(KL,)`` kernel.
        stride, padding: >= 1 and >= 0.

    Returns:
        ``(L, L_out)`` float64 array of every input's contribution.
    """
    check_array("x", x, ndim=1)
    check_array("w", w, ndim=1)
    s = check_positive_int("stride", stride)
    p = check_positive_int("padding", padding, minimum=0)
    length, k = x.shape[0], w.shape[0]
    full = (length - 1) * s + k                       # before cropping the padding
    if full - 2 * p < 1:
        raise ArgumentError("padding", f"at most {(full - 1) // 2} for this input and kernel", p)
    rows = np.zeros((length, full))
    for i in range(length):                           # one scaled kernel copy per input value
        rows[i, i * s:i * s + k] = x[i] * w
    return rows[:, p:full - p]


def conv2d_matrix(w: np.ndarray, input_hw: Pair, *, stride: Pair = 1, padding: Pair = 0,
                  dilation: Pair = 1) -> np.ndarray:
    """The matrix ``C`` of a multi-channel convolution: ``conv2d(x, w).ravel() == C @ x.ravel()``.

    Lecture 08 (lecture 02 builds the single-channel Toeplitz matrix this stacks).

    Args:
        w: ``(F, C, KH, KW)`` filters (conv layout), no groups.
        input_hw: ``(H, W)`` of one input image.
        stride, padding, dilation: as ``torch.nn.functional.conv2d`` (zero padding).

    Returns:
        ``(F * H_out * W_out, C * H * W)`` array of ``w``'s dtype: block ``(f, c)`` is the Toeplitz
        matrix of filter ``w[f, c]``; rows ordered ``(f, i, j)``, columns ``(c, h, w)`` (C order).
    """
    check_array("w", w, ndim=4)
    hw = as_pair("input_hw", input_hw, minimum=1)
    f, c = w.shape[:2]
    opts = {"stride": as_pair("stride", stride, minimum=1), "padding": as_pair("padding", padding),
            "dilation": as_pair("dilation", dilation, minimum=1)}
    blocks = [[conv_as_toeplitz(w[i, j], hw, **opts) for j in range(c)] for i in range(f)]
    return np.block(blocks)


def conv_transpose2d_by_matrix(x: np.ndarray, w: np.ndarray, *, stride: Pair = 1, padding: Pair = 0,
                               output_padding: Pair = 0, dilation: Pair = 1) -> np.ndarray:
    """Transposed convolution computed as ``C^T`` times the flattened input (lecture 08).

    ``C`` is the matrix of the convolution with the same weights that maps an ``H_out x W_out``
    image with ``F`` channels to ``x``'s ``H x W`` with ``C`` channels; ``output_padding`` picks the
    larger of the input sizes that this convolution maps to ``H x W``.

    Args:
        x: ``(N, C, H, W)`` input.
        w: ``(C, F, KH, KW)`` (transposed layout: as a convolution it maps ``F`` -> ``C`` channels).
        stride, padding, output_padding, dilation: as ``torch.nn.functional.conv_transpose2d``.

    Returns:
        ``(N, F, H_out, W_out)``, ``H_out = (H - 1) S - 2P + D(KH - 1) + output_padding + 1``.
    """
    x = _float_array("x", x, ndim=4)
    check_array("w", w, ndim=4)
    if w.shape[0] != x.shape[1]:
        raise ArgumentError("w", f"shape (C={x.shape[1]}, F, KH, KW)", f"shape {w.shape}")
    st, pd, dl = as_pair("stride", stride, minimum=1), as_pair("padding", padding), \
        as_pair("dilation", dilation, minimum=1)
    op = as_pair("output_padding", output_padding)
    out_hw = tuple((x.shape[2 + a] - 1) * st[a] - 2 * pd[a] + dl[a] * (w.shape[2 + a] - 1) + op[a] + 1
                   for a in range(2))
    if min(out_hw) < 1:
        raise ArgumentError("padding", "a value leaving a positive output size", pd)
    cmat = conv2d_matrix(w, out_hw, stride=st, padding=pd, dilation=dl)   # (C*H*W, F*H_out*W_out)
    if cmat.shape[0] != x[0].size:
        raise ArgumentError("output_padding", f"values smaller than stride {st} or dilation {dl}", op)
    n = x.shape[0]
    out = x.reshape(n, -1) @ cmat                                         # = (C^T @ x_n) for each n
    return out.reshape(n, w.shape[1], *out_hw).astype(x.dtype, copy=False)


@dataclass(frozen=True)
class ZeroInsertion:
    """Settings of the equivalent stride-1 convolution of a transposed convolution (lecture 08).

    ``zeros_between = S - 1`` per axis; ``pad_before = D(K - 1) - P`` and
    ``pad_after = D(K - 1) - P + output_padding`` per axis (negative: crop); the kernel is
    flipped in both spatial axes and its two channel axes swapped; the dilation is kept; stride 1.
    """

    zeros_between: tuple[int, int]
    pad_before: tuple[int, int]
    pad_after: tuple[int, int]
    dilation: tuple[int, int]


def zero_insertion_params(kernel_size: Pair, *, stride: Pair = 1, padding: Pair = 0,
                          output_padding: Pair = 0, dilation: Pair = 1) -> ZeroInsertion:
    """Relate a transposed convolution's parameters to its zero-insertion view (lecture 08).

    E.g. kernel 3, stride 2, padding 1: insert 1 zero between inputs, pad by ``3 - 1 - 1 = 1``.
    """
    k, s = as_pair("kernel_size", kernel_size, minimum=1), as_pair("stride", stride, minimum=1)
    p, op = as_pair("padding", padding), as_pair("output_padding", output_padding)
    d = as_pair("dilation", dilation, minimum=1)
    before = tuple(d[a] * (k[a] - 1) - p[a] for a in range(2))
    return ZeroInsertion(zeros_between=(s[0] - 1, s[1] - 1), pad_before=before,  # type: ignore[arg-type]
                         pad_after=tuple(before[a] + op[a] for a in range(2)), dilation=d)  # type: ignore[arg-type]


def insert_zeros(x: np.ndarray, stride: Pair) -> np.ndarray:
    """Put ``S - 1`` zeros between neighbouring pixels: ``(N, C, H, W)`` -> ``(N, C, (H-1)S+1, (W-1)S+1)``.

    Lecture 08.
    """
    x = _float_array("x", x, ndim=4)
    s = as_pair("stride", stride, minimum=1)
    n, c, h, w = x.shape
    out = np.zeros((n, c, (h - 1) * s[0] + 1, (w - 1) * s[1] + 1), dtype=x.dtype)
    out[:, :, ::s[0], ::s[1]] = x
    return out


def _pad_or_crop(x: np.ndarray, before: tuple[int, int], after: tuple[int, int]) -> np.ndarray:
    pads = [(0, 0), (0, 0)] + [(max(b, 0), max(a, 0)) for b, a in zip(before, after)]
    x = np.pad(x, pads)
    h, w = x.shape[2:]
    return x[:, :, max(-before[0], 0):h - max(-after[0], 0), max(-before[1], 0):w - max(-after[1], 0)]


def conv_transpose2d_by_zero_insertion(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *,
                                       stride: Pair = 1, padding: Pair = 0, output_padding: Pair = 0,
                                       dilation: Pair = 1) -> np.ndarray:
    """Transposed convolution as zeros inserted, padding, then a plain stride-1 convolution (lecture 08).

    Args:
        x: ``(N, C, H, W)``; w: ``(C, F, KH, KW)`` (transposed layout); b: ``(F,)`` or ``None``.
        stride, padding, output_padding, dilation: as ``torch.nn.functional.conv_transpose2d``.

    Returns:
        ``(N, F, H_out, W_out)``, equal to ``conv_transpose2d_forward(x, w, b, ...)[0]``.
    """
    x = _float_array("x", x, ndim=4)
    check_array("w", w, ndim=4)
    if w.shape[0] != x.shape[1]:
        raise ArgumentError("w", f"shape (C={x.shape[1]}, F, KH, KW)", f"shape {w.shape}")
    zi = zero_insertion_params(w.shape[2:], stride=stride, padding=padding,
                               output_padding=output_padding, dilation=dilation)
    s = as_pair("stride", stride, minimum=1)
    op = as_pair("output_padding", output_padding)
    if any(op[a] >= max(s[a], zi.dilation[a]) for a in range(2)):
        raise ArgumentError("output_padding", f"values smaller than stride {s} or dilation {zi.dilation}", op)
    spread = _pad_or_crop(insert_zeros(x, s), zi.pad_before, zi.pad_after)
    w_conv = np.ascontiguousarray(np.flip(w, axis=(2, 3)).transpose(1, 0, 2, 3))  # (F, C, KH, KW)
    out, _ = conv2d_forward(spread, w_conv.astype(x.dtype), b, stride=1, padding=0, dilation=zi.dilation)
    return out
