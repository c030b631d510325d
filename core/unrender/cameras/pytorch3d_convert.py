"""Conversions to and from PyTorch3D camera objects (PyTorch3D imported lazily).

The classes share PyTorch3D's conventions, so the conversion copies the
parameters one to one: ``FoVPerspectiveCameras <-> FoVPerspectiveCameras`` and
so on. PyTorch3D builds its projection matrices in float32, so
:func:`to_pytorch3d` casts to float32 unless told otherwise.
"""

from __future__ import annotations


import torch

from .cameras import (
    CamerasBase,
    FoVOrthographicCameras,
    FoVPerspectiveCameras,
    OrthographicCameras,
    PerspectiveCameras,
)

__all__ = ["to_pytorch3d", "from_pytorch3d"]


def _p3d_cameras():
    from ..interop import pytorch3d_module

    return pytorch3d_module("pytorch3d.renderer.cameras")


def to_pytorch3d(cameras: CamerasBase, dtype: torch.dtype = torch.float32):
    """unrender cameras -> the PyTorch3D camera class of the same name.

    Tensors are cast to ``dtype`` (gradients still flow back to ``cameras``).
    """
    if not isinstance(cameras, CamerasBase):
        raise ValueError(f"cameras: expected unrender cameras, found {type(cameras).__name__}")
    m = _p3d_cameras()

    def c(x):
        return x.to(dtype=dtype)

    common = dict(R=c(cameras.R), T=c(cameras.T), device=cameras.device)
    if isinstance(cameras, FoVPerspectiveCameras):
        return m.FoVPerspectiveCameras(znear=c(cameras.znear), zfar=c(cameras.zfar),
                                       aspect_ratio=c(cameras.aspect_ratio), fov=c(cameras.fov),
                                       degrees=cameras.degrees, **common)
    if isinstance(cameras, FoVOrthographicCameras):
        return m.FoVOrthographicCameras(znear=c(cameras.znear), zfar=c(cameras.zfar), max_y=c(cameras.max_y),
                                        min_y=c(cameras.min_y), max_x=c(cameras.max_x), min_x=c(cameras.min_x),
                                        scale_xyz=c(cameras.scale_xyz), **common)
    cls = m.PerspectiveCameras if isinstance(cameras, PerspectiveCameras) else m.OrthographicCameras
    size = cameras.image_size
    return cls(focal_length=c(cameras.focal_length), principal_point=c(cameras.principal_point),
               in_ndc=cameras.in_ndc(), image_size=None if size is None else size.to(dtype), **common)


def from_pytorch3d(p3d_cameras, dtype: torch.dtype | None = None) -> CamerasBase:
    """A PyTorch3D camera object -> the unrender class of the same name.

    ``dtype`` defaults to that of the PyTorch3D tensors. Cameras built from an
    explicit ``K`` matrix are not supported (``ValueError``).
    """
    m = _p3d_cameras()
    if not isinstance(p3d_cameras, m.CamerasBase):
        raise ValueError(f"p3d_cameras: expected PyTorch3D cameras, found {type(p3d_cameras).__name__}")
    if getattr(p3d_cameras, "K", None) is not None:
        raise ValueError("p3d_cameras: expected cameras defined by their parameters, found cameras with an explicit K")

    def c(x):
        return x if dtype is None else x.to(dtype=dtype)

    common = dict(R=c(p3d_cameras.R), T=c(p3d_cameras.T), device=p3d_cameras.device)
    if isinstance(p3d_cameras, m.FoVPerspectiveCameras):
        return FoVPerspectiveCameras(znear=c(p3d_cameras.znear), zfar=c(p3d_cameras.zfar),
                                     aspect_ratio=c(p3d_cameras.aspect_ratio), fov=c(p3d_cameras.fov),
                                     degrees=bool(p3d_cameras.degrees), **common)
    if isinstance(p3d_cameras, m.FoVOrthographicCameras):
        return FoVOrthographicCameras(znear=c(p3d_cameras.znear), zfar=c(p3d_cameras.zfar),
                                      max_y=c(p3d_cameras.max_y), min_y=c(p3d_cameras.min_y),
                                      max_x=c(p3d_cameras.max_x), min_x=c(p3d_cameras.min_x),
                                      scale_xyz=c(p3d_cameras.scale_xyz), **common)
    if isinstance(p3d_cameras, (m.PerspectiveCameras, m.OrthographicCameras)):
        cls = PerspectiveCameras if isinstance(p3d_cameras, m.PerspectiveCameras) else OrthographicCameras
        return cls(focal_length=c(p3d_cameras.focal_length), principal_point=c(p3d_cameras.principal_point),
                   in_ndc=bool(p3d_cameras.in_ndc()), image_size=p3d_cameras.get_image_size(), **common)
    raise ValueError(f"p3d_cameras: expected one of the four PyTorch3D camera classes, found {type(p3d_cameras).__name__}")
