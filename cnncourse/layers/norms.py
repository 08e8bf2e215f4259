"""Layer, group and instance normalization (lecture 4: training techniques).

Semantics follow ``torch.nn.functional.layer_norm``, ``group_norm`` and ``instance_norm`` (with
``use_input_stats=True``): statistics are the mean and the *biased* variance over the normalized
axes, ``y = (x - mean) / sqrt(var + eps) * gamma + beta``. ``gamma``/``beta`` may be ``None``
(then their gradients are ``None``).
"""

from __future__ import annotations

from numbers import Integral

import numpy as np

from cnncourse._validate import ArgumentError, check_positive_int
from cnncourse.layers._checks import _float_array, _same_dtype

__all__ = [
    "layernorm_forward", "layernorm_backward",
    "groupnorm_forward", "groupnorm_backward",
    "instancenorm_forward", "instancenorm_backward",
]


def _standardize(x: np.ndarray, axes: tuple[int, ...], eps: float):
    """Return ``xhat``, ``inv_std`` (keepdims), mean and biased variance over ``axes``."""
    mean = x.mean(axis=axes, keepdims=True)
    xc = x - mean
    var = (xc * xc).mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    return xc * inv_std, inv_std, mean, var


def _standardize_backward(dxhat: np.ndarray, xhat: np.ndarray, inv_std: np.ndarray,
                          axes: tuple[int, ...]) -> np.ndarray:
    """Gradient through ``xhat = (x - mean) * inv_std`` when mean and var depend on x."""
    return inv_std * (dxhat - dxhat.mean(axis=axes, keepdims=True)
                      - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True))


def _affine_params(gamma, beta, shape, x):
    for name, v in (("gamma", gamma), ("beta", beta)):
        if v is not None:
            _same_dtype(name, v, x)
            if v.shape != tuple(shape):
                raise ArgumentError(name, f"shape {tuple(shape)}", f"shape {v.shape}")


def _check_dout(dout, xhat):
    dout = _same_dtype("dout", dout, xhat, "x")
    if dout.shape != xhat.shape:
        raise ArgumentError("dout", f"shape {xhat.shape}", f"shape {dout.shape}")
    return dout


def _affine(xhat: np.ndarray, gamma: np.ndarray | None, beta: np.ndarray | None,
            pshape: tuple[int, ...]) -> np.ndarray:
    """``xhat * gamma + beta`` (either may be ``None``), the parameters reshaped to ``pshape``."""
    out = xhat * gamma.reshape(pshape) if gamma is not None else xhat.copy()
    if beta is not None:
        out += beta.reshape(pshape)
    return out


def _affine_backward(dout: np.ndarray, xhat: np.ndarray, gamma: np.ndarray | None, has_beta: bool,
                     axes: tuple[int, ...], pshape: tuple[int, ...]):
    """Gradients of :func:`_affine`: ``(dxhat, dgamma, dbeta)``, parameters summed over ``axes``."""
    dbeta = dout.sum(axis=axes) if has_beta else None
    dgamma = (dout * xhat).sum(axis=axes) if gamma is not None else None
    dxhat = dout * gamma.reshape(pshape) if gamma is not None else dout
    return dxhat, dgamma, dbeta


def layernorm_forward(x: np.ndarray, normalized_shape: int | tuple[int, ...],
                      gamma: np.ndarray | None = None, beta: np.ndarray | None = None,
                      eps: float = 1e-5) -> tuple[np.ndarray, tuple]:
    """Layer normalization over the trailing ``normalized_shape`` dims (``F.layer_norm``).

    Args:
        x: ``(*, *normalized_shape)``, e.g. ``(N, D)`` with ``normalized_shape=D`` or ``(N, C, H, W)``
            with ``(C, H, W)``.
        gamma, beta: ``normalized_shape`` arrays or ``None``.

    Returns:
        ``out`` with ``x``'s shape and dtype; ``cache``.
    """
    x = _float_array("x", x)
    ns = (int(normalized_shape),) if isinstance(normalized_shape, Integral) else tuple(normalized_shape)
    if not ns or x.ndim < len(ns) or x.shape[x.ndim - len(ns):] != ns:
        raise ArgumentError("normalized_shape", f"the trailing dims of x's shape {x.shape}", ns)
    _affine_params(gamma, beta, ns, x)
    axes = tuple(range(x.ndim - len(ns), x.ndim))
    xhat, inv_std, _, _ = _standardize(x, axes, eps)
    return _affine(xhat, gamma, beta, ns), (xhat, inv_std, gamma, beta is not None, axes)


def layernorm_backward(dout: np.ndarray, cache: tuple):
    """Backward of :func:`layernorm_forward` -> ``(dx, dgamma, dbeta)`` (``None`` for absent params)."""
    xhat, inv_std, gamma, has_beta, axes = cache
    dout = _check_dout(dout, xhat)
    lead = tuple(range(xhat.ndim - len(axes)))
    dxhat, dgamma, dbeta = _affine_backward(dout, xhat, gamma, has_beta, lead, xhat.shape[len(lead):])
    return _standardize_backward(dxhat, xhat, inv_std, axes), dgamma, dbeta


def groupnorm_forward(x: np.ndarray, num_groups: int, gamma: np.ndarray | None = None,
                      beta: np.ndarray | None = None, eps: float = 1e-5) -> tuple[np.ndarray, tuple]:
    """Group normalization (``F.group_norm``): statistics per sample over each group of C/G channels.

    Args:
        x: ``(N, C, *)`` (e.g. ``(N, C, H, W)``); ``num_groups`` must divide ``C``.
        gamma, beta: per-channel ``(C,)`` arrays or ``None``.

    Returns:
        ``out`` with ``x``'s shape and dtype; ``cache``.
    """
    x = _float_array("x", x)
    if x.ndim < 2:
        raise ArgumentError("x", "an array of shape (N, C, *)", f"{x.ndim}-D with shape {x.shape}")
    g = check_positive_int("num_groups", num_groups)
    n, c = x.shape[:2]
    if c % g:
        raise ArgumentError("num_groups", f"a divisor of the {c} channels", g)
    _affine_params(gamma, beta, (c,), x)
    xg = x.reshape(n, g, -1)                                  # (N, G, C/G * spatial)
    xhat, inv_std, _, _ = _standardize(xg, (2,), eps)
    xhat = xhat.reshape(x.shape)
    out = _affine(xhat, gamma, beta, (1, c) + (1,) * (x.ndim - 2))
    return out, (xhat, inv_std, gamma, beta is not None, g)


def groupnorm_backward(dout: np.ndarray, cache: tuple):
    """Backward of :func:`groupnorm_forward` -> ``(dx, dgamma, dbeta)``."""
    xhat, inv_std, gamma, has_beta, g = cache
    dout = _check_dout(dout, xhat)
    n, c = xhat.shape[:2]
    axes = (0,) + tuple(range(2, xhat.ndim))
    pshape = (1, c) + (1,) * (xhat.ndim - 2)
    dxhat, dgamma, dbeta = _affine_backward(dout, xhat, gamma, has_beta, axes, pshape)
    dx = _standardize_backward(dxhat.reshape(n, g, -1), xhat.reshape(n, g, -1), inv_std, (2,))
    return dx.reshape(xhat.shape), dgamma, dbeta


def instancenorm_forward(x: np.ndarray, gamma: np.ndarray | None = None, beta: np.ndarray | None = None,
                         eps: float = 1e-5) -> tuple[np.ndarray, tuple]:
    """Instance normalization (``F.instance_norm`` with input statistics): per sample and channel.

    Equal to :func:`groupnorm_forward` with ``num_groups = C``. ``x`` is ``(N, C, *)`` with at least
    one spatial dim of more than one element in total (torch's rule); ``gamma``/``beta`` are ``(C,)``.
    """
    x = _float_array("x", x)
    if x.ndim < 3 or int(np.prod(x.shape[2:])) < 2:
        raise ArgumentError("x", "shape (N, C, *spatial) with more than 1 spatial element",
                            f"shape {x.shape}")
    return groupnorm_forward(x, x.shape[1], gamma, beta, eps)


def instancenorm_backward(dout: np.ndarray, cache: tuple):
    """Backward of :func:`instancenorm_forward` -> ``(dx, dgamma, dbeta)``."""
    return groupnorm_backward(dout, cache)
