"""Area-weighted uniform sampling of points on mesh surfaces."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._validate import check_positive_int
from ..structures import Meshes
from ..structures.utils import packed_to_padded

__all__ = ["SurfaceSamples", "sample_surface", "sample_points_from_meshes"]


@dataclass
class SurfaceSamples:
    """Samples on a batch of ``B`` meshes, ``N`` per mesh.

    Attributes:
        points: ``(B, N, 3)`` positions.
        normals: ``(B, N, 3)`` unit normals of the faces sampled.
        face_index: ``(B, N)`` int64 index of the face in the packed faces.
        barycentric: ``(B, N, 3)`` barycentric weights ``(w0, w1, w2)``, so
            ``points = w0 * v0 + w1 * v1 + w2 * v2`` of that face.
    """

    points: torch.Tensor
    normals: torch.Tensor
    face_index: torch.Tensor
    barycentric: torch.Tensor


def _random_barycentric(B: int, N: int, dtype, device, generator) -> torch.Tensor:
    # sqrt(u) makes the density uniform over the triangle (Osada et al. 2002).
    uv = torch.rand((2, B, N), dtype=dtype, device=device, generator=generator)
    su = uv[0].sqrt()
    return torch.stack([1.0 - su, su * (1.0 - uv[1]), su * uv[1]], -1)


def sample_surface(meshes: Meshes, num_samples: int, *, generator: torch.Generator | None = None) -> SurfaceSamples:
    """Draw ``num_samples`` points per mesh, uniformly by surface area.

    Faces are picked with probability proportional to their area (inverse CDF
    with ``searchsorted``, the same distribution as PyTorch3D's multinomial),
    then a uniform point inside the face. Gradients flow to the vertices
    through the barycentric interpolation; the choice of faces is not
    differentiable.
    """
    if not isinstance(meshes, Meshes):
        raise ValueError(f"meshes: expected unrender.Meshes, found {type(meshes).__name__}")
    check_positive_int("num_samples", num_samples, minimum=1)
    nf = meshes.num_faces_per_mesh()
    if len(meshes) == 0:
        raise ValueError("meshes: expected at least one mesh, found an empty batch")
    if bool((nf == 0).any()):
        i = int((nf == 0).nonzero()[0])
        raise ValueError(f"meshes[{i}]: cannot sample points from a mesh with no faces")
    verts, faces = meshes.verts_packed(), meshes.faces_packed()
    B = len(meshes)
    first = meshes.mesh_to_faces_packed_first_idx()
    with torch.no_grad():
        v0, v1, v2 = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
        areas = 0.5 * torch.cross(v1 - v0, v2 - v0, dim=1).norm(dim=1)
        areas_padded = packed_to_padded(areas[:, None], first, int(nf.max()))[..., 0]
        cdf = areas_padded.double().cumsum(1)
        total = cdf[:, -1:]
        if bool((total <= 0).any()):
            i = int((total[:, 0] <= 0).nonzero()[0])
            raise ValueError(f"meshes[{i}]: cannot sample points, every face has zero area")
        u = torch.rand((B, num_samples), dtype=torch.float64, device=verts.device, generator=generator) * total
        local = torch.searchsorted(cdf, u, right=True).clamp_max(nf[:, None] - 1)
        face_index = local + first[:, None]
    bary = _random_barycentric(B, num_samples, verts.dtype, verts.device, generator)
    f = faces[face_index]  # (B, N, 3)
    points = (bary[..., 0:1] * verts[f[..., 0]] + bary[..., 1:2] * verts[f[..., 1]] + bary[..., 2:3] * verts[f[..., 2]])
    a, b, c = verts[f[..., 0]], verts[f[..., 1]], verts[f[..., 2]]
    normals = torch.nn.functional.normalize(torch.cross(b - a, c - b, dim=-1), dim=-1, eps=1e-6)
    return SurfaceSamples(points, normals, face_index, bary)


def sample_points_from_meshes(
    meshes: Meshes,
    num_samples: int = 10000,
    return_normals: bool = False,
    *,
    generator: torch.Generator | None = None,
):
    """PyTorch3D-compatible wrapper: ``(B, N, 3)`` points, plus ``(B, N, 3)`` normals if asked."""
    s = sample_surface(meshes, num_samples, generator=generator)
    return (s.points, s.normals) if return_normals else s.points
