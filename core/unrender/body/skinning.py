"""Linear blend skinning for any skeleton (a tree of joints given by parent indices).

Conventions (SMPL's): a joint's rest frame has the identity rotation and sits at
its rest location; ``rotations[:, j]`` is joint ``j``'s rotation relative to its
parent. The *world transform* ``G_j`` of a joint maps its rest frame into the
posed world (``G_j[:3, 3]`` is the posed joint location); the *skinning
transform* ``A_j = G_j @ translate(-joint_j)`` moves rest-space points with the
joint, and a vertex moves by ``sum_j weights[v, j] * A_j``.
"""

from __future__ import annotations

import functools

import torch

from .._validate import check_tensor
from ..geometry.rotations import axis_angle_to_matrix, rotation_6d_to_matrix

__all__ = [
    "rotations_to_matrices",
    "parent_levels",
    "batch_rigid_transform",
    "skinning_transforms",
    "linear_blend_skinning",
]


def rotations_to_matrices(name: str, rotations: torch.Tensor, num_joints: int | None = None) -> torch.Tensor:
    """Per-joint rotations in any of three forms -> matrices ``(B, J, 3, 3)``.

    Args:
        rotations: axis-angle ``(B, J, 3)``, matrices ``(B, J, 3, 3)`` or the 6D
            form ``(B, J, 6)`` (two rows, Gram-Schmidt; ``unrender.geometry``'s).
        num_joints: the ``J`` expected, or ``None`` for any.
    """
    if not isinstance(rotations, torch.Tensor) or not rotations.is_floating_point():
        check_tensor(name, rotations, floating=True)
    shape = tuple(rotations.shape)
    if rotations.dim() == 4 and shape[-2:] == (3, 3):
        mats = rotations
    elif rotations.dim() == 3 and shape[-1] == 3:
        mats = axis_angle_to_matrix(rotations)
    elif rotations.dim() == 3 and shape[-1] == 6:
        mats = rotation_6d_to_matrix(rotations)
    else:
        raise ValueError(f"{name}: expected axis-angle (B, J, 3), matrices (B, J, 3, 3) or 6D (B, J, 6), "
                         f"found shape {shape}")
    if num_joints is not None and mats.shape[1] != num_joints:
        raise ValueError(f"{name}: expected {num_joints} joints, found {mats.shape[1]} (shape {shape})")
    return mats


@functools.lru_cache(maxsize=64)
def _levels(parents: tuple[int, ...]) -> tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]:
    depth = [-1] * len(parents)
    for j in range(len(parents)):
        chain, k = [], j
        while k >= 0 and depth[k] < 0:
            if k in chain or len(chain) > len(parents):
                raise ValueError(f"parents: expected a tree (no cycles), found a cycle through joint {k}")
            chain.append(k)
            k = parents[k]
        d = -1 if k < 0 else depth[k]
        for c in reversed(chain):
            d += 1
            depth[c] = d
    out = []
    for d in range(1, max(depth, default=0) + 1):
        idx = tuple(j for j in range(len(parents)) if depth[j] == d)
        out.append((idx, tuple(parents[j] for j in idx)))
    return tuple(out)


def parent_levels(parents) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The joints below the roots grouped by depth: ``[(joints, their parents), ...]`` (int64 each).

    Args:
        parents: ``(J,)`` int, the parent of each joint, ``-1`` for a root.
    Raises:
        ValueError: a parent index out of range, or a cycle.
    """
    try:
        p = [int(i) for i in torch.as_tensor(parents).reshape(-1).tolist()]
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"parents: expected a sequence of ints, found {parents!r}") from None
    J = len(p)
    if not all(-1 <= i < J for i in p) or torch.as_tensor(parents).is_floating_point():
        raise ValueError(f"parents: expected ints in [-1, {J - 1}] (-1: root), found {p}")
    if any(i == j for j, i in enumerate(p)):
        raise ValueError(f"parents: expected no joint to be its own parent, found {p}")
    return [(torch.tensor(i), torch.tensor(q)) for i, q in _levels(tuple(p))]


def batch_rigid_transform(rot_mats: torch.Tensor, joints: torch.Tensor, parents) -> tuple[torch.Tensor, torch.Tensor]:
    """Walk the kinematic chain, one depth level at a time.

    Args:
        rot_mats: ``(B, J, 3, 3)`` float, each joint's rotation relative to its parent.
        joints: ``(B, J, 3)`` float, rest joint locations.
        parents: ``(J,)`` int, ``-1`` for a root.
    Returns:
        ``posed_joints`` ``(B, J, 3)`` and the world transforms ``(B, J, 4, 4)``
        (see the module docstring; ``posed_joints == transforms[..., :3, 3]``).
    """
    check_tensor("joints", joints, (None, None, 3), floating=True)
    B, J = joints.shape[:2]
    check_tensor("rot_mats", rot_mats, (B, J, 3, 3), floating=True)
    levels = parent_levels(parents)
    par = torch.as_tensor(parents).reshape(-1).to(device=joints.device, dtype=torch.long)
    if par.numel() != J:
        raise ValueError(f"parents: expected {J} entries (one per joint), found {par.numel()}")
    rel = joints.clone()
    child = par >= 0
    rel[:, child] = joints[:, child] - joints[:, par[child]]
    local = torch.zeros(B, J, 4, 4, dtype=joints.dtype, device=joints.device)
    local[..., :3, :3] = rot_mats
    local[..., :3, 3] = rel
    local[..., 3, 3] = 1
    world = local.clone()
    for idx, pidx in levels:
        idx, pidx = idx.to(joints.device), pidx.to(joints.device)
        world[:, idx] = world[:, pidx] @ local[:, idx]
    return world[..., :3, 3], world


def skinning_transforms(transforms: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
    """World transforms ``(B, J, 4, 4)`` and rest joints ``(B, J, 3)`` -> ``A_j = G_j @ translate(-joint_j)``."""
    out = transforms.clone()
    out[..., :3, 3] = transforms[..., :3, 3] - (transforms[..., :3, :3] @ joints[..., None])[..., 0]
    return out


def linear_blend_skinning(verts: torch.Tensor, weights: torch.Tensor, parents, joints: torch.Tensor,
                          rotations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pose rest vertices with per-joint rotations.

    Args:
        verts: ``(B, V, 3)`` float, rest vertices.
        weights: ``(V, J)`` float skinning weights (rows usually sum to 1).
        parents: ``(J,)`` int, ``-1`` for a root.
        joints: ``(B, J, 3)`` float, rest joint locations.
        rotations: axis-angle ``(B, J, 3)``, matrices ``(B, J, 3, 3)`` or 6D ``(B, J, 6)``.
    Returns:
        posed vertices ``(B, V, 3)`` and the joints' world transforms ``(B, J, 4, 4)``.
    """
    check_tensor("verts", verts, (None, None, 3), floating=True)
    check_tensor("joints", joints, (verts.shape[0], None, 3), floating=True)
    B, V = verts.shape[:2]
    J = joints.shape[1]
    check_tensor("weights", weights, (V, J), floating=True)
    rot = rotations_to_matrices("rotations", rotations, J)
    check_tensor("rotations", rot, (B, J, 3, 3))
    _, world = batch_rigid_transform(rot, joints, parents)
    A = skinning_transforms(world, joints)
    # Blended transforms by one matmul, applied to homogeneous vertices by one contiguous bmm: a
    # product with the strided (B, V, 3, 3) slice copies it first and is 2-3x slower on the CPU.
    T = torch.matmul(weights, A[..., :3, :].reshape(B, J, 12)).view(B * V, 3, 4)
    homogeneous = torch.cat([verts, torch.ones_like(verts[..., :1])], -1).view(B * V, 4, 1)
    posed = torch.bmm(T, homogeneous).view(B, V, 3)
    return posed, world
