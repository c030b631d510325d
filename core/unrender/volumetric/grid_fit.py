"""A density + colour grid fitted to posed images by differentiable volume rendering.

The grid is a :class:`~unrender.structures.Volumes` on the cube ``[-extent, extent]^3`` (voxel
centres at the corners, ``align_corners=True``): densities ``sigmoid(logits)`` are per-sample
opacities for the :class:`EmissionAbsorptionRaymarcher`, colours ``sigmoid(logits)``. Each step
renders a random batch of rays (:class:`MonteCarloRaysampler` on a few training views, the rays of
all of them through one :class:`VolumeSampler` and the :class:`EmissionAbsorptionRaymarcher`: the
pieces of :class:`VolumeRenderer`, without a copy of the grid per view) and minimises the colour error (premultiplied: black where the mask is
empty), the opacity error against the masks when there are masks, and a total-variation term on
both grids. The grid goes coarse to fine: the logits are upsampled trilinearly at each new
resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from .._validate import check_positive_int
from ..geometry import marching_cubes
from ..render.textures import TexturesVertex
from ..render.volume import (EmissionAbsorptionRaymarcher, MonteCarloRaysampler, NDCMultinomialRaysampler, RayBundle,
                             VolumeRenderer, VolumeSampler)
from ..structures import Meshes, Volumes
from .views_sampling import check_cameras_see_bounds, sample_views

__all__ = ["GridFit", "grid_volumes", "total_variation", "render_volume_views", "volume_mesh", "fit_density_grid", "fill_cavities",
           "depth_range"]

_INIT_DENSITY_LOGIT = -5.0  # sigmoid: 0.007 per sample, so rays start mostly transparent


def grid_volumes(density_logits: torch.Tensor, color_logits: torch.Tensor, extent: float, batch: int = 1) -> Volumes:
    """``Volumes`` of ``batch`` copies of one grid: ``density_logits (D, H, W)``, ``color_logits (3, D, H, W)``
    on ``[-extent, extent]^3`` (corner voxel centres on the box's faces)."""
    res = torch.tensor(density_logits.shape, dtype=torch.float32)
    dens = torch.sigmoid(density_logits)[None, None].expand(batch, -1, -1, -1, -1)
    cols = torch.sigmoid(color_logits)[None].expand(batch, -1, -1, -1, -1)
    voxel = (2 * extent / (res.flip(0) - 1)).tolist()
    return Volumes(dens, cols, voxel_size=[voxel] * batch, align_corners=True)


def total_variation(grid: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring voxels of ``grid (C, D, H, W)`` along the three axes."""
    return sum(torch.diff(grid, dim=d).pow(2).mean() for d in (1, 2, 3))


def depth_range(cameras, extent: float) -> tuple[float, float]:
    """``(near, far)`` view depths covering the cube ``[-extent, extent]^3`` from every camera."""
    dist = cameras.get_camera_center().norm(dim=-1)
    r = extent * math.sqrt(3)
    return max(float(dist.min()) - r, 0.05 * r), float(dist.max()) + r


@torch.no_grad()
def render_volume_views(volume: Volumes, cameras, image_size, near: float, far: float,
                        n_pts_per_ray: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """Full images of one volume by each camera: ``(rgb (N, H, W, C) premultiplied, opacity (N, H, W))``."""
    H, W = int(image_size[0]), int(image_size[1])
    renderer = VolumeRenderer(NDCMultinomialRaysampler(image_width=W, image_height=H, n_pts_per_ray=n_pts_per_ray,
                                                       min_depth=near, max_depth=far),
                              EmissionAbsorptionRaymarcher())
    rgb, alpha = [], []
    for k in range(len(cameras)):
        out, _ = renderer(cameras[k], volume)
        rgb.append(out[0, ..., :-1])
        alpha.append(out[0, ..., -1])
    return torch.stack(rgb), torch.stack(alpha)


def fill_cavities(occupied: torch.Tensor, close: int = 0) -> torch.Tensor:
    """``occupied (D, H, W)`` bool with every empty region that does not reach the grid's border filled.

    ``close``: also fill regions that reach the border only through gaps at most ``2 close`` voxels wide
    (the outside is flood-filled through the empty voxels at least ``close + 1`` voxels from an occupied
    one, then grown back by ``close``): a NeRF's opaque shell is often hollow with a few leaks, and its
    inside is then a false inner wall, not the object's surface. Empty concavities narrower than
    ``2 close`` voxels are filled too.
    """
    check_positive_int("close", close, minimum=0)
    blocked = _dilate(occupied, close) if close else occupied
    free = ~blocked
    border = torch.ones_like(occupied)
    border[1:-1, 1:-1, 1:-1] = False
    outside = free & border
    while True:  # grow the outside through free voxels until it stops
        grown = _dilate(outside, 1) & free
        if torch.equal(grown, outside):
            break
        outside = grown
    if close:
        outside = _dilate(outside, close) & ~occupied
    return ~outside


def _dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """``mask (D, H, W)`` bool grown by ``radius`` voxels (a cube)."""
    return F.max_pool3d(mask[None, None].float(), 2 * radius + 1, 1, radius)[0, 0].bool()


@torch.no_grad()
def volume_mesh(volume: Volumes, extent: float, threshold: float = 0.2) -> Meshes:
    """Marching cubes on the density of one volume at ``threshold`` after filling its cavities (empty
    space no ray from outside reaches: the inside of an opaque shell), vertex colours sampled
    trilinearly from its colour grid (``TexturesVertex``); empty when nothing reaches it."""
    dens = volume.densities()[0, 0]
    dens = torch.where(fill_cavities(dens > threshold), dens.clamp_min(threshold + 1e-3), dens)
    res = torch.tensor(dens.shape, dtype=torch.float64).flip(0)
    half = extent + extent / (res - 1)  # voxel values sit at centres: the box reaches half a voxel past them
    mesh = marching_cubes(dens, threshold, torch.stack([-half, half]))
    if mesh.isempty():
        return mesh
    v = mesh.verts_list()[0]
    feats = volume.features()
    local = (v / extent).to(feats.dtype)
    colors = F.grid_sample(feats[:1], local[None, :, None, None], align_corners=True)[0, :, :, 0, 0].T
    return Meshes([v], [mesh.faces_list()[0]], textures=TexturesVertex([colors.clamp(0, 1)]))


@dataclass
class GridFit:
    """What :func:`fit_density_grid` gives: the ``volume`` (one ``Volumes``: densities in [0, 1],
    colours), the depth range used, the loss at every step, whether it was cancelled."""

    volume: Volumes
    extent: float
    near: float
    far: float
    history: list[float] = field(default_factory=list)
    cancelled: bool = False


def fit_density_grid(views, *, extent: float = 1.0, resolutions=(32, 64), steps: int = 600, views_per_step: int = 8,
                     rays_per_view: int = 512, n_pts_per_ray: int = 96, lr: float = 0.1, tv_weight: float = 0.05,
                     mask_weight: float = 1.0, seed: int = 0,
                     on_step: Callable[[int, float, Callable[[], tuple]], bool] | None = None) -> GridFit:
    """Fit a density + colour grid to ``views`` (their training split, or every view when none is marked).

    Args:
        views: :class:`~unrender.io.views.PosedViews` (masks optional).
        extent: the grid covers ``[-extent, extent]^3`` (world units); every camera must see it.
        resolutions: grid cells per axis, one stage each, coarse to fine; ``steps`` split evenly.
        views_per_step, rays_per_view: the random ray batch of a step. n_pts_per_ray: stratified depths.
        tv_weight: total variation weight (densities and colours). mask_weight: opacity-vs-mask weight.
        on_step: ``on_step(step, loss, snapshot) -> bool``, ``False`` stops; ``snapshot()`` gives the
            ``(density_logits, color_logits)`` that gave this loss (detached copies; rebuild a volume
            with :func:`grid_volumes`).
    Returns:
        :class:`GridFit`.
    """
    check_positive_int("steps", steps)
    res_list = [check_positive_int("resolutions", int(r), minimum=4) for r in resolutions]
    if not res_list:
        raise ValueError("resolutions: expected at least one grid size, found none")
    train = views.select("train") if "train" in views.splits else views
    H, W = train.image_size
    device = train.images.device
    bounds = torch.tensor([[-extent] * 3, [extent] * 3], device=device)
    check_cameras_see_bounds(views.cameras, bounds, views.image_size, views.file_names)
    near, far = depth_range(views.cameras, extent)
    s = min(H, W)
    sampler = MonteCarloRaysampler(-W / s, W / s, -H / s, H / s, rays_per_view, n_pts_per_ray, near, far,
                                   stratified_sampling=True)
    raymarcher = EmissionAbsorptionRaymarcher()
    target = train.images * (train.masks[..., None] if train.masks is not None else 1.0)
    target = torch.cat([target, train.masks[..., None]], -1) if train.masks is not None else target
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the Monte Carlo raysampler draws from the global generator
    n = len(train)
    k = min(views_per_step, n)

    r0 = res_list[0]
    dens = torch.full((r0, r0, r0), _INIT_DENSITY_LOGIT, device=device)
    cols = torch.zeros((3, r0, r0, r0), device=device)
    history: list[float] = []
    per_stage = [steps // len(res_list) + (1 if i < steps % len(res_list) else 0) for i in range(len(res_list))]
    step, cancelled = 0, False
    for res, count in zip(res_list, per_stage):
        if dens.shape[0] != res:
            dens = F.interpolate(dens[None, None], size=(res,) * 3, mode="trilinear", align_corners=True)[0, 0]
            cols = F.interpolate(cols[None], size=(res,) * 3, mode="trilinear", align_corners=True)[0]
        dens, cols = dens.detach().requires_grad_(True), cols.detach().requires_grad_(True)
        opt = torch.optim.Adam([dens, cols], lr=lr)
        for _ in range(count):
            idx = torch.randperm(n, generator=gen)[:k].tolist()
            # The rays of the k views go through one volume as one batch (no per-view copies of the grid).
            b = sampler(train.cameras[idx])
            one = RayBundle(*(t.reshape(1, -1, t.shape[-1]) for t in b[:3]), b.xys)
            out = raymarcher(*VolumeSampler(grid_volumes(dens, cols, extent))(one)).reshape(k, rays_per_view, 4)
            xy = b.xys
            grid = torch.stack([-xy[..., 0] * s / W, -xy[..., 1] * s / H], -1)
            tgt = sample_views(target[idx], grid)
            loss = F.mse_loss(out[..., :3], tgt[..., :3])
            if train.masks is not None:
                loss = loss + mask_weight * F.mse_loss(out[..., 3], tgt[..., 3])
            tv = total_variation(torch.sigmoid(dens)[None]) + total_variation(torch.sigmoid(cols))
            total = loss + tv_weight * tv
            opt.zero_grad(set_to_none=True)
            total.backward()
            value = float(loss.detach())
            snap = (dens.detach().clone(), cols.detach().clone())  # the state that gave this loss
            opt.step()
            history.append(value)
            if on_step is not None and on_step(step, value, lambda: snap) is False:
                cancelled = True
                break
            step += 1
        if cancelled:
            break
    return GridFit(grid_volumes(dens.detach(), cols.detach(), extent), extent, near, far, history, cancelled)
