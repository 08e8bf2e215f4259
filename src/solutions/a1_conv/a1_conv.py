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
# locked *test* cell. The self-checks use small examples that you can verify by hand and exercise every
# argument of the exercise (bias, stride, padding, dilation, the defaults); when one fails it says which
# call, what you returned and what was expected. The test cells contain hidden tests that run when your
# notebook is graded: they compare your functions with reference implementations on many random cases
# (other shapes, strides, batch sizes and ties than the self-checks), so a solution that only fits the
# visible examples will lose the points. While your functions run during grading, library shortcuts such
# as `torch.nn.functional.conv2d`, `scipy.signal.correlate2d`, `numpy.lib.stride_tricks` and the
# `cnncourse.layers` references are disabled. Loops are fine: clarity first. Before submitting, run
# **Kernel → Restart & Run All**.
#
# **Rules for every function** (the hidden tests check them):
# - do not modify the inputs, and return **new** arrays: never the input itself or a view of it
#   (`x[:, :, 0:H]` is a view), even when there is nothing to change (e.g. padding 0);
# - every array you return has the **dtype of the input** `x`: float64 in, float64 out; float32 in,
#   float32 out. Create outputs with `np.zeros(shape, dtype=x.dtype)` or `np.zeros_like(x)`;
#   `np.zeros(shape)` alone is always float64.
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


def self_check(got, expected, call, hint="", dtype=None):
    '''Compare your result with a hand-computed one; if they differ, raise an AssertionError that
    names the call, says what differs (type, shape, dtype or values: got vs expected) and gives a hint.'''
    def fail(what):
        raise AssertionError(f"self-check failed for {call}: {what}" + (f"\n  hint: {hint}" if hint else ""))

    if expected is None:
        if got is not None:
            fail(f"expected None, got {type(got).__name__}")
        return
    if isinstance(expected, int):
        if isinstance(got, bool) or not isinstance(got, (int, np.integer)):
            fail(f"expected the int {expected}, got {got!r} ({type(got).__name__})")
        if got != expected:
            fail(f"got {got}, expected {expected}")
        return
    expected = np.asarray(expected)
    if type(got) is not np.ndarray:
        fail(f"expected a numpy array, got {type(got).__name__}")
    if got.shape != expected.shape:
        fail(f"shape {got.shape}, expected {expected.shape}")
    if dtype is not None and got.dtype != dtype:
        fail(f"dtype {got.dtype}, expected {np.dtype(dtype)} (the input's dtype: create outputs with dtype=x.dtype)")
    wrong = ~np.isclose(got, expected, rtol=1e-5, atol=1e-8)
    if wrong.any():
        first = tuple(int(i) for i in np.argwhere(wrong)[0])
        fail(f"{int(wrong.sum())} of {wrong.size} values differ, first at index {first}: got {got[first]:.6g}, "
             f"expected {expected[first]:.6g}\n  got (squeezed):\n{np.squeeze(got)}\n  expected (squeezed):\n"
             f"{np.squeeze(expected)}")


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
# With `D = 1` this is the slides' `(N - F + 2P)/S + 1`. Return an `int`. When the division is not
# exact the layer does not tile the input (the slides' example `N=7, F=3, S=3` gives `2.33`): raise a
# `ValueError` whose message names the stride (e.g. `"stride 3 does not fit: ... = 2.33"`). The
# defaults `stride=1, padding=0, dilation=1` are those of `torch.nn.Conv2d`. Implement `conv_output_size`.

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
# Self-check (not graded): the lecture's examples, one argument at a time, then all together.
self_check(conv_output_size(7, 3), 5, "conv_output_size(7, 3) [defaults stride=1, padding=0, dilation=1]",
           hint="(7 - 3)/1 + 1 = 5")
self_check(conv_output_size(7, 3, stride=2), 3, "conv_output_size(7, 3, stride=2) [stride]",
           hint="(7 - 3)/2 + 1 = 3: divide the span by the stride, then add 1")
self_check(conv_output_size(5, 3, padding=1), 5, "conv_output_size(5, 3, padding=1) [padding]",
           hint="(5 + 2*1 - 3)/1 + 1 = 5: the padding is added on both sides (2*P)")
self_check(conv_output_size(9, 3, dilation=2), 5, "conv_output_size(9, 3, dilation=2) [dilation]",
           hint="a 3x3 kernel at rate 2 spans D*(K-1) + 1 = 5 pixels: (9 - 5)/1 + 1 = 5")
self_check(conv_output_size(227, 11, stride=4), 55, "conv_output_size(227, 11, stride=4) [AlexNet CONV1]",
           hint="(227 - 11)/4 + 1 = 55")
self_check(conv_output_size(11, 3, stride=2, padding=1, dilation=2), 5,
           "conv_output_size(11, 3, stride=2, padding=1, dilation=2) [all together]",
           hint="(11 + 2*1 - 2*(3-1) - 1)/2 + 1 = 5")
try:
    got = conv_output_size(7, 3, stride=3)
except ValueError as e:
    assert "stride" in str(e), f"conv_output_size(7, 3, stride=3) raised ValueError({str(e)!r}): the message must name the stride"
    print("raised as expected:", e)
else:
    raise AssertionError(f"conv_output_size(7, 3, stride=3) returned {got!r}: (7 - 3)/3 + 1 = 2.33 is not an integer, "
                         "so it must raise a ValueError whose message names the stride")
print("A1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_conv_output_size", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# A1 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from cnncourse.grading import call_student, check_int, secret_seed
from cnncourse.arithmetic import conv_output_size as _ref_size


def _mistakes(n, k, s, p, d):
    '''(cause, what that mistake returns) for the common mistakes, on the case (n, k, s, p, d).'''
    span = n + 2 * p - d * (k - 1) - 1
    return [("off by one: the '+ 1' is missing (span // S counts the steps, + 1 counts the first window too)", span // s),
            (f"the dilation D is not used: a kernel of size K at dilation D spans D*(K-1) + 1 pixels "
             f"(here {d}*({k}-1) + 1 = {d * (k - 1) + 1})", (n + 2 * p - k) // s + 1),
            ("the dilated kernel spans D*(K-1) + 1 pixels, not D*K", (n + 2 * p - d * k) // s + 1),
            ("the padding is added on BOTH sides: 2*P, not P", (n + p - d * (k - 1) - 1) // s + 1),
            ("the padding P is missing from the span N + 2P - D*(K-1) - 1", (n - d * (k - 1) - 1) // s + 1),
            ("the stride is not applied: divide the span by S", span + 1),
            ("the '- 1' of the span is missing: span = N + 2P - D*(K-1) - 1", (n + 2 * p - d * (k - 1)) // s + 1)]


_rng = _np.random.default_rng(secret_seed(11))
_rows = []  # (call text, (n, k, s, p, d), keyword arguments, expected)
for _n, _k in [(7, 3), (int(_rng.integers(5, 30)), 2)]:  # the defaults stride=1, padding=0, dilation=1
    _rows.append((_n, _k, 1, 0, 1, {}))
while len(_rows) < 42:
    _k, _s, _p, _d = (int(v) for v in (_rng.integers(1, 6), _rng.integers(1, 4), _rng.integers(0, 3), _rng.integers(1, 3)))
    if len(_rows) == 2:  # stride alone: padding and dilation keep their defaults
        _p, _d = 0, 1
    _n = int(_rng.integers(_d * (_k - 1) + 1, 40))
    try:
        _ref_size(_n, _k, stride=_s, padding=_p, dilation=_d)
    except ValueError:
        continue
    _rows.append((_n, _k, _s, _p, _d, dict(stride=_s) if len(_rows) == 2 else dict(stride=_s, padding=_p, dilation=_d)))
_results = []
for _n, _k, _s, _p, _d, _kw in _rows:
    _call = f"conv_output_size({_n}, {_k}{''.join(f', {key}={val}' for key, val in _kw.items())})"
    _want = _ref_size(_n, _k, stride=_s, padding=_p, dilation=_d)
    try:
        _got = call_student(conv_output_size, _n, _k, **_kw, forbidden=("a1_conv",), timeout=5)
    except ValueError as _e:
        raise AssertionError(f"{_call} raised ValueError({getattr(_e, 'message', str(_e))!r}), but the stride fits: "
                             f"the answer is {_want}") from _e
    _results.append((_call, (_n, _k, _s, _p, _d), _want, _got))
_wrong = [r for r in _results if not (isinstance(r[3], (int, _np.integer)) and r[3] == r[2])]
_cause = None
if _wrong:  # the mistake that explains EVERY wrong answer, else the first one that explains the first
    _options = [[c for c, v in _mistakes(*args) if v == got] for _, args, _, got in _wrong]
    _cause = next((c for c in _options[0] if all(c in o for o in _options)), _options[0][0] if _options[0] else None)
for _call, (_n, _k, _s, _p, _d), _want, _got in _results:
    _formula = f"({_n} + 2*{_p} - {_d}*({_k}-1) - 1) // {_s} + 1 = {_want}"
    check_int(_got, _want, name=_call,
              hints={"values": f"{_cause} (expected {_formula})" if _cause else f"expected {_formula}"})
for _args in [(7, 3, 3, 0, 1), (10, 3, 4, 0, 1), (8, 2, 3, 1, 1), (12, 3, 5, 0, 2)]:
    _call = "conv_output_size({}, {}, stride={}, padding={}, dilation={})".format(*_args)
    try:
        _got = call_student(conv_output_size, _args[0], _args[1], stride=_args[2], padding=_args[3], dilation=_args[4],
                            forbidden=("a1_conv",), timeout=5)
    except ValueError as _e:
        _message = getattr(_e, "message", str(_e))
        assert "stride" in _message.lower(), (
            f"{_call} raised ValueError({_message!r}): right, but the text asks that the message name the stride "
            "(e.g. 'stride 3 does not fit: ...')")
    else:
        raise AssertionError(f"{_call} returned {_got!r}; it should raise a ValueError that names the stride: "
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
for got, want, i in zip(receptive_field(table) + [None] * 8, [3, 5, 9, 13, 17, 25, 33, 41], range(8)):
    self_check(got, want, f"receptive_field(table)[{i}] (layer {i + 1} of the lecture's table)",
               hint="r grows by dilation*(kernel-1)*jump, with the jump (product of the strides) of the layers BEFORE")
self_check(receptive_field([(3, 1, 2)])[0], 5, "receptive_field([(3, 1, 2)]) [dilation]",
           hint="a 3x3 kernel at rate 2 sees 2*(3-1) + 1 = 5 pixels")
got = receptive_field([(3, 2, 1), (3, 1, 2)])
self_check(got[1] if len(got) == 2 else None, 11, "receptive_field([(3, 2, 1), (3, 1, 2)])[1] [stride, then dilation]",
           hint="after the stride-2 layer the jump is 2, so the dilated layer adds 2*(3-1)*2 = 8 to r = 3")
print("A2 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_receptive_field", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# A2 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
from cnncourse.grading.remote import StudentKernelDied as _KernelDied
import numpy as _np
from cnncourse.grading import call_student, check_int, secret_seed
from cnncourse.arithmetic import receptive_field as _ref_rf

_rng = _np.random.default_rng(secret_seed(12))
for _trial in range(15):
    _layers = [tuple(int(v) for v in (_rng.integers(1, 6), _rng.integers(1, 4), _rng.integers(1, 3)))
               for _ in range(int(_rng.integers(1, 7)))]
    _want = [row.receptive_field for row in _ref_rf([dict(kernel=k, stride=s, dilation=d, padding=0) for k, s, d in _layers])]
    try:
        _got = call_student(receptive_field, list(_layers), forbidden=("a1_conv",), timeout=5)
    except _KernelDied:  # not the student's answer: the grader reports the test as not graded
        raise
    except AssertionError as _e:  # the grader's checks (input changed, result aliased) or the student's assert
        raise AssertionError(f"{_e} (on receptive_field({_layers}))") from _e
    except Exception as _e:
        raise AssertionError(f"receptive_field({_layers}) raised {getattr(_e, 'type_name', type(_e).__name__)}: "
                             f"{getattr(_e, 'message', str(_e))}") from _e
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
# The batch and channel axes are never padded. Return a new array with the dtype of `x`, even for
# `padding=0` (do not modify `x`, and do not return `x` itself).

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
# Self-check: a pair, an int, several images and channels, float32, and padding 0.
x = np.arange(6, dtype=float).reshape(1, 1, 2, 3)
xp = zero_pad2d(x, (1, 2))
print(xp[0, 0])
self_check(xp, [[[[0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 1, 2, 0, 0], [0, 0, 3, 4, 5, 0, 0], [0, 0, 0, 0, 0, 0, 0]]]],
           "zero_pad2d(x (1, 1, 2, 3), (1, 2)) [padding as a pair (ph, pw)]",
           hint="ph = 1 row above and below, pw = 2 columns left and right", dtype=np.float64)
self_check(zero_pad2d(x, 1), [[[[0, 0, 0, 0, 0], [0, 0, 1, 2, 0], [0, 3, 4, 5, 0], [0, 0, 0, 0, 0]]]],
           "zero_pad2d(x (1, 1, 2, 3), 1) [padding as an int]", hint="an int p means (p, p): use pair() or np.isscalar")
x4 = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)
xp4 = zero_pad2d(x4, 1)
self_check(np.array(np.shape(xp4)), [2, 3, 4, 4], "zero_pad2d(x (2, 3, 2, 2), 1).shape [2 images, 3 channels]",
           hint="pad only H and W: the batch and channel axes keep their size (2, 3)")
self_check(xp4[:, :, 1:3, 1:3], x4, "zero_pad2d(x (2, 3, 2, 2) float32, 1)[:, :, 1:3, 1:3] [the centre, float32]",
           hint="every image and channel of x goes in the middle; keep the dtype of x", dtype=np.float32)
ring = xp4.copy()
ring[:, :, 1:3, 1:3] = 0
self_check(ring, np.zeros((2, 3, 4, 4)), "zero_pad2d(x (2, 3, 2, 2), 1) around the centre [the zero ring]")
same = zero_pad2d(x, 0)
self_check(same, x, "zero_pad2d(x, 0) [padding 0]", dtype=np.float64)
assert same is not x and not np.shares_memory(same, x), (
    "zero_pad2d(x, 0) returned x itself (or a view of it): return a new array (x.copy()) even when there is nothing to pad")
print("A3 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_zero_pad2d", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# A3 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
from cnncourse.grading.remote import StudentKernelDied as _KernelDied
import numpy as _np
from cnncourse.grading import assert_array_close, call_student, cases, describe_case, secret_seed
from cnncourse.grading.cases import Case
from cnncourse.layers import zero_pad2d as _ref_pad

_rng = _np.random.default_rng(secret_seed(13))
_cases = list(cases.pad_cases(seed=secret_seed(13), n=6))
_cases += [Case("float32 input", x=_rng.standard_normal((2, 2, 3, 4)).astype(_np.float32), padding=(2, 1)),
           Case("float32 input, padding 0", x=_rng.standard_normal((1, 2, 3, 3)).astype(_np.float32), padding=0)]
for _case in _cases:
    _want = _ref_pad(**_case)
    try:  # no_alias: the result must be a new array, also for padding 0
        _got = call_student(zero_pad2d, **_case, forbidden=("a1_conv",), timeout=5, no_alias=True)
    except _KernelDied:  # not the student's answer: the grader reports the test as not graded
        raise
    except AssertionError as _e:  # the grader's checks (input changed, result aliased) or the student's assert
        raise AssertionError(f"{_e} (on the case {describe_case(_case)})") from _e
    except Exception as _e:
        raise AssertionError(f"{getattr(_e, 'type_name', type(_e).__name__)}: {getattr(_e, 'message', str(_e))} "
                             f"(on the case {describe_case(_case)})") from _e
    _ph, _pw = (_case["padding"],) * 2 if _np.isscalar(_case["padding"]) else _case["padding"]
    assert_array_close(_got, _want, name=f"zero_pad2d(x, padding) ({describe_case(_case)})", exact_dtype=True,
                       hints={"shape": f"pad only H (by ph on each side) and W (by pw on each side); never N or C: "
                                       f"x {_case['x'].shape} with padding {_case['padding']!r} gives {_want.shape}",
                              "dtype": "return an array with the dtype of x: np.zeros(shape, dtype=x.dtype)",
                              "values": f"x goes in the middle, at rows ph:ph+H = {_ph}:{_ph + _case['x'].shape[2]} and columns "
                                        f"pw:pw+W = {_pw}:{_pw + _case['x'].shape[3]}, zeros everywhere else"})
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
# divide the span is allowed and rounds down, as in PyTorch (`floor`). `out` has the dtype of `x`.
# Return `(out, cache)` where `cache` holds whatever your backward pass needs. A straightforward loop
# over `n, f, i, j` is fine.

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
# Self-check: the lecture's 5x5 example (no padding, stride 1), then each argument on its own:
# bias, stride (int and pair), padding, dilation, several images/channels/filters, float32.
x = np.array([[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]], dtype=float)[None, None]
k = np.array([[0, 1, 2], [2, 2, 0], [0, 1, 2]], dtype=float)[None, None]
base = np.array([[12, 12, 17], [10, 17, 19], [9, 6, 14]], dtype=float)    # the lecture's output
out, _ = conv2d_forward(x, k, None)
print(out[0, 0])
self_check(out, base[None, None], "conv2d_forward(x, k, None) [defaults stride=1, padding=0, dilation=1]",
           hint="out[i, j] = sum of x[i:i+3, j:j+3] * k (no flip)", dtype=np.float64)
self_check(conv2d_forward(x, k, np.array([10.0]))[0], base[None, None] + 10, "conv2d_forward(x, k, b=[10.]) [bias]",
           hint="add b[f] to every output of filter f (after the sum over c, u, v)")
self_check(conv2d_forward(x, k, None, stride=(1, 2))[0], base[None, None][..., ::2],
           "conv2d_forward(x, k, None, stride=(1, 2)) [stride as a pair]",
           hint="stride (1, 2): every row and every second column of the stride-1 output; H_out uses S_h, W_out uses S_w")
self_check(conv2d_forward(x, k, None, stride=2, padding=1)[0], [[[[6, 17, 3], [8, 17, 13], [6, 4, 4]]]],
           "conv2d_forward(x, k, None, stride=2, padding=1) [int stride, padding]",
           hint="pad x with one ring of zeros (zero_pad2d), then windows start at (2i, 2j) of the padded image")
self_check(conv2d_forward(x, k, None, dilation=2)[0], [[[[14]]]], "conv2d_forward(x, k, None, dilation=2) [dilation]",
           hint="at dilation 2 the 3x3 kernel reads x[0:5:2, 0:5:2] (taps 2 pixels apart): "
                "3*0 + 2*1 + 0*2 + 3*2 + 2*2 + 3*0 + 2*0 + 0*1 + 1*2 = 14")
# two images (x and 2x), two input channels (k on x, 2k on x: 3 * base), two filters (k and -k), a bias each
xb = np.concatenate([x, 2 * x])[:, [0, 0]]                                   # (N=2, C=2, 5, 5)
wb = np.stack([np.concatenate([k[0], 2 * k[0]]), -np.concatenate([k[0], 2 * k[0]])])   # (F=2, C=2, 3, 3)
want = np.stack([np.stack([s * 3 * base + 1, -s * 3 * base - 1]) for s in (1, 2)])     # (2, 2, 3, 3)
self_check(conv2d_forward(xb, wb, np.array([1.0, -1.0]))[0], want,
           "conv2d_forward(x (2, 2, 5, 5), w (2, 2, 3, 3), b=[1., -1.]) [several images, channels, filters]",
           hint="out[n, f] sums over ALL input channels c, for every image n and filter f; filter f gets bias b[f]")
out32, _ = conv2d_forward(x.astype(np.float32), k.astype(np.float32), np.zeros(1, dtype=np.float32))
self_check(out32, base[None, None].astype(np.float32), "conv2d_forward(x float32, k float32, b float32) [dtype]",
           dtype=np.float32)
print("B1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_conv2d_forward", "locked": true, "points": 15, "schema_version": 3, "solution": false}
# B1 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
from cnncourse.grading.remote import StudentKernelDied as _KernelDied
import numpy as _np
from cnncourse.grading import assert_array_close, call_student, cases, describe_case, secret_seed
from cnncourse.grading.cases import Case
from cnncourse.grading.hints import shape_hint
from cnncourse.layers import conv2d_forward as _ref_conv


def _pair(v):
    return (int(v), int(v)) if _np.isscalar(v) else (int(v[0]), int(v[1]))


def _alternatives(case, h_out, w_out):
    '''(cause, the output that this mistake gives) for the common mistakes, on this case.'''
    x, w, bias = case["x"], case["w"], case.get("b")
    s, p, d = _pair(case.get("stride", 1)), _pair(case.get("padding", 0)), _pair(case.get("dilation", 1))
    out = []

    def add(cause, w_=w, b_=bias, s_=s, p_=p, d_=d, crop=False):
        try:
            alt = _ref_conv(x, _np.ascontiguousarray(w_), b_, stride=s_, padding=p_, dilation=d_)[0]
        except ValueError:  # that mistake cannot even run on this case
            return
        out.append((cause, alt[:, :, :h_out, :w_out] if crop else alt))

    if bias is not None:
        add("the bias is missing: add b[f] to every output of filter f", b_=None)
    if d != (1, 1):
        add(f"the dilation {d} is not used: the taps of the window are D pixels apart "
            "(x_pad[..., i*S_h + u*D_h, j*S_w + v*D_w]), and the dilated kernel spans D*(K-1) + 1 pixels", d_=(1, 1))
        add(f"the window ignores the dilation {d}: its taps are D pixels apart (x_pad[..., i*S_h + u*D_h, "
            "j*S_w + v*D_w]), not contiguous; your output size is right", d_=(1, 1), crop=True)
    if p != (0, 0):
        add(f"the padding {p} is not used: pad x with zero_pad2d(x, padding) and take the windows from x_pad", p_=(0, 0))
    if s != (1, 1):
        add(f"the stride {s} is not used: window (i, j) starts at (i*S_h, j*S_w)", s_=(1, 1))
        add(f"the windows step by 1, not by the stride {s}: window (i, j) starts at (i*S_h, j*S_w); your output "
            "size is right", s_=(1, 1), crop=True)
    if (s[0] != s[1] or p[0] != p[1] or d[0] != d[1]) and w.shape[2] == w.shape[3]:
        add("the height and width values are swapped: a pair (h, w) gives the value for H (axis 2) first",
            s_=s[::-1], p_=p[::-1], d_=d[::-1])
    add("the kernel is flipped: in this course (and in torch.nn.Conv2d) convolution is cross-correlation, "
        "w[f, c, u, v] multiplies x_pad[..., i*S_h + u*D_h, j*S_w + v*D_w]", w_=w[:, :, ::-1, ::-1])
    return out


_rng = _np.random.default_rng(secret_seed(25))
_x, _w = _rng.standard_normal((2, 3, 7, 6)), _rng.standard_normal((4, 3, 3, 2))
_cases = list(cases.conv_cases(seed=secret_seed(21), n=8))   # stride not dividing, non-square, batch of 1, dilation, no bias
_cases += [Case("the defaults stride=1, padding=0, dilation=1", x=_x, w=_w, b=_rng.standard_normal(4)),
           Case("int stride, padding and dilation", x=_x, w=_w, b=_rng.standard_normal(4), stride=2, padding=1, dilation=2)]
_cases += [Case("float32 " + c.label, **c) for c in cases.conv_cases(seed=secret_seed(26), n=2, dtype=_np.float32)]
for _case in _cases:
    _want = _ref_conv(**_case)[0]
    _what = describe_case(_case)
    try:
        _result = call_student(conv2d_forward, **_case, forbidden=("a1_conv",), timeout=10)
    except _KernelDied:  # not the student's answer: the grader reports the test as not graded
        raise
    except AssertionError as _e:  # the grader's checks (input changed, result aliased) or the student's assert
        raise AssertionError(f"{_e} (on the case {_what})") from _e
    except Exception as _e:  # the student's error: name the case that caused it
        raise AssertionError(f"`conv2d_forward` raised {getattr(_e, 'type_name', type(_e).__name__)}: "
                             f"{getattr(_e, 'message', str(_e))} (on the case {_what})") from _e
    assert isinstance(_result, tuple) and len(_result) == 2, (
        f"conv2d_forward must return a tuple (out, cache), got {type(_result).__name__} (on the case {_what})")
    _got = _result[0]
    _cause = None
    if type(_got) is _np.ndarray and _got.dtype.kind == "f" and (
            _got.shape != _want.shape or not _np.allclose(_got, _want, rtol=1e-5, atol=1e-6)):
        _cause = next((c for c, alt in _alternatives(_case, *_want.shape[2:])
                       if alt.shape == _got.shape and _np.allclose(_got, alt, rtol=1e-5, atol=1e-6)), None)
    _k = _case["w"].shape[2:]
    _s, _p, _d = (_pair(_case.get(key, dflt)) for key, dflt in (("stride", 1), ("padding", 0), ("dilation", 1)))
    _size = (f"for this case H_out = ({_case['x'].shape[2]} + 2*{_p[0]} - {_d[0]}*({_k[0]}-1) - 1) // {_s[0]} + 1 = "
             f"{_want.shape[2]} and W_out = ({_case['x'].shape[3]} + 2*{_p[1]} - {_d[1]}*({_k[1]}-1) - 1) // {_s[1]} + 1 = "
             f"{_want.shape[3]}")
    _auto = shape_hint(tuple(_got.shape), _want.shape) if type(_got) is _np.ndarray else ""
    assert_array_close(_got, _want, name=f"out ({_what})", exact_dtype=True, hints={
        "shape": _cause or "; ".join(t for t in (_auto, _size) if t),
        "dtype": "out has the dtype of x: np.zeros(shape, dtype=x.dtype) (np.zeros(shape) alone is float64)",
        "values": _cause or "check the window start i*stride, the dilation step inside the window and the bias"})
### END HIDDEN TESTS

# %% [markdown]
# ### B2. Backward pass (8 + 7 + 5 points)
#
# Given the upstream gradient `dout` (shape of `out`) and your `cache`, return `(dx, dw, db)` with the
# shapes and dtypes of `x`, `w` and `b` (`db` is `None` when `b` was `None`). Every output element
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
# Self-check 1: a 1x1 "convolution" is a per-pixel linear map, so its gradients are easy to write down.
x = np.arange(8, dtype=float).reshape(1, 2, 2, 2)
w = np.array([[[[2.0]], [[-1.0]]]])          # (F=1, C=2, 1, 1)
out, cache = conv2d_forward(x, w, np.array([0.5]))
dx, dw, db = conv2d_backward(np.ones_like(out), cache)
self_check(dx, np.stack([np.full((2, 2), 2.0), np.full((2, 2), -1.0)])[None], "dx of a 1x1 conv, w = [2, -1]",
           hint="every pixel of channel c receives dout * w[0, c]", dtype=np.float64)
self_check(dw, [[[[x[0, 0].sum()]], [[x[0, 1].sum()]]]], "dw of a 1x1 conv", hint="dw[0, c] = sum of dout * x[:, c]",
           dtype=np.float64)
self_check(db, [4.0], "db of a 1x1 conv on a 2x2 image", hint="db sums dout over the batch and all positions: shape (F,)",
           dtype=np.float64)
_, cache = conv2d_forward(x, w, None)
self_check(conv2d_backward(np.ones((1, 1, 2, 2)), cache)[2], None, "db after conv2d_forward(x, w, None) [no bias]",
           hint="without a bias (b=None) there is no db: return None")

# Self-check 2: stride, padding and dilation on 1-D examples you can follow by hand, with dout = 1
# everywhere (dx[i] then adds w[v] once for every output whose tap v read x[i]; dw[v] adds every pixel
# that tap v read; db counts the outputs), laid out along W, then along H.
examples = [  # (the argument tested, x, w, 1-D keyword arguments, dx, dw, db)
    ("stride=2", [0, 1, 2, 3, 4], [2], dict(stride=2), [2, 0, 2, 0, 2], [6], [3]),
    ("padding 1", [1, 2, 3], [1, 2, 3], dict(padding=1), [3, 6, 5], [3, 6, 5], [3]),
    ("dilation=2", [0, 1, 2, 3, 4], [1, 10], dict(dilation=2), [1, 1, 11, 10, 10], [3, 9], [3]),
    ("stride=2, padding 1, dilation=2", [0, 1, 2, 3, 4, 5, 6], [1, 10, 100], dict(stride=2, padding=1, dilation=2),
     [0, 11, 0, 111, 0, 110, 0], [4, 9, 8], [3]),
]
hints = {"dx": "send dout * w[v] back to the pixel that tap v read: window i starts at i*stride (of x_pad), its taps are "
               "dilation apart; add (+=), then cut the padding off dx_pad",
         "dw": "dw[v] adds dout * (the pixel of x_pad that tap v read), over all outputs: same windows as the forward pass",
         "db": "db sums dout over the batch and all output positions"}
for along in ("W", "H"):
    for argument, x1, w1, kwargs, dx1, dw1, db1 in examples:
        as_4d = (lambda v: np.array(v, dtype=float).reshape(1, 1, 1, -1)) if along == "W" else \
                (lambda v: np.array(v, dtype=float).reshape(1, 1, -1, 1))
        if "padding" in kwargs:
            kwargs = dict(kwargs, padding=(0, kwargs["padding"]) if along == "W" else (kwargs["padding"], 0))
        out, cache = conv2d_forward(as_4d(x1), as_4d(w1), np.zeros(1), **kwargs)
        grads = conv2d_backward(np.ones_like(out), cache)
        for name, got, want in zip(("dx", "dw", "db"), grads, (as_4d(dx1), as_4d(dw1), np.array(db1, dtype=float))):
            self_check(got, want, f"{name} after conv2d_forward(x={x1}, w={w1}, {argument}) along {along} "
                       f"(x {as_4d(x1).shape}, {kwargs}), dout = 1 [{argument}]", hint=hints[name], dtype=np.float64)
# two images: dw and db add over the batch
xb = np.array([[0, 1, 2, 3, 4, 5, 6.0], [0, 1, 2, 3, 4, 5, 6.0]]).reshape(2, 1, 1, 7)
out, cache = conv2d_forward(xb, np.array([1, 10, 100.0]).reshape(1, 1, 1, 3), np.zeros(1), stride=2, padding=(0, 1), dilation=2)
_, dw, db = conv2d_backward(np.ones_like(out), cache)
self_check(dw, np.array([8, 18, 16.0]).reshape(1, 1, 1, 3), "dw with two identical images [batch]",
           hint="dw sums over the batch too: twice the one-image dw [4, 9, 8]")
self_check(db, [6.0], "db with two identical images [batch]", hint="db sums dout over the batch too: 2 images x 3 outputs")
print("B2 self-check passed (the numerical gradient check in part D tests it on random inputs)")

# %% nbgrader={"grade": true, "grade_id": "test_conv2d_backward_dx", "locked": true, "points": 8, "schema_version": 3, "solution": false}
# B2 tests for dx (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from cnncourse.grading import cases, check_backward, secret_seed
from cnncourse.grading.cases import Case
from cnncourse.layers import conv2d_forward as _ref_conv, conv2d_backward as _ref_conv_back


def _more_conv_cases(seed):
    '''The defaults (no stride, padding, dilation given) and ints instead of pairs, with their dout.'''
    rng = _np.random.default_rng(seed)
    x, w, b = rng.standard_normal((2, 2, 6, 7)), rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3)
    for label, kw in [("the defaults stride=1, padding=0, dilation=1", {}),
                      ("int stride, padding and dilation", dict(stride=2, padding=1, dilation=2))]:
        out = _ref_conv(x, w, b, **kw)[0]
        yield Case(label, dout=rng.standard_normal(out.shape), x=x, w=w, b=b, **kw)


check_backward(conv2d_forward, conv2d_backward, _ref_conv, _ref_conv_back,
               list(cases.conv_cases(seed=secret_seed(22), n=7)) + list(_more_conv_cases(secret_seed(27))),
               grad=0, name="dx", forbidden=("a1_conv",), exact_dtype=True,
               hints={"shape": "dx has the shape of x: cut the padding (ph rows, pw columns) off dx_pad",
                      "dtype": "dx has the dtype of x: np.zeros_like(x_pad)",
                      "values": "each output sends dout*w back to ITS window (start i*stride, step dilation) and windows overlap: add (+=)"})
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_conv2d_backward_dw", "locked": true, "points": 7, "schema_version": 3, "solution": false}
# B2 tests for dw (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from cnncourse.grading import cases, check_backward, secret_seed
from cnncourse.grading.cases import Case
from cnncourse.layers import conv2d_forward as _ref_conv, conv2d_backward as _ref_conv_back


def _more_conv_cases(seed):
    '''The defaults (no stride, padding, dilation given) and ints instead of pairs, with their dout.'''
    rng = _np.random.default_rng(seed)
    x, w, b = rng.standard_normal((2, 2, 6, 7)), rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3)
    for label, kw in [("the defaults stride=1, padding=0, dilation=1", {}),
                      ("int stride, padding and dilation", dict(stride=2, padding=1, dilation=2))]:
        out = _ref_conv(x, w, b, **kw)[0]
        yield Case(label, dout=rng.standard_normal(out.shape), x=x, w=w, b=b, **kw)


check_backward(conv2d_forward, conv2d_backward, _ref_conv, _ref_conv_back,
               list(cases.conv_cases(seed=secret_seed(23), n=7)) + list(_more_conv_cases(secret_seed(28))),
               grad=1, name="dw", forbidden=("a1_conv",), exact_dtype=True,
               hints={"shape": "dw has the shape of w (F, C, KH, KW)",
                      "dtype": "dw has the dtype of w: np.zeros_like(w)",
                      "values": "dw[f] sums dout[n, f, i, j] * window(n, i, j) over the batch and all positions, "
                                "using the same windows (stride, dilation) as the forward pass"})
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_conv2d_backward_db", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# B2 tests for db (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from cnncourse.grading import cases, check_backward, secret_seed
from cnncourse.grading.cases import Case
from cnncourse.layers import conv2d_forward as _ref_conv, conv2d_backward as _ref_conv_back


def _more_conv_cases(seed):
    '''The defaults (no stride, padding, dilation given) and ints instead of pairs, with their dout.'''
    rng = _np.random.default_rng(seed)
    x, w, b = rng.standard_normal((2, 2, 6, 7)), rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3)
    for label, kw in [("the defaults stride=1, padding=0, dilation=1", {}),
                      ("int stride, padding and dilation", dict(stride=2, padding=1, dilation=2))]:
        out = _ref_conv(x, w, b, **kw)[0]
        yield Case(label, dout=rng.standard_normal(out.shape), x=x, w=w, b=b, **kw)


# db must be None for a layer without bias
check_backward(conv2d_forward, conv2d_backward, _ref_conv, _ref_conv_back,
               list(cases.conv_cases(seed=secret_seed(24), n=7)) + list(_more_conv_cases(secret_seed(29))),
               grad=2, name="db", forbidden=("a1_conv",), exact_dtype=True,
               hints={"shape": "db has one entry per filter, shape (F,): sum dout over the batch AND both spatial axes",
                      "dtype": "db has the dtype of dout (dout.sum(...) keeps it)",
                      "values": "db[f] is the sum of dout[:, f] over the batch and all output positions"})
### END HIDDEN TESTS

# %% [markdown]
# ## Part C — Pooling
#
# ### C1. Max pooling forward (7 points)
#
# `max_pool2d_forward(x, kernel_size, stride=None)` takes the maximum of every `KH x KW` window
# (`kernel_size` and `stride` are ints or pairs, use `pair`); `stride=None` (the default) means
# `stride = kernel_size`: non-overlapping windows, as in PyTorch. Windows may overlap (`stride < kernel_size`)
# and the stride need not divide the input (round down, like PyTorch). `out` has the dtype of `x`.
# Return `(out, cache)`.

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
# Self-check: the lecture's 5x5 example with 3x3 windows and stride 1 (overlapping), then the default
# stride, pairs, a stride that does not divide, several images/channels, float32.
x = np.array([[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]], dtype=float)[None, None]
out, _ = max_pool2d_forward(x, 3, stride=1)
print(out[0, 0])
self_check(out, [[[[3, 3, 3], [3, 3, 3], [3, 2, 3]]]], "max_pool2d_forward(x 5x5, 3, stride=1) [overlapping windows]",
           dtype=np.float64)
g = np.arange(16, dtype=float).reshape(1, 1, 4, 4)     # rows [0..3], [4..7], [8..11], [12..15]
self_check(max_pool2d_forward(g, 2)[0], [[[[5, 7], [13, 15]]]], "max_pool2d_forward(arange 4x4, 2) [default stride=None]",
           hint="stride=None means stride = kernel_size: four non-overlapping 2x2 windows (stride 1 would give 3x3)")
self_check(max_pool2d_forward(g, (1, 2), stride=(2, 1))[0], [[[[1, 2, 3], [9, 10, 11]]]],
           "max_pool2d_forward(arange 4x4, (1, 2), stride=(2, 1)) [kernel and stride as pairs]",
           hint="windows of 1 row x 2 columns, starting every 2nd row and every column: (h, w) pairs give H first")
self_check(max_pool2d_forward(np.arange(25.0).reshape(1, 1, 5, 5), 2)[0], [[[[6, 8], [16, 18]]]],
           "max_pool2d_forward(arange 5x5, 2) [stride does not divide: round down]",
           hint="H_out = (5 - 2) // 2 + 1 = 2: the last row and column are never in a window")
g2 = np.concatenate([g, -g, 10 + g[:, :, ::-1]], axis=1)             # (1, 3, 4, 4): 3 channels
self_check(max_pool2d_forward(np.concatenate([g2, 2 * g2]), 2)[0],
           np.concatenate([[[[[5, 7], [13, 15]], [[0, -2], [-8, -10]], [[23, 25], [15, 17]]]],
                           2 * np.array([[[[5, 7], [13, 15]], [[0, -2], [-8, -10]], [[23, 25], [15, 17]]]])]),
           "max_pool2d_forward(x (2, 3, 4, 4), 2) [several images and channels]",
           hint="pool every image and every channel separately: out has shape (N, C, H_out, W_out)")
self_check(max_pool2d_forward(g.astype(np.float32), 2)[0], np.array([[[[5, 7], [13, 15]]]], dtype=np.float32),
           "max_pool2d_forward(x float32, 2) [dtype]", dtype=np.float32)
print("C1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_max_pool_forward", "locked": true, "points": 7, "schema_version": 3, "solution": false}
# C1 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
from cnncourse.grading.remote import StudentKernelDied as _KernelDied
import numpy as _np
from cnncourse.grading import assert_array_close, call_student, cases, describe_case, secret_seed
from cnncourse.grading.cases import Case
from cnncourse.layers import max_pool2d_forward as _ref_max_pool2d_forward


def _pool_check(student, reference, all_cases, values_hint, extra=()):
    '''Compare student(**case)[0] with reference(**case)[0]; name the likely mistake from the output.'''
    def pair(v):
        return (int(v), int(v)) if _np.isscalar(v) else (int(v[0]), int(v[1]))

    for case in all_cases:
        want = reference(**case)[0]
        what = describe_case(case)
        try:
            result = call_student(student, **case, forbidden=("a1_conv",), timeout=10)
        except _KernelDied:  # not the student's answer: the grader reports the test as not graded
            raise
        except AssertionError as e:  # the grader's checks (input changed, result aliased) or the student's assert
            raise AssertionError(f"{e} (on the case {what})") from e
        except Exception as e:  # the student's error: name the case that caused it
            raise AssertionError(f"`{getattr(student, '__name__', 'pooling')}` raised {getattr(e, 'type_name', type(e).__name__)}: "
                                 f"{getattr(e, 'message', str(e))} (on the case {what})") from e
        assert isinstance(result, tuple) and len(result) == 2, (
            f"the pooling forward must return a tuple (out, cache), got {type(result).__name__} (on the case {what})")
        got, (k, s) = result[0], (pair(case["kernel_size"]), pair(case.get("stride") or case["kernel_size"]))
        h_out, w_out = want.shape[2:]
        cause = None
        if type(got) is _np.ndarray and got.dtype.kind == "f" and (
                got.shape != want.shape or not _np.allclose(got, want, rtol=1e-5, atol=1e-6)):
            options = list(extra(case, want)) if extra else []
            x = case["x"]
            if "stride" not in case:
                options.append(("stride=None must mean stride = kernel_size (non-overlapping windows): your windows "
                                "step by 1", reference(x, k, stride=1)[0]))
            elif s != (1, 1):
                options.append((f"the stride {s} is not used: window (i, j) starts at (i*S_h, j*S_w)", reference(x, k, stride=1)[0]))
                options.append((f"the windows step by 1, not by the stride {s}: window (i, j) starts at (i*S_h, j*S_w); "
                                "your output size is right", reference(x, k, stride=1)[0][:, :, :h_out, :w_out]))
            if k != k[::-1] or s != s[::-1]:
                try:
                    options.append(("the height and width values are swapped: a pair (h, w) gives the value for H (axis 2) first",
                                    reference(x, k[::-1], stride=s[::-1])[0]))
                except ValueError:
                    pass
            cause = next((c for c, alt in options if alt.shape == got.shape and _np.allclose(got, alt, rtol=1e-5, atol=1e-6)), None)
        size = (f"for this case H_out = ({case['x'].shape[2]} - {k[0]}) // {s[0]} + 1 = {h_out} and "
                f"W_out = ({case['x'].shape[3]} - {k[1]}) // {s[1]} + 1 = {w_out}, with stride = kernel_size when stride is None")
        assert_array_close(got, want, name=f"out ({what})", exact_dtype=True, hints={
            "shape": cause or size, "dtype": "out has the dtype of x: np.empty(shape, dtype=x.dtype)",
            "values": cause or values_hint})


def _pool_defaults(seed, dtype=_np.float64):
    '''Cases that leave stride at its default (None) or give ints, and a float32 case, with their dout.'''
    rng = _np.random.default_rng(seed)
    for label, shape, kw in [("default stride (None): stride = kernel_size", (2, 2, 6, 7), dict(kernel_size=(2, 3))),
                             ("default stride (None), int kernel_size", (1, 3, 7, 5), dict(kernel_size=2)),
                             ("int kernel_size and stride", (2, 1, 7, 8), dict(kernel_size=3, stride=2))]:
        x = rng.standard_normal(shape).astype(dtype)
        out = _ref_max_pool2d_forward(x, **kw)[0]
        yield Case(label, dout=rng.standard_normal(out.shape).astype(dtype), x=x, **kw)


# overlapping windows, ties, stride not dividing, non-square windows, batch of 1, the default stride, random cases
_pool_check(max_pool2d_forward, _ref_max_pool2d_forward,
            list(cases.pool_cases(seed=secret_seed(31), n=7)) + list(_pool_defaults(secret_seed(35)))
            + [Case("float32 " + c.label, **c) for c in cases.pool_cases(seed=secret_seed(36), n=1, dtype=_np.float32)],
            "window (i, j) starts at (i*SH, j*SW) and has KH rows and KW columns; out is its maximum")
### END HIDDEN TESTS

# %% [markdown]
# ### C2. Max pooling backward (8 points)
#
# Only the maximum of a window receives that window's gradient. When a window holds **several equal
# maxima** (ties), the gradient goes to the **first** one in row-major order (this is what PyTorch
# does; it keeps the gradient's total equal to `dout`'s). With overlapping windows one input pixel can
# be the maximum of several windows: **accumulate** (`+=`). `dx` has the shape and dtype of `x`.

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
self_check(dx, [[[[0, 2, 0], [0, 0, 0], [1, 1, 0]]]], "max_pool2d_backward after max_pool2d_forward(x 3x3, 2, stride=1) "
           "[overlapping windows, ties]", hint="+= at the FIRST maximum of each window (np.argmax is row-major)",
           dtype=np.float64)
g = np.arange(16, dtype=float).reshape(1, 1, 4, 4)
out, cache = max_pool2d_forward(g, 2)
self_check(max_pool2d_backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), cache),
           [[[[0, 0, 0, 0], [0, 1, 0, 2], [0, 0, 0, 0], [0, 3, 0, 4]]]],
           "max_pool2d_backward(dout [[1, 2], [3, 4]]) after max_pool2d_forward(arange 4x4, 2) [default stride=None]",
           hint="stride=None means stride = kernel_size; window (i, j)'s maximum is at (2i+1, 2j+1) and receives dout[i, j]")
out, cache = max_pool2d_forward(g, (1, 2), stride=(2, 1))
self_check(max_pool2d_backward(np.ones_like(out), cache),
           [[[[0, 1, 1, 1], [0, 0, 0, 0], [0, 1, 1, 1], [0, 0, 0, 0]]]],
           "max_pool2d_backward(ones) after max_pool2d_forward(arange 4x4, (1, 2), stride=(2, 1)) [pairs]",
           hint="1x2 windows on rows 0 and 2: the right pixel of each window is its maximum")
print("C2 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_max_pool_backward", "locked": true, "points": 8, "schema_version": 3, "solution": false}
# C2 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from cnncourse.grading import cases, check_backward, secret_seed
from cnncourse.layers import max_pool2d_forward as _ref_max_pool2d_forward, max_pool2d_backward as _ref_max_pool2d_backward

assert "_pool_defaults" in globals(), "the C1 test cell defines _pool_defaults: run it first"
# overlapping windows, ties, stride not dividing, non-square windows, batch of 1, the default stride, random cases
check_backward(max_pool2d_forward, max_pool2d_backward, _ref_max_pool2d_forward, _ref_max_pool2d_backward,
               list(cases.pool_cases(seed=secret_seed(32), n=7)) + list(_pool_defaults(secret_seed(37))),
               name="dx", forbidden=("a1_conv",), exact_dtype=True,
               hints={"shape": "dx has the shape of x",
                      "dtype": "dx has the dtype of x: np.zeros_like(x)",
                      "values": "only the FIRST maximum of a window (row-major) receives its gradient, and overlapping windows ADD (+=) into dx"})
### END HIDDEN TESTS

# %% [markdown]
# ### C3. Average pooling forward (7 points)
#
# Same windows as max pooling (same `stride=None` default), but each output is the **mean** of its
# window. `out` has the dtype of `x`.

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
# Self-check: the lecture's mean pooling of the 5x5 example (3x3, stride 1), then the default stride,
# pairs, a stride that does not divide, several images/channels, float32.
x = np.array([[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]], dtype=float)[None, None]
out, _ = avg_pool2d_forward(x, 3, stride=1)
print(out[0, 0].round(1))
self_check(out.round(1) if isinstance(out, np.ndarray) else out, [[[[1.7, 1.7, 1.7], [1.0, 1.2, 1.8], [1.1, 0.8, 1.3]]]],
           "avg_pool2d_forward(x 5x5, 3, stride=1) [overlapping windows], rounded to 1 decimal",
           hint="the MEAN of each 3x3 window: its sum divided by 9", dtype=np.float64)
g = np.arange(16, dtype=float).reshape(1, 1, 4, 4)
self_check(avg_pool2d_forward(g, 2)[0], [[[[2.5, 4.5], [10.5, 12.5]]]], "avg_pool2d_forward(arange 4x4, 2) [default stride=None]",
           hint="stride=None means stride = kernel_size: four non-overlapping 2x2 windows, (0+1+4+5)/4 = 2.5 ...")
self_check(avg_pool2d_forward(g, (1, 2), stride=(2, 1))[0], [[[[0.5, 1.5, 2.5], [8.5, 9.5, 10.5]]]],
           "avg_pool2d_forward(arange 4x4, (1, 2), stride=(2, 1)) [kernel and stride as pairs]",
           hint="windows of 1 row x 2 columns, starting every 2nd row and every column: (h, w) pairs give H first")
self_check(avg_pool2d_forward(np.arange(25.0).reshape(1, 1, 5, 5), 2)[0], [[[[3, 5], [13, 15]]]],
           "avg_pool2d_forward(arange 5x5, 2) [stride does not divide: round down]",
           hint="H_out = (5 - 2) // 2 + 1 = 2: the last row and column are never in a window")
self_check(avg_pool2d_forward(np.concatenate([g, 2 * g], axis=1)[[0, 0]] * np.array([1, -1])[:, None, None, None], 2)[0],
           np.array([[[[2.5, 4.5], [10.5, 12.5]], [[5, 9], [21, 25]]]]) * np.array([1, -1])[:, None, None, None],
           "avg_pool2d_forward(x (2, 2, 4, 4), 2) [several images and channels]",
           hint="pool every image and every channel separately: out has shape (N, C, H_out, W_out)")
self_check(avg_pool2d_forward(g.astype(np.float32), 2)[0], np.array([[[[2.5, 4.5], [10.5, 12.5]]]], dtype=np.float32),
           "avg_pool2d_forward(x float32, 2) [dtype]", dtype=np.float32)
print("C3 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_avg_pool_forward", "locked": true, "points": 7, "schema_version": 3, "solution": false}
# C3 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from cnncourse.grading import cases, secret_seed
from cnncourse.grading.cases import Case
from cnncourse.layers import avg_pool2d_forward as _ref_avg_pool2d_forward


def _not_divided(case, want):
    k = case["kernel_size"]
    kh, kw = (int(k), int(k)) if _np.isscalar(k) else (int(k[0]), int(k[1]))
    yield (f"each output is the MEAN of its window: yours are KH*KW = {kh * kw} times too large (the window sum, "
           "not divided by KH*KW)", want * (kh * kw))


assert "_pool_check" in globals() and "_pool_defaults" in globals(), "the C1 test cell defines the pooling checks: run it first"
# overlapping windows, ties, stride not dividing, non-square windows, batch of 1, the default stride, random cases
_pool_check(avg_pool2d_forward, _ref_avg_pool2d_forward,
            list(cases.pool_cases(seed=secret_seed(33), n=7)) + list(_pool_defaults(secret_seed(38)))
            + [Case("float32 " + c.label, **c) for c in cases.pool_cases(seed=secret_seed(39), n=1, dtype=_np.float32)],
            "each output is the MEAN of its window: divide the window sum by KH*KW", extra=_not_divided)
### END HIDDEN TESTS

# %% [markdown]
# ### C4. Average pooling backward (8 points)
#
# Every input pixel of a window receives `dout / (KH*KW)` from that window; overlapping windows add.
# `dx` has the shape of `x` and the dtype of `dout`.

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
self_check(dx, [[[[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]]]],
           "avg_pool2d_backward(ones) after avg_pool2d_forward(x 3x3, 2, stride=1) [overlapping windows]",
           hint="each window sends dout/(KH*KW) = 1/4 to each of its pixels, and overlapping windows add (+=)",
           dtype=np.float64)
out, cache = avg_pool2d_forward(np.zeros((1, 1, 4, 4)), 2)
self_check(avg_pool2d_backward(np.array([[[[4.0, 8.0], [12.0, 16.0]]]]), cache),
           [[[[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]]],
           "avg_pool2d_backward(dout [[4, 8], [12, 16]]) after avg_pool2d_forward(x 4x4, 2) [default stride=None]",
           hint="stride=None means stride = kernel_size: each 2x2 block receives its dout / 4")
out, cache = avg_pool2d_forward(np.zeros((1, 1, 4, 4)), (1, 2), stride=(2, 1))
self_check(avg_pool2d_backward(np.ones_like(out), cache),
           [[[[0.5, 1, 1, 0.5], [0, 0, 0, 0], [0.5, 1, 1, 0.5], [0, 0, 0, 0]]]],
           "avg_pool2d_backward(ones) after avg_pool2d_forward(x 4x4, (1, 2), stride=(2, 1)) [pairs]",
           hint="1x2 windows on rows 0 and 2, one per column start: inner pixels are in two windows (2 x 1/2)")
print("C4 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_avg_pool_backward", "locked": true, "points": 8, "schema_version": 3, "solution": false}
# C4 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
from cnncourse.grading import cases, check_backward, secret_seed
from cnncourse.layers import avg_pool2d_forward as _ref_avg_pool2d_forward, avg_pool2d_backward as _ref_avg_pool2d_backward

assert "_pool_defaults" in globals(), "the C1 test cell defines _pool_defaults: run it first"
# overlapping windows, ties, stride not dividing, non-square windows, batch of 1, the default stride, random cases
check_backward(avg_pool2d_forward, avg_pool2d_backward, _ref_avg_pool2d_forward, _ref_avg_pool2d_backward,
               list(cases.pool_cases(seed=secret_seed(34), n=7)) + list(_pool_defaults(secret_seed(40))),
               name="dx", forbidden=("a1_conv",), exact_dtype=True,
               hints={"shape": "dx has the shape of x",
                      "dtype": "dx has the dtype of dout: np.zeros(x_shape, dtype=dout.dtype)",
                      "values": "each window pixel receives dout/(KH*KW), and overlapping windows ADD (+=) into dx"})
### END HIDDEN TESTS

# %% [markdown]
# ## Part D — Gradient check
#
# ### D1. Numerical gradient (5 points)
#
# For a function `f` that returns an array and an upstream gradient `df` (same shape as `f(x)`), the
# gradient of `sum(f(x) * df)` with respect to `x` is approximated by central differences with the
# step `h` (default `1e-5`):
#
# $$\frac{\partial}{\partial x_i} \approx \frac{\sum (f(x + h e_i) - f(x - h e_i))\, df}{2h} .$$
#
# Perturb one entry at a time **in place** and restore it afterwards (so `x` is unchanged at the end).
# The result has the shape and dtype of `x`.

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
    '''Largest relative error between two arrays (small is good: < 1e-6 for a correct backward).'''
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))

# Self-check on functions whose gradient we know: f(x) = x**2 -> 2 x df, on a 3-D x with a random df;
# f(x) = x**3 with the step h = 0.1 -> exactly (3 x**2 + h**2) df (central differences of a cubic)
x = np.random.default_rng(0).standard_normal((2, 3, 4))
df = np.random.default_rng(1).standard_normal((2, 3, 4))
x_before = x.copy()
grad = numerical_gradient(lambda z: z ** 2, x, df)
print(rel_error(grad, 2 * x * df))
self_check(grad, 2 * x * df, "numerical_gradient(lambda z: z ** 2, x (2, 3, 4), df) [every entry of a 3-D x, df]",
           hint="for each index i: (sum(f(x + h e_i) * df) - sum(f(x - h e_i) * df)) / 2h", dtype=np.float64)
assert np.array_equal(x, x_before), "numerical_gradient changed x: restore x[i] to its old value after each entry"
self_check(numerical_gradient(lambda z: z ** 3, x, df, h=0.1), (3 * x ** 2 + 0.01) * df,
           "numerical_gradient(lambda z: z ** 3, x, df, h=0.1) [the step h]",
           hint="use the step h you are given (here 0.1: the result is (3x**2 + h**2) df, not 3x**2 df)")
print("D1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_numerical_gradient", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# D1 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
from cnncourse.grading.remote import StudentKernelDied as _KernelDied
import numpy as _np
from cnncourse.grading import assert_array_close, call_student, secret_seed, student_function
from cnncourse.gradcheck import eval_numerical_gradient_array as _ref_num

_rng = _np.random.default_rng(secret_seed(41))
_a = _rng.standard_normal((4, 3))
for _src, _xs, _h in [("lambda z: np.sin(z) * 3", (2, 5), None), ("lambda z: z @ a", (2, 4), None),
                      ("lambda z: np.tanh(z).sum(axis=0)", (3, 2, 2), None), ("lambda z: z ** 3", (3, 2), 0.1)]:
    _f = student_function(_src, a=_a)  # the function numerical_gradient differentiates
    _x = _rng.standard_normal(_xs)
    _df = _rng.standard_normal(_f(_x).shape)
    _step = {} if _h is None else {"h": _h}
    _want = _ref_num(_f, _x.copy(), _df, **_step)
    _call = f"numerical_gradient({_src}, x {_xs}, df{', h=%g' % _h if _h else ''})"
    try:
        _got = call_student(numerical_gradient, _f, _x, _df, **_step, forbidden=("a1_conv",), timeout=10)
    except _KernelDied:  # not the student's answer: the grader reports the test as not graded
        raise
    except AssertionError as _e:  # the grader's checks (input changed, result aliased) or the student's assert
        raise AssertionError(f"{_e} (on {_call})") from _e
    except Exception as _e:
        raise AssertionError(f"{_call} raised {getattr(_e, 'type_name', type(_e).__name__)}: "
                             f"{getattr(_e, 'message', str(_e))}") from _e
    assert_array_close(_got, _want, name=_call, rtol=1e-5, atol=1e-7, exact_dtype=True, hints={
        "values": "use the step h you are given: with h=0.1 the central difference of z**3 is (3x**2 + h**2) df"
                  if _h else "use (f(x+h) - f(x-h)) * df summed, divided by 2h, and restore x[i] after each entry",
        "dtype": "the gradient has the dtype of x: np.zeros_like(x)"})
### END HIDDEN TESTS

# %% [markdown]
# ### D2. Check your own layers (5 points)
#
# Use `numerical_gradient` to check `conv2d_backward` (all three gradients, with stride 2, padding 1
# and dilation 2), `max_pool2d_backward` (3x3 windows, stride 2) and `avg_pool2d_backward` (2x2 windows,
# stride 1) on small random inputs. Store the relative errors (`rel_error` above) in the dictionary
# `grad_errors` with keys `"conv_dx"`, `"conv_dw"`, `"conv_db"`, `"max_pool_dx"`, `"avg_pool_dx"`. The test
# requires every error to be below `1e-6` (a correct backward pass gives about `1e-8` or less). For max
# pooling use an input without ties (e.g. `rng.permutation`), since the max is not differentiable at a tie.

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
    print(f"{name:12s} relative error {err:.2e}" + ("" if err < 1e-6 else "   <- above 1e-6: see the hint below"))
bad = [name for name, err in grad_errors.items() if not err < 1e-6]
if bad:
    print("A large error means your backward pass, your forward pass (a numerical gradient of a wrong forward "
          "cannot match a right backward) or your check (numerical_gradient, or a lambda that does not call the "
          "forward pass with the same arguments) is wrong: the self-checks of B, C and D1 tell which.")

# %% nbgrader={"grade": true, "grade_id": "test_grad_check", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# D2 tests: every gradient you checked agrees with your numerical gradient (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
from cnncourse.grading.remote import StudentKernelDied as _KernelDied
import numpy as _np
from cnncourse.grading import call_student, secret_seed
from cnncourse.gradcheck import eval_numerical_gradient_array as _ref_num, rel_error as _rel
from cnncourse.layers import (avg_pool2d_backward as _ref_avg_b, avg_pool2d_forward as _ref_avg_f, conv2d_backward as _ref_conv_b,
                              conv2d_forward as _ref_conv_f, max_pool2d_backward as _ref_max_b, max_pool2d_forward as _ref_max_f)

_LIMIT = 1e-6  # the threshold the text states
_need = ["conv_dx", "conv_dw", "conv_db", "max_pool_dx", "avg_pool_dx"]
assert isinstance(grad_errors, dict) and set(_need) <= set(grad_errors), (
    f"grad_errors must be a dict with keys {_need}, got {grad_errors!r}")
_rng = _np.random.default_rng(secret_seed(42))
_conv = (_rng.standard_normal((1, 2, 5, 4)), _rng.standard_normal((2, 2, 2, 2)), _rng.standard_normal(2))
_maxx = (_rng.permutation(2 * 5 * 5).reshape(1, 2, 5, 5).astype(float),)   # no ties
_avgx = (_rng.standard_normal((1, 2, 4, 4)),)
# key: (layer, forward, backward, reference forward, reference backward, inputs, keywords, input index, gradient index,
#       the exercises that test the forward and the backward pass)
_layers = {
    "conv_dx": ("conv", conv2d_forward, conv2d_backward, _ref_conv_f, _ref_conv_b, _conv, dict(stride=2, padding=1, dilation=2), 0, 0, "B1", "B2 (dx)"),
    "conv_dw": ("conv", conv2d_forward, conv2d_backward, _ref_conv_f, _ref_conv_b, _conv, dict(stride=2, padding=1, dilation=2), 1, 1, "B1", "B2 (dw)"),
    "conv_db": ("conv", conv2d_forward, conv2d_backward, _ref_conv_f, _ref_conv_b, _conv, dict(stride=2, padding=1, dilation=2), 2, 2, "B1", "B2 (db)"),
    "max_pool_dx": ("max pooling", max_pool2d_forward, max_pool2d_backward, _ref_max_f, _ref_max_b, _maxx, dict(kernel_size=3, stride=2), 0, None, "C1", "C2"),
    "avg_pool_dx": ("average pooling", avg_pool2d_forward, avg_pool2d_backward, _ref_avg_f, _ref_avg_b, _avgx, dict(kernel_size=2, stride=1), 0, None, "C3", "C4"),
}


def _numerical(fwd, inputs, kw, arg, dout, h=1e-5):
    '''Central differences of sum(fwd(...)[0] * dout) with respect to inputs[arg], through YOUR forward pass.
    For x (one image) all 2 * x.size perturbed copies go in one batch: one call instead of 2 * x.size.'''
    if arg != 0:
        def f(z):
            args = list(inputs)
            args[arg] = z
            return fwd(*args, **kw)[0]
        return _ref_num(f, inputs[arg].copy(), dout, h=h)
    x = inputs[0]
    m = x.size
    batch = _np.repeat(x, 2 * m, axis=0)           # (2m, C, H, W): copy 2i gets +h at entry i, copy 2i+1 gets -h
    flat = batch.reshape(2 * m, m)
    flat[2 * _np.arange(m), _np.arange(m)] += h
    flat[2 * _np.arange(m) + 1, _np.arange(m)] -= h
    out = _np.asarray(fwd(batch, *inputs[1:], **kw)[0], dtype=float)
    return ((out[0::2] - out[1::2]).reshape(m, -1) @ dout.reshape(-1) / (2 * h)).reshape(x.shape)


def _diagnose(key):
    '''None when the layer passes the grader's own gradient check and the reported error is small; else what is wrong.'''
    _, fwd, bwd, ref_f, ref_b, inputs, kw, arg, grad, f_ex, b_ex = _layers[key]
    fname, bname = getattr(fwd, "__name__", "forward"), getattr(bwd, "__name__", "backward")
    gname = "d" + "xwb"[arg]
    shapes = ", ".join(f"{a.shape}" for a in inputs)
    case = f"inputs {shapes}, {', '.join(f'{k}={v}' for k, v in kw.items())}"
    reported = float(grad_errors[key])
    try:
        out, cache = call_student(fwd, *inputs, **kw, forbidden=("a1_conv",), timeout=10)
        dout = _np.random.default_rng(secret_seed(43)).standard_normal(_np.shape(out))
        g = call_student(bwd, dout, cache, forbidden=("a1_conv",), timeout=10)
        g = g if grad is None else g[grad]
        mismatch = _rel(g, _numerical(fwd, inputs, kw, arg, dout))
    except _KernelDied:  # not the student's answer: the grader reports the test as not graded
        raise
    except Exception as e:
        return (f"grad_errors[{key!r}] = {reported:.1e}: your {fname}/{bname} could not be checked on {case}: "
                f"{getattr(e, 'type_name', type(e).__name__)}: {getattr(e, 'message', str(e))}")
    if reported < _LIMIT and mismatch < _LIMIT:
        return None
    ref_out, ref_cache = ref_f(*inputs, **kw)
    ref_g = ref_b(dout, ref_cache) if _np.shape(out) == ref_out.shape else None
    ref_g = ref_g if grad is None or ref_g is None else ref_g[grad]
    fwd_ok = _np.shape(out) == ref_out.shape and _np.allclose(out, ref_out, rtol=1e-6, atol=1e-8)
    bwd_ok = ref_g is not None and _np.shape(g) == ref_g.shape and _np.allclose(g, ref_g, rtol=1e-6, atol=1e-8)
    if mismatch < _LIMIT:  # the layer is consistent: the student's check is what fails
        return (f"grad_errors[{key!r}] = {reported:.1e}, but your {bname}'s {gname} agrees with an independent numerical "
                f"gradient of your {fname} (rel. error {mismatch:.1e} on {case}): the backward pass is fine, so the problem "
                f"is in the check: your numerical_gradient (D1), or the function you give it (it must call {fname} with "
                f"the same arguments, as a function of {gname[1:]}) or the dout you use")
    if bwd_ok and not fwd_ok:
        return (f"grad_errors[{key!r}] = {reported:.1e}: your {bname}'s {gname} is right, but your {fname} is not "
                f"(see the test of {f_ex}); the numerical gradient of a wrong forward pass cannot agree with a right "
                "backward pass: fix the forward pass")
    if bwd_ok and fwd_ok:  # both right to about 1e-6, yet their gradients disagree: precision
        low = _np.asarray(out).dtype != inputs[0].dtype
        return (f"grad_errors[{key!r}] = {reported:.1e}: your {bname}'s {gname} is right and your {fname} is close to the "
                f"reference, but not exact enough for a numerical gradient (rel. error {mismatch:.1e} on {case}): "
                + (f"it returns {_np.asarray(out).dtype} for a {inputs[0].dtype} input (see the test of {f_ex}); "
                   "h = 1e-5 is below float32's precision" if low else "compute it in float64, without rounding"))
    if reported < _LIMIT:
        return (f"grad_errors[{key!r}] = {reported:.1e} says your {bname}'s {gname} agrees with the numerical gradient of "
                f"your {fname}, but on {case} they disagree (rel. error {mismatch:.1e}): "
                + (f"your {bname}'s {gname} is wrong (see the test of {b_ex}); " if not bwd_ok else "")
                + "check with the arguments the text asks for")
    return (f"grad_errors[{key!r}] = {reported:.1e}: your {bname}'s {gname} disagrees with the numerical gradient of your "
            f"{fname} (the grader finds rel. error {mismatch:.1e} on {case})"
            + (f" and with the reference: fix {bname} (see the test of {b_ex})" if not bwd_ok else ""))


_problems = [p for p in map(_diagnose, _need) if p]
assert not _problems, "\n".join(_problems)
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
# gradient magnitude `sqrt(gx**2 + gy**2)` as a float array. Then look at the result on a photo that
# ships with matplotlib (Grace Hopper, downsampled to 150 x 128 grey pixels; no download needed) and on
# a synthetic image.

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

# Self-check: a vertical step edge gives a response only next to the step (|G_x| = 4 there, and at the
# border where the ones meet the zero padding); the same step turned by 90 degrees needs G_y; the output
# keeps the image's (H, W), also when H != W.
step = np.zeros((5, 6)); step[:, 3:] = 1
for image, name in [(step, "vertical step between columns 2 and 3"), (step.T, "horizontal step between rows 2 and 3")]:
    e = sobel_edges(image)
    assert isinstance(e, np.ndarray) and e.shape == image.shape, (
        f"sobel_edges(image {image.shape}) returned {type(e).__name__} of shape {np.shape(e)}: expected the image's "
        "shape (pad by 1)")
    self_check(e[2] if image is step else e[:, 2], [0, 0, 4, 4, 0, 4],   # the last 4: the ones meet the zero padding
               f"sobel_edges({name})" + ("[2] (a row) [G_x]" if image is step else "[:, 2] (a column) [G_y]"),
               hint="pad by 1, stack G_x and G_x.T as two filters (F=2), then sqrt(gx**2 + gy**2): "
                    "a vertical edge needs G_x, a horizontal one G_y")
print("E1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_sobel_edges", "locked": true, "points": 10, "schema_version": 3, "solution": false}
# E1 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
from cnncourse.grading.remote import StudentKernelDied as _KernelDied
import numpy as _np
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.layers import conv2d_forward as _ref_conv

_rng = _np.random.default_rng(secret_seed(51))
_sx = _np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float)
for _shape in [(8, 8), (6, 11), (9, 5)]:
    _img = _rng.random(_shape)
    _o, _ = _ref_conv(_img[None, None], _np.stack([_sx, _sx.T])[:, None], _np.zeros(2), padding=1)
    _want = _np.sqrt(_o[0, 0] ** 2 + _o[0, 1] ** 2)
    try:
        _got = call_student(sobel_edges, _img, forbidden=("a1_conv",), timeout=10)
    except _KernelDied:  # not the student's answer: the grader reports the test as not graded
        raise
    except AssertionError as _e:  # the grader's checks (input changed, result aliased) or the student's assert
        raise AssertionError(f"{_e} (on an image of shape {_shape})") from _e
    except Exception as _e:
        raise AssertionError(f"`sobel_edges` raised {getattr(_e, 'type_name', type(_e).__name__)}: "
                             f"{getattr(_e, 'message', str(_e))} (on an image of shape {_shape})") from _e
    assert_array_close(_got, _want, name=f"sobel_edges (image {_shape})",
                       hints={"shape": "pad by 1 so the edge map has the image's shape (H, W)",
                              "values": "stack Sobel x and its transpose as two filters, then sqrt(gx**2 + gy**2)"})
### END HIDDEN TESTS

# %% [markdown]
# **Before you submit:** Kernel → Restart & Run All, and check that every self-check prints "passed".
