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
# # Lecture 06 — Visualizing and understanding CNNs
#
# A trained CNN is a stack of filters and feature maps. What have they learned, and which pixels
# does a decision depend on? The slides (seed 004) show the classic answers on ImageNet networks:
# first-layer filters, activations, occlusion experiments (Zeiler and Fergus 2014), class
# activation maps (CAM, Zhou et al. 2016) and Grad-CAM (Selvaraju et al. 2017). We reproduce each of
# them on a small CNN that we train here, in seconds, on the offline handwritten digits, and we look
# at where each method misleads.
#
# **Contents**
# 1. A small CNN trained on the digits
# 2. First-layer filters
# 3. Activations, and the images that excite a feature map most
# 4. Occlusion experiments
# 5. Class activation maps (CAM)
# 6. Grad-CAM, step by step
# 7. Where these pictures mislead

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np
import torch

from cnncourse.costs import format_cost_table, layer_costs
from cnncourse.data import load_digits
from cnncourse.explain import class_activation_map, grad_cam, normalize_map, occlusion_map, upsample_map
from cnncourse.models import SmallCNN, accuracy, train_classifier

torch.manual_seed(0)

# %% [markdown]
# ## 1. A small CNN trained on the digits
#
# scikit-learn's 1,797 handwritten digits (8x8 pixels, upsampled to 16x16), with a fixed stratified
# split: 1,438 training and 359 test images. The network, `SmallCNN`:
# conv 3x3 (16) -> max pool 2 -> conv 3x3 (32) -> conv 3x3 (64) -> **global average pooling** ->
# one linear layer (10 classes), with batch norm and ReLU after each conv. Ending in global average
# pooling and one linear layer is what CAM (§5) needs.

# %%
train, test = load_digits(size=16)
x_train, y_train = torch.from_numpy(train.images), torch.from_numpy(train.labels)
x_test, y_test = torch.from_numpy(test.images), torch.from_numpy(test.labels)
model = SmallCNN()
print(format_cost_table(layer_costs(model, x_test[:1]).select("Conv2d", "MaxPool2d", "AdaptiveAvgPool2d", "Linear"),
                        title="SmallCNN on one 16x16 digit"))

# %%
history = train_classifier(model, x_train, y_train, epochs=5, batch_size=32, max_lr=1e-2, seed=0)
test_acc = accuracy(model, x_test, y_test)
print(f"trained in {history['seconds']:.1f} s; loss per epoch {np.round(history['epoch_losses'], 3)}")
print(f"test accuracy {test_acc:.1%} ({round(test_acc * len(y_test))}/{len(y_test)})")
assert test_acc > 0.95

# %%
fig, ax = plt.subplots(figsize=(5, 2.8))
ax.plot(history["losses"], lw=0.8, label="training loss (one mini-batch)")
ax.set_xlabel("step")
ax.set_ylabel("cross-entropy")
ax.legend()
plt.show()

# %% [markdown]
# ## 2. First-layer filters
#
# The first layer's 16 filters act directly on pixels, so we can look at them as images. On
# ImageNet (the slides' "Layer 1") they become oriented edges and colour blobs. Ours are 3x3 and
# grey, but of the same kind: many look like small oriented edge or line detectors (a positive
# side next to a negative side). Red is positive, blue negative, on one symmetric scale.

# %%
w1 = model.features[0][0].weight.detach()[:, 0]       # (16, 3, 3)
vmax = w1.abs().max().item()
fig, axes = plt.subplots(2, 8, figsize=(10, 3))
for f, ax in enumerate(axes.ravel()):
    im = ax.imshow(w1[f], cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    ax.set_title(f"filter {f}", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
fig.colorbar(im, ax=axes, shrink=0.8, label="weight")
plt.show()

# %% [markdown]
# ## 3. Activations
#
# Feed one digit and look at the feature maps (8 of each layer). Layer 1 (16x16) still looks like
# the digit, seen through edge detectors; the last conv layer (8x8, 64 maps) responds to larger
# parts of the digit. Each panel has its own colour scale (bright = large; all values are >= 0
# after ReLU).

# %%
digit = x_test[3:4]                                         # (1, 1, 16, 16)
with torch.no_grad():
    act1 = model.features[0](digit)                         # (1, 16, 16, 16)
    act_last = model.features(digit)                        # (1, 64, 8, 8)
fig, axes = plt.subplots(2, 9, figsize=(12, 3.2))
for r, (maps, name) in enumerate([(act1, "layer 1"), (act_last, "last conv")]):
    axes[r, 0].imshow(digit[0, 0], cmap="gray")
    axes[r, 0].set_title(f"input (label {y_test[3].item()})", fontsize=8)
    for c in range(8):
        axes[r, c + 1].imshow(maps[0, c], cmap="magma")
        axes[r, c + 1].set_title(f"{name}, map {c}", fontsize=8)
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
plt.show()

# %% [markdown]
# **What does one feature map look for?** The slides show, for a few units, the image patches that
# activate them most. Here: for three channels of the last conv layer, the five test images with
# the largest activation (maximum over positions), with the map upsampled over the image.

# %%
with torch.no_grad():
    feats = model.features(x_test)                          # (359, 64, 8, 8)
peak = feats.amax(dim=(2, 3))                               # (359, 64)
channels = peak.mean(0).argsort(descending=True)[:3].tolist()   # three strongly used channels
fig, axes = plt.subplots(3, 5, figsize=(7, 4.4))
for row, c in zip(axes, channels):
    top = peak[:, c].argsort(descending=True)[:5]
    heat = upsample_map(feats[top, c], 16)
    for ax, n, h in zip(row, top.tolist(), heat):
        ax.imshow(x_test[n, 0], cmap="gray")
        ax.imshow(h, cmap="magma", alpha=0.5)
        ax.set_title(f"ch {c}: label {y_test[n].item()}", fontsize=8)
        ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 4. Occlusion experiments (Zeiler and Fergus 2014)
#
# Cover part of the image with a square, run the network, and record the **probability of the
# correct class** as a function of the square's position. Where the probability drops, the
# network needed those pixels. `occlusion_map` does it for every position of a 4x4 square (stride
# 1: 13x13 positions, one forward pass each). Each map value is drawn at the centre of its square.

# %%
def overlay(ax, img, heat, title, signed=False, **imshow_kwargs):
    """A 16x16 heat map with the digit's outline drawn on top; signed maps on a symmetric scale."""
    m = heat.abs().max().item() or 1.0
    im = ax.imshow(heat, cmap="RdBu_r" if signed else "inferno", vmin=-m if signed else 0,
                   vmax=m if signed else 1, **imshow_kwargs)
    ax.contour(img, levels=[0.4], colors="k" if signed else "w", linewidths=1)
    ax.set_xlim(-0.5, 15.5)
    ax.set_ylim(15.5, -0.5)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    return im


examples = [int((y_test == d).nonzero()[0]) for d in (0, 3, 4, 7)]
x_ex, y_ex = x_test[examples], y_test[examples]
occ_black = occlusion_map(model, x_ex, y_ex, patch=4, stride=1, fill=0.0)    # (4, 13, 13)
occ_grey = occlusion_map(model, x_ex, y_ex, patch=4, stride=1, fill=0.5)
with torch.no_grad():
    p_clean = torch.softmax(model(x_ex), 1)[torch.arange(4), y_ex]
extent = (1.5 - 0.5, 13.5 + 0.5, 13.5 + 0.5, 1.5 - 0.5)   # square centres 1.5 .. 13.5 in pixels
fig, axes = plt.subplots(3, 4, figsize=(10, 7.5))
for k in range(4):
    axes[0, k].imshow(x_ex[k, 0], cmap="gray", extent=(-0.5, 15.5, 15.5, -0.5))
    axes[0, k].set_title(f"label {y_ex[k].item()}, p = {p_clean[k]:.2f}", fontsize=9)
    for r, (occ, name) in enumerate([(occ_black, "black (0)"), (occ_grey, "grey (0.5)")], start=1):
        im = overlay(axes[r, k], x_ex[k, 0], occ[k], f"{name} 4x4 occluder", extent=extent)
        axes[r, k].set_facecolor("0.85")    # no occluder centre falls in the outer 1.5 pixels
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
fig.colorbar(im, ax=axes[1:], shrink=0.8, label="probability of the correct class (outline: the digit)")
plt.show()
print("lowest probability with a black square:", np.round(occ_black.amin(dim=(1, 2)).numpy(), 3))
print("lowest probability with a grey square: ", np.round(occ_grey.amin(dim=(1, 2)).numpy(), 3))

# %% [markdown]
# The black square only changes the image where there is ink (the background is already 0): it
# shows which strokes matter. The grey square also *adds* a blob on the background, which can
# create a stroke the digit never had (a grey square inside a "0" can close it into an "8"-like
# shape). **The answer depends on the occluder**: its size, its colour, and whether the network
# ever saw such squares in training. And it costs one forward pass per position.
#
# ## 5. Class activation maps (CAM)
#
# With global average pooling and one linear layer, the logit of class $c$ is
#
# $$y_c = \sum_k w_{ck} \frac{1}{hw}\sum_{x,y} A_k(x,y) + b_c = \frac{1}{hw} \sum_{x,y} M_c(x,y) + b_c,
# \qquad M_c(x,y) = \sum_k w_{ck} A_k(x,y).$$
#
# $M_c$ is the class activation map: it splits the logit over the 8x8 positions of the last conv
# layer. `class_activation_map` computes it from the features and the linear layer's weights.

# %%
with torch.no_grad():
    A = model.features(x_ex)                                   # (4, 64, 8, 8)
    logits = model(x_ex)                                       # (4, 10)
cam = class_activation_map(A, model.fc.weight.detach(), y_ex)  # (4, 8, 8)
recovered = cam.mean(dim=(1, 2)) + model.fc.bias.detach()[y_ex]
print("logit of the true class:", np.round(logits[torch.arange(4), y_ex].numpy(), 3))
print("mean of its CAM + bias: ", np.round(recovered.numpy(), 3))
assert torch.allclose(recovered, logits[torch.arange(4), y_ex], atol=1e-4)


other = torch.tensor([8, 8, 9, 1])                            # a confusable wrong class for each
cam_other = class_activation_map(A, model.fc.weight.detach(), other)
fig, axes = plt.subplots(2, 4, figsize=(10, 5.2))
for k in range(4):
    im = overlay(axes[0, k], x_ex[k, 0], upsample_map(cam, 16)[k], f"CAM of the true class {y_ex[k].item()}", True)
    fig.colorbar(im, ax=axes[0, k], shrink=0.7)
    im = overlay(axes[1, k], x_ex[k, 0], upsample_map(cam_other, 16)[k], f"CAM of class {other[k].item()}", True)
    fig.colorbar(im, ax=axes[1, k], shrink=0.7)
plt.show()

# %% [markdown]
# Red: positions that push the class's score up; blue: positions that push it down. The map is
# **class-discriminative**: the same features, weighted by another class's row of `fc.weight`,
# give a different picture. CAM only works for this architecture, and its resolution is that of
# the last conv layer (8x8 here, 7x7 for ResNet on 224x224 images), upsampled.
#
# ## 6. Grad-CAM, step by step
#
# Grad-CAM generalizes CAM to any layer of any differentiable network: replace the weights
# $w_{ck}$ by the gradient of the class score, averaged over the positions.
#
# 1. run the network and keep the activations $A$ (N, K, h, w) of the chosen layer;
# 2. backpropagate the score $y_c$ (a logit, not a probability) to $A$: $\partial y_c / \partial A$;
# 3. average the gradient over positions: $\alpha_k = \frac{1}{hw}\sum_{x,y} \partial y_c/\partial A_k(x,y)$;
# 4. weight and sum the maps, keep the positive part: $\mathrm{ReLU}(\sum_k \alpha_k A_k)$.
#
# Here are the four steps by hand, then the library's `grad_cam` (tested against captum's
# `LayerGradCam`), which must agree:

# %%
model.eval()
x = x_ex.clone()
A = model.features(x)                                              # step 1: (4, 64, 8, 8)
A.retain_grad()
scores = model.fc(model.pool(A).flatten(1))                        # (4, 10) logits
scores[torch.arange(4), y_ex].sum().backward()                     # step 2: dy_c / dA
alpha = A.grad.mean(dim=(2, 3))                                    # step 3: (4, 64)
by_hand = torch.relu((alpha[:, :, None, None] * A).sum(1)).detach()  # step 4: (4, 8, 8)
gcam = grad_cam(model, model.features, x_ex, y_ex)
assert torch.allclose(by_hand, gcam, atol=1e-6)
print("alpha for image 0, first channels:", np.round(alpha[0, :6].detach().numpy(), 4))
print("w_c / (h w) for the same channels:", np.round((model.fc.weight[y_ex[0], :6] / 64).detach().numpy(), 4))

# %% [markdown]
# For this network, $\partial y_c/\partial A_k(x,y) = w_{ck}/(hw)$ everywhere, so $\alpha_k = w_{ck}/64$ and
# **Grad-CAM is CAM / 64, with negative values cut off**. At an earlier layer the gradients
# differ from position to position and Grad-CAM gives its own answer:

# %%
signed = grad_cam(model, model.features, x_ex, y_ex, relu=False)
assert torch.allclose(signed, cam / 64, atol=1e-5)
early = grad_cam(model, model.features[2], x_ex, y_ex)             # after the second conv, 8x8
first = grad_cam(model, model.features[0], x_ex, y_ex)             # first conv block, 16x16
fig, axes = plt.subplots(3, 4, figsize=(9, 7))
for r, (maps, name) in enumerate([(gcam, "last conv (8x8)"), (early, "conv 2 (8x8)"), (first, "conv 1 (16x16)")]):
    heat = normalize_map(upsample_map(maps, 16))
    for k in range(4):
        im = overlay(axes[r, k], x_ex[k, 0], heat[k], f"class {y_ex[k].item()}" if r == 0 else "")
    axes[r, 0].set_ylabel(f"Grad-CAM at {name}", fontsize=9)
fig.colorbar(im, ax=axes, shrink=0.6, label="Grad-CAM, scaled to [0, 1] per image")
plt.show()

# %% [markdown]
# ## 7. Where these pictures mislead
#
# * **Occlusion** depends on the occluder (§4); squares the network never saw in training are
#   themselves unusual inputs.
# * **CAM and Grad-CAM** are as coarse as the layer they read (8x8 here), and the upsampling makes
#   them look smoother and more precise than they are. At early layers they are fine but less
#   class-specific.
# * They explain a **score**, not a reason, and they are normalized per image: a weak map looks as
#   confident as a strong one. Compare with the actual probabilities.
# * **Sanity check** (Adebayo et al. 2018): an explanation that does not change when the model's
#   weights are randomized tells us about the *input*, not the model. Grad-CAM of an untrained
#   `SmallCNN` still produces blobs on the digit, because its activations follow the ink. Below, the
#   correlation of each map with the amount of ink under each position: for some digits the random
#   model's map follows the ink as closely as (or more than) the trained model's. A map that looks
#   plausible is not yet evidence about the model.

# %%
torch.manual_seed(1)
untrained = SmallCNN()
random_cam = grad_cam(untrained, untrained.features, x_ex, y_ex)
trained_cam = grad_cam(model, model.features, x_ex, y_ex)
ink = torch.nn.functional.avg_pool2d(x_ex, 2)[:, 0]                # (4, 8, 8) ink per map position


def corr(a, b):
    a, b = a.flatten(1), b.flatten(1)
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return ((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)).numpy()


print("correlation with the ink, trained model:  ", np.round(corr(trained_cam, ink), 2))
print("correlation with the ink, untrained model:", np.round(corr(random_cam, ink), 2))
fig, axes = plt.subplots(2, 4, figsize=(9, 4.8))
for k in range(4):
    overlay(axes[0, k], x_ex[k, 0], normalize_map(upsample_map(trained_cam, 16))[k], "trained model")
    im = overlay(axes[1, k], x_ex[k, 0], normalize_map(upsample_map(random_cam, 16))[k], "random weights")
fig.colorbar(im, ax=axes, shrink=0.6, label="Grad-CAM, scaled to [0, 1] per image")
plt.show()

# %% [markdown]
# **A mistake, explained.** For a misclassified test digit, Grad-CAM for the predicted class and
# for the true class show which evidence won.

# %%
with torch.no_grad():
    pred = model(x_test).argmax(1)
wrong = (pred != y_test).nonzero().flatten()
print(f"{len(wrong)} of {len(y_test)} test digits are misclassified")
if len(wrong):
    n = wrong[0].item()
    xi = x_test[n:n + 1]
    probs = torch.softmax(model(xi), 1)[0].detach()
    fig, axes = plt.subplots(1, 3, figsize=(8, 2.9))
    axes[0].imshow(xi[0, 0], cmap="gray")
    axes[0].set_title(f"true {y_test[n].item()}, predicted {pred[n].item()}", fontsize=9)
    axes[0].axis("off")
    for ax, c in zip(axes[1:], (pred[n].item(), y_test[n].item())):
        heat = normalize_map(upsample_map(grad_cam(model, model.features, xi, c), 16))[0]
        im = overlay(ax, xi[0, 0], heat, f"class {c}, p = {probs[c]:.2f}")
    fig.colorbar(im, ax=axes[1:], shrink=0.8, label="scaled to [0, 1]")
    plt.show()

# %% [markdown]
# The two maps often light up the same region: at 8x8, Grad-CAM shows *where* the network looked,
# much less *what* it concluded there (that difference lives in the channel weights $\alpha_k$).
#
# **Summary.** Filters and activations show *what* a network computes; occlusion, CAM and Grad-CAM
# show *where* the evidence for a class is. Occlusion is model-agnostic but slow and depends on the
# occluder; CAM is exact but needs a GAP + linear head; Grad-CAM works at any layer (and equals CAM /
# (h w) on such a head) but is coarse and, like all saliency maps, needs a sanity check. Guided
# backpropagation (the slides' Grad-CAM figure, panel b) sharpens maps to pixel level but is known
# to look almost the same for a trained and a random model.
