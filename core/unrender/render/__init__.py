"""Rendering: rasterisers, shaders, lights, materials, textures, point splatting, turntables.

PyTorch3D-compatible names and numerics (``pytorch3d.renderer``). Textures
travel beside the meshes, which carry none::

    renderer = MeshRenderer(MeshRasterizer(cameras, RasterizationSettings(512)), HardPhongShader(cameras=cameras))
    images = renderer(meshes, textures=TexturesVertex(colors), lights=PointLights(location=[[0, 2, 2]]))

* meshes: ``rasterize_meshes``, ``MeshRasterizer`` -> ``Fragments``; shaders
  ``Hard/SoftPhongShader``, ``Hard/SoftGouraudShader``, ``HardFlatShader``,
  ``SoftSilhouetteShader``, ``HardDepthShader``; ``MeshRenderer``.
* lights and materials: ``AmbientLights``, ``DirectionalLights``,
  ``PointLights``, ``Materials``, ``BlendParams``.
* textures: ``TexturesVertex``, ``TexturesUV``, ``interpolate_face_attributes``.
* points: ``rasterize_points``, ``PointsRasterizer``, ``AlphaCompositor``,
  ``NormWeightedCompositor``, ``PointsRenderer``.
* ``turntable`` / ``save_turntable``: orbit renders as frames, GIF and PNGs.
* scenes as Blender lights them: ``Scene``, ``SceneMesh``, ``SunLight``,
  ``PointLight``, ``render_scene`` (Lambertian, Blender's light units) and
  ``compare_images`` (silhouette IoU, PSNR, difference image).
"""

from .blending import BlendParams, hard_rgb_blend, sigmoid_alpha_blend, softmax_rgb_blend
from .lighting import AmbientLights, DirectionalLights, PointLights, diffuse, specular
from .materials import Materials
from .points import (
    AlphaCompositor,
    NormWeightedCompositor,
    PointFragments,
    PointsRasterizationSettings,
    PointsRasterizer,
    PointsRenderer,
    WeightedSumCompositor,
    alpha_composite,
    norm_weighted_sum,
    rasterize_points,
    weighted_sum,
)
from .rasterize import Fragments, MeshRasterizer, RasterizationSettings, rasterize_meshes
from .renderer import MeshRenderer, MeshRendererWithFragments
from .scene import (
    PointLight,
    Scene,
    SceneMesh,
    SunLight,
    compare_images,
    linear_to_srgb,
    render_scene,
    srgb_to_linear,
)
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
from .still import render_still
from .textures import TexturesUV, TexturesVertex, interpolate_face_attributes
from .turntable import save_turntable, turntable, turntable_cameras

__all__ = [
    "render_still",
    "AlphaCompositor",
    "AmbientLights",
    "BlendParams",
    "DirectionalLights",
    "Fragments",
    "HardDepthShader",
    "HardFlatShader",
    "HardGouraudShader",
    "HardPhongShader",
    "Materials",
    "MeshRasterizer",
    "MeshRenderer",
    "MeshRendererWithFragments",
    "NormWeightedCompositor",
    "PointFragments",
    "PointLight",
    "PointLights",
    "PointsRasterizationSettings",
    "PointsRasterizer",
    "PointsRenderer",
    "RasterizationSettings",
    "Scene",
    "SceneMesh",
    "ShaderBase",
    "SoftGouraudShader",
    "SoftPhongShader",
    "SoftSilhouetteShader",
    "SunLight",
    "TexturesUV",
    "TexturesVertex",
    "WeightedSumCompositor",
    "alpha_composite",
    "compare_images",
    "diffuse",
    "flat_shading",
    "gouraud_shading",
    "hard_rgb_blend",
    "interpolate_face_attributes",
    "linear_to_srgb",
    "norm_weighted_sum",
    "phong_shading",
    "rasterize_meshes",
    "rasterize_points",
    "render_scene",
    "save_turntable",
    "sigmoid_alpha_blend",
    "softmax_rgb_blend",
    "specular",
    "srgb_to_linear",
    "turntable",
    "turntable_cameras",
    "weighted_sum",
]
