"""The grader <-> student-kernel channel: data only, never pickles or code from the student.

The student's side runs here in-process (its source is exec'd as a module, as in a kernel) behind a
file-based channel like the real one, so each test asks one question of the protocol itself.
"""

from __future__ import annotations

import io
import math
import types

import numpy as np
import pytest
import torch

from cnncourse.grading import call_student
from cnncourse.grading.remote import Channel, RemoteObject, StudentError, StudentNamespace, server_source, student_function
from cnncourse.grading.remote.wire import Decoder, Encoder, Ref, WireError, dumps, loads


class _InProcess(Channel):
    """A student's namespace and server in this process, reached through request/response bytes."""

    def __init__(self, namespace: dict):
        self.server = types.ModuleType("__cnncourse_rpc__")
        exec(compile(server_source(), "<cnncourse-rpc>", "exec"), self.server.__dict__)
        self.server._user_ns = lambda: namespace
        self.sent: list[bytes] = []

    def exchange(self, doc, arrays, timeout):
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as tmp:
            req, resp = Path(tmp) / "req.npz", Path(tmp) / "resp.npz"
            req.write_bytes(dumps(doc, arrays))
            self.server.serve(str(req), str(resp))
            data = resp.read_bytes()
            self.sent.append(data)
            return loads(data)


def _student(**names):
    ns = dict(names)
    return StudentNamespace(_InProcess(ns)), ns


def _roundtrip(value):
    enc = Encoder()
    node = enc.encode(value)
    doc, arrays = loads(dumps({"v": node}, enc.arrays))
    return Decoder(arrays, lambda n: pytest.fail("no refs expected")).decode(doc["v"])


@pytest.mark.parametrize("value", [
    None, True, 0, -7, 2 ** 100, 1.5, float("inf"), 1 + 2j, "text", b"\x00\x01", [1, (2, 3)], (1,), {"a": 1, 2: "b", (1, 2): None},
    {3, 4}, np.arange(6.0).reshape(2, 3), np.float32(2.5), np.int64(-3), np.dtype("float32"), np.zeros((0, 4)),
])
def test_plain_values_round_trip_exactly(value):
    """Does every plain value come back equal, with its exact type (tuple stays tuple, dtype kept)?"""
    back = _roundtrip(value)
    assert type(back) is type(value)
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and np.array_equal(back, value)
    else:
        assert back == value


def test_nan_and_tensors_round_trip():
    """NaN stays NaN; a tensor comes back as a tensor with its values, dtype and requires_grad."""
    assert math.isnan(_roundtrip(float("nan")))
    t = torch.arange(4.0, dtype=torch.float64).requires_grad_()
    back = _roundtrip(t)
    assert isinstance(back, torch.Tensor) and back.dtype == torch.float64 and back.requires_grad
    assert torch.equal(back.detach(), t.detach())
    p = _roundtrip(torch.nn.Parameter(torch.ones(2)))
    assert isinstance(p, torch.nn.Parameter)


def test_a_pickle_or_an_object_array_is_refused():
    """Is a forged message with a pickled object array rejected instead of unpickled?"""
    buf = io.BytesIO()
    np.savez(buf, __json__=np.frombuffer(b'{"status": "ok"}', dtype=np.uint8), a0=np.array([object()], dtype=object))
    with pytest.raises(WireError):
        loads(buf.getvalue())
    with pytest.raises(WireError):
        loads(b"not an npz at all")


@pytest.mark.parametrize("node", [{"t": "exec", "v": "print(1)"}, {"t": "nd", "k": "missing"}, {"t": "int", "v": 3},
                                  "raw", {"t": "dict", "v": [[{"t": "none"}]]}])
def test_unknown_or_malformed_tags_are_refused(node):
    with pytest.raises(WireError):
        Decoder({}, lambda n: None).decode(node)


def test_the_grader_cannot_be_sent_code():
    """Does the grader's decoder refuse a 'code' node (only the student's side evaluates those)?"""
    with pytest.raises(WireError):
        Decoder({}, lambda n: None).decode({"t": "code", "src": "lambda: 1", "env": {"t": "dict", "v": []}})


def test_names_resolve_to_data_or_handles_and_builtins_win():
    """Is a student's data fetched by value, a function a handle, and a student global named
    `len` or `zip` invisible to the tests?"""
    g, _ = _student(errors={"dx": 1e-9}, double=lambda x: 2 * x, len=lambda x: 0, zip="fake")
    exec("import numpy as np\nout = double(np.ones(2))\nn = len([1, 2])\nz = zip\nerr = errors", g)
    assert np.array_equal(g["out"], [2.0, 2.0]) and g["n"] == 2 and g["z"] is zip
    assert g["err"] == {"dx": 1e-9} and isinstance(g.__missing__("double"), RemoteObject)
    with pytest.raises(NameError):
        exec("missing_name", g)


def test_student_errors_keep_their_type_and_only_student_frames():
    """Does a student's ValueError arrive as a ValueError (a test may expect it), with the student's
    frames and none of the channel's?"""
    def student_fn(x):
        raise ValueError("stride 3 does not fit")

    g, _ = _student(f=student_fn)
    with pytest.raises(ValueError, match="stride 3 does not fit") as info:
        exec("f(1)", g)
    assert isinstance(info.value, StudentError)
    assert "student_fn" in info.value.student_traceback and "cnncourse-rpc" not in info.value.student_traceback


def test_in_place_changes_are_reported_and_allowed_ones_copied_back():
    """Does the grader's array stay untouched, an in-place change fail, and an allowed one (a
    running mean) reach the grader's array as if the call were local?"""
    def bump(x, running_mean):
        running_mean += 1
        return x

    def scribble(x):
        x[0] = 99
        return x.sum()

    g, _ = _student(bump=bump, scribble=scribble)
    x, rm = np.zeros(3), np.zeros(2)
    call_student(g.__missing__("bump"), x, rm, allow_inplace=("running_mean",))
    assert np.array_equal(rm, [1.0, 1.0]) and np.array_equal(x, np.zeros(3))
    with pytest.raises(AssertionError, match="modified its input `x` in place"):
        call_student(g.__missing__("scribble"), x)
    assert x[0] == 0


def test_forbidden_functions_are_refused_during_the_call_and_restored_after():
    def sneaky(x):
        return np.lib.stride_tricks.sliding_window_view(x, 2).sum()

    g, _ = _student(sneaky=sneaky)
    with pytest.raises(RuntimeError, match="sliding_window_view` is not allowed"):
        call_student(g.__missing__("sneaky"), np.arange(4.0), forbidden=("stride_tricks",))
    assert np.lib.stride_tricks.sliding_window_view(np.arange(3.0), 2).shape == (2, 2)


def test_caches_that_are_not_data_travel_as_handles():
    """Can a forward pass return a cache holding a student's object, and the backward pass get it back?"""
    class Box:
        def __init__(self, v):
            self.v = v

    g, _ = _student(fwd=lambda x: (x * 2, (Box(x), x.dtype)), bwd=lambda d, cache: d * cache[0].v)
    exec("import numpy as np\nout, cache = fwd(np.arange(3.0))\ndx = bwd(np.ones(3), cache)", g)
    assert isinstance(g["cache"][0], Ref) and g["cache"][1] == np.dtype("float64")
    assert np.array_equal(g["dx"], np.arange(3.0))


def test_grader_functions_travel_as_source():
    """Is a function the test passes (numerical-gradient's f) sent as source with its data?"""
    g, _ = _student(apply=lambda f, x: f(x))
    a = np.arange(3.0)
    g["fn"] = student_function("lambda z: z * a + np.pi", a=a)
    exec("import numpy as np\ny = apply(fn, np.ones(3))", g)
    assert np.allclose(g["y"], a + np.pi)
    assert np.allclose(student_function("lambda z: z * a", a=a)(np.ones(3)), a)  # callable outside grading too
