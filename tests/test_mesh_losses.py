"""Mesh regularisers: PyTorch3D parity (values and gradients), topology cache, errors."""

import pytest
import torch

from unrender.geometry.primitives import icosphere
from unrender.losses import mesh_edge_loss, mesh_laplacian_smoothing, mesh_normal_consistency
from unrender.ops import mesh_topology
from unrender.structures import Meshes


# PyTorch3D builds sparse matrices without choosing invariant checks; torch warns.
pytestmark = pytest.mark.filterwarnings("ignore:Sparse invariant checks:UserWarning")


@pytest.fixture(scope="module")
def p3d():
    loss = pytest.importorskip("pytorch3d.loss", reason="PyTorch3D reference not installed")
    from pytorch3d.structures import Meshes as P3DMeshes

    return loss, P3DMeshes


def _noisy_ico(level, seed, scale=1.0, noise=0.05):
    m = icosphere(level)
    g = torch.Generator().manual_seed(seed)
    v = m.verts_packed() * scale
    return v + noise * torch.randn(v.shape, generator=g), m.faces_packed()


def _open_mesh(seed=3):
    """An icosphere with faces removed (boundary edges) and an unused vertex."""
    v, f = _noisy_ico(1, seed)
    v = torch.cat([v, torch.tensor([[2.0, 2.0, 2.0]])])
    return v, f[5:]


def _fin_mesh(seed=4):
    """Four faces on one edge and three on another (non-manifold fins), plus a lone face."""
    v, f = _noisy_ico(1, seed)
    a, b = int(f[0, 0]), int(f[0, 1])
    c, d = int(f[30, 0]), int(f[30, 1])
    V = v.shape[0]
    g = torch.Generator().manual_seed(seed)
    extra = torch.randn(3, 3, generator=g) * 0.5 + 1.5
    v = torch.cat([v, extra])
    f = torch.cat([f, torch.tensor([[a, b, V], [b, a, V + 1], [c, d, V + 2], [V, V + 1, V + 2]])])
    return v, f


def test_fin_mesh_has_three_and_four_face_edges():
    v, f = _fin_mesh()
    topo = mesh_topology(Meshes([v], [f]))
    faces_per_edge = torch.bincount(topo.face_to_edge.reshape(-1))
    assert {1, 2, 3, 4} <= set(faces_per_edge.tolist())
    assert topo.face_pairs[0].shape[0] == int((faces_per_edge * (faces_per_edge - 1) // 2).sum())


def _batches():
    return {
        "icosphere": [_noisy_ico(3, 0)],
        "mixed_batch": [_noisy_ico(2, 1), _noisy_ico(1, 2, scale=3.0, noise=0.2), _noisy_ico(0, 5)],
        "open_and_isolated": [_open_mesh(), _noisy_ico(1, 6)],
        "non_manifold": [_fin_mesh(), _noisy_ico(0, 7)],
    }


LOSSES = {
    "edge": (lambda m: mesh_edge_loss(m), lambda L, m: L.mesh_edge_loss(m)),
    "edge_target": (lambda m: mesh_edge_loss(m, 0.3), lambda L, m: L.mesh_edge_loss(m, 0.3)),
    "normal_consistency": (mesh_normal_consistency, lambda L, m: L.mesh_normal_consistency(m)),
    "uniform": (lambda m: mesh_laplacian_smoothing(m, "uniform"), lambda L, m: L.mesh_laplacian_smoothing(m, "uniform")),
    "cot": (lambda m: mesh_laplacian_smoothing(m, "cot"), lambda L, m: L.mesh_laplacian_smoothing(m, "cot")),
    "cotcurv": (lambda m: mesh_laplacian_smoothing(m, "cotcurv"), lambda L, m: L.mesh_laplacian_smoothing(m, "cotcurv")),
}


@pytest.mark.parametrize("batch", list(_batches()))
@pytest.mark.parametrize("loss", list(LOSSES))
def test_parity(p3d, batch, loss):
    L, P3DMeshes = p3d
    ours_fn, ref_fn = LOSSES[loss]
    meshes = _batches()[batch]
    va = [v.clone().requires_grad_() for v, _ in meshes]
    vb = [v.clone().requires_grad_() for v, _ in meshes]
    faces = [f for _, f in meshes]
    ours = ours_fn(Meshes(va, faces))
    ref = ref_fn(L, P3DMeshes(verts=vb, faces=faces))
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-7)
    ours.backward()
    ref.backward()
    # The cotangent residual L v / sum(w) - v nearly cancels on smooth
    # meshes, so in float32 both implementations' gradients sit ~5e-5 (of
    # the largest entry) from the float64 truth: compare at that scale.
    tol = 3e-4 if loss in ("cot", "cotcurv") else 1e-5
    for ga, gb in zip([v.grad for v in va], [v.grad for v in vb]):
        scale = float(gb.abs().max()) + 1e-12
        torch.testing.assert_close(ga / scale, gb / scale, rtol=1e-5, atol=tol)


def test_empty_batches_match(p3d):
    L, P3DMeshes = p3d
    empty = Meshes([torch.zeros(0, 3)], [torch.zeros(0, 3, dtype=torch.int64)])
    ref_empty = P3DMeshes(verts=[torch.zeros(0, 3)], faces=[torch.zeros(0, 3, dtype=torch.int64)])
    for name, (ours_fn, ref_fn) in LOSSES.items():
        ours, ref = ours_fn(empty), ref_fn(L, ref_empty)
        assert ours.shape == ref.shape == (1,), name
        assert float(ours.detach()) == float(ref.detach()) == 0.0
        assert ours.requires_grad


def test_no_shared_edge_gives_zero_normal_consistency():
    v = torch.randn(3, 3)
    out = mesh_normal_consistency(Meshes([v], [torch.tensor([[0, 1, 2]])]))
    assert out.shape == (1,) and float(out.detach()) == 0.0


def test_topology_cached_across_offsets_and_invalidated_in_place():
    v, f = _noisy_ico(2, 0)
    m = Meshes([v], [f])
    topo = mesh_topology(m)
    moved = m.offset_verts(torch.full_like(v, 0.1))
    assert mesh_topology(moved) is topo
    before = mesh_normal_consistency(moved)
    f2 = f.clone()
    m2 = Meshes([v], [f2])
    t2 = mesh_topology(m2)
    f2[:, [1, 2]] = f2[:, [2, 1]].clone()  # in-place: flips every face
    t3 = mesh_topology(m2)
    assert t3 is not t2
    assert torch.equal(t3.faces, f2)
    torch.testing.assert_close(mesh_normal_consistency(Meshes([v + 0.1], [f2])), before)


def test_double_precision():
    v, f = _noisy_ico(1, 0)
    m = Meshes([v.double()], [f])
    for fn, _ in LOSSES.values():
        assert fn(m).dtype == torch.float64


def test_bad_input():
    v, f = _noisy_ico(0, 0)
    m = Meshes([v], [f])
    with pytest.raises(ValueError, match="method"):
        mesh_laplacian_smoothing(m, "cotan")
    with pytest.raises(ValueError, match="meshes"):
        mesh_edge_loss(v)
    with pytest.raises(ValueError, match="meshes"):
        mesh_normal_consistency((v, f))
    with pytest.raises(ValueError, match="target_length"):
        mesh_edge_loss(m, "1")
