"""fit-smpl-keypoints: an OpenPose file in, a posed body mesh and parameters that read back out."""

import json

import pytest
import torch

from unrender.body import BodyModel
from unrender.cli import main
from unrender.io import load_body_parameters, load_obj, save_openpose
from unrender.methods import get_method, run_method
from unrender.methods.fit_smpl_keypoints import example_people, load_model


@pytest.fixture(scope="module")
def model():
    return load_model("")


def test_openpose_file_to_mesh_and_parameters_that_read_back(tmp_path, model, capsys):
    _, kp, _, _, _ = example_people(model, 2, seed=4)
    kp[1, :, 2] *= 0.5  # the less confident person is not the one fitted
    save_openpose(tmp_path / "shot_keypoints.json", kp, "body25")
    code = main(["fit-smpl-keypoints", "-i", str(tmp_path / "shot_keypoints.json"), "-o", str(tmp_path / "fit"),
                 "--image-width", "1000", "--image-height", "1000", "--focal", "1000", "--quiet"])
    assert code == 0, capsys.readouterr().err
    out = tmp_path / "fit"
    assert {p.name for p in out.iterdir()} >= {"mesh.obj", "body.json", "overlay.png", "summary.json"}
    params = load_body_parameters(out / "body.json")
    assert params.frame == "camera" and params.focal == 1000.0 and params.image_size == (1000, 1000)
    assert params.joint_names == model.joint_names and len(params.parents) == 24
    # The parameters rebuild the written mesh: the same model, the same vertices.
    again = model(betas=params.betas[None], body_pose=params.body_pose[None], global_orient=params.global_orient[None],
                  transl=params.transl[None]).vertices[0]
    mesh = load_obj(out / "mesh.obj")
    assert torch.allclose(mesh.verts.double(), again, atol=1e-4)
    # Camera frame: upright (head above feet along +Y) in front of the camera (z < 0).
    assert float(again[:, 2].max()) < 0 and float(again[:, 1].max() - again[:, 1].min()) > 1.0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["reprojection_px"] < 5.0


def test_fit_recovers_the_pose_of_an_example(model):
    truth, kp, focal, center, _ = example_people(model, 1, seed=7)
    result = run_method("fit-smpl-keypoints", {"keypoints": kp[0].float()},
                        {"focal": 1000.0, "image_width": 1000, "image_height": 1000})
    body = result.outputs["body"]
    fitted = model(betas=body.betas[None], body_pose=body.body_pose[None], global_orient=body.global_orient[None],
                   transl=body.transl[None])
    # Joints relative to the pelvis (the camera-frame change is a rotation, lengths are kept).
    rel_true = truth.joints[0] - truth.joints[0, :1]
    rel_fit = fitted.joints[0] - fitted.joints[0, :1]
    assert float((rel_true.norm(dim=1) - rel_fit.norm(dim=1)).abs().median()) < 0.05
    assert result.metrics["reprojection_px"] < 5.0


def test_bad_keypoints_are_named_before_any_work(model):
    _, kp, _, _, _ = example_people(model, 1, seed=1)
    few = kp[0].float().clone()
    few[6:, 2] = 0.0
    with pytest.raises(ValueError, match="confidence above"):
        run_method("fit-smpl-keypoints", {"keypoints": few}, {})
    with pytest.raises(ValueError, match="joints"):
        run_method("fit-smpl-keypoints", {"keypoints": torch.rand(20, 3)}, {})
    with pytest.raises((ValueError, FileNotFoundError), match="smpl.pkl"):
        run_method("fit-smpl-keypoints", {"keypoints": kp[0].float()}, {"model": "/nonexistent/smpl.pkl"})


def test_registered_with_an_example():
    m = get_method("fit-smpl-keypoints")
    assert m.example_inputs(0)["keypoints"].shape == (25, 3)
    assert [o.kind for o in m.outputs] == ["mesh", "body"]
