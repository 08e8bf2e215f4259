"""Which pixels does a CNN's decision depend on? Occlusion maps, CAM and Grad-CAM.

Lecture 06 (visualizing CNNs). Three answers, each with its own blind spots:

- :func:`occlusion_map` (Zeiler and Fergus 2014): slide a grey (or black) square over the image and
  record the probability of the class at every position. Model-agnostic and easy to read, but one
  forward pass per position, and the answer depends on the occluder's size and colour (a black
  square on a black background hides nothing).
- :func:`class_activation_map` (CAM, Zhou et al. 2016): for a network ending in global average
  pooling and one linear layer, ``logit_c = sum_k w_ck mean_xy A_k(x, y)``, so the map
  ``M_c(x, y) = sum_k w_ck A_k(x, y)`` splits the logit over positions (``logit_c = mean M_c + b_c``).
  Only for that architecture, and only at the last conv layer's (coarse) resolution.
- :func:`grad_cam` (Selvaraju et al. 2017): any layer of any differentiable network. Weight each
  channel by the spatial mean of the gradient of the class score, ``alpha_k = mean_xy dy_c/dA_k``,
  and keep the positive part of ``sum_k alpha_k A_k``. On a GAP + linear network
  ``dy_c/dA_k(x, y) = w_ck / (h w)``: Grad-CAM is CAM divided by ``h w`` (then ReLU). It explains the
  score, not the probability, and it is as coarse as the chosen layer.

All three run the model in eval mode (so batch norm uses its running statistics) and restore the
mode afterwards. Maps are (N, h, w) tensors; :func:`upsample_map` brings them to the image size.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cnncourse._validate import ArgumentError, as_pair, check_positive_int

__all__ = ["class_activation_map", "grad_cam", "normalize_map", "occlusion_map", "upsample_map"]


def _check_images(x: Any) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"`x` expected a torch.Tensor of shape (N, C, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        raise ArgumentError("x", "a (N, C, H, W) tensor", f"shape {tuple(x.shape)}")
    return x


def _targets(target: Any, n: int, device: torch.device) -> torch.Tensor:
    """An int or N class indices -> (N,) int64 tensor."""
    t = torch.as_tensor(target, device=device).long()
    if t.ndim == 0:
        t = t.expand(n)
    if t.shape != (n,):
        raise ArgumentError("target", f"an int or {n} class indices", f"shape {tuple(t.shape)}")
    return t


class _EvalMode:
    """Context manager: the model in eval mode, its previous mode restored on exit."""

    def __init__(self, model: nn.Module):
        self.model, self.was_training = model, model.training

    def __enter__(self) -> nn.Module:
        return self.model.eval()

    def __exit__(self, *exc) -> None:
        self.model.train(self.was_training)


def occlusion_map(model: nn.Module, x: torch.Tensor, target: Any, *, patch: int | tuple[int, int] = 4,
                  stride: int | tuple[int, int] = 1, fill: float = 0.0, batch_size: int = 256) -> torch.Tensor:
    """Probability of ``target`` as a function of where a square occluder covers the image.

    For every position ``(i, j)`` the pixels ``[i*S : i*S + PH, j*S : j*S + PW]`` of every channel
    are set to ``fill`` and ``softmax(model(x_occluded))[target]`` is recorded.

    Args:
        model: maps (N, C, H, W) to (N, num_classes) logits.
        x: (N, C, H, W) images.
        target: the class to follow, an int or (N,) indices (usually the true labels).
        patch: occluder size ``PH x PW``; stride: its step ``S``.
        fill: value of the occluded pixels (0 = the slide's "square of zeros").
        batch_size: occluded copies per forward pass.

    Returns:
        (N, H_out, W_out) probabilities, ``H_out = (H - PH) // S + 1``; entry ``(n, i, j)`` is the
        occluder at rows ``i*S ..``, columns ``j*S ..``. Low values: the class needs those pixels.

    Lecture 06.
    """
    x = _check_images(x)
    ph, pw = as_pair("patch", patch, minimum=1)
    sh, sw = as_pair("stride", stride, minimum=1)
    batch_size = check_positive_int("batch_size", batch_size)
    n, _, h, w = x.shape
    if ph > h or pw > w:
        raise ArgumentError("patch", f"at most the image size {h}x{w}", (ph, pw))
    t = _targets(target, n, x.device)
    rows, cols = range(0, h - ph + 1, sh), range(0, w - pw + 1, sw)
    positions = [(i, j) for i in rows for j in cols]
    out = torch.empty(n, len(positions), dtype=x.dtype, device=x.device)
    with _EvalMode(model), torch.no_grad():
        for k in range(n):
            for start in range(0, len(positions), batch_size):
                chunk = positions[start:start + batch_size]
                xs = x[k:k + 1].repeat(len(chunk), 1, 1, 1)          # (P, C, H, W)
                for p, (i, j) in enumerate(chunk):
                    xs[p, :, i:i + ph, j:j + pw] = fill
                probs = torch.softmax(model(xs), dim=1)               # (P, num_classes)
                out[k, start:start + len(chunk)] = probs[:, t[k]]
    return out.reshape(n, len(rows), len(cols))


def class_activation_map(features: torch.Tensor, fc_weight: torch.Tensor, target: Any) -> torch.Tensor:
    """CAM: ``M_c(x, y) = sum_k w_ck A_k(x, y)`` for a GAP + linear classifier head.

    Args:
        features: (N, K, h, w) maps of the last conv layer (the input of global average pooling).
        fc_weight: (num_classes, K) weight of the linear layer after the pooling.
        target: the class ``c``, an int or (N,) indices.

    Returns:
        (N, h, w) maps (no ReLU: negative evidence stays visible). ``M_c.mean((1, 2)) + b_c`` is the
        logit of class ``c``.

    Lecture 06.
    """
    if not isinstance(features, torch.Tensor) or features.ndim != 4:
        raise ArgumentError("features", "a (N, K, h, w) tensor", getattr(features, "shape", type(features)))
    if not isinstance(fc_weight, torch.Tensor) or fc_weight.ndim != 2 or fc_weight.shape[1] != features.shape[1]:
        raise ArgumentError("fc_weight", f"a (num_classes, {features.shape[1]}) tensor",
                            tuple(getattr(fc_weight, "shape", ())))
    t = _targets(target, features.shape[0], features.device)
    w = fc_weight[t]                                   # (N, K)
    return torch.einsum("nk,nkhw->nhw", w, features)   # (N, h, w)


def grad_cam(model: nn.Module, layer: nn.Module, x: torch.Tensor, target: Any, *,
             relu: bool = True) -> torch.Tensor:
    """Grad-CAM at ``layer``: ``relu(sum_k alpha_k A_k)`` with ``alpha_k = mean_xy d score / d A_k``.

    Args:
        model: maps (N, C, H, W) to (N, num_classes) scores (logits, not probabilities).
        layer: a submodule of ``model`` whose output ``A`` (N, K, h, w) is explained. Its output must
            not be modified in place afterwards (pick the block that contains an in-place ReLU).
        x: (N, C, H, W) images.
        target: the class, an int or (N,) indices.
        relu: keep only the positive part (the paper's Grad-CAM); ``False`` returns the signed map
            (captum's ``LayerGradCam`` default).

    Returns:
        (N, h, w) maps at the layer's resolution, detached.

    Lecture 06.
    """
    x = _check_images(x)
    if not isinstance(layer, nn.Module) or not any(m is layer for m in model.modules()):
        raise ArgumentError("layer", "a submodule of `model`", type(layer).__name__)
    t = _targets(target, x.shape[0], x.device)
    store: dict[str, torch.Tensor] = {}

    def keep(_m: nn.Module, _inp: tuple, out: torch.Tensor) -> torch.Tensor:
        a = out.detach().requires_grad_(True)   # a leaf: gradients stop here, whatever is upstream
        store["a"] = a
        return a

    handle = layer.register_forward_hook(keep)
    try:
        with _EvalMode(model), torch.enable_grad():
            scores = model(x)                                        # (N, num_classes)
            a = store["a"]                                           # (N, K, h, w)
            (grads,) = torch.autograd.grad(scores.gather(1, t[:, None]).sum(), a)
    finally:
        handle.remove()
    alpha = grads.mean(dim=(2, 3))                                   # (N, K)
    cam = torch.einsum("nk,nkhw->nhw", alpha, a.detach())            # (N, h, w)
    return cam.clamp_min(0) if relu else cam


def upsample_map(maps: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling of (N, h, w) maps to (N, H, W) for overlaying on the images.

    Lecture 06.
    """
    if not isinstance(maps, torch.Tensor) or maps.ndim != 3:
        raise ArgumentError("maps", "a (N, h, w) tensor", getattr(maps, "shape", type(maps)))
    size = as_pair("size", size, minimum=1)
    return F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def normalize_map(maps: torch.Tensor) -> torch.Tensor:
    """Scale each (h, w) map of an (N, h, w) tensor to [0, 1] (a constant map becomes zeros).

    Lecture 06.
    """
    if not isinstance(maps, torch.Tensor) or maps.ndim != 3:
        raise ArgumentError("maps", "a (N, h, w) tensor", getattr(maps, "shape", type(maps)))
    lo = maps.amin(dim=(1, 2), keepdim=True)
    span = maps.amax(dim=(1, 2), keepdim=True) - lo
    return torch.where(span > 0, (maps - lo) / span.clamp_min(torch.finfo(maps.dtype).tiny), torch.zeros_like(maps))
