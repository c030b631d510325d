"""Point clouds: rasteriser, compositors and renderer (``pytorch3d.renderer.points``).

* ``rasterizer``: ``rasterize_points``, ``PointsRasterizer``,
  ``PointsRasterizationSettings``, ``PointFragments``.
* ``compositor``: ``alpha_composite``, ``norm_weighted_sum``, ``weighted_sum``
  and their modules ``AlphaCompositor``, ``NormWeightedCompositor``,
  ``WeightedSumCompositor``.
* ``renderer``: ``PointsRenderer`` (soft disks, composited).
"""

from .compositor import (
    AlphaCompositor,
    NormWeightedCompositor,
    WeightedSumCompositor,
    alpha_composite,
    make_compositor,
    norm_weighted_sum,
    weighted_sum,
)
from .rasterizer import (
    PointFragments,
    PointsRasterizationSettings,
    PointsRasterizer,
    as_pointclouds,
    packed_radius,
    rasterize_points,
)
from .renderer import PointsRenderer

__all__ = [
    "AlphaCompositor",
    "NormWeightedCompositor",
    "PointFragments",
    "PointsRasterizationSettings",
    "PointsRasterizer",
    "PointsRenderer",
    "WeightedSumCompositor",
    "alpha_composite",
    "as_pointclouds",
    "make_compositor",
    "norm_weighted_sum",
    "packed_radius",
    "rasterize_points",
    "weighted_sum",
]
