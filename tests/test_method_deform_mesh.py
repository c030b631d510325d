"""deform-mesh: quality bars on the generated genus-0 targets, frames, seeds, cancelling, options."""

import pytest
import torch

from unrender.geometry import cube, icosphere, sample_points_from_meshes, subdivide, torus
from unrender.geometry.surface_topology import surface_topology
from unrender.geometry.shapes import TARGET_SHAPES, bumpy_ellipsoid, target_shape
from unrender.methods import get_method, run_method
from unrender.methods.deform_mesh import stage_plan
from unrender.metrics import mesh_f1
from unrender.structures import Meshes, PointClouds


# The default schedule without a source mesh.
REMESH = {"schedule": "auto"}


def _f1(mesh, target, n=100_000):
    f1 = mesh_f1(mesh, target, thresholds=(0.02, 0.05), num_samples=n, seed=123)
    return float(f1["f1@0.02"]), float(f1["f1@0.05"])


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # The timings these sizes were chosen for (CI: 2 shared cores); restored after.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def target():
    return bumpy_ellipsoid(level=4)


# ------------------------------------------------------------------ quality bar
@pytest.mark.parametrize("name", sorted(TARGET_SHAPES))
def test_quality_bar_with_defaults(name):
    # The bar with the method's defaults (remesh schedule from a coarse icosphere),
    # measured here on 100k points per surface rather than read from the metrics.
    tgt = target_shape(name)
    result = run_method("deform-mesh", {"target": tgt}, {"seed": 0, **REMESH})
    mesh = result.outputs["mesh"]
    assert result.extra["init"] == "sphere"
    topo = surface_topology(mesh.verts_packed(), mesh.faces_packed())
    assert topo.is_sphere, topo  # remeshing kept one closed genus-0 surface
    assert 1000 < mesh.faces_packed().shape[0] < 20_000
    f1_02, f1_05 = _f1(mesh, tgt)
    assert f1_05 >= 0.98, f"{name}: F1@0.05 {f1_05:.3f}"
    assert f1_02 >= 0.85, f"{name}: F1@0.02 {f1_02:.3f}"
    # The method's own 200k-point metrics agree with the 100k-point measure.
    assert abs(result.metrics["f1@0.05"] - f1_05) < 0.02
    assert abs(result.metrics["f1@0.02"] - f1_02) < 0.05
    assert set(result.metrics) >= {"chamfer", "f1@0.01", "f1@0.02", "f1@0.05"}
    # Stage marks: the start, then the step where the final edge length is reached.
    assert [s["step"] for s in result.extra["stages"]][0] == 0 and len(result.extra["stages"]) == 2


def test_coarse_to_fine_keeps_a_level4_icosphere_connectivity():
    tgt = target_shape("bumpy-ellipsoid")
    result = run_method("deform-mesh", {"target": tgt}, {"seed": 0, "schedule": "coarse-to-fine"})
    mesh = result.outputs["mesh"]
    assert mesh.faces_packed().shape[0] == 20 * 4**4
    assert [s["level"] for s in result.extra["stages"]] == [2, 3, 4]
    f1_02, f1_05 = _f1(mesh, tgt)
    assert f1_05 >= 0.98 and f1_02 >= 0.85, (f1_02, f1_05)


def test_torus_keeps_its_hole():
    # A sphere cannot become a torus: `auto` starts from the target's own surface (genus 1).
    tgt = torus()
    result = run_method("deform-mesh", {"target": tgt}, {"seed": 0, "steps": 60, **REMESH})
    mesh = result.outputs["mesh"]
    assert result.extra["init"] == "target" and "genus 1" in result.extra["target_topology"]
    assert surface_topology(mesh.verts_packed(), mesh.faces_packed()).genus == (1,)
    assert _f1(mesh, tgt)[0] >= 0.95  # the bar: F1@0.02 >= 0.95
    # From a sphere the hole is spanned: the result stays genus 0 and misses the bar.
    sphere = run_method("deform-mesh", {"target": tgt}, {"seed": 0, "steps": 60, "init": "sphere", **REMESH})
    assert surface_topology(sphere.outputs["mesh"].verts_packed(), sphere.outputs["mesh"].faces_packed()).genus == (0,)
    assert _f1(sphere.outputs["mesh"], tgt)[0] < 0.95


def test_two_separate_parts_stay_apart():
    a, b = icosphere(3), icosphere(3)
    tgt = Meshes([torch.cat([a.verts_packed() - torch.tensor([1.6, 0, 0]), b.verts_packed() * 0.7 + torch.tensor([1.4, 0, 0])])],
                 [torch.cat([a.faces_packed(), b.faces_packed() + a.verts_packed().shape[0]])])
    result = run_method("deform-mesh", {"target": tgt}, {"seed": 0, "steps": 40, **REMESH})
    mesh = result.outputs["mesh"]
    assert surface_topology(mesh.verts_packed(), mesh.faces_packed()).components == 2
    assert _f1(mesh, tgt)[0] >= 0.95


def test_point_cloud_of_a_torus_starts_from_its_enclosing_surface():
    pts = sample_points_from_meshes(torus(), 20_000, generator=torch.Generator().manual_seed(0))[0]
    result = run_method("deform-mesh", {"target": PointClouds([pts])}, {"seed": 0, "steps": 40, **REMESH})
    assert result.extra["init"] == "target"
    mesh = result.outputs["mesh"]
    assert surface_topology(mesh.verts_packed(), mesh.faces_packed()).genus == (1,)


def test_point_cloud_target(target):
    pts = sample_points_from_meshes(target, 20_000, generator=torch.Generator().manual_seed(5))[0]
    params = {"level": 3, "steps": 80, "start_level": 1, "points": 2000, "eval_points": 10_000}
    result = run_method("deform-mesh", {"target": PointClouds([pts])}, params)
    mesh = result.outputs["mesh"]
    assert result.extra["init"] == "sphere"  # its enclosing surface is one genus-0 piece
    assert surface_topology(mesh.verts_packed(), mesh.faces_packed()).is_sphere
    assert 300 < mesh.faces_packed().shape[0] < 3000  # edges about a level-3 icosphere's
    f1_02, f1_05 = _f1(mesh, target, 50_000)
    assert f1_05 >= 0.95, f1_05
    assert result.metrics["f1@0.05"] >= 0.95


def test_point_cloud_tensor_is_a_target(target):
    pts = sample_points_from_meshes(target, 3000)[0]
    params = {"level": 1, "steps": 5, "schedule": "plain", "eval_points": 1000}
    result = run_method("deform-mesh", {"target": pts}, params)
    assert result.steps == 5


def test_source_mesh_keeps_its_connectivity_plain(target):
    # A subdivided cube: not an icosphere, 768 faces.
    src = cube()
    v, f = src.verts_packed(), src.faces_packed()
    for _ in range(3):
        v, f = subdivide(v, f)
    source = Meshes([v * 3.0 + 5.0], [f])  # any placement: it is aligned to the target
    params = {"schedule": "plain", "steps": 60, "points": 2000, "eval_points": 2000}
    result = run_method("deform-mesh", {"target": target, "source": source}, params)
    mesh = result.outputs["mesh"]
    assert torch.equal(mesh.faces_packed(), f)
    assert mesh.verts_packed().shape == v.shape
    before = _f1(Meshes([v / v.norm(dim=1).max()], [f]), target, 20_000)[1]
    after = _f1(mesh, target, 20_000)[1]
    assert after > before + 0.1 and after >= 0.9, (before, after)


def test_source_mesh_coarse_to_fine_subdivides_it(target):
    source = icosphere(1)
    params = {"level": 3, "start_level": 2, "steps": 6, "eval_points": 1000, "schedule": "coarse-to-fine"}
    result = run_method("deform-mesh", {"target": target, "source": source}, params)
    # One subdivision (level - start_level): 4x the faces.
    assert result.outputs["mesh"].faces_packed().shape[0] == 4 * source.faces_packed().shape[0]
    assert [s["faces"] for s in result.extra["stages"]] == [80, 320]


# ---------------------------------------------------------------------- frames
def test_result_lands_in_the_target_frame(target):
    shift = torch.tensor([3.0, -20.0, 7.0])
    moved = Meshes([target.verts_packed() * 10.0 + shift], target.faces_list())
    params = {"level": 3, "steps": 60, "start_level": 1, "points": 2000, "eval_points": 2000}
    result = run_method("deform-mesh", {"target": moved}, params)
    mesh = result.outputs["mesh"]
    bbox = mesh.get_bounding_boxes()[0]
    ref = moved.get_bounding_boxes()[0]
    assert torch.allclose(bbox, ref, atol=0.5), (bbox, ref)  # 5% of the radius
    back = Meshes([(mesh.verts_packed() - shift) / 10.0], mesh.faces_list())
    assert _f1(back, target, 50_000)[1] >= 0.95
    # Previews are in the target's frame too.
    snap = result.snapshots[-1][1]
    assert torch.allclose(snap.verts_packed(), mesh.verts_packed())


def test_same_seed_same_result_other_seed_other_result(target):
    params = {"level": 2, "steps": 15, "seed": 3, "points": 1000, "eval_points": 1000}
    a = run_method("deform-mesh", {"target": target}, params).outputs["mesh"].verts_packed()
    b = run_method("deform-mesh", {"target": target}, params).outputs["mesh"].verts_packed()
    c = run_method("deform-mesh", {"target": target}, {**params, "seed": 4}).outputs["mesh"].verts_packed()
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


# ------------------------------------------------------------------- progress
def test_cancel_stops_early_with_the_current_mesh(target):
    calls = []

    def progress(step, total, loss, preview=None):
        calls.append((step, total, loss, preview))
        return step < 7

    result = run_method("deform-mesh", {"target": target}, {"level": 3, "steps": 50, "eval_points": 1000}, progress)
    assert result.cancelled
    assert result.steps == 7 and len(result.history) < 50
    assert [c[0] for c in calls] == list(range(1, 8)) and all(c[1] == 50 for c in calls)
    mesh = result.outputs["mesh"]
    assert isinstance(mesh, Meshes) and bool(torch.isfinite(mesh.verts_packed()).all())
    assert result.snapshots and result.snapshots[-1][0] == 6  # the picture ends where it stopped
    assert isinstance(calls[0][3], Meshes)  # previews are meshes


def test_full_run_is_not_cancelled(target):
    result = run_method("deform-mesh", {"target": target}, {"level": 1, "steps": 12, "eval_points": 1000})
    assert not result.cancelled and result.steps == 12
    assert 1 < len(result.snapshots) <= 30


# ---------------------------------------------------------------------- params
@pytest.mark.parametrize("level", [-1, 7])
def test_level_out_of_range(target, level):
    with pytest.raises(ValueError, match="level"):
        run_method("deform-mesh", {"target": target}, {"level": level})


def test_unknown_param_and_bad_choice(target):
    with pytest.raises(ValueError, match="iterations"):
        run_method("deform-mesh", {"target": target}, {"iterations": 3})
    with pytest.raises(ValueError, match="schedule"):
        run_method("deform-mesh", {"target": target}, {"schedule": "fine-to-coarse"})


def test_plain_schedule_runs_at_the_final_level(target):
    params = {"schedule": "plain", "level": 3, "steps": 25, "points": 2000, "eval_points": 1000}
    result = run_method("deform-mesh", {"target": target}, params)
    assert result.outputs["mesh"].faces_packed().shape[0] == 20 * 4**3
    assert [s["level"] for s in result.extra["stages"]] == [3]
    assert result.history[-1] < result.history[0]


def test_random_init_runs_and_improves(target):
    params = {"random_init": True, "level": 2, "steps": 40, "schedule": "plain", "lr": 0.05, "points": 1000,
              "eval_points": 1000}
    result = run_method("deform-mesh", {"target": target}, params)
    init = run_method("deform-mesh", {"target": target}, {**params, "steps": 1}).outputs["mesh"].verts_packed()
    sphere = icosphere(2).verts_packed()
    assert not torch.allclose(init, sphere, atol=0.1)  # not the icosphere
    assert result.history[-1] < 0.5 * result.history[0]
    assert bool(torch.isfinite(result.outputs["mesh"].verts_packed()).all())


def test_sgd_with_momentum_runs(target):
    params = {"optimizer": "sgd", "lr": 1.0, "momentum": 0.9, "level": 2, "steps": 30, "schedule": "plain",
              "points": 1000, "eval_points": 1000}
    result = run_method("deform-mesh", {"target": target}, params)
    assert result.history[-1] < result.history[0]


def test_divergence_names_lr(target):
    params = {"optimizer": "sgd", "lr": 100.0, "level": 1, "steps": 200, "schedule": "plain", "points": 500}
    with pytest.raises(ValueError, match="lr"):
        run_method("deform-mesh", {"target": target}, params)


def test_loss_weights_matter(target):
    base = {"level": 2, "steps": 10, "schedule": "plain", "points": 1000, "eval_points": 1000}
    params = {**base, "w_chamfer": 0.0, "w_normal": 0.0, "w_laplacian": 0.0}
    only_edge = run_method("deform-mesh", {"target": target}, params)
    # Edge length alone shrinks the mesh.
    assert only_edge.outputs["mesh"].verts_packed().norm(dim=1).max() < 0.99
    default = run_method("deform-mesh", {"target": target}, base)
    assert only_edge.history[0] != default.history[0]


def test_stage_plan():
    assert stage_plan(100, [4], 0.3) == [(0, 4)]
    assert stage_plan(100, [2, 3, 4], 0.3) == [(0, 2), (15, 3), (30, 4)]
    assert stage_plan(2, [2, 3, 4], 0.3) == [(0, 3), (1, 4)]  # an empty level-2 stage is skipped
    assert stage_plan(1, [2, 3, 4], 0.9) == [(0, 4)]  # the final level always gets a step


def test_registered_with_an_example():
    m = get_method("deform-mesh")
    assert m.label == "Deform mesh" and m.outputs[0].kind == "mesh"
    assert {p.name for p in m.params} >= {
        "level", "steps", "points", "lr", "optimizer", "momentum", "w_chamfer", "w_edge", "w_normal",
        "w_laplacian", "schedule", "start_level", "random_init",
    }
    example = m.example_inputs(0)
    assert isinstance(example["target"], Meshes)
    result = run_method(m, example, {"level": 1, "steps": 3, "eval_points": 1000})
    assert result.steps == 3


def _blender_suzanne_subdivided_twice() -> Meshes:
    bpy = pytest.importorskip("bpy")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.mesh.primitive_monkey_add()
    ob = bpy.context.object
    mod = ob.modifiers.new("subdivision", "SUBSURF")
    mod.levels = 2
    me = ob.evaluated_get(bpy.context.evaluated_depsgraph_get()).to_mesh()
    me.calc_loop_triangles()
    verts = torch.tensor([tuple(v.co) for v in me.vertices])
    faces = torch.tensor([tuple(t.vertices) for t in me.loop_triangles])
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return Meshes([verts], [faces])


def test_blender_suzanne_keeps_its_detail():
    # The bar with default settings: Suzanne subdivided twice (open eyes, three parts),
    # F1@0.01 >= 0.9 and F1@0.02 >= 0.97 in the unit-sphere frame, within 60 s.
    import time

    tgt = _blender_suzanne_subdivided_twice().normalize()[0]
    start = time.perf_counter()
    result = run_method("deform-mesh", {"target": tgt}, {"seed": 0, **REMESH})
    seconds = time.perf_counter() - start
    assert result.extra["init"] == "target" and "3 components" in result.extra["target_topology"]
    f1 = mesh_f1(result.outputs["mesh"], tgt, thresholds=(0.01, 0.02), num_samples=200_000, seed=1)
    assert float(f1["f1@0.01"]) >= 0.9 and float(f1["f1@0.02"]) >= 0.97, f1
    assert seconds < 60 * 2  # the bar is 60 s on a quiet machine; CI shares its cores


def test_remesh_converges_in_few_steps():
    # Adam's moments are rescaled when remeshing changes the vertex count: without that, the
    # refined mesh inherits the coarse mesh's large second moments and 60 steps reached F1@0.05 0.57.
    tgt = target_shape("bumpy-ellipsoid")
    result = run_method("deform-mesh", {"target": tgt}, {"seed": 0, "steps": 40, "points": 3000})
    assert _f1(result.outputs["mesh"], tgt)[1] >= 0.95


def test_auto_schedule_keeps_a_source_mesh_connectivity(target):
    source = icosphere(2)
    result = run_method("deform-mesh", {"target": target, "source": source}, {"steps": 4, "level": 2,
                                                                              "eval_points": 1000})
    assert "init" not in result.extra  # the level schedules, not remesh
    assert result.outputs["mesh"].faces_packed().shape[0] == source.faces_packed().shape[0]
