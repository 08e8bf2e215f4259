"""Figures and ipywidgets demos for the lectures (matplotlib and ipywidgets are imported lazily).

- :mod:`cnncourse.viz.plots`          annotated matrices, image grids, feature maps, filter banks
- :mod:`cnncourse.viz.slides`         print a computed result next to a slide's numbers and check it
- :mod:`cnncourse.viz.conv_explorer`  the convolution explorer (lecture 02)
- :mod:`cnncourse.viz.pooling`        pooling windows and gradient routes (lecture 03)
"""

from cnncourse.viz.conv_explorer import (ConvExplorer, ExplorerState, conv_explorer, draw_explorer,
                                         explore_conv)
from cnncourse.viz.plots import show_feature_maps, show_filters, show_images, show_matrix
from cnncourse.viz.pooling import draw_gradient_routes, draw_pool_step, pool_window_boxes
from cnncourse.viz.slides import SlideCheck, compare_with_slide, side_by_side

# Functions that build an ipywidgets demo. The browser tests find the lectures that call any of
# these (or use ipywidgets directly) and check each widget renders and reacts in JupyterLab, so a
# new widget helper only needs its name here.
WIDGET_FACTORIES = ("conv_explorer",)

__all__ = [
    "ConvExplorer",
    "ExplorerState",
    "SlideCheck",
    "WIDGET_FACTORIES",
    "compare_with_slide",
    "conv_explorer",
    "draw_explorer",
    "draw_gradient_routes",
    "draw_pool_step",
    "explore_conv",
    "pool_window_boxes",
    "show_feature_maps",
    "show_filters",
    "show_images",
    "show_matrix",
    "side_by_side",
]
