"""Point splatting: a vectorised point rasteriser, compositors and ``PointsRenderer``.

Semantics follow PyTorch3D's ``pytorch3d.renderer.points``: every point is a
disk of radius ``r`` (NDC units) facing the camera; a pixel keeps the
``points_per_pixel`` nearest points (ascending z, ties by point index) whose
centres lie strictly within ``r`` of the pixel centre in x/y; points with
``z < 0`` are skipped. NDC follows PyTorch3D: +x left, +y up, pixel ``(0, 0)``
at the top left, the shorter image side spans [-1, 1].

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

from .._validate import check_positive_int
from ..structures import PointClouds

__all__ = [
    "PointFragments",
    "PointsRasterizationSettings",
    "rasterize_points",
    "PointsRasterizer",
    "alpha_composite",
    "norm_weighted_sum",
    "weighted_sum",
    "AlphaCompositor",
    "NormWeightedCompositor",
    "WeightedSumCompositor",
    "PointsRenderer",
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
def parse_image_size(image_size) -> tuple[int, int]:
    """``S`` or ``(H, W)`` -> ``(H, W)`` positive ints."""
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    if (
        not isinstance(image_size, (tuple, list))
        or len(image_size) != 2
        or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in image_size)
    ):
        raise ValueError(f"image_size: expected a positive int or an (H, W) pair of positive ints, found {image_size!r}")
    return int(image_size[0]), int(image_size[1])


def pixel_centers_ndc(size: int, other: int, dtype=torch.float32, device="cpu") -> torch.Tensor:
    """``(size,)`` NDC coordinate of each pixel centre along an axis of ``size`` pixels.

    Index 0 is at the positive end (PyTorch3D: +x left, +y up); the shorter
    image side spans [-1, 1], the longer one proportionally more.
    """
    rng = torch.tensor(2.0 * size / other if size > other else 2.0, dtype=dtype)
    off = rng / 2
    i = torch.arange(size - 1, -1, -1, dtype=dtype)
    return (-off + (rng * i + off) / size).to(device)


def _as_clouds(points) -> PointClouds:
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
    clouds = _as_clouds(pointclouds)
    H, W = parse_image_size(image_size)
    K = check_positive_int("points_per_pixel", points_per_pixel)
    N = len(clouds)
    pts = clouds.points_packed() if N else torch.zeros(0, 3)
    dtype, device = pts.dtype, pts.device
    P = pts.shape[0]
    rad = packed_radius(radius, clouds, dtype, device)
    xs = pixel_centers_ndc(W, H, dtype, device)
    ys = pixel_centers_ndc(H, W, dtype, device)

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
        clouds = _as_clouds(point_clouds)
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


# --------------------------------------------------------------- compositing
def _rows(pointsidx: torch.Tensor, alphas: torch.Tensor, features: torch.Tensor):
    """Pixels with a point, as rows: idx/alpha ``(R, K)``, row ids, shape."""
    if pointsidx.dim() != 4:
        raise ValueError(f"pointsidx: expected shape (N, K, H, W), found {tuple(pointsidx.shape)}")
    if alphas.shape != pointsidx.shape:
        raise ValueError(f"alphas: expected shape {tuple(pointsidx.shape)} (that of pointsidx), found {tuple(alphas.shape)}")
    if features.dim() != 2:
        raise ValueError(f"features: expected shape (C, P), found {tuple(features.shape)}")
    N, K, H, W = pointsidx.shape
    idx = pointsidx.permute(0, 2, 3, 1).reshape(-1, K)
    a = alphas.permute(0, 2, 3, 1).reshape(-1, K)
    rows = torch.nonzero((idx >= 0).any(1)).squeeze(1)
    return idx[rows].long(), a[rows], rows, (N, K, H, W)


def _scatter_rows(vals: torch.Tensor, rows: torch.Tensor, shape) -> torch.Tensor:
    N, K, H, W = shape
    C = vals.shape[-1]
    out = torch.zeros(N * H * W, C, dtype=vals.dtype, device=vals.device).index_put((rows,), vals)
    return out.reshape(N, H, W, C).permute(0, 3, 1, 2)


def _composite(pointsidx, alphas, features, mode: str) -> torch.Tensor:
    idx, a, rows, shape = _rows(pointsidx, alphas, features)
    valid = idx >= 0
    a = a * valid
    if mode == "alpha":  # front to back: a_k * prod_{t<k} (1 - a_t)
        trans = torch.cumprod(1 - a, dim=1)
        a = a * torch.cat([torch.ones_like(trans[:, :1]), trans[:, :-1]], 1)
    elif mode == "norm":
        a = a / a.sum(1, keepdim=True).clamp(min=1e-4)
    f = features.t()[idx.clamp(min=0)]  # (R, K, C)
    return _scatter_rows((a[..., None].to(f.dtype) * f).sum(1), rows, shape)


def alpha_composite(pointsidx: torch.Tensor, alphas: torch.Tensor, pt_clds: torch.Tensor) -> torch.Tensor:
    """Front-to-back alpha compositing.

    Args:
        pointsidx: ``(N, K, H, W)`` packed point per slot, nearest first, ``-1`` none.
        alphas: ``(N, K, H, W)`` opacity per slot in [0, 1].
        pt_clds: ``(C, P)`` packed point features.

    Returns:
        ``(N, C, H, W)``: ``sum_k a_k prod_{t<k} (1 - a_t) f_k``; 0 where no point.
    """
    return _composite(pointsidx, alphas, pt_clds, "alpha")


def norm_weighted_sum(pointsidx: torch.Tensor, alphas: torch.Tensor, pt_clds: torch.Tensor) -> torch.Tensor:
    """``sum_k a_k f_k / max(sum_k a_k, 1e-4)``, shapes as ``alpha_composite``."""
    return _composite(pointsidx, alphas, pt_clds, "norm")


def weighted_sum(pointsidx: torch.Tensor, alphas: torch.Tensor, pt_clds: torch.Tensor) -> torch.Tensor:
    """``sum_k a_k f_k`` (no normalisation), shapes as ``alpha_composite``."""
    return _composite(pointsidx, alphas, pt_clds, "sum")


def _add_background(pointsidx, images, background_color) -> torch.Tensor:
    """Uncovered pixels (``pointsidx[:, 0] < 0``) -> ``background_color`` (``C`` or ``C - 1`` values + alpha 1)."""
    bg = background_color
    bg = bg.to(images) if isinstance(bg, torch.Tensor) else torch.as_tensor(bg, dtype=images.dtype, device=images.device)
    if bg.dim() == 0:
        bg = bg.expand(images.shape[1])
    if bg.dim() == 1 and bg.shape[0] + 1 == images.shape[1]:
        bg = torch.cat([bg, bg.new_ones(1)])
    if bg.dim() != 1 or bg.shape[0] != images.shape[1]:
        raise ValueError(
            f"background_color: expected {images.shape[1]} or {images.shape[1] - 1} values (image channels), found shape {tuple(bg.shape)}"
        )
    empty = (pointsidx[:, 0] < 0)[:, None]
    return torch.where(empty, bg[None, :, None, None], images)


class _Compositor(nn.Module):
    _fn = None

    def __init__(self, background_color=None) -> None:
        super().__init__()
        self.background_color = background_color

    def forward(self, fragments, alphas, ptclds, **kwargs) -> torch.Tensor:
        """``fragments``: ``(N, K, H, W)`` point indices; returns ``(N, C, H, W)``."""
        images = type(self)._fn(fragments, alphas, ptclds)
        bg = kwargs.get("background_color", self.background_color)
        return images if bg is None else _add_background(fragments, images, bg)


class AlphaCompositor(_Compositor):
    """Front-to-back alpha compositing (``alpha_composite``), optional background."""

    _fn = staticmethod(alpha_composite)


class NormWeightedCompositor(_Compositor):
    """Normalised weighted sum (``norm_weighted_sum``), optional background."""

    _fn = staticmethod(norm_weighted_sum)


class WeightedSumCompositor(_Compositor):
    """Plain weighted sum (``weighted_sum``), optional background."""

    _fn = staticmethod(weighted_sum)


_COMPOSITORS = {
    "alpha": AlphaCompositor,
    "norm_weighted": NormWeightedCompositor,
    "weighted_sum": WeightedSumCompositor,
}


def make_compositor(compositor, background_color=None) -> nn.Module:
    """A compositor module, or one named ``"alpha"``, ``"norm_weighted"`` or ``"weighted_sum"``."""
    if isinstance(compositor, str):
        if compositor not in _COMPOSITORS:
            raise ValueError(f"compositor: expected one of {sorted(_COMPOSITORS)} or a compositor module, found {compositor!r}")
        return _COMPOSITORS[compositor](background_color)
    if isinstance(compositor, nn.Module) or callable(compositor):
        return compositor
    raise ValueError(f"compositor: expected a compositor module or a name in {sorted(_COMPOSITORS)}, found {type(compositor).__name__}")


class PointsRenderer(nn.Module):
    """Render point clouds: rasterise, weight each slot, composite features.

    The weight of point ``p`` at a pixel is ``1 - d^2 / r_p^2`` (in [0, 1],
    SynSin-style soft disks). Features are the clouds' ``features`` (or the
    ``features=`` keyword, ``(sum P_i, C)``, or white). Returns ``(N, H, W, C)``.

    Args:
        rasterizer: a ``PointsRasterizer``.
        compositor: a compositor module or ``"alpha"`` / ``"norm_weighted"`` / ``"weighted_sum"``.
    """

    def __init__(self, rasterizer, compositor="alpha") -> None:
        super().__init__()
        self.rasterizer = rasterizer
        self.compositor = make_compositor(compositor)

    def to(self, device):
        self.rasterizer = self.rasterizer.to(device)
        self.compositor = self.compositor.to(device)
        return self

    def forward(self, point_clouds, **kwargs) -> torch.Tensor:
        clouds = _as_clouds(point_clouds)
        frags = self.rasterizer(clouds, **kwargs)
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
        r_slot = r[frags.idx.clamp(min=0)] if r.numel() else torch.ones_like(frags.dists)
        w = (1 - frags.dists / (r_slot * r_slot).clamp(min=1e-20)).clamp(0, 1)
        images = self.compositor(
            frags.idx.permute(0, 3, 1, 2),
            w.permute(0, 3, 1, 2),
            feats.t(),
            **{k: v for k, v in kwargs.items() if k == "background_color"},
        )
        return images.permute(0, 2, 3, 1)
