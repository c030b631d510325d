"""Mesh regularisers (PyTorch3D-compatible): Laplacian smoothing, normal
consistency, edge length.

Each returns the mean over the meshes of a per-mesh average, so a mesh counts
the same whatever its size. Connectivity (edges, face pairs, degrees) comes
from :func:`unrender.ops.topology.mesh_topology`, cached per face tensors, so
in an optimisation loop only the vertex-dependent arithmetic runs each step.
"""

from __future__ import annotations

import torch

from .._validate import check_meshes
from ..ops.laplacian import cot_weights, vertex_areas
from ..ops.topology import mesh_topology
from ..structures import Meshes

__all__ = ["mesh_laplacian_smoothing", "mesh_normal_consistency", "mesh_edge_loss"]

_LAPLACIAN_METHODS = ("uniform", "cot", "cotcurv")


def _zero(meshes) -> torch.Tensor:
    # PyTorch3D returns this exact (1,) float32 leaf for empty input.
    return torch.tensor([0.0], dtype=torch.float32, device=meshes.device, requires_grad=True)


def mesh_edge_loss(meshes: Meshes, target_length: float = 0.0) -> torch.Tensor:
    """Mean squared deviation of edge lengths from ``target_length``.

    ``sum_b mean_{e in mesh b} (|v_e0 - v_e1| - target_length)^2 / B``.

    Args:
        meshes: batch of ``B`` meshes.
        target_length: rest length (a float).
    Returns:
        Scalar tensor; ``tensor([0.])`` (shape ``(1,)``) for an empty batch.
    """
    check_meshes("meshes", meshes)
    if isinstance(target_length, bool) or not isinstance(target_length, (int, float)):
        raise ValueError(f"target_length: expected a float, found {type(target_length).__name__}")
    if meshes.isempty():
        return _zero(meshes)
    topo = mesh_topology(meshes)
    v = meshes.verts_packed()
    E = topo.edges.shape[0]
    ve = v.index_select(0, topo.edges.view(-1)).view(E, 2, 3)  # index_select: cheaper backward than v[idx]
    length = (ve[:, 0] - ve[:, 1]).norm(dim=1, p=2)
    loss = (length - target_length) ** 2 * topo.edge_weights.to(v.dtype)
    return loss.sum() / len(meshes)


def mesh_normal_consistency(meshes: Meshes) -> torch.Tensor:
    """Mean of ``1 - cos`` between the normals of faces sharing an edge.

    For every pair of faces ``(v0, v1, a)`` and ``(v1, v0, b)`` sharing edge
    ``(v0, v1)``, ``n0 = (v1 - v0) x (a - v0)`` and
    ``n1 = (b - v0) x (v1 - v0)``; an edge with ``c`` faces contributes all
    ``c (c - 1) / 2`` pairs (boundary edges none), as in PyTorch3D. Averaged
    per mesh over its pairs, then over the meshes.

    Returns:
        Scalar tensor; ``tensor([0.])`` (shape ``(1,)``) for an empty batch or
        one without any shared edge.
    """
    check_meshes("meshes", meshes)
    if meshes.isempty():
        return _zero(meshes)
    topo = mesh_topology(meshes)
    idx, w = topo.face_pairs_packed
    P = w.shape[0]
    if P == 0:
        return _zero(meshes)
    v = meshes.verts_packed()
    v0, v1, va, vb = v.index_select(0, idx).view(4, P, 3).unbind(0)
    e = v1 - v0
    n0 = torch.cross(e, va - v0, dim=1)
    n1 = -torch.cross(e, vb - v0, dim=1)
    loss = 1 - torch.cosine_similarity(n0, n1, dim=1)
    return (loss * w.to(v.dtype)).sum() / len(meshes)


def mesh_laplacian_smoothing(meshes: Meshes, method: str = "uniform") -> torch.Tensor:
    """Laplacian smoothing: mean norm of each vertex's Laplacian.

    ``method``:

    * ``"uniform"``: ``L v = mean(neighbours) - v``;
    * ``"cot"``: ``L v = (sum_j w_ij v_j) / (sum_j w_ij) - v`` with cotangent
      weights ``w``;
    * ``"cotcurv"``: ``(sum_j w_ij (v_j - v_i)) / (4 A_i)`` with ``A_i`` the
      area of the faces around vertex ``i`` (mean-curvature normal).

    As in PyTorch3D the weights are treated as constants (no gradient flows
    through them), the loss is ``sum_b mean_{i in b} |L v_i| / B``, and the
    cotangent weights come from Heron's formula with the area clamped at
    ``1e-12``.

    Returns:
        Scalar tensor; ``tensor([0.])`` (shape ``(1,)``) for an empty batch.
    """
    check_meshes("meshes", meshes)
    if method not in _LAPLACIAN_METHODS:
        raise ValueError(f"method: expected one of {_LAPLACIAN_METHODS}, found {method!r}")
    if meshes.isempty():
        return _zero(meshes)
    topo = mesh_topology(meshes)
    v = meshes.verts_packed()
    V = v.shape[0]
    if method == "uniform":
        rows, cols, w = topo.uniform_laplacian_parts
        lv = torch.zeros_like(v).index_add_(0, rows, v.index_select(0, cols) * w.to(v.dtype)[:, None]) - v
    else:
        f = topo.faces
        rows, cols = topo.cot_entries  # corner k weights the edge (k+1, k+2), both ways
        with torch.no_grad():
            cot, area = cot_weights(v.detach(), f)
            wc = cot.reshape(-1).repeat(2)
            row_sum = torch.zeros(V, dtype=v.dtype, device=v.device).index_add_(0, rows, wc)[:, None]
            if method == "cot":
                norm_w = torch.where(row_sum > 0, 1.0 / torch.where(row_sum > 0, row_sum, 1.0), row_sum)
            else:
                va = vertex_areas(area, f, V)
                inv_a = torch.where(va > 0, 1.0 / torch.where(va > 0, va, 1.0), va)
                norm_w = 0.25 * inv_a[:, None]
        wv = torch.zeros_like(v).index_add_(0, rows, v.index_select(0, cols) * wc[:, None])
        if method == "cot":
            lv = wv * norm_w - v
        else:
            lv = (wv - row_sum * v) * norm_w
    loss = lv.norm(dim=1) * topo.vert_weights.to(v.dtype)
    return loss.sum() / len(meshes)
