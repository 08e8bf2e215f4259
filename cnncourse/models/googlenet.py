"""GoogLeNet / Inception v1 (Szegedy et al. 2014) and its inception module.

Lecture 05. :class:`InceptionModule` runs four branches in parallel on the same input (1x1 conv;
[1x1 reduce ->] 3x3 conv; [1x1 reduce ->] 5x5 conv; 3x3 max pool [-> 1x1 projection]) and
concatenates them along channels. Its branch channels are an
:class:`~cnncourse.costs.InceptionSpec`, the same object :func:`cnncourse.costs.inception_ops` counts,
so the slide's op count and the module's measured MACs come from one description.

:class:`GoogLeNet` has torchvision's layout and state-dict keys (conv + BN "BasicConv2d", no
auxiliary heads by default): 6,624,904 parameters. As in torchvision, its "5x5" branches use 3x3
kernels (``kernel5=3``, a slip torchvision keeps for its pretrained weights); ``kernel5=5`` builds
the paper's module.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cnncourse.costs.formulas import InceptionSpec

__all__ = ["BasicConv2d", "GoogLeNet", "InceptionModule", "googlenet"]


class BasicConv2d(nn.Module):
    """Conv2d (no bias) -> BatchNorm2d(eps=1e-3) -> ReLU, torchvision's GoogLeNet unit.

    Lecture 05.
    """

    def __init__(self, c_in: int, c_out: int, **conv_kwargs):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, bias=False, **conv_kwargs)
        self.bn = nn.BatchNorm2d(c_out, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class InceptionModule(nn.Module):
    """(N, c_in, H, W) -> (N, spec.out_channels(c_in), H, W).

    Args:
        c_in: input channels.
        spec: branch channels; leave ``reduce3x3``, ``reduce5x5`` and ``pool_proj`` as ``None`` for
            the naive module of the slide.

    Lecture 05.
    """

    def __init__(self, c_in: int, spec: InceptionSpec):
        super().__init__()
        self.spec = spec
        k5 = spec.kernel5

        def branch(red: int | None, c: int, k: int) -> nn.Sequential:
            if red is None:
                return nn.Sequential(BasicConv2d(c_in, c, kernel_size=k, padding=k // 2))
            return nn.Sequential(BasicConv2d(c_in, red, kernel_size=1),
                                 BasicConv2d(red, c, kernel_size=k, padding=k // 2))

        self.branch1 = BasicConv2d(c_in, spec.c1x1, kernel_size=1)
        self.branch2 = branch(spec.reduce3x3, spec.c3x3, 3)
        self.branch3 = branch(spec.reduce5x5, spec.c5x5, k5)
        pool: list[nn.Module] = [nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True)]
        if spec.pool_proj is not None:
            pool.append(BasicConv2d(c_in, spec.pool_proj, kernel_size=1))
        self.branch4 = nn.Sequential(*pool)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return torch.cat(outs, 1)   # (N, c1x1 + c3x3 + c5x5 + pool channels, H, W)


class _InceptionAux(nn.Module):
    def __init__(self, c_in: int, num_classes: int):
        super().__init__()
        self.conv = BasicConv2d(c_in, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(0.7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(F.adaptive_avg_pool2d(x, (4, 4)))
        return self.fc2(self.dropout(F.relu(self.fc1(torch.flatten(x, 1)), inplace=True)))


# GoogLeNet's table: (name, c_in, c1x1, reduce3x3, c3x3, reduce5x5, c5x5, pool_proj)
_GOOGLENET = [
    ("inception3a", 192, 64, 96, 128, 16, 32, 32), ("inception3b", 256, 128, 128, 192, 32, 96, 64),
    ("inception4a", 480, 192, 96, 208, 16, 48, 64), ("inception4b", 512, 160, 112, 224, 24, 64, 64),
    ("inception4c", 512, 128, 128, 256, 24, 64, 64), ("inception4d", 512, 112, 144, 288, 32, 64, 64),
    ("inception4e", 528, 256, 160, 320, 32, 128, 128), ("inception5a", 832, 256, 160, 320, 32, 128, 128),
    ("inception5b", 832, 384, 192, 384, 48, 128, 128),
]


class GoogLeNet(nn.Module):
    """GoogLeNet: (N, 3, 224, 224) -> (N, num_classes) (a tuple with the two auxiliary logits too
    when ``aux_logits`` and training).

    Args:
        num_classes: outputs; aux_logits: build the two auxiliary classifiers (training aid of the
            paper); kernel5: kernel of the "5x5" branches (3 = torchvision, 5 = paper); dropout.

    Lecture 05.
    """

    def __init__(self, num_classes: int = 1000, *, aux_logits: bool = False, kernel5: int = 3,
                 dropout: float = 0.2):
        super().__init__()
        self.conv1 = BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        for name, c_in, c1, r3, c3, r5, c5, pp in _GOOGLENET:
            spec = InceptionSpec(c1x1=c1, c3x3=c3, c5x5=c5, reduce3x3=r3, reduce5x5=r5, pool_proj=pp,
                                 kernel5=kernel5)
            setattr(self, name, InceptionModule(c_in, spec))
            if name == "inception3b":
                self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
            if name == "inception4e":
                self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.aux1 = _InceptionAux(512, num_classes) if aux_logits else None
        self.aux2 = _InceptionAux(528, num_classes) if aux_logits else None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor):
        x = self.maxpool1(self.conv1(x))                              # (N, 64, 56, 56)
        x = self.maxpool2(self.conv3(self.conv2(x)))                  # (N, 192, 28, 28)
        x = self.maxpool3(self.inception3b(self.inception3a(x)))      # (N, 480, 14, 14)
        x = self.inception4a(x)
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.maxpool4(self.inception4e(x))                        # (N, 832, 7, 7)
        x = self.inception5b(self.inception5a(x))                     # (N, 1024, 7, 7)
        logits = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
        return (logits, aux2, aux1) if aux1 is not None else logits


def googlenet(num_classes: int = 1000, **kwargs) -> GoogLeNet:
    """GoogLeNet without auxiliary heads: 6,624,904 parameters at 1000 classes (torchvision's count).

    Lecture 05.
    """
    return GoogLeNet(num_classes, **kwargs)
