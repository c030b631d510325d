"""An occupancy grid that lets rays skip empty space (the nerfacc / instant-ngp idea, in torch).

A coarse ``resolution^3`` grid over ``[-bound, bound]^3`` keeps an exponential moving
maximum of the density in each cell; a cell is occupied while it exceeds
``threshold``. :func:`march_rays` steps along rays with a fixed step and keeps only the
samples inside occupied cells, packed one ray after another.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
from torch import nn

from .._validate import check_positive_int

__all__ = ["OccupancyGrid", "PackedSamples", "march_rays"]


class OccupancyGrid(nn.Module):
    """``resolution^3`` cells over ``[-bound, bound]^3``; ``density`` holds the EMA, ``occupied`` the bits.

    Starts fully occupied. A cell is occupied while its EMA exceeds ``min(threshold, mean EMA)``.
    :meth:`update` evaluates ``density_fn`` at one random point
    per chosen cell: every cell, or (``fraction < 1``) the occupied ones plus a random
    ``fraction`` of all, and sets ``ema = max(decay * ema, new)``.
    """

    def __init__(self, bound: float, resolution: int = 64, threshold: float = 0.01, decay: float = 0.95):
        super().__init__()
        check_positive_int("resolution", resolution, minimum=2)
        self.bound, self.resolution = float(bound), resolution
        self.threshold, self.decay = float(threshold), float(decay)
        self.register_buffer("density", torch.full((resolution,) * 3, float("inf")))
        self.register_buffer("occupied", torch.ones((resolution,) * 3, dtype=torch.bool))

    def cell_of(self, points: torch.Tensor) -> torch.Tensor:
        """``points (..., 3)`` world -> ``(..., 3)`` int64 cell indices ``(ix, iy, iz)`` (clamped to the grid)."""
        u = (points + self.bound) / (2 * self.bound) * self.resolution
        return u.floor().long().clamp(0, self.resolution - 1)

    def is_occupied(self, points: torch.Tensor) -> torch.Tensor:
        """``points (..., 3)`` -> ``(...,)`` bool: inside the box and in an occupied cell."""
        c = self.cell_of(points)
        inside = (points.abs() <= self.bound).all(-1)
        return inside & self.occupied[c[..., 0], c[..., 1], c[..., 2]]

    @torch.no_grad()
    def update(self, density_fn: Callable[[torch.Tensor], torch.Tensor], fraction: float = 1.0,
               chunk: int = 65536, generator: torch.Generator | None = None) -> None:
        """Refresh the EMA from ``density_fn(points (N, 3)) -> (N,)`` and recompute the bits."""
        n = self.resolution**3
        dev = self.density.device
        if fraction >= 1.0:
            cells = torch.arange(n, device=dev)
        else:
            chosen = torch.rand(n, device=dev, generator=generator) < fraction
            cells = torch.nonzero(chosen | self.occupied.reshape(-1)).squeeze(1)
        r = self.resolution
        ijk = torch.stack([cells // (r * r), (cells // r) % r, cells % r], -1)
        jitter = torch.rand(ijk.shape, device=dev, generator=generator)
        pts = ((ijk + jitter) / r * 2 - 1) * self.bound
        new = torch.cat([density_fn(p).reshape(-1).float() for p in pts.split(chunk)])
        flat = self.density.reshape(-1)
        old = torch.where(torch.isinf(flat[cells]), torch.zeros_like(new), flat[cells])
        flat[cells] = torch.maximum(old * self.decay, new)
        seen = ~torch.isinf(self.density)
        # instant-ngp's rule: never stricter than the mean density, so a young field is not emptied
        threshold = min(self.threshold, float(self.density[seen].mean()))
        self.occupied.copy_((self.density > threshold) | ~seen)  # cells never visited stay occupied


class PackedSamples(NamedTuple):
    """Samples of ``R`` rays packed one ray after another (``S`` in all).

    ray_index: ``(S,)`` int64 non-decreasing; t: ``(S,)`` ray length of each sample;
    delta: ``(S,)`` the length it stands for; points: ``(S, 3)``; directions: ``(S, 3)``.
    """

    ray_index: torch.Tensor
    t: torch.Tensor
    delta: torch.Tensor
    points: torch.Tensor
    directions: torch.Tensor


def march_rays(origins: torch.Tensor, directions: torch.Tensor, near: torch.Tensor, far: torch.Tensor, step: float,
               grid: OccupancyGrid | None = None, jitter: bool = False, generator: torch.Generator | None = None
               ) -> PackedSamples:
    """Fixed-step samples ``t_k = near + (k + u) step`` with ``t_k < far`` (``u = 0.5``, or one uniform
    draw per ray when ``jitter``), kept only where ``grid`` is occupied (all of them without a grid).

    origins, directions: ``(R, 3)`` (unit directions); near, far: ``(R,)``.
    """
    if not step > 0:
        raise ValueError(f"step: expected a positive march step, found {step}")
    R = origins.shape[0]
    if R == 0:
        e = origins.new_zeros((0,))
        return PackedSamples(torch.zeros(0, dtype=torch.long, device=origins.device), e, e, origins, directions)
    k_max = int(torch.ceil((far - near).max() / step).item())
    k = torch.arange(max(k_max, 1), device=origins.device, dtype=origins.dtype)
    u = (torch.rand(R, 1, device=origins.device, dtype=origins.dtype, generator=generator) if jitter
         else origins.new_full((R, 1), 0.5))
    t = near[:, None] + (k + u) * step  # (R, K)
    keep = t < far[:, None]
    ray, col = torch.nonzero(keep, as_tuple=True)
    ts = t[ray, col]
    pts = origins[ray] + ts[:, None] * directions[ray]
    if grid is not None:
        occ = grid.is_occupied(pts)
        ray, ts, pts = ray[occ], ts[occ], pts[occ]
    return PackedSamples(ray, ts, torch.full_like(ts, step), pts, directions[ray])
