"""Private argument checks for torch tensors, in the message form of :mod:`cnncourse._validate`.

Every public function of :mod:`cnncourse.verification` validates at its boundary with these
helpers, so errors read ``"`scores` expected shape (n_samples,), got (3, 2)"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from cnncourse._validate import ArgumentError

_REDUCTIONS = ("mean", "sum", "none")


def _as_tensor(name: str, value: Any) -> tuple[torch.Tensor, bool]:
    """Return ``(tensor, was_numpy)``: numpy arrays and lists become CPU tensors (no copy if possible)."""
    if isinstance(value, torch.Tensor):
        return value, False
    if isinstance(value, (np.ndarray, list, tuple)):
        arr = np.asarray(value)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise TypeError(f"`{name}` expected a numeric tensor or array, got dtype {arr.dtype}")
        return torch.as_tensor(arr, device="cpu"), True
    raise TypeError(f"`{name}` expected a torch.Tensor or numpy.ndarray, got {type(value).__name__}")


def _shape(t: torch.Tensor) -> str:
    dims = tuple(t.shape)
    return f"({dims[0]},)" if len(dims) == 1 else str(dims)


def _check_embeddings(name: str, x: Any, ndim: int = 2) -> torch.Tensor:
    """A floating tensor with ``ndim`` dimensions (``(N, D)`` by default)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"`{name}` expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() != ndim:
        want = "(N, D)" if ndim == 2 else "(N,)"
        raise ArgumentError(name, f"shape {want}", _shape(x))
    if not x.is_floating_point():
        raise ArgumentError(name, "a floating-point tensor", f"dtype {x.dtype}")
    _check_not_nan(name, x)
    return x


def _check_not_nan(name: str, x: torch.Tensor) -> None:
    """Raise on NaN values; skipped on ``meta`` tensors (no data) and while compiling."""
    if x.device.type == "meta" or not x.is_floating_point() or torch.compiler.is_compiling():
        return
    if bool(torch.isnan(x).any()):
        raise ArgumentError(name, "values without NaN", f"{int(torch.isnan(x).sum())} NaN value(s)")


def _check_labels(name: str, labels: Any, n: int, *, device: torch.device | None = None) -> torch.Tensor:
    """Integer (or bool) class labels of shape ``(n,)`` (numpy accepted, moved to ``device``)."""
    t, _ = _as_tensor(name, labels)
    if t.dim() != 1:
        raise ArgumentError(name, "shape (n_samples,)", _shape(t))
    if t.is_floating_point() or t.is_complex():
        raise ArgumentError(name, "an integer or bool tensor", f"dtype {t.dtype}")
    if t.shape[0] != n:
        raise ArgumentError(name, f"length {n} (one label per sample)", f"length {t.shape[0]}")
    return t if device is None else t.to(device)


def _check_reduction(reduction: str, allowed: tuple[str, ...] = _REDUCTIONS) -> str:
    if reduction not in allowed:
        raise ArgumentError("reduction", " or ".join(repr(r) for r in allowed), repr(reduction))
    return reduction


def _check_nonnegative(name: str, value: Any) -> float:
    v = float(value)
    if not v >= 0.0:  # also rejects NaN
        raise ArgumentError(name, "a number >= 0", value)
    return v


def _reduce(loss: torch.Tensor, reduction: str, name: str) -> torch.Tensor:
    """Apply ``reduction`` to per-sample losses ``(N,)``; ``'mean'`` of nothing is an error."""
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if loss.numel() == 0:
        raise ArgumentError(name, "at least one sample for reduction='mean'", "0 samples")
    return loss.mean()


def _to_output(t: torch.Tensor, was_numpy: bool) -> torch.Tensor | np.ndarray:
    """Return a numpy array when the caller passed numpy, else the tensor itself."""
    return t.detach().cpu().numpy() if was_numpy else t


def _check_finite(name: str, t: torch.Tensor) -> None:
    if t.is_floating_point() and t.device.type != "meta":
        bad = ~torch.isfinite(t)
        if bool(bad.any()):
            n_nan = int(torch.isnan(t).sum())
            raise ArgumentError(name, "finite values",
                                f"{n_nan} NaN and {int(bad.sum()) - n_nan} infinite value(s)")


def _check_binary_scores(labels: Any, scores: Any) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Validate verification ``(labels, scores)``: 1-D, same length, binary labels, finite scores.

    Returns ``(labels as bool, scores as floating, was_numpy)`` on ``scores``' device.
    """
    s, was_numpy = _as_tensor("scores", scores)
    y, _ = _as_tensor("labels", labels)
    if s.dim() != 1:
        raise ArgumentError("scores", "shape (n_samples,)", _shape(s))
    if y.dim() != 1:
        raise ArgumentError("labels", "shape (n_samples,)", _shape(y))
    if y.shape[0] != s.shape[0]:
        raise ArgumentError("labels", f"length {s.shape[0]} (as `scores`)", f"length {y.shape[0]}")
    if not s.is_floating_point():
        s = s.to(torch.float64)
    _check_finite("scores", s)
    y = y.to(s.device)
    if y.is_floating_point():
        _check_finite("labels", y)
    if y.numel() and bool(((y != 0) & (y != 1)).any()):
        raise ArgumentError("labels", "binary values in {0, 1} (1 = same identity)",
                            f"values {torch.unique(y).tolist()[:5]}")
    return y.bool(), s, was_numpy
