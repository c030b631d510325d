"""The Cycles-rendered multi-view dataset (issue 12, section 6), at CI size: ``scripts/blender_views_dataset.py``
renders the example scene (``example_views``' object and cameras) with Cycles and Blender itself writes the
NeRF-synthetic folder through the add-on's "Export views" operator (its held-out views as the test split).

The dataset is read back with ``load_views``: the splits and image names are the operator's, the cameras are
``sphere_cameras``' (the same pixels), the alpha masks are the true mesh's silhouettes, Cycles' matte colours
match unrender's unlit render of the same vertex colours, and the visual hull of the training views lies near
the true surface. The bars are the values measured at this size (8 + 2 views, 32 x 32, 4 samples) less a
margin: IoU >= 0.906 per view (the Cycles pixel filter softens the edges), masked PSNR >= 24.1 dB per view
(diffuse shading darkens the concavities a little), hull F1@0.05 0.65 and F1@0.1 0.79 (8 views of 32 px carve
coarsely). The full size (40 + 8 views at 128 x 128) and the fast NeRF's held-out PSNR are measured by
``scripts/quality_cycles_nerf.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("bpy", reason="the Cycles dataset needs the bpy module (Blender as a Python module)")

from unrender.io import load_mesh, load_views  # noqa: E402
from unrender.metrics import mesh_f1, psnr  # noqa: E402
from unrender.render import example_object, render_views, sphere_cameras  # noqa: E402
from unrender.volumetric import visual_hull_mesh  # noqa: E402

pytestmark = [pytest.mark.blender, pytest.mark.addon]

ROOT = Path(__file__).resolve().parents[1]
TRAIN, TEST, SIZE, DETAIL = 8, 2, 32, 1


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("cycles") / "views"
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "blender_views_dataset.py"), "--output", str(out),
                          "--views", str(TRAIN), "--held-out", str(TEST), "--size", str(SIZE), "--samples", "4",
                          "--detail", str(DETAIL)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return out


def test_blender_writes_the_nerf_synthetic_layout_with_its_held_out_split(dataset):
    names = sorted(p.name for p in dataset.iterdir())
    assert names == ["mesh.ply", "test", "train", "transforms_test.json", "transforms_train.json"]
    for split, count in (("train", TRAIN), ("test", TEST)):
        record = json.loads((dataset / f"transforms_{split}.json").read_text())
        assert len(record["frames"]) == count and record["w"] == record["h"] == SIZE
        assert all(f["file_path"].startswith(f"{split}/") for f in record["frames"])
    views = load_views(dataset)
    assert views.splits == ["train"] * TRAIN + ["test"] * TEST and views.image_size == (SIZE, SIZE)
    assert len(views.select("test")) == TEST and views.masks is not None
    # the held-out views are spread among the training ones, not the last cameras of the sphere
    assert [n.split("/")[1] for n in views.select("test").file_names] == ["view 0002", "view 0007"]
    # the cameras are sphere_cameras' in the files' order: the same pixels (depth conventions differ)
    order = [int(n[-4:]) for n in views.file_names]
    points = torch.rand(1, 40, 3) - 0.5
    size = (SIZE, SIZE)
    loaded = views.cameras.transform_points_screen(points.expand(len(views), -1, -1), image_size=size)
    want = sphere_cameras(TRAIN + TEST)[order].transform_points_screen(points.expand(len(views), -1, -1),
                                                                        image_size=size)
    assert torch.allclose(loaded[..., :2], want[..., :2], atol=1e-3)


def test_cycles_masks_and_colours_are_the_true_object_through_the_loaded_cameras(dataset):
    views = load_views(dataset)
    true = load_mesh(dataset / "mesh.ply")
    assert torch.equal(true.verts_list()[0], example_object(DETAIL).verts_list()[0])
    ours = render_views(example_object(DETAIL), views.cameras, views.image_size)
    theirs, mine = views.masks > 0.5, ours.masks > 0.5
    iou = (theirs & mine).sum((1, 2)) / (theirs | mine).sum((1, 2))
    assert float(iou.min()) >= 0.87, iou
    both = (views.masks * ours.masks)[..., None]
    db = psnr(views.images * both, ours.images * both)
    assert float(db.min()) >= 22.0, db


def test_the_visual_hull_of_the_cycles_training_views_lies_near_the_true_surface(dataset):
    views = load_views(dataset)
    hull, _ = visual_hull_mesh(views.select("train"), 48)
    f1 = mesh_f1(hull, load_mesh(dataset / "mesh.ply"), thresholds=(0.05, 0.1), num_samples=20000)
    assert float(f1["f1@0.05"]) >= 0.55 and float(f1["f1@0.1"]) >= 0.7, f1


def test_export_views_held_out_split_files_and_bad_counts(scene, tmp_path):
    import bpy

    bpy.ops.mesh.primitive_cube_add(size=1.0)
    scene.render.engine = "BLENDER_WORKBENCH"
    cameras_before = len(bpy.data.cameras)
    out = tmp_path / "bad"
    with pytest.raises(RuntimeError, match="held_out: expected fewer held-out views than the 3 views, found 3"):
        bpy.ops.unrender.export_views(filepath=str(out), source="RING", count=3, held_out=3, size=16)
    assert not out.exists() and len(bpy.data.cameras) == cameras_before
    out = tmp_path / "folder" / "transforms.json"  # a json path: the layout goes into its folder
    assert bpy.ops.unrender.export_views(filepath=str(out), source="RING", count=5, held_out=2, size=16) == {"FINISHED"}
    views = load_views(out.parent)
    assert not out.exists() and views.splits == ["train"] * 3 + ["test"] * 2
    assert len(bpy.data.cameras) == cameras_before
