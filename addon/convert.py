"""bpy data <-> unrender data: meshes, point clouds, images, cameras.

Reading functions take Blender objects and return numpy arrays or unrender
structures in **world space** (modifiers applied); writing functions build or
update Blender data from numpy arrays. Every bad input raises ``ValueError``
naming the object and what was expected; the operators turn that into a report.
torch and unrender are imported inside the functions that need them.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import bpy
import numpy as np

#: Object types whose evaluated geometry is a mesh (``Object.to_mesh`` works on them).
MESH_LIKE = ("MESH", "CURVE", "SURFACE", "META", "FONT")
POINTS_DISPLAY_GROUP = "Unrender points"


# ----------------------------------------------------------------------------- reading geometry
def _world(co: np.ndarray, matrix_world) -> np.ndarray:
    m = np.array(matrix_world, dtype=np.float64)
    return co @ m[:3, :3].T + m[:3, 3]


@contextmanager
def evaluated_mesh(obj, depsgraph=None):
    """``with evaluated_mesh(obj) as (me, ob_eval):`` an object's evaluated mesh (modifiers applied), freed after.

    ``ValueError`` naming the object when it is not mesh-like or evaluates to no mesh.
    """
    if obj is None or obj.type not in MESH_LIKE:
        found = "nothing" if obj is None else f"{obj.type.lower()} object {obj.name!r}"
        raise ValueError(f"expected a mesh object, found {found}")
    depsgraph = depsgraph or bpy.context.evaluated_depsgraph_get()
    ob_eval = obj.evaluated_get(depsgraph)
    me = ob_eval.to_mesh()
    try:
        if me is None:
            raise ValueError(f"{obj.name!r}: expected geometry, found an object that evaluates to no mesh")
        yield me, ob_eval
    finally:
        ob_eval.to_mesh_clear()


def triangles(me, matrix_world) -> tuple[np.ndarray, np.ndarray]:
    """A Mesh datablock -> world-space ``verts (V, 3)`` float64 and its loop triangles ``faces (F, 3)`` int64."""
    co = np.empty(len(me.vertices) * 3, dtype=np.float64)
    me.vertices.foreach_get("co", co)
    me.calc_loop_triangles()
    tri = np.empty(len(me.loop_triangles) * 3, dtype=np.int64)
    me.loop_triangles.foreach_get("vertices", tri)
    return _world(co.reshape(-1, 3), matrix_world), tri.reshape(-1, 3)


def mesh_arrays(obj, depsgraph=None) -> tuple[np.ndarray, np.ndarray]:
    """An object's evaluated surface -> world-space ``verts (V, 3)`` float64 and triangles ``faces (F, 3)`` int64.

    Modifiers are applied; polygons are split into Blender's own loop triangles.
    """
    with evaluated_mesh(obj, depsgraph) as (me, ob_eval):
        return triangles(me, ob_eval.matrix_world)


def point_array(obj, depsgraph=None) -> np.ndarray:
    """An object's evaluated points -> world-space ``(N, 3)`` float64.

    A point-cloud object gives its points, a mesh-like object its vertices.
    """
    if obj is None:
        raise ValueError("expected a mesh or point-cloud object, found nothing")
    depsgraph = depsgraph or bpy.context.evaluated_depsgraph_get()
    if obj.type == "POINTCLOUD":
        ob_eval = obj.evaluated_get(depsgraph)
        pos = ob_eval.data.attributes.get("position")
        co = np.empty(len(ob_eval.data.points) * 3, dtype=np.float64)
        if pos is not None and len(co):
            pos.data.foreach_get("vector", co)
        return _world(co.reshape(-1, 3), ob_eval.matrix_world)
    if obj.type == "MESH" and "Unrender points" in obj.modifiers:  # our own cloud: its modifier only draws points
        co = np.empty(len(obj.data.vertices) * 3, dtype=np.float64)
        obj.data.vertices.foreach_get("co", co)
        return _world(co.reshape(-1, 3), obj.matrix_world)
    if obj.type in MESH_LIKE:
        with evaluated_mesh(obj, depsgraph) as (me, ob_eval):
            co = np.empty(len(me.vertices) * 3, dtype=np.float64)
            me.vertices.foreach_get("co", co)
            return _world(co.reshape(-1, 3), ob_eval.matrix_world)
    raise ValueError(f"expected a mesh or point-cloud object, found {obj.type.lower()} object {obj.name!r}")


def has_faces(obj) -> bool:
    """Whether the object has a surface (a mesh with faces, or a curve/text/metaball)."""
    if obj.type == "MESH":
        return len(obj.data.polygons) > 0
    return obj.type in MESH_LIKE


def to_meshes(verts: np.ndarray, faces: np.ndarray):
    """numpy ``(V, 3)``, ``(F, 3)`` -> an unrender ``Meshes`` (float32)."""
    import torch
    from unrender.structures import Meshes

    return Meshes([torch.as_tensor(verts, dtype=torch.float32)], [torch.as_tensor(faces, dtype=torch.int64)])


def to_pointclouds(points: np.ndarray):
    """numpy ``(N, 3)`` -> an unrender ``PointClouds`` (float32)."""
    import torch
    from unrender.structures import PointClouds

    return PointClouds([torch.as_tensor(points, dtype=torch.float32)])


# ----------------------------------------------------------------------------- reading images
def image_pixels(image, clip: bool = True) -> np.ndarray:
    """An Image datablock -> ``(H, W, C)`` float32, top row first (C = its channel count, 1..4).

    Values are clipped to [0, 1] unless ``clip`` is False (linear HDR pixels, e.g. an OpenEXR render).
    """
    w, h = image.size
    if w == 0 or h == 0:
        raise ValueError(f"image {image.name!r}: expected pixels, found an empty image (is its file missing?)")
    c = image.channels
    buf = np.empty(w * h * c, dtype=np.float32)
    image.pixels.foreach_get(buf)
    px = np.ascontiguousarray(buf.reshape(h, w, c)[::-1])  # Blender stores the bottom row first
    return px.clip(0.0, 1.0) if clip else px


def image_tensor(image=None, path: str = ""):
    """An Image datablock or an image file -> ``(H, W, C)`` float tensor in [0, 1], top row first."""
    import torch

    if image is not None:
        return torch.from_numpy(image_pixels(image))
    if not path:
        raise ValueError("expected an Image datablock or an image file, found neither")
    from unrender.io import load_image

    return load_image(Path(bpy.path.abspath(path)))


# ----------------------------------------------------------------------------- cameras
def blender_camera(camera_object, scene):
    """A camera object -> unrender's ``BlenderCamera`` (the numbers Blender renders it from)."""
    from unrender.cameras import BlenderCamera

    if camera_object is None or camera_object.type != "CAMERA":
        found = "nothing" if camera_object is None else f"{camera_object.type.lower()} object {camera_object.name!r}"
        raise ValueError(f"expected a camera object, found {found}")
    return BlenderCamera.from_bpy(camera_object, scene)


def fov_camera(camera_object, scene):
    """A perspective camera object -> ``(FoVPerspectiveCameras, (H, W))``; ``ValueError`` naming what it cannot express."""
    from unrender.cameras import fov_cameras_from_blender

    try:
        return fov_cameras_from_blender(blender_camera(camera_object, scene))
    except ValueError as exc:
        raise ValueError(f"camera {camera_object.name!r}: {exc}") from None


def camera_matrix_world(cameras, image_size: tuple[int, int]) -> np.ndarray:
    """An unrender camera (batch of one) -> the Blender camera ``matrix_world`` ``(4, 4)`` that sees the same."""
    from unrender.cameras import blender_from_cameras

    return np.array(blender_from_cameras(cameras.cpu(), image_size).matrix_world, dtype=np.float64)


# ----------------------------------------------------------------------------- writing
def set_mesh_geometry(me, verts: np.ndarray, faces: np.ndarray | None) -> None:
    """Replace a Mesh datablock's geometry; updates positions in place when the vertex count is unchanged."""
    verts = np.ascontiguousarray(verts, dtype=np.float32).reshape(-1, 3)
    n_faces = 0 if faces is None else len(faces)
    if len(me.vertices) == len(verts) and len(me.polygons) == n_faces:
        me.vertices.foreach_set("co", verts.ravel())
    else:
        me.clear_geometry()
        me.vertices.add(len(verts))
        me.vertices.foreach_set("co", verts.ravel())
        if n_faces:
            faces = np.ascontiguousarray(faces, dtype=np.int32).reshape(-1, 3)
            me.loops.add(faces.size)
            me.loops.foreach_set("vertex_index", faces.ravel())
            me.polygons.add(len(faces))
            me.polygons.foreach_set("loop_start", np.arange(0, faces.size, 3, dtype=np.int32))
            me.polygons.foreach_set("loop_total", np.full(len(faces), 3, dtype=np.int32))
        me.update(calc_edges=True)
        me.validate(clean_customdata=False)
    me.update()


#: The colour attribute a vertex-coloured result is written to, and the material showing it.
COLOR_ATTRIBUTE = "Color"


def set_vertex_colors(me, colors: np.ndarray, name: str = COLOR_ATTRIBUTE):
    """``colors (V, 3 or 4)`` in [0, 1], sRGB-encoded like the images they come from -> a FLOAT_COLOR, POINT
    domain colour attribute ``name`` of Mesh ``me`` (Blender stores it linear; ``color_srgb`` reads it back),
    made the active and render colour attribute -> the attribute."""
    c = np.clip(np.asarray(colors, dtype=np.float32), 0.0, 1.0)
    if c.ndim != 2 or c.shape[1] not in (3, 4) or len(c) != len(me.vertices):
        raise ValueError(f"colors: expected ({len(me.vertices)}, 3) vertex colours, found shape {c.shape}")
    if c.shape[1] == 3:
        c = np.concatenate([c, np.ones((len(c), 1), np.float32)], 1)
    attr = me.color_attributes.get(name)
    if attr is None or attr.domain != "POINT" or attr.data_type != "FLOAT_COLOR":
        if attr is not None:
            me.color_attributes.remove(attr)
        attr = me.color_attributes.new(name, "FLOAT_COLOR", "POINT")
    attr.data.foreach_set("color_srgb", np.ascontiguousarray(c).ravel())
    me.color_attributes.active_color = attr
    me.color_attributes.render_color_index = me.color_attributes.active_color_index
    me.update()
    return attr


def vertex_color_material(name: str, attribute: str = COLOR_ATTRIBUTE):
    """A new node material whose Principled BSDF base colour is the colour attribute ``attribute``."""
    mat = bpy.data.materials.new(name)
    if mat.node_tree is None:  # Blender before 5.0: a new material has no nodes until asked
        mat.use_nodes = True
    tree = mat.node_tree
    bsdf = next(n for n in tree.nodes if n.type == "BSDF_PRINCIPLED")
    node = tree.nodes.new("ShaderNodeVertexColor")
    node.layer_name = attribute
    node.location = (bsdf.location.x - 300, bsdf.location.y)
    tree.links.new(node.outputs["Color"], bsdf.inputs["Base Color"])
    bsdf.inputs["Roughness"].default_value = 0.8
    return mat


def new_mesh_object(context, name: str, verts: np.ndarray, faces: np.ndarray | None):
    """A new object holding ``verts``/``faces`` in world space, linked to the active collection."""
    me = bpy.data.meshes.new(name)
    set_mesh_geometry(me, verts, faces)
    obj = bpy.data.objects.new(name, me)
    (context.collection or context.scene.collection).objects.link(obj)
    return obj


def _points_node_group():
    """A geometry-nodes group drawing a mesh's vertices as points (Mesh to Points with a radius input)."""
    ng = bpy.data.node_groups.get(POINTS_DISPLAY_GROUP)
    if ng is not None and ng.bl_idname == "GeometryNodeTree":
        return ng
    ng = bpy.data.node_groups.new(POINTS_DISPLAY_GROUP, "GeometryNodeTree")
    ng.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    radius = ng.interface.new_socket("Radius", in_out="INPUT", socket_type="NodeSocketFloat")
    radius.default_value, radius.min_value = 0.01, 0.0
    ng.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    nin, nout = ng.nodes.new("NodeGroupInput"), ng.nodes.new("NodeGroupOutput")
    to_points = ng.nodes.new("GeometryNodeMeshToPoints")
    ng.links.new(nin.outputs[0], to_points.inputs["Mesh"])
    ng.links.new(nin.outputs[1], to_points.inputs["Radius"])
    ng.links.new(to_points.outputs["Points"], nout.inputs[0])
    return ng


def show_as_points(obj, radius: float) -> None:
    """Draw a vertex-only mesh object as points of ``radius`` (viewport and renders) with a geometry-nodes modifier."""
    mod = obj.modifiers.get("Unrender points") or obj.modifiers.new("Unrender points", "NODES")
    mod.node_group = _points_node_group()
    set_modifier_input(mod, mod.node_group.interface.items_tree["Radius"].identifier, float(radius))


def set_modifier_input(mod, identifier: str, value) -> None:
    """Set the input ``identifier`` (``"Socket_1"``) of a geometry-nodes modifier.

    Blender 5.2 keeps the inputs in ``mod.properties.inputs`` (each a struct
    with a ``value``); before, they were ID properties of the modifier.
    """
    inputs = getattr(getattr(mod, "properties", None), "inputs", None)
    socket = getattr(inputs, identifier, None) if inputs is not None else None
    if socket is not None:
        socket.value = value
    else:
        mod[identifier] = value


def point_radius(points: np.ndarray) -> float:
    """A display radius for a cloud: a fifth of the mean spacing of ``N`` points spread over its box."""
    if len(points) == 0:
        return 0.01
    extent = float(np.ptp(points, axis=0).max()) or 1.0
    return 0.2 * extent / max(len(points), 1) ** (1 / 2.5)


def write_image(name: str, pixels: np.ndarray, colorspace: str | None = None):
    """``(H, W, C)`` float pixels (top row first, C in 1, 3, 4) -> an Image datablock ``name`` (replaced if it exists).

    ``colorspace`` (e.g. ``"Non-Color"``) is set before the pixels are written:
    changing it afterwards regenerates a generated image and blanks it.
    """
    px = np.asarray(pixels, dtype=np.float32)
    if px.ndim == 2:
        px = px[..., None]
    h, w, c = px.shape
    rgba = np.ones((h, w, 4), dtype=np.float32)
    rgba[..., :3] = px[..., :3] if c >= 3 else px[..., :1]
    if c in (2, 4):
        rgba[..., 3] = px[..., -1]
    img = bpy.data.images.get(name)
    if img is not None and tuple(img.size) != (w, h):
        bpy.data.images.remove(img)
        img = None
    if img is None:
        img = bpy.data.images.new(name, w, h, alpha=True, float_buffer=True)
    if colorspace is not None and img.colorspace_settings.name != colorspace:
        img.colorspace_settings.name = colorspace
    img.pixels.foreach_set(np.ascontiguousarray(rgba[::-1]).ravel())
    img.update()
    return img
