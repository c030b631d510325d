"""cubify: PyTorch3D parity, closed surfaces, volumes, world-space Voxels."""

import pytest
import torch

from unrender import Meshes, Voxels
from unrender.geometry.cubify import cubify


def signed_volume(v, f):
    a, b, c = v.double()[f].unbind(1)
    return float((a * torch.linalg.cross(b, c)).sum() / 6)


def edge_counts(f):
    e = torch.cat([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]).sort(1).values
    return torch.unique(e, dim=0, return_counts=True)[1]


def triangle_set(v, f):
    tri = torch.round(v[f].double() * 1e5) / 1e5
    return {tuple(sorted(map(tuple, t.tolist()))) for t in tri}


def random_grid(shape, density, seed):
    g = torch.Generator().manual_seed(seed)
    occupied = torch.rand(shape, generator=g) < density
    return (torch.rand(shape, generator=g) + occupied.float()) / 2  # >= 0.5 exactly where occupied


@pytest.mark.pytorch3d
@pytest.mark.parametrize("align", ["topleft", "corner", "center"])
@pytest.mark.parametrize(
    "shape, density",
    [((1, 4, 4, 4), 0.5), ((3, 5, 7, 9), 0.15), ((2, 9, 6, 4), 0.5), ((2, 6, 5, 7), 0.85), ((1, 2, 3, 2), 1.0)],
)
def test_matches_pytorch3d(shape, density, align):
    p3d_cubify = pytest.importorskip("pytorch3d.ops").cubify
    vox = random_grid(shape, density, seed=sum(shape))
    ours = cubify(vox, 0.5, align)
    ref = p3d_cubify(vox, 0.5, align=align)
    assert len(ours) == len(ref) == shape[0]
    for v, f, rv, rf in zip(ours.verts_list(), ours.faces_list(), ref.verts_list(), ref.faces_list()):
        # Same vertices in the same order, same faces (diagonals, winding, order).
        assert torch.equal(v, rv)
        assert torch.equal(f, rf)
        assert triangle_set(v, f) == triangle_set(rv, rf)


@pytest.mark.pytorch3d
def test_matches_pytorch3d_on_empty_and_full():
    p3d_cubify = pytest.importorskip("pytorch3d.ops").cubify
    vox = torch.stack([torch.zeros(3, 4, 5), torch.ones(3, 4, 5)])
    ours, ref = cubify(vox, 0.5), p3d_cubify(vox, 0.5)
    assert ours.num_faces_per_mesh().tolist() == ref.num_faces_per_mesh().tolist() == [0, 2 * 2 * (12 + 20 + 15)]
    assert torch.equal(ours.verts_list()[1], ref.verts_list()[1])
    assert torch.equal(ours.faces_list()[1], ref.faces_list()[1])


def _ball(n, radius):
    c = torch.arange(n, dtype=torch.float32) - (n - 1) / 2
    z, y, x = torch.meshgrid(c, c, c, indexing="ij")
    return ((x**2 + y**2 + z**2) <= radius**2).float()


@pytest.mark.parametrize("solid", ["box", "ball"])
def test_solids_are_closed_manifolds_with_voxel_volume(solid):
    grid = torch.zeros(9, 10, 11)
    if solid == "box":
        grid[2:7, 1:9, 3:10] = 1
    else:
        grid[:9, :9, 1:10] = _ball(9, 3.6)
    m = cubify(grid[None], 0.5, "corner")
    v, f = m.verts_packed(), m.faces_packed()
    counts = edge_counts(f)
    assert bool((counts == 2).all())  # watertight, manifold
    assert v.shape[0] - counts.numel() + f.shape[0] == 2  # sphere topology
    voxel_volume = (2 / 11) * (2 / 10) * (2 / 9)
    assert signed_volume(v, f) == pytest.approx(float(grid.sum()) * voxel_volume, rel=1e-5)
    assert torch.unique(f).numel() == v.shape[0]  # no unused vertex
    if solid == "box":  # 6 sides of 2 triangles per boundary square
        assert f.shape[0] == 2 * 2 * (5 * 8 + 5 * 7 + 8 * 7)


@pytest.mark.parametrize("density", [0.2, 0.5, 0.8])
def test_random_grid_volume_and_no_inner_faces(density):
    vox = random_grid((2, 7, 8, 9), density, seed=3)
    occ = vox >= 0.5
    m = cubify(vox, 0.5, "corner")
    voxel_volume = (2 / 9) * (2 / 8) * (2 / 7)
    for b, (v, f) in enumerate(zip(m.verts_list(), m.faces_list())):
        # divergence theorem: outward faces enclose exactly the occupied cells
        assert signed_volume(v, f) == pytest.approx(float(occ[b].sum()) * voxel_volume, rel=1e-5)
        # every boundary square appears once: count occupied/empty (or grid-border) face pairs
        p = torch.nn.functional.pad(occ[b].to(torch.int8), (1, 1, 1, 1, 1, 1))
        quads = sum(int((p.diff(dim=d) != 0).sum()) for d in range(3))
        assert f.shape[0] == 2 * quads
        # edges: shared by an even number of faces (2, or 4 where voxels touch along an edge)
        assert bool((edge_counts(f) % 2 == 0).all())


def test_voxels_input_gives_world_coordinates():
    grid = torch.zeros(4, 5, 6)
    grid[1:3, 2:4, 0:6] = 1
    box = torch.tensor([[1.0, -2.0, 0.0], [4.0, 3.0, 8.0]])  # voxel size (0.5, 1, 2)
    m = cubify(Voxels(grid[None], box))
    v = m.verts_packed()
    assert torch.allclose(v.min(0).values, torch.tensor([1.0, 0.0, 2.0]))
    assert torch.allclose(v.max(0).values, torch.tensor([4.0, 2.0, 6.0]))
    assert signed_volume(v, m.faces_packed()) == pytest.approx(24 * 0.5 * 1 * 2, rel=1e-6)
    # the default Voxels box [-1, 1]^3 is align="corner"
    a, b = cubify(Voxels(grid[None])), cubify(grid[None], 0.5, "corner")
    assert torch.allclose(a.verts_packed(), b.verts_packed()) and torch.equal(a.faces_packed(), b.faces_packed())


def test_voxels_with_mixed_resolutions_and_bool_input():
    a, b = torch.ones(2, 2, 2), torch.zeros(3, 4, 5)
    b[1, 1, 1] = 1
    m = cubify(Voxels([a, b]))
    assert m.num_faces_per_mesh().tolist() == [48, 12]
    assert m.num_verts_per_mesh().tolist() == [26, 8]
    mb = cubify(b.bool(), align="corner")
    assert mb.num_faces_per_mesh().tolist() == [12]


def test_threshold_is_inclusive_and_empty_grids():
    vox = torch.full((1, 3, 3, 3), 0.5)
    assert cubify(vox, 0.5).num_faces_per_mesh().tolist() == [2 * 6 * 9]
    empty = cubify(vox, 0.6)
    assert isinstance(empty, Meshes) and empty.isempty() and empty.faces_list()[0].shape == (0, 3)
    assert len(cubify(torch.zeros(0, 3, 3, 3))) == 0


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: cubify(torch.zeros(1, 1, 3, 3, 3)), r"^voxels: expected shape"),
        (lambda: cubify([[[[1.0]]]]), r"^voxels: expected"),
        (lambda: cubify(torch.full((1, 2, 2, 2), float("nan"))), r"^voxels: expected finite"),
        (lambda: cubify(torch.ones(1, 1, 3, 3)), r"^voxels: expected D, H, W >= 2"),
        (lambda: cubify(torch.ones(1, 0, 3, 3), align="corner"), r"^voxels: expected D, H, W >= 1"),
        (lambda: cubify(torch.ones(1, 2, 2, 2), align="middle"), r"^align"),
        (lambda: cubify(torch.ones(1, 2, 2, 2), thresh=float("nan")), r"^thresh"),
        (lambda: cubify(torch.ones(1, 2, 2, 2), thresh="half"), r"^thresh"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
