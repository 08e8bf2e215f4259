"""Numpy reference layers: forward/backward pairs on NCHW float32/float64 arrays.

Every ``<op>_forward(...)`` returns ``(out, cache)`` and ``<op>_backward(dout, cache)`` returns the
gradients (``dx`` or ``(dx, dw, db)``). Semantics and argument names match
``torch.nn.functional``; everything is vectorized (loops run over kernel offsets only). These are
the references that students' assignment code is graded against.

Shapes: ``N, C, H, W`` images; ``F, KH, KW`` filters; ``D`` features (see :mod:`cnncourse`).
"""

from cnncourse.layers.activations import (
    leaky_relu_backward, leaky_relu_forward, relu_backward, relu_forward, sigmoid_backward,
    sigmoid_forward, tanh_backward, tanh_forward,
)
from cnncourse.layers.batchnorm import batchnorm_backward, batchnorm_forward
from cnncourse.layers.conv import conv2d_backward, conv2d_forward
from cnncourse.layers.conv_transpose import conv_transpose2d_backward, conv_transpose2d_forward
from cnncourse.layers.dropout import dropout_backward, dropout_forward
from cnncourse.layers.linear import linear_backward, linear_forward
from cnncourse.layers.losses import binary_cross_entropy_with_logits, softmax_cross_entropy
from cnncourse.layers.lrn import local_response_norm_backward, local_response_norm_forward
from cnncourse.layers.norms import (
    groupnorm_backward, groupnorm_forward, instancenorm_backward, instancenorm_forward,
    layernorm_backward, layernorm_forward,
)
from cnncourse.layers.padding import zero_pad2d
from cnncourse.layers.pooling import (
    avg_pool2d_backward, avg_pool2d_forward, global_avg_pool_backward, global_avg_pool_forward,
    max_pool2d_backward, max_pool2d_forward,
)

__all__ = [
    "zero_pad2d",
    "conv2d_forward", "conv2d_backward",
    "conv_transpose2d_forward", "conv_transpose2d_backward",
    "max_pool2d_forward", "max_pool2d_backward",
    "avg_pool2d_forward", "avg_pool2d_backward",
    "global_avg_pool_forward", "global_avg_pool_backward",
    "batchnorm_forward", "batchnorm_backward",
    "layernorm_forward", "layernorm_backward",
    "groupnorm_forward", "groupnorm_backward",
    "instancenorm_forward", "instancenorm_backward",
    "dropout_forward", "dropout_backward",
    "relu_forward", "relu_backward",
    "leaky_relu_forward", "leaky_relu_backward",
    "sigmoid_forward", "sigmoid_backward",
    "tanh_forward", "tanh_backward",
    "linear_forward", "linear_backward",
    "softmax_cross_entropy", "binary_cross_entropy_with_logits",
    "local_response_norm_forward", "local_response_norm_backward",
]
