"""Device checks: outputs on the input's device, no tensor created on the default device.

Without a GPU, device bugs are caught three ways: (1) ``meta`` tensors run the losses through
(shapes and devices, no data); (2) every function runs on CPU inputs while the *default* device
is ``meta``, so a tensor created without ``device=`` lands on meta and the call fails or returns
meta; (3) torch's factory functions are patched to fail without ``device=``. With a GPU, every
function must give the CPU result on CUDA.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnncourse import verification as V


def _batch(device="cpu", dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(12, 5, generator=g, dtype=dtype).to(device)
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 2, 3, 4, 4, 4, 5]).to(device)
    return emb, labels


def _loss_calls(emb, labels):
    """Every differentiable function of the package, on one batch (name -> result)."""
    a, p, n = emb[:4], emb[4:8], emb[8:12]
    same = (labels[:4] == labels[4:8]).long()
    cos = V.cosine_similarity_matrix(emb, emb[:6])
    return {
        "pairwise_distances": V.pairwise_distances(emb, emb[:7]),
        "pairwise_sq": V.pairwise_distances(emb, squared=True),
        "cosine": V.pairwise_distances(emb, metric="cosine"),
        "contrastive": V.contrastive_loss(a, p, same, reduction="none"),
        "triplet": V.triplet_loss(a, p, n, squared=False),
        "batch_all": V.batch_all_triplet_loss(emb, labels),
        "batch_all_pos": V.batch_all_triplet_loss(emb, labels, reduction="mean_positive"),
        "batch_hard": V.batch_hard_triplet_loss(emb, labels, soft=True),
        **{m: V.margin_logits(cos, labels, method=m) for m in ("arcface", "cosface", "sphereface")},
    }


def _metric_calls(scores, labels, matrix, q, g):
    """Every metric on one verification and one identification problem (name -> result)."""
    return {
        "roc_curve": V.roc_curve(labels, scores),
        "roc_auc": V.roc_auc_score(labels, scores),
        "accuracy": tuple(V.verification_accuracy(labels, scores, n_folds=4)),
        "tar": V.tar_at_far(labels, scores, [0.1, 0.5], return_threshold=True),
        "eer": V.equal_error_rate(labels, scores, return_threshold=True),
        "ranks": V.match_ranks(matrix, q, g),
        "cmc": V.cmc_curve(matrix, q, g, largest=False),
        "rank_k": V.rank_accuracy(matrix, q, g),
    }


def _metric_inputs(device="cpu"):
    rng = np.random.default_rng(1)
    labels = torch.tensor(rng.integers(0, 2, size=40)).to(device)
    scores = torch.tensor(np.round(rng.normal(size=40), 1)).to(device) + labels
    matrix = torch.tensor(rng.normal(size=(6, 9))).to(device)
    q = torch.tensor([0, 1, 2, 3, 1, 0]).to(device)
    gal = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3, 4]).to(device)
    return scores, labels, matrix, q, gal


def _assert_same(a, b, device_of_a=None):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_same(a[k], b[k], device_of_a)
    elif isinstance(a, (tuple, list)):
        for x, y in zip(a, b):
            _assert_same(x, y, device_of_a)
    elif isinstance(a, torch.Tensor):
        if device_of_a is not None:
            assert a.device.type == device_of_a
        torch.testing.assert_close(a.cpu(), b.cpu(), equal_nan=True)
    else:
        np.testing.assert_allclose(a, b)


def test_meta_tensors_keep_their_device():
    """On meta inputs every loss and matrix comes back on meta with the right shape."""
    emb, labels = _batch()
    ref = _loss_calls(emb, labels)
    out = _loss_calls(emb.to("meta"), labels.to("meta"))
    for name, value in out.items():
        assert value.device.type == "meta", name
        assert value.shape == ref[name].shape, name


def test_nothing_is_created_on_the_default_device():
    """With the default device set to meta, CPU inputs still give the CPU results."""
    emb, labels = _batch()
    inputs = _metric_inputs()  # built on CPU before the default device changes
    ref_losses, ref_metrics = _loss_calls(emb, labels), _metric_calls(*inputs)
    with torch.device("meta"):
        losses = _loss_calls(emb, labels)
        metrics = _metric_calls(*inputs)
    _assert_same(losses, ref_losses, "cpu")
    _assert_same(metrics, ref_metrics, "cpu")


_FACTORIES = ("zeros", "ones", "full", "empty", "arange", "eye", "tensor", "linspace", "randn", "rand")


def test_factories_always_get_a_device(monkeypatch):
    """Patch torch's factories to fail without device=: no call in the package may omit it."""
    emb, labels = _batch()
    inputs = _metric_inputs()
    for name in _FACTORIES:
        original = getattr(torch, name)

        def strict(*args, __original=original, __name=name, **kwargs):
            if "device" not in kwargs:
                raise AssertionError(f"torch.{__name} called without device=")
            return __original(*args, **kwargs)

        monkeypatch.setattr(torch, name, strict)
    losses, metrics = _loss_calls(emb, labels), _metric_calls(*inputs)
    monkeypatch.undo()
    _assert_same(losses, _loss_calls(emb, labels), "cpu")
    _assert_same(metrics, _metric_calls(*inputs), "cpu")


@pytest.mark.cuda
def test_cuda_matches_cpu():
    """Every function gives the CPU result on CUDA, with outputs on CUDA."""
    emb, labels = _batch()
    _assert_same(_loss_calls(emb.cuda(), labels.cuda()), _loss_calls(emb, labels), "cuda")
    cpu = _metric_inputs("cpu")
    _assert_same(_metric_calls(*(t.cuda() for t in cpu)), _metric_calls(*cpu), "cuda")


@pytest.mark.cuda
def test_cuda_gradients_match_cpu():
    """Backward through the losses gives the CPU gradients on CUDA."""
    grads = {}
    for device in ("cpu", "cuda"):
        emb, labels = _batch(device)
        emb.requires_grad_(True)
        total = sum(v.sum() for v in _loss_calls(emb, labels).values())
        (grads[device],) = torch.autograd.grad(total, emb)
    torch.testing.assert_close(grads["cuda"].cpu(), grads["cpu"])
