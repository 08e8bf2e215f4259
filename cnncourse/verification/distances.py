"""Pairwise distance and similarity matrices between embeddings (Lecture 09: faces and re-id).

Embeddings are rows: ``x`` is ``(N, D)`` and ``y`` is ``(M, D)``; every function returns an
``(N, M)`` matrix on the input's device and dtype, and is differentiable. ``y=None`` means
``y = x`` (the within-batch matrix used by triplet mining), whose diagonal is then exactly zero
distance (or, for cosine similarity of non-zero rows, one up to rounding).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cnncourse._validate import ArgumentError
from cnncourse.verification._checks import _check_embeddings

__all__ = ["pairwise_distances", "cosine_similarity_matrix"]

# Up to this many elements in the (N, M, D) difference tensor, distances are computed from the
# differences directly (exact to rounding); above it, from the Gram matrix
# ||x||^2 + ||y||^2 - 2 x.y, which needs O(N M) memory but loses relative precision for
# distances much smaller than the norms (catastrophic cancellation), as torch.cdist does.
_DIRECT_MAX_ELEMENTS = 1 << 22


def _safe_sqrt(t: torch.Tensor) -> torch.Tensor:
    """``sqrt(t)`` whose gradient at ``t == 0`` is 0 (the subgradient) instead of ``inf``/NaN."""
    zero = t <= 0
    return torch.where(zero, torch.zeros_like(t), torch.sqrt(torch.where(zero, torch.ones_like(t), t)))


def _pair(x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    x = _check_embeddings("x", x)
    if y is None:
        return x
    y = _check_embeddings("y", y)
    if y.shape[1] != x.shape[1]:
        raise ArgumentError("y", f"shape (M, {x.shape[1]}) (same D as `x`)", str(tuple(y.shape)))
    if y.device != x.device:
        raise ArgumentError("y", f"a tensor on {x.device} like `x`", f"device {y.device}")
    return y


def pairwise_distances(x: torch.Tensor, y: torch.Tensor | None = None, *, metric: str = "euclidean",
                       squared: bool = False) -> torch.Tensor:
    """Matrix of distances between the rows of ``x`` and the rows of ``y`` (Lecture 09).

    ``metric="euclidean"``: ``d[i, j] = ||x_i - y_j||_2`` (``squared=True`` gives ``||x_i - y_j||_2^2``,
    the distance of the FaceNet triplet loss and of the DeepID2 "same identity" term).
    ``metric="cosine"``: ``d[i, j] = 1 - cos(x_i, y_j)`` (``squared`` must be False).

    Args:
        x: Tensor[N, D] embeddings, floating point.
        y: Tensor[M, D] embeddings on the same device, or None for ``y = x``.
        metric: ``"euclidean"`` or ``"cosine"`` (keyword-only).
        squared: return squared Euclidean distances (keyword-only).

    Returns:
        Tensor[N, M] on ``x``'s device, same dtype. With ``y=None`` the diagonal is exactly 0.
        The gradient of the non-squared distance at zero distance is 0 (the subgradient), where
        ``torch.cdist`` and ``torch.norm`` may give NaN.

    Small problems (``N * M * D <= 2**22``) use the differences directly; larger ones use the
    Gram-matrix identity, like ``torch.cdist`` (less precise for nearly identical rows).

    Example:
        >>> x = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
        >>> pairwise_distances(x)
        tensor([[0., 5.],
                [5., 0.]])
    """
    if metric not in ("euclidean", "cosine"):
        raise ArgumentError("metric", "'euclidean' or 'cosine'", repr(metric))
    y_ = _pair(x, y)
    if metric == "cosine":
        if squared:
            raise ArgumentError("squared", "False with metric='cosine'", squared)
        d = 1.0 - cosine_similarity_matrix(x, y)
        if y is None:
            d = d * (1 - torch.eye(x.shape[0], dtype=x.dtype, device=x.device))
        return d
    n, m, dim = x.shape[0], y_.shape[0], x.shape[1]
    if n * m * dim <= _DIRECT_MAX_ELEMENTS:
        diff = x[:, None, :] - y_[None, :, :]  # (N, M, D)
        d2 = (diff * diff).sum(-1)  # (N, M)
    else:
        x2 = (x * x).sum(1)  # (N,)
        y2 = (y_ * y_).sum(1)  # (M,)
        d2 = (x2[:, None] + y2[None, :] - 2.0 * (x @ y_.T)).clamp_min(0.0)  # (N, M)
        if y is None:  # rounding leaves small non-zeros on the diagonal: remove them
            d2 = d2 * (1 - torch.eye(n, dtype=x.dtype, device=x.device))
    return d2 if squared else _safe_sqrt(d2)


def cosine_similarity_matrix(x: torch.Tensor, y: torch.Tensor | None = None, *,
                             eps: float = 1e-8) -> torch.Tensor:
    """Matrix of cosine similarities ``cos(x_i, y_j) = x_i . y_j / (||x_i|| ||y_j||)`` (Lecture 09).

    This is the ``cos(theta_j)`` that SphereFace / CosFace / ArcFace feed to
    :func:`~cnncourse.verification.margin_logits` when ``y`` holds the class weight vectors.

    Args:
        x: Tensor[N, D] embeddings.
        y: Tensor[M, D] embeddings or class weights, or None for ``y = x``.
        eps: each row is divided by ``max(||row||, eps)`` (as ``torch.nn.functional.normalize``;
            ``torch.nn.functional.cosine_similarity`` clamps the product of the norms instead,
            which differs only for rows with norm below ``eps``).

    Returns:
        Tensor[N, M] with values in [-1, 1] (up to rounding); similarity, so higher = closer.
    """
    y_ = _pair(x, y)
    xn = F.normalize(x, dim=1, eps=eps)  # (N, D) unit rows
    yn = xn if y is None else F.normalize(y_, dim=1, eps=eps)  # (M, D)
    return xn @ yn.T
