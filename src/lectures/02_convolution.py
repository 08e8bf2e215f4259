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
# # Lecture 02 — Convolution
#
# From a 1D signal to multi-channel 2D layers, the arithmetic of padding, stride and dilation,
# receptive fields, 3D and transposed convolution.
#
# Every worked example from the slides is **computed live** with `cnncourse` and printed next to
# the slide's numbers. Each comparison is a check: `compare_with_slide(..., expect_match=True)`
# raises if the library disagrees with a correct slide, and `expect_match=False` marks the places
# where **the slide itself is wrong** (and raises if it turns out not to be).
#
# **Contents**
# 1. Why convolution: the parameter count of fully connected layers on images
# 2. 1D convolution — and the difference between *convolution* and *cross-correlation*
# 3. Convolution as a (Toeplitz) matrix
# 4. 2D convolution: the worked 5x5 example, padding and stride (and a slide error)
# 5. Output size `(N - F + 2P)/S + 1`, including the case where it is not an integer
# 6. Edge detection on grey and RGB images
# 7. Multi-channel filters and many output maps
# 8. Local connectivity and weight sharing: parameter counts
# 9. Receptive field (and a slide error in the 8-layer table)
# 10. Dilated convolution
# 11. 3D convolution
# 12. Transposed convolution
# 13. The convolution explorer (interactive)

# %%
# %matplotlib inline
import numpy as np
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from cnncourse.arithmetic import (conv_output_size, format_receptive_field_table,
                                  receptive_field)
from cnncourse.layers import conv2d_forward, conv_transpose2d_forward, zero_pad2d
from cnncourse.signal import conv_as_toeplitz, convolve, convolve1d, correlate, correlate1d
from cnncourse.viz import (compare_with_slide, conv_explorer, explore_conv, show_feature_maps,
                           show_filters, show_images, show_matrix)

np.set_printoptions(suppress=True, precision=3)

# %% [markdown]
# ## 1. Why convolution?
#
# A fully connected layer connects every input pixel to every hidden unit. The slide's small image
# (28x28 = 784 pixels) with 800 hidden units already needs a $784 \times 800$ weight matrix; an HD
# colour image would need a matrix that does not fit in memory. The eye does not analyse each
# pixel differently either. Convolution keeps three ideas: **parameters shared over space**,
# **sparse (local) connectivity**, and **equivariant representations** (shift the input, the
# feature map shifts too).

# %%
for name, (h, w, c) in {"MNIST 28x28x1": (28, 28, 1), "HD 1920x1080x3": (1080, 1920, 3)}.items():
    n_weights = h * w * c * 800
    print(f"{name:>16}: {n_weights:>13,} weights to 800 hidden units "
          f"= {n_weights * 4 / 2**30:6.2f} GiB in float32")
# one 3x3 convolution with 800 output maps on the HD image:
print(f"3x3 conv, 3 -> 800 channels: {3 * 3 * 3 * 800:,} weights, whatever the image size")

# %% [markdown]
# ## 2. 1D convolution: a weighted moving sum
#
# Slide (seed 001): signal `5 9 2 6 7 9 8`, filter `1 0 -1`, output `-3 -3 5 3 1`. The slide
# draws the filter **flipped** (`-1 0 1`) when it slides it over the signal. That is the
# difference between the two operations:
#
# * **convolution** (signal processing): $s_n = \sum_k x_{n-k}\, w_k$ — the filter is flipped;
# * **cross-correlation**: $s_n = \sum_k x_{n+k}\, w_k$ — no flip.
#
# Convolving with `1 0 -1` is the same as correlating with `-1 0 1`. Deep-learning
# "convolution" layers (`torch.nn.Conv2d`, our `conv2d_forward`) compute **cross-correlation**:
# since the filter is learned, the flip makes no difference to what the network can express.

# %%
signal = np.array([5, 9, 2, 6, 7, 9, 8], dtype=np.float64)
filt = np.array([1, 0, -1], dtype=np.float64)
slide_out = [-3, -3, 5, 3, 1]

print("numpy.convolve (flips)      :", np.convolve(signal, filt, "valid"))
print("numpy.correlate (no flip)   :", np.correlate(signal, filt, "valid"))
print("numpy.correlate with -1 0 1 :", np.correlate(signal, filt[::-1], "valid"))
compare_with_slide("true convolution with 1 0 -1 (cnncourse.signal.convolve1d)",
                   convolve1d(signal, filt), slide_out)
compare_with_slide("cross-correlation with -1 0 1 (cnncourse.signal.correlate1d)",
                   correlate1d(signal, filt[::-1]), slide_out)
unflipped = correlate1d(signal, filt)
print("cross-correlation with the unflipped 1 0 -1:", unflipped, "= minus the slide's output")
assert np.array_equal(unflipped, -np.array(slide_out))

# %% [markdown]
# A convolution *layer* is cross-correlation. Feeding the signal as a 1x7 image to our reference
# layer `conv2d_forward` (and to PyTorch) with the weights `-1 0 1` gives the slide's output,
# while the weights `1 0 -1` give its negative:

# %%
x_1d = signal.reshape(1, 1, 1, 7)                       # (N, C, H, W) = (1, 1, 1, 7)
out_layer, _ = conv2d_forward(x_1d, filt[::-1].reshape(1, 1, 1, 3).copy(), None)
compare_with_slide("conv2d_forward with weights -1 0 1", out_layer.ravel(), slide_out)
out_torch = F.conv1d(torch.from_numpy(signal).view(1, 1, 7), torch.tensor([[[1.0, 0, -1]]],
                                                                         dtype=torch.float64))
print("torch conv1d with weights 1 0 -1:", out_torch.ravel().numpy(), "(cross-correlation)")
assert np.allclose(out_torch.ravel().numpy(), -np.array(slide_out))

# %% [markdown]
# The output is largest where the local patch of the signal looks most like the filter
# (`-1 0 1` is a rising edge: the biggest output, 5, is at `2 6 7`, the steepest rise).
# Convolution is a **local linear operator**.
#
# ## 3. Convolution as a Toeplitz matrix
#
# Because it is linear, a convolution is a matrix multiplication. Each row of the matrix holds the
# filter, shifted one column to the right per output: a **Toeplitz** matrix (constant along
# diagonals). `cnncourse.signal.conv_as_toeplitz` builds it.

# %%
T = conv_as_toeplitz(filt[::-1].copy(), len(signal))   # (5 outputs, 7 inputs)
show_matrix(T, title="Toeplitz matrix of correlation with -1 0 1", cmap="RdBu_r", cbar_label="weight")
plt.show()
print("T @ signal =", T @ signal)
compare_with_slide("Toeplitz product", T @ signal, slide_out)

# %% [markdown]
# In 2D the matrix is *doubly block Toeplitz*: for the 5x5 example below it has one row per
# output pixel (9) and one column per input pixel (25); each row contains the 9 filter weights.
# This is also how GPUs often compute convolution (im2col + matrix multiply).

# %%
X = np.array([[3, 3, 2, 1, 0],
              [0, 0, 1, 3, 1],
              [3, 1, 2, 2, 3],
              [2, 0, 0, 2, 2],
              [2, 0, 0, 0, 1]], dtype=np.float64)
W = np.array([[0, 1, 2],
              [2, 2, 0],
              [0, 1, 2]], dtype=np.float64)
T2 = conv_as_toeplitz(W, X.shape)
fig, ax = plt.subplots(figsize=(11, 3.2))
show_matrix(T2, ax, title=f"doubly block Toeplitz matrix {T2.shape}: out.ravel() = T @ x.ravel()")
plt.show()
print((T2 @ X.ravel()).reshape(3, 3))

# %% [markdown]
# ## 4. 2D convolution: the worked example
#
# **A slide error in the formula.** The slide writes the 2D discrete convolution as
# $s_{r,c} = \sum_{i}\sum_{j} x_{r,c}\, w_{r-i,\,c-j}$. As written, $x_{r,c}$ does not depend on
# the summation indices, so it would just be $x_{r,c}$ times the sum of all weights. The intended
# formula is
# $$s_{r,c} = \sum_{i}\sum_{j} x_{i,j}\, w_{r-i,\,c-j} = \sum_{i}\sum_{j} x_{r-i,\,c-j}\, w_{i,j}
# \quad\text{(true convolution, flipped filter)},$$
# while a CNN layer computes the cross-correlation $s_{r,c} = \sum_{i,j} x_{r+i,\,c+j}\, w_{i,j}$.
# The check below shows that the two differ on the slide's example unless the filter is flipped
# on both axes.

# %%
print("correlate(X, W)            :\n", correlate(X, W))
print("convolve(X, W) (true conv) :\n", convolve(X, W))
assert np.array_equal(convolve(X, W), correlate(X, W[::-1, ::-1]))
print("convolve(X, W) == correlate(X, W flipped on both axes): True")
# the formula as printed on the slide: x_{r,c} * (sum of all weights)
literal = X[:3, :3] * W.sum()
compare_with_slide("the layer vs the slide's formula taken literally", correlate(X, W), literal,
                   expect_match=False, labels=("layer (correlate)", "slide's formula, literally"))

# %% [markdown]
# **No padding, unit strides.** The slide slides the 3x3 filter `0 1 2 / 2 2 0 / 0 1 2` over the
# 5x5 input and gets `12 12 17 / 10 17 19 / 9 6 14`. Our reference layer reproduces it (the input
# is given to the layer as a batch of one single-channel image, NCHW):

# %%
x4 = X.reshape(1, 1, 5, 5)          # (N, C, H, W)
w4 = W.reshape(1, 1, 3, 3)          # (F, C, KH, KW)
out, _ = conv2d_forward(x4, w4, None, stride=1, padding=0)
slide_no_pad = [[12, 12, 17], [10, 17, 19], [9, 6, 14]]
compare_with_slide("5x5 input, 3x3 filter, P=0, S=1", out[0, 0], slide_no_pad)
torch_out = F.conv2d(torch.from_numpy(x4), torch.from_numpy(w4))
assert np.array_equal(torch_out.numpy(), out)

# %%
fig, axes = plt.subplots(3, 3, figsize=(9, 9))
for r in range(3):
    for c in range(3):
        show_matrix(X, axes[r, c], highlight=[(r, c, r + 3, c + 3)],
                    title=f"out[{r},{c}] = {out[0, 0, r, c]:g}")
fig.suptitle("each output is the sum of the window times the filter 0 1 2 / 2 2 0 / 0 1 2")
plt.show()

# %% [markdown]
# **Zero padding 1, stride 2.** The slide pads the input with one ring of zeros, moves the filter
# two pixels at a time and shows the output `6 14 17 / 14 12 12 / 8 10 17`. **That output does
# not follow from this input**: the slide's padded grids were copied from a figure that used a
# different input (only the first value, 6, agrees). Computed with the library, and confirmed by
# PyTorch, the result is `6 17 3 / 8 17 13 / 6 4 4`.

# %%
show_matrix(zero_pad2d(x4, 1)[0, 0], title="zero_pad2d(x, 1): 7x7", padding=1)
plt.show()
out_p1s2, _ = conv2d_forward(x4, w4, None, stride=2, padding=1)
slide_p1s2 = [[6, 14, 17], [14, 12, 12], [8, 10, 17]]
compare_with_slide("P=1, S=2 (slide error)", out_p1s2[0, 0], slide_p1s2, expect_match=False,
                   corrected=[[6, 17, 3], [8, 17, 13], [6, 4, 4]])
assert np.array_equal(F.conv2d(torch.from_numpy(x4), torch.from_numpy(w4), stride=2,
                               padding=1).numpy(), out_p1s2)

# %%
xp = zero_pad2d(x4, 1)[0, 0]
fig, axes = plt.subplots(1, 4, figsize=(13, 3.4))
for k, (r, c) in enumerate([(0, 0), (0, 1), (1, 1), (2, 2)]):
    show_matrix(xp, axes[k], highlight=[(2 * r, 2 * c, 2 * r + 3, 2 * c + 3)], padding=1,
                title=f"out[{r},{c}] = {out_p1s2[0, 0, r, c]:g}")
fig.suptitle("padding 1, stride 2: the window jumps two pixels")
plt.show()

# %% [markdown]
# ## 5. Output size
#
# For input size $N$, filter $F$, padding $P$ and stride $S$ (and dilation $D$, see §10) the output
# size is
# $$\frac{N - F + 2P}{S} + 1 \qquad\Big(\text{with dilation: } \frac{N + 2P - D(F-1) - 1}{S} + 1\Big).$$
# Slide (seed 001): $N = 7$, $F = 3$: stride 1 gives 5, stride 2 gives 3, stride 3 gives
# $4/3 + 1 = 2.33$ — **not an integer**: the filter does not fit an integer number of times.
# `conv_output_size` refuses that case with a clear error; PyTorch silently floors it (and never
# looks at the last column).

# %%
for s in (1, 2):
    print(f"N=7, F=3, S={s}: output {conv_output_size(7, 3, stride=s)}")
try:
    conv_output_size(7, 3, stride=3)
    raise RuntimeError("expected an error for N=7, F=3, S=3")
except ValueError as err:
    print("N=7, F=3, S=3: ValueError:", err)
floor = conv_output_size(7, 3, stride=3, floor=True)
torch_size = F.conv2d(torch.zeros(1, 1, 7, 7), torch.zeros(1, 1, 3, 3), stride=3).shape[-1]
print(f"floor=True gives {floor}; torch gives {torch_size} (column 6 is never used)")
assert floor == torch_size == 2

# %% [markdown]
# **Zero padding keeps the size.** With stride 1 and padding $(F-1)/2$ the output has the input's
# size (F = 3 → P = 1, F = 5 → P = 2, F = 7 → P = 3). Without padding, a 32x32 image convolved
# repeatedly with 5x5 filters shrinks: 32 → 28 → 24 → …

# %%
for f in (3, 5, 7):
    print(f"F={f}, P={(f - 1) // 2}: 7 -> {conv_output_size(7, f, padding=(f - 1) // 2)}")
sizes = [32]
while sizes[-1] >= 5:
    sizes.append(conv_output_size(sizes[-1], 5))
print("5x5 filters, no padding:", " -> ".join(map(str, sizes)))
assert sizes[:3] == [32, 28, 24]

# %% [markdown]
# ## 6. Edge detection on grey and RGB images
#
# The slide's filter $W = \begin{bmatrix}-1&-1&-1\\2&2&2\\-1&-1&-1\end{bmatrix}$ is labelled
# "detect vertical edges". Its rows are constant and it changes **along the vertical axis**, so it
# responds to **horizontal** lines (a bright row between darker rows) and not to vertical ones:
# the caption can only mean "intensity changing in the vertical direction". Its transpose detects
# vertical lines. We check this on a synthetic image with one horizontal and one vertical bar, and
# then use the filters on a handwritten digit (scikit-learn's bundled digits: no download).
#
# In the response maps red is positive and blue negative, with 0 in the middle of each colour bar.
# Each line gives a strong positive response along it, flanked by negative responses on both
# sides (the filter's $-1$ rows see the line there); the small spots at the ends of each line are
# where only part of the filter overlaps it.

# %%
W_slide = np.array([[-1, -1, -1], [2, 2, 2], [-1, -1, -1]], dtype=np.float64)
bank = np.stack([W_slide, W_slide.T])[:, None]            # (F=2, C=1, 3, 3)

bars = np.zeros((24, 24))
bars[6, 3:21] = 1.0            # a horizontal line (row 6)
bars[10:22, 16] = 1.0          # a vertical line (column 16)
resp, _ = conv2d_forward(bars[None, None], bank, None, padding=1)   # (1, 2, 24, 24)
show_images([bars, resp[0, 0], resp[0, 1]], ncols=3, cmap=["gray", "RdBu_r", "RdBu_r"],
            titles=["input: a horizontal and a vertical line", "slide's W", "W transposed"],
            cbar_label=["intensity", "response", "response"], size=2.6)
plt.show()
on_h = np.abs(resp[0, 0, 6, 5:14]).mean()    # slide's W on the horizontal line
on_v = np.abs(resp[0, 0, 13:20, 16]).mean()  # slide's W on the vertical line (away from its ends)
print(f"slide's W: mean |response| on the horizontal line {on_h:.1f}, on the vertical line {on_v:.1f}")
assert on_h == 6.0 and on_v == 0.0

# %% [markdown]
# On a handwritten 7 (8x8 pixels, shown at its own resolution: no resizing, which would blur the
# thin strokes that these 3x3 filters look for; we add a 2-pixel margin of zeros so that the
# layer's zero padding only ever meets background), the slide's $W$ lights up the top bar and the
# short middle bar, $W^T$ the stem. The Sobel filters respond to *edges* (a step from dark to
# bright) rather than lines: Sobel x to left/right edges, Sobel y to top/bottom edges, with the
# sign giving the direction of the step.

# %%
from sklearn.datasets import load_digits

digits = load_digits()
digit = np.pad(digits.images[7] / 16.0, 2)          # the 8x8 "7" in [0, 1], margin 2 -> 12x12
assert digits.target[7] == 7 and digit.min() >= 0 and digit.max() <= 1
sobel_x = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
filters = np.stack([W_slide, W_slide.T, sobel_x, sobel_x.T])[:, None]   # (4, 1, 3, 3)
maps, _ = conv2d_forward(digit[None, None], filters, None, padding=1)    # (1, 4, 12, 12)
show_images([digit] + list(maps[0]), ncols=5, cmap=["gray"] + ["RdBu_r"] * 4,
            cbar_label=["intensity"] + ["response"] * 4,
            titles=["digit 7 (intensity)", "slide's W (horizontal lines)", "W.T (vertical lines)",
                    "Sobel x (vertical edges)", "Sobel y (horizontal edges)"])
plt.show()
top_bar, stem = (2, slice(4, 9)), (slice(7, 10), slice(4, 7))   # (rows, cols) in the 12x12 maps
for part, where in {"top bar": top_bar, "stem": stem}.items():
    print(f"strongest response on the {part:>7}: W {maps[0, 0][where].max():.2f}, "
          f"W.T {maps[0, 1][where].max():.2f}")
assert maps[0, 0][top_bar].max() > 2 * maps[0, 1][top_bar].max()     # W: the horizontal bar
assert maps[0, 1][stem].max() > 2 * maps[0, 0][stem].max()           # W.T: the vertical stem

# %% [markdown]
# **RGB images.** A colour image has 3 channels, so the filter is a $3\times3\times3$ tensor: one
# 3x3 slice per input channel (the slide uses the same $W$ for R, G and B). The depth of the
# filter equals the number of input channels, and the layer **sums** the three per-channel
# correlations into **one** output map.

# %%
yy, xx = np.mgrid[0:32, 0:32]
rgb = np.zeros((3, 32, 32))                       # (C, H, W)
rgb[0] = (np.abs(yy - 10) < 4) & (xx > 4)         # red horizontal band
rgb[1] = (xx - 20) ** 2 + (yy - 20) ** 2 < 60     # green disk
rgb[2] = 0.5 * (xx > 24)                          # blue stripe on the right
w_rgb = np.stack([W_slide] * 3)[None]             # (F=1, C=3, 3, 3)
out_rgb, _ = conv2d_forward(rgb[None], w_rgb, None, padding=1)        # (1, 1, 32, 32)
per_channel = sum(conv2d_forward(rgb[None, c:c + 1], w_rgb[:, c:c + 1], None, padding=1)[0]
                  for c in range(3))
assert np.allclose(out_rgb, per_channel)
print("3x3x3 filter on RGB = sum of the three per-channel 3x3 correlations:", out_rgb.shape)
show_images([rgb.transpose(1, 2, 0), out_rgb[0, 0]], titles=["RGB input", "one output map"],
            ncols=2, cmap="RdBu_r", cbar_label="response", size=2.6)
plt.show()

# %% [markdown]
# ## 7. Multi-channel filters, many output maps
#
# * The filter shape is `(n_filters, input_channels, filter_height, filter_width)` in PyTorch and
#   in `cnncourse` (`(F, C, KH, KW)`; the slide's TensorFlow order is
#   `filter_height x filter_width x input_channels x n_filters`).
# * One filter produces one output feature map, so **the number of output channels equals the
#   number of filters**; the output is `(N, F, H_out, W_out)`.
# * Parameters: `F * C * KH * KW` weights plus `F` biases.

# %%
rng = np.random.default_rng(0)
bank4 = np.stack([np.stack([W_slide] * 3), np.stack([W_slide.T] * 3),
                  np.stack([sobel_x, np.zeros((3, 3)), -sobel_x]),
                  rng.normal(size=(3, 3, 3))])                      # (F=4, C=3, 3, 3)
b4 = np.zeros(4)
maps4, _ = conv2d_forward(rgb[None], bank4, b4, padding=1)
print("input", rgb[None].shape, "* filters", bank4.shape, "->", maps4.shape)
print("parameters:", bank4.size, "weights +", b4.size, "biases =", bank4.size + b4.size)
assert maps4.shape == (1, 4, 32, 32)
show_filters(bank4[:3], fmt="{:.0f}")
plt.show()
show_feature_maps(maps4, titles=["W (horizontal)", "W.T (vertical)", "Sobel R - B", "random"])
plt.show()

# %% [markdown]
# ## 8. Local connectivity and weight sharing
#
# Slide (seed 001): 7 input units and 3 hidden units.
#
# * **Global connectivity** (fully connected): every hidden unit sees all 7 inputs.
# * **Local connectivity**: each hidden unit sees a neighbourhood of 3 inputs (3 hidden units from
#   7 inputs means a window of 3 moved by a stride of 2).
# * **Weight sharing**: all hidden units use the **same** 3 weights.
#
# The convolution matrix makes these counts visible: its non-zero entries are the connections,
# and its distinct values are the parameters.

# %%
w_local = np.array([0.5, -1.0, 2.0])
T_local = conv_as_toeplitz(w_local, 7, stride=2)        # (3 hidden, 7 inputs)
show_matrix(T_local, title="conv as a matrix: 7 inputs -> 3 hidden units (K=3, S=2)", cmap="RdBu_r",
            cbar_label="weight")
plt.show()
counts = {"global connectivity": 7 * 3,
          "local connectivity (no sharing)": int(np.count_nonzero(T_local)),
          "local connectivity + weight sharing": len(np.unique(T_local[T_local != 0]))}
for k, v in counts.items():
    print(f"{k:>38}: {v} parameters")
assert list(counts.values()) == [21, 9, 3]

# %%
# the same counts for a real layer: 32x32x3 image -> 28x28x5 activation maps with 5x5 filters
h_out = conv_output_size(32, 5)
fc = (32 * 32 * 3) * (h_out * h_out * 5)
local = (5 * 5 * 3) * (h_out * h_out * 5)
shared = (5 * 5 * 3) * 5 + 5
print(f"fully connected          : {fc:>12,}")
print(f"locally connected        : {local:>12,}")
print(f"convolution (shared) + b : {shared:>12,}")

# %% [markdown]
# ## 9. Receptive field
#
# The receptive field of a unit is the region of the input it depends on. One 3x3 layer: 3x3;
# two stacked 3x3 layers: 5x5. With the effective kernel $k' = D(K-1)+1$ and the *jump*
# $j$ (distance in input pixels between neighbouring units of a layer):
# $$r_l = r_{l-1} + (k'_l - 1)\, j_{l-1}, \qquad j_l = j_{l-1}\, S_l, \qquad r_0 = j_0 = 1.$$
#
# The slide's 8-layer table (3x3 kernels, strides 1, 2, 1, 1, 2, 1, 1, 2, input 256) gives
# receptive fields 3, 5, 9, 13, 17, 25, 33, 41 and sizes 256 → 32. **Its padding column says 2
# for the stride-1 layers; the sizes require 1** (a 3x3 filter with padding 2 grows 256 to 258).
# The stride-2 layers compute $(256 + 2 - 3)/2 + 1 = 128.5$, floored to 128 as PyTorch does.

# %%
strides = [1, 2, 1, 1, 2, 1, 1, 2]
slide_padding = [2, 1, 2, 2, 1, 2, 2, 1]
slide_rf = [3, 5, 9, 13, 17, 25, 33, 41]
slide_out = [256, 128, 128, 128, 64, 64, 64, 32]

as_printed = receptive_field([dict(name=str(i + 1), kernel=3, stride=s, padding=p)
                              for i, (s, p) in enumerate(zip(strides, slide_padding))], 256)
print("with the slide's padding column:")
print(format_receptive_field_table(as_printed))
compare_with_slide("receptive fields", [r.receptive_field for r in as_printed], slide_rf)
compare_with_slide("output sizes with the slide's paddings (slide error)",
                   [r.output_size for r in as_printed], slide_out, expect_match=False)

# %%
fixed = receptive_field([dict(name=str(i + 1), kernel=3, stride=s, padding=1)
                         for i, s in enumerate(strides)], 256)
print("with padding 1 everywhere:")
print(format_receptive_field_table(fixed))
compare_with_slide("output sizes with padding 1", [r.output_size for r in fixed], slide_out)
compare_with_slide("receptive fields with padding 1", [r.receptive_field for r in fixed], slide_rf)
# independent check of the last size with PyTorch
net = torch.nn.Sequential(*[torch.nn.Conv2d(1, 1, 3, stride=s, padding=1) for s in strides])
assert net(torch.zeros(1, 1, 256, 256)).shape[-1] == 32

# %% [markdown]
# The receptive field can also be *measured*: put gradient 1 on one output unit and see which
# input pixels get a non-zero gradient. With all-ones weights, the centre unit of two stacked 3x3
# convolutions reaches exactly a 5x5 input region:

# %%
x_probe = torch.zeros(1, 1, 11, 11, requires_grad=True)
w_ones = torch.ones(1, 1, 3, 3)
y = F.conv2d(F.conv2d(x_probe, w_ones), w_ones)            # (1, 1, 7, 7)
y[0, 0, 3, 3].backward()
region = (x_probe.grad[0, 0] != 0).numpy()
rows, cols = np.nonzero(region)
print("receptive field of one unit after two 3x3 layers:",
      rows.max() - rows.min() + 1, "x", cols.max() - cols.min() + 1)
assert receptive_field([(3,), (3,)])[-1].receptive_field == rows.max() - rows.min() + 1 == 5

# %% [markdown]
# ## 10. Dilated convolution: a larger receptive field for free
#
# A dilation rate $D$ inserts $D - 1$ gaps between the filter taps. A 3x3 filter at rate 2 covers
# a 5x5 region with still 9 weights: it is the 5x5 filter with zeros between the taps.

# %%
rf = receptive_field([dict(kernel=3, dilation=2)])[0].receptive_field
print("3x3 at dilation 2: receptive field", rf, "x", rf)
assert rf == 5
w_dil = np.zeros((5, 5))
w_dil[::2, ::2] = W                                   # the equivalent 5x5 filter
x7 = rng.normal(size=(1, 1, 9, 9))
a, _ = conv2d_forward(x7, w4, None, dilation=2)
b, _ = conv2d_forward(x7, w_dil.reshape(1, 1, 5, 5), None)
assert np.allclose(a, b)
print("conv with dilation 2 == conv with the zero-inserted 5x5 filter; output", a.shape[-2:])
st = explore_conv(9, 3, dilation=2, row=1, col=2)
print(st.text)
show_matrix(w_dil, title="3x3 filter at dilation 2 = 5x5 with holes")
plt.show()

# %% [markdown]
# ## 11. Convolution on 3D volumes
#
# For volumes (MRI, CT, video) the filter also slides along depth: shape
# `filter_depth x filter_height x filter_width x input_channels x n_filters` (PyTorch:
# `(F, C, KD, KH, KW)`), one output **volume** per filter. A 1-channel MRI needs filters with 1
# channel. `cnncourse.signal.correlate` handles 1, 2 and 3 axes; we check it against
# `torch.nn.functional.conv3d`.

# %%
zz, yy3, xx3 = np.mgrid[0:16, 0:16, 0:16]
volume = ((zz - 8) ** 2 + (yy3 - 8) ** 2 + (xx3 - 8) ** 2 < 25).astype(np.float64)  # a ball
w3d = np.zeros((3, 3, 3))
w3d[0], w3d[2] = -1.0, 1.0                       # difference along depth
vol_out = correlate(volume, w3d, padding=1)
ref3d = F.conv3d(torch.from_numpy(volume)[None, None], torch.from_numpy(w3d)[None, None],
                 padding=1)[0, 0].numpy()
assert np.allclose(vol_out, ref3d)
print("volume", volume.shape, "* 3x3x3 filter ->", vol_out.shape, "(equal to torch conv3d)")
show_images([volume[8], vol_out[5], vol_out[11]], ncols=3, cmap=["gray", "RdBu_r", "RdBu_r"],
            titles=["slice z=8 of the ball", "response at z=5 (top)", "response at z=11 (bottom)"],
            cbar_label=["inside the ball", "response", "response"], size=2.6)
plt.show()

# %% [markdown]
# ## 12. Transposed convolution
#
# Convolution and pooling keep or reduce the size of feature maps; decoders (segmentation,
# lecture 08) need to go back up. The **transposed convolution** multiplies by the *transpose*
# of the convolution matrix $T$: it maps an output-sized array back to the input size. Its output
# size is $(H - 1)S - 2P + D(K - 1) + \text{output\_padding} + 1$.
#
# Equivalently (the slide's "inserting zeros between inputs"): insert $S-1$ zeros between input
# pixels, pad with $D(K-1) - P$ zeros, and correlate with the filter flipped on both axes.
# We check all three views against `conv_transpose2d_forward` and PyTorch.

# %%
y_small = np.array([[1.0, 2.0], [3.0, 4.0]])
w_t = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
for stride, pad in [(2, 0), (2, 1)]:
    up, _ = conv_transpose2d_forward(y_small[None, None], w_t[None, None], None,
                                     stride=stride, padding=pad)          # (1, 1, H_up, W_up)
    ref = F.conv_transpose2d(torch.from_numpy(y_small)[None, None],
                             torch.from_numpy(w_t)[None, None], stride=stride, padding=pad)
    assert np.allclose(up, ref.numpy())
    H_up = up.shape[-1]
    T_up = conv_as_toeplitz(w_t, (H_up, H_up), stride=stride, padding=pad)   # conv H_up -> 2
    assert np.allclose((T_up.T @ y_small.ravel()).reshape(H_up, H_up), up[0, 0])
    dilated = np.zeros(((2 - 1) * stride + 1,) * 2)
    dilated[::stride, ::stride] = y_small                                    # zeros inserted
    zero_insert = correlate(dilated, w_t[::-1, ::-1], padding=2 - pad)
    assert np.allclose(zero_insert, up[0, 0])
    print(f"S={stride}, P={pad}: 2x2 -> {H_up}x{H_up}; layer == torch == T.T @ y == zero insertion")
    show_matrix(up[0, 0], title=f"conv_transpose2d, stride {stride}, padding {pad}", cmap="RdBu_r")
    plt.show()

# %%
# "transposed" is literal: <conv(x), y> == <x, conv_transpose(y)> for every x and y
x_in = rng.normal(size=(1, 1, 5, 5))
y_in = rng.normal(size=(1, 1, 3, 3))
lhs = np.sum(conv2d_forward(x_in, w4, None, stride=2, padding=1)[0] * y_in)
rhs = np.sum(x_in * conv_transpose2d_forward(y_in, w4, None, stride=2, padding=1)[0])
print(f"<conv(x), y> = {lhs:.6f}   <x, conv_T(y)> = {rhs:.6f}")
assert np.isclose(lhs, rhs)

# %% [markdown]
# ## 13. The convolution explorer
#
# Move the sliders: the output size formula, the warning when the stride does not divide, the
# receptive field of a stack of `depth` identical layers, and the window of output
# `(row, col)` drawn on the padded input (hatched grey = zero padding, orange = the taps the filter
# multiplies, red box = the window's extent; the axes count input pixels, so padding has negative
# coordinates or coordinates `>= size`).
# Try `size=7, kernel=3, stride=3` (the 2.33 case) and `dilation=2`.
#
# The widget calls the pure function `explore_conv`, which you can also call directly:

# %%
state = explore_conv(7, 3, stride=3)
print(state.text)
assert state.output_size == 2 and not state.valid

# %%
explorer = conv_explorer(size=7, kernel=3, stride=1, padding=0, dilation=1)
explorer.widget

# %% [markdown]
# ## Summary
#
# * Deep-learning "convolution" is cross-correlation; a true convolution flips the filter.
# * A convolution is a sparse, weight-shared matrix (Toeplitz); its transpose upsamples.
# * Output size $(N + 2P - D(F-1) - 1)/S + 1$ must be an integer for the filter to tile the input.
# * Filters have as many channels as the input; the layer has as many output maps as filters.
# * Receptive fields grow by $(k'-1)\times$jump per layer; dilation enlarges them for free.
# * Slide errors found by computing: the 2D formula's indices, the padding-1/stride-2 output,
#   the padding column of the receptive-field table, and the "vertical edges" caption.
