"""World points seen by posed views: projection into the images and sampling them there."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

__all__ = ["project_to_views", "sample_views", "check_cameras_see_bounds"]


def project_to_views(cameras, points: torch.Tensor, image_size) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where ``points`` land in each view.

    Args:
        cameras: ``N`` cameras. points: ``(P, 3)`` world points. image_size: ``(H, W)``.
    Returns:
        ``(grid (N, P, 2), depth (N, P), inside (N, P) bool)``: ``grid`` in ``grid_sample``'s
        coordinates (``align_corners=False``: ``(-1, -1)`` the top-left corner of the image),
        ``depth`` the view-space ``z`` (in front: ``> 0``), ``inside`` in front and within the image.
    """
    H, W = int(image_size[0]), int(image_size[1])
    n = len(cameras)
    pts = points[None].expand(n, -1, -1)
    depth = cameras.get_world_to_view_transform().transform_points(pts)[..., 2]
    ndc = cameras.transform_points_ndc(pts, image_size=(H, W))[..., :2]
    s = min(H, W)
    # NDC: +X left, +Y up, the shorter side spans [-1, 1]; grid_sample: x right, y down.
    grid = torch.stack([-ndc[..., 0] * s / W, -ndc[..., 1] * s / H], -1)
    inside = (depth > 0) & (grid.abs() <= 1).all(-1)
    return grid, depth, inside


def sample_views(images: torch.Tensor, grid: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """``images (N, H, W, C)`` sampled at ``grid (N, P, 2)`` -> ``(N, P, C)`` (zeros outside)."""
    out = F.grid_sample(images.permute(0, 3, 1, 2), grid[:, :, None].to(images.dtype), mode=mode,
                        padding_mode="zeros", align_corners=False)
    return out[..., 0].transpose(1, 2)


def check_cameras_see_bounds(cameras, bounds: torch.Tensor, image_size, names) -> None:
    """``ValueError`` naming the frames whose camera does not see the box ``bounds (2, 3)``
    (its centre behind the camera, or the box's projection outside the image)."""
    lo, hi = bounds[0], bounds[1]
    corners = torch.stack([torch.stack([(lo, hi)[k][i] for i, k in enumerate(c)])
                           for c in itertools.product((0, 1), repeat=3)])
    pts = torch.cat([corners, ((lo + hi) / 2)[None]]).to(torch.float32)
    grid, depth, _ = project_to_views(cameras, pts, image_size)
    front = depth[:, -1] > 0
    ok_corner = depth[:, :-1] > 0
    big = torch.full_like(grid[..., 0], float("inf"))
    gmin = torch.where(ok_corner[..., None], grid[:, :-1], big[:, :-1, None]).amin(1)
    gmax = torch.where(ok_corner[..., None], grid[:, :-1], -big[:, :-1, None]).amax(1)
    overlaps = (gmin <= 1).all(-1) & (gmax >= -1).all(-1)
    bad = [names[i] for i in torch.nonzero(~(front & overlaps)).flatten().tolist()]
    if bad:
        box = [[round(float(x), 4) for x in b] for b in bounds]
        raise ValueError(f"views: expected every camera to look at the reconstruction box {box}, found frames "
                         f"{bad[:10]}{' ...' if len(bad) > 10 else ''} ({len(bad)} of {len(names)}) whose camera "
                         "does not see it (behind the camera or outside the image)")
