"""Cost accounting of CNNs: parameters, activations (memory) and multiply-accumulates per layer.

Lecture 05 (architectures). Two halves that share one formula per quantity:

- :mod:`cnncourse.costs.formulas`  closed forms: conv/linear parameters and MACs, the MobileNet
  slide's standard/depthwise/pointwise counts, the inception module's op count.
- :mod:`cnncourse.costs.walker`    :func:`layer_costs` runs a real ``nn.Module`` once with forward
  hooks and reports every layer (:class:`CostReport`); conv MACs come from the closed form.
- :mod:`cnncourse.costs.tables`    the report as text, including the VGG16 and AlexNet slides' layouts.

FLOPs = 2 * MACs, as ``torch.utils.flop_counter.FlopCounterMode`` counts them.
"""

from cnncourse.costs.formulas import (InceptionSpec, InceptionTerm, conv2d_macs, conv2d_params,
                                      depthwise_conv_mults, inception_ops, linear_macs, linear_params,
                                      pointwise_conv_mults, standard_conv_mults)
from cnncourse.costs.tables import format_architecture, format_cost_table, format_memory_lines, human
from cnncourse.costs.walker import CostReport, LayerCost, layer_costs

__all__ = [
    "CostReport",
    "InceptionSpec",
    "InceptionTerm",
    "LayerCost",
    "conv2d_macs",
    "conv2d_params",
    "depthwise_conv_mults",
    "format_architecture",
    "format_cost_table",
    "format_memory_lines",
    "human",
    "inception_ops",
    "layer_costs",
    "linear_macs",
    "linear_params",
    "pointwise_conv_mults",
    "standard_conv_mults",
]
