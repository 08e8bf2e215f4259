"""Compare a student's answer with the expected one and explain a failure like a TA (the autograding notes of assignment a1).

The checks run in a fixed order, each with its own message, because the first failure is the one
worth reading: **type** (a plain ``numpy.ndarray`` / ``torch.Tensor`` / number, never a subclass
or an object that only claims equality) -> **shape** (with a hint about the output-size formula)
-> **device** (torch) -> **dtype kind** -> **finiteness** -> **values** (count, max abs/rel error,
first mismatching index, and a hint when the error has a recognisable pattern).

The student's object is never asked ``==``: it is type-checked first and then copied into a plain
array, so an always-true ``__eq__`` cannot pass. Tolerances follow
:mod:`cnncourse.grading.devices`.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any, Mapping

import numpy as np

from .devices import tolerance
from .hints import shape_hint, value_hint
from .integrity import verify_tools

__all__ = ["assert_array_close", "assert_arrays_close", "check_scalar", "check_int",
           "plain_array"]

_PLAIN_SCALARS = (float, int, np.floating, np.integer)


def _fail(message: str, kind: str, hints: Mapping[str, str] | None, auto: str = "") -> None:
    advice = (hints or {}).get(kind, auto)
    raise AssertionError(message + (f": {advice}" if advice else ""))


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"{type(value).__module__}.{type(value).__qualname__} of shape {tuple(shape)}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of length {len(value)}"
    return f"a {type(value).__qualname__} ({value!r:.60})"


def _is_tensor(value: Any) -> bool:
    mod = type(value).__module__
    return mod.startswith("torch") and type(value).__name__ in ("Tensor", "Parameter")


def plain_array(value: Any, *, name: str = "output", expect: str = "numpy",
                hints: Mapping[str, str] | None = None) -> np.ndarray:
    """Return a plain ndarray copy of a student's answer, or raise a TA-style AssertionError.

    Accepts exactly ``numpy.ndarray`` (``expect="numpy"``) or exactly ``torch.Tensor``
    (``expect="torch"``), with a numeric or bool dtype. Subclasses, object arrays, lists and
    objects overriding comparisons are rejected: they could make a wrong answer look right.
    """
    if value is None:
        _fail(f"`{name}` is None", "type", hints,
              "did you forget a `return` statement (or return before filling the result)?")
    if expect == "torch":
        import torch

        if type(value) is not torch.Tensor and type(value) is not torch.nn.Parameter:
            if isinstance(value, np.ndarray):
                _fail(f"`{name}` is a numpy array, expected a torch.Tensor", "type", hints,
                      "keep the computation in torch (torch.as_tensor / tensor methods)")
            _fail(f"`{name}` is {_describe(value)}, expected a plain torch.Tensor", "type", hints)
        return value
    if type(value) is not np.ndarray:
        if isinstance(value, np.ndarray):
            _fail(f"`{name}` is an ndarray subclass ({type(value).__qualname__}), expected a plain "
                  "numpy.ndarray", "type", hints, "return np.asarray(result) of a normal array")
        if _is_tensor(value):
            _fail(f"`{name}` is a torch.Tensor, expected a numpy.ndarray", "type", hints,
                  "this exercise is in numpy; use .numpy() only if you really computed in torch")
        if isinstance(value, tuple):
            _fail(f"`{name}` is {_describe(value)}, expected one numpy.ndarray", "type", hints,
                  "did you return (out, cache) where only out is expected, or the other way round?")
        if isinstance(value, list):
            _fail(f"`{name}` is {_describe(value)}, expected a numpy.ndarray", "type", hints,
                  "build the result with np.zeros(...) / np.array(...)")
        _fail(f"`{name}` is {_describe(value)}, expected a numpy.ndarray", "type", hints)
    if value.dtype.kind not in "biufc":
        _fail(f"`{name}` has dtype {value.dtype}, expected a numeric array", "type", hints,
              "object/string arrays cannot be graded; build the result with np.zeros(..., float)")
    return np.array(value, copy=True)


def _as_expected_array(expected: Any) -> tuple[np.ndarray, str, str]:
    """The expected value as ``(array, 'numpy'|'torch', device)`` (the grader's value: trusted)."""
    if _is_tensor(expected):
        from .devices import to_numpy

        return to_numpy(expected), "torch", str(expected.device)
    return np.asarray(expected), "numpy", "cpu"


def assert_array_close(actual: Any, expected: Any, *, name: str = "output",
                       rtol: float | None = None, atol: float | None = None,
                       hints: Mapping[str, str] | None = None,
                       exact_dtype: bool = False) -> None:
    """Assert that a student's array equals the expected one, explaining the first failure.

    Args:
        actual: the student's answer: numpy.ndarray, or torch.Tensor when ``expected`` is one.
        expected: the grader's answer (from the reference implementation).
        name: what the student calls it ("out", "dx", ...), used in messages.
        rtol, atol: override the dtype/device tolerance policy (see ``devices``).
        hints: advice per failure kind ("type", "shape", "device", "dtype", "finite",
            "values") replacing the automatic hint.
        exact_dtype: require the same dtype, not only the same kind (float/int/bool).

    Raises:
        AssertionError: with a message such as "output shape (2, 3, 5, 5), expected
            (2, 3, 6, 6): check the padding term of the output size ...".

    Example:
        >>> assert_array_close(np.ones((2, 2)), np.ones((2, 2)))
    """
    verify_tools()
    if isinstance(expected, _PLAIN_SCALARS) and not isinstance(expected, (bool, np.bool_)):
        check_scalar(actual, expected, name=name, rtol=rtol, atol=atol, hints=hints)
        return
    exp, family, exp_device = _as_expected_array(expected)
    got = plain_array(actual, name=name, expect=family, hints=hints)
    device = "cpu"
    if family == "torch":
        device = str(got.device)
        if device.split(":")[0] != exp_device.split(":")[0]:
            _fail(f"`{name}` is on device {device}, expected {exp_device}", "device", hints,
                  "create new tensors with device=x.device (and dtype=x.dtype)")
        from .devices import to_numpy

        got = to_numpy(got)
    if got.shape != exp.shape:
        _fail(f"`{name}` shape {got.shape}, expected {exp.shape}", "shape", hints,
              shape_hint(got.shape, exp.shape))
    if got.dtype.kind != exp.dtype.kind and not {got.dtype.kind, exp.dtype.kind} <= {"i", "u"}:
        _fail(f"`{name}` dtype {got.dtype}, expected {exp.dtype}", "dtype", hints,
              _dtype_hint(got.dtype, exp.dtype))
    if exact_dtype and got.dtype != exp.dtype:
        _fail(f"`{name}` dtype {got.dtype}, expected exactly {exp.dtype}", "dtype", hints,
              "create the output with dtype=x.dtype")
    if got.dtype.kind in "fc":
        bad = ~np.isfinite(got) & ~(np.isnan(got) & np.isnan(exp)) & ~(got == exp)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            n_nan = int(np.isnan(got[bad]).sum())
            _fail(f"`{name}` has {int(bad.sum())} non-finite value(s) ({n_nan} NaN) where the "
                  f"expected values are finite, first at index {first}", "finite", hints,
                  "look for a division by zero, log of 0, or an np.empty that was never filled")
    r_default, a_default = tolerance(got.dtype, exp.dtype, device=device)
    rtol = r_default if rtol is None else rtol
    atol = a_default if atol is None else atol
    if got.dtype.kind == "b" or exp.dtype.kind == "b":
        close = got == exp
    else:
        close = np.isclose(got, exp, rtol=rtol, atol=atol, equal_nan=True)
    if close.all():
        return
    wrong = ~close
    first = tuple(int(i) for i in np.argwhere(wrong)[0])
    g64, e64 = got.astype(np.float64), exp.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        abs_err = np.abs(g64 - e64)
        rel_err = abs_err / np.abs(e64)
    # a relative error means nothing where the expected value is (near) zero: leave those out
    nonzero = wrong & (np.abs(e64) > atol)
    rel_text = f"{np.nanmax(rel_err[nonzero]):.3g}" if nonzero.any() else "n/a (expected values are 0 there)"
    message = (f"`{name}` values differ in {int(wrong.sum())} of {wrong.size} elements "
               f"(max abs error {np.nanmax(abs_err[wrong]):.3g}, max rel error "
               f"{rel_text}; rtol={rtol:g}, atol={atol:g}); first at index "
               f"{first}: got {got[first].item():.6g}, expected {exp[first].item():.6g}")
    _fail(message, "values", hints, value_hint(g64, e64, wrong))


def _dtype_hint(got: np.dtype, exp: np.dtype) -> str:
    if got.kind in "iub" and exp.kind == "f":
        return ("an integer/bool output truncates the values: create it with "
                "np.zeros(shape, dtype=x.dtype) rather than np.zeros_like of an int array")
    if got.kind == "f" and exp.kind in "iu":
        return "this answer is a count/index: use integer arithmetic (//) or .astype(int)"
    return "create the output with the dtype of the input"


def assert_arrays_close(actual: Any, expected: Any, *, names: tuple[str, ...] | None = None,
                        **kwargs: Any) -> None:
    """``assert_array_close`` for a tuple answer such as ``(dx, dw, db)``; checks the length first."""
    if not isinstance(actual, (tuple, list)):
        raise AssertionError(f"expected a tuple of {len(expected)} arrays {names or ''}, got "
                             f"{_describe(actual)}")
    if len(actual) != len(expected):
        raise AssertionError(f"expected a tuple of {len(expected)} values {names or ''}, got "
                             f"{len(actual)}: return all of them, in this order")
    names = names or tuple(f"output[{i}]" for i in range(len(expected)))
    for a, e, n in zip(actual, expected, names):
        if e is None:
            if a is not None:
                raise AssertionError(f"`{n}` should be None here (no bias was given), got "
                                     f"{_describe(a)}")
            continue
        assert_array_close(a, e, name=n, **kwargs)


def _as_plain_number(actual: Any, name: str, hints: Mapping[str, str] | None) -> Any:
    if type(actual) is np.ndarray and actual.shape == () and actual.dtype.kind in "iuf":
        return actual.item()
    if isinstance(actual, (bool, np.bool_)):
        _fail(f"`{name}` is a bool ({actual}), expected a number", "type", hints)
    if type(actual) not in (float, int) and not (isinstance(actual, (np.floating, np.integer))
                                                 and type(actual).__module__ == "numpy"):
        if actual is None:
            _fail(f"`{name}` is None", "type", hints, "did you forget a `return` statement?")
        _fail(f"`{name}` is {_describe(actual)}, expected a plain number", "type", hints,
              "return a Python int/float (or a numpy scalar), not an array or a custom object")
    return actual.item() if isinstance(actual, np.generic) else actual


def check_scalar(actual: Any, expected: float, *, name: str = "value", rtol: float | None = None,
                 atol: float | None = None, hints: Mapping[str, str] | None = None) -> None:
    """Assert a student's number is close to ``expected`` (float64 tolerances unless given)."""
    verify_tools()
    got = float(_as_plain_number(actual, name, hints))
    r, a = tolerance("float64")
    rtol, atol = (r if rtol is None else rtol), (a if atol is None else atol)
    if not np.isfinite(got) and np.isfinite(expected):
        _fail(f"`{name}` is {got}, expected the finite value {expected!r}", "finite", hints,
              "look for a division by zero")
    if not np.isclose(got, float(expected), rtol=rtol, atol=atol, equal_nan=True):
        _fail(f"`{name}` is {got!r}, expected {float(expected)!r} (abs error "
              f"{abs(got - float(expected)):.3g})", "values", hints)


def check_int(actual: Any, expected: int, *, name: str = "value",
              hints: Mapping[str, str] | None = None) -> None:
    """Assert a student's answer is exactly the integer ``expected`` (a float 2.0 is refused)."""
    verify_tools()
    got = _as_plain_number(actual, name, hints)
    if not isinstance(got, Integral):
        _fail(f"`{name}` is the float {got!r}, expected the integer {expected}", "type", hints,
              "use integer division // (or int(...)) so sizes stay integers")
    if int(got) != int(expected):
        diff = int(got) - int(expected)
        _fail(f"`{name}` is {int(got)}, expected {int(expected)}", "values", hints,
              "off by one: check the '+ 1' and the padding term 2*P of the output size"
              if abs(diff) == 1 else "")

