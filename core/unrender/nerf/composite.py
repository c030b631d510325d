"""Compositing densities along rays: dense ``(R, P)`` samples and packed samples of varying count per ray.

Both use ``alpha = 1 - exp(-density * delta)`` and the transmittance
``T_k = exp(-sum_{j<k} density_j delta_j)``; weights ``w_k = T_k alpha_k``.
"""

from __future__ import annotations

import torch

__all__ = ["dense_weights", "packed_weights", "segment_sum"]


def dense_weights(density: torch.Tensor, deltas: torch.Tensor) -> torch.Tensor:
    """``density, deltas (R, P)`` -> compositing weights ``(R, P)``."""
    sd = density * deltas
    before = torch.cumsum(sd, -1) - sd
    return torch.exp(-before) * (1.0 - torch.exp(-sd))


def packed_weights(density: torch.Tensor, deltas: torch.Tensor, ray_index: torch.Tensor) -> torch.Tensor:
    """Weights of packed samples (every ray's samples contiguous and in order along it).

    density, deltas: ``(S,)``; ray_index: ``(S,)`` int64 non-decreasing -> ``(S,)``. The
    per-ray exclusive sum is a global cumulative sum (float64) minus its value at the
    ray's first sample: torch ops only, no loop over rays.
    """
    sd = density * deltas
    total = torch.cumsum(sd.double(), 0)
    before = total - sd.double()
    first = torch.ones_like(ray_index, dtype=torch.bool)
    first[1:] = ray_index[1:] != ray_index[:-1]
    start = torch.cumsum(first.long(), 0) - 1  # segment number of each sample
    offset = before[first][start]
    return torch.exp(-(before - offset)).to(sd.dtype) * (1.0 - torch.exp(-sd))


def segment_sum(values: torch.Tensor, ray_index: torch.Tensor, n_rays: int) -> torch.Tensor:
    """``values (S, ...)`` summed per ray -> ``(n_rays, ...)`` (rays without samples: 0)."""
    out = values.new_zeros((n_rays, *values.shape[1:]))
    return out.index_add(0, ray_index, values)
