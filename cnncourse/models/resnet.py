"""ResNet (He et al. 2016) and ResNeXt: residual blocks ``y = relu(F(x) + shortcut(x))``.

Lecture 05. :class:`BasicBlock` (two 3x3 convs, ResNet-18/34) and :class:`Bottleneck` (1x1 reduce,
3x3, 1x1 expand by 4; ResNet-50/101/152; ``groups > 1`` makes it ResNeXt's block) build their own
projection shortcut (1x1 conv with stride + BN) when the shapes change, else the identity.
Layouts and state-dict keys are torchvision's: resnet18 has 11,689,512 parameters and resnet50
25,557,032.

torchvision (like most code today) puts a bottleneck's stride on the 3x3 conv ("ResNet v1.5",
~4.1 GMACs per 224x224 image); the paper put it on the first 1x1 conv (~3.86 GMACs, the seed's
SENet table). ``stride_in_1x1=True`` selects the paper's placement; parameters are unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from cnncourse._validate import ArgumentError, check_positive_int
from cnncourse.models.blocks import SEBlock

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet50", "resnext50_32x4d"]


def _projection(c_in: int, c_out: int, stride: int) -> nn.Sequential | None:
    """1x1 conv + BN shortcut when the block changes the shape, else ``None`` (identity)."""
    if stride == 1 and c_in == c_out:
        return None
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))


class BasicBlock(nn.Module):
    """Two 3x3 convs: (N, c_in, H, W) -> (N, planes, H/stride, W/stride).

    Args:
        c_in: input channels; planes: output channels; stride: of the first conv.
        se_reduction: add a squeeze-and-excitation gate on the residual branch (SE-ResNet).

    Lecture 05.
    """

    expansion = 1

    def __init__(self, c_in: int, planes: int, stride: int = 1, *, se_reduction: int | None = None):
        super().__init__()
        stride = check_positive_int("stride", stride)
        self.conv1 = nn.Conv2d(c_in, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.se = SEBlock(planes, se_reduction) if se_reduction else None
        self.downsample = _projection(c_in, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))   # F(x)
        if self.se is not None:
            out = self.se(out)
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 (reduce to ``width``) -> 3x3 (``groups``) -> 1x1 (expand to ``4 * planes``).

    (N, c_in, H, W) -> (N, 4 * planes, H/stride, W/stride), with
    ``width = int(planes * base_width / 64) * groups`` (``planes`` for ResNet, 32 x 4d = 128 for
    ResNeXt-50 32x4d's first stage).

    Args:
        c_in, planes, stride: as in :class:`BasicBlock`; groups: cardinality; base_width: width per
            group at ``planes = 64``; stride_in_1x1: the paper's stride placement (see module doc);
            se_reduction: optional SE gate before the addition.

    Lecture 05.
    """

    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int = 1, *, groups: int = 1, base_width: int = 64,
                 stride_in_1x1: bool = False, se_reduction: int | None = None):
        super().__init__()
        stride = check_positive_int("stride", stride)
        width = int(planes * (base_width / 64.0)) * groups
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = nn.Conv2d(c_in, width, 1, s1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, s3, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.se = SEBlock(planes * 4, se_reduction) if se_reduction else None
        self.downsample = _projection(c_in, planes * 4, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))      # (N, width, H', W')
        out = self.relu(self.bn2(self.conv2(out)))    # (N, width, H/s, W/s)
        out = self.bn3(self.conv3(out))               # (N, 4 planes, H/s, W/s)
        if self.se is not None:
            out = self.se(out)
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    """7x7/2 conv, 3x3/2 max pool, four stages of residual blocks (64, 128, 256, 512 planes), GAP, FC.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: blocks per stage, e.g. ``(2, 2, 2, 2)`` for ResNet-18, ``(3, 4, 6, 3)`` for ResNet-50.
        num_classes: outputs.
        **block_kwargs: passed to every block (``groups``, ``base_width``, ``stride_in_1x1``,
            ``se_reduction``).

    Lecture 05.
    """

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: tuple[int, int, int, int],
                 num_classes: int = 1000, **block_kwargs):
        super().__init__()
        if len(layers) != 4:
            raise ArgumentError("layers", "4 block counts (one per stage)", layers)
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        c = 64
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), layers)):
            blocks = []
            for j in range(n):
                blocks.append(block(c, planes, 2 if (j == 0 and i > 0) else 1, **block_kwargs))
                c = planes * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))      # (N, 64, H/4, W/4)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (N, 512 e, H/32, W/32)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-18: basic blocks (2, 2, 2, 2); 11,689,512 parameters at 1000 classes.

    Lecture 05.
    """
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes, **kwargs)


def resnet50(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-50: bottleneck blocks (3, 4, 6, 3); 25,557,032 parameters at 1000 classes.

    Lecture 05.
    """
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes, **kwargs)


def resnext50_32x4d(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNeXt-50 (32 x 4d): ResNet-50 with grouped 3x3 convs; 25,028,904 parameters.

    Lecture 05.
    """
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes, groups=32, base_width=4, **kwargs)
