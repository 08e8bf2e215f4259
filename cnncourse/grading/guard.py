"""Forbid named functions while a student's function runs (the autograding notes of assignment a1).

``forbid("torch.nn.functional.conv2d", "numpy.lib.stride_tricks.as_strided")`` is a context
manager. While it is active, a call to one of the named objects *made by student code* raises
:class:`ForbiddenCallError`; the same call made by the library (``cnncourse`` references, or
numpy/torch internals reached from ``cnncourse``) goes through.

Two layers, so that aliases cannot slip past:

1. **Attribute patching.** The named attribute (``torch.nn.functional.conv2d``) is replaced by a
   checking wrapper and put back on exit, even when the block raises.
2. **An identity hook** (``sys.setprofile`` plus ``threading.setprofile`` for new threads). It
   sees every Python-function start and every builtin call and compares the callee with the
   *original objects* (code objects for Python functions, identity for builtins such as
   ``torch.conv2d``). So ``from numpy.lib.stride_tricks import as_strided`` done at import time,
   a dict of functions, ``functools.partial`` or ``getattr`` tricks are all caught.

Who is "the student"? For each forbidden call the guard walks the stack from the caller upwards,
skipping *transparent* frames (the standard library, installed packages such as numpy and torch,
and this module). If the first frame left is a ``cnncourse`` module (by file location, not by the
spoofable ``__name__``) the call is the library's own business and is allowed; otherwise it comes
from the student and is refused. ``torch.nn.Conv2d(...)(x)`` called by a student therefore still
hits a forbidden ``conv2d``: torch frames are transparent, the student frame above them is not.

CPython drops a profile function that raises, so after the first refusal the hook is gone for
the rest of the block. That is why every refusal is *recorded*: if the student swallows the
error (``try: F.conv2d(...) except Exception: ...``) the guard raises again when the block
exits. Compute the expected answer with the reference *outside* the guard.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import os
import sys
import sysconfig
import threading
from types import CodeType, FrameType, FunctionType
from typing import Any, Callable, Iterator

from .registry import presets

__all__ = ["ForbiddenCallError", "forbid", "resolve_name", "PRESETS"]


class ForbiddenCallError(RuntimeError):
    """A student function called something the exercise forbids."""

    def __init__(self, name: str, where: str = "", *, caught: bool = False):
        self.name = name
        msg = (f"`{name}` is not allowed in this exercise: implement it yourself "
               f"(the point is to write the computation, not to call a library that does it)")
        if where:
            msg += f"; called from {where}"
        if caught:
            msg += "; your code called it and caught the error, which does not make it allowed"
        super().__init__(msg)


# Ready-made lists for the usual exercises, derived from the registry (one list, one place).
PRESETS: dict[str, tuple[str, ...]] = presets()


def resolve_name(name: str) -> tuple[Any, str, Any] | None:
    """Import ``name`` ("pkg.mod.attr") and return ``(owner, attr, obj)``.

    Returns None when the top-level package is not installed (nothing to forbid then).
    Raises ``ValueError`` when the package exists but the attribute does not (a typo).
    """
    parts = name.split(".")
    try:
        importlib.import_module(parts[0])
    except ImportError:
        return None
    # Longest importable module prefix, then getattr for the rest.
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:-1]:
                owner = getattr(owner, attr)
            return owner, parts[-1], getattr(owner, parts[-1])
        except AttributeError:
            break
    raise ValueError(f"`names` expected importable dotted names, got {name!r} (no such attribute)")


def _unloaded_submodule(name: str) -> str:
    """The first module on the path of ``name`` that is not imported yet ('' when all are)."""
    parts = name.split(".")
    for cut in range(1, len(parts)):
        prefix = ".".join(parts[:cut])
        module = sys.modules.get(prefix)
        if module is None:
            return prefix
        nxt = f"{prefix}.{parts[cut]}"
        if nxt not in sys.modules and not hasattr(module, parts[cut]):
            try:
                if importlib.util.find_spec(nxt) is not None:
                    return nxt
            except (ImportError, ValueError):
                pass
            return ""
        if nxt not in sys.modules:
            return ""
    return ""


# ---------------------------------------------------------------------------- frame classes
_TRUSTED, _TRANSPARENT, _STUDENT = "trusted", "transparent", "student"
_CNNCOURSE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_THIS_FILE = os.path.abspath(__file__)
_LIB_DIRS = tuple(sorted({os.path.abspath(p) + os.sep for key in ("stdlib", "platstdlib", "purelib",
                                                                   "platlib")
                          if (p := sysconfig.get_paths().get(key))}))


@functools.lru_cache(maxsize=4096)
def _classify_file(filename: str) -> str:
    if filename.startswith("<frozen"):
        return _TRANSPARENT
    path = os.path.abspath(filename) if not filename.startswith("<") else filename
    if path == _THIS_FILE:
        return _TRANSPARENT
    if path.startswith(_CNNCOURSE_DIR):
        return _TRUSTED
    if path.startswith(_LIB_DIRS) or "site-packages" in path or "dist-packages" in path:
        return _TRANSPARENT
    return _STUDENT


def _caller_verdict(frame: FrameType | None) -> tuple[bool, str]:
    """Walk up from ``frame``; return (is_student, 'file:line of the student frame')."""
    while frame is not None:
        kind = _classify_file(frame.f_code.co_filename)
        if kind == _TRUSTED:
            return False, ""
        if kind == _STUDENT:
            return True, f"{frame.f_code.co_name} ({frame.f_code.co_filename}:{frame.f_lineno})"
        frame = frame.f_back
    return False, ""


# ---------------------------------------------------------------------------- the guard state
class _Guard:
    """Process-wide state of the active ``forbid`` blocks (they nest; the union is forbidden)."""

    def __init__(self) -> None:
        self.stack: list[dict[str, Any]] = []
        self.codes: dict[CodeType, str] = {}
        self.builtins: dict[int, tuple[Any, str]] = {}
        self.violations: list[ForbiddenCallError] = []

    def rebuild(self) -> None:
        self.codes, self.builtins = {}, {}
        for layer in self.stack:
            for name, obj in layer.items():
                for code in _code_objects(obj):
                    self.codes.setdefault(code, name)
                self.builtins.setdefault(id(obj), (obj, name))

    def refuse(self, name: str, where: str) -> ForbiddenCallError:
        err = ForbiddenCallError(name, where)
        self.violations.append(err)
        return err

    def hook(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            name = self.codes.get(frame.f_code)
            if name is not None:
                student, where = _caller_verdict(frame.f_back)
                if student:
                    raise self.refuse(name, where)
        elif event == "c_call":
            hit = self.builtins.get(id(arg))
            if hit is not None and hit[0] is arg:
                student, where = _caller_verdict(frame)
                if student:
                    raise self.refuse(hit[1], where)


_GUARD = _Guard()


def _code_objects(obj: Any) -> list[CodeType]:
    """Code objects that run when ``obj`` is called (unwrapping decorators and numpy dispatchers)."""
    codes: list[CodeType] = []
    if isinstance(obj, type):
        for value in vars(obj).values():
            if isinstance(value, FunctionType):
                codes.append(value.__code__)
        return codes
    seen = 0
    while obj is not None and seen < 5:
        seen += 1
        if isinstance(obj, FunctionType):
            codes.append(obj.__code__)
        obj = getattr(obj, "__wrapped__", None) or getattr(obj, "_implementation", None)
    return codes


def _wrapper(name: str, original: Any) -> Callable[..., Any]:
    @functools.wraps(original)
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        student, where = _caller_verdict(sys._getframe(1))
        if student:
            raise _GUARD.refuse(name, where)
        return original(*args, **kwargs)

    return forbidden


@contextlib.contextmanager
def forbid(*names: str) -> Iterator[None]:
    """Make the named callables raise :class:`ForbiddenCallError` when student code calls them.

    Args:
        *names: dotted names ("torch.nn.functional.conv2d", "numpy.lib.stride_tricks.as_strided",
            "cnncourse.layers.conv2d_forward") or preset keys of :data:`PRESETS` ("conv", "pool",
            "stride_tricks", "autograd", "references"). Names in packages that are not
            imported yet are not imported for this (torch costs seconds); if the block imports
            such a package, :class:`ForbiddenCallError` is raised on exit.

    Raises:
        ForbiddenCallError: inside the block at the forbidden call, and again on exit when the
            student caught it.
        ValueError: a name whose package exists but whose attribute does not.

    Example:
        >>> with forbid("torch.nn.functional.conv2d"):
        ...     out = student_conv(x, w, b)          # doctest: +SKIP

    Introduced in the autograding notes of assignment a1_conv.
    """
    expanded: list[str] = []
    for n in names:
        expanded.extend(PRESETS.get(n, (n,)))
    layer: dict[str, Any] = {}
    patches: list[tuple[Any, str, Any]] = []
    unloaded: dict[str, str] = {}  # package not imported yet -> first forbidden name in it
    for name in expanded:
        top = name.split(".")[0]
        if top not in sys.modules:
            # Importing torch/scipy only to forbid them costs seconds per grading kernel; a
            # student function that imports them itself is refused on exit (below).
            unloaded.setdefault(top, name)
            continue
        submodule = _unloaded_submodule(name)
        if submodule:  # e.g. cnncourse.verification (imports torch): same rule as a package
            unloaded.setdefault(submodule, name)
            continue
        found = resolve_name(name)
        if found is None:
            continue
        owner, attr, obj = found
        original = getattr(obj, "__cnncourse_forbidden_original__", obj)
        layer[name] = original
        if callable(original) and not isinstance(original, type):
            patches.append((owner, attr, obj))

    prev_profile = sys.getprofile()
    prev_thread_profile = threading.getprofile()
    _GUARD.stack.append(layer)
    _GUARD.rebuild()
    n_before = len(_GUARD.violations)
    applied: list[tuple[Any, str, Any]] = []
    raised: BaseException | None = None
    try:
        for owner, attr, obj in patches:
            wrapped = _wrapper(_name_of(layer, obj), obj)
            wrapped.__cnncourse_forbidden_original__ = obj  # type: ignore[attr-defined]
            try:
                setattr(owner, attr, wrapped)
            except (AttributeError, TypeError):  # read-only (C types): the hook still catches it
                continue
            applied.append((owner, attr, obj))
        sys.setprofile(_GUARD.hook)
        threading.setprofile(_GUARD.hook)
        yield
    except BaseException as exc:
        raised = exc
        raise
    finally:
        sys.setprofile(prev_profile)
        threading.setprofile(prev_thread_profile)  # type: ignore[arg-type]
        for owner, attr, obj in reversed(applied):
            setattr(owner, attr, obj)
        _GUARD.stack.pop()
        _GUARD.rebuild()
        new = _GUARD.violations[n_before:]
        del _GUARD.violations[n_before:]
        imported = [n for top, n in unloaded.items() if top in sys.modules]
        if imported and raised is None and not new:
            raise ForbiddenCallError(imported[0], "an import made while your function ran (it "
                                     "imported a library that provides forbidden shortcuts)")
        if new and not isinstance(raised, ForbiddenCallError):
            # The student caught the refusal (and maybe failed later): report the refusal.
            raise ForbiddenCallError(new[0].name, caught=True) \
                from (raised or new[0])


def _name_of(layer: dict[str, Any], obj: Any) -> str:
    for name, value in layer.items():
        if value is obj:
            return name
    return getattr(obj, "__qualname__", repr(obj))
