"""Class-balance, edge and U-Net weight maps against brute-force loops over all pixel pairs."""

from __future__ import annotations

import numpy as np
import pytest

from cnncourse.data import ShapesDataset
from cnncourse.segmentation import boundary_distance, class_balance_weights, edge_weight_map, unet_weight_map


def _brute_distance(mask, is_target):
    """Distance from each pixel to the nearest pixel where is_target(pixel value, own value) holds."""
    h, w = mask.shape
    out = np.full((h, w), np.inf)
    for i in range(h):
        for j in range(w):
            for a in range(h):
                for b in range(w):
                    if is_target(mask[a, b], mask[i, j]):
                        out[i, j] = min(out[i, j], np.hypot(i - a, j - b))
    return out


def test_class_balance_weights():
    """Does each present class weigh total/K_present in sum, absent classes 0; median variant too?"""
    mask = np.array([[0] * 8, [0] * 6 + [1, 1], [0] * 7 + [3]])   # counts 21, 2, 0, 1
    w = class_balance_weights(mask, 4)
    sums = np.bincount(mask.ravel(), weights=w[mask.ravel()], minlength=4)
    np.testing.assert_allclose(sums[[0, 1, 3]], mask.size / 3)
    assert w[2] == 0 and w[3] > w[1] > w[0]
    freq = np.array([21, 2, 1]) / 24
    np.testing.assert_allclose(class_balance_weights(mask, 4, method="median")[[0, 1, 3]],
                               np.median(freq) / freq)


def test_boundary_distance_matches_brute_force(rng):
    """Is the distance to the nearest different label the brute-force one (scipy's EDT inside)?"""
    mask = (rng.random((7, 8)) < 0.2).astype(np.int64) + (rng.random((7, 8)) < 0.1)
    np.testing.assert_allclose(boundary_distance(mask), _brute_distance(mask, lambda v, own: v != own))
    assert np.isinf(boundary_distance(np.zeros((3, 3), np.int64))).all()


def test_edge_weight_map_formula(rng):
    """w = w_c + w0 exp(-d^2 / 2 sigma^2), peaking next to the boundary and ~w_c far from it."""
    mask = np.zeros((16, 16), np.int64)
    mask[6:12, 6:12] = 1
    cw = np.array([1.0, 3.0])
    w = edge_weight_map(mask, w0=5, sigma=1.5, class_weights=cw)
    d = _brute_distance(mask, lambda v, own: v != own)
    np.testing.assert_allclose(w, cw[mask] + 5 * np.exp(-d ** 2 / (2 * 1.5 ** 2)))
    assert w[6, 8] > w[8, 8] and np.isclose(w[0, 0], 1.0, atol=1e-3)


def test_unet_weight_map_between_two_objects():
    """Is the border term large in the gap between two objects, zero on objects and with one object?"""
    inst = np.zeros((10, 20), np.int64)
    inst[2:8, 2:8] = 1
    inst[2:8, 11:17] = 2
    w = unet_weight_map(inst, w0=10, sigma=5)
    d1 = _brute_distance(inst, lambda v, own: v == 1)
    d2 = _brute_distance(inst, lambda v, own: v == 2)
    dd = np.sort(np.stack([d1, d2]), axis=0)
    expected = 1 + np.where(inst == 0, 10 * np.exp(-(dd[0] + dd[1]) ** 2 / 50), 0)
    np.testing.assert_allclose(w, expected)
    assert w[5, 9] > w[0, 0] > 1 and w[5, 5] == 1
    one = np.where(inst == 2, 0, inst)
    np.testing.assert_allclose(unet_weight_map(one), 1.0)


def test_weights_on_a_shapes_mask():
    """On a real ShapesDataset mask: finite, >= the class weights, and edges above interiors."""
    s = ShapesDataset(1, image_size=48, seed=3)[0]
    cw = class_balance_weights(s["semantic"], 4)
    w = edge_weight_map(s["semantic"], class_weights=cw)
    assert np.isfinite(w).all() and (w >= cw[s["semantic"]]).all()
    near = boundary_distance(s["semantic"]) <= 1
    assert w[near & (s["semantic"] == 0)].mean() > w[~near & (s["semantic"] == 0)].mean()


def test_weight_errors():
    """Are float masks, bad labels, bad sigma and short class-weight vectors rejected by name?"""
    mask = np.zeros((4, 4), np.int64)
    with pytest.raises(ValueError, match="`mask`"):
        class_balance_weights(mask.astype(float), 2)
    with pytest.raises(ValueError, match="`mask`"):
        class_balance_weights(mask + 2, 2)
    with pytest.raises(ValueError, match="`method`"):
        class_balance_weights(mask, 2, method="log")
    with pytest.raises(ValueError, match="`sigma`"):
        edge_weight_map(mask, sigma=0)
    with pytest.raises(ValueError, match="`class_weights`"):
        edge_weight_map(mask + 1, class_weights=np.ones(1))
    with pytest.raises(ValueError, match="`instances`"):
        unet_weight_map(mask - 1)
