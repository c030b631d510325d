"""Turntables: frame counts, framing (centred, visible), GIF and PNG output, errors."""

import pytest
import torch
from PIL import Image

from unrender.geometry.primitives import icosphere, torus
from unrender.render import TexturesUV, save_turntable, turntable
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
