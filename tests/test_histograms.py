"""Histogram distances and Lp norms against numpy.linalg.norm, scipy's 1-D Wasserstein distance and
slow loop twins written here."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from cnncourse.histograms import (chi2_distance, emd_1d, euclidean_distance,
                                  histogram_intersection_distance, lp_norm)


def _hist(rng, shape):
    h = rng.random(shape) * (rng.random(shape) > 0.3)         # some empty bins
    return h / h.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("p", [0, 0.5, 1, 1.5, 2, 3, np.inf])
def test_lp_norm_matches_numpy(rng, p):
    """Is lp_norm numpy.linalg.norm(ord=p) along the last axis, L0 counting non-zeros?"""
    x = rng.normal(size=(4, 7)) * (rng.random((4, 7)) > 0.4)
    np.testing.assert_allclose(lp_norm(x, p), np.linalg.norm(x, ord=p, axis=-1), rtol=1e-12)
    if p == 0:
        np.testing.assert_array_equal(lp_norm(x, 0), [np.count_nonzero(r) for r in x])


def test_lp_norm_small_p_tends_to_the_count_and_huge_values_do_not_overflow():
    """Does sum |x|^p approach the number of non-zeros as p -> 0, without overflow for big x?"""
    x = np.array([3.0, 0.0, -0.5, 2.0])
    assert lp_norm(x, 0.01) ** 0.01 == pytest.approx(3.0, rel=1e-2)      # sum |x|^p, p = 0.01
    big = np.array([1e200, 1e200])
    assert lp_norm(big, 2) == pytest.approx(np.sqrt(2) * 1e200)
    assert lp_norm(np.zeros(3), 0.5) == 0.0
    assert lp_norm([3, 0, -4], 2) == 5.0                                # lists and ints work


def test_distances_match_loops_and_broadcast(rng):
    """Do the three histogram distances equal their loop formulas, pairwise by broadcasting?"""
    h = _hist(rng, (5, 6))
    h[0, :3] = 0.0
    h[1, :3] = 0.0                                        # bins empty in both: 0/0 in chi-squared
    h[:2] /= h[:2].sum(axis=1, keepdims=True)
    hi = histogram_intersection_distance(h[:, None], h[None])
    chi = chi2_distance(h[:, None], h[None])
    eu = euclidean_distance(h[:, None], h[None])
    assert hi.shape == chi.shape == eu.shape == (5, 5)
    for i in range(5):
        for j in range(5):
            a, b = h[i], h[j]
            assert hi[i, j] == pytest.approx(1 - sum(min(a[m], b[m]) for m in range(6)), abs=1e-14)
            terms = [(a[m] - b[m]) ** 2 / (a[m] + b[m]) for m in range(6) if a[m] + b[m] > 0]
            assert chi[i, j] == pytest.approx(0.5 * sum(terms), abs=1e-14)
            assert eu[i, j] == pytest.approx(np.sqrt(sum((a[m] - b[m]) ** 2 for m in range(6))), abs=1e-14)
    assert np.isfinite(chi).all()
    np.testing.assert_allclose(np.diag(hi), 0, atol=1e-14)
    np.testing.assert_allclose(np.diag(chi), 0)


def test_distance_extremes_for_disjoint_histograms():
    """Are disjoint normalized histograms at intersection and chi-squared distance exactly 1?"""
    a, b = np.array([0.5, 0.5, 0, 0]), np.array([0, 0, 0.25, 0.75])
    assert histogram_intersection_distance(a, b) == 1.0
    assert chi2_distance(a, b) == pytest.approx(1.0)
    assert chi2_distance(np.zeros(3), np.zeros(3)) == 0.0           # all bins 0/0 -> 0


def test_emd_1d_matches_scipy(rng):
    """Is emd_1d scipy.stats.wasserstein_distance with the histograms as weights on the bin centres?"""
    for _ in range(5):
        a, b = rng.random(8), rng.random(8) * (rng.random(8) > 0.5)
        b[0] += 0.1
        c = np.cumsum(rng.random(8) + 0.1)
        assert emd_1d(a, b, bin_centres=c) == pytest.approx(wasserstein_distance(c, c, a, b), rel=1e-10)
        assert emd_1d(a, b) == pytest.approx(wasserstein_distance(np.arange(8), np.arange(8), a, b), rel=1e-10)
    # moving all mass by 3 bins costs 3, whatever the scale of the counts
    assert emd_1d([0, 5, 0, 0, 0], [0, 0, 0, 0, 2]) == pytest.approx(3.0)
    batch = emd_1d(_hist(rng, (3, 8)) + 0.01, _hist(rng, (1, 8)) + 0.01)
    assert batch.shape == (3,)


def test_errors_name_the_argument():
    """Do bad histograms raise errors that name the argument?"""
    with pytest.raises(ValueError, match="`h_j` expected the same number of bins"):
        chi2_distance(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="`h_i` expected non-negative bins"):
        histogram_intersection_distance([-0.1, 1.1], [0.5, 0.5])
    with pytest.raises(ValueError, match="`h_j` expected leading dims"):
        chi2_distance(np.ones((2, 3)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="`bin_centres` expected strictly increasing"):
        emd_1d([1, 0], [0, 1], bin_centres=[1, 1])
    with pytest.raises(ValueError, match="`bin_centres` expected shape"):
        emd_1d([1, 0], [0, 1], bin_centres=[0, 1, 2])
    with pytest.raises(ValueError, match="`h_j` expected a positive total mass"):
        emd_1d([1, 0], [0, 0])
    with pytest.raises(ValueError, match="`p`"):
        lp_norm([1, 2], -1)
    with pytest.raises(ValueError, match="`x` expected a real-valued"):
        lp_norm(["a"], 2)
    with pytest.raises(ValueError, match="`h_i` expected finite"):
        euclidean_distance([np.nan], [1.0])
    with pytest.raises(ValueError, match="`x` expected an array"):
        lp_norm(3.0, 2)
