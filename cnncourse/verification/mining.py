"""Online triplet mining inside a batch of labelled embeddings (Lecture 09: faces and re-id).

FaceNet (Schroff et al., CVPR 2015) forms triplets inside each mini-batch; Hermans, Beyer and
Leibe ("In Defense of the Triplet Loss for Person Re-Identification", 2017) name the two
standard strategies implemented here:

- batch all: every valid triplet ``(a, p, n)`` with ``a != p``, ``label[a] == label[p]`` and
  ``label[n] != label[a]``;
- batch hard: for each anchor, only its farthest positive and its closest negative.

Both take ``embeddings`` Tensor[N, D] and ``labels`` Tensor[N] (integer identities), use the
FaceNet hinge ``[d(a, p) - d(a, n) + margin]_+`` with the distances of
:func:`~cnncourse.verification.pairwise_distances`, are vectorized (batch all builds an
``(N, N, N)`` tensor), differentiable, and return a scalar on the input's device.
A batch with no valid triplet (e.g. one identity, or singletons only, including ``N = 0``)
gives a loss of exactly 0 that is still connected to the graph (its gradient is zero).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cnncourse.verification._checks import (
    _check_embeddings,
    _check_labels,
    _check_nonnegative,
    _check_reduction,
)
from cnncourse.verification.distances import pairwise_distances

__all__ = ["batch_all_triplet_loss", "batch_hard_triplet_loss", "triplet_kinds"]


def _masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(positive, negative)`` Bool[N, N]: same label and not self; different label."""
    same = labels[:, None] == labels[None, :]  # (N, N)
    eye = torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def triplet_kinds(embeddings: torch.Tensor, labels: torch.Tensor, *, margin: float = 0.2,
                  squared: bool = True) -> dict[str, torch.Tensor]:
    """Split the valid triplets of a batch into easy, semi-hard and hard ones (Lecture 09).

    With ``d_ap = d(a, p)`` and ``d_an = d(a, n)`` (FaceNet's terms):

    - ``"hard"``: ``d_an < d_ap``, the negative is closer than the positive;
    - ``"semi-hard"``: ``d_ap <= d_an < d_ap + margin``, ordered right but inside the margin
      (FaceNet trains on these);
    - ``"easy"``: ``d_an >= d_ap + margin``, zero loss and zero gradient.

    Args:
        embeddings: Tensor[N, D], floating point.
        labels: Tensor[N] integer identities (numpy accepted).
        margin: alpha >= 0 (keyword-only).
        squared: squared L2 distances if True, plain L2 if False (keyword-only).

    Returns:
        ``{"easy": m, "semi-hard": m, "hard": m}``, each a Bool[N, N, N] mask indexed
        ``[a, p, n]``, disjoint, their union the valid triplets of :func:`batch_all_triplet_loss`.

    Example:
        >>> emb = torch.tensor([[0.0], [0.3], [0.4], [1.0]]); lab = torch.tensor([0, 0, 1, 1])
        >>> {k: int(m.sum()) for k, m in triplet_kinds(emb, lab, margin=0.2, squared=False).items()}
        {'easy': 3, 'semi-hard': 2, 'hard': 3}
    """
    _check_embeddings("embeddings", embeddings)
    labels = _check_labels("labels", labels, embeddings.shape[0], device=embeddings.device)
    margin = _check_nonnegative("margin", margin)
    with torch.no_grad():
        d = pairwise_distances(embeddings, squared=squared)  # (N, N)
        pos, neg = _masks(labels)
        valid = pos[:, :, None] & neg[:, None, :]  # (N, N, N) indexed [a, p, n]
        d_ap, d_an = d[:, :, None], d[:, None, :]  # broadcast to [a, p, n]
        hard = valid & (d_an < d_ap)
        easy = valid & (d_an >= d_ap + margin)
    return {"easy": easy, "semi-hard": valid & ~hard & ~easy, "hard": hard}


def batch_all_triplet_loss(embeddings: torch.Tensor, labels: torch.Tensor, *, margin: float = 0.2,
                           squared: bool = True, reduction: str = "mean") -> torch.Tensor:
    """Triplet loss averaged over all valid triplets of the batch ("batch all", Lecture 09).

    ``L = reduce over valid (a, p, n) of [d(a, p) - d(a, n) + margin]_+``.

    Args:
        embeddings: Tensor[N, D], floating point.
        labels: Tensor[N] integer identities (numpy accepted), moved to ``embeddings``' device.
        margin: alpha >= 0 (keyword-only); default 0.2 as FaceNet.
        squared: squared L2 distances (FaceNet) if True, plain L2 if False (keyword-only).
        reduction: (keyword-only) ``"mean"`` over all valid triplets (Hermans et al.);
            ``"mean_positive"`` over the triplets with a positive loss only (the "hard and
            semi-hard" average that keeps easy triplets from diluting the signal); ``"sum"``.

    Returns:
        Scalar tensor; 0 when there is no valid triplet (or no positive one for
        ``"mean_positive"``).

    Example:
        >>> emb = torch.tensor([[0.0], [0.3], [0.4], [1.0]]); lab = torch.tensor([0, 0, 1, 1])
        >>> batch_all_triplet_loss(emb, lab, margin=0.2, squared=False)  # 8 valid triplets, sum 1.7
        tensor(0.2125)
    """
    _check_embeddings("embeddings", embeddings)
    labels = _check_labels("labels", labels, embeddings.shape[0], device=embeddings.device)
    margin = _check_nonnegative("margin", margin)
    _check_reduction(reduction, ("mean", "mean_positive", "sum"))
    d = pairwise_distances(embeddings, squared=squared)  # (N, N)
    pos, neg = _masks(labels)
    valid = pos[:, :, None] & neg[:, None, :]  # (N, N, N) indexed [a, p, n]
    loss = torch.relu(d[:, :, None] - d[:, None, :] + margin) * valid  # (N, N, N)
    total = loss.sum()
    if reduction == "sum":
        return total
    count = valid.sum() if reduction == "mean" else (loss > 0).sum()
    return total / count.clamp_min(1).to(total.dtype)


def batch_hard_triplet_loss(embeddings: torch.Tensor, labels: torch.Tensor, *, margin: float = 0.2,
                            squared: bool = True, soft: bool = False,
                            reduction: str = "mean") -> torch.Tensor:
    """Triplet loss with each anchor's hardest positive and hardest negative ("batch hard").

    For every anchor ``a`` with at least one positive and one negative in the batch::

        L_a = [max_{p: y_p = y_a, p != a} d(a, p) - min_{n: y_n != y_a} d(a, n) + margin]_+

    (Hermans et al., 2017, Lecture 09). ``soft=True`` replaces the hinge by their soft margin
    ``log(1 + exp(hardest_pos - hardest_neg))`` (``margin`` is then ignored). Hermans et al. use
    plain L2 (``squared=False``); the default ``squared=True`` keeps FaceNet's form, as
    :func:`triplet_loss`. Gradients flow only through the selected distances.

    Args:
        embeddings: Tensor[N, D], floating point.
        labels: Tensor[N] integer identities (numpy accepted).
        margin: alpha >= 0 (keyword-only).
        squared: squared L2 if True, plain L2 if False (keyword-only).
        soft: soft-margin (softplus) instead of the hinge (keyword-only).
        reduction: ``"mean"`` over the anchors that have a positive and a negative, or
            ``"sum"`` (keyword-only).

    Returns:
        Scalar tensor; 0 when no anchor has both a positive and a negative.

    Example:
        >>> emb = torch.tensor([[0.0], [0.3], [0.4], [1.0]]); lab = torch.tensor([0, 0, 1, 1])
        >>> batch_hard_triplet_loss(emb, lab, margin=0.2, squared=False)  # (0.1 + 0.4 + 0.7 + 0.1) / 4
        tensor(0.3250)
    """
    _check_embeddings("embeddings", embeddings)
    labels = _check_labels("labels", labels, embeddings.shape[0], device=embeddings.device)
    margin = _check_nonnegative("margin", margin)
    _check_reduction(reduction, ("mean", "sum"))
    d = pairwise_distances(embeddings, squared=squared)  # (N, N)
    pos, neg = _masks(labels)
    inf = torch.full_like(d, float("inf"))
    hardest_pos = torch.where(pos, d, -inf).amax(1, keepdim=False) if d.numel() else d.sum(1)  # (N,)
    hardest_neg = torch.where(neg, d, inf).amin(1) if d.numel() else d.sum(1)  # (N,)
    valid = pos.any(1) & neg.any(1)  # (N,) anchors with a positive and a negative
    # Replace the +-inf of invalid anchors before the hinge so that no inf/NaN reaches backward.
    gap = torch.where(valid, hardest_pos - hardest_neg, torch.zeros_like(hardest_pos))  # (N,)
    per_anchor = F.softplus(gap) if soft else torch.relu(gap + margin)
    loss = (per_anchor * valid).sum()
    if reduction == "sum":
        return loss
    return loss / valid.sum().clamp_min(1).to(loss.dtype)
