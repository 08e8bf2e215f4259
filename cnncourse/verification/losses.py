"""Pair and triplet losses for learning face embeddings (Lecture 09: faces and re-id).

- :func:`contrastive_loss`: DeepID2 (Sun, Wang, Tang, 2014, arXiv:1406.4773), on pairs.
- :func:`triplet_loss`: FaceNet (Schroff, Kalenichenko, Philbin, CVPR 2015), on triplets.

Embeddings are ``(N, D)`` rows; every loss is differentiable, vectorized, and returns a tensor
on the input's device. ``reduction`` is ``"mean"`` (average over the ``N`` pairs or triplets),
``"sum"`` or ``"none"`` (the ``(N,)`` per-sample losses), as in ``torch.nn``.
Empty input (``N = 0``): ``"none"`` gives an empty ``(0,)`` tensor, ``"sum"`` gives 0, and
``"mean"`` raises ``ValueError`` (``torch.nn`` losses return NaN there instead).
NaN embeddings raise ``ValueError`` (a check that costs one device sync per call; it is skipped
for ``meta`` tensors and under ``torch.compile``).
"""

from __future__ import annotations

import torch

from cnncourse._validate import ArgumentError
from cnncourse.verification._checks import (
    _check_embeddings,
    _check_labels,
    _check_nonnegative,
    _check_reduction,
    _reduce,
)
from cnncourse.verification.distances import _safe_sqrt

__all__ = ["contrastive_loss", "triplet_loss"]


def _check_like(name: str, t: torch.Tensor, ref: torch.Tensor, ref_name: str) -> torch.Tensor:
    _check_embeddings(name, t)
    if t.shape != ref.shape:
        raise ArgumentError(name, f"shape {tuple(ref.shape)} like `{ref_name}`", str(tuple(t.shape)))
    if t.device != ref.device:
        raise ArgumentError(name, f"a tensor on {ref.device} like `{ref_name}`", f"device {t.device}")
    return t


def contrastive_loss(x1: torch.Tensor, x2: torch.Tensor, same: torch.Tensor, *, margin: float = 1.0,
                     reduction: str = "mean") -> torch.Tensor:
    """DeepID2 contrastive (verification) loss on pairs of embeddings (Lecture 09).

    With ``d = ||x1_i - x2_i||_2`` and ``y_i = same[i]`` (1 = same identity), as on the slide::

        L_i = 1/2 d^2                      if y_i = 1
        L_i = 1/2 max(0, margin - d)^2     if y_i = 0

    The margin is compared with the plain (not squared) distance, as in the DeepID2 paper's
    loss; the slide's "goal" line writes the squared distance, its loss line the plain one.
    ``torch.nn.HingeEmbeddingLoss`` is a different form (no squares, no 1/2, applied to a given
    distance), so there is no torch oracle; the tests use the direct formula.

    Args:
        x1: Tensor[N, D] first embedding of each pair, floating point.
        x2: Tensor[N, D] second embedding of each pair, same device.
        same: Tensor[N] of 0/1 or bool: 1 when the pair shows the same identity (numpy accepted).
        margin: alpha > 0 in the slide, on the plain L2 distance (keyword-only).
        reduction: ``"mean"`` over pairs, ``"sum"`` or ``"none"`` (keyword-only).

    Returns:
        Scalar tensor, or Tensor[N] for ``reduction="none"``. The gradient at ``d = 0`` of a
        different-identity pair is 0 (subgradient) rather than NaN.

    Example:
        >>> x1 = torch.tensor([[0.0, 0.0], [0.0, 0.0]]); x2 = torch.tensor([[0.6, 0.8], [0.3, 0.4]])
        >>> contrastive_loss(x1, x2, torch.tensor([1, 0]), margin=1.0, reduction="none")
        tensor([0.5000, 0.1250])
    """
    _check_embeddings("x1", x1)
    _check_like("x2", x2, x1, "x1")
    y = _check_labels("same", same, x1.shape[0], device=x1.device)
    if y.device.type != "meta" and bool(((y != 0) & (y != 1)).any()):
        raise ArgumentError("same", "values in {0, 1}", f"values {torch.unique(y).tolist()}")
    margin = _check_nonnegative("margin", margin)
    _check_reduction(reduction)
    diff = x1 - x2  # (N, D)
    d2 = (diff * diff).sum(1)  # (N,) squared distance
    d = _safe_sqrt(d2)  # (N,) plain distance
    loss = torch.where(y.bool(), 0.5 * d2, 0.5 * torch.relu(margin - d) ** 2)  # (N,)
    return _reduce(loss, reduction, "x1")


def triplet_loss(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, *,
                 margin: float = 0.2, squared: bool = True, reduction: str = "mean",
                 eps: float = 0.0) -> torch.Tensor:
    """FaceNet triplet loss ``[d(a, p) - d(a, n) + margin]_+`` (Lecture 09).

    The slide (Schroff et al., CVPR 2015) writes ``sum_i [||f(a_i) - f(p_i)||^2 -
    ||f(a_i) - f(n_i)||^2 + alpha]_+`` with squared distances: that is ``squared=True,
    reduction="sum"``. The person re-id slide (also in Lecture 09) averages, ``J = 1/N sum``:
    ``reduction="mean"``, the default here and in ``torch.nn``. Default ``margin=0.2`` is
    FaceNet's alpha (for L2-normalised embeddings).

    Differences from ``torch.nn.TripletMarginLoss(margin=1.0, p=2, eps=1e-6, swap=False)``:
    torch uses plain L2 distances (``squared=False`` here), default ``margin=1.0``, and adds
    ``eps`` to the *difference* (``||a - p + eps||_2``, not to the norm). Hence
    ``triplet_loss(a, p, n, margin=m, squared=False, eps=1e-6)`` equals
    ``TripletMarginLoss(margin=m)(a, p, n)``; the default ``eps=0`` here gives the exact formula.
    torch also rejects ``margin <= 0``; ``margin=0`` is allowed here.

    Args:
        anchor: Tensor[N, D] anchor embeddings ``f(x^a)``, floating point.
        positive: Tensor[N, D] same identity as the anchor, same device.
        negative: Tensor[N, D] another identity, same device.
        margin: alpha >= 0 (keyword-only).
        squared: squared L2 (FaceNet) if True, plain L2 (torch) if False (keyword-only).
        reduction: ``"mean"`` over triplets, ``"sum"`` or ``"none"`` (keyword-only).
        eps: added to each difference before the norm, torch's convention (keyword-only).

    Returns:
        Scalar tensor, or Tensor[N] for ``reduction="none"``.

    Example:
        >>> a = torch.tensor([[0.0, 0.0]]); p = torch.tensor([[0.0, 1.0]]); n = torch.tensor([[1.0, 1.0]])
        >>> triplet_loss(a, p, n, margin=0.2)  # 1 - 2 + 0.2 < 0: an easy triplet
        tensor(0.)
    """
    _check_embeddings("anchor", anchor)
    _check_like("positive", positive, anchor, "anchor")
    _check_like("negative", negative, anchor, "anchor")
    margin = _check_nonnegative("margin", margin)
    eps = _check_nonnegative("eps", eps)
    _check_reduction(reduction)
    dp = anchor - positive + eps  # (N, D)
    dn = anchor - negative + eps  # (N, D)
    d_ap = (dp * dp).sum(1)  # (N,) squared distances
    d_an = (dn * dn).sum(1)
    if not squared:
        d_ap, d_an = _safe_sqrt(d_ap), _safe_sqrt(d_an)
    loss = torch.relu(d_ap - d_an + margin)  # (N,)
    return _reduce(loss, reduction, "anchor")
