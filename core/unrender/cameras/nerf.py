"""Exact conversion between NeRF ``transforms.json`` cameras and :class:`PerspectiveCameras`.

The NeRF convention (the NeRF-synthetic data, BlenderNeRF, instant-ngp,
nerfstudio): ``transform_matrix`` is camera-to-world in OpenGL / Blender axes
(the camera looks down its local ``-Z``, ``+Y`` up, ``+X`` right; Blender's
``Object.matrix_world`` of the camera), and the intrinsics are pixels:
``fl_x``, ``fl_y``, ``cx``, ``cy`` with the image spanning ``[0, W] x [0, H]``
from the top-left corner (the centre of pixel ``(0, 0)`` at ``(0.5, 0.5)``,
so ``cx = W / 2`` is a centred principal point). A camera point ``(x, y, z)``
(``z < 0`` in front) lands at ``u = cx + fl_x x / -z``, ``v = cy - fl_y y / -z``.
``camera_angle_x`` is the horizontal field of view: ``fl_x = W / (2 tan(angle_x / 2))``.

As Blender does, the scale of ``transform_matrix`` is dropped (its 3x3 part has
its columns normalised); the view is its inverse turned into PyTorch3D's axes
(``+X`` left, ``+Z`` forward): the OpenCV camera ``c2w diag(1, -1, -1)`` through
:func:`cameras_from_opencv` with ``pixel_centers="half"``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .cameras import CamerasBase, PerspectiveCameras
from .opencv import cameras_from_opencv, opencv_from_cameras

__all__ = ["cameras_from_nerf", "nerf_from_cameras", "check_transform_matrix", "focal_from_angle"]

_GL_TO_CV = np.diag([1.0, -1.0, -1.0])  # OpenGL camera axes <-> OpenCV camera axes (an involution)


def focal_from_angle(angle: float, size: float) -> float:
    """The focal length in pixels that spans ``size`` pixels with the field of view ``angle`` (radians)."""
    return 0.5 * float(size) / math.tan(0.5 * float(angle))


def check_transform_matrix(matrix, where: str = "transform_matrix") -> np.ndarray:
    """A camera-to-world matrix ``(4, 4)`` (or its top ``(3, 4)``) checked: finite, affine, invertible.

    Returns it as a ``(4, 4)`` float64 array; raises ``ValueError`` starting with ``where``.
    """
    try:
        m = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: expected a 4x4 matrix of numbers, found {str(matrix)[:60]}") from None
    if m.shape == (3, 4):
        m = np.vstack([m, [0.0, 0.0, 0.0, 1.0]])
    if m.shape != (4, 4):
        raise ValueError(f"{where}: expected a 4x4 (or 3x4) matrix, found shape {m.shape}")
    if not np.isfinite(m).all():
        raise ValueError(f"{where}: expected finite numbers, found NaN or infinity")
    if not np.allclose(m[3], [0.0, 0.0, 0.0, 1.0], atol=1e-9):
        raise ValueError(f"{where}: expected the last row (0, 0, 0, 1), found {m[3].tolist()}")
    norms = np.linalg.norm(m[:3, :3], axis=0)
    if (norms < 1e-12).any() or abs(np.linalg.det(m[:3, :3] / np.maximum(norms, 1e-300))) < 1e-9:
        raise ValueError(f"{where}: expected an invertible camera-to-world transform, found a singular 3x3 part")
    return m


def cameras_from_nerf(transform_matrix, focal, principal_point, image_size, *,
                      dtype: torch.dtype = torch.float32, device=None) -> PerspectiveCameras:
    """NeRF cameras -> :class:`PerspectiveCameras` in NDC (``image_size`` set), computed in float64.

    Args:
        transform_matrix: ``(N, 4, 4)`` camera-to-world, OpenGL axes (each checked
            by :func:`check_transform_matrix`).
        focal: ``(N, 2)`` ``(fl_x, fl_y)`` in pixels.
        principal_point: ``(N, 2)`` ``(cx, cy)`` in pixels.
        image_size: ``(H, W)`` or ``(N, 2)``.
    """
    m = np.asarray(transform_matrix, dtype=np.float64)
    f = np.asarray(focal, dtype=np.float64).reshape(-1, 2)
    c = np.asarray(principal_point, dtype=np.float64).reshape(-1, 2)
    if m.ndim != 3 or len(m) != len(f) or len(m) != len(c):
        raise ValueError(f"transform_matrix: expected (N, 4, 4) with N focal lengths and principal points, "
                         f"found {m.shape}, {f.shape[0]} and {c.shape[0]}")
    Rs, ts = [], []
    for i, mi in enumerate(m):
        mi = check_transform_matrix(mi, f"transform_matrix[{i}]")
        a_cv = mi[:3, :3] / np.linalg.norm(mi[:3, :3], axis=0) @ _GL_TO_CV
        r = np.linalg.inv(a_cv)  # world-to-camera (OpenCV)
        Rs.append(r)
        ts.append(-r @ mi[:3, 3])
    K = np.zeros((len(m), 3, 3))
    K[:, 0, 0], K[:, 1, 1] = f[:, 0], f[:, 1]
    K[:, :2, 2] = c
    K[:, 2, 2] = 1.0
    cams = cameras_from_opencv(torch.from_numpy(K), torch.from_numpy(np.stack(Rs)), torch.from_numpy(np.stack(ts)),
                               image_size, pixel_centers="half")
    return cams.to(device=device, dtype=dtype)


def nerf_from_cameras(cameras: CamerasBase, image_size=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Perspective cameras -> ``(transform_matrix (N, 4, 4), focal (N, 2), principal_point (N, 2))`` float64.

    The inverse of :func:`cameras_from_nerf`; orthographic cameras raise ``ValueError``.
    """
    if not isinstance(cameras, CamerasBase):
        raise ValueError(f"cameras: expected unrender cameras, found {type(cameras).__name__}")
    K, R, t = opencv_from_cameras(cameras.clone().to(dtype=torch.float64), image_size, pixel_centers="half")
    n = len(cameras)
    K, R, t = (np.broadcast_to(x.detach().cpu().numpy(), (n, *x.shape[1:])) for x in (K, R, t))
    c2w = np.zeros((n, 4, 4))
    c2w[:, :3, :3] = np.linalg.inv(R) @ _GL_TO_CV
    c2w[:, :3, 3] = -np.einsum("nij,nj->ni", np.linalg.inv(R), t)
    c2w[:, 3, 3] = 1.0
    return c2w, np.stack([K[:, 0, 0], K[:, 1, 1]], 1), K[:, :2, 2].copy()
