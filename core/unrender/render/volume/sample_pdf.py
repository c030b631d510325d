"""Importance (hierarchical) re-sampling: depths drawn from the piecewise-constant density
that coarse weights define over bins (PyTorch3D's ``sample_pdf``, NeRF's ``sample_pdf``)."""

from __future__ import annotations

import torch

from ..._validate import check_positive_int, check_tensor

__all__ = ["sample_pdf"]


def sample_pdf(bins: torch.Tensor, weights: torch.Tensor, n_samples: int, det: bool = False, eps: float = 1e-5) -> torch.Tensor:
    """Draw ``n_samples`` values per row by inverting the cumulative distribution.

    Args:
        bins: ``(..., n_bins + 1)`` increasing bin edges.
        weights: ``(..., n_bins)`` non-negative bin weights (need not sum to 1; ``eps``
            is added to each so empty rows sample uniformly).
        n_samples: samples per row.
        det: ``True``: the quantiles ``linspace(0, 1, n_samples)``; ``False``: uniform
            random quantiles from ``torch.rand`` (float32, the global generator).
    Returns:
        ``(..., n_samples)`` samples, each inside its bin by linear interpolation.
        Not differentiable: call on detached inputs or under ``torch.no_grad()``.

    The numerics of PyTorch3D's ``sample_pdf_python``; its compiled ``sample_pdf``
    agrees except on an all-zero row, which it sends to the last edge while this
    spreads the samples over the bins.
    """
    check_tensor("bins", bins, ["...", None])
    check_tensor("weights", weights, list(bins.shape[:-1]) + [bins.shape[-1] - 1])
    check_positive_int("n_samples", n_samples)
    if torch.is_grad_enabled() and (bins.requires_grad or weights.requires_grad):
        raise ValueError("bins, weights: sample_pdf is not differentiable; expected detached tensors, found ones requiring grad")
    if weights.numel() and weights.min() <= -eps:
        raise ValueError(f"weights: expected non-negative values, found minimum {float(weights.min())}")
    weights = weights + eps
    pdf = weights / weights.sum(dim=-1, keepdim=True)
    cdf = torch.cumsum(pdf, -1)
    cdf = torch.cat([torch.zeros_like(cdf[..., :1]), cdf], -1)
    shape = (*cdf.shape[:-1], n_samples)
    if det:
        u = torch.linspace(0.0, 1.0, n_samples, device=bins.device, dtype=torch.float32).expand(shape)
    else:
        u = torch.rand(shape, dtype=torch.float32, device=bins.device)
    u = u.to(cdf.dtype).contiguous()
    inds = torch.searchsorted(cdf.contiguous(), u, right=True)
    below = (inds - 1).clamp(0)
    above = inds.clamp(max=cdf.shape[-1] - 1)
    cdf_lo, cdf_hi = torch.gather(cdf, -1, below), torch.gather(cdf, -1, above)
    bin_lo, bin_hi = torch.gather(bins, -1, below), torch.gather(bins, -1, above)
    denom = cdf_hi - cdf_lo
    denom = torch.where(denom < eps, torch.ones_like(denom), denom)
    t = (u - cdf_lo) / denom
    return bin_lo + t * (bin_hi - bin_lo)
