"""chamfer_distance: PyTorch3D parity over every option, gradients, errors."""

import itertools

import pytest
import torch

import unrender.ops.knn as knn_mod
from unrender.losses import chamfer_distance
from unrender.structures import PointClouds


@pytest.fixture(scope="module")
def p3d():
    return pytest.importorskip("pytorch3d.loss", reason="PyTorch3D reference not installed")


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _inputs(seed=0, N=3, P1=40, P2=30, D=3, hetero=True):
    g = _gen(seed)
    x = torch.randn(N, P1, D, generator=g)
    y = torch.randn(N, P2, D, generator=g)
    xn = torch.randn(N, P1, D, generator=g)
    yn = torch.randn(N, P2, D, generator=g)
    xl = torch.tensor([P1, 17, 5][:N]) if hetero else None
    yl = torch.tensor([P2, 30, 9][:N]) if hetero else None
    w = torch.rand(N, generator=g) + 0.1
    return x, y, xl, yl, xn, yn, w


def _leaves(*ts):
    a = [t.clone().requires_grad_() if t is not None and t.is_floating_point() else t for t in ts]
    b = [t.clone().requires_grad_() if t is not None and t.is_floating_point() else t for t in ts]
    return a, b


def _flatten(out):
    if out is None:
        return []
    if isinstance(out, tuple):
        return [t for o in out for t in _flatten(o)]
    return [out]


def _compare(ours, ref, inputs_a, inputs_b):
    fa, fb = _flatten(ours), _flatten(ref)
    assert len(fa) == len(fb)
    for a, b in zip(fa, fb):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    if not fa:
        return
    g = _gen(99)
    sa = sum((t * torch.rand(t.shape, generator=g)).sum() for t in fa)
    g = _gen(99)
    sb = sum((t * torch.rand(t.shape, generator=g)).sum() for t in fb)
    grads_a = torch.autograd.grad(sa, [t for t in inputs_a if t is not None and t.requires_grad], allow_unused=True)
    grads_b = torch.autograd.grad(sb, [t for t in inputs_b if t is not None and t.requires_grad], allow_unused=True)
    for ga, gb in zip(grads_a, grads_b):
        if gb is None:
            assert ga is None or float(ga.abs().max()) == 0.0
            continue
        torch.testing.assert_close(ga, gb, rtol=1e-5, atol=1e-6)


OPTIONS = [
    opt
    for opt in itertools.product(
        ["mean", "sum", None],  # batch_reduction
        ["mean", "sum", "max", None],  # point_reduction
        [1, 2],  # norm
        [False, True],  # single_directional
    )
    if opt[1] is not None or opt[0] is None  # point_reduction=None needs batch_reduction=None
]


@pytest.mark.parametrize("batch_reduction, point_reduction, norm, single", OPTIONS)
def test_parity_all_reductions(p3d, batch_reduction, point_reduction, norm, single):
    x, y, xl, yl, xn, yn, w = _inputs(seed=norm)
    use_normals = point_reduction != "max"
    for weights in (None, w):
        (a_x, a_y, a_xn, a_yn, a_w), (b_x, b_y, b_xn, b_yn, b_w) = _leaves(x, y, xn, yn, weights)
        kw = dict(batch_reduction=batch_reduction, point_reduction=point_reduction, norm=norm, single_directional=single)
        ours = chamfer_distance(
            a_x, a_y, xl, yl, a_xn if use_normals else None, a_yn if use_normals else None, a_w, **kw
        )
        ref = p3d.chamfer_distance(
            b_x, b_y, xl, yl, b_xn if use_normals else None, b_yn if use_normals else None, b_w, **kw
        )
        _compare(ours, ref, [a_x, a_y, a_xn, a_yn, a_w], [b_x, b_y, b_xn, b_yn, b_w])


@pytest.mark.parametrize("abs_cosine", [True, False])
def test_normals_abs_cosine(p3d, abs_cosine):
    x, y, xl, yl, xn, yn, _ = _inputs(seed=5)
    (ax, ay, axn, ayn), (bx, by, bxn, byn) = _leaves(x, y, xn, yn)
    ours = chamfer_distance(ax, ay, xl, yl, axn, ayn, abs_cosine=abs_cosine)
    ref = p3d.chamfer_distance(bx, by, xl, yl, bxn, byn, abs_cosine=abs_cosine)
    _compare(ours, ref, [ax, ay, axn, ayn], [bx, by, bxn, byn])


def _force_search(monkeypatch, search):
    """Large CPU clouds on the own k-d blocks or on SciPy's k-d tree."""
    if search == "blocks":
        monkeypatch.setattr(knn_mod, "_scipy_kdtree", lambda: None)
    else:
        pytest.importorskip("scipy.spatial", reason="SciPy not installed")


@pytest.mark.parametrize("search", ["blocks", "tree"])
def test_homogeneous_and_larger_clouds(p3d, monkeypatch, search):
    # 3000 x 2500 points per cloud: the pruned block path or SciPy's tree.
    _force_search(monkeypatch, search)
    g = _gen(3)
    x = torch.randn(2, 3000, 3, generator=g)
    y = torch.rand(2, 2500, 3, generator=g)
    (ax, ay), (bx, by) = _leaves(x, y)
    _compare(chamfer_distance(ax, ay), p3d.chamfer_distance(bx, by), [ax, ay], [bx, by])


@pytest.mark.parametrize("norm", [1, 2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tree_and_blocks_agree(monkeypatch, norm, dtype):
    """Ragged clouds, both directions, normals: same loss and gradients on both searches."""
    monkeypatch.setattr(knn_mod, "_TREE_MIN_PAIRS", 0)
    monkeypatch.setattr(knn_mod, "_ALL_PAIRS_MAX", 0)
    x, y, xl, yl, xn, yn, w = (t.to(dtype) if t.is_floating_point() else t for t in _inputs(seed=6, P1=400, P2=300))
    results = []
    for search in ("tree", "blocks"):
        _force_search(monkeypatch, search)
        (ax, ay, axn, ayn), _ = _leaves(x, y, xn, yn)
        loss, loss_n = chamfer_distance(ax, ay, xl, yl, axn, ayn, w, norm=norm)
        results.append([loss, loss_n, *torch.autograd.grad(loss + loss_n, [ax, ay, axn, ayn])])
    for a, b in zip(*results):
        assert torch.equal(a, b)


def test_pointclouds_input(p3d):
    from pytorch3d.structures import Pointclouds

    g = _gen(4)
    pts_x = [torch.randn(n, 3, generator=g) for n in (20, 35)]
    pts_y = [torch.randn(n, 3, generator=g) for n in (25, 8)]
    nrm_x = [torch.randn(n, 3, generator=g) for n in (20, 35)]
    nrm_y = [torch.randn(n, 3, generator=g) for n in (25, 8)]
    ours = chamfer_distance(PointClouds(pts_x, nrm_x), PointClouds(pts_y, nrm_y))
    ref = p3d.chamfer_distance(Pointclouds(pts_x, nrm_x), Pointclouds(pts_y, nrm_y))
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    # PyTorch3D's own Pointclouds are accepted too (duck typing).
    mixed = chamfer_distance(Pointclouds(pts_x, nrm_x), PointClouds(pts_y, nrm_y))
    torch.testing.assert_close(mixed[0], ref[0])


def test_empty_target_cloud_matches(p3d):
    x, y, _, _, xn, yn, _ = _inputs(seed=8)
    xl, yl = torch.tensor([40, 10, 3]), torch.tensor([30, 0, 9])
    ours = chamfer_distance(x, y, xl, yl, xn, yn, point_reduction="sum", batch_reduction=None)
    ref = p3d.chamfer_distance(x, y, xl, yl, xn, yn, point_reduction="sum", batch_reduction=None)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_zero_weights(p3d):
    x, y, xl, yl, _, _, _ = _inputs(seed=9)
    xr = x.clone().requires_grad_()
    loss, loss_n = chamfer_distance(xr, y, xl, yl, weights=torch.zeros(3))
    ref, _ = p3d.chamfer_distance(x, y, xl, yl, weights=torch.zeros(3))
    assert float(loss.detach()) == float(ref) == 0.0
    assert loss_n is None
    loss.backward()
    assert float(xr.grad.abs().max()) == 0.0


def test_double_precision_runs():
    x, y, xl, yl, _, _, _ = _inputs(seed=1)
    loss64, _ = chamfer_distance(x.double(), y.double(), xl, yl)
    loss32, _ = chamfer_distance(x, y, xl, yl)
    assert loss64.dtype == torch.float64
    torch.testing.assert_close(loss64.float(), loss32, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(x=torch.randn(2, 5)), "x"),
        (dict(x=torch.randn(2, 5, 3).long()), "x"),
        (dict(x=[1, 2, 3]), "x"),
        (dict(y=torch.randn(3, 5, 3)), "y"),
        (dict(y=torch.randn(2, 5, 2)), "y"),
        (dict(y=torch.randn(2, 5, 3).double()), "y"),
        (dict(x=torch.randn(2, 0, 3)), "x"),
        (dict(y=torch.randn(2, 0, 3)), "y"),
        (dict(y=torch.full((2, 5, 3), float("nan"))), "y"),
        (dict(x_lengths=torch.tensor([9, 1])), "x_lengths"),
        (dict(y_lengths=torch.tensor([1])), "y_lengths"),
        (dict(x_normals=torch.randn(2, 4, 2), y_normals=torch.randn(2, 5, 3)), "x_normals"),
        (dict(weights=torch.tensor([1.0, -1.0])), "weights"),
        (dict(weights=torch.ones(3)), "weights"),
        (dict(batch_reduction="avg"), "batch_reduction"),
        (dict(point_reduction="min"), "point_reduction"),
        (dict(point_reduction=None), "batch_reduction"),
        (dict(norm=3), "norm"),
        (dict(point_reduction="max", x_normals=torch.randn(2, 4, 3), y_normals=torch.randn(2, 5, 3)), "normals"),
    ],
)
def test_bad_input(kwargs, match):
    args = dict(x=torch.randn(2, 4, 3), y=torch.randn(2, 5, 3))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        chamfer_distance(**args)
