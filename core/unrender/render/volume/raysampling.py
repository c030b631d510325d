"""Ray samplers: every pixel of a grid, random pixel subsets (optionally by a mask) and
Monte Carlo positions, with uniform or stratified depths (PyTorch3D's numerics).

Cameras are unrender's (:mod:`unrender.cameras`); rays are cast through NDC
positions (:mod:`unrender.screen`: +X left, +Y up, the shorter side spans
``[-1, 1]``) by unprojecting each position at depths 1 and 2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...cameras import CamerasBase
from ...screen import parse_image_size
from ..._validate import check_positive_int, check_tensor
from .rays import RayBundle

__all__ = [
    "MultinomialRaysampler",
    "NDCMultinomialRaysampler",
    "MonteCarloRaysampler",
    "jiggle_within_stratas",
    "safe_multinomial",
    "xy_to_ray_bundle",
    "pixel_rays",
]


def _check_depths(min_depth, max_depth) -> None:
    if not (0 <= float(min_depth) <= float(max_depth)):
        raise ValueError(f"min_depth, max_depth: expected 0 <= min_depth <= max_depth, found {min_depth}, {max_depth}")


def _check_cameras(cameras) -> None:
    if not isinstance(cameras, CamerasBase):
        raise ValueError(f"cameras: expected unrender cameras (CamerasBase), found {type(cameras).__name__}")


def _store_depth_options(module, n_pts_per_ray, min_depth, max_depth, unit_directions, stratified_sampling) -> None:
    """Check and keep the options every sampler has: points per ray, depth range, direction and depth sampling."""
    check_positive_int("n_pts_per_ray", n_pts_per_ray, minimum=0)
    _check_depths(min_depth, max_depth)
    module._n_pts_per_ray = n_pts_per_ray
    module._min_depth, module._max_depth = min_depth, max_depth
    module._unit_directions = unit_directions
    module._stratified_sampling = stratified_sampling


def jiggle_within_stratas(bin_centers: torch.Tensor) -> torch.Tensor:
    """``(..., N)`` sorted depths -> one uniform draw per stratum: each value moves within
    ``[mid(previous, z), mid(z, next)]`` (the ends keep their outer edge)."""
    mids = 0.5 * (bin_centers[..., 1:] + bin_centers[..., :-1])
    upper = torch.cat((mids, bin_centers[..., -1:]), dim=-1)
    lower = torch.cat((bin_centers[..., :1], mids), dim=-1)
    return lower + (upper - lower) * torch.rand_like(lower)


def safe_multinomial(weights: torch.Tensor, num_samples: int) -> torch.Tensor:
    """``(B, n)`` non-negative weights -> ``(B, num_samples)`` int64 indices: without
    replacement where a row has ``num_samples`` non-zero weights, with replacement otherwise."""
    try:
        res = torch.multinomial(weights, num_samples, replacement=False)
    except RuntimeError:
        res = torch.multinomial(weights, num_samples, replacement=True)
        no_repl = (weights > 0.0).sum(dim=-1) >= num_samples
        if no_repl.any():
            res[no_repl] = torch.multinomial(weights[no_repl], num_samples, replacement=False)
        return res
    repl = (weights > 0.0).sum(dim=-1) < num_samples
    if repl.any():
        res[repl] = torch.multinomial(weights[repl], num_samples, replacement=True)
    return res


def xy_to_ray_bundle(cameras: CamerasBase, xy_grid: torch.Tensor, min_depth: float, max_depth: float,
                     n_pts_per_ray: int, unit_directions: bool = False, stratified_sampling: bool = False) -> RayBundle:
    """Rays through NDC positions ``xy_grid (B, ..., 2)`` of ``B`` cameras.

    Origins lie on the camera's depth-0 plane (the near plane of the unprojection:
    ``2 * p(depth 1) - p(depth 2)``), directions span one unit of depth, and
    ``lengths (B, ..., n_pts_per_ray)`` run from ``min_depth`` to ``max_depth``
    (jiggled within strata when ``stratified_sampling``).
    """
    B = xy_grid.shape[0]
    spatial = xy_grid.shape[1:-1]
    n = spatial.numel()
    zs = xy_grid.new_empty((0,))
    if n_pts_per_ray > 0:
        depths = torch.linspace(min_depth, max_depth, n_pts_per_ray, dtype=xy_grid.dtype, device=xy_grid.device)
        zs = depths[None, None].expand(B, n, n_pts_per_ray)
        if stratified_sampling:
            zs = jiggle_within_stratas(zs)
    xy = xy_grid.reshape(B, 1, n, 2).expand(B, 2, n, 2).reshape(B, 2 * n, 2)
    z = torch.cat((xy_grid.new_ones(B, n, 1), xy_grid.new_full((B, n, 1), 2.0)), dim=1)
    points = cameras.unproject_points(torch.cat((xy, z), dim=-1), from_ndc=True)
    plane1, plane2 = points[:, :n], points[:, n:]
    directions = plane2 - plane1
    origins = plane1 - directions
    if unit_directions:
        directions = F.normalize(directions, dim=-1)
    return RayBundle(origins.reshape(B, *spatial, 3), directions.reshape(B, *spatial, 3),
                     zs.reshape(B, *spatial, n_pts_per_ray), xy_grid)


class MultinomialRaysampler(torch.nn.Module):
    """Rays through a regular ``image_height x image_width`` grid of positions spanning
    ``[min_x, max_x] x [min_y, max_y]`` (row 0 at ``min_y``, column 0 at ``min_x``),
    all of them or ``n_rays_per_image`` drawn without replacement (by ``mask`` weights
    when given), with ``n_pts_per_ray`` depths in ``[min_depth, max_depth]``.

    ``forward(cameras, mask=None, ...)`` -> :class:`RayBundle` with spatial size
    ``(H, W)``, or ``(n, 1)`` for a subset (``n = n_rays_per_image``, or the smallest
    mask count when only a mask is given). Keyword overrides in ``forward`` win over
    the constructor's values.
    """

    def __init__(self, *, min_x: float, max_x: float, min_y: float, max_y: float, image_width: int, image_height: int,
                 n_pts_per_ray: int, min_depth: float, max_depth: float, n_rays_per_image: int | None = None,
                 unit_directions: bool = False, stratified_sampling: bool = False) -> None:
        super().__init__()
        check_positive_int("image_width", image_width)
        check_positive_int("image_height", image_height)
        if n_rays_per_image is not None:
            check_positive_int("n_rays_per_image", n_rays_per_image)
        _store_depth_options(self, n_pts_per_ray, min_depth, max_depth, unit_directions, stratified_sampling)
        self._n_rays_per_image = n_rays_per_image
        self.min_x, self.max_x, self.min_y, self.max_y = min_x, max_x, min_y, max_y
        y, x = torch.meshgrid(torch.linspace(min_y, max_y, image_height, dtype=torch.float32),
                              torch.linspace(min_x, max_x, image_width, dtype=torch.float32), indexing="ij")
        self.register_buffer("_xy_grid", torch.stack([x, y], dim=-1), persistent=False)

    def forward(self, cameras: CamerasBase, *, mask: torch.Tensor | None = None, min_depth: float | None = None,
                max_depth: float | None = None, n_rays_per_image: int | None = None, n_pts_per_ray: int | None = None,
                stratified_sampling: bool | None = None, **kwargs) -> RayBundle:
        """cameras: ``B`` cameras; mask: ``(B, H, W)`` non-negative weights -> :class:`RayBundle`."""
        _check_cameras(cameras)
        B = len(cameras)
        n_rays_per_image = n_rays_per_image or self._n_rays_per_image
        xy_grid = self._xy_grid.to(cameras.device).expand(B, -1, -1, -1)
        if mask is not None:
            check_tensor("mask", mask, list(xy_grid.shape[:3]))
            if n_rays_per_image is None:
                n_rays_per_image = int(mask.sum(dim=(1, 2)).min().int().item())
                if n_rays_per_image < 1:
                    raise ValueError("mask: expected at least one pixel set in every mask, found an empty mask")
        if n_rays_per_image is not None:
            weights = mask.reshape(B, -1).to(xy_grid.dtype) if mask is not None else xy_grid.new_ones(B, xy_grid.shape[1] * xy_grid.shape[2])
            idx = safe_multinomial(weights, n_rays_per_image)[..., None].expand(-1, -1, 2)
            xy_grid = torch.gather(xy_grid.reshape(B, -1, 2), 1, idx)[:, :, None]
        min_depth = self._min_depth if min_depth is None else min_depth
        max_depth = self._max_depth if max_depth is None else max_depth
        _check_depths(min_depth, max_depth)
        return xy_to_ray_bundle(
            cameras, xy_grid, min_depth, max_depth,
            self._n_pts_per_ray if n_pts_per_ray is None else n_pts_per_ray,
            self._unit_directions,
            self._stratified_sampling if stratified_sampling is None else stratified_sampling,
        )


class NDCMultinomialRaysampler(MultinomialRaysampler):
    """:class:`MultinomialRaysampler` through the pixel centres of an ``image_height x
    image_width`` image in unrender's (PyTorch3D's) NDC: row 0 at the top, column 0 at
    the left, the shorter side spanning ``[-1, 1]``."""

    def __init__(self, *, image_width: int, image_height: int, n_pts_per_ray: int, min_depth: float, max_depth: float,
                 n_rays_per_image: int | None = None, unit_directions: bool = False,
                 stratified_sampling: bool = False) -> None:
        check_positive_int("image_width", image_width)
        check_positive_int("image_height", image_height)
        if image_width >= image_height:
            range_x, range_y = image_width / image_height, 1.0
        else:
            range_x, range_y = 1.0, image_height / image_width
        half_w, half_h = range_x / image_width, range_y / image_height
        super().__init__(min_x=range_x - half_w, max_x=-range_x + half_w, min_y=range_y - half_h,
                         max_y=-range_y + half_h, image_width=image_width, image_height=image_height,
                         n_pts_per_ray=n_pts_per_ray, min_depth=min_depth, max_depth=max_depth,
                         n_rays_per_image=n_rays_per_image, unit_directions=unit_directions,
                         stratified_sampling=stratified_sampling)


class MonteCarloRaysampler(torch.nn.Module):
    """``n_rays_per_image`` rays per camera through NDC positions drawn uniformly in
    ``[min_x, max_x] x [min_y, max_y]`` (x drawn first, then y, as PyTorch3D), with
    ``n_pts_per_ray`` depths in ``[min_depth, max_depth]``.

    ``forward(cameras)`` -> :class:`RayBundle` with spatial size ``(n_rays_per_image,)``.
    """

    def __init__(self, min_x: float, max_x: float, min_y: float, max_y: float, n_rays_per_image: int,
                 n_pts_per_ray: int, min_depth: float, max_depth: float, *, unit_directions: bool = False,
                 stratified_sampling: bool = False) -> None:
        super().__init__()
        check_positive_int("n_rays_per_image", n_rays_per_image)
        _store_depth_options(self, n_pts_per_ray, min_depth, max_depth, unit_directions, stratified_sampling)
        self._min_x, self._max_x, self._min_y, self._max_y = min_x, max_x, min_y, max_y
        self._n_rays_per_image = n_rays_per_image

    def forward(self, cameras: CamerasBase, *, stratified_sampling: bool | None = None, **kwargs) -> RayBundle:
        """cameras: ``B`` cameras -> :class:`RayBundle` of ``(B, n_rays_per_image, ...)``."""
        _check_cameras(cameras)
        B, n = len(cameras), self._n_rays_per_image
        xy = torch.cat([
            torch.rand(size=(B, n, 1), dtype=torch.float32, device=cameras.device) * (high - low) + low
            for low, high in ((self._min_x, self._max_x), (self._min_y, self._max_y))
        ], dim=2)
        return xy_to_ray_bundle(cameras, xy, self._min_depth, self._max_depth, self._n_pts_per_ray, self._unit_directions,
                                self._stratified_sampling if stratified_sampling is None else stratified_sampling)


def pixel_rays(cameras, image_size) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays through every pixel centre of ``B`` cameras (unrender's NDC, row 0 at the top, as images).

    Returns ``origins (B, H, W, 3)`` and unit ``directions (B, H, W, 3)``, so lengths along a ray are
    world distances.
    """
    H, W = parse_image_size(image_size)
    sampler = NDCMultinomialRaysampler(image_width=W, image_height=H, n_pts_per_ray=0, min_depth=0.0, max_depth=1.0,
                                       unit_directions=True)
    bundle = sampler(cameras)
    return bundle.origins, bundle.directions
