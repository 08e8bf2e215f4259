"""Batch, layer, group and instance normalization against torch (values, gradients, running stats).

Tolerances: float64 to 1e-10 relative (``atol = 1e-10 * max|ref|``); float32 compared with the float64
reference to rtol 1e-4 / atol 1e-5 * max|ref| (the backward pass subtracts means of products).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnncourse.gradcheck import eval_numerical_gradient_array, rel_error
from cnncourse.layers import (
    batchnorm_backward, batchnorm_forward, groupnorm_backward, groupnorm_forward, instancenorm_backward,
    instancenorm_forward, layernorm_backward, layernorm_forward,
)

TOL = {np.float64: (1e-10, 1e-10), np.float32: (1e-4, 1e-5)}


def assert_close(ours, ref, dtype):
    ref = np.asarray(ref, dtype=np.float64)
    assert ours.dtype == dtype and ours.shape == ref.shape
    rtol, atol = TOL[dtype]
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=atol * max(1.0, np.abs(ref).max(initial=0)))


def _t(a):
    return None if a is None else torch.tensor(a, requires_grad=True)


SHAPES = [(4, 5), (1, 3, 4, 5), (3, 2, 5, 3), (2, 4, 6)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_training_matches_torch(shape, affine, dtype):
    """Training mode: output, three gradients and IN-PLACE running stats (unbiased var) equal torch's."""
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape) * 3 + 1
    c = shape[1]
    gamma, beta = (rng.standard_normal(c), rng.standard_normal(c)) if affine else (None, None)
    rm, rv = rng.standard_normal(c), rng.random(c) + 0.5
    trm, trv = torch.tensor(rm), torch.tensor(rv)
    rm_d, rv_d = rm.astype(dtype), rv.astype(dtype)
    ids = (id(rm_d), id(rv_d))
    cast = (lambda a: None if a is None else a.astype(dtype))
    for step in range(2):       # two steps: the second update starts from the first one's result
        out, cache = batchnorm_forward(x.astype(dtype) + step, cast(gamma), cast(beta), rm_d, rv_d,
                                       training=True, momentum=0.3, eps=1e-4)
        tx, tg, tb = _t(x + step), _t(gamma), _t(beta)
        ref = F.batch_norm(tx, trm, trv, tg, tb, training=True, momentum=0.3, eps=1e-4)
        assert_close(out, ref.detach().numpy(), dtype)
        assert (id(rm_d), id(rv_d)) == ids
        assert_close(rm_d, trm.numpy(), dtype)
        assert_close(rv_d, trv.numpy(), dtype)
    dout = rng.standard_normal(shape)
    dx, dgamma, dbeta = batchnorm_backward(dout.astype(dtype), cache)
    ref.backward(torch.tensor(dout))
    assert_close(dx, tx.grad.numpy(), dtype)
    if affine:
        assert_close(dgamma, tg.grad.numpy(), dtype)
        assert_close(dbeta, tb.grad.numpy(), dtype)
    else:
        assert dgamma is None and dbeta is None


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
def test_batchnorm_eval_matches_torch_and_leaves_running_stats(shape, dtype):
    """Eval mode normalizes with the running stats, does not update them, and has the simple gradient."""
    rng = np.random.default_rng(10 + len(shape))
    x = rng.standard_normal(shape)
    c = shape[1]
    gamma, beta, rm, rv = rng.standard_normal(c), rng.standard_normal(c), rng.standard_normal(c), rng.random(c) + 0.1
    rm_d, rv_d = rm.astype(dtype), rv.astype(dtype)
    out, cache = batchnorm_forward(x.astype(dtype), gamma.astype(dtype), beta.astype(dtype), rm_d, rv_d,
                                   training=False)
    np.testing.assert_array_equal(rm_d, rm.astype(dtype))
    np.testing.assert_array_equal(rv_d, rv.astype(dtype))
    tx, tg, tb = _t(x), _t(gamma), _t(beta)
    ref = F.batch_norm(tx, torch.tensor(rm), torch.tensor(rv), tg, tb, training=False)
    assert_close(out, ref.detach().numpy(), dtype)
    dout = rng.standard_normal(shape)
    ref.backward(torch.tensor(dout))
    dx, dgamma, dbeta = batchnorm_backward(dout.astype(dtype), cache)
    for ours, theirs in ((dx, tx), (dgamma, tg), (dbeta, tb)):
        assert_close(ours, theirs.grad.numpy(), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 4, 5)])
@pytest.mark.parametrize("momentum", [None, 0.3])
def test_batchnorm_num_batches_tracked_matches_torch_module(shape, momentum, dtype):
    """Over several training steps and an eval step, do the output, running statistics and the
    batch counter equal ``nn.BatchNorm{1,2}d(momentum=...)``, momentum=None being the cumulative
    average 1/num_batches_tracked?"""
    rng = np.random.default_rng(21)
    c = shape[1]
    module = (torch.nn.BatchNorm1d if len(shape) == 2 else torch.nn.BatchNorm2d)(c, momentum=momentum,
                                                                                 dtype=torch.float64)
    rm, rv, nbt = np.zeros(c, dtype), np.ones(c, dtype), np.zeros((), np.int64)
    for step in range(4):
        training = step < 3
        module.train(training)
        x = rng.standard_normal(shape) * (step + 1) + step
        out, _ = batchnorm_forward(x.astype(dtype), None, None, rm, rv, training, momentum,
                                   num_batches_tracked=nbt)
        with torch.no_grad():
            ref = module(torch.tensor(x))
        assert_close(out, ref.numpy(), dtype)
        assert_close(rm, module.running_mean.numpy(), dtype)
        assert_close(rv, module.running_var.numpy(), dtype)
        assert nbt.shape == () and int(nbt) == int(module.num_batches_tracked) == min(step + 1, 3)


def test_batchnorm_momentum_none_is_the_plain_mean_of_batch_statistics():
    """Hand check: after k batches the running mean is the average of the k batch means."""
    rng = np.random.default_rng(22)
    rm, rv, nbt = np.full(2, 7.0), np.full(2, 7.0), np.zeros((), np.int64)
    batches = [rng.standard_normal((6, 2)) + i for i in range(3)]
    for x in batches:
        batchnorm_forward(x, None, None, rm, rv, True, None, num_batches_tracked=nbt)
    np.testing.assert_allclose(rm, np.mean([b.mean(axis=0) for b in batches], axis=0), rtol=1e-12)
    np.testing.assert_allclose(rv, np.mean([b.var(axis=0, ddof=1) for b in batches], axis=0), rtol=1e-12)


def test_batchnorm_gradcheck():
    rng = np.random.default_rng(5)
    x, g, b = rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(2), rng.standard_normal(2)
    out, cache = batchnorm_forward(x, g, b, None, None, training=True)
    dout = rng.standard_normal(out.shape)
    dx, dg, db = batchnorm_backward(dout, cache)
    f = lambda a: batchnorm_forward(a, g, b, None, None, training=True)[0]  # noqa: E731
    assert rel_error(dx, eval_numerical_gradient_array(f, x, dout)) < 1e-6
    assert rel_error(dg, eval_numerical_gradient_array(lambda a: batchnorm_forward(x, a, b, None, None, True)[0],
                                                       g, dout)) < 1e-7


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape, ns", [((4, 6), 6), ((2, 3, 4, 5), (3, 4, 5)), ((2, 3, 4, 5), (5,)), ((3, 7), (7,))])
@pytest.mark.parametrize("affine", [True, False])
def test_layernorm_matches_torch(shape, ns, affine, dtype):
    rng = np.random.default_rng(20)
    x = rng.standard_normal(shape) * 2 - 1
    nsh = (ns,) if isinstance(ns, int) else ns
    gamma, beta = (rng.standard_normal(nsh), rng.standard_normal(nsh)) if affine else (None, None)
    cast = (lambda a: None if a is None else a.astype(dtype))
    out, cache = layernorm_forward(x.astype(dtype), ns, cast(gamma), cast(beta))
    tx, tg, tb = _t(x), _t(gamma), _t(beta)
    ref = F.layer_norm(tx, nsh, tg, tb)
    assert_close(out, ref.detach().numpy(), dtype)
    dout = rng.standard_normal(shape)
    ref.backward(torch.tensor(dout))
    dx, dg, db = layernorm_backward(dout.astype(dtype), cache)
    assert_close(dx, tx.grad.numpy(), dtype)
    if affine:
        assert_close(dg, tg.grad.numpy(), dtype)
        assert_close(db, tb.grad.numpy(), dtype)
    else:
        assert dg is None and db is None


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape, groups", [((2, 6, 4, 3), 3), ((1, 4, 5, 5), 1), ((3, 4, 2, 3), 4), ((2, 6, 7), 2)])
def test_groupnorm_matches_torch(shape, groups, dtype):
    rng = np.random.default_rng(30)
    x = rng.standard_normal(shape) + 2
    c = shape[1]
    gamma, beta = rng.standard_normal(c), rng.standard_normal(c)
    out, cache = groupnorm_forward(x.astype(dtype), groups, gamma.astype(dtype), beta.astype(dtype), eps=1e-3)
    tx, tg, tb = _t(x), _t(gamma), _t(beta)
    ref = F.group_norm(tx, groups, tg, tb, eps=1e-3)
    assert_close(out, ref.detach().numpy(), dtype)
    dout = rng.standard_normal(shape)
    ref.backward(torch.tensor(dout))
    for ours, theirs in zip(groupnorm_backward(dout.astype(dtype), cache), (tx, tg, tb)):
        assert_close(ours, theirs.grad.numpy(), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("affine", [True, False])
def test_instancenorm_matches_torch(affine, dtype):
    rng = np.random.default_rng(40)
    x = rng.standard_normal((3, 4, 5, 6))
    gamma, beta = (rng.standard_normal(4), rng.standard_normal(4)) if affine else (None, None)
    cast = (lambda a: None if a is None else a.astype(dtype))
    out, cache = instancenorm_forward(x.astype(dtype), cast(gamma), cast(beta))
    tx, tg, tb = _t(x), _t(gamma), _t(beta)
    ref = F.instance_norm(tx, weight=tg, bias=tb)
    assert_close(out, ref.detach().numpy(), dtype)
    dout = rng.standard_normal(x.shape)
    ref.backward(torch.tensor(dout))
    dx, dg, db = instancenorm_backward(dout.astype(dtype), cache)
    assert_close(dx, tx.grad.numpy(), dtype)
    if affine:
        assert_close(dg, tg.grad.numpy(), dtype)
        assert_close(db, tb.grad.numpy(), dtype)


def test_norm_errors():
    x = np.zeros((2, 6, 3, 3))
    with pytest.raises(ValueError, match=r"`x` expected a 2-D or 3-D or 4-D array, got 1-D"):
        batchnorm_forward(np.zeros(5), None, None, None, None, True)
    with pytest.raises(ValueError, match=r"`gamma` expected shape \(6,\), got shape \(5,\)"):
        batchnorm_forward(x, np.ones(5), None, None, None, True)
    with pytest.raises(ValueError, match=r"`running_mean` expected a \(C,\) array when training=False"):
        batchnorm_forward(x, None, None, None, None, False)
    with pytest.raises(ValueError, match=r"`x` expected more than 1 value per channel when training"):
        batchnorm_forward(np.zeros((1, 6)), None, None, None, None, True)
    with pytest.raises(ValueError, match=r"`momentum` expected a probability in \[0, 1\]"):
        batchnorm_forward(x, None, None, None, None, True, momentum=1.5)
    with pytest.raises(ValueError, match=r"`num_batches_tracked` expected a 0-d integer array when momentum=None"):
        batchnorm_forward(x, None, None, np.zeros(6), np.ones(6), True, momentum=None)
    with pytest.raises(ValueError, match=r"`num_batches_tracked` expected a 0-D array, got 1-D"):
        batchnorm_forward(x, None, None, np.zeros(6), np.ones(6), True, None, num_batches_tracked=np.zeros(1, int))
    with pytest.raises(ValueError, match=r"`num_batches_tracked` expected an integer array, got dtype float64"):
        batchnorm_forward(x, None, None, np.zeros(6), np.ones(6), True, None, num_batches_tracked=np.zeros(()))
    with pytest.raises(ValueError, match=r"`num_groups` expected a divisor of the 6 channels, got 4"):
        groupnorm_forward(x, 4, None, None)
    with pytest.raises(ValueError, match=r"`normalized_shape` expected the trailing dims"):
        layernorm_forward(x, (6, 3), None, None)
    with pytest.raises(ValueError, match=r"`x` expected shape \(N, C, \*spatial\) with more than 1 spatial"):
        instancenorm_forward(np.zeros((2, 3, 1, 1)))
    with pytest.raises(ValueError, match=r"`running_var` expected dtype float64"):
        batchnorm_forward(x, None, None, np.zeros(6), np.ones(6, np.float32), True)
