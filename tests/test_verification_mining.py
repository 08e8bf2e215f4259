"""Batch-all and batch-hard triplet mining against loop references kept here."""

from __future__ import annotations

import math

import pytest
import torch

from cnncourse.verification import batch_all_triplet_loss, batch_hard_triplet_loss, triplet_kinds


def _dist(e, i, j, squared):
    d2 = sum((u - v) ** 2 for u, v in zip(e[i], e[j]))
    return d2 if squared else math.sqrt(d2)


def _batch_all_loop(emb, labels, margin, squared, reduction):
    e, y = emb.tolist(), labels.tolist()
    losses = []
    for a in range(len(e)):
        for p in range(len(e)):
            for n in range(len(e)):
                if a != p and y[a] == y[p] and y[n] != y[a]:
                    losses.append(max(0.0, _dist(e, a, p, squared) - _dist(e, a, n, squared) + margin))
    if reduction == "sum":
        return sum(losses)
    if reduction == "mean_positive":
        losses = [v for v in losses if v > 0]
    return sum(losses) / len(losses) if losses else 0.0


def _batch_hard_loop(emb, labels, margin, squared, soft, reduction):
    e, y = emb.tolist(), labels.tolist()
    losses = []
    for a in range(len(e)):
        pos = [_dist(e, a, p, squared) for p in range(len(e)) if p != a and y[p] == y[a]]
        neg = [_dist(e, a, n, squared) for n in range(len(e)) if y[n] != y[a]]
        if pos and neg:
            gap = max(pos) - min(neg)
            losses.append(math.log1p(math.exp(gap)) if soft else max(0.0, gap + margin))
    if reduction == "sum":
        return sum(losses)
    return sum(losses) / len(losses) if losses else 0.0


@pytest.fixture
def batch(rng):
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 3, 4])  # identities 3 and 4 are singletons
    emb = torch.tensor(rng.normal(size=(10, 3)) * 0.5)
    return emb, labels


@pytest.mark.parametrize("squared", [True, False])
@pytest.mark.parametrize("reduction", ["mean", "mean_positive", "sum"])
def test_batch_all_matches_loop(batch, squared, reduction):
    """Does batch-all average the hinge over exactly the valid triplets the loop enumerates?"""
    emb, labels = batch
    out = batch_all_triplet_loss(emb, labels, margin=0.5, squared=squared, reduction=reduction)
    assert float(out) == pytest.approx(_batch_all_loop(emb, labels, 0.5, squared, reduction), rel=1e-12)


@pytest.mark.parametrize("squared", [True, False])
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_batch_hard_matches_loop(batch, squared, soft, reduction):
    """Does batch-hard pick each anchor's farthest positive and closest negative, skipping singletons?"""
    emb, labels = batch
    out = batch_hard_triplet_loss(emb, labels, margin=0.3, squared=squared, soft=soft, reduction=reduction)
    ref = _batch_hard_loop(emb, labels, 0.3, squared, soft, reduction)
    assert float(out) == pytest.approx(ref, rel=1e-12)


def test_gradcheck(batch):
    """Are the gradients right (float64 gradcheck; hard selection is piecewise smooth)?"""
    emb, labels = batch
    emb = emb.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda e: batch_all_triplet_loss(e, labels, margin=0.5), (emb,))
    assert torch.autograd.gradcheck(lambda e: batch_hard_triplet_loss(e, labels, margin=0.3, squared=False),
                                    (emb,))
    assert torch.autograd.gradcheck(lambda e: batch_hard_triplet_loss(e, labels, soft=True), (emb,))


@pytest.mark.parametrize("labels", [[0, 0, 0], [0, 1, 2], []])
def test_no_valid_triplet_gives_zero_connected_to_graph(labels):
    """One identity, singletons only, or an empty batch: loss 0 whose backward gives zero gradients."""
    emb = torch.randn(len(labels), 4, dtype=torch.float64, requires_grad=True)
    for fn in (batch_all_triplet_loss, batch_hard_triplet_loss):
        loss = fn(emb, torch.tensor(labels, dtype=torch.long))
        assert loss.shape == () and float(loss.detach()) == 0.0
        loss.backward()
        assert torch.equal(emb.grad, torch.zeros_like(emb))
        emb.grad = None


def test_errors(batch):
    """Mismatched labels, float labels and unknown reductions raise ValueError naming the argument."""
    emb, labels = batch
    with pytest.raises(ValueError, match=r"`labels` expected length 10 \(one label per sample\), got length 9"):
        batch_all_triplet_loss(emb, labels[:9])
    with pytest.raises(ValueError, match=r"`labels` expected an integer or bool tensor"):
        batch_hard_triplet_loss(emb, labels.double())
    with pytest.raises(ValueError, match=r"`reduction` expected 'mean' or 'sum', got 'none'"):
        batch_hard_triplet_loss(emb, labels, reduction="none")
    with pytest.raises(ValueError, match=r"`embeddings` expected shape \(N, D\), got \(10,\)"):
        batch_all_triplet_loss(emb[:, 0], labels)


@pytest.mark.parametrize("squared", [True, False])
def test_triplet_kinds_match_loop(batch, squared):
    """Is every valid triplet labelled easy / semi-hard / hard exactly as FaceNet's inequalities say?"""
    emb, labels = batch
    kinds = triplet_kinds(emb, labels, margin=0.5, squared=squared)
    e, y = emb.tolist(), labels.tolist()
    n = len(e)
    for a in range(n):
        for p in range(n):
            for q in range(n):
                got = [name for name, m in kinds.items() if bool(m[a, p, q])]
                if not (a != p and y[a] == y[p] and y[q] != y[a]):
                    assert got == []
                    continue
                d_ap, d_an = _dist(e, a, p, squared), _dist(e, a, q, squared)
                want = "hard" if d_an < d_ap else "easy" if d_an >= d_ap + 0.5 else "semi-hard"
                assert got == [want], (a, p, q, d_ap, d_an)
    # easy triplets are exactly those with zero batch-all loss
    total = sum(int(m.sum()) for m in kinds.values())
    positive = float(batch_all_triplet_loss(emb, labels, margin=0.5, squared=squared, reduction="sum")) > 0
    assert total > int(kinds["easy"].sum()) and positive
