"""A mesh from a NeRF: marching cubes on the density, vertex colours from the model."""

from __future__ import annotations

import math

import torch

from ..geometry.marching_cubes import marching_cubes
from ..render.textures import TexturesVertex
from ..structures import Meshes
from ..volumetric import fill_cavities

__all__ = ["nerf_mesh"]


@torch.no_grad()
def nerf_mesh(nerf, resolution: int = 128, threshold: float | None = None, chunk: int = 65536,
              close: int = 2) -> Meshes:
    """The surface where the density of ``nerf.model`` crosses ``threshold``, with vertex colours.

    The density is sampled at the centres of a ``resolution^3`` grid over the scene box.
    threshold: default ``log(2) / (4 cell)`` (a cell of the grid absorbs 16% of the light): a short
    training spreads the opacity of a surface over a few cells, and the "half the light in one cell" level
    ``log(2) / cell`` then leaves holes (example scene, 20 views at 64 px, 30 s at 96^3: Euler
    characteristic -16 and F1@0.05 0.88 at that level, 4 and 0.98 at this one; after 120 s on 40 views at
    128 px both are closed, F1@0.05 1.0, F1@0.02 0.97 against 0.96). The inside of
    the object is filled first (:func:`unrender.volumetric.fill_cavities` with ``close``): a NeRF only
    needs an opaque shell, often hollow with small leaks, whose inner wall is no surface of the object
    (example scene, 40 views at 128 px, 120 s: F1@0.05 0.75 without, 1.0 with ``close=2``; F1@0.02
    0.67 -> 0.975). Colours: a short ray along the inward normal through each vertex, rendered by
    ``nerf.render_rays`` and divided by its opacity, in a :class:`TexturesVertex`.
    """
    model, b = nerf.model, nerf.bound
    cell = 2 * b / resolution
    threshold = math.log(2) / (4 * cell) if threshold is None else float(threshold)
    centres = -b + (torch.arange(resolution, dtype=torch.float32) + 0.5) * cell
    z, y, x = torch.meshgrid(centres, centres, centres, indexing="ij")
    points = torch.stack([x, y, z], -1).reshape(-1, 3).to(nerf.background.device)
    density = torch.cat([model.density(p) for p in points.split(chunk)]).reshape((resolution,) * 3)
    inside = fill_cavities(density > threshold, close)
    density = torch.where(inside, density.clamp_min(threshold * (1 + 1e-3) + 1e-6), density)
    mesh = marching_cubes(density.cpu(), threshold, torch.tensor([[-b] * 3, [b] * 3]))
    mesh = mesh.to(points.device)
    verts = mesh.verts_packed()
    if verts.shape[0] == 0:
        return mesh
    normals = mesh.verts_normals_packed()
    # what a camera straight in front of the vertex sees: a short ray along the inward normal through it,
    # composited and normalised by its opacity (the features at the iso-level itself may be untrained)
    reach = 4 * cell
    origins, directions = verts + reach * normals, -normals
    near, far = torch.zeros_like(verts[:, 0]), torch.full_like(verts[:, 0], 2 * reach)
    black = verts.new_zeros(3)
    colors = []
    for i in range(0, verts.shape[0], chunk):
        sl = slice(i, i + chunk)
        out = nerf.render_rays(origins[sl], directions[sl], near[sl], far[sl], background=black)
        colors.append(out["rgb"] / out["opacity"].clamp_min(1e-6)[:, None])
    colors = torch.cat(colors).clamp(0, 1)
    return Meshes(verts=[verts], faces=[mesh.faces_packed()], textures=TexturesVertex([colors]))
