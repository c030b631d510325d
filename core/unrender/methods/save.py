"""Writing a method's result folder: geometry files, JSON summary, loss curve, pictures."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..structures import Meshes, PointClouds, Voxels
from .base import Result
from .registry import get_method

__all__ = ["save_result", "save_output", "describe_input"]


def _jsonable(x):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        return x.item() if x.numel() == 1 and x.dim() == 0 else x.tolist()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def _camera_record(cameras) -> dict:
    """R, T (PyTorch3D convention), intrinsics and the equivalent Blender camera."""
    from ..cameras import blender_from_cameras

    cam = cameras[0] if len(cameras) > 1 else cameras
    rec: dict[str, Any] = {
        "convention": "PyTorch3D world-to-view, row vectors: X_view = X_world @ R + T",
        "class": type(cam).__name__,
        "R": cam.R[0],
        "T": cam.T[0],
        "center": cam.get_camera_center()[0],
    }
    for attr in ("fov", "znear", "zfar", "aspect_ratio", "focal_length", "principal_point"):
        v = getattr(cam, attr, None)
        if isinstance(v, torch.Tensor):
            rec[attr] = v[0] if v.dim() else v
    try:
        size = getattr(cam, "image_size", None)
        bl = blender_from_cameras(cam.cpu() if hasattr(cam, "cpu") else cam, None if size is not None else (512, 512))
        rec["blender"] = {
            "matrix_world": [list(map(float, row)) for row in np.asarray(bl.matrix_world, dtype=np.float64)],
            "type": bl.type,
            "lens": bl.lens,
            "sensor_width": bl.sensor_width,
            "sensor_fit": bl.sensor_fit,
            "clip_start": bl.clip_start,
            "clip_end": bl.clip_end,
        }
    except (ValueError, TypeError, AttributeError) as exc:  # cameras Blender cannot express
        rec["blender"] = f"not convertible: {exc}"
    return _jsonable(rec)


def save_output(path_stem: Path, kind: str, obj) -> list[Path]:
    """Write one output; returns the files written (suffix chosen by kind)."""
    from ..io import save_image, save_obj, save_point_cloud

    if kind == "mesh":
        if not isinstance(obj, Meshes):
            raise TypeError(f"output {path_stem.name}: expected Meshes, found {type(obj).__name__}")
        p = path_stem.with_suffix(".obj")
        save_obj(p, obj.verts_list()[0].detach().cpu(), obj.faces_list()[0].cpu())
        return [p]
    if kind == "points":
        if not isinstance(obj, PointClouds):
            raise TypeError(f"output {path_stem.name}: expected PointClouds, found {type(obj).__name__}")
        p = path_stem.with_suffix(".ply")
        save_point_cloud(p, obj.detach().cpu())
        return [p]
    if kind == "voxels":
        if not isinstance(obj, Voxels):
            raise TypeError(f"output {path_stem.name}: expected Voxels, found {type(obj).__name__}")
        v = obj.detach().cpu()
        p = path_stem.with_suffix(".npz")
        np.savez_compressed(p, grid=v.grids_list()[0].numpy(), bounds=v.bounds()[0].numpy())
        return [p]
    if kind == "image":
        p = path_stem.with_suffix(".png")
        save_image(p, obj.detach().cpu())
        return [p]
    if kind == "cameras":
        p = path_stem.with_suffix(".json")
        p.write_text(json.dumps(_camera_record(obj), indent=2))
        return [p]
    raise ValueError(f"output {path_stem.name}: unknown kind {kind!r}")


def describe_input(value) -> dict:
    """A short JSON description of an input (kind and sizes)."""
    if isinstance(value, Meshes):
        return {"kind": "mesh", "verts": int(value.verts_packed().shape[0]), "faces": int(value.faces_packed().shape[0])}
    if isinstance(value, PointClouds):
        return {"kind": "points", "points": int(value.points_packed().shape[0])}
    if isinstance(value, Voxels):
        return {"kind": "voxels", "resolution": list(value.grids_list()[0].shape)}
    if isinstance(value, torch.Tensor):
        return {"kind": "image" if value.dim() == 3 else "tensor", "shape": list(value.shape)}
    return {"kind": type(value).__name__}


def save_result(method, inputs: dict[str, Any], result: Result, output, *, pictures: bool = True, extra: dict | None = None) -> dict:
    """Write ``result`` of ``method`` into the folder ``output``.

    Files: one per output (``<name>.obj`` mesh, ``.ply`` points, ``.npz`` voxels
    (``grid`` (D, H, W) and ``bounds`` (2, 3)), ``.png`` image, ``.json`` cameras), ``loss.png``
    (the loss curve), the method's pictures (``before_after.png``,
    ``progress.gif``, ...) and ``summary.json`` (method, parameters, metrics,
    timings, files). Returns the summary.
    """
    from ..io import save_gif, save_image
    from ..plots import plot_curves

    m = get_method(method)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, list[str]] = {}
    t0 = time.perf_counter()
    kinds = {o.name: o.kind for o in m.outputs}
    for name, obj in result.outputs.items():
        kind = kinds.get(name)
        if kind is None:
            continue
        files[name] = [p.name for p in save_output(out / name, kind, obj)]
    if result.history:
        # stage boundaries (e.g. deform-mesh's subdivisions) as dashed lines
        stages = result.extra.get("stages", []) if isinstance(result.extra, dict) else []
        marks = [st["step"] for st in stages if isinstance(st, dict) and st.get("step", 0) > 0]
        plot_curves(result.history, out / "loss.png", title=f"{m.id}: loss per step", marks=marks)
        files["loss_curve"] = ["loss.png"]
    picture_seconds = 0.0
    if pictures:
        t1 = time.perf_counter()
        for name, pic in m.pictures(inputs, result).items():
            if pic.dim() == 4:
                save_gif(out / f"{name}.gif", pic[..., :3], fps=8)
                files[name] = [f"{name}.gif"]
            else:
                save_image(out / f"{name}.png", pic)
                files[name] = [f"{name}.png"]
        picture_seconds = time.perf_counter() - t1
    summary = {
        "method": m.id,
        "label": m.label,
        "params": result.params,
        "inputs": {k: describe_input(v) for k, v in inputs.items()},
        "metrics": result.metrics,
        "steps": result.steps,
        "final_loss": result.history[-1] if result.history else None,
        "cancelled": result.cancelled,
        "seconds": {"run": round(result.seconds, 4), "pictures": round(picture_seconds, 4),
                    "writing": round(time.perf_counter() - t0 - picture_seconds, 4)},
        "files": files,
        "extra": result.extra,
        **(extra or {}),
    }
    (out / "summary.json").write_text(json.dumps(_jsonable(summary), indent=2))
    return summary
