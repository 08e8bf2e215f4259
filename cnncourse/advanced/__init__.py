"""Global vs local operators in images and CNNs (Lecture 10: advanced topics).

The lecture's thread is "the forever battle between globalness and localness": a local operator
(a 3x3 mean, a 3x3 convolution) sees a small neighbourhood; the operators here reach further.

- :mod:`.nonlocal_means`  ``local_mean_filter`` and ``nonlocal_means`` (Buades and Morel, CVPR 2005),
  ``nonlocal_means_weights`` (the map ``w(i, .)`` of one pixel)
- :mod:`.nonlocal_block`  ``NonLocalBlock``: the deep-network form, attention over all positions
  (Wang et al., CVPR 2018)
- :mod:`.deform`          ``deform_conv2d`` (Dai et al., ICCV 2017) and ``deform_sampling_locations``
- :mod:`.receptive`       ``gradient_receptive_field`` (which input pixels one output sees, by
  autograd) and ``support_extent``
- :mod:`.attention`       ``glimpse`` (a high-resolution centre with low-resolution context, for
  attention-based re-id); channel attention (SE) is :class:`cnncourse.models.SEBlock`

All are torch functions or modules: vectorized, differentiable, on the input's device and dtype.
Images are NCHW (``(H, W)`` and ``(C, H, W)`` accepted where stated).
"""

from __future__ import annotations

from cnncourse.advanced.attention import glimpse
from cnncourse.advanced.deform import deform_conv2d, deform_sampling_locations
from cnncourse.advanced.nonlocal_block import NonLocalBlock
from cnncourse.advanced.nonlocal_means import local_mean_filter, nonlocal_means, nonlocal_means_weights
from cnncourse.advanced.receptive import gradient_receptive_field, support_extent

__all__ = [
    "NonLocalBlock",
    "deform_conv2d",
    "deform_sampling_locations",
    "glimpse",
    "gradient_receptive_field",
    "local_mean_filter",
    "nonlocal_means",
    "nonlocal_means_weights",
    "support_extent",
]
