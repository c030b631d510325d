"""Distributed training: two CPU processes under torchrun (gloo) end with the parameters of one process
trained on the same global batches (see unrender.train.distributed)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from unrender.data import write_dataset
from unrender.train import TrainConfig, train

CORE = str(Path(__file__).resolve().parents[1] / "core")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes") / "data"
    write_dataset(root, train=2, val=1, test=1, views=2, points=256, occupancy_samples=64, progress=False)
    return root


def test_two_processes_equal_one_with_the_same_global_batch(data, tmp_path):
    # float64: Adam's first steps move a weight by ~lr whatever its gradient's size, so in float32 the
    # rounding of gradients near 0 (summed in another order over two processes) grows to ~lr
    steps, batch, seed, lr = 4, 4, 7, 1e-3
    env = {**os.environ, "PYTHONPATH": CORE + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "unrender",
           "train", "--model", "vox", "--data", str(data), "--output", str(tmp_path / "ddp"), "--steps", str(steps),
           "--batch-size", str(batch), "--lr", str(lr), "--seed", str(seed), "--val-every", "100", "--threads", "1",
           "--latent", "32", "--dtype", "float64", "--quiet"]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[:2000] + "\n...\n" + run.stderr[-2000:]  # each rank's first words too
    assert run.stdout.count("train vox: done in 4 steps") == 1  # rank 0 alone reports
    config = TrainConfig(kind="vox", data=str(data), output=str(tmp_path / "one"), model={"latent": 32}, steps=steps,
                         batch_size=batch, lr=lr, seed=seed, val_every=100, threads=1, dtype="float64")
    train(config, progress=False)
    ddp = torch.load(tmp_path / "ddp" / "last.pt", weights_only=True)
    one = torch.load(tmp_path / "one" / "last.pt", weights_only=True)
    for k, v in one["model"].items():
        torch.testing.assert_close(ddp["model"][k], v, atol=1e-8, rtol=0, msg=k)  # float64: rounding stays ~1e-12
    # the logged loss of a step is the global batch's mean on both
    assert json.loads(ddp["history"])["train_loss"] == pytest.approx(json.loads(one["history"])["train_loss"], rel=1e-5)
    # the parameters really moved over the run (the equality is not that of untouched weights)
    from unrender.models import build_model

    torch.manual_seed(seed)
    init = build_model(config.model_config()).double().state_dict()
    assert max(float((one["model"][k] - init[k]).abs().max()) for k in init) > 1e-4
