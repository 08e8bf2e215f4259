"""VGG (Simonyan and Zisserman 2014): only 3x3 convs (stride 1, pad 1) and 2x2 max pools (stride 2).

Lecture 05. Same layout and state-dict keys as torchvision's ``vgg11/13/16/19`` (without batch
norm by default); VGG16 has 138,357,544 parameters and 15.47 G multiply-accumulates per
224x224 image (the seed's SENet table: 15.47 GFLOPs).
"""

from __future__ import annotations

import torch
from torch import nn

from cnncourse._validate import ArgumentError

__all__ = ["VGG", "VGG_CONFIGS", "vgg16"]

# channels of each 3x3 conv, "M" a 2x2 max pool (the paper's configurations A, B, D, E)
VGG_CONFIGS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}


class VGG(nn.Module):
    """A VGG network: (N, 3, 224, 224) -> (N, num_classes).

    Args:
        config: a key of :data:`VGG_CONFIGS` or a list in that format.
        num_classes: outputs of the last FC layer.
        batch_norm: insert ``BatchNorm2d`` after every conv (torchvision's ``vgg16_bn``).
        dropout: of the two hidden FC layers.

    Lecture 05.
    """

    def __init__(self, config: str | list[int | str] = "vgg16", num_classes: int = 1000, *,
                 batch_norm: bool = False, dropout: float = 0.5):
        super().__init__()
        if isinstance(config, str):
            if config not in VGG_CONFIGS:
                raise ArgumentError("config", f"one of {sorted(VGG_CONFIGS)} or a list", config)
            config = VGG_CONFIGS[config]
        layers: list[nn.Module] = []
        c = 3
        for v in config:
            if v == "M":
                layers.append(nn.MaxPool2d(2, stride=2))
            else:
                layers.append(nn.Conv2d(c, int(v), 3, padding=1))
                layers += [nn.BatchNorm2d(int(v))] if batch_norm else []
                layers.append(nn.ReLU(inplace=True))
                c = int(v)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))   # identity for 224x224 inputs
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(4096, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def vgg16(num_classes: int = 1000, **kwargs) -> VGG:
    """VGG16 (configuration D): 13 conv + 3 FC layers, 138,357,544 parameters at 1000 classes.

    Lecture 05.
    """
    return VGG("vgg16", num_classes, **kwargs)
