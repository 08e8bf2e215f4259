"""Pairwise distance and cosine similarity matrices against loops, torch.cdist and torch F."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from cnncourse.verification import cosine_similarity_matrix, pairwise_distances
from cnncourse.verification import distances as dist_mod


def _loop(x, y, squared):
    out = torch.empty(len(x), len(y), dtype=torch.float64)
    for i, a in enumerate(x.tolist()):
        for j, b in enumerate(y.tolist()):
            d2 = sum((u - v) ** 2 for u, v in zip(a, b))
            out[i, j] = d2 if squared else math.sqrt(d2)
    return out


@pytest.mark.parametrize("path", ["direct", "gram"])
@pytest.mark.parametrize("squared", [False, True])
def test_euclidean_matches_loop_on_both_code_paths(rng, monkeypatch, path, squared):
    """Do the direct-difference and Gram-matrix paths both equal the loop, with an exact zero diagonal?"""
    monkeypatch.setattr(dist_mod, "_DIRECT_MAX_ELEMENTS", 1 << 30 if path == "direct" else 0)
    x = torch.tensor(rng.normal(size=(9, 5)))
    y = torch.tensor(rng.normal(size=(7, 5)))
    torch.testing.assert_close(pairwise_distances(x, y, squared=squared), _loop(x, y, squared))
    within = pairwise_distances(x, squared=squared)
    torch.testing.assert_close(within, _loop(x, x, squared))
    assert torch.equal(torch.diagonal(within), torch.zeros(9, dtype=torch.float64))
    torch.testing.assert_close(pairwise_distances(x, y), torch.cdist(x, y))


def test_cosine(rng):
    """Does the cosine matrix equal F.cosine_similarity pair by pair, and the distance 1 - cos?"""
    x = torch.tensor(rng.normal(size=(6, 4)))
    y = torch.tensor(rng.normal(size=(5, 4)))
    ref = F.cosine_similarity(x[:, None, :], y[None, :, :], dim=-1)
    torch.testing.assert_close(cosine_similarity_matrix(x, y), ref)
    torch.testing.assert_close(pairwise_distances(x, y, metric="cosine"), 1 - ref)
    assert torch.equal(torch.diagonal(pairwise_distances(x, metric="cosine")), torch.zeros(6, dtype=torch.float64))


def test_gradients(rng):
    """gradcheck in float64, and a zero (not NaN) gradient for coincident rows."""
    x = torch.tensor(rng.normal(size=(4, 3)), requires_grad=True)
    y = torch.tensor(rng.normal(size=(3, 3)), requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: pairwise_distances(a, b), (x, y))
    assert torch.autograd.gradcheck(lambda a, b: cosine_similarity_matrix(a, b), (x, y))
    z = torch.ones(3, 2, requires_grad=True)  # all rows identical: every distance is 0
    pairwise_distances(z).sum().backward()
    assert torch.equal(z.grad, torch.zeros(3, 2))


def test_errors_and_empty():
    """Bad shapes or options raise ValueError; empty inputs give empty matrices."""
    with pytest.raises(ValueError, match=r"`y` expected shape \(M, 3\) \(same D as `x`\), got \(2, 4\)"):
        pairwise_distances(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"`metric` expected 'euclidean' or 'cosine', got 'l1'"):
        pairwise_distances(torch.zeros(2, 3), metric="l1")
    with pytest.raises(ValueError, match=r"`squared` expected False with metric='cosine'"):
        pairwise_distances(torch.zeros(2, 3), metric="cosine", squared=True)
    with pytest.raises(ValueError, match=r"`x` expected values without NaN"):
        pairwise_distances(torch.tensor([[float("nan")]]))
    assert pairwise_distances(torch.zeros(0, 3), torch.zeros(4, 3)).shape == (0, 4)
    assert cosine_similarity_matrix(torch.zeros(0, 3)).shape == (0, 0)
