"""Confusion matrix, IoU and Dice against scikit-learn; the absent-class convention."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix as sk_confusion_matrix
from sklearn.metrics import f1_score, jaccard_score

from cnncourse.segmentation import (confusion_matrix, dice_per_class, iou_per_class, mean_dice, mean_iou,
                                    segmentation_scores)


def _sk(target, pred, k, fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(target.ravel(), pred.ravel(), labels=list(range(k)), average=None, zero_division=0)


def test_confusion_matrix_matches_sklearn(rng):
    """Is cm[i, j] the count of true i predicted j, as sklearn.metrics.confusion_matrix?"""
    t, p = rng.integers(0, 5, (3, 8, 8)), rng.integers(0, 5, (3, 8, 8))
    np.testing.assert_array_equal(confusion_matrix(t, p, 5), sk_confusion_matrix(t.ravel(), p.ravel(),
                                                                               labels=range(5)))
    assert confusion_matrix(torch.from_numpy(t), torch.from_numpy(p), 5).sum() == t.size


def test_iou_and_dice_match_sklearn_with_absent_classes(rng):
    """Per-class IoU/Dice equal jaccard_score/f1_score where defined; absent classes are NaN (sklearn: 0)
    and left out of the means."""
    for trial in range(10):
        t = rng.integers(0, 3, (16, 16))         # classes 3 and 4 never in the target
        p = rng.integers(0, 4, (16, 16))         # class 3 predicted (false positives only)
        cm = confusion_matrix(t, p, 5)
        iou, dice = iou_per_class(cm), dice_per_class(cm)
        sk_iou, sk_dice = _sk(t, p, 5, jaccard_score), _sk(t, p, 5, f1_score)
        np.testing.assert_allclose(iou[:4], sk_iou[:4])
        np.testing.assert_allclose(dice[:4], sk_dice[:4])
        assert sk_iou[4] == 0 and sk_dice[4] == 0               # sklearn's zero_division=0 value
        assert np.isnan(iou[4]) and np.isnan(dice[4])             # absent from both: undefined
        assert iou[3] == 0.0                                      # only predicted: counts as 0
        assert np.isclose(mean_iou(cm), iou[:4].mean())           # class 4 left out of the mean
        assert np.isclose(mean_dice(cm), dice[:4].mean())
        np.testing.assert_allclose(dice[:4], 2 * iou[:4] / (1 + iou[:4]))


def test_ignore_index_and_scores_dict():
    """Are ignored target pixels left uncounted, and does the scores dict agree with its parts?"""
    t = np.array([[0, 1, 255], [1, 1, 255]])
    p = np.array([[0, 1, 0], [0, 1, 1]])
    cm = confusion_matrix(t, p, 2, ignore_index=255)
    np.testing.assert_array_equal(cm, [[1, 0], [1, 2]])
    s = segmentation_scores(t, p, 2, ignore_index=255)
    assert np.isclose(s["mean_iou"], np.mean([1 / 2, 2 / 3])) and np.isclose(s["pixel_accuracy"], 3 / 4)


def test_empty_and_perfect():
    """Perfect prediction -> IoU 1 for present classes; nothing counted -> NaN mean."""
    t = np.array([[0, 0, 2]])
    assert mean_iou(confusion_matrix(t, t, 3)) == 1.0
    empty = np.zeros((3, 3), int)
    assert np.isnan(mean_iou(empty)) and np.isnan(mean_dice(empty))


def test_metric_errors(rng):
    """Are bad shapes, labels and matrices rejected with the argument's name?"""
    t = rng.integers(0, 3, (4, 4))
    with pytest.raises(ValueError, match="`pred`"):
        confusion_matrix(t, t[:2], 3)
    with pytest.raises(ValueError, match="`target`"):
        confusion_matrix(t + 3, t, 3)
    with pytest.raises(ValueError, match="`pred`"):
        confusion_matrix(t, t.astype(float), 3)
    with pytest.raises(ValueError, match="`cm`"):
        iou_per_class(np.ones((2, 3)))
