"""conv2d / conv_transpose2d / zero_pad2d against torch autograd, a slow loop reference and gradcheck.

Tolerances: float64 agrees with torch (float64) to 1e-10 relative (``atol = 1e-10 * max|ref|`` so
that entries that cancel to ~0 are judged against the array's scale); float32 is compared with the
float64 reference to ``rtol = 1e-4``, ``atol = 1e-5 * max|ref|`` (sums of a few hundred float32
products carry ~1e-6 relative rounding).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnncourse.gradcheck import eval_numerical_gradient_array, rel_error
from cnncourse.layers import (
    conv2d_backward, conv2d_forward, conv_transpose2d_backward, conv_transpose2d_forward, zero_pad2d,
)

TOL = {np.float64: (1e-10, 1e-10), np.float32: (1e-4, 1e-5)}


def assert_close(ours, ref, dtype):
    ref = np.asarray(ref, dtype=np.float64)
    assert ours.dtype == dtype, f"dtype {ours.dtype} != {dtype}"
    assert ours.shape == ref.shape
    rtol, atol = TOL[dtype]
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=atol * max(1.0, np.abs(ref).max(initial=0)))


def _t(a):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def _compare_with_torch(forward, backward, torch_fn, x, w, b, args, dtype, rng):
    """Run our forward/backward and torch's (autograd) on the same float64 data; compare all four.

    Returns our output (for extra checks by the caller).
    """
    cast = (lambda a: None if a is None else a.astype(dtype))
    out, cache = forward(cast(x), cast(w), cast(b), **args)
    tx, tw = _t(x), _t(w)
    tb = None if b is None else _t(b)
    with warnings.catch_warnings():   # torch warns that 'same' with even kernels needs a padded copy
        warnings.simplefilter("ignore", UserWarning)
        ref = torch_fn(tx, tw, tb, **args)
    assert_close(out, ref.detach().numpy(), dtype)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = backward(dout.astype(dtype), cache)
    ref.backward(torch.tensor(dout))
    assert_close(dx, tx.grad.numpy(), dtype)
    assert_close(dw, tw.grad.numpy(), dtype)
    if b is None:
        assert db is None
    else:
        assert_close(db, tb.grad.numpy(), dtype)
    return out


def conv_loop(x, w, b, stride, padding, dilation, groups):
    """Slow, obviously-correct convolution: one dot product per output element."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    n, c, h, wd = x.shape
    f, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, f, ho, wo))
    fg = f // groups
    for i in range(n):
        for o in range(f):
            g = o // fg
            for r in range(ho):
                for s in range(wo):
                    patch = xp[i, g * cg:(g + 1) * cg, r * sh:r * sh + dh * (kh - 1) + 1:dh,
                               s * sw:s * sw + dw * (kw - 1) + 1:dw]
                    out[i, o, r, s] = np.sum(patch * w[o]) + (0 if b is None else b[o])
    return out


def _random_conv_case(rng):
    """Random non-square geometry; kernel always fits the padded input."""
    while True:
        groups = int(rng.choice([1, 1, 2, 3]))
        c, f = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
        h, w = (int(v) for v in rng.integers(1, 10, size=2))
        kh, kw = (int(v) for v in rng.integers(1, 4, size=2))
        st = tuple(int(v) for v in rng.integers(1, 4, size=2))
        pd = tuple(int(v) for v in rng.integers(0, 3, size=2))
        dl = tuple(int(v) for v in rng.integers(1, 3, size=2))
        if h + 2 * pd[0] >= dl[0] * (kh - 1) + 1 and w + 2 * pd[1] >= dl[1] * (kw - 1) + 1:
            return dict(n=int(rng.integers(1, 4)), c=c, f=f, h=h, w=w, kh=kh, kw=kw, stride=st, padding=pd,
                        dilation=dl, groups=groups, bias=bool(rng.integers(0, 2)))


def _arrays(case, rng, transpose=False):
    x = rng.standard_normal((case["n"], case["c"], case["h"], case["w"]))
    if transpose:
        w = rng.standard_normal((case["c"], case["f"] // case["groups"], case["kh"], case["kw"]))
    else:
        w = rng.standard_normal((case["f"], case["c"] // case["groups"], case["kh"], case["kw"]))
    b = rng.standard_normal(case["f"]) if case["bias"] else None
    return x, w, b


SWEEP = [_random_conv_case(np.random.default_rng(1000 + i)) for i in range(40)]


def test_sweep_covers_the_hard_cases():
    """Does the random sweep include batch 1, groups, dilation and strides that do not divide?"""
    assert any(c["n"] == 1 for c in SWEEP) and any(c["groups"] > 1 for c in SWEEP)
    assert any(max(c["dilation"]) > 1 for c in SWEEP) and any(not c["bias"] for c in SWEEP)
    assert any((c["h"] + 2 * c["padding"][0] - c["dilation"][0] * (c["kh"] - 1) - 1) % c["stride"][0]
               for c in SWEEP)
    assert any(c["h"] != c["w"] for c in SWEEP)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("idx", range(len(SWEEP)))
def test_conv2d_matches_torch(idx, dtype):
    """Do conv2d forward and all three gradients equal torch's, for this random geometry?"""
    case = SWEEP[idx]
    rng = np.random.default_rng(idx)
    x, w, b = _arrays(case, rng)
    args = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"], groups=case["groups"])
    _compare_with_torch(conv2d_forward, conv2d_backward, F.conv2d, x, w, b, args, dtype, rng)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("idx", range(0, len(SWEEP), 2))
def test_conv_transpose2d_matches_torch(idx, dtype):
    """Does the transposed convolution (with output_padding) match torch forward and backward?"""
    case = SWEEP[idx]
    rng = np.random.default_rng(500 + idx)
    x, w, b = _arrays(case, rng, transpose=True)
    st, dl = case["stride"], case["dilation"]
    op = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(st, dl))
    kh, kw = case["kh"], case["kw"]
    # transposed conv needs a positive output: shrink padding if needed
    pd = tuple(min(p, ((s0 - 1) * s + d * (k - 1) + o) // 2) for p, s0, s, d, k, o in
               zip(case["padding"], (case["h"], case["w"]), st, dl, (kh, kw), op))
    args = dict(stride=st, padding=pd, output_padding=op, groups=case["groups"], dilation=dl)
    _compare_with_torch(conv_transpose2d_forward, conv_transpose2d_backward, F.conv_transpose2d,
                        x, w, b, args, dtype, rng)


@pytest.mark.parametrize("idx", [0, 3, 7, 12, 21])
def test_conv2d_matches_slow_loop(idx):
    """Does the vectorized conv equal the dot-product-per-pixel loop kept here?"""
    case = SWEEP[idx]
    x, w, b = _arrays(case, np.random.default_rng(idx))
    args = (case["stride"], case["padding"], case["dilation"], case["groups"])
    out, _ = conv2d_forward(x, w, b, *args)
    np.testing.assert_allclose(out, conv_loop(x, w, b, *args), rtol=1e-12, atol=1e-12)


def test_conv2d_gradcheck():
    """Do the analytic conv gradients agree with centered differences (stride 2, padding, groups)?"""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 4, 7, 6))
    w = rng.standard_normal((6, 2, 3, 2))
    b = rng.standard_normal(6)
    kw = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)
    out, cache = conv2d_forward(x, w, b, **kw)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv2d_backward(dout, cache)
    assert rel_error(dx, eval_numerical_gradient_array(lambda a: conv2d_forward(a, w, b, **kw)[0], x, dout)) < 1e-7
    assert rel_error(dw, eval_numerical_gradient_array(lambda a: conv2d_forward(x, a, b, **kw)[0], w, dout)) < 1e-7
    assert rel_error(db, eval_numerical_gradient_array(lambda a: conv2d_forward(x, w, a, **kw)[0], b, dout)) < 1e-7


def test_conv_transpose2d_gradcheck():
    """Do the transposed-conv gradients agree with centered differences?"""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 2, 3, 4))
    w = rng.standard_normal((2, 3, 3, 3))
    kw = dict(stride=2, padding=1, output_padding=1)
    out, cache = conv_transpose2d_forward(x, w, None, **kw)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv_transpose2d_backward(dout, cache)
    assert db is None
    assert rel_error(dx, eval_numerical_gradient_array(lambda a: conv_transpose2d_forward(a, w, None, **kw)[0],
                                                       x, dout)) < 1e-7
    assert rel_error(dw, eval_numerical_gradient_array(lambda a: conv_transpose2d_forward(x, a, None, **kw)[0],
                                                       w, dout)) < 1e-7


def test_conv2d_hand_example():
    """A 3x3 all-ones filter on a 4x4 ramp with padding 1: corner = sum of the 2x2 corner block."""
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    w = np.ones((1, 1, 3, 3))
    out, _ = conv2d_forward(x, w, np.array([0.5]), padding=1)
    assert out.shape == (1, 1, 4, 4)
    assert out[0, 0, 0, 0] == 0 + 1 + 4 + 5 + 0.5
    assert out[0, 0, 1, 1] == sum(range(0, 3)) + sum(range(4, 7)) + sum(range(8, 11)) + 0.5


def test_conv2d_slide_example():
    """Lecture 2's 5x5 input with the 3x3 filter 0 1 2 / 2 2 0 / 0 1 2 gives 12 12 17 / 10 17 19 / 9 6 14."""
    x = np.array([[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]],
                 dtype=np.float64)[None, None]
    w = np.array([[0, 1, 2], [2, 2, 0], [0, 1, 2]], dtype=np.float64)[None, None]
    out, _ = conv2d_forward(x, w, None)
    np.testing.assert_array_equal(out[0, 0], [[12, 12, 17], [10, 17, 19], [9, 6, 14]])
    # padding 1, stride 2 (the slide's printed 6 14 17 / ... comes from another input)
    out, _ = conv2d_forward(x, w, None, stride=2, padding=1)
    np.testing.assert_array_equal(out[0, 0], [[6, 17, 3], [8, 17, 13], [6, 4, 4]])


def test_inputs_not_modified_and_dtype_kept():
    """Does conv leave its inputs untouched and return float32 for float32?"""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    x0, w0 = x.copy(), w.copy()
    out, cache = conv2d_forward(x, w, None, padding=1)
    grads = conv2d_backward(np.ones_like(out), cache)
    assert out.dtype == np.float32 and all(g is None or g.dtype == np.float32 for g in grads)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, w0)


def test_zero_pad2d():
    """Does zero_pad2d equal np.pad on H and W only, for int and pair padding?"""
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(zero_pad2d(x, (1, 2)), np.pad(x, ((0, 0), (0, 0), (1, 1), (2, 2))))
    assert zero_pad2d(x, 0) is not x and zero_pad2d(x, 1).dtype == np.float32
    with pytest.raises(ValueError, match="`padding` expected values >= 0"):
        zero_pad2d(x, -1)


X = np.zeros((2, 4, 6, 6))
W = np.zeros((8, 4, 3, 3))


@pytest.mark.parametrize("kwargs, match", [
    (dict(x=np.zeros((4, 6, 6))), r"`x` expected a 4-D array, got 3-D"),
    (dict(w=np.zeros((8, 3, 3, 3))), r"`w` expected shape \(F, C/groups=4, KH, KW\).*got shape \(8, 3, 3, 3\)"),
    (dict(w=np.zeros((8, 2, 3, 3)), groups=3), r"`groups` expected a divisor of the input channels 4, got 3"),
    (dict(w=np.zeros((6, 2, 3, 3)), groups=4), r"`groups` expected a divisor of the 6 output channels"),
    (dict(padding=-1), r"`padding` expected values >= 0, got -1"),
    (dict(stride=0), r"`stride` expected values >= 1, got 0"),
    (dict(stride=(1, 2, 3)), r"`stride` expected an int or a pair of ints"),
    (dict(w=np.zeros((8, 4, 7, 3))), r"`w` expected a kernel no larger than the padded input \(6, 6\)"),
    (dict(w=np.zeros((8, 4, 3, 3)), dilation=3), r"`w` expected a kernel no larger.*got effective kernel \(7, 7\)"),
    (dict(b=np.zeros(7)), r"`b` expected shape \(8,\), got shape \(7,\)"),
    (dict(w=np.zeros((8, 4, 3, 3), np.float32)), r"`w` expected dtype float64"),
    (dict(x=np.zeros((2, 4, 6, 6), dtype=np.int64)), r"`x` expected a floating-point array"),
])
def test_conv2d_errors(kwargs, match):
    """Do bad arguments raise ValueError naming the argument, the expectation and what arrived?"""
    args = dict(x=X, w=W, b=None) | kwargs
    with pytest.raises(ValueError, match=match):
        conv2d_forward(**args)


def test_conv_transpose2d_errors():
    """Are channel mismatch and a too-large output_padding rejected like torch does?"""
    with pytest.raises(ValueError, match=r"`w` expected shape \(C=4"):
        conv_transpose2d_forward(X, np.zeros((3, 2, 3, 3)), None)
    with pytest.raises(ValueError, match=r"`output_padding` expected values smaller than stride"):
        conv_transpose2d_forward(X, np.zeros((4, 2, 3, 3)), None, stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"`groups` expected a divisor of the 4 input channels, got 3"):
        conv_transpose2d_forward(X, np.zeros((4, 2, 3, 3)), None, groups=3)


def test_conv2d_backward_rejects_wrong_dout_shape():
    out, cache = conv2d_forward(X, W, None)
    with pytest.raises(ValueError, match=r"`dout` expected shape \(2, 8, 4, 4\), got shape \(2, 8, 4, 5\)"):
        conv2d_backward(np.zeros((2, 8, 4, 5)), cache)


def conv_loop_lr(x, w, b, pads, dilation, groups):
    """Stride-1 convolution with explicit (top, bottom, left, right) zero padding, via conv_loop."""
    t, bo, le, r = pads
    xp = np.pad(x, ((0, 0), (0, 0), (t, bo), (le, r)))
    return conv_loop(xp, w, b, (1, 1), (0, 0), dilation, groups)


def _random_string_padding_case(rng):
    """Stride 1, kernels of any parity (even ones make 'same' pad asymmetrically), dilation 1-3."""
    case = _random_conv_case(rng)
    case["kh"], case["kw"] = (int(v) for v in rng.integers(1, 5, size=2))
    case["dilation"] = tuple(int(v) for v in rng.integers(1, 4, size=2))
    case["h"], case["w"] = (int(v) for v in rng.integers(1, 9, size=2))
    return case


STRING_SWEEP = [_random_string_padding_case(np.random.default_rng(4000 + i)) for i in range(24)]


def test_string_padding_sweep_covers_even_kernels_and_dilation():
    """Does the sweep hold even kernels with odd dilation (asymmetric 'same') and kernels > input?"""
    assert any(c["kh"] % 2 == 0 and c["dilation"][0] % 2 == 1 for c in STRING_SWEEP)
    assert any(c["kw"] % 2 == 0 and c["dilation"][1] % 2 == 1 for c in STRING_SWEEP)
    assert any(c["dilation"][0] * (c["kh"] - 1) + 1 > c["h"] for c in STRING_SWEEP)   # 'same' still works


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", ["same", "valid"])
@pytest.mark.parametrize("idx", range(len(STRING_SWEEP)))
def test_conv2d_string_padding_matches_torch(idx, mode, dtype):
    """Does padding='same'/'valid' give torch's output (same size for 'same') and gradients?"""
    case = STRING_SWEEP[idx]
    rng = np.random.default_rng(idx)
    x, w, b = _arrays(case, rng)
    span = (case["dilation"][0] * (case["kh"] - 1) + 1, case["dilation"][1] * (case["kw"] - 1) + 1)
    args = dict(stride=1, padding=mode, dilation=case["dilation"], groups=case["groups"])
    cast = (lambda a: None if a is None else a.astype(dtype))
    if mode == "valid" and (span[0] > case["h"] or span[1] > case["w"]):
        with pytest.raises(RuntimeError):                      # torch refuses too
            F.conv2d(_t(x), _t(w), None if b is None else _t(b), **args)
        with pytest.raises(ValueError, match=r"`w` expected a kernel no larger than the padded input"):
            conv2d_forward(cast(x), cast(w), cast(b), **args)
        return
    out = _compare_with_torch(conv2d_forward, conv2d_backward, F.conv2d, x, w, b, args, dtype, rng)
    if mode == "same":
        assert out.shape[2:] == x.shape[2:]


def test_conv2d_same_even_kernel_pads_bottom_right():
    """A 2x4 kernel with 'same': 1 row (0 top, 1 bottom) and 3 columns (1 left, 2 right), as torch?"""
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal((2, 3, 5, 6)), rng.standard_normal((4, 3, 2, 4)), rng.standard_normal(4)
    out, cache = conv2d_forward(x, w, b, padding="same")
    np.testing.assert_allclose(out, conv_loop_lr(x, w, b, (0, 1, 1, 2), (1, 1), 1), rtol=1e-12, atol=1e-12)
    # the mirror-image padding (extra on top/left) gives a different answer: the test can tell them apart
    assert not np.allclose(out, conv_loop_lr(x, w, b, (1, 0, 2, 1), (1, 1), 1))
    dout = rng.standard_normal(out.shape)
    num = eval_numerical_gradient_array(lambda a: conv2d_forward(a, w, b, padding="same")[0], x.copy(), dout)
    assert rel_error(conv2d_backward(dout, cache)[0], num) < 1e-8


def test_conv2d_bias_defaults_to_none_like_torch():
    """Can b be left out (torch's bias=None), giving the same result as b=None?"""
    x, w = np.random.default_rng(8).standard_normal((1, 2, 4, 4)), np.ones((3, 2, 3, 3))
    np.testing.assert_array_equal(conv2d_forward(x, w)[0], conv2d_forward(x, w, None)[0])


@pytest.mark.parametrize("kwargs, match", [
    (dict(padding="same", stride=2), r"`padding` expected an int or a pair of ints when stride > 1 "
                                     r"\('same' is not supported for strided convolutions"),
    (dict(padding="same", stride=(1, 2)), r"'same' is not supported for strided convolutions, "
                                          r"stride=\(1, 2\)\), got 'same'"),
    (dict(padding="full"), r"`padding` expected an int, a pair of ints, 'valid' or 'same', got 'full'"),
])
def test_conv2d_string_padding_errors(kwargs, match):
    """Are 'same' with stride > 1 (torch: not supported) and unknown strings rejected, naming padding?"""
    with pytest.raises(RuntimeError):
        F.conv2d(torch.zeros(2, 4, 6, 6), torch.zeros(8, 4, 3, 3), **kwargs)
    with pytest.raises(ValueError, match=match):
        conv2d_forward(X, W, None, **kwargs)


def test_conv2d_valid_with_stride_is_allowed():
    """'valid' is just padding 0, so stride > 1 is fine (torch agrees)."""
    x = np.random.default_rng(9).standard_normal((1, 4, 7, 6))
    out, _ = conv2d_forward(x, np.ones((8, 4, 3, 3)), None, stride=2, padding="valid")
    np.testing.assert_allclose(out, F.conv2d(torch.tensor(x), torch.ones(8, 4, 3, 3, dtype=torch.float64),
                                             stride=2, padding="valid").numpy(), rtol=1e-12)
