"""``fit-points``: move a random point cloud onto a target cloud (or mesh) by chamfer distance.

The job: ``N`` points drawn at random (seeded) around the target's centre are
moved by Adam to minimise the chamfer distance to the target points. A mesh
target is sampled once (seeded, area-uniform) to ``target_points`` points.

Frames. Targets come at any scale and position, so the fit runs in the
target's *normalised frame*: translated so its bounding-box centre is at the
origin and scaled so its farthest vertex (mesh) or point (cloud) lies at
distance 1 (:meth:`Meshes.normalize` / :meth:`PointClouds.normalize`). The
learning rate, the initial spread and every metric (``chamfer`` and the F1
thresholds, which are absolute distances) are in that frame, so they mean the
same for any input scale. The output cloud is mapped back to the target's own
frame.
"""

from __future__ import annotations

import math

import torch

from ..geometry import sample_points_from_meshes
from ..losses import chamfer_distance
from ..metrics import point_f1
from ..structures import Meshes, PointClouds
from .base import Input, Method, Output, Param, Result
from .registry import register
from .runner import Tracker

__all__ = ["FitPoints", "F1_THRESHOLDS"]

#: Distances (in the target's unit-sphere frame) of the reported F-scores.
F1_THRESHOLDS = (0.01, 0.02, 0.05)


def _target_cloud(target, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The target as ``(Q, 3)`` points in its normalised frame, with ``centre (3,)`` and ``scale ()``.

    A mesh is normalised by its vertices, then sampled to ``n`` points; a
    cloud is normalised by its own points. ``world = points * scale + centre``.
    """
    unit, centres, scales = target.normalize()
    if isinstance(target, Meshes):
        pts = sample_points_from_meshes(unit, n, generator=generator)[0]
    else:
        pts = unit.points_list()[0]
    return pts.detach(), centres[0].detach(), scales[0].detach()


@register
class FitPoints(Method):
    id = "fit-points"
    label = "Fit points"
    description = (
        "Fit a random point cloud to a target cloud or mesh by minimising the chamfer distance with Adam. "
        "Works in the target's unit-sphere frame; F1 scores are measured there."
    )
    inputs = (
        Input("target", ("points", "mesh"), "the cloud to fit, or a mesh (open or closed) sampled once"),
    )
    params = (
        Param("points", 5000, "number of points of the fitted cloud", minimum=1, maximum=1_000_000),
        Param(
            "target_points",
            0,
            "points sampled from a mesh target (0: as many as 'points'); ignored for a cloud target",
            minimum=0,
            maximum=1_000_000,
        ),
        Param("steps", 80, "optimisation steps", minimum=1, maximum=100_000),
        Param(
            "lr",
            0.2,
            "Adam learning rate (unit-sphere units); decays along a cosine to 1% of it by the last step",
            minimum=1e-6,
            maximum=10.0,
        ),
        Param(
            "batch",
            0,
            "target points drawn at random each step (0: all of them); fewer is faster and spreads "
            "the points over the surface rather than onto the target points",
            minimum=0,
            maximum=1_000_000,
        ),
        Param(
            "init_std",
            0.5,
            "standard deviation of the initial gaussian cloud around the target's centre (unit-sphere units)",
            minimum=0.0,
            maximum=10.0,
        ),
    )
    outputs = (Output("points", "points", "the fitted cloud, in the target's frame"),)

    def run(self, inputs, params, progress) -> Result:
        """Fit ``params["points"]`` points to ``inputs["target"]``.

        Returns a :class:`Result` with ``outputs["points"]`` (a one-cloud
        ``PointClouds`` of ``(N, 3)`` points in the target's frame, CPU) and
        metrics ``"f1@0.01"``, ``"f1@0.02"``, ``"f1@0.05"`` and ``"chamfer"``
        (squared-distance chamfer, both directions summed), all measured in the
        target's normalised frame against the full target cloud.
        """
        device = torch.device(params["device"])
        seed, n, steps = params["seed"], params["points"], params["steps"]
        gen = torch.Generator(device=device).manual_seed(seed)
        n_target = params["target_points"] or n
        target, centre, scale = _target_cloud(inputs["target"], n_target, gen)
        target = target.to(torch.float32)
        Q = target.shape[0]

        # Initial cloud: seeded on the CPU so every device starts from the same points.
        cpu_gen = torch.Generator().manual_seed(seed)
        x = (torch.randn(n, 3, generator=cpu_gen) * params["init_std"]).to(device).requires_grad_(True)
        opt = torch.optim.Adam([x], lr=params["lr"])
        lr0, lr_min = params["lr"], 0.01 * params["lr"]
        batch = params["batch"] if 0 < params["batch"] < Q else 0

        def to_world(p: torch.Tensor) -> torch.Tensor:
            return p * scale + centre

        def preview() -> PointClouds:
            return PointClouds([to_world(x.detach()).cpu()])

        tracker = Tracker(progress, steps, preview_every=1)
        for step in range(steps):
            # Cosine decay: large early steps shuffle points out of crowded spots.
            for group in opt.param_groups:
                group["lr"] = lr_min + 0.5 * (lr0 - lr_min) * (1 + math.cos(math.pi * step / max(steps - 1, 1)))
            y = target
            if batch:
                idx = torch.randperm(Q, generator=cpu_gen)[:batch].to(device)
                y = target[idx]
            opt.zero_grad(set_to_none=True)
            loss, _ = chamfer_distance(x[None], y[None])
            loss.backward()
            before = x.detach().clone()  # the state that gave this loss, kept if it is the best
            opt.step()
            if not tracker.update(step, loss.item(), preview, keep=lambda: before):
                break

        with torch.no_grad():
            fitted = tracker.kept(x.detach())
            final, _ = chamfer_distance(fitted[None], target[None])
            scores = point_f1(fitted, target, F1_THRESHOLDS)
        metrics = {f"f1@{t:g}": float(scores[f"f1@{t:g}"]) for t in F1_THRESHOLDS}
        metrics["chamfer"] = float(final)
        return tracker.result(
            {"points": PointClouds([to_world(fitted).cpu()])},
            metrics,
            frame={"center": centre.cpu().tolist(), "scale": float(scale)},
            target_points=Q,
        )

    def example_inputs(self, seed: int = 0) -> dict:
        """A bumpy ellipsoid (seeded bumps) normalised to the unit sphere, as a mesh."""
        from ..geometry.shapes import bumpy_ellipsoid

        return {"target": bumpy_ellipsoid(seed=seed, level=4)}
