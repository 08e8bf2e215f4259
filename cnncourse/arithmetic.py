"""Convolution arithmetic: output sizes and receptive fields (lecture 2).

``conv_output_size`` is the slide formula ``(N + 2P - D(F - 1) - 1) / S + 1``. A network built with
torch floors the division silently; in the lecture we want to SEE when the stride does not divide
(the slide's N=7, F=3, S=3 gives 2.33), so exact division is the default and ``floor=True`` gives
torch's rule. ``ceil_mode=True`` is torch's pooling rule (lecture 3): round up, but drop a last window
that would start in the right padding. This module is the formula's one home: the layers
(:mod:`cnncourse.layers`, :mod:`cnncourse.signal`) and the grading cases size their outputs with
:func:`conv_output_size` after checking their own arguments (so that errors name those), and pooling,
whose error reports both axes' sizes, with the unchecked ``_output_size`` it is built on.

``receptive_field`` builds the per-layer table of lecture 2 ("Convolutional Algorithms: receptive
field"): with ``r_0 = 1, j_0 = 1`` and the effective kernel ``k' = D(K - 1) + 1``::

    r_l = r_{l-1} + (k'_l - 1) * j_{l-1}        j_l = j_{l-1} * S_l

Note on the slide's 8-layer table (3x3 kernels, strides 1,2,1,1,2,1,1,2, input 256): its receptive
fields 3, 5, 9, 13, 17, 25, 33, 41 and sizes 256 -> 32 are right, but its padding column says 2 for
the stride-1 layers, where the sizes require padding 1 (3x3 with padding 2 would grow 256 to 258).
The stride-2 layers with padding 1 compute (256 + 2 - 3) / 2 + 1 = 128.5, which torch floors to 128:
that is why ``receptive_field`` floors by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from cnncourse._validate import ArgumentError, check_positive_int

__all__ = ["conv_output_size", "receptive_field", "ReceptiveFieldRow", "format_receptive_field_table"]


def _span(size: int, kernel: int, padding: int, dilation: int) -> int:
    """``N + 2P - D(F-1) - 1``: how far the first window can slide inside the padded input."""
    return size + 2 * padding - dilation * (kernel - 1) - 1


def _output_size(size: int, kernel: int, stride: int, padding: int, dilation: int,
                 ceil_mode: bool = False) -> int:
    """The formula unchecked: ``span / S + 1`` floored (or ceiled with torch's pooling rule).

    May return ``<= 0`` when the kernel does not fit; callers have validated their arguments
    (:func:`cnncourse.layers.max_pool2d_forward` reports the sizes of both axes in its error).
    """
    span = _span(size, kernel, padding, dilation)
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + padding:   # the last window would start in the right padding
        out -= 1
    return out


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                     *, floor: bool = False, ceil_mode: bool = False) -> int:
    """Output size of a convolution or pooling along one axis.

    Args:
        size: input size ``N`` (>= 1); kernel ``F`` (>= 1); stride ``S`` (>= 1); padding ``P`` (>= 0);
            dilation ``D`` (>= 1).
        floor: round down like torch instead of requiring ``S`` to divide ``N + 2P - D(F-1) - 1``.
        ceil_mode: round up like torch's pooling ``ceil_mode=True`` (lecture 3), dropping a last
            window that would start in the right padding; then the kernel may overhang the padded
            input as long as one window remains. Not together with ``floor``.

    Returns:
        ``(N + 2P - D(F - 1) - 1) / S + 1``.

    Raises:
        ValueError: the kernel does not fit in the padded input (with ``ceil_mode``: no window is
            left), or (unless ``floor`` or ``ceil_mode``) the stride does not divide, e.g.
            ``conv_output_size(7, 3, stride=3)`` -> 2.33.

    Example:
        >>> conv_output_size(7, 3, stride=2)
        3
        >>> conv_output_size(7, 3, stride=3, floor=True)
        2
        >>> conv_output_size(5, 2, stride=2, ceil_mode=True)
        3
    """
    size = check_positive_int("size", size)
    kernel = check_positive_int("kernel", kernel)
    stride = check_positive_int("stride", stride)
    padding = check_positive_int("padding", padding, minimum=0)
    dilation = check_positive_int("dilation", dilation)
    if floor and ceil_mode:
        raise ArgumentError("ceil_mode", "False when floor=True (one rounding rule)", ceil_mode)
    effective = dilation * (kernel - 1) + 1   # the dilated kernel's extent
    if ceil_mode:
        out = _output_size(size, kernel, stride, padding, dilation, ceil_mode=True)
        if out < 1:
            raise ArgumentError("kernel", f"an effective kernel D(F-1)+1 leaving an output size >= 1 "
                                f"with ceil_mode (padded size {size + 2 * padding}, stride {stride})",
                                f"{effective}: output size would be {out}")
        return out
    span = _span(size, kernel, padding, dilation)
    if span < 0:
        raise ArgumentError("kernel", f"an effective kernel D(F-1)+1 <= padded size {size + 2 * padding}",
                            effective)
    if span % stride and not floor:
        raise ArgumentError(
            "stride", f"a stride dividing N + 2P - D(F-1) - 1 = {span} (or pass floor=True)",
            f"{stride}: output size would be {span / stride + 1:.2f}")
    return _output_size(size, kernel, stride, padding, dilation)


@dataclass(frozen=True)
class ReceptiveFieldRow:
    """One layer of the receptive-field table (sizes are ``None`` when no input size was given)."""

    name: str
    kernel: int
    stride: int
    dilation: int
    padding: int
    input_size: int | None
    output_size: int | None
    receptive_field: int
    jump: int


def _layer_params(i: int, layer: Any) -> tuple[str, int, int, int, int]:
    if isinstance(layer, Mapping):
        if "kernel" not in layer:
            raise ArgumentError(f"layers[{i}]", "a dict with a 'kernel' key", dict(layer))
        get = layer.get
        vals = (get("name", f"layer {i + 1}"), layer["kernel"], get("stride", 1), get("dilation", 1),
                get("padding", 0))
    elif isinstance(layer, Sequence) and not isinstance(layer, str) and 1 <= len(layer) <= 4:
        k, s, d, p = (tuple(layer) + (1, 1, 0)[len(layer) - 1:])[:4]
        vals = (f"layer {i + 1}", k, s, d, p)
    else:
        raise ArgumentError(f"layers[{i}]", "a dict (kernel, stride, dilation, padding, name) or a "
                            "tuple (kernel, stride, dilation, padding)", layer)
    name, k, s, d, p = vals
    return (str(name), check_positive_int(f"layers[{i}].kernel", k), check_positive_int(f"layers[{i}].stride", s),
            check_positive_int(f"layers[{i}].dilation", d),
            check_positive_int(f"layers[{i}].padding", p, minimum=0))


def receptive_field(layers: Sequence[Mapping[str, Any] | tuple], input_size: int | None = None,
                    *, floor: bool = True) -> list[ReceptiveFieldRow]:
    """Per-layer receptive field, jump and (optionally) sizes of a stack of conv/pool layers.

    Args:
        layers: each a dict with ``kernel`` and optional ``stride`` (1), ``dilation`` (1),
            ``padding`` (0), ``name``; or a tuple ``(kernel, stride, dilation, padding)``.
        input_size: spatial size of the input; if given, every row gets input and output sizes.
        floor: torch's floor rule for the sizes (default); ``False`` raises when a stride does not
            divide (see :func:`conv_output_size`).

    Returns:
        One :class:`ReceptiveFieldRow` per layer; ``receptive_field`` is in input pixels and
        ``jump`` is the distance in input pixels between neighbouring outputs of that layer.
    """
    if isinstance(layers, (str, Mapping)) or not isinstance(layers, Sequence):
        raise ArgumentError("layers", "a sequence of layer dicts or tuples", layers)
    size = None if input_size is None else check_positive_int("input_size", input_size)
    rows, r, j = [], 1, 1
    for i, layer in enumerate(layers):
        name, k, s, d, p = _layer_params(i, layer)
        r = r + d * (k - 1) * j
        j = j * s
        out = None if size is None else conv_output_size(size, k, s, p, d, floor=floor)
        rows.append(ReceptiveFieldRow(name, k, s, d, p, size, out, r, j))
        size = out
    return rows


def format_receptive_field_table(rows: Sequence[ReceptiveFieldRow]) -> str:
    """Render rows as the lecture's text table (one header line, one line per layer)."""
    header = ("Layer", "Kernel", "Stride", "Dilation", "Padding", "Input", "Output", "RF", "Jump")
    lines = [header] + [
        (r.name, r.kernel, r.stride, r.dilation, r.padding,
         "-" if r.input_size is None else r.input_size,
         "-" if r.output_size is None else r.output_size, r.receptive_field, r.jump) for r in rows]
    widths = [max(len(str(line[c])) for line in lines) for c in range(len(header))]
    return "\n".join("  ".join(str(v).rjust(w) for v, w in zip(line, widths)) for line in lines)
