"""Mesh Laplacian matrices (uniform, cotangent, inverse edge length).

Each returns a sparse COO ``(V, V)`` matrix with the same entries as the
PyTorch3D function of the same name. Difference: the values take the dtype
of ``verts`` (PyTorch3D always builds float32).
"""

from __future__ import annotations

import torch

from .._validate import check_faces, check_finite, check_tensor

__all__ = ["laplacian", "cot_laplacian", "norm_laplacian", "cot_weights", "vertex_areas"]


def _check_verts(verts) -> int:
    check_tensor("verts", verts, [None, 3], floating=True)
    check_finite("verts", verts)
    return int(verts.shape[0])


def _check_edges(edges, V: int) -> torch.Tensor:
    check_tensor("edges", edges, [None, 2], integer=True)
    if edges.numel() and (int(edges.min()) < 0 or int(edges.max()) >= V):
        raise ValueError(
            f"edges: expected indices in [0, {V - 1}], found range [{int(edges.min())}, {int(edges.max())}]"
        )
    return edges.to(torch.int64)


def _sparse(idx: torch.Tensor, val: torch.Tensor, V: int) -> torch.Tensor:
    """Coalesced ``(V, V)`` COO matrix (duplicates summed).

    Built with invariant checks explicitly on (cheap, O(nnz)): leaving them
    implicit makes torch 2.11 warn on every first sparse construction.
    """
    with torch.sparse.check_sparse_tensor_invariants(enable=True):
        return torch.sparse_coo_tensor(idx, val, (V, V)).coalesce()


def laplacian(verts: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """Uniform graph Laplacian.

    ``L[i, j] = 1 / deg(i)`` if ``(i, j)`` is an edge, ``L[i, i] = -1``, so
    ``(L @ v)[i]`` is the mean of the neighbours minus ``v[i]``.

    Args:
        verts: ``(V, 3)`` float (only its size, dtype and device are used).
        edges: ``(E, 2)`` int64 undirected edges, each listed once.
    Returns:
        Sparse COO ``(V, V)``, coalesced.
    """
    V = _check_verts(verts)
    edges = _check_edges(edges, V)
    e0, e1 = edges.unbind(1)
    rows, cols = torch.cat([e0, e1]), torch.cat([e1, e0])
    deg = torch.zeros(V, dtype=verts.dtype, device=verts.device).index_add_(
        0, rows, torch.ones_like(rows, dtype=verts.dtype)
    )
    inv = torch.where(deg > 0, 1.0 / deg.clamp_min(1e-30), deg)
    diag = torch.arange(V, device=verts.device)
    idx = torch.stack([torch.cat([rows, diag]), torch.cat([cols, diag])])
    val = torch.cat([inv[rows], -torch.ones(V, dtype=verts.dtype, device=verts.device)])
    return _sparse(idx, val, V)


def cot_weights(verts: torch.Tensor, faces: torch.Tensor, eps: float = 1e-12) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-face cotangent weights and areas (no validation; used in loops).

    Args:
        verts: ``(V, 3)``; faces: ``(F, 3)`` int64.
    Returns:
        ``cot (F, 3)``: ``cot(angle at corner k) / 2``, the weight of the edge
        opposite corner k; ``area (F,)`` from Heron's formula clamped at
        ``eps`` before the square root, as in PyTorch3D (so degenerate faces
        give the same large finite weights).
    """
    v0, v1, v2 = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    A = (v1 - v2).norm(dim=1)  # side opposite corner 0
    B = (v0 - v2).norm(dim=1)
    C = (v0 - v1).norm(dim=1)
    s = 0.5 * (A + B + C)
    area = (s * (s - A) * (s - B) * (s - C)).clamp_(min=eps).sqrt()
    A2, B2, C2 = A * A, B * B, C * C
    # cot(angle) = (adjacent^2 + adjacent^2 - opposite^2) / (4 area); the 1/4
    # folds the symmetric doubling of L = W + W^T into the weight.
    cot = torch.stack([B2 + C2 - A2, A2 + C2 - B2, A2 + B2 - C2], 1) / area[:, None]
    return cot / 4.0, area


def cot_laplacian(verts: torch.Tensor, faces: torch.Tensor, eps: float = 1e-12) -> tuple[torch.Tensor, torch.Tensor]:
    """Cotangent Laplacian and inverse vertex areas.

    ``L[i, j] = (cot a_ij + cot b_ij) / 2`` over the two angles opposite edge
    ``(i, j)`` (one on a boundary edge); the diagonal is empty, as in
    PyTorch3D.

    Args:
        verts: ``(V, 3)`` float.
        faces: ``(F, 3)`` int64.
        eps: clamp of the squared area before its square root.
    Returns:
        ``(L, inv_areas)``: sparse COO ``(V, V)`` (coalesced) and ``(V, 1)``,
        the inverse of the summed area of the faces around each vertex (0 for
        a vertex in no face).
    """
    V = _check_verts(verts)
    check_faces("faces", faces, V)
    faces = faces.to(torch.int64)
    cot, area = cot_weights(verts, faces, eps)
    ii = faces[:, [1, 2, 0]].reshape(-1)  # corner k weights the edge (k+1, k+2)
    jj = faces[:, [2, 0, 1]].reshape(-1)
    w = cot.reshape(-1)
    idx = torch.stack([torch.cat([ii, jj]), torch.cat([jj, ii])])
    L = _sparse(idx, torch.cat([w, w]), V)
    inv_areas = vertex_areas(area, faces, V)
    nz = inv_areas > 0
    inv_areas = torch.where(nz, 1.0 / torch.where(nz, inv_areas, torch.ones_like(inv_areas)), inv_areas)
    return L, inv_areas.view(V, 1)


def vertex_areas(area: torch.Tensor, faces: torch.Tensor, V: int) -> torch.Tensor:
    """``(V,)`` sum of the areas ``(F,)`` of the faces around each vertex."""
    return torch.zeros(V, dtype=area.dtype, device=area.device).index_add_(
        0, faces.reshape(-1), area[:, None].expand(-1, 3).reshape(-1)
    )


def norm_laplacian(verts: torch.Tensor, edges: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Inverse-edge-length affinity: ``L[i, j] = 1 / (|v_i - v_j| + eps)`` on edges.

    Args:
        verts: ``(V, 3)`` float; edges: ``(E, 2)`` int64.
    Returns:
        Sparse COO ``(V, V)``, symmetric, coalesced, differentiable w.r.t.
        ``verts``.
    """
    V = _check_verts(verts)
    edges = _check_edges(edges, V)
    w = 1.0 / ((verts[edges[:, 0]] - verts[edges[:, 1]]).norm(dim=1) + eps)
    e0, e1 = edges.unbind(1)
    idx = torch.stack([torch.cat([e0, e1]), torch.cat([e1, e0])])
    return _sparse(idx, torch.cat([w, w]), V)
