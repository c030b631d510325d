"""Connectivity of a batch of meshes, computed once per set of face tensors.

Everything here depends only on the faces (and the vertex counts), not on
vertex positions, so an optimisation loop that moves vertices thousands of
times (``meshes.offset_verts(...)`` keeps the same face tensors) pays for the
edge extraction and the face pairing once. The cache holds weak references:
an entry is reused only while the very same face tensors are alive and
unmodified (their in-place version counter is part of the key).
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from functools import cached_property

import torch

__all__ = ["MeshTopology", "mesh_topology"]

_CACHE: "OrderedDict[tuple, tuple[list[weakref.ref], MeshTopology]]" = OrderedDict()
_CACHE_SIZE = 16


class MeshTopology:
    """Connectivity of ``B`` meshes in packed form.

    Args:
        faces_list: ``B`` tensors ``(F_i, 3)`` int64, indices into each mesh.
        num_verts: ``B`` vertex counts.
    """

    def __init__(self, faces_list: list[torch.Tensor], num_verts: list[int]) -> None:
        self.device = faces_list[0].device if faces_list else torch.device("cpu")
        self.num_meshes = len(faces_list)
        nv = torch.tensor(num_verts, dtype=torch.int64, device=self.device)
        nf = [int(f.shape[0]) for f in faces_list]
        self.num_verts_per_mesh = nv  # (B,)
        self.num_verts = int(nv.sum())
        first = torch.cumsum(nv, 0) - nv
        if faces_list:
            self.faces = torch.cat([f.to(torch.int64) + first[i] for i, f in enumerate(faces_list)], 0)  # (F, 3)
        else:
            self.faces = torch.zeros((0, 3), dtype=torch.int64, device=self.device)
        self.verts_to_mesh = torch.repeat_interleave(torch.arange(self.num_meshes, device=self.device), nv)  # (V,)
        self.faces_to_mesh = torch.repeat_interleave(
            torch.arange(self.num_meshes, device=self.device), torch.tensor(nf, dtype=torch.int64, device=self.device)
        )

    # ---------------------------------------------------------------- edges
    @cached_property
    def _edges(self) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.faces
        F = f.shape[0]
        # Edge k of a face is the one opposite vertex k (PyTorch3D's convention).
        e = torch.cat([f[:, [1, 2]], f[:, [2, 0]], f[:, [0, 1]]], 0).sort(dim=1).values
        V = max(self.num_verts, 1)
        uniq, inverse = torch.unique(e[:, 0] * V + e[:, 1], sorted=True, return_inverse=True)
        return torch.stack([uniq // V, uniq % V], 1), inverse.view(3, F).t().contiguous()

    @property
    def edges(self) -> torch.Tensor:
        """``(E, 2)`` int64 unique edges ``[lo, hi]``, sorted (same order as PyTorch3D)."""
        return self._edges[0]

    @property
    def face_to_edge(self) -> torch.Tensor:
        """``(F, 3)`` int64: column k is the edge opposite face vertex k."""
        return self._edges[1]

    @cached_property
    def edges_to_mesh(self) -> torch.Tensor:
        """``(E,)`` int64."""
        return self.verts_to_mesh[self.edges[:, 0]]

    @cached_property
    def num_edges_per_mesh(self) -> torch.Tensor:
        """``(B,)`` int64."""
        return torch.bincount(self.edges_to_mesh, minlength=self.num_meshes)

    @cached_property
    def edge_weights(self) -> torch.Tensor:
        """``(E,)`` float32: ``1 / (edges in the edge's mesh)``."""
        return 1.0 / self.num_edges_per_mesh[self.edges_to_mesh].to(torch.float32)

    @cached_property
    def vert_weights(self) -> torch.Tensor:
        """``(V,)`` float32: ``1 / (vertices in the vertex's mesh)``."""
        return 1.0 / self.num_verts_per_mesh[self.verts_to_mesh].to(torch.float32)

    # ------------------------------------------------------ uniform Laplacian
    @cached_property
    def uniform_laplacian_parts(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(rows, cols, w)`` of the off-diagonal of the uniform Laplacian.

        ``(L v)[i] = sum_j w_ij v_j - v_i`` with ``w_ij = 1 / deg(i)`` over
        both directions of every unique edge (``2E`` entries).
        """
        e0, e1 = self.edges.unbind(1)
        rows, cols = torch.cat([e0, e1]), torch.cat([e1, e0])
        deg = torch.bincount(rows, minlength=self.num_verts).to(torch.float32)
        return rows, cols, 1.0 / deg[rows]

    @cached_property
    def cot_entries(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(rows, cols)``, ``(6F,)`` each: both directions of the edge opposite
        each face corner, in the order of ``cot.reshape(-1)`` repeated twice
        (corner k of a face weights its edge ``(k+1, k+2)``)."""
        f = self.faces
        a, b = f[:, [1, 2, 0]].reshape(-1), f[:, [2, 0, 1]].reshape(-1)
        return torch.cat([a, b]), torch.cat([b, a])

    # ------------------------------------------------ face pairs across edges
    @cached_property
    def face_pairs(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every pair of faces sharing an edge, for normal consistency.

        An edge shared by ``c`` faces yields ``c (c - 1) / 2`` pairs (1 on a
        manifold interior edge, 0 on a boundary, 3 on a three-face fin), as in
        PyTorch3D. Returns ``(v0, v1, a, b, w)``: the edge's vertices
        ``v0 < v1``, the vertex opposite the edge in each of the two faces,
        all ``(P,)`` int64, and ``w (P,)`` float32 = ``1 / (pairs in the mesh)``.
        """
        dev = self.device
        e_of = self.face_to_edge.reshape(-1)  # (3F,) entry 3f + k: edge opposite vertex k of face f
        opp = self.faces.reshape(-1)  # the vertex opposite that edge
        order = torch.argsort(e_of, stable=True)
        ge = e_of[order]
        n = ge.shape[0]
        counts = torch.bincount(ge, minlength=self.edges.shape[0])
        start = torch.cumsum(counts, 0) - counts
        rank = torch.arange(n, device=dev) - start[ge]
        later = counts[ge] - 1 - rank  # partners after this entry in its edge group
        first = torch.repeat_interleave(torch.arange(n, device=dev), later)
        offs = torch.cumsum(later, 0) - later
        second = first + 1 + (torch.arange(first.shape[0], device=dev) - offs[first])
        edge = ge[first]
        v0, v1 = self.edges[edge].unbind(1)
        a, b = opp[order[first]], opp[order[second]]
        mesh = self.edges_to_mesh[edge]
        num = torch.bincount(mesh, minlength=self.num_meshes)
        w = 1.0 / num[mesh].to(torch.float32)
        return v0, v1, a, b, w


    @cached_property
    def face_pairs_packed(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(idx (4P,), w (P,))``: :attr:`face_pairs` indices as one gather list ``[v0, v1, a, b]``."""
        v0, v1, a, b, w = self.face_pairs
        return torch.cat([v0, v1, a, b]), w


def mesh_topology(meshes) -> MeshTopology:
    """The (cached) :class:`MeshTopology` of ``meshes`` (an unrender ``Meshes``)."""
    faces = meshes.faces_list()
    nv = [int(n) for n in meshes.num_verts_per_mesh().tolist()]
    try:
        key = tuple((id(f), f._version) for f in faces) + tuple(nv)
    except RuntimeError:  # inference tensors carry no version counter: no caching
        return MeshTopology(faces, nv)
    hit = _CACHE.get(key)
    if hit is not None and all(r() is f for r, f in zip(hit[0], faces)):
        try:
            _CACHE.move_to_end(key)
        except KeyError:  # evicted meanwhile by another thread: still valid
            pass
        return hit[1]
    topo = MeshTopology(faces, nv)
    _CACHE[key] = ([weakref.ref(f) for f in faces], topo)
    while len(_CACHE) > _CACHE_SIZE:
        try:
            _CACHE.popitem(last=False)
        except KeyError:
            break
    return topo
