"""fit-voxels: quality bars (IoU against the target grid), frames, seeding, cancelling, errors."""

import pytest
import torch

from unrender.geometry import mesh_to_voxels, sample_points_from_meshes
from unrender.geometry.shapes import target_shape
from unrender.methods import get_method, run_method, save_result
from unrender.metrics import mesh_f1, voxel_iou
from unrender.ops.knn import knn_points
from unrender.structures import Meshes, Voxels


@pytest.fixture(scope="module")
def blob():
    return target_shape("bumpy-ellipsoid", level=4)


@pytest.fixture(scope="module")
def fit_blob(blob):
    return run_method("fit-voxels", {"target": blob}, {"seed": 0})


def _nearest(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance from each point of ``a (P, 3)`` to its nearest in ``b (Q, 3)``."""
    return knn_points(a[None].float(), b[None].float(), K=1).dists[0, :, 0].sqrt()


def test_registered():
    m = get_method("fit-voxels")
    assert m.label == "Fit voxels"
    assert [(o.name, o.kind) for o in m.outputs] == [("voxels", "voxels"), ("mesh", "mesh")]
    assert m.inputs[0].kinds == ("voxels", "mesh")


def test_mesh_target_iou(blob, fit_blob):
    target = mesh_to_voxels(blob, 32)
    fitted = fit_blob.outputs["voxels"]
    assert isinstance(fitted, Voxels)
    prob = fitted.grids_list()[0]
    assert prob.shape == (32, 32, 32)
    assert float(prob.min()) >= 0 and float(prob.max()) <= 1
    assert torch.equal(fitted.bounds(), target.bounds())
    iou = float(voxel_iou(prob, target.grids_list()[0]))
    assert iou >= 0.95
    assert fit_blob.metrics["iou"] == pytest.approx(iou)
    assert fit_blob.metrics["bce"] < fit_blob.history[0]
    assert not fit_blob.cancelled and fit_blob.steps == get_method("fit-voxels").defaults()["steps"]


def test_grid_target_iou():
    target = mesh_to_voxels(target_shape("superquadric", level=4), 32)
    r = run_method("fit-voxels", {"target": target}, {"seed": 1})
    prob = r.outputs["voxels"].grids_list()[0]
    assert float(voxel_iou(prob, target.grids_list()[0])) >= 0.95
    assert torch.equal(r.outputs["voxels"].bounds(), target.bounds())


def test_non_cubic_grid_keeps_its_size():
    target = mesh_to_voxels(target_shape("rounded-cube", level=4), (24, 32, 40))
    r = run_method("fit-voxels", {"target": target}, {"resolution": 16})  # resolution applies to meshes only
    prob = r.outputs["voxels"].grids_list()[0]
    assert prob.shape == (24, 32, 40)
    assert float(voxel_iou(prob, target.grids_list()[0])) >= 0.95


def test_mesh_lies_on_target_surface(blob, fit_blob):
    mesh = fit_blob.outputs["mesh"]
    assert isinstance(mesh, Meshes) and not mesh.isempty()
    verts = mesh.verts_list()[0]
    lo, hi = fit_blob.outputs["voxels"].bounds()[0]
    assert bool(((verts >= lo) & (verts <= hi)).all())
    size = float(fit_blob.outputs["voxels"].voxel_sizes()[0].max())
    surface = sample_points_from_meshes(blob, 50_000, generator=torch.Generator().manual_seed(0))[0]
    d = _nearest(verts, surface)  # fitted surface -> target surface
    assert float(d.max()) <= 0.75 * size and float(d.mean()) <= 0.3 * size
    back = _nearest(surface, verts)  # every part of the target is covered
    assert float(back.max()) <= 1.0 * size


def test_scaled_shifted_target(blob, fit_blob):
    shift = torch.tensor([5.0, -2.0, 1.0])
    big = Meshes([blob.verts_list()[0] * 3 + shift], blob.faces_list())
    r = run_method("fit-voxels", {"target": big}, {"seed": 0})
    assert r.metrics["iou"] >= 0.95
    assert torch.allclose(r.outputs["voxels"].bounds(), fit_blob.outputs["voxels"].bounds() * 3 + shift, atol=1e-4)
    verts = r.outputs["mesh"].verts_list()[0]
    surface = sample_points_from_meshes(big, 50_000, generator=torch.Generator().manual_seed(0))[0]
    size = float(r.outputs["voxels"].voxel_sizes()[0].max())
    assert float(_nearest(verts, surface).max()) <= 0.75 * size


def test_same_seed_same_result(blob, fit_blob):
    again = run_method("fit-voxels", {"target": blob}, {"seed": 0})
    assert again.history == fit_blob.history
    assert torch.equal(again.outputs["voxels"].grids_list()[0], fit_blob.outputs["voxels"].grids_list()[0])
    other = run_method("fit-voxels", {"target": blob}, {"seed": 1, "steps": 3})
    assert other.history != fit_blob.history[:3]


def test_progress_previews_and_cancel(blob):
    seen = []

    def progress(step, total, loss, preview=None):
        seen.append((step, total, preview))
        return step < 5

    r = run_method("fit-voxels", {"target": blob}, {"steps": 200}, progress)
    assert r.cancelled and r.steps == 5 and len(seen) == 5
    assert [s[0] for s in seen] == [1, 2, 3, 4, 5] and all(s[1] == 200 for s in seen)
    previews = [p for _, _, p in seen if p is not None]
    assert previews and all(isinstance(p, Voxels) and p.grids_list()[0].shape == (32, 32, 32) for p in previews)
    assert len(previews) < 5  # a preview every few steps, not every step
    assert r.outputs["voxels"].grids_list()[0].shape == (32, 32, 32)
    assert 0 <= r.metrics["iou"] < 0.95  # stopped early: the current, unfinished fit


@pytest.mark.parametrize("bad", [3, 257, "x"])
def test_resolution_out_of_range(blob, bad):
    with pytest.raises(ValueError, match="resolution"):
        run_method("fit-voxels", {"target": blob}, {"resolution": bad})


def test_empty_grid_rejected():
    with pytest.raises(ValueError, match="target"):
        run_method("fit-voxels", {"target": Voxels([torch.zeros(8, 8, 8)])}, {})


def test_example_inputs():
    m = get_method("fit-voxels")
    ex = m.example_inputs(3)
    assert isinstance(ex["target"], Meshes)
    r = run_method(m, ex, {"resolution": 16, "steps": 30})
    assert r.metrics["iou"] >= 0.9


def test_large_grid_previews_are_averaged_down(blob):
    seen = []
    params = {"resolution": 66, "steps": 2}
    r = run_method("fit-voxels", {"target": blob}, params, lambda s, t, l, p=None: seen.append(p) or True)
    assert r.outputs["voxels"].grids_list()[0].shape == (66, 66, 66)  # the output keeps full size
    assert seen and all(p.grids_list()[0].shape == (33, 33, 33) for p in seen)
    assert torch.equal(seen[-1].bounds(), r.outputs["voxels"].bounds())
    mean = float(r.outputs["voxels"].grids_list()[0].mean())
    assert float(seen[-1].grids_list()[0].mean()) == pytest.approx(mean, rel=1e-4)


def _surface_f1(fit, mesh) -> float:
    """F1@0.05 (unit-sphere scale) of the fitted marching-cubes surface against the mesh surface."""
    return float(mesh_f1(fit.outputs["mesh"], mesh, thresholds=0.05, num_samples=20_000)["f1@0.05"][0])


def _unit(verts: torch.Tensor) -> torch.Tensor:
    c = (verts.max(0).values + verts.min(0).values) / 2
    return (verts - c) / (verts - c).norm(dim=1).max()


def test_open_mesh_warns_and_stays_inside(tmp_path):
    m = target_shape("bumpy-ellipsoid", level=3)
    v, f = m.verts_packed(), m.faces_packed()
    open_mesh = Meshes([v], [f[v[f].mean(1)[:, 2] < 0.85 * float(v[:, 2].max())]])  # the top cap removed
    with pytest.warns(UserWarning, match="not closed"):
        r = run_method("fit-voxels", {"target": open_mesh}, {"seed": 0})
    assert any("not closed" in w for w in r.warnings)
    assert "winding number" in r.extra["iou_target"]
    assert r.metrics["iou"] >= 0.95
    assert _surface_f1(r, open_mesh) >= 0.95  # no solid leaks below the hole
    summary = save_result("fit-voxels", {"target": open_mesh}, r, tmp_path / "out", pictures=False)
    assert any("not closed" in w for w in summary["warnings"])


def test_closed_mesh_and_grid_state_their_iou_target(blob, fit_blob):
    assert fit_blob.warnings == []
    assert "winding number" in fit_blob.extra["iou_target"]
    r = run_method("fit-voxels", {"target": mesh_to_voxels(blob, 16)}, {"steps": 2})
    assert r.extra["iou_target"] == "the input voxel grid" and r.warnings == []


def test_open_suzanne_gives_no_solid_outside_the_head():
    bpy = pytest.importorskip("bpy", reason="Suzanne is built by Blender")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.mesh.primitive_monkey_add()
    data = bpy.context.object.data
    data.calc_loop_triangles()
    verts = torch.tensor([list(p.co) for p in data.vertices], dtype=torch.float32)
    faces = torch.tensor([list(t.vertices) for t in data.loop_triangles], dtype=torch.int64)
    suzanne = Meshes([_unit(verts)], [faces])
    with pytest.warns(UserWarning, match="not closed"):  # open eyes
        r = run_method("fit-voxels", {"target": suzanne}, {"seed": 0})
    assert _surface_f1(r, suzanne) >= 0.95
