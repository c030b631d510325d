"""``unrender dataset``, ``train`` and ``eval`` on the command line: a tiny run writes every file, eval
writes its table, JSON and plot, and bad input is one line, exit 2, before any work, nothing written."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from unrender.cli import main
from unrender.io import load_image
from unrender.models import build_model, load_checkpoint, save_checkpoint
from unrender.train import EVAL_FILES, TRAIN_FILES

CORE = str(Path(__file__).resolve().parents[1] / "core")
TINY = ["--latent", "32", "--batch-size", "4", "--points", "128", "--threads", "1", "--quiet"]


def _run(capsys, argv):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes") / "data"
    assert main(["dataset", "--output", str(root), "--train", "2", "--val", "1", "--test", "1", "--views", "2",
                 "--quiet"]) == 0
    return root


@pytest.fixture(scope="module")
def run(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "vox"
    assert main(["train", "--model", "vox", "--data", str(data), "--output", str(out), "--steps", "3",
                 "--val-every", "2", *TINY]) == 0
    return out


def test_dataset_writes_the_folder(data):
    info = json.loads((data / "dataset.json").read_text())
    assert info["splits"] == {"train": 2, "val": 1, "test": 1} and info["views"] == 2
    assert len(list((data / "train").glob("*.npz"))) == 2 * len(info["categories"])


def test_train_writes_every_file(run):
    assert sorted(p.name for p in run.iterdir()) == sorted(TRAIN_FILES)
    model, info = load_checkpoint(run / "checkpoint.pt", kind="vox")
    assert model.config.latent == 32 and info["step"] in (2, 3)
    for name in ("loss.png", "examples.png"):
        image = load_image(run / name)
        assert image.shape[0] >= 200 and image.shape[1] >= 300 and image[..., :3].std() > 0.02, name


def test_train_resume_continues(run, capsys, tmp_path):
    code, out, err = _run(capsys, ["train", "--model", "vox", "--data", str(run.parent.parent / "x"), "--output",
                                   str(run), "--resume", "--steps", "4", *TINY])
    assert code == 2 and "error" in err  # a missing dataset folder, named
    code, out, err = _run(capsys, ["train", "--model", "vox", "--data",
                                   json.loads((run / "config.json").read_text())["data"], "--output", str(run),
                                   "--resume", "--steps", "4", "--val-every", "2", *TINY])
    assert code == 0, err
    assert "done in 4 steps" in out
    assert torch.load(run / "last.pt", weights_only=True)["step"] == 4


def test_eval_writes_table_json_and_plot(run, data, capsys, tmp_path):
    out = tmp_path / "eval"
    points = tmp_path / "points.pt"
    torch.manual_seed(0)
    save_checkpoint(points, build_model(kind="points", latent=32, n_points=256, hidden=64))
    code, stdout, err = _run(capsys, ["eval", "--data", str(data), "--checkpoint", str(run / "checkpoint.pt"),
                                      str(points), "--output", str(out), "--limit", "2", "--threads", "1", "--quiet"])
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted(EVAL_FILES)
    results = json.loads((out / "eval.json").read_text())
    assert set(results["models"]) == {"vox", "points"}
    assert results["objects"] == 2 and results["items"] == 4
    assert results["models"]["vox"]["kind"] == "vox" and "iou" in results["models"]["vox"]["overall"]
    assert "iou" not in results["models"]["points"]["overall"]
    for r in results["models"].values():
        assert len(r["categories"]) == 2  # the limit is spread over the categories
        for scores in [r["overall"], *r["categories"].values()]:
            for key, v in scores.items():
                if key.startswith("f1@") or key == "iou":
                    assert 0.0 <= v <= 1.0, key
            assert scores["chamfer"] >= 0
    table = (out / "eval.md").read_text()
    assert table.count("**all**") == 2 and "F1@0.05" in table
    image = load_image(out / "f1.png")
    assert image.shape[0] >= 200 and image[..., :3].std() > 0.02


@pytest.mark.parametrize("case", ["missing data", "empty data", "unknown model", "other kind", "missing checkpoint",
                                  "corrupt checkpoint", "existing run", "resume nothing"])
def test_bad_input_is_one_line_exit_2_nothing_written(case, data, run, capsys, tmp_path, monkeypatch):
    import unrender.train as train_module

    def boom(*a, **k):
        raise AssertionError("work started before the input was checked")

    monkeypatch.setattr(train_module, "train", boom)
    monkeypatch.setattr(train_module, "evaluate", boom)
    out = tmp_path / "out"
    empty = tmp_path / "empty"
    empty.mkdir()
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    train = ["train", "--model", "vox", "--data", str(data), "--output", str(out), "--steps", "2", *TINY]
    argv, words = {
        "missing data": (["train", "--model", "vox", "--data", str(tmp_path / "nowhere"), "--output", str(out)], "nowhere"),
        "empty data": (["eval", "--data", str(empty), "--output", str(out), "--checkpoint", str(run / "checkpoint.pt")], "empty"),
        "unknown model": (["train", "--model", "nerf", "--data", str(data), "--output", str(out)], "nerf"),
        "other kind": (["eval", "--data", str(data), "--model", "mesh", "--checkpoint", str(run / "checkpoint.pt"),
                        "--output", str(out)], "expected a mesh checkpoint, found a vox checkpoint"),
        "missing checkpoint": (["eval", "--data", str(data), "--checkpoint", str(tmp_path / "gone.pt"), "--output",
                                str(out)], "gone.pt"),
        "corrupt checkpoint": (["eval", "--data", str(data), "--checkpoint", str(corrupt), "--output", str(out)], "corrupt.pt"),
        "existing run": (train[:6] + [str(run)] + train[7:], "already holds a training run"),
        "resume nothing": (train + ["--resume"], "last.pt"),
    }[case]
    before = sorted(p.name for p in run.iterdir())
    code, stdout, err = _run(capsys, argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0] and words in lines[0], err
    assert not out.exists()
    assert sorted(p.name for p in run.iterdir()) == before


def test_python_dash_m_unrender():
    run = subprocess.run([sys.executable, "-m", "unrender", "train", "--help"], capture_output=True, text=True,
                         env={"PYTHONPATH": CORE, "PATH": ""}, timeout=120)
    assert run.returncode == 0 and "--model" in run.stdout and "torchrun" not in run.stderr


def test_ctrl_c_stops_training_and_saves(data, tmp_path):
    import os
    import signal
    import time

    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": CORE, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "unrender", "train", "--model", "points", "--data", str(data),
                             "--output", str(out), "--steps", "100000", "--val-every", "1", *TINY],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "last.pt").exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr[-2000:]
    assert "Ctrl-C" in stderr and "stopped after" in stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(TRAIN_FILES)
    step = torch.load(out / "last.pt", weights_only=True)["step"]
    assert 1 <= step < 100000 and f"stopped after {step} steps" in stdout
