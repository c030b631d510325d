"""``fit-voxels``: fit an occupancy grid of logits to a target grid (or a voxelised mesh).

The job: a ``(D, H, W)`` grid of logits drawn at random (seeded, standard
deviation ``init_scale``) is fitted by Adam to the target occupancy with the
class-balanced binary cross-entropy :func:`unrender.losses.voxel_bce`
(positives weighted by ``0.5 / mean occupancy``). The outputs are the fitted
occupancy probabilities ``sigmoid(logits)`` as :class:`Voxels` on the
target's box, and their marching-cubes surface at 0.5.

Target. A :class:`Voxels` grid is fitted at its own size and box (so a
``(24, 32, 40)`` grid gives a ``(24, 32, 40)`` fit and ``resolution`` is not
used). A mesh is voxelised by :func:`unrender.geometry.mesh_to_voxels` (its
default: generalized winding number ``|w| > 0.5``, robust to holes) into a
``resolution^3`` grid over its default box: centred on the mesh, cubic
voxels, one empty voxel of margin along the longest side. A mesh that is not
closed (holes such as Suzanne's eyes, or inconsistent orientation) gets a
warning, in Python and in ``Result.warnings`` (the summary's warnings).

Progress previews are the current probabilities as :class:`Voxels` on the
target's box, about 50 per run; grids over 64 cells along an axis are previewed
averaged down to at most 64 cells per axis (the outputs keep full size).

Frames. Nothing is normalised: the grid's cells are independent of scale and
the box carries the world frame, so the outputs lie where the target is.
``iou`` is measured cell by cell against the target grid (both thresholded at
0.5), which is frame independent; ``extra["iou_target"]`` says what that grid
is (the given grid, or the winding-number voxelisation of the mesh).
"""

from __future__ import annotations

import warnings

import torch

from ..geometry import closed_surface, marching_cubes, mesh_to_voxels
from ..losses import voxel_bce
from ..metrics import voxel_iou
from ..structures import Meshes, Voxels
from .base import Input, Method, Output, Param, Result
from .registry import register
from .runner import Tracker

__all__ = ["FitVoxels"]

# Previews copy the grid to the CPU (and the tracker keeps ~30 as snapshots):
# aim for about this many per run, each averaged down to at most this many cells per axis.
_PREVIEWS = 50
_PREVIEW_CELLS = 64


_IOU_TARGET_MESH = "the generalized winding number voxelisation (|w| > 0.5) of the input mesh"
_IOU_TARGET_GRID = "the input voxel grid"


def _target_grid(target, resolution: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """The target as a ``(D, H, W)`` occupancy grid in ``[0, 1]``, its ``(2, 3)`` box and warnings."""
    notes = []
    if isinstance(target, Meshes):
        if not closed_surface(target.verts_list()[0], target.faces_list()[0]):
            notes.append(
                "target: the mesh is not closed (it has holes or inconsistently oriented faces); "
                "voxelised by its generalized winding number, which bridges small holes"
            )
            warnings.warn(f"fit-voxels: {notes[-1]}", stacklevel=3)
        vox = mesh_to_voxels(target, resolution)
    else:
        vox = target
    return vox.grids_list()[0].to(torch.float32), vox.bounds()[0].to(torch.float32), notes


@register
class FitVoxels(Method):
    id = "fit-voxels"
    label = "Fit voxels"
    description = (
        "Fit a random grid of occupancy logits to a target voxel grid or a voxelised mesh "
        "with a class-balanced binary cross-entropy and Adam; outputs the probabilities and their "
        "marching-cubes surface."
    )
    inputs = (
        Input("target", ("voxels", "mesh"), "the occupancy grid to fit, or a mesh to voxelise (generalized winding number: holes are bridged)"),
    )
    params = (
        Param(
            "resolution",
            32,
            "cells per axis when voxelising a mesh target; a voxel-grid target keeps its own size and box",
            minimum=4,
            maximum=256,
        ),
        Param("steps", 40, "optimisation steps", minimum=1, maximum=100_000),
        Param("lr", 0.2, "Adam learning rate (logit units per step, roughly)", minimum=1e-6, maximum=100.0),
        Param("init_scale", 0.5, "standard deviation of the random initial logits", minimum=0.0, maximum=100.0),
    )
    outputs = (
        Output("voxels", "voxels", "fitted occupancy probabilities sigmoid(logits), on the target's box"),
        Output("mesh", "mesh", "the fitted grid's surface at probability 0.5 (marching cubes), in world space"),
    )

    def run(self, inputs, params, progress) -> Result:
        """Fit logits to ``inputs["target"]``.

        Returns a :class:`Result` with ``outputs["voxels"]`` (a one-grid
        ``Voxels`` of ``(D, H, W)`` probabilities with the target's bounds),
        ``outputs["mesh"]`` (one mesh, world space, empty if nothing is
        occupied), metrics ``"iou"`` (:func:`voxel_iou` at 0.5 against the
        target grid, named in ``extra["iou_target"]``) and ``"bce"`` (the
        final :func:`voxel_bce`), ``Result.warnings`` (e.g. an open mesh);
        all on the CPU.
        """
        device = torch.device(params["device"])
        target, bounds, notes = _target_grid(inputs["target"], params["resolution"])
        target, bounds = target.to(device), bounds.to(device)
        if not bool((target > 0).any()):
            raise ValueError("target: expected an occupied cell, found an empty grid (nothing to fit)")

        # Seeded on the CPU so every device starts from the same logits.
        gen = torch.Generator().manual_seed(params["seed"])
        logits = (torch.randn(target.shape, generator=gen) * params["init_scale"]).to(device).requires_grad_(True)
        opt = torch.optim.Adam([logits], lr=params["lr"])

        def probabilities() -> torch.Tensor:
            return torch.sigmoid(logits.detach())

        # Large grids are previewed averaged down (same box), so previews stay cheap to copy and keep.
        factor = -(-max(target.shape) // _PREVIEW_CELLS)
        small = tuple(-(-n // factor) for n in target.shape)

        def preview() -> Voxels:
            p = probabilities()
            if factor > 1:
                p = torch.nn.functional.adaptive_avg_pool3d(p[None, None], small)[0, 0]
            return Voxels([p.cpu()], bounds.cpu())

        steps = params["steps"]
        tracker = Tracker(progress, steps, preview_every=max(1, steps // _PREVIEWS))
        for step in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = voxel_bce(logits, target)
            loss.backward()
            before = logits.detach().clone()  # the state that gave this loss, kept if it is the best
            opt.step()
            if not tracker.update(step, loss.item(), preview, keep=lambda: before):
                break

        with torch.no_grad():
            fitted = tracker.kept(logits.detach())
            bce = voxel_bce(fitted, target)
            prob = torch.sigmoid(fitted)
            iou = voxel_iou(prob, target, 0.5)
        voxels = Voxels([prob.cpu()], bounds.cpu())
        mesh = marching_cubes(voxels, 0.5)
        result = tracker.result(
            {"voxels": voxels, "mesh": mesh},
            {"iou": float(iou), "bce": float(bce)},
            resolution=list(target.shape),
            iou_target=_IOU_TARGET_MESH if isinstance(inputs["target"], Meshes) else _IOU_TARGET_GRID,
        )
        result.warnings = list(notes)
        return result

    def example_inputs(self, seed: int = 0) -> dict:
        """A superquadric whose exponent varies with the seed, normalised to the unit sphere."""
        from ..geometry.shapes import superquadric

        g = torch.Generator().manual_seed(seed)
        power = 2.0 + 3.0 * float(torch.rand((), generator=g))
        return {"target": superquadric(power=power, level=4)}
