"""estimate-pose: the quality bar and the method-specific checks.

Quality bar (issue): from initial rotation errors up to 30 degrees, the final
rotation error (geodesic angle between the true and estimated world-to-view
rotations) is <= 2 degrees and the distance error (relative error of the
camera-object distance ``|C|``, the object's centre being the world origin)
is <= 2 % in at least 18 of 20 seeded trials, on a mesh without rotational
symmetry (:func:`unrender.methods.estimate_pose.example_mesh`).
"""

import math

import pytest
import torch

from unrender.cameras import FoVPerspectiveCameras
from unrender.geometry import rotation_error_deg
from unrender.methods import get_method, run_method
from unrender.methods.estimate_pose import make_example

FAST = {"image_size": 64, "restarts": 2, "candidates": 4, "coarse_steps": 30, "steps": 10}


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _errors(truth, cam):
    rot = float(rotation_error_deg(truth["R"], cam.R[0]))
    centre = -(cam.T[0] @ cam.R[0].T)  # camera centre C = -T R^T
    dist = abs(float(centre.norm()) - truth["distance"]) / truth["distance"]
    return rot, dist


def test_quality_bar_20_trials():
    passed, report = 0, []
    for seed in range(20):
        inputs, truth = make_example(seed)
        assert truth["initial_error_deg"] <= 30.0 + 1e-3
        r = run_method("estimate-pose", inputs, {"seed": seed})
        rot, dist = _errors(truth, r.outputs["camera"])
        ok = rot <= 2.0 and dist <= 0.02
        passed += ok
        report.append(f"seed {seed}: {truth['initial_error_deg']:.1f} -> {rot:.2f} deg, {100 * dist:.2f} %")
    assert passed >= 18, "\n".join(report)


def test_example_mesh_is_not_symmetric():
    # the silhouettes from a view and from its mirror / half-turns differ: no symmetry to exploit
    inputs, truth = make_example(0)
    from unrender.methods.estimate_pose import _hard_silhouette

    cam = truth["camera"]
    base = _hard_silhouette(inputs["mesh"], cam, (64, 64))
    for axis in ([0.0, 0.0, math.pi], [0.0, math.pi, 0.0], [math.pi, 0.0, 0.0]):
        from unrender.geometry.rotations import so3_exp_map

        R = cam.R @ so3_exp_map(torch.tensor([axis]))
        other = _hard_silhouette(inputs["mesh"], FoVPerspectiveCameras(R=R, T=cam.T, fov=40.0), (64, 64))
        inter = ((base > 0.5) & (other > 0.5)).sum()
        union = ((base > 0.5) | (other > 0.5)).sum()
        assert float(inter) / float(union) < 0.9


def test_outputs_and_metrics():
    inputs, truth = make_example(3)
    r = run_method("estimate-pose", inputs, {"seed": 0, **FAST})
    cam = r.outputs["camera"]
    assert isinstance(cam, FoVPerspectiveCameras) and len(cam) == 1
    assert cam.R.shape == (1, 3, 3) and cam.T.shape == (1, 3)
    assert torch.allclose(cam.R[0] @ cam.R[0].T, torch.eye(3), atol=1e-4)
    sil = r.outputs["silhouette"]
    assert sil.shape == (64, 64, 1) and float(sil.min()) >= 0 and float(sil.max()) <= 1
    assert 0.0 <= r.metrics["iou"] <= 1.0 and r.metrics["iou"] > 0.85
    assert r.steps == len(r.history) > 0 and not r.cancelled
    pics = get_method("estimate-pose").pictures(inputs, r)
    assert pics["before_after"].dim() == 3 and pics["before_after"].shape[-1] == 3
    assert pics["progress"].dim() == 4 and pics["progress"].shape[0] >= 2


def test_rgb_with_known_background_gives_the_mask_pose():
    inputs, truth = make_example(4)
    m = inputs["image"][..., 0]
    obj, bg = torch.tensor([0.8, 0.3, 0.2]), torch.tensor([0x33, 0x66, 0x99]) / 255.0
    rgb = m[..., None] * obj + (1 - m[..., None]) * bg
    a = run_method("estimate-pose", inputs, {"seed": 1, **FAST})
    b = run_method("estimate-pose", {**inputs, "image": rgb}, {"seed": 1, "background": "#336699", **FAST})
    c = run_method("estimate-pose", {**inputs, "image": rgb}, {"seed": 1, "background": "auto", **FAST})
    for other in (b, c):
        assert float(rotation_error_deg(a.outputs["camera"].R[0], other.outputs["camera"].R[0])) < 0.5
        assert torch.allclose(a.outputs["camera"].T, other.outputs["camera"].T, rtol=5e-3, atol=5e-3)


def test_no_camera_whole_sphere_reaches_high_iou():
    inputs, truth = make_example(3)
    del inputs["camera"]
    r = run_method("estimate-pose", inputs, {"seed": 0, "image_size": 64, "restarts": 8, "candidates": 64,
                                             "coarse_steps": 30, "steps": 15})
    assert r.metrics["iou"] > 0.9
    assert abs(r.outputs["camera"].fov.item() - 40.0) < 1e-4


def test_same_seed_same_pose():
    inputs, _ = make_example(5)
    a = run_method("estimate-pose", inputs, {"seed": 7, **FAST})
    b = run_method("estimate-pose", inputs, {"seed": 7, **FAST})
    assert torch.equal(a.outputs["camera"].R, b.outputs["camera"].R)
    assert torch.equal(a.outputs["camera"].T, b.outputs["camera"].T)
    assert a.history == b.history


def test_cancel_returns_best_so_far():
    inputs, _ = make_example(6)
    calls = []

    def progress(step, total, loss, preview=None):
        calls.append(step)
        return step < 2

    r = run_method("estimate-pose", inputs, {"seed": 0, **FAST}, progress)
    assert r.cancelled is True
    assert len(calls) == 2 and r.steps == 2
    assert isinstance(r.outputs["camera"], FoVPerspectiveCameras)


def test_empty_mask_is_an_error_naming_image():
    inputs, _ = make_example(0)
    with pytest.raises(ValueError, match="image"):
        run_method("estimate-pose", {**inputs, "image": torch.zeros(64, 64, 1)}, FAST)


def test_camera_batch_is_an_error():
    inputs, truth = make_example(0)
    two = FoVPerspectiveCameras(R=truth["R"][None].repeat(2, 1, 1), T=truth["T"][None].repeat(2, 1), fov=40.0)
    with pytest.raises(ValueError, match="camera"):
        run_method("estimate-pose", {**inputs, "camera": two}, FAST)


def test_bad_background_is_an_error():
    inputs, _ = make_example(0)
    with pytest.raises(ValueError, match="background"):
        run_method("estimate-pose", inputs, {"background": "purple", **FAST})


# ----------------------------------------------------------------- every camera class as the initial camera
def _true_and_start(kind: str, truth):
    """A true camera of class ``kind`` seeing the example like ``truth["camera"]``, and a start turned by 6
    degrees and shifted, with the same intrinsics (orthographic: a scale off by 6 %)."""
    from unrender.cameras import FoVOrthographicCameras, OrthographicCameras, PerspectiveCameras
    from unrender.geometry.rotations import so3_exp_map

    R, T = truth["R"][None], truth["T"][None]
    R0 = R @ so3_exp_map(torch.tensor([[0.06, -0.08, 0.03]]))
    T0 = T + torch.tensor([[0.05, -0.04, 0.15]])
    t = math.tan(math.radians(20.0))
    scale = 1.0 / (float(T[0, 2]) * t)  # NDC per world unit that frames the object like the FoV camera
    make = {
        "FoVPerspectiveCameras": lambda R, T, k: FoVPerspectiveCameras(R=R, T=T, fov=40.0, aspect_ratio=1.1),
        "PerspectiveCameras": lambda R, T, k: PerspectiveCameras(R=R, T=T, focal_length=((128 / t, 120 / t),),
                                                                 principal_point=((133.0, 124.0),), in_ndc=False,
                                                                 image_size=(256, 256)),
        "OrthographicCameras": lambda R, T, k: OrthographicCameras(R=R, T=T, focal_length=scale * k,
                                                                   principal_point=((0.05, -0.03),)),
        "FoVOrthographicCameras": lambda R, T, k: FoVOrthographicCameras(
            R=R, T=T, min_x=-1.1 / (scale * k), max_x=0.9 / (scale * k), min_y=-1.0 / (scale * k),
            max_y=1.0 / (scale * k), scale_xyz=((1.0, 1.05, 1.0),), znear=0.1, zfar=50.0),
    }[kind]
    return make(R, T, 1.0), make(R0, T0, 1.06)


@pytest.mark.parametrize("kind", ["FoVPerspectiveCameras", "PerspectiveCameras", "OrthographicCameras",
                                  "FoVOrthographicCameras"])
def test_every_camera_class_is_an_initial_camera(kind):
    from unrender.methods.estimate_pose import _hard_silhouette

    inputs, truth = make_example(3)
    true_cam, start = _true_and_start(kind, truth)
    image = _hard_silhouette(inputs["mesh"], true_cam, (128, 128))[..., None]
    r = run_method("estimate-pose", {**inputs, "image": image, "camera": start},
                   {"seed": 0, "image_size": 64, "restarts": 1, "candidates": 1, "coarse_steps": 10, "steps": 10})
    cam = r.outputs["camera"]
    assert type(cam).__name__ == kind and len(cam) == 1
    assert float(rotation_error_deg(truth["R"], cam.R[0])) < 3.0 and r.metrics["iou"] > 0.97
    got, want = cam.ndc_intrinsics()[0], true_cam.ndc_intrinsics()[0]
    assert torch.allclose(got, want, rtol=0.02, atol=2e-3), (got, want)  # orthographic: the scale is recovered
    if kind == "PerspectiveCameras":
        assert not cam.in_ndc() and torch.equal(cam.get_image_size(), true_cam.get_image_size())
    pts = inputs["mesh"].verts_packed()[None]  # the fitted camera projects the mesh where the true one does
    err = (cam.transform_points(pts)[..., :2] - true_cam.transform_points_ndc(pts)[..., :2]).abs().max() if kind != \
        "PerspectiveCameras" else (cam.transform_points_ndc(pts) - true_cam.transform_points_ndc(pts))[..., :2].abs().max()
    assert float(err) < 0.03


# ------------------------------------------------------------------ degenerate and extreme meshes
DEGENERATE = {
    "collinear vertices": ([[0.0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0]], [[0, 1, 2], [1, 2, 3]]),
    "duplicate vertices": ([[0.5, 0.5, 0.5]] * 3, [[0, 1, 2]]),
    "zero-area faces only": ([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 1], [2, 2, 0]]),
}


@pytest.mark.parametrize("name", sorted(DEGENERATE))
def test_degenerate_mesh_is_a_value_error_naming_mesh_before_the_fit(name):
    from unrender.structures import Meshes

    v, f = DEGENERATE[name]
    inputs, _ = make_example(0)
    calls = []
    with pytest.raises(ValueError, match=r"^mesh: expected a surface \(faces of non-zero area\)"):
        run_method("estimate-pose", {**inputs, "mesh": Meshes([torch.tensor(v)], [torch.tensor(f)])}, FAST,
                   lambda *a, **k: calls.append(a) or True)
    assert calls == []  # before any step


@pytest.mark.parametrize("scale", [1e-6, 1e-20, 1e20])
def test_tiny_and_huge_meshes_are_fitted_like_unit_ones(scale):
    """The mesh is normalised (in float64) before the fit: any float32 scale gives the same silhouette fit."""
    from unrender.structures import Meshes

    inputs, _ = make_example(3)
    params = {"seed": 0, **FAST}
    ref = run_method("estimate-pose", {**inputs, "camera": None}, params)
    mesh = inputs["mesh"]
    r = run_method("estimate-pose", {**inputs, "camera": None,
                                     "mesh": Meshes([mesh.verts_packed() * scale], [mesh.faces_packed()])}, params)
    assert r.metrics["iou"] == pytest.approx(ref.metrics["iou"], abs=0.02)
    cam = r.outputs["camera"]
    distance = float(cam.T.double().norm())
    assert bool(torch.isfinite(cam.T).all()) and distance == pytest.approx(float(ref.outputs["camera"].T.norm()) * scale, rel=0.05)
    pics = get_method("estimate-pose").pictures({**inputs, "mesh": Meshes([mesh.verts_packed() * scale], [mesh.faces_packed()])}, r)
    assert float(pics["before_after"][..., 1].gt(0.9).float().sum()) > 20  # the final outline is drawn


def test_restart_and_candidate_are_reported_apart():
    inputs, _ = make_example(3)
    r = run_method("estimate-pose", inputs, {"seed": 0, **FAST})
    assert isinstance(r.metrics["restart"], int) and 0 <= r.metrics["restart"] < FAST["restarts"]
    assert isinstance(r.metrics["candidate"], int) and 0 <= r.metrics["candidate"] < FAST["candidates"]


def test_impossible_target_is_reported_unsure(tmp_path):
    """A picture no view of the mesh can make (a thin ring) ends below the IoU threshold: a warning,
    ``confident`` false, in the result and in summary.json; a correct fit is confident and silent."""
    import json

    from unrender.methods import save_result
    from unrender.methods.estimate_pose import CONFIDENT_IOU

    inputs, _ = make_example(3)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 128), torch.linspace(-1, 1, 128), indexing="ij")
    rr = (xx**2 + yy**2).sqrt()
    ring = ((rr > 0.55) & (rr < 0.7)).float()[..., None]
    r = run_method("estimate-pose", {**inputs, "image": ring}, {"seed": 0, **FAST})
    assert r.metrics["iou"] < CONFIDENT_IOU
    assert r.extra["confident"] is False and len(r.warnings) == 1 and "unsure" in r.warnings[0]
    summary = save_result("estimate-pose", {**inputs, "image": ring}, r, tmp_path / "out", pictures=False)
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert written["extra"]["confident"] is False and any("unsure" in w for w in written["warnings"])
    good = run_method("estimate-pose", inputs, {"seed": 0, **FAST})
    assert good.metrics["iou"] >= CONFIDENT_IOU and good.extra["confident"] is True and good.warnings == []


def test_sphere_of_views_covers_every_direction_and_roll():
    from unrender.geometry.rotations import random_rotations
    from unrender.methods.estimate_pose import sphere_of_views

    grid = sphere_of_views(64, 8)
    assert grid.shape == (512, 3, 3)
    assert torch.allclose(grid @ grid.transpose(1, 2), torch.eye(3).expand(512, 3, 3), atol=1e-5)
    assert torch.allclose(torch.linalg.det(grid), torch.ones(512), atol=1e-5)
    probes = random_rotations(200, generator=torch.Generator().manual_seed(0))
    err = torch.stack([rotation_error_deg(p.expand(512, 3, 3), grid).min() for p in probes])
    assert float(err.max()) < 30.0  # every pose is within reach of the coarse stage from some candidate


def test_distinct_best_keeps_poses_apart():
    from unrender.geometry.rotations import so3_exp_map
    from unrender.methods.estimate_pose import distinct_best

    R = so3_exp_map(torch.tensor([[0.0, 0, 0], [0.1, 0, 0], [1.0, 0, 0], [1.05, 0, 0], [0, 2.0, 0]]))
    idx = distinct_best(R, torch.tensor([0.9, 0.95, 0.5, 0.6, 0.1]), 3, 20.0)
    assert idx.tolist() == [1, 3, 4]


def test_defaults_without_camera_find_a_three_quarter_view():
    """No camera, the default global search: the pose of the asymmetric example is found; the
    alternatives are distinct poses, best first."""
    from unrender.methods.estimate_pose import _hard_silhouette, example_mesh
    from unrender.cameras import look_at_view_transform

    R, T = look_at_view_transform(3.0, 25.0, 135.0)
    cam = FoVPerspectiveCameras(R=R, T=T, fov=40.0)
    image = _hard_silhouette(example_mesh(), cam, (128, 128))[..., None]
    r = run_method("estimate-pose", {"mesh": example_mesh(), "image": image}, {"seed": 3, "image_size": 64})
    assert float(rotation_error_deg(R[0], r.outputs["camera"].R[0])) < 3.0 and r.extra["confident"]
    alts = r.extra["alternatives"]
    assert len(alts) >= 1 and [a["iou"] for a in alts] == sorted((a["iou"] for a in alts), reverse=True)


def test_blender_render_of_suzanne_small():
    """The quality script's pipeline at small size: Blender renders Suzanne (Workbench, transparent film)
    and the default fit, without a camera, finds the view."""
    pytest.importorskip("bpy")
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "scripts" / "quality_estimate_pose.py"
    spec = importlib.util.spec_from_file_location("quality_estimate_pose", path)
    q = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(q)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        targets = [t for t in q.blender_targets("workbench", 1, 0, tmp, meshes=("suzanne",))]
    (name, seed, mesh, image, R, T, fov, centre), = targets
    assert image.shape == (256, 256, 4)
    r = run_method("estimate-pose", {"mesh": mesh, "image": image}, {"seed": 0, "fov": fov})
    assert float(rotation_error_deg(R, r.outputs["camera"].R[0])) < 3.0


def test_screen_views_finds_the_roll_from_one_render_per_view():
    """One render per view, compared with the picture turned by every roll: the true view, rolled
    by 40 degrees, is screened back to within the roll step of the truth and scores above the other views."""
    from unrender.geometry.rotations import random_rotations, so3_exp_map
    from unrender.methods.estimate_pose import _Fit, _Lens, _hard_silhouette, _normalised_surface, example_mesh
    from unrender.methods.estimate_pose import screen_views

    mesh = example_mesh()
    R_true = random_rotations(1, generator=torch.Generator().manual_seed(5))
    cam = FoVPerspectiveCameras(R=R_true, T=torch.tensor([[0.1, -0.05, 3.0]]), fov=40.0)
    ref = _hard_silhouette(mesh, cam, (64, 64))
    verts, faces, _, radius = _normalised_surface(mesh, "cpu")
    lens = _Lens(None, 40.0, radius, None)
    rolled = R_true @ so3_exp_map(torch.tensor([[0.0, 0.0, math.radians(40.0)]]))
    others = random_rotations(7, generator=torch.Generator().manual_seed(6))
    R, score = screen_views(_Fit(verts, faces, lens), torch.cat([rolled, others]), ref, 36, 3.0 / radius)
    assert R.shape == (8 * 36, 3, 3) and score.shape == (8 * 36,)
    best = int(score.argmax())
    assert best < 36 and float(rotation_error_deg(R_true[0], R[best])) < 5.1  # the rolls are 10 degrees apart


def test_ambiguous_silhouette_is_reported():
    """An ellipsoid looks the same after a half turn about any of its axes: the fit still ends at a
    high IoU, and says that a distant pose fits as well (a warning, extra["ambiguous"], the rival
    among the alternatives)."""
    from unrender.geometry.shapes import radial_mesh

    axes = torch.tensor([1.0, 0.7, 0.45], dtype=torch.float64)
    mesh = radial_mesh(lambda d: (d / axes).pow(2).sum(1).rsqrt(), 3)
    from unrender.cameras import look_at_view_transform
    from unrender.methods.estimate_pose import _hard_silhouette

    R, T = look_at_view_transform(3.0, 30.0, 50.0)
    image = _hard_silhouette(mesh, FoVPerspectiveCameras(R=R, T=T, fov=40.0), (128, 128))[..., None]
    r = run_method("estimate-pose", {"mesh": mesh, "image": image},
                   {"seed": 0, "image_size": 64, "views": 64, "rolls": 12, "coarse_steps": 20, "steps": 10})
    assert r.metrics["iou"] > 0.95 and r.extra["ambiguous"] is True
    assert any("ambiguous" in w for w in r.warnings)
    rivals = [a for a in r.extra["alternatives"] if a["image_size"] == 64
              and float(rotation_error_deg(torch.tensor(a["R"]), r.outputs["camera"].R[0])) > 20.0]
    assert rivals and rivals[0]["iou"] > r.metrics["iou"] - 0.01
