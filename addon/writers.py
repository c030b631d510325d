"""Method outputs -> the scene, one writer per output kind; the first output's writer also shows live previews.

A writer turns a method's preview (in the worker thread) into a numpy
*payload*, applies payloads to the scene on the main thread while the job
runs, and writes the final output. Everything it creates or moves goes
through the :class:`~.operators.Session`, which can undo it all (ESC, errors).
A new output kind needs one new writer in :data:`WRITERS`.
"""

from __future__ import annotations

import bpy
import numpy as np

from . import convert


def _mesh_payload(meshes):
    return (meshes.verts_list()[0].detach().cpu().double().numpy(), meshes.faces_list()[0].cpu().numpy())


def _vertex_colors(meshes):
    """The first mesh's per-vertex colours ``(V, 3)`` float64 when its textures are ``TexturesVertex`` with 3 or 4
    channels, else ``None``."""
    from unrender.render import TexturesVertex

    tex = getattr(meshes, "textures", None)
    if not isinstance(tex, TexturesVertex) or tex.channels not in (3, 4):
        return None
    return tex.verts_features_list()[0].detach().cpu().double().numpy()[:, :3]


class MeshWriter:
    """A mesh output: a new object (updated in place while the method runs). A mesh with per-vertex colours
    (``TexturesVertex``) gets a colour attribute and a material showing it (Material Preview and renders)."""

    kind = "mesh"

    def options(self, method) -> dict:
        return {}

    def payload(self, value, options):
        return (*_mesh_payload(value), _vertex_colors(value))

    def apply(self, session, output, payload) -> None:
        verts, faces, colors = payload
        obj = session.geometry_object(output.name, verts, faces)
        if colors is not None:
            session.vertex_colors(obj, colors)

    def write(self, session, output, value) -> None:
        self.apply(session, output, self.payload(value, session.options))


class PointsWriter:
    """A point-cloud output: a vertex-only mesh object drawn as points (geometry nodes)."""

    kind = "points"

    def options(self, method) -> dict:
        return {}

    def payload(self, value, options):
        return value.points_list()[0].detach().cpu().double().numpy()

    def apply(self, session, output, payload) -> None:
        obj = session.geometry_object(output.name, payload, None)
        if "Unrender points" not in obj.modifiers:
            convert.show_as_points(obj, convert.point_radius(payload))

    def write(self, session, output, value) -> None:
        self.apply(session, output, self.payload(value, session.options))


class VoxelsWriter:
    """A voxel-grid output, shown as its marching-cubes surface or as the centres of occupied voxels."""

    kind = "voxels"

    def options(self, method) -> dict:
        return {"voxels_as": bpy.props.EnumProperty(
            name="Show voxels as",
            items=[("MESH", "Mesh", "The grid's surface at probability 0.5 (marching cubes)"),
                   ("POINTS", "Points", "The centres of voxels with probability above 0.5")],
            default="MESH", description="How the fitted voxel grid appears in the scene (live and at the end)")}

    def payload(self, value, options):
        if options.get("voxels_as", "MESH") == "POINTS":
            return ("POINTS", value.occupied_centers(0).detach().cpu().double().numpy(), None)
        from unrender.geometry import marching_cubes

        verts, faces = _mesh_payload(marching_cubes(value.detach().cpu(), 0.5))
        return ("MESH", verts, faces)

    def _key(self, session, output) -> str:
        # shown as a mesh, the grid shares its object with the method's own mesh output (fit-voxels has one)
        meshes = [o.name for o in session.method.outputs if o.kind == "mesh"]
        return meshes[0] if session.options.get("voxels_as", "MESH") == "MESH" and meshes else output.name

    def apply(self, session, output, payload) -> None:
        mode, verts, faces = payload
        obj = session.geometry_object(self._key(session, output), verts, faces)
        if mode == "POINTS" and "Unrender points" not in obj.modifiers:
            convert.show_as_points(obj, 0.5 * convert.point_radius(verts))

    def write(self, session, output, value) -> None:
        if self._key(session, output) != output.name:
            return  # the mesh output writes the same surface
        self.apply(session, output, self.payload(value, session.options))


class CameraWriter:
    """A camera output: moves the scene camera, or moves the object so it looks the same from the current camera.

    A method without an object input (a reconstruction from a picture) gives its result in the frame of the camera
    it outputs: by default the result moves instead, so that the scene camera sees it as that camera does (in
    front of the scene camera, where the picture shows it); with no scene camera one is made at that pose."""

    kind = "cameras"

    @staticmethod
    def _moves_result(method) -> bool:
        return not any({"mesh", "points"} & set(i.kinds) for i in method.inputs)

    def options(self, method) -> dict:
        if self._moves_result(method):
            items = [("RESULT", "Result", "Move the result in front of the scene camera, which then sees it as the "
                                          "estimated camera does"),
                     ("CAMERA", "Camera", "Move the scene camera to the estimated pose")]
            default = "RESULT"
        else:
            items = [("CAMERA", "Camera", "Move the scene camera to the estimated pose"),
                     ("OBJECT", "Object", "Move the object instead, so that the scene camera sees it as estimated")]
            default = "CAMERA"
        return {"move": bpy.props.EnumProperty(name="Move", default=default, items=items,
                                               description="What moves to match the reference")}

    def payload(self, value, options):
        return convert.camera_matrix_world(value, (64, 64))

    def apply(self, session, output, payload) -> None:
        scene = session.context.scene
        move = session.options.get("move", "CAMERA")
        if move == "OBJECT":
            obj = session.main_object
            current = session.saved_matrix(scene.camera)  # where the camera is, untouched
            original = session.saved_matrix(obj)
            new = current @ np.linalg.inv(payload) @ original
            session.set_matrix(obj, new)
        elif move == "RESULT" and scene.camera is not None:
            place = session.saved_matrix(scene.camera) @ np.linalg.inv(payload)
            for obj in session.objects.values():  # written so far, in the estimated camera's frame
                session.set_matrix(obj, place @ session.saved_matrix(obj))
        else:
            session.set_matrix(session.scene_camera(), payload)

    def write(self, session, output, value) -> None:
        self.apply(session, output, self.payload(value, session.options))
        if session.new_camera:  # a camera made for this result also takes the estimated field of view
            from unrender.cameras import blender_from_cameras

            cam = session.scene_camera()
            h, w = session.render_size()
            bl = blender_from_cameras(value.cpu(), (h, w), sensor_width=cam.data.sensor_width)
            cam.data.lens, cam.data.sensor_fit = bl.lens, bl.sensor_fit


class ImageWriter:
    """An image output: an Image datablock named after the method and output."""

    kind = "image"

    def options(self, method) -> dict:
        return {}

    def payload(self, value, options):
        return value.detach().cpu().float().numpy()

    def apply(self, session, output, payload) -> None:
        session.image(output.name, payload)

    def write(self, session, output, value) -> None:
        self.apply(session, output, self.payload(value, session.options))


class BodyWriter:
    """A body output: a rigged body (armature with the fitted pose, skinned mesh). A body fitted in a
    camera's frame stands in front of the scene camera (made when the scene has none) as that camera sees
    it: the camera takes the fit's focal length and image size, and shows the keypoints (over the photo
    given with them) as its background image."""

    kind = "body"

    def options(self, method) -> dict:
        return {}

    def payload(self, value, options):
        return None  # no live preview: the rig is built once, at the end

    def apply(self, session, output, payload) -> None:
        pass

    def write(self, session, output, value) -> None:
        from . import body as body_rig

        cam = None
        if value.frame == "camera":
            cam = self._fit_camera(session, value)
        model = body_rig.load_model("" if value.model == "default" else value.model)
        arm, mesh = body_rig.build_rigged_body(session.context, model, value.as_dict(),
                                               name=f"{session.name_base} body")
        session.created += [arm, arm.data, mesh, mesh.data]
        session.objects[output.name] = arm
        # The rig maps the body's Y-up frame to Blender's Z-up world. A camera-frame body is in the
        # camera's own Y-up frame: undo the axis change and apply the camera's placement. A body fitted
        # to a scene object (frame "target", fitted with vertical z) is already in world coordinates.
        undo = np.eye(4)
        undo[:3, :3] = body_rig.Y_UP_TO_Z_UP.T
        if cam is not None:
            arm.matrix_world = type(arm.matrix_world)((np.array(cam.matrix_world) @ undo).tolist())
        elif value.frame == "target":
            arm.matrix_world = type(arm.matrix_world)(undo.tolist())

    @staticmethod
    def _fit_camera(session, value):
        """The scene camera set up as the fit's camera (a new one looks along +Y, Z up) -> the camera object."""
        from . import backdrop

        cam = session.scene_camera()
        if session.new_camera:
            cam.rotation_euler = (np.pi / 2, 0.0, 0.0)
        session.context.view_layer.update()
        if value.focal is None or value.image_size is None:
            return cam
        backdrop.match_camera(session, cam, value)
        keypoints = value.extra.get("keypoints")
        if keypoints is not None:
            import torch

            backdrop.show_keypoints(session, cam, value, torch.tensor(keypoints, dtype=torch.float64), session.photo)
        return cam


WRITERS = {w.kind: w for w in (MeshWriter(), PointsWriter(), VoxelsWriter(), CameraWriter(), ImageWriter(),
                               BodyWriter())}


def writer_for(output):
    return WRITERS.get(output.kind)
