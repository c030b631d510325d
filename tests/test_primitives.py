"""Primitive shapes: exact counts, closed outward surfaces, PyTorch3D parity."""

import math

import pytest
import torch

from unrender.geometry.primitives import (
    cube,
    icosphere,
    parametric_surface,
    sample_sphere,
    sphere_sdf,
    subdivide,
    torus,
    torus_sdf,
    uv_sphere,
)


def _signed_volume(m):
    v, f = m.verts_packed().double(), m.faces_packed()
    return float((v[f[:, 0]] * torch.cross(v[f[:, 1]], v[f[:, 2]], dim=1)).sum() / 6)


def _is_closed_manifold(m):
    f = m.faces_packed()
    directed = torch.cat([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    # Every directed edge appears once and its reverse appears once: closed and consistently oriented.
    key = directed[:, 0] * 10**7 + directed[:, 1]
    rev = directed[:, 1] * 10**7 + directed[:, 0]
    return len(torch.unique(key)) == len(key) and bool(torch.isin(rev, key).all())


@pytest.mark.parametrize("level, nv, nf", [(0, 12, 20), (1, 42, 80), (2, 162, 320), (3, 642, 1280), (4, 2562, 5120), (5, 10242, 20480)])
def test_icosphere_counts(level, nv, nf):
    m = icosphere(level)
    assert m.verts_packed().shape == (nv, 3)
    assert m.faces_packed().shape == (nf, 3)
    assert torch.allclose(m.verts_packed().norm(dim=1), torch.ones(nv), atol=1e-6)


@pytest.mark.parametrize("mesh, volume", [
    (icosphere(3), 4 / 3 * math.pi),
    (cube(2.0), 8.0),
    (torus(1.0, 0.3, 96, 48), 2 * math.pi**2 * 1.0 * 0.09),
    (uv_sphere(32, 64), 4 / 3 * math.pi),
])
def test_primitives_are_closed_and_outward(mesh, volume):
    assert _is_closed_manifold(mesh)
    vol = _signed_volume(mesh)
    assert vol > 0, "faces must point outward"
    assert abs(vol - volume) / volume < 0.02


def test_subdivide_shares_midpoints():
    m = cube()
    v, f = subdivide(m.verts_packed(), m.faces_packed())
    assert v.shape[0] == 8 + 18 and f.shape[0] == 48


def test_parametric_surface_open_grid():
    m = parametric_surface(lambda u, v: torch.stack([u, v, 0 * u], -1), 5, 4, wrap_u=False, wrap_v=False)
    assert m.verts_packed().shape == (20, 3) and m.faces_packed().shape == (24, 3)
    assert torch.allclose(m.faces_areas_packed().sum(), torch.tensor(1.0))
    assert bool((m.faces_normals_packed()[:, 2] > 0.99).all())


def test_sdfs_and_sphere_sampling():
    p = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.3, 0.0, 0.0]])
    assert torch.allclose(torus_sdf(p, 1.0, 0.3), torch.tensor([-0.3, 0.7, 0.0]), atol=1e-6)
    assert torch.allclose(sphere_sdf(p, 0.5), torch.tensor([0.5, -0.5, 0.8]))
    s = sample_sphere(20000, 2.0, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(s.norm(dim=1), torch.full((20000,), 2.0), atol=1e-5)
    # Uniform by area: each coordinate has mean 0 and variance r^2 / 3.
    assert float(s.mean(0).abs().max()) < 0.05
    assert torch.allclose(s.var(0), torch.full((3,), 4 / 3), rtol=0.05)


@pytest.mark.parametrize("call, match", [
    (lambda: icosphere(9), r"level: expected an int in \[0, 8\], found 9"),
    (lambda: icosphere(-1), r"level"),
    (lambda: icosphere(1.5), r"level: expected an int"),
    (lambda: torus(0.2, 0.3), r"major_radius, minor_radius"),
    (lambda: cube(0.0), r"size"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


p3d_utils = pytest.importorskip("pytorch3d.utils", reason="PyTorch3D reference not installed")


def _triangle_set(v, f):
    tri = v[f].double()
    tri = torch.round(tri * 1e5) / 1e5
    return {tuple(sorted(map(tuple, t.tolist()))) for t in tri}


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_icosphere_matches_pytorch3d(level):
    ref = p3d_utils.ico_sphere(level)
    m = icosphere(level)
    # Same vertices in the same order (float32 subdivision in PyTorch3D: 1e-4 at level 3).
    assert torch.allclose(m.verts_packed(), ref.verts_packed(), atol=2e-4)
    assert _triangle_set(m.verts_packed(), m.faces_packed()) == _triangle_set(m.verts_packed(), ref.faces_packed())


def test_torus_matches_pytorch3d():
    ref = p3d_utils.torus(r=0.3, R=1.0, sides=16, rings=24)
    m = torus(1.0, 0.3, rings=24, sides=16)
    assert torch.allclose(m.verts_packed(), ref.verts_packed(), atol=1e-6)
    assert m.faces_packed().shape == ref.faces_packed().shape
    assert abs(float(m.faces_areas_packed().sum() - ref.faces_areas_packed().sum())) < 1e-4
