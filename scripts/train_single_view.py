"""Reproduce the shipped single-view checkpoints (core/unrender/models/weights/{vox,points,mesh}.pt).

    python scripts/train_single_view.py --work shapes_work/            # dataset, three trainings, eval, ship
    python scripts/train_single_view.py --work shapes_work/ --only mesh --no-ship

Steps, each the command a user would type (so the README's commands are what made the weights):

1. ``unrender dataset --output WORK/data`` (5 categories x 400 / 25 / 50 objects, 8 views each, seed 0;
   about 5 minutes with 2 workers, 290 MB), skipped when the folder exists.
2. ``unrender train --model K ...`` for each model with the recipe below, one after the other, each alone on
   a 2-core CPU for under 20 minutes: points and mesh as two ``torchrun`` processes of one thread each
   (DistributedDataParallel over gloo: 7.0 and 5.0 steps/s against 5.5 and 4.0 for one process of two
   threads), vox as one process of two threads (3.8 steps/s against 3.3 under torchrun).
3. ``unrender eval`` of the three runs on the test split (eval.md, eval.json, f1.png in WORK/eval).
   With ``--cycles DIR`` also on the test split re-rendered by Cycles (WORK/eval_cycles).
4. Each run's best checkpoint is written in half precision to the package's weights folder
   (``save_checkpoint(half=True)``), with the recipe and the eval figures in its info.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "core"))

#: The training recipe of each shipped model: ``unrender train`` flags (the batch is global: 16 per process
#: under torchrun), and the processes it runs on (2: ``torchrun --nproc_per_node 2``, one thread each).
RECIPES = {
    "points": ["--steps", "7000", "--schedule", "cosine", "--batch-size", "32", "--lr", "0.001"],
    "mesh": ["--steps", "5000", "--schedule", "cosine", "--batch-size", "32", "--lr", "0.001"],
    "vox": ["--steps", "3700", "--schedule", "cosine", "--batch-size", "32", "--lr", "0.001"],
}
PROCESSES = {"points": 2, "mesh": 2, "vox": 1}
DATASET = ["--train", "400", "--val", "25", "--test", "50", "--views", "8", "--seed", "0"]


def _unrender(*args: str, log: Path | None = None, processes: int = 1) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "core"), OMP_NUM_THREADS="1")
    out = open(log, "w") if log else None
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"] \
        if processes > 1 else [sys.executable]
    return subprocess.Popen([*launch, "-m", "unrender", *args], env=env, stdout=out,
                            stderr=subprocess.STDOUT if out else None)


def _wait(procs: dict[str, subprocess.Popen]) -> None:
    for name, p in procs.items():
        if p.wait() != 0:
            raise SystemExit(f"train_single_view: {name} failed (exit {p.returncode}); see its log")


def _cycles_scores(args, kind: str) -> dict:
    """``{"test_cycles": overall scores}`` of ``kind`` on the Cycles re-render, when evaluated."""
    if not args.cycles:
        return {}
    figures = json.loads((args.work / "eval_cycles" / "eval.json").read_text())
    return {"test_cycles": next(r["overall"] for r in figures["models"].values() if r["kind"] == kind)}


def _run_minutes(run: Path) -> float:
    """The training minutes a finished run's checkpoint records."""
    from unrender.models import load_checkpoint

    return float(load_checkpoint(run / "checkpoint.pt")[1]["minutes"])


def _examples_picture(data: Path, checkpoints: dict, path: Path, cycles: Path | None) -> None:
    """Test pictures (one object per category; with ``cycles`` also its Cycles render) | each model | truth."""
    import torch
    from torch.utils.data import default_collate

    from unrender.data import ShapeDataset
    from unrender.io import save_image
    from unrender.models import load_checkpoint
    from unrender.train import comparison_picture

    models = {k: load_checkpoint(p)[0] for k, p in checkpoints.items()}
    items = []
    for folder in [data, *([cycles] if cycles else [])]:
        test = ShapeDataset(folder, "test")
        seen = set()
        for obj in range(len(test) // test.views):  # each category's first object, its second view
            if test.object_category(obj) not in seen:
                seen.add(test.object_category(obj))
                items.append(test[obj * test.views + 1])
    with torch.no_grad():
        save_image(path, comparison_picture(models, default_collate(items), size=112))
    print(f"wrote {path}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, required=True, help="folder for the dataset, runs and eval")
    ap.add_argument("--only", choices=sorted(RECIPES), action="append", help="train only these models")
    ap.add_argument("--workers", type=int, default=2, help="dataset generating processes (default: 2)")
    ap.add_argument("--no-ship", action="store_true", help="do not write the package's weights")
    ap.add_argument("--skip-training", action="store_true",
                    help="use the finished runs in WORK/runs (eval and ship only)")
    ap.add_argument("--cycles", type=Path, help="also evaluate on this dataset folder: the test split re-rendered by "
                    "Cycles (scripts/blender_image_dataset.py), into WORK/eval_cycles")
    args = ap.parse_args(argv)
    kinds = args.only or list(RECIPES)
    data, runs = args.work / "data", args.work / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    if not (data / "dataset.json").is_file():
        _wait({"dataset": _unrender("dataset", "--output", str(data), *DATASET, "--workers", str(args.workers))})
    minutes = {k: _run_minutes(runs / k) for k in kinds} if args.skip_training else {}
    for k in kinds if not args.skip_training else ():
        t0 = time.perf_counter()
        threads = "1" if PROCESSES[k] > 1 else "2"
        _wait({k: _unrender("train", "--model", k, "--data", str(data), "--output", str(runs / k), *RECIPES[k],
                            "--val-every", "500", "--threads", threads, "--quiet", log=runs / f"{k}.log",
                            processes=PROCESSES[k])})
        minutes[k] = (time.perf_counter() - t0) / 60
        print(f"trained {k} in {minutes[k]:.1f} min")
    ckpts = [str(runs / k / "checkpoint.pt") for k in kinds]
    evals = {"eval": _unrender("eval", "--data", str(data), "--checkpoint", *ckpts, "--output", str(args.work / "eval"),
                               "--quiet")}
    if args.cycles:  # side by side: one core each
        evals["eval cycles"] = _unrender("eval", "--data", str(args.cycles), "--checkpoint", *ckpts, "--output",
                                         str(args.work / "eval_cycles"), "--quiet")
    _wait(evals)
    figures = json.loads((args.work / "eval" / "eval.json").read_text())
    if not args.no_ship:
        from unrender.models import load_checkpoint, save_checkpoint, shipped_checkpoint

        for k in kinds:
            model, info = load_checkpoint(runs / k / "checkpoint.pt", kind=k)
            scores = next(r["overall"] for r in figures["models"].values() if r["kind"] == k)
            launch = ["torchrun", "--nproc_per_node", str(PROCESSES[k]), "-m"] if PROCESSES[k] > 1 else []
            info = {**info, "recipe": [*launch, "unrender", "train", "--model", k, *RECIPES[k]], "dataset": DATASET,
                    "trained_minutes": round(minutes[k], 1), "test": scores, **_cycles_scores(args, k),
                    "reproduce": "python scripts/train_single_view.py --work WORK"}
            save_checkpoint(shipped_checkpoint(k), model, info=info, half=True)
            print(f"shipped {shipped_checkpoint(k)} ({shipped_checkpoint(k).stat().st_size / 2**20:.2f} MiB)")
    _examples_picture(data, {k: runs / k / "checkpoint.pt" for k in kinds}, args.work / "examples.png",
                      args.cycles)
    for folder in ("eval", "eval_cycles") if args.cycles else ("eval",):
        print((args.work / folder / "eval.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
