"""Area-weighted uniform sampling of points on mesh surfaces."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._validate import check_meshes, check_positive_int
from ..structures import Meshes
from ..structures.utils import packed_to_padded

__all__ = ["SurfaceSamples", "sample_surface", "sample_points_from_meshes"]


@dataclass
class SurfaceSamples:
    """Samples on a batch of ``B`` meshes, ``N`` per mesh.

    Attributes:
        points: ``(B, N, 3)`` positions.
        normals: ``(B, N, 3)`` unit normals of the faces sampled (None when not asked for).
        face_index: ``(B, N)`` int64 index of the face in the packed faces.
        barycentric: ``(B, N, 3)`` barycentric weights ``(w0, w1, w2)``, so
            ``points = w0 * v0 + w1 * v1 + w2 * v2`` of that face.
    """

    points: torch.Tensor
    normals: torch.Tensor | None
    face_index: torch.Tensor
    barycentric: torch.Tensor


def _random_barycentric(B: int, N: int, dtype, device, generator) -> torch.Tensor:
    # sqrt(u) makes the density uniform over the triangle (Osada et al. 2002).
    uv = torch.rand((2, B, N), dtype=dtype, device=device, generator=generator)
    su = uv[0].sqrt()
    return torch.stack([1.0 - su, su * (1.0 - uv[1]), su * uv[1]], -1)


def sample_surface(
    meshes: Meshes,
    num_samples: int,
    *,
    return_normals: bool = True,
    generator: torch.Generator | None = None,
) -> SurfaceSamples:
    """Draw ``num_samples`` points per mesh, uniformly by surface area.

    Faces are picked with probability proportional to their area (inverse CDF
    with ``searchsorted``, the same distribution as PyTorch3D's multinomial),
    then a uniform point inside the face. Gradients flow to the vertices
    through the barycentric interpolation and the normals; the choice of faces
    is not differentiable. With ``return_normals=False`` the ``normals`` field
    is ``None``.
    """
    check_meshes("meshes", meshes, non_empty=True)
    check_positive_int("num_samples", num_samples, minimum=1)
    nf = meshes.num_faces_per_mesh()
    if bool((nf == 0).any()):
        i = int((nf == 0).nonzero()[0])
        raise ValueError(f"meshes[{i}]: cannot sample points from a mesh with no faces")
    verts, faces = meshes.verts_packed(), meshes.faces_packed()
    B = len(meshes)
    # Gathers use index_select: its backward (index_add) sums in a fixed order, so
    # gradients are bit-for-bit reproducible with several CPU threads (the
    # accumulating backward of advanced indexing is not), and it is cheaper.
    fv = verts.index_select(0, faces.reshape(-1)).view(-1, 3, 3)  # (F, 3, 3), gathered once
    e1, e2 = fv[:, 1] - fv[:, 0], fv[:, 2] - fv[:, 0]
    # The cross product of the edges divided by their largest coordinate: neither overflows nor
    # underflows at any scale (a 1e20 or 1e-20 mesh); its length times size^2 is 2 * area.
    size = torch.maximum(e1.detach().abs().amax(1), e2.detach().abs().amax(1))
    size = torch.where(size > 0, size, torch.ones_like(size))[:, None]
    cross = torch.cross(e1 / size, e2 / size, dim=1)
    with torch.no_grad():
        weight = cross.detach().norm(dim=1).double() * size[:, 0].double() ** 2
        if B == 1:
            cdf = weight.cumsum(0)[None]
            first = torch.zeros(1, dtype=torch.int64, device=verts.device)
        else:
            first = meshes.mesh_to_faces_packed_first_idx()
            cdf = packed_to_padded(weight[:, None], first, int(nf.max()))[..., 0].cumsum(1)
        total = cdf.gather(1, (nf - 1)[:, None])
        if bool((total <= 0).any()):
            i = int((total[:, 0] <= 0).nonzero()[0])
            raise ValueError(f"meshes[{i}]: cannot sample points, every face has zero area")
        u = torch.rand((B, num_samples), dtype=torch.float64, device=verts.device, generator=generator) * total
        local = torch.searchsorted(cdf, u, right=True).clamp_max(nf[:, None] - 1)
        face_index = local + first[:, None]
    bary = _random_barycentric(B, num_samples, verts.dtype, verts.device, generator)
    flat = face_index.reshape(-1)
    corners = verts.index_select(0, faces.index_select(0, flat).reshape(-1)).view(B, num_samples, 3, 3)
    points = (bary[..., None] * corners).sum(-2)
    normals = None
    if return_normals:
        normals = torch.nn.functional.normalize(cross.index_select(0, flat).view(B, num_samples, 3), dim=-1, eps=1e-6)
    return SurfaceSamples(points, normals, face_index, bary)


def sample_points_from_meshes(
    meshes: Meshes,
    num_samples: int = 10000,
    return_normals: bool = False,
    return_textures: bool = False,
    *,
    generator: torch.Generator | None = None,
):
    """PyTorch3D's call form: ``(B, N, 3)`` points, then ``(B, N, 3)`` normals and ``(B, N, C)``
    texels of ``meshes.textures`` at the points, each when asked for (in that order)."""
    if return_textures and getattr(meshes, "textures", None) is None:
        raise ValueError("meshes: return_textures=True needs meshes with textures, found meshes.textures None")
    s = sample_surface(meshes, num_samples, return_normals=return_normals, generator=generator)
    out = [s.points]
    if return_normals:
        out.append(s.normals)
    if return_textures:
        B, N = s.face_index.shape
        batch = torch.arange(B, device=s.points.device).repeat_interleave(N)
        texels = meshes.textures.sample_faces(meshes, s.face_index.reshape(-1), s.barycentric.reshape(-1, 3), batch)
        out.append(texels.reshape(B, N, -1))
    return tuple(out) if len(out) > 1 else out[0]
