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
# # Lecture 05 — CNN architectures
#
# From LeNet (1998) to MobileNets, the history of CNNs is a history of spending a budget of
# **parameters**, **memory** and **multiplications** better. The slides are full of cost tables;
# here every one of them is computed from a real `torch.nn` model with `cnncourse.costs`, which
# runs the model once with a hook on every layer and records its output shape, parameters,
# activations and multiply-accumulates (MACs). Where a slide's number is right we assert it; where
# it is wrong we say so and show the computation.
#
# **Contents**
# 1. How we count (and how we know the counter is right)
# 2. LeNet
# 3. AlexNet: the slide's layer table
# 4. VGG16: memory and parameters, line by line
# 5. Why 3x3 filters: three 3x3 convs vs one 7x7
# 6. GoogLeNet: the inception module and its op count; Inception-v2 factorization
# 7. ResNet: residual and bottleneck blocks
# 8. ResNeXt, DenseNet, SENet
# 9. Efficient networks: MobileNet, ShuffleNet, MobileFaceNet
# 10. The ImageNet (ILSVRC) race, and cost vs size

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnncourse.arithmetic import conv_output_size, receptive_field
from cnncourse.costs import (InceptionSpec, conv2d_params, depthwise_conv_mults, format_architecture,
                             format_cost_table, format_memory_lines, inception_ops, layer_costs,
                             pointwise_conv_mults, standard_conv_mults)
from cnncourse.models import (MOBILEFACENET_TABLE, AlexNet, AlexNetSlide, BasicBlock, Bottleneck,
                              DenseBlock, DepthwiseSeparable, GoogLeNet, InceptionModule, LeNet5,
                              MobileFaceNet, ResNet, SEBlock, channel_shuffle, googlenet, mobilenet_v2,
                              resnet18, resnet50, resnext50_32x4d, vgg16)
from cnncourse.viz import compare_with_slide

torch.manual_seed(0)


def shapes_only(builder, **kwargs):
    """Build a model on torch's `meta` device: shapes without storage, so walking VGG16 is instant."""
    with torch.device("meta"):
        return builder(**kwargs)


def image(size, channels=3):
    return torch.zeros(1, channels, size, size, device="meta")   # (N=1, C, H, W)


# %% [markdown]
# ## 1. How we count
#
# For every layer of a forward pass on **one image**:
#
# * **parameters**: the weights and biases the layer owns (a conv layer with $F$ filters of size
#   $K\times K\times C$ has $K^2 C F$ weights and $F$ biases);
# * **activations** ("memory" on the slides): the number of values in the layer's output, times
#   4 bytes in float32;
# * **MACs**: multiply-accumulates. A conv output value is a dot product of length $K^2 C$, so a conv
#   layer costs $H_{out} W_{out} F \cdot K^2 C$ MACs. One MAC is two floating-point operations, so
#   **FLOPs = 2 x MACs**. Papers often write "FLOPs" and mean multiply-adds (the SENet table
#   below does); we say MACs.
#
# Only convolutions and fully connected layers are counted as operations; ReLU, pooling and
# normalisation are cheap in comparison and count 0. That is also the convention of PyTorch's own
# `torch.utils.flop_counter.FlopCounterMode`, which we use as an independent check.

# %%
lenet = LeNet5()
report = layer_costs(lenet, torch.zeros(1, 1, 32, 32))
with FlopCounterMode(display=False) as counter:
    lenet(torch.zeros(1, 1, 32, 32))
print(format_cost_table(report, title="LeNet-5 on a 32x32x1 image"))
print(f"\nsum(p.numel())     = {sum(p.numel() for p in lenet.parameters()):,}")
print(f"FlopCounterMode    = {counter.get_total_flops():,} FLOPs  (ours: {report.total_flops:,})")
assert report.total_params == sum(p.numel() for p in lenet.parameters()) == 61_706
assert report.total_flops == counter.get_total_flops()

# %% [markdown]
# ## 2. LeNet (LeCun et al. 1998)
#
# LeNet read handwritten digits in the 1990s and already has the elements of every later
# architecture: convolution, a nonlinearity, pooling (subsampling), and fully connected layers at the
# end. The table above is our re-implementation (ReLU and max pooling instead of the original
# tanh and trainable subsampling): **61,706 parameters**, 0.42 M MACs. Notice where they are: almost
# all parameters sit in the fully connected layers, but most multiplications happen in the
# convolutions. That split will stay with us.

# %%
fc = sum(l.params for l in report.layers if l.type == "Linear")
conv_macs = sum(l.macs for l in report.layers if l.type == "Conv2d")
print(f"parameters in FC layers: {fc / report.total_params:.0%};  MACs in conv layers: "
      f"{conv_macs / report.total_macs:.0%}")

# %% [markdown]
# ## 3. AlexNet (Krizhevsky et al. 2012)
#
# The slide: input **227x227x3**; CONV1 has 96 filters of 11x11 at stride 4, pad 0, so its output
# is $(227 - 11)/4 + 1 = 55$: **55x55x96**, with $(11 \cdot 11 \cdot 3) \cdot 96 = 34{,}848 \approx$
# **35K** parameters (the slide counts weights only; with the 96 biases it is 34,944). POOL1 (3x3
# filters at stride 2) gives 27x27x96 and has **0 parameters**: pooling has nothing to learn.
#
# `AlexNetSlide` is the slide's "full (simplified) AlexNet" as a real model (one tower, local
# response normalisation as NORM layers).

# %%
alex = shapes_only(AlexNetSlide)
alex_report = layer_costs(alex, image(227))
conv1, pool1 = alex_report.layers[0], alex_report.layers[2]
print(f"CONV1 output {tuple(conv1.output_shape[1:])}, weights {conv1.weight_formula} = {conv1.weights:,}, "
      f"with biases {conv1.params:,}")
print(f"POOL1 output {tuple(pool1.output_shape[1:])}, parameters {pool1.params}")
assert conv_output_size(227, 11, stride=4) == 55
compare_with_slide("CONV1 output size (H, W, C)", [55, 55, conv1.output_shape[1]], [55, 55, 96])
compare_with_slide("CONV1 weights (11*11*3)*96", conv1.weights, 34_848)
compare_with_slide("CONV1 parameters in thousands ('35K')", conv1.weights / 1000, 35, decimals=0)
compare_with_slide("POOL1 output (H, W, C) and parameters",
                   [*pool1.output_shape[2:], pool1.output_shape[1], pool1.params], [27, 27, 96, 0])
assert conv1.params == 34_944

# %% [markdown]
# The full table, in the slide's layout, generated from the model, and the output volumes compared
# with the slide's column:

# %%
table = alex_report.select("Conv2d", "MaxPool2d", "LocalResponseNorm", "Linear")
print(format_architecture(table))
# seed 004 / 001, "Full (simplified) AlexNet architecture": output volumes (H, W, C), FC as (1, 1, F)
SLIDE_ALEXNET = [[55, 55, 96], [27, 27, 96], [27, 27, 96], [27, 27, 256], [13, 13, 256], [13, 13, 256],
                 [13, 13, 384], [13, 13, 384], [13, 13, 256], [6, 6, 256], [1, 1, 4096], [1, 1, 4096],
                 [1, 1, 1000]]
volumes = [[*l.output_shape[2:], l.output_shape[1]] if len(l.output_shape) == 4 else [1, 1, l.output_shape[1]]
           for l in table.layers]
compare_with_slide("AlexNet output volumes", volumes, SLIDE_ALEXNET);

# %% [markdown]
# Parameters and operations of every layer. The slide says "60M parameters". This single-tower
# model has 62.4M; the paper split CONV2, CONV4 and CONV5 over two GPUs (each filter sees half of
# the input channels: `groups=2`), which saves 1.4M and gives 61.0M. torchvision's AlexNet (64
# first-layer filters, 224x224 input) has 61.1M.

# %%
print(format_cost_table(alex_report.select("Conv2d", "MaxPool2d", "Linear"), title="AlexNet (slide version)"))
two_gpus = sum(conv2d_params(ci, co, k) - conv2d_params(ci, co, k, groups=2)
               for ci, co, k in [(96, 256, 5), (384, 384, 3), (384, 256, 3)])
tv_alex = shapes_only(AlexNet)
print(f"\nsingle tower {alex_report.total_params:,}; paper's two towers {alex_report.total_params - two_gpus:,}; "
      f"torchvision {sum(p.numel() for p in tv_alex.parameters()):,}")
compare_with_slide("AlexNet parameters, millions, 1 significant digit ('60M')",
                   float(f"{alex_report.total_params - two_gpus:.1g}") / 1e6, 60)
assert sum(p.numel() for p in tv_alex.parameters()) == 61_100_840   # torchvision's documented count

# %% [markdown]
# Seed 001 also quotes an ablation (Zeiler and Fergus): "removing layer 7 reduces 16 million
# parameters", "removing layers 6 and 7 reduces 50 million". We can check the arithmetic by
# removing the layers from the model (the next layer then connects to whatever comes before it):

# %%
def alexnet_params(hidden_fc):
    """Parameters of the slide's AlexNet with the given hidden FC layers (the last one reads what is left)."""
    with torch.device("meta"):
        dims = [256 * 6 * 6, *hidden_fc, 1000]
        model = nn.Sequential(AlexNetSlide().features, nn.Flatten(),
                              *(nn.Linear(a, b) for a, b in zip(dims, dims[1:])))
    return layer_costs(model, image(227)).total_params

full = alexnet_params([4096, 4096])
no7, no67 = full - alexnet_params([4096]), full - alexnet_params([])
print(f"remove FC7:         -{no7 / 1e6:.1f}M parameters (slide: 16 million)")
print(f"remove FC6 and FC7: -{no67 / 1e6:.1f}M parameters (slide: 50 million)")
assert full == alex_report.total_params and abs(no7 - 16e6) < 1e6 and abs(no67 - 50e6) < 1e6

# %% [markdown]
# Removing FC6 and FC7 deletes 54.5M parameters but FC8 then reads the 9,216 values of POOL3
# directly, which adds 5.1M back: net 49.4M, the slide's "50 million". And yet the accuracy only
# drops by 5.7%: most of AlexNet's parameters are in layers it can almost do without.
#
# ## 4. VGG16 (Simonyan and Zisserman 2014)
#
# Only 3x3 convolutions (stride 1, pad 1) and 2x2 max pooling (stride 2). The slide lists, for
# every layer, its output volume, "memory" (the number of activations) and parameters (weights only).
# The lines below are generated from `vgg16()`:

# %%
vgg = shapes_only(vgg16)
vgg_all = layer_costs(vgg, image(224))
vgg_report = vgg_all.select("Conv2d", "MaxPool2d", "Linear")
print(format_memory_lines(vgg_report))

# %% [markdown]
# Each line the slide prints, checked. The seed's text of the slide shows two `CONV3-256` and two of
# each `CONV3-512` line where VGG16 has three: the table as printed is missing three rows (the
# 138M total needs them), so we match the printed rows in order and list the ones it lacks.

# %%
# seed 004 "Case Study: VGGNet", the rows as printed: (H, W, C, memory = H*W*C, weights)
SLIDE_VGG = [(224, 224, 64, 1_728), (224, 224, 64, 36_864), (112, 112, 64, 0), (112, 112, 128, 73_728),
             (112, 112, 128, 147_456), (56, 56, 128, 0), (56, 56, 256, 294_912), (56, 56, 256, 589_824),
             (28, 28, 256, 0), (28, 28, 512, 1_179_648), (28, 28, 512, 2_359_296), (14, 14, 512, 0),
             (14, 14, 512, 2_359_296), (14, 14, 512, 2_359_296), (7, 7, 512, 0), (1, 1, 4096, 102_760_448),
             (1, 1, 4096, 16_777_216), (1, 1, 1000, 4_096_000)]
rows = [((*l.output_shape[2:], l.output_shape[1]) if len(l.output_shape) == 4 else (1, 1, l.output_shape[1]))
        + (l.weights,) for l in vgg_report.layers]
matched, k = [], 0
for slide_row in SLIDE_VGG:
    while rows[k] != slide_row:
        print("missing from the slide's text:", rows[k])
        k += 1
    matched.append(rows[k])
    k += 1
compare_with_slide("VGG16 rows printed on the slide (H, W, C, weights)", matched, SLIDE_VGG, fmt="{:,.0f}");

# %% [markdown]
# **Totals.** The parameters add up to the slide's 138M (exactly 138,357,544 with biases, torchvision's
# documented number). The memory column does **not** add up to the slide's "24M x 4 bytes ~ 96MB":
# summing the slide's own column (input + every conv, pool and FC output) gives **15.2M activations,
# about 61 MB** in float32. Even counting every layer's output as a separate tensor (ReLU and
# dropout outputs included, although ReLU runs in place) gives 28.8M, not 24M. The slide is wrong; and for training, the backward pass needs
# these activations again plus their gradients, so count roughly twice that.

# %%
elements, nbytes = vgg_report.memory()
with_relu, _ = vgg_all.memory()
print(f"activations: {elements:,} ({nbytes / 1e6:.1f} MB);  with separate ReLU outputs: {with_relu:,}")
compare_with_slide("VGG16 parameters", vgg_report.total_params, 138_357_544, fmt="{:,.0f}")
compare_with_slide("VGG16 parameters, millions", vgg_report.total_params / 1e6, 138, decimals=0)
compare_with_slide("VGG16 memory, millions of activations ('24M')", elements / 1e6, 24, decimals=1,
                   expect_match=False)
compare_with_slide("VGG16 memory, MB ('~96MB')", nbytes / 1e6, 96, decimals=0, expect_match=False);

# %% [markdown]
# Where do memory and parameters live? Memory is in the early layers (large maps), parameters
# in the fully connected layers (FC6 alone has 102.8M of the 138M). The seed's SENet table quotes
# VGG-16 at 15.47 "GFLOPs": that is its multiply-add count, which we reproduce.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
short = {"Conv2d": "conv", "MaxPool2d": "pool", "Linear": "fc"}
names = [f"{short[l.type]}{i}" for i, l in enumerate(vgg_report.layers)]
axes[0].bar(range(len(names)), [l.activations / 1e6 for l in vgg_report.layers], color="tab:blue", label="activations")
axes[0].set_ylabel("millions of activations")
axes[1].bar(range(len(names)), [l.params / 1e6 for l in vgg_report.layers], color="tab:orange", label="parameters")
axes[1].set_ylabel("millions of parameters")
for ax in axes:
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_xlabel("layer (conv, pool, FC in order)")
    ax.legend()
fig.suptitle("VGG16: memory early, parameters late")
plt.show()
compare_with_slide("VGG-16 multiply-adds, G (SENet table)", vgg_report.total_macs / 1e9, 15.47, decimals=2);

# %% [markdown]
# ## 5. Why 3x3 filters?
#
# A stack of three 3x3 conv layers (stride 1) has the same **effective receptive field** as one 7x7
# layer: each layer adds 2 pixels. But it is deeper (three nonlinearities instead of one) and has
# fewer parameters: $3 \cdot (3^2 C^2) = 27 C^2$ vs. $7^2 C^2 = 49 C^2$ for $C$ channels per layer.

# %%
C = 256
rf_stack = receptive_field([(3,), (3,), (3,)])[-1].receptive_field
rf_single = receptive_field([(7,)])[-1].receptive_field
p3 = 3 * conv2d_params(C, C, 3, bias=False)
p7 = conv2d_params(C, C, 7, bias=False)
print(f"receptive field: three 3x3 -> {rf_stack}, one 7x7 -> {rf_single}")
print(f"parameters at C={C}: three 3x3 = {p3:,} (27 C^2), one 7x7 = {p7:,} (49 C^2), ratio {p3 / p7:.2f}")
stack = nn.Sequential(*(nn.Conv2d(C, C, 3, padding=1, bias=False) for _ in range(3)))
macs3 = layer_costs(stack, torch.zeros(1, C, 28, 28)).total_macs
macs7 = layer_costs(nn.Conv2d(C, C, 7, padding=3, bias=False), torch.zeros(1, C, 28, 28)).total_macs
print(f"MACs on a 28x28x{C} map: {macs3 / 1e6:.0f}M vs {macs7 / 1e6:.0f}M")
assert rf_stack == rf_single == 7 and p3 == 27 * C * C and p7 == 49 * C * C and macs3 / macs7 == 27 / 49

# %% [markdown]
# ## 6. GoogLeNet (Szegedy et al. 2014)
#
# The **inception module** applies 1x1, 3x3 and 5x5 convolutions and a 3x3 max pooling to the same
# input in parallel and concatenates their outputs along the channels. The slide's example: the
# naive module on a **28x28x256** input with 128 1x1, 192 3x3 and 96 5x5 filters. The pooling
# branch keeps all 256 channels, so the output is $28 \times 28 \times (128 + 192 + 96 + 256) =$
# **28x28x672**, and the convolutions cost **854M** multiplications.
#
# `inception_ops` lists the convolutions of a module described by an `InceptionSpec`, and
# `InceptionModule` builds the same module in torch from the same spec; the walker's count of the
# built module must agree with the formula.

# %%
naive = InceptionSpec(c1x1=128, c3x3=192, c5x5=96)
for term in inception_ops(28, 28, 256, naive):
    print(term)
naive_total = sum(t.macs for t in inception_ops(28, 28, 256, naive))
naive_module = shapes_only(InceptionModule, c_in=256, spec=naive)
naive_report = layer_costs(naive_module, torch.zeros(1, 256, 28, 28, device="meta"))
out = tuple(naive_module(torch.zeros(1, 256, 28, 28, device="meta")).shape)      # (N, C, H, W)
print(f"total {naive_total:,} multiplications; output {out}")
assert naive_report.total_macs == naive_total
compare_with_slide("naive inception output (H, W, C)", [out[2], out[3], out[1]], [28, 28, 672])
compare_with_slide("naive inception ops, millions ('854M')", naive_total / 1e6, 854, decimals=0);

# %% [markdown]
# **Bottlenecks.** The fix: 1x1 convolutions that reduce the depth before the expensive 3x3 and 5x5
# convolutions, and a 1x1 projection after the pooling (so the output depth no longer grows with
# the input's). With the slide figure's 64-channel reductions and 64-channel pool projection:

# %%
reduced = InceptionSpec(c1x1=128, c3x3=192, c5x5=96, reduce3x3=64, reduce5x5=64, pool_proj=64)
for term in inception_ops(28, 28, 256, reduced):
    print(term)
reduced_total = sum(t.macs for t in inception_ops(28, 28, 256, reduced))
reduced_module = shapes_only(InceptionModule, c_in=256, spec=reduced)
assert layer_costs(reduced_module, torch.zeros(1, 256, 28, 28, device="meta")).total_macs == reduced_total
print(f"total {reduced_total:,}; output channels {reduced.out_channels(256)} (was 672)")
compare_with_slide("inception with 1x1 bottlenecks, millions of ops ('358M')", reduced_total / 1e6, 358,
                   decimals=0, expect_match=False);

# %% [markdown]
# The slide says **358M**; the six convolutions of its own figure add up to **271M** (3.1x cheaper
# than the naive module, not 2.4x). The slide's total is wrong; the point stands: the bottlenecks
# cut the cost by two thirds and make the output 480 channels deep instead of 672.
#
# **The whole network.** Nine inception modules, no large fully connected layers (global average
# pooling before a single 1024 -> 1000 classifier). The slide says "only 5 million parameters,
# 12x less than AlexNet". Our model (torchvision's layout, which uses 3x3 kernels in the "5x5"
# branches) has 6.6M; with the paper's 5x5 kernels it is 7.0M, about 9x fewer than AlexNet's 61M.
# "5 million" understates it.

# %%
g = shapes_only(googlenet)
g_report = layer_costs(g, image(224))
g5 = shapes_only(GoogLeNet, kernel5=5)
g5_params = sum(p.numel() for p in g5.parameters())
print(f"GoogLeNet: {g_report.total_params:,} parameters (paper kernels: {g5_params:,}), "
      f"{g_report.total_macs / 1e9:.2f} G MACs; AlexNet / GoogLeNet = {61_100_840 / g5_params:.1f}x")
assert g_report.total_params == 6_624_904     # torchvision's documented count
compare_with_slide("GoogLeNet parameters, millions ('5 million')", g5_params / 1e6, 5, decimals=0,
                   expect_match=False);

# %% [markdown]
# **Inception-v2: factorizing convolutions** (seed 002's quiz). A 5x5 convolution can be replaced by
# two stacked 3x3 convolutions: the receptive field stays 5x5 (answer B: it does not change) and
# the cost drops from $25C^2$ to $18C^2$. More generally an $n \times n$ convolution becomes a
# $1 \times n$ followed by an $n \times 1$: $n^2 C^2 \to 2nC^2$. We check the receptive fields with
# `receptive_field` and, independently, with autograd: the gradient of one output pixel with
# respect to the input is non-zero exactly on its receptive field.

# %%
C_small = 4


def rf_by_gradient(net, size=15):
    x = torch.ones(1, C_small, size, size, requires_grad=True)
    net(x)[0, :, size // 2, size // 2].sum().backward()
    nz = (x.grad[0].abs().sum(0) > 0).nonzero()
    return (nz[:, 0].max() - nz[:, 0].min() + 1).item(), (nz[:, 1].max() - nz[:, 1].min() + 1).item()


nets = {
    "5x5": nn.Conv2d(C_small, C_small, 5, padding=2),
    "3x3 + 3x3": nn.Sequential(nn.Conv2d(C_small, C_small, 3, padding=1), nn.Conv2d(C_small, C_small, 3, padding=1)),
    "7x7": nn.Conv2d(C_small, C_small, 7, padding=3),
    "1x7 + 7x1": nn.Sequential(nn.Conv2d(C_small, C_small, (1, 7), padding=(0, 3)),
                               nn.Conv2d(C_small, C_small, (7, 1), padding=(3, 0))),
}
for name, net in nets.items():
    w = sum(m.weight.numel() for m in net.modules() if isinstance(m, nn.Conv2d))
    print(f"{name:>10}: receptive field {rf_by_gradient(net)}, weights {w} = {w // C_small**2} C^2")
assert rf_by_gradient(nets["5x5"]) == rf_by_gradient(nets["3x3 + 3x3"]) == (5, 5)
assert rf_by_gradient(nets["7x7"]) == rf_by_gradient(nets["1x7 + 7x1"]) == (7, 7)
assert receptive_field([(3,), (3,)])[-1].receptive_field == receptive_field([(5,)])[-1].receptive_field

# %% [markdown]
# ## 7. ResNet (He et al. 2016)
#
# Stacking more plain layers made networks *worse*, on the training set too: an optimisation
# problem, not overfitting. A deeper model could copy a shallower one and set its extra layers to the
# identity, so it should never be worse; residual blocks make that easy by fitting
# $F(x) = H(x) - x$ and outputting $F(x) + x$. If the block's last batch norm has $\gamma = 0$, the
# block *is* the identity (on the non-negative inputs a ReLU network passes along):

# %%
block = BasicBlock(64, 64).eval()
nn.init.zeros_(block.bn2.weight)
x = torch.relu(torch.randn(1, 64, 8, 8))
print("identity block: max |block(x) - x| =", (block(x) - x).abs().max().item())
assert torch.equal(block(x), x)

# %% [markdown]
# **Basic vs bottleneck.** ResNet-18/34 use two 3x3 convs; ResNet-50/101/152 use a *bottleneck*:
# 1x1 to reduce the depth (256 -> 64), 3x3 at the reduced depth, 1x1 to expand again (64 -> 256).
# When a block changes the shape (stride 2 or more channels), the shortcut becomes a **projection**:
# a 1x1 convolution with the same stride (plus batch norm).

# %%
for name, blk, c_in in [("basic 64 -> 64", shapes_only(BasicBlock, c_in=64, planes=64), 64),
                        ("basic 64 -> 128, stride 2", shapes_only(BasicBlock, c_in=64, planes=128, stride=2), 64),
                        ("basic 256 -> 256", shapes_only(BasicBlock, c_in=256, planes=256), 256),
                        ("bottleneck 256 -> 64 -> 256", shapes_only(Bottleneck, c_in=256, planes=64), 256),
                        ("bottleneck 256 -> 512, stride 2", shapes_only(Bottleneck, c_in=256, planes=128, stride=2), 256)]:
    r = layer_costs(blk, torch.zeros(1, c_in, 56, 56, device="meta"))
    shortcut = "projection" if blk.downsample is not None else "identity"
    print(f"{name:>32}: out {tuple(r.layers[-1].output_shape[1:])}, {r.total_params:>9,} params, "
          f"{r.total_macs / 1e6:7.1f}M MACs, {shortcut} shortcut")

# %% [markdown]
# On 256 channels the bottleneck costs 17x less than two 3x3 convs. The full networks (conv 7x7/2,
# max pool, four stages of blocks, global average pooling, one FC layer), against torchvision's
# documented parameter counts. torchvision puts a bottleneck's stride on the 3x3 conv ("v1.5");
# the paper put it on the first 1x1, which is what the seed's SENet table (3.86 GFLOPs) measures.

# %%
for name, model, published in [("ResNet-18", shapes_only(resnet18), 11_689_512),
                               ("ResNet-50 (torchvision, v1.5)", shapes_only(resnet50), 25_557_032),
                               ("ResNet-50 (paper, stride in 1x1)", shapes_only(resnet50, stride_in_1x1=True), 25_557_032)]:
    r = layer_costs(model, image(224))
    print(f"{name:>34}: {r.total_params:>11,} parameters, {r.total_macs / 1e9:.2f} G MACs")
    assert r.total_params == published
resnet50_paper = layer_costs(shapes_only(resnet50, stride_in_1x1=True), image(224))
compare_with_slide("ResNet-50 GFLOPs (SENet table, multiply-adds)", resnet50_paper.total_macs / 1e9, 3.86, decimals=2);

# %% [markdown]
# ## 8. ResNeXt, DenseNet, SENet
#
# **ResNeXt** ("increase cardinality"): split the bottleneck's 3x3 convolution into $C$ groups of
# width $d$. The seed's table compares settings $C \times d$ with the *same budget*: the block's
# width $C \cdot d$ grows as the groups shrink each 3x3's input, so parameters and MACs stay
# almost constant while the top-1 error improves.

# %%
# seed 001 "ResNeXT" table: (setting C, d, top-1 error %) for the 50-layer networks
SLIDE_RESNEXT = [(1, 64, 23.9), (2, 40, 23.0), (4, 24, 22.6), (8, 14, 22.3), (32, 4, 22.2)]
print(f"{'setting':>8} | {'block params (256 in/out)':>26} | {'network params':>14} | {'G MACs':>6} | top-1 err. (seed)")
budgets = []
for c, d, err in SLIDE_RESNEXT:
    blk = shapes_only(Bottleneck, c_in=256, planes=64, groups=c, base_width=d)
    net = layer_costs(shapes_only(ResNet, block=Bottleneck, layers=(3, 4, 6, 3), groups=c, base_width=d), image(224))
    budgets.append(net.total_params)
    print(f"{c:>3} x {str(d) + 'd':<3} | {sum(p.numel() for p in blk.parameters()):>26,} | {net.total_params:>14,} | "
          f"{net.total_macs / 1e9:6.2f} | {err}")
assert max(budgets) / min(budgets) < 1.03     # the same budget, within 3%
assert budgets[-1] == sum(p.numel() for p in shapes_only(resnext50_32x4d).parameters()) == 25_028_904

# %% [markdown]
# **DenseNet** (Huang et al. 2017): instead of adding, *concatenate*: layer $l$ of a dense block
# sees the outputs of all previous layers, and each layer adds only $k$ ("growth rate") new
# channels. A block of $L$ layers has $L(L+1)/2$ direct connections.

# %%
dense = shapes_only(DenseBlock, c_in=64, num_layers=6, growth=32).eval()
x = torch.zeros(1, 64, 14, 14, device="meta")
print("dense block: 64 channels in ->", tuple(dense(x).shape[1:]), "out;",
      "layer inputs:", [l.norm1.num_features for l in dense.layers])
assert dense(x).shape[1] == 64 + 6 * 32

# %% [markdown]
# **SENet** (Hu et al. 2018): improve accuracy "without much overhead" by recalibrating channels.
# *Squeeze* each channel to its mean (global average pooling), *excite* with two small FC layers
# ($C \to C/16 \to C$) and a sigmoid, and multiply each channel by its gate. In the seed's table,
# SE-ResNet-50 costs 3.87 GFLOPs vs 3.86 for ResNet-50 (+0.26%) and lowers the top-5 error from
# 7.48% to 6.62%. Our count: the FC layers add 2.5M MACs; the squeeze (one add per value) and the
# scaling (one multiply per value), which the convention of §1 does not count, add 11M more.

# %%
se_block = layer_costs(SEBlock(256, reduction=16), torch.zeros(1, 256, 56, 56))
print(f"one SE block on 56x56x256: {se_block.total_params:,} parameters (2*256*16 + 16 + 256), "
      f"{se_block.total_macs:,} MACs (2*256*16)")
assert se_block.total_params == 2 * 256 * 16 + 16 + 256 and se_block.total_macs == 2 * 256 * 16
se_model = shapes_only(resnet50, stride_in_1x1=True, se_reduction=16)
se_report = layer_costs(se_model, image(224))
fc_extra = se_report.total_macs - resnet50_paper.total_macs
elementwise = sum(2 * int(np.prod(l.input_shape)) for l in se_report.layers if l.name.endswith("se.pool"))
print(f"ResNet-50 {resnet50_paper.total_macs / 1e9:.4f} G, SE-ResNet-50 {se_report.total_macs / 1e9:.4f} G MACs "
      f"(+{fc_extra / 1e6:.1f}M in the SE FCs); squeeze + scale: {elementwise / 1e6:.1f}M ops")
print(f"parameters: {resnet50_paper.total_params:,} -> {se_report.total_params:,} "
      f"(+{se_report.total_params / resnet50_paper.total_params - 1:.0%})")
compare_with_slide("SE-ResNet-50 GFLOPs incl. squeeze and scale", (se_report.total_macs + elementwise) / 1e9,
                   3.87, decimals=2);

# %% [markdown]
# ## 9. Efficient networks: MobileNet, ShuffleNet, MobileFaceNet
#
# Seed 003 gives the multiplication counts of a layer "without strides and padding" (the output
# keeps the $h \times w$ size):
#
# * standard conv: $k_h \cdot k_w \cdot h \cdot w \cdot C_{in} \cdot C_{out}$
# * depthwise conv (one $k \times k$ filter per channel): $k_h \cdot k_w \cdot h \cdot w \cdot C_{in}$
# * pointwise (1x1) conv: $h \cdot w \cdot C_{in} \cdot C_{out}$
#
# A depthwise conv followed by a pointwise conv (MobileNet's *depthwise separable* block) costs a
# fraction $1/C_{out} + 1/k^2$ of the standard conv. And "1x1 convolution is 9 times faster than
# 3x3": same $h, w, C_{in}, C_{out}$, $k^2 = 9$ times fewer multiplications.

# %%
h = w = 56
cin, cout = 128, 128
std = standard_conv_mults(3, 3, h, w, cin, cout)
dw, pw = depthwise_conv_mults(3, 3, h, w, cin), pointwise_conv_mults(h, w, cin, cout)
print(f"standard 3x3: {std:,}\ndepthwise 3x3: {dw:,}\npointwise 1x1: {pw:,}")
print(f"depthwise + pointwise = {(dw + pw) / std:.4f} of standard = 1/{cout} + 1/9 = {1 / cout + 1 / 9:.4f}")
block_macs = layer_costs(DepthwiseSeparable(cin, cout), torch.zeros(1, cin, h, w)).total_macs
assert block_macs == dw + pw
compare_with_slide("3x3 / 1x1 multiplications ('9 times')", std / pw, 9);

# %% [markdown]
# MobileNetV2 stacks *inverted residuals* (1x1 expansion by 6, 3x3 depthwise, linear 1x1
# projection): ImageNet classification at a small fraction of ResNet-50's cost.

# %%
mnv2 = layer_costs(shapes_only(mobilenet_v2), image(224))
print(f"MobileNetV2: {mnv2.total_params:,} parameters, {mnv2.total_macs / 1e6:.0f}M MACs "
      f"({resnet50_paper.total_macs / mnv2.total_macs:.0f}x fewer than ResNet-50)")
assert mnv2.total_params == 3_504_872    # torchvision's documented count

# %% [markdown]
# **ShuffleNet**: 1x1 convolutions dominate the cost of these networks, so ShuffleNet makes them
# *group* convolutions too ($g$ groups: $g$ times fewer parameters and MACs). But stacked group
# convolutions never mix information between groups. The **channel shuffle** fixes that: reshape
# the channels to $(g, C/g)$, transpose, flatten. On channel indices:

# %%
idx = torch.arange(12.0).reshape(1, 12, 1, 1)
print("before:", idx.flatten().int().tolist())
print("after :", channel_shuffle(idx, 3).flatten().int().tolist())
print("1x1 conv 240 -> 240: params", conv2d_params(240, 240, 1, bias=False), "dense,",
      conv2d_params(240, 240, 1, groups=3, bias=False), "with 3 groups")


def connectivity(shuffle, c=12, g=3):
    """Which input channel reaches which output channel through two stacked 1x1 group convs."""
    conv1, conv2 = (nn.Conv2d(c, c, 1, groups=g, bias=False) for _ in range(2))
    for conv in (conv1, conv2):
        nn.init.ones_(conv.weight)
    x = torch.eye(c).reshape(c, c, 1, 1)          # channel i switched on in sample i
    y = conv1(x)
    y = conv2(channel_shuffle(y, g) if shuffle else y)
    return (y[:, :, 0, 0] > 0).float().detach()   # (input channel, output channel)

fig, axes = plt.subplots(1, 2, figsize=(8, 3.8))
for ax, shuffle in zip(axes, (False, True)):
    ax.imshow(connectivity(shuffle), cmap="Greys", vmin=0, vmax=1)
    ax.set_title(f"two group convs, {'with' if shuffle else 'no'} shuffle")
    ax.set_xlabel("output channel")
    ax.set_ylabel("input channel")
plt.tight_layout()
plt.show()
assert connectivity(False).sum() == 3 * 4 * 4 and connectivity(True).all()

# %% [markdown]
# **MobileFaceNet** (seed 003) is MobileNetV2's bottleneck made for face embeddings. We build it row
# by row from the slide's table and check every row's output against the next row's input column.
# It also meets the slide's "model size < 4MB" (float32): about 1M parameters and 221M MACs, the
# numbers of the MobileFaceNet paper.

# %%
mfn = shapes_only(MobileFaceNet).eval()
x = image(112)
computed, printed = [], []
with torch.no_grad():
    for row, spec, nxt in zip(mfn.rows, MOBILEFACENET_TABLE, MOBILEFACENET_TABLE[1:] + [(1, 128)]):
        x = row(x)
        computed.append([x.shape[2], x.shape[1]])
        printed.append([nxt[0], nxt[1]])
        print(f"{spec[0]:>3}^2 x {spec[1]:<3} {spec[2]:<18} t={spec[3]} c={spec[4]} n={spec[5]} s={spec[6]}"
              f"  ->  {x.shape[2]}^2 x {x.shape[1]}")
compare_with_slide("MobileFaceNet: each row's output (size, channels) = next row's input", computed, printed)
mfn_report = layer_costs(mfn, image(112))
print(f"{mfn_report.total_params:,} parameters = {4 * mfn_report.total_params / 1e6:.2f} MB in float32, "
      f"{mfn_report.total_macs / 1e6:.0f}M MACs")
assert 4 * mfn_report.total_params < 4e6

# %% [markdown]
# ## 10. The ImageNet race, and cost vs size
#
# ILSVRC classification winners (top-5 error, from the seeds): AlexNet 16% (2012), ZFNet 11.7%
# (2013), GoogLeNet 6.7% and VGG 7.3% (2014, VGG second), ResNet 3.57% (2015), with depth growing
# from 8 to 152 layers. Seed 002 puts a human expert at 5.1%.

# %%
# seeds 001 and 004: (label, year, top-5 error %, layers)
ILSVRC = [("AlexNet", 2012, 16.0, 8), ("ZFNet", 2013, 11.7, 8), ("VGG", 2014, 7.3, 19),
          ("GoogLeNet", 2014, 6.7, 22), ("ResNet", 2015, 3.57, 152)]
HUMAN = 5.1   # seed 002, "two human expert: 5.1%"
fig, ax = plt.subplots(figsize=(7, 3.5))
xs = np.arange(len(ILSVRC))
bars = ax.bar(xs, [e for _, _, e, _ in ILSVRC], color="tab:blue", label="top-5 error (winner / runner-up)")
for x_, (name, year, err, layers) in zip(xs, ILSVRC):
    ax.text(x_, err + 0.3, f"{err}%\n{layers} layers", ha="center", fontsize=8, zorder=3,
            bbox=dict(facecolor="white", edgecolor="none", pad=1))
ax.axhline(HUMAN, color="tab:red", ls="--", label=f"human expert ({HUMAN}%)")
ax.set_xticks(xs, [f"{name}\n{year}" for name, year, _, _ in ILSVRC])
ax.set_ylabel("ILSVRC top-5 error (%)")
ax.set_xlabel("architecture and year")
ax.set_ylim(0, 20)
ax.legend()
plt.show()

# %% [markdown]
# And what each of this lecture's models costs, all computed above (log scales): VGG16 is the
# expensive outlier in both; GoogLeNet, ResNet and MobileNet buy their accuracy with far fewer
# parameters and operations.

# %%
models = {"AlexNet": alex_report, "VGG16": vgg_all, "GoogLeNet": g_report, "ResNet-50": resnet50_paper,
          "SE-ResNet-50": se_report, "MobileNetV2": mnv2, "ResNet-18": layer_costs(shapes_only(resnet18), image(224))}
fig, ax = plt.subplots(figsize=(6.5, 4))
for name, r in models.items():
    ax.scatter(r.total_macs / 1e9, r.total_params / 1e6, s=40, label=name)
    ax.annotate(name, (r.total_macs / 1e9, r.total_params / 1e6), fontsize=8, textcoords="offset points",
                xytext=(4, -10) if name == "ResNet-50" else (4, 4))
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("G multiply-accumulates per 224x224 image")
ax.set_ylabel("millions of parameters")
ax.legend(fontsize=7, loc="lower right")
ax.set_title("cost vs size")
plt.show()

# %% [markdown]
# **Summary.** AlexNet and VGG put most parameters in fully connected layers and most memory in
# early conv layers. 3x3 stacks, 1x1 bottlenecks, residual connections, grouped and depthwise
# convolutions are all ways of getting more depth and accuracy for the same or a smaller budget.
# Two slide totals were wrong (VGG16's memory: 15.2M activations, ~61 MB, not 24M / 96 MB; the
# inception module with bottlenecks: 271M ops, not 358M), and GoogLeNet's "5 million parameters"
# is closer to 7.
