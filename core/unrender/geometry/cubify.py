"""Voxel grids to block meshes: one cube per occupied voxel, shared corners, no inner faces.

A face is kept only where an occupied voxel meets an empty one or the grid
boundary, so each connected solid becomes a closed surface (voxels that touch
only along an edge or at a corner share those vertices, which makes the surface
non-manifold there, exactly as in PyTorch3D).

The output matches ``pytorch3d.ops.cubify`` for tensor input: the same vertex
coordinates in the same order, and the same triangles (same quad diagonals,
same winding, same face order), so ``verts_list`` and ``faces_list`` are equal.
Coordinates (grid ``[z, y, x]`` of shape ``(D, H, W)``, voxel ``(k, j, i)``
covering lattice points ``i .. i+1`` along x, and so on):

* ``align="topleft"``: lattice point ``i`` at ``2 i / (W - 1) - 1`` (voxel
  ``0`` starts at ``-1``, voxel ``W - 1`` starts at ``+1``);
* ``align="corner"``: ``2 i / W - 1`` (the cubes exactly fill ``[-1, 1]^3``);
* ``align="center"``: ``2 (i - 0.5) / (W - 1) - 1`` (voxel centres at
  ``-1 .. 1``, align-corners).

With a :class:`~unrender.structures.Voxels` the cubes are that grid's cells in
world space (lattice point ``i`` at ``xmin + i * (xmax - xmin) / W``, so the
default ``[-1, 1]^3`` bounds equal ``align="corner"``) and ``align`` is unused.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._validate import check_finite, check_tensor
from ..structures import Meshes, Voxels
from .._validate import parse_real

__all__ = ["cubify"]

_ALIGN = ("topleft", "corner", "center")

# The six faces of a voxel, in PyTorch3D's order (-x, +y, -z, -y, +x, +z), each
# as two triangles of lattice-corner offsets (dx, dy, dz) from the voxel's
# minimum corner, wound so the normal points out of the voxel. The quad
# diagonals and the corner order follow PyTorch3D, so faces compare equal.
_FACES = (
    (0, -1, (((0, 0, 0), (0, 0, 1), (0, 1, 0)), ((0, 0, 1), (0, 1, 1), (0, 1, 0)))),
    (1, +1, (((0, 1, 0), (0, 1, 1), (1, 1, 0)), ((0, 1, 1), (1, 1, 1), (1, 1, 0)))),
    (2, -1, (((0, 0, 0), (0, 1, 0), (1, 1, 0)), ((0, 0, 0), (1, 1, 0), (1, 0, 0)))),
    (1, -1, (((0, 0, 0), (1, 0, 1), (0, 0, 1)), ((0, 0, 0), (1, 0, 0), (1, 0, 1)))),
    (0, +1, (((1, 1, 0), (1, 1, 1), (1, 0, 1)), ((1, 1, 0), (1, 0, 1), (1, 0, 0)))),
    (2, +1, (((0, 0, 1), (1, 1, 1), (0, 1, 1)), ((0, 0, 1), (1, 0, 1), (1, 1, 1)))),
)


def _surface_faces(occ: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Boundary triangles of occupied voxels.

    Args:
        occ: ``(B, D, H, W)`` bool.
    Returns:
        ``(F, 3)`` int64 keys of lattice points, ``key = b * NV + y * (W+1)(D+1)
        + x * (D+1) + z`` with ``NV = (H+1)(W+1)(D+1)``, ordered by owning
        voxel in ``(b, y, x, z)`` order then by face (PyTorch3D's order); and
        ``(F,)`` batch index of each face.
    """
    B, D, H, W = occ.shape
    sy, sx, nv = (W + 1) * (D + 1), D + 1, (H + 1) * (W + 1) * (D + 1)
    pad = F.pad(occ.to(torch.uint8), (1, 1, 1, 1, 1, 1)).bool()
    c = slice(1, -1)
    lo, hi = slice(0, -2), slice(2, None)
    neighbour = {  # (axis, side) -> the (B, D, H, W) neighbour across that face
        (0, -1): pad[:, c, c, lo], (0, +1): pad[:, c, c, hi],
        (1, -1): pad[:, c, lo, c], (1, +1): pad[:, c, hi, c],
        (2, -1): pad[:, lo, c, c], (2, +1): pad[:, hi, c, c],
    }
    # (B, H, W, D, 6): nonzero() then walks voxels in PyTorch3D's (b, y, x, z) order.
    emit = torch.stack([occ & ~neighbour[(a, s)] for a, s, _ in _FACES], -1).permute(0, 2, 3, 1, 4)
    b, j, i, k, t = emit.nonzero().unbind(1)
    offsets = torch.tensor(
        [[dx * sx + dy * sy + dz for tri in tris for dx, dy, dz in tri] for _, _, tris in _FACES],
        dtype=torch.int64,
        device=occ.device,
    )  # (6, 6): two triangles of three corners per face
    base = b * nv + j * sy + i * sx + k
    keys = (base[:, None] + offsets[t]).reshape(-1, 3)
    return keys, b.repeat_interleave(2)


def _lattice_meshes(occ: torch.Tensor, coords) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Compact the used lattice points of each grid and build its mesh.

    Args:
        occ: ``(B, D, H, W)`` bool.
        coords: ``(x, y, z) int64 lattice indices (N,) -> (N, 3)`` float coordinates.
    """
    B, D, H, W = occ.shape
    nv = (H + 1) * (W + 1) * (D + 1)
    keys, fb = _surface_faces(occ)
    used = torch.zeros(B * nv, dtype=torch.bool, device=occ.device)
    used[keys.reshape(-1)] = True
    ids = used.nonzero()[:, 0]
    new_index = torch.cumsum(used, 0) - 1
    faces = new_index[keys]
    vb = ids // nv
    r = ids % nv
    verts = coords((r // (D + 1)) % (W + 1), r // ((W + 1) * (D + 1)), r % (D + 1))
    v_counts = torch.bincount(vb, minlength=B).tolist()
    f_counts = torch.bincount(fb, minlength=B).tolist()
    v_start = torch.cumsum(torch.tensor([0] + v_counts[:-1], device=occ.device), 0)
    faces = faces - v_start[fb, None]
    return list(verts.split(v_counts)), list(faces.split(f_counts))


@torch.no_grad()
def cubify(voxels, thresh: float = 0.5, align: str = "topleft") -> Meshes:
    """Replace every voxel with value ``>= thresh`` by a cube; merge shared corners, drop inner faces.

    Args:
        voxels: ``(B, D, H, W)`` (or ``(D, H, W)``) tensor indexed ``[z, y, x]``,
            or a :class:`Voxels` (world-space output, ``align`` unused).
        thresh: a voxel is occupied when its value is ``>= thresh`` (as PyTorch3D).
        align: ``"topleft"``, ``"corner"`` or ``"center"`` (see the module
            docstring; ``"topleft"`` and ``"center"`` need ``D, H, W >= 2``).

    Returns:
        ``Meshes`` of ``B`` meshes: ``(V_b, 3)`` vertices (float32 for a
        tensor, the bounds' dtype for ``Voxels``) and ``(F_b, 3)`` int64 faces
        wound outward (normals point from occupied to empty). A grid with no
        occupied voxel gives an empty mesh.
    """
    thresh = parse_real("thresh", thresh)
    if align not in _ALIGN:
        raise ValueError(f"align: expected one of {_ALIGN}, found {align!r}")
    if isinstance(voxels, Voxels):
        verts_out, faces_out = [], []
        for g, (lo, hi) in zip(voxels.grids_list(), voxels.bounds()):
            D, H, W = g.shape
            size = (hi - lo).double() / torch.tensor([W, H, D], dtype=torch.float64, device=g.device)
            lo64 = lo.double()

            def world(x, y, z, lo64=lo64, size=size, dtype=lo.dtype):
                ijk = torch.stack([x, y, z], 1).to(torch.float64)
                return (lo64 + ijk * size).to(dtype)

            v, f = _lattice_meshes((g >= thresh)[None], world)
            verts_out += v
            faces_out += f
        return Meshes(verts_out, faces_out)

    if not isinstance(voxels, torch.Tensor):
        raise ValueError(f"voxels: expected a (B, D, H, W) tensor or a Voxels, found {type(voxels).__name__}")
    if voxels.dim() == 3:
        voxels = voxels[None]
    check_tensor("voxels", voxels, [None, None, None, None])
    if voxels.is_complex():
        raise ValueError(f"voxels: expected a real tensor, found dtype {voxels.dtype}")
    check_finite("voxels", voxels)
    B, D, H, W = voxels.shape
    if B == 0:
        return Meshes([], [])
    if min(D, H, W) < 1 or (align != "corner" and min(D, H, W) < 2):
        need = 1 if align == "corner" else 2
        raise ValueError(f"voxels: expected D, H, W >= {need} with align={align!r}, found shape {tuple(voxels.shape)}")
    occ = voxels >= thresh
    margin = 0.0 if align == "corner" else 1.0
    shift = 0.5 if align == "center" else 0.0

    def normalised(x, y, z):
        # the same float32 operations as PyTorch3D, for bit-identical vertices
        out = []
        for t, n in ((x, W), (y, H), (z, D)):
            t = t.to(torch.float32) - shift if shift else t.to(torch.float32)
            out.append(t * 2.0 / (n - margin) - 1.0)
        return torch.stack(out, 1)

    verts, faces = _lattice_meshes(occ, normalised)
    return Meshes(verts, faces)
