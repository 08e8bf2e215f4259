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
# # Assignment 5 — Face verification: metric learning and open-set evaluation
#
# In this assignment you implement, in PyTorch, the tools of lecture 9: distance matrices between
# embeddings, the contrastive (DeepID2) and triplet (FaceNet) losses, batch-all and batch-hard triplet
# mining, the ArcFace margin head, and the evaluation of a verifier (ROC curve, AUC, the threshold and
# TAR at a target FAR) and of a re-identification system (the CMC curve). Then you train a small
# embedding CNN on the training identities of the offline identity dataset and verify pairs of
# identities it has **never seen** (open set).
#
# **How you are graded.** Write your code where it says `# YOUR CODE HERE` (delete the
# `raise NotImplementedError()`). After each exercise there is a *self-check* cell you can run, then a
# locked *test* cell. The test cells contain hidden tests that run when your notebook is graded: they
# compare your functions with reference implementations (and with `torch.nn.TripletMarginLoss`,
# `torch.nn.functional.pairwise_distance` and scikit-learn's ROC) on many random batches, including
# degenerate ones (an identity with a single sample, all-equal embeddings, ties in the scores), in
# float32 and float64, on the CPU and on a GPU when the grading machine has one. While your functions
# run during grading, the shortcuts that would turn an exercise into one call are disabled:
# `torch.cdist`, `torch.nn.functional.pairwise_distance`, `cosine_similarity`, `triplet_margin_loss`,
# `torch.nn.TripletMarginLoss` and the other built-in embedding losses, `scipy.spatial.distance`,
# `sklearn.metrics.roc_curve` / `roc_auc_score` / `pairwise_distances`, and the `cnncourse.verification`
# references. Write your own network and training loop too: using the library's `EmbeddingNet` or
# `train_embedding` is flagged for the instructor.
# The final score of your network is computed **by the grader**, on identities generated from a seed
# that only the grader knows. Before submitting, run **Kernel → Restart & Run All**.
#
# **Rules for every function** (the hidden tests check them):
# - vectorized torch code, no Python loops over samples or pairs (the hidden tests use batches of a
#   few hundred), and **device-agnostic**: results live on the input's device (`x.device`) with the
#   input's floating dtype (`x.dtype`); create new tensors with `device=x.device, dtype=x.dtype`;
# - do not modify the inputs; losses stay **differentiable** (no `.item()`, `.numpy()` or
#   `torch.no_grad()` inside them) and their gradient is finite everywhere, also at zero distance.
#
# | Part | Exercise | Points |
# |---|---|---|
# | A. Distances | A1 pairwise distance matrix: squared and plain L2, cosine (10) | 10 |
# | B. Pair and triplet losses | B1 contrastive loss (8), B2 triplet loss (8) | 16 |
# | C. Triplet mining | C1 batch all (10), C2 batch hard (10) | 20 |
# | D. Angular margin | D1 ArcFace logits (8) | 8 |
# | E. Evaluation | E1 ROC curve (8), E2 AUC (5), E3 threshold and TAR at a target FAR (7), E4 CMC curve (6) | 26 |
# | F. Open-set verification | F1 embedding network, graded on unseen identities (15), F2 your TAR@FAR report (5) | 20 |
# | | **Total** | **100** |
#
# Conventions (as in lecture 9 and in PyTorch): embeddings are rows, `x` of shape `(N, D)`; identity
# labels are integer tensors `(N,)`; a verification score is a *similarity* (higher = more likely the
# same identity); for distances pass `-distance`.

# %%
import math
import time

import numpy as np
import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_printoptions(precision=4, sci_mode=False)
device = "cuda" if torch.cuda.is_available() else "cpu"


def loss_and_grad(loss_fn, *inputs, **options):
    '''loss_fn(*inputs, **options) and its gradient with respect to the first input.

    The hidden tests use it to check that your losses are differentiable and have finite gradients
    (it only calls your function and torch's autograd: keep it as it is).
    '''
    x = inputs[0].detach().clone().requires_grad_(True)
    loss = loss_fn(x, *inputs[1:], **options)
    loss.sum().backward()
    return loss.detach(), x.grad


# %% [markdown]
# ## Part A — Distances
#
# ### A1. Pairwise distance matrix (10 points)
#
# `pairwise_distances(x, y=None, *, metric="euclidean", squared=False)` returns the `(N, M)` matrix of
# distances between the rows of `x` `(N, D)` and the rows of `y` `(M, D)`:
#
# - `metric="euclidean"`: `d[i, j] = ||x_i - y_j||_2`, or its square `||x_i - y_j||_2^2` with
#   `squared=True` (FaceNet's distance);
# - `metric="cosine"`: `d[i, j] = 1 - cos(x_i, y_j)`, where each row is divided by
#   `max(||row||, 1e-8)` (as `torch.nn.functional.normalize`, so a zero row gives `cos = 0`, not NaN);
#   `squared=True` with the cosine metric is a `ValueError`.
#
# `y=None` means `y = x`: the within-batch matrix of triplet mining, whose **diagonal is exactly 0**
# for both metrics. Compute the Euclidean distances from the differences `x[:, None, :] - y[None, :, :]`
# (shape `(N, M, D)`), not from the expansion `||x||^2 + ||y||^2 - 2 x.y`: that expansion loses all
# precision for nearly equal rows (a rounding error of `1e-16` in the square becomes `1e-8` after the
# square root). The gradient of the plain distance at zero distance must be 0, not NaN:
# `torch.sqrt` has an infinite derivative at 0, so take the square root only where the squared
# distance is positive (`torch.where`, twice: also feed `sqrt` a harmless value where it is 0).

# %% nbgrader={"grade": false, "grade_id": "pairwise_distances_impl", "locked": false, "schema_version": 3, "solution": true}
def safe_sqrt(t):
    '''sqrt(t) for t >= 0 whose gradient at t == 0 is 0 instead of inf/NaN.'''
    ### BEGIN SOLUTION
    zero = t <= 0
    return torch.where(zero, torch.zeros_like(t), torch.sqrt(torch.where(zero, torch.ones_like(t), t)))
    ### END SOLUTION


def pairwise_distances(x, y=None, *, metric="euclidean", squared=False):
    '''x (N, D), y (M, D) or None (y = x) -> (N, M) distances, on x's device and dtype.'''
    ### BEGIN SOLUTION
    if metric not in ("euclidean", "cosine"):
        raise ValueError(f"metric must be 'euclidean' or 'cosine', got {metric!r}")
    other = x if y is None else y
    if metric == "cosine":
        if squared:
            raise ValueError("squared=True is only defined for metric='euclidean'")
        xn = x / x.norm(dim=1, keepdim=True).clamp_min(1e-8)          # (N, D) unit rows
        yn = other / other.norm(dim=1, keepdim=True).clamp_min(1e-8)  # (M, D)
        d = 1.0 - xn @ yn.T                                           # (N, M)
    else:
        diff = x[:, None, :] - other[None, :, :]                      # (N, M, D)
        d2 = (diff * diff).sum(-1)                                    # (N, M)
        d = d2 if squared else safe_sqrt(d2)
    if y is None:
        d = d * (1 - torch.eye(x.shape[0], dtype=x.dtype, device=x.device))  # exact zeros on the diagonal
    return d
    ### END SOLUTION


# %%
# Self-check (not graded): a 3-4-5 triangle, the squared distance, the cosine and a zero row.
x = torch.tensor([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]], dtype=torch.float64)
d = pairwise_distances(x)
print(d)
assert d.shape == (3, 3) and d.dtype == torch.float64
assert torch.allclose(d, torch.tensor([[0.0, 5, 10], [5, 0, 5], [10, 5, 0]], dtype=torch.float64))
assert torch.allclose(pairwise_distances(x, squared=True), d ** 2)
assert torch.allclose(pairwise_distances(x[1:], x[:1]), torch.tensor([[5.0], [10.0]], dtype=torch.float64))
dc = pairwise_distances(x, metric="cosine")
assert torch.allclose(dc, torch.tensor([[0.0, 1, 1], [1, 0, 0], [1, 0, 0]], dtype=torch.float64)), dc
assert torch.all(torch.diagonal(pairwise_distances(torch.ones(4, 3))) == 0)
g = loss_and_grad(lambda z: pairwise_distances(z).sum(), torch.ones(3, 2))[1]
assert torch.isfinite(g).all(), "the gradient of the distance at 0 must be 0, not NaN"
try:
    pairwise_distances(x, metric="cosine", squared=True)
except ValueError as e:
    print("raised as expected:", e)
else:
    raise AssertionError("squared=True with metric='cosine' must raise a ValueError")
print("A1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_pairwise_distances", "locked": true, "points": 10, "schema_version": 3, "solution": false}
# A1 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.grading.devices import available_devices as _devices
from cnncourse.verification import pairwise_distances as _ref_pd

_rng = _np.random.default_rng(secret_seed(21))
_hints = {"values": "euclidean: ||x_i - y_j|| from the differences (squared=True: no square root); cosine: 1 - x_i.y_j "
                    "/ (max(||x_i||, 1e-8) max(||y_j||, 1e-8)); with y=None the diagonal is exactly 0",
          "finite": "a zero row must give cos = 0 (divide by max(norm, 1e-8)), and the gradient of sqrt at 0 must be 0",
          "device": "create new tensors with device=x.device, dtype=x.dtype"}
for _dev in _devices():
    _cases = []
    for _label, (_n, _m, _d), _dt in [("random", (int(_rng.integers(2, 9)), int(_rng.integers(1, 8)), int(_rng.integers(1, 6))), _torch.float64),
                                      ("float32", (7, 5, 4), _torch.float32), ("one row", (1, 3, 2), _torch.float64)]:
        _x = _torch.tensor(_rng.standard_normal((_n, _d)), dtype=_dt, device=_dev)
        _cases.append((_label, _x, _torch.tensor(_rng.standard_normal((_m, _d)), dtype=_dt, device=_dev)))
        _cases.append((_label + ", y=None", _x, None))
    _near = _torch.tensor(_rng.standard_normal((1, 5)), dtype=_torch.float64, device=_dev).repeat(4, 1) * 30
    _near[1] += 1e-7                                       # nearly equal rows far from the origin
    _cases.append(("all-equal rows (and one 1e-7 away)", _near, _near[:3].clone()))
    _cases.append(("all-equal rows, y=None", _near, None))
    _zero = _torch.tensor(_rng.standard_normal((4, 3)), device=_dev)
    _zero[2] = 0.0
    _cases.append(("a zero row, y=None", _zero, None))
    for _label, _x, _y in _cases:
        for _kw in ({}, {"squared": True}, {"metric": "cosine"}):
            _what = f"pairwise_distances(x {tuple(_x.shape)}, " + ("y=None" if _y is None else f"y {tuple(_y.shape)}") + \
                f", {_kw}) [{_label}, {_x.dtype}, {_dev}]".replace("{}", "defaults")
            _got = call_student(pairwise_distances, _x, _y, **_kw, forbidden=("a5_faces",), timeout=10)
            assert_array_close(_got, _ref_pd(_x, _y, **_kw), name=_what, hints=_hints)
            if _y is None:
                assert bool((_torch.diagonal(_got) == 0).all()), f"{_what}: the diagonal must be exactly 0"
    # the independent oracle: torch's row-wise distance of each pair (x_i, y_j)
    _x, _y = _torch.tensor(_rng.standard_normal((6, 3)), device=_dev), _torch.tensor(_rng.standard_normal((5, 3)), device=_dev)
    _want = _torch.nn.functional.pairwise_distance(_x[:, None, :], _y[None, :, :], eps=0.0)
    assert_array_close(call_student(pairwise_distances, _x, _y, forbidden=("a5_faces",), timeout=10), _want,
                       name=f"pairwise_distances(x (6, 3), y (5, 3)) vs torch.nn.functional.pairwise_distance [{_dev}]")
    # the gradient at zero distance is 0, not NaN
    _e = _torch.tensor(_rng.standard_normal((1, 4)), device=_dev).repeat(3, 1)
    _, _g = call_student(loss_and_grad, pairwise_distances, _e, forbidden=("a5_faces",), timeout=10)
    assert_array_close(_g, _torch.zeros_like(_e), name=f"gradient of pairwise_distances(x).sum() for 3 equal rows [{_dev}]",
                       hints={"finite": "sqrt has an infinite derivative at 0: take the root only where the squared distance "
                                        "is > 0 (torch.where), so that the gradient at zero distance is 0"})
try:
    call_student(pairwise_distances, _x, metric="cosine", squared=True, forbidden=("a5_faces",), timeout=10)
except ValueError:
    pass
else:
    raise AssertionError("pairwise_distances(x, metric='cosine', squared=True) should raise ValueError")
### END HIDDEN TESTS

# %% [markdown]
# ## Part B — Pair and triplet losses
#
# ### B1. Contrastive loss (8 points)
#
# DeepID2's verification loss on pairs `(x1_i, x2_i)` with `d_i = ||x1_i - x2_i||_2` and
# `same_i = 1` when the pair shows one identity (lecture 9, the slide's piecewise formula):
#
# $$L_i = \tfrac12 d_i^2 \ \text{ if same}_i = 1, \qquad L_i = \tfrac12 \max(0, \text{margin} - d_i)^2 \ \text{ if same}_i = 0 .$$
#
# The margin is compared with the **plain** distance. `same` is a bool or 0/1 integer tensor `(N,)`.
# `reduction` is `"mean"` (over the `N` pairs, the default), `"sum"` or `"none"` (the `(N,)` losses),
# as in `torch.nn`. A different-identity pair with `d = 0` must have a finite gradient (0, see A1).

# %% nbgrader={"grade": false, "grade_id": "contrastive_loss_impl", "locked": false, "schema_version": 3, "solution": true}
def reduce_loss(loss, reduction):
    '''Apply "mean", "sum" or "none" to per-sample losses (N,).'''
    ### BEGIN SOLUTION
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean()
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    ### END SOLUTION


def contrastive_loss(x1, x2, same, *, margin=1.0, reduction="mean"):
    '''x1, x2 (N, D), same (N,) bool or 0/1 -> DeepID2 loss (scalar, or (N,) for reduction="none").'''
    ### BEGIN SOLUTION
    diff = x1 - x2                                                    # (N, D)
    d2 = (diff * diff).sum(1)                                         # (N,)
    d = safe_sqrt(d2)
    loss = torch.where(same.to(x1.device).bool(), 0.5 * d2, 0.5 * torch.relu(margin - d) ** 2)
    return reduce_loss(loss, reduction)
    ### END SOLUTION


# %%
# Self-check: the example of the lecture.
x1 = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
x2 = torch.tensor([[0.6, 0.8], [0.3, 0.4], [1.0, 1.0]])
per_pair = contrastive_loss(x1, x2, torch.tensor([1, 0, 0]), margin=1.0, reduction="none")
print(per_pair)
assert torch.allclose(per_pair, torch.tensor([0.5, 0.125, 0.5])), per_pair
assert torch.allclose(contrastive_loss(x1, x2, torch.tensor([True, False, False])), per_pair.mean())
assert torch.allclose(contrastive_loss(x1, x2, torch.tensor([1, 0, 0]), margin=2.0, reduction="sum"),
                      torch.tensor(0.5 + 0.5 * 1.5 ** 2 + 2.0))
_, g = loss_and_grad(contrastive_loss, x1, x2, torch.tensor([1, 0, 0]))
assert torch.isfinite(g).all(), "a different pair at distance 0 must have a finite gradient"
print("B1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_contrastive_loss", "locked": true, "points": 8, "schema_version": 3, "solution": false}
# B1 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.grading.devices import available_devices as _devices
from cnncourse.verification import contrastive_loss as _ref_cl

_0d = lambda t, w: t.reshape(()) if (isinstance(t, _torch.Tensor) and w.dim() == 0 and tuple(t.shape) == (1,)) else t  # 0-d tensors cross the grading wire as (1,)

_rng = _np.random.default_rng(secret_seed(22))
_hints = {"values": "same pairs: 0.5 d^2; different pairs: 0.5 max(0, margin - d)^2 with the PLAIN distance d; "
                    "reduction 'mean' averages over all N pairs",
          "finite": "at d = 0 the gradient of sqrt is infinite: take the root only where d^2 > 0 (see A1)"}
for _dev in _devices():
    for _label, _n, _dt, _margin in [("random", int(_rng.integers(3, 12)), _torch.float64, 1.0),
                                     ("float32, margin 2", 9, _torch.float32, 2.0), ("one pair", 1, _torch.float64, 0.5)]:
        _x1 = _torch.tensor(_rng.standard_normal((_n, 4)) * 0.6, dtype=_dt, device=_dev)
        _x2 = _torch.tensor(_rng.standard_normal((_n, 4)) * 0.6, dtype=_dt, device=_dev)
        _x2[0] = _x1[0]                                    # a pair at distance 0
        _same = _torch.tensor(_rng.integers(0, 2, _n), device=_dev)
        _same[0] = 0                                       # ... of different identities
        for _same_in in (_same, _same.bool()):
            for _red in ("mean", "sum", "none"):
                _what = f"contrastive_loss(x1 {tuple(_x1.shape)}, same {_same_in.dtype}, margin={_margin}, reduction={_red!r}) [{_label}, {_dev}]"
                _got = call_student(contrastive_loss, _x1, _x2, _same_in, margin=_margin, reduction=_red,
                                    forbidden=("a5_faces",), timeout=10)
                _want = _ref_cl(_x1, _x2, _same_in, margin=_margin, reduction=_red)
                assert_array_close(_0d(_got, _want), _want, name=_what, hints=_hints)
        _got, _g = call_student(loss_and_grad, contrastive_loss, _x1, _x2, _same, margin=_margin, forbidden=("a5_faces",), timeout=10)
        _xg = _x1.detach().clone().requires_grad_(True)
        _ref_cl(_xg, _x2, _same, margin=_margin).backward()
        assert_array_close(_g, _xg.grad, name=f"gradient of contrastive_loss w.r.t. x1 [{_label}, {_dev}]", hints=_hints)
### END HIDDEN TESTS

# %% [markdown]
# ### B2. Triplet loss (8 points)
#
# FaceNet's loss on triplets (anchor, positive of the same identity, negative of another), with
# `d_ap = d(a_i, p_i)` and `d_an = d(a_i, n_i)`:
#
# $$L_i = [\,d_{ap} - d_{an} + \alpha\,]_+ = \max(0,\ d_{ap} - d_{an} + \alpha).$$
#
# Conventions: `squared=True` (the default, FaceNet) uses **squared** L2 distances, `squared=False`
# plain L2 distances — then `triplet_loss(a, p, n, margin=m, squared=False)` equals
# `torch.nn.TripletMarginLoss(margin=m, eps=0)(a, p, n)` (torch's default `eps=1e-6` is added to the
# differences; you add nothing). Default `margin=0.2`, FaceNet's alpha; `reduction` as in B1 (`"mean"`
# over the `N` triplets by default; the slide's `sum_i` is `reduction="sum"`).

# %% nbgrader={"grade": false, "grade_id": "triplet_loss_impl", "locked": false, "schema_version": 3, "solution": true}
def triplet_loss(anchor, positive, negative, *, margin=0.2, squared=True, reduction="mean"):
    '''anchor, positive, negative (N, D) -> FaceNet triplet loss (scalar, or (N,) for "none").'''
    ### BEGIN SOLUTION
    dp, dn = anchor - positive, anchor - negative                    # (N, D)
    d_ap, d_an = (dp * dp).sum(1), (dn * dn).sum(1)                   # (N,) squared distances
    if not squared:
        d_ap, d_an = safe_sqrt(d_ap), safe_sqrt(d_an)
    return reduce_loss(torch.relu(d_ap - d_an + margin), reduction)
    ### END SOLUTION


# %%
# Self-check: an easy, a semi-hard and a hard triplet.
a = torch.zeros(3, 2)
p = torch.tensor([[0.0, 0.5], [0.0, 0.5], [0.0, 1.0]])
n = torch.tensor([[1.0, 1.0], [0.0, 0.6], [0.0, 0.5]])
print(triplet_loss(a, p, n, reduction="none"))
assert torch.allclose(triplet_loss(a, p, n, reduction="none"), torch.tensor([0.0, 0.2 - 0.11, 1.0 - 0.25 + 0.2]))
assert torch.allclose(triplet_loss(a, p, n, squared=False, margin=1.0, reduction="sum"),
                      torch.tensor(0.5 - 0.6 + 1.0 + 1.0 - 0.5 + 1.0 + 0.5 - 2 ** 0.5 + 1.0))
print("B2 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_triplet_loss", "locked": true, "points": 8, "schema_version": 3, "solution": false}
# B2 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.grading.devices import available_devices as _devices
from cnncourse.verification import triplet_loss as _ref_tl

_0d = lambda t, w: t.reshape(()) if (isinstance(t, _torch.Tensor) and w.dim() == 0 and tuple(t.shape) == (1,)) else t  # 0-d tensors cross the grading wire as (1,)

_rng = _np.random.default_rng(secret_seed(23))
_hints = {"values": "[d(a, p) - d(a, n) + margin]_+ with SQUARED distances when squared=True (plain L2 when False), "
                    "then the reduction ('mean' over the N triplets)",
          "finite": "at d = 0 the gradient of sqrt is infinite: take the root only where d^2 > 0 (see A1)"}
for _dev in _devices():
    for _label, _n, _dt in [("random", int(_rng.integers(2, 12)), _torch.float64), ("float32", 10, _torch.float32),
                            ("one triplet", 1, _torch.float64)]:
        _a, _p, _ng = (_torch.tensor(_rng.standard_normal((_n, 5)) * 0.4, dtype=_dt, device=_dev) for _ in range(3))
        for _margin in (0.2, float(_rng.uniform(0.5, 2.0))):
            for _sq in (True, False):
                for _red in ("mean", "sum", "none"):
                    _what = f"triplet_loss(a {tuple(_a.shape)}, margin={_margin:.3g}, squared={_sq}, reduction={_red!r}) [{_label}, {_dt}, {_dev}]"
                    _got = call_student(triplet_loss, _a, _p, _ng, margin=_margin, squared=_sq, reduction=_red,
                                        forbidden=("a5_faces",), timeout=10)
                    _want = _ref_tl(_a, _p, _ng, margin=_margin, squared=_sq, reduction=_red)
                    _got = _0d(_got, _want)
                    assert_array_close(_got, _want, name=_what, hints=_hints)
                    if not _sq:   # the independent oracle: torch's loss with eps=0
                        _want = _torch.nn.TripletMarginLoss(margin=_margin, eps=0.0, reduction=_red)(_a, _p, _ng)
                        assert_array_close(_got, _want, name=_what + " vs torch.nn.TripletMarginLoss(eps=0)", hints=_hints)
    # degenerate: all-equal embeddings give exactly the margin; anchor == positive has a finite gradient
    _e = _torch.tensor(_rng.standard_normal((1, 3)), device=_dev).repeat(4, 1)
    for _sq in (True, False):
        _got = call_student(triplet_loss, _e, _e, _e, margin=0.3, squared=_sq, reduction="none", forbidden=("a5_faces",), timeout=10)
        assert_array_close(_got, _torch.full((4,), 0.3, dtype=_e.dtype, device=_dev), name=f"triplet_loss of all-equal embeddings (squared={_sq})")
    _a = _torch.tensor(_rng.standard_normal((5, 3)), device=_dev)
    _ng = _torch.tensor(_rng.standard_normal((5, 3)), device=_dev)
    _got, _g = call_student(loss_and_grad, triplet_loss, _a, _a.clone(), _ng, margin=5.0, squared=False, forbidden=("a5_faces",), timeout=10)
    _xg = _a.clone().requires_grad_(True)
    _ref_tl(_xg, _a, _ng, margin=5.0, squared=False).backward()
    assert_array_close(_g, _xg.grad, name=f"gradient of triplet_loss(squared=False) w.r.t. the anchor when anchor == positive [{_dev}]",
                       hints=_hints)
### END HIDDEN TESTS

# %% [markdown]
# ## Part C — Triplet mining in a batch
#
# In a batch of embeddings `(N, D)` with identity labels `(N,)`, a **valid triplet** `(a, p, n)` has
# `a != p`, `label[a] == label[p]` and `label[n] != label[a]`. Use `pairwise_distances(embeddings,
# squared=squared)` (A1) and masks built by broadcasting the labels; no loops over samples.
#
# ### C1. Batch all (10 points)
#
# `batch_all_triplet_loss(embeddings, labels, *, margin=0.2, squared=True, reduction="mean")`: the hinge
# `[d(a, p) - d(a, n) + margin]_+` of **every** valid triplet (an `(N, N, N)` tensor indexed `[a, p, n]`),
# reduced by
#
# - `"mean"`: the sum divided by the number of valid triplets;
# - `"mean_positive"`: the sum divided by the number of valid triplets whose loss is `> 0` (the easy
#   triplets no longer dilute the average);
# - `"sum"`: the sum.
#
# A batch without valid triplets (one identity, or only single-sample identities) — or, for
# `"mean_positive"`, without a positive loss — gives `0` (a tensor, not NaN).

# %% nbgrader={"grade": false, "grade_id": "batch_all_impl", "locked": false, "schema_version": 3, "solution": true}
def triplet_masks(labels):
    '''labels (N,) -> (positive, negative) bool (N, N): same label and not the same sample; different label.'''
    ### BEGIN SOLUTION
    same = labels[:, None] == labels[None, :]                         # (N, N)
    eye = torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same
    ### END SOLUTION


def batch_all_triplet_loss(embeddings, labels, *, margin=0.2, squared=True, reduction="mean"):
    '''embeddings (N, D), labels (N,) -> scalar: the triplet loss over every valid triplet of the batch.'''
    ### BEGIN SOLUTION
    labels = labels.to(embeddings.device)
    d = pairwise_distances(embeddings, squared=squared)              # (N, N)
    pos, neg = triplet_masks(labels)
    valid = pos[:, :, None] & neg[:, None, :]                         # (N, N, N) indexed [a, p, n]
    loss = torch.relu(d[:, :, None] - d[:, None, :] + margin) * valid
    total = loss.sum()
    if reduction == "sum":
        return total
    if reduction == "mean":
        count = valid.sum()
    elif reduction == "mean_positive":
        count = (loss > 0).sum()
    else:
        raise ValueError(f"reduction must be 'mean', 'mean_positive' or 'sum', got {reduction!r}")
    return total / count.clamp_min(1).to(total.dtype)
    ### END SOLUTION


# %%
# Self-check: four points on a line, two identities (8 valid triplets, losses summing to 1.7).
emb = torch.tensor([[0.0], [0.3], [0.4], [1.0]])
lab = torch.tensor([0, 0, 1, 1])
print(batch_all_triplet_loss(emb, lab, squared=False), batch_all_triplet_loss(emb, lab, squared=False, reduction="mean_positive"))
assert torch.allclose(batch_all_triplet_loss(emb, lab, squared=False), torch.tensor(1.7 / 8))
assert torch.allclose(batch_all_triplet_loss(emb, lab, squared=False, reduction="mean_positive"), torch.tensor(1.7 / 5))
assert torch.allclose(batch_all_triplet_loss(emb, lab, squared=False, reduction="sum"), torch.tensor(1.7))
assert batch_all_triplet_loss(emb, torch.tensor([0, 1, 2, 3])) == 0, "no valid triplet: the loss is 0"
print("C1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_batch_all", "locked": true, "points": 10, "schema_version": 3, "solution": false}
# C1 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.grading.devices import available_devices as _devices
from cnncourse.verification import batch_all_triplet_loss as _ref_ba

_0d = lambda t, w: t.reshape(()) if (isinstance(t, _torch.Tensor) and w.dim() == 0 and tuple(t.shape) == (1,)) else t  # 0-d tensors cross the grading wire as (1,)

_rng = _np.random.default_rng(secret_seed(24))
_hints = {"values": "valid triplets: a != p, label[a] == label[p], label[n] != label[a]; 'mean' divides by the number "
                    "of VALID triplets, 'mean_positive' by the number of valid triplets with a loss > 0",
          "finite": "a batch without valid triplets gives 0: divide by max(count, 1)"}
for _dev in _devices():
    _batches = [("random PK batch 4 x 3", _np.repeat(_rng.permutation(9)[:4], 3), _torch.float64),
                ("random labels, float32", _rng.integers(0, 4, 13), _torch.float32),
                ("an identity with a single sample", _np.array([0, 0, 1, 1, 1, 2, 3, 3]), _torch.float64),
                ("only single-sample identities", _np.arange(5), _torch.float64),
                ("one identity", _np.zeros(4, dtype=_np.int64), _torch.float64)]
    for _label, _lab, _dt in _batches:
        _lab = _torch.tensor(_lab, device=_dev)
        _emb = _torch.tensor(_rng.standard_normal((len(_lab), 3)) * 0.5, dtype=_dt, device=_dev)
        for _sq in (True, False):
            for _red in ("mean", "mean_positive", "sum"):
                _m = float(_rng.choice([0.2, 0.5]))
                _what = f"batch_all_triplet_loss(labels {_lab.tolist()}, margin={_m}, squared={_sq}, reduction={_red!r}) [{_label}, {_dev}]"
                _got = call_student(batch_all_triplet_loss, _emb, _lab, margin=_m, squared=_sq, reduction=_red,
                                    forbidden=("a5_faces",), timeout=10)
                _want = _ref_ba(_emb, _lab, margin=_m, squared=_sq, reduction=_red)
                assert_array_close(_0d(_got, _want), _want, name=_what, hints=_hints)
    _lab = _torch.tensor([0, 0, 1, 1, 2], device=_dev)
    _e = _torch.ones(5, 4, dtype=_torch.float64, device=_dev)
    _got = call_student(batch_all_triplet_loss, _e, _lab, margin=0.3, squared=False, forbidden=("a5_faces",), timeout=10)
    _want = _torch.tensor(0.3, dtype=_torch.float64, device=_dev)
    assert_array_close(_0d(_got, _want), _want, name=f"batch_all_triplet_loss of all-equal embeddings [{_dev}]",
                       hints=_hints)
### END HIDDEN TESTS

# %% [markdown]
# ### C2. Batch hard (10 points)
#
# Hermans et al. (2017): for each anchor only its **hardest positive** (the farthest sample of its
# identity) and its **hardest negative** (the closest sample of another identity):
#
# $$L_a = [\,\max_{p:\ y_p = y_a,\ p \ne a} d(a, p) - \min_{n:\ y_n \ne y_a} d(a, n) + \alpha\,]_+ .$$
#
# Only anchors that have a positive **and** a negative count: `"mean"` averages over them, `"sum"` adds
# them up, and a batch with no such anchor gives `0`. An anchor without a positive (its identity has
# a single sample in the batch) must neither count nor bring an `inf`/NaN into the loss or the gradient
# (masking with `-inf`/`+inf` before `amax`/`amin` is fine, but replace the results of the anchors that
# do not count before the hinge). Gradients flow through the selected distances only.

# %% nbgrader={"grade": false, "grade_id": "batch_hard_impl", "locked": false, "schema_version": 3, "solution": true}
def batch_hard_triplet_loss(embeddings, labels, *, margin=0.2, squared=True, reduction="mean"):
    '''embeddings (N, D), labels (N,) -> scalar: each anchor's hardest positive and hardest negative.'''
    ### BEGIN SOLUTION
    labels = labels.to(embeddings.device)
    d = pairwise_distances(embeddings, squared=squared)              # (N, N)
    pos, neg = triplet_masks(labels)
    inf = torch.full_like(d, float("inf"))
    hardest_pos = torch.where(pos, d, -inf).amax(1)                  # (N,) -inf without a positive
    hardest_neg = torch.where(neg, d, inf).amin(1)                   # (N,) +inf without a negative
    valid = pos.any(1) & neg.any(1)                                   # (N,)
    gap = torch.where(valid, hardest_pos - hardest_neg, torch.zeros_like(hardest_pos))
    loss = (torch.relu(gap + margin) * valid).sum()
    if reduction == "sum":
        return loss
    if reduction != "mean":
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    return loss / valid.sum().clamp_min(1).to(loss.dtype)
    ### END SOLUTION


# %%
# Self-check: the four points again: (0.1 + 0.4 + 0.7 + 0.1) / 4; a single-sample identity does not count.
print(batch_hard_triplet_loss(emb, lab, squared=False))
assert torch.allclose(batch_hard_triplet_loss(emb, lab, squared=False), torch.tensor(0.325))
emb5, lab5 = torch.cat([emb, torch.tensor([[5.0]])]), torch.tensor([0, 0, 1, 1, 7])
assert torch.allclose(batch_hard_triplet_loss(emb5, lab5, squared=False), torch.tensor(0.325))
_, g = loss_and_grad(batch_hard_triplet_loss, torch.ones(5, 2), lab5, squared=False)
assert torch.isfinite(g).all(), "finite gradients even at zero distance and with a single-sample identity"
print("C2 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_batch_hard", "locked": true, "points": 10, "schema_version": 3, "solution": false}
# C2 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.grading.devices import available_devices as _devices
from cnncourse.verification import batch_hard_triplet_loss as _ref_bh

_0d = lambda t, w: t.reshape(()) if (isinstance(t, _torch.Tensor) and w.dim() == 0 and tuple(t.shape) == (1,)) else t  # 0-d tensors cross the grading wire as (1,)

_rng = _np.random.default_rng(secret_seed(25))
_hints = {"values": "per anchor: the FARTHEST positive (same label, not itself) minus the CLOSEST negative, + margin, "
                    "hinged; 'mean' over the anchors that have a positive AND a negative",
          "finite": "anchors without a positive (single-sample identity) or without a negative must not bring inf/NaN: "
                    "replace their gap by 0 before the hinge and leave them out of the mean"}
for _dev in _devices():
    _batches = [("random PK batch 5 x 3", _np.repeat(_rng.permutation(20)[:5], 3), _torch.float64),
                ("random labels, float32", _rng.integers(0, 4, 14), _torch.float32),
                ("an identity with a single sample", _np.array([3, 3, 1, 1, 1, 5, 2, 2]), _torch.float64),
                ("only single-sample identities", _np.arange(4), _torch.float64),
                ("one identity", _np.zeros(3, dtype=_np.int64), _torch.float64)]
    for _label, _lab, _dt in _batches:
        _lab = _torch.tensor(_lab, device=_dev)
        _emb = _torch.tensor(_rng.standard_normal((len(_lab), 4)) * 0.5, dtype=_dt, device=_dev)
        for _sq in (True, False):
            for _red in ("mean", "sum"):
                _m = float(_rng.choice([0.2, 1.0]))
                _what = f"batch_hard_triplet_loss(labels {_lab.tolist()}, margin={_m}, squared={_sq}, reduction={_red!r}) [{_label}, {_dev}]"
                _got = call_student(batch_hard_triplet_loss, _emb, _lab, margin=_m, squared=_sq, reduction=_red,
                                    forbidden=("a5_faces",), timeout=10)
                _want = _ref_bh(_emb, _lab, margin=_m, squared=_sq, reduction=_red)
                assert_array_close(_0d(_got, _want), _want, name=_what, hints=_hints)
    # gradients, with duplicated embeddings (zero distances) and a single-sample identity
    _lab = _torch.tensor([0, 0, 0, 1, 1, 2], device=_dev)
    _emb = _torch.tensor(_rng.standard_normal((6, 3)), device=_dev)
    _emb[1] = _emb[0]
    for _sq in (True, False):
        _got, _g = call_student(loss_and_grad, batch_hard_triplet_loss, _emb, _lab, margin=0.5, squared=_sq,
                                forbidden=("a5_faces",), timeout=10)
        _xg = _emb.clone().requires_grad_(True)
        _ref_bh(_xg, _lab, margin=0.5, squared=_sq).backward()
        assert_array_close(_g, _xg.grad, name=f"gradient of batch_hard_triplet_loss(squared={_sq}) with two equal embeddings "
                                              f"and a single-sample identity [{_dev}]", hints=_hints)
    _e = _torch.ones(6, 2, dtype=_torch.float64, device=_dev)
    _got = call_student(batch_hard_triplet_loss, _e, _lab, margin=0.3, squared=False, forbidden=("a5_faces",), timeout=10)
    _want = _torch.tensor(0.3, dtype=_torch.float64, device=_dev)
    assert_array_close(_0d(_got, _want), _want, name=f"batch_hard_triplet_loss of all-equal embeddings [{_dev}]",
                       hints=_hints)
### END HIDDEN TESTS

# %% [markdown]
# ## Part D — Angular margin
#
# ### D1. ArcFace logits (8 points)
#
# ArcFace (Deng et al., CVPR 2019) classifies L2-normalised embeddings against L2-normalised class
# weights, so logit `j` is `s cos(theta_j)`, and makes the target class harder by adding an angle `m`:
#
# $$\text{logits}_{ij} = s\cos\theta_{ij} \ (j \ne y_i), \qquad \text{logits}_{i y_i} = s\cos(\theta_{i y_i} + m).$$
#
# `arcface_logits(cosine, labels, *, scale=64.0, margin=0.5)` takes `cosine` `(N, C)` (the
# `cos(theta_ij)`, e.g. `1 - pairwise_distances(embeddings, weights, metric="cosine")`) and the target
# classes `labels` `(N,)`. First clamp `cosine` to `[-1, 1]` (rounding leaves values just outside);
# use `cos(theta + m) = cos(theta) cos(m) - sin(theta) sin(m)` with `sin(theta) = sqrt(1 - cos^2)`
# (`theta` is in `[0, pi]`) — with a finite gradient at `cos = +-1` (see A1). Keep the paper's formula
# also for `theta > pi - m`. Do not modify `cosine`.

# %% nbgrader={"grade": false, "grade_id": "arcface_impl", "locked": false, "schema_version": 3, "solution": true}
def arcface_logits(cosine, labels, *, scale=64.0, margin=0.5):
    '''cosine (N, C), labels (N,) -> (N, C) logits with the additive angular margin on the target class.'''
    ### BEGIN SOLUTION
    cos = cosine.clamp(-1.0, 1.0)                                     # (N, C)
    labels = labels.to(cosine.device).long()
    target = cos.gather(1, labels[:, None])                           # (N, 1)
    sin = safe_sqrt(1.0 - target * target)
    target = target * math.cos(margin) - sin * math.sin(margin)
    onehot = torch.zeros_like(cos, dtype=torch.bool).scatter_(1, labels[:, None], True)
    return torch.where(onehot, target.expand_as(cos), cos) * scale
    ### END SOLUTION


# %%
# Self-check: theta = 0 -> cos(0.5); theta = pi/2 -> cos(pi/2 + 0.5) = -sin(0.5); other classes unchanged.
cos = torch.tensor([[1.0, 0.2], [0.3, 0.0]], dtype=torch.float64)
out = arcface_logits(cos, torch.tensor([0, 1]), scale=10.0)
print(out)
assert torch.allclose(out, torch.tensor([[10 * np.cos(0.5), 2.0], [3.0, -10 * np.sin(0.5)]], dtype=torch.float64))
assert torch.allclose(arcface_logits(cos, torch.tensor([1, 0]), margin=0.0, scale=2.0), 2 * cos), "margin 0: s * cos"
print("D1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_arcface", "locked": true, "points": 8, "schema_version": 3, "solution": false}
# D1 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.grading.devices import available_devices as _devices
from cnncourse.verification import margin_logits as _ref_ml

_rng = _np.random.default_rng(secret_seed(26))
_hints = {"values": "target class: s * cos(theta + m) = s * (cos cos(m) - sin sin(m)) with sin = sqrt(1 - cos^2); "
                    "every other class: s * cos (after clamping cosine to [-1, 1])",
          "finite": "clamp cosine to [-1, 1] before the square root (rounding leaves values like 1 + 1e-7)"}
for _dev in _devices():
    for _label, (_n, _c), _dt in [("random", (int(_rng.integers(2, 9)), int(_rng.integers(2, 7))), _torch.float64),
                                  ("float32", (6, 5), _torch.float32), ("one class", (3, 1), _torch.float64)]:
        _cos = _torch.tensor(_rng.uniform(-1, 1, (_n, _c)), dtype=_dt, device=_dev)
        _cos[0, 0] = 1.0 + 1e-6                            # rounding just outside [-1, 1]
        _cos[-1, -1] = -1.0
        _lab = _torch.tensor(_rng.integers(0, _c, _n), device=_dev)
        _lab[0], _lab[-1] = 0, _c - 1                      # the targets at cos = 1 and cos = -1
        for _s, _m in [(64.0, 0.5), (float(_rng.uniform(5, 30)), float(_rng.uniform(0.1, 0.8)))]:
            _what = f"arcface_logits(cosine {tuple(_cos.shape)}, scale={_s:.3g}, margin={_m:.3g}) [{_label}, {_dev}]"
            _got = call_student(arcface_logits, _cos, _lab, scale=_s, margin=_m, forbidden=("a5_faces",), timeout=10)
            assert_array_close(_got, _ref_ml(_cos, _lab, method="arcface", scale=_s, margin=_m), name=_what, hints=_hints)
        # the oracle with angles: s cos(arccos(c) + m) on the target class (interior values)
        _inner = _cos.clamp(-0.999, 0.999)
        _got = call_student(arcface_logits, _inner, _lab, scale=3.0, margin=0.4, forbidden=("a5_faces",), timeout=10)
        _want = 3.0 * _inner.clone()
        _rows = _torch.arange(_n, device=_dev)
        _want[_rows, _lab] = 3.0 * _torch.cos(_torch.arccos(_inner[_rows, _lab]) + 0.4)
        assert_array_close(_got, _want, name=f"arcface_logits vs s cos(arccos(c) + m) [{_label}, {_dev}]", hints=_hints)
### END HIDDEN TESTS

# %% [markdown]
# ## Part E — Evaluation
#
# A verifier declares a pair "same identity" when its score is **at least** a threshold `t`. For the
# functions of this part, `labels` is a bool or 0/1 tensor `(n,)` (1 = genuine pair, same identity),
# `scores` a float tensor `(n,)`; both classes are present. Rates are **float64** tensors on `scores`'
# device. FAR (false accept rate) = accepted impostor pairs / impostor pairs; TAR (true accept rate) =
# accepted genuine pairs / genuine pairs.
#
# ### E1. ROC curve (8 points)
#
# `roc_curve(labels, scores)` returns `(fpr, tpr, thresholds)`, one point per candidate threshold,
# **decreasing**: first `+inf` (accept nothing: the point `(0, 0)`), then every **distinct** score from
# the highest to the lowest (the last point is `(1, 1)`). `fpr[j]` / `tpr[j]` are the FAR / TAR of
# `score >= thresholds[j]`. `thresholds` has the dtype of `scores`. Tied scores form a single point
# (a threshold cannot separate them). This is `sklearn.metrics.roc_curve(labels, scores,
# drop_intermediate=False)`. Hint: sort by decreasing score, `cumsum` the labels, keep the last
# index of each run of equal scores.

# %% nbgrader={"grade": false, "grade_id": "roc_curve_impl", "locked": false, "schema_version": 3, "solution": true}
def roc_curve(labels, scores):
    '''labels (n,) 0/1 or bool, scores (n,) -> fpr, tpr (T,) float64 and thresholds (T,), decreasing from +inf.'''
    ### BEGIN SOLUTION
    y = labels.to(scores.device).bool()
    order = torch.argsort(scores, descending=True, stable=True)
    s, y = scores[order], y[order]                                    # (n,) by decreasing score
    last = torch.nonzero(s[1:] != s[:-1]).flatten()                  # last index of each run of ties
    idx = torch.cat([last, torch.tensor([s.shape[0] - 1], device=s.device)])
    tps = torch.cumsum(y.to(torch.int64), 0)[idx]
    fps = idx + 1 - tps
    zero = torch.zeros(1, dtype=torch.int64, device=s.device)
    n_pos = int(y.sum())
    fpr = torch.cat([zero, fps]).to(torch.float64) / (y.shape[0] - n_pos)
    tpr = torch.cat([zero, tps]).to(torch.float64) / n_pos
    thresholds = torch.cat([torch.full((1,), float("inf"), dtype=s.dtype, device=s.device), s[idx]])
    return fpr, tpr, thresholds
    ### END SOLUTION


# %%
# Self-check: scikit-learn's example, then ties.
fpr, tpr, thr = roc_curve(torch.tensor([0, 0, 1, 1]), torch.tensor([0.1, 0.4, 0.35, 0.8]))
print(fpr, tpr, thr)
assert torch.allclose(fpr, torch.tensor([0, 0, 0.5, 0.5, 1], dtype=torch.float64)) and fpr.dtype == torch.float64
assert torch.allclose(tpr, torch.tensor([0, 0.5, 0.5, 1, 1], dtype=torch.float64))
assert thr[0] == float("inf") and torch.allclose(thr[1:], torch.tensor([0.8, 0.4, 0.35, 0.1]))
fpr, tpr, thr = roc_curve(torch.tensor([True, False, True, False]), torch.tensor([0.5, 0.5, 0.9, 0.1]))
assert torch.allclose(fpr, torch.tensor([0, 0, 0.5, 1], dtype=torch.float64)), "tied scores form one point"
assert torch.allclose(tpr, torch.tensor([0, 0.5, 1, 1], dtype=torch.float64))
print("E1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_roc_curve", "locked": true, "points": 8, "schema_version": 3, "solution": false}
# E1 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
import sklearn.metrics as _skm
import torch as _torch
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.grading.devices import available_devices as _devices
from cnncourse.verification import roc_curve as _ref_roc

_rng = _np.random.default_rng(secret_seed(27))
_hints = {"values": "one point per DISTINCT score (ties form one point), decreasing thresholds starting at +inf "
                    "(the point (0, 0)); fpr/tpr count the pairs with score >= threshold",
          "shape": "one point for +inf plus one per distinct score: tied scores must form a single point",
          "dtype": "fpr and tpr are float64; thresholds keep the dtype of scores"}
for _dev in _devices():
    _cases = []
    _n = int(_rng.integers(8, 40))
    _cases.append(("random", _rng.integers(0, 2, _n), _rng.standard_normal(_n), _torch.float64))
    _cases.append(("ties (scores rounded to 0.25)", _rng.integers(0, 2, 30), _np.round(_rng.standard_normal(30) * 4) / 4, _torch.float64))
    _cases.append(("float32, bool labels", _rng.integers(0, 2, 25).astype(bool), _rng.uniform(-1, 1, 25), _torch.float32))
    _cases.append(("all scores equal", _np.array([0, 1, 1, 0, 1]), _np.full(5, 0.3), _torch.float64))
    _cases.append(("perfectly separated", _np.array([1, 1, 0, 0, 0]), _np.array([0.9, 0.8, 0.3, 0.2, 0.1]), _torch.float64))
    _cases.append(("labels are the scores' opposite", _np.array([0, 0, 1, 1]), _np.array([0.9, 0.8, 0.3, 0.2]), _torch.float64))
    for _label, _y, _s, _dt in _cases:
        _y[:2] = _np.array([0, 1], dtype=_y.dtype)          # both classes present
        _yt, _st = _torch.tensor(_y, device=_dev), _torch.tensor(_s, dtype=_dt, device=_dev)
        _got = call_student(roc_curve, _yt, _st, forbidden=("a5_faces",), timeout=10)
        assert isinstance(_got, tuple) and len(_got) == 3, "roc_curve must return (fpr, tpr, thresholds)"
        _want = _ref_roc(_yt, _st, drop_intermediate=False)
        _skw = _skm.roc_curve(_y, _s.astype(_np.float64), drop_intermediate=False)
        for _name, _g, _w, _sk in zip(("fpr", "tpr", "thresholds"), _got, _want, _skw):
            assert_array_close(_g, _w, name=f"{_name} of roc_curve [{_label}, n={len(_y)}, {_dt}, {_dev}]", hints=_hints)
            assert_array_close(_g.cpu().to(_torch.float64).numpy(), _sk.astype(_np.float64),
                               name=f"{_name} of roc_curve vs sklearn.metrics.roc_curve(drop_intermediate=False) [{_label}]",
                               rtol=1e-6, atol=1e-7, hints=_hints)
        assert _got[0].dtype == _torch.float64 and _got[1].dtype == _torch.float64, \
            f"fpr and tpr must be float64, got {_got[0].dtype} and {_got[1].dtype}"
### END HIDDEN TESTS

# %% [markdown]
# ### E2. AUC (5 points)
#
# `roc_auc(labels, scores)` returns the area under the ROC curve as a Python `float`: the trapezoids
# between the points of your `roc_curve` (`torch.trapezoid`). It equals the probability that a random
# genuine pair scores higher than a random impostor pair, **ties counting 1/2** — which the
# trapezoids do automatically, since tied scores form one point (a diagonal segment).

# %% nbgrader={"grade": false, "grade_id": "roc_auc_impl", "locked": false, "schema_version": 3, "solution": true}
def roc_auc(labels, scores):
    '''labels (n,), scores (n,) -> area under the ROC curve (float).'''
    ### BEGIN SOLUTION
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(torch.trapezoid(tpr, fpr))
    ### END SOLUTION


# %%
# Self-check: perfect, reversed, and tied scores.
y4 = torch.tensor([1, 1, 0, 0])
assert roc_auc(y4, torch.tensor([0.9, 0.8, 0.3, 0.1])) == 1.0
assert roc_auc(y4, torch.tensor([0.1, 0.3, 0.8, 0.9])) == 0.0
assert abs(roc_auc(y4, torch.tensor([0.5, 0.5, 0.5, 0.5])) - 0.5) < 1e-12, "ties count 1/2"
assert abs(roc_auc(y4, torch.tensor([0.9, 0.5, 0.5, 0.1])) - 0.875) < 1e-12
print("E2 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_roc_auc", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# E2 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
import sklearn.metrics as _skm
import torch as _torch
from cnncourse.grading import call_student, check_scalar, secret_seed
from cnncourse.grading.devices import available_devices as _devices
from cnncourse.verification import roc_auc_score as _ref_auc

_rng = _np.random.default_rng(secret_seed(28))
for _dev in _devices():
    for _label, _n, _round in [("random", int(_rng.integers(10, 60)), None), ("many ties", 40, 2), ("all tied", 6, 0)]:
        _y = _rng.integers(0, 2, _n)
        _y[:2] = [0, 1]
        _s = _rng.standard_normal(_n) + _y
        if _round is not None:
            _s = _np.round(_s * _round) / max(_round, 1) if _round else _np.zeros(_n)
        _st = _torch.tensor(_s, device=_dev)
        _got = call_student(roc_auc, _torch.tensor(_y, device=_dev), _st, forbidden=("a5_faces",), timeout=10)
        _what = f"roc_auc [{_label}, n={_n}, {_dev}]"
        _hints = {"values": "trapezoids under your ROC points (torch.trapezoid(tpr, fpr)); tied scores count 1/2"}
        check_scalar(_got, _ref_auc(_y, _s), name=_what, hints=_hints)
        check_scalar(_got, float(_skm.roc_auc_score(_y, _s)), name=_what + " vs sklearn.metrics.roc_auc_score", hints=_hints)
### END HIDDEN TESTS

# %% [markdown]
# ### E3. Threshold and TAR at a target FAR (7 points)
#
# Applications fix the FAR they can afford and report the TAR there (TAR@FAR = 1e-2, lecture 9).
# `tar_at_far(labels, scores, far)` returns `(tar, threshold)` as Python floats: the **lowest**
# threshold among your ROC thresholds (`+inf` and every distinct score) whose FAR does not exceed
# `far`, and the TAR at that threshold. No interpolation: with few impostor pairs the achievable FARs
# are multiples of `1 / #impostors`. If even the highest score belongs to an impostor and `far` is
# smaller than `1 / #impostors`, the answer is `(0.0, inf)`.

# %% nbgrader={"grade": false, "grade_id": "tar_at_far_impl", "locked": false, "schema_version": 3, "solution": true}
def tar_at_far(labels, scores, far):
    '''labels (n,), scores (n,), far in [0, 1] -> (tar, threshold): the lowest threshold with FAR <= far.'''
    ### BEGIN SOLUTION
    fpr, tpr, thresholds = roc_curve(labels, scores)
    j = int(torch.nonzero(fpr <= far).max())                         # fpr is non-decreasing
    return float(tpr[j]), float(thresholds[j])
    ### END SOLUTION


# %%
# Self-check: 4 impostor pairs, so FAR moves in steps of 0.25.
y8 = torch.tensor([1, 1, 1, 1, 0, 0, 0, 0])
s8 = torch.tensor([0.9, 0.8, 0.6, 0.3, 0.7, 0.5, 0.2, 0.1])
print(tar_at_far(y8, s8, 0.25), tar_at_far(y8, s8, 0.1), tar_at_far(y8, s8, 0.0))
assert tar_at_far(y8, s8, 0.25) == (0.75, float(s8[2])), "FAR 0.25 allows the impostor at 0.7: the lowest threshold is 0.6"
assert tar_at_far(y8, s8, 0.1) == (0.5, float(s8[1]))
assert tar_at_far(torch.tensor([0, 1]), torch.tensor([0.9, 0.1]), 0.0) == (0.0, float("inf"))
print("E3 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_tar_at_far", "locked": true, "points": 7, "schema_version": 3, "solution": false}
# E3 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
from cnncourse.grading import call_student, check_scalar, secret_seed
from cnncourse.grading.devices import available_devices as _devices
from cnncourse.verification import tar_at_far as _ref_taf

_rng = _np.random.default_rng(secret_seed(29))
_hints = {"values": "the LOWEST threshold (among +inf and the distinct scores) whose FAR = accepted impostors / impostors "
                    "is <= far, and the TAR = accepted genuine / genuine at that threshold (score >= threshold accepts)"}
for _dev in _devices():
    _cases = [("random", _rng.integers(0, 2, 200), _rng.standard_normal(200)),
              ("ties", _rng.integers(0, 2, 120), _np.round(_rng.standard_normal(120) * 3) / 3),
              ("highest score is an impostor", _np.array([0, 1, 1, 0, 1, 0]), _np.array([0.99, 0.9, 0.8, 0.5, 0.4, 0.1]))]
    for _label, _y, _s in _cases:
        _y[:2] = [0, 1]
        _s = _s + 0.8 * _y if _label != "highest score is an impostor" else _s
        for _far in (0.0, 1e-2, 0.1, float(_rng.uniform(0.05, 0.5)), 1.0):
            _got = call_student(tar_at_far, _torch.tensor(_y, device=_dev), _torch.tensor(_s, device=_dev), _far,
                                forbidden=("a5_faces",), timeout=10)
            assert isinstance(_got, tuple) and len(_got) == 2, "tar_at_far must return (tar, threshold)"
            _tar, _thr = _ref_taf(_y, _s, _far, return_threshold=True)
            _what = f"tar_at_far(far={_far:.3g}) [{_label}, {(_y == 0).sum()} impostors, {_dev}]"
            check_scalar(_got[0], _tar, name="tar of " + _what, hints=_hints)
            check_scalar(_got[1], _thr, name="threshold of " + _what, hints=_hints)
### END HIDDEN TESTS

# %% [markdown]
# ### E4. CMC curve (6 points)
#
# Re-identification ranks the gallery for each query. `cmc_curve(scores, query_labels, gallery_labels,
# *, max_rank=None)` takes query-gallery similarities `scores` `(Q, G)` (higher = better match) and
# returns the float64 tensor `cmc` of length `max_rank` (default `G`), where `cmc[k - 1]` is the
# fraction of queries whose **first** correct gallery match has rank `<= k` (rank 1 = the best score).
# Ties are broken by gallery order (a stable sort: `torch.argsort(..., stable=True)`). Queries whose
# identity is not in the gallery cannot be ranked and are left out (the fraction is over the other
# queries). `max_rank` may exceed `G`: the curve then stays at its last value (1.0).

# %% nbgrader={"grade": false, "grade_id": "cmc_impl", "locked": false, "schema_version": 3, "solution": true}
def cmc_curve(scores, query_labels, gallery_labels, *, max_rank=None):
    '''scores (Q, G), query_labels (Q,), gallery_labels (G,) -> cmc (max_rank,) float64.'''
    ### BEGIN SOLUTION
    max_rank = scores.shape[1] if max_rank is None else int(max_rank)
    q, g = query_labels.to(scores.device), gallery_labels.to(scores.device)
    order = torch.argsort(scores, dim=1, descending=True, stable=True)   # (Q, G) best first
    hits = g[order] == q[:, None]                                       # (Q, G)
    found = hits.any(1)
    ranks = torch.argmax(hits.to(torch.uint8), dim=1)[found] + 1        # (Q',) first hit, 1-based
    counts = torch.bincount(ranks[ranks <= max_rank] - 1, minlength=max_rank)
    return torch.cumsum(counts, 0).to(torch.float64) / int(found.sum())
    ### END SOLUTION


# %%
# Self-check: query 0 (identity 1) is matched at rank 2, query 1 (identity 2) at rank 2.
sc = torch.tensor([[0.9, 0.8, 0.1], [0.2, 0.7, 0.6]])
print(cmc_curve(sc, torch.tensor([1, 2]), torch.tensor([0, 1, 2])))
assert torch.equal(cmc_curve(sc, torch.tensor([1, 2]), torch.tensor([0, 1, 2])), torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64))
assert torch.equal(cmc_curve(sc, torch.tensor([0, 2]), torch.tensor([0, 1, 2]), max_rank=5),
                   torch.tensor([0.5, 1.0, 1.0, 1.0, 1.0], dtype=torch.float64))
print("E4 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_cmc", "locked": true, "points": 6, "schema_version": 3, "solution": false}
# E4 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import warnings as _warnings

import numpy as _np
import torch as _torch
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.grading.devices import available_devices as _devices
from cnncourse.verification import cmc_curve as _ref_cmc

_rng = _np.random.default_rng(secret_seed(30))
_hints = {"values": "rank of the FIRST gallery item with the query's identity, gallery sorted by decreasing score "
                    "(stable: ties keep gallery order); cmc[k-1] = fraction of the ranked queries with rank <= k",
          "shape": "the curve has max_rank entries (default: the gallery size), also when max_rank > G"}
for _dev in _devices():
    _cases = []
    _g = _rng.integers(0, 6, 15)
    _q = _rng.choice(_g, 9)
    _cases.append(("random", _rng.standard_normal((9, 15)), _q, _g, None))
    _cases.append(("random, max_rank=5", _rng.standard_normal((9, 15)), _q, _g, 5))
    _cases.append(("ties in the scores", _np.round(_rng.standard_normal((7, 10))), _rng.integers(0, 3, 7), _rng.integers(0, 3, 10), None))
    _cases.append(("all scores equal", _np.zeros((4, 6)), _np.array([0, 1, 2, 2]), _np.array([2, 0, 1, 0, 2, 1]), None))
    _cases.append(("max_rank > gallery size", _rng.standard_normal((5, 4)), _np.array([0, 1, 2, 3, 1]), _np.array([3, 2, 1, 0]), 7))
    _cases.append(("a query without match in the gallery", _rng.standard_normal((5, 6)), _np.array([0, 1, 9, 2, 1]),
                   _np.array([0, 1, 2, 0, 1, 2]), None))
    for _label, _s, _ql, _gl, _mr in _cases:
        _st = _torch.tensor(_s, device=_dev)
        _qt, _gt = _torch.tensor(_ql, device=_dev), _torch.tensor(_gl, device=_dev)
        _kw = {} if _mr is None else {"max_rank": _mr}
        _got = call_student(cmc_curve, _st, _qt, _gt, **_kw, forbidden=("a5_faces",), timeout=10)
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            _want = _ref_cmc(_st, _qt, _gt, max_rank=_mr)
        assert_array_close(_got, _want, name=f"cmc_curve(scores {tuple(_s.shape)}, max_rank={_mr}) [{_label}, {_dev}]",
                           hints=_hints)
### END HIDDEN TESTS

# %% [markdown]
# ## Part F — Open-set verification on unseen identities
#
# The data: `cnncourse.data.IdentityDataset`, synthetic "identities" (a coloured glyph per identity,
# re-rendered with pose, lighting, occlusion and noise for every sample; lecture 9 explains why it
# stands in for faces). The training and test identities are **disjoint**: the network must learn an
# embedding that separates identities it has never seen (open set), not a classifier of known ones.

# %%
from cnncourse.data import IdentityDataset

train_set = IdentityDataset("train", num_identities=200, samples_per_identity=8, seed=0)
test_set = IdentityDataset("test", num_identities=50, samples_per_identity=6, seed=0)
x_train, y_train = (torch.as_tensor(a) for a in train_set.batch(np.arange(len(train_set))))  # (1600, 3, 32, 32), (1600,)
x_test, y_test = (torch.as_tensor(a) for a in test_set.batch(np.arange(len(test_set))))      # (300, 3, 32, 32), (300,)
print(f"train: {tuple(x_train.shape)}, {len(train_set.identity_ids)} identities; "
      f"test: {tuple(x_test.shape)}, {len(test_set.identity_ids)} other identities; device {device}")
fig, axes = plt.subplots(2, 8, figsize=(12, 3.2))
for k, ax in enumerate(axes.flat):
    ax.imshow(x_train[(k // 4) * 8 + k % 4].permute(1, 2, 0).numpy())
    ax.set_title(f"identity {int(y_train[(k // 4) * 8 + k % 4])}", fontsize=8)
    ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# ### F1. An embedding network, trained with your batch-hard loss (15 points)
#
# 1. Write a small CNN `EmbeddingCNN` (a few `conv -> BatchNorm -> ReLU` blocks with pooling, global
#    average pooling, a linear layer to `D = 32`) whose output rows are L2-normalised
#    (`F.normalize(..., dim=1)`), and a function `embed_images(images)` that takes images
#    `(N, 3, 32, 32)` (a float tensor or numpy array, on any device), runs your trained `model` in
#    **evaluation mode** without gradients (in batches of at most 512) and returns the embeddings
#    `(N, D)` as a tensor.
# 2. In the next cell, train `model` with **your** `batch_hard_triplet_loss` (squared distances,
#    margin 0.2) and Adam on "PK" batches: `P = 16` random training identities with `K = 4` random
#    samples each, so that every anchor has positives and negatives in its batch. Seed everything
#    (`torch.manual_seed`, a numpy `default_rng`) so that a rerun gives the same network. A few hundred
#    steps at most: the grader re-runs your notebook, and training must stay well under a minute on a
#    laptop CPU (the solution trains in about 15 s on two cores).
#    The cell must leave behind the trained `model`, `history` (the loss of every step) and
#    `train_seconds` (how long the training took), which the plots below use.
#
# **How it is graded.** The grader generates **new identities** from a seed that only it knows,
# calls your `embed_images` on their images, scores every pair by the cosine similarity of the
# embeddings, and requires an **AUC >= 0.95** (the lecture's network reaches about 0.99). While
# `embed_images` runs, the verification references are refused; the library's `EmbeddingNet` and
# `train_embedding` are flagged for the instructor (this exercise is to write them).

# %% nbgrader={"grade": false, "grade_id": "embedding_net_impl", "locked": false, "schema_version": 3, "solution": true}
class EmbeddingCNN(nn.Module):
    '''(N, 3, H, W) images -> (N, D) unit-norm embeddings.'''

    def __init__(self, embedding_dim=32, width=8):
        super().__init__()
        ### BEGIN SOLUTION
        def block(cin, cout, pool):
            layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
            return layers + ([nn.MaxPool2d(2)] if pool else [])

        w = width
        self.features = nn.Sequential(*block(3, w, True), *block(w, 2 * w, True), *block(2 * w, 4 * w, False))
        self.head = nn.Linear(4 * w, embedding_dim)
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        h = self.features(x).mean(dim=(2, 3))                        # (N, 4w): global average pooling
        return F.normalize(self.head(h), dim=1)                       # (N, D)
        ### END SOLUTION


def embed_images(images):
    '''images (N, 3, H, W) tensor or array -> (N, D) embeddings of the trained `model`, in eval mode.'''
    ### BEGIN SOLUTION
    x = torch.as_tensor(images, dtype=torch.float32)
    model.eval()
    dev = next(model.parameters()).device
    with torch.no_grad():
        return torch.cat([model(x[i:i + 512].to(dev)) for i in range(0, x.shape[0], 512)]).cpu()
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "train_impl", "locked": false, "schema_version": 3, "solution": true}
### BEGIN SOLUTION
def train_embedding_net(model, images, labels, *, steps=100, P=16, K=4, margin=0.2, lr=3e-3, seed=0):
    '''Adam on the batch-hard triplet loss over PK batches, linear learning-rate decay; returns the losses.'''
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(labels.numpy() == i) for i in range(int(labels.max()) + 1)]
    dev = next(model.parameters()).device
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0 - t / steps)
    model.train()
    losses = []
    for _ in range(steps):
        ids = rng.choice(len(members), P, replace=False)
        idx = torch.as_tensor(np.concatenate([rng.choice(members[i], K, replace=False) for i in ids]))
        emb = model(images[idx].to(dev))                              # (P*K, D)
        loss = batch_hard_triplet_loss(emb, labels[idx].to(dev), margin=margin, squared=True)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    model.eval()
    return losses


torch.manual_seed(0)
model = EmbeddingCNN().to(device)
t0 = time.perf_counter()
history = train_embedding_net(model, x_train, y_train, steps=100)
train_seconds = time.perf_counter() - t0
### END SOLUTION

# %%
print(f"trained in {train_seconds:.1f} s; loss {np.mean(history[:10]):.3f} -> {np.mean(history[-10:]):.3f}")
plt.figure(figsize=(6, 3))
plt.plot(history, label="batch-hard loss per step")
plt.plot(np.arange(9, len(history)), np.convolve(history, np.ones(10) / 10, mode="valid"), label="running mean of 10")
plt.xlabel("step")
plt.ylabel("loss")
plt.legend()
plt.show()
f_test = embed_images(x_test)
assert f_test.shape == (300, 32) and torch.allclose(f_test.norm(dim=1), torch.ones(300), atol=1e-5)

# %% nbgrader={"grade": true, "grade_id": "test_verification_auc", "locked": true, "points": 15, "schema_version": 3, "solution": false}
# F1 tests (hidden tests run at grading time): AUC >= 0.95 on identities generated by the grader
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
from cnncourse.data import IdentityDataset as _IdentityDataset
from cnncourse.grading import call_student, plain_array, secret_seed
from cnncourse.verification import cosine_similarity_matrix as _cos
from cnncourse.verification import roc_auc_score as _ref_auc

_unseen = _IdentityDataset("test", num_identities=60, samples_per_identity=6, seed=secret_seed(91) % (2 ** 31) + 1)
_x, _y = _unseen.batch(_np.arange(len(_unseen)))
_f = call_student(embed_images, _torch.as_tensor(_x), forbidden=("a5_faces",), timeout=120)
_f = plain_array(_f, name="embed_images(images)", expect="torch")
assert _f.dim() == 2 and _f.shape[0] == len(_y), f"embed_images(images of shape {_x.shape}) returned shape {tuple(_f.shape)}, expected (N, D)"
_f = _f.detach().cpu().to(_torch.float64)
assert _torch.isfinite(_f).all(), "embed_images returned NaN/inf embeddings: did the training diverge?"
_iu = _np.triu_indices(len(_y), 1)
_same = (_y[:, None] == _y[None, :])[_iu]
_auc = _ref_auc(_same, _cos(_f).numpy()[_iu])
print(f"AUC on {len(_y)} images of {_unseen.num_identities} identities the network never saw: {_auc:.4f}")
assert _auc >= 0.95, (f"verification AUC {_auc:.4f} on new identities (cosine similarity of your embeddings), expected >= 0.95: "
                      "train longer or check the loss, the PK batches and that embed_images uses eval mode")
### END HIDDEN TESTS

# %% [markdown]
# ### F2. Your verification report (5 points)
#
# With **your** functions (`pairwise_distances`, `roc_curve`, `roc_auc`, `tar_at_far`), evaluate the
# trained network on the test identities above: score every pair `i < j` of the 300 test images by
# the cosine similarity of their embeddings (`1 - cosine distance`), label it genuine when the two
# images show the same identity, and store in `report` the AUC, the TAR at FAR = 1e-2 and its
# threshold, and the numbers of genuine and impostor pairs. The grader recomputes these numbers from
# your `embed_images`; they must agree. Then look at the plots.

# %% nbgrader={"grade": false, "grade_id": "report_impl", "locked": false, "schema_version": 3, "solution": true}
### BEGIN SOLUTION
iu = torch.triu_indices(300, 300, offset=1)
sim = 1.0 - pairwise_distances(f_test, metric="cosine")[iu[0], iu[1]]   # (44850,)
same = (y_test[:, None] == y_test[None, :])[iu[0], iu[1]]
tar, thr = tar_at_far(same, sim, 1e-2)
report = {"auc": roc_auc(same, sim), "tar_at_far_1e-2": tar, "threshold_at_far_1e-2": thr,
          "genuine_pairs": int(same.sum()), "impostor_pairs": int((~same).sum())}
### END SOLUTION
print(report)

fpr, tpr, _ = roc_curve(same, sim)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
ax1.plot(fpr.numpy(), tpr.numpy(), label=f"ROC, AUC = {report['auc']:.4f}")
ax1.axvline(1e-2, color="grey", linestyle=":", label="FAR = 1e-2")
ax1.set(xscale="log", xlim=(1e-4, 1), xlabel="FAR (false accept rate)", ylabel="TAR (true accept rate)",
        title="verification on unseen identities")
ax1.legend()
ax2.hist(sim[same].numpy(), bins=50, alpha=0.6, density=True, label="genuine pairs")
ax2.hist(sim[~same].numpy(), bins=50, alpha=0.6, density=True, label="impostor pairs")
ax2.axvline(report["threshold_at_far_1e-2"], color="k", linestyle="--", label="threshold at FAR = 1e-2")
ax2.set(xlabel="cosine similarity", ylabel="density", title="score distributions")
ax2.legend()
plt.tight_layout()
plt.show()

# %% nbgrader={"grade": true, "grade_id": "test_report", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# F2 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
from cnncourse.data import IdentityDataset as _IdentityDataset
from cnncourse.grading import call_student, check_int, check_scalar
from cnncourse.verification import cosine_similarity_matrix as _cos
from cnncourse.verification import roc_auc_score as _ref_auc
from cnncourse.verification import tar_at_far as _ref_taf

_ds = _IdentityDataset("test", num_identities=50, samples_per_identity=6, seed=0)
_x, _y = _ds.batch(_np.arange(len(_ds)))
_f = call_student(embed_images, _torch.as_tensor(_x), forbidden=("a5_faces",), timeout=120)
_f = _torch.as_tensor(_f).detach().cpu().to(_torch.float64)
_iu = _np.triu_indices(len(_y), 1)
_same, _sim = (_y[:, None] == _y[None, :])[_iu], _cos(_f).numpy()[_iu]
_tar, _thr = _ref_taf(_same, _sim, 1e-2, return_threshold=True)
_rep = report
assert isinstance(_rep, dict), f"`report` must be a dict, got {type(_rep).__name__}"
_keys = {"auc", "tar_at_far_1e-2", "threshold_at_far_1e-2", "genuine_pairs", "impostor_pairs"}
assert _keys <= set(_rep), f"`report` is missing the keys {sorted(_keys - set(_rep))}"
check_int(_rep["genuine_pairs"], int(_same.sum()), name="report['genuine_pairs']",
          hints={"values": "every pair i < j of the 300 test images: 50 identities x C(6, 2) genuine pairs"})
check_int(_rep["impostor_pairs"], int((~_same).sum()), name="report['impostor_pairs']")
_h = {"values": "score every pair i < j by the cosine similarity of embed_images(x_test), then your roc_auc / tar_at_far"}
check_scalar(_rep["auc"], _ref_auc(_same, _sim), name="report['auc']", atol=1e-4, rtol=0, hints=_h)
# float32 cosines may order a few near-tied pairs differently: one pair of slack at the operating point
check_scalar(_rep["tar_at_far_1e-2"], _tar, name="report['tar_at_far_1e-2']", atol=2.0 / _same.sum(), rtol=0, hints=_h)
check_scalar(_rep["threshold_at_far_1e-2"], _thr, name="report['threshold_at_far_1e-2']", atol=1e-3, rtol=0, hints=_h)
print(f"your report: AUC {_rep['auc']:.4f}, TAR@FAR=1e-2 {_rep['tar_at_far_1e-2']:.4f} (threshold {_rep['threshold_at_far_1e-2']:.4f})")
### END HIDDEN TESTS

# %% [markdown]
# **Before you submit:** Kernel → Restart & Run All, and check that every self-check prints "passed".
