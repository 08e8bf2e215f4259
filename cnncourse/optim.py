"""SGD with momentum and learning-rate schedules, with PyTorch's exact semantics (lecture 04).

Plain numpy, so that a notebook can show an optimizer's arithmetic without building a
``torch.optim`` object (whose first construction imports the whole ``torch._dynamo`` compiler).

- :func:`sgd_update`       one step of ``torch.optim.SGD`` (momentum, dampening, Nesterov, weight decay)
- :func:`step_lr`          ``torch.optim.lr_scheduler.StepLR``: multiply by ``gamma`` every ``step_size`` epochs
- :func:`exponential_lr`   ``ExponentialLR``: multiply by ``gamma`` every epoch
- :func:`cosine_lr`        ``CosineAnnealingLR``: half a cosine from ``lr0`` down to ``eta_min`` over ``t_max`` epochs

torch's momentum form is ``v <- mu v + g``, ``theta <- theta - lr v`` (the first step sets
``v = g``); Sutskever et al.'s ``v <- mu v - lr g``, ``theta <- theta + v`` takes the same steps
while the learning rate is constant.
"""

from __future__ import annotations

import math

import numpy as np

from cnncourse._validate import ArgumentError, check_positive_int

__all__ = ["cosine_lr", "exponential_lr", "sgd_update", "step_lr"]


def _nonneg(name: str, value: float, *, upper: float | None = None) -> float:
    v = float(value)
    if not v >= 0 or (upper is not None and v > upper) or not math.isfinite(v):
        bound = f"in [0, {upper}]" if upper is not None else ">= 0"
        raise ArgumentError(name, f"a finite number {bound}", value)
    return v


def sgd_update(theta: np.ndarray, grad: np.ndarray, velocity: np.ndarray | None, *, lr: float,
               momentum: float = 0.0, dampening: float = 0.0, nesterov: bool = False,
               weight_decay: float = 0.0) -> tuple[np.ndarray, np.ndarray | None]:
    """One step of ``torch.optim.SGD`` on one parameter; the inputs are not modified.

    ``g = grad + weight_decay * theta``; with momentum, ``v = g`` on the first step (``velocity``
    is ``None``) and ``v = momentum * v + (1 - dampening) * g`` after; the step uses ``v`` (or
    ``g + momentum * v`` with Nesterov); ``theta_new = theta - lr * step``.

    Args:
        theta: parameter, any shape (float array).
        grad: its gradient, same shape.
        velocity: the momentum buffer from the previous step, or ``None`` before the first step.
        lr: learning rate ``> 0``; momentum, dampening in ``[0, 1]``; weight_decay ``>= 0``.
        nesterov: Nesterov momentum (needs ``momentum > 0`` and ``dampening = 0``, as in torch).

    Returns:
        ``(theta_new, velocity_new)``; ``velocity_new`` is ``None`` when ``momentum == 0``.

    Example:
        >>> theta, v = np.array([1.0]), None
        >>> for _ in range(2):
        ...     theta, v = sgd_update(theta, 2 * theta, v, lr=0.1, momentum=0.9)   # f = theta^2
        >>> theta, v
        (array([0.46]), array([3.4]))
    """
    theta = np.asarray(theta, dtype=np.float64) if not isinstance(theta, np.ndarray) else theta
    grad = np.asarray(grad, dtype=theta.dtype)
    if grad.shape != theta.shape:
        raise ArgumentError("grad", f"theta's shape {theta.shape}", f"shape {grad.shape}")
    lr = float(lr)
    if not lr > 0 or not math.isfinite(lr):
        raise ArgumentError("lr", "a finite learning rate > 0", lr)
    momentum = _nonneg("momentum", momentum, upper=1.0)
    dampening = _nonneg("dampening", dampening, upper=1.0)
    weight_decay = _nonneg("weight_decay", weight_decay)
    if nesterov and (momentum == 0 or dampening != 0):
        raise ArgumentError("nesterov", "momentum > 0 and dampening = 0 (torch's rule)",
                            f"momentum={momentum}, dampening={dampening}")
    g = grad + weight_decay * theta if weight_decay else grad
    if momentum == 0:
        return theta - lr * g, None
    if velocity is None:
        v = np.array(g, copy=True)                          # torch: buf = clone(g) on the first step
    else:
        if np.shape(velocity) != theta.shape:
            raise ArgumentError("velocity", f"None or theta's shape {theta.shape}", f"shape {np.shape(velocity)}")
        v = momentum * velocity + (1 - dampening) * g
    step = g + momentum * v if nesterov else v
    return theta - lr * step, v


def _epoch(epoch: int) -> int:
    return check_positive_int("epoch", epoch, minimum=0)


def _lr0(lr0: float) -> float:
    lr0 = float(lr0)
    if not lr0 > 0 or not math.isfinite(lr0):
        raise ArgumentError("lr0", "a finite initial learning rate > 0", lr0)
    return lr0


def step_lr(epoch: int, *, lr0: float, step_size: int, gamma: float = 0.1) -> float:
    """``lr0 * gamma ** (epoch // step_size)`` (``StepLR``; AlexNet divided by 10 by hand)."""
    step_size = check_positive_int("step_size", step_size)
    return _lr0(lr0) * _nonneg("gamma", gamma) ** (_epoch(epoch) // step_size)


def exponential_lr(epoch: int, *, lr0: float, gamma: float) -> float:
    """``lr0 * gamma ** epoch`` (``ExponentialLR``)."""
    return _lr0(lr0) * _nonneg("gamma", gamma) ** _epoch(epoch)


def cosine_lr(epoch: int, *, lr0: float, t_max: int, eta_min: float = 0.0) -> float:
    """``eta_min + (lr0 - eta_min) (1 + cos(pi epoch / t_max)) / 2`` (``CosineAnnealingLR``).

    Valid for ``0 <= epoch <= t_max`` (torch's scheduler keeps following the cosine afterwards,
    rising again; this function refuses ``epoch > t_max``).
    """
    t_max = check_positive_int("t_max", t_max)
    e = _epoch(epoch)
    if e > t_max:
        raise ArgumentError("epoch", f"an epoch in [0, t_max={t_max}]", e)
    eta_min = _nonneg("eta_min", eta_min)
    return eta_min + (_lr0(lr0) - eta_min) * (1 + math.cos(math.pi * e / t_max)) / 2
