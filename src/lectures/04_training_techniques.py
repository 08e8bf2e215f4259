# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: nbgrader,tags,-all
#     notebook_metadata_filter: kernelspec,cnncourse,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (cnncourse)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lecture 04 — Training techniques
#
# Deep networks train badly out of the box: activations explode or vanish, layers chase the
# moving distributions of the layers below them, sigmoid outputs saturate and stop learning,
# and networks overfit. This lecture collects the techniques that fixed this: batch normalization
# (and its relatives), dropout, AlexNet's local response normalization, careful weight
# initialization, momentum and learning-rate schedules, and the cross-entropy cost.
#
# Every formula of the slides is computed live with `cnncourse` (numpy references) and checked
# against PyTorch.
#
# **Contents**
# 1. Internal covariate shift
# 2. Batch normalization: forward pass
# 3. Batch normalization: backward pass, gradient by gradient
# 4. Inference: population statistics, $\text{Var}[x] = \frac{m}{m-1} E_B[\sigma_B^2]$, and torch's running averages
# 5. Batch normalization in CNNs: per channel, over $M \cdot P \cdot Q$ values
# 6. Layer, instance and group normalization
# 7. Dropout
# 8. AlexNet's local response normalization (and torch's `alpha`)
# 9. Weight initialization: activations through 10 layers
# 10. Momentum and learning-rate schedules
# 11. Cross-entropy vs quadratic cost: the learning slowdown
# 12. Experiment: does batch normalization allow higher learning rates?

# %%
# %matplotlib inline
import time

import numpy as np
import matplotlib.pyplot as plt
import torch
from torch import nn
import torch.nn.functional as F

from cnncourse.data import load_digits
from cnncourse.gradcheck import rel_error
from cnncourse.layers import (batchnorm_backward, batchnorm_forward, dropout_backward, dropout_forward,
                              groupnorm_forward, instancenorm_forward, layernorm_forward, linear_forward,
                              local_response_norm_forward, relu_forward, tanh_forward)
from cnncourse.optim import cosine_lr, exponential_lr, sgd_update, step_lr

np.set_printoptions(suppress=True, precision=4)
rng = np.random.default_rng(0)
torch.manual_seed(0)
train, test = load_digits()                                   # 1,438 / 359 images, (N, 1, 8, 8)
Xtr, ytr = torch.from_numpy(train.images), torch.from_numpy(train.labels)
Xte, yte = torch.from_numpy(test.images), torch.from_numpy(test.labels)

# %% [markdown]
# ## 1. Internal covariate shift
#
# We train with stochastic gradient descent: every step changes the weights of all layers at once.
# So the distribution of a layer's inputs keeps changing during training: *internal covariate
# shift* (Ioffe & Szegedy, 2015), which **may** make optimization harder (the slide's "may" is
# deliberate; see the end of section 12).
#
# To see it, we train a small MLP with sigmoid units on the digits and follow the input of one
# sigmoid in the last hidden layer on a fixed batch: its 15th, 50th and 85th percentiles, as in
# Figure 1 of the batch-normalization paper. With batch normalization before the sigmoid, the
# distribution stays put.

# %%
def sgd_step(net, lr):
    """Plain SGD on every parameter, p <- p - lr * dloss/dp (what torch.optim.SGD(lr=lr) does)."""
    with torch.no_grad():
        for prm in net.parameters():
            prm -= lr * prm.grad


def sigmoid_mlp(bn, seed=0):
    torch.manual_seed(seed)
    norm = (lambda d: nn.BatchNorm1d(d)) if bn else (lambda d: nn.Identity())
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 100), norm(100), nn.Sigmoid(),
                         nn.Linear(100, 100), norm(100), nn.Sigmoid(), nn.Linear(100, 10))


probe = Xtr[:256]
percentiles = {}
for bn in (False, True):
    net = sigmoid_mlp(bn)
    gen = torch.Generator().manual_seed(0)
    track = []
    for step in range(100):
        idx = torch.randint(0, len(Xtr), (64,), generator=gen)
        loss = F.cross_entropy(net(Xtr[idx]), ytr[idx])
        net.zero_grad()
        loss.backward()
        sgd_step(net, lr=0.5)
        if step % 5 == 0:
            with torch.no_grad():                              # training mode: batch statistics
                pre = net[:6](probe)[:, 0]                     # input of the second sigmoid, unit 0
            track.append(np.percentile(pre.numpy(), [15, 50, 85]))
    percentiles[bn] = np.array(track)

fig, axes = plt.subplots(1, 2, figsize=(11, 3.5), sharey=True)
for ax, bn in zip(axes, (False, True)):
    for k, q in enumerate((15, 50, 85)):
        ax.plot(np.arange(0, 100, 5), percentiles[bn][:, k], label=f"{q}th percentile")
    ax.set_xlabel("training step")
    ax.set_title("with batch norm" if bn else "without batch norm")
    ax.legend(fontsize=8)
axes[0].set_ylabel("input of one sigmoid unit")
plt.tight_layout()
plt.show()
for bn in (False, True):
    q = percentiles[bn]
    print(f"{'with' if bn else 'without'} BN: the median moves over a range of {np.ptp(q[:, 1]):.2f}; "
          f"the 15-85 spread goes {q[0, 2] - q[0, 0]:.2f} -> {q[-1, 2] - q[-1, 0]:.2f}")
relative_drift = {bn: np.ptp(q[:, 1]) / np.mean(q[:, 2] - q[:, 0]) for bn, q in percentiles.items()}
print("drift of the median in units of the 15-85 spread:", {("BN" if k else "no BN"): round(v, 2)
                                                          for k, v in relative_drift.items()})
assert relative_drift[True] < 0.2 and relative_drift[False] > 2

# %% [markdown]
# Without batch norm the unit's input is narrow and wanders: its median moves by many times the
# width of the distribution while the layers below learn. With batch norm (statistics of the
# batch, as in training) it stays centred with a stable width; only $\gamma$ and $\beta$ move it,
# slowly.
#
# ## 2. Batch normalization: forward pass
#
# Normalize each scalar feature independently over the $m$ examples of the mini-batch, then let
# the network undo it if it wants to:
#
# $$\mu_B = \frac1m \sum_{n=1}^m x^{(n)}, \qquad \sigma_B^2 = \frac1m \sum_{n=1}^m (x^{(n)} - \mu_B)^2,
# \qquad \hat x^{(n)} = \frac{x^{(n)} - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}}, \qquad y^{(n)} = \gamma \hat x^{(n)} + \beta,$$
#
# element-wise per feature. (The slide sums $n = 1 \dots M$ but divides by $m$: both are the batch
# size.) $\gamma$ and $\beta$ are learned; with $\gamma = \sqrt{\text{Var}[x]}$ and $\beta = E[x]$ the
# layer gives back its input, so normalizing costs no representational power.

# %%
x = rng.normal(loc=[5.0, -2.0, 0.0], scale=[3.0, 0.5, 10.0], size=(8, 3))   # (m=8, d=3)
y, cache = batchnorm_forward(x, np.ones(3), np.zeros(3), None, None, training=True)
print("input  mean / std per feature:", x.mean(axis=0), x.std(axis=0))
print("output mean / std per feature:", y.mean(axis=0), y.std(axis=0))
assert np.allclose(y.mean(axis=0), 0) and np.allclose(y.std(axis=0), 1, atol=1e-3)
ref = F.batch_norm(torch.from_numpy(x), None, None, training=True)
assert np.allclose(y, ref.numpy())

eps = 1e-5
undo, _ = batchnorm_forward(x, np.sqrt(x.var(axis=0) + eps), x.mean(axis=0), None, None, training=True)
print("gamma = sqrt(Var + eps), beta = E: max |y - x| =", np.abs(undo - x).max())
assert np.allclose(undo, x)

# %% [markdown]
# ## 3. Batch normalization: backward pass
#
# The slide asks: *what needs to be computed in the backward pass?* Draw the computation graph of
# one feature and go backwards through it. Every input $x^{(n)}$ reaches the loss along three
# paths: directly through $\hat x^{(n)}$, through $\mu_B$, and through $\sigma_B^2$.
#
# ```
#  x ─┬──────────────────────────────► x - μ ──┬────────────────────────► x̂ = (x - μ) / √(σ² + ε) ──► y = γ x̂ + β ──► loss
#     │                                   ▲     │                              ▲
#     └──► μ = mean(x) ───────────────────┘     └──► σ² = mean((x - μ)²) ──────┘
# ```
#
# With $\partial\ell/\partial y$ given from above (sums over the batch $n = 1 \dots m$):
#
# $$\frac{\partial \ell}{\partial \beta} = \sum_n \frac{\partial \ell}{\partial y^{(n)}}, \qquad
# \frac{\partial \ell}{\partial \gamma} = \sum_n \frac{\partial \ell}{\partial y^{(n)}} \hat x^{(n)}, \qquad
# \frac{\partial \ell}{\partial \hat x^{(n)}} = \frac{\partial \ell}{\partial y^{(n)}} \gamma,$$
#
# $$\frac{\partial \ell}{\partial \sigma_B^2} = \sum_n \frac{\partial \ell}{\partial \hat x^{(n)}} (x^{(n)} - \mu_B)
# \cdot \left(-\tfrac12\right)(\sigma_B^2 + \epsilon)^{-3/2},$$
#
# $$\frac{\partial \ell}{\partial \mu_B} = \sum_n \frac{\partial \ell}{\partial \hat x^{(n)}} \frac{-1}{\sqrt{\sigma_B^2 + \epsilon}}
# + \frac{\partial \ell}{\partial \sigma_B^2} \underbrace{\frac{-2}{m}\sum_n (x^{(n)} - \mu_B)}_{= 0},$$
#
# $$\frac{\partial \ell}{\partial x^{(n)}} = \frac{\partial \ell}{\partial \hat x^{(n)}} \frac{1}{\sqrt{\sigma_B^2 + \epsilon}}
# + \frac{\partial \ell}{\partial \sigma_B^2} \frac{2 (x^{(n)} - \mu_B)}{m} + \frac{\partial \ell}{\partial \mu_B} \frac1m .$$
#
# We evaluate each formula and compare it with the gradient PyTorch's autograd stores on the same
# intermediate node of the same graph:

# %%
m = x.shape[0]
gamma, beta = rng.normal(size=3), rng.normal(size=3)
dy = rng.normal(size=x.shape)                                  # upstream gradient dl/dy

xt = torch.tensor(x, requires_grad=True)
gt, bt = torch.tensor(gamma, requires_grad=True), torch.tensor(beta, requires_grad=True)
mu_t = xt.mean(dim=0)
xc_t = xt - mu_t
var_t = (xc_t ** 2).mean(dim=0)
xhat_t = xc_t / torch.sqrt(var_t + eps)
for node in (mu_t, var_t, xhat_t):
    node.retain_grad()                                         # keep the gradient of inner nodes
(gt * xhat_t + bt).backward(torch.from_numpy(dy))

mu, var = x.mean(axis=0), x.var(axis=0)                        # biased variance, as in the forward pass
xhat = (x - mu) / np.sqrt(var + eps)
dxhat = dy * gamma
dvar = np.sum(dxhat * (x - mu), axis=0) * -0.5 * (var + eps) ** -1.5
dmu = np.sum(dxhat * -1 / np.sqrt(var + eps), axis=0) + dvar * np.mean(-2 * (x - mu), axis=0)
dx = dxhat / np.sqrt(var + eps) + dvar * 2 * (x - mu) / m + dmu / m
dgamma, dbeta = np.sum(dy * xhat, axis=0), np.sum(dy, axis=0)
for name, ours, theirs in [("dl/dxhat", dxhat, xhat_t.grad), ("dl/dsigma^2", dvar, var_t.grad),
                           ("dl/dmu", dmu, mu_t.grad), ("dl/dx", dx, xt.grad),
                           ("dl/dgamma", dgamma, gt.grad), ("dl/dbeta", dbeta, bt.grad)]:
    err = rel_error(ours, theirs.numpy())
    print(f"{name:<12} relative error vs autograd: {err:.1e}")
    assert err < 1e-9

# %% [markdown]
# Substituting $\partial\ell/\partial\mu_B$ and $\partial\ell/\partial\sigma_B^2$ into
# $\partial\ell/\partial x$ and simplifying gives one line, which is what the library's
# `batchnorm_backward` computes:
#
# $$\frac{\partial \ell}{\partial x^{(n)}} = \frac{1}{\sqrt{\sigma_B^2 + \epsilon}}\left(
# \frac{\partial \ell}{\partial \hat x^{(n)}} - \frac1m \sum_k \frac{\partial \ell}{\partial \hat x^{(k)}}
# - \hat x^{(n)} \frac1m \sum_k \frac{\partial \ell}{\partial \hat x^{(k)}} \hat x^{(k)}\right).$$
#
# The two subtracted terms are the projections that remove what the normalization cancels
# anyway: shifting all inputs together, or scaling them together, does not change $\hat x$.

# %%
_, cache = batchnorm_forward(x, gamma, beta, None, None, training=True)
dx_lib, dgamma_lib, dbeta_lib = batchnorm_backward(dy, cache)
print("library vs staged formulas:", rel_error(dx_lib, dx), rel_error(dgamma_lib, dgamma), rel_error(dbeta_lib, dbeta))
assert rel_error(dx_lib, dx) < 1e-9 and np.allclose(dx_lib.sum(axis=0), 0)   # shifting x changes nothing

# %% [markdown]
# ## 4. Inference: population statistics
#
# At test time the output for one image must not depend on the other images of its batch, so the
# batch statistics are replaced by statistics of the whole training set. The slide (after Ioffe &
# Szegedy, section 3.1):
#
# $$E[x] = E_B[\mu_B], \qquad \text{Var}[x] = \frac{m}{m-1} E_B[\sigma_B^2],$$
#
# averaging over the training mini-batches $B$. **The slide says "$m$ is the number of
# mini-batches"; in the paper (and in the formula's logic) $m$ is the mini-batch *size*.** Each
# $\sigma_B^2$ divides by $m$, so it underestimates the variance by the factor $(m-1)/m$ (the same
# bias as `numpy.var` with `ddof=0`); $\frac{m}{m-1}$ is Bessel's correction for *one batch*.
#
# We check it on real mini-batches: the 64 pixel features of the training digits, one epoch in
# batches of $m = 8$.

# %%
feats = train.images.reshape(len(train.images), -1).astype(np.float64)   # (1438, 64) pixel features
feats = feats[:, feats.std(axis=0) > 0.05]                                # drop always-blank pixels
m, n_batches = 8, len(feats) // 8
order = np.random.default_rng(1).permutation(len(feats))[: m * n_batches]
batches = feats[order].reshape(n_batches, m, -1)                          # (179, 8, D)
sigma2_B = batches.var(axis=1)                                            # (179, D) biased, like BN
E_sigma2 = sigma2_B.mean(axis=0)
pop = feats[order].var(axis=0, ddof=1)                                    # variance of all these pixels
seed_formula = m / (m - 1) * E_sigma2
wrong_m = n_batches / (n_batches - 1) * E_sigma2                          # m read as the number of batches
for name, est in [("E_B[sigma_B^2] (uncorrected)", E_sigma2), ("m/(m-1) E_B[sigma_B^2], m = batch size", seed_formula),
                  (f"m = number of batches ({n_batches})", wrong_m)]:
    print(f"{name:<42} mean ratio to the data's variance: {np.mean(est / pop):.4f}")
assert abs(np.mean(seed_formula / pop) - 1) < 0.02 and np.mean(E_sigma2 / pop) < 0.9

# %% [markdown]
# **What torch keeps instead.** `torch.nn.BatchNorm1d/2d` does not store batches; it keeps
# running averages, updated at every training step with the *unbiased* batch variance:
#
# $$\text{running\_var} \leftarrow (1 - \text{momentum})\, \text{running\_var} + \text{momentum} \cdot \frac{m}{m-1} \sigma_B^2 .$$
#
# With `momentum=None` the average is cumulative (each batch weighs $1/\text{number of batches}$),
# which is *exactly* the slide's formula at the end of the epoch. With the default `momentum=0.1` it
# is an exponential moving average that forgets old batches (roughly the last 10 matter): noisier,
# but it follows the network while the weights still change, which is why frameworks use it.
# The library's `batchnorm_forward` has the same semantics; both agree with torch:

# %%
D = feats.shape[1]
ours = {}
for momentum in (None, 0.1):
    rm, rv, count = np.zeros(D), np.ones(D), np.zeros((), np.int64)     # torch's initial buffers
    bn_t = nn.BatchNorm1d(D, momentum=momentum, affine=False).double()
    history = []
    for xb in batches:
        batchnorm_forward(xb, None, None, rm, rv, training=True, momentum=momentum, num_batches_tracked=count)
        bn_t(torch.from_numpy(xb))
        history.append(rv.copy())
    assert np.allclose(rv, bn_t.running_var.numpy()) and np.allclose(rm, bn_t.running_mean.numpy())
    ours[momentum] = np.array(history)
assert np.allclose(ours[None][-1], seed_formula)                     # cumulative = m/(m-1) E_B[sigma_B^2]
err_ema = np.abs(ours[0.1][-1] / pop - 1)
print("momentum=None : running_var == m/(m-1) E_B[sigma_B^2] (and == torch's)")
print(f"momentum=0.1  : running_var == torch's; off the data's variance by {100 * np.median(err_ema):.1f}% "
      "(median over pixels)")

j = int(np.argmax(pop))
plt.figure(figsize=(7, 3.5))
plt.plot(ours[0.1][:, j], label="running_var, momentum = 0.1 (torch default)")
plt.plot(ours[None][:, j], label="running_var, momentum = None (cumulative)")
plt.axhline(pop[j], color="k", ls="--", label="variance of the whole training set")
plt.axhline(E_sigma2[j], color="tab:red", ls=":", label="E_B[sigma_B^2] without the m/(m-1)")
plt.xlabel("mini-batches seen (m = 8)")
plt.ylabel(f"variance estimate, pixel {j}")
plt.legend(fontsize=8)
plt.title("population variance for inference")
plt.show()

# %% [markdown]
# ## 5. Batch normalization in CNNs
#
# After a convolution, all positions of a feature map are produced by the same filter, so they are
# normalized the same way: the mean and variance of channel $c$ are computed over the mini-batch
# **and all locations**, $M \cdot P \cdot Q$ values for $M$ images with $P\times Q$ maps, and
# $\gamma_c, \beta_c$ are learned **per feature map**, not per activation.

# %%
M, C, P, Q = 4, 3, 5, 6
fmap = rng.normal(loc=[[[[2.0]], [[-1.0]], [[0.0]]]], scale=[[[[1.0]], [[3.0]], [[0.2]]]], size=(M, C, P, Q))
rm, rv = np.zeros(C), np.ones(C)
out, _ = batchnorm_forward(fmap, np.ones(C), np.zeros(C), rm, rv, training=True, momentum=1.0)
per_channel = fmap.transpose(1, 0, 2, 3).reshape(C, -1)          # (C, M*P*Q)
print(f"values per channel statistic: M*P*Q = {per_channel.shape[1]}")
print("channel means (axes N, H, W):", per_channel.mean(axis=1), " running_mean (momentum=1):", rm)
assert per_channel.shape[1] == M * P * Q and np.allclose(rm, per_channel.mean(axis=1))
assert np.allclose(rv, per_channel.var(axis=1, ddof=1))             # the unbiased variance is stored
assert np.allclose(out, nn.BatchNorm2d(C).double()(torch.from_numpy(fmap)).detach().numpy())
n_params = sum(p.numel() for p in nn.BatchNorm2d(C).parameters())
print(f"learned parameters: {n_params} (gamma and beta per channel), not 2*C*P*Q = {2 * C * P * Q}")
assert n_params == 2 * C

# %% [markdown]
# ## 6. Layer, instance and group normalization
#
# All normalizations share the form $y = \gamma \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta$;
# they differ in **which values share a mean and variance** (Wu & He, 2018):
#
# | method | statistics over | typical use |
# |---|---|---|
# | batch norm | $N, H, W$ for each channel | CNNs |
# | layer norm | $C, H, W$ for each sample | RNNs, transformers |
# | instance norm | $H, W$ for each sample and channel | style transfer |
# | group norm | $C/G$ channels $\times H, W$ for each sample | CNNs with small batches |
#
# We find the sets experimentally on one tensor: perturb a single input value, $x[0, 0, 0, 0]$, and
# see which outputs change. Exactly those that share its statistics.

# %%
x4 = rng.normal(size=(3, 6, 4, 4))                               # (N, C, H, W)
x4_pert = x4.copy()
x4_pert[0, 0, 0, 0] += 1.0
methods = {
    "batch norm": lambda a: batchnorm_forward(a, None, None, None, None, training=True)[0],
    "layer norm": lambda a: layernorm_forward(a, a.shape[1:])[0],
    "instance norm": lambda a: instancenorm_forward(a)[0],
    "group norm (G = 3)": lambda a: groupnorm_forward(a, 3)[0],
}
torch_refs = {
    "batch norm": lambda t: F.batch_norm(t, None, None, training=True),
    "layer norm": lambda t: F.layer_norm(t, t.shape[1:]),
    "instance norm": lambda t: F.instance_norm(t),
    "group norm (G = 3)": lambda t: F.group_norm(t, 3),
}
fig, axes = plt.subplots(1, 4, figsize=(14, 2.8), layout="constrained")
for ax, (name, fn) in zip(axes, methods.items()):
    assert np.allclose(fn(x4), torch_refs[name](torch.from_numpy(x4)).numpy())
    changed = np.abs(fn(x4_pert) - fn(x4)).max(axis=(2, 3)) > 1e-12      # (N, C)
    ax.imshow(changed, cmap="Blues", vmin=0, vmax=1.4)
    ax.set_title(f"{name}: {changed.sum()} map(s)")
    ax.set_xlabel("channel C")
    ax.set_ylabel("sample N")
    ax.set_xticks(range(6))
    ax.set_yticks(range(3))
    print(f"{name:<20} outputs changed in (sample, channel) maps: {[tuple(map(int, i)) for i in np.argwhere(changed)]}")
fig.suptitle("which feature maps share statistics with x[0, 0, 0, 0] (blue: changed)")
plt.show()

# %% [markdown]
# Batch norm: a column (every sample, one channel). Layer norm: a row (one sample, every
# channel). Instance norm: one map. Group norm with $G = 3$: one sample's group of 2 channels.
# Only batch norm mixes different samples; that is why it depends on the batch size, needs
# running statistics for inference, and why group norm works when a batch holds 1 or 2 images.
#
# ## 7. Dropout
#
# During training, dropout zeroes each activation with probability $p$, so the network cannot
# rely on any single unit (it trains an ensemble of thinned networks). **Inverted dropout**
# scales the survivors by $1/(1-p)$ during training, so that the expected activation is
# unchanged and evaluation is the identity (AlexNet instead multiplied the outputs by $1 - p$ at
# test time; the two are equivalent in expectation). The backward pass multiplies by the same mask.

# %%
acts = np.full((1000, 100), 2.0)
p = 0.5
out_train, cache = dropout_forward(acts, p, True, np.random.default_rng(0))
out_eval, _ = dropout_forward(acts, p, False, np.random.default_rng(0))
print(f"train: {np.mean(out_train == 0):.3f} of the units dropped, survivors = {np.unique(out_train[out_train > 0])}, "
      f"mean {out_train.mean():.3f} (input mean 2.0)")
print("eval : identity:", np.array_equal(out_eval, acts))
dx_drop = dropout_backward(np.ones_like(acts), cache)
assert np.array_equal(dx_drop, out_train / acts)                  # gradient flows only where kept, scaled
assert abs(np.mean(out_train == 0) - p) < 0.01 and abs(out_train.mean() - 2.0) < 0.03
t_out = F.dropout(torch.full((1000, 100), 2.0), p, training=True)
print(f"torch F.dropout: {torch.mean((t_out == 0).float()):.3f} dropped, survivors {t_out[t_out > 0].unique().tolist()}")

# %% [markdown]
# ## 8. AlexNet's local response normalization
#
# Before batch norm, AlexNet normalized each ReLU activation by the activity of neighbouring
# channels at the same position (section 3.3 of the paper, quoted on the slide):
#
# $$b^i_{x,y} = a^i_{x,y} \Big/ \left(k + \alpha \sum_{j=\max(0,\, i - n/2)}^{\min(N-1,\, i + n/2)} (a^j_{x,y})^2\right)^\beta$$
#
# with $k = 2$, $n = 5$, $\alpha = 10^{-4}$, $\beta = 0.75$ ($n/2$ rounded down: channels $i-2 \dots i+2$).
# Evaluated by hand for one position of a 7-channel activation, then with the library:

# %%
K_LRN, N_LRN, ALPHA, BETA = 2.0, 5, 1e-4, 0.75                 # AlexNet, section 3.3 (slide 004)
a = np.array([120.0, 30.0, 200.0, 80.0, 0.0, 150.0, 60.0])      # channels i = 0..6 at one (x, y)
Nc = len(a)
by_hand = np.array([a[i] / (K_LRN + ALPHA * sum(a[j] ** 2 for j in range(max(0, i - N_LRN // 2),
                                                                       min(Nc - 1, i + N_LRN // 2) + 1))) ** BETA
                    for i in range(Nc)])
a4 = a.reshape(1, Nc, 1, 1)                                      # (N, C, H, W)
lib, _ = local_response_norm_forward(a4, size=N_LRN, alpha=ALPHA, beta=BETA, k=K_LRN)
torch_same_alpha = F.local_response_norm(torch.from_numpy(a4), N_LRN, alpha=ALPHA, beta=BETA, k=K_LRN)
torch_scaled = F.local_response_norm(torch.from_numpy(a4), N_LRN, alpha=ALPHA * N_LRN, beta=BETA, k=K_LRN)
print("seed's formula by hand          :", by_hand)
print("cnncourse local_response_norm   :", lib.ravel())
print("torch, alpha = 1e-4             :", torch_same_alpha.numpy().ravel())
print("torch, alpha = 5e-4 (= alpha*n) :", torch_scaled.numpy().ravel())
assert np.allclose(lib.ravel(), by_hand) and np.allclose(torch_scaled.numpy().ravel(), by_hand)
assert not np.allclose(torch_same_alpha.numpy().ravel(), by_hand)

# %% [markdown]
# `torch.nn.LocalResponseNorm` divides $\alpha$ by the window size: it uses the *mean* of the
# squares, $k + \frac{\alpha}{n}\sum_j (a^j)^2$. To reproduce AlexNet with torch, pass
# `alpha = 5e-4` ($= \alpha \cdot n$). (The channel window at the borders is the same in both.)
# LRN is rarely used today; batch normalization replaced it.
#
# ## 9. Weight initialization
#
# Propagate a batch through 10 fully connected layers of 256 units and watch the activations.
# With weights that are too small each layer shrinks the signal and everything collapses to 0 (so
# do the gradients); too large and tanh units saturate at $\pm1$ (gradient $\approx 0$ again). The
# fix keeps the variance constant across layers: **Xavier/Glorot** ($\text{std} = 1/\sqrt{\text{fan\_in}}$)
# for tanh, **He/Kaiming** ($\text{std} = \sqrt{2/\text{fan\_in}}$) for ReLU, which zeroes half its
# inputs and so halves the variance. The weights come from `torch.nn.init`.

# %%
def init_weight(kind, fan_in, fan_out, gen):
    w = torch.empty(fan_out, fan_in, dtype=torch.float64)
    if kind == "N(0, 0.01^2)":
        return nn.init.normal_(w, 0.0, 0.01, generator=gen).numpy()
    if kind == "N(0, 1)":
        return nn.init.normal_(w, 0.0, 1.0, generator=gen).numpy()
    if kind == "Xavier":
        return nn.init.xavier_normal_(w, generator=gen).numpy()
    return nn.init.kaiming_normal_(w, nonlinearity="relu", generator=gen).numpy()   # He


def layer_stds(kind, activation, width=256, layers=10):
    gen = torch.Generator().manual_seed(0)
    h = np.random.default_rng(0).normal(size=(200, width))
    stds = []
    for _ in range(layers):
        h = activation(linear_forward(h, init_weight(kind, width, width, gen))[0])[0]
        stds.append(h.std())
    return np.array(stds)


runs = {("tanh", k): layer_stds(k, tanh_forward) for k in ("N(0, 0.01^2)", "N(0, 1)", "Xavier")}
runs.update({("relu", k): layer_stds(k, relu_forward) for k in ("Xavier", "He")})
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for (act, kind), stds in runs.items():
    ax = axes[0 if act == "tanh" else 1]
    ax.plot(range(1, 11), stds, marker="o", label=kind)
    print(f"{act:<4} {kind:<13} activation std, layer 1 -> 10: {stds[0]:.2e} -> {stds[-1]:.2e}")
for ax, act in zip(axes, ("tanh", "ReLU")):
    ax.set_yscale("log")
    ax.set_xlabel("layer")
    ax.set_ylabel("std of the activations")
    ax.set_title(f"10 layers of {act}")
    ax.legend()
plt.tight_layout()
plt.show()
assert runs[("tanh", "N(0, 0.01^2)")][-1] < 1e-6                  # vanished
assert runs[("tanh", "N(0, 1)")][-1] > 0.9                        # saturated at +-1
assert runs[("relu", "Xavier")][-1] < 0.1 * runs[("relu", "Xavier")][0]   # halves the variance per layer
assert 0.5 < runs[("relu", "He")][-1] / runs[("relu", "He")][0] < 2       # He keeps it

# %% [markdown]
# ## 10. Momentum and learning-rate schedules
#
# On a long narrow valley, gradient descent zig-zags across the steep direction while it crawls
# along the flat one: the learning rate must be small for the steep direction. **Momentum** keeps
# a running velocity, $v \leftarrow \mu v + g$, $\theta \leftarrow \theta - \eta v$ (torch's form; AlexNet
# used $\mu = 0.9$), so consistent gradient directions build up speed and oscillating ones cancel.
# `cnncourse.optim.sgd_update` takes exactly the steps of `torch.optim.SGD` (its tests compare
# them step by step), and its schedules give the learning rates of `torch.optim.lr_scheduler`.

# %%
def valley(theta):
    return 0.5 * (theta[0] ** 2 + 20 * theta[1] ** 2)             # curvatures 1 and 20


CURVATURE = np.array([1.0, 20.0])
paths = {}
for mom in (0.0, 0.9):
    theta, velocity = np.array([-4.0, 1.0]), None
    path = [theta]
    for _ in range(260):
        theta, velocity = sgd_update(theta, CURVATURE * theta, velocity, lr=0.02, momentum=mom)
        path.append(theta)
    paths[mom] = np.array(path)
steps_to = {mom: int(np.argmax([valley(p) < 1e-3 for p in path])) for mom, path in paths.items()}
print("steps until f < 1e-3:", {f"momentum {k}": v for k, v in steps_to.items()})
assert all(valley(path[-1]) < 1e-3 for path in paths.values()) and steps_to[0.9] < steps_to[0.0]

g1 = np.linspace(-4.5, 1.5, 200)
g2 = np.linspace(-1.3, 1.3, 200)
G1, G2 = np.meshgrid(g1, g2)
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 3.8))
ax.contour(G1, G2, valley((G1, G2)), levels=np.geomspace(0.01, 20, 12), colors="0.7")
for mom, path in paths.items():
    ax.plot(path[:80, 0], path[:80, 1], marker=".", ms=3, label=f"SGD, momentum {mom} (first 80 steps)")
ax.set_xlabel(r"$\theta_1$")
ax.set_ylabel(r"$\theta_2$")
ax.legend(fontsize=8)
ax.set_title("f = (theta_1^2 + 20 theta_2^2) / 2, lr = 0.02")

# learning-rate schedules (torch's StepLR, ExponentialLR, CosineAnnealingLR), 100 epochs from 0.1
schedules = {
    "step: / 10 every 30 epochs (AlexNet: / 10 at plateaus)": lambda e: step_lr(e, lr0=0.1, step_size=30),
    "exponential: x 0.95 per epoch": lambda e: exponential_lr(e, lr0=0.1, gamma=0.95),
    "cosine annealing over 100 epochs": lambda e: cosine_lr(e, lr0=0.1, t_max=100),
}
for name, schedule in schedules.items():
    ax2.plot([schedule(e) for e in range(100)], label=name)
ax2.set_yscale("log")
ax2.set_xlabel("epoch")
ax2.set_ylabel("learning rate")
ax2.legend(fontsize=8)
ax2.set_title("learning-rate schedules")
plt.tight_layout()
plt.show()

# %% [markdown]
# AlexNet's recipe (slide 004) puts these together: SGD with momentum 0.9, learning rate
# $10^{-2}$ divided by 10 by hand when the validation accuracy plateaus, L2 weight decay
# $5 \cdot 10^{-4}$, batch size 128, dropout 0.5.
#
# ## 11. Cross-entropy vs quadratic cost: the learning slowdown
#
# A single sigmoid neuron $a = \sigma(wx + b)$ with input $x = 1$ should output $y = 0$ but starts
# badly wrong, $w = b = 2$, $a = \sigma(4) \approx 0.98$. With the quadratic cost
# $C = \frac12 (a - y)^2$ the gradient is $\partial C/\partial w = (a - y)\,\sigma'(z)\,x$: the
# sigmoid is saturated, $\sigma'(4) \approx 0.018$, so the very wrong neuron learns **slowly**. With
# the cross-entropy $C = -[y \ln a + (1 - y)\ln(1 - a)]$ the $\sigma'$ cancels: $\partial C/\partial w
# = (a - y)\, x$, the prediction error of lecture 01. Gradient descent with $\eta = 0.15$, derivatives
# by autograd:

# %%
outputs, costs = {}, {}
for cost in ("quadratic", "cross-entropy"):
    w = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    target = torch.tensor(0.0, dtype=torch.float64)
    outs, cs = [], []
    for epoch in range(300):
        a_out = torch.sigmoid(w * 1.0 + b)
        c = 0.5 * (a_out - target) ** 2 if cost == "quadratic" else F.binary_cross_entropy(a_out, target)
        w.grad = b.grad = None
        c.backward()
        if epoch == 0:
            print(f"{cost:>13}: first gradient dC/dw = {w.grad.item():.4f}")
        with torch.no_grad():
            w -= 0.15 * w.grad
            b -= 0.15 * b.grad
        outs.append(a_out.item())
        cs.append(c.item())
    outputs[cost], costs[cost] = np.array(outs), np.array(cs)
s4 = torch.sigmoid(torch.tensor(4.0)).item()
print(f"sigma(4) = {s4:.4f}, sigma'(4) = {s4 * (1 - s4):.4f}")
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.5))
for cost, out_curve in outputs.items():
    ax.plot(out_curve, label=cost)
    ax2.plot(costs[cost], label=cost)
ax.set_xlabel("epoch")
ax.set_ylabel("neuron output a (target 0)")
ax.legend()
ax.set_title("output")
ax2.set_xlabel("epoch")
ax2.set_ylabel("cost")
ax2.legend()
ax2.set_title("cost (two different functions)")
plt.tight_layout()
plt.show()
print("output after 50 epochs:", {k: round(v[50], 3) for k, v in outputs.items()})
assert outputs["cross-entropy"][50] < 0.2 and outputs["quadratic"][50] > 0.95

# %% [markdown]
# ## 12. Experiment: batch normalization and the learning rate
#
# The slide's first advantage of batch norm: *it enables higher learning rates.* We test it with
# the same small CNN with and without batch norm after each convolution
# (conv 3x3, 16 maps [BN] ReLU, max pool, conv 3x3, 32 maps [BN] ReLU, max pool, linear to 10
# classes), trained on the offline 8x8 digits by plain SGD for 3 epochs (batch 64) at three
# learning rates, two seeds each: a budget that keeps this notebook fast (the run time is printed);
# with time to spare, add seeds and epochs. Without BN the convolutions have a bias; with BN the
# bias is dropped (BN's $\beta$ does its job, as the slide notes).

# %%
def make_cnn(bn, seed):
    torch.manual_seed(seed)

    def block(c_in, c_out):
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=not bn), *([nn.BatchNorm2d(c_out)] if bn else []),
                nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(*block(1, 16), *block(16, 32), nn.Flatten(), nn.Linear(32 * 2 * 2, 10))


def train_cnn(bn, lr, seed, epochs=3, batch=64):
    net = make_cnn(bn, seed)
    gen = torch.Generator().manual_seed(seed)
    losses, accs = [], []
    for _ in range(epochs):
        net.train()
        for idx in torch.randperm(len(Xtr), generator=gen).split(batch):
            loss = F.cross_entropy(net(Xtr[idx]), ytr[idx])
            net.zero_grad()
            loss.backward()
            sgd_step(net, lr)
            losses.append(loss.item())
        net.eval()                                                # BN uses its running statistics
        with torch.no_grad():
            accs.append((net(Xte).argmax(dim=1) == yte).double().mean().item())
    return np.array(losses), np.array(accs)


LRS, SEEDS = (0.05, 0.3, 1.0), (0, 1)
t0 = time.perf_counter()
results = {(bn, lr): [train_cnn(bn, lr, s) for s in SEEDS] for bn in (False, True) for lr in LRS}
print(f"{len(results) * len(SEEDS)} training runs in {time.perf_counter() - t0:.1f} s")
final = {key: np.array([accs[-1] for _, accs in runs_]) for key, runs_ in results.items()}
print(f"\n{'learning rate':>13} | {'test accuracy without BN (2 seeds)':>36} | {'with BN (2 seeds)':>24}")
for lr in LRS:
    print(f"{lr:>13} | {np.round(final[(False, lr)], 3)!s:>36} | {np.round(final[(True, lr)], 3)!s:>24}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4.6), layout="constrained")
colours = dict(zip(LRS, ["tab:blue", "tab:orange", "tab:red"]))
smooth = np.ones(10) / 10
for (bn, lr), runs_ in results.items():
    mean_loss = np.mean([np.convolve(losses, smooth, mode="valid") for losses, _ in runs_], axis=0)
    axes[0].plot(mean_loss, color=colours[lr], ls="-" if bn else "--",
                 label=f"lr {lr}, {'with' if bn else 'without'} BN")
axes[0].set_xlabel("training step")
axes[0].set_ylabel("training loss (moving avg., mean of seeds)")
axes[0].set_ylim(0, 2.5)
axes[0].legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.15))
axes[0].set_title("solid: with BN, dashed: without")
for bn, marker in ((False, "s"), (True, "o")):
    means = [final[(bn, lr)].mean() for lr in LRS]
    axes[1].plot(LRS, means, marker=marker, label=f"{'with' if bn else 'without'} BN (mean)")
    for lr in LRS:
        axes[1].scatter([lr] * len(SEEDS), final[(bn, lr)], marker=marker, color="0.5", s=12)
axes[1].scatter([], [], color="0.5", s=12, label="single seeds")
axes[1].set_xscale("log")
axes[1].set_xlabel("learning rate")
axes[1].set_ylabel("test accuracy after 3 epochs")
axes[1].axhline(0.1, color="k", ls=":", lw=1, label="chance (10 classes)")
axes[1].legend(fontsize=8)
axes[1].set_title("final accuracy vs learning rate")
plt.show()
mean_acc = {key: v.mean() for key, v in final.items()}
assert mean_acc[(True, 0.05)] > mean_acc[(False, 0.05)] + 0.1             # BN learns much faster at a small lr
assert mean_acc[(True, 0.3)] > 0.9                                        # and is reliable at a larger one
assert np.mean([mean_acc[(True, lr)] for lr in LRS]) > np.mean([mean_acc[(False, lr)] for lr in LRS])

# %% [markdown]
# **Reading the results.** At the small learning rate the network without BN has barely started
# after 3 epochs while the BN network is nearly done, and with BN a learning rate of 0.3 works
# reliably too. At the largest rate training becomes erratic with and without BN (loss spikes,
# large differences between seeds), and BN's advantage there is small for this shallow network.
# "Enables higher learning rates" is a tendency you can measure (run more seeds and epochs to see
# it more clearly), not a guarantee.
#
# Why BN helps is itself debated: Santurkar et al. (2018, *How does batch normalization help
# optimization?*) showed that BN networks train well even when covariate shift is injected on
# purpose, and argued that BN smooths the loss landscape instead. The slide's summary stands: *the
# reason for the good performance is controversial.*
#
# ## Summary
#
# * Batch norm standardizes each feature over the mini-batch (each channel over $M \cdot P \cdot Q$
#   values in a CNN), then rescales with learned $\gamma, \beta$; its backward pass is the chain rule
#   through $\mu_B$ and $\sigma_B^2$, compactly a projection of $\partial\ell/\partial\hat x$.
# * Inference uses population statistics, $\text{Var}[x] = \frac{m}{m-1}E_B[\sigma_B^2]$ with $m$
#   the **batch size** (not the number of batches, as the slide says); torch keeps a running
#   average of unbiased batch variances instead (cumulative for `momentum=None`).
# * Layer, instance and group norm use the same formula over other axes and do not depend on the
#   batch.
# * Inverted dropout scales by $1/(1-p)$ in training so evaluation is the identity.
# * AlexNet's LRN uses $\alpha \sum$; torch's `LocalResponseNorm` uses $\frac{\alpha}{n}\sum$.
# * Xavier (tanh) and He (ReLU) initializations keep activations alive through depth.
# * Momentum speeds up valleys; schedules lower the learning rate as training progresses.
# * Cross-entropy removes the $\sigma'$ factor that makes a saturated sigmoid learn slowly.
