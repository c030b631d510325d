#!/usr/bin/env python
"""Quality of ``fit-smpl-keypoints`` on the shipped default body, as markdown tables.

1. The issue's bar: 50 random people (``example_people``: plausible shapes and
   poses, a 1000-pixel camera, 2 px keypoint noise), median and mean joint
   error after Procrustes alignment and the total time of the batched fit,
   with the interpenetration term off and on.
2. Arms crossed in front of the chest (the forearms' depth is free in 2-D):
   the share of forearm and hand vertices buried in the body (winding number
   above 0.75, skin folding within 8 cm of the elbows not counted) for the
   truth and for fits with ``w_collision`` 0, 1 (the default) and 3.

    python scripts/quality_fit_keypoints.py            # 50 people, 24 crossed-arm people
    python scripts/quality_fit_keypoints.py --people 10 --crossed 8
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from unrender.body import BodyModel
from unrender.body.collision import buried_fraction
from unrender.body.fit_keypoints import default_pose_prior, fit_keypoints
from unrender.methods.fit_smpl_keypoints import example_people
from unrender.metrics import aligned_joint_error

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_body_collision import arm_vertices, arms_crossed, seen  # noqa: E402  (the crossed-arm cases' one home)


def fit_and_score(model, truth, kp, focal, center, prior, w):
    t0 = time.perf_counter()
    fit = fit_keypoints(model, kp, "body25", focal, center, prior=prior, w_collision=w)
    seconds = time.perf_counter() - t0
    pred = model(betas=fit.betas, body_pose=fit.body_pose, global_orient=fit.global_orient, transl=fit.transl)
    return pred, aligned_joint_error(pred.joints, truth.joints) * 1000, seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--people", type=int, default=50)
    ap.add_argument("--crossed", type=int, default=24)
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    model = BodyModel.default(dtype=torch.float64)
    prior = default_pose_prior()

    truth, kp, focal, center, _ = example_people(model, args.people, 0)
    print(f"{args.people} random people, 2 px noise (bar: median <= 25 mm, all in < 60 s):\n")
    print("| w_collision | median joint error (mm) | mean (mm) | total time (s) |\n| ---: | ---: | ---: | ---: |")
    for w in (0.0, 1.0):
        _, err, seconds = fit_and_score(model, truth, kp, focal, center, prior, w)
        print(f"| {w:g} | {float(err.median()):.1f} | {float(err.mean()):.1f} | {seconds:.1f} |", flush=True)

    truth, kp, focal, center = seen(model, arms_crossed(model, args.crossed))
    arm = arm_vertices(model)
    base = buried_fraction(truth.vertices, model.faces, arm)
    print(f"\n{args.crossed} people with arms crossed, 2 px noise; forearm and hand vertices buried in the body "
          f"(truth: {100 * float(base.mean()):.2f} %):\n")
    print("| w_collision | buried, mean (%) | worst (%) | people > 2 % | median joint error (mm) | time (s) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for w in (0.0, 1.0, 3.0):
        pred, err, seconds = fit_and_score(model, truth, kp, focal, center, prior, w)
        b = buried_fraction(pred.vertices, model.faces, arm) * 100
        print(f"| {w:g} | {float(b.mean()):.2f} | {float(b.max()):.1f} | {int((b > 2).sum())} "
              f"| {float(err.median()):.1f} | {seconds:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
