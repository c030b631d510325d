"""Batched voxel grids of different resolutions.

Axis convention (the same as PyTorch3D's ``cubify`` and ``Volumes``): a grid is
indexed ``grid[z, y, x]``, shape ``(D, H, W)``. Each grid covers an axis-aligned
box ``bounds = [[xmin, ymin, zmin], [xmax, ymax, zmax]]`` split into ``W x H x D``
cells; voxel ``(k, j, i)`` is the cell whose centre is
``min + (i + 0.5, j + 0.5, k + 0.5) * (max - min) / (W, H, D)``.
"""

from __future__ import annotations

from functools import cached_property

import torch

from .._validate import check_finite, check_tensor
from .utils import batch_indices

__all__ = ["Voxels"]


class Voxels:
    """A batch of ``B`` occupancy (or any scalar) grids.

    Args:
        grids: list of ``(D_i, H_i, W_i)`` float tensors or a ``(B, D, H, W)`` tensor.
        bounds: ``(2, 3)`` shared by all grids or ``(B, 2, 3)``; rows are the
            minimum and maximum corner. Default: the cube ``[-1, 1]^3``.
    """

    def __init__(self, grids, bounds: torch.Tensor | None = None) -> None:
        if isinstance(grids, torch.Tensor):
            check_tensor("grids", grids, [None, None, None, None])
            grids = list(grids.unbind(0))
        elif not isinstance(grids, (list, tuple)):
            raise ValueError(f"grids: expected a list of (D, H, W) tensors or a (B, D, H, W) tensor, found {type(grids).__name__}")
        grids = [g if g.is_floating_point() else g.float() for g in grids]
        for i, g in enumerate(grids):
            check_tensor(f"grids[{i}]", g, [None, None, None])
            check_finite(f"grids[{i}]", g)
            if min(g.shape) == 0:
                raise ValueError(f"grids[{i}]: expected every dimension >= 1, found shape {tuple(g.shape)}")
        device = grids[0].device if grids else torch.device("cpu")
        dtype = grids[0].dtype if grids else torch.float32
        if bounds is None:
            bounds = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]], dtype=dtype, device=device)
        bounds = torch.as_tensor(bounds, dtype=dtype, device=device)
        if bounds.shape == (2, 3):
            bounds = bounds.expand(len(grids), 2, 3)
        check_tensor("bounds", bounds, [len(grids), 2, 3])
        check_finite("bounds", bounds)
        if len(grids) and not bool((bounds[:, 1] > bounds[:, 0]).all()):
            raise ValueError("bounds: expected max corner > min corner on every axis, found an empty or inverted box")
        self._grids = grids
        self._bounds = bounds.contiguous()
        self.device = device

    def __len__(self) -> int:
        return len(self._grids)

    def __getitem__(self, index) -> "Voxels":
        index = batch_indices(index, len(self))
        return Voxels([self._grids[i] for i in index], self._bounds[index])

    def __repr__(self) -> str:
        return f"Voxels(B={len(self)}, resolutions={self.resolutions().tolist()})"

    @cached_property
    def _res(self) -> torch.Tensor:
        return torch.tensor([list(g.shape) for g in self._grids], dtype=torch.int64, device=self.device).reshape(-1, 3)

    def resolutions(self) -> torch.Tensor:
        """``(B, 3)`` int64: ``(D, H, W)`` of each grid."""
        return self._res

    def bounds(self) -> torch.Tensor:
        """``(B, 2, 3)``: min and max corner of each grid's box."""
        return self._bounds

    def voxel_sizes(self) -> torch.Tensor:
        """``(B, 3)``: cell size along x, y, z."""
        whd = self._res.flip(1).to(self._bounds.dtype)
        return (self._bounds[:, 1] - self._bounds[:, 0]) / whd

    def grids_list(self) -> list[torch.Tensor]:
        return list(self._grids)

    def grids_padded(self) -> torch.Tensor:
        """``(B, max D, max H, max W)``, zero padded at the high end of each axis."""
        D, H, W = (int(x) for x in self._res.max(0).values)
        out = self._grids[0].new_zeros((len(self), D, H, W))
        for i, g in enumerate(self._grids):
            out[i, : g.shape[0], : g.shape[1], : g.shape[2]] = g
        return out

    def grids_packed(self) -> torch.Tensor:
        """``(sum D_i*H_i*W_i,)``: every grid flattened in ``(z, y, x)`` order and concatenated."""
        return torch.cat([g.reshape(-1) for g in self._grids], 0)

    def voxel_centers(self, index: int = 0) -> torch.Tensor:
        """``(D, H, W, 3)`` world-space ``(x, y, z)`` centres of grid ``index``'s cells."""
        D, H, W = self._grids[index].shape
        lo, hi = self._bounds[index]
        dtype, dev = self._bounds.dtype, self.device
        axes = [
            lo[a] + (torch.arange(n, dtype=dtype, device=dev) + 0.5) * (hi[a] - lo[a]) / n
            for a, n in ((2, D), (1, H), (0, W))
        ]
        z, y, x = torch.meshgrid(*axes, indexing="ij")
        return torch.stack([x, y, z], -1)

    def occupied_centers(self, index: int = 0, threshold: float = 0.5) -> torch.Tensor:
        """``(N, 3)`` centres of the cells of grid ``index`` whose value exceeds ``threshold``."""
        return self.voxel_centers(index)[self._grids[index] > threshold]

    def to(self, device) -> "Voxels":
        return Voxels([g.to(device) for g in self._grids], self._bounds.to(device))

    def cpu(self) -> "Voxels":
        return self.to("cpu")

    def clone(self) -> "Voxels":
        return Voxels([g.clone() for g in self._grids], self._bounds.clone())

    def detach(self) -> "Voxels":
        return Voxels([g.detach() for g in self._grids], self._bounds)

    def to_pytorch3d(self):
        """The same grids as ``pytorch3d.structures.Volumes`` densities (needs PyTorch3D).

        PyTorch3D places voxel centres at ``x_local in [-1, 1]`` and maps them to
        world space with ``voxel_size`` and ``volume_translation = -centre``, so
        ``Volumes.get_coord_grid()`` equals :meth:`voxel_centers`.
        """
        from ..interop import pytorch3d_structures

        return pytorch3d_structures().Volumes(
            densities=[g[None] for g in self._grids],
            voxel_size=self.voxel_sizes(),
            volume_translation=-(self._bounds[:, 0] + self._bounds[:, 1]) / 2,
        )

    @classmethod
    def from_pytorch3d(cls, volumes) -> "Voxels":
        """Build from ``pytorch3d.structures.Volumes`` (first density channel of each volume).

        The box is recovered from where the first and last voxel centres land in
        world space, so every axis needs at least two voxels.
        """
        dens = volumes.densities()
        sizes = volumes.get_grid_sizes()  # (B, 3) as (D, H, W)
        if bool((sizes < 2).any()):
            raise ValueError(f"volumes: expected at least 2 voxels along every axis to recover the box, found sizes {sizes.tolist()}")
        B = sizes.shape[0]
        corners = torch.tensor([[-1.0] * 3, [1.0] * 3], dtype=dens.dtype, device=dens.device).expand(B, 2, 3)
        if not volumes.get_align_corners():
            raise ValueError("volumes: expected align_corners=True (PyTorch3D's default), found False")
        first_last = volumes.local_to_world_coords(corners)  # world centres of the first and last voxel
        whd = sizes.flip(1).to(dens.dtype)
        step = (first_last[:, 1] - first_last[:, 0]) / (whd - 1)
        lo = first_last[:, 0] - step / 2
        hi = lo + step * whd
        grids = [dens[i, 0, : int(sizes[i, 0]), : int(sizes[i, 1]), : int(sizes[i, 2])] for i in range(B)]
        return cls(grids, torch.stack([lo, hi], 1))
