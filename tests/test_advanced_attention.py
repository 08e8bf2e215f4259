"""Non-local block and glimpses against explicit loops and torch's attention."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnncourse.advanced import NonLocalBlock, glimpse, nonlocal_means


def _nonlocal_loop(block: NonLocalBlock, x: torch.Tensor) -> torch.Tensor:
    """z_i = W_z (sum_j exp(theta_i . phi_j) g_j / sum_j exp(theta_i . phi_j)) + x_i, position by position."""
    n, c, h, w = x.shape
    th, ph, g = block.theta(x), block.phi(x), block.g(x)
    y = torch.zeros_like(th)
    for b in range(n):
        for i in range(h * w):
            qi = th[b, :, i // w, i % w]
            scores = torch.stack([qi @ ph[b, :, j // w, j % w] for j in range(h * w)])
            f = torch.exp(scores - scores.max())
            acc = sum(f[j] * g[b, :, j // w, j % w] for j in range(h * w)) / f.sum()
            y[b, :, i // w, i % w] = acc
    return block.w_z(y) + x


def _randomize(block: torch.nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in block.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=gen, dtype=p.dtype))


def test_nonlocal_block_shape_and_zero_init_identity():
    """A new block keeps (N, C, H, W) and, with W_z = 0, returns its input exactly."""
    block = NonLocalBlock(6)
    x = torch.randn(2, 6, 5, 4)
    z, attn = block(x, return_attention=True)
    assert z.shape == x.shape and block.inter_channels == 3
    assert torch.equal(z, x)
    assert attn.shape == (2, 20, 20)
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, 20))


def test_nonlocal_block_matches_the_loop_and_torch_attention():
    """Is it softmax(theta^T phi) g, as an explicit loop and F.scaled_dot_product_attention(scale=1)?"""
    block = NonLocalBlock(4, 3).double()
    _randomize(block, 0)
    x = torch.randn(2, 4, 3, 4, dtype=torch.float64)
    z = block(x)
    torch.testing.assert_close(z, _nonlocal_loop(block, x))
    q = block.theta(x).flatten(2).transpose(1, 2)  # (N, HW, Ci)
    k = block.phi(x).flatten(2).transpose(1, 2)
    v = block.g(x).flatten(2).transpose(1, 2)
    y = F.scaled_dot_product_attention(q, k, v, scale=1.0).transpose(1, 2).reshape(2, 3, 3, 4)
    torch.testing.assert_close(z, block.w_z(y) + x)


def test_nonlocal_block_is_global_in_one_layer():
    """Does every output position depend on every input position (gradient non-zero everywhere)?"""
    block = NonLocalBlock(2, zero_init=False).double()
    _randomize(block, 1)
    x = torch.randn(1, 2, 6, 6, dtype=torch.float64, requires_grad=True)
    block(x)[0, :, 0, 0].sum().backward()
    assert bool((x.grad.abs().sum(1) > 0).all())


def test_nonlocal_means_is_a_nonlocal_operation_with_patch_embeddings(rng):
    """NLM over j in I equals attention with q = 2 v / h^2, k = v and a key bias -|v_j|^2 / h^2."""
    img = torch.tensor(rng.random((1, 1, 6, 7)))
    h = 0.7
    v = F.unfold(F.pad(img, (1, 1, 1, 1), mode="reflect"), 3).transpose(1, 2)  # (1, HW, 9) patches
    bias = -(v * v).sum(-1)[:, None, :] / h ** 2  # (1, 1, HW); -|v_i|^2 cancels in the softmax
    y = F.scaled_dot_product_attention(2 * v / h ** 2, v, img.flatten(2).transpose(1, 2), attn_mask=bias, scale=1.0)
    torch.testing.assert_close(y.transpose(1, 2).reshape(img.shape),
                               nonlocal_means(img, h=h, patch_size=3, search_size=None))


def _glimpse_loop(img, centre, size, s):
    c, h, w = img.shape
    side = size * s
    top, left = centre[0] - side // 2, centre[1] - side // 2
    crop = np.zeros((c, side, side))
    for a in range(side):
        for b in range(side):
            y, x = top + a, left + b
            if 0 <= y < h and 0 <= x < w:
                crop[:, a, b] = img[:, y, x]
    return crop.reshape(c, size, s, size, s).mean(axis=(2, 4))


def test_glimpse_matches_the_loop_twin(rng):
    """Each scale is the zero-padded window around the centre, block-averaged by its scale."""
    imgs = rng.random((3, 2, 15, 13))
    centres = np.array([[7, 6], [0, 12], [14, 1]])
    out = glimpse(torch.tensor(imgs), torch.tensor(centres), size=4, scales=(1, 2, 3))
    assert out.shape == (3, 3, 2, 4, 4)
    for n in range(3):
        for k, s in enumerate((1, 2, 3)):
            np.testing.assert_allclose(out[n, k].numpy(), _glimpse_loop(imgs[n], centres[n], 4, s), atol=1e-12)
    torch.testing.assert_close(out[0, 0], torch.tensor(imgs[0, :, 5:9, 4:8]))


def test_bad_arguments_are_named():
    """Wrong channel counts, centres and scales raise ValueError naming the argument."""
    with pytest.raises(ValueError, match="`x`"):
        NonLocalBlock(4)(torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="`centers`"):
        glimpse(torch.zeros(2, 1, 8, 8), torch.zeros(2, 3, dtype=torch.long), size=2)
    with pytest.raises(ValueError, match="`scales`"):
        glimpse(torch.zeros(2, 1, 8, 8), torch.zeros(2, 2, dtype=torch.long), size=2, scales=(0,))
    with pytest.raises(ValueError, match="`channels`"):
        NonLocalBlock(0)


def test_follow_the_device(device):
    """The non-local block and glimpses run on the input's device."""
    block = NonLocalBlock(4, zero_init=False).to(device)
    x = torch.randn(2, 4, 5, 5, device=device)
    assert block(x).device.type == device
    out = glimpse(x, torch.tensor([[2, 2], [0, 4]], device=device), size=2, scales=(1, 2))
    assert out.device.type == device and out.shape == (2, 2, 4, 2, 2)
