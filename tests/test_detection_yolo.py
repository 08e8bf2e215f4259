"""YOLO v1 encode/decode/loss and draw_boxes."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from cnncourse.detection import draw_boxes, yolo_decode, yolo_encode, yolo_loss

matplotlib.use("Agg")


def test_voc_target_shape_and_round_trip():
    """7x7x30 for VOC, and decoding the target gives back the boxes in the responsible cells."""
    boxes = torch.tensor([[10.0, 20, 110, 220], [300, 50, 440, 90], [0, 0, 447, 447]], dtype=torch.float64)
    labels = torch.tensor([3, 19, 0])
    t = yolo_encode(boxes, labels, image_size=(448, 448))
    assert t.shape == (7, 7, 30)
    # centre (60, 120) -> row 1, column 0 with offsets (60/64, 120/64 - 1)
    torch.testing.assert_close(t[1, 0, :5], torch.tensor([60 / 64, 120 / 64 - 1, 100 / 448, 200 / 448, 1],
                                                         dtype=torch.float64))
    assert t[1, 0, 10 + 3] == 1 and t[1, 0, 10:].sum() == 1
    assert int((t[..., 4] > 0).sum()) == 3
    dec, conf, scores = yolo_decode(t, image_size=(448, 448))
    assert dec.shape == (98, 4) and conf.shape == (98,) and scores.shape == (98, 20)
    got = dec[conf > 0]  # two slots per responsible cell, row-major cell order
    order = [0, 0, 1, 1, 2, 2]  # cells (1,0), (1,5), (3,3)
    torch.testing.assert_close(got, boxes[order], rtol=0, atol=1e-12)
    assert scores[conf > 0].argmax(1).tolist() == [3, 3, 19, 19, 0, 0]


def test_one_object_per_cell_first_wins():
    """Two centres in one cell: the first box in input order is kept."""
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 9, 9]])
    t = yolo_encode(boxes, torch.tensor([1, 2]), image_size=(70, 70), S=7, B=1, C=3)
    assert t.shape == (7, 7, 8)
    assert t[0, 0, 5:].tolist() == [0, 1, 0] and int((t[..., 4] > 0).sum()) == 1


def yolo_loss_loop(pred, target, B, C, lc, ln):
    """Slow reference of the YOLO v1 loss, cell by cell (rescore: IoU confidence target)."""
    n, S = pred.shape[:2]
    total = 0.0
    for b in range(n):
        for i in range(S):
            for j in range(S):
                p, t = pred[b, i, j], target[b, i, j]
                if t[4] > 0:
                    ious = []
                    for k in range(B):
                        x, y, w, h = p[5 * k: 5 * k + 4]
                        tx, ty, tw, th = t[:4]
                        a = (x / S - w / 2, y / S - h / 2, x / S + w / 2, y / S + h / 2)
                        g = (tx / S - tw / 2, ty / S - th / 2, tx / S + tw / 2, ty / S + th / 2)
                        iw = max(0, min(a[2], g[2]) - max(a[0], g[0]))
                        ih = max(0, min(a[3], g[3]) - max(a[1], g[1]))
                        inter = iw * ih
                        ious.append(inter / (abs(w * h) + tw * th - inter))
                    r = int(np.argmax(ious))
                    x, y, w, h, c = p[5 * r: 5 * r + 5]
                    sq = lambda v: np.sign(v) * np.sqrt(abs(v) + 1e-9)
                    total += lc * ((x - t[0]) ** 2 + (y - t[1]) ** 2 + (sq(w) - sq(t[2])) ** 2 + (sq(h) - sq(t[3])) ** 2)
                    total += (c - ious[r]) ** 2
                    total += ln * sum(p[5 * k + 4] ** 2 for k in range(B) if k != r)
                    total += sum((p[5 * B + m] - t[5 * B + m]) ** 2 for m in range(C))
                else:
                    total += ln * sum(p[5 * k + 4] ** 2 for k in range(B))
    return total / n


def test_yolo_loss_matches_loop_and_hand_value(rng):
    """The loss equals the cell-by-cell loop; a perfect prediction costs only the noobj slot."""
    targets = []
    for _ in range(2):
        xy = rng.uniform(0, 300, (4, 2))
        boxes = torch.tensor(np.c_[xy, xy + rng.uniform(10, 140, (4, 2))])
        targets.append(yolo_encode(boxes, torch.tensor(rng.integers(0, 5, 4)), image_size=(448, 448), C=5))
    target = torch.stack(targets)  # (2, 7, 7, 15)
    pred = target + 0.1 * torch.tensor(rng.standard_normal(target.shape))
    got = yolo_loss(pred, target, C=5)
    want = yolo_loss_loop(pred.numpy(), target.numpy(), 2, 5, 5.0, 0.5)
    assert got.item() == pytest.approx(want, rel=1e-10)
    n_obj = int((target[..., 4] > 0).sum())
    assert yolo_loss(target, target, C=5).item() == pytest.approx(0.5 * n_obj / 2, rel=1e-6)
    pred.requires_grad_(True)
    yolo_loss(pred, target, C=5).backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


def test_yolo_bad_input():
    """Bad labels, shapes and NaN predictions raise ValueError."""
    with pytest.raises(ValueError, match=r"classes in \[0, 20\)"):
        yolo_encode(torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([20]), image_size=(10, 10))
    with pytest.raises(ValueError, match="one label per box"):
        yolo_encode(torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([1, 2]), image_size=(10, 10))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., S, S, 30\)"):
        yolo_decode(torch.zeros(7, 7, 29), image_size=(10, 10))
    bad = torch.zeros(1, 7, 7, 30)
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="`pred` expected finite"):
        yolo_loss(bad, torch.zeros(1, 7, 7, 30))
    assert yolo_encode(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), image_size=(9, 9)).abs().sum() == 0


def test_draw_boxes_adds_one_patch_and_caption_per_box():
    """One rectangle and one 'name score' caption per box."""
    import matplotlib.pyplot as plt
    ax = draw_boxes(torch.rand(3, 20, 30), torch.tensor([[1.0, 2, 10, 12], [5, 5, 25, 18]]),
                    labels=torch.tensor([0, 1]), scores=torch.tensor([0.9, 0.25]), class_names=["cat", "dog"])
    assert len(ax.patches) == 2
    assert [t.get_text() for t in ax.texts] == ["cat 0.90", "dog 0.25"]
    assert ax.patches[1].get_width() == 20 and ax.patches[1].get_height() == 13
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="`labels` expected 2 entries"):
        draw_boxes(np.zeros((5, 5)), torch.zeros(2, 4), labels=[1])
