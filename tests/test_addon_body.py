"""Rigged bodies in Blender: Blender's own deformation of the armature and mesh the add-on builds equals
unrender's linear blend skinning of the same shape and pose."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

bpy = pytest.importorskip("bpy", reason="the add-on tests need the bpy module (Blender as a Python module)")

from blender_addon import state  # noqa: E402

pytestmark = [pytest.mark.blender, pytest.mark.addon]


@pytest.fixture(scope="module")
def model(addon):
    """The shipped default body in float64 (Blender's float32 is then the only rounding)."""
    from unrender.body import BodyModel
    from unrender_addon.body import default_model_path

    return BodyModel.load(default_model_path(), dtype=torch.float64)


def _random_params(model, seed):
    from unrender.body import sample_body_poses

    g = torch.Generator().manual_seed(seed)
    return {"betas": torch.randn(1, model.num_betas, generator=g, dtype=torch.float64) * 1.5,
            "body_pose": sample_body_poses(1, seed=seed, dtype=torch.float64).reshape(1, -1),
            "global_orient": torch.randn(1, 3, generator=g, dtype=torch.float64),
            "transl": torch.randn(1, 3, generator=g, dtype=torch.float64)}


def _deformed_world(obj) -> np.ndarray:
    from unrender_addon import convert

    return convert.point_array(obj, bpy.context.evaluated_depsgraph_get())


def _core_in_blender_axes(model, params) -> np.ndarray:
    from unrender_addon.body import Y_UP_TO_Z_UP

    with torch.no_grad():
        return model(**params).vertices[0].numpy() @ Y_UP_TO_Z_UP.T


@pytest.mark.parametrize("seed", [0, 1])
def test_blender_deforms_the_rigged_body_as_unrender_skins_it(scene, model, seed):
    from unrender_addon.body import build_rigged_body

    params = _random_params(model, seed)
    t0 = time.perf_counter()
    arm, mesh = build_rigged_body(bpy.context, model, params, name="Body")
    seconds = time.perf_counter() - t0
    expected = _core_in_blender_axes(model, params)
    found = _deformed_world(mesh)
    assert found.shape == expected.shape
    err = np.abs(found - expected).max()
    assert err < 1e-4, f"max vertex difference between Blender's deformation and unrender's LBS: {err:.2e} m"
    assert seconds < 5.0, f"building the body took {seconds:.1f} s"
    # The pose is really on the bones: the rest pose puts the mesh back at the shaped rest mesh.
    arm.data.pose_position = "REST"
    from unrender_addon.body import Y_UP_TO_Z_UP

    with torch.no_grad():
        rest = model(betas=params["betas"]).rest_vertices[0].numpy() @ Y_UP_TO_Z_UP.T
    assert np.abs(_deformed_world(mesh) - rest).max() < 1e-5


def test_bones_and_vertex_groups_are_the_models_joints_and_weights(scene, model):
    from unrender_addon.body import build_rigged_body

    params = _random_params(model, 2)
    arm, mesh = build_rigged_body(bpy.context, model, params, name="Person")
    assert arm.type == "ARMATURE" and mesh.parent == arm and arm.name == "Person" and mesh.name == "Person Mesh"
    assert [m.type for m in mesh.modifiers] == ["ARMATURE"] and mesh.modifiers[0].object == arm
    names = list(model.joint_names)
    assert sorted(b.name for b in arm.data.bones) == sorted(names)
    bones = [arm.data.bones[n] for n in names]  # in the model's order (Blender lists them depth first)
    parents = [-1 if b.parent is None else names.index(b.parent.name) for b in bones]
    assert parents == model.parents.tolist()
    from unrender_addon.body import Y_UP_TO_Z_UP

    with torch.no_grad():
        heads = model(betas=params["betas"]).rest_joints[0].numpy() @ Y_UP_TO_Z_UP.T
    found_heads = np.array([b.head_local for b in bones])
    assert np.abs(found_heads - heads).max() < 1e-5
    assert all(b.length > 1e-3 for b in bones)
    # SMPL's Y up and +Z front become Blender's Z up and -Y front (x, y, z) -> (x, -z, y): the body stands on Z.
    assert np.allclose(Y_UP_TO_Z_UP @ [1.0, 2.0, 3.0], [1.0, -3.0, 2.0])
    head, ankle = arm.data.bones["head"].head_local, arm.data.bones["left_ankle"].head_local
    assert head.z - ankle.z > 1.0 and abs(head.y - ankle.y) < 0.3
    weights = np.zeros((len(mesh.data.vertices), len(bones)))
    index = {g.index: model.joint_names.index(g.name) for g in mesh.vertex_groups}
    assert sorted(index.values()) == list(range(len(bones)))
    for v in mesh.data.vertices:
        for g in v.groups:
            weights[v.index, index[g.group]] = g.weight
    assert np.abs(weights - model.weights.numpy()).max() < 1e-6


def test_pose_correctives_are_baked_as_a_shape_key(scene, model):
    from unrender.body import BodyModel
    from unrender_addon.body import build_rigged_body

    arrays = model.to_arrays()
    rng = np.random.default_rng(0)
    arrays["posedirs"] = rng.normal(0.0, 2e-3, arrays["posedirs"].shape)
    with_correctives = BodyModel.from_arrays(arrays, dtype=torch.float64)
    params = _random_params(with_correctives, 3)
    _, mesh = build_rigged_body(bpy.context, with_correctives, params)
    assert [k.name for k in mesh.data.shape_keys.key_blocks] == ["Basis", "Pose correctives"]
    expected = _core_in_blender_axes(with_correctives, params)
    assert np.abs(expected - _core_in_blender_axes(model, params)).max() > 1e-3  # the correctives matter
    assert np.abs(_deformed_world(mesh) - expected).max() < 1e-4


def test_bad_parameters_leave_the_scene_unchanged(scene, model):
    from unrender_addon.body import build_rigged_body

    before = state(), len(bpy.data.armatures)
    for bad, words in [({"body_pose": np.zeros(10)}, "body_pose: expected 69"),
                       ({"transl": [0.0, np.nan, 0.0]}, "transl: expected finite"),
                       ({"pose": np.zeros(3)}, "expected keys among")]:
        with pytest.raises(ValueError, match=words):
            build_rigged_body(bpy.context, model, bad)
        assert (state(), len(bpy.data.armatures)) == before


def test_a_failure_half_way_removes_what_was_built(scene, model, monkeypatch):
    from unrender_addon import body

    def broken(*args):
        raise RuntimeError("weights failed")

    monkeypatch.setattr(body, "_add_weights", broken)
    before = state(), len(bpy.data.armatures)
    with pytest.raises(RuntimeError, match="weights failed"):
        body.build_rigged_body(bpy.context, model, {})
    assert (state(), len(bpy.data.armatures)) == before and bpy.context.mode == "OBJECT"


def test_add_body_operator_shapes_the_default_body_at_the_cursor(scene, model):
    bpy.context.scene.cursor.location = (1.0, 2.0, 0.0)
    betas = [1.0, -0.5] + [0.0] * 8
    assert bpy.ops.unrender.add_body(betas=betas) == {"FINISHED"}
    arm = bpy.context.view_layer.objects.active
    mesh = next(o for o in bpy.data.objects if o.parent == arm)
    from unrender_addon.body import Y_UP_TO_Z_UP

    with torch.no_grad():
        expected = model(betas=torch.tensor([betas], dtype=torch.float64)).vertices[0].numpy() @ Y_UP_TO_Z_UP.T
    assert np.abs(_deformed_world(mesh) - (expected + [1.0, 2.0, 0.0])).max() < 1e-4
    assert "unrender.add_body" in _panel_operators()


def test_add_body_with_a_missing_model_file_is_an_error_and_changes_nothing(scene):
    before = state(), len(bpy.data.armatures)
    with pytest.raises(RuntimeError, match="expected a model file"):
        bpy.ops.unrender.add_body(model_path="/nonexistent/body.npz")
    assert (state(), len(bpy.data.armatures)) == before


def _panel_operators() -> list[str]:
    """The operator ids the main panel draws (its draw function run on a recording layout)."""
    from types import SimpleNamespace

    from unrender_addon import panel

    drawn = []

    class Layout:
        def __getattr__(self, name):
            return lambda *a, **k: Layout()

        def operator(self, op, **kw):
            drawn.append(op)
            return SimpleNamespace()

    panel.UNRENDER_PT_main.draw(SimpleNamespace(layout=Layout()), bpy.context)
    return drawn


def test_fit_to_keypoints_operator_builds_a_rigged_body_in_front_of_the_camera(scene, tmp_path):
    """The registry-built "Fit body to keypoints" operator: an OpenPose file in, a rigged body whose
    deformed mesh is the fitted body as the scene camera sees it."""
    from unrender.io import load_obj, save_openpose
    from unrender.methods import run_method
    from unrender.methods.fit_smpl_keypoints import example_people, load_model

    _, kp, _, _, _ = example_people(load_model(""), 1, seed=2)
    path = tmp_path / "shot_keypoints.json"
    save_openpose(path, kp, "body25")
    cam_data = bpy.data.cameras.new("cam")
    cam = bpy.data.objects.new("cam", cam_data)
    bpy.context.scene.collection.objects.link(cam)
    cam.location = (0.5, -6.0, 1.2)
    cam.rotation_euler = (1.45, 0.0, 0.1)
    bpy.context.scene.camera = cam
    bpy.context.view_layer.update()
    before = {o.name for o in bpy.data.objects}
    params = dict(focal=1000.0, image_width=1000, image_height=1000, steps=80)
    assert bpy.ops.unrender.fit_smpl_keypoints(keypoints_file=str(path), **params) == {"FINISHED"}
    new = [o for o in bpy.data.objects if o.name not in before]
    assert sorted(o.type for o in new) == ["ARMATURE", "MESH"]
    mesh_obj = next(o for o in new if o.type == "MESH")
    deps = bpy.context.evaluated_depsgraph_get()
    ev = mesh_obj.evaluated_get(deps).to_mesh()
    world = np.array([mesh_obj.matrix_world @ v.co for v in ev.vertices])
    # The same fit in core, camera frame -> the scene camera's frame.
    result = run_method("fit-smpl-keypoints", {"keypoints": kp[0].float()}, params)
    cam_frame = result.outputs["mesh"].verts_packed().double().numpy()
    expect = (np.array(cam.matrix_world) @ np.c_[cam_frame, np.ones(len(cam_frame))].T).T[:, :3]
    assert np.abs(world - expect).max() < 1e-3


# ----------------------------------------------------------------------------- fitting from the panel
def _camera(location=(0.5, -6.0, 1.2), rotation=(1.45, 0.0, 0.1)):
    cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    bpy.context.scene.collection.objects.link(cam)
    cam.location, cam.rotation_euler = location, rotation
    cam.data.lens, cam.data.sensor_fit, cam.data.shift_x = 35.0, "VERTICAL", 0.1
    r = bpy.context.scene.render
    r.resolution_x, r.resolution_y, r.resolution_percentage = 1920, 1080, 50
    bpy.context.scene.camera = cam
    bpy.context.view_layer.update()
    return cam


def _shot(tmp_path, seed=2, shift=(100.0, 0.0), size=(1200, 1000)):
    """A photo of ``size (W, H)`` and its OpenPose file: a random body's keypoints, seen by a 1000-pixel
    camera whose principal point is the photo's centre -> (keypoints path, photo path, (25, 3) keypoints)."""
    from unrender.io import save_image, save_openpose
    from unrender.methods.fit_smpl_keypoints import example_people, load_model

    _, kp, _, _, _ = example_people(load_model(""), 1, seed=seed)
    kp[..., 0] += shift[0]
    kp[..., 1] += shift[1]
    path = tmp_path / "shot_keypoints.json"
    save_openpose(path, kp, "body25")
    W, H = size
    yy, xx = torch.meshgrid(torch.linspace(0, 1, H), torch.linspace(0, 1, W), indexing="ij")
    photo = tmp_path / "shot.png"
    save_image(photo, torch.stack([xx, yy, 0.5 * torch.ones_like(xx)], -1))
    return path, photo, kp[0]


def _camera_settings(cam):
    r = bpy.context.scene.render
    d = cam.data
    return (d.lens, d.sensor_fit, d.sensor_width, d.sensor_height, d.shift_x, d.shift_y, d.show_background_images,
            len(d.background_images), r.resolution_x, r.resolution_y, r.resolution_percentage,
            sorted(i.name for i in bpy.data.images))


def _pixels_through_camera(cam, points: np.ndarray) -> np.ndarray:
    """World points ``(N, 3)`` -> their pixels ``(N, 2)`` in the scene camera's render (top-left origin)."""
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector

    scene = bpy.context.scene
    W, H = scene.render.resolution_x, scene.render.resolution_y
    ndc = np.array([world_to_camera_view(scene, cam, Vector(p))[:2] for p in points])
    return np.c_[ndc[:, 0] * W, (1.0 - ndc[:, 1]) * H]


def test_fit_to_keypoints_puts_the_body_on_the_photo_through_the_scene_camera(scene, model, tmp_path):
    """After the fit the scene camera has the fit's image size and focal length and the keypoints over the photo
    as its background; the rigged body's keypoints, seen through it, land on the given keypoints."""
    kp_path, photo, kp = _shot(tmp_path)
    cam = _camera()
    params = dict(focal=1000.0, steps=80)  # image size: the photo's
    assert bpy.ops.unrender.fit_smpl_keypoints(keypoints_file=str(kp_path), keypoints_photo=str(photo),
                                               **params) == {"FINISHED"}
    r = bpy.context.scene.render
    assert (r.resolution_x, r.resolution_y, r.resolution_percentage) == (1200, 1000, 100)
    assert cam.data.show_background_images and len(cam.data.background_images) == 1
    overlay = cam.data.background_images[0].image
    assert tuple(overlay.size) == (1200, 1000) and overlay.packed_file is not None
    from unrender_addon import convert

    px = convert.image_pixels(overlay)
    assert np.abs(px[10, 10, :3] - [10 / 1199, 10 / 999, 0.5]).max() < 0.02  # the photo, away from the dots
    x, y = (int(round(v)) for v in kp[4, :2].tolist())
    dots = np.array([[230, 60, 50], [60, 220, 90]]) / 255  # given (red) and fitted (green, drawn over it)
    assert np.abs(px[y, x, :3] - dots).max(1).min() < 0.03, "a dot on the right wrist"
    # The body's keypoints, from Blender's deformed mesh, through Blender's camera.
    arm = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    mesh = next(o for o in bpy.data.objects if o.parent == arm)
    world = _deformed_world(mesh)
    seen = _pixels_through_camera(cam, model.body25_regressor.numpy() @ world)
    from unrender.methods import run_method

    result = run_method("fit-smpl-keypoints", {"keypoints": kp.float()},
                        dict(params, image_width=1200, image_height=1000))
    fitted = np.array(result.outputs["body"].extra["fitted_keypoints"])
    assert np.abs(seen - fitted).max() < 0.05, "Blender's camera sees the body as the fit's camera does"
    err = np.linalg.norm(seen - kp[:, :2].numpy(), axis=1)
    assert result.metrics["reprojection_px"] < 8.0
    assert np.median(err) < 10.0 and err[[4, 7]].max() < 25.0  # on the photo's keypoints, wrists included


def test_fit_to_keypoints_makes_a_camera_when_the_scene_has_none(scene, tmp_path):
    kp_path, _, _ = _shot(tmp_path, shift=(0.0, 0.0))
    assert bpy.ops.unrender.fit_smpl_keypoints(keypoints_file=str(kp_path), focal=1000.0, image_width=1000,
                                               image_height=1000, steps=5) == {"FINISHED"}
    cam = bpy.context.scene.camera
    assert cam is not None and cam.data.show_background_images
    assert tuple(cam.data.background_images[0].image.size) == (1000, 1000)
    arm = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    head, foot = (arm.matrix_world @ arm.data.bones[b].head_local for b in ("head", "left_ankle"))
    assert head.z > foot.z + 1.0  # the new camera looks along +Y with Z up: the body stands


@pytest.mark.parametrize("stage", ["write", "photo"])
def test_a_failed_keypoint_fit_leaves_the_camera_and_render_settings_as_they_were(scene, tmp_path, monkeypatch, stage):
    kp_path, photo, _ = _shot(tmp_path)
    cam = _camera()
    before = state(), _camera_settings(cam), len(bpy.data.armatures)
    if stage == "write":  # everything the camera took is set before the rig fails
        from unrender_addon import body

        def broken(*args, **kwargs):
            raise RuntimeError("rig failed")

        monkeypatch.setattr(body, "build_rigged_body", broken)
        words = "could not write the result: rig failed"
    else:
        photo, words = tmp_path / "missing.png", "keypoints_photo: expected an image file"
    with pytest.raises(RuntimeError, match=words):
        bpy.ops.unrender.fit_smpl_keypoints(keypoints_file=str(kp_path), keypoints_photo=str(photo),
                                            focal=1000.0, steps=3)
    assert (state(), _camera_settings(cam), len(bpy.data.armatures)) == before


def test_esc_during_a_keypoint_fit_leaves_the_camera_and_render_settings_as_they_were(scene, tmp_path):
    import time

    from blender_addon import drive_modal
    from unrender.methods import get_method
    from unrender_addon.operators import MethodRun, Session

    kp_path, photo, _ = _shot(tmp_path)
    cam = _camera()
    before = state(), _camera_settings(cam), len(bpy.data.armatures)
    rna = bpy.ops.unrender.fit_smpl_keypoints.get_rna_type().properties
    options = {p.identifier: p.default for p in rna if p.identifier != "rna_type"}
    options.update(keypoints_file=str(kp_path), keypoints_photo=str(photo), focal=1000.0, steps=100_000)
    session = Session(options, bpy.context, get_method("fit-smpl-keypoints"))
    session.make_job().start()
    run = MethodRun(session)
    t0 = time.perf_counter()
    while session.tick(bpy.context).step < 3:  # the fit is under way
        assert time.perf_counter() - t0 < 60.0, "the fit did not start"
        time.sleep(0.02)
    result, reports = drive_modal(run.modal, [("ESC", {"RUNNING_MODAL"}), ("ESC", {"PASS_THROUGH"})])
    assert result == {"CANCELLED"}
    assert reports == [({"WARNING"}, "Fit body to keypoints cancelled; the scene is unchanged")]
    assert (state(), _camera_settings(cam), len(bpy.data.armatures)) == before


def test_a_photo_of_another_aspect_than_the_image_size_is_an_error(scene, tmp_path):
    kp_path, photo, _ = _shot(tmp_path)
    before = state()
    with pytest.raises(RuntimeError, match="image_width, image_height: expected the photo's aspect"):
        bpy.ops.unrender.fit_smpl_keypoints(keypoints_file=str(kp_path), keypoints_photo=str(photo),
                                            image_width=1000, image_height=1000, steps=3)
    assert state() == before


def test_fit_to_scan_fits_a_z_up_scene_mesh_without_settings(scene, model):
    """A posed body standing Z-up in the scene, turned and moved: the operator's defaults (vertical z in
    Blender) give a rigged body on it."""
    from mathutils import Matrix

    from unrender_addon import convert
    from unrender_addon.body import Y_UP_TO_Z_UP

    params = _random_params(model, 4)
    params["global_orient"] = torch.tensor([[0.0, 0.6, 0.0]], dtype=torch.float64)  # upright, turned
    params["transl"] = torch.zeros(1, 3, dtype=torch.float64)
    params["betas"] = params["betas"] * 0.5
    with torch.no_grad():
        verts = model(**params).vertices[0].numpy() @ Y_UP_TO_Z_UP.T
    scan = convert.new_mesh_object(bpy.context, "Scan", verts, model.faces.numpy())
    scan.matrix_world = Matrix.Translation((1.0, -2.0, 0.5)) @ Matrix.Rotation(0.8, 4, "Z")
    bpy.context.view_layer.update()
    from blender_addon import activate

    activate(scan)
    target = _deformed_world(scan)
    assert bpy.ops.unrender.fit_smpl_scan(steps=60, scan_points=3000) == {"FINISHED"}
    arm = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    fitted = _deformed_world(next(o for o in bpy.data.objects if o.parent == arm))
    from unrender.ops import knn_points

    dist = knn_points(torch.from_numpy(fitted)[None], torch.from_numpy(target)[None]).dists[0, :, 0].sqrt().numpy()
    assert dist.mean() < 0.02, f"mean distance of the fitted body to the scan: {dist.mean() * 1000:.1f} mm"


def test_the_panel_offers_the_body_fits_beside_add_body(scene):
    ops = _panel_operators()
    i = ops.index("unrender.add_body")
    assert ops[i:i + 3] == ["unrender.add_body", "unrender.fit_smpl_keypoints", "unrender.fit_smpl_scan"]
