# ruff: noqa: F821  (np, sys, WireError, Encoder, Decoder, loads, dumps come from wire.py, concatenated before this source)
"""The student's side of a graded call: runs inside the student's (sandboxed) kernel.

Its source, after :mod:`~cnncourse.grading.remote.wire`'s, is sent to the student's kernel once
per grading run and executed there as the module ``__cnncourse_rpc__`` (the kernel of a
numpy-only assignment cannot import ``cnncourse``). The grader then runs, for each request,
``__cnncourse_rpc__.serve(request_path, response_path)`` in that kernel.

A request names an operation (``lookup`` a global of the notebook, ``call`` a function or
object, ``getattr``/``getitem``/``setattr``, ``grad`` (a module's forward and backward
for given output gradients), ``release`` handles) and its inputs as plain data. The
response carries the result as plain data (objects that are not data stay here and travel as
handles), or the student's exception with the student's own frames only, plus which input
arrays the call modified in place, which results share memory with an input, and whether a
forbidden function was called. Nothing here can raise the student's score: the grader decides
from the data; this code only runs the student's functions and reports.
"""

# (no imports beyond wire's: this source is concatenated after wire.py's and exec'd as one module)
import builtins as _builtins
import traceback as _traceback

_REFS: dict = {}
_NEXT = [1]
_FILENAME = "<cnncourse-rpc>"


def _user_ns() -> dict:
    try:
        return get_ipython().user_ns  # noqa: F821 (IPython's builtin in a kernel)
    except NameError:
        import __main__
        return vars(__main__)


def _make_ref(obj):
    key = _NEXT[0]
    _NEXT[0] += 1
    _REFS[key] = obj
    return {"t": "ref", "id": key, "kind": type(obj).__name__, "callable": callable(obj)}


def _resolve_ref(node):
    try:
        return _REFS[int(node["id"])]
    except (KeyError, ValueError, TypeError):
        raise WireError(f"unknown handle {node.get('id')!r}") from None


def _make_code(src, env):
    scope = {"np": np, "numpy": np, "__builtins__": _builtins}
    scope.update(env if isinstance(env, dict) else {})
    return eval(compile(src, "<grader function>", "eval"), scope)


def _arrays_in(value, path, out, depth=0):
    if depth > 4:
        return
    if isinstance(value, np.ndarray):
        out.append((path, value))
    elif type(value) in (list, tuple):
        for i, item in enumerate(value):
            _arrays_in(item, f"{path}[{i}]", out, depth + 1)
    elif type(value) is dict:
        for key, item in value.items():
            _arrays_in(item, f"{path}[{key!r}]", out, depth + 1)
    else:
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(value, torch.Tensor):
            out.append((path, value))


def _copy(a):
    return a.detach().clone() if hasattr(a, "detach") else np.array(a, copy=True)


def _same(a, b) -> bool:
    if hasattr(a, "detach"):
        a, b = a.detach().cpu().numpy(), b.detach().cpu().numpy()
    if a.shape != b.shape:
        return False
    return bool(np.all((a == b) | ((a != a) & (b != b))))


def _shares(a, b) -> bool:
    try:
        if hasattr(a, "detach") and hasattr(b, "detach"):
            return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr() and a.numel() > 0
        if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
            return bool(np.shares_memory(a, b)) and a.size > 0
    except Exception:
        pass
    return False


class _Forbidden:
    """Replaces named functions by stubs that refuse, for the duration of one call."""

    def __init__(self, names):
        self.names, self.saved, self.called = list(names or ()), [], []

    def _stub(self, name):
        def refuse(*args, **kwargs):
            self.called.append(name)
            raise RuntimeError(f"`{name}` is not allowed in this exercise: implement it yourself")
        return refuse

    def __enter__(self):
        for name in self.names:
            module_name, _, attr = name.rpartition(".")
            module = sys.modules.get(module_name)
            if module is not None and hasattr(module, attr):
                self.saved.append((module, attr, getattr(module, attr)))
                setattr(module, attr, self._stub(name))
        return self

    def __exit__(self, *exc):
        for module, attr, value in reversed(self.saved):
            setattr(module, attr, value)
        return False


def _parameter_names(fn, count):
    import inspect
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    return [params[i].name if i < len(params) and params[i].kind in (params[i].POSITIONAL_ONLY,
            params[i].POSITIONAL_OR_KEYWORD) else f"arg{i}" for i in range(count)]


def _label(path, names):
    """``args[1][0]`` -> ``w[0]``; ``kwargs['x']`` -> ``x``: what the message calls the input."""
    if path.startswith("args["):
        index, _, rest = path[5:].partition("]")
        return (names[int(index)] if int(index) < len(names) else f"arg{index}") + rest
    if path.startswith("kwargs["):
        key, _, rest = path[7:].partition("]")
        return key.strip("'\"") + rest
    return path


def _student_traceback(exc) -> str:
    frames = [f for f in _traceback.extract_tb(exc.__traceback__) if f.filename != _FILENAME]
    lines = _traceback.format_list(frames[-8:])
    return "".join(lines) + "".join(_traceback.format_exception_only(type(exc), exc))


def _op(doc, decoder):
    op = doc.get("op")
    if op == "lookup":
        ns = _user_ns()
        name = doc.get("name")
        if not isinstance(name, str) or name not in ns:
            return {"found": False}
        return {"found": True, "value": ns[name]}  # data by value, anything else as a handle
    if op == "release":
        for key in doc.get("ids", []):
            _REFS.pop(int(key), None)
        return {}
    target = decoder.decode(doc["target"])
    if op == "getattr":
        return {"value": getattr(target, str(doc["name"]))}
    if op == "setattr":
        setattr(target, str(doc["name"]), decoder.decode(doc["value"]))
        return {}
    if op == "getitem":
        return {"value": target[decoder.decode(doc["key"])]}
    if op == "len":
        return {"value": len(target)}
    if op == "call":
        args = decoder.decode(doc.get("args", {"t": "list", "v": []}))
        kwargs = decoder.decode(doc.get("kwargs", {"t": "dict", "v": []}))
        inputs = []
        _arrays_in(list(args), "args", inputs)
        _arrays_in(dict(kwargs), "kwargs", inputs)
        before = [(path, live, _copy(live)) for path, live in inputs]
        with _Forbidden(doc.get("forbidden")) as guard:
            result = target(*args, **kwargs)
        if guard.called:
            raise RuntimeError(f"`{guard.called[0]}` is not allowed in this exercise: your code called it "
                               "and caught the error, which does not make it allowed")
        names = _parameter_names(target, len(args))
        mutated = [{"path": path, "value": live, "name": _label(path, names)}
                   for path, live, copy in before if not _same(live, copy)]
        outputs = []
        _arrays_in(result if type(result) in (list, tuple) else [result], "result", outputs)
        aliases = [[out_path, in_path] for out_path, out in outputs for in_path, live in inputs
                   if _shares(out, live)]
        return {"value": result, "mutated": mutated, "aliases": aliases}
    if op == "grad":
        return {"value": _grad(target, decoder.decode(doc["x"]), decoder.decode(doc["dout"]), doc.get("forbidden"))}
    raise WireError(f"unknown operation {op!r}")


def _grad(module, x, dout, forbidden):
    """``out = module(x)`` (under the guard), then ``out.backward(dout)`` (outside it, since the guard
    may refuse ``Tensor.backward`` itself); returns out, dL/dx and every named parameter's gradient
    (``None`` for a parameter the output does not depend on), all as data."""
    x = x.detach().clone().requires_grad_(True)
    for p in module.parameters():
        p.grad = None
    with _Forbidden(forbidden) as guard:
        out = module(x)
    if guard.called:
        raise RuntimeError(f"`{guard.called[0]}` is not allowed in this exercise: your code called it "
                           "and caught the error, which does not make it allowed")
    torch = sys.modules["torch"]
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"the module returned a {type(out).__name__}, expected a torch.Tensor")
    if out.shape != dout.shape:
        raise ValueError(f"the module's output has shape {tuple(out.shape)}, expected {tuple(dout.shape)}")
    if out.requires_grad:
        out.backward(dout.to(out.device, out.dtype))
    grads = {name: (None if p.grad is None else p.grad.detach().clone()) for name, p in module.named_parameters()}
    return {"out": out.detach(), "dx": None if x.grad is None else x.grad.detach(), "grads": grads}


def serve(request_path, response_path):
    """Answer one request file with one response file (the grader runs this in the kernel)."""
    try:
        with open(request_path, "rb") as fh:
            doc, arrays = loads(fh.read())
        decoder = Decoder(arrays, _resolve_ref, _make_code)
        reply = _op(doc, decoder)
        reply["status"] = "ok"
    except BaseException as exc:  # the student's error (or an interrupt) goes back as data
        reply = {"status": "error", "type": type(exc).__name__, "message": str(exc)[:4000],
                 "traceback": _student_traceback(exc)[-6000:]}
    encoder = Encoder(_make_ref)
    try:
        body = {k: encoder.encode(v) if k in ("value",) else v for k, v in reply.items()}
        if "mutated" in reply:
            body["mutated"] = [{"path": m["path"], "name": m["name"], "value": encoder.encode(m["value"])}
                               for m in reply["mutated"]]
        data = dumps(body, encoder.arrays)
    except BaseException as exc:
        data = dumps({"status": "error", "type": type(exc).__name__,
                      "message": f"the result could not be sent to the grader: {exc}"[:4000], "traceback": ""}, {})
    with open(response_path, "wb") as fh:
        fh.write(data)
