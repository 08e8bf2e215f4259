"""Private argument checks shared by the layer modules (thin wrappers over ``cnncourse._validate``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnncourse._validate import ArgumentError, check_array

__all__: list[str] = []


def _float_array(name: str, value: Any, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Return ``value`` if it is a float32/float64 ndarray with the given ndim."""
    arr = check_array(name, value, ndim=ndim, floating=True)
    if arr.dtype not in (np.float32, np.float64):
        raise ArgumentError(name, "dtype float32 or float64", arr.dtype)
    return arr


def _flag(name: str, value: Any) -> bool:
    """Return ``bool(value)`` for a Python or numpy bool; anything else is a TypeError."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` expected a bool, got {value!r} ({type(value).__name__})")
    return bool(value)


def _same_dtype(name: str, value: Any, ref: np.ndarray, ref_name: str = "x") -> np.ndarray:
    """Check ``value`` is an ndarray with ``ref``'s dtype (torch refuses mixed dtypes too)."""
    arr = check_array(name, value)
    if arr.dtype != ref.dtype:
        raise ArgumentError(name, f"dtype {ref.dtype} (the dtype of `{ref_name}`)", arr.dtype)
    return arr


def _optional_vector(name: str, value: Any, length: int, ref: np.ndarray) -> np.ndarray | None:
    """``None`` or a 1-D array of ``length`` elements with ``ref``'s dtype."""
    if value is None:
        return None
    arr = _same_dtype(name, value, ref)
    if arr.shape != (length,):
        raise ArgumentError(name, f"shape ({length},)", f"shape {arr.shape}")
    return arr


def _pad_fits(name: str, padding: tuple[int, int], kernel: tuple[int, int]) -> None:
    """Pooling rule shared with torch: padding at most half the kernel size."""
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ArgumentError(name, f"at most half of kernel_size {kernel}, i.e. <= "
                            f"{(kernel[0] // 2, kernel[1] // 2)}", padding)


def _kernel_fits(name: str, size: tuple[int, int], padding: tuple[int, int],
                 kernel: tuple[int, int], dilation: tuple[int, int]) -> None:
    """Raise unless the (dilated) kernel fits inside the padded input."""
    eff = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    padded = tuple(s + 2 * p for s, p in zip(size, padding))
    if eff[0] > padded[0] or eff[1] > padded[1]:
        raise ArgumentError(name, f"a kernel no larger than the padded input {padded} "
                            f"(effective kernel = dilation*(kernel-1)+1)", f"effective kernel {eff}")
