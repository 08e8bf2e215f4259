"""The one-call FCN recipe reaches the promised held-out mean IoU (slow: about 30 s of CPU time)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnncourse.segmentation import FCN, train_shapes_fcn


@pytest.mark.slow
def test_train_shapes_fcn_reaches_mean_iou_08():
    """Does the default recipe give held-out mean IoU >= 0.8 with every shape class >= 0.7?"""
    out = train_shapes_fcn()
    scores = out["scores"]
    assert scores["mean_iou"] >= 0.8, scores["iou"]
    assert (scores["iou"] >= 0.7).all(), scores["iou"]
    assert isinstance(out["model"], FCN) and not out["model"].training


def test_train_shapes_fcn_runs_small(device):
    """A tiny configuration runs end to end on every device and returns consistent parts."""
    out = train_shapes_fcn(num_train=40, num_val=10, image_size=16, steps=3, width=4, depth=2, batch_size=8,
                           device=device)
    assert out["history"]["steps"] == 3 and out["scores"]["cm"].sum() == 10 * 16 * 16
    assert next(out["model"].parameters()).device.type == device
    assert np.isfinite(out["history"]["losses"]).all() and out["seconds"] > 0
    assert out["scores"]["pred"].dtype == torch.int64
