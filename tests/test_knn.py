"""knn_points / knn_gather: PyTorch3D parity, the chunked and pruned paths,
SciPy's k-d tree and the fallback without it, errors."""

import sys

import pytest
import torch

import unrender.ops.knn as knn_mod
from unrender.ops import knn_gather, knn_points


@pytest.fixture(scope="module")
def p3d():
    return pytest.importorskip("pytorch3d.ops", reason="PyTorch3D reference not installed")


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _clouds(B, P1, P2, D=3, seed=0, shift=0.0):
    g = _gen(seed)
    p1 = torch.randn(B, P1, D, generator=g) + shift
    p2 = torch.randn(B, P2, D, generator=g) + shift
    l1 = torch.randint(1, P1 + 1, (B,), generator=g)
    l2 = torch.randint(1, P2 + 1, (B,), generator=g)
    l1[0], l2[0] = P1, P2
    return p1, p2, l1, l2


def _assert_same_neighbours(ours, ref, p1, p2, l1, l2, norm, rtol=1e-5):
    """Distances equal; indices equal except on ties (same distance, other point)."""
    assert ours.dists.shape == ref.dists.shape and ours.idx.shape == ref.idx.shape
    assert ours.idx.dtype == torch.int64
    torch.testing.assert_close(ours.dists, ref.dists, rtol=rtol, atol=1e-6)
    diff = ours.idx != ref.idx
    if diff.any():
        b, i, k = diff.nonzero(as_tuple=True)
        a = p1[b, i]
        da = (a - p2[b, ours.idx[b, i, k]]).abs()
        db = (a - p2[b, ref.idx[b, i, k]]).abs()
        da = da.square().sum(-1) if norm == 2 else da.sum(-1)
        db = db.square().sum(-1) if norm == 2 else db.sum(-1)
        torch.testing.assert_close(da, db, rtol=rtol, atol=1e-6)


@pytest.mark.parametrize("norm", [1, 2])
@pytest.mark.parametrize("K", [1, 3, 7])
def test_parity_heterogeneous(p3d, norm, K):
    p1, p2, l1, l2 = _clouds(4, 60, 45, seed=K + 10 * norm)
    l2[1] = 2  # fewer target points than K: padded neighbours
    ours = knn_points(p1, p2, l1, l2, norm=norm, K=K, return_nn=True)
    ref = p3d.knn_points(p1, p2, l1, l2, norm=norm, K=K, return_nn=True)
    _assert_same_neighbours(ours, ref, p1, p2, l1, l2, norm)
    # Padding convention: idx 0 and dist 0, knn like knn_gather.
    torch.testing.assert_close(ours.knn, ref.knn)


@pytest.mark.parametrize("norm", [1, 2])
def test_gradients_match(p3d, norm):
    p1, p2, l1, l2 = _clouds(3, 40, 50, seed=3)
    a1, a2 = p1.clone().requires_grad_(), p2.clone().requires_grad_()
    b1, b2 = p1.clone().requires_grad_(), p2.clone().requires_grad_()
    w = torch.randn(3, 40, 4, generator=_gen(5))
    ours = knn_points(a1, a2, l1, l2, norm=norm, K=4)
    ref = p3d.knn_points(b1, b2, l1, l2, norm=norm, K=4)
    assert torch.equal(ours.idx, ref.idx)
    (ours.dists * w).sum().backward()
    (ref.dists * w).sum().backward()
    torch.testing.assert_close(a1.grad, b1.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(a2.grad, b2.grad, rtol=1e-5, atol=1e-6)


def test_gradcheck_double():
    p1, p2, _, _ = _clouds(2, 6, 9, seed=4)
    p1, p2 = p1.double().requires_grad_(), p2.double().requires_grad_()
    torch.autograd.gradcheck(lambda a, b: knn_points(a, b, K=2).dists, (p1, p2))


@pytest.fixture(params=["blocks", "tree"])
def search(request, monkeypatch):
    """Large CPU problems forced onto the own k-d blocks or SciPy's k-d tree;
    fails the test if the forced path was not taken."""
    if request.param == "blocks":
        monkeypatch.setattr(knn_mod, "_scipy_kdtree", lambda: None)
    else:
        pytest.importorskip("scipy.spatial", reason="SciPy not installed")
    calls = []
    for name in ("_knn_blocks", "_knn_tree"):
        fn = getattr(knn_mod, name)
        monkeypatch.setattr(knn_mod, name, lambda *a, _fn=fn, _name=name: calls.append(_name) or _fn(*a))
    yield request.param
    assert f"_knn_{request.param}" in calls, f"the {request.param} path was not taken"


def test_large_pruned_path_matches_reference(p3d, monkeypatch, search):
    # Lower the all-pairs threshold so small clouds take the k-d block path
    # (or SciPy's tree), with a tiny tile budget to force several groups and
    # column chunks.
    monkeypatch.setattr(knn_mod, "_ALL_PAIRS_MAX", 1000)
    g = _gen(7)
    p1 = torch.randn(2, 700, 3, generator=g)
    p2 = torch.cat([torch.randn(2, 500, 3, generator=g), torch.rand(2, 400, 3, generator=g) * 4], 1)
    l1, l2 = torch.tensor([700, 333]), torch.tensor([900, 617])
    ref = p3d.knn_points(p1, p2, l1, l2, K=3)
    for chunk in (4096, 1 << 16, None):
        ours = knn_points(p1, p2, l1, l2, K=3, chunk_bytes=chunk)
        _assert_same_neighbours(ours, ref, p1, p2, l1, l2, 2)


@pytest.mark.parametrize("norm", [1, 2])
def test_paths_agree(monkeypatch, norm):
    """All-pairs, pruned blocks and unpruned blocks give identical neighbours."""
    monkeypatch.setattr(knn_mod, "_scipy_kdtree", lambda: None)
    p1, p2, l1, l2 = _clouds(2, 300, 260, seed=11)
    base = knn_points(p1, p2, l1, l2, norm=norm, K=2)
    monkeypatch.setattr(knn_mod, "_ALL_PAIRS_MAX", 100)
    pruned = knn_points(p1, p2, l1, l2, norm=norm, K=2, chunk_bytes=8192)
    monkeypatch.setattr(knn_mod, "_PRUNE_MAX_DIM", 0)
    blocks = knn_points(p1, p2, l1, l2, norm=norm, K=2, chunk_bytes=8192)
    for other in (pruned, blocks):
        assert torch.equal(other.idx, base.idx)
        torch.testing.assert_close(other.dists, base.dists)


def _cloud(kind, n, seed, dtype):
    """``(n, 3)`` points uniform in a cube or on a sphere (a surface)."""
    if kind == "cube":
        return torch.rand(n, 3, generator=_gen(seed), dtype=dtype)
    p = torch.randn(n, 3, generator=_gen(seed), dtype=dtype)
    return p / p.norm(dim=1, keepdim=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", ["cube", "surface"])
@pytest.mark.parametrize("K", [1, 8])
@pytest.mark.parametrize("norm", [1, 2])
def test_tree_matches_blocks(monkeypatch, norm, K, kind, dtype):
    """SciPy's k-d tree and the own blocks give identical neighbours and
    distances: ragged clouds, fewer targets than K, float64, L1."""
    pytest.importorskip("scipy.spatial", reason="SciPy not installed")
    monkeypatch.setattr(knn_mod, "_TREE_MIN_PAIRS", 0)
    monkeypatch.setattr(knn_mod, "_ALL_PAIRS_MAX", 0)
    p1 = torch.stack([_cloud(kind, 600, s, dtype) for s in (1, 2, 3)])
    p2 = torch.stack([_cloud(kind, 500, s, dtype) for s in (4, 5, 6)])
    l1, l2 = torch.tensor([600, 250, 0]), torch.tensor([500, 5, 300])
    used = []
    tree_fn = knn_mod._knn_tree
    monkeypatch.setattr(knn_mod, "_knn_tree", lambda *a: used.append(1) or tree_fn(*a))
    tree = knn_points(p1, p2, l1, l2, norm=norm, K=K, return_nn=True)
    assert len(used) == 2  # the third cloud is empty
    monkeypatch.setattr(knn_mod, "_scipy_kdtree", lambda: None)
    own = knn_points(p1, p2, l1, l2, norm=norm, K=K, return_nn=True)
    assert tree.dists.dtype == dtype
    for a, b in zip(tree, own):
        assert torch.equal(a, b)


@pytest.mark.parametrize("K", [2, 4])
def test_tree_orders_ties_by_index(monkeypatch, K):
    """Duplicated targets: both copies come back, the lower index first, as on the blocks."""
    pytest.importorskip("scipy.spatial", reason="SciPy not installed")
    monkeypatch.setattr(knn_mod, "_TREE_MIN_PAIRS", 0)
    a = torch.rand(1, 400, 3, generator=_gen(3))
    p2, p1 = torch.cat([a, a], 1), torch.rand(1, 500, 3, generator=_gen(4))
    tree = knn_points(p1, p2, K=K)
    pairs = tree.idx.view(1, 500, K // 2, 2)
    assert torch.equal(pairs[..., 1], pairs[..., 0] + 400)
    monkeypatch.setattr(knn_mod, "_scipy_kdtree", lambda: None)
    monkeypatch.setattr(knn_mod, "_ALL_PAIRS_MAX", 0)
    assert torch.equal(knn_points(p1, p2, K=K).idx, tree.idx)


def test_without_scipy_exact(monkeypatch):
    """Where SciPy does not import, large clouds still get exact neighbours (the blocks)."""
    monkeypatch.setitem(sys.modules, "scipy.spatial", None)
    assert knn_mod._scipy_kdtree() is None
    used = []
    blocks_fn = knn_mod._knn_blocks
    monkeypatch.setattr(knn_mod, "_knn_blocks", lambda *a: used.append(1) or blocks_fn(*a))
    p1, p2 = torch.rand(1, 2500, 3, generator=_gen(1)), torch.rand(1, 2000, 3, generator=_gen(2))
    out = knn_points(p1, p2, K=3)
    assert used
    d = torch.cdist(p1[0].double(), p2[0].double()).square()
    ref = d.topk(3, dim=1, largest=False)
    assert torch.equal(out.idx[0], ref.indices)
    torch.testing.assert_close(out.dists[0].double(), ref.values, rtol=1e-5, atol=1e-7)


def test_far_from_origin_and_self_match(p3d):
    # Centring keeps the matmul trick accurate far from the origin; exact
    # re-ranking returns each point itself (distance 0) in a self query.
    p1, p2, _, _ = _clouds(1, 400, 500, seed=2, shift=1.0e4)
    ours = knn_points(p1, p2, K=2)
    ref = p3d.knn_points(p1, p2, K=2)
    _assert_same_neighbours(ours, ref, p1, p2, None, None, 2, rtol=1e-4)
    x = torch.randn(1, 3000, 3, generator=_gen(9)) * 1e-3 + 7.0
    self_nn = knn_points(x, x)
    assert torch.equal(self_nn.idx[0, :, 0], torch.arange(3000))
    assert float(self_nn.dists.abs().max()) == 0.0


def test_higher_dimension_and_double(p3d):
    p1, p2, l1, l2 = _clouds(2, 50, 70, D=6, seed=1)
    ours = knn_points(p1.double(), p2.double(), l1, l2, K=3)
    assert ours.dists.dtype == torch.float64
    ref = p3d.knn_points(p1, p2, l1, l2, K=3)
    ours = ours._replace(dists=ours.dists.float())
    _assert_same_neighbours(ours, ref, p1, p2, l1, l2, 2)


def test_knn_gather_parity(p3d):
    x = torch.randn(3, 20, 5, generator=_gen(1))
    idx = torch.randint(0, 20, (3, 8, 4), generator=_gen(2))
    lengths = torch.tensor([20, 3, 10])
    torch.testing.assert_close(knn_gather(x, idx, lengths), p3d.knn_gather(x, idx, lengths))
    torch.testing.assert_close(knn_gather(x, idx), p3d.knn_gather(x, idx))


def test_chunking_bounds_tiles_but_not_results():
    p1, p2, l1, l2 = _clouds(3, 128, 96, seed=6)
    full = knn_points(p1, p2, l1, l2, K=2)
    tiny = knn_points(p1, p2, l1, l2, K=2, chunk_bytes=1)
    assert torch.equal(full.idx, tiny.idx)
    torch.testing.assert_close(full.dists, tiny.dists)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(p1=torch.randn(2, 5)), "p1"),
        (dict(p1=torch.randn(2, 5, 3).long()), "p1"),
        (dict(p2=torch.randn(3, 5, 3)), "p2"),
        (dict(p2=torch.randn(2, 5, 2)), "p2"),
        (dict(p2=torch.randn(2, 5, 3).double()), "p2"),
        (dict(p1=torch.randn(2, 0, 3)), "p1"),
        (dict(p2=torch.randn(2, 0, 3)), "p2"),
        (dict(p1=torch.full((2, 4, 3), float("nan"))), "p1"),
        (dict(K=0), "K"),
        (dict(K=1.5), "K"),
        (dict(norm=3), "norm"),
        (dict(lengths1=torch.tensor([4, 9])), "lengths1"),
        (dict(lengths2=torch.tensor([1.0, 2.0])), "lengths2"),
        (dict(lengths2=torch.tensor([1, 2, 3])), "lengths2"),
        (dict(chunk_bytes=0), "chunk_bytes"),
    ],
)
def test_bad_input(kwargs, match):
    args = dict(p1=torch.randn(2, 4, 3), p2=torch.randn(2, 5, 3))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        knn_points(**args)


def test_knn_gather_bad_input():
    with pytest.raises(ValueError, match="idx"):
        knn_gather(torch.randn(2, 5, 3), torch.zeros(3, 4, 1, dtype=torch.int64))
    with pytest.raises(ValueError, match="idx"):
        knn_gather(torch.randn(2, 5, 3), torch.zeros(2, 4, 1))
