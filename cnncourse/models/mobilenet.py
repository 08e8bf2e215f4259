"""MobileNetV2 (Sandler et al. 2018) and MobileFaceNet (Chen et al. 2018), built from inverted residuals.

Lecture 05. :class:`InvertedResidual` expands ``C_in`` by ``t`` with a 1x1 conv, filters with a
3x3 depthwise conv (groups = channels) and projects linearly back with a 1x1 conv; the residual
connection is used when stride is 1 and the channels do not change. :class:`MobileNetV2` has
torchvision's layout and keys (3,504,872 parameters); :class:`MobileFaceNet` is built row by row
from the table of seed 003 (:data:`MOBILEFACENET_TABLE`).
"""

from __future__ import annotations

import torch
from torch import nn

from cnncourse._validate import check_positive_int
from cnncourse.models.blocks import conv_bn_act

__all__ = ["InvertedResidual", "MOBILEFACENET_TABLE", "MobileFaceNet", "MobileNetV2", "mobilenet_v2"]


class InvertedResidual(nn.Module):
    """(N, c_in, H, W) -> (N, c_out, H/stride, W/stride): 1x1 expand (x t), 3x3 depthwise, 1x1 linear.

    Args:
        c_in, c_out: channels; stride: of the depthwise conv; expand_ratio: ``t`` (1 skips the
            expansion conv); activation: ReLU6 in MobileNetV2, PReLU in MobileFaceNet.

    Lecture 05.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, expand_ratio: int,
                 activation: type[nn.Module] = nn.ReLU6):
        super().__init__()
        stride = check_positive_int("stride", stride)
        hidden = int(round(c_in * expand_ratio))
        self.use_res_connect = stride == 1 and c_in == c_out
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(conv_bn_act(c_in, hidden, 1, activation=activation))
        layers += [conv_bn_act(hidden, hidden, 3, stride, groups=hidden, activation=activation),
                   nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


# MobileNetV2's table: expansion t, channels c, repeats n, stride s of the first repeat
_MOBILENET_V2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                 (6, 160, 3, 2), (6, 320, 1, 1)]


class MobileNetV2(nn.Module):
    """MobileNetV2 at width 1.0: (N, 3, 224, 224) -> (N, num_classes); 3,504,872 parameters.

    Lecture 05.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        features: list[nn.Module] = [conv_bn_act(3, 32, 3, 2, activation=nn.ReLU6)]
        c = 32
        for t, c_out, n, s in _MOBILENET_V2:
            for i in range(n):
                features.append(InvertedResidual(c, c_out, s if i == 0 else 1, t))
                c = c_out
        features.append(conv_bn_act(c, 1280, 1, activation=nn.ReLU6))
        self.features = nn.Sequential(*features)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def mobilenet_v2(num_classes: int = 1000, **kwargs) -> MobileNetV2:
    """MobileNetV2 (torchvision's ``mobilenet_v2``): 3,504,872 parameters at 1000 classes.

    Lecture 05.
    """
    return MobileNetV2(num_classes, **kwargs)


# Seed 003, "MOBILEFACE NET ARCHITECTURE FOR FEATURE EMBEDDING" (t: expansion, c: channels,
# n: repeats, s: stride): (input H = W, input C, operator, t, c, n, s)
MOBILEFACENET_TABLE: list[tuple[int, int, str, int | None, int, int, int]] = [
    (112, 3, "conv3x3", None, 64, 1, 2),
    (56, 64, "depthwise conv3x3", None, 64, 1, 1),
    (56, 64, "bottleneck", 2, 64, 5, 2),
    (28, 64, "bottleneck", 4, 128, 1, 2),
    (14, 128, "bottleneck", 2, 128, 6, 1),
    (14, 128, "bottleneck", 4, 128, 1, 2),
    (7, 128, "bottleneck", 2, 128, 2, 1),
    (7, 128, "conv1x1", None, 512, 1, 1),
    (7, 512, "linear GDConv7x7", None, 512, 1, 1),
    (1, 512, "linear conv1x1", None, 128, 1, 1),
]


class MobileFaceNet(nn.Module):
    """MobileFaceNet built from :data:`MOBILEFACENET_TABLE`: (N, 3, 112, 112) -> (N, 128) embeddings.

    ``rows`` is an ``nn.ModuleList`` with one module per table row, so each row's output shape can
    be checked against the next row's "Input" column. PReLU activations as in the paper; the
    global depthwise conv (GDConv 7x7, no padding) replaces global average pooling.

    Lecture 05.
    """

    def __init__(self, embedding_dim: int = 128):
        super().__init__()
        rows: list[nn.Module] = []
        for _, c_in, op, t, c, n, s in MOBILEFACENET_TABLE:
            c = embedding_dim if op == "linear conv1x1" else c
            if op == "conv3x3":
                rows.append(conv_bn_act(c_in, c, 3, s, activation=nn.PReLU))
            elif op == "depthwise conv3x3":
                rows.append(conv_bn_act(c_in, c, 3, s, groups=c_in, activation=nn.PReLU))
            elif op == "bottleneck":
                rows.append(nn.Sequential(*(InvertedResidual(c_in if i == 0 else c, c, s if i == 0 else 1, t,
                                                             activation=nn.PReLU) for i in range(n))))
            elif op == "conv1x1":
                rows.append(conv_bn_act(c_in, c, 1, activation=nn.PReLU))
            elif op == "linear GDConv7x7":
                rows.append(nn.Sequential(nn.Conv2d(c_in, c, 7, groups=c_in, bias=False), nn.BatchNorm2d(c)))
            else:  # linear conv1x1
                rows.append(nn.Sequential(nn.Conv2d(c_in, c, 1, bias=False), nn.BatchNorm2d(c)))
        self.rows = nn.ModuleList(rows)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for row in self.rows:
            x = row(x)
        return torch.flatten(x, 1)   # (N, embedding_dim)
