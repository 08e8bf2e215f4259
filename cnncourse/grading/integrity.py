"""Refuse to grade with tools that student code has replaced (the autograding notes of assignment a1).

A student cell runs in the same process as the hidden tests, so it can rebind
``cnncourse.grading.assert_array_close`` or ``numpy.isclose`` to something that accepts anything,
or point ``cnncourse.layers.conv2d_forward`` (the reference the tests compare with) at its own
function. :func:`verify_tools` checks, every time :func:`~cnncourse.grading.call_student` or a
comparison runs, that the objects the tests use are still the genuine ones:

- **where they were defined**: a toolkit/reference function's code lies in a file of the installed
  ``cnncourse`` package, a numpy function's in numpy's; a lambda or ``def`` from a notebook cell
  lives in ``<ipython-input-...>`` / ``/tmp/ipykernel_.../...py`` and fails this check even when
  it was installed before the toolkit was first imported;
- **what they were at import**: the object is identical to the one recorded when this module was
  imported (so swapping in another genuine function, ``np.isclose = np.greater_equal``, is caught).

A failure raises :class:`ToolsModifiedError` (an ``AssertionError``), so every test that runs after
the tampering scores 0 with a message naming what was replaced. The static
:func:`~cnncourse.grading.tamper_scan` still flags the code for a human: a student who also
replaces the checkers themselves defeats this runtime check but not the scan.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from types import FunctionType, ModuleType
from typing import Any

from .registry import references

__all__ = ["ToolsModifiedError", "verify_tools", "WATCHED"]

# module -> attribute names the hidden tests rely on (checked only once the module is imported).
WATCHED: dict[str, tuple[str, ...]] = {
    "numpy": ("allclose", "isclose", "array_equal", "array_equiv", "isfinite", "isnan", "abs",
              "argwhere", "asarray", "array", "ndarray", "all", "any"),
    "numpy.testing": ("assert_allclose", "assert_array_equal", "assert_array_almost_equal",
                      "assert_equal"),
    "cnncourse.grading": ("assert_array_close", "assert_arrays_close", "check_scalar", "check_int",
                          "call_student", "forbid", "plain_array", "check_plain_result",
                          "time_limit", "cases", "verify_tools", "check_forward", "check_backward",
                          "describe_case"),
    "cnncourse.grading.layer_checks": ("check_forward", "check_backward", "describe_case",
                                       "assert_array_close", "call_student"),
    "cnncourse.grading.compare": ("assert_array_close", "plain_array", "check_scalar", "check_int"),
    "cnncourse.grading.sandbox": ("call_student", "check_plain_result", "time_limit", "forbid"),
}

for _name in references():  # every registered reference is watched too
    _module, _, _attr = _name.rpartition(".")
    WATCHED[_module] = tuple(dict.fromkeys(WATCHED.get(_module, ()) + (_attr,)))

_STDLIB = os.path.abspath(sysconfig.get_paths()["stdlib"]) + os.sep
_CNNCOURSE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_GUARD_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "guard.py")


class ToolsModifiedError(AssertionError):
    """Code in the notebook replaced a function that the tests use to grade it."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "the grader's tools were modified by code in this notebook, so this test cannot be "
            "trusted and scores 0: " + "; ".join(problems)
            + ". Remove the code that reassigns library or grading functions")


def _package_dir(module: str) -> str | None:
    top = sys.modules.get(module.split(".")[0])
    path = getattr(top, "__file__", None)
    return os.path.dirname(os.path.abspath(path)) + os.sep if path else None


def _defined_in(obj: Any) -> str | None:
    """The file that defines ``obj`` (a function, a numpy dispatcher, a class or a module)."""
    if isinstance(obj, ModuleType):
        return getattr(obj, "__file__", None)
    for _ in range(4):  # unwrap stdlib decorators (contextmanager) and numpy's dispatchers
        if isinstance(obj, FunctionType):
            where = obj.__code__.co_filename
            inner = getattr(obj, "__wrapped__", None)
            if inner is None or not os.path.abspath(where).startswith(_STDLIB):
                return where  # a wrapper written outside the stdlib answers for itself
            obj = inner
            continue
        nxt = getattr(obj, "_implementation", None)
        if nxt is None:
            break
        obj = nxt
    if isinstance(obj, type):
        mod = sys.modules.get(getattr(obj, "__module__", ""), None)
        return getattr(mod, "__file__", None)
    return None


def _origin_problem(module: str, attr: str, obj: Any) -> str:
    """'' when ``obj`` plausibly comes from ``module``'s package, else what is wrong with it."""
    if module.startswith("numpy"):
        import numpy as np

        if isinstance(obj, np.ufunc):  # C ufuncs have no file: check the name instead
            return "" if obj.__name__ in (attr, "absolute" if attr == "abs" else attr) else \
                f"is numpy.{obj.__name__}"
        if isinstance(obj, type) or type(obj).__name__ == "builtin_function_or_method":
            return "" if getattr(obj, "__module__", "") in ("numpy", "builtins") or \
                str(getattr(obj, "__module__", "")).startswith("numpy") else "is not numpy's"
        root = _package_dir("numpy")
    else:
        root = _CNNCOURSE_DIR
    where = _defined_in(obj)
    if where is None:
        return f"is a {type(obj).__name__}, not the library's function"
    if root and os.path.abspath(where).startswith(root):
        return ""
    return f"is defined in {where}"


def _unguarded(obj: Any) -> Any:
    """The original behind a wrapper that :func:`~cnncourse.grading.forbid` installed (only when
    the wrapper really is the guard's: an attribute alone proves nothing)."""
    original = getattr(obj, "__cnncourse_forbidden_original__", None)
    if original is not None and isinstance(obj, FunctionType) and \
            os.path.abspath(obj.__code__.co_filename) == _GUARD_FILE:
        return original
    return obj


class _Registry:
    """The objects seen at import time, per (module, attribute)."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], Any] = {}

    def check(self) -> list[str]:
        problems = []
        for module, attrs in WATCHED.items():
            mod = sys.modules.get(module)
            if mod is None:
                continue
            for attr in attrs:
                if not hasattr(mod, attr):
                    problems.append(f"`{module}.{attr}` was deleted")
                    continue
                obj = _unguarded(getattr(mod, attr))
                problem = _origin_problem(module, attr, obj)
                if problem:
                    problems.append(f"`{module}.{attr}` was replaced (it {problem})")
                elif self.seen.setdefault((module, attr), obj) is not obj:
                    problems.append(f"`{module}.{attr}` was replaced by another function")
        return problems


_REGISTRY = _Registry()


def verify_tools() -> None:
    """Raise :class:`ToolsModifiedError` if a function the tests rely on was replaced.

    Checks the attributes of :data:`WATCHED` of every module that is already imported (it never
    imports anything). Introduced in the autograding notes of assignment a1_conv.
    """
    problems = _REGISTRY.check()
    if problems:
        raise ToolsModifiedError(problems)
