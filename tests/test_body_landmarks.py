"""BODY_25 / COCO-17 keypoints built from a model's own geometry, for model files that hold none."""

import json

import numpy as np
import pytest
import torch

from unrender.body import (BodyModel, default_body_path, default_pose_prior, fit_keypoints, has_smpl_tree,
                           keypoint_regressors, procedural_body_arrays, sample_body_poses)
from unrender.cli import main
from unrender.io import KEYPOINT_LAYOUTS, load_body_model, load_body_parameters, save_body_model, save_openpose
from unrender.methods.fit_smpl_keypoints import example_people
from unrender.metrics import aligned_joint_error

from test_body_io import Ch, csc_matrix, smpl_layout, smpl_pickle

REGRESSORS = ("body25_regressor", "coco17_regressor")
# How far each geometric keypoint may be from the shipped one (metres), measured on the rest body and
# 20 posed random bodies (largest: eyes 11.6 mm, small toes 3.5 mm, every other keypoint 0). The joint
# keypoints are the same rows of J_regressor; nose, ears, big toes and heels follow the rules the build
# script used on MakeHuman's rig; the shipped eyes are the eyeball centres fitted to MakeHuman's eye
# joints, ours the front of the eye (about 1 cm further forward); the shipped small toes are the tips
# of MakeHuman's fifth toes, ours the foremost vertices of the outer 15 % of the toes.
BOUND = {"eye": 0.015, "small_toe": 0.006}
JOINT_KEYPOINTS = {"neck", "mid_hip"} | {f"{s}_{p}" for s in ("left", "right")
                                         for p in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")}


def bound(name):
    if name in JOINT_KEYPOINTS:
        return 1e-6
    return next((b for part, b in BOUND.items() if name.endswith(part)), 0.003)


@pytest.fixture(scope="module")
def shipped():
    return load_body_model(default_body_path())


@pytest.fixture(scope="module")
def stripped(shipped):
    return {k: v for k, v in shipped.items() if k not in REGRESSORS}


def test_geometric_keypoints_match_the_shipped_ones_at_rest_and_posed(shipped, stripped):
    built = keypoint_regressors(stripped)
    for key in REGRESSORS:
        r = built[key]
        assert r.min() >= 0 and np.allclose(r.sum(1), 1, atol=1e-12)
        assert ((r > 0).sum(1) <= 8).all()  # a few vertices each (the neck and mid hip: two joints' rows)
    ship = BodyModel.from_arrays(shipped, dtype=torch.float64)
    geo = BodyModel.from_arrays(stripped, dtype=torch.float64)
    assert geo.meta["keypoints"] == "geometric" and "keypoints" not in ship.meta
    for key in REGRESSORS:
        np.testing.assert_allclose(getattr(geo, key).numpy(), built[key], atol=1e-12)
    g = torch.Generator().manual_seed(0)
    betas = torch.randn(20, 10, generator=g, dtype=torch.float64).clamp(-2, 2)
    pose = sample_body_poses(20, seed=1, dtype=torch.float64, spread=0.7)
    for args in ({}, {"betas": betas, "body_pose": pose}):
        a, b = ship(**args), geo(**args)
        for layout in ("body25", "coco17"):
            dist = (a.keypoints[layout] - b.keypoints[layout]).norm(dim=-1).amax(0)
            for name, d in zip(KEYPOINT_LAYOUTS[layout], dist.tolist()):
                assert d <= bound(name), (layout, name, d)


def test_rules_follow_the_frame_not_the_size_or_place(stripped):
    """A smaller body placed elsewhere (SMPL's template has its pelvis near the origin) picks the same vertices."""
    built = keypoint_regressors(stripped)
    small = dict(stripped, v_template=0.6 * stripped["v_template"] + np.array([0.1, -0.5, 0.2], np.float32))
    for key, r in keypoint_regressors(small).items():
        np.testing.assert_allclose(r, built[key], atol=1e-12)
    v = stripped["v_template"]
    k = built["body25_regressor"] @ v
    names = KEYPOINT_LAYOUTS["body25"]
    at = {n: k[i] for i, n in enumerate(names)}
    for part in ("eye", "ear", "big_toe", "small_toe", "heel"):  # mirror twins on the symmetric template
        np.testing.assert_allclose(at[f"left_{part}"] * [-1, 1, 1], at[f"right_{part}"], atol=2e-3)
    assert at["nose"][2] > at["left_eye"][2] > at["left_ear"][2]  # facing +Z
    assert at["left_eye"][1] > at["nose"][1] and at["left_ear"][0] > at["left_eye"][0] > 0
    assert at["left_big_toe"][2] > at["left_small_toe"][2] > at["left_heel"][2] + 0.15
    assert at["left_small_toe"][0] > at["left_big_toe"][0]
    assert abs(at["left_heel"][1] - v[:, 1].min()) < 0.03  # on the sole


def test_only_smpl_trees_get_geometric_keypoints():
    arrays = procedural_body_arrays()
    assert has_smpl_tree(arrays["kintree_parents"]) and not has_smpl_tree(np.arange(24) - 1)
    bare = {k: v for k, v in arrays.items() if k not in REGRESSORS}
    flat = dict(bare, kintree_parents=np.r_[-1, np.zeros(23, np.int64)])  # every joint on the root
    with pytest.raises(ValueError, match="expected SMPL's 24-joint tree"):
        keypoint_regressors(flat)
    assert BodyModel.from_arrays(flat).keypoint_layouts == ()
    with pytest.raises(ValueError, match="found no weights"):
        keypoint_regressors({k: v for k, v in bare.items() if k != "weights"})
    tube = BodyModel.from_arrays(bare)  # even a coarse tube body gets convex keypoints
    assert tube.keypoint_layouts == ("body25", "coco17") and tube.meta["keypoints"] == "geometric"
    kept = BodyModel.from_arrays(dict(bare, coco17_regressor=arrays["coco17_regressor"]))
    np.testing.assert_array_equal(kept.coco17_regressor.numpy(), arrays["coco17_regressor"])  # given ones stay


@pytest.fixture(scope="module")
def people():
    ship = BodyModel.default(dtype=torch.float64)
    return example_people(ship, 4, seed=11)


def test_keypoint_fit_with_a_model_file_that_has_no_regressors(tmp_path, monkeypatch, stripped, people):
    """The stripped default body as unrender's npz and as an SMPL-style pkl (chumpy and sparse stand-ins):
    keypoints of the shipped body are fitted with the geometric ones to a loose joint error."""
    save_body_model(tmp_path / "bare.npz", stripped)
    assert not set(REGRESSORS) & set(np.load(tmp_path / "bare.npz").files)
    d = smpl_layout(stripped)
    d.update(shapedirs=Ch(d["shapedirs"]), J_regressor=csc_matrix(d["J_regressor"]))
    (tmp_path / "SMPL_bare.pkl").write_bytes(smpl_pickle(monkeypatch, d))
    truth, kp, focal, center, _ = people
    for path in (tmp_path / "bare.npz", tmp_path / "SMPL_bare.pkl"):
        model = BodyModel.load(path, dtype=torch.float64)
        assert model.keypoint_layouts == ("body25", "coco17") and model.meta["keypoints"] == "geometric"
        fit = fit_keypoints(model, kp, "body25", focal, center, prior=default_pose_prior(), steps=(40, 150))
        pred = model(betas=fit.betas, body_pose=fit.body_pose, global_orient=fit.global_orient, transl=fit.transl)
        err_mm = aligned_joint_error(pred.joints, truth.joints) * 1000
        assert float(err_mm.median()) <= 40.0, (path.name, float(err_mm.median()))
    # the command line, end to end, with the pkl
    save_openpose(tmp_path / "shot_keypoints.json", kp[:1], "body25")
    code = main(["fit-smpl-keypoints", "-i", str(tmp_path / "shot_keypoints.json"), "-o", str(tmp_path / "fit"),
                 "--model", str(tmp_path / "SMPL_bare.pkl"), "--focal", "1000", "--image-width", "1000",
                 "--image-height", "1000", "--quiet"])
    assert code == 0
    params = load_body_parameters(tmp_path / "fit" / "body.json")
    assert params.model == str(tmp_path / "SMPL_bare.pkl")
    assert json.loads((tmp_path / "fit" / "summary.json").read_text())["metrics"]["reprojection_px"] < 8.0
