"""Point splatting: the vectorised point rasteriser and ``PointsRasterizer``.

Semantics follow PyTorch3D's ``pytorch3d.renderer.points``: every point is a
disk of radius ``r`` (NDC units) facing the camera; a pixel keeps the
``points_per_pixel`` nearest points (ascending z, ties by point index) whose
centres lie strictly within ``r`` of the pixel centre in x/y; points with
``z < 0`` are skipped. NDC follows PyTorch3D: +x left, +y up, pixel ``(0, 0)``
at the top left, the shorter image side spans [-1, 1] (:mod:`unrender.screen`).

Instead of a per-pixel loop (or CUDA bins) the rasteriser walks the points
front to back in chunks; for each chunk it enumerates the pixels of every
point's bounding box, keeps the pairs inside the disk, drops pairs whose
pixel already holds K points, and ranks the rest per pixel (a stable sort
of the chunk by pixel). Work is proportional to the number of (point, pixel)
overlaps and memory is bounded by the chunk size.

Differences from PyTorch3D: ``idx`` is int64 (PyTorch3D: int32);
``bin_size`` / ``max_points_per_bin`` are accepted and ignored; per-point
radii are honoured by ``PointsRenderer`` (PyTorch3D uses one radius there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional, Tuple, Union

import torch
import torch.nn as nn

from ..._validate import check_positive_int
from ...screen import parse_image_size, pixel_centers_ndc
from ...structures import PointClouds

__all__ = [
    "PointFragments",
    "PointsRasterizationSettings",
    "rasterize_points",
    "PointsRasterizer",
    "as_pointclouds",
    "packed_radius",
]

# Candidate (point, pixel) pairs examined per chunk: bounds memory, and small
# chunks let full pixels (K points already) reject later candidates early.
_CHUNK = 1 << 18


class PointFragments(NamedTuple):
    """Point rasteriser output, each ``(N, H, W, K)``, sorted by ascending z.

    idx: int64 packed point index, ``-1`` where fewer than K points hit.
    zbuf: z of that point (``-1`` where none).
    dists: squared x/y distance from the pixel centre, NDC units (``-1`` where none).
    """

    idx: torch.Tensor
    zbuf: torch.Tensor
    dists: torch.Tensor


@dataclass
class PointsRasterizationSettings:
    """Point rasteriser settings (PyTorch3D names and defaults).

    image_size: ``S`` or ``(H, W)``. radius: NDC radius, a float or per-point
    tensor (``(N, P)`` padded or ``(sum P_i,)`` packed). points_per_pixel: K.
    bin_size, max_points_per_bin: accepted for compatibility, unused.
    """

    image_size: Union[int, Tuple[int, int]] = 256
    radius: Union[float, torch.Tensor] = 0.01
    points_per_pixel: int = 8
    bin_size: Optional[int] = None
    max_points_per_bin: Optional[int] = None


# ------------------------------------------------------------------ helpers
def as_pointclouds(points) -> PointClouds:
    """``PointClouds``, an ``(N, P, 3)`` / ``(P, 3)`` tensor or a list of ``(P_i, 3)`` tensors -> ``PointClouds``."""
    if isinstance(points, PointClouds):
        return points
    if isinstance(points, torch.Tensor):
        return PointClouds(points if points.dim() == 3 else points[None])
    if isinstance(points, (list, tuple)):
        return PointClouds(list(points))
    raise ValueError(f"pointclouds: expected PointClouds, a (N, P, 3) tensor or a list of (P_i, 3) tensors, found {type(points).__name__}")


def packed_radius(radius, clouds: PointClouds, dtype, device) -> torch.Tensor:
    """Radius per packed point ``(sum P_i,)`` from a float or a tensor (checked >= 0)."""
    counts = clouds.num_points_per_cloud().tolist()
    total = sum(counts)
    if isinstance(radius, (list, tuple)):
        radius = torch.as_tensor(radius, dtype=dtype)
    if isinstance(radius, torch.Tensor):
        r = radius.to(device=device, dtype=dtype)
        if r.dim() == 0:
            r = r.expand(total)
        elif r.dim() == 1 and r.shape[0] == total:
            pass
        elif r.dim() == 2 and r.shape[0] == len(counts) and r.shape[1] >= max(counts, default=0):
            r = torch.cat([r[i, :c] for i, c in enumerate(counts)]) if counts else r.reshape(-1)[:0]
        elif len(counts) == 1 and r.dim() == 1 and r.shape[0] >= total:
            r = r[:total]
        else:
            raise ValueError(
                f"radius: expected a number, ({total},) packed or ({len(counts)}, {max(counts, default=0)}) padded, "
                f"found shape {tuple(radius.shape)}"
            )
    elif isinstance(radius, (int, float)) and not isinstance(radius, bool):
        r = torch.full((total,), float(radius), dtype=dtype, device=device)
    else:
        raise ValueError(f"radius: expected a number or a tensor, found {type(radius).__name__}")
    if r.numel() and (not bool(torch.isfinite(r).all()) or bool((r < 0).any())):
        raise ValueError(f"radius: expected finite values >= 0, found min {float(r.min())}")
    return r


def _occurrence(keys: torch.Tensor) -> torch.Tensor:
    """``(M,)`` index of each entry among the earlier entries with the same key."""
    if keys.numel() == 0:
        return keys
    sk, perm = torch.sort(keys, stable=True)
    first = torch.ones_like(sk, dtype=torch.bool)
    first[1:] = sk[1:] != sk[:-1]
    pos = torch.arange(sk.shape[0], device=sk.device)
    start = torch.cummax(torch.where(first, pos, torch.zeros_like(pos)), 0).values
    return torch.empty_like(perm).index_put_((perm,), pos - start)


def _disk_pixels(px, py, r2, x0, y0, nx, ny, xs, ys, dense: bool):
    """Pixels strictly inside each disk: ``(point (M,), xi (M,), yi (M,))``.

    Points are local indices into the given ``(Pc,)`` arrays; output is in
    point order. ``dense`` enumerates a common box (uniform radii),
    otherwise each point's own box (``repeat_interleave``).
    """
    W, H = xs.shape[0], ys.shape[0]
    dev = px.device
    if dense:
        bx, by = int(nx.max()), int(ny.max())
        xi = x0[:, None, None] + torch.arange(bx, device=dev)[None, None, :]
        yi = y0[:, None, None] + torch.arange(by, device=dev)[None, :, None]
        ok = (xi < W) & (yi < H)
        dx = px[:, None, None] - xs[xi.clamp(max=W - 1)]
        dy = py[:, None, None] - ys[yi.clamp(max=H - 1)]
        ok &= dx * dx + dy * dy < r2[:, None, None]
        pt, oy, ox = torch.nonzero(ok, as_tuple=True)
        return pt, x0[pt] + ox, y0[pt] + oy
    c = nx * ny
    pt = torch.repeat_interleave(torch.arange(px.shape[0], device=dev), c)
    local = torch.arange(int(c.sum()), device=dev) - torch.repeat_interleave(torch.cumsum(c, 0) - c, c)
    w = nx[pt]
    xi = x0[pt] + local % w
    yi = y0[pt] + local // w
    dx = px[pt] - xs[xi]
    dy = py[pt] - ys[yi]
    ok = dx * dx + dy * dy < r2[pt]
    return pt[ok], xi[ok], yi[ok]


# --------------------------------------------------------------- rasteriser
def rasterize_points(
    pointclouds,
    image_size: Union[int, Tuple[int, int]] = 256,
    radius: Union[float, torch.Tensor] = 0.01,
    points_per_pixel: int = 8,
    bin_size: Optional[int] = None,
    max_points_per_bin: Optional[int] = None,
):
    """Rasterise point clouds given in NDC.

    Args:
        pointclouds: ``PointClouds`` (or ``(N, P, 3)`` tensor) with NDC x/y and
            view-space z (depth, >= 0 to be drawn).
        image_size: ``S`` or ``(H, W)``.
        radius: disk radius in NDC units (>= 0), a float or per point.
        points_per_pixel: K, points kept per pixel.

    Returns:
        ``(idx, zbuf, dists)``, each ``(N, H, W, K)``: int64 packed point
        index, its z and its squared x/y distance to the pixel centre,
        nearest first, ``-1`` padded. ``zbuf`` and ``dists`` are
        differentiable in the point positions.
    """
    clouds = as_pointclouds(pointclouds)
    H, W = parse_image_size(image_size)
    K = check_positive_int("points_per_pixel", points_per_pixel)
    N = len(clouds)
    pts = clouds.points_packed() if N else torch.zeros(0, 3)
    dtype, device = pts.dtype, pts.device
    P = pts.shape[0]
    rad = packed_radius(radius, clouds, dtype, device)
    xs, ys = pixel_centers_ndc(H, W, dtype, device)  # x of column c, y of row r: decreasing

    with torch.no_grad():
        p = pts.detach()
        cloud = clouds.packed_to_cloud_idx() if N else torch.zeros(0, dtype=torch.int64, device=device)
        # Pixel index box of each disk (one pixel of margin; the exact test follows).
        sx = float(xs[0] - xs[1]) if W > 1 else 2.0
        sy = float(ys[0] - ys[1]) if H > 1 else 2.0
        fx = (xs[0] - p[:, 0]) / sx
        fy = (ys[0] - p[:, 1]) / sy
        x0 = (torch.floor(fx - rad / sx) - 1).clamp(0, W - 1)
        x1 = (torch.ceil(fx + rad / sx) + 1).clamp(-1, W - 1)
        y0 = (torch.floor(fy - rad / sy) - 1).clamp(0, H - 1)
        y1 = (torch.ceil(fy + rad / sy) + 1).clamp(-1, H - 1)
        nx = (x1 - x0 + 1).clamp(min=0).long()
        ny = (y1 - y0 + 1).clamp(min=0).long()
        # Front to back (ties by index): once a pixel holds K points, later
        # candidates for it are dropped before any sorting.
        order = torch.sort(p[:, 2], stable=True).indices
        order = order[((p[:, 2] >= 0) & (rad > 0) & (nx > 0) & (ny > 0))[order]]
        px, py, r2 = p[order, 0], p[order, 1], (rad * rad)[order]
        x0, y0, nx, ny = x0.long()[order], y0.long()[order], nx[order], ny[order]
        base = cloud[order] * (H * W)
        area = nx * ny
        dense = bool(area.numel()) and int((nx.max() * ny.max())) * area.numel() <= 2 * int(area.sum())
        ends = torch.cumsum(area, 0)
        count = torch.zeros(N * H * W, dtype=torch.int64, device=device)
        kept_slot, kept_pt, kept_x, kept_y = [], [], [], []
        start = 0
        while start < order.shape[0]:
            done = int(ends[start - 1]) if start else 0
            stop = max(int(torch.searchsorted(ends, done + _CHUNK, right=True)), start + 1)
            sl = slice(start, stop)
            lp, xi, yi = _disk_pixels(px[sl], py[sl], r2[sl], x0[sl], y0[sl], nx[sl], ny[sl], xs, ys, dense)
            pix = base[sl][lp] + yi * W + xi
            room = count[pix] < K
            pix, lp, xi, yi = pix[room], lp[room], xi[room], yi[room]
            rank = count[pix] + _occurrence(pix)
            ok = rank < K
            pix, rank, lp = pix[ok], rank[ok], lp[ok]
            count.index_add_(0, pix, torch.ones_like(pix))
            kept_slot.append(pix * K + rank)
            kept_pt.append(order[sl][lp])
            kept_x.append(xi[ok])
            kept_y.append(yi[ok])
            start = stop
        cat = lambda xs: torch.cat(xs) if xs else torch.zeros(0, dtype=torch.int64, device=device)  # noqa: E731
        slot, pt, xi, yi = cat(kept_slot), cat(kept_pt), cat(kept_x), cat(kept_y)

    total = N * H * W * K
    idx = torch.full((total,), -1, dtype=torch.int64, device=device).scatter(0, slot, pt)
    # Depth and distance recomputed with autograd for the kept pairs only.
    sel = pts[pt]
    d2 = (sel[:, 0] - xs[xi]) ** 2 + (sel[:, 1] - ys[yi]) ** 2
    neg = torch.full((total,), -1.0, dtype=dtype, device=device)
    zbuf = neg.scatter(0, slot, sel[:, 2])
    dists = neg.scatter(0, slot, d2)
    shape = (N, H, W, K)
    return idx.reshape(shape), zbuf.reshape(shape), dists.reshape(shape)


class PointsRasterizer(nn.Module):
    """Project world-space point clouds with ``cameras`` and rasterise them.

    ``forward(point_clouds, cameras=..., raster_settings=...) -> PointFragments``.
    NDC x/y come from ``cameras.transform_points_ndc`` and z is the view-space
    depth, as in PyTorch3D.
    """

    def __init__(self, cameras=None, raster_settings: PointsRasterizationSettings | None = None) -> None:
        super().__init__()
        self.cameras = cameras
        self.raster_settings = raster_settings if raster_settings is not None else PointsRasterizationSettings()

    def to(self, device):
        if self.cameras is not None:
            self.cameras = self.cameras.to(device)
        return self

    def transform(self, point_clouds: PointClouds, **kwargs) -> PointClouds:
        """World-space clouds -> clouds with NDC x/y and view-space z."""
        cameras = kwargs.get("cameras", self.cameras)
        if cameras is None:
            raise ValueError("cameras: expected a cameras object (at construction or in the call), found None")
        clouds = as_pointclouds(point_clouds)
        pts = clouds.points_padded()
        view = cameras.get_world_to_view_transform().transform_points(pts)
        ndc = cameras.transform_points_ndc(pts)
        ndc = torch.cat([ndc[..., :2], view[..., 2:3]], -1)
        counts = clouds.num_points_per_cloud().tolist()
        return PointClouds([ndc[i, :c] for i, c in enumerate(counts)], features=clouds.features_list())

    def forward(self, point_clouds, **kwargs) -> PointFragments:
        rs = kwargs.get("raster_settings", self.raster_settings)
        ndc = self.transform(point_clouds, **kwargs)
        idx, zbuf, dists = rasterize_points(ndc, rs.image_size, rs.radius, rs.points_per_pixel)
        return PointFragments(idx, zbuf, dists)
