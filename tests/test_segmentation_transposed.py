"""The three views of the transposed convolution against the layer reference and torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnncourse.layers import conv2d_forward, conv_transpose2d_forward
from cnncourse.segmentation import (conv2d_matrix, conv_transpose1d_contributions, conv_transpose2d_by_matrix,
                                    conv_transpose2d_by_zero_insertion, insert_zeros, zero_insertion_params)

CASES = [  # kernel, stride, padding, output_padding, dilation
    ((3, 3), 2, 1, 1, 1),
    ((2, 2), 2, 0, 0, 1),
    ((4, 3), (2, 3), (1, 0), (1, 2), 1),
    ((3, 3), 1, 2, 0, 1),
    ((3, 2), 2, (3, 1), 0, 1),     # padding > K - 1: the zero-insertion view crops
    ((3, 3), 2, 1, 1, 2),
]


def _torch(x, w, b, s, p, op, d):
    return F.conv_transpose2d(torch.tensor(x), torch.tensor(w), None if b is None else torch.tensor(b),
                              stride=s, padding=p, output_padding=op, dilation=d).numpy()


@pytest.mark.parametrize("k, s, p, op, d", CASES)
def test_matrix_and_zero_insertion_equal_conv_transpose(rng, k, s, p, op, d):
    """Do C^T x and zeros-pad-flip-convolve both equal conv_transpose2d (ours and torch's)?"""
    x = rng.normal(size=(2, 3, 4, 5))
    w = rng.normal(size=(3, 2) + k)                       # (C, F, KH, KW)
    b = rng.normal(size=2)
    ref = _torch(x, w, b, s, p, op, d)
    ours, _ = conv_transpose2d_forward(x, w, b, stride=s, padding=p, output_padding=op, dilation=d)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-10)
    by_matrix = conv_transpose2d_by_matrix(x, w, stride=s, padding=p, output_padding=op, dilation=d)
    np.testing.assert_allclose(by_matrix + b[None, :, None, None], ref, rtol=1e-10, atol=1e-10)
    by_zeros = conv_transpose2d_by_zero_insertion(x, w, b, stride=s, padding=p, output_padding=op, dilation=d)
    np.testing.assert_allclose(by_zeros, ref, rtol=1e-10, atol=1e-10)


def test_conv_matrix_is_the_convolution(rng):
    """Is conv2d(x, w).ravel() == C @ x.ravel() for a multi-channel strided, padded, dilated conv?"""
    x = rng.normal(size=(3, 7, 6))
    w = rng.normal(size=(4, 3, 3, 2))
    C = conv2d_matrix(w, (7, 6), stride=(2, 1), padding=1, dilation=(1, 2))
    out, _ = conv2d_forward(x[None], w, None, stride=(2, 1), padding=1, dilation=(1, 2))
    assert C.shape == (out.size, x.size)
    np.testing.assert_allclose(C @ x.ravel(), out.ravel(), rtol=1e-12)
    # each column holds at most F * KH * KW taps: the matrix is sparse
    assert (np.count_nonzero(C, axis=0) <= 4 * 3 * 2).all()


def test_1d_scatter_view():
    """Summed kernel copies at stride steps equal torch's conv_transpose1d (with padding cropping)."""
    x, w = np.array([1.0, 2.0, -1.0]), np.array([1.0, 0.5, 2.0])
    for s, p in [(1, 0), (2, 0), (2, 1), (3, 1)]:
        rows = conv_transpose1d_contributions(x, w, stride=s, padding=p)
        ref = F.conv_transpose1d(torch.tensor(x)[None, None], torch.tensor(w)[None, None], stride=s, padding=p)
        np.testing.assert_allclose(rows.sum(0), ref[0, 0].numpy())
        assert rows.shape == (3, (3 - 1) * s - 2 * p + 3)
    rows = conv_transpose1d_contributions(x, w, stride=2)
    np.testing.assert_allclose(rows[1], [0, 0, 2, 1, 4, 0, 0])   # 2 * w placed at output 2


def test_zero_insertion_parameters():
    """S - 1 zeros, padding D(K - 1) - P (+ output_padding after); insert_zeros shape."""
    zi = zero_insertion_params(3, stride=2, padding=1, output_padding=1)
    assert zi.zeros_between == (1, 1) and zi.pad_before == (1, 1) and zi.pad_after == (2, 2)
    zi = zero_insertion_params((4, 3), stride=(2, 3), padding=(0, 2), dilation=(1, 2))
    assert zi.zeros_between == (1, 2) and zi.pad_before == (3, 2) and zi.dilation == (1, 2)
    z = insert_zeros(np.arange(4.0).reshape(1, 1, 2, 2), 3)
    assert z.shape == (1, 1, 4, 4) and z[0, 0, 3, 3] == 3 and z.sum() == 6


def test_transposed_errors(rng):
    """Are channel mismatches, too-large output_padding and negative sizes rejected by name?"""
    x, w = rng.normal(size=(1, 2, 3, 3)), rng.normal(size=(2, 1, 3, 3))
    with pytest.raises(ValueError, match="`w`"):
        conv_transpose2d_by_matrix(x, w[:1])
    with pytest.raises(ValueError, match="`w`"):
        conv_transpose2d_by_zero_insertion(x, w[:1])
    with pytest.raises(ValueError, match="`output_padding`"):
        conv_transpose2d_by_zero_insertion(x, w, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="`output_padding`"):
        conv_transpose2d_by_matrix(x, w, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="`padding`"):
        conv_transpose1d_contributions(np.ones(2), np.ones(2), padding=2)
