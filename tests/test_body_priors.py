"""Body pose sampling and the SMPLify-style priors: GMM pose prior, Geman-McClure, bending limits."""

import math

import pytest
import torch

from unrender.body.poses import JOINT_RANGES_DEG, sample_body_poses
from unrender.io.body_models import SMPL_JOINT_NAMES, SMPL_PARENTS
from unrender.body.priors import PosePrior, bend_penalty, fit_gmm, geman_mcclure
from unrender.geometry.rotations import axis_angle_to_matrix, matrix_to_euler_angles


def test_sampled_poses_stay_within_their_ranges_and_are_seeded():
    poses = sample_body_poses(500, seed=3, dtype=torch.float64)
    assert poses.shape == (500, 23, 3)
    deg = torch.rad2deg(matrix_to_euler_angles(axis_angle_to_matrix(poses), "XYZ"))
    # The same rotation as (x + 180, 180 - y, z + 180): elbows bend past 90 degrees about Y.
    other = torch.stack([deg[..., 0] + 180, 180 - deg[..., 1], deg[..., 2] + 180], -1)
    other = (other + 180) % 360 - 180
    lo = torch.tensor([[r[0] for r in JOINT_RANGES_DEG[n]] for n in SMPL_JOINT_NAMES[1:]], dtype=torch.float64) - 1e-6
    hi = torch.tensor([[r[1] for r in JOINT_RANGES_DEG[n]] for n in SMPL_JOINT_NAMES[1:]], dtype=torch.float64) + 1e-6
    inside = lambda d: ((d >= lo) & (d <= hi)).all(-1)  # noqa: E731
    assert (inside(deg) | inside(other)).all()
    assert torch.equal(sample_body_poses(4, seed=3), sample_body_poses(4, seed=3))
    assert not torch.equal(sample_body_poses(4, seed=3), sample_body_poses(4, seed=4))
    assert len(SMPL_PARENTS) == len(SMPL_JOINT_NAMES) == 24


def test_right_side_mirrors_the_left():
    for name, (x, y, z) in JOINT_RANGES_DEG.items():
        if name.startswith("left_"):
            rx, ry, rz = JOINT_RANGES_DEG["right_" + name[5:]]
            assert rx == x and ry == (-y[1], -y[0]) and rz == (-z[1], -z[0])


def test_knees_and_elbows_sampled_bend_the_right_way():
    poses = sample_body_poses(300, seed=0, dtype=torch.float64)
    assert float(bend_penalty(poses).max()) < 1e-3
    wrong = poses.clone()
    wrong[:, 3, 0] = -1.0  # left knee bent forwards
    wrong[:, 17, 1] = 1.0  # left elbow bent backwards
    assert float(bend_penalty(wrong).min()) > 1.0


def test_gmm_recovers_a_known_mixture():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(2000, 3, generator=g, dtype=torch.float64) * 0.1 + torch.tensor([2.0, 0, 0], dtype=torch.float64)
    b = torch.randn(1000, 3, generator=g, dtype=torch.float64) * 0.3 - torch.tensor([2.0, 0, 0], dtype=torch.float64)
    w, m, c = fit_gmm(torch.cat([a, b]), 2, seed=1)
    order = torch.argsort(m[:, 0])
    assert torch.allclose(w[order], torch.tensor([1 / 3, 2 / 3], dtype=torch.float64), atol=0.02)
    assert torch.allclose(m[order, 0], torch.tensor([-2.0, 2.0], dtype=torch.float64), atol=0.05)
    assert torch.allclose(torch.diagonal(c[order], dim1=1, dim2=2).sqrt().mean(1),
                          torch.tensor([0.3, 0.1], dtype=torch.float64), atol=0.02)


def test_pose_prior_prefers_plausible_poses_and_round_trips(tmp_path):
    prior = PosePrior.fit(sample_body_poses(3000, seed=0, dtype=torch.float64), k=6, iterations=40)
    plausible = sample_body_poses(200, seed=9, dtype=torch.float64).reshape(200, 69)
    noise = torch.randn(200, 69, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 0.8
    assert float(prior(plausible).median()) + 50 < float(prior(noise).median())
    # Differentiable: gradient descent on the prior moves a noisy pose towards plausible ones.
    x = noise[:1].clone().requires_grad_(True)
    before = float(prior(x.detach()))
    opt = torch.optim.Adam([x], lr=0.05)
    for _ in range(50):
        opt.zero_grad()
        prior(x).sum().backward()
        opt.step()
    assert float(prior(x.detach())) < before - 50
    prior.save(tmp_path / "prior.npz")
    again = PosePrior.load(tmp_path / "prior.npz")
    assert torch.allclose(again(plausible), prior(plausible), rtol=1e-6, atol=1e-6)


def test_pose_prior_rejects_bad_files(tmp_path):
    import numpy as np

    np.savez(tmp_path / "bad.npz", weights=np.ones(2), means=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="covariances"):
        PosePrior.load(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="positive definite"):
        PosePrior(np.ones(1), np.zeros((1, 2)), -np.eye(2)[None])
    with pytest.raises(ValueError, match="69|numbers per pose"):
        PosePrior(np.ones(1), np.zeros((1, 69)), np.eye(69)[None])(torch.zeros(1, 10))


def test_geman_mcclure_is_quadratic_near_zero_and_bounded():
    r = torch.tensor([0.0, 1e-3, 10.0, 1e6], dtype=torch.float64)
    gm = geman_mcclure(r, sigma=100.0)
    assert math.isclose(float(gm[1]), 1e-6, rel_tol=1e-6)
    assert float(gm[3]) < 100.0**2 and float(gm[3]) > 0.99 * 100.0**2
