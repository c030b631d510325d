"""Linear blend skinning: equals a naive per-vertex loop, rotation forms agree, batching is exact."""

import pytest
import torch

from unrender.body import batch_rigid_transform, linear_blend_skinning, parent_levels, skinning_transforms
from unrender.geometry import axis_angle_to_matrix, matrix_to_rotation_6d
from unrender.io import SMPL_PARENTS


def naive_lbs(verts, weights, parents, joints, rot_mats):
    """One body, one joint and one vertex at a time: world transforms by recursion, then the weighted sum."""
    J = len(parents)
    world = [None] * J

    def world_of(j):
        if world[j] is None:
            local = torch.eye(4, dtype=verts.dtype)
            local[:3, :3] = rot_mats[j]
            p = parents[j]
            local[:3, 3] = joints[j] - (joints[p] if p >= 0 else 0)
            world[j] = local if p < 0 else world_of(p) @ local
        return world[j]

    G = torch.stack([world_of(j) for j in range(J)])
    out = torch.zeros_like(verts)
    for v in range(verts.shape[0]):
        for j in range(J):
            rest = torch.cat([verts[v] - joints[j], torch.ones(1, dtype=verts.dtype)])
            out[v] += weights[v, j] * (G[j] @ rest)[:3]
    return out, G


def random_rig(B=2, V=40, parents=SMPL_PARENTS, seed=0):
    g = torch.Generator().manual_seed(seed)
    J = len(parents)
    verts = torch.randn(B, V, 3, generator=g, dtype=torch.float64)
    joints = torch.randn(B, J, 3, generator=g, dtype=torch.float64)
    weights = torch.rand(V, J, generator=g, dtype=torch.float64) ** 4
    weights = weights / weights.sum(1, keepdim=True)
    aa = 0.8 * torch.randn(B, J, 3, generator=g, dtype=torch.float64)
    return verts, weights, joints, aa


@pytest.mark.parametrize("parents", [SMPL_PARENTS, (2, -1, 1, 1, 0, 4)], ids=["smpl", "unordered"])
def test_lbs_equals_a_naive_per_vertex_loop(parents):
    verts, weights, joints, aa = random_rig(parents=parents)
    posed, world = linear_blend_skinning(verts, weights, parents, joints, aa)
    for b in range(verts.shape[0]):
        want, G = naive_lbs(verts[b], weights, parents, joints[b], axis_angle_to_matrix(aa[b]))
        torch.testing.assert_close(posed[b], want, atol=1e-6, rtol=0)
        torch.testing.assert_close(world[b], G, atol=1e-6, rtol=0)


def test_rotation_forms_agree_and_zero_pose_is_rest():
    verts, weights, joints, aa = random_rig()
    mats = axis_angle_to_matrix(aa)
    by_aa, _ = linear_blend_skinning(verts, weights, SMPL_PARENTS, joints, aa)
    by_mat, _ = linear_blend_skinning(verts, weights, SMPL_PARENTS, joints, mats)
    by_6d, _ = linear_blend_skinning(verts, weights, SMPL_PARENTS, joints, matrix_to_rotation_6d(mats))
    torch.testing.assert_close(by_mat, by_aa, atol=1e-10, rtol=0)
    torch.testing.assert_close(by_6d, by_aa, atol=1e-10, rtol=0)
    rest, world = linear_blend_skinning(verts, weights, SMPL_PARENTS, joints, torch.zeros_like(aa))
    torch.testing.assert_close(rest, verts, atol=1e-12, rtol=0)
    torch.testing.assert_close(world[..., :3, 3], joints, atol=1e-12, rtol=0)


def test_batched_equals_one_by_one_and_gradients_flow():
    verts, weights, joints, aa = random_rig(B=3)
    aa.requires_grad_(True)
    posed, world = linear_blend_skinning(verts, weights, SMPL_PARENTS, joints, aa)
    for b in range(3):
        one, w1 = linear_blend_skinning(verts[b:b + 1], weights, SMPL_PARENTS, joints[b:b + 1], aa[b:b + 1])
        torch.testing.assert_close(posed[b:b + 1], one, atol=1e-12, rtol=0)
        torch.testing.assert_close(world[b:b + 1], w1, atol=1e-12, rtol=0)
    posed.square().sum().backward()
    assert torch.isfinite(aa.grad).all() and aa.grad.abs().sum() > 0


def test_rigid_transform_walks_levels_and_skinning_transforms_fix_rest_points():
    levels = parent_levels(SMPL_PARENTS)
    assert [lvl[0].tolist() for lvl in levels][:2] == [[1, 2, 3], [4, 5, 6]]
    assert sum(len(i) for i, _ in levels) == 23
    _, _, joints, aa = random_rig()
    posed_joints, world = batch_rigid_transform(axis_angle_to_matrix(aa), joints, SMPL_PARENTS)
    A = skinning_transforms(world, joints)
    # A_j moves the rest joint j to its posed place.
    moved = (A[..., :3, :3] @ joints[..., None])[..., 0] + A[..., :3, 3]
    torch.testing.assert_close(moved, posed_joints, atol=1e-12, rtol=0)


def test_bad_skeletons_and_shapes_are_named():
    verts, weights, joints, aa = random_rig()
    with pytest.raises(ValueError, match="parents: expected a tree"):
        linear_blend_skinning(verts, weights[:, :3], [1, 2, 0], joints[:, :3], aa[:, :3])
    with pytest.raises(ValueError, match=r"parents: expected ints in \[-1, 2\]"):
        linear_blend_skinning(verts, weights[:, :3], [-1, 0, 5], joints[:, :3], aa[:, :3])
    with pytest.raises(ValueError, match=r"weights: expected shape \(40, 24\)"):
        linear_blend_skinning(verts, weights[:, :5], SMPL_PARENTS, joints, aa)
    with pytest.raises(ValueError, match=r"rotations: expected axis-angle \(B, J, 3\)"):
        linear_blend_skinning(verts, weights, SMPL_PARENTS, joints, aa[..., :2])
    with pytest.raises(ValueError, match="rotations: expected 24 joints, found 5"):
        linear_blend_skinning(verts, weights, SMPL_PARENTS, joints, aa[:, :5])
