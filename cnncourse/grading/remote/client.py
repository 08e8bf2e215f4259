"""The grader's side: names of the student's notebook as proxies that call into the student's kernel.

A hidden test cell runs in the grader's process, in a :class:`StudentNamespace`: a name the test
does not define itself (``conv2d_forward``, ``grad_errors``) is looked up in the student's kernel.
Plain data (numbers, strings, arrays, lists/dicts of them) comes back by value; functions,
classes and other objects come back as :class:`RemoteObject` handles, and calling one sends its
arguments as data and returns the result as data. Builtins are never looked up there, so a
student's global named ``zip`` or ``len`` cannot reach the test code.

The transport (a kernel) is given as a :class:`Channel`; see
:class:`cnncourse.course.trusted.TrustedExecute`.
"""

from __future__ import annotations

import builtins
from typing import Any, Sequence

from .wire import Code, Decoder, Encoder, Ref, WireError

__all__ = ["Channel", "RemoteObject", "StudentError", "StudentKernelDied", "StudentNamespace",
           "student_function", "is_remote", "CallResult"]


class StudentError(Exception):
    """The student's code raised: its type, message and the student's own frames."""

    def __init__(self, type_name: str, message: str, student_traceback: str = ""):
        self.type_name, self.message, self.student_traceback = type_name, message, student_traceback
        super().__init__(f"{type_name}: {message}" if message else type_name)


_AS_BUILTIN: dict[str, type] = {}


def student_error(type_name: str, message: str, student_traceback: str = "") -> StudentError:
    """A :class:`StudentError` that is also the builtin exception the student raised.

    A hidden test that expects ``ValueError`` for a bad argument (``except ValueError``) sees one
    when the student's function raised ``ValueError`` in the student's kernel. Only builtin
    ``Exception`` types are mirrored; anything else stays a plain :class:`StudentError`.
    """
    base = getattr(builtins, type_name, None)
    if (isinstance(base, type) and issubclass(base, Exception) and not issubclass(base, StudentError)
            and base.__module__ == "builtins"):
        cls = _AS_BUILTIN.get(type_name)
        if cls is None:
            cls = _AS_BUILTIN[type_name] = type(type_name, (StudentError, base), {"__module__": "student"})
        return cls(type_name, message, student_traceback)
    return StudentError(type_name, message, student_traceback)


class StudentKernelDied(StudentError):
    """The student's kernel is gone (it crashed, or ran out of memory or time in an earlier cell)."""


class CallResult:
    """What one call returned: the value, the inputs it modified ``(path, new value, parameter
    name)`` and the results that share memory with an input ``(result path, input path)``."""

    __slots__ = ("value", "mutated", "aliases")

    def __init__(self, value: Any, mutated: list[tuple[str, Any]], aliases: list[tuple[str, str]]):
        self.value, self.mutated, self.aliases = value, mutated, aliases


class Channel:
    """Sends one request document (+ arrays) to the student's kernel and returns the reply.

    Subclasses implement :meth:`exchange`; it raises :class:`StudentKernelDied` when the kernel is
    gone and :class:`~cnncourse.grading.sandbox.StudentTimeout` when ``timeout`` passes.
    """

    default_timeout = 10.0

    def exchange(self, doc: dict, arrays: dict, timeout: float) -> tuple[dict, dict]:  # pragma: no cover
        raise NotImplementedError

    # -- requests --------------------------------------------------------------------------------
    def _send(self, doc: dict, values: dict[str, Any], timeout: float | None) -> dict:
        encoder = Encoder()
        for key, value in values.items():
            doc[key] = encoder.encode(value)
        reply, arrays = self.exchange(doc, encoder.arrays, float(timeout or self.default_timeout))
        if reply.get("status") != "ok":
            raise student_error(str(reply.get("type", "Error"))[:200], str(reply.get("message", ""))[:4000],
                                str(reply.get("traceback", ""))[:6000])
        decoder = Decoder(arrays, self._ref)
        out = {}
        for key, value in reply.items():
            if key == "value":
                out[key] = decoder.decode(value)
            elif key == "mutated" and isinstance(value, list):
                out[key] = [(str(m.get("path")), decoder.decode(m.get("value")), str(m.get("name")))
                            for m in value if isinstance(m, dict)]
            elif key == "aliases" and isinstance(value, list):
                out[key] = [(str(a[0]), str(a[1])) for a in value if isinstance(a, list) and len(a) == 2]
            elif key == "found":
                out[key] = bool(value)
        return out

    def _ref(self, node: dict) -> "RemoteObject":
        if not isinstance(node.get("id"), int):
            raise WireError("malformed handle")
        return RemoteObject(self, node["id"], str(node.get("kind", ""))[:100], bool(node.get("callable")))

    def lookup(self, name: str) -> tuple[bool, Any]:
        """``(found, value)`` of the student's global ``name``."""
        reply = self._send({"op": "lookup", "name": name}, {}, None)
        return reply.get("found", False), reply.get("value")

    def call(self, target: "RemoteObject", args: Sequence[Any], kwargs: dict[str, Any], *,
             timeout: float | None = None, forbidden: Sequence[str] = ()) -> CallResult:
        reply = self._send({"op": "call", "forbidden": list(forbidden)},
                           {"target": target, "args": list(args), "kwargs": dict(kwargs)}, timeout)
        return CallResult(reply.get("value"), reply.get("mutated", []), reply.get("aliases", []))

    def grad(self, target: "RemoteObject", x: Any, dout: Any, *, timeout: float | None = None,
             forbidden: Sequence[str] = ()) -> dict:
        """``{"out", "dx", "grads"}`` of ``target(x)`` backpropagated with ``dout`` in the student's kernel."""
        reply = self._send({"op": "grad", "forbidden": list(forbidden)},
                           {"target": target, "x": x, "dout": dout}, timeout)
        return reply.get("value")

    def getattr(self, target: "RemoteObject", name: str) -> Any:
        return self._send({"op": "getattr", "name": name}, {"target": target}, None).get("value")

    def setattr(self, target: "RemoteObject", name: str, value: Any) -> None:
        self._send({"op": "setattr", "name": name}, {"target": target, "value": value}, None)

    def getitem(self, target: "RemoteObject", key: Any) -> Any:
        return self._send({"op": "getitem"}, {"target": target, "key": key}, None).get("value")


class RemoteObject(Ref):
    """A student's function, class or object, living in the student's kernel."""

    __slots__ = ("_channel", "__name__")

    def __init__(self, channel: Channel, id: int, kind: str = "", callable: bool = False):
        for slot, value in (("id", int(id)), ("kind", kind), ("callable", bool(callable)),
                            ("_channel", channel), ("__name__", kind)):
            object.__setattr__(self, slot, value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._channel.call(self, args, kwargs).value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._channel.getattr(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._channel.setattr(self, name, value)

    def __getitem__(self, key: Any) -> Any:
        return self._channel.getitem(self, key)


def is_remote(obj: Any) -> bool:
    """Is ``obj`` a handle to something in the student's kernel?"""
    return isinstance(obj, RemoteObject)


def student_function(src: str, **env: Any) -> Code:
    """A small function for the student's code to call, given as source (``"lambda z: np.sin(z)"``).

    Arguments a hidden test passes to a student function must be data; a callable such as the
    ``f`` of a numerical-gradient exercise is sent as its source and evaluated in the student's
    kernel, with ``np`` and the data in ``env`` (arrays, numbers) in scope.
    """
    return Code(src, **env)


_BUILTINS = frozenset(dir(builtins))


class StudentNamespace(dict):
    """Globals of the hidden test cells: names the tests do not define come from the student.

    The tests' own names (imports, ``_rng``, ``_want``) are ordinary entries and persist from one
    test cell to the next, as in a notebook; they never reach the student. Builtins always win
    over the student's globals. Student names are looked up again in each cell (:meth:`new_cell`),
    since the student's cells in between may have redefined them.
    """

    def __init__(self, channel: Channel, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.channel = channel
        self._cache: dict[str, Any] = {}

    def new_cell(self) -> None:
        self._cache.clear()

    def __missing__(self, name: str) -> Any:
        if name in _BUILTINS or name.startswith("__"):
            raise KeyError(name)
        if name not in self._cache:
            found, value = self.channel.lookup(name)
            if not found:
                raise KeyError(name)
            if isinstance(value, RemoteObject):
                object.__setattr__(value, "__name__", name)
            self._cache[name] = value
        return self._cache[name]

