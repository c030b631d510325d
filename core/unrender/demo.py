"""``unrender demo``: a tour of the toolkit that writes files and pictures into a folder."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from tqdm import tqdm

from .geometry.marching_cubes import marching_cubes_implicit
from .geometry.primitives import icosphere, torus, torus_sdf
from .geometry.sampling import sample_surface
from .io import save_image, save_obj, save_ply
from .preview import preview_mesh, preview_points

__all__ = ["run_demo"]


def _icosphere(out: Path, seed: int) -> dict:
    mesh = icosphere(3)
    v, f = mesh.verts_packed(), mesh.faces_packed()
    save_obj(out / "icosphere.obj", v, f)
    save_image(out / "icosphere.png", preview_mesh(v, f))
    return {"file": "icosphere.obj", "picture": "icosphere.png", "verts": int(v.shape[0]), "faces": int(f.shape[0])}


def _torus_marching_cubes(out: Path, seed: int) -> dict:
    R, r = 0.7, 0.25
    bounds = torch.tensor([[-1.0, -1.0, -0.5], [1.0, 1.0, 0.5]])
    mesh = marching_cubes_implicit(lambda p: torus_sdf(p, R, r), bounds, (32, 64, 64), isovalue=0.0, inside="negative")
    v, f = mesh.verts_packed(), mesh.faces_packed()
    save_obj(out / "torus_marching_cubes.obj", v, f)
    save_image(out / "torus_marching_cubes.png", preview_mesh(v, f, color=(0.3, 0.6, 0.85)))
    # Signed volume by the divergence theorem against the analytic 2 pi^2 R r^2.
    vol = float((v[f[:, 0]] * torch.cross(v[f[:, 1]], v[f[:, 2]], dim=1)).sum() / 6)
    return {
        "file": "torus_marching_cubes.obj",
        "picture": "torus_marching_cubes.png",
        "verts": int(v.shape[0]),
        "faces": int(f.shape[0]),
        "volume": round(vol, 5),
        "analytic_volume": round(2 * torch.pi**2 * R * r * r, 5),
    }


def _point_cloud(out: Path, seed: int) -> dict:
    mesh = torus(0.7, 0.25, rings=96, sides=48)
    g = torch.Generator().manual_seed(seed)
    s = sample_surface(mesh, 20_000, generator=g)
    pts, nrm = s.points[0], s.normals[0]
    colors = (nrm * 0.5 + 0.5).clamp(0, 1)
    save_ply(out / "torus_points.ply", pts, normals=nrm, colors=colors)
    save_image(out / "torus_points.png", preview_points(pts, colors=colors, normals=nrm, radius=1.4))
    return {"file": "torus_points.ply", "picture": "torus_points.png", "points": int(pts.shape[0])}


STEPS = [
    ("icosphere", _icosphere),
    ("marching-cubes torus", _torus_marching_cubes),
    ("point cloud sampled from a torus", _point_cloud),
]


def run_demo(output: str | Path = "unrender_demo", seed: int = 0, progress: bool = True) -> dict:
    """Write every demo item into ``output``; returns the summary also saved as ``summary.json``."""
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    summary: dict = {"seed": seed, "items": {}}
    bar = tqdm(STEPS, desc="unrender demo", unit="step", disable=not progress)
    for name, fn in bar:
        bar.set_postfix_str(name)
        t0 = time.perf_counter()
        item = fn(out, seed)
        item["seconds"] = round(time.perf_counter() - t0, 3)
        summary["items"][name] = item
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
