"""SGD updates and learning-rate schedules against torch.optim and torch.optim.lr_scheduler."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cnncourse.optim import cosine_lr, exponential_lr, sgd_update, step_lr

CONFIGS = [
    dict(momentum=0.0),
    dict(momentum=0.9),
    dict(momentum=0.9, dampening=0.3),
    dict(momentum=0.8, nesterov=True),
    dict(momentum=0.9, weight_decay=5e-4),               # AlexNet's settings
    dict(momentum=0.0, weight_decay=0.1),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_sgd_update_follows_torch_optim_sgd(rng, cfg):
    """Over 15 steps on a quadratic, do our parameters equal torch.optim.SGD's step by step?"""
    a = rng.normal(size=(3, 3))
    hess = a @ a.T + np.eye(3)                           # positive definite
    theta0 = rng.normal(size=3)
    p = torch.tensor(theta0, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.05, **cfg)
    theta, v = theta0.copy(), None
    for _ in range(15):
        opt.zero_grad()
        (0.5 * p @ torch.from_numpy(hess) @ p).backward()
        opt.step()
        theta, v = sgd_update(theta, hess @ theta, v, lr=0.05, **cfg)
        np.testing.assert_allclose(theta, p.detach().numpy(), rtol=1e-12, atol=1e-14)
    if cfg.get("momentum"):
        np.testing.assert_allclose(v, opt.state[p]["momentum_buffer"].numpy(), rtol=1e-12)
    else:
        assert v is None


def test_sgd_update_matches_sutskever_form_and_leaves_inputs_alone():
    """Is torch's v = mu v + g, theta -= lr v the same path as v = mu v - lr g, theta += v? Inputs untouched?"""
    theta, v = np.array([2.0, -1.0]), None
    th2, v2 = theta.copy(), np.zeros(2)
    for _ in range(10):
        g = np.array([1.0, 20.0]) * theta
        before = theta.copy()
        theta, v = sgd_update(theta, g, v, lr=0.02, momentum=0.9)
        np.testing.assert_array_equal(g, np.array([1.0, 20.0]) * before)      # grad not modified
        v2 = 0.9 * v2 - 0.02 * np.array([1.0, 20.0]) * th2
        th2 = th2 + v2
        np.testing.assert_allclose(theta, th2, rtol=1e-12, atol=1e-12)


def _torch_lrs(make, epochs=40, lr0=0.1):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr0)
    sched = make(opt)
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(out)


def test_schedules_match_torch():
    """Do StepLR, ExponentialLR and CosineAnnealingLR give torch's learning rate at every epoch?"""
    sched = torch.optim.lr_scheduler
    np.testing.assert_allclose([step_lr(e, lr0=0.1, step_size=7, gamma=0.5) for e in range(40)],
                               _torch_lrs(lambda o: sched.StepLR(o, 7, 0.5)), rtol=1e-12)
    np.testing.assert_allclose([exponential_lr(e, lr0=0.1, gamma=0.9) for e in range(40)],
                               _torch_lrs(lambda o: sched.ExponentialLR(o, 0.9)), rtol=1e-12)
    np.testing.assert_allclose([cosine_lr(e, lr0=0.1, t_max=39, eta_min=1e-3) for e in range(40)],
                               _torch_lrs(lambda o: sched.CosineAnnealingLR(o, 39, 1e-3)), rtol=1e-9, atol=1e-15)
    assert cosine_lr(0, lr0=0.1, t_max=10) == 0.1 and cosine_lr(10, lr0=0.1, t_max=10) == pytest.approx(0)
    assert cosine_lr(5, lr0=0.1, t_max=10) == pytest.approx(0.05)
    assert step_lr(30, lr0=0.01, step_size=30) == pytest.approx(1e-3)          # AlexNet: / 10


def test_errors_name_the_argument():
    """Do bad arguments raise errors naming them?"""
    with pytest.raises(ValueError, match="`grad`"):
        sgd_update(np.zeros(2), np.zeros(3), None, lr=0.1)
    with pytest.raises(ValueError, match="`lr`"):
        sgd_update(np.zeros(2), np.zeros(2), None, lr=0)
    with pytest.raises(ValueError, match="`momentum`"):
        sgd_update(np.zeros(2), np.zeros(2), None, lr=0.1, momentum=1.5)
    with pytest.raises(ValueError, match="`nesterov`"):
        sgd_update(np.zeros(2), np.zeros(2), None, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="`velocity`"):
        sgd_update(np.zeros(2), np.zeros(2), np.zeros(3), lr=0.1, momentum=0.5)
    with pytest.raises(ValueError, match="`epoch`"):
        cosine_lr(11, lr0=0.1, t_max=10)
    with pytest.raises(ValueError, match="`epoch`"):
        step_lr(-1, lr0=0.1, step_size=3)
    with pytest.raises(ValueError, match="`lr0`"):
        exponential_lr(1, lr0=math.nan, gamma=0.9)
    with pytest.raises(ValueError, match="`gamma`"):
        exponential_lr(1, lr0=0.1, gamma=-0.5)
