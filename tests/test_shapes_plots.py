"""Generated target shapes and the Pillow loss-curve plot."""

import math

import pytest
import torch

from unrender.geometry.shapes import TARGET_SHAPES, bumpy_ellipsoid, radial_mesh, rounded_cube, superquadric, target_shape
from unrender.plots import caption, hstack, plot_curves


def _signed_volume(m):
    v, f = m.verts_packed().double(), m.faces_packed()
    return float((v[f[:, 0]] * torch.cross(v[f[:, 1]], v[f[:, 2]], dim=1)).sum() / 6)


@pytest.mark.parametrize("name", sorted(TARGET_SHAPES))
def test_targets_are_closed_outward_and_in_the_unit_sphere(name):
    m = target_shape(name, level=4)
    v = m.verts_packed()
    assert v.shape == (2562, 3) and m.faces_packed().shape == (5120, 3)
    r = v.norm(dim=1)
    assert abs(float(r.max()) - 1.0) < 1e-5 and float(r.min()) > 0.3
    lo, hi = v.min(0).values, v.max(0).values
    assert torch.allclose((lo + hi) / 2, torch.zeros(3), atol=1e-5)  # bounding-box centre at the origin
    assert _signed_volume(m) > 0.5  # outward orientation, a solid of substantial volume
    # closed two-manifold: every edge is shared by exactly two faces
    f = m.faces_packed()
    e = torch.cat([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]).sort(1).values
    _, counts = torch.unique(e, dim=0, return_counts=True)
    assert bool((counts == 2).all())


def test_superquadric_matches_its_implicit_surface():
    m = superquadric((1.0, 0.8, 0.6), power=3.0, level=3)
    v = m.verts_packed().double()
    # normalised by an unknown scale s: |x/a|^p + ... = s^p is the same for every vertex
    level_set = ((v / torch.tensor([1.0, 0.8, 0.6], dtype=torch.float64)).abs() ** 3).sum(1)
    assert float(level_set.std() / level_set.mean()) < 1e-5
    ell = superquadric((1.0, 0.8, 0.6), power=2.0, level=3).verts_packed().double()
    assert float((((ell / torch.tensor([1.0, 0.8, 0.6], dtype=torch.float64)) ** 2).sum(1) - 1).abs().max()) < 1e-5
    cube = rounded_cube(power=8, level=3).verts_packed()
    assert float(cube.abs().max()) < 1 / math.sqrt(2) + 0.05  # corners pulled in toward a cube


def test_bumpy_ellipsoid_is_seeded_and_bumpy():
    a, b, c = bumpy_ellipsoid(seed=1, level=3), bumpy_ellipsoid(seed=1, level=3), bumpy_ellipsoid(seed=2, level=3)
    assert torch.equal(a.verts_packed(), b.verts_packed())
    assert not torch.allclose(a.verts_packed(), c.verts_packed())
    smooth = bumpy_ellipsoid(amplitude=0.0, level=3)
    assert float((a.verts_packed() - smooth.verts_packed()).norm(dim=1).max()) > 0.05


def test_shape_errors_name_the_argument():
    with pytest.raises(ValueError, match="name: expected one of"):
        target_shape("teapot")
    with pytest.raises(ValueError, match="power"):
        superquadric(power=0.1)
    with pytest.raises(ValueError, match="amplitude"):
        bumpy_ellipsoid(amplitude=-1)
    with pytest.raises(ValueError, match="radius_fn"):
        radial_mesh(lambda d: -torch.ones(d.shape[0], dtype=d.dtype), level=1)


def test_loss_curve_draws_the_curve_where_the_values_are(tmp_path):
    h = [math.exp(-i / 40) for i in range(200)]
    img = plot_curves(h, tmp_path / "loss.png", size=(400, 300), title="fit")
    assert img.shape == (300, 400, 3) and (tmp_path / "loss.png").stat().st_size > 1000
    blue = (img[..., 2] > 0.5) & (img[..., 0] < 0.35)  # the first curve colour
    ys, xs = torch.nonzero(blue, as_tuple=True)
    assert len(xs) > 200
    # decreasing curve: its left end is higher up (smaller row) than its right end
    left, right = ys[xs < xs.min() + 10].float().mean(), ys[xs > xs.max() - 10].float().mean()
    assert left < right - 100
    # a log axis is chosen for values spanning 150x; flat curves get a linear one
    assert plot_curves([1.0, 1.0, 1.0]).shape == (420, 720, 3)
    with pytest.raises(ValueError, match="curves"):
        plot_curves([])
    with pytest.raises(ValueError, match="log"):
        plot_curves([1.0, -1.0], log=True)


def test_caption_and_hstack():
    a, b = torch.zeros(32, 40, 3), torch.ones(32, 20, 3)
    s = hstack([a, b], gap=2)
    assert s.shape == (32, 62, 3) and float(s[:, 41:42].min()) == 1.0
    c = caption(a, "step 1")
    assert c.shape == a.shape and float(c.max()) > 0.5 and float(c[-1, -1].max()) == 0.0
    with pytest.raises(ValueError, match=r"images\[1\]: expected height 32"):
        hstack([a, torch.zeros(10, 4, 3)])
