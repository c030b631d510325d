"""Remeshing (split, collapse, flip, relax), surface topology and enclosing surfaces."""

import pytest
import torch

from unrender.geometry import icosphere_verts_faces, sample_points_from_meshes, torus
from unrender.geometry.enclose import enclosing_surface
from unrender.geometry.remesh import (
    MeshEdges,
    adaptive_edge_lengths,
    collapse_edges,
    edge_lengths,
    flip_edges,
    remesh,
    split_edges,
)
from unrender.geometry.surface_topology import connected_components, surface_topology
from unrender.structures import Meshes, PointClouds


def _closed_oriented(verts, faces) -> bool:
    """Every directed edge appears once and its reverse once: closed, manifold, consistently oriented."""
    d = faces[:, [[0, 1], [1, 2], [2, 0]]].reshape(-1, 2)
    V = verts.shape[0]
    fwd = torch.unique(d[:, 0] * V + d[:, 1])
    rev = torch.unique(d[:, 1] * V + d[:, 0])
    return fwd.shape[0] == d.shape[0] and torch.equal(fwd, rev)


def _outward(verts, faces) -> bool:
    """Signed volume > 0: faces wind outward."""
    v0, v1, v2 = verts[faces].unbind(1)
    return float((v0 * torch.cross(v1, v2, dim=1)).sum()) > 0


@pytest.fixture
def sphere():
    return icosphere_verts_faces(2, dtype=torch.float64)


def test_split_halves_long_edges_and_keeps_the_surface(sphere):
    v, f = sphere
    v2, f2, (colour,), _, n = split_edges(v, f, 0.15, [v.clone()])
    assert n == MeshEdges(f, v.shape[0]).edges.shape[0]  # every edge (~0.3) is longer than 4/3 * 0.15
    assert f2.shape[0] == 4 * f.shape[0]
    assert _closed_oriented(v2, f2) and _outward(v2, f2)
    # New vertices are edge midpoints, and attributes follow them.
    assert torch.allclose(colour, v2)


def test_collapse_keeps_a_closed_oriented_genus0_surface(sphere):
    v, f = icosphere_verts_faces(4, dtype=torch.float64)
    v2, f2, _, _, n = collapse_edges(v, f, 0.2)
    assert n > 0 and f2.shape[0] == f.shape[0] - 2 * n  # each collapse removes two faces
    assert _closed_oriented(v2, f2) and _outward(v2, f2)
    assert surface_topology(v2, f2).is_sphere


def test_flip_evens_out_valences():
    v, f = icosphere_verts_faces(3, dtype=torch.float64)
    v = v + 0.01 * torch.randn(v.shape, generator=torch.Generator().manual_seed(0), dtype=v.dtype)
    # Collapses leave uneven valences; flips bring them back towards 6.
    v, f, _, _, _ = collapse_edges(v, f, 0.2)
    before = (MeshEdges(f, v.shape[0]).valence - 6).abs().sum()
    f2, n = flip_edges(v, f)
    after = (MeshEdges(f2, v.shape[0]).valence - 6).abs().sum()
    assert n > 0 and after < before
    assert _closed_oriented(v, f2) and _outward(v, f2)


@pytest.mark.parametrize("length", [0.05, 0.12, 0.4])
def test_remesh_reaches_the_target_length_on_a_sphere(sphere, length):
    v, f = sphere
    for _ in range(8):
        v, f, _, _ = remesh(v, f, length)
        v = v / v.norm(dim=1, keepdim=True)  # stay on the sphere, as a fit would
    lengths = edge_lengths(v, MeshEdges(f, v.shape[0]).edges)
    assert abs(float(lengths.mean()) / length - 1) < 0.2, float(lengths.mean())
    assert float(torch.quantile(lengths, 0.95)) <= 4 / 3 * length * 1.05
    assert float(lengths.max()) <= 2 * length
    assert surface_topology(v, f).is_sphere and _outward(v, f)


def test_remesh_per_vertex_lengths_are_adaptive(sphere):
    v, f = sphere
    length = torch.where(v[:, 2] > 0, 0.06, 0.2).to(v.dtype)  # fine on the top half
    for _ in range(6):
        v, f, _, length = remesh(v, f, length)
        v = v / v.norm(dim=1, keepdim=True)
    top = (v[f].mean(1)[:, 2] > 0.2).sum()
    bottom = (v[f].mean(1)[:, 2] < -0.2).sum()
    assert top > 4 * bottom


def test_adaptive_lengths_are_shorter_where_the_surface_curves():
    mesh = torus(major_radius=1.0, minor_radius=0.15)
    v, f = mesh.verts_list()[0].double(), mesh.faces_list()[0]
    flat = icosphere_verts_faces(4, dtype=torch.float64)
    curved = adaptive_edge_lengths(v, f, 0.1, 0.3, tolerance=0.002)
    round_ = adaptive_edge_lengths(flat[0] * 5.0, flat[1], 0.1, 0.3, tolerance=0.002)
    assert float(curved.mean()) < 0.85 * float(round_.mean())
    assert float(curved.min()) >= 0.03 - 1e-9 and float(round_.max()) <= 0.1 + 1e-9


def test_remesh_rejects_bad_input(sphere):
    v, f = sphere
    with pytest.raises(ValueError, match="length"):
        remesh(v, f, 0.0)
    with pytest.raises(ValueError, match="length"):
        remesh(v, f, torch.ones(3))
    with pytest.raises(ValueError, match="faces"):
        remesh(v, f[:, :2], 0.1)


def test_surface_topology_counts_parts_holes_and_genus():
    v, f = icosphere_verts_faces(2)
    assert surface_topology(v, f).is_sphere
    t = torus()
    assert surface_topology(t.verts_list()[0], t.faces_list()[0]).genus == (1,)
    open_ = surface_topology(v, f[3:])
    assert open_.boundary_loops == (1,) and not open_.closed and not open_.is_sphere
    two = surface_topology(torch.cat([v, v + 3]), torch.cat([f, f + v.shape[0]]))
    assert two.components == 2 and not two.is_sphere
    # Vertices split at a seam (same position, two indices) are welded first.
    seam = torch.cat([v, v[:1]])
    f_seam = f.clone()
    f_seam[f_seam == 0] = v.shape[0]
    assert surface_topology(seam, f_seam).is_sphere


def test_connected_components_of_a_long_chain():
    n = 10_000
    edges = torch.stack([torch.arange(n - 1), torch.arange(1, n)], 1)
    labels = connected_components(torch.cat([edges, edges + n]), 2 * n)
    assert torch.unique(labels).tolist() == [0, n]


def test_enclosing_surface_of_a_torus_and_its_points_is_a_torus():
    t = torus().normalize()[0]
    for target in (t, PointClouds([sample_points_from_meshes(t, 30_000)[0]])):
        v, f = enclosing_surface(target, 40)
        assert surface_topology(v, f).genus == (1,) and _outward(v, f)
        # Close to the surface: within a cell (2.1 / 40) of it.
        from unrender.metrics import mesh_f1

        assert float(mesh_f1(Meshes([v], [f]), t, thresholds=(0.06,), num_samples=20_000)["f1@0.06"]) > 0.97


def test_enclosing_surface_of_an_open_mesh_is_closed_and_solid():
    # A sphere with a large hole: the samples leak, the winding number plugs the hole.
    v, f = icosphere_verts_faces(3)
    keep = v[f].mean(1)[:, 2] < 0.6
    sv, sf = enclosing_surface(Meshes([v], [f[keep]]), 40)
    topo = surface_topology(sv, sf)
    assert topo.is_sphere, topo
    # A solid ball cut flat at the hole (winding number 1/2 there), not a double-walled shell.
    r = sv.norm(dim=1)
    assert float(r.min()) > 0.55 and float(r.max()) < 1.05


def test_enclosing_surface_rejects_bad_input():
    with pytest.raises(ValueError, match="resolution"):
        enclosing_surface(torus(), 4)
    with pytest.raises(ValueError, match="target"):
        enclosing_surface(torch.zeros(5, 3), 32)
