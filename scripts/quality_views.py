"""Quality bars of the multi-view strategies (issue 12, section 6) on the example scene.

One row per strategy: ``ROWS`` maps a name to a function ``(views, true_mesh, args) -> dict`` of
figures; add a strategy by adding a function and a ``ROWS`` entry. The table is printed as
Markdown and written as JSON next to the pictures (``--output``).

    PYTHONPATH=core python scripts/quality_views.py [--only hull volume] [--output DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from unrender.geometry import mesh_to_voxels
from unrender.geometry.shapes import superquadric
from unrender.io import save_image
from unrender.methods import run_method
from unrender.metrics import mesh_f1, voxel_iou
from unrender.render import TexturesVertex, example_views, render_views, sphere_cameras, turntable
from unrender.volumetric import carve_visual_hull, visual_hull_mesh

BOX = [[-1.0] * 3, [1.0] * 3]


def _f1(mesh, true_mesh) -> dict:
    f = mesh_f1(mesh, true_mesh, thresholds=(0.01, 0.02, 0.05), num_samples=50_000)
    return {k: round(float(v), 3) for k, v in f.items() if k.startswith("f1")}


def hull_row(views, true_mesh, args) -> dict:
    """Bar: IoU >= 0.9 of the hull from 20 silhouettes of a convex-ish object; also the example scene's hull."""
    t = time.perf_counter()
    convex = superquadric((0.8, 0.6, 0.5), power=3.0, level=5)
    convex.textures = TexturesVertex([torch.full_like(convex.verts_list()[0], 0.7)])
    sil = render_views(convex, sphere_cameras(20, seed=1), 128)
    carved = carve_visual_hull(sil.masks, sil.cameras, 64, BOX).grids_list()[0]
    iou = float(voxel_iou(carved, mesh_to_voxels(convex, 64, BOX).grids_list()[0]))
    mesh, _ = visual_hull_mesh(views.select("train"), 96)
    _picture(args, "hull", mesh)
    return {"bar": "IoU >= 0.9 (20 silhouettes, convex-ish)", "iou_convex": round(iou, 4), **_f1(mesh, true_mesh),
            "seconds": round(time.perf_counter() - t, 1)}


def volume_row(views, true_mesh, args) -> dict:
    """Bars: held-out PSNR >= 24 dB; mesh F1@0.05 >= 0.9."""
    params = {"resolution": args.volume_resolution, "stages": 2, "steps": args.volume_steps, "rays": 2048,
              "samples": args.volume_samples, "seed": 0}
    r = run_method("fit-volume", {"views": views}, params)
    _picture(args, "volume", r.outputs["mesh"])
    if args.output:
        save_image(Path(args.output) / "volume_renders.png", r.outputs["renders"])
    return {"bar": "PSNR >= 24, F1@0.05 >= 0.9", "psnr": round(r.metrics["psnr"], 2), **_f1(r.outputs["mesh"], true_mesh),
            "seconds": round(r.seconds, 1), "params": params}


def surface_row(views, true_mesh, args) -> dict:
    """Bars: mesh F1@0.01 >= 0.8 and F1@0.02 >= 0.95 (NeuS, train_surface's defaults, ``--surface-seconds``)."""
    from unrender.surfaces import train_surface

    model, history = train_surface(views.select("train"), seconds=args.surface_seconds, steps=1_000_000)
    mesh = model.mesh(args.surface_resolution)
    _picture(args, "surface", mesh)
    return {"bar": "F1@0.01 >= 0.8, F1@0.02 >= 0.95", **_f1(mesh, true_mesh), "seconds": round(history["seconds"][-1], 1),
            "params": {"seconds": args.surface_seconds, "resolution": args.surface_resolution, "steps": history["step"][-1]}}


def _nerf_figures(name, field, views, true_mesh, args, **options) -> dict:
    """Train a NeRF on the training views for ``args.nerf_seconds``; held-out PSNR, time to 25 dB, mesh F1."""
    from unrender.nerf import nerf_mesh, train_nerf

    torch.manual_seed(0)
    train, test = views.select("train"), views.select("test")
    nerf, history = train_nerf(train, field, seconds=args.nerf_seconds, held_out=test, eval_every=max(args.nerf_seconds / 20, 10.0),
                               **options)
    scored = [r for r in history if r["psnr"] is not None]
    to_25 = next((r["seconds"] for r in scored if r["psnr"] >= 25.0), None)
    mesh = nerf_mesh(nerf, 128)
    _picture(args, name, mesh)
    if args.output:
        renders = nerf.render(test.cameras, test.image_size)["rgb"].clamp(0, 1)
        m = test.masks[..., None] if test.masks is not None else 1.0
        truth = test.images * m + nerf.background * (1 - m)  # over the background the NeRF renders on
        save_image(Path(args.output) / f"{name}_renders.png", torch.cat([torch.cat(list(renders), 1),
                                                                        torch.cat(list(truth), 1)], 0))
    return {"psnr": round(scored[-1]["psnr"], 2), "seconds_to_25db": None if to_25 is None else round(to_25, 1),
            "steps": history[-1]["step"], "seconds": round(history[-1]["seconds"], 1),
            **(_f1(mesh, true_mesh) if mesh.faces_packed().shape[0] else {"f1@0.05": 0.0}),
            "params": {"field": field, **{k: v for k, v in options.items()}},
            "curve": [(round(r["seconds"], 1), round(r["psnr"], 2)) for r in scored]}


def nerf_row(views, true_mesh, args) -> dict:
    """Bars: the fast (grid) NeRF reaches held-out PSNR >= 28 dB in 10 minutes; mesh F1@0.05 >= 0.9."""
    return {"bar": "PSNR >= 28 in 600 s, F1@0.05 >= 0.9",
            **_nerf_figures("nerf", "grid", views, true_mesh, args, config={"view_dependent": False})}


def mlp_nerf_row(views, true_mesh, args) -> dict:
    """The plain-MLP NeRF on the same budget (reported, no bar)."""
    return {"bar": "report (same budget as nerf)",
            **_nerf_figures("mlp_nerf", "mlp", views, true_mesh, args, config={"view_dependent": False})}


ROWS = {"hull": hull_row, "volume": volume_row, "nerf": nerf_row, "mlp_nerf": mlp_nerf_row, "surface": surface_row}


def _picture(args, name, mesh) -> None:
    if args.output:
        frames = turntable(mesh, n_frames=4, image_size=192, textures=mesh.textures)
        save_image(Path(args.output) / f"{name}_mesh.png", torch.cat(list(frames[..., :3]), 1).clamp(0, 1))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", choices=sorted(ROWS), help="strategies to run (default: all)")
    ap.add_argument("--output", default=None, help="folder for the JSON table and pictures")
    ap.add_argument("--volume-steps", type=int, default=1200)
    ap.add_argument("--volume-resolution", type=int, default=96)
    ap.add_argument("--volume-samples", type=int, default=160)
    ap.add_argument("--surface-seconds", type=float, default=600.0, help="NeuS training budget (the NeRF bar's 10 min; "
                    "1 thread, 600 s: F1@0.01 0.853, F1@0.02 0.996)")
    ap.add_argument("--surface-resolution", type=int, default=256, help="marching cubes samples an axis over [-1, 1]")
    ap.add_argument("--nerf-seconds", type=float, default=600.0, help="training budget of the nerf and mlp_nerf rows")
    args = ap.parse_args(argv)
    if args.output:
        Path(args.output).mkdir(parents=True, exist_ok=True)
    views, true_mesh = example_views()  # 40 + 8 views at 128x128
    table = {}
    for name in args.only or ROWS:
        table[name] = ROWS[name](views, true_mesh, args)
        print(name, json.dumps(table[name]), flush=True)
    keys = sorted({k for row in table.values() for k in row if k not in ("params", "bar", "curve")})
    print("\n| strategy | bar | " + " | ".join(keys) + " |\n|" + " --- |" * (len(keys) + 2))
    for name, row in table.items():
        print(f"| {name} | {row['bar']} | " + " | ".join(str(row.get(k, "")) for k in keys) + " |")
    if args.output:
        (Path(args.output) / "quality_views.json").write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
