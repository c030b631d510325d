"""Star-shaped, genus-0 target shapes: bumpy ellipsoids, superquadrics, rounded cubes.

Each is an icosphere whose vertex directions ``d`` are pushed out to a radius
``r(d)``, then normalised to the unit sphere (bounding-box centre at the
origin, farthest vertex at distance 1). They are the generated targets of the
fitting methods' quality bars and of ``unrender <method> --example``.
"""

from __future__ import annotations

import torch

from .._validate import check_positive_int, parse_real
from ..structures import Meshes
from .primitives import icosphere_verts_faces

__all__ = ["radial_mesh", "bumpy_ellipsoid", "superquadric", "rounded_cube", "target_shape", "TARGET_SHAPES"]


def radial_mesh(radius_fn, level: int = 5, *, dtype=torch.float32, device="cpu") -> Meshes:
    """Icosphere of ``level`` with each unit direction ``d (V, 3)`` scaled by ``radius_fn(d) (V,)``.

    The result is normalised to the unit sphere; computed in float64.
    """
    d, faces = icosphere_verts_faces(level, dtype=torch.float64, device=device)
    r = radius_fn(d)
    if r.shape != d.shape[:1] or not bool(torch.isfinite(r).all()) or not bool((r > 0).all()):
        raise ValueError("radius_fn: expected finite positive radii of shape (V,), found otherwise")
    mesh, _, _ = Meshes([d * r[:, None]], [faces]).normalize()
    return Meshes([mesh.verts_packed().to(dtype)], [faces])


def _superquadric_radius(d: torch.Tensor, axes, power: float) -> torch.Tensor:
    # Radius along d of the surface |x/a|^p + |y/b|^p + |z/c|^p = 1.
    a = torch.tensor(axes, dtype=d.dtype, device=d.device)
    return ((d / a).abs().pow(power).sum(1)).pow(-1.0 / power)


def bumpy_ellipsoid(
    axes=(1.0, 0.75, 0.55), bumps: int = 8, amplitude: float = 0.25, seed: int = 0, level: int = 5, **kw
) -> Meshes:
    """Ellipsoid with ``bumps`` smooth radial bumps at seeded random directions.

    Each bump adds ``amplitude * exp(-(1 - d . c) / 0.08)`` of relative radius
    around its centre direction ``c``.
    """
    check_positive_int("bumps", bumps, minimum=0)
    amplitude = parse_real("amplitude", amplitude)
    if amplitude < 0:
        raise ValueError(f"amplitude: expected a number >= 0, found {amplitude}")
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(bumps, 3, generator=g, dtype=torch.float64)
    centers = centers / centers.norm(dim=1, keepdim=True)
    signs = torch.where(torch.rand(bumps, generator=g) < 0.75, 1.0, -0.6).to(torch.float64)

    def radius(d):
        base = _superquadric_radius(d, axes, 2.0)
        c = centers.to(d.device)
        bump = (amplitude * signs.to(d.device) * torch.exp(-(1 - d @ c.T) / 0.08)).sum(1)
        return base * (1 + bump)

    return radial_mesh(radius, level, **kw)


def superquadric(axes=(1.0, 0.8, 0.6), power: float = 3.0, level: int = 5, **kw) -> Meshes:
    """Superellipsoid ``|x/a|^p + |y/b|^p + |z/c|^p = 1`` (``p = 2`` is an ellipsoid, large ``p`` a box)."""
    power = parse_real("power", power)
    if power < 0.5:
        raise ValueError(f"power: expected a number >= 0.5, found {power}")
    return radial_mesh(lambda d: _superquadric_radius(d, axes, power), level, **kw)


def rounded_cube(power: float = 8.0, level: int = 5, **kw) -> Meshes:
    """A cube with rounded edges and corners: the superquadric of equal axes and ``power``."""
    return superquadric((1.0, 1.0, 1.0), power, level, **kw)


TARGET_SHAPES = {
    "bumpy-ellipsoid": bumpy_ellipsoid,
    "superquadric": superquadric,
    "rounded-cube": rounded_cube,
}


def target_shape(name: str, level: int = 5, **kw) -> Meshes:
    """One of :data:`TARGET_SHAPES` by name, normalised to the unit sphere."""
    if name not in TARGET_SHAPES:
        raise ValueError(f"name: expected one of {sorted(TARGET_SHAPES)}, found {name!r}")
    return TARGET_SHAPES[name](level=level, **kw)

