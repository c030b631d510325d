"""The visual hull: voxels carved by silhouettes, meshed, coloured from the views."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._validate import check_positive_int, parse_bounds, parse_resolution
from ..geometry import marching_cubes
from ..render.mesh.rasterizer import MeshRasterizer, RasterizationSettings
from ..render.textures import TexturesVertex
from ..structures import Meshes, Voxels
from .views_sampling import project_to_views, sample_views

__all__ = ["carve_visual_hull", "colors_from_views", "visual_hull_mesh"]


@torch.no_grad()
def carve_visual_hull(masks: torch.Tensor, cameras, resolution=64, bounds=((-1.0, -1.0, -1.0), (1.0, 1.0, 1.0)), *,
                      threshold: float = 0.5, chunk: int = 1 << 15) -> Voxels:
    """Occupancy of the visual hull: a voxel is kept when its centre projects inside every mask
    that sees it (in front of the camera and within the image; views that do not see it do not carve).

    Args:
        masks: ``(N, H, W)`` float in [0, 1]. cameras: ``N`` cameras.
        resolution: an int or ``(D, H, W)``. bounds: ``(2, 3)`` box ``[[xmin, ymin, zmin], [xmax, ymax, zmax]]``.
        threshold: mask values above it are inside. chunk: voxels projected at once (memory: ``N * chunk``).
    Returns:
        ``Voxels`` of one float ``(D, H, W)`` 0/1 grid on ``bounds``.
    """
    if not isinstance(masks, torch.Tensor) or masks.dim() != 3 or masks.shape[0] != len(cameras):
        found = tuple(masks.shape) if isinstance(masks, torch.Tensor) else type(masks).__name__
        raise ValueError(f"masks: expected ({len(cameras)}, H, W) (one per camera), found {found}")
    res = parse_resolution("resolution", resolution)
    box = parse_bounds("bounds", bounds, 1, device=masks.device)[0].to(torch.float32)
    check_positive_int("chunk", chunk)
    centres = Voxels([masks.new_zeros(res)], box).voxel_centers(0).reshape(-1, 3).to(torch.float32)
    keep = torch.empty(centres.shape[0], dtype=torch.bool, device=masks.device)
    m = masks[..., None].to(torch.float32)
    for start in range(0, centres.shape[0], chunk):
        pts = centres[start:start + chunk]
        grid, _, inside = project_to_views(cameras, pts, masks.shape[1:])
        in_mask = sample_views(m, grid, mode="nearest")[..., 0] > threshold
        keep[start:start + chunk] = (in_mask | ~inside).all(0)
    return Voxels([keep.reshape(res).to(torch.float32)], box)


@torch.no_grad()
def colors_from_views(verts: torch.Tensor, faces: torch.Tensor, images: torch.Tensor, cameras, *,
                      tolerance: float = 0.02, fallback: float = 0.5) -> torch.Tensor:
    """Vertex colours from the view that sees each vertex most frontally, unoccluded.

    A vertex is seen by a view when it projects into the image no deeper than the mesh's own
    depth there plus ``tolerance`` (a depth test against the mesh rasterised in that view).

    Args:
        verts: ``(V, 3)`` float, faces: ``(F, 3)`` int64 (outward). images: ``(N, H, W, 3)``. cameras: ``N`` cameras.
        fallback: the grey of vertices no view sees.
    Returns:
        ``(V, 3)`` float colours.
    """
    N, H, W = images.shape[:3]
    mesh = Meshes([verts], [faces])
    normals = mesh.verts_normals_packed()
    grid, depth, inside = project_to_views(cameras, verts, (H, W))
    # one batched rasterisation of the mesh by every camera: (N, H, W, 1) nearest depths
    rasterizer = MeshRasterizer(cameras=cameras, raster_settings=RasterizationSettings(image_size=(H, W)))
    zbuf = rasterizer(mesh.extend(N)).zbuf[..., :1]
    zbuf = torch.where(zbuf < 0, torch.full_like(zbuf, float("inf")), zbuf)
    surface = -F.max_pool2d(-zbuf.permute(0, 3, 1, 2), 3, 1, 1).permute(0, 2, 3, 1)  # nearest surface around the pixel
    visible = inside & (depth <= sample_views(surface, grid, mode="nearest")[..., 0] + tolerance)
    to_camera = F.normalize(cameras.get_camera_center()[:, None] - verts[None], dim=-1)
    score = torch.where(visible, (to_camera * normals[None]).sum(-1), torch.full_like(depth, -2.0))
    best = score.argmax(0)
    colors = sample_views(images, grid)  # (N, V, 3)
    chosen = colors[best, torch.arange(verts.shape[0], device=verts.device)]
    seen = score.amax(0) > -2.0
    return torch.where(seen[:, None], chosen, torch.full_like(chosen, fallback))


def visual_hull_mesh(views, resolution=64, bounds=((-1.0, -1.0, -1.0), (1.0, 1.0, 1.0))) -> tuple[Meshes, Voxels]:
    """The visual hull of posed views with masks: ``(mesh with TexturesVertex colours, occupancy Voxels)``.

    ``views``: :class:`~unrender.io.views.PosedViews` with masks (``ValueError`` without). Uses every
    view given (select a split first to hold views out).
    """
    if views.masks is None:
        raise ValueError("views: expected masks (from alpha or mask files) for the visual hull, found views without masks")
    occ = carve_visual_hull(views.masks, views.cameras, resolution, bounds)
    mesh = marching_cubes(occ, 0.5)
    if mesh.isempty():
        raise ValueError("views: expected masks whose silhouettes intersect inside the bounds, found an empty visual hull")
    v, f = mesh.verts_list()[0], mesh.faces_list()[0]
    size = float(occ.voxel_sizes()[0].max())
    colors = colors_from_views(v, f, views.images, views.cameras, tolerance=1.5 * size)
    return Meshes([v], [f], textures=TexturesVertex([colors])), occ
