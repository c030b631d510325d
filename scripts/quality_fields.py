#!/usr/bin/env python
"""The 2D and 3D neural-field jobs of issue 12 §3.

2D: every field variant fitted to the same procedural ``--size`` x ``--size``
picture (:func:`unrender.fields.procedural_image`: edges, gradients, a ring
chirp, a fine checkerboard, thin lines) with the same step budget and pixel
batch; prints a markdown table (final whole-image MSE, PSNR, training seconds,
parameters) and writes the predictions side by side, labelled, to ``--png``.
3D: an occupancy field (hash grid + MLP) fitted to points labelled inside /
outside a torus (outer radius 0.95: inside the unit sphere, the scale of the
F1 thresholds), surface by marching cubes, F1 against the true torus.

    python scripts/quality_fields.py                            # 512 px, 300 steps
    python scripts/quality_fields.py --size 256 --steps 500 --png /tmp/fields.png
"""

from __future__ import annotations

import argparse
import time

import torch

from unrender.fields import (
    DenseGridField,
    HarmonicEmbedding,
    HashGridField,
    HybridField,
    MLPField,
    SirenField,
    TriPlaneField,
    field_surface,
    fit_image,
    fit_occupancy,
    occupancy_samples,
    procedural_image,
)
from unrender.geometry import torus
from unrender.io import save_image
from unrender.metrics import mesh_f1
from unrender.plots import caption, hstack
from unrender.threads import auto_threads

# name -> (field builder for a 2-in, 3-out field at picture size s, Adam learning rate)
VARIANTS = {
    "MLP": (lambda s: MLPField(2, 3, hidden=128, layers=4), 1e-3),
    "MLP + harmonic": (lambda s: MLPField(2, 3, hidden=128, layers=4, encoding=HarmonicEmbedding(10, omega_0=torch.pi)), 1e-3),
    "SIREN": (lambda s: SirenField(2, 3, hidden=128, layers=4), 1e-4),
    "dense grid": (lambda s: DenseGridField(2, 3, resolution=s // 2), 0.1),
    "hybrid": (lambda s: HybridField(2, 3, resolution=s // 4, features=16), 1e-2),
    "ground plan": (lambda s: TriPlaneField(2, 3, resolution=s, features=32, combine="product", coarse_resolution=s // 4), 1e-2),
    "hash grid": (
        lambda s: HashGridField(2, 3, levels=16, table_size=2**17, features=2, base_resolution=16,
                                growth_factor=(s / 16) ** (1 / 15)),
        1e-2,
    ),
}


def job_2d(size: int, steps: int, batch: int, png: str | None, only: list[str] | None) -> None:
    image = procedural_image(size)
    rows, tiles = [], [caption(image, "target")]
    for name, (build, lr) in VARIANTS.items():
        if only and name not in only:
            continue
        torch.manual_seed(0)
        field = build(size)
        r = fit_image(field, image, steps=steps, batch_size=batch, lr=lr)
        params = sum(p.numel() for p in field.parameters())
        rows.append(f"| {name} | {r.loss:.4f} | {r.psnr:.2f} | {r.seconds:.1f} | {params:,} |")
        tiles.append(caption(r.prediction.clamp(0, 1), f"{name}: {r.psnr:.1f} dB"))
        print(rows[-1], flush=True)
    print(f"\n2D job: {size}x{size} picture, {steps} Adam steps of {batch} pixels each, threads {torch.get_num_threads()}\n")
    print("| field | MSE | PSNR (dB) | seconds | parameters |\n| --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    if png:
        half = (len(tiles) + 1) // 2
        top, bottom = hstack(tiles[:half]), hstack(tiles[half:] + [torch.ones_like(tiles[0])] * (2 * half - len(tiles)))
        save_image(png, torch.cat([top, torch.ones(4, top.shape[1], 3), bottom], 0))
        print(f"\npicture: {png}")


def job_3d(steps: int, samples: int, resolution: int) -> None:
    target = torus(0.7, 0.25, rings=96, sides=48)
    torch.manual_seed(0)
    points, inside = occupancy_samples(target, samples, noise=0.02, seed=0)
    field = HashGridField(3, 1, levels=12, table_size=2**16, features=2, base_resolution=8, growth_factor=1.35)
    r = fit_occupancy(field, points, inside, steps=steps, batch_size=8192, lr=1e-2)
    start = time.perf_counter()
    mesh = field_surface(field, resolution)
    mc = time.perf_counter() - start
    f1 = mesh_f1(mesh, target, thresholds=(0.01, 0.02, 0.05), num_samples=100_000)
    print(f"\n3D job: torus (R 0.7, r 0.25) occupancy from {samples:,} labelled points, hash grid + MLP, "
          f"{steps} steps ({r.seconds:.1f} s), marching cubes at {resolution}^3 ({mc:.1f} s), "
          f"{mesh.num_faces_per_mesh().item():,} faces\n")
    print("| F1@0.01 | F1@0.02 | F1@0.05 | final BCE |\n| --- | --- | --- | --- |")
    print(f"| {float(f1['f1@0.01']):.3f} | {float(f1['f1@0.02']):.3f} | {float(f1['f1@0.05']):.3f} | {r.loss:.4f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=8192)
    ap.add_argument("--png", default="fields_2d.png", help="the side-by-side picture (empty: none)")
    ap.add_argument("--only", nargs="*", help="variants to run (default: all)")
    ap.add_argument("--steps-3d", type=int, default=300)
    ap.add_argument("--samples-3d", type=int, default=200_000)
    ap.add_argument("--resolution-3d", type=int, default=128)
    ap.add_argument("--skip-2d", action="store_true")
    ap.add_argument("--skip-3d", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: the free cores)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads or auto_threads())
    if not a.skip_2d:
        job_2d(a.size, a.steps, a.batch, a.png, a.only)
    if not a.skip_3d:
        job_3d(a.steps_3d, a.samples_3d, a.resolution_3d)


if __name__ == "__main__":
    main()
