"""A small fully convolutional network (encoder-decoder) with optional skip connections (lecture 08).

Encoder: ``depth`` stages of two 3x3 conv-BN-ReLU layers, each but the last followed by 2x2 max
pooling (the resolution halves, the channels double). Decoder: per stage a 2x2 stride-2
transposed convolution back to the resolution of the matching encoder stage, concatenated with
that stage's features when ``skips=True`` (U-Net/FCN skip connections: they bring back the
low-level detail, edges and corners, that the pooled features lost), then two conv-BN-ReLU.
A 1x1 convolution gives ``num_classes`` scores per pixel.

Only convolutions and pooling: the network accepts ANY input size ``H x W`` (>= 1 pixel at the
deepest stage) and returns ``(N, num_classes, H, W)``. Odd sizes work because every transposed
convolution is asked for the exact size of its skip tensor (``output_size``, i.e. torch picks
``output_padding``).
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from cnncourse._validate import ArgumentError, check_positive_int

__all__ = ["FCN", "conv_block"]


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two 3x3 'same' conv-BN-ReLU layers (lecture 08)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True))


class FCN(nn.Module):
    """Encoder-decoder FCN for semantic segmentation (lecture 08; assignment a6 builds one).

    Args:
        in_channels: image channels (3 for RGB).
        num_classes: ``K`` output classes (4 for ``ShapesDataset``: background + 3 shapes).
        width: channels of the first stage; stage ``s`` has ``width * 2**min(s, 2)``.
        depth: number of resolution levels (``depth - 1`` poolings), >= 1.
        skips: concatenate encoder features into the decoder.

    Shapes: ``(N, in_channels, H, W) -> (N, num_classes, H, W)`` logits.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 4, *, width: int = 16, depth: int = 4,
                 skips: bool = True):
        super().__init__()
        self.depth = check_positive_int("depth", depth)
        self.skips = bool(skips)
        ch = [check_positive_int("width", width) * 2 ** min(s, 2) for s in range(self.depth)]
        self.encoder = nn.ModuleList(conv_block(ci, co) for ci, co in zip([in_channels] + ch[:-1], ch))
        self.up = nn.ModuleList(nn.ConvTranspose2d(ch[s + 1], ch[s], 2, stride=2)
                                for s in range(self.depth - 1))
        self.decoder = nn.ModuleList(conv_block(2 * ch[s] if self.skips else ch[s], ch[s])
                                     for s in range(self.depth - 1))
        self.head = nn.Conv2d(ch[0], check_positive_int("num_classes", num_classes), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        min_size = 2 ** (self.depth - 1)
        if x.ndim != 4 or min(x.shape[-2:]) < min_size:
            raise ArgumentError("x", f"an (N, C, H, W) tensor with H, W >= {min_size}", tuple(x.shape))
        feats = []
        for s, block in enumerate(self.encoder):
            x = block(x if s == 0 else F.max_pool2d(x, 2))   # (N, ch[s], H / 2^s, W / 2^s)
            feats.append(x)
        for s in range(self.depth - 2, -1, -1):
            skip = feats[s]
            x = self.up[s](x, output_size=skip.shape[-2:])   # back to stage s's size
            x = self.decoder[s](torch.cat([x, skip], dim=1) if self.skips else x)
        return self.head(x)
