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
# # Lecture 03 — Pooling
#
# Pooling summarises each neighbourhood of a feature map by one number (its maximum or its mean).
# It makes representations smaller, aggregates features, enlarges the receptive field and makes
# the output less sensitive to small shifts of the input.
#
# As in lecture 02, every worked example is computed live with `cnncourse` and checked against
# the slide with `compare_with_slide`.
#
# **Contents**
# 1. Motivation: feature aggregation and shift invariance
# 2. Pooling a 1D vector
# 3. Max and mean pooling on the 5x5 example
# 4. Shift invariance, measured
# 5. Backward: where do the gradients go? (overlaps and ties)
# 6. Spatial pyramid pooling
# 7. Global pooling
# 8. Pooling 3D volumes

# %%
# %matplotlib inline
import numpy as np
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from cnncourse.arithmetic import conv_output_size, format_receptive_field_table, receptive_field
from cnncourse.gradcheck import eval_numerical_gradient_array, rel_error
from cnncourse.layers import (avg_pool2d_backward, avg_pool2d_forward, conv2d_forward,
                              global_avg_pool_forward, max_pool2d_backward, max_pool2d_forward,
                              relu_forward)
from cnncourse.pyramid import (adaptive_bins, adaptive_pool2d_forward,
                               spatial_pyramid_pool_backward, spatial_pyramid_pool_forward)
from cnncourse.viz import compare_with_slide, draw_gradient_routes, draw_pool_step, show_matrix

np.set_printoptions(suppress=True, precision=3)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Motivation
#
# **Feature aggregation.** The slide's example: a $64\times64\times16$ input, a convolution with
# 32 filters (3x3, padding 1) gives $64\times64\times32$, and 2x2 max pooling with stride 2 gives
# $32\times32\times32$ — four times fewer activations, with **no parameters**. Pooling operates on
# each feature map independently, so the number of channels is unchanged.

# %%
x = rng.normal(size=(1, 16, 64, 64))                  # (N, C, H, W)
w = rng.normal(size=(32, 16, 3, 3)) * 0.1             # (F, C, KH, KW)
conv_out, _ = conv2d_forward(x, w, np.zeros(32), padding=1)
pooled, _ = max_pool2d_forward(conv_out, 2, 2)
for name, a in [("input", x), ("conv output", conv_out), ("after pooling", pooled)]:
    n, c, h, w_ = a.shape
    print(f"{name:>14}: {h} x {w_} x {c}  ({a[0].size:,} values)")
assert pooled.shape == (1, 32, 32, 32) and conv_out[0].size == 4 * pooled[0].size

# %% [markdown]
# **Shift invariance.** Small shifts of the input should not change the result: the maximum of a
# window does not care *where* in the window the strongest response is. §4 measures this.
#
# Pooling also **enlarges the receptive field**: a 3x3 pooling window with stride 2 between two
# 3x3 convolutions makes the second convolution see 9 input pixels instead of 5.

# %%
rows = receptive_field([dict(name="conv 3x3", kernel=3),
                        dict(name="pool 3, stride 2", kernel=3, stride=2),
                        dict(name="conv 3x3", kernel=3)], input_size=32)
print(format_receptive_field_table(rows))
without_pool = receptive_field([(3,), (3,)])[-1].receptive_field
print("two 3x3 convolutions without the pooling layer:", without_pool)
assert [r.receptive_field for r in rows] == [3, 5, 9] and without_pool == 5

# %% [markdown]
# ## 2. Pooling a 1D vector
#
# The slide pools a 1D vector with a window of 3, padding 0 and stride 2. We reuse the signal of
# lecture 02, `5 9 2 6 7 9 8`, passed to the 2D pooling layers as a $1\times7$ image with a
# $1\times3$ window. Output size $(7 - 3)/2 + 1 = 3$.

# %%
signal = np.array([5, 9, 2, 6, 7, 9, 8], dtype=np.float64).reshape(1, 1, 1, 7)
max_1d, _ = max_pool2d_forward(signal, (1, 3), (1, 2))
mean_1d, _ = avg_pool2d_forward(signal, (1, 3), (1, 2))
print("windows      :", [signal.ravel()[i:i + 3].tolist() for i in (0, 2, 4)])
print("max pooling  :", max_1d.ravel())
print("mean pooling :", mean_1d.ravel())
assert conv_output_size(7, 3, stride=2) == max_1d.shape[-1] == 3
t = torch.from_numpy(signal).view(1, 1, 7)
assert np.allclose(F.max_pool1d(t, 3, 2).numpy().ravel(), max_1d.ravel())
assert np.allclose(F.avg_pool1d(t, 3, 2).numpy().ravel(), mean_1d.ravel())

# %% [markdown]
# ## 3. Max and mean pooling on the 5x5 example
#
# The slides pool the 5x5 input of lecture 02 with a 3x3 window, no padding, stride 1 (the
# windows overlap). Max pooling gives `3 3 3 / 3 3 3 / 3 2 3`; mean pooling gives
# `1.7 1.7 1.7 / 1.0 1.2 1.8 / 1.1 0.8 1.3`, rounded to one decimal.

# %%
X = np.array([[3, 3, 2, 1, 0],
              [0, 0, 1, 3, 1],
              [3, 1, 2, 2, 3],
              [2, 0, 0, 2, 2],
              [2, 0, 0, 0, 1]], dtype=np.float64)
x4 = X.reshape(1, 1, 5, 5)                            # (N, C, H, W)
max_out, max_cache = max_pool2d_forward(x4, 3, 1)
mean_out, mean_cache = avg_pool2d_forward(x4, 3, 1)
compare_with_slide("max pooling 3x3, stride 1", max_out[0, 0],
                   [[3, 3, 3], [3, 3, 3], [3, 2, 3]])
compare_with_slide("mean pooling 3x3, stride 1 (rounded to 1 decimal)", mean_out[0, 0],
                   [[1.7, 1.7, 1.7], [1.0, 1.2, 1.8], [1.1, 0.8, 1.3]], decimals=1)
print("exact means (window sums / 9):\n", mean_out[0, 0] * 9, "/ 9")
assert np.allclose(F.max_pool2d(torch.from_numpy(x4), 3, 1).numpy(), max_out)
assert np.allclose(F.avg_pool2d(torch.from_numpy(x4), 3, 1).numpy(), mean_out)

# %%
draw_pool_step(X, max_out[0, 0], 3, 1, index=7, title="max pooling")
plt.show()
draw_pool_step(X, mean_out[0, 0], 3, 1, index=5, fmt_out="{:.2f}", title="mean pooling")
plt.show()

# %% [markdown]
# ## 4. Shift invariance, measured
#
# We shift a handwritten digit 0–4 pixels to the right and compare the representations before
# and after the shift: the raw pixels, an edge-feature map (the two line filters of lecture 02,
# then ReLU), and that feature map max-pooled with windows 2, 4 and 8 (stride = window), and
# globally. The relative change $\|f(x_{\text{shifted}}) - f(x)\| / \|f(x)\|$ shrinks as the
# pooling window grows; global max pooling does not change at all for a circular shift.

# %%
from sklearn.datasets import load_digits

d = torch.from_numpy(load_digits().images[3] / 16.0)[None, None]     # an 8x8 "3"
digit = F.interpolate(d, size=(24, 24), mode="bilinear", align_corners=True).numpy()
assert digit.min() >= 0 and digit.max() <= 1     # bilinear keeps the range (bicubic would overshoot)
digit = np.pad(digit, ((0, 0), (0, 0), (4, 4), (4, 4)))                # (1, 1, 32, 32)
W_line = np.array([[-1, -1, -1], [2, 2, 2], [-1, -1, -1]], dtype=np.float64)
bank = np.stack([W_line, W_line.T])[:, None]                            # (2, 1, 3, 3)

def features(img):
    return relu_forward(conv2d_forward(img, bank, None, padding=1)[0])[0]   # (1, 2, 32, 32)

def rel_change(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)

base = features(digit)
names = ["pixels", "features", "max pool 2x2", "max pool 4x4", "max pool 8x8", "global max"]
table = []
for s in range(5):
    shifted = np.roll(digit, s, axis=3)
    fs = features(shifted)
    table.append([rel_change(shifted, digit), rel_change(fs, base)]
                 + [rel_change(max_pool2d_forward(fs, k)[0], max_pool2d_forward(base, k)[0])
                    for k in (2, 4, 8)]
                 + [rel_change(fs.max(axis=(2, 3)), base.max(axis=(2, 3)))])
table = np.array(table)
print("shift | " + " | ".join(f"{n:>10}" for n in names))
for s, row in enumerate(table):
    print(f"{s:>5} | " + " | ".join(f"{v:>10.3f}" for v in row))
# larger pooling windows change less, for every non-zero shift; global max not at all
assert np.all(np.diff(table[1:, 1:], axis=1) <= 0) and np.all(table[:, -1] == 0)

# %% [markdown]
# The plot draws one curve per column of the table (the legend lists them from the highest curve at
# shift 4 to the lowest):
#
# * **features** change the most: the line detectors respond to thin strokes, so a shift moves
#   every response off its old position; relative to their size they change more than the pixels;
# * **max pool 2x2, 4x4, 8x8**: the same features max-pooled over windows of that size (stride =
#   window). A maximum only changes when it crosses into another window, so the bigger the
#   window, the lower the curve; 2x2 windows are still above the raw pixels, 4x4 and 8x8 below;
# * **pixels** (dashed grey): the digit itself, for reference;
# * **global max** stays at 0: a circular shift keeps every value, so the maximum of each map is
#   unchanged.

# %%
assert np.all(table[1:, 1] > table[1:, 0])    # the features move more than the pixels
assert np.all(table[1:, 2] > table[1:, 0]) and np.all(table[1:, 3:5] < table[1:, :1])  # 2x2 above, 4x4/8x8 below
fig, ax = plt.subplots(figsize=(6.5, 3.8))
colors = plt.cm.viridis(np.linspace(0, 0.9, len(names) - 1))    # features -> global max
lines = {}
for k, name in enumerate(names):
    style = dict(color="0.45", linestyle="--") if name == "pixels" else dict(color=colors[k - 1])
    lines[name], = ax.plot(range(5), table[:, k], marker="o", label=name, **style)
order = np.argsort(-table[-1], kind="stable")  # legend from the highest curve to the lowest
ax.legend([lines[names[k]] for k in order], [names[k] for k in order], fontsize=8,
          title="representation f", title_fontsize=8, loc="upper left")
ax.set_xticks(range(5))                        # shifts are whole pixels
ax.set_xlabel("shift to the right (pixels)")
ax.set_ylabel("relative change  ||f(shifted) - f(x)|| / ||f(x)||", fontsize=9)
ax.set_title("bigger pooling windows: more shift invariance")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 5. Backward: where do the gradients go?
#
# Pooling has no parameters, but gradients must flow through it.
#
# * **Max pooling** routes each output's gradient to the input that was the maximum of its
#   window; everything else gets 0. With overlapping windows, a pixel that is the maximum of
#   several windows **accumulates** (`+=`) their gradients.
# * **Ties**: when several inputs share the maximum, the max is not differentiable there.
#   PyTorch (and `cnncourse`) give the whole gradient to the **first** maximum in row-major order.
# * **Mean pooling** spreads each output's gradient evenly, `dout / (KH * KW)`, over its window.
#
# On the 5x5 example with an upstream gradient of ones (every output gets gradient 1):

# %%
dout = np.ones_like(max_out)
dx_max = max_pool2d_backward(dout, max_cache)
dx_mean = avg_pool2d_backward(dout, mean_cache)
print("max pooling dx (how many windows chose each pixel):\n", dx_max[0, 0])
print("mean pooling dx (windows covering each pixel / 9):\n", dx_mean[0, 0] * 9, "/ 9")
t = torch.from_numpy(x4).requires_grad_(True)
F.max_pool2d(t, 3, 1).sum().backward()
assert np.array_equal(t.grad.numpy(), dx_max)
assert dx_max.sum() == 9                  # each of the 9 outputs sends its 1 to exactly one pixel
# window (0, 0) has three 3s, at (0,0), (0,1) and (2,0); pixel (0,0) lies in no other window,
# so dx[0,0] == 1 says that window sent its gradient to its FIRST maximum
assert dx_max[0, 0, 0, 0] == 1
ties = np.full((1, 1, 2, 2), 7.0)                     # one window, four equal maxima
dx_ties = max_pool2d_backward(np.ones((1, 1, 1, 1)), max_pool2d_forward(ties, 2)[1])
print("all-equal 2x2 window, dx:\n", dx_ties[0, 0])
assert np.array_equal(dx_ties[0, 0], [[1, 0], [0, 0]])
draw_gradient_routes(X, dout[0, 0], dx_max[0, 0], title="max")
plt.show()
draw_gradient_routes(X, dout[0, 0], dx_mean[0, 0], title="mean", highlight_nonzero=False)
plt.show()


# %% [markdown]
# **Checking with numeric gradients.** On a random input (no ties) the analytic max-pool gradient
# agrees with centred finite differences. On the slide's integer input it does not, *at the ties*:
# nudging one of several equal maxima up raises the output, nudging it down does not, so the
# centred difference reports $\frac{h - 0}{2h} = 0.5$ — the max has no derivative there, and each
# library simply picks one valid subgradient.

# %%
def pool_out(v):
    return max_pool2d_forward(v, 3, 1)[0]

x_rand = rng.normal(size=(1, 1, 5, 5))
_, cache_rand = max_pool2d_forward(x_rand, 3, 1)
err = rel_error(max_pool2d_backward(dout, cache_rand),
                eval_numerical_gradient_array(pool_out, x_rand, dout))
print(f"random input: relative error {err:.1e}")
assert err < 1e-8

num_ties = eval_numerical_gradient_array(pool_out, x4.copy(), dout)
print("slide's input, numeric gradient:\n", num_ties[0, 0])
print("slide's input, analytic (first maximum):\n", dx_max[0, 0])
# pixel (0, 0) is one of three tied maxima of the only window containing it: 0.5 vs 1
assert np.isclose(num_ties[0, 0, 0, 0], 0.5) and dx_max[0, 0, 0, 0] == 1
assert not np.allclose(num_ties, dx_max)

# %% [markdown]
# ## 6. Spatial pyramid pooling
#
# A fully connected classifier needs a fixed-length input, but convolutional feature maps have the
# size of the image. **Spatial pyramid pooling** (SPP, He et al. 2014) pools each feature map over
# an $n\times n$ grid of bins for several $n$ (e.g. 1, 2, 4) and concatenates: with $C$ channels
# the output always has $C(1 + 4 + 16) = 21C$ numbers, whatever $H\times W$. The bins follow
# adaptive pooling: along an axis of size $H$, bin $i$ of $n$ covers
# $[\lfloor iH/n \rfloor, \lceil (i+1)H/n \rceil)$.

# %%
for size in (13, 10, 7):
    print(f"H={size:>2}, 4 bins:", adaptive_bins(size, 4))
levels = (1, 2, 4)
for h, w_ in [(13, 13), (10, 7), (20, 31)]:
    fmap = rng.normal(size=(2, 256, h, w_))                 # conv5 of SPP-net has 256 maps
    spp, _ = spatial_pyramid_pool_forward(fmap, levels, "max")
    ref = torch.cat([F.adaptive_max_pool2d(torch.from_numpy(fmap), n).flatten(1) for n in levels], 1)
    assert np.allclose(spp, ref.numpy())
    print(f"feature map {h:>2}x{w_:<2} x 256 -> SPP vector {spp.shape[1]} (= 256 x 21), equals torch")
    assert spp.shape == (2, 256 * 21)

# %%
fmap = rng.integers(0, 10, size=(1, 1, 13, 13)).astype(np.float64)
fig, axes = plt.subplots(1, 3, figsize=(12, 4))
for ax, n in zip(axes, levels):
    bins = adaptive_bins(13, n)
    boxes = [(r0, c0, r1, c1) for (r0, r1) in bins for (c0, c1) in bins]
    show_matrix(fmap[0, 0], ax, highlight=boxes,
                title=f"level {n}: {n}x{n} bins on a 13x13 map")
plt.show()
pooled, _ = adaptive_pool2d_forward(fmap, 2, "max")
print("2x2 level (max of each bin):\n", pooled[0, 0])
assert pooled[0, 0, 1, 0] == fmap[0, 0, 6:13, 0:7].max()     # bins of 13 in 2: [0, 7), [6, 13)

# %% [markdown]
# The backward pass sums the gradients of the levels: each pixel receives gradient from every bin
# (of every level) whose maximum it is. Checked against PyTorch autograd:

# %%
fmap = rng.normal(size=(1, 3, 9, 6))
out, cache = spatial_pyramid_pool_forward(fmap, levels, "max")
g = rng.normal(size=out.shape)
dx = spatial_pyramid_pool_backward(g, cache)
t = torch.from_numpy(fmap).requires_grad_(True)
torch.cat([F.adaptive_max_pool2d(t, n).flatten(1) for n in levels], 1).backward(torch.from_numpy(g))
print("max |dx - torch|:", np.abs(dx - t.grad.numpy()).max())
assert np.allclose(dx, t.grad.numpy())

# %% [markdown]
# ## 7. Global pooling
#
# Global pooling is the one-bin level of the pyramid: each $H\times W$ map becomes one number.
# Global **average** pooling replaces the large fully connected layers of AlexNet/VGG in modern
# networks (NiN, GoogLeNet, ResNet): it has no parameters and accepts any input size.

# %%
fmap = rng.normal(size=(2, 512, 7, 7))
gap, _ = global_avg_pool_forward(fmap)                      # (N, C)
gmp, _ = adaptive_pool2d_forward(fmap, 1, "max")            # (N, C, 1, 1)
assert np.allclose(gap, fmap.mean(axis=(2, 3))) and np.allclose(gmp[..., 0, 0], fmap.max(axis=(2, 3)))
assert np.allclose(gap, F.adaptive_avg_pool2d(torch.from_numpy(fmap), 1).flatten(1).numpy())
print("global average pooling:", fmap.shape, "->", gap.shape)
fc_weights = 7 * 7 * 512 * 4096
print(f"VGG's flatten + FC-4096: {fc_weights:,} weights;  global average pooling: 0 weights")

# %% [markdown]
# ## 8. Pooling 3D volumes
#
# For volumes (MRI, video) the window also slides along depth; as in 2D, each channel is pooled
# independently and the channel count is unchanged:

# %%
vol = torch.randn(1, 8, 16, 32, 32)                         # (N, C, D, H, W)
pooled3d = F.max_pool3d(vol, kernel_size=2, stride=2)
print(tuple(vol.shape), "-> max_pool3d(2) ->", tuple(pooled3d.shape))
assert pooled3d.shape == (1, 8, conv_output_size(16, 2, 2), 16, 16)

# %% [markdown]
# ## Summary
#
# * Pooling summarises windows (max or mean), per channel, with no parameters; output size follows
#   the same formula as convolution.
# * It aggregates features, enlarges receptive fields and buys shift invariance (measured in §4:
#   bigger windows, smaller change).
# * Max-pool gradients go to the (first) maximum of each window and add up where windows overlap;
#   mean-pool gradients are spread evenly.
# * Spatial pyramid pooling turns any $H\times W$ map into a fixed-length vector; global pooling is
#   its one-bin level.
