"""Posed views in and out: the NeRF ``transforms.json`` layouts, unrender cameras files, masks, splits, bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from unrender.cameras import (OrthographicCameras, PerspectiveCameras, cameras_from_nerf, focal_from_angle,
                              nerf_from_cameras)
from unrender.io import PosedViews, holdout_splits, load_views, save_cameras, save_image, save_views
from unrender.kinds import get_kind, load_as

H, W = 12, 16  # non-square: catches axis swaps


def _look_c2w(rng, n: int) -> np.ndarray:
    """``n`` OpenGL camera-to-world matrices on a sphere looking at the origin, rolled a little."""
    out = []
    for _ in range(n):
        eye = rng.normal(size=3)
        eye = 3.0 * eye / np.linalg.norm(eye)
        back = eye / np.linalg.norm(eye)  # +Z of the camera points away from the target
        right = np.cross([0.3, 0.2, 1.0], back)
        right /= np.linalg.norm(right)
        up = np.cross(back, right)
        m = np.eye(4)
        m[:3, :3] = np.stack([right, up, back], 1)
        m[:3, 3] = eye
        out.append(m)
    return np.stack(out)


def _nerf_project(c2w: np.ndarray, f, c, pts: np.ndarray) -> np.ndarray:
    """The NeRF pinhole written out: pixel ``(u, v)`` from the top-left corner of the image."""
    a = c2w[:3, :3] / np.linalg.norm(c2w[:3, :3], axis=0)
    local = (pts - c2w[:3, 3]) @ np.linalg.inv(a).T
    z = -local[:, 2]
    return np.stack([c[0] + f[0] * local[:, 0] / z, c[1] - f[1] * local[:, 1] / z], 1)


def _write_dataset(root: Path, rng, n: int = 4, *, alpha: bool = True, ext: bool = False, name="transforms.json",
                   frames_extra=None, folder="imgs") -> tuple[dict, np.ndarray]:
    """A ``transforms.json`` with random 8-bit RGBA images; returns the record and the images ``(n, H, W, 4)``."""
    (root / folder).mkdir(parents=True, exist_ok=True)
    c2w = _look_c2w(rng, n)
    imgs = rng.integers(0, 256, (n, H, W, 4), dtype=np.uint8)
    frames = []
    for i in range(n):
        stem = f"{folder}/{name.split('.')[0]}_{i}"
        save_image(root / f"{stem}.png", imgs[i] if alpha else imgs[i, ..., :3])
        frames.append({"file_path": f"./{stem}{'.png' if ext else ''}", "transform_matrix": c2w[i].tolist()})
        frames[-1].update((frames_extra or {}).get(i, {}))
    rec = {"camera_angle_x": 0.8, "frames": frames}
    (root / name).write_text(json.dumps(rec))
    return rec, imgs


# ----------------------------------------------------------------------------- the camera conversion
def test_cameras_from_nerf_project_as_the_nerf_pinhole():
    rng = np.random.default_rng(0)
    c2w = _look_c2w(rng, 5)
    c2w[1, :3, :3] *= 2.5  # a scaled camera object: the scale is dropped, as Blender does
    focal = rng.uniform(10, 30, (5, 2))
    center = np.array([W / 2, H / 2]) + rng.uniform(-3, 3, (5, 2))
    cams = cameras_from_nerf(c2w, focal, center, (H, W), dtype=torch.float64)
    pts = rng.normal(size=(30, 3)) * 0.5
    for i in range(5):
        ours = cams[i].transform_points_screen(torch.from_numpy(pts))[:, :2].numpy()
        np.testing.assert_allclose(ours, _nerf_project(c2w[i], focal[i], center[i], pts), atol=1e-9)
    back, f2, c2 = nerf_from_cameras(cams)
    unscaled = c2w.copy()
    unscaled[:, :3, :3] /= np.linalg.norm(c2w[:, :3, :3], axis=1, keepdims=True)
    np.testing.assert_allclose(back, unscaled, atol=1e-12)
    np.testing.assert_allclose(f2, focal, rtol=1e-13)
    np.testing.assert_allclose(c2, center, atol=1e-12)


def test_camera_angle_spans_the_width():
    assert focal_from_angle(2 * math.atan(0.5), 16) == pytest.approx(16.0)
    # a point on the right edge of the image at unit depth
    cams = cameras_from_nerf(np.eye(4)[None], [[focal_from_angle(1.0, W)] * 2], [[W / 2, H / 2]], (H, W),
                             dtype=torch.float64)
    x = math.tan(0.5)
    uv = cams.transform_points_screen(torch.tensor([[x, 0.0, -1.0]], dtype=torch.float64))[0, :2]
    torch.testing.assert_close(uv, torch.tensor([float(W), H / 2], dtype=torch.float64))


# ----------------------------------------------------------------------------- reading
def test_load_transforms_json_images_masks_cameras(tmp_path):
    rng = np.random.default_rng(1)
    rec, imgs = _write_dataset(tmp_path, rng, 4)
    views = load_views(tmp_path / "transforms.json", dtype=torch.float64)
    assert len(views) == 4 and views.image_size == (H, W)
    torch.testing.assert_close(views.images, torch.from_numpy(imgs[..., :3] / 255.0).float(), atol=0, rtol=0)
    torch.testing.assert_close(views.masks, torch.from_numpy(imgs[..., 3] / 255.0).float(), atol=0, rtol=0)
    assert views.file_names == [f"imgs/transforms_{i}" for i in range(4)]
    assert views.splits == ["train"] * 4
    f = focal_from_angle(0.8, W)
    ref = cameras_from_nerf(np.array([fr["transform_matrix"] for fr in rec["frames"]]), [[f, f]] * 4,
                            [[W / 2, H / 2]] * 4, (H, W), dtype=torch.float64)
    torch.testing.assert_close(views.cameras.get_full_projection_transform().get_matrix(),
                               ref.get_full_projection_transform().get_matrix())
    # the same dataset through its folder, and with file extensions written out
    assert load_views(tmp_path).file_names == views.file_names


def test_intrinsics_in_pixels_per_frame_and_no_alpha(tmp_path):
    rng = np.random.default_rng(2)
    extra = {1: {"fl_x": 20.0, "fl_y": 22.0, "cx": 7.0, "cy": 5.5}}
    rec, _ = _write_dataset(tmp_path, rng, 3, alpha=False, ext=True, frames_extra=extra)
    rec.update(fl_x=14.0, cx=8.5, w=W, h=H)
    del rec["camera_angle_x"]
    (tmp_path / "transforms.json").write_text(json.dumps(rec))
    views = load_views(tmp_path / "transforms.json", dtype=torch.float64)
    assert views.masks is None
    _, focal, center = nerf_from_cameras(views.cameras)
    np.testing.assert_allclose(focal, [[14, 14], [20, 22], [14, 14]], rtol=1e-12)
    np.testing.assert_allclose(center, [[8.5, H / 2], [7.0, 5.5], [8.5, H / 2]], atol=1e-12)
    rec["camera_angle_y"] = 0.6
    rec["camera_angle_x"] = 0.9
    for k in ("fl_x", "cx"):
        del rec[k]
    (tmp_path / "transforms.json").write_text(json.dumps(rec))
    _, focal, _ = nerf_from_cameras(load_views(tmp_path / "transforms.json", dtype=torch.float64).cameras)
    np.testing.assert_allclose(focal[0], [focal_from_angle(0.9, W), focal_from_angle(0.6, H)], rtol=1e-12)


def test_nerf_synthetic_layout_splits(tmp_path):
    rng = np.random.default_rng(3)
    for s, n in (("train", 3), ("val", 1), ("test", 2)):
        _write_dataset(tmp_path, rng, n, name=f"transforms_{s}.json", folder=s)
    views = load_views(tmp_path)
    assert views.splits == ["train"] * 3 + ["val"] + ["test"] * 2
    assert views.file_names[-1] == "test/transforms_test_1"
    test = views.select("test")
    assert len(test) == 2 and test.file_names == views.file_names[4:]
    torch.testing.assert_close(test.images, views.images[4:])
    torch.testing.assert_close(test.cameras.R, views.cameras.R[4:])
    assert len(load_views(tmp_path, split="val")) == 1
    with pytest.raises(ValueError, match="holdout"):
        load_views(tmp_path, holdout=0.2)


def test_holdout_is_even_and_deterministic(tmp_path):
    labels = holdout_splits(40, 0.2)
    test = [i for i, s in enumerate(labels) if s == "test"]
    assert len(test) == 8 and np.diff(test).min() == 5
    assert holdout_splits(3, 0.01).count("test") == 1 and holdout_splits(5, 0.0) == ["train"] * 5
    rng = np.random.default_rng(4)
    _write_dataset(tmp_path, rng, 8)
    a = load_views(tmp_path, holdout=0.25)
    assert a.splits == load_views(tmp_path, holdout=0.25).splits and a.splits.count("test") == 2
    assert len(load_views(tmp_path, holdout=0.25, split="test")) == 2


def test_mask_files(tmp_path):
    rng = np.random.default_rng(5)
    masks = rng.integers(0, 256, (2, H, W), dtype=np.uint8)
    for i in range(2):
        save_image(tmp_path / f"m{i}.png", masks[i])
    _write_dataset(tmp_path, rng, 2, alpha=False, frames_extra={i: {"mask_path": f"m{i}.png"} for i in range(2)})
    views = load_views(tmp_path)
    torch.testing.assert_close(views.masks, torch.from_numpy(masks / 255.0).float(), atol=0, rtol=0)


def test_images_with_unrender_cameras(tmp_path):
    from unrender.cameras import look_at_view_transform

    R, T = look_at_view_transform(3.0, 20.0, [0.0, 90.0, 180.0])
    cams = PerspectiveCameras(focal_length=2.0, R=R, T=T, in_ndc=True, image_size=(H, W))
    save_cameras(tmp_path / "cameras.json", cams)
    imgs = np.random.default_rng(6).integers(0, 256, (3, H, W, 3), dtype=np.uint8)
    for i in range(3):
        save_image(tmp_path / f"view_{i}.png", imgs[i])
    for path in (tmp_path, tmp_path / "cameras.json"):
        views = load_views(path)
        assert views.file_names == ["view_0", "view_1", "view_2"] and views.masks is None
        torch.testing.assert_close(views.images, torch.from_numpy(imgs / 255.0).float())
        torch.testing.assert_close(views.cameras.R, cams.R)
    (tmp_path / "cams").mkdir()
    (tmp_path / "cameras.json").rename(tmp_path / "cams" / "mine.json")
    assert load_views(tmp_path, cameras=tmp_path / "cams" / "mine.json").file_names == views.file_names
    (tmp_path / "cams" / "mine.json").rename(tmp_path / "cameras.json")
    (tmp_path / "view_2.png").unlink()
    with pytest.raises(ValueError, match=r"cameras.json: expected one image .* per camera \(3 cameras\), found 2"):
        load_views(tmp_path)


# ----------------------------------------------------------------------------- writing
@pytest.mark.parametrize("target", ["folder", "json"])
def test_save_load_round_trip(tmp_path, target):
    rng = np.random.default_rng(7)
    for s, n in (("train", 3), ("test", 2)):
        _write_dataset(tmp_path / "src", rng, n, name=f"transforms_{s}.json", folder=s)
    views = load_views(tmp_path / "src", dtype=torch.float64)
    out = tmp_path / "out" if target == "folder" else tmp_path / "out" / "scene.json"
    written = save_views(out, views)
    assert all(p.is_file() for p in written)
    if target == "folder":
        assert {p.name for p in written} >= {"transforms_train.json", "transforms_test.json"}
    back = load_views(out, dtype=torch.float64)
    assert back.file_names == views.file_names and back.splits == views.splits
    torch.testing.assert_close(back.images, views.images, atol=0, rtol=0)
    torch.testing.assert_close(back.masks, views.masks, atol=0, rtol=0)
    for name in ("R", "T", "focal_length", "principal_point"):
        torch.testing.assert_close(getattr(back.cameras, name), getattr(views.cameras, name), atol=1e-12, rtol=1e-12)
    rec = json.loads(written[0].read_text())
    assert rec["w"] == W and rec["h"] == H and "camera_angle_x" in rec and "fl_x" in rec  # what other tools read


def test_save_refuses_bad_views_and_writes_nothing(tmp_path):
    imgs = torch.rand(2, H, W, 3)
    R = torch.eye(3).expand(2, 3, 3)
    ortho = PosedViews(imgs, OrthographicCameras(R=R, T=torch.tensor([[0.0, 0, 3]] * 2), image_size=(H, W)))
    with pytest.raises(ValueError, match="perspective"):
        save_views(tmp_path / "a", ortho)
    bad = PosedViews(imgs.clone(), PerspectiveCameras(R=R, T=torch.tensor([[0.0, 0, 3]] * 2), image_size=(H, W)))
    bad.images[1, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        save_views(tmp_path / "b", bad)
    assert not any(tmp_path.iterdir())
    with pytest.raises(ValueError, match="cameras: expected 2 cameras"):
        PosedViews(imgs, PerspectiveCameras(R=R[:1]))
    with pytest.raises(ValueError, match="images: expected a float tensor"):
        PosedViews((imgs * 255).to(torch.uint8), PerspectiveCameras(R=R))
    with pytest.raises(ValueError, match=r"masks: expected shape \(2, 12, 16\)"):
        PosedViews(imgs, PerspectiveCameras(R=R), torch.rand(2, H, W - 1))


# ----------------------------------------------------------------------------- bad input (issue 12, section 8)
def _edit(path: Path, change) -> None:
    rec = json.loads(path.read_text())
    change(rec)
    path.write_text(json.dumps(rec))


def _set_matrix(i, value):
    return lambda rec: rec["frames"][i].__setitem__("transform_matrix", value)


BAD = {
    "missing image": (lambda r: r["frames"][2].__setitem__("file_path", "./imgs/nothing"),
                      r"transforms.json: frame 2 \(./imgs/nothing\): expected the file_path file .*nothing"),
    "NaN matrix": (lambda r: r["frames"][1]["transform_matrix"][0].__setitem__(3, float("nan")),
                   r"frame 1 .*transform_matrix: expected finite numbers"),
    "singular matrix": (_set_matrix(3, [[1, 0, 0, 0], [0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 1]]),
                        r"frame 3 .*transform_matrix: expected an invertible"),
    "matrix shape": (_set_matrix(0, [[1, 0, 0], [0, 1, 0]]), r"frame 0 .*expected a 4x4"),
    "matrix strings": (_set_matrix(0, "eye"), r"frame 0 .*transform_matrix.*expected JSON numbers"),
    "no frames": (lambda r: r.__setitem__("frames", []), r"transforms.json: expected at least one frame"),
    "frames not a list": (lambda r: r.__setitem__("frames", {"a": 1}), r"transforms.json: expected a JSON object with a 'frames' list"),
    "frame not an object": (lambda r: r["frames"].__setitem__(1, [1, 2]), r"frame 1: expected an object"),
    "no file_path": (lambda r: r["frames"][2].pop("file_path"), r"frame 2: expected 'file_path'"),
    "no intrinsics": (lambda r: r.pop("camera_angle_x"), r"frame 0 .*expected 'camera_angle_x' or 'fl_x'"),
    "distortion": (lambda r: r.update(k1=0.1), r"frame 0 .*expected no lens distortion \('k1' = 0"),
    "width": (lambda r: r.update(w=W + 1), rf"frame 0 .*expected 'w' = {W}"),
    "outside path": (lambda r: r["frames"][0].__setitem__("file_path", "../elsewhere/x.png"), r"frame 0 .*outside the dataset's folder"),
    "bad split": (lambda r: r["frames"][0].__setitem__("split", "holdout"), r"frame 0 .*expected 'split' among"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_transforms_named_by_file_and_frame(tmp_path, case):
    change, message = BAD[case]
    _write_dataset(tmp_path, np.random.default_rng(8), 4)
    _edit(tmp_path / "transforms.json", change)
    with pytest.raises(ValueError, match=message):
        load_views(tmp_path / "transforms.json")


def test_bad_images_and_masks_named_by_file_and_frame(tmp_path):
    rng = np.random.default_rng(9)
    _write_dataset(tmp_path, rng, 3)
    save_image(tmp_path / "imgs" / "transforms_2.png", np.zeros((H + 1, W, 3), np.uint8))
    with pytest.raises(ValueError, match=rf"frame 2 .*expected a {W} x {H} image like transforms_0.png, found {W} x {H + 1}"):
        load_views(tmp_path)
    save_image(tmp_path / "imgs" / "transforms_2.png", np.zeros((H, W, 3), np.uint8))
    save_image(tmp_path / "m.png", np.zeros((H, W - 1), np.uint8))
    _edit(tmp_path / "transforms.json", lambda r: [fr.__setitem__("mask_path", "m.png") for fr in r["frames"]])
    with pytest.raises(ValueError, match=rf"frame 0 .*expected a {W} x {H} mask like its image, found {W - 1} x {H}"):
        load_views(tmp_path)
    save_image(tmp_path / "m.png", np.zeros((H, W), np.uint8))
    _edit(tmp_path / "transforms.json", lambda r: r["frames"][1].pop("mask_path"))
    with pytest.raises(ValueError, match=r"frame 1 .*expected a 'mask_path' like the other frames"):
        load_views(tmp_path)
    (tmp_path / "imgs" / "transforms_0.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"transforms_0.png: expected an image file"):
        load_views(tmp_path)


def test_memory_bound_checked_before_decoding(tmp_path):
    _write_dataset(tmp_path, np.random.default_rng(10), 3)
    with pytest.raises(ValueError, match=r"MAX_VIEWS_BYTES.*3 views of 16 x 12"):
        load_views(tmp_path, max_bytes=3 * H * W * 16 - 1)
    assert len(load_views(tmp_path, max_bytes=3 * H * W * 16)) == 3


# ----------------------------------------------------------------------------- the kind
def test_views_kind_reads_folders_and_files_saves_and_pictures(tmp_path):
    _write_dataset(tmp_path / "data", np.random.default_rng(11), 5)
    views = load_as(["views"], tmp_path / "data", "input")
    assert len(load_as(["views"], tmp_path / "data" / "transforms.json", "input")) == 5
    kind = get_kind("views")
    assert kind.recognise(views) and not kind.recognise(torch.zeros(2, 3))
    assert kind.describe(views) == {"kind": "views", "views": 5, "size": [H, W], "masks": True, "splits": {"train": 5}}
    assert kind.check("input", views, ("views",)) is views
    sheet = kind.picture(views, size=24)
    assert sheet.shape == (24, 4 * 32 + 3 * 4, 3)
    written = kind.save(tmp_path / "out" / "views", views)
    assert [p.name for p in written] == ["views.json"] + [f"views_{i:04d}.png" for i in range(5)]
    torch.testing.assert_close(load_views(written[0]).images, views.images, atol=0, rtol=0)
    (tmp_path / "other.json").write_text(json.dumps({"people": []}))
    with pytest.raises(ValueError, match="no posed views"):
        load_as(["views"], tmp_path / "other.json", "input")
    with pytest.raises(ValueError, match="expected a file, found a folder"):
        load_as(["mesh"], tmp_path / "data", "input")
