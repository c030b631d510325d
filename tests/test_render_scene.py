"""Lambertian scene rendering in Blender's light units, and image comparison (no Blender needed).

The numbers these formulas must give were measured with Cycles (see
``unrender.render.scene``); here they are checked analytically on a plane
under an orthographic camera looking straight down.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from unrender.cameras import BlenderCamera, cameras_from_blender
from unrender.metrics import silhouette_iou
from unrender.render import (
    MeshRasterizer,
    RasterizationSettings,
    Scene,
    SceneMesh,
    ScenePointLight,
    SceneSunLight,
    compare_images,
    linear_to_srgb,
    render_scene,
    srgb_to_linear,
)
from unrender.structures import Meshes

SIZE = 40  # pixels across 4 m: 0.1 m per pixel


def _top_camera(size=SIZE, scale=4.0, height=5.0, **kw):
    """An orthographic camera at ``(0, 0, height)`` looking down -Z, +Y up in the image."""
    m = np.eye(4)
    m[2, 3] = height
    cam = BlenderCamera(matrix_world=m.tolist(), type="ORTHO", ortho_scale=scale, resolution_x=size,
                        resolution_y=size, **kw)
    return cameras_from_blender(cam)


def _pixel_xy(size=SIZE, scale=4.0):
    """World ``x`` ``(1, W)`` and ``y`` ``(H, 1)`` of the pixel centres of :func:`_top_camera`."""
    c = (np.arange(size) + 0.5) * scale / size - scale / 2
    return c[None, :], -c[:, None]


def _plane(color=(1.0, 1.0, 1.0), z=0.0, flip=False, **kw):
    # corners off the pixel grid's diagonals: no pixel centre lies on the shared edge
    v = [[-3.0, -3.1, z], [3.2, -3.0, z], [3.0, 3.0, z], [-3.1, 3.05, z]]
    f = [[0, 1, 2], [0, 2, 3]]
    if flip:
        f = [[0, 2, 1], [0, 3, 2]]
    return SceneMesh(verts=v, faces=f, color=color, **kw)


def _render(scene, cameras_size=None, **kw):
    cameras, size = cameras_size or _top_camera()
    kw.setdefault("dtype", torch.float64)
    return render_scene(scene, cameras, size, **kw)[0].double()


# ----------------------------------------------------------------------------- light units
@pytest.mark.parametrize("tilt_deg,strength", [(0.0, 1.0), (60.0, 3.0), (35.0, 2.5)])
def test_sun_lit_plane_is_albedo_times_strength_cos_over_pi(tilt_deg, strength):
    t = math.radians(tilt_deg)
    albedo = torch.tensor([0.9, 0.5, 0.2])
    sun = SceneSunLight(direction=(math.sin(t), 0.0, -math.cos(t)), color=(1.0, 0.8, 1.0), strength=strength)
    img = _render(Scene([_plane(albedo)], [sun]))
    assert torch.equal(img[..., 3], torch.ones(SIZE, SIZE, dtype=torch.float64))  # covered, no cracks
    want = albedo.double() * torch.tensor([1.0, 0.8, 1.0]).double() * strength * math.cos(t) / math.pi
    torch.testing.assert_close(img[..., :3], want.expand(SIZE, SIZE, 3), rtol=1e-5, atol=1e-6)


def test_sun_below_the_horizon_gives_nothing_but_the_ambient():
    sun = SceneSunLight(direction=(0.0, 0.0, 1.0), strength=5.0)  # shining upwards, from below the plane
    img = _render(Scene([_plane()], [sun], world_color=(0.1, 0.2, 0.3)))
    torch.testing.assert_close(img[..., :3], torch.tensor([0.1, 0.2, 0.3]).double().expand(SIZE, SIZE, 3),
                               rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("radius,soft", [(0.0, True), (1.0, True), (1.0, False)])
def test_point_light_falls_off_with_the_inverse_square_of_the_distance(radius, soft):
    loc = np.array([0.3, 0.2, 1.5])
    light = ScenePointLight(location=loc, color=(1.0, 1.0, 1.0), power=100.0, radius=radius, soft_falloff=soft)
    img = _render(Scene([_plane((0.5, 0.5, 0.5))], [light]))
    x, y = _pixel_xy()
    d2 = (x - loc[0]) ** 2 + (y - loc[1]) ** 2 + loc[2] ** 2
    cos = loc[2] / np.sqrt(d2)
    E = 100.0 / (4 * math.pi) * cos / (d2 + (radius**2 if soft else 0.0))
    want = torch.from_numpy(0.5 * E / math.pi)
    torch.testing.assert_close(img[..., 0], want, rtol=1e-4, atol=1e-7)
    # twice as far below the light: about a quarter of the irradiance under it (radius 0)
    if radius == 0:
        far = _render(Scene([_plane((0.5, 0.5, 0.5), z=-1.5)], [light]))
        r, c = np.abs(y[:, 0] - loc[1]).argmin(), np.abs(x[0] - loc[0]).argmin()  # the pixel under the light
        lateral = (x[0, c] - loc[0]) ** 2 + (y[r, 0] - loc[1]) ** 2
        want = (1.5 / (lateral + 1.5**2) ** 1.5) / (3.0 / (lateral + 3.0**2) ** 1.5)  # cos / d^2 = z / d^3
        assert math.isclose(float(img[r, c, 0] / far[r, c, 0]), want, rel_tol=1e-4)
        assert 3.9 < want <= 4.0


def test_world_colour_is_uniform_ambient_light_and_the_background():
    world = (0.5, 0.25, 0.1)
    small = SceneMesh(verts=[[-1.03, -0.98, 0], [1.01, -1.02, 0], [0.02, 1.04, 0]], faces=[[0, 1, 2]],
                      color=(0.8, 0.6, 0.4))
    img = _render(Scene([small], [], world_color=world))
    transparent = _render(Scene([small], [], world_color=world), background="transparent")
    inside = transparent[..., 3] == 1
    assert 0 < int(inside.sum()) < SIZE * SIZE and bool((img[..., 3] == 1).all())
    want = torch.tensor([0.8 * 0.5, 0.6 * 0.25, 0.4 * 0.1]).double()
    torch.testing.assert_close(img[inside][:, :3], want.expand(int(inside.sum()), 3), rtol=1e-6, atol=1e-7)
    # uncovered pixels show the world, opaque
    torch.testing.assert_close(img[~inside], torch.tensor([*world, 1.0]).double().expand(int((~inside).sum()), 4))
    assert torch.equal(transparent[~inside], torch.zeros(int((~inside).sum()), 4, dtype=torch.float64))
    torch.testing.assert_close(transparent[inside], img[inside])


def test_unlit_shading_is_the_base_colour():
    sun = SceneSunLight(strength=7.0)
    img = _render(Scene([_plane((0.3, 0.6, 0.9))], [sun], world_color=(1, 1, 1)), shading="unlit")
    torch.testing.assert_close(img[..., :3], torch.tensor([0.3, 0.6, 0.9]).double().expand(SIZE, SIZE, 3),
                               rtol=1e-6, atol=1e-7)


def test_lights_add_up_and_colours_multiply():
    sun = SceneSunLight(direction=(0, 0, -1), color=(1.0, 0.0, 0.5), strength=2.0)
    point = ScenePointLight(location=(0, 0, 2), color=(0.0, 1.0, 1.0), power=50.0)
    scene = Scene([_plane((0.5, 0.5, 0.5))], [sun, point], world_color=(0.1, 0.1, 0.1))
    both = _render(scene)
    parts = [_render(Scene(scene.meshes, [light])) for light in (sun, point)]
    ambient = _render(Scene(scene.meshes, [], world_color=(0.1, 0.1, 0.1)))
    torch.testing.assert_close(both[..., :3], parts[0][..., :3] + parts[1][..., :3] + ambient[..., :3])
    assert float(parts[0][..., 1].abs().max()) == 0.0  # the red-magenta sun has no green


def test_a_back_face_is_shaded_with_its_normal_flipped():
    sun = SceneSunLight(direction=(0, 0, -1), strength=1.0)
    front = _render(Scene([_plane()], [sun]))
    back = _render(Scene([_plane(flip=True)], [sun]))  # the same plane facing down, seen from above
    torch.testing.assert_close(back, front)


def test_vertex_normals_and_colours_are_interpolated():
    # a plane whose vertex normals all lean the same way shades like a tilted plane
    t = math.radians(40)
    n = [[math.sin(t), 0.0, math.cos(t)]] * 4
    img = _render(Scene([_plane(normals=n)], [SceneSunLight(direction=(0, 0, -1), strength=math.pi)]))
    torch.testing.assert_close(img[..., 0], torch.full((SIZE, SIZE), math.cos(t), dtype=torch.float64),
                               rtol=1e-5, atol=1e-6)
    # per-vertex colours: red on the left (x < 0), blue on the right, unlit
    colors = [[1, 0, 0], [0, 0, 1], [0, 0, 1], [1, 0, 0]]
    img = _render(Scene([SceneMesh(verts=[[-2, -2.03, 0], [2, -2.01, 0], [2.02, 2, 0], [-2.01, 2, 0]],
                                   faces=[[0, 1, 2], [0, 2, 3]], color=colors)]), shading="unlit")
    x, _ = _pixel_xy()
    torch.testing.assert_close(img[20, :, 2], torch.from_numpy((x[0] + 2) / 4), rtol=0, atol=0.01)
    torch.testing.assert_close(img[..., 0] + img[..., 2], torch.ones(SIZE, SIZE, dtype=torch.float64))
    # per-corner colours (F, 3, 3): one colour per face
    corner = torch.tensor([[[1.0, 0, 0]] * 3, [[0, 1.0, 0]] * 3])
    img = _render(Scene([_plane(color=corner)]), shading="unlit")
    first = img[..., 0] > 0.5  # the pixels of face 0
    assert 0 < int(first.sum()) < SIZE * SIZE
    want = torch.where(first[..., None], torch.tensor([1.0, 0, 0]).double(), torch.tensor([0, 1.0, 0]).double())
    torch.testing.assert_close(img[..., :3], want)


def test_perspective_camera_sees_the_light_falloff_at_the_right_places():
    """A Blender perspective camera: each pixel's surface point (not a screen position) is lit."""
    from unrender.cameras import BlenderCamera

    m = np.eye(4)
    m[:3, 3] = (0.0, 0.0, 4.0)
    cam = BlenderCamera(matrix_world=m.tolist(), lens=35.0, resolution_x=32, resolution_y=24)
    cameras, size = cameras_from_blender(cam)
    light = ScenePointLight(location=(1.0, 0.5, 1.0), power=200.0)
    img = render_scene(Scene([_plane()], [light]), cameras, size)[0].double()
    # pixel centre -> ray -> point on z = 0 (Blender: x right, y up, looking down -Z)
    H, W = size
    pix = 36.0 / 35.0 / W  # sensor fit horizontal: one pixel at unit depth
    xs = ((np.arange(W) + 0.5) - W / 2) * pix * 4.0
    ys = (H / 2 - (np.arange(H) + 0.5)) * pix * 4.0
    X, Y = np.meshgrid(xs, ys)
    d2 = (X - 1.0) ** 2 + (Y - 0.5) ** 2 + 1.0
    want = 200 / (4 * math.pi) * (1.0 / np.sqrt(d2)) / d2 / math.pi
    torch.testing.assert_close(img[..., 0], torch.from_numpy(want), rtol=2e-4, atol=1e-6)


# ----------------------------------------------------------------------------- silhouettes, cameras, filters
def _blob():
    from unrender.geometry import icosphere

    ico = icosphere(2)
    scale, shift = torch.tensor([1.3, 0.8, 0.6]).double(), torch.tensor([0.2, -0.1, 0.5]).double()
    verts = ico.verts_packed().double() * scale + shift
    return SceneMesh(verts=verts, faces=ico.faces_packed(), color=(0.7, 0.7, 0.7)), verts, ico.faces_packed()


def test_silhouette_is_the_rasterisers_coverage_and_meshes_are_joined():
    blob, verts, faces = _blob()
    other = _plane(z=-2.0)  # behind the blob, covering the view
    cameras, size = _top_camera()
    img = render_scene(Scene([blob]), cameras, size, background="transparent")[0]
    frags = MeshRasterizer(cameras, RasterizationSettings(image_size=size))(Meshes([verts.float()], [faces]))
    assert torch.equal(img[..., 3] > 0, frags.pix_to_face[0, ..., 0] >= 0)
    # joined with a plane behind it: the blob stays in front (its unlit colour), the plane fills the rest
    both = render_scene(Scene([other, blob]), cameras, size, shading="unlit", background="transparent")[0]
    blob_px = frags.pix_to_face[0, ..., 0] >= 0
    torch.testing.assert_close(both[blob_px][:, 0], torch.full((int(blob_px.sum()),), 0.7))
    torch.testing.assert_close(both[~blob_px][:, 0], torch.ones(int((~blob_px).sum())))
    assert bool((both[..., 3] == 1).all())


def test_several_cameras_render_the_scene_each():
    blob, _, _ = _blob()
    cams = [BlenderCamera(matrix_world=_look(np.array(eye)).tolist(), lens=30.0, resolution_x=24, resolution_y=20)
            for eye in ((3.0, -4.0, 2.0), (-4.0, 1.0, 3.0))]
    scene = Scene([blob], [SceneSunLight(direction=(0.2, 0.4, -1.0), strength=3.0)], world_color=(0.05, 0.05, 0.1))
    cameras, size = cameras_from_blender(cams)
    both = render_scene(scene, cameras, size, antialias=2, pixel_filter="blackman_harris")
    assert both.shape == (2, 20, 24, 4)
    for i, c in enumerate(cams):
        one, _ = cameras_from_blender(c)
        torch.testing.assert_close(both[i], render_scene(scene, one, size, antialias=2,
                                                         pixel_filter="blackman_harris")[0])
    assert not torch.allclose(both[0], both[1])


def _look(eye, target=np.zeros(3)):
    """A Blender camera matrix_world at ``eye`` looking at ``target`` (+Z up)."""
    fwd = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, fwd)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, up, -fwd, eye
    return m


@pytest.mark.parametrize("pixel_filter", ["box", "blackman_harris", "blackman_harris_radial", "gaussian"])
def test_pixel_filters_preserve_area_and_split_an_edge_in_half(pixel_filter):
    # a half plane x > 0.0 under the top camera: the edge runs between two pixel columns
    half = SceneMesh(verts=[[0.0, -9, 0], [9, -9, 0], [9, 9, 0], [0.0, 9, 0]], faces=[[0, 1, 2], [0, 2, 3]])
    img = _render(Scene([half]), antialias=4, pixel_filter=pixel_filter, background="transparent")
    alpha = img[..., 3]
    assert torch.equal(alpha[:, :18], torch.zeros(SIZE, 18, dtype=torch.float64))
    assert torch.equal(alpha[:, 22:], torch.ones(SIZE, 18, dtype=torch.float64))
    # symmetric filters: the two columns beside the edge sum to 1, and the covered area is kept
    torch.testing.assert_close(alpha[:, 19] + alpha[:, 20], torch.ones(SIZE, dtype=torch.float64))
    torch.testing.assert_close(alpha[:, 18] + alpha[:, 21], torch.ones(SIZE, dtype=torch.float64))
    assert math.isclose(float(alpha.sum()), SIZE * SIZE / 2, rel_tol=1e-9)
    if pixel_filter == "box":
        assert float(alpha[:, 19].max()) == 0.0  # the box stays inside the pixel
    else:
        assert 0.02 < float(alpha[0, 19]) < 0.4  # wider filters reach over the edge


def test_blackman_harris_edge_matches_the_cycles_filter_integral():
    """The edge response is the integral of Cycles' window over ``[-w, w]``."""
    # the edge a quarter pixel left of a pixel centre: on a boundary between the 16 x 16 samples' cells,
    # so the samples integrate the window by the midpoint rule
    half = SceneMesh(verts=[[0.025, -9, 0], [9, -9, 0], [9, 9, 0], [0.025, 9, 0]], faces=[[0, 1, 2], [0, 2, 3]])
    img = _render(Scene([half]), antialias=16, pixel_filter="blackman_harris", filter_width=1.5,
                  background="transparent")
    t = np.linspace(-1.5, 1.5, 200001)
    u = 2 * np.pi * (t / 3.0 + 0.5)
    w = 0.35875 - 0.48829 * np.cos(u) + 0.14128 * np.cos(2 * u) - 0.01168 * np.cos(3 * u)
    x, _ = _pixel_xy()
    for col in (18, 19, 20, 21):
        offset = (0.025 - x[0, col]) / 0.1  # edge position relative to the pixel centre, in pixels
        want = w[t > offset].sum() / w.sum()
        assert abs(float(img[5, col, 3]) - want) < 2e-3, (col, float(img[5, col, 3]), want)


def test_clip_range_hides_what_lies_beyond():
    near_plane = _plane((1.0, 0.0, 0.0), z=2.0)  # 3 m from the camera
    far_plane = _plane((0.0, 1.0, 0.0), z=0.0)  # 5 m
    scene = Scene([near_plane, far_plane])
    assert float(_render(scene, shading="unlit")[..., 0].min()) > 1 - 1e-6
    assert float(_render(scene, shading="unlit", clip_range=(3.5, 100.0))[..., 1].min()) > 1 - 1e-6
    hidden = _render(scene, shading="unlit", clip_range=(0.1, 2.5), background="transparent")
    assert float(hidden[..., 3].max()) == 0.0


def test_an_empty_scene_is_the_world():
    img = _render(Scene([], [SceneSunLight()], world_color=(0.2, 0.3, 0.4)))
    torch.testing.assert_close(img, torch.tensor([0.2, 0.3, 0.4, 1.0]).double().expand(SIZE, SIZE, 4))


# ----------------------------------------------------------------------------- comparing images
def test_silhouette_iou_counts():
    a = torch.zeros(2, 10, 10)
    b = torch.zeros(2, 10, 10)
    a[0, :4] = 1  # 40 pixels
    b[0, 2:6] = 0.9  # 40 pixels, 20 shared
    iou = silhouette_iou(a, b)
    assert iou.shape == (2,)
    assert math.isclose(float(iou[0]), 20 / 60, rel_tol=1e-6)
    assert float(iou[1]) == 1.0  # both empty
    assert float(silhouette_iou(a[0], a[0] > 0.5)) == 1.0
    assert float(silhouette_iou(b[0], b[0], threshold=0.95)) == 1.0  # empty at that threshold
    with pytest.raises(ValueError, match="target: expected the shape of pred"):
        silhouette_iou(a, b[0])
    with pytest.raises(ValueError, match=r"pred: expected shape \(B, H, W\) or \(H, W\)"):
        silhouette_iou(a[0, 0], b[0, 0])


def test_identical_images_compare_perfectly():
    blob, _, _ = _blob()
    img = render_scene(Scene([blob], [SceneSunLight()]), *_top_camera(), background="transparent")[0]
    out = compare_images(img, img.clone())
    assert out["iou"] == 1.0 and out["psnr"] == math.inf
    assert out["max_abs_diff"] == 0.0 and out["mean_abs_diff"] == 0.0
    assert out["difference"].shape == (SIZE, SIZE, 3) and float(out["difference"].abs().max()) == 0.0
    assert out["pixels"] == int((img[..., 3] > 0.5).sum())


def test_known_display_offsets_give_known_psnr():
    H, W = 20, 30
    ref_display = torch.full((H, W, 3), 0.4, dtype=torch.float64)
    ref_display[:, :10] = 0.0  # a background strip
    alpha = torch.ones(H, W, dtype=torch.float64)
    alpha[:, :10] = 0.0
    ours_display = ref_display.clone()
    ours_display[:, 10:] += 0.1  # +0.1 in display values on the silhouette
    ref = torch.cat([srgb_to_linear(ref_display), alpha[..., None]], -1)
    ours = torch.cat([srgb_to_linear(ours_display), alpha[..., None]], -1)
    out = compare_images(ref, ours)
    assert out["iou"] == 1.0
    assert math.isclose(out["psnr"], 20.0, abs_tol=1e-4)  # 10 log10(1 / 0.1^2)
    assert math.isclose(out["max_abs_diff"], 0.1, abs_tol=1e-6)
    assert math.isclose(out["mean_abs_diff"], 0.1, abs_tol=1e-6)
    assert out["pixels"] == H * 20
    whole = compare_images(ref, ours, region="image")  # the matching background now counts too
    assert math.isclose(whole["psnr"], 20.0 + 10 * math.log10(30 / 20), abs_tol=1e-4)
    torch.testing.assert_close(out["difference"][:, 10:], torch.full((H, 20, 3), 0.1), atol=1e-6, rtol=0)
    # numpy arrays and opaque RGB images are accepted
    rgb = compare_images(ref[..., :3].numpy(), ours[..., :3].numpy(), region="image")
    assert rgb["iou"] == 1.0 and math.isclose(rgb["psnr"], whole["psnr"], abs_tol=1e-6)


def test_silhouette_iou_of_shifted_squares():
    a = torch.zeros(20, 20, 4)
    b = torch.zeros(20, 20, 4)
    a[5:15, 5:15] = 1.0  # 100 pixels
    b[5:15, 7:17] = 1.0  # 100 pixels, 80 shared
    assert math.isclose(compare_images(a, b)["iou"], 80 / 120, rel_tol=1e-6)


def test_srgb_round_trip():
    x = torch.linspace(0, 1, 101, dtype=torch.float64)
    torch.testing.assert_close(srgb_to_linear(linear_to_srgb(x)), x)
    assert math.isclose(float(linear_to_srgb(torch.tensor(0.18))), 0.4613561, abs_tol=1e-6)
    assert math.isclose(float(linear_to_srgb(torch.tensor(2.0))), 1.0, abs_tol=1e-6)  # clipped, as "Standard"


# ----------------------------------------------------------------------------- bad input
def test_bad_scenes_are_errors_naming_the_input():
    cameras, size = _top_camera()
    tri = dict(verts=[[0, 0, 0], [1, 0, 0], [0, 1, 0]], faces=[[0, 1, 2]])
    cases = [
        ("scene: expected a Scene", [SceneMesh(**tri)]),
        (r"scene.meshes\[0\]: expected a SceneMesh", Scene(["mesh"])),
        (r"scene.meshes\[0\] \('tri'\).color: expected shape \(3,\), \(V=3, 3\) or \(F=1, 3, 3\), found \(4,\)",
         Scene([SceneMesh(**tri, color=(1, 0, 0, 1), name="tri")])),
        (r"scene.meshes\[0\] \('mesh'\).faces: expected indices in \[0, 2\], found \[0, 3\]",
         Scene([SceneMesh(verts=tri["verts"], faces=[[0, 1, 3]])])),
        (r"scene.meshes\[0\] \('mesh'\).verts: expected shape \(V, 3\)", Scene([SceneMesh(verts=[[0, 0]], faces=[])])),
        (r"scene.meshes\[0\] \('mesh'\).verts: expected finite values",
         Scene([SceneMesh(verts=[[0, 0, math.nan], [1, 0, 0], [0, 1, 0]], faces=[[0, 1, 2]])])),
        (r"scene.meshes\[0\] \('mesh'\).normals: expected None, shape \(V=3, 3\) or \(F=1, 3, 3\)",
         Scene([SceneMesh(**tri, normals=[[0, 0, 1]])])),
        (r"scene.lights\[0\]: expected a SceneSunLight or a ScenePointLight, found str", Scene([SceneMesh(**tri)], ["sun"])),
        (r"scene.lights\[0\].direction: expected a non-zero vector", Scene([], [SceneSunLight(direction=(0, 0, 0))])),
        (r"scene.lights\[0\].power: expected a number >= 0, found -1", Scene([], [ScenePointLight(power=-1)])),
        (r"scene.lights\[0\].location: expected 3 numbers, found shape \(2,\)",
         Scene([], [ScenePointLight(location=(0, 0))])),
        (r"scene.world_color: expected 3 numbers", Scene([], [], world_color=0.5)),
    ]
    for match, scene in cases:
        with pytest.raises(ValueError, match=match):
            render_scene(scene, cameras, size)


def test_bad_render_options_are_errors_naming_the_option():
    cameras, size = _top_camera()
    scene = Scene([_plane()])
    cases = [
        ("shading: expected 'lit' or 'unlit', found 'phong'", dict(shading="phong")),
        ("background: expected 'world' or 'transparent'", dict(background="black")),
        (r"antialias: expected an int in \[1, 16\], found 0", dict(antialias=0)),
        ("pixel_filter: expected one of", dict(pixel_filter="mitchell")),
        (r"filter_width: expected a radius in \(0, 16\] pixels, found 0.0",
         dict(pixel_filter="gaussian", filter_width=0)),
        (r"clip_range: expected 0 <= clip_start < clip_end, found \(2.0, 1.0\)", dict(clip_range=(2, 1))),
    ]
    for match, kw in cases:
        with pytest.raises(ValueError, match=match):
            render_scene(scene, cameras, size, **kw)
    with pytest.raises(ValueError, match="cameras: expected unrender cameras, found str"):
        render_scene(scene, "camera", size)
    with pytest.raises(ValueError, match="image_size"):
        render_scene(scene, cameras, (0, 10))


def test_bad_comparisons_are_errors_naming_the_input():
    a = torch.zeros(8, 8, 4)
    with pytest.raises(ValueError, match=r"ours: expected the size of reference \(8, 8\), found \(8, 9\)"):
        compare_images(a, torch.zeros(8, 9, 4))
    with pytest.raises(ValueError, match=r"reference: expected a float \(H, W, 4\) RGBA or \(H, W, 3\) RGB image"):
        compare_images(torch.zeros(8, 8), a)
    with pytest.raises(ValueError, match="ours: expected an \\(H, W, 4\\) tensor or array, found list"):
        compare_images(a, [[0.0]])
    with pytest.raises(ValueError, match="ours: expected finite values"):
        compare_images(a, torch.full((8, 8, 4), math.nan))
    with pytest.raises(ValueError, match="region: expected 'union' or 'image'"):
        compare_images(a, a, region="mask")
    with pytest.raises(ValueError, match=r"threshold: expected a number in \[0, 1\)"):
        compare_images(a, a, threshold=1.0)
