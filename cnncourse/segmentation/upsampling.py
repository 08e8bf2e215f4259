"""Checkerboard artefacts of strided transposed convolutions, and the two alternatives (lecture 08).

A transposed convolution with kernel ``K`` and stride ``S`` pastes overlapping kernel copies; when
``K`` is not a multiple of ``S`` some output pixels receive more copies than others, a periodic
"checkerboard" (Odena, Dumoulin and Olah, 2016). :func:`overlap_counts` counts the copies;
:func:`phase_means` measures the pattern on any output. The slide's alternatives:

- **resize-convolution** (:class:`ResizeConv`): nearest/bilinear upsampling, then a stride-1
  convolution: every output pixel is computed the same way, so no checkerboard by construction;
- **sub-pixel convolution** (:class:`SubPixelConv`, Shi et al., 2016): a stride-1 convolution to
  ``F * r^2`` channels, then :func:`pixel_shuffle` rearranges ``(F r^2, H, W) -> (F, rH, rW)``;
  with ICNR initialisation (all ``r^2`` sub-pixel filters equal) it starts artefact-free.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from cnncourse._validate import ArgumentError, as_pair, check_positive_int
from cnncourse.layers.conv_transpose import conv_transpose2d_forward

__all__ = ["ResizeConv", "SubPixelConv", "icnr_", "overlap_counts", "phase_means", "pixel_shuffle"]


def overlap_counts(kernel_size: int, stride: int, input_size: int = 6, *, padding: int = 0) -> np.ndarray:
    """How many kernel copies a transposed convolution adds into each output pixel (lecture 08).

    Computed as ``conv_transpose2d`` of an all-ones ``input_size x input_size`` image with an
    all-ones kernel. Uniform inside the image when ``kernel_size % stride == 0``; a periodic
    (checkerboard) pattern otherwise.

    Returns:
        ``(H_out, W_out)`` float64 counts, ``H_out = (input_size - 1) * stride - 2 padding + kernel_size``.
    """
    k, s = check_positive_int("kernel_size", kernel_size), check_positive_int("stride", stride)
    n = check_positive_int("input_size", input_size)
    out, _ = conv_transpose2d_forward(np.ones((1, 1, n, n)), np.ones((1, 1, k, k)), None,
                                      stride=s, padding=padding)
    return out[0, 0]


def phase_means(x: np.ndarray | torch.Tensor, stride: int, *, border: int = 0) -> np.ndarray:
    """Mean of the pixels in each of the ``S x S`` phases ``(i mod S, j mod S)`` (lecture 08).

    A checkerboard makes the phases differ; an artefact-free upsampling of a constant image gives
    equal phase means.

    Args:
        x: ``(H, W)`` or ``(..., H, W)`` map (all leading axes are averaged).
        stride: ``S``.
        border: pixels to drop on every side first (the image border has fewer overlaps).

    Returns:
        ``(S, S)`` float64.
    """
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    s = check_positive_int("stride", stride)
    if a.ndim < 2:
        raise ArgumentError("x", "an (..., H, W) map", f"shape {a.shape}")
    if border:
        a = a[..., border:-border, border:-border]
    a = a.reshape(-1, *a.shape[-2:])
    return np.array([[a[:, i::s, j::s].mean() for j in range(s)] for i in range(s)], dtype=np.float64)


def pixel_shuffle(x: torch.Tensor, upscale_factor: int) -> torch.Tensor:
    """Rearrange ``(N, C r^2, H, W)`` into ``(N, C, H r, W r)``, as ``torch.nn.functional.pixel_shuffle``.

    Lecture 08. Channel ``c * r^2 + i * r + j`` becomes the sub-pixel ``(i, j)`` of every ``r x r``
    output block of channel ``c``.
    """
    r = check_positive_int("upscale_factor", upscale_factor)
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] % (r * r):
        raise ArgumentError("x", f"a Tensor (N, C * {r * r}, H, W)", f"{tuple(getattr(x, 'shape', ()))}")
    n, crr, h, w = x.shape
    c = crr // (r * r)
    x = x.reshape(n, c, r, r, h, w)                 # (N, C, i, j, H, W)
    x = x.permute(0, 1, 4, 2, 5, 3)                 # (N, C, H, i, W, j)
    return x.reshape(n, c, h * r, w * r)


def icnr_(weight: torch.Tensor, upscale_factor: int, init=nn.init.kaiming_normal_) -> torch.Tensor:
    """ICNR initialisation in place: the ``r^2`` sub-pixel filters of each output channel are equal.

    Lecture 08 (Aitken et al., 2017). Then conv + pixel shuffle starts as nearest-neighbour
    upsampling of one convolution, free of checkerboard artefacts.

    Args:
        weight (Tensor[F * r^2, C, KH, KW]): the convolution weight before :func:`pixel_shuffle`.
    """
    r2 = check_positive_int("upscale_factor", upscale_factor) ** 2
    if weight.shape[0] % r2:
        raise ArgumentError("weight", f"a first dimension divisible by {r2}", tuple(weight.shape))
    base = torch.empty(weight.shape[0] // r2, *weight.shape[1:], dtype=weight.dtype, device=weight.device)
    init(base)
    with torch.no_grad():
        weight.copy_(base.repeat_interleave(r2, dim=0))  # rows c*r2 .. c*r2 + r2 - 1 share base[c]
    return weight


class SubPixelConv(nn.Module):
    """Sub-pixel convolution: conv to ``out_channels * r^2`` maps, then :func:`pixel_shuffle` (lecture 08).

    Args:
        in_channels, out_channels: channel counts.
        scale: upsampling factor ``r``.
        kernel_size: odd size of the stride-1 convolution ('same' padding).
        icnr: initialise with :func:`icnr_` (checkerboard-free at the start).

    Shapes: ``(N, C_in, H, W) -> (N, C_out, rH, rW)``.
    """

    def __init__(self, in_channels: int, out_channels: int, scale: int = 2, kernel_size: int = 3,
                 icnr: bool = True):
        super().__init__()
        self.scale = check_positive_int("scale", scale)
        k = check_positive_int("kernel_size", kernel_size)
        self.conv = nn.Conv2d(in_channels, out_channels * self.scale ** 2, k, padding=k // 2)
        if icnr:
            icnr_(self.conv.weight, self.scale)
            nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pixel_shuffle(self.conv(x), self.scale)


class ResizeConv(nn.Module):
    """Resize-convolution: upsample (nearest or bilinear), then a stride-1 'same' convolution (lecture 08).

    Args:
        in_channels, out_channels: channel counts.
        scale: upsampling factor; the output size can also be given to ``forward``.
        kernel_size: odd kernel size.
        mode: ``"nearest"`` or ``"bilinear"``.

    Shapes: ``(N, C_in, H, W) -> (N, C_out, scale H, scale W)`` or ``output_size``.
    """

    def __init__(self, in_channels: int, out_channels: int, scale: int = 2, kernel_size: int = 3,
                 mode: str = "nearest"):
        super().__init__()
        if mode not in ("nearest", "bilinear"):
            raise ArgumentError("mode", "'nearest' or 'bilinear'", repr(mode))
        self.scale, self.mode = check_positive_int("scale", scale), mode
        k = check_positive_int("kernel_size", kernel_size)
        self.conv = nn.Conv2d(in_channels, out_channels, k, padding=k // 2)

    def forward(self, x: torch.Tensor, output_size: tuple[int, int] | None = None) -> torch.Tensor:
        size = tuple(output_size) if output_size is not None else \
            (x.shape[-2] * self.scale, x.shape[-1] * self.scale)
        as_pair("output_size", size, minimum=1)
        extra = {} if self.mode == "nearest" else {"align_corners": False}
        return self.conv(F.interpolate(x, size=size, mode=self.mode, **extra))
