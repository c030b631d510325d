"""Iso-surfaces of sampled scalar fields, by marching cubes (pymcubes).

Two entry points:

* :func:`marching_cubes` for voxel grids, whose values sit at voxel centres
  (the :class:`~unrender.structures.Voxels` convention: ``grid[z, y, x]``,
  shape ``(D, H, W)``, cell ``(k, j, i)`` centred at
  ``min + (i + 0.5, j + 0.5, k + 0.5) * size``);
* :func:`marching_cubes_implicit` for a function ``fn(points) -> values``
  sampled on a grid whose outermost samples lie on the box faces.

Both return world-space meshes whose faces are oriented outward (counter-clockwise
seen from outside, so face normals point from the inside region to the outside).
An iso-value that is never crossed gives an *empty* mesh (0 vertices, 0 faces;
``Meshes.isempty()`` is true), not an error, so batches keep one mesh per grid.
A surface cut by the grid boundary is left open there (no padding is added).

Differences from PyTorch3D's ``ops.marching_cubes`` (same crossing points, same
triangle count on generic fields; triangulation of ambiguous cubes may differ):

* placement: PyTorch3D maps voxel *index* ``0 .. W-1`` onto ``[-1, 1]``
  (align-corners); here voxel *centres* sit at ``-1 + (i + 0.5) * 2 / W`` for
  the default bounds, like ``Voxels`` and ``cubify(..., align="corner")``;
* winding: PyTorch3D's triangles face into the region above the iso-value;
  here they face out of the inside region (choose it with ``inside``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .._validate import check_finite, check_positive_int, check_tensor, parse_bounds, parse_real, parse_resolution
from ..structures import Meshes, Voxels

__all__ = ["marching_cubes", "marching_cubes_implicit"]

_INSIDE = ("positive", "negative")


# ---------------------------------------------------------------- arguments
def _parse_inside(inside) -> bool:
    """True when the inside region is where values exceed the iso-value."""
    if inside not in _INSIDE:
        raise ValueError(f"inside: expected 'positive' (occupancy) or 'negative' (SDF), found {inside!r}")
    return inside == "positive"


# ---------------------------------------------------------------- core
def _clean(verts: torch.Tensor, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Merge coincident vertices, drop zero-area faces and unused vertices.

    Args:
        verts: ``(V, 3)`` float64 in grid-index units; faces: ``(F, 3)`` int64.
    Returns:
        ``(V', 3)`` and ``(F', 3)``; vertices keep the order of their first use.
    """
    if faces.numel() == 0:
        return verts.new_zeros((0, 3)), faces.new_zeros((0, 3))
    # pymcubes emits one point per crossed edge, so a field equal to the
    # iso-value at a sample puts several coincident points there.
    uniq, inverse = torch.unique(verts, dim=0, return_inverse=True)
    if uniq.shape[0] < verts.shape[0]:
        verts, faces = uniq, inverse[faces]
    a, b, c = verts[faces].unbind(1)
    twice_area = torch.linalg.cross(b - a, c - a).norm(dim=1)
    distinct = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
    faces = faces[distinct & (twice_area > 1e-12)]  # grid-index units: cells have unit size
    flat = faces.reshape(-1)
    first = torch.full((verts.shape[0],), flat.numel(), dtype=torch.int64)
    first.scatter_reduce_(0, flat, torch.arange(flat.numel()), reduce="amin")
    kept = int((first < flat.numel()).sum())
    order = torch.argsort(first, stable=True)[:kept]
    remap = torch.empty(verts.shape[0], dtype=torch.int64)
    remap[order] = torch.arange(kept)
    return verts[order], remap[faces]


def _march(volume: np.ndarray, isovalue: float, inside_positive: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Marching cubes of a ``(D, H, W)`` array indexed ``[z, y, x]``.

    Returns ``(V, 3)`` float64 vertices as ``(x, y, z)`` *index* coordinates
    (sample ``[k, j, i]`` is the point ``(i, j, k)``) and ``(F, 3)`` int64 faces,
    oriented outward.
    """
    if min(volume.shape) < 2:
        return torch.zeros((0, 3), dtype=torch.float64), torch.zeros((0, 3), dtype=torch.int64)
    import mcubes  # stand-in until unrender's own marching cubes lands (issue 14, branch i14-mc)

    v, f = mcubes.marching_cubes(np.ascontiguousarray(volume, dtype=np.float64), float(isovalue))
    # pymcubes returns points in volume-axis order (axis 0 first), oriented outward
    # from the region above the iso-value. Reversing the axes to (x, y, z) is a
    # reflection, which flips orientation; a negative-inside field flips it back.
    verts = torch.from_numpy(v[:, ::-1].copy()).reshape(-1, 3)
    faces = torch.from_numpy(f.astype(np.int64)).reshape(-1, 3)
    if inside_positive:
        faces = faces[:, [0, 2, 1]]
    return _clean(verts, faces)


# ---------------------------------------------------------------- public
def marching_cubes(
    grid,
    isovalue: float = 0.5,
    bounds=None,
    *,
    inside: str = "positive",
) -> Meshes:
    """Iso-surface of voxel grids whose values sit at voxel centres.

    Args:
        grid: ``(D, H, W)`` or ``(B, D, H, W)`` real tensor indexed ``[z, y, x]``,
            or a :class:`Voxels` (which carries its own bounds, and may hold
            grids of different resolutions).
        isovalue: the level to extract.
        bounds: only with a tensor ``grid``: ``(2, 3)`` or ``(B, 2, 3)`` box
            ``[[xmin, ymin, zmin], [xmax, ymax, zmax]]`` split into the grid's
            cells. Default: ``[-1, 1]^3``, as in ``Voxels``.
        inside: ``"positive"`` when values above ``isovalue`` are inside
            (occupancy, density), ``"negative"`` when values below are (SDF).

    Returns:
        ``Meshes`` with one mesh per grid: world-space ``(V, 3)`` vertices (the
        grid's float dtype, float32 for integer/bool grids) and outward
        ``(F, 3)`` faces. Vertices lie on segments between neighbouring voxel
        centres, so a surface never reaches closer than half a voxel to the box
        faces. A grid that never crosses ``isovalue`` gives an empty mesh.
    """
    inside_positive = _parse_inside(inside)
    isovalue = parse_real("isovalue", isovalue)
    if isinstance(grid, Voxels):
        if bounds is not None:
            raise ValueError("bounds: expected None with a Voxels grid (it carries its own bounds), found a value")
        grids = grid.grids_list()
        box = grid.bounds().to(torch.float64)
    elif isinstance(grid, torch.Tensor):
        if grid.dim() == 3:
            grid = grid[None]
        check_tensor("grid", grid, [None, None, None, None])
        if grid.is_complex():
            raise ValueError(f"grid: expected a real tensor, found dtype {grid.dtype}")
        if min(grid.shape[1:]) < 1:
            raise ValueError(f"grid: expected every dimension >= 1, found shape {tuple(grid.shape)}")
        check_finite("grid", grid)
        grids = list(grid.unbind(0))
        box = parse_bounds("bounds", [[-1.0] * 3, [1.0] * 3] if bounds is None else bounds, len(grids))
    else:
        raise ValueError(f"grid: expected a (D, H, W) tensor or a Voxels, found {type(grid).__name__}")

    verts_out, faces_out = [], []
    for g, bb in zip(grids, box.cpu()):
        out_dtype = g.dtype if g.is_floating_point() else torch.float32
        v, f = _march(g.detach().to("cpu", torch.float64).numpy(), isovalue, inside_positive)
        D, H, W = g.shape
        size = (bb[1] - bb[0]) / torch.tensor([W, H, D], dtype=torch.float64)
        world = bb[0] + (v + 0.5) * size
        verts_out.append(world.to(device=g.device, dtype=out_dtype))
        faces_out.append(f.to(g.device))
    return Meshes(verts_out, faces_out)


@torch.no_grad()
def marching_cubes_implicit(
    fn: Callable[[torch.Tensor], torch.Tensor],
    bounds,
    resolution=64,
    isovalue: float = 0.0,
    *,
    inside: str = "negative",
    chunk: int = 262144,
    dtype: torch.dtype = torch.float32,
    device=None,
) -> Meshes:
    """Iso-surface of an implicit function sampled on a regular grid.

    ``fn`` is evaluated (without gradients, ``chunk`` points per call) at
    ``W x H x D`` points ``min + (i, j, k) * (max - min) / (W - 1, H - 1, D - 1)``,
    so the first and last samples of each axis lie on the box faces.

    Args:
        fn: maps ``(N, 3)`` points ``(x, y, z)`` to ``(N,)`` (or ``(N, 1)``) values.
        bounds: ``(2, 3)`` box ``[[xmin, ymin, zmin], [xmax, ymax, zmax]]``.
        resolution: samples per axis, an int or ``(D, H, W)`` (along z, y, x), each >= 2.
        isovalue: the level to extract.
        inside: ``"negative"`` (SDF: values below ``isovalue`` are inside) or
            ``"positive"`` (occupancy: values above are inside).
        chunk: points per call of ``fn``.
        dtype, device: of the points given to ``fn`` (device default: the
            bounds' device) and of the output vertices.

    Returns:
        A one-mesh ``Meshes``, outward faces, empty when ``isovalue`` is never crossed.
    """
    if not callable(fn):
        raise ValueError(f"fn: expected a callable (N, 3) -> (N,), found {type(fn).__name__}")
    inside_positive = _parse_inside(inside)
    isovalue = parse_real("isovalue", isovalue)
    D, H, W = parse_resolution("resolution", resolution, minimum=2)
    check_positive_int("chunk", chunk)
    if device is None:
        device = bounds.device if isinstance(bounds, torch.Tensor) else torch.device("cpu")
    box = parse_bounds("bounds", bounds, 1)[0]
    lo, hi = box[0], box[1]
    counts = torch.tensor([W, H, D], dtype=torch.float64)
    step = (hi - lo) / (counts - 1)

    n = D * H * W
    values = np.empty(n, dtype=np.float64)
    for start in range(0, n, chunk):
        idx = torch.arange(start, min(start + chunk, n), dtype=torch.int64)
        ijk = torch.stack([idx % W, (idx // W) % H, idx // (W * H)], 1).to(torch.float64)
        pts = (lo + ijk * step).to(device=device, dtype=dtype)
        out = fn(pts)
        if not isinstance(out, torch.Tensor):
            out = torch.as_tensor(np.asarray(out))
        if out.dim() == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.shape != (idx.numel(),):
            raise ValueError(
                f"fn: expected ({idx.numel()},) values for ({idx.numel()}, 3) points, found shape {tuple(out.shape)}"
            )
        if out.is_complex():
            raise ValueError(f"fn: expected real values, found dtype {out.dtype}")
        out = out.detach().to("cpu", torch.float64)
        check_finite("fn", out)
        values[start : start + idx.numel()] = out.numpy()

    v, f = _march(values.reshape(D, H, W), isovalue, inside_positive)
    world = lo + v * step
    return Meshes([world.to(device=device, dtype=dtype)], [f.to(device)])
