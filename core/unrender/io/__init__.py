"""File formats: OBJ (+MTL, UV textures; PyTorch3D's ``verts, faces, aux = load_obj(f)`` and
``load_objs_as_meshes``), PLY (ascii + binary), images and GIFs, voxel grids
(``.npz``/``.npy``), cameras (``.json``), posed views (NeRF ``transforms.json`` and its folders), keypoints (``.json``/``.npy``), OpenPose keypoint JSON and body
models (unrender's ``.npz``, smplx ``.npz``, SMPL ``.pkl`` by a restricted unpickler); each a load/save pair.
NumPy files (voxels, points, keypoints) are read by :func:`load_arrays` (``arrays.py``).

Readers raise ``FileNotFoundError`` for a missing file and ``ValueError``
naming the file and the line (text formats) or element (binary PLY) for
anything malformed; they never return partial data. Memory stays bounded
whatever a file's header claims: arrays by :data:`MAX_ARRAY_BYTES`, decoded
images by :data:`MAX_IMAGE_PIXELS` (both module settings one may raise).
Texture and material-library paths that are absolute or lead out of the
model's folder are not followed unless ``allow_outside_paths=True``.
"""

from __future__ import annotations

import torch

from ._common import as_path
from .arrays import MAX_ARRAY_BYTES, load_arrays
from .body_models import (BODY_MODEL_KEYS, MAX_BODY_MODEL_BYTES, SMPL_JOINT_NAMES, SMPL_PARENTS, check_body_arrays,
                          load_body_model, save_body_model)
from .cameras import (CAMERA_FIELDS, CAMERAS_FORMAT, ROTATION_TOLERANCE, camera_fields, camera_record, load_cameras,
                      save_cameras)
from .images import IMAGE_FORMATS, MAX_IMAGE_PIXELS, load_image, read_image_header, save_gif, save_image
from .body_params import BODY_PARAMETERS_FORMAT, BodyParameters, load_body_parameters, save_body_parameters
from .keypoints import KEYPOINTS_FORMAT, load_keypoints, save_keypoints
from .openpose import (
    KEYPOINT_LAYOUTS,
    check_confident_joints,
    convert_layout,
    layout_of,
    load_openpose,
    save_openpose,
)
from .obj import Material, ObjMesh, load_mtl, load_obj, save_obj
from .obj_views import ObjFaces, ObjProperties, load_objs_as_meshes, make_texture_atlas, obj_as_tuple
from .ply import PlyData, load_ply, save_ply
from .views import MAX_VIEWS_BYTES, SPLITS, VIEWS_IMAGE_SUFFIXES, PosedViews, holdout_splits, load_views, save_views
from .voxels import load_voxels, save_voxels

__all__ = [
    "BODY_MODEL_KEYS",
    "MAX_BODY_MODEL_BYTES",
    "SMPL_JOINT_NAMES",
    "SMPL_PARENTS",
    "check_body_arrays",
    "load_body_model",
    "save_body_model",
    "CAMERA_FIELDS",
    "CAMERAS_FORMAT",
    "IMAGE_FORMATS",
    "KEYPOINTS_FORMAT",
    "MAX_ARRAY_BYTES",
    "MAX_IMAGE_PIXELS",
    "ROTATION_TOLERANCE",
    "load_arrays",
    "Material",
    "ObjMesh",
    "ObjFaces",
    "ObjProperties",
    "obj_as_tuple",
    "make_texture_atlas",
    "load_objs_as_meshes",
    "PlyData",
    "camera_fields",
    "camera_record",
    "load_cameras",
    "load_keypoints",
    "load_openpose",
    "BODY_PARAMETERS_FORMAT",
    "BodyParameters",
    "load_body_parameters",
    "save_body_parameters",
    "save_openpose",
    "KEYPOINT_LAYOUTS",
    "check_confident_joints",
    "convert_layout",
    "layout_of",
    "load_voxels",
    "save_cameras",
    "save_keypoints",
    "save_voxels",
    "load_image",
    "read_image_header",
    "MAX_VIEWS_BYTES",
    "SPLITS",
    "VIEWS_IMAGE_SUFFIXES",
    "PosedViews",
    "holdout_splits",
    "load_views",
    "save_views",
    "load_mesh",
    "load_mtl",
    "load_obj",
    "load_ply",
    "load_point_cloud",
    "save_gif",
    "save_image",
    "save_mesh",
    "save_obj",
    "save_ply",
    "save_point_cloud",
]


def _suffix(path, allowed: tuple[str, ...]) -> str:
    s = as_path(path).suffix.lower()
    if s not in allowed:
        raise ValueError(f"{path}: expected a file ending in {' or '.join(allowed)}, found {s or 'no extension'!r}")
    return s


def load_mesh(path, *, device="cpu"):
    """Read an ``.obj`` or ``.ply`` file into a one-mesh ``Meshes`` (triangles).

    A PLY without a face element gives a mesh with ``(0, 3)`` faces.
    """
    from ..structures import Meshes

    if _suffix(path, (".obj", ".ply")) == ".obj":
        m = load_obj(path, load_textures=False)
        verts, faces = m.verts, m.faces
    else:
        d = load_ply(path)
        verts = d.verts
        faces = d.faces if d.faces is not None else torch.zeros((0, 3), dtype=torch.int64)
    return Meshes([verts.to(device)], [faces.to(device)])


def save_mesh(path, mesh, faces=None, *, ascii: bool = False) -> None:
    """Write one mesh as ``.obj`` or ``.ply``.

    Args:
        mesh: a ``Meshes`` holding exactly one mesh, a ``(verts, faces)``
            tuple, or a ``(V, 3)`` verts tensor with ``faces`` ``(F, 3)`` given.
        ascii: for ``.ply``, write ascii instead of binary little endian.
    """
    from ..structures import Meshes

    if isinstance(mesh, Meshes):
        if len(mesh) != 1:
            raise ValueError(f"mesh: expected a Meshes holding one mesh, found {len(mesh)}")
        if faces is not None:
            raise ValueError("faces: expected None when mesh is a Meshes, found a tensor")
        verts, faces = mesh.verts_list()[0], mesh.faces_list()[0]
    elif isinstance(mesh, tuple):
        if len(mesh) != 2 or faces is not None:
            raise ValueError("mesh: expected a (verts, faces) tuple without a separate faces argument")
        verts, faces = mesh
    else:
        verts = mesh
        if faces is None:
            raise ValueError("faces: expected a (F, 3) tensor with a verts tensor, found None")
    if _suffix(path, (".obj", ".ply")) == ".obj":
        save_obj(path, verts, faces)
    else:
        save_ply(path, verts, faces, ascii=ascii)


def load_point_cloud(path, *, device="cpu"):
    """Read a ``.ply`` vertex element into a one-cloud ``PointClouds``.

    Normals become the cloud's normals; colours ``(P, 3|4)`` in [0, 1] its features.
    """
    from ..structures import PointClouds

    _suffix(path, (".ply",))
    d = load_ply(path)
    to = lambda x: None if x is None else [x.to(device)]  # noqa: E731
    return PointClouds([d.verts.to(device)], normals=to(d.normals), features=to(d.colors))


def save_point_cloud(path, points, *, normals=None, colors=None, ascii: bool = False) -> None:
    """Write points ``(P, 3)`` (or a one-cloud ``PointClouds``) as ``.ply``.

    ``colors``: ``(P, 3|4)`` in [0, 1]; with a ``PointClouds`` its normals and
    3- or 4-channel features are used when not given.
    """
    from ..structures import PointClouds

    _suffix(path, (".ply",))
    if isinstance(points, PointClouds):
        if len(points) != 1:
            raise ValueError(f"points: expected a PointClouds holding one cloud, found {len(points)}")
        nl, fl = points.normals_list(), points.features_list()
        if normals is None and nl is not None:
            normals = nl[0]
        if colors is None and fl is not None and fl[0].shape[1] in (3, 4):
            colors = fl[0]
        points = points.points_list()[0]
    save_ply(path, points, None, normals=normals, colors=colors, ascii=ascii)
