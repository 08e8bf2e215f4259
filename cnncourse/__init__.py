"""cnncourse: the helper library of a Jupyter course on convolutional neural networks.

The library is the source of truth; lecture and assignment notebooks import it.

Shape vocabulary (used in every docstring of the package)
---------------------------------------------------------
- Images and feature maps are NCHW: ``N`` batch, ``C`` channels, ``H`` height, ``W`` width.
  ``H_out, W_out`` are output sizes.
- Filters are ``(F, C / groups, KH, KW)``: ``F`` filters (output channels), kernel ``KH x KW``.
- Boxes: ``K`` or ``M`` boxes, ``(x1, y1, x2, y2)`` in absolute pixels unless a function says otherwise.
- Embeddings: ``(N, D)``, ``D`` the embedding dimension.

Families (one folder each)
--------------------------
- :mod:`cnncourse.layers`        numpy reference layers, forward/backward pairs returning ``(out, cache)``
- :mod:`cnncourse.arithmetic`    output sizes and receptive fields
- :mod:`cnncourse.gradcheck`     numeric gradients and ``rel_error``
- :mod:`cnncourse.signal`        1-D/2-D/3-D single-channel correlation vs convolution, Toeplitz form
- :mod:`cnncourse.pyramid`       adaptive and spatial pyramid pooling
- :mod:`cnncourse.data`          offline datasets and checksummed downloads
- :mod:`cnncourse.detection`     boxes, NMS, anchors, RoI ops, YOLO, VOC/COCO evaluation
- :mod:`cnncourse.verification`  metric-learning losses and verification/identification metrics
- :mod:`cnncourse.segmentation`  pixel losses, IoU/Dice metrics, weight maps, transposed-conv views, FCN
- :mod:`cnncourse.grading`       the toolkit used by visible and hidden test cells
- :mod:`cnncourse.course`        nbgrader release, autograde and demo
- :mod:`cnncourse.viz`           plots and ipywidgets demos
- :mod:`cnncourse.costs`         per-layer parameters, activations and MACs of a model; the slides' cost tables
- :mod:`cnncourse.models`        LeNet, AlexNet, VGG, GoogLeNet, ResNet/ResNeXt, MobileNetV2 and their blocks
- :mod:`cnncourse.explain`       occlusion maps, CAM and Grad-CAM

Subpackages are imported lazily (``import cnncourse.detection``) so that ``import cnncourse``
stays cheap and does not import torch.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
