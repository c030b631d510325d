"""A Blender scene rendered by Cycles from cameras written to ``transforms.json`` the way BlenderNeRF writes
them, read back by :func:`load_views`: unrender's rasteriser through the converted cameras draws the same
silhouettes (IoU >= 0.999 per view; issue 12, section 1).

The json is written from Blender alone: ``transform_matrix`` is the camera's ``matrix_world`` (a scaled
camera object included), ``camera_angle_x`` is ``Camera.angle_x`` at the top level (BlenderNeRF's field
of view), and views whose lens BlenderNeRF's angle cannot describe (a vertical sensor fit with a
non-default sensor, a lens shift) carry ``fl_x`` / ``fl_y`` / ``cx`` / ``cy`` per frame, read from
Blender's own projection matrix (``Object.calc_matrix_camera``), not from unrender's converters. The
render is 64 x 48 (non-square, so axis swaps show) with one Cycles sample at each pixel centre.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

bpy = pytest.importorskip("bpy", reason="the Blender views check needs the bpy module (Blender as a Python module)")

from mathutils import Matrix, Vector  # noqa: E402

from blender_addon import cycles_coverage_settings, scene_mesh  # noqa: E402
from unrender import Meshes  # noqa: E402
from unrender.io import load_views  # noqa: E402
from unrender.render.mesh import MeshRasterizer, RasterizationSettings  # noqa: E402

pytestmark = pytest.mark.blender

W, H = 64, 48
# name: camera data, placement (location, roll), camera object scale, intrinsics ("angle": BlenderNeRF's
# top-level camera_angle_x; "matrix": per-frame fl/cx/cy from Blender's projection matrix)
VIEWS = {
    "front": (dict(lens=30.0), ((2.6, -2.1, 1.3), 0.0), (1, 1, 1), "angle"),
    "rolled_scaled": (dict(lens=30.0), ((-2.1, -2.4, 1.8), 0.35), (1.7, 0.6, 1.3), "angle"),
    "vertical_fit": (dict(lens=24.0, sensor_fit="VERTICAL", sensor_height=20.0), ((-2.5, 2.0, 0.8), -0.2), (1, 1, 1),
                     "matrix"),
    "shifted": (dict(lens=32.0, shift_x=0.11, shift_y=-0.08), ((1.8, 2.6, -1.1), 0.1), (1, 1, 1), "matrix"),
}


def _look_at(cam, location, roll: float) -> None:
    loc = Vector(location)
    rot = (Vector((0.0, 0.0, 0.0)) - loc).to_track_quat("-Z", "Y").to_matrix().to_4x4()
    cam.matrix_world = Matrix.Translation(loc) @ rot @ Matrix.Rotation(roll, 4, "Z")


def _build_scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    bpy.ops.mesh.primitive_cube_add(size=1.2, location=(-0.8, 0.2, 0.1), rotation=(0.4, 0.2, 0.9))
    bpy.ops.mesh.primitive_monkey_add(size=1.3, location=(0.6, -0.2, 0.0), rotation=(0.3, -0.5, 2.4))
    cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    scene.collection.objects.link(cam)
    scene.camera = cam
    r = scene.render
    r.resolution_x, r.resolution_y, r.resolution_percentage = W, H, 100
    cycles_coverage_settings(scene)
    return scene, cam


def _pixel_intrinsics(scene, cam) -> dict:
    """``fl_x, fl_y, cx, cy`` from Blender's projection matrix (OpenGL NDC -> pixels from the top-left)."""
    dg = bpy.context.evaluated_depsgraph_get()
    P = np.array(cam.calc_matrix_camera(dg, x=W, y=H, scale_x=1.0, scale_y=1.0), dtype=np.float64)
    return {"fl_x": W / 2 * P[0, 0], "fl_y": H / 2 * P[1, 1], "cx": W / 2 * (1 - P[0, 2]), "cy": H / 2 * (1 + P[1, 2])}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Render every view with Cycles into a BlenderNeRF-style folder; returns (folder, verts, faces)."""
    root = tmp_path_factory.mktemp("views")
    scene, cam = _build_scene()
    verts, faces = scene_mesh()
    frames, angle_x = [], None
    for i, (name, (data, (loc, roll), scale, how)) in enumerate(VIEWS.items()):
        d = cam.data
        d.lens, d.sensor_fit, d.sensor_width, d.sensor_height, d.shift_x, d.shift_y = 50.0, "AUTO", 36.0, 24.0, 0.0, 0.0
        for k, v in data.items():
            setattr(d, k, v)
        _look_at(cam, loc, roll)
        cam.scale = scale
        bpy.context.view_layer.update()
        scene.render.filepath = str(root / "train" / f"{name}.png")
        bpy.ops.render.render(write_still=True)
        frame = {"file_path": f"./train/{name}" + (".png" if i % 2 else ""),  # with and without extension
                 "transform_matrix": [list(row) for row in cam.matrix_world]}
        if how == "angle":
            assert angle_x is None or abs(angle_x - d.angle_x) < 1e-12
            angle_x = d.angle_x
        else:
            frame.update(_pixel_intrinsics(scene, cam))
        frames.append(frame)
    (root / "transforms.json").write_text(json.dumps({"camera_angle_x": angle_x, "frames": frames}, indent=2))
    yield root, verts, faces
    bpy.ops.wm.read_factory_settings(use_empty=True)


def test_cycles_silhouettes_match_unrender_through_transforms_json(dataset):
    root, verts, faces = dataset
    views = load_views(root / "transforms.json")
    assert len(views) == len(VIEWS) and views.image_size == (H, W)
    assert views.file_names == [f"train/{n}" for n in VIEWS]
    mesh = Meshes(verts=[torch.tensor(verts, dtype=torch.float32)], faces=[torch.from_numpy(faces)])
    settings = RasterizationSettings(image_size=(H, W), blur_radius=0.0, faces_per_pixel=1)
    for i, name in enumerate(VIEWS):
        frags = MeshRasterizer(cameras=views.cameras[i], raster_settings=settings)(mesh)
        ours = (frags.pix_to_face[0, ..., 0] >= 0).numpy()
        alpha = views.masks[i].numpy() > 0.5
        iou = float((ours & alpha).sum() / max((ours | alpha).sum(), 1))
        print(f"{name}: IoU {iou:.5f}, {int((ours ^ alpha).sum())} differing pixels of {int(alpha.sum())} covered")
        assert 0.15 < alpha.mean() < 0.9, (name, float(alpha.mean()))  # the objects fill a good part of the frame
        assert iou >= 0.999, (name, iou)
