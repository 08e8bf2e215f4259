"""Train and evaluate a small image classifier (lecture 06: the digits CNN it visualizes).

One epoch-based loop with Adam and a one-cycle learning-rate schedule, which trains
:class:`~cnncourse.models.SmallCNN` on the offline digits (16x16) to about 98% test accuracy in a
few seconds on a CPU.

The Adam step and the schedule are written out here (they equal ``torch.optim.Adam`` and
``torch.optim.lr_scheduler.OneCycleLR(..., cycle_momentum=False)``, which the tests check) because
building the first ``torch.optim`` object imports the ``torch._dynamo`` compiler: about 1.7 s of
CPU, more than the whole training of the lecture's network.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cnncourse._validate import ArgumentError, check_positive_int

__all__ = ["accuracy", "one_cycle_lr", "train_classifier"]


def _check_pair(images: Any, labels: Any) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ArgumentError("images", "a Tensor (N, C, H, W)", tuple(getattr(images, "shape", ())))
    if not isinstance(labels, torch.Tensor) or labels.shape != images.shape[:1]:
        raise ArgumentError("labels", f"an int64 Tensor of shape ({images.shape[0]},)",
                            tuple(getattr(labels, "shape", ())))


def one_cycle_lr(step: int, total_steps: int, max_lr: float, *, pct_start: float = 0.3,
                 div_factor: float = 25.0, final_div_factor: float = 1e4) -> float:
    """Learning rate of step ``step`` (0-based) under torch's ``OneCycleLR`` (cosine annealing).

    Warm up from ``max_lr / div_factor`` to ``max_lr`` over the first ``pct_start`` of the steps,
    then anneal to ``max_lr / div_factor / final_div_factor``, both along half cosines.

    Lecture 06.
    """
    total_steps = check_positive_int("total_steps", total_steps)
    initial = max_lr / div_factor
    phases = [(float(pct_start * total_steps) - 1, initial, max_lr), (total_steps - 1, max_lr, initial / final_div_factor)]
    start = 0.0
    for i, (end, lr0, lr1) in enumerate(phases):
        if step <= end or i == len(phases) - 1:
            pct = (step - start) / (end - start)
            return lr1 + (lr0 - lr1) / 2.0 * (math.cos(math.pi * pct) + 1)
        start = end
    raise AssertionError("unreachable")  # pragma: no cover


@torch.no_grad()
def _adam_step(params: list[torch.Tensor], state: list[tuple[torch.Tensor, torch.Tensor]], t: int, lr: float,
               betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
    """``torch.optim.Adam``'s update (no weight decay, no amsgrad) for step ``t`` (1-based), in place."""
    b1, b2 = betas
    c1, c2 = 1 - b1 ** t, math.sqrt(1 - b2 ** t)
    for p, (m, v) in zip(params, state):
        if p.grad is None:
            continue
        m.lerp_(p.grad, 1 - b1)                              # m = b1 m + (1 - b1) g
        v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)    # v = b2 v + (1 - b2) g^2
        p.addcdiv_(m, v.sqrt().div_(c2).add_(eps), value=-lr / c1)


def train_classifier(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, epochs: int = 5,
                     batch_size: int = 32, max_lr: float = 1e-2, seed: int = 0) -> dict[str, Any]:
    """Train ``model`` in place with cross-entropy, Adam and a one-cycle schedule; leave it in eval mode.

    Args:
        model: maps (B, C, H, W) to (B, num_classes) logits; trained on its parameters' device.
        images: (N, C, H, W) float training images; labels: (N,) int64 classes.
        epochs: passes over the data (shuffled with ``seed``); batch_size: mini-batch size;
        max_lr: peak learning rate of :func:`one_cycle_lr`.

    Returns:
        dict with ``losses`` (one float per step), ``epoch_losses`` (mean per epoch) and ``seconds``.

    Lecture 06.
    """
    _check_pair(images, labels)
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    per_epoch = -(-images.shape[0] // batch_size)
    total = epochs * per_epoch
    params = [p for p in model.parameters() if p.requires_grad]
    state = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
    losses: list[float] = []
    model.train()
    start = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(images.shape[0], generator=gen)
        for i in range(0, images.shape[0], batch_size):
            idx = perm[i:i + batch_size]
            loss = F.cross_entropy(model(images[idx].to(device)), labels[idx].to(device))
            for p in params:
                p.grad = None
            loss.backward()
            _adam_step(params, state, len(losses) + 1, one_cycle_lr(len(losses), total, max_lr))
            losses.append(float(loss.detach()))
    model.eval()
    epoch_losses = [sum(losses[e * per_epoch:(e + 1) * per_epoch]) / per_epoch for e in range(epochs)]
    return {"losses": losses, "epoch_losses": epoch_losses, "seconds": time.perf_counter() - start}


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int = 512) -> float:
    """Fraction of ``images`` whose arg-max logit is the label, in eval mode (mode restored).

    Lecture 06.
    """
    _check_pair(images, labels)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = sum(int((model(images[i:i + batch_size].to(device)).argmax(1).cpu() == labels[i:i + batch_size]).sum())
                  for i in range(0, images.shape[0], batch_size))
    model.train(was_training)
    return correct / images.shape[0]
