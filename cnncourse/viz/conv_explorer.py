"""An interactive convolution explorer: kernel, stride, padding, dilation -> sizes and the window.

Introduced in lecture 02 (convolution arithmetic). The logic is the pure function
:func:`explore_conv`, which returns an :class:`ExplorerState` (numbers, text, window coordinates)
and is tested without a browser; :func:`draw_explorer` draws a state with matplotlib; and
:func:`conv_explorer` wires ipywidgets sliders to both (its :class:`ConvExplorer` keeps the latest
state in ``.state`` so a test can move a slider and read the result).

Geometry: a square ``size x size`` input, a square ``kernel x kernel`` filter, the same stride,
zero padding and dilation on both axes. Coordinates are ``(row, col)``; "padded" coordinates
start at the top-left corner of the zero-padded input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cnncourse._validate import check_positive_int

if TYPE_CHECKING:  # matplotlib is imported lazily
    from matplotlib.figure import Figure

__all__ = ["ConvExplorer", "ExplorerState", "conv_explorer", "draw_explorer", "explore_conv"]


@dataclass(frozen=True)
class ExplorerState:
    """Everything the explorer shows for one setting of the sliders.

    Attributes:
        size, kernel, stride, padding, dilation, depth: the inputs (``depth`` identical layers).
        row, col: the output position whose window is drawn (clipped into the output).
        padded_size: ``size + 2 * padding``.
        effective_kernel: ``dilation * (kernel - 1) + 1``, the extent the dilated filter covers.
        exact_output: ``(size + 2P - effective_kernel) / stride + 1`` before any rounding.
        output_size: the output size PyTorch uses (floor of ``exact_output``; 0 if the filter
            does not fit).
        valid: ``True`` when the stride divides exactly and the filter fits (no error).
        leftover: padded rows (and columns) at the bottom (right) that no window reaches.
        receptive_fields: receptive field after layer 1, 2, ..., ``depth``.
        receptive_field: the last of those.
        window: ``(row0, col0, row1, col1)`` half-open box of the drawn window, padded coordinates.
        taps: padded coordinates of the ``kernel * kernel`` pixels the filter multiplies.
        message: the error or warning shown (empty when ``valid``).
        text: the multi-line summary printed under the sliders.
    """

    size: int
    kernel: int
    stride: int
    padding: int
    dilation: int
    depth: int
    row: int
    col: int
    padded_size: int
    effective_kernel: int
    exact_output: float
    output_size: int
    valid: bool
    leftover: int
    receptive_fields: tuple[int, ...]
    receptive_field: int
    window: tuple[int, int, int, int] | None
    taps: tuple[tuple[int, int], ...]
    message: str
    text: str


def explore_conv(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                 *, depth: int = 1, row: int = 0, col: int = 0) -> ExplorerState:
    """Compute what the explorer shows for one setting (pure: no widgets, no drawing).

    Lecture 02. Output sizes come from :func:`cnncourse.arithmetic.conv_output_size` (its error
    for a stride that does not divide is shown as the ``message``, and the floored size used by
    PyTorch is drawn); receptive fields from :func:`cnncourse.arithmetic.receptive_field`.

    Args:
        size: input height = width ``N``.
        kernel: filter size ``F``.
        stride, padding, dilation: ``S`` (>= 1), ``P`` (>= 0), ``D`` (>= 1).
        depth: number of identical layers for the receptive field (>= 1).
        row, col: output position to draw the window of (clipped into the output).

    Returns:
        An :class:`ExplorerState`.
    """
    from cnncourse.arithmetic import conv_output_size, receptive_field

    size = check_positive_int("size", size)
    kernel = check_positive_int("kernel", kernel)
    stride = check_positive_int("stride", stride)
    padding = check_positive_int("padding", padding, minimum=0)
    dilation = check_positive_int("dilation", dilation)
    depth = check_positive_int("depth", depth)
    row = check_positive_int("row", row, minimum=0)
    col = check_positive_int("col", col, minimum=0)

    padded = size + 2 * padding
    eff = dilation * (kernel - 1) + 1
    exact = (padded - eff) / stride + 1
    formula = (f"output size = (N + 2P - D(F-1) - 1)/S + 1 = ({size} + 2*{padding} - "
               f"{dilation}*({kernel}-1) - 1)/{stride} + 1 = {exact:.4g}")
    if padded < eff:
        out, valid, leftover = 0, False, 0
        message = (f"the dilated filter spans {eff} pixels but the padded input has only {padded}: "
                   f"no output (increase the padding or reduce kernel/dilation)")
    else:
        leftover = (padded - eff) % stride
        try:
            out = conv_output_size(size, kernel, stride, padding, dilation)
            valid, message = True, ""
        except ValueError as err:  # stride does not divide: show the library's error
            out = conv_output_size(size, kernel, stride, padding, dilation, floor=True)
            valid = False
            message = (f"{err}. PyTorch floors it to {out}: the last {leftover} padded "
                       f"row(s)/column(s) are never visited")
    spec = {"kernel": kernel, "stride": stride, "padding": padding, "dilation": dilation}
    rows = receptive_field([dict(spec, name=f"conv{i + 1}") for i in range(depth)])
    rfs = tuple(int(r.receptive_field) for r in rows)

    window, taps = None, ()
    if out > 0:
        row, col = min(row, out - 1), min(col, out - 1)
        r0, c0 = row * stride, col * stride
        window = (r0, c0, r0 + eff, c0 + eff)
        taps = tuple((r0 + i * dilation, c0 + j * dilation)
                     for i in range(kernel) for j in range(kernel))
    else:
        row = col = 0

    lines = [formula,
             f"output: {out} x {out}" + ("" if valid else "  (!)"),
             f"effective kernel D(F-1)+1 = {eff}"
             + (f"  ({kernel}x{kernel} at dilation {dilation} sees {eff}x{eff})" if dilation > 1 else ""),
             f"receptive field after {depth} layer(s): " + ", ".join(str(r) for r in rfs)]
    if window is not None:
        r0, c0, r1, c1 = window
        lines.append(f"output ({row}, {col}) reads input rows {r0 - padding}..{r1 - 1 - padding}, "
                     f"cols {c0 - padding}..{c1 - 1 - padding} (negative or >= {size} = zero padding)")
    if message:
        lines.append("warning: " + message)
    return ExplorerState(size=size, kernel=kernel, stride=stride, padding=padding, dilation=dilation,
                         depth=depth, row=row, col=col, padded_size=padded, effective_kernel=eff,
                         exact_output=exact, output_size=out, valid=valid, leftover=leftover,
                         receptive_fields=rfs, receptive_field=rfs[-1], window=window, taps=taps,
                         message=message, text="\n".join(lines))


FIGSIZE = (5.2, 3.3)  # inches; at DPI this is the explorer image's fixed size in pixels
DPI = 100
TEXT_WIDTH_PX = 380    # the fixed width of the explorer's slider-and-text column


def _pixel_ticks(ax, m: int, offset: int) -> None:
    """Ticks on pixel centres, labelled with input coordinates (``index - offset``)."""
    import numpy as np

    step = 1 if m <= 12 else 2
    ticks = np.arange(0, m, step)
    ax.set_xticks(ticks, [str(t - offset) for t in ticks], fontsize=6)
    ax.set_yticks(ticks, [str(t - offset) for t in ticks], fontsize=6)
    ax.set_xticks(np.arange(-0.5, m, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, m, 1), minor=True)
    ax.grid(which="minor", color="#888888", linewidth=0.5)
    ax.tick_params(which="minor", length=0)
    ax.tick_params(which="major", length=2, pad=1)


def draw_explorer(state: ExplorerState, fig: Figure | None = None) -> Figure:
    """Draw the padded input with the current window and its taps, and the output grid.

    Lecture 02. White cells are input pixels, hatched grey cells zero padding, orange cells the
    taps of the drawn window (the red box is its dilated extent), and the red cell on the right is
    the output it produces; a legend under the panels says so. Ticks fall on pixel centres and
    are labelled with input coordinates (negative, or ``>= N``, inside the padding). The figure
    always has the size ``FIGSIZE``, whatever the state.

    Returns:
        The matplotlib ``Figure`` (two axes: input, output).
    """
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch, Rectangle

    from cnncourse.viz.plots import PADDING_LABEL, PADDING_STYLE

    if fig is None:
        fig = plt.figure(figsize=FIGSIZE, dpi=DPI)
    fig.clear()
    n = max(state.output_size, 1)
    ax_in, ax_out = fig.subplots(1, 2, gridspec_kw={"width_ratios": [max(state.padded_size, 1), n]})
    fig.subplots_adjust(left=0.05, right=0.97, top=0.82, bottom=0.22, wspace=0.25)
    # 0 = input pixel, 1 = zero padding, 2 = filter tap
    role = np.ones((state.padded_size, state.padded_size), dtype=int)
    p = state.padding
    role[p:p + state.size, p:p + state.size] = 0
    for r, c in state.taps:
        role[r, c] = 2
    ax_in.imshow(role, cmap=ListedColormap(["#ffffff", PADDING_STYLE["facecolor"], "#ffa64d"]),
                 vmin=0, vmax=2, interpolation="nearest")
    is_padding = np.ones_like(role, dtype=bool)
    is_padding[p:p + state.size, p:p + state.size] = False
    for r, c in zip(*np.nonzero(is_padding)):  # hatched, also under a tap (a tap on a zero)
        style = dict(PADDING_STYLE, facecolor="#ffa64d") if role[r, c] == 2 else PADDING_STYLE
        ax_in.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, gid="padding", **style))
    if state.window is not None:
        r0, c0, r1, c1 = state.window
        ax_in.add_patch(plt.Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, fill=False,
                                      edgecolor="tab:red", linewidth=2.5, gid="window"))
    ax_in.set_title(f"padded input {state.padded_size}x{state.padded_size} "
                    f"(N={state.size}, P={state.padding})", fontsize=9)
    ax_in.set_xlabel("input column", fontsize=7, labelpad=1)
    ax_in.set_ylabel("input row", fontsize=7, labelpad=1)
    grid = np.zeros((n, n), dtype=int)
    if state.output_size > 0:
        grid[state.row, state.col] = 1
    ax_out.imshow(grid, cmap=ListedColormap(["#ffffff", "tab:red"]), vmin=0, vmax=1,
                  interpolation="nearest")
    ax_out.set_title(f"output {state.output_size}x{state.output_size}"
                     + ("" if state.valid else " (!)"), fontsize=9)
    ax_out.set_xlabel("output column", fontsize=7, labelpad=1)
    _pixel_ticks(ax_in, state.padded_size, state.padding)
    _pixel_ticks(ax_out, n, 0)
    handles = [Patch(facecolor="#ffffff", edgecolor="#888888", label="input pixel"),
               Patch(label=PADDING_LABEL, **PADDING_STYLE),
               Patch(facecolor="#ffa64d", label="filter tap"),
               Patch(fill=False, edgecolor="tab:red", linewidth=2, label="window extent"),
               Patch(facecolor="tab:red", label="its output")]
    fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=7, frameon=False,
               handlelength=1.2, columnspacing=1.0)
    fig.suptitle(f"F={state.kernel}, S={state.stride}, P={state.padding}, D={state.dilation}: "
                 f"RF={state.receptive_field}", fontsize=10)
    return fig


def _summary_html(text: str) -> str:
    """The explorer's text as HTML that wraps only at spaces, inside the fixed-width column.

    Each run of non-space characters is one unbreakable span (browsers would otherwise also
    break after "-" or between ">" and "=", e.g. inside ``D(F-1)`` or ``>= 7``).
    """
    import html
    import re

    body = re.sub(r"\S+", lambda m: f'<span style="white-space: nowrap">{html.escape(m.group())}</span>', text)
    return ('<pre style="white-space: pre-wrap; word-break: normal; overflow-wrap: normal; '
            'margin: 0; font-size: 12px; line-height: 1.35">' + body + "</pre>")


class ConvExplorer:
    """Sliders wired to :func:`explore_conv` and :func:`draw_explorer` (lecture 02).

    Layout: a fixed-width column (sliders, then the text, wrapped at spaces) beside the figure,
    an image of fixed size, so a long warning never squeezes the figure (on a narrow screen the
    figure moves below the column instead of shrinking).

    Attributes:
        sliders: dict of ``ipywidgets.IntSlider`` named like :func:`explore_conv`'s arguments.
        state: the latest :class:`ExplorerState` (updated on every slider change).
        summary: ``ipywidgets.HTML`` with ``state.text``.
        image: ``ipywidgets.Image`` with the figure as PNG (``FIGSIZE`` at ``DPI``).
        figure: the matplotlib figure redrawn on each change (``None`` with ``draw=False``).
        widget: the ``HBox`` to display.
    """

    _LIMITS = {"size": (1, 16), "kernel": (1, 7), "stride": (1, 4), "padding": (0, 4),
               "dilation": (1, 4), "depth": (1, 8), "row": (0, 15), "col": (0, 15)}

    def __init__(self, *, size: int = 7, kernel: int = 3, stride: int = 1, padding: int = 0,
                 dilation: int = 1, depth: int = 1, draw: bool = True):
        import ipywidgets as widgets

        initial = {"size": size, "kernel": kernel, "stride": stride, "padding": padding,
                   "dilation": dilation, "depth": depth, "row": 0, "col": 0}
        explore_conv(**initial)  # validate before building widgets
        column = f"{TEXT_WIDTH_PX}px"
        self.sliders = {name: widgets.IntSlider(value=value, min=self._LIMITS[name][0],
                                                max=max(self._LIMITS[name][1], value),
                                                description=name, continuous_update=False,
                                                layout=widgets.Layout(width=column),
                                                style={"description_width": "60px"})
                        for name, value in initial.items()}
        self.summary = widgets.HTML(layout=widgets.Layout(width=column))
        width, height = int(FIGSIZE[0] * DPI), int(FIGSIZE[1] * DPI)
        self.image = widgets.Image(format="png", layout=widgets.Layout(
            width=f"{width}px", height=f"{height}px", flex="0 0 auto", object_fit="contain"))
        self.figure = None
        self._draw = draw
        self._busy = False
        for s in self.sliders.values():
            s.observe(self._on_change, names="value")
        controls = widgets.VBox(list(self.sliders.values()) + [self.summary],
                                layout=widgets.Layout(width=column, min_width=column, flex="0 0 auto"))
        self.widget = widgets.HBox([controls, self.image],
                                   layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start",
                                                         grid_gap="12px"))
        self.state = self.update()

    def _on_change(self, change) -> None:
        if not self._busy:  # ignore the changes update() itself makes to row/col
            self.update()

    def update(self) -> ExplorerState:
        """Recompute the state from the sliders, refresh the text and the figure; return the state."""
        self._busy = True
        try:
            state = explore_conv(**{k: s.value for k, s in self.sliders.items()})
            for name, value in (("row", state.row), ("col", state.col)):
                # the position sliders range over the output only
                self.sliders[name].max = max(state.output_size - 1, 0)
                self.sliders[name].value = value
        finally:
            self._busy = False
        self.state = state
        self.summary.value = _summary_html(state.text)
        if self._draw:
            self._redraw(state)
        return state

    def _redraw(self, state: ExplorerState) -> None:
        import io

        import matplotlib.pyplot as plt

        if self.figure is None:
            self.figure = plt.figure(figsize=FIGSIZE, dpi=DPI)
            plt.close(self.figure)  # shown through the Image widget only, never by the backend
        draw_explorer(state, self.figure)
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", dpi=DPI)  # fixed size: no bbox_inches="tight"
        self.image.value = buf.getvalue()


def conv_explorer(**initial) -> ConvExplorer:
    """Build the convolution explorer; display ``conv_explorer().widget`` in a notebook.

    Lecture 02. Keyword arguments are the initial slider values (``size``, ``kernel``,
    ``stride``, ``padding``, ``dilation``, ``depth``) and ``draw``.
    """
    return ConvExplorer(**initial)
