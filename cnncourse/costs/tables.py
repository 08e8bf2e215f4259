"""Text tables of a :class:`~cnncourse.costs.CostReport`, including the slides' own layouts.

Lecture 05. Three layouts:

- :func:`format_cost_table`: one row per layer (name, type, output, params, activations, MACs).
- :func:`format_memory_lines`: the VGG16 slide's lines,
  ``CONV3-64: [224x224x64] memory: 224*224*64=3.2M params: (3*3*3)*64 = 1,728``.
- :func:`format_architecture`: the AlexNet slide's lines,
  ``[55x55x96] CONV1: 96 11x11 filters at stride 4, pad 0``.
"""

from __future__ import annotations

from cnncourse.costs.walker import CostReport, LayerCost, _hwc

__all__ = ["format_architecture", "format_cost_table", "format_memory_lines", "human"]

_CONV = ("Conv1d", "Conv2d", "Conv3d")
_POOL = ("MaxPool2d", "AvgPool2d")
_NORM = ("LocalResponseNorm", "BatchNorm2d")


def human(n: float, *, digits: int = 2, exact_below: int = 10_000) -> str:
    """A count the way the slides round it: exact below 10,000, else ``digits`` significant digits + K/M/G.

    Example:
        >>> human(150_528), human(3_211_264), human(4096), human(25_088)
        ('150K', '3.2M', '4096', '25K')

    Lecture 05.
    """
    if abs(n) < exact_below:
        return f"{n:g}"
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= div:
            v = float(f"{n / div:.{digits}g}")
            return f"{v:g}{suffix}"
    return f"{n:g}"  # pragma: no cover - unreachable


def format_cost_table(report: CostReport, *, title: str | None = None) -> str:
    """One row per layer call with output (``HxWxC``), parameters, activations and MACs, then totals.

    Returns:
        The table as a string (print it).

    Lecture 05.
    """
    head = f"{'layer':<28} {'type':<18} {'output':>14} {'params':>12} {'activations':>12} {'MACs':>15}"
    lines = ([title] if title else []) + [head, "-" * len(head)]
    for l in report.layers:
        lines.append(f"{l.name[:28]:<28} {l.type[:18]:<18} {_hwc(l.output_shape):>14} {l.params:>12,}"
                     f" {l.activations:>12,} {l.macs:>15,}")
    lines.append("-" * len(head))
    mem, nbytes = report.memory(include_input=False)
    lines.append(f"{'total':<28} {'':<18} {'':>14} {report.layer_params:>12,} {mem:>12,}"
                 f" {report.total_macs:>15,}")
    lines.append(f"model parameters {report.total_params:,}; activations {mem:,} "
                 f"({nbytes / 1e6:.1f} MB); {report.total_macs / 1e9:.3f} GMACs = "
                 f"{report.total_flops / 1e9:.3f} GFLOPs")
    if report.uncounted:
        lines.append(f"(operations of {', '.join(report.uncounted)} not counted)")
    return "\n".join(lines)


def _vgg_label(l: LayerCost) -> str:
    if l.type in _CONV:
        return f"CONV{l.description.split()[1].split('x')[0]}-{l.output_shape[1]}"  # "64 3x3 filters" -> 3
    if l.type in _POOL:
        return f"POOL{l.description.split('x')[0]}"
    if l.type == "Linear":
        return "FC"
    return l.type.upper()


def format_memory_lines(report: CostReport, *, show_bias: bool = False,
                        bytes_per_element: int | None = None) -> str:
    """The VGG16 slide's "memory / params" lines, for the layers in ``report`` (select them first).

    Args:
        report: usually ``layer_costs(vgg16(), x).select("Conv2d", "MaxPool2d", "Linear")``.
        show_bias: append ``(+F bias)`` to the parameter formula (the slide counts weights only).
        bytes_per_element: for the TOTAL line; defaults to the activations' own dtype size.

    Returns:
        One line per layer, the INPUT line first, then the slide's two TOTAL lines (computed).

    Lecture 05.
    """
    n, *rest = report.input_shape
    bpe = bytes_per_element or (report.input_bytes // max(report.input_elements, 1))
    lines = [f"INPUT: [{_hwc(report.input_shape)}] memory: {'*'.join(map(str, (*rest[1:], rest[0])))}"
             f"={human(report.input_elements // n)} params: 0"]
    for l in report.layers:
        shape = l.output_shape[1:]
        dims = (*shape[1:], shape[0]) if len(shape) >= 2 else (1, 1, *shape)
        per_image = l.activations // l.output_shape[0]
        mem = f"{'*'.join(map(str, dims))}={human(per_image)}" if len(shape) >= 2 else f"{per_image}"
        if l.weights:
            params = f"{l.weight_formula} = {l.weights:,}"
            if show_bias and l.bias:
                params += f" (+{l.bias:,} bias)"
        else:
            params = "0"
        lines.append(f"{_vgg_label(l)}: [{'x'.join(map(str, dims))}] memory: {mem} params: {params}")
    elements, _ = report.memory()
    elements //= n
    lines.append(f"TOTAL memory: {human(elements, digits=3)} * {bpe} bytes ~ {human(elements * bpe)}B / image "
                 f"(for a forward pass)")
    lines.append(f"TOTAL params: {human(report.layer_params, digits=3)} parameters")
    return "\n".join(lines)


def format_architecture(report: CostReport) -> str:
    """The AlexNet slide's lines ``[55x55x96] CONV1: 96 11x11 filters at stride 4, pad 0``.

    Layers are numbered as the slide does: CONVi, MAX POOLi, NORMi, and the fully connected
    layers continue the count of the convolutions (AlexNet's FC6, FC7, FC8). Layers of other types
    (activations, dropout) should be removed with :meth:`CostReport.select` first.

    Lecture 05.
    """
    lines = [f"[{_hwc(report.input_shape)}] INPUT"]
    count = {"CONV": 0, "MAX POOL": 0, "AVG POOL": 0, "NORM": 0, "FC": 0}
    for l in report.layers:
        if l.type in _CONV:
            key = "CONV"
        elif l.type in _POOL:
            key = "MAX POOL" if l.type.startswith("Max") else "AVG POOL"
        elif l.type in _NORM:
            key = "NORM"
        elif l.type == "Linear":
            key = "FC"
        else:
            lines.append(f"[{_hwc(l.output_shape)}] {l.type}")
            continue
        count[key] += 1
        number = count[key] + (count["CONV"] if key == "FC" else 0)
        lines.append(f"[{_hwc(l.output_shape)}] {key}{number}: {l.description}")
    return "\n".join(lines)
