"""Scene -> method inputs, one reader per input kind.

A reader declares the operator properties that pick an input (an object
name, an image or file, a camera), the matching panel settings, and reads the
scene into the unrender value the method expects. A method whose required
input has no reader here gets no operator; a new input kind needs one new
reader in :data:`READERS`, nothing else.
"""

from __future__ import annotations

import bpy

from . import convert


class ObjectReader:
    """Inputs of kind mesh and/or points: an object (the active one by default for the method's main input)."""

    kinds = ("mesh", "points")

    @staticmethod
    def _poll(kinds):
        types = set(convert.MESH_LIKE) | ({"POINTCLOUD"} if "points" in kinds else set())
        return lambda self, obj: obj.type in types

    def operator_props(self, inp, main: bool) -> dict:
        what = "the active object" if main else "none"
        return {inp.name: bpy.props.StringProperty(
            name=inp.title, description=f"Object to use as {inp.name}: {inp.help} (empty: {what})")}

    def settings_props(self, inp, main: bool) -> dict:
        if main:  # the active object; nothing to store
            return {}
        return {inp.name: bpy.props.PointerProperty(type=bpy.types.Object, name=inp.title, description=inp.help,
                                                    poll=self._poll(inp.kinds))}

    def copy(self, inp, main: bool, settings, op) -> None:
        if not main:
            obj = getattr(settings, inp.name)
            setattr(op, inp.name, obj.name if obj else "")

    def draw(self, layout, inp, main: bool, settings, context) -> None:
        if main:
            obj = context.active_object
            layout.label(text=f"{inp.title}: {obj.name if obj else 'select an object'}",
                         icon="OBJECT_DATA" if obj else "ERROR")
        else:
            layout.prop(settings, inp.name)

    def source(self, inp, main: bool, op, context):
        """The object an input reads (or ``None`` for an optional input left empty)."""
        name = getattr(op, inp.name)
        if name:
            obj = bpy.data.objects.get(name)
            if obj is None:
                raise ValueError(f"{inp.name}: expected an object name, found {name!r} (no such object)")
            return obj
        if main:
            obj = context.active_object
            if obj is None:
                raise ValueError(f"{inp.name}: nothing selected; select the {' or '.join(inp.kinds)} object to use")
            return obj
        return None

    def read(self, inp, main: bool, op, context):
        obj = self.source(inp, main, op, context)
        if obj is None:
            return None
        depsgraph = context.evaluated_depsgraph_get()
        accepted = " or ".join(inp.kinds)
        if obj.type not in convert.MESH_LIKE + ("POINTCLOUD",):
            raise ValueError(f"{inp.name}: expected a {accepted} object, found {obj.type.lower()} object {obj.name!r}")
        if "mesh" in inp.kinds and obj.type in convert.MESH_LIKE and convert.has_faces(obj):
            verts, faces = convert.mesh_arrays(obj, depsgraph)
            if len(faces) == 0:
                raise ValueError(f"{inp.name}: expected faces, found an empty surface in {obj.name!r}")
            return convert.to_meshes(verts, faces)
        if "points" in inp.kinds:
            points = convert.point_array(obj, depsgraph)
            if len(points) == 0:
                raise ValueError(f"{inp.name}: expected points, found none in {obj.name!r}")
            return convert.to_pointclouds(points)
        raise ValueError(f"{inp.name}: expected a mesh with faces, found {obj.name!r} without faces")


class ImageReader:
    """Inputs of kind image: an Image datablock, an image file, or the scene camera's render of the scene (film
    transparent, so the background is alpha 0; rendered by :mod:`.views`, every setting restored)."""

    kinds = ("image",)

    def _render_props(self, inp) -> dict:
        from . import views

        n = inp.name
        return {
            f"{n}_render": bpy.props.BoolProperty(
                name="Render the scene camera", default=False,
                description=f"Use the scene camera's render of the scene (transparent film) as {n}: {inp.help}"),
            f"{n}_engine": bpy.props.EnumProperty(name="Engine", items=views.ENGINES, default="SCENE",
                                                  description="The engine rendering the scene camera's view"),
            f"{n}_size": bpy.props.IntProperty(name="Render size", default=256, min=16, max=4096,
                                               description="Longer side of the render (the scene's aspect)"),
        }

    def operator_props(self, inp, main: bool) -> dict:
        return {
            f"{inp.name}_image": bpy.props.StringProperty(name=f"{inp.title} image",
                                                          description=f"Image datablock: {inp.help}"),
            f"{inp.name}_file": bpy.props.StringProperty(name=f"{inp.title} file", subtype="FILE_PATH",
                                                         description=f"Image file (used when no datablock is set): {inp.help}"),
            **self._render_props(inp),
        }

    def settings_props(self, inp, main: bool) -> dict:
        return {
            f"{inp.name}_image": bpy.props.PointerProperty(type=bpy.types.Image, name=inp.title, description=inp.help),
            f"{inp.name}_file": bpy.props.StringProperty(name="File", subtype="FILE_PATH",
                                                         description="Image file, when no image datablock is chosen"),
            **self._render_props(inp),
        }

    def copy(self, inp, main: bool, settings, op) -> None:
        img = getattr(settings, f"{inp.name}_image")
        setattr(op, f"{inp.name}_image", img.name if img else "")
        for key in ("file", "render", "engine", "size"):
            setattr(op, f"{inp.name}_{key}", getattr(settings, f"{inp.name}_{key}"))

    def draw(self, layout, inp, main: bool, settings, context) -> None:
        layout.prop(settings, f"{inp.name}_render")
        if getattr(settings, f"{inp.name}_render"):
            layout.prop(settings, f"{inp.name}_engine")
            layout.prop(settings, f"{inp.name}_size")
            return
        layout.prop(settings, f"{inp.name}_image")
        if getattr(settings, f"{inp.name}_image") is None:
            layout.prop(settings, f"{inp.name}_file")

    def read(self, inp, main: bool, op, context):
        if getattr(op, f"{inp.name}_render", False):
            return self.render(inp, op, context)
        name, path = getattr(op, f"{inp.name}_image"), getattr(op, f"{inp.name}_file")
        if name:
            img = bpy.data.images.get(name)
            if img is None:
                raise ValueError(f"{inp.name}: expected an Image datablock name, found {name!r} (no such image)")
            return convert.image_tensor(img)
        if path:
            return convert.image_tensor(path=path)
        if inp.required:
            raise ValueError(f"{inp.name}: expected an Image datablock or an image file, found neither")
        return None

    def render(self, inp, op, context):
        """The scene camera's render at the scene's aspect, longer side ``<name>_size`` -> ``(H, W, 4)`` RGBA."""
        import torch

        from . import views

        scene = context.scene
        if scene.camera is None:
            raise ValueError(f"{inp.name}: rendering the scene camera needs a scene camera, found none")
        r = scene.render
        h, w = r.resolution_y * r.resolution_percentage / 100, r.resolution_x * r.resolution_percentage / 100
        s = getattr(op, f"{inp.name}_size") / max(h, w)
        size = (max(1, round(h * s)), max(1, round(w * s)))
        got = views.render_views(context, [scene.camera], engine=getattr(op, f"{inp.name}_engine"), size=size,
                                 transparent=True)
        return torch.cat([got.images[0], got.masks[0][..., None]], -1)


class CameraReader:
    """Inputs of kind cameras: a camera object (the scene camera by default) as a ``FoVPerspectiveCameras``."""

    kinds = ("cameras",)

    def operator_props(self, inp, main: bool) -> dict:
        return {inp.name: bpy.props.StringProperty(
            name=inp.title, description=f"Camera object: {inp.help} (empty: the scene camera)")}

    def settings_props(self, inp, main: bool) -> dict:
        return {inp.name: bpy.props.PointerProperty(
            type=bpy.types.Object, name=inp.title, description=f"{inp.help} (empty: the scene camera)",
            poll=lambda self, obj: obj.type == "CAMERA")}

    def copy(self, inp, main: bool, settings, op) -> None:
        obj = getattr(settings, inp.name)
        setattr(op, inp.name, obj.name if obj else "")

    def draw(self, layout, inp, main: bool, settings, context) -> None:
        layout.prop(settings, inp.name)
        if getattr(settings, inp.name) is None:
            cam = context.scene.camera
            layout.label(text=f"Scene camera: {cam.name if cam else 'none'}", icon="CAMERA_DATA")

    def source(self, inp, op, context):
        name = getattr(op, inp.name)
        if name:
            obj = bpy.data.objects.get(name)
            if obj is None or obj.type != "CAMERA":
                found = "no such object" if obj is None else f"a {obj.type.lower()} object"
                raise ValueError(f"{inp.name}: expected a camera object name, found {name!r} ({found})")
            return obj
        return context.scene.camera

    def read(self, inp, main: bool, op, context):
        obj = self.source(inp, op, context)
        if obj is None:
            if inp.required:
                raise ValueError(f"{inp.name}: expected a camera, found no scene camera; add one or name one")
            return None
        cameras, _ = convert.fov_camera(obj, context.scene)
        return cameras


class KeypointsReader:
    """Inputs of kind keypoints: a file (OpenPose JSON, unrender's keypoints JSON or ``.npy``), and optionally
    the photo they were detected on (shown behind the keypoints through the scene camera)."""

    kinds = ("keypoints",)
    PHOTO_HELP = ("Photo the keypoints were found on (optional): its size is the image size when none is set, "
                  "and the scene camera shows the keypoints over it")

    def _props(self, inp, help_text: str) -> dict:
        return {f"{inp.name}_file": bpy.props.StringProperty(
                    name=f"{inp.title} file", subtype="FILE_PATH", description=help_text),
                f"{inp.name}_photo": bpy.props.StringProperty(
                    name="Photo", subtype="FILE_PATH", description=self.PHOTO_HELP)}

    def operator_props(self, inp, main: bool) -> dict:
        return self._props(inp, f"Keypoints file (OpenPose JSON: its most confident person): {inp.help}")

    def settings_props(self, inp, main: bool) -> dict:
        return self._props(inp, f"Keypoints file: {inp.help}")

    def copy(self, inp, main: bool, settings, op) -> None:
        for key in (f"{inp.name}_file", f"{inp.name}_photo"):
            setattr(op, key, getattr(settings, key))

    def draw(self, layout, inp, main: bool, settings, context) -> None:
        layout.prop(settings, f"{inp.name}_file")
        layout.prop(settings, f"{inp.name}_photo")

    def photo(self, inp, op):
        """The photo of input ``inp`` as ``(H, W, C)`` float in [0, 1], or ``None`` when none is named."""
        path = getattr(op, f"{inp.name}_photo", "")
        if not path:
            return None
        try:
            return convert.image_tensor(path=path)
        except (ValueError, OSError) as exc:
            raise ValueError(f"{inp.name}_photo: expected an image file, found {path!r} ({exc})") from None

    def read(self, inp, main: bool, op, context):
        from unrender.kinds import load_as

        path = bpy.path.abspath(getattr(op, f"{inp.name}_file"))
        if not path:
            if inp.required:
                raise ValueError(f"{inp.name}: expected a keypoints file (OpenPose JSON), found none")
            return None
        from pathlib import Path

        return load_as(("keypoints",), Path(path), inp.name)


class ViewsReader:
    """Inputs of kind views (posed images): rendered by Blender around the selected object, the scene's cameras
    with their image files, or a ``transforms.json`` (see :mod:`.views` for the rules)."""

    kinds = ("views",)
    SOURCES = [("RENDER", "Render the selected object", "Render the active object alone from cameras around it"),
               ("CAMERAS", "Scene cameras with images", "The selected cameras (or all), each with its image file"),
               ("FILE", "transforms.json", "A NeRF transforms.json (or its folder) on disk")]

    def _props(self, inp) -> dict:
        from . import views

        n = inp.name
        return {
            f"{n}_source": bpy.props.EnumProperty(name=f"{inp.title} from", items=self.SOURCES, default="RENDER",
                                                  description=f"Where the views come from: {inp.help}"),
            f"{n}_count": bpy.props.IntProperty(name="Views", default=40, min=1, max=1000,
                                                description="Cameras around the object"),
            f"{n}_layout": bpy.props.EnumProperty(name="Layout", default="RING",
                                                  items=[("RING", "Ring", "One ring at the elevation"),
                                                         ("SPHERE", "Sphere", "Spread over a sphere")]),
            f"{n}_elevation": bpy.props.FloatProperty(name="Elevation", default=20.0, min=-89.0, max=89.0,
                                                      description="Degrees above the object's centre (ring)"),
            f"{n}_size": bpy.props.IntProperty(name="Image size", default=128, min=8, max=4096,
                                               description="Width and height of the rendered views"),
            f"{n}_lens": bpy.props.FloatProperty(name="Lens", default=50.0, min=1.0, max=5000.0,
                                                 description="Focal length (mm, 36 mm sensor) of the cameras"),
            f"{n}_distance": bpy.props.FloatProperty(
                name="Distance", default=0.0, min=0.0, description="From the bounds' centre (0: the bounds just fit)"),
            f"{n}_engine": bpy.props.EnumProperty(name="Engine", items=views.ENGINES, default="SCENE"),
            f"{n}_samples": bpy.props.IntProperty(name="Samples", default=0, min=0, max=4096,
                                                  description="Cycles / EEVEE samples (0: the scene's)"),
            f"{n}_transparent": bpy.props.BoolProperty(name="Transparent film", default=True,
                                                       description="Masks from the renders' alpha"),
            f"{n}_cameras": bpy.props.EnumProperty(name="Cameras", default="SELECTED",
                                                   items=[("SELECTED", "Selected", "The selected cameras"),
                                                          ("ALL", "All", "Every camera of the scene")]),
            f"{n}_folder": bpy.props.StringProperty(
                name="Images folder", subtype="DIR_PATH",
                description="Images named after the cameras (empty: each camera's background image)"),
            f"{n}_file": bpy.props.StringProperty(name="transforms.json", subtype="FILE_PATH",
                                                  description="A NeRF transforms.json or its folder"),
        }

    SHOWN = {"RENDER": ("count", "layout", "elevation", "size", "lens", "distance", "engine", "samples", "transparent"),
             "CAMERAS": ("cameras", "folder"), "FILE": ("file",)}

    def operator_props(self, inp, main: bool) -> dict:
        return self._props(inp)

    def settings_props(self, inp, main: bool) -> dict:
        return self._props(inp)

    def copy(self, inp, main: bool, settings, op) -> None:
        for key in self._props(inp):
            setattr(op, key, getattr(settings, key))

    def draw(self, layout, inp, main: bool, settings, context) -> None:
        source = getattr(settings, f"{inp.name}_source")
        layout.prop(settings, f"{inp.name}_source")
        if source == "RENDER":
            obj = context.active_object
            layout.label(text=f"Object: {obj.name if obj else 'select an object'}",
                         icon="OBJECT_DATA" if obj else "ERROR")
        for key in self.SHOWN[source]:
            layout.prop(settings, f"{inp.name}_{key}")

    def read(self, inp, main: bool, op, context):
        from . import views

        n = inp.name
        get = lambda key: getattr(op, f"{n}_{key}")  # noqa: E731
        source = get("source")
        if source == "FILE":
            path = get("file")
            if not path:
                if inp.required:
                    raise ValueError(f"{n}: expected a transforms.json file or folder, found none")
                return None
            from pathlib import Path

            from unrender.kinds import load_as

            return load_as(("views",), Path(bpy.path.abspath(path)), n)
        if source == "CAMERAS":
            return views.camera_views(context, views.scene_cameras(context, get("cameras")), get("folder"))
        progress = views.UIProgress(context, f"Rendering {n}")
        try:
            return views.run_to_end(self.render(inp, op, context), progress)
        finally:
            progress.end()

    def source(self, inp, op, context):
        """The object whose views are rendered (the active one) for the "Render the selected object" source, else
        ``None``."""
        return context.active_object if getattr(op, f"{inp.name}_source") == "RENDER" else None

    def render(self, inp, op, context):
        """The renders an input asks for as a :class:`~.views.ViewRender` (stepped by a modal operator), or
        ``None`` when its source is not "Render the selected object"."""
        from . import views

        get = lambda key: getattr(op, f"{inp.name}_{key}")  # noqa: E731
        if get("source") != "RENDER":
            return None
        return views.object_view_render(
            context, context.active_object, get("count"), layout=get("layout"), elevation=get("elevation"),
            size=get("size"), lens=get("lens"), distance=get("distance"), engine=get("engine"),
            transparent=get("transparent"), samples=get("samples"))


READERS = (ObjectReader(), ImageReader(), CameraReader(), KeypointsReader(), ViewsReader())


def reader_for(inp):
    """The reader serving an ``Input`` (the first whose kinds overlap its kinds), or ``None``."""
    for reader in READERS:
        if set(reader.kinds) & set(inp.kinds):
            return reader
    return None


def photo(method, op):
    """The photo given with a method's keypoints input (see :meth:`KeypointsReader.photo`), or ``None``."""
    for inp in method.inputs:
        reader = reader_for(inp)
        if isinstance(reader, KeypointsReader):
            return reader.photo(inp, op)
    return None


def renders(method, op, context) -> dict:
    """``{input name: ViewRender}`` of the views inputs rendered from the scene (see :meth:`ViewsReader.render`);
    on an error the renders made so far are closed (the scene restored) and the error raised."""
    out = {}
    try:
        for inp in method.inputs:
            reader = reader_for(inp)
            if isinstance(reader, ViewsReader):
                run = reader.render(inp, op, context)
                if run is not None:
                    out[inp.name] = run
    except BaseException:
        for run in out.values():
            run.close()
        raise
    return out


def main_input(method):
    """Name of the input that defaults to the active object: the first required object input."""
    for inp in method.inputs:
        if inp.required and isinstance(reader_for(inp), ObjectReader):
            return inp.name
    return None
