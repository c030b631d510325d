"""laplacian / cot_laplacian / norm_laplacian: PyTorch3D parity and errors."""

import pytest
import torch

from unrender.geometry.primitives import icosphere
from unrender.ops import cot_laplacian, laplacian, mesh_topology, norm_laplacian


# PyTorch3D builds sparse matrices without choosing invariant checks; torch warns.
pytestmark = pytest.mark.filterwarnings("ignore:Sparse invariant checks:UserWarning")


@pytest.fixture(scope="module")
def p3d():
    return pytest.importorskip("pytorch3d.ops", reason="PyTorch3D reference not installed")


def _mesh(level=2, seed=0, noise=0.05):
    m = icosphere(level)
    g = torch.Generator().manual_seed(seed)
    v = m.verts_packed() + noise * torch.randn(m.verts_packed().shape, generator=g)
    f = m.faces_packed()
    # An isolated vertex (degree 0, no area) and a face dropped (a boundary).
    v = torch.cat([v, torch.tensor([[3.0, 0.0, 0.0]])])
    return v, f[1:]


def _edges(v, f):
    from unrender.structures import Meshes

    return mesh_topology(Meshes([v], [f])).edges


def test_uniform_laplacian(p3d):
    v, f = _mesh()
    e = _edges(v, f)
    ours, ref = laplacian(v, e), p3d.laplacian(v, e)
    assert ours.is_sparse and ours.shape == (v.shape[0],) * 2
    torch.testing.assert_close(ours.to_dense(), ref.to_dense())
    # Row sums vanish except on the isolated vertex (only its -1 diagonal).
    rows = ours.to_dense().sum(1)
    assert float(rows[:-1].abs().max()) < 1e-6 and float(rows[-1]) == -1.0


def test_cot_laplacian(p3d):
    v, f = _mesh(seed=1)
    L, inv = cot_laplacian(v, f)
    L_ref, inv_ref = p3d.cot_laplacian(v, f)
    torch.testing.assert_close(L.to_dense(), L_ref.to_dense(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(inv, inv_ref, rtol=1e-5, atol=1e-6)
    assert inv.shape == (v.shape[0], 1) and float(inv[-1]) == 0.0


def test_cot_laplacian_degenerate_face(p3d):
    v = torch.tensor([[0.0, 0, 0], [1, 0, 0], [2, 0, 0], [0, 1, 0]])
    f = torch.tensor([[0, 1, 2], [0, 1, 3]])
    L, inv = cot_laplacian(v, f)
    L_ref, inv_ref = p3d.cot_laplacian(v, f)
    torch.testing.assert_close(L.to_dense(), L_ref.to_dense())
    torch.testing.assert_close(inv, inv_ref)


def test_norm_laplacian_values_and_gradient(p3d):
    v, f = _mesh(seed=2)
    e = _edges(v, f)
    va, vb = v.clone().requires_grad_(), v.clone().requires_grad_()
    ours, ref = norm_laplacian(va, e), p3d.norm_laplacian(vb, e)
    torch.testing.assert_close(ours.to_dense(), ref.to_dense())
    w = torch.rand(v.shape[0], v.shape[0], generator=torch.Generator().manual_seed(0))
    (ours.to_dense() * w).sum().backward()
    (ref.to_dense() * w).sum().backward()
    torch.testing.assert_close(va.grad, vb.grad, rtol=1e-5, atol=1e-6)


def test_double_precision():
    v, f = _mesh()
    L, inv = cot_laplacian(v.double(), f)
    assert L.dtype == torch.float64 and inv.dtype == torch.float64
    assert laplacian(v.double(), _edges(v, f)).dtype == torch.float64


@pytest.mark.parametrize(
    "fn, args, match",
    [
        (laplacian, (torch.randn(4, 2), torch.zeros(1, 2, dtype=torch.int64)), "verts"),
        (laplacian, (torch.randn(4, 3), torch.zeros(1, 3, dtype=torch.int64)), "edges"),
        (laplacian, (torch.randn(4, 3), torch.tensor([[0, 4]])), "edges"),
        (laplacian, (torch.randn(4, 3), torch.zeros(1, 2)), "edges"),
        (norm_laplacian, (torch.full((4, 3), float("nan")), torch.tensor([[0, 1]])), "verts"),
        (cot_laplacian, (torch.randn(4, 3), torch.tensor([[0, 1, 7]])), "faces"),
        (cot_laplacian, (torch.randn(4, 3).int(), torch.tensor([[0, 1, 2]])), "verts"),
    ],
)
def test_bad_input(fn, args, match):
    with pytest.raises(ValueError, match=match):
        fn(*args)
