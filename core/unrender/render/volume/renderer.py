"""Renderers: a raysampler, a volumetric function and a raymarcher (``ImplicitRenderer``),
and the volumetric function of a :class:`~unrender.structures.Volumes` batch
(``VolumeSampler``, trilinear ``grid_sample``) behind ``VolumeRenderer``."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ...structures import Volumes
from .rays import RayBundle, check_ray_bundle, ray_bundle_variables_to_ray_points

__all__ = ["ImplicitRenderer", "VolumeRenderer", "VolumeSampler"]

_SAMPLE_MODES = ("bilinear", "nearest")
_PADDING_MODES = ("zeros", "border", "reflection")


class ImplicitRenderer(torch.nn.Module):
    """``forward(cameras, volumetric_function, **kwargs)`` -> ``(images, ray_bundle)``.

    ``raysampler(cameras=..., **kwargs)`` gives a :class:`RayBundle`;
    ``volumetric_function(ray_bundle=..., cameras=..., **kwargs)`` gives
    ``(rays_densities (B, ..., P, 1), rays_features (B, ..., P, F))``;
    ``raymarcher(rays_densities=..., rays_features=..., ray_bundle=..., **kwargs)``
    gives ``images (B, ..., F + 1)``.
    """

    def __init__(self, raysampler: Callable, raymarcher: Callable) -> None:
        super().__init__()
        for name, f in (("raysampler", raysampler), ("raymarcher", raymarcher)):
            if not callable(f):
                raise ValueError(f"{name}: expected a callable, found {type(f).__name__}")
        self.raysampler = raysampler
        self.raymarcher = raymarcher

    def forward(self, cameras, volumetric_function: Callable, **kwargs) -> tuple[torch.Tensor, RayBundle]:
        if not callable(volumetric_function):
            raise ValueError(f"volumetric_function: expected a callable, found {type(volumetric_function).__name__}")
        ray_bundle = self.raysampler(cameras=cameras, volumetric_function=volumetric_function, **kwargs)
        rays_densities, rays_features = volumetric_function(ray_bundle=ray_bundle, cameras=cameras, **kwargs)
        images = self.raymarcher(rays_densities=rays_densities, rays_features=rays_features, ray_bundle=ray_bundle, **kwargs)
        return images, ray_bundle


class VolumeSampler(torch.nn.Module):
    """Samples ``volumes`` at the points of a ray bundle: ``forward(ray_bundle)`` ->
    ``(rays_densities (B, ..., P, C_d), rays_features (B, ..., P, C_f))`` (features are
    ``(B, ..., P, 0)`` when the volumes have none). Trilinear (``"bilinear"``) or
    ``"nearest"``; outside the grid by ``padding_mode`` (``grid_sample``'s)."""

    def __init__(self, volumes: Volumes, sample_mode: str = "bilinear", padding_mode: str = "zeros") -> None:
        super().__init__()
        if not isinstance(volumes, Volumes):
            raise ValueError(f"volumes: expected unrender Volumes, found {type(volumes).__name__}")
        if sample_mode not in _SAMPLE_MODES:
            raise ValueError(f"sample_mode: expected one of {_SAMPLE_MODES}, found {sample_mode!r}")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode: expected one of {_PADDING_MODES}, found {padding_mode!r}")
        self._volumes = volumes
        self._sample_mode = sample_mode
        self._padding_mode = padding_mode

    def forward(self, ray_bundle: RayBundle, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
        origins, directions, lengths = ray_bundle.origins, ray_bundle.directions, ray_bundle.lengths
        check_ray_bundle(origins, directions, lengths)
        volumes = self._volumes
        if len(volumes) != origins.shape[0]:
            raise ValueError(f"ray_bundle: expected a batch of {len(volumes)} (the volumes'), found {origins.shape[0]}")
        scale = volumes.local_scale().to(origins.dtype).reshape(len(volumes), *([1] * (origins.dim() - 2)), 3)
        origins_local = volumes.world_to_local_coords(origins)
        points = ray_bundle_variables_to_ray_points(origins_local, directions / scale, lengths)
        densities = volumes.densities()
        features = volumes.features()
        n_d = densities.shape[1]
        # One grid_sample over densities and features stacked on channels.
        grid = densities if features is None else torch.cat((densities, features), dim=1)
        sampled = F.grid_sample(grid, points.reshape(points.shape[0], -1, 1, 1, 3), mode=self._sample_mode,
                                padding_mode=self._padding_mode, align_corners=volumes.get_align_corners())
        sampled = sampled.reshape(grid.shape[0], grid.shape[1], -1).transpose(1, 2).reshape(*points.shape[:-1], grid.shape[1])
        return sampled[..., :n_d], sampled[..., n_d:]


class VolumeRenderer(torch.nn.Module):
    """Renders :class:`~unrender.structures.Volumes`: ``forward(cameras, volumes, **kwargs)``
    -> ``(images (B, ..., C_f + 1), ray_bundle)`` through an :class:`ImplicitRenderer`
    whose volumetric function is a :class:`VolumeSampler`."""

    def __init__(self, raysampler: Callable, raymarcher: Callable, sample_mode: str = "bilinear") -> None:
        super().__init__()
        if sample_mode not in _SAMPLE_MODES:
            raise ValueError(f"sample_mode: expected one of {_SAMPLE_MODES}, found {sample_mode!r}")
        self.renderer = ImplicitRenderer(raysampler, raymarcher)
        self._sample_mode = sample_mode

    def forward(self, cameras, volumes: Volumes, **kwargs) -> tuple[torch.Tensor, RayBundle]:
        return self.renderer(cameras=cameras, volumetric_function=VolumeSampler(volumes, sample_mode=self._sample_mode), **kwargs)
