"""Sphere tracing of a signed distance field, and pictures of an SDF (shaded, normals, depth) through cameras."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from .._validate import check_positive_int, check_tensor, parse_real
from ..render.volume import pixel_rays, ray_sphere_bounds

__all__ = ["sphere_trace", "sdf_normals", "render_sdf"]


def sphere_trace(sdf: Callable[[torch.Tensor], torch.Tensor], origins: torch.Tensor, directions: torch.Tensor,
                 near: torch.Tensor, far: torch.Tensor, *, max_steps: int = 64, eps: float = 1e-4,
                 step_scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """March each ray by the SDF's value until it is within ``eps`` of the surface.

    Args:
        sdf: ``(M, 3)`` points -> ``(M,)`` (or ``(M, 1)``) signed distances.
        origins, directions: ``(N, 3)``; unit directions.
        near, far: ``(N,)`` where each ray starts and gives up.
        max_steps: a fixed number of steps (only the rays not yet converged are evaluated).
        step_scale: each step is ``step_scale * sdf`` (below 1 for fields that overestimate distances).
    Returns:
        ``t (N,)`` the length where each ray stopped and ``hit (N,)`` bool: converged with ``|sdf| < eps``
        inside ``[near, far]``. No gradients.
    """
    check_tensor("origins", origins, [None, 3], floating=True)
    check_tensor("directions", directions, list(origins.shape), floating=True)
    check_tensor("near", near, [origins.shape[0]])
    check_tensor("far", far, [origins.shape[0]])
    check_positive_int("max_steps", max_steps)
    eps, step_scale = parse_real("eps", eps), parse_real("step_scale", step_scale)
    with torch.no_grad():
        t = near.clone()
        hit = torch.zeros_like(t, dtype=torch.bool)
        active = far > near
        for _ in range(max_steps):
            idx = active.nonzero()[:, 0]
            if idx.numel() == 0:
                break
            d = sdf(origins[idx] + t[idx, None] * directions[idx]).reshape(-1)
            converged = d.abs() < eps
            hit[idx[converged]] = True
            t[idx] = t[idx] + torch.where(converged, torch.zeros_like(d), step_scale * d)
            active[idx] = ~converged & (t[idx] <= far[idx]) & (t[idx] >= near[idx] - eps)
        hit &= (t <= far) & (t >= near - eps)
    return t, hit


def sdf_normals(sdf: Callable[[torch.Tensor], torch.Tensor], points: torch.Tensor) -> torch.Tensor:
    """Unit normals ``(N, 3)`` at ``points (N, 3)``: the normalised gradient of ``sdf`` by autograd."""
    with torch.enable_grad():
        x = points.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(sdf(x).sum(), x)
    return F.normalize(g, dim=-1)


def render_sdf(sdf: Callable[[torch.Tensor], torch.Tensor], cameras, image_size, *, radius: float = 1.0,
               max_steps: int = 64, eps: float = 1e-4, light_direction=(0.3, 0.5, -1.0), chunk: int = 65536) -> dict:
    """Pictures of an SDF by sphere tracing one ray per pixel inside the bounding sphere of ``radius``.

    ``sdf``: ``(M, 3)`` -> ``(M,)``, e.g. ``SDFField.sdf``. Returns a dict of ``(B, H, W, ...)`` tensors:
    ``mask`` bool (the ray hit), ``depth`` (the hit's view-space z, 0 where missed), ``normals`` (unit world
    normals, 0 where missed), ``shaded`` (grey diffuse shading, ``(B, H, W, 3)``, white where missed: 0.2 ambient
    plus a light towards ``light_direction`` in view space, where the camera looks along +Z).
    """
    origins, directions = pixel_rays(cameras, image_size)
    B, H, W, _ = origins.shape
    o, d = origins.reshape(-1, 3), directions.reshape(-1, 3)
    near, far, _ = ray_sphere_bounds(o, d, radius)
    t = torch.empty_like(near)
    hit = torch.empty_like(near, dtype=torch.bool)
    normals = torch.zeros_like(o)
    for s in range(0, o.shape[0], chunk):
        sl = slice(s, s + chunk)
        t[sl], hit[sl] = sphere_trace(sdf, o[sl], d[sl], near[sl], far[sl], max_steps=max_steps, eps=eps)
        idx = hit[sl].nonzero()[:, 0] + s
        if idx.numel():
            normals[idx] = sdf_normals(sdf, o[idx] + t[idx, None] * d[idx])
    points = (o + t[:, None] * d).reshape(B, H * W, 3)
    w2v = cameras.get_world_to_view_transform()
    view_points = w2v.transform_points(points)
    view_normals = F.normalize(w2v.transform_normals(normals.reshape(B, H * W, 3)), dim=-1)
    mask = hit.reshape(B, H, W)
    light = F.normalize(torch.as_tensor(light_direction, dtype=o.dtype, device=o.device), dim=0)
    lambert = (view_normals * light).sum(-1).clamp_min(0)
    grey = (0.2 + 0.8 * lambert).reshape(B, H, W)
    shaded = torch.where(mask[..., None], grey[..., None].expand(B, H, W, 3), torch.ones(B, H, W, 3, dtype=o.dtype, device=o.device))
    return {
        "mask": mask,
        "depth": torch.where(mask, view_points[..., 2].reshape(B, H, W), torch.zeros_like(grey)),
        "normals": normals.reshape(B, H, W, 3) * mask[..., None],
        "shaded": shaded,
    }
