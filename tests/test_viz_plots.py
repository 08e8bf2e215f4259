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


def _panels(fig):
    """The image panels of a figure (colour bars excluded)."""
    return [a for a in fig.axes if not hasattr(a, "_colorbar")]


def test_show_images_grid_and_rgb():
    """Are images laid out in ncols columns, extra axes removed, RGB shown in colour and unscaled?"""
    rgb = np.random.default_rng(0).uniform(size=(4, 5, 3))
    fig = show_images([np.zeros((3, 3)), rgb, np.ones((2, 4))], titles=["a", "b", "c"], ncols=2)
    panels = _panels(fig)
    assert len(panels) == 3 and [a.get_title() for a in panels] == ["a", "b", "c"]
    np.testing.assert_array_equal(panels[1].images[0].get_array(), rgb)  # in [0, 1]: shown as is
    assert len(fig.axes) == 5  # the two grey panels have colour bars, the RGB one has none
    fig = show_images([rgb * 2 - 1], titles=["signed"])
    assert _panels(fig)[0].get_title() == "signed (rescaled to [0, 1])"
    with pytest.raises(ValueError, match=r"`titles` expected 3 titles"):
        show_images([np.zeros((3, 3))] * 3, titles=["x"])
    with pytest.raises(ValueError, match=r"`images\[0\]` expected an \(H, W\)"):
        show_images([np.zeros((2, 3, 4, 5))])


def test_show_feature_maps_and_filters():
    """One panel per channel / per (filter, channel), titled, with annotated filter weights?"""
    fig = show_feature_maps(np.zeros((1, 3, 4, 4)))
    assert [a.get_title() for a in _panels(fig)] == ["map 0", "map 1", "map 2"]
    w = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)
    fig = show_filters(w)
    panels = _panels(fig)
    assert len(panels) == 6 and panels[4].get_title() == "filter 1, channel 1"
    assert _texts(panels[4]) == [f"{v:g}" for v in w[1, 1].ravel()]
    assert all(a.images[0].colorbar is not None for a in panels)  # diverging: colour bar each
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


def test_show_matrix_hatches_padding_distinctly():
    """Are padding cells hatched with grey italic numbers, unlike the real zeros inside?"""
    x = np.pad(np.array([[0.0, 1.0], [2.0, 0.0]]), 1)  # real zeros inside, padding zeros around
    ax = show_matrix(x, padding=1)
    pads = [p for p in ax.patches if p.get_gid() == "padding"]
    assert len(pads) == 12 and all(p.get_hatch() for p in pads)
    assert {(int(p.get_x() + 0.5), int(p.get_y() + 0.5)) for p in pads} == \
        {(c, r) for r in range(4) for c in range(4) if r in (0, 3) or c in (0, 3)}
    styles = {(int(t.get_position()[1]), int(t.get_position()[0])): t.get_style() for t in ax.texts}
    assert styles[(1, 1)] == "normal" and styles[(0, 0)] == "italic"  # real 0 vs padding 0
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["zero padding"]
    with pytest.raises(ValueError, match="`padding` expected a ring thinner"):
        show_matrix(np.zeros((2, 2)), padding=1)


def test_diverging_maps_are_symmetric_with_colour_bar():
    """Does a diverging map get a colour bar and limits symmetric about 0, a sequential one not?"""
    a = np.array([[-1.0, 0.5], [3.0, 0.0]])
    ax = show_matrix(a, cmap="RdBu_r")
    (im,) = ax.images
    assert im.get_clim() == (-3.0, 3.0) and im.colorbar is not None
    ax = show_matrix(a, cmap="Blues")
    assert ax.images[0].get_clim() == (-1.0, 3.0) and ax.images[0].colorbar is None
    ax = show_matrix(a, cmap="Blues", annotate=False)  # no numbers: a colour bar to read values
    assert ax.images[0].colorbar is not None


def test_show_images_per_panel_cmaps_and_labels():
    """Can each panel have its own colour map and colour-bar label, with the count checked?"""
    fig = show_images([np.ones((3, 3)), -np.ones((3, 3))], cmap=["gray", "RdBu_r"],
                      cbar_label=["intensity", "response"])
    ims = [a.images[0] for a in _panels(fig)]
    assert [im.get_cmap().name for im in ims] == ["gray", "RdBu_r"]
    assert [im.colorbar.ax.get_ylabel() for im in ims] == ["intensity", "response"]
    assert ims[1].get_clim() == (-1.0, 1.0)
    with pytest.raises(ValueError, match="`cmap` expected one colour map or 2"):
        show_images([np.ones((3, 3))] * 2, cmap=["gray"])


def test_compare_with_slide_labels_columns_truthfully(capsys):
    """Are the columns titled computed | slide | corrected, or as the caller names them?"""
    c = compare_with_slide("P=1, S=2", [6, 17, 3], [6, 14, 17], expect_match=False,
                           corrected=[6, 17, 3])
    header = c.text.splitlines()[1]
    assert [h.strip() for h in header.split("|")] == ["computed", "slide", "corrected"]
    assert c.labels == ("computed", "slide", "corrected")
    c = compare_with_slide("formula", [1, 2], [3, 4], expect_match=False,
                           labels=("layer", "slide's formula"))
    assert [h.strip() for h in c.text.splitlines()[1].split("|")] == ["layer", "slide's formula"]
    with pytest.raises(AssertionError, match="to equal the corrected values"):
        compare_with_slide("bad fix", [6, 17, 3], [6, 14, 17], expect_match=False, corrected=[6, 17, 4],
                           verbose=False)
    with pytest.raises(ValueError, match="`corrected` expected None when the slide is right"):
        compare_with_slide("x", [1], [1], corrected=[1])
    with pytest.raises(ValueError, match="`labels` expected 2 column titles"):
        compare_with_slide("x", [1], [1], labels=("a", "b", "c"))
    capsys.readouterr()


def test_compare_with_slide_displays_nothing_at_the_end_of_a_cell(capsys):
    """Does the returned check print no stray line when it is a notebook cell's last value?"""
    from IPython.core.formatters import DisplayFormatter

    check = compare_with_slide("conv", [1, 2], [1, 2])
    capsys.readouterr()
    data, _ = DisplayFormatter().format(check)  # what Jupyter would show as Out[...]
    assert data == {}
    assert capsys.readouterr().out == ""
    assert repr(check) == "SlideCheck('conv': match)"  # print(check) stays short
