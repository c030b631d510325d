"""reconstruct-image: one picture -> mesh, voxels, points and camera by a learned single-view model.

The shipped checkpoints are trained separately; these tests use randomly initialised models saved with
``models.save_checkpoint``: they check the pipeline (input handling, placement, outputs, pictures, errors),
not the quality of a prediction.
"""

from __future__ import annotations

import json

import pytest
import torch

from unrender.cameras import FoVPerspectiveCameras, look_at_view_transform
from unrender.cli import main
from unrender.io import load_image, save_image
from unrender.methods import get_method, run_method, save_result
from unrender.data import CAMERA_DISTANCE
from unrender.methods.reconstruct_image import picture_rgba, place_in_view, training_camera
from unrender.structures import Meshes, PointClouds, Voxels


def _checkpoint(tmp_path, kind: str):
    from unrender.models import build_model, save_checkpoint

    torch.manual_seed(0)
    path = tmp_path / f"{kind}.pt"
    model = build_model(kind=kind, encoder="fast", latent=32)
    if kind == "vox":  # untrained, the grid sits at the occupancy prior (mostly empty): about half full instead
        torch.nn.init.zeros_(model.decoder.net[-1].bias)
    save_checkpoint(path, model)
    return path


def _disc_picture(H=96, W=128, centre=(70.0, 40.0), radius=20.0, rgba=True) -> torch.Tensor:
    """A red disc on transparent black (RGBA) or on white (RGB)."""
    yy, xx = torch.meshgrid(torch.arange(H) + 0.5, torch.arange(W) + 0.5, indexing="ij")
    inside = ((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 <= radius**2).float()
    red = torch.tensor([0.9, 0.1, 0.1])
    if rgba:
        return torch.cat([red * inside[..., None], inside[..., None]], -1)
    return red * inside[..., None] + (1 - inside[..., None])


# ----------------------------------------------------------------------------- the picture
def test_picture_rgba_keeps_alpha_and_keys_plain_backgrounds():
    rgba = _disc_picture()
    assert torch.equal(picture_rgba(rgba)[..., 3], rgba[..., 3])
    keyed = picture_rgba(_disc_picture(rgba=False))[..., 3]
    assert float((keyed - rgba[..., 3]).abs().mean()) < 0.01  # the disc found on its white background
    grey = picture_rgba(_disc_picture(rgba=False).mean(-1))
    assert grey.shape == (96, 128, 4) and float((grey[..., 3] - rgba[..., 3]).abs().mean()) < 0.01
    two = picture_rgba(torch.stack([rgba[..., 0], rgba[..., 3]], -1))  # grey + alpha
    assert torch.equal(two[..., 3], rgba[..., 3]) and torch.equal(two[..., 0], two[..., 1])


def test_picture_rgba_refuses_tiny_and_empty_pictures():
    with pytest.raises(ValueError, match=r"image: expected a picture at least 16 pixels.*12x8"):
        picture_rgba(torch.rand(8, 12, 4))
    with pytest.raises(ValueError, match="image: expected an object.*empty mask"):
        picture_rgba(torch.zeros(32, 32, 4))
    with pytest.raises(ValueError, match="image: expected an object"):
        picture_rgba(torch.ones(32, 32, 3))  # nothing but the background


# ----------------------------------------------------------------------------- placement
@pytest.mark.parametrize("fov", [40.0, 25.0])
def test_place_in_view_finds_the_depth_and_offset_of_a_projected_square(fov):
    """A flat square facing the camera at a known place: its mask gives back that place."""
    cam = training_camera(FoVPerspectiveCameras(fov=fov))
    g = torch.linspace(-0.4, 0.4, 21)
    square = torch.stack([*torch.meshgrid(g, g, indexing="xy"), torch.zeros(21, 21)], -1).reshape(-1, 3)
    true = torch.tensor([0.3, -0.2, 3.0])
    H, W = 120, 160
    # the mask: pixel centres inside the square's projection (camera at the view origin: view = world + T)
    corners = cam.transform_points_screen((square + true - torch.tensor([0, 0, CAMERA_DISTANCE]))[None],
                                          image_size=(H, W))[0]
    (x0, y0), (x1, y1) = corners[:, :2].min(0).values, corners[:, :2].max(0).values
    yy, xx = torch.meshgrid(torch.arange(H) + 0.5, torch.arange(W) + 0.5, indexing="ij")
    mask = ((xx > x0) & (xx < x1) & (yy > y0) & (yy < y1)).float()
    got = place_in_view(square, mask, cam)
    assert torch.allclose(got, true, atol=0.04 * float(true[2])), (got, true)


# ----------------------------------------------------------------------------- the method
@pytest.mark.parametrize("kind", ["mesh", "vox", "points"])
def test_each_model_gives_every_output_placed_on_the_mask(tmp_path, kind):
    image = _disc_picture()
    params = {"model": kind, "checkpoint": str(_checkpoint(tmp_path, kind))}
    result = run_method("reconstruct-image", {"image": image}, params)
    mesh, voxels, points, cam = (result.outputs[k] for k in ("mesh", "voxels", "points", "cameras"))
    assert isinstance(mesh, Meshes) and isinstance(voxels, Voxels) and isinstance(points, PointClouds)
    assert mesh.verts_list()[0].shape[0] > 0 and mesh.textures is not None
    assert torch.allclose(cam.get_camera_center(), torch.tensor([[0.0, 0.0, -CAMERA_DISTANCE]]))
    # the result projects onto the mask: the projected box of what was placed (the points model's points, else
    # the mesh) has the mask's centre and longer side; the points model's mesh (a surface around the points) lies
    # within it
    H, W = image.shape[:2]
    placed = points.points_list()[0] if kind == "points" else mesh.verts_list()[0]
    for pts, slack in ((placed, 0.0), (mesh.verts_list()[0], 12.0)):
        px = cam.transform_points_screen(pts[None], image_size=(H, W))[0, :, :2]
        lo, hi = px.min(0).values, px.max(0).values
        assert torch.allclose((lo + hi) / 2, torch.tensor([70.0, 40.0]), atol=1.0 + slack / 2), (lo, hi)
        assert 39.0 - slack < float((hi - lo).max()) < 41.0  # the disc is 40 pixels across
    colors = mesh.textures.verts_features_list()[0]
    assert float(colors[:, 0].mean()) > 0.5 > float(colors[:, 1].mean())  # coloured from the red disc
    assert result.metrics["depth"] > 0
    again = run_method("reconstruct-image", {"image": image}, params)
    assert torch.equal(again.outputs["mesh"].verts_list()[0], mesh.verts_list()[0])


def test_a_camera_input_sets_the_field_of_view(tmp_path):
    ckpt = str(_checkpoint(tmp_path, "mesh"))
    image = _disc_picture()
    wide = run_method("reconstruct-image", {"image": image}, {"checkpoint": ckpt})
    R, T = look_at_view_transform(5.0, 30.0, 10.0)  # a pose, which is not used
    narrow = run_method("reconstruct-image", {"image": image, "cameras": FoVPerspectiveCameras(fov=20.0, R=R, T=T)},
                        {"checkpoint": ckpt})
    # a narrower field of view sees the same picture from farther away
    assert narrow.metrics["depth"] > 1.8 * wide.metrics["depth"]
    assert float(narrow.outputs["cameras"].fov) == 20.0
    assert torch.allclose(narrow.outputs["cameras"].R, torch.eye(3)[None])


def test_result_folder_and_pictures(tmp_path):
    ckpt = str(_checkpoint(tmp_path, "vox"))
    image = _disc_picture(rgba=False)
    m = get_method("reconstruct-image")
    result = run_method(m, {"image": image}, {"model": "vox", "checkpoint": ckpt, "threshold": 0.3})
    out = tmp_path / "out"
    summary = save_result(m, {"image": image}, result, out)
    for name in ("mesh", "voxels", "points", "cameras"):
        assert summary["files"][name]
    pic = load_image(out / "reconstruction.png")
    assert pic.shape[0] == 192 and pic.shape[1] > 3 * 192  # three tiles side by side
    assert (out / "turntable.gif").stat().st_size > 0


# ----------------------------------------------------------------------------- errors and the command line
def test_cli_runs_and_bad_input_writes_nothing(tmp_path, capsys):
    ckpt = _checkpoint(tmp_path, "points")
    picture = tmp_path / "disc.png"
    save_image(picture, _disc_picture())
    out = tmp_path / "out"
    args = ["reconstruct-image", "--input", str(picture), "--output", str(out), "--quiet", "--model", "points"]
    assert main([*args, "--checkpoint", str(ckpt)]) == 0
    assert json.loads((out / "summary.json").read_text())["extra"]["model"] == "points"

    empty = tmp_path / "empty.png"
    save_image(empty, torch.zeros(32, 32, 4))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    cases = [
        (empty, ckpt, "empty.png): expected an object"),  # the picture's file is named
        (picture, tmp_path / "missing.pt", "missing.pt"),
        (picture, bad, "bad.pt"),
        (picture, _checkpoint(tmp_path, "vox"), "vox.pt"),  # a vox checkpoint for --model points
    ]
    for i, (given, checkpoint, said) in enumerate(cases):
        dest = tmp_path / f"none{i}"
        capsys.readouterr()
        code = main(["reconstruct-image", "--input", str(given), "--output", str(dest), "--quiet", "--model", "points",
                     "--checkpoint", str(checkpoint)])
        err = capsys.readouterr().err
        assert code == 2 and said in err, err
        assert not dest.exists()
