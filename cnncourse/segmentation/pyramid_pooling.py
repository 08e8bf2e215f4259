"""PSPNet's pyramid pooling module (Zhao et al., 2017), in PyTorch (lecture 08).

Pixels of a segmentation map need context: is this blue region sky or water? The module
average-pools the feature map into ``b x b`` grids for several ``b`` (PSPNet: 1, 2, 3, 6), reduces
each pooled map with a 1x1 convolution to ``C / len(bins)`` channels, upsamples every level
bilinearly back to ``H x W`` and concatenates them with the input: each pixel gets global (1x1),
quadrant (2x2) and finer regional summaries next to its own features. The pooling is the adaptive
pooling of lecture 03 (:mod:`cnncourse.pyramid`), here kept as maps instead of flattened.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
import torch.nn.functional as F

from cnncourse._validate import ArgumentError, check_positive_int

__all__ = ["PyramidPooling"]


class PyramidPooling(nn.Module):
    """Pyramid pooling: ``(N, C, H, W) -> (N, C + len(bins) * reduced, H, W)`` (lecture 08).

    Args:
        in_channels: ``C``.
        bins: grid sizes, e.g. ``(1, 2, 3, 6)``.
        reduced_channels: channels per level after the 1x1 convolution (default ``C // len(bins)``,
            at least 1).
        batch_norm: BN + ReLU after each 1x1 convolution (PSPNet's choice); off for a linear module.
    """

    def __init__(self, in_channels: int, bins: Sequence[int] = (1, 2, 3, 6), *,
                 reduced_channels: int | None = None, batch_norm: bool = True):
        super().__init__()
        c = check_positive_int("in_channels", in_channels)
        if len(bins) == 0:
            raise ArgumentError("bins", "at least one grid size", tuple(bins))
        self.bins = tuple(check_positive_int("bins", b) for b in bins)
        r = reduced_channels if reduced_channels is not None else max(1, c // len(self.bins))
        self.reduced_channels = check_positive_int("reduced_channels", r)
        layers = []
        for _ in self.bins:
            conv = nn.Conv2d(c, self.reduced_channels, 1, bias=not batch_norm)
            layers.append(nn.Sequential(conv, nn.BatchNorm2d(self.reduced_channels), nn.ReLU(inplace=True))
                          if batch_norm else conv)
        self.reduce = nn.ModuleList(layers)

    def pooled(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The adaptive average pools, one ``(N, C, b, b)`` tensor per bin size."""
        return [F.adaptive_avg_pool2d(x, b) for b in self.bins]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        levels = [F.interpolate(red(p), size=(h, w), mode="bilinear", align_corners=False)
                  for red, p in zip(self.reduce, self.pooled(x))]     # each (N, reduced, H, W)
        return torch.cat([x] + levels, dim=1)
