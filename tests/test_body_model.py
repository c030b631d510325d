"""The SMPL body model on the procedural tube body: SMPL's equations, batching, keypoints, inputs."""

import numpy as np
import pytest
import torch

from unrender.body import BodyModel, procedural_body_arrays
from unrender.geometry import axis_angle_to_matrix, matrix_to_rotation_6d

from test_body_skinning import naive_lbs


@pytest.fixture(scope="module")
def model():
    return BodyModel.from_arrays(procedural_body_arrays(posedirs_scale=0.01), dtype=torch.float64)


def random_params(B, seed=0, betas=10):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    return dict(betas=r(B, betas), body_pose=0.4 * r(B, 69), global_orient=r(B, 3), transl=r(B, 3))


def test_zero_pose_returns_the_shaped_template(model):
    betas = random_params(2)["betas"]
    shaped = model.v_template + torch.einsum("bl,vkl->bvk", betas, model.shapedirs)
    for out in (model(betas=betas), model(betas=betas, body_pose=torch.zeros(2, 69, dtype=torch.float64),
                                          global_orient=torch.zeros(2, 3, dtype=torch.float64))):
        torch.testing.assert_close(out.vertices, shaped, atol=1e-12, rtol=0)
        torch.testing.assert_close(out.joints, model.J_regressor @ shaped, atol=1e-12, rtol=0)
        torch.testing.assert_close(out.rest_vertices, shaped, atol=1e-12, rtol=0)
    torch.testing.assert_close(model().vertices[0], model.v_template, atol=1e-12, rtol=0)


def test_forward_equals_smpl_equations_written_out(model):
    p = random_params(1, seed=3, betas=4)
    out = model(**p)
    a = procedural_body_arrays(posedirs_scale=0.01)
    shaped = torch.as_tensor(a["v_template"]) + torch.as_tensor(a["shapedirs"][..., :4]) @ p["betas"][0]
    joints = torch.as_tensor(a["J_regressor"]) @ shaped
    rot = axis_angle_to_matrix(torch.cat([p["global_orient"], p["body_pose"]], 1).reshape(24, 3))
    feature = (rot[1:] - torch.eye(3, dtype=torch.float64)).reshape(-1)
    corrected = shaped + (torch.as_tensor(a["posedirs"]) @ feature).reshape(-1, 3)
    want, G = naive_lbs(corrected, torch.as_tensor(a["weights"]), a["kintree_parents"].tolist(), joints, rot)
    torch.testing.assert_close(out.vertices[0], want + p["transl"][0], atol=1e-6, rtol=0)
    torch.testing.assert_close(out.joints[0], G[:, :3, 3] + p["transl"][0], atol=1e-6, rtol=0)
    torch.testing.assert_close(out.transforms[0, :, :3, :3], G[:, :3, :3], atol=1e-6, rtol=0)


def test_pose_correctives_are_applied_whenever_present():
    """Zero correctives are skipped for speed; correctives loaded later (state dict, in-place edit) are used."""
    m = BodyModel.from_arrays(procedural_body_arrays(posedirs_scale=0.0), dtype=torch.float64)
    p = random_params(2, seed=4)
    plain = m(**p).vertices
    state = m.state_dict()
    state["posedirs"] = torch.randn_like(state["posedirs"]) * 0.01
    m.load_state_dict(state)
    with_correctives = m(**p).vertices
    assert (with_correctives - plain).abs().max() > 1e-3
    want = BodyModel.from_arrays({**m.to_arrays()}, dtype=torch.float64)(**p).vertices
    torch.testing.assert_close(with_correctives, want, atol=1e-12, rtol=0)
    m.posedirs.zero_()
    torch.testing.assert_close(m(**p).vertices, plain, atol=1e-12, rtol=0)


def test_batched_equals_one_by_one(model):
    p = random_params(3, seed=1)
    out = model(**p)
    for b in range(3):
        one = model(**{k: v[b:b + 1] for k, v in p.items()})
        torch.testing.assert_close(out.vertices[b:b + 1], one.vertices, atol=1e-12, rtol=0)
        for name in ("body25", "coco17"):
            torch.testing.assert_close(out.keypoints[name][b:b + 1], one.keypoints[name], atol=1e-12, rtol=0)


def test_keypoints_are_convex_combinations_of_posed_vertices(model):
    out = model(**random_params(2, seed=2))
    assert out.keypoints["body25"].shape == (2, 25, 3) and out.keypoints["coco17"].shape == (2, 17, 3)
    for name, reg in (("body25", model.body25_regressor), ("coco17", model.coco17_regressor)):
        assert (reg >= 0).all() and torch.allclose(reg.sum(1), torch.ones(len(reg), dtype=reg.dtype))
        torch.testing.assert_close(out.keypoints[name], reg @ out.vertices, atol=1e-12, rtol=0)
        lo, hi = out.vertices.amin(1, keepdim=True), out.vertices.amax(1, keepdim=True)
        assert ((out.keypoints[name] >= lo - 1e-12) & (out.keypoints[name] <= hi + 1e-12)).all()


def test_rotation_forms_agree(model):
    p = random_params(2, seed=4)
    want = model(**p).vertices
    mats = axis_angle_to_matrix(p["body_pose"].reshape(2, 23, 3))
    root = axis_angle_to_matrix(p["global_orient"])
    for body, glob in ((mats, root), (mats.reshape(2, 207), root[:, None]),
                       (matrix_to_rotation_6d(mats), matrix_to_rotation_6d(root)[:, None])):
        got = model(betas=p["betas"], body_pose=body, global_orient=glob, transl=p["transl"], pose2rot=False)
        torch.testing.assert_close(got.vertices, want, atol=1e-10, rtol=0)
    got = model(betas=p["betas"], body_pose=p["body_pose"].reshape(2, 23, 3), global_orient=p["global_orient"],
                transl=p["transl"])
    torch.testing.assert_close(got.vertices, want, atol=0, rtol=0)


def test_bad_inputs_are_named(model):
    p = random_params(2)
    with pytest.raises(ValueError, match="betas: expected at most 10 shape coefficients, found 12"):
        model(betas=torch.zeros(2, 12, dtype=torch.float64))
    with pytest.raises(ValueError, match="transl: expected a batch of 2"):
        model(betas=p["betas"], transl=torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"body_pose: expected axis-angle \(B, 69\)"):
        model(body_pose=torch.zeros(2, 23, 3, 3))
    with pytest.raises(ValueError, match=r"body_pose: expected matrices"):
        model(body_pose=p["body_pose"], pose2rot=False)
    with pytest.raises(ValueError, match="body_pose: expected 23 joints"):
        model(body_pose=torch.zeros(2, 22, 3))


def test_arrays_round_trip_and_float32_default(tmp_path, model):
    path = tmp_path / "tubes.npz"
    model.save(path)
    again = BodyModel.load(path)
    assert again.v_template.dtype == torch.float32 and again.joint_names == model.joint_names
    assert again.joint_names[0] == "pelvis" and again.meta["units"] == "m"
    p = {k: v.float() for k, v in random_params(2).items()}
    torch.testing.assert_close(again(**p).vertices, model(**{k: v.double() for k, v in p.items()}).vertices.float(),
                               atol=1e-5, rtol=0)
    np.testing.assert_array_equal(again.to_arrays()["f"], model.to_arrays()["f"])


def test_posing_body_equals_forward_on_its_vertices(model):
    from unrender.body import PosingBody

    g = torch.Generator().manual_seed(3)
    betas = torch.randn(2, model.num_betas, generator=g, dtype=torch.float64)
    pose = torch.randn(2, 23, 3, generator=g, dtype=torch.float64) * 0.3
    orient = torch.randn(2, 3, generator=g, dtype=torch.float64)
    transl = torch.randn(2, 3, generator=g, dtype=torch.float64)
    full = model(betas=betas, body_pose=pose, global_orient=orient, transl=transl)
    ids = torch.arange(0, model.v_template.shape[0], 7)
    for sub, expect in ((None, full.vertices), (ids, full.vertices[:, ids])):
        verts, _ = PosingBody(model, sub)(betas, pose, orient, transl)
        assert torch.allclose(verts, expect, atol=1e-10)
