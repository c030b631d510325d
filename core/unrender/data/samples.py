"""One dataset sample: an object's mesh, occupancy, surface points and shaded, framed views.

:func:`make_sample` returns the arrays of one ``.npz`` file (keys and dtypes in SPEC order, see
:mod:`unrender.data.dataset`). Everything random comes from the sample's seed.
"""

from __future__ import annotations

import numpy as np
import torch

from ..cameras import FoVPerspectiveCameras, look_at_view_transform
from ..image import frame_object
from ..render.lighting import DirectionalLights
from ..render.materials import Materials
from ..render.mesh.rasterizer import MeshRasterizer, RasterizationSettings
from ..render.mesh.shading import HardPhongShader
from ..render.views_scene import supersampled_rgba
from .categories import CATEGORIES, make_object
from .objects import ProceduralObject

__all__ = ["CAMERA_DISTANCE", "CAMERA_FOV", "ELEVATION_RANGE", "BOUNDS", "voxel_centers", "view_occupancy", "random_cameras",
           "render_object", "make_sample", "to_uint8"]

CAMERA_DISTANCE = 2.2
CAMERA_FOV = 40.0
ELEVATION_RANGE = (0.0, 45.0)
BOUNDS = 0.5


def voxel_centers(resolution: int = 32, bounds: float = BOUNDS) -> torch.Tensor:
    """``(D, H, W, 3)`` xyz centres of the voxels of ``[-bounds, bounds]^3`` in Voxels order (z, y, x)."""
    c = (torch.arange(resolution, dtype=torch.float32) + 0.5) / resolution * 2 * bounds - bounds
    z, y, x = torch.meshgrid(c, c, c, indexing="ij")
    return torch.stack([x, y, z], -1)


def random_cameras(n: int, generator: torch.Generator) -> FoVPerspectiveCameras:
    """``n`` cameras at distance 2.2 looking at the origin, fov 40, azimuth U[0, 360), elevation U[0, 45]."""
    azim = torch.rand(n, generator=generator) * 360.0
    elev = ELEVATION_RANGE[0] + torch.rand(n, generator=generator) * (ELEVATION_RANGE[1] - ELEVATION_RANGE[0])
    R, T = look_at_view_transform(CAMERA_DISTANCE, elev, azim)
    return FoVPerspectiveCameras(R=R, T=T, fov=CAMERA_FOV, znear=0.1, zfar=10.0)


@torch.no_grad()
def render_object(obj: ProceduralObject, cameras: FoVPerspectiveCameras, generator: torch.Generator,
                  image_size: int = 128, supersample: int = 2) -> torch.Tensor:
    """Phong-shaded renders of ``obj`` by each camera: ``(N, image_size, image_size, 4)`` straight RGBA.

    One directional light per view from a random direction of the camera's upper front hemisphere,
    ambient U[0.3, 0.5]; ``supersample`` samples per pixel along each axis (antialiased colour and alpha).
    """
    n = len(cameras)
    d_view = torch.stack([torch.rand(n, generator=generator) * 2 - 1,
                          0.2 + 0.8 * torch.rand(n, generator=generator),
                          -(0.2 + 0.8 * torch.rand(n, generator=generator))], -1)
    d_view = d_view / d_view.norm(dim=-1, keepdim=True)
    direction = (d_view[:, None, :] @ cameras.R.transpose(1, 2))[:, 0]  # view -> world
    ambient = (0.3 + 0.2 * torch.rand(n, 1, generator=generator)).expand(n, 3)
    lights = DirectionalLights(ambient_color=ambient, diffuse_color=(1 - ambient) * 0.95,
                               specular_color=torch.full((n, 3), 0.12), direction=direction)
    materials = Materials(specular_color=((1.0, 1.0, 1.0),), shininess=24.0)
    s = supersample
    raster = MeshRasterizer(cameras=cameras, raster_settings=RasterizationSettings(image_size=image_size * s))
    meshes = obj.mesh.extend(n)
    frags = raster(meshes)
    shader = HardPhongShader(cameras=cameras, lights=lights, materials=materials)
    rgb = shader(frags, meshes)[..., :3]
    mask = (frags.pix_to_face[..., 0] >= 0).to(rgb.dtype)
    return supersampled_rgba(rgb, mask, s)


def view_occupancy(obj: ProceduralObject, rotations: torch.Tensor, resolution: int = 32) -> torch.Tensor:
    """``rotations (V, 3, 3)`` -> ``(V, r, r, r)`` bool occupancy in each view's frame (Voxels order, bounds
    ``[-0.5, 0.5]^3``): the voxel centre ``c`` is occupied when ``obj.inside(c @ R.T)``."""
    centres = voxel_centers(resolution).reshape(-1, 3)
    inside = obj.inside((centres[None] @ rotations.transpose(1, 2)).reshape(-1, 3))
    return inside.reshape(len(rotations), resolution, resolution, resolution)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Colours in [0, 1] (any shape) -> uint8, as a dataset stores its images and vertex colours."""
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


@torch.no_grad()
def make_sample(category: str, seed: int, *, views: int = 8, points: int = 4096, occupancy_samples: int = 4096,
                resolution: int = 32, image_size: int = 64, render_size: int = 128) -> dict[str, np.ndarray]:
    """The arrays of one sample (object ``make_object(category, seed)``), all from ``seed``."""
    obj = make_object(category, seed)
    g = torch.Generator().manual_seed(int(seed))
    verts, faces = obj.mesh.verts_list()[0], obj.mesh.faces_list()[0]
    colors = obj.mesh.textures.verts_features_list()[0]
    pts, nrm = obj.sample_surface(points, g)
    half = occupancy_samples // 2
    near, _ = obj.sample_surface(half, g)
    near = near + 0.02 * torch.randn(half, 3, generator=g)
    uniform = (torch.rand(occupancy_samples - half, 3, generator=g) * 2 - 1) * 0.55
    occ = torch.cat([near, uniform])
    cameras = random_cameras(views, g)
    R = cameras.R
    grids = view_occupancy(obj, torch.cat([torch.eye(3)[None], R]), resolution)
    occ_inside = obj.inside(occ)
    rgba = render_object(obj, cameras, g, render_size)
    images = torch.stack([frame_object(im, image_size) for im in rgba])
    fov = cameras.fov.reshape(-1)[0]
    return {
        "category": np.array(CATEGORIES.index(category), dtype=np.int64),
        "seed": np.array(int(seed), dtype=np.int64),
        "verts": verts.numpy().astype(np.float32),
        "faces": faces.numpy().astype(np.int32),
        "vert_colors": to_uint8(colors),
        "voxels": np.packbits(grids[0].numpy()),
        "points": pts.numpy().astype(np.float32),
        "normals": nrm.numpy().astype(np.float32),
        "occ_points": occ.numpy().astype(np.float32),
        "occ_inside": occ_inside.numpy(),
        "images": to_uint8(images),
        "R": R.numpy().astype(np.float32),
        "T": cameras.T.numpy().astype(np.float32),
        "fov": np.array(float(fov), dtype=np.float32),
        "view_voxels": np.packbits(grids[1:].numpy()),
    }

