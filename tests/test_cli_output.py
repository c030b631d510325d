"""Output folders checked before any work, and results at extreme scales: one line, exit 2, nothing written;
pictures at any scale."""

import json
import os

import pytest
import torch

from unrender.cli import main
from unrender.geometry.shapes import bumpy_ellipsoid
from unrender.io import load_image, save_obj
from unrender.methods import check_output, get_method, run_method, save_result


def _run(capsys, argv):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def _no_fit(monkeypatch):
    """Any fit or input loading fails the test: the output is checked before any work."""
    import unrender.methods as methods

    def boom(*a, **k):
        raise AssertionError("work started before the output was checked")

    monkeypatch.setattr(methods, "run_method", boom)
    monkeypatch.setattr(methods, "load_input", boom)


def _file(tmp_path):
    f = tmp_path / "taken"
    f.write_text("keep me")
    return f


# tests run as root here, where every folder is writable: "not writable" is a monkeypatched os.access
OUTPUTS = [
    ("an existing file", lambda d: _file(d), r"output: expected a folder to write into, found a file: .*taken"),
    ("a path under a file", lambda d: _file(d) / "sub" / "out", r"output: cannot create the folder .*taken/sub/out: .*taken is a file"),
    ("a folder that is not writable", lambda d: d / "ro" / "out", r"output: cannot write into the folder .*ro: permission denied"),
]


@pytest.mark.parametrize("case", OUTPUTS, ids=[c[0] for c in OUTPUTS])
@pytest.mark.parametrize("command", [["fit-points", "--example", "--steps", "2"], ["demo"]], ids=["method", "demo"])
def test_bad_output_is_one_line_exit_2_before_any_work(capsys, tmp_path, monkeypatch, case, command):
    _, path, pattern = case
    out = path(tmp_path)
    (tmp_path / "ro").mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if str(p).endswith("ro") else real_access(p, mode, **k))
    _no_fit(monkeypatch)
    import unrender.demo

    monkeypatch.setattr(unrender.demo, "run_demo", lambda *a, **k: pytest.fail("demo started"))
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, stdout, err = _run(capsys, [*command, "--output", str(out), "--quiet"])
    assert code == 2 and stdout == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    import re

    assert re.search(pattern, lines[0]), lines[0]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written
    assert (tmp_path / "taken").read_text() == "keep me" if (tmp_path / "taken").exists() else True


def test_check_output_from_python(tmp_path):
    assert check_output(tmp_path / "new" / "folder") == tmp_path / "new" / "folder"
    assert not (tmp_path / "new").exists()  # creates nothing
    assert check_output(tmp_path) == tmp_path  # an existing folder is fine
    f = _file(tmp_path)
    with pytest.raises(ValueError, match="found a file"):
        check_output(f)
    m = get_method("fit-points")
    r = run_method(m, m.example_inputs(0), {"points": 50, "steps": 2})
    with pytest.raises(ValueError, match=r"output: cannot create the folder .*taken is a file"):
        save_result(m, {}, r, f / "out")


def test_save_result_leaves_no_staging_files(tmp_path):
    m = get_method("fit-points")
    r = run_method(m, m.example_inputs(0), {"points": 50, "steps": 3})
    s = save_result(m, m.example_inputs(0), r, tmp_path / "out")
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted({f for fs in s["files"].values() for f in fs} | {"summary.json"})


# ------------------------------------------------------------------ extreme scales
@pytest.mark.parametrize("scale", [1e-6, 1e-20, 1e20])
@pytest.mark.parametrize("method_id, argv", [
    ("fit-points", ["--steps", "3", "--points", "100"]),
    ("deform-mesh", ["--steps", "3", "--level", "1", "--eval-points", "200", "--points", "200"]),
])
def test_methods_and_pictures_work_at_any_scale(capsys, tmp_path, scale, method_id, argv):
    t = bumpy_ellipsoid(level=2)
    save_obj(tmp_path / "t.obj", t.verts_packed() * scale, t.faces_packed())
    code, _, err = _run(capsys, [method_id, "-i", str(tmp_path / "t.obj"), "-o", str(tmp_path / "out"), "--quiet", *argv])
    assert code == 0 and "warning" not in err, err
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["warnings"] == []
    ba = load_image(tmp_path / "out" / "before_after.png")
    # the target is drawn: a third of the picture is not white
    target = ba[:, : ba.shape[1] // 3]
    assert float((target < 0.9).any(-1).float().mean()) > 0.1


def test_a_picture_that_cannot_be_drawn_is_skipped_with_a_warning_before_writing(tmp_path):
    m = get_method("fit-points")
    r = run_method(m, m.example_inputs(0), {"points": 50, "steps": 2})

    class Broken(type(m)):
        def pictures(self, inputs, result):
            raise ValueError("zfar: expected zfar > znear")

    with pytest.warns(UserWarning, match="pictures skipped: zfar"):
        s = save_result(Broken(), {}, r, tmp_path / "out")
    assert s["warnings"] == ["pictures skipped: zfar: expected zfar > znear"]
    assert "points" in s["files"] and not (tmp_path / "out" / "before_after.png").exists()


# cheapest runs of every built-in method on its generated example
TINY = {
    "fit-voxels": ["--steps", "2", "--resolution", "8"],
    "fit-points": ["--steps", "2", "--points", "100"],
    "deform-mesh": ["--steps", "2", "--level", "1", "--points", "200"],
    "estimate-pose": ["--steps", "2", "--coarse-steps", "1", "--restarts", "1", "--candidates", "1", "--image-size", "32"],
}


def _wrote(stdout: str, out) -> list[str]:
    """The files of the CLI's ``wrote <output>/: a, b, ...`` line."""
    lines = [ln for ln in stdout.splitlines() if ln.startswith(f"wrote {out}/: ")]
    assert len(lines) == 1, stdout
    return lines[0].split(": ", 1)[1].split(", ")


@pytest.mark.parametrize("method_id", sorted(TINY))
def test_printed_files_are_the_folder(capsys, tmp_path, method_id):
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, [method_id, "--example", "--output", str(out), "--quiet", *TINY[method_id]])
    assert code == 0, err
    printed = _wrote(stdout, out)
    assert len(printed) == len(set(printed))
    assert sorted(printed) == sorted(p.name for p in out.iterdir())
    if method_id == "estimate-pose":
        assert "silhouette.png" in printed


def test_earlier_run_files_are_removed_and_said_others_kept(capsys, tmp_path):
    out = tmp_path / "out"
    code, _, err = _run(capsys, ["fit-points", "--example", "--output", str(out), "--quiet", *TINY["fit-points"]])
    assert code == 0, err
    (out / "notes.txt").write_text("mine")
    (out / "mine.png").write_bytes(b"not unrender's")
    code, stdout, err = _run(capsys, ["deform-mesh", "--example", "--output", str(out), "--quiet", *TINY["deform-mesh"]])
    assert code == 0, err
    stale = ["points.ply"]
    notes = [ln for ln in err.splitlines() if "earlier run" in ln]
    assert len(notes) == 1 and "removed 1 file(s)" in notes[0] and "points.ply" in notes[0], err
    names = {p.name for p in out.iterdir()}
    assert not names & set(stale)
    assert {"notes.txt", "mine.png"} <= names and (out / "notes.txt").read_text() == "mine"
    assert sorted(_wrote(stdout, out) + ["notes.txt", "mine.png"]) == sorted(names)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "deform-mesh" and any("points.ply" in w for w in summary["warnings"])
    # the same method again: every file is rewritten, nothing is said
    code, _, err = _run(capsys, ["deform-mesh", "--example", "--output", str(out), "--quiet", *TINY["deform-mesh"]])
    assert code == 0 and "earlier run" not in err


def test_earlier_files_lists_only_unrender_files_inside_the_folder(tmp_path):
    from unrender.methods.save import earlier_files

    (tmp_path / "a.png").write_bytes(b"x")
    (tmp_path / "b.txt").write_text("user")
    (tmp_path.parent / "escape.png").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    files = {"a": ["a.png", "gone.gif", "../escape.png", "/etc/passwd", "sub"], "b": "b.txt"}
    (tmp_path / "summary.json").write_text(json.dumps({"files": files}))
    assert earlier_files(tmp_path) == []  # not unrender's: no "method" key
    (tmp_path / "summary.json").write_text(json.dumps({"method": "x", "files": files}))
    assert earlier_files(tmp_path) == ["a.png"]
    (tmp_path / "summary.json").write_text("{not json")
    assert earlier_files(tmp_path) == []
    assert earlier_files(tmp_path / "missing") == []
