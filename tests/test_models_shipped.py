"""The shipped single-view checkpoints: they load, are small, and reconstruct held-out test objects.

The test objects are the first test objects of each category of the training dataset (``write_dataset`` with
its seed, 0: the same seeds as the test split the models were never trained on), at the size of the shipped
models' own test split evaluation (see scripts/train_single_view.py); the floors are well under the figures
measured on the whole test split (README), so a broken model, renderer or framing fails them.
"""

import pytest
import torch

from unrender.data import write_dataset
from unrender.models import KINDS, load_checkpoint, load_shipped, shipped_checkpoint
from unrender.threads import using_threads
from unrender.train import evaluate

#: F1@0.05 floors on 10 test objects x 2 views (the full test split's figures are in the README).
FLOORS = {"vox": 0.6, "points": 0.75, "mesh": 0.7}


@pytest.fixture(scope="module")
def test_objects(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes") / "data"
    with using_threads(1):
        write_dataset(root, train=0, val=0, test=2, views=2, seed=0, progress=False)
    return root


def test_shipped_checkpoints_are_small_and_load():
    sizes = {k: shipped_checkpoint(k).stat().st_size for k in KINDS}
    assert sum(sizes.values()) < 20 * 2**20, sizes  # all learned models together under 20 MB
    for k in KINDS:
        model = load_shipped(k)
        assert model.kind == k
        _, info = load_checkpoint(shipped_checkpoint(k), kind=k)
        assert "recipe" in info and "test" in info  # how it was made and what it scored
        with torch.no_grad():
            out = model(torch.rand(1, 4, 64, 64))
        assert torch.isfinite(out).all()


@pytest.mark.parametrize("kind", KINDS)
def test_shipped_checkpoint_beats_its_floor_on_test_objects(test_objects, kind):
    with using_threads(1):
        results = evaluate({kind: str(shipped_checkpoint(kind))}, test_objects, "test", progress=False)
    scores = results["models"][kind]["overall"]
    assert scores["f1@0.05"] > FLOORS[kind], scores
    assert scores["f1@0.05"] > scores["f1@0.01"]  # F1 grows with the threshold
