"""Posed views: images with their cameras, read from and written to the NeRF ``transforms.json`` layout.

What :func:`load_views` reads:

* a ``transforms.json`` (BlenderNeRF, instant-ngp, nerfstudio): intrinsics as
  ``camera_angle_x`` (optional ``camera_angle_y``) or ``fl_x`` / ``fl_y`` /
  ``cx`` / ``cy`` / ``w`` / ``h``, at the top level or per frame (a frame's
  own values win); ``frames[].file_path`` relative to the json, with or without
  extension; ``frames[].transform_matrix`` camera-to-world in OpenGL / Blender
  axes (conversion: :mod:`unrender.cameras.nerf`); ``frames[].mask_path``
  (nerfstudio) for separate mask files;
* a folder in the NeRF-synthetic layout (``transforms_train.json``,
  ``transforms_val.json``, ``transforms_test.json``: each frame gets its
  file's split) or holding one ``transforms.json``;
* a folder of images with an unrender cameras file (``cameras.json``, see
  :mod:`unrender.io.cameras`), or that cameras file itself: the images of its
  folder, sorted by name, are the cameras' views in order.

Masks come from mask files when the frames name them, else from the images'
alpha (an image without alpha is fully covered). Frames without a split of
their own are ``"train"``, except a held-out fraction ``holdout`` chosen
evenly along the frames (deterministic) which is ``"test"``.

Every check runs before any pixel is decoded: the JSON's structure, every
transform matrix (finite, invertible), every image and mask file (present,
inside the dataset's folder unless ``allow_outside_paths``, its size from the
header: all the same size, masks matching their image) and the total memory
against :data:`MAX_VIEWS_BYTES`. Errors are ``ValueError`` naming the file and
the frame.

:func:`save_views` writes the same layout back (the images as PNG, with the
mask as alpha when there are masks; ``fl_x`` / ``fl_y`` / ``cx`` / ``cy`` /
``w`` / ``h`` plus ``camera_angle_x`` for readers that only know that), so a
round trip gives the same views; it checks everything before writing anything.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from ._common import as_path, inside_folder, json_numbers
from .images import load_image, read_image_header, save_image

__all__ = ["MAX_VIEWS_BYTES", "SPLITS", "VIEWS_IMAGE_SUFFIXES", "PosedViews", "load_views", "save_views",
           "holdout_splits"]

#: The most bytes the decoded views may take (float32 RGB plus mask): 4 GiB. Checked from the image
#: headers before decoding; raise it for bigger datasets.
MAX_VIEWS_BYTES = 4 * 2**30
#: The splits of the NeRF-synthetic layout, in its file order.
SPLITS = ("train", "val", "test")
#: The extensions tried, in order, for a ``file_path`` written without one.
VIEWS_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
_DISTORTION = ("k1", "k2", "k3", "k4", "p1", "p2")


@dataclass
class PosedViews:
    """Images of one scene with their cameras.

    Attributes:
        images: ``(N, H, W, 3)`` float32 in [0, 1] (straight colour, not premultiplied by the mask).
        cameras: a batch of ``N`` unrender cameras (``PerspectiveCameras`` in NDC with
            ``image_size`` for NeRF files; the file's class for unrender cameras files).
        masks: ``(N, H, W)`` float32 in [0, 1] (1: the object) or None.
        file_names: ``N`` names (the image path relative to the dataset's folder, without extension).
        splits: ``N`` split labels (``"train"``, ``"val"``, ``"test"``).
    """

    images: torch.Tensor
    cameras: object
    masks: torch.Tensor | None = None
    file_names: list[str] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)

    def __post_init__(self):
        from ..cameras import CamerasBase

        im = self.images
        if not isinstance(im, torch.Tensor) or im.dim() != 4 or im.shape[-1] != 3 or min(im.shape[:3]) < 1:
            found = tuple(im.shape) if isinstance(im, torch.Tensor) else type(im).__name__
            raise ValueError(f"images: expected an (N, H, W, 3) tensor with N, H, W > 0, found {found}")
        for name, t in (("images", im), ("masks", self.masks)):
            if isinstance(t, torch.Tensor) and not t.is_floating_point():
                raise ValueError(f"{name}: expected a float tensor in [0, 1], found dtype {t.dtype}")
        n = im.shape[0]
        if not isinstance(self.cameras, CamerasBase):
            raise ValueError(f"cameras: expected unrender cameras, found {type(self.cameras).__name__}")
        if len(self.cameras) != n:
            raise ValueError(f"cameras: expected {n} cameras (one per image), found {len(self.cameras)}")
        if self.masks is not None and (not isinstance(self.masks, torch.Tensor) or tuple(self.masks.shape) != tuple(im.shape[:3])):
            found = tuple(self.masks.shape) if isinstance(self.masks, torch.Tensor) else type(self.masks).__name__
            raise ValueError(f"masks: expected shape {tuple(im.shape[:3])} (N, H, W) or None, found {found}")
        if not self.file_names:
            self.file_names = [f"{i:04d}" for i in range(n)]
        if not self.splits:
            self.splits = ["train"] * n
        self.file_names, self.splits = list(self.file_names), list(self.splits)
        if len(self.file_names) != n:
            raise ValueError(f"file_names: expected {n} names, found {len(self.file_names)}")
        if len(self.splits) != n or any(s not in SPLITS for s in self.splits):
            raise ValueError(f"splits: expected {n} labels among {SPLITS}, found {self.splits[:8]}")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def to(self, device) -> "PosedViews":
        """A copy on ``device``."""
        return PosedViews(self.images.to(device), self.cameras.clone().to(device),
                          None if self.masks is None else self.masks.to(device), self.file_names, self.splits)

    @property
    def image_size(self) -> tuple[int, int]:
        """``(H, W)``."""
        return int(self.images.shape[1]), int(self.images.shape[2])

    def subset(self, indices) -> "PosedViews":
        """The views at ``indices`` (a list of ints), in that order."""
        idx = [int(i) for i in indices]
        if not idx:
            raise ValueError("indices: expected at least one view, found none")
        t = torch.tensor(idx, dtype=torch.int64)
        return PosedViews(self.images[t], self.cameras[idx], None if self.masks is None else self.masks[t],
                          [self.file_names[i] for i in idx], [self.splits[i] for i in idx])

    def select(self, split: str) -> "PosedViews":
        """The views of one split (``"train"``, ``"val"`` or ``"test"``); ``ValueError`` when it has none."""
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {SPLITS}, found {split!r}")
        idx = [i for i, s in enumerate(self.splits) if s == split]
        if not idx:
            counts = {s: self.splits.count(s) for s in SPLITS if s in self.splits}
            raise ValueError(f"split: expected views in split {split!r}, found none (splits: {counts})")
        return self.subset(idx)


# ----------------------------------------------------------------------------- planning (no pixels decoded)
@dataclass
class _Frame:
    image: Path
    name: str
    split: str
    where: str  # "<json>: frame i (file_path)" for errors
    c2w: np.ndarray | None = None
    sources: tuple[dict, ...] = ()  # where the intrinsics are looked up: the frame, then the top level
    mask: Path | None = None
    alpha: bool = False


def holdout_splits(n: int, holdout: float) -> list[str]:
    """``n`` split labels with ``round(holdout * n)`` views ``"test"``, spread evenly; the rest ``"train"``."""
    if isinstance(holdout, bool) or not isinstance(holdout, (int, float)) or not 0.0 <= holdout < 1.0:
        raise ValueError(f"holdout: expected a fraction in [0, 1), found {holdout!r}")
    k = int(round(holdout * n))
    if holdout > 0 and n >= 2:
        k = min(max(k, 1), n - 1)
    test = {int((j + 0.5) * n / k) for j in range(k)} if k else set()
    return ["test" if i in test else "train" for i in range(n)]


def _read_json(p: Path):
    if not p.is_file():
        raise ValueError(f"{p}: no such file")
    try:
        return json.loads(p.read_bytes())
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{p}: expected JSON, found an error: {exc}") from None


def _number(where: str, key: str, v, *, positive: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or (positive and v <= 0):
        raise ValueError(f"{where}: expected '{key}' a finite number{' > 0' if positive else ''}, found {v!r:.40}")
    return float(v)


def _file(root: Path, base: Path, name, where: str, key: str, allow_outside: bool, guess_suffix: bool) -> Path:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}: expected '{key}' a non-empty string, found {name!r:.60}")
    if allow_outside:
        target = base / name.replace("\\", "/")
    else:
        target = inside_folder(root, name, base=base)
        if target is None:
            raise ValueError(f"{where}: '{key}' {name!r} leads outside the dataset's folder {root} "
                             "(pass allow_outside_paths=True to follow it)")
    if target.is_file():
        return target
    if guess_suffix:
        for s in VIEWS_IMAGE_SUFFIXES:
            cand = target.with_name(target.name + s)
            if cand.is_file():
                return cand
    tried = f" (also with {', '.join(VIEWS_IMAGE_SUFFIXES)})" if guess_suffix else ""
    raise ValueError(f"{where}: expected the {key} file {target}{tried}, found no such file")


def _frame_name(root: Path, image: Path) -> str:
    try:
        rel = image.relative_to(root)
    except ValueError:
        rel = Path(image.name)
    return PurePosixPath(*rel.with_suffix("").parts).as_posix() if rel.parts else image.stem


def _intrinsics(sources: list[dict], where: str, H: int, W: int):
    """``(focal, center)`` in pixels from the first of ``sources`` (frame, top level) that holds them."""
    for src in sources:
        for k in _DISTORTION:
            if k in src and _number(where, k, src[k]) != 0.0:
                raise ValueError(f"{where}: expected no lens distortion ('{k}' = 0; undistort the images first), "
                                 f"found {src[k]}")
        for k, size in (("w", W), ("h", H)):
            if k in src and _number(where, k, src[k], positive=True) != size:
                raise ValueError(f"{where}: expected '{k}' = {size} (the image is {W} x {H}), found {src[k]}")
    focal = None
    for src in sources:
        if "fl_x" in src or "fl_y" in src:
            fx = _number(where, "fl_x", src.get("fl_x", src.get("fl_y")), positive=True)
            fy = _number(where, "fl_y", src.get("fl_y", fx), positive=True)
            focal = (fx, fy)
        elif "camera_angle_x" in src:
            from ..cameras import focal_from_angle

            ax = _number(where, "camera_angle_x", src["camera_angle_x"], positive=True)
            if ax >= math.pi:
                raise ValueError(f"{where}: expected 'camera_angle_x' below pi radians, found {ax}")
            fx = focal_from_angle(ax, W)
            fy = fx
            if "camera_angle_y" in src:
                ay = _number(where, "camera_angle_y", src["camera_angle_y"], positive=True)
                if ay >= math.pi:
                    raise ValueError(f"{where}: expected 'camera_angle_y' below pi radians, found {ay}")
                fy = focal_from_angle(ay, H)
            focal = (fx, fy)
        if focal is not None:
            break
    if focal is None:
        raise ValueError(f"{where}: expected 'camera_angle_x' or 'fl_x' / 'fl_y' (in the frame or at the top "
                         "level), found neither")
    center = []
    for k, size in (("cx", W), ("cy", H)):
        src = next((s for s in sources if k in s), None)
        center.append(size / 2.0 if src is None else _number(where, k, src[k]))
    return focal, tuple(center)


def _plan_transforms(json_path: Path, root: Path, split: str | None, allow_outside: bool) -> list[_Frame]:
    from ..cameras import check_transform_matrix

    rec = _read_json(json_path)
    if not isinstance(rec, dict) or not isinstance(rec.get("frames"), list):
        found = sorted(rec)[:8] if isinstance(rec, dict) else type(rec).__name__
        raise ValueError(f"{json_path}: expected a JSON object with a 'frames' list, found {found}")
    frames = []
    for i, fr in enumerate(rec["frames"]):
        where = f"{json_path}: frame {i}"
        if not isinstance(fr, dict):
            raise ValueError(f"{where}: expected an object with 'file_path' and 'transform_matrix', found {fr!r:.60}")
        if "file_path" in fr and isinstance(fr["file_path"], str):
            where += f" ({fr['file_path']})"
        for key in ("file_path", "transform_matrix"):
            if key not in fr:
                raise ValueError(f"{where}: expected '{key}', found keys {sorted(fr)[:8]}")
        image = _file(root, json_path.parent, fr["file_path"], where, "file_path", allow_outside, True)
        try:
            m = json_numbers(fr["transform_matrix"])
        except ValueError as exc:
            raise ValueError(f"{where}: 'transform_matrix': {exc}") from None
        own = fr.get("split")
        if split is None and own is not None and own not in SPLITS:
            raise ValueError(f"{where}: expected 'split' among {SPLITS}, found {own!r:.40}")
        f = _Frame(image=image, name=_frame_name(root, image), split=split or own or "", where=where,
                   c2w=check_transform_matrix(m, f"{where}: transform_matrix"), sources=(fr, rec))
        if "mask_path" in fr:
            f.mask = _file(root, json_path.parent, fr["mask_path"], where, "mask_path", allow_outside, True)
        frames.append(f)
    return frames


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIEWS_IMAGE_SUFFIXES)


def _plan(path: Path, cameras, allow_outside: bool):
    """``(frames, unrender cameras or None, has layout splits)``."""
    from .cameras import load_cameras

    if path.is_dir():
        split_files = [path / f"transforms_{s}.json" for s in SPLITS]
        if any(p.is_file() for p in split_files):
            frames = []
            for s, p in zip(SPLITS, split_files):
                if p.is_file():
                    frames += _plan_transforms(p, path, s, allow_outside)
            return frames, None, True
        if cameras is None and (path / "transforms.json").is_file():
            return _plan_transforms(path / "transforms.json", path, None, allow_outside), None, False
        cam_file = as_path(cameras) if cameras is not None else path / "cameras.json"
        if not cam_file.is_file():
            raise ValueError(f"{path}: expected transforms.json, transforms_train/val/test.json or cameras.json "
                             "(unrender cameras) in the folder, found none")
        folder = path
    else:
        if not path.exists():
            raise ValueError(f"{path}: no such file or folder")
        rec = _read_json(path)
        if cameras is None and isinstance(rec, dict) and "frames" in rec:
            return _plan_transforms(path, path.parent, None, allow_outside), None, False
        if not (isinstance(rec, dict) and "R" in rec):
            found = sorted(rec)[:8] if isinstance(rec, dict) else type(rec).__name__
            raise ValueError(f"{path}: expected a transforms.json ('frames') or unrender cameras ('R', 'T'), "
                             f"found {found}")
        cam_file, folder = path, path.parent
    cams = load_cameras(cam_file)
    images = [p for p in _images_in(folder) if p != cam_file]
    if len(images) != len(cams):
        raise ValueError(f"{cam_file}: expected one image in {folder} per camera ({len(cams)} cameras), "
                         f"found {len(images)} images")
    frames = [_Frame(image=p, name=p.stem, split="", where=f"{cam_file}: camera {i} ({p.name})")
              for i, p in enumerate(images)]
    return frames, cams, False


def load_views(path, *, cameras=None, split: str | None = None, holdout: float = 0.0,
               allow_outside_paths: bool = False, dtype: torch.dtype = torch.float32,
               max_bytes: int | None = None) -> PosedViews:
    """Read posed views (layouts in the module docstring).

    Args:
        path: a ``transforms.json``, a folder (NeRF-synthetic layout, or with a
            ``transforms.json`` or a ``cameras.json``), or an unrender cameras file
            next to its images.
        cameras: an unrender cameras file for the images of the folder ``path``.
        split: keep only this split (``"train"``, ``"val"``, ``"test"``); None: all.
        holdout: without a layout's splits, the fraction of views labelled
            ``"test"`` (evenly spread, deterministic); the rest is ``"train"``.
        allow_outside_paths: follow image paths that lead out of the dataset's folder.
        dtype: the cameras' floating dtype (the conversion runs in float64).
        max_bytes: the most bytes of decoded views (default :data:`MAX_VIEWS_BYTES`).
    Returns:
        :class:`PosedViews`.
    Raises:
        ValueError: naming the file and the frame, before any image is decoded.
    """
    from ..cameras import cameras_from_nerf

    p = as_path(path)
    if split is not None and split not in SPLITS:
        raise ValueError(f"split: expected None or one of {SPLITS}, found {split!r}")
    frames, cams, layout_splits = _plan(p, cameras, allow_outside_paths)
    if not frames:
        raise ValueError(f"{p}: expected at least one frame, found none")
    layout_splits = layout_splits or all(f.split for f in frames)
    if not layout_splits:
        for f, s in zip(frames, holdout_splits(len(frames), holdout)):
            f.split = s
    elif holdout:
        raise ValueError(f"holdout: expected 0 for a dataset with its own splits ({p}), found {holdout}")
    keep = [i for i, f in enumerate(frames) if split is None or f.split == split]
    if not keep:
        raise ValueError(f"{p}: expected frames in split {split!r}, found none")
    frames = [frames[i] for i in keep]
    if cams is not None:
        cams = cams[keep]

    # sizes from the headers: every image the same size, masks matching, memory bounded
    size = None
    for f in frames:
        h, w, f.alpha = read_image_header(f.image)
        if size is None:
            size, first = (h, w), f
        elif (h, w) != size:
            raise ValueError(f"{f.where}: expected a {size[1]} x {size[0]} image like {first.image.name}, "
                             f"found {w} x {h} ({f.image})")
        if f.mask is not None:
            mh, mw, _ = read_image_header(f.mask)
            if (mh, mw) != (h, w):
                raise ValueError(f"{f.where}: expected a {w} x {h} mask like its image, found {mw} x {mh} ({f.mask})")
    with_mask_files = [f.mask is not None for f in frames]
    if any(with_mask_files) and not all(with_mask_files):
        f = frames[with_mask_files.index(False)]
        raise ValueError(f"{f.where}: expected a 'mask_path' like the other frames, found none")
    H, W = size
    limit = MAX_VIEWS_BYTES if max_bytes is None else int(max_bytes)
    need = len(frames) * H * W * 4 * 4
    if need > limit:
        raise ValueError(f"{p}: expected at most {limit} bytes of decoded views (MAX_VIEWS_BYTES), found "
                         f"{len(frames)} views of {W} x {H} ({need} bytes)")
    if cams is None:
        focal, center = zip(*(_intrinsics(list(f.sources), f.where, H, W) for f in frames))
        cams = cameras_from_nerf(np.stack([f.c2w for f in frames]), focal, center, (H, W), dtype=dtype)
    else:
        cam_size = cams.get_image_size() if hasattr(cams, "get_image_size") else None
        if cam_size is not None and not bool((cam_size == torch.tensor([H, W])).all()):
            raise ValueError(f"{frames[0].where}: expected cameras for {W} x {H} images, found image_size "
                             f"{cam_size[0].tolist()}")
        cams = cams.to(dtype=dtype)

    masks_wanted = any(with_mask_files) or any(f.alpha for f in frames)
    images = torch.empty(len(frames), H, W, 3)
    masks = torch.ones(len(frames), H, W) if masks_wanted else None
    for i, f in enumerate(frames):
        img = load_image(f.image)
        if tuple(img.shape[:2]) != (H, W):  # the file changed since its header was read
            raise ValueError(f"{f.where}: expected a {W} x {H} image, found {tuple(img.shape[:2])}")
        images[i] = img[..., :3]
        if f.mask is not None:
            m = load_image(f.mask)
            masks[i] = m[..., 3] if m.shape[-1] == 4 and not bool((m[..., 3] == 1).all()) else m[..., 0]
        elif masks is not None and img.shape[-1] == 4:
            masks[i] = img[..., 3]
    return PosedViews(images, cams, masks, [f.name for f in frames], [f.split for f in frames])


# ----------------------------------------------------------------------------- writing
def _safe_name(name: str) -> bool:
    pp = PurePosixPath(name)
    return bool(name) and not pp.is_absolute() and ".." not in pp.parts and "\\" not in name and ":" not in name \
        and all(part and part != "." for part in pp.parts)


def save_views(path, views: PosedViews, *, split_files: bool | None = None, image_prefix: str | None = None) -> list[Path]:
    """Write views as NeRF ``transforms.json`` with the images as PNG (the mask as alpha).

    Args:
        path: a ``.json`` file (images go beside it) or a folder (``transforms.json`` in it).
        split_files: write ``transforms_train/val/test.json`` (the NeRF-synthetic
            layout; only a folder ``path``) instead of one ``transforms.json`` with
            a ``split`` per frame. Default: True when the views have more than one split
            and ``path`` is a folder.
        image_prefix: name the images ``<image_prefix>_0000.png``, ... beside the json
            instead of by the views' ``file_names`` (all files then lie in one folder).
    Returns:
        The files written, the JSON first. Nothing is written when anything fails a check.
    """
    from ..cameras import nerf_from_cameras

    if not isinstance(views, PosedViews):
        raise ValueError(f"views: expected PosedViews, found {type(views).__name__}")
    p = as_path(path)
    is_json = p.suffix.lower() == ".json"
    if p.exists() and not is_json and not p.is_dir():
        raise ValueError(f"{p}: expected a folder or a .json file to write, found a file")
    root = p.parent if is_json else p
    splits_present = [s for s in SPLITS if s in views.splits]
    if split_files is None:
        split_files = not is_json and len(splits_present) > 1
    if split_files and is_json:
        raise ValueError(f"{p}: expected a folder for split_files=True (transforms_<split>.json), found a .json path")
    if not views.cameras.is_perspective():
        raise ValueError(f"views.cameras: expected perspective cameras (transforms.json holds pinhole cameras), "
                         f"found {type(views.cameras).__name__}")
    H, W = views.image_size
    c2w, focal, center = nerf_from_cameras(views.cameras, (H, W))
    if not (np.isfinite(c2w).all() and np.isfinite(focal).all() and np.isfinite(center).all()):
        raise ValueError("views.cameras: expected finite cameras, found NaN or infinity")
    if not bool(torch.isfinite(views.images).all()) or (views.masks is not None and not bool(torch.isfinite(views.masks).all())):
        raise ValueError("views: expected finite images and masks, found NaN or infinity")
    names = list(views.file_names)
    if image_prefix is not None:
        if not _safe_name(image_prefix) or "/" in image_prefix:
            raise ValueError(f"image_prefix: expected a plain file name, found {image_prefix!r}")
        names = [f"{image_prefix}_{i:04d}" for i in range(len(views))]
    elif not all(_safe_name(n) for n in names) or len({n.lower() for n in names}) != len(names):
        names = [f"images/{i:04d}" for i in range(len(views))]
    rel = [f"{n}.png" for n in names]

    def frame(i: int, with_split: bool) -> dict:
        fr = {"file_path": rel[i], "transform_matrix": c2w[i].tolist()}
        fr.update(fl_x=float(focal[i, 0]), fl_y=float(focal[i, 1]), cx=float(center[i, 0]), cy=float(center[i, 1]))
        if with_split:
            fr["split"] = views.splits[i]
        return fr

    same = bool(np.all(focal == focal[:1]) and np.all(center == center[:1]))

    def record(idx: list[int], with_split: bool) -> dict:
        rec = {"camera_angle_x": 2.0 * math.atan(0.5 * W / float(focal[idx[0], 0])), "w": W, "h": H}
        frames = [frame(i, with_split) for i in idx]
        if same:  # one camera model: the intrinsics at the top level, as BlenderNeRF / instant-ngp write them
            rec.update({k: frames[0][k] for k in ("fl_x", "fl_y", "cx", "cy")})
            for fr in frames:
                for k in ("fl_x", "fl_y", "cx", "cy"):
                    del fr[k]
        rec["frames"] = frames
        return rec

    if split_files:
        jsons = {root / f"transforms_{s}.json": record([i for i, v in enumerate(views.splits) if v == s], False)
                 for s in splits_present}
    else:
        jsons = {p if is_json else root / "transforms.json": record(list(range(len(views))), True)}

    root.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    tmp = Path(tempfile.mkdtemp(prefix=".unrender-views-", dir=root))
    try:
        staged = []
        for i, r in enumerate(rel):
            img = views.images[i].detach().cpu()
            if views.masks is not None:
                img = torch.cat([img, views.masks[i].detach().cpu()[..., None]], -1)
            t = tmp / f"{i}.png"
            save_image(t, img)
            staged.append((t, root / r))
        for j, (target, rec) in enumerate(jsons.items()):
            t = tmp / f"{j}.json"
            t.write_text(json.dumps(rec, indent=2))
            staged.append((t, target))
        for src, dst in staged:  # JSON last: a reader never finds frames without their images
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
            written.append(dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written[len(rel):] + written[:len(rel)]
