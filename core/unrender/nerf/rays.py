"""Rays of posed views and their entry / exit through the scene box."""

from __future__ import annotations

import torch

from ..render.volume import NDCMultinomialRaysampler

__all__ = ["view_rays", "box_near_far"]


def view_rays(cameras, image_size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays through every pixel centre of ``N`` cameras.

    Returns ``origins (N, H, W, 3)`` and unit ``directions (N, H, W, 3)`` (row 0 at the
    top, as the images), so distances along a ray are world distances.
    """
    H, W = image_size
    sampler = NDCMultinomialRaysampler(image_width=W, image_height=H, n_pts_per_ray=0, min_depth=0.0, max_depth=0.0,
                                       unit_directions=True)
    bundle = sampler(cameras)
    return bundle.origins, bundle.directions


def box_near_far(origins: torch.Tensor, directions: torch.Tensor, bound: float, min_near: float = 0.0):
    """Where rays enter and leave ``[-bound, bound]^3`` (slab test).

    origins, directions: ``(R, 3)`` -> ``near, far (R,)`` ray lengths; ``near >= min_near``;
    a ray that misses the box gets ``near == far``.
    """
    d = torch.where(directions.abs() < 1e-9, torch.full_like(directions, 1e-9), directions)
    t0, t1 = (-bound - origins) / d, (bound - origins) / d
    near = torch.minimum(t0, t1).amax(-1).clamp_min(min_near)
    far = torch.maximum(t0, t1).amin(-1)
    return near, torch.maximum(far, near)
