"""Spatial glimpses for hard attention (Lecture 10).

Channel attention (squeeze-and-excitation) lives in :class:`cnncourse.models.SEBlock`.

- :func:`glimpse`: the retina-like input of hard-attention models (Mnih et al., 2014) used by the
  attention-based person re-id of the lecture: a small window at full resolution around a chosen
  location plus larger windows around it at lower resolution ("focus on a certain region with high
  resolution while perceiving the surrounding image in low resolution").
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from cnncourse._validate import ArgumentError, check_positive_int

__all__ = ["glimpse"]


def glimpse(images: torch.Tensor, centers: torch.Tensor, *, size: int,
            scales: Sequence[int] = (1, 2, 4)) -> torch.Tensor:
    """Multi-resolution patches around ``centers``: sharp in the middle, coarse around (Lecture 10).

    For each scale ``s``, the ``size * s`` square window whose top-left pixel is
    ``center - (size * s) // 2`` (zeros outside the image) is average-pooled by ``s`` down to
    ``size x size``. Scale 1 is the full-resolution crop.

    Args:
        images: Tensor[N, C, H, W], floating point.
        centers: Tensor[N, 2] integer ``(row, col)`` of each glimpse (numpy accepted).
        size: side of every returned patch (keyword-only).
        scales: positive integers, one patch per scale (keyword-only).

    Returns:
        Tensor[N, len(scales), C, size, size] on the images' device and dtype.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or not images.is_floating_point():
        raise ArgumentError("images", "a float Tensor[N, C, H, W]", str(tuple(getattr(images, "shape", ()))))
    n, c, h, w = images.shape
    ctr = torch.as_tensor(centers, device=images.device)
    if ctr.shape != (n, 2) or ctr.is_floating_point():
        raise ArgumentError("centers", f"an integer Tensor[{n}, 2] of (row, col)", str(tuple(ctr.shape)))
    size = check_positive_int("size", size)
    scales = [check_positive_int("scales", s) for s in scales]
    if not scales:
        raise ArgumentError("scales", "at least one scale", scales)
    big = size * max(scales)
    xp = F.pad(images, (big, big, big, big))  # (N, C, H + 2 big, W + 2 big) zeros outside
    batch = torch.arange(n, device=images.device)[:, None, None]
    out = []
    for s in scales:
        side = size * s
        top = ctr.long() - side // 2 + big  # (N, 2) top-left in padded coordinates
        ar = torch.arange(side, device=images.device)
        rows, cols = top[:, :1] + ar, top[:, 1:] + ar  # (N, side) each
        rows, cols = rows.clamp(0, h + 2 * big - 1), cols.clamp(0, w + 2 * big - 1)
        crop = xp[batch, :, rows[:, :, None], cols[:, None, :]]  # (N, side, side, C)
        crop = crop.permute(0, 3, 1, 2)  # (N, C, side, side)
        out.append(F.avg_pool2d(crop, s) if s > 1 else crop)
    return torch.stack(out, dim=1)  # (N, S, C, size, size)
