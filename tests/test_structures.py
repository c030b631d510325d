"""Meshes / PointClouds / Voxels: views, geometry, and agreement with PyTorch3D."""

import pytest
import torch

from unrender import Meshes, PointClouds, Voxels
from unrender.geometry.primitives import cube, icosphere, torus
from unrender.structures import list_to_padded, packed_to_padded, padded_to_packed


def _batch():
    g = torch.Generator().manual_seed(0)
    a = icosphere(1)
    b = torus(1.0, 0.3, 12, 8)
    c = cube()
    verts = [m.verts_packed() + 0.01 * torch.randn(m.verts_packed().shape, generator=g) for m in (a, b, c)]
    faces = [m.faces_packed() for m in (a, b, c)]
    return Meshes(verts, faces)


def test_views_are_consistent():
    m = _batch()
    nv, nf = m.num_verts_per_mesh(), m.num_faces_per_mesh()
    assert nv.tolist() == [42, 96, 8] and nf.tolist() == [80, 192, 12]
    vp, fp = m.verts_packed(), m.faces_packed()
    assert vp.shape == (146, 3) and fp.shape == (284, 3)
    assert m.verts_padded().shape == (3, 96, 3)
    fpad = m.faces_padded()
    assert fpad.shape == (3, 192, 3) and bool((fpad[2, 12:] == -1).all())
    # Packed faces index packed verts: the triangles are the same as in the list view.
    for i, (v, f) in enumerate(zip(m.verts_list(), m.faces_list())):
        start = int(m.mesh_to_faces_packed_first_idx()[i])
        assert torch.equal(vp[fp[start:start + f.shape[0]]], v[f])
    assert m.verts_packed_to_mesh_idx().bincount().tolist() == nv.tolist()
    assert m.faces_packed_to_mesh_idx().bincount().tolist() == nf.tolist()
    # padded tensors round-trip into an equal batch
    m2 = Meshes(m.verts_padded()[:1], m.faces_padded()[:1])
    assert torch.equal(m2.faces_packed(), m.faces_list()[0])


def test_padded_packed_helpers_round_trip():
    xs = [torch.randn(n, 2) for n in (3, 0, 5)]
    pad = list_to_padded(xs, -7.0)
    assert pad.shape == (3, 5, 2) and bool((pad[1] == -7).all())
    lengths = torch.tensor([3, 0, 5])
    packed = padded_to_packed(pad, lengths)
    assert torch.equal(packed, torch.cat(xs))
    back = packed_to_padded(packed, torch.tensor([0, 3, 3]), 5)
    assert torch.equal(back[0, :3], xs[0]) and torch.equal(back[2], xs[2])


def test_cube_geometry_exact():
    m = cube(2.0)
    assert torch.allclose(m.faces_areas_packed().sum(), torch.tensor(24.0))
    n = m.faces_normals_packed()
    centroids = m.verts_packed()[m.faces_packed()].mean(1)
    assert bool(((n * centroids).sum(1) > 0).all()), "cube faces must point outward"
    vn = m.verts_normals_packed()
    # Area weighting follows the triangulation, so corners are not exactly diagonal; they point outward.
    assert torch.allclose(vn.norm(dim=1), torch.ones(8), atol=1e-6)
    assert bool(((vn * m.verts_packed()).sum(1) > 0.5).all())
    assert m.edges_packed().shape == (18, 2)


def test_offset_update_normalize_and_device():
    m = _batch()
    off = torch.full((146, 3), 0.5)
    m2 = m.offset_verts(off)
    assert torch.allclose(m2.verts_packed(), m.verts_packed() + 0.5)
    m3 = m.update_padded(m.verts_padded() * 2)
    assert torch.allclose(m3.verts_packed(), m.verts_packed() * 2)
    mn, centers, scales = m2.scale_verts(3.0).normalize()
    for v in mn.verts_list():
        assert abs(float(v.norm(dim=1).max()) - 1) < 1e-5
        assert torch.allclose((v.min(0).values + v.max(0).values) / 2, torch.zeros(3), atol=1e-5)
    assert centers.shape == (3, 3) and scales.shape == (3,)
    assert mn.to("cpu").device.type == "cpu"
    assert len(m[1:]) == 2 and m[0].num_verts_per_mesh().tolist() == [42]


def test_empty_batch_has_empty_packed_views():
    m = Meshes([], [])
    assert len(m) == 0 and m.isempty()
    assert m.verts_packed().shape == (0, 3) and m.faces_packed().shape == (0, 3)


def test_gradients_flow_through_views():
    v = icosphere(1).verts_packed().clone().requires_grad_(True)
    m = Meshes([v], [icosphere(1).faces_packed()])
    (m.faces_areas_packed().sum() + m.verts_normals_packed().sum()).backward()
    assert v.grad is not None and bool(torch.isfinite(v.grad).all())


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Meshes([torch.zeros(3, 2)], [torch.zeros(1, 3, dtype=torch.long)]), r"verts\[0\]: expected shape"),
        (lambda: Meshes([torch.zeros(3, 3)], [torch.tensor([[0, 1, 3]])]), r"faces\[0\]: face indices must lie in \[0, 2\]"),
        (lambda: Meshes([torch.zeros(3, 3)], [torch.zeros(1, 3)]), r"faces\[0\]: expected an integer tensor"),
        (lambda: Meshes([torch.full((3, 3), float("nan"))], [torch.tensor([[0, 1, 2]])]), r"verts\[0\]: expected finite"),
        (lambda: Meshes([torch.zeros(3, 3)], []), r"faces: expected one face tensor per mesh"),
        (lambda: Meshes([torch.zeros(0, 3)], [torch.zeros(0, 3, dtype=torch.long)]).normalize(), r"meshes\[0\]: cannot normalize"),
        (lambda: PointClouds([torch.zeros(4, 3)], normals=[torch.zeros(3, 3)]), r"normals\[0\]: expected shape"),
        (lambda: Voxels([torch.zeros(2, 2, 2)], bounds=torch.tensor([[1.0, 0, 0], [0, 1, 1]])), r"bounds: expected max corner"),
        (lambda: _batch().offset_verts(torch.zeros(5, 3)), r"vert_offsets_packed: expected shape \(146, 3\)"),
    ],
)
def test_bad_input_names_the_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_pointclouds_views():
    pts = [torch.randn(n, 3) for n in (10, 4)]
    cols = [torch.rand(n, 3) for n in (10, 4)]
    pc = PointClouds(pts, features=cols)
    assert pc.points_padded().shape == (2, 10, 3)
    assert pc.features_packed().shape == (14, 3)
    assert pc.num_points_per_cloud().tolist() == [10, 4]
    assert pc.packed_to_cloud_idx().tolist() == [0] * 10 + [1] * 4
    n, c, s = pc.normalize()
    assert abs(float(n.points_list()[1].norm(dim=1).max()) - 1) < 1e-5
    assert pc.get_bounding_boxes().shape == (2, 3, 2)


def test_voxels_centers_follow_the_convention():
    g = torch.zeros(2, 3, 4)  # D=2 (z), H=3 (y), W=4 (x)
    g[1, 2, 3] = 1
    vox = Voxels([g], bounds=torch.tensor([[0.0, 0.0, 0.0], [4.0, 3.0, 2.0]]))
    c = vox.voxel_centers(0)
    assert c.shape == (2, 3, 4, 3)
    assert torch.allclose(vox.occupied_centers(0), torch.tensor([[3.5, 2.5, 1.5]]))
    assert torch.allclose(vox.voxel_sizes(), torch.ones(1, 3))
    vb = Voxels([torch.ones(2, 2, 2), torch.ones(3, 1, 2)])
    assert vb.grids_padded().shape == (2, 3, 2, 2)
    assert vb.grids_packed().shape == (8 + 6,)
    assert vb.resolutions().tolist() == [[2, 2, 2], [3, 1, 2]]


# ---------------------------------------------------------------- PyTorch3D parity
p3d = pytest.importorskip("pytorch3d.structures", reason="PyTorch3D reference not installed")


def test_geometry_matches_pytorch3d():
    m = _batch()
    ref = m.to_pytorch3d()
    rel = lambda a, b: float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))  # noqa: E731
    assert torch.equal(m.faces_packed(), ref.faces_packed())
    assert torch.equal(m.faces_padded(), ref.faces_padded())
    assert torch.equal(m.verts_padded(), ref.verts_padded())
    assert rel(m.faces_areas_packed(), ref.faces_areas_packed()) < 1e-5
    assert rel(m.faces_normals_packed(), ref.faces_normals_packed()) < 1e-5
    assert rel(m.verts_normals_packed(), ref.verts_normals_packed()) < 1e-5
    assert torch.equal(m.edges_packed(), ref.edges_packed())
    assert torch.equal(m.faces_packed_to_edges_packed(), ref.faces_packed_to_edges_packed())
    assert torch.equal(m.edges_packed_to_mesh_idx(), ref.edges_packed_to_mesh_idx())
    assert torch.equal(m.num_edges_per_mesh(), ref.num_edges_per_mesh())
    assert torch.equal(m.mesh_to_verts_packed_first_idx(), ref.mesh_to_verts_packed_first_idx())
    assert torch.equal(m.get_bounding_boxes(), ref.get_bounding_boxes())
    back = Meshes.from_pytorch3d(ref)
    assert torch.equal(back.verts_packed(), m.verts_packed())


def test_pointclouds_match_pytorch3d():
    pts = [torch.randn(n, 3) for n in (7, 3)]
    nrm = [torch.nn.functional.normalize(torch.randn(n, 3), dim=1) for n in (7, 3)]
    pc = PointClouds(pts, normals=nrm)
    ref = pc.to_pytorch3d()
    assert torch.equal(pc.points_padded(), ref.points_padded())
    assert torch.equal(pc.normals_packed(), ref.normals_packed())
    assert torch.equal(pc.get_bounding_boxes(), ref.get_bounding_boxes())
    assert torch.equal(PointClouds.from_pytorch3d(ref).points_packed(), pc.points_packed())


def test_voxels_match_pytorch3d_volumes():
    bounds = torch.tensor([[[0.0, 0, 0], [5, 4, 3]], [[-1.0, -2, -3], [1, 2, 3]]])
    vox = Voxels([torch.rand(3, 4, 5), torch.rand(3, 4, 5)], bounds=bounds)
    ref = vox.to_pytorch3d()
    coords = ref.get_coord_grid(world_coordinates=True)
    for i in range(2):
        assert torch.allclose(coords[i], vox.voxel_centers(i), atol=1e-6)
    back = Voxels.from_pytorch3d(ref)
    assert torch.allclose(back.bounds(), bounds, atol=1e-5)
    assert torch.equal(back.grids_packed(), vox.grids_packed())
