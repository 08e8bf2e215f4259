"""Devices, seeds and the tolerance policy of the autograder (the autograding notes of assignment a1).

Tolerance policy
----------------
A student's answer ``a`` matches the expected ``e`` elementwise when

    |a - e| <= atol + rtol * |e|            (numpy.isclose / torch.testing form)

with ``(rtol, atol)`` chosen from the *less precise* dtype of the two and the device:

============  ==========  ==========  ==================================================
dtype         rtol        atol        why
============  ==========  ==========  ==================================================
float64       1e-7        1e-9        a loop and a vectorized sum differ by ~1e-13 in
                                      the sizes we grade; a real bug is off by O(1e-1)
float32       1e-4        1e-5        24-bit mantissa, sums of a few hundred terms
float16       1e-2        1e-3        11-bit mantissa
bfloat16      3e-2        1e-2        8-bit mantissa
integers      0           0           exact (output sizes, indices, counts)
bool          0           0           exact (masks)
============  ==========  ==========  ==================================================

On CUDA, float tolerances are multiplied by :data:`CUDA_FACTOR` (10): reductions run in a different
order, atomics make them nondeterministic, and fused kernels round differently. Graded torch code
runs inside :func:`deterministic_torch`, which switches TF32 off (TF32 matmuls/convolutions on
Ampere+ GPUs carry only a 10-bit mantissa and would need float16-like tolerances) and asks for
deterministic algorithms. An exercise may pass explicit ``rtol``/``atol`` to override the table,
e.g. for a numeric gradient check (``rel_error < 1e-7`` in float64, CS231n style).

Seeds
-----
:func:`seed_everything` seeds ``random``, numpy's legacy global state and torch (all devices) and
returns a fresh ``numpy.random.Generator``; case generators take their own ``seed`` argument so a
test does not depend on what ran before it.
"""

from __future__ import annotations

import contextlib
import random
from typing import Any, Iterator

import numpy as np

__all__ = ["TOLERANCES", "CUDA_FACTOR", "tolerance", "available_devices", "seed_everything",
           "deterministic_torch", "to_numpy", "to_torch"]

TOLERANCES: dict[str, tuple[float, float]] = {
    "float64": (1e-7, 1e-9),
    "float32": (1e-4, 1e-5),
    "float16": (1e-2, 1e-3),
    "bfloat16": (3e-2, 1e-2),
}
CUDA_FACTOR = 10.0


def _dtype_name(dtype: Any) -> str:
    """'float32' for np.float32, np.dtype('float32'), torch.float32 or 'float32'."""
    text = str(dtype)
    text = text.removeprefix("torch.")
    if text in TOLERANCES or text.startswith(("int", "uint", "bool", "complex")):
        return text
    try:
        return np.dtype(dtype).name
    except TypeError:
        return text


def tolerance(*dtypes: Any, device: str = "cpu") -> tuple[float, float]:
    """Return ``(rtol, atol)`` for comparing values of the given dtype(s) on ``device``.

    Args:
        *dtypes: one or more numpy/torch dtypes (or their names); the loosest entry wins.
        device: "cpu" or "cuda" (a "cuda:1" style index is fine).

    Returns:
        ``(rtol, atol)``; ``(0.0, 0.0)`` for integer and bool dtypes.
    """
    rtol = atol = 0.0
    for dtype in dtypes or ("float64",):
        name = _dtype_name(dtype)
        if name.startswith("complex"):
            name = "float64" if name == "complex128" else "float32"
        r, a = TOLERANCES.get(name, (0.0, 0.0))
        rtol, atol = max(rtol, r), max(atol, a)
    if str(device).startswith("cuda"):
        rtol, atol = rtol * CUDA_FACTOR, atol * CUDA_FACTOR
    return rtol, atol


def available_devices() -> list[str]:
    """``["cpu"]`` plus ``"cuda"`` when torch sees a GPU (torch optional)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return ["cpu"]
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def seed_everything(seed: int) -> np.random.Generator:
    """Seed python, numpy (legacy global) and torch (every device); return ``default_rng(seed)``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:  # pragma: no cover
        pass
    else:
        torch.manual_seed(seed)  # also seeds every CUDA device
    return np.random.default_rng(seed)


@contextlib.contextmanager
def deterministic_torch() -> Iterator[None]:
    """Turn off TF32 and cuDNN autotuning, ask for deterministic algorithms; restore on exit."""
    import torch

    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
             torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic,
             torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled())
    try:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True, warn_only=True)
        yield
    finally:
        (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
         torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic) = saved[:4]
        torch.use_deterministic_algorithms(saved[4], warn_only=saved[5])


def to_torch(x: np.ndarray, device: str = "cpu", dtype: Any = None) -> Any:
    """A new torch tensor holding a copy of ``x`` on ``device`` (optionally cast to ``dtype``)."""
    import torch

    t = torch.tensor(np.ascontiguousarray(x), device=device)
    return t if dtype is None else t.to(dtype)


def to_numpy(t: Any) -> np.ndarray:
    """A numpy copy of a tensor on any device (detached, bfloat16 widened to float32)."""
    import torch

    if isinstance(t, np.ndarray):
        return t.copy()
    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.numpy().copy()
