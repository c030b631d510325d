"""The registry-generated command line: list, --help, runs on generated examples and files, bad input."""

import json

import numpy as np
import pytest
import torch

from unrender.cli import main
from unrender.geometry import sample_points_from_meshes
from unrender.geometry.shapes import bumpy_ellipsoid
from unrender.io import load_image, load_obj, load_ply, save_image, save_obj, save_ply
from unrender.methods import get_method, list_methods

# small step counts: these check the plumbing, the quality bars live in test_method_*.py
NO_STEPS = {"reconstruct-image"}  # a learned model predicts in one pass: no optimiser steps, no loss curve

QUICK = {
    "fit-voxels": ["--steps", "30", "--resolution", "16"],
    "fit-points": ["--steps", "30", "--points", "500"],
    "deform-mesh": ["--steps", "30", "--level", "2"],
    "estimate-pose": ["--steps", "10", "--restarts", "2"],
    "reconstruct-views": ["--strategy", "volume", "--steps", "10", "--resolution", "16"],
    "fit-volume": ["--steps", "20", "--resolution", "16", "--rays", "512", "--samples", "32"],
    "reconstruct-image": [],  # the shipped mesh model on its example picture
}


def _run(capsys, argv):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_shows_every_method(capsys):
    code, out, err = _run(capsys, ["list"])
    assert code == 0 and err == ""
    for m in list_methods():
        assert m.id in out and m.label in out
        for i in m.inputs:
            assert i.name in out


@pytest.mark.parametrize("method_id", sorted(QUICK))
def test_help_lists_every_parameter_with_its_default(capsys, method_id):
    code, out, _ = _run(capsys, [method_id, "--help"])
    assert code == 0
    text = " ".join(out.split())  # argparse wraps lines
    m = get_method(method_id)
    for p in m.all_params():
        assert p.flag in text, f"{p.flag} missing from {method_id} --help"
        default = p.default if p.type is not str else repr(p.default)
        assert f"default: {default}" in text
    for i in m.inputs:
        assert f"--{i.name.replace('_', '-')}" in text
    assert "--example" in text and "--output" in text


@pytest.mark.parametrize("method_id", sorted(QUICK))
def test_each_method_runs_on_a_generated_example(capsys, tmp_path, method_id):
    out_dir = tmp_path / "out"
    code, out, err = _run(capsys, [method_id, "--example", "--output", str(out_dir), "--quiet", *QUICK[method_id]])
    assert code == 0, err
    summary = json.loads((out_dir / "summary.json").read_text())
    m = get_method(method_id)
    assert summary["method"] == method_id and summary["metrics"]
    assert summary["steps"] >= (0 if method_id in NO_STEPS else 1)
    assert summary["params"]["seed"] == 0 and summary["seconds"]["run"] > 0
    for o in m.outputs:
        assert o.name in summary["files"], f"{o.name} not written"
        for f in summary["files"][o.name]:
            assert (out_dir / f).stat().st_size > 0
    if method_id in NO_STEPS:
        assert load_image(out_dir / "reconstruction.png").std() > 0.05
    else:
        loss = load_image(out_dir / "loss.png")
        assert loss.shape[2] == 3 and float(loss.std()) > 0.05
        assert (out_dir / "before_after.png").exists()
    assert "wrote" in out and method_id in out


def test_deform_mesh_from_files_and_the_pictures(capsys, tmp_path):
    target = bumpy_ellipsoid(level=3)
    v = target.verts_packed() * 3 + torch.tensor([1.0, -2.0, 0.5])  # any frame
    save_obj(tmp_path / "target.obj", v, target.faces_packed())
    out_dir = tmp_path / "fit"
    code, _, err = _run(capsys, ["deform-mesh", "-i", str(tmp_path / "target.obj"), "-o", str(out_dir), "--quiet",
                                 "--steps", "60", "--level", "2", "--seed", "3"])
    assert code == 0, err
    fit = load_obj(out_dir / "mesh.obj")
    assert 100 < fit.faces.shape[0] < 1500  # remeshed near a level-2 icosphere's edge length
    # the fit lies in the target's frame, not the unit sphere
    assert torch.allclose(fit.verts.mean(0), v.mean(0), atol=0.3)
    assert 2.0 < float((fit.verts - v.mean(0)).norm(dim=1).max()) < 4.0
    with __import__("PIL.Image").Image.open(out_dir / "progress.gif") as gif:
        assert gif.n_frames >= 5
    ba = load_image(out_dir / "before_after.png")
    assert ba.shape[1] > 2 * ba.shape[0]  # target | start | result
    s = json.loads((out_dir / "summary.json").read_text())
    assert s["inputs"]["target"] == {"kind": "mesh", "verts": 642, "faces": 1280}
    assert s["params"]["seed"] == 3 and s["params"]["level"] == 2


def test_fit_points_and_fit_voxels_from_files(capsys, tmp_path):
    target = bumpy_ellipsoid(level=3)
    pts = sample_points_from_meshes(target, 800, generator=torch.Generator().manual_seed(0))[0]
    save_ply(tmp_path / "cloud.ply", pts)
    code, _, err = _run(capsys, ["fit-points", "--target", str(tmp_path / "cloud.ply"), "-o", str(tmp_path / "p"),
                                 "--quiet", "--steps", "40", "--points", "300"])
    assert code == 0, err
    assert load_ply(tmp_path / "p" / "points.ply").verts.shape == (300, 3)
    grid = np.zeros((12, 12, 12), dtype=np.float32)
    grid[3:9, 4:8, 2:10] = 1
    np.savez(tmp_path / "grid.npz", grid=grid, bounds=np.array([[-1, -1, -1], [1, 1, 1]], dtype=np.float32))
    code, _, err = _run(capsys, ["fit-voxels", "-i", str(tmp_path / "grid.npz"), "-o", str(tmp_path / "v"),
                                 "--quiet", "--steps", "40", "--resolution", "12", "--no-pictures"])
    assert code == 0, err
    with np.load(tmp_path / "v" / "voxels.npz") as z:
        assert z["grid"].shape == (12, 12, 12) and z["bounds"].shape == (2, 3)
    assert not (tmp_path / "v" / "before_after.png").exists()


def test_estimate_pose_from_files(capsys, tmp_path):
    m = get_method("estimate-pose")
    ex = m.example_inputs(0)
    save_obj(tmp_path / "mesh.obj", ex["mesh"].verts_packed(), ex["mesh"].faces_packed())
    save_image(tmp_path / "ref.png", ex["image"])
    code, _, err = _run(capsys, ["estimate-pose", "--input", str(tmp_path / "mesh.obj"), "--image", str(tmp_path / "ref.png"),
                                 "-o", str(tmp_path / "pose"), "--quiet", "--steps", "10", "--restarts", "2"])
    assert code == 0, err
    cam = json.loads((tmp_path / "pose" / "camera.json").read_text())
    assert np.asarray(cam["R"]).shape == (3, 3) and len(cam["T"]) == 3
    R = np.asarray(cam["R"])
    assert np.allclose(R @ R.T, np.eye(3), atol=1e-4)
    assert np.asarray(cam["blender"]["matrix_world"]).shape == (4, 4)


def _write_obj(path, text):
    path.write_text(text)
    return path


BAD = [
    ("missing file", lambda d: ["deform-mesh", "-i", str(d / "nope.obj")], r"target: no such file: .*nope.obj"),
    ("NaN coordinates", lambda d: ["deform-mesh", "-i", str(_write_obj(d / "nan.obj", "v 0 0 0\nv 1 0 nan\nv 0 1 0\nf 1 2 3\n"))],
     r"target: .*finite"),
    ("infinite coordinates", lambda d: ["fit-points", "-i", str(_write_obj(d / "inf.obj", "v 0 0 0\nv 1 0 inf\nv 0 1 0\n"))],
     r"target: .*finite"),
    ("no points", lambda d: ["fit-points", "-i", str(_write_obj(d / "empty.obj", "# nothing\n"))], r"target \(.*empty.obj\): .*(no|empty|without)"),
    ("no faces for a mesh-only input", lambda d: ["estimate-pose", "-i", str(_write_obj(d / "pts.obj", "v 0 0 0\nv 1 0 0\n")),
                                                  "--example"], r"mesh \(.*pts.obj\): expected a mesh with faces"),
    ("level out of range", lambda d: ["deform-mesh", "--example", "--level", "9"], r"level: expected int in \[0, 6\], found 9"),
    ("unknown parameter", lambda d: ["deform-mesh", "--example", "--levels", "3"], r"unrecognized arguments: --levels 3"),
    ("not a number", lambda d: ["fit-points", "--example", "--steps", "many"], r"steps: expected int .*found 'many'"),
    ("wrong file type", lambda d: ["fit-voxels", "-i", str(_write_obj(d / "grid.txt", "0 1\n"))], r"target \(.*grid.txt\): expected a voxels or mesh file"),
    ("corrupt file", lambda d: ["fit-voxels", "-i", str(_write_obj(d / "grid.npz", "not a zip"))], r"target: .*grid.npz"),
    ("missing input", lambda d: ["deform-mesh"], r"target: missing input file"),
    ("bad choice", lambda d: ["deform-mesh", "--example", "--optimizer", "lbfgs"], r"optimizer: expected str one of adam, sgd"),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(capsys, tmp_path, case):
    _, argv, pattern = case
    out_dir = tmp_path / "out"
    code, out, err = _run(capsys, [*argv(tmp_path), "--output", str(out_dir)])
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    import re

    assert re.search(pattern, lines[0]), lines[0]
    assert not out_dir.exists()
