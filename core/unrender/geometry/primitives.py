"""Primitive shapes: icosphere, cube, torus (parametric and implicit), UV sphere.

Every mesh primitive returns outward-facing triangles (counter-clockwise seen
from outside, so face normals point away from the interior).
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from .._validate import check_positive_int
from ..structures import Meshes

__all__ = [
    "icosphere",
    "ico_sphere",
    "icosphere_verts_faces",
    "subdivide",
    "cube",
    "torus",
    "torus_sdf",
    "sphere_sdf",
    "uv_sphere",
    "parametric_surface",
    "sample_sphere",
]

_MAX_ICO_LEVEL = 8


def _icosahedron(dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    t = (1.0 + math.sqrt(5.0)) / 2.0
    verts = torch.tensor(
        [
            [-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0],
            [0, -1, t], [0, 1, t], [0, -1, -t], [0, 1, -t],
            [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1],
        ],
        dtype=torch.float64,
    )
    faces = torch.tensor(
        [
            [0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11],
            [1, 5, 9], [5, 11, 4], [11, 10, 2], [10, 7, 6], [7, 1, 8],
            [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9],
            [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1],
        ],
        dtype=torch.int64,
    )
    verts = verts / verts.norm(dim=1, keepdim=True)
    return verts.to(dtype=dtype, device=device), faces.to(device)


def subdivide(verts: torch.Tensor, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split every triangle into four at its edge midpoints (shared midpoints, no duplicates).

    Args:
        verts: ``(V, 3)`` float; faces: ``(F, 3)`` int64.
    Returns:
        ``(V + E, 3)`` vertices (the originals first, then one per unique edge)
        and ``(4F, 3)`` faces with the same orientation as their parent.
    """
    V = verts.shape[0]
    e = torch.cat([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]], 0)
    key = e.min(1).values * V + e.max(1).values
    uniq, inverse = torch.unique(key, return_inverse=True)
    a, b = uniq // V, uniq % V
    mids = (verts[a] + verts[b]) / 2
    F = faces.shape[0]
    m = inverse.reshape(3, F) + V  # midpoints of edges 01, 12, 20
    m01, m12, m20 = m[0], m[1], m[2]
    v0, v1, v2 = faces.unbind(1)
    new_faces = torch.cat(
        [
            torch.stack([v0, m01, m20], 1),
            torch.stack([m01, v1, m12], 1),
            torch.stack([m20, m12, v2], 1),
            torch.stack([m01, m12, m20], 1),
        ],
        0,
    )
    return torch.cat([verts, mids], 0), new_faces


def icosphere_verts_faces(level: int = 0, *, dtype=torch.float32, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Unit icosphere as ``(verts (V, 3), faces (F, 3) int64)``.

    Level ``l`` has ``10 * 4**l + 2`` vertices and ``20 * 4**l`` faces
    (level 0: 12/20, level 5: 10242/20480). Subdivision runs in float64 and
    every level is projected back onto the sphere.
    """
    check_positive_int("level", level, minimum=0, maximum=_MAX_ICO_LEVEL)
    verts, faces = _icosahedron(torch.float64, device)
    for _ in range(level):
        verts, faces = subdivide(verts, faces)
        verts = verts / verts.norm(dim=1, keepdim=True)
    return verts.to(dtype), faces


def icosphere(level: int = 0, *, dtype=torch.float32, device="cpu") -> Meshes:
    """Unit icosphere as a one-mesh ``Meshes`` (see :func:`icosphere_verts_faces`)."""
    verts, faces = icosphere_verts_faces(level, dtype=dtype, device=device)
    return Meshes([verts], [faces])


def ico_sphere(level: int = 0, device=None) -> Meshes:
    """PyTorch3D's call form of :func:`icosphere`: ``ico_sphere(level, device)``.

    Same vertex order as PyTorch3D's (positions agree to 5e-5: PyTorch3D rounds
    the icosahedron to 4 digits, unrender's lies on the sphere); past level 0 the
    faces are listed in another order.
    """
    return icosphere(level, device=device if device is not None else "cpu")


def cube(size: float = 2.0, *, dtype=torch.float32, device="cpu") -> Meshes:
    """Axis-aligned cube of edge ``size`` centred at the origin: 8 vertices, 12 outward faces."""
    if not size > 0:
        raise ValueError(f"size: expected a positive edge length, found {size}")
    h = size / 2
    verts = torch.tensor(
        [[x, y, z] for x in (-h, h) for y in (-h, h) for z in (-h, h)], dtype=dtype, device=device
    )  # index = 4*ix + 2*iy + iz
    faces = torch.tensor(
        [
            [0, 1, 3], [0, 3, 2],  # -x
            [4, 6, 7], [4, 7, 5],  # +x
            [0, 4, 5], [0, 5, 1],  # -y
            [2, 3, 7], [2, 7, 6],  # +y
            [0, 2, 6], [0, 6, 4],  # -z
            [1, 5, 7], [1, 7, 3],  # +z
        ],
        dtype=torch.int64,
        device=device,
    )
    return Meshes([verts], [faces])


def parametric_surface(
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    u_steps: int,
    v_steps: int,
    *,
    wrap_u: bool = True,
    wrap_v: bool = True,
    dtype=torch.float32,
    device="cpu",
) -> Meshes:
    """Triangulate a parametric surface ``fn(u, v) -> (..., 3)`` over ``[0, 1)^2``.

    ``u`` and ``v`` are sampled on a ``u_steps x v_steps`` grid; a wrapped
    direction joins its last row to its first (tori, cylinders). Faces are
    ordered so that the normal is ``dP/du x dP/dv``.
    """
    check_positive_int("u_steps", u_steps, minimum=3 if wrap_u else 2)
    check_positive_int("v_steps", v_steps, minimum=3 if wrap_v else 2)
    nu_den = u_steps if wrap_u else u_steps - 1
    nv_den = v_steps if wrap_v else v_steps - 1
    u = torch.arange(u_steps, dtype=torch.float64, device=device) / nu_den
    v = torch.arange(v_steps, dtype=torch.float64, device=device) / nv_den
    uu, vv = torch.meshgrid(u, v, indexing="ij")
    verts = fn(uu, vv).reshape(-1, 3)
    iu = torch.arange(u_steps if wrap_u else u_steps - 1, device=device)
    iv = torch.arange(v_steps if wrap_v else v_steps - 1, device=device)
    gu, gv = torch.meshgrid(iu, iv, indexing="ij")
    gu1, gv1 = (gu + 1) % u_steps, (gv + 1) % v_steps
    a = gu * v_steps + gv
    b = gu1 * v_steps + gv
    c = gu1 * v_steps + gv1
    d = gu * v_steps + gv1
    faces = torch.cat([torch.stack([a, b, c], -1).reshape(-1, 3), torch.stack([a, c, d], -1).reshape(-1, 3)], 0)
    return Meshes([verts.to(dtype)], [faces])


def torus(
    major_radius: float = 1.0,
    minor_radius: float = 0.35,
    rings: int = 48,
    sides: int = 24,
    *,
    dtype=torch.float32,
    device="cpu",
) -> Meshes:
    """Parametric torus around the z axis: ``rings * sides`` vertices, ``2 * rings * sides`` faces."""
    if not (major_radius > minor_radius > 0):
        raise ValueError(
            f"major_radius, minor_radius: expected major > minor > 0, found {major_radius} and {minor_radius}"
        )

    def fn(u, v):
        theta, phi = 2 * math.pi * u, 2 * math.pi * v
        r = major_radius + minor_radius * torch.cos(phi)
        return torch.stack([r * torch.cos(theta), r * torch.sin(theta), minor_radius * torch.sin(phi)], -1)

    return parametric_surface(fn, rings, sides, dtype=dtype, device=device)


def torus_sdf(points: torch.Tensor, major_radius: float = 1.0, minor_radius: float = 0.35) -> torch.Tensor:
    """Signed distance to the torus around the z axis; ``(..., 3) -> (...)``, negative inside."""
    q = torch.stack([points[..., :2].norm(dim=-1) - major_radius, points[..., 2]], -1)
    return q.norm(dim=-1) - minor_radius


def sphere_sdf(points: torch.Tensor, radius: float = 1.0, center=(0.0, 0.0, 0.0)) -> torch.Tensor:
    """Signed distance to a sphere; ``(..., 3) -> (...)``, negative inside."""
    c = torch.as_tensor(center, dtype=points.dtype, device=points.device)
    return (points - c).norm(dim=-1) - radius


def uv_sphere(rings: int = 16, segments: int = 32, radius: float = 1.0, *, dtype=torch.float32, device="cpu") -> Meshes:
    """Latitude/longitude sphere with single pole vertices (like Blender's UV sphere)."""
    check_positive_int("rings", rings, minimum=2)
    check_positive_int("segments", segments, minimum=3)
    k = torch.arange(1, rings, dtype=torch.float64, device=device)
    s = torch.arange(segments, dtype=torch.float64, device=device)
    polar = math.pi * k / rings
    azim = 2 * math.pi * s / segments
    p, a = torch.meshgrid(polar, azim, indexing="ij")
    ring_verts = torch.stack([torch.sin(p) * torch.cos(a), torch.sin(p) * torch.sin(a), torch.cos(p)], -1).reshape(-1, 3)
    top = ring_verts.new_tensor([[0.0, 0.0, 1.0]])
    bottom = ring_verts.new_tensor([[0.0, 0.0, -1.0]])
    verts = torch.cat([top, ring_verts, bottom], 0) * radius
    n_ring = rings - 1
    idx = lambda r, j: 1 + r * segments + (j % segments)  # noqa: E731
    j = torch.arange(segments, device=device)
    faces = [torch.stack([torch.zeros_like(j), idx(0, j), idx(0, j + 1)], 1)]
    for r in range(n_ring - 1):
        faces.append(torch.stack([idx(r, j), idx(r + 1, j), idx(r + 1, j + 1)], 1))
        faces.append(torch.stack([idx(r, j), idx(r + 1, j + 1), idx(r, j + 1)], 1))
    last = verts.shape[0] - 1
    faces.append(torch.stack([torch.full_like(j, last), idx(n_ring - 1, j + 1), idx(n_ring - 1, j)], 1))
    return Meshes([verts.to(dtype)], [torch.cat(faces, 0)])


def sample_sphere(
    num_points: int,
    radius: float = 1.0,
    *,
    generator: torch.Generator | None = None,
    dtype=torch.float32,
    device="cpu",
) -> torch.Tensor:
    """``(num_points, 3)`` points uniform on the sphere by area.

    Parametric sampling: ``z = 1 - 2u`` (uniform in z, Archimedes' hat-box
    theorem) and azimuth ``2 pi v`` with ``u, v ~ U[0, 1)``.
    """
    check_positive_int("num_points", num_points, minimum=0)
    uv = torch.rand((num_points, 2), generator=generator, dtype=torch.float64, device=device)
    z = 1 - 2 * uv[:, 0]
    r = torch.sqrt((1 - z * z).clamp_min(0))
    phi = 2 * math.pi * uv[:, 1]
    return (torch.stack([r * torch.cos(phi), r * torch.sin(phi), z], 1) * radius).to(dtype)
