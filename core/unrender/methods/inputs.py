"""Checking method inputs by kind, and reading them from files for the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._validate import check_finite
from ..structures import Meshes, PointClouds, Voxels
from .base import Input

__all__ = ["input_kind", "coerce_input", "load_input", "INPUT_SUFFIXES"]

INPUT_SUFFIXES = {
    "mesh": (".obj", ".ply"),
    "points": (".ply", ".obj", ".npy", ".npz"),
    "voxels": (".npz", ".npy"),
    "image": (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"),
    "cameras": (".json",),
    "keypoints": (".json", ".npy"),
}


def input_kind(value) -> str | None:
    """The kind of a value: ``"mesh"``, ``"points"``, ``"voxels"``, ``"image"``, ``"cameras"`` or None."""
    from ..cameras.cameras import CamerasBase

    if isinstance(value, Meshes):
        return "mesh"
    if isinstance(value, PointClouds):
        return "points"
    if isinstance(value, Voxels):
        return "voxels"
    if isinstance(value, CamerasBase):
        return "cameras"
    if isinstance(value, torch.Tensor):
        if value.dim() == 2 and value.shape[-1] == 3:
            return "points"
        if value.dim() in (2, 3):
            return "image"
    return None


def _one(name: str, n: int, what: str) -> None:
    if n != 1:
        raise ValueError(f"{name}: expected one {what}, found a batch of {n}")


def coerce_input(spec: Input, value, device) -> Any:
    """Check ``value`` against ``spec`` and return it on ``device``.

    * a ``Meshes`` without faces is taken as its vertices (a point cloud) when
      ``spec`` accepts points, and is an error otherwise;
    * a ``(P, 3)`` tensor is a point cloud;
    * images are ``(H, W)`` or ``(H, W, C)`` with ``C`` in 1, 3, 4, values in [0, 1].

    Raises ``ValueError`` naming the input, what was expected and what was found.
    """
    name, kinds = spec.name, spec.kinds
    want = " or ".join(kinds)
    kind = input_kind(value)
    if kind is None or (kind not in kinds and not (kind == "mesh" and "points" in kinds)):
        found = type(value).__name__ if kind is None else f"a {kind}"
        raise ValueError(f"{name}: expected a {want}, found {found}")
    if kind == "mesh":
        _one(name, len(value), "mesh")
        verts, faces = value.verts_list()[0], value.faces_list()[0]
        check_finite(f"{name} vertices", verts)
        if verts.shape[0] == 0:
            raise ValueError(f"{name}: expected a {want} with vertices, found an empty mesh")
        if faces.shape[0] == 0 or "mesh" not in kinds:
            if "points" not in kinds:
                raise ValueError(f"{name}: expected a mesh with faces, found {verts.shape[0]} vertices and no faces")
            return PointClouds([verts]).to(device)
        return value.to(device)
    if kind == "points":
        if isinstance(value, torch.Tensor):
            check_finite(f"{name} points", value)
            value = PointClouds([value.float()])
        _one(name, len(value), "point cloud")
        pts = value.points_list()[0]
        check_finite(f"{name} points", pts)
        if pts.shape[0] == 0:
            raise ValueError(f"{name}: expected a point cloud with points, found none")
        return value.to(device)
    if kind == "voxels":
        _one(name, len(value), "voxel grid")
        grid = value.grids_list()[0]
        check_finite(f"{name} grid", grid)
        if grid.numel() == 0:
            raise ValueError(f"{name}: expected a non-empty voxel grid, found shape {tuple(grid.shape)}")
        if bool(((grid < 0) | (grid > 1)).any()):
            raise ValueError(f"{name}: expected occupancy values in [0, 1], found values outside")
        return value.to(device)
    if kind == "image":
        img = value if value.dim() == 3 else value[..., None]
        if img.shape[-1] not in (1, 3, 4) or img.shape[0] < 1 or img.shape[1] < 1:
            raise ValueError(f"{name}: expected an (H, W, 1|3|4) image, found shape {tuple(value.shape)}")
        img = img.float()
        check_finite(name, img)
        if bool(((img < 0) | (img > 1)).any()):
            raise ValueError(f"{name}: expected values in [0, 1], found values outside")
        return img.to(device)
    return value.to(device) if hasattr(value, "to") else value


def _load_array(path: Path, name: str) -> dict[str, np.ndarray]:
    try:
        if path.suffix.lower() == ".npy":
            return {"array": np.load(path, allow_pickle=False)}
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"{name}: {path} is not a readable NumPy file: {exc}") from None


def _voxels_from_arrays(arrays: dict[str, np.ndarray], path: Path, name: str) -> Voxels:
    grid = arrays.get("grid", arrays.get("array", arrays.get("occupancy")))
    if grid is None or grid.ndim != 3:
        found = {k: v.shape for k, v in arrays.items()}
        raise ValueError(f"{name}: {path} should hold a (D, H, W) array named 'grid', found {found}")
    grid_t = torch.as_tensor(np.asarray(grid, dtype=np.float32))
    bounds = arrays.get("bounds")
    if bounds is not None:
        bounds = torch.as_tensor(np.asarray(bounds, dtype=np.float32))
        if bounds.shape != (2, 3):
            raise ValueError(f"{name}: 'bounds' in {path} should have shape (2, 3), found {tuple(bounds.shape)}")
        bounds = bounds[None]
    return Voxels([grid_t], bounds)


def load_input(spec: Input, path) -> Any:
    """Read the file for input ``spec``; errors name the input and the file (see :func:`_load_input`)."""
    try:
        return _load_input(spec, path)
    except (ValueError, FileNotFoundError) as exc:
        msg = str(exc)
        if msg.startswith(f"{spec.name}:"):
            raise
        where = "" if str(path) in msg else f"{path}: "
        raise type(exc)(f"{spec.name}: {where}{msg}") from None


def _load_input(spec: Input, path) -> Any:
    """Read the file for input ``spec`` by its suffix, preferring the kinds in ``spec.kinds`` order.

    ``.obj``/``.ply`` -> mesh (or point cloud when the file has no faces and
    ``spec`` accepts points); ``.npz``/``.npy`` -> voxels (``grid`` (D, H, W)
    and optional ``bounds`` (2, 3)) or points ``(P, 3)``; images -> ``(H, W, C)``
    float; ``.json`` cameras: ``{"R": 3x3, "T": 3, "fov": degrees}``.
    """
    from ..io import load_image, load_mesh, load_ply

    p = Path(path)
    name = spec.name
    if not p.exists():
        raise FileNotFoundError(f"{name}: no such file: {p}")
    if p.is_dir():
        raise ValueError(f"{name}: expected a file, found a folder: {p}")
    suffix = p.suffix.lower()
    allowed = sorted({s for k in spec.kinds for s in INPUT_SUFFIXES[k]})
    if suffix not in allowed:
        raise ValueError(f"{name}: expected a {' or '.join(spec.kinds)} file ({', '.join(allowed)}), found {p.name!r}")
    if suffix in (".obj", ".ply"):
        if suffix == ".ply" and "mesh" not in spec.kinds:
            d = load_ply(p)
            return PointClouds([d.verts], normals=None if d.normals is None else [d.normals])
        return load_mesh(p)  # coerce_input turns a face-less mesh into points where allowed
    if suffix in (".npz", ".npy"):
        arrays = _load_array(p, name)
        first = next(iter(arrays.values()), None)
        if "voxels" in spec.kinds and (("grid" in arrays) or (first is not None and first.ndim == 3)):
            return _voxels_from_arrays(arrays, p, name)
        pts = arrays.get("points", first)
        if "points" in spec.kinds and pts is not None and pts.ndim == 2 and pts.shape[1] == 3:
            return PointClouds([torch.as_tensor(np.asarray(pts, dtype=np.float32))])
        if "keypoints" in spec.kinds and pts is not None and pts.ndim == 2 and pts.shape[1] in (2, 3):
            return torch.as_tensor(np.asarray(pts, dtype=np.float32))
        found = {k: v.shape for k, v in arrays.items()}
        raise ValueError(f"{name}: expected a {' or '.join(spec.kinds)} array in {p}, found arrays {found}")
    if suffix == ".json":
        return _load_cameras_json(p, name)
    return load_image(p)


def _load_cameras_json(path: Path, name: str):
    import json

    from ..cameras import FoVPerspectiveCameras

    try:
        d = json.loads(path.read_text())
        R = torch.tensor(d["R"], dtype=torch.float32).reshape(1, 3, 3)
        T = torch.tensor(d["T"], dtype=torch.float32).reshape(1, 3)
        fov = float(d.get("fov", 60.0))
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise ValueError(f"{name}: {path} should be JSON with 'R' (3x3), 'T' (3) and 'fov' (degrees): {exc}") from None
    return FoVPerspectiveCameras(R=R, T=T, fov=fov)
