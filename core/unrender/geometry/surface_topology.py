"""Topological type of a triangle mesh: connected components, boundary loops, genus.

``deform-mesh`` deforms a sphere unless the target is not a sphere; this
module tells which (:func:`surface_topology`, :attr:`SurfaceTopology.is_sphere`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..ops.topology import MeshTopology

__all__ = ["SurfaceTopology", "connected_components", "surface_topology", "weld_vertices"]


def weld_vertices(verts: torch.Tensor, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Merge vertices at exactly the same position (as OBJ/PLY files split them at seams).

    Args:
        verts: ``(V, 3)``. faces: ``(F, 3)`` int64.
    Returns:
        ``(verts (V', 3), faces (F, 3))`` with one vertex per distinct position.
    """
    unique, inverse = torch.unique(verts, dim=0, return_inverse=True)
    return unique, inverse[faces]


def connected_components(edges: torch.Tensor, num_verts: int) -> torch.Tensor:
    """Component label of each vertex of a graph (the smallest vertex index in its component).

    Hooking and pointer jumping: O(log V) rounds of vectorised updates.

    Args:
        edges: ``(E, 2)`` int64. num_verts: ``V``.
    Returns:
        ``(V,)`` int64 labels.
    """
    label = torch.arange(num_verts, device=edges.device)
    if edges.numel() == 0:
        return label
    a, b = edges.unbind(1)
    while True:
        la, lb = label[a], label[b]
        low = torch.minimum(la, lb)
        new = label.clone()
        # Hook each root onto the smallest label it meets, then jump pointers to the roots.
        new.scatter_reduce_(0, la, low, "amin")
        new.scatter_reduce_(0, lb, low, "amin")
        while True:
            nxt = new[new]
            if torch.equal(nxt, new):
                break
            new = nxt
        if torch.equal(new, label):
            return label
        label = new


@dataclass(frozen=True)
class SurfaceTopology:
    """Topological summary of a mesh (vertices welded by position).

    Attributes:
        components: number of connected pieces (isolated vertices not counted).
        genus: per component, ``(2 - euler - boundary_loops) / 2`` (handles).
        boundary_loops: per component, holes' rims.
        non_manifold_edges: edges shared by more than two faces.
    """

    components: int
    genus: tuple[int, ...]
    boundary_loops: tuple[int, ...]
    non_manifold_edges: int

    @property
    def closed(self) -> bool:
        return sum(self.boundary_loops) == 0 and self.non_manifold_edges == 0

    @property
    def is_sphere(self) -> bool:
        """One closed, manifold piece of genus 0: what an icosphere can become."""
        return self.components == 1 and self.closed and self.genus == (0,)

    def describe(self) -> str:
        parts = [f"{self.components} component{'s' if self.components != 1 else ''}",
                 f"genus {'/'.join(map(str, self.genus)) or '-'}"]
        if sum(self.boundary_loops):
            parts.append(f"{sum(self.boundary_loops)} hole{'s' if sum(self.boundary_loops) != 1 else ''}")
        if self.non_manifold_edges:
            parts.append(f"{self.non_manifold_edges} non-manifold edges")
        return ", ".join(parts)


def surface_topology(verts: torch.Tensor, faces: torch.Tensor) -> SurfaceTopology:
    """Components, genus and holes of the mesh ``verts (V, 3)``, ``faces (F, 3)``.

    Vertices are welded by exact position first, so seams of a file's UV
    layout do not count as holes.
    """
    verts, faces = weld_vertices(verts.detach(), faces)
    V = verts.shape[0]
    topo = MeshTopology([faces], [V])
    edges = topo.edges
    uses = torch.bincount(topo.face_to_edge.reshape(-1), minlength=edges.shape[0])
    label = connected_components(edges, V)
    used = torch.zeros(V, dtype=torch.bool, device=verts.device)
    used[faces.reshape(-1)] = True
    roots = torch.unique(label[used])
    comp = torch.searchsorted(roots, label)  # (V,) component index (valid where used)
    n = roots.shape[0]

    def count(index: torch.Tensor) -> torch.Tensor:
        return torch.bincount(index, minlength=n)

    nv = count(comp[used])
    ne = count(comp[edges[:, 0]])
    nf = count(comp[faces[:, 0]])
    # Boundary loops: boundary edges form cycles; count the cycles as components of the boundary graph.
    rim = edges[uses == 1]
    if rim.shape[0]:
        rim_label = connected_components(rim, V)
        rim_verts = torch.unique(rim.reshape(-1))
        loops = count(comp[torch.unique(rim_label[rim_verts])])
    else:
        loops = torch.zeros(n, dtype=torch.int64, device=verts.device)
    euler = nv - ne + nf
    genus = torch.div(2 - euler - loops, 2, rounding_mode="floor").clamp_min(0)
    return SurfaceTopology(
        components=int(n),
        genus=tuple(int(g) for g in genus),
        boundary_loops=tuple(int(x) for x in loops),
        non_manifold_edges=int((uses > 2).sum()),
    )
