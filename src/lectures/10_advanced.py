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
# # Lecture 10 — Advanced topics: global vs local
#
# The slides close with "random thoughts" on where CNNs were going: attention ("attention is all
# you need"), alternatives to convolution, and *the forever battle between globalness and
# localness*. A convolution is local: each output sees a small window. Images, though, have
# long-range structure: a texture repeats, a person's face matters wherever it is. This lecture
# follows that thread through the operators of the slides, each computed live with
# `cnncourse.advanced`:
#
# 1. Local mean vs **non-local means** (Buades and Morel, CVPR 2005)
# 2. How to do it in deep networks? Stacked convolutions grow the receptive field slowly
# 3. The **non-local block**: attention over all positions (Wang et al., CVPR 2018)
# 4. **Dilated convolution**: the receptive field grows exponentially (Chen et al., TPAMI 2018)
# 5. **Deformable convolution**: learned sampling offsets (Dai et al., ICCV 2017)
# 6. **Squeeze-and-excitation**: global channel attention (Hu et al., CVPR 2018)
# 7. Attention for person re-identification: look closely at one region
# 8. Globalness vs localness, side by side

# %%
# %matplotlib inline
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from cnncourse.advanced import (NonLocalBlock, deform_conv2d, deform_sampling_locations, glimpse,
                                gradient_receptive_field, local_mean_filter, nonlocal_means,
                                nonlocal_means_weights, support_extent)
from cnncourse.arithmetic import format_receptive_field_table, receptive_field
from cnncourse.data import IdentityDataset
from cnncourse.models import SEBlock

torch.manual_seed(0)
np.set_printoptions(suppress=True, precision=3)
T_START = time.perf_counter()

# %% [markdown]
# ## 1. Local mean vs non-local means
#
# **The local mean** (the slide's "local 2D convolution operator") replaces pixel $i$ by a
# weighted sum over its $3\times3$ neighbourhood,
#
# $$y_i = \sum_{j \in 3\times3} w_j\, g(x_j), \qquad w_j = \tfrac19 .$$
#
# It removes noise, and blurs every edge with it: the weights do not care what the pixels look
# like, only where they are.
#
# **Non-local means** (NLM) lets every pixel $j$ of the image $I$ contribute, weighted by how
# similar its *neighbourhood* is to that of $i$:
#
# $$y_i = \sum_{j \in I} w(i, j)\, g(j), \qquad
#   w(i, j) = \frac{1}{C(i)}\, e^{-\frac{\|v(N_i) - v(N_j)\|^2}{h^2}}, \qquad
#   C(i) = \sum_{j\in I} e^{-\frac{\|v(N_i) - v(N_j)\|^2}{h^2}} .$$
#
# $v(N_i)$ is the vector of grey levels of the patch around $i$ (the slide writes $\mu(i)$; it must
# be the whole patch: a patch's *mean* cannot tell an edge from a flat area of the same average).
# The slide writes $C(i) = \sum_j w(i, j)$, which is circular ($w$ already contains $1/C$); $C(i)$
# is the sum of the *unnormalised* exponentials, so that the weights of each pixel sum to 1.
# `nonlocal_means` implements exactly this, over the whole image (`search_size=None`, the slide's
# $j \in I$) or over a search window around $i$ (the practical version), with `patch_distance="mean"`
# dividing the squared distance by the patch size so that $h$ is on the scale of the noise.
#
# Our test image has repeated structure (a checkerboard, stripes, a disk), and Gaussian noise
# with $\sigma = 0.2$:

# %%
yy, xx = np.mgrid[0:64, 0:64]
clean = np.where(xx < 32, 0.2 + 0.6 * (((yy // 8) + (xx // 8)) % 2),       # checkerboard (left)
                 0.2 + 0.6 * ((yy // 4) % 2)).astype(np.float32)             # stripes (right)
clean[(yy - 40) ** 2 + (xx - 16) ** 2 < 36] = 0.5                            # a grey disk
noisy = clean + 0.2 * np.random.default_rng(0).standard_normal(clean.shape).astype(np.float32)


def psnr(img: np.ndarray) -> float:
    """Peak signal-to-noise ratio against `clean` (peak 1), in dB: higher is better."""
    return float(10 * np.log10(1.0 / np.mean((img - clean) ** 2)))


t0 = time.perf_counter()
H = 0.2                                     # the filtering parameter: h^2 = 2 sigma^2 (see below)
results = {
    "noisy": noisy,
    "local mean 3x3": local_mean_filter(noisy, 3),
    "local mean 5x5": local_mean_filter(noisy, 5),
    "NLM, 15x15 window": nonlocal_means(noisy, h=H, patch_size=5, search_size=15, patch_distance="mean"),
    "NLM, j in I": nonlocal_means(noisy, h=H, patch_size=5, search_size=None, patch_distance="mean"),
}
print(f"filtered in {time.perf_counter() - t0:.1f} s")
for name, img in results.items():
    print(f"{name:>18}: PSNR {psnr(img):5.2f} dB")
assert psnr(results["NLM, j in I"]) > psnr(results["NLM, 15x15 window"]) > psnr(results["local mean 3x3"]) + 1

fig, axes = plt.subplots(2, 6, figsize=(16, 5.6))
for k, (name, img) in enumerate([("clean", clean), *results.items()]):
    axes[0, k].imshow(img, cmap="gray", vmin=0, vmax=1)
    axes[0, k].set_title(name if name == "clean" else f"{name}\n{psnr(img):.1f} dB", fontsize=9)
    im = axes[1, k].imshow(img - clean, cmap="RdBu_r", vmin=-0.6, vmax=0.6)
    axes[1, k].set_title("error (image - clean)", fontsize=8)
for a in axes.ravel():
    a.set_xticks([])
    a.set_yticks([])
axes[1, 0].set_visible(False)                                       # the clean image has no error
fig.colorbar(im, ax=axes[1, :].tolist(), shrink=0.8, label="error")
plt.show()

# %% [markdown]
# The local mean trades noise for blur: the 5x5 mean is *worse* than 3x3 because the stripes are
# 4 pixels wide. NLM averages pixels whose surroundings look the same, so it keeps the edges, and
# the more of the image it may search, the more look-alike patches it finds: the checkerboard
# squares and stripes repeat across the whole image. What does one pixel average over? The maps
# of $w(i, \cdot)$ for three pixels $i$ (marked by the cross):

# %%
pixels = [(20, 12), (21, 40), (40, 16)]     # a checkerboard square, a stripe, the disk
fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
for a, (r, c) in zip(axes, pixels):
    w = nonlocal_means_weights(noisy, (r, c), h=H, patch_size=5, patch_distance="mean")   # (64, 64)
    assert abs(float(w.sum()) - 1) < 1e-4 and int(w.argmax()) == r * 64 + c
    im = a.imshow(w, cmap="magma")
    a.plot(c, r, "c+", markersize=14, markeredgewidth=2)
    a.set_title(f"w(i, j) for i = {(r, c)}")
    a.set_xticks([])
    a.set_yticks([])
    fig.colorbar(im, ax=a, shrink=0.8)
plt.suptitle("Non-local means: the weights reach the whole image, wherever the patch repeats")
plt.show()

# %% [markdown]
# **The parameter $h$.** $h \to \infty$ makes every weight equal: NLM becomes the plain mean over
# the search window (a local mean filter of the window's size). $h \to 0$ keeps only $j = i$ (the
# only patch at distance 0): the identity. In between lies the useful range. Two noisy copies of the
# *same* clean patch differ by $2\sigma^2$ per pixel on average, so with $h^2 = 2\sigma^2$ (our
# $h = 0.2$ for $\sigma = 0.2$) they get the weight $e^{-1}$ relative to the pixel itself, while
# different content is pushed far below:

# %%
x = torch.from_numpy(noisy)
assert torch.allclose(nonlocal_means(x, h=math.inf, patch_size=5, search_size=7), local_mean_filter(x, 7))
assert torch.allclose(nonlocal_means(x, h=1e-6, patch_size=5, search_size=7), x)
hs = [0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0]
curve = [psnr(nonlocal_means(noisy, h=h, patch_size=5, search_size=15, patch_distance="mean")) for h in hs]
plt.figure(figsize=(5.5, 3.4))
plt.semilogx(hs, curve, "o-", label="NLM, 15x15 window")
plt.axhline(psnr(noisy), color="gray", linestyle=":", label="noisy input (h -> 0)")
plt.axhline(psnr(local_mean_filter(noisy, 15)), color="tab:red", linestyle="--",
            label="15x15 local mean (h -> inf)")
plt.xlabel("h")
plt.ylabel("PSNR (dB)")
plt.legend(fontsize=8)
plt.title("NLM between its two limits")
plt.show()

# %% [markdown]
# ## 2. How to do it in deep networks?
#
# The slides' answer: in sequential data, long-range dependencies are modelled by recurrent
# operations (an LSTM); in images, mainly by *repeating* convolutions. Each 3x3 layer adds 2 pixels
# to the receptive field: growth is linear in depth, and reaching across a 64-pixel image takes
# 32 layers.

# %%
rows = receptive_field([dict(name=f"conv 3x3 #{k + 1}", kernel=3, padding=1) for k in range(8)], input_size=64)
print(format_receptive_field_table(rows))
assert [r.receptive_field for r in rows] == [3, 5, 7, 9, 11, 13, 15, 17]

# %% [markdown]
# The operators of the rest of the lecture reach further in one layer.
#
# ## 3. The non-local block
#
# Wang et al. write non-local means for feature maps $x$ (positions $i, j$ of the $H \times W$
# grid):
#
# $$y_i = \frac{1}{C(x)} \sum_{\forall j} f(x_i, x_j)\, g(x_j), \qquad z_i = W_z y_i + x_i ,$$
#
# with the *embedded Gaussian* $f(x_i, x_j) = e^{\theta(x_i)^\top \phi(x_j)}$ and $C(x) = \sum_j f$:
# $y = \mathrm{softmax}(\theta^\top \phi)\, g$ — dot-product **attention** with queries $\theta$,
# keys $\phi$ and values $g$ (three $1 \times 1$ convolutions). Non-local means is the case where
# the embeddings are the raw patches: expanding $-\|v_i - v_j\|^2/h^2 = (2 v_i^\top v_j - \|v_j\|^2
# - \|v_i\|^2)/h^2$, the last term is the same for every $j$ and cancels in the softmax. So NLM is
# attention with queries $2v/h^2$, keys $v$ and a bias $-\|v_j\|^2/h^2$ per key — which PyTorch's
# attention primitive computes to the same numbers as `nonlocal_means`:

# %%
small = x[:24, :24].double()[None, None]                                   # (1, 1, 24, 24)
v = F.unfold(F.pad(small, (2, 2, 2, 2), mode="reflect"), 5).transpose(1, 2) / 5   # (1, 576, 25) patches
# dividing the patch vectors by 5 = sqrt(25) makes ||v_i - v_j||^2 the *mean* squared difference
bias = -(v * v).sum(-1)[:, None, :] / H ** 2                             # (1, 1, 576): -|v_j|^2 / h^2
y_attn = F.scaled_dot_product_attention(2 * v / H ** 2, v, small.flatten(2).transpose(1, 2),
                                        attn_mask=bias, scale=1.0)       # (1, 576, 1)
y_nlm = nonlocal_means(small, h=H, patch_size=5, search_size=None, patch_distance="mean")
print("max |attention - NLM| =", float((y_attn.transpose(1, 2).reshape(small.shape) - y_nlm).abs().max()))
assert torch.allclose(y_attn.transpose(1, 2).reshape(small.shape), y_nlm, atol=1e-10)

# %% [markdown]
# The learned block replaces the fixed patch comparison by learned embeddings. $W_z$ starts at
# zero, so a new block is the identity and can be inserted into a pretrained network without
# changing its output. The price of seeing everything: the attention matrix has $(HW)^2$ entries,
# which is why the paper puts its blocks on the low-resolution stages (res3, res4 of a ResNet).

# %%
block = NonLocalBlock(64)                                         # inter_channels = 32
feat = torch.randn(2, 64, 14, 14)
z, attn = block(feat, return_attention=True)
assert torch.equal(z, feat) and attn.shape == (2, 196, 196)
n_params = sum(p.numel() for p in block.parameters())
print(f"NonLocalBlock(64): {n_params:,} parameters (four 1x1 convolutions), output = input at init")
for side in (7, 14, 28, 56, 112):
    n = side * side
    print(f"  {side:>3} x {side:<3} feature map: attention matrix {n:>6,} x {n:<6,} = "
          f"{n * n * 4 / 2 ** 20:10,.1f} MiB in float32 per image")

# %% [markdown]
# ## 4. Dilated convolution
#
# A $3\times3$ kernel with dilation (rate) $r$ samples every $r$-th pixel: the same 9 weights
# cover $(2r + 1) \times (2r + 1)$ pixels (the slide's "same kernel size with larger receptive
# field"). The sampling grids, computed by `deform_sampling_locations` with zero offsets:

# %%
fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
for a, r in zip(axes, (1, 2, 3)):
    loc = deform_sampling_locations(torch.zeros(1, 18, 1, 1), 3, padding=r, dilation=r)[0, 0, :, 0, 0]  # (9, 2)
    a.set_xticks(np.arange(-0.5, 7.5, 1), minor=True)
    a.set_yticks(np.arange(-0.5, 7.5, 1), minor=True)
    a.grid(which="minor", color="lightgray")
    a.scatter(loc[:, 1] + 3, loc[:, 0] + 3, s=120, color="tab:green", label="kernel taps")  # centre at (3, 3)
    a.set_xlim(-0.5, 6.5)
    a.set_ylim(6.5, -0.5)
    a.set_title(f"3x3, dilation {r}: sees {2 * r + 1}x{2 * r + 1}")
    a.set_xticks([])
    a.set_yticks([])
axes[0].legend(loc="lower right", fontsize=8)
plt.show()

# %% [markdown]
# Stacking rates $1, 2, 4, 8$ (as in context modules and DeepLab's ASPP) doubles the receptive
# field at every layer: $3, 7, 15, 31$ — exponential in depth, with no pooling and no loss of
# resolution. Below, the receptive field from the arithmetic (`receptive_field`) and measured by
# autograd (`gradient_receptive_field`: the input pixels with a non-zero gradient for the centre
# output); the weights are all $1/9$ (stacked local means), so the magnitude shows how often each
# pixel is counted. Repeating one rate (2, 2, 2) leaves holes: the *gridding* artefact.

# %%
def conv_stack(dilations):
    """3x3 convolutions with the given dilations and all weights 1/9 (local means)."""
    convs = [nn.Conv2d(1, 1, 3, padding=d, dilation=d, bias=False) for d in dilations]
    for c in convs:
        nn.init.constant_(c.weight, 1 / 9)
    return nn.Sequential(*convs)


probe = torch.rand(1, 1, 41, 41)
stacks = {"rates 1, 1, 1, 1": (1, 1, 1, 1), "rates 1, 2, 4, 8": (1, 2, 4, 8), "rates 2, 2, 2": (2, 2, 2)}
fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
for a, (name, rates) in zip(axes, stacks.items()):
    rf = receptive_field([dict(kernel=3, dilation=d, padding=d) for d in rates])
    grad = gradient_receptive_field(conv_stack(rates), probe)                       # (41, 41)
    assert support_extent(grad) == (rf[-1].receptive_field,) * 2
    im = a.imshow(grad, cmap="viridis")
    a.set_title(f"{name}\nreceptive field {[r.receptive_field for r in rf]}", fontsize=9)
    a.set_xticks([])
    a.set_yticks([])
    fig.colorbar(im, ax=a, shrink=0.8, label="|d y_centre / d x|")
plt.show()
holes = int((gradient_receptive_field(conv_stack((2, 2, 2)), probe)[14:27, 14:27] == 0).sum())  # 13x13 centre
print(f"rates 2, 2, 2: {holes} of the 13 x 13 = 169 pixels inside its receptive field are never seen")
assert holes > 0

# %% [markdown]
# ## 5. Deformable convolution
#
# A deformable convolution adds a learned offset $\Delta p_n$ to each sampling position:
#
# $$y(p_0) = \sum_{p_n \in R} w(p_n)\, x(p_0 + p_n + \Delta p_n).$$
#
# The offsets are fractional, so $x$ is read by bilinear interpolation, and they are the output
# of another convolution on the same input (one $(\Delta y, \Delta x)$ per kernel tap and output
# position), trained by backpropagation through the interpolation. The slide's Figure 1, computed
# with `deform_sampling_locations`: (a) the regular grid, (b) arbitrary offsets, and special cases
# of them: (c) a scaling and (d) a rotation of the grid.

# %%
grid = deform_sampling_locations(torch.zeros(1, 18, 1, 1), 3, padding=1)[0, 0, :, 0, 0]   # (9, 2) taps
p_n = grid.clone()                                            # offsets relative to the centre tap
angle = math.radians(30)
rot = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
cases = {"(a) regular": torch.zeros(9, 2),
         "(b) learned (random here)": 0.6 * torch.randn(9, 2, generator=torch.Generator().manual_seed(1)),
         "(c) scale x 2": p_n * (2 - 1),
         "(d) rotation 30 deg": p_n @ rot.T - p_n}
fig, axes = plt.subplots(1, 4, figsize=(14, 3.6))
for a, (name, off) in zip(axes, cases.items()):
    offset = off.reshape(1, 18, 1, 1)                         # layout: (dy, dx) per tap
    loc = deform_sampling_locations(offset, 3, padding=1)[0, 0, :, 0, 0]
    a.scatter(grid[:, 1], grid[:, 0], s=80, facecolors="none", edgecolors="tab:green", label="regular grid")
    a.scatter(loc[:, 1], loc[:, 0], s=60, color="tab:blue", label="deformed samples")
    for g_, l_ in zip(grid, loc):
        if float((l_ - g_).norm()) > 1e-6:
            a.annotate("", xy=(l_[1], l_[0]), xytext=(g_[1], g_[0]),
                       arrowprops=dict(arrowstyle="->", color="tab:cyan"))
    a.set_xlim(-2.7, 2.7)
    a.set_ylim(2.7, -2.7)
    a.set_aspect("equal")
    a.set_title(name)
    a.set_xlabel("x offset from p0 (pixels)")
axes[0].set_ylabel("y offset from p0 (pixels)")
axes[0].legend(fontsize=7, loc="lower left")
plt.tight_layout()
plt.show()

# %% [markdown]
# With the "scale x 2" offsets (the same at every position), a deformable convolution *is* a
# dilated convolution with rate 2, and with zero offsets it is a plain convolution: it generalises
# both. (The library's `deform_conv2d` is checked in the tests against a pixel-by-pixel loop,
# against `F.conv2d`, and against `torchvision.ops.deform_conv2d`.)

# %%
img = torch.randn(1, 3, 16, 16)
weight = torch.randn(4, 3, 3, 3)
scale2 = cases["(c) scale x 2"].reshape(1, 18, 1, 1).expand(1, 18, 16, 16)
assert torch.allclose(deform_conv2d(img, scale2, weight, padding=1), F.conv2d(img, weight, padding=2, dilation=2),
                      atol=1e-5)
assert torch.allclose(deform_conv2d(img, torch.zeros(1, 18, 16, 16), weight, padding=1),
                      F.conv2d(img, weight, padding=1), atol=1e-5)
print("deformable conv = dilated conv (scale offsets) and = conv2d (zero offsets): checked")

# %% [markdown]
# **The offsets learn by gradient descent.** A toy problem: the target is the input image shifted
# by a sub-pixel amount $(0.6, -1.3)$; a deformable $1\times1$ convolution with identity weight
# starts with offset 0 and follows the gradient of the squared error through the bilinear weights.

# %%
gray = local_mean_filter(torch.from_numpy(clean)[None, None, 16:48, 16:48], 5)  # (1, 1, 32, 32), soft edges
true_shift = torch.tensor([0.6, -1.3])
ident = torch.ones(1, 1, 1, 1)
target = deform_conv2d(gray, true_shift.reshape(1, 2, 1, 1).expand(1, 2, 32, 32), ident)
shift = torch.zeros(2, requires_grad=True)
opt = torch.optim.Adam([shift], lr=0.08)
path = []
for step in range(80):
    pred = deform_conv2d(gray, shift.reshape(1, 2, 1, 1).expand(1, 2, 32, 32), ident)
    loss = ((pred - target)[..., 4:-4, 4:-4] ** 2).mean()          # ignore the zero-padded border
    opt.zero_grad()
    loss.backward()
    opt.step()
    path.append(shift.detach().clone())
print(f"learned offset (dy, dx) = {shift.detach().numpy().round(3)}, true {true_shift.numpy()}")
assert torch.allclose(shift.detach(), true_shift, atol=0.05)
path = torch.stack(path)
plt.figure(figsize=(4.5, 3.2))
plt.plot(path[:, 0], label="dy")
plt.plot(path[:, 1], label="dx")
plt.axhline(0.6, color="tab:blue", linestyle=":", label="true dy")
plt.axhline(-1.3, color="tab:orange", linestyle=":", label="true dx")
plt.xlabel("Adam step")
plt.ylabel("offset (pixels)")
plt.legend(fontsize=8)
plt.title("Learning an offset through bilinear sampling")
plt.show()

# %% [markdown]
# ## 6. Squeeze-and-excitation: channel attention
#
# SENet ("feature recalibration") is attention over *channels*. **Squeeze**: global average
# pooling turns each channel into one number, a descriptor of the whole image. **Excite**: a
# bottleneck MLP $C \to C/r \to C$ with a sigmoid gives one gate in $(0, 1)$ per channel.
# **Scale**: every channel is multiplied by its gate. The gates depend on the image, so the same
# network emphasises different channels for different inputs, at a cost of $2C^2/r$ parameters.
# `cnncourse.models.SEBlock` (lecture 05) is the block; we read its gates with a forward hook.

# %%
torch.manual_seed(1)
se = SEBlock(16, reduction=4)
gates = {}
se.gate.register_forward_hook(lambda mod, inp, out: gates.__setitem__("last", out.detach()))
# 16 channels of oriented-edge responses of two inputs: the checkerboard and the stripes halves
angles = torch.linspace(0, math.pi, 17)[:-1]
kx = torch.tensor([-1.0, 0.0, 1.0])
bank = torch.stack([torch.cos(a) * kx[None, :].expand(3, 3) + torch.sin(a) * kx[:, None].expand(3, 3)
                    for a in angles])[:, None]                        # (16, 1, 3, 3) oriented gradients
halves = torch.stack([torch.from_numpy(clean[:, :32]), torch.from_numpy(clean[:, 32:])])[:, None]
feats = F.conv2d(halves, bank, padding=1).abs()                       # (2, 16, 64, 32)
out = se(feats)
g = gates["last"]                                                     # (2, 16)
assert torch.allclose(out, feats * g[:, :, None, None])
n_se = sum(p.numel() for p in se.parameters())
print(f"SEBlock(16, r=4): {n_se} parameters = 2 C^2 / r + C / r + C = {2 * 16 * 16 // 4 + 16 // 4 + 16}")
assert n_se == 2 * 16 * 16 // 4 + 16 // 4 + 16
fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.2))
a1.bar(np.arange(16) - 0.2, g[0], 0.4, label="checkerboard half")
a1.bar(np.arange(16) + 0.2, g[1], 0.4, label="stripes half")
a1.set_xlabel("channel (edge orientation, 0 .. 169 degrees)")
a1.set_ylabel("gate (excitation)")
a1.set_title("Per-image channel gates (untrained SE block)")
a1.legend(fontsize=8)
a2.bar(np.arange(16) - 0.2, feats[0].mean((1, 2)), 0.4, label="checkerboard half")
a2.bar(np.arange(16) + 0.2, feats[1].mean((1, 2)), 0.4, label="stripes half")
a2.set_xlabel("channel")
a2.set_ylabel("squeeze: channel mean")
a2.set_title("What the gates are computed from")
a2.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 7. Attention for person re-identification
#
# Person re-identification (lecture 09) matches people across cameras. The slides' model follows
# how humans do it: not by looking at the whole scene at once but by attending to the most
# discriminative parts (a face, a bag), "focusing on a certain region of an image with **high
# resolution** while perceiving the surrounding image in **low resolution**", trained with the
# triplet loss (lecture 09's CUHK01 table gives its rank-1/5/10/20 results). Such a *glimpse*
# (Mnih et al., 2014) stacks patches of the same size: the full-resolution centre and larger,
# coarser surroundings. `glimpse` extracts them:

# %%
person = torch.from_numpy(IdentityDataset("test", num_identities=1, samples_per_identity=1,
                                          image_size=64, occlusion=0.0).batch([0])[0])   # (1, 3, 64, 64)
centre = torch.tensor([[26, 30]])                                   # where to look (row, col)
patches = glimpse(person, centre, size=12, scales=(1, 2, 4))        # (1, 3 scales, 3, 12, 12)
fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
axes[0].imshow(person[0].permute(1, 2, 0))
for s, col in zip((1, 2, 4), ("tab:red", "tab:orange", "tab:cyan")):
    side = 12 * s
    top, left = 26 - side // 2, 30 - side // 2
    axes[0].add_patch(plt.Rectangle((left - 0.5, top - 0.5), side, side, fill=False, color=col, linewidth=2,
                                    label=f"scale {s}: {side}x{side} -> 12x12"))
axes[0].legend(fontsize=7, loc="lower left")
axes[0].set_title("glimpse windows", fontsize=10)
for a, k, s in zip(axes[1:], range(3), (1, 2, 4)):
    a.imshow(patches[0, k].permute(1, 2, 0).clamp(0, 1))
    a.set_title(f"scale {s}: {'full resolution' if s == 1 else f'{s}x coarser'}")
for a in axes:
    a.set_xticks([])
    a.set_yticks([])
plt.show()
n_glimpse, n_image = patches[0].numel(), person[0].numel()
print(f"the glimpse holds {n_glimpse} values for a 48x48 field of view; the image has {n_image} "
      f"({n_image / n_glimpse:.1f}x more)")
assert torch.equal(patches[0, 0], person[0, :, 20:32, 24:36])

# %% [markdown]
# Hard attention of this kind (choosing *where* to look) is trained with reinforcement learning
# or made differentiable with a spatial transformer; the non-local block and SE are *soft*
# attention (weights over all positions or all channels), trained by plain backpropagation.
#
# ## 8. Globalness vs localness, side by side
#
# What does one output pixel of each operator see? `gradient_receptive_field` differentiates the
# centre output with respect to a $41 \times 41$ input: local operators see a window, dilated
# ones a sparse but wide window, a deformable convolution a window bent by its offsets, and the
# non-local block and SE see the whole image in a single layer (SE through its global pooling;
# the bright centre of these two is their identity path: the residual $+x_i$ and the rescaled $x_i$).

# %%
torch.manual_seed(0)
probe3 = torch.rand(1, 4, 41, 41)
conv1 = nn.Conv2d(4, 4, 3, padding=1)
stack4 = nn.Sequential(*[nn.Conv2d(4, 4, 3, padding=1) for _ in range(4)])
dil = nn.Sequential(*[nn.Conv2d(4, 4, 3, padding=d, dilation=d) for d in (1, 2, 4, 8)])
w_def = torch.randn(4, 4, 3, 3)
off = 3.0 * torch.randn(1, 18, 41, 41)                            # large "learned" offsets
nl = NonLocalBlock(4, zero_init=False)
se4 = SEBlock(4, reduction=2)
operators = {
    "3x3 conv": conv1,
    "4 stacked 3x3 convs": stack4,
    "dilated, rates 1, 2, 4, 8": dil,
    "3x3 deformable": lambda t: deform_conv2d(t, off, w_def, padding=1),
    "non-local block": nl,
    "squeeze-excitation": se4,
}
fig, axes = plt.subplots(1, 6, figsize=(18, 3.4))
cmap = plt.get_cmap("viridis").copy()
cmap.set_bad("white")
extents = {}
for a, (name, op) in zip(axes, operators.items()):
    gmap = gradient_receptive_field(op, probe3)
    extents[name] = support_extent(gmap)
    logmap = torch.log10(gmap.detach())                              # -inf where the gradient is exactly 0
    logmap[gmap == 0] = float("nan")                                  # drawn white: outside the field
    top = float(logmap.nan_to_num(-1e9).max())
    im = a.imshow(logmap, cmap=cmap, vmin=top - 6, vmax=top)         # 6 decades: weak tails show too
    a.set_title(f"{name}\nsees {extents[name][0]} x {extents[name][1]}", fontsize=9)
    a.set_xticks([])
    a.set_yticks([])
    fig.colorbar(im, ax=a, shrink=0.7, label="log10 |gradient|")
fig.suptitle("log10 |d output(centre) / d input| over a 41x41 input (white: exactly 0): local -> global",
             y=1.03)
plt.show()
print(extents)
assert extents["3x3 conv"] == (3, 3) and extents["4 stacked 3x3 convs"] == (9, 9)
assert extents["dilated, rates 1, 2, 4, 8"] == (31, 31)
assert extents["non-local block"] == (41, 41) and extents["squeeze-excitation"] == (41, 41)

# %% [markdown]
# **Summary: the forever battle between globalness and localness**
#
# | operator | what one output sees | cost of being global |
# |---|---|---|
# | local mean / 3x3 conv | a fixed $3 \times 3$ window | — (receptive field grows by 2 per layer) |
# | non-local means | every pixel with a similar patch | $(HW)^2$ patch comparisons (or a search window) |
# | non-local block | every position, weighted by learned similarity (attention) | $(HW)^2$ attention matrix |
# | dilated conv | a sparse window of size $2r + 1$ | none in compute; gridding if rates repeat |
# | deformable conv | 9 learned, input-dependent positions | an offset convolution, bilinear sampling |
# | squeeze-and-excitation | the whole image, through one pooled number per channel | $2C^2/r$ parameters |
# | glimpse (hard attention) | where the model chooses to look, sharp centre, coarse surround | a policy for where to look |
#
# Local operators are cheap and share weights over positions; global ones capture long-range
# structure (a repeated texture, a distant part of the same person) that a stack of small
# windows reaches only after many layers. Modern architectures mix both: convolutional stages
# with attention blocks, or attention everywhere ("attention is all you need").

# %%
print(f"lecture computed in {time.perf_counter() - T_START:.1f} s")
