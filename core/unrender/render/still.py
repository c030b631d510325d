"""One still picture of a mesh, point cloud or voxel grid (z up like Blender, or y up like
Blender's OBJ export): the pictures of method runs and of the demo."""

from __future__ import annotations

import math

import torch

from ..structures import Meshes, PointClouds, Voxels
from .turntable import turntable

__all__ = ["render_still", "still_renderable", "frame_of", "UP_AXES"]

UP_AXES = ("z", "y")  # Blender's up, and the up of Blender's OBJ export (and PyTorch3D)


def still_renderable(obj) -> Meshes | PointClouds | None:
    """What :func:`render_still` draws for ``obj``, on the CPU and detached.

    ``Meshes`` and ``PointClouds`` pass (a mesh without faces becomes its
    vertices as points); ``Voxels`` become their marching-cubes surface at 0.5.
    None for anything else and for empty geometry.
    """
    if isinstance(obj, Voxels):
        from ..geometry import marching_cubes

        mesh = marching_cubes(obj.detach().cpu(), 0.5)
        return mesh if mesh.faces_packed().shape[0] else None
    if isinstance(obj, (Meshes, PointClouds)):
        obj = obj.detach().cpu()
        n = obj.faces_packed().shape[0] if isinstance(obj, Meshes) else obj.points_packed().shape[0]
        if isinstance(obj, Meshes) and n == 0:
            return PointClouds([obj.verts_packed()]) if obj.verts_packed().shape[0] else None
        return obj if n else None
    return None


def frame_of(obj) -> tuple[torch.Tensor, float]:
    """Centre ``(3,)`` and radius of the bounding sphere of a geometry (for shared framing), measured
    in float64 so that any scale works; ``(0, 1)`` when there is nothing to draw."""
    r = still_renderable(obj)
    if r is None:
        return torch.zeros(3), 1.0
    pts = (r.verts_packed() if isinstance(r, Meshes) else r.points_packed()).double()
    c = (pts.min(0).values + pts.max(0).values) / 2
    return c.float(), max(float((pts - c).norm(dim=1).max()), 1e-300)


def _in_frame(r: Meshes | PointClouds, frame: tuple[torch.Tensor, float]) -> Meshes | PointClouds:
    """``r`` moved and scaled so that the ``frame`` sphere is the unit sphere at the origin (in
    float64): the camera then works at unit scale whatever the geometry's (1e-6 or 1e20)."""
    centre, radius = frame[0].double(), float(frame[1])

    def unit(x: torch.Tensor) -> torch.Tensor:
        return ((x.double() - centre) / radius).to(x.dtype)

    if isinstance(r, Meshes):
        return Meshes([unit(v) for v in r.verts_list()], r.faces_list())
    return PointClouds([unit(p) for p in r.points_list()], r.normals_list(), r.features_list())


def render_still(
    obj,
    *,
    size: int = 256,
    azimuth: float = 30.0,
    elevation: float = 25.0,
    frame: tuple[torch.Tensor, float] | None = None,
    color=(0.8, 0.55, 0.35),
    shader: str = "phong",
    point_radius: float | None = None,
    fov: float = 40.0,
    up: str = "z",
    background=(1.0, 1.0, 1.0),
) -> torch.Tensor:
    """One ``(size, size, 3)`` shaded render in [0, 1] of a mesh, point cloud or voxel grid (z up).

    The camera looks at the object's bounding-sphere centre from ``azimuth``
    and ``elevation`` (degrees) with a vertical field of view ``fov``, at the
    distance where a sphere of the ``frame`` radius (default: the object's own,
    see :func:`frame_of`) fills 90 % of the picture, so that pictures given one
    frame share one scale. ``color``: 3 numbers or per-vertex / per-point
    ``(V, 3)`` colours; None takes a point cloud's own features.
    ``shader``: ``"phong"``, ``"gouraud"`` or ``"flat"`` (meshes).
    ``point_radius``: NDC disk radius of points; default: the mean nearest-neighbour
    distance of the cloud (:func:`~unrender.render.turntable.point_spacing`) times 3 seen from the camera (random
    samples leave gaps of several mean distances), at least 1.5 pixels and at most 0.025
    (sparse clouds stay points). Points are composited by
    coverage (the disks' colours averaged where any disk lands, the background
    only where the coverage is low, see :func:`composite_splats`), so gaps between splats do not
    show through.
    ``up``: ``"z"`` (Blender) or ``"y"`` (Blender's OBJ export, PyTorch3D).
    ``background``: RGB of empty pixels.
    Nothing to draw (see :func:`still_renderable`) gives a picture of the background.
    """
    if up not in UP_AXES:
        raise ValueError(f"up: expected one of {list(UP_AXES)}, found {up!r}")
    bg = torch.as_tensor(background, dtype=torch.float32).reshape(3)
    r = still_renderable(obj)
    if r is None:
        return bg.expand(size, size, 3).clone()
    r = _in_frame(r, frame if frame is not None else frame_of(r))
    distance = 1.1 / math.sin(math.radians(fov) / 2)
    common = dict(n_frames=1, image_size=size, elevation=elevation, distance=distance, fov=fov, up=up,
                  start_azimuth=azimuth, colors=color, shader=shader)
    if isinstance(r, PointClouds):
        common["point_radius"] = point_radius
    return turntable(r, background=bg, **common)[0][..., :3]
