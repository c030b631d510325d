#!/usr/bin/env python3
"""The fast NeRF on a Cycles-rendered dataset written by Blender (issue 12, section 6): held-out PSNR >= 26 dB.

    python scripts/blender_views_dataset.py --output cycles_views/      # 40 + 8 views, 128x128, by Blender
    PYTHONPATH=core python scripts/quality_cycles_nerf.py cycles_views/ [--seconds 600] [--output DIR]

Loads the NeRF-synthetic folder with ``unrender.io.load_views``, trains
``unrender.nerf.train_nerf`` (the grid field by default) on the train split for
``--seconds`` of training, evaluates the test split every ``--eval-every``
seconds and prints the final held-out PSNR and the training time at which it
first reached 25 dB. ``--output`` gets ``summary.json`` and a picture of the
held-out views (Blender's renders over the NeRF's).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from unrender.io import load_views, save_image
from unrender.nerf import train_nerf

BAR_DB = 26.0
TIME_TO_DB = 25.0


def time_to(history: list[dict], db: float) -> float | None:
    """The training seconds of the first evaluation at or above ``db`` -> seconds, or None when none reached it."""
    return next((row["seconds"] for row in history if row["psnr"] is not None and row["psnr"] >= db), None)


def _print_evaluations(row: dict) -> None:
    """train_nerf's progress: print the held-out evaluations (returns None: training goes on)."""
    if row["psnr"] is not None:
        print(f"  {row['seconds']:6.1f} s  step {row['step']:6d}  held-out PSNR {row['psnr']:.2f} dB", flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path, help="NeRF-synthetic folder (transforms_train.json, transforms_test.json)")
    ap.add_argument("--field", default="grid", choices=("grid", "hash", "mlp"))
    ap.add_argument("--seconds", type=float, default=600.0, help="training time budget")
    ap.add_argument("--eval-every", type=float, default=30.0, help="training seconds between held-out evaluations")
    ap.add_argument("--view-dependent", action="store_true",
                    help="colour from the view direction too (off: the dataset's diffuse scene under a flat world)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--output", type=Path, default=None, help="folder for summary.json and the held-out picture")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    views = load_views(args.dataset)
    train, test = views.select("train"), views.select("test")
    start = time.perf_counter()
    nerf, history = train_nerf(train, field=args.field, seconds=args.seconds, held_out=test,
                               eval_every=args.eval_every, config={"view_dependent": args.view_dependent},
                               progress=_print_evaluations)
    wall = time.perf_counter() - start
    final = history[-1]["psnr"]
    reached = time_to(history, TIME_TO_DB)
    summary = {"dataset": str(args.dataset), "field": args.field, "view_dependent": args.view_dependent, "train_views": len(train), "test_views": len(test),
               "image_size": list(views.image_size), "budget_seconds": args.seconds, "steps": history[-1]["step"],
               "psnr_held_out": round(final, 2), "bar_db": BAR_DB, "passes": final >= BAR_DB,
               "seconds_to_25db": None if reached is None else round(reached, 1), "wall_seconds": round(wall, 1),
               "threads": torch.get_num_threads()}
    print(f"{args.field} NeRF on {args.dataset}: held-out PSNR {final:.2f} dB (bar {BAR_DB} dB) after "
          f"{args.seconds:.0f} s of training; 25 dB at "
          f"{'never' if reached is None else f'{reached:.0f} s'}")
    if args.output:
        args.output.mkdir(parents=True, exist_ok=True)
        (args.output / "summary.json").write_text(json.dumps({**summary, "history": history}, indent=2) + "\n")
        with torch.no_grad():
            ours = nerf.render(test.cameras, test.image_size)["rgb"].clamp(0, 1)
        m = test.masks[..., None] if test.masks is not None else 1.0
        theirs = test.images * m + (1 - m)  # over the white background the NeRF renders on
        save_image(args.output / "held_out.png", torch.cat([torch.cat(list(theirs), 1), torch.cat(list(ours), 1)], 0))


if __name__ == "__main__":
    main()
