"""Mesh rasteriser: PyTorch3D parity (hard, soft, perspective, culling, clipping,
cameras), gradients, the hand-written backward, edge cases and errors."""

import math

import pytest
import torch

import unrender.render.mesh._raster_kernel as rz
from unrender.render.mesh._raster_pairs import bary_area, pair_grads, pair_terms
from unrender.render.mesh import Fragments, MeshRasterizer, RasterizationSettings, rasterize_meshes
from unrender.structures import Meshes

SIGMA = 1e-4
SOFTRAS_BLUR = math.log(1.0 / 1e-4 - 1.0) * SIGMA


@pytest.fixture(scope="module")
def p3d():
    pytest.importorskip("pytorch3d", reason="PyTorch3D reference not installed")
    from pytorch3d.renderer.mesh.rasterize_meshes import rasterize_meshes as ref
    from pytorch3d.structures import Meshes as PMeshes

    return ref, PMeshes


def _soup(seed, n_meshes=3, nv=40, nf=60, zlo=1.0, zhi=3.0):
    """Random triangle soups with x, y in NDC and z a positive depth."""
    g = torch.Generator().manual_seed(seed)
    verts, faces = [], []
    for i in range(n_meshes):
        v = torch.rand(nv + 7 * i, 3, generator=g) * 2.4 - 1.2
        v[:, 2] = zlo + (zhi - zlo) * torch.rand(nv + 7 * i, generator=g)
        verts.append(v)
        faces.append(torch.randint(0, nv + 7 * i, (nf + 11 * i, 3), generator=g))
    return verts, faces


def _sphere(level=2, dist=2.7, shift=(0.0, 0.0)):
    """Icosphere seen by a 60-degree perspective camera: x, y in NDC, z = depth."""
    from unrender.geometry.primitives import icosphere_verts_faces

    v, f = icosphere_verts_faces(level)
    view = v + torch.tensor([shift[0], shift[1], dist])
    focal = 1.0 / math.tan(math.radians(30.0))
    ndc = torch.stack([-focal * view[:, 0] / view[:, 2], focal * view[:, 1] / view[:, 2], view[:, 2]], 1)
    return ndc, f


def _both(p3d, verts, faces, **kw):
    ref, PMeshes = p3d
    ours = rasterize_meshes(Meshes(verts, faces), **kw)
    theirs = ref(PMeshes(verts, faces), bin_size=0, **kw)
    return ours, theirs


def _assert_parity(ours, theirs, frac=0.999, atol=1e-5):
    """pix_to_face identical on >= frac of the slots; zbuf, bary, dists close there."""
    p2f, zbuf, bary, dists = theirs
    assert ours.pix_to_face.shape == p2f.shape and ours.pix_to_face.dtype == torch.int64
    assert ours.bary_coords.shape == bary.shape
    same = ours.pix_to_face == p2f
    assert same.float().mean() >= frac, f"pix_to_face agrees on {same.float().mean():.5f}"
    for name, a, b in (("zbuf", ours.zbuf, zbuf), ("dists", ours.dists, dists)):
        ok = ((a - b).abs() <= atol * (1 + b.abs())) & same
        assert ok.float().mean() >= frac, f"{name} agrees on {ok.float().mean():.5f}"
    okb = ((ours.bary_coords - bary).abs() <= atol * (1 + bary.abs())).all(-1) & same
    assert okb.float().mean() >= frac, f"bary agrees on {okb.float().mean():.5f}"


def _silhouette(p2f, dists):
    prob = torch.sigmoid(-dists / SIGMA) * (p2f >= 0)
    return 1.0 - torch.prod(1.0 - prob, dim=-1)


def _cos(a, b):
    return torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0).item()


# ------------------------------------------------------------------ parity
@pytest.mark.parametrize("image_size", [48, (40, 56), (56, 40)])
@pytest.mark.parametrize("K", [1, 3])
def test_hard_parity(p3d, image_size, K):
    verts, faces = _soup(1)
    ours, theirs = _both(p3d, verts, faces, image_size=image_size, faces_per_pixel=K)
    _assert_parity(ours, theirs)
    assert (ours.pix_to_face[..., 0] >= 0).any()


@pytest.mark.parametrize("image_size", [(48, 64), 40])
@pytest.mark.parametrize("clip", [False, True])
def test_soft_parity(p3d, image_size, clip):
    verts, faces = _soup(2)
    ours, theirs = _both(p3d, verts, faces, image_size=image_size, faces_per_pixel=6, blur_radius=0.004,
                         clip_barycentric_coords=clip)
    _assert_parity(ours, theirs)
    # Some pixels have faces beyond the outline (positive distance).
    assert (ours.dists > 0).any() and (ours.dists < 0).any()


@pytest.mark.parametrize("blur", [0.0, 2e-3])
@pytest.mark.parametrize("clip", [False, True])
def test_perspective_correct_parity(p3d, blur, clip):
    v, f = _sphere(2)
    v2, f2 = _sphere(1, dist=2.2, shift=(0.5, -0.2))
    ours, theirs = _both(p3d, [v, v2], [f, f2], image_size=(50, 62), faces_per_pixel=4, blur_radius=blur,
                         perspective_correct=True, clip_barycentric_coords=clip)
    _assert_parity(ours, theirs)


def test_cull_backfaces_parity(p3d):
    v, f = _sphere(2)
    verts, faces = _soup(3, n_meshes=1)
    ours, theirs = _both(p3d, [v, verts[0]], [f, faces[0]], image_size=48, faces_per_pixel=3, cull_backfaces=True)
    _assert_parity(ours, theirs)
    # A closed sphere with culling: one layer only.
    assert (ours.pix_to_face[0, ..., 1] == -1).all()


def test_depth_ties_go_to_lower_face(p3d):
    v = torch.tensor([[-0.8, -0.8, 2.0], [0.8, -0.8, 2.0], [0.0, 0.8, 2.0]])
    f = torch.tensor([[0, 1, 2], [0, 1, 2], [0, 1, 2]])  # the same triangle three times
    ours, theirs = _both(p3d, [v], [f], image_size=24, faces_per_pixel=2)
    _assert_parity(ours, theirs, frac=1.0)
    hit = ours.pix_to_face[..., 0] >= 0
    assert (ours.pix_to_face[..., 0][hit] == 0).all() and (ours.pix_to_face[..., 1][hit] == 1).all()


def test_z_clip_parity(p3d):
    # Faces crossing the clip plane (one and two vertices behind it) and one
    # entirely behind it.
    v = torch.tensor([
        [-0.9, -0.5, 0.2], [0.9, -0.6, 3.0], [0.1, 0.9, 2.5],
        [-0.5, 0.6, 0.1], [0.7, 0.5, 0.3], [0.0, -0.8, 2.0],
        [0.3, 0.3, 0.1], [0.5, 0.2, 0.2], [0.4, 0.6, 0.15],
    ])
    f = torch.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    for blur, K in ((0.0, 1), (3e-3, 4)):
        ours, theirs = _both(p3d, [v], [f], image_size=(40, 48), faces_per_pixel=K, blur_radius=blur,
                             perspective_correct=True, z_clip_value=0.5)
        _assert_parity(ours, theirs, frac=0.995)
        assert (ours.pix_to_face >= 0).any()
        inside = (ours.pix_to_face >= 0) & (ours.dists < 0)
        assert ours.zbuf[inside].min() >= 0.5 - 1e-5
    # Gradients flow through the clipping to the original vertices, finite.
    vv = v.clone().requires_grad_()
    out = rasterize_meshes(Meshes([vv], [f]), (40, 48), 3e-3, 4, perspective_correct=True, z_clip_value=0.5)
    m = out.pix_to_face >= 0
    (out.zbuf * m).sum().add((out.bary_coords * m[..., None]).sum()).add((out.dists * m).sum()).backward()
    assert torch.isfinite(vv.grad).all() and vv.grad.abs().sum() > 0


def test_batch_and_empty_meshes_mixed(p3d):
    verts, faces = _soup(4, n_meshes=2)
    verts.insert(1, torch.rand(5, 3))
    faces.insert(1, torch.zeros(0, 3, dtype=torch.int64))
    ours, theirs = _both(p3d, verts, faces, image_size=32, faces_per_pixel=2, blur_radius=1e-3)
    _assert_parity(ours, theirs)
    assert (ours.pix_to_face[1] == -1).all()


# -------------------------------------------------------- soft silhouettes
def test_soft_silhouette_and_gradients(p3d):
    ref, PMeshes = p3d
    v, f = _sphere(2)
    a, b = v.clone().requires_grad_(), v.clone().requires_grad_()
    ours = rasterize_meshes(Meshes([a], [f]), 64, SOFTRAS_BLUR, 50, clip_barycentric_coords=True)
    theirs = ref(PMeshes([b], [f]), 64, SOFTRAS_BLUR, 50, bin_size=0, clip_barycentric_coords=True)
    sa, sb = _silhouette(ours.pix_to_face, ours.dists), _silhouette(theirs[0], theirs[3])
    assert (sa - sb).abs().max() <= 1e-4
    target = torch.zeros(64, 64)
    target[16:48, 20:44] = 1
    ((sa[0] - target) ** 2).mean().backward()
    ((sb[0] - target) ** 2).mean().backward()
    assert _cos(a.grad, b.grad) >= 0.99
    assert torch.isfinite(a.grad).all()


@pytest.mark.parametrize("kw", [
    dict(faces_per_pixel=1),
    dict(faces_per_pixel=3, blur_radius=2e-3),
    dict(faces_per_pixel=3, blur_radius=2e-3, clip_barycentric_coords=True),
    dict(faces_per_pixel=2, perspective_correct=True),
    dict(faces_per_pixel=3, blur_radius=1e-3, perspective_correct=True, clip_barycentric_coords=True),
])
def test_gradients_match_pytorch3d(p3d, kw):
    ref, PMeshes = p3d
    if kw.get("perspective_correct"):
        (v0, f0), (v1, f1) = _sphere(2), _sphere(1, dist=2.2, shift=(0.4, 0.1))
        verts, faces = [v0, v1], [f0, f1]
    else:
        verts, faces = _soup(5, n_meshes=2)
    g = torch.Generator().manual_seed(0)
    size = (36, 44)
    K = kw["faces_per_pixel"]
    w = [torch.randn(len(verts), *size, K, *s, generator=g) for s in ((), (3,), ())]
    grads = []
    for impl, M in ((rasterize_meshes, Meshes), (lambda *a, **k: ref(*a, bin_size=0, **k), PMeshes)):
        leaves = [x.clone().requires_grad_() for x in verts]
        out = impl(M(leaves, faces), size, **kw)
        p2f, zbuf, bary, dists = (out.pix_to_face, out.zbuf, out.bary_coords, out.dists) if isinstance(out, Fragments) else out
        m = (p2f >= 0).float()
        # Outside a face, PyTorch3D's perspective correction can clamp its
        # denominator, and its backward then ignores the clamp (gradients of
        # 1e20 there): compare depth and barycentric gradients inside faces.
        mb = m * (dists < 0) if kw.get("perspective_correct") and kw.get("blur_radius") else m
        loss = (w[0] * zbuf * mb).sum() + (w[1] * bary * mb[..., None]).sum() + (w[2] * dists * m).sum()
        loss.backward()
        grads.append(torch.cat([x.grad for x in leaves]))
    assert _cos(*grads) >= 0.99
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-3, atol=1e-3 * grads[1].abs().max().item())


@pytest.mark.parametrize("perspective_correct", [False, True])
@pytest.mark.parametrize("clip", [False, True])
def test_hand_written_backward_matches_autograd(perspective_correct, clip):
    g = torch.Generator().manual_seed(1)
    M = 3000
    v = torch.rand(M, 9, generator=g, dtype=torch.float64) * 2 - 1
    v[:, 2::3] = v[:, 2::3] * 0.5 + 2.0
    px = torch.rand(M, generator=g, dtype=torch.float64) * 2 - 1
    py = torch.rand(M, generator=g, dtype=torch.float64) * 2 - 1
    leaf = v.clone().requires_grad_()
    cols = list(leaf.unbind(1))
    cols.append(bary_area(cols[0], cols[1], cols[3], cols[4], cols[6], cols[7]))
    bary, pz, inside, dist = pair_terms(px, py, cols, perspective_correct, clip, True)
    signed = torch.where(inside, -dist, dist)
    gb, gz, gd = (torch.randn(M, *s, generator=g, dtype=torch.float64) for s in ((3,), (), ()))
    loss = (torch.stack(bary, 1) * gb).sum() + (pz * gz).sum() + (signed * gd).sum()
    (expected,) = torch.autograd.grad(loss, leaf)
    got = pair_grads(px, py, v.t(), inside, gb, gz, gd, perspective_correct, clip)
    got = torch.stack([torch.zeros(M, dtype=torch.float64) if x is None else x for x in got], 1)
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------ MeshRasterizer
def test_mesh_rasterizer_with_pytorch3d_cameras(p3d):
    from pytorch3d.renderer import FoVPerspectiveCameras, MeshRasterizer as PMeshRasterizer
    from pytorch3d.renderer import RasterizationSettings as PSettings
    from pytorch3d.renderer import look_at_view_transform

    from unrender.geometry.primitives import icosphere_verts_faces

    _, PMeshes = p3d
    v, f = icosphere_verts_faces(2)
    R, T = look_at_view_transform(2.7, 20.0, 30.0)
    cams = FoVPerspectiveCameras(R=R, T=T)
    for blur, K in ((0.0, 1), (SOFTRAS_BLUR, 10)):
        ours = MeshRasterizer(cams, RasterizationSettings(image_size=(40, 52), blur_radius=blur, faces_per_pixel=K))
        theirs = PMeshRasterizer(cams, PSettings(image_size=(40, 52), blur_radius=blur, faces_per_pixel=K))
        a = ours(Meshes([v], [f]))
        b = theirs(PMeshes([v], [f]))
        _assert_parity(a, (b.pix_to_face, b.zbuf, b.bary_coords, b.dists), atol=1e-4)


def test_mesh_rasterizer_with_unrender_cameras():
    cameras = pytest.importorskip("unrender.cameras")
    from unrender.geometry.primitives import icosphere_verts_faces

    v, f = icosphere_verts_faces(2)
    R, T = cameras.look_at_view_transform(2.7, 10.0, -20.0)
    cams = cameras.FoVPerspectiveCameras(R=R, T=T)
    rast = MeshRasterizer(cams, RasterizationSettings(image_size=32, faces_per_pixel=2))
    frags = rast(Meshes([v], [f]))
    assert frags.pix_to_face.shape == (1, 32, 32, 2)
    hit = frags.pix_to_face[..., 0] >= 0
    assert 0.2 < hit.float().mean() < 0.8
    # The camera sits 2.7 from the centre of a unit sphere.
    assert frags.zbuf[..., 0][hit].min() >= 1.7 - 1e-4
    with pytest.raises(ValueError, match="cameras"):
        MeshRasterizer(None)(Meshes([v], [f]))


# ------------------------------------------------------------- edge cases
def test_degenerate_faces_skipped_without_nan():
    v = torch.tensor([[-0.5, -0.5, 2.0], [0.5, -0.5, 2.0], [0.0, 0.5, 2.0], [0.2, 0.2, 1.0], [0.2, 0.2, 1.5]],
                     requires_grad=True)
    f = torch.tensor([[0, 1, 2], [3, 3, 4], [0, 0, 0], [3, 4, 3]])  # 1 real face, 3 zero-area ones
    out = rasterize_meshes(Meshes([v], [f]), 32, 1e-3, 4)
    assert set(out.pix_to_face.unique().tolist()) <= {-1, 0}
    m = out.pix_to_face >= 0
    (out.zbuf * m).sum().add((out.dists * m).sum()).add((out.bary_coords * m[..., None]).sum()).backward()
    assert torch.isfinite(v.grad).all()
    assert (v.grad[3:] == 0).all()


def test_mesh_behind_camera_gives_empty_fragments():
    verts, faces = _soup(6, n_meshes=1, zlo=-3.0, zhi=-0.5)
    v = verts[0].requires_grad_()
    for blur in (0.0, 1e-2):
        out = rasterize_meshes(Meshes([v], faces), (20, 30), blur, 3)
        assert (out.pix_to_face == -1).all() and (out.zbuf == -1).all()
        assert (out.bary_coords == -1).all() and (out.dists == -1).all()
        out.dists.sum().backward()
        assert (v.grad == 0).all()
        v.grad = None


def test_empty_meshes():
    out = rasterize_meshes(Meshes([torch.zeros(0, 3)], [torch.zeros(0, 3, dtype=torch.int64)]), (8, 6), 0.0, 2)
    assert out.pix_to_face.shape == (1, 8, 6, 2) and (out.pix_to_face == -1).all()
    assert out.bary_coords.shape == (1, 8, 6, 2, 3)
    out = rasterize_meshes(Meshes([], []), 8, 0.0, 1)
    assert out.pix_to_face.shape == (0, 8, 8, 1)


def test_float64_input():
    verts, faces = _soup(7, n_meshes=1)
    a = rasterize_meshes(Meshes([verts[0].double()], faces), 32, 1e-3, 3)
    b = rasterize_meshes(Meshes(verts, faces), 32, 1e-3, 3)
    assert a.zbuf.dtype == torch.float64
    same = a.pix_to_face == b.pix_to_face
    assert same.float().mean() > 0.99
    torch.testing.assert_close(a.zbuf[same].float(), b.zbuf[same], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("workers", [1, 2])
def test_chunked_paths_give_the_same_result(monkeypatch, workers):
    """Serial or threaded tasks; tiny chunks split big faces into row bands
    and force the running top-K reductions: the result must not change."""
    verts, faces = _soup(8, n_meshes=2, nf=80)
    verts[0][:3] = torch.tensor([[-3.0, -3.0, 2.0], [3.0, -3.0, 2.5], [0.0, 3.0, 1.5]])  # a face over everything
    kws = [dict(faces_per_pixel=1), dict(faces_per_pixel=5, blur_radius=2e-3)]
    monkeypatch.setattr(rz, "_n_workers", lambda device: 1)
    full = [rasterize_meshes(Meshes(verts, faces), (30, 40), **kw) for kw in kws]
    monkeypatch.setattr(rz, "_n_workers", lambda device: workers)
    monkeypatch.setattr(rz, "_GRID_CELLS", 512)
    monkeypatch.setattr(rz, "_TASK_ELEMS", 512)
    monkeypatch.setattr(rz, "_BACKWARD_PAIRS", 100)
    orig_init = rz._Accumulator.__init__

    def small_limit(self, *a):
        orig_init(self, *a)
        self.limit = 2000

    monkeypatch.setattr(rz._Accumulator, "__init__", small_limit)
    for kw, ref in zip(kws, full):
        out = rasterize_meshes(Meshes(verts, faces), (30, 40), **kw)
        assert torch.equal(out.pix_to_face, ref.pix_to_face)
        torch.testing.assert_close(out.zbuf, ref.zbuf)
        torch.testing.assert_close(out.dists, ref.dists)
        torch.testing.assert_close(out.bary_coords, ref.bary_coords)
    # Gradients through the chunked (and threaded) backward.
    grads = []
    for n in (1, workers):
        monkeypatch.setattr(rz, "_n_workers", lambda device: n)
        leaves = [v.clone().requires_grad_() for v in verts]
        out = rasterize_meshes(Meshes(leaves, faces), (30, 40), 2e-3, 5)
        m = out.pix_to_face >= 0
        (out.zbuf * m).sum().add((out.dists * m).sum()).add((out.bary_coords * m[..., None]).sum()).backward()
        grads.append(torch.cat([v.grad for v in leaves]))
    torch.testing.assert_close(grads[0], grads[1])


def test_fragments_detach_and_defaults():
    v, f = _sphere(1)
    v.requires_grad_()
    out = rasterize_meshes(Meshes([v], [f]), 16)
    assert out.pix_to_face.shape[-1] == 8  # PyTorch3D's default K for rasterize_meshes
    assert out.zbuf.requires_grad and not out.detach().zbuf.requires_grad
    assert RasterizationSettings().faces_per_pixel == 1


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("kw, name", [
    (dict(faces_per_pixel=0), "faces_per_pixel"),
    (dict(faces_per_pixel=2.0), "faces_per_pixel"),
    (dict(blur_radius=-0.1), "blur_radius"),
    (dict(blur_radius=float("nan")), "blur_radius"),
    (dict(image_size=0), "image_size"),
    (dict(image_size=(16, -2)), "image_size"),
    (dict(image_size=(16, 16, 3)), "image_size"),
    (dict(image_size="big"), "image_size"),
    (dict(bin_size=-1), "bin_size"),
])
def test_bad_arguments(kw, name):
    v, f = _sphere(0)
    with pytest.raises(ValueError, match=name):
        rasterize_meshes(Meshes([v], [f]), **kw)


def test_meshes_must_be_meshes():
    with pytest.raises(ValueError, match="meshes"):
        rasterize_meshes(torch.rand(1, 3, 3), 16)
