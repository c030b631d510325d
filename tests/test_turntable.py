"""Turntables: frame counts, framing (centred, visible), GIF and PNG output, errors."""

import pytest
import torch
from PIL import Image

from unrender.geometry.primitives import icosphere, torus
from unrender.render import TexturesUV, save_turntable, turntable, turntable_cameras
from unrender.structures import Meshes, PointClouds


def _centroid(alpha: torch.Tensor) -> torch.Tensor:
    """``(N, H, W)`` coverage -> ``(N, 2)`` (row, col) centroid in [0, 1] image units."""
    N, H, W = alpha.shape
    ys = (torch.arange(H, dtype=alpha.dtype) + 0.5) / H
    xs = (torch.arange(W, dtype=alpha.dtype) + 0.5) / W
    m = alpha.sum((1, 2))
    return torch.stack([(alpha.sum(2) * ys).sum(1) / m, (alpha.sum(1) * xs).sum(1) / m], 1)


def _check_framing(frames, min_cover=0.05):
    alpha = frames[..., 3]
    cover = alpha.mean((1, 2))
    assert bool((cover > min_cover).all()), f"object missing in some frame: {cover.tolist()}"
    # the bounding sphere fits: nothing touches the image border
    assert float(alpha[:, 0].abs().max() + alpha[:, -1].abs().max() + alpha[:, :, 0].abs().max() + alpha[:, :, -1].abs().max()) == 0.0
    return _centroid(alpha)


def test_mesh_turntable_frames_centred_and_visible():
    # An off-centre mesh: auto-framing looks at its bounding-sphere centre.
    m = icosphere(2)
    mesh = Meshes([m.verts_packed() * torch.tensor([1.0, 0.6, 0.8]) + torch.tensor([3.0, -2.0, 1.0])], [m.faces_packed()])
    frames = turntable(mesh, n_frames=8, image_size=64, alpha=True, background=(0.2, 0.3, 0.4))
    assert frames.shape == (8, 64, 64, 4) and frames.dtype == torch.float32
    assert bool(torch.isfinite(frames).all()) and float(frames.min()) >= 0 and float(frames.max()) <= 1
    c = _check_framing(frames)
    assert float((c - 0.5).abs().max()) < 0.05
    empty = frames[..., 3] == 0
    assert torch.allclose(frames[..., :3][empty], torch.tensor([0.2, 0.3, 0.4]).expand(int(empty.sum()), 3))
    # shaded, not flat: lit and unlit sides differ
    lit = frames[..., :3][frames[..., 3] > 0].mean(-1)
    assert float(lit.max() - lit.min()) > 0.2
    # successive frames differ (the object turns relative to its colours)
    colored = turntable(mesh, n_frames=4, image_size=48, colors=mesh.verts_packed().sub(mesh.verts_packed().mean(0)).sigmoid())
    assert colored.shape == (4, 48, 48, 3)
    assert float((colored[0] - colored[1]).abs().mean()) > 1e-3


@pytest.mark.parametrize("shader", ["gouraud", "flat"])
def test_turntable_shaders_and_z_up(shader):
    frames = turntable(torus(0.7, 0.25, rings=24, sides=12), n_frames=3, image_size=48, up="z", elevation=35, shader=shader, alpha=True)
    c = _check_framing(frames)
    assert float((c - 0.5).abs().max()) < 0.06


def test_turntable_uv_texture():
    m = icosphere(1)
    v, f = m.verts_packed(), m.faces_packed()
    uv = torch.stack([torch.atan2(v[:, 0], v[:, 2]) / (2 * torch.pi) + 0.5, v[:, 1] * 0.5 + 0.5], 1)
    tex = TexturesUV(torch.rand(16, 16, 3, generator=torch.Generator().manual_seed(0)), f, uv)
    frames = turntable(m, n_frames=2, image_size=40, textures=tex, alpha=True)
    _check_framing(frames)
    assert float(frames[..., :3][frames[..., 3] > 0].std()) > 0.05  # the texture shows


def test_point_cloud_turntable_with_features_and_culling():
    m = torus(0.7, 0.25, rings=32, sides=16)
    pts, nrm = m.verts_packed(), m.verts_normals_packed()
    cloud = PointClouds([pts + torch.tensor([0.0, 0.5, 0.0])], normals=[nrm], features=[nrm * 0.5 + 0.5])
    frames = turntable(cloud, n_frames=6, image_size=64, alpha=True)
    assert frames.shape == (6, 64, 64, 4)
    c = _check_framing(frames, min_cover=0.03)
    assert float((c - 0.5).abs().max()) < 0.06
    plain = turntable(PointClouds([pts]), n_frames=2, image_size=32, colors=(1.0, 0.0, 0.0), background=(0.0, 0.0, 1.0))
    assert float(plain[..., 0].max()) > 0.9 and float(plain[..., 2].max()) == 1.0


def _inside(drawn: torch.Tensor, margin: int) -> torch.Tensor:
    """``(H, W)`` bool: pixels inside the filled outline of ``drawn (H, W)`` (a blob: between its first and
    last drawn pixel along both the row and the column), at least ``margin`` pixels from the outside."""
    H, W = drawn.shape
    cols, rows = torch.arange(W), torch.arange(H)[:, None]
    lo_c = torch.where(drawn, cols, W).amin(1, keepdim=True)
    hi_c = torch.where(drawn, cols, -1).amax(1, keepdim=True)
    lo_r = torch.where(drawn, rows, H).amin(0, keepdim=True)
    hi_r = torch.where(drawn, rows, -1).amax(0, keepdim=True)
    filled = (cols >= lo_c) & (cols <= hi_c) & (rows >= lo_r) & (rows <= hi_r)
    outside = (~filled).float()[None, None]
    near_outside = torch.nn.functional.max_pool2d(outside, 2 * margin + 1, 1, margin, ceil_mode=False)[0, 0] > 0
    return filled & ~near_outside


def _dense_cloud(n: int = 20_000):
    from unrender.geometry import sample_points_from_meshes
    from unrender.geometry.shapes import bumpy_ellipsoid

    torch.manual_seed(0)
    return sample_points_from_meshes(bumpy_ellipsoid(), n)[0]


def test_dense_point_cloud_turntable_has_no_background_speckles():
    """Coverage-aware compositing (as the stills): inside the object nothing lighter than its colour shows.
    Splatted over the background alone, 1.5-2.6 % of these pixels were lighter speckles."""
    color = torch.tensor([0.2, 0.3, 0.8])
    frames = turntable(PointClouds([_dense_cloud()]), n_frames=4, image_size=256, elevation=30.0, up="z", colors=color)
    for f in frames:
        inside = _inside(~(f > 0.97).all(-1), margin=3)
        assert int(inside.sum()) > 10_000
        off = (f - color).abs().amax(-1) > 0.05
        assert float(off[inside].float().mean()) < 0.002


def test_cloud_without_normals_hides_its_far_side():
    """Points of the far half (blue) do not show through between the near half's (red) splats.
    Without the depth-aware composite 0.9-2.4 % of the inner pixels were blue."""
    pts = _dense_cloud()
    c = (pts.min(0).values + pts.max(0).values) / 2
    _, eye = turntable_cameras(c, 1.0, 4, 30.0, up="z")
    for i in (0, 3):
        front = ((pts - c) @ torch.nn.functional.normalize(eye[i] - c, dim=0) > 0)[:, None].float()
        colors = front * torch.tensor([1.0, 0.0, 0.0]) + (1 - front) * torch.tensor([0.0, 0.0, 1.0])
        f = turntable(PointClouds([pts]), n_frames=4, image_size=256, elevation=30.0, up="z", colors=colors)[i]
        inside = _inside(~(f > 0.97).all(-1), margin=8)  # the halves meet at the outline
        assert int(inside.sum()) > 10_000
        blue = f[..., 2] > f[..., 0] + 0.2
        assert float(blue[inside].float().mean()) < 0.005


def test_save_turntable_writes_gif_and_pngs(tmp_path):
    frames = turntable(icosphere(1), n_frames=5, image_size=32, alpha=True)
    out = save_turntable(tmp_path / "spin.gif", frames, png_dir=tmp_path / "frames", fps=10)
    with Image.open(out["gif"]) as gif:
        assert gif.n_frames == 5 and gif.size == (32, 32)
        gif.seek(2)
        assert gif.convert("RGB").getextrema() != ((255, 255), (255, 255), (255, 255))  # not blank
    assert [p.name for p in out["frames"]] == [f"frame_{i:03d}.png" for i in range(5)]
    with Image.open(out["frames"][3]) as png:
        assert png.mode == "RGBA" and png.size == (32, 32)
    rgb = turntable(icosphere(1), n_frames=2, image_size=16)
    assert save_turntable(tmp_path / "b.gif", rgb)["frames"] == []


def test_bad_inputs_name_the_argument(tmp_path):
    mesh = icosphere(1)
    cases = [
        (lambda: turntable("sphere"), "obj"),
        (lambda: turntable(Meshes([mesh.verts_packed()] * 2, [mesh.faces_packed()] * 2)), "obj"),
        (lambda: turntable(mesh, n_frames=0), "n_frames"),
        (lambda: turntable(mesh, shader="toon"), "shader"),
        (lambda: turntable(mesh, distance=-1.0), "distance"),
        (lambda: turntable(mesh, fov=190.0), "fov"),
        (lambda: turntable(mesh, up="x"), "up"),
        (lambda: turntable(mesh, colors=torch.rand(5, 3)), "colors"),
        (lambda: turntable(PointClouds([torch.rand(10, 3)]), point_radius=-0.1), "point_radius"),
        (lambda: save_turntable(tmp_path / "x.gif", torch.rand(4, 8, 8)), "frames"),
        (lambda: save_turntable(tmp_path / "x.gif", torch.rand(2, 8, 8, 3), fps=0), "fps"),
    ]
    for fn, name in cases:
        with pytest.raises(ValueError, match=name):
            fn()
