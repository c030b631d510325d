"""Visual hull: the issue's bar (IoU >= 0.9 from 20 silhouettes of a convex-ish object), the hull
contains the object, colours come from the views, bad input."""

import pytest
import torch

from unrender.geometry import mesh_to_voxels
from unrender.geometry.shapes import superquadric
from unrender.metrics import voxel_iou
from unrender.render import TexturesVertex, example_views, render_views, sphere_cameras
from unrender.ops.knn import knn_points
from unrender.volumetric import carve_visual_hull, visual_hull_mesh

BOX = [[-1.0] * 3, [1.0] * 3]


@pytest.fixture(scope="module")
def convex():
    mesh = superquadric((0.8, 0.6, 0.5), power=3.0, level=4)
    mesh.textures = TexturesVertex([torch.full_like(mesh.verts_list()[0], 0.7)])
    return mesh, render_views(mesh, sphere_cameras(20, seed=1), 128)


def test_bar_iou_from_20_silhouettes(convex):
    mesh, views = convex
    carved = carve_visual_hull(views.masks, views.cameras, 64, BOX).grids_list()[0]
    truth = mesh_to_voxels(mesh, 64, BOX).grids_list()[0]
    iou = float(voxel_iou(carved, truth))
    assert iou >= 0.9, iou
    assert float((carved * truth).sum() / truth.sum()) >= 0.99  # carving keeps the object


def test_views_that_do_not_see_a_voxel_do_not_carve_it(convex):
    _, views = convex
    cam = views.cameras[0]
    behind = cam.get_camera_center()[0] * 1.5  # the camera looks at the origin: this is behind it
    box = torch.stack([behind - 0.2, behind + 0.2])
    carved = carve_visual_hull(torch.zeros_like(views.masks[:1]), cam, 16, box)  # an empty mask carves nothing there
    assert bool((carved.grids_list()[0] == 1).all())


def test_hull_mesh_colours_come_from_the_views():
    views, mesh = example_views(16, 0, 64, seed=0, detail=1)
    hull, occ = visual_hull_mesh(views, 40)
    v = hull.verts_list()[0]
    colors = hull.textures.verts_features_list()[0]
    true_v = mesh.verts_list()[0]
    true_c = mesh.textures.verts_features_list()[0]
    near = knn_points(v[None], true_v[None], K=1)
    close = near.dists[0, :, 0].sqrt() < 0.03  # hull vertices on the object's surface
    truth = true_c[near.idx[0, close, 0]]
    err = (colors[close] - truth).abs().mean()
    shuffled = (colors[close][torch.randperm(int(close.sum()), generator=torch.Generator().manual_seed(0))] - truth).abs().mean()
    assert float(close.float().mean()) > 0.3
    assert float(err) < 0.16 and float(err) < 0.5 * float(shuffled), (float(err), float(shuffled))


def test_hull_needs_masks():
    views, _ = example_views(4, 0, 16, detail=1)
    views.masks = None
    with pytest.raises(ValueError, match="masks"):
        visual_hull_mesh(views, 16)


def test_masks_must_match_cameras(convex):
    _, views = convex
    with pytest.raises(ValueError, match="masks: expected \\(20, H, W\\)"):
        carve_visual_hull(views.masks[:3], views.cameras, 16)
