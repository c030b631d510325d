"""Rendering a NeRF along rays: packed fixed-step samples through an occupancy grid, or NeRF's coarse and
fine stratified sampling (hierarchical, :func:`unrender.render.volume.sample_pdf`); whole views in chunks."""

from __future__ import annotations

import torch

from ..render.volume import jiggle_within_stratas, sample_pdf
from .composite import dense_weights, packed_weights, segment_sum
from .model import NeRFModel
from .occupancy import OccupancyGrid, march_rays
from ..render.volume import pixel_rays, ray_box_bounds

__all__ = ["render_rays_packed", "render_rays_hierarchical", "render_views"]


def render_rays_packed(model: NeRFModel, origins, directions, near, far, step: float, grid: OccupancyGrid | None = None,
                       background: torch.Tensor | None = None, jitter: bool = False, min_weight: float = 1e-4) -> dict:
    """Render ``R`` rays (``origins, directions (R, 3)``, ``near, far (R,)``) with fixed-step samples kept by ``grid``.

    Returns ``{"rgb": (R, 3), "depth": (R,), "opacity": (R,), "samples": int}``; ``depth``
    is the expected ray length normalised by the opacity; ``background (3,)`` fills what
    the ray does not absorb. Colours are computed only for samples of weight above ``min_weight``.
    """
    R = origins.shape[0]
    s = march_rays(origins, directions, near, far, step, grid, jitter=jitter)
    if s.t.shape[0] == 0:  # every ray in empty space
        z = origins.new_zeros(R)
        bg = origins.new_zeros(3) if background is None else background
        return {"rgb": bg.expand(R, 3).clone(), "depth": z, "opacity": z, "samples": 0}
    sigma, features = model.density_and_features(s.points)
    w = packed_weights(sigma, s.delta, s.ray_index)
    # colours only where light still arrives (nerfacc's early stop): behind an opaque surface w ~ 0
    lit = torch.nonzero(w.detach() > min_weight).squeeze(1)
    rgb = model.color(features[lit], s.directions[lit])
    color = segment_sum(w[lit, None] * rgb, s.ray_index[lit], R)
    opacity = segment_sum(w, s.ray_index, R)
    depth = segment_sum(w * s.t, s.ray_index, R) / opacity.clamp_min(1e-10)
    if background is not None:
        color = color + (1 - opacity[:, None]) * background
    return {"rgb": color, "depth": depth, "opacity": opacity, "samples": int(s.t.shape[0])}


def _composite_dense(model, origins, directions, t, far, background):
    """``t (R, P)`` sorted lengths -> rgb, depth, opacity, weights (the last delta reaches ``far``)."""
    pts = origins[:, None] + t[..., None] * directions[:, None]
    dirs = directions[:, None].expand_as(pts)
    sigma, rgb = model(pts.reshape(-1, 3), dirs.reshape(-1, 3))
    sigma, rgb = sigma.view(t.shape), rgb.view(*t.shape, 3)
    deltas = torch.cat([t[:, 1:] - t[:, :-1], (far[:, None] - t[:, -1:]).clamp_min(0)], -1)
    w = dense_weights(sigma, deltas)
    opacity = w.sum(-1)
    color = (w[..., None] * rgb).sum(1)
    if background is not None:
        color = color + (1 - opacity[:, None]) * background
    depth = (w * t).sum(-1) / opacity.clamp_min(1e-10)
    return color, depth, opacity, w


def render_rays_hierarchical(coarse: NeRFModel, fine: NeRFModel | None, origins, directions, near, far,
                             n_coarse: int = 64, n_fine: int = 64, background=None, stratified: bool = True) -> dict:
    """NeRF's two passes: ``n_coarse`` stratified lengths in ``[near, far]`` through ``coarse``, then
    ``n_fine`` more drawn from its weights (``sample_pdf``), all of them through ``fine``.

    Returns ``{"rgb", "depth", "opacity"}`` of the fine pass (the coarse pass when ``fine`` is None),
    ``"coarse_rgb"`` and ``"fine_t"`` (``(R, n_fine)``, the importance samples).
    """
    u = torch.linspace(0, 1, n_coarse, device=origins.device, dtype=origins.dtype)
    t = near[:, None] + (far - near)[:, None] * u
    if stratified:
        t = jiggle_within_stratas(t)
    c_rgb, c_depth, c_op, w = _composite_dense(coarse, origins, directions, t, far, background)
    out = {"coarse_rgb": c_rgb}
    if fine is None:
        out.update(rgb=c_rgb, depth=c_depth, opacity=c_op)
        return out
    with torch.no_grad():
        mids = 0.5 * (t[:, 1:] + t[:, :-1])
        t_fine = sample_pdf(mids, w[:, 1:-1].detach(), n_fine, det=not stratified)
    t_all, _ = torch.sort(torch.cat([t, t_fine], -1), -1)
    rgb, depth, op, _ = _composite_dense(fine, origins, directions, t_all, far, background)
    out.update(rgb=rgb, depth=depth, opacity=op, fine_t=t_fine)
    return out


@torch.no_grad()
def render_views(render_fn, cameras, image_size: tuple[int, int], bound: float, chunk: int = 8192) -> dict:
    """Render whole views in chunks of rays (bounded memory).

    ``render_fn(origins, directions, near, far) -> dict`` with ``"rgb" (R, 3)``, ``"depth" (R,)``,
    ``"opacity" (R,)``. Returns ``{"rgb": (N, H, W, 3), "depth": (N, H, W), "opacity": (N, H, W)}``;
    depth is the ray length (unit directions), 0 where nothing is hit.
    """
    origins, directions = pixel_rays(cameras, image_size)
    shape = origins.shape[:3]
    o, d = origins.reshape(-1, 3), directions.reshape(-1, 3)
    near, far = ray_box_bounds(o, d, bound)
    parts: dict[str, list] = {"rgb": [], "depth": [], "opacity": []}
    for i in range(0, o.shape[0], chunk):
        out = render_fn(o[i:i + chunk], d[i:i + chunk], near[i:i + chunk], far[i:i + chunk])
        for k in parts:
            parts[k].append(out[k])
    return {k: torch.cat(v).reshape(*shape, *((3,) if k == "rgb" else ())) for k, v in parts.items()}
