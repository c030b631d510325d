"""The add-on's registry machinery: operators, settings and panels built from the method registry, plugins,
enable / disable / re-enable, and the live (threaded) run that the modal operator drives.

The modal operator itself needs a window, which headless Blender has not; its
work is :class:`Session` ``tick`` / ``cancel`` / ``finish``, driven here from a
loop exactly as ``modal()`` drives it from its timer.
"""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="the add-on tests need the bpy module (Blender as a Python module)")

import blender_addon  # noqa: E402
from blender_addon import activate, ellipsoid, open_icosphere, pose_scene, rotation_deg, state, turn  # noqa: E402
from plugin_fixture import build_plugin_wheel  # noqa: E402

pytestmark = [pytest.mark.blender, pytest.mark.addon]


def _ours() -> list[str]:
    """Every class name the add-on can register (operators, panels, groups, preferences)."""
    return sorted(n for n in dir(bpy.types) if n.startswith("UNRENDER_"))


def _scene_props() -> list[str]:
    return sorted(p.identifier for p in bpy.types.Scene.bl_rna.properties if p.identifier.startswith("unrender_"))


def _defaults(method_id: str) -> dict:
    """The operator's property defaults ``{identifier: value}``, as a panel button would pass them."""
    from unrender_addon.operators import op_ident

    rna = getattr(bpy.ops.unrender, op_ident(method_id)).get_rna_type()
    out = {}
    for p in rna.properties:
        if p.identifier == "rna_type":
            continue
        out[p.identifier] = p.default if p.type != "ENUM" or not p.is_enum_flag else set(p.default_flag)
    return out


# ----------------------------------------------------------------------------- built from the registry
def test_every_method_has_an_operator_settings_and_panel_with_its_parameters(addon):
    from unrender.methods import list_methods
    from unrender_addon import operators, properties, registration

    ops = registration.method_operators()
    for method in list_methods():
        ident = operators.op_ident(method.id)
        assert method.id in ops, f"{method.id} has no operator ({registration.unavailable.get(method.id)})"
        cls = ops[method.id]
        assert cls.bl_idname == f"unrender.{ident}" and "UNDO" in cls.bl_options  # one undo step per run
        assert hasattr(bpy.types, f"UNRENDER_PT_{ident}")
        rna = getattr(bpy.ops.unrender, ident).get_rna_type().properties
        settings = getattr(bpy.context.scene, f"unrender_{ident}")
        for p in method.all_params():
            if p.name in properties.SKIPPED_PARAMS:
                continue
            prop = rna[properties.prop_name(p.name)]
            assert prop.description.startswith(p.help)
            if p.choices is not None:
                # the default is the method's, or the add-on's scene-aware one (vertical: z, Blender's world)
                assert [i.identifier for i in prop.enum_items] == list(p.choices)
                assert prop.default == properties.scene_default(p)
            elif p.type is float:
                assert prop.default == pytest.approx(p.default, rel=1e-6)
            else:
                assert prop.default == p.default
            if p.type in (int, float) and p.minimum is not None:
                assert prop.hard_min == pytest.approx(p.minimum, rel=1e-6)
            if p.type in (int, float) and p.maximum is not None:
                assert prop.hard_max == pytest.approx(min(p.maximum, 2**31 - 1), rel=1e-6)
            assert getattr(settings, properties.prop_name(p.name)) == prop.default  # the panel starts at the defaults
    assert registration.unavailable == {}


def test_disable_enable_and_reenable_leave_nothing_behind(addon):
    from unrender_addon import operators, registration

    registered, props = _ours(), _scene_props()
    assert "UNRENDER_OT_deform_mesh" in registered and "UNRENDER_PT_main" in registered
    assert {f"unrender_{operators.op_ident(i)}" for i in registration.method_operators()} <= set(props)
    path_before = list(sys.path)
    for _ in range(2):
        blender_addon.disable_addon()
        assert _ours() == [] and _scene_props() == []
        assert blender_addon.ADDON_MODULE not in bpy.context.preferences.addons
        assert [p for p in sys.path if p not in path_before] == []
        blender_addon.enable_addon()
        assert _ours() == registered
        assert _scene_props() == props
    blender_addon.reset_scene()
    ellipsoid()
    assert bpy.ops.unrender.fit_points(points=200, steps=5) == {"FINISHED"}  # the re-enabled operators work


# ----------------------------------------------------------------------------- plugins
@pytest.fixture
def plugin(addon, tmp_path):
    """The ``fit-sphere`` plugin pip-installed into a folder on ``sys.path``; operators rebuilt after."""
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
                    "--disable-pip-version-check", "--target", str(site), str(build_plugin_wheel(tmp_path))],
                   check=True, capture_output=True, timeout=120)
    sys.path.insert(0, str(site))
    yield site
    sys.path.remove(str(site))
    sys.modules.pop("unrender_sphere_plugin", None)
    bpy.ops.unrender.refresh_methods()


def test_a_plugin_method_gets_an_operator_and_a_panel_and_runs(scene, plugin):
    assert not hasattr(bpy.types, "UNRENDER_OT_fit_sphere")
    assert bpy.ops.unrender.refresh_methods() == {"FINISHED"}  # the panel's reload button
    assert hasattr(bpy.types, "UNRENDER_OT_fit_sphere") and hasattr(bpy.types, "UNRENDER_PT_fit_sphere")
    rna = bpy.ops.unrender.fit_sphere.get_rna_type().properties
    assert rna["steps"].default == 200 and rna["steps"].hard_min == 1 and rna["lr"].default == pytest.approx(0.05)
    assert bpy.context.scene.unrender_fit_sphere.steps == 200
    bpy.ops.mesh.primitive_uv_sphere_add(radius=1.5, location=(1.0, -2.0, 0.5), segments=32, ring_count=16)
    before = {o.name for o in bpy.data.objects}
    assert bpy.ops.unrender.fit_sphere(steps=400) == {"FINISHED"}
    (new,) = [o for o in bpy.data.objects if o.name not in before]
    co = np.array([v.co[:] for v in new.data.vertices])
    assert np.allclose(co.mean(0), (1.0, -2.0, 0.5), atol=0.03)
    assert np.linalg.norm(co - co.mean(0), axis=1).mean() == pytest.approx(1.5, rel=0.02)
    # uninstalled: gone from the panel after a reload
    sys.path.remove(str(plugin))
    sys.modules.pop("unrender_sphere_plugin", None)
    bpy.ops.unrender.refresh_methods()
    assert not hasattr(bpy.types, "UNRENDER_OT_fit_sphere") and "unrender_fit_sphere" not in _scene_props()
    sys.path.insert(0, str(plugin))  # the fixture removes it


# ----------------------------------------------------------------------------- the live run
def _session(method_id: str, **options):
    from unrender_addon.operators import Session

    from unrender.methods import get_method

    opts = _defaults(method_id)
    opts.update(options)
    return Session(opts, bpy.context, get_method(method_id))


def _drive(session, until, timeout=120.0):
    """Tick the session as the modal timer does until ``until(state)`` or the job ends -> the last state."""
    t0 = time.perf_counter()
    while True:
        state = session.tick(bpy.context)
        if until(state) or state.done:
            return state
        assert time.perf_counter() - t0 < timeout, "the job did not advance"
        time.sleep(0.02)


def test_live_run_updates_the_new_object_while_it_fits_then_writes_the_result(scene):
    target = ellipsoid()
    activate(target)
    before = state()
    session = _session("deform-mesh", level=3, start_level=3, steps=60, points=1000, eval_points=2000)
    assert state() == before  # reading the inputs changed nothing
    session.make_job().start()
    shapes = []

    def seen(st):
        obj = session.objects.get("mesh")
        if obj is not None:
            shapes.append(np.array([v.co[:] for v in obj.data.vertices]))
        return False

    final = _drive(session, seen)
    assert final.done and final.error is None and final.step == 60
    # the viewport saw the fit move (and remesh: the vertex count may change)
    assert len(shapes) >= 2 and not (shapes[0].shape == shapes[-1].shape and np.allclose(shapes[0], shapes[-1]))
    status, level, message = session.finish(final)
    assert status == {"FINISHED"} and level == "INFO" and message.startswith("Deform mesh:")
    obj = session.objects["mesh"]
    want = final.result.outputs["mesh"].verts_packed().double().numpy()
    got = np.array([v.co[:] for v in obj.data.vertices])
    assert np.allclose(got, want, atol=1e-5)  # the object holds the result, not the last preview


def test_cancelling_a_live_fit_removes_what_it_showed(scene):
    target = ellipsoid()
    activate(target)
    before = state()
    session = _session("fit-points", points=500, steps=100_000)
    session.make_job().start()
    st = _drive(session, lambda s: "points" in session.objects and s.step > 3)
    assert not st.done and len(session.objects["points"].data.vertices) == 500  # shown while it runs
    assert state() != before
    session.cancel()
    assert session.job.join(0) and session.job.cancelled
    assert state() == before


def test_cancelling_a_live_pose_estimate_puts_the_camera_back(scene):
    obj, cam, ref, truth = pose_scene()
    turn(cam, 12.0)
    activate(obj)
    start = np.array(cam.matrix_world)
    before = state()
    session = _session("estimate-pose", image_image=ref.name, steps=1000)
    session.make_job().start()
    _drive(session, lambda s: not np.allclose(np.array(cam.matrix_world), start))
    assert rotation_deg(cam.matrix_world, start) > 0.01  # the camera followed the fit
    session.cancel()
    assert np.array_equal(np.array(cam.matrix_world), start) and state() == before


def _modal_run(session):
    from unrender_addon.operators import MethodRun

    session.make_job().start()
    return MethodRun(session)


def test_the_modal_run_writes_the_result_and_reports_it(scene):
    activate(ellipsoid())
    run = _modal_run(_session("fit-points", points=300, steps=20))
    result, reports = blender_addon.drive_modal(run.modal, [("MOUSEMOVE", {"PASS_THROUGH"})])  # Blender stays usable
    assert result == {"FINISHED"} and reports[-1][0] == {"INFO"} and reports[-1][1].startswith("Fit points:")
    assert len(run.session.objects["points"].data.vertices) == 300


def test_the_modal_run_reports_the_methods_warnings_after_its_summary(scene):
    open_icosphere()
    run = _modal_run(_session("fit-voxels", resolution=12, steps=5))
    result, reports = blender_addon.drive_modal(run.modal, [])
    assert result == {"FINISHED"} and [r[0] for r in reports] == [{"INFO"}, {"WARNING"}]
    assert reports[0][1].startswith("Fit voxels:")
    assert reports[1][1].startswith("Fit voxels: target: the mesh is not closed")
    assert len(run.session.objects["mesh"].data.polygons) > 0  # the result is written all the same


def test_esc_stops_the_modal_run_and_leaves_the_scene_as_it_was(scene):
    activate(ellipsoid())
    before = state()
    run = _modal_run(_session("fit-points", points=500, steps=100_000))
    _drive(run.session, lambda s: "points" in run.session.objects)  # it shows something first
    assert state() != before
    result, reports = blender_addon.drive_modal(run.modal, [("ESC", {"RUNNING_MODAL"}), ("ESC", {"PASS_THROUGH"})])
    assert result == {"CANCELLED"} and reports == [({"WARNING"}, "Fit points cancelled; the scene is unchanged")]
    assert run.session.job.cancelled and state() == before


def test_a_modal_run_that_blender_ends_is_undone_at_once(scene):
    activate(ellipsoid())
    before = state()
    run = _modal_run(_session("fit-points", points=500, steps=100_000))
    _drive(run.session, lambda s: "points" in run.session.objects)
    run.abandon(bpy.context)  # the operator's ``cancel``: window closed, file loaded
    assert run.session.job.join(0) and state() == before


def test_the_up_axis_of_a_scan_defaults_to_blenders_z(addon):
    """Scene objects are read in world coordinates, Z up: the add-on's default, not the command line's y."""
    from unrender.methods import get_method
    from unrender_addon import properties

    param = next(p for p in get_method("fit-smpl-scan").all_params() if p.name == "vertical")
    assert param.default == "y" and properties.scene_default(param) == "z"
    assert bpy.ops.unrender.fit_smpl_scan.get_rna_type().properties["vertical"].default == "z"
