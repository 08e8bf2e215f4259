"""Automatic hints for a wrong shape or wrong values (what a TA would say first).

Shapes are NCHW: axis 0 is the batch ``N``, axis 1 the channels ``C`` (``F`` filters for a conv
output), axes 2 and 3 the spatial ``H, W``. Output size along a spatial axis (lecture 02):

    H_out = (H + 2 * P - D * (KH - 1) - 1) // S + 1
"""

from __future__ import annotations

import numpy as np

__all__ = ["shape_hint", "value_hint"]

_FORMULA = "(H + 2*P - D*(KH - 1) - 1) // S + 1"


def _spatial_hint(diff: int, got: int, exp: int) -> str:
    if exp > 1 and got > exp and (got - 1) // (exp - 1 or 1) >= 2 and diff > 2:
        return (f"about {got / exp:.1f}x too large: is the stride S applied (divide by S, and step "
                f"the window by S)?")
    if exp > 1 and got < exp and exp % max(got, 1) == 0 and exp // max(got, 1) >= 2:
        return f"about {exp / max(got, 1):.1f}x too small: is the stride applied twice?"
    if abs(diff) == 1:
        return (f"check the padding term of the output size and its '+ 1': {_FORMULA}")
    if diff % 2 == 0:
        return f"off by {diff:+d} = 2*{diff // 2:+d}: check the padding term 2*P of {_FORMULA}"
    return f"off by {diff:+d}: check the dilation term D*(KH - 1) and the stride S in {_FORMULA}"


def shape_hint(got: tuple[int, ...], exp: tuple[int, ...]) -> str:
    """Explain a shape mismatch, e.g. ``(2, 3, 5, 5)`` vs ``(2, 3, 6, 6)`` -> the padding term."""
    if len(got) != len(exp):
        if tuple(d for d in got if d != 1) == tuple(d for d in exp if d != 1):
            return "an axis of size 1 is missing or extra (keepdims / np.squeeze / [:, None])"
        if int(np.prod(got)) == int(np.prod(exp)):
            return "same number of elements but a different rank: a reshape/flatten is missing or extra"
        if len(got) < len(exp):
            return "an axis was reduced away: sum/mean over fewer axes (or pass keepdims=True)"
        return "an extra axis: did you forget to sum over it (e.g. db sums over N, H, W)?"
    if sorted(got) == sorted(exp):
        perm = tuple(exp.index(d) for d in got) if len(set(exp)) == len(exp) else None
        order = f" (your axes look like {perm} of the expected order)" if perm else ""
        return f"the axes are transposed{order}: keep the NCHW order, use .transpose(...) to fix"
    differs = [i for i, (g, e) in enumerate(zip(got, exp)) if g != e]
    if len(exp) == 4 and set(differs) <= {2, 3}:
        axis = {2: "height (axis 2)", 3: "width (axis 3)"}
        parts = [f"{axis[i]}: " + _spatial_hint(got[i] - exp[i], got[i], exp[i]) for i in differs]
        if len(differs) == 2 and got[2] - exp[2] == got[3] - exp[3]:
            return _spatial_hint(got[2] - exp[2], got[2], exp[2])
        if len(differs) == 1:
            return parts[0] + " (only one spatial axis is wrong: height/width swapped somewhere?)"
        return "; ".join(parts)
    if len(exp) >= 2 and differs == [1]:
        return ("wrong number of channels: a conv output has F channels (w.shape[0]), "
                "pooling keeps C")
    if differs == [0]:
        return "the batch axis N must be kept: loop/vectorize over every example"
    return ""


def value_hint(got: np.ndarray, exp: np.ndarray, wrong: np.ndarray) -> str:
    """Recognise common wrong-value patterns (all zeros, sign, constant scale, borders only)."""
    if not np.any(got):
        return "the output is all zeros: is the result written into the array you return?"
    mask = np.isfinite(got) & np.isfinite(exp)
    if np.allclose(got[mask], -exp[mask], rtol=1e-6, atol=1e-9):
        return "the values have the wrong sign"
    nz = mask & (np.abs(exp) > 1e-12)
    if nz.sum() >= 2:
        ratio = got[nz] / exp[nz]
        if np.allclose(ratio, ratio[0], rtol=1e-6) and not np.isclose(ratio[0], 1.0):
            return (f"every value is {ratio[0]:.4g} times the expected one: a missing or extra "
                    f"normalisation (divide by the count / batch size?)")
    if got.ndim >= 2 and got.shape[-1] > 2 and got.shape[-2] > 2:
        inner = np.zeros(got.shape[-2:], dtype=bool)
        inner[1:-1, 1:-1] = True
        if not wrong[..., inner].any():
            return "only border values are wrong: check the padding (and padded windows)"
    if got.ndim >= 1 and got.shape[0] > 1 and not wrong[0].any():
        return ("the first batch element is right but others are wrong: is something reused "
                "across the batch loop, or does a loop stop too early?")
    if got.ndim == 4 and got.shape[1] > 1 and not wrong[:, 0].any():
        return "the first channel is right but others are wrong: check the channel/filter index"
    return ""
