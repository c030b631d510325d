"""Ctrl-C on the command line: the first says what is kept and stops at once with the best step, the second
quits at once leaving whole files; the Tracker's best step, in-process."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from unrender.methods import Tracker, get_method, run_method
from unrender.methods.save import save_result

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ the best step, in-process
def test_tracker_keeps_the_best_step_and_tells_the_progress():
    told = []

    class Progress:
        def __call__(self, step, total, loss, preview=None):
            return step < 5

        def on_best(self, step, loss):
            told.append((step, loss))

    t = Tracker(Progress(), 10)
    losses = [5.0, 3.0, 4.0, 1.0, 2.0, 0.5]
    for i, loss in enumerate(losses):
        if not t.update(i, loss, keep=lambda i=i: f"state {i}"):
            break
    assert t.cancelled and t.history == [5.0, 3.0, 4.0, 1.0, 2.0]
    assert (t.best_step, t.best_loss, t.best_state) == (3, 1.0, "state 3")
    assert told == [(1, 5.0), (2, 3.0), (4, 1.0)]  # 1-based, as progress counts
    assert t.kept("current") == "state 3"
    assert t.result({}).saved_step == 3
    t.new_stage()  # losses of a new stage are not compared with the earlier ones
    t.cancelled = False
    assert t.update(5, 9.0, keep=lambda: "state 5") is False  # the progress still says stop
    assert (t.best_step, t.best_state) == (5, "state 5")


def test_tracker_of_a_finished_run_keeps_the_last_state():
    t = Tracker(lambda *a, **k: True, 3)
    for i, loss in enumerate([1.0, 0.5, 2.0]):
        assert t.update(i, loss, keep=lambda i=i: i)
    assert t.kept("last") == "last" and t.result({}).saved_step is None


@pytest.mark.parametrize("method_id, params, output", [
    ("fit-points", {"points": 300, "steps": 60, "lr": 3.0}, "points"),
    ("deform-mesh", {"level": 1, "steps": 40, "lr": 0.5, "points": 500, "eval_points": 500, "schedule": "plain"},
     "mesh"),
])
def test_a_cancelled_method_returns_its_best_step_not_its_last(method_id, params, output):
    """A large lr makes the loss jump about; cancelled at a step that is not the best, the method returns the
    state of the best step, which is the state that gave that loss."""
    m = get_method(method_id)
    inputs = m.example_inputs(0)
    full = run_method(m, inputs, {**params, "seed": 1})
    hist = full.history
    # stop at a step whose loss is above the best before it
    stop = next(i for i in range(2, len(hist)) if hist[i] > min(hist[:i]) * 1.05)
    best = min(range(stop + 1), key=lambda i: hist[i])
    r = run_method(m, inputs, {**params, "seed": 1}, lambda step, total, loss, preview=None: step <= stop)
    assert r.cancelled and r.history == hist[: stop + 1] and r.saved_step == best
    # the saved state is the best step's: the same run stopped right at the best step returns it too
    at_best = run_method(m, inputs, {**params, "seed": 1}, lambda step, total, loss, preview=None: step <= best)
    a, b = r.outputs[output], at_best.outputs[output]
    va = a.points_packed() if output == "points" else a.grids_list()[0] if output == "voxels" else a.verts_packed()
    vb = b.points_packed() if output == "points" else b.grids_list()[0] if output == "voxels" else b.verts_packed()
    assert torch.equal(va, vb)


@pytest.mark.parametrize("method_id, params, metric", [
    ("fit-points", {"points": 300, "steps": 40, "lr": 3.0}, "chamfer"),
    ("fit-voxels", {"resolution": 12, "steps": 40}, "bce"),
])
def test_the_saved_state_is_the_one_that_gave_the_saved_loss(method_id, params, metric):
    """The final metric is the loss function itself here: measured on the returned state, it equals the loss
    recorded at the saved step (before, the state one optimiser step later was returned)."""
    m = get_method(method_id)
    r = run_method(m, m.example_inputs(0), params, lambda step, total, loss, preview=None: step < 9)
    assert r.cancelled and r.saved_step is not None
    assert r.metrics[metric] == pytest.approx(r.history[r.saved_step], rel=1e-5)


def test_summary_names_the_saved_step(tmp_path):
    m = get_method("fit-points")
    r = run_method(m, m.example_inputs(0), {"points": 200, "steps": 30, "lr": 3.0},
                   lambda step, total, loss, preview=None: step < 12)
    s = save_result(m, {}, r, tmp_path / "out", pictures=False)
    assert s["cancelled"] and s["saved_step"] == r.saved_step + 1
    assert s["saved_loss"] == min(r.history)


# ------------------------------------------------------------------ Ctrl-C on the command line
def _start(tmp_path, *args):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "core"), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "unrender.cli", *args, "--output", str(tmp_path / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path)


def _wait_for(proc, text: bytes, timeout: float) -> bytes:
    """stderr read until ``text`` appears (the tqdm bar writes no newlines)."""
    os.set_blocking(proc.stderr.fileno(), False)
    seen, t0 = b"", time.monotonic()
    while text not in seen:
        if time.monotonic() - t0 > timeout or proc.poll() is not None:
            raise AssertionError(f"no {text!r} in {seen[-2000:]!r}")
        chunk = proc.stderr.read()
        seen += chunk or b""
        time.sleep(0.05)
    return seen


def test_first_ctrl_c_says_what_is_kept_stops_promptly_and_saves_the_best(tmp_path):
    proc = _start(tmp_path, "fit-points", "--example", "--steps", "100000", "--points", "300", "--lr", "3",
                  "--no-pictures")
    try:
        _wait_for(proc, b"loss=", 240)
        time.sleep(1.0)  # some steps
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        err = _wait_for(proc, b"Ctrl-C again", 10)
        out, rest = proc.communicate(timeout=60)
        elapsed = time.monotonic() - t0
    finally:
        proc.kill()
    err = (err + rest).decode()
    assert proc.returncode == 130, err
    lines = [ln for ln in err.splitlines() if "Ctrl-C:" in ln]
    assert len(lines) == 1, err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["cancelled"] and summary["steps"] < 100000
    # the line names the step that was saved and its loss
    assert f"step {summary['saved_step']}, loss {summary['saved_loss']:.4g}" in lines[0], (lines[0], summary)
    assert summary["saved_loss"] <= summary["final_loss"]
    assert elapsed < 30, elapsed  # stops at the next step, writes and exits
    assert (tmp_path / "out" / "points.ply").stat().st_size > 0
    assert "saved the best step" in out.decode()


def test_second_ctrl_c_quits_at_once_leaving_whole_files(tmp_path):
    # many pictures to write: the second Ctrl-C comes while the result is being written or computed
    proc = _start(tmp_path, "deform-mesh", "--example", "--steps", "100000", "--level", "3", "--points", "2000",
                  "--eval-points", "200000")
    try:
        _wait_for(proc, b"loss=", 240)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        _wait_for(proc, b"Ctrl-C again", 30)
        time.sleep(0.2)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=30)
        elapsed = time.monotonic() - t0
    finally:
        proc.kill()
    assert proc.returncode == 130, rest
    assert b"interrupted again" in rest
    assert elapsed < 5, elapsed
    out = tmp_path / "out"
    if out.exists():  # whatever is there is whole: no staging folder, every file readable
        assert not [p for p in out.iterdir() if p.name.startswith(".")]
        from unrender.io import load_image, load_obj

        for p in out.iterdir():
            if p.suffix == ".png":
                load_image(p)
            elif p.suffix == ".obj":
                load_obj(p)
            elif p.suffix == ".json":
                json.loads(p.read_text())
