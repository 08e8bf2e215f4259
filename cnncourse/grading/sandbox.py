"""Run one student function under the grader's rules (the autograding notes of assignment a1).

:func:`call_student` = :func:`time_limit` + :func:`~cnncourse.grading.guard.forbid` + a check that
the inputs were not modified in place + a check that the result is made of plain values (no
ndarray subclass, no object with a home-made ``__eq__``).

The time limit uses ``signal.setitimer(ITIMER_REAL)``, which works in the main thread of a
process; a notebook kernel runs cells in its main thread. The timer re-fires every
:data:`REFIRE_S` seconds, so a student ``except BaseException: pass`` around a slow loop cannot
silence it, and a function that caught the timeout and returned still fails. (A loop that catches
*every* re-fire runs on until the nbgrader cell timeout, the last line of defence.) :class:`StudentTimeout` derives from ``BaseException`` so that ``except Exception`` in
student code does not catch it. Outside the main thread (or without SIGALRM) no limit is applied and
the nbgrader cell timeout remains the backstop.
"""

from __future__ import annotations

import contextlib
import inspect
import signal
import sys
import threading
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .guard import PRESETS, forbid
from .integrity import verify_tools
from .remote.client import is_remote
from .remote.wire import Ref

__all__ = ["StudentTimeout", "time_limit", "call_student", "check_plain_result", "module_gradients", "REFIRE_S"]

REFIRE_S = 0.25


class StudentTimeout(BaseException):
    """A student function ran past its time limit."""

    def __init__(self, seconds: float, what: str = "your function"):
        self.seconds = seconds
        super().__init__(f"{what} did not finish within {seconds:g} s on this test case: look for "
                         "an infinite loop, or loops over more axes than needed (vectorize the "
                         "inner loops over channels/filters with numpy)")


@contextlib.contextmanager
def time_limit(seconds: float | None, what: str = "your function") -> Iterator[None]:
    """Raise :class:`StudentTimeout` inside the block once ``seconds`` have passed.

    Restores the previous SIGALRM handler and re-arms a timer that was already running (minus the
    time spent here), so limits nest. ``None`` or ``0`` means no limit.
    """
    usable = (seconds and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    fired = []

    def _on_alarm(signum: int, frame: Any) -> None:
        fired.append(True)
        raise StudentTimeout(float(seconds), what)

    previous = signal.signal(signal.SIGALRM, _on_alarm)
    outer_left, outer_interval = signal.setitimer(signal.ITIMER_REAL, float(seconds), REFIRE_S)
    import time

    start = time.monotonic()
    try:
        yield
        if fired:  # the student caught the timeout and returned anyway
            raise StudentTimeout(float(seconds), what)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_left > 0:  # an enclosing limit was running: give it its remaining time
            remaining = max(outer_left - (time.monotonic() - start), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, remaining, outer_interval)


# ---------------------------------------------------------------------------- results
def _plain_types() -> tuple[type, ...]:
    types: list[type] = [np.ndarray, float, int, bool, complex, str, type(None)]
    torch = sys.modules.get("torch")  # a tensor can only exist once torch is imported: never import it
    if torch is not None and hasattr(torch, "Tensor"):
        types += [torch.Tensor, torch.nn.Parameter]
    return tuple(types)


def check_plain_result(value: Any, *, name: str = "result", _depth: int = 0) -> None:
    """Raise AssertionError unless ``value`` is built only from plain, honest values.

    Allowed: exactly ``np.ndarray`` (numeric/bool dtype), numpy scalars, ``int``, ``float``,
    ``bool``, ``complex``, ``str``, ``None``, exactly ``torch.Tensor``, and tuples/lists/dicts of
    these (a ``cache``). Rejected: subclasses (an ndarray subclass overriding ``__eq__``, a float
    subclass equal to everything), object arrays and any other class.
    """
    kind = type(value)
    if isinstance(value, np.generic) and kind.__module__ == "numpy":
        return
    if isinstance(value, (Ref, np.dtype)):  # a handle to the student's object (a cache), a dtype
        return
    if kind is tuple or kind is list or (isinstance(value, tuple) and hasattr(kind, "_fields")
                                          and "__eq__" not in vars(kind)):  # a namedtuple
        for i, item in enumerate(value):
            check_plain_result(item, name=f"{name}[{i}]", _depth=_depth + 1)
        return
    if kind is dict:
        for key, item in value.items():
            check_plain_result(item, name=f"{name}[{key!r}]", _depth=_depth + 1)
        return
    if kind not in _plain_types():
        if isinstance(value, np.ndarray):
            what = f"an ndarray subclass ({kind.__qualname__})"
        else:
            what = f"a {kind.__module__}.{kind.__qualname__} object"
        overrides = [m for m in ("__eq__", "__ne__", "__array_ufunc__", "__array_function__",
                                 "__torch_function__") if m in vars(kind)]
        extra = f" that overrides {', '.join(overrides)}" if overrides else ""
        raise AssertionError(f"`{name}` is {what}{extra}; return plain numpy arrays / numbers "
                             "(objects that only claim to be equal are not accepted)")
    if kind is np.ndarray and value.dtype.kind not in "biufc":
        raise AssertionError(f"`{name}` has dtype {value.dtype}; return a numeric array "
                             "(np.zeros(shape, dtype=x.dtype)), not an object array")


# ---------------------------------------------------------------------------- inputs
def _snapshots(named: list[tuple[str, Any]]) -> list[tuple[str, Any, Any]]:
    """(name, live object, private copy) for every array/tensor reachable in the inputs."""
    found: list[tuple[str, Any, Any]] = []

    def visit(label: str, value: Any, depth: int) -> None:
        if depth > 3:
            return
        if isinstance(value, np.ndarray):
            found.append((label, value, np.array(value, copy=True)))
        elif type(value).__module__.startswith("torch") and hasattr(value, "detach"):
            found.append((label, value, value.detach().clone()))
        elif isinstance(value, (tuple, list)):
            for i, item in enumerate(value):
                visit(f"{label}[{i}]", item, depth + 1)
        elif isinstance(value, dict):
            for key, item in value.items():
                visit(f"{label}[{key!r}]", item, depth + 1)

    for label, value in named:
        visit(label, value, 0)
    return found


def _changed(live: Any, copy: Any) -> tuple[int, tuple[int, ...]] | None:
    """(number of changed elements, first index) or None when ``live`` still equals ``copy``."""
    if isinstance(live, np.ndarray):
        a, b = np.asarray(live), copy
    else:
        from .devices import to_numpy

        a, b = to_numpy(live), to_numpy(copy)
    if a.shape != b.shape:
        return (max(a.size, b.size), ())
    same = (a == b) | ((a != a) & (b != b))  # NaN stays NaN
    if same.all():
        return None
    return int((~same).sum()), tuple(int(i) for i in np.argwhere(~same)[0])


def _argument_names(fn: Callable[..., Any], args: tuple[Any, ...]) -> list[str]:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    names = []
    for i in range(len(args)):
        p = params[i] if i < len(params) else None
        names.append(p.name if p is not None and p.kind in (p.POSITIONAL_ONLY,
                                                            p.POSITIONAL_OR_KEYWORD) else f"arg{i}")
    return names


def call_student(fn: Callable[..., Any], *args: Any, forbidden: Sequence[str] = (),
                 timeout: float | None = 10.0, check_inputs: bool = True,
                 check_result: bool = True, allow_inplace: Sequence[str] = (),
                 no_alias: bool | Sequence[int] = False, **kwargs: Any) -> Any:
    """Call ``fn(*args, **kwargs)`` under the grader's rules and return its result.

    Args:
        fn: the student's function.
        *args, **kwargs: its inputs (pass the grader's arrays; they are checked afterwards).
        forbidden: names or presets for :func:`~cnncourse.grading.guard.forbid`.
        timeout: seconds before :class:`StudentTimeout` (None: no limit).
        check_inputs: fail when an input array/tensor was modified in place.
        allow_inplace: argument names that may legitimately change (``running_mean``).
        check_result: fail unless the result is made of plain arrays/numbers (see
            :func:`check_plain_result`).
        no_alias: fail when a returned array shares memory with an input array (``return x``
            or a view of it, where the exercise asks for a new array). ``True`` checks every
            returned array; a sequence of ints checks only those items of a returned tuple
            (``(0,)``: the ``out`` of ``(out, cache)``, whose cache may keep ``x`` itself).

    Raises:
        StudentTimeout, ForbiddenCallError, AssertionError (input modified, result
        sharing memory with an input under ``no_alias``, dishonest result),
        ToolsModifiedError (notebook code replaced a grading/reference/numpy function, see
        :func:`~cnncourse.grading.integrity.verify_tools`), or whatever the function raised.
    """
    what = f"`{getattr(fn, '__name__', 'your function')}`"
    if is_remote(fn):  # a hidden test in the grader calling into the student's kernel
        return _call_remote(fn, args, kwargs, what=what, forbidden=forbidden, timeout=timeout,
                            check_inputs=check_inputs, allow_inplace=allow_inplace, no_alias=no_alias)
    named = list(zip(_argument_names(fn, args), args)) + list(kwargs.items())
    verify_tools()  # outside the guard, which temporarily wraps the forbidden references
    snaps = _snapshots(named) if check_inputs else []
    with time_limit(timeout, what), forbid(*forbidden):
        result = fn(*args, **kwargs)
    verify_tools()
    for label, live, copy in snaps:
        if label.split("[")[0] in allow_inplace:
            continue
        change = _changed(live, copy)
        if change is not None:
            count, first = change
            raise AssertionError(
                f"{what} modified its input `{label}` in place ({count} element(s) changed, first "
                f"at index {first}): work on a copy (x.copy()) or write "
                "into a new output array; the caller still needs the original")
    if no_alias is not False:
        outputs = _arrays_with_paths(result, "result") if type(result) in (tuple, list) else [("result", result)]
        inputs = [found for label, value in named for found in _arrays_with_paths(value, label)]
        _fail_on_aliases(what, [(out_path, in_label) for out_path, out in outputs for in_label, live in inputs
                                if _shares_memory(out, live)], no_alias)
    if check_result:
        check_plain_result(result, name=f"result of {what.strip('`')}")
    return result


def module_gradients(module: Any, x: Any, dout: Any, *, forbidden: Sequence[str] = (),
                     timeout: float | None = 10.0) -> dict[str, Any]:
    """Run a student's ``torch.nn.Module`` forward and backward: ``out = module(x)``, ``out.backward(dout)``.

    Works on a module in this process and on a handle to one in the student's kernel (there is no
    autograd across the wire, so the kernel runs both passes and returns the gradients as data).
    The forward pass runs under ``forbidden`` and ``timeout``; the backward pass outside the guard.

    Args:
        module: the student's module (or a handle to it).
        x: input tensor (it is copied; the copy gets ``requires_grad``).
        dout: gradient of the loss with respect to the output, the output's shape.

    Returns:
        ``{"out": Tensor, "dx": Tensor | None, "grads": {parameter name: Tensor | None}}``, detached.
    """
    what = f"`{getattr(module, '__name__', type(module).__name__)}`"
    names = [n for item in forbidden for n in PRESETS.get(item, (item,))]
    if is_remote(module):
        return module._channel.grad(module, x, dout, timeout=timeout, forbidden=names)
    import torch

    verify_tools()
    x = x.detach().clone().requires_grad_(True)
    for p in module.parameters():
        p.grad = None
    with time_limit(timeout, what), forbid(*forbidden):
        out = module(x)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"the module returned a {type(out).__name__}, expected a torch.Tensor")
    if out.shape != dout.shape:
        raise ValueError(f"the module's output has shape {tuple(out.shape)}, expected {tuple(dout.shape)}")
    if out.requires_grad:
        out.backward(dout.to(out.device, out.dtype))
    grads = {n: (None if p.grad is None else p.grad.detach().clone()) for n, p in module.named_parameters()}
    return {"out": out.detach(), "dx": None if x.grad is None else x.grad.detach(), "grads": grads}


# ---------------------------------------------------------------------------- aliasing
def _arrays_with_paths(value: Any, path: str, depth: int = 0) -> list[tuple[str, Any]]:
    """``(path, array)`` for every ndarray/tensor in ``value``, named as the student's kernel names
    them (``result[1][0]``, ``x``)."""
    if depth > 4:
        return []
    if isinstance(value, np.ndarray) or (type(value).__module__.startswith("torch") and hasattr(value, "detach")):
        return [(path, value)]
    if type(value) in (tuple, list):
        return [p for i, item in enumerate(value) for p in _arrays_with_paths(item, f"{path}[{i}]", depth + 1)]
    if type(value) is dict:
        return [p for k, item in value.items() for p in _arrays_with_paths(item, f"{path}[{k!r}]", depth + 1)]
    return []


def _shares_memory(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a.size > 0 and bool(np.shares_memory(a, b))
    if hasattr(a, "untyped_storage") and hasattr(b, "untyped_storage"):
        return a.numel() > 0 and a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()
    return False


def _fail_on_aliases(what: str, pairs: list[tuple[str, str]], no_alias: bool | Sequence[int]) -> None:
    """Raise for the first ``(result path, input name)`` pair that ``no_alias`` selects."""
    if no_alias is True:
        chosen = pairs
    else:
        items = tuple(f"result[{int(i)}]" for i in no_alias)
        chosen = [(o, i) for o, i in pairs if any(o == item or o.startswith(item + "[") for item in items)]
    if chosen:
        out_path, in_label = chosen[0]
        returned = "the array it returned" if out_path == "result" else f"the returned `{out_path}`"
        raise AssertionError(
            f"{what}: {returned} shares memory with its input `{in_label}` (it is that array, or a view "
            "of it): return a new array (x.copy(), or np.zeros(...) filled in), even when there is "
            "nothing to change, or a caller who later changes one silently changes the other")


def _input_name(path: str) -> str:
    """An input path of the student's kernel (``kwargs['x']``, ``args[0][1]``) as a name for messages."""
    if path.startswith("kwargs[") and "]" in path:
        key, _, rest = path[7:].partition("]")
        return key.strip("'\"") + rest
    if path.startswith("args[") and path[5:].partition("]")[0].isdigit():
        index, _, rest = path[5:].partition("]")
        return f"argument {int(index) + 1}{rest}"
    return path


def _inplace_message(what: str, label: str) -> str:
    return (f"{what} modified its input `{label}` in place: work on a copy (x.copy()) or write "
            "into a new output array; the caller still needs the original")


def _put_back(target: Any, value: Any) -> None:
    """Write the student's in-place update of an allowed argument into the grader's object."""
    if isinstance(target, np.ndarray):
        np.copyto(target, np.asarray(value, dtype=target.dtype))
    elif hasattr(target, "copy_"):
        target.detach().copy_(value if hasattr(value, "detach") else __import__("torch").as_tensor(value))


def _call_remote(fn: Any, args: tuple, kwargs: dict, *, what: str, forbidden: Sequence[str],
                 timeout: float | None, check_inputs: bool, allow_inplace: Sequence[str],
                 no_alias: bool | Sequence[int] = False) -> Any:
    """:func:`call_student` for a function living in the student's kernel.

    The shortcuts in ``forbidden`` are refused in the student's kernel during the call; the
    student's kernel reports which inputs the call changed (the grader's own arrays never
    change): an allowed one (``allow_inplace``, e.g. ``running_mean``) is copied back into the
    grader's array, any other fails the test. The kernel also reports which returned arrays share
    memory with an input (``CallResult.aliases``); under ``no_alias`` such a result fails the test.
    """
    names = [n for item in forbidden for n in PRESETS.get(item, (item,))]
    result = fn._channel.call(fn, args, kwargs, timeout=timeout, forbidden=names)
    for path, value, label in result.mutated:
        if not check_inputs:
            continue
        if label not in allow_inplace:
            raise AssertionError(_inplace_message(what, label))
        target = kwargs.get(label) if label in kwargs else None
        if target is None and path.startswith("args[") and path.endswith("]") and path[5:-1].isdigit():
            target = args[int(path[5:-1])]
        if target is not None:
            _put_back(target, value)
    if no_alias is not False:
        # the kernel names a single (non-tuple) result ``result[0]``: call it ``result`` as a local call does
        single = type(result.value) not in (tuple, list)
        pairs = [("result" + out[len("result[0]"):] if single and out.startswith("result[0]") else out,
                  _input_name(inp)) for out, inp in result.aliases]
        _fail_on_aliases(what, pairs, no_alias)
    return result.value
