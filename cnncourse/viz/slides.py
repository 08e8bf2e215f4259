"""Side-by-side checks of a computed result against the number printed on a slide.

Introduced in lecture 02. Lectures compute every worked example live with the library and call
:func:`compare_with_slide`, which prints both arrays next to each other and asserts the outcome the
lecture states: ``expect_match=True`` for a slide that is right (so a wrong library breaks the
notebook), ``expect_match=False`` for a slide error the lecture flags (so the notebook also breaks
if the "error" turns out to be ours).

Columns are labelled truthfully: ``computed | slide`` by default, ``computed | slide | corrected``
when the caller also passes the ``corrected`` values for a slide error, or names of the caller's
choosing (``labels=``). The returned :class:`SlideCheck` displays nothing when it ends a notebook
cell (the comparison has already been printed), so no stray ``SlideCheck(...)`` line appears.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from cnncourse._validate import ArgumentError

__all__ = ["SlideCheck", "compare_with_slide", "side_by_side"]


@dataclass(frozen=True)
class SlideCheck:
    """Result of :func:`compare_with_slide`: the arrays compared and whether they agree.

    Attributes:
        name: the heading printed.
        computed, slide: the two arrays compared (``computed`` rounded if ``decimals`` was given).
        match: whether ``computed`` equals ``slide``.
        text: the printed comparison.
        corrected: the corrected values given for a slide error (``None`` otherwise).
        labels: the column titles printed.
    """

    name: str
    computed: np.ndarray
    slide: np.ndarray
    match: bool
    text: str
    corrected: np.ndarray | None = None
    labels: tuple[str, ...] = ("computed", "slide")

    def __repr__(self) -> str:  # short, for print() and lists of checks
        return f"SlideCheck({self.name!r}: {'match' if self.match else 'differs'})"

    def _ipython_display_(self) -> None:
        """Display nothing: the comparison was printed by :func:`compare_with_slide` already."""


def _to_array(name: str, value) -> np.ndarray:
    if hasattr(value, "detach"):  # torch tensor
        value = value.detach().cpu().numpy()
    a = np.asarray(value)
    if a.dtype == object or not np.issubdtype(a.dtype, np.number):
        raise ArgumentError(name, "numbers (an array, list or scalar)", repr(value))
    return a


def _rows(a: np.ndarray, fmt: str) -> list[str]:
    if a.ndim == 0:
        return [fmt.format(a.item())]
    if a.ndim == 1:
        a = a[None, :]
    a = a.reshape(-1, a.shape[-1])
    cells = [[fmt.format(v + 0) for v in row] for row in a]  # +0: no "-0"
    width = max(len(c) for row in cells for c in row)
    return ["  ".join(c.rjust(width) for c in row) for row in cells]


def side_by_side(*arrays: np.ndarray, titles: Sequence[str] = ("computed", "slide"),
                 fmt: str = "{:g}") -> str:
    """Format arrays as text columns next to each other, each under its title (ndim <= 2 reads best).

    Lecture 02. ``side_by_side(a, b)`` or ``side_by_side(a, b, c, titles=(...))``: one title per
    array.
    """
    if not arrays:
        raise ArgumentError("arrays", "at least one array", "none")
    if len(titles) != len(arrays):
        raise ArgumentError("titles", f"{len(arrays)} titles (one per array)", tuple(titles))
    columns = [_rows(np.asarray(a), fmt) for a in arrays]
    widths = [max(len(t), *(len(r) for r in col)) for t, col in zip(titles, columns)]
    height = max(len(col) for col in columns)

    def line(cells: list[str]) -> str:
        return "   |   ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    lines = [line(list(titles))]
    lines += [line([col[i] if i < len(col) else "" for col in columns]) for i in range(height)]
    return "\n".join(lines)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=0.0, atol=1e-9))


def compare_with_slide(name: str, computed, slide, *, decimals: int | None = None,
                       expect_match: bool = True, corrected=None,
                       labels: Sequence[str] | None = None, fmt: str | None = None,
                       verbose: bool = True) -> SlideCheck:
    """Print ``computed`` next to the ``slide``'s numbers and assert that they (dis)agree as stated.

    Lecture 02 onwards.

    Args:
        name: what is compared, printed as a heading.
        computed: the library's result (array, tensor, list or scalar).
        slide: the numbers as printed on the slide.
        decimals: round ``computed`` to this many decimals first (for slides that print e.g.
            ``1.7``); ``None`` compares exactly (up to float64 rounding, ``atol=1e-9``).
        expect_match: ``True`` when the slide is right; ``False`` when the lecture flags it as
            wrong. The call raises ``AssertionError`` if the outcome differs.
        corrected: for a slide error (``expect_match=False``), the correct values: printed as a
            third column ``corrected`` and asserted equal to ``computed``.
        labels: column titles, one per column printed (default ``("computed", "slide")``, plus
            ``"corrected"``); use them when a column holds something else, e.g.
            ``("layer", "slide's formula, literally")``.
        fmt: number format for printing; defaults to ``"{:g}"`` or ``decimals`` places.
        verbose: print the comparison.

    Returns:
        A :class:`SlideCheck`, which displays nothing at the end of a notebook cell.
    """
    c = _to_array("computed", computed).astype(np.float64)
    s = _to_array("slide", slide).astype(np.float64)
    k = None if corrected is None else _to_array("corrected", corrected).astype(np.float64)
    if k is not None and expect_match:
        raise ArgumentError("corrected", "None when the slide is right (expect_match=True)",
                            "corrected values")
    default = ("computed", "slide") if k is None else ("computed", "slide", "corrected")
    labels = tuple(default if labels is None else labels)
    if len(labels) != len(default):
        raise ArgumentError("labels", f"{len(default)} column titles {default}", labels)
    if decimals is not None:
        c = np.round(c, decimals)
    fmt = fmt or ("{:g}" if decimals is None else f"{{:.{decimals}f}}")
    match = _same(c, s)
    verdict = "MATCH" if match else "DIFFERENT"
    if match != expect_match:
        verdict += " (NOT what this lecture states!)"
    elif not match:
        verdict += " (the slide is wrong; see the text)"
    columns = (c, s) if k is None else (c, s, k)
    text = f"{name}: {verdict}\n" + side_by_side(*columns, titles=labels, fmt=fmt)
    if c.shape != s.shape:
        text += f"\n(shapes differ: {labels[0]} {c.shape}, {labels[1]} {s.shape})"
    fixed = k is None or _same(c, k)
    if not fixed:
        text += f"\n{labels[0]} differs from {labels[2]}: NOT what this lecture states!"
    if verbose:
        print(text)
    if match != expect_match:
        raise AssertionError(f"{name}: expected the {labels[0]} result to "
                             f"{'match' if expect_match else 'differ from'} the {labels[1]}\n{text}")
    if not fixed:
        raise AssertionError(f"{name}: expected the {labels[0]} result to equal the "
                             f"{labels[2]} values\n{text}")
    return SlideCheck(name, c, s, match, text, k, labels)
