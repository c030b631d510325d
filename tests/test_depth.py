"""Depth unprojection and point projection: round trips, analytic scenes, PyTorch3D parity, bad input."""

import math

import pytest
import torch

from unrender.geometry.depth import depth_to_points, project_points, unproject_depth
from unrender.geometry.rotations import random_rotations
from unrender.structures import PointClouds

H, W = 24, 32


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _camera(seed=0, dtype=torch.float64, skew=True):
    """Random OpenCV K (3, 3), rotation R (3, 3) and t (3,)."""
    g = _gen(seed)
    r = torch.rand(6, generator=g, dtype=torch.float64)
    fx, fy = 30 + 40 * r[0], 30 + 40 * r[1]
    s = (r[2] - 0.5) * 4 if skew else 0.0
    K = torch.tensor([[fx, s, W / 2 + 3 * r[3] - 1.5], [0, fy, H / 2 + 3 * r[4] - 1.5], [0, 0, 1]], dtype=torch.float64)
    R = random_rotations(1, g, torch.float64)[0]
    t = torch.randn(3, generator=g, dtype=torch.float64)
    return K.to(dtype), R.to(dtype), t.to(dtype)


def _world_rays(K, R, t):
    """Per-pixel camera centre (3,) and world ray directions (H, W, 3) with camera z = 1 (independent of the code)."""
    v, u = torch.meshgrid(torch.arange(H, dtype=K.dtype), torch.arange(W, dtype=K.dtype), indexing="ij")
    pix = torch.stack([u, v, torch.ones_like(u)], -1)
    cam_dirs = pix @ torch.linalg.inv(K).T
    centre = -R.T @ t
    return centre, cam_dirs @ R  # R^T d for row vectors


def _close(a, b, tol):
    assert a.shape == b.shape, (a.shape, b.shape)
    err = float((a - b).abs().max()) if a.numel() else 0.0
    assert err <= tol, f"max abs error {err:.3g} > {tol:.1g}"


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-9), (torch.float32, 1e-4)])
@pytest.mark.parametrize("depth_type", ["z", "distance"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_scene_round_trip(seed, depth_type, dtype, tol):
    K, R, t = _camera(seed, dtype)
    g = _gen(100 + seed)
    depth = (0.5 + 9.5 * torch.rand(H, W, generator=g, dtype=torch.float64)).to(dtype)
    depth[3, 4], depth[5, 6], depth[7, 8], depth[9, 10] = 0.0, -1.0, math.nan, math.inf
    points, idx = unproject_depth(depth, K, R, t, depth_type=depth_type)
    assert points.shape == (H * W - 4, 3) and idx.shape == (H * W - 4, 2) and idx.dtype == torch.int64
    assert points.dtype == dtype
    uv, z = project_points(points, K, R, t)
    # Back to the integer pixel centres (u = column, v = row) with the stored depth.
    _close(uv, idx.flip(-1).to(dtype), tol)
    d = depth[idx[:, 0], idx[:, 1]]
    if depth_type == "z":
        _close(z, d, tol)
    else:
        cam = points @ R.T + t
        _close(cam.norm(dim=-1), d, tol)
        assert bool((z > 0).all())


def test_round_trip_precision_float32_1e5():
    # Unit-scale scene in float32: pixel and depth round trip within 1e-5 relative.
    K, R, t = _camera(3, torch.float32)
    depth = 1 + torch.rand(H, W, generator=_gen(4))
    points, idx = unproject_depth(depth, K, R, t)
    uv, z = project_points(points, K, R, t)
    _close(uv / W, idx.flip(-1).float() / W, 1e-5)
    _close(z, depth[idx[:, 0], idx[:, 1]], 1e-5)


def test_camera_frame_conventions():
    K = torch.tensor([[100.0, 0, 16], [0, 100, 12], [0, 0, 1]])
    pts = torch.tensor([[0.0, 0, 5], [1, 0, 5], [0, 1, 5], [0, 0, -5]])
    uv, z = project_points(pts, K)
    _close(uv[0], torch.tensor([16.0, 12.0]), 1e-6)  # optical axis -> principal point
    assert uv[1, 0] > 16 and uv[2, 1] > 12  # +x is right (column grows), +y is down (row grows)
    _close(z, torch.tensor([5.0, 5, 5, -5]), 0)
    # A constant z-depth map in the camera frame: x, y from the pixel grid, z constant.
    depth = torch.full((H, W), 2.0)
    points, idx = unproject_depth(depth, K)
    _close(points[:, 2], torch.full((H * W,), 2.0), 1e-6)
    first = points[0]  # pixel (row 0, column 0)
    _close(first, torch.tensor([(0 - 16) * 2 / 100, (0 - 12) * 2 / 100, 2.0]), 1e-6)
    assert idx[:3].tolist() == [[0, 0], [0, 1], [0, 2]]  # row-major order


def test_blender_camera_conversion_sentence():
    # Blender camera at (0, -5, 0) looking along world +y (rotation_euler = (90 deg, 0, 0)).
    cam_to_world = torch.tensor([[1.0, 0, 0, 0], [0, 0, -1, -5], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=torch.float64)
    M = torch.linalg.inv(cam_to_world)
    flip = torch.diag(torch.tensor([1.0, -1, -1], dtype=torch.float64))
    R, t = flip @ M[:3, :3], flip @ M[:3, 3]
    K = torch.tensor([[50.0, 0, 16], [0, 50, 12], [0, 0, 1]], dtype=torch.float64)
    # In front of the camera (world origin), above it (world +z = Blender camera +y = image up), to its right (+x).
    uv, z = project_points(torch.tensor([[0.0, 0, 0], [0, 0, 1], [1, 0, 0]], dtype=torch.float64), K, R, t)
    _close(z, torch.tensor([5.0, 5, 5], dtype=torch.float64), 1e-12)
    _close(uv[0], torch.tensor([16.0, 12], dtype=torch.float64), 1e-12)
    assert uv[1, 1] < 12 and uv[2, 0] > 16


# --------------------------------------------------------------------------- analytic scenes


@pytest.mark.parametrize("seed", [0, 1])
def test_plane_depth_map_unprojects_onto_plane(seed):
    K, R, t = _camera(seed)
    centre, dirs = _world_rays(K, R, t)
    # Plane n . x = c through a point 4 units in front of the camera, tilted.
    forward = R[2]
    n = forward + 0.4 * R[0] - 0.3 * R[1]
    n = n / n.norm()
    c = float(n @ (centre + 4 * forward))
    lam = (c - n @ centre) / (dirs @ n)  # ray parameter; camera z of the hit since dirs have z_cam = 1
    depth = torch.where(lam > 0, lam, torch.zeros_like(lam))
    points, idx = unproject_depth(depth, K, R, t)
    assert points.shape[0] == int((lam > 0).sum()) > 0
    _close(points @ n, torch.full((points.shape[0],), c, dtype=torch.float64), 1e-9)
    _close(points, centre + lam[idx[:, 0], idx[:, 1], None] * dirs[idx[:, 0], idx[:, 1]], 1e-9)


@pytest.mark.parametrize("depth_type", ["distance", "z"])
def test_sphere_depth_map_unprojects_onto_sphere(depth_type):
    K, R, t = _camera(5)
    cam_centre, dirs = _world_rays(K, R, t)
    sphere_c = cam_centre + 6 * R[2] + 0.5 * R[0]
    r = 1.5
    unit = dirs / dirs.norm(dim=-1, keepdim=True)
    oc = cam_centre - sphere_c
    b = unit @ oc
    disc = b**2 - (oc @ oc - r**2)
    hit = disc > 0
    dist = torch.where(hit, -b - disc.clamp_min(0).sqrt(), torch.full_like(b, math.inf))  # misses: inf, skipped
    depth = dist if depth_type == "distance" else dist / dirs.norm(dim=-1)
    points, idx = unproject_depth(depth, K, R, t, depth_type=depth_type)
    assert points.shape[0] == int(hit.sum()) > 20
    _close((points - sphere_c).norm(dim=-1), torch.full((points.shape[0],), r, dtype=torch.float64), 1e-9)
    assert bool(hit[idx[:, 0], idx[:, 1]].all())
    # All visible points face the camera.
    assert bool((((points - sphere_c) * (cam_centre - points)).sum(-1) >= -1e-9).all())


# --------------------------------------------------------------------------- PointClouds, colours, masks, batches


def test_depth_to_points_colours_and_mask():
    K, R, t = _camera(6, torch.float32)
    depth = 1 + torch.rand(H, W, generator=_gen(7))
    depth[0] = 0
    image = torch.rand(H, W, 3, generator=_gen(8))
    mask = torch.zeros(H, W, dtype=torch.bool)
    mask[:, : W // 2] = True
    clouds = depth_to_points(depth, K, R, t, image=image, mask=mask)
    assert isinstance(clouds, PointClouds) and len(clouds) == 1
    pts, idx = unproject_depth(depth, K, R, t, mask=mask)
    assert pts.shape[0] == (H - 1) * (W // 2)
    _close(clouds.points_list()[0], pts, 0)
    _close(clouds.features_list()[0], image[idx[:, 0], idx[:, 1]], 0)
    assert bool((idx[:, 1] < W // 2).all()) and bool((idx[:, 0] > 0).all())
    # uint8 colours become [0, 1] floats; grey (H, W) images give one channel.
    img8 = (image * 255).to(torch.uint8)
    f8 = depth_to_points(depth, K, R, t, image=img8).features_packed()
    _close(f8, img8[1:].reshape(-1, 3).float() / 255, 1e-7)
    grey = depth_to_points(depth, K, R, t, image=image[..., 0]).features_packed()
    assert grey.shape == ((H - 1) * W, 1)
    assert depth_to_points(depth, K, R, t).features_list() is None


def test_depth_to_points_batch_matches_single():
    cams = [_camera(s, torch.float32) for s in (10, 11, 12)]
    Ks = torch.stack([c[0] for c in cams])
    Rs = torch.stack([c[1] for c in cams])
    ts = torch.stack([c[2] for c in cams])
    depth = 1 + torch.rand(3, H, W, generator=_gen(13))
    depth[1, :5] = -1  # clouds of different sizes
    image = torch.rand(3, H, W, 4, generator=_gen(14))
    mask = torch.rand(3, H, W, generator=_gen(15)) > 0.3
    for K in (Ks, Ks[0]):  # per-view or shared intrinsics
        clouds = depth_to_points(depth, K, Rs, ts, image=image, mask=mask, depth_type="distance")
        assert len(clouds) == 3
        for b in range(3):
            Kb = K[b] if K.dim() == 3 else K
            pts, idx = unproject_depth(depth[b], Kb, Rs[b], ts[b], depth_type="distance", mask=mask[b])
            _close(clouds.points_list()[b], pts, 0)
            _close(clouds.features_list()[b], image[b][idx[:, 0], idx[:, 1]], 0)
    uv, z = project_points(clouds.points_padded(), Ks, Rs, ts)
    assert uv.shape == (3, clouds.points_padded().shape[1], 2) and z.shape == uv.shape[:2]


def test_empty_and_default_extrinsics():
    K = torch.tensor([[10.0, 0, 2], [0, 10, 2], [0, 0, 1]])
    pts, idx = unproject_depth(torch.zeros(4, 4), K)
    assert pts.shape == (0, 3) and idx.shape == (0, 2)
    clouds = depth_to_points(torch.full((4, 4), -1.0), K)
    assert clouds.isempty()


def test_gradients_flow():
    K, R, t = _camera(16)
    depth = (1 + torch.rand(4, 5, generator=_gen(17), dtype=torch.float64)).requires_grad_(True)
    K.requires_grad_(True)
    t.requires_grad_(True)
    fn = lambda d, k, tt: unproject_depth(d, k, R, tt, depth_type="distance")[0]  # noqa: E731
    assert torch.autograd.gradcheck(fn, (depth, K, t), fast_mode=True)
    pts = torch.randn(6, 3, dtype=torch.float64) + torch.tensor([0, 0, 5.0], dtype=torch.float64)
    pts.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: project_points(p, K.detach(), R, t.detach())[0], (pts,), fast_mode=True)


# --------------------------------------------------------------------------- PyTorch3D parity


def test_parity_with_pytorch3d_opencv_cameras():
    conv = pytest.importorskip("pytorch3d.utils")
    from pytorch3d.renderer.cameras import get_screen_to_ndc_transform
    for seed in (20, 21):
        K, R, t = _camera(seed, torch.float32, skew=False)
        cams = conv.cameras_from_opencv_projection(R[None], t[None], K[None], torch.tensor([[H, W]]))
        pts = (torch.randn(50, 3, generator=_gen(seed)) * 0.5 + (-R.T @ t) + 4 * R[2])
        uv, z = project_points(pts, K, R, t)
        ref = cams.transform_points_screen(pts[None])[0]
        _close(uv, ref[:, :2], 2e-3)
        # Unprojection of (u, v, z) through PyTorch3D lands on the same world points.
        xyz = torch.cat([uv, z[:, None]], -1)[None]
        ndc = get_screen_to_ndc_transform(cams, with_xyflip=True, image_size=(H, W)).transform_points(xyz)
        back = cams.unproject_points(ndc, world_coordinates=True)[0]
        _close(back, pts, 2e-4)


# --------------------------------------------------------------------------- bad input


def _good():
    K, R, t = _camera(30, torch.float32)
    return torch.ones(H, W), K, R, t


@pytest.mark.parametrize(
    "change, name",
    [
        (lambda d, K, R, t: (torch.ones(H), K, R, t), "depth"),
        (lambda d, K, R, t: (torch.ones(H, W, dtype=torch.int64), K, R, t), "depth"),
        (lambda d, K, R, t: (d, K[:2], R, t), "K"),
        (lambda d, K, R, t: (d, torch.cat([K, K[:, :1]], 1), R, t), "K"),
        (lambda d, K, R, t: (d, K * torch.tensor([[0.0, 1, 1], [1, 1, 1], [1, 1, 1]]), R, t), "K"),
        (lambda d, K, R, t: (d, K * torch.tensor([[1.0, 1, 1], [1, 0, 1], [1, 1, 1]]), R, t), "K"),
        (lambda d, K, R, t: (d, K * torch.tensor([[-1.0, 1, 1], [1, 1, 1], [1, 1, 1]]), R, t), "K"),
        (lambda d, K, R, t: (d, K * 2, R, t), "K"),  # last row (0, 0, 2)
        (lambda d, K, R, t: (d, K + torch.tensor([[0.0, 0, 0], [0.5, 0, 0], [0, 0, 0]]), R, t), "K"),
        (lambda d, K, R, t: (d, K.clone().fill_(math.nan), R, t), "K"),
        (lambda d, K, R, t: (d, K[None].expand(2, 3, 3), R, t), "K"),
        (lambda d, K, R, t: (d, K, torch.zeros(3, 3), t), "R"),
        (lambda d, K, R, t: (d, K, torch.tensor([[1.0, 0, 0], [0, 1, 0], [1, 1, 0]]), t), "R"),
        (lambda d, K, R, t: (d, K, R[:, :2], t), "R"),
        (lambda d, K, R, t: (d, K, R, t[:2]), "t"),
        (lambda d, K, R, t: (d, K, R, t[None]), "t"),
    ],
)
def test_bad_input_names_argument(change, name):
    args = change(*_good())
    with pytest.raises(ValueError, match=rf"^{name}: expected"):
        unproject_depth(*args)
    with pytest.raises(ValueError, match=rf"^{name}: expected"):
        depth_to_points(*args)


def test_bad_options_name_argument():
    d, K, R, t = _good()
    with pytest.raises(ValueError, match=r"^depth_type: expected"):
        unproject_depth(d, K, R, t, depth_type="disparity")
    with pytest.raises(ValueError, match=r"^mask: expected shape"):
        unproject_depth(d, K, R, t, mask=torch.ones(H, W + 1, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"^mask: expected a bool"):
        unproject_depth(d, K, R, t, mask=torch.ones(H, W))
    with pytest.raises(ValueError, match=r"^image: expected shape"):
        depth_to_points(d, K, R, t, image=torch.rand(H + 1, W, 3))
    with pytest.raises(ValueError, match=r"^image: expected a float or uint8"):
        depth_to_points(d, K, R, t, image=torch.ones(H, W, 3, dtype=torch.int32))
    with pytest.raises(ValueError, match=r"^K: expected shape \(3, 3, 3\)"):
        depth_to_points(torch.ones(3, H, W), K[None].expand(2, 3, 3), R, t)
    with pytest.raises(ValueError, match=r"^depth: expected shape"):
        depth_to_points(torch.ones(1, 1, H, W), K, R, t)
    with pytest.raises(ValueError, match=r"^points: expected shape"):
        project_points(torch.ones(5, 2), K, R, t)
    with pytest.raises(ValueError, match=r"^K: expected"):
        project_points(torch.ones(5, 3), K * 0, R, t)
    with pytest.raises(ValueError, match=r"^R: expected"):
        project_points(torch.ones(5, 3), K, torch.zeros(3, 3), t)
    with pytest.raises(ValueError, match=r"^K: expected batch shape"):
        project_points(torch.ones(2, 5, 3), K[None].expand(3, 3, 3), R, t)
