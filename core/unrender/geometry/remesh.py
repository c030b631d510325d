"""Isotropic and adaptive remeshing of triangle meshes: edge split, collapse and flip, all vectorised.

One :func:`remesh` pass brings every edge towards a target length ``L``
(a number, or one per vertex for adaptive meshes) the way isotropic
remeshing does (Botsch and Kobbelt 2004) and continuous remeshing for inverse
rendering applies it between optimisation steps:

1. split every edge longer than ``4/3 L`` at its midpoint (each face is
   re-triangulated by the pattern of its split edges, so a whole pass is one
   tensor operation);
2. collapse edges shorter than ``4/5 L`` into their midpoint, many at once:
   a set of collapses whose face stars are disjoint is chosen by priority
   (shortest first), and each is checked (link condition, valences, no flipped
   or degenerate face, no new edge longer than ``4/3 L``);
3. flip edges that bring the valences of their four vertices closer to 6,
   when the two faces are nearly coplanar before and after;
4. move vertices towards the centroid of their neighbours in their tangent
   plane (tangential relaxation), which keeps triangles well shaped.

Boundary edges are split but never collapsed or flipped, and boundary
vertices are not moved; non-manifold edges are left alone. Orientation is
kept. Per-vertex attributes (``attrs``: optimiser moments, colours) follow
the vertices: a new vertex gets the mean of its edge's two ends.
"""

from __future__ import annotations

import torch

from ..ops.topology import MeshTopology
from ..structures import Meshes

__all__ = [
    "MeshEdges",
    "adaptive_edge_lengths",
    "collapse_edges",
    "edge_lengths",
    "flip_edges",
    "mesh_edges",
    "remesh",
    "split_edges",
    "tangential_relax",
]

_BIG = torch.iinfo(torch.int64).max


class MeshEdges:
    """Edges of one triangle mesh.

    Attributes:
        edges: ``(E, 2)`` int64, ``edges[:, 0] < edges[:, 1]``.
        face_edge: ``(F, 3)`` index of the edge opposite each corner
            (``face_edge[f, i]`` joins ``faces[f, i+1]`` and ``faces[f, i+2]``).
        edge_faces: ``(E, 2)`` the faces of each edge, ``-1`` where missing.
        edge_slot: ``(E, 2)`` the corner (0..2) opposite the edge in each face.
        interior: ``(E,)`` bool, exactly two faces.
        valence: ``(V,)`` int64 number of edges at each vertex.
        boundary_vertex: ``(V,)`` bool, on an edge with one face or more than two.
    """

    def __init__(self, faces: torch.Tensor, num_verts: int) -> None:
        F, V = faces.shape[0], num_verts
        dev = faces.device
        topo = MeshTopology([faces], [V])
        self.edges, self.face_edge = topo.edges, topo.face_to_edge
        self.keys = self.edges[:, 0] * V + self.edges[:, 1]  # sorted
        self.num_verts = V
        E = self.edges.shape[0]
        inv = self.face_edge.reshape(-1)
        count = torch.bincount(inv, minlength=E)
        order = torch.argsort(inv, stable=True)
        first = torch.cumsum(count, 0) - count
        rank = torch.empty_like(order)
        rank[order] = torch.arange(order.shape[0], device=dev) - first[inv[order]]
        slot_face = torch.arange(F, device=dev).repeat_interleave(3)
        slot_corner = torch.arange(3, device=dev).repeat(F)
        self.edge_faces = torch.full((E, 2), -1, dtype=torch.int64, device=dev)
        self.edge_slot = torch.full((E, 2), -1, dtype=torch.int64, device=dev)
        keep = rank < 2
        self.edge_faces[inv[keep], rank[keep]] = slot_face[keep]
        self.edge_slot[inv[keep], rank[keep]] = slot_corner[keep]
        self.interior = count == 2
        self.valence = torch.bincount(self.edges.reshape(-1), minlength=V)
        bad = self.edges[~self.interior].reshape(-1)
        self.boundary_vertex = torch.zeros(V, dtype=torch.bool, device=dev)
        self.boundary_vertex[bad] = True

    def has_edge(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``(K,)`` bool: is ``(a[k], b[k])`` an edge."""
        key = torch.minimum(a, b) * self.num_verts + torch.maximum(a, b)
        pos = torch.searchsorted(self.keys, key).clamp(max=self.keys.shape[0] - 1)
        return self.keys[pos] == key


def mesh_edges(faces: torch.Tensor, num_verts: int) -> MeshEdges:
    """The :class:`MeshEdges` of ``faces`` ``(F, 3)`` over ``num_verts`` vertices."""
    return MeshEdges(faces, num_verts)


def edge_lengths(verts: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """``(E,)`` lengths of ``edges`` ``(E, 2)`` of ``verts`` ``(V, 3)``."""
    return (verts[edges[:, 0]] - verts[edges[:, 1]]).norm(dim=1)


def _edge_target(length, edges: torch.Tensor) -> torch.Tensor | float:
    """Target length per edge: the mean of its ends' targets (or the one number)."""
    if isinstance(length, torch.Tensor) and length.dim() > 0:
        return 0.5 * (length[edges[:, 0]] + length[edges[:, 1]])
    return float(length)


def _face_normals(verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """``(F, 3)`` unnormalised normals (twice the area)."""
    v0, v1, v2 = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    return torch.cross(v1 - v0, v2 - v0, dim=1)


def _mix(attrs, a: torch.Tensor, b: torch.Tensor) -> list[torch.Tensor]:
    return [0.5 * (t[a] + t[b]) for t in attrs]


def _drop_unused(verts, faces, attrs, length):
    """Remove vertices no face uses; re-index the faces."""
    used = torch.zeros(verts.shape[0], dtype=torch.bool, device=verts.device)
    used[faces.reshape(-1)] = True
    if bool(used.all()):
        return verts, faces, attrs, length
    new_index = torch.cumsum(used.long(), 0) - 1
    if isinstance(length, torch.Tensor) and length.dim() > 0:
        length = length[used]
    return verts[used], new_index[faces], [t[used] for t in attrs], length


# ---------------------------------------------------------------------------- split
def split_edges(verts, faces, length, attrs=(), *, ratio: float = 4.0 / 3.0):
    """Split every edge longer than ``ratio`` times its target length at its midpoint.

    Args:
        verts: ``(V, 3)``. faces: ``(F, 3)`` int64. length: a number or ``(V,)`` targets.
        attrs: per-vertex tensors ``(V, ...)``; new vertices get their edge's mean.
    Returns:
        ``(verts, faces, attrs, length, n_split)``; new vertices are appended.
    """
    V = verts.shape[0]
    me = MeshEdges(faces, V)
    long = edge_lengths(verts, me.edges) > ratio * _edge_target(length, me.edges)
    n = int(long.sum())
    if n == 0:
        return verts, faces, list(attrs), length, 0
    a, b = me.edges[long, 0], me.edges[long, 1]
    mid_index = torch.full((me.edges.shape[0],), -1, dtype=torch.int64, device=faces.device)
    mid_index[long] = V + torch.arange(n, device=faces.device)
    verts = torch.cat((verts, 0.5 * (verts[a] + verts[b])))
    attrs = [torch.cat((t, m)) for t, m in zip(attrs, _mix(attrs, a, b))]
    if isinstance(length, torch.Tensor) and length.dim() > 0:
        length = torch.cat((length, 0.5 * (length[a] + length[b])))

    split = long[me.face_edge]  # (F, 3)
    count = split.sum(1)
    mids = mid_index[me.face_edge]  # (F, 3), -1 where not split
    out = [faces[count == 0]]
    # Rotate each face so that its distinguished edge is edge 0: the split one
    # (one split) or the unsplit one (two splits). Rotation keeps orientation.
    for k in (1, 2):
        sel = count == k
        if not bool(sel.any()):
            continue
        f, m, s = faces[sel], mids[sel], split[sel]
        r = torch.argmax((s if k == 1 else ~s).long(), 1)
        idx = (r[:, None] + torch.arange(3, device=faces.device)) % 3
        f, m = f.gather(1, idx), m.gather(1, idx)
        v0, v1, v2 = f.unbind(1)
        m0, m1, m2 = m.unbind(1)
        if k == 1:
            out += [torch.stack((v0, v1, m0), 1), torch.stack((v0, m0, v2), 1)]
        else:  # edges 1 (v2 v0) and 2 (v0 v1) split: corner triangle and a quad split by its shorter diagonal
            out.append(torch.stack((v0, m2, m1), 1))
            d_a = (verts[m2] - verts[v2]).norm(dim=1)
            d_b = (verts[v1] - verts[m1]).norm(dim=1)
            use_a = (d_a <= d_b)[:, None]
            out.append(torch.where(use_a, torch.stack((m2, v1, v2), 1), torch.stack((m2, v1, m1), 1)))
            out.append(torch.where(use_a, torch.stack((m2, v2, m1), 1), torch.stack((v1, v2, m1), 1)))
    sel = count == 3
    if bool(sel.any()):
        v0, v1, v2 = faces[sel].unbind(1)
        m0, m1, m2 = mids[sel].unbind(1)
        out += [torch.stack(t, 1) for t in ((v0, m2, m1), (m2, v1, m0), (m1, m0, v2), (m0, m1, m2))]
    return verts, torch.cat(out), attrs, length, n


# ------------------------------------------------------------------------- collapse
def _vertex_faces(faces: torch.Tensor, num_verts: int) -> tuple[torch.Tensor, torch.Tensor]:
    """CSR of the faces around each vertex: ``(offsets (V+1,), face ids (3F,))``."""
    flat = faces.reshape(-1)
    order = torch.argsort(flat, stable=True)
    counts = torch.bincount(flat, minlength=num_verts)
    offsets = torch.zeros(num_verts + 1, dtype=torch.int64, device=faces.device)
    offsets[1:] = torch.cumsum(counts, 0)
    return offsets, order // 3


def _star(offsets, vf, vertices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairs ``(owner k, face)`` for every face around ``vertices[k]``."""
    counts = offsets[vertices + 1] - offsets[vertices]
    owner = torch.repeat_interleave(torch.arange(vertices.shape[0], device=vertices.device), counts)
    start = torch.repeat_interleave(offsets[vertices], counts)
    within = torch.arange(owner.shape[0], device=vertices.device) - torch.repeat_interleave(
        torch.cumsum(counts, 0) - counts, counts)
    return owner, vf[start + within]


def _independent(priority: torch.Tensor, touched: torch.Tensor, num_verts: int, faces=None) -> torch.Tensor:
    """Operations whose neighbourhoods do not overlap a better one's.

    Args:
        priority: ``(K,)`` distinct int64, lower is better. touched: ``(K, T)``
            vertices each operation changes. faces: with faces, the
            neighbourhood is every face at a touched vertex (collapses);
            without, the touched vertices themselves (flips).
    Returns:
        ``(K,)`` bool: the operation is the best in its neighbourhood.
    """
    best = torch.full((num_verts,), _BIG, dtype=torch.int64, device=priority.device)
    best.scatter_reduce_(0, touched.reshape(-1), priority.repeat_interleave(touched.shape[1]), "amin")
    if faces is not None:
        face_best = best[faces].min(1).values
        best = torch.full_like(best, _BIG)
        best.scatter_reduce_(0, faces.reshape(-1), face_best.repeat_interleave(3), "amin")
    return (best[touched] == priority[:, None]).all(1)


def collapse_edges(verts, faces, length, attrs=(), *, ratio: float = 0.8, max_ratio: float = 4.0 / 3.0,
                   min_cos: float = 0.2):
    """Collapse edges shorter than ``ratio`` times their target length into their midpoints.

    One round: every valid collapse whose face star does not meet a shorter
    candidate's is applied. Valid: an interior edge between two interior
    vertices, whose ends share exactly the two opposite vertices (link
    condition), which leaves every vertex with valence >= 3, turns no face of
    the star by more than ``acos(min_cos)`` nor makes it degenerate, and makes
    no edge longer than ``max_ratio`` times the target.

    Returns:
        ``(verts, faces, attrs, length, n_collapsed)``.
    """
    V, dev = verts.shape[0], verts.device
    me = MeshEdges(faces, V)
    target = _edge_target(length, me.edges)
    elen = edge_lengths(verts, me.edges)
    a_all, b_all = me.edges.unbind(1)
    cand = (elen < ratio * target) & me.interior & ~me.boundary_vertex[a_all] & ~me.boundary_vertex[b_all]
    if not bool(cand.any()):
        return verts, faces, list(attrs), length, 0
    eid = torch.nonzero(cand).squeeze(1)
    a, b = a_all[eid], b_all[eid]
    K = eid.shape[0]
    # Opposite vertices (the corners facing the edge in its two faces) must keep valence >= 3.
    fa, sa = me.edge_faces[eid, 0], me.edge_slot[eid, 0]
    fb, sb = me.edge_faces[eid, 1], me.edge_slot[eid, 1]
    c, d = faces[fa, sa], faces[fb, sb]
    ok = (me.valence[c] > 3) & (me.valence[d] > 3) & (me.valence[a] + me.valence[b] - 4 >= 3)
    x = 0.5 * (verts[a] + verts[b])
    t_new = target[eid] if isinstance(target, torch.Tensor) else torch.full((K,), target, device=dev)

    offsets, vf = _vertex_faces(faces, V)
    owner_a, face_a = _star(offsets, vf, a)
    owner_b, face_b = _star(offsets, vf, b)
    owner = torch.cat((owner_a, owner_b))
    side = torch.cat((torch.zeros_like(owner_a), torch.ones_like(owner_b)))
    fv = faces[torch.cat((face_a, face_b))]  # (P, 3)
    at_a, at_b = fv == a[owner, None], fv == b[owner, None]
    # Link condition: the ends share exactly two neighbours (c and d).
    nb, own = fv.reshape(-1), owner.repeat_interleave(3)
    ring = ~(at_a | at_b).reshape(-1)
    key = torch.unique((own * 2 + side.repeat_interleave(3))[ring] * V + nb[ring])  # (owner, side, neighbour)
    pairs, count = torch.unique((key // (2 * V)) * V + key % V, return_counts=True)
    shared = torch.zeros(K, dtype=torch.int64, device=dev).index_add_(
        0, pairs[count == 2] // V, torch.ones_like(pairs[count == 2]))
    ok &= shared == 2
    # Faces of the two stars that survive (the two holding both ends vanish) must stay
    # well oriented and get no edge longer than max_ratio times the target.
    survives = ~(at_a.any(1) & at_b.any(1))
    owner, fv, moved = owner[survives], fv[survives], (at_a | at_b)[survives]
    old = verts[fv]  # (P, 3, 3)
    new = torch.where(moved[..., None], x[owner][:, None, :], old)
    n_old = torch.cross(old[:, 1] - old[:, 0], old[:, 2] - old[:, 0], dim=1)
    n_new = torch.cross(new[:, 1] - new[:, 0], new[:, 2] - new[:, 0], dim=1)
    cos = (n_old * n_new).sum(1) / (n_old.norm(dim=1) * n_new.norm(dim=1)).clamp_min(1e-30)
    too_long = ((new - x[owner][:, None, :]).norm(dim=2) > max_ratio * t_new[owner, None]).any(1)
    bad = (cos < min_cos) | too_long
    ok &= torch.zeros(K, dtype=torch.int64, device=dev).index_add_(0, owner, bad.long()) == 0

    if not bool(ok.any()):
        return verts, faces, list(attrs), length, 0
    sel = torch.nonzero(ok).squeeze(1)
    prio = torch.empty(K, dtype=torch.int64, device=dev)
    prio[torch.argsort(elen[eid] / t_new)] = torch.arange(K, device=dev)
    chosen = sel[_independent(prio[sel], torch.stack((a[sel], b[sel]), 1), V, faces)]
    a, b, x = a[chosen], b[chosen], x[chosen]
    verts = verts.clone()
    verts[a] = x
    attrs = list(attrs)
    for i, (t, m) in enumerate(zip(attrs, _mix(attrs, a, b))):
        attrs[i] = t.clone()
        attrs[i][a] = m
    if isinstance(length, torch.Tensor) and length.dim() > 0:
        length = length.clone()
        length[a] = 0.5 * (length[a] + length[b])
    vmap = torch.arange(V, device=dev)
    vmap[b] = a
    faces = vmap[faces]
    degenerate = (faces[:, 0] == faces[:, 1]) | (faces[:, 1] == faces[:, 2]) | (faces[:, 2] == faces[:, 0])
    faces = faces[~degenerate]
    verts, faces, attrs, length = _drop_unused(verts, faces, attrs, length)
    return verts, faces, attrs, length, int(chosen.shape[0])


# ----------------------------------------------------------------------------- flip
def flip_edges(verts, faces, *, min_cos: float = 0.5):
    """Flip interior edges where it brings the valences of the four vertices closer to 6.

    Edge ``(u, w)`` between faces ``(c, u, w)`` and ``(d, w, u)`` becomes
    ``(c, d)`` with faces ``(c, u, d)`` and ``(c, d, w)``, when ``(c, d)`` is
    not already an edge, ``u`` and ``w`` keep valence >= 3, and the two faces'
    unit normals agree to ``min_cos`` before and after (so the shape barely
    changes). One round; the flips chosen share no vertex.

    Returns:
        ``(faces, n_flipped)``.
    """
    V, dev = verts.shape[0], verts.device
    me = MeshEdges(faces, V)
    eid = torch.nonzero(me.interior).squeeze(1)
    f1, s1 = me.edge_faces[eid, 0], me.edge_slot[eid, 0]
    f2, s2 = me.edge_faces[eid, 1], me.edge_slot[eid, 1]
    c = faces[f1, s1]
    u, w = faces[f1, (s1 + 1) % 3], faces[f1, (s1 + 2) % 3]
    d = faces[f2, s2]
    # Consistent orientation: the second face runs the edge the other way.
    consistent = (faces[f2, (s2 + 1) % 3] == w) & (faces[f2, (s2 + 2) % 3] == u)
    val = me.valence
    target = torch.where(me.boundary_vertex, 4, 6)
    dev_before = (val[u] - target[u]).abs() + (val[w] - target[w]).abs() + (val[c] - target[c]).abs() + (
        val[d] - target[d]).abs()
    dev_after = (val[u] - 1 - target[u]).abs() + (val[w] - 1 - target[w]).abs() + (
        val[c] + 1 - target[c]).abs() + (val[d] + 1 - target[d]).abs()
    gain = dev_before - dev_after
    ok = consistent & (gain > 0) & (val[u] > 3) & (val[w] > 3) & (c != d)
    if not bool(ok.any()):
        return faces, 0
    keep = torch.nonzero(ok).squeeze(1)
    eid, f1, f2, c, u, w, d, gain = (t[keep] for t in (eid, f1, f2, c, u, w, d, gain))
    ok = ~me.has_edge(c, d)

    def unit_normal(i, j, k):
        n = torch.cross(verts[j] - verts[i], verts[k] - verts[i], dim=1)
        return n / n.norm(dim=1, keepdim=True).clamp_min(1e-30)

    n1, n2 = unit_normal(c, u, w), unit_normal(d, w, u)
    m1, m2 = unit_normal(c, u, d), unit_normal(c, d, w)
    ok &= ((n1 * n2).sum(1) > min_cos) & ((m1 * m2).sum(1) > min_cos) & ((m1 * n1).sum(1) > min_cos) & (
        (m2 * n2).sum(1) > min_cos)
    if not bool(ok.any()):
        return faces, 0
    sel = torch.nonzero(ok).squeeze(1)
    # Priority: the biggest valence gain first, then edge order (distinct values).
    prio = (10 - gain[sel]) * (me.edges.shape[0] + 1) + eid[sel]
    chosen = sel[_independent(prio, torch.stack((c[sel], u[sel], w[sel], d[sel]), 1), V)]
    faces = faces.clone()
    faces[f1[chosen]] = torch.stack((c[chosen], u[chosen], d[chosen]), 1)
    faces[f2[chosen]] = torch.stack((c[chosen], d[chosen], w[chosen]), 1)
    return faces, int(chosen.shape[0])


# --------------------------------------------------------------------------- relax
def tangential_relax(verts, faces, *, weight: float = 0.5, fixed: torch.Tensor | None = None) -> torch.Tensor:
    """Move each vertex ``weight`` of the way to its neighbours' centroid, within its tangent plane.

    Args:
        verts: ``(V, 3)``. faces: ``(F, 3)``. fixed: ``(V,)`` bool, vertices not moved
            (boundary vertices are always fixed).
    Returns:
        ``(V, 3)`` new positions.
    """
    V = verts.shape[0]
    me = MeshEdges(faces, V)
    a, b = me.edges.unbind(1)
    total = torch.zeros_like(verts).index_add_(0, a, verts[b]).index_add_(0, b, verts[a])
    centroid = total / me.valence.clamp_min(1)[:, None].to(verts.dtype)
    step = centroid - verts
    n = Meshes([verts], [faces]).verts_normals_packed()
    step = step - (step * n).sum(1, keepdim=True) * n
    still = me.boundary_vertex | (me.valence == 0)
    if fixed is not None:
        still = still | fixed
    return verts + weight * step * (~still)[:, None].to(verts.dtype)


# -------------------------------------------------------------------------- remesh
def remesh(verts: torch.Tensor, faces: torch.Tensor, length, attrs=(), *, iterations: int = 3,
           relax: float = 0.5) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor], object]:
    """One remeshing pass towards the target edge length ``length``.

    Args:
        verts: ``(V, 3)`` float. faces: ``(F, 3)`` int64, consistently oriented.
        length: target edge length, a number or ``(V,)`` per vertex (adaptive).
        attrs: per-vertex tensors ``(V, ...)`` carried along (new vertices get
            the mean of the two they come from).
        iterations: rounds of each operation (each round acts on a set of
            independent edges; more rounds reach the target in one pass).
        relax: tangential relaxation weight (0: none).
    Returns:
        ``(verts, faces, attrs, length)`` of the new mesh (``length`` per
        vertex when it was given per vertex).
    """
    if verts.dim() != 2 or verts.shape[-1] != 3:
        raise ValueError(f"verts: expected a (V, 3) tensor, found shape {tuple(verts.shape)}")
    if faces.dim() != 2 or faces.shape[-1] != 3:
        raise ValueError(f"faces: expected a (F, 3) tensor, found shape {tuple(faces.shape)}")
    if isinstance(length, torch.Tensor) and length.dim() > 0:
        if length.shape != (verts.shape[0],):
            raise ValueError(f"length: expected a number or ({verts.shape[0]},) per vertex, found shape "
                             f"{tuple(length.shape)}")
        bad = not bool((length > 0).all())
    else:
        length = float(length)
        bad = not length > 0
    if bad:
        raise ValueError("length: expected target edge lengths > 0")
    attrs = list(attrs)
    with torch.no_grad():
        verts = verts.detach()
        for _ in range(iterations):
            verts, faces, attrs, length, n = split_edges(verts, faces, length, attrs)
            if n == 0:
                break
        for _ in range(iterations):
            verts, faces, attrs, length, n = collapse_edges(verts, faces, length, attrs)
            if n == 0:
                break
        for _ in range(iterations):
            faces, n = flip_edges(verts, faces)
            if n == 0:
                break
        if relax > 0:
            verts = tangential_relax(verts, faces, weight=relax)
    return verts, faces, attrs, length


def adaptive_edge_lengths(verts: torch.Tensor, faces: torch.Tensor, length: float, min_factor: float,
                          *, tolerance: float) -> torch.Tensor:
    """Per-vertex target edge lengths: shorter where the surface curves.

    An edge of length ``l`` whose faces meet at angle ``theta`` sees curvature
    ``k = theta / l``; a chord of length ``L`` on such a curve strays ``k L^2 / 8``
    from it. Each vertex gets the ``L`` that keeps that below ``tolerance`` at
    its most curved edge, clamped to ``[min_factor * length, length]`` and
    averaged once with its neighbours (gradual size changes).

    Args:
        verts: ``(V, 3)``. faces: ``(F, 3)``. length: the longest target.
    Returns:
        ``(V,)`` target lengths.
    """
    V = verts.shape[0]
    me = MeshEdges(faces, V)
    n = _face_normals(verts, faces)
    n = n / n.norm(dim=1, keepdim=True).clamp_min(1e-30)
    e = torch.nonzero(me.interior).squeeze(1)
    cos = (n[me.edge_faces[e, 0]] * n[me.edge_faces[e, 1]]).sum(1).clamp(-1.0, 1.0)
    a, b = me.edges[e].unbind(1)
    k = torch.acos(cos) / edge_lengths(verts, me.edges[e]).clamp_min(1e-12)
    kv = torch.zeros(V, dtype=verts.dtype, device=verts.device)
    kv.scatter_reduce_(0, a, k, "amax").scatter_reduce_(0, b, k, "amax")
    target = torch.sqrt(8.0 * tolerance / kv.clamp_min(1e-12)).clamp(min_factor * length, length)
    ea, eb = me.edges.unbind(1)
    total = torch.zeros_like(target).index_add_(0, ea, target[eb]).index_add_(0, eb, target[ea])
    return 0.5 * (target + total / me.valence.clamp_min(1).to(target.dtype))
