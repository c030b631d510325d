"""Fields stored on grids: a dense grid, a coarse feature grid + MLP (hybrid), axis-aligned planes + MLP
(tri-plane / ground plan) and a hash grid + MLP."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import check_positive_int, check_tensor
from .base import Field, mlp
from .encodings import HashGridEncoding
from .mlp_fields import MLPField

__all__ = ["sample_grid", "DenseGridField", "VoxelGridField", "HybridField", "TriPlaneField", "HashGridField"]

COMBINE = ("sum", "product", "concat")


def sample_grid(grid: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bi- / trilinear lookup of grid values at points in ``[-1, 1]``, the corners on the first and last samples.

    Args:
        grid: ``(C, H, W)`` (2D) or ``(C, D, H, W)`` (3D) float, indexed ``[y, x]`` / ``[z, y, x]``.
        points: ``(N, 2)`` ``(x, y)`` or ``(N, 3)`` ``(x, y, z)``; outside the box the border value holds.
    Returns:
        ``(N, C)``.
    """
    dim = grid.dim() - 1
    if dim not in (2, 3):
        raise ValueError(f"grid: expected (C, H, W) or (C, D, H, W), found shape {tuple(grid.shape)}")
    check_tensor("points", points, [None, dim], floating=True)
    where = points.to(grid.dtype).view(1, -1, *([1] * (dim - 1)), dim)
    out = F.grid_sample(grid[None], where, mode="bilinear", padding_mode="border", align_corners=True)
    return out.reshape(grid.shape[0], -1).t()


def _grid_shape(name: str, in_dim: int, resolution: int) -> tuple[int, ...]:
    check_positive_int(name, resolution, minimum=2)
    if in_dim not in (2, 3):
        raise ValueError(f"in_dim: expected 2 or 3 for a grid field, found {in_dim}")
    return (resolution,) * in_dim


class DenseGridField(Field):
    """The values themselves on a ``resolution**in_dim`` grid, read bi- / trilinearly; starts at ``init``."""

    def __init__(self, in_dim: int, out_dim: int, resolution: int = 128, init: float = 0.0):
        super().__init__(in_dim, out_dim)
        self.grid = nn.Parameter(torch.full((out_dim, *_grid_shape("resolution", in_dim, resolution)), float(init)))

    def evaluate(self, points: torch.Tensor) -> torch.Tensor:
        return sample_grid(self.grid, points)


class VoxelGridField(Field):
    """A dense grid of ``resolution + 1`` vertices per axis over ``[-1, 1]^in_dim``, read bi- / trilinearly
    (corners on the box's faces, as :class:`DenseGridField`), stored channel-last as the rows of a one-level
    :class:`HashGridEncoding` (``table (V, out_dim)``, row ``v_x + (R + 1) v_y (+ (R + 1)^2 v_z)``).

    A read gathers the ``2**in_dim`` corner rows of each point (cheaper than ``grid_sample`` and its
    backward on the CPU), so only those rows get a gradient: :class:`unrender.nerf.RowAdam` then updates
    only them (DVGO / Plenoxels on the CPU). :meth:`upsample` refines the grid in place for coarse-to-fine
    training. Starts at ``init``; ``sparse``: see :class:`HashGridEncoding`.
    """

    def __init__(self, in_dim: int, out_dim: int, resolution: int = 64, init: float = 0.0, sparse: bool = False):
        super().__init__(in_dim, out_dim)
        check_positive_int("resolution", resolution)
        _grid_shape("resolution", in_dim, resolution + 1)
        self.encoding = HashGridEncoding(in_dim, 1, (resolution + 1) ** in_dim, out_dim, resolution, 1.0,
                                         sparse)
        with torch.no_grad():
            self.encoding.table.fill_(float(init))

    @property
    def resolution(self) -> int:
        return self.encoding.resolutions[0]

    @property
    def table(self) -> nn.Parameter:
        """``(V, out_dim)``: the vertex values, ``V = (resolution + 1)**in_dim``."""
        return self.encoding.table

    def grid(self) -> torch.Tensor:
        """The values as a :func:`sample_grid` grid: ``(out_dim, R + 1, R + 1[, R + 1])`` indexed ``[z, y, x]``."""
        n = self.resolution + 1
        return self.table.view(*(n,) * self.in_dim, self.out_dim).movedim(-1, 0)

    def evaluate(self, points: torch.Tensor) -> torch.Tensor:
        return self.encoding(points)

    @torch.no_grad()
    def upsample(self, resolution: int) -> None:
        """Resample the values (bi- / trilinearly) onto ``resolution`` cells per axis: a new ``table`` parameter
        (optimisers holding the old one must be rebuilt)."""
        check_positive_int("resolution", resolution)
        n = resolution + 1
        mode = "trilinear" if self.in_dim == 3 else "bilinear"
        values = F.interpolate(self.grid()[None], size=(n,) * self.in_dim, mode=mode, align_corners=True)[0]
        self.encoding = HashGridEncoding(self.in_dim, 1, n**self.in_dim, self.out_dim, resolution, 1.0,
                                         self.encoding.sparse).to(values.device)
        self.encoding.table.data = values.movedim(0, -1).reshape(-1, self.out_dim).contiguous()


class HybridField(Field):
    """A coarse grid of ``features`` channels read bi- / trilinearly, decoded by a small ReLU MLP."""

    def __init__(self, in_dim: int, out_dim: int, resolution: int = 64, features: int = 16, hidden: int = 64, layers: int = 2):
        super().__init__(in_dim, out_dim)
        check_positive_int("features", features)
        self.grid = nn.Parameter(0.1 * torch.randn(features, *_grid_shape("resolution", in_dim, resolution)))
        self.net = mlp(features, out_dim, hidden, layers)

    def evaluate(self, points: torch.Tensor) -> torch.Tensor:
        return self.net(sample_grid(self.grid, points))


class TriPlaneField(Field):
    """Features on axis-aligned (in_dim - 1)-dimensional grids, combined and decoded by a small ReLU MLP.

    3D (tri-plane, EG3D): three ``resolution**2`` planes over ``(x, y)``, ``(x, z)``
    and ``(y, z)``. 2D (the ground plan's factorised, line + plane variant): two
    ``resolution``-long lines over ``x`` and over ``y``. ``coarse_resolution > 0``
    adds one full-dimensional grid at that resolution (default: ``resolution // 8``
    in 2D, where lines alone only hold separable patterns, none in 3D).
    ``combine``: ``"sum"`` (EG3D), ``"product"`` (K-planes / TensoRF: the 2D lines
    then form a rank-``features`` factorisation) or ``"concat"`` of the
    ``features``-channel parts before the MLP.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        resolution: int = 128,
        features: int = 16,
        combine: str = "sum",
        hidden: int = 64,
        layers: int = 2,
        coarse_resolution: int | None = None,
    ):
        super().__init__(in_dim, out_dim)
        check_positive_int("features", features)
        check_positive_int("resolution", resolution, minimum=2)
        if in_dim not in (2, 3):
            raise ValueError(f"in_dim: expected 2 or 3 for a grid field, found {in_dim}")
        if combine not in COMBINE:
            raise ValueError(f"combine: expected one of {COMBINE}, found {combine!r}")
        if coarse_resolution is None:
            coarse_resolution = max(resolution // 8, 2) if in_dim == 2 else 0
        check_positive_int("coarse_resolution", coarse_resolution, minimum=0)
        self.combine = combine
        self.axes = list(itertools.combinations(range(in_dim), in_dim - 1))
        # 2D lines are stored as (F, 1, R) images read at y = 0
        shape = (resolution, resolution) if in_dim == 3 else (1, resolution)
        init = (lambda *s: 1.0 + 0.1 * torch.randn(*s)) if combine == "product" else (lambda *s: 0.1 * torch.randn(*s))
        self.planes = nn.ParameterList([nn.Parameter(init(features, *shape)) for _ in self.axes])
        self.coarse = None
        if coarse_resolution:
            self.coarse = nn.Parameter(init(features, *_grid_shape("coarse_resolution", in_dim, coarse_resolution)))
        parts = len(self.axes) + (self.coarse is not None)
        self.net = mlp(features * (parts if combine == "concat" else 1), out_dim, hidden, layers)

    def evaluate(self, points: torch.Tensor) -> torch.Tensor:
        feats = []
        for axes, plane in zip(self.axes, self.planes):
            where = points[:, list(axes)]
            if len(axes) == 1:
                where = torch.cat([where, torch.zeros_like(where)], 1)
            feats.append(sample_grid(plane, where))
        if self.coarse is not None:
            feats.append(sample_grid(self.coarse, points))
        if self.combine == "concat":
            f = torch.cat(feats, 1)
        elif self.combine == "sum":
            f = torch.stack(feats).sum(0)
        else:
            f = torch.stack(feats).prod(0)
        return self.net(f)


class HashGridField(MLPField):
    """A :class:`HashGridEncoding` decoded by a small ReLU MLP (instant-ngp's field)."""

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        levels: int = 16,
        table_size: int = 2**19,
        features: int = 2,
        base_resolution: int = 16,
        growth_factor: float = 1.5,
        hidden: int = 64,
        layers: int = 2,
        sparse: bool = False,
    ):
        encoding = HashGridEncoding(in_dim, levels, table_size, features, base_resolution, growth_factor, sparse)
        super().__init__(in_dim, out_dim, hidden, layers, encoding=encoding)
