"""Cameras: PyTorch3D-convention camera classes and exact converters.

* :mod:`.cameras`: ``FoVPerspectiveCameras``, ``PerspectiveCameras``,
  ``FoVOrthographicCameras``, ``OrthographicCameras``, ``look_at_view_transform``
  (conventions in that module's docstring: ``X_view = X_world @ R + T``, view
  ``+X`` left / ``+Y`` up / ``+Z`` forward, NDC shorter side ``[-1, 1]``).
* :mod:`.blender`: ``BlenderCamera`` and ``cameras_from_blender`` /
  ``blender_from_cameras`` (Blender's own view-plane rules, no bpy import).
* :mod:`.opencv`: ``cameras_from_opencv`` / ``opencv_from_cameras``.
* :mod:`.nerf`: ``cameras_from_nerf`` / ``nerf_from_cameras`` (``transforms.json``'s camera-to-world
  OpenGL matrices and pixel intrinsics).
* :mod:`.transform`: ``Transform3d`` (alias ``Transform``), ``Translate``, ``Rotate``,
  ``RotateAxisAngle``, ``Scale`` (PyTorch3D's ``pytorch3d.transforms`` classes).
* :mod:`.pytorch3d_convert`: ``to_pytorch3d`` / ``from_pytorch3d`` (lazy import).
"""

from .blender import BlenderCamera, blender_from_cameras, cameras_from_blender, fov_cameras_from_blender
from .cameras import (
    CamerasBase,
    FoVOrthographicCameras,
    FoVPerspectiveCameras,
    OrthographicCameras,
    PerspectiveCameras,
    camera_position_from_spherical_angles,
    get_world_to_view_transform,
    look_at_rotation,
    look_at_view_transform,
)
from .nerf import cameras_from_nerf, check_transform_matrix, focal_from_angle, nerf_from_cameras
from .opencv import cameras_from_opencv, opencv_from_cameras
from .pytorch3d_convert import from_pytorch3d, to_pytorch3d
from .transform import RotateAxisAngle, Rotate, Scale, Transform, Transform3d, Translate, apply_homogeneous

__all__ = [
    "apply_homogeneous",
    "CamerasBase",
    "FoVPerspectiveCameras",
    "PerspectiveCameras",
    "FoVOrthographicCameras",
    "OrthographicCameras",
    "Transform",
    "Transform3d",
    "Translate",
    "Rotate",
    "RotateAxisAngle",
    "Scale",
    "get_world_to_view_transform",
    "camera_position_from_spherical_angles",
    "look_at_rotation",
    "look_at_view_transform",
    "BlenderCamera",
    "cameras_from_blender",
    "blender_from_cameras",
    "fov_cameras_from_blender",
    "cameras_from_opencv",
    "opencv_from_cameras",
    "cameras_from_nerf",
    "nerf_from_cameras",
    "check_transform_matrix",
    "focal_from_angle",
    "to_pytorch3d",
    "from_pytorch3d",
]
