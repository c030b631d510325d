"""Interpenetration of a posed body: SMPLify's sphere proxy, and a mesh-based measure to check it by.

:class:`BodySpheres` stands a few spheres along each body part, inside its
skin: a part is the set of vertices a joint dominates in the skinning
weights; its spheres lie on the part's principal axis, with radii a low
quantile of the vertices' distances to that axis, so touching skin is not
penalised. Each sphere moves rigidly with its joint (an extra vertex weighted
1 to one joint), so posing the proxy costs only the joints' world transforms.
Spheres of parts close in the kinematic tree (the same part, parent and child,
grandparent and sibling) overlap by construction and are never paired.

:func:`buried_fraction` is the measure that is not the proxy: the share of
posed mesh vertices whose generalized winding number w.r.t. the posed mesh
says they lie inside the body (a vertex on the surface has about 0.5, one
buried in another part about 1).
"""

from __future__ import annotations

import math

import torch

from .._validate import check_tensor
from ..geometry.voxelize import winding_number
from ..structures import Meshes

__all__ = ["BodySpheres", "buried_fraction", "tree_distances"]


def tree_distances(parents) -> torch.Tensor:
    """``(J, J)`` int64: the number of bones between every two joints of a tree (``parents (J,)``, -1: root)."""
    p = [int(i) for i in torch.as_tensor(parents).reshape(-1).tolist()]
    J = len(p)
    depth, chains = [], []
    for j in range(J):
        chain = [j]
        while p[chain[-1]] >= 0:
            chain.append(p[chain[-1]])
        chains.append(chain)
        depth.append(len(chain) - 1)
    out = torch.zeros(J, J, dtype=torch.int64)
    for a in range(J):
        up = {k: i for i, k in enumerate(chains[a])}
        for b in range(J):
            i = next(i for i, k in enumerate(chains[b]) if k in up)  # steps from b up to the common ancestor
            out[a, b] = i + up[chains[b][i]]
    return out


class BodySpheres:
    """Spheres inside each body part, for SMPLify's interpenetration penalty.

    Built once from the model's rest mesh at ``betas = 0``; for a shaped body
    the offsets and radii are scaled by the ratio of its total bone length to
    the template's.

    Attributes:
        joint: ``(N,)`` int64, the joint each sphere moves with.
        offset: ``(N, 3)`` the sphere centre minus its joint, in the rest pose of the template.
        radius: ``(N,)`` radii of the template.
        pairs: ``(M, 2)`` int64, the sphere pairs penalised (parts at least ``min_tree_distance`` apart),
            ``i < j``; ``pair_mask`` ``(N, N)`` the same as a 0/1 upper-triangular matrix.

    Parts with fewer than 4 vertices, and spheres thinner than ``min_radius`` (metres; collar
    bones, toes), are left out: they cost pairs and keep nothing apart.
    """

    def __init__(self, model, *, quantile: float = 0.25, max_per_part: int = 4, min_tree_distance: int = 3,
                 min_radius: float = 0.015):
        if not 0.0 < quantile < 1.0:
            raise ValueError(f"quantile: expected a number in (0, 1), found {quantile!r}")
        dtype = model.v_template.dtype
        verts = model.v_template
        joints = model.J_regressor @ verts  # (J, 3)
        owner = model.weights.argmax(1)  # (V,)
        J = model.num_joints
        self.parents = model.parents
        self.bone_length = float(self._bone_lengths(joints[None])[0])
        joint, offset, radius = [], [], []
        for j in range(J):
            part = verts[owner == j]
            if part.shape[0] < 4:
                continue
            centre = part.mean(0)
            axis = torch.linalg.svd(part - centre, full_matrices=False).Vh[0]
            t = (part - centre) @ axis  # (n,) along the axis
            perp = (part - centre - t[:, None] * axis).norm(dim=1)  # distance to the axis line
            r = float(torch.quantile(perp, quantile))
            lo, hi = float(torch.quantile(t, 0.02)) + r, float(torch.quantile(t, 0.98)) - r
            n = 1 if hi <= lo else min(max_per_part, int(math.ceil((hi - lo) / r)) + 1)
            ts = torch.linspace(lo, hi, n, dtype=dtype) if n > 1 else torch.tensor([(lo + hi) / 2], dtype=dtype)
            half = (hi - lo) / max(n - 1, 1) / 2 + 1e-6
            for tc in ts:
                near = (t - tc).abs() <= max(half, r / 2)  # the slab of the part around this sphere
                rr = float(torch.quantile(perp[near], quantile)) if int(near.sum()) >= 4 else r
                if rr < min_radius:
                    continue
                joint.append(j)
                offset.append(centre + tc * axis - joints[j])
                radius.append(rr)
        self.joint = torch.tensor(joint, dtype=torch.int64)
        self.offset = torch.stack(offset).to(dtype)
        self.radius = torch.tensor(radius, dtype=dtype)
        apart = tree_distances(self.parents)[self.joint[:, None], self.joint[None, :]] >= min_tree_distance
        self.pair_mask = torch.triu(apart, diagonal=1).to(dtype)
        self.pairs = torch.nonzero(self.pair_mask)  # (M, 2)

    def _bone_lengths(self, joints: torch.Tensor) -> torch.Tensor:
        """``(B,)`` summed bone lengths of ``joints (B, J, 3)``."""
        child = torch.nonzero(self.parents >= 0).squeeze(1)
        return (joints[:, child] - joints[:, self.parents[child]]).norm(dim=-1).sum(1)

    def spheres(self, transforms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posed sphere centres ``(B, N, 3)`` and radii ``(B, N)`` from the joints' world transforms
        ``(B, J, 4, 4)`` (any translation in them carries over to the centres)."""
        check_tensor("transforms", transforms, (None, int(self.parents.shape[0]), 4, 4), floating=True)
        scale = self._bone_lengths(transforms[..., :3, 3]) / self.bone_length  # (B,)
        G = transforms[:, self.joint]  # (B, N, 4, 4)
        offset = self.offset.to(transforms) * scale[:, None, None]
        centres = (G[..., :3, :3] @ offset[..., None])[..., 0] + G[..., :3, 3]
        return centres, self.radius.to(transforms) * scale[:, None]

    def penalty(self, transforms: torch.Tensor) -> torch.Tensor:
        """``(B,)`` sum over the sphere pairs of ``relu(r_i + r_j - d_ij)^2`` (metres squared) for the
        bodies posed by ``transforms (B, J, 4, 4)``: 0 when no two far-apart parts overlap."""
        centres, radii = self.spheres(transforms)
        d = torch.cdist(centres, centres)  # all pairs at once: cheaper than gathering the pairs
        overlap = torch.relu(radii[:, :, None] + radii[:, None, :] - d)
        return (overlap.pow(2) * self.pair_mask.to(overlap)).sum((1, 2))


def buried_fraction(verts: torch.Tensor, faces: torch.Tensor, vertex_ids: torch.Tensor | None = None,
                    *, threshold: float = 0.75) -> torch.Tensor:
    """``(B,)`` share of the vertices ``vertex_ids`` (all when None) of each posed mesh that lie inside it:
    generalized winding number w.r.t. the mesh above ``threshold`` (a surface vertex has about 0.5).

    Args:
        verts: ``(B, V, 3)`` posed vertices; faces: ``(F, 3)`` int64, shared.
    Costs ``len(vertex_ids) * F`` solid angles per mesh: pass a subset for large meshes.
    """
    check_tensor("verts", verts, (None, None, 3), floating=True)
    ids = torch.arange(verts.shape[1]) if vertex_ids is None else vertex_ids
    out = []
    for v in verts.detach().to(torch.float64):
        w = winding_number(Meshes([v], [faces]), v[ids])
        out.append((w > threshold).double().mean())
    return torch.stack(out)
