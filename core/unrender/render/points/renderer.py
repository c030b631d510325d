"""``PointsRenderer``: rasterise point clouds, weight each slot as a soft disk, composite."""

from __future__ import annotations

import torch
import torch.nn as nn

from .compositor import make_compositor
from .rasterizer import as_pointclouds, packed_radius

__all__ = ["PointsRenderer"]


class PointsRenderer(nn.Module):
    """Render point clouds: rasterise, weight each slot, composite features.

    The weight of point ``p`` at a pixel is ``1 - d^2 / r_p^2`` (in [0, 1],
    SynSin-style soft disks). Features are the clouds' ``features`` (or the
    ``features=`` keyword, ``(sum P_i, C)``, or white). Returns ``(N, H, W, C)``.

    Args:
        rasterizer: a ``PointsRasterizer``.
        compositor: a compositor module or ``"alpha"`` / ``"norm_weighted"`` / ``"weighted_sum"``.
        depth_window: (not in PyTorch3D) drop the points of a pixel lying more than this
            (view-space z units) behind its nearest point, so that the far side of a cloud
            without normals does not show through between the near side's splats; None
            (the default, PyTorch3D's behaviour) keeps all ``points_per_pixel``.
    """

    def __init__(self, rasterizer, compositor="alpha", depth_window: float | None = None) -> None:
        super().__init__()
        self.rasterizer = rasterizer
        self.compositor = make_compositor(compositor)
        if depth_window is not None and not depth_window >= 0:
            raise ValueError(f"depth_window: expected None or a number >= 0, found {depth_window}")
        self.depth_window = depth_window

    def to(self, device):
        self.rasterizer = self.rasterizer.to(device)
        self.compositor = self.compositor.to(device)
        return self

    def forward(self, point_clouds, **kwargs) -> torch.Tensor:
        clouds = as_pointclouds(point_clouds)
        frags = self.rasterizer(clouds, **kwargs)
        idx = frags.idx
        if self.depth_window is not None:  # slots are sorted nearest first
            idx = idx.masked_fill(frags.zbuf > frags.zbuf[..., :1] + self.depth_window, -1)
        rs = kwargs.get("raster_settings", self.rasterizer.raster_settings)
        pts = clouds.points_packed()
        feats = kwargs.get("features")
        if feats is None:
            feats = clouds.features_packed()
        if feats is None:
            feats = torch.ones(pts.shape[0], 3, dtype=pts.dtype, device=pts.device)
        if feats.dim() != 2 or feats.shape[0] != pts.shape[0]:
            raise ValueError(f"features: expected shape ({pts.shape[0]}, C) (one row per point), found {tuple(feats.shape)}")
        r = packed_radius(rs.radius, clouds, frags.dists.dtype, frags.dists.device)
        r_slot = r[idx.clamp(min=0)] if r.numel() else torch.ones_like(frags.dists)
        w = (1 - frags.dists / (r_slot * r_slot).clamp(min=1e-20)).clamp(0, 1)
        images = self.compositor(
            idx.permute(0, 3, 1, 2),
            w.permute(0, 3, 1, 2),
            feats.t(),
            **{k: v for k, v in kwargs.items() if k == "background_color"},
        )
        return images.permute(0, 2, 3, 1)
