"""Benchmark: cnncourse.verification vs scikit-learn / torch peers, medians of repeated runs.

Single-threaded on both sides. Not a test: prints ``ours  peer  ratio`` (ms) and exits 0; each
row also checks that both sides agree. Run: ``python benchmarks/bench_verification.py``.
"""

from __future__ import annotations

from _bench import compare, header  # first: pins BLAS threads before numpy/torch load

import numpy as np
import sklearn.metrics as skm
import torch

from cnncourse import verification as V

torch.set_num_threads(1)


def _batch_hard_loop(d, labels, margin):
    """Per-anchor Python loop over the distance matrix (the obvious implementation)."""
    losses = []
    for a in range(d.shape[0]):
        pos = (labels == labels[a]) & (torch.arange(d.shape[0]) != a)
        neg = labels != labels[a]
        if pos.any() and neg.any():
            losses.append(torch.relu(d[a][pos].max() - d[a][neg].min() + margin))
    return torch.stack(losses).mean()


def main() -> None:
    rng = np.random.default_rng(0)
    header()
    n = 1_000_000
    labels = rng.integers(0, 2, size=n)
    scores = rng.normal(size=n) + labels
    ts, tl = torch.tensor(scores), torch.tensor(labels)
    for a, b in zip(V.roc_curve(labels, scores), skm.roc_curve(labels, scores)):
        assert np.array_equal(a, b)
    compare(f"roc_curve n={n:,} (torch in) vs sklearn.roc_curve", lambda: V.roc_curve(tl, ts),
         lambda: skm.roc_curve(labels, scores))
    assert abs(V.roc_auc_score(labels, scores) - skm.roc_auc_score(labels, scores)) < 1e-12
    compare(f"roc_auc_score n={n:,} vs sklearn.roc_auc_score", lambda: V.roc_auc_score(tl, ts),
         lambda: skm.roc_auc_score(labels, scores))

    a, p, neg = (torch.randn(4096, 128, requires_grad=True) for _ in range(3))
    peer = torch.nn.TripletMarginLoss(margin=0.3)

    def ours_triplet():
        torch.autograd.grad(V.triplet_loss(a, p, neg, margin=0.3, squared=False, eps=1e-6), (a, p, neg))

    def peer_triplet():
        torch.autograd.grad(peer(a, p, neg), (a, p, neg))

    compare("triplet_loss fwd+bwd 4096x128 vs nn.TripletMarginLoss", ours_triplet, peer_triplet)

    x, y = torch.randn(512, 128), torch.randn(2048, 128)
    compare("pairwise_distances 512x2048x128 (Gram path) vs torch.cdist", lambda: V.pairwise_distances(x, y),
         lambda: torch.cdist(x, y))

    emb = torch.randn(256, 128)
    lab = torch.arange(64).repeat_interleave(4)
    d = V.pairwise_distances(emb)
    assert torch.allclose(V.batch_hard_triplet_loss(emb, lab, squared=False), _batch_hard_loop(d, lab, 0.2))
    compare("batch_hard_triplet_loss N=256 vs per-anchor loop",
         lambda: V.batch_hard_triplet_loss(emb, lab, squared=False),
         lambda: _batch_hard_loop(V.pairwise_distances(emb), lab, 0.2))


if __name__ == "__main__":
    main()
