#!/usr/bin/env python
"""The neural-surface bar of issue 12 §6: NeuS (``unrender.surfaces.train_surface``) on a multi-view scene,
mesh F1 against the true surface over training time.

The scene: a tilted torus (radii 0.55 and 0.25: inside the unit sphere, the scale of the F1 thresholds) with
smooth vertex colours, rasterised by unrender from ``--views`` cameras around it (azimuth ring, elevation
swinging +-35 degrees) at ``--size`` px, with masks. Prints F1@0.01 / 0.02 / 0.05 of the marching-cubes mesh
(``--resolution``) at the ``--checks`` seconds of training (mesh extraction not counted) and at the end.

    python scripts/quality_surface.py                                  # 40 views, 128 px, 600 s, harmonic
    python scripts/quality_surface.py --encoding hash --seconds 300
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from unrender.cameras import FoVPerspectiveCameras, look_at_view_transform
from unrender.geometry.primitives import torus
from unrender.io import PosedViews
from unrender.metrics import mesh_f1
from unrender.render import MeshRasterizer, RasterizationSettings, interpolate_face_attributes
from unrender.structures import Meshes
from unrender.surfaces import NeuSModel, SDFField, train_surface


def torus_scene(n_views: int, size: int, rings: int = 48, sides: int = 24):
    """``(true mesh, PosedViews with masks)`` of the tilted, coloured torus seen by ``n_views`` cameras."""
    t = torus(0.55, 0.25, rings=rings, sides=sides)
    c, s = math.cos(0.6), math.sin(0.6)
    v = t.verts_packed() @ torch.tensor([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    mesh = Meshes([v], [t.faces_packed()])
    colors = 0.5 + 0.45 * torch.stack([torch.sin(3 * v[:, 0]), torch.cos(3 * v[:, 1]), torch.sin(2 * v[:, 2] + 1)], -1)
    k = torch.arange(n_views, dtype=torch.float32)
    R, T = look_at_view_transform(3.0, 35.0 * torch.sin(2 * math.pi * 3 * k / n_views), 360.0 * k / n_views)
    cams = FoVPerspectiveCameras(R=R, T=T, fov=40.0)
    frags = MeshRasterizer(cams, RasterizationSettings(image_size=size, faces_per_pixel=1))(mesh.extend(n_views))
    image = interpolate_face_attributes(frags.pix_to_face, frags.bary_coords, colors[mesh.faces_packed()].repeat(n_views, 1, 1))
    mask = (frags.pix_to_face[..., 0] >= 0).float()
    return mesh, PosedViews((image[..., 0, :] * mask[..., None]).clamp(0, 1), cams, mask)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--views", type=int, default=40)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--steps", type=int, default=400, help="the cosine learning-rate schedule's length")
    ap.add_argument("--checks", default="120,300", help="seconds of training at which to measure F1")
    ap.add_argument("--encoding", default="harmonic", choices=["harmonic", "hash", "none"])
    ap.add_argument("--batch-rays", type=int, default=512)
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--resolution", type=int, default=128)
    args = ap.parse_args()
    torch.manual_seed(0)
    truth, views = torus_scene(args.views, args.size)
    model = NeuSModel(SDFField(encoding=None if args.encoding == "none" else args.encoding, hidden=64, layers=3))
    checks = sorted(float(x) for x in args.checks.split(",") if x)
    clock = {"start": time.perf_counter(), "excluded": 0.0}

    def f1_row(label) -> None:
        t = time.perf_counter()
        model.eval()
        f = mesh_f1(model.mesh(args.resolution), truth, num_samples=30000)
        model.train()
        clock["excluded"] += time.perf_counter() - t
        print(label, " ".join(f"F1@{k[3:]}={float(v):.3f}" for k, v in f.items() if k.startswith("f1")), flush=True)

    def progress(step, total, loss) -> bool:
        elapsed = time.perf_counter() - clock["start"] - clock["excluded"]
        if checks and elapsed >= checks[0]:
            checks.pop(0)
            f1_row(f"{elapsed:7.0f} s  step {step:5d}  loss {loss:.4f}")
        return True

    model, history = train_surface(views, model=model, seconds=args.seconds, steps=args.steps, progress=progress,
                                   batch_rays=args.batch_rays, n_samples=24, n_importance=24, lr=args.lr)
    psnr = sum(history["psnr"][-20:]) / len(history["psnr"][-20:])
    f1_row(f"{history['seconds'][-1]:7.0f} s  step {history['step'][-1]:5d}  final (batch PSNR {psnr:.1f} dB, s {history['inv_s'][-1]:.0f})")


if __name__ == "__main__":
    main()
