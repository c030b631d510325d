"""Rays for surface rendering: one unit-direction ray per pixel, and where rays cross a bounding sphere."""

from __future__ import annotations

import torch

from .._validate import check_tensor, parse_real
from ..render.volume import NDCMultinomialRaysampler
from ..screen import parse_image_size

__all__ = ["pixel_rays", "ray_sphere_bounds"]


def pixel_rays(cameras, image_size) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays through every pixel centre of ``B`` cameras (unrender's NDC, row 0 at the top).

    Returns ``origins (B, H, W, 3)`` and unit ``directions (B, H, W, 3)``, so lengths along a ray are distances.
    """
    H, W = parse_image_size(image_size)
    sampler = NDCMultinomialRaysampler(image_width=W, image_height=H, n_pts_per_ray=0, min_depth=0.0, max_depth=1.0,
                                       unit_directions=True)
    bundle = sampler(cameras)
    return bundle.origins, bundle.directions


def ray_sphere_bounds(origins: torch.Tensor, directions: torch.Tensor, radius: float = 1.0):
    """Where rays ``origins + t directions`` (``(..., 3)``, unit directions) cross the sphere of ``radius``
    about the origin: ``near (...)``, ``far (...)`` (``near >= 0``) and ``hit (...)`` bool (rays that miss
    get ``near = far = 0``)."""
    check_tensor("origins", origins, ["...", 3], floating=True)
    check_tensor("directions", directions, list(origins.shape), floating=True)
    radius = parse_real("radius", radius)
    b = (origins * directions).sum(-1)
    c = (origins * origins).sum(-1) - radius**2
    disc = b * b - c
    hit = disc > 0
    root = disc.clamp_min(0).sqrt()
    near = (-b - root).clamp_min(0)
    far = (-b + root).clamp_min(0)
    hit = hit & (far > near)
    zero = torch.zeros_like(near)
    return torch.where(hit, near, zero), torch.where(hit, far, zero), hit
