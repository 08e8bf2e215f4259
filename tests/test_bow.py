"""Bag-of-words codebooks (k-means, hard/soft codes, pooling, spatial pyramid) against scikit-learn
and slow loop twins written here."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans

from cnncourse.bow import (bow_histogram, hard_assign, kmeans, pool_codes, soft_assign,
                           spatial_pyramid_histogram, squared_distances)


def _blobs(rng, n_per=40, centres=((0, 0), (5, 5), (0, 6), (7, -1))):
    return np.concatenate([rng.normal(c, 0.7, size=(n_per, 2)) for c in centres])


def _slow_lloyd(x, centres, max_iter=300):
    """Lloyd's algorithm written with plain loops."""
    centres = centres.copy()
    labels = None
    for _ in range(max_iter):
        new = []
        for p in x:
            best, best_d = 0, np.inf
            for j, c in enumerate(centres):
                d = sum((p[i] - c[i]) ** 2 for i in range(len(p)))
                if d < best_d:
                    best, best_d = j, d
            new.append(best)
        new = np.array(new)
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        for j in range(len(centres)):
            if (labels == j).any():
                centres[j] = x[labels == j].mean(axis=0)
    return centres, labels


def test_kmeans_matches_sklearn_lloyd_from_the_same_start(rng):
    """From the same start centres, does our Lloyd reach sklearn's centres, labels and inertia?"""
    x = _blobs(rng)
    init = x[rng.choice(len(x), 4, replace=False)]
    ours = kmeans(x, 4, init=init)
    ref = KMeans(4, init=init, n_init=1, algorithm="lloyd", tol=0.0, max_iter=300).fit(x)
    np.testing.assert_allclose(ours.centres, ref.cluster_centers_, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(ours.labels, ref.labels_)
    assert ours.inertia == pytest.approx(ref.inertia_, rel=1e-10)
    slow_c, slow_l = _slow_lloyd(x, init)
    np.testing.assert_allclose(ours.centres, slow_c, rtol=1e-12)
    np.testing.assert_array_equal(ours.labels, slow_l)


def test_kmeans_plus_plus_finds_the_blobs(rng):
    """Does the seeded k-means++ start find sklearn's best inertia on well separated blobs?"""
    x = _blobs(rng)
    ours = kmeans(x, 4, seed=3)
    ref = KMeans(4, n_init=10, random_state=0).fit(x)
    assert ours.inertia == pytest.approx(ref.inertia_, rel=1e-9)
    assert ours.labels.dtype == np.int64 and ours.n_iter >= 1
    again = kmeans(x, 4, seed=3)
    np.testing.assert_array_equal(again.centres, ours.centres)


def test_kmeans_keeps_an_empty_cluster_in_place():
    """Does a centre that attracts no point stay where it was (documented behaviour)?"""
    x = np.array([[0.0, 0], [0, 1], [1, 0]])
    init = np.array([[0.0, 0.0], [100.0, 100.0]])
    res = kmeans(x, 2, init=init)
    np.testing.assert_array_equal(res.centres[1], [100.0, 100.0])
    np.testing.assert_allclose(res.centres[0], x.mean(axis=0))


def test_squared_distances_and_hard_assign_match_loops(rng):
    """Are the distances and one-hot codes those of a double loop (ties to the lower index)?"""
    x, c = rng.normal(size=(7, 3)), rng.normal(size=(4, 3))
    slow = np.array([[np.sum((xi - ck) ** 2) for ck in c] for xi in x])
    np.testing.assert_allclose(squared_distances(x, c), slow, rtol=1e-12)
    codes = hard_assign(x, c)
    assert codes.shape == (7, 4) and (codes.sum(axis=1) == 1).all()
    np.testing.assert_array_equal(codes.argmax(axis=1), slow.argmin(axis=1))
    tie = hard_assign(np.array([[0.0, 0.0]]), np.array([[1.0, 0.0], [-1.0, 0.0]]))
    np.testing.assert_array_equal(tie, [[1.0, 0.0]])


def test_soft_assign_is_a_gaussian_softmax_and_tends_to_hard(rng):
    """Are soft codes exp(-beta d^2) normalized, stable for huge beta, and hard in the limit?"""
    x, c = rng.normal(size=(6, 2)), rng.normal(size=(3, 2))
    d2 = np.array([[np.sum((xi - ck) ** 2) for ck in c] for xi in x])
    ref = np.exp(-0.7 * d2) / np.exp(-0.7 * d2).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(soft_assign(x, c, beta=0.7), ref, rtol=1e-12)
    sharp = soft_assign(x * 100, c * 100, beta=1e3)          # exp would underflow without the shift
    assert np.isfinite(sharp).all()
    np.testing.assert_allclose(sharp, hard_assign(x, c), atol=1e-12)


def test_pooling_histograms_and_normalization():
    """Do sum/max pooling count and flag the words, and does normalize make the histogram sum to 1?"""
    c = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = np.array([[0.1, 0.0], [0.2, 0.1], [9.0, 0.0]])
    np.testing.assert_array_equal(pool_codes(hard_assign(x, c)), [2, 1, 0])
    np.testing.assert_array_equal(pool_codes(hard_assign(x, c), pooling="max"), [1, 1, 0])
    np.testing.assert_allclose(bow_histogram(x, c), [2 / 3, 1 / 3, 0])
    np.testing.assert_array_equal(bow_histogram(x, c, normalize=False), [2, 1, 0])
    soft = bow_histogram(x, c, assignment="soft", beta=0.01)
    assert soft.sum() == pytest.approx(1.0) and (soft > 0).all()
    np.testing.assert_array_equal(pool_codes(np.zeros((0, 3))), [0, 0, 0])


def test_spatial_pyramid_matches_a_cell_by_cell_loop(rng):
    """Is every level's cell histogram what a loop over descriptors puts in that cell?"""
    c = rng.normal(size=(5, 2))
    x = rng.normal(size=(60, 2))
    pos = np.column_stack([rng.uniform(0, 30, 60), rng.uniform(0, 20, 60)])   # (row, col), H=30, W=20
    out = spatial_pyramid_histogram(x, pos, c, (30, 20), levels=(1, 2, 3), normalize=False)
    assert out.shape == (5 * (1 + 4 + 9),)
    words = hard_assign(x, c).argmax(axis=1)
    slow = []
    for lv in (1, 2, 3):
        for r in range(lv):
            for col in range(lv):
                h = np.zeros(5)
                for n in range(60):
                    if r * 30 / lv <= pos[n, 0] < (r + 1) * 30 / lv and col * 20 / lv <= pos[n, 1] < (col + 1) * 20 / lv:
                        h[words[n]] += 1
                slow.append(h)
    np.testing.assert_array_equal(out, np.concatenate(slow))
    np.testing.assert_array_equal(out[:5], bow_histogram(x, c, normalize=False))   # level 1 = plain BoW
    norm = spatial_pyramid_histogram(x, pos, c, (30, 20), levels=(1, 2, 3))
    assert norm.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(norm[:5].sum(), 1 / 3)


def test_errors_name_the_argument(rng):
    """Do bad arguments raise errors that name the argument and say what was expected?"""
    x, c = rng.normal(size=(5, 2)), rng.normal(size=(3, 2))
    with pytest.raises(ValueError, match="`x` expected shape \\(N, 3\\)"):
        squared_distances(x, rng.normal(size=(3, 3)))
    with pytest.raises(ValueError, match="`k`"):
        kmeans(x, 6)
    with pytest.raises(ValueError, match="`init`"):
        kmeans(x, 2, init=c)
    with pytest.raises(ValueError, match="`init`"):
        kmeans(x, 2, init="random")
    with pytest.raises(ValueError, match="`beta`"):
        soft_assign(x, c, beta=0)
    with pytest.raises(ValueError, match="`pooling`"):
        bow_histogram(x, c, pooling="mean")
    with pytest.raises(ValueError, match="`assignment`"):
        bow_histogram(x, c, assignment="fuzzy")
    with pytest.raises(ValueError, match="`positions`"):
        spatial_pyramid_histogram(x, np.zeros((4, 2)), c, 10)
    with pytest.raises(ValueError, match="`positions`"):
        spatial_pyramid_histogram(x, np.full((5, 2), 10.0), c, 10)
    with pytest.raises(ValueError, match="`levels`"):
        spatial_pyramid_histogram(x, np.zeros((5, 2)), c, 10, levels=(0,))
    with pytest.raises(TypeError, match="`x`"):
        hard_assign("abc", c)
