"""Blender cameras against Blender itself (bpy as a Python module).

* Projection: ``cameras_from_blender`` on random cameras (both types, every
  sensor fit, shifts, non-square images, pixel aspect, scaled camera objects)
  against ``bpy_extras.object_utils.world_to_camera_view`` and against
  ``Object.calc_matrix_camera`` (Blender's own projection matrix for the render
  size, which includes the resolution percentage).
* Silhouettes: scenes rendered by Cycles (1 sample, a 0.01 px pixel filter, so
  coverage is sampled at pixel centres) against the same scene rasterised with
  the converted cameras, by unrender's rasteriser and (converted with
  ``to_pytorch3d``) by PyTorch3D's: IoU >= 0.999 per case (measured: 1.0, no
  pixel differs, in every case).
"""

from __future__ import annotations

import math
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

bpy = pytest.importorskip("bpy", reason="the Blender camera checks need the bpy module (Blender as a Python module)")

from bpy_extras.object_utils import world_to_camera_view  # noqa: E402
from mathutils import Matrix, Vector  # noqa: E402

from blender_addon import cycles_coverage_settings, scene_mesh  # noqa: E402
from unrender.cameras import BlenderCamera, blender_from_cameras, cameras_from_blender  # noqa: E402

pytestmark = pytest.mark.blender


# ----------------------------------------------------------------------------- scene helpers
def _fresh_camera():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    scene.collection.objects.link(cam)
    scene.camera = cam
    return scene, cam


def _look_at(cam, location, target=(0.0, 0.0, 0.0), roll: float = 0.0) -> None:
    loc = Vector(location)
    rot = (Vector(target) - loc).to_track_quat("-Z", "Y").to_matrix().to_4x4()
    cam.matrix_world = Matrix.Translation(loc) @ rot @ Matrix.Rotation(roll, 4, "Z")


def _randomise(rng, scene, cam, kind: str, fit: str) -> None:
    d, r = cam.data, scene.render
    d.type = kind
    d.sensor_fit = fit
    d.lens = float(rng.uniform(15, 90))
    d.sensor_width = float(rng.uniform(20, 40))
    d.sensor_height = float(rng.uniform(15, 30))
    d.ortho_scale = float(rng.uniform(2, 8))
    d.shift_x, d.shift_y = (float(v) for v in rng.uniform(-0.4, 0.4, 2))
    d.clip_start, d.clip_end = 0.05, 50.0
    r.resolution_x, r.resolution_y = (int(v) for v in rng.integers(48, 161, 2))
    r.resolution_percentage = int(rng.choice([100, 50, 37, 120]))
    aspect = [1.0, 1.0, float(rng.uniform(1, 2))]
    rng.shuffle(aspect)
    r.pixel_aspect_x, r.pixel_aspect_y = aspect[:2]
    cam.location = rng.normal(size=3)
    cam.rotation_euler = rng.uniform(-math.pi, math.pi, 3)
    cam.scale = rng.uniform(0.5, 2.0, 3)  # Blender ignores the camera object's scale
    bpy.context.view_layer.update()


def _points_in_frame(rng, scene, cam, n: int) -> tuple[np.ndarray, np.ndarray]:
    """World points inside the (unscaled-resolution) frame at depths 1..6, from Blender's own ``view_frame``.

    Returns the float32-exact world points ``(n, 3)`` and the frame corners.
    """
    frame = np.array([tuple(v) for v in cam.data.view_frame(scene=scene)], dtype=np.float64)
    m = np.array(cam.matrix_world.normalized(), dtype=np.float64)
    z = rng.uniform(1.0, 6.0, n)
    u, v = rng.uniform(0.02, 0.98, (2, n))
    # frame: [top-right, bottom-right, bottom-left, top-left] at depth -frame_z
    x0, x1, y0, y1 = frame[2, 0], frame[1, 0], frame[1, 1], frame[0, 1]
    scale = z / -frame[0, 2] if cam.data.type == "PERSP" else np.ones(n)
    local = np.stack([(x0 + u * (x1 - x0)) * scale, (y0 + v * (y1 - y0)) * scale, -z], 1)
    world = local @ m[:3, :3].T + m[:3, 3]
    return world.astype(np.float32).astype(np.float64), frame


def _world_to_camera_view_f64(cam, frame: np.ndarray, world: np.ndarray) -> np.ndarray:
    """``world_to_camera_view``'s algorithm in float64 on Blender's own matrix and frame."""
    m = np.array(cam.matrix_world.normalized(), dtype=np.float64)
    local = (world - m[:3, 3]) @ np.linalg.inv(m[:3, :3]).T
    z = -local[:, 2]
    if cam.data.type == "PERSP":
        fr = frame[None] * (z[:, None, None] / -frame[None, :, 2:3])
    else:
        fr = np.broadcast_to(frame[None], (len(z), 4, 3))
    x0, x1, y0, y1 = fr[:, 2, 0], fr[:, 1, 0], fr[:, 1, 1], fr[:, 0, 1]
    return np.stack([(local[:, 0] - x0) / (x1 - x0), (local[:, 1] - y0) / (y1 - y0), z], 1)


def _ours_normalised(cameras, size, world: np.ndarray) -> np.ndarray:
    """Our projection as ``world_to_camera_view`` reports it: x, y in [0, 1] from the bottom-left, depth."""
    H, W = size
    p = torch.from_numpy(world)
    scr = cameras.transform_points_screen(p)
    depth = cameras.project_to_ndc_with_depth(p)[..., 2]
    return torch.stack([scr[..., 0] / W, 1 - scr[..., 1] / H, depth], -1).numpy()


CASES = [(kind, fit) for kind in ("PERSP", "ORTHO") for fit in ("AUTO", "HORIZONTAL", "VERTICAL")]


# ----------------------------------------------------------------------------- projection checks
@pytest.mark.parametrize("kind,fit", CASES)
def test_projection_matches_world_to_camera_view(kind, fit):
    scene, cam = _fresh_camera()
    rng = np.random.default_rng(zlib.crc32(f"{kind}-{fit}".encode()))
    worst_bpy = worst_f64 = 0.0
    for _ in range(12):
        _randomise(rng, scene, cam, kind, fit)
        # world_to_camera_view frames the unscaled resolution: compare at 100 %
        scene.render.resolution_percentage = 100
        cameras, size = cameras_from_blender(BlenderCamera.from_bpy(cam, scene))
        assert size == (scene.render.resolution_y, scene.render.resolution_x)
        world, frame = _points_in_frame(rng, scene, cam, 40)
        ours = _ours_normalised(cameras, size, world)
        ref = np.array([tuple(world_to_camera_view(scene, cam, Vector(p))) for p in world])
        ref64 = _world_to_camera_view_f64(cam, frame, world)
        worst_bpy = max(worst_bpy, float(np.abs(ours[:, :2] - ref[:, :2]).max()))
        worst_f64 = max(worst_f64, float(np.abs(ours[:, :2] - ref64[:, :2]).max()))
        np.testing.assert_allclose(ours[:, 2], ref[:, 2], rtol=1e-6)
        np.testing.assert_allclose(ours[:, 2], ref64[:, 2], rtol=1e-6)
    # Blender's mathutils works in float32: its own algorithm re-run in float32 differs from it
    # by up to ~3e-6 here; on Blender's frame and matrix in float64 the match is 1e-6.
    assert worst_f64 < 1e-6, worst_f64
    assert worst_bpy < 5e-6, worst_bpy


@pytest.mark.parametrize("kind,fit", CASES)
def test_projection_matches_blender_projection_matrix(kind, fit):
    """``calc_matrix_camera`` for the render size (percentage applied, floored) and pixel aspect."""
    scene, cam = _fresh_camera()
    rng = np.random.default_rng(1 + zlib.crc32(f"{kind}-{fit}".encode()))
    dg = bpy.context.evaluated_depsgraph_get()
    for _ in range(12):
        _randomise(rng, scene, cam, kind, fit)
        bcam = BlenderCamera.from_bpy(cam, scene)
        cameras, (H, W) = cameras_from_blender(bcam)
        r = scene.render
        assert (H, W) == (r.resolution_y * r.resolution_percentage // 100, r.resolution_x * r.resolution_percentage // 100)
        proj = np.array(cam.calc_matrix_camera(dg, x=W, y=H, scale_x=r.pixel_aspect_x, scale_y=r.pixel_aspect_y),
                        dtype=np.float64)
        view = np.array(cam.matrix_world.normalized().inverted(), dtype=np.float64)
        world = rng.uniform(-1, 1, (50, 3)) * 0.5
        local = world @ view[:3, :3].T + view[:3, 3]
        world = world[-local[:, 2] > 0.5]  # in front of the camera
        clip = np.c_[world, np.ones(len(world))] @ (proj @ view).T
        gl = clip[:, :2] / clip[:, 3:]  # OpenGL NDC: +x right, +y up, [-1, 1] over the width / height
        scr = cameras.transform_points_screen(torch.from_numpy(world)).numpy()
        ours = np.stack([2 * scr[:, 0] / W - 1, 1 - 2 * scr[:, 1] / H], 1)
        np.testing.assert_allclose(ours, gl, atol=2e-5, rtol=1e-5)


def test_from_bpy_apply_to_bpy_round_trip():
    scene, cam = _fresh_camera()
    rng = np.random.default_rng(7)
    for kind, fit in CASES:
        _randomise(rng, scene, cam, kind, fit)
        cam.scale = (1.0, 1.0, 1.0)
        bpy.context.view_layer.update()
        cameras, size = cameras_from_blender(BlenderCamera.from_bpy(cam, scene))
        back = blender_from_cameras(cameras, sensor_fit=fit, sensor_width=cam.data.sensor_width,
                                    sensor_height=cam.data.sensor_height, clip_start=cam.data.clip_start,
                                    clip_end=cam.data.clip_end)
        scene2, cam2 = _fresh_camera()
        back.apply_to_bpy(cam2, scene2)
        bpy.context.view_layer.update()
        cameras2, size2 = cameras_from_blender(BlenderCamera.from_bpy(cam2, scene2))
        assert size2 == size
        # Blender stores float32: the round trip through its properties is exact to float32
        torch.testing.assert_close(cameras2.ndc_intrinsics(), cameras.ndc_intrinsics(), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(cameras2.R, cameras.R, atol=1e-6, rtol=0)
        torch.testing.assert_close(cameras2.T, cameras.T, atol=1e-5, rtol=0)
        scene, cam = _fresh_camera()


# ----------------------------------------------------------------------------- silhouettes against Cycles
RENDER_CASES = {
    # name: camera data, render settings, camera placement (location, roll)
    "persp_non_square": (dict(type="PERSP", lens=32.0), dict(resolution_x=96, resolution_y=64), ((3.0, -2.7, 1.8), 0.2)),
    "vertical_fit": (dict(type="PERSP", lens=30.0, sensor_fit="VERTICAL", sensor_height=22.0),
                     dict(resolution_x=64, resolution_y=96), ((-2.4, -3.3, 1.5), -0.3)),
    "shift_percentage": (dict(type="PERSP", lens=35.0, shift_x=0.12, shift_y=-0.09, sensor_fit="HORIZONTAL"),
                         dict(resolution_x=192, resolution_y=128, resolution_percentage=50), ((2.4, 3.0, 1.2), 0.0)),
    "pixel_aspect": (dict(type="PERSP", lens=30.0), dict(resolution_x=96, resolution_y=64, pixel_aspect_y=1.5),
                     ((-3.0, 2.4, 2.1), 0.1)),
    "ortho": (dict(type="ORTHO", ortho_scale=4.6), dict(resolution_x=80, resolution_y=64), ((1.8, -3.6, 2.4), 0.25)),
}


def _build_render_scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    bpy.ops.mesh.primitive_cube_add(size=1.5, location=(-1.2, 0.2, 0.1), rotation=(0.4, 0.2, 0.9))
    bpy.ops.mesh.primitive_uv_sphere_add(segments=24, ring_count=12, radius=0.85, location=(1.0, -0.5, 0.4))
    bpy.ops.mesh.primitive_monkey_add(size=1.4, location=(0.1, 1.0, -0.2), rotation=(0.3, -0.5, 2.4))
    monkey = bpy.context.active_object
    sub = monkey.modifiers.new("subsurf", "SUBSURF")
    sub.levels = sub.render_levels = 1  # the evaluated (viewport) mesh equals the rendered one
    monkey.scale = (1.0, 0.8, 1.1)
    cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    scene.collection.objects.link(cam)
    scene.camera = cam
    cycles_coverage_settings(scene)
    bpy.context.view_layer.update()
    return scene, cam


def _render_alpha(scene, path: Path) -> np.ndarray:
    from PIL import Image

    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"))[..., 3] > 127


def _silhouette_unrender(cameras, size, verts, faces) -> np.ndarray:
    from unrender import Meshes
    from unrender.render.mesh import MeshRasterizer, RasterizationSettings

    mesh = Meshes(verts=[torch.tensor(verts, dtype=torch.float32)], faces=[torch.from_numpy(faces)])
    settings = RasterizationSettings(image_size=size, blur_radius=0.0, faces_per_pixel=1)
    frags = MeshRasterizer(cameras=cameras, raster_settings=settings)(mesh)
    return (frags.pix_to_face[0, ..., 0] >= 0).numpy()


def _silhouette_pytorch3d(cameras, size, verts, faces) -> np.ndarray:
    renderer = pytest.importorskip("pytorch3d.renderer", reason="PyTorch3D reference rasteriser not installed")
    from pytorch3d.structures import Meshes as P3DMeshes

    from unrender.cameras import to_pytorch3d

    mesh = P3DMeshes(verts=[torch.tensor(verts, dtype=torch.float32)], faces=[torch.from_numpy(faces)])
    settings = renderer.RasterizationSettings(image_size=size, blur_radius=0.0, faces_per_pixel=1, bin_size=0)
    frags = renderer.MeshRasterizer(cameras=to_pytorch3d(cameras), raster_settings=settings)(mesh)
    return (frags.pix_to_face[0, ..., 0] >= 0).numpy()


@pytest.fixture(scope="module")
def cycles_renders(tmp_path_factory):
    """Render every case once: name -> (alpha mask, cameras, (H, W), verts, faces)."""
    tmp = tmp_path_factory.mktemp("cycles")
    scene, cam = _build_render_scene()
    verts, faces = scene_mesh()
    out = {}
    t0 = time.perf_counter()
    for name, (data, render, (loc, roll)) in RENDER_CASES.items():
        for k, v in data.items():
            setattr(cam.data, k, v)
        for k, v in dict(dict(resolution_percentage=100, pixel_aspect_x=1.0, pixel_aspect_y=1.0), **render).items():
            setattr(scene.render, k, v)
        _look_at(cam, loc, roll=roll)
        bpy.context.view_layer.update()
        alpha = _render_alpha(scene, tmp / f"{name}.png")
        cameras, size = cameras_from_blender(BlenderCamera.from_bpy(cam, scene), dtype=torch.float32)
        assert alpha.shape == size
        out[name] = (alpha, cameras, size, verts, faces)
    print(f"cycles renders: {time.perf_counter() - t0:.1f} s")
    yield out
    bpy.ops.wm.read_factory_settings(use_empty=True)


def _iou(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    return float((a & b).sum() / max((a | b).sum(), 1)), int((a ^ b).sum())


@pytest.mark.parametrize("name", list(RENDER_CASES))
def test_silhouette_matches_cycles(cycles_renders, name):
    """unrender's cameras with unrender's rasteriser."""
    alpha, cameras, size, verts, faces = cycles_renders[name]
    sil = _silhouette_unrender(cameras, size, verts, faces)
    iou, diff = _iou(sil, alpha)
    print(f"{name} (unrender): IoU {iou:.5f}, {diff} differing pixels of {int(alpha.sum())} covered")
    assert alpha.mean() > 0.3  # the objects fill a good part of the frame
    assert iou >= 0.999, (iou, diff)


@pytest.mark.pytorch3d
@pytest.mark.parametrize("name", list(RENDER_CASES))
def test_silhouette_matches_cycles_pytorch3d_rasteriser(cycles_renders, name):
    """The same cameras converted to PyTorch3D, with PyTorch3D's rasteriser."""
    alpha, cameras, size, verts, faces = cycles_renders[name]
    sil = _silhouette_pytorch3d(cameras, size, verts, faces)
    iou, diff = _iou(sil, alpha)
    print(f"{name} (PyTorch3D): IoU {iou:.5f}, {diff} differing pixels of {int(alpha.sum())} covered")
    assert alpha.mean() > 0.3  # the objects fill a good part of the frame
    assert iou >= 0.999, (iou, diff)
