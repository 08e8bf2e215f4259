"""A single sigmoid neuron trained by gradient descent, with weight decay (lecture 01).

The slides' notation: inputs (features) ``z`` of ``D`` dims, weights ``w = (w_0, w_1, ..., w_D)``
with ``w_0`` the bias (``z_0 = 1``), activation ``a = w_0 + sum_d w_d z_d`` and output
``x = 1 / (1 + exp(-a))`` in ``(0, 1)``, read as the probability of class 1. Training data are
``N`` inputs ``z (N, D)`` with labels ``t (N,)`` in ``{0, 1}``.

- objective   ``G(w) = -sum_n [t_n log x_n + (1 - t_n) log(1 - x_n)]``  (the network's surprise)
- regulariser ``E(w) = 1/2 sum_i w_i^2`` (all weights, the bias included, as on the slide)
- total       ``M(w) = G(w) + alpha E(w)``
- gradient    ``dM/dw = -sum_n (t_n - x_n) z_n + alpha w`` = prediction error x feature + decay
- update      ``w <- w - eta dM/dw``
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnncourse._validate import ArgumentError, check_array, check_positive_int
from cnncourse.layers.activations import sigmoid_forward
from cnncourse.layers.losses import binary_cross_entropy_with_logits

__all__ = ["NeuronTrace", "neuron_forward", "neuron_objective", "train_neuron"]


@dataclass(frozen=True)
class NeuronTrace:
    """What :func:`train_neuron` records: ``weights (steps + 1, D + 1)`` and ``objective (steps + 1,)``.

    Row ``s`` holds the weights after ``s`` gradient steps and ``M(w)`` at those weights.
    """

    weights: np.ndarray
    objective: np.ndarray


def _inputs(z, w) -> tuple[np.ndarray, np.ndarray]:
    z = check_array("z", z, ndim=2).astype(np.float64, copy=False)
    w = check_array("w", w, ndim=1).astype(np.float64, copy=False)
    if w.shape[0] != z.shape[1] + 1:
        raise ArgumentError("w", f"shape (D + 1,) = ({z.shape[1] + 1},): the bias w_0, then one weight "
                            "per input dim", f"shape {w.shape}")
    return z, w


def _labels(t, n: int) -> np.ndarray:
    t = check_array("t", t, ndim=1)
    if t.shape[0] != n:
        raise ArgumentError("t", f"shape ({n},), one label per row of z", f"shape {t.shape}")
    if not np.isin(t, (0, 1)).all():
        raise ArgumentError("t", "labels in {0, 1}", f"values {np.unique(t)[:5].tolist()}")
    return t.astype(np.float64)


def _activation(z: np.ndarray, w: np.ndarray) -> np.ndarray:
    return w[0] + z @ w[1:]                                   # (N,) a = w_0 + sum_d w_d z_d


def neuron_forward(z: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Output ``x = sigmoid(w_0 + z @ w[1:])`` of the neuron.

    Args:
        z: ``(N, D)`` inputs; w: ``(D + 1,)`` weights, ``w[0]`` the bias.

    Returns:
        ``(N,)`` float64 in ``(0, 1)``.
    """
    z, w = _inputs(z, w)
    return sigmoid_forward(_activation(z, w))[0]


def neuron_objective(w: np.ndarray, z: np.ndarray, t: np.ndarray, *,
                     alpha: float = 0.0) -> tuple[float, np.ndarray]:
    """``M(w) = G(w) + alpha E(w)`` and its gradient ``-sum_n (t_n - x_n) [1, z_n] + alpha w``.

    Args:
        w: ``(D + 1,)`` weights (bias first); z: ``(N, D)`` inputs; t: ``(N,)`` labels in {0, 1}.
        alpha: weight-decay strength ``>= 0``.

    Returns:
        ``(M, grad)``: a float and a ``(D + 1,)`` float64 array.
    """
    z, w = _inputs(z, w)
    t = _labels(t, z.shape[0])
    alpha = float(alpha)
    if not alpha >= 0:
        raise ArgumentError("alpha", "a weight-decay strength >= 0", alpha)
    g, da = binary_cross_entropy_with_logits(_activation(z, w), t, reduction="sum")  # da = x - t
    features = np.concatenate([np.ones((z.shape[0], 1)), z], axis=1)   # (N, D + 1), z_0 = 1
    grad = features.T @ da + alpha * w                        # prediction error x feature + decay
    return float(g) + 0.5 * alpha * float(w @ w), grad


def train_neuron(z: np.ndarray, t: np.ndarray, *, lr: float, steps: int, alpha: float = 0.0,
                 w_init: np.ndarray | None = None) -> NeuronTrace:
    """Full-batch gradient descent ``w <- w - lr * dM/dw`` for ``steps`` steps.

    Args:
        z: ``(N, D)`` inputs; t: ``(N,)`` labels in {0, 1}.
        lr: step size ``eta > 0``.
        steps: number of updates.
        alpha: weight decay (see :func:`neuron_objective`).
        w_init: ``(D + 1,)`` start weights; default zeros.

    Returns:
        :class:`NeuronTrace` with every intermediate weight vector (to plot the decision boundary
        ``w_0 + w . z = 0`` moving) and the objective.
    """
    z = check_array("z", z, ndim=2)
    w = np.zeros(z.shape[1] + 1) if w_init is None else np.array(w_init, dtype=np.float64)
    steps = check_positive_int("steps", steps, minimum=0)
    lr = float(lr)
    if not lr > 0:
        raise ArgumentError("lr", "a step size > 0", lr)
    weights, objective = [], []
    for _ in range(steps + 1):
        m, grad = neuron_objective(w, z, t, alpha=alpha)
        weights.append(w.copy())
        objective.append(m)
        w = w - lr * grad
    return NeuronTrace(np.stack(weights), np.array(objective))
