"""Activations, linear, softmax cross-entropy, dropout and AlexNet LRN against torch and gradcheck.

Tolerances: float64 to 1e-10 relative; float32 to rtol 1e-5 (element-wise ops) against float64 torch.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnncourse.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from cnncourse.layers import (
    dropout_backward, dropout_forward, leaky_relu_backward, leaky_relu_forward, linear_backward,
    linear_forward, local_response_norm_backward, local_response_norm_forward, relu_backward, relu_forward,
    sigmoid_backward, sigmoid_forward, softmax_cross_entropy, tanh_backward, tanh_forward,
)

TOL = {np.float64: 1e-10, np.float32: 1e-5}


def assert_close(ours, ref, dtype, scale_tol=1.0):
    ref = np.asarray(ref, dtype=np.float64)
    assert ours.dtype == dtype and ours.shape == ref.shape
    tol = TOL[dtype] * scale_tol
    np.testing.assert_allclose(ours, ref, rtol=tol, atol=tol * max(1.0, np.abs(ref).max(initial=0)))


ACTIVATIONS = [
    ("relu", relu_forward, relu_backward, {}, F.relu),
    ("leaky", leaky_relu_forward, leaky_relu_backward, {"negative_slope": 0.2},
     lambda t: F.leaky_relu(t, 0.2)),
    ("sigmoid", sigmoid_forward, sigmoid_backward, {}, torch.sigmoid),
    ("tanh", tanh_forward, tanh_backward, {}, torch.tanh),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, fwd, bwd, kw, tfn", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activations_match_torch(name, fwd, bwd, kw, tfn, dtype):
    """Values and gradients equal torch's, including x = 0 exactly and large |x| (no overflow)."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(20) * 3, [0.0, -0.0, 700.0, -700.0, 50.0, -50.0]]).reshape(2, 13)
    out, cache = fwd(x.astype(dtype), **kw)
    tx = torch.tensor(x, requires_grad=True)
    ref = tfn(tx)
    assert_close(out, ref.detach().numpy(), dtype)
    dout = rng.standard_normal(x.shape)
    ref.backward(torch.tensor(dout))
    assert_close(bwd(dout.astype(dtype), cache), tx.grad.numpy(), dtype)
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape, bias", [((5, 4), True), ((1, 4), False), ((2, 3, 4), True)])
def test_linear_matches_torch(shape, bias, dtype):
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal(shape), rng.standard_normal((3, shape[-1]))
    b = rng.standard_normal(3) if bias else None
    out, cache = linear_forward(x.astype(dtype), w.astype(dtype), None if b is None else b.astype(dtype))
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    tb = None if b is None else torch.tensor(b, requires_grad=True)
    ref = F.linear(tx, tw, tb)
    assert_close(out, ref.detach().numpy(), dtype, 10)
    dout = rng.standard_normal(out.shape)
    ref.backward(torch.tensor(dout))
    dx, dw, db = linear_backward(dout.astype(dtype), cache)
    assert_close(dx, tx.grad.numpy(), dtype, 10)
    assert_close(dw, tw.grad.numpy(), dtype, 10)
    assert (db is None) if b is None else np.allclose(db, tb.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_cross_entropy_matches_torch_and_is_stable(dtype):
    """Loss and dlogits equal F.cross_entropy (mean), even with logits of size 1e4."""
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((6, 5)) * 3
    logits[0] += 1e4                       # would overflow a naive exp
    y = rng.integers(0, 5, size=6)
    loss, dlogits = softmax_cross_entropy(logits.astype(dtype), y)
    tl = torch.tensor(logits, requires_grad=True)
    ref = F.cross_entropy(tl, torch.tensor(y))
    ref.backward()
    assert np.isfinite(loss) and np.asarray(loss).dtype == dtype
    np.testing.assert_allclose(loss, ref.item(), rtol=TOL[dtype] * 10)
    assert_close(dlogits, tl.grad.numpy(), dtype)


def test_softmax_cross_entropy_gradcheck_and_errors():
    rng = np.random.default_rng(3)
    logits, y = rng.standard_normal((4, 3)), np.array([0, 2, 1, 2])
    num = eval_numerical_gradient(lambda a: softmax_cross_entropy(a, y)[0], logits)
    assert rel_error(softmax_cross_entropy(logits, y)[1], num) < 1e-7
    with pytest.raises(ValueError, match=r"`y` expected labels in \[0, 3\), got labels in \[0, 3\]"):
        softmax_cross_entropy(logits, np.array([0, 3, 1, 2]))
    with pytest.raises(ValueError, match=r"`y` expected shape \(4,\) matching logits"):
        softmax_cross_entropy(logits, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"`y` expected an integer array"):
        softmax_cross_entropy(logits, np.array([0.0, 1, 1, 2]))


def test_dropout_statistics_scaling_and_backward():
    """Inverted dropout: drop rate ~p, kept values scaled by 1/(1-p), mean preserved, same mask backward."""
    rng = np.random.default_rng(4)
    x = np.ones((200, 500), dtype=np.float32)
    out, cache = dropout_forward(x, 0.3, True, rng)
    assert out.dtype == np.float32
    kept = out != 0
    assert abs(1 - kept.mean() - 0.3) < 0.01
    np.testing.assert_allclose(out[kept], 1 / 0.7, rtol=1e-6)
    assert abs(out.mean() - 1.0) < 0.02
    dout = np.random.default_rng(5).standard_normal(x.shape).astype(np.float32)
    np.testing.assert_array_equal(dropout_backward(dout, cache), dout * out)   # x = 1: out is the mask
    # reproducible from the seed, identity in eval mode, everything dropped at p = 1
    np.testing.assert_array_equal(dropout_forward(x, 0.3, True, np.random.default_rng(4))[0], out)
    ev, ev_cache = dropout_forward(x, 0.3, False, rng)
    np.testing.assert_array_equal(ev, x)
    np.testing.assert_array_equal(dropout_backward(dout, ev_cache), dout)
    assert not dropout_forward(x, 1.0, True, rng)[0].any()
    with pytest.raises(ValueError, match=r"`p` expected a probability in \[0, 1\], got 1.5"):
        dropout_forward(x, 1.5, True, rng)
    with pytest.raises(TypeError, match=r"`rng` expected a numpy.random.Generator"):
        dropout_forward(x, 0.5, True, 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("size", [5, 3, 4, 1])
def test_lrn_is_torch_with_alpha_times_size(size, dtype):
    """AlexNet LRN equals torch's LocalResponseNorm when torch is given alpha * size (it divides by size)."""
    rng = np.random.default_rng(size)
    x = rng.standard_normal((2, 7, 3, 4)) * 4
    alpha, beta, k = 1e-2, 0.75, 2.0
    out, cache = local_response_norm_forward(x.astype(dtype), size, alpha, beta, k)
    tx = torch.tensor(x, requires_grad=True)
    ref = F.local_response_norm(tx, size, alpha=alpha * size, beta=beta, k=k)
    assert_close(out, ref.detach().numpy(), dtype, 10)
    dout = rng.standard_normal(x.shape)
    ref.backward(torch.tensor(dout))
    assert_close(local_response_norm_backward(dout.astype(dtype), cache), tx.grad.numpy(), dtype, 10)
    if size > 1:   # and it really differs from torch called with the same alpha
        naive = F.local_response_norm(torch.tensor(x), size, alpha=alpha, beta=beta, k=k).numpy()
        assert np.abs(out - naive).max() > 1e-3


def test_lrn_hand_value_and_gradcheck():
    """Channel 0 of a 3-channel input with size 5 sums channels 0..2: b = a / (k + alpha sum a^2)^beta."""
    x = np.array([1.0, 2.0, 3.0]).reshape(1, 3, 1, 1)
    out, _ = local_response_norm_forward(x, size=5, alpha=0.1, beta=0.5, k=1.0)
    assert np.isclose(out[0, 0, 0, 0], 1.0 / np.sqrt(1.0 + 0.1 * 14.0))
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 6, 2, 3))
    out, cache = local_response_norm_forward(x, 4, 0.5, 0.75, 1.0)
    dout = rng.standard_normal(out.shape)
    num = eval_numerical_gradient_array(lambda a: local_response_norm_forward(a, 4, 0.5, 0.75, 1.0)[0], x, dout)
    assert rel_error(local_response_norm_backward(dout, cache), num) < 1e-7


def test_misc_errors():
    with pytest.raises(ValueError, match=r"`w` expected shape \(D_out, D_in=4\), got shape \(3, 5\)"):
        linear_forward(np.zeros((2, 4)), np.zeros((3, 5)), None)
    with pytest.raises(ValueError, match=r"`x` expected an array of shape \(N, C, \*\) with at least 3 dims"):
        local_response_norm_forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"`dout` expected shape \(2, 3\) and dtype float64"):
        relu_backward(np.zeros((3, 2)), relu_forward(np.zeros((2, 3)))[1])


def test_optional_params_default_to_none_like_torch():
    """Can bias / weight be left out as in F.linear, F.conv_transpose2d, F.layer_norm, F.group_norm?"""
    from cnncourse.layers import conv_transpose2d_forward, groupnorm_forward, layernorm_forward
    rng = np.random.default_rng(30)
    x, w = rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
    np.testing.assert_allclose(linear_forward(x, w)[0], F.linear(torch.tensor(x), torch.tensor(w)).numpy(), rtol=1e-12)
    x4 = rng.standard_normal((2, 4, 3, 3))
    wt = rng.standard_normal((4, 2, 2, 2))
    np.testing.assert_allclose(conv_transpose2d_forward(x4, wt)[0],
                               F.conv_transpose2d(torch.tensor(x4), torch.tensor(wt)).numpy(), rtol=1e-12)
    np.testing.assert_allclose(layernorm_forward(x4, (3, 3))[0],
                               F.layer_norm(torch.tensor(x4), (3, 3)).numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(groupnorm_forward(x4, 2)[0],
                               F.group_norm(torch.tensor(x4), 2).numpy(), rtol=1e-10, atol=1e-12)
