"""Tests of cnncourse.viz plots, pooling figures and the slide-check helper (Agg backend)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from cnncourse.layers import max_pool2d_backward, max_pool2d_forward  # noqa: E402
from cnncourse.viz import (compare_with_slide, draw_gradient_routes, draw_pool_step,  # noqa: E402
                           pool_window_boxes, show_feature_maps, show_filters, show_images,
                           show_matrix)

X5 = np.array([[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]],
              dtype=np.float64)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _texts(ax):
    return [t.get_text() for t in ax.texts]


def test_show_matrix_annotates_every_entry():
    """Is every entry written in its cell, formatted, row-major, with the highlight box placed?"""
    ax = show_matrix(np.array([[1.0, 2.5], [3.0, -4.0]]), fmt="{:.1f}", title="m",
                     highlight=[(0, 1, 2, 2)])
    assert _texts(ax) == ["1.0", "2.5", "3.0", "-4.0"]
    assert [t.get_position() for t in ax.texts][1] == (1, 0)  # (x=col, y=row)
    (rect,) = ax.patches
    assert rect.get_xy() == (0.5, -0.5) and rect.get_height() == 2 and ax.get_title() == "m"


def test_show_matrix_accepts_tensors_and_rejects_3d():
    """Does show_matrix take a torch tensor, and reject a 3-D array with a named error?"""
    ax = show_matrix(torch.arange(4.0).reshape(2, 2))
    assert _texts(ax) == ["0", "1", "2", "3"]
    with pytest.raises(ValueError, match="`a` expected a 2-D array"):
        show_matrix(np.zeros((2, 2, 2)))


def test_show_images_grid_and_rgb():
    """Are images laid out in ncols columns, extra axes removed, RGB shown in colour?"""
    rgb = np.random.default_rng(0).uniform(size=(4, 5, 3))
    fig = show_images([np.zeros((3, 3)), rgb, np.ones((2, 4))], titles=["a", "b", "c"], ncols=2)
    assert len(fig.axes) == 3 and [a.get_title() for a in fig.axes] == ["a", "b", "c"]
    assert fig.axes[1].images[0].get_array().shape == (4, 5, 3)
    with pytest.raises(ValueError, match=r"`titles` expected 3 titles"):
        show_images([np.zeros((3, 3))] * 3, titles=["x"])
    with pytest.raises(ValueError, match=r"`images\[0\]` expected an \(H, W\)"):
        show_images([np.zeros((2, 3, 4, 5))])


def test_show_feature_maps_and_filters():
    """One panel per channel / per (filter, channel), titled, with annotated filter weights?"""
    fig = show_feature_maps(np.zeros((1, 3, 4, 4)))
    assert [a.get_title() for a in fig.axes] == ["map 0", "map 1", "map 2"]
    w = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)
    fig = show_filters(w)
    assert len(fig.axes) == 6 and fig.axes[4].get_title() == "filter 1, channel 1"
    assert _texts(fig.axes[4]) == [f"{v:g}" for v in w[1, 1].ravel()]
    with pytest.raises(ValueError, match="`w` expected a 4-D filter bank"):
        show_filters(np.zeros((3, 3)))


def test_pool_window_boxes_match_layer_output_count():
    """Does every window box correspond to one output of max_pool2d_forward, with its max inside?"""
    out, _ = max_pool2d_forward(X5[None, None], 3, 1)
    boxes = pool_window_boxes(X5.shape, 3, 1)
    assert len(boxes) == out[0, 0].size
    for (r0, c0, r1, c1), v in zip(boxes, out[0, 0].ravel()):
        assert X5[r0:r1, c0:c1].max() == v
    assert pool_window_boxes((5, 5), 2) == [(0, 0, 2, 2), (0, 2, 2, 4), (2, 0, 4, 2), (2, 2, 4, 4)]
    with pytest.raises(ValueError, match="`kernel_size` expected a window that fits"):
        pool_window_boxes((2, 2), 3)


def test_draw_pool_step_and_gradient_routes():
    """Do the pooling figures outline the chosen window / output cell and the pixels given gradient?"""
    out, cache = max_pool2d_forward(X5[None, None], 3, 1)
    fig = draw_pool_step(X5, out[0, 0], 3, 1, index=5)
    assert fig.axes[0].patches[0].get_xy() == (1.5, 0.5)  # window 5 = output (1, 2): rows 1-3, cols 2-4
    assert fig.axes[1].patches[0].get_xy() == (1.5, 0.5)
    with pytest.raises(ValueError, match="`index` expected an output index"):
        draw_pool_step(X5, out[0, 0], 3, 1, index=9)
    dx = max_pool2d_backward(np.ones_like(out), cache)[0, 0]
    fig = draw_gradient_routes(X5, np.ones((3, 3)), dx, title="max")
    assert len(fig.axes[2].patches) == np.count_nonzero(dx)


def test_compare_with_slide_passes_and_fails_as_stated(capsys):
    """Does the check print both arrays, pass when the outcome is as stated, and raise otherwise?"""
    c = compare_with_slide("conv", [[12.0, 12], [10, 17]], [[12, 12], [10, 17]])
    assert c.match and "MATCH" in capsys.readouterr().out
    c = compare_with_slide("mean", [1.6667, 1.04], [1.7, 1.0], decimals=1)
    assert c.match and "1.7" in c.text
    c = compare_with_slide("slide error", [6, 17, 3], [6, 14, 17], expect_match=False)
    assert not c.match and "the slide is wrong" in c.text
    with pytest.raises(AssertionError, match="expected the computed result to match"):
        compare_with_slide("wrong lib", [1, 2], [1, 3], verbose=False)
    with pytest.raises(AssertionError, match="to differ from the slide"):
        compare_with_slide("not an error", [1, 2], [1, 2], expect_match=False, verbose=False)
    with pytest.raises(AssertionError, match="shapes differ"):
        compare_with_slide("shape", np.zeros((2, 2)), np.zeros(4), verbose=False)
