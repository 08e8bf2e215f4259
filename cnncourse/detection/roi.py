"""RoI pooling (Fast R-CNN) and RoI align (Mask R-CNN), forward and backward (Lecture 07).

Box format: regions of interest are ``rois (Tensor[K, 5])`` rows ``(n, x1, y1, x2, y2)``: the
batch index ``n`` of the image, then the box in input-image pixels; ``spatial_scale`` maps
them to feature-map cells (``1 / 16`` for a stride-16 backbone). Features are NCHW.

Both ops follow ``torchvision.ops.roi_pool`` / ``roi_align`` exactly (same bins, same sampling)
and are built from differentiable torch ops, so ``backward`` is autograd's: RoI pooling sends
each output gradient to the arg-max input cell, RoI align spreads it with the bilinear weights.
"""

from __future__ import annotations

import torch

from cnncourse._validate import ArgumentError, as_pair
from cnncourse.detection._checks import check_tensor, check_xyxy, has_values

__all__ = ["roi_pool", "roi_align"]


def _check(input: torch.Tensor, rois: torch.Tensor, spatial_scale: float) -> torch.Tensor:
    check_tensor("input", input, ndim=4, floating=True)
    check_tensor("rois", rois, ndim=2, floating=True)
    if rois.shape[1] != 5:
        raise ArgumentError("rois", "shape (K, 5) with rows (n, x1, y1, x2, y2)", f"shape {tuple(rois.shape)}")
    check_xyxy("rois[:, 1:]", rois[:, 1:])
    if has_values(rois):
        n = rois[:, 0]
        if bool(((n != n.round()) | (n < 0) | (n >= input.shape[0])).any()):
            raise ArgumentError("rois[:, 0]", f"integer batch indices in [0, {input.shape[0]})",
                                f"{n.tolist()}")
    if not spatial_scale > 0:
        raise ArgumentError("spatial_scale", "a positive number", spatial_scale)
    return rois.to(input.dtype)


def _round_half_away(x: torch.Tensor) -> torch.Tensor:
    """C's ``round``: halves away from zero (``torch.round`` rounds halves to even)."""
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def _bin_masks(start: torch.Tensor, end: torch.Tensor, bins: int, size: int) -> torch.Tensor:
    """(K, bins, size) membership of cells in RoI-pool bins along one axis."""
    length = (end - start + 1).clamp(min=1)  # (K,)
    bin_size = length / bins  # (K,)
    p = torch.arange(bins, dtype=start.dtype, device=start.device)  # (bins,)
    lo = (torch.floor(p[None] * bin_size[:, None]) + start[:, None]).clamp(0, size)  # (K, bins)
    hi = (torch.ceil((p[None] + 1) * bin_size[:, None]) + start[:, None]).clamp(0, size)
    cells = torch.arange(size, dtype=start.dtype, device=start.device)  # (size,)
    return (cells >= lo[..., None]) & (cells < hi[..., None])  # (K, bins, size)


def roi_pool(input: torch.Tensor, rois: torch.Tensor, output_size: int | tuple[int, int], *,
             spatial_scale: float = 1.0) -> torch.Tensor:
    """Fast R-CNN RoI max pooling over quantized bins (Lecture 07).

    The RoI is rounded to cells, ``x1' = round(x1 * scale)``, ``x2' = round(x2 * scale)``,
    width ``max(x2' - x1' + 1, 1)``; bin ``j`` of ``PW`` covers columns
    ``[floor(j * w / PW), ceil((j + 1) * w / PW))`` shifted by ``x1'`` and clipped to the map
    (rows likewise). Each output is the max of its bin (0 for an empty bin); ties go to the
    first cell in row-major order, which also receives the gradient.

    Args:
        input (Tensor[N, C, H, W]): feature maps.
        rois (Tensor[K, 5]): rows ``(n, x1, y1, x2, y2)``.
        output_size: ``(PH, PW)`` or an int.
        spatial_scale: image-to-feature-map scale of the box coordinates.

    Returns:
        Tensor[K, C, PH, PW]; differentiable with respect to ``input``.
    """
    rois = _check(input, rois, spatial_scale)
    ph, pw = as_pair("output_size", output_size, minimum=1)
    n, c, h, w = input.shape
    k = rois.shape[0]
    with torch.no_grad():
        b = rois[:, 0].long()  # (K,)
        x1, y1, x2, y2 = _round_half_away(rois[:, 1:] * spatial_scale).unbind(1)  # (K,) each
        mh = _bin_masks(y1, y2, ph, h)  # (K, PH, H)
        mw = _bin_masks(x1, x2, pw, w)  # (K, PW, W)
        x = input.detach()[b]  # (K, C, H, W)
        neg = torch.tensor(float("-inf"), dtype=input.dtype, device=input.device)
        # Separable max: per column bin over W, then per row bin over H; torch.max returns the
        # first maximum, so together the first maximum in row-major order.
        row_max, row_arg = zip(*(torch.where(mw[:, None, None, j, :], x, neg).max(dim=3)
                                 for j in range(pw)))
        row_max = torch.stack(row_max, dim=-1)  # (K, C, H, PW)
        row_arg = torch.stack(row_arg, dim=-1)  # (K, C, H, PW): column of the max
        arg_h = torch.stack([torch.where(mh[:, None, i, :, None], row_max, neg).argmax(dim=2)
                             for i in range(ph)], dim=2)  # (K, C, PH, PW): row of the max
        arg_w = row_arg.gather(2, arg_h)  # (K, C, PH, PW)
        empty = ~(mh.any(2)[:, :, None] & mw.any(2)[:, None, :])  # (K, PH, PW)
        chan = torch.arange(c, device=input.device)[None, :, None, None]  # (1, C, 1, 1)
        flat = ((b[:, None, None, None] * c + chan) * h + arg_h) * w + arg_w  # (K, C, PH, PW)
    out = input.reshape(-1)[flat.reshape(-1)].reshape(k, c, ph, pw)
    return out.masked_fill(empty[:, None], 0)


def _sample_weights(start: torch.Tensor, bin_size: torch.Tensor, grid: torch.Tensor, gmax: int,
                    bins: int, size: int) -> torch.Tensor:
    """(K, bins, size) sum of bilinear weights of a bin's sample points along one axis."""
    dev, dt = start.device, start.dtype
    p = torch.arange(bins, dtype=dt, device=dev)[None, :, None]  # (1, bins, 1)
    g = torch.arange(gmax, dtype=dt, device=dev)[None, None, :]  # (1, 1, G)
    gk = grid.to(dt)[:, None, None]  # (K, 1, 1)
    pos = start[:, None, None] + p * bin_size[:, None, None] \
        + (g + 0.5) * bin_size[:, None, None] / gk.clamp(min=1)  # (K, bins, G)
    use = (g < gk) & (pos >= -1.0) & (pos <= size)  # inside the grid and near the map
    pos = pos.clamp(min=0)
    low = torch.floor(pos).detach()
    edge = low >= size - 1
    low = torch.where(edge, torch.full_like(low, size - 1), low)
    pos = torch.where(edge, low, pos)
    frac = pos - low  # weight of the upper neighbour
    cells = torch.arange(size, dtype=dt, device=dev)  # (size,)
    w = (1 - frac)[..., None] * (cells == low[..., None]) \
        + frac[..., None] * (cells == (low + 1)[..., None])  # (K, bins, G, size)
    return (w * use[..., None]).sum(dim=2)  # (K, bins, size)


def roi_align(input: torch.Tensor, rois: torch.Tensor, output_size: int | tuple[int, int], *,
              spatial_scale: float = 1.0, sampling_ratio: int = -1,
              aligned: bool = False) -> torch.Tensor:
    """RoI align: average of bilinearly interpolated samples per bin, no quantization (Lecture 07).

    The RoI is ``x1 * scale - o`` ... ``x2 * scale - o`` with ``o = 0.5`` if ``aligned`` else 0
    (without ``aligned`` its size is at least 1). Each of the ``PH x PW`` bins averages a
    ``gh x gw`` grid of sample points, ``gh = sampling_ratio`` or, if ``sampling_ratio <= 0``,
    ``ceil(roi_h / PH)``. Samples farther than one cell outside the map count as 0.

    Args:
        input (Tensor[N, C, H, W]): feature maps.
        rois (Tensor[K, 5]): rows ``(n, x1, y1, x2, y2)``.
        output_size: ``(PH, PW)`` or an int.
        spatial_scale: image-to-feature-map scale of the box coordinates.
        sampling_ratio: samples per bin along each axis (``<= 0``: adaptive).
        aligned: shift by half a pixel (Detectron2's corrected convention).

    Returns:
        Tensor[K, C, PH, PW]; differentiable with respect to ``input`` (and the box coordinates).
    """
    rois = _check(input, rois, spatial_scale)
    ph, pw = as_pair("output_size", output_size, minimum=1)
    _, _, h, w = input.shape
    off = 0.5 if aligned else 0.0
    b = rois[:, 0].detach().long()  # (K,)
    x1, y1, x2, y2 = (rois[:, 1:] * spatial_scale - off).unbind(1)  # (K,) each
    roi_w, roi_h = x2 - x1, y2 - y1
    if not aligned:
        roi_w, roi_h = roi_w.clamp(min=1), roi_h.clamp(min=1)
    bw, bh = roi_w / pw, roi_h / ph  # (K,) bin sizes
    if sampling_ratio > 0:
        gh = gw = torch.full_like(b, sampling_ratio)
        gmax_h = gmax_w = int(sampling_ratio)
    else:
        gh, gw = torch.ceil(bh.detach()).long(), torch.ceil(bw.detach()).long()  # (K,)
        gmax_h = int(gh.max()) if gh.numel() else 0
        gmax_w = int(gw.max()) if gw.numel() else 0
    wy = _sample_weights(y1, bh, gh, gmax_h, ph, h)  # (K, PH, H)
    wx = _sample_weights(x1, bw, gw, gmax_w, pw, w)  # (K, PW, W)
    count = (gh * gw).clamp(min=1).to(input.dtype)  # (K,)
    rows = torch.einsum("kph,kchw->kcpw", wy, input[b])  # (K, C, PH, W)
    out = torch.einsum("kcpw,kqw->kcpq", rows, wx)  # (K, C, PH, PW)
    return out / count[:, None, None, None]
