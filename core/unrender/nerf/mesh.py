"""A mesh from a NeRF: marching cubes on the density, vertex colours from the model."""

from __future__ import annotations

import math

import torch

from ..geometry.marching_cubes import marching_cubes_implicit
from ..render.textures import TexturesVertex
from ..structures import Meshes

__all__ = ["nerf_mesh"]


@torch.no_grad()
def nerf_mesh(nerf, resolution: int = 128, threshold: float | None = None, chunk: int = 65536) -> Meshes:
    """The surface where the density of ``nerf.model`` crosses ``threshold``, with vertex colours.

    threshold: default ``log(2) / cell`` (a cell of the ``resolution`` grid absorbs half the
    light). Colours: a short ray along the inward normal through each vertex, rendered by
    ``nerf.render_rays`` and divided by its opacity, in a :class:`TexturesVertex`.
    """
    model, b = nerf.model, nerf.bound
    cell = 2 * b / resolution
    threshold = math.log(2) / cell if threshold is None else float(threshold)
    mesh = marching_cubes_implicit(model.density, [[-b] * 3, [b] * 3], resolution, threshold, inside="positive",
                                   chunk=chunk)
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
