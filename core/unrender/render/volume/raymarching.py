"""Ray marching: emission-absorption and absorption-only compositing of per-point
densities in ``[0, 1]`` (PyTorch3D's raymarchers), plus expected depth and opacity."""

from __future__ import annotations

import warnings

import torch

__all__ = [
    "EmissionAbsorptionRaymarcher",
    "AbsorptionOnlyRaymarcher",
    "shifted_cumprod",
    "emission_absorption_weights",
    "ray_opacity",
    "expected_depth",
]


def _check_densities(rays_densities, rays_features=None, features_required: bool = False) -> None:
    if not isinstance(rays_densities, torch.Tensor):
        raise ValueError(f"rays_densities: expected a torch.Tensor, found {type(rays_densities).__name__}")
    if rays_densities.dim() < 2 or rays_densities.shape[-1] != 1:
        raise ValueError(f"rays_densities: expected shape (..., n_points_per_ray, 1), found {tuple(rays_densities.shape)}")
    if features_required and not isinstance(rays_features, torch.Tensor):
        raise ValueError(f"rays_features: expected a torch.Tensor, found {type(rays_features).__name__}")
    if rays_features is not None and rays_features.shape[:-1] != rays_densities.shape[:-1]:
        raise ValueError(
            f"rays_features: expected shape {tuple(rays_densities.shape[:-1])} + (feature_dim,), found {tuple(rays_features.shape)}"
        )
    with torch.no_grad():
        if rays_densities.numel() and (rays_densities.max() > 1.0 or rays_densities.min() < 0.0):
            warnings.warn("rays_densities: values outside [0, 1] found", stacklevel=3)


def shifted_cumprod(x: torch.Tensor, shift: int = 1) -> torch.Tensor:
    """``cumprod(x, -1)`` moved ``shift`` places along the last dimension, ones in front."""
    c = torch.cumprod(x, dim=-1)
    return torch.cat([torch.ones_like(c[..., :shift]), c[..., :-shift]], dim=-1)


def emission_absorption_weights(densities: torch.Tensor, surface_thickness: int = 1, eps: float = 1e-10) -> torch.Tensor:
    """``densities (..., P)`` in ``[0, 1]`` -> ``(..., P)`` compositing weights
    ``density_k * prod_{j < k - surface_thickness + 1} (1 + eps - density_j)``
    (the light reaching point ``k`` times what it absorbs)."""
    return densities * shifted_cumprod((1.0 + eps) - densities, shift=surface_thickness)


def ray_opacity(densities: torch.Tensor) -> torch.Tensor:
    """``densities (..., P)`` -> ``(..., 1)`` absorbed fraction ``1 - prod(1 - density)``."""
    return 1.0 - torch.prod(1.0 - densities, dim=-1, keepdim=True)


def expected_depth(weights: torch.Tensor, lengths: torch.Tensor, normalize: bool = False, eps: float = 1e-10) -> torch.Tensor:
    """``weights (..., P)`` and ``lengths (..., P)`` -> ``(..., 1)`` expected ray length
    ``sum(w * length)``; divided by ``sum(w)`` when ``normalize`` (the depth where the ray
    stops, ignoring the light that passes through)."""
    depth = (weights * lengths).sum(dim=-1, keepdim=True)
    return depth / weights.sum(dim=-1, keepdim=True).clamp_min(eps) if normalize else depth


class EmissionAbsorptionRaymarcher(torch.nn.Module):
    """Emission-absorption compositing. ``forward(rays_densities (..., P, 1),
    rays_features (..., P, F))`` -> ``(..., F + 1)``: features composited with
    :func:`emission_absorption_weights`, then the opacity (:func:`ray_opacity`)."""

    def __init__(self, surface_thickness: int = 1) -> None:
        super().__init__()
        self.surface_thickness = surface_thickness

    def forward(self, rays_densities: torch.Tensor, rays_features: torch.Tensor, eps: float = 1e-10, **kwargs) -> torch.Tensor:
        _check_densities(rays_densities, rays_features, features_required=True)
        d = rays_densities[..., 0]
        # One cumprod serves the transmittance and the opacity (prod(1 + eps - d) differs from
        # prod(1 - d) by about P * eps); the weighted sum is a batched matmul. Fewer, cheaper
        # backward passes than the separate cumprod, prod and broadcast multiply.
        c = torch.cumprod((1.0 + eps) - d, dim=-1)
        s = self.surface_thickness
        transmittance = torch.cat([torch.ones_like(c[..., :s]), c[..., :-s]], dim=-1)
        weights = d * transmittance
        features = torch.matmul(weights[..., None, :], rays_features.to(weights.dtype))[..., 0, :]
        return torch.cat((features, 1.0 - c[..., -1:]), dim=-1)


class AbsorptionOnlyRaymarcher(torch.nn.Module):
    """Absorption only. ``forward(rays_densities (..., P, 1))`` -> ``(..., 1)`` opacity
    ``1 - prod(1 - density)``."""

    def forward(self, rays_densities: torch.Tensor, **kwargs) -> torch.Tensor:
        _check_densities(rays_densities)
        return ray_opacity(rays_densities[..., 0])
