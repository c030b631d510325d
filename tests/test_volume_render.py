"""Volume rendering: raysamplers, sample_pdf, raymarchers and VolumeRenderer against
PyTorch3D's implicit renderer (same cameras through to_pytorch3d, same seeds), plus
properties of their own."""

import time

import pytest
import torch

from unrender.cameras import FoVOrthographicCameras, FoVPerspectiveCameras, PerspectiveCameras, look_at_view_transform, to_pytorch3d
from unrender.render import (
    AbsorptionOnlyRaymarcher,
    EmissionAbsorptionRaymarcher,
    ImplicitRenderer,
    MonteCarloRaysampler,
    MultinomialRaysampler,
    NDCMultinomialRaysampler,
    RayBundle,
    VolumeRenderer,
    VolumeSampler,
    emission_absorption_weights,
    expected_depth,
    ray_bundle_to_ray_points,
    sample_pdf,
)
from unrender.structures import Volumes

PR = pytest.importorskip("pytorch3d.renderer", reason="PyTorch3D reference not installed")
from pytorch3d.renderer.implicit.sample_pdf import sample_pdf as ref_sample_pdf, sample_pdf_python  # noqa: E402
from pytorch3d.structures import Volumes as RefVolumes  # noqa: E402

TOL = dict(atol=1e-5, rtol=1e-5)


def _cameras(kind="fov", n=2):
    R, T = look_at_view_transform(dist=torch.tensor([2.7, 3.1][:n]), elev=torch.tensor([15.0, -30.0][:n]),
                                  azim=torch.tensor([30.0, 200.0][:n]))
    if kind == "fov":
        return FoVPerspectiveCameras(R=R, T=T, fov=50.0)
    if kind == "ortho":
        return FoVOrthographicCameras(R=R, T=T, max_y=1.2, min_y=-1.2, max_x=1.2, min_x=-1.2)
    return PerspectiveCameras(R=R, T=T, focal_length=((1.8, 1.6),), principal_point=((0.1, -0.05),))


def _assert_bundles_close(a, b, **tol):
    for name in ("origins", "directions", "lengths", "xys"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name), **(tol or TOL), msg=lambda m: f"{name}: {m}")


def _seeded(seed, f, *args, **kwargs):
    torch.manual_seed(seed)
    return f(*args, **kwargs)


@pytest.mark.parametrize("kind", ["fov", "ortho", "perspective"])
@pytest.mark.parametrize("size", [(6, 9), (8, 5)])
def test_ndc_grid_rays_match_pytorch3d(kind, size):
    H, W = size
    cams = _cameras(kind)
    args = dict(image_width=W, image_height=H, n_pts_per_ray=7, min_depth=0.5, max_depth=4.0)
    for extra in ({}, {"unit_directions": True}):
        ours = NDCMultinomialRaysampler(**args, **extra)(cams)
        ref = PR.NDCMultinomialRaysampler(**args, **extra)(to_pytorch3d(cams))
        assert ours.origins.shape == (2, H, W, 3) and ours.lengths.shape == (2, H, W, 7)
        _assert_bundles_close(ours, ref)


def test_random_subsets_stratified_and_masks_match_pytorch3d():
    cams = _cameras()
    args = dict(image_width=10, image_height=8, n_pts_per_ray=5, min_depth=1.0, max_depth=3.0)
    p3 = to_pytorch3d(cams)
    ours, ref = NDCMultinomialRaysampler(**args), PR.NDCMultinomialRaysampler(**args)
    mask = torch.zeros(2, 8, 10)
    mask[0, 2:5, 3:7] = 1.0
    mask[1, :3, :] = 0.5
    for kw in ({"n_rays_per_image": 13}, {"stratified_sampling": True}, {"mask": mask}, {"mask": mask, "n_rays_per_image": 30}):
        a, b = _seeded(3, ours, cams, **kw), _seeded(3, ref, p3, **kw)
        _assert_bundles_close(a, b)
    sub = _seeded(4, ours, cams, mask=mask)
    assert sub.xys.shape == (2, 12, 1, 2)  # the smallest mask count
    # the subset's rays lie inside the mask and are distinct (drawn without replacement)
    grid = ours._xy_grid.reshape(-1, 2)
    idx = (sub.xys[0, :, 0, None] - grid[None]).abs().sum(-1).argmin(-1)
    assert bool(mask[0].reshape(-1)[idx].all()) and len(set(idx.tolist())) == 12


def test_stratified_depths_stay_in_their_strata():
    cams = _cameras()
    b = NDCMultinomialRaysampler(image_width=4, image_height=4, n_pts_per_ray=9, min_depth=1.0, max_depth=5.0,
                                 stratified_sampling=True)(cams)
    edges = torch.linspace(1.0, 5.0, 9)
    mids = torch.cat([edges[:1], (edges[1:] + edges[:-1]) / 2, edges[-1:]])
    assert bool((b.lengths >= mids[:-1]).all() and (b.lengths <= mids[1:]).all())
    assert not torch.equal(b.lengths[0, 0, 0], edges)


def test_monte_carlo_and_general_grid_match_pytorch3d():
    cams = _cameras("perspective")
    args = (-0.9, 0.8, -0.7, 1.0, 50, 6, 0.5, 3.5)
    a = _seeded(5, MonteCarloRaysampler(*args, stratified_sampling=True), cams)
    b = _seeded(5, PR.MonteCarloRaysampler(*args, stratified_sampling=True), to_pytorch3d(cams))
    _assert_bundles_close(a, b)
    assert bool((a.xys[..., 0] >= -0.9).all() and (a.xys[..., 0] <= 0.8).all())
    kw = dict(min_x=-1.0, max_x=1.0, min_y=0.5, max_y=-0.5, image_width=5, image_height=3, n_pts_per_ray=4,
              min_depth=1.0, max_depth=2.0)
    _assert_bundles_close(MultinomialRaysampler(**kw)(cams), PR.MultinomialRaysampler(**kw)(to_pytorch3d(cams)))


def test_rays_pass_through_their_pixels():
    cams = _cameras()
    b = NDCMultinomialRaysampler(image_width=7, image_height=5, n_pts_per_ray=4, min_depth=1.0, max_depth=3.0)(cams)
    pts = ray_bundle_to_ray_points(b)  # (2, 5, 7, 4, 3)
    proj = cams.transform_points(pts.reshape(2, -1, 3)).reshape(pts.shape)
    torch.testing.assert_close(proj[..., :2], b.xys[..., None, :].expand(*pts.shape[:-1], 2), atol=1e-4, rtol=0)
    depth = cams.get_world_to_view_transform().transform_points(pts.reshape(2, -1, 3))[..., 2].reshape(b.lengths.shape)
    torch.testing.assert_close(depth, b.lengths, atol=1e-4, rtol=0)


@pytest.mark.parametrize("det", [True, False])
def test_sample_pdf_matches_pytorch3d(det):
    g = torch.Generator().manual_seed(0)
    bins = torch.cumsum(torch.rand(3, 4, 17, generator=g) + 0.01, -1)
    weights = torch.rand(3, 4, 16, generator=g)
    weights[0, 0] = 0.0  # an empty row samples uniformly
    weights[1, 1, 3:9] = 0.0
    ours = _seeded(7, sample_pdf, bins, weights, 33, det=det)
    torch.testing.assert_close(ours, _seeded(7, sample_pdf_python, bins, weights, 33, det=det), **TOL)
    # PyTorch3D's compiled kernel agrees except on an all-zero row, which it sends to the last edge
    ref = _seeded(7, ref_sample_pdf, bins, weights, 33, det=det)
    torch.testing.assert_close(ours.reshape(12, 33)[1:], ref.reshape(12, 33)[1:], atol=1e-4, rtol=1e-4)
    if det:  # the empty row: equal probability per bin, so quantile u sits at bin position 16 u
        pos = torch.linspace(0, 1, 33) * 16
        i = pos.floor().long().clamp(max=15)
        edges = bins[0, 0]
        torch.testing.assert_close(ours[0, 0], edges[i] + (pos - i) * (edges[i + 1] - edges[i]), atol=1e-5, rtol=1e-5)
    assert bool((ours >= bins[..., :1]).all() and (ours <= bins[..., -1:]).all())


def test_sample_pdf_follows_the_weights():
    bins = torch.linspace(0.0, 1.0, 5).expand(1, 5)
    weights = torch.tensor([[0.0, 3.0, 1.0, 0.0]])
    s = _seeded(0, sample_pdf, bins, weights, 20000)
    assert s.shape == (1, 20000)
    share = torch.stack([((s >= lo) & (s < lo + 0.25)).float().mean() for lo in (0.0, 0.25, 0.5, 0.75)])
    torch.testing.assert_close(share, torch.tensor([0.0, 0.75, 0.25, 0.0]), atol=0.015, rtol=0)
    with pytest.raises(ValueError, match="weights"):
        sample_pdf(bins, -weights - 1, 4)
    with pytest.raises(ValueError, match="weights"):
        sample_pdf(bins, weights[:, :3], 4)


def test_raymarchers_match_pytorch3d_with_gradients():
    g = torch.Generator().manual_seed(1)
    d = torch.rand(2, 5, 6, 12, 1, generator=g).requires_grad_()
    f = torch.rand(2, 5, 6, 12, 3, generator=g).requires_grad_()
    d_ref, f_ref = d.detach().clone().requires_grad_(), f.detach().clone().requires_grad_()
    for thick in (1, 2):
        ours = EmissionAbsorptionRaymarcher(surface_thickness=thick)(rays_densities=d, rays_features=f)
        ref = PR.EmissionAbsorptionRaymarcher(surface_thickness=thick)(rays_densities=d_ref, rays_features=f_ref)
        torch.testing.assert_close(ours, ref, **TOL)
        w = torch.rand(ours.shape, generator=g)
        torch.testing.assert_close(torch.autograd.grad((ours * w).sum(), (d, f)),
                                   torch.autograd.grad((ref * w).sum(), (d_ref, f_ref)), **TOL)
    ao = AbsorptionOnlyRaymarcher()(rays_densities=d)
    torch.testing.assert_close(ao, PR.AbsorptionOnlyRaymarcher()(rays_densities=d_ref), **TOL)
    assert torch.autograd.grad(ao.sum(), d)[0].abs().sum() > 0


def test_compositing_properties():
    lengths = torch.linspace(1.0, 3.0, 21).expand(4, 21)
    dens = torch.zeros(4, 21)
    dens[0, 10:] = 1.0  # an opaque wall at length 2
    dens[1] = 0.0  # empty
    dens[2:] = 0.3
    w = emission_absorption_weights(dens)
    assert bool((w.sum(-1) <= 1.0 + 1e-6).all())
    torch.testing.assert_close(expected_depth(w, lengths)[0], torch.tensor([2.0]), atol=1e-6, rtol=0)
    assert float(expected_depth(w, lengths)[1]) == 0.0
    out = EmissionAbsorptionRaymarcher()(dens[..., None], torch.ones(4, 21, 3))
    torch.testing.assert_close(out[:2, 3], torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(out[:, :3], w.sum(-1, keepdim=True).expand(4, 3))  # white features -> the opacity of the weights
    with pytest.warns(UserWarning, match="rays_densities"):
        AbsorptionOnlyRaymarcher()(dens[..., None] * 2)
    with pytest.raises(ValueError, match="rays_features"):
        EmissionAbsorptionRaymarcher()(dens[..., None], torch.ones(4, 20, 3))
    with pytest.raises(ValueError, match="rays_densities"):
        AbsorptionOnlyRaymarcher()(dens)


def _volume_pair(res=16, with_features=True, requires_grad=False):
    g = torch.Generator().manual_seed(2)
    dens = (torch.rand(2, 1, res, res + 2, res + 1, generator=g) * 0.3).requires_grad_(requires_grad)
    feats = torch.rand(2, 3, res, res + 2, res + 1, generator=g).requires_grad_(requires_grad) if with_features else None
    kw = dict(voxel_size=torch.tensor([[2.0 / res], [1.5 / res]]), volume_translation=torch.tensor([[0.1, -0.2, 0.0], [0.0, 0.1, 0.3]]))
    return dens, feats, Volumes(dens, feats, **kw), kw


@pytest.mark.parametrize("with_features", [True, False])
def test_volume_renderer_matches_pytorch3d(with_features):
    dens, feats, vols, kw = _volume_pair(with_features=with_features, requires_grad=True)
    d2 = dens.detach().clone().requires_grad_()
    f2 = feats.detach().clone().requires_grad_() if with_features else None
    ref_vols = RefVolumes(d2, f2, **kw)
    cams = _cameras()
    raymarcher = EmissionAbsorptionRaymarcher() if with_features else AbsorptionOnlyRaymarcher()
    ref_marcher = PR.EmissionAbsorptionRaymarcher() if with_features else PR.AbsorptionOnlyRaymarcher()
    args = dict(image_width=20, image_height=16, n_pts_per_ray=24, min_depth=1.0, max_depth=4.5)
    ours, bundle = VolumeRenderer(NDCMultinomialRaysampler(**args), raymarcher)(cams, vols)
    ref, _ = PR.VolumeRenderer(PR.NDCMultinomialRaysampler(**args), ref_marcher)(to_pytorch3d(cams), ref_vols)
    assert ours.shape == (2, 16, 20, 4 if with_features else 1) and bundle.lengths.shape == (2, 16, 20, 24)
    torch.testing.assert_close(ours, ref, **TOL)
    assert float(ours.detach()[..., -1].max()) > 0.5  # the volume is in view
    w = torch.rand(ours.shape, generator=torch.Generator().manual_seed(3))
    inputs, ref_inputs = ((dens, feats), (d2, f2)) if with_features else ((dens,), (d2,))
    for a, b in zip(torch.autograd.grad((ours * w).sum(), inputs), torch.autograd.grad((ref * w).sum(), ref_inputs)):
        assert a.abs().sum() > 0
        torch.testing.assert_close(a, b, **TOL)


def test_volume_sampler_nearest_and_padding_match_pytorch3d():
    dens, feats, vols, kw = _volume_pair()
    cams = _cameras()
    bundle = MonteCarloRaysampler(-1.0, 1.0, -1.0, 1.0, 40, 9, 1.0, 4.5)(cams)
    for mode, pad in (("nearest", "zeros"), ("bilinear", "border")):
        ours = VolumeSampler(vols, sample_mode=mode, padding_mode=pad)(bundle)
        ref = PR.VolumeSampler(RefVolumes(dens, feats, **kw), sample_mode=mode, padding_mode=pad)(bundle)
        for a, b in zip(ours, ref):
            torch.testing.assert_close(a, b, **TOL)
    with pytest.raises(ValueError, match="ray_bundle"):
        VolumeSampler(vols)(RayBundle(bundle.origins[:1], bundle.directions[:1], bundle.lengths[:1], bundle.xys[:1]))
    with pytest.raises(ValueError, match="sample_mode"):
        VolumeSampler(vols, sample_mode="cubic")


def test_implicit_renderer_renders_a_sphere():
    def sphere(ray_bundle, **kwargs):
        pts = ray_bundle_to_ray_points(ray_bundle)
        dens = (pts.norm(dim=-1, keepdim=True) < 0.7).float()
        return dens, torch.nn.functional.normalize(pts, dim=-1) * 0.5 + 0.5

    cams = _cameras()
    sampler = NDCMultinomialRaysampler(image_width=32, image_height=32, n_pts_per_ray=200, min_depth=1.0, max_depth=5.0)
    images, bundle = ImplicitRenderer(sampler, EmissionAbsorptionRaymarcher())(cams, sphere)
    # silhouette: a ray hits when it passes within 0.7 of the origin
    o, dvec = bundle.origins, torch.nn.functional.normalize(bundle.directions, dim=-1)
    dist = torch.linalg.cross(-o, dvec, dim=-1).norm(dim=-1)
    inside = dist < 0.69
    outside = dist > 0.71
    assert bool((images[..., 3][inside] > 0.999).all()) and bool((images[..., 3][outside] == 0).all())
    with pytest.raises(ValueError, match="volumetric_function"):
        ImplicitRenderer(sampler, EmissionAbsorptionRaymarcher())(cams, None)
    with pytest.raises(ValueError, match="cameras"):
        sampler(None)


def test_bad_sampler_arguments_named():
    with pytest.raises(ValueError, match="min_depth"):
        NDCMultinomialRaysampler(image_width=4, image_height=4, n_pts_per_ray=3, min_depth=3.0, max_depth=1.0)
    with pytest.raises(ValueError, match="image_width"):
        NDCMultinomialRaysampler(image_width=0, image_height=4, n_pts_per_ray=3, min_depth=1.0, max_depth=2.0)
    with pytest.raises(ValueError, match="mask"):
        NDCMultinomialRaysampler(image_width=4, image_height=4, n_pts_per_ray=3, min_depth=1.0, max_depth=2.0)(
            _cameras(), mask=torch.ones(2, 4, 5))
    with pytest.raises(ValueError, match="n_rays_per_image"):
        MonteCarloRaysampler(-1, 1, -1, 1, 0, 3, 1.0, 2.0)


def test_render_64_cubed_at_128_is_fast():
    res = 64
    dens = (torch.rand(1, 1, res, res, res) * 0.2).requires_grad_()
    feats = torch.rand(1, 3, res, res, res).requires_grad_()
    vols = Volumes(dens, feats, voxel_size=2.0 / res)
    renderer = VolumeRenderer(NDCMultinomialRaysampler(image_width=128, image_height=128, n_pts_per_ray=64,
                                                       min_depth=1.5, max_depth=4.5), EmissionAbsorptionRaymarcher())
    cams = _cameras(n=1)

    def best_of_3(step):
        step()  # warm-up
        times = []
        for _ in range(3):
            t = time.perf_counter()
            step()
            times.append(time.perf_counter() - t)
        return min(times)

    with torch.no_grad():
        forward = best_of_3(lambda: renderer(cams, vols))
    both = best_of_3(lambda: renderer(cams, vols)[0].sum().backward())
    # measured on the shared 2-core machine: about 0.3 s forward, 0.6-0.9 s forward+backward
    assert forward < 1.0, f"64^3 volume at 128x128, 64 points per ray: the render took {forward:.2f} s"
    assert both < 2.5, f"forward+backward took {both:.2f} s"
