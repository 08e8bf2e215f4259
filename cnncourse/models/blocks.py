"""Small building blocks shared by the architectures of lecture 05.

- :func:`conv_bn_act`          conv -> batch norm -> activation (torchvision's ``Conv2dNormActivation`` layout)
- :class:`SEBlock`             squeeze-and-excitation: global pool, bottleneck FCs, sigmoid channel gates
- :class:`DepthwiseSeparable`  MobileNet v1's block: 3x3 depthwise conv then 1x1 pointwise conv
- :func:`channel_shuffle`      ShuffleNet's shuffle of channel groups
- :class:`DenseBlock`          DenseNet: every layer sees the concatenation of all earlier outputs

All tensors are NCHW.
"""

from __future__ import annotations

import torch
from torch import nn

from cnncourse._validate import ArgumentError, check_positive_int

__all__ = ["DenseBlock", "DepthwiseSeparable", "SEBlock", "channel_shuffle", "conv_bn_act"]


def conv_bn_act(c_in: int, c_out: int, kernel: int = 3, stride: int = 1, *, groups: int = 1,
                activation: type[nn.Module] | None = nn.ReLU) -> nn.Sequential:
    """``Conv2d(bias=False, padding=(K-1)//2) -> BatchNorm2d -> activation`` as an ``nn.Sequential``.

    The layout (and state-dict keys ``0.weight``, ``1.weight``, ...) of torchvision's
    ``Conv2dNormActivation``. ``activation=None`` leaves the block linear (MobileNetV2's projection).

    Returns:
        Module mapping (N, c_in, H, W) -> (N, c_out, ceil(H / stride), ceil(W / stride)) for odd K.

    Lecture 05.
    """
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, stride, (kernel - 1) // 2, groups=groups,
                                         bias=False), nn.BatchNorm2d(c_out)]
    if activation is not None:
        layers.append(activation(inplace=True) if activation in (nn.ReLU, nn.ReLU6) else activation())
    return nn.Sequential(*layers)


class SEBlock(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): rescale each channel by a learned gate in (0, 1).

    squeeze ``z = mean_{h,w} x`` (N, C); excitation ``s = sigmoid(W2 relu(W1 z))`` with
    ``W1: C -> C/r``, ``W2: C/r -> C``; output ``x * s[:, :, None, None]``. Extra parameters
    ``2 C^2 / r + C/r + C``; extra MACs ``2 C^2 / r`` per image: a tiny overhead (the seed's SENet
    table: ResNet-50 3.86 -> 3.87 GFLOPs).

    Args:
        channels: ``C``.
        reduction: ``r`` (16 in the paper).

    Lecture 05 (SENet).
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        channels = check_positive_int("channels", channels)
        reduction = check_positive_int("reduction", reduction)
        if channels % reduction:
            raise ArgumentError("reduction", f"a divisor of channels={channels}", reduction)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(channels, channels // reduction)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(channels // reduction, channels)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.pool(x).flatten(1)                      # (N, C)  squeeze
        s = self.gate(self.fc2(self.relu(self.fc1(z))))  # (N, C)  excitation
        return x * s[:, :, None, None]                   # (N, C, H, W)  scale


class DepthwiseSeparable(nn.Module):
    """MobileNet v1 block: 3x3 depthwise conv (groups = C_in) + BN + ReLU, 1x1 conv + BN + ReLU.

    Multiplications ``9 H W C_in + H W C_in C_out`` instead of ``9 H W C_in C_out``: a fraction
    ``1/C_out + 1/9`` of a standard 3x3 conv (seed 003's depthwise/pointwise formulas).

    Args:
        c_in, c_out: channels; stride: of the depthwise conv.

    Lecture 05 (MobileNet).
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.depthwise = conv_bn_act(c_in, c_in, 3, stride, groups=c_in)
        self.pointwise = conv_bn_act(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle: output channel ``i * groups + g`` is input channel ``g * (C/groups) + i``.

    Reshape channels to ``(groups, C/groups)``, transpose to ``(C/groups, groups)``, flatten: after
    a group convolution, the next group convolution then sees channels from every group. With
    ``C = 6, groups = 3`` the channel order becomes ``0 2 4 1 3 5``.

    Args:
        x: (N, C, H, W) (any trailing dimensions after C work).
        groups: divides ``C``.

    Returns:
        (N, C, H, W), the same values with channels permuted.

    Lecture 05 (ShuffleNet).
    """
    groups = check_positive_int("groups", groups)
    if x.ndim < 2 or x.shape[1] % groups:
        raise ArgumentError("groups", f"a divisor of the channel count {tuple(x.shape)[1:2]}", groups)
    n, c = x.shape[:2]
    rest = x.shape[2:]
    return x.reshape(n, groups, c // groups, *rest).transpose(1, 2).reshape(n, c, *rest)


class _DenseLayer(nn.Module):
    def __init__(self, c_in: int, growth: int, bn_size: int):
        super().__init__()
        self.norm1, self.relu1 = nn.BatchNorm2d(c_in), nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(c_in, bn_size * growth, 1, bias=False)
        self.norm2, self.relu2 = nn.BatchNorm2d(bn_size * growth), nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))


class DenseBlock(nn.Module):
    """DenseNet block (Huang et al. 2017): layer ``l`` sees ``concat(x, y_1, ..., y_{l-1})``.

    Each layer is BN-ReLU-1x1 conv (``bn_size * growth`` channels)-BN-ReLU-3x3 conv (``growth``
    channels); the block outputs ``C_in + num_layers * growth`` channels.

    Args:
        c_in: input channels; num_layers: layers; growth: ``k``, channels each layer adds;
        bn_size: bottleneck width factor (4 in DenseNet-BC).

    Lecture 05 (DenseNet).
    """

    def __init__(self, c_in: int, num_layers: int, growth: int = 32, bn_size: int = 4):
        super().__init__()
        num_layers = check_positive_int("num_layers", num_layers)
        self.layers = nn.ModuleList(_DenseLayer(c_in + i * growth, growth, bn_size) for i in range(num_layers))
        self.out_channels = c_in + num_layers * growth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, 1)))  # (N, C_in + l*k, H, W) in
        return torch.cat(features, 1)                        # (N, C_in + L*k, H, W)
