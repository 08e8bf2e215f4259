"""module_gradients: a student's torch module run forward and backward, here or in the student's kernel.

The oracle is torch autograd on an identical module in this process; the remote path goes
through the real wire format and the kernel-side server (remote/server.py) over files.
"""

from __future__ import annotations

import types

import pytest
import torch
from torch import nn

from cnncourse.grading import ForbiddenCallError, module_gradients
from cnncourse.grading.remote import Channel, RemoteObject, StudentError, server_source
from cnncourse.grading.remote.wire import dumps, loads


class _Loopback(Channel):
    """The student's side of the wire run in this process, through real request/response files."""

    def __init__(self, folder):
        self.folder, self.count = folder, 0
        self.server = types.ModuleType("_test_rpc_grad")
        exec(compile(server_source(), "<rpc>", "exec"), vars(self.server))

    def exchange(self, doc, arrays, timeout):
        self.count += 1
        req, resp = self.folder / f"req{self.count}.npz", self.folder / f"resp{self.count}.npz"
        req.write_bytes(dumps(doc, arrays))
        self.server.serve(str(req), str(resp))
        return loads(resp.read_bytes())

    def remote(self, obj):
        node = self.server._make_ref(obj)
        return RemoteObject(self, node["id"], node["kind"], node["callable"])


def _block():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.Conv2d(3, 2, 1))


def _autograd(module, x, dout):
    x = x.clone().requires_grad_(True)
    out = module(x)
    out.backward(dout)
    return out.detach(), x.grad, {n: p.grad.clone() for n, p in module.named_parameters()}


@pytest.mark.parametrize("where", ["local", "remote"])
def test_gradients_equal_autograd_on_a_copy(tmp_path, where):
    """Do out, dx and every named parameter's gradient equal torch autograd on an identical module,
    without touching the caller's x?"""
    x, dout = torch.randn(2, 2, 5, 5), torch.randn(2, 2, 5, 5)
    x_before = x.clone()
    want_out, want_dx, want_grads = _autograd(_block(), x, dout)
    student = _block()
    target = _Loopback(tmp_path).remote(student) if where == "remote" else student
    got = module_gradients(target, x, dout)
    torch.testing.assert_close(got["out"], want_out)
    torch.testing.assert_close(got["dx"], want_dx)
    assert set(got["grads"]) == set(want_grads)
    for name, g in want_grads.items():
        torch.testing.assert_close(got["grads"][name], g, msg=name)
    assert not got["out"].requires_grad
    torch.testing.assert_close(x, x_before, rtol=0, atol=0)


@pytest.mark.parametrize("where", ["local", "remote"])
def test_unused_parameter_has_no_gradient_and_detach_gives_no_dx(tmp_path, where):
    """Is an unused parameter's gradient None, and dx None when the module detaches its input?"""

    class Detaching(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = nn.Parameter(torch.ones(3)), nn.Parameter(torch.ones(3))

        def forward(self, x):
            return x.detach() * self.used

    student = Detaching()
    target = _Loopback(tmp_path).remote(student) if where == "remote" else student
    got = module_gradients(target, torch.ones(2, 3), torch.ones(2, 3))
    assert got["dx"] is None and got["grads"]["unused"] is None
    torch.testing.assert_close(got["grads"]["used"], torch.full((3,), 2.0))


@pytest.mark.parametrize("where", ["local", "remote"])
def test_wrong_output_shape_and_forbidden_calls_raise(tmp_path, where):
    """Does an output of the wrong shape raise a ValueError naming both shapes, and a forbidden
    function called in the forward pass fail the call?"""
    conv = nn.Conv2d(1, 1, 3)
    loop = _Loopback(tmp_path)
    target = loop.remote(conv) if where == "remote" else conv
    with pytest.raises(ValueError, match=r"\(1, 1, 3, 3\), expected \(1, 1, 5, 5\)"):
        module_gradients(target, torch.ones(1, 1, 5, 5), torch.ones(1, 1, 5, 5))
    expected = (StudentError, RuntimeError) if where == "remote" else (ForbiddenCallError,)

    class CallsConv(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(1, 1, 3, 3))

        def forward(self, x):
            return torch.nn.functional.conv2d(x, self.w)

    calls = CallsConv()
    target = loop.remote(calls) if where == "remote" else calls
    with pytest.raises(expected, match="not allowed"):
        module_gradients(target, torch.ones(1, 1, 5, 5), torch.ones(1, 1, 3, 3),
                         forbidden=("torch.nn.functional.conv2d",))


class _Residual(nn.Module):
    """A tiny residual block; ``relu_after_add=False`` is the classic student bug."""

    def __init__(self, c, relu_after_add=True, projection=False):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c)
        self.downsample = nn.Conv2d(c, c, 1, bias=False) if projection else None
        self.relu_after_add = relu_after_add

    def forward(self, x):
        out = self.bn(self.conv(x)) + (x if self.downsample is None else self.downsample(x))
        return torch.relu(out) if self.relu_after_add else out


@pytest.mark.parametrize("where", ["local", "remote"])
def test_check_module_passes_a_correct_class_and_names_what_differs(tmp_path, where):
    """Does check_module accept a class equal to the reference (weights copied in), and fail with
    the module's name for a missing final ReLU (values) and a missing projection (state-dict keys)?"""
    from cnncourse.grading import check_module, randomize_module

    loop = _Loopback(tmp_path)
    cls = loop.remote(_Residual) if where == "remote" else _Residual
    ref = randomize_module(_Residual(3), seed=1)
    x = torch.randn(2, 3, 5, 4)
    check_module(cls, ref, x, args=(3,), name="Residual(3)", devices=["cpu"])
    with pytest.raises(AssertionError, match=r"Residual\(3\) on cpu: output \(eval mode\)"):
        check_module(cls, ref, x, args=(3,), kwargs={"relu_after_add": False}, name="Residual(3)", devices=["cpu"])
    with pytest.raises(AssertionError, match=r"(?s)do not fit your module.*downsample.*hint: add it"):
        check_module(cls, randomize_module(_Residual(3, projection=True), seed=2), x, args=(3,), name="Residual(3)",
                     devices=["cpu"], layout="add it")


def test_randomize_module_gives_bn_statistics_away_from_identity():
    """Are BN running variances and scales moved into [0.5, 1.5), and is the result reproducible?"""
    from cnncourse.grading import randomize_module

    a, b = randomize_module(_Residual(4), seed=3), randomize_module(_Residual(4), seed=3)
    assert ((a.bn.running_var >= 0.5) & (a.bn.running_var < 1.5)).all()
    assert not torch.equal(a.bn.running_mean, torch.zeros(4))
    for (k, v), (_, w) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(v, w), k
