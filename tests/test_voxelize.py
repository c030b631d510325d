"""mesh_to_voxels (ray parity, winding) and points_inside_mesh."""

import math

import pytest
import torch

from unrender import Meshes
from unrender.geometry.cubify import cubify
from unrender.geometry.marching_cubes import marching_cubes
from unrender.geometry.primitives import cube, icosphere, torus, torus_sdf
from unrender.geometry.shapes import TARGET_SHAPES, target_shape
from unrender.geometry.voxelize import closed_surface, mesh_to_voxels, points_inside_mesh, winding_number

CUBE = [[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]]


def iou(a, b):
    return float((a & b).sum()) / float((a | b).sum())


def test_cube_on_voxel_boundaries_is_exact():
    # Faces at +-0.5 lie on cell boundaries of a 16^3 grid over [-1, 1]^3, and
    # each face's diagonal runs exactly through column centres (i, i).
    v = mesh_to_voxels(cube(1.0), 16, CUBE)
    g = v.grids_list()[0]
    expected = torch.zeros(16, 16, 16)
    expected[4:12, 4:12, 4:12] = 1
    assert torch.equal(g, expected)
    assert torch.equal(v.bounds()[0], torch.tensor(CUBE))


def test_cube_through_voxel_centres_counts_each_ray_once():
    # Shifted by half a voxel: faces, edges and corners all pass through voxel
    # centres. Ties go one way consistently: the result is a solid 8^3 block.
    h = 1 / 16
    box = [[-1 - h, -1 - h, -1 - h], [1 - h, 1 - h, 1 - h]]
    c = cube(1.0)
    flipped = Meshes([c.verts_packed()], [c.faces_packed().flip(1)])  # inward faces: parity ignores winding
    unwelded = Meshes([c.verts_packed()[c.faces_packed()].reshape(-1, 3)], [torch.arange(36).reshape(12, 3)])
    for mesh in (c, flipped, unwelded):
        g = mesh_to_voxels(mesh, 16, box).grids_list()[0]
        nz = g.nonzero()
        lo, hi = nz.min(0).values, nz.max(0).values
        assert g.sum() == 512 and torch.equal(hi - lo, torch.tensor([7, 7, 7]))
        assert bool((g[lo[0] : hi[0] + 1, lo[1] : hi[1] + 1, lo[2] : hi[2] + 1] == 1).all())


def test_icosphere_matches_ball_and_default_bounds():
    v = mesh_to_voxels(icosphere(3), 32)
    g = v.grids_list()[0] > 0.5
    ball = v.voxel_centers(0).norm(dim=-1) < 1.0
    assert iou(g, ball) >= 0.97
    # default box: centred, cubic voxels, one empty voxel on every side
    assert torch.allclose(v.bounds()[0], torch.tensor(CUBE) * 32 / 30, atol=1e-6)
    for axis in range(3):
        assert not g.select(axis, 0).any() and not g.select(axis, 31).any()
        assert g.select(axis, 1).any()


def test_parity_agrees_with_winding_number_with_ties():
    # 19 cells of 1/8 over [-1.1875, 1.1875]: the central column x = y = 0 passes
    # exactly through the pole vertices (0, 0, +-0.95) and along the many edges
    # lying in the planes x = 0 and y = 0 (all exact in floating point).
    m = icosphere(1)
    m = Meshes([m.verts_packed() * 0.95], [m.faces_packed()])
    box = [[-1.1875] * 3, [1.1875] * 3]
    a = mesh_to_voxels(m, 19, box)
    b = mesh_to_voxels(m, 19, box, method="winding")
    assert torch.equal(a.grids_list()[0], b.grids_list()[0])
    assert a.grids_list()[0][:, 9, 9].tolist() == [0.0] * 2 + [1.0] * 15 + [0.0] * 2


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_parity_with_snapped_vertices_matches_shifted_winding(seed):
    # Vertices snapped to half-voxel positions put many rays exactly through
    # vertices and along edges. Parity equals the winding number at voxel
    # centres nudged by the documented tie-break: (-e^2, e) in xy, then +z.
    g = torch.Generator().manual_seed(seed)
    m = icosphere(2) if seed % 2 == 0 else torus(1.0, 0.4, 16, 8)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
    v = m.verts_packed().double() @ q.T * 4 + 6 + torch.rand(3, generator=g, dtype=torch.float64)
    v = (v * 2).round() / 2 if seed < 2 else v.round()
    mesh = Meshes([v], [m.faces_packed()])
    vox = mesh_to_voxels(mesh, 13, [[-0.5] * 3, [12.5] * 3])  # voxel centres at integers
    centres = vox.voxel_centers(0).double().reshape(-1, 3)
    w = winding_number(mesh, centres + torch.tensor([-1e-11, 1e-8, 1e-5], dtype=torch.float64))
    assert torch.equal(vox.grids_list()[0].reshape(-1) > 0.5, w > 0.5)
    # points_inside_mesh answers points on vertices, edges and faces by the same rule
    assert torch.equal(points_inside_mesh(mesh, centres), w > 0.5)


def test_torus_genus_one():
    v = mesh_to_voxels(torus(1.0, 0.35, 64, 32), (24, 40, 40), [[-1.5, -1.5, -0.45], [1.5, 1.5, 0.45]])
    g = v.grids_list()[0] > 0.5
    gt = torus_sdf(v.voxel_centers(0), 1.0, 0.35) < 0
    assert iou(g, gt) >= 0.95
    assert not g[:, 18:22, 18:22].any()  # the hole stays empty


def test_anisotropic_resolution_and_batch():
    meshes = Meshes(
        [icosphere(2).verts_packed() * 0.5 + torch.tensor([0.2, 0.0, -0.1]), cube(1.0).verts_packed()],
        [icosphere(2).faces_packed(), cube(1.0).faces_packed()],
    )
    v = mesh_to_voxels(meshes, (10, 20, 30))
    assert len(v) == 2 and v.resolutions().tolist() == [[10, 20, 30]] * 2
    sizes = v.voxel_sizes()
    assert torch.allclose(sizes, sizes[:, :1].expand(2, 3))  # cubic voxels
    for b in range(2):
        c = v.occupied_centers(b)
        lo, hi = meshes.verts_list()[b].min(0).values, meshes.verts_list()[b].max(0).values
        assert bool((c >= lo).all() & (c <= hi).all())
    v2 = mesh_to_voxels(meshes, (10, 20, 30), torch.tensor([CUBE, CUBE]))
    assert torch.equal(v2.bounds(), torch.tensor([CUBE, CUBE]))


def test_round_trips_through_cubify_and_marching_cubes():
    v = mesh_to_voxels(icosphere(3), 24)
    n = float(v.grids_list()[0].sum())
    cell = float(v.voxel_sizes()[0].prod())
    m = cubify(v)
    a, b, c = m.verts_packed().double()[m.faces_packed()].unbind(1)
    assert float((a * torch.linalg.cross(b, c)).sum() / 6) == pytest.approx(n * cell, rel=1e-5)
    assert n * cell == pytest.approx(4 / 3 * math.pi, rel=0.05)
    mc = marching_cubes(v)
    a, b, c = mc.verts_packed().double()[mc.faces_packed()].unbind(1)
    assert float((a * torch.linalg.cross(b, c)).sum() / 6) == pytest.approx(4 / 3 * math.pi, rel=0.08)


def test_points_inside_mesh_and_winding_number():
    g = torch.Generator().manual_seed(0)
    pts = torch.rand(1000, 3, generator=g) * 3 - 1.5
    r = pts.norm(dim=1)
    far = (r - 1).abs() > 0.05  # icosphere(2) lies within 0.02 of the unit sphere
    m = icosphere(2)
    inside = points_inside_mesh(m, pts)
    assert inside.shape == (1000,) and inside.dtype == torch.bool
    assert torch.equal(inside[far], (r < 1)[far])
    w = winding_number(m, pts[far], chunk=5000)
    assert torch.allclose(w, (r[far] < 1).double(), atol=1e-6)
    # batches: shared points -> (B, N); per-mesh points -> (B, N)
    two = Meshes([m.verts_packed(), m.verts_packed() * 0.5], [m.faces_packed()] * 2)
    both = points_inside_mesh(two, pts[:50])
    assert both.shape == (2, 50) and torch.equal(both[0], inside[:50])
    assert points_inside_mesh(two, torch.stack([pts[:50], pts[:50]])).shape == (2, 50)
    # inward-facing faces flip the winding number
    flipped = Meshes([m.verts_packed()], [m.faces_packed().flip(1)])
    assert float(winding_number(flipped, torch.zeros(1, 3))) == pytest.approx(-1.0)


def _near_and_far_points(mesh, n, generator):
    """Uniform points in a box around the mesh, and points 1e-3 .. 1e-9 off its surface."""
    v = mesh.verts_packed().double()
    lo, hi = v.min(0).values, v.max(0).values
    far = lo - 0.2 + (hi - lo + 0.4) * torch.rand(n, 3, generator=generator, dtype=torch.float64)
    a, b, c = v[mesh.faces_packed()[torch.randint(mesh.faces_packed().shape[0], (n,), generator=generator)]].unbind(1)
    u = torch.rand(n, 2, generator=generator, dtype=torch.float64)
    u = torch.where(u.sum(1, keepdim=True) > 1, 1 - u, u)
    on = a + u[:, :1] * (b - a) + u[:, 1:] * (c - a)
    off = 10.0 ** -torch.randint(3, 10, (n, 1), generator=generator) * torch.randn(n, 3, generator=generator, dtype=torch.float64)
    return torch.cat([far, on + off])


def _closed_meshes():
    ring = torus(1.0, 0.4, 24, 12)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(5)))
    rotated = Meshes([ring.verts_packed() @ q.T], [ring.faces_packed()])
    # self-intersecting but closed: two overlapping spheres in one mesh (winding number 2 where they overlap)
    s = icosphere(2)
    pair = Meshes([torch.cat([s.verts_packed() - 0.4, s.verts_packed() + 0.4])], [torch.cat([s.faces_packed(), s.faces_packed() + 162])])
    return [icosphere(3), cube(1.0), ring, rotated, pair] + [target_shape(name, 2) for name in sorted(TARGET_SHAPES)]


@pytest.mark.parametrize("index", range(8))
def test_points_inside_closed_mesh_match_the_winding_number(index):
    mesh = _closed_meshes()[index]
    pts = _near_and_far_points(mesh, 800, torch.Generator().manual_seed(index))
    inside = points_inside_mesh(mesh, pts)
    assert inside.dtype == torch.bool and inside.shape == (1600,)
    assert torch.equal(inside, winding_number(mesh, pts) > 0.5)
    assert 0 < int(inside.sum()) < 1600
    # float32 points and the chunking do not change the answer
    assert torch.equal(points_inside_mesh(mesh, pts[:300], chunk=7), inside[:300])
    assert torch.equal(points_inside_mesh(mesh, pts[:300].float()), winding_number(mesh, pts[:300].float()) > 0.5)


def test_points_on_cube_faces_fill_half_open_box():
    # Points on a lattice through the faces, edges and corners of [-0.5, 0.5]^3:
    # inside exactly when -0.5 < x <= 0.5, -0.5 <= y < 0.5, -0.5 <= z < 0.5.
    axis = torch.linspace(-1, 1, 9)
    pts = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    x, y, z = pts.unbind(1)
    expected = (x > -0.5) & (x <= 0.5) & (y >= -0.5) & (y < 0.5) & (z >= -0.5) & (z < 0.5)
    c = cube(1.0)
    unwelded = Meshes([c.verts_packed()[c.faces_packed()].reshape(-1, 3)], [torch.arange(36).reshape(12, 3)])
    for mesh in (c, unwelded):
        assert torch.equal(points_inside_mesh(mesh, pts), expected)
    flipped = Meshes([c.verts_packed()], [c.faces_packed().flip(1)])  # inward faces: all outside
    assert not points_inside_mesh(flipped, pts).any()


def test_open_and_inconsistent_meshes_keep_the_winding_number():
    g = torch.Generator().manual_seed(0)
    s = icosphere(2)
    v, f = s.verts_packed(), s.faces_packed()
    bowl = Meshes([v], [f[v[f].mean(1)[:, 2] < 0.3]])  # a hole at the top
    swapped = Meshes([v], [torch.cat([f[:1].flip(1), f[1:]])])  # one face inward
    pts = torch.rand(1000, 3, generator=g) * 2.4 - 1.2
    for mesh in (bowl, swapped):
        w = winding_number(mesh, pts)
        assert bool(((w > 0.05) & (w < 0.95)).any())  # fractional winding numbers
        assert torch.equal(points_inside_mesh(mesh, pts), w > 0.5)


def test_points_inside_batches_empty_inputs_and_far_points():
    s, c = icosphere(2), cube(1.0)
    s_open = Meshes([s.verts_packed()], [s.faces_packed()[1:]])
    meshes = Meshes([s.verts_packed(), c.verts_packed(), s_open.verts_packed()],
                    [s.faces_packed(), c.faces_packed(), s_open.faces_packed()])
    pts = torch.rand(3, 400, 3, generator=torch.Generator().manual_seed(1)) * 2.4 - 1.2
    each = [points_inside_mesh(meshes[b], pts[b]) for b in range(3)]
    assert torch.equal(points_inside_mesh(meshes, pts), torch.stack(each))
    shared = points_inside_mesh(meshes, pts[0])
    assert shared.shape == (3, 400) and torch.equal(shared[0], each[0])
    assert points_inside_mesh(s, torch.zeros(0, 3)).shape == (0,)
    assert points_inside_mesh(meshes, torch.zeros(0, 3)).shape == (3, 0)
    far = torch.tensor([[1e30, 0.0, 0.0], [0.0, -1e30, 0.0], [0.0, 0.0, -1e30], [0.0, 0.0, 1e30]])
    assert not points_inside_mesh(s, far).any()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_points_inside_mesh_on_cuda():
    mesh = target_shape("bumpy-ellipsoid", 3)
    pts = _near_and_far_points(mesh, 2000, torch.Generator().manual_seed(0))
    expected = points_inside_mesh(mesh, pts)
    got = points_inside_mesh(mesh.to("cuda"), pts.cuda())
    assert got.is_cuda and torch.equal(got.cpu(), expected)
    vox = mesh_to_voxels(mesh.to("cuda"), 24, method="winding")
    assert torch.equal(vox.grids_list()[0].cpu(), mesh_to_voxels(mesh, 24, method="winding").grids_list()[0])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: mesh_to_voxels("mesh", 8), r"^meshes: expected a Meshes"),
        (lambda: mesh_to_voxels(Meshes([torch.zeros(0, 3)], [torch.zeros(0, 3, dtype=torch.long)]), 8), r"^meshes: .*0 faces"),
        (lambda: mesh_to_voxels(Meshes([], []), 8), r"^meshes: expected at least one mesh"),
        (lambda: mesh_to_voxels(cube(), 0), r"^resolution: expected every entry >= 1"),
        (lambda: mesh_to_voxels(cube(), (4, 4)), r"^resolution"),
        (lambda: mesh_to_voxels(cube(), 2.5), r"^resolution"),
        (lambda: mesh_to_voxels(cube(), 8, [[1.0, 1, 1], [-1.0, -1, -1]]), r"^bounds: .*inverted"),
        (lambda: mesh_to_voxels(cube(), 8, [[0.0, 0, 0], [1.0, float("nan"), 1]]), r"^bounds: expected finite"),
        (lambda: mesh_to_voxels(cube(), 8, torch.zeros(2, 2)), r"^bounds: expected shape"),
        (lambda: mesh_to_voxels(cube(), 8, method="raycast"), r"^method"),
        (lambda: mesh_to_voxels(Meshes([torch.zeros(3, 3)], [torch.tensor([[0, 1, 2]])]), 8), r"^meshes: .*extent"),
        (lambda: points_inside_mesh(cube(), torch.zeros(5, 2)), r"^points: expected shape"),
        (lambda: points_inside_mesh(cube(), torch.zeros(5, 3, dtype=torch.long)), r"^points: expected a floating"),
        (lambda: points_inside_mesh(cube(), torch.full((5, 3), float("nan"))), r"^points: expected finite"),
        (lambda: points_inside_mesh(cube(), torch.zeros(2, 5, 3)), r"^points: expected shape \(N, 3\) or \(1, N, 3\)"),
        (lambda: winding_number(cube(), torch.zeros(5, 3), chunk=0), r"^chunk"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def _open_ball(level=3, cut=0.85):
    """An icosphere with the cap ``z > cut`` removed: a bowl whose hole is ~8 % of its height."""
    s = icosphere(level)
    v, f = s.verts_packed(), s.faces_packed()
    return Meshes([v], [f[v[f].mean(1)[:, 2] < cut]])


def test_default_voxelisation_of_an_open_mesh_stays_inside():
    bowl = _open_ball()
    box = [[-1.2] * 3, [1.2] * 3]
    vox = mesh_to_voxels(bowl, 24, box)  # default: generalized winding number
    g = vox.grids_list()[0] > 0.5
    r = vox.voxel_centers(0).norm(dim=-1)
    assert not g[r > 1.02].any()  # nothing outside the ball
    assert iou(g, r < 1.0) >= 0.9  # the hole is bridged, the ball is solid
    leaked = mesh_to_voxels(bowl, 24, box, method="parity").grids_list()[0] > 0.5
    assert leaked[r > 1.02].any()  # parity fills the columns through the hole below the bowl
    # either orientation fills the same cells; the answer is the exact winding number's
    flipped = Meshes(bowl.verts_list(), [bowl.faces_packed().flip(1)])
    assert torch.equal(mesh_to_voxels(flipped, 24, box).grids_list()[0] > 0.5, g)
    pick = torch.randperm(24**3, generator=torch.Generator().manual_seed(0))[:1500]
    exact = winding_number(bowl, vox.voxel_centers(0).reshape(-1, 3)[pick]).abs() > 0.5
    assert torch.equal(g.reshape(-1)[pick], exact)


def test_open_target_shape_matches_the_exact_winding_number():
    m = target_shape("bumpy-ellipsoid", 3)
    v, f = m.verts_packed(), m.faces_packed()
    c = v[f].mean(1)
    mesh = Meshes([v], [f[(c[:, 0] < 0.6) | (c[:, 1].abs() > 0.3)]])  # a slot cut out of one side
    pts = _near_and_far_points(mesh, 1500, torch.Generator().manual_seed(3))
    w = winding_number(mesh, pts)
    assert bool(((w > 0.2) & (w < 0.8)).any())  # the slot matters
    assert torch.equal(points_inside_mesh(mesh, pts), w > 0.5)


def test_closed_surface():
    s = icosphere(2)
    assert closed_surface(s.verts_packed(), s.faces_packed())
    assert not closed_surface(s.verts_packed(), s.faces_packed()[1:])
    assert not closed_surface(s.verts_packed(), torch.cat([s.faces_packed()[:1].flip(1), s.faces_packed()[1:]]))
