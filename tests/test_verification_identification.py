"""CMC curve and rank-k accuracy on hand-built cases and against a loop reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnncourse.verification import (
    UndefinedMetricWarning,
    cmc_curve,
    format_rank_table,
    match_ranks,
    rank_accuracy,
)


def _ranks_loop(scores, q, g, largest):
    out = []
    for i in range(scores.shape[0]):
        order = sorted(range(scores.shape[1]), key=lambda j: (-scores[i, j] if largest else scores[i, j], j))
        hits = [r + 1 for r, j in enumerate(order) if g[j] == q[i]]
        out.append(hits[0] if hits else 0)
    return np.array(out)


def test_hand_built_cmc():
    """Queries matched at ranks 1, 3, 2 and 1 give CMC 0.5, 0.75, 1.0."""
    gallery = np.array([10, 20, 30])
    queries = np.array([10, 20, 30, 30])
    scores = np.array([[0.9, 0.1, 0.2],    # 10 best -> rank 1
                       [0.5, 0.1, 0.3],    # 20 last -> rank 3
                       [0.8, 0.0, 0.6],    # 30 second -> rank 2
                       [0.1, 0.2, 0.7]])   # 30 best -> rank 1
    np.testing.assert_array_equal(match_ranks(scores, queries, gallery), [1, 3, 2, 1])
    np.testing.assert_allclose(cmc_curve(scores, queries, gallery), [0.5, 0.75, 1.0])
    # the same numbers as distances: lower is better
    np.testing.assert_allclose(cmc_curve(1 - scores, queries, gallery, largest=False), [0.5, 0.75, 1.0])
    assert rank_accuracy(scores, queries, gallery, ranks=(1, 2, 5)) == {1: 0.5, 2: 0.75, 5: 1.0}


def test_ties_follow_gallery_order_and_multiple_matches():
    """A tie is broken by gallery order; with several true matches the first one counts."""
    scores = torch.tensor([[0.5, 0.5, 0.5, 0.1]])
    assert match_ranks(scores, torch.tensor([7]), torch.tensor([1, 7, 7, 7])).tolist() == [2]
    assert match_ranks(scores, torch.tensor([1]), torch.tensor([1, 7, 7, 7])).tolist() == [1]


@pytest.mark.parametrize("largest", [True, False])
def test_matches_loop_reference(rng, largest):
    """Random scores with ties and repeated identities: ranks and CMC equal the loop reference."""
    scores = np.round(rng.normal(size=(40, 25)), 1)
    gallery = rng.integers(0, 12, size=25)
    queries = rng.choice(np.unique(gallery), size=40)
    ref = _ranks_loop(scores, queries, gallery, largest)
    np.testing.assert_array_equal(match_ranks(torch.tensor(scores), torch.tensor(queries),
                                              torch.tensor(gallery), largest=largest).numpy(), ref)
    cmc = cmc_curve(scores, queries, gallery, max_rank=30, largest=largest)
    np.testing.assert_allclose(cmc, [(ref <= k).mean() for k in range(1, 31)])
    assert np.all(np.diff(cmc) >= 0) and cmc[-1] == 1.0


def test_queries_without_match_are_left_out_with_warning():
    """Open-set queries (identity not in gallery) are excluded and reported; none valid -> NaN."""
    scores = np.array([[0.9, 0.1], [0.2, 0.8]])
    with pytest.warns(UndefinedMetricWarning, match="1 of 2 queries have no match"):
        cmc = cmc_curve(scores, np.array([1, 99]), np.array([1, 2]))
    np.testing.assert_array_equal(cmc, [1.0, 1.0])
    with pytest.warns(UndefinedMetricWarning, match="no query can be ranked"):
        assert np.isnan(cmc_curve(np.zeros((0, 3)), np.zeros(0, int), np.arange(3))).all()


def test_rank_table_format():
    """The lecture's 'Method Rank1 Rank5 Rank10 Rank20' layout, in percent."""
    table = format_rank_table({"GAN": {1: 0.642, 5: 0.864, 10: 0.906, 20: 0.969},
                               "SDALF": {1: 0.099, 5: 0.4121, 10: 0.56, 20: 0.6637}})
    assert table.splitlines() == ["Method  Rank1  Rank5  Rank10  Rank20",
                                  "GAN     64.20  86.40  90.60   96.90",
                                  "SDALF   9.90   41.21  56.00   66.37"]


def test_errors():
    """Wrong shapes, mismatched lengths and NaN scores raise ValueError naming the argument."""
    with pytest.raises(ValueError, match=r"`scores` expected shape \(n_queries, n_gallery\), got \(3,\)"):
        cmc_curve(np.ones(3), np.ones(3, int), np.ones(3, int))
    with pytest.raises(ValueError, match=r"`gallery_labels` expected length 3 \(the columns of `scores`\)"):
        cmc_curve(np.ones((2, 3)), np.ones(2, int), np.ones(4, int))
    with pytest.raises(ValueError, match=r"`query_labels` expected length 2 \(the rows of `scores`\)"):
        cmc_curve(np.ones((2, 3)), np.ones(1, int), np.ones(3, int))
    with pytest.raises(ValueError, match=r"`scores` expected finite values, got 1 NaN"):
        cmc_curve(np.array([[np.nan, 1.0]]), np.ones(1, int), np.ones(2, int))
    with pytest.raises(ValueError, match=r"`max_rank` expected an integer >= 1, got 0"):
        cmc_curve(np.ones((1, 2)), np.ones(1, int), np.ones(2, int), max_rank=0)
