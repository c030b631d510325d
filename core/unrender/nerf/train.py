"""Training a NeRF on posed views: random ray batches, Adam, an occupancy grid for the packed sampler.

    nerf, history = train_nerf(views, field="hash", seconds=600, held_out=test_views)

``history`` rows are ``{"seconds", "step", "loss", "psnr"}`` (``psnr``: mean over the
held-out views, only at evaluations); ``seconds`` counts training time only.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import torch
from torch import nn

from .._validate import check_positive_int
from ..fields import HashGridEncoding
from ..io.views import PosedViews
from ..metrics import psnr
from .model import NeRFConfig, NeRFModel
from .occupancy import OccupancyGrid
from .optim import RowAdam
from ..render.volume import pixel_rays, ray_box_bounds
from .render import render_rays_hierarchical, render_rays_packed, render_views

__all__ = ["NeRF", "SAMPLERS", "nerf_optimizers", "train_nerf", "training_rays"]

SAMPLERS = ("occupancy", "hierarchical")


class NeRF(nn.Module):
    """A trained (or training) NeRF: its model(s), how rays are sampled and the background.

    ``sampler="occupancy"``: one model, fixed steps of ``2 sqrt(3) bound / steps_per_ray``
    through an :class:`OccupancyGrid`. ``"hierarchical"``: coarse and fine models,
    ``n_coarse`` + ``n_fine`` samples per ray.
    """

    def __init__(self, config: NeRFConfig, sampler: str = "occupancy", background=(1.0, 1.0, 1.0),
                 steps_per_ray: int = 256, grid_resolution: int = 64, n_coarse: int = 64, n_fine: int = 64):
        super().__init__()
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler: expected one of {SAMPLERS}, found {sampler!r}")
        self.sampler = sampler
        self.model = NeRFModel(config)
        self.coarse = NeRFModel(config) if sampler == "hierarchical" else None
        self.step = 2 * math.sqrt(3) * config.bound / check_positive_int("steps_per_ray", steps_per_ray)
        # a cell is empty when a step through it would absorb under 1% of the light
        self.grid = (OccupancyGrid(config.bound, grid_resolution, threshold=0.01 / self.step)
                     if sampler == "occupancy" else None)
        self.n_coarse, self.n_fine = n_coarse, n_fine
        self.register_buffer("background", torch.tensor(background, dtype=torch.float32))

    @property
    def bound(self) -> float:
        return self.model.bound

    def render_rays(self, origins, directions, near, far, train: bool = False, background=None) -> dict:
        """``(R, 3)`` rays with ``(R,)`` near / far -> ``{"rgb", "depth", "opacity", ...}`` (see :mod:`.render`);
        ``background``: ``(3,)`` or ``(R, 3)``, default ``self.background``."""
        bg = self.background if background is None else background
        if self.sampler == "occupancy":
            return render_rays_packed(self.model, origins, directions, near, far, self.step, self.grid, bg,
                                      jitter=train)
        return render_rays_hierarchical(self.coarse, self.model, origins, directions, near, far, self.n_coarse,
                                        self.n_fine, bg, stratified=train)

    def render(self, cameras, image_size: tuple[int, int], chunk: int = 8192) -> dict:
        """Views of ``cameras``: ``{"rgb": (N, H, W, 3), "depth": (N, H, W), "opacity": (N, H, W)}``."""
        return render_views(self.render_rays, cameras, image_size, self.bound, chunk)


def training_rays(views: PosedViews, bound: float) -> dict:
    """Every pixel's ray of ``views`` that crosses the scene box: ``{"origins", "directions", "near", "far",
    "rgb", "mask"}``, ``(R, 3)`` / ``(R,)`` (straight colour; mask 1 without masks)."""
    origins, directions = pixel_rays(views.cameras, views.image_size)
    mask = views.masks if views.masks is not None else views.images.new_ones(views.images.shape[:3])
    o, d = origins.reshape(-1, 3), directions.reshape(-1, 3)
    rgb, mask = views.images.reshape(-1, 3), mask.reshape(-1)
    near, far = ray_box_bounds(o, d, bound)
    hit = far > near
    return {"origins": o[hit], "directions": d[hit], "near": near[hit], "far": far[hit], "rgb": rgb[hit],
            "mask": mask[hit]}


def nerf_optimizers(module: nn.Module, lr: float, head_lr: float | None = None) -> list[torch.optim.Optimizer]:
    """Adam for ``module``'s parameters: :class:`RowAdam` (learning rate ``lr``) for the tables of its
    :class:`~unrender.fields.HashGridEncoding` s (grid and hash fields), ``torch.optim.Adam``
    (``head_lr``, default ``lr``) for the rest. Both with instant-ngp's ``betas=(0.9, 0.99), eps=1e-15``."""
    tables = {id(m.table) for m in module.modules() if isinstance(m, HashGridEncoding)}
    rows = [p for p in module.parameters() if id(p) in tables]
    dense = [p for p in module.parameters() if id(p) not in tables]
    opts: list[torch.optim.Optimizer] = []
    if rows:
        opts.append(RowAdam(rows, lr=lr, betas=(0.9, 0.99), eps=1e-15))
    if dense:
        opts.append(torch.optim.Adam(dense, lr=lr if head_lr is None else head_lr, betas=(0.9, 0.99), eps=1e-15))
    for o in opts:
        for g in o.param_groups:
            g["initial_lr"] = g["lr"]
    return opts


def _held_out_psnr(nerf: NeRF, views: PosedViews, chunk: int) -> float:
    img = nerf.render(views.cameras, views.image_size, chunk)["rgb"]
    target = views.images
    if views.masks is not None:
        m = views.masks[..., None]
        target = target * m + nerf.background * (1 - m)
    return float(psnr(img.clamp(0, 1), target).mean())


def train_nerf(views: PosedViews, field: str = "hash", *, seconds: float | None = None, steps: int | None = None,
               progress: Callable[[dict], None] | None = None, held_out: PosedViews | None = None,
               eval_every: float = 30.0, batch_rays: int = 1024, lr: float | None = None, bound: float = 1.0,
               sampler: str | None = None, background=(1.0, 1.0, 1.0), grid_every: int = 16, seed: int = 0,
               config: dict | None = None, nerf_options: dict | None = None, chunk: int = 8192,
               lr_decay: float = 30.0, head_lr: float | None = None,
               grid_growth: tuple[tuple[float, int], ...] | None = None, nerf: NeRF | None = None):
    """Fit a NeRF to ``views`` for ``seconds`` of training and / or ``steps`` steps (one of them needed).

    field: ``"hash"``, ``"grid"`` or ``"mlp"``; sampler: ``"occupancy"`` (default) or
    ``"hierarchical"`` (NeRF's coarse + fine networks). ``held_out``: views rendered every
    ``eval_every`` training seconds and at the end (PSNR in the history). ``progress(row)``
    is called with every history row; training stops when it returns ``False``. The learning rate decays exponentially to ``lr / lr_decay``
    over the budget. With masks, each training ray gets a random background
    colour (renders use ``background``). ``batch_rays`` 1024: on the CPU more, smaller steps fit
    the budget better than fewer big ones (a 64^3 grid: 21.6 dB after 50 s against 16.6 dB with 4096).
    ``lr``: the field's (grid / hash tables, :func:`nerf_optimizers`); ``head_lr``: the colour head's and the
    MLP field's. ``grid_growth``: ``((fraction, resolution), ...)``: the ``"grid"`` field is upsampled to
    ``resolution`` cells when that fraction of the budget is done (coarse to fine). ``nerf``: train this
    :class:`NeRF` (one the caller made, to watch it train or to train it on); ``field``, ``bound``, ``sampler``,
    ``background``, ``config`` and ``nerf_options`` are then its own. Returns ``(nerf, history)``.
    """
    if seconds is None and steps is None:
        raise ValueError("seconds, steps: expected a time or step budget, found neither")
    check_positive_int("batch_rays", batch_rays)
    torch.manual_seed(seed)
    if nerf is None:
        cfg = NeRFConfig(field=field, bound=bound, **(config or {}))
        nerf = NeRF(cfg, sampler or "occupancy", background, **(nerf_options or {}))
    elif not isinstance(nerf, NeRF):
        raise ValueError(f"nerf: expected an unrender.nerf.NeRF, found {type(nerf).__name__}")
    else:
        field, bound = nerf.model.config.field, nerf.bound
    if lr is None:
        lr = {"mlp": 5e-4, "grid": 0.2, "hash": 1e-2}[field]
    if head_lr is None:
        head_lr = {"mlp": lr, "grid": 1e-2, "hash": 1e-2}[field]
    opts = nerf_optimizers(nerf, lr, head_lr)
    growth = sorted(grid_growth or ()) if field == "grid" else []
    rays = training_rays(views, bound)
    random_background = views.masks is not None
    n = rays["rgb"].shape[0]
    if n == 0:
        raise ValueError("views: expected rays that cross the scene box, found none (cameras do not see the bounds)")
    history: list[dict] = []
    trained, step, next_eval = 0.0, 0, eval_every

    def record(loss, with_eval):
        row = {"seconds": trained, "step": step, "loss": loss, "psnr": None}
        if with_eval and held_out is not None:
            row["psnr"] = _held_out_psnr(nerf, held_out, chunk)
        history.append(row)
        return progress is None or progress(row) is not False

    loss = float("nan")
    while (seconds is None or trained < seconds) and (steps is None or step < steps):
        t0 = time.perf_counter()
        done = max(trained / seconds if seconds else 0.0, step / steps if steps else 0.0)
        if growth and done >= growth[0][0]:
            nerf.model.field.upsample(growth[0][1])
            nerf.model.config.grid_resolution = growth.pop(0)[1]
            opts = nerf_optimizers(nerf, lr, head_lr)  # the table is a new parameter (fresh moments)
        for o in opts:
            for g in o.param_groups:  # exponential decay to lr / lr_decay over the budget
                g["lr"] = g["initial_lr"] * lr_decay ** (-done)
        if nerf.grid is not None and step % grid_every == 0:
            nerf.grid.update(nerf.model.density, fraction=1.0 if step < 256 else 0.25)
        idx = torch.randint(0, n, (batch_rays,))
        # with masks a colour per ray: empty space cannot pass for the background (instant-ngp)
        bg = torch.rand(batch_rays, 3) if random_background else nerf.background
        out = nerf.render_rays(rays["origins"][idx], rays["directions"][idx], rays["near"][idx], rays["far"][idx],
                               train=True, background=bg)
        m = rays["mask"][idx, None]
        target = rays["rgb"][idx] * m + bg * (1 - m)
        err = ((out["rgb"] - target) ** 2).mean()
        total = err + ((out["coarse_rgb"] - target) ** 2).mean() if "coarse_rgb" in out and nerf.coarse else err
        for o in opts:
            o.zero_grad(set_to_none=True)
        if total.requires_grad:  # a batch whose rays all cross empty cells has nothing to train
            total.backward()
            for o in opts:
                o.step()
        step += 1
        loss = err.item()
        trained += time.perf_counter() - t0
        if trained >= next_eval:
            going = record(loss, True)
            next_eval += eval_every
        elif step % 50 == 0:
            going = record(loss, False)
        else:
            going = True
        if not going:  # cancelled: the NeRF as it is now
            break
    if not history or history[-1]["step"] != step or (held_out is not None and history[-1]["psnr"] is None):
        record(loss, True)
    return nerf, history
