"""SMPLify's interpenetration proxy (spheres inside the body parts) and its use in the keypoint fit."""

import math

import pytest
import torch

from unrender.body import BodyModel, project_points, sample_body_poses
from unrender.body.collision import BodySpheres, buried_fraction, tree_distances
from unrender.body.fit_keypoints import default_pose_prior, fit_keypoints
from unrender.geometry.rotations import axis_angle_to_matrix, euler_angles_to_matrix, matrix_to_axis_angle
from unrender.metrics import aligned_joint_error

D = torch.float64

# Arms crossed in front of the chest: (left shoulder, left elbow, right shoulder, right elbow) as "XYZ"
# Euler angles in degrees of the left side (right joints mirror them: (x, y, z) -> (x, -y, -z)).
_ARMS_CROSSED = (((0, -75, -35), (0, -95, 0), (0, -60, -65), (0, -80, 0)),
                 ((0, -75, -35), (0, -95, 0), (0, 0, -75), (0, -10, 0)),
                 ((0, -25, -70), (0, -90, 0), (0, -25, -70), (0, -90, 0)),
                 ((0, -40, -65), (0, -100, 0), (0, 0, -75), (0, -10, 0)))


@pytest.fixture(scope="module")
def body():
    return BodyModel.default(dtype=D)


@pytest.fixture(scope="module")
def spheres(body):
    return BodySpheres(body)


def _euler(deg, convention="XYZ"):
    return matrix_to_axis_angle(euler_angles_to_matrix(torch.deg2rad(torch.as_tensor(deg, dtype=D)), convention))


def arms_crossed(body, n, seed=0):
    """``(n, 23, 3)`` poses with the forearms across the chest (their depth is free in 2-D), the rest mild."""
    g = torch.Generator().manual_seed(seed)
    pose = sample_body_poses(n, seed=seed + 7, dtype=D, spread=0.3)
    names = ("left_shoulder", "left_elbow", "right_shoulder", "right_elbow")
    for b in range(n):
        for name, deg, sign in zip(names, _ARMS_CROSSED[b % len(_ARMS_CROSSED)], (1, 1, -1, -1)):
            x, y, z = (torch.tensor(deg, dtype=D) + (torch.rand(3, generator=g, dtype=D) - 0.5) * 10).tolist()
            pose[b, body.joint_names.index(name) - 1] = _euler((x, sign * y, sign * z))
    return pose


def seen(body, pose, seed=0, noise_px=2.0):
    """Bodies of ``pose`` facing a 1000-pixel camera 3-4 m away: ``(truth, keypoints (n, 25, 3), focal, center)``."""
    n = pose.shape[0]
    g = torch.Generator().manual_seed(seed)
    betas = torch.randn(n, 10, generator=g, dtype=D).clamp(-2, 2)
    yaw = (torch.rand(n, generator=g, dtype=D) - 0.5) * math.radians(60)
    upright = axis_angle_to_matrix(torch.tensor([math.pi, 0.0, 0.0], dtype=D))
    orient = matrix_to_axis_angle(upright @ axis_angle_to_matrix(torch.stack([0 * yaw, yaw, 0 * yaw], 1)))
    transl = torch.cat([torch.zeros(n, 2, dtype=D), 3 + torch.rand(n, 1, generator=g, dtype=D)], 1)
    truth = body(betas=betas, body_pose=pose, global_orient=orient, transl=transl)
    focal, center = torch.full((n,), 1000.0, dtype=D), torch.tensor([500.0, 500.0], dtype=D).expand(n, 2)
    uv = project_points(truth.keypoints["body25"], focal, center)
    uv = uv + torch.randn(uv.shape, generator=g, dtype=D) * noise_px
    return truth, torch.cat([uv, torch.ones(n, 25, 1, dtype=D)], -1), focal, center


def arm_vertices(body, every=4, fold=0.08):
    """Ids of the forearm and hand vertices (those the elbows, wrists and hands dominate; every
    ``every``-th) farther than ``fold`` metres from the elbows in the rest pose, where bent skin folds."""
    names = ("left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand")
    cols = [body.joint_names.index(n) for n in names]
    rest_joints = body.J_regressor @ body.v_template
    near_elbow = torch.cdist(body.v_template, rest_joints[cols[:2]]).min(1).values < fold
    keep = (body.weights[:, cols].sum(1) > 0.5) & ~near_elbow
    return torch.nonzero(keep).squeeze(1)[::every]


def test_tree_distances_count_bones():
    d = tree_distances([-1, 0, 1, 1, 3])
    assert d.tolist() == [[0, 1, 2, 2, 3], [1, 0, 1, 1, 2], [2, 1, 0, 2, 3], [2, 1, 2, 0, 1], [3, 2, 3, 1, 0]]


def test_rest_body_has_no_overlap_and_an_arm_in_the_torso_has(body, spheres):
    assert spheres.pairs.shape[0] > 100 and bool((spheres.radius > 0).all())
    rest = body(betas=torch.randn(3, 10, dtype=D).clamp(-2, 2))
    assert spheres.penalty(rest.transforms).tolist() == [0.0, 0.0, 0.0]
    # The left arm swung forward and in across the chest, the elbow bent back into it.
    pose = torch.zeros(1, 23, 3, dtype=D)
    pose[0, body.joint_names.index("left_shoulder") - 1] = _euler((-75, -10, 70), "ZYX")
    pose[0, body.joint_names.index("left_elbow") - 1] = _euler((0, -130, 0), "ZYX")
    pose.requires_grad_(True)
    posed = body(body_pose=pose)
    p = spheres.penalty(posed.transforms)
    assert float(p.detach()) > 1e-3  # over 10 cm^2 of squared overlap
    # The gradient pushes the arm out: a small step down it lowers the penalty.
    p.sum().backward()
    with torch.no_grad():
        after = spheres.penalty(body(body_pose=pose - 1e-2 * pose.grad / pose.grad.norm()).transforms)
    assert float(after) < float(p.detach())
    # The mesh measure agrees: the posed arm is buried in the body, the rest arm is not.
    arm = arm_vertices(body, every=8)
    both = torch.cat([posed.vertices.detach(), rest.vertices[:1]])
    buried = buried_fraction(both, body.faces, arm)
    assert float(buried[0]) > 0.1 and float(buried[1]) < 0.02


def test_plausible_poses_leave_the_proxy_almost_untouched(body, spheres):
    out = body(betas=torch.randn(100, 10, dtype=D).clamp(-2, 2), body_pose=sample_body_poses(100, seed=3, dtype=D, spread=0.7))
    assert float((spheres.penalty(out.transforms) > 1e-4).double().mean()) <= 0.03


def test_bad_transforms_are_named(spheres):
    with pytest.raises(ValueError, match="transforms"):
        spheres.penalty(torch.zeros(2, 5, 4, 4))



def test_fit_with_the_term_buries_less_of_the_arms(body):
    # Arms crossed: the forearms' depth is free in 2-D. The term keeps them out of the torso
    # at no cost in joint error.
    truth, kp, focal, center = seen(body, arms_crossed(body, 8))
    arm = arm_vertices(body, every=6)
    out = {}
    for w in (0.0, 1.0):
        fit = fit_keypoints(body, kp, "body25", focal, center, prior=default_pose_prior(), w_collision=w)
        pred = body(betas=fit.betas, body_pose=fit.body_pose, global_orient=fit.global_orient, transl=fit.transl)
        out[w] = (float(buried_fraction(pred.vertices, body.faces, arm).mean()),
                  float((aligned_joint_error(pred.joints, truth.joints) * 1000).median()))
    assert out[1.0][0] < out[0.0][0], out
    assert out[1.0][1] <= out[0.0][1] + 3.0, out
