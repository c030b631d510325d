"""Meshes: rasteriser, shaders, renderer and contour silhouettes (``pytorch3d.renderer.mesh``).

* ``rasterizer``: ``rasterize_meshes``, ``MeshRasterizer``, ``RasterizationSettings``,
  ``Fragments``; the engine behind them (selection of faces per pixel, the
  hand-written backward, near-plane clipping, per-pair arithmetic) lives in
  the private ``_raster_kernel``, ``_raster_clip`` and ``_raster_pairs``.
* ``shading``: Phong, Gouraud and flat shading and the shaders.
* ``renderer``: ``MeshRenderer`` (rasteriser + shader).
* ``contour``: ``ContourSilhouetteRenderer``, anti-aliased silhouettes from
  the contour edges.
"""

from .contour import ContourSilhouetteRenderer
from .rasterizer import Fragments, MeshRasterizer, RasterizationSettings, rasterize_meshes
from .renderer import MeshRenderer, MeshRendererWithFragments
from .shading import (
    HardDepthShader,
    HardFlatShader,
    HardGouraudShader,
    HardPhongShader,
    ShaderBase,
    SoftGouraudShader,
    SoftPhongShader,
    SoftSilhouetteShader,
    flat_shading,
    gouraud_shading,
    phong_shading,
)

__all__ = [
    "ContourSilhouetteRenderer",
    "Fragments",
    "HardDepthShader",
    "HardFlatShader",
    "HardGouraudShader",
    "HardPhongShader",
    "MeshRasterizer",
    "MeshRenderer",
    "MeshRendererWithFragments",
    "RasterizationSettings",
    "ShaderBase",
    "SoftGouraudShader",
    "SoftPhongShader",
    "SoftSilhouetteShader",
    "flat_shading",
    "gouraud_shading",
    "phong_shading",
    "rasterize_meshes",
]
