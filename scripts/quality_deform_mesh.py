#!/usr/bin/env python
"""Quality of ``deform-mesh``: its schedules on Blender's Suzanne, a torus and the generated targets.

Targets (normalised to the unit sphere): ``suzanne`` (Blender's
``primitive_monkey_add`` with a Subdivision Surface modifier at level 2,
read through ``bpy``: open eyes, three parts), ``torus`` (genus 1) and the
genus-0 targets of :mod:`unrender.geometry.shapes`. For each target and
schedule the method runs with its defaults otherwise; every
``--every`` steps the current mesh is scored with F1 on 100k sampled points
(outside the timed part: the time spent scoring is subtracted). Printed as a
markdown table: steps and seconds until F1@0.05 >= 0.98 and F1@0.02 >= 0.85
first hold, the final F1@0.01 / F1@0.02 / F1@0.05 (issue bars: Suzanne
F1@0.01 >= 0.9 and F1@0.02 >= 0.97, torus F1@0.02 >= 0.95, each within 60 s)
and the faces of the result.

    python scripts/quality_deform_mesh.py                     # defaults of the method (needs bpy for suzanne)
    python scripts/quality_deform_mesh.py --steps 600 --every 10 --threads 2
    python scripts/quality_deform_mesh.py --set lr=0.02 --set w_laplacian=0.2
"""

from __future__ import annotations

import argparse
import time

import torch

from unrender.geometry import torus
from unrender.geometry.shapes import TARGET_SHAPES, target_shape
from unrender.methods import get_method, run_method
from unrender.metrics import mesh_f1

BAR = {"f1@0.05": 0.98, "f1@0.02": 0.85}


def evaluate(mesh, target, samples: int) -> dict[str, float]:
    f1 = mesh_f1(mesh, target, thresholds=(0.01, 0.02, 0.05), num_samples=samples, seed=0)
    return {k: float(f1[k]) for k in ("f1@0.01", "f1@0.02", "f1@0.05")}


def blender_suzanne():
    """Suzanne with two levels of Catmull-Clark subdivision, as Blender evaluates it."""
    import bpy

    from unrender.structures import Meshes

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.mesh.primitive_monkey_add()
    ob = bpy.context.object
    ob.modifiers.new("subdivision", "SUBSURF").levels = 2
    me = ob.evaluated_get(bpy.context.evaluated_depsgraph_get()).to_mesh()
    me.calc_loop_triangles()
    return Meshes([torch.tensor([tuple(v.co) for v in me.vertices])],
                  [torch.tensor([tuple(t.vertices) for t in me.loop_triangles])])


def load_target(name: str):
    if name == "suzanne":
        return blender_suzanne().normalize()[0]
    if name == "torus":
        return torus().normalize()[0]
    return target_shape(name)


def run_one(target, schedule: str, args, extra: dict) -> dict:
    params = {"schedule": schedule, "seed": args.seed, **extra}
    if args.steps:
        params["steps"] = args.steps
    scoring = [0.0]
    reached = {}

    def progress(step, total, loss, preview=None):
        if preview is None or (step % args.every and step != total) or reached:
            return True
        t0 = time.perf_counter()
        f1 = evaluate(preview, target, args.samples)
        if all(f1[k] >= v for k, v in BAR.items()):
            reached.update(step=step, seconds=time.perf_counter() - start - scoring[0])
        scoring[0] += time.perf_counter() - t0
        return True

    start = time.perf_counter()
    result = run_method("deform-mesh", {"target": target}, params, progress)
    total = time.perf_counter() - start - scoring[0]
    final = evaluate(result.outputs["mesh"], target, args.samples)
    return {"reached": reached, "seconds": total, "final": final, "steps": result.steps,
            "faces": int(result.outputs["mesh"].faces_packed().shape[0]), "init": result.extra.get("init", "-")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=0, help="steps per run (0: the method's default)")
    ap.add_argument("--every", type=int, default=10, help="score every N steps")
    ap.add_argument("--samples", type=int, default=100_000, help="points sampled per surface for F1")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--targets", default=",".join(["suzanne", "torus", *TARGET_SHAPES]),
                    help="comma-separated target names")
    ap.add_argument("--schedules", default="remesh,coarse-to-fine")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a method parameter")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    m = get_method("deform-mesh")
    extra = {}
    for item in args.set:
        name, _, value = item.partition("=")
        extra[name] = m.param(name).coerce(value)

    steps = args.steps or m.defaults()["steps"]
    print(f"torch {torch.__version__}, {args.threads} thread(s), {steps} steps, F1 on {args.samples} points, "
          f"scored every {args.every} steps, params {extra or 'default'}\n")
    print("| target | schedule | start | faces | steps to bar | seconds to bar | total seconds | F1@0.01 | F1@0.02 | "
          "F1@0.05 |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in args.targets.split(","):
        target = load_target(name)
        for schedule in args.schedules.split(","):
            r = run_one(target, schedule, args, extra)
            hit = r["reached"]
            to_bar = (str(hit["step"]), f"{hit['seconds']:.1f}") if hit else (f"> {r['steps']}", "n/a")
            print(f"| {name} | {schedule} | {r['init']} | {r['faces']} | {to_bar[0]} | {to_bar[1]} | {r['seconds']:.1f} | "
                  f"{r['final']['f1@0.01']:.3f} | {r['final']['f1@0.02']:.3f} | {r['final']['f1@0.05']:.3f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
