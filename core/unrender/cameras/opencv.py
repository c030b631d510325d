"""Exact conversion between OpenCV pinhole cameras and :class:`PerspectiveCameras`.

OpenCV convention (as in :mod:`unrender.geometry.depth`): camera frame ``+x``
right, ``+y`` down, looking down ``+z``; extrinsics ``x_cam = R @ x_world + t``;
intrinsics ``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` in pixels;
``image_size`` is ``(H, W)``.

Pixel centres: OpenCV puts the centre of pixel ``(0, 0)`` at ``(0, 0)``
(``pixel_centers="integer"``, the default, consistent with
``unrender.geometry.project_points``), so the image centre is at
``((W - 1) / 2, (H - 1) / 2)``. PyTorch3D's ``cameras_from_opencv_projection``
instead treats ``(W / 2, H / 2)`` as the image centre, i.e. pixel centres at
half-integers; ``pixel_centers="half"`` reproduces it number for number.
``transform_points_screen`` of a converted camera returns OpenCV's ``(u, v)``
plus ``0.5`` with ``"integer"`` and exactly ``(u, v)`` with ``"half"``.

The PyTorch3D camera is ``R_p3d = R^T diag(-1, -1, 1)``, ``T_p3d = diag(-1, -1, 1) t``
(view ``+X`` left, ``+Y`` up), focal length ``f / (min(H, W) / 2)`` and
principal point ``-(c + offset - size / 2) / (min(H, W) / 2)`` in NDC, with
``offset = 0.5`` for ``"integer"`` and ``0`` for ``"half"``. A skewed ``K``
(``K[0, 1] != 0``) cannot be represented and raises ``ValueError``.
"""

from __future__ import annotations

import torch

from ..screen import parse_image_sizes
from .cameras import CamerasBase, PerspectiveCameras

__all__ = ["cameras_from_opencv", "opencv_from_cameras"]

_FLIP = (-1.0, -1.0, 1.0)
_CENTERS = {"integer": 0.5, "half": 0.0}


def _offset(pixel_centers) -> float:
    if pixel_centers not in _CENTERS:
        raise ValueError(f"pixel_centers: expected 'integer' (OpenCV) or 'half' (PyTorch3D), found {pixel_centers!r}")
    return _CENTERS[pixel_centers]


def _batch(name: str, x, tail: tuple, dtype=None) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(x, dtype=dtype or torch.get_default_dtype())
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(f"{name}: expected an array of shape (N, {', '.join(map(str, tail))}), found {x!r}") from None
    if tuple(x.shape) == tail:
        x = x[None]
    if x.dim() != len(tail) + 1 or tuple(x.shape[1:]) != tail:
        raise ValueError(f"{name}: expected shape (N, {', '.join(map(str, tail))}) or {tail}, found shape {tuple(x.shape)}")
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    if x.numel() and not bool(torch.isfinite(x.detach()).all()):
        raise ValueError(f"{name}: expected finite values, found NaN or infinite entries")
    return x


def cameras_from_opencv(K, R, t, image_size, pixel_centers: str = "integer") -> PerspectiveCameras:
    """OpenCV ``K, R, t`` -> :class:`PerspectiveCameras` in NDC (with ``image_size`` set).

    Args:
        K: ``(N, 3, 3)`` or ``(3, 3)`` intrinsics in pixels (no skew).
        R: ``(N, 3, 3)`` or ``(3, 3)`` world-to-camera rotation.
        t: ``(N, 3)`` or ``(3,)`` translation.
        image_size: ``(N, 2)`` or ``(H, W)``.
        pixel_centers: ``"integer"`` (OpenCV) or ``"half"`` (PyTorch3D's
            ``cameras_from_opencv_projection``); see the module docstring.
    Returns:
        ``PerspectiveCameras`` of batch ``N``, differentiable in ``K, R, t``.
    """
    off = _offset(pixel_centers)
    K = _batch("K", K, (3, 3))
    R = _batch("R", R, (3, 3))
    t = _batch("t", t, (3,))
    dtype = torch.promote_types(torch.promote_types(K.dtype, R.dtype), t.dtype)
    K, R, t = K.to(dtype), R.to(dtype), t.to(dtype)
    n = max(K.shape[0], R.shape[0], t.shape[0])
    for name, x in (("K", K), ("R", R), ("t", t)):
        if x.shape[0] not in (1, n):
            raise ValueError(f"{name}: expected a batch size of 1 or {n}, found {x.shape[0]}")
    Kd = K.detach()
    last = Kd[:, 2, :]
    if not bool(((last - torch.tensor([0.0, 0.0, 1.0], dtype=dtype, device=K.device)).abs() <= 1e-9).all()):
        raise ValueError(f"K: expected the last row (0, 0, 1), found {last[0].tolist()}")
    fx, fy = Kd[:, 0, 0], Kd[:, 1, 1]
    if not bool(((fx > 0) & (fy > 0)).all()):
        raise ValueError(f"K: expected positive focal lengths K[0, 0] and K[1, 1], found {fx.tolist()}, {fy.tolist()}")
    if bool((Kd[:, 0, 1].abs() > 1e-9 * fx).any()) or bool((Kd[:, 1, 0] != 0).any()):
        raise ValueError(f"K: expected no skew (K[0, 1] == K[1, 0] == 0), found K[0, 1] = {Kd[:, 0, 1].tolist()}")
    size = parse_image_sizes(image_size, K.device)
    if size.shape[0] not in (1, n):
        raise ValueError(f"image_size: expected 1 or {n} (H, W) rows, found {size.shape[0]}")
    hw = size.to(dtype)
    wh = hw.flip(-1)
    s = hw.min(dim=1, keepdim=True).values / 2
    focal = torch.stack([K[:, 0, 0], K[:, 1, 1]], -1) / s
    pp = -(K[:, :2, 2] + off - wh / 2) / s
    flip = torch.tensor(_FLIP, dtype=dtype, device=K.device)
    return PerspectiveCameras(focal_length=focal, principal_point=pp, R=R.transpose(1, 2) * flip, T=t * flip,
                              in_ndc=True, image_size=size, device=K.device)


def opencv_from_cameras(cameras: CamerasBase, image_size=None, pixel_centers: str = "integer"):
    """Perspective cameras -> OpenCV ``(K (N, 3, 3), R (N, 3, 3), t (N, 3))``.

    Works for :class:`PerspectiveCameras` (NDC or screen space) and
    :class:`FoVPerspectiveCameras`. ``image_size`` ``(H, W)`` or ``(N, 2)``
    defaults to the cameras' own. Orthographic cameras have no OpenCV
    pinhole form and raise ``ValueError``.
    """
    off = _offset(pixel_centers)
    if not isinstance(cameras, CamerasBase):
        raise ValueError(f"cameras: expected unrender cameras, found {type(cameras).__name__}")
    if not cameras.is_perspective():
        raise ValueError(f"cameras: expected perspective cameras (OpenCV K is a pinhole model), found {type(cameras).__name__}")
    size = parse_image_sizes(image_size, cameras.device) if image_size is not None else cameras.get_image_size()
    if size is None:
        raise ValueError("image_size: expected (H, W) (the cameras carry none), found None")
    if size.shape[0] not in (1, len(cameras)):
        raise ValueError(f"image_size: expected 1 or {len(cameras)} (H, W) rows, found {size.shape[0]}")
    f_ndc = cameras.ndc_intrinsics(size)
    hw = size.to(f_ndc.dtype)
    wh = hw.flip(-1)
    s = hw.min(dim=1, keepdim=True).values / 2
    focal = f_ndc[:, :2] * s
    c = wh / 2 - f_ndc[:, 2:] * s - off
    n = len(cameras)
    K = torch.zeros(n, 3, 3, dtype=f_ndc.dtype, device=f_ndc.device)
    K[:, 0, 0] = focal[:, 0]
    K[:, 1, 1] = focal[:, 1]
    K[:, :2, 2] = c.expand(n, 2)
    K[:, 2, 2] = 1.0
    flip = torch.tensor(_FLIP, dtype=cameras.dtype, device=cameras.device)
    R = (cameras.R * flip).transpose(1, 2)
    t = cameras.T * flip
    return K, R, t
