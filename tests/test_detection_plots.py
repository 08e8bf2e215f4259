"""Detection figures and teaching aids: draw_iou, draw_grid, show_detections, plot_pr_curve, nms_steps."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from cnncourse.detection import (box_iou, draw_boxes, draw_grid, draw_iou, nms, nms_steps, plot_pr_curve,
                                 precision_recall, show_detections, voc_ap)

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_draw_iou_shades_the_intersection_and_titles_the_iou():
    """Two boxes + the intersection patch, title = box_iou, legend with three entries."""
    a, b = torch.tensor([10.0, 10, 50, 40]), torch.tensor([30.0, 20, 70, 60])
    ax = draw_iou(a, b, names=("prediction", "ground truth"))
    want = float(box_iou(a[None], b[None])[0, 0])
    assert ax.get_title() == f"IoU = {want:.3f}"
    assert len(ax.patches) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["prediction", "ground truth",
                                                                   "prediction \u2229 ground truth"]
    inter = ax.patches[2]
    assert (inter.get_x(), inter.get_y(), inter.get_width(), inter.get_height()) == (30, 20, 20, 20)
    ax = draw_iou(a, torch.tensor([60.0, 0, 70, 5]))  # disjoint: no intersection patch
    assert len(ax.patches) == 2 and ax.get_title() == "IoU = 0.000"
    with pytest.raises(ValueError, match="x1 <= x2"):
        draw_iou(torch.tensor([5.0, 0, 1, 1]), b)


def test_draw_grid_lines_and_labels():
    """S + 1 horizontal and S + 1 vertical lines at multiples of the cell size."""
    _, ax = plt.subplots()
    draw_grid(ax, (448, 448), 7, label_cells=True)
    assert len(ax.lines) == 16 and len(ax.texts) == 49
    assert sorted({round(l.get_ydata()[0], 6) for l in ax.lines if l.get_ydata()[0] == l.get_ydata()[1]}) == \
        [64.0 * k for k in range(8)]


def test_show_detections_draws_predictions_above_threshold_and_dashed_ground_truth():
    """One Axes per image; patches = ground truth + predictions scoring >= threshold; captions."""
    images = torch.rand(3, 3, 32, 32)
    gts = [{"boxes": torch.tensor([[1.0, 1, 10, 10]]), "labels": torch.tensor([0])}] * 3
    preds = [{"boxes": torch.tensor([[1.0, 1, 11, 10], [20, 20, 30, 30]]), "scores": torch.tensor([0.9, 0.2]),
              "labels": torch.tensor([0, 2])}] * 3
    fig = show_detections(images, preds, gts, class_names=["circle", "square", "triangle"], ncols=2,
                          score_threshold=0.3, titles=["a", "b", "c"])
    axes = fig.axes
    assert len(axes) == 4 and not axes[3].axison  # 2 x 2 grid, the last one empty
    assert len(axes[0].patches) == 2 and axes[0].patches[0].get_linestyle() == "--"
    assert [t.get_text() for t in axes[0].texts] == ["circle 0.90"] and axes[1].get_title() == "b"
    with pytest.raises(ValueError, match="3 dicts"):
        show_detections(images, preds[:2])


def test_plot_pr_curve_legend_gives_both_aps():
    """The legend states voc_ap's all-point and 11-point values; the shaded area is the envelope."""
    tp = torch.tensor([True, True, False, True, False, False, True, False])
    scores = torch.linspace(1, 0.3, 8, dtype=torch.float64)
    prec, rec = precision_recall(scores, tp, 5)
    ax = plot_pr_curve(prec, rec, title="class 0")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["P-R after each detection", f"all-point area: AP = {float(voc_ap(rec, prec)):.3f}",
                      f"11-point precisions: AP = {float(voc_ap(rec, prec, use_07_metric=True)):.3f}"]
    assert ax.get_xlabel() == "recall" and ax.get_ylabel() == "precision" and ax.get_title() == "class 0"
    # hand values: precisions 1, 1, 2/3, 3/4, 3/5, 1/2, 4/7, 1/2 at recalls .2 .4 .4 .6 .6 .6 .8 .8
    assert float(voc_ap(rec, prec)) == pytest.approx(0.2 + 0.2 + 0.2 * 0.75 + 0.2 * 4 / 7)


def test_nms_steps_replays_nms(rng):
    """The kept boxes of the steps, in order, are nms's result; each step lists IoUs and removals."""
    for thr in (0.0, 0.3, 0.7):
        xy = rng.uniform(0, 40, (25, 2))
        b = torch.tensor(np.round(np.c_[xy, xy + rng.uniform(0, 20, (25, 2))]))
        s = torch.tensor(np.round(rng.random(25), 1))
        steps = nms_steps(b, s, thr)
        assert [st["keep"] for st in steps] == nms(b, s, thr).tolist()
        for st in steps:
            iou = box_iou(b[st["keep"]][None], b[st["remaining"]])[0].tolist() if st["remaining"] else []
            assert st["iou"] == pytest.approx(iou)
            assert st["suppressed"] == [i for i, v in zip(st["remaining"], iou) if v > thr]
    b = torch.tensor([[0.0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30]])
    steps = nms_steps(b, torch.tensor([0.8, 0.9, 0.5]), 0.5)
    assert [(st["keep"], st["suppressed"]) for st in steps] == [(1, [0]), (2, [])]
    assert steps[0]["iou"] == pytest.approx([9 / 11, 0.0])
    assert nms_steps(torch.zeros(0, 4), torch.zeros(0), 0.5) == []


def test_draw_boxes_without_image_and_with_one_colour():
    """image=None draws on the Axes as it is; color and linestyle reach every rectangle."""
    _, ax = plt.subplots()
    draw_boxes(None, torch.tensor([[1.0, 1, 5, 5], [2, 2, 8, 8]]), ax=ax, color="white", linestyle="--")
    assert len(ax.images) == 0 and len(ax.patches) == 2
    assert all(p.get_linestyle() == "--" and p.get_edgecolor() == (1, 1, 1, 1) for p in ax.patches)
