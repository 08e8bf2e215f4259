"""Deformable convolution v1, forward in plain torch (Lecture 10; Dai et al., ICCV 2017).

A ``KH x KW`` convolution samples the input on a regular grid ``R`` around each output position
``p_0``. A deformable convolution adds a learned offset to every sample::

    y(p_0) = sum_{p_n in R} w(p_n) x(p_0 + p_n + Delta p_n)

The offsets ``Delta p_n`` are fractional, so ``x`` is read by bilinear interpolation; they come
from another convolution on the same input (one ``(dy, dx)`` pair per kernel position and output
position), and their gradient flows through the interpolation weights. With zero offsets it is a
plain convolution.

Conventions follow ``torchvision.ops.deform_conv2d`` exactly, so it is the oracle in the tests:

- ``offset`` is Tensor[N, 2 * G * KH * KW, H_out, W_out]; channel ``2 k`` is the row (y) offset and
  ``2 k + 1`` the column (x) offset of kernel position ``k = i * KW + j``, for each of the ``G``
  offset groups in turn (group ``g`` moves input channels ``g C/G .. (g+1) C/G - 1``);
- sample ``k`` of output ``(oy, ox)`` is read at ``(oy S_h - P_h + i D_h + dy, ox S_w - P_w + j D_w + dx)``
  in input pixel coordinates (no padding is materialised);
- bilinear interpolation with zeros outside the image: a point with ``y <= -1``, ``y >= H``,
  ``x <= -1`` or ``x >= W`` reads 0, and each of the 4 neighbours outside the image counts as 0;
- optional ``mask`` Tensor[N, G * KH * KW, H_out, W_out] multiplies each sample (v2, "modulated").

Everything is vectorized (one gather per bilinear corner, then a matrix product, as im2col) and
follows the input's device and dtype.
"""

from __future__ import annotations

import torch

from cnncourse._validate import ArgumentError, as_pair
from cnncourse.arithmetic import conv_output_size

__all__ = ["deform_conv2d", "deform_sampling_locations"]


def deform_sampling_locations(offset: torch.Tensor, kernel_size: int | tuple[int, int], *,
                              stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
                              dilation: int | tuple[int, int] = 1) -> torch.Tensor:
    """Where a deformable convolution reads its input: ``p_0 + p_n + Delta p_n`` (Lecture 10).

    Args:
        offset: Tensor[N, 2 * G * KH * KW, H_out, W_out] (torchvision's layout, module docstring).
        kernel_size: ``(KH, KW)`` or an int.
        stride, padding, dilation: as in ``torch.nn.functional.conv2d`` (keyword-only).

    Returns:
        Tensor[N, G, KH * KW, H_out, W_out, 2] of ``(y, x)`` input coordinates (pixel centres at
        integers), in ``offset``'s dtype and device. Zero offsets give the regular grid.
    """
    if not isinstance(offset, torch.Tensor) or offset.dim() != 4 or not offset.is_floating_point():
        raise ArgumentError("offset", "a float Tensor[N, 2 * G * KH * KW, H_out, W_out]",
                            f"{type(offset).__name__} of shape {tuple(getattr(offset, 'shape', ()))}")
    kh, kw = as_pair("kernel_size", kernel_size, minimum=1)
    (sh, sw), (ph, pw) = as_pair("stride", stride, minimum=1), as_pair("padding", padding)
    dh, dw = as_pair("dilation", dilation, minimum=1)
    n, ch, ho, wo = offset.shape
    k = kh * kw
    if ch == 0 or ch % (2 * k):
        raise ArgumentError("offset", f"2 * G * {k} channels for a {kh}x{kw} kernel", f"{ch} channels")
    g = ch // (2 * k)
    off = offset.reshape(n, g, k, 2, ho, wo)  # (N, G, K, (dy, dx), H_out, W_out)
    kw_dtype = dict(dtype=offset.dtype, device=offset.device)
    ki = torch.arange(kh, **kw_dtype).repeat_interleave(kw) * dh  # (K,) row of kernel position k
    kj = torch.arange(kw, **kw_dtype).repeat(kh) * dw  # (K,) column of kernel position k
    oy = torch.arange(ho, **kw_dtype) * sh - ph  # (H_out,)
    ox = torch.arange(wo, **kw_dtype) * sw - pw  # (W_out,)
    y = ki[:, None, None] + oy[None, :, None] + off[:, :, :, 0]  # (N, G, K, H_out, W_out)
    x = kj[:, None, None] + ox[None, None, :] + off[:, :, :, 1]
    return torch.stack([y, x], dim=-1)


def _bilinear_zeros(img: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Sample ``img`` Tensor[N, G, Cg, H, W] at ``(y, x)`` Tensor[N, G, L]: Tensor[N, G, Cg, L].

    Corners outside the image contribute 0 (so points beyond one pixel outside read 0).
    """
    n, g, cg, h, w = img.shape
    flat = img.reshape(n, g, cg, h * w)
    y0, x0 = torch.floor(y), torch.floor(x)
    ly, lx = y - y0, x - x0  # (N, G, L) fractional parts; floor has no gradient, these do
    out = img.new_zeros(n, g, cg, y.shape[-1])
    for dy in (0, 1):
        for dx in (0, 1):
            yy, xx = y0 + dy, x0 + dx
            weight = (ly if dy else 1 - ly) * (lx if dx else 1 - lx)  # (N, G, L)
            inside = (yy >= 0) & (yy <= h - 1) & (xx >= 0) & (xx <= w - 1)
            idx = (yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1)).long()  # (N, G, L)
            vals = flat.gather(3, idx[:, :, None, :].expand(n, g, cg, idx.shape[-1]))  # (N, G, Cg, L)
            out = out + vals * (weight * inside)[:, :, None, :]
    return out


def deform_conv2d(input: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor,
                  bias: torch.Tensor | None = None, *, stride: int | tuple[int, int] = 1,
                  padding: int | tuple[int, int] = 0, dilation: int | tuple[int, int] = 1,
                  mask: torch.Tensor | None = None) -> torch.Tensor:
    """Deformable convolution: a convolution that reads its input at offset positions (Lecture 10).

    Same arguments and result as ``torchvision.ops.deform_conv2d`` (see the module docstring).

    Args:
        input: Tensor[N, C, H, W], floating point.
        offset: Tensor[N, 2 * G * KH * KW, H_out, W_out], ``G`` offset groups dividing ``C``.
        weight: Tensor[F, C / groups, KH, KW]; ``groups = C // weight.shape[1]`` as torchvision.
        bias: Tensor[F] or None.
        stride, padding, dilation: int or pair, as ``torch.nn.functional.conv2d`` (keyword-only).
        mask: Tensor[N, G * KH * KW, H_out, W_out] modulation (DCN v2) or None for v1 (keyword-only).

    Returns:
        Tensor[N, F, H_out, W_out], ``H_out = floor((H + 2 P - D (KH - 1) - 1) / S) + 1``.
        Differentiable in ``input``, ``offset``, ``weight``, ``bias`` and ``mask``.
    """
    for name, t in (("input", input), ("weight", weight)):
        if not isinstance(t, torch.Tensor) or t.dim() != 4 or not t.is_floating_point():
            raise ArgumentError(name, "a 4-D floating-point tensor",
                                f"{type(t).__name__} of shape {tuple(getattr(t, 'shape', ()))}")
    n, c, h, w = input.shape
    f, cpg, kh, kw = weight.shape
    if cpg == 0 or c % cpg or f % (c // cpg):
        raise ArgumentError("weight", f"shape (F, C / groups, KH, KW) with groups dividing C={c} and F",
                            str(tuple(weight.shape)))
    groups = c // cpg
    (sh, sw), (ph, pw) = as_pair("stride", stride, minimum=1), as_pair("padding", padding)
    dh, dw = as_pair("dilation", dilation, minimum=1)
    ho = conv_output_size(h, kh, sh, ph, dh, floor=True)
    wo = conv_output_size(w, kw, sw, pw, dw, floor=True)
    k = kh * kw
    if not isinstance(offset, torch.Tensor) or offset.dim() != 4:
        raise ArgumentError("offset", f"Tensor[{n}, 2 * G * {k}, {ho}, {wo}]", type(offset).__name__)
    g = offset.shape[1] // (2 * k) if offset.shape[1] % (2 * k) == 0 else 0
    if (offset.shape[0] != n or offset.shape[2:] != (ho, wo) or g == 0 or c % g):
        raise ArgumentError("offset", f"shape ({n}, 2 * G * {k}, {ho}, {wo}) with G dividing C={c}",
                            str(tuple(offset.shape)))
    if bias is not None and (not isinstance(bias, torch.Tensor) or bias.shape != (f,)):
        raise ArgumentError("bias", f"None or Tensor[{f}]", str(tuple(getattr(bias, "shape", ()))))
    if mask is not None and (not isinstance(mask, torch.Tensor) or mask.shape != (n, g * k, ho, wo)):
        raise ArgumentError("mask", f"None or shape ({n}, {g * k}, {ho}, {wo})",
                            str(tuple(getattr(mask, "shape", ()))))
    loc = deform_sampling_locations(offset.to(input.dtype), (kh, kw), stride=(sh, sw), padding=(ph, pw),
                                    dilation=(dh, dw))  # (N, G, K, H_out, W_out, 2)
    loc = loc.reshape(n, g, k * ho * wo, 2)  # (N, G, L), L = K * H_out * W_out
    cols = _bilinear_zeros(input.reshape(n, g, c // g, h, w), loc[..., 0], loc[..., 1])  # (N, G, C/G, L)
    cols = cols.reshape(n, c, k, ho * wo)  # (N, C, K, H_out*W_out)
    if mask is not None:
        m = mask.to(input.dtype).reshape(n, g, 1, k, ho * wo)
        cols = (cols.reshape(n, g, c // g, k, ho * wo) * m).reshape(n, c, k, ho * wo)
    cols = cols.reshape(n, groups, cpg * k, ho * wo)  # (N, groups, C/groups * K, L') im2col columns
    wmat = weight.reshape(groups, f // groups, cpg * k)  # (groups, F/groups, C/groups * K)
    out = torch.einsum("gfq,ngql->ngfl", wmat, cols).reshape(n, f, ho, wo)  # (N, F, H_out, W_out)
    return out if bias is None else out + bias[None, :, None, None]
