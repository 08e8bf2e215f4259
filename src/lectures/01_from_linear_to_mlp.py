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
# # Lecture 01 — From linear classifiers to the multi-layer perceptron
#
# Before convolutional networks, an image classifier had two stages: a hand-designed
# **representation** (a histogram of "visual words") and a **classifier** on top. This lecture
# walks from that pipeline to the first learned networks: the linear classifier $y = Wx + b$, the
# single sigmoid neuron trained by gradient descent, weight decay, and the multi-layer perceptron
# (MLP) trained by back-propagation. It ends with the question that motivates the rest of the
# course: how many weights would an MLP need for real images?
#
# Every number is computed live with `cnncourse` (and checked against PyTorch or scikit-learn
# where they have the same thing).
#
# **Contents**
# 1. Distances: Lp norms and the "L0 norm"
# 2. Bag of words: histograms of local descriptors (grids vs clusters, k-means)
# 3. Encoding: hard vs soft assignment, sum vs max pooling, the spatial pyramid
# 4. Histogram distances: intersection, chi-squared, Euclidean, earth mover's
# 5. The linear classifier $y = Wx + b$: rows of $W$ are class templates
# 6. A single sigmoid neuron, trained by gradient descent
# 7. Weight decay
# 8. A one-hidden-layer MLP and back-propagation, written out
# 9. How many weights would an MLP need for images?

# %%
# %matplotlib inline
import numpy as np
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from scipy.stats import wasserstein_distance
from sklearn.datasets import make_moons

from cnncourse.bow import (bow_histogram, hard_assign, kmeans, pool_codes, soft_assign,
                           spatial_pyramid_histogram)
from cnncourse.data import load_digits
from cnncourse.gradcheck import rel_error
from cnncourse.histograms import (chi2_distance, emd_1d, euclidean_distance,
                                  histogram_intersection_distance, lp_norm)
from cnncourse.layers import (binary_cross_entropy_with_logits, linear_backward, linear_forward,
                              sigmoid_backward, sigmoid_forward, softmax_cross_entropy)
from cnncourse.neuron import neuron_forward, neuron_objective, train_neuron
from cnncourse.viz import compare_with_slide

np.set_printoptions(suppress=True, precision=4)
rng = np.random.default_rng(0)
torch.manual_seed(0)

# %% [markdown]
# ## 1. Distances: Lp norms and the "L0 norm"
#
# Comparing two feature vectors means measuring the size of their difference. The $p$-norm is
# $\|x\|_p = \left(\sum_{i=1}^d |x_i|^p\right)^{1/p}$: $p = 2$ is the Euclidean length, $p = 1$ the
# sum of absolute values, $p = \infty$ the largest entry. The slide's "L0 norm" counts the non-zero
# entries, $\|x\|_0 = \#\{i \mid x_i \neq 0\}$, the limit of $\sum_i |x_i|^p$ as $p \to 0$.
# Strictly it is **not a norm**: scaling $x$ does not scale it ($\|2x\|_0 = \|x\|_0$). Nor is
# $p < 1$ a norm (the triangle inequality fails), although it is used to encourage sparsity.

# %%
x = np.array([3.0, 0.0, -4.0, 0.0, 1.0])
for p in (np.inf, 2, 1, 0.5, 0):
    print(f"||x||_{p:<4}= {lp_norm(x, p):8.4f}   numpy.linalg.norm: {np.linalg.norm(x, ord=p):8.4f}")
    assert np.isclose(lp_norm(x, p), np.linalg.norm(x, ord=p))
assert lp_norm(x, 0) == 3 and lp_norm(2 * x, 0) == lp_norm(x, 0)      # not homogeneous

print("\np -> 0:  sum |x_i|^p = ||x||_p^p approaches the number of non-zeros, 3")
for p in (1, 0.5, 0.1, 0.01):
    print(f"  p = {p:<5} sum |x_i|^p = {lp_norm(x, p) ** p:.4f}")
assert abs(lp_norm(x, 0.01) ** 0.01 - 3) < 0.05

# %% [markdown]
# The "unit balls" $\{x : \|x\|_p = 1\}$ in 2-D show what each norm rewards: $p \le 1$ has corners
# on the axes (sparse vectors are cheap), $p = 2$ is round, $p = \infty$ is a square.

# %%
g = np.linspace(-1.5, 1.5, 301)
grid = np.stack(np.meshgrid(g, g), axis=-1)                   # (301, 301, 2)
fig, ax = plt.subplots(figsize=(7, 4.5))
for p, colour in [(0.5, "tab:purple"), (1, "tab:blue"), (2, "tab:green"), (np.inf, "tab:red")]:
    ax.contour(g, g, lp_norm(grid, p), levels=[1.0], colors=colour)
    ax.plot([], [], color=colour, label=f"$\\|x\\|_{{{p}}} = 1$")
for seg in ([(-1.5, -0.03), (0, 0)], [(0.03, 1.5), (0, 0)], [(0, 0), (-1.5, -0.03)], [(0, 0), (0.03, 1.5)]):
    ax.plot(*seg, color="0.4", lw=4, alpha=0.5)                 # the axes without the origin
ax.plot([], [], color="0.4", lw=4, alpha=0.5, label="$\\|x\\|_0 = 1$: the axes, origin excluded")
ax.set_xlabel("$x_1$")
ax.set_ylabel("$x_2$")
ax.set_aspect("equal")
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
ax.set_title("unit balls of the p-norms")
plt.show()

# %% [markdown]
# ## 2. Bag of words: histograms of local descriptors
#
# A document can be classified by counting its words, ignoring their order. The **bag of visual
# words** does the same for images: extract many local descriptors (in practice SIFT vectors of 128
# dimensions; here 2-D, as on the slides, so that we can draw them), quantize each to a "word", and
# describe the image by the histogram of its words.
#
# We make a toy data set: every image is a set of 2-D descriptors drawn around 6 prototype patterns;
# the three image classes use the patterns in different proportions.

# %%
PATTERNS = np.array([[0, 0], [4, 0], [8, 1], [1, 5], [5, 5], [9, 6]], dtype=np.float64)
CLASS_MIX = np.array([[0.40, 0.30, 0.05, 0.15, 0.05, 0.05],     # class 0 uses patterns 0 and 1
                      [0.05, 0.05, 0.40, 0.05, 0.15, 0.30],     # class 1 uses patterns 2 and 5
                      [0.10, 0.05, 0.05, 0.40, 0.35, 0.05]])    # class 2 uses patterns 3 and 4


def make_image(label, n_desc=60, size=32):
    """Descriptors (n_desc, 2) of one toy image and their (row, col) positions."""
    which = rng.choice(6, size=n_desc, p=CLASS_MIX[label])
    desc = PATTERNS[which] + rng.normal(scale=0.9, size=(n_desc, 2))
    pos = rng.uniform(0, size, size=(n_desc, 2))
    return desc, pos


images = [(make_image(c), c) for c in range(3) for _ in range(30)]   # 90 images, 30 per class
all_desc = np.concatenate([d for (d, _), _ in images])               # (5400, 2)
print("descriptors of the whole training set:", all_desc.shape)

# %% [markdown]
# **Grids vs clusters.** The simplest quantization is a grid: the marginal histograms of feature 1
# and feature 2, or a joint 2-D grid. A fine grid has many bins, most of them empty (it needs a
# lot of data); a coarse one merges different patterns. **Clustering** puts the bins where the
# data are: k-means finds $K$ centres, and every descriptor is represented by its nearest centre.

# %%
grid_counts, xe, ye = np.histogram2d(all_desc[:, 0], all_desc[:, 1], bins=12)
print(f"12 x 12 grid: {grid_counts.size} bins, {np.sum(grid_counts == 0)} of them empty")
book = kmeans(all_desc, 6, seed=0)                                   # the codebook
print(f"k-means: 6 bins (visual words) after {book.n_iter} iterations, none empty:",
      np.bincount(book.labels, minlength=6))
assert np.all(np.bincount(book.labels, minlength=6) > 0)
# every centre found lies near one of the prototype patterns
assert np.max(np.min(np.linalg.norm(book.centres[:, None] - PATTERNS[None], axis=2), axis=1)) < 0.5

fig, axes = plt.subplots(1, 3, figsize=(14, 4))
axes[0].hist(all_desc[:, 0], bins=12, color="tab:blue", label="feature 1")
axes[0].hist(all_desc[:, 1], bins=12, color="tab:orange", alpha=0.6, label="feature 2")
axes[0].set_xlabel("feature value")
axes[0].set_ylabel("count")
axes[0].legend()
axes[0].set_title("marginal histograms")
im = axes[1].imshow(grid_counts.T, origin="lower", extent=(xe[0], xe[-1], ye[0], ye[-1]), cmap="Blues")
fig.colorbar(im, ax=axes[1], label="count")
axes[1].set_xlabel("feature 1")
axes[1].set_ylabel("feature 2")
axes[1].set_title("12 x 12 grid histogram")
axes[2].scatter(all_desc[:, 0], all_desc[:, 1], c=book.labels, cmap="tab10", s=2, vmin=0, vmax=9)
axes[2].scatter(book.centres[:, 0], book.centres[:, 1], c="k", marker="x", s=80, label="k-means centres")
axes[2].set_xlabel("feature 1")
axes[2].set_ylabel("feature 2")
axes[2].legend(loc="lower right")
axes[2].set_title("clusters: 6 visual words")
plt.tight_layout()
plt.show()

# %% [markdown]
# scikit-learn's `KMeans` started from the same centres runs the same Lloyd iterations (assign
# each point to the nearest centre, move each centre to the mean of its points) and ends at the
# same codebook:

# %%
from sklearn.cluster import KMeans

start = all_desc[rng.choice(len(all_desc), 6, replace=False)]
ours = kmeans(all_desc, 6, init=start)
ref = KMeans(6, init=start, n_init=1, algorithm="lloyd", tol=0.0).fit(all_desc)
print(f"max |centre difference| vs sklearn: {np.abs(ours.centres - ref.cluster_centers_).max():.1e}")
assert np.allclose(ours.centres, ref.cluster_centers_) and np.array_equal(ours.labels, ref.labels_)

# %% [markdown]
# ## 3. Encoding: hard vs soft assignment, sum vs max pooling
#
# **Hard assignment** gives each descriptor a one-hot code at its nearest centre. A descriptor
# halfway between two centres is then forced into one of them; **soft assignment** lets it vote
# for both, $\text{code}_k \propto \exp(-\beta \|x - c_k\|^2)$.

# %%
centres = book.centres
middle = (centres[0] + centres[1]) / 2 + np.array([0.05, 0.0])      # almost halfway between words 0 and 1
print("hard code        :", hard_assign(middle[None], centres)[0])
for beta in (0.1, 1.0, 10.0):
    print(f"soft code beta={beta:<4}:", soft_assign(middle[None], centres, beta=beta)[0])
assert soft_assign(middle[None], centres, beta=1.0)[0].sum().round(12) == 1

# %% [markdown]
# The image's histogram **pools** the codes of all its descriptors: **sum pooling** counts the
# words (the classic bag of words), **max pooling** keeps the strongest response to each word:
# with hard codes only whether it occurs at all (0 or 1), with soft codes how well its best
# descriptor matches it.

# %%
(desc0, pos0), label0 = images[0]
codes = hard_assign(desc0, centres)                         # (60, 6), one-hot rows
soft_codes = soft_assign(desc0, centres, beta=1.0)          # (60, 6), rows sum to 1
print("sum pooling (word counts):", pool_codes(codes, pooling="sum"))
print("max pooling (word present):", pool_codes(codes, pooling="max"))
print("max pooling of soft codes :", pool_codes(soft_codes, pooling="max"))
print("normalized bag of words   :", bow_histogram(desc0, centres))
print("soft, sum, normalized     :", bow_histogram(desc0, centres, assignment="soft", beta=1.0))
assert pool_codes(codes).sum() == len(desc0)

# %% [markdown]
# **The spatial pyramid.** A bag of words throws away *where* the words are. Two images with the
# same words in a different layout get the same histogram. The spatial pyramid (Lazebnik et al.
# 2006) also computes the bag of words in every cell of a 2x2 (4x4, ...) grid over the image and
# concatenates all of them.

# %%
flipped = pos0.copy()
flipped[:, 0] = 31.999 - flipped[:, 0]                     # same descriptors, turned upside down
pyr = spatial_pyramid_histogram(desc0, pos0, centres, 32, levels=(1, 2))
pyr_flipped = spatial_pyramid_histogram(desc0, flipped, centres, 32, levels=(1, 2))
print("pyramid length: 6 words x (1 + 4) cells =", pyr.shape[0])
print("level 1 (whole image) equal:", np.allclose(pyr[:6], pyr_flipped[:6]))
print("level 2 (2x2 cells) equal  :", np.allclose(pyr[6:], pyr_flipped[6:]))
assert pyr.shape == (30,) and np.allclose(pyr[:6], pyr_flipped[:6]) and not np.allclose(pyr[6:], pyr_flipped[6:])

# %% [markdown]
# ## 4. Histogram distances
#
# The slides list four ways to compare two (normalized) histograms $h_i, h_j$ of $K$ bins:
#
# * Euclidean distance $\sqrt{\sum_m (h_i(m) - h_j(m))^2}$;
# * histogram intersection $\text{histint}(h_i, h_j) = 1 - \sum_{m=1}^K \min(h_i(m), h_j(m))$
#   (0 for equal histograms, 1 for histograms that share no bin);
# * chi-squared $\chi^2(h_i, h_j) = \frac12 \sum_{m=1}^K \frac{(h_i(m) - h_j(m))^2}{h_i(m) + h_j(m)}$,
#   which weighs a difference in a rarely used bin more than the same difference in a full one.
#   A bin that is empty in both histograms gives $0/0$; it contributes **0** (defined so in
#   `cnncourse`, and in every implementation);
# * the earth mover's distance: the least total (mass $\times$ distance) needed to move one
#   histogram's mass into the other's shape.
#
# A worked example with two 4-bin histograms, checked by hand:

# %%
h1 = np.array([0.5, 0.3, 0.2, 0.0])
h2 = np.array([0.2, 0.3, 0.2, 0.3])
hi, chi, eu = (histogram_intersection_distance(h1, h2), chi2_distance(h1, h2), euclidean_distance(h1, h2))
print(f"histint   = 1 - (0.2 + 0.3 + 0.2 + 0)               = {hi:.4f}")
print(f"chi2      = 1/2 (0.3^2/0.7 + 0 + 0 + 0.3^2/0.3)       = {chi:.4f}")
print(f"euclidean = sqrt(0.3^2 + 0.3^2)                        = {eu:.4f}")
assert np.isclose(hi, 0.3) and np.isclose(chi, 0.5 * (0.09 / 0.7 + 0.09 / 0.3)) and np.isclose(eu, np.sqrt(0.18))

# %% [markdown]
# **Why the earth mover's distance?** The first three compare bin by bin. Move all the mass of a
# histogram one bin to the right, or five bins: for them both are "completely different". The EMD
# knows that the bins are ordered: in 1-D it is $\sum_m |\text{CDF}_i(m) - \text{CDF}_j(m)|$ times
# the bin spacing, the mass that has to cross each gap. scipy's `wasserstein_distance` agrees.

# %%
base = np.zeros(8)
base[0] = 1.0
for shift in (1, 5):
    moved = np.roll(base, shift)
    e = emd_1d(base, moved)
    print(f"mass moved by {shift} bin(s): histint {histogram_intersection_distance(base, moved):.2f}, "
          f"chi2 {chi2_distance(base, moved):.2f}, euclidean {euclidean_distance(base, moved):.2f}, EMD {e:.2f}")
    assert np.isclose(e, shift)
    assert np.isclose(e, wasserstein_distance(np.arange(8), np.arange(8), base, moved))

# %% [markdown]
# **Classifying the toy images.** With a codebook and a distance, the simplest classifier assigns
# a test image the class of its nearest training image. We compare the three bin-by-bin distances
# (all images' bags of words, 30 new test images per class):

# %%
train_h = np.stack([bow_histogram(d, centres) for (d, _), _ in images])   # (90, 6)
train_y = np.array([c for _, c in images])
test = [(make_image(c), c) for c in range(3) for _ in range(30)]
test_h = np.stack([bow_histogram(d, centres) for (d, _), _ in test])       # (90, 6)
test_y = np.array([c for _, c in test])
for name, dist in [("Euclidean", euclidean_distance), ("hist. intersection", histogram_intersection_distance),
                   ("chi-squared", chi2_distance)]:
    d = dist(test_h[:, None], train_h[None])                              # (90, 90) all pairs
    acc = np.mean(train_y[d.argmin(axis=1)] == test_y)
    print(f"1-nearest neighbour with {name:<19}: accuracy {acc:.3f}")
    assert acc > 0.9

# %% [markdown]
# ## 5. The linear classifier $y = Wx + b$
#
# The bag-of-words pipeline has a fixed representation. A **parametric** classifier instead learns
# a function of the pixels: flatten the image into $x$ ($D$ numbers), and compute one score per
# class, $y = Wx + b$, with $W$ of shape (classes $\times D$) and $b$ of one bias per class.
#
# The slide's example: an image of $2\times2$ pixels and 3 classes. (The figure is not in our text
# copy of the slides; we use the numbers of the classic CS231n figure of this example: pixels
# 56, 231, 24, 2 and classes cat, dog, ship.) `linear_forward` computes `x @ W.T + b`, exactly
# `torch.nn.functional.linear`.

# %%
x_img = np.array([[56.0, 231.0], [24.0, 2.0]])             # the 2x2 image
x_vec = x_img.reshape(1, 4)                                # (N=1, D=4): flattened row by row
W = np.array([[0.2, -0.5, 0.1, 2.0],                       # cat
              [1.5, 1.3, 2.1, 0.0],                        # dog
              [0.0, 0.25, 0.2, -0.3]])                     # ship
b = np.array([1.1, 3.2, -1.2])
scores, _ = linear_forward(x_vec, W, b)
for cls, row, bias, s in zip(["cat", "dog", "ship"], W, b, scores[0]):
    terms = " + ".join(f"{w:g}*{v:g}" for w, v in zip(row, x_vec[0]))
    print(f"{cls:>4}: {terms} + {bias:g} = {s:.2f}")
assert np.allclose(scores, F.linear(torch.from_numpy(x_vec), torch.from_numpy(W), torch.from_numpy(b)).numpy())

# %% [markdown]
# The CS231n figure prints the scores `-96.8, 437.9, 61.95`. The first two are right; the ship
# score is $0 \cdot 56 + 0.25 \cdot 231 + 0.2 \cdot 24 - 0.3 \cdot 2 - 1.2 = 60.75$, not 61.95
# (a typo in that figure):

# %%
compare_with_slide("scores y = Wx + b (cat, dog, ship), CS231n figure", scores[0], [-96.8, 437.9, 61.95],
                   decimals=2, expect_match=False, corrected=[-96.8, 437.9, 60.75])

# %% [markdown]
# **Rows of $W$ are templates.** Each score is the inner product (a correlation) of the image with
# one row of $W$, plus a bias: the row is the "exemplar" of its class, and the classifier picks the
# class whose template matches the image best. The slide says *"each column in W can be viewed as
# an exemplar of the corresponding class"*: with $y = Wx + b$ and one score per class, $W$ has one
# **row** per class (shape $3 \times 4$ here), so it is the rows; the columns belong to pixels.
# (The columns are the templates in the transposed convention $y = W^\top x$ or $y = xW$.)

# %%
for k, cls in enumerate(["cat", "dog", "ship"]):
    assert np.isclose(scores[0, k], W[k] @ x_vec[0] + b[k])          # row k . x + b_k
print("W has shape", W.shape, "= (classes, pixels); row k reshaped to 2x2 is class k's template:")
print(W[1].reshape(2, 2), "(dog)")

# %% [markdown]
# **On real images.** We train a linear classifier on the offline handwritten digits (8x8 pixels,
# 10 classes) by gradient descent on the softmax cross-entropy, using the library's layer pairs:
# `linear_forward` / `linear_backward` and `softmax_cross_entropy`. Then we look at the ten rows
# of $W$ as $8\times8$ images.

# %%
train, test_d = load_digits()
Xtr = train.images.reshape(len(train.images), -1).astype(np.float64)     # (1438, 64)
Xte = test_d.images.reshape(len(test_d.images), -1).astype(np.float64)   # (359, 64)
Wd = np.zeros((10, 64))
bd = np.zeros(10)
losses = []
for step in range(300):
    logits, cache = linear_forward(Xtr, Wd, bd)
    loss, dlogits = softmax_cross_entropy(logits, train.labels)
    _, dW, db = linear_backward(dlogits, cache)
    Wd -= 0.5 * dW
    bd -= 0.5 * db
    losses.append(float(loss))
test_acc = np.mean(linear_forward(Xte, Wd, bd)[0].argmax(axis=1) == test_d.labels)
print(f"cross-entropy {losses[0]:.3f} -> {losses[-1]:.3f}; test accuracy {test_acc:.3f}")
assert test_acc > 0.9

# %%
lim = np.abs(Wd).max()
fig, axes = plt.subplots(1, 10, figsize=(14, 1.9))
for k, ax in enumerate(axes):
    im = ax.imshow(Wd[k].reshape(8, 8), cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.set_title(f"class {k}")
    ax.set_xticks([])
    ax.set_yticks([])
fig.colorbar(im, ax=axes, fraction=0.02, label="weight")
fig.suptitle("rows of W as 8x8 templates (red: ink raises the score)", y=1.05)
plt.show()

# %% [markdown]
# One template per class is the limit of the linear classifier: a class whose images vary a lot
# (a 7 with and without a bar, a 4 open or closed) must be summarized by a single average. Adding
# a layer of non-linear units removes that limit (section 8).
#
# ## 6. A single sigmoid neuron
#
# The artificial neuron (the perceptron) is a linear classifier with a squashing output. With
# inputs $z_1, \dots, z_D$, weights $w_1, \dots, w_D$ and bias $w_0$:
#
# $$a = w_0 + \sum_{d=1}^D w_d z_d, \qquad x(a) = \frac{1}{1 + e^{-a}} \in (0, 1).$$
#
# Read $x$ as the probability of class 1. Trained on inputs $z^{(n)}$ with labels
# $t^{(n)} \in \{0, 1\}$, the neuron minimizes its "surprise" about the training data,
#
# $$G(\mathbf{w}) = -\sum_n \left[t^{(n)} \log x^{(n)} + (1 - t^{(n)}) \log(1 - x^{(n)})\right],$$
#
# whose gradient is remarkably simple: **prediction error times feature**,
#
# $$\frac{\partial G}{\partial \mathbf{w}} = -\sum_n \left(t^{(n)} - x^{(n)}\right) \mathbf{z}^{(n)}
# \qquad (z_0 = 1 \text{ for the bias}),$$
#
# and gradient descent steps down hill: $\mathbf{w} \leftarrow \mathbf{w} - \eta\, \partial G/\partial \mathbf{w}$.

# %%
n_half = 40
Z = np.concatenate([rng.normal([-1.0, -0.5], 0.8, size=(n_half, 2)),
                    rng.normal([1.2, 1.0], 0.8, size=(n_half, 2))])        # (80, 2) inputs
T = np.repeat([0, 1], n_half)                                            # (80,) labels
w_test = np.array([0.3, -1.0, 2.0])                                      # (w0, w1, w2)
G, grad = neuron_objective(w_test, Z, T)
x_out = neuron_forward(Z, w_test)
error_times_feature = -((T - x_out)[:, None] * np.column_stack([np.ones(len(Z)), Z])).sum(axis=0)
print("library gradient          :", grad)
print("-sum (t - x) z (the slide):", error_times_feature)
wt = torch.tensor(w_test, requires_grad=True)
Gt = F.binary_cross_entropy_with_logits(wt[0] + torch.from_numpy(Z) @ wt[1:], torch.from_numpy(T).double(),
                                        reduction="sum")
Gt.backward()
print("torch autograd            :", wt.grad.numpy())
assert np.allclose(grad, error_times_feature) and np.allclose(grad, wt.grad.numpy()) and np.isclose(G, Gt.item())

# %% [markdown]
# Training from a poor start, $\mathbf{w} = (w_0, w_1, w_2) = (1, 1.5, -1)$, with a small step
# $\eta = 0.002$: the **decision boundary** $w_0 + w_1 z_1 + w_2 z_2 = 0$ (where $x = 1/2$) turns
# and moves until it separates the classes, and $G$ falls.

# %%
trace = train_neuron(Z, T, lr=0.002, steps=300, w_init=np.array([1.0, 1.5, -1.0]))
print(f"G(w): {trace.objective[0]:.2f} -> {trace.objective[-1]:.2f}")
assert np.all(np.diff(trace.objective) < 0) and trace.objective[-1] < 0.5 * trace.objective[0]
acc = np.mean((neuron_forward(Z, trace.weights[-1]) > 0.5) == T)
print("training accuracy:", acc)

fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
zz = np.linspace(-3.5, 3.5, 200)
grid2 = np.stack(np.meshgrid(zz, zz), axis=-1).reshape(-1, 2)            # (40000, 2)
final = neuron_forward(grid2, trace.weights[-1]).reshape(200, 200)
cs = ax.contourf(zz, zz, final, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.35)
fig.colorbar(cs, ax=ax, label="neuron output x after 300 steps")
for s, colour in zip([0, 5, 20, 60, 300], plt.cm.viridis(np.linspace(0, 0.9, 5))):
    out = neuron_forward(grid2, trace.weights[s]).reshape(200, 200)
    ax.contour(zz, zz, out, levels=[0.5], colors=[colour])
    ax.plot([], [], color=colour, label=f"x = 1/2 after {s} steps")
ax.scatter(*Z[T == 0].T, c="tab:blue", edgecolor="k", s=20, label="t = 0")
ax.scatter(*Z[T == 1].T, c="tab:red", edgecolor="k", s=20, label="t = 1")
ax.set_xlabel("$z_1$")
ax.set_ylabel("$z_2$")
ax.legend(fontsize=7, loc="upper left")
ax.set_title("the decision boundary moving as the neuron trains")
ax2.plot(trace.objective, label="G(w)")
ax2.set_xlabel("gradient descent step")
ax2.set_ylabel("objective G(w)")
ax2.set_yscale("log")
ax2.legend()
ax2.set_title("objective")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 7. Weight decay
#
# On data that a line separates perfectly, $G$ can always be lowered further by making the
# weights larger: the sigmoid gets steeper and every output moves closer to 0 or 1. The weights
# grow without bound and the neuron becomes over-confident (it overfits). **Weight decay** adds the
# regularizer $E(\mathbf{w}) = \frac12 \sum_i w_i^2$, minimizing $M = G + \alpha E$, with gradient
#
# $$\frac{\partial M}{\partial \mathbf{w}} = -\sum_n (t^{(n)} - x^{(n)}) \mathbf{z}^{(n)} + \alpha \mathbf{w},$$
#
# so every step also shrinks the weights towards zero by $\eta \alpha \mathbf{w}$ (hence the name).
# (The slide's $E$ sums over all weights, the bias included; `cnncourse.neuron` follows it. Many
# libraries leave biases out of the decay.)

# %%
Zs = np.concatenate([rng.normal([-2.0, -1.0], 0.5, size=(20, 2)), rng.normal([2.0, 1.0], 0.5, size=(20, 2))])
Ts = np.repeat([0, 1], 20)                                               # separable
runs = {alpha: train_neuron(Zs, Ts, lr=0.05, steps=2000, alpha=alpha) for alpha in (0.0, 0.1, 1.0)}
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4))
line = np.linspace(-4, 4, 200)
for alpha, tr in runs.items():
    norms = np.linalg.norm(tr.weights, axis=1)
    ax.plot(norms, label=f"alpha = {alpha}")
    print(f"alpha = {alpha:<4}: ||w|| after 500 / 2000 steps: {norms[500]:6.2f} / {norms[-1]:6.2f}")
    along = np.column_stack([line, line / 2])                            # the line through both classes
    ax2.plot(line, neuron_forward(along, tr.weights[-1]), label=f"alpha = {alpha}")
ax.set_xlabel("gradient descent step")
ax.set_ylabel("||w||")
ax.legend()
ax.set_title("without decay the weights keep growing")
ax2.set_xlabel("position along the line z = s (1, 1/2)")
ax2.set_ylabel("neuron output x")
ax2.legend()
ax2.set_title("large weights: an over-confident step")
plt.tight_layout()
plt.show()
n0 = np.linalg.norm(runs[0.0].weights, axis=1)
assert n0[-1] > n0[500] > np.linalg.norm(runs[1.0].weights[-1])
# with decay the weights settle where the two gradients balance: dM/dw = 0
assert np.abs(neuron_objective(runs[1.0].weights[-1], Zs, Ts, alpha=1.0)[1]).max() < 1e-6

# %% [markdown]
# ## 8. The multi-layer perceptron and back-propagation
#
# A single neuron draws one straight line. **XOR** (class 1 when exactly one input is positive)
# needs two: no line puts $(+,+)$ and $(-,-)$ on one side and $(+,-)$, $(-,+)$ on the other.

# %%
Zx = rng.uniform(-1, 1, size=(200, 2))
Tx = ((Zx[:, 0] > 0) != (Zx[:, 1] > 0)).astype(np.int64)                  # XOR of the signs
lin = train_neuron(Zx, Tx, lr=0.01, steps=2000)
lin_acc = np.mean((neuron_forward(Zx, lin.weights[-1]) > 0.5) == Tx)
print(f"single neuron on XOR: training accuracy {lin_acc:.2f} (chance is 0.5)")
assert lin_acc < 0.75

# %% [markdown]
# The slides' network has one hidden layer of $K$ sigmoid units and one sigmoid output:
#
# $$a_k = \sum_d W_{k,d}\, z_d + b_k, \quad x_k = \sigma(a_k), \qquad a = \sum_k w_k x_k + w_0,
# \quad x = \sigma(a),$$
#
# trained on the same objective $M = G + \alpha E$ with $E = \frac12\left(\sum_k w_k^2 + \sum_{k,d} W_{k,d}^2\right)$
# (biases not decayed here). **Back-propagation** is the chain rule applied from the output back:
#
# $$\frac{\partial G}{\partial W_{ij}} = \sum_n \underbrace{\frac{\partial G}{\partial x^{(n)}}
# \frac{\partial x^{(n)}}{\partial a^{(n)}}}_{x^{(n)} - t^{(n)}}\;
# \underbrace{\frac{\partial a^{(n)}}{\partial x_i^{(n)}}}_{w_i}\;
# \underbrace{\frac{\partial x_i^{(n)}}{\partial a_i^{(n)}}}_{x_i(1 - x_i)}\;
# \underbrace{\frac{\partial a_i^{(n)}}{\partial W_{ij}}}_{z_j^{(n)}}.$$
#
# Each layer is a library pair: the forward pass keeps a cache, the backward pass turns the
# gradient of its output into the gradients of its input and its parameters. Written out, layer
# by layer:

# %%
def mlp_forward_backward(params, z, t, alpha):
    """M = G + alpha E of the one-hidden-layer sigmoid MLP and its gradients, layer by layer."""
    W1, b1, w2, b2 = params
    a1, cache1 = linear_forward(z, W1, b1)                  # (N, K) hidden pre-activations a_k
    x1, cache2 = sigmoid_forward(a1)                        # (N, K) hidden outputs x_k
    a2, cache3 = linear_forward(x1, w2, b2)                 # (N, 1) output pre-activation a
    G, da2 = binary_cross_entropy_with_logits(a2[:, 0], t.astype(np.float64), reduction="sum")
    # backward, from the output to the input: da2 = x - t, the prediction error
    dx1, dw2, db2 = linear_backward(da2[:, None], cache3)   # (N, K): times w_k
    da1 = sigmoid_backward(dx1, cache2)                     # (N, K): times x_k (1 - x_k)
    _, dW1, db1 = linear_backward(da1, cache1)              # (K, D): times z_j, summed over n
    M = G + 0.5 * alpha * (np.sum(W1 ** 2) + np.sum(w2 ** 2))
    return M, x1, (dW1 + alpha * W1, db1, dw2 + alpha * w2, db2)


K = 8
params = [rng.normal(size=(K, 2)), np.zeros(K), rng.normal(size=(1, K)), np.zeros(1)]
M, hidden, grads = mlp_forward_backward(params, Zx, Tx, alpha=0.01)

# the same network in torch, differentiated by autograd
tp = [torch.tensor(p, requires_grad=True) for p in params]
out = torch.sigmoid(torch.from_numpy(Zx) @ tp[0].T + tp[1]) @ tp[2].T + tp[3]
Mt = F.binary_cross_entropy_with_logits(out[:, 0], torch.from_numpy(Tx).double(), reduction="sum") \
    + 0.5 * 0.01 * ((tp[0] ** 2).sum() + (tp[2] ** 2).sum())
Mt.backward()
for name, g_ours, p in zip(["W (hidden)", "b (hidden)", "w (output)", "w0 (output)"], grads, tp):
    print(f"dM/d{name:<12} relative error vs autograd: {rel_error(g_ours, p.grad.numpy()):.1e}")
    assert rel_error(g_ours, p.grad.numpy()) < 1e-10
assert np.isclose(M, Mt.item())

# %% [markdown]
# The slide's product of four factors, for one weight $W_{ij}$ and one training example, is exactly
# the number back-propagation puts in that entry of the gradient:

# %%
i, j, n = 3, 1, 0
one = mlp_forward_backward(params, Zx[n:n + 1], Tx[n:n + 1], alpha=0.0)
x_n = sigmoid_forward(linear_forward(one[1], params[2], params[3])[0])[0][0, 0]
factors = [x_n - Tx[n], params[2][0, i], one[1][0, i] * (1 - one[1][0, i]), Zx[n, j]]
print("(x - t) * w_i * x_i (1 - x_i) * z_j =", " * ".join(f"{f:.4f}" for f in factors),
      f"= {np.prod(factors):.6f}")
print(f"back-propagation's dG/dW[{i}, {j}] for this example = {one[2][0][i, j]:.6f}")
assert np.isclose(np.prod(factors), one[2][0][i, j])

# %% [markdown]
# Gradient descent on $M$ with these gradients trains the MLP. It solves XOR, and the two
# interleaved half-moons, where the single neuron cannot:

# %%
def train_mlp(z, t, K=8, lr=0.05, steps=2000, alpha=1e-3, seed=0):
    r = np.random.default_rng(seed)
    p = [r.normal(size=(K, 2)), np.zeros(K), r.normal(size=(1, K)), np.zeros(1)]
    history = []
    for _ in range(steps):
        M, _, g = mlp_forward_backward(p, z, t, alpha)
        p = [pi - lr * gi for pi, gi in zip(p, g)]
        history.append(M)
    return p, np.array(history)


def mlp_predict(p, z):
    hidden = sigmoid_forward(linear_forward(z, p[0], p[1])[0])[0]
    return sigmoid_forward(linear_forward(hidden, p[2], p[3])[0])[0][:, 0]


Zm, Tm = make_moons(200, noise=0.15, random_state=0)
Zm = (Zm - Zm.mean(axis=0)) / Zm.std(axis=0)
problems = {"XOR": (Zx, Tx), "two moons": (Zm, Tm)}
fig, axes = plt.subplots(1, 3, figsize=(16, 4.5), layout="constrained")
zz = np.linspace(-2.5, 2.5, 100)
grid3 = np.stack(np.meshgrid(zz, zz), axis=-1).reshape(-1, 2)
for ax, (name, (z, t)) in zip(axes, problems.items()):
    p, hist = train_mlp(z, t)
    neuron = train_neuron(z, t, lr=0.01, steps=2000)
    acc_mlp = np.mean((mlp_predict(p, z) > 0.5) == t)
    acc_lin = np.mean((neuron_forward(z, neuron.weights[-1]) > 0.5) == t)
    print(f"{name:>9}: single neuron {acc_lin:.2f}, MLP with {K} hidden units {acc_mlp:.2f}")
    assert acc_mlp > 0.95 and acc_mlp > acc_lin + 0.1
    cs = ax.contourf(zz, zz, mlp_predict(p, grid3).reshape(100, 100), levels=np.linspace(0, 1, 11),
                     cmap="RdBu_r", alpha=0.4)
    ax.contour(zz, zz, neuron_forward(grid3, neuron.weights[-1]).reshape(100, 100), levels=[0.5],
               colors="k", linestyles="--")
    ax.plot([], [], "k--", label="single neuron: x = 1/2")
    ax.scatter(*z[t == 0].T, c="tab:blue", s=10, label="t = 0")
    ax.scatter(*z[t == 1].T, c="tab:red", s=10, label="t = 1")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title(f"{name}: MLP output (colour) vs a neuron")
    axes[2].plot(hist, label=name)
fig.colorbar(cs, ax=axes[1], label="MLP output x")
axes[2].set_xlabel("gradient descent step")
axes[2].set_ylabel("M = G + alpha E")
axes[2].set_yscale("log")
axes[2].legend()
axes[2].set_title("MLP training objective")
plt.show()

# %% [markdown]
# ## 9. How many weights would an MLP need for images?
#
# In a fully connected layer every hidden unit sees every input: $D$ inputs and $H$ hidden units
# take $D \cdot H$ weights and $H$ biases. Counted with torch on the "meta" device (which stores no
# numbers, so even a 150-million-weight layer costs no memory):

# %%
H = 1000
print(f"{'input':<24}{'D':>9}   weights of one FC layer with {H} hidden units")
for name, shape in [("digits 8x8", (8, 8)), ("MNIST 28x28", (28, 28)), ("CIFAR-10 32x32x3", (32, 32, 3)),
                    ("ImageNet 224x224x3", (224, 224, 3))]:
    D = int(np.prod(shape))
    n = sum(p.numel() for p in torch.nn.Linear(D, H, device="meta").parameters())
    assert n == D * H + H
    print(f"{name:<24}{D:>9,}   {n:>13,}")
conv = sum(p.numel() for p in torch.nn.Conv2d(3, 64, 3, device="meta").parameters())
print(f"\na 3x3 convolution with 64 filters on RGB images, of any size: {conv:,} parameters")
assert conv == 3 * 3 * 3 * 64 + 64

# %% [markdown]
# The slides' small example makes the two ideas of the convolutional layer concrete: 7 input
# units and 3 hidden units.
#
# * **Global connectivity** (an MLP layer): every hidden unit sees all 7 inputs: $7 \times 3 = 21$ weights.
# * **Local connectivity**: every hidden unit sees only a neighbourhood of 3 inputs: $3 \times 3 = 9$.
# * **Weight sharing**: the 3 hidden units use the same 3 weights: **3** parameters. This is a 1-D
#   convolution with a filter of size 3 and stride 2 ($(7 - 3)/2 + 1 = 3$ outputs).

# %%
full = torch.nn.Linear(7, 3, bias=False)
shared = torch.nn.Conv1d(1, 1, kernel_size=3, stride=2, bias=False)
n_out = shared(torch.zeros(1, 1, 7)).shape[-1]
local_no_sharing = n_out * 3                                # 3 units x 3 weights each
print(f"global connectivity: {full.weight.numel()}, local connectivity: {local_no_sharing}, "
      f"local + weight sharing: {shared.weight.numel()} parameters ({n_out} hidden units)")
assert (full.weight.numel(), local_no_sharing, shared.weight.numel(), n_out) == (21, 9, 3, 3)

# %% [markdown]
# ## Summary
#
# * The bag of words describes an image by a histogram of quantized local descriptors: k-means
#   bins beat grids, soft assignment and max pooling are variations, the spatial pyramid restores
#   some layout. Histograms are compared with intersection, chi-squared (0/0 = 0), Euclidean or
#   earth mover's distances.
# * The linear classifier $y = Wx + b$ correlates the image with one template per class: the
#   **rows** of $W$ (the slide says columns).
# * The sigmoid neuron learns by gradient descent with gradient = prediction error x feature;
#   weight decay adds $\alpha \mathbf{w}$ and keeps the weights finite.
# * One hidden layer of non-linear units solves problems no line can (XOR, two moons);
#   back-propagation is the chain rule, one layer pair at a time, and matches autograd.
# * Fully connected layers on images need millions to hundreds of millions of weights; local
#   connectivity and weight sharing (the convolution, lecture 02) need a few thousand.
