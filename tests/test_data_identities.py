"""IdentityDataset: open-set splits, determinism, per-sample variation and LFW-like pairs."""

from __future__ import annotations

import numpy as np
import pytest

from cnncourse.data import IdentityDataset


@pytest.fixture(scope="module")
def train():
    return IdentityDataset("train", num_identities=30, samples_per_identity=6, seed=0)


def test_samples_have_the_documented_shapes_dtypes_and_labels(train):
    """Are images (N, 3, H, W) float32 in [0, 1] with labels = identity index in the split?"""
    images, labels = train.batch(np.arange(len(train)))
    assert images.shape == (180, 3, 32, 32) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0 and images.std() > 0.1
    np.testing.assert_array_equal(labels, np.repeat(np.arange(30), 6))
    np.testing.assert_array_equal(train.labels, labels)
    image, label = train[13]
    assert label == 2 and image.tobytes() == images[13].tobytes()
    with pytest.raises(IndexError, match="out of range"):
        train[180]


def test_same_seed_same_bytes_and_random_access(train):
    """Does a second dataset with the same seed render identical bytes, in any batch order?"""
    again = IdentityDataset("train", num_identities=30, samples_per_identity=6, seed=0)
    a, _ = train.batch(np.arange(60))
    b, _ = again.batch(np.arange(59, -1, -1))
    assert a.tobytes() == b[::-1].tobytes()
    c, _ = IdentityDataset("train", num_identities=30, samples_per_identity=6, seed=1).batch(np.arange(60))
    assert not np.array_equal(a, c)


def test_splits_have_disjoint_identities(train):
    """Are test identities never training identities (ids, glyph parameters and images differ)?"""
    test = IdentityDataset("test", num_identities=30, samples_per_identity=6, seed=0)
    val = IdentityDataset("val", num_identities=30, samples_per_identity=6, seed=0)
    assert not set(train.identity_ids) & set(test.identity_ids)
    assert not set(train.identity_ids) & set(val.identity_ids)
    # No glyph of one split is a glyph of the other (the parameters define an identity).
    d = np.abs(train._id_params[:, None] - test._id_params[None]).max(-1)
    assert d.min() > 0.05
    # Growing the training split does not change or absorb the test identities.
    bigger = IdentityDataset("train", num_identities=60, samples_per_identity=6, seed=0)
    np.testing.assert_array_equal(bigger._id_params[:30], train._id_params)
    t1, _ = test.batch(np.arange(12))
    train_images = {img.tobytes() for img in bigger.batch(np.arange(360))[0]}
    assert not any(img.tobytes() in train_images for img in t1)


def test_samples_of_an_identity_vary_but_stay_closer_than_other_identities(train):
    """Do nuisances change every sample while identity still dominates the pixel distance?"""
    images, labels = train.batch(np.arange(len(train)))
    x = images.reshape(len(images), -1).astype(np.float64)
    sq = (x * x).sum(1)
    d = sq[:, None] + sq[None] - 2 * x @ x.T  # squared Euclidean distances, (N, N)
    same = labels[:, None] == labels[None]
    off_diag = ~np.eye(len(x), dtype=bool)
    assert d[same & off_diag].min() > 1.0  # no two samples are (nearly) the same image
    assert d[same & off_diag].mean() < 0.9 * d[~same].mean()


def test_occlusion_probability_is_honoured():
    """With occlusion=1 does every sample get a uniform patch, and none with occlusion=0?"""
    kw = dict(num_identities=4, samples_per_identity=5, noise=0.0, seed=3)
    on, _ = IdentityDataset(occlusion=1.0, **kw).batch(np.arange(20))
    off, _ = IdentityDataset(occlusion=0.0, **kw).batch(np.arange(20))
    changed = np.any(on != off, axis=1)  # (N, H, W) pixels where the patch was painted
    assert changed.reshape(20, -1).any(1).all()
    for img, m in zip(on, changed):  # a patch is one grey level on all three channels
        px = img[:, m]
        assert np.ptp(px) < 1e-6


def test_make_pairs_is_balanced_distinct_and_fold_disjoint():
    """Are pairs half same/half different, correctly flagged, distinct, with folds not sharing ids?"""
    test = IdentityDataset("test", num_identities=40, samples_per_identity=5, seed=0)
    pairs, same, folds = test.make_pairs(40, num_folds=4, seed=2)
    assert pairs.shape == (160, 2) and pairs.dtype == np.int64
    labels = test.labels
    np.testing.assert_array_equal(same, labels[pairs[:, 0]] == labels[pairs[:, 1]])
    assert (pairs[:, 0] != pairs[:, 1]).all()
    for f in range(4):
        in_fold = folds == f
        assert in_fold.sum() == 40 and same[in_fold].sum() == 20
        assert len({tuple(p) for p in pairs[in_fold]}) == 40
        ids_f = set(labels[pairs[in_fold]].ravel())
        ids_other = set(labels[pairs[~in_fold]].ravel())
        assert not ids_f & ids_other
    again = test.make_pairs(40, num_folds=4, seed=2)
    np.testing.assert_array_equal(again[0], pairs)


def test_invalid_arguments_name_the_argument():
    """Do bad arguments raise errors naming the argument?"""
    with pytest.raises(ValueError, match="`split` expected 'train', 'val' or 'test'"):
        IdentityDataset("dev")
    with pytest.raises(ValueError, match="`pairs_per_fold` expected an even number"):
        IdentityDataset(num_identities=4).make_pairs(5)
    with pytest.raises(ValueError, match="`samples_per_identity` expected at least 2"):
        IdentityDataset(num_identities=4, samples_per_identity=1).make_pairs(4)
    with pytest.raises(ValueError, match="`num_folds` expected at most 2"):
        IdentityDataset(num_identities=4).make_pairs(4, num_folds=3)
    with pytest.raises(ValueError, match="`pairs_per_fold` expected at most"):
        IdentityDataset(num_identities=2, samples_per_identity=2).make_pairs(10)
