# ---
# jupyter:
#   cnncourse:
#     total_points: 100
#   jupytext:
#     cell_metadata_filter: nbgrader,tags,-all
#     notebook_metadata_filter: kernelspec,cnncourse,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Assignment 6 — Semantic segmentation: upsampling, losses, metrics and a small FCN
#
# In this assignment you implement the tools of lecture 8. In numpy: the **transposed convolution**
# (forward and backward, with stride, padding and output padding), **mirror (reflect) padding**
# (forward and backward), the **pixel cross-entropy** with class weights and an ignored label
# (forward and backward), and the **IoU and Dice** scores from a confusion matrix. In PyTorch: the
# **soft Dice loss**. Then you build a small **fully convolutional network with skip connections**,
# train it on the semantic masks of the offline shapes dataset, and compare cross-entropy alone with
# cross-entropy + Dice on the smallest class.
#
# **How you are graded.** Write your code where it says `# YOUR CODE HERE` (delete the
# `raise NotImplementedError()`). After each exercise there is a *self-check* cell you can run, then a
# locked *test* cell. The test cells contain hidden tests that run when your notebook is graded: they
# compare your functions with reference implementations, with `torch.nn.functional.conv_transpose2d`,
# `torch.nn.functional.cross_entropy(weight=, ignore_index=)`, `numpy.pad(mode="reflect")` and
# torch's autograd on many random cases (other shapes, strides, weights, ignored pixels, classes absent
# from a batch), in float32 and float64, on the CPU and on a GPU when the grading machine has one.
# While your functions run during grading, the shortcuts that would turn an exercise into one call are
# disabled: `torch.nn.functional.conv_transpose2d`, `cross_entropy`, `nll_loss`, `pad`, `numpy.pad`,
# `sklearn.metrics.confusion_matrix` / `jaccard_score` / `f1_score` and the `cnncourse.segmentation`
# references (including its `FCN` and training loop: write your own network). The mean IoU of your
# network is computed **by the grader**, on images generated from a seed that only the grader knows.
# Before submitting, run **Kernel → Restart & Run All**.
#
# **Rules for every numpy function** (the hidden tests check them): do not modify the inputs; return
# new arrays with the **dtype of the input** (float32 in, float32 out). Loops over kernel positions
# are fine; loops over pixels are too slow for the hidden tests.
#
# | Part | Exercise | Points |
# |---|---|---|
# | A. Transposed convolution | A1 forward (12), A2 backward (10) | 22 |
# | B. Mirror padding | B1 reflect padding, forward and backward (8) | 8 |
# | C. Losses | C1 pixel cross-entropy with weights and ignore index (14), C2 soft Dice loss (12) | 26 |
# | D. Metrics | D1 confusion matrix (4), D2 IoU and Dice per class and mean (10) | 14 |
# | E. A small FCN | E1 FCN with skips, mean IoU >= 0.8 on held-out images (24), E2 cross-entropy vs Dice (6) | 30 |
# | | **Total** | **100** |
#
# Conventions (as in lecture 8 and in PyTorch): images `(N, C, H, W)`; class scores (logits)
# `(N, K, H, W)` for `K` classes; label masks `(N, H, W)` of integers in `[0, K)`. The shapes dataset
# has `K = 4` classes: 0 background, 1 circle, 2 square, 3 triangle.

# %%
import time

import numpy as np
import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F

np.set_printoptions(precision=4, suppress=True)
torch.set_num_threads(1)   # the grader runs many notebooks side by side: one thread each
device = "cuda" if torch.cuda.is_available() else "cpu"


def pair(v):
    '''An int or a pair (h, w) -> a pair: stride=2 means (2, 2), like PyTorch.'''
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


def loss_and_grad(loss_fn, logits, *inputs, **options):
    '''loss_fn(logits, *inputs, **options) and its gradient with respect to `logits` (torch autograd).

    The hidden tests use it to check that your soft Dice loss is differentiable and has the right
    gradient (it only calls your function and torch's autograd: keep it as it is).
    '''
    x = logits.detach().clone().requires_grad_(True)
    loss = loss_fn(x, *inputs, **options)
    loss.backward()
    return loss.detach(), x.grad


# %% [markdown]
# ## Part A — Transposed convolution
#
# A transposed convolution upsamples: every input pixel `x[n, c, i, j]` **scatters** a copy of the
# kernel, scaled by its value, into the output, at position `(i * sh, j * sw)` of an intermediate
# "full" map; overlapping copies add up:
#
# $$\text{full}[n, f, i s_h + a, j s_w + b] \mathrel{+}= x[n, c, i, j]\, w[c, f, a, b].$$
#
# The full map has `(H - 1) sh + KH` rows. The layer's `padding` **crops** `ph` rows at the top and
# `ph` at the bottom, and `output_padding` adds `oph` rows back at the bottom (zeros in the full map,
# if it is too short), so that
#
# $$H_{out} = (H - 1)\, s_h - 2 p_h + K_H + op_h \qquad (\text{same for } W),$$
#
# plus the bias `b[f]` everywhere. This is exactly the gradient of a convolution with respect to
# its input (lecture 8: the transpose `C^T` of the convolution's matrix), and
# `torch.nn.functional.conv_transpose2d(x, w, b, stride, padding, output_padding)`. Note the weight
# layout `(C_in, C_out, KH, KW)`: **input channels first** (the reverse of a convolution) — and no
# kernel flip in the scatter form.
#
# ### A1. Forward (12 points)
#
# `conv_transpose2d_forward(x, w, b=None, stride=1, padding=0, output_padding=0)` with `x (N, C, H, W)`,
# `w (C, F, KH, KW)`, `b (F,)` or `None`; `stride`, `padding`, `output_padding` an int or a pair.
# Return `(out, cache)`, `out` of shape `(N, F, H_out, W_out)`; `cache` is anything your backward
# pass needs (arrays, numbers, tuples). Loop over the kernel positions `(a, b)` and use slicing with
# a step and `np.einsum` / `np.tensordot` for the channel sum.

# %% nbgrader={"grade": false, "grade_id": "conv_transpose_forward_impl", "locked": false, "schema_version": 3, "solution": true}
def conv_transpose2d_forward(x, w, b=None, stride=1, padding=0, output_padding=0):
    '''Transposed convolution of x (N, C, H, W) with w (C, F, KH, KW) -> (out (N, F, H_out, W_out), cache).'''
    ### BEGIN SOLUTION
    (sh, sw), (ph, pw), (oh, ow) = pair(stride), pair(padding), pair(output_padding)
    n, c, h, wd = x.shape
    f, kh, kw = w.shape[1], w.shape[2], w.shape[3]
    h_out, w_out = (h - 1) * sh - 2 * ph + kh + oh, (wd - 1) * sw - 2 * pw + kw + ow
    full = np.zeros((n, f, (h - 1) * sh + kh + oh, (wd - 1) * sw + kw + ow), dtype=x.dtype)
    for a in range(kh):
        for bb in range(kw):
            full[:, :, a:a + (h - 1) * sh + 1:sh, bb:bb + (wd - 1) * sw + 1:sw] += np.einsum("nchw,cf->nfhw", x, w[:, :, a, bb])
    out = full[:, :, ph:ph + h_out, pw:pw + w_out].copy()
    if b is not None:
        out += b[None, :, None, None]
    return out, (x, w, b is not None, (sh, sw), (ph, pw), (oh, ow))
    ### END SOLUTION


# %%
# Self-check 1 (by hand, the lecture's 1-D example): x = [1, 2], kernel [1, 1, 1], stride 2:
# the two copies [1, 1, 1] and [2, 2, 2] start at 0 and 2 and overlap in one position.
out, _ = conv_transpose2d_forward(np.array([[[[1.0, 2.0]]]]), np.ones((1, 1, 1, 3)), stride=2)
print(out[0, 0])
assert out.shape == (1, 1, 1, 5), f"output shape {out.shape}, expected (1, 1, 1, 5): (W - 1)*stride + KW = 5"
assert np.allclose(out[0, 0, 0], [1, 1, 3, 2, 2]), f"got {out[0, 0, 0]}, expected [1, 1, 3, 2, 2]"
# Self-check 2: padding crops, output_padding adds a column back, the bias is added, dtype kept
out, _ = conv_transpose2d_forward(np.array([[[[1.0, 2.0]]]], np.float32), np.ones((1, 1, 1, 3), np.float32),
                                  np.array([10.0], np.float32), stride=(1, 2), padding=(0, 1), output_padding=(0, 1))
assert out.dtype == np.float32, f"dtype {out.dtype}, expected float32 (the input's)"
assert out.shape == (1, 1, 1, 4), f"output shape {out.shape}, expected (1, 1, 1, 4) = 5 - 2*1 + 1"
assert np.allclose(out[0, 0, 0], [11, 13, 12, 12]), f"got {out[0, 0, 0]}, expected [11, 13, 12, 12]"
# Self-check 3: channels mix through w[c, f] (input channel first)
x3 = np.arange(8.0).reshape(1, 2, 2, 2)
w3 = np.zeros((2, 3, 1, 1)); w3[0, 2] = 1.0; w3[1, 0] = -1.0
out, _ = conv_transpose2d_forward(x3, w3)
assert out.shape == (1, 3, 2, 2) and np.allclose(out[0, 2], x3[0, 0]) and np.allclose(out[0, 0], -x3[0, 1]), \
    "w[c, f] must connect input channel c to output channel f"
print("A1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_conv_transpose_forward", "locked": true, "points": 12, "schema_version": 3, "solution": false}
# A1 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
import torch.nn.functional as _F
from cnncourse.grading import assert_array_close, call_student, check_forward, secret_seed
from cnncourse.grading.cases import Case as _Case
from cnncourse.layers import conv_transpose2d_forward as _ref_ct


def _ct_cases(seed):
    _rng = _np.random.default_rng(seed)
    _spec = [("stride 1, no padding", 2, 3, 4, (4, 5), (3, 3), 1, 0, 0, True, _np.float64),
             ("stride 2, padding 1, output_padding 1", 2, 2, 3, (3, 4), (3, 3), 2, 1, 1, True, _np.float64),
             ("stride (2, 3), padding (1, 0), output_padding (1, 2)", 1, 3, 2, (4, 3), (4, 3), (2, 3), (1, 0), (1, 2), True, _np.float64),
             ("kernel 2x2 stride 2 (the FCN's upsampling)", 3, 4, 2, (3, 3), (2, 2), 2, 0, 0, True, _np.float64),
             ("no bias, padding 2", 2, 2, 2, (5, 4), (5, 5), 1, 2, 0, False, _np.float64),
             ("float32", 2, 3, 3, (4, 4), (3, 2), (3, 2), (1, 1), (2, 0), True, _np.float32)]
    for _ in range(3):
        _k = tuple(int(v) for v in _rng.integers(1, 5, 2))
        _s = tuple(int(v) for v in _rng.integers(1, 4, 2))
        _p = tuple(int(_rng.integers(0, (_k[i] - 1) // 2 + 1)) for i in range(2))   # 2p < K: H_out >= 1 for any H
        _o = tuple(int(_rng.integers(0, _s[i])) for i in range(2))
        _spec.append(("random", int(_rng.integers(1, 4)), int(_rng.integers(1, 4)), int(_rng.integers(1, 4)),
                      tuple(int(v) for v in _rng.integers(2, 6, 2)), _k, _s, _p, _o, bool(_rng.integers(0, 2)), _np.float64))
    for _label, _n, _c, _f, _hw, _k, _s, _p, _o, _bias, _dt in _spec:
        _x = _rng.standard_normal((_n, _c) + _hw).astype(_dt)
        _w = _rng.standard_normal((_c, _f) + _k).astype(_dt)
        _b = _rng.standard_normal(_f).astype(_dt) if _bias else None
        _out, _ = _ref_ct(_x, _w, _b, _s, _p, _o)
        yield _Case(_label, dout=_rng.standard_normal(_out.shape).astype(_dt), x=_x, w=_w, b=_b, stride=_s,
                    padding=_p, output_padding=_o)


_hints = {"shape": "H_out = (H - 1)*stride - 2*padding + KH + output_padding (output_padding is added at the end only)",
          "values": "scatter x[n, c, i, j] * w[c, f] at (i*stride, j*stride) of the full map, then crop `padding` "
                    "rows/columns at the start and keep H_out; no kernel flip; w is (C_in, C_out, KH, KW)"}
check_forward(conv_transpose2d_forward, _ref_ct, _ct_cases(secret_seed(61)), forbidden=("segmentation", "references"),
              hints=_hints)
# the reference is torch's layer: a second oracle on a few cases
for _case in list(_ct_cases(secret_seed(62)))[1:4]:
    _want = _F.conv_transpose2d(_torch.from_numpy(_case["x"]), _torch.from_numpy(_case["w"]),
                                None if _case["b"] is None else _torch.from_numpy(_case["b"]), stride=_case["stride"],
                                padding=_case["padding"], output_padding=_case["output_padding"]).numpy()
    _got = call_student(conv_transpose2d_forward, **_case, forbidden=("segmentation", "references"))[0]
    assert_array_close(_got, _want, name=f"out vs torch.nn.functional.conv_transpose2d ({_case.label})", hints=_hints)
### END HIDDEN TESTS

# %% [markdown]
# ### A2. Backward (10 points)
#
# `conv_transpose2d_backward(dout, cache)` returns `(dx, dw, db)`: the gradients of a loss with
# respect to `x`, `w` and `b` given `dout = dL/dout` of shape `(N, F, H_out, W_out)`; `db` is `None`
# when the forward pass had no bias. Undo the forward pass step by step: put `dout` back into a full
# map (where the crop took it), then for every kernel position read the strided slice that the
# scatter wrote:
# `dx[n, c, i, j] = sum_{f, a, b} dfull[n, f, i sh + a, j sw + b] w[c, f, a, b]` (a plain convolution
# of `dfull` with `w`), `dw[c, f, a, b] = sum_{n, i, j} x[n, c, i, j] dfull[n, f, i sh + a, j sw + b]`.

# %% nbgrader={"grade": false, "grade_id": "conv_transpose_backward_impl", "locked": false, "schema_version": 3, "solution": true}
def conv_transpose2d_backward(dout, cache):
    '''Gradients (dx, dw, db) of conv_transpose2d_forward; db is None without bias.'''
    ### BEGIN SOLUTION
    x, w, has_b, (sh, sw), (ph, pw), (oh, ow) = cache
    n, c, h, wd = x.shape
    kh, kw = w.shape[2], w.shape[3]
    h_out, w_out = dout.shape[2], dout.shape[3]
    dfull = np.zeros(dout.shape[:2] + ((h - 1) * sh + kh + oh, (wd - 1) * sw + kw + ow), dtype=dout.dtype)
    dfull[:, :, ph:ph + h_out, pw:pw + w_out] = dout
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    for a in range(kh):
        for bb in range(kw):
            window = dfull[:, :, a:a + (h - 1) * sh + 1:sh, bb:bb + (wd - 1) * sw + 1:sw]   # (N, F, H, W)
            dx += np.einsum("nfhw,cf->nchw", window, w[:, :, a, bb])
            dw[:, :, a, bb] = np.einsum("nchw,nfhw->cf", x, window)
    db = dout.sum(axis=(0, 2, 3)) if has_b else None
    return dx, dw, db
    ### END SOLUTION


# %%
# Self-check: compare with a numerical gradient of sum(out * dout) on a small case
rng = np.random.default_rng(0)
x, w, b = rng.standard_normal((2, 2, 3, 2)), rng.standard_normal((2, 3, 3, 2)), rng.standard_normal(3)
args = dict(stride=(2, 1), padding=(1, 0), output_padding=(1, 0))
out, cache = conv_transpose2d_forward(x, w, b, **args)
dout = rng.standard_normal(out.shape)
dx, dw, db = conv_transpose2d_backward(dout, cache)
for name, arr, grad in (("x", x, dx), ("w", w, dw), ("b", b, db)):
    num = np.zeros_like(arr)
    for idx in np.ndindex(arr.shape):
        old = arr[idx]
        arr[idx] = old + 1e-6
        plus = (conv_transpose2d_forward(x, w, b, **args)[0] * dout).sum()
        arr[idx] = old - 1e-6
        minus = (conv_transpose2d_forward(x, w, b, **args)[0] * dout).sum()
        arr[idx] = old
        num[idx] = (plus - minus) / 2e-6
    assert grad is not None and grad.shape == arr.shape, f"d{name} has shape {getattr(grad, 'shape', None)}, expected {arr.shape}"
    assert np.allclose(grad, num, atol=1e-6), f"d{name} differs from the numerical gradient by {np.abs(grad - num).max():.2e}"
assert conv_transpose2d_backward(dout, conv_transpose2d_forward(x, w, None, **args)[1])[2] is None, "db must be None without bias"
print("A2 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_conv_transpose_backward", "locked": true, "points": 10, "schema_version": 3, "solution": false}
# A2 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import torch as _torch
import torch.nn.functional as _F
from cnncourse.grading import assert_array_close, call_student, check_backward, secret_seed
from cnncourse.layers import conv_transpose2d_backward as _ref_ct_b
from cnncourse.layers import conv_transpose2d_forward as _ref_ct

for _i, (_g, _nm) in enumerate(((0, "dx"), (1, "dw"), (2, "db"))):
    check_backward(conv_transpose2d_forward, conv_transpose2d_backward, _ref_ct, _ref_ct_b, _ct_cases(secret_seed(63)),
                   grad=_g, name=_nm, forbidden=("segmentation", "references"),
                   hints={"values": "put dout into the full map at [padding : padding + H_out] first; dx is a convolution of "
                                    "that map with w, dw sums x times the strided slice over the batch, db sums dout over N, H, W"})
# torch's autograd as a second oracle
for _case in list(_ct_cases(secret_seed(64)))[1:3]:
    _xt, _wt = (_torch.from_numpy(_case[k]).requires_grad_(True) for k in ("x", "w"))
    _bt = _torch.from_numpy(_case["b"]).requires_grad_(True)
    _F.conv_transpose2d(_xt, _wt, _bt, stride=_case["stride"], padding=_case["padding"],
                        output_padding=_case["output_padding"]).backward(_torch.from_numpy(_case.dout))
    _cache = call_student(conv_transpose2d_forward, **_case, forbidden=("segmentation", "references"))[1]
    _got = call_student(conv_transpose2d_backward, _case.dout, _cache, forbidden=("segmentation", "references"))
    for _k, _t in enumerate((_xt, _wt, _bt)):
        assert_array_close(_got[_k], _t.grad.numpy(), name=f"{('dx', 'dw', 'db')[_k]} vs torch autograd ({_case.label})")
### END HIDDEN TESTS

# %% [markdown]
# ## Part B — Mirror padding
#
# Zero padding puts a black frame around the image: a segmentation network sees a fake edge at every
# border. **Mirror (reflect) padding** continues the image by reflecting it about its first/last row
# and column, without repeating the edge pixel: a row `[a b c d]` padded by 2 becomes
# `[c b | a b c d | c b]` (`numpy.pad(mode="reflect")`, `torch.nn.functional.pad(mode="reflect")`).
# Each padding must be smaller than its axis.
#
# ### B1. Reflect padding, forward and backward (8 points)
#
# `reflect_pad2d_forward(x, padding)` pads the two spatial axes of `x (N, C, H, W)` by `padding`
# (an int, or a pair `(ph, pw)`: `ph` rows at the top and at the bottom, `pw` columns left and right)
# and returns `(out, cache)`; raise a `ValueError` naming the padding when `ph >= H` or `pw >= W`.
# `reflect_pad2d_backward(dout, cache)` returns `dx (N, C, H, W)`: every pixel receives the sum of the
# gradients of all its copies (itself and its mirror images). Hint: compute, per axis, the source
# index of every padded position, then use fancy indexing forward and `np.add.at` backward.

# %% nbgrader={"grade": false, "grade_id": "reflect_pad_impl", "locked": false, "schema_version": 3, "solution": true}
def reflect_pad2d_forward(x, padding):
    '''Mirror-pad x (N, C, H, W) by padding (int or (ph, pw)) -> (out (N, C, H + 2ph, W + 2pw), cache).'''
    ### BEGIN SOLUTION
    ph, pw = pair(padding)
    h, wd = x.shape[2], x.shape[3]
    if ph >= h or pw >= wd:
        raise ValueError(f"padding {(ph, pw)} must be smaller than the spatial size {(h, wd)} for reflect padding")

    def source(size, p):
        j = np.abs(np.arange(-p, size + p))                # reflect at the start
        return np.where(j >= size, 2 * (size - 1) - j, j)  # reflect at the end

    rows, cols = source(h, ph), source(wd, pw)
    return x[:, :, rows[:, None], cols[None, :]], (x.shape, rows, cols)
    ### END SOLUTION


def reflect_pad2d_backward(dout, cache):
    '''Gradient of reflect_pad2d_forward: dx (N, C, H, W).'''
    ### BEGIN SOLUTION
    shape, rows, cols = cache
    dx = np.zeros(shape, dtype=dout.dtype)
    np.add.at(dx, (slice(None), slice(None), rows[:, None], cols[None, :]), dout)
    return dx
    ### END SOLUTION


# %%
# Self-check: the row [a b c d] = [1 2 3 4] padded by 2, and the gradient counts of the copies
out, cache = reflect_pad2d_forward(np.array([[[[1.0, 2.0, 3.0, 4.0]] * 3]]), (1, 2))
print(out[0, 0])
assert out.shape == (1, 1, 5, 8), f"shape {out.shape}, expected (1, 1, 5, 8)"
assert np.allclose(out[0, 0, 0], [3, 2, 1, 2, 3, 4, 3, 2]), f"row {out[0, 0, 0]}, expected [3 2 1 2 3 4 3 2] (edge not repeated)"
dx = reflect_pad2d_backward(np.ones_like(out), cache)
assert dx.shape == (1, 1, 3, 4), f"dx shape {dx.shape}, expected (1, 1, 3, 4)"
assert np.allclose(dx[0, 0], np.outer([1, 3, 1], [1, 3, 3, 1])), \
    (f"dx {dx[0, 0]}: with dout = 1 every pixel receives its number of copies: the values 2 and 3 of a row appear "
     "3 times (itself and two mirror images), the middle row 3 times, so dx[1, 1] = 3 * 3 = 9")
try:
    reflect_pad2d_forward(np.zeros((1, 1, 2, 5)), 2)
    raise AssertionError("padding 2 on a height of 2 must raise a ValueError")
except ValueError:
    pass
print("B1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_reflect_pad", "locked": true, "points": 8, "schema_version": 3, "solution": false}
# B1 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.segmentation import reflect_pad2d_backward as _ref_rp_b
from cnncourse.segmentation import reflect_pad2d_forward as _ref_rp

_rng = _np.random.default_rng(secret_seed(65))
for _shape, _pad, _dt in [((2, 3, 5, 6), 1, _np.float64), ((1, 2, 4, 7), (3, 2), _np.float64), ((2, 1, 6, 3), (5, 2), _np.float32),
                          ((1, 1, 3, 3), 0, _np.float64), (tuple(int(v) for v in _rng.integers(2, 8, 4)), (1, 1), _np.float64)]:
    _x = _rng.standard_normal(_shape).astype(_dt)
    _label = f"x {_shape} {_np.dtype(_dt).name}, padding={_pad}"
    _want, _rc = _ref_rp(_x, _pad)
    _p2 = (_pad, _pad) if _np.isscalar(_pad) else _pad
    assert _np.array_equal(_want, _np.pad(_x, ((0, 0), (0, 0), (_p2[0],) * 2, (_p2[1],) * 2), mode="reflect"))
    _got, _cache = call_student(reflect_pad2d_forward, _x, _pad, forbidden=("a6_segmentation",))
    assert_array_close(_got, _want, name=f"out ({_label})",
                       hints={"values": "reflect WITHOUT repeating the edge pixel: [a b c d] -> [c b a b c d c b] "
                                        "(numpy's 'symmetric' mode repeats it, 'reflect' does not)"})
    _dout = _rng.standard_normal(_want.shape).astype(_dt)
    _dx = call_student(reflect_pad2d_backward, _dout, _cache, forbidden=("a6_segmentation",))
    assert_array_close(_dx, _ref_rp_b(_dout, _rc), name=f"dx ({_label})",
                       hints={"values": "every copy sends its gradient home: ADD (np.add.at), a plain fancy-index "
                                        "assignment keeps only one of the copies"})
for _shape, _pad in [((1, 1, 3, 8), 3), ((1, 1, 8, 2), (1, 2))]:
    try:
        call_student(reflect_pad2d_forward, _np.zeros(_shape), _pad, forbidden=("a6_segmentation",))
    except ValueError:
        pass
    else:
        raise AssertionError(f"reflect_pad2d_forward(x of shape {_shape}, {_pad}) should raise a ValueError: a reflect "
                             "padding must be smaller than its axis")
### END HIDDEN TESTS

# %% [markdown]
# ## Part C — Losses
#
# ### C1. Pixel cross-entropy with class weights and an ignore index (14 points)
#
# Segmentation is classification of every pixel. With `p = softmax(logits[n, :, i, j])` and label
# `y = target[n, i, j]`, the pixel's loss is `-w[y] log p[y]` (class weights `w`, all 1 when
# `weight=None`), and **0** where `y == ignore_index` (unlabelled or uncertain pixels, e.g. object
# borders: they contribute neither loss nor gradient). The reductions, as in
# `torch.nn.functional.cross_entropy(logits, target, weight=, ignore_index=, reduction=)`:
#
# - `"mean"`: the sum of the pixel losses divided by the **sum of the weights** `w[y]` of the pixels
#   that count (a weighted mean; not a division by the number of pixels);
# - `"sum"`: the sum; `"none"`: the `(N, H, W)` map of pixel losses.
#
# `pixel_cross_entropy_forward(logits, target, weight=None, ignore_index=-100, reduction="mean")`
# returns `(loss, cache)`, `loss` a 0-d array (or the map) of the logits' dtype. Compute `log p`
# stably (subtract the per-pixel maximum before `exp`: the hidden tests use logits of size 1000).
# `pixel_cross_entropy_backward(dout, cache)` returns `dlogits`: for one pixel
# `w[y] (p - onehot(y))`, times `dout` (a scalar, or the `(N, H, W)` map for `"none"`), times
# `1 / sum(w[y])` for the mean.

# %% nbgrader={"grade": false, "grade_id": "pixel_ce_impl", "locked": false, "schema_version": 3, "solution": true}
def pixel_cross_entropy_forward(logits, target, weight=None, ignore_index=-100, reduction="mean"):
    '''Weighted pixel cross-entropy of logits (N, K, H, W) against target (N, H, W) -> (loss, cache).'''
    ### BEGIN SOLUTION
    k = logits.shape[1]
    w = np.ones(k, dtype=logits.dtype) if weight is None else np.asarray(weight, dtype=logits.dtype)
    valid = target != ignore_index
    y = np.where(valid, target, 0)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    picked = np.take_along_axis(log_p, y[:, None], axis=1)[:, 0]          # (N, H, W)
    w_pix = np.where(valid, w[y], 0).astype(logits.dtype)                 # (N, H, W)
    losses = -w_pix * picked
    if reduction == "none":
        loss, scale = losses, None
    elif reduction == "sum":
        loss, scale = losses.sum(), 1.0
    else:
        scale = 1.0 / w_pix.sum()
        loss = losses.sum() * scale
    return np.asarray(loss, dtype=logits.dtype), (np.exp(log_p), y, w_pix, scale, reduction)
    ### END SOLUTION


def pixel_cross_entropy_backward(dout, cache):
    '''Gradient of pixel_cross_entropy_forward with respect to the logits: (N, K, H, W).'''
    ### BEGIN SOLUTION
    probs, y, w_pix, scale, reduction = cache
    dout = np.asarray(dout, dtype=probs.dtype)
    g = w_pix * dout if reduction == "none" else w_pix * (dout * scale)   # (N, H, W)
    dlogits = probs * g[:, None]
    np.put_along_axis(dlogits, y[:, None], np.take_along_axis(dlogits, y[:, None], axis=1) - g[:, None], axis=1)
    return dlogits.astype(probs.dtype)
    ### END SOLUTION


# %%
# Self-check: two pixels, two classes, logits 0: every pixel loss is log 2; one pixel ignored
logits = np.zeros((1, 2, 1, 2))
target = np.array([[[1, -100]]])
loss, cache = pixel_cross_entropy_forward(logits, target)
assert np.isclose(loss, np.log(2)), f"loss {loss}, expected log 2 = {np.log(2):.4f} (the ignored pixel does not count)"
d = pixel_cross_entropy_backward(1.0, cache)
assert np.allclose(d[0, :, 0, 0], [0.5, -0.5]) and np.allclose(d[0, :, 0, 1], 0), f"dlogits {d[0, :, 0]}"
# weights: a weighted MEAN (divide by the sum of the weights of the counted pixels)
loss, _ = pixel_cross_entropy_forward(np.zeros((1, 2, 1, 2)), np.array([[[0, 1]]]), weight=np.array([1.0, 3.0]))
assert np.isclose(loss, np.log(2)), f"weighted mean {loss}, expected (1 + 3) log 2 / (1 + 3) = log 2"
loss, _ = pixel_cross_entropy_forward(np.zeros((1, 2, 1, 2)), np.array([[[0, 1]]]), weight=np.array([1.0, 3.0]), reduction="sum")
assert np.isclose(loss, 4 * np.log(2)), f"sum {loss}, expected 4 log 2"
big, _ = pixel_cross_entropy_forward(np.array([[[[1000.0]], [[0.0]]]]), np.array([[[1]]]))
assert np.isfinite(big) and np.isclose(big, 1000.0), f"loss {big} for logits (1000, 0) and label 1: expected 1000 (stable log-softmax)"
print("C1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_pixel_ce", "locked": true, "points": 14, "schema_version": 3, "solution": false}
# C1 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
import torch.nn.functional as _F
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.segmentation import pixel_cross_entropy_backward as _ref_ce_b
from cnncourse.segmentation import pixel_cross_entropy_forward as _ref_ce

_rng = _np.random.default_rng(secret_seed(66))
_ce_hint = {"values": "mean = sum of w[y] * (-log p[y]) over the counted pixels / sum of their w[y]; ignored pixels "
                      "count in neither sum; subtract the per-pixel max before exp"}
for _label, _shape, _wt, _ii, _red, _dt, _scale in [
        ("no weights, mean", (2, 3, 4, 5), False, -100, "mean", _np.float64, 1.0),
        ("class weights, mean", (2, 4, 3, 3), True, -100, "mean", _np.float64, 1.0),
        ("weights and ignored pixels (255), mean", (3, 4, 5, 4), True, 255, "mean", _np.float64, 1.0),
        ("ignored pixels (-1), sum", (2, 3, 4, 4), True, -1, "sum", _np.float64, 1.0),
        ("weights, ignored pixels, none", (2, 3, 3, 5), True, 255, "none", _np.float64, 1.0),
        ("large logits (x 1000), weights", (2, 3, 4, 4), True, 255, "mean", _np.float64, 1000.0),
        ("float32, weights, ignored pixels", (2, 4, 4, 4), True, 255, "mean", _np.float32, 1.0),
        ("class 3 absent from the target", (2, 4, 3, 4), True, 255, "mean", _np.float64, 1.0)]:
    _k = _shape[1]
    _x = (_rng.standard_normal(_shape) * _scale).astype(_dt)
    _t = _rng.integers(0, _k - 1 if "absent" in _label else _k, (_shape[0],) + _shape[2:])
    if _ii != -100:
        _t[_rng.random(_t.shape) < 0.3] = _ii
    _w = _rng.uniform(0.2, 3.0, _k).astype(_dt) if _wt else None
    _kw = dict(weight=_w, ignore_index=_ii, reduction=_red)
    _want, _rc = _ref_ce(_x, _t, **_kw)
    _tw = _F.cross_entropy(_torch.from_numpy(_x), _torch.from_numpy(_t), weight=None if _w is None else _torch.from_numpy(_w),
                           ignore_index=_ii, reduction=_red).numpy()
    assert _np.allclose(_want, _tw, rtol=1e-5, atol=1e-6)
    _desc = f"{_label}: logits {_shape} {_np.dtype(_dt).name}, ignore_index={_ii}, reduction={_red!r}"
    _got, _cache = call_student(pixel_cross_entropy_forward, _x, _t, **_kw, forbidden=("a6_segmentation",))
    assert_array_close(_got, _tw, name=f"loss vs torch.nn.functional.cross_entropy ({_desc})", hints=_ce_hint)
    _dout = _rng.standard_normal(_want.shape).astype(_dt) if _red == "none" else _dt(1.7)
    _dl = call_student(pixel_cross_entropy_backward, _dout, _cache, forbidden=("a6_segmentation",))
    assert_array_close(_dl, _ref_ce_b(_dout, _rc), name=f"dlogits ({_desc})",
                       hints={"values": "per pixel w[y] * (softmax - onehot(y)) * dout, 0 on ignored pixels, "
                                        "times 1 / sum(w[y]) for the mean"})
### END HIDDEN TESTS

# %% [markdown]
# ### C2. Soft Dice loss (12 points)
#
# Cross-entropy sums over pixels, so large regions (the background) dominate it and a small object
# can be lost at almost no cost. The **Dice coefficient** of a class compares areas:
# `2|A n B| / (|A| + |B|)`. Its *soft* version replaces the predicted mask `A` by the softmax
# probabilities `p_c`, so it is differentiable. For each class `c`, summing over the batch and all
# pixels (the pixels with `target == ignore_index` are left out of every sum),
#
# $$\text{Dice}_c = \frac{2 \sum p_c\, t_c + s}{\sum p_c + \sum t_c + s}, \qquad
#   \text{loss} = 1 - \frac{1}{K} \sum_c \text{Dice}_c ,$$
#
# with `t_c` the one-hot target and the smoothing `s >= 0`: a class absent from the target and from
# the prediction gets `Dice ~ s / s = 1` instead of `0 / 0`. Every class counts the same, whatever
# its area.
#
# Write `soft_dice_loss(logits, target, smooth=1.0, ignore_index=None)` in **PyTorch** (the logits
# `(N, K, H, W)` float tensor, the target `(N, H, W)` int64 tensor; `ignore_index=None` ignores
# nothing). Return a 0-d tensor on the logits' device and dtype, **differentiable**: the hidden tests
# compare its value and its autograd gradient (through `loss_and_grad`) with the reference, on CPU
# and GPU. No `.item()`, `.numpy()` or `argmax` inside; make ignored labels harmless before
# `F.one_hot` (which rejects negative labels).

# %% nbgrader={"grade": false, "grade_id": "soft_dice_impl", "locked": false, "schema_version": 3, "solution": true}
def soft_dice_loss(logits, target, smooth=1.0, ignore_index=None):
    '''1 - mean over classes of the soft Dice of softmax(logits) and the one-hot target.'''
    ### BEGIN SOLUTION
    k = logits.shape[1]
    valid = torch.ones_like(target, dtype=torch.bool) if ignore_index is None else target != ignore_index
    labels = torch.where(valid, target, torch.zeros_like(target))
    mask = valid.unsqueeze(1).to(logits.dtype)                                  # (N, 1, H, W)
    probs = logits.softmax(dim=1) * mask                                        # (N, K, H, W)
    onehot = F.one_hot(labels, k).movedim(-1, 1).to(logits.dtype) * mask        # (N, K, H, W)
    dims = (0, 2, 3)
    dice = (2 * (probs * onehot).sum(dims) + smooth) / (probs.sum(dims) + onehot.sum(dims) + smooth)  # (K,)
    return 1 - dice.mean()
    ### END SOLUTION


# %%
# Self-check: a perfect, confident prediction gives a loss close to 0; a class absent from both
# prediction and target counts as Dice 1 (smoothing); the loss is differentiable
target = torch.tensor([[[0, 0], [1, 1]]])
perfect = 50.0 * F.one_hot(target, 3).movedim(-1, 1).double()
loss = soft_dice_loss(perfect, target)
assert loss.dim() == 0 and loss.dtype == torch.float64, f"loss {loss!r}: expected a 0-d float64 tensor"
assert loss.item() < 1e-6, f"loss {loss.item():.3g} for a perfect prediction (class 2 absent from both), expected ~0"
uniform = torch.zeros(1, 3, 2, 2, dtype=torch.float64)
want = 1 - ((2 * 2 / 3 + 1) / (4 / 3 + 2 + 1) * 2 + (0 + 1) / (4 / 3 + 0 + 1)) / 3
assert np.isclose(soft_dice_loss(uniform, target).item(), want), f"uniform prediction: expected {want:.4f}"
ignored = torch.tensor([[[0, -1], [1, 1]]])
want_ignored = 1 - ((2 / 3 + 1) / (1 + 1 + 1) + (4 / 3 + 1) / (1 + 2 + 1) + 1 / (1 + 1)) / 3   # 3 pixels count
assert np.isclose(soft_dice_loss(uniform, ignored, ignore_index=-1).item(), want_ignored), "ignored pixels leave every sum"
value, grad = loss_and_grad(soft_dice_loss, uniform, target)
assert grad is not None and grad.shape == uniform.shape and torch.isfinite(grad).all(), "the loss must be differentiable"
print("C2 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_soft_dice", "locked": true, "points": 12, "schema_version": 3, "solution": false}
# C2 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
from cnncourse.grading import assert_array_close, call_student, plain_array, secret_seed
from cnncourse.grading.devices import available_devices as _devices
from cnncourse.segmentation import soft_dice_loss as _ref_dice

_gen = _torch.Generator().manual_seed(secret_seed(67))
_dh = {"values": "Dice_c = (2 sum p_c t_c + smooth) / (sum p_c + sum t_c + smooth), sums over the batch AND the "
                 "pixels (one Dice per class), then 1 - the mean over the K classes; ignored pixels leave every sum"}
for _dev in _devices():
    for _label, _shape, _smooth, _ii, _dt, _absent in [
            ("smooth 1", (2, 3, 4, 5), 1.0, None, _torch.float64, False),
            ("smooth 0.5, ignored pixels (255)", (3, 4, 4, 4), 0.5, 255, _torch.float64, False),
            ("class 3 absent from the target, smooth 1", (2, 4, 5, 3), 1.0, None, _torch.float64, True),
            ("no smoothing", (2, 3, 3, 3), 0.0, None, _torch.float64, False),
            ("float32, ignored pixels (-1)", (2, 3, 6, 6), 1.0, -1, _torch.float32, True)]:
        _x = (_torch.randn(_shape, generator=_gen, dtype=_torch.float64) * 2).to(_dt)
        _t = _torch.randint(0, _shape[1] - (1 if _absent else 0), (_shape[0],) + _shape[2:], generator=_gen)
        if _ii is not None:
            _t[_torch.rand(_t.shape, generator=_gen) < 0.25] = _ii
        _x, _t = _x.to(_dev), _t.to(_dev)
        _desc = f"{_label}: logits {_shape} {str(_dt).split('.')[1]} on {_dev}"
        _xr = _x.detach().clone().requires_grad_(True)
        _want = _ref_dice(_xr, _t, smooth=_smooth, ignore_index=_ii)
        _want.backward()
        _got = call_student(soft_dice_loss, _x, _t, smooth=_smooth, ignore_index=_ii, forbidden=("a6_segmentation",))
        _got = plain_array(_got, name=f"soft_dice_loss ({_desc})", expect="torch")
        assert _got.dim() == 0, f"soft_dice_loss ({_desc}) returned shape {tuple(_got.shape)}, expected a 0-d tensor"
        assert_array_close(_got, _want.detach(), name=f"loss ({_desc})", hints=_dh)
        _lv, _g = call_student(loss_and_grad, soft_dice_loss, _x, _t, smooth=_smooth, ignore_index=_ii,
                               forbidden=("a6_segmentation",))
        assert _g is not None, (f"soft_dice_loss ({_desc}) has no gradient with respect to the logits: keep it "
                                "differentiable (softmax probabilities, no argmax, .item() or .detach())")
        assert_array_close(_g, _xr.grad, name=f"gradient of the loss (torch autograd, {_desc})", hints=_dh)
### END HIDDEN TESTS

# %% [markdown]
# ## Part D — Metrics
#
# ### D1. Confusion matrix (4 points)
#
# `confusion_matrix(target, pred, num_classes, ignore_index=None)`: `target` and `pred` are integer
# arrays of the same shape (e.g. `(N, H, W)`); return the `(K, K)` int64 matrix whose entry `[i, j]`
# counts the pixels of **true** class `i` **predicted** as `j` (rows = truth, as scikit-learn). Pixels
# whose target is `ignore_index` are not counted. One `np.bincount` does it (`target * K + pred`).

# %% nbgrader={"grade": false, "grade_id": "confusion_matrix_impl", "locked": false, "schema_version": 3, "solution": true}
def confusion_matrix(target, pred, num_classes, ignore_index=None):
    '''(K, K) counts of (true class, predicted class) pairs; pixels with target == ignore_index are left out.'''
    ### BEGIN SOLUTION
    target, pred = np.asarray(target), np.asarray(pred)
    keep = np.ones(target.shape, bool) if ignore_index is None else target != ignore_index
    t, p = target[keep].astype(np.int64), pred[keep].astype(np.int64)
    return np.bincount(t * num_classes + p, minlength=num_classes ** 2).reshape(num_classes, num_classes)
    ### END SOLUTION


# %%
cm = confusion_matrix(np.array([[0, 0, 1], [2, 1, 255]]), np.array([[0, 1, 1], [1, 1, 0]]), 4, ignore_index=255)
print(cm)
assert cm.shape == (4, 4), f"shape {cm.shape}, expected (4, 4) even though class 3 never occurs"
assert np.array_equal(cm, [[1, 1, 0, 0], [0, 2, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]]), "rows are the TRUE class, columns the prediction"
print("D1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_confusion_matrix", "locked": true, "points": 4, "schema_version": 3, "solution": false}
# D1 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.segmentation import confusion_matrix as _ref_cm

_rng = _np.random.default_rng(secret_seed(68))
for _label, _shape, _k, _ii in [("no ignore", (2, 5, 6), 3, None), ("ignore 255", (3, 4, 4), 5, 255),
                                ("classes 3 and 4 never occur", (2, 6, 6), 5, None), ("ignore -1", (1, 7, 3), 4, -1)]:
    _kk = _k - 2 if "never" in _label else _k
    _t, _p = _rng.integers(0, _kk, _shape), _rng.integers(0, _kk, _shape)
    if _ii is not None:
        _t[_rng.random(_shape) < 0.3] = _ii
    _got = call_student(confusion_matrix, _t, _p, _k, ignore_index=_ii, forbidden=("a6_segmentation",))
    assert_array_close(_got, _ref_cm(_t, _p, _k, ignore_index=_ii), name=f"cm ({_label}: K={_k}, shape {_shape})",
                       hints={"values": "cm[i, j] counts pixels whose TARGET is i and PREDICTION is j (rows = truth); "
                                        "skip the pixels whose target is ignore_index",
                              "shape": "always (K, K): use minlength=K*K in np.bincount"})
### END HIDDEN TESTS

# %% [markdown]
# ### D2. IoU and Dice per class and their means (10 points)
#
# From a confusion matrix `cm`, for each class `c`: `TP = cm[c, c]`, `FP` = column sum minus `TP`
# (predicted `c`, truly something else), `FN` = row sum minus `TP`, and
#
# $$\text{IoU}_c = \frac{TP}{TP + FP + FN}, \qquad \text{Dice}_c = \frac{2TP}{2TP + FP + FN}.$$
#
# **Absent classes (the convention of this course).** A class missing from both the target and the
# prediction has `TP + FP + FN = 0`: its IoU and Dice are **undefined: return NaN** for it, and
# **leave it out of the mean** (the mean runs over the classes that occur; predicting no triangle for
# images without triangles should neither help nor hurt). A class present in only one of the two
# has IoU 0 and counts. If no class occurs at all, the mean is NaN. (scikit-learn's `jaccard_score`
# instead returns its `zero_division` value, 0 or 1, and counts it: not our convention.)
#
# Write `iou_per_class(cm)`, `dice_per_class(cm)` (float64 arrays `(K,)`) and `mean_iou(cm)`,
# `mean_dice(cm)` (Python floats).

# %% nbgrader={"grade": false, "grade_id": "iou_dice_impl", "locked": false, "schema_version": 3, "solution": true}
def _counts(cm):
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    return tp, cm.sum(axis=0) - tp, cm.sum(axis=1) - tp


def iou_per_class(cm):
    '''(K,) IoU of each class; NaN for a class absent from both target and prediction.'''
    ### BEGIN SOLUTION
    tp, fp, fn = _counts(cm)
    den = tp + fp + fn
    return np.where(den > 0, tp / np.maximum(den, 1), np.nan)
    ### END SOLUTION


def dice_per_class(cm):
    '''(K,) Dice of each class; NaN for a class absent from both target and prediction.'''
    ### BEGIN SOLUTION
    tp, fp, fn = _counts(cm)
    den = 2 * tp + fp + fn
    return np.where(den > 0, 2 * tp / np.maximum(den, 1), np.nan)
    ### END SOLUTION


def mean_iou(cm):
    '''Mean IoU over the classes that occur (NaN if none occurs).'''
    ### BEGIN SOLUTION
    v = iou_per_class(cm)
    return float(v[~np.isnan(v)].mean()) if (~np.isnan(v)).any() else float("nan")
    ### END SOLUTION


def mean_dice(cm):
    '''Mean Dice over the classes that occur (NaN if none occurs).'''
    ### BEGIN SOLUTION
    v = dice_per_class(cm)
    return float(v[~np.isnan(v)].mean()) if (~np.isnan(v)).any() else float("nan")
    ### END SOLUTION


# %%
cm = np.array([[5, 1, 0, 0], [2, 3, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])   # classes 2 and 3 absent
cm[3, 0] = 1                                                             # ... now class 3 occurs (missed)
print(iou_per_class(cm), dice_per_class(cm), mean_iou(cm), mean_dice(cm))
assert np.allclose(iou_per_class(cm), [5 / 9, 3 / 6, np.nan, 0], equal_nan=True), "IoU = TP / (TP + FP + FN); NaN if absent"
assert np.allclose(dice_per_class(cm), [10 / 14, 6 / 9, np.nan, 0], equal_nan=True), "Dice = 2TP / (2TP + FP + FN)"
assert np.isclose(mean_iou(cm), (5 / 9 + 3 / 6 + 0) / 3), "the absent class 2 is left out of the mean, class 3 (missed) counts"
assert np.isnan(mean_iou(np.zeros((3, 3), int))), "no class occurs: the mean is NaN"
print("D2 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_iou_dice", "locked": true, "points": 10, "schema_version": 3, "solution": false}
# D2 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from sklearn.metrics import jaccard_score as _jaccard
from cnncourse.grading import assert_array_close, call_student, check_scalar, secret_seed
from cnncourse.segmentation import confusion_matrix as _ref_cm
from cnncourse.segmentation import dice_per_class as _ref_dpc
from cnncourse.segmentation import iou_per_class as _ref_ipc
from cnncourse.segmentation import mean_dice as _ref_md
from cnncourse.segmentation import mean_iou as _ref_mi

_rng = _np.random.default_rng(secret_seed(69))
_nan_hint = ("a class absent from BOTH target and prediction (TP + FP + FN = 0) is NaN and left out of the mean; "
             "a class in only one of them has IoU 0 and counts")
for _label, _k, _used_t, _used_p in [("every class occurs", 4, 4, 4), ("class 3 absent from both", 4, 3, 3),
                                     ("classes 2 and 4 absent from both", 5, (0, 1, 3), (0, 1, 3)),
                                     ("class 3 only predicted, class 2 only in the target", 4, (0, 1, 2), (0, 1, 3)),
                                     ("nothing occurs", 3, None, None)]:
    if _used_t is None:
        _cm = _np.zeros((_k, _k), _np.int64)
    else:
        _ct = _np.arange(_used_t) if isinstance(_used_t, int) else _np.array(_used_t)
        _cp = _np.arange(_used_p) if isinstance(_used_p, int) else _np.array(_used_p)
        _t = _rng.choice(_ct, (2, 6, 6))
        _p = _np.where(_rng.random(_t.shape) < 0.6, _t, _rng.choice(_cp, _t.shape))
        _p = _np.where(_np.isin(_p, _cp), _p, _cp[0])
        _cm = _ref_cm(_t, _p, _k)
        _present = _np.flatnonzero(_cm.sum(0) + _cm.sum(1))
        assert _np.allclose(_ref_ipc(_cm)[_present], _jaccard(_t.ravel(), _p.ravel(), labels=_present, average=None))
    _desc = f"{_label}: cm {_cm.tolist()}"
    for _fn, _ref, _nm in ((iou_per_class, _ref_ipc, "iou_per_class"), (dice_per_class, _ref_dpc, "dice_per_class")):
        _got = call_student(_fn, _cm, forbidden=("a6_segmentation",))
        assert_array_close(_got, _ref(_cm), name=f"{_nm}(cm) ({_desc})",
                           hints={"values": "IoU = TP/(TP+FP+FN), Dice = 2TP/(2TP+FP+FN); " + _nan_hint,
                                  "finite": _nan_hint})
    for _fn, _ref, _nm in ((mean_iou, _ref_mi, "mean_iou"), (mean_dice, _ref_md, "mean_dice")):
        _got, _want = call_student(_fn, _cm, forbidden=("a6_segmentation",)), _ref(_cm)
        if _np.isnan(_want):
            assert isinstance(_got, (float, _np.floating)) and _np.isnan(_got), \
                f"{_nm}(cm) ({_desc}) returned {_got!r}, expected NaN: no class occurs"
        else:
            check_scalar(_got, _want, name=f"{_nm}(cm) ({_desc})", hints={"values": _nan_hint})
### END HIDDEN TESTS

# %% [markdown]
# ## Part E — A small FCN on the shapes dataset
#
# The data: `cnncourse.data.ShapesDataset` renders circles, squares and triangles of random size and
# colour on a noisy background; its `semantic` mask labels every pixel (0 background, 1 circle,
# 2 square, 3 triangle). Training and held-out images come from different seeds.

# %%
from cnncourse.data import ShapesDataset

CLASS_NAMES = ("background", "circle", "square", "triangle")
K = len(CLASS_NAMES)


def shapes_data(num_samples, seed, image_size=32, **kwargs):
    '''images (N, 3, S, S) float32 in [0, 1] and semantic masks (N, S, S) int64, as tensors.'''
    batch = ShapesDataset(num_samples, image_size=image_size, seed=seed, **kwargs).batch(np.arange(num_samples))
    return torch.from_numpy(batch["images"]), torch.from_numpy(batch["semantic"])


x_train, y_train = shapes_data(2000, seed=0)
x_val, y_val = shapes_data(300, seed=1)
print(f"train {tuple(x_train.shape)}, held-out {tuple(x_val.shape)}; pixels per class (train): "
      + ", ".join(f"{n} {f:.3f}" for n, f in zip(CLASS_NAMES, np.bincount(y_train.ravel().numpy(), minlength=K) / y_train.numel())))
fig, axes = plt.subplots(2, 6, figsize=(12, 4.4))
for i in range(6):
    axes[0, i].imshow(x_train[i].permute(1, 2, 0).numpy())
    im = axes[1, i].imshow(y_train[i].numpy(), cmap="tab10", vmin=0, vmax=9, interpolation="nearest")
    axes[0, i].axis("off"); axes[1, i].axis("off")
axes[0, 0].set_title("images", loc="left"); axes[1, 0].set_title("semantic masks", loc="left")
handles = [plt.Rectangle((0, 0), 1, 1, color=plt.cm.tab10(c)) for c in range(K)]
fig.legend(handles, CLASS_NAMES, loc="lower center", ncol=K)
plt.show()

# %% [markdown]
# ### E1. An FCN with skip connections, trained to mean IoU >= 0.8 (24 points)
#
# 1. Write `SegNet(nn.Module)`: an encoder-decoder **fully convolutional** network (only
#    convolutions, pooling and transposed convolutions: it must accept any input whose height and
#    width are multiples of 8). A suggested design (about 100k parameters): three encoder stages of two
#    `3x3 conv -> BatchNorm -> ReLU` layers with 2x2 max pooling between them, a bottleneck stage at
#    1/8 resolution, and a decoder that upsamples with `nn.ConvTranspose2d(kernel 2, stride 2)`,
#    **concatenates** the encoder features of the same resolution (the skip connections: they bring
#    back the edges and corners that pooling lost) and applies two conv-BN-ReLU layers, up to a 1x1
#    convolution giving `K = 4` scores per pixel: `(N, 3, H, W) -> (N, 4, H, W)`.
# 2. Write `segment(images)`: images `(N, 3, H, W)` (a float tensor or array, any device) -> the
#    predicted labels `(N, H, W)` as an int64 tensor on the CPU, using your trained `model` in
#    **evaluation mode** without gradients (in batches of at most 256).
# 3. In the next cell, train `model` on `x_train, y_train` with Adam and pixel cross-entropy
#    (PyTorch's autograd; you may write it with `F.log_softmax`), seeded (`torch.manual_seed`) so a
#    rerun gives the same network. The grader re-runs your notebook on one CPU thread: keep the
#    training short (the solution's network, about 80k parameters, reaches a mean IoU of about 0.89
#    with 300 Adam steps of 32 images; do not train longer than that). The cell must leave behind
#    `model`, `history` (the loss of every step) and `train_seconds`.
#
# **How it is graded.** The grader generates **new images** from a seed only it knows, calls your
# `segment` on them and requires a **mean IoU >= 0.8** over the 4 classes (the confusion matrix summed
# over all images, as in Part D). It also calls `segment` on images of another size (40 x 24). While
# `segment` runs, the `cnncourse` references (its `FCN` among them) are refused.

# %% nbgrader={"grade": false, "grade_id": "segnet_impl", "locked": false, "schema_version": 3, "solution": true}
class SegNet(nn.Module):
    '''(N, 3, H, W) images -> (N, num_classes, H, W) logits; H and W multiples of 8.'''

    def __init__(self, num_classes=4, width=8):
        super().__init__()
        ### BEGIN SOLUTION
        def block(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                                 nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

        ch = [width, 2 * width, 4 * width, 4 * width]
        self.enc = nn.ModuleList([block(3, ch[0]), block(ch[0], ch[1]), block(ch[1], ch[2]), block(ch[2], ch[3])])
        self.up = nn.ModuleList([nn.ConvTranspose2d(ch[s + 1], ch[s], 2, stride=2) for s in range(3)])
        self.dec = nn.ModuleList([block(2 * ch[s], ch[s]) for s in range(3)])
        self.head = nn.Conv2d(ch[0], num_classes, 1)
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        feats = []
        for s, block in enumerate(self.enc):
            x = block(x if s == 0 else F.max_pool2d(x, 2))
            feats.append(x)
        for s in (2, 1, 0):
            x = self.dec[s](torch.cat([self.up[s](x), feats[s]], dim=1))   # skip connection
        return self.head(x)
        ### END SOLUTION


def segment(images):
    '''images (N, 3, H, W) -> predicted labels (N, H, W) int64 on the CPU, with the trained `model`.'''
    ### BEGIN SOLUTION
    x = torch.as_tensor(images, dtype=torch.float32)
    model.eval()
    dev = next(model.parameters()).device
    with torch.no_grad():
        return torch.cat([model(x[i:i + 256].to(dev)).argmax(1).cpu() for i in range(0, x.shape[0], 256)])
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "train_impl", "locked": false, "schema_version": 3, "solution": true}
### BEGIN SOLUTION
def pixel_ce_torch(logits, target):
    '''Mean pixel cross-entropy, written with log_softmax (what F.cross_entropy computes).'''
    return -F.log_softmax(logits, dim=1).gather(1, target[:, None]).mean()


def train_segnet(model, images, masks, *, steps=300, batch_size=32, lr=5e-3, dice_weight=0.0, seed=0):
    '''Adam on random mini-batches, cosine learning-rate decay; returns the loss of every step.'''
    gen = torch.Generator().manual_seed(seed)
    dev = next(model.parameters()).device
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    model.train()
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, images.shape[0], (batch_size,), generator=gen)
        x, y = images[idx].to(dev), masks[idx].to(dev)
        logits = model(x)
        loss = pixel_ce_torch(logits, y)
        if dice_weight:
            loss = loss + dice_weight * soft_dice_loss(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    model.eval()
    return losses


torch.manual_seed(0)
model = SegNet().to(device)
t0 = time.perf_counter()
history = train_segnet(model, x_train, y_train)
train_seconds = time.perf_counter() - t0
### END SOLUTION

# %%
pred_val = segment(x_val)
cm_val = confusion_matrix(y_val.numpy(), pred_val.numpy(), K)
print(f"trained in {train_seconds:.1f} s ({sum(p.numel() for p in model.parameters())} parameters); "
      f"held-out mean IoU {mean_iou(cm_val):.3f}; per class: "
      + ", ".join(f"{n} {v:.3f}" for n, v in zip(CLASS_NAMES, iou_per_class(cm_val))))
fig, ax = plt.subplots(figsize=(6, 2.8))
ax.plot(history, label="training loss (pixel cross-entropy) per step")
ax.set(xlabel="step", ylabel="loss", yscale="log")
ax.legend()
plt.show()
fig, axes = plt.subplots(3, 6, figsize=(12, 6.6))
for i in range(6):
    axes[0, i].imshow(x_val[i].permute(1, 2, 0).numpy())
    axes[1, i].imshow(y_val[i].numpy(), cmap="tab10", vmin=0, vmax=9, interpolation="nearest")
    axes[2, i].imshow(pred_val[i].numpy(), cmap="tab10", vmin=0, vmax=9, interpolation="nearest")
for row, title in enumerate(("held-out image", "ground truth", "prediction")):
    axes[row, 0].set_title(title, loc="left")
for a in axes.flat:
    a.axis("off")
fig.legend([plt.Rectangle((0, 0), 1, 1, color=plt.cm.tab10(c)) for c in range(K)], CLASS_NAMES, loc="lower center", ncol=K)
plt.show()

# %% nbgrader={"grade": true, "grade_id": "test_segmentation_miou", "locked": true, "points": 24, "schema_version": 3, "solution": false}
# E1 tests (hidden tests run at grading time): mean IoU >= 0.8 on images generated by the grader
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
from cnncourse.data import ShapesDataset as _ShapesDataset
from cnncourse.grading import call_student, plain_array, secret_seed
from cnncourse.segmentation import confusion_matrix as _ref_cm
from cnncourse.segmentation import iou_per_class as _ref_ipc
from cnncourse.segmentation import mean_iou as _ref_mi

_ds = _ShapesDataset(300, image_size=32, seed=secret_seed(71) % (2 ** 31) + 2)
_b = _ds.batch(_np.arange(len(_ds)))
_pred = call_student(segment, _torch.as_tensor(_b["images"]), forbidden=("references", "segmentation_models"), timeout=120)
_pred = plain_array(_pred, name="segment(images)", expect="torch")
assert tuple(_pred.shape) == _b["semantic"].shape, (
    f"segment(images of shape {_b['images'].shape}) returned shape {tuple(_pred.shape)}, expected {_b['semantic'].shape}: "
    "one label per pixel (the argmax over the class axis of the logits)")
assert not _pred.is_floating_point(), f"segment returned dtype {_pred.dtype}, expected integer labels (int64)"
_cm = _ref_cm(_b["semantic"], _pred.cpu().numpy().astype(_np.int64), 4)
_miou = _ref_mi(_cm)
print(f"mean IoU on {len(_ds)} new images: {_miou:.4f} (per class {_np.round(_ref_ipc(_cm), 3).tolist()})")
assert _miou >= 0.8, (f"mean IoU {_miou:.4f} on images generated by the grader, expected >= 0.8 (per class "
                      f"{_np.round(_ref_ipc(_cm), 3).tolist()}): train longer, check the skip connections and that "
                      "segment uses eval mode")
_odd = _ShapesDataset(4, image_size=(40, 24), seed=secret_seed(72) % (2 ** 31) + 2).batch(_np.arange(4))
_p2 = plain_array(call_student(segment, _torch.as_tensor(_odd["images"]), forbidden=("references", "segmentation_models"), timeout=60),
                  name="segment(images of 40 x 24)", expect="torch")
assert tuple(_p2.shape) == (4, 40, 24), (f"segment(images of shape (4, 3, 40, 24)) returned shape {tuple(_p2.shape)}, "
                                         "expected (4, 40, 24): a fully convolutional network accepts any size")
### END HIDDEN TESTS

# %% [markdown]
# ### E2. Cross-entropy alone vs cross-entropy + Dice on the small class (6 points, graded by hand)
#
# Lecture 8 says that cross-entropy neglects small objects and that Dice helps. Test it, cheaply:
# render images with **small** shapes (`radius_range=(0.06, 0.12)`: the triangles, the smallest shape,
# cover about 1 % of the pixels), keep the features of your trained `model` fixed (the input of its
# final 1x1 classifier, caught with a forward hook) and retrain **only a new 1x1 classifier** on them,
# twice from the same initialisation and with the same batches: once with pixel cross-entropy alone,
# once with cross-entropy + your `soft_dice_loss`. Store the held-out IoU of the triangle class (3)
# of each in `small_class_iou = {"ce": ..., "ce+dice": ...}` (your `confusion_matrix` and
# `iou_per_class`). A few seconds in all. Then answer below.

# %% nbgrader={"grade": false, "grade_id": "compare_impl", "locked": false, "schema_version": 3, "solution": true}
### BEGIN SOLUTION
xs_train, ys_train = shapes_data(500, seed=10, radius_range=(0.06, 0.12))
xs_val, ys_val = shapes_data(300, seed=11, radius_range=(0.06, 0.12))
print("pixels per class (small shapes): " + ", ".join(
    f"{n} {f:.4f}" for n, f in zip(CLASS_NAMES, np.bincount(ys_train.ravel().numpy(), minlength=K) / ys_train.numel())))
caught = {}
hook = model.head.register_forward_hook(lambda module, inputs, output: caught.update(features=inputs[0].detach()))
with torch.no_grad():
    model(xs_train.to(device))
    f_train = caught["features"]                     # (500, C, 32, 32): what the classifier sees
    model(xs_val.to(device))
    f_val = caught["features"]
hook.remove()
small_class_iou, compare_seconds = {}, time.perf_counter()
for name, dice_weight in (("ce", 0.0), ("ce+dice", 1.0)):
    torch.manual_seed(1)
    head = nn.Conv2d(f_train.shape[1], K, 1).to(device)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(1)
    for _ in range(50):
        idx = torch.randint(0, f_train.shape[0], (64,), generator=gen)
        logits, y = head(f_train[idx]), ys_train[idx].to(device)
        loss = pixel_ce_torch(logits, y) + dice_weight * soft_dice_loss(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        ious = iou_per_class(confusion_matrix(ys_val.numpy(), head(f_val).argmax(1).cpu().numpy(), K))
    small_class_iou[name] = float(ious[3])
    print(f"{name:8}: IoU per class {np.round(ious, 3)}")
compare_seconds = time.perf_counter() - compare_seconds
### END SOLUTION
print(f"triangle IoU: cross-entropy {small_class_iou['ce']:.3f}, cross-entropy + Dice {small_class_iou['ce+dice']:.3f}")

# %% [markdown]
# In three to five sentences: what do your numbers show for the triangle class, and why? Relate it
# to what each loss sums over (pixels or classes) and to the gradient a small object receives under
# each loss. Would class weights in the cross-entropy (C1) be an alternative, and what is their risk?

# %% [markdown] nbgrader={"grade": true, "grade_id": "q_ce_vs_dice", "locked": false, "points": 6, "schema_version": 3, "solution": true}
# (Model answer; the numbers are those of the solution's run.) With the features of the trained FCN
# fixed, adding Dice raised the triangle IoU only a little (0.814 with cross-entropy alone, 0.823 with
# cross-entropy + Dice; circles and squares did not gain): the features already separate the shapes, so
# the classifier is not short of signal for the small class and the choice of loss matters little
# here. The difference is larger when the small class is
# under-fit, early in training or with weak features: cross-entropy is a sum over pixels, and the
# triangles are about 1 % of them, so their share of the loss and of the gradient is about 1 %; a
# network that paints them as background loses almost nothing. The Dice loss is a mean over classes:
# the triangle class has one of the four terms whatever its area, so each triangle pixel gets a
# gradient about 1 / (K |triangle pixels|) instead of 1 / |all pixels|. Class weights in the
# cross-entropy (C1, e.g. inverse frequency) raise that gradient too, but large weights on rare pixels
# make the loss noisy and push the network to over-predict the rare class (more false positives), so
# they are usually moderated (square root of the inverse frequency, or capped).

# %% [markdown]
# **Before you submit:** Kernel → Restart & Run All, and check that every self-check prints "passed".
