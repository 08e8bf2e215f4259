"""Argument validation shared by the whole package.

Every public function validates at its boundary and raises ``ValueError`` (or ``TypeError``
for a wrong type) with a message of the form ``"`name` expected <what>, got <what arrived>"``.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any, Sequence

import numpy as np

__all__ = [
    "ArgumentError",
    "as_pair",
    "as_tuple",
    "check_array",
    "check_ndim",
    "check_positive_int",
    "check_probability",
    "describe",
]


class ArgumentError(ValueError):
    """A ValueError about one named argument (subclass so ``except ValueError`` still works)."""

    def __init__(self, name: str, expected: str, got: Any):
        self.name, self.expected, self.got = name, expected, got
        super().__init__(f"`{name}` expected {expected}, got {got}")


def describe(value: Any) -> str:
    """What arrived, for the "got ..." part of a message: shape and dtype of an array or tensor,
    else the value's repr and type name, e.g. ``"array of shape (3, 2) and dtype float32"``."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    shape = getattr(value, "shape", None)
    if shape is not None and hasattr(value, "dtype"):
        return f"{type(value).__name__} of shape {tuple(shape)} and dtype {value.dtype}"
    return f"{value!r} ({type(value).__name__})"


def check_array(name: str, value: Any, *, ndim: int | Sequence[int] | None = None,
                floating: bool = False) -> np.ndarray:
    """Return ``value`` if it is a numpy array with the given ndim (and a float dtype if asked)."""
    if not isinstance(value, np.ndarray):
        raise TypeError(f"`{name}` expected a numpy.ndarray, got {describe(value)}")
    if ndim is not None:
        check_ndim(name, value, ndim)
    if floating and not np.issubdtype(value.dtype, np.floating):
        raise ArgumentError(name, "a floating-point array (float32 or float64)", describe(value))
    return value


def check_ndim(name: str, value: Any, ndim: int | Sequence[int]) -> None:
    """Raise unless ``value.ndim`` is ``ndim`` (or one of them)."""
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if value.ndim not in allowed:
        want = " or ".join(f"{d}-D" for d in allowed)
        raise ArgumentError(name, f"a {want} array", f"{value.ndim}-D with shape {tuple(value.shape)}")


def check_positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """Return ``int(value)`` if it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"`{name}` expected an integer >= {minimum}, got {describe(value)}")
    if value < minimum:
        raise ArgumentError(name, f"an integer >= {minimum}", value)
    return int(value)


def as_tuple(name: str, value: Any, n: int, *, minimum: int = 0, expected: str | None = None
             ) -> tuple[int, ...]:
    """Normalise an int or a length-``n`` tuple/list of ints (torch's ``_ntuple``), each >= ``minimum``.

    ``expected`` words the "expected ..." part of a wrong length or type (default: "an int or
    ``n`` ints (one per axis)").
    """
    expected = expected or f"an int or {n} int{'s' * (n != 1)} (one per axis)"
    if isinstance(value, (tuple, list)):
        if len(value) != n:
            raise ArgumentError(name, expected, value)
        values = tuple(value)
    else:
        values = (value,) * n
    for v in values:
        if isinstance(v, bool) or not isinstance(v, Integral):
            raise TypeError(f"`{name}` expected {expected}, got {value!r}")
        if v < minimum:
            raise ArgumentError(name, f"values >= {minimum}", value)
    return tuple(int(v) for v in values)


def as_pair(name: str, value: Any, *, minimum: int = 0) -> tuple[int, int]:
    """Normalise an int or a pair of ints (torch's ``_pair``) and check each is >= ``minimum``."""
    return as_tuple(name, value, 2, minimum=minimum, expected="an int or a pair of ints")


def check_probability(name: str, value: Any, *, inclusive_high: bool = False) -> float:
    """Return ``float(value)`` if it lies in [0, 1) (or [0, 1] with ``inclusive_high``)."""
    v = float(value)
    ok = 0.0 <= v <= 1.0 if inclusive_high else 0.0 <= v < 1.0
    if not ok:
        interval = "[0, 1]" if inclusive_high else "[0, 1)"
        raise ArgumentError(name, f"a probability in {interval}", value)
    return v
