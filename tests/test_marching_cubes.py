"""Marching cubes on voxel grids and implicit functions: placement, orientation, cleaning."""

import math

import pytest
import torch

from unrender import Meshes, Voxels
from unrender.geometry.marching_cubes import marching_cubes, marching_cubes_implicit
from unrender.geometry.primitives import sphere_sdf, torus_sdf

CUBE = [[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]]


def signed_volume(v, f):
    a, b, c = v.double()[f].unbind(1)
    return float((a * torch.linalg.cross(b, c)).sum() / 6)


def edge_counts(f):
    e = torch.cat([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]).sort(1).values
    return torch.unique(e, dim=0, return_counts=True)[1]


def face_normals(v, f):
    a, b, c = v.double()[f].unbind(1)
    return torch.linalg.cross(b - a, c - a)


# ------------------------------------------------------------------ implicit
@pytest.mark.parametrize("inside", ["negative", "positive"])
def test_sphere_sdf_radius_volume_and_orientation(inside):
    n = 48
    sign = 1.0 if inside == "negative" else -1.0  # occupancy-like field: 0.7 - |p|
    m = marching_cubes_implicit(lambda p: sign * sphere_sdf(p, 0.7), CUBE, n, inside=inside)
    v, f = m.verts_packed(), m.faces_packed()
    step = 2.0 / (n - 1)
    assert v.dtype == torch.float32 and f.dtype == torch.int64
    assert (v.norm(dim=1) - 0.7).abs().max() < 0.5 * step  # world-space, on the sphere
    vol = signed_volume(v, f)
    assert vol > 0 and vol == pytest.approx(4 / 3 * math.pi * 0.7**3, rel=0.01)
    centroid_dir = v[f].double().mean(1)
    centroid_dir = centroid_dir / centroid_dir.norm(dim=1, keepdim=True)
    n_hat = torch.nn.functional.normalize(face_normals(v, f), dim=1)
    assert float((n_hat * centroid_dir).sum(1).mean()) > 0.99
    assert bool((edge_counts(f) == 2).all())  # closed surface


def test_torus_sdf_is_closed_genus_one_and_outward():
    R, r = 0.6, 0.25
    m = marching_cubes_implicit(lambda p: torus_sdf(p, R, r), CUBE, (40, 52, 56))
    v, f = m.verts_packed(), m.faces_packed()
    assert signed_volume(v, f) == pytest.approx(2 * math.pi**2 * R * r**2, rel=0.02)
    counts = edge_counts(f)
    assert bool((counts == 2).all())
    assert v.shape[0] - counts.numel() + f.shape[0] == 0  # Euler characteristic of a torus


def test_off_centre_anisotropic_bounds():
    centre = torch.tensor([0.3, -0.2, 0.5])
    box = [[-0.2, -0.7, 0.05], [0.8, 0.3, 0.95]]
    res = (30, 41, 55)  # samples along z, y, x
    m = marching_cubes_implicit(lambda p: sphere_sdf(p, 0.4, centre), box, res, dtype=torch.float64)
    v, f = m.verts_packed(), m.faces_packed()
    assert v.dtype == torch.float64
    step = torch.tensor([1.0 / 54, 1.0 / 40, 0.9 / 29], dtype=torch.float64)
    assert float(((v - centre.double()).norm(dim=1) - 0.4).abs().max()) < 0.5 * float(step.max())
    assert signed_volume(v, f) == pytest.approx(4 / 3 * math.pi * 0.4**3, rel=0.01)
    # The surface spans the sphere along each axis, so the axes are not swapped.
    ext = v.max(0).values - v.min(0).values
    assert torch.allclose(ext, torch.full((3,), 0.8, dtype=torch.float64), atol=float(step.max()))


def test_implicit_chunking_and_call_shapes():
    calls = []

    def fn(p):
        calls.append(p.shape)
        return sphere_sdf(p, 0.5)[:, None]  # (N, 1) is accepted

    a = marching_cubes_implicit(fn, CUBE, 20, chunk=999)
    b = marching_cubes_implicit(lambda p: sphere_sdf(p, 0.5), CUBE, 20)
    assert all(s[1] == 3 and s[0] <= 999 for s in calls) and sum(s[0] for s in calls) == 20**3
    assert torch.equal(a.verts_packed(), b.verts_packed()) and torch.equal(a.faces_packed(), b.faces_packed())


def test_empty_result_is_an_empty_mesh():
    m = marching_cubes_implicit(lambda p: sphere_sdf(p, 5.0), CUBE, 10)  # all inside
    assert isinstance(m, Meshes) and len(m) == 1 and m.isempty()
    assert m.verts_list()[0].shape == (0, 3) and m.faces_list()[0].shape == (0, 3)
    g = marching_cubes(torch.zeros(2, 4, 5, 6))
    assert len(g) == 2 and g.num_faces_per_mesh().tolist() == [0, 0]


# ------------------------------------------------------------------ voxel grids
def test_single_voxel_axis_mapping():
    D, H, W = 5, 7, 9
    g = torch.zeros(D, H, W)
    g[1, 4, 6] = 1.0  # z = 1, y = 4, x = 6
    box = torch.tensor([[0.0, -2.0, 10.0], [9.0, 5.0, 15.0]])  # 1 unit per voxel in x, y; 1 in z
    m = marching_cubes(g, 0.5, box)
    v, f = m.verts_packed(), m.faces_packed()
    expected = Voxels(g[None], box).occupied_centers(0)[0]
    assert torch.allclose(v.mean(0), expected, atol=1e-5)
    assert torch.allclose(expected, torch.tensor([6.5, 2.5, 11.5]))
    assert signed_volume(v, f) > 0  # an occupied blob is wound outward


def test_voxel_ball_volume_orientation_and_world_space():
    vox = Voxels(torch.zeros(1, 32, 28, 36), torch.tensor([[-0.8, -0.7, -0.8], [1.0, 0.7, 0.8]]))
    c = vox.voxel_centers(0)
    occ = (sphere_sdf(c, 0.6, (0.1, 0.0, 0.0)) < 0).float()
    vox = Voxels(occ[None], vox.bounds())
    m = marching_cubes(vox)
    v, f = m.verts_packed(), m.faces_packed()
    assert signed_volume(v, f) == pytest.approx(4 / 3 * math.pi * 0.6**3, rel=0.06)
    d = (v - torch.tensor([0.1, 0.0, 0.0])).norm(dim=1)
    size = float(vox.voxel_sizes().max())
    assert float((d - 0.6).abs().max()) < size
    assert bool((edge_counts(f) == 2).all())
    # Same as a tensor with explicit bounds; SDF convention gives the same surface.
    m2 = marching_cubes(occ, 0.5, vox.bounds()[0])
    assert torch.equal(m2.verts_packed(), v) and torch.equal(m2.faces_packed(), f)
    m3 = marching_cubes(-occ, -0.5, vox.bounds()[0], inside="negative")
    assert signed_volume(m3.verts_packed(), m3.faces_packed()) == pytest.approx(signed_volume(v, f))


def test_batched_grids_and_mixed_resolutions():
    a = torch.zeros(6, 6, 6)
    a[2:4, 2:4, 2:4] = 1
    b = torch.zeros(4, 8, 10)
    b[1:3, 2:5, 3:7] = 1
    m = marching_cubes(Voxels([a, b]))
    assert len(m) == 2 and all(n > 0 for n in m.num_faces_per_mesh().tolist())
    batch = marching_cubes(torch.stack([a, a * 0, a]))
    assert batch.num_faces_per_mesh().tolist()[1] == 0
    assert torch.equal(batch.verts_list()[0], batch.verts_list()[2])


def test_values_equal_to_isovalue_leave_no_degenerate_faces():
    g = torch.Generator().manual_seed(1)
    grid = torch.randint(0, 3, (16, 17, 18), generator=g).float() / 2  # many samples exactly 0.5
    m = marching_cubes(grid, 0.5)
    v, f = m.verts_packed(), m.faces_packed()
    assert f.shape[0] > 100
    assert float(face_normals(v, f).norm(dim=1).min()) > 0
    assert torch.unique(v, dim=0).shape[0] == v.shape[0]  # coincident points merged
    assert torch.unique(f).numel() == v.shape[0]  # every vertex used
    assert bool((f[:, 0] != f[:, 1]).all() & (f[:, 1] != f[:, 2]).all() & (f[:, 0] != f[:, 2]).all())


@pytest.mark.pytorch3d
def test_same_crossings_as_pytorch3d():
    p3d_mc = pytest.importorskip("pytorch3d.ops.marching_cubes").marching_cubes
    D, H, W = 14, 16, 18
    c = Voxels(torch.zeros(1, D, H, W)).voxel_centers(0)
    field = torch.exp(-4 * ((c - torch.tensor([0.1, -0.1, 0.05])) ** 2).sum(-1))
    rv, rf = (x[0] for x in p3d_mc(field[None], 0.5, return_local_coords=False))  # index space
    box = torch.tensor([[-0.5, -0.5, -0.5], [W - 0.5, H - 0.5, D - 0.5]])  # world = index
    m = marching_cubes(field, 0.5, box)
    v, f = m.verts_packed(), m.faces_packed()
    assert v.shape == rv.shape and f.shape == rf.shape
    assert float((v.double()[:, None] - rv.double()[None]).norm(dim=-1).min(1).values.max()) < 1e-4
    # Same surface; PyTorch3D winds it the other way (into the region above the level).
    assert signed_volume(v, f) == pytest.approx(-signed_volume(rv, rf), rel=1e-4)
    assert signed_volume(v, f) > 0


# ------------------------------------------------------------------ the algorithm: closed, oriented, PyMCubes parity
def _index_grid(n, *, dtype=torch.float64):
    """(n, n, n) coordinates x, y, z in [-1, 1], indexed [z, y, x]."""
    t = torch.linspace(-1, 1, n, dtype=dtype)
    z, y, x = torch.meshgrid(t, t, t, indexing="ij")
    return x, y, z


def _smooth_random_field(n, frequency, seed):
    """A sum of random plane waves (many saddles, so many ambiguous faces), closed off by a sphere."""
    g = torch.Generator().manual_seed(seed)
    x, y, z = _index_grid(n)
    w = torch.randn(24, 3, generator=g, dtype=torch.float64) * frequency
    phase = torch.rand(24, generator=g, dtype=torch.float64) * 2 * math.pi
    waves = torch.cos(torch.stack([x, y, z], -1) @ w.T + phase).sum(-1) / math.sqrt(24)
    return torch.maximum(waves, 10 * ((x**2 + y**2 + z**2).sqrt() - 0.8))  # negative inside


def _blobs(n, seed):
    g = torch.Generator().manual_seed(seed)
    x, y, z = _index_grid(n)
    centres = torch.rand(6, 3, generator=g, dtype=torch.float64) - 0.5
    return 0.5 - sum(torch.exp(-12 * ((x - a) ** 2 + (y - b) ** 2 + (z - c) ** 2)) for a, b, c in centres)


def _noise(n, seed):
    """White noise in (-0.5, 0.5) inside a frame of -1 (closed level sets around the positive parts)."""
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.pad(torch.rand(n - 2, n - 2, n - 2, generator=g, dtype=torch.float64) - 0.5, (1,) * 6, value=-1.0)


def _area(v, f):
    return float(face_normals(v, f).norm(dim=1).sum() / 2)


def _ambiguous_faces(grid, isovalue):
    """Cell faces whose four corners alternate above / below the iso-value."""
    above, total = grid > isovalue, 0
    for dim in range(3):
        b = above.movedim(dim, 0)
        p, q, r, s = b[:, :-1, :-1], b[:, :-1, 1:], b[:, 1:, 1:], b[:, 1:, :-1]
        total += int(((p == r) & (q == s) & (p != q)).sum())
    return total


def _pymcubes(grid, isovalue, inside):
    """PyMCubes' mesh in index space (x, y, z) = (i, j, k), wound outward from the inside region."""
    mcubes = pytest.importorskip("mcubes")
    v, f = mcubes.marching_cubes(grid.numpy(), isovalue)
    v = torch.from_numpy(v[:, ::-1].copy())  # (k, j, i) -> (i, j, k): a reflection, which flips the winding
    f = torch.from_numpy(f.astype("int64"))
    return v, (f[:, [0, 2, 1]] if inside == "positive" else f)


def _index_space(grid, isovalue, inside):
    """unrender's mesh of a (D, H, W) grid in the same index space as _pymcubes."""
    D, H, W = grid.shape
    box = torch.tensor([[-0.5, -0.5, -0.5], [W - 0.5, H - 0.5, D - 0.5]], dtype=torch.float64)  # world = index
    m = marching_cubes(grid, isovalue, box, inside=inside)
    return m.verts_packed(), m.faces_packed()


def _assert_closed_and_outward(v, f):
    assert f.shape[0] > 0
    assert bool((edge_counts(f) == 2).all())  # every edge in exactly two faces
    assert signed_volume(v, f) > 0


def _assert_same_vertices(v, rv):
    """The same points (to 2^-20 of a cell), each once."""
    assert v.shape == rv.shape
    a, b = (torch.unique(torch.round(x * 2**20), dim=0) for x in (v, rv))  # sorted rows
    assert a.shape == v.shape and torch.equal(a, b)


PARITY_FIELDS = {
    "sphere": (lambda: (lambda x, y, z: (x**2 + y**2 + z**2).sqrt() - 0.7)(*_index_grid(64)), "negative"),
    "torus": (lambda: (lambda x, y, z: (((x**2 + y**2).sqrt() - 0.6) ** 2 + z**2).sqrt() - 0.25)(*_index_grid(64)),
              "negative"),
    "blobs": (lambda: _blobs(64, 3), "negative"),
    "occupancy-like sphere": (lambda: (lambda x, y, z: 0.7 - (x**2 + y**2 + z**2).sqrt())(*_index_grid(48)), "positive"),
    "many ambiguous faces": (lambda: _smooth_random_field(96, 10.0, 2), "negative"),
}


@pytest.mark.parametrize("name", list(PARITY_FIELDS))
def test_parity_with_pymcubes_on_smooth_grids(name):
    make, inside = PARITY_FIELDS[name]
    grid = make()
    if name == "many ambiguous faces":
        assert _ambiguous_faces(grid, 0.0) > 100
    v, f = _index_space(grid, 0.0, inside)
    rv, rf = _pymcubes(grid, 0.0, inside)
    _assert_same_vertices(v, rv)  # one vertex per crossed edge, at the same place
    assert f.shape == rf.shape  # the same topology
    assert _area(v, f) == pytest.approx(_area(rv, rf), rel=1e-4)
    assert signed_volume(v, f) == pytest.approx(signed_volume(rv, rf), rel=1e-4)
    _assert_closed_and_outward(v, f)
    _assert_closed_and_outward(rv, rf)


def test_parity_with_pymcubes_on_an_implicit_function():
    R, r = 0.55, 0.3
    box = [[-1.0, -0.9, -0.5], [1.0, 0.9, 0.5]]
    res = (30, 50, 56)
    m = marching_cubes_implicit(lambda p: torus_sdf(p, R, r), box, res, dtype=torch.float64)
    v, f = m.verts_packed(), m.faces_packed()
    # PyMCubes on the same samples, mapped from index space to the box.
    lo, hi = torch.tensor(box[0], dtype=torch.float64), torch.tensor(box[1], dtype=torch.float64)
    step = (hi - lo) / (torch.tensor(res[::-1], dtype=torch.float64) - 1)
    z, y, x = torch.meshgrid(*(lo[i] + torch.arange(res[2 - i]) * step[i] for i in (2, 1, 0)), indexing="ij")
    values = torus_sdf(torch.stack([x, y, z], -1).reshape(-1, 3), R, r).reshape(res)
    rv, rf = _pymcubes(values, 0.0, "negative")
    rv = lo + rv * step
    _assert_same_vertices(v / step, rv / step)
    assert f.shape == rf.shape
    assert _area(v, f) == pytest.approx(_area(rv, rf), rel=1e-4)
    assert signed_volume(v, f) == pytest.approx(signed_volume(rv, rf), rel=1e-4)
    _assert_closed_and_outward(v, f)


@pytest.mark.parametrize("seed", [0, 1])
def test_noise_is_closed_oriented_and_has_pymcubes_topology(seed):
    grid = _noise(24, seed)
    assert _ambiguous_faces(grid, 0.0) > 1000
    for inside, g, iso in (("positive", grid, 0.0), ("negative", -grid, 0.0)):
        v, f = _index_space(g, iso, inside)
        _assert_closed_and_outward(v, f)
    v, f = _index_space(grid, 0.0, "positive")
    rv, rf = _pymcubes(grid, 0.0, "positive")
    _assert_same_vertices(v, rv)
    assert f.shape == rf.shape
    # Same Euler characteristic (V - E + F): the same components and handles.
    assert v.shape[0] - edge_counts(f).numel() + f.shape[0] == rv.shape[0] - edge_counts(rf).numel() + rf.shape[0]
    # Triangulations of noisy cells differ (cells far from planar), so area agrees only to ~1e-3.
    assert _area(v, f) == pytest.approx(_area(rv, rf), rel=3e-3)


@pytest.mark.parametrize("inside", ["positive", "negative"])
def test_every_cube_configuration_gives_a_closed_outward_surface(inside):
    for config in range(1, 256):
        corners = torch.tensor([float(config >> c & 1) for c in range(8)], dtype=torch.float64).reshape(2, 2, 2)
        grid = torch.nn.functional.pad(corners, (1,) * 6)  # bit x + 2y + 4z is grid[1 + z, 1 + y, 1 + x]
        if inside == "negative":
            grid = -grid
        v, f = _index_space(grid, 0.5 if inside == "positive" else -0.5, inside)
        assert bool((edge_counts(f) == 2).all()), config
        assert signed_volume(v, f) > 0, config
        # Vertices on the crossed edges only, midway (the values are 0 and 1).
        assert bool(((v * 2) == (v * 2).round()).all()) and bool(((v % 1) != 0).any(dim=1).all()), config


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    grid = _smooth_random_field(40, 8.0, 0).float()
    cpu = marching_cubes(grid, 0.0, inside="negative")
    gpu = marching_cubes(grid.cuda(), 0.0, inside="negative")
    assert gpu.verts_packed().is_cuda and gpu.faces_packed().is_cuda
    assert torch.equal(gpu.faces_packed().cpu(), cpu.faces_packed())
    assert torch.allclose(gpu.verts_packed().cpu(), cpu.verts_packed(), atol=1e-6)
    implicit = marching_cubes_implicit(lambda p: torus_sdf(p, 0.6, 0.25), CUBE, 32, device="cuda")
    assert implicit.verts_packed().is_cuda and bool((edge_counts(implicit.faces_packed().cpu()) == 2).all())


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: marching_cubes(torch.zeros(4, 4)), r"^grid: expected shape"),
        (lambda: marching_cubes([[0.0]]), r"^grid: expected"),
        (lambda: marching_cubes(torch.full((3, 3, 3), float("nan"))), r"^grid: expected finite"),
        (lambda: marching_cubes(torch.zeros(3, 0, 3)), r"^grid: expected every dimension"),
        (lambda: marching_cubes(Voxels(torch.zeros(1, 3, 3, 3)), bounds=CUBE), r"^bounds"),
        (lambda: marching_cubes(torch.zeros(3, 3, 3), bounds=[[1.0, 0, 0], [0.0, 1, 1]]), r"^bounds: .*inverted"),
        (lambda: marching_cubes(torch.zeros(3, 3, 3), bounds=torch.zeros(3, 3)), r"^bounds: expected shape"),
        (lambda: marching_cubes(torch.zeros(3, 3, 3), isovalue=float("nan")), r"^isovalue"),
        (lambda: marching_cubes(torch.zeros(3, 3, 3), inside="in"), r"^inside"),
        (lambda: marching_cubes_implicit(sphere_sdf, CUBE, 1), r"^resolution"),
        (lambda: marching_cubes_implicit(sphere_sdf, CUBE, (4, 4)), r"^resolution"),
        (lambda: marching_cubes_implicit(sphere_sdf, [[0.0, 0, 0], [1.0, float("nan"), 1]], 4), r"^bounds"),
        (lambda: marching_cubes_implicit("sdf", CUBE, 4), r"^fn"),
        (lambda: marching_cubes_implicit(lambda p: p, CUBE, 4), r"^fn: expected \(64,\)"),
        (lambda: marching_cubes_implicit(lambda p: p[:, 0] * float("nan"), CUBE, 4), r"^fn: expected finite"),
        (lambda: marching_cubes_implicit(sphere_sdf, CUBE, 4, chunk=0), r"^chunk"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
