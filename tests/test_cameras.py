"""Cameras: PyTorch3D parity, conventions, gradients, converters (Blender numbers, OpenCV, PyTorch3D), bad input.

Blender itself is exercised in ``test_cameras_blender.py``; here the Blender
converter is checked on plain numbers (hand-derived facts and round trips).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from unrender.cameras import (
    BlenderCamera,
    FoVOrthographicCameras,
    FoVPerspectiveCameras,
    OrthographicCameras,
    PerspectiveCameras,
    Transform,
    blender_from_cameras,
    camera_position_from_spherical_angles,
    cameras_from_blender,
    cameras_from_opencv,
    from_pytorch3d,
    get_world_to_view_transform,
    look_at_rotation,
    look_at_view_transform,
    opencv_from_cameras,
    to_pytorch3d,
)
from unrender.geometry import project_points, random_rotations

D = torch.float64


def _rt(n: int, seed: int = 0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    dist = torch.rand(n, generator=g, dtype=dtype) * 3 + 2
    elev = torch.rand(n, generator=g, dtype=dtype) * 120 - 60
    azim = torch.rand(n, generator=g, dtype=dtype) * 360
    return look_at_view_transform(dist, elev, azim, at=((0.1, -0.2, 0.3),))


def _make(kind: str, n: int = 3, dtype=torch.float32, seed: int = 0):
    """Constructor kwargs of each camera flavour (shared with the PyTorch3D parity tests)."""
    g = torch.Generator().manual_seed(seed + 1)
    R, T = _rt(n, seed, dtype)

    def rnd(*shape, lo=0.0, hi=1.0):
        return torch.rand(*shape, generator=g, dtype=dtype) * (hi - lo) + lo

    kw = {
        "fovpersp": dict(znear=rnd(n, lo=0.2, hi=0.8), zfar=rnd(n, lo=20, hi=50), fov=rnd(n, lo=20, hi=90),
                         aspect_ratio=rnd(n, lo=0.7, hi=1.5)),
        "fovpersp_rad": dict(znear=0.5, zfar=30.0, fov=rnd(n, lo=0.3, hi=1.5), degrees=False),
        "fovortho": dict(znear=rnd(n, lo=-1, hi=0.5), zfar=rnd(n, lo=20, hi=50), max_y=rnd(n, lo=0.5, hi=2),
                         min_y=rnd(n, lo=-2, hi=-0.5), max_x=rnd(n, lo=0.5, hi=2), min_x=rnd(n, lo=-2, hi=-0.5),
                         scale_xyz=rnd(n, 3, lo=0.5, hi=2)),
        "persp": dict(focal_length=rnd(n, 2, lo=0.8, hi=3), principal_point=rnd(n, 2, lo=-0.3, hi=0.3)),
        "persp_screen": dict(focal_length=rnd(n, lo=60, hi=150), principal_point=rnd(n, 2, lo=20, hi=60),
                             in_ndc=False, image_size=((64, 96),)),
        "ortho": dict(focal_length=rnd(n, 2, lo=0.3, hi=1.0), principal_point=rnd(n, 2, lo=-0.3, hi=0.3)),
        "ortho_screen": dict(focal_length=rnd(n, lo=10, hi=30), principal_point=rnd(n, 2, lo=20, hi=60),
                             in_ndc=False, image_size=((96, 64),)),
    }[kind]
    cls = {"fovpersp": "FoVPerspectiveCameras", "fovpersp_rad": "FoVPerspectiveCameras",
           "fovortho": "FoVOrthographicCameras", "persp": "PerspectiveCameras", "persp_screen": "PerspectiveCameras",
           "ortho": "OrthographicCameras", "ortho_screen": "OrthographicCameras"}[kind]
    return cls, dict(kw, R=R, T=T)


KINDS = ["fovpersp", "fovpersp_rad", "fovortho", "persp", "persp_screen", "ortho", "ortho_screen"]
CLASSES = dict(FoVPerspectiveCameras=FoVPerspectiveCameras, FoVOrthographicCameras=FoVOrthographicCameras,
               PerspectiveCameras=PerspectiveCameras, OrthographicCameras=OrthographicCameras)


def _ours(kind, **kw):
    cls, args = _make(kind, **kw)
    return CLASSES[cls](**args)


def _points(n=3, p=40, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed + 7)
    return torch.randn(n, p, 3, generator=g, dtype=dtype) * 0.6


def _close(a, b, tol):
    scale = max(1.0, float(b.abs().max()))
    assert float((a - b).abs().max()) <= tol * scale, float((a - b).abs().max())


# ----------------------------------------------------------------------------- PyTorch3D parity
@pytest.fixture(scope="module")
def p3d():
    return pytest.importorskip("pytorch3d.renderer.cameras", reason="PyTorch3D reference not installed")


@pytest.mark.pytorch3d
@pytest.mark.parametrize("kind", KINDS)
def test_matches_pytorch3d_every_method(p3d, kind):
    cls, args = _make(kind)
    ours, ref = CLASSES[cls](**args), getattr(p3d, cls)(**args)
    pts = _points()
    for name in ("get_world_to_view_transform", "get_projection_transform", "get_full_projection_transform",
                 "get_ndc_camera_transform"):
        _close(getattr(ours, name)().get_matrix(), getattr(ref, name)().get_matrix(), 1e-6)
    _close(ours.transform_points(pts), ref.transform_points(pts), 1e-6)
    _close(ours.transform_points(pts, eps=1e-3), ref.transform_points(pts, eps=1e-3), 1e-6)
    _close(ours.transform_points_ndc(pts), ref.transform_points_ndc(pts), 1e-5)
    for size in ((64, 96), (96, 64), (50, 50)):
        _close(ours.transform_points_screen(pts, image_size=size), ref.transform_points_screen(pts, image_size=size), 1e-5)
    _close(ours.transform_points_screen(pts, image_size=(64, 96), with_xyflip=False),
           ref.transform_points_screen(pts, image_size=(64, 96), with_xyflip=False), 1e-5)
    _close(ours.get_camera_center(), ref.get_camera_center(), 1e-6)
    # (P, 3) points: one camera keeps (P, 3), several give (N, P, 3)
    assert ours[1].transform_points(pts[0]).shape == (40, 3)
    _close(ours[1].transform_points(pts[0]), ref[1].transform_points(pts[0]), 1e-6)
    _close(ours.transform_points(pts[0]), ref.transform_points(pts[0]), 1e-6)
    # unprojection from (x, y, depth)
    depth = ours.get_world_to_view_transform().transform_points(pts)[..., 2:]
    xy_depth = torch.cat([ours.transform_points(pts)[..., :2], depth], -1)
    _close(ours.unproject_points(xy_depth), ref.unproject_points(xy_depth), 1e-4)
    _close(ours.unproject_points(xy_depth, world_coordinates=False),
           ref.unproject_points(xy_depth, world_coordinates=False), 1e-4)
    assert ours.is_perspective() == ref.is_perspective() and ours.in_ndc() == ref.in_ndc()
    zn = ours.get_znear()
    assert (zn is None) == (ref.get_znear() is None)
    if zn is not None:
        _close(zn, ref.get_znear(), 0)


@pytest.mark.pytorch3d
@pytest.mark.parametrize("kind", KINDS)
def test_project_to_ndc_with_depth_matches_mesh_rasterizer_transform(p3d, kind):
    rast = pytest.importorskip("pytorch3d.renderer.mesh.rasterizer")
    from pytorch3d.structures import Meshes as P3DMeshes

    cls, args = _make(kind)
    ours, ref = CLASSES[cls](**args), getattr(p3d, cls)(**args)
    pts = _points()
    faces = torch.tensor([[0, 1, 2]]).expand(3, 1, 3)
    meshes = P3DMeshes(verts=list(pts), faces=list(faces))
    want = rast.MeshRasterizer(cameras=ref).transform(meshes).verts_padded()
    _close(ours.project_to_ndc_with_depth(pts), want, 1e-5)
    # x, y are NDC and z the view depth
    _close(ours.project_to_ndc_with_depth(pts)[..., :2], ours.transform_points_ndc(pts)[..., :2], 1e-6)
    _close(ours.project_to_ndc_with_depth(pts)[..., 2], ours.get_world_to_view_transform().transform_points(pts)[..., 2], 1e-6)


@pytest.mark.pytorch3d
def test_look_at_matches_pytorch3d(p3d):
    g = torch.Generator().manual_seed(3)
    dist, elev, azim = torch.rand(5, generator=g) * 3 + 1, torch.rand(5, generator=g) * 170 - 85, torch.rand(5, generator=g) * 720
    for kw in (dict(dist=dist, elev=elev, azim=azim),
               dict(dist=2.0, elev=elev, azim=30.0, at=((1.0, 2.0, 3.0),), up=((0.0, 0.0, 1.0),)),
               dict(dist=dist, elev=elev * math.pi / 180, azim=azim * math.pi / 180, degrees=False),
               dict(eye=torch.randn(5, 3, generator=g), at=torch.randn(5, 3, generator=g)),
               dict(dist=2.0, elev=90.0, azim=0.0),  # up parallel to the view direction
               dict(eye=((0.0, 3.0, 0.0),), at=((0.0, 0.0, 0.0),))):
        R, T = look_at_view_transform(**kw)
        Rp, Tp = p3d.look_at_view_transform(**kw)
        _close(R, Rp, 1e-6)
        _close(T, Tp, 1e-6)
    pos = torch.randn(4, 3, generator=g)
    _close(look_at_rotation(pos), p3d.look_at_rotation(pos), 1e-6)
    _close(camera_position_from_spherical_angles(2.0, elev, azim),
           p3d.camera_position_from_spherical_angles(2.0, elev, azim), 1e-6)


@pytest.mark.pytorch3d
@pytest.mark.parametrize("kind", KINDS)
def test_pytorch3d_conversion_round_trip(p3d, kind):
    cams = _ours(kind)
    ref = to_pytorch3d(cams)
    assert type(ref).__name__ == type(cams).__name__
    pts = _points()
    _close(ref.transform_points_ndc(pts), cams.transform_points_ndc(pts), 1e-5)
    back = from_pytorch3d(ref)
    assert type(back) is type(cams)
    _close(back.transform_points_ndc(pts), cams.transform_points_ndc(pts), 1e-6)
    for f in type(cams)._FIELDS:
        a, b = getattr(back, f), getattr(cams, f)
        assert (a is None) == (b is None)
        if a is not None:
            _close(a.double(), b.double(), 1e-6)
    with pytest.raises(ValueError, match="K"):
        from_pytorch3d(p3d.PerspectiveCameras(K=torch.eye(4)[None]))
    with pytest.raises(ValueError, match="p3d_cameras"):
        from_pytorch3d(cams)


# ----------------------------------------------------------------------------- conventions
def test_view_space_axes_and_non_square_ndc():
    # identity camera: view = world; +Z in front, +X left, +Y up
    cam = PerspectiveCameras(focal_length=1.0)
    p = torch.tensor([[0.0, 0.0, 2.0], [1.0, 0.0, 2.0], [0.0, 1.0, 2.0]])
    scr = cam.transform_points_screen(p, image_size=(64, 96))
    # centre -> image centre; +X (left) -> smaller column; +Y (up) -> smaller row
    torch.testing.assert_close(scr[0, :2], torch.tensor([48.0, 32.0]))
    assert scr[1, 0] < 48 and scr[2, 1] < 32
    # the shorter side (H = 64) spans NDC [-1, 1]; the longer one [-1.5, 1.5]
    edge = torch.tensor([[-1.5, 1.0, 1.0], [1.5, -1.0, 1.0]])  # NDC (-1.5, 1) = right/top corner
    torch.testing.assert_close(cam.transform_points_screen(edge, image_size=(64, 96))[:, :2],
                               torch.tensor([[96.0, 0.0], [0.0, 64.0]]))
    torch.testing.assert_close(cam.transform_points_screen(edge[:, [1, 0, 2]], image_size=(96, 64))[:, :2],
                               torch.tensor([[0.0, 96.0], [64.0, 0.0]]))
    # FoV spans the shorter side
    fov = FoVPerspectiveCameras(fov=90.0)
    torch.testing.assert_close(fov.transform_points(torch.tensor([[1.0, 1.0, 1.0]]))[0, :2], torch.tensor([1.0, 1.0]))
    # FoV z is 0 at znear and 1 at zfar; PerspectiveCameras z is 1 / depth
    z = fov.transform_points(torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 100.0]]))[:, 2]
    torch.testing.assert_close(z, torch.tensor([0.0, 1.0]))
    assert float(cam.transform_points(torch.tensor([[0.0, 0.0, 4.0]]))[0, 2]) == 0.25


def test_screen_space_cameras_equal_their_ndc_twins():
    # a screen camera with f pixels and principal point c equals the NDC camera f / s, -(c - size / 2) / s
    H, W = 64, 96
    s = min(H, W) / 2
    f, c = torch.tensor([[80.0, 70.0]]), torch.tensor([[40.0, 30.0]])
    R, T = _rt(1)
    scr = PerspectiveCameras(focal_length=f, principal_point=c, R=R, T=T, in_ndc=False, image_size=(H, W))
    ndc = PerspectiveCameras(focal_length=f / s, principal_point=-(c - torch.tensor([W / 2, H / 2])) / s, R=R, T=T)
    pts = _points(1)
    _close(scr.transform_points_ndc(pts), ndc.transform_points_ndc(pts)[..., :3], 1e-5)
    _close(scr.transform_points_screen(pts), ndc.transform_points_screen(pts, image_size=(H, W)), 1e-4)
    xy = scr.transform_points_ndc(pts)[..., :2]
    depth = scr.get_world_to_view_transform().transform_points(pts)[..., 2:]
    _close(scr.unproject_points(torch.cat([xy, depth], -1), from_ndc=True), pts, 1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_unproject_inverts_projection(kind):
    cams = _ours(kind, dtype=D)
    pts = _points(dtype=D)
    view = cams.get_world_to_view_transform().transform_points(pts)
    proj = cams.transform_points(pts)
    _close(cams.unproject_points(torch.cat([proj[..., :2], view[..., 2:]], -1)), pts, 1e-10)
    _close(cams.unproject_points(torch.cat([proj[..., :2], view[..., 2:]], -1), world_coordinates=False), view, 1e-10)
    _close(cams.unproject_points(proj, scaled_depth_input=True), pts, 1e-9)
    ndc = cams.transform_points_ndc(pts)
    _close(cams.unproject_points(torch.cat([ndc[..., :2], view[..., 2:]], -1), from_ndc=True), pts, 1e-10)
    # camera centre maps to the view origin
    c = cams.get_camera_center()
    _close(cams.get_world_to_view_transform().transform_points(c[:, None])[:, 0], torch.zeros_like(c), 1e-12)
    # (P, 3) input with one camera
    one = cams[0]
    _close(one.unproject_points(torch.cat([proj[0, :, :2], view[0, :, 2:]], -1)), pts[0], 1e-10)


def test_transform_helper():
    R, T = _rt(2, dtype=D)
    t = get_world_to_view_transform(R, T)
    assert isinstance(t, Transform) and len(t) == 2
    p = _points(2, dtype=D)
    _close(t.transform_points(p), p @ R + T[:, None], 1e-12)
    _close(t.inverse().transform_points(t.transform_points(p)), p, 1e-12)
    _close(t.compose(t.inverse()).get_matrix(), torch.eye(4, dtype=D).expand(2, 4, 4), 1e-12)
    n = torch.randn(2, 5, 3, dtype=D)
    _close(t.transform_normals(n), n @ R, 1e-12)  # rotations keep normals
    with pytest.raises(ValueError, match="points"):
        t.transform_points(torch.zeros(5, 2))
    with pytest.raises(ValueError, match="points"):
        t.transform_points(torch.zeros(3, 5, 3))


# ----------------------------------------------------------------------------- batches, dtype, devices
def test_batching_indexing_clone_to():
    cams = _ours("persp_screen", n=4)
    assert len(cams) == 4
    sub = cams[[0, 2]]
    assert len(sub) == 2 and sub.in_ndc() is False and sub.image_size.shape == (2, 2)
    torch.testing.assert_close(sub.R, cams.R[[0, 2]])
    assert len(cams[torch.tensor([True, False, True, True])]) == 3
    assert len(cams[1:3]) == 2
    torch.testing.assert_close(cams[-1].T, cams.T[3:])
    with pytest.raises(IndexError):
        cams[4]
    with pytest.raises(ValueError, match="index"):
        cams["a"]
    c2 = cams.clone()
    assert c2.R is not cams.R and torch.equal(c2.R, cams.R)
    assert cams.to("cpu", dtype=D) is cams and cams.R.dtype == D and cams.image_size.dtype == torch.int64
    # broadcasting: batch-1 fields expand to the batch size of the others
    c = FoVPerspectiveCameras(fov=torch.tensor([30.0, 40.0, 50.0]), R=torch.eye(3))
    assert len(c) == 3 and c.R.shape == (3, 3, 3) and c.T.shape == (3, 3)
    p = PerspectiveCameras(focal_length=torch.tensor([1.0, 2.0]))
    assert p.focal_length.shape == (2, 2) and p.principal_point.shape == (2, 2)


def test_dtype_rules():
    c64 = PerspectiveCameras(focal_length=torch.tensor([2.0], dtype=D))
    assert c64.R.dtype == D and c64.principal_point.dtype == D
    assert PerspectiveCameras(focal_length=2.0).R.dtype == torch.get_default_dtype()
    pts32 = torch.randn(5, 3) + torch.tensor([0.0, 0.0, 4.0])
    assert c64.transform_points(pts32).dtype == torch.float32
    assert c64.project_to_ndc_with_depth(pts32.double()).dtype == D


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    cams = _ours("persp_screen")
    pts = _points()
    ref = cams.project_to_ndc_with_depth(pts)
    got = cams.clone().to("cuda").project_to_ndc_with_depth(pts.cuda())
    torch.testing.assert_close(got.cpu(), ref, atol=1e-5, rtol=1e-5)


def test_gradients_flow_to_every_parameter():
    R0, T0 = _rt(2, dtype=D)
    pts = _points(2, p=4, dtype=D)
    params = dict(R=R0.clone().requires_grad_(), T=T0.clone().requires_grad_(),
                  f=torch.tensor([[1.5, 1.7], [2.0, 1.2]], dtype=D, requires_grad=True),
                  pp=torch.tensor([[0.1, -0.1], [0.0, 0.2]], dtype=D, requires_grad=True),
                  fov=torch.tensor([40.0, 60.0], dtype=D, requires_grad=True))

    def persp(R, T, f, pp):
        return PerspectiveCameras(focal_length=f, principal_point=pp, R=R, T=T).project_to_ndc_with_depth(pts)

    def fovp(fov, R, T):
        return FoVPerspectiveCameras(fov=fov, R=R, T=T).transform_points_screen(pts, image_size=(32, 48), eps=1e-4)

    assert torch.autograd.gradcheck(persp, (params["R"], params["T"], params["f"], params["pp"]))
    assert torch.autograd.gradcheck(fovp, (params["fov"], params["R"], params["T"]))
    # orthographic, unprojection and the camera centre are differentiable too
    f = params["f"]
    assert torch.autograd.gradcheck(
        lambda f: OrthographicCameras(focal_length=f, R=R0, T=T0).unproject_points(pts), (f,))
    assert torch.autograd.gradcheck(lambda R, T: PerspectiveCameras(R=R, T=T).get_camera_center(),
                                    (params["R"], params["T"]))


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("make,name", [
    (lambda: PerspectiveCameras(focal_length=0.0), "focal_length"),
    (lambda: PerspectiveCameras(focal_length=torch.tensor([[1.0, -2.0]])), "focal_length"),
    (lambda: OrthographicCameras(focal_length=-1.0), "focal_length"),
    (lambda: PerspectiveCameras(focal_length=torch.ones(2, 3)), "focal_length"),
    (lambda: FoVPerspectiveCameras(fov=0.0), "fov"),
    (lambda: FoVPerspectiveCameras(fov=180.0), "fov"),
    (lambda: FoVPerspectiveCameras(fov=-10.0), "fov"),
    (lambda: FoVPerspectiveCameras(fov=3.5, degrees=False), "fov"),
    (lambda: FoVPerspectiveCameras(znear=2.0, zfar=1.0), "zfar"),
    (lambda: FoVPerspectiveCameras(znear=1.0, zfar=1.0), "zfar"),
    (lambda: FoVPerspectiveCameras(znear=0.0), "znear"),
    (lambda: FoVPerspectiveCameras(aspect_ratio=0.0), "aspect_ratio"),
    (lambda: FoVOrthographicCameras(znear=5.0, zfar=1.0), "zfar"),
    (lambda: FoVOrthographicCameras(max_x=-2.0), "max_x"),
    (lambda: FoVOrthographicCameras(max_y=-1.0, min_y=-1.0), "max_y"),
    (lambda: FoVOrthographicCameras(scale_xyz=(1.0, 0.0, 1.0)), "scale_xyz"),
    (lambda: PerspectiveCameras(R=torch.eye(4)), "R"),
    (lambda: PerspectiveCameras(R=torch.eye(3).expand(2, 3, 3), T=torch.zeros(3, 3)), "T"),
    (lambda: PerspectiveCameras(T=torch.zeros(2, 4)), "T"),
    (lambda: PerspectiveCameras(T=torch.tensor([0.0, float("nan"), 0.0])), "T"),
    (lambda: PerspectiveCameras(principal_point=torch.zeros(3)), "principal_point"),
    (lambda: PerspectiveCameras(in_ndc=False), "image_size"),
    (lambda: PerspectiveCameras(image_size=(0, 5)), "image_size"),
    (lambda: PerspectiveCameras(image_size=(10.5, 5)), "image_size"),
    (lambda: PerspectiveCameras(in_ndc="yes"), "in_ndc"),
    (lambda: PerspectiveCameras(focal_length="x"), "focal_length"),
    (lambda: PerspectiveCameras().transform_points(torch.zeros(4, 2)), "points"),
    (lambda: PerspectiveCameras(focal_length=torch.ones(2)).transform_points(torch.ones(3, 4, 3)), "points"),
    (lambda: PerspectiveCameras().transform_points_screen(torch.ones(4, 3)), "image_size"),
    (lambda: look_at_view_transform(eye=((0.0, 0.0, 0.0),)), "at"),
    (lambda: look_at_view_transform(dist=1.0, up=((0.0, 0.0, 0.0),)), "up"),
    (lambda: look_at_view_transform(dist=torch.ones(2), elev=torch.ones(3)), "elev"),
])
def test_bad_input_names_the_argument(make, name):
    with pytest.raises(ValueError, match=name):
        make()


# ----------------------------------------------------------------------------- Blender (plain numbers)
def _blender_projection(cam: BlenderCamera, world: np.ndarray) -> np.ndarray:
    """Blender's view plane written out independently: pixel coordinates (x right, y down, top-left corner)."""
    W = cam.resolution_x * cam.resolution_percentage // 100
    H = cam.resolution_y * cam.resolution_percentage // 100
    ax, ay = cam.pixel_aspect_x, cam.pixel_aspect_y
    horizontal = cam.sensor_fit == "HORIZONTAL" or (cam.sensor_fit == "AUTO" and ax * W >= ay * H)
    sensor = cam.sensor_height if cam.sensor_fit == "VERTICAL" else cam.sensor_width
    fitted_px = W if horizontal else H * ay / ax  # the fitted side in (x-unit) pixels
    span = sensor / cam.lens if cam.type == "PERSP" else cam.ortho_scale  # fitted side in view units (unit depth)
    m = np.asarray(cam.matrix_world, dtype=np.float64)
    rot = m[:3, :3] / np.linalg.norm(m[:3, :3], axis=0)
    local = (world - m[:3, 3]) @ np.linalg.inv(rot).T  # camera frame: x right, y up, looking down -z
    depth = -local[:, 2]
    xy = local[:, :2] / depth[:, None] if cam.type == "PERSP" else local[:, :2]
    px_x = xy[:, 0] / span * fitted_px  # pixels right of the optical axis
    px_y = xy[:, 1] / span * fitted_px / (ay / ax)  # pixels above it (pixels are ay/ax times as tall)
    col = W / 2 + px_x - cam.shift_x * fitted_px
    row = H / 2 - px_y + cam.shift_y * fitted_px / (ay / ax)
    return np.stack([col, row, depth], 1)


def _random_blender(rng, kind, fit, pct=100, aspect=(1.0, 1.0)) -> BlenderCamera:
    rot = random_rotations(1, dtype=D, generator=torch.Generator().manual_seed(int(rng.integers(1 << 30))))[0].numpy()
    m = np.eye(4)
    m[:3, :3] = rot * rng.uniform(0.5, 2.0, 3)  # object scale: Blender ignores it
    m[:3, 3] = rng.normal(size=3) * 2
    return BlenderCamera(matrix_world=m.tolist(), type=kind, sensor_fit=fit, lens=float(rng.uniform(15, 100)),
                         sensor_width=float(rng.uniform(20, 40)), sensor_height=float(rng.uniform(15, 30)),
                         shift_x=float(rng.uniform(-0.5, 0.5)), shift_y=float(rng.uniform(-0.5, 0.5)),
                         ortho_scale=float(rng.uniform(1, 10)), resolution_x=int(rng.integers(20, 400)),
                         resolution_y=int(rng.integers(20, 400)), resolution_percentage=pct,
                         pixel_aspect_x=aspect[0], pixel_aspect_y=aspect[1], clip_start=0.01, clip_end=500.0)


BLENDER_CASES = [(k, f, pct, asp) for k in ("PERSP", "ORTHO") for f in ("AUTO", "HORIZONTAL", "VERTICAL")
                 for pct, asp in ((100, (1.0, 1.0)), (37, (1.0, 1.0)), (100, (1.7, 1.0)), (50, (1.0, 2.3)),
                                  (100, (1.4, 1.9)))]


def _points_before(cam: BlenderCamera, rng, n=30) -> np.ndarray:
    m = np.asarray(cam.matrix_world, dtype=np.float64)
    rot = m[:3, :3] / np.linalg.norm(m[:3, :3], axis=0)
    local = np.c_[rng.uniform(-1, 1, (n, 2)), -rng.uniform(0.5, 5, n)]
    return local @ rot.T + m[:3, 3]


@pytest.mark.parametrize("kind,fit,pct,aspect", BLENDER_CASES)
def test_blender_projection_and_round_trips(kind, fit, pct, aspect):
    rng = np.random.default_rng(abs(hash((kind, fit, pct, aspect))) % 2**32)
    for _ in range(4):
        bcam = _random_blender(rng, kind, fit, pct, aspect)
        cams, (H, W) = cameras_from_blender(bcam)
        assert (H, W) == bcam.render_size == (bcam.resolution_y * pct // 100, bcam.resolution_x * pct // 100)
        assert isinstance(cams, PerspectiveCameras if kind == "PERSP" else OrthographicCameras)
        world = _points_before(bcam, rng)
        want = _blender_projection(bcam, world)
        got = cams.transform_points_screen(torch.from_numpy(world))
        np.testing.assert_allclose(got[:, :2].numpy(), want[:, :2], atol=1e-9 * max(H, W), rtol=0)
        np.testing.assert_allclose(cams.project_to_ndc_with_depth(torch.from_numpy(world))[:, 2].numpy(), want[:, 2],
                                   rtol=1e-12)
        # cameras -> Blender -> cameras is exact, for any sensor choice
        for sensor_fit in ("AUTO", "HORIZONTAL", "VERTICAL"):
            back = blender_from_cameras(cams, sensor_fit=sensor_fit, sensor_width=30.0, sensor_height=18.0)
            again, size = cameras_from_blender(back)
            assert size == (H, W)
            torch.testing.assert_close(again.ndc_intrinsics(), cams.ndc_intrinsics(), atol=1e-9, rtol=1e-9)
            torch.testing.assert_close(again.R, cams.R, atol=1e-12, rtol=0)
            torch.testing.assert_close(again.T, cams.T, atol=1e-12, rtol=0)
        # Blender -> cameras -> Blender gives back the same fields (scale removed, pixel aspect normalised)
        back = blender_from_cameras(cams, sensor_fit=fit, sensor_width=bcam.sensor_width,
                                    sensor_height=bcam.sensor_height, resolution_percentage=pct,
                                    clip_start=bcam.clip_start, clip_end=bcam.clip_end)
        m = np.asarray(bcam.matrix_world)
        m[:3, :3] /= np.linalg.norm(m[:3, :3], axis=0)
        np.testing.assert_allclose(back.matrix_world, m, atol=1e-12)
        norm = min(aspect)
        expected = dataclasses.replace(bcam, matrix_world=back.matrix_world, pixel_aspect_x=aspect[0] / norm,
                                       pixel_aspect_y=aspect[1] / norm)
        if kind == "PERSP":
            expected.ortho_scale = back.ortho_scale
        else:
            expected.lens = back.lens
        if pct != 100:  # any resolution with the same render size is the same camera
            assert back.render_size == (H, W)
            expected.resolution_x, expected.resolution_y = back.resolution_x, back.resolution_y
        for f in dataclasses.fields(BlenderCamera):
            a, b = getattr(back, f.name), getattr(expected, f.name)
            if isinstance(a, float):
                assert a == pytest.approx(b, rel=1e-12, abs=1e-12), f.name
            else:
                assert a == b, f.name


def test_blender_facts_by_hand():
    # default camera: 50 mm lens, 36 mm sensor fitted to the 1920 px width
    cams, (H, W) = cameras_from_blender(BlenderCamera(resolution_x=1920, resolution_y=1080))
    assert (H, W) == (1080, 1920)
    # the right edge at depth 1 and the top edge at depth 2
    edge = torch.tensor([[18.0 / 50.0, 0.0, -1.0], [0.0, 2 * 18.0 / 50.0 * 1080 / 1920, -2.0]], dtype=D)
    scr = cams.transform_points_screen(edge)  # Blender camera at the origin looks down -Z, +X right, +Y up
    torch.testing.assert_close(scr[:, :2], torch.tensor([[1920.0, 540.0], [960.0, 0.0]], dtype=D))
    # portrait + AUTO: the 36 mm sensor_width spans the (longer) height
    cams, _ = cameras_from_blender(BlenderCamera(resolution_x=1080, resolution_y=1920))
    scr = cams.transform_points_screen(torch.tensor([[0.0, 18.0 / 50.0, -1.0]], dtype=D))
    torch.testing.assert_close(scr[0, :2], torch.tensor([540.0, 0.0], dtype=D))
    # VERTICAL uses sensor_height for the height even on a landscape image
    cams, _ = cameras_from_blender(BlenderCamera(resolution_x=1920, resolution_y=1080, sensor_fit="VERTICAL"))
    scr = cams.transform_points_screen(torch.tensor([[0.0, 12.0 / 50.0, -1.0]], dtype=D))
    torch.testing.assert_close(scr[0, :2], torch.tensor([960.0, 0.0], dtype=D))
    # shift is in units of the larger side: 0.1 * 1920 px
    cams, _ = cameras_from_blender(BlenderCamera(resolution_x=1920, resolution_y=1080, shift_x=0.1, shift_y=0.1))
    scr = cams.transform_points_screen(torch.tensor([[0.0, 0.0, -1.0]], dtype=D))
    torch.testing.assert_close(scr[0, :2], torch.tensor([960.0 - 192.0, 540.0 + 192.0], dtype=D))
    # ortho_scale spans the fitted side; percentage floors the size
    cams, size = cameras_from_blender(BlenderCamera(type="ORTHO", ortho_scale=4.0, resolution_x=101,
                                                    resolution_y=51, resolution_percentage=50))
    assert size == (25, 50)
    scr = cams.transform_points_screen(torch.tensor([[2.0, 0.0, -3.0]], dtype=D))
    torch.testing.assert_close(scr[0, :2], torch.tensor([50.0, 12.5], dtype=D))
    # keyword form, positional matrix_world and batches
    a, _ = cameras_from_blender(lens=35.0, resolution_x=64, resolution_y=48)
    m, _ = cameras_from_blender(np.eye(4), lens=35.0, resolution_x=64, resolution_y=48)
    torch.testing.assert_close(m.focal_length, a.focal_length)
    torch.testing.assert_close(a.focal_length, torch.full((1, 2), 2 * 35.0 * 64 / (36.0 * 48), dtype=D))
    b, _ = cameras_from_blender([BlenderCamera(lens=35.0, resolution_x=64, resolution_y=48)] * 3)
    assert len(b) == 3
    torch.testing.assert_close(b.focal_length, a.focal_length.expand(3, 2))


def test_blender_from_fov_cameras_keeps_clipping_and_image():
    fov = FoVPerspectiveCameras(znear=0.3, zfar=40.0, fov=50.0, R=_rt(1, dtype=D)[0], T=_rt(1, dtype=D)[1])
    bcam = blender_from_cameras(fov, image_size=(60, 90))
    assert (bcam.clip_start, bcam.clip_end) == (0.3, 40.0) and bcam.render_size == (60, 90)
    again, size = cameras_from_blender(bcam)
    pts = _points(1, dtype=D)[0]
    torch.testing.assert_close(again.transform_points_screen(pts)[:, :2],
                               fov.transform_points_screen(pts, image_size=size)[:, :2], atol=1e-9, rtol=1e-9)
    ortho = FoVOrthographicCameras(max_x=torch.tensor([2.0], dtype=D), min_x=-1.0, max_y=1.5, min_y=-0.5)
    bcam = blender_from_cameras(ortho, image_size=(40, 40))
    # 3 units across, 2 units up over a square image: pixels 1.5 times as wide as tall
    assert bcam.type == "ORTHO" and bcam.pixel_aspect_x == pytest.approx(1.5) and bcam.pixel_aspect_y == 1.0
    again, size = cameras_from_blender(bcam)
    torch.testing.assert_close(again.transform_points_screen(pts)[:, :2],
                               ortho.transform_points_screen(pts, image_size=size)[:, :2], atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("fields_,name", [
    (dict(lens=0.0), "lens"), (dict(lens=-5.0), "lens"), (dict(type="PANO"), "type"),
    (dict(sensor_fit="DIAGONAL"), "sensor_fit"), (dict(sensor_width=0.0), "sensor_width"),
    (dict(resolution_x=0), "resolution_x"), (dict(resolution_x=1, resolution_percentage=50), "resolution_x"),
    (dict(resolution_percentage=2.5), "resolution_percentage"), (dict(pixel_aspect_x=0.0), "pixel_aspect_x"),
    (dict(clip_start=1.0, clip_end=0.5), "clip_end"), (dict(ortho_scale=-1.0), "ortho_scale"),
    (dict(shift_x=float("nan")), "shift_x"), (dict(matrix_world=np.eye(3).tolist()), "matrix_world"),
    (dict(matrix_world=np.zeros((4, 4)).tolist()), "matrix_world"), (dict(bogus=1), "bogus"),
    (dict(matrix_world=np.diag([1.0, 1.0, 1.0, 2.0]).tolist()), "matrix_world"),
])
def test_blender_bad_input(fields_, name):
    with pytest.raises(ValueError, match=name):
        cameras_from_blender(**fields_)


def test_blender_bad_call_forms():
    with pytest.raises(ValueError, match="lens"):
        cameras_from_blender(BlenderCamera(), lens=3.0)
    with pytest.raises(ValueError, match="camera"):
        cameras_from_blender(5)
    with pytest.raises(ValueError, match="camera"):
        cameras_from_blender([BlenderCamera(), BlenderCamera(type="ORTHO")])
    with pytest.raises(ValueError, match="camera"):
        cameras_from_blender([BlenderCamera(), BlenderCamera(resolution_x=10)])


def test_blender_from_cameras_bad_input():
    cams = _ours("persp", n=2)
    with pytest.raises(ValueError, match="cameras"):
        blender_from_cameras(cams, image_size=(10, 10))
    with pytest.raises(ValueError, match="image_size"):
        blender_from_cameras(cams[0])
    scaled = PerspectiveCameras(R=torch.eye(3) * 2)
    with pytest.raises(ValueError, match="R"):
        blender_from_cameras(scaled, image_size=(10, 10))
    with pytest.raises(ValueError, match="sensor_fit"):
        blender_from_cameras(cams[0], image_size=(10, 10), sensor_fit="X")
    with pytest.raises(ValueError, match="resolution_percentage"):
        blender_from_cameras(cams[0], image_size=(10, 10), resolution_percentage=0)


# ----------------------------------------------------------------------------- OpenCV
def _opencv(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    K = torch.zeros(n, 3, 3, dtype=D)
    K[:, 0, 0] = torch.rand(n, generator=g, dtype=D) * 100 + 50
    K[:, 1, 1] = torch.rand(n, generator=g, dtype=D) * 100 + 50
    K[:, :2, 2] = torch.rand(n, 2, generator=g, dtype=D) * 40 + 10
    K[:, 2, 2] = 1
    R = random_rotations(n, dtype=D, generator=g)
    t = torch.randn(n, 3, generator=g, dtype=D)
    size = torch.tensor([[64, 96], [96, 64], [50, 50], [31, 77]])[:n]
    return K, R, t, size


def test_opencv_matches_project_points_and_round_trips():
    K, R, t, size = _opencv()
    cams = cameras_from_opencv(K, R, t, size)
    assert isinstance(cams, PerspectiveCameras) and cams.in_ndc()
    cam_pts = torch.randn(4, 30, 3, dtype=D) + torch.tensor([0.0, 0.0, 5.0], dtype=D)
    world = torch.matmul(cam_pts - t[:, None], R)  # R^T (x - t)
    uv, z = project_points(world, K, R, t)
    scr = cams.transform_points_screen(world)
    # pixel centres: OpenCV's (0, 0) is the centre of the first pixel, screen space puts it at (0.5, 0.5)
    torch.testing.assert_close(scr[..., :2] - 0.5, uv, atol=1e-9, rtol=0)
    torch.testing.assert_close(cams.project_to_ndc_with_depth(world)[..., 2], z, atol=1e-12, rtol=0)
    for centers in ("integer", "half"):
        K2, R2, t2 = opencv_from_cameras(cameras_from_opencv(K, R, t, size, pixel_centers=centers),
                                         pixel_centers=centers)
        for a, b in ((K2, K), (R2, R), (t2, t)):
            torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)
    # unbatched inputs
    one = cameras_from_opencv(K[0], R[0], t[0], tuple(size[0].tolist()))
    assert len(one) == 1


def test_opencv_from_fov_and_screen_cameras():
    fov = _ours("fovpersp", dtype=D)
    K, R, t = opencv_from_cameras(fov, image_size=(64, 96))
    pts = _points(dtype=D)
    uv, _ = project_points(pts, K, R, t)
    torch.testing.assert_close(fov.transform_points_screen(pts, image_size=(64, 96))[..., :2] - 0.5, uv, atol=1e-9, rtol=0)
    scr = _ours("persp_screen", dtype=D)
    K, R, t = opencv_from_cameras(scr)
    uv, _ = project_points(pts, K, R, t)
    torch.testing.assert_close(scr.transform_points_screen(pts)[..., :2] - 0.5, uv, atol=1e-8, rtol=0)
    with pytest.raises(ValueError, match="cameras"):
        opencv_from_cameras(_ours("ortho"), image_size=(10, 10))
    with pytest.raises(ValueError, match="image_size"):
        opencv_from_cameras(_ours("persp"))


@pytest.mark.pytorch3d
def test_opencv_half_centres_match_pytorch3d():
    conv = pytest.importorskip("pytorch3d.renderer.camera_conversions")
    K, R, t, size = _opencv()
    ours = cameras_from_opencv(K.float(), R.float(), t.float(), size, pixel_centers="half")
    ref = conv._cameras_from_opencv_projection(R.float(), t.float(), K.float(), size)
    for f in ("focal_length", "principal_point", "R", "T"):
        torch.testing.assert_close(getattr(ours, f), getattr(ref, f), atol=1e-6, rtol=1e-6)
    Rr, tr, Kr = conv._opencv_from_cameras_projection(ref, size)
    K2, R2, t2 = opencv_from_cameras(ours, pixel_centers="half")
    for a, b in ((K2, Kr), (R2, Rr), (t2, tr)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-6)


@pytest.mark.parametrize("args,name", [
    (lambda K, R, t, s: (K.clone().index_put_((torch.tensor([0]), torch.tensor([0]), torch.tensor([1])),
                                              torch.tensor([3.0], dtype=D)), R, t, s), "skew"),
    (lambda K, R, t, s: (-K, R, t, s), "K"),
    (lambda K, R, t, s: (K[:, :2], R, t, s), "K"),
    (lambda K, R, t, s: (K, R[:, :2], t, s), "R"),
    (lambda K, R, t, s: (K, R, t[:2], s), "t"),
    (lambda K, R, t, s: (K, R, t, s[:, :1]), "image_size"),
    (lambda K, R, t, s: (K, R, t, s * 0), "image_size"),
])
def test_opencv_bad_input(args, name):
    K, R, t, size = _opencv()
    with pytest.raises(ValueError, match=name):
        cameras_from_opencv(*args(K, R, t, size))
    with pytest.raises(ValueError, match="pixel_centers"):
        cameras_from_opencv(K, R, t, size, pixel_centers="corner")
