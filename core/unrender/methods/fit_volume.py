"""``fit-volume``: a density + colour grid fitted to posed images by volume rendering.

The job (:func:`unrender.volumetric.fit_density_grid`): a grid on ``[-extent, extent]^3``
(densities: per-sample opacities, colours), coarse to fine over ``stages`` resolutions ending at
``resolution``, fitted by Adam to random ray batches of the training views (colour error, opacity
against the masks when the views have masks, total variation). Outputs: the density grid
(``Voxels``), its marching-cubes surface at ``threshold`` with vertex colours from the colour grid,
and a picture of the held-out (``"test"`` split) views rendered next to the truth, with their
PSNR (``psnr``, premultiplied colour on black) in the summary. Views without a test split are all
used for training and no PSNR is given. Previews (and snapshots) are the density grid scaled so that
its 0.5 surface, the one voxels are drawn at, is the mesh's surface at ``threshold``.

Every camera must see the box: a camera that does not is an error naming its frames, before any
training. Scenes larger than the unit sphere need a larger ``extent``.
"""

from __future__ import annotations


import torch

from ..image import enlarge_nearest
from ..metrics import psnr
from ..structures import Voxels
from ..volumetric import fit_density_grid, grid_volumes, render_volume_views, volume_mesh
from .base import Input, Method, Output, Param, Result
from .pictures import default_pictures
from .registry import register
from .runner import Tracker

__all__ = ["FitVolume"]

_PREVIEWS = 20
_SHOWN_VIEWS = 4  # held-out views in the renders picture
_SHOWN_SIZE = 256  # the renders picture's views are upscaled (nearest) to at least this many pixels high


@register
class FitVolume(Method):
    id = "fit-volume"
    label = "Fit volume"
    description = (
        "Fit a density and colour voxel grid to posed images (a transforms.json, its folder, or images "
        "with a cameras file) by differentiable volume rendering; outputs the grid, a coloured mesh and "
        "held-out renders with their PSNR."
    )
    inputs = (Input("views", ("views",), "posed images (masks from alpha or mask files are used when present)"),)
    params = (
        Param("resolution", 64, "grid cells per axis at the finest stage", minimum=8, maximum=256),
        Param("stages", 2, "coarse-to-fine stages (each halves the resolution of the next)", minimum=1, maximum=4),
        Param("steps", 300, "optimisation steps (split evenly over the stages)", minimum=1, maximum=100_000),
        Param("rays", 2048, "rays per step (spread over 8 random training views)", minimum=64, maximum=1 << 20),
        Param("samples", 96, "depth samples per ray", minimum=8, maximum=1024),
        Param("lr", 0.1, "Adam learning rate (logit units)", minimum=1e-6, maximum=10.0),
        Param("tv_weight", 0.05, "total-variation weight on the density and colour grids", minimum=0.0, maximum=100.0),
        Param("extent", 1.0, "the grid covers [-extent, extent]^3 in world units", minimum=1e-3, maximum=1e4),
        Param("threshold", 0.2, "density (per-sample opacity) of the mesh surface", minimum=0.01, maximum=0.99),
    )
    outputs = (
        Output("voxels", "voxels", "the fitted density grid (per-sample opacity in [0, 1]) on its box"),
        Output("mesh", "mesh", "marching cubes of the density at threshold, vertex colours from the colour grid"),
        Output("renders", "image", "held-out views rendered from the grid (top) above the truth (bottom), "
               f"enlarged to at least {_SHOWN_SIZE} pixels per view"),
    )

    def run(self, inputs, params, progress) -> Result:
        """Fit the grid to ``inputs["views"]``; metrics ``psnr`` (held-out mean, when there is a test
        split) and ``loss`` (the last step's rendering loss)."""
        views = inputs["views"]
        extent, res = float(params["extent"]), params["resolution"]
        resolutions = sorted({max(res >> k, 4) for k in range(params["stages"])})
        steps = params["steps"]
        per_view = max(params["rays"] // 8, 1)
        bounds = torch.tensor([[-extent] * 3, [extent] * 3])
        half = extent * res / (res - 1)  # voxel values sit at centres: the box reaches half a voxel past them
        box = torch.tensor([[-half] * 3, [half] * 3])

        tracker = Tracker(progress, steps, preview_every=max(1, steps // _PREVIEWS))

        level = 0.5 / params["threshold"]  # previews are drawn at 0.5: scaled, their 0.5 surface is the mesh's

        def on_step(step, loss, snapshot):
            return tracker.update(step, loss, lambda: Voxels([(torch.sigmoid(snapshot()[0]) * level).clamp(max=1).cpu()], box),
                                  keep=snapshot)

        fit = fit_density_grid(views, extent=extent, resolutions=resolutions, steps=steps, views_per_step=8,
                               rays_per_view=per_view, n_pts_per_ray=params["samples"], lr=params["lr"],
                               tv_weight=params["tv_weight"], seed=params["seed"], on_step=on_step)
        volume = fit.volume
        if tracker.cancelled and tracker.best_state is not None:
            volume = grid_volumes(*tracker.best_state, extent)
        density = volume.densities()[0, 0]
        mesh = volume_mesh(volume, extent, params["threshold"])
        notes = []
        if mesh.isempty():  # too few steps to reach the threshold: mesh at half the densest voxel instead
            level = 0.5 * float(density.max())
            notes.append(f"mesh: no density reached threshold {params['threshold']}; meshed at {level:.3g} "
                         "(half the largest density) instead: train longer for a denser grid")
            mesh = volume_mesh(volume, extent, level)
        metrics = {"loss": fit.history[-1]}
        extra = {"resolutions": resolutions, "extent": extent, "bounds": bounds.tolist(), "near": fit.near, "far": fit.far}
        if "test" in views.splits:
            test = views.select("test")
            rgb, _ = render_volume_views(volume, test.cameras, test.image_size, fit.near, fit.far, params["samples"])
            truth = test.images * (test.masks[..., None] if test.masks is not None else 1.0)
            per_view_psnr = psnr(rgb.clamp(0, 1), truth)
            metrics["psnr"] = float(per_view_psnr.mean())
            extra["psnr_per_view"] = {n: float(p) for n, p in zip(test.file_names, per_view_psnr)}
            shown = min(len(test), _SHOWN_VIEWS)
            renders = torch.cat([torch.cat(list(rgb[:shown].clamp(0, 1)), 1), torch.cat(list(truth[:shown]), 1)], 0)
            renders = enlarge_nearest(renders, 2 * _SHOWN_SIZE)
        else:
            train = views.subset([0])
            rgb, _ = render_volume_views(volume, train.cameras, train.image_size, fit.near, fit.far, params["samples"])
            renders = enlarge_nearest(rgb[0].clamp(0, 1), _SHOWN_SIZE)
        result = tracker.result({"voxels": Voxels([density.cpu()], box), "mesh": mesh.cpu(), "renders": renders.cpu()},
                                metrics, **extra)
        result.warnings = notes
        return result

    def pictures(self, inputs, result: Result) -> dict:
        """The default pictures with the coloured mesh as the result (the voxels, the first output and
        the kind of the snapshots, have no colours)."""
        return default_pictures(self, inputs, result, shown="mesh")

    def example_inputs(self, seed: int = 0) -> dict:
        """The example scene (:func:`unrender.render.example_views`) at a small size: 20 + 4 views at 64x64."""
        from ..render import example_views

        views, _ = example_views(20, 4, 64, seed=seed, detail=1)
        return {"views": views}
