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

During a ``call`` or ``grad``, the request's forbidden functions are refused to the student's code
(:class:`_Forbidden`: patched attributes plus an identity monitor, so that aliases and objects
prepared in earlier cells are refused too). It is a second line of defence in a kernel the student
controls: code that patches this module or torch's internals can defeat it; the tamper scan flags that.
"""

# (the standard library only, beyond wire's imports: this source is concatenated after wire.py's and exec'd
# as one module)
import builtins as _builtins
import os as _os
import sysconfig as _sysconfig
import threading as _threading
import traceback as _traceback
import types as _types

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


# ---------------------------------------------------------------------------- the call guard
# Bound when this source is installed, before any student cell runs: a later cell may patch
# builtins or `sys` (`builtins.id = ...`, `sys.setprofile = ...`); the guard keeps the originals.
_id, _isinstance, _vars, _callable, _RuntimeError = id, isinstance, vars, callable, RuntimeError
_getframe, _compile, _open = sys._getframe, compile, open
_setprofile, _getprofile = sys.setprofile, sys.getprofile
_thread_setprofile, _thread_getprofile = _threading.setprofile, _threading.getprofile
_FunctionType, _CodeType, _ModuleType = _types.FunctionType, _types.CodeType, _types.ModuleType
_MISSING = object()
_MONITOR_REMOVED = ("the grader's call monitor was removed during the call: not allowed (your code changed "
                    "sys.setprofile, threading.setprofile or torch's function modes)")


def _library_dir() -> str:
    """The installed ``cnncourse`` package folder (with a trailing separator; '' when there is none).

    Found once, now (before any student cell), by the import system but WITHOUT the kernel's working
    folder: a submission may ship its own ``cnncourse/`` there, which is the student's code. The real
    folder is read-only in the sandbox, so its files are the library's.
    """
    cwd = _os.path.realpath(_os.getcwd())
    saved = list(sys.path)
    sys.path[:] = [p for p in saved if p and not (_os.path.realpath(p) + _os.sep).startswith(cwd + _os.sep)]
    try:
        for finder in list(sys.meta_path):  # finders directly: sys.modules may already hold a planted one
            try:
                spec = finder.find_spec("cnncourse", None)
            except Exception:
                continue
            if spec is not None:
                places = list(spec.submodule_search_locations or ())
                return _os.path.realpath(places[0]) + _os.sep if places else ""
        return ""
    finally:
        sys.path[:] = saved


_LIBRARY = _library_dir()
_SYSTEM = tuple(sorted({_os.path.realpath(p) + _os.sep for key in ("stdlib", "platstdlib", "purelib", "platlib")
                        if (p := _sysconfig.get_paths().get(key))}))
_KINDS: dict = {}
_GENUINE: dict = {}  # file name -> the code objects compiled from it
_CHECKED: dict = {}  # id(code) -> (code, genuine?)


def _kind(filename: str) -> str:
    """'library' (under the installed package), 'transparent' (stdlib, installed packages, frozen
    importlib) or 'student' (notebook cells, ``<string>``, any file elsewhere), by file location."""
    kind = _KINDS.get(filename)
    if kind is None:
        path = filename if filename.startswith("<") else _os.path.realpath(filename)
        if _LIBRARY and path.startswith(_LIBRARY):
            kind = "library"
        elif (filename.startswith("<frozen ") or path.startswith(_SYSTEM) or "/site-packages/" in path
              or "/dist-packages/" in path):
            kind = "transparent"
        else:
            kind = "student"
        _KINDS[filename] = kind
    return kind


def _genuine(code) -> bool:
    """Is ``code`` really compiled from its library file? A cell can compile its own source under a
    library file's name (``compile(src, ".../cnncourse/x.py", "exec")``); only a code object equal to
    one of that file's own (compiled here from the file on disk, once) is the library's."""
    seen = _CHECKED.get(_id(code))
    if seen is not None and seen[0] is code:  # asked on every call for each forbidden function: cached
        return seen[1]
    filename = code.co_filename
    known = _GENUINE.get(filename)
    if known is None:
        known, todo = set(), []
        try:
            with _open(filename, "rb") as fh:
                todo.append(_compile(fh.read(), filename, "exec", dont_inherit=True))
        except Exception:  # not a readable Python file: nothing there is genuine
            pass
        while todo:
            found = todo.pop()
            known.add(found)
            todo.extend(c for c in found.co_consts if _isinstance(c, _CodeType))
        _GENUINE[filename] = known
    _CHECKED[_id(code)] = (code, code in known)
    return _CHECKED[_id(code)][1]


def _installed(code) -> bool:
    """Is ``code`` installed code (the stdlib, a package, genuine library code), not the notebook's?"""
    kind = _kind(code.co_filename)
    return kind == "transparent" or (kind == "library" and _genuine(code))


def _by_student(frame, boundary) -> bool:
    """Who made this call? Walk up from the caller's ``frame`` to ``boundary`` (the server's frame
    that called the graded target): genuine library code first means the library's own business
    (its FCN may call conv2d); the stdlib, installed packages and the guard's own helpers are looked
    through; anything else is the student's. Reaching the boundary (or a thread's top) means the
    target itself made the call: an alias, a pre-built object, code under a borrowed file name."""
    while frame is not None and frame is not boundary:
        code = frame.f_code
        if _id(code) not in _OWN_CODES:
            kind = _kind(code.co_filename)
            if kind == "library" and _genuine(code):
                return False
            if kind != "transparent":
                return True
        frame = frame.f_back
    return True


def _torch_function(mode, func, types, args=(), kwargs=None):
    """The torch function mode's handler: sees torch builtins however they are reached (from C too:
    ``functools.partial(F.conv2d)``, ``map``), which the profile hook cannot."""
    hit = mode.builtins.get(_id(func))  # every torch op passes here while the mode is on: keep it short
    if hit is not None and hit[0] is func:
        mode.guard.refuse(hit[1], _getframe(1))
    return func(*args, **kwargs) if kwargs else func(*args)


_MONITOR: list = []  # the torch function mode class, made the first time torch is there


def _monitor_class(torch):
    if not _MONITOR:
        _MONITOR.append(type("_CallMonitor", (torch.overrides.TorchFunctionMode,),
                             {"__torch_function__": _torch_function}))
    return _MONITOR[0]


class _Forbidden:
    """Refuses the named functions to the student's code for the duration of one call.

    The same design as ``cnncourse.grading.guard`` (copied, compact: this source cannot import the
    course library, which may be hidden here and is under the student's control anyway):

    1. each named module attribute (``torch.nn.functional.conv2d``) is replaced by a checking stub;
    2. an identity hook (``sys.setprofile`` + ``threading.setprofile``; for torch builtins also a
       torch function mode, which sees calls made from C) compares every call with the ORIGINAL
       objects, resolved before patching: code objects of Python functions (unwrapping
       ``__wrapped__`` and numpy's ``_implementation``) and of a class's own methods, identity of
       builtins. An alias from an earlier cell, a dict of functions, a partial, ``getattr`` by
       string or a library object built before the call are refused too.

    :func:`_by_student` decides who called. Every refusal is recorded: one the student's code caught
    still fails the call on exit, and so does a monitor the student's code removed. Names whose
    package is not imported in the kernel are skipped (importing torch costs seconds). Everything is
    put back on exit, also when the call raised.
    """

    def __init__(self, names):
        self.names = list(names or ())
        self.codes, self.builtins, self.patches, self.applied = {}, {}, [], []
        self.called, self.refusals, self.replaced = [], [], []
        self.hook = self.mode = self.boundary = self.previous = None

    def refuse(self, name, frame):
        """Raise (and record) the refusal of ``name`` (None: ``sys.setprofile``, the monitor itself)
        when the caller ``frame`` is the student's."""
        if _by_student(frame, self.boundary):
            err = _RuntimeError(_MONITOR_REMOVED if name is None else
                                f"`{name}` is not allowed in this exercise: implement it yourself")
            self.called.append(name)
            self.refusals.append(err)
            raise err

    def _stub(self, name, original):
        def refuse(*args, **kwargs):
            self.refuse(name, _getframe(1))
            return original(*args, **kwargs)
        return refuse

    @staticmethod
    def _resolve(name):
        """``(owner, attr, object)`` of a dotted name, without importing anything (module dicts are read
        directly: a lazy module ``__getattr__`` would import); None when it is not loaded."""
        parts = name.split(".")
        cut = len(parts) - 1
        while cut > 0 and ".".join(parts[:cut]) not in sys.modules:
            cut -= 1
        if cut == 0:
            return None
        value = sys.modules[".".join(parts[:cut])]
        for attr in parts[cut:]:
            owner = value
            value = (_vars(owner).get(attr, _MISSING) if _isinstance(owner, _ModuleType)
                     else getattr(owner, attr, _MISSING))
            if value is _MISSING:
                return None
        return owner, parts[-1], value

    def _register(self, name, obj):
        def add_code(fn):
            self.codes.setdefault(_id(fn.__code__), (fn.__code__, name))

        if _isinstance(obj, type):  # a class: its own methods (a pre-built instance's forward is caught)
            for value in _vars(obj).values():
                value = getattr(value, "__func__", value)  # staticmethod, classmethod
                if _isinstance(value, _FunctionType):
                    add_code(value)
            return
        inner = obj
        for _ in range(5):  # decorators and numpy's dispatchers
            if _isinstance(inner, _FunctionType):
                add_code(inner)
            inner = getattr(inner, "__wrapped__", None) or getattr(inner, "_implementation", None)
            if inner is None:
                break
        if not _isinstance(obj, _FunctionType):
            self.builtins.setdefault(_id(obj), (obj, name))

    def _make_hook(self):
        codes, builtins, refuse, get_id = self.codes, self.builtins, self.refuse, _id
        exit_code = _Forbidden.__exit__.__code__  # where the guard itself calls sys.setprofile

        def hook(frame, event, arg):  # runs on every call while the target runs: dict lookups only
            if event == "c_call":
                hit = builtins.get(get_id(arg))
                if hit is not None and hit[0] is arg and frame.f_code is not exit_code:
                    refuse(hit[1], frame)
            elif event == "call":
                code = frame.f_code
                hit = codes.get(get_id(code))
                if hit is not None and hit[0] is code:
                    refuse(hit[1], frame.f_back)
        return hook

    def __enter__(self):
        self.boundary = _getframe(1)
        for name in self.names:
            found = self._resolve(name)
            if found is None or not _callable(found[2]):
                continue
            owner, attr, obj = found
            if _isinstance(obj, _FunctionType) and not _installed(obj.__code__):
                self.replaced.append(name)  # the notebook put its own function there: the original is lost
                continue
            self._register(name, obj)
            if _isinstance(owner, _ModuleType) and not _isinstance(obj, type):
                self.patches.append((owner, attr, obj, name))
        if self.replaced:
            raise _RuntimeError(f"`{self.replaced[0]}` was replaced by your notebook's code before the grader "
                                "called your function: a forbidden function may not be patched")
        if not (self.codes or self.builtins):
            return self
        # sys.setprofile called by the student's code would remove (and maybe re-install) the monitor
        self.builtins[_id(_setprofile)] = (_setprofile, None)
        torch = sys.modules.get("torch")
        if torch is not None and any(name and name.startswith("torch.") for _, name in self.builtins.values()):
            self.mode = _monitor_class(torch)()  # only then: every torch op pays for a Python-level call
            self.mode.guard, self.mode.builtins = self, self.builtins
            torch._C._push_on_torch_function_stack(self.mode)
        for owner, attr, obj, name in self.patches:
            try:
                setattr(owner, attr, self._stub(name, obj))
            except (AttributeError, TypeError):  # read-only: the hook still catches it
                continue
            self.applied.append((owner, attr, obj))
        self.hook = self._make_hook()
        self.previous = (_getprofile(), _thread_getprofile())
        _thread_setprofile(self.hook)
        _setprofile(self.hook)
        return self

    def _remove_mode(self) -> bool:
        """Take the torch function mode off torch's stack; False when the student's code removed it
        (or left another mode on top of it)."""
        C = sys.modules["torch"]._C
        stack = [C._get_function_stack_at(i) for i in range(C._len_torch_function_stack())]
        if not any(m is self.mode for m in stack):
            return False
        while C._pop_torch_function_stack() is not self.mode:  # modes the call pushed and left
            pass
        return stack[-1] is self.mode

    def __exit__(self, exc_type, exc, tb):
        if self.hook is None:
            return False
        intact = _getprofile() is self.hook and _thread_getprofile() is self.hook
        try:
            _setprofile(self.previous[0])
            _thread_setprofile(self.previous[1])
            if self.mode is not None:
                try:
                    intact = self._remove_mode() and intact
                except Exception:  # the student's code broke torch's mode stack
                    intact = False
        finally:
            for owner, attr, obj in reversed(self.applied):
                setattr(owner, attr, obj)
        if self.refusals and not any(exc is r for r in self.refusals):
            # the student's code caught the refusal (and maybe failed later): the refusal is the answer
            raise _RuntimeError(_MONITOR_REMOVED if self.called[0] is None else
                                f"`{self.called[0]}` is not allowed in this exercise: your code called it "
                                "and caught the error, which does not make it allowed") from None
        if not intact and not self.refusals:
            raise _RuntimeError(_MONITOR_REMOVED)
        return False


_OWN_CODES = {_id(c) for c in _Forbidden._stub.__code__.co_consts if _isinstance(c, _CodeType)} | {
    _id(_torch_function.__code__)}


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
        with _Forbidden(doc.get("forbidden")):
            result = target(*args, **kwargs)
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
    with _Forbidden(forbidden):
        out = module(x)
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
