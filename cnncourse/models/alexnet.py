"""AlexNet (Krizhevsky et al. 2012) in two variants.

- :class:`AlexNet`: torchvision's single-GPU variant (64-192-384-256-256 filters, 224x224
  input, adaptive 6x6 pooling): 61,100,840 parameters, same state-dict keys as torchvision's.
- :class:`AlexNetSlide`: the lecture slide's "full (simplified) AlexNet": 227x227x3 input,
  CONV1 96 11x11 filters at stride 4, pad 0 -> 55x55x96 ((11*11*3)*96 = 34,848 weights, 34,944
  with biases), overlapping 3x3/2 max pools, local response normalisation, 256-384-384-256 filters
  without the paper's two-GPU groups, FC 4096-4096-1000.

Lecture 05.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["AlexNet", "AlexNetSlide"]


def _classifier(num_classes: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Dropout(dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
        nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
        nn.Linear(4096, num_classes))


class AlexNet(nn.Module):
    """torchvision's AlexNet: (N, 3, 224, 224) -> (N, num_classes); 61,100,840 parameters at 1000 classes.

    Lecture 05.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(inplace=True),   # (N, 64, 55, 55)
            nn.MaxPool2d(3, stride=2),                                           # (N, 64, 27, 27)
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),                                           # (N, 192, 13, 13)
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),                                           # (N, 256, 6, 6)
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = _classifier(num_classes, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class AlexNetSlide(nn.Module):
    """The slide's AlexNet: (N, 3, 227, 227) -> (N, num_classes), 62,378,344 parameters at 1000 classes.

    NORM layers are ``nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2)`` (the paper's
    constants; torch divides alpha by n, lecture 04).

    Lecture 05.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(inplace=True),            # CONV1 (N, 96, 55, 55)
            nn.MaxPool2d(3, stride=2),                                        # POOL1 (N, 96, 27, 27)
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0),            # NORM1
            nn.Conv2d(96, 256, 5, padding=2), nn.ReLU(inplace=True),          # CONV2 (N, 256, 27, 27)
            nn.MaxPool2d(3, stride=2),                                        # POOL2 (N, 256, 13, 13)
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0),            # NORM2
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),         # CONV3 (N, 384, 13, 13)
            nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(inplace=True),         # CONV4
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),         # CONV5 (N, 256, 13, 13)
            nn.MaxPool2d(3, stride=2),                                        # POOL3 (N, 256, 6, 6)
        )
        self.classifier = _classifier(num_classes, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))
