"""A procedural object: coloured primitive parts, normalised to the canonical frame, with exact occupancy.

The canonical frame is ``y`` up, centred on the bounding-box centre of the mesh and scaled so the farthest
vertex is 0.5 from the origin (the object fits ``[-0.5, 0.5]^3`` in any rotation).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..render.textures import TexturesVertex
from ..structures import Meshes

__all__ = ["ProceduralObject", "normalized_object"]

#: surface samples closer than this to the inside of another part are dropped (canonical units)
SURFACE_CLEARANCE = 2e-3


@dataclass
class ProceduralObject:
    """``parts``: primitives of :mod:`unrender.data.parts` in the canonical frame; ``colors (n_parts, 3)``
    float in [0, 1]; ``style``: the generator's
    choices (e.g. ``{"base": "sled", "back": "slatted", "arms": False}``). ``mesh``: one ``Meshes`` (the parts' meshes together) with ``TexturesVertex``."""

    category: str
    seed: int
    parts: list
    colors: torch.Tensor
    style: dict = field(default_factory=dict)
    mesh: Meshes = field(init=False, repr=False)

    def __post_init__(self):
        verts, faces, cols, base = [], [], [], 0
        for part, color in zip(self.parts, self.colors):
            v, f = part.mesh()
            verts.append(v)
            faces.append(f + base)
            cols.append(color.expand(len(v), 3))
            base += len(v)
        self.mesh = Meshes([torch.cat(verts)], [torch.cat(faces)], textures=TexturesVertex([torch.cat(cols)]))

    def sdf(self, points: torch.Tensor) -> torch.Tensor:
        """``points (N, 3)`` -> ``(N,)`` signed distance to the union of the parts (negative inside)."""
        return self._part_sdfs(points).amin(0)

    def _part_sdfs(self, points: torch.Tensor) -> torch.Tensor:
        """``(n_parts, N)``: each part's signed distance, ``+inf`` far outside its bounding sphere."""
        out = torch.full((len(self.parts), len(points)), float("inf"))
        for k, idx in enumerate(self._near(points)):
            if len(idx):
                out[k, idx] = self.parts[k].sdf(points[idx])
        return out

    def _near(self, points: torch.Tensor) -> list[torch.Tensor]:
        """Per part, the indices of the points within (a little more than) its bounding sphere."""
        spheres = [part.bounds() for part in self.parts]
        centres = torch.stack([c for c, _ in spheres])
        reach = torch.tensor([r for _, r in spheres]) + 4 * SURFACE_CLEARANCE
        d2 = (points * points).sum(-1, keepdim=True) - 2 * points @ centres.T + (centres * centres).sum(-1)
        near = (d2 <= reach * reach * 1.01 + 1e-6).T  # (n_parts, N), generous for rounding
        return [row.nonzero().flatten() for row in near]

    def inside(self, points: torch.Tensor) -> torch.Tensor:
        """``points (N, 3)`` float -> ``(N,)`` bool: inside some part (``sdf < 0``)."""
        out = torch.zeros(len(points), dtype=torch.bool)
        for k, idx in enumerate(self._near(points)):
            if len(idx):
                out[idx] |= self.parts[k].inside(points[idx])
        return out

    def sample_surface(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` points uniformly on the union's surface with outward normals, ``((n, 3), (n, 3))``.

        Parts are sampled by area; a sample is kept only where no other part comes within
        ``SURFACE_CLEARANCE`` of containing it (and, for bent tubes, where its own part does not hold it).
        """
        areas = torch.tensor([p.area() for p in self.parts])
        got_p, got_n, have = [], [], 0
        while have < n:
            m = int((n - have) * 1.6) + 64
            which = torch.multinomial(areas, m, replacement=True, generator=generator)
            for k, part in enumerate(self.parts):
                cnt = int((which == k).sum())
                if cnt == 0:
                    continue
                p, nrm = part.sample(cnt, generator)
                d = self._part_sdfs(p)
                own = d[k].clone()
                d[k] = float("inf")
                keep = (d.amin(0) > SURFACE_CLEARANCE) & (own > -1e-4)
                got_p.append(p[keep])
                got_n.append(nrm[keep])
                have += int(keep.sum())
        points, normals = torch.cat(got_p), torch.cat(got_n)
        perm = torch.randperm(len(points), generator=generator)[:n]
        return points[perm], normals[perm] / normals[perm].norm(dim=-1, keepdim=True)


def normalized_object(category: str, seed: int, parts: list, colors, style=None) -> ProceduralObject:
    """The object of ``parts`` (any units, ``y`` up) moved and scaled into the canonical frame."""
    verts = torch.cat([p.mesh()[0] for p in parts])
    lo, hi = verts.amin(0), verts.amax(0)
    centre = (lo + hi) / 2
    scale = 0.5 / float((verts - centre).norm(dim=-1).max())
    moved = [p.moved(centre, scale) for p in parts]
    return ProceduralObject(category, seed, moved, torch.as_tensor(colors, dtype=torch.float32).reshape(-1, 3),
                            dict(style or {}))
