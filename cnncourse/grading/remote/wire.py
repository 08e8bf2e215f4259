"""The data format between the grader and a student's kernel: plain values, never code or pickles.

Both sides use this module (the student's kernel receives its *source* and executes it, because
the graded kernel of a numpy-only assignment has no ``cnncourse`` to import). It therefore
imports nothing but the standard library and numpy (torch only if the caller already has it).

A message is one ``.npz`` file written with ``numpy.savez`` and read with
``numpy.load(allow_pickle=False)``: a JSON document (member ``__json__``, UTF-8 bytes) and the
arrays it names (``a0``, ``a1``, ...). Values are encoded as tagged JSON:

- ``None``, ``bool``, ``int``, ``float`` (also nan/inf), ``complex``, ``str``, ``bytes``;
- ``list``, ``tuple``, ``dict`` (any encodable keys), ``set``; exactly these types;
- numpy arrays of numeric/bool dtype (by value), numpy scalars, ``numpy.dtype``;
- torch tensors (by value, detached; device and ``requires_grad`` recorded);
- ``{"t": "ref", "id": N}``: a handle to an object that stays on the other side (a student's
  class instance, a function, a cache holding something else), resolved when sent back;
- ``{"t": "code", ...}``: only grader -> student: a small function given as source (e.g. the
  ``f`` of a numerical-gradient exercise), evaluated in the student's kernel.

Decoding checks every tag, every type and the total size, and rejects anything else.
"""

from __future__ import annotations

import io
import json
import sys

import numpy as np

MAX_DEPTH = 32
MAX_ITEMS = 200_000
MAX_BYTES = 1 << 30  # 1 GiB of array data per message


class WireError(ValueError):
    """A message that is not in the format (too deep, too large, an unknown tag, a bad array)."""


class Ref:
    """A handle to an object that lives on the other side of the wire."""

    __slots__ = ("id", "kind", "callable")

    def __init__(self, id: int, kind: str = "", callable: bool = False):
        self.id, self.kind, self.callable = int(id), str(kind), bool(callable)

    def __repr__(self) -> str:
        return f"<remote {self.kind or 'object'} #{self.id}>"


class Code:
    """A function given as source, evaluated on the student's side with numpy as ``np``.

    Called directly (a notebook run outside the grader), it evaluates the source here.
    """

    __slots__ = ("src", "env", "_fn")

    def __init__(self, src: str, **env):
        self.src, self.env, self._fn = str(src), env, None

    def __call__(self, *args, **kwargs):
        if self._fn is None:
            self._fn = eval(compile(self.src, "<grader function>", "eval"), {"np": np, "numpy": np, **self.env})
        return self._fn(*args, **kwargs)

    def __repr__(self) -> str:
        return self.src


_NUMERIC = "biufc"


def _torch():
    return sys.modules.get("torch")


class Encoder:
    """Turns a value into tagged JSON plus arrays; objects it cannot send become refs."""

    def __init__(self, make_ref=None):
        self.arrays: dict[str, np.ndarray] = {}
        self.make_ref = make_ref
        self.count = 0

    def _array(self, a: np.ndarray) -> str:
        key = f"a{len(self.arrays)}"
        self.arrays[key] = a if a.flags.c_contiguous else np.ascontiguousarray(a)  # keeps 0-d arrays 0-d
        return key

    def _ref(self, value):
        if isinstance(value, Ref):
            return {"t": "ref", "id": value.id}
        if self.make_ref is None:
            raise WireError(f"cannot send a {type(value).__module__}.{type(value).__qualname__} object")
        return self.make_ref(value)

    def encode(self, value, depth: int = 0, seen: frozenset = frozenset()):
        self.count += 1
        if depth > MAX_DEPTH or self.count > MAX_ITEMS:
            raise WireError("value too deep or too large to send")
        kind = type(value)
        if value is None:
            return {"t": "none"}
        if kind is bool:
            return {"t": "bool", "v": value}
        if kind is int:
            return {"t": "int", "v": str(value)}
        if kind is float:
            return {"t": "float", "v": repr(value)}
        if kind is complex:
            return {"t": "complex", "v": [repr(value.real), repr(value.imag)]}
        if kind is str:
            return {"t": "str", "v": value}
        if kind is bytes:
            return {"t": "bytes", "k": self._array(np.frombuffer(value, dtype=np.uint8))}
        if kind is Code:
            return {"t": "code", "src": value.src, "env": self.encode(value.env, depth + 1, seen)}
        if kind in (list, tuple, set, frozenset, dict):
            if id(value) in seen:
                return self._ref(value)
            inner = seen | {id(value)}
            if kind is dict:
                items = [[self.encode(k, depth + 1, inner), self.encode(v, depth + 1, inner)]
                         for k, v in value.items()]
                return {"t": "dict", "v": items}
            tag = {list: "list", tuple: "tuple", set: "set", frozenset: "set"}[kind]
            return {"t": tag, "v": [self.encode(v, depth + 1, inner) for v in value]}
        if kind is np.ndarray or (isinstance(value, np.ndarray) and kind.__module__.startswith("numpy")):
            a = np.asarray(value)
            if a.dtype.kind not in _NUMERIC:
                return self._ref(value)
            return {"t": "nd", "k": self._array(a)}
        if isinstance(value, np.generic) and kind.__module__ == "numpy":
            if np.asarray(value).dtype.kind not in _NUMERIC:
                return self._ref(value)
            return {"t": "npscalar", "k": self._array(np.asarray(value))}
        if isinstance(value, np.dtype):
            if value.kind not in _NUMERIC:
                return self._ref(value)
            return {"t": "dtype", "v": value.str}
        torch = _torch()
        if torch is not None and kind in (torch.Tensor, torch.nn.Parameter):
            t = value.detach()
            if t.dtype == torch.bfloat16:
                t = t.float()
            return {"t": "tensor", "k": self._array(t.cpu().numpy()), "device": str(value.device),
                    "grad": bool(value.requires_grad), "param": kind is torch.nn.Parameter}
        if torch is not None and kind is torch.dtype:
            return {"t": "tdtype", "v": str(value).replace("torch.", "")}
        return self._ref(value)


def dumps(doc: dict, arrays: dict[str, np.ndarray]) -> bytes:
    """One message: the JSON document and its arrays, as ``.npz`` bytes."""
    buf = io.BytesIO()
    np.savez(buf, __json__=np.frombuffer(json.dumps(doc).encode(), dtype=np.uint8), **arrays)
    return buf.getvalue()


def loads(data: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """Parse a message (never unpickles); returns the JSON document and the arrays."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            names = list(z.files)
            if "__json__" not in names:
                raise WireError("message without a __json__ member")
            total = 0
            arrays = {}
            for name in names:
                a = z[name]
                if a.dtype.kind not in _NUMERIC:
                    raise WireError(f"array {name!r} has dtype {a.dtype}")
                total += a.nbytes
                if total > MAX_BYTES:
                    raise WireError("message too large")
                arrays[name] = a
    except WireError:
        raise
    except Exception as exc:  # a truncated or forged file
        raise WireError(f"unreadable message: {type(exc).__name__}: {exc}") from None
    doc = json.loads(arrays.pop("__json__").tobytes().decode("utf-8"))
    if not isinstance(doc, dict):
        raise WireError("message document is not an object")
    return doc, arrays


class Decoder:
    """Turns tagged JSON plus arrays back into values; refs go through ``resolve_ref``."""

    def __init__(self, arrays: dict[str, np.ndarray], resolve_ref, make_code=None, torch_ok: bool = True):
        self.arrays, self.resolve_ref, self.make_code, self.torch_ok = arrays, resolve_ref, make_code, torch_ok
        self.count = 0

    def _array(self, node) -> np.ndarray:
        key = node.get("k")
        if not isinstance(key, str) or key not in self.arrays:
            raise WireError(f"unknown array {key!r}")
        return self.arrays[key]

    def decode(self, node, depth: int = 0):
        self.count += 1
        if depth > MAX_DEPTH or self.count > MAX_ITEMS:
            raise WireError("value too deep or too large")
        if not isinstance(node, dict) or not isinstance(node.get("t"), str):
            raise WireError(f"malformed value {str(node)[:80]!r}")
        t, v = node["t"], node.get("v")
        if t == "none":
            return None
        if t == "bool" and isinstance(v, bool):
            return v
        if t == "int" and isinstance(v, str) and len(v) < 5000:
            return int(v)
        if t == "float" and isinstance(v, str):
            return float(v)
        if t == "complex" and isinstance(v, list) and len(v) == 2:
            return complex(float(v[0]), float(v[1]))
        if t == "str" and isinstance(v, str):
            return v
        if t == "bytes":
            return self._array(node).astype(np.uint8).tobytes()
        if t in ("list", "tuple", "set") and isinstance(v, list):
            items = [self.decode(x, depth + 1) for x in v]
            return {"list": list, "tuple": tuple, "set": set}[t](items)
        if t == "dict" and isinstance(v, list):
            out = {}
            for pair in v:
                if not isinstance(pair, list) or len(pair) != 2:
                    raise WireError("malformed dict item")
                out[self.decode(pair[0], depth + 1)] = self.decode(pair[1], depth + 1)
            return out
        if t == "nd":
            return np.array(self._array(node), copy=True)
        if t == "npscalar":
            return self._array(node)[()]
        if t == "dtype" and isinstance(v, str):
            return np.dtype(v)
        if t == "tensor":
            a = np.array(self._array(node), copy=True)
            torch = sys.modules.get("torch") if self.torch_ok else None
            if torch is None:
                return a
            out = torch.from_numpy(a)
            device = node.get("device", "cpu")
            if isinstance(device, str) and device != "cpu":
                try:
                    out = out.to(device)
                except Exception:
                    pass
            if node.get("param"):
                return torch.nn.Parameter(out, requires_grad=bool(node.get("grad")))
            return out.requires_grad_(True) if node.get("grad") and out.is_floating_point() else out
        if t == "tdtype" and isinstance(v, str):
            torch = sys.modules.get("torch")
            if torch is None or not isinstance(getattr(torch, v, None), torch.dtype):
                raise WireError(f"unknown torch dtype {v!r}")
            return getattr(torch, v)
        if t == "ref":
            return self.resolve_ref(node)
        if t == "code" and self.make_code is not None and isinstance(node.get("src"), str):
            return self.make_code(node["src"], self.decode(node.get("env", {"t": "dict", "v": []}), depth + 1))
        raise WireError(f"unknown or malformed tag {t!r}")
