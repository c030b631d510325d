"""Fitting an SDF to a point cloud with an eikonal term (IGR), and its zero level set as a mesh."""

from __future__ import annotations

import time

import torch

from .._validate import check_finite, check_positive_int, check_tensor, parse_real
from ..fields import FitResult
from ..geometry import marching_cubes_implicit
from ..structures import Meshes
from .sdf import SDFField, sdf_and_gradient

__all__ = ["fit_sdf_to_points", "sdf_mesh"]


def fit_sdf_to_points(field: SDFField, points: torch.Tensor, normals: torch.Tensor | None = None, *,
                      steps: int = 500, batch_size: int = 4096, lr: float = 5e-3, eikonal_weight: float = 0.1,
                      normal_weight: float = 1.0, near_std: float = 0.05, seed: int = 0) -> FitResult:
    """Fit ``field`` to a surface sampled at ``points (N, 3)`` (inside ``[-1, 1]^3``) by IGR's loss
    (Gropp et al. 2020), Adam, ``batch_size`` surface points a step:

    ``mean |sdf(p)| + normal_weight * mean |grad sdf(p) - n| + eikonal_weight * mean (|grad sdf(q)| - 1)^2``

    over surface points ``p`` (with their ``normals (N, 3)`` when given; without, the normal term is left
    out) and off-surface points ``q``: half the surface batch moved by Gaussian noise of std ``near_std``,
    half uniform in the box. The eikonal term makes the zero level set's neighbourhood a distance.
    Returns :class:`unrender.fields.FitResult` (``loss``: the last step's).
    """
    if not isinstance(field, SDFField):
        raise ValueError(f"field: expected an unrender.surfaces.SDFField, found {type(field).__name__}")
    check_tensor("points", points, [None, 3], floating=True)
    check_finite("points", points)
    if points.shape[0] == 0:
        raise ValueError("points: expected at least one point, found none")
    if normals is not None:
        check_tensor("normals", normals, list(points.shape), floating=True)
        check_finite("normals", normals)
    check_positive_int("steps", steps)
    check_positive_int("batch_size", batch_size)
    lr, eikonal_weight = parse_real("lr", lr), parse_real("eikonal_weight", eikonal_weight)
    normal_weight, near_std = parse_real("normal_weight", normal_weight), parse_real("near_std", near_std)
    gen = torch.Generator(device=points.device).manual_seed(seed)
    opt = torch.optim.Adam(field.parameters(), lr=lr, eps=1e-15)
    n, losses = points.shape[0], []
    start = time.perf_counter()
    for _ in range(steps):
        idx = torch.randint(0, n, (min(batch_size, n),), generator=gen, device=points.device)
        p = points[idx]
        half = p.shape[0] // 2 + 1
        near = p[:half] + near_std * torch.randn(p[:half].shape, generator=gen, dtype=p.dtype, device=p.device)
        far = torch.rand(half, 3, generator=gen, dtype=p.dtype, device=p.device) * 2 - 1
        out, grad = sdf_and_gradient(field, torch.cat([p, near, far]))
        gp, gq = grad[: p.shape[0]], grad[p.shape[0]:]
        loss = out[: p.shape[0], 0].abs().mean() + eikonal_weight * ((gq.norm(dim=-1) - 1) ** 2).mean()
        if normals is not None:
            loss = loss + normal_weight * (gp - normals[idx]).norm(dim=-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return FitResult(losses[-1], losses, time.perf_counter() - start)


def sdf_mesh(field: SDFField, resolution: int = 128, *, bounds=((-1.0, -1.0, -1.0), (1.0, 1.0, 1.0))) -> Meshes:
    """Marching cubes on the zero level set of ``field``'s SDF over ``bounds`` at ``resolution`` samples an axis."""
    if not isinstance(field, SDFField):
        raise ValueError(f"field: expected an unrender.surfaces.SDFField, found {type(field).__name__}")
    p = next(field.parameters())
    box = torch.as_tensor(bounds, dtype=p.dtype, device=p.device)
    return marching_cubes_implicit(field.sdf, box, resolution, 0.0, inside="negative", dtype=p.dtype, device=p.device)
