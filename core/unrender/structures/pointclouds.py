"""Batched point clouds of different sizes, with optional normals and features."""

from __future__ import annotations

from functools import cached_property
from typing import Sequence

import torch

from .._validate import check_finite, check_positive_int, check_tensor
from .utils import batch_indices, list_to_padded, normalize_to_unit_sphere

__all__ = ["PointClouds", "Pointclouds"]


def _as_list(name: str, x, width: int | None) -> list[torch.Tensor] | None:
    if x is None:
        return None
    if isinstance(x, torch.Tensor):
        check_tensor(name, x, [None, None, width], floating=True)
        return list(x.unbind(0))
    if isinstance(x, (list, tuple)):
        return list(x)
    raise ValueError(f"{name}: expected a list of (P, C) tensors or a (B, P, C) tensor, found {type(x).__name__}")


class PointClouds:
    """A batch of ``B`` point clouds.

    Args:
        points: list of ``(P_i, 3)`` tensors or a ``(B, P, 3)`` tensor.
        normals: optional, same layout as ``points``.
        features: optional list of ``(P_i, C)`` or ``(B, P, C)`` (e.g. RGB colours).
    """

    def __init__(self, points, normals=None, features=None) -> None:
        pts = _as_list("points", points, 3)
        nrm = _as_list("normals", normals, 3)
        feat = _as_list("features", features, None)
        device = pts[0].device if pts else torch.device("cpu")
        for i, p in enumerate(pts):
            check_tensor(f"points[{i}]", p, [None, 3], floating=True)
            check_finite(f"points[{i}]", p)
        for name, extra in (("normals", nrm), ("features", feat)):
            if extra is None:
                continue
            if len(extra) != len(pts):
                raise ValueError(f"{name}: expected {len(pts)} entries (one per cloud), found {len(extra)}")
            for i, (p, e) in enumerate(zip(pts, extra)):
                check_tensor(f"{name}[{i}]", e, [p.shape[0], 3 if name == "normals" else None])
        self._points = pts
        self._normals = nrm
        self._features = feat
        self.device = device

    def __len__(self) -> int:
        return len(self._points)

    def __getitem__(self, index) -> "PointClouds":
        index = batch_indices(index, len(self))
        pick = lambda xs: None if xs is None else [xs[i] for i in index]  # noqa: E731
        return PointClouds(pick(self._points), pick(self._normals), pick(self._features))

    def __repr__(self) -> str:
        return f"PointClouds(B={len(self)}, points={self.num_points_per_cloud().tolist()})"

    def isempty(self) -> bool:
        return len(self) == 0 or int(self.num_points_per_cloud().sum()) == 0

    @cached_property
    def _np(self) -> torch.Tensor:
        return torch.tensor([int(p.shape[0]) for p in self._points], dtype=torch.int64, device=self.device)

    def num_points_per_cloud(self) -> torch.Tensor:
        """``(B,)`` int64."""
        return self._np

    def cloud_to_packed_first_idx(self) -> torch.Tensor:
        return torch.cumsum(self._np, 0) - self._np

    def packed_to_cloud_idx(self) -> torch.Tensor:
        return torch.repeat_interleave(torch.arange(len(self), device=self.device), self._np)

    def points_list(self) -> list[torch.Tensor]:
        return list(self._points)

    def normals_list(self) -> list[torch.Tensor] | None:
        return None if self._normals is None else list(self._normals)

    def features_list(self) -> list[torch.Tensor] | None:
        return None if self._features is None else list(self._features)

    def points_packed(self) -> torch.Tensor:
        """``(sum P_i, 3)``."""
        return torch.cat(self._points, 0)

    def normals_packed(self) -> torch.Tensor | None:
        return None if self._normals is None else torch.cat(self._normals, 0)

    def features_packed(self) -> torch.Tensor | None:
        return None if self._features is None else torch.cat(self._features, 0)

    def points_padded(self) -> torch.Tensor:
        """``(B, max P_i, 3)``, zero padded."""
        return list_to_padded(self._points, 0.0)

    def normals_padded(self) -> torch.Tensor | None:
        return None if self._normals is None else list_to_padded(self._normals, 0.0)

    def features_padded(self) -> torch.Tensor | None:
        return None if self._features is None else list_to_padded(self._features, 0.0)

    def get_bounding_boxes(self) -> torch.Tensor:
        """``(B, 3, 2)``: per cloud and axis, ``[min, max]``."""
        return torch.stack([torch.stack([p.min(0).values, p.max(0).values], 1) for p in self._points], 0)

    def offset(self, offsets_packed: torch.Tensor) -> "PointClouds":
        """New clouds with points moved by ``(sum P_i, 3)`` (or ``(3,)``) offsets."""
        new = self.points_packed() + offsets_packed
        return PointClouds(list(new.split(self._np.tolist(), 0)), self._normals, self._features)

    def normalize(self, center: str = "bbox") -> tuple["PointClouds", torch.Tensor, torch.Tensor]:
        """Fit each cloud into the unit sphere; returns ``(clouds, centers (B, 3), scales (B,))``."""
        pts, centers, scales = normalize_to_unit_sphere(self._points, center, "clouds")
        return PointClouds(pts, self._normals, self._features), centers, scales

    def to(self, device) -> "PointClouds":
        mv = lambda xs: None if xs is None else [x.to(device) for x in xs]  # noqa: E731
        return PointClouds(mv(self._points), mv(self._normals), mv(self._features))

    def cpu(self) -> "PointClouds":
        return self.to("cpu")

    def clone(self) -> "PointClouds":
        cl = lambda xs: None if xs is None else [x.clone() for x in xs]  # noqa: E731
        return PointClouds(cl(self._points), cl(self._normals), cl(self._features))

    def detach(self) -> "PointClouds":
        de = lambda xs: None if xs is None else [x.detach() for x in xs]  # noqa: E731
        return PointClouds(de(self._points), de(self._normals), de(self._features))

    def to_pytorch3d(self):
        """Return the same batch as a ``pytorch3d.structures.Pointclouds`` (needs PyTorch3D)."""
        from ..interop import pytorch3d_structures

        return pytorch3d_structures().Pointclouds(
            points=self.points_list(), normals=self.normals_list(), features=self.features_list()
        )

    @classmethod
    def from_pytorch3d(cls, clouds) -> "PointClouds":
        """Build from a ``pytorch3d.structures.Pointclouds``."""
        return cls(clouds.points_list(), clouds.normals_list(), clouds.features_list())

    @classmethod
    def join(cls, clouds: Sequence["PointClouds"]) -> "PointClouds":
        """Concatenate batches; normals/features are kept only if every batch has them."""
        pts = [p for c in clouds for p in c.points_list()]
        nrm = None if any(c._normals is None for c in clouds) else [n for c in clouds for n in c._normals]
        feat = None if any(c._features is None for c in clouds) else [f for c in clouds for f in c._features]
        return cls(pts, nrm, feat)

    def extend(self, N: int) -> "PointClouds":
        """A batch holding each cloud ``N`` times in a row (``len(self) * N`` clouds), as PyTorch3D's."""
        check_positive_int("N", N)
        return self[[i for i in range(len(self)) for _ in range(N)]]


Pointclouds = PointClouds  # PyTorch3D's spelling: the same class
