"""The headless Blender examples in ``scripts/``: each opens a .blend, runs an operator and saves a copy.

Every step runs in its own process (as a user runs the scripts), with the
bpy module: make the .blend, run the script, read the result back.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("bpy", reason="the headless examples need the bpy module (Blender as a Python module)")

pytestmark = [pytest.mark.blender, pytest.mark.addon]

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


def _python(code: str, *args) -> dict:
    """Run ``code`` with bpy in a fresh process (tests/ importable) -> the JSON it printed last."""
    prelude = f"import sys, json; sys.path.insert(0, {str(TESTS)!r})\n"
    out = subprocess.run([sys.executable, "-c", prelude + code, *map(str, args)], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _script(name: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / name), *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)


MAKE_TARGET = """
import bpy, blender_addon
blender_addon.reset_scene()
blender_addon.ellipsoid("Target")
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1])
print(json.dumps({}))
"""

CHECK_FIT = """
import bpy, blender_addon
blender_addon.enable_addon()
from unrender_addon import convert
from unrender.metrics import mesh_f1
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
fit, target = bpy.data.objects["Deform mesh Target"], bpy.data.objects["Target"]
mesh = lambda o: convert.to_meshes(*convert.mesh_arrays(o))
f1 = float(mesh_f1(mesh(fit), mesh(target), thresholds=(0.05,), num_samples=20000)["f1@0.05"][0])
print(json.dumps({"verts": len(fit.data.vertices), "f1": f1}))
"""


def test_deform_mesh_script_fits_and_saves_a_copy(tmp_path):
    scene, out = tmp_path / "scene.blend", tmp_path / "out" / "fitted.blend"
    _python(MAKE_TARGET, scene)
    stamp = scene.stat().st_mtime_ns
    run = _script("blender_deform_mesh.py", scene, "--target", "Target", "--output", out, "--level", "3",
                  "--steps", "80", "--param", "points=1500")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Deform mesh Target: " in run.stdout and "100%" in run.stderr  # the tqdm bar ran to the end
    assert scene.stat().st_mtime_ns == stamp  # the opened file is left as it was
    found = _python(CHECK_FIT, out)
    assert 300 < found["verts"] < 3000 and found["f1"] > 0.95, found  # remeshed near a level-3 edge length


def test_scripts_report_bad_input_in_one_line(tmp_path):
    scene = tmp_path / "scene.blend"
    _python(MAKE_TARGET, scene)
    cases = [
        (("blender_deform_mesh.py", tmp_path / "missing.blend", "--target", "Target"), "blend: no such file"),
        (("blender_deform_mesh.py", scene, "--target", "Nope"), "target: expected an object of the file, found 'Nope'"),
        (("blender_deform_mesh.py", scene, "--target", "Target", "--param", "lr=-1"), "lr: expected float"),
        (("blender_estimate_pose.py", scene, "--object", "Target", "--image", tmp_path / "no.png"), "image: no such file"),
        (("blender_estimate_pose.py", scene, "--object", "Target", "--image", scene), "scene camera"),
    ]
    for (name, *args), message in cases:
        run = _script(name, *args, "--output", tmp_path / "never.blend")
        assert run.returncode == 2 and message in run.stderr, (name, args, run.stderr[-2000:])
        assert not (tmp_path / "never.blend").exists()


MAKE_POSE = """
import bpy, blender_addon
import numpy as np
blender_addon.enable_addon()
blender_addon.reset_scene()
obj, cam, ref, truth = blender_addon.pose_scene()
ref.save(filepath=sys.argv[2])
blender_addon.turn(cam, 10.0)
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1])
print(json.dumps({"truth": np.array(truth).tolist()}))
"""

CHECK_POSE = """
import bpy
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
print(json.dumps({"camera": [list(r) for r in bpy.context.scene.camera.matrix_world]}))
"""


def test_estimate_pose_script_moves_the_camera_to_the_reference_pose(tmp_path):
    import blender_addon

    scene, ref, out = tmp_path / "scene.blend", tmp_path / "ref.png", tmp_path / "posed.blend"
    truth = _python(MAKE_POSE, scene, ref)["truth"]
    run = _script("blender_estimate_pose.py", scene, "--object", "Blob", "--image", ref, "--output", out)
    assert run.returncode == 0, run.stderr[-3000:]
    camera = _python(CHECK_POSE, out)["camera"]
    assert blender_addon.rotation_deg(camera, truth) < 2.0


MAKE_DIFFUSE = """
import bpy, blender_addon, test_addon_compare
blender_addon.reset_scene()
test_addon_compare._diffuse_scene(bpy.context.scene)
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1])
print(json.dumps({}))
"""


def test_compare_renders_script_writes_pictures_and_metrics(tmp_path):
    from PIL import Image

    scene, out = tmp_path / "diffuse.blend", tmp_path / "compare"
    _python(MAKE_DIFFUSE, scene)
    run = _script("blender_compare_renders.py", scene, "--engine", "CYCLES", "--samples", "16", "--output", out)
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["engine"] == "CYCLES" and summary["iou"] >= 0.99 and summary["psnr"] > 30, summary
    sizes = {name: Image.open(out / f"{name}.png").size for name in ("blender", "unrender", "difference")}
    assert set(sizes.values()) == {tuple(summary["size"][::-1])}, sizes  # (W, H) of the scene's render
    side = Image.open(out / "side_by_side.png")
    assert side.size[1] == summary["size"][0] and side.size[0] > 3 * summary["size"][1]
