"""The Cycles-rendered shape dataset (issue 13, section 5), at CI size: ``scripts/blender_image_dataset.py``
re-renders the test split of a dataset written by ``unrender.data.write_dataset`` with Blender Cycles.

The new folder has the source's layout and arrays, only the images differ; the Cycles masks match unrender's
framed masks of the same views (so the cameras were converted exactly) and the colours under them agree
roughly (another renderer, a sun and a grey world instead of unrender's lights).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("bpy", reason="the Cycles dataset needs the bpy module (Blender as a Python module)")

from unrender.data import CATEGORIES, ShapeDataset, read_dataset_info, write_dataset  # noqa: E402

pytestmark = [pytest.mark.blender, pytest.mark.addon]

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "blender_image_dataset.py"
VIEWS, PER_CATEGORY = 2, 2


def run_script(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shapes")
    source = folder / "unrender"
    write_dataset(source, train=0, val=0, test=PER_CATEGORY, views=VIEWS, seed=3, progress=False, points=256,
                  occupancy_samples=256)
    out = folder / "cycles"
    run = run_script(source, "--output", out, "--samples", "8", "--limit", "1")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "s/view" in run.stdout
    return source, out


def pairs(source: Path, out: Path):
    """(source file, Cycles file) of each object: ``--limit 1`` kept object 0 of each category, renumbered."""
    return [(source / "test" / f"{c * PER_CATEGORY:06d}.npz", out / "test" / f"{c:06d}.npz")
            for c in range(len(CATEGORIES))]


def test_the_cycles_dataset_has_the_sources_layout_and_arrays(datasets):
    source, out = datasets
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in source.iterdir())
    assert not out.with_name(out.name + ".partial").exists()
    assert len(list((out / "test").iterdir())) == len(CATEGORIES)
    info, theirs = read_dataset_info(out), read_dataset_info(source)
    assert info.pop("renderer") == "cycles" and info.pop("splits") == {"train": 0, "val": 0, "test": 1}
    theirs.pop("splits")
    assert info == theirs
    for a_path, b_path in pairs(source, out):
        with np.load(a_path) as a, np.load(b_path) as b:
            assert sorted(a.files) == sorted(b.files)
            for key in a.files:
                if key != "images":
                    assert np.array_equal(a[key], b[key]) and a[key].dtype == b[key].dtype, key
            assert b["images"].shape == a["images"].shape and b["images"].dtype == np.uint8
    data = ShapeDataset(out, "test", points=64)  # the dataset reader takes it as it is
    assert len(data) == len(CATEGORIES) * VIEWS and data[0]["image"].shape == (4, 64, 64)


def test_cycles_masks_and_colours_match_unrenders_views(datasets):
    source, out = datasets
    diffs = []
    for a_path, b_path in pairs(source, out):
        with np.load(a_path) as a, np.load(b_path) as b:
            ours, theirs = a["images"].astype(np.float64) / 255, b["images"].astype(np.float64) / 255
        for v in range(VIEWS):
            mine, cyc = ours[v, ..., 3] > 0.5, theirs[v, ..., 3] > 0.5
            assert cyc.sum() > 0.1 * cyc.size, (b_path, v)
            iou = (mine & cyc).sum() / (mine | cyc).sum()  # the same framing: the cameras were converted exactly
            assert iou > 0.85, (b_path, v, iou)
            both = mine & cyc
            diffs.append(theirs[v, ..., :3][both].mean(0) - ours[v, ..., :3][both].mean(0))
    # the same colours under other lights: each view's mean colour near unrender's, and no bias over all views
    diffs = np.array(diffs)
    assert np.abs(diffs).max() < 0.2 and np.abs(diffs.mean(0)).max() < 0.06, diffs


def test_bad_input_writes_nothing(datasets, tmp_path):
    source, out = datasets
    run = run_script(source, "--output", out, "--limit", "1")
    assert run.returncode == 2 and "output" in run.stderr and "not empty" in run.stderr
    bad = tmp_path / "bad"
    run = run_script(source, "--output", bad, "--split", "nope")
    assert run.returncode == 2 and "split" in run.stderr and not bad.exists()
    run = run_script(tmp_path / "missing", "--output", bad)
    assert run.returncode == 2 and "missing" in run.stderr and not bad.exists()
