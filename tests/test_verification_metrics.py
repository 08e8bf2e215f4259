"""ROC/AUC against scikit-learn; LFW 10-fold accuracy, TAR@FAR and EER against references here."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import sklearn.metrics as skm
import torch
from scipy.interpolate import interp1d
from scipy.optimize import brentq

from cnncourse.verification import (
    UndefinedMetricWarning,
    equal_error_rate,
    roc_auc_score,
    roc_curve,
    tar_at_far,
    verification_accuracy,
)


def _random_case(rng, n=200, ties=True):
    labels = rng.integers(0, 2, size=n)
    scores = rng.normal(size=n) + labels
    if ties:
        scores = np.round(scores, 1)  # many tied scores, across both classes
    return labels, scores


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("drop", [True, False])
def test_roc_curve_equals_sklearn(seed, drop):
    """Same points and thresholds as sklearn.metrics.roc_curve, with ties, numpy and torch inputs."""
    labels, scores = _random_case(np.random.default_rng(seed), n=30 + 40 * seed, ties=seed % 2 == 0)
    ref = skm.roc_curve(labels, scores, drop_intermediate=drop)
    ours = roc_curve(labels, scores, drop_intermediate=drop)
    for a, b in zip(ours, ref):
        assert isinstance(a, np.ndarray)
        np.testing.assert_array_equal(a, b)
    t_ours = roc_curve(torch.tensor(labels), torch.tensor(scores, dtype=torch.float32), drop_intermediate=drop)
    ref32 = skm.roc_curve(labels, scores.astype(np.float32), drop_intermediate=drop)
    for a, b in zip(t_ours, ref32):
        assert isinstance(a, torch.Tensor)
        np.testing.assert_array_equal(a.numpy().astype(np.float64), b)


@pytest.mark.parametrize("seed", range(6))
def test_auc_equals_sklearn(seed):
    """AUC (with ties counting 1/2) equals sklearn.metrics.roc_auc_score."""
    labels, scores = _random_case(np.random.default_rng(seed), ties=seed % 2 == 0)
    assert roc_auc_score(labels, scores) == pytest.approx(skm.roc_auc_score(labels, scores), abs=1e-12)
    assert roc_auc_score(torch.tensor(labels), torch.tensor(scores)) == pytest.approx(
        skm.roc_auc_score(labels, scores), abs=1e-12)


def test_degenerate_cases_warn_and_return_nan():
    """One class only (or empty input): UndefinedMetricWarning and NaN, as scikit-learn."""
    with pytest.warns(UndefinedMetricWarning, match="no impostor pairs"):
        fpr, tpr, thr = roc_curve(np.array([1, 1]), np.array([0.2, 0.1]))
    assert np.isnan(fpr).all() and np.array_equal(tpr, [0, 0.5, 1])
    with pytest.warns(UndefinedMetricWarning, match="only one class"):
        assert np.isnan(roc_auc_score(np.array([0, 0]), np.array([0.2, 0.1])))
    with pytest.warns(UndefinedMetricWarning):
        fpr, tpr, thr = roc_curve(np.zeros(0, dtype=int), np.zeros(0))
    assert thr.tolist() == [np.inf] and np.isnan(fpr).all() and np.isnan(tpr).all()
    with pytest.warns(UndefinedMetricWarning, match="no genuine pairs"):
        assert np.isnan(tar_at_far(np.array([0, 0]), np.array([0.2, 0.1]), 0.1))
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(equal_error_rate(np.array([1]), np.array([0.3])))


def _ten_fold_loop(labels, scores, n_folds):
    """Slow reference of the LFW protocol: try every midpoint threshold on the 9 training folds."""
    n = len(labels)
    bounds = np.cumsum([0] + [n // n_folds + (k < n % n_folds) for k in range(n_folds)])
    accs, ths = [], []
    for k in range(n_folds):
        test = np.zeros(n, bool)
        test[bounds[k]:bounds[k + 1]] = True
        s, y = scores[~test], labels[~test]
        distinct = sorted(set(s.tolist()), reverse=True)
        candidates = [np.inf] + [(a + b) / 2 for a, b in zip(distinct, distinct[1:])] + [distinct[-1]]
        best_t, best_acc = None, -1.0
        for t in candidates:  # in decreasing order: ties keep the highest threshold
            acc = np.mean((s >= t) == y)
            if acc > best_acc:
                best_t, best_acc = t, acc
        accs.append(np.mean((scores[test] >= best_t) == labels[test]))
        ths.append(best_t)
    return np.mean(accs), np.std(accs), np.array(accs), np.array(ths)


@pytest.mark.parametrize("seed,n,n_folds", [(0, 600, 10), (1, 203, 10), (2, 97, 5), (3, 40, 2)])
def test_ten_fold_accuracy_equals_loop_reference(seed, n, n_folds):
    """Does each fold's threshold come from the other folds only, and the accuracy match the loop?"""
    labels, scores = _random_case(np.random.default_rng(seed), n=n, ties=seed % 2 == 1)
    res = verification_accuracy(labels, scores, n_folds=n_folds)
    ref = _ten_fold_loop(labels, scores, n_folds)
    assert res.accuracy == pytest.approx(ref[0], abs=1e-12) and res.std == pytest.approx(ref[1], abs=1e-12)
    np.testing.assert_allclose(res.fold_accuracies, ref[2], atol=1e-12)
    np.testing.assert_allclose(res.thresholds, ref[3], atol=1e-12)


def test_ten_fold_uses_held_out_threshold():
    """A threshold fitted on the training folds can be wrong on the test fold: hand-built case."""
    # fold 0 = pairs 0..1, fold 1 = pairs 2..3. Training on fold 1 (genuine 0.9, impostor 0.1)
    # gives t = 0.5, which misclassifies fold 0's genuine 0.4 -> fold 0 accuracy 0.5.
    labels = np.array([1, 0, 1, 0])
    scores = np.array([0.4, 0.2, 0.9, 0.1])
    res = verification_accuracy(labels, scores, n_folds=2)
    np.testing.assert_allclose(res.thresholds, [0.5, 0.3], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(res.fold_accuracies, [0.5, 1.0])
    assert res.accuracy == 0.75
    explicit = verification_accuracy(labels, scores, folds=np.array([0, 0, 1, 1]))
    np.testing.assert_array_equal(explicit.fold_accuracies, res.fold_accuracies)


def _tar_at_far_loop(labels, scores, far):
    gen, imp = scores[labels == 1], scores[labels == 0]
    best_tar, best_t = 0.0, np.inf
    for t in sorted(set(scores.tolist())):
        if np.mean(imp >= t) <= far:
            if np.mean(gen >= t) > best_tar or best_t == np.inf:
                best_tar, best_t = np.mean(gen >= t), t
            break  # the lowest admissible threshold gives the highest TAR
    return best_tar, best_t


def test_tar_at_far_hand_built():
    """Ten impostors at 0.0..0.9 and genuine scores: hand-computed TAR at FAR 0, 0.1, 0.25, 1."""
    imp = np.arange(10) / 10
    gen = np.array([0.95, 0.85, 0.75, 0.55, 0.05])
    labels = np.r_[np.zeros(10, int), np.ones(5, int)]
    scores = np.r_[imp, gen]
    # FAR <= 0: t = 0.95 (0.9 is an impostor) -> TAR 1/5; FAR <= 0.1: one impostor (0.9) may pass,
    # so t drops to 0.85 -> 2/5; FAR <= 0.25: two (0.9, 0.8) -> t = 0.75 -> 3/5; FAR <= 1: t = 0.0 -> 1.
    tar, t = tar_at_far(labels, scores, [0.0, 0.1, 0.25, 1.0], return_threshold=True)
    np.testing.assert_allclose(tar, [0.2, 0.4, 0.6, 1.0])
    np.testing.assert_array_equal(t, [0.95, 0.85, 0.75, 0.0])
    assert tar_at_far(labels, scores, 0.25) == pytest.approx(0.6)


@pytest.mark.parametrize("seed", range(4))
def test_tar_at_far_equals_loop(seed):
    labels, scores = _random_case(np.random.default_rng(seed), n=150, ties=seed % 2 == 0)
    for far in (0.0, 0.01, 0.1, 0.5):
        tar, t = tar_at_far(torch.tensor(labels), torch.tensor(scores), far, return_threshold=True)
        ref_tar, ref_t = _tar_at_far_loop(labels, scores, far)
        assert tar == pytest.approx(ref_tar) and t == ref_t


def test_eer_hand_built():
    """Separable scores give 0; the interleaved example gives 0.5; a half-step case interpolates."""
    assert equal_error_rate(np.array([1, 1, 0, 0]), np.array([0.9, 0.8, 0.3, 0.1])) == 0.0
    eer, t = equal_error_rate(np.array([1, 0, 1, 0]), np.array([0.9, 0.6, 0.4, 0.1]), return_threshold=True)
    assert (eer, t) == (0.5, 0.6)
    # genuine 0.8, 0.2; impostors 0.5, 0.5 (tied): ROC (0,0) (0,.5) (1,.5) (1,1); the diagonal
    # segment is horizontal at TAR 0.5, so FAR = 1 - 0.5 = 0.5 there.
    assert equal_error_rate(np.array([1, 0, 0, 1]), np.array([0.8, 0.5, 0.5, 0.2])) == 0.5
    # one genuine 0.6, impostors 0.7, 0.5, 0.4: ROC (0,0) (1/3,0) (1/3,1) ...: crossing on the
    # vertical segment at FAR = 1/3.
    assert equal_error_rate(np.array([1, 0, 0, 0]), np.array([0.6, 0.7, 0.5, 0.4])) == pytest.approx(1 / 3)


@pytest.mark.parametrize("seed", range(4))
def test_eer_equals_facenet_brentq(seed):
    """The FaceNet script's brentq on interp1d(fpr, tpr) finds the same crossing (no ties)."""
    labels, scores = _random_case(np.random.default_rng(seed), n=300, ties=False)
    fpr, tpr, _ = skm.roc_curve(labels, scores, drop_intermediate=False)
    ref = brentq(lambda x: 1.0 - x - interp1d(fpr, tpr)(x), 0.0, 1.0, xtol=1e-12)
    assert equal_error_rate(labels, scores) == pytest.approx(ref, abs=1e-9)


def test_bad_input():
    """Wrong shapes, mismatched lengths, NaN scores, non-binary labels: ValueError naming the argument."""
    with pytest.raises(ValueError, match=r"`scores` expected shape \(n_samples,\), got \(3, 2\)"):
        roc_curve(np.ones(3), np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"`labels` expected length 3 \(as `scores`\), got length 2"):
        roc_auc_score(np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match=r"`scores` expected finite values, got 1 NaN and 0 infinite"):
        equal_error_rate(np.array([0, 1]), np.array([np.nan, 1.0]))
    with pytest.raises(ValueError, match=r"`labels` expected binary values in \{0, 1\}"):
        tar_at_far(np.array([0, 2]), np.array([0.1, 0.2]), 0.1)
    with pytest.raises(ValueError, match=r"`far` expected a rate in \[0, 1\]"):
        tar_at_far(np.array([0, 1]), np.array([0.1, 0.2]), 1.5)
    with pytest.raises(ValueError, match=r"`scores` expected at least n_folds=10 samples, got 4 samples"):
        verification_accuracy(np.array([0, 1, 0, 1]), np.ones(4))
    with pytest.raises(ValueError, match=r"`folds` expected at least 2 distinct fold ids"):
        verification_accuracy(np.array([0, 1]), np.ones(2), folds=np.zeros(2, int))
    with pytest.raises(TypeError, match=r"`scores` expected a torch.Tensor or numpy.ndarray"):
        roc_curve([0, 1], "ab")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a well-defined case emits no warning
        roc_curve([0, 1], [0.1, 0.2])
