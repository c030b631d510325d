"""The multi-view example scene: a coloured, non-convex object seen by cameras on a sphere.

Every multi-view strategy (visual hull, density grid, NeRF, neural surfaces) is
measured on it. The object (:func:`example_object`) is a tilted torus (a hole)
around a ball (a concavity between them), both inside the unit sphere, with
flat, view-independent vertex colours: six colour bands around the ring, white
stripes around its tube and a checker on the ball. :func:`render_views` draws
any coloured mesh unlit (the texture colour itself, supersampled, with an
alpha mask) and returns :class:`~unrender.io.views.PosedViews`, so the views
round-trip through ``save_views`` / ``load_views``. :func:`example_views` puts
it together: 40 training and 8 held-out views at 128x128 by default.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .._validate import check_positive_int
from ..cameras import FoVPerspectiveCameras, look_at_view_transform
from ..geometry import icosphere, torus
from ..io.views import PosedViews
from ..structures import Meshes
from .mesh.rasterizer import MeshRasterizer, RasterizationSettings
from .textures import TexturesVertex

__all__ = ["example_object", "sphere_cameras", "render_views", "example_views", "supersampled_rgba"]

_BANDS = torch.tensor([[0.85, 0.15, 0.15], [0.95, 0.6, 0.1], [0.9, 0.85, 0.2],
                       [0.2, 0.7, 0.3], [0.15, 0.45, 0.85], [0.55, 0.25, 0.75]])


def _rotation_x(degrees: float) -> torch.Tensor:
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    return torch.tensor([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def example_object(detail: int = 2) -> Meshes:
    """The example object: one mesh (torus + ball, two closed parts) with ``TexturesVertex`` colours.

    Args:
        detail: mesh density (1: light, for quick tests; 2: the default; 3: finest).
    Returns:
        ``Meshes`` of one mesh inside the unit sphere (farthest vertex ~0.8), float32.
    """
    check_positive_int("detail", detail)
    ring = torus(0.55, 0.2, rings=48 * detail, sides=24 * detail)
    v = ring.verts_list()[0]
    theta = torch.atan2(v[:, 1], v[:, 0])  # around the ring
    tube = torch.atan2(v[:, 2], v[:, :2].norm(dim=-1) - 0.55)  # around the tube
    band = ((theta + math.pi) / (2 * math.pi) * 6).long().clamp(0, 5)
    stripe = (torch.sin(5 * tube) > 0.7).float()[:, None]
    ring_colors = _BANDS[band] * (1 - stripe) + 0.95 * stripe
    ball = icosphere(min(2 + detail, 5))
    b = ball.verts_list()[0] * 0.28
    lat = torch.asin(b[:, 2].clamp(-0.28, 0.28) / 0.28)
    lon = torch.atan2(b[:, 1], b[:, 0])
    checker = ((torch.floor(lat / (math.pi / 4)) + torch.floor(lon / (math.pi / 4))) % 2)[:, None]
    ball_colors = checker * torch.tensor([0.95, 0.9, 0.3]) + (1 - checker) * torch.tensor([0.1, 0.25, 0.6])
    rot = _rotation_x(60.0)
    verts = torch.cat([v @ rot.T, b @ rot.T])
    faces = torch.cat([ring.faces_list()[0], ball.faces_list()[0] + v.shape[0]])
    colors = torch.cat([ring_colors, ball_colors])
    return Meshes([verts], [faces], textures=TexturesVertex([colors]))


def sphere_cameras(n: int, distance: float = 2.6, fov: float = 40.0, *, seed: int = 0,
                   max_elevation: float = 70.0) -> FoVPerspectiveCameras:
    """``n`` cameras spread evenly on a sphere (a Fibonacci spiral turned by ``seed``) looking at the origin.

    Elevations stay within ``max_elevation`` degrees (``y`` up) so the look-at frame is well defined.
    """
    check_positive_int("n", n)
    g = torch.Generator().manual_seed(seed)
    i = torch.arange(n, dtype=torch.float64) + 0.5
    y = (1 - 2 * i / n) * math.sin(math.radians(max_elevation))
    azim = math.pi * (3 - math.sqrt(5)) * i + 2 * math.pi * float(torch.rand((), generator=g, dtype=torch.float64))
    r = (1 - y * y).sqrt()
    eye = torch.stack([r * torch.sin(azim), y, r * torch.cos(azim)], -1) * distance
    R, T = look_at_view_transform(eye=eye.float())
    return FoVPerspectiveCameras(R=R, T=T, fov=fov, znear=0.1, zfar=100.0)


def supersampled_rgba(rgb: torch.Tensor, mask: torch.Tensor, supersample: int) -> torch.Tensor:
    """Antialiased pictures from renders at ``supersample`` times the size: ``rgb (N, sH, sW, 3)`` and coverage
    ``mask (N, sH, sW)`` -> ``(N, H, W, 4)`` straight RGBA (colours averaged premultiplied, so the background
    never bleeds into edges; black where nothing is seen), alpha the covered fraction."""
    prem = torch.cat([rgb * mask[..., None], mask[..., None]], -1).permute(0, 3, 1, 2)
    prem = F.avg_pool2d(prem, supersample).permute(0, 2, 3, 1)
    alpha = prem[..., 3:]
    rgb = (prem[..., :3] / alpha.clamp_min(1e-6)).clamp(0, 1) * (alpha > 0)
    return torch.cat([rgb, alpha], -1)


@torch.no_grad()
def render_views(mesh: Meshes, cameras, image_size=128, *, supersample: int = 2) -> PosedViews:
    """Unlit renders of ``mesh``'s texture colours by every camera, with alpha masks.

    Args:
        mesh: one mesh with textures (e.g. ``TexturesVertex``).
        cameras: ``N`` cameras. image_size: an int or ``(H, W)``.
        supersample: samples per pixel along each axis (antialiased colours and soft masks).
    Returns:
        ``PosedViews`` of ``N`` views: straight colours (black where nothing is seen), masks in [0, 1].
    """
    if not isinstance(mesh, Meshes) or len(mesh) != 1 or mesh.textures is None:
        raise ValueError(f"mesh: expected one mesh with textures, found {type(mesh).__name__}")
    check_positive_int("supersample", supersample)
    H, W = (image_size, image_size) if isinstance(image_size, int) else tuple(int(s) for s in image_size)
    s = supersample
    images, masks = [], []
    for k in range(len(cameras)):  # one camera at a time bounds memory
        cam = cameras[k]
        raster = MeshRasterizer(cameras=cam, raster_settings=RasterizationSettings(image_size=(H * s, W * s)))
        frags = raster(mesh)
        color = mesh.textures.sample_textures(frags, mesh)[0, :, :, 0, :3]
        mask = (frags.pix_to_face[0, :, :, 0] >= 0).float()
        rgba = supersampled_rgba(color[None], mask[None], s)[0]
        images.append(rgba[..., :3])
        masks.append(rgba[..., 3])
    return PosedViews(torch.stack(images), cameras, torch.stack(masks))


def example_views(n_train: int = 40, n_test: int = 8, image_size=128, *, seed: int = 0,
                  detail: int = 2) -> tuple[PosedViews, Meshes]:
    """The example scene: ``n_train`` training and ``n_test`` held-out (``"test"`` split) views of
    :func:`example_object`, cameras by :func:`sphere_cameras` (``seed`` turns them; the test views
    are spread among the training ones). Returns ``(views, true_mesh)``."""
    check_positive_int("n_train", n_train)
    n = n_train + n_test
    mesh = example_object(detail)
    views = render_views(mesh, sphere_cameras(n, seed=seed), image_size)
    test = {round((j + 0.5) * n / n_test) for j in range(n_test)} if n_test > 0 else set()
    views.splits = ["test" if i in test else "train" for i in range(n)]
    return views, mesh
