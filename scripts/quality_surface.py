#!/usr/bin/env python
"""The neural-surface bar of issue 12 §6: NeuS (``unrender.surfaces.train_surface``) on the multi-view example
scene (``unrender.render.example_views``: 40 training views at 128 px with masks of a striped torus around a
checkered ball, inside the unit sphere), mesh F1 against the true mesh over training time.

Prints F1@0.01 / 0.02 / 0.05 of the marching-cubes mesh (``--resolution``) at the ``--checks`` seconds of
training (mesh extraction not counted) and at the end. Bar: F1@0.01 >= 0.8 and F1@0.02 >= 0.95.
``--seconds`` is train_surface's budget, whose clock does count the checks: use ``--checks ""`` for a run of
exactly that much training.

    python scripts/quality_surface.py                                  # the defaults of train_surface
    python scripts/quality_surface.py --encoding harmonic --layers 2 --normal-delta none --seconds 300
"""

from __future__ import annotations

import argparse
import time

import torch

from unrender.metrics import mesh_f1
from unrender.render import example_views
from unrender.surfaces import surface_model, train_surface


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--views", type=int, default=40)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--steps", type=int, default=None, help="the learning-rate schedule's length (default: train_surface's)")
    ap.add_argument("--checks", default="60,120,300", help="seconds of training at which to measure F1")
    ap.add_argument("--encoding", default=None, choices=["grid", "harmonic", "hash", "none"])
    ap.add_argument("--hidden", type=int, default=None)
    ap.add_argument("--layers", type=int, default=None)
    ap.add_argument("--normal-delta", default=None, help="finite-difference step, or 'none' for autograd normals")
    ap.add_argument("--batch-rays", type=int, default=None)
    ap.add_argument("--samples", type=int, default=None, help="uniform and importance samples a ray, each")
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--mask-weight", type=float, default=None)
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    views, truth = example_views(args.views, 8, args.size)
    views = views.select("train")
    model_options = {k: v for k, v in (("encoding", args.encoding), ("hidden", args.hidden), ("layers", args.layers))
                     if v is not None}
    if model_options.get("encoding") == "none":
        model_options["encoding"] = None
    if args.normal_delta is not None:
        model_options["normal_delta"] = None if args.normal_delta == "none" else float(args.normal_delta)
    model = surface_model(**model_options)
    options = {k: v for k, v in (("steps", args.steps), ("batch_rays", args.batch_rays), ("n_samples", args.samples),
                                 ("n_importance", args.samples), ("lr", args.lr), ("mask_weight", args.mask_weight))
               if v is not None}
    print(vars(args), flush=True)
    checks = sorted(float(x) for x in args.checks.split(",") if x)
    clock = {"start": time.perf_counter(), "excluded": 0.0}

    def f1_row(label) -> None:
        t = time.perf_counter()
        model.eval()
        f = mesh_f1(model.mesh(args.resolution), truth, thresholds=(0.01, 0.02, 0.05), num_samples=50_000)
        model.train()
        clock["excluded"] += time.perf_counter() - t
        print(label, " ".join(f"F1@{k[3:]}={float(v):.3f}" for k, v in f.items() if k.startswith("f1")), flush=True)

    def progress(step, total, loss) -> bool:
        elapsed = time.perf_counter() - clock["start"] - clock["excluded"]
        if checks and elapsed >= checks[0]:
            checks.pop(0)
            f1_row(f"{elapsed:7.0f} s  step {step:5d}  loss {loss:.4f}")
        return True

    model, history = train_surface(views, model=model, seconds=args.seconds, progress=progress, **options)
    psnr = sum(history["psnr"][-20:]) / len(history["psnr"][-20:])
    trained = time.perf_counter() - clock["start"] - clock["excluded"]
    f1_row(f"{trained:7.0f} s  step {history['step'][-1]:5d}  final (batch PSNR {psnr:.1f} dB, s {history['inv_s'][-1]:.0f})")


if __name__ == "__main__":
    main()
