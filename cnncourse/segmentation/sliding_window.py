"""Segmentation by a sliding window, and why a fully convolutional network does it for free (lecture 08).

The first deep segmenters (Farabet et al., 2013) classified the pixel at the centre of a patch,
one patch per pixel: ``H * W`` forward passes that recompute the same features for overlapping
patches. A network made only of convolutions with no padding (``valid``) maps a ``w x w`` patch to
``1 x 1`` scores; run on the whole (mirror-padded) image it returns all ``H x W`` centre-pixel
scores in one pass, identical to the sliding window, and shares the overlapping computation.

:func:`patch_classifier` builds such a network, :func:`sliding_window_segment` runs the slow
version, :func:`conv_macs` counts multiply-accumulates of any model on a given input.
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from cnncourse._validate import ArgumentError, check_positive_int

__all__ = ["conv_macs", "patch_classifier", "sliding_window_segment"]


def patch_classifier(in_channels: int = 3, num_classes: int = 4, *, window: int = 11,
                     width: int = 16) -> nn.Sequential:
    """``(window - 1) / 2`` valid 3x3 conv + ReLU layers and a 1x1 classifier (lecture 08).

    The receptive field is exactly ``window``: a ``window x window`` patch gives ``(1, K, 1, 1)``,
    an ``H x W`` input gives ``(K, H - window + 1, W - window + 1)``.
    """
    window = check_positive_int("window", window, minimum=3)
    if window % 2 == 0:
        raise ArgumentError("window", "an odd size (a centre pixel)", window)
    layers: list[nn.Module] = []
    c = check_positive_int("in_channels", in_channels)
    for _ in range((window - 1) // 2):
        layers += [nn.Conv2d(c, width, 3), nn.ReLU()]
        c = width
    layers.append(nn.Conv2d(c, check_positive_int("num_classes", num_classes), 1))
    return nn.Sequential(*layers)


@torch.no_grad()
def sliding_window_segment(net: nn.Module, image: torch.Tensor, window: int, *,
                           batch_size: int = 1024) -> torch.Tensor:
    """Score every pixel by running ``net`` on the ``window x window`` patch centred on it (lecture 08).

    The image is mirror-padded by ``window // 2`` so border pixels have full patches.

    Args:
        net: maps ``(B, C, window, window)`` to ``(B, K, 1, 1)`` or ``(B, K)``.
        image (Tensor[N, C, H, W]): the images.
        window: odd patch size.
        batch_size: patches per forward pass.

    Returns:
        Tensor[N, K, H, W] of scores; ``N * H * W`` patches were classified.
    """
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        raise ArgumentError("image", "a Tensor (N, C, H, W)", tuple(getattr(image, "shape", ())))
    window = check_positive_int("window", window)
    if window % 2 == 0:
        raise ArgumentError("window", "an odd size (a centre pixel)", window)
    n, c, h, w = image.shape
    pad = window // 2
    padded = F.pad(image, (pad, pad, pad, pad), mode="reflect") if pad else image
    patches = F.unfold(padded, window)                                  # (N, C*w*w, H*W)
    patches = patches.transpose(1, 2).reshape(n * h * w, c, window, window)
    scores = torch.cat([net(patches[i:i + batch_size]).reshape(min(batch_size, len(patches) - i), -1)
                        for i in range(0, len(patches), batch_size)])    # (N*H*W, K)
    return scores.reshape(n, h, w, -1).permute(0, 3, 1, 2)


def conv_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of the Conv2d, ConvTranspose2d and Linear layers on one forward pass.

    Lecture 08 (cost of the sliding window vs the fully convolutional pass). A convolution costs
    ``output elements * C_in / groups * KH * KW``; a transposed convolution ``input elements *
    C_out / groups * KH * KW``; a linear layer ``output elements * in_features``.

    Args:
        model: the network (run once on zeros, without gradients).
        input_shape: e.g. ``(1, 3, 32, 32)``.
    """
    total = 0

    def hook(mod: nn.Module, inputs: tuple, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(mod, nn.ConvTranspose2d):
            k = mod.kernel_size[0] * mod.kernel_size[1]
            total += inputs[0].numel() * mod.out_channels // mod.groups * k
        elif isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1]
            total += out.numel() * mod.in_channels // mod.groups * k
        elif isinstance(mod, nn.Linear):
            total += out.numel() * mod.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    was_training = model.training
    try:
        model.eval()
        p = next(model.parameters())
        with torch.no_grad():
            model(torch.zeros(input_shape, dtype=p.dtype, device=p.device))
    finally:
        for hd in handles:
            hd.remove()
        model.train(was_training)
    return int(total)
