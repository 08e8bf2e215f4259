"""LeNet-5 and the small digits CNN of lectures 05 and 06.

- :class:`LeNet5`: LeCun et al. 1998 as usually re-implemented today (no partial C3 connections,
  max pooling, ReLU): 32x32x1 -> conv 6@5x5 -> pool -> conv 16@5x5 -> pool -> FC 120 -> 84 -> 10,
  61,706 parameters.
- :class:`SmallCNN`: three 3x3 conv layers, global average pooling and one linear layer, the shape
  class activation maps (CAM) need; trains on the offline 8x8 digits (upsampled) in seconds.
"""

from __future__ import annotations

import torch
from torch import nn

from cnncourse._validate import check_positive_int
from cnncourse.models.blocks import conv_bn_act

__all__ = ["LeNet5", "SmallCNN"]


class LeNet5(nn.Module):
    """LeNet-5 for (N, 1, 32, 32) inputs (pad 28x28 digits by 2), logits (N, num_classes).

    Lecture 05 (LeNet: conv, pool, conv, pool, fully connected: the elements of every later CNN).
    """

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),    # (N, 6, 14, 14)
            nn.Conv2d(6, 16, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),   # (N, 16, 5, 5)
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(inplace=True),
            nn.Linear(120, 84), nn.ReLU(inplace=True), nn.Linear(84, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class SmallCNN(nn.Module):
    """conv-BN-ReLU, 2x2 max pool, conv-BN-ReLU x2, global average pool, linear.

    ``features`` maps (N, C_in, H, W) to (N, widths[-1], H/2, W/2), the last conv layer's maps;
    ``fc`` maps their spatial means to logits. That GAP + linear head is exactly what CAM assumes:
    ``logit_c = sum_k fc.weight[c, k] * mean_{h,w} features_k``.

    Args:
        in_channels: image channels; num_classes: outputs;
        widths: channels of the three conv layers.

    Lecture 06 (trained on the digits; filters, activations, occlusion, CAM, Grad-CAM).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, widths: tuple[int, int, int] = (16, 32, 64)):
        super().__init__()
        in_channels = check_positive_int("in_channels", in_channels)
        a, b, c = widths
        self.features = nn.Sequential(
            conv_bn_act(in_channels, a, 3), nn.MaxPool2d(2),     # (N, a, H/2, W/2)
            conv_bn_act(a, b, 3), conv_bn_act(b, c, 3))         # (N, c, H/2, W/2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))   # (N, num_classes)
