"""Shaders, lights, materials, blending and textures: PyTorch3D parity on the same fragments.

Both implementations shade the fragments of PyTorch3D's own rasteriser, so
these tests do not depend on unrender's rasteriser; one end-to-end test at
the end renders with unrender's rasteriser and cameras.
"""

from types import SimpleNamespace

import pytest
import torch

import unrender.render as U
from unrender.geometry.primitives import icosphere
from unrender.structures import Meshes

P = pytest.importorskip("pytorch3d.renderer", reason="PyTorch3D reference not installed")
from pytorch3d.structures import Meshes as PMeshes  # noqa: E402

pytestmark = pytest.mark.pytorch3d

SHADERS = ["HardPhongShader", "SoftPhongShader", "HardGouraudShader", "SoftGouraudShader", "HardFlatShader"]
BG = (0.1, 0.2, 0.3)


def _lights(kind, n=1):
    loc = [[1.0, 2.0, 3.0], [-2.0, 1.0, 2.5]][:n]
    dirs = [[0.3, 1.0, 0.5], [-0.5, 0.2, 1.0]][:n]
    if kind == "point":
        return P.PointLights(location=loc), U.PointLights(location=loc)
    if kind == "directional":
        kw = dict(direction=dirs, ambient_color=[[0.2, 0.25, 0.3]], diffuse_color=[[0.6, 0.5, 0.4]], specular_color=[[0.3, 0.3, 0.2]])
        return P.DirectionalLights(**kw), U.DirectionalLights(**kw)
    return P.AmbientLights(ambient_color=[[0.7, 0.8, 0.9]]), U.AmbientLights(ambient_color=[[0.7, 0.8, 0.9]])


@pytest.fixture(scope="module")
def scene():
    """Two meshes of different sizes, per-vertex colours, PyTorch3D fragments (hard and soft)."""
    g = torch.Generator().manual_seed(0)
    m1, m2 = icosphere(2), icosphere(1)
    v2 = m2.verts_packed() * 0.8 + torch.tensor([0.2, -0.1, 0.3])
    mesh = Meshes([m1.verts_packed(), v2], [m1.faces_packed(), m2.faces_packed()])
    cols = [torch.rand(v.shape[0], 3, generator=g) for v in mesh.verts_list()]
    R, T = P.look_at_view_transform(torch.tensor([2.7, 3.0]), torch.tensor([20.0, -10.0]), torch.tensor([30.0, 150.0]))
    cams = P.FoVPerspectiveCameras(R=R, T=T, znear=0.5, zfar=10.0)
    pm = PMeshes(mesh.verts_list(), mesh.faces_list(), textures=P.TexturesVertex(cols))
    frags = {}
    for name, rs in {
        "hard": P.RasterizationSettings(image_size=48, blur_radius=0.0, faces_per_pixel=1),
        "soft": P.RasterizationSettings(image_size=(40, 56), blur_radius=2e-4, faces_per_pixel=4),
    }.items():
        frags[name] = P.MeshRasterizer(cameras=cams, raster_settings=rs)(pm)
    return SimpleNamespace(mesh=mesh, cols=cols, cams=cams, pm=pm, frags=frags)


@pytest.mark.parametrize("shader", SHADERS)
@pytest.mark.parametrize("lights", ["point", "directional", "ambient"])
@pytest.mark.parametrize("frag", ["hard", "soft"])
def test_shader_parity(scene, shader, lights, frag):
    lp, lu = _lights(lights, n=2)
    mats = dict(ambient_color=[[0.9, 1.0, 0.8]], diffuse_color=[[1.0, 0.9, 0.7]], specular_color=[[0.5, 0.6, 0.7]], shininess=30.0)
    ref = getattr(P, shader)(
        cameras=scene.cams, lights=lp, materials=P.Materials(**mats), blend_params=P.BlendParams(background_color=BG)
    )(scene.frags[frag], scene.pm)
    ours = getattr(U, shader)(
        cameras=scene.cams, lights=lu, materials=U.Materials(**mats), blend_params=U.BlendParams(background_color=BG)
    )(scene.frags[frag], scene.mesh, textures=U.TexturesVertex(scene.cols))
    assert ours.shape == ref.shape
    assert float((ours - ref).abs().max()) < 1e-4


@pytest.mark.parametrize("shader", ["HardPhongShader", "SoftPhongShader", "HardFlatShader", "SoftGouraudShader"])
def test_per_image_materials_match_single_image_renders(scene, shader):
    # PyTorch3D's per-pixel shading mis-broadcasts a batch of N > 1 materials
    # ((N, 3) against (N, H, W, K, 3)), so the reference is one render per image.
    f = scene.frags["soft"]
    lp, lu = _lights("point", n=2)
    mats = dict(diffuse_color=[[1.0, 0.9, 0.7], [0.5, 0.8, 1.0]], specular_color=[[0.5, 0.6, 0.7]], shininess=torch.tensor([20.0, 64.0]))
    ours = getattr(U, shader)(cameras=scene.cams, lights=lu, materials=U.Materials(**mats))(f, scene.mesh, textures=scene.cols)
    for i in range(2):
        fi = SimpleNamespace(**{k: getattr(f, k)[i : i + 1] for k in ("pix_to_face", "zbuf", "bary_coords", "dists")})
        fi.pix_to_face = torch.where(fi.pix_to_face >= 0, fi.pix_to_face - int(scene.mesh.mesh_to_faces_packed_first_idx()[i]), fi.pix_to_face)
        li = P.PointLights(location=lp.location[i : i + 1])
        mi = P.Materials(diffuse_color=[mats["diffuse_color"][i]], specular_color=mats["specular_color"], shininess=mats["shininess"][i : i + 1])
        ref = getattr(P, shader)(cameras=scene.cams[i], lights=li, materials=mi)(fi, scene.pm[i])
        assert float((ours[i : i + 1] - ref).abs().max()) < 1e-4


def test_silhouette_parity_and_gradient(scene):
    f = scene.frags["soft"]
    bp = dict(sigma=1e-4, gamma=1e-4)
    d1 = f.dists.clone().requires_grad_()
    d2 = f.dists.clone().requires_grad_()
    ref = P.SoftSilhouetteShader(P.BlendParams(**bp))(SimpleNamespace(pix_to_face=f.pix_to_face, dists=d1, bary_coords=f.bary_coords, zbuf=f.zbuf), scene.pm)
    ours = U.SoftSilhouetteShader(U.BlendParams(**bp))(SimpleNamespace(pix_to_face=f.pix_to_face, dists=d2, bary_coords=f.bary_coords, zbuf=f.zbuf))
    assert float((ours - ref).detach().abs().max()) < 1e-5
    w = torch.rand(ref.shape[:3], generator=torch.Generator().manual_seed(1))
    (ref[..., 3] * w).sum().backward()
    (ours[..., 3] * w).sum().backward()
    scale = float(d1.grad.abs().max())
    assert scale > 0 and float((d1.grad - d2.grad).abs().max()) <= 1e-4 * scale


def test_blend_functions_on_dense_colours(scene):
    f = scene.frags["soft"]
    colors = torch.rand(*f.pix_to_face.shape, 3, generator=torch.Generator().manual_seed(2))
    bp = P.BlendParams(sigma=3e-4, gamma=2e-2, background_color=BG)
    ubp = U.BlendParams(sigma=3e-4, gamma=2e-2, background_color=BG)
    a = P.softmax_rgb_blend(colors, f, bp, znear=torch.tensor([0.5, 0.7]), zfar=torch.tensor([10.0, 12.0]))
    b = U.softmax_rgb_blend(colors, f, ubp, znear=torch.tensor([0.5, 0.7]), zfar=torch.tensor([10.0, 12.0]))
    assert float((a - b).abs().max()) < 1e-5
    assert float((P.hard_rgb_blend(colors, f, bp) - U.hard_rgb_blend(colors, f, ubp)).abs().max()) == 0.0
    a = P.sigmoid_alpha_blend(colors, f, bp)
    b = U.sigmoid_alpha_blend(colors, f, ubp)
    assert float((a - b).abs().max()) < 1e-5


def test_lights_functional_api_matches(scene):
    g = torch.Generator().manual_seed(3)
    n = torch.randn(2, 5, 6, 2, 3, generator=g)
    pts = torch.randn(2, 5, 6, 2, 3, generator=g)
    cam = torch.randn(2, 3, generator=g)
    for kind in ("point", "directional", "ambient"):
        lp, lu = _lights(kind, n=2)
        assert torch.allclose(lp.diffuse(normals=n, points=pts), lu.diffuse(n, pts), atol=1e-6)
        assert torch.allclose(
            lp.specular(normals=n, points=pts, camera_position=cam, shininess=torch.tensor([10.0, 3.0])),
            lu.specular(n, pts, cam, torch.tensor([10.0, 3.0])),
            atol=1e-6,
        )


@pytest.mark.parametrize("padding_mode", ["border", "zeros", "reflection"])
@pytest.mark.parametrize("align_corners", [True, False])
@pytest.mark.parametrize("sampling_mode", ["bilinear", "nearest"])
def test_textures_uv_sampling_parity(scene, padding_mode, align_corners, sampling_mode):
    g = torch.Generator().manual_seed(4)
    m = scene.mesh
    uvs = [torch.rand(v.shape[0], 2, generator=g) * 1.4 - 0.2 for v in m.verts_list()]  # some outside [0, 1]
    maps = torch.rand(2, 13, 17, 3, generator=g)
    kw = dict(padding_mode=padding_mode, align_corners=align_corners, sampling_mode=sampling_mode)
    pm = PMeshes(m.verts_list(), m.faces_list(), textures=P.TexturesUV(maps, m.faces_list(), uvs, **kw))
    f = scene.frags["soft"]
    ref = pm.sample_textures(f)
    ours = U.TexturesUV(maps, m.faces_list(), uvs, **kw).sample_textures(f, m)
    covered = f.pix_to_face >= 0
    assert float((ref - ours)[covered].abs().max()) < 1e-4
    assert float(ours[~covered].abs().max()) == 0.0  # PyTorch3D samples uv (0, 0) there; unused by every blend


def test_textures_uv_phong_render_and_map_gradient(scene):
    g = torch.Generator().manual_seed(5)
    m = scene.mesh
    uvs = [torch.rand(v.shape[0], 2, generator=g) for v in m.verts_list()]
    maps_p = torch.rand(2, 8, 8, 3, generator=g).requires_grad_()
    maps_u = maps_p.detach().clone().requires_grad_()
    pm = PMeshes(m.verts_list(), m.faces_list(), textures=P.TexturesUV(maps_p, m.faces_list(), uvs))
    lp, lu = _lights("point", 1)
    f = scene.frags["hard"]
    ref = P.HardPhongShader(cameras=scene.cams, lights=lp)(f, pm)
    ours = U.HardPhongShader(cameras=scene.cams, lights=lu)(f, m, textures=U.TexturesUV(maps_u, m.faces_list(), uvs))
    assert float((ref - ours).detach().abs().max()) < 1e-4
    ref[..., :3].sum().backward()
    ours[..., :3].sum().backward()
    assert float((maps_p.grad - maps_u.grad).abs().max()) < 1e-3


def test_textures_vertex_and_interpolation_parity(scene):
    from pytorch3d.ops import interpolate_face_attributes as p3d_interp

    f = scene.frags["soft"]
    ref = scene.pm.sample_textures(f)
    ours = U.TexturesVertex(scene.cols).sample_textures(f, scene.mesh)
    assert float((ref - ours).abs().max()) < 1e-6
    attrs = torch.randn(scene.mesh.faces_packed().shape[0], 3, 5, generator=torch.Generator().manual_seed(6))
    a = p3d_interp(f.pix_to_face, f.bary_coords, attrs)
    b = U.interpolate_face_attributes(f.pix_to_face, f.bary_coords, attrs)
    assert float((a - b).abs().max()) < 1e-6


def test_gradients_to_vertex_colours_and_light_direction(scene):
    f = scene.frags["soft"]
    out = {}
    for impl in ("p3d", "ours"):
        cols = [c.clone().requires_grad_() for c in scene.cols]
        direction = torch.tensor([[0.3, 1.0, 0.5], [-0.5, 0.2, 1.0]], requires_grad=True)
        bp = dict(sigma=1e-4, gamma=1e-2, background_color=BG)
        if impl == "p3d":
            pm = PMeshes(scene.mesh.verts_list(), scene.mesh.faces_list(), textures=P.TexturesVertex(cols))
            img = P.SoftPhongShader(cameras=scene.cams, lights=P.DirectionalLights(direction=direction), blend_params=P.BlendParams(**bp))(f, pm)
        else:
            img = U.SoftPhongShader(cameras=scene.cams, lights=U.DirectionalLights(direction=direction), blend_params=U.BlendParams(**bp))(
                f, scene.mesh, textures=U.TexturesVertex(cols)
            )
        w = torch.rand(img.shape, generator=torch.Generator().manual_seed(7))
        (img * w).sum().backward()
        out[impl] = (torch.cat([c.grad for c in cols]), direction.grad)
    for a, b in zip(out["p3d"], out["ours"]):
        assert float(b.abs().max()) > 0
        assert float((a - b).abs().max()) <= 1e-4 * max(1.0, float(a.abs().max()))


def test_gradient_to_vertices_through_phong(scene):
    verts = [v.clone().requires_grad_() for v in scene.mesh.verts_list()]
    mesh = Meshes(verts, scene.mesh.faces_list())
    lights = U.PointLights(location=[[1.0, 2.0, 3.0]])
    img = U.HardPhongShader(cameras=scene.cams, lights=lights)(scene.frags["hard"], mesh)
    img[..., :3].sum().backward()
    assert all(v.grad is not None and float(v.grad.abs().sum()) > 0 for v in verts)


# ------------------------------------------------------------------ edge cases
def _empty_fragments(N=2, H=6, W=7, K=3):
    return SimpleNamespace(
        pix_to_face=torch.full((N, H, W, K), -1),
        zbuf=torch.full((N, H, W, K), -1.0),
        bary_coords=torch.full((N, H, W, K, 3), -1.0),
        dists=torch.full((N, H, W, K), -1.0),
    )


@pytest.mark.parametrize("shader", SHADERS + ["SoftSilhouetteShader"])
def test_nothing_covered_gives_background_never_nan(scene, shader):
    f = _empty_fragments()
    if shader == "SoftSilhouetteShader":
        img = U.SoftSilhouetteShader()(f, scene.mesh)
        assert torch.equal(img[..., 3], torch.zeros(2, 6, 7))
        return
    img = getattr(U, shader)(cameras=scene.cams, blend_params=U.BlendParams(background_color=BG))(f, scene.mesh)
    assert img.shape == (2, 6, 7, 4) and bool(torch.isfinite(img).all())
    assert torch.allclose(img[..., :3], torch.tensor(BG).expand(2, 6, 7, 3)) and float(img[..., 3].abs().max()) == 0.0


def test_bad_inputs_name_the_argument(scene):
    cases = [
        (lambda: U.Materials(shininess=-1.0), "shininess"),
        (lambda: U.Materials(diffuse_color=[[1.0, 1.0]]), "diffuse_color"),
        (lambda: U.DirectionalLights(direction=[[1.0, 0.0]]), "direction"),
        (lambda: U.PointLights(ambient_color=[[0.1, 0.2, 0.3, 0.4]]), "ambient_color"),
        (lambda: U.PointLights(location=[[0.0, 1, 0], [1, 0, 0]], diffuse_color=[[1, 1, 1]] * 3), "location: expected batch size 1 or 3"),
        (lambda: U.TexturesVertex(torch.rand(5, 3, 2, 2)), "verts_features"),
        (lambda: U.TexturesVertex(torch.rand(4, 3)).verts_features_packed(scene.mesh), "verts_features"),
        (lambda: U.TexturesUV(torch.rand(8, 8), torch.zeros(3, 3, dtype=torch.long), torch.rand(4, 2)), "maps"),
        (lambda: U.TexturesUV(torch.rand(8, 8, 3), torch.zeros(3, 3, dtype=torch.long), torch.rand(4, 3)), "verts_uvs"),
        (lambda: U.TexturesUV(torch.rand(8, 8, 3), torch.full((3, 3), 9), torch.rand(4, 2)), "faces_uvs"),
        (lambda: U.TexturesUV(torch.rand(8, 8, 3), torch.zeros(3, 2, dtype=torch.long), torch.rand(4, 2)), "faces_uvs"),
        (lambda: U.TexturesUV(torch.rand(8, 8, 3), torch.zeros(3, 3, dtype=torch.long), torch.rand(4, 2), padding_mode="wrap"), "padding_mode"),
    ]
    for fn, name in cases:
        with pytest.raises(ValueError, match=name):
            fn()
    f = scene.frags["hard"]
    with pytest.raises(ValueError, match="background_color"):
        U.HardPhongShader(cameras=scene.cams, blend_params=U.BlendParams(background_color=(1.0, 1.0)))(f, scene.mesh)
    with pytest.raises(ValueError, match="lights"):
        U.HardPhongShader(cameras=scene.cams, lights=U.PointLights(location=[[0, 1, 0]] * 3))(f, scene.mesh)
    with pytest.raises(ValueError, match="cameras"):
        U.HardPhongShader()(f, scene.mesh)
    with pytest.raises(ValueError, match="textures"):
        U.HardGouraudShader(cameras=scene.cams)(
            f, scene.mesh, textures=U.TexturesUV([torch.rand(4, 4, 3)] * 2, scene.mesh.faces_list(), [v[:, :2] for v in scene.mesh.verts_list()])
        )
    with pytest.raises(ValueError, match="sigma"):
        U.SoftSilhouetteShader(U.BlendParams(sigma=0.0))(f)


# ------------------------------------------------------------- end to end
def test_end_to_end_icosphere_phong_matches_pytorch3d():
    from unrender.cameras import FoVPerspectiveCameras, look_at_view_transform

    mesh = icosphere(3)
    v, f = mesh.verts_packed(), mesh.faces_packed()
    cols = v * 0.5 + 0.5
    R, T = look_at_view_transform(2.7, 20.0, 30.0)
    cams = FoVPerspectiveCameras(R=R, T=T)
    ours = U.MeshRenderer(
        U.MeshRasterizer(cameras=cams, raster_settings=U.RasterizationSettings(image_size=128)),
        U.HardPhongShader(cameras=cams, lights=U.PointLights(location=[[2.0, 2.0, 3.0]])),
    )(mesh, textures=cols)
    Rp, Tp = P.look_at_view_transform(2.7, 20.0, 30.0)
    pc = P.FoVPerspectiveCameras(R=Rp, T=Tp)
    ref = P.MeshRenderer(
        P.MeshRasterizer(cameras=pc, raster_settings=P.RasterizationSettings(image_size=128)),
        P.HardPhongShader(cameras=pc, lights=P.PointLights(location=[[2.0, 2.0, 3.0]])),
    )(PMeshes([v], [f], textures=P.TexturesVertex([cols])))
    assert float(ours[..., 3].mean()) > 0.2
    assert float((ours - ref).abs().mean()) < 1e-3
    # cameras and lights given at call time; fragments returned alongside
    renderer = U.MeshRendererWithFragments(U.MeshRasterizer(raster_settings=U.RasterizationSettings(image_size=128)), U.HardPhongShader())
    again, frags = renderer(mesh, textures=U.TexturesVertex([cols]), cameras=cams, lights=U.PointLights(location=[[2.0, 2.0, 3.0]]))
    assert float((again - ours).abs().max()) == 0.0 and frags.pix_to_face.shape == (1, 128, 128, 1)
    depth = U.HardDepthShader(cameras=cams)(frags, mesh)
    from pytorch3d.renderer.mesh.shader import HardDepthShader as PHardDepthShader

    ref_depth = PHardDepthShader(cameras=pc)(frags, None)
    assert depth.shape == (1, 128, 128, 1) and torch.equal(depth, ref_depth)
