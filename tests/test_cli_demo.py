"""The `unrender demo` command: files written, readable, and geometrically right."""

import json
import math
import subprocess
import sys

import torch
from PIL import Image

from unrender.geometry import surface_topology
from unrender.cli import main
from unrender.demo import _point_cloud
from unrender.io import load_image, load_obj, load_ply


def test_demo_writes_readable_files(tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--output", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    items = summary["items"]
    ico = load_obj(out / items["icosphere"]["file"])
    assert ico.verts.shape == (642, 3) and ico.faces.shape == (1280, 3)
    assert torch.allclose(ico.verts.norm(dim=1), torch.ones(642), atol=1e-5)
    mc = items["marching-cubes torus"]
    torus = load_obj(out / mc["file"])
    assert torus.faces.shape[0] == mc["faces"] > 1000
    v, f = torus.verts.double(), torus.faces
    volume = float((v[f[:, 0]] * torch.cross(v[f[:, 1]], v[f[:, 2]], dim=1)).sum() / 6)
    assert abs(volume - mc["analytic_volume"]) / mc["analytic_volume"] < 0.01
    cloud = load_ply(out / items["point cloud sampled from a torus"]["file"])
    assert cloud.verts.shape == (20000, 3) and cloud.normals.shape == (20000, 3) and cloud.colors is not None
    # every sample lies on the torus surface (R = 0.7, r = 0.25): the parametric mesh is within 1e-2
    q = torch.stack([cloud.verts[:, :2].norm(dim=1) - 0.7, cloud.verts[:, 2]], 1).norm(dim=1)
    assert float((q - 0.25).abs().max()) < 1e-2
    for name, item in items.items():
        img = load_image(out / item["picture"])
        if name not in ("deform-mesh fit", "body fitted to keypoints", "multi-view reconstruction",
                        "single-image reconstruction"):  # own layouts
            assert img.shape[:2] == (512, 512)
        assert float(img.std()) > 0.05, f"{item['picture']} is blank"
    # the single-image reconstruction: the shipped mesh model's deformed sphere, coloured, and its turntable
    single = items["single-image reconstruction"]
    chair = load_obj(out / single["file"])
    assert chair.verts.shape == (642, 3) == (single["vertices"], 3) and torch.isfinite(chair.verts).all()
    with Image.open(out / single["gif"]) as gif:
        assert gif.n_frames == 24
    # the deform-mesh method's result folder: a close fit, its GIF and loss curve
    fit = items["deform-mesh fit"]
    assert fit["f1@0.05"] >= 0.98 and fit["f1@0.02"] >= 0.85
    fitted = load_obj(out / fit["file"])
    assert surface_topology(fitted.verts, fitted.faces).is_sphere  # remeshed, still one closed genus-0 surface
    with Image.open(out / fit["gif"]) as gif:
        assert gif.n_frames >= 10
    assert load_image(out / fit["loss_curve"]).shape[2] == 3
    # turntables: the GIFs hold every frame, the PNG frames are RGBA with the object centred
    spin = items["shaded turntable"]
    with Image.open(out / spin["file"]) as gif:
        assert gif.n_frames == spin["frames"] == 36
    pngs = sorted((out / spin["frames_dir"]).glob("*.png"))
    assert len(pngs) == 36
    for frame in (pngs[0], pngs[17]):
        rgba = load_image(frame)
        assert rgba.shape == (256, 256, 4)
        ys, xs = torch.nonzero(rgba[..., 3] > 0.5, as_tuple=True)
        assert len(ys) > 0.1 * 256 * 256
        assert abs(float(xs.float().mean()) - 127.5) < 12 and abs(float(ys.float().mean()) - 127.5) < 20
    with Image.open(out / items["point cloud sampled from a torus"]["gif"]) as gif:
        assert gif.n_frames == 24
    # the body fitted to keypoints: a mesh, parameters that read back, the overlay picture
    body = items["body fitted to keypoints"]
    assert body["reprojection_px"] < 5.0
    assert load_obj(out / body["file"]).verts.shape[0] > 5000
    from unrender.io import load_body_parameters

    assert load_body_parameters(out / body["parameters"]).frame == "camera"
    assert load_image(out / body["picture"]).shape[2] == 3
    views = items["multi-view reconstruction"]  # a short NeRF of the example, scored held out
    assert views["mask_iou"] >= 0.9 and views["psnr"] >= 15.0
    assert load_obj(out / views["file"]).verts.shape[0] > 500
    with Image.open(out / views["gif"]) as gif:
        assert gif.n_frames == 24


def test_demo_steps_are_reproducible(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        _point_cloud(tmp_path / name, 3)
    for f in ("torus_points.ply", "torus_points.png"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()


def test_command_line_errors_exit_2():
    res = subprocess.run([sys.executable, "-m", "unrender.cli", "no-such-command"], capture_output=True, text=True)
    assert res.returncode == 2 and "invalid choice" in res.stderr
    res = subprocess.run([sys.executable, "-m", "unrender.cli"], capture_output=True, text=True)
    assert res.returncode == 2 and "demo" in res.stdout


def test_demo_target_shows_its_bumps():
    # Shading shows a bump where the surface normal turns away from the smooth ellipsoid's:
    # the demo's target (deform-mesh's example) tilts it past 20 degrees somewhere and past 10
    # on a quarter of the surface (the bumps of amplitude 0.12 stayed under 14 degrees).
    from unrender.geometry.shapes import bumpy_ellipsoid
    from unrender.methods import get_method

    target = get_method("deform-mesh").example_inputs(0)["target"]
    smooth = bumpy_ellipsoid(amplitude=0.0)
    cos = (target.verts_normals_packed() * smooth.verts_normals_packed()).sum(1).clamp(-1, 1)
    tilt = torch.rad2deg(torch.acos(cos))
    assert float(tilt.max()) > 20
    assert float((tilt > 10).float().mean()) > 0.25
