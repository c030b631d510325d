"""Compare renders: the active camera rendered by Blender and by unrender, side by side, with the difference.

``unrender.compare_renders`` converts what the scene camera sees into an
:class:`unrender.render.Scene` (rendered meshes with modifiers, in world space;
base colours; sun and point lights; the world colour), renders it with
:func:`unrender.render.render_scene`, renders the same camera with Blender
(Workbench, EEVEE or Cycles) and writes three Image datablocks:
:data:`IMAGE_NAMES` (re-running replaces them). The silhouette IoU and PSNR go
to the status bar (``self.report``) and to :data:`last_result`.

For the Blender render a few settings are changed for its duration and then
restored, also on error: a transparent film, the "Standard" view transform
with no look, exposure 0 and gamma 1 (so the saved 32-bit OpenEXR holds the
linear scene values unrender computes), no border, compositor, sequencer or
motion blur, Cycles' film exposure 1 and Blackman-Harris pixel filter, and
the sample count asked for. Workbench renders with flat lighting and
material colours (its studio lighting has no physical equivalent) and is
compared with unrender's unlit base colours, which for Workbench are the
materials' viewport display colours.

Light units and what the comparison leaves out (shadows, bounces, specular,
textures) are described in :mod:`unrender.render.scene`. Of the scene, the
objects the render shows are converted (collections and objects enabled for
renders, visible to camera rays), but not instances: an object instancing a
collection, its vertices or its faces gets a warning; instances made by
geometry nodes or particle systems are left out. Materials give a colour
when their surface is a Principled or Diffuse BSDF whose base colour is a
value or a colour attribute (others: a warning and the viewport colour).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from contextlib import contextmanager

import bpy
import numpy as np

from . import convert, registration
from .registration import ready

IMAGE_NAMES = {
    "blender": "Unrender compare: Blender",
    "unrender": "Unrender compare: unrender",
    "difference": "Unrender compare: difference",
}
DEFAULT_COLOR = (0.8, 0.8, 0.8)  # Blender's grey for objects without a material
MAX_SAMPLES = 16_000_000  # unrender samples per render (pixels x antialias^2): bounds memory and time

#: The last successful comparison: metrics, image names, sizes and timings (for scripts and tests).
last_result: dict | None = None


def eevee_engine() -> str:
    """EEVEE's engine id in this Blender: ``BLENDER_EEVEE_NEXT`` in 4.2-4.4, ``BLENDER_EEVEE`` before and since 5.0."""
    items = {i.identifier for i in bpy.types.RenderSettings.bl_rna.properties["engine"].enum_items}
    return "BLENDER_EEVEE_NEXT" if "BLENDER_EEVEE_NEXT" in items else "BLENDER_EEVEE"


ENGINE_ITEMS = (
    ("WORKBENCH", "Workbench", "Flat material colours: checks geometry, camera and colours, not lighting"),
    ("EEVEE", "EEVEE", "Blender's rasterising engine"),
    ("CYCLES", "Cycles", "Blender's path tracer: the physical reference for light units"),
)


def engine_id(engine: str) -> str:
    return {"WORKBENCH": "BLENDER_WORKBENCH", "EEVEE": eevee_engine(), "CYCLES": "CYCLES"}[engine]


# ----------------------------------------------------------------------------- reading the scene
def render_objects(view_layer) -> list:
    """Objects a render of ``view_layer`` uses: in a collection that is neither excluded nor
    disabled for renders, not disabled for renders themselves and, except lights (which are never
    seen by camera rays), visible to camera rays."""
    names: set[str] = set()

    def walk(layer_collection):
        if layer_collection.exclude or layer_collection.collection.hide_render:
            return
        names.update(o.name for o in layer_collection.collection.objects)
        for child in layer_collection.children:
            walk(child)

    walk(view_layer.layer_collection)
    return [o for o in view_layer.objects
            if o.name in names and not o.hide_render and (o.type == "LIGHT" or getattr(o, "visible_camera", True))]


def _uses_nodes(idblock) -> bool:
    # Blender 5.0 always uses the node tree (``use_nodes`` is deprecated there)
    if idblock.node_tree is None:
        return False
    return bpy.app.version >= (5, 0, 0) or bool(idblock.use_nodes)


def _light_uses_nodes(light) -> bool:
    """Whether a light's node tree changes its light.

    Blender 5.2 gives every new light a tree of one white Emission of
    strength 1 into the Light Output: the light as if it had no tree.
    """
    if not _uses_nodes(light):
        return False
    nodes = {n.bl_idname: n for n in light.node_tree.nodes}
    emission, out = nodes.get("ShaderNodeEmission"), nodes.get("ShaderNodeOutputLight")
    if len(nodes) != len(light.node_tree.nodes) or set(nodes) != {"ShaderNodeEmission", "ShaderNodeOutputLight"}:
        return True
    surface = out.inputs["Surface"]
    plain = (surface.is_linked and surface.links[0].from_node == emission
             and not any(i.is_linked for i in emission.inputs)
             and tuple(emission.inputs["Color"].default_value) == (1.0, 1.0, 1.0, 1.0)
             and emission.inputs["Strength"].default_value == 1.0)
    return not plain


def _target(engine: str) -> str:
    """The node-tree output target an engine renders (Workbench reads no node tree)."""
    return "CYCLES" if engine == "CYCLES" else "EEVEE"


def _surface_node(tree, target: str):
    """The node linked into the Surface socket of the output active for ``target``, or ``None``."""
    out = tree.get_output_node(target) or tree.get_output_node("ALL")
    if out is None or not out.inputs["Surface"].is_linked:
        return None
    return out.inputs["Surface"].links[0].from_node


def material_color(mat, engine: str, warn) -> tuple | str:
    """A material's diffuse colour as the engine sees it: ``(r, g, b)`` linear, or the name of the colour
    attribute that feeds the base colour (``"attribute:NAME"``, ``NAME`` empty for the active one)."""
    if mat is None:
        return DEFAULT_COLOR
    if engine == "WORKBENCH" or not _uses_nodes(mat):
        return tuple(mat.diffuse_color[:3])
    node = _surface_node(mat.node_tree, _target(engine))
    if node is None:
        warn(f"material {mat.name!r}: no surface shader, rendered black by Blender; using its viewport colour")
        return tuple(mat.diffuse_color[:3])
    if node.bl_idname == "ShaderNodeBsdfPrincipled":
        socket = node.inputs["Base Color"]
    elif node.bl_idname == "ShaderNodeBsdfDiffuse":
        socket = node.inputs["Color"]
    else:
        warn(f"material {mat.name!r}: {node.name} is not a diffuse shader; using its viewport colour")
        return tuple(mat.diffuse_color[:3])
    if socket.is_linked:
        source = socket.links[0].from_node
        if source.bl_idname == "ShaderNodeVertexColor":
            return f"attribute:{source.layer_name}"
        if source.bl_idname == "ShaderNodeAttribute" and source.attribute_type == "GEOMETRY":
            return f"attribute:{source.attribute_name}"
        warn(f"material {mat.name!r}: its base colour comes from {source.name}, not converted; using its default")
    return tuple(socket.default_value[:3])


def _color_attribute(me, name: str):
    """``(L, 3)`` per-corner linear colours of a colour attribute (``name`` empty: the active one), or ``None``."""
    attrs = me.color_attributes
    if name:
        attr = attrs.get(name)
    else:  # the node's empty name means the attribute marked for rendering
        i = attrs.render_color_index
        attr = attrs[i] if 0 <= i < len(attrs) else None
    if attr is None:
        return None
    values = np.empty(len(attr.data) * 4, dtype=np.float64)
    attr.data.foreach_get("color", values)
    values = values.reshape(-1, 4)[:, :3]
    if attr.domain == "POINT":
        vi = np.empty(len(me.loops), dtype=np.int64)
        me.loops.foreach_get("vertex_index", vi)
        return values[vi]
    return values if attr.domain == "CORNER" else None


def mesh_shading(me, ob_eval, engine: str, warn) -> tuple[np.ndarray, np.ndarray]:
    """World-space corner normals ``(F, 3, 3)`` and corner colours ``(F, 3, 3)`` of an evaluated mesh's loop
    triangles (the triangles of ``convert.triangles``, in the same order)."""
    me.calc_loop_triangles()  # cached: free after convert.triangles
    F = len(me.loop_triangles)
    loops = np.empty(F * 3, dtype=np.int64)
    me.loop_triangles.foreach_get("loops", loops)
    mat_index = np.empty(F, dtype=np.int64)
    me.loop_triangles.foreach_get("material_index", mat_index)
    normals = np.empty(len(me.loops) * 3, dtype=np.float64)
    me.corner_normals.foreach_get("vector", normals)
    m = np.array(ob_eval.matrix_world, dtype=np.float64)[:3, :3]
    normal_matrix = np.linalg.inv(m).T  # normals transform with the inverse transpose
    corner_normals = (normals.reshape(-1, 3) @ normal_matrix.T)[loops].reshape(F, 3, 3)

    colours = np.empty((F, 3, 3), dtype=np.float64)
    slots = [s.material for s in ob_eval.material_slots] or [None]
    for i in np.unique(mat_index) if F else []:
        colour = material_color(slots[min(int(i), len(slots) - 1)], engine, warn)
        sel = mat_index == i
        if isinstance(colour, str):
            corner = _color_attribute(me, colour.split(":", 1)[1])
            if corner is None:
                warn(f"{ob_eval.name!r}: colour attribute {colour.split(':', 1)[1]!r} not found; using grey")
                colour = DEFAULT_COLOR
            else:
                colours[sel] = corner[loops].reshape(F, 3, 3)[sel]
                continue
        colours[sel] = colour
    return corner_normals, colours


def _light_color(light) -> np.ndarray:
    c = np.array(light.color[:3], dtype=np.float64)
    if getattr(light, "use_temperature", False):
        c = c * np.array(light.temperature_color[:3], dtype=np.float64)
    return c


def convert_light(obj, warn):
    """A light object -> ``SceneSunLight`` / ``ScenePointLight`` (``None``, with a warning, for other kinds)."""
    from unrender.render import ScenePointLight, SceneSunLight

    light = obj.data
    gain = 2.0 ** float(getattr(light, "exposure", 0.0))
    m = np.array(obj.matrix_world, dtype=np.float64)
    if _light_uses_nodes(light):
        warn(f"light {obj.name!r}: its node tree is ignored")
    if light.type == "SUN":
        return SceneSunLight(direction=-m[:3, 2], color=_light_color(light), strength=float(light.energy) * gain)
    if light.type == "POINT":
        return ScenePointLight(location=m[:3, 3], color=_light_color(light), power=float(light.energy) * gain,
                               radius=float(light.shadow_soft_size),
                               soft_falloff=bool(getattr(light, "use_soft_falloff", True)))
    warn(f"light {obj.name!r}: {light.type.lower()} lights are not supported, skipped")
    return None


def world_color(world, engine: str, warn) -> tuple:
    """The world's uniform colour (Background colour x strength), black without a world."""
    if world is None:
        return (0.0, 0.0, 0.0)
    if not _uses_nodes(world):
        return tuple(world.color[:3])
    node = _surface_node(world.node_tree, _target(engine))
    if node is None:
        return (0.0, 0.0, 0.0)
    if node.bl_idname != "ShaderNodeBackground":
        warn(f"world {world.name!r}: {node.name} is not a Background node; using the world's viewport colour")
        return tuple(world.color[:3])
    colour, strength = node.inputs["Color"], node.inputs["Strength"]
    if colour.is_linked or strength.is_linked:
        warn(f"world {world.name!r}: a textured or driven background is not converted; using its default colour")
    return tuple(float(c) * float(strength.default_value) for c in colour.default_value[:3])


def convert_scene(context, engine: str, warn):
    """The rendered part of ``context.scene`` -> ``unrender.render.Scene`` (``ValueError`` when nothing renders)."""
    from unrender.render import Scene, SceneMesh

    depsgraph = context.evaluated_depsgraph_get()
    meshes, lights = [], []
    for obj in render_objects(context.view_layer):
        if obj.type in convert.MESH_LIKE:
            with convert.evaluated_mesh(obj, depsgraph) as (me, ob_eval):
                verts, faces = convert.triangles(me, ob_eval.matrix_world)
                if len(faces) == 0:
                    continue
                normals, colours = mesh_shading(me, ob_eval, engine, warn)
            meshes.append(SceneMesh(verts=verts, faces=faces, color=colours, normals=normals, name=obj.name))
        elif obj.type == "LIGHT" and engine != "WORKBENCH":
            light = convert_light(obj, warn)
            if light is not None:
                lights.append(light)
        elif obj.instance_type != "NONE":
            warn(f"{obj.name!r}: instances ({obj.instance_type.lower()}) are not converted")
    if not meshes:
        raise ValueError("expected at least one rendered object with faces (mesh, curve, text, ...), found none")
    world = world_color(context.scene.world, engine, warn) if engine != "WORKBENCH" else (0.0, 0.0, 0.0)
    return Scene(meshes=meshes, lights=lights, world_color=world)


def scene_camera(scene):
    """The scene camera -> ``(BlenderCamera, cameras, (H, W))``; ``ValueError`` if none or unsupported."""
    from unrender.cameras import BlenderCamera, cameras_from_blender

    cam = scene.camera
    if cam is None:
        raise ValueError("expected a scene camera to render from, found none (set one in Scene properties)")
    if cam.type != "CAMERA":
        raise ValueError(f"expected the scene camera to be a camera, found {cam.type.lower()} object {cam.name!r}")
    try:
        bcam = BlenderCamera.from_bpy(cam, scene)
        cameras, size = cameras_from_blender(bcam)
    except ValueError as exc:
        raise ValueError(f"camera {cam.name!r}: {exc}") from None
    return bcam, cameras, size


# ----------------------------------------------------------------------------- rendering with Blender
def engine_pixel_filter(scene, engine: str) -> tuple[str, float]:
    """The engine's pixel filter as ``render_scene``'s ``(pixel_filter, filter_width)``."""
    if engine == "CYCLES":  # the render is made with Blackman-Harris (see render_settings)
        return "blackman_harris", float(scene.cycles.filter_width)
    if engine == "EEVEE":
        return "gaussian", float(scene.render.filter_size)
    return "blackman_harris_radial", 1.5  # Workbench's TAA filter: fixed (see unrender.render.scene)


def render_settings(scene, engine: str, samples: int, path: str) -> list[tuple[object, str, object]]:
    """``(owner, attribute, value)`` settings for a linear, transparent EXR render, in the order to apply them."""
    r, view = scene.render, scene.view_settings
    out = [
        (r, "engine", engine_id(engine)),
        (r, "film_transparent", True),
        (r, "use_border", False),
        (r, "use_compositing", False),
        (r, "use_sequencer", False),
        (r, "use_motion_blur", False),
        (r, "use_multiview", False),
        (r, "filepath", path),
        (r, "use_file_extension", True),
        (view, "view_transform", "Standard"),
        (view, "look", "None"),
        (view, "exposure", 0.0),
        (view, "gamma", 1.0),
        (view, "use_curve_mapping", False),
    ]
    if hasattr(view, "use_white_balance"):
        out.append((view, "use_white_balance", False))
    img = r.image_settings
    if hasattr(img, "media_type"):
        out.append((img, "media_type", "IMAGE"))
    out += [(img, "file_format", "OPEN_EXR"), (img, "color_mode", "RGBA"), (img, "color_depth", "32")]
    if engine == "CYCLES":
        c = scene.cycles
        out += [(c, "samples", samples), (c, "film_exposure", 1.0), (c, "pixel_filter_type", "BLACKMAN_HARRIS")]
    elif engine == "EEVEE":
        out.append((scene.eevee, "taa_render_samples", samples))
    else:
        sh = scene.display.shading
        out += [(sh, "light", "FLAT"), (sh, "color_type", "MATERIAL"), (sh, "show_shadows", False),
                (sh, "show_cavity", False), (sh, "show_object_outline", False), (sh, "show_xray", False),
                (sh, "use_dof", False), (sh, "show_backface_culling", False)]
    return out


@contextmanager
def temporary_settings(settings):
    """Apply ``(owner, attribute, value)`` settings; restore the old values afterwards, also on error.

    Every old value is read before any is changed (the file format changes
    the colour depth, the view transform the look), and they are restored in
    the order of ``settings``, so a setting that resets others comes back
    before them.
    """
    saved = [(owner, attr, getattr(owner, attr)) for owner, attr, _ in settings]
    try:
        for owner, attr, value in settings:
            setattr(owner, attr, value)
        yield
    finally:
        for owner, attr, value in saved:
            try:
                setattr(owner, attr, value)
            except (TypeError, ValueError, AttributeError):  # an enum value gone with the engine: keep going
                pass


def read_exr(path: str) -> np.ndarray:
    """An OpenEXR file -> ``(H, W, 4)`` float32 linear premultiplied RGBA, top row first (no datablock left behind)."""
    if not os.path.isfile(path):
        raise ValueError(f"expected the render at {path}, found no file")
    img = bpy.data.images.load(path, check_existing=False)
    try:
        px = convert.image_pixels(img, clip=False)
    finally:
        bpy.data.images.remove(img)
    if px.shape[2] == 3:
        px = np.concatenate([px, np.ones_like(px[..., :1])], -1)
    return np.ascontiguousarray(px[..., :4])


def render_blender(scene, engine: str, samples: int) -> np.ndarray:
    """Render ``scene`` with ``engine`` -> ``(H, W, 4)`` linear RGBA; every setting it changes is restored."""
    folder = tempfile.mkdtemp(prefix="unrender_compare_")
    path = os.path.join(folder, "blender.exr")
    try:
        with temporary_settings(render_settings(scene, engine, samples, path)):
            try:
                bpy.ops.render.render(write_still=True, scene=scene.name)
            except RuntimeError as exc:
                raise ValueError(f"the {engine.title()} render failed: {str(exc).strip()}") from None
        return read_exr(path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ----------------------------------------------------------------------------- the operator
def _antialias(requested: int, size: tuple[int, int], warn) -> int:
    fits = max(1, int(math.sqrt(MAX_SAMPLES / (size[0] * size[1]))))
    if requested > fits:
        warn(f"antialias {requested} needs too many samples at {size[1]}x{size[0]}; using {fits}")
    return min(requested, fits)


def render_unrender(scene_desc, bcam, cameras, size, engine: str, antialias: int, filter_spec, device: str):
    """unrender's render of the converted scene -> ``(H, W, 4)`` float32 linear premultiplied RGBA."""
    from unrender.render import render_scene

    cameras = cameras.to(device)
    kind, width = filter_spec
    img = render_scene(scene_desc, cameras, size, shading="unlit" if engine == "WORKBENCH" else "lit",
                       background="transparent", antialias=antialias, pixel_filter=kind, filter_width=width,
                       clip_range=(bcam.clip_start, bcam.clip_end))
    return img[0].cpu().numpy().astype(np.float32)


def _write_images(blender_px, ours_px, difference) -> list:
    """The three comparison images (replacing earlier ones) -> the Image datablocks."""
    blender_img = convert.write_image(IMAGE_NAMES["blender"], blender_px)
    ours_img = convert.write_image(IMAGE_NAMES["unrender"], ours_px)
    for img in (blender_img, ours_img):
        img.alpha_mode = "PREMUL"  # renders with a transparent film hold premultiplied colours
    diff_img = convert.write_image(IMAGE_NAMES["difference"], difference, colorspace="Non-Color")  # display values
    return [blender_img, ours_img, diff_img]


def _settings() -> dict:
    """The comparison's settings: the operator's properties and the panel's (scene) copy of them."""
    return {
        "engine": bpy.props.EnumProperty(name="Engine", items=ENGINE_ITEMS, default="CYCLES",
                                         description="Blender engine to compare unrender's render with"),
        "samples": bpy.props.IntProperty(name="Samples", default=32, min=1, max=4096,
                                         description="Samples per pixel of the Cycles or EEVEE render"),
        "antialias": bpy.props.IntProperty(name="Antialias", default=3, min=1, max=8,
                                           description="unrender renders antialias x antialias samples per pixel"),
    }


class UNRENDER_OT_compare_renders(bpy.types.Operator):
    """Render the scene camera with Blender and with unrender; show both and their difference as images"""

    bl_idname = "unrender.compare_renders"
    bl_label = "Compare renders"
    bl_options = {"REGISTER", "UNDO"}

    __annotations__ = _settings()

    @classmethod
    def poll(cls, context):
        return ready(cls, context, "compare renders")

    def execute(self, context):
        global last_result
        warnings: list[str] = []
        scene = context.scene
        images_before = {img.name for img in bpy.data.images}
        try:
            bcam, cameras, size = scene_camera(scene)
            scene_desc = convert_scene(context, self.engine, warnings.append)
            antialias = _antialias(self.antialias, size, warnings.append)
            t0 = time.perf_counter()
            ours = render_unrender(scene_desc, bcam, cameras, size, self.engine, antialias,
                                   engine_pixel_filter(scene, self.engine), registration.device(context))
            t1 = time.perf_counter()
            theirs = render_blender(scene, self.engine, self.samples)
            t2 = time.perf_counter()
            if theirs.shape[:2] != tuple(size):
                raise ValueError(f"expected a {size[1]}x{size[0]} render from Blender, found "
                                 f"{theirs.shape[1]}x{theirs.shape[0]}")
            from unrender.render import compare_images

            metrics = compare_images(theirs, ours)
            _write_images(theirs, ours, metrics["difference"].numpy())
        except Exception as exc:  # every failure is a report, never a traceback, and leaves no images
            for img in [i for i in bpy.data.images if i.name not in images_before]:
                bpy.data.images.remove(img)  # e.g. a "Render Result" left by a failed render
            why = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
            self.report({"ERROR"}, f"Compare renders: {why}")
            return {"CANCELLED"}
        for w in warnings:
            self.report({"WARNING"}, w)
        last_result = {
            "engine": self.engine,
            "iou": metrics["iou"],
            "psnr": metrics["psnr"],
            "max_abs_diff": metrics["max_abs_diff"],
            "mean_abs_diff": metrics["mean_abs_diff"],
            "size": tuple(size),
            "antialias": antialias,
            "images": dict(IMAGE_NAMES),
            "blender_seconds": t2 - t1,
            "unrender_seconds": t1 - t0,
            "warnings": list(warnings),
        }
        self.report({"INFO"}, f"{self.engine.title()} vs unrender: silhouette IoU {metrics['iou']:.4f}, "
                              f"PSNR {metrics['psnr']:.1f} dB (Blender {t2 - t1:.1f} s, unrender {t1 - t0:.1f} s)")
        return {"FINISHED"}


# ----------------------------------------------------------------------------- the panel
class UNRENDER_PG_compare(bpy.types.PropertyGroup):
    __annotations__ = _settings()


class UNRENDER_PT_compare(bpy.types.Panel):
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Unrender"
    bl_parent_id = "UNRENDER_PT_main"
    bl_label = "Compare renders"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        s = context.scene.unrender_compare
        col = layout.column()
        col.use_property_split = True
        col.prop(s, "engine")
        sub = col.column()
        sub.enabled = s.engine != "WORKBENCH"
        sub.prop(s, "samples")
        col.prop(s, "antialias")
        op = layout.operator(UNRENDER_OT_compare_renders.bl_idname, icon="IMAGE_REFERENCE")
        op.engine, op.samples, op.antialias = s.engine, s.samples, s.antialias
        if last_result is not None:
            box = layout.box()
            box.label(text=f"{last_result['engine'].title()}: IoU {last_result['iou']:.4f}, "
                           f"PSNR {last_result['psnr']:.1f} dB")
            for key in ("blender", "unrender", "difference"):
                box.label(text=last_result["images"][key], icon="IMAGE_DATA")


CLASSES = (UNRENDER_PG_compare, UNRENDER_OT_compare_renders, UNRENDER_PT_compare)
SCENE_PROPERTIES = {"unrender_compare": UNRENDER_PG_compare}  # registered by .registration
