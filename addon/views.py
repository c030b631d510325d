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
from contextlib import ExitStack, contextmanager
from pathlib import Path

import bpy
import numpy as np

from . import compare
from .jobs import ModalJob, Tick
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


class ViewRender:
    """Renders camera objects one view at a time (:meth:`step`), so a modal operator can show progress and stop
    between views. Every scene change (settings, hidden objects, temporary cameras it was handed in ``stack``)
    is undone by :meth:`close`, which :func:`render_views` and the modal export always call."""

    def __init__(self, context, cameras, *, alone=None, engine: str = "SCENE", size=None, transparent: bool = True,
                 samples: int = 0, stack: ExitStack | None = None):
        if not cameras:
            raise ValueError("cameras: expected at least one camera to render from, found none")
        self.context, self.cameras, self.transparent = context, list(cameras), transparent
        self.stack = stack or ExitStack()
        self.folder = tempfile.mkdtemp(prefix="unrender_views_")
        self.stack.callback(shutil.rmtree, self.folder, True)
        scene = context.scene
        saved_camera = scene.camera
        self.stack.callback(setattr, scene, "camera", saved_camera)
        try:
            self.stack.enter_context(_alone(context, alone))
            self.stack.enter_context(compare.temporary_settings(
                _settings(scene, engine, size, transparent, samples, os.path.join(self.folder, "view"))))
        except BaseException:
            self.stack.close()
            raise
        self.images, self.bcams = [], []

    @property
    def done(self) -> int:
        return len(self.images)

    def step(self) -> bool:
        """Render the next view -> True once every view is rendered."""
        from unrender.cameras import BlenderCamera
        from unrender.io import load_image

        scene, cam = self.context.scene, self.cameras[self.done]
        scene.camera = cam
        path = os.path.join(self.folder, f"{self.done:04d}.png")
        scene.render.filepath = path
        self.context.view_layer.update()
        bcam = BlenderCamera.from_bpy(cam, scene)
        try:
            bpy.ops.render.render(write_still=True, scene=scene.name)
        except RuntimeError as exc:
            raise ValueError(f"camera {cam.name!r}: the render failed: {str(exc).strip()}") from None
        self.images.append(load_image(path))
        self.bcams.append(bcam)
        return self.done == len(self.cameras)

    def views(self):
        """The rendered views -> ``PosedViews`` (masks from alpha with a transparent film; names: the cameras')."""
        import torch

        from unrender.cameras import cameras_from_blender
        from unrender.io import PosedViews

        px = torch.stack(self.images)
        cams, _ = cameras_from_blender(self.bcams)
        masks = px[..., 3].contiguous() if self.transparent and px.shape[-1] == 4 else None
        return PosedViews(px[..., :3].contiguous(), cams, masks, file_names=[c.name for c in self.cameras])

    def close(self) -> None:
        self.stack.close()


def run_to_end(run: ViewRender, progress=None):
    """Render every view of ``run`` -> ``PosedViews``; ``progress(done, total)`` after each; ``run`` is closed (every
    scene change undone), also on error."""
    try:
        while True:
            finished = run.step()
            if progress is not None:
                progress(run.done, len(run.cameras))
            if finished:
                return run.views()
    finally:
        run.close()


def render_views(context, cameras, *, progress=None, **settings):
    """Render ``cameras`` (camera objects) with Blender -> ``PosedViews`` (see :class:`ViewRender` for
    ``settings``: ``alone`` an object rendered alone, ``engine``, ``size`` ``(H, W)`` (default: the scene's),
    ``transparent``, ``samples``); ``progress`` as for :func:`run_to_end`."""
    return run_to_end(ViewRender(context, cameras, **settings), progress)


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


def object_view_render(context, obj, count: int, *, layout: str = "RING", elevation: float = 20.0, size: int = 128,
                       lens: float = 50.0, distance: float = 0.0, **settings) -> ViewRender:
    """A :class:`ViewRender` of the selected object alone from ``count`` temporary cameras around it (removed on
    close), ``size`` x ``size`` pixels; ``settings``: ``engine``, ``transparent``, ``samples``."""
    if obj is None:
        raise ValueError("object: nothing selected; select the object to render views of")
    if obj.type in KEPT_TYPES or obj.type == "EMPTY":
        raise ValueError(f"object: expected an object that renders (a mesh, curve, ...), found "
                         f"{obj.type.lower()} object {obj.name!r}")
    matrices = ring_matrices(obj, count, layout, elevation, lens, 36.0, distance)
    stack = ExitStack()
    try:
        cams = stack.enter_context(temporary_cameras(context, matrices, lens))
        return ViewRender(context, cams, alone=obj, size=(size, size), stack=stack, **settings)
    except BaseException:
        stack.close()
        raise


def render_object_views(context, obj, count: int, *, progress=None, **options):
    """The selected object alone from ``count`` cameras around it -> ``PosedViews`` (options: those of
    :func:`object_view_render`; ``progress`` as for :func:`run_to_end`)."""
    return run_to_end(object_view_render(context, obj, count, **options), progress)


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
    held_out: bpy.props.IntProperty(
        name="Held-out views", default=0, min=0, max=1000,
        description="Views kept out of training, spread evenly: with any, the NeRF-synthetic layout is written "
                    "(transforms_train.json and transforms_test.json, images in train/ and test/)")

    @classmethod
    def poll(cls, context):
        return ready(cls, context, "export views")

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def _render(self, context) -> ViewRender:
        if self.source == "RING":
            return object_view_render(context, context.active_object, self.count, layout=self.layout,
                                      elevation=self.elevation, size=self.size, engine=self.engine,
                                      transparent=self.transparent)
        return ViewRender(context, scene_cameras(context, self.source), engine=self.engine,
                          transparent=self.transparent)

    def _path(self) -> Path:
        """``transforms.json``; with held-out views the dataset folder (the json path's folder)."""
        path = Path(bpy.path.abspath(self.filepath))
        if self.held_out:
            return path.parent if path.suffix.lower() == ".json" else path
        return path if path.suffix.lower() == ".json" else path / "transforms.json"

    def execute(self, context):
        try:
            run = self._render(context)
        except (ValueError, FileNotFoundError, OSError) as exc:
            self.report({"ERROR"}, f"Export views: {exc}")
            return {"CANCELLED"}
        if self.held_out >= len(run.cameras):
            run.close()
            self.report({"ERROR"}, f"Export views: held_out: expected fewer held-out views than the "
                                   f"{len(run.cameras)} views, found {self.held_out}")
            return {"CANCELLED"}
        self._run = ExportRun(run, self._path(), self.held_out)
        if bpy.app.background or context.window is None:  # scripts: render every view now
            return self._run.run_blocking(context, self)
        return self._run.start_modal(self, context, f"Export views: rendering {len(run.cameras)} views")

    def modal(self, context, event):
        return self._run.modal(self, context, event)

    def cancel(self, context):
        self._run.abandon(context)


class ExportRun(ModalJob):
    """The export's renders, one view per timer tick (Esc stops between views: nothing is written), then
    ``save_views``: one ``transforms.json`` at ``path``, or with ``held_out`` views the NeRF-synthetic folder
    ``path`` (``transforms_train.json``, ``transforms_test.json``, images ``<split>/<camera name>.png``).
    The scene is restored in every case."""

    interval = 0.01

    def __init__(self, run: ViewRender, path: Path, held_out: int = 0):
        super().__init__()
        self.run, self.path, self.held_out, self.error = run, path, held_out, None

    def update(self, context) -> Tick:
        total = len(self.run.cameras)
        if self.cancel_requested:
            return Tick(True, None, None)
        try:
            finished = self.run.step()
        except (ValueError, OSError) as exc:
            self.error, finished = exc, True
        return Tick(finished, self.run.done / total, f"Export views: view {self.run.done}/{total}")

    def stop_work(self) -> None:
        pass  # the next tick sees cancel_requested and renders no more

    def cancelling_status(self) -> str:
        return "Cancelling the views export"

    def outcome(self, reports) -> set[str]:
        from unrender.io import holdout_splits, save_views

        try:
            if self.error is not None:
                raise self.error
            if self.cancel_requested:
                reports.report({"WARNING"}, "Export views cancelled; nothing written")
                return {"CANCELLED"}
            views = self.run.views()
            self.run.close()  # the scene as it was before the files are written
            if self.held_out:
                views.splits = holdout_splits(len(views), self.held_out / len(views))
                views.file_names = [f"{s}/{n}" for s, n in zip(views.splits, views.file_names)]
            save_views(self.path, views, split_files=bool(self.held_out))
        except (ValueError, FileNotFoundError, OSError) as exc:
            reports.report({"ERROR"}, f"Export views: {exc}")
            return {"CANCELLED"}
        finally:
            self.run.close()
        H, W = views.image_size
        reports.report({"INFO"}, f"Exported {len(views)} views ({W}x{H}) to {self.path}")
        return {"FINISHED"}

    def run_blocking(self, context, reports) -> set[str]:
        """Render every view now (the window manager's progress only) -> :meth:`outcome`."""
        progress = UIProgress(context, "Export views")
        try:
            while not self.update(context).done:
                progress(self.run.done, len(self.run.cameras))
        finally:
            progress.end()
        return self.outcome(reports)

    def abandon(self, context) -> None:
        self.run.close()
        self.end_modal(context)


def menu_export(self, context):
    self.layout.operator(UNRENDER_OT_export_views.bl_idname, text="Views as NeRF (transforms.json)")


def register_menu() -> None:
    bpy.types.TOPBAR_MT_file_export.append(menu_export)


def unregister_menu() -> None:
    bpy.types.TOPBAR_MT_file_export.remove(menu_export)


CLASSES = (UNRENDER_OT_export_views,)
