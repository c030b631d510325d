"""Dataset folders: written once (atomically, with a progress bar), validated and read back as a ``Dataset``.

Layout::

    root/dataset.json            format, version, categories, per-category split counts, views, sizes, seed
    root/<split>/<index:06d>.npz one object per file; index = category index * count + k

Object ``k`` of ``(split, category)`` uses the seed :func:`object_seed` ``(seed, split, category, k)``, so a
dataset depends only on its arguments, never on ``workers``.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import shutil
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .. import __version__
from ..image import network_input
from ..io.arrays import load_arrays
from ..threads import using_threads
from .categories import CATEGORIES
from .samples import BOUNDS, CAMERA_DISTANCE, CAMERA_FOV, ELEVATION_RANGE, make_sample

__all__ = ["SPLITS", "DATASET_FORMAT", "building_folder", "object_seed", "write_dataset", "read_dataset_info", "ShapeDataset"]

SPLITS = ("train", "val", "test")
DATASET_FORMAT = "unrender-shapes"
_VERSION = 1
_RESOLUTION, _IMAGE_SIZE, _RENDER_SIZE = 32, 64, 128
_MAX_FILE_BYTES = 64 << 20
_ITEM_KEYS = ("category", "images", "view_voxels", "points", "normals", "R")


def object_seed(seed: int, split: str, category: str, k: int) -> int:
    """The seed of object ``k`` of ``(split, category)``: a hash of the four, in ``[0, 2^63)``."""
    digest = hashlib.sha256(f"{int(seed)}/{split}/{category}/{int(k)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def _check_count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name}: expected a whole number >= 0, found {value!r}")
    return int(value)


def _check_categories(categories, allowed=CATEGORIES) -> list[str]:
    if categories is None:
        return list(allowed)
    cats = [categories] if isinstance(categories, str) else list(categories)
    bad = [c for c in cats if c not in allowed]
    if not cats or bad or len(set(cats)) != len(cats):
        raise ValueError(f"categories: expected distinct names among {', '.join(allowed)}, found {cats!r}")
    return cats


def _write_one(job) -> None:
    path, category, seed, views, points, occupancy = job
    with using_threads(1):
        arrays = make_sample(category, seed, views=views, points=points, occupancy_samples=occupancy)
    np.savez_compressed(path, **arrays)


@contextmanager
def building_folder(root: Path):
    """Build a folder whole or not at all: yields ``<root>.partial`` (new and empty); when the block ends
    it replaces ``root`` (renamed into place), and on any error it is removed, so ``root`` never holds
    half of what was being written."""
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        yield partial
        if root.exists():
            shutil.rmtree(root)
        partial.rename(root)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def write_dataset(root, *, train: int = 400, val: int = 25, test: int = 50, categories=None, views: int = 8,
                  seed: int = 0, workers: int = 1, overwrite: bool = False, progress: bool = True,
                  points: int = 4096, occupancy_samples: int = 4096) -> dict:
    """Generate a dataset folder at ``root``; returns the content of its ``dataset.json``.

    Counts are per category. The folder is built in ``<root>.partial`` and renamed into place when
    complete, so ``root`` never holds half a dataset. ``workers > 1`` generates in a process pool (the
    files are the same). Raises ``ValueError`` naming the argument for bad counts or categories, and
    naming ``root`` when it exists and is not empty (unless ``overwrite``).
    """
    counts = {s: _check_count(s, n) for s, n in zip(SPLITS, (train, val, test))}
    if sum(counts.values()) == 0:
        raise ValueError("train, val, test: expected at least one object, found 0 in every split")
    cats = _check_categories(categories)
    for name, value in (("views", views), ("workers", workers), ("points", points),
                        ("occupancy_samples", occupancy_samples)):
        if _check_count(name, value) < 1:
            raise ValueError(f"{name}: expected a whole number >= 1, found {value!r}")
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise ValueError(f"{root}: expected a folder for the dataset, found a file")
    if root.exists() and any(root.iterdir()) and not overwrite:
        raise ValueError(f"{root}: expected an empty or new folder, found files (pass overwrite=True to replace it)")
    info = {"format": DATASET_FORMAT, "version": _VERSION, "categories": cats, "splits": counts, "views": views,
            "image_size": _IMAGE_SIZE, "render_size": _RENDER_SIZE, "resolution": _RESOLUTION, "bounds": BOUNDS,
            "camera": {"distance": CAMERA_DISTANCE, "fov": CAMERA_FOV, "elevation": list(ELEVATION_RANGE)},
            "points": points, "occupancy_samples": occupancy_samples, "seed": int(seed), "unrender": __version__}
    from tqdm import tqdm

    with building_folder(root) as partial:
        jobs = []
        for split in SPLITS:
            (partial / split).mkdir()
            n = counts[split]
            for ci, category in enumerate(cats):
                for k in range(n):
                    path = partial / split / f"{ci * n + k:06d}.npz"
                    jobs.append((path, category, object_seed(seed, split, category, k), views, points,
                                 occupancy_samples))
        with tqdm(total=len(jobs), desc="dataset", unit="object", disable=not progress) as bar:
            if workers == 1:
                for job in jobs:
                    _write_one(job)
                    bar.update(1)
            else:
                context = multiprocessing.get_context("spawn")
                with ProcessPoolExecutor(workers, mp_context=context) as pool:
                    for _ in pool.map(_write_one, jobs, chunksize=4):
                        bar.update(1)
        (partial / "dataset.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def read_dataset_info(root) -> dict:
    """The checked ``dataset.json`` of a dataset folder.

    Raises ``FileNotFoundError`` for a missing folder and ``ValueError`` naming the path for a file, an
    empty folder, a folder without ``dataset.json``, unreadable JSON or a wrong format / version / field.
    """
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root}: dataset folder not found")
    if not root.is_dir():
        raise ValueError(f"{root}: expected a dataset folder, found a file")
    meta = root / "dataset.json"
    if not meta.is_file():
        found = "an empty folder" if not any(root.iterdir()) else "no dataset.json"
        raise ValueError(f"{root}: expected a dataset folder with dataset.json (unrender dataset), found {found}")
    try:
        info = json.loads(meta.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{meta}: expected JSON, found unreadable content ({exc})") from None
    if not isinstance(info, dict) or info.get("format") != DATASET_FORMAT or info.get("version") != _VERSION:
        found = {k: info.get(k) for k in ("format", "version")} if isinstance(info, dict) else type(info).__name__
        raise ValueError(f"{meta}: expected format {DATASET_FORMAT!r} version {_VERSION}, found {found}")
    try:
        _check_categories(info["categories"])
        if set(info["splits"]) != set(SPLITS):
            raise ValueError(f"splits {sorted(info['splits'])}")
        for split in SPLITS:
            _check_count(f"splits.{split}", info["splits"][split])
        for key in ("views", "image_size", "resolution", "points"):
            if _check_count(key, info[key]) < 1:
                raise ValueError(f"{key} {info[key]!r}")
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{meta}: expected a complete dataset description, found a bad or missing field ({exc})") from None
    return info


class ShapeDataset(Dataset):
    """The ``(object, view)`` pairs of one split: ``len = objects * views``.

    Items (batched by the default ``collate``):

    * ``image (4, 64, 64)`` float32: ``network_input`` of the framed view (RGB over white, alpha),
    * ``voxels (32, 32, 32)`` float32 0/1: occupancy in the view's frame (Voxels order),
    * ``points``, ``normals`` ``(points, 3)`` float32: the first ``points`` surface samples, ``@ R[view]``,
    * ``rotation (3, 3)`` float32 ``R[view]``, ``category``, ``object``, ``view`` int64 scalars.

    ``preload`` reads every file once up front (shared with ``DataLoader`` workers); otherwise each item
    reads its file. ``categories`` keeps only those categories. Files are read by
    :func:`unrender.io.arrays.load_arrays` (bounded, checked).
    """

    def __init__(self, root, split: str = "train", *, points: int = 2048, preload: bool = True, categories=None):
        self.root = Path(root)
        self.info = read_dataset_info(self.root)
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {', '.join(SPLITS)}, found {split!r}")
        self.split = split
        stored = int(self.info["points"])
        if _check_count("points", points) < 1 or points > stored:
            raise ValueError(f"points: expected 1 to {stored} (the points stored per object), found {points!r}")
        self.points = int(points)
        self.views = int(self.info["views"])
        self.resolution = int(self.info["resolution"])
        cats = _check_categories(categories, tuple(self.info["categories"]))
        n = int(self.info["splits"][split])
        folder = self.root / split
        self._files, self._file_categories = [], []
        for ci, category in enumerate(self.info["categories"]):
            if category in cats:
                self._files += [folder / f"{ci * n + k:06d}.npz" for k in range(n)]
                self._file_categories += [ci] * n
        if not self._files:
            raise ValueError(f"{folder}: expected objects in split {split!r}, found none (dataset.json counts 0)")
        missing = [p for p in self._files if not p.is_file()]
        if missing:
            raise ValueError(f"{folder}: expected {len(self._files)} object files, {len(missing)} missing "
                             f"(first: {missing[0].name})")
        self._cache = [self._read(i) for i in range(len(self._files))] if preload else None

    def __len__(self) -> int:
        return len(self._files) * self.views

    def object_path(self, i: int) -> Path:
        """The ``.npz`` file of object ``i`` (items ``i * views`` ... ``(i + 1) * views - 1``)."""
        return self._files[i]

    def object_category(self, i: int) -> int:
        """The category of object ``i`` (its index in ``info["categories"]``), from the folder's layout:
        no file is read."""
        return self._file_categories[i]

    def _read(self, i: int) -> dict[str, np.ndarray]:
        path = self._files[i]
        a = load_arrays(path, keys=_ITEM_KEYS, max_bytes=_MAX_FILE_BYTES)
        V, S, r = self.views, int(self.info["image_size"]), self.resolution
        want = {"category": ((), "i"), "images": ((V, S, S, 4), "u"), "view_voxels": ((V * r ** 3 // 8,), "u"),
                "points": ((int(self.info["points"]), 3), "f"), "normals": ((int(self.info["points"]), 3), "f"),
                "R": ((V, 3, 3), "f")}
        for key, (shape, kind) in want.items():
            if key not in a or a[key].shape != shape or a[key].dtype.kind != kind:
                found = "missing" if key not in a else f"{a[key].dtype} {a[key].shape}"
                raise ValueError(f"{path}: expected {key!r} of shape {shape}, found {found}")
        a["points"] = a["points"][: self.points]
        a["normals"] = a["normals"][: self.points]
        return a

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index: expected 0 to {len(self) - 1}, found {index}")
        index %= len(self)
        i, v = divmod(index, self.views)
        a = self._cache[i] if self._cache is not None else self._read(i)
        r = self.resolution
        R = torch.from_numpy(np.ascontiguousarray(a["R"][v]))
        bits = a["view_voxels"].reshape(self.views, -1)[v]
        voxels = np.unpackbits(bits)[: r ** 3].reshape(r, r, r)
        image = torch.from_numpy(a["images"][v].astype(np.float32) / 255.0)
        return {
            "image": network_input(image),
            "voxels": torch.from_numpy(voxels.astype(np.float32)),
            "points": torch.from_numpy(a["points"]) @ R,
            "normals": torch.from_numpy(a["normals"]) @ R,
            "rotation": R,
            "category": torch.tensor(int(a["category"]), dtype=torch.int64),
            "object": torch.tensor(i, dtype=torch.int64),
            "view": torch.tensor(v, dtype=torch.int64),
        }
