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
# # Lecture 09 — Faces and person re-identification
#
# "Are these two images the same person?" looks like image classification, but it is not: the
# people we will be asked about were never seen in training. This lecture builds the tools of
# face verification and person re-identification: **embeddings** trained with pair and triplet
# losses, angular-margin softmax losses, and the measures used to report them (ROC, TAR@FAR, EER,
# CMC ranks).
#
# Every curve below comes from a real computation: a small embedding CNN is trained in this
# notebook (about 10 s on a CPU) on `IdentityDataset`, an offline stand-in for face datasets
# whose *test identities never appear in training* (open set), and evaluated with
# `cnncourse.verification`.
#
# **Contents**
# 1. Verification is not classification (the slide's LFW table)
# 2. The data: identities, disjoint splits, pairs
# 3. Contrastive loss (DeepID2)
# 4. Triplet loss (FaceNet): easy, semi-hard and hard triplets, batch-hard mining
# 5. Training an embedding network
# 6. The four tasks: closed-set / open-set identification and verification
# 7. Verification: ROC, threshold choice, TAR@FAR, EER, 10-fold accuracy
# 8. Person re-identification: CMC curves and the CUHK01 table
# 9. Angular margins: SphereFace, CosFace, ArcFace

# %%
# %matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from cnncourse.data import IdentityDataset
from cnncourse.verification import (EmbeddingNet, batch_all_triplet_loss, batch_hard_triplet_loss,
                                    cmc_curve, contrastive_loss, cosine_similarity_matrix, embed,
                                    equal_error_rate, format_rank_table, margin_logits, match_ranks,
                                    pairwise_distances,
                                    plot_cmc, plot_distance_histograms, plot_roc, rank_accuracy,
                                    roc_auc_score, tar_at_far, train_embedding, triplet_kinds, triplet_loss,
                                    verification_accuracy)
from cnncourse.viz import compare_with_slide

torch.manual_seed(0)
np.set_printoptions(suppress=True, precision=3)

# %% [markdown]
# ## 1. Verification is not classification
#
# **Face verification** answers "do these two images show the same identity?". The slide lists
# accuracies on LFW (Labeled Faces in the Wild: 6,000 pairs, half same, half different, in 10
# folds). The numbers rose from 97.25% to 99.63% in a year, which is clearer as *error rates*:
# 2.75% down to 0.37%, more than 7 times fewer mistakes.

# %%
# Slide "Face verification" (seed 002): LFW accuracy (%) of published models.
LFW_TABLE = {"DeepFace (2014)": 97.25, "DeepID (2014)": 97.45, "DeepID2 (2014)": 99.15,
             "DeepID2+ (2014)": 99.47, "DeepID3 (2014)": 99.53, "FaceNet (2015)": 99.63}
names, acc = list(LFW_TABLE), np.array(list(LFW_TABLE.values()))
err = 100 - acc
fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.6))
a1.barh(names, acc, color="tab:blue")
a1.set_xlim(96.5, 100)
a1.set_xlabel("LFW accuracy (%)")
a1.invert_yaxis()
for i, v in enumerate(acc):
    a1.text(v + 0.03, i, f"{v:.2f}", va="center")
a2.barh(names, err, color="tab:red")
a2.set_xscale("log")
a2.set_xlim(0.1, 5)
a2.set_xticks([0.1, 0.2, 0.5, 1, 2, 5], ["0.1", "0.2", "0.5", "1", "2", "5"])
a2.set_xlabel("LFW error rate (%), log scale")
a2.invert_yaxis()
a2.set_yticklabels([])
for i, v in enumerate(err):
    a2.text(v * 1.05, i, f"{v:.2f}", va="center")
fig.suptitle("The slide's LFW table: accuracy and error rate")
plt.tight_layout()
plt.show()
print(f"error rate reduced {err[0] / err[-1]:.1f}x from DeepFace to FaceNet")
assert np.all(np.diff(acc) > 0)

# %% [markdown]
# **Can a multi-class classifier do it?** The slide's answer: you can pretrain a classifier over
# the training identities and use its features with *another* model, but
#
# - it is not end-to-end: the multi-class task is not directly related to discriminating two
#   images;
# - there are too many classes (softmax normalisation is expensive, every output is tiny) and
#   too few samples per class;
# - above all, a classifier's outputs are the *training* identities. A new person (a new
#   employee, a suspect) is not one of its classes, and adding one means retraining.
#
# The solution is a loss for *discrimination*: learn a map $f$ from an image to a vector (an
# **embedding**) such that $\|f(x_i) - f(x_j)\|$ is small for the same identity and large
# otherwise. DeepID2 combines it with the classification loss; FaceNet uses it alone.
# §6 measures the classifier's failure on unseen identities.
#
# ## 2. The data: identities, disjoint splits, pairs
#
# `IdentityDataset` renders procedural "glyph" identities (not faces) with the nuisances of face
# images: pose, scale, lighting, occlusion and noise. Splits have **disjoint identities**. We take
# 200 training identities with 10 samples each (8 to train, 2 held out for the closed-set
# tasks of §6) and 50 test identities with 8 samples each.

# %%
t0 = time.perf_counter()
train_ds = IdentityDataset("train", num_identities=200, samples_per_identity=10)
test_ds = IdentityDataset("test", num_identities=50, samples_per_identity=8)
x_all, y_all = train_ds.batch(np.arange(len(train_ds)))          # (2000, 3, 32, 32), (2000,)
fit = np.arange(len(train_ds)) % 10 < 8                            # samples 0..7 of each identity
x_train, y_train = torch.from_numpy(x_all[fit]), y_all[fit]        # (1600, 3, 32, 32)
x_held, y_held = torch.from_numpy(x_all[~fit]), y_all[~fit]        # (400, 3, 32, 32) same identities
x_test, y_test = map(torch.from_numpy, test_ds.batch(np.arange(len(test_ds))))  # (400, ...), unseen ids
print(f"rendered {len(x_all) + len(x_test)} images in {time.perf_counter() - t0:.1f} s")
print("train identities:", train_ds.identity_ids[:3], "...  test identities:", test_ds.identity_ids[:3], "...")
assert not set(train_ds.identity_ids) & set(test_ds.identity_ids)

montage = x_test[:32].reshape(4, 8, 3, 32, 32).permute(0, 3, 1, 4, 2).reshape(4 * 32, 8 * 32, 3)  # rows = ids
plt.figure(figsize=(9, 4.6))
plt.imshow(montage)
plt.yticks(np.arange(4) * 32 + 16, [f"test id {i}" for i in range(4)])
plt.xticks(np.arange(8) * 32 + 16, [f"sample {k}" for k in range(8)], fontsize=8)
plt.title("Four test identities, 8 samples each: pose, light, occlusion, noise")
plt.show()

# %% [markdown]
# ## 3. Contrastive loss (DeepID2)
#
# On **pairs** $(x_i, x_j)$ with label $y_{ij} = 1$ for the same identity (Sun, Wang, Tang, 2014):
#
# $$L(x_i, x_j, y_{ij}) = \begin{cases} \tfrac12 \|f(x_i) - f(x_j)\|_2^2, & y_{ij} = 1 \\
#   \tfrac12 \max\{0, \alpha - \|f(x_i) - f(x_j)\|_2\}^2, & \text{otherwise.}\end{cases}$$
#
# Same-identity pairs are pulled together; different ones are pushed apart until they are $\alpha$
# away, then left alone. (The slide's "goal" line writes the squared distance $> \alpha$; its loss
# compares the plain distance with $\alpha$, as the paper does and as `contrastive_loss` does.)
#
# *Quiz from the slides: how many samples at least are needed in a mini-batch?* **Two**: one pair.

# %%
d = torch.linspace(0, 2, 201, dtype=torch.float64)
x1 = torch.zeros(201, 2, dtype=torch.float64)
x2 = torch.stack([d, torch.zeros_like(d)], 1)                     # pairs at distance d
alpha = 1.0
l_same = contrastive_loss(x1, x2, torch.ones(201, dtype=torch.long), margin=alpha, reduction="none")
l_diff = contrastive_loss(x1, x2, torch.zeros(201, dtype=torch.long), margin=alpha, reduction="none")
plt.figure(figsize=(5, 3.4))
plt.plot(d, l_same, label="same identity: $\\frac{1}{2}d^2$")
plt.plot(d, l_diff, label="different: $\\frac{1}{2}\\max(0, \\alpha - d)^2$")
plt.axvline(alpha, color="gray", linestyle=":", label=f"margin $\\alpha$ = {alpha}")
plt.xlabel("distance $d = \\|f(x_i) - f(x_j)\\|_2$")
plt.ylabel("loss")
plt.title("Contrastive loss")
plt.legend()
plt.show()

# the smallest batch: one pair of 2 samples
pair = contrastive_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[0.6, 0.8]]), torch.tensor([0]), margin=1.0)
print("one different-identity pair at distance 1.0 with alpha = 1:", float(pair))
assert float(pair) == 0.0 and float(l_same[100]) == 0.5 and float(l_diff[50]) == 0.125

# %% [markdown]
# ## 4. Triplet loss (FaceNet)
#
# On **triplets**: an anchor $x^a$, a positive $x^p$ (same identity) and a negative $x^n$
# (another identity). The goal $\|f(x^a) - f(x^p)\|_2^2 + \alpha < \|f(x^a) - f(x^n)\|_2^2$
# gives the hinge loss (Schroff et al., 2015)
#
# $$L = \sum_{i=1}^N \left[\|f(x_i^a) - f(x_i^p)\|_2^2 - \|f(x_i^a) - f(x_i^n)\|_2^2 + \alpha\right]_+,
# \qquad [z]_+ = \max(z, 0).$$
#
# It only asks the positive to be *closer* than the negative, by a margin; not that all
# same-identity pairs be near 0. The person re-id slides use the same loss averaged, $J = \frac1N
# \sum$ (their formula drops the opening bracket of $[\cdot]_+$). `triplet_loss` defaults to
# FaceNet's squared distances and $\alpha = 0.2$.
#
# *Quiz: the triplet loss needs at least 3 samples in a mini-batch; after training, the
# anchor–positive distance is* **reduced**. Both are checked below (the second in §5).
#
# **Which triplets teach something?** With $d_{ap}$ and $d_{an}$ the two distances:
# - *easy*: $d_{an} \ge d_{ap} + \alpha$: loss 0, gradient 0 — most triplets, after a while;
# - *semi-hard*: $d_{ap} \le d_{an} < d_{ap} + \alpha$: ordered right but inside the margin
#   (FaceNet trains on these);
# - *hard*: $d_{an} < d_{ap}$: the negative is closer than the positive.

# %%
d_ap = 0.5
d_an = torch.linspace(0, 1.2, 241, dtype=torch.float64)
anchor = torch.zeros(241, 1, dtype=torch.float64)
positive = torch.full((241, 1), d_ap ** 0.5, dtype=torch.float64)   # squared distance d_ap
negative = d_an.sqrt()[:, None]                                     # squared distance d_an
loss = triplet_loss(anchor, positive, negative, margin=0.2, reduction="none")
plt.figure(figsize=(5.5, 3.4))
plt.plot(d_an, loss, color="black", label="$[d_{ap} - d_{an} + \\alpha]_+$")
plt.axvspan(0, d_ap, color="tab:red", alpha=0.2, label="hard: $d_{an} < d_{ap}$")
plt.axvspan(d_ap, d_ap + 0.2, color="tab:orange", alpha=0.3, label="semi-hard")
plt.axvspan(d_ap + 0.2, 1.2, color="tab:green", alpha=0.2, label="easy: zero loss")
plt.xlabel("anchor-negative squared distance $d_{an}$ (with $d_{ap}$ = 0.5, $\\alpha$ = 0.2)")
plt.ylabel("triplet loss")
plt.legend(fontsize=8)
plt.show()

# the quiz: with 2 samples there is no valid triplet (batch-all loss exactly 0), with 3 there is
two = batch_all_triplet_loss(torch.tensor([[0.0], [0.1]]), torch.tensor([0, 1]))
three = batch_all_triplet_loss(torch.tensor([[0.0], [0.3], [0.1]]), torch.tensor([0, 0, 1]))
print(f"batch-all loss with 2 samples: {float(two)}, with 3 samples (a, p, n): {float(three):.3f}")
assert float(two) == 0.0 and float(three) > 0

# %% [markdown]
# **Mining.** A batch of $B$ embeddings holds $O(B^3)$ triplets — the slide's "any problem with
# this?" — and most are easy. *Batch all* averages the hinge over every valid triplet; *batch hard*
# (Hermans et al., 2017) keeps, for each anchor, its farthest positive and closest negative. Both
# need "PK" batches: $P$ identities $\times$ $K$ samples. On a batch of 16 identities x 4 samples,
# with an untrained network:

# %%
net = EmbeddingNet(embedding_dim=32, width=8)
batch_idx = np.concatenate([np.flatnonzero(y_train == i)[:4] for i in range(16)])   # P=16, K=4
xb, yb = x_train[batch_idx], torch.as_tensor(y_train[batch_idx])


def kinds_table(emb: torch.Tensor, labels: torch.Tensor) -> dict[str, int]:
    return {k: int(m.sum()) for k, m in triplet_kinds(emb, labels, margin=0.2).items()}


e0 = embed(net, xb)
kinds_before = kinds_table(e0, yb)
print("valid triplets:", sum(kinds_before.values()), kinds_before)
print(f"batch-all loss {float(batch_all_triplet_loss(e0, yb)):.4f}   "
      f"batch-hard loss {float(batch_hard_triplet_loss(e0, yb)):.4f} (64 anchors)")
assert sum(kinds_before.values()) == 64 * 3 * 60

# %% [markdown]
# ## 5. Training an embedding network
#
# `EmbeddingNet`: three conv–BN–ReLU blocks, global average pooling, a linear layer to 32
# dimensions and L2 normalisation (embeddings on the unit sphere, as FaceNet). `train_embedding`
# runs Adam on the batch-hard triplet loss over random PK batches of the 1,600 training images.

# %%
with torch.no_grad():
    untrained_test = embed(net, x_test)                           # (400, 32), for comparison
t0 = time.perf_counter()
history = train_embedding(net, x_train, y_train, steps=150, identities_per_batch=16,
                          samples_per_identity=4, margin=0.2, lr=3e-3)
train_seconds = time.perf_counter() - t0
print(f"150 steps in {train_seconds:.1f} s; loss {np.mean(history[:10]):.3f} -> {np.mean(history[-10:]):.3f}")

e1 = embed(net, xb)
kinds_after = kinds_table(e1, yb)
fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.4))
a1.plot(history, label="batch-hard loss per step")
a1.plot(np.convolve(history, np.ones(10) / 10, mode="valid"), label="running mean of 10")
a1.set_xlabel("step")
a1.set_ylabel("loss")
a1.legend()
pos = np.arange(3)
a2.bar(pos - 0.2, [kinds_before[k] for k in ("easy", "semi-hard", "hard")], 0.4, label="untrained")
a2.bar(pos + 0.2, [kinds_after[k] for k in ("easy", "semi-hard", "hard")], 0.4, label="trained")
a2.set_xticks(pos, ["easy", "semi-hard", "hard"])
a2.set_ylabel("triplets in one PK batch")
a2.legend()
plt.tight_layout()
plt.show()
assert np.mean(history[-10:]) < 0.5 * np.mean(history[:10])
assert kinds_after["easy"] > kinds_before["easy"]

# %% [markdown]
# ## 6. The four tasks (closed set vs open set)
#
# The slides (seed 003) define four problems. *Closed set*: every identity asked about was in
# training. *Open set*: they were not; the model is fixed, and a new person is added with a single
# reference image.
#
# | | identification ("who is this?") | verification ("same person?") |
# |---|---|---|
# | **closed set** | a classification problem, like MNIST: output the class label | classify both images, compare the two labels |
# | **open set** | extract features of a gallery; the ID of the best-matching feature vector | extract both feature vectors; same person if the similarity exceeds a threshold |
#
# For the closed set we train a softmax layer on top of the (frozen) embeddings of the 200
# training identities, and test it on the 2 held-out samples of each identity.

# %%
with torch.no_grad():
    f_train, f_held, f_test = embed(net, x_train), embed(net, x_held), embed(net, x_test)
classifier = torch.nn.Linear(32, 200)
opt = torch.optim.Adam(classifier.parameters(), lr=0.05)
for _ in range(150):                       # full-batch softmax regression on 1600 embeddings
    opt.zero_grad()
    F.cross_entropy(classifier(f_train), torch.as_tensor(y_train)).backward()
    opt.step()
with torch.no_grad():
    pred_held = classifier(f_held).argmax(1).numpy()
    prob_test, pred_test = F.softmax(classifier(f_test), 1).max(1)

# 1. closed-set identification: held-out images of training identities
closed_id_acc = float((pred_held == y_held).mean())
# 2. closed-set verification: the two held-out samples of an identity (same) vs 200 random different pairs
rng = np.random.default_rng(0)
same_pairs = np.stack([np.arange(0, 400, 2), np.arange(1, 400, 2)], 1)
diff_pairs = np.stack([np.arange(0, 400, 2), (np.arange(0, 400, 2) + 2 * rng.integers(1, 199, 200)) % 400], 1)
cs_pairs = np.concatenate([same_pairs, diff_pairs])
cs_same = y_held[cs_pairs[:, 0]] == y_held[cs_pairs[:, 1]]
cs_decision = pred_held[cs_pairs[:, 0]] == pred_held[cs_pairs[:, 1]]
closed_ver_acc = float((cs_decision == cs_same).mean())
print(f"closed-set identification accuracy: {closed_id_acc:.3f}")
print(f"closed-set verification accuracy (compare predicted labels): {closed_ver_acc:.3f}")
print(f"on UNSEEN identities the classifier still answers a training identity, "
      f"with median confidence {float(prob_test.median()):.2f}: e.g. {pred_test[:6].tolist()}")
assert closed_id_acc > 0.8 and cs_same.sum() == 200

# %% [markdown]
# On the **open set** the classifier has nothing to say: the 50 test identities are not among its
# classes. The embedding still works: open-set *identification* compares a probe with a gallery
# holding one reference image per new identity; open-set *verification* thresholds the
# similarity of two embeddings. Both use the network as a fixed feature extractor; adding a
# person means adding one vector to the gallery, no retraining.

# %%
gallery = np.arange(0, 400, 8)                                    # sample 0 of each test identity
probes = np.setdiff1d(np.arange(400), gallery)                    # the 7 other samples
scores = cosine_similarity_matrix(f_test[probes], f_test[gallery])   # (350, 50)
open_rank1 = rank_accuracy(scores, y_test[probes], y_test[gallery], ranks=(1,))[1]
print(f"open-set identification: rank-1 accuracy {open_rank1:.3f} over {len(probes)} probes and "
      f"{len(gallery)} gallery identities never seen in training")
assert open_rank1 > 0.6

# %% [markdown]
# ## 7. Verification: ROC, threshold choice, TAR@FAR, EER
#
# The verifier declares "same" when the cosine similarity of the embeddings is at least a
# threshold $t$. Every $t$ gives a pair of rates:
#
# - **FAR** (false accept rate): the fraction of *different*-identity (impostor) pairs accepted;
# - **TAR** (true accept rate): the fraction of *same*-identity (genuine) pairs accepted;
#   FRR = 1 − TAR is the false reject rate.
#
# The **ROC** curve traces TAR against FAR over all thresholds; AUC is its area (the probability
# that a random genuine pair scores above a random impostor pair). Applications fix the FAR they
# can afford (a phone unlock: $10^{-5}$) and report **TAR@FAR**; the **EER** is the rate where
# FAR = FRR. We score all $\binom{400}{2}$ pairs of test images: 1,400 genuine and 78,400
# impostor pairs, enough to read FAR down to $10^{-3}$.

# %%
iu = np.triu_indices(400, 1)
same_all = (y_test[:, None] == y_test[None, :]).numpy()[iu]                # (79800,)
sim_all = cosine_similarity_matrix(f_test)[iu]                            # trained
sim_untrained = cosine_similarity_matrix(untrained_test)[iu]
auc = roc_auc_score(same_all, sim_all)
tars, thr_far = tar_at_far(same_all, sim_all, [1e-3, 1e-2, 1e-1], return_threshold=True)
eer, thr_eer = equal_error_rate(same_all, sim_all, return_threshold=True)
print(f"genuine pairs {same_all.sum()}, impostor pairs {(~same_all).sum()}")
print(f"AUC = {auc:.4f}   (untrained network: {roc_auc_score(same_all, sim_untrained):.4f})")
for far, tar, t in zip([1e-3, 1e-2, 1e-1], tars, thr_far):
    print(f"TAR@FAR={far:g}: {tar:.3f}  (threshold {t:.3f})")
print(f"EER = {eer:.4f}  (threshold {thr_eer:.3f})")
assert auc > 0.95 and 0 < eer < 0.1

# the classifier-label rule of the closed set, applied to the open set: one operating point
label_rule = (pred_test[:, None] == pred_test[None, :]).numpy()[iu]
far_rule, tar_rule = label_rule[~same_all].mean(), label_rule[same_all].mean()

fig, axes = plt.subplots(1, 3, figsize=(15, 4))
plot_roc(same_all, sim_untrained, ax=axes[0], label="untrained")
plot_roc(same_all, sim_all, ax=axes[0], label="triplet-trained")
axes[0].plot(far_rule, tar_rule, "k*", markersize=12, label="classifier labels equal")
axes[0].plot([eer], [1 - eer], "o", color="tab:red", label=f"EER = {eer:.3f}")
axes[0].legend(loc="lower right", fontsize=8)
plot_roc(same_all, sim_all, ax=axes[1], label="triplet-trained", log_far=True, mark_far=[1e-3, 1e-2, 1e-1])
axes[1].set_title("ROC, logarithmic FAR (dotted: 1e-3, 1e-2, 1e-1)")
plot_distance_histograms(same_all, sim_all, ax=axes[2], xlabel="cosine similarity", threshold=thr_far[1],
                         bins=200)
axes[2].set_xlim(0.5, 1.0)
axes[2].axvline(thr_eer, color="tab:red", linestyle=":", label=f"EER threshold = {thr_eer:.3f}")
axes[2].legend(fontsize=8)
axes[2].set_title("Threshold at FAR = 1e-2 (dashed) and at the EER; zoom", fontsize=10)
plt.tight_layout()
plt.show()

# %% [markdown]
# The classifier's "labels equal" rule (the star) is a single, poor operating point: genuine
# pairs of an unseen identity often get different training labels. The threshold trades the two
# errors: moving it right lowers FAR and TAR together. A threshold is chosen on *validation*
# pairs; the LFW protocol does it by 10-fold cross-validation (choose the best threshold on 9
# folds, measure accuracy on the 10th), the number the slide's table reports. Our test split
# gives 10 folds of 100 LFW-like pairs, each fold with its own identities:

# %%
pairs, pair_same, folds = test_ds.make_pairs(100, num_folds=10)
pair_scores = (f_test[pairs[:, 0]] * f_test[pairs[:, 1]]).sum(1)   # cosine (unit vectors)
acc10 = verification_accuracy(pair_same, pair_scores, folds=folds)
print(f"10-fold verification accuracy: {100 * acc10.accuracy:.2f}% +- {100 * acc10.std:.2f}  "
      f"(thresholds {acc10.thresholds.min():.3f} .. {acc10.thresholds.max():.3f})")
print("(not comparable with the LFW table: synthetic glyphs, a 32x32 input and 10 s of CPU training)")

# the quiz: after training, anchor-positive (genuine) distances are reduced *relative to* impostor
# distances. (The untrained network maps every image to nearly the same direction, so its raw
# distances are all tiny: only the ratio is meaningful.)
d_test = pairwise_distances(f_test, squared=True)[iu]
d_untr = pairwise_distances(untrained_test, squared=True)[iu]
ratio_before = float(d_untr[same_all].mean() / d_untr[~same_all].mean())
ratio_after = float(d_test[same_all].mean() / d_test[~same_all].mean())
print(f"mean squared distance of genuine pairs / of impostor pairs: {ratio_before:.3f} (untrained) "
      f"-> {ratio_after:.3f} (trained)")
assert ratio_after < 0.2 * ratio_before

# %% [markdown]
# ## 8. Person re-identification and CMC curves
#
# **Person re-identification** matches the same individual across cameras, or across time in one
# camera (seed 000). It is open-set identification: a query (probe) image is compared with a
# gallery and the gallery is **ranked** by similarity. The **CMC** (cumulative matching
# characteristic) curve gives, for each $k$, the fraction of queries whose correct identity is
# among the top $k$; papers report rank-1/5/10/20. The slide's table on CUHK01 (971 persons,
# two camera views, four images per person):

# %%
# Slide "Preliminary Results" (seed 000): CUHK01 rank-1/5/10/20 accuracy (%).
CUHK01 = {
    "FPNN (li2014,CVPR)": (22.87, 58.20, 73.46, 86.31),
    "SDALF (farenzena,2010,CVPR)": (9.90, 41.21, 56.00, 66.37),
    "eSDC (zhao,2013,CVPR)": (22.84, 43.89, 57.67, 69.84),
    "KISSME (kostinger,2012,CVPR)": (29.40, 57.67, 72.42, 86.07),
    "Partb-reid (cheng,2016,CVPR)": (53.7, 84.3, 91.0, 96.3),
    "GAN-L": (54.6, 83.6, 89.4, 90.2),
    "GAN": (64.2, 86.4, 90.6, 96.9),
}
RANKS = (1, 5, 10, 20)
table = np.array(list(CUHK01.values()))                          # (7 methods, 4 ranks)
# The slide prints the best of each column in bold: GAN, GAN, Partb-reid, GAN.
best = table.argmax(0)
compare_with_slide("best method per rank (row index)", best, [6, 6, 4, 6]);
assert np.all(np.diff(table, axis=1) >= 0), "a CMC curve never decreases"

# Our re-id set, in the spirit of CUHK01: 200 more unseen identities (the "val" split), 4 images
# each, more occlusion; one image per identity in the gallery, the other 3 are queries.
reid_ds = IdentityDataset("val", num_identities=200, samples_per_identity=4, occlusion=0.6)
x_reid, y_reid = map(torch.from_numpy, reid_ds.batch(np.arange(len(reid_ds))))   # (800, 3, 32, 32)
f_reid = embed(net, x_reid)
r_gallery = np.arange(0, 800, 4)
r_probes = np.setdiff1d(np.arange(800), r_gallery)
r_scores = cosine_similarity_matrix(f_reid[r_probes], f_reid[r_gallery])        # (600, 200)
cmc = cmc_curve(r_scores, y_reid[r_probes], y_reid[r_gallery], max_rank=20)      # (20,)
ours = rank_accuracy(r_scores, y_reid[r_probes], y_reid[r_gallery], ranks=RANKS)
fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4))
for (name, row), marker in zip(CUHK01.items(), "os^vDxo"):
    a1.plot(RANKS, np.array(row) / 100, marker + "-", label=name, linewidth=2.5 if name == "GAN" else 1)
a1.set_xticks(RANKS)
a1.set_xlabel("rank")
a1.set_ylabel("identification rate")
a1.set_ylim(0, 1.02)
a1.set_title("The slide's CUHK01 table (971 persons)")
a1.legend(fontsize=7, loc="lower right")
plot_cmc(cmc, ax=a2, label="our embedding (200 unseen identities)")
untrained_reid = embed(EmbeddingNet(embedding_dim=32, width=8), x_reid)
plot_cmc(cmc_curve(cosine_similarity_matrix(untrained_reid[r_probes], untrained_reid[r_gallery]),
                   y_reid[r_probes], y_reid[r_gallery], max_rank=20), ax=a2, label="untrained network")
a2.plot(np.arange(1, 21), np.arange(1, 21) / 200, "k:", label="chance (k / 200)")
a2.legend(loc="lower right", fontsize=8)
a2.set_title("CMC on our test identities")
plt.tight_layout()
plt.show()
print(format_rank_table({**{k: dict(zip(RANKS, np.array(v) / 100)) for k, v in CUHK01.items()},
                         "ours (synthetic, 200 ids)": ours}))
assert ours[1] <= ours[5] <= ours[10] <= ours[20] and ours[20] > 0.9

# %% [markdown]
# Synthetic glyphs are not pedestrians seen by two cameras, so the numbers are not comparable;
# the *measure* is the same, and so is the shape: a steep rise over the first ranks. What a rank
# list looks like:

# %%
fig, axes = plt.subplots(4, 6, figsize=(8, 5.6))
top = r_scores.argsort(dim=1, descending=True)[:, :5]             # (600, 5) best gallery indices
first_hit = match_ranks(r_scores, y_reid[r_probes], y_reid[r_gallery])   # (600,) rank of the right match
hits, missed = np.flatnonzero(first_hit.numpy() == 1), np.flatnonzero(first_hit.numpy() > 1)
for row, q in enumerate([*hits[:2], *missed[:2]]):                 # two rank-1 hits, two misses
    axes[row, 0].imshow(x_reid[r_probes[q]].permute(1, 2, 0))
    axes[row, 0].set_title("query", fontsize=8)
    for k in range(5):
        g = r_gallery[int(top[q, k])]
        ok = int(y_reid[g]) == int(y_reid[r_probes[q]])
        axes[row, k + 1].imshow(x_reid[g].permute(1, 2, 0))
        axes[row, k + 1].set_title(f"rank {k + 1} ({float(r_scores[q, top[q, k]]):.2f})", fontsize=8,
                                   color="tab:green" if ok else "tab:red")
for a in axes.ravel():
    a.set_xticks([])
    a.set_yticks([])
fig.suptitle("Queries and their top-5 gallery matches (green: same identity; cosine in brackets)")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 9. Angular margins: SphereFace, CosFace, ArcFace
#
# "Always looking for a better loss function: L-Softmax → SphereFace → ArcFace" (seed 003). These
# go back to a *classification* loss, but on the unit sphere: normalise the embedding $x$ and the
# class weights $W_j$, so the logit of class $j$ is $s\cos\theta_j$ ($\theta_j$ the angle between
# $x$ and $W_j$), and make the *target* class harder by a margin:
#
# | method | target logit | margin |
# |---|---|---|
# | softmax (normalised) | $s\cos\theta$ | none |
# | SphereFace (Liu et al., CVPR 2017) | $s\,\psi(\theta)$, $\psi = (-1)^k\cos(m\theta) - 2k$ | multiplicative, $m = 4$ |
# | CosFace (Wang et al., CVPR 2018) | $s(\cos\theta - m)$ | additive cosine, $m = 0.35$ |
# | ArcFace (Deng et al., CVPR 2019) | $s\cos(\theta + m)$ | additive angle, $m = 0.5$ |
#
# (The slides date ArcFace to CVPR 2019 in one deck and 2018 in the other: the paper appeared on
# arXiv in 2018 and at CVPR in 2019.) Since the test identities are unseen, only the embedding is
# kept after training, as with the triplet loss; the margin makes classes compact on the sphere.
# The curves and boundaries below are computed with `margin_logits`.

# %%
METHODS = [("softmax", None), ("sphereface", 4), ("cosface", 0.35), ("arcface", 0.5)]


def target_logits(cos: torch.Tensor, method: str, margin) -> torch.Tensor:
    """Row-wise margin logits for label 0 of an (n, 2) cosine matrix (scale 1)."""
    if method == "softmax":
        return cos
    return margin_logits(cos, torch.zeros(cos.shape[0], dtype=torch.long), method=method, scale=1.0, margin=margin)


theta = torch.linspace(0, np.pi, 361, dtype=torch.float64)
cos_theta = torch.stack([torch.cos(theta), torch.zeros_like(theta)], 1)
fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
for method, m in METHODS:
    axes[0].plot(np.degrees(theta.numpy()), target_logits(cos_theta, method, m)[:, 0].numpy(),
                 label=method if m is None else f"{method} (m = {m})")
axes[0].set_xlabel("angle to the target class weight $\\theta$ (degrees)")
axes[0].set_ylabel("target logit / s")
axes[0].set_ylim(-2.5, 1.05)
axes[0].set_title("Target logit curves")
axes[0].legend(fontsize=8)

# decision boundary between two classes in the (theta_1, theta_2) plane: class 1 wins where its
# margin logit exceeds the plain logit of class 2
t1, t2 = torch.meshgrid(torch.linspace(0, np.pi, 301, dtype=torch.float64),
                        torch.linspace(0, np.pi, 301, dtype=torch.float64), indexing="ij")
grid_cos = torch.stack([torch.cos(t1).ravel(), torch.cos(t2).ravel()], 1)   # (301*301, 2)
colors = {"softmax": "black", "sphereface": "tab:orange", "cosface": "tab:green", "arcface": "tab:red"}
for method, m in METHODS:
    lg = target_logits(grid_cos, method, m)
    gap = (lg[:, 0] - lg[:, 1]).reshape(301, 301)                    # > 0: x is classified as class 1
    axes[1].contour(np.degrees(t1.numpy()), np.degrees(t2.numpy()), gap.numpy(), levels=[0],
                    colors=colors[method])
    axes[1].plot([], [], color=colors[method], label=method)
axes[1].set_xlabel("$\\theta_1$ (degrees), angle to $W_1$")
axes[1].set_ylabel("$\\theta_2$ (degrees), angle to $W_2$")
axes[1].set_title("Boundary of class 1 (class 1 wins above it)")
axes[1].legend(fontsize=8, loc="lower right")
axes[1].set_aspect("equal")

# on the unit circle: W_1 at -30 degrees, W_2 at +30 degrees; each ring colours the directions x
# that each class claims *with its margin*; the white gaps are where neither class is satisfied
phi = torch.linspace(-np.pi, np.pi, 1441, dtype=torch.float64)
w_ang = np.array([-np.pi / 6, np.pi / 6])
cos_circle = torch.cos(phi[:, None] - torch.from_numpy(w_ang)[None, :])                 # (1441, 2) cos(theta_1), cos(theta_2)
ax = axes[2]
gap_share = {}
for ring, (method, m) in enumerate(METHODS):
    r = 1.0 - 0.2 * ring
    cls1 = target_logits(cos_circle, method, m)
    cls2 = target_logits(cos_circle.flip(1), method, m)             # label 1 = swap the columns
    win1, win2 = cls1[:, 0] > cls1[:, 1], cls2[:, 0] > cls2[:, 1]
    gap_share[method] = 1 - float((win1 | win2).double().mean())
    for mask, col in ((win1, "tab:blue"), (win2, "tab:purple")):
        ax.scatter(r * torch.cos(phi[mask]).numpy(), r * torch.sin(phi[mask]).numpy(), s=5, color=col)
for a, name in zip(w_ang, ("$W_1$", "$W_2$")):
    ax.annotate("", xy=(np.cos(a), np.sin(a)), xytext=(0, 0), arrowprops=dict(arrowstyle="->"))
    ax.text(1.08 * np.cos(a), 1.08 * np.sin(a), name, ha="center", va="center")
ax.scatter([], [], color="tab:blue", label="claimed by class 1")
ax.scatter([], [], color="tab:purple", label="claimed by class 2")
ax.set_xlim(-1.2, 1.3)
ax.set_ylim(-1.2, 1.3)
ax.set_aspect("equal")
ax.set_xlabel("embedding dimension 1")
ax.set_ylabel("embedding dimension 2")
ax.set_title("Regions claimed with the margin; rings from outside in:\nsoftmax, SphereFace, CosFace, ArcFace",
             fontsize=10)
ax.legend(loc="lower left", fontsize=8)
plt.tight_layout()
plt.show()
print("share of directions claimed by neither class (the margin):",
      {k: round(v, 3) for k, v in gap_share.items()})
assert gap_share["softmax"] < 0.01 < gap_share["cosface"] and gap_share["arcface"] > 0.01

# %% [markdown]
# Plain softmax splits the circle at the bisector of $W_1$ and $W_2$: a feature just past the
# bisector is already "correct", so classes may touch. With a margin each class must win by
# $m$ (an angle for ArcFace, a cosine for CosFace, a factor for SphereFace), so training leaves a
# gap between classes — exactly the separation that verification of *unseen* identities needs.
# ArcFace's margin is a constant angle, so its boundary in the $(\theta_1, \theta_2)$ plane is the
# straight line $\theta_2 = \theta_1 + m$ — until $\theta_1 > 180° - m$, where $\cos(\theta_1 + m)$
# turns back up and the boundary bends down (the insightface code switches to
# $\cos\theta - m \sin m$ there). CosFace's boundary is curved in angle space; SphereFace's
# $\theta_2 = m\theta_1$ gives a margin that vanishes for small angles and is huge for large
# ones (with $m = 4$ most of the circle belongs to neither class, which is why SphereFace is trained
# with an annealed mix of the plain softmax).
#
# ## Summary
# - Verification and re-identification are open-set problems: learn an **embedding**, compare
#   embeddings with a threshold (verification) or rank a gallery (identification).
# - Contrastive loss works on pairs (at least 2 samples), triplet loss on triplets (at least 3);
#   mining (batch hard) finds the triplets that still teach.
# - Report ROC/AUC, TAR@FAR and EER for verification, CMC ranks for identification; choose the
#   threshold on validation data (10-fold on LFW).
# - SphereFace, CosFace and ArcFace put the margin on the angle between an embedding and its
#   class centre.
