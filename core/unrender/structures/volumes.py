"""Batched density (and feature) grids placed in the world: PyTorch3D's ``Volumes``.

A grid is indexed ``[channel, z, y, x]``, shape ``(C, D, H, W)`` (the axis order of
:class:`~unrender.structures.Voxels` and of ``grid_sample``). Three coordinate frames:

* *local*: ``[-1, 1]^3`` over the grid (``x`` along ``W``), ``grid_sample``'s
  normalised coordinates; with ``align_corners`` the extreme voxel centres sit on ±1.
* *world*: ``world = local * (size_xyz - 1) * voxel_size / 2 - volume_translation``
  (so the volume's centre is at ``-volume_translation``, PyTorch3D's convention).
* *grid*: the voxel centres themselves, :meth:`Volumes.get_coord_grid`.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from .._validate import check_finite, check_tensor
from .utils import batch_indices

__all__ = ["Volumes"]


def _as_padded(name: str, x, channels: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A ``(B, C, D, H, W)`` tensor or a list of ``(C, D_i, H_i, W_i)`` -> the zero-padded
    ``(B, C, D, H, W)`` tensor and ``(B, 3)`` int64 sizes ``(D_i, H_i, W_i)``."""
    if isinstance(x, torch.Tensor):
        check_tensor(name, x, [None, channels, None, None, None], floating=True)
        sizes = torch.tensor(list(x.shape[2:]), dtype=torch.int64, device=x.device)[None].repeat(x.shape[0], 1)
    elif isinstance(x, (list, tuple)) and len(x) > 0:
        c = channels if channels is not None else (x[0].shape[0] if isinstance(x[0], torch.Tensor) else None)
        for i, g in enumerate(x):
            check_tensor(f"{name}[{i}]", g, [c, None, None, None], floating=True)
        big = [max(g.shape[k] for g in x) for k in (1, 2, 3)]
        x_t = torch.stack([F.pad(g, (0, big[2] - g.shape[3], 0, big[1] - g.shape[2], 0, big[0] - g.shape[1])) for g in x])
        sizes = torch.tensor([list(g.shape[1:]) for g in x], dtype=torch.int64, device=x_t.device)
        x = x_t
    else:
        raise ValueError(f"{name}: expected a (B, C, D, H, W) tensor or a non-empty list of (C, D, H, W) tensors, found {type(x).__name__}")
    check_finite(name, x)
    if x.shape[0] == 0 or bool((sizes < 2).any()):
        raise ValueError(f"{name}: expected a non-empty batch of grids at least 2 voxels along every axis, found sizes {sizes.tolist()}")
    return x, sizes


def _per_volume(name: str, value, B: int, device) -> torch.Tensor:
    """A number, a 3-vector, ``(1, 3)``, ``(B, 3)``, ``(1,)`` or ``(B, 1)`` -> ``(B, 3)`` float32."""
    t = torch.as_tensor(value, dtype=torch.float32, device=device)
    if t.dim() == 0 or t.shape in ((1,), (1, 1)):
        t = t.reshape(1, 1).expand(1, 3)
    elif t.shape == (3,):
        t = t[None]
    elif t.shape == (B, 1):
        t = t.expand(B, 3)
    if t.dim() != 2 or t.shape[1] != 3 or t.shape[0] not in (1, B):
        raise ValueError(f"{name}: expected a number, a 3-vector or shape (1|{B}, 3|1), found shape {tuple(t.shape)}")
    check_finite(name, t)
    return t.expand(B, 3).contiguous()


class Volumes:
    """A batch of ``B`` volumes.

    Args:
        densities: ``(B, C_d, D, H, W)`` or a list of ``(C_d, D_i, H_i, W_i)`` (padded with zeros).
        features: optional, the same layout with ``C_f`` channels and the same sizes.
        voxel_size: world size of a voxel: a number, ``(3,)``, ``(B, 3)`` or ``(B, 1)``.
        volume_translation: ``(3,)`` or ``(B, 3)``; the volume's centre is at ``-volume_translation``.
        align_corners: ``grid_sample``'s convention for the local frame.
    """

    def __init__(self, densities, features=None, voxel_size=1.0, volume_translation=(0.0, 0.0, 0.0),
                 align_corners: bool = True) -> None:
        self._densities, self._grid_sizes = _as_padded("densities", densities)
        self.device = self._densities.device
        B = len(self)
        self._voxel_size = _per_volume("voxel_size", voxel_size, B, self.device)
        if not bool((self._voxel_size > 0).all()):
            raise ValueError(f"voxel_size: expected values > 0, found {self._voxel_size.tolist()}")
        self._translation = _per_volume("volume_translation", volume_translation, B, self.device)
        self._align_corners = bool(align_corners)
        self._features = None
        if features is not None:
            self._features = self._checked_like_densities("features", features)

    def _checked_like_densities(self, name: str, x) -> torch.Tensor:
        x, sizes = _as_padded(name, x)
        if x.device != self.device:
            raise ValueError(f"{name}: expected device {self.device} (the densities'), found {x.device}")
        if sizes.shape != self._grid_sizes.shape or not bool((sizes == self._grid_sizes).all()):
            raise ValueError(f"{name}: expected grid sizes {self._grid_sizes.tolist()} (the densities'), found {sizes.tolist()}")
        return x

    def __len__(self) -> int:
        return self._densities.shape[0]

    def __repr__(self) -> str:
        return f"Volumes(B={len(self)}, grid_sizes={self._grid_sizes.tolist()})"

    def __getitem__(self, index) -> "Volumes":
        """The volumes at an int, slice, list, int tensor or boolean mask."""
        if isinstance(index, torch.Tensor) and index.dtype == torch.bool:
            if index.shape != (len(self),):
                raise ValueError(f"index: expected a boolean mask of shape ({len(self)},), found {tuple(index.shape)}")
            index = index.nonzero()[:, 0]
        idx = torch.as_tensor(batch_indices(index, len(self)), dtype=torch.int64, device=self.device)
        new = copy.copy(self)
        new._densities = self._densities[idx]
        new._features = None if self._features is None else self._features[idx]
        new._grid_sizes = self._grid_sizes[idx]
        new._voxel_size = self._voxel_size[idx]
        new._translation = self._translation[idx]
        return new

    # ------------------------------------------------------------------ data
    def densities(self) -> torch.Tensor:
        """``(B, C_d, D, H, W)`` padded densities."""
        return self._densities

    def features(self) -> torch.Tensor | None:
        """``(B, C_f, D, H, W)`` padded features, or None."""
        return self._features

    def _unpadded(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [g[:, :d, :h, :w] for g, (d, h, w) in zip(x, self._grid_sizes.tolist())]

    def densities_list(self) -> list[torch.Tensor]:
        """``B`` tensors ``(C_d, D_i, H_i, W_i)``."""
        return self._unpadded(self._densities)

    def features_list(self) -> list[torch.Tensor] | None:
        """``B`` tensors ``(C_f, D_i, H_i, W_i)``, or None."""
        return None if self._features is None else self._unpadded(self._features)

    def get_grid_sizes(self) -> torch.Tensor:
        """``(B, 3)`` int64 ``(D, H, W)`` of each grid."""
        return self._grid_sizes

    def get_align_corners(self) -> bool:
        return self._align_corners

    def update_padded(self, new_densities: torch.Tensor, new_features: torch.Tensor | None = None) -> "Volumes":
        """A copy with new padded densities (and features, None dropping them), same sizes and placement."""
        new = copy.copy(self)
        new._densities = self._checked_like_densities("new_densities", new_densities)
        new._features = None if new_features is None else self._checked_like_densities("new_features", new_features)
        return new

    def clone(self) -> "Volumes":
        return copy.deepcopy(self)

    def to(self, device, copy: bool = False) -> "Volumes":
        """Volumes on ``device`` (self when already there and not ``copy``)."""
        device = torch.device(device)
        if not copy and self.device == device:
            return self
        other = self.clone()
        for name in ("_densities", "_features", "_grid_sizes", "_voxel_size", "_translation"):
            value = getattr(other, name)
            setattr(other, name, None if value is None else value.to(device))
        other.device = device
        return other

    def cpu(self) -> "Volumes":
        return self.to("cpu")

    def cuda(self) -> "Volumes":
        return self.to("cuda")

    # ------------------------------------------------------------ coordinates
    def local_scale(self) -> torch.Tensor:
        """``(B, 3)`` world length of half the grid along ``x, y, z``: ``(size_xyz - 1) * voxel_size / 2``."""
        return (self._grid_sizes.flip(-1).float() - 1) * self._voxel_size * 0.5

    def get_local_to_world_coords_matrix(self) -> torch.Tensor:
        """``(B, 4, 4)`` row-vector matrix ``[x y z 1] @ M`` of ``local -> world`` (PyTorch3D's
        ``get_local_to_world_coords_transform().get_matrix()``; wrap it in
        ``unrender.cameras.Transform3d(matrix=...)`` for a transform object)."""
        m = torch.diag_embed(F.pad(self.local_scale(), (0, 1), value=1.0))
        m[:, 3, :3] = -self._translation
        return m

    def _checked_points(self, name: str, points) -> torch.Tensor:
        if not isinstance(points, torch.Tensor):
            raise ValueError(f"{name}: expected a torch.Tensor, found {type(points).__name__}")
        if points.dim() < 2 or points.shape[0] != len(self) or points.shape[-1] != 3:
            raise ValueError(f"{name}: expected shape ({len(self)}, ..., 3), found {tuple(points.shape)}")
        return points

    def _per_point(self, x: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        return x.to(points.dtype).reshape(len(self), *([1] * (points.dim() - 2)), 3)

    def world_to_local_coords(self, points_3d_world: torch.Tensor) -> torch.Tensor:
        """``(B, ..., 3)`` world points -> local ``[-1, 1]`` grid coordinates."""
        p = self._checked_points("points_3d_world", points_3d_world)
        return (p + self._per_point(self._translation, p)) / self._per_point(self.local_scale(), p)

    def local_to_world_coords(self, points_3d_local: torch.Tensor) -> torch.Tensor:
        """``(B, ..., 3)`` local coordinates -> world points."""
        p = self._checked_points("points_3d_local", points_3d_local)
        return p * self._per_point(self.local_scale(), p) - self._per_point(self._translation, p)

    def get_coord_grid(self, world_coordinates: bool = True) -> torch.Tensor:
        """``(B, D, H, W, 3)`` ``(x, y, z)`` of every voxel centre of the padded grid, in world
        coordinates (or local ones); a smaller grid's own voxels keep its own placement."""
        D, H, W = (int(s) for s in self._grid_sizes.max(0).values.tolist())
        adj = (lambda r: 0.0) if self._align_corners else (lambda r: 1.0 / r)
        axes = [torch.linspace(-1.0 + adj(r), 1.0 - adj(r), r, dtype=torch.float32, device=self.device) for r in (D, H, W)]
        Z, Y, X = torch.meshgrid(axes, indexing="ij")
        local = torch.stack((X, Y, Z), dim=3)[None].repeat(len(self), 1, 1, 1, 1)
        rel = (torch.tensor([[D, H, W]], dtype=torch.float32, device=self.device) - 1) / (self._grid_sizes - 1).float()
        if bool((rel != 1.0).any()):
            rel = rel[:, [2, 1, 0]][:, None, None, None]
            local = local * rel + (rel - 1)
        return self.local_to_world_coords(local) if world_coordinates else local
