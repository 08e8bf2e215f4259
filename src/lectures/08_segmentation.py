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
# # Lecture 08 — Segmentation
#
# Classification gives one label per image, detection one box per object. **Segmentation**
# labels every pixel. This lecture builds the pieces of a segmentation network and its training:
# fully convolutional networks that go down (pooling, strided convolution) and back up
# (transposed convolution), skip connections, the losses (pixel cross-entropy and Dice) and
# metrics (IoU), and the tricks of the trade (mirror padding, loss weighting), then instance
# segmentation (Mask R-CNN) and context (PSPNet).
#
# Every number is computed live with `cnncourse.segmentation` and checked against PyTorch.
#
# **Contents**
# 1. Pixel-wise classification: the slide's label grid
# 2. Semantic segmentation, instance segmentation, detection: one image, three outputs
# 3. The sliding window and its cost
# 4. Fully convolutional networks: any input size
# 5. Downsampling: pooling and strided convolution
# 6. Upsampling: transposed convolution (1D example, matrix transpose, inserting zeros)
# 7. Checkerboard artefacts; resize-convolution and sub-pixel convolution
# 8. Skip connections: what the encoder loses, recovered
# 9. Pixel cross-entropy vs Dice
# 10. Mirror padding
# 11. Loss weighting: edges and class balance
# 12. Instance segmentation: Mask R-CNN's idea
# 13. PSPNet's pyramid pooling

# %%
# %matplotlib inline
import time

import numpy as np
import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F

from cnncourse.data import ShapesDataset
from cnncourse.detection.draw import draw_boxes
from cnncourse.layers import conv2d_forward, conv_transpose2d_forward, max_pool2d_forward, zero_pad2d
from cnncourse.pyramid import adaptive_pool2d_forward
from cnncourse.segmentation import (
    FCN, PyramidPooling, ResizeConv, SubPixelConv, boundary_distance, class_balance_weights,
    confusion_matrix, conv2d_matrix, conv_macs, conv_transpose1d_contributions, conv_transpose2d_by_matrix,
    conv_transpose2d_by_zero_insertion, dice_three_forms, edge_weight_map, evaluate_segmentation,
    insert_zeros, iou_per_class, mask_targets, mean_iou, overlap_counts, paste_masks, patch_classifier,
    phase_means, pixel_cross_entropy_forward, reflect_pad2d_forward, shapes_segmentation_data, show_labels,
    sliding_window_segment, soft_dice_loss, train_segmentation, unet_weight_map, zero_insertion_params,
)
from cnncourse.viz import compare_with_slide, show_matrix

np.set_printoptions(suppress=True, precision=3)
rng = np.random.default_rng(0)
torch.manual_seed(0)
LECTURE_START = time.perf_counter()

# %% [markdown]
# ## 1. Pixel-wise classification
#
# The slide segments a photo of a person with a purse walking on a sidewalk into five classes and
# prints the label of every cell of a coarse $12 \times 20$ grid. Segmentation is classification
# *per pixel*: the target is an $H \times W$ map of labels or, equivalently, $K$ one-hot maps
# $K \times H \times W$, and the network outputs $K$ scores per pixel.

# %%
# Seed 003, slide "Image Segmentation: Pixel-wise Classification": the semantic labels, copied.
SLIDE_CLASSES = ["Person", "Purse", "Plants/Grass", "Sidewalk", "Building/Structures"]
SLIDE_LABELS = np.array([[int(v) for v in row.split()] for row in """
3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 5 5 5 5 5
3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 5 5 5 5 5
3 3 3 3 3 3 3 3 3 1 1 3 3 3 3 5 5 5 5 5
3 3 3 3 3 3 3 3 3 1 1 1 1 3 3 3 5 5 5 5
3 3 3 3 3 3 3 3 3 1 1 3 3 3 3 5 5 5 5 5
5 5 3 3 3 3 3 3 1 1 3 3 5 5 5 5 5 5 5 5
4 4 3 4 1 1 1 1 1 1 1 1 4 4 4 5 5 5 5 5
4 4 3 4 1 1 1 1 1 1 1 1 4 4 4 4 5 5 5 5
4 4 4 1 1 1 1 1 1 1 1 1 4 4 4 4 4 4 4 4
3 3 3 1 1 1 1 1 1 1 1 1 4 4 4 4 4 4 4 4
3 3 3 1 2 2 1 1 1 1 1 1 4 4 4 4 4 4 4 4
3 3 3 1 2 2 1 1 1 1 1 1 4 4 4 4 4 4 4 4
""".strip().splitlines()])
SLIDE_COLORS = ["tab:red", "tab:pink", "tab:green", "tab:gray", "tab:brown"]

fig, axes = plt.subplots(1, 2, figsize=(11, 3.2), gridspec_kw={"width_ratios": [1.3, 1]})
show_labels(SLIDE_LABELS, class_names=SLIDE_CLASSES, colors=SLIDE_COLORS, first_label=1, ax=axes[0],
            title="the slide's 12 x 20 label grid")
counts = np.bincount(SLIDE_LABELS.ravel(), minlength=6)[1:]
axes[1].bar(SLIDE_CLASSES, counts, color=SLIDE_COLORS)
axes[1].set_ylabel("pixels")
axes[1].set_title("pixels per class")
axes[1].tick_params(axis="x", rotation=30)
plt.tight_layout()
plt.show()
onehot = np.stack([SLIDE_LABELS == c for c in range(1, 6)])         # (K, H, W) one-hot target
print("label map", SLIDE_LABELS.shape, "-> one-hot target", onehot.shape)
print(dict(zip(SLIDE_CLASSES, counts.tolist())))
assert onehot.sum(0).max() == 1 and counts.sum() == 240 and counts[1] == 4

# %% [markdown]
# Already on this tiny grid the classes are very unbalanced: the purse has 4 pixels out of 240.
# A loss that sums over pixels hardly notices it — §9 comes back to this.
#
# ## 2. Semantic segmentation, instance segmentation, detection
#
# *Semantic* segmentation labels every pixel with a class and does not separate objects of the same
# class; *detection* gives one box and label per object; *instance* segmentation gives one mask per
# object ("object classification + object detection + semantic segmentation"). The offline
# `ShapesDataset` provides all three targets; this image holds two overlapping circles.

# %%
shapes64 = ShapesDataset(10, image_size=64, seed=0)
sample = shapes64[3]
fig, axes = plt.subplots(1, 4, figsize=(13, 3.0))
axes[0].imshow(sample["image"].transpose(1, 2, 0))
axes[0].set_title("image")
show_labels(sample["semantic"], ax=axes[1], legend=False,
            title="semantic: one class per pixel\n(background, circle, square)")
instance_ids = (sample["masks"] * np.arange(1, len(sample["masks"]) + 1)[:, None, None]).sum(0)
show_labels(instance_ids, class_names=["background"] + [f"object {k + 1}" for k in range(len(sample["masks"]))],
            ax=axes[2], title="instance: one mask per object\n(one colour per object)", legend=False,
            colors=["#222222", "gold", "tab:cyan", "tab:purple"])
draw_boxes(sample["image"], torch.from_numpy(sample["boxes"]), torch.from_numpy(sample["labels"]),
           class_names=ShapesDataset.classes, ax=axes[3])
axes[3].set_title("detection: one box per object")
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
plt.tight_layout()
plt.show()
print("labels of the objects:", [ShapesDataset.classes[k] for k in sample["labels"]])
print("semantic classes present:", np.unique(sample["semantic"]).tolist(), " instances:", len(sample["masks"]))
assert (sample["labels"] == 0).sum() == 2    # two circles: one semantic class, two instances

# %% [markdown]
# ## 3. The sliding window and its cost
#
# A first idea: cut a patch around every pixel and classify the centre pixel with a CNN. For an
# $H \times W$ image that is $HW$ forward passes, and neighbouring patches overlap almost
# entirely, so the same features are computed again and again.
#
# A network made only of *unpadded* convolutions maps a $w \times w$ patch to a $1 \times 1$
# output. Run on the whole (mirror-padded, §10) image it returns the centre-pixel scores of all
# $HW$ patches in **one** pass — the same numbers, with the overlapping computation shared.

# %%
window = 11                                           # five unpadded 3x3 convolutions
net = patch_classifier(3, 4, window=window, width=16).eval()
img = torch.from_numpy(shapes64[0]["image"])[None, :, :32, :32]     # (1, 3, 32, 32)

t0 = time.perf_counter()
slow = sliding_window_segment(net, img, window)       # 32 * 32 = 1024 patches
t_slow = time.perf_counter() - t0
t0 = time.perf_counter()
with torch.no_grad():
    fast = net(F.pad(img, (window // 2,) * 4, mode="reflect"))       # one pass on a 42 x 42 image
t_fast = time.perf_counter() - t0
macs_slow = 32 * 32 * conv_macs(net, (1, 3, window, window))
macs_fast = conv_macs(net, (1, 3, 32 + window - 1, 32 + window - 1))
print(f"sliding window: {32 * 32} passes, {macs_slow / 1e6:7.1f} M multiply-adds, {t_slow * 1e3:6.1f} ms")
print(f"one FCN pass  :    1 pass,    {macs_fast / 1e6:7.1f} M multiply-adds, {t_fast * 1e3:6.1f} ms")
print(f"same scores: {torch.allclose(slow, fast, atol=1e-5)};  {macs_slow / macs_fast:.0f}x fewer operations")
assert torch.allclose(slow, fast, atol=1e-5) and macs_slow > 10 * macs_fast

# %% [markdown]
# ## 4. Fully convolutional networks: any input size
#
# "FCN uses convolution and pooling only, which allows to input images with arbitrary size."
# No fully connected layer fixes the input size. Our `FCN` is an encoder (conv blocks and 2x2 max
# pooling: the resolution halves, the channels double) and a decoder (2x2 stride-2 transposed
# convolutions back up) with a 1x1 convolution giving $K$ scores per pixel. One network, two input
# sizes (one of them odd and not square):

# %%
fcn = FCN(in_channels=3, num_classes=4, width=8, depth=4).eval()
for size in [(32, 32), (45, 38)]:
    x = torch.randn(1, 3, *size)
    shapes = []                                       # (C, H, W) after every encoder and up stage
    record = shapes.append
    hooks = [m.register_forward_hook(lambda mod, i, o, record=record: record(tuple(o.shape[1:])))
             for m in list(fcn.encoder) + list(fcn.up)]
    with torch.no_grad():
        out = fcn(x)
    for h in hooks:
        h.remove()
    print(f"input {size}: encoder {shapes[:4]}\n{'':17}decoder {shapes[4:]}  -> scores {tuple(out.shape[1:])}")
    assert out.shape[2:] == x.shape[2:]
print("parameters:", sum(p.numel() for p in fcn.parameters()))

# %% [markdown]
# With an odd size, pooling floors ($45 \to 22 \to 11 \to 5$), and each transposed convolution is
# asked for the exact size of the encoder stage it returns to (`output_size`: torch chooses the
# `output_padding` of §6 for us).
#
# ## 5. Downsampling: pooling and strided convolution
#
# The encoder shrinks the maps with max pooling or with a stride-2 convolution (a learned
# downsampling). Both halve $H$ and $W$: output size $\lfloor (N + 2P - F)/S \rfloor + 1$.

# %%
x8 = rng.normal(size=(1, 1, 8, 8))
pooled, _ = max_pool2d_forward(x8, 2, 2)
strided, _ = conv2d_forward(x8, rng.normal(size=(1, 1, 3, 3)), None, stride=2, padding=1)
print("8x8 -> max pool 2x2/2:", pooled.shape[2:], "  conv 3x3, stride 2, padding 1:", strided.shape[2:])
assert pooled.shape[2:] == strided.shape[2:] == (4, 4)

# %% [markdown]
# ## 6. Upsampling: transposed convolution
#
# "Convolution and pooling can only keep or reduce the size of the feature maps." The decoder needs
# a learnable layer that goes up. Three views of the same layer:
#
# **(a) The 1D example: scatter.** Each input value multiplies a copy of the kernel; the copies
# are placed `stride` apart in the output and *summed where they overlap*. With input $(a, b)$,
# kernel $(x, y, z)$ and stride 2 the output is $(ax,\ ay,\ az + bx,\ by,\ bz)$.

# %%
x1d, w1d = np.array([1.0, 2.0]), np.array([1.0, 2.0, 3.0])       # a, b  and  x, y, z
rows = conv_transpose1d_contributions(x1d, w1d, stride=2)         # (2, 5): one kernel copy per input
out1d, _ = conv_transpose2d_forward(x1d.reshape(1, 1, 1, 2), w1d.reshape(1, 1, 1, 3), None, stride=(1, 2))
print("a * kernel :", rows[0], "\nb * kernel :", rows[1], "\nsum        :", rows.sum(0))
symbolic = [1 * 1, 1 * 2, 1 * 3 + 2 * 1, 2 * 2, 2 * 3]           # (ax, ay, az + bx, by, bz)
assert np.allclose(rows.sum(0), symbolic) and np.allclose(out1d.ravel(), symbolic)
assert np.allclose(F.conv_transpose1d(torch.tensor(x1d)[None, None], torch.tensor(w1d)[None, None],
                                      stride=2).numpy().ravel(), symbolic)

# %% [markdown]
# **(b) The transpose of the convolution's matrix.** A convolution is a linear map $y = Cx$
# (lecture 02: a sparse, weight-shared matrix). A 3x3 convolution of a 4x4 input gives 2x2, so
# $C$ is $4 \times 16$. Its transpose $C^T$ ($16 \times 4$) takes a 2x2 map to 4x4 with the
# same connections, reversed: that is the transposed convolution, hence its name. (It is *not*
# the inverse: $C^T C \neq I$.)

# %%
k3 = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
C = conv2d_matrix(k3[None, None], (4, 4))                          # (2*2, 4*4)
y2 = np.array([[1.0, 2.0], [3.0, 4.0]])
up_matrix = (C.T @ y2.ravel()).reshape(4, 4)
up_layer, _ = conv_transpose2d_forward(y2[None, None], k3[None, None], None)
up_torch = F.conv_transpose2d(torch.tensor(y2)[None, None], torch.tensor(k3)[None, None])
fig, axes = plt.subplots(1, 3, figsize=(12, 2.6), gridspec_kw={"width_ratios": [4, 1, 1.2]})
show_matrix(C, axes[0], title="C (4 x 16): conv 3x3 of a 4x4 input", cmap="RdBu_r")
show_matrix(y2, axes[1], title="y (2x2)")
show_matrix(up_matrix, axes[2], title="C^T y (4x4)")
plt.tight_layout()
plt.show()
assert np.allclose(up_matrix, up_layer[0, 0]) and np.allclose(up_matrix, up_torch[0, 0].numpy())
# multi-channel, strided, padded, output_padding: still C^T x
xm, wm = rng.normal(size=(2, 3, 4, 5)), rng.normal(size=(3, 2, 3, 3))   # w: (C_in, F, KH, KW)
ref = F.conv_transpose2d(torch.tensor(xm), torch.tensor(wm), stride=2, padding=1, output_padding=1).numpy()
assert np.allclose(conv_transpose2d_by_matrix(xm, wm, stride=2, padding=1, output_padding=1), ref)
print("C^T x == conv_transpose2d_forward == torch.conv_transpose2d, also for 3 -> 2 channels, "
      "stride 2, padding 1, output_padding 1; output", ref.shape[2:])

# %% [markdown]
# **(c) Inserting zeros between inputs.** The slide's animations (from Dumoulin and Visin's guide)
# compute a transposed convolution as an ordinary stride-1 convolution: insert $S - 1$ zeros
# between input pixels, pad the result by $D(K-1) - P$ on each side (plus `output_padding` at the
# end), and convolve with the kernel **flipped** (and input/output channels swapped). So the
# "padding" and "strides" printed under the slide's figures are those of the *zero-inserted view*:
# with a 3x3 kernel and stride 2, padding $2 = 3 - 1 - 0$ belongs to a transposed layer with
# `padding=0`, and padding $1 = 3 - 1 - 1$ to one with `padding=1`. Both undo the size of a
# convolution of a 5x5 input: $2\times2 \to 5\times5$ and $3\times3 \to 5\times5$.

# %%
for layer_padding, n_in, slide_padding in [(0, 2, 2), (1, 3, 1)]:
    zi = zero_insertion_params(3, stride=2, padding=layer_padding)
    compare_with_slide(f"zero-insertion padding for a 3x3, stride-2 layer with padding={layer_padding}",
                       zi.pad_before[0], slide_padding, verbose=False)
    xin = np.arange(1.0, n_in * n_in + 1).reshape(1, 1, n_in, n_in)
    spread = np.pad(insert_zeros(xin, 2), [(0, 0), (0, 0)] + [(zi.pad_before[0],) * 2] * 2)
    by_zeros = conv_transpose2d_by_zero_insertion(xin, k3[None, None], stride=2, padding=layer_padding)
    by_layer, _ = conv_transpose2d_forward(xin, k3[None, None], None, stride=2, padding=layer_padding)
    assert np.allclose(by_zeros, by_layer) and by_layer.shape[2:] == (5, 5)
    print(f"layer padding {layer_padding}: {zi}\n  {n_in}x{n_in} input -> zero-inserted and padded "
          f"{spread.shape[2:]} -> stride-1 conv with the flipped kernel -> {by_layer.shape[2:]} "
          "(== conv_transpose2d)")
    fig, axes = plt.subplots(1, 2, figsize=(7, 3.2))
    show_matrix(spread[0, 0], axes[0], title=f"input {n_in}x{n_in}: zeros inserted, padding {zi.pad_before[0]}")
    show_matrix(by_layer[0, 0], axes[1], title="transposed conv output 5x5", cmap="RdBu_r")
    plt.tight_layout()
    plt.show()

# %% [markdown]
# The output size follows from this view: $(H-1)S + 1$ after inserting zeros, plus
# $2(D(K-1) - P) + \text{output\_padding}$, minus $D(K-1)$ for the valid convolution:
# $H_{out} = (H - 1)S - 2P + D(K - 1) + \text{output\_padding} + 1$. Because several input sizes
# $N$ give the same convolution output ($\lfloor (N + 2P - K)/S \rfloor + 1$), `output_padding`
# picks which one the transposed convolution returns to.
#
# ## 7. Checkerboard artefacts; resize-convolution and sub-pixel convolution
#
# In the scatter view, a kernel of size 3 with stride 2 lands twice on every other output pixel and
# once on the rest: the output is a periodic pattern even for a constant input, which shows up as
# a *checkerboard* in generated images and segmentation maps (Odena et al., 2016). When the stride
# divides the kernel size (4 with stride 2, or 2 with stride 2), the overlap is even.

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 4))
for ax, k in zip(axes, (3, 4)):
    show_matrix(overlap_counts(k, 2, 5), ax, title=f"kernel copies per output pixel: K={k}, S=2",
                cmap="Greens")
plt.tight_layout()
plt.show()
inner3, inner4 = overlap_counts(3, 2, 5)[3:-3, 3:-3], overlap_counts(4, 2, 5)[4:-4, 4:-4]
print("counts away from the border: K=3:", np.unique(inner3), "  K=4:", np.unique(inner4))
assert len(np.unique(inner3)) > 1 and len(np.unique(inner4)) == 1

# %% [markdown]
# The slide's alternatives: **resize-convolution** (upsample by nearest or bilinear interpolation,
# then a stride-1 convolution: every output pixel is computed the same way) and **sub-pixel
# convolution** (a stride-1 convolution to $r^2$ times the channels, then a *pixel shuffle* that
# moves channel $i r + j$ to sub-pixel $(i, j)$). Sub-pixel convolution with random weights has
# the same problem as the transposed one; initialised with ICNR (the $r^2$ sub-pixel filters
# equal) it starts artefact-free. We upsample a constant image with randomly initialised layers
# and measure the four phases $(i \bmod 2, j \bmod 2)$, away from the border:

# %%
torch.manual_seed(1)
const = torch.ones(1, 8, 12, 12)
layers = {"transposed conv K=3, S=2": nn.ConvTranspose2d(8, 1, 3, stride=2, padding=1, output_padding=1),
          "sub-pixel, random init": SubPixelConv(8, 1, scale=2, icnr=False),
          "sub-pixel, ICNR init": SubPixelConv(8, 1, scale=2, icnr=True),
          "resize-conv (nearest)": ResizeConv(8, 1, scale=2)}
fig, axes = plt.subplots(1, 4, figsize=(14, 3.4))
spreads = {}
for ax, (name, layer) in zip(axes, layers.items()):
    with torch.no_grad():
        out = layer(const)[0, 0]                               # (24, 24)
    phases = phase_means(out, 2, border=2)
    spreads[name] = np.ptp(phases)
    crop = out[4:12, 4:12].numpy()
    im = ax.imshow(crop, cmap="RdBu_r", vmin=-np.abs(crop).max(), vmax=np.abs(crop).max())
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(f"{name}\nphase spread {spreads[name]:.3f}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
plt.suptitle("a constant input upsampled x2 (8x8 crop)")
plt.tight_layout()
plt.show()
assert spreads["transposed conv K=3, S=2"] > 1e-3 and spreads["sub-pixel, random init"] > 1e-3
assert spreads["sub-pixel, ICNR init"] < 1e-6 and spreads["resize-conv (nearest)"] < 1e-6

# %% [markdown]
# ## 8. Skip connections: what the encoder loses, recovered
#
# "As the number of layers increases we have higher-level features, but lose the low-level
# features." After three 2x2 poolings a 32x32 image is a 4x4 grid: every cell summarises 8x8
# pixels, so the exact position of an edge or a corner is gone:

# %%
train_x, train_y = shapes_segmentation_data(1000, image_size=32, seed=0)    # ShapesDataset masks
val_x, val_y = shapes_segmentation_data(200, image_size=32, seed=1)          # held-out split
coarse = F.interpolate(F.avg_pool2d(val_y[:4, None].float().clamp(max=1), 8), scale_factor=8)
fig, axes = plt.subplots(2, 4, figsize=(8, 4))
for k in range(4):
    axes[0, k].imshow(val_y[k] > 0, cmap="gray")
    axes[1, k].imshow(coarse[k, 0], cmap="gray", vmin=0, vmax=1)
    for ax in axes[:, k]:
        ax.set_xticks([])
        ax.set_yticks([])
axes[0, 0].set_ylabel("object mask")
axes[1, 0].set_ylabel("seen at 4x4")
plt.tight_layout()
plt.show()

# %% [markdown]
# A skip connection sends the encoder's features at each resolution to the decoder stage of the
# same resolution (concatenated, as in U-Net), so the decoder can place edges where the early
# layers saw them. We train two identical FCNs, with and without skips, for the same few steps
# on object-vs-background masks (binary, to fit the lecture's time budget). For the four classes,
# `train_shapes_fcn()` (200 steps, about 30 s of CPU time) reaches a held-out mean IoU of about 0.89.

# %%
val_fg = (val_y > 0).long()
results = {}
for skips in (True, False):
    torch.manual_seed(0)
    model = FCN(num_classes=2, width=8, depth=4, skips=skips)
    hist = train_segmentation(model, train_x, (train_y > 0).long(), steps=40, batch_size=16, lr=1e-2)
    results[skips] = evaluate_segmentation(model, val_x, val_fg, num_classes=2)
    print(f"skips={skips!s:5}: {hist['steps']} steps in {hist['seconds']:.1f} s, held-out IoU "
          f"object {results[skips]['iou'][1]:.3f}, mean IoU {results[skips]['mean_iou']:.3f}")
assert results[True]["mean_iou"] > results[False]["mean_iou"]

fig, axes = plt.subplots(3, 5, figsize=(10, 6))
for k in range(5):
    axes[0, k].imshow(val_x[k].permute(1, 2, 0))
    axes[1, k].imshow(results[False]["pred"][k], cmap="gray")
    axes[2, k].imshow(results[True]["pred"][k], cmap="gray")
    for ax in axes[:, k]:
        ax.set_xticks([])
        ax.set_yticks([])
for ax, name in zip(axes[:, 0], ["image", "without skips", "with skips"]):
    ax.set_ylabel(name)
plt.suptitle("held-out predictions: the skips bring back edges and corners")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 9. Pixel cross-entropy vs Dice
#
# **Pixel cross-entropy** treats every pixel as one classification example and averages:
# "objects with larger area have larger weights on the loss, which leads to low performance for
# segmenting small objects". The **Dice coefficient** measures overlap per class,
#
# $$\text{Dice} = \frac{2|A \cap B|}{|A| + |B|} = \frac{2TP}{2TP + FP + FN} = \frac{2\, A\cdot B}{|A|^2 + |B|^2}$$
#
# for 0/1 masks $A$ (prediction) and $B$ (target). The three forms agree because for 0/1 vectors
# $A\cdot B = |A \cap B| = TP$, $|A|^2 = |A| = TP + FP$ and $|B|^2 = |B| = TP + FN$. Checked on
# the slide's person mask against a copy shifted by one column, and on the slide's two extremes:

# %%
person = SLIDE_LABELS == 1
shifted = np.roll(person, 1, axis=1)
forms = dice_three_forms(shifted, person)
print("Dice(shifted person, person): 2|AnB|/(|A|+|B|) = {:.4f}, 2TP/(2TP+FP+FN) = {:.4f}, "
      "2A.B/(|A|^2+|B|^2) = {:.4f}".format(*forms))
assert np.allclose(forms, forms[0])
compare_with_slide("Dice, fully overlapped", dice_three_forms(person, person), [1, 1, 1], verbose=False)
compare_with_slide("Dice, fully separated", dice_three_forms(person, ~person), [0, 0, 0], verbose=False)

# %% [markdown]
# **Why small objects suffer under cross-entropy.** Two predictions of the slide's grid, each
# wrong on exactly 4 pixels with the same confidence: (A) misses the purse entirely (calls it
# "person"), (B) mislabels 4 grass pixels at the edge of the grass as sidewalk. Cross-entropy
# cannot tell them apart, although (A) has lost a whole object. The Dice loss (one term per
# class) sees it at once, and so does the usual metric, the **mean IoU**: from the confusion
# matrix (rows: true class, columns: predicted), $\text{IoU}_c = TP/(TP + FP + FN)$ per class,
# averaged over the classes. A class absent from both target and prediction has $0/0$: we call
# it undefined (NaN) and leave it out of the mean, so that an image without purses neither helps
# nor hurts the purse score.

# %%
target = torch.from_numpy(SLIDE_LABELS - 1)[None]               # (1, 12, 20), classes 0..4
miss_purse = target.clone()
miss_purse[target == 1] = 0                                     # purse -> person
miss_grass = target.clone()
miss_grass[0, 9:11, 0:2] = 3                                    # 4 grass pixels -> sidewalk
rows_ = []
for name, pred in [("(A) purse missed", miss_purse), ("(B) 4 grass pixels wrong", miss_grass)]:
    logits = 5.0 * F.one_hot(pred, 5).movedim(-1, 1).double()  # confident scores, (1, 5, 12, 20)
    ce, _ = pixel_cross_entropy_forward(logits.numpy(), target.numpy())
    dice = soft_dice_loss(logits, target).item()
    cm = confusion_matrix(target, pred, 5)
    rows_.append((ce, dice, mean_iou(cm), iou_per_class(cm)[1]))
    print(f"{name:26}: cross-entropy {ce:.4f}   Dice loss {dice:.4f}   mean IoU {mean_iou(cm):.3f}"
          f"   purse IoU {iou_per_class(cm)[1]:.2f}")
(ce_a, dice_a, miou_a, _), (ce_b, dice_b, miou_b, _) = rows_
assert np.isclose(ce_a, ce_b) and dice_a > 3 * dice_b and miou_a < miou_b

# %% [markdown]
# The Dice loss used for training is *soft*: the predicted mask is replaced by the softmax
# probabilities, so it is differentiable, and a smoothing term keeps classes absent from an image
# at Dice $\approx 1$ instead of $0/0$. In practice it is added to cross-entropy
# (`train_segmentation(..., dice_weight=1.0)`). Class weights in the cross-entropy (§11) are the
# other remedy: with balance weights, (A) costs more than (B) under cross-entropy too.

# %%
weights = class_balance_weights(SLIDE_LABELS - 1, 5)
print("class-balance weights:", dict(zip(SLIDE_CLASSES, weights.round(2).tolist())))
ce_w = [pixel_cross_entropy_forward(5.0 * F.one_hot(p, 5).movedim(-1, 1).double().numpy(), target.numpy(),
                                    weight=weights)[0] for p in (miss_purse, miss_grass)]
print(f"weighted cross-entropy: (A) {ce_w[0]:.4f}   (B) {ce_w[1]:.4f}")
assert ce_w[0] > 3 * ce_w[1]

# %% [markdown]
# ## 10. Mirror padding
#
# Zero padding invents a black frame: a convolution sees a strong fake edge along every border.
# Mirror (reflect) padding continues the image by reflecting it about its border pixels, "to
# avoid losing information on the boundary" (U-Net predicts large images tile by tile this way).
# We pad a smooth image both ways and apply a vertical-edge filter: zero padding lights up the border.

# %%
smooth_img = np.add.outer(np.linspace(0.3, 0.7, 24), np.linspace(0.2, 0.6, 24))[None, None]   # (1,1,24,24)
mirror, _ = reflect_pad2d_forward(smooth_img, 3)
zeros = zero_pad2d(smooth_img, 3)
assert np.allclose(mirror, np.pad(smooth_img, [(0, 0), (0, 0), (3, 3), (3, 3)], mode="reflect"))
assert np.allclose(mirror, F.pad(torch.tensor(smooth_img), (3, 3, 3, 3), mode="reflect").numpy())
sobel = np.array([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]])[None, None]
edges = {name: conv2d_forward(p[:, :, 2:-2, 2:-2], sobel, None)[0][0, 0] for name, p in
         [("zero padding", zeros), ("mirror padding", mirror)]}
fig, axes = plt.subplots(1, 4, figsize=(13, 3.2))
axes[0].imshow(zeros[0, 0], cmap="gray", vmin=0, vmax=1.3)
axes[0].set_title("zero padded (3 px)")
axes[1].imshow(mirror[0, 0], cmap="gray", vmin=0, vmax=1.3)
axes[1].set_title("mirror padded (3 px)")
lim = max(np.abs(e).max() for e in edges.values())
for ax, (name, e) in zip(axes[2:], edges.items()):
    im = ax.imshow(e, cmap="RdBu_r", vmin=-lim, vmax=lim)
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(f"edge filter after {name}")
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
plt.tight_layout()
plt.show()
border = {name: np.abs(e[:, 0]).max() for name, e in edges.items()}
print(f"largest |response| in the first column: zero padding {border['zero padding']:.2f}, "
      f"mirror padding {border['mirror padding']:.2f} "
      f"(interior gradient {np.abs(edges['mirror padding'][12, 12]):.2f})")
assert border["zero padding"] > 5 * border["mirror padding"]

# %% [markdown]
# Mirror padding is not a free lunch either: the reflected image is symmetric about its border
# column, so the horizontal gradient there reads 0 instead of the true 0.14 — but it invents no edge.
#
# ## 11. Loss weighting: edges and class balance
#
# Two ways to tell the loss what matters. **Balance weighting** raises the weight of small classes
# (here $w_c = \text{total} / (K_{present} \cdot \text{count}_c)$, so every class weighs the same in
# total). **Edge weighting** raises the weight of pixels near a boundary, where the errors are. U-Net
# combines both and adds a term that is large in thin gaps between two objects, so that touching
# objects are not merged:
#
# $$w(x) = w_c(x) + w_0 \exp\left(-\frac{(d_1(x) + d_2(x))^2}{2\sigma^2}\right)$$
#
# with $d_1, d_2$ the distances to the nearest and second-nearest object ($w_0 = 10$, $\sigma = 5$
# pixels). On the two touching circles of §2:

# %%
sem = sample["semantic"]
cw = class_balance_weights(sem, 4)
print("pixels per class:", np.bincount(sem.ravel(), minlength=4).tolist(), " balance weights:", cw.round(2))
maps = {"class balance w_c(x)": cw[sem],
        "edge weighting (w0=5, sigma=2)": edge_weight_map(sem, w0=5, sigma=2),
        "U-Net: w_c + border term": unet_weight_map(instance_ids, w0=10, sigma=5,
                                                    class_weights=class_balance_weights((instance_ids > 0)
                                                                                        .astype(np.int64), 2))}
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
for ax, (name, m) in zip(axes, maps.items()):
    im = ax.imshow(m, cmap="magma")
    fig.colorbar(im, ax=ax, fraction=0.046, label="weight")
    ax.set_title(name, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
plt.tight_layout()
plt.show()
near_edge = boundary_distance(sem) <= 1
edge_map = maps["edge weighting (w0=5, sigma=2)"]
assert edge_map[near_edge].mean() > edge_map[~near_edge].mean()
assert np.isclose((cw[sem]).sum(), sem.size)

# %% [markdown]
# Either map multiplies the per-pixel cross-entropy: `pixel_cross_entropy_forward(...,
# reduction="none") * w` — or, for class weights alone, the `weight=` argument as in §9.
#
# ## 12. Instance segmentation: Mask R-CNN's idea
#
# Mask R-CNN (He et al., 2017) = Faster R-CNN (lecture 07) + a small FCN "mask head" per detected
# box. RoIAlign cuts each box's features to a fixed grid; the head predicts an $M \times M$
# ($28 \times 28$) binary mask per class, and only the mask of the box's predicted class is used
# (sigmoid per class: classes do not compete, the classification branch decides). Training targets
# are the ground-truth masks resampled into each box; at test time the $28 \times 28$
# probabilities are resized back into the box. With the ground truth in place of a network:

# %%
boxes = torch.from_numpy(sample["boxes"])
masks = torch.from_numpy(sample["masks"])
targets = mask_targets(masks, boxes, 28)                      # (K, 28, 28), what the mask head learns
pasted = paste_masks(targets, boxes, (64, 64))                # (K, 64, 64) back in the image
iou = ((pasted & masks).sum((1, 2)) / (pasted | masks).sum((1, 2))).numpy()
fig, axes = plt.subplots(1, len(boxes) + 1, figsize=(3 * (len(boxes) + 1), 3))
draw_boxes(sample["image"], boxes, torch.from_numpy(sample["labels"]), class_names=ShapesDataset.classes,
           ax=axes[0])
for k in range(len(boxes)):
    axes[k + 1].imshow(targets[k], cmap="gray", vmin=0, vmax=1)
    axes[k + 1].set_title(f"28x28 target, object {k + 1}\n({ShapesDataset.classes[sample['labels'][k]]}; "
                          f"pasted back IoU {iou[k]:.2f})", fontsize=9)
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
plt.tight_layout()
plt.show()
assert (iou > 0.85).all()

# %% [markdown]
# Each circle gets its own mask, even where they touch: the box separates the instances, the mask
# head only has to segment one object in a small window.
#
# ## 13. PSPNet's pyramid pooling
#
# Local features can be ambiguous (a blue patch: sky or water?). PSPNet (Zhao et al., 2017)
# average-pools the feature map into $1\times1$, $2\times2$, $3\times3$ and $6\times6$ grids — the
# adaptive pooling of lecture 03 — reduces each with a 1x1 convolution, upsamples them back to
# $H \times W$ and concatenates them to the features: every pixel sees the global, quadrant and
# regional context next to its own features.

# %%
feat = torch.from_numpy(sample["image"])[None].double()      # use the image as a 3-channel "feature map"
psp = PyramidPooling(3, bins=(1, 2, 3, 6), reduced_channels=1, batch_norm=False).double()
pooled = psp.pooled(feat)
for b, p in zip(psp.bins, pooled):
    ref, _ = adaptive_pool2d_forward(feat.numpy(), b, "avg")
    assert np.allclose(p.numpy(), ref)
with torch.no_grad():
    out = psp(feat)
print("features", tuple(feat.shape[1:]), "-> pooled", [tuple(p.shape[2:]) for p in pooled],
      "-> concatenated", tuple(out.shape[1:]))
fig, axes = plt.subplots(1, 5, figsize=(13, 2.8))
axes[0].imshow(sample["image"].transpose(1, 2, 0))
axes[0].set_title("input (H x W)")
for ax, b, p in zip(axes[1:], psp.bins, pooled):
    ax.imshow(p[0].permute(1, 2, 0).numpy())
    ax.set_title(f"{b}x{b} average pool")
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
plt.tight_layout()
plt.show()
assert out.shape == (1, 3 + 4, 64, 64)

# %% [markdown]
# ## Summary
#
# * Segmentation = one classification per pixel; semantic (classes), instance (objects), vs detection (boxes).
# * The sliding window recomputes overlapping patches; a fully convolutional pass gives the same
#   scores in one go, for any input size.
# * Encoders go down (pooling, strided conv); decoders go up with transposed convolutions —
#   the transpose $C^T$ of the convolution's matrix, or zeros inserted, padding $D(K-1)-P$ and the
#   flipped kernel. $K$ not divisible by $S$ gives checkerboards; resize-conv and (ICNR) sub-pixel
#   convolution avoid them.
# * Skip connections bring the encoder's low-level detail back to the decoder.
# * Cross-entropy is dominated by large regions; Dice (three equal forms on 0/1 masks) and
#   per-class IoU treat every class equally; class and edge weights reshape the loss.
# * Mirror padding avoids fake edges at the border; Mask R-CNN adds a per-box mask head;
#   PSPNet pools context at several scales.

# %%
print(f"lecture computed in {time.perf_counter() - LECTURE_START:.1f} s")
