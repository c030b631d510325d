"""Camera files: every camera class round-trips through JSON (one camera and a batch); old files load;
malformed files give errors naming the file."""

import json

import pytest
import torch

from unrender.cameras import FoVOrthographicCameras, FoVPerspectiveCameras, OrthographicCameras, PerspectiveCameras
from unrender.geometry.rotations import random_rotations
from unrender.io import load_cameras, save_cameras


def _rt(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    R = random_rotations(n, generator=g)
    T = torch.randn(n, 3, generator=g) * 0.3 + torch.tensor([0.0, 0.0, 4.0])
    return R, T


def _cameras(n):
    R, T = _rt(n)
    per = lambda *v: torch.tensor(v[:n]) if n > 1 else v[0]  # noqa: E731
    return {
        "fov_perspective": FoVPerspectiveCameras(R=R, T=T, fov=per(40.0, 55.0), znear=0.5, zfar=per(20.0, 30.0), aspect_ratio=1.25),
        "fov_perspective_radians": FoVPerspectiveCameras(R=R, T=T, fov=0.8, degrees=False),
        "perspective_ndc": PerspectiveCameras(R=R, T=T, focal_length=torch.tensor([[1.5, 1.7], [2.0, 2.1]][:n]),
                                              principal_point=((0.1, -0.05),)),
        "perspective_screen": PerspectiveCameras(R=R, T=T, focal_length=300.0, principal_point=((120.0, 90.0),),
                                                 in_ndc=False, image_size=((200, 240),)),
        "fov_orthographic": FoVOrthographicCameras(R=R, T=T, min_x=-2.0, max_x=1.5, min_y=-1.0, max_y=per(1.2, 1.4),
                                                   scale_xyz=((1.0, 1.1, 0.9),), znear=0.1, zfar=9.0),
        "orthographic": OrthographicCameras(R=R, T=T, focal_length=((0.5, 0.6),), principal_point=((0.1, 0.2),),
                                            image_size=(64, 80)),
    }


@pytest.mark.parametrize("n", [1, 2], ids=["one", "batch"])
@pytest.mark.parametrize("name", list(_cameras(1)))
def test_every_camera_class_round_trips(tmp_path, name, n):
    cam = _cameras(n)[name]
    save_cameras(tmp_path / "cam.json", cam)
    back = load_cameras(tmp_path / "cam.json")
    assert type(back) is type(cam) and len(back) == n
    pts = torch.randn(n, 64, 3, generator=torch.Generator().manual_seed(1)) * 0.5
    assert torch.allclose(back.transform_points(pts), cam.transform_points(pts), atol=1e-6, rtol=0)
    assert torch.allclose(back.R, cam.R) and torch.allclose(back.T, cam.T)
    assert back.in_ndc() == cam.in_ndc()
    size, back_size = cam.get_image_size(), back.get_image_size()
    assert (size is None and back_size is None) or torch.equal(size.expand_as(back_size), back_size)


def test_blender_record_is_written_when_the_camera_converts(tmp_path):
    cam = _cameras(1)["perspective_screen"]
    save_cameras(tmp_path / "cam.json", cam)
    rec = json.loads((tmp_path / "cam.json").read_text())
    assert rec["class"] == "PerspectiveCameras" and rec["blender"]["type"] == "PERSP"
    assert len(rec["blender"]["matrix_world"]) == 4 and rec["blender"]["resolution_x"] == 240
    save_cameras(tmp_path / "two.json", _cameras(2)["orthographic"])
    rec = json.loads((tmp_path / "two.json").read_text())
    assert [b["type"] for b in rec["blender"]] == ["ORTHO", "ORTHO"]


def test_old_files_load_as_fov_perspective(tmp_path):
    R, T = _rt(1)
    old = {"convention": "PyTorch3D world-to-view", "class": "FoVPerspectiveCameras", "R": R[0].tolist(),
           "T": T[0].tolist(), "center": [0, 0, 0], "fov": 35.0, "znear": 0.2, "zfar": 50.0, "aspect_ratio": 1.0}
    (tmp_path / "old.json").write_text(json.dumps(old))
    cam = load_cameras(tmp_path / "old.json")
    assert isinstance(cam, FoVPerspectiveCameras) and float(cam.fov) == 35.0 and float(cam.znear[0]) == pytest.approx(0.2)
    (tmp_path / "bare.json").write_text(json.dumps({"R": R[0].tolist(), "T": T[0].tolist(), "fov": 50}))
    bare = load_cameras(tmp_path / "bare.json")
    assert isinstance(bare, FoVPerspectiveCameras) and float(bare.fov) == 50.0


BAD = [
    ("not json", "{R: nope", r"bad\.json is not JSON"),
    ("no R", json.dumps({"T": [0, 0, 1]}), r"bad\.json: expected a JSON object with 'R'"),
    ("R shape", json.dumps({"R": [[1, 0], [0, 1]], "T": [0, 0, 1]}), r"bad\.json: expected 'R' of shape \(3, 3\)"),
    ("unknown class", json.dumps({"R": torch.eye(3).tolist(), "T": [0, 0, 1], "class": "FisheyeCameras"}),
     r"bad\.json: expected 'class' among .*found 'FisheyeCameras'"),
    ("bad value", json.dumps({"R": torch.eye(3).tolist(), "T": [0, 0, 1], "fov": "wide"}), r"bad\.json: expected 'fov' to hold numbers"),
    ("invalid camera", json.dumps({"R": torch.eye(3).tolist(), "T": [0, 0, 1], "fov": 200.0}), r"bad\.json: fov: expected an angle"),
    ("bad setting", json.dumps({"R": torch.eye(3).tolist(), "T": [0, 0, 1], "class": "PerspectiveCameras", "in_ndc": "yes"}),
     r"bad\.json: expected 'in_ndc' true or false"),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_malformed_files_give_errors_naming_the_file(tmp_path, case):
    _, text, pattern = case
    (tmp_path / "bad.json").write_text(text)
    with pytest.raises(ValueError, match=pattern):
        load_cameras(tmp_path / "bad.json")


def test_missing_file_and_wrong_suffix(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        load_cameras(tmp_path / "nope.json")
    with pytest.raises(ValueError, match=r"expected a file ending in \.json"):
        save_cameras(tmp_path / "cam.txt", _cameras(1)["orthographic"])


# ----------------------------------------------------------------------------- garbage values
def _record(R, **extra):
    return json.dumps({"R": R, "T": [0, 0, 4], "fov": 50, **extra})


@pytest.mark.parametrize("R, found", [
    ((2 * torch.eye(3)).tolist(), r"\|R\^T R - I\| up to 3 and determinant 8"),
    (torch.diag(torch.tensor([1.0, 1.0, -1.0])).tolist(), r"\|R\^T R - I\| up to 0 and determinant -1"),
    ([[1, 0, 0], [0, 1, 0], [0, 0, 0]], r"\|R\^T R - I\| up to 1 and determinant 0"),
    ([[1, 0.01, 0], [0, 1, 0], [0, 0, 1]], r"\|R\^T R - I\| up to 0.01 and determinant 1"),
], ids=["scaled", "reflection", "singular", "sheared"])
def test_r_must_be_a_rotation(tmp_path, R, found):
    (tmp_path / "c.json").write_text(_record(R))
    with pytest.raises(ValueError, match=r"c\.json: expected 'R' to be a rotation \(orthonormal, determinant \+1, "
                                         r"within 0.001\), found " + found):
        load_cameras(tmp_path / "c.json")


def test_r_of_every_camera_of_a_batch_is_checked(tmp_path):
    R, T = _rt(3)
    R[1] = R[1] * 1.01
    (tmp_path / "c.json").write_text(json.dumps({"R": R.tolist(), "T": T.tolist()}))
    with pytest.raises(ValueError, match=r"c\.json: expected 'R' to be a rotation .* \(camera 1\)"):
        load_cameras(tmp_path / "c.json")


def test_hand_written_rotations_within_the_tolerance_load(tmp_path):
    s = 0.7071  # four decimals of 1/sqrt(2)
    (tmp_path / "c.json").write_text(_record([[s, 0, s], [0, 1, 0], [-s, 0, s]]))
    assert load_cameras(tmp_path / "c.json").R.shape == (1, 3, 3)


@pytest.mark.parametrize("key, value", [
    ("R", [["1", "0", "0"], [0, 1, 0], [0, 0, 1]]), ("T", ["1_000", 0, 4]), ("T", ["\u0661", 0, 4]),
    ("fov", "\uff15\uff10"), ("T", [True, 0, 4]), ("T", [10**400, 0, 4]),
], ids=["string R", "underscore", "Arabic-Indic", "full-width", "boolean", "beyond float64"])
def test_values_must_be_json_numbers(tmp_path, key, value):
    rec = json.loads(_record(torch.eye(3).tolist()))
    rec[key] = value
    (tmp_path / "c.json").write_text(json.dumps(rec, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match=rf"c\.json: expected '{key}' to hold numbers"):
        load_cameras(tmp_path / "c.json")


def test_deeply_nested_json_is_a_value_error(tmp_path):
    (tmp_path / "c.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match=r"c\.json is not JSON"):
        load_cameras(tmp_path / "c.json")


@pytest.mark.parametrize("points", [[["1_0", 0], [0, 1]], [["\u0661", 0], [0, 1]], [[True, 0], [0, 1]]],
                         ids=["underscore", "Arabic-Indic", "boolean"])
def test_keypoints_values_must_be_json_numbers(tmp_path, points):
    from unrender.io import load_keypoints

    (tmp_path / "k.json").write_text(json.dumps({"points": points}, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match=r"k\.json: expected 'points' as rows of 2 or 3 numbers"):
        load_keypoints(tmp_path / "k.json")
    (tmp_path / "k.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match=r"k\.json is not JSON"):
        load_keypoints(tmp_path / "k.json")
