"""Voxel grids as NumPy files: ``.npz`` holding ``grid`` (D, H, W) and ``bounds`` (2, 3), or a ``.npy`` grid.

``bounds`` rows are the minimum and maximum corner of the box the grid fills
(see :class:`~unrender.structures.Voxels`); a ``.npy`` file or an ``.npz``
without ``bounds`` gets the default cube ``[-1, 1]^3``. An ``.npz`` may name
its grid ``occupancy`` instead of ``grid``.
"""

from __future__ import annotations

import numpy as np
import torch

from ._common import as_path
from .arrays import load_arrays

__all__ = ["load_voxels", "save_voxels"]

_SUFFIXES = (".npz", ".npy")


def _suffix(path) -> str:
    s = as_path(path).suffix.lower()
    if s not in _SUFFIXES:
        raise ValueError(f"{path}: expected a file ending in .npz or .npy, found {s or 'no extension'!r}")
    return s


def load_voxels(path, *, device="cpu"):
    """Read a one-grid :class:`~unrender.structures.Voxels` from ``.npz`` or ``.npy`` (float32).

    The file is read by :func:`~unrender.io.arrays.load_arrays` (bounded memory, real dtypes only).
    """
    from ..structures import Voxels

    p = as_path(path)
    arrays = load_arrays(p)
    grid = arrays.get("grid", arrays.get("array", arrays.get("occupancy")))
    if grid is None or grid.ndim != 3:
        found = {k: v.shape for k, v in arrays.items()}
        raise ValueError(f"{p} should hold a (D, H, W) array named 'grid', found {found}")
    grid_t = torch.as_tensor(np.asarray(grid, dtype=np.float32))
    bounds = arrays.get("bounds")
    if bounds is not None:
        bounds = torch.as_tensor(np.asarray(bounds, dtype=np.float32))
        if bounds.shape != (2, 3):
            raise ValueError(f"'bounds' in {p} should have shape (2, 3), found {tuple(bounds.shape)}")
        bounds = bounds[None]
    return Voxels([grid_t], bounds).to(device)


def save_voxels(path, voxels) -> None:
    """Write a one-grid ``Voxels`` as ``.npz`` (``grid`` and ``bounds``, compressed) or ``.npy`` (grid only)."""
    from ..structures import Voxels

    if not isinstance(voxels, Voxels):
        raise ValueError(f"voxels: expected a Voxels, found {type(voxels).__name__}")
    if len(voxels) != 1:
        raise ValueError(f"voxels: expected a Voxels holding one grid, found {len(voxels)}")
    v = voxels.detach().cpu()
    grid = v.grids_list()[0].numpy()
    if _suffix(path) == ".npy":
        np.save(as_path(path), grid)
    else:
        np.savez_compressed(as_path(path), grid=grid, bounds=v.bounds()[0].numpy())
