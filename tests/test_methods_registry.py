"""The method contract: parameters, input checks, the registry, plugins through entry points, the tracker."""

import importlib
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from plugin_fixture import build_plugin_wheel
from unrender.geometry import icosphere
from unrender.methods import (
    Input,
    Method,
    Output,
    Param,
    Tracker,
    check_inputs,
    get_method,
    list_methods,
    method_ids,
    plugin_errors,
    refresh,
    register,
    resolve_params,
    run_method,
)
from unrender.methods import registry
from unrender.structures import Meshes, PointClouds

BUILTIN = {"fit-voxels", "fit-points", "deform-mesh", "estimate-pose"}


# ----------------------------------------------------------------- Param
def test_param_coerces_strings_and_checks_ranges():
    p = Param("level", 4, "icosphere level", minimum=0, maximum=6)
    assert p.coerce("3") == 3 and p.coerce(5) == 5 and p.coerce(2.0) == 2
    for bad in (7, -1, "x", 2.5, True, float("nan")):
        with pytest.raises(ValueError, match=r"^level: expected int in \[0, 6\]"):
            p.coerce(bad)
    f = Param("lr", 0.01, "learning rate", minimum=0.0)
    assert f.coerce("1e-3") == pytest.approx(1e-3) and isinstance(f.coerce(1), float)
    with pytest.raises(ValueError, match="lr: expected a finite float"):
        f.coerce("inf")
    with pytest.raises(ValueError, match="lr"):
        f.coerce(-1)
    b = Param("random_init", False, "start from noise")
    assert b.coerce("yes") is True and b.coerce("off") is False and b.coerce(True) is True
    with pytest.raises(ValueError, match="random_init: expected a bool"):
        b.coerce(1)
    c = Param("optimizer", "adam", "optimizer", choices=("adam", "sgd"))
    assert c.coerce("sgd") == "sgd"
    with pytest.raises(ValueError, match="optimizer: expected str one of adam, sgd, found 'lbfgs'"):
        c.coerce("lbfgs")
    assert c.flag == "--optimizer" and b.flag == "--random-init" and p.range_text() == "in [0, 6]"


def test_param_rejects_invalid_specs():
    with pytest.raises(ValueError, match="default"):
        Param("x", [1], "list default")
    with pytest.raises(ValueError, match="level"):
        Param("level", 9, "default out of its own range", minimum=0, maximum=6)
    with pytest.raises(ValueError, match="choices"):
        Param("mode", "c", "default not a choice", choices=("a", "b"))
    with pytest.raises(ValueError, match="identifier"):
        Param("not-an-identifier", 1, "dashes")
    with pytest.raises(ValueError, match="kinds"):
        Input("target", ("triangles",), "unknown kind")


class _Echo(Method):
    id = "echo-test"
    label = "Echo"
    description = "Returns its target after a few steps of nothing (a test method)."
    inputs = (Input("target", ("mesh", "points"), "anything geometric"), Input("extra", ("image",), "optional", required=False))
    params = (Param("steps", 10, "steps", minimum=1, maximum=1000),)
    outputs = (Output("points", "points", "the target's points"),)

    def run(self, inputs, params, progress):
        t = inputs["target"]
        pts = t.verts_packed() if isinstance(t, Meshes) else t.points_packed()
        tracker = Tracker(progress, params["steps"], snapshots=4)
        for step in range(params["steps"]):
            if not tracker.update(step, 1.0 / (step + 1), lambda: PointClouds([pts.cpu()])):
                break
        return tracker.result({"points": PointClouds([pts.cpu()])}, {"n": float(pts.shape[0])}, kind=type(t).__name__)


@pytest.fixture
def echo_method():
    register(_Echo)
    yield get_method("echo-test")
    registry._builtin.pop("echo-test", None)


# ----------------------------------------------------------------- registry
def test_builtin_methods_are_registered_with_complete_specs():
    ids = set(method_ids())
    assert BUILTIN <= ids
    for m in list_methods():
        assert m.label and m.description and m.outputs
        assert {"seed", "device"} <= {p.name for p in m.all_params()}
        for p in m.all_params():
            assert p.help, f"{m.id}.{p.name} has no help text"
            p.coerce(p.default)
    assert get_method("deform-mesh").id == "deform-mesh"
    with pytest.raises(ValueError, match=r"method: expected one of .*deform-mesh.*, found 'no-such'"):
        get_method("no-such")


def test_register_rejects_bad_methods(echo_method):
    class Reserved(_Echo):
        id = "demo"

    class Upper(_Echo):
        id = "Bad_Id"

    class Clash(_Echo):
        params = (Param("target", 1, "same name as the input"),)

    with pytest.raises(ValueError, match="reserved"):
        register(Reserved)
    with pytest.raises(ValueError, match="lower-case id"):
        register(Upper)

    class Clash2(Clash):
        id = "clash-test"

    with pytest.raises(ValueError, match=r"unique.*target"):
        register(Clash2)

    class Other(_Echo):  # a different class claiming a taken id
        pass

    with pytest.raises(ValueError, match="already registered"):
        register(Other)


def test_resolve_params_fills_defaults_and_names_unknown(echo_method):
    p = resolve_params("echo-test", {"steps": "7"})
    assert p == {"steps": 7, "seed": 0, "device": "cpu", "threads": 0}
    with pytest.raises(ValueError, match=r"^stepz: unknown parameter of echo-test; expected one of \['device', 'seed', 'steps', 'threads'\]"):
        resolve_params("echo-test", {"stepz": 3})
    with pytest.raises(ValueError, match="steps: expected int"):
        resolve_params("echo-test", {"steps": 0})
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device: .*no CUDA"):
            resolve_params("echo-test", {"device": "cuda"})


def test_check_inputs_names_the_problem(echo_method):
    mesh = icosphere(1)
    assert isinstance(check_inputs("echo-test", {"target": mesh})["target"], Meshes)
    # a (P, 3) tensor and a face-less mesh are point clouds
    assert isinstance(check_inputs("echo-test", {"target": torch.rand(5, 3)})["target"], PointClouds)
    assert isinstance(check_inputs("echo-test", {"target": Meshes([torch.rand(4, 3)], [torch.zeros(0, 3, dtype=torch.long)])})["target"], PointClouds)
    cases = [
        ({}, r"^target: missing input of echo-test"),
        ({"target": torch.full((3, 3), float("inf"))}, r"^target points: expected finite values"),
        ({"target": PointClouds([torch.zeros(0, 3)])}, r"^target: expected a point cloud with points, found none"),
        ({"target": Meshes([torch.zeros(0, 3)], [torch.zeros(0, 3, dtype=torch.long)])}, r"^target: expected a mesh or points with vertices"),
        ({"target": "mesh.obj"}, r"^target: expected a mesh or points, found str"),
        ({"target": mesh, "extra": torch.rand(4, 4, 2)}, r"^extra: expected an \(H, W, 1\|3\|4\) image"),
        ({"target": mesh, "extra": torch.full((4, 4, 3), 2.0)}, r"^extra: expected values in \[0, 1\]"),
        ({"target": mesh, "bogus": mesh}, r"^bogus: unknown input of echo-test"),
        ({"target": Meshes([mesh.verts_packed()] * 2, [mesh.faces_packed()] * 2)}, r"^target: expected one mesh, found a batch of 2"),
    ]
    for inputs, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            check_inputs("echo-test", inputs)


def test_run_method_cancels_and_keeps_history(echo_method):
    calls = []

    def progress(step, total, loss, preview=None):
        calls.append((step, total, loss, preview))
        return step < 4

    res = run_method("echo-test", {"target": icosphere(0)}, {"steps": 50}, progress)
    assert res.cancelled and res.steps == 4 and len(calls) == 4
    assert [c[0] for c in calls] == [1, 2, 3, 4] and all(c[1] == 50 for c in calls)
    assert isinstance(calls[0][3], PointClouds)
    assert res.snapshots[-1][0] == 3  # the picture ends where the job stopped
    assert res.params == {"steps": 50, "seed": 0, "device": "cpu", "threads": 0} and res.seconds > 0
    full = run_method("echo-test", {"target": icosphere(0)})
    assert not full.cancelled and full.steps == 10 and [s for s, _ in full.snapshots] == [0, 3, 6, 9]
    assert full.extra == {"kind": "Meshes"} and full.metrics == {"n": 12.0}


def test_tracker_previews_only_when_asked():
    built = []

    def make():
        built.append(1)
        return "geom"

    t = Tracker(lambda *a: True, 100, snapshots=3, preview_every=50)
    for s in range(100):
        assert t.update(s, 1.0, make)
    # snapshots at steps 0, 50, 99; cadence 0, 50; last 99: three previews built, no more
    assert len(built) == 3 and [s for s, _ in t.snapshots] == [0, 50, 99]
    assert t.history == [1.0] * 100 and not t.cancelled


# ----------------------------------------------------------------- plugins
def _pip_install(wheel: Path, target: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", "--disable-pip-version-check",
         "--target", str(target), str(wheel)],
        check=True, capture_output=True, timeout=120,
    )


@pytest.fixture
def installed_plugin(tmp_path):
    site = tmp_path / "site"
    _pip_install(build_plugin_wheel(tmp_path), site)
    assert (site / "unrender_sphere_plugin.py").exists()
    sys.path.insert(0, str(site))
    refresh()
    yield site
    sys.path.remove(str(site))
    sys.modules.pop("unrender_sphere_plugin", None)
    refresh()


def test_plugin_installed_by_pip_is_listed_and_runnable(installed_plugin):
    assert "fit-sphere" in method_ids()
    assert method_ids().index("fit-sphere") > max(method_ids().index(b) for b in BUILTIN)  # plugins after built-ins
    m = get_method("fit-sphere")
    res = run_method(m, m.example_inputs(0), {"steps": 400, "lr": 0.05})
    assert abs(res.metrics["radius"] - 2.0) < 1e-2
    assert torch.allclose(res.outputs["sphere"].verts_packed().mean(0), torch.tensor([1.0, 0.0, 0.0]), atol=2e-2)
    assert res.history[-1] < res.history[0] * 1e-3


def test_plugin_shows_in_cli_and_runs_there(installed_plugin, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(installed_plugin), os.environ.get("PYTHONPATH", "")])}
    cli = [sys.executable, "-m", "unrender.cli"]
    out = subprocess.run(cli + ["list"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "fit-sphere" in out.stdout and "deform-mesh" in out.stdout
    helptext = subprocess.run(cli + ["fit-sphere", "--help"], env=env, capture_output=True, text=True, timeout=120).stdout
    assert "--steps" in helptext and "default: 200" in helptext and "--lr" in helptext
    run = subprocess.run(cli + ["fit-sphere", "--example", "--output", str(tmp_path / "fit"), "--steps", "300", "--quiet"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "fit" / "sphere.obj").exists() and (tmp_path / "fit" / "summary.json").exists()


def test_broken_plugin_is_skipped_with_a_message(tmp_path):
    site = tmp_path / "site"
    _pip_install(build_plugin_wheel(tmp_path, broken=True), site)
    sys.path.insert(0, str(site))
    refresh()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ids = method_ids()
        assert "fit-sphere" not in ids and BUILTIN <= set(ids)
        errs = plugin_errors()
        assert len(errs) == 1 and "fit-sphere" in errs[0] and "NoSuchMethod" in errs[0]
        assert any("skipped plugin 'fit-sphere'" in str(w.message) for w in caught)
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("unrender_sphere_plugin", None)
        importlib.invalidate_caches()
        refresh()
    assert plugin_errors() == []


def test_core_never_imports_bpy():
    code = "import sys, unrender, unrender.methods as m; m.list_methods(); import unrender.cli; print('bpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
