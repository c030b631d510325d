"""The reconstruct-image operator in Blender: from an image file or the scene camera's render, the result in
front of the scene camera where the picture shows the object; failures leave the scene as it was.

The model is a randomly initialised one saved with ``models.save_checkpoint`` (the shipped checkpoints are
trained separately): these tests check the scene plumbing, not the prediction.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

bpy = pytest.importorskip("bpy", reason="the add-on tests need the bpy module (Blender as a Python module)")

from blender_addon import look_at, state  # noqa: E402

pytestmark = [pytest.mark.blender, pytest.mark.addon]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from unrender.models import build_model, save_checkpoint

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "mesh.pt"
    save_checkpoint(path, build_model(kind="mesh", encoder="fast", latent=32))
    return str(path)


def _camera_scene(size=(80, 60)):
    """A sphere in front of a 40 mm camera looking at it from an angle, render size ``size`` (W, H)."""
    from mathutils import Matrix

    bpy.ops.mesh.primitive_uv_sphere_add(radius=0.6, location=(0.3, 0.2, 0.4))
    target = bpy.context.active_object
    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    bpy.context.scene.collection.objects.link(cam)
    bpy.context.scene.camera = cam
    cam.data.lens = 40.0
    loc = (3.0, -3.5, 2.0)
    cam.matrix_world = Matrix.Translation(loc) @ look_at(loc, (0.3, 0.2, 0.4))
    r = bpy.context.scene.render
    r.resolution_x, r.resolution_y, r.resolution_percentage = size[0], size[1], 100
    bpy.context.view_layer.update()
    return target, cam


def _new_objects(before):
    return [o for o in bpy.data.objects if o.name not in before]


def _camera_view(cam, obj):
    """``(V, 3)``: the object's vertices in the camera's normalised view (x, y in [0, 1] inside the frame; z the
    distance in front of the camera)."""
    from bpy_extras.object_utils import world_to_camera_view

    m = obj.matrix_world
    return np.array([tuple(world_to_camera_view(bpy.context.scene, cam, m @ v.co)) for v in obj.data.vertices])


def _in_frame_like(cam, new, target):
    """The new object is in front of the camera, inside its frame, over the target's place in the picture."""
    got, want = _camera_view(cam, new), _camera_view(cam, target)
    assert (got[:, 2] > 0).all()  # in front of the camera
    assert (got[:, :2] > -0.02).all() and (got[:, :2] < 1.02).all()  # inside the frame
    centre_got = (got[:, :2].min(0) + got[:, :2].max(0)) / 2
    centre_want = (want[:, :2].min(0) + want[:, :2].max(0)) / 2
    assert np.abs(centre_got - centre_want).max() < 0.08, (centre_got, centre_want)
    span_got = (got[:, :2].max(0) - got[:, :2].min(0)).max()
    span_want = (want[:, :2].max(0) - want[:, :2].min(0)).max()
    assert abs(span_got / span_want - 1) < 0.15, (span_got, span_want)


def test_from_the_scene_cameras_render(scene, checkpoint):
    target, cam = _camera_scene()
    cam_before = np.array(cam.matrix_world)
    engine = bpy.context.scene.render.engine
    before = {o.name for o in bpy.data.objects}
    assert bpy.ops.unrender.reconstruct_image(image_render=True, image_engine="WORKBENCH", image_size=80,
                                              checkpoint=checkpoint) == {"FINISHED"}
    new = _new_objects(before)
    mesh = next(o for o in new if len(o.data.polygons))
    assert len(new) == 2  # the mesh (the voxels share it) and the points
    _in_frame_like(cam, mesh, target)
    assert np.allclose(np.array(cam.matrix_world), cam_before)  # the camera stayed
    assert bpy.context.scene.render.engine == engine and bpy.context.scene.camera == cam  # settings restored
    assert mesh.data.color_attributes  # coloured from the render


def test_from_an_image_file(scene, checkpoint, tmp_path):
    target, cam = _camera_scene()
    from unrender_addon import readers

    from unrender.io import save_image
    from unrender.methods import get_method

    inp = get_method("reconstruct-image").inputs[0]
    op = type("Op", (), {"image_render": True, "image_engine": "WORKBENCH", "image_size": 80})()
    picture = readers.ImageReader().render(inp, op, bpy.context)  # the same view as a file
    assert picture.shape == (60, 80, 4)
    path = tmp_path / "view.png"
    save_image(path, picture)
    target.hide_render = True  # not rendered again: the file is the input
    before = {o.name for o in bpy.data.objects}
    assert bpy.ops.unrender.reconstruct_image(image_file=str(path), checkpoint=checkpoint) == {"FINISHED"}
    mesh = next(o for o in _new_objects(before) if len(o.data.polygons))
    _in_frame_like(cam, mesh, target)


def test_failures_leave_the_scene_unchanged(scene, checkpoint, tmp_path):
    target, cam = _camera_scene()
    empty = tmp_path / "empty.png"
    from unrender.io import save_image

    save_image(empty, torch.zeros(60, 80, 4))
    disc = tmp_path / "disc.png"
    yy, xx = torch.meshgrid(torch.arange(60.0), torch.arange(80.0), indexing="ij")
    save_image(disc, (((xx - 40) ** 2 + (yy - 30) ** 2) < 200).float()[..., None].expand(60, 80, 4).contiguous())
    cases = [
        (dict(image_file=str(empty), checkpoint=checkpoint), "empty mask"),
        (dict(image_file=str(disc), checkpoint=str(tmp_path / "missing.pt")), "missing.pt"),
        (dict(image_render=True, image_engine="WORKBENCH", image_size=80, checkpoint=str(tmp_path / "none.pt")),
         "none.pt"),
    ]
    bpy.context.scene.render.engine = "BLENDER_EEVEE" if "BLENDER_EEVEE" in {
        e.identifier for e in bpy.types.RenderSettings.bl_rna.properties["engine"].enum_items} else "CYCLES"
    for kwargs, said in cases:
        before = state()
        engine = bpy.context.scene.render.engine
        with pytest.raises(RuntimeError, match=said):
            bpy.ops.unrender.reconstruct_image(**kwargs)
        assert state() == before and bpy.context.scene.render.engine == engine
    bpy.context.scene.camera = None
    before = state()
    with pytest.raises(RuntimeError, match="needs a scene camera"):
        bpy.ops.unrender.reconstruct_image(image_render=True, checkpoint=checkpoint)
    assert state() == before
