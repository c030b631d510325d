"""The SMPL body model: shape blend, joints regressed from the shaped mesh, pose correctives, skinning."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .._validate import check_tensor
from ..geometry.rotations import axis_angle_to_matrix
from ..io.body_models import check_body_arrays, load_body_model, save_body_model
from .landmarks import has_smpl_tree, keypoint_regressors
from .skinning import linear_blend_skinning, rotations_to_matrices

__all__ = ["BodyOutput", "BodyModel", "KEYPOINT_REGRESSORS", "PosingBody", "default_body_path"]

#: keypoint layout name -> the model array holding its regressor
KEYPOINT_REGRESSORS = {"body25": "body25_regressor", "coco17": "coco17_regressor"}


@dataclass
class BodyOutput:
    """What :meth:`BodyModel.forward` gives (``B`` bodies, ``V`` vertices, ``J`` joints).

    vertices: ``(B, V, 3)`` posed vertices (``transl`` added).
    joints: ``(B, J, 3)`` posed joint locations.
    keypoints: layout name (``"body25"``, ``"coco17"``, those the model has) -> ``(B, K, 3)``,
        the layout's regressor applied to the posed vertices.
    transforms: ``(B, J, 4, 4)`` the joints' world transforms (``transl`` included).
    rest_vertices: ``(B, V, 3)`` the shaped rest mesh (no pose, no correctives, no ``transl``).
    rest_joints: ``(B, J, 3)`` the joints regressed from the shaped rest mesh.
    """

    vertices: torch.Tensor
    joints: torch.Tensor
    keypoints: dict[str, torch.Tensor]
    transforms: torch.Tensor
    rest_vertices: torch.Tensor
    rest_joints: torch.Tensor


def default_body_path() -> Path:
    """Path of the shipped default body, ``unrender/body/data/default_body.npz`` (built by
    ``scripts/build_default_body.py``; licence and provenance beside it)."""
    return Path(__file__).resolve().parent / "data" / "default_body.npz"


class BodyModel(torch.nn.Module):
    """An SMPL-layout body model (SMPL's numerics) held as buffers.

    Buffers: ``v_template`` ``(V, 3)``, ``faces`` ``(F, 3)`` int64, ``shapedirs``
    ``(V, 3, S)``, ``posedirs`` ``((J-1)*9, V*3)`` (SMPL's layout transposed, as
    smplx holds it), ``J_regressor`` ``(J, V)``, ``weights`` ``(V, J)``,
    ``parents`` ``(J,)`` int64 and the keypoint regressors ``(K, V)`` of
    :data:`KEYPOINT_REGRESSORS` the model has. ``joint_names`` and ``meta`` are
    plain attributes.

    A model with SMPL's 24-joint tree whose arrays lack a keypoint regressor
    (an SMPL ``.pkl`` or smplx ``.npz`` holds none) gets it from its own
    geometry (:func:`unrender.body.landmarks.keypoint_regressors`); ``meta``
    then says ``"keypoints": "geometric"``. Regressors the arrays hold are kept.
    """

    def __init__(self, arrays, *, dtype=torch.float32, device="cpu"):
        super().__init__()
        a = check_body_arrays(arrays)
        missing = [key for key in KEYPOINT_REGRESSORS.values() if key not in a]
        if missing and has_smpl_tree(a["kintree_parents"]):
            built = keypoint_regressors(a)
            a.update({key: built[key] for key in missing})
            a["meta"] = np.asarray(json.dumps({**json.loads(str(a["meta"])), "keypoints": "geometric"}))
        f = lambda x: torch.as_tensor(np.ascontiguousarray(x), dtype=dtype, device=device)  # noqa: E731
        self.register_buffer("v_template", f(a["v_template"]))
        self.register_buffer("faces", torch.as_tensor(a["f"], dtype=torch.int64, device=device))
        self.register_buffer("shapedirs", f(a["shapedirs"]))
        self.register_buffer("posedirs", f(a["posedirs"].T))
        self.register_buffer("J_regressor", f(a["J_regressor"]))
        self.register_buffer("weights", f(a["weights"]))
        self.register_buffer("parents", torch.as_tensor(a["kintree_parents"], dtype=torch.int64, device=device))
        self.keypoint_layouts = tuple(name for name, key in KEYPOINT_REGRESSORS.items() if key in a)
        for name in self.keypoint_layouts:
            self.register_buffer(KEYPOINT_REGRESSORS[name], f(a[KEYPOINT_REGRESSORS[name]]))
        self.joint_names = tuple(str(n) for n in a["joint_names"])
        self.meta = json.loads(str(a["meta"]))
        self._derived: dict = {}  # buffer name -> ((data_ptr, version), value): see _derive

    @classmethod
    def from_arrays(cls, arrays, *, dtype=torch.float32, device="cpu") -> "BodyModel":
        """A model from a mapping of unrender's body-model arrays (``BODY_FORMAT.md``)."""
        return cls(arrays, dtype=dtype, device=device)

    @classmethod
    def default(cls, *, dtype=torch.float32, device="cpu") -> "BodyModel":
        """The shipped default body (MakeHuman's CC0 data in SMPL's layout, :func:`default_body_path`)."""
        return cls.load(default_body_path(), dtype=dtype, device=device)

    @classmethod
    def load(cls, path, *, dtype=torch.float32, device="cpu") -> "BodyModel":
        """A model from a file :func:`unrender.io.load_body_model` reads (unrender / smplx ``.npz``, SMPL ``.pkl``)."""
        return cls(load_body_model(path), dtype=dtype, device=device)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The model's arrays in unrender's layout (what :func:`unrender.io.save_body_model` writes)."""
        n = lambda t: t.detach().cpu().numpy()  # noqa: E731
        out = {"v_template": n(self.v_template), "f": n(self.faces), "shapedirs": n(self.shapedirs),
               "posedirs": n(self.posedirs.T), "J_regressor": n(self.J_regressor), "weights": n(self.weights),
               "kintree_parents": n(self.parents), "joint_names": np.asarray(self.joint_names),
               "meta": np.asarray(json.dumps(self.meta))}
        for name in self.keypoint_layouts:
            out[KEYPOINT_REGRESSORS[name]] = n(getattr(self, KEYPOINT_REGRESSORS[name]))
        return out

    def save(self, path) -> None:
        """Write the model as unrender's ``.npz``."""
        save_body_model(path, self.to_arrays())

    def _derive(self, name: str, fn):
        """``fn(buffer)`` cached until the buffer ``name`` is replaced (``to``, ``load_state_dict``) or
        changed in place."""
        buf = getattr(self, name)
        key = (buf.data_ptr(), buf._version, buf.device)
        hit = self._derived.get(name)
        if hit is None or hit[0] != key:
            hit = self._derived[name] = (key, fn(buf))
        return hit[1]

    @property
    def has_correctives(self) -> bool:
        """Whether any pose corrective is non-zero (the shipped body has none: forward then skips the
        ``(B, 207) @ (207, V*3)`` product)."""
        return self._derive("posedirs", lambda p: bool(p.abs().max() > 0))

    def regress(self, name: str, verts: torch.Tensor) -> torch.Tensor:
        """The regressor buffer ``name`` (``(K, V)``: ``J_regressor`` or a keypoint regressor) applied to
        ``verts (B, V, 3)`` -> ``(B, K, 3)``, through the few vertices it reads (a gather and a small
        product instead of a pass over the whole mesh)."""

        def compact(reg):
            support = torch.nonzero(reg.abs().sum(0) > 0).squeeze(1)
            return support, reg[:, support]

        support, reg = self._derive(name, compact)
        return torch.einsum("ks,bsc->bkc", reg, verts[:, support])

    @property
    def num_joints(self) -> int:
        return int(self.parents.shape[0])

    @property
    def num_betas(self) -> int:
        return int(self.shapedirs.shape[2])

    def _batch(self, name, x, tail, B):
        check_tensor(name, x, (None, *tail), floating=True)
        if B is not None and x.shape[0] != B:
            raise ValueError(f"{name}: expected a batch of {B} (as the other inputs), found {x.shape[0]}")
        return x.to(dtype=self.v_template.dtype, device=self.v_template.device)

    def forward(self, betas=None, body_pose=None, global_orient=None, transl=None, pose2rot: bool = True) -> BodyOutput:
        """Pose and shape bodies.

        Args:
            betas: ``(B, S')`` shape coefficients, ``S' <= num_betas`` (the rest are 0); ``None``: 0.
            body_pose: the ``J - 1`` non-root joints' rotations: with ``pose2rot``
                axis-angle ``(B, (J-1)*3)`` or ``(B, J-1, 3)``; without, matrices
                ``(B, J-1, 3, 3)`` or 6D ``(B, J-1, 6)``. ``None``: rest pose.
            global_orient: the root's rotation: ``(B, 3)`` / ``(B, 1, 3)`` axis-angle with
                ``pose2rot``, ``(B, 1, 3, 3)`` / ``(B, 3, 3)`` / ``(B, 1, 6)`` without. ``None``: identity.
            transl: ``(B, 3)`` added to every output location. ``None``: 0.
        Returns:
            a :class:`BodyOutput`. ``B`` is the inputs' common batch size (1 when none is given).
        """
        J = self.num_joints
        given = [x for x in (betas, body_pose, global_orient, transl) if isinstance(x, torch.Tensor)]
        B = given[0].shape[0] if given else 1
        dtype, device = self.v_template.dtype, self.v_template.device
        eye = torch.eye(3, dtype=dtype, device=device)

        def rots(name, x, n):
            if x is None:
                return eye.expand(B, n, 3, 3)
            check_tensor(name, x, floating=True)
            if x.dim() == 2 and x.shape[1] in (n * 3, n * 6, n * 9):  # flat: (B, n*3|n*6|n*9)
                x = x.reshape(x.shape[0], n, 3, 3) if x.shape[1] == n * 9 else x.reshape(x.shape[0], n, -1)
            elif n == 1 and x.dim() == 3 and x.shape[1:] == (3, 3):
                x = x[:, None]
            axis_angle = x.dim() == 3 and x.shape[-1] == 3
            if axis_angle != pose2rot:
                want = f"axis-angle (B, {n * 3}) or (B, {n}, 3)" if pose2rot else \
                    f"matrices (B, {n}, 3, 3) / (B, {n * 9}) or 6D (B, {n}, 6) / (B, {n * 6})"
                raise ValueError(f"{name}: expected {want} (pose2rot={pose2rot}), found shape {tuple(x.shape)}")
            x = self._batch(name, x, tuple(x.shape[1:]), B)
            return rotations_to_matrices(name, x, n)

        shaped = self.v_template.expand(B, -1, -1)
        if betas is not None:
            betas = self._batch("betas", betas, (None,), B)
            if betas.shape[1] > self.num_betas:
                raise ValueError(f"betas: expected at most {self.num_betas} shape coefficients, found {betas.shape[1]}")
            S = betas.shape[1]  # a matmul on the flattened directions: several times faster than the einsum
            shaped = shaped + (self.shapedirs[..., :S].reshape(-1, S) @ betas.T).T.reshape(B, -1, 3)
        rest_joints = self.regress("J_regressor", shaped)
        rot = torch.cat([rots("global_orient", global_orient, 1), rots("body_pose", body_pose, J - 1)], dim=1)
        posed_rest = shaped
        if self.has_correctives:
            pose_feature = (rot[:, 1:] - eye).reshape(B, -1)
            posed_rest = shaped + (pose_feature @ self.posedirs).reshape(B, -1, 3)
        verts, world = linear_blend_skinning(posed_rest, self.weights, self.parents, rest_joints, rot)
        if transl is not None:
            transl = self._batch("transl", transl, (3,), B)
            verts = verts + transl[:, None]
            world = world.clone()
            world[..., :3, 3] = world[..., :3, 3] + transl[:, None]
        keypoints = {name: self.regress(KEYPOINT_REGRESSORS[name], verts)
                     for name in self.keypoint_layouts}
        return BodyOutput(vertices=verts, joints=world[..., :3, 3], keypoints=keypoints, transforms=world,
                          rest_vertices=shaped, rest_joints=rest_joints)


class PosingBody:
    """Posed vertices of a body model for fitting loops, cheaper than :meth:`BodyModel.forward`.

    The joints are linear in the shape (the joint regressor is applied to the
    template and shape directions once, not to the whole shaped mesh each
    step), pose correctives are skipped when the model's are all zero, and
    only ``vertex_ids`` (all when None) are shaped and skinned: the same
    numbers as ``forward`` for those vertices.
    """

    def __init__(self, model: "BodyModel", vertex_ids: torch.Tensor | None = None, *, dtype=None):
        dtype = dtype or model.v_template.dtype
        ids = slice(None) if vertex_ids is None else vertex_ids
        J = model.J_regressor.to(dtype)
        shapedirs = model.shapedirs.to(dtype)
        self.v = model.v_template.to(dtype)[ids]
        self.shapedirs = shapedirs[ids]
        self.joint_template = J @ model.v_template.to(dtype)  # (J, 3)
        self.joint_dirs = torch.einsum("jv,vkl->jkl", J, shapedirs)  # (J, 3, S)
        self.posedirs = None
        if model.has_correctives:
            posedirs = model.posedirs.to(dtype)  # (P, V*3)
            if vertex_ids is not None:
                posedirs = posedirs[:, (vertex_ids[:, None] * 3 + torch.arange(3, device=vertex_ids.device)).reshape(-1)]
            self.posedirs = posedirs
        self.weights, self.parents = model.weights.to(dtype)[ids], model.parents
        self.num_betas = model.num_betas

    def __call__(self, betas, body_pose, global_orient, transl):
        """``(B, V', 3)`` posed vertices (``transl`` added) and ``(B, J, 4, 4)`` world transforms
        (without ``transl``). ``betas (B, S' <= S)``, ``body_pose (B, J-1, 3)``, ``global_orient (B, 3)``
        axis-angle, ``transl (B, 3)``."""
        B, S = betas.shape
        rot = axis_angle_to_matrix(torch.cat([global_orient[:, None], body_pose.reshape(B, -1, 3)], 1))
        shaped = self.v + torch.einsum("bl,vkl->bvk", betas, self.shapedirs[..., :S])
        joints = self.joint_template + torch.einsum("bl,jkl->bjk", betas, self.joint_dirs[..., :S])
        if self.posedirs is not None:
            eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
            shaped = shaped + ((rot[:, 1:] - eye).reshape(B, -1) @ self.posedirs).reshape(B, -1, 3)
        verts, world = linear_blend_skinning(shaped, self.weights, self.parents, joints, rot)
        return verts + transl[:, None], world
