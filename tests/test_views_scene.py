"""The multi-view example scene: sizes, splits, determinism, colours, non-convexity, file round trip."""

import pytest
import torch

from unrender.geometry import mesh_to_voxels
from unrender.io.views import load_views, save_views
from unrender.metrics import silhouette_iou
from unrender.render import example_views, render_views


@pytest.fixture(scope="module")
def scene():
    return example_views(10, 2, 48, seed=3, detail=1)


def test_sizes_and_splits(scene):
    views, mesh = scene
    assert views.images.shape == (12, 48, 48, 3) and views.masks.shape == (12, 48, 48)
    assert views.splits.count("test") == 2 and views.splits.count("train") == 10
    assert float(views.masks.min()) >= 0 and float(views.masks.max()) <= 1
    assert float(mesh.verts_list()[0].norm(dim=-1).max()) < 1.0  # unit-sphere scale
    assert bool((views.images[views.masks == 0] == 0).all())  # black where nothing is seen
    covered = views.masks.flatten(1).mean(1)
    assert bool((covered > 0.05).all()) and bool((covered < 0.7).all())  # every camera sees the object, whole


def test_default_scene_is_the_issue_scene():
    views, _ = example_views(detail=1)
    assert views.images.shape == (48, 128, 128, 3) and views.splits.count("test") == 8


def test_deterministic_and_seeded(scene):
    again, _ = example_views(10, 2, 48, seed=3, detail=1)
    other, _ = example_views(10, 2, 48, seed=4, detail=1)
    assert torch.equal(again.images, scene[0].images)
    assert not torch.equal(other.images, scene[0].images)


def test_coloured_and_non_convex(scene):
    views, mesh = scene
    seen = views.images[views.masks > 0.99]
    palette = torch.unique((seen * 4).round(), dim=0)
    assert palette.shape[0] >= 8  # several colours
    occ = mesh_to_voxels(mesh, 32, [[-1.0] * 3, [1.0] * 3]).grids_list()[0]
    assert float(occ[16, 16, 16]) == 1.0  # the ball at the centre
    # a hole: the centre plane of the ring has empty voxels between ball and ring
    assert float(occ.mean()) < 0.2


def test_round_trip_through_files(scene, tmp_path):
    views, mesh = scene
    save_views(tmp_path, views)
    loaded = load_views(tmp_path)  # the split files list train views first: back in the scene's order
    back = loaded.subset([loaded.file_names.index(n) for n in views.file_names])
    assert back.splits == views.splits
    assert torch.allclose(back.masks, views.masks, atol=1 / 255 + 1e-6)
    on = views.masks > 0.5
    assert torch.allclose(back.images[on], views.images[on], atol=1 / 255 + 1e-6)
    again = render_views(mesh, back.cameras, 48)  # the converted cameras see the same pictures
    assert float(silhouette_iou(again.masks, views.masks).min()) >= 0.99
