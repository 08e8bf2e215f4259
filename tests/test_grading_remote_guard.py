"""The kernel-side refusal of forbidden calls (remote/server.py's guard), through a real grading kernel.

One kernel for the module, started as the autograder starts it: the grading kernelspec, inside the
bubblewrap sandbox where this machine has one (else unsandboxed), with assignment a6's hidden modules
(the course library is importable read-only there), the server installed as ``TrustedExecute``
installs it, and hidden-test calls made with ``call_student`` over request/response files. The
student's cells run in that kernel, so the shortcuts they prepare (an alias imported in an earlier
cell, a partial, a library network built before the call) are exactly what a submission can do.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from cnncourse.course.bwrap import bwrap_available
from cnncourse.course.kernel import GRADING_KERNEL, write_kernelspec
from cnncourse.grading import call_student
from cnncourse.grading.registry import hidden_modules
from cnncourse.grading.remote import Channel, StudentError, server_source
from cnncourse.grading.remote.wire import dumps, loads

_RPC = "__cnncourse_rpc__"

# The student's notebook: shortcuts prepared in earlier cells, then the functions the tests call.
_CELLS = [
    """
import functools, sys, threading
import numpy as np, torch
import torch.nn.functional as F
from torch.nn.functional import conv2d as c                       # an alias imported in an earlier cell
from numpy.lib.stride_tricks import sliding_window_view as swv
import cnncourse, cnncourse.layers, cnncourse.segmentation
from cnncourse.layers import conv2d_forward as my_conv           # a reference under another name
fns = {"c": F.conv2d}                                             # a dict of functions
pc = functools.partial(F.conv2d)                                  # a partial, built before the call
torch.manual_seed(0)
lib_net = cnncourse.segmentation.FCN(1, 2, width=2, depth=2)     # the library's network, built before
x0 = torch.randn(1, 1, 4, 4)
w0 = torch.randn(2, 1, 3, 3)
expected_seg = lib_net(x0).detach()
xn = np.arange(32.0).reshape(1, 2, 4, 4)
wn = np.ones((3, 2, 2, 2))
expected_ref = cnncourse.layers.conv2d_forward(xn, wn)[0]
""",
    """
def conv_alias(x, w):
    return c(x, w)

def conv_dict(x, w):
    return fns["c"](x, w)

def conv_partial(x, w):
    return pc(x, w)

def conv_getattr(x, w):
    return getattr(torch, "con" + "v2d")(x, w)

def conv_module(x, w):
    layer = torch.nn.Conv2d(1, 2, 3, bias=False)
    return layer(x)

def segment(x):
    return lib_net(x)

def conv_reference(x, w):
    return my_conv(x, w)[0]

def windows(x):
    return swv(x, (2, 2), axis=(-2, -1)).sum(axis=(-2, -1))

def swallow(x, w):
    try:
        c(x, w)
    except Exception:
        pass
    return torch.zeros(1, 2, 2, 2)

def in_thread(x, w):
    out = []
    worker = threading.Thread(target=lambda: out.append(c(x, w)))
    worker.start()
    worker.join()
    return torch.zeros(1, 2, 2, 2)

def unhook(x):
    functools.partial(sys.setprofile, None)()        # called from C: the hook does not see this call
    return swv(x, (2, 2), axis=(-2, -1)).sum(axis=(-2, -1))

def unhook_and_restore(x):
    monitor = sys.getprofile()
    sys.setprofile(None)
    out = swv(x, (2, 2), axis=(-2, -1)).sum(axis=(-2, -1))
    sys.setprofile(monitor)
    return out

def unhook_torch(x, w):
    functools.partial(sys.setprofile, None)()
    return c(x, w)

def reference_allowed(x, w):
    return cnncourse.layers.conv2d_forward(x, w)[0]   # it uses sliding_window_view itself

def relu_sum(x):
    return torch.relu(x).sum(dim=1)
""",
    # code compiled under a library file's name, and under an installed package's name
    """
import os
_lib_file = os.path.join(os.path.dirname(cnncourse.__file__), "layers", "conv.py")
_scope = {"c": c}
exec(compile("def spoofed(x, w):\\n    return c(x, w)\\n", _lib_file, "exec"), _scope)
spoofed = _scope["spoofed"]
_site = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "spoofed_helper.py")
exec(compile("def spoofed_site(x, w):\\n    return c(x, w)\\n", _site, "exec"), _scope)
spoofed_site = _scope["spoofed_site"]
""",
]


class _Kernel(Channel):
    """The real channel's shape: request/response files in the scratch folder, ``serve`` run in the kernel."""

    def __init__(self, kc, folder: Path):
        self.kc, self.folder, self.count = kc, folder, 0
        folder.mkdir(parents=True, exist_ok=True)

    def run(self, code: str, timeout: float = 120, store_history: bool = True) -> list[dict]:
        """Execute ``code`` in the kernel; its error outputs (empty when it ran cleanly)."""
        errors: list[dict] = []
        self.kc.execute_interactive(code, timeout=timeout, store_history=store_history, allow_stdin=False,
                                    output_hook=lambda m: errors.append(m["content"])
                                    if m["msg_type"] == "error" else None)
        return errors

    def cell(self, code: str) -> None:
        errors = self.run(code)
        assert not errors, errors

    def exchange(self, doc, arrays, timeout):
        self.count += 1
        req, resp = self.folder / f"req-{self.count}.npz", self.folder / f"resp-{self.count}.npz"
        req.write_bytes(dumps(doc, arrays))
        errors = self.run(f"__import__('sys').modules[{_RPC!r}].serve({str(req)!r}, {str(resp)!r})",
                          timeout=timeout + 30, store_history=False)
        assert not errors, errors
        return loads(resp.read_bytes())

    def student(self, name: str):
        found, value = self.lookup(name)
        assert found, name
        return value


@contextlib.contextmanager
def grading_kernel(root: Path, assignment: str = "a6_segmentation"):
    """A grading kernel as the autograder starts it (sandboxed where bwrap works), with the server
    installed and the student's cells run; yields its :class:`_Kernel` channel."""
    from jupyter_client.manager import KernelManager

    work, ipc = root / "work", root / "ipc"
    work.mkdir()
    ipc.mkdir()
    write_kernelspec(root / "jupyter", memory_mb=3072)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNNCOURSE")}
    env.update(CNNCOURSE_SANDBOX="bwrap" if not bwrap_available() else "none", CNNCOURSE_WORK=str(work),
               CNNCOURSE_IPC=str(ipc), CNNCOURSE_HIDE=json.dumps(hidden_modules(assignment)),
               OMP_NUM_THREADS="1", JUPYTER_PATH=str(root / "jupyter"))
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(root / "jupyter")  # the kernelspec lookup happens in this process
    try:
        km = KernelManager(kernel_name=GRADING_KERNEL)
        km.transport, km.ip, km.connection_file = "ipc", str(ipc / "kernel"), str(ipc / "connection.json")
        km.start_kernel(env=env, cwd=str(work))
    finally:
        if old is None:
            os.environ.pop("JUPYTER_PATH")
        else:
            os.environ["JUPYTER_PATH"] = old
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
        channel = _Kernel(kc, work / ".cnncourse-rpc")
        source = server_source()
        channel.cell(f"import sys as _s, types as _t\n_m = _t.ModuleType({_RPC!r})\n"  # as TrustedExecute does
                     f"exec(compile({source!r}, '<cnncourse-rpc>', 'exec'), _m.__dict__)\n"
                     f"_s.modules[{_RPC!r}] = _m\ndel _s, _t, _m\n")
        for cell in _CELLS:
            channel.cell(cell)
        yield channel
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    with grading_kernel(tmp_path_factory.mktemp("guard")) as channel:
        yield channel


X, W = torch.randn(1, 1, 4, 4), torch.randn(2, 1, 3, 3)
_CONV = ("torch.nn.functional.conv2d", "torch.conv2d", "torch.nn.Conv2d")


@pytest.mark.parametrize("name", ["conv_alias", "conv_dict", "conv_partial", "conv_getattr", "conv_module",
                                  "spoofed", "spoofed_site"])
def test_shortcuts_prepared_before_the_call_are_refused(kernel, name):
    """Is conv2d refused however the student reaches it: an alias or a dict built in an earlier cell,
    a partial (called from C, seen by the torch function mode), getattr by string, nn.Conv2d, or
    code compiled under a library (or installed package) file's name?"""
    with pytest.raises(StudentError, match=r"`torch\.(nn\.functional\.conv2d|conv2d|nn\.Conv2d)` is not allowed"):
        call_student(kernel.student(name), X, W, forbidden=_CONV)


def test_a_library_network_built_before_the_call_is_refused(kernel):
    """Is a6's segment() that calls an FCN the library built in an earlier cell refused, naming FCN?"""
    with pytest.raises(StudentError, match=r"`cnncourse\.segmentation\.FCN` is not allowed"):
        call_student(kernel.student("segment"), X, forbidden=("references", "segmentation_models"))


def test_a_reference_and_a_numpy_alias_are_refused(kernel):
    """Are a cnncourse reference under another name and numpy's sliding_window_view alias refused?"""
    xn, wn = np.arange(32.0).reshape(1, 2, 4, 4), np.ones((3, 2, 2, 2))
    with pytest.raises(StudentError, match=r"`cnncourse\.layers\.conv2d_forward` is not allowed"):
        call_student(kernel.student("conv_reference"), xn, wn, forbidden=("references",))
    with pytest.raises(StudentError, match=r"`numpy\.lib\.stride_tricks\.sliding_window_view` is not allowed"):
        call_student(kernel.student("windows"), xn, forbidden=("stride_tricks",))


@pytest.mark.parametrize("name", ["swallow", "in_thread"])
def test_a_caught_refusal_still_fails_the_call(kernel, name):
    """Does a refusal the student's code swallowed (or that only a thread saw) fail the call?"""
    with pytest.raises(StudentError, match=r"conv2d` is not allowed in this exercise: your code called it and "
                                           r"caught the error"):
        call_student(kernel.student(name), X, W, forbidden=_CONV)


def test_removing_the_monitor_fails_the_call(kernel):
    """Does removing the profile hook fail the call: sys.setprofile called directly (refused at once,
    so putting the monitor back before returning does not help) or from C through a partial (seen on
    exit), and is a torch builtin called after such a removal still refused (the torch function mode)?"""
    xn = np.arange(32.0).reshape(1, 2, 4, 4)
    for name in ("unhook", "unhook_and_restore"):
        with pytest.raises(StudentError, match="the grader's call monitor was removed during the call: not allowed"):
            call_student(kernel.student(name), xn, forbidden=("stride_tricks",))
    with pytest.raises(StudentError, match=r"conv2d` is not allowed"):
        call_student(kernel.student("unhook_torch"), X, W, forbidden=_CONV)


def test_a_forbidden_function_patched_by_the_notebook_fails_the_call(kernel):
    """Does a forbidden function the notebook replaced by its own wrapper (keeping the original under
    another name, out of the guard's sight) fail every guarded call, naming it?"""
    kernel.cell("_real_swv = np.lib.stride_tricks.sliding_window_view\n"
                "np.lib.stride_tricks.sliding_window_view = lambda *a, **k: _real_swv(*a, **k)")
    try:
        with pytest.raises(StudentError, match=r"`numpy\.lib\.stride_tricks\.sliding_window_view` was replaced "
                                               r"by your notebook's code"):
            call_student(kernel.student("relu_sum"), X, forbidden=("stride_tricks",))
    finally:
        kernel.cell("np.lib.stride_tricks.sliding_window_view = _real_swv")
    torch.testing.assert_close(call_student(kernel.student("relu_sum"), X, forbidden=("stride_tricks",)),
                               torch.relu(X).sum(dim=1))


def test_the_library_may_call_forbidden_functions_itself(kernel):
    """Does the library's own code keep its shortcuts when the student may call it: FCN's nn.Conv2d
    layers under the conv preset, conv2d_forward's sliding_window_view under stride_tricks?"""
    x0, want = kernel.student("x0"), kernel.student("expected_seg")
    got = call_student(kernel.student("segment"), x0, forbidden=("conv",))
    torch.testing.assert_close(got, want)
    xn, wn, want_ref = kernel.student("xn"), kernel.student("wn"), kernel.student("expected_ref")
    got_ref = call_student(kernel.student("reference_allowed"), xn, wn, forbidden=("stride_tricks",))
    np.testing.assert_array_equal(got_ref, want_ref)


def test_allowed_torch_code_runs_and_the_guard_is_gone_after(kernel):
    """Does a function using allowed torch ops give its result under the conv preset, and after a
    refused call are the profile hook, the torch mode and the patched attributes all gone, so the
    student's own cells can call conv2d again?"""
    got = call_student(kernel.student("relu_sum"), X, forbidden=("conv",))
    torch.testing.assert_close(got, torch.relu(X).sum(dim=1))
    with pytest.raises(StudentError, match="not allowed"):
        call_student(kernel.student("conv_alias"), X, W, forbidden=("conv",))
    kernel.cell("after = (sys.getprofile() is None, threading.getprofile() is None, "
                "torch._C._len_torch_function_stack(), F.conv2d is c is torch.conv2d, "
                "tuple(c(x0, w0).shape), tuple(torch.nn.Conv2d(1, 2, 3)(x0).shape))")
    assert kernel.student("after") == (True, True, 0, True, (1, 2, 2, 2), (1, 2, 2, 2))


def test_a_loop_heavy_function_gives_the_loop_result_under_the_guard(kernel):
    """Does a careless-but-correct loop (a naive 4-loop numpy convolution, N=2, C=3, 8x8, four 3x3
    filters, thousands of numpy calls, each seen by the monitor) give the same result through the
    grader's call under a1's forbidden list? (Its cost, x1.9 here, is measured by
    benchmarks/bench_guard.py, not by a test.)"""
    kernel.cell("""
def naive_conv(x, w):
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    out = np.zeros((n, f, h - kh + 1, wd - kw + 1))
    for i in range(n):
        for j in range(f):
            for r in range(h - kh + 1):
                for s in range(wd - kw + 1):
                    out[i, j, r, s] = np.sum(x[i, :, r:r + kh, s:s + kw] * w[j])
    return out
""")
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((4, 3, 3, 3))
    got = call_student(kernel.student("naive_conv"), x, w, forbidden=("a1_conv",))
    want = np.array([[[[np.sum(x[i, :, r:r + 3, s:s + 3] * w[j]) for s in range(6)] for r in range(6)]
                      for j in range(4)] for i in range(2)])
    np.testing.assert_allclose(got, want, rtol=1e-12)
