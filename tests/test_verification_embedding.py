"""The embedding CNN and its triplet training loop: shapes, PK batches, and that training works."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnncourse.data import IdentityDataset
from cnncourse.verification import roc_auc_score
from cnncourse.verification.embedding import EmbeddingNet, embed, pk_batches, train_embedding


def test_embeddings_have_unit_norm_and_the_right_shape():
    """(N, 3, 32, 32) -> (N, D) rows of norm 1."""
    torch.manual_seed(0)
    net = EmbeddingNet(embedding_dim=12, width=4)
    e = net(torch.rand(5, 3, 32, 32))
    assert e.shape == (5, 12)
    torch.testing.assert_close(e.norm(dim=1), torch.ones(5))
    with pytest.raises(ValueError, match="`x`"):
        net(torch.rand(5, 1, 32, 32))


def test_pk_batches_hold_p_identities_times_k_samples():
    """Each batch: P distinct identities, K consecutive indices of each, no repeats."""
    labels = np.repeat(np.arange(10), 5)
    batches = list(pk_batches(labels, identities_per_batch=4, samples_per_identity=3, num_batches=6, seed=1))
    assert len(batches) == 6
    for b in batches:
        assert b.shape == (12,) and len(set(b.tolist())) == 12
        ids = labels[b].reshape(4, 3)
        assert (ids == ids[:, :1]).all() and len(set(ids[:, 0].tolist())) == 4
    again = list(pk_batches(labels, identities_per_batch=4, samples_per_identity=3, num_batches=6, seed=1))
    assert all((a == b).all() for a, b in zip(batches, again))


def test_pk_batches_reject_impossible_requests():
    """Too few identities with K samples, K < 2 or float labels raise ValueError naming the argument."""
    labels = np.array([0, 0, 1, 1, 2])
    with pytest.raises(ValueError, match="`identities_per_batch`"):
        next(pk_batches(labels, identities_per_batch=3, samples_per_identity=2))
    with pytest.raises(ValueError, match="`samples_per_identity`"):
        next(pk_batches(labels, identities_per_batch=2, samples_per_identity=1))
    with pytest.raises(ValueError, match="`labels`"):
        next(pk_batches(labels.astype(float), identities_per_batch=2, samples_per_identity=2))


@pytest.fixture(scope="module")
def small_identities():
    train = IdentityDataset("train", num_identities=40, samples_per_identity=6, image_size=24)
    test = IdentityDataset("test", num_identities=20, samples_per_identity=6, image_size=24)
    xtr, ytr = train.batch(np.arange(len(train)))
    xte, _ = test.batch(np.arange(len(test)))
    pairs, same, _ = test.make_pairs(200)
    return torch.from_numpy(xtr), ytr, torch.from_numpy(xte), pairs, same


def _auc(net, xte, pairs, same):
    e = embed(net, xte)
    return roc_auc_score(same, (e[pairs[:, 0]] * e[pairs[:, 1]]).sum(1))


@pytest.mark.parametrize("mining", ["batch_hard", "batch_all"])
def test_training_lowers_the_loss_and_separates_unseen_identities(small_identities, mining):
    """After 60 steps, is the loss lower and the open-set AUC on unseen identities better than at init?"""
    xtr, ytr, xte, pairs, same = small_identities
    torch.manual_seed(0)
    net = EmbeddingNet(width=8, embedding_dim=16)
    before = _auc(net, xte, pairs, same)
    hist = train_embedding(net, xtr, ytr, steps=60, identities_per_batch=8, samples_per_identity=4,
                           mining=mining, lr=5e-3)
    assert len(hist) == 60 and not net.training
    assert np.mean(hist[-10:]) < 0.7 * np.mean(hist[:10])
    after = _auc(net, xte, pairs, same)
    assert after > max(before + 0.05, 0.8), (before, after)


def test_embed_restores_the_mode_and_follows_the_device(device):
    """embed() returns (N, D) on the model's device and leaves train() mode as it was."""
    net = EmbeddingNet(width=4, embedding_dim=8).to(device)
    net.train()
    e = embed(net, np.random.default_rng(0).random((7, 3, 16, 16), dtype=np.float32), batch_size=3)
    assert e.shape == (7, 8) and e.device.type == device and net.training
    with pytest.raises(ValueError, match="`images`"):
        embed(net, torch.zeros(3, 16, 16))


def test_train_embedding_rejects_bad_arguments():
    """Mismatched labels and unknown mining strategies raise ValueError naming the argument."""
    net = EmbeddingNet(width=4)
    x = torch.rand(8, 3, 16, 16)
    with pytest.raises(ValueError, match="`labels`"):
        train_embedding(net, x, np.arange(7), steps=1)
    with pytest.raises(ValueError, match="`mining`"):
        train_embedding(net, x, np.repeat(np.arange(4), 2), steps=1, mining="easy")
