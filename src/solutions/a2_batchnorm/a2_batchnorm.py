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
# # Assignment 2 — Batch normalization, its relatives and dropout, by hand
#
# In this assignment you implement, in plain numpy, the training techniques of lecture 4: batch
# normalization (forward in training and evaluation mode, the running statistics PyTorch keeps, the
# backward pass twice: step by step through the computation graph and with the simplified formula),
# batch normalization for convolutional feature maps, layer and group normalization, and inverted
# dropout. Then you put batch norm into a small network, train it on the handwritten digits with and
# without batch norm at several learning rates, and explain what you see.
#
# **How you are graded.** Write your code where it says `# YOUR CODE HERE` (delete the
# `raise NotImplementedError()`). After each exercise there is a *self-check* cell you can run, then a
# locked *test* cell. The test cells contain hidden tests that run when your notebook is graded: they
# compare your functions with reference implementations (which behave exactly like
# `torch.nn.functional.batch_norm`, `layer_norm`, `group_norm` and `dropout`) on many random cases
# (other shapes, batch sizes, `eps` and `momentum` values than the self-checks), so a solution that
# only fits the visible examples will lose the points. While grading, the library shortcuts
# (`torch.nn.functional.batch_norm`, `torch.nn.BatchNorm1d`, `layer_norm`, `group_norm`, `dropout`,
# `scipy.stats.zscore`, `sklearn.preprocessing.StandardScaler`, ...) are disabled and PyTorch is not
# installed in the grading kernel. Your functions must not modify their inputs, except the running
# statistics, which batch norm updates **in place** (as PyTorch does). Keep the dtype of the input
# (a `float32` input gives a `float32` output). Before submitting, run **Kernel → Restart & Run All**.
#
# | Part | Exercise | Points |
# |---|---|---|
# | A. Batch normalization | A1 forward (10), A2 running statistics and evaluation (10), A3 backward `dx` (8), `dgamma`/`dbeta` (4), A4 simplified backward (8) | 40 |
# | B. Normalizing feature maps | B1 spatial batch norm forward (4), backward (4), B2 layer norm forward (5), backward (5), B3 group norm forward (5), backward (5) | 28 |
# | C. Dropout | C1 forward (7), C2 backward (5) | 12 |
# | D. Batch norm in a network | D1 loss and gradients (8), D2 training (7), D3 written question (5, graded by hand) | 20 |
# | | **Total** | **100** |
#
# Conventions (as in the lectures and in PyTorch): fully connected activations are `(N, D)` (a batch
# of `N` vectors with `D` features); feature maps are `NCHW`. The variance that normalizes is the
# *biased* one (divide by `m`, `np.var`'s default).

# %%
import numpy as np
import matplotlib.pyplot as plt

np.set_printoptions(precision=4, suppress=True)


def rel_error(a, b):
    '''Largest relative error between two arrays (small is good: < 1e-7 for a correct backward).'''
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def numeric_grad(f, x, df, h=1e-6):
    '''Central-difference gradient of sum(f(x) * df) with respect to x (you wrote this in a1).'''
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        plus = np.array(f(x), copy=True)
        x[i] = old - h
        minus = np.array(f(x), copy=True)
        x[i] = old
        grad[i] = np.sum((plus - minus) * df) / (2 * h)
    return grad


# %% [markdown]
# ## Part A — Batch normalization
#
# ### A1. Forward pass in training mode (10 points)
#
# For a batch `x` of shape `(N, D)`, training-mode batch norm normalizes every feature (column) with
# the statistics of the batch, then scales and shifts it with learned `gamma`, `beta` (shape `(D,)`):
#
# $$\mu_B = \frac1m \sum_i x_i, \qquad \sigma_B^2 = \frac1m \sum_i (x_i - \mu_B)^2, \qquad
# \hat x_i = \frac{x_i - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}}, \qquad y_i = \gamma \hat x_i + \beta ,$$
#
# with `m = N` values per feature. `eps` is added to the variance (so a feature that is constant in
# the batch gives `0`, not a division by zero). With a single value per feature the variance is not
# defined: in training mode, raise a `ValueError` when `m < 2` (PyTorch does the same).
#
# `batchnorm_forward` has PyTorch's signature (`torch.nn.functional.batch_norm`) and also serves the
# next exercise: for now fill in the `training=True` branch and leave the running statistics for A2
# (you may already write them). Return `(out, cache)`, where `cache` holds what your backward pass
# needs. `out` has the shape and dtype of `x`.

# %% nbgrader={"grade": false, "grade_id": "batchnorm_forward_impl", "locked": false, "schema_version": 3, "solution": true}
def batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5, *,
                      num_batches_tracked=None):
    '''x (N, D), gamma/beta/running_mean/running_var (D,) -> out (N, D), cache.

    training=True: normalize with the batch statistics and update running_mean/running_var IN PLACE.
    training=False: normalize with running_mean/running_var (and leave them unchanged).
    '''
    ### BEGIN SOLUTION
    if training:
        m = x.shape[0]
        if m < 2:
            raise ValueError(f"batch norm in training needs more than 1 value per feature, got x of shape {x.shape}")
        mean = x.mean(axis=0)                          # (D,)
        xc = x - mean                                  # (N, D)
        var = (xc * xc).mean(axis=0)                   # (D,) biased
        inv_std = 1.0 / np.sqrt(var + eps)             # (D,)
        xhat = xc * inv_std
        if num_batches_tracked is not None:
            num_batches_tracked += 1                   # in place: the caller's counter
        if momentum is None:
            if num_batches_tracked is None:
                raise ValueError("momentum=None (cumulative average) needs num_batches_tracked")
            momentum = 1.0 / num_batches_tracked.item()
        running_mean *= 1 - momentum
        running_mean += momentum * mean
        running_var *= 1 - momentum
        running_var += momentum * var * (m / (m - 1))  # unbiased estimate of the variance
    else:
        xc = x - running_mean
        inv_std = 1.0 / np.sqrt(running_var + eps)
        xhat = xc * inv_std
    out = xhat * gamma + beta
    cache = (xc, xhat, inv_std, gamma, training)
    return out, cache
    ### END SOLUTION


# %%
# Self-check (not graded): every feature of the output has mean beta and standard deviation gamma.
rng = np.random.default_rng(0)
x = 5 + 3 * rng.standard_normal((200, 4))
gamma, beta = np.array([1.0, 2.0, 0.5, 1.5]), np.array([0.0, -1.0, 3.0, 0.5])
out, _ = batchnorm_forward(x, gamma, beta, np.zeros(4), np.ones(4), True)
print("means", out.mean(axis=0), "stds", out.std(axis=0))
assert np.allclose(out.mean(axis=0), beta) and np.allclose(out.std(axis=0), gamma, rtol=1e-4)
# a constant feature must give beta, not NaN: eps is inside the square root
out, _ = batchnorm_forward(np.ones((3, 2)), np.ones(2), np.full(2, 7.0), np.zeros(2), np.ones(2), True)
assert np.allclose(out, 7.0), "a constant feature should normalize to 0 (then + beta): add eps to the variance"
# the input is not modified and the dtype is kept
x32 = rng.standard_normal((5, 3)).astype(np.float32)
x_before = x32.copy()
out, _ = batchnorm_forward(x32, np.ones(3, np.float32), np.zeros(3, np.float32), np.zeros(3, np.float32),
                           np.ones(3, np.float32), True)
assert out.dtype == np.float32 and np.array_equal(x32, x_before)
try:
    batchnorm_forward(np.ones((1, 3)), np.ones(3), np.zeros(3), np.zeros(3), np.ones(3), True)
except ValueError as e:
    print("raised as expected:", e)
else:
    raise AssertionError("a batch of 1 in training mode must raise a ValueError")
print("A1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_batchnorm_forward", "locked": true, "points": 10, "schema_version": 3, "solution": false}
# A1 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from cnncourse.grading import assert_array_close, call_student, describe_case, secret_seed
from cnncourse.grading.cases import Case as _Case
from cnncourse.layers import batchnorm_forward as _ref_bn

_rng = _np.random.default_rng(secret_seed(21))
_cases = []
# label, (N, D), offset, scale, eps, dtype
for _label, (_n, _d), _off, _sc, _eps, _dt in [
        ("batch of 2", (2, 5), 0.0, 1.0, 1e-5, _np.float64),
        ("large offset and scale, N > D", (7, 3), 50.0, 10.0, 1e-5, _np.float64),
        ("tiny variance (below eps)", (6, 4), 2.0, 1e-4, 1e-5, _np.float64),
        ("eps = 0.01", (4, 6), -1.0, 0.2, 1e-2, _np.float64),
        ("float32", (6, 4), 1.0, 2.0, 1e-5, _np.float32),
        ("random", (int(_rng.integers(2, 9)), int(_rng.integers(1, 7))), float(_rng.normal()), float(_rng.uniform(0.5, 3)), 1e-5, _np.float64),
        ("random", (int(_rng.integers(2, 9)), int(_rng.integers(1, 7))), float(_rng.normal()), float(_rng.uniform(0.5, 3)), 1e-5, _np.float64)]:
    _x = (_off + _sc * _rng.standard_normal((_n, _d))).astype(_dt)
    _cases.append(_Case(_label, x=_x, gamma=_rng.uniform(0.5, 2, _d).astype(_dt), beta=_rng.standard_normal(_d).astype(_dt),
                        running_mean=_rng.standard_normal(_d).astype(_dt), running_var=_rng.uniform(0.5, 2, _d).astype(_dt),
                        training=True, momentum=0.1, eps=_eps))
_x = _rng.standard_normal((5, 3))
_x[:, 1] = 4.0                                            # a feature that is constant in the batch
_cases.append(_Case("a constant feature", x=_x, gamma=_np.ones(3), beta=_np.array([0.5, -2.0, 1.0]),
                    running_mean=_np.zeros(3), running_var=_np.ones(3), training=True, momentum=0.1, eps=1e-5))
for _case in _cases:
    _want, _ = _ref_bn(**{k: (v.copy() if isinstance(v, _np.ndarray) else v) for k, v in _case.items()})
    _got = call_student(batchnorm_forward, **{k: (v.copy() if isinstance(v, _np.ndarray) else v) for k, v in _case.items()},
                        forbidden=("a2_batchnorm",), timeout=10, allow_inplace=("running_mean", "running_var"))
    assert isinstance(_got, tuple) and len(_got) == 2, f"batchnorm_forward must return (out, cache), got {type(_got).__name__}"
    assert_array_close(_got[0], _want, name=f"out ({describe_case(_case)})", exact_dtype=True,
                       hints={"values": "normalize each feature (column, axis 0) with the batch mean and the BIASED variance "
                                        "(divide by m), sqrt(var + eps), then gamma * xhat + beta",
                              "finite": "a feature that is constant in the batch has variance 0: eps goes INSIDE the square root",
                              "dtype": "keep the input's dtype (do not create float64 arrays from a float32 input)"})
try:
    call_student(batchnorm_forward, _np.ones((1, 3)), _np.ones(3), _np.zeros(3), _np.zeros(3), _np.ones(3), True,
                 forbidden=("a2_batchnorm",), timeout=10, allow_inplace=("running_mean", "running_var"))
except ValueError:
    pass
else:
    raise AssertionError("batchnorm_forward(x of shape (1, 3), training=True) should raise ValueError: "
                         "with one value per feature the (unbiased) variance is not defined")
### END HIDDEN TESTS

# %% [markdown]
# ### A2. Running statistics and evaluation mode (10 points)
#
# At test time a network must not depend on the other images of the batch, so batch norm normalizes
# with *population* statistics, estimated during training by running averages. PyTorch's convention
# (follow it exactly): after computing the batch statistics, every training call updates the
# caller's arrays **in place**
#
# $$\text{running\_mean} \leftarrow (1 - \text{momentum})\,\text{running\_mean} + \text{momentum}\cdot\mu_B,
# \qquad \text{running\_var} \leftarrow (1 - \text{momentum})\,\text{running\_var} + \text{momentum}\cdot\frac{m}{m-1}\sigma_B^2 .$$
#
# Note the two details: `momentum` weighs the **new** batch statistic (default `0.1`), and the running
# variance uses the **unbiased** variance `m/(m-1) * sigma_B^2` (lecture 4: `Var[x] = m/(m-1) E_B[sigma_B^2]`),
# while the normalization itself uses the biased one. "In place" means `running_mean *= ...` /
# `running_mean += ...` (or `running_mean[:] = ...`): writing `running_mean = ...` only rebinds your
# local name and the caller never sees the update.
#
# `momentum=None` means a *cumulative* average (`torch.nn.BatchNorm1d(momentum=None)`): the running
# statistics are the plain mean over all training batches so far. That needs the number of batches,
# which PyTorch keeps in its `num_batches_tracked` buffer; here it is an integer array with one
# element, `np.zeros(1, np.int64)`, passed as `num_batches_tracked`: when it is given, every training
# call adds 1 to it in place (`num_batches_tracked += 1`), and with `momentum=None` the update uses
# `momentum = 1 / n` with `n = num_batches_tracked.item()` (after adding 1). `momentum=None` without
# a counter is a `ValueError`.
#
# In evaluation mode (`training=False`) normalize with `running_mean` and `running_var` instead of the
# batch statistics (any batch size works, even 1), and do **not** change them. Complete
# `batchnorm_forward` above; the tests are below.

# %%
# Self-check: two training steps by hand, then the evaluation mode.
rm, rv = np.zeros(2), np.ones(2)
b1 = np.array([[1.0, 2.0], [3.0, 6.0]])                  # mean (2, 4), unbiased var (2, 8)
b2 = np.array([[0.0, 0.0], [2.0, 0.0], [4.0, 3.0]])     # mean (2, 1), unbiased var (4, 3)
batchnorm_forward(b1, np.ones(2), np.zeros(2), rm, rv, True, momentum=0.5)
assert np.allclose(rm, [1.0, 2.0]) and np.allclose(rv, [1.5, 4.5]), (rm, rv)
batchnorm_forward(b2, np.ones(2), np.zeros(2), rm, rv, True, momentum=0.5)
print("running mean", rm, "running var", rv)
assert np.allclose(rm, [1.5, 1.5]), "running_mean = (1 - momentum) * running_mean + momentum * batch mean, in place"
assert np.allclose(rv, [2.75, 3.75]), "running_var uses the UNBIASED batch variance (times m / (m - 1))"
# the cumulative average (momentum=None) is the plain mean of the batch statistics
rm, rv, count = np.zeros(2), np.ones(2), np.zeros(1, np.int64)
for b in (b1, b2):
    batchnorm_forward(b, np.ones(2), np.zeros(2), rm, rv, True, momentum=None, num_batches_tracked=count)
assert count.item() == 2 and np.allclose(rm, [2.0, 2.5]) and np.allclose(rv, [3.0, 5.5]), (count, rm, rv)
# evaluation: the running statistics normalize and stay unchanged
out, _ = batchnorm_forward(np.array([[2.0, 2.5]]), np.ones(2), np.zeros(2), rm, rv, False)
assert np.allclose(out, 0, atol=1e-12) and np.allclose(rm, [2.0, 2.5]) and count.item() == 2
print("A2 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_batchnorm_running", "locked": true, "points": 10, "schema_version": 3, "solution": false}
# A2 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.layers import batchnorm_forward as _ref_bn

_rng = _np.random.default_rng(secret_seed(22))
_hint = {"values": "running = (1 - momentum) * running + momentum * batch_statistic (momentum weighs the NEW "
                   "statistic, as in torch), and running_var is updated with the UNBIASED batch variance "
                   "var * m / (m - 1); with momentum=None, momentum = 1 / num_batches_tracked after adding 1 to it"}
for _momentum in ("default", 0.3, 1.0, None):
    _d = int(_rng.integers(2, 6))
    _sm, _sv = _rng.standard_normal(_d), _rng.uniform(0.5, 2, _d)          # the student's running statistics
    _rm, _rv = _sm.copy(), _sv.copy()                                       # the reference's
    _scount, _rcount = _np.zeros(1, _np.int64), _np.zeros((), _np.int64)   # the reference's counter is 0-d, like torch's
    _g, _b = _rng.uniform(0.5, 2, _d), _rng.standard_normal(_d)
    _what = "the default momentum (0.1)" if _momentum == "default" else f"momentum={_momentum}"
    for _step, _n in enumerate([2, int(_rng.integers(3, 7)), 5, int(_rng.integers(2, 9))]):
        _x = _rng.normal() + _rng.uniform(0.5, 3) * _rng.standard_normal((_n, _d))
        _kw = {} if _momentum == "default" else {"momentum": _momentum}
        if _momentum is None:
            _kw["num_batches_tracked"] = _scount
        _before = _sm.copy()
        call_student(batchnorm_forward, x=_x, gamma=_g, beta=_b, running_mean=_sm, running_var=_sv, training=True, **_kw,
                     forbidden=("a2_batchnorm",), timeout=10,
                     allow_inplace=("running_mean", "running_var", "num_batches_tracked"))
        _ref_bn(_x, _g, _b, _rm, _rv, True, **dict(_kw, num_batches_tracked=_rcount) if _momentum is None else _kw)
        _where = f"after {_step + 1} training call(s) with {_what} (batches of sizes 2, ..., last N={_n}, D={_d})"
        if _np.array_equal(_sm, _before):
            raise AssertionError(f"running_mean did not change {_where}: update the caller's array IN PLACE "
                                 "(running_mean *= 1 - momentum; running_mean += momentum * mean), "
                                 "`running_mean = ...` only rebinds a local name")
        assert_array_close(_sm, _rm, name=f"running_mean {_where}", hints=_hint)
        assert_array_close(_sv, _rv, name=f"running_var {_where}", hints=_hint)
        if _momentum is None:
            assert _scount.item() == _rcount.item(), (f"num_batches_tracked is {_scount.item()} {_where}, expected {_rcount.item()}: "
                                                  "add 1 to it in place on every training call")
    # evaluation mode: the running statistics normalize (any batch size, even 1) and stay unchanged
    for _n in (1, 4):
        _x = _rng.normal() + _rng.standard_normal((_n, _d))
        _want, _ = _ref_bn(_x, _g, _b, _rm.copy(), _rv.copy(), False)
        try:
            _got, _ = call_student(batchnorm_forward, x=_x, gamma=_g, beta=_b, running_mean=_sm, running_var=_sv, training=False,
                                   forbidden=("a2_batchnorm",), timeout=10)   # no in-place change allowed here
        except AssertionError as _e:
            if "in place" not in str(_e):
                raise
            raise AssertionError(f"{_e}. In evaluation mode (training=False, N={_n}, D={_d}) the running statistics "
                                 "normalize and must stay unchanged: update them in training mode only") from None
        assert_array_close(_got, _want, name=f"out in evaluation mode (N={_n}, D={_d}, running statistics from {_what})",
                           hints={"values": "with training=False normalize with running_mean and running_var, "
                                            "not with the statistics of the batch", "finite": "add eps to running_var"})
# the default eps (1e-5) in evaluation mode: a running variance of 0
_x = _rng.standard_normal((3, 2))
_want, _ = _ref_bn(_x, _np.ones(2), _np.zeros(2), _np.zeros(2), _np.zeros(2), False)
_got, _ = call_student(batchnorm_forward, _x, _np.ones(2), _np.zeros(2), _np.zeros(2), _np.zeros(2), False,
                       forbidden=("a2_batchnorm",), timeout=10)
assert_array_close(_got, _want, name="out in evaluation mode with running_var = 0 and the default eps",
                   hints={"values": "the default eps is 1e-5, added to running_var inside the square root"})
### END HIDDEN TESTS

# %% [markdown]
# ### A3. Backward pass through the computation graph (8 + 4 points)
#
# Given the upstream gradient `dout` (shape `(N, D)`) and your `cache`, return `(dx, dgamma, dbeta)`
# (shapes `(N, D)`, `(D,)`, `(D,)`). Derive it step by step through the graph of the forward pass,
# as in the lecture: `dbeta = sum_i dout_i`, `dgamma = sum_i dout_i * xhat_i`, `dxhat = dout * gamma`,
# then back through `xhat = (x - mu) / sqrt(var + eps)`, remembering that in training mode `mu` and
# `var` depend on every `x_i` (three paths reach `x_i`: directly, through `var` and through `mu`).
# In evaluation mode the running statistics are constants, so `dx = dout * gamma / sqrt(running_var + eps)`.

# %% nbgrader={"grade": false, "grade_id": "batchnorm_backward_impl", "locked": false, "schema_version": 3, "solution": true}
def batchnorm_backward(dout, cache):
    '''dout (N, D) -> dx (N, D), dgamma (D,), dbeta (D,), through the computation graph.'''
    ### BEGIN SOLUTION
    xc, xhat, inv_std, gamma, training = cache
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    if not training:
        return dxhat * inv_std, dgamma, dbeta
    m = dout.shape[0]
    dxc = dxhat * inv_std                                        # path x -> xc -> xhat
    dvar = (dxhat * xc).sum(axis=0) * -0.5 * inv_std ** 3        # d xhat / d var
    dxc += dvar * 2.0 * xc / m                                   # path x -> xc -> var
    dmean = -dxc.sum(axis=0)                                     # xc = x - mean
    dx = dxc + dmean / m
    return dx, dgamma, dbeta
    ### END SOLUTION


# %%
# Self-check: compare with numerical gradients (training and evaluation mode).
rng = np.random.default_rng(1)
x = 2 + 3 * rng.standard_normal((5, 3))
gamma, beta = rng.uniform(0.5, 2, 3), rng.standard_normal(3)
dout = rng.standard_normal((5, 3))
for training in (True, False):
    stats = lambda: (np.full(3, 1.0), np.full(3, 4.0))  # fresh running statistics for every call
    out, cache = batchnorm_forward(x, gamma, beta, *stats(), training)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    errors = {"dx": rel_error(dx, numeric_grad(lambda z: batchnorm_forward(z, gamma, beta, *stats(), training)[0], x, dout)),
              "dgamma": rel_error(dgamma, numeric_grad(lambda g: batchnorm_forward(x, g, beta, *stats(), training)[0], gamma.copy(), dout)),
              "dbeta": rel_error(dbeta, numeric_grad(lambda b: batchnorm_forward(x, gamma, b, *stats(), training)[0], beta.copy(), dout))}
    print(f"training={training}:", {k: f"{v:.1e}" for k, v in errors.items()})
    assert all(v < 1e-6 for v in errors.values()), errors
print("A3 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_batchnorm_backward_dx", "locked": true, "points": 8, "schema_version": 3, "solution": false}
# A3 tests for dx (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.gradcheck import eval_numerical_gradient_array as _ref_num, rel_error as _rel
from cnncourse.layers import batchnorm_forward as _ref_bn, batchnorm_backward as _ref_bn_back

_rng = _np.random.default_rng(secret_seed(23))
for _label, _n, _d, _training, _eps in [("batch of 2", 2, 4, True, 1e-5), ("N > D", 7, 3, True, 1e-5),
                                        ("eps = 0.01", 5, 5, True, 1e-2), ("evaluation mode", 4, 3, False, 1e-5),
                                        ("random", int(_rng.integers(2, 9)), int(_rng.integers(1, 6)), True, 1e-5)]:
    _x = _rng.normal() + _rng.uniform(0.5, 3) * _rng.standard_normal((_n, _d))
    _args = dict(gamma=_rng.uniform(0.5, 2, _d), beta=_rng.standard_normal(_d), training=_training, eps=_eps)
    _rm, _rv = _rng.standard_normal(_d), _rng.uniform(0.5, 2, _d)
    _dout = _rng.standard_normal((_n, _d))
    _, _c = _ref_bn(_x, running_mean=_rm.copy(), running_var=_rv.copy(), **_args)
    _want = _ref_bn_back(_dout, _c)
    _out, _cache = call_student(batchnorm_forward, _x, running_mean=_rm.copy(), running_var=_rv.copy(), **_args,
                                forbidden=("a2_batchnorm",), timeout=10, allow_inplace=("running_mean", "running_var"))
    _got = call_student(batchnorm_backward, _dout, _cache, forbidden=("a2_batchnorm",), timeout=10)
    assert isinstance(_got, tuple) and len(_got) == 3, "batchnorm_backward must return (dx, dgamma, dbeta)"
    assert_array_close(_got[0], _want[0], name=f"dx ({_label}: x ({_n}, {_d}), training={_training}, eps={_eps})",
                       hints={"values": ("in evaluation mode the running statistics are constants: dx = dout * gamma / sqrt(running_var + eps)"
                                         if not _training else
                                         "in training mode mean and var depend on every x_i: add the paths through var and mean "
                                         "(dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / sqrt(var + eps)), with the same eps as the forward pass")})
# and it must agree with a numerical gradient of YOUR forward pass
_x, _g, _b = _rng.standard_normal((4, 3)), _rng.uniform(0.5, 2, 3), _rng.standard_normal(3)
_dout = _rng.standard_normal((4, 3))
_, _cache = call_student(batchnorm_forward, _x, _g, _b, _np.zeros(3), _np.ones(3), True, forbidden=("a2_batchnorm",),
                         timeout=10, allow_inplace=("running_mean", "running_var"))
_dx = call_student(batchnorm_backward, _dout, _cache, forbidden=("a2_batchnorm",), timeout=10)[0]
_num = _ref_num(lambda z: batchnorm_forward(z, _g, _b, _np.zeros(3), _np.ones(3), True)[0], _x.copy(), _dout)
assert _rel(_dx, _num) < 1e-6, f"batchnorm_backward's dx does not match the numerical gradient of your batchnorm_forward (rel. error {_rel(_dx, _num):.1e})"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_batchnorm_backward_dparams", "locked": true, "points": 4, "schema_version": 3, "solution": false}
# A3 tests for dgamma and dbeta (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.layers import batchnorm_forward as _ref_bn, batchnorm_backward as _ref_bn_back

_rng = _np.random.default_rng(secret_seed(24))
for _label, _n, _d, _training in [("batch of 2", 2, 3, True), ("N > D", 6, 2, True), ("evaluation mode", 3, 4, False),
                                  ("random", int(_rng.integers(2, 9)), int(_rng.integers(1, 6)), True)]:
    _x = _rng.normal() + _rng.uniform(0.5, 3) * _rng.standard_normal((_n, _d))
    _args = dict(gamma=_rng.uniform(0.5, 2, _d), beta=_rng.standard_normal(_d), training=_training)
    _rm, _rv = _rng.standard_normal(_d), _rng.uniform(0.5, 2, _d)
    _dout = _rng.standard_normal((_n, _d))
    _, _c = _ref_bn(_x, running_mean=_rm.copy(), running_var=_rv.copy(), **_args)
    _want = _ref_bn_back(_dout, _c)
    _, _cache = call_student(batchnorm_forward, _x, running_mean=_rm.copy(), running_var=_rv.copy(), **_args,
                             forbidden=("a2_batchnorm",), timeout=10, allow_inplace=("running_mean", "running_var"))
    _got = call_student(batchnorm_backward, _dout, _cache, forbidden=("a2_batchnorm",), timeout=10)
    assert isinstance(_got, tuple) and len(_got) == 3, "batchnorm_backward must return (dx, dgamma, dbeta)"
    for _i, _nm, _h in [(1, "dgamma", "dgamma = sum over the batch (axis 0) of dout * xhat"),
                        (2, "dbeta", "dbeta = sum over the batch (axis 0) of dout")]:
        assert_array_close(_got[_i], _want[_i], name=f"{_nm} ({_label}: x ({_n}, {_d}), training={_training})",
                           hints={"shape": f"{_nm} has one value per feature, shape (D,): sum over the batch axis 0", "values": _h})
### END HIDDEN TESTS

# %% [markdown]
# ### A4. The simplified backward pass (8 points)
#
# Working the graph out on paper collapses it into one line. With `dxhat = dout * gamma` and
# `inv_std = 1 / sqrt(var + eps)`, in training mode
#
# $$dx = \frac{\text{inv\_std}}{m}\Big(m\, \hat{dx} - \sum_i \hat{dx}_i - \hat x \sum_i \hat{dx}_i\, \hat x_i\Big) .$$
#
# Implement `batchnorm_backward_alt(dout, cache)` with this formula (no intermediate `dvar`, `dmean`)
# for a cache of a training-mode forward pass; return `(dx, dgamma, dbeta)` as before. It gives the
# same numbers as A3 and is faster.

# %% nbgrader={"grade": false, "grade_id": "batchnorm_backward_alt_impl", "locked": false, "schema_version": 3, "solution": true}
def batchnorm_backward_alt(dout, cache):
    '''dout (N, D) -> dx, dgamma, dbeta with the simplified formula (training-mode cache).'''
    ### BEGIN SOLUTION
    _, xhat, inv_std, gamma, _ = cache
    m = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    dx = inv_std / m * (m * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
    return dx, dgamma, dbeta
    ### END SOLUTION


# %%
# Self-check: the same gradients as A3 (and a speed comparison).
import time

x = rng.standard_normal((512, 256))
dout = rng.standard_normal((512, 256))
out, cache = batchnorm_forward(x, np.ones(256), np.zeros(256), np.zeros(256), np.ones(256), True)
t0 = time.perf_counter(); slow = batchnorm_backward(dout, cache); t1 = time.perf_counter()
fast = batchnorm_backward_alt(dout, cache); t2 = time.perf_counter()
print(f"graph {1e3 * (t1 - t0):.2f} ms, simplified {1e3 * (t2 - t1):.2f} ms; max rel. error",
      max(rel_error(a, b) for a, b in zip(slow, fast)))
assert all(rel_error(a, b) < 1e-8 for a, b in zip(slow, fast))
print("A4 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_batchnorm_backward_alt", "locked": true, "points": 8, "schema_version": 3, "solution": false}
# A4 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.layers import batchnorm_forward as _ref_bn, batchnorm_backward as _ref_bn_back

_rng = _np.random.default_rng(secret_seed(25))
for _label, _n, _d, _eps in [("batch of 2", 2, 3, 1e-5), ("N > D", 8, 3, 1e-5), ("N < D, eps = 0.1", 3, 6, 0.1),
                             ("random", int(_rng.integers(2, 9)), int(_rng.integers(1, 6)), 1e-5)]:
    _x = _rng.normal() + _rng.uniform(0.5, 3) * _rng.standard_normal((_n, _d))
    _args = dict(gamma=_rng.uniform(0.5, 2, _d), beta=_rng.standard_normal(_d), training=True, eps=_eps)
    _dout = _rng.standard_normal((_n, _d))
    _, _c = _ref_bn(_x, running_mean=_np.zeros(_d), running_var=_np.ones(_d), **_args)
    _want = _ref_bn_back(_dout, _c)
    _, _cache = call_student(batchnorm_forward, _x, running_mean=_np.zeros(_d), running_var=_np.ones(_d), **_args,
                             forbidden=("a2_batchnorm",), timeout=10, allow_inplace=("running_mean", "running_var"))
    _got = call_student(batchnorm_backward_alt, _dout, _cache, forbidden=("a2_batchnorm",), timeout=10)
    assert isinstance(_got, tuple) and len(_got) == 3, "batchnorm_backward_alt must return (dx, dgamma, dbeta)"
    for _i, _nm in enumerate(("dx", "dgamma", "dbeta")):
        assert_array_close(_got[_i], _want[_i], name=f"{_nm} of batchnorm_backward_alt ({_label}: x ({_n}, {_d}), eps={_eps})",
                           hints={"values": "dx = inv_std / m * (m * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat)), "
                                            "sums over the batch axis 0, dxhat = dout * gamma"})
### END HIDDEN TESTS

# %% [markdown]
# ## Part B — Normalizing feature maps
#
# ### B1. Spatial batch normalization (4 + 4 points)
#
# In a convolutional network every channel is one feature: batch norm on `(N, C, H, W)` feature maps
# normalizes each channel with statistics over the batch **and** both spatial axes (`m = N*H*W`
# values per channel; lecture 4, "BN in CNNs"), with `gamma`, `beta`, `running_mean`, `running_var`
# of shape `(C,)`. Implement it by moving the channel axis last, reshaping to `(N*H*W, C)` and calling
# your `batchnorm_forward` / `batchnorm_backward` (then undo the reshape). Note that a batch of one
# image is fine here in training mode as long as `H*W > 1`.

# %% nbgrader={"grade": false, "grade_id": "spatial_batchnorm_impl", "locked": false, "schema_version": 3, "solution": true}
def spatial_batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5, *,
                              num_batches_tracked=None):
    '''x (N, C, H, W), gamma/beta/running statistics (C,) -> out (N, C, H, W), cache.'''
    ### BEGIN SOLUTION
    n, c, h, w = x.shape
    flat = x.transpose(0, 2, 3, 1).reshape(-1, c)                  # (N*H*W, C): one row per pixel
    out, cache = batchnorm_forward(flat, gamma, beta, running_mean, running_var, training, momentum, eps,
                                   num_batches_tracked=num_batches_tracked)
    return out.reshape(n, h, w, c).transpose(0, 3, 1, 2), (cache, x.shape)
    ### END SOLUTION


def spatial_batchnorm_backward(dout, cache):
    '''dout (N, C, H, W) -> dx (N, C, H, W), dgamma (C,), dbeta (C,).'''
    ### BEGIN SOLUTION
    bn_cache, (n, c, h, w) = cache
    dx, dgamma, dbeta = batchnorm_backward(dout.transpose(0, 2, 3, 1).reshape(-1, c), bn_cache)
    return dx.reshape(n, h, w, c).transpose(0, 3, 1, 2), dgamma, dbeta
    ### END SOLUTION


# %%
# Self-check: every channel of the output has mean beta and std gamma over (N, H, W).
x = 4 + 2 * rng.standard_normal((3, 2, 5, 4))
gamma, beta = np.array([1.0, 3.0]), np.array([0.5, -1.0])
rm, rv = np.zeros(2), np.ones(2)
out, cache = spatial_batchnorm_forward(x, gamma, beta, rm, rv, True)
print("channel means", out.mean(axis=(0, 2, 3)), "stds", out.std(axis=(0, 2, 3)))
assert out.shape == x.shape and np.allclose(out.mean(axis=(0, 2, 3)), beta) and np.allclose(out.std(axis=(0, 2, 3)), gamma, rtol=1e-4)
assert np.allclose(rm, 0.1 * x.mean(axis=(0, 2, 3))), "running_mean over (N, H, W) of each channel"
dout = rng.standard_normal(x.shape)
dx, dgamma, dbeta = spatial_batchnorm_backward(dout, cache)
num = numeric_grad(lambda z: spatial_batchnorm_forward(z, gamma, beta, np.zeros(2), np.ones(2), True)[0], x, dout)
print("dx rel. error", rel_error(dx, num))
assert rel_error(dx, num) < 1e-6 and dgamma.shape == (2,) and np.allclose(dbeta, dout.sum(axis=(0, 2, 3)))
print("B1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_spatial_batchnorm_forward", "locked": true, "points": 4, "schema_version": 3, "solution": false}
# B1 tests for the forward pass (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.layers import batchnorm_forward as _ref_bn

_rng = _np.random.default_rng(secret_seed(31))
_hint = {"values": "each CHANNEL is one feature: statistics over the batch and both spatial axes (N, H, W); "
                   "move the channel axis last (transpose(0, 2, 3, 1)) BEFORE reshaping to (N*H*W, C), and undo both"}
for _label, _shape, _training, _dt in [("batch of 1, non-square", (1, 2, 3, 4), True, _np.float64),
                                       ("non-square maps", (3, 4, 2, 5), True, _np.float64),
                                       ("1x1 maps", (5, 3, 1, 1), True, _np.float64),
                                       ("evaluation mode", (2, 3, 4, 3), False, _np.float64),
                                       ("float32", (2, 3, 3, 2), True, _np.float32),
                                       ("random", (int(_rng.integers(1, 4)), int(_rng.integers(1, 5)), int(_rng.integers(2, 6)),
                                                   int(_rng.integers(2, 6))), True, _np.float64)]:
    _c = _shape[1]
    _x = (_rng.normal() + _rng.uniform(0.5, 3) * _rng.standard_normal(_shape)).astype(_dt)
    _g, _b = _rng.uniform(0.5, 2, _c).astype(_dt), _rng.standard_normal(_c).astype(_dt)
    _sm, _sv = _rng.standard_normal(_c).astype(_dt), _rng.uniform(0.5, 2, _c).astype(_dt)
    _rm, _rv = _sm.copy(), _sv.copy()
    _want, _ = _ref_bn(_x, _g, _b, _rm, _rv, _training, momentum=0.2)
    _got = call_student(spatial_batchnorm_forward, _x, _g, _b, running_mean=_sm, running_var=_sv, training=_training, momentum=0.2,
                        forbidden=("a2_batchnorm",), timeout=10, allow_inplace=("running_mean", "running_var"))
    assert isinstance(_got, tuple) and len(_got) == 2, "spatial_batchnorm_forward must return (out, cache)"
    _what = f"{_label}: x {_shape}, training={_training}, momentum=0.2"
    assert_array_close(_got[0], _want, name=f"out ({_what})", hints=dict(_hint, shape="out has the shape (N, C, H, W) of x"),
                       exact_dtype=True)
    assert_array_close(_sm, _rm, name=f"running_mean after one call ({_what})", hints=_hint)
    assert_array_close(_sv, _rv, name=f"running_var after one call ({_what})",
                       hints={"values": "the unbiased factor is m / (m - 1) with m = N*H*W values per channel"})
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_spatial_batchnorm_backward", "locked": true, "points": 4, "schema_version": 3, "solution": false}
# B1 tests for the backward pass (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.layers import batchnorm_forward as _ref_bn, batchnorm_backward as _ref_bn_back

_rng = _np.random.default_rng(secret_seed(32))
for _label, _shape, _training in [("batch of 1, non-square", (1, 2, 3, 4), True), ("non-square maps", (3, 4, 2, 5), True),
                                  ("evaluation mode", (2, 3, 4, 3), False),
                                  ("random", (int(_rng.integers(1, 4)), int(_rng.integers(1, 5)), int(_rng.integers(2, 6)),
                                              int(_rng.integers(2, 6))), True)]:
    _c = _shape[1]
    _x = _rng.normal() + _rng.uniform(0.5, 3) * _rng.standard_normal(_shape)
    _args = dict(gamma=_rng.uniform(0.5, 2, _c), beta=_rng.standard_normal(_c), training=_training)
    _rm, _rv = _rng.standard_normal(_c), _rng.uniform(0.5, 2, _c)
    _dout = _rng.standard_normal(_shape)
    _, _cr = _ref_bn(_x, running_mean=_rm.copy(), running_var=_rv.copy(), **_args)
    _want = _ref_bn_back(_dout, _cr)
    _, _cache = call_student(spatial_batchnorm_forward, _x, running_mean=_rm.copy(), running_var=_rv.copy(), **_args,
                             forbidden=("a2_batchnorm",), timeout=10, allow_inplace=("running_mean", "running_var"))
    _got = call_student(spatial_batchnorm_backward, _dout, _cache, forbidden=("a2_batchnorm",), timeout=10)
    assert isinstance(_got, tuple) and len(_got) == 3, "spatial_batchnorm_backward must return (dx, dgamma, dbeta)"
    for _i, _nm in enumerate(("dx", "dgamma", "dbeta")):
        assert_array_close(_got[_i], _want[_i], name=f"{_nm} ({_label}: x {_shape}, training={_training})",
                           hints={"shape": "dx has the shape of x; dgamma and dbeta have shape (C,)",
                                  "values": "reshape dout exactly like x in the forward pass (channels last, then (N*H*W, C)) "
                                            "and undo it for dx"})
### END HIDDEN TESTS

# %% [markdown]
# ### B2. Layer normalization (5 + 5 points)
#
# Batch norm's statistics depend on the batch: with small batches they are noisy, and recurrent
# networks or transformers have no natural batch axis. Layer norm normalizes each **sample** over all
# of its features instead (lecture 4: "which axes each normalizes"): for `x` of shape `(N, D)` the
# statistics of row `n`, for `(N, C, H, W)` those of sample `n` over `(C, H, W)`. `gamma` and `beta`
# have the shape of one sample (`x.shape[1:]`, elementwise affine as in `torch.nn.LayerNorm`). The
# variance is the biased one, and there are no running statistics: training and evaluation are the
# same computation, and any batch size (even 1) works. Return `(out, cache)`, and
# `(dx, dgamma, dbeta)` from the backward pass (the same formula as A4, with the sums taken over each
# sample's features instead of the batch).

# %% nbgrader={"grade": false, "grade_id": "layernorm_impl", "locked": false, "schema_version": 3, "solution": true}
def layernorm_forward(x, gamma, beta, eps=1e-5):
    '''x (N, *F), gamma/beta of shape F = x.shape[1:] -> out of x's shape, cache.'''
    ### BEGIN SOLUTION
    axes = tuple(range(1, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    xc = x - mean
    inv_std = 1.0 / np.sqrt((xc * xc).mean(axis=axes, keepdims=True) + eps)
    xhat = xc * inv_std
    return xhat * gamma + beta, (xhat, inv_std, gamma, axes)
    ### END SOLUTION


def layernorm_backward(dout, cache):
    '''dout of x's shape -> dx, dgamma, dbeta (the shape of gamma).'''
    ### BEGIN SOLUTION
    xhat, inv_std, gamma, axes = cache
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    dx = inv_std * (dxhat - dxhat.mean(axis=axes, keepdims=True) - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True))
    return dx, dgamma, dbeta
    ### END SOLUTION


# %%
# Self-check: each sample (row) has mean 0 and std 1 before the affine part; gradients vs numerical ones.
x = 3 + rng.standard_normal((4, 6)) * np.arange(1, 5)[:, None]
out, cache = layernorm_forward(x, np.ones(6), np.zeros(6))
print("row means", out.mean(axis=1), "row stds", out.std(axis=1))
assert np.allclose(out.mean(axis=1), 0) and np.allclose(out.std(axis=1), 1, rtol=1e-4), "layer norm normalizes each ROW"
x4 = rng.standard_normal((2, 3, 2, 2))
g4, b4 = rng.uniform(0.5, 2, (3, 2, 2)), rng.standard_normal((3, 2, 2))
out, cache = layernorm_forward(x4, g4, b4)
dout = rng.standard_normal(x4.shape)
dx, dg, db = layernorm_backward(dout, cache)
errors = [rel_error(dx, numeric_grad(lambda z: layernorm_forward(z, g4, b4)[0], x4, dout)),
          rel_error(dg, numeric_grad(lambda g: layernorm_forward(x4, g, b4)[0], g4.copy(), dout))]
print("dx, dgamma rel. errors", errors)
assert max(errors) < 1e-6 and db.shape == (3, 2, 2)
print("B2 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_layernorm_forward", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# B2 tests for the forward pass (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.layers import layernorm_forward as _ref_ln

_rng = _np.random.default_rng(secret_seed(33))
for _label, _shape, _sc, _eps, _dt in [("batch of 1", (1, 5), 1.0, 1e-5, _np.float64), ("N > D", (6, 3), 2.0, 1e-5, _np.float64),
                                       ("feature maps (N, C, H, W), non-square", (2, 3, 4, 2), 1.0, 1e-5, _np.float64),
                                       ("tiny variance (below eps)", (3, 4), 1e-4, 1e-5, _np.float64),
                                       ("eps = 0.01", (4, 6), 0.3, 1e-2, _np.float64), ("float32", (3, 5), 1.0, 1e-5, _np.float32),
                                       ("random", (int(_rng.integers(1, 6)), int(_rng.integers(2, 8))), 1.0, 1e-5, _np.float64)]:
    _x = (3.0 + _sc * _rng.standard_normal(_shape)).astype(_dt)
    _g, _b = _rng.uniform(0.5, 2, _shape[1:]).astype(_dt), _rng.standard_normal(_shape[1:]).astype(_dt)
    _want, _ = _ref_ln(_x, _shape[1:], _g, _b, eps=_eps)
    _got = call_student(layernorm_forward, _x, _g, _b, eps=_eps, forbidden=("a2_batchnorm",), timeout=10)
    assert isinstance(_got, tuple) and len(_got) == 2, "layernorm_forward must return (out, cache)"
    assert_array_close(_got[0], _want, name=f"out ({_label}: x {_shape}, eps={_eps})", exact_dtype=True,
                       hints={"values": "layer norm normalizes each SAMPLE over all its features (axes 1, ..., ndim-1), "
                                        "never over the batch axis 0; biased variance, eps inside the square root"})
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_layernorm_backward", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# B2 tests for the backward pass (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.layers import layernorm_forward as _ref_ln, layernorm_backward as _ref_ln_back

_rng = _np.random.default_rng(secret_seed(34))
for _label, _shape in [("batch of 1", (1, 5)), ("N > D", (6, 3)), ("feature maps (N, C, H, W), non-square", (2, 3, 4, 2)),
                       ("random", (int(_rng.integers(1, 6)), int(_rng.integers(2, 8))))]:
    _x = 1.0 + _rng.standard_normal(_shape)
    _g, _b = _rng.uniform(0.5, 2, _shape[1:]), _rng.standard_normal(_shape[1:])
    _dout = _rng.standard_normal(_shape)
    _, _cr = _ref_ln(_x, _shape[1:], _g, _b)
    _want = _ref_ln_back(_dout, _cr)
    _, _cache = call_student(layernorm_forward, _x, _g, _b, forbidden=("a2_batchnorm",), timeout=10)
    _got = call_student(layernorm_backward, _dout, _cache, forbidden=("a2_batchnorm",), timeout=10)
    assert isinstance(_got, tuple) and len(_got) == 3, "layernorm_backward must return (dx, dgamma, dbeta)"
    for _i, _nm in enumerate(("dx", "dgamma", "dbeta")):
        assert_array_close(_got[_i], _want[_i], name=f"{_nm} ({_label}: x {_shape})",
                           hints={"shape": "dgamma and dbeta have the shape of gamma (x.shape[1:]): sum over the batch axis only",
                                  "values": "dx: the means of dxhat and dxhat * xhat are taken over each sample's features "
                                            "(axes 1, ...); dgamma, dbeta: sums over the batch axis 0"})
### END HIDDEN TESTS

# %% [markdown]
# ### B3. Group normalization (5 + 5 points)
#
# Group norm (Wu and He, 2018) sits between layer norm and instance norm: the `C` channels of each
# sample are split into `num_groups` groups of `C / num_groups` **consecutive** channels (group `g`
# holds channels `g*C/G, ..., (g+1)*C/G - 1`), and each group of each sample is normalized over its
# channels and all pixels. `num_groups = 1` is layer norm over `(C, H, W)`; `num_groups = C` is
# instance norm. `gamma` and `beta` are per channel, shape `(C,)`, as in `torch.nn.GroupNorm`. Raise a
# `ValueError` when `num_groups` does not divide `C`. Input `(N, C, H, W)`; return `(out, cache)` and
# `(dx, dgamma, dbeta)`.

# %% nbgrader={"grade": false, "grade_id": "groupnorm_impl", "locked": false, "schema_version": 3, "solution": true}
def groupnorm_forward(x, num_groups, gamma, beta, eps=1e-5):
    '''x (N, C, H, W), gamma/beta (C,) -> out (N, C, H, W), cache.'''
    ### BEGIN SOLUTION
    n, c, h, w = x.shape
    if c % num_groups:
        raise ValueError(f"num_groups={num_groups} does not divide the {c} channels")
    xg = x.reshape(n, num_groups, -1)                      # (N, G, C/G * H * W): consecutive channels
    mean = xg.mean(axis=2, keepdims=True)
    xc = xg - mean
    inv_std = 1.0 / np.sqrt((xc * xc).mean(axis=2, keepdims=True) + eps)
    xhat = (xc * inv_std).reshape(x.shape)
    out = xhat * gamma[None, :, None, None] + beta[None, :, None, None]
    return out, (xhat, inv_std, gamma, num_groups)
    ### END SOLUTION


def groupnorm_backward(dout, cache):
    '''dout (N, C, H, W) -> dx (N, C, H, W), dgamma (C,), dbeta (C,).'''
    ### BEGIN SOLUTION
    xhat, inv_std, gamma, g = cache
    n = dout.shape[0]
    dbeta = dout.sum(axis=(0, 2, 3))
    dgamma = (dout * xhat).sum(axis=(0, 2, 3))
    dxhat = (dout * gamma[None, :, None, None]).reshape(n, g, -1)
    xh = xhat.reshape(n, g, -1)
    dx = inv_std * (dxhat - dxhat.mean(axis=2, keepdims=True) - xh * (dxhat * xh).mean(axis=2, keepdims=True))
    return dx.reshape(dout.shape), dgamma, dbeta
    ### END SOLUTION


# %%
# Self-check: with 2 groups of 2 channels, channels (0, 1) and (2, 3) of each sample share statistics.
x = rng.standard_normal((2, 4, 3, 3)) + np.array([0.0, 0.0, 10.0, 10.0])[None, :, None, None]
out, cache = groupnorm_forward(x, 2, np.ones(4), np.zeros(4))
first = out[:, :2].reshape(2, -1)
print("group 0 means", first.mean(axis=1), "stds", first.std(axis=1))
assert np.allclose(first.mean(axis=1), 0) and np.allclose(first.std(axis=1), 1, rtol=1e-4), "group g = CONSECUTIVE channels"
g, b = rng.uniform(0.5, 2, 4), rng.standard_normal(4)
out, cache = groupnorm_forward(x, 2, g, b)
dout = rng.standard_normal(x.shape)
dx, dg, db = groupnorm_backward(dout, cache)
errors = [rel_error(dx, numeric_grad(lambda z: groupnorm_forward(z, 2, g, b)[0], x, dout)),
          rel_error(dg, numeric_grad(lambda gg: groupnorm_forward(x, 2, gg, b)[0], g.copy(), dout))]
print("dx, dgamma rel. errors", errors)
assert max(errors) < 1e-6 and db.shape == (4,)
print("B3 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_groupnorm_forward", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# B3 tests for the forward pass (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.layers import groupnorm_forward as _ref_gn

_rng = _np.random.default_rng(secret_seed(35))
for _label, _shape, _groups, _eps, _dt in [("2 groups of 3 channels", (2, 6, 3, 4), 2, 1e-5, _np.float64),
                                           ("batch of 1, 3 groups of 2 channels", (1, 6, 2, 3), 3, 1e-5, _np.float64),
                                           ("one group (layer norm)", (3, 4, 2, 2), 1, 1e-5, _np.float64),
                                           ("a group per channel (instance norm)", (2, 3, 4, 5), 3, 1e-5, _np.float64),
                                           ("eps = 0.01, non-square", (2, 4, 1, 6), 2, 1e-2, _np.float64),
                                           ("float32", (2, 4, 3, 3), 2, 1e-5, _np.float32)]:
    _c = _shape[1]
    # channels with very different offsets, so that grouping the wrong channels shows
    _x = (_rng.standard_normal(_shape) + 5 * _rng.standard_normal(_c)[None, :, None, None]).astype(_dt)
    _g, _b = _rng.uniform(0.5, 2, _c).astype(_dt), _rng.standard_normal(_c).astype(_dt)
    _want, _ = _ref_gn(_x, _groups, _g, _b, eps=_eps)
    _got = call_student(groupnorm_forward, _x, _groups, _g, _b, eps=_eps, forbidden=("a2_batchnorm",), timeout=10)
    assert isinstance(_got, tuple) and len(_got) == 2, "groupnorm_forward must return (out, cache)"
    assert_array_close(_got[0], _want, name=f"out ({_label}: x {_shape}, num_groups={_groups}, eps={_eps})", exact_dtype=True,
                       hints={"values": "group g holds the CONSECUTIVE channels g*C/G ... (g+1)*C/G - 1 of ONE sample: "
                                        "x.reshape(N, G, -1), statistics over the last axis, then gamma/beta per channel"})
try:
    call_student(groupnorm_forward, _rng.standard_normal((2, 6, 2, 2)), 4, _np.ones(6), _np.zeros(6),
                 forbidden=("a2_batchnorm",), timeout=10)
except ValueError:
    pass
else:
    raise AssertionError("groupnorm_forward(x with 6 channels, num_groups=4) should raise ValueError: 4 does not divide 6")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_groupnorm_backward", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# B3 tests for the backward pass (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.layers import groupnorm_forward as _ref_gn, groupnorm_backward as _ref_gn_back

_rng = _np.random.default_rng(secret_seed(36))
for _label, _shape, _groups in [("2 groups of 3 channels", (2, 6, 3, 2), 2), ("batch of 1, non-square", (1, 4, 2, 5), 2),
                                ("a group per channel (instance norm)", (2, 3, 3, 3), 3), ("one group", (3, 2, 2, 2), 1)]:
    _c = _shape[1]
    _x = _rng.standard_normal(_shape) + 3 * _rng.standard_normal(_c)[None, :, None, None]
    _g, _b = _rng.uniform(0.5, 2, _c), _rng.standard_normal(_c)
    _dout = _rng.standard_normal(_shape)
    _, _cr = _ref_gn(_x, _groups, _g, _b)
    _want = _ref_gn_back(_dout, _cr)
    _, _cache = call_student(groupnorm_forward, _x, _groups, _g, _b, forbidden=("a2_batchnorm",), timeout=10)
    _got = call_student(groupnorm_backward, _dout, _cache, forbidden=("a2_batchnorm",), timeout=10)
    assert isinstance(_got, tuple) and len(_got) == 3, "groupnorm_backward must return (dx, dgamma, dbeta)"
    for _i, _nm in enumerate(("dx", "dgamma", "dbeta")):
        assert_array_close(_got[_i], _want[_i], name=f"{_nm} ({_label}: x {_shape}, num_groups={_groups})",
                           hints={"shape": "dgamma and dbeta are per channel, shape (C,): sum over N, H and W",
                                  "values": "dx: the means of dxhat and dxhat * xhat are taken within each group of each sample "
                                            "(dxhat = dout * gamma per channel); dgamma, dbeta: sums over N, H, W"})
### END HIDDEN TESTS

# %% [markdown]
# ## Part C — Dropout
#
# ### C1. Inverted dropout, forward (7 points)
#
# In training, dropout zeroes each element independently with probability `p` (lecture 4). *Inverted*
# dropout (what `torch.nn.functional.dropout` does) scales the kept elements by `1 / (1 - p)` during
# training, so that the expected output equals the input and evaluation (`training=False`) is simply
# the identity: no mask, no scaling. `p = 1` drops everything (the output is all zeros, not NaN) and
# `p = 0` keeps everything.
#
# The mask must be reproducible: draw it from `rng = np.random.default_rng(seed)` as
# `keep = rng.random(x.shape) >= p` (an element is kept when its uniform number is at least `p`).
# Return `(out, cache)` with `out` a new array of `x`'s shape and dtype (make the mask in `x.dtype`),
# also in evaluation mode: return `x.copy()`, never `x` itself.

# %% nbgrader={"grade": false, "grade_id": "dropout_forward_impl", "locked": false, "schema_version": 3, "solution": true}
def dropout_forward(x, p, training, seed):
    '''x (any shape) -> out (x's shape and dtype), cache; inverted dropout with a mask from seed.'''
    ### BEGIN SOLUTION
    if not training or p == 0:
        return x.copy(), None
    keep = np.random.default_rng(seed).random(x.shape) >= p
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    mask = keep.astype(x.dtype) * x.dtype.type(scale)          # values 0 or 1/(1-p), in x's dtype
    return x * mask, mask
    ### END SOLUTION


# %%
# Self-check: the expected output equals the input, about p of the elements are zero, eval is the identity.
x = 2 + rng.standard_normal((500, 400))
out, _ = dropout_forward(x, 0.3, True, seed=7)
print(f"mean in {x.mean():.4f}, mean out {out.mean():.4f}, fraction zeroed {np.mean(out == 0):.4f}")
assert abs(out.mean() / x.mean() - 1) < 0.01 and abs(np.mean(out == 0) - 0.3) < 0.01
assert np.array_equal(dropout_forward(x, 0.3, True, seed=7)[0], out), "the same seed must give the same mask"
assert np.array_equal(dropout_forward(x, 0.3, False, seed=7)[0], x), "evaluation mode is the identity"
assert np.all(dropout_forward(x[:3, :3], 1.0, True, seed=0)[0] == 0), "p = 1 drops everything"
print("C1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_dropout_forward", "locked": true, "points": 7, "schema_version": 3, "solution": false}
# C1 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.layers import dropout_forward as _ref_drop

_rng = _np.random.default_rng(secret_seed(41))
for _label, _shape, _p, _training, _dt in [("training, p = 0.3", (4, 7), 0.3, True, _np.float64),
                                           ("training, p = 0.5, feature maps", (2, 3, 4, 5), 0.5, True, _np.float64),
                                           ("training, p = 0.8, batch of 1", (1, 9), 0.8, True, _np.float64),
                                           ("training, p = 0", (3, 4), 0.0, True, _np.float64),
                                           ("training, p = 1", (3, 4), 1.0, True, _np.float64),
                                           ("evaluation, p = 0.5", (5, 3), 0.5, False, _np.float64),
                                           ("float32, p = 0.25", (6, 5), 0.25, True, _np.float32)]:
    _x = (1.0 + _rng.standard_normal(_shape)).astype(_dt)
    _seed = int(_rng.integers(0, 2**31))
    _want, _ = _ref_drop(_x, _p, _training, _np.random.default_rng(_seed))
    _got = call_student(dropout_forward, _x, _p, _training, _seed, forbidden=("a2_batchnorm",), timeout=10, no_alias=(0,))
    assert isinstance(_got, tuple) and len(_got) == 2, "dropout_forward must return (out, cache)"
    assert_array_close(_got[0], _want, name=f"out ({_label}: x {_shape}, seed={_seed})", exact_dtype=True,
                       hints={"values": ("evaluation mode is the identity (inverted dropout scales during TRAINING only)"
                                         if not _training else
                                         "keep = np.random.default_rng(seed).random(x.shape) >= p, and scale the kept "
                                         "elements by 1 / (1 - p) (p = 1: everything is 0)"),
                              "finite": "p = 1 drops everything: do not divide by 1 - p = 0",
                              "dtype": "make the mask in x.dtype (a bool mask divided by a float is float64)"})
# the expectation: inverted dropout keeps the mean of the input
_x = 3.0 + _rng.standard_normal((300, 200))
_out, _ = call_student(dropout_forward, _x, 0.4, True, int(_rng.integers(0, 2**31)), forbidden=("a2_batchnorm",), timeout=10)
_ratio, _zeros = float(_np.mean(_out) / _np.mean(_x)), float(_np.mean(_out == 0))
assert abs(_zeros - 0.4) < 0.02, f"with p = 0.4, {_zeros:.1%} of the outputs are zero: drop each element with probability p"
assert abs(_ratio - 1) < 0.02, (f"with p = 0.4 the mean of the output is {_ratio:.3f} times the mean of the input, expected 1: "
                                "inverted dropout scales the kept elements by 1 / (1 - p)")
### END HIDDEN TESTS

# %% [markdown]
# ### C2. Dropout, backward (5 points)
#
# The output is `x * mask`, so `dx = dout * mask` with the **same** mask (including its scale) as the
# forward pass; in evaluation mode `dx = dout`. Return a new array (never `dout` itself) of `dout`'s
# shape and dtype.

# %% nbgrader={"grade": false, "grade_id": "dropout_backward_impl", "locked": false, "schema_version": 3, "solution": true}
def dropout_backward(dout, cache):
    '''dout (x's shape) -> dx.'''
    ### BEGIN SOLUTION
    mask = cache
    return dout.copy() if mask is None else dout * mask
    ### END SOLUTION


# %%
# Self-check: the gradient flows exactly where the forward pass let the input through.
x = rng.standard_normal((6, 5))
out, cache = dropout_forward(x, 0.5, True, seed=3)
dx = dropout_backward(np.ones_like(x), cache)
assert np.array_equal(dx == 0, out == 0) and np.allclose(dx[dx != 0], 2.0)
num = numeric_grad(lambda z: dropout_forward(z, 0.5, True, seed=3)[0], x, np.ones_like(x))
assert rel_error(dx, num) < 1e-6
assert np.array_equal(dropout_backward(np.ones_like(x), dropout_forward(x, 0.5, False, seed=3)[1]), np.ones_like(x))
print("C2 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_dropout_backward", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# C2 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.layers import dropout_forward as _ref_drop, dropout_backward as _ref_drop_back

_rng = _np.random.default_rng(secret_seed(42))
for _label, _shape, _p, _training, _dt in [("training, p = 0.3", (4, 7), 0.3, True, _np.float64),
                                           ("training, p = 0.6, feature maps", (2, 3, 2, 5), 0.6, True, _np.float64),
                                           ("training, p = 1", (3, 4), 1.0, True, _np.float64),
                                           ("evaluation, p = 0.5", (5, 3), 0.5, False, _np.float64),
                                           ("float32, p = 0.25", (6, 5), 0.25, True, _np.float32)]:
    _x = (1.0 + _rng.standard_normal(_shape)).astype(_dt)
    _dout = _rng.standard_normal(_shape).astype(_dt)
    _seed = int(_rng.integers(0, 2**31))
    _, _cr = _ref_drop(_x, _p, _training, _np.random.default_rng(_seed))
    _want = _ref_drop_back(_dout, _cr)
    _, _cache = call_student(dropout_forward, _x, _p, _training, _seed, forbidden=("a2_batchnorm",), timeout=10)
    _got = call_student(dropout_backward, _dout, _cache, forbidden=("a2_batchnorm",), timeout=10, no_alias=True)
    assert_array_close(_got, _want, name=f"dx ({_label}: x {_shape}, seed={_seed})", exact_dtype=True,
                       hints={"values": ("evaluation mode: dx = dout" if not _training else
                                         "dx = dout * mask with the forward pass's mask, INCLUDING its scale 1 / (1 - p)"),
                              "dtype": "keep dout's dtype"})
### END HIDDEN TESTS

# %% [markdown]
# ## Part D — Batch norm in a network
#
# Lecture 4 claims that batch norm allows much higher learning rates. You test it on the handwritten
# digits (8x8 grey images, 10 classes: the images of `cnncourse.data.load_digits`, loaded here from
# scikit-learn, since the course library is not available in the grading kernel) with a two-layer
# network
#
# $$x \;\to\; \text{affine } (64 \to H) \;\to\; [\text{batch norm}] \;\to\; \text{ReLU} \;\to\; \text{affine } (H \to 10) \;\to\; \text{softmax cross-entropy}.$$
#
# The affine layer, ReLU and the loss are given below (you wrote layers like them in a1); the
# parameters live in a dict `params` with `W1` `(64, H)`, `b1` `(H,)`, `gamma`, `beta` `(H,)`,
# `W2` `(H, 10)`, `b2` `(10,)`.

# %%
def affine_forward(x, w, b):
    '''(N, D) @ (D, M) + (M,) -> (N, M), cache.'''
    return x @ w + b, (x, w)


def affine_backward(dout, cache):
    '''dout (N, M) -> dx (N, D), dw (D, M), db (M,).'''
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def softmax_loss(scores, y):
    '''Mean cross-entropy of softmax(scores) (N, K) against labels y (N,) -> loss, dscores.'''
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = scores.shape[0]
    loss = -log_probs[np.arange(n), y].mean()
    dscores = np.exp(log_probs)
    dscores[np.arange(n), y] -= 1
    return loss, dscores / n


def init_mlp(d_in, hidden, n_classes, seed=0):
    '''He-initialized weights, zero biases, gamma = 1, beta = 0.'''
    rng = np.random.default_rng(seed)
    return {"W1": rng.standard_normal((d_in, hidden)) * np.sqrt(2.0 / d_in), "b1": np.zeros(hidden),
            "gamma": np.ones(hidden), "beta": np.zeros(hidden),
            "W2": rng.standard_normal((hidden, n_classes)) * np.sqrt(2.0 / hidden), "b2": np.zeros(n_classes)}


# %% [markdown]
# ### D1. Loss and gradients (8 points)
#
# `mlp_loss(params, X, y, use_bn, running_mean=None, running_var=None)` runs the network on a batch in
# training mode and returns `(loss, grads)`: `grads` is a dict with the gradient of every parameter the
# network uses (`W1`, `b1`, `W2`, `b2`, plus `gamma` and `beta` when `use_bn`). With `use_bn` the batch
# norm layer uses your `batchnorm_forward` with the default momentum and eps, and updates
# `running_mean`/`running_var` in place; without it `gamma`, `beta` and the running statistics are
# ignored. `mlp_predict(params, X, use_bn, running_mean=None, running_var=None)` returns the class
# scores `(N, 10)` in evaluation mode. Neither function changes `params`.

# %% nbgrader={"grade": false, "grade_id": "mlp_impl", "locked": false, "schema_version": 3, "solution": true}
def mlp_loss(params, X, y, use_bn, running_mean=None, running_var=None):
    '''Training-mode loss and gradients of the two-layer network -> (loss, grads dict).'''
    ### BEGIN SOLUTION
    grads = {}
    h, c1 = affine_forward(X, params["W1"], params["b1"])
    if use_bn:
        h, cbn = batchnorm_forward(h, params["gamma"], params["beta"], running_mean, running_var, True)
    a, cr = relu_forward(h)
    scores, c2 = affine_forward(a, params["W2"], params["b2"])
    loss, dscores = softmax_loss(scores, y)
    da, grads["W2"], grads["b2"] = affine_backward(dscores, c2)
    dh = relu_backward(da, cr)
    if use_bn:
        dh, grads["gamma"], grads["beta"] = batchnorm_backward_alt(dh, cbn)
    _, grads["W1"], grads["b1"] = affine_backward(dh, c1)
    return float(loss), grads
    ### END SOLUTION


def mlp_predict(params, X, use_bn, running_mean=None, running_var=None):
    '''Class scores (N, 10) in evaluation mode.'''
    ### BEGIN SOLUTION
    h, _ = affine_forward(X, params["W1"], params["b1"])
    if use_bn:
        h, _ = batchnorm_forward(h, params["gamma"], params["beta"], running_mean, running_var, False)
    a, _ = relu_forward(h)
    return affine_forward(a, params["W2"], params["b2"])[0]
    ### END SOLUTION


# %%
# Self-check: numerical gradients of the loss, with and without batch norm.
Xs, ys = rng.standard_normal((6, 5)), np.array([0, 1, 2, 1, 0, 2])
p0 = init_mlp(5, 4, 3, seed=1)
p0["gamma"], p0["beta"] = rng.uniform(0.5, 2, 4), rng.standard_normal(4)
for use_bn in (False, True):
    loss, grads = mlp_loss(p0, Xs, ys, use_bn, np.zeros(4), np.ones(4))
    assert set(grads) == ({"W1", "b1", "W2", "b2"} | ({"gamma", "beta"} if use_bn else set())), sorted(grads)
    for key in grads:
        def f(v, key=key):
            changed = dict(p0, **{key: v})
            return np.array(mlp_loss(changed, Xs, ys, use_bn, np.zeros(4), np.ones(4))[0])
        num = numeric_grad(f, p0[key].copy(), np.array(1.0))
        # (with batch norm, b1's gradient is exactly 0: the mean subtraction cancels the bias)
        err = rel_error(grads[key], num) if np.abs(num).max() > 1e-8 else np.abs(grads[key]).max()
        assert err < 1e-6, (use_bn, key, err)
    print(f"use_bn={use_bn}: loss {loss:.4f}, every gradient matches its numerical gradient")
print("D1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_mlp_loss", "locked": true, "points": 8, "schema_version": 3, "solution": false}
# D1 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
from cnncourse.grading import assert_array_close, call_student, check_scalar, secret_seed

_rng = _np.random.default_rng(secret_seed(51))
for _label, _n, _d, _h, _k, _use_bn in [("with batch norm", 12, 7, 5, 4, True), ("without batch norm", 9, 6, 4, 3, False),
                                        ("with batch norm, batch of 2", 2, 5, 3, 3, True)]:
    _p = {"W1": _rng.standard_normal((_d, _h)), "b1": _rng.standard_normal(_h), "gamma": _rng.uniform(0.5, 2, _h),
          "beta": _rng.standard_normal(_h), "W2": _rng.standard_normal((_h, _k)), "b2": _rng.standard_normal(_k)}
    _X, _y = _rng.standard_normal((_n, _d)), _rng.integers(0, _k, _n)
    _sm, _sv = _rng.standard_normal(_h), _rng.uniform(0.5, 2, _h)
    # the oracle: torch autograd (F.batch_norm with torch's running-statistics update)
    _t = {k: _torch.tensor(v, requires_grad=True) for k, v in _p.items()}
    _tm, _tv = _torch.tensor(_sm), _torch.tensor(_sv)
    _hid = _torch.tensor(_X) @ _t["W1"] + _t["b1"]
    if _use_bn:
        _hid = _torch.nn.functional.batch_norm(_hid, _tm, _tv, _t["gamma"], _t["beta"], training=True, momentum=0.1, eps=1e-5)
    _loss = _torch.nn.functional.cross_entropy(_torch.relu(_hid) @ _t["W2"] + _t["b2"], _torch.tensor(_y))
    _loss.backward()
    _got = call_student(mlp_loss, _p, _X, _y, _use_bn, running_mean=_sm, running_var=_sv, forbidden=("a2_batchnorm",),
                        timeout=10, allow_inplace=("running_mean", "running_var"))
    assert isinstance(_got, tuple) and len(_got) == 2 and isinstance(_got[1], dict), "mlp_loss must return (loss, grads dict)"
    _what = f"{_label}: X ({_n}, {_d}), H={_h}, {_k} classes"
    _loss_got = _got[0]
    if type(_loss_got) is _np.ndarray and _loss_got.size == 1:   # a numpy scalar may arrive as a 1-element array
        _loss_got = float(_loss_got.reshape(-1)[0])
    check_scalar(_loss_got, _loss.item(), name=f"loss ({_what})",
                 hints={"values": "affine -> batch norm (training mode) -> ReLU -> affine -> mean softmax cross-entropy"})
    _keys = {"W1", "b1", "W2", "b2"} | ({"gamma", "beta"} if _use_bn else set())
    assert set(_got[1]) == _keys, f"grads ({_what}) has the keys {sorted(_got[1])}, expected {sorted(_keys)}"
    for _key in sorted(_keys):
        assert_array_close(_got[1][_key], _t[_key].grad.numpy(), name=f"grads[{_key!r}] ({_what})",
                           hints={"values": "backpropagate through every layer in reverse order, using the batch norm backward "
                                            "between the ReLU and the first affine layer"})
    if _use_bn:
        assert_array_close(_sm, _tm.numpy(), name=f"running_mean after mlp_loss ({_what})",
                           hints={"values": "pass running_mean/running_var to batchnorm_forward, which updates them in place"})
        assert_array_close(_sv, _tv.numpy(), name=f"running_var after mlp_loss ({_what})")
_scores = call_student(mlp_predict, _p, _X, True, running_mean=_sm, running_var=_sv, forbidden=("a2_batchnorm",), timeout=10)
with _torch.no_grad():
    _hid = _torch.nn.functional.batch_norm(_torch.tensor(_X) @ _t["W1"] + _t["b1"], _tm, _tv, _t["gamma"], _t["beta"], training=False)
    _want = (_torch.relu(_hid) @ _t["W2"] + _t["b2"]).numpy()
assert_array_close(_scores, _want, name=f"scores of mlp_predict (X ({_X.shape[0]}, {_X.shape[1]}), evaluation mode)",
                   hints={"values": "mlp_predict runs batch norm in EVALUATION mode, with the running statistics"})
### END HIDDEN TESTS

# %% [markdown]
# ### D2. Training (7 points)
#
# `train_mlp(X, y, lr, use_bn, epochs=10, batch_size=64, hidden=64, seed=0)` trains the network with
# plain stochastic gradient descent (`param -= lr * grad` for every gradient of `mlp_loss`):
# parameters from `init_mlp(X.shape[1], hidden, 10, seed)`, running statistics starting at
# `running_mean = 0`, `running_var = 1` (shape `(hidden,)`), and in every epoch the samples in the
# order of `rng.permutation(len(X))` (one `rng = np.random.default_rng(seed)` for the whole run), cut
# into `len(X) // batch_size` full batches (the incomplete last batch is dropped). Return a dict with
# `"params"`, `"running_mean"`, `"running_var"` and `"losses"` (the loss of every step, in order).

# %% nbgrader={"grade": false, "grade_id": "train_mlp_impl", "locked": false, "schema_version": 3, "solution": true}
def train_mlp(X, y, lr, use_bn, epochs=10, batch_size=64, hidden=64, seed=0):
    '''SGD on the two-layer network -> {"params", "running_mean", "running_var", "losses"}.'''
    ### BEGIN SOLUTION
    params = init_mlp(X.shape[1], hidden, 10, seed)
    running_mean, running_var = np.zeros(hidden), np.ones(hidden)
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(epochs):
        order = rng.permutation(len(X))
        for start in range(0, len(X) // batch_size * batch_size, batch_size):
            idx = order[start:start + batch_size]
            loss, grads = mlp_loss(params, X[idx], y[idx], use_bn, running_mean, running_var)
            for key, grad in grads.items():
                params[key] -= lr * grad
            losses.append(loss)
    return {"params": params, "running_mean": running_mean, "running_var": running_var, "losses": np.array(losses)}
    ### END SOLUTION


# %%
# The digits (the images of cnncourse.data.load_digits, from scikit-learn), 80 % / 20 % split.
from sklearn.datasets import load_digits as sklearn_digits

digits = sklearn_digits()
X_all, y_all = digits.data / 16.0, digits.target            # (1797, 64) in [0, 1], labels 0..9
order = np.random.default_rng(0).permutation(len(X_all))
X_train, y_train = X_all[order[:1438]], y_all[order[:1438]]
X_test, y_test = X_all[order[1438:]], y_all[order[1438:]]


def accuracy(run, X, y, use_bn):
    scores = mlp_predict(run["params"], X, use_bn, run["running_mean"], run["running_var"])
    return float(np.mean(scores.argmax(axis=1) == y))


# Self-check: a short run with batch norm learns.
run = train_mlp(X_train, y_train, 0.5, True, epochs=3)
print(f"3 epochs with batch norm, lr 0.5: loss {run['losses'][0]:.3f} -> {run['losses'][-1]:.3f}, "
      f"test accuracy {accuracy(run, X_test, y_test, True):.3f}")
assert len(run["losses"]) == 3 * (1438 // 64) and accuracy(run, X_test, y_test, True) > 0.85
print("D2 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_train_mlp", "locked": true, "points": 7, "schema_version": 3, "solution": false}
# D2 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from cnncourse.data import load_digits as _load_digits
from cnncourse.grading import call_student
from cnncourse.layers import batchnorm_forward as _ref_bn

_train, _test = _load_digits()
_Xtr, _ytr = _train.images.reshape(len(_train.images), -1).astype(_np.float64), _train.labels
_Xte, _yte = _test.images.reshape(len(_test.images), -1).astype(_np.float64), _test.labels
for _use_bn, _lr, _epochs, _need in [(True, 1.0, 6, 0.9), (False, 0.1, 6, 0.85)]:
    _run = call_student(train_mlp, _Xtr, _ytr, _lr, _use_bn, epochs=_epochs, batch_size=50, hidden=32, seed=3,
                        forbidden=("a2_batchnorm",), timeout=60)
    _what = f"train_mlp(digits, lr={_lr}, use_bn={_use_bn}, epochs={_epochs}, batch_size=50, hidden=32)"
    assert isinstance(_run, dict) and {"params", "running_mean", "running_var", "losses"} <= set(_run), (
        f"{_what} must return a dict with the keys params, running_mean, running_var, losses")
    _losses = _np.asarray(_run["losses"], dtype=float)
    assert _losses.shape == (_epochs * (len(_Xtr) // 50),), (
        f"{_what}: {_losses.size} losses, expected {_epochs * (len(_Xtr) // 50)}: one per step, "
        f"{len(_Xtr) // 50} full batches per epoch (drop the incomplete last batch)")
    assert _np.isfinite(_losses).all() and _losses[-20:].mean() < 0.5 * _losses[:5].mean(), (
        f"{_what}: the loss went from {_losses[:5].mean():.3f} (first steps) to {_losses[-20:].mean():.3f} (last steps): "
        "it should at least halve; check the update param -= lr * grad for every gradient")
    # accuracy on held-out digits, computed here with the returned parameters and running statistics
    _P = _run["params"]
    _hid = _Xte @ _P["W1"] + _P["b1"]
    if _use_bn:
        _hid, _ = _ref_bn(_hid, _P["gamma"], _P["beta"], _np.asarray(_run["running_mean"], float).copy(),
                          _np.asarray(_run["running_var"], float).copy(), False)
    _acc = float(_np.mean((_np.maximum(_hid, 0) @ _P["W2"] + _P["b2"]).argmax(axis=1) == _yte))
    assert _acc >= _need, (f"{_what}: test accuracy {_acc:.3f} with the returned parameters and running statistics, "
                           f"expected at least {_need}" + (": are the running statistics updated during training "
                                                           "(they normalize at test time)?" if _use_bn else ""))
### END HIDDEN TESTS

# %% [markdown]
# ### The experiment: with and without batch norm at several learning rates
#
# Run it (a few seconds) and look at the curves: the training loss of every run (smoothed over 20
# steps) and the test accuracy against the learning rate.

# %%
learning_rates = [0.01, 0.1, 0.5, 2.0, 5.0]
curves, test_acc = {}, {}
with np.errstate(all="ignore"):                              # diverging runs overflow: that is the point
    for use_bn in (False, True):
        for lr in learning_rates:
            run = train_mlp(X_train, y_train, lr, use_bn, epochs=10)
            curves[use_bn, lr] = run["losses"]
            test_acc[use_bn, lr] = accuracy(run, X_test, y_test, use_bn)

fig, axes = plt.subplots(1, 3, figsize=(14, 4))
colors = plt.cm.viridis(np.linspace(0, 0.9, len(learning_rates)))
smooth = lambda v: np.convolve(v, np.ones(20) / 20, mode="valid")
for ax, use_bn in zip(axes[:2], (False, True)):
    for color, lr in zip(colors, learning_rates):
        ax.plot(smooth(curves[use_bn, lr]), color=color, label=f"lr {lr:g}")
    ax.set(title="with batch norm" if use_bn else "without batch norm", xlabel="SGD step", ylabel="training loss (smoothed)",
           yscale="log", ylim=(0.005, 10))
    ax.legend()
for use_bn, marker in ((False, "o"), (True, "s")):
    axes[2].plot(learning_rates, [test_acc[use_bn, lr] for lr in learning_rates], marker=marker,
                 label="with batch norm" if use_bn else "without batch norm")
axes[2].set(xscale="log", xlabel="learning rate", ylabel="test accuracy after 10 epochs", ylim=(0, 1.02),
            title="test accuracy")
axes[2].legend()
plt.tight_layout()
plt.show()
for use_bn in (False, True):
    print(("with    " if use_bn else "without ") + "batch norm: " +
          ", ".join(f"lr {lr:g}: {test_acc[use_bn, lr]:.3f}" for lr in learning_rates))

# %% [markdown]
# ### D3. What the experiment shows (5 points, graded by hand)
#
# In three to six sentences, using your plot: at which learning rates does the network without batch
# norm fail, and what happens to its loss? What does batch norm change, and why does normalizing the
# activations of the hidden layer allow larger steps (think of what a large update of `W1` does to the
# inputs of the ReLU with and without batch norm)? Why must the network use the running statistics,
# and not the batch statistics, when it classifies a single test image?

# %% [markdown] nbgrader={"grade": true, "grade_id": "q_bn_learning_rates", "locked": false, "points": 5, "schema_version": 3, "solution": true}
# Without batch norm the network trains up to lr 0.5 but fails at lr 2 and 5: after the first large
# steps the loss is stuck at about 2.3 = ln 10 and the test accuracy at chance (0.10). One large
# update of `W1`, `b1` pushes the pre-activations of (almost) every hidden unit below 0: the ReLUs
# die, no gradient reaches the first layer any more and the network outputs the same scores for every
# image. With batch norm every learning rate trains (lr 0.5 to 5 best, about 0.97 to 0.99 test
# accuracy), and it also helps at lr 0.01. Batch norm re-centres and re-scales the pre-activations
# after every update, so half of them stay positive whatever the step did to `W1` (the output does
# not depend on the scale of `W1`, and the gradient with respect to `W1` shrinks as `W1` grows): a
# large step cannot kill the layer or blow its activations up. A single test image has no batch to take statistics from (and its prediction must not depend
# on the other images), so evaluation uses the population estimates kept during training.

# %% [markdown]
# **Before you submit:** Kernel → Restart & Run All, and check that every self-check prints "passed".
