"""Posed views from the scene (issue 12, section 5, the add-on): the selected object rendered by Blender from a
ring of cameras, the scene's cameras with their image files, "Export views (transforms.json)", and a
vertex-coloured mesh result written as a colour attribute with a material that shows it.

Renders are small (48 x 48 or 64 x 48) Cycles renders with one sample at each pixel centre, so a
render's alpha is the coverage unrender's rasteriser computes through the same cameras.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

bpy = pytest.importorskip("bpy", reason="the add-on tests need the bpy module (Blender as a Python module)")

from blender_addon import activate, cycles_coverage_settings, ellipsoid, look_at, state  # noqa: E402

pytestmark = [pytest.mark.blender, pytest.mark.addon]


def _world_mesh(obj):
    from unrender_addon import convert

    return convert.to_meshes(*convert.mesh_arrays(obj))


def _iou_per_view(mesh, views) -> list[float]:
    """Silhouette IoU of ``mesh`` rasterised by unrender through each view's camera against the view's mask."""
    from unrender.render.mesh import MeshRasterizer, RasterizationSettings

    settings = RasterizationSettings(image_size=views.image_size, blur_radius=0.0, faces_per_pixel=1)
    out = []
    for i in range(len(views)):
        frags = MeshRasterizer(cameras=views.cameras[i].to(dtype=torch.float32), raster_settings=settings)(mesh)
        ours = (frags.pix_to_face[0, ..., 0] >= 0).numpy()
        theirs = views.masks[i].numpy() > 0.5
        out.append(float((ours & theirs).sum() / max((ours | theirs).sum(), 1)))
    return out


def _settings_state(scene):
    r = scene.render
    return (r.engine, r.resolution_x, r.resolution_y, r.resolution_percentage, r.film_transparent, r.filepath,
            r.image_settings.file_format, scene.view_settings.view_transform,
            sorted((o.name, o.hide_render) for o in bpy.data.objects), len(bpy.data.cameras))


@pytest.fixture
def two_objects(scene):
    """An ellipsoid (active) and a cube beside it; Cycles set to measure coverage; the scene renders 64 x 48."""
    cycles_coverage_settings(scene)
    scene.render.engine = "BLENDER_WORKBENCH"  # the views' engine is chosen per call
    scene.render.film_transparent = False
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 64, 48, 100
    bpy.ops.mesh.primitive_cube_add(size=0.8, location=(3.0, 0.0, 0.0))
    bpy.context.active_object.name = "Cube"
    target = ellipsoid(location=(0.2, -0.1, 0.3), scale=(0.9, 0.6, 0.5))
    activate(target)
    return scene, target


# ----------------------------------------------------------------------------- placement
def test_ring_cameras_look_at_the_bounds_and_fit_them(addon):
    from unrender_addon import views

    dirs = views.view_directions(12, "RING", 30.0)
    assert np.allclose(np.linalg.norm(dirs, axis=1), 1) and np.allclose(dirs[:, 2], np.sin(np.radians(30)))
    sphere = views.view_directions(20, "SPHERE")
    assert sphere[:, 2].max() > 0.5 and sphere[:, 2].min() < -0.5  # both halves
    m = views.look_at(np.array([3.0, -2.0, 1.0]), np.array([0.0, 0.5, 0.2]))
    forward = -m[:3, 2]
    assert np.allclose(forward, np.array([-3.0, 2.5, -0.8]) / np.linalg.norm([-3.0, 2.5, -0.8]))
    assert np.allclose(m[:3, :3].T @ m[:3, :3], np.eye(3)) and np.linalg.det(m[:3, :3]) > 0
    assert abs(m[2, 0]) < 1e-12 and m[2, 1] > 0  # image x level, image up towards world +Z
    # a 50 mm lens on a 36 mm sensor: the sphere's silhouette half-angle equals the half field of view / margin
    d = views.fit_distance(1.0, 50.0, 36.0, margin=1.0)
    assert np.isclose(np.arcsin(1.0 / d), np.arctan(18.0 / 50.0))


# ----------------------------------------------------------------------------- render the selected object
def test_rendered_ring_matches_unrender_silhouettes_and_restores_the_scene(two_objects):
    from unrender_addon import views

    scene, target = two_objects
    before, settings = state(), _settings_state(scene)
    calls = []
    got = views.render_object_views(bpy.context, target, 6, elevation=25.0, size=48, engine="CYCLES",
                                    progress=lambda d, t: calls.append((d, t)))
    assert calls == [(i, 6) for i in range(1, 7)]
    assert len(got) == 6 and got.image_size == (48, 48) and got.masks is not None
    assert state() == before and _settings_state(scene) == settings  # cameras gone, settings and cube back
    ious = _iou_per_view(_world_mesh(target), got)  # the cube, hidden while rendering, is in no mask
    assert min(ious) >= 0.99, ious
    coverage = got.masks.mean((1, 2))
    assert bool((coverage > 0.1).all() and (coverage < 0.8).all()), coverage  # the bounds fit the frame


def test_a_failure_half_way_restores_the_scene(two_objects):
    from unrender_addon import views

    scene, target = two_objects
    before, settings = state(), _settings_state(scene)

    def fail(done, total):
        if done == 2:
            raise KeyboardInterrupt("stopped at view 2")

    with pytest.raises(KeyboardInterrupt, match="view 2"):
        views.render_object_views(bpy.context, target, 4, size=16, engine="WORKBENCH", progress=fail)
    assert state() == before and _settings_state(scene) == settings


def test_rendering_nothing_selected_or_a_camera_is_refused(two_objects):
    from unrender_addon import views

    scene, _ = two_objects
    before = state()
    with pytest.raises(ValueError, match="nothing selected"):
        views.render_object_views(bpy.context, None, 4)
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    scene.collection.objects.link(cam)
    with pytest.raises(ValueError, match="camera object 'Cam'"):
        views.render_object_views(bpy.context, cam, 4)
    bpy.data.objects.remove(cam)
    assert state() == before


# ----------------------------------------------------------------------------- existing cameras with images
def _cameras_with_images(scene, tmp_path, sizes):
    """Cameras ``Cam0``, ``Cam1``, ... looking at the origin, each with a PNG of its size as background image."""
    from mathutils import Matrix

    from unrender.io import save_image

    cams = []
    for i, (w, h) in enumerate(sizes):
        cam = bpy.data.objects.new(f"Cam{i}", bpy.data.cameras.new(f"Cam{i}"))
        scene.collection.objects.link(cam)
        loc = (4.0 * np.cos(i), 4.0 * np.sin(i), 1.5)
        cam.matrix_world = Matrix.Translation(loc) @ look_at(loc)
        path = tmp_path / f"Cam{i}.png"
        save_image(path, torch.rand(h, w, 4))
        bg = cam.data.background_images.new()
        bg.image = bpy.data.images.load(str(path))
        cams.append(cam)
    bpy.context.view_layer.update()
    return cams


def test_scene_cameras_with_background_images_or_a_folder(scene, tmp_path):
    from unrender.cameras import BlenderCamera, cameras_from_blender
    from unrender_addon import views

    cams = _cameras_with_images(scene, tmp_path, [(40, 30)] * 3)
    activate(cams[2])
    cams[0].select_set(True)
    assert [c.name for c in views.scene_cameras(bpy.context, "SELECTED")] == ["Cam0", "Cam2"]
    got = views.camera_views(bpy.context, views.scene_cameras(bpy.context, "ALL"))
    assert len(got) == 3 and got.image_size == (30, 40) and got.masks is not None
    assert got.file_names == ["Cam0", "Cam1", "Cam2"]
    b = BlenderCamera.from_bpy(cams[1], scene)
    b.resolution_x, b.resolution_y, b.resolution_percentage = 40, 30, 100
    want, _ = cameras_from_blender(b)
    assert torch.allclose(got.cameras[1].get_world_to_view_transform().get_matrix(),
                          want.get_world_to_view_transform().get_matrix(), atol=1e-9)
    from_folder = views.camera_views(bpy.context, cams, folder=str(tmp_path))  # files named after the cameras
    assert torch.equal(from_folder.images, got.images)


def test_cameras_without_images_or_of_different_sizes_are_named(scene, tmp_path):
    from unrender_addon import views

    cams = _cameras_with_images(scene, tmp_path, [(40, 30), (40, 30), (32, 32)])
    with pytest.raises(ValueError, match=r"camera 'Cam2': expected a 40x30 image like 'Cam0''s, found 32x32"):
        views.camera_views(bpy.context, cams)
    cams[1].data.background_images.clear()
    with pytest.raises(ValueError, match="camera 'Cam1': expected a background image"):
        views.camera_views(bpy.context, cams)
    with pytest.raises(ValueError, match="camera 'Cam0': expected an image file named Cam0.png"):
        views.camera_views(bpy.context, cams, folder=str(tmp_path / "nowhere"))
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    with pytest.raises(ValueError, match="expected selected cameras, found none"):
        views.scene_cameras(bpy.context, "SELECTED")


# ----------------------------------------------------------------------------- export
def test_export_views_writes_a_transforms_json_other_tools_read(two_objects, tmp_path):
    from mathutils import Matrix

    from unrender.cameras import BlenderCamera, cameras_from_blender
    from unrender.io import load_image, load_views

    scene, target = two_objects
    cycles_coverage_settings(scene)  # the scene's engine: one sample per pixel centre
    scene.render.film_transparent = False  # the export's own setting makes the film transparent
    cams = []
    for i, loc in enumerate([(3.0, -2.5, 1.5), (-2.0, -3.0, 2.0), (0.5, 3.5, -1.0)]):
        cam = bpy.data.objects.new(f"View{i}", bpy.data.cameras.new(f"View{i}"))
        scene.collection.objects.link(cam)
        cam.data.lens = 35.0
        cam.matrix_world = Matrix.Translation(loc) @ look_at(loc, (0.2, -0.1, 0.3))
        cams.append(cam)
    bpy.context.view_layer.update()
    for o in bpy.context.view_layer.objects:
        o.select_set(o.name in ("View0", "View2"))
    before, settings = state(), _settings_state(scene)
    out = tmp_path / "export" / "transforms.json"
    assert bpy.ops.unrender.export_views(filepath=str(out), source="SELECTED") == {"FINISHED"}
    assert state() == before and _settings_state(scene) == settings
    record = json.loads(out.read_text())
    assert [f["file_path"] for f in record["frames"]] == ["View0.png", "View2.png"]
    assert load_image(out.parent / "View0.png").shape == (48, 64, 4)  # the render size, with alpha
    views = load_views(out, dtype=torch.float64)
    want, size = cameras_from_blender([BlenderCamera.from_bpy(cams[i], scene) for i in (0, 2)])
    assert views.image_size == size == (48, 64)
    assert torch.allclose(views.cameras.get_world_to_view_transform().get_matrix(),
                          want.get_world_to_view_transform().get_matrix(), atol=1e-6)
    points = torch.rand(1, 50, 3, dtype=torch.float64) - 0.5
    assert torch.allclose(views.cameras.transform_points_screen(points.expand(2, -1, -1)),
                          want.transform_points_screen(points.expand(2, -1, -1)), atol=1e-6)
    # both objects render (nothing hidden): the masks are the scene's silhouettes
    from unrender import Meshes
    from unrender_addon import convert

    parts = [convert.mesh_arrays(o) for o in (target, bpy.data.objects["Cube"])]
    verts = np.concatenate([parts[0][0], parts[1][0]])
    faces = np.concatenate([parts[0][1], parts[1][1] + len(parts[0][0])])
    mesh = Meshes(verts=[torch.tensor(verts, dtype=torch.float32)], faces=[torch.from_numpy(faces)])
    ious = _iou_per_view(mesh, views)
    assert min(ious) >= 0.99, ious


def test_esc_stops_the_export_between_views_writes_nothing_and_restores_the_scene(two_objects, tmp_path):
    import blender_addon
    from unrender_addon import views

    scene, target = two_objects
    before, settings = state(), _settings_state(scene)
    out = tmp_path / "esc" / "transforms.json"
    run = views.ExportRun(views.object_view_render(bpy.context, target, 5, size=16, engine="WORKBENCH"), out)
    assert len(bpy.data.cameras) == 5 and run.run.step() is False  # temporary cameras; one view rendered
    result, reports = blender_addon.drive_modal(run.modal, [("ESC", {"RUNNING_MODAL"})])
    assert result == {"CANCELLED"} and reports == [({"WARNING"}, "Export views cancelled; nothing written")]
    assert run.run.done == 1 and not out.parent.exists()
    assert state() == before and _settings_state(scene) == settings
    run = views.ExportRun(views.object_view_render(bpy.context, target, 3, size=16, engine="WORKBENCH"), out)
    result, reports = blender_addon.drive_modal(run.modal, [("MOUSEMOVE", {"PASS_THROUGH"})])  # Blender stays usable
    assert result == {"FINISHED"} and reports[-1][1].startswith("Exported 3 views (16x16)")
    assert out.is_file() and state() == before and _settings_state(scene) == settings


def test_export_with_no_selected_camera_reports_and_writes_nothing(two_objects, tmp_path):
    scene, _ = two_objects
    before = state()
    out = tmp_path / "none" / "transforms.json"
    with pytest.raises(RuntimeError, match="expected selected cameras, found none"):
        bpy.ops.unrender.export_views(filepath=str(out), source="SELECTED")
    assert not out.parent.exists() and state() == before


# ----------------------------------------------------------------------------- a views input, a coloured mesh output
class _MeanColor:
    """A test-only method (not registered): views in, the views' bounds as a box mesh whose vertex colours are
    fixed, known values."""

    id, label = "views-colour-test", "Views colour test"
    COLORS = torch.tensor([[0.0, 0.25, 1.0], [0.5, 0.04, 0.9], [1.0, 0.5, 0.0], [0.2, 0.7, 0.3],
                           [0.9, 0.9, 0.1], [0.01, 0.6, 0.8], [0.33, 0.66, 0.99], [0.75, 0.1, 0.45]])

    @classmethod
    def make(cls):
        from unrender.methods import Input, Method, Output, Result

        def run(self, inputs, params, progress):
            progress(1, 1, float(inputs["views"].masks.mean()))
            return Result(outputs={"mesh": cls.mesh()}, metrics={"views": len(inputs["views"])})

        return type("MeanColor", (Method,), {
            "id": cls.id, "label": cls.label, "description": "test",
            "inputs": (Input("views", ("views",), "the views"),),
            "outputs": (Output("mesh", "mesh", "a coloured box"),), "run": run})()

    @classmethod
    def mesh(cls):
        from unrender import Meshes
        from unrender.render import TexturesVertex

        corners = torch.tensor([[x, y, z] for x in (0.0, 1.0) for y in (0.0, 1.0) for z in (0.0, 1.0)])
        faces = torch.tensor([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                              [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])
        return Meshes(verts=[corners], faces=[faces], textures=TexturesVertex([cls.COLORS]))


def _options(method, **given) -> dict:
    """An operator's options for ``method``: every property at its default, then ``given``."""
    from unrender_addon import properties, readers

    opts = {}
    for inp in method.inputs:
        for key, prop in readers.reader_for(inp).operator_props(inp, False).items():
            opts[key] = prop.keywords.get("default", "")
    for key, prop in properties.param_annotations(method).items():
        opts[key] = prop.keywords["default"]
    opts.update(given)
    return opts


def test_views_input_renders_the_selected_object_and_a_coloured_mesh_comes_back(two_objects):
    from unrender_addon.operators import Session

    scene, target = two_objects
    method = _MeanColor.make()
    before, settings = state(), _settings_state(scene)
    session = Session(_options(method, views_count=4, views_size=24, views_engine="WORKBENCH"), bpy.context, method)
    got = session.inputs["views"]
    assert len(got) == 4 and got.image_size == (24, 24) and got.masks is not None
    assert state() == before and _settings_state(scene) == settings
    session.write(SimpleNamespace(outputs={"mesh": _MeanColor.mesh()}))
    obj = session.objects["mesh"]
    attr = obj.data.color_attributes.active_color
    assert attr.domain == "POINT" and attr.data_type == "FLOAT_COLOR"
    assert obj.data.color_attributes.render_color_index == obj.data.color_attributes.active_color_index
    srgb = np.empty(len(obj.data.vertices) * 4, np.float32)
    attr.data.foreach_get("color_srgb", srgb)
    assert np.allclose(srgb.reshape(-1, 4)[:, :3], _MeanColor.COLORS.numpy(), atol=1e-3)
    linear = np.empty_like(srgb)
    attr.data.foreach_get("color", linear)
    c = _MeanColor.COLORS.numpy()
    want = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    assert np.allclose(linear.reshape(-1, 4)[:, :3], want, atol=1e-3)
    (mat,) = obj.data.materials
    bsdf = next(n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
    (link,) = bsdf.inputs["Base Color"].links
    assert link.from_node.bl_idname == "ShaderNodeVertexColor" and link.from_node.layer_name == attr.name
    session.restore()  # ESC / failure: the object, its mesh and its material go
    assert state() == before and not any(m.get("unrender_vertex_colors") for m in bpy.data.materials)


def test_views_input_with_nothing_selected_reports_and_changes_nothing(two_objects):
    from unrender_addon.operators import Session

    scene, _ = two_objects
    activate(None)
    method = _MeanColor.make()
    before, settings = state(), _settings_state(scene)
    with pytest.raises(ValueError, match="nothing selected"):
        Session(_options(method, views_count=2, views_size=16), bpy.context, method)
    assert state() == before and _settings_state(scene) == settings


def test_the_operator_renders_views_modally_esc_restores_then_the_method_runs_on_them(two_objects):
    import blender_addon
    from unrender_addon import readers
    from unrender_addon.operators import RenderThenRun

    scene, target = two_objects
    method = _MeanColor.make()
    options = _options(method, views_count=4, views_size=16, views_engine="WORKBENCH")
    before, settings = state(), _settings_state(scene)
    run = RenderThenRun(options, bpy.context, method, readers.renders(method, SimpleNamespace(**options), bpy.context))
    assert run.update(bpy.context).done is False and len(bpy.data.cameras) == 4  # one view rendered
    result, reports = blender_addon.drive_modal(run.modal, [("ESC", {"RUNNING_MODAL"})])
    assert result == {"CANCELLED"} and reports == [({"WARNING"}, "Views colour test cancelled; the scene is unchanged")]
    assert state() == before and _settings_state(scene) == settings

    run = RenderThenRun(options, bpy.context, method, readers.renders(method, SimpleNamespace(**options), bpy.context))
    result, reports = blender_addon.drive_modal(run.modal, [("MOUSEMOVE", {"PASS_THROUGH"})])
    assert result == {"FINISHED"}, reports
    assert reports[-1][1].startswith("Views colour test: views 4")
    (new,) = [o for o in bpy.data.objects if o.name not in {n for n, _ in before[0]}]
    # the renders' settings and visibility are undone; only the result is new
    assert _settings_state(scene)[:8] == settings[:8] and _settings_state(scene)[9] == settings[9]
    assert [h for n, h in _settings_state(scene)[8] if n != new.name] == [h for _, h in settings[8]]
    assert new.name == "Views colour test Target"  # named after the object rendered
    assert new.data.color_attributes.active_color is not None and len(new.data.materials) == 1


def test_views_input_from_scene_cameras_or_a_transforms_json(scene, tmp_path):
    from unrender.io import save_views
    from unrender_addon.operators import Session

    cams = _cameras_with_images(scene, tmp_path, [(40, 30)] * 2)
    method = _MeanColor.make()
    for o in cams:
        o.select_set(True)
    session = Session(_options(method, views_source="CAMERAS"), bpy.context, method)
    got = session.inputs["views"]
    assert got.file_names == ["Cam0", "Cam1"] and got.image_size == (30, 40)
    save_views(tmp_path / "set" / "transforms.json", got, split_files=False)
    session = Session(_options(method, views_source="FILE", views_file=str(tmp_path / "set")), bpy.context, method)
    back = session.inputs["views"]
    assert torch.allclose(back.images, got.images, atol=1 / 255) and back.file_names == ["Cam0", "Cam1"]
    with pytest.raises(ValueError, match="views: expected a transforms.json file or folder, found none"):
        Session(_options(method, views_source="FILE"), bpy.context, method)


def test_reconstruct_views_carves_the_selected_object_into_a_coloured_mesh(two_objects):
    import blender_addon
    from unrender.methods import get_method
    from unrender_addon import readers
    from unrender_addon.operators import RenderThenRun

    scene, target = two_objects
    method = get_method("reconstruct-views")
    options = _options(method, views_count=16, views_size=32, views_engine="WORKBENCH", views_layout="SPHERE",
                       strategy="hull", resolution=32, extent=1.5)
    before = state()
    run = RenderThenRun(options, bpy.context, method, readers.renders(method, SimpleNamespace(**options), bpy.context))
    result, reports = blender_addon.drive_modal(run.modal, [("MOUSEMOVE", {"PASS_THROUGH"})])
    assert result == {"FINISHED"}, reports
    (new,) = [o for o in bpy.data.objects if o.name not in {n for n, _ in before[0]}]
    assert new.data.color_attributes.active_color is not None and len(new.data.materials) == 1
    # the hull of views spread over a sphere holds the ellipsoid: its box is at least the object's, not much more
    lo = np.min([new.matrix_world @ v.co for v in new.data.vertices], 0)
    hi = np.max([new.matrix_world @ v.co for v in new.data.vertices], 0)
    size = np.array([1.8, 1.2, 1.0])
    assert np.all(hi - lo > 0.9 * size) and np.all(hi - lo < 1.4 * size), (lo, hi)
