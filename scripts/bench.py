#!/usr/bin/env python
"""Benchmark unrender against PyTorch3D, side by side, and print a markdown table.

Every (case, implementation) pair runs in its own subprocess so that the peak
memory column is the peak resident-set increase of that operation alone:
``ru_maxrss`` after the timed runs minus the resident size once the inputs
exist (on Linux the high-water mark is restarted there through
``/proc/self/clear_refs``; on CUDA, ``torch.cuda.max_memory_allocated`` minus
the allocation before). Times are the median of several repeats after one
warm-up.

    python scripts/bench.py                  # every case, full sizes
    python scripts/bench.py --quick          # small sizes, a smoke test
    python scripts/bench.py --only chamfer   # cases whose name contains "chamfer"
    python scripts/bench.py --device cuda

Adding a row = appending a ``Case`` to ``CASES``: give it a name, the labels
and a ``make(impl, quick, device)`` that builds the inputs and returns the
callable to time (and optionally a cheaper warm-up callable).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable

import torch

IMPLS = ("unrender", "pytorch3d")


# ----------------------------------------------------------------- cases
@dataclass
class Case:
    """One table row.

    ``make(impl, quick, device)`` returns ``run`` or ``(run, warmup)``: ``run``
    performs the operation once (inputs already built); ``warmup`` defaults
    to ``run``. It may raise ``ImportError`` when ``impl`` is unavailable.
    """

    name: str
    operation: str
    size: str
    quick_size: str
    make: Callable[[str, bool, torch.device], object]
    repeats: int = 5
    ref_repeats: int | None = None  # PyTorch3D repeats when it is very slow


def _gen(seed: int, device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def _make_chamfer(impl, quick, device):
    n = 1000 if quick else 10_000
    g = _gen(0, device)
    x = torch.randn(1, n, 3, generator=g, device=device).requires_grad_()
    y = torch.randn(1, n, 3, generator=g, device=device).requires_grad_()
    if impl == "unrender":
        from unrender.losses import chamfer_distance
    else:
        from pytorch3d.loss import chamfer_distance

    def run():
        loss, _ = chamfer_distance(x, y)
        loss.backward()
        x.grad = y.grad = None

    return run


def _make_sampling(impl, quick, device):
    from unrender.geometry.primitives import icosphere

    level, n = (3, 1000) if quick else (5, 10_000)
    mesh = icosphere(level, device=device)
    if impl == "unrender":
        from unrender.geometry.sampling import sample_points_from_meshes

        return lambda: sample_points_from_meshes(mesh, n)
    from pytorch3d.ops import sample_points_from_meshes
    from pytorch3d.structures import Meshes

    ref = Meshes(verts=mesh.verts_list(), faces=mesh.faces_list())
    return lambda: sample_points_from_meshes(ref, n)


def _make_knn(impl, quick, device):
    n = 20_000 if quick else 200_000
    g = _gen(0, device)
    # Two independent uniform clouds in a cube: a volume (not a surface) is
    # the harder case for unrender's block pruning.
    p1 = torch.rand(1, n, 3, generator=g, device=device)
    p2 = torch.rand(1, n, 3, generator=g, device=device)
    small = (p1[:, :2000].clone(), p2[:, :2000].clone())
    if impl == "unrender":
        from unrender.ops import knn_points
    else:
        from pytorch3d.ops import knn_points

    def run():
        with torch.no_grad():
            knn_points(p1, p2, K=1)

    def warmup():
        with torch.no_grad():
            knn_points(*small, K=1)

    return run, warmup


def _make_mesh_losses(impl, quick, device):
    from unrender.geometry.primitives import icosphere

    mesh = icosphere(2 if quick else 4, device=device)
    deform = torch.zeros_like(mesh.verts_packed(), requires_grad=True)
    if impl == "unrender":
        from unrender.losses import mesh_edge_loss, mesh_laplacian_smoothing, mesh_normal_consistency

        src = mesh
    else:
        from pytorch3d.loss import mesh_edge_loss, mesh_laplacian_smoothing, mesh_normal_consistency
        from pytorch3d.structures import Meshes

        src = Meshes(verts=mesh.verts_list(), faces=mesh.faces_list())

    def run():
        # One step of a deformation loop: new vertices, three regularisers, backward.
        m = src.offset_verts(deform)
        loss = mesh_laplacian_smoothing(m, "uniform") + mesh_normal_consistency(m) + mesh_edge_loss(m)
        loss.backward()
        deform.grad = None

    return run


CASES: list[Case] = [
    Case("chamfer", "chamfer fwd+bwd", "10k x 10k", "1k x 1k", _make_chamfer),
    Case("sampling", "sample points on icosphere", "10k, level 5", "1k, level 3", _make_sampling),
    Case("knn", "knn K=1 fwd", "200k x 200k", "20k x 20k", _make_knn, repeats=3, ref_repeats=1),
    Case(
        "mesh_losses",
        "laplacian + normal consistency + edge fwd+bwd",
        "level-4 icosphere",
        "level-2 icosphere",
        _make_mesh_losses,
        repeats=20,
    ),
]


# ---------------------------------------------------------------- worker
def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_bytes(device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    # ru_maxrss: kilobytes on Linux, bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _memory_baseline(device) -> int:
    """Memory in use now, with the peak counter restarted from here where possible."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_allocated(device)
    try:
        # Linux: restart the resident high-water mark (ru_maxrss follows it), so
        # a transient peak while importing or building inputs is not counted.
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        with open("/proc/self/status") as fh:
            rss_kb = next(int(ln.split()[1]) for ln in fh if ln.startswith("VmRSS:"))
        return rss_kb * 1024
    except (OSError, StopIteration, ValueError):
        return _peak_bytes(device)


def worker(case: Case, impl: str, quick: bool, device: torch.device) -> dict:
    try:
        made = case.make(impl, quick, device)
    except ImportError as exc:
        return {"error": f"{impl} not importable: {exc}"}
    run, warm = made if isinstance(made, tuple) else (made, made)
    _sync(device)
    base = _memory_baseline(device)
    warm()
    _sync(device)
    repeats = case.repeats if impl == "unrender" or case.ref_repeats is None else case.ref_repeats
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return {"time": statistics.median(times), "times": times, "peak_mb": (_peak_bytes(device) - base) / 2**20}


# ---------------------------------------------------------------- driver
def _run_isolated(case: Case, impl: str, args) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", case.name, "--impl", impl, "--device", args.device]
    if args.quick:
        cmd.append("--quick")
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {args.timeout:.0f} s", "timeout": True}
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"error": f"failed: {tail[0]}"}
    return json.loads(lines[-1])


def _fmt_time(r: dict) -> str:
    if "time" in r:
        return f"{r['time']:.4g}"
    return f"> {r['error'].split()[-2]}" if r.get("timeout") else "n/a"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="run the cases whose name contains this (" + ", ".join(c.name for c in CASES) + ")")
    ap.add_argument("--quick", action="store_true", help="small sizes")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed per (case, implementation)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--impl", choices=IMPLS, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: CUDA is not available")

    if args.worker:
        case = next(c for c in CASES if c.name == args.worker)
        print(json.dumps(worker(case, args.impl, args.quick, torch.device(args.device))), flush=True)
        return 0

    cases = [c for c in CASES if not args.only or args.only in c.name]
    if not cases:
        ap.error(f"--only {args.only!r} matches no case ({', '.join(c.name for c in CASES)})")
    try:
        import pytorch3d

        p3d_version = pytorch3d.__version__
    except Exception:
        p3d_version = "not importable"
    print(
        f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"PyTorch3D {p3d_version}{', quick sizes' if args.quick else ''}\n"
    )
    print("| operation | size | unrender (s) | PyTorch3D (s) | ratio (p3d/unrender) | peak memory unrender (MB) |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for case in cases:
        ours = _run_isolated(case, "unrender", args)
        ref = _run_isolated(case, "pytorch3d", args)
        if "time" in ours and "time" in ref:
            ratio = f"{ref['time'] / ours['time']:.1f}"
        elif "time" in ours and ref.get("timeout"):
            ratio = f"> {args.timeout / ours['time']:.0f}"
        else:
            ratio = "n/a"
        mem = f"{ours['peak_mb']:.0f}" if "peak_mb" in ours else "n/a"
        size = case.quick_size if args.quick else case.size
        print(f"| {case.operation} | {size} | {_fmt_time(ours)} | {_fmt_time(ref)} | {ratio} | {mem} |", flush=True)
        for impl, r in (("unrender", ours), ("PyTorch3D", ref)):
            if "error" in r and not r.get("timeout") and "not importable" not in r["error"]:
                print(f"<!-- {case.name} {impl}: {r['error']} -->", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
