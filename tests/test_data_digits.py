"""load_digits: the fixed stratified split, scaling, and bilinear resizing checked against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits as sk_load_digits

from cnncourse.data import load_digits, resize_bilinear


def test_default_split_is_a_stratified_partition_of_sklearn_digits():
    """Is every sklearn image in exactly one split, scaled by 1/16, with 20% of each class held out?"""
    (x_tr, y_tr), (x_te, y_te) = load_digits()
    assert x_tr.shape == (1438, 1, 8, 8) and x_te.shape == (359, 1, 8, 8)
    assert x_tr.dtype == np.float32 and y_tr.dtype == np.int64
    assert x_tr.min() == 0.0 and x_tr.max() == 1.0
    sk = sk_load_digits()
    rows = {r.tobytes(): t for r, t in zip((sk.images / 16).astype(np.float32), sk.target)}
    ours = [(x[0].tobytes(), y) for x, y in zip(np.concatenate([x_tr, x_te]), np.concatenate([y_tr, y_te]))]
    assert len(ours) == 1797
    assert sorted(t for _, t in ours) == sorted(sk.target)
    assert all(rows[b] == y for b, y in ours)  # every image carries its sklearn label
    for c in range(10):
        n_c = (sk.target == c).sum()
        assert (y_te == c).sum() == round(0.2 * n_c)


def test_split_is_fixed_between_calls_and_sizes():
    """Does the same call give the same split, and does the split not depend on the size?"""
    (a, ya), (b, yb) = load_digits(size=16)
    (a2, ya2), _ = load_digits(size=16)
    (_, y8), (_, y8_te) = load_digits()
    assert a.tobytes() == a2.tobytes()
    np.testing.assert_array_equal(ya, y8)
    np.testing.assert_array_equal(yb, y8_te)
    assert a.shape == (1438, 1, 16, 16)


def test_resized_digits_match_torch_interpolate():
    """Is size=28 exactly torch's bilinear (align_corners=False) upsampling of the 8x8 images?"""
    (x8, _), _ = load_digits()
    (x28, _), _ = load_digits(size=28)
    ref = F.interpolate(torch.from_numpy(x8), size=(28, 28), mode="bilinear", align_corners=False)
    np.testing.assert_allclose(x28, ref.clamp(0, 1).numpy(), atol=1e-6)
    assert x28.dtype == np.float32


@pytest.mark.parametrize("size", [(16, 16), (5, 3), (7, 19), (8, 8), (1, 2)])
def test_resize_bilinear_matches_torch_for_up_and_down_sampling(size, rng):
    """Does resize_bilinear equal torch.nn.functional.interpolate(mode='bilinear') for any size?"""
    x = rng.standard_normal((2, 3, 8, 6))
    ref = F.interpolate(torch.from_numpy(x), size=size, mode="bilinear", align_corners=False)
    np.testing.assert_allclose(resize_bilinear(x, size), ref.numpy(), rtol=1e-12, atol=1e-12)


def test_invalid_arguments_name_the_argument():
    """Do bad arguments raise errors naming the argument?"""
    with pytest.raises(ValueError, match="`test_fraction` expected a number in"):
        load_digits(test_fraction=1.0)
    with pytest.raises(ValueError, match="`size` expected an integer >= 1"):
        load_digits(size=0)
    with pytest.raises(ValueError, match="`x` expected a 4-D array"):
        resize_bilinear(np.zeros((3, 8, 8)), 4)
