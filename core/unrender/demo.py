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
from .render import render_still, save_turntable, turntable
from .structures import PointClouds

__all__ = ["run_demo"]


# the demo's stills: 512 x 512, from 30 degrees azimuth and elevation
_STILL = {"size": 512, "azimuth": 30.0, "elevation": 30.0}


def _icosphere(out: Path, seed: int) -> dict:
    mesh = icosphere(3)
    v, f = mesh.verts_packed(), mesh.faces_packed()
    save_obj(out / "icosphere.obj", v, f)
    save_image(out / "icosphere.png", render_still(mesh, **_STILL, color=(0.85, 0.55, 0.3), shader="flat"))
    return {"file": "icosphere.obj", "picture": "icosphere.png", "verts": int(v.shape[0]), "faces": int(f.shape[0])}


def _torus_marching_cubes(out: Path, seed: int) -> dict:
    R, r = 0.7, 0.25
    bounds = torch.tensor([[-1.0, -1.0, -0.5], [1.0, 1.0, 0.5]])
    mesh = marching_cubes_implicit(lambda p: torus_sdf(p, R, r), bounds, (32, 64, 64), isovalue=0.0, inside="negative")
    v, f = mesh.verts_packed(), mesh.faces_packed()
    save_obj(out / "torus_marching_cubes.obj", v, f)
    save_image(out / "torus_marching_cubes.png", render_still(mesh, **_STILL, color=(0.3, 0.6, 0.85)))
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
    # Area-uniform samples of a torus, written as PLY and splatted with the point
    # renderer (points facing away from the camera are culled with their normals).
    mesh = torus(0.7, 0.25, rings=96, sides=48)
    s = sample_surface(mesh, 20_000, generator=torch.Generator().manual_seed(seed))
    pts, nrm = s.points[0], s.normals[0]
    colors = (nrm * 0.5 + 0.5).clamp(0, 1)
    save_ply(out / "torus_points.ply", pts, normals=nrm, colors=colors)
    cloud = PointClouds([pts], normals=[nrm], features=[colors])
    save_image(out / "torus_points.png", render_still(cloud, **_STILL, color=None))
    frames = turntable(cloud, n_frames=24, image_size=192, elevation=30.0, up="z")
    save_turntable(out / "torus_points_turntable.gif", frames, fps=12)
    return {
        "file": "torus_points.ply",
        "picture": "torus_points.png",
        "gif": "torus_points_turntable.gif",
        "points": int(pts.shape[0]),
        "frames": int(frames.shape[0]),
    }


def _shaded_turntable(out: Path, seed: int) -> dict:
    # Phong-shaded torus coloured by its normals, spun about +Z (Blender's up).
    mesh = torus(0.7, 0.25, rings=96, sides=48)
    colors = (mesh.verts_normals_packed() * 0.5 + 0.5).clamp(0, 1)
    frames = turntable(mesh, n_frames=36, image_size=256, elevation=30.0, up="z", colors=colors, alpha=True)
    saved = save_turntable(out / "torus_turntable.gif", frames, png_dir=out / "torus_turntable", fps=12)
    save_image(out / "torus_shaded.png", render_still(mesh, **_STILL, color=colors))
    return {
        "file": "torus_turntable.gif",
        "picture": "torus_shaded.png",
        "frames_dir": "torus_turntable",
        "first_frame": saved["frames"][0].name,
        "frames": int(frames.shape[0]),
        "frame_size": list(frames.shape[1:3]),
        "faces": int(mesh.faces_packed().shape[0]),
    }


def _deform_mesh(out: Path, seed: int) -> dict:
    # The deform-mesh method, remeshing as it goes, from an icosphere onto a bumpy
    # ellipsoid; its result folder holds the fit, the loss curve and a GIF.
    from .methods import get_method, run_method, save_result
    from .metrics import mesh_f1

    method = get_method("deform-mesh")
    inputs = method.example_inputs(seed)
    result = run_method(method, inputs, {"level": 4, "seed": seed})
    folder = out / "deform_mesh"
    summary = save_result(method, inputs, result, folder)
    f1 = mesh_f1(result.outputs["mesh"], inputs["target"], thresholds=(0.02, 0.05), num_samples=50_000, seed=seed)
    return {
        "file": "deform_mesh/mesh.obj",
        "picture": "deform_mesh/before_after.png",
        "gif": "deform_mesh/progress.gif",
        "loss_curve": "deform_mesh/loss.png",
        "steps": summary["steps"],
        "fit_seconds": round(result.seconds, 2),
        "f1@0.02": round(float(f1["f1@0.02"]), 4),
        "f1@0.05": round(float(f1["f1@0.05"]), 4),
    }


def _body_keypoints(out: Path, seed: int) -> dict:
    # fit-smpl-keypoints on the shipped default body: keypoints of a random posed body with 2 px of
    # noise, fitted back; the picture shows the given and the fitted keypoints over the fitted body.
    from .methods import get_method, run_method, save_result

    method = get_method("fit-smpl-keypoints")
    inputs = method.example_inputs(seed)
    result = run_method(method, inputs, {"seed": seed, "focal": 1000.0, "image_width": 1000, "image_height": 1000})
    save_result(method, inputs, result, out / "body_keypoints")
    return {
        "file": "body_keypoints/mesh.obj",
        "picture": "body_keypoints/overlay.png",
        "parameters": "body_keypoints/body.json",
        "fit_seconds": round(result.seconds, 2),
        "reprojection_px": round(result.metrics["reprojection_px"], 2),
    }


def _views_reconstruction(out: Path, seed: int) -> dict:
    # reconstruct-views on the multi-view example (20 views of a coloured torus around a ball, 4 more held out):
    # the default strategy, a grid NeRF, for a fixed 600 steps (reproducible; about 15 s on a laptop); its result
    # folder holds the coloured mesh, the held-out renders over the truth, depth maps and a turntable.
    from .methods import get_method, run_method, save_result
    from .render import example_views

    method = get_method("reconstruct-views")
    views, _ = example_views(20, 4, 64, seed=seed, detail=1)
    inputs = {"views": views}
    result = run_method(method, inputs, {"strategy": "nerf", "steps": 600, "seconds": 3600.0, "resolution": 64,
                                         "seed": seed})
    save_result(method, inputs, result, out / "views_reconstruction")
    return {
        "file": "views_reconstruction/mesh.obj",
        "picture": "views_reconstruction/renders.png",
        "gif": "views_reconstruction/turntable.gif",
        "strategy": "nerf",
        "psnr": round(result.metrics["psnr"], 2),
        "ssim": round(result.metrics["ssim"], 4),
        "mask_iou": round(result.metrics["mask_iou"], 4),
    }


def _image_reconstruction(out: Path, seed: int) -> dict:
    # reconstruct-image with the shipped mesh model on its example: a procedural chair (never seen in training:
    # another seed stream) rendered as the training data are; the result folder holds the mesh coloured from the
    # picture, the input / framed input / prediction picture and a turntable.
    from .methods import get_method, run_method, save_result

    method = get_method("reconstruct-image")
    inputs = method.example_inputs(seed)
    result = run_method(method, inputs, {"model": "mesh", "seed": seed})
    save_result(method, inputs, result, out / "image_reconstruction")
    return {
        "file": "image_reconstruction/mesh.obj",
        "picture": "image_reconstruction/reconstruction.png",
        "gif": "image_reconstruction/turntable.gif",
        "model": "mesh (shipped)",
        "vertices": int(result.outputs["mesh"].num_verts_per_mesh()[0]),
    }


STEPS = [
    ("icosphere", _icosphere),
    ("marching-cubes torus", _torus_marching_cubes),
    ("point cloud sampled from a torus", _point_cloud),
    ("shaded turntable", _shaded_turntable),
    ("deform-mesh fit", _deform_mesh),
    ("body fitted to keypoints", _body_keypoints),
    ("multi-view reconstruction", _views_reconstruction),
    ("single-image reconstruction", _image_reconstruction),
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
