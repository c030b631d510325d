"""Test support for the add-on: enable it the way Blender does, and reset the scene between tests.

The add-on folder is linked into a temporary directory as the package
``unrender_addon`` and enabled with ``addon_utils.enable`` (so its preferences
exist, as for a user); the installed-extension path is tested separately in
``test_addon_extension.py``.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

try:
    import bpy
except ImportError:  # the modules importing this skip without bpy
    bpy = None

ROOT = Path(__file__).resolve().parents[1]
ADDON_MODULE = "unrender_addon"
_parent: str | None = None


def enable_addon():
    """Enable the add-on from ``addon/`` (idempotent) -> its module."""
    global _parent
    import addon_utils
    import bpy

    if _parent is None:
        _parent = tempfile.mkdtemp(prefix="unrender_addon_")
        os.symlink(ROOT / "addon", Path(_parent) / ADDON_MODULE)
        sys.path.insert(0, _parent)
    if ADDON_MODULE not in bpy.context.preferences.addons:
        mod = addon_utils.enable(ADDON_MODULE, default_set=True, handle_error=_raise)
        assert mod is not None, "the add-on did not enable"
    return sys.modules[ADDON_MODULE]


def disable_addon():
    import addon_utils

    addon_utils.disable(ADDON_MODULE, default_set=True, handle_error=_raise)


def _raise(exc):
    raise exc


def reset_scene():
    """An empty scene: every object and the data it used removed (the add-on stays enabled)."""
    import bpy

    for ob in list(bpy.data.objects):
        bpy.data.objects.remove(ob)
    for coll in (bpy.data.meshes, bpy.data.cameras, bpy.data.lights, bpy.data.images, bpy.data.materials,
                 bpy.data.pointclouds, bpy.data.curves):
        for item in list(coll):
            if item.users == 0 or coll is bpy.data.images:
                coll.remove(item)
    scene = bpy.context.scene
    scene.camera = None
    return scene


class Reports:
    """Stands in for an operator instance in ``modal`` (headless Blender has no window to run one in)."""

    def __init__(self):
        self.reports = []

    def report(self, level, text):
        self.reports.append((level, text))


def drive_modal(modal, events, timeout=120.0):
    """Feed ``modal(operator, context, event)`` the ``events`` ``(type, expected result)``, then timer ticks until
    it ends -> (its result, its reports)."""
    import time
    from types import SimpleNamespace

    op = Reports()
    for kind, expected in events:
        assert modal(op, bpy.context, SimpleNamespace(type=kind, value="PRESS")) == expected
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = modal(op, bpy.context, SimpleNamespace(type="TIMER", value="NOTHING"))
        if result != {"RUNNING_MODAL"}:
            return result, op.reports
        time.sleep(0.05)
    raise AssertionError("the modal run did not finish")


# ----------------------------------------------------------------------------- scenes the tests build
def state():
    """What a failed operator must leave untouched: objects with their matrices, meshes, images, the camera."""
    return (
        sorted((o.name, tuple(map(tuple, o.matrix_world))) for o in bpy.data.objects),
        sorted(m.name for m in bpy.data.meshes),
        sorted(i.name for i in bpy.data.images),
        bpy.context.scene.camera.name if bpy.context.scene.camera else None,
    )


def activate(obj):
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    bpy.context.view_layer.objects.active = obj
    if obj is not None:
        obj.select_set(True)


def ellipsoid(name="Target", location=(0.4, -0.2, 0.3), scale=(1.2, 0.8, 0.6)):
    bpy.ops.mesh.primitive_uv_sphere_add(segments=48, ring_count=24, location=location, scale=scale)
    obj = bpy.context.active_object
    obj.name = name
    return obj


def open_icosphere(name="Open", holes=6):
    """A level-2 icosphere with its first ``holes`` faces removed: a mesh that is not closed."""
    import bmesh

    bpy.ops.mesh.primitive_ico_sphere_add(subdivisions=2, radius=1.0)
    obj = bpy.context.active_object
    obj.name = name
    bm = bmesh.new()
    bm.from_mesh(obj.data)
    bm.faces.ensure_lookup_table()
    bmesh.ops.delete(bm, geom=[bm.faces[i] for i in range(holes)], context="FACES_ONLY")
    bm.to_mesh(obj.data)
    bm.free()
    return obj


def look_at(location, target=(0.0, 0.0, 0.0)):
    from mathutils import Vector

    d = Vector(target) - Vector(location)
    return d.to_track_quat("-Z", "Y").to_matrix().to_4x4()


def pose_scene(size=(96, 72)):
    """The estimate-pose example mesh, a camera at a known pose and its Cycles silhouette as an Image datablock."""
    from mathutils import Matrix

    from unrender.methods.estimate_pose import example_mesh
    from unrender_addon import convert

    mesh = example_mesh()
    obj = convert.new_mesh_object(bpy.context, "Blob", mesh.verts_packed().double().numpy(), mesh.faces_packed().numpy())
    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    bpy.context.scene.collection.objects.link(cam)
    bpy.context.scene.camera = cam
    cam.data.lens = 40.0
    loc = (3.2, -4.1, 2.2)
    cam.matrix_world = Matrix.Translation(loc) @ look_at(loc)
    r = bpy.context.scene.render
    r.resolution_x, r.resolution_y, r.resolution_percentage = size[0], size[1], 100
    r.engine, r.film_transparent = "CYCLES", True
    bpy.context.scene.cycles.samples = 4
    bpy.context.scene.cycles.device = "CPU"
    bpy.context.view_layer.update()
    truth = np.array(cam.matrix_world)
    bpy.ops.render.render()
    result = bpy.data.images["Render Result"]
    path = bpy.app.tempdir + "unrender_pose_reference.png"
    result.save_render(path)
    ref = bpy.data.images.load(path)
    ref.name = "Reference"
    ref.pixels[0]  # load the pixels
    return obj, cam, ref, truth


def rotation_deg(a, b):
    r = np.array(a)[:3, :3].T @ np.array(b)[:3, :3]
    return math.degrees(math.acos(np.clip((np.trace(r) - 1) / 2, -1, 1)))


def turn(cam, degrees, axis="Z", pivot=(0.0, 0.0, 0.0)):
    from mathutils import Matrix

    p = Matrix.Translation(pivot)
    cam.matrix_world = p @ Matrix.Rotation(math.radians(degrees), 4, axis) @ p.inverted() @ cam.matrix_world
    bpy.context.view_layer.update()


def scene_mesh() -> tuple[np.ndarray, np.ndarray]:
    """All mesh objects of the scene, evaluated (modifiers applied), triangulated, in world space:
    ``verts (V, 3)`` float64, ``faces (F, 3)`` int64."""
    dg = bpy.context.evaluated_depsgraph_get()
    verts, faces, offset = [], [], 0
    for ob in bpy.context.scene.objects:
        if ob.type != "MESH":
            continue
        ob_eval = ob.evaluated_get(dg)
        me = ob_eval.to_mesh()
        try:
            me.calc_loop_triangles()
            co = np.empty(len(me.vertices) * 3)
            me.vertices.foreach_get("co", co)
            tri = np.empty(len(me.loop_triangles) * 3, dtype=np.int64)
            me.loop_triangles.foreach_get("vertices", tri)
            mw = np.array(ob_eval.matrix_world, dtype=np.float64)
            verts.append(co.reshape(-1, 3) @ mw[:3, :3].T + mw[:3, 3])
            faces.append(tri.reshape(-1, 3) + offset)
            offset += len(me.vertices)
        finally:
            ob_eval.to_mesh_clear()
    return np.concatenate(verts), np.concatenate(faces)


def cycles_coverage_settings(scene) -> None:
    """Cycles on the CPU with one sample at each pixel centre (a 0.01 px filter) and transparent film:
    the alpha of an 8-bit RGBA PNG is exactly the coverage at pixel centres."""
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 1
    scene.cycles.use_adaptive_sampling = False
    scene.cycles.use_denoising = False
    scene.cycles.max_bounces = 0
    scene.cycles.filter_width = 0.01
    scene.render.film_transparent = True
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
    scene.render.image_settings.color_depth = "8"
