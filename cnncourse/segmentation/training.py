"""Training and evaluating a segmentation network on ``ShapesDataset`` semantic masks (lecture 08).

``ShapesDataset`` gives, per image, an ``(H, W)`` int64 ``semantic`` mask: 0 background, ``k + 1``
for a shape of class ``k`` (circle, square, triangle), so ``K = 4`` classes. Splits are different
seeds. The loop is plain mini-batch Adam with a cosine learning-rate decay over a fixed number of
steps (deterministic for a given seed and thread count), the loss pixel cross-entropy optionally
plus ``dice_weight`` times the soft Dice loss.

:func:`train_shapes_fcn` is the whole recipe in one call: 2000 training and 500 held-out images of
32 x 32 pixels (different seeds), ``FCN(width=16, depth=4)`` with skips, 200 Adam steps of 32
images at learning rate 3e-3. Measured: held-out mean IoU 0.887 (per class 0.998 background,
0.887 circle, 0.837 square, 0.824 triangle) for about 30 s of CPU time on one thread. On a
shared, overloaded machine prefer ``torch.set_num_threads(1)``: with two threads the same run took
320 s of CPU time (threads spinning while they wait for each other), mean IoU 0.880.
"""

from __future__ import annotations

import time
from typing import Any
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from cnncourse._validate import ArgumentError, check_positive_int
from cnncourse.data.shapes import ShapesDataset
from cnncourse.segmentation.dice import soft_dice_loss
from cnncourse.segmentation.fcn import FCN
from cnncourse.segmentation.metrics import segmentation_scores

__all__ = ["SHAPES_NUM_CLASSES", "evaluate_segmentation", "predict", "shapes_segmentation_data",
           "train_segmentation", "train_shapes_fcn"]

SHAPES_NUM_CLASSES = 1 + ShapesDataset.num_classes  # background + circle, square, triangle


def shapes_segmentation_data(num_samples: int, *, image_size: int = 32, seed: int = 0,
                             **dataset_kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Render ``ShapesDataset`` images and semantic masks as tensors (lecture 08).

    Returns:
        ``images`` (Tensor[N, 3, H, W] float32 in [0, 1]) and ``masks`` (Tensor[int64, N, H, W],
        0 background, 1 circle, 2 square, 3 triangle).
    """
    ds = ShapesDataset(num_samples, image_size=image_size, seed=seed, **dataset_kwargs)
    b = ds.batch(np.arange(num_samples))
    return torch.from_numpy(b["images"]), torch.from_numpy(b["semantic"])


def _check_pair(images: torch.Tensor, masks: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ArgumentError("images", "a Tensor (N, C, H, W)", tuple(getattr(images, "shape", ())))
    if not isinstance(masks, torch.Tensor) or masks.shape != (images.shape[0],) + images.shape[2:]:
        raise ArgumentError("masks", f"a Tensor of shape {(images.shape[0],) + tuple(images.shape[2:])}",
                            tuple(getattr(masks, "shape", ())))


def train_segmentation(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, *, steps: int = 300,
                       batch_size: int = 32, lr: float = 3e-3, dice_weight: float = 0.0,
                       class_weight: torch.Tensor | None = None, ignore_index: int = -100,
                       seed: int = 0, time_limit: float | None = None,
                       callback: Callable[[int, float], None] | None = None) -> dict[str, Any]:
    """Train ``model`` in place with Adam on random mini-batches (lecture 08).

    Args:
        model: maps ``(B, C, H, W)`` to ``(B, K, H, W)`` logits; trained on ``images``' device.
        images (Tensor[N, C, H, W]), masks (Tensor[int64, N, H, W]): the training split.
        steps: optimisation steps (the learning rate decays to 0 along a cosine).
        batch_size, lr: mini-batch size and initial Adam learning rate.
        dice_weight: loss = cross-entropy + ``dice_weight`` * soft Dice (0: cross-entropy only).
        class_weight (Tensor[K], optional): cross-entropy class weights.
        ignore_index: label left out of both losses.
        seed: seeds the mini-batch sampling.
        time_limit: stop early after this many seconds (``None``: run all steps).
        callback: called as ``callback(step, loss)`` after every step.

    Returns:
        dict with ``losses`` (list of floats), ``steps`` (steps run) and ``seconds`` (wall time).
    """
    _check_pair(images, masks)
    steps = check_positive_int("steps", steps)
    batch_size = check_positive_int("batch_size", batch_size)
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    cw = None if class_weight is None else class_weight.to(device=device, dtype=torch.float32)
    losses: list[float] = []
    model.train()
    start = time.perf_counter()
    for step in range(steps):
        idx = torch.randint(0, images.shape[0], (batch_size,), generator=gen)
        x, y = images[idx].to(device), masks[idx].to(device)
        logits = model(x)                                              # (B, K, H, W)
        loss = F.cross_entropy(logits, y, weight=cw, ignore_index=ignore_index)
        if dice_weight:
            loss = loss + dice_weight * soft_dice_loss(logits, y, ignore_index=ignore_index)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if callback is not None:
            callback(step, losses[-1])
        if time_limit is not None and time.perf_counter() - start > time_limit:
            break
    model.eval()
    return {"losses": losses, "steps": len(losses), "seconds": time.perf_counter() - start}


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, *, batch_size: int = 128) -> torch.Tensor:
    """Per-pixel argmax labels ``(N, H, W)`` int64 on the CPU, in eval mode (lecture 08)."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ArgumentError("images", "a Tensor (N, C, H, W)", tuple(getattr(images, "shape", ())))
    model.eval()
    device = next(model.parameters()).device
    out = [model(images[i:i + batch_size].to(device)).argmax(1).cpu()
           for i in range(0, images.shape[0], batch_size)]
    return torch.cat(out)


def evaluate_segmentation(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, *,
                          num_classes: int = SHAPES_NUM_CLASSES) -> dict[str, Any]:
    """Predict ``images`` and score against ``masks`` with :func:`segmentation_scores` (lecture 08).

    Returns:
        The scores dict (``cm``, ``iou``, ``dice``, ``mean_iou``, ...) plus ``pred`` (N, H, W).
    """
    _check_pair(images, masks)
    pred = predict(model, images)
    scores = segmentation_scores(masks, pred, num_classes)
    scores["pred"] = pred
    return scores


def train_shapes_fcn(*, num_train: int = 2000, num_val: int = 500, image_size: int = 32, steps: int = 200,
                     width: int = 16, depth: int = 4, skips: bool = True, batch_size: int = 32,
                     lr: float = 3e-3, dice_weight: float = 0.0, seed: int = 0,
                     device: str | torch.device = "cpu") -> dict[str, Any]:
    """Train an :class:`FCN` on ``ShapesDataset`` semantic masks and score a held-out split (lecture 08).

    Training images use ``seed``, held-out images ``seed + 1``; the network is initialised from
    ``torch.manual_seed(seed)``. The defaults reach a held-out mean IoU of about 0.89.

    Returns:
        dict with ``model`` (trained, eval mode), ``history`` (from :func:`train_segmentation`),
        ``scores`` (from :func:`evaluate_segmentation` on the held-out split) and ``seconds``
        (wall time, data generation included).
    """
    start = time.perf_counter()
    x, y = shapes_segmentation_data(num_train, image_size=image_size, seed=seed)
    xv, yv = shapes_segmentation_data(num_val, image_size=image_size, seed=seed + 1)
    torch.manual_seed(seed)
    model = FCN(3, SHAPES_NUM_CLASSES, width=width, depth=depth, skips=skips).to(device)
    history = train_segmentation(model, x, y, steps=steps, batch_size=batch_size, lr=lr,
                                 dice_weight=dice_weight, seed=seed)
    scores = evaluate_segmentation(model, xv, yv)
    return {"model": model, "history": history, "scores": scores, "seconds": time.perf_counter() - start}
