"""The autograd receptive field against the arithmetic formula and a finite-difference probe."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from cnncourse.advanced import NonLocalBlock, gradient_receptive_field, support_extent
from cnncourse.arithmetic import receptive_field


def _stack(dilations):
    convs = [nn.Conv2d(1, 1, 3, padding=d, dilation=d, bias=False) for d in dilations]
    for c in convs:
        nn.init.constant_(c.weight, 1.0 / 9)
    return nn.Sequential(*convs).double()


@pytest.mark.parametrize("dilations", [(1,), (1, 1, 1), (1, 2, 4), (1, 2, 4, 8)])
def test_extent_equals_the_arithmetic_receptive_field(dilations):
    """Stacked 3x3 convolutions (dilated or not) see exactly receptive_field(...) pixels."""
    x = torch.rand(1, 1, 41, 41, dtype=torch.float64)
    grad = gradient_receptive_field(_stack(dilations), x)
    rf = receptive_field([dict(kernel=3, dilation=d) for d in dilations])[-1].receptive_field
    assert support_extent(grad) == (rf, rf)


def test_matches_finite_differences():
    """Is the map |dy/dx| of a linear operator equal to the response to unit impulses?"""
    net = _stack((1, 2))
    x = torch.zeros(1, 1, 11, 11, dtype=torch.float64)
    grad = gradient_receptive_field(net, x, position=(4, 6))
    probe = torch.zeros(11, 11, dtype=torch.float64)
    for i in range(11):
        for j in range(11):
            e = torch.zeros_like(x)
            e[0, 0, i, j] = 1.0
            probe[i, j] = net(e)[0, 0, 4, 6].abs()
    torch.testing.assert_close(grad, probe)


def test_nonlocal_block_sees_the_whole_image():
    """One non-local block (with W_z != 0) reaches every input pixel."""
    torch.manual_seed(0)
    block = NonLocalBlock(2, zero_init=False).double()
    grad = gradient_receptive_field(block, torch.randn(1, 2, 9, 7, dtype=torch.float64), position=(0, 0))
    assert support_extent(grad) == (9, 7) and bool((grad > 0).all())


def test_errors_and_empty_support():
    """Bad inputs and positions raise ValueError naming the argument; a zero map has extent (0, 0)."""
    x = torch.rand(1, 1, 5, 5)
    with pytest.raises(ValueError, match="`position`"):
        gradient_receptive_field(lambda t: F.avg_pool2d(t, 3), x, position=(2, 0))
    with pytest.raises(ValueError, match="`x`"):
        gradient_receptive_field(lambda t: t, x[0])
    with pytest.raises(ValueError, match="`fn`"):
        gradient_receptive_field(lambda t: t.sum(), x)
    assert support_extent(torch.zeros(4, 4)) == (0, 0)
    with pytest.raises(ValueError, match="`grad_map`"):
        support_extent(torch.zeros(4))
