"""Point rasteriser, compositors and PointsRenderer: PyTorch3D parity, gradients, edge cases."""

import pytest
import torch

import unrender.render.points as UP
import unrender.render.points.rasterizer as UR
from unrender.render import (
    AlphaCompositor,
    NormWeightedCompositor,
    PointsRasterizationSettings,
    PointsRasterizer,
    PointsRenderer,
    rasterize_points,
)
from unrender.structures import PointClouds

P = pytest.importorskip("pytorch3d.renderer", reason="PyTorch3D reference not installed")
from pytorch3d.renderer import compositing as PC  # noqa: E402
from pytorch3d.structures import Pointclouds  # noqa: E402

pytestmark = pytest.mark.pytorch3d


def _clouds(seed=0, sizes=(1500, 700)):
    g = torch.Generator().manual_seed(seed)
    # x, y beyond the image on every side; some z < 0 (behind the camera: skipped)
    return [torch.rand(n, 3, generator=g) * torch.tensor([2.6, 2.6, 2.0]) - torch.tensor([1.3, 1.3, 0.2]) for n in sizes]


def _same_pixels(a, b):
    """Fraction of pixels whose K indices agree."""
    return float((a.long() == b.long()).all(-1).float().mean())


@pytest.mark.parametrize(
    "image_size, radius, K",
    [(64, 0.05, 4), ((40, 72), 0.08, 8), ((72, 40), 0.03, 3), (33, 0.2, 2), (16, 0.001, 1)],
)
def test_rasterize_points_parity(image_size, radius, K):
    pts = _clouds()
    ref = P.rasterize_points(Pointclouds(pts), image_size, radius, K)
    ours = rasterize_points(PointClouds(pts), image_size, radius, K)
    assert ours[0].shape == ref[0].shape and ours[0].dtype == torch.int64
    assert _same_pixels(ours[0], ref[0]) >= 0.999
    same = (ours[0] == ref[0].long()).all(-1)
    assert float((ours[1] - ref[1])[same].abs().max()) < 1e-6
    assert float((ours[2] - ref[2])[same].abs().max()) < 1e-6


@pytest.mark.parametrize("varied", [False, True])
def test_rasterize_points_per_point_radius_ties_and_many_chunks(monkeypatch, varied):
    pts = _clouds(1, (900, 400))
    pts[0][::3, 2] = 0.5  # many equal depths: ties go to the lower index
    g = torch.Generator().manual_seed(2)
    # (N, P) padded radii; widely varied ones take the per-point-box path
    radius = torch.rand(2, 900, generator=g) * 0.2 + 0.005 if varied else torch.full((2, 900), 0.06)
    ref = P.rasterize_points(Pointclouds(pts), 48, radius, 5)
    monkeypatch.setattr(UR, "_CHUNK", 500)  # dozens of chunks: the front-to-back merge
    ours = rasterize_points(PointClouds(pts), 48, radius, 5)
    assert _same_pixels(ours[0], ref[0]) >= 0.999
    monkeypatch.setattr(UR, "_CHUNK", 1 << 18)
    assert torch.equal(rasterize_points(PointClouds(pts), 48, radius, 5)[0], ours[0])


def test_rasterize_points_gradients_match():
    pts = _clouds(3, (600,))
    a = pts[0].clone().requires_grad_()
    b = pts[0].clone().requires_grad_()
    ref = P.rasterize_points(Pointclouds([a]), 40, 0.1, 4)
    ours = rasterize_points(PointClouds([b]), 40, 0.1, 4)
    g = torch.Generator().manual_seed(4)
    wz, wd = torch.rand(ref[1].shape, generator=g), torch.rand(ref[2].shape, generator=g)
    ((ref[1] * wz).sum() + (ref[2] * wd).sum()).backward()
    ((ours[1] * wz).sum() + (ours[2] * wd).sum()).backward()
    assert float(b.grad.abs().max()) > 0
    assert float((a.grad - b.grad).abs().max()) < 1e-4


@pytest.mark.parametrize("name", ["alpha_composite", "norm_weighted_sum", "weighted_sum"])
def test_compositing_functions_parity(name):
    pts = _clouds(5)
    idx, _, d = rasterize_points(PointClouds(pts), (36, 44), 0.09, 6)
    alphas = (1 - d / 0.09**2).permute(0, 3, 1, 2).contiguous()
    feats = torch.rand(4, sum(p.shape[0] for p in pts), generator=torch.Generator().manual_seed(6))
    pidx = idx.permute(0, 3, 1, 2)
    ref = getattr(PC, name)(pidx, alphas, feats)
    ours = getattr(UP, name)(pidx, alphas, feats)
    assert float((ref - ours).abs().max()) < 1e-5
    # tiny weights: the 1e-4 floor of the normalisation
    assert float((getattr(PC, name)(pidx, alphas * 1e-6, feats) - getattr(UP, name)(pidx, alphas * 1e-6, feats)).abs().max()) < 1e-6


@pytest.mark.parametrize("compositor", ["alpha", "norm_weighted"])
@pytest.mark.parametrize("background", [None, (0.1, 0.2, 0.3), (0.1, 0.2, 0.3, 0.5)])
def test_points_renderer_end_to_end_and_gradients(compositor, background):
    from unrender.cameras import FoVPerspectiveCameras, look_at_view_transform

    g = torch.Generator().manual_seed(7)
    pts = torch.randn(2500, 3, generator=g) * 0.5
    feats = torch.rand(2500, 4 if background and len(background) == 4 else 3, generator=g)
    R, T = look_at_view_transform(3.0, 15.0, 40.0)
    Rp, Tp = P.look_at_view_transform(3.0, 15.0, 40.0)
    comp_p = (P.AlphaCompositor if compositor == "alpha" else P.NormWeightedCompositor)(background_color=background)
    comp_u = (AlphaCompositor if compositor == "alpha" else NormWeightedCompositor)(background_color=background)
    rs = dict(image_size=(56, 64), radius=0.04, points_per_pixel=6)
    xp, fp = pts.clone().requires_grad_(), feats.clone().requires_grad_()
    xu, fu = pts.clone().requires_grad_(), feats.clone().requires_grad_()
    ref = P.PointsRenderer(P.PointsRasterizer(P.FoVPerspectiveCameras(R=Rp, T=Tp), P.PointsRasterizationSettings(**rs)), comp_p)(
        Pointclouds([xp], features=[fp])
    )
    ours = PointsRenderer(PointsRasterizer(FoVPerspectiveCameras(R=R, T=T), PointsRasterizationSettings(**rs)), comp_u)(
        PointClouds([xu], features=[fu])
    )
    assert ours.shape == ref.shape
    # The projections (composed transforms vs transform_points_ndc) may differ
    # in the last bit, which can flip a rare borderline pixel: compare robustly.
    diff = (ref - ours).detach().abs().amax(-1)
    assert float((diff > 1e-4).float().mean()) <= 1e-3
    w = torch.rand(ref.shape, generator=g)
    (ref * w).sum().backward()
    (ours * w).sum().backward()
    assert float((fp.grad - fu.grad).abs().max()) < 1e-3
    assert float(xu.grad.abs().max()) > 0
    assert float((xp.grad - xu.grad).abs().mean()) < 1e-2 * float(xp.grad.abs().mean())


def test_compositor_by_name_and_unknown_name():
    r = PointsRasterizer(raster_settings=PointsRasterizationSettings(image_size=8))
    assert isinstance(PointsRenderer(r, "alpha").compositor, AlphaCompositor)
    assert isinstance(PointsRenderer(r, "norm_weighted").compositor, NormWeightedCompositor)
    with pytest.raises(ValueError, match="compositor"):
        PointsRenderer(r, "over")


def test_depth_window_leaves_out_points_far_behind_a_pixels_nearest():
    from unrender.cameras import FoVPerspectiveCameras

    # a red point 2 units in front of a blue one on the same ray; soft splats let the blue show
    cloud = PointClouds([torch.tensor([[0.0, 0.0, 3.0], [0.0, 0.0, 5.0]])], features=[torch.eye(3)[[0, 2]]])
    rs = PointsRasterizationSettings(image_size=16, radius=0.3, points_per_pixel=2)
    raster = PointsRasterizer(FoVPerspectiveCameras(), raster_settings=rs)
    mixed = PointsRenderer(raster, "alpha")(cloud)[0]
    kept = PointsRenderer(raster, "alpha", depth_window=1.0)(cloud)[0]
    assert float(mixed[..., 2].max()) > 0.1  # PyTorch3D's behaviour: the far point shows at splat edges
    assert float(kept[..., 2].max()) == 0.0 and torch.equal(kept[..., 0], mixed[..., 0])  # the near point as before
    assert float(kept[..., 0].max()) > 0.9
    wide = PointsRenderer(raster, "alpha", depth_window=3.0)(cloud)[0]  # within the window: composited
    assert torch.equal(wide, mixed)
    with pytest.raises(ValueError, match="depth_window"):
        PointsRenderer(raster, depth_window=-1.0)


def test_bad_inputs_name_the_argument():
    pc = PointClouds(_clouds(8, (50,)))
    with pytest.raises(ValueError, match="radius"):
        rasterize_points(pc, 16, -0.1, 2)
    with pytest.raises(ValueError, match="radius"):
        rasterize_points(pc, 16, torch.full((3, 7), 0.1), 2)
    with pytest.raises(ValueError, match="points_per_pixel"):
        rasterize_points(pc, 16, 0.1, 0)
    with pytest.raises(ValueError, match="image_size"):
        rasterize_points(pc, (16, 0), 0.1, 2)
    idx, _, d = rasterize_points(pc, 16, 0.1, 2)
    pidx, a = idx.permute(0, 3, 1, 2), d.permute(0, 3, 1, 2)
    with pytest.raises(ValueError, match="alphas"):
        UP.alpha_composite(pidx, a[:, :1], torch.rand(3, 50))
    with pytest.raises(ValueError, match="background_color"):
        AlphaCompositor(background_color=(0.0, 1.0, 0.0, 1.0, 0.0))(pidx, a, torch.rand(3, 50))


def test_empty_and_hidden_clouds_give_background_never_nan():
    behind = PointClouds([torch.tensor([[0.0, 0.0, -1.0], [0.1, 0.0, -0.5]]), torch.zeros(0, 3)])
    idx, z, d = rasterize_points(behind, 12, 0.5, 3)
    assert bool((idx == -1).all()) and bool((z == -1).all()) and bool((d == -1).all())
    pidx = idx.permute(0, 3, 1, 2)
    ones = torch.ones_like(d).permute(0, 3, 1, 2)
    for comp in (AlphaCompositor(), NormWeightedCompositor()):
        img = comp(pidx, ones, torch.rand(3, 2))
        assert bool(torch.isfinite(img).all()) and float(img.abs().max()) == 0.0
    img = AlphaCompositor(background_color=(0.2, 0.4, 0.6))(pidx, ones, torch.rand(3, 2))
    assert torch.allclose(img, torch.tensor([0.2, 0.4, 0.6])[None, :, None, None].expand(2, 3, 12, 12))
    zero_r = rasterize_points(PointClouds([torch.tensor([[0.0, 0.0, 1.0]])]), 8, 0.0, 2)[0]
    assert bool((zero_r == -1).all())
