"""Quick still pictures of meshes and point clouds for reports and the demo.

A painter's-algorithm preview (Pillow polygons, depth sorted, Lambert
shading) seen through an orthographic camera that frames the object. It is
not differentiable and not the renderer used for fitting; it exists so every
command can leave a picture next to the files it writes.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw

__all__ = ["view_rotation", "preview_mesh", "preview_points"]


def view_rotation(elevation_deg: float = 20.0, azimuth_deg: float = 35.0) -> np.ndarray:
    """``(3, 3)`` world-to-view rotation for a camera orbiting the z-up world.

    View axes: x right, y up, z towards the viewer.
    """
    el, az = math.radians(elevation_deg), math.radians(azimuth_deg)
    eye = np.array([math.cos(el) * math.sin(az), -math.cos(el) * math.cos(az), math.sin(el)])
    z = eye / np.linalg.norm(eye)
    x = np.cross([0.0, 0.0, 1.0], z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z], 0)


def _frame(points: np.ndarray, R: np.ndarray, size: int, margin: float = 0.08):
    p = points @ R.T
    lo, hi = p[:, :2].min(0), p[:, :2].max(0)
    center = (lo + hi) / 2
    extent = max(float((hi - lo).max()), 1e-9)
    scale = size * (1 - 2 * margin) / extent
    xy = (p[:, :2] - center) * scale
    px = np.stack([xy[:, 0] + size / 2, size / 2 - xy[:, 1]], 1)
    return px, p[:, 2], scale


def preview_mesh(
    verts: torch.Tensor,
    faces: torch.Tensor,
    *,
    size: int = 512,
    color=(0.85, 0.55, 0.3),
    background=(1.0, 1.0, 1.0),
    elevation: float = 20.0,
    azimuth: float = 35.0,
) -> np.ndarray:
    """Shaded picture of a mesh.

    Args:
        verts: ``(V, 3)``; faces: ``(F, 3)`` int.
        color: base RGB in ``[0, 1]``, or ``(V, 3)`` per-vertex colours.
    Returns:
        ``(size, size, 3)`` uint8 image.
    """
    v = verts.detach().cpu().double().numpy()
    f = faces.detach().cpu().numpy().astype(np.int64)
    R = view_rotation(elevation, azimuth)
    px, depth, _ = _frame(v, R, size)
    img = Image.new("RGB", (size, size), tuple(int(255 * c) for c in background))
    if len(f):
        vv = v @ R.T
        n = np.cross(vv[f[:, 1]] - vv[f[:, 0]], vv[f[:, 2]] - vv[f[:, 0]])
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        light = np.array([0.3, 0.5, 0.81])
        light /= np.linalg.norm(light)
        # Two-sided Lambert so open or inside-out surfaces still read.
        shade = 0.25 + 0.75 * np.abs(n @ light)
        col = np.asarray(color, dtype=np.float64)
        base = col[f].mean(1) if col.ndim == 2 else np.broadcast_to(col, (len(f), 3))
        rgb = np.clip(base * shade[:, None] * 255, 0, 255).astype(np.uint8)
        order = np.argsort(depth[f].mean(1))  # far to near
        draw = ImageDraw.Draw(img)
        tri = px[f]
        for i in order:
            c = tuple(int(x) for x in rgb[i])
            draw.polygon([tuple(p) for p in tri[i]], fill=c, outline=c)
    return np.asarray(img)


def preview_points(
    points: torch.Tensor,
    *,
    colors: torch.Tensor | None = None,
    normals: torch.Tensor | None = None,
    size: int = 512,
    radius: float = 1.5,
    background=(1.0, 1.0, 1.0),
    elevation: float = 20.0,
    azimuth: float = 35.0,
) -> np.ndarray:
    """Picture of a point cloud: discs of ``radius`` pixels drawn far to near.

    Args:
        points: ``(P, 3)``; colors: optional ``(P, 3)`` in ``[0, 1]`` (default:
            shaded by depth).
        normals: optional ``(P, 3)``; points facing away from the viewer are
            left out so the far side does not speckle through the near one.
    Returns:
        ``(size, size, 3)`` uint8 image.
    """
    p = points.detach().cpu().double().numpy()
    R = view_rotation(elevation, azimuth)
    px, depth, _ = _frame(p, R, size)
    if colors is None:
        t = (depth - depth.min()) / max(float(np.ptp(depth)), 1e-9)
        rgb = np.stack([0.2 + 0.5 * t, 0.35 + 0.4 * t, 0.75 + 0.2 * t], 1)
    else:
        rgb = colors.detach().cpu().double().numpy()
    rgb = np.clip(rgb * 255, 0, 255).astype(np.uint8)
    order = np.argsort(depth)
    if normals is not None:
        facing = (normals.detach().cpu().double().numpy() @ R.T)[:, 2] > 0
        order = order[facing[order]]
    img = Image.new("RGB", (size, size), tuple(int(255 * c) for c in background))
    draw = ImageDraw.Draw(img)
    for i in order:
        x, y = px[i]
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=tuple(int(c) for c in rgb[i]))
    return np.asarray(img)
