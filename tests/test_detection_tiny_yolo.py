"""TinyYOLO, its data helpers, training loop and prediction: shapes, an oracle model, a short training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cnncourse.data import ShapesDataset
from cnncourse.detection import (TinyYOLO, batched_nms, encode_targets, evaluate_voc, predict,
                                 shapes_to_tensors, train_detector, yolo_encode, yolo_loss)


class OracleGrid(nn.Module):
    """A 'model' that returns given target grids: predict() must give back the ground truth."""

    def __init__(self, grids, B, C):
        super().__init__()
        self.grids, self.B, self.C = grids, B, C
        self.dummy = nn.Parameter(torch.zeros(1))
        self.seen = 0

    def forward(self, x):
        out = self.grids[self.seen:self.seen + len(x)]
        self.seen += len(x)
        return out


@pytest.fixture(scope="module")
def small():
    return shapes_to_tensors(ShapesDataset(40, seed=3))


def test_tiny_yolo_output_layout():
    """(N, S, S, B*5+C) with S = H/8; box entries in (0, 1), class entries a distribution."""
    torch.manual_seed(0)
    m = TinyYOLO(C=3, B=2, width=8)
    out = m(torch.rand(2, 3, 64, 64))
    assert out.shape == (2, 8, 8, 13)
    assert bool(((out[..., :10] > 0) & (out[..., :10] < 1)).all())
    torch.testing.assert_close(out[..., 10:].sum(-1), torch.ones(2, 8, 8))
    assert float(out[..., 4].detach().max()) < 0.1  # confidence bias -4: "no object" at the start
    assert TinyYOLO(C=5, B=1)(torch.rand(1, 3, 32, 32)).shape == (1, 4, 4, 10)
    with pytest.raises(ValueError, match=r"`x` expected images \(N, 3, H, H\)"):
        m(torch.rand(1, 3, 60, 60))
    with pytest.raises(ValueError, match="`C` expected an integer >= 1"):
        TinyYOLO(C=0)


def test_shapes_to_tensors_and_encode_targets(small):
    """Tensors equal the dataset's samples; targets are yolo_encode stacked."""
    images, gts = small
    ds = ShapesDataset(40, seed=3)
    s = ds[7]
    np.testing.assert_array_equal(images[7].numpy(), s["image"])
    np.testing.assert_array_equal(gts[7]["boxes"].numpy(), s["boxes"])
    assert gts[7]["labels"].dtype == torch.int64 and gts[7]["labels"].tolist() == s["labels"].tolist()
    t = encode_targets(gts, image_size=(64, 64), S=8, B=2, C=3)
    assert t.shape == (40, 8, 8, 13)
    torch.testing.assert_close(t[7], yolo_encode(gts[7]["boxes"], gts[7]["labels"], image_size=(64, 64), S=8, C=3))
    assert encode_targets([], image_size=(64, 64), S=8).shape == (0, 8, 8, 13)
    sub_images, sub = shapes_to_tensors(ds, [3, 7])
    assert sub_images.shape == (2, 3, 64, 64) and torch.equal(sub[1]["boxes"], gts[7]["boxes"])


def test_predict_on_oracle_grids_gives_back_the_ground_truth(small):
    """Decoding a perfect grid, with both slots of a cell holding the box, keeps one box per object."""
    images, gts = small
    grids = encode_targets(gts, image_size=(64, 64), S=8, B=2, C=3)
    preds = predict(OracleGrid(grids, 2, 3), images, batch_size=16)
    assert len(preds) == 40
    n_obj = int((grids[..., 4] > 0).sum())  # objects whose cell they own (one per cell)
    assert sum(len(p["boxes"]) for p in preds) == n_obj
    for p, g, t in zip(preds, gts, grids):
        assert bool((p["scores"] == 1).all())
        cells = [(int((b[1] + b[3]) / 16), int((b[0] + b[2]) / 16)) for b in g["boxes"].tolist()]
        own = torch.tensor([c not in cells[:k] for k, c in enumerate(cells)])  # first box of its cell
        got = sorted(map(tuple, torch.cat([p["boxes"], p["labels"][:, None].float()], 1).tolist()))
        want = sorted(map(tuple, torch.cat([g["boxes"][own], g["labels"][own][:, None].float()], 1).tolist()))
        np.testing.assert_allclose(got, want, atol=1e-4)
    res = evaluate_voc(preds, [{"boxes": g["boxes"], "labels": g["labels"]} for g in gts], num_classes=3)
    assert res.mAP > 0.95  # only objects that share a cell are missed


def test_predict_thresholds_and_nms():
    """score_threshold drops weak boxes; the result equals batched NMS of the decoded boxes."""
    torch.manual_seed(1)
    m = TinyYOLO(width=4)
    x = torch.rand(3, 3, 32, 32)
    preds = predict(m, x, score_threshold=0.0, iou_threshold=0.3, max_detections=1000)
    assert m.training is True  # mode restored
    for p in preds:
        assert bool((p["boxes"][:, :2] <= p["boxes"][:, 2:]).all())
        assert bool((p["boxes"] >= 0).all() and (p["boxes"] <= 32).all())
        assert batched_nms(p["boxes"], p["scores"], p["labels"], 0.3).tolist() == list(range(len(p["scores"])))
        assert bool((p["scores"][:-1] >= p["scores"][1:]).all())
    assert all(len(p["boxes"]) == 0 for p in predict(m, x, score_threshold=1.0))
    assert all(len(p["boxes"]) <= 2 for p in predict(m, x, score_threshold=0.0, max_detections=2))
    plain = torch.nn.Sequential(m)  # no B, C attributes: they must be given
    with pytest.raises(ValueError, match="`B` expected an integer >= 1"):
        predict(plain, x)
    assert [len(p["boxes"]) for p in predict(plain, x, B=2, C=3)] == [len(p["boxes"]) for p in predict(m, x)]


def test_train_detector_reduces_the_loss_and_shows_progress(small, capsys):
    """A few epochs on 40 images lower the YOLO loss; the bar runs to 100%; eval mode at the end."""
    images, gts = small
    targets = encode_targets(gts, image_size=(64, 64), S=8)
    torch.manual_seed(0)
    m = TinyYOLO(width=8)
    with torch.no_grad():
        before = float(yolo_loss(m.eval()(images), targets, C=3))
    hist = train_detector(m, images, targets, epochs=8, batch_size=8, max_lr=2e-2)
    assert "100%" in capsys.readouterr().err
    assert len(hist["losses"]) == 40 and len(hist["epoch_losses"]) == 8 and hist["seconds"] > 0
    assert m.training is False
    with torch.no_grad():
        after = float(yolo_loss(m(images), targets, C=3))
    assert after < 0.5 * before
    # a custom loss is used when given
    calls = []
    train_detector(m, images[:4], targets[:4], epochs=1, batch_size=4, progress=False,
                   loss_fn=lambda p, t: calls.append(1) or ((p - t) ** 2).sum())
    assert calls == [1]
    assert capsys.readouterr().err == ""
    with pytest.raises(ValueError, match="`targets` expected one grid per image"):
        train_detector(m, images, targets[:3])


def test_short_training_detects_shapes_on_a_held_out_split():
    """300 images x 4 epochs already find many shapes of another seed (VOC mAP@0.5 > 0.3; 0.56 seen)."""
    torch.manual_seed(0)
    images, gts = shapes_to_tensors(ShapesDataset(300, seed=0))
    test_images, test_gts = shapes_to_tensors(ShapesDataset(60, seed=1))
    m = TinyYOLO(width=16)
    train_detector(m, images, encode_targets(gts, image_size=(64, 64), S=8), epochs=4, batch_size=32,
                   progress=False)
    assert evaluate_voc(predict(m, test_images), test_gts, num_classes=3).mAP > 0.3
