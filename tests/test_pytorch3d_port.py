"""PyTorch3D code ports by changing its imports: tutorial-style snippets run against unrender
and against PyTorch3D, results compared numerically.

Each snippet is a function of a namespace holding the library's names, called once with
unrender's (``U``) and once with PyTorch3D's (``P``). The README's "Coming from PyTorch3D"
section lists the import mapping these namespaces follow.
"""

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import unrender
import unrender.cameras as ucam
import unrender.fields as ufields
import unrender.geometry as ugeo
import unrender.io as uio
import unrender.losses as uloss
import unrender.render as urender
import unrender.structures as ustruct

pytest.importorskip("pytorch3d.renderer", reason="PyTorch3D reference not installed")
import pytorch3d.io as pio  # noqa: E402
import pytorch3d.loss as ploss  # noqa: E402
import pytorch3d.ops as pops  # noqa: E402
import pytorch3d.renderer as prender  # noqa: E402
import pytorch3d.structures as pstruct  # noqa: E402
import pytorch3d.transforms as ptrans  # noqa: E402
import pytorch3d.utils as putils  # noqa: E402
from pytorch3d.renderer.mesh.rasterizer import Fragments as PFragments  # noqa: E402

pytestmark = pytest.mark.pytorch3d

# pytorch3d.X -> unrender.Y, as the README's table says.
U = SimpleNamespace(
    **{n: getattr(ustruct, n) for n in ("Meshes", "Pointclouds", "join_meshes_as_batch", "join_meshes_as_scene")},
    **{n: getattr(ugeo, n) for n in ("ico_sphere", "sample_points_from_meshes", "se3_exp_map", "se3_log_map", "so3_exp_map")},
    **{n: getattr(uloss, n) for n in ("chamfer_distance", "mesh_edge_loss", "mesh_normal_consistency", "mesh_laplacian_smoothing")},
    **{n: getattr(ucam, n) for n in ("Transform3d", "Translate", "Rotate", "Scale", "RotateAxisAngle",
                                     "FoVPerspectiveCameras", "look_at_view_transform")},
    **{n: getattr(urender, n) for n in ("TexturesVertex", "TexturesUV", "TexturesAtlas", "PointLights", "RasterizationSettings", "MeshRasterizer", "MeshRenderer",
                                        "HardPhongShader", "SoftPhongShader", "HardFlatShader", "BlendParams")},
    **{n: getattr(uio, n) for n in ("load_obj", "load_objs_as_meshes", "load_ply")},
    Volumes=ustruct.Volumes, HarmonicEmbedding=ufields.HarmonicEmbedding,
    **{n: getattr(urender, n) for n in ("NDCMultinomialRaysampler", "MonteCarloRaysampler", "EmissionAbsorptionRaymarcher",
                                        "VolumeRenderer", "ImplicitRenderer", "ray_bundle_to_ray_points")},
)
P = SimpleNamespace(
    **{n: getattr(pstruct, n) for n in ("Meshes", "Pointclouds", "join_meshes_as_batch", "join_meshes_as_scene")},
    ico_sphere=putils.ico_sphere, sample_points_from_meshes=pops.sample_points_from_meshes,
    **{n: getattr(ptrans, n) for n in ("se3_exp_map", "se3_log_map", "so3_exp_map", "Transform3d", "Translate", "Rotate", "Scale", "RotateAxisAngle")},
    **{n: getattr(ploss, n) for n in ("chamfer_distance", "mesh_edge_loss", "mesh_normal_consistency", "mesh_laplacian_smoothing")},
    **{n: getattr(prender, n) for n in ("TexturesVertex", "TexturesUV", "TexturesAtlas", "FoVPerspectiveCameras", "look_at_view_transform",
                                        "PointLights", "RasterizationSettings", "MeshRasterizer", "MeshRenderer",
                                        "HardPhongShader", "SoftPhongShader", "HardFlatShader", "BlendParams")},
    **{n: getattr(pio, n) for n in ("load_obj", "load_objs_as_meshes", "load_ply")},
    Volumes=pstruct.Volumes,
    **{n: getattr(prender, n) for n in ("HarmonicEmbedding", "NDCMultinomialRaysampler", "MonteCarloRaysampler",
                                        "EmissionAbsorptionRaymarcher", "VolumeRenderer", "ImplicitRenderer",
                                        "ray_bundle_to_ray_points")},
)


def _close(a, b, tol=1e-5):
    assert a.shape == b.shape, (a.shape, b.shape)
    assert float((a - b).abs().max()) <= tol, float((a - b).abs().max())


def _rotations(n, seed=0):
    torch.manual_seed(seed)
    return ptrans.random_rotations(n)


# ------------------------------------------------------------------ the deform tutorial
def _fit(lib, verts, faces, target_points, steps=15):
    """PyTorch3D's "deform a source mesh to form a target mesh" loop (the target sampled once)."""
    src = lib.Meshes(verts=[verts], faces=[faces])
    deform = torch.full(src.verts_packed().shape, 0.0, requires_grad=True)
    opt = torch.optim.SGD([deform], lr=1.0, momentum=0.9)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        new_src = src.offset_verts(deform)
        loss_chamfer, _ = lib.chamfer_distance(target_points, new_src.verts_padded())
        loss = (loss_chamfer + 1.0 * lib.mesh_edge_loss(new_src) + 0.01 * lib.mesh_normal_consistency(new_src)
                + 0.1 * lib.mesh_laplacian_smoothing(new_src, method="uniform"))
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    return torch.stack(losses), new_src.verts_packed().detach()


def test_deform_tutorial_fit_matches_pytorch3d():
    level2 = U.ico_sphere(2, "cpu")  # PyTorch3D's positional device
    assert isinstance(level2, U.Meshes) and level2.verts_packed().shape == (162, 3)
    _close(level2.verts_packed(), P.ico_sphere(2, "cpu").verts_packed(), 1e-4)  # PyTorch3D rounds the icosahedron
    verts, faces = level2.verts_packed(), level2.faces_packed()
    trg = U.ico_sphere(3).scale_verts(0.7).offset_verts(torch.tensor([0.1, -0.2, 0.05]))
    target = U.sample_points_from_meshes(trg, 3000, generator=torch.Generator().manual_seed(0))
    assert target.shape == (1, 3000, 3)
    ours, ours_v = _fit(U, verts, faces, target)
    ref, ref_v = _fit(P, verts, faces, target)
    _close(ours, ref, 1e-5)
    _close(ours_v, ref_v, 1e-5)
    assert float(ours[-1]) < 0.5 * float(ours[0])


def test_sample_points_from_meshes_call_forms_and_textures_match_pytorch3d():
    mesh = U.ico_sphere(1)
    v, f = mesh.verts_packed(), mesh.faces_packed()
    g = torch.Generator().manual_seed(1)
    cols, uvs, img = torch.rand(v.shape[0], 3, generator=g), torch.rand(v.shape[0], 2, generator=g), torch.rand(12, 20, 3, generator=g)
    atlas = torch.rand(f.shape[0], 3, 3, 3, generator=g)
    for kind, args in (("TexturesVertex", ([cols],)), ("TexturesUV", ([img], [f], [uvs])), ("TexturesAtlas", ([atlas],))):
        ours = U.Meshes([v], [f], textures=getattr(U, kind)(*args)).extend(2)
        ref = P.Meshes([v], [f], textures=getattr(P, kind)(*args)).extend(2)
        pts, normals, texels = U.sample_points_from_meshes(ours, 400, return_normals=True, return_textures=True)
        assert pts.shape == normals.shape == (2, 400, 3) and texels.shape == (2, 400, 3)
        pts2, texels2 = U.sample_points_from_meshes(ours, 50, return_textures=True)
        assert pts2.shape == (2, 50, 3) and texels2.shape == (2, 50, 3)
        # The same points through PyTorch3D's texture sampling: same faces and barycentrics.
        s = ugeo.sample_surface(ours, 400, generator=torch.Generator().manual_seed(2))
        frags = PFragments(pix_to_face=s.face_index[:, :, None, None], zbuf=None, bary_coords=s.barycentric[:, :, None, None], dists=None)
        got = U.sample_points_from_meshes(ours, 400, return_textures=True, generator=torch.Generator().manual_seed(2))[1]
        _close(got, ref.sample_textures(frags)[:, :, 0, 0], 1e-5)
        _close(s.points, (s.barycentric[..., None] * ref.verts_packed()[ref.faces_packed()[s.face_index]]).sum(-2), 1e-6)
    with pytest.raises(ValueError, match="textures"):
        U.sample_points_from_meshes(mesh, 10, return_textures=True)


# ------------------------------------------------------------------ transforms
def _chain(lib, R, pts):
    t = lib.Transform3d().translate(1.0, 2.0, -3.0).rotate(R).scale(torch.tensor([0.5, 2.0, 3.0])).translate(torch.ones(3, 3))
    t2 = lib.Translate(torch.randn(3, 3, generator=torch.Generator().manual_seed(3))).compose(
        lib.Rotate(R), lib.Scale(2.0, 3.0, 4.0), lib.RotateAxisAngle(30.0, "Y"))
    return [t.get_matrix(), t.transform_points(pts), t.transform_points(pts[0]), t.transform_normals(pts), t.inverse().get_matrix(),
            t2.inverse().transform_points(pts), t2.inverse(invert_composed=True).get_matrix(), t2.stack(t).get_matrix(),
            t[1].get_matrix(), t2.compose(t.inverse()).transform_points(pts, eps=1e-3), lib.Scale(2.0).get_matrix(),
            lib.Transform3d(matrix=t.get_matrix()[0]).transform_points(pts[0]), t.clone().to("cpu", dtype=torch.float64).get_matrix()]


def test_transform3d_chains_match_pytorch3d():
    R = _rotations(3)
    pts = torch.randn(3, 40, 3, generator=torch.Generator().manual_seed(4))
    for a, b in zip(_chain(U, R, pts), _chain(P, R, pts)):
        _close(a, b, 1e-5)
    assert ucam.Transform is ucam.Transform3d and isinstance(U.Translate(1.0, 2.0, 3.0), ucam.Transform)
    m = U.Translate(1.0, 2.0, 3.0).get_matrix()
    assert torch.equal(ucam.Transform(m).get_matrix(), m) and torch.equal(U.Transform3d(matrix=m[0]).get_matrix(), m)
    with pytest.raises(ValueError, match="Transform3d"):
        U.Transform3d().compose(torch.eye(4))
    with pytest.raises(ValueError, match="Translate"):
        U.Translate(torch.ones(2, 4))


def test_camera_transforms_are_transform3d_and_match_pytorch3d():
    pts = torch.randn(2, 30, 3, generator=torch.Generator().manual_seed(5))
    out = {}
    for name, lib in (("u", U), ("p", P)):
        R, T = lib.look_at_view_transform(dist=torch.tensor([2.5, 3.0]), elev=torch.tensor([10.0, 30.0]), azim=torch.tensor([20.0, -40.0]))
        cams = lib.FoVPerspectiveCameras(R=R, T=T, fov=50.0)
        w2v = cams.get_world_to_view_transform()
        moved = lib.Translate(0.1, 0.2, 0.3).compose(w2v)
        out[name] = [w2v.transform_points(pts), w2v.inverse().transform_points(pts), moved.get_matrix(),
                     cams.get_full_projection_transform().transform_points(pts), cams.get_projection_transform().get_matrix()]
    for a, b in zip(out["u"], out["p"]):
        _close(a, b, 1e-5)


def test_se3_maps_match_pytorch3d():
    x = torch.randn(8, 6, generator=torch.Generator().manual_seed(6))
    x[:, 3:] *= 0.8
    _close(U.se3_exp_map(x), P.se3_exp_map(x), 1e-5)
    M = P.se3_exp_map(x)
    _close(U.se3_log_map(M), P.se3_log_map(M), 1e-5)
    _close(U.se3_log_map(U.se3_exp_map(x)), x, 1e-5)
    # row-vector convention: the rotation block is the transpose of so3_exp_map's
    _close(U.se3_exp_map(x)[:, :3, :3], U.so3_exp_map(x[:, 3:]).transpose(1, 2), 1e-6)
    sheared = torch.eye(4)[None].clone()
    sheared[0, 0, 3] = 0.5  # a projective column: not a rigid transform
    with pytest.raises(ValueError, match="transform"):
        U.se3_log_map(sheared)


# ------------------------------------------------------------------ textured meshes
def _textured(lib, kind, v, f, seed=7):
    g = torch.Generator().manual_seed(seed)
    cols, uvs = torch.rand(v.shape[0], 3, generator=g), torch.rand(v.shape[0], 2, generator=g) * 0.8 + 0.1
    img, atlas = torch.rand(16, 24, 3, generator=g), torch.rand(f.shape[0], 4, 4, 3, generator=g)
    tex = {"TexturesVertex": lambda: lib.TexturesVertex(verts_features=[cols]),
           "TexturesUV": lambda: lib.TexturesUV(maps=img[None], faces_uvs=[f], verts_uvs=[uvs]),
           "TexturesAtlas": lambda: lib.TexturesAtlas(atlas=[atlas])}[kind]()
    return lib.Meshes(verts=[v], faces=[f], textures=tex)


@pytest.mark.parametrize("kind", ["TexturesVertex", "TexturesUV", "TexturesAtlas"])
@pytest.mark.parametrize("shader", ["HardPhongShader", "SoftPhongShader", "HardFlatShader"])
def test_textures_on_the_mesh_shade_as_pytorch3d(kind, shader):
    """Shaders use ``mesh.textures`` when none are passed: PyTorch3D's fragments shaded by both."""
    sphere = U.ico_sphere(2)
    v, f = sphere.verts_packed(), sphere.faces_packed()
    R, T = P.look_at_view_transform(2.7, 20.0, 30.0)
    pc = P.FoVPerspectiveCameras(R=R, T=T)
    settings = P.RasterizationSettings(image_size=48, blur_radius=1e-4 if shader.startswith("Soft") else 0.0, faces_per_pixel=3)
    ref_mesh = _textured(P, kind, v, f)
    frags = P.MeshRasterizer(cameras=pc, raster_settings=settings)(ref_mesh)
    lights = dict(location=[[2.0, 2.0, 3.0]])
    ref = getattr(P, shader)(cameras=pc, lights=P.PointLights(**lights), blend_params=P.BlendParams(background_color=(0.1, 0.2, 0.3)))(frags, ref_mesh)
    uc = U.FoVPerspectiveCameras(R=R, T=T)
    ours_mesh = _textured(U, kind, v, f)
    ours = getattr(U, shader)(cameras=uc, lights=U.PointLights(**lights), blend_params=U.BlendParams(background_color=(0.1, 0.2, 0.3)))(frags, ours_mesh)
    _close(ours, ref, 1e-5)
    plain = getattr(U, shader)(cameras=uc, lights=U.PointLights(**lights))(frags, U.Meshes([v], [f]))
    assert float((plain[..., :3] - ours[..., :3]).abs().max()) > 0.05  # the textures were used
    covered = frags.pix_to_face >= 0  # PyTorch3D's UV textures give the texel at uv (0, 0) elsewhere, unrender 0
    _close(ours_mesh.sample_textures(frags)[covered], ref_mesh.sample_textures(frags)[covered], 1e-5)


def test_textured_mesh_renders_end_to_end_as_pytorch3d():
    sphere = U.ico_sphere(3)
    v, f = sphere.verts_packed(), sphere.faces_packed()
    images = {}
    for name, lib in (("u", U), ("p", P)):
        R, T = lib.look_at_view_transform(2.7, 20.0, 30.0)
        cams = lib.FoVPerspectiveCameras(R=R, T=T)
        renderer = lib.MeshRenderer(lib.MeshRasterizer(cameras=cams, raster_settings=lib.RasterizationSettings(image_size=96)),
                                    lib.HardPhongShader(cameras=cams, lights=lib.PointLights(location=[[2.0, 2.0, 3.0]])))
        images[name] = renderer(_textured(lib, "TexturesUV", v, f).extend(2))
    assert images["u"].shape == (2, 96, 96, 4) and float(images["u"][..., 3].mean()) > 0.2
    assert float((images["u"] - images["p"]).abs().mean()) < 1e-3  # the rasteriser parity standard


# ------------------------------------------------------------------ Meshes batches with textures
@pytest.mark.parametrize("kind", ["TexturesVertex", "TexturesUV", "TexturesAtlas"])
def test_textures_follow_extend_index_join_as_pytorch3d(kind):
    a, b = U.ico_sphere(0), U.ico_sphere(1).offset_verts(torch.tensor([1.5, 0.0, 0.0]))
    ours = {n: _textured(U, kind, m.verts_packed(), m.faces_packed(), seed=s) for n, m, s in (("a", a, 1), ("b", b, 2))}
    refs = {n: _textured(P, kind, m.verts_packed(), m.faces_packed(), seed=s) for n, m, s in (("a", a, 1), ("b", b, 2))}
    batch_u = U.join_meshes_as_batch([ours["a"], ours["b"].extend(2)])
    batch_p = P.join_meshes_as_batch([refs["a"], refs["b"].extend(2)])
    assert len(batch_u) == 3 and len(batch_u.textures) == 3
    for u_mesh, p_mesh in ((batch_u, batch_p), (batch_u[[2, 0]], batch_p[[2, 0]]), (batch_u.clone(), batch_p.clone()),
                           (batch_u.detach(), batch_p.detach()), (batch_u.to("cpu"), batch_p.to("cpu")),
                           (batch_u.offset_verts(torch.tensor([0.0, 0.1, 0.0])), batch_p.offset_verts(torch.tensor([0.0, 0.1, 0.0])))):
        s = ugeo.sample_surface(u_mesh, 300, generator=torch.Generator().manual_seed(3))
        frags = PFragments(pix_to_face=s.face_index[:, :, None, None], zbuf=None, bary_coords=s.barycentric[:, :, None, None], dists=None)
        _close(u_mesh.sample_textures(frags), p_mesh.sample_textures(frags), 1e-5)
    scene_u = U.join_meshes_as_scene(batch_u)
    assert len(scene_u) == 1 and len(scene_u.textures) == 1
    assert scene_u.verts_packed().shape[0] == int(batch_u.num_verts_per_mesh().sum())
    # The scene samples every face as the batch did (UVs kept away from the maps' edges).
    s = ugeo.sample_surface(batch_u, 300, generator=torch.Generator().manual_seed(4))
    packed = s.face_index.reshape(-1)
    texels_batch = batch_u.textures.sample_faces(batch_u, packed, s.barycentric.reshape(-1, 3), batch_u.faces_packed_to_mesh_idx()[packed])
    texels_scene = scene_u.textures.sample_faces(scene_u, packed, s.barycentric.reshape(-1, 3), torch.zeros_like(packed))
    _close(texels_scene, texels_batch, 1e-5)
    if kind != "TexturesUV":  # PyTorch3D packs UV maps its own way; vertex colours and atlases join the same
        scene_p = P.join_meshes_as_scene(batch_p)
        frags = PFragments(pix_to_face=packed[None, :, None, None], zbuf=None, bary_coords=s.barycentric.reshape(1, -1, 1, 1, 3), dists=None)
        _close(scene_u.sample_textures(frags), scene_p.sample_textures(frags), 1e-5)
    assert U.join_meshes_as_scene(batch_u, include_textures=False).textures is None
    assert U.join_meshes_as_scene([ours["a"], ours["b"]]).verts_packed().shape[0] == a.verts_packed().shape[0] + b.verts_packed().shape[0]


def test_meshes_textures_checks_and_pointclouds_alias():
    m = U.ico_sphere(0)
    v, f = m.verts_packed(), m.faces_packed()
    with pytest.raises(ValueError, match="textures"):
        U.Meshes([v, v], [f, f], textures=U.TexturesVertex([torch.rand(12, 3)] * 3))
    with pytest.raises(ValueError, match="textures"):
        U.Meshes([v], [f], textures=torch.rand(12, 3))
    shared = U.Meshes([v, v], [f, f], textures=U.TexturesVertex(torch.rand(12, 3)))
    assert len(shared[1].textures) == 1 and len(shared.extend(3)) == 6
    ext = U.Meshes([v], [f], textures=U.TexturesVertex([torch.rand(12, 3)])).extend(4)
    assert len(ext) == 4 and len(ext.textures) == 4
    assert unrender.Pointclouds is ustruct.PointClouds is U.Pointclouds
    pts = torch.rand(2, 10, 3)
    clouds = U.Pointclouds(points=pts, normals=pts, features=pts)
    ref = P.Pointclouds(points=pts, normals=pts, features=pts)
    _close(clouds.extend(2).points_padded(), ref.extend(2).points_padded(), 0.0)


# ------------------------------------------------------------------ files
@pytest.fixture()
def textured_obj(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((8, 12, 3)) * 255).astype(np.uint8)).save(tmp_path / "wood.png")
    (tmp_path / "box.mtl").write_text("newmtl wood\nKa 0.1 0.2 0.3\nKd 0.5 0.6 0.7\nKs 0.2 0.2 0.2\nNs 10\nmap_Kd wood.png\n"
                                      "newmtl paint\nKd 0.9 0.1 0.1\n")
    (tmp_path / "box.obj").write_text(
        "mtllib box.mtl\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 0.5 0.5 1\n"
        "vt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\nvt 0.5 0.5\nvn 0 0 1\n"
        "usemtl wood\nf 1/1/1 2/2/1 3/3/1 4/4/1\nusemtl paint\nf 1/1 2/2 5/5\nf 2 3 5\n")
    (tmp_path / "plain.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    return tmp_path


def test_load_obj_unpacks_as_pytorch3d(textured_obj):
    for name in ("box.obj", "plain.obj"):
        for kw in ({}, {"create_texture_atlas": True, "texture_atlas_size": 3}, {"create_texture_atlas": True, "texture_wrap": "clamp"}):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                verts, faces, aux = U.load_obj(textured_obj / name, **kw)
                pverts, pfaces, paux = P.load_obj(textured_obj / name, **kw)
            _close(verts, pverts, 0.0)
            for field in pfaces._fields:
                assert torch.equal(getattr(faces, field), getattr(pfaces, field)), (name, field)
            for field in ("normals", "verts_uvs", "texture_atlas"):
                ours, ref = getattr(aux, field), getattr(paux, field)
                assert (ours is None) == (ref is None), (name, field)
                if ref is not None:
                    _close(ours, ref, 1e-5)
            assert (aux.material_colors is None) == (paux.material_colors is None)
            for mat, props in (paux.material_colors or {}).items():
                for key, value in props.items():
                    _close(aux.material_colors[mat][key], value, 1e-6)
            for mat, image in (paux.texture_images or {}).items():
                _close(aux.texture_images[mat], image.float(), 1e-6)
    obj = U.load_obj(textured_obj / "box.obj")
    assert obj.verts.shape == (5, 3) and obj.material_names[:2] == ["wood", "paint"]  # the object keeps its attributes


def test_load_objs_as_meshes_matches_pytorch3d(textured_obj):
    files = [textured_obj / "box.obj", textured_obj / "box.obj"]
    for kw in ({}, {"create_texture_atlas": True, "texture_atlas_size": 2}):
        ours, ref = U.load_objs_as_meshes(files, device="cpu", **kw), P.load_objs_as_meshes(files, device="cpu", **kw)
        assert type(ours.textures).__name__ == type(ref.textures).__name__
        _close(ours.verts_padded(), ref.verts_padded(), 0.0)
        s = ugeo.sample_surface(ours, 200, generator=torch.Generator().manual_seed(5))
        frags = PFragments(pix_to_face=s.face_index[:, :, None, None], zbuf=None, bary_coords=s.barycentric[:, :, None, None], dists=None)
        # A face without UVs reads vt 1 here and the last vt in PyTorch3D (its index -1): compare the others.
        with_uvs = (P.load_obj(files[0])[1].textures_idx >= 0).all(1).repeat(2)[s.face_index]
        _close(ours.sample_textures(frags)[with_uvs], ref.sample_textures(frags)[with_uvs], 1e-5)
        assert int(with_uvs.sum()) > 50
    single = U.load_objs_as_meshes([textured_obj / "plain.obj"])
    assert len(single) == 1 and single.textures is None


def test_load_ply_unpacks_as_pytorch3d(tmp_path):
    mesh = U.ico_sphere(1)
    uio.save_ply(tmp_path / "s.ply", mesh.verts_packed(), mesh.faces_packed())
    uio.save_ply(tmp_path / "p.ply", mesh.verts_packed())
    verts, faces = U.load_ply(tmp_path / "s.ply")
    pverts, pfaces = P.load_ply(tmp_path / "s.ply")
    _close(verts, pverts, 0.0)
    assert torch.equal(faces, pfaces)
    verts, faces = U.load_ply(tmp_path / "p.ply")
    assert verts.shape == (42, 3) and faces.shape == (0, 3)


def _volume_tutorial(L):
    """PyTorch3D's "fit a volume" tutorial, one step: render a coloured volume from two cameras with
    NDCMultinomialRaysampler + EmissionAbsorptionRaymarcher, and take the gradient of an image loss."""
    g = torch.Generator().manual_seed(0)
    densities = torch.rand(1, 1, 16, 16, 16, generator=g).requires_grad_()
    colors = torch.rand(1, 3, 16, 16, 16, generator=g)
    R, T = L.look_at_view_transform(dist=2.7, elev=torch.tensor([10.0, 40.0]), azim=torch.tensor([0.0, 120.0]))
    cameras = L.FoVPerspectiveCameras(R=R, T=T)
    raysampler = L.NDCMultinomialRaysampler(image_width=24, image_height=20, n_pts_per_ray=40, min_depth=0.1,
                                            max_depth=3.0 * 1.5)
    renderer = L.VolumeRenderer(raysampler=raysampler, raymarcher=L.EmissionAbsorptionRaymarcher())
    volumes = L.Volumes(densities=densities.expand(2, -1, -1, -1, -1), features=colors.expand(2, -1, -1, -1, -1),
                        voxel_size=3.0 / 16)
    images, bundle = renderer(cameras=cameras, volumes=volumes)
    images.square().mean().backward()
    return images, L.ray_bundle_to_ray_points(bundle), densities.grad


def test_volume_tutorial_renders_and_differentiates_as_pytorch3d():
    for ours, ref in zip(_volume_tutorial(U), _volume_tutorial(P)):
        _close(ours, ref)


def _nerf_tutorial_pieces(L):
    """PyTorch3D's NeRF tutorial pieces: Monte Carlo ray batches, their points and a harmonic embedding."""
    torch.manual_seed(3)
    R, T = L.look_at_view_transform(dist=2.7, elev=torch.tensor([20.0]), azim=torch.tensor([45.0]))
    sampler = L.MonteCarloRaysampler(min_x=-1.0, max_x=1.0, min_y=-1.0, max_y=1.0, n_rays_per_image=64,
                                     n_pts_per_ray=16, min_depth=0.1, max_depth=3.0)
    return L.ray_bundle_to_ray_points(sampler(L.FoVPerspectiveCameras(R=R, T=T))), L.HarmonicEmbedding(n_harmonic_functions=6)


def test_nerf_tutorial_rays_and_embedding_match_pytorch3d():
    (ours, embed_ours), (ref, embed_ref) = _nerf_tutorial_pieces(U), _nerf_tutorial_pieces(P)
    _close(ours, ref)
    # The same points through both embeddings (sin(32 x) turns the points' last-bit differences into 2e-5).
    _close(embed_ours(ref), embed_ref(ref), tol=1e-6)
