"""Default pictures of a method run: the target next to the start and the result, and a GIF of the fit."""

from __future__ import annotations

from typing import Any

import torch

from ..plots import caption, hstack
from ..structures import Meshes, PointClouds, Voxels

__all__ = ["render_geometry", "default_pictures", "frame_of"]

_SIZE = 256


def _as_renderable(obj):
    """Meshes / PointClouds pass; Voxels become their marching-cubes mesh (None when empty)."""
    if isinstance(obj, Voxels):
        from ..geometry import marching_cubes

        mesh = marching_cubes(obj.detach().cpu(), 0.5)
        return mesh if mesh.faces_packed().shape[0] else None
    if isinstance(obj, (Meshes, PointClouds)):
        obj = obj.detach().cpu()
        n = obj.faces_packed().shape[0] if isinstance(obj, Meshes) else obj.points_packed().shape[0]
        if isinstance(obj, Meshes) and n == 0:
            return PointClouds([obj.verts_packed()])
        return obj if n else None
    return None


def frame_of(obj) -> tuple[torch.Tensor, float]:
    """Centre ``(3,)`` and radius of the bounding sphere of a geometry (for shared framing)."""
    r = _as_renderable(obj)
    if r is None:
        return torch.zeros(3), 1.0
    pts = r.verts_packed() if isinstance(r, Meshes) else r.points_packed()
    lo, hi = pts.min(0).values, pts.max(0).values
    c = (lo + hi) / 2
    return c, float((pts - c).norm(dim=1).max().clamp_min(1e-6))


def render_geometry(
    obj, *, size: int = _SIZE, azimuth: float = 30.0, frame: tuple[torch.Tensor, float] | None = None, color=(0.8, 0.55, 0.35)
) -> torch.Tensor:
    """One ``(size, size, 3)`` shaded render of a mesh, point cloud or voxel grid (z up, like Blender).

    ``frame``: ``(centre, radius)`` to frame by (default: the object's own
    bounding sphere), so that several pictures share one camera.
    """
    from ..render import turntable

    r = _as_renderable(obj)
    if r is None:
        return torch.ones(size, size, 3)
    centre, radius = frame if frame is not None else frame_of(r)
    # Turntable centres on the object; shift it so the given frame centre is at the origin.
    if isinstance(r, Meshes):
        r = Meshes([r.verts_packed() - centre], [r.faces_packed()])
        kw = {"colors": color}
    else:
        pts = r.points_packed() - centre
        normals = r.normals_packed() if r.normals_list() is not None else None
        r = PointClouds([pts], normals=None if normals is None else [normals])
        kw = {"colors": color, "point_radius": 0.012}
    distance = radius / torch.sin(torch.deg2rad(torch.tensor(20.0))).item() * 1.05
    return turntable(r, n_frames=1, image_size=size, elevation=25.0, distance=distance, up="z", start_azimuth=azimuth, **kw)[0][..., :3]


def _first_geometry(inputs: dict[str, Any]):
    for v in inputs.values():
        if isinstance(v, (Meshes, PointClouds, Voxels)):
            return v
    return None


def default_pictures(method, inputs: dict[str, Any], result) -> dict[str, Any]:
    """``{"before_after": (H, W, 3), "progress": (N, H, W, 3)}`` for geometric methods.

    ``before_after`` shows the first geometric input (the target), the first
    snapshot (the start) and the first output; ``progress`` renders each
    snapshot with a slowly turning camera, captioned with its step. Methods
    whose first output is not geometry get no default pictures.
    """
    out_name = method.outputs[0].name if method.outputs else None
    final = result.outputs.get(out_name)
    if _as_renderable(final) is None and not isinstance(final, (Meshes, PointClouds, Voxels)):
        return {}
    target = _first_geometry(inputs)
    frame = frame_of(target if target is not None else final)
    tiles = []
    if target is not None:
        tiles.append(caption(render_geometry(target, frame=frame, color=(0.55, 0.6, 0.7)), "target"))
    if result.snapshots:
        tiles.append(caption(render_geometry(result.snapshots[0][1], frame=frame), "start"))
    label = "result (cancelled)" if result.cancelled else "result"
    tiles.append(caption(render_geometry(final, frame=frame), label))
    pictures: dict[str, Any] = {"before_after": hstack(tiles)}
    if len(result.snapshots) >= 2:
        frames = []
        n = len(result.snapshots)
        for i, (step, geom) in enumerate(result.snapshots):
            img = render_geometry(geom, size=192, azimuth=30.0 + 90.0 * i / max(n - 1, 1), frame=frame)
            loss = result.history[step] if step < len(result.history) else float("nan")
            frames.append(caption(img, f"step {step + 1}  loss {loss:.4g}", size=12))
        pictures["progress"] = torch.stack(frames)
    return pictures
