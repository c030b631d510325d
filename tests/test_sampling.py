"""Area-uniform surface sampling: exactness of barycentrics, distribution, PyTorch3D parity."""

import math

import pytest
import torch

from unrender import Meshes
from unrender.geometry.primitives import cube, icosphere
from unrender.geometry.sampling import sample_points_from_meshes, sample_surface


def _lopsided_mesh():
    # Two triangles whose areas differ 9x, plus a stretched cube: face choice must follow area.
    v = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [3, 0, 1], [0, 3, 1]])
    f = torch.tensor([[0, 1, 2], [3, 4, 5]])
    c = cube(1.0).verts_packed() * torch.tensor([3.0, 1.0, 0.5])
    return Meshes([v, c], [f, cube().faces_packed()])


def test_samples_lie_on_their_faces():
    m = _lopsided_mesh()
    s = sample_surface(m, 5000, generator=torch.Generator().manual_seed(0))
    assert s.points.shape == (2, 5000, 3) and s.barycentric.shape == (2, 5000, 3)
    assert bool((s.barycentric >= -1e-7).all()) and torch.allclose(s.barycentric.sum(-1), torch.ones(2, 5000))
    v, f = m.verts_packed(), m.faces_packed()
    rebuilt = (s.barycentric[..., None] * v[f[s.face_index]]).sum(-2)
    assert torch.allclose(rebuilt, s.points, atol=1e-6)
    assert torch.allclose(s.normals, m.faces_normals_packed()[s.face_index], atol=1e-6)
    first = m.mesh_to_faces_packed_first_idx()
    assert bool((s.face_index[0] < first[1]).all()) and bool((s.face_index[1] >= first[1]).all())


def test_face_frequencies_follow_area():
    m = _lopsided_mesh()[0]
    n = 200_000
    s = sample_surface(m, n, generator=torch.Generator().manual_seed(1))
    frac_big = float((s.face_index[0] == 1).float().mean())
    # Binomial: expected 0.9, std sqrt(0.09 / n) ~ 6.7e-4; allow 5 sigma.
    assert abs(frac_big - 0.9) < 5 * math.sqrt(0.09 / n)


def test_uniform_within_a_triangle():
    v = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
    m = Meshes([v], [torch.tensor([[0, 1, 2]])])
    p = sample_points_from_meshes(m, 100_000, generator=torch.Generator().manual_seed(2))[0]
    # The centroid of a uniform density on the triangle is (1/3, 1/3); std of x is sqrt(1/18).
    tol = 5 * math.sqrt(1 / 18 / 100_000)
    assert abs(float(p[:, 0].mean()) - 1 / 3) < tol and abs(float(p[:, 1].mean()) - 1 / 3) < tol


def test_seeded_and_differentiable():
    m = icosphere(2)
    a = sample_points_from_meshes(m, 100, generator=torch.Generator().manual_seed(3))
    b = sample_points_from_meshes(m, 100, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    v = m.verts_packed().clone().requires_grad_(True)
    p, n = sample_points_from_meshes(Meshes([v], m.faces_list()), 50, return_normals=True)
    (p.sum() + n.sum()).backward()
    assert v.grad is not None and float(v.grad.abs().sum()) > 0


@pytest.mark.parametrize("call, match", [
    (lambda: sample_points_from_meshes(Meshes([torch.zeros(3, 3)], [torch.zeros(0, 3, dtype=torch.long)]), 10), r"meshes\[0\]: cannot sample points from a mesh with no faces"),
    (lambda: sample_points_from_meshes(Meshes([torch.zeros(3, 3)], [torch.tensor([[0, 1, 2]])]), 10), r"zero area"),
    (lambda: sample_points_from_meshes(icosphere(0), 0), r"num_samples"),
    (lambda: sample_points_from_meshes(torch.zeros(3, 3), 10), r"meshes: expected a Meshes \(unrender.Meshes"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


p3d_ops = pytest.importorskip("pytorch3d.ops", reason="PyTorch3D reference not installed")


def test_distribution_matches_pytorch3d():
    """Sample moments agree with PyTorch3D's sampler within 5 standard errors."""
    m = _lopsided_mesh()
    n = 100_000
    torch.manual_seed(4)
    ref_p, ref_n = p3d_ops.sample_points_from_meshes(m.to_pytorch3d(), n, return_normals=True)
    ours_p, ours_n = sample_points_from_meshes(m, n, return_normals=True, generator=torch.Generator().manual_seed(5))
    for ours, ref in ((ours_p, ref_p), (ours_n, ref_n)):
        for moment in (lambda x: x, lambda x: x * x):
            a, b = moment(ours.double()), moment(ref.double())
            se = torch.sqrt(a.var(1) / n + b.var(1) / n)
            assert bool(((a.mean(1) - b.mean(1)).abs() <= 5 * se + 1e-9).all())
