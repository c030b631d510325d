"""Rigged human bodies: an unrender body model (SMPL layout) as a Blender armature and a skinned mesh.

:func:`build_rigged_body` is the one way a body enters the scene ("Add body"
here, the fitting operators later): an armature with one bone per joint, the
shaped rest mesh with one vertex group per joint under an Armature modifier,
and the pose as bone rotations, so the artist can keep animating it.

Axes: the model is SMPL's (Y up, facing +Z, metres); Blender is Z up. Every
location goes through the fixed change ``(x, y, z) -> (x, -z, y)``
(:data:`Y_UP_TO_Z_UP`) and every rotation ``R -> C R C^T``.

Rotations: SMPL's per-joint rotation ``R_j`` acts in the joint's world-aligned
rest frame; a pose bone's rotation acts in the bone's own rest frame ``B_j``
(its rest orientation in armature space, ``Bone.matrix_local``), so the bone
gets ``B_j^T R_j B_j``. With that, a bone's pose matrix is ``G_j @ B_j`` (``G_j``
the model's world transform of the joint) and Blender's skinning equals the
model's linear blend skinning. ``transl`` is the root bone's location.
"""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np

from . import registration

#: SMPL's Y-up axes -> Blender's Z-up axes: ``p_blender = Y_UP_TO_Z_UP @ p_model``.
Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
PARAMETER_NAMES = ("betas", "body_pose", "global_orient", "transl")
_models: dict[tuple[str, float], object] = {}


def default_model_path() -> Path:
    """The body unrender ships (built from MakeHuman's CC0 data)."""
    import unrender

    return Path(unrender.__file__).parent / "body" / "data" / "default_body.npz"


def load_model(path: str = ""):
    """A :class:`unrender.body.BodyModel` from ``path`` (``""``: the shipped body), kept while the file is unchanged."""
    import torch
    from unrender.body import BodyModel

    p = Path(bpy.path.abspath(path)) if path else default_model_path()
    if not p.is_file():
        raise FileNotFoundError(f"body model: expected a model file, found no file at {str(p)!r}")
    key = (str(p.resolve()), p.stat().st_mtime)
    if key not in _models:
        _models.clear()
        _models[key] = BodyModel.load(p, dtype=torch.float64)
    return _models[key]


def _parameters(model, params: dict) -> dict:
    """``params`` (arrays / lists / tensors, batch of one or none) -> ``{name: (1, ...) float64 tensor}``."""
    import torch

    unknown = sorted(set(params) - set(PARAMETER_NAMES))
    if unknown:
        raise ValueError(f"body parameters: expected keys among {', '.join(PARAMETER_NAMES)}, "
                         f"found {', '.join(unknown)}")
    sizes = {"betas": None, "body_pose": (model.num_joints - 1) * 3, "global_orient": 3, "transl": 3}
    out = {}
    for name, size in sizes.items():
        value = params.get(name)
        if value is None:
            continue
        t = torch.as_tensor(np.asarray(value, dtype=np.float64)).reshape(1, -1)
        if size is not None and t.shape[1] != size:
            raise ValueError(f"{name}: expected {size} numbers (axis-angle per joint for rotations), "
                             f"found shape {tuple(np.shape(value))}")
        if not torch.isfinite(t).all():
            raise ValueError(f"{name}: expected finite numbers, found NaN or infinity")
        out[name] = t
    return out


def _bone_tails(heads: np.ndarray, parents: list[int]) -> np.ndarray:
    """Bone tails ``(J, 3)``: towards the child that best continues the parent's direction (up for the root);
    a leaf continues its parent's direction for that bone's length."""
    tails = np.empty_like(heads)
    for j, p in enumerate(parents):
        incoming = heads[j] - heads[p] if p >= 0 else np.array([0.0, 0.0, 1.0])
        length = float(np.linalg.norm(incoming)) or 1.0
        direction = incoming / length
        children = [c for c, q in enumerate(parents) if q == j]
        if children:
            offsets = heads[children] - heads[j]
            scores = offsets @ direction / np.maximum(np.linalg.norm(offsets, axis=1), 1e-12)
            tails[j] = heads[children[int(np.argmax(scores))]]
        else:
            tails[j] = heads[j] + direction * max(length, 0.01)
        if np.linalg.norm(tails[j] - heads[j]) < 1e-3:  # Blender drops zero-length bones
            tails[j] = heads[j] + direction * 0.05
    return tails


def _add_bones(context, arm_obj, names, parents, heads, tails) -> None:
    """Create the armature's bones in edit mode (Blender's only way), back to object mode after."""
    view_layer = context.view_layer
    view_layer.objects.active = arm_obj
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        bones = arm_obj.data.edit_bones
        for name, head, tail in zip(names, heads, tails):
            bone = bones.new(name)
            bone.head, bone.tail, bone.roll = head.tolist(), tail.tolist(), 0.0
        for name, p, head in zip(names, parents, heads):
            if p >= 0:
                bone, parent = bones[name], bones[names[p]]
                bone.parent = parent
                bone.use_connect = bool(np.allclose(parent.tail, head, atol=1e-6))
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")


def _add_weights(obj, names, weights: np.ndarray) -> None:
    """One vertex group per joint holding its column of ``weights (V, J)`` (zeros left out)."""
    for j, name in enumerate(names):
        group = obj.vertex_groups.new(name=name)
        column = weights[:, j]
        ones = np.flatnonzero(column == 1.0)
        if len(ones):
            group.add(ones.tolist(), 1.0, "REPLACE")
        for v in np.flatnonzero((column > 0.0) & (column != 1.0)).tolist():
            group.add([v], float(column[v]), "REPLACE")


def build_rigged_body(context, model, params: dict | None = None, name: str = "Body"):
    """A rigged, posed body in the scene -> ``(armature object, mesh object)``.

    Args:
        model: a :class:`unrender.body.BodyModel` (SMPL layout: Y up, metres).
        params: ``{"betas": (S,), "body_pose": ((J-1)*3,) or (J-1, 3), "global_orient": (3,),
            "transl": (3,)}`` axis-angle rotations, each optional (0) and with or without a batch
            of one: a fit's parameters as unrender's body methods give them.
        name: the armature object's name; the mesh is ``"<name> Mesh"``.

    The armature has one bone per joint (the model's names and tree, heads at
    the shaped rest joints); the mesh is the shaped rest mesh with one vertex
    group per joint (the skinning weights), parented to the armature with an
    Armature modifier; the pose is on the pose bones (quaternions, ``transl``
    as the root's location). A model with pose correctives gets those of this
    pose as a shape key ("Pose correctives"; they do not follow later edits of
    the pose). Blender's deformed mesh then equals ``model.forward(**params)``'s
    vertices after the axis change. On any error nothing is left in the scene.
    """
    import torch
    from mathutils import Matrix

    from unrender.body import rotations_to_matrices

    p = _parameters(model, params or {})
    with torch.no_grad():
        out = model(**p)
        J = model.num_joints
        zeros = {"global_orient": torch.zeros(1, 3, dtype=torch.float64),
                 "body_pose": torch.zeros(1, (J - 1) * 3, dtype=torch.float64)}
        rot = torch.cat([rotations_to_matrices(k, p.get(k, zeros[k]).reshape(1, n, 3), n)
                         for k, n in (("global_orient", 1), ("body_pose", J - 1))], dim=1)[0].numpy()
        correctives = None
        if bool(model.posedirs.any()):
            feature = (torch.as_tensor(rot[1:]) - torch.eye(3, dtype=torch.float64)).reshape(1, -1)
            correctives = (feature.to(model.posedirs) @ model.posedirs).reshape(-1, 3).double().numpy()
    C = Y_UP_TO_Z_UP
    heads = out.rest_joints[0].double().numpy() @ C.T
    rest = out.rest_vertices[0].double().numpy() @ C.T
    rot = C @ rot @ C.T
    transl = C @ p["transl"][0].numpy() if "transl" in p else np.zeros(3)
    names, parents = list(model.joint_names), [int(q) for q in model.parents.tolist()]
    weights = model.weights.double().cpu().numpy()

    view_layer = context.view_layer
    active_before = view_layer.objects.active
    created = []
    try:
        arm_obj = bpy.data.objects.new(name, bpy.data.armatures.new(name))
        created += [arm_obj, arm_obj.data]
        (context.collection or context.scene.collection).objects.link(arm_obj)
        arm_obj.data.display_type = "STICK"
        arm_obj.show_in_front = True
        _add_bones(context, arm_obj, names, parents, heads, _bone_tails(heads, parents))

        from . import convert

        mesh_obj = convert.new_mesh_object(context, f"{name} Mesh", rest, model.faces.cpu().numpy())
        created += [mesh_obj, mesh_obj.data]
        _add_weights(mesh_obj, names, weights)
        if correctives is not None:
            mesh_obj.shape_key_add(name="Basis", from_mix=False)
            key = mesh_obj.shape_key_add(name="Pose correctives", from_mix=False)
            key.data.foreach_set("co", np.ascontiguousarray(rest + correctives @ C.T, dtype=np.float32).ravel())
            key.value = 1.0
        mesh_obj.parent = arm_obj
        modifier = mesh_obj.modifiers.new("Armature", "ARMATURE")
        modifier.object = arm_obj

        for j, bone_name in enumerate(names):
            pose_bone = arm_obj.pose.bones[bone_name]
            B = np.array(arm_obj.data.bones[bone_name].matrix_local, dtype=np.float64)[:3, :3]
            pose_bone.rotation_mode = "QUATERNION"
            pose_bone.rotation_quaternion = Matrix((B.T @ rot[j] @ B).tolist()).to_quaternion()
            if parents[j] < 0:
                pose_bone.location = (B.T @ transl).tolist()
        view_layer.update()
    except Exception:
        if context.mode != "OBJECT":
            bpy.ops.object.mode_set(mode="OBJECT")
        for item in created:
            try:
                {bpy.types.Object: bpy.data.objects, bpy.types.Mesh: bpy.data.meshes,
                 bpy.types.Armature: bpy.data.armatures}[type(item)].remove(item)
            except (ReferenceError, KeyError):
                pass
        view_layer.objects.active = active_before
        raise
    for obj in view_layer.objects:
        obj.select_set(False)
    mesh_obj.select_set(True)
    arm_obj.select_set(True)
    view_layer.objects.active = arm_obj
    return arm_obj, mesh_obj


class UNRENDER_OT_add_body(bpy.types.Operator):
    """Add a rigged human body (an armature and a skinned mesh) in its rest pose, shaped by the sliders"""

    bl_idname = "unrender.add_body"
    bl_label = "Add body"
    bl_options = {"REGISTER", "UNDO"}

    betas: bpy.props.FloatVectorProperty(
        name="Shape", size=10, default=(0.0,) * 10, min=-10.0, max=10.0, soft_min=-3.0, soft_max=3.0,
        description="The body's shape coefficients (betas): the model's shape directions, in standard deviations")
    model_path: bpy.props.StringProperty(
        name="Body model", subtype="FILE_PATH", default="",
        description="An SMPL .pkl / .npz or unrender body-model file; empty: the body unrender ships")

    @classmethod
    def poll(cls, context):
        return registration.ready(cls, context, "add a body")

    def execute(self, context):
        try:
            model = load_model(self.model_path)
            betas = list(self.betas)[: model.num_betas]
            arm, _ = build_rigged_body(context, model, {"betas": betas}, name="Body")
        except (ValueError, FileNotFoundError, OSError, RuntimeError) as exc:  # RuntimeError: a bpy.ops call refused
            self.report({"ERROR"}, f"Add body: {exc}")
            return {"CANCELLED"}
        arm.location = context.scene.cursor.location
        return {"FINISHED"}


CLASSES = (UNRENDER_OT_add_body,)
