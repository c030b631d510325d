"""Rays as origins, directions and the lengths at which points sit on them (PyTorch3D's ``RayBundle``)."""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..._validate import check_tensor, parse_real

__all__ = ["RayBundle", "ray_bundle_to_ray_points", "ray_bundle_variables_to_ray_points", "check_ray_bundle",
           "ray_box_bounds", "ray_sphere_bounds"]


class RayBundle(NamedTuple):
    """Points along rays: ``origins + lengths * directions``.

    origins: ``(..., 3)`` world ray origins; directions: ``(..., 3)`` (not
    necessarily unit: a length is measured in units of its direction);
    lengths: ``(..., P)``; xys: ``(..., 2)`` the NDC location of each ray's pixel.
    """

    origins: torch.Tensor
    directions: torch.Tensor
    lengths: torch.Tensor
    xys: torch.Tensor


def ray_bundle_variables_to_ray_points(origins: torch.Tensor, directions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``origins (..., 3)``, ``directions (..., 3)``, ``lengths (..., P)`` -> ``(..., P, 3)`` points."""
    return origins[..., None, :] + lengths[..., :, None] * directions[..., None, :]


def ray_bundle_to_ray_points(ray_bundle: RayBundle) -> torch.Tensor:
    """``(..., P, 3)`` points of a :class:`RayBundle`."""
    return ray_bundle_variables_to_ray_points(ray_bundle.origins, ray_bundle.directions, ray_bundle.lengths)


def check_ray_bundle(origins: torch.Tensor, directions: torch.Tensor, lengths: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``origins``/``directions`` are ``(B, ..., 3)`` and ``lengths``
    ``(B, ..., P)`` with the same leading dimensions (at least 3 dimensions each)."""
    for name, x in (("origins", origins), ("directions", directions), ("lengths", lengths)):
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"ray_bundle.{name}: expected a torch.Tensor, found {type(x).__name__}")
        if x.dim() < 3:
            raise ValueError(f"ray_bundle.{name}: expected at least 3 dimensions (B, ..., C), found shape {tuple(x.shape)}")
    for name, x in (("origins", origins), ("directions", directions)):
        if x.shape[-1] != 3:
            raise ValueError(f"ray_bundle.{name}: expected a last dimension of 3, found shape {tuple(x.shape)}")
    if not (origins.shape[:-1] == directions.shape[:-1] == lengths.shape[:-1]):
        raise ValueError(
            "ray_bundle: expected origins, directions and lengths to share all but the last dimension, found "
            f"{tuple(origins.shape)}, {tuple(directions.shape)}, {tuple(lengths.shape)}"
        )


def ray_box_bounds(origins: torch.Tensor, directions: torch.Tensor, bound: float, min_near: float = 0.0):
    """Where rays enter and leave the box ``[-bound, bound]^3`` (slab test).

    origins, directions: ``(R, 3)`` -> ``near, far (R,)`` ray lengths; ``near >= min_near``;
    a ray that misses the box gets ``near == far``.
    """
    d = torch.where(directions.abs() < 1e-9, torch.full_like(directions, 1e-9), directions)
    t0, t1 = (-bound - origins) / d, (bound - origins) / d
    near = torch.minimum(t0, t1).amax(-1).clamp_min(min_near)
    far = torch.maximum(t0, t1).amin(-1)
    return near, torch.maximum(far, near)


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
    root = disc.clamp_min(0).sqrt()
    near = (-b - root).clamp_min(0)
    far = (-b + root).clamp_min(0)
    hit = (disc > 0) & (far > near)
    zero = torch.zeros_like(near)
    return torch.where(hit, near, zero), torch.where(hit, far, zero), hit
