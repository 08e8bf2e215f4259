"""A tiny one-stage YOLO-style detector for :class:`~cnncourse.data.ShapesDataset`, trained on a CPU (Lecture 07).

Box format: ``(x1, y1, x2, y2)`` in absolute pixels. The network maps an image ``(3, H, W)`` to
a YOLO v1 grid ``(S, S, B * 5 + C)`` with ``S = H / 8`` (8 x 8 for the 64 x 64 shapes), laid out
as in :mod:`cnncourse.detection.yolo`, so that :func:`~cnncourse.detection.yolo_encode`,
:func:`~cnncourse.detection.yolo_loss` and :func:`~cnncourse.detection.yolo_decode` apply as they
are. Unlike YOLO v1's linear output, ``x, y, w, h`` and the confidence go through a sigmoid and
the class scores through a softmax, and the confidence bias starts at -4 (most cells are empty):
both make the short CPU training converge quickly.

Typical use (about 15 s of CPU for mAP@0.5 above 0.9 on held-out shapes)::

    images, gts = shapes_to_tensors(ShapesDataset(2000, seed=0))
    model = TinyYOLO()
    train_detector(model, images, encode_targets(gts, image_size=(64, 64), S=8))
    predictions = predict(model, test_images)
    evaluate_voc(predictions, test_gts, num_classes=3).mAP
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from cnncourse._validate import ArgumentError, check_positive_int
from cnncourse.detection._checks import check_tensor
from cnncourse.detection.boxes import clip_boxes
from cnncourse.detection.nms import batched_nms
from cnncourse.detection.yolo import yolo_decode, yolo_encode, yolo_loss

__all__ = ["TinyYOLO", "shapes_to_tensors", "encode_targets", "train_detector", "predict"]

STRIDE = 8  # image pixels per grid cell: three stride-2 convolutions


def _block(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out),
            nn.LeakyReLU(0.1)]


class TinyYOLO(nn.Module):
    """Five 3x3 conv-BN-LeakyReLU blocks (three with stride 2) and a 1x1 head (Lecture 07).

    Args:
        C: number of classes (3 for the shapes).
        B: boxes per cell.
        width: channels of the first block (then 2x, 4x, 4x, 4x); 16 gives ~0.1M parameters.

    Input ``(N, 3, H, W)`` with ``H, W`` multiples of 8; output ``(N, S, S, B * 5 + C)`` with
    ``S = H / 8`` (square images), already activated: box and confidence entries in ``(0, 1)``,
    class entries a probability vector.
    """

    def __init__(self, C: int = 3, B: int = 2, *, width: int = 16):
        super().__init__()
        self.C, self.B = check_positive_int("C", C), check_positive_int("B", B)
        w = check_positive_int("width", width)
        self.features = nn.Sequential(*_block(3, w, 2), *_block(w, 2 * w, 2), *_block(2 * w, 4 * w, 2),
                                      *_block(4 * w, 4 * w, 1), *_block(4 * w, 4 * w, 1))
        self.head = nn.Conv2d(4 * w, self.B * 5 + self.C, 1)
        with torch.no_grad():
            self.head.bias.zero_()
            self.head.bias[4:self.B * 5:5] = -4.0  # sigmoid(-4) = 0.018: "no object" at the start
        self.to(memory_format=torch.channels_last)  # ~1.5x faster convolutions on a CPU

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != x.shape[3] or x.shape[2] % STRIDE:
            raise ArgumentError("x", f"images (N, 3, H, H) with H a multiple of {STRIDE}", f"shape {tuple(x.shape)}")
        y = self.head(self.features(x.contiguous(memory_format=torch.channels_last)))  # (N, B*5+C, S, S)
        y = y.permute(0, 2, 3, 1)  # (N, S, S, B*5+C)
        return torch.cat([torch.sigmoid(y[..., : self.B * 5]), torch.softmax(y[..., self.B * 5:], dim=-1)], dim=-1)


def shapes_to_tensors(dataset: Any, indices: Sequence[int] | None = None) -> tuple[torch.Tensor, list[dict]]:
    """Render a :class:`~cnncourse.data.ShapesDataset` into tensors (Lecture 07).

    Args:
        dataset: a ``ShapesDataset`` (anything with ``batch(indices)`` and ``len``).
        indices: samples to render (default all).

    Returns:
        images (Tensor[N, 3, H, W] float32), ground truths (N dicts with ``boxes`` Tensor[K, 4]
        float32 and ``labels`` Tensor[int64, K]).
    """
    idx = list(range(len(dataset))) if indices is None else list(indices)
    b = dataset.batch(idx)
    gts = [{"boxes": torch.from_numpy(np.asarray(bx, dtype=np.float32)).reshape(-1, 4),
            "labels": torch.from_numpy(np.asarray(lb, dtype=np.int64))} for bx, lb in zip(b["boxes"], b["labels"])]
    return torch.from_numpy(b["images"]), gts


def encode_targets(ground_truths: Sequence[Mapping[str, torch.Tensor]], *, image_size: tuple[int, int],
                   S: int, B: int = 2, C: int = 3) -> torch.Tensor:
    """Stack :func:`~cnncourse.detection.yolo_encode` targets of many images (Lecture 07).

    Returns:
        Tensor[N, S, S, B * 5 + C] on the boxes' device and dtype (float32 for an empty list).
    """
    if len(ground_truths) == 0:
        return torch.zeros(0, S, S, B * 5 + C)
    return torch.stack([yolo_encode(g["boxes"], g["labels"], image_size=image_size, S=S, B=B, C=C)
                        for g in ground_truths])


def train_detector(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, *, epochs: int = 8,
                   batch_size: int = 64, max_lr: float = 1e-2, loss_fn: Callable | None = None,
                   seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """Train a grid detector in place with Adam and a one-cycle schedule; leave it in eval mode (Lecture 07).

    Args:
        model: maps ``(n, 3, H, W)`` to ``(n, S, S, B * 5 + C)``; trained on its parameters' device.
        images (Tensor[N, 3, H, W]): training images.
        targets (Tensor[N, S, S, B * 5 + C]): from :func:`encode_targets`.
        epochs, batch_size: passes over the data (shuffled with ``seed``) and mini-batch size.
        max_lr: peak learning rate of ``OneCycleLR``.
        loss_fn: ``loss_fn(pred, target) -> scalar``; default ``yolo_loss`` with the model's B, C.
        progress: show a tqdm progress bar (stderr) with the running loss.

    Returns:
        dict with ``losses`` (one float per step), ``epoch_losses`` (mean per epoch) and ``seconds``.
    """
    from tqdm import tqdm

    check_tensor("images", images, ndim=4, floating=True)
    check_tensor("targets", targets, ndim=4, floating=True)
    if targets.shape[0] != images.shape[0]:
        raise ArgumentError("targets", f"one grid per image, {images.shape[0]} like `images`", f"{targets.shape[0]}")
    epochs, batch_size = check_positive_int("epochs", epochs), check_positive_int("batch_size", batch_size)
    if loss_fn is None:
        B = getattr(model, "B", 2)
        C = getattr(model, "C", targets.shape[-1] - 5 * B)
        loss_fn = lambda p, t: yolo_loss(p, t, B=B, C=C)  # noqa: E731
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    n = images.shape[0]
    per_epoch = -(-n // batch_size)
    opt = torch.optim.Adam(model.parameters(), lr=max_lr / 25)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=epochs * per_epoch)
    losses: list[float] = []
    model.train()
    start = time.perf_counter()
    bar = tqdm(total=epochs * per_epoch, disable=not progress, file=sys.stderr, unit="step", mininterval=0.5)
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            loss = loss_fn(model(images[idx].to(device)), targets[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{losses[-1]:.3f}", refresh=False)
    bar.close()
    model.eval()
    epoch_losses = [float(np.mean(losses[e * per_epoch:(e + 1) * per_epoch])) for e in range(epochs)]
    return {"losses": losses, "epoch_losses": epoch_losses, "seconds": time.perf_counter() - start}


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, *, score_threshold: float = 0.01,
            iou_threshold: float = 0.5, max_detections: int = 100, batch_size: int = 256,
            B: int | None = None, C: int | None = None) -> list[dict]:
    """Run a grid detector, decode its boxes and apply class-wise NMS (Lecture 07).

    Each of the ``S * S * B`` boxes gets the class of highest class-specific confidence
    (``confidence * P(class | object)``) and that score; boxes scoring below ``score_threshold``
    are dropped, the rest are clipped to the image and pass through
    :func:`~cnncourse.detection.batched_nms`; the ``max_detections`` best are kept.

    Args:
        model: maps ``(n, 3, H, W)`` to ``(n, S, S, B * 5 + C)``.
        images (Tensor[N, 3, H, W]): images (moved to the model's device in batches).
        score_threshold, iou_threshold, max_detections: as above.
        batch_size: images per forward pass.
        B, C: boxes per cell and classes (default: the model's ``B`` and ``C`` attributes).

    Returns:
        N dicts with ``boxes`` (Tensor[K, 4]), ``scores`` (Tensor[K]) and ``labels`` (Tensor[int64, K]),
        on the CPU, by decreasing score.
    """
    check_tensor("images", images, ndim=4, floating=True)
    B = check_positive_int("B", B if B is not None else getattr(model, "B", None) or 0)
    C = check_positive_int("C", C if C is not None else getattr(model, "C", None) or 0)
    h, w = images.shape[-2:]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    for s in range(0, images.shape[0], batch_size):
        pred = model(images[s:s + batch_size].to(device))  # (n, S, S, B*5+C)
        boxes, _, class_scores = yolo_decode(pred, image_size=(h, w), B=B, C=C)  # (n, S*S*B, 4), (n, S*S*B, C)
        scores, labels = class_scores.max(dim=-1)  # (n, S*S*B)
        lo, hi = torch.minimum(boxes[..., :2], boxes[..., 2:]), torch.maximum(boxes[..., :2], boxes[..., 2:])
        boxes = clip_boxes(torch.cat([lo, hi], dim=-1), (h, w))
        for b, sc, lab in zip(boxes, scores, labels):
            keep = sc >= score_threshold
            b, sc, lab = b[keep], sc[keep], lab[keep]
            k = batched_nms(b, sc, lab, iou_threshold)[:max_detections]
            out.append({"boxes": b[k].cpu(), "scores": sc[k].cpu(), "labels": lab[k].cpu()})
    model.train(was_training)
    return out
