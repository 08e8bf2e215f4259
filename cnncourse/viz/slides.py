"""Side-by-side checks of a computed result against the number printed on a slide.

Introduced in lecture 02. Lectures compute every worked example live with the library and call
:func:`compare_with_slide`, which prints both arrays next to each other and asserts the outcome the
lecture states: ``expect_match=True`` for a slide that is right (so a wrong library breaks the
notebook), ``expect_match=False`` for a slide error the lecture flags (so the notebook also breaks
if the "error" turns out to be ours).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnncourse._validate import ArgumentError

__all__ = ["SlideCheck", "compare_with_slide", "side_by_side"]


@dataclass(frozen=True)
class SlideCheck:
    """Result of :func:`compare_with_slide`: the two arrays compared and whether they agree."""

    name: str
    computed: np.ndarray
    slide: np.ndarray
    match: bool
    text: str

    def __repr__(self) -> str:  # short: notebooks often end a cell with the check
        return f"SlideCheck({self.name!r}: {'match' if self.match else 'differs'})"


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
    cells = [[fmt.format(v) for v in row] for row in a]
    width = max(len(c) for row in cells for c in row)
    return ["  ".join(c.rjust(width) for c in row) for row in cells]


def side_by_side(left: np.ndarray, right: np.ndarray, *, titles: tuple[str, str] = ("computed", "slide"),
                 fmt: str = "{:g}") -> str:
    """Format two arrays as text columns next to each other (arrays of ndim <= 2 read best)."""
    lrows, rrows = _rows(np.asarray(left), fmt), _rows(np.asarray(right), fmt)
    lw = max(len(titles[0]), *(len(r) for r in lrows))
    lines = [f"{titles[0].ljust(lw)}   |   {titles[1]}"]
    for i in range(max(len(lrows), len(rrows))):
        lrow = lrows[i] if i < len(lrows) else ""
        rrow = rrows[i] if i < len(rrows) else ""
        lines.append(f"{lrow.ljust(lw)}   |   {rrow}")
    return "\n".join(lines)


def compare_with_slide(name: str, computed, slide, *, decimals: int | None = None,
                       expect_match: bool = True, fmt: str | None = None,
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
        fmt: number format for printing; defaults to ``"{:g}"`` or ``decimals`` places.
        verbose: print the comparison.

    Returns:
        A :class:`SlideCheck`.
    """
    c = _to_array("computed", computed).astype(np.float64)
    s = _to_array("slide", slide).astype(np.float64)
    if decimals is not None:
        c = np.round(c, decimals)
    fmt = fmt or ("{:g}" if decimals is None else f"{{:.{decimals}f}}")
    match = c.shape == s.shape and bool(np.allclose(c, s, rtol=0.0, atol=1e-9))
    verdict = "MATCH" if match else "DIFFERENT"
    if match != expect_match:
        verdict += " (NOT what this lecture states!)"
    elif not match:
        verdict += " (the slide is wrong; see the text)"
    text = f"{name}: {verdict}\n" + side_by_side(c, s, fmt=fmt)
    if c.shape != s.shape:
        text += f"\n(shapes differ: computed {c.shape}, slide {s.shape})"
    if verbose:
        print(text)
    if match != expect_match:
        raise AssertionError(f"{name}: expected the computed result to "
                             f"{'match' if expect_match else 'differ from'} the slide\n{text}")
    return SlideCheck(name, c, s, match, text)
