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
# # Assignment 3 — CNN architectures, their costs, and what a trained CNN looks at
#
# In this assignment you build, in PyTorch (`torch.nn.Module`), the building blocks of lecture 5:
# a VGG stage, an inception module (and its operation count by hand), the residual basic and
# bottleneck blocks with their projection shortcuts, a squeeze-and-excitation block and MobileNet's
# depthwise-separable block. You write your own accounting of what a network costs (parameters,
# multiply-accumulates, activation memory), train a small CNN on the offline digits, and explain its
# decisions with the two tools of lecture 6: occlusion maps and Grad-CAM.
#
# **How you are graded.** Write your code where it says `# YOUR CODE HERE` (delete the
# `raise NotImplementedError()`). After each exercise there is a *self-check* cell you can run, then a
# locked *test* cell with hidden tests. For the blocks, the hidden tests create **your** module, copy
# the weights of a reference block into it with `load_state_dict(..., strict=True)` and compare the
# outputs and the gradients (of the input and of every parameter) on random inputs of random sizes,
# on the CPU and on a GPU when the grading machine has one. So the **attribute names** matter: use
# exactly the names each exercise gives (they are torchvision's), and create the layers in
# `__init__`, not in `forward`. Write device-agnostic code (no `.cuda()`, no `torch.zeros(...)`
# without `device=x.device`). While your code runs during grading, the shortcuts that would make an
# exercise one line are disabled: the `cnncourse.models`, `cnncourse.costs` and `cnncourse.explain`
# references, `torchvision.models`/`torchvision.ops` blocks, `captum`, and
# `torch.utils.flop_counter`. Your trained network is scored **by the grader**, on held-out digits
# that your notebook never trains on. Before submitting, run **Kernel → Restart & Run All**
# (it takes about a minute).
#
# | Part | Exercise | Points |
# |---|---|---|
# | A. Blocks | A1 VGG stage (6), A2 inception module (8), A3 its op count (5), A4 basic block (10), A5 bottleneck (10), A6 SE block (6), A7 depthwise-separable (5) | 50 |
# | B. Costs | B1 parameters (5), B2 MACs, FLOPs and activation memory (10) | 15 |
# | C. Training | C1 a digits CNN at >= 98% held-out accuracy (15) | 15 |
# | D. Explaining | D1 Grad-CAM (10), D2 occlusion maps (10) | 20 |
# | | **Total** | **100** |
#
# Conventions: tensors are `NCHW`; "MACs" are multiply-accumulates (one multiplication and one
# addition), FLOPs = 2 x MACs, as `torch.utils.flop_counter` counts them.

# %%
import math
import time

import numpy as np
import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F

from sklearn.datasets import load_digits as sklearn_digits

device = "cuda" if torch.cuda.is_available() else "cpu"
torch.set_num_threads(1)  # small convolutions: one thread is as fast, and steady on a busy machine


def n_params(module):
    '''Number of parameters of a module (for the self-checks; you write your own in B1).'''
    return sum(p.numel() for p in module.parameters())


def expect(got, want, what):
    '''Self-check helper: raise an AssertionError that says what differs.'''
    if isinstance(want, tuple) and isinstance(got, torch.Size):
        got = tuple(got)
    if got != want:
        raise AssertionError(f"self-check failed: {what}: got {got!r}, expected {want!r}")


def load_digits_split():
    '''The offline digits (scikit-learn's 8x8 images: those of `cnncourse.data.load_digits`) as float32
    (N, 1, 8, 8) tensors in [0, 1] with int64 labels, and the course's fixed split: 20 % of every class
    is held out (the grader scores your network on those images; never train on them).'''
    digits = sklearn_digits()
    x = (digits.images.astype(np.float32) / np.float32(16.0))[:, None]   # (1797, 1, 8, 8)
    y = digits.target.astype(np.int64)
    rng = np.random.default_rng(0)
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = int(round(0.2 * len(idx)))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    train, test = np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
    return (torch.as_tensor(x[train]), torch.as_tensor(y[train])), (torch.as_tensor(x[test]), torch.as_tensor(y[test]))


class BasicConv2d(nn.Module):
    '''Conv2d (no bias) -> BatchNorm2d(eps=0.001) -> ReLU: the unit of GoogLeNet (given).

    State-dict keys: `conv.weight`, `bn.weight`, `bn.bias`, `bn.running_mean`, ...'''

    def __init__(self, c_in, c_out, **conv_kwargs):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, bias=False, **conv_kwargs)
        self.bn = nn.BatchNorm2d(c_out, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


# %% [markdown]
# ## Part A — Blocks
#
# ### A1. A VGG stage (6 points)
#
# VGG stacks 3x3 convolutions with padding 1 (the size is kept) and ReLU, and halves the size with a
# 2x2 max pool at stride 2 (lecture 5: three 3x3 convs see a 7x7 window with fewer parameters than
# one 7x7 conv). Write `vgg_stage(c_in, c_out, num_convs)` returning an `nn.Sequential` of
# `num_convs` times `[nn.Conv2d(·, c_out, 3, padding=1), nn.ReLU()]` (with bias; the first conv takes
# `c_in` channels, the others `c_out`) followed by `nn.MaxPool2d(2, stride=2)`. Its state-dict keys
# are then `0.weight, 0.bias, 2.weight, 2.bias, ...` like torchvision's VGG.

# %% nbgrader={"grade": false, "grade_id": "vgg_stage_impl", "locked": false, "schema_version": 3, "solution": true}
def vgg_stage(c_in, c_out, num_convs):
    '''num_convs x (3x3 conv, padding 1, + ReLU), then a 2x2 max pool at stride 2.'''
    ### BEGIN SOLUTION
    layers = []
    for i in range(num_convs):
        layers += [nn.Conv2d(c_in if i == 0 else c_out, c_out, 3, padding=1), nn.ReLU(inplace=True)]
    layers.append(nn.MaxPool2d(2, stride=2))
    return nn.Sequential(*layers)
    ### END SOLUTION


# %%
# Self-check: VGG16's second stage (64 -> 128 channels, two convs) on a 112x112 input
stage = vgg_stage(64, 128, 2)
expect(stage(torch.zeros(1, 64, 112, 112)).shape, (1, 128, 56, 56), "vgg_stage(64, 128, 2) output shape")
expect(n_params(stage), (3 * 3 * 64 * 128 + 128) + (3 * 3 * 128 * 128 + 128),
       "parameters of vgg_stage(64, 128, 2): (3*3*C_in*C_out + C_out) per conv")
expect([k for k in stage.state_dict()], ["0.weight", "0.bias", "2.weight", "2.bias"], "state-dict keys")
print("A1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_vgg_stage", "locked": true, "points": 6, "schema_version": 3, "solution": false}
# A1 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import torch as _torch
from torch import nn as _nn
from cnncourse.grading import check_module, randomize_module, secret_seed

_rng = _torch.Generator().manual_seed(secret_seed(31))
for _case in range(3):
    _ci, _co, _n = (int(v) for v in (_torch.randint(1, 5, (1,), generator=_rng), _torch.randint(2, 7, (1,), generator=_rng),
                                     _torch.tensor([1, 2, 3])[_case]))
    _h, _w = (int(v) for v in _torch.randint(4, 12, (2,), generator=_rng))
    _layers = []
    for _i in range(_n):
        _layers += [_nn.Conv2d(_ci if _i == 0 else _co, _co, 3, padding=1), _nn.ReLU()]
    _ref = randomize_module(_nn.Sequential(*_layers, _nn.MaxPool2d(2, 2)), secret_seed(31) + _case)
    check_module(vgg_stage, _ref, _torch.randn(2, _ci, _h, _w, generator=_rng), args=(_ci, _co, _n),
                 name=f"vgg_stage({_ci}, {_co}, {_n})", forbidden=("a3_architectures",),
                 layout="num_convs x [Conv2d(3x3, padding=1, bias=True), ReLU] then MaxPool2d(2, 2): keys 0.weight, 0.bias, 2.weight, ...",
                 hints={"shape": "3x3 convs with padding=1 keep H x W; the 2x2 max pool at stride 2 halves it (floor)",
                        "values": "a ReLU after EVERY conv (also the last one, before the pool)"})
### END HIDDEN TESTS

# %% [markdown]
# ### A2. An inception module (8 points)
#
# GoogLeNet's module runs four branches on the same input and concatenates their outputs along the
# channels, **in this order**: (1) a 1x1 conv; (2) a 1x1 "reduce" conv then a 3x3 conv (padding 1);
# (3) a 1x1 reduce then a 5x5 conv (padding 2); (4) a 3x3 max pool (stride 1, padding 1,
# `ceil_mode=True`) then a 1x1 "pool projection". Every conv is a `BasicConv2d` (given above).
# Write `Inception(c_in, c1x1, reduce3x3, c3x3, reduce5x5, c5x5, pool_proj)` with the attributes
# (torchvision's names, so that `load_state_dict` finds every weight):
#
# - `branch1 = BasicConv2d(c_in, c1x1, kernel_size=1)`
# - `branch2 = nn.Sequential(BasicConv2d(c_in, reduce3x3, kernel_size=1), BasicConv2d(reduce3x3, c3x3, kernel_size=3, padding=1))`
# - `branch3`: the same with `reduce5x5`, `c5x5`, `kernel_size=5, padding=2`
# - `branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True), BasicConv2d(c_in, pool_proj, kernel_size=1))`
#
# The output has `c1x1 + c3x3 + c5x5 + pool_proj` channels and the input's `H x W`.

# %% nbgrader={"grade": false, "grade_id": "inception_impl", "locked": false, "schema_version": 3, "solution": true}
class Inception(nn.Module):
    '''GoogLeNet's inception module with 1x1 bottlenecks (the four branches concatenated).'''

    def __init__(self, c_in, c1x1, reduce3x3, c3x3, reduce5x5, c5x5, pool_proj):
        super().__init__()
        ### BEGIN SOLUTION
        self.branch1 = BasicConv2d(c_in, c1x1, kernel_size=1)
        self.branch2 = nn.Sequential(BasicConv2d(c_in, reduce3x3, kernel_size=1),
                                     BasicConv2d(reduce3x3, c3x3, kernel_size=3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(c_in, reduce5x5, kernel_size=1),
                                     BasicConv2d(reduce5x5, c5x5, kernel_size=5, padding=2))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                     BasicConv2d(c_in, pool_proj, kernel_size=1))
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)
        ### END SOLUTION


# %%
# Self-check: GoogLeNet's inception (3a) on 28x28x192 -> 28x28x256
inc = Inception(192, 64, 96, 128, 16, 32, 32)
expect(inc(torch.zeros(1, 192, 28, 28)).shape, (1, 256, 28, 28), "Inception (3a) output shape")
conv_weights = 192 * 64 + (192 * 96 + 9 * 96 * 128) + (192 * 16 + 25 * 16 * 32) + 192 * 32
bn_params = 2 * (64 + 96 + 128 + 16 + 32 + 32)
expect(n_params(inc), conv_weights + bn_params, "parameters of inception (3a) with 5x5 kernels (convs without bias, BN scale and shift)")
print("A2 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_inception", "locked": true, "points": 8, "schema_version": 3, "solution": false}
# A2 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import torch as _torch
from cnncourse.costs import InceptionSpec as _Spec
from cnncourse.grading import check_module, randomize_module, secret_seed
from cnncourse.models import InceptionModule as _RefInception

_rng = _torch.Generator().manual_seed(secret_seed(32))
for _case in range(2):
    _c = [int(v) for v in _torch.randint(2, 7, (7,), generator=_rng)]
    _h, _w = (int(v) for v in _torch.randint(3, 9, (2,), generator=_rng))
    _spec = _Spec(c1x1=_c[1], c3x3=_c[3], c5x5=_c[5], reduce3x3=_c[2], reduce5x5=_c[4], pool_proj=_c[6], kernel5=5)
    _ref = randomize_module(_RefInception(_c[0], _spec), secret_seed(32) + _case)
    check_module(Inception, _ref, _torch.randn(2, _c[0], _h, _w, generator=_rng), args=tuple(_c),
                 name="Inception({}, {}, {}, {}, {}, {}, {})".format(*_c), forbidden=("a3_architectures",),
                 layout="branch1 = BasicConv2d 1x1; branch2/branch3 = Sequential(1x1 reduce, 3x3 / 5x5); "
                        "branch4 = Sequential(MaxPool2d(3, 1, 1, ceil_mode=True), BasicConv2d 1x1)",
                 hints={"shape": "pad the 3x3 conv by 1 and the 5x5 by 2 (and the pool by 1, stride 1): every branch keeps H x W; "
                                 "concatenate along dim=1 (channels)",
                        "values": "concatenate the branches in the order 1x1, 3x3, 5x5, pool; "
                                  "the pool branch pools the INPUT, then projects it with its 1x1 conv"})
### END HIDDEN TESTS

# %% [markdown]
# ### A3. Counting an inception module's operations by hand (5 points)
#
# Lecture 5 counts the multiplications of the module on a 28x28x256 input: the naive module (no 1x1
# reductions, the pooled input passes through with all its channels) needs 854M, the one with 1x1
# bottlenecks far fewer. A convolution with a `K x K` kernel from `C_in` to `C_out` channels that keeps
# the `H x W` size costs `H * W * C_out * K * K * C_in` multiply-accumulates. Write
# `inception_macs(h, w, c_in, c1x1, c3x3, c5x5, reduce3x3=None, reduce5x5=None, pool_proj=None)`:
# the total MACs of all the module's convolutions (5x5 kernels). `None` means "no such conv": a 3x3
# (or 5x5) branch without a reduction convolves the `c_in` input channels directly; without a pool
# projection the pool branch costs nothing (pooling is not a multiplication). Return an `int`.

# %% nbgrader={"grade": false, "grade_id": "inception_macs_impl", "locked": false, "schema_version": 3, "solution": true}
def inception_macs(h, w, c_in, c1x1, c3x3, c5x5, reduce3x3=None, reduce5x5=None, pool_proj=None):
    '''Multiply-accumulates of an inception module's convolutions on an h x w x c_in input.'''
    ### BEGIN SOLUTION
    def conv(k, ci, co):
        return h * w * co * k * k * ci

    total = conv(1, c_in, c1x1)
    for red, c, k in ((reduce3x3, c3x3, 3), (reduce5x5, c5x5, 5)):
        if red is None:
            total += conv(k, c_in, c)
        else:
            total += conv(1, c_in, red) + conv(k, red, c)
    if pool_proj is not None:
        total += conv(1, c_in, pool_proj)
    return int(total)
    ### END SOLUTION


# %%
# Self-check: the lecture's naive module on 28x28x256 (1x1: 128, 3x3: 192, 5x5: 96)
naive = inception_macs(28, 28, 256, 128, 192, 96)
expect(naive, 28 * 28 * 256 * (128 + 9 * 192 + 25 * 96), "naive module")
print(f"naive: {naive / 1e6:.0f}M MACs (the slide's 854M)")
reduced = inception_macs(28, 28, 256, 128, 192, 96, reduce3x3=64, reduce5x5=64, pool_proj=64)
print(f"with 64-channel 1x1 reductions and pool projection: {reduced / 1e6:.0f}M MACs")
expect(reduced, 28 * 28 * (256 * (128 + 64 + 64 + 64) + 64 * (9 * 192 + 25 * 96)), "module with bottlenecks")
print("A3 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_inception_macs", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# A3 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
from cnncourse.costs import InceptionSpec as _Spec, inception_ops as _ref_ops
from cnncourse.grading import call_student, check_int, secret_seed

_rng = _np.random.default_rng(secret_seed(33))
for _case in range(12):
    _h, _w = (int(v) for v in _rng.integers(3, 40, 2))
    _ci, _c1, _c3, _c5 = (int(v) for v in _rng.integers(1, 300, 4))
    _opt = {k: (int(_rng.integers(1, 100)) if (_case >> i) & 1 else None)
            for i, k in enumerate(("reduce3x3", "reduce5x5", "pool_proj"))} if _case < 8 else \
        {k: int(_rng.integers(1, 100)) for k in ("reduce3x3", "reduce5x5", "pool_proj")}
    _want = sum(t.macs for t in _ref_ops(_h, _w, _ci, _Spec(c1x1=_c1, c3x3=_c3, c5x5=_c5, kernel5=5, **_opt)))
    _call = f"inception_macs({_h}, {_w}, {_ci}, {_c1}, {_c3}, {_c5}, " + ", ".join(f"{k}={v}" for k, v in _opt.items()) + ")"
    _got = call_student(inception_macs, _h, _w, _ci, _c1, _c3, _c5, **_opt, forbidden=("a3_architectures",), timeout=5)
    _terms = "; ".join(str(t) for t in _ref_ops(_h, _w, _ci, _Spec(c1x1=_c1, c3x3=_c3, c5x5=_c5, kernel5=5, **_opt)))
    check_int(_got, _want, name=_call, hints={"values": f"expected {_want:,} = the sum of: {_terms} (pooling costs nothing; "
                                                          "a reduced branch convolves the REDUCED channels with its 3x3/5x5 kernel)"})
### END HIDDEN TESTS

# %% [markdown]
# ### A4. The residual basic block (10 points)
#
# ResNet-18's block computes `relu(F(x) + shortcut(x))` with `F = bn2(conv2(relu(bn1(conv1(x)))))`:
# two 3x3 convs (padding 1, no bias; the first has the block's `stride`), each followed by batch
# norm. The shortcut is the identity when the shapes agree; when the block changes the size
# (`stride != 1`) **or** the channels (`c_in != planes`), the identity cannot be added and a
# *projection* `nn.Sequential(nn.Conv2d(c_in, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))`
# takes its place. Write `BasicBlock(c_in, planes, stride=1)` with the attributes `conv1, bn1, conv2,
# bn2` and `downsample` (the projection, or `None` for the identity).

# %% nbgrader={"grade": false, "grade_id": "basic_block_impl", "locked": false, "schema_version": 3, "solution": true}
class BasicBlock(nn.Module):
    '''Two 3x3 conv-BN layers and a shortcut: (N, c_in, H, W) -> (N, planes, ceil(H/stride), ceil(W/stride)).'''

    def __init__(self, c_in, planes, stride=1):
        super().__init__()
        ### BEGIN SOLUTION
        self.conv1 = nn.Conv2d(c_in, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or c_in != planes:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)
        ### END SOLUTION


# %%
# Self-check: the shapes and parameter counts of three blocks of ResNet-18
for args, shape, count in [((64, 64, 1), (1, 64, 14, 14), 2 * (9 * 64 * 64 + 2 * 64)),
                           ((64, 128, 2), (1, 128, 7, 7), 9 * 64 * 128 + 9 * 128 * 128 + 4 * 128 + 64 * 128 + 2 * 128),
                           ((64, 64, 2), (1, 64, 7, 7), 2 * (9 * 64 * 64 + 2 * 64) + 64 * 64 + 2 * 64)]:
    blk = BasicBlock(*args)
    expect(blk(torch.randn(1, 64, 14, 14)).shape, shape, f"BasicBlock{args} output shape")
    expect(n_params(blk), count, f"parameters of BasicBlock{args} (with a projection when the shape changes)")
print("A4 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_basic_block", "locked": true, "points": 10, "schema_version": 3, "solution": false}
# A4 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import torch as _torch
from cnncourse.grading import check_module, randomize_module, secret_seed
from cnncourse.models import BasicBlock as _RefBasic

_rng = _torch.Generator().manual_seed(secret_seed(34))
_layout = ("conv1 (3x3, stride, padding 1, no bias), bn1, conv2 (3x3, padding 1, no bias), bn2, and downsample = "
           "Sequential(Conv2d(c_in, planes, 1, stride=stride, bias=False), BatchNorm2d(planes)) when stride != 1 OR "
           "c_in != planes, else None")
for _case, (_same_c, _s) in enumerate([(True, 1), (False, 1), (True, 2), (False, 2)]):
    _ci = int(_torch.randint(2, 6, (1,), generator=_rng))
    _p = _ci if _same_c else _ci + int(_torch.randint(1, 4, (1,), generator=_rng))
    _h, _w = (int(v) for v in _torch.randint(4, 10, (2,), generator=_rng))
    _ref = randomize_module(_RefBasic(_ci, _p, _s), secret_seed(34) + _case)
    check_module(BasicBlock, _ref, _torch.randn(2, _ci, _h, _w, generator=_rng), args=(_ci, _p, _s),
                 name=f"BasicBlock({_ci}, {_p}, stride={_s})", forbidden=("a3_architectures",), layout=_layout,
                 hints={"shape": "conv1 has the stride and padding 1; the shortcut must have the same stride",
                        "values": "out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)): the last ReLU comes AFTER "
                                  "the addition, and there is no ReLU between bn2 and the addition"})
### END HIDDEN TESTS

# %% [markdown]
# ### A5. The bottleneck block (10 points)
#
# ResNet-50's block: a 1x1 conv reduces to `planes` channels, a 3x3 conv (with the block's `stride`,
# padding 1) works at that width, a 1x1 conv expands to `4 * planes`; each conv (no bias) is followed
# by batch norm, the first two also by ReLU; then `relu(F(x) + shortcut(x))` with the same projection
# rule as A4 (to `4 * planes` channels). As in torchvision ("ResNet v1.5"), the stride is on the
# **3x3** conv. Write `Bottleneck(c_in, planes, stride=1)` with the attributes `conv1, bn1, conv2, bn2,
# conv3, bn3, downsample`.

# %% nbgrader={"grade": false, "grade_id": "bottleneck_impl", "locked": false, "schema_version": 3, "solution": true}
class Bottleneck(nn.Module):
    '''1x1 reduce -> 3x3 (stride) -> 1x1 expand to 4*planes, plus a shortcut.'''

    expansion = 4

    def __init__(self, c_in, planes, stride=1):
        super().__init__()
        ### BEGIN SOLUTION
        self.conv1 = nn.Conv2d(c_in, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, 4 * planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(4 * planes)
        self.downsample = None
        if stride != 1 or c_in != 4 * planes:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, 4 * planes, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(4 * planes))
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)
        ### END SOLUTION


# %%
# Self-check: ResNet-50's first bottleneck (64 -> 256 channels: a projection) and a later one (identity)
blk = Bottleneck(64, 64)
expect(blk(torch.randn(1, 64, 8, 8)).shape, (1, 256, 8, 8), "Bottleneck(64, 64) output shape")
expect(n_params(blk), 75008, "parameters of Bottleneck(64, 64) (torchvision's layer1.0)")
expect(n_params(Bottleneck(256, 64)), 70400, "parameters of Bottleneck(256, 64) (identity shortcut)")
expect(Bottleneck(256, 128, stride=2)(torch.randn(1, 256, 8, 8)).shape, (1, 512, 4, 4), "Bottleneck(256, 128, stride=2)")
print("A5 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_bottleneck", "locked": true, "points": 10, "schema_version": 3, "solution": false}
# A5 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import torch as _torch
from cnncourse.grading import check_module, randomize_module, secret_seed
from cnncourse.models import Bottleneck as _RefBottleneck

_rng = _torch.Generator().manual_seed(secret_seed(35))
_layout = ("conv1 (1x1 -> planes), bn1, conv2 (3x3, stride, padding 1), bn2, conv3 (1x1 -> 4*planes), bn3, and downsample = "
           "Sequential(Conv2d(c_in, 4*planes, 1, stride=stride, bias=False), BatchNorm2d(4*planes)) when stride != 1 OR "
           "c_in != 4*planes, else None; no conv has a bias")
for _case, (_identity, _s) in enumerate([(True, 1), (False, 1), (False, 2), (True, 2)]):
    _p = int(_torch.randint(1, 4, (1,), generator=_rng))
    _ci = 4 * _p if _identity else int(_torch.randint(2, 7, (1,), generator=_rng))
    _ci = _ci + 1 if (not _identity and _ci == 4 * _p) else _ci
    _h, _w = (int(v) for v in _torch.randint(4, 10, (2,), generator=_rng))
    _ref = randomize_module(_RefBottleneck(_ci, _p, _s), secret_seed(35) + _case)
    check_module(Bottleneck, _ref, _torch.randn(2, _ci, _h, _w, generator=_rng), args=(_ci, _p, _s),
                 name=f"Bottleneck({_ci}, {_p}, stride={_s})", forbidden=("a3_architectures",), layout=_layout,
                 hints={"shape": "the stride belongs on the 3x3 conv (with padding 1) and on the projection shortcut",
                        "values": "relu after bn1 and after bn2, none after bn3; out = relu(bn3(conv3(.)) + shortcut(x)); "
                                  "the stride is on the 3x3 conv (torchvision), not on the first 1x1 conv (the paper)"})
### END HIDDEN TESTS

# %% [markdown]
# ### A6. Squeeze and excitation (6 points)
#
# SENet rescales every channel by a learned gate in (0, 1): squeeze `z = mean over H, W of x`
# (shape `(N, C)`), excite `s = sigmoid(fc2(relu(fc1(z))))` with `fc1 = nn.Linear(C, C // r)` and
# `fc2 = nn.Linear(C // r, C)`, and return `x * s` broadcast over `H, W`. The gates are independent
# per channel (several channels may matter at once): a sigmoid, not a softmax. Write
# `SEBlock(channels, reduction=16)` with the attributes `fc1` and `fc2`.

# %% nbgrader={"grade": false, "grade_id": "se_block_impl", "locked": false, "schema_version": 3, "solution": true}
class SEBlock(nn.Module):
    '''Squeeze-and-excitation: x * sigmoid(fc2(relu(fc1(mean_hw(x))))).'''

    def __init__(self, channels, reduction=16):
        super().__init__()
        ### BEGIN SOLUTION
        self.fc1 = nn.Linear(channels, channels // reduction)
        self.fc2 = nn.Linear(channels // reduction, channels)
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        z = x.mean(dim=(2, 3))                                 # (N, C) squeeze
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(z))))       # (N, C) excitation
        return x * s[:, :, None, None]
        ### END SOLUTION


# %%
# Self-check: SE on 256 channels with r = 16 adds 2*C*C/r + C/r + C parameters
se = SEBlock(256, 16)
expect(n_params(se), 2 * 256 * 256 // 16 + 256 // 16 + 256, "parameters of SEBlock(256, 16)")
x = torch.randn(2, 256, 5, 5)
y = se(x)
expect(y.shape, x.shape, "SEBlock output shape")
ratio = y / x
assert torch.allclose(ratio, ratio[:, :, :1, :1].expand_as(ratio), atol=1e-5), "one gate per channel, the same at every pixel"
assert (ratio > 0).all() and (ratio < 1).all(), "the gates are in (0, 1)"
print("A6 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_se_block", "locked": true, "points": 6, "schema_version": 3, "solution": false}
# A6 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import torch as _torch
from cnncourse.grading import check_module, randomize_module, secret_seed
from cnncourse.models import SEBlock as _RefSE

_rng = _torch.Generator().manual_seed(secret_seed(36))
for _case, _r in enumerate([2, 4, int(_torch.randint(1, 4, (1,), generator=_rng))]):
    _c = _r * int(_torch.randint(1, 5, (1,), generator=_rng))
    _h, _w = (int(v) for v in _torch.randint(2, 8, (2,), generator=_rng))
    _ref = randomize_module(_RefSE(_c, _r), secret_seed(36) + _case)
    check_module(SEBlock, _ref, _torch.randn(3, _c, _h, _w, generator=_rng) + 0.5, args=(_c,), kwargs={"reduction": _r},
                 name=f"SEBlock({_c}, reduction={_r})", forbidden=("a3_architectures",),
                 layout="fc1 = Linear(C, C // r), fc2 = Linear(C // r, C)",
                 hints={"values": "squeeze with the MEAN over H and W (global average pooling); gates = sigmoid(fc2(relu(fc1(z)))) "
                                  "(a sigmoid per channel, not a softmax over the channels); return x * gates"})
### END HIDDEN TESTS

# %% [markdown]
# ### A7. Depthwise-separable convolution (5 points)
#
# MobileNet replaces a 3x3 conv by a 3x3 *depthwise* conv (one filter per input channel:
# `groups=c_in`) and a 1x1 *pointwise* conv that mixes the channels: `9 H W C_in + H W C_in C_out`
# multiplications instead of `9 H W C_in C_out`. Write `DepthwiseSeparable(c_in, c_out, stride=1)` with
# `depthwise = nn.Sequential(nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False), nn.BatchNorm2d(c_in), nn.ReLU())`
# and `pointwise = nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())`.

# %% nbgrader={"grade": false, "grade_id": "depthwise_impl", "locked": false, "schema_version": 3, "solution": true}
class DepthwiseSeparable(nn.Module):
    '''3x3 depthwise conv-BN-ReLU then 1x1 pointwise conv-BN-ReLU.'''

    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        ### BEGIN SOLUTION
        self.depthwise = nn.Sequential(nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False),
                                       nn.BatchNorm2d(c_in), nn.ReLU(inplace=True))
        self.pointwise = nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out),
                                       nn.ReLU(inplace=True))
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        return self.pointwise(self.depthwise(x))
        ### END SOLUTION


# %%
# Self-check: 32 -> 64 channels: 9*32 + 32*64 weights (+ BN) instead of 9*32*64
dw = DepthwiseSeparable(32, 64, stride=2)
expect(dw(torch.zeros(1, 32, 16, 16)).shape, (1, 64, 8, 8), "DepthwiseSeparable(32, 64, stride=2) output shape")
expect(n_params(dw), 9 * 32 + 2 * 32 + 32 * 64 + 2 * 64, "parameters (the depthwise conv has ONE 3x3 filter per channel)")
print("A7 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_depthwise", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# A7 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import torch as _torch
from cnncourse.grading import check_module, randomize_module, secret_seed
from cnncourse.models import DepthwiseSeparable as _RefDW

_rng = _torch.Generator().manual_seed(secret_seed(37))
for _case, _s in enumerate([1, 2]):
    _ci, _co = (int(v) for v in _torch.randint(2, 7, (2,), generator=_rng))
    _h, _w = (int(v) for v in _torch.randint(4, 10, (2,), generator=_rng))
    _ref = randomize_module(_RefDW(_ci, _co, _s), secret_seed(37) + _case)
    check_module(DepthwiseSeparable, _ref, _torch.randn(2, _ci, _h, _w, generator=_rng), args=(_ci, _co, _s),
                 name=f"DepthwiseSeparable({_ci}, {_co}, stride={_s})", forbidden=("a3_architectures",),
                 layout="depthwise = Sequential(Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False), BN, ReLU); "
                        "pointwise = Sequential(Conv2d(c_in, c_out, 1, bias=False), BN, ReLU): a depthwise conv has "
                        "groups=c_in, so its weight is (c_in, 1, 3, 3)",
                 hints={"values": "depthwise (groups=c_in) -> BN -> ReLU, then pointwise 1x1 -> BN -> ReLU",
                        "shape": "the stride belongs on the depthwise 3x3 conv (padding 1)"})
### END HIDDEN TESTS

# %% [markdown]
# ## Part B — What a network costs
#
# ### B1. Counting parameters (5 points)
#
# Write `count_parameters(model)`: the number of **trainable** parameters (`requires_grad`), each
# tensor counted once even when a layer is used twice. Batch norm's running mean and variance are
# *buffers*, not parameters (they are in `state_dict()` but not in `parameters()`). Return an `int`.

# %% nbgrader={"grade": false, "grade_id": "count_parameters_impl", "locked": false, "schema_version": 3, "solution": true}
def count_parameters(model):
    '''Number of trainable parameters of a torch model (shared tensors once).'''
    ### BEGIN SOLUTION
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))
    ### END SOLUTION


# %%
# Self-check: a conv with bias, a BN (2 parameters per channel, plus 2 buffers that do not count), a frozen FC
net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Flatten(), nn.Linear(8 * 4 * 4, 10))
expect(count_parameters(net), (3 * 3 * 3 * 8 + 8) + 2 * 8 + (128 * 10 + 10), "count_parameters(net)")
net[3].requires_grad_(False)
expect(count_parameters(net), (3 * 3 * 3 * 8 + 8) + 2 * 8, "count_parameters(net) with the Linear layer frozen")
print("B1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_count_parameters", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# B1 tests (hidden tests run at grading time): models built from source, in your kernel (or here in a plain run)
### BEGIN HIDDEN TESTS
import builtins as _builtins
import numpy as _np
from cnncourse.costs import conv2d_params as _cp, linear_params as _lp
from cnncourse.grading import call_student, check_int, secret_seed
from cnncourse.grading.remote import is_remote as _is_remote, student_function as _student_function


def _models(src):
    '''(the model for the student's function: built in the student's kernel when graded, the grader's copy)'''
    here = eval(src, {"__builtins__": _builtins})
    return (_student_function(src) if _is_remote(count_parameters) else eval(src, {"__builtins__": _builtins})), here


_rng = _np.random.default_rng(secret_seed(38))
_a, _b, _k, _g = (int(v) for v in (_rng.integers(2, 6), _rng.integers(1, 4), _rng.integers(1, 4), 2))
_T = "(lambda nn: {})(__import__('torch').nn)"
_cases = [
    ("Conv2d with bias + BatchNorm2d + Linear", _T.format(f"nn.Sequential(nn.Conv2d(3, {2 * _a}, {_k}), nn.BatchNorm2d({2 * _a}), nn.Flatten(), nn.Linear({2 * _a}, 7))"),
     _cp(3, 2 * _a, _k) + 2 * 2 * _a + _lp(2 * _a, 7)),
    ("convs without bias, a grouped conv", _T.format(f"nn.Sequential(nn.Conv2d(4, {2 * _a}, 3, bias=False), nn.Conv2d({2 * _a}, {2 * _b * _g}, {_k}, groups={_g}, bias=False))"),
     _cp(4, 2 * _a, 3, bias=False) + _cp(2 * _a, 2 * _b * _g, _k, groups=_g, bias=False)),
    ("a frozen first layer", "(lambda m: (m[0].requires_grad_(False), m)[1])(" + _T.format(f"nn.Sequential(nn.Conv2d(2, {_a}, 3), nn.ReLU(), nn.Conv2d({_a}, 5, 1))") + ")",
     _cp(_a, 5, 1)),
    ("one layer used twice (shared weights)", "(lambda nn: (lambda c: nn.Sequential(c, nn.ReLU(), c, nn.BatchNorm2d(3)))(nn.Conv2d(3, 3, 3, padding=1)))(__import__('torch').nn)",
     _cp(3, 3, 3) + 2 * 3),
    ("nested Sequential blocks", _T.format(f"nn.Sequential(nn.Sequential(nn.Conv2d(1, {_a}, 3), nn.BatchNorm2d({_a})), nn.Sequential(nn.Sequential(nn.Linear({_a}, {_b}))))"),
     _cp(1, _a, 3) + 2 * _a + _lp(_a, _b)),
]
for _what, _src, _formula in _cases:
    _there, _here = _models(_src)
    _want = sum(p.numel() for p in _here.parameters() if p.requires_grad)
    assert _want == _formula, (_what, _want, _formula)  # the formulas of lecture 5 agree with torch
    _got = call_student(count_parameters, _there, forbidden=("a3_architectures",), timeout=10)
    _buffers = sum(b.numel() for b in _here.buffers() if b.is_floating_point())
    check_int(_got, _want, name=f"count_parameters on {_what}",
              hints={"values": f"expected {_want}: count model.parameters() with requires_grad only (frozen ones excluded), "
                               f"each tensor once (a shared layer counts once; nested modules are included once); "
                               f"BN running statistics ({_buffers} values here) are buffers, not parameters"})
### END HIDDEN TESTS

# %% [markdown]
# ### B2. MACs, FLOPs and activation memory (10 points)
#
# Write `model_costs(model, input_shape)`: run the model once on `torch.zeros(input_shape)` (in eval
# mode and under `torch.no_grad()`; restore the mode afterwards) with a forward hook on every module
# that has no submodules ("leaf": `len(list(m.children())) == 0`), and return a `dict` of `int`s for
# the whole batch:
#
# - `"params"`: your `count_parameters(model)`;
# - `"macs"`: multiply-accumulates of the `nn.Conv2d` layers, `N * H_out * W_out * C_out * (C_in / groups) * KH * KW`,
#   and `nn.Linear` layers, `(number of input vectors) * in_features * out_features`; biases,
#   batch norm, activations and pooling count 0 (the convention of `torch.utils.flop_counter`);
# - `"flops"`: `2 * macs`;
# - `"activations"`: the number of elements of every leaf call's output (the input is not counted);
#   `"activation_bytes"`: the same in bytes (`numel * element_size()`).

# %% nbgrader={"grade": false, "grade_id": "model_costs_impl", "locked": false, "schema_version": 3, "solution": true}
def model_costs(model, input_shape):
    '''{"params", "macs", "flops", "activations", "activation_bytes"} of one forward pass on zeros(input_shape).'''
    ### BEGIN SOLUTION
    totals = {"macs": 0, "activations": 0, "activation_bytes": 0}

    def hook(m, inputs, out):
        x = inputs[0]
        if isinstance(m, nn.Conv2d):
            n, c_out, h_out, w_out = out.shape
            kh, kw = m.kernel_size
            totals["macs"] += n * h_out * w_out * c_out * (m.in_channels // m.groups) * kh * kw
        elif isinstance(m, nn.Linear):
            totals["macs"] += (x.numel() // m.in_features) * m.in_features * m.out_features
        totals["activations"] += out.numel()
        totals["activation_bytes"] += out.numel() * out.element_size()

    leaves = [m for m in model.modules() if len(list(m.children())) == 0]
    handles = [m.register_forward_hook(hook) for m in leaves]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(input_shape, device=next(model.parameters()).device))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return {"params": count_parameters(model), "macs": int(totals["macs"]), "flops": 2 * int(totals["macs"]),
            "activations": int(totals["activations"]), "activation_bytes": int(totals["activation_bytes"])}
    ### END SOLUTION


# %%
# Self-check: AlexNet's CONV1 on one 227x227x3 image (lecture 5): 55x55x96 outputs, 34,944 parameters
costs = model_costs(nn.Conv2d(3, 96, 11, stride=4), (1, 3, 227, 227))
expect(costs["params"], 34944, "AlexNet CONV1 parameters ((11*11*3)*96 + 96)")
expect(costs["macs"], 55 * 55 * 96 * 11 * 11 * 3, "AlexNet CONV1 MACs")
expect(costs["flops"], 2 * costs["macs"], "FLOPs = 2 MACs")
expect((costs["activations"], costs["activation_bytes"]), (55 * 55 * 96, 55 * 55 * 96 * 4), "activations (float32)")
print(costs)
print(model_costs(vgg_stage(64, 128, 2), (1, 64, 112, 112)))
print("B2 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_model_costs", "locked": true, "points": 10, "schema_version": 3, "solution": false}
# B2 tests (hidden tests run at grading time): compared with cnncourse.costs.layer_costs
### BEGIN HIDDEN TESTS
import builtins as _builtins
import numpy as _np
import torch as _torch
from cnncourse.costs import layer_costs as _ref_costs
from cnncourse.grading import call_student, check_int, secret_seed
from cnncourse.grading.remote import is_remote as _is_remote, student_function as _student_function

_rng = _np.random.default_rng(secret_seed(39))
_a, _b, _g = int(_rng.integers(2, 5)), int(_rng.integers(1, 4)), 2
_T = "(lambda nn: {})(__import__('torch').nn)"
_cases = [
    ("conv (bias) + BN + ReLU + max pool + Linear", _T.format(f"nn.Sequential(nn.Conv2d(3, {2 * _a}, 3, stride=2, padding=1), nn.BatchNorm2d({2 * _a}), "
                                                              f"nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear({2 * _a} * 2 * 2, 5))"),
     (int(_rng.integers(1, 4)), 3, 8 + 2 * int(_rng.integers(0, 2)), 8)),
    ("a grouped conv and a depthwise conv", _T.format(f"nn.Sequential(nn.Conv2d(4, {2 * _g * _b}, 3, groups={_g}, bias=False), nn.ReLU(), "
                                                      f"nn.Conv2d({2 * _g * _b}, {2 * _g * _b}, 3, padding=1, groups={2 * _g * _b}), nn.AdaptiveAvgPool2d(1))"),
     (2, 4, int(_rng.integers(5, 9)), int(_rng.integers(5, 9)))),
    ("Linear on a (N, T, F) input", _T.format(f"nn.Sequential(nn.Linear(6, {3 * _a}), nn.ReLU(), nn.Linear({3 * _a}, 2))"), (2, int(_rng.integers(2, 5)), 6)),
]
for _what, _src, _shape in _cases:
    _here = eval(_src, {"__builtins__": _builtins})
    _there = _student_function(_src) if _is_remote(model_costs) else eval(_src, {"__builtins__": _builtins})
    _rep = _ref_costs(_here, _torch.zeros(_shape))
    _elements, _bytes = _rep.memory(include_input=False)
    _want = {"params": _rep.total_params, "macs": _rep.total_macs, "flops": _rep.total_flops,
             "activations": _elements, "activation_bytes": _bytes}
    _got = call_student(model_costs, _there, _shape, forbidden=("a3_architectures",), timeout=20)
    assert isinstance(_got, dict), f"model_costs(...) returned a {type(_got).__name__}, expected a dict"
    _bias = sum(l.activations for l in _rep.layers if l.type in ("Conv2d", "Linear"))
    _hints = {
        "params": "count_parameters(model): every trainable parameter once",
        "macs": f"expected {_want['macs']:,} (per layer: " + ", ".join(f"{l.type} {l.macs:,}" for l in _rep.layers if l.macs) +
                f"); a conv costs N*H_out*W_out*C_out*(C_in/groups)*KH*KW: no +1 for the bias (that would add {_bias:,}), "
                "divide C_in by groups, use the OUTPUT size; a Linear on (N, T, F) inputs works on N*T vectors",
        "flops": "FLOPs = 2 * MACs",
        "activations": f"expected {_elements:,}: the outputs of every leaf module (ReLU, pooling, flatten included), without the "
                       f"input ({_rep.input_elements:,} elements)",
        "activation_bytes": "elements * element_size() (4 bytes for float32)",
    }
    for _key, _value in _want.items():
        assert _key in _got, f"model_costs on {_what}: the dict has no key {_key!r} (keys: {sorted(_got)})"
        check_int(_got[_key], _value, name=f"model_costs on {_what}, input {_shape}: {_key!r}", hints={"values": _hints[_key]})
### END HIDDEN TESTS

# %% [markdown]
# ## Part C — Training a small CNN on the digits
#
# ### C1. A digits CNN at >= 98% held-out accuracy, trained in under a minute (15 points)
#
# Write the class `DigitsCNN` with exactly this layout (the layout of lecture 6's network; part D
# uses it):
#
# ```
# features = nn.Sequential(
#     nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU()),   # features.0
#     nn.MaxPool2d(2),                                                                          # features.1
#     nn.Sequential(nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU()),  # features.2
#     nn.Sequential(nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU()))  # features.3
# pool = nn.AdaptiveAvgPool2d(1);  fc = nn.Linear(64, 10)
# forward: fc(pool(features(x)).flatten(1))   # (N, 10) logits
# ```
#
# Then train it on the **training split** of `load_digits_split()` (8x8 images in [0, 1]) and name the
# trained network `digits_model` (left in eval mode, on any device) and the training time in seconds
# `train_seconds`. Seed everything (`torch.manual_seed`) so that a re-run gives the same network.
# The grader measures the accuracy itself, on held-out digits (the test split, with small random
# changes of brightness) — never train on the test split. Budget: at most 60 s on 2 CPU cores
# (Adam with a one-cycle learning-rate schedule, a few epochs, does it in seconds).

# %% nbgrader={"grade": false, "grade_id": "digits_cnn_impl", "locked": false, "schema_version": 3, "solution": true}
class DigitsCNN(nn.Module):
    '''Three conv-BN-ReLU layers (a 2x2 max pool after the first), global average pooling, one linear layer.'''

    def __init__(self):
        super().__init__()
        ### BEGIN SOLUTION
        def cbr(c_in, c_out):
            return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))

        self.features = nn.Sequential(cbr(1, 16), nn.MaxPool2d(2), cbr(16, 32), cbr(32, 64))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, 10)
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        return self.fc(self.pool(self.features(x)).flatten(1))
        ### END SOLUTION


# %%
(x_train, y_train), (x_test, y_test) = load_digits_split()
print("train", tuple(x_train.shape), "test", tuple(x_test.shape))
expect(DigitsCNN()(x_train[:2]).shape, (2, 10), "DigitsCNN output shape")


# %% nbgrader={"grade": false, "grade_id": "train_impl", "locked": false, "schema_version": 3, "solution": true}
### BEGIN SOLUTION
torch.manual_seed(0)
digits_model = DigitsCNN().to(device)
epochs, batch_size, max_lr = 15, 64, 1e-2
optimizer = torch.optim.Adam(digits_model.parameters(), lr=max_lr)
steps = epochs * math.ceil(len(x_train) / batch_size)
schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=steps)
order = torch.Generator().manual_seed(0)
start = time.perf_counter()
digits_model.train()
for epoch in range(epochs):
    perm = torch.randperm(len(x_train), generator=order)
    for i in range(0, len(x_train), batch_size):
        idx = perm[i:i + batch_size]
        loss = F.cross_entropy(digits_model(x_train[idx].to(device)), y_train[idx].to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
digits_model.eval()
train_seconds = time.perf_counter() - start
### END SOLUTION

# %%
# Self-check: the time budget and your own estimate on the test split (the grader measures its own)
with torch.no_grad():
    test_accuracy = (digits_model(x_test.to(device)).argmax(1).cpu() == y_test).float().mean().item()
print(f"trained in {train_seconds:.1f} s; test accuracy {test_accuracy:.4f}")
assert train_seconds < 60, f"training took {train_seconds:.0f} s: the budget is 60 s (fewer epochs, a larger batch)"
assert test_accuracy >= 0.98, f"test accuracy {test_accuracy:.4f} < 0.98: train longer or with a better learning rate"
print("C1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_train_digits", "locked": true, "points": 15, "schema_version": 3, "solution": false}
# C1 tests (hidden tests run at grading time): accuracy on held-out digits computed by the grader
### BEGIN HIDDEN TESTS
import torch as _torch
from cnncourse.data import load_digits as _load_digits
from cnncourse.grading import call_student, secret_seed

_, (_xh, _yh) = _load_digits(size=8)
_gen = _torch.Generator().manual_seed(secret_seed(40))
_xh = _torch.as_tensor(_xh)
_xh = (_xh * (0.9 + 0.1 * _torch.rand(len(_xh), 1, 1, 1, generator=_gen))).clamp(0, 1)   # a small brightness change
_yh = _torch.as_tensor(_yh)
call_student(digits_model.to, "cpu", timeout=30, check_result=False)
call_student(digits_model.eval, timeout=30, check_result=False)
_logits = call_student(digits_model, _xh, forbidden=("a3_architectures",), timeout=60)
assert tuple(_logits.shape) == (len(_xh), 10), f"digits_model returned shape {tuple(_logits.shape)} for {len(_xh)} images, expected ({len(_xh)}, 10) logits"
_acc = float((_logits.argmax(1).cpu() == _yh).float().mean())
assert _acc >= 0.98, (f"held-out accuracy of digits_model: {_acc:.4f} < 0.98 (on {len(_xh)} held-out digits): train longer "
                      "(more epochs, Adam with a one-cycle schedule) and leave the model in eval mode")
### END HIDDEN TESTS

# %% [markdown]
# ## Part D — What does the network look at?
#
# ### D1. Grad-CAM (10 points)
#
# Grad-CAM explains the score `y_c` (the logit, not the probability) of class `c` at a layer with
# output `A` of shape `(N, K, h, w)`: weight each channel by the spatial mean of the gradient,
# `alpha_k = mean_{x,y} dy_c / dA_k(x, y)`, and keep the positive part: `relu(sum_k alpha_k A_k)`.
# Write `grad_cam(model, layer, x, target)` returning an `(N, h, w)` tensor (detached). `layer` is a
# submodule of `model` (e.g. `model.features`): capture its output with a forward hook
# (`layer.register_forward_hook`, removed afterwards) and get the gradient with
# `torch.autograd.grad` (or `.retain_grad()` and `backward`). `target` is an int (one class for
# every image) or an `(N,)` tensor of classes. Run the model in eval mode (batch norm with its
# running statistics) and restore its mode afterwards.

# %% nbgrader={"grade": false, "grade_id": "grad_cam_impl", "locked": false, "schema_version": 3, "solution": true}
def grad_cam(model, layer, x, target):
    '''relu(sum_k alpha_k A_k) at `layer`, alpha_k = spatial mean of d score_target / d A_k: (N, h, w).'''
    ### BEGIN SOLUTION
    store = {}

    def keep(module, inputs, out):
        store["a"] = out

    handle = layer.register_forward_hook(keep)
    was_training = model.training
    try:
        model.eval()
        with torch.enable_grad():
            scores = model(x)                                            # (N, classes)
            t = torch.as_tensor(target, device=scores.device).long().expand(scores.shape[0])
            a = store["a"]                                               # (N, K, h, w)
            (grads,) = torch.autograd.grad(scores.gather(1, t[:, None]).sum(), a)
    finally:
        handle.remove()
        model.train(was_training)
    alpha = grads.mean(dim=(2, 3))                                       # (N, K)
    return F.relu((alpha[:, :, None, None] * a).sum(dim=1)).detach()     # (N, h, w)
    ### END SOLUTION


# %%
# Self-check: shapes and signs on the trained network, then a look at three test digits
cam = grad_cam(digits_model, digits_model.features, x_test[:3].to(device), y_test[:3].to(device))
expect(cam.shape, (3, 4, 4), "grad_cam at features (4x4 maps after the 2x2 pool)")
assert (cam >= 0).all() and not cam.requires_grad, "Grad-CAM maps are non-negative and detached"
expect(grad_cam(digits_model, digits_model.features, x_test[:2].to(device), 3).shape, (2, 4, 4), "grad_cam with an int target")
assert not digits_model.training, "grad_cam must restore the model's mode (eval here)"
print("D1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_grad_cam", "locked": true, "points": 10, "schema_version": 3, "solution": false}
# D1 tests (hidden tests run at grading time): your grad_cam vs cnncourse.explain.grad_cam on a DigitsCNN with random weights
### BEGIN HIDDEN TESTS
import torch as _torch
from cnncourse.data import load_digits as _load_digits
from cnncourse.explain import grad_cam as _ref_grad_cam
from cnncourse.grading import assert_array_close, call_student, randomize_module, secret_seed
from cnncourse.models import SmallCNN as _SmallCNN

_gen = _torch.Generator().manual_seed(secret_seed(41))
_ref = randomize_module(_SmallCNN(), secret_seed(41))
_student = call_student(DigitsCNN, timeout=30, check_result=False)
try:
    call_student(_student.load_state_dict, {k: v.clone() for k, v in _ref.state_dict().items()}, timeout=30, check_result=False)
except Exception as _e:
    raise AssertionError("grad_cam is tested on your DigitsCNN with the grader's weights, which do not fit it: "
                         f"{getattr(_e, 'message', str(_e))[:800]} (use the layout given in C1)") from None
_, (_xd, _yd) = _load_digits(size=8)
_idx = _torch.randperm(len(_xd), generator=_gen)[:6]
_x, _y = _torch.as_tensor(_xd)[_idx], _torch.as_tensor(_yd)[_idx]
_ref.train()
call_student(_student.train, timeout=30, check_result=False)   # grad_cam must switch to eval mode itself
for _which, _target in [("features", _y), ("features.2", int(_torch.randint(0, 10, (1,), generator=_gen))),
                        ("features", _torch.randint(0, 10, (6,), generator=_gen))]:
    _layer_ref = _ref.features if _which == "features" else _ref.features[2]
    _layer = _student.features if _which == "features" else _student.features[2]
    _want = _ref_grad_cam(_ref, _layer_ref, _x, _target)
    _got = call_student(grad_cam, _student, _layer, _x, _target, forbidden=("a3_architectures",), timeout=30)
    _signed = _ref_grad_cam(_ref, _layer_ref, _x, _target, relu=False)
    assert_array_close(_got, _want, name=f"grad_cam(model, model.{_which}, x (6, 1, 8, 8), target={'tensor' if hasattr(_target, 'shape') else _target})",
                       hints={"values": "alpha_k = MEAN over (h, w) of d score / d A_k (not the sum); map = relu(sum_k alpha_k A_k); "
                                        "the score is the target's LOGIT (not its softmax probability); the model in eval mode"
                                        + (" -- your map has negative values: apply the ReLU" if bool((_got < 0).any()) and bool((_signed < 0).any()) else ""),
                              "shape": "one (h, w) map per image: sum over the channels k"})
    assert _student.training, "grad_cam must restore the model's mode afterwards (it was in train mode; use model.train(was_training))"
### END HIDDEN TESTS

# %% [markdown]
# ### D2. Occlusion maps (10 points)
#
# Zeiler and Fergus slide a square occluder over the image and watch the probability of the true
# class: where it drops, the network needed those pixels. Write `occlusion_map(model, x, target,
# patch=2, stride=1, fill=0.0)`: for every position `(i, j)` set the pixels
# `[i*stride : i*stride + patch, j*stride : j*stride + patch]` of **every channel** to `fill` (on a
# copy of the image) and record `softmax(model(occluded))[target]`. Return an `(N, H_out, W_out)`
# tensor with `H_out = (H - patch) // stride + 1` (the same for W). `target` is an int or `(N,)`
# classes. Run the model in eval mode and without gradients; restore its mode.

# %% nbgrader={"grade": false, "grade_id": "occlusion_impl", "locked": false, "schema_version": 3, "solution": true}
def occlusion_map(model, x, target, patch=2, stride=1, fill=0.0):
    '''Probability of `target` with a patch x patch square of `fill` at every position: (N, H_out, W_out).'''
    ### BEGIN SOLUTION
    n, _, h, w = x.shape
    rows, cols = range(0, h - patch + 1, stride), range(0, w - patch + 1, stride)
    t = torch.as_tensor(target, device=x.device).long().expand(n)
    out = torch.empty(n, len(rows), len(cols), dtype=x.dtype, device=x.device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for a, i in enumerate(rows):
                for b, j in enumerate(cols):
                    xs = x.clone()
                    xs[:, :, i:i + patch, j:j + patch] = fill
                    probs = torch.softmax(model(xs), dim=1)              # (N, classes)
                    out[:, a, b] = probs[torch.arange(n), t]
    finally:
        model.train(was_training)
    return out
    ### END SOLUTION


# %%
# Self-check: the shape, and a look at the three maps of lecture 6 for three test digits
occ = occlusion_map(digits_model, x_test[:3].to(device), y_test[:3].to(device), patch=2, stride=1)
expect(occ.shape, (3, 7, 7), "occlusion_map(patch=2, stride=1) on 8x8 images")
assert ((occ >= 0) & (occ <= 1)).all(), "probabilities are in [0, 1]"
expect(occlusion_map(digits_model, x_test[:1].to(device), 0, patch=3, stride=2).shape, (1, 3, 3), "patch=3, stride=2")
fig, axes = plt.subplots(3, 3, figsize=(6.5, 6.5))
for r in range(3):
    axes[r, 0].imshow(x_test[r, 0], cmap="gray")
    axes[r, 0].set_title(f"digit {int(y_test[r])}", fontsize=9)
    im1 = axes[r, 1].imshow(cam[r].cpu(), cmap="inferno")
    axes[r, 1].set_title("Grad-CAM (features)", fontsize=9)
    fig.colorbar(im1, ax=axes[r, 1], fraction=0.046)
    im2 = axes[r, 2].imshow(occ[r].cpu(), cmap="viridis", vmin=0, vmax=1)
    axes[r, 2].set_title("P(true class), occluded", fontsize=9)
    fig.colorbar(im2, ax=axes[r, 2], fraction=0.046)
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()
print("D2 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_occlusion", "locked": true, "points": 10, "schema_version": 3, "solution": false}
# D2 tests (hidden tests run at grading time): your occlusion_map vs cnncourse.explain.occlusion_map
### BEGIN HIDDEN TESTS
import torch as _torch
from cnncourse.data import load_digits as _load_digits
from cnncourse.explain import occlusion_map as _ref_occlusion
from cnncourse.grading import assert_array_close, call_student, randomize_module, secret_seed
from cnncourse.models import SmallCNN as _SmallCNN

_gen = _torch.Generator().manual_seed(secret_seed(42))
_ref = randomize_module(_SmallCNN(), secret_seed(42))
_student = call_student(DigitsCNN, timeout=30, check_result=False)
try:
    call_student(_student.load_state_dict, {k: v.clone() for k, v in _ref.state_dict().items()}, timeout=30, check_result=False)
except Exception as _e:
    raise AssertionError("occlusion_map is tested on your DigitsCNN with the grader's weights, which do not fit it: "
                         f"{getattr(_e, 'message', str(_e))[:800]} (use the layout given in C1)") from None
_, (_xd, _yd) = _load_digits(size=8)
_idx = _torch.randperm(len(_xd), generator=_gen)[:3]
_x, _y = _torch.as_tensor(_xd)[_idx], _torch.as_tensor(_yd)[_idx]
_ref.train()
call_student(_student.train, timeout=30, check_result=False)   # occlusion_map must switch to eval mode itself
for _patch, _stride, _fill, _target in [(2, 1, 0.0, _y), (3, 2, 0.5, int(_torch.randint(0, 10, (1,), generator=_gen))),
                                        (int(_torch.randint(1, 5, (1,), generator=_gen)), 3, 1.0, _y)]:
    _want = _ref_occlusion(_ref, _x, _target, patch=_patch, stride=_stride, fill=_fill)
    _got = call_student(occlusion_map, _student, _x, _target, patch=_patch, stride=_stride, fill=_fill,
                        forbidden=("a3_architectures",), timeout=60)
    assert_array_close(_got, _want, name=f"occlusion_map(model, x (3, 1, 8, 8), target, patch={_patch}, stride={_stride}, fill={_fill})",
                       hints={"shape": f"H_out = (H - patch) // stride + 1 = {(8 - _patch) // _stride + 1}: the occluder's top-left corner "
                                       "moves by `stride` pixels (not by `patch`) and stays inside the image",
                              "values": "softmax probability of the target class (not the logit), with the square "
                                        "[i*stride : i*stride + patch, j*stride : j*stride + patch] set to `fill`, the model in eval mode"})
### END HIDDEN TESTS
