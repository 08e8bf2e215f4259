"""The single sigmoid neuron: objective and gradient against torch autograd and a loop twin; training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cnncourse.neuron import neuron_forward, neuron_objective, train_neuron


def _data(rng, n=30):
    z = rng.normal(size=(n, 2))
    t = (z[:, 0] + 0.5 * z[:, 1] + 0.3 * rng.normal(size=n) > 0).astype(np.int64)
    return z, t


def _slow_objective(w, z, t, alpha):
    """G(w) + alpha E(w) and its gradient, one example at a time, straight from the slide."""
    g, grad = 0.0, [alpha * wi for wi in w]
    for zn, tn in zip(z, t):
        a = w[0] + sum(w[d + 1] * zn[d] for d in range(len(zn)))
        x = 1 / (1 + math.exp(-a))
        g -= tn * math.log(x) + (1 - tn) * math.log(1 - x)
        feats = [1.0] + list(zn)
        for i in range(len(w)):
            grad[i] -= (tn - x) * feats[i]                # prediction error x feature
    return g + 0.5 * alpha * sum(wi * wi for wi in w), np.array(grad)


@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_objective_and_gradient_match_torch_and_a_loop(rng, alpha):
    """Is M(w) = G + alpha E with gradient -(t - x) z + alpha w, as torch autograd computes it?"""
    z, t = _data(rng)
    w = rng.normal(size=3)
    m, grad = neuron_objective(w, z, t, alpha=alpha)
    wt = torch.tensor(w, requires_grad=True)
    a = wt[0] + torch.from_numpy(z) @ wt[1:]
    mt = torch.nn.functional.binary_cross_entropy_with_logits(a, torch.from_numpy(t).double(), reduction="sum") \
        + 0.5 * alpha * (wt * wt).sum()
    mt.backward()
    assert m == pytest.approx(mt.item(), rel=1e-12)
    np.testing.assert_allclose(grad, wt.grad.numpy(), rtol=1e-10)
    m_slow, g_slow = _slow_objective(w, z, t, alpha)
    assert m == pytest.approx(m_slow, rel=1e-12)
    np.testing.assert_allclose(grad, g_slow, rtol=1e-10)
    np.testing.assert_allclose(neuron_forward(z, w), torch.sigmoid(a).detach().numpy(), rtol=1e-12)


def test_objective_is_finite_for_confident_wrong_predictions():
    """Does G stay finite (softplus, no log 0) when the neuron is certain and wrong?"""
    m, grad = neuron_objective(np.array([0.0, 800.0]), np.array([[1.0]]), np.array([0]))
    assert m == pytest.approx(800.0) and np.allclose(grad, [1.0, 1.0])


def test_training_descends_and_weight_decay_bounds_the_weights(rng):
    """Does gradient descent lower M, and does weight decay keep separable-data weights small?"""
    z, t = _data(rng)
    trace = train_neuron(z, t, lr=0.05, steps=200)
    assert trace.weights.shape == (201, 3) and trace.objective.shape == (201,)
    np.testing.assert_array_equal(trace.weights[0], 0.0)
    assert trace.objective[0] == pytest.approx(30 * math.log(2))      # x = 1/2 everywhere
    assert trace.objective[-1] < 0.5 * trace.objective[0]
    assert np.all(np.diff(trace.objective) <= 1e-12)                 # small steps: monotone
    manual = trace.weights[0] - 0.05 * neuron_objective(trace.weights[0], z, t)[1]
    np.testing.assert_allclose(trace.weights[1], manual)
    sep = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    lab = np.array([0, 0, 1, 1])
    free = train_neuron(sep, lab, lr=0.5, steps=2000)
    decayed = train_neuron(sep, lab, lr=0.5, steps=2000, alpha=1.0)
    norms = np.linalg.norm(free.weights, axis=1)
    assert norms[-1] > norms[1000] > 3                               # keeps growing without decay
    assert np.linalg.norm(decayed.weights[-1]) < 0.5 * norms[-1]
    # at the decayed optimum the gradient vanishes: alpha w = -dG/dw
    assert np.abs(neuron_objective(decayed.weights[-1], sep, lab, alpha=1.0)[1]).max() < 1e-8


def test_errors_name_the_argument(rng):
    """Do bad arguments raise errors naming them?"""
    z, t = _data(rng, 5)
    with pytest.raises(ValueError, match="`w` expected shape \\(D \\+ 1,\\)"):
        neuron_objective(np.zeros(2), z, t)
    with pytest.raises(ValueError, match="`t` expected labels in"):
        neuron_objective(np.zeros(3), z, t + 1)
    with pytest.raises(ValueError, match="`t` expected shape \\(5,\\)"):
        neuron_objective(np.zeros(3), z, t[:4])
    with pytest.raises(ValueError, match="`alpha`"):
        neuron_objective(np.zeros(3), z, t, alpha=-1)
    with pytest.raises(ValueError, match="`lr`"):
        train_neuron(z, t, lr=0, steps=3)
    with pytest.raises(TypeError, match="`steps`"):
        train_neuron(z, t, lr=0.1, steps=2.5)
    with pytest.raises(ValueError, match="`z` expected a 2-D"):
        neuron_forward(np.zeros(3), np.zeros(2))
