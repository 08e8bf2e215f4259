"""Angular-margin logits for face recognition: SphereFace, CosFace, ArcFace (Lecture 09).

Each method trains a classifier on L2-normalised embeddings and class weights, so the logit of
class ``j`` is ``s * cos(theta_j)``, and makes the target class harder by a margin:

================  =============================================  =================  ========
method            target logit (class ``y_i``)                   default margin     paper
================  =============================================  =================  ========
``"sphereface"``  ``s * psi(theta)``, ``psi = (-1)^k cos(m theta) - 2k``  ``m = 4`` (int)  Liu et al., CVPR 2017
``"cosface"``     ``s * (cos(theta) - m)``                       ``m = 0.35``       Wang et al., CVPR 2018
``"arcface"``     ``s * cos(theta + m)``                         ``m = 0.5``        Deng et al., CVPR 2019
================  =============================================  =================  ========

with ``k = floor(m theta / pi)`` for SphereFace (``theta`` in ``[k pi/m, (k+1) pi/m]``), which
makes ``psi`` monotonically decreasing over ``[0, pi]``. Non-target logits stay ``s * cos(theta_j)``.
Feed the result to ``torch.nn.functional.cross_entropy(logits, labels)``.
"""

from __future__ import annotations

import math

import torch

from cnncourse._validate import ArgumentError
from cnncourse.verification._checks import _check_embeddings, _check_labels
from cnncourse.verification.distances import _safe_sqrt

__all__ = ["margin_logits", "DEFAULT_MARGINS"]

DEFAULT_MARGINS: dict[str, float] = {"sphereface": 4, "cosface": 0.35, "arcface": 0.5}


def _chebyshev(c: torch.Tensor, m: int) -> torch.Tensor:
    """``cos(m theta)`` as the Chebyshev polynomial ``T_m(cos theta)``: smooth, no arccos in the graph."""
    t_prev, t = torch.ones_like(c), c
    if m == 0:
        return t_prev
    for _ in range(m - 1):
        t_prev, t = t, 2 * c * t - t_prev
    return t


def _target_logit(c: torch.Tensor, method: str, margin: float) -> torch.Tensor:
    """The margin-modified ``cos`` of the target class, from ``c = cos(theta)`` (any shape)."""
    if method == "cosface":
        return c - margin
    if method == "arcface":
        # cos(theta + m) = cos(theta) cos(m) - sin(theta) sin(m), theta in [0, pi] so sin >= 0.
        sin = _safe_sqrt(1.0 - c * c)
        return c * math.cos(margin) - sin * math.sin(margin)
    m = int(margin)  # sphereface
    theta = torch.acos(c.detach())  # only used for the piece index k (no gradient needed)
    k = torch.floor(m * theta / math.pi).clamp(0, m - 1)  # theta = pi gives k = m: keep it in range
    sign = 1.0 - 2.0 * torch.remainder(k, 2)  # (-1)^k
    return sign * _chebyshev(c, m) - 2.0 * k


def margin_logits(cosine: torch.Tensor, labels: torch.Tensor, *, method: str = "arcface",
                  scale: float | torch.Tensor = 64.0, margin: float | None = None) -> torch.Tensor:
    """Scaled logits with an angular margin on the target class (Lecture 09).

    Args:
        cosine: Tensor[N, C] of ``cos(theta_ij)`` between embedding ``i`` and class weight ``j``,
            usually ``cosine_similarity_matrix(embeddings, weights)``; values are clamped to
            [-1, 1] (rounding can leave them just outside).
        labels: Tensor[N] target class of each row, integers in ``[0, C)`` (numpy accepted).
        method: ``"arcface"``, ``"cosface"`` or ``"sphereface"`` (keyword-only).
        scale: ``s`` (keyword-only): a float, or a Tensor[N, 1] such as the feature norms
            ``||x_i||`` for the original SphereFace, which did not normalise features.
            Default 64 as ArcFace and CosFace.
        margin: ``m`` (keyword-only); None takes :data:`DEFAULT_MARGINS` (ArcFace 0.5,
            CosFace 0.35, SphereFace 4). SphereFace needs a positive integer.

    Returns:
        Tensor[N, C] logits on ``cosine``'s device; ``logits[i, j] = s * cos(theta_ij)`` for
        ``j != labels[i]`` and the method's target logit at ``j = labels[i]``.

    Notes:
        ArcFace's ``cos(theta + m)`` stops decreasing once ``theta > pi - m``; the reference
        implementation (insightface) then falls back to ``cos(theta) - m sin(m)``. This function
        keeps the paper's formula; SphereFace's training-time annealing with the plain softmax
        (``(lambda cos + psi) / (1 + lambda)``) is left to the caller.

    Example:
        >>> cos = torch.tensor([[1.0, 0.0]])
        >>> margin_logits(cos, torch.tensor([0]), method="cosface", scale=10.0, margin=0.35)
        tensor([[6.5000, 0.0000]])
    """
    _check_embeddings("cosine", cosine)
    labels = _check_labels("labels", labels, cosine.shape[0], device=cosine.device).long()
    if method not in DEFAULT_MARGINS:
        raise ArgumentError("method", "'arcface', 'cosface' or 'sphereface'", repr(method))
    margin = DEFAULT_MARGINS[method] if margin is None else margin
    if method == "sphereface":
        if isinstance(margin, bool) or int(margin) != margin or margin < 1:
            raise ArgumentError("margin", "a positive integer for method='sphereface'", margin)
    elif not float(margin) >= 0.0:
        raise ArgumentError("margin", "a number >= 0", margin)
    if isinstance(scale, torch.Tensor):
        if not (scale.dim() == 0 or (scale.dim() == 2 and scale.shape[1] == 1
                                     and scale.shape[0] in (1, cosine.shape[0]))):
            raise ArgumentError("scale", f"a float or a Tensor[{cosine.shape[0]}, 1]", str(tuple(scale.shape)))
    elif not float(scale) > 0.0:
        raise ArgumentError("scale", "a number > 0", scale)
    n, c = cosine.shape
    if labels.device.type != "meta" and labels.numel() and \
            bool(((labels < 0) | (labels >= c)).any()):
        raise ArgumentError("labels", f"class indices in [0, {c})",
                            f"values in [{int(labels.min())}, {int(labels.max())}]")
    cos = cosine.clamp(-1.0, 1.0)  # (N, C)
    target_cos = cos.gather(1, labels[:, None])  # (N, 1)
    target = _target_logit(target_cos, method, float(margin))  # (N, 1)
    onehot = torch.zeros_like(cos, dtype=torch.bool).scatter_(1, labels[:, None], True)  # (N, C)
    logits = torch.where(onehot, target.expand(n, c), cos)  # (N, C)
    return logits * scale
