"""The non-local block: non-local means inside a CNN, as attention over all positions (Lecture 10).

Wang, Girshick, Gupta and He ("Non-local Neural Networks", CVPR 2018) generalise non-local means
to feature maps. For input ``x`` of shape ``(N, C, H, W)`` and positions ``i, j`` of the
``H * W`` grid::

    y_i = 1/C(x) sum_j f(x_i, x_j) g(x_j),        z_i = W_z y_i + x_i

with the *embedded Gaussian* ``f(x_i, x_j) = exp(theta(x_i)^T phi(x_j))`` and ``C(x) = sum_j f``,
i.e. ``y = softmax(theta^T phi) g``: dot-product attention (``scale = 1``) with queries
``theta``, keys ``phi`` and values ``g``, all ``1 x 1`` convolutions to ``inter_channels``.
Non-local means is the same sum with ``f = exp(-||v_i - v_j||^2 / h^2)`` on raw patches and no
learned embeddings. ``W_z`` (a ``1 x 1`` convolution back to ``C`` channels) starts at zero, so a
new block is the identity and can be inserted into a pretrained network without changing it.
One block connects every position with every other: a global receptive field in one layer.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from cnncourse._validate import ArgumentError, check_positive_int

__all__ = ["NonLocalBlock"]


class NonLocalBlock(nn.Module):
    """Embedded-Gaussian non-local block with a residual connection (Lecture 10).

    Args:
        channels: ``C``, input and output channels.
        inter_channels: channels of ``theta``, ``phi`` and ``g`` (default ``C // 2``, at least 1).
        zero_init: initialise ``W_z`` to zero so that the block starts as the identity.

    Shapes:
        ``forward(x)``: Tensor[N, C, H, W] -> Tensor[N, C, H, W]; with ``return_attention=True``
        also the attention Tensor[N, H*W, H*W], row ``i`` holding ``f(x_i, .) / C(x)``.
    """

    def __init__(self, channels: int, inter_channels: int | None = None, *, zero_init: bool = True):
        super().__init__()
        c = check_positive_int("channels", channels)
        ci = max(c // 2, 1) if inter_channels is None else check_positive_int("inter_channels", inter_channels)
        self.channels, self.inter_channels = c, ci
        self.theta = nn.Conv2d(c, ci, 1)
        self.phi = nn.Conv2d(c, ci, 1)
        self.g = nn.Conv2d(c, ci, 1)
        self.w_z = nn.Conv2d(ci, c, 1)
        if zero_init:
            nn.init.zeros_(self.w_z.weight)
            nn.init.zeros_(self.w_z.bias)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        """``z = W_z softmax(theta^T phi) g + x``; see the class docstring for shapes."""
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ArgumentError("x", f"shape (N, {self.channels}, H, W)", str(tuple(x.shape)))
        n, c, h, w = x.shape
        q = self.theta(x).flatten(2).transpose(1, 2)  # (N, HW, Ci) queries theta(x_i)
        k = self.phi(x).flatten(2)  # (N, Ci, HW) keys phi(x_j)
        v = self.g(x).flatten(2).transpose(1, 2)  # (N, HW, Ci) values g(x_j)
        attn = torch.softmax(q @ k, dim=-1)  # (N, HW, HW): f(x_i, x_j) / C(x)
        y = (attn @ v).transpose(1, 2).reshape(n, self.inter_channels, h, w)  # (N, Ci, H, W)
        z = self.w_z(y) + x  # (N, C, H, W)
        return (z, attn) if return_attention else z
