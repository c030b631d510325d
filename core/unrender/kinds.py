"""The table of data kinds: what a method takes and gives, how it is read, written, checked and pictured.

One :class:`Kind` per kind of data (``mesh``, ``points``, ``voxels``, ``image``,
``cameras``, ``keypoints``, ``body``, ``views``). Methods name kinds in their inputs and outputs;
the command line reads inputs by file suffix, the runner checks them, the
result folder saves outputs and describes inputs, and the default pictures
draw them, all by looking the kind up here. Adding a kind is one
:func:`register_kind` call (plus, for Blender, one reader and one writer in
the add-on).

Lookups: :data:`KINDS` (name -> kind, in registration order), :func:`get_kind`,
:func:`kind_of` (the first kind that recognises a value), :data:`INPUT_KINDS`
and :data:`OUTPUT_KINDS` (live views of the names; output kinds are those
that can be saved).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from ._validate import check_finite
from .structures import Meshes, PointClouds, Voxels

__all__ = [
    "Kind",
    "KINDS",
    "INPUT_KINDS",
    "OUTPUT_KINDS",
    "NotThisKind",
    "get_kind",
    "kind_of",
    "register_kind",
    "load_as",
]


class NotThisKind(ValueError):
    """A file (or value) does not hold this kind at all (as opposed to holding it malformed)."""


def _keep(name: str, value, accepts: tuple[str, ...]):
    return value


@dataclass(frozen=True)
class Kind:
    """One kind of data.

    Attributes:
        name: what methods call it (``Input.kinds``, ``Output.kind``).
        types: the Python types of its values.
        description: one line for help texts.
        recognise: ``value -> bool``.
        check: ``(name, value, accepts) -> value``: the value checked and
            converted for a method input named ``name`` that accepts the kinds
            ``accepts``; raises ``ValueError`` naming the input, what was
            expected and what was found. Devices are moved afterwards.
        suffixes: file suffixes it is read from, the first one written.
        load: ``(path, name) -> value``: read a file (by ``path``'s suffix);
            raises :class:`NotThisKind` when the file holds other data, and
            ``ValueError`` when it holds this kind malformed. None: no files.
        save: ``(path_stem, value) -> [written paths]`` (``path_stem`` without
            suffix). None: not an output kind.
        describe: ``value -> dict``: a short JSON description (kind and sizes).
        picture: ``(value, **render_still options) -> (H, W, 3)`` or None.
        serves: other kinds a value of this kind may stand in for (a mesh
            serves a point-cloud input as its vertices).
        folders: whether ``load`` also reads a folder (a dataset of files).
    """

    name: str
    types: tuple[type, ...]
    description: str
    recognise: Callable[[Any], bool]
    describe: Callable[[Any], dict]
    check: Callable[[str, Any, tuple[str, ...]], Any] = _keep
    suffixes: tuple[str, ...] = ()
    load: Callable[[Path, str], Any] | None = None
    save: Callable[[Path, Any], list[Path]] | None = None
    picture: Callable[..., torch.Tensor] | None = None
    serves: tuple[str, ...] = field(default=())
    folders: bool = False

    def __post_init__(self):
        if not self.name.isidentifier():
            raise ValueError(f"Kind.name: expected a Python identifier, found {self.name!r}")
        bad = [s for s in self.suffixes if not (s.startswith(".") and s == s.lower())]
        if bad:
            raise ValueError(f"Kind {self.name!r}: expected lower-case suffixes starting with '.', found {bad}")
        if self.suffixes and self.load is None:
            raise ValueError(f"Kind {self.name!r}: expected a load function for suffixes {self.suffixes}")


KINDS: dict[str, Kind] = {}


def register_kind(kind: Kind, *, replace: bool = False) -> Kind:
    """Add ``kind`` to the table (``replace=True`` to override one of the same name); returns it."""
    if not isinstance(kind, Kind):
        raise ValueError(f"kind: expected a Kind, found {type(kind).__name__}")
    if kind.name in KINDS and not replace:
        raise ValueError(f"kind: {kind.name!r} is already registered")
    KINDS[kind.name] = kind
    return kind


def get_kind(name: str) -> Kind:
    """The kind called ``name``; ``ValueError`` listing the known kinds otherwise."""
    try:
        return KINDS[name]
    except (KeyError, TypeError):
        raise ValueError(f"kind: expected one of {', '.join(KINDS)}, found {name!r}") from None


def kind_of(value, among: Sequence[str] | None = None) -> Kind | None:
    """The first kind (of ``among``, in that order, else of the whole table) that recognises ``value``."""
    names = KINDS if among is None else [n for n in among if n in KINDS]
    for n in names:
        if KINDS[n].recognise(value):
            return KINDS[n]
    return None


class _KindNames(Sequence):
    """A live, tuple-like view of the names of the kinds that pass ``keep``."""

    def __init__(self, keep: Callable[[Kind], bool]):
        self._keep = keep

    def _names(self) -> tuple[str, ...]:
        return tuple(n for n, k in KINDS.items() if self._keep(k))

    def __getitem__(self, i):
        return self._names()[i]

    def __len__(self) -> int:
        return len(self._names())

    def __eq__(self, other) -> bool:
        return tuple(self) == tuple(other) if isinstance(other, (tuple, list, _KindNames)) else NotImplemented

    def __hash__(self):
        return hash(self._names())

    def __repr__(self) -> str:
        return repr(self._names())


INPUT_KINDS: Sequence[str] = _KindNames(lambda k: True)
OUTPUT_KINDS: Sequence[str] = _KindNames(lambda k: k.save is not None)


def load_as(kinds: Sequence[str], path, name: str):
    """Read ``path`` as the first of ``kinds`` (in table order) whose suffixes match and whose
    reader recognises the file. Errors name ``name`` and the file."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{name}: no such file: {p}")
    wanted = [get_kind(k) for k in kinds]
    if p.is_dir():
        readers = [k for k in wanted if k.folders]
        if not readers:
            raise ValueError(f"{name}: expected a file, found a folder: {p}")
        return readers[0].load(p, name)
    suffix = p.suffix.lower()
    allowed = sorted({s for k in wanted for s in k.suffixes})
    if suffix not in allowed:
        raise ValueError(f"{name}: expected a {' or '.join(kinds)} file ({', '.join(allowed)}), found {p.name!r}")
    misses = []
    for kind in KINDS.values():  # table order: the richer reading first (a .ply as a mesh before as points)
        if kind in wanted and suffix in kind.suffixes:
            try:
                return kind.load(p, name)
            except NotThisKind as exc:
                misses.append(str(exc))
    raise ValueError(f"{name}: expected a {' or '.join(kinds)} in {p}, found {'; '.join(misses)}")


# ----------------------------------------------------------------------------- helpers of the entries
def _one(name: str, n: int, what: str) -> None:
    if n != 1:
        raise ValueError(f"{name}: expected one {what}, found a batch of {n}")


def _typed(stem: Path, value, cls: type, suffix: str) -> Path:
    if not isinstance(value, cls):
        raise TypeError(f"output {stem.name}: expected {cls.__name__}, found {type(value).__name__}")
    return stem.with_suffix(suffix)


def _still(value, **kw) -> torch.Tensor:
    from .render.still import render_still

    return render_still(value, **kw)


def _is_tensor(value, dims: tuple[int, ...], last: tuple[int, ...] | None = None) -> bool:
    return isinstance(value, torch.Tensor) and value.dim() in dims and (last is None or value.shape[-1] in last)


# ----------------------------------------------------------------------------- mesh
def _check_mesh(name: str, value: Meshes, accepts: tuple[str, ...]):
    want = " or ".join(accepts)
    _one(name, len(value), "mesh")
    verts, faces = value.verts_list()[0], value.faces_list()[0]
    check_finite(f"{name} vertices", verts)
    if verts.shape[0] == 0:
        raise ValueError(f"{name}: expected a {want} with vertices, found an empty mesh")
    if faces.shape[0] == 0 or "mesh" not in accepts:
        if "points" not in accepts:
            raise ValueError(f"{name}: expected a mesh with faces, found {verts.shape[0]} vertices and no faces")
        return PointClouds([verts])
    return value


def _load_mesh(path: Path, name: str) -> Meshes:
    from .io import load_mesh

    return load_mesh(path)  # a face-less file stays a mesh: the check turns it into points where allowed


def _save_mesh(stem: Path, value) -> list[Path]:
    from .io import save_obj

    p = _typed(stem, value, Meshes, ".obj")
    save_obj(p, value.verts_list()[0].detach().cpu(), value.faces_list()[0].cpu())
    return [p]


register_kind(Kind(
    "mesh", (Meshes,), "a triangle mesh (Meshes holding one mesh)",
    recognise=lambda v: isinstance(v, Meshes),
    describe=lambda v: {"kind": "mesh", "verts": int(v.verts_packed().shape[0]), "faces": int(v.faces_packed().shape[0])},
    check=_check_mesh, suffixes=(".obj", ".ply"), load=_load_mesh, save=_save_mesh, picture=_still, serves=("points",),
))


# ----------------------------------------------------------------------------- points
def _check_points(name: str, value, accepts: tuple[str, ...]) -> PointClouds:
    if isinstance(value, torch.Tensor):
        check_finite(f"{name} points", value)
        value = PointClouds([value.float()])
    _one(name, len(value), "point cloud")
    pts = value.points_list()[0]
    check_finite(f"{name} points", pts)
    if pts.shape[0] == 0:
        raise ValueError(f"{name}: expected a point cloud with points, found none")
    return value


def _load_points(path: Path, name: str) -> PointClouds:
    from .io import load_arrays, load_mesh, load_ply

    suffix = path.suffix.lower()
    if suffix == ".ply":
        d = load_ply(path)
        return PointClouds([d.verts], normals=None if d.normals is None else [d.normals])
    if suffix == ".obj":
        return PointClouds([load_mesh(path).verts_packed()])
    arrays = load_arrays(path)
    pts = arrays.get("points", next(iter(arrays.values()), None))
    if pts is None or pts.ndim != 2 or pts.shape[1] != 3:
        raise NotThisKind(f"no (P, 3) point array (arrays {({k: v.shape for k, v in arrays.items()})})")
    return PointClouds([torch.as_tensor(pts.astype("float32"))])


def _save_points(stem: Path, value) -> list[Path]:
    from .io import save_point_cloud

    p = _typed(stem, value, PointClouds, ".ply")
    save_point_cloud(p, value.detach().cpu())
    return [p]


register_kind(Kind(
    "points", (PointClouds, torch.Tensor), "a point cloud (PointClouds holding one cloud, or a (P, 3) tensor)",
    recognise=lambda v: isinstance(v, PointClouds) or _is_tensor(v, (2,), (3,)),
    describe=lambda v: {"kind": "points", "points": int(v.points_packed().shape[0] if isinstance(v, PointClouds) else v.shape[0])},
    check=_check_points, suffixes=(".ply", ".obj", ".npy", ".npz"), load=_load_points, save=_save_points, picture=_still,
))


# ----------------------------------------------------------------------------- voxels
def _check_voxels(name: str, value: Voxels, accepts: tuple[str, ...]) -> Voxels:
    _one(name, len(value), "voxel grid")
    grid = value.grids_list()[0]
    check_finite(f"{name} grid", grid)
    if grid.numel() == 0:
        raise ValueError(f"{name}: expected a non-empty voxel grid, found shape {tuple(grid.shape)}")
    if bool(((grid < 0) | (grid > 1)).any()):
        raise ValueError(f"{name}: expected occupancy values in [0, 1], found values outside")
    return value


def _load_voxels(path: Path, name: str) -> Voxels:
    from .io import load_arrays, load_voxels

    arrays = load_arrays(path)
    first = next(iter(arrays.values()), None)
    if not ("grid" in arrays or "occupancy" in arrays or (first is not None and first.ndim == 3)):
        raise NotThisKind(f"no (D, H, W) grid (arrays {({k: v.shape for k, v in arrays.items()})})")
    return load_voxels(path)


def _save_voxels(stem: Path, value) -> list[Path]:
    from .io import save_voxels

    p = _typed(stem, value, Voxels, ".npz")
    save_voxels(p, value)
    return [p]


register_kind(Kind(
    "voxels", (Voxels,), "an occupancy grid in [0, 1] with its bounding box (Voxels holding one grid)",
    recognise=lambda v: isinstance(v, Voxels),
    describe=lambda v: {"kind": "voxels", "resolution": list(v.grids_list()[0].shape)},
    check=_check_voxels, suffixes=(".npz", ".npy"), load=_load_voxels, save=_save_voxels, picture=_still,
))


# ----------------------------------------------------------------------------- image
def _check_image(name: str, value: torch.Tensor, accepts: tuple[str, ...]) -> torch.Tensor:
    img = value if value.dim() == 3 else value[..., None]
    if img.shape[-1] not in (1, 3, 4) or img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"{name}: expected an (H, W, 1|3|4) image, found shape {tuple(value.shape)}")
    img = img.float()
    check_finite(name, img)
    if bool(((img < 0) | (img > 1)).any()):
        raise ValueError(f"{name}: expected values in [0, 1], found values outside")
    return img


def _load_image(path: Path, name: str) -> torch.Tensor:
    from .io import load_image

    return load_image(path)


def _save_image(stem: Path, value) -> list[Path]:
    from .io import save_image

    p = stem.with_suffix(".png")
    save_image(p, value.detach().cpu())
    return [p]


register_kind(Kind(
    "image", (torch.Tensor,), "a picture: (H, W) or (H, W, 1|3|4) float tensor in [0, 1]",
    recognise=lambda v: _is_tensor(v, (2, 3)),
    describe=lambda v: {"kind": "image" if v.dim() == 3 else "tensor", "shape": list(v.shape)},
    check=_check_image, suffixes=(".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"), load=_load_image,
    save=_save_image,
))


# ----------------------------------------------------------------------------- cameras
def _is_cameras(value) -> bool:
    from .cameras import CamerasBase

    return isinstance(value, CamerasBase)


def _load_cameras(path: Path, name: str):
    import json

    from .io import load_cameras

    try:
        rec = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from None
    if not (isinstance(rec, dict) and "R" in rec):
        raise NotThisKind(f"no camera record ('R', 'T') in {path.name}")
    return load_cameras(path)


def _save_cameras(stem: Path, value) -> list[Path]:
    from .io import save_cameras

    p = stem.with_suffix(".json")
    save_cameras(p, value)
    return [p]


def _describe_cameras(value) -> dict:
    return {"kind": "cameras", "class": type(value).__name__, "cameras": len(value)}


register_kind(Kind(
    "cameras", (), "cameras of any class of unrender.cameras (PyTorch3D conventions)",
    recognise=_is_cameras, describe=_describe_cameras, suffixes=(".json",), load=_load_cameras, save=_save_cameras,
))


# ----------------------------------------------------------------------------- keypoints
def _check_keypoints(name: str, value: torch.Tensor, accepts: tuple[str, ...]) -> torch.Tensor:
    if value.dim() != 2 or value.shape[1] not in (2, 3) or value.shape[0] < 1:
        raise ValueError(f"{name}: expected (J, 2|3) keypoints, found shape {tuple(value.shape)}")
    value = value.float()
    check_finite(name, value)
    return value


def _load_keypoints(path: Path, name: str) -> torch.Tensor:
    import json

    from .io import load_keypoints, load_openpose

    if path.suffix.lower() == ".json":
        try:
            rec = json.loads(path.read_bytes())
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ValueError(f"{path} is not JSON: {exc}") from None
        if isinstance(rec, dict) and rec.get("format") == "unrender body parameters 1":
            raise NotThisKind(f"{path.name} holds body parameters")
        if isinstance(rec, dict) and "people" in rec:  # OpenPose: the most confident person
            people, _ = load_openpose(path)
            if people.shape[0] == 0:
                raise ValueError(f"{path}: an OpenPose file with no people")
            return people[int(people[..., 2].sum(1).argmax())]
    return load_keypoints(path)


def _save_keypoints(stem: Path, value) -> list[Path]:
    from .io import save_keypoints

    p = stem.with_suffix(".json")
    save_keypoints(p, value)
    return [p]


# ----------------------------------------------------------------------------- body parameters
def _load_body(path: Path, name: str):
    import json

    from .io import BODY_PARAMETERS_FORMAT, load_body_parameters

    try:
        rec = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from None
    if not (isinstance(rec, dict) and rec.get("format") == BODY_PARAMETERS_FORMAT):
        raise NotThisKind(f"no body parameters in {path.name}")
    return load_body_parameters(path)


def _save_body(stem: Path, value) -> list[Path]:
    from .io import save_body_parameters

    p = stem.with_suffix(".json")
    save_body_parameters(p, value)
    return [p]


def _body_type():
    from .io.body_params import BodyParameters

    return BodyParameters


register_kind(Kind(
    "body", (), "fitted body parameters (shape, pose, placement, skeleton) of a body model",
    recognise=lambda v: isinstance(v, _body_type()),
    describe=lambda v: {"kind": "body", "joints": len(v.joint_names), "betas": int(v.betas.shape[0]),
                        "frame": v.frame},
    suffixes=(".json",), load=_load_body, save=_save_body,
))


register_kind(Kind(
    "keypoints", (torch.Tensor,), "named 2-D or 3-D points: a (J, 2|3) float tensor",
    recognise=lambda v: _is_tensor(v, (2,), (2, 3)),
    describe=lambda v: {"kind": "keypoints", "points": int(v.shape[0]), "dim": int(v.shape[1])},
    check=_check_keypoints, suffixes=(".json", ".npy"), load=_load_keypoints, save=_save_keypoints,
))


# ----------------------------------------------------------------------------- views
def _views_type():
    from .io.views import PosedViews

    return PosedViews


def _check_views(name: str, value, accepts: tuple[str, ...]):
    check_finite(f"{name} images", value.images)
    if bool(((value.images < 0) | (value.images > 1)).any()):
        raise ValueError(f"{name}: expected image values in [0, 1], found values outside")
    if value.masks is not None:
        check_finite(f"{name} masks", value.masks)
        if bool(((value.masks < 0) | (value.masks > 1)).any()):
            raise ValueError(f"{name}: expected mask values in [0, 1], found values outside")
    return value


def _load_views(path: Path, name: str):
    import json

    from .io import load_views

    if not path.is_dir():
        try:
            rec = json.loads(path.read_bytes())
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ValueError(f"{path} is not JSON: {exc}") from None
        if not (isinstance(rec, dict) and ("frames" in rec or "R" in rec)):
            raise NotThisKind(f"no posed views ('frames' of a transforms.json, or cameras) in {path.name}")
    return load_views(path)


def _save_views(stem: Path, value) -> list[Path]:
    from .io import save_views

    if not isinstance(value, _views_type()):
        raise TypeError(f"output {stem.name}: expected PosedViews, found {type(value).__name__}")
    # one folder of files (the result folder publishes them side by side): <stem>.json and <stem>_0000.png, ...
    return save_views(stem.with_suffix(".json"), value, split_files=False, image_prefix=stem.name)


def _describe_views(value) -> dict:
    H, W = value.image_size
    return {"kind": "views", "views": len(value), "size": [H, W], "masks": value.masks is not None,
            "splits": {s: value.splits.count(s) for s in ("train", "val", "test") if s in value.splits}}


def _picture_views(value, *, size: int = 256, count: int = 4, **_) -> torch.Tensor:
    """A contact sheet: ``count`` views spread along the set, each ``size`` pixels high, masked views on grey."""
    import torch.nn.functional as F

    from .plots import hstack

    n = len(value)
    idx = sorted({int(round(i * (n - 1) / max(count - 1, 1))) for i in range(min(count, n))})
    H, W = value.image_size
    w = max(1, round(size * W / H))
    tiles = []
    for i in idx:
        img = value.images[i].detach().cpu().float()
        if value.masks is not None:
            m = value.masks[i].detach().cpu().float()[..., None]
            img = img * m + 0.5 * (1 - m)
        tiles.append(F.interpolate(img.permute(2, 0, 1)[None], size=(size, w), mode="area")[0].permute(1, 2, 0))
    return hstack(tiles)


register_kind(Kind(
    "views", (), "posed views: images (masks) with their cameras (a NeRF transforms.json, its folder, or images "
    "with a cameras.json)",
    recognise=lambda v: isinstance(v, _views_type()), describe=_describe_views, check=_check_views,
    suffixes=(".json",), load=_load_views, save=_save_views, picture=_picture_views, folders=True,
))
