"""OpenPose keypoint JSON: layouts, round trips, conversions and bad input."""

import json
import os

import pytest
import torch

from unrender.io import (
    KEYPOINT_LAYOUTS,
    check_confident_joints,
    convert_layout,
    layout_of,
    load_openpose,
    save_openpose,
)


def _people(n: int, k: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, k, 2, generator=g) * 500
    conf = torch.rand(n, k, 1, generator=g)
    return torch.cat([xy, conf], -1)


@pytest.mark.parametrize("layout", sorted(KEYPOINT_LAYOUTS))
def test_round_trip_and_layout_from_the_joint_count(tmp_path, layout):
    kp = _people(2, len(KEYPOINT_LAYOUTS[layout]))
    save_openpose(tmp_path / "a_keypoints.json", kp, layout)
    back, found = load_openpose(tmp_path / "a_keypoints.json")
    assert found == layout and torch.allclose(back, kp, atol=1e-4)
    assert layout_of(len(KEYPOINT_LAYOUTS[layout])) == layout


def test_openpose_file_as_openpose_writes_it(tmp_path):
    # The fields OpenPose writes besides the pose are ignored; no people is an empty batch.
    flat = [float(v) for v in _people(1, 25)[0].reshape(-1)]
    doc = {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": flat, "face_keypoints_2d": [],
                                       "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": []}]}
    (tmp_path / "k.json").write_text(json.dumps(doc))
    kp, layout = load_openpose(tmp_path / "k.json")
    assert kp.shape == (1, 25, 3) and layout == "body25"
    (tmp_path / "none.json").write_text(json.dumps({"version": 1.3, "people": []}))
    assert load_openpose(tmp_path / "none.json")[0].shape == (0, 25, 3)


def test_coco17_to_body25_by_name_with_neck_and_mid_hip():
    coco = _people(3, 17)
    body = convert_layout(coco, "coco17", "body25")
    names17, names25 = KEYPOINT_LAYOUTS["coco17"], KEYPOINT_LAYOUTS["body25"]
    for j, name in enumerate(names25):
        if name in names17:
            assert torch.equal(body[:, j], coco[:, names17.index(name)])
    neck = names25.index("neck")
    ls, rs = names17.index("left_shoulder"), names17.index("right_shoulder")
    assert torch.allclose(body[:, neck, :2], 0.5 * (coco[:, ls, :2] + coco[:, rs, :2]))
    assert torch.equal(body[:, neck, 2], torch.minimum(coco[:, ls, 2], coco[:, rs, 2]))
    assert (body[:, names25.index("left_heel"), 2] == 0).all()  # COCO has no heels: confidence 0


def test_bad_files_name_what_is_wrong(tmp_path):
    cases = {
        "other_layout.json": ({"people": [{"pose_keypoints_2d": [1.0, 2.0, 0.5] * 20}]}, "expected one of"),
        "not_triples.json": ({"people": [{"pose_keypoints_2d": [1.0, 2.0]}]}, "triples"),
        "no_people.json": ({"version": 1.3}, "'people' list"),
        "conf.json": ({"people": [{"pose_keypoints_2d": [1.0, 2.0, 3.0] * 25}]}, "confidences in"),
        "strings.json": ({"people": [{"pose_keypoints_2d": ["1"] * 75}]}, "finite numbers"),
    }
    for name, (doc, message) in cases.items():
        (tmp_path / name).write_text(json.dumps(doc))
        with pytest.raises(ValueError, match=message):
            load_openpose(tmp_path / name)
    (tmp_path / "nan.json").write_text('{"people": [{"pose_keypoints_2d": [NaN, 1, 0.5' + ", 1" * 72 + "]}]}")
    with pytest.raises(ValueError, match="finite"):
        load_openpose(tmp_path / "nan.json")
    save_openpose(tmp_path / "b.json", _people(1, 25), "body25")
    with pytest.raises(ValueError, match="expected coco17"):
        load_openpose(tmp_path / "b.json", layout="coco17")
    with pytest.raises(ValueError, match="keypoints"):
        save_openpose(tmp_path / "c.json", _people(1, 17), "body25")
    assert not os.path.exists(tmp_path / "c.json")


def test_too_few_confident_joints_names_the_missing_ones():
    kp = _people(1, 17)
    kp[..., 2] = 0.9
    kp[0, 11:, 2] = 0.0  # hips, knees and ankles undetected
    check_confident_joints(kp, "coco17", minimum=8)
    with pytest.raises(ValueError, match="person 0 has 11 joints.*left_hip"):
        check_confident_joints(kp, "coco17", minimum=12)
