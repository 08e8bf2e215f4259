"""Tests of the convolution explorer: the pure update function and the widget wiring (no browser)."""

from __future__ import annotations

import html
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from cnncourse.viz.conv_explorer import conv_explorer, draw_explorer, explore_conv  # noqa: E402


def _torch_window_taps(size, kernel, stride, padding, dilation, row, col):
    """Oracle for the taps: which padded pixels does output (row, col) of torch's conv2d read?

    Use a one-hot probe per padded pixel: the output at (row, col) changes iff the pixel is a tap.
    """
    padded = size + 2 * padding
    taps = set()
    w = torch.ones(1, 1, kernel, kernel, dtype=torch.float64)
    for r in range(padded):
        for c in range(padded):
            x = torch.zeros(1, 1, padded, padded, dtype=torch.float64)
            x[0, 0, r, c] = 1
            out = F.conv2d(x, w, stride=stride, dilation=dilation)
            if out[0, 0, row, col] != 0:
                taps.add((r, c))
    return taps


@pytest.mark.parametrize("size,kernel,stride,padding,dilation", [
    (7, 3, 1, 0, 1), (7, 3, 2, 0, 1), (5, 3, 2, 1, 1), (9, 3, 1, 2, 2), (8, 2, 3, 1, 1), (6, 3, 1, 1, 1),
])
def test_output_size_matches_torch(size, kernel, stride, padding, dilation):
    """Is the explorer's output size the size of torch's conv2d output (floor rule)?"""
    s = explore_conv(size, kernel, stride, padding, dilation)
    out = F.conv2d(torch.zeros(1, 1, size, size), torch.zeros(1, 1, kernel, kernel), stride=stride,
                   padding=padding, dilation=dilation)
    assert s.output_size == out.shape[-1]
    assert s.valid == ((size + 2 * padding - dilation * (kernel - 1) - 1) % stride == 0)


def test_slide_non_integer_case():
    """N=7, F=3, S=3: does the explorer show 2.33, warn about the stride, and draw 2 outputs?"""
    s = explore_conv(7, 3, 3)
    assert s.exact_output == pytest.approx(7 / 3)
    assert not s.valid and s.output_size == 2 and s.leftover == 1
    assert "`stride`" in s.message and "2.33" in s.message
    assert "2.333" in s.text and "warning" in s.text


def test_dilation_receptive_field():
    """Does a 3x3 filter at dilation 2 span 5x5, and do stacked layers follow r += D(K-1) j?"""
    s = explore_conv(9, 3, 1, 0, 2, depth=3)
    assert s.effective_kernel == 5 and "sees 5x5" in s.text
    assert s.receptive_fields == (5, 9, 13)
    s2 = explore_conv(16, 3, 2, 1, 1, depth=3)
    assert s2.receptive_fields == (3, 7, 15) and s2.receptive_field == 15


@pytest.mark.parametrize("size,kernel,stride,padding,dilation,row,col", [
    (5, 3, 2, 1, 1, 1, 2), (7, 3, 1, 0, 2, 2, 1), (6, 2, 3, 0, 1, 1, 0), (4, 3, 1, 1, 1, 3, 3),
])
def test_window_and_taps_are_the_pixels_torch_reads(size, kernel, stride, padding, dilation, row, col):
    """Are the drawn taps exactly the padded pixels that torch's output (row, col) depends on?"""
    s = explore_conv(size, kernel, stride, padding, dilation, row=row, col=col)
    assert set(s.taps) == _torch_window_taps(size, kernel, stride, padding, dilation, row, col)
    r0, c0, r1, c1 = s.window
    assert (r1 - r0, c1 - c0) == (s.effective_kernel,) * 2
    assert all(r0 <= r < r1 and c0 <= c < c1 for r, c in s.taps)


def test_position_clipped_and_no_fit():
    """Is an out-of-range position clipped, and does a filter wider than the input give 0 outputs?"""
    s = explore_conv(5, 3, row=10, col=10)
    assert (s.row, s.col) == (2, 2) and s.window == (2, 2, 5, 5)
    bad = explore_conv(3, 3, dilation=2)
    assert bad.output_size == 0 and bad.window is None and bad.taps == ()
    assert "spans 5 pixels" in bad.message


def test_bad_arguments():
    """Are invalid slider values rejected with the argument's name?"""
    with pytest.raises(ValueError, match="`stride` expected an integer >= 1"):
        explore_conv(5, 3, stride=0)
    with pytest.raises(ValueError, match="`padding` expected an integer >= 0"):
        explore_conv(5, 3, padding=-1)


def _shown_text(ex) -> str:
    """The summary widget's text as the browser shows it (tags removed, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", ex.summary.value))


def test_summary_wraps_only_at_spaces():
    """Is every word of the text one unbreakable span, so lines break at spaces only?"""
    ex = conv_explorer(size=7, kernel=3, draw=False)
    value = ex.summary.value
    assert "white-space: pre-wrap" in value
    words = re.findall(r'<span style="white-space: nowrap">([^<]*)</span>', value)
    assert [html.unescape(w) for w in words] == ex.state.text.split()
    assert "&gt;=" in value  # ">= 7" kept as one escaped word


def test_widget_callbacks_update_state():
    """Does moving a slider (setting .value) recompute the state, the text and the position range?"""
    ex = conv_explorer(size=7, kernel=3, draw=False)
    assert ex.state.output_size == 5 and ex.sliders["row"].max == 4
    ex.sliders["stride"].value = 2
    assert ex.state.stride == 2 and ex.state.output_size == 3
    assert ex.sliders["row"].max == 2 and "output: 3 x 3" in _shown_text(ex)
    ex.sliders["row"].value = 2
    ex.sliders["col"].value = 1
    assert ex.state.window == (4, 2, 7, 5)
    ex.sliders["stride"].value = 3  # 7, 3, S=3 -> 2.33: warning, and row clipped to the 2 outputs
    assert not ex.state.valid and ex.state.row == 1 and ex.sliders["row"].value == 1
    assert "warning" in _shown_text(ex) and _shown_text(ex) == ex.state.text
    ex.sliders["dilation"].value = 2
    ex.sliders["depth"].value = 2
    assert ex.state.effective_kernel == 5 and ex.state.receptive_fields == (5, 17)


def test_widget_redraws_figure():
    """With drawing on, does each change redraw the window rectangle at the state's coordinates?"""
    ex = conv_explorer(size=5, kernel=3, padding=1, stride=2)
    ex.sliders["col"].value = 2
    rect = [p for p in ex.figure.axes[0].patches if p.get_gid() == "window"]
    assert len(rect) == 1
    r0, c0, r1, c1 = ex.state.window
    assert rect[0].get_xy() == (c0 - 0.5, r0 - 0.5) and rect[0].get_width() == c1 - c0
    plt.close("all")


def test_draw_explorer_marks_padding_and_taps():
    """Does the drawn input image mark padding, input and taps where the state says?"""
    s = explore_conv(4, 3, 1, 1, 2, row=0, col=1)
    fig = draw_explorer(s)
    img = np.asarray(fig.axes[0].images[0].get_array())
    assert img.shape == (6, 6)
    assert (img[0] != 0).all() and img[1, 1] in (0, 2)  # border row is padding (or a tap)
    assert {tuple(map(int, rc)) for rc in zip(*np.nonzero(img == 2))} == set(s.taps)
    plt.close(fig)
