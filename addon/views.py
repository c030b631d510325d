"""Posed views from the scene: the selected object rendered from a ring or sphere of cameras, or the scene's
cameras with their images, as unrender ``PosedViews``; and the "Export views (transforms.json)" operator.

Rendering (:func:`render_views`) changes, for its duration only, the scene camera, the render engine,
resolution, film transparency, the output file settings and the view transform ("Standard", so the
PNGs hold the scene's sRGB-encoded colours and a vertex-coloured result renders the same), and hides
every other object from the render when one object is rendered alone. Everything is restored and the
temporary cameras are removed afterwards, also on error. The cameras of the views convert the way
Blender renders (:func:`unrender.cameras.cameras_from_blender`).

Existing cameras with images (:func:`camera_views`): each camera's image is a file named after the camera
(``<camera name>.png``, ``.jpg``, ...) in a chosen folder, or, with no folder, the camera's first
background image (Camera properties > Background Images), the picture Blender shows through that camera.
The images set the render size of every camera; they must all have one size.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import bpy
import numpy as np

from . import compare
from .registration import ready

#: Object types that stay visible when one object is rendered alone (they light or frame it).
KEPT_TYPES = ("LIGHT", "CAMERA", "LIGHT_PROBE")
ENGINES = [("SCENE", "Scene's engine", "Render with the scene's render engine"),
           ("WORKBENCH", "Workbench", "Fast flat renders"),
           ("EEVEE", "EEVEE", "EEVEE"),
           ("CYCLES", "Cycles", "Cycles (few samples are enough for masks)")]


# ----------------------------------------------------------------------------- camera placement
def object_bounds(obj) -> tuple[np.ndarray, float]:
    """An object's world-space bounding box -> (centre ``(3,)``, radius of the box's sphere)."""
    m = np.array(obj.matrix_world, dtype=np.float64)
    box = np.array([list(c) for c in obj.bound_box], dtype=np.float64)
    world = box @ m[:3, :3].T + m[:3, 3]
    lo, hi = world.min(0), world.max(0)
    return (lo + hi) / 2, max(float(np.linalg.norm(hi - lo)) / 2, 1e-6)


def look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The ``matrix_world`` ``(4, 4)`` of a camera at ``eye`` looking at ``target``, world Z up in its image."""
    forward = target - eye
    forward = forward / np.linalg.norm(forward)
    up = np.array([0.0, 0.0, 1.0])
    if abs(forward @ up) > 0.999:  # straight up or down: image up is world Y
        up = np.array([0.0, 1.0, 0.0])
    x = np.cross(forward, up)
    x /= np.linalg.norm(x)
    y = np.cross(x, forward)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = x, y, -forward, eye
    return m


def view_directions(count: int, layout: str = "RING", elevation: float = 20.0) -> np.ndarray:
    """``(count, 3)`` unit directions from the object to the cameras: a ring at ``elevation`` degrees, or a
    sphere (Fibonacci spiral, upper and lower halves)."""
    if count < 1:
        raise ValueError(f"count: expected at least 1 view, found {count}")
    if layout == "RING":
        az = 2 * math.pi * np.arange(count) / count
        el = np.full(count, math.radians(elevation))
    elif layout == "SPHERE":
        z = 1 - (2 * np.arange(count) + 1) / count
        el = np.arcsin(np.clip(z, -0.95, 0.95))  # not straight up or down
        az = np.pi * (3 - math.sqrt(5)) * np.arange(count)
    else:
        raise ValueError(f"layout: expected RING or SPHERE, found {layout!r}")
    return np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], -1)


def fit_distance(radius: float, lens: float, sensor_width: float, margin: float = 1.1) -> float:
    """How far a camera with ``lens`` (mm, square image, AUTO sensor fit) stands so a sphere of ``radius`` fits."""
    half = math.atan(0.5 * sensor_width / lens)
    return margin * radius / math.sin(half)


# ----------------------------------------------------------------------------- rendering
@contextmanager
def _alone(context, obj):
    """Hide every object but ``obj`` (and lights, cameras) from the render; restored afterwards."""
    hidden = []
    try:
        if obj is not None:
            for o in context.scene.objects:
                if o != obj and o.type not in KEPT_TYPES and not o.hide_render:
                    o.hide_render = True
                    hidden.append(o)
        yield
    finally:
        for o in hidden:
            try:
                o.hide_render = False
            except ReferenceError:
                pass


def _settings(scene, engine: str, size, transparent: bool, samples: int, path: str) -> list[tuple]:
    r, img = scene.render, scene.render.image_settings
    out = []
    if engine != "SCENE":
        out.append((r, "engine", compare.engine_id(engine)))
    if size is not None:
        out += [(r, "resolution_x", int(size[1])), (r, "resolution_y", int(size[0])), (r, "resolution_percentage", 100)]
    out += [(r, "film_transparent", bool(transparent)), (r, "use_border", False), (r, "filepath", path),
            (r, "use_file_extension", True), (r, "use_multiview", False),
            (scene.view_settings, "view_transform", "Standard"), (scene.view_settings, "look", "None")]
    if hasattr(img, "media_type"):
        out.append((img, "media_type", "IMAGE"))
    out += [(img, "file_format", "PNG"), (img, "color_mode", "RGBA" if transparent else "RGB"), (img, "color_depth", "8")]
    if engine == "CYCLES" and samples:
        out.append((scene.cycles, "samples", int(samples)))
    elif engine == "EEVEE" and samples:
        out.append((scene.eevee, "taa_render_samples", int(samples)))
    return out


def render_views(context, cameras, *, alone=None, engine: str = "SCENE", size=None, transparent: bool = True,
                 samples: int = 0, progress=None):
    """Render ``cameras`` (camera objects) with Blender -> ``PosedViews`` (images, masks from alpha when
    ``transparent``, the cameras as Blender renders them, file names = camera names).

    ``alone``: an object rendered alone (others hidden); ``size``: ``(H, W)`` (default: the scene's);
    ``progress(done, total)``: called after every view. Every scene change is undone, also on error.
    """
    import torch

    from unrender.cameras import BlenderCamera, cameras_from_blender
    from unrender.io import PosedViews, load_image

    scene = context.scene
    if not cameras:
        raise ValueError("cameras: expected at least one camera to render from, found none")
    folder = tempfile.mkdtemp(prefix="unrender_views_")
    saved_camera = scene.camera
    images, bcams = [], []
    try:
        with _alone(context, alone), compare.temporary_settings(
                _settings(scene, engine, size, transparent, samples, os.path.join(folder, "view"))):
            for i, cam in enumerate(cameras):
                scene.camera = cam
                path = os.path.join(folder, f"{i:04d}.png")
                scene.render.filepath = path
                context.view_layer.update()
                bcams.append(BlenderCamera.from_bpy(cam, scene))
                try:
                    bpy.ops.render.render(write_still=True, scene=scene.name)
                except RuntimeError as exc:
                    raise ValueError(f"camera {cam.name!r}: the render failed: {str(exc).strip()}") from None
                images.append(load_image(path))
                if progress is not None:
                    progress(i + 1, len(cameras))
    finally:
        scene.camera = saved_camera
        shutil.rmtree(folder, ignore_errors=True)
    px = torch.stack(images)
    cams, _ = cameras_from_blender(bcams)
    masks = px[..., 3].contiguous() if transparent and px.shape[-1] == 4 else None
    return PosedViews(px[..., :3].contiguous(), cams, masks, file_names=[c.name for c in cameras])


@contextmanager
def temporary_cameras(context, matrices: np.ndarray, lens: float = 50.0, sensor_width: float = 36.0):
    """Camera objects at ``matrices`` ``(N, 4, 4)`` (named ``unrender view 0000``, ...), removed afterwards."""
    made = []
    try:
        for i, m in enumerate(matrices):
            data = bpy.data.cameras.new(f"unrender view {i:04d}")
            data.lens, data.sensor_width, data.sensor_fit = lens, sensor_width, "AUTO"
            data.clip_start, data.clip_end = 0.01, 1e4
            obj = bpy.data.objects.new(data.name, data)
            context.scene.collection.objects.link(obj)
            obj.matrix_world = type(obj.matrix_world)(np.asarray(m, dtype=np.float64).tolist())
            made.append((obj, data))
        context.view_layer.update()
        yield [o for o, _ in made]
    finally:
        for obj, data in reversed(made):
            try:
                bpy.data.objects.remove(obj)
                bpy.data.cameras.remove(data)
            except ReferenceError:
                pass


def ring_matrices(obj, count: int, layout: str = "RING", elevation: float = 20.0, lens: float = 50.0,
                  sensor_width: float = 36.0, distance: float = 0.0) -> np.ndarray:
    """``(count, 4, 4)`` camera matrices around ``obj``'s bounds, looking at their centre; ``distance`` 0: the
    bounds' sphere just fits the (square) image."""
    center, radius = object_bounds(obj)
    d = distance or fit_distance(radius, lens, sensor_width)
    return np.stack([look_at(center + d * v, center) for v in view_directions(count, layout, elevation)])


def render_object_views(context, obj, count: int, *, layout: str = "RING", elevation: float = 20.0, size: int = 128,
                        lens: float = 50.0, distance: float = 0.0, engine: str = "SCENE", transparent: bool = True,
                        samples: int = 0, progress=None):
    """The selected object alone from ``count`` cameras around it, ``size`` x ``size`` pixels -> ``PosedViews``."""
    if obj is None:
        raise ValueError("object: nothing selected; select the object to render views of")
    if obj.type in KEPT_TYPES or obj.type == "EMPTY":
        raise ValueError(f"object: expected an object that renders (a mesh, curve, ...), found "
                         f"{obj.type.lower()} object {obj.name!r}")
    matrices = ring_matrices(obj, count, layout, elevation, lens, 36.0, distance)
    with temporary_cameras(context, matrices, lens) as cams:
        return render_views(context, cams, alone=obj, engine=engine, size=(size, size), transparent=transparent,
                            samples=samples, progress=progress)


# ----------------------------------------------------------------------------- existing cameras with images
def scene_cameras(context, which: str = "SELECTED") -> list:
    """The scene's camera objects, sorted by name: the selected ones (``SELECTED``) or all (``ALL``)."""
    objs = context.selected_objects if which == "SELECTED" else context.scene.objects
    cams = sorted((o for o in objs if o.type == "CAMERA"), key=lambda o: o.name)
    if not cams:
        what = "selected cameras" if which == "SELECTED" else "cameras in the scene"
        raise ValueError(f"cameras: expected {what}, found none")
    return cams


def camera_image_file(cam, folder: str = "") -> Path:
    """The image file of a camera: ``<folder>/<camera name>.<ext>`` when ``folder`` is set, else the file of the
    camera's first background image. ``ValueError`` naming the camera when it has none."""
    from unrender.io import VIEWS_IMAGE_SUFFIXES

    if folder:
        root = Path(bpy.path.abspath(folder))
        for ext in VIEWS_IMAGE_SUFFIXES:
            for p in (root / f"{cam.name}{ext}", root / f"{cam.name}{ext.upper()}"):
                if p.is_file():
                    return p
        raise ValueError(f"camera {cam.name!r}: expected an image file named {cam.name}.png (or .jpg, ...) in "
                         f"{root}, found none")
    for bg in cam.data.background_images:
        if bg.image is not None and bg.image.filepath:
            p = Path(bpy.path.abspath(bg.image.filepath, library=bg.image.library))
            if p.is_file():
                return p
            raise ValueError(f"camera {cam.name!r}: expected its background image file, found no file at {p}")
    raise ValueError(f"camera {cam.name!r}: expected a background image with a file (Camera properties > "
                     f"Background Images) or an images folder, found neither")


def camera_views(context, cameras, folder: str = ""):
    """Existing cameras with their image files -> ``PosedViews`` (masks from alpha when every image has it);
    every camera renders at the images' size, which must be one size for all."""
    import torch

    from unrender.cameras import BlenderCamera, cameras_from_blender
    from unrender.io import PosedViews, load_image

    files = [camera_image_file(cam, folder) for cam in cameras]  # every camera checked before decoding
    images = []
    for cam, f in zip(cameras, files):
        img = load_image(f)
        if images and img.shape[:2] != images[0].shape[:2]:
            raise ValueError(f"camera {cam.name!r}: expected a {images[0].shape[1]}x{images[0].shape[0]} image like "
                             f"{cameras[0].name!r}'s, found {img.shape[1]}x{img.shape[0]} in {f.name}")
        images.append(img)
    H, W = images[0].shape[:2]
    bcams = []
    for cam in cameras:
        if cam.data.type != "PERSP":
            raise ValueError(f"camera {cam.name!r}: expected a perspective camera, found {cam.data.type.lower()}")
        b = BlenderCamera.from_bpy(cam, context.scene)
        b.resolution_x, b.resolution_y, b.resolution_percentage = W, H, 100
        bcams.append(b)
    cams, _ = cameras_from_blender(bcams)
    alpha = all(i.shape[-1] == 4 for i in images)
    px = torch.stack([i[..., :3] for i in images])
    masks = torch.stack([i[..., 3] for i in images]) if alpha else None
    return PosedViews(px.contiguous(), cams, masks, file_names=[c.name for c in cameras])


# ----------------------------------------------------------------------------- progress in the UI
class UIProgress:
    """``progress(done, total)`` shown in the window manager's progress and the status bar (when there is a UI)."""

    def __init__(self, context, label: str):
        self.wm, self.label = context.window_manager, label
        has_ui = not bpy.app.background and getattr(context, "window", None) is not None
        self.workspace = context.workspace if has_ui else None
        self.started = False

    def __call__(self, done: int, total: int) -> None:
        if not self.started:
            self.wm.progress_begin(0, total)
            self.started = True
        self.wm.progress_update(done)
        if self.workspace is not None:
            self.workspace.status_text_set(f"{self.label}: view {done}/{total}")
            try:  # draw the status bar now: the renders block the main thread
                bpy.ops.wm.redraw_timer(type="DRAW_WIN_SWAP", iterations=1)
            except RuntimeError:
                pass

    def end(self) -> None:
        if self.started:
            self.wm.progress_end()
        if self.workspace is not None:
            self.workspace.status_text_set(None)


# ----------------------------------------------------------------------------- export operator
class UNRENDER_OT_export_views(bpy.types.Operator):
    """Write the scene's cameras (or a ring of cameras around the selected object) and their renders as a NeRF
    transforms.json with PNG images, for other NeRF tools"""

    bl_idname = "unrender.export_views"
    bl_label = "Export views (transforms.json)"
    bl_options = {"REGISTER"}

    filepath: bpy.props.StringProperty(subtype="FILE_PATH", default="transforms.json")
    filter_glob: bpy.props.StringProperty(default="*.json", options={"HIDDEN"})
    source: bpy.props.EnumProperty(
        name="Cameras", default="SELECTED",
        items=[("SELECTED", "Selected cameras", "The selected camera objects"),
               ("ALL", "All cameras", "Every camera of the scene"),
               ("RING", "Ring around the object", "Cameras around the active object (rendered alone)")])
    count: bpy.props.IntProperty(name="Views", default=40, min=1, max=1000, description="Cameras of the ring")
    layout: bpy.props.EnumProperty(name="Layout", default="RING",
                                   items=[("RING", "Ring", "One ring at the elevation"),
                                          ("SPHERE", "Sphere", "Spread over a sphere")])
    elevation: bpy.props.FloatProperty(name="Elevation", default=20.0, min=-89.0, max=89.0,
                                       description="Degrees above the object's centre (ring)")
    size: bpy.props.IntProperty(name="Image size", default=256, min=8, max=4096, description="Ring images (square)")
    engine: bpy.props.EnumProperty(name="Engine", items=ENGINES, default="SCENE")
    transparent: bpy.props.BoolProperty(name="Transparent film", default=True,
                                        description="Transparent background: the PNGs keep alpha (the masks)")

    @classmethod
    def poll(cls, context):
        return ready(cls, context, "export views")

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        from unrender.io import save_views

        progress = UIProgress(context, "Export views")
        try:
            if self.source == "RING":
                views = render_object_views(context, context.active_object, self.count, layout=self.layout,
                                            elevation=self.elevation, size=self.size, engine=self.engine,
                                            transparent=self.transparent, progress=progress)
            else:
                views = render_views(context, scene_cameras(context, self.source), engine=self.engine,
                                     transparent=self.transparent, progress=progress)
            path = Path(bpy.path.abspath(self.filepath))
            if path.suffix.lower() != ".json":
                path = path / "transforms.json"
            save_views(path, views, split_files=False)
        except (ValueError, FileNotFoundError, OSError) as exc:
            self.report({"ERROR"}, f"Export views: {exc}")
            return {"CANCELLED"}
        finally:
            progress.end()
        self.report({"INFO"}, f"Exported {len(views)} views ({views.image_size[1]}x{views.image_size[0]}) to {path}")
        return {"FINISHED"}


def menu_export(self, context):
    self.layout.operator(UNRENDER_OT_export_views.bl_idname, text="Views as NeRF (transforms.json)")


def register_menu() -> None:
    bpy.types.TOPBAR_MT_file_export.append(menu_export)


def unregister_menu() -> None:
    bpy.types.TOPBAR_MT_file_export.remove(menu_export)


CLASSES = (UNRENDER_OT_export_views,)
