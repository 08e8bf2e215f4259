"""Batch normalization for ``(N, D)`` and ``(N, C, H, W)`` inputs (lecture 4: batch normalization).

Identical to ``torch.nn.functional.batch_norm(input, running_mean, running_var, weight, bias,
training, momentum, eps)``: in training the batch mean and *biased* variance normalize, and the
running statistics are updated IN PLACE with the *unbiased* variance,
``running = (1 - momentum) * running + momentum * batch_stat``; in evaluation the running
statistics normalize and are not touched.

``momentum=None`` is ``torch.nn.BatchNorm*d(momentum=None)``: a cumulative moving average (the
running statistic is the plain mean over all training batches so far). It needs the batch count,
which torch keeps in the ``num_batches_tracked`` buffer; pass the same thing here, a 0-d integer
array updated in place (``np.zeros((), np.int64)`` to start).
"""

from __future__ import annotations

import numpy as np

from cnncourse._validate import ArgumentError, check_array, check_probability
from cnncourse.layers._checks import _float_array, _optional_vector
from cnncourse.layers.norms import _affine, _affine_backward, _check_dout, _standardize, _standardize_backward

__all__ = ["batchnorm_forward", "batchnorm_backward"]


def batchnorm_forward(x: np.ndarray, gamma: np.ndarray | None, beta: np.ndarray | None,
                      running_mean: np.ndarray | None, running_var: np.ndarray | None,
                      training: bool, momentum: float | None = 0.1, eps: float = 1e-5, *,
                      num_batches_tracked: np.ndarray | None = None) -> tuple[np.ndarray, tuple]:
    """Forward pass of batch normalization.

    Args:
        x: ``(N, D)`` (fully connected) or ``(N, C, H, W)`` (spatial; statistics over N, H, W).
            ``(N, C, L)`` works as well. Below, ``C`` means ``D`` for 2-D input.
        gamma, beta: ``(C,)`` scale and shift, or ``None``.
        running_mean, running_var: ``(C,)`` arrays updated in place when ``training``; required
            when not training; may be ``None`` in training (nothing is tracked).
        training: batch statistics (True) or running statistics (False).
        momentum: weight of the new batch statistic in the running average (torch's convention),
            or ``None`` for the cumulative average ``1 / num_batches_tracked`` (needs the counter).
        eps: added to the variance.
        num_batches_tracked: ``None`` or a 0-d integer array (torch's buffer of the same name),
            incremented in place by one on every training call; required for ``momentum=None``
            when running statistics are tracked.

    Returns:
        ``out`` with ``x``'s shape and dtype; ``cache``.
    """
    x = _float_array("x", x, ndim=(2, 3, 4))
    c = x.shape[1]
    gamma = _optional_vector("gamma", gamma, c, x)
    beta = _optional_vector("beta", beta, c, x)
    running_mean = _optional_vector("running_mean", running_mean, c, x)
    running_var = _optional_vector("running_var", running_var, c, x)
    if momentum is not None:
        momentum = check_probability("momentum", momentum, inclusive_high=True)
    if num_batches_tracked is not None:
        check_array("num_batches_tracked", num_batches_tracked, ndim=0)
        if not np.issubdtype(num_batches_tracked.dtype, np.integer):
            raise ArgumentError("num_batches_tracked", "an integer array",
                                f"dtype {num_batches_tracked.dtype}")
    axes = (0,) + tuple(range(2, x.ndim))
    bshape = (1, c) + (1,) * (x.ndim - 2)
    training = bool(training)
    if training:
        m = x.size // c
        if m < 2:
            raise ArgumentError("x", "more than 1 value per channel when training", f"shape {x.shape}")
        xhat, inv_std, mean, var = _standardize(x, axes, eps)
        if num_batches_tracked is not None:
            num_batches_tracked += 1                        # in place: a 0-d array is mutable
        if momentum is None and (running_mean is not None or running_var is not None):
            if num_batches_tracked is None:
                raise ArgumentError("num_batches_tracked", "a 0-d integer array when momentum=None "
                                    "(the cumulative average needs the batch count)", None)
            momentum = 1.0 / float(num_batches_tracked)     # cumulative moving average
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean.reshape(c)
        if running_var is not None:
            running_var *= 1 - momentum
            running_var += (momentum * m / (m - 1)) * var.reshape(c)   # unbiased estimate
    else:
        if running_mean is None or running_var is None:
            raise ArgumentError("running_mean" if running_mean is None else "running_var",
                                "a (C,) array when training=False", None)
        inv_std = (1.0 / np.sqrt(running_var + eps)).reshape(bshape)
        xhat = (x - running_mean.reshape(bshape)) * inv_std
    return _affine(xhat, gamma, beta, bshape), (xhat, inv_std, gamma, beta is not None, training, axes)


def batchnorm_backward(dout: np.ndarray, cache: tuple):
    """Backward pass of :func:`batchnorm_forward`.

    Returns:
        ``(dx, dgamma, dbeta)``: ``x``'s shape, ``(C,)``, ``(C,)`` (``None`` for absent params).
        In evaluation mode the statistics are constants, so ``dx = dout * gamma / sqrt(var + eps)``.
    """
    xhat, inv_std, gamma, has_beta, training, axes = cache
    dout = _check_dout(dout, xhat)
    bshape = (1, xhat.shape[1]) + (1,) * (xhat.ndim - 2)
    dxhat, dgamma, dbeta = _affine_backward(dout, xhat, gamma, has_beta, axes, bshape)
    if training:
        dx = _standardize_backward(dxhat, xhat, inv_std, axes)
    else:
        dx = dxhat * inv_std
    return dx, dgamma, dbeta
