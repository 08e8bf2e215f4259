"""One-call checks of a student's layer against the reference, over randomized cases.

What a hidden test cell of a layer assignment does, written once so the cell shows only what it
tests (which functions, which cases, which hints)::

    check_forward(conv2d_forward, ref_conv2d_forward, cases.conv_cases(seed=21, n=8),
                  forbidden=("conv", "references"), hints={...})
    check_backward(conv2d_forward, conv2d_backward, ref_conv2d_forward, ref_conv2d_backward,
                   cases.conv_cases(seed=22, n=7), grad=0, name="dx", forbidden=(...), hints={...})

For every case the expected answer is computed first, outside the guard (the references may use
what the student may not); the student's functions then run through :func:`call_student` (guard,
time limit, in-place and fake-equality checks) and :func:`assert_array_close` explains a mismatch,
naming the case (``"dx (stride not dividing: x (2, 3, 7, 5), w (4, 3, 3, 2), stride=(2, 3), ...)"``).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .cases import Case
from .compare import assert_array_close
from .remote.client import StudentKernelDied
from .sandbox import call_student

__all__ = ["describe_case", "check_forward", "check_backward"]


def describe_case(case: Case, *, skip: Sequence[str] = ("b",)) -> str:
    """``"<label>: x (2, 3, 6, 6), w (4, 3, 3, 3), stride=2, ..."``: arrays by shape, the rest by value."""
    parts = [f"{k} {v.shape}" if isinstance(v, np.ndarray) else f"{k}={v!r}"
             for k, v in case.items() if k not in skip]
    return f"{case.label}: {', '.join(parts)}"


def _pick(result: Any, index: int | None, what: str) -> Any:
    """``result[index]`` of a returned tuple, or a clear failure when the tuple is not one."""
    if index is None:
        return result
    if not isinstance(result, tuple) or len(result) <= index:
        got = f"a tuple of {len(result)}" if isinstance(result, tuple) else type(result).__name__
        raise AssertionError(f"{what} must return a tuple with at least {index + 1} items, got {got}")
    return result[index]


def _call(fn: Callable, case: Case, *args: Any, **kwargs: Any) -> Any:
    """:func:`call_student`, and when the student's function raises, say on which case."""
    try:
        return call_student(fn, *args, **kwargs)
    except (AssertionError, StudentKernelDied):  # a dead kernel is not the student's error on this case
        raise
    except Exception as exc:  # the student's error (remote or local): name the case that caused it
        what = getattr(fn, "__name__", "your function")
        kind = getattr(exc, "type_name", type(exc).__name__)
        message = getattr(exc, "message", str(exc))
        raise AssertionError(f"`{what}` raised {kind}{': ' + message if message else ''} "
                             f"(on the case {describe_case(case)})") from exc


def _compare(got: Any, want: Any, name: str, hints: Mapping[str, str] | None, **tol: Any) -> None:
    if want is None:  # e.g. db of a layer without bias
        assert got is None, f"`{name}` should be None here, got {type(got).__name__}"
        return
    assert_array_close(got, want, name=name, hints=hints, **tol)


def check_forward(student: Callable, reference: Callable, cases: Iterable[Case], *, output: int | None = 0,
                  name: str = "out", forbidden: Sequence[str] = (), timeout: float = 10.0,
                  hints: Mapping[str, str] | None = None, **tol: Any) -> None:
    """Assert ``student(**case)`` equals ``reference(**case)`` for every case.

    Args:
        student, reference: called with the case's keyword arguments.
        cases: :class:`~cnncourse.grading.cases.Case` objects (e.g. ``cases.conv_cases(seed, n)``).
        output: which item of the returned ``(out, cache)`` tuple to compare (None: the whole result).
        name: what the compared value is called in a failure message.
        forbidden, timeout: passed to :func:`call_student`.
        hints, **tol: passed to :func:`assert_array_close` (``rtol``, ``atol``).
    """
    what = getattr(student, "__name__", "the function")
    for case in cases:
        want = _pick(reference(**case), output, "the reference")
        got = _pick(_call(student, case, **case, forbidden=forbidden, timeout=timeout), output, what)
        _compare(got, want, f"{name} ({describe_case(case)})", hints, **tol)


def check_backward(student_forward: Callable, student_backward: Callable, reference_forward: Callable,
                   reference_backward: Callable, cases: Iterable[Case], *, grad: int | None = None,
                   name: str = "dx", forbidden: Sequence[str] = (), timeout: float = 10.0,
                   hints: Mapping[str, str] | None = None, **tol: Any) -> None:
    """Assert the student's backward pass (through the student's own cache) equals the reference's.

    Each case runs ``forward(**case) -> (out, cache)`` then ``backward(case.dout, cache)`` on both
    sides. ``grad`` picks one item of a backward returning a tuple (``(dx, dw, db)``: 0, 1 or 2);
    None compares the whole result (a backward returning ``dx`` alone). Where the reference
    gradient is None (no bias), the student's must be None too.
    """
    what = getattr(student_backward, "__name__", "the backward function")
    for case in cases:
        _, ref_cache = reference_forward(**case)
        want = _pick(reference_backward(case.dout, ref_cache), grad, "the reference")
        forward_result = _call(student_forward, case, **case, forbidden=forbidden, timeout=timeout)
        cache = _pick(forward_result, 1, getattr(student_forward, "__name__", "the forward function"))
        got = _pick(_call(student_backward, case, case.dout, cache, forbidden=forbidden, timeout=timeout),
                    grad, what)
        _compare(got, want, f"{name} ({describe_case(case)})", hints, **tol)
