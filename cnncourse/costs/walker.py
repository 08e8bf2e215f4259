"""Per-layer costs of a torch model, measured by running it once with forward hooks.

Lecture 05. :func:`layer_costs` hooks every leaf module (a module without children, plus any
module that owns parameters directly), runs one forward pass and records, per call:
output shape, parameters, activations (output elements and bytes) and multiply-accumulates.

What is counted as an operation follows ``torch.utils.flop_counter.FlopCounterMode``: convolutions
(:func:`cnncourse.costs.conv2d_macs`) and fully connected layers; normalisation, activations,
pooling, additions and biases count zero. FLOPs = 2 * MACs. Module types whose operations the
walker does not know but that own parameters are listed in ``CostReport.uncounted``.

Tip: big models cost nothing to walk on the ``meta`` device (shapes only, no arithmetic)::

    with torch.device("meta"):
        model = vgg16()
    report = layer_costs(model, torch.zeros(1, 3, 224, 224, device="meta"))
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from cnncourse._validate import ArgumentError
from cnncourse.costs.formulas import conv2d_macs

__all__ = ["CostReport", "LayerCost", "layer_costs"]


@dataclass(frozen=True)
class LayerCost:
    """What one call of one leaf module costs (for the whole input batch).

    Attributes:
        name: the module's dotted name in the model (``"features.0"``), with ``"#2"`` appended for
            a module called a second time.
        type: the module's class name (``"Conv2d"``).
        input_shape, output_shape: shapes including the batch dimension.
        params: parameters the module owns (0 on repeated calls, so that sums are not doubled).
        bias: how many of ``params`` are biases.
        activations: elements of the output; ``activation_bytes`` at the output's dtype.
        macs: multiply-accumulates (0 for layers that do no multiplications).
        description: the slide's wording, e.g. ``"96 11x11 filters at stride 4, pad 0"``.
        weight_formula: the slide's parameter formula, e.g. ``"(3*3*3)*64"`` (empty if none).

    Lecture 05.
    """

    name: str
    type: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int
    bias: int
    activations: int
    activation_bytes: int
    macs: int
    description: str = ""
    weight_formula: str = ""

    @property
    def flops(self) -> int:
        """2 * MACs (one multiply and one add each)."""
        return 2 * self.macs

    @property
    def weights(self) -> int:
        """Parameters that are not biases (what the slides' "params" column counts)."""
        return self.params - self.bias


@dataclass(frozen=True)
class CostReport:
    """All layers of one forward pass, and totals.

    Attributes:
        input_shape, input_elements, input_bytes: the sample input.
        layers: one :class:`LayerCost` per leaf-module call, in execution order.
        total_params: ``sum(p.numel() for p in model.parameters())`` (each shared tensor once).
        uncounted: types of parameterised leaves whose operations were not counted.

    Lecture 05.
    """

    input_shape: tuple[int, ...]
    input_elements: int
    input_bytes: int
    layers: tuple[LayerCost, ...]
    total_params: int
    uncounted: tuple[str, ...] = field(default=())

    @property
    def total_macs(self) -> int:
        """Sum of the layers' MACs."""
        return sum(l.macs for l in self.layers)

    @property
    def total_flops(self) -> int:
        """2 * :attr:`total_macs` (equals ``FlopCounterMode().get_total_flops()``)."""
        return 2 * self.total_macs

    @property
    def layer_params(self) -> int:
        """Sum of the listed layers' parameters (equals ``total_params`` before :meth:`select`)."""
        return sum(l.params for l in self.layers)

    def memory(self, *, include_input: bool = True) -> tuple[int, int]:
        """``(elements, bytes)`` of the listed layers' outputs, plus the input if asked.

        This is the VGG slide's "TOTAL memory": every listed row's volume summed, input included.
        """
        elements = sum(l.activations for l in self.layers)
        nbytes = sum(l.activation_bytes for l in self.layers)
        if include_input:
            elements, nbytes = elements + self.input_elements, nbytes + self.input_bytes
        return elements, nbytes

    def select(self, *types: str) -> CostReport:
        """The same report restricted to layers of the given class names (``"Conv2d"``, ...)."""
        if not types:
            raise ArgumentError("types", "at least one module class name", "none")
        return replace(self, layers=tuple(l for l in self.layers if l.type in types))

    def __str__(self) -> str:
        from cnncourse.costs.tables import format_cost_table

        return format_cost_table(self)


def _first_tensor(obj: Any) -> torch.Tensor | None:
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, (tuple, list)):
        for o in obj:
            t = _first_tensor(o)
            if t is not None:
                return t
    if isinstance(obj, dict):
        return _first_tensor(list(obj.values()))
    return None


def _tensors(obj: Any) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in _tensors(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _tensors(o)]
    return []


def _conv_macs(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    if isinstance(m, nn.Conv2d):
        n, _, h_out, w_out = y.shape
        return n * conv2d_macs(h_out, w_out, m.in_channels, m.out_channels, m.kernel_size,
                               groups=m.groups)
    if isinstance(m, (nn.Conv1d, nn.Conv3d)):  # same dot product per output element
        return y.numel() * (m.in_channels // m.groups) * math.prod(m.kernel_size)
    # transposed conv: every INPUT element is scattered through C_out/groups * K filters
    return x.numel() * (m.out_channels // m.groups) * math.prod(m.kernel_size)


# parameterised layers that FlopCounterMode (and the slides) charge no multiply-accumulates
_NO_MACS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.PReLU, nn.Embedding)


def _macs(m: nn.Module, x: torch.Tensor | None, y: torch.Tensor) -> int | None:
    """MACs of one call, 0 for no multiplications, ``None`` for a type we do not know."""
    if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                      nn.ConvTranspose3d)):
        return _conv_macs(m, x, y)
    if isinstance(m, nn.Linear):
        return (x.numel() // m.in_features) * m.in_features * m.out_features
    if isinstance(m, _NO_MACS):
        return 0
    return None


def _hwc(shape: tuple[int, ...]) -> str:
    """(N, C, H, W) -> 'HxWxC'; (N, F) -> 'F'."""
    s = shape[1:]
    return "x".join(map(str, (*s[1:], s[0]))) if len(s) >= 2 else "x".join(map(str, s))


def _describe(m: nn.Module, prev_shape: tuple[int, ...] | None) -> tuple[str, str]:
    """The slide's wording of a layer and its weight formula."""
    if isinstance(m, nn.Conv2d):
        kh, kw = m.kernel_size
        pad = m.padding if isinstance(m.padding, str) else m.padding[0]
        extra = f", groups {m.groups}" if m.groups > 1 else ""
        desc = f"{m.out_channels} {kh}x{kw} filters at stride {m.stride[0]}, pad {pad}{extra}"
        cin = m.in_channels // m.groups
        return desc, f"({kh}*{kw}*{cin})*{m.out_channels}"
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        k, s = m.kernel_size, m.stride
        k = k if isinstance(k, int) else k[0]
        s = s if isinstance(s, int) else s[0]
        return f"{k}x{k} filters at stride {s}", ""
    if isinstance(m, nn.Linear):
        if prev_shape is not None and len(prev_shape) == 4 and math.prod(prev_shape[1:]) == m.in_features:
            _, c, h, w = prev_shape
            formula = f"{h}*{w}*{c}*{m.out_features}"
        else:
            formula = f"{m.in_features}*{m.out_features}"
        return f"{m.out_features} neurons", formula
    if isinstance(m, (nn.LocalResponseNorm, nn.BatchNorm2d)):
        return "Normalization layer", ""
    return "", ""


def layer_costs(model: nn.Module, x: torch.Tensor) -> CostReport:
    """Run ``model(x)`` once and report what every leaf layer costs.

    The model runs in eval mode under ``torch.no_grad()`` (its mode is restored afterwards).

    Args:
        model: any ``nn.Module``; leaves and modules owning parameters directly are hooked.
        x: a sample input tensor (for images ``(N, C, H, W)``), on the model's device; the
            ``meta`` device works and is instant.

    Returns:
        A :class:`CostReport`; costs are for the whole batch (use ``N = 1`` for per-image numbers).

    Example:
        >>> conv = nn.Conv2d(3, 96, 11, stride=4)
        >>> r = layer_costs(conv, torch.zeros(1, 3, 227, 227))
        >>> r.layers[0].output_shape, r.layers[0].params, r.layers[0].macs
        ((1, 96, 55, 55), 34944, 105415200)

    Lecture 05.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` expected a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"`x` expected a torch.Tensor, got {type(x).__name__}")
    rows: list[LayerCost] = []
    calls: dict[str, int] = {}
    uncounted: set[str] = set()
    state: dict[str, Any] = {"prev": tuple(x.shape)}

    def hook(name: str):
        def record(m: nn.Module, inputs: tuple, output: Any) -> None:
            xin, outs = _first_tensor(inputs), _tensors(output)
            if not outs:
                return
            y = outs[0]
            calls[name] = calls.get(name, 0) + 1
            first = calls[name] == 1
            own = dict(m.named_parameters(recurse=False)) if first else {}
            macs = _macs(m, xin, y)
            if macs is None:
                if own:
                    uncounted.add(type(m).__name__)
                macs = 0
            desc, formula = _describe(m, state["prev"])
            rows.append(LayerCost(
                name=name if first else f"{name}#{calls[name]}", type=type(m).__name__,
                input_shape=tuple(xin.shape) if xin is not None else (),
                output_shape=tuple(y.shape),
                params=sum(p.numel() for p in own.values()),
                bias=sum(p.numel() for k, p in own.items() if k.endswith("bias")),
                activations=sum(t.numel() for t in outs),
                activation_bytes=sum(t.numel() * t.element_size() for t in outs),
                macs=macs, description=desc, weight_formula=formula))
            state["prev"] = tuple(y.shape)
        return record

    handles = [m.register_forward_hook(hook(name or type(m).__name__))
               for name, m in model.named_modules()
               if not any(True for _ in m.children()) or any(True for _ in m.parameters(recurse=False))]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return CostReport(input_shape=tuple(x.shape), input_elements=x.numel(),
                      input_bytes=x.numel() * x.element_size(), layers=tuple(rows),
                      total_params=sum(p.numel() for p in model.parameters()),
                      uncounted=tuple(sorted(uncounted)))
