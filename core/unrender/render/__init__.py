"""Rendering: rasterisers, shaders, lights, materials, textures, point splatting, turntables.

PyTorch3D-compatible names and numerics (``pytorch3d.renderer``). Textures
ride on the meshes (``Meshes(verts, faces, textures=TexturesVertex(colors))``)
or are passed to the renderer, which then wins::

    renderer = MeshRenderer(MeshRasterizer(cameras, RasterizationSettings(512)), HardPhongShader(cameras=cameras))
    images = renderer(meshes, textures=TexturesVertex(colors), lights=PointLights(location=[[0, 2, 2]]))

Layout: one subpackage per primitive, the pieces they share at the top.
Each subpackage is re-exported here. Screen conventions (pixel centres, ``image_size``)
live below, in :mod:`unrender.screen`.

* ``mesh/``: ``rasterize_meshes``, ``MeshRasterizer`` -> ``Fragments``; shaders
  ``Hard/SoftPhongShader``, ``Hard/SoftGouraudShader``, ``HardFlatShader``,
  ``SoftSilhouetteShader``, ``HardDepthShader``; ``MeshRenderer``;
  ``ContourSilhouetteRenderer``.
* ``points/``: ``rasterize_points``, ``PointsRasterizer``, ``AlphaCompositor``,
  ``NormWeightedCompositor``, ``WeightedSumCompositor``, ``PointsRenderer``.
* ``volume/``: ``RayBundle``, ``NDCMultinomialRaysampler``, ``MultinomialRaysampler``,
  ``MonteCarloRaysampler``, ``sample_pdf``, ``EmissionAbsorptionRaymarcher``,
  ``AbsorptionOnlyRaymarcher``, ``ImplicitRenderer``, ``VolumeSampler``, ``VolumeRenderer``.
* shared: lights and materials (``AmbientLights``, ``DirectionalLights``,
  ``PointLights``, ``Materials``), blending (``BlendParams``), textures
  (``TexturesVertex``, ``TexturesUV``, ``TexturesAtlas``, ``interpolate_face_attributes``).
* ``turntable`` / ``save_turntable``: orbit renders as frames, GIF and PNGs.
* ``views_scene``: the multi-view example scene (``example_views``: a coloured non-convex
  object seen by cameras on a sphere, as ``PosedViews``), ``render_views`` (unlit, with masks).
* scenes as Blender lights them: ``Scene``, ``SceneMesh``, ``SceneSunLight``,
  ``ScenePointLight``, ``render_scene`` (Lambertian, Blender's light units) and
  ``compare_images`` (silhouette IoU, PSNR, difference image).
"""

from .blending import (
    BlendParams,
    Slots,
    background_tensor,
    hard_blend_packed,
    hard_rgb_blend,
    select_slots,
    sigmoid_alpha_blend,
    silhouette_alpha,
    softmax_blend_packed,
    softmax_rgb_blend,
)
from .lighting import AmbientLights, DirectionalLights, PointLights, as_batch_property, diffuse, property_rows, specular, view_like
from .materials import Materials
from .mesh import *  # noqa: F401,F403  (the names listed in mesh.__all__)
from .mesh import __all__ as _mesh_names
from .points import *  # noqa: F401,F403  (the names listed in points.__all__)
from .points import __all__ as _points_names
from .volume import *  # noqa: F401,F403  (the names listed in volume.__all__)
from .volume import __all__ as _volume_names
from .scene import (
    Scene,
    SceneMesh,
    ScenePointLight,
    SceneSunLight,
    compare_images,
    linear_to_srgb,
    render_scene,
    srgb_to_linear,
)
from .still import UP_AXES, frame_of, render_still, still_renderable
from .textures import TexturesAtlas, TexturesBase, TexturesUV, TexturesVertex, as_textures, gather_interpolate, interpolate_face_attributes, interpolate_packed
from .turntable import composite_splats, point_spacing, save_turntable, turntable, turntable_cameras
from .views_scene import example_object, example_views, render_views, sphere_cameras, supersampled_rgba

__all__ = [
    *_mesh_names,
    *_points_names,
    *_volume_names,
    "UP_AXES",
    "composite_splats",
    "frame_of",
    "point_spacing",
    "render_still",
    "still_renderable",
    "AmbientLights",
    "BlendParams",
    "DirectionalLights",
    "Materials",
    "PointLights",
    "Scene",
    "SceneMesh",
    "ScenePointLight",
    "SceneSunLight",
    "Slots",
    "TexturesUV",
    "TexturesAtlas",
    "TexturesBase",
    "TexturesVertex",
    "as_batch_property",
    "as_textures",
    "background_tensor",
    "gather_interpolate",
    "hard_blend_packed",
    "interpolate_packed",
    "property_rows",
    "silhouette_alpha",
    "softmax_blend_packed",
    "view_like",
    "compare_images",
    "diffuse",
    "hard_rgb_blend",
    "interpolate_face_attributes",
    "linear_to_srgb",
    "render_scene",
    "save_turntable",
    "select_slots",
    "sigmoid_alpha_blend",
    "softmax_rgb_blend",
    "specular",
    "srgb_to_linear",
    "turntable",
    "turntable_cameras",
    "example_object",
    "example_views",
    "render_views",
    "sphere_cameras",
    "supersampled_rgba",
]
