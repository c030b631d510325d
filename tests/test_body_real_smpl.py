"""The checks a user relies on, against their own SMPL file (``UNRENDER_SMPL_MODEL``: an SMPL ``.pkl`` or
smplx ``.npz``; skipped without it): shapes, zero pose, skinning against a naive loop, keypoints from
the model's own geometry, and the issue's keypoint (25 mm) and scan (10 mm) bars on a few bodies."""

import os

import pytest
import torch

from unrender.body import BodyModel, default_pose_prior, fit_keypoints, fit_scan, random_scan
from unrender.geometry import axis_angle_to_matrix
from unrender.methods.fit_smpl_keypoints import example_people
from unrender.metrics import aligned_joint_error

from test_body_skinning import naive_lbs

pytestmark = pytest.mark.skipif(not os.environ.get("UNRENDER_SMPL_MODEL"),
                                reason="set UNRENDER_SMPL_MODEL to an SMPL .pkl/.npz")
D = torch.float64


@pytest.fixture(scope="module")
def model():
    return BodyModel.load(os.environ["UNRENDER_SMPL_MODEL"], dtype=D)


def test_forward_shapes_and_zero_pose(model):
    V = model.v_template.shape[0]
    assert model.num_joints == 24 and model.num_betas >= 10 and model.faces.shape[1] == 3
    torch.testing.assert_close(model.weights.sum(1), torch.ones(V, dtype=D), atol=1e-5, rtol=0)
    torch.testing.assert_close(model.J_regressor.sum(1), torch.ones(24, dtype=D), atol=1e-5, rtol=0)
    g = torch.Generator().manual_seed(0)
    betas = torch.randn(2, 10, generator=g, dtype=D)
    out = model(betas=betas)
    shaped = model.v_template + torch.einsum("bl,vkl->bvk", betas, model.shapedirs[..., :10])
    # to 1e-6, not exactly: a float32 file's weights sum to 1 only to float32's precision
    torch.testing.assert_close(out.vertices, shaped, atol=1e-6, rtol=0)
    torch.testing.assert_close(out.joints, model.J_regressor @ shaped, atol=1e-6, rtol=0)
    posed = model(betas=betas, body_pose=0.3 * torch.randn(2, 69, generator=g, dtype=D),
                  global_orient=torch.randn(2, 3, generator=g, dtype=D), transl=torch.randn(2, 3, generator=g, dtype=D))
    assert posed.vertices.shape == (2, V, 3) and posed.joints.shape == (2, 24, 3)
    assert posed.transforms.shape == (2, 24, 4, 4)
    assert posed.keypoints["body25"].shape == (2, 25, 3) and posed.keypoints["coco17"].shape == (2, 17, 3)
    assert torch.isfinite(posed.vertices).all() and (posed.vertices - shaped).abs().max() > 1e-3
    height = shaped[..., 1].amax(1) - shaped[..., 1].amin(1)
    assert ((height > 1.2) & (height < 2.2)).all()


def test_skinning_with_pose_correctives_equals_a_naive_loop(model):
    g = torch.Generator().manual_seed(1)
    betas, pose = torch.randn(1, 10, generator=g, dtype=D), 0.4 * torch.randn(1, 72, generator=g, dtype=D)
    out = model(betas=betas, body_pose=pose[:, 3:], global_orient=pose[:, :3])
    shaped = model.v_template + model.shapedirs[..., :10] @ betas[0]
    rot = axis_angle_to_matrix(pose.reshape(24, 3))
    corrected = shaped + (((rot[1:] - torch.eye(3, dtype=D)).reshape(1, -1) @ model.posedirs).reshape(-1, 3))
    ids = torch.arange(0, shaped.shape[0], 37)  # every 37th vertex: the loop is slow
    want, G = naive_lbs(corrected[ids], model.weights[ids], model.parents.tolist(), model.J_regressor @ shaped, rot)
    torch.testing.assert_close(out.vertices[0, ids], want, atol=1e-6, rtol=0)
    torch.testing.assert_close(out.transforms[0], G, atol=1e-6, rtol=0)


def test_keypoints_sit_on_their_body_parts(model):
    out = model()
    k, j = out.keypoints["body25"][0], out.joints[0]
    nose, r_eye, l_eye, r_ear, l_ear = k[0], k[15], k[16], k[17], k[18]
    assert nose[2] > j[15, 2] + 0.03 and l_eye[1] > nose[1] and r_eye[1] > nose[1]  # facing +Z, eyes above
    assert l_ear[0] > l_eye[0] > j[15, 0] > r_eye[0] > r_ear[0]  # +X on the body's left
    for big, small, heel, ankle in ((19, 20, 21, 7), (22, 23, 24, 8)):
        assert k[big, 2] > j[ankle, 2] + 0.08 and k[small, 2] > j[ankle, 2] + 0.05 and k[heel, 2] < j[ankle, 2]
        assert k[heel, 1] < j[ankle, 1]
    torch.testing.assert_close(k[8], (j[1] + j[2]) / 2, atol=1e-6, rtol=0)  # mid hip, OpenPose's way


def test_keypoint_fit_meets_the_bar_on_a_few_bodies(model):
    truth, kp, focal, center, _ = example_people(model, 8, seed=0)
    fit = fit_keypoints(model, kp, "body25", focal, center, prior=default_pose_prior())
    pred = model(betas=fit.betas, body_pose=fit.body_pose, global_orient=fit.global_orient, transl=fit.transl)
    err_mm = aligned_joint_error(pred.joints, truth.joints) * 1000
    assert float(err_mm.median()) <= 25.0, float(err_mm.median())


def test_scan_fit_meets_the_bar(model):
    pts, truth = random_scan(model, 0)
    fit = fit_scan(model, pts, prior=default_pose_prior())
    err_mm = float((fit.vertices - truth).norm(dim=1).mean()) * 1000
    assert err_mm <= 10.0, err_mm
