"""``reconstruct-views``: posed images (a ``transforms.json``, a NeRF-synthetic folder, images + cameras) to a
coloured mesh, by one of four strategies.

* ``hull``: silhouette carving (:func:`unrender.volumetric.visual_hull_mesh`; needs masks), colours from the
  most frontal unoccluded view. Seconds; convex-ish objects only (no concavities).
* ``volume``: a density + colour grid fitted by volume rendering (:func:`unrender.volumetric.fit_density_grid`).
* ``nerf``: a NeRF (:func:`unrender.nerf.train_nerf`) on a dense-grid, hash-grid or MLP field, meshed by
  marching cubes on its density (:func:`unrender.nerf.nerf_mesh`).
* ``surface``: a NeuS signed distance field (:func:`unrender.surfaces.train_surface`), meshed at its zero level.

The default is ``nerf`` (grid field): the best held-out pictures and the closest mesh in a minute. Measured
on the example scene (20 + 4 held-out views at 64 px, 60 s budget, 1 thread of a quiet 2-core CPU): nerf
24.9 dB PSNR, SSIM 0.92, mask IoU 0.976, mesh F1@0.05 0.94 (F1@0.02 0.79); volume 22.9 dB, SSIM 0.84, IoU
0.970, F1@0.05 0.84; surface 15.5 dB, F1@0.05 0.78 (it needs about 10 minutes: then F1@0.01 0.88, the
cleanest mesh); hull 20.2 dB, F1@0.05 0.97 in 4 s, but it cannot carve concavities. Views in the ``"test"`` split (a
NeRF-synthetic folder's ``transforms_test.json``, or ``holdout`` of a file without splits) are held out: they
are rendered by the reconstruction and compared with the truth (PSNR, SSIM on premultiplied colour over
black; silhouette IoU of the rendered opacity against the masks), per view and as the mean.
"""

from __future__ import annotations

import time

import torch

from ..image import enlarge_nearest
from ..io.views import PosedViews, holdout_splits
from ..metrics import psnr, silhouette_iou, ssim
from ..render import MeshRasterizer, RasterizationSettings, render_views, turntable
from ..volumetric import check_cameras_see_bounds
from .base import Input, Method, Output, Param, Result
from .pictures import up_axis
from .registry import register
from .runner import Tracker

__all__ = ["ReconstructViews", "STRATEGIES", "depth_colors"]

STRATEGIES = ("hull", "volume", "nerf", "surface")
_SHOWN_VIEWS = 4  # views in the renders and depth pictures
_SHOWN_SIZE = 256  # their views are enlarged (nearest) to at least this many pixels high
_PREVIEW_RESOLUTION = 32  # marching-cubes grid of the live previews
_PREVIEWS = 12
# viridis at five stops: near (yellow) to far (purple)
_DEPTH_STOPS = torch.tensor([[0.993, 0.906, 0.144], [0.369, 0.788, 0.384], [0.128, 0.567, 0.551],
                             [0.231, 0.322, 0.546], [0.267, 0.005, 0.329]])


def _bounding_radius(views: PosedViews, bounds: torch.Tensor, resolution: int = 32) -> float:
    """The radius of the origin-centred sphere that NeuS samples: around the masks' visual hull (a cell of margin)
    when the views have masks, else around the box; never beyond the box's corners. A sphere around the box
    spreads the same samples over rays 1.7 times longer than a unit-sphere object needs."""
    corner = float(bounds[1].abs().max()) * 3**0.5
    if views.masks is None:
        return corner
    from ..volumetric import carve_visual_hull

    hull = carve_visual_hull(views.masks, views.cameras, resolution, bounds.tolist()).grids_list()[0]
    if not bool(hull.any()):
        return corner
    cell = (bounds[1] - bounds[0]) / resolution
    zyx = hull.nonzero().to(bounds.dtype)
    centres = bounds[0] + (zyx.flip(1) + 0.5) * cell
    return min(corner, float(centres.norm(dim=1).max() + 1.5 * cell.norm()))


def depth_colors(depth: torch.Tensor, opacity: torch.Tensor) -> torch.Tensor:
    """Depth maps ``(N, H, W)`` as pictures ``(N, H, W, 3)``: viridis from the nearest depth seen (yellow) to
    the farthest (purple) over all maps, black where ``opacity (N, H, W)`` is under 0.5."""
    seen = opacity > 0.5
    if not bool(seen.any()):
        return depth.new_zeros(*depth.shape, 3)
    lo, hi = float(depth[seen].min()), float(depth[seen].max())
    t = ((depth - lo) / max(hi - lo, 1e-8)).clamp(0, 1) * (len(_DEPTH_STOPS) - 1)
    i = t.floor().long().clamp(max=len(_DEPTH_STOPS) - 2)
    w = (t - i)[..., None]
    stops = _DEPTH_STOPS.to(depth)
    return (stops[i] * (1 - w) + stops[i + 1] * w) * seen[..., None]


def _mesh_depth(mesh, cameras, image_size) -> torch.Tensor:
    """``(N, H, W)`` view depth of the nearest face of ``mesh`` (one mesh) by each camera, 0 where none."""
    raster = MeshRasterizer(cameras=cameras, raster_settings=RasterizationSettings(image_size=image_size))
    zbuf = raster(mesh.extend(len(cameras))).zbuf[..., 0]
    return zbuf.clamp_min(0)


def _mesh_views(mesh, cameras, image_size) -> dict:
    """Unlit vertex-colour renders of ``mesh``: premultiplied ``rgb (N, H, W, 3)``, ``opacity``, ``depth``."""
    seen = render_views(mesh, cameras, image_size)
    return {"rgb": seen.images * seen.masks[..., None], "opacity": seen.masks,
            "depth": _mesh_depth(mesh, cameras, image_size)}


@register
class ReconstructViews(Method):
    id = "reconstruct-views"
    label = "Reconstruct from views"
    description = (
        "Turn posed images (a NeRF transforms.json, a NeRF-synthetic folder, or images with a cameras file) into "
        "a mesh with vertex colours by silhouette carving, a density grid, a NeRF or a neural surface; held-out "
        "views are rendered and scored (PSNR, SSIM, mask IoU)."
    )
    inputs = (Input("views", ("views",), "posed images (masks from alpha or mask files are used when present); "
                                         "views in a 'test' split are held out"),)
    params = (
        Param("strategy", "nerf", "hull: silhouette carving (needs masks, seconds, no concavities); volume: "
                                    "density grid; nerf: NeRF on a dense grid (best pictures and mesh in a minute); surface: "
                                    "NeuS SDF (cleanest mesh given many minutes)",
              choices=STRATEGIES),
        Param("seconds", 60.0, "training time budget (volume, nerf, surface)", minimum=1.0, maximum=86_400.0),
        Param("steps", 0, "training step limit (0: the budget alone for nerf and surface; 600 for volume)",
              minimum=0, maximum=10_000_000),
        Param("field", "grid", "the NeRF's field: grid (dense grid), hash (hash grid) or mlp (slow)",
              choices=("grid", "hash", "mlp")),
        Param("resolution", 96, "marching-cubes (and hull carving) cells per axis of the mesh", minimum=16, maximum=512),
        Param("extent", 1.0, "the object lies in [-extent, extent]^3 (world units); every camera must see it",
              minimum=1e-3, maximum=1e4),
        Param("holdout", 0.0, "fraction of the views held out for scoring when the views have no test split",
              minimum=0.0, maximum=0.9),
    )
    outputs = (
        Output("mesh", "mesh", "the reconstructed surface with vertex colours"),
        Output("renders", "image", "held-out views rendered by the reconstruction (top) above the truth (bottom); "
                                   "training views when none are held out; views enlarged (nearest) to at least 256 px"),
        Output("depth", "image", "depth maps of the same views: viridis from near (yellow) to far (purple), black "
                                 "where nothing is seen; the strategy's expected depth (nerf, surface) or the mesh's"),
    )

    def run(self, inputs, params, progress) -> Result:
        """Reconstruct ``inputs["views"]``; metrics ``seconds`` (training) and, with held-out views, ``psnr``,
        ``ssim`` (and ``mask_iou`` with masks): means, per view in ``extra``."""
        views: PosedViews = inputs["views"]
        extent, strategy = float(params["extent"]), params["strategy"]
        if "test" not in views.splits and params["holdout"] > 0:
            views = PosedViews(views.images, views.cameras, views.masks, views.file_names,
                               holdout_splits(len(views), params["holdout"]))
        bounds = torch.tensor([[-extent] * 3, [extent] * 3], device=views.images.device)
        # every camera must see the box, and the hull needs masks: errors before any training
        check_cameras_see_bounds(views.cameras, bounds, views.image_size, views.file_names)
        if strategy == "hull" and views.masks is None:
            raise ValueError("views: expected masks (alpha or mask files) for the hull strategy, found views "
                             "without masks; use strategy volume, nerf or surface")
        held = [i for i, s in enumerate(views.splits) if s == "test"]
        train_idx = [i for i, s in enumerate(views.splits) if s == "train"] or \
            [i for i, s in enumerate(views.splits) if s != "test"]
        if not train_idx:
            raise ValueError(f"views: expected training views besides the {len(held)} held out, found none")
        train = views.subset(train_idx)
        shown = views.subset(held[:_SHOWN_VIEWS] if held else train_idx[:_SHOWN_VIEWS])
        evaluated = views.subset(held) if held else None

        t0 = time.perf_counter()
        notes: list[str] = []
        extra: dict = {"strategy": strategy}
        mesh, render, tracker = getattr(self, f"_{strategy}")(train, params, progress, bounds, notes, extra)
        train_seconds = time.perf_counter() - t0
        metrics = {"seconds": train_seconds}
        extra.update(train_views=len(train), held_out_views=len(held), extent=extent)
        if tracker.history:
            metrics["loss"] = tracker.history[-1]
        if evaluated is not None:
            out = render(evaluated)
            truth = evaluated.images * (evaluated.masks[..., None] if evaluated.masks is not None else 1.0)
            rgb = out["rgb"].clamp(0, 1)
            scores = {"psnr": psnr(rgb, truth)}
            if min(evaluated.image_size) >= 11:
                scores["ssim"] = ssim(rgb, truth)
            if evaluated.masks is not None:
                scores["mask_iou"] = silhouette_iou(out["opacity"], evaluated.masks)
            for name, per_view in scores.items():
                metrics[name] = float(per_view.mean())
                extra[f"{name}_per_view"] = {n: float(v) for n, v in zip(evaluated.file_names, per_view)}
            out = {k: v[: len(shown)] for k, v in out.items()}
        else:
            out = render(shown)
        rgb = out["rgb"].clamp(0, 1)
        top = torch.cat(list(rgb), 1)
        renders = top
        if held:
            truth = shown.images * (shown.masks[..., None] if shown.masks is not None else 1.0)
            renders = torch.cat([top, torch.cat(list(truth), 1)], 0)
        depth = torch.cat(list(depth_colors(out["depth"], out["opacity"])), 1)
        renders = enlarge_nearest(renders, _SHOWN_SIZE * renders.shape[0] // out["rgb"].shape[1])
        depth = enlarge_nearest(depth, _SHOWN_SIZE)
        outputs = {"mesh": mesh.cpu(), "renders": renders.cpu(), "depth": depth.cpu()}
        result = tracker.result(outputs, metrics, **extra)
        result.warnings = notes
        return result

    # ------------------------------------------------------------------ strategies
    # each: (training views, params, progress, bounds (2, 3), notes: list to add warnings to, extra: dict of facts for
    # the summary, e.g. "steps" when progress counts percent of the budget) -> (mesh, render(views) -> {"rgb"
    # premultiplied (N, H, W, 3), "opacity" (N, H, W), "depth" (N, H, W)}, Tracker)

    def _hull(self, train, params, progress, bounds, notes, extra):
        from ..volumetric import visual_hull_mesh

        tracker = Tracker(progress, 1)
        mesh, _ = visual_hull_mesh(train, params["resolution"], bounds.tolist())
        tracker.progress(1, 1, float("nan"), mesh)
        return mesh, lambda v: _mesh_views(mesh, v.cameras, v.image_size), tracker

    def _volume(self, train, params, progress, bounds, notes, extra):
        from ..volumetric import fit_density_grid, grid_volumes, render_volume_views, volume_mesh

        extent, res, steps = float(bounds[1, 0]), params["resolution"], params["steps"] or 600
        resolutions = sorted({max(res >> 1, 4), res})
        tracker = Tracker(progress, steps, snapshots=_PREVIEWS, preview_every=max(1, steps // _PREVIEWS))
        start, budget = time.perf_counter(), params["seconds"]

        def preview(snapshot):
            return volume_mesh(grid_volumes(*snapshot(), extent), extent).cpu()

        def on_step(step, loss, snapshot):
            go = tracker.update(step, loss, lambda: preview(snapshot), keep=snapshot)
            return go and time.perf_counter() - start < budget

        fit = fit_density_grid(train, extent=extent, resolutions=resolutions, steps=steps, seed=params["seed"],
                               on_step=on_step)
        volume = grid_volumes(*tracker.best_state, extent) if tracker.cancelled and tracker.best_state else fit.volume
        mesh = volume_mesh(volume, extent)
        if mesh.isempty():  # too few steps to reach the default level: mesh at half the densest voxel
            level = 0.5 * float(volume.densities().max())
            notes.append(f"mesh: no density reached 0.2 in {len(fit.history)} steps; meshed at {level:.3g} (half the "
                         "largest density) instead: train longer for a denser grid")
            mesh = volume_mesh(volume, extent, level)

        def render(v):
            rgb, opacity = render_volume_views(volume, v.cameras, v.image_size, fit.near, fit.far)
            return {"rgb": rgb, "opacity": opacity, "depth": _mesh_depth(mesh, v.cameras, v.image_size)}

        return mesh, render, tracker

    def _nerf(self, train, params, progress, bounds, notes, extra):
        from ..nerf import NeRF, NeRFConfig, nerf_mesh, train_nerf

        budget, steps = params["seconds"], params["steps"] or None
        # progress in percent of the budget; mesh previews (and progress.gif's frames) at the snapshot percents
        tracker = Tracker(progress, 100, snapshots=_PREVIEWS, preview_every=100)
        due = sorted(tracker.snapshot_steps)
        torch.manual_seed(params["seed"])
        nerf = NeRF(NeRFConfig(field=params["field"], bound=float(bounds[1, 0]))).to(train.images.device)
        shown = [-1]

        def on_row(row):  # train_nerf calls it every 50 steps and at evaluations; False stops it
            done = max(row["seconds"] / budget, row["step"] / steps if steps else 0.0)
            percent = min(int(100 * done), 99)
            if percent <= shown[0]:  # the budget's percent has not moved: nothing to report
                return not tracker.cancelled
            # rows come every 50 steps: a snapshot percent passed since the last row is reported (not skipped)
            passed = [s for s in due if shown[0] < s <= percent]
            shown[0] = passed[-1] if passed else percent
            return tracker.update(shown[0], row["loss"], lambda: nerf_mesh(nerf, _PREVIEW_RESOLUTION).cpu())

        nerf, history = train_nerf(train, seconds=budget, steps=steps, progress=on_row, seed=params["seed"], nerf=nerf)
        extra["steps"] = history[-1]["step"]  # optimiser steps (progress counted percent of the budget)
        mesh = nerf_mesh(nerf, params["resolution"])
        if mesh.isempty():  # too short a training to reach the default level: mesh at half the largest density
            with torch.no_grad():
                axis = torch.linspace(-nerf.bound, nerf.bound, _PREVIEW_RESOLUTION, device=nerf.background.device)
                level = 0.5 * float(nerf.model.density(torch.cartesian_prod(axis, axis, axis)).max())
            notes.append(f"mesh: the NeRF's density nowhere reached the default surface level; meshed at {level:.3g} "
                         "(half the largest density) instead: train longer for a denser field")
            mesh = nerf_mesh(nerf, params["resolution"], threshold=level)

        def render(v):
            with torch.no_grad():
                out = nerf.render(v.cameras, v.image_size)
            # NeRF renders over its background: premultiply for the same comparison as the other strategies
            rgb = out["rgb"] - (1 - out["opacity"][..., None]) * nerf.background
            return {"rgb": rgb, "opacity": out["opacity"], "depth": out["depth"]}

        return mesh, render, tracker

    def _surface(self, train, params, progress, bounds, notes, extra):
        from ..surfaces import surface_model, train_surface

        budget, limit = params["seconds"], params["steps"]
        extra["sphere_radius"] = _bounding_radius(train, bounds)
        model = surface_model(radius=extra["sphere_radius"])  # train_surface's default field
        # progress counts steps when there is a step limit, else percent of the time budget
        total = limit or 100
        tracker = Tracker(progress, total, snapshots=_PREVIEWS, preview_every=max(1, total // _PREVIEWS))
        start, shown = time.perf_counter(), [-1]

        def on_step(step, _, loss):
            count = step - 1 if limit else min(int(100 * (time.perf_counter() - start) / budget), 99)
            if count == shown[0]:  # the budget's percent has not moved: nothing to report
                return not tracker.cancelled
            shown[0] = count
            return tracker.update(count, loss, lambda: model.mesh(_PREVIEW_RESOLUTION).detach().cpu())

        # steps 0: the time budget alone (train_surface decays its learning rate over whichever ends first)
        model, history = train_surface(train, seconds=budget, steps=limit or 10_000_000, progress=on_step, model=model,
                                 seed=params["seed"])
        extra["steps"] = history["step"][-1] if history["step"] else 0  # optimiser steps (progress counted percent)
        mesh = model.mesh(params["resolution"])
        if mesh.isempty():
            raise ValueError("views: the signed distance field has no zero level inside the bounds; train longer")

        def render(v):
            out = model.render_views(v.cameras, v.image_size)
            return {"rgb": out["color"], "opacity": out["opacity"], "depth": out["depth"]}

        return mesh, render, tracker

    # ------------------------------------------------------------------ example and pictures
    def example_inputs(self, seed: int = 0) -> dict:
        """The example scene (:func:`unrender.render.example_views`: a coloured torus around a ball) at a
        small size: 20 + 4 held-out views at 64x64."""
        from ..render import example_views

        views, _ = example_views(20, 4, 64, seed=seed, detail=1)
        return {"views": views}

    def pictures(self, inputs: dict, result: Result) -> dict:
        """``turntable``: 24 frames of the coloured mesh turning (GIF), and the default pictures (the mesh,
        ``progress`` when there are previews)."""
        from .pictures import default_pictures

        pics = default_pictures(self, inputs, result)
        mesh = result.outputs["mesh"]
        pics["turntable"] = turntable(mesh, n_frames=24, image_size=192, elevation=25.0, up=up_axis(),
                                      textures=mesh.textures, background=(0.0, 0.0, 0.0))
        return pics
