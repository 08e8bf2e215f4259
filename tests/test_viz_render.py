"""Every figure helper of cnncourse.viz, rendered to PNG and checked for what a student must read.

Checked automatically on each rendered figure: the PNG has no NaN and is not blank; every image
panel has a title; a diverging colour map has a colour bar and limits symmetric about 0; every
colour bar is labelled; ticks shown on an image fall on pixel centres; hatched padding is
explained by a legend; every plotted curve is named in a legend. A helper named ``show_*`` or
``draw_*`` that is missing from ``CASES`` fails the coverage test, so new helpers get checked too.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import cnncourse.viz as viz  # noqa: E402
from cnncourse.layers import avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward  # noqa: E402
from cnncourse.viz.plots import is_diverging  # noqa: E402

RNG = np.random.default_rng(0)
X5 = np.array([[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]],
              dtype=np.float64)


def _pool_step():
    out, _ = max_pool2d_forward(X5[None, None], 3, 1)
    return viz.draw_pool_step(X5, out[0, 0], 3, 1, index=4, title="max pooling")


def _routes():
    out, cache = avg_pool2d_forward(X5[None, None], 2, 1)
    dx = avg_pool2d_backward(np.ones_like(out), cache)
    return viz.draw_gradient_routes(X5, np.ones_like(out[0, 0]), dx[0, 0], title="mean")


def _routes_max():
    out, cache = max_pool2d_forward(X5[None, None], 3, 1)
    dx = max_pool2d_backward(np.ones_like(out), cache)
    return viz.draw_gradient_routes(X5, np.ones((3, 3)), dx[0, 0], title="max")


def _matrix(**kw):
    def make():
        ax = viz.show_matrix(**kw)
        return ax.figure
    return make


def _explorer_image():
    """The explorer widget's own PNG (what the browser shows), in its warning state."""
    ex = viz.conv_explorer(size=7, kernel=3, stride=3)
    fig = plt.figure()
    fig.add_subplot().imshow(mpimg.imread(io.BytesIO(ex.image.value)))
    fig.axes[0].set_title("explorer image")
    fig.axes[0].set_xticks([])
    fig.axes[0].set_yticks([])
    return fig


CASES = {
    "show_matrix": _matrix(a=X5, title="sequential, annotated"),
    "show_matrix[diverging]": _matrix(a=X5 - 2, title="diverging", cmap="RdBu_r"),
    "show_matrix[padding]": _matrix(a=np.pad(X5, 1), title="padded", padding=1),
    "show_matrix[heat map]": _matrix(a=RNG.normal(size=(12, 12)), title="no numbers", annotate=False),
    "show_images": lambda: viz.show_images(
        [RNG.uniform(size=(8, 8)), RNG.normal(size=(8, 8)), RNG.uniform(size=(6, 6, 3))],
        titles=["grey", "signed", "rgb"], cmap=["gray", "RdBu_r", "gray"],
        cbar_label=["intensity", "response", "unused"]),
    "show_images[annotated]": lambda: viz.show_images([X5, -X5], titles=["a", "b"], annotate=True,
                                                      cmap="coolwarm"),
    "show_feature_maps": lambda: viz.show_feature_maps(RNG.normal(size=(1, 3, 10, 10))),
    "show_filters": lambda: viz.show_filters(RNG.normal(size=(2, 2, 3, 3)), fmt="{:.1f}"),
    "draw_pool_step": _pool_step,
    "draw_gradient_routes": _routes,
    "draw_gradient_routes[max]": _routes_max,
    "draw_explorer": lambda: viz.draw_explorer(viz.explore_conv(7, 3, 2, 1, 1, row=1, col=2)),
    "draw_explorer[dilated]": lambda: viz.draw_explorer(viz.explore_conv(9, 3, 1, 2, 2, depth=3, row=2)),
    "draw_explorer[no output]": lambda: viz.draw_explorer(viz.explore_conv(1, 3)),
    "conv_explorer[image]": _explorer_image,
}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _is_colorbar(ax) -> bool:
    return hasattr(ax, "_colorbar")


def _render(fig) -> np.ndarray:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=60)
    return mpimg.imread(io.BytesIO(buf.getvalue()))


def test_every_figure_helper_has_a_case():
    """Is every public show_*/draw_* helper of cnncourse.viz rendered by this file?"""
    helpers = {n for n in viz.__all__ if n.startswith(("show_", "draw_"))}
    covered = {name.split("[")[0] for name in CASES}
    assert helpers <= covered, f"add a render case for {sorted(helpers - covered)}"


def _problems(fig) -> list[str]:
    """What a student could not read in ``fig`` (an empty list for a good figure)."""
    problems = []
    png = _render(fig)
    if not np.isfinite(png).all():
        problems.append("NaN in the rendered PNG")
    if png[..., :3].std() <= 0.01:
        problems.append("the rendered figure is blank")
    for ax in (ax for ax in fig.axes if not _is_colorbar(ax)):
        where = f"panel {ax.get_title()!r}"
        if ax.images and not ax.get_title():
            problems.append("an image panel has no title")
        for im in ax.images:
            data = np.ma.getdata(im.get_array()).astype(float)
            if not np.isfinite(data).all():
                problems.append(f"{where}: NaN in the image")
            if data.ndim == 2 and is_diverging(im.get_cmap()):
                vmin, vmax = im.get_clim()
                if im.colorbar is None:
                    problems.append(f"{where}: diverging map without a colour bar")
                if not np.isclose(vmin, -vmax):
                    problems.append(f"{where}: diverging range not symmetric ({vmin:g}, {vmax:g})")
            if im.colorbar is not None and not im.colorbar.ax.get_ylabel():
                problems.append(f"{where}: colour bar without a label")
            if data.ndim == 2:
                for ticks, lim in ((ax.get_xticks(), ax.get_xlim()), (ax.get_yticks(), ax.get_ylim())):
                    shown = [t for t in ticks if min(lim) <= t <= max(lim)]
                    if not np.allclose(shown, np.round(shown)):
                        problems.append(f"{where}: ticks between pixels {shown}")
        if any(p.get_gid() == "padding" for p in ax.patches):
            legends = [ax.get_legend()] + fig.legends
            labels = {t.get_text() for leg in legends if leg is not None for t in leg.get_texts()}
            if "zero padding" not in labels:
                problems.append(f"{where}: hatched padding without a legend")
        curves = ax.get_lines()
        if len(curves) > 1:
            legend = ax.get_legend()
            named = {t.get_text() for t in legend.get_texts()} if legend is not None else set()
            if any(ln.get_label() not in named for ln in curves):
                problems.append(f"{where}: a curve is not in the legend")
    return problems


@pytest.mark.parametrize("name", list(CASES))
def test_rendered_figure_is_readable(name):
    """Does the helper's PNG have no NaN, titled panels, colour bars on diverging maps, pixel ticks?"""
    fig = CASES[name]()
    assert [ax for ax in fig.axes if not _is_colorbar(ax)], "no panels"
    assert _problems(fig) == []


def test_checks_catch_unreadable_figures():
    """Do the checks report a diverging map without colour bar, half-pixel ticks, unnamed curves?"""
    fig, (a, b) = plt.subplots(1, 2)
    a.imshow(np.arange(16.0).reshape(4, 4) - 3, cmap="RdBu_r")   # no colour bar, asymmetric limits
    a.set_xticks([0, 0.5, 1.0])
    b.plot([0, 1], [0, 1], label="one")
    b.plot([0, 1], [1, 0])
    b.legend(["one"])
    b.set_title("curves")
    found = "\n".join(_problems(fig))
    for problem in ("an image panel has no title", "without a colour bar", "not symmetric",
                    "ticks between pixels", "a curve is not in the legend"):
        assert problem in found, found
    fig2, ax2 = plt.subplots()
    ax2.imshow(np.full((3, 3), np.nan))
    ax2.set_title("nan")
    assert "'nan': NaN in the image" in "\n".join(_problems(fig2))
