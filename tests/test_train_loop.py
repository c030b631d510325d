"""Training: the files a run writes, resuming gives the uninterrupted run, and the checks before any work."""

import json

import pytest
import torch

from unrender.data import write_dataset
from unrender.io import load_image
from unrender.models import load_checkpoint
from unrender.train import TRAIN_FILES, TrainConfig, epoch_batches, train
from unrender.train.distributed import DistInfo

SMALL = {"latent": 32, "hidden": 64, "ico_level": 1, "mesh_samples": 128, "n_points": 64}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes") / "data"
    write_dataset(root, train=2, val=1, test=1, views=2, points=256, occupancy_samples=64, progress=False)
    return root


def _config(data, out, kind="points", **kw):
    model = {k: v for k, v in SMALL.items() if not (k == "n_points" and kind != "points")}
    base = dict(kind=kind, data=str(data), output=str(out), model=model, batch_size=4, lr=1e-3, val_every=2,
                val_items=4, points=128, seed=3, threads=1)
    return TrainConfig(**{**base, **kw})


def test_a_run_writes_every_file(data, tmp_path):
    out = tmp_path / "run"
    result = train(_config(data, out, steps=3), progress=False)
    assert result["steps"] == 3 and sorted(result["files"]) == sorted(TRAIN_FILES)
    assert sorted(p.name for p in out.iterdir()) == sorted(TRAIN_FILES)  # no partial files left
    model, info = load_checkpoint(out / "checkpoint.pt", kind="points")
    assert set(info) >= {"step", "val_loss", "dataset", "seed", "minutes"} and info["seed"] == 3
    assert info["step"] == result["best_step"] and info["val_loss"] == pytest.approx(result["best_val_loss"])
    history = json.loads((out / "history.json").read_text())
    assert len(history["train_loss"]) == 3 and history["val"]["step"] == [2, 3]
    assert json.loads((out / "config.json").read_text())["kind"] == "points"
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["step"] == 3
    for name, min_h in (("loss.png", 200), ("examples.png", 3 * 100)):
        image = load_image(out / name)
        assert image.shape[0] >= min_h and image.shape[1] >= 300, name
        assert image[..., :3].std() > 0.02, name  # not a blank picture


@pytest.mark.parametrize("kind", ["mesh"])  # the mesh loss draws surface samples: the random state must resume too
def test_resume_gives_the_uninterrupted_run(data, tmp_path, kind):
    train(_config(data, tmp_path / "whole", kind, steps=5, val_every=3), progress=False)
    first = train(_config(data, tmp_path / "parts", kind, steps=2, val_every=3), progress=False)
    assert first["steps"] == 2
    second = train(_config(data, tmp_path / "parts", kind, steps=5, val_every=3), progress=False, resume=True)
    assert second["steps"] == 5
    whole = torch.load(tmp_path / "whole" / "last.pt", weights_only=True)
    parts = torch.load(tmp_path / "parts" / "last.pt", weights_only=True)
    for k, v in whole["model"].items():
        assert torch.equal(v, parts["model"][k]), k
    assert json.loads(whole["history"])["train_loss"] == json.loads(parts["history"])["train_loss"]


def test_checks_before_any_work(data, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match="batch_size"):
        train(_config(data, out, steps=1, batch_size=64), progress=False)  # more than the 16 items
    with pytest.raises(FileNotFoundError, match="last.pt"):
        train(_config(data, out, steps=1), progress=False, resume=True)
    assert not out.exists()
    train(_config(data, out, steps=1), progress=False)
    with pytest.raises(ValueError, match="already holds a training run"):
        train(_config(data, out, steps=2), progress=False)
    with pytest.raises(ValueError, match="kind='points', found kind='vox'"):
        train(_config(data, out, "vox", steps=2), progress=False, resume=True)
    with pytest.raises(ValueError, match="steps"):
        TrainConfig(kind="vox", data=str(data), output=str(out))
    with pytest.raises(ValueError, match="kind"):
        _config(data, out, "nerf", steps=1)


def test_every_world_size_sees_the_same_global_batches():
    for epoch in range(3):
        single = epoch_batches(22, 8, DistInfo(0, 1, 0), seed=5, epoch=epoch)
        ranks = [epoch_batches(22, 8, DistInfo(r, 4, r), seed=5, epoch=epoch) for r in range(4)]
        assert len(single) == 2 and all(len(b) == 2 for b in ranks)
        for k, batch in enumerate(single):
            assert sorted(batch) == sorted(i for r in ranks for i in r[k])
    assert epoch_batches(22, 8, DistInfo(), 5, 0) != epoch_batches(22, 8, DistInfo(), 5, 1)
    with pytest.raises(ValueError, match="multiple of the 3 processes"):
        epoch_batches(22, 8, DistInfo(0, 3, 0), 5, 0)


def test_a_stop_from_progress_saves_like_the_end(data, tmp_path):
    seen = []

    def progress(step, total, loss):
        seen.append((step, total))
        return step < 2  # "Ctrl-C" after step 2

    out = tmp_path / "run"
    result = train(_config(data, out, steps=50), progress=progress)
    assert result["stopped"] and result["steps"] == 2 and seen == [(1, 50), (2, 50)]
    assert sorted(p.name for p in out.iterdir()) == sorted(TRAIN_FILES)
    assert torch.load(out / "last.pt", weights_only=True)["step"] == 2


def test_minutes_budget_and_workers(data, tmp_path):
    result = train(_config(data, tmp_path / "timed", steps=None, minutes=0.002, val_every=1000), progress=False)
    assert 1 <= result["steps"] < 1000 and not result["stopped"]
    # DataLoader workers (seeded generator and worker seeds) give the parameters of the main process alone
    runs = [train(_config(data, tmp_path / f"w{w}", steps=2, workers=w), progress=False) for w in (0, 2)]
    a, b = (torch.load(tmp_path / f"w{w}" / "last.pt", weights_only=True)["model"] for w in (0, 2))
    assert runs[0]["steps"] == runs[1]["steps"] == 2
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_cosine_schedule_decays_over_the_steps_and_resumes(data, tmp_path):
    from unrender.train import learning_rate

    config = _config(data, tmp_path / "parts", steps=4, schedule="cosine", val_every=10)
    assert [learning_rate(config, k) for k in (0, 2, 4)] == pytest.approx([1e-3, 5e-4, 0.0])
    train(_config(data, tmp_path / "whole", steps=4, schedule="cosine", val_every=10), progress=False)
    assert train(config, progress=lambda step, total, loss: step < 2)["steps"] == 2  # stopped (Ctrl-C) at step 2
    assert train(config, progress=False, resume=True)["steps"] == 4
    whole = torch.load(tmp_path / "whole" / "last.pt", weights_only=True)
    parts = torch.load(tmp_path / "parts" / "last.pt", weights_only=True)
    assert whole["optimizer"]["param_groups"][0]["lr"] == pytest.approx(learning_rate(config, 3))
    for k, v in whole["model"].items():
        assert torch.equal(v, parts["model"][k]), k
    with pytest.raises(ValueError, match="cosine"):
        _config(data, tmp_path / "x", steps=None, minutes=1.0, schedule="cosine")


def test_a_vox_run_sets_the_surface_level_with_the_best_val_f1(data, tmp_path):
    from unrender.data import ShapeDataset
    from unrender.train import LEVELS, calibrate_level

    out = tmp_path / "vox"
    train(_config(data, out, "vox", steps=3), progress=False)
    model, info = load_checkpoint(out / "checkpoint.pt", kind="vox")
    scores = {float(k): v for k, v in info["level_f1"].items()}
    assert sorted(scores) == sorted(LEVELS)
    assert model.config.level == max(scores, key=scores.get)
    # the same scores again from the function, and the model's own level left alone
    level, again = calibrate_level(model, ShapeDataset(data, "val", points=128), [0, 1], levels=(0.3, 0.5))
    assert level in (0.3, 0.5) and again[level] == max(again.values())
    assert model.config.level == max(scores, key=scores.get)
