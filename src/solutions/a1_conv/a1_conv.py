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
# # Assignment 1 — Convolution and pooling, by hand
#
# In this assignment you implement, in plain numpy, the layers that lectures 2 and 3 introduce:
# the output-size arithmetic, the receptive field of a stack, zero padding, a convolution layer
# (forward **and** backward, with stride, padding and dilation), max and average pooling (forward and
# backward), a numerical gradient check, and finally you use your convolution to find edges in an image.
#
# **How you are graded.** Write your code where it says `# YOUR CODE HERE` (delete the
# `raise NotImplementedError()`). After each exercise there is a *self-check* cell you can run, then a
# locked *test* cell. The test cells contain hidden tests that run when your notebook is graded: they
# compare your functions with reference implementations on many random cases (other shapes, strides,
# batch sizes and ties than the self-checks), so a solution that only fits the visible examples will
# lose the points. While your functions run during grading, library shortcuts such as
# `torch.nn.functional.conv2d`, `scipy.signal.correlate2d`, `numpy.lib.stride_tricks` and the
# `cnncourse.layers` references are disabled. Your functions must not modify their inputs.
# Loops are fine: clarity first. Before submitting, run **Kernel → Restart & Run All**.
#
# | Part | Exercise | Points |
# |---|---|---|
# | A. Arithmetic | A1 output size (5), A2 receptive field (5), A3 zero padding (5) | 15 |
# | B. Convolution | B1 forward (15), B2 backward `dx` (8), `dw` (7), `db` (5) | 35 |
# | C. Pooling | C1 max forward (7), C2 max backward (8), C3 average forward (7), C4 average backward (8) | 30 |
# | D. Gradient check | D1 numerical gradient (5), D2 checking your own layers (5) | 10 |
# | E. Edge detection | E1 Sobel edges with your convolution (10) | 10 |
# | | **Total** | **100** |
#
# Conventions (as in the lectures and in PyTorch): arrays are `NCHW` — `x` has shape `(N, C, H, W)`,
# filters `w` have shape `(F, C, KH, KW)`, biases `b` shape `(F,)`. "Convolution" means
# cross-correlation (no filter flip), like `torch.nn.Conv2d`.

# %%
import numpy as np
import matplotlib.pyplot as plt

np.set_printoptions(precision=4, suppress=True)


def pair(v):
    '''An int or a pair (h, w) -> a pair: stride=2 means (2, 2), like PyTorch.'''
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


# %% [markdown]
# ## Part A — Arithmetic
#
# ### A1. Output size (5 points)
#
# A convolution (or pooling) with kernel `K`, stride `S`, padding `P` and dilation `D` maps an input
# of size `N` to
#
# $$N_\text{out} = \frac{N + 2P - D(K-1) - 1}{S} + 1 .$$
#
# With `D = 1` this is the slides' `(N - F + 2P)/S + 1`. When the division is not exact the layer does
# not tile the input (the slides' example `N=7, F=3, S=3` gives `2.33`): raise a `ValueError` whose
# message names the stride. Implement `conv_output_size`.

# %% nbgrader={"grade": false, "grade_id": "conv_output_size_impl", "locked": false, "schema_version": 3, "solution": true}
def conv_output_size(size, kernel, stride=1, padding=0, dilation=1):
    '''Output size of a convolution/pooling along one axis; ValueError if the stride does not fit.'''
    ### BEGIN SOLUTION
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if span < 0:
        raise ValueError(f"kernel (effective size {dilation * (kernel - 1) + 1}) is larger than the padded input {size + 2 * padding}")
    if span % stride != 0:
        raise ValueError(f"stride {stride} does not fit: ({size} + 2*{padding} - {dilation}*({kernel}-1) - 1) / {stride} + 1 = {span / stride + 1:.2f}")
    return span // stride + 1
    ### END SOLUTION


# %%
# Self-check (not graded): the lecture's examples.
assert conv_output_size(7, 3) == 5
assert conv_output_size(7, 3, stride=2) == 3
assert conv_output_size(5, 3, padding=1) == 5
assert conv_output_size(227, 11, stride=4) == 55        # AlexNet CONV1
assert conv_output_size(9, 3, dilation=2) == 5          # a 3x3 kernel at rate 2 spans 5 pixels
try:
    conv_output_size(7, 3, stride=3)
except ValueError as e:
    print("raised as expected:", e)
else:
    raise AssertionError("N=7, F=3, S=3 must raise a ValueError")
print("A1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_conv_output_size", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# A1 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from cnncourse.grading import call_student, check_int, secret_seed
from cnncourse.arithmetic import conv_output_size as _ref_size

_rng = _np.random.default_rng(secret_seed(11))
_checked = 0
while _checked < 40:
    _k, _s, _p, _d = (int(v) for v in (_rng.integers(1, 6), _rng.integers(1, 4), _rng.integers(0, 3), _rng.integers(1, 3)))
    _n = int(_rng.integers(_d * (_k - 1) + 1, 40))
    try:
        _want = _ref_size(_n, _k, stride=_s, padding=_p, dilation=_d)
    except ValueError:
        continue
    _got = call_student(conv_output_size, _n, _k, stride=_s, padding=_p, dilation=_d, forbidden=("a1_conv",), timeout=5)
    check_int(_got, _want, name=f"conv_output_size({_n}, {_k}, stride={_s}, padding={_p}, dilation={_d})")
    _checked += 1
for _args in [(7, 3, 3, 0, 1), (10, 3, 4, 0, 1), (8, 2, 3, 1, 1), (12, 3, 5, 0, 2)]:
    try:
        call_student(conv_output_size, _args[0], _args[1], stride=_args[2], padding=_args[3], dilation=_args[4],
                     forbidden=("a1_conv",), timeout=5)
    except ValueError:
        pass
    else:
        raise AssertionError(f"conv_output_size{_args} (size, kernel, stride, padding, dilation) should raise ValueError: "
                             "the stride does not divide the span, so the windows do not tile the input")
### END HIDDEN TESTS

# %% [markdown]
# ### A2. Receptive field of a stack (5 points)
#
# Each layer is a tuple `(kernel, stride, dilation)`. The receptive field `r` and the *jump* `j` (the
# distance in input pixels between two neighbouring outputs) grow layer by layer:
#
# $$r_l = r_{l-1} + D_l (K_l - 1)\, j_{l-1}, \qquad j_l = j_{l-1} S_l, \qquad r_0 = 1,\ j_0 = 1 .$$
#
# Return the list `[r_1, ..., r_L]`. (The lecture's 8-layer table has receptive fields
# 3, 5, 9, 13, 17, 25, 33, 41.)

# %% nbgrader={"grade": false, "grade_id": "receptive_field_impl", "locked": false, "schema_version": 3, "solution": true}
def receptive_field(layers):
    '''Receptive field (in input pixels) after each layer of a stack of (kernel, stride, dilation).'''
    ### BEGIN SOLUTION
    r, j, out = 1, 1, []
    for kernel, stride, dilation in layers:
        r = r + dilation * (kernel - 1) * j
        j = j * stride
        out.append(r)
    return out
    ### END SOLUTION


# %%
# Self-check: the lecture's 8-layer table (3x3 convs, every third one with stride 2: 256 -> 32)
table = [(3, 1, 1), (3, 2, 1), (3, 1, 1), (3, 1, 1), (3, 2, 1), (3, 1, 1), (3, 1, 1), (3, 2, 1)]
print(receptive_field(table))
assert receptive_field(table) == [3, 5, 9, 13, 17, 25, 33, 41]
assert receptive_field([(3, 1, 2)]) == [5]  # dilated 3x3 at rate 2 sees 5x5
print("A2 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_receptive_field", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# A2 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from cnncourse.grading import call_student, check_int, secret_seed
from cnncourse.arithmetic import receptive_field as _ref_rf

_rng = _np.random.default_rng(secret_seed(12))
for _trial in range(15):
    _layers = [tuple(int(v) for v in (_rng.integers(1, 6), _rng.integers(1, 4), _rng.integers(1, 3)))
               for _ in range(int(_rng.integers(1, 7)))]
    _want = [row.receptive_field for row in _ref_rf([dict(kernel=k, stride=s, dilation=d, padding=0) for k, s, d in _layers])]
    _got = call_student(receptive_field, list(_layers), forbidden=("a1_conv",), timeout=5)
    assert isinstance(_got, (list, tuple)) and len(_got) == len(_want), (
        f"receptive_field({_layers}) should return a list of {len(_want)} ints (one per layer), got {_got!r}")
    for _i, (_g, _w) in enumerate(zip(_got, _want)):
        check_int(_g, _w, name=f"receptive field after layer {_i + 1} of {_layers}",
                  hints={"values": "r grows by dilation*(kernel-1)*jump, where jump is the product of the strides of the layers BEFORE"})
### END HIDDEN TESTS

# %% [markdown]
# ### A3. Zero padding (5 points)
#
# `zero_pad2d(x, padding)` pads the two spatial axes of an `(N, C, H, W)` array with zeros.
# `padding` is an int or a pair `(ph, pw)`: `ph` rows above and below, `pw` columns left and right.
# The batch and channel axes are never padded. Return a new array (do not modify `x`).

# %% nbgrader={"grade": false, "grade_id": "zero_pad2d_impl", "locked": false, "schema_version": 3, "solution": true}
def zero_pad2d(x, padding):
    '''(N, C, H, W) -> (N, C, H + 2*ph, W + 2*pw), zeros around each image.'''
    ### BEGIN SOLUTION
    ph, pw = (padding, padding) if np.isscalar(padding) else padding
    n, c, h, w = x.shape
    out = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out
    ### END SOLUTION


# %%
# Self-check
x = np.arange(6, dtype=float).reshape(1, 1, 2, 3)
xp = zero_pad2d(x, (1, 2))
print(xp[0, 0])
assert xp.shape == (1, 1, 4, 7)
assert np.array_equal(xp[0, 0, 1:3, 2:5], x[0, 0]) and xp.sum() == x.sum()
print("A3 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_zero_pad2d", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# A3 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
from cnncourse.grading import cases, check_forward, secret_seed
from cnncourse.layers import zero_pad2d as _ref_pad

check_forward(zero_pad2d, _ref_pad, cases.pad_cases(seed=secret_seed(13), n=6), output=None, name="zero_pad2d(x, padding)",
              forbidden=("a1_conv",), timeout=5,
              hints={"shape": "pad only H (by ph on each side) and W (by pw on each side); never N or C"})
### END HIDDEN TESTS

# %% [markdown]
# ## Part B — Convolution layer
#
# ### B1. Forward pass (15 points)
#
# `conv2d_forward(x, w, b, stride=1, padding=0, dilation=1)` computes, for every image `n`, filter
# `f` and output position `(i, j)` (`stride`, `padding`, `dilation` are ints or `(h, w)` pairs: use
# `pair`; `b` may be `None`, meaning no bias),
#
# $$\text{out}[n, f, i, j] = b_f + \sum_{c,\,u,\,v} x_\text{pad}[n, c,\ i S_h + u D_h,\ j S_w + v D_w]\ w[f, c, u, v]$$
#
# with `x_pad = zero_pad2d(x, padding)`. The output size follows A1, except that a stride that does not
# divide the span is allowed and rounds down, as in PyTorch (`floor`). Return `(out, cache)` where
# `cache` holds whatever your backward pass needs. A straightforward loop over `n, f, i, j` is fine.

# %% nbgrader={"grade": false, "grade_id": "conv2d_forward_impl", "locked": false, "schema_version": 3, "solution": true}
def conv2d_forward(x, w, b, stride=1, padding=0, dilation=1):
    '''x (N, C, H, W), w (F, C, KH, KW), b (F,) or None -> out (N, F, H_out, W_out), cache.'''
    ### BEGIN SOLUTION
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    xp = zero_pad2d(x, (ph, pw))
    h_out = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    w_out = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, f, h_out, w_out), dtype=x.dtype)
    for i in range(h_out):
        for j in range(w_out):
            r, s = i * sh, j * sw
            # window (N, C, KH, KW): every D-th pixel starting at (r, s)
            win = xp[:, :, r:r + dh * (kh - 1) + 1:dh, s:s + dw * (kw - 1) + 1:dw]
            out[:, :, i, j] = np.tensordot(win, w, axes=([1, 2, 3], [1, 2, 3]))
    if b is not None:
        out += b[None, :, None, None]
    cache = (x, w, b, (sh, sw), (ph, pw), (dh, dw))
    return out, cache
    ### END SOLUTION


# %%
# Self-check: the lecture's 5x5 example (no padding, stride 1) and its padded, strided variant.
x = np.array([[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]], dtype=float)[None, None]
k = np.array([[0, 1, 2], [2, 2, 0], [0, 1, 2]], dtype=float)[None, None]
out, _ = conv2d_forward(x, k, np.zeros(1))
print(out[0, 0])
assert np.array_equal(out[0, 0], [[12, 12, 17], [10, 17, 19], [9, 6, 14]])
out, _ = conv2d_forward(x, k, None, stride=2, padding=1)
assert np.array_equal(out[0, 0], [[6, 17, 3], [8, 17, 13], [6, 4, 4]])
print("B1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_conv2d_forward", "locked": true, "points": 15, "schema_version": 3, "solution": false}
# B1 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
from cnncourse.grading import cases, check_forward, secret_seed
from cnncourse.layers import conv2d_forward as _ref_conv

# stride not dividing, non-square inputs and kernels, batch of 1, dilation, no bias, random cases
check_forward(conv2d_forward, _ref_conv, cases.conv_cases(seed=secret_seed(21), n=8), forbidden=("a1_conv",),
              hints={"shape": "H_out = (H + 2*ph - dh*(KH-1) - 1) // sh + 1 (rounded down), likewise W_out: "
                              "check the padding and dilation terms and which axis uses which value",
                     "values": "check the window start i*stride, the dilation step inside the window and the bias"})
### END HIDDEN TESTS

# %% [markdown]
# ### B2. Backward pass (8 + 7 + 5 points)
#
# Given the upstream gradient `dout` (shape of `out`) and your `cache`, return `(dx, dw, db)` with the
# shapes of `x`, `w` and `b` (`db` is `None` when `b` was `None`). Every output element
# `out[n, f, i, j]` used one window of `x_pad`: send `dout[n, f, i, j] * w[f]` back to that window of
# `dx_pad` (windows overlap, so **add**), add `dout[n, f, i, j] * window` to `dw[f]`, and sum `dout`
# over the batch and both spatial axes for `db`. Finally cut the padding off `dx_pad`.

# %% nbgrader={"grade": false, "grade_id": "conv2d_backward_impl", "locked": false, "schema_version": 3, "solution": true}
def conv2d_backward(dout, cache):
    '''dout (N, F, H_out, W_out) -> dx (N, C, H, W), dw (F, C, KH, KW), db (F,) or None.'''
    ### BEGIN SOLUTION
    x, w, b, (sh, sw), (ph, pw), (dh, dw_) = cache
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = zero_pad2d(x, (ph, pw))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    h_out, w_out = dout.shape[2:]
    for i in range(h_out):
        for j in range(w_out):
            rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)
            cols = slice(j * sw, j * sw + dw_ * (kw - 1) + 1, dw_)
            g = dout[:, :, i, j]                                               # (N, F)
            dxp[:, :, rows, cols] += np.tensordot(g, w, axes=([1], [0]))        # (N, C, KH, KW)
            dw += np.tensordot(g, xp[:, :, rows, cols], axes=([0], [0]))        # (F, C, KH, KW)
    db = None if b is None else dout.sum(axis=(0, 2, 3))
    dx = dxp[:, :, ph:ph + h, pw:pw + wd]
    return dx, dw, db
    ### END SOLUTION


# %%
# Self-check: a 1x1 "convolution" is a per-pixel linear map, so its gradients are easy to write down.
x = np.arange(8, dtype=float).reshape(1, 2, 2, 2)
w = np.array([[[[2.0]], [[-1.0]]]])          # (F=1, C=2, 1, 1)
out, cache = conv2d_forward(x, w, np.array([0.5]))
dx, dw, db = conv2d_backward(np.ones_like(out), cache)
assert np.allclose(dx[0, 0], 2) and np.allclose(dx[0, 1], -1)
assert np.allclose(dw.ravel(), [x[0, 0].sum(), x[0, 1].sum()]) and np.allclose(db, [4.0])
print("B2 self-check passed (the numerical gradient check in part D tests it properly)")

# %% nbgrader={"grade": true, "grade_id": "test_conv2d_backward_dx", "locked": true, "points": 8, "schema_version": 3, "solution": false}
# B2 tests for dx (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
from cnncourse.grading import cases, check_backward, secret_seed
from cnncourse.layers import conv2d_forward as _ref_conv, conv2d_backward as _ref_conv_back

check_backward(conv2d_forward, conv2d_backward, _ref_conv, _ref_conv_back, cases.conv_cases(seed=secret_seed(22), n=7),
               grad=0, name="dx", forbidden=("a1_conv",),
               hints={"shape": "dx has the shape of x: cut the padding (ph rows, pw columns) off dx_pad",
                      "values": "each output sends dout*w back to ITS window (start i*stride, step dilation) and windows overlap: add (+=)"})
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_conv2d_backward_dw", "locked": true, "points": 7, "schema_version": 3, "solution": false}
# B2 tests for dw (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
from cnncourse.grading import cases, check_backward, secret_seed
from cnncourse.layers import conv2d_forward as _ref_conv, conv2d_backward as _ref_conv_back

check_backward(conv2d_forward, conv2d_backward, _ref_conv, _ref_conv_back, cases.conv_cases(seed=secret_seed(23), n=7),
               grad=1, name="dw", forbidden=("a1_conv",),
               hints={"shape": "dw has the shape of w (F, C, KH, KW)",
                      "values": "dw[f] sums dout[n, f, i, j] * window(n, i, j) over the batch and all positions, "
                                "using the same windows (stride, dilation) as the forward pass"})
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_conv2d_backward_db", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# B2 tests for db (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
from cnncourse.grading import cases, check_backward, secret_seed
from cnncourse.layers import conv2d_forward as _ref_conv, conv2d_backward as _ref_conv_back

# db must be None for a layer without bias
check_backward(conv2d_forward, conv2d_backward, _ref_conv, _ref_conv_back, cases.conv_cases(seed=secret_seed(24), n=7),
               grad=2, name="db", forbidden=("a1_conv",),
               hints={"shape": "db has one entry per filter, shape (F,): sum dout over the batch AND both spatial axes",
                      "values": "db[f] is the sum of dout[:, f] over the batch and all output positions"})
### END HIDDEN TESTS

# %% [markdown]
# ## Part C — Pooling
#
# ### C1. Max pooling forward (7 points)
#
# `max_pool2d_forward(x, kernel_size, stride=None)` takes the maximum of every `KH x KW` window
# (`kernel_size` and `stride` are ints or pairs, use `pair`); `stride` defaults to `kernel_size`. Windows may overlap (`stride < kernel_size`)
# and the stride need not divide the input (round down, like PyTorch). Return `(out, cache)`.

# %% nbgrader={"grade": false, "grade_id": "max_pool_forward_impl", "locked": false, "schema_version": 3, "solution": true}
def max_pool2d_forward(x, kernel_size, stride=None):
    '''x (N, C, H, W) -> out (N, C, H_out, W_out), cache.'''
    ### BEGIN SOLUTION
    (kh, kw) = pair(kernel_size)
    (sh, sw) = pair(kernel_size if stride is None else stride)
    n, c, h, w = x.shape
    h_out, w_out = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.empty((n, c, h_out, w_out), dtype=x.dtype)
    for i in range(h_out):
        for j in range(w_out):
            out[:, :, i, j] = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].max(axis=(2, 3))
    return out, (x, (kh, kw), (sh, sw))
    ### END SOLUTION


# %%
# Self-check: the lecture's 5x5 example, 3x3 windows with stride 1 (overlapping).
x = np.array([[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]], dtype=float)[None, None]
out, _ = max_pool2d_forward(x, 3, stride=1)
print(out[0, 0])
assert np.array_equal(out[0, 0], [[3, 3, 3], [3, 3, 3], [3, 2, 3]])
print("C1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_max_pool_forward", "locked": true, "points": 7, "schema_version": 3, "solution": false}
# C1 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
from cnncourse.grading import cases, check_forward, secret_seed
from cnncourse.layers import max_pool2d_forward as _ref_max_pool2d_forward

# overlapping windows, ties, stride not dividing, non-square windows, batch of 1, random cases
check_forward(max_pool2d_forward, _ref_max_pool2d_forward, cases.pool_cases(seed=secret_seed(31), n=7), forbidden=("a1_conv",),
              hints={"shape": "H_out = (H - KH) // SH + 1 and W_out = (W - KW) // SW + 1, with stride = kernel_size when stride is None",
                     "values": "window (i, j) starts at (i*SH, j*SW) and has KH rows and KW columns"})
### END HIDDEN TESTS

# %% [markdown]
# ### C2. Max pooling backward (8 points)
#
# Only the maximum of a window receives that window's gradient. When a window holds **several equal
# maxima** (ties), the gradient goes to the **first** one in row-major order (this is what PyTorch
# does; it keeps the gradient's total equal to `dout`'s). With overlapping windows one input pixel can
# be the maximum of several windows: **accumulate** (`+=`).

# %% nbgrader={"grade": false, "grade_id": "max_pool_backward_impl", "locked": false, "schema_version": 3, "solution": true}
def max_pool2d_backward(dout, cache):
    '''dout (N, C, H_out, W_out) -> dx (N, C, H, W).'''
    ### BEGIN SOLUTION
    x, (kh, kw), (sh, sw) = cache
    dx = np.zeros_like(x)
    n, c, h_out, w_out = dout.shape
    for a in range(n):
        for ch in range(c):
            for i in range(h_out):
                for j in range(w_out):
                    win = x[a, ch, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    u, v = np.unravel_index(np.argmax(win), win.shape)   # first maximum (row-major)
                    dx[a, ch, i * sh + u, j * sw + v] += dout[a, ch, i, j]
    return dx
    ### END SOLUTION


# %%
# Self-check: overlapping windows share the maximum 9, so it collects both gradients;
# the tied 5s of the last window send the gradient to the first one only.
x = np.array([[1, 9, 2], [0, 1, 0], [5, 5, 0]], dtype=float)[None, None]
out, cache = max_pool2d_forward(x, 2, stride=1)
dx = max_pool2d_backward(np.ones_like(out), cache)
print(dx[0, 0])
assert np.array_equal(dx[0, 0], [[0, 2, 0], [0, 0, 0], [1, 1, 0]])
print("C2 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_max_pool_backward", "locked": true, "points": 8, "schema_version": 3, "solution": false}
# C2 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
from cnncourse.grading import cases, check_backward, secret_seed
from cnncourse.layers import max_pool2d_forward as _ref_max_pool2d_forward, max_pool2d_backward as _ref_max_pool2d_backward

# overlapping windows, ties, stride not dividing, non-square windows, batch of 1, random cases
check_backward(max_pool2d_forward, max_pool2d_backward, _ref_max_pool2d_forward, _ref_max_pool2d_backward,
               cases.pool_cases(seed=secret_seed(32), n=7), name="dx", forbidden=("a1_conv",),
               hints={"shape": "dx has the shape of x",
                      "values": "only the FIRST maximum of a window (row-major) receives its gradient, and overlapping windows ADD (+=) into dx"})
### END HIDDEN TESTS

# %% [markdown]
# ### C3. Average pooling forward (7 points)
#
# Same windows as max pooling, but each output is the **mean** of its window.

# %% nbgrader={"grade": false, "grade_id": "avg_pool_forward_impl", "locked": false, "schema_version": 3, "solution": true}
def avg_pool2d_forward(x, kernel_size, stride=None):
    '''x (N, C, H, W) -> out (N, C, H_out, W_out), cache.'''
    ### BEGIN SOLUTION
    (kh, kw) = pair(kernel_size)
    (sh, sw) = pair(kernel_size if stride is None else stride)
    n, c, h, w = x.shape
    h_out, w_out = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.empty((n, c, h_out, w_out), dtype=x.dtype)
    for i in range(h_out):
        for j in range(w_out):
            out[:, :, i, j] = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].sum(axis=(2, 3)) / (kh * kw)
    return out, (x.shape, (kh, kw), (sh, sw))
    ### END SOLUTION


# %%
# Self-check: the lecture's mean pooling of the 5x5 example (3x3, stride 1).
x = np.array([[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]], dtype=float)[None, None]
out, _ = avg_pool2d_forward(x, 3, stride=1)
print(out[0, 0].round(1))
assert np.allclose(out[0, 0].round(1), [[1.7, 1.7, 1.7], [1.0, 1.2, 1.8], [1.1, 0.8, 1.3]])
print("C3 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_avg_pool_forward", "locked": true, "points": 7, "schema_version": 3, "solution": false}
# C3 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
from cnncourse.grading import cases, check_forward, secret_seed
from cnncourse.layers import avg_pool2d_forward as _ref_avg_pool2d_forward

# overlapping windows, ties, stride not dividing, non-square windows, batch of 1, random cases
check_forward(avg_pool2d_forward, _ref_avg_pool2d_forward, cases.pool_cases(seed=secret_seed(33), n=7), forbidden=("a1_conv",),
              hints={"shape": "H_out = (H - KH) // SH + 1 and W_out = (W - KW) // SW + 1, with stride = kernel_size when stride is None",
                     "values": "each output is the MEAN of its window: divide the window sum by KH*KW"})
### END HIDDEN TESTS

# %% [markdown]
# ### C4. Average pooling backward (8 points)
#
# Every input pixel of a window receives `dout / (KH*KW)` from that window; overlapping windows add.

# %% nbgrader={"grade": false, "grade_id": "avg_pool_backward_impl", "locked": false, "schema_version": 3, "solution": true}
def avg_pool2d_backward(dout, cache):
    '''dout (N, C, H_out, W_out) -> dx (N, C, H, W).'''
    ### BEGIN SOLUTION
    x_shape, (kh, kw), (sh, sw) = cache
    dx = np.zeros(x_shape, dtype=dout.dtype)
    h_out, w_out = dout.shape[2:]
    for i in range(h_out):
        for j in range(w_out):
            dx[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += dout[:, :, i, j][:, :, None, None] / (kh * kw)
    return dx
    ### END SOLUTION


# %%
# Self-check: with stride 1 the centre pixel of a 3x3 input belongs to all four 2x2 windows.
x = np.zeros((1, 1, 3, 3))
out, cache = avg_pool2d_forward(x, 2, stride=1)
dx = avg_pool2d_backward(np.ones_like(out), cache)
print(dx[0, 0])
assert np.allclose(dx[0, 0], [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])
print("C4 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_avg_pool_backward", "locked": true, "points": 8, "schema_version": 3, "solution": false}
# C4 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
from cnncourse.grading import cases, check_backward, secret_seed
from cnncourse.layers import avg_pool2d_forward as _ref_avg_pool2d_forward, avg_pool2d_backward as _ref_avg_pool2d_backward

# overlapping windows, ties, stride not dividing, non-square windows, batch of 1, random cases
check_backward(avg_pool2d_forward, avg_pool2d_backward, _ref_avg_pool2d_forward, _ref_avg_pool2d_backward,
               cases.pool_cases(seed=secret_seed(34), n=7), name="dx", forbidden=("a1_conv",),
               hints={"shape": "dx has the shape of x",
                      "values": "each window pixel receives dout/(KH*KW), and overlapping windows ADD (+=) into dx"})
### END HIDDEN TESTS

# %% [markdown]
# ## Part D — Gradient check
#
# ### D1. Numerical gradient (5 points)
#
# For a function `f` that returns an array and an upstream gradient `df` (same shape as `f(x)`), the
# gradient of `sum(f(x) * df)` with respect to `x` is approximated by central differences:
#
# $$\frac{\partial}{\partial x_i} \approx \frac{\sum (f(x + h e_i) - f(x - h e_i))\, df}{2h} .$$
#
# Perturb one entry at a time **in place** and restore it afterwards (so `x` is unchanged at the end).

# %% nbgrader={"grade": false, "grade_id": "numerical_gradient_impl", "locked": false, "schema_version": 3, "solution": true}
def numerical_gradient(f, x, df, h=1e-5):
    '''Central-difference gradient of sum(f(x) * df) with respect to x (same shape as x).'''
    ### BEGIN SOLUTION
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = np.array(f(x), copy=True)
        x[i] = old - h
        minus = np.array(f(x), copy=True)
        x[i] = old
        grad[i] = np.sum((plus - minus) * df) / (2 * h)
    return grad
    ### END SOLUTION


# %%
def rel_error(a, b):
    '''Largest relative error between two arrays (small is good: < 1e-7 for a correct backward).'''
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))

# Self-check on a function whose gradient we know: f(x) = x**2 -> gradient 2 x df
x = np.random.default_rng(0).standard_normal((3, 4))
df = np.ones((3, 4))
print(rel_error(numerical_gradient(lambda z: z ** 2, x, df), 2 * x * df))
assert rel_error(numerical_gradient(lambda z: z ** 2, x, df), 2 * x * df) < 1e-7
print("D1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_numerical_gradient", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# D1 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from cnncourse.grading import assert_array_close, call_student, secret_seed, student_function
from cnncourse.gradcheck import eval_numerical_gradient_array as _ref_num

_rng = _np.random.default_rng(secret_seed(41))
_a = _rng.standard_normal((4, 3))
for _src, _xs in [("lambda z: np.sin(z) * 3", (2, 5)), ("lambda z: z @ a", (2, 4)),
                  ("lambda z: np.tanh(z).sum(axis=0)", (3, 2, 2))]:
    _f = student_function(_src, a=_a)  # the function numerical_gradient differentiates
    _x = _rng.standard_normal(_xs)
    _df = _rng.standard_normal(_f(_x).shape)
    _want = _ref_num(_f, _x.copy(), _df)
    _got = call_student(numerical_gradient, _f, _x, _df, forbidden=("a1_conv",), timeout=10)
    assert_array_close(_got, _want, name=f"numerical_gradient of {_src} (x {_xs})", rtol=1e-5, atol=1e-7,
                       hints={"values": "use (f(x+h) - f(x-h)) * df summed, divided by 2h, and restore x[i] after each entry"})
### END HIDDEN TESTS

# %% [markdown]
# ### D2. Check your own layers (5 points)
#
# Use `numerical_gradient` to check `conv2d_backward` (all three gradients, with stride 2, padding 1
# and dilation 2), `max_pool2d_backward` and `avg_pool2d_backward` on small random inputs. Store the
# relative errors in the dictionary `grad_errors` with keys `"conv_dx"`, `"conv_dw"`, `"conv_db"`,
# `"max_pool_dx"`, `"avg_pool_dx"`. A correct backward pass gives errors below `1e-7`. For max pooling
# use an input without ties (e.g. `rng.permutation`), since the max is not differentiable at a tie.

# %% nbgrader={"grade": false, "grade_id": "grad_check_impl", "locked": false, "schema_version": 3, "solution": true}
rng = np.random.default_rng(1)
### BEGIN SOLUTION
x = rng.standard_normal((2, 2, 7, 6))
w = rng.standard_normal((3, 2, 3, 2))
b = rng.standard_normal(3)
conv = dict(stride=2, padding=1, dilation=2)
out, cache = conv2d_forward(x, w, b, **conv)
dout = rng.standard_normal(out.shape)
dx, dw, db = conv2d_backward(dout, cache)
grad_errors = {
    "conv_dx": rel_error(dx, numerical_gradient(lambda z: conv2d_forward(z, w, b, **conv)[0], x, dout)),
    "conv_dw": rel_error(dw, numerical_gradient(lambda z: conv2d_forward(x, z, b, **conv)[0], w, dout)),
    "conv_db": rel_error(db, numerical_gradient(lambda z: conv2d_forward(x, w, z, **conv)[0], b, dout)),
}
xp = rng.permutation(2 * 2 * 6 * 5).reshape(2, 2, 6, 5).astype(float)
out, cache = max_pool2d_forward(xp, 3, stride=2)
dout = rng.standard_normal(out.shape)
grad_errors["max_pool_dx"] = rel_error(max_pool2d_backward(dout, cache),
                                       numerical_gradient(lambda z: max_pool2d_forward(z, 3, stride=2)[0], xp, dout))
out, cache = avg_pool2d_forward(x, 2, stride=1)
dout = rng.standard_normal(out.shape)
grad_errors["avg_pool_dx"] = rel_error(avg_pool2d_backward(dout, cache),
                                       numerical_gradient(lambda z: avg_pool2d_forward(z, 2, stride=1)[0], x, dout))
### END SOLUTION
for name, err in grad_errors.items():
    print(f"{name:12s} relative error {err:.2e}")

# %% nbgrader={"grade": true, "grade_id": "test_grad_check", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# D2 tests: every gradient you checked agrees with your numerical gradient (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from cnncourse.grading import call_student, secret_seed
from cnncourse.gradcheck import eval_numerical_gradient_array as _ref_num, rel_error as _rel

_need = {"conv_dx", "conv_dw", "conv_db", "max_pool_dx", "avg_pool_dx"}
assert isinstance(grad_errors, dict) and _need <= set(grad_errors), (
    f"grad_errors must be a dict with keys {sorted(_need)}, got {grad_errors!r}")
for _key in sorted(_need):
    assert float(grad_errors[_key]) < 1e-6, (
        f"grad_errors[{_key!r}] = {float(grad_errors[_key]):.2e}: your backward pass and your numerical gradient disagree")
# And your backward pass must agree with an independent numerical gradient of YOUR forward pass.
_rng = _np.random.default_rng(secret_seed(42))
_x, _w, _b = _rng.standard_normal((1, 2, 6, 7)), _rng.standard_normal((2, 2, 2, 3)), _rng.standard_normal(2)
_out, _cache = call_student(conv2d_forward, _x, _w, _b, stride=2, padding=1, dilation=1, forbidden=("a1_conv",), timeout=10)
_dout = _rng.standard_normal(_out.shape)
_dx, _dw, _db = call_student(conv2d_backward, _dout, _cache, forbidden=("a1_conv",), timeout=10)
_num_dx = _ref_num(lambda z: conv2d_forward(z, _w, _b, stride=2, padding=1)[0], _x.copy(), _dout)
assert _rel(_dx, _num_dx) < 1e-6, f"conv2d_backward dx does not match the numerical gradient of your conv2d_forward (rel. error {_rel(_dx, _num_dx):.1e})"
### END HIDDEN TESTS

# %% [markdown]
# ## Part E — Edge detection with your convolution (10 points)
#
# A Sobel filter responds to horizontal intensity changes, its transpose to vertical ones:
#
# $$G_x = \begin{pmatrix}-1&0&1\\-2&0&2\\-1&0&1\end{pmatrix}, \qquad G_y = G_x^\top .$$
#
# Write `sobel_edges(image)` for a 2-D grey image `(H, W)`: run **your** `conv2d_forward` once with
# both filters stacked as `F = 2` output channels (padding 1, so the output is `(H, W)`), and return the
# gradient magnitude `sqrt(gx**2 + gy**2)`. Then look at the result on a photo that ships with
# matplotlib (Grace Hopper, downsampled to 150 x 128 grey pixels; no download needed) and on a
# synthetic image.

# %% nbgrader={"grade": false, "grade_id": "sobel_edges_impl", "locked": false, "schema_version": 3, "solution": true}
SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float)

def sobel_edges(image):
    '''(H, W) grey image -> (H, W) gradient magnitude, computed with conv2d_forward.'''
    ### BEGIN SOLUTION
    w = np.stack([SOBEL_X, SOBEL_X.T])[:, None]            # (F=2, C=1, 3, 3)
    x = np.asarray(image, dtype=float)[None, None]          # (N=1, C=1, H, W)
    out, _ = conv2d_forward(x, w, np.zeros(2), padding=1)   # (1, 2, H, W)
    return np.sqrt(out[0, 0] ** 2 + out[0, 1] ** 2)
    ### END SOLUTION


# %%
import matplotlib.cbook as cbook

photo = plt.imread(cbook.get_sample_data("grace_hopper.jpg"))[::4, ::4].mean(axis=2) / 255   # (150, 128) grey
yy, xx = np.mgrid[:32, :48]
synthetic = ((xx - 24) ** 2 + (yy - 16) ** 2 < 100).astype(float) + (xx > 36)   # a disc and a bar
fig, axes = plt.subplots(2, 2, figsize=(8, 6))
for row, img in zip(axes, [photo, synthetic]):
    row[0].imshow(img, cmap="gray"); row[0].set_title("image")
    row[1].imshow(sobel_edges(img), cmap="magma"); row[1].set_title("Sobel magnitude (your conv)")
    for ax in row:
        ax.axis("off")
plt.tight_layout()
plt.show()

# Self-check: a vertical step edge gives a response only next to the step.
step = np.zeros((5, 6)); step[:, 3:] = 1
e = sobel_edges(step)
assert e.shape == (5, 6) and np.allclose(e[2, [2, 3]], 4) and np.allclose(e[2, 0], 0)
print("E1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_sobel_edges", "locked": true, "points": 10, "schema_version": 3, "solution": false}
# E1 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.layers import conv2d_forward as _ref_conv

_rng = _np.random.default_rng(secret_seed(51))
_sx = _np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float)
for _shape in [(8, 8), (6, 11), (9, 5)]:
    _img = _rng.random(_shape)
    _o, _ = _ref_conv(_img[None, None], _np.stack([_sx, _sx.T])[:, None], _np.zeros(2), padding=1)
    _want = _np.sqrt(_o[0, 0] ** 2 + _o[0, 1] ** 2)
    _got = call_student(sobel_edges, _img, forbidden=("a1_conv",), timeout=10)
    assert_array_close(_got, _want, name=f"sobel_edges (image {_shape})",
                       hints={"shape": "pad by 1 so the edge map has the image's shape (H, W)",
                              "values": "stack Sobel x and its transpose as two filters, then sqrt(gx**2 + gy**2)"})
### END HIDDEN TESTS

# %% [markdown]
# **Before you submit:** Kernel → Restart & Run All, and check that every self-check prints "passed".
